/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_recorder.c - recording handoff: frames pushed on one
 * thread come out of the writer thread as a WAV with the chosen channels
 * (caller, engine, mixed = their sum), paused frames as silence, the end
 * record completes the header (WAVE_FORMAT_EXTENSIBLE for three channels,
 * read back by dsp/wav and by sox); accounting when the ring overflows; bad
 * paths and channel sets refused with a reason.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "dsp/wav.h"
#include "engine/recorder.h"
#include "ivr_test.h"

IVR_TEST(test_channels_and_pause)
{
	struct ivr_recorder *r = ivr_recorder_new(2, 256, 4);
	ivr_check(r != NULL);
	char path[64], path2[64];
	snprintf(path, sizeof(path), "/tmp/ivr_recorder_%d.wav", (int)getpid());
	snprintf(path2, sizeof(path2), "/tmp/ivr_recorder2_%d.wav", (int)getpid());
	uint32_t id, id2;
	ivr_check_int_eq(ivr_recorder_open(r, 3, path, IVR_REC_MIXED, 8000, &id, NULL, 0), 0);
	ivr_check_int_eq(ivr_recorder_open(r, 1, path2, IVR_REC_CALLER, 8000, &id2, NULL, 0), 0);
	float a[160], b[160];
	int pushed = 0;
	for (int t = 0; t < 100; t++) {
		for (int i = 0; i < 160; i++) {
			a[i] = 0.2f * sinf(2 * (float)M_PI * 400 * (float)(t * 160 + i) / 8000);
			b[i] = 0.1f * sinf(2 * (float)M_PI * 1200 * (float)(t * 160 + i) / 8000);
		}
		bool paused = t >= 40 && t < 60;
		if (ivr_recorder_push(r, 0, 3, id, paused ? NULL : a, paused ? NULL : b, 160,
				      t == 99) == 0)
			pushed++;
		(void)ivr_recorder_push(r, 1, 1, id2, a, b, 160, t == 99);
		if (t % 20 == 0)
			usleep(2000);
	}
	ivr_recorder_flush(r);
	struct ivr_recorder_stats st;
	ivr_recorder_get_stats(r, &st);
	ivr_check_int_eq(st.frames_written + st.frames_dropped, 200);
	ivr_check_int_eq(st.files_closed, 2);
	struct ivr_audio au;
	ivr_check_int_eq(ivr_wav_read(&au, path, 0, NULL, 0), 0);
	ivr_check_int_eq(au.n_samples, (size_t)pushed * 160);
	if (pushed == 100) {
		/* mixed = a + b outside the pause, silence inside */
		double err = 0, quiet = 0;
		for (int t = 0; t < 100; t++)
			for (int i = 0; i < 160; i++) {
				float want = 0;
				if (t < 40 || t >= 60)
					want = 0.2f * sinf(2 * (float)M_PI * 400 *
							   (float)(t * 160 + i) / 8000) +
					       0.1f * sinf(2 * (float)M_PI * 1200 *
							   (float)(t * 160 + i) / 8000);
				float got = au.samples[t * 160 + i];
				err += (got - want) * (got - want);
				if (t >= 40 && t < 60)
					quiet += got * got;
			}
		ivr_check(err / 16000 < 1e-8);
		ivr_check_near(quiet, 0, 1e-12);
	}
	ivr_audio_free(&au);
	ivr_check_int_eq(ivr_wav_read(&au, path2, 0, NULL, 0), 0);
	ivr_check(au.n_samples > 0);
	ivr_audio_free(&au);
	ivr_recorder_free(r);
	unlink(path);
	unlink(path2);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_overflow_and_errors)
{
	struct ivr_recorder *r = ivr_recorder_new(1, 4, 2);
	char path[64], err[200] = "";
	snprintf(path, sizeof(path), "/tmp/ivr_recorder_of_%d.wav", (int)getpid());
	uint32_t id;
	ivr_check_int_eq(
		ivr_recorder_open(r, 0, "/nonexistent-dir/x.wav", 0, 8000, &id, err, sizeof(err)),
		-ENOENT);
	ivr_check(strstr(err, "/nonexistent-dir/x.wav") != NULL);
	ivr_check_int_eq(ivr_recorder_open(r, 5, path, 0, 8000, &id, err, sizeof(err)), -EINVAL);
	ivr_check_int_eq(ivr_recorder_open(r, 0, path, IVR_REC_ENGINE, 8000, &id, err, sizeof(err)),
			 0);
	/* 4-record ring, 2000 pushes in a burst: some are dropped, all are accounted. */
	int ok = 0, full = 0;
	float f[160] = { 0 };
	for (int i = 0; i < 2000; i++) {
		int rc = ivr_recorder_push(r, 0, 0, id, f, f, 160, false);
		ok += rc == 0;
		full += rc == -ENOSPC;
	}
	ivr_check_int_eq(ok + full, 2000);
	ivr_check(full > 0);
	ivr_recorder_flush(r);
	struct ivr_recorder_stats st;
	ivr_recorder_get_stats(r, &st);
	ivr_check_int_eq(st.frames_dropped, full);
	ivr_check_int_eq(st.frames_written, ok);
	ivr_recorder_free(r); /* closes the open file */
	struct ivr_audio au;
	ivr_check_int_eq(ivr_wav_read(&au, path, 0, NULL, 0), 0);
	ivr_check_int_eq(au.n_samples, (size_t)ok * 160);
	ivr_audio_free(&au);
	unlink(path);
	return IVR_TEST_RESULT();
}

/* A wideband call's recording: 16 kHz WAV, 320-sample frames, a 6 kHz tone kept. */
IVR_TEST(test_wideband_16k)
{
	struct ivr_recorder *r = ivr_recorder_new(1, 256, 1);
	ivr_check(r != NULL);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ivr_recorder_wb_%d.wav", (int)getpid());
	uint32_t id;
	ivr_check_int_eq(ivr_recorder_open(r, 0, path, IVR_REC_CALLER, 16000, &id, NULL, 0), 0);
	float a[320], b[320];
	for (int t = 0; t < 50; t++) {
		for (int i = 0; i < 320; i++) {
			a[i] = (float)(0.2 * sin(2 * M_PI * 6000 * (double)(t * 320 + i) / 16000));
			b[i] = 0.1f * sinf(2 * (float)M_PI * 300 * (float)(t * 320 + i) / 16000);
		}
		while (ivr_recorder_push(r, 0, 0, id, a, b, 320, t == 49) < 0)
			usleep(1000);
	}
	ivr_recorder_flush(r);
	struct ivr_audio au;
	ivr_check_int_eq(ivr_wav_read(&au, path, 0, NULL, 0), 0);
	ivr_check_int_eq(au.rate_hz, 16000);
	ivr_check_int_eq(au.n_samples, 50 * 320);
	double err = 0;
	for (size_t i = 0; i < au.n_samples; i++) {
		double want = 0.2 * sin(2 * M_PI * 6000 * (double)i / 16000);
		err += (au.samples[i] - want) * (au.samples[i] - want);
	}
	ivr_check_msg(err / 16000 < 1e-8, "mse %g", err / 16000);
	ivr_audio_free(&au);
	ivr_recorder_free(r);
	unlink(path);
	return IVR_TEST_RESULT();
}

/* @cmd's first output line as a number; -1 when it could not run. */
static double sh_num(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char line[128] = "";
	if (!p)
		return -1;
	bool got = fgets(line, sizeof(line), p) != NULL;
	int rc = pclose(p);
	return got && rc == 0 ? atof(line) : -1;
}

/*
 * All three channels: the header is WAVE_FORMAT_EXTENSIBLE (tag 0xFFFE,
 * 40-byte fmt chunk, PCM subformat) as the WAVE spec asks beyond two
 * channels, with the final length; dsp/wav reads the channels back and sox
 * (when installed) reads the file with the same channels, rate and length.
 * Two channels stay a plain PCM header.
 */
IVR_TEST(test_three_channels_extensible)
{
	struct ivr_recorder *r = ivr_recorder_new(1, 256, 2);
	ivr_check(r != NULL);
	char path[64], path2[64], err[200] = "";
	snprintf(path, sizeof(path), "/tmp/ivr_recorder_3ch_%d.wav", (int)getpid());
	snprintf(path2, sizeof(path2), "/tmp/ivr_recorder_2ch_%d.wav", (int)getpid());
	uint32_t id, id2;
	ivr_check_int_eq(ivr_recorder_open(r, 0, path, 0, 8000, &id, NULL, 0), 0);
	ivr_check_int_eq(ivr_recorder_open(r, 1, path2, IVR_REC_CALLER | IVR_REC_ENGINE, 8000, &id2,
					   NULL, 0),
			 0);
	ivr_check_int_eq(ivr_recorder_open(r, 1, path2, 1u << 7, 8000, &id2, err, sizeof(err)),
			 -EINVAL);
	ivr_check(strstr(err, "channel") != NULL);
	ivr_check_int_eq(ivr_recorder_open(r, 1, path2, IVR_REC_CALLER | IVR_REC_ENGINE, 8000, &id2,
					   NULL, 0),
			 0);
	enum { TICKS = 25 };
	float a[160], b[160];
	for (int t = 0; t < TICKS; t++) {
		for (int i = 0; i < 160; i++) {
			a[i] = 0.2f * sinf(2 * (float)M_PI * 500 * (float)(t * 160 + i) / 8000);
			b[i] = 0.1f * sinf(2 * (float)M_PI * 900 * (float)(t * 160 + i) / 8000);
		}
		while (ivr_recorder_push(r, 0, 0, id, a, b, 160, t == TICKS - 1) < 0)
			usleep(1000);
		while (ivr_recorder_push(r, 0, 1, id2, a, b, 160, t == TICKS - 1) < 0)
			usleep(1000);
	}
	ivr_recorder_flush(r);
	ivr_recorder_free(r);
	uint8_t h[68] = { 0 };
	FILE *f = fopen(path, "rb");
	ivr_check(f && fread(h, 1, sizeof(h), f) == sizeof(h));
	if (f)
		fclose(f);
	const uint32_t data_len = TICKS * 160 * 3 * 2;
#define LE16(p) ((unsigned)(p)[0] | (unsigned)(p)[1] << 8)
#define LE32(p) (LE16(p) | (uint32_t)LE16((p) + 2) << 16)
	ivr_check(!memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WAVEfmt ", 8));
	ivr_check_int_eq(LE32(h + 4), 60 + data_len);
	ivr_check_int_eq(LE32(h + 16), 40);	/* fmt chunk of WAVE_FORMAT_EXTENSIBLE */
	ivr_check_int_eq(LE16(h + 20), 0xFFFE); /* WAVE_FORMAT_EXTENSIBLE */
	ivr_check_int_eq(LE16(h + 22), 3);
	ivr_check_int_eq(LE16(h + 38), 16); /* valid bits */
	ivr_check_int_eq(LE16(h + 44), 1);  /* subformat: PCM */
	ivr_check(!memcmp(h + 60, "data", 4));
	ivr_check_int_eq(LE32(h + 64), data_len);
	struct ivr_audio au;
	ivr_check_int_eq(ivr_wav_read_channel(&au, path, IVR_WAV_ALL, 0, err, sizeof(err)), 0);
	ivr_check_int_eq(au.n_channels, 3);
	ivr_check_int_eq(au.n_samples, TICKS * 160);
	if (au.n_channels == 3 && au.n_samples == TICKS * 160) {
		double e = 0;
		for (size_t i = 0; i < au.n_samples; i++) {
			float x = 0.2f * sinf(2 * (float)M_PI * 500 * (float)i / 8000),
			      y = 0.1f * sinf(2 * (float)M_PI * 900 * (float)i / 8000);
			e += pow(au.samples[i] - x, 2) + pow(au.samples[au.n_samples + i] - y, 2) +
			     pow(au.samples[2 * au.n_samples + i] - (x + y), 2);
		}
		ivr_check(e / (3.0 * au.n_samples) < 1e-8);
	}
	ivr_audio_free(&au);
	f = fopen(path2, "rb");
	ivr_check(f && fread(h, 1, 44, f) == 44);
	if (f)
		fclose(f);
	ivr_check_int_eq(LE16(h + 20), 1); /* two channels: plain PCM */
	ivr_check_int_eq(LE16(h + 22), 2);
	ivr_check_int_eq(LE32(h + 40), TICKS * 160 * 2 * 2);
#undef LE16
#undef LE32
	if (access("/usr/bin/soxi", X_OK) == 0) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "soxi -c %s", path);
		ivr_check_near(sh_num(cmd), 3, 0);
		snprintf(cmd, sizeof(cmd), "soxi -r %s", path);
		ivr_check_near(sh_num(cmd), 8000, 0);
		snprintf(cmd, sizeof(cmd), "soxi -s %s", path);
		ivr_check_near(sh_num(cmd), TICKS * 160, 0);
		/* sox decodes the samples: the mixed channel's RMS, 0.2 and 0.1 sines summed */
		snprintf(cmd, sizeof(cmd),
			 "sox %s -n remix 3 stat 2>&1 | sed -n 's/^RMS *amplitude: *//p'", path);
		ivr_check_near(sh_num(cmd), sqrt((0.04 + 0.01) / 2), 0.002);
	} else {
		printf("  soxi not installed: checked with dsp/wav only\n");
	}
	unlink(path);
	unlink(path2);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_channels_and_pause);
	ivr_test_run(test_overflow_and_errors);
	ivr_test_run(test_wideband_16k);
	ivr_test_run(test_three_channels_extensible);
	return ivr_test_summary();
}
