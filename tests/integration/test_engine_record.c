/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_record.c - speech sent as RTP over loopback
 * comes back out of the recording, read through dsp/wav (every channel of
 * the engine's 3-channel WAV): the caller channel holds what was sent
 * (through G.711, every played frame bit-exact, aligned frame by frame), the
 * engine channel the prompt that was played meanwhile, mixed their sum, and
 * a paused section is silence.  Exit 77 when the engine cannot start here.
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
	struct ivr_call_params p = { .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(phone_call(e, &ph, &p, &id), 0);
	ivr_check_int_eq(ivr_call_record_start(e, id, rpath, NULL), 0);
	ivr_check_int_eq(ivr_call_play(e, id, ppath, true, false), 0);
	struct phone *phs[1] = { &ph };
	const float *src[1] = { voice };
	phones_run(phs, src, 1, 150);
	/* What the engine did with the caller's packets up to now (all of it is recorded). */
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	ivr_check_int_eq(ivr_call_record_stop(e, id), 0);
	int nch = 0;
	float *ch[3] = { 0 };
	size_t nf = 0;
	ivr_check_int_eq(read_recording(e, rpath, &nch, ch, &nf), 0);
	ivr_check_int_eq(nch, 3);
	/* Ticks the worker skipped (it overran under load) need not be in the file. */
	ivr_check_msg(nf + in.frames_skipped * 160 >= N, "recorded %zu samples", nf);
	if (nch == 3 && nf >= 160 * 50) {
		/*
		 * caller channel: what we sent, delayed by the jitter buffer.  Aligned
		 * frame by frame (the jitter buffer plays whole packets, the recorder
		 * writes whole ticks): every frame the engine decoded from a packet must
		 * be in the recording bit-exact (mu-law decoded), in the order sent.  On
		 * a quiet machine that is all 150; under load the engine conceals the
		 * gaps a stalled sender leaves and drops what came too late, which its
		 * counters say, so the count is checked against frames_played.
		 */
		size_t exact = 0, order_errors = 0, last_j = 0;
		long lag = 0;
		bool first = true;
		for (size_t k = 0; k + 1 <= nf / 160; k++) {
			const float *got = ch[0] + k * 160;
			size_t j_lo = k > 100 ? k - 100 : 0, j_hi = N / 160;
			for (size_t j = j_lo; j < j_hi; j++) {
				double e2 = 0, s2 = 0;
				for (size_t i = 0; i < 160; i++) {
					double d = got[i] - ref[j * 160 + i];
					e2 += d * d;
					s2 += (double)ref[j * 160 + i] * ref[j * 160 + i];
				}
				if (s2 > 1e-6 && e2 < s2 * 1e-8) {
					exact++;
					if (!first && j <= last_j)
						order_errors++;
					if (first)
						lag = ((long)k - (long)j) * 160;
					first = false;
					last_j = j;
					break;
				}
			}
		}
		printf("  caller channel: %zu of %zu sent frames exact (engine played %llu, "
		       "concealed %llu, late %llu, skipped %llu), first at %zu samples (%.0f ms) "
		       "of "
		       "buffering\n",
		       exact, N / 160, (unsigned long long)in.frames_played,
		       (unsigned long long)in.frames_concealed, (unsigned long long)in.jb_late,
		       (unsigned long long)in.frames_skipped, lag, lag / 8.0);
		ivr_check_msg(exact + 2 >= in.frames_played,
			      "caller channel: %zu exact frames, engine played %llu", exact,
			      (unsigned long long)in.frames_played);
		ivr_check_msg(exact * 2 >= N / 160, "caller channel: only %zu of %zu frames exact",
			      exact, N / 160);
		ivr_check_int_eq(order_errors, 0);
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
	struct ivr_call_params p = { .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(phone_call(e, &ph, &p, &id), 0);
	ivr_check_int_eq(ivr_call_record_start(e, id, rpath, "caller"), 0);
	/*
	 * One continuous stream at real pace (an absolute timer that catches up), the pause
	 * and the resume issued between two frames: a gap in the sending would itself be
	 * concealed and muted by the engine and look like part of the pause.
	 */
	uint64_t t = now_ns();
	for (size_t f = 0; f < 120; f++) {
		if (f == 40)
			ivr_check_int_eq(ivr_call_record_pause(e, id, true), 0);
		if (f == 80)
			ivr_check_int_eq(ivr_call_record_pause(e, id, false), 0);
		phone_send(&ph, tone + f * 160);
		phone_drain(&ph, false);
		t += 20000000ull;
		sleep_until(t);
	}
	struct phone *phs[1] = { &ph };
	phones_run(phs, NULL, 1, 0); /* the jitter buffer plays out */
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0); /* destroy ends the recording too */
	int nch = 0;
	float *ch[3] = { 0 };
	size_t nf = 0;
	ivr_check_int_eq(read_recording(e, rpath, &nch, ch, &nf), 0);
	ivr_check_int_eq(nch, 1);
	if (nch == 1 && nf > 8000 * 2) {
		/*
		 * Energy per 100 ms block: loud, then the paused stretch (silence), then
		 * loud again.  The pause is the longest silent run; on a loaded machine a
		 * stalled sender may leave short gaps the jitter buffer conceals and then
		 * mutes, so other silent blocks are allowed only when the engine reports
		 * concealed, late or skipped frames.
		 */
		size_t nb = nf / 800;
		int run = 0, best_run = 0, best_end = -1, silent_total = 0;
		bool *silent = calloc(nb, sizeof(bool)), *loud = calloc(nb, sizeof(bool));
		for (size_t b = 0; b < nb; b++) {
			double en = 0;
			for (size_t i = 0; i < 800; i++)
				en += ch[0][b * 800 + i] * ch[0][b * 800 + i];
			en /= 800;
			silent[b] = en < 1e-7;
			loud[b] = en > 0.01;
			/* the first 300 ms: before the first packet, silence is expected */
			if (b <= 3)
				continue;
			silent_total += silent[b];
			run = silent[b] ? run + 1 : 0;
			if (run > best_run) {
				best_run = run;
				best_end = (int)b;
			}
		}
		int loud_before = 0, loud_after = 0;
		for (int b = 0; b < (int)nb; b++) {
			if (b <= best_end - best_run)
				loud_before += loud[b];
			else if (b > best_end)
				loud_after += loud[b];
		}
		long disturbed = (long)(in.frames_concealed + in.jb_late + in.frames_skipped);
		printf("  pause: loud %d, silent run %d, loud %d (blocks of 100 ms); %d other "
		       "silent blocks, %ld frames concealed/late/skipped\n",
		       loud_before, best_run, loud_after, silent_total - best_run, disturbed);
		ivr_check_msg(loud_before >= 5 && loud_after >= 5 && best_run >= 6,
			      "before %d silent %d after %d", loud_before, best_run, loud_after);
		ivr_check_msg(disturbed > 0 || silent_total == best_run,
			      "%d silent blocks outside the pause, nothing concealed",
			      silent_total - best_run);
		free(silent);
		free(loud);
	}
	free(ch[0]);
	test_engine_end(e, &ph, rpath);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_record_channels);
	ivr_test_run(test_record_pause);
	return ivr_test_summary();
}
