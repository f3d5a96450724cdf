/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_wav.c - WAV round trips in every written format, resampling
 * on read, and refusal of broken files with a reason.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dsp/wav.h"
#include "ivr_test.h"

static char tmpdir[64];

static const char *tmp(const char *name)
{
	static char p[128];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static void sine(float *x, size_t n, double f, double rate, double amp)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(amp * sin(2 * M_PI * f * i / rate));
}

IVR_TEST(round_trip_each_format)
{
	static float x[8000];
	sine(x, 8000, 440, 8000, 0.5);
	const enum ivr_wav_format fmts[] = { IVR_WAV_PCM16, IVR_WAV_FLOAT32, IVR_WAV_ULAW,
					     IVR_WAV_ALAW };
	const double tol[] = { 1.0 / 32768, 1e-7, 0.02, 0.02 };
	for (size_t f = 0; f < 4; f++) {
		ivr_check_int_eq(ivr_wav_write(tmp("rt.wav"), x, 8000, 8000, fmts[f]), 0);
		struct ivr_audio a;
		char err[200];
		ivr_check_int_eq(ivr_wav_read(&a, tmp("rt.wav"), 0, err, sizeof(err)), 0);
		ivr_check_int_eq(a.n_samples, 8000);
		ivr_check_int_eq(a.rate_hz, 8000);
		double maxerr = 0;
		for (size_t i = 0; i < a.n_samples; i++)
			maxerr = fmax(maxerr, fabs(a.samples[i] - x[i]));
		ivr_check_msg(maxerr <= tol[f], "format %d max error %g", fmts[f], maxerr);
		ivr_audio_free(&a);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(resample_on_read_keeps_tone)
{
	static float x[44100];
	sine(x, 44100, 1000, 44100, 0.5);
	ivr_check_int_eq(ivr_wav_write(tmp("cd.wav"), x, 44100, 44100, IVR_WAV_PCM16), 0);
	struct ivr_audio a;
	ivr_check_int_eq(ivr_wav_read(&a, tmp("cd.wav"), 8000, NULL, 0), 0);
	ivr_check_int_eq(a.rate_hz, 8000);
	ivr_check(a.n_samples >= 7990 && a.n_samples <= 8010);
	/* Level of the 1 kHz tone is kept (RMS of 0.5 sine = 0.3536) away from the edges. */
	double acc = 0;
	size_t n = 0;
	for (size_t i = 400; i + 400 < a.n_samples; i++, n++)
		acc += a.samples[i] * a.samples[i];
	ivr_check_near(sqrt(acc / n), 0.5 / sqrt(2), 0.005);
	ivr_audio_free(&a);
	return IVR_TEST_RESULT();
}

static int parse_bytes(const void *b, size_t n, char *err, size_t err_len)
{
	struct ivr_audio a;
	int e = ivr_wav_parse(&a, b, n, 0, err, err_len);
	ivr_audio_free(&a);
	return e;
}

IVR_TEST(broken_files_are_refused_with_reason)
{
	char err[200];
	ivr_check_int_eq(parse_bytes("", 0, err, sizeof(err)), -EBADMSG);
	ivr_check(strstr(err, "not a WAV") != NULL);
	ivr_check_int_eq(parse_bytes("RIFF\0\0\0\0WAVE", 12, err, sizeof(err)), -EBADMSG);
	ivr_check(strstr(err, "fmt") != NULL);

	/* A valid header, then stereo, then an unknown codec, then a truncated fmt. */
	static float x[100];
	ivr_check_int_eq(ivr_wav_write(tmp("ok.wav"), x, 100, 8000, IVR_WAV_PCM16), 0);
	uint8_t buf[44 + 200];
	FILE *f = fopen(tmp("ok.wav"), "rb");
	ivr_check(f && fread(buf, 1, sizeof(buf), f) == sizeof(buf));
	if (f)
		fclose(f);
	buf[22] = 2;
	ivr_check_int_eq(parse_bytes(buf, sizeof(buf), err, sizeof(err)), -ENOTSUP);
	ivr_check(strstr(err, "2 channels") != NULL);
	buf[22] = 1;
	buf[20] = 0x55; /* MP3 */
	ivr_check_int_eq(parse_bytes(buf, sizeof(buf), err, sizeof(err)), -ENOTSUP);
	ivr_check(strstr(err, "0x0055") != NULL);
	buf[20] = 1;
	ivr_check_int_eq(parse_bytes(buf, 30, err, sizeof(err)), -EBADMSG);
	/* Data chunk cut short: the samples that are there are kept. */
	struct ivr_audio a;
	ivr_check_int_eq(ivr_wav_parse(&a, buf, 44 + 50, 0, NULL, 0), 0);
	ivr_check_int_eq(a.n_samples, 25);
	ivr_audio_free(&a);
	/* Missing file. */
	ivr_check_int_eq(ivr_wav_read(&a, tmp("nope.wav"), 0, err, sizeof(err)), -ENOENT);
	ivr_check(strstr(err, "nope.wav") != NULL);
	return IVR_TEST_RESULT();
}

IVR_TEST(float_nan_inf_are_defined)
{
	float x[4] = { NAN, INFINITY, -INFINITY, 0.25f };
	ivr_check_int_eq(ivr_wav_write(tmp("f.wav"), x, 4, 16000, IVR_WAV_FLOAT32), 0);
	struct ivr_audio a;
	ivr_check_int_eq(ivr_wav_read(&a, tmp("f.wav"), 0, NULL, 0), 0);
	ivr_check_int_eq(a.n_samples, 4);
	if (a.n_samples == 4) {
		ivr_check_near(a.samples[0], 0.0, 0);
		ivr_check_near(a.samples[1], 1.0, 0);
		ivr_check_near(a.samples[2], -1.0, 0);
		ivr_check_near(a.samples[3], 0.25, 0);
	}
	ivr_audio_free(&a);
	/* Zero-length data is valid and empty. */
	ivr_check_int_eq(ivr_wav_write(tmp("z.wav"), NULL, 0, 8000, IVR_WAV_PCM16), 0);
	ivr_check_int_eq(ivr_wav_read(&a, tmp("z.wav"), 16000, NULL, 0), 0);
	ivr_check_int_eq(a.n_samples, 0);
	ivr_audio_free(&a);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ivr-test-wav-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	ivr_test_init(argc, argv);
	ivr_test_run(round_trip_each_format);
	ivr_test_run(resample_on_read_keeps_tone);
	ivr_test_run(broken_files_are_refused_with_reason);
	ivr_test_run(float_nan_inf_are_defined);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return ivr_test_summary();
}
