/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_jitter.c - jitter buffer under simulated networks (clean,
 * reordered, lossy, jittery, duplicated, restarted sender) driven tick by
 * tick as the worker does, and the PLC on a voiced-like signal run through
 * G.711: concealment is much closer to the lost audio than silence, fades
 * out after 60 ms, and the recovery is click-free.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "dsp/g711.h"
#include "engine/jitter.h"
#include "ivr_test.h"

#define FRAME 160

struct net_pkt {
	int64_t arrive_tick_x10; /* arrival time in 0.1 ms units */
	uint16_t seq;
	uint32_t ts;
};

static uint32_t rng_state = 1;
static uint32_t rnd(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return rng_state >> 8;
}

/*
 * Send n frames: frame i leaves at 20 i ms, arrives after a delay of
 * base + uniform(0, jitter_ms) ms, with loss_pct % lost and dup_pct % doubled.
 * Then run the buffer at 20 ms ticks and check frames come out in order.
 * Returns the number of frames played and fills stats.
 */
static int run_net(int n, int jitter_ms, int loss_pct, int dup_pct, struct ivr_jb_stats *st,
		   int *out_of_order)
{
	struct ivr_jb *jb = ivr_jb_new(NULL);
	if (!jb)
		return -1;
	struct net_pkt *q = calloc((size_t)n * 2, sizeof(*q));
	int nq = 0;
	for (int i = 0; i < n; i++) {
		if ((int)(rnd() % 100) < loss_pct)
			continue;
		int copies = (int)(rnd() % 100) < dup_pct ? 2 : 1;
		for (int c = 0; c < copies; c++) {
			int64_t t = (int64_t)i * 20 * 10 + 50 +
				    (jitter_ms ? rnd() % (uint32_t)(jitter_ms * 10) : 0);
			q[nq++] = (struct net_pkt){ t, (uint16_t)(60000 + i),
						    0xfffff000u + (uint32_t)i * FRAME };
		}
	}
	/* Deliver in arrival order (insertion sort: small n). */
	for (int i = 1; i < nq; i++)
		for (int j = i; j > 0 && q[j].arrive_tick_x10 < q[j - 1].arrive_tick_x10; j--) {
			struct net_pkt t = q[j];
			q[j] = q[j - 1];
			q[j - 1] = t;
		}
	int qi = 0, played = 0;
	uint32_t last_ts = 0;
	bool have_last = false;
	*out_of_order = 0;
	for (int tick = 0; tick < n + 40; tick++) {
		int64_t now = (int64_t)tick * 200;
		while (qi < nq && q[qi].arrive_tick_x10 <= now) {
			uint8_t pl[FRAME];
			memset(pl, (uint8_t)q[qi].seq, sizeof(pl));
			/* 0.1 ms -> 8 kHz units */
			uint32_t arrival = (uint32_t)(q[qi].arrive_tick_x10 * 8 / 10);
			(void)ivr_jb_put(jb, q[qi].seq, q[qi].ts, false, pl, sizeof(pl), arrival);
			qi++;
		}
		uint8_t out[FRAME];
		size_t nb;
		uint32_t ts;
		int r = ivr_jb_get(jb, out, sizeof(out), &nb, &ts);
		if (r == IVR_JB_FRAME) {
			if (have_last && (int32_t)(ts - last_ts) <= 0)
				(*out_of_order)++;
			/* payload matches its timestamp's sequence number */
			uint32_t idx = (ts - 0xfffff000u) / FRAME;
			if (out[0] != (uint8_t)(60000 + idx) || nb != FRAME)
				(*out_of_order)++;
			last_ts = ts;
			have_last = true;
			played++;
		}
	}
	ivr_jb_get_stats(jb, st);
	ivr_jb_free(jb);
	free(q);
	return played;
}

IVR_TEST(test_clean_stream)
{
	struct ivr_jb_stats st;
	int ooo = 0;
	int played = run_net(500, 0, 0, 0, &st, &ooo);
	/* the initial 2-frame depth shrinks to 1 by dropping one frame, once */
	ivr_check_int_eq(played + (int)st.dropped_adapt, 500);
	ivr_check(st.dropped_adapt <= 1);
	ivr_check_int_eq(ooo, 0);
	ivr_check_int_eq(st.late, 0);
	ivr_check(st.target_frames <= 2);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_reorder_jitter)
{
	/* 60 ms of arrival jitter reorders packets heavily; nothing may be lost once adapted. */
	struct ivr_jb_stats st;
	int ooo = 0;
	int played = run_net(1500, 60, 0, 0, &st, &ooo);
	ivr_check_int_eq(ooo, 0);
	ivr_check_msg(st.target_frames >= 3, "target %u", st.target_frames);
	ivr_check_msg(played >= 1500 * 97 / 100, "played %d late %llu", played,
		      (unsigned long long)st.late);
	ivr_check(st.late < 1500 / 50);
	ivr_check(st.jitter_units > 100);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_loss_and_dups)
{
	struct ivr_jb_stats st;
	int ooo = 0;
	int played = run_net(1000, 10, 5, 10, &st, &ooo);
	ivr_check_int_eq(ooo, 0);
	ivr_check(st.duplicates > 50);
	/* every frame that arrived was played, the lost ones reported missing */
	ivr_check_near(played, 950, 30);
	ivr_check(st.missing >= 30);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_restart_and_bad_input)
{
	struct ivr_jb *jb = ivr_jb_new(NULL);
	uint8_t pl[700] = { 0 }, out[320];
	size_t nb;
	uint32_t ts;
	ivr_check_int_eq(ivr_jb_get(jb, out, sizeof(out), &nb, &ts), IVR_JB_EMPTY);
	ivr_check_int_eq(ivr_jb_put(jb, 1, 1000, false, pl, 700, 0), -EMSGSIZE);
	ivr_check_int_eq(ivr_jb_put(jb, 1, 1000, false, pl, 160, 0), 0);
	ivr_check_int_eq(ivr_jb_put(jb, 1, 1000, false, pl, 160, 0), -EEXIST);
	ivr_check_int_eq(ivr_jb_put(jb, 2, 1160, false, pl, 160, 160), 0);
	int frames = 0;
	for (int i = 0; i < 4; i++)
		frames += ivr_jb_get(jb, out, sizeof(out), &nb, &ts) == IVR_JB_FRAME;
	ivr_check_int_eq(frames, 2);
	/* A sender that restarts its timestamps far away is followed, not dropped. */
	ivr_check_int_eq(ivr_jb_put(jb, 9000, 0x80000000u, false, pl, 160, 500), 0);
	struct ivr_jb_stats st;
	ivr_jb_get_stats(jb, &st);
	ivr_check_int_eq(st.resyncs, 1);
	frames = 0;
	uint32_t frame_ts = 0;
	for (int i = 0; i < 3; i++)
		if (ivr_jb_get(jb, out, sizeof(out), &nb, &ts) == IVR_JB_FRAME) {
			frames++;
			frame_ts = ts;
		}
	ivr_check_int_eq(frames, 1);
	ivr_check_int_eq(frame_ts, 0x80000000u);
	ivr_jb_free(jb);
	struct ivr_jb_cfg bad = { .max_frames = 100 };
	ivr_check(ivr_jb_new(&bad) == NULL);
	ivr_check_int_eq(ivr_jb_size(&bad), 0);
	return IVR_TEST_RESULT();
}

/* A vowel-like signal: 125 Hz pulse-ish harmonics, through mu-law. */
static void voiced(float *x, int n, int offset)
{
	for (int i = 0; i < n; i++) {
		double t = (double)(i + offset) / 8000.0;
		double v = 0.3 * sin(2 * M_PI * 125 * t) + 0.15 * sin(2 * M_PI * 250 * t + 0.5) +
			   0.08 * sin(2 * M_PI * 375 * t + 1.0);
		int16_t s = ivr_g711_ulaw_decode(ivr_g711_ulaw_encode((int16_t)(v * 32767)));
		x[i] = (float)s / 32768.0f;
	}
}

IVR_TEST(test_plc)
{
	struct ivr_plc plc;
	ivr_check_int_eq(ivr_plc_init(&plc, 11025), -EINVAL);
	ivr_check_int_eq(ivr_plc_init(&plc, 8000), 0);
	float f[FRAME], ref[FRAME];
	for (int i = 0; i < 10; i++) {
		voiced(f, FRAME, i * FRAME);
		ivr_plc_good(&plc, f, FRAME);
	}
	/* First lost frame: compare the concealment to the true frame. */
	voiced(ref, FRAME, 10 * FRAME);
	ivr_plc_conceal(&plc, f, FRAME);
	double err = 0, sig = 0;
	for (int i = 0; i < FRAME; i++) {
		err += (f[i] - ref[i]) * (f[i] - ref[i]);
		sig += ref[i] * ref[i];
	}
	double snr = 10 * log10(sig / err);
	ivr_check_msg(snr > 10, "concealment SNR %.1f dB", snr); /* silence would be 0 dB */
	/* Long loss: attenuated, then silent after 60 ms. */
	float e2 = 0, e4 = 0;
	ivr_plc_conceal(&plc, f, FRAME);
	for (int i = 0; i < FRAME; i++)
		e2 += f[i] * f[i];
	ivr_plc_conceal(&plc, f, FRAME);
	ivr_plc_conceal(&plc, f, FRAME);
	for (int i = 0; i < FRAME; i++)
		e4 += f[i] * f[i];
	ivr_check(e2 < sig);
	ivr_check_near(e4, 0, 1e-9);
	/* Recovery: a short loss, then the good frame must join without a click. */
	struct ivr_plc p2;
	ivr_check_int_eq(ivr_plc_init(&p2, 8000), 0);
	for (int i = 0; i < 10; i++) {
		voiced(f, FRAME, i * FRAME);
		ivr_plc_good(&p2, f, FRAME);
	}
	ivr_plc_conceal(&p2, f, FRAME);
	float last = f[FRAME - 1];
	voiced(ref, FRAME, 11 * FRAME);
	ivr_plc_good(&p2, ref, FRAME);
	ivr_check_msg(fabsf(ref[0] - last) < 0.1f, "jump %f", fabsf(ref[0] - last));
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_clean_stream);
	ivr_test_run(test_reorder_jitter);
	ivr_test_run(test_loss_and_dups);
	ivr_test_run(test_restart_and_bad_input);
	ivr_test_run(test_plc);
	return ivr_test_summary();
}
