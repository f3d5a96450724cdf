/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_recorder.c - recording handoff: frames pushed on one
 * thread come out of the writer thread as a WAV with the chosen channels
 * (caller, engine, mixed = their sum), paused frames as silence, the end
 * record completes the header; accounting when the ring overflows; bad
 * paths refused with a reason.
 */
#include "config.h"

#include <math.h>
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

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_channels_and_pause);
	ivr_test_run(test_overflow_and_errors);
	ivr_test_run(test_wideband_16k);
	return ivr_test_summary();
}
