/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_record.c - speech sent as RTP over loopback
 * comes back out of the recording: the caller channel matches what was sent
 * (through G.711, aligned), the engine channel holds the prompt that was
 * played meanwhile, mixed is their sum, and a paused section is silence.
 * Exit 77 when the engine cannot start here.
 */
#include "config.h"

#include <stdio.h>

#include "dsp/wav.h"
#include "engine_test_util.h"
#include "ivr_test.h"

/* Every channel of the engine's N-channel WAV, through dsp/wav (the reader tools use). */
static int read_multi(const char *path, int *n_ch, float **ch, size_t *n_frames)
{
	struct ivr_audio all;
	char err[200];
	int e = ivr_wav_read_channel(&all, path, IVR_WAV_ALL, 0, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "  %s\n", err);
		return e;
	}
	*n_ch = all.n_channels;
	*n_frames = all.n_samples;
	for (int c = 0; c < *n_ch && c < 3; c++) {
		ch[c] = malloc(all.n_samples * sizeof(float) + 1);
		memcpy(ch[c], all.samples + (size_t)c * all.n_samples,
		       all.n_samples * sizeof(float));
	}
	ivr_audio_free(&all);
	return 0;
}

/* Read back a recording the test has stopped: wait for the workers (sync), give the writer
 * 60 ms, flush the recordings to disk, then read_multi() @path. */
static int read_recording(struct ivr_engine *e, const char *path, int *n_ch, float **ch,
			  size_t *n_frames)
{
	ivr_engine_sync(e);
	sleep_until(now_ns() + 60000000ull);
	ivr_engine_flush_recordings(e);
	return read_multi(path, n_ch, ch, n_frames);
}

/* Like aligned_snr() but picks the lag by least error: periodic signals fool correlation. */
static double exact_snr(const float *ref, const float *got, size_t n, size_t max_lag, size_t *lag)
{
	double best_e = 1e300, sig = 0;
	for (size_t i = 0; i < n; i++)
		sig += ref[i] * ref[i];
	for (size_t l = 0; l <= max_lag; l++) {
		double e = 0;
		for (size_t i = 0; i < n && e < best_e; i++)
			e += (got[i + l] - ref[i]) * (got[i + l] - ref[i]);
		if (e < best_e) {
			best_e = e;
			*lag = l;
		}
	}
	return 10 * log10(sig / (best_e + 1e-20));
}

IVR_TEST(test_record_channels)
{
	struct ivr_engine *e = test_engine(false, 4, 36000);
	if (!e)
		return IVR_TEST_SKIP;
	const size_t N = 8000 * 3; /* 3 s */
	static float voice[8000 * 3], ref[8000 * 3], prompt[8000];
	speechlike(voice, N, 130);
	for (size_t i = 0; i < N; i++)
		ref[i] = (float)ivr_g711_ulaw_decode(
				 ivr_g711_ulaw_encode(ivr_f32_to_s16(voice[i]))) /
			 32768.0f;
	for (int i = 0; i < 8000; i++)
		prompt[i] = 0.2f * sinf(2 * (float)M_PI * 1300 * (float)i / 8000);
	char ppath[64], rpath[64];
	snprintf(ppath, sizeof(ppath), "/tmp/ivr_rec_prompt_%d.wav", (int)getpid());
	snprintf(rpath, sizeof(rpath), "/tmp/ivr_rec_out_%d.wav", (int)getpid());
	ivr_check_int_eq(ivr_wav_write(ppath, prompt, 8000, 8000, IVR_WAV_PCM16), 0);
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char remote[64];
	phone_remote(&ph, remote, sizeof(remote));
	struct ivr_call_params p = { .remote = remote, .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(ivr_call_create(e, &p, &id, &ph.engine_port), 0);
	ivr_check_int_eq(ivr_call_record_start(e, id, rpath, NULL), 0);
	ivr_check_int_eq(ivr_call_play(e, id, ppath, true, false), 0);
	struct phone *phs[1] = { &ph };
	const float *src[1] = { voice };
	phones_run(phs, src, 1, 150);
	ivr_check_int_eq(ivr_call_record_stop(e, id), 0);
	int nch = 0;
	float *ch[3] = { 0 };
	size_t nf = 0;
	ivr_check_int_eq(read_recording(e, rpath, &nch, ch, &nf), 0);
	ivr_check_int_eq(nch, 3);
	ivr_check_msg(nf >= N, "recorded %zu samples", nf);
	if (nch == 3 && nf >= N) {
		/*
		 * caller channel: what we sent, delayed by the jitter buffer.  The
		 * buffer may drop one frame when it shrinks to its target, so align
		 * chunk by chunk: all but the chunk holding that drop are exact.
		 */
		size_t lag = 0;
		double snr = 0;
		int good = 0, chunks = 0;
		for (size_t off = 0; off + 2000 + 2000 <= N; off += 2000, chunks++) {
			size_t l = 0;
			double s = exact_snr(ref + off, ch[0] + off, 2000, 1000, &l);
			if (s > 40) {
				good++;
				snr = s;
				lag = l;
			}
		}
		ivr_check_msg(good >= chunks - 1, "caller channel: %d of %d chunks exact", good,
			      chunks);
		/* engine channel: the 1300 Hz prompt, nothing of the caller's voice band */
		double pp = tone_power(ch[1] + 800, 8000, 1300);
		ivr_check_near(pp, 0.2 * 0.2 / 2, 0.004);
		/* mixed = caller + engine */
		double err = 0;
		for (size_t i = 0; i < nf; i++) {
			double d = ch[2][i] - (ch[0][i] + ch[1][i]);
			err += d * d;
		}
		ivr_check(err / (double)nf < 1e-8);
		printf("  caller SNR %.1f dB at %zu samples (%.0f ms) of buffering\n", snr, lag,
		       lag / 8.0);
	}
	for (int c = 0; c < 3; c++)
		free(ch[c]);
	phone_close(&ph);
	ivr_engine_free(e);
	unlink(ppath);
	unlink(rpath);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_record_pause)
{
	struct ivr_engine *e = test_engine(true, 4, 36400);
	if (!e)
		return IVR_TEST_SKIP;
	static float tone[8000 * 3];
	for (size_t i = 0; i < 8000 * 3; i++)
		tone[i] = 0.3f * sinf(2 * (float)M_PI * 700 * (float)i / 8000);
	char rpath[64];
	snprintf(rpath, sizeof(rpath), "/tmp/ivr_rec_pause_%d.wav", (int)getpid());
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char remote[64];
	phone_remote(&ph, remote, sizeof(remote));
	struct ivr_call_params p = { .remote = remote, .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(ivr_call_create(e, &p, &id, &ph.engine_port), 0);
	ivr_check_int_eq(ivr_call_record_start(e, id, rpath, "caller"), 0);
	struct phone *phs[1] = { &ph };
	const float *src[1] = { tone };
	phones_run(phs, src, 1, 40);
	ivr_check_int_eq(ivr_call_record_pause(e, id, true), 0);
	src[0] = tone + 40 * 160;
	phones_run(phs, src, 1, 40);
	ivr_check_int_eq(ivr_call_record_pause(e, id, false), 0);
	src[0] = tone + 80 * 160;
	phones_run(phs, src, 1, 40);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0); /* destroy ends the recording too */
	int nch = 0;
	float *ch[3] = { 0 };
	size_t nf = 0;
	ivr_check_int_eq(read_recording(e, rpath, &nch, ch, &nf), 0);
	ivr_check_int_eq(nch, 1);
	if (nch == 1 && nf > 8000 * 2) {
		/* Energy per 100 ms block: loud, then a silent stretch, then loud again. */
		int loud_before = 0, silent_mid = 0, loud_after = 0;
		size_t nb = nf / 800;
		int first_silent = -1, last_silent = -1;
		for (size_t b = 0; b < nb; b++) {
			double en = 0;
			for (size_t i = 0; i < 800; i++)
				en += ch[0][b * 800 + i] * ch[0][b * 800 + i];
			en /= 800;
			if (en < 1e-7) {
				if (first_silent < 0 && b > 3)
					first_silent = (int)b;
				if (first_silent >= 0)
					last_silent = (int)b;
			}
			if (en > 0.01)
				*(first_silent < 0 ? &loud_before : &loud_after) += 1;
		}
		if (first_silent >= 0)
			for (int b = first_silent; b <= last_silent; b++)
				silent_mid++;
		ivr_check_msg(loud_before >= 5 && loud_after >= 5 && silent_mid >= 6,
			      "before %d silent %d after %d", loud_before, silent_mid, loud_after);
	}
	free(ch[0]);
	phone_close(&ph);
	ivr_engine_free(e);
	unlink(rpath);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_record_channels);
	ivr_test_run(test_record_pause);
	return ivr_test_summary();
}
