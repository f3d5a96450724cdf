/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_wav.c - WAV round trips in every written format, mono and
 * multi-channel (plain and WAVE_FORMAT_EXTENSIBLE), channel selection,
 * resampling on read, and refusal of broken files with a reason.
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

/* Three different tones on three channels come back each on its own channel, in every format. */
IVR_TEST(multichannel_round_trip_and_selection)
{
	static float a[4000], b[4000], c[4000];
	sine(a, 4000, 440, 8000, 0.5);
	sine(b, 4000, 1300, 8000, 0.3);
	sine(c, 4000, 2100, 8000, 0.2);
	const float *chans[3] = { a, b, c };
	const enum ivr_wav_format fmts[] = { IVR_WAV_PCM16, IVR_WAV_FLOAT32, IVR_WAV_ULAW,
					     IVR_WAV_ALAW };
	const double tol[] = { 1.0 / 32768, 1e-7, 0.02, 0.02 };
	char err[200];
	for (unsigned nch = 2; nch <= 3; nch++) {
		for (size_t f = 0; f < 4; f++) {
			ivr_check_int_eq(ivr_wav_write_channels(tmp("mc.wav"), chans, nch, 4000,
								8000, fmts[f]),
					 0);
			/* The format tag says EXTENSIBLE beyond two channels (spec). */
			FILE *fp = fopen(tmp("mc.wav"), "rb");
			uint8_t h[22];
			ivr_check(fp && fread(h, 1, sizeof(h), fp) == sizeof(h));
			if (fp)
				fclose(fp);
			ivr_check_int_eq(h[20] | h[21] << 8, nch > 2 ? 0xFFFE : (int)fmts[f]);
			struct ivr_audio all;
			ivr_check_int_eq(ivr_wav_read_channel(&all, tmp("mc.wav"), IVR_WAV_ALL, 0,
							      err, sizeof(err)),
					 0);
			ivr_check_int_eq(all.n_channels, nch);
			ivr_check_int_eq(all.n_samples, 4000);
			for (unsigned ch = 0; ch < nch && all.n_samples == 4000; ch++) {
				struct ivr_audio one;
				ivr_check_int_eq(ivr_wav_read_channel(&one, tmp("mc.wav"), (int)ch,
								      0, err, sizeof(err)),
						 0);
				ivr_check_int_eq(one.n_channels, 1);
				double e_all = 0, e_one = 0;
				for (size_t i = 0; i < 4000 && one.n_samples == 4000; i++) {
					e_all = fmax(e_all, fabs(all.samples[ch * 4000 + i] -
								 chans[ch][i]));
					e_one = fmax(e_one, fabs(one.samples[i] - chans[ch][i]));
				}
				ivr_check_msg(e_all <= tol[f] && e_one <= tol[f],
					      "%u ch fmt %d ch %u: errors %g %g", nch, fmts[f], ch,
					      e_all, e_one);
				ivr_audio_free(&one);
			}
			ivr_audio_free(&all);
		}
	}
	/* Mono-only readers refuse, naming the channel count; a missing channel is named. */
	struct ivr_audio x;
	ivr_check_int_eq(ivr_wav_read(&x, tmp("mc.wav"), 0, err, sizeof(err)), -ENOTSUP);
	ivr_check_msg(strstr(err, "3 channels") != NULL, "%s", err);
	ivr_check_int_eq(ivr_wav_read_channel(&x, tmp("mc.wav"), 3, 0, err, sizeof(err)), -EINVAL);
	ivr_check_msg(strstr(err, "no channel 3") != NULL, "%s", err);
	/* Resampling all channels keeps each tone on its own channel. */
	ivr_check_int_eq(
		ivr_wav_read_channel(&x, tmp("mc.wav"), IVR_WAV_ALL, 16000, err, sizeof(err)), 0);
	ivr_check_int_eq(x.rate_hz, 16000);
	ivr_check(x.n_samples >= 7990 && x.n_samples <= 8010);
	const double hz[3] = { 440, 1300, 2100 }, amp[3] = { 0.5, 0.3, 0.2 };
	for (int ch = 0; ch < 3 && x.n_channels == 3; ch++) {
		const float *p = x.samples + (size_t)ch * x.n_samples + 1000;
		double re = 0, im = 0;
		for (size_t i = 0; i < 6000; i++) {
			re += p[i] * cos(2 * M_PI * hz[ch] * (double)i / 16000);
			im += p[i] * sin(2 * M_PI * hz[ch] * (double)i / 16000);
		}
		ivr_check_near(2 * sqrt(re * re + im * im) / 6000, amp[ch], 0.01);
	}
	ivr_audio_free(&x);
	/* Bad writer arguments. */
	ivr_check_int_eq(ivr_wav_write_channels(tmp("mc.wav"), chans, 0, 10, 8000, IVR_WAV_PCM16),
			 -EINVAL);
	ivr_check_int_eq(ivr_wav_write_channels(tmp("mc.wav"), chans, IVR_WAV_MAX_CHANNELS + 1, 10,
						8000, IVR_WAV_PCM16),
			 -EINVAL);
	/* Channel selectors from a command line. */
	ivr_check_int_eq(ivr_wav_channel_parse("0"), 0);
	ivr_check_int_eq(ivr_wav_channel_parse("2"), 2);
	ivr_check_int_eq(ivr_wav_channel_parse("-1"), -EINVAL);
	ivr_check_int_eq(ivr_wav_channel_parse("1x"), -EINVAL);
	ivr_check_int_eq(ivr_wav_channel_parse(""), -EINVAL);
	ivr_check_int_eq(ivr_wav_channel_parse("99999999999999999999"), -EINVAL);
	return IVR_TEST_RESULT();
}

/* A block align that disagrees with the channel layout is refused, not misread. */
IVR_TEST(multichannel_bad_layout_is_refused)
{
	static float a[100];
	const float *chans[2] = { a, a };
	ivr_check_int_eq(ivr_wav_write_channels(tmp("st.wav"), chans, 2, 100, 8000, IVR_WAV_PCM16),
			 0);
	uint8_t buf[44 + 400];
	FILE *f = fopen(tmp("st.wav"), "rb");
	ivr_check(f && fread(buf, 1, sizeof(buf), f) == sizeof(buf));
	if (f)
		fclose(f);
	char err[200];
	struct ivr_audio x;
	ivr_check_int_eq(ivr_wav_parse_channel(&x, buf, sizeof(buf), 1, 0, err, sizeof(err)), 0);
	ivr_check_int_eq(x.n_samples, 100);
	ivr_audio_free(&x);
	buf[32] = 2; /* block align of mono in a stereo file */
	ivr_check_int_eq(ivr_wav_parse_channel(&x, buf, sizeof(buf), 1, 0, err, sizeof(err)),
			 -EBADMSG);
	ivr_check_msg(strstr(err, "block align") != NULL, "%s", err);
	buf[32] = 4;
	buf[22] = 0; /* no channels */
	ivr_check_int_eq(
		ivr_wav_parse_channel(&x, buf, sizeof(buf), IVR_WAV_ALL, 0, err, sizeof(err)),
		-EBADMSG);
	buf[22] = 200; /* too many */
	ivr_check_int_eq(
		ivr_wav_parse_channel(&x, buf, sizeof(buf), IVR_WAV_ALL, 0, err, sizeof(err)),
		-ENOTSUP);
	ivr_check_int_eq(ivr_wav_parse_channel(&x, buf, sizeof(buf), -3, 0, err, sizeof(err)),
			 -EINVAL);
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
	ivr_test_run(multichannel_round_trip_and_selection);
	ivr_test_run(multichannel_bad_layout_is_refused);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return ivr_test_summary();
}
