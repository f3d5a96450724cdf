/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_mixer.c - conference mixing on the ports directly: N-1
 * sums, listen/speak/whisper flags, frames heard IVR_MIX_DELAY ticks later,
 * limits and bad arguments, conferences of 8 and 16 kHz members (tones at
 * their levels, no 6 kHz alias for the narrowband member), and members on
 * two "workers" that run late by turns: every frame is heard once, in
 * order, never doubled or skipped.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp/resample.h"
#include "engine/mixer.h"
#include "ivr_dft.h"
#include "ivr_test.h"

#define SLOTS 40
static struct ivr_mix_port *ports;

static struct ivr_mixer *setup(void)
{
	ports = aligned_alloc(64, sizeof(*ports) * SLOTS);
	memset(ports, 0, sizeof(*ports) * SLOTS);
	struct ivr_mixer *m = ivr_mixer_new(2);
	ivr_mixer_set_ports(m, ports, sizeof(*ports), SLOTS);
	return m;
}

/* Each slot s publishes a constant frame of value (s + 1) / 100. */
static void publish_all(uint64_t tick, int n)
{
	float f[160];
	for (int s = 0; s < n; s++) {
		for (int i = 0; i < 160; i++)
			f[i] = (float)(s + 1) / 100.0f;
		ivr_mix_port_publish(&ports[s], tick, f, 160);
	}
}

/* What @slot hears at the tick that plays the frames of @tick. */
static float heard(struct ivr_mixer *m, uint32_t slot, uint64_t tick, int *n)
{
	float acc[160] = { 0 };
	*n = ivr_mixer_mix(m, slot, tick + IVR_MIX_DELAY_MIN, acc, 160);
	return acc[77];
}

IVR_TEST(test_n_minus_one_and_flags)
{
	struct ivr_mixer *m = setup();
	for (uint32_t s = 0; s < 4; s++)
		ivr_check_int_eq(ivr_mixer_join(m, "a", s, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_count(m, "a"), 4);
	publish_all(10, 4);
	int n;
	/* slot 0 hears 2+3+4 hundredths */
	ivr_check_near(heard(m, 0, 10, &n), 0.09, 1e-6);
	ivr_check_int_eq(n, 3);
	ivr_check_near(heard(m, 3, 10, &n), 0.06, 1e-6);
	/* slot 3 whispers to slot 1 */
	ivr_check_int_eq(ivr_mixer_flags(m, 3, true, true, 1), 0);
	ivr_check_near(heard(m, 0, 10, &n), 0.05, 1e-6);
	ivr_check_near(heard(m, 1, 10, &n), 0.08, 1e-6);
	/* slot 3 monitors */
	ivr_check_int_eq(ivr_mixer_flags(m, 3, true, false, -1), 0);
	ivr_check_near(heard(m, 1, 10, &n), 0.04, 1e-6);
	ivr_check_near(heard(m, 3, 10, &n), 0.06, 1e-6);
	/* slot 2 deafened */
	ivr_check_int_eq(ivr_mixer_flags(m, 2, false, true, -1), 0);
	ivr_check_near(heard(m, 2, 10, &n), 0, 1e-9);
	/* a tick nobody published (their workers skipped it) is silence, not the last frame */
	ivr_check_near(heard(m, 0, 11, &n), 0, 1e-9);
	ivr_check_int_eq(n, 0);
	ivr_check_near(heard(m, 0, 9, &n), 0, 1e-9);
	/* a frame overwritten IVR_MIX_RING ticks later is gone, not mixed as another tick's */
	publish_all(10 + IVR_MIX_RING, 4);
	ivr_check_near(heard(m, 0, 10, &n), 0, 1e-9);
	ivr_check_near(heard(m, 0, 10 + IVR_MIX_RING, &n), 0.05, 1e-6);
	publish_all(10, 4);
	/* leaving */
	ivr_check_int_eq(ivr_mixer_leave(m, 1), 0);
	ivr_check_int_eq(ivr_mixer_leave(m, 1), -ENOENT);
	ivr_check_near(heard(m, 0, 10, &n), 0.03, 1e-6);
	ivr_check_near(heard(m, 1, 10, &n), 0, 1e-9);
	ivr_mixer_free(m);
	free(ports);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_limits)
{
	struct ivr_mixer *m = setup();
	ivr_check_int_eq(ivr_mixer_join(m, "", 0, true, true, -1), -EINVAL);
	ivr_check_int_eq(ivr_mixer_join(m, "a", SLOTS, true, true, -1), -EINVAL);
	ivr_check_int_eq(ivr_mixer_join(m, "a", 0, true, true, SLOTS), -EINVAL);
	ivr_check_int_eq(ivr_mixer_flags(m, 5, true, true, -1), -ENOENT);
	ivr_check_int_eq(ivr_mixer_join(m, "a", 0, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_join(m, "b", 1, true, true, -1), 0);
	/* only 2 conferences in this table */
	ivr_check_int_eq(ivr_mixer_join(m, "c", 2, true, true, -1), -ENOSPC);
	/* a conference holds IVR_CONF_MAX_MEMBERS */
	for (uint32_t s = 2; s < 2 + IVR_CONF_MAX_MEMBERS - 1; s++)
		ivr_check_int_eq(ivr_mixer_join(m, "a", s, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_join(m, "a", 39, true, true, -1), -ENOSPC);
	/* moving to another conference leaves the first */
	ivr_check_int_eq(ivr_mixer_join(m, "b", 0, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_count(m, "a"), IVR_CONF_MAX_MEMBERS - 1);
	ivr_check_int_eq(ivr_mixer_count(m, "b"), 2);
	ivr_check_int_eq(ivr_mixer_count(m, "zz"), -ENOENT);
	ivr_mixer_free(m);
	free(ports);
	return IVR_TEST_RESULT();
}

/*
 * A conference of one 8 kHz member (500 Hz tone) and two 16 kHz members
 * (1 kHz + 6 kHz; 1.5 kHz): each hears the others at its own rate with the
 * right levels, the 8 kHz member without the 6 kHz tone (nor its alias at
 * 2 kHz), a 16 kHz member with it; converting stops once the conference
 * holds one rate only.
 */
IVR_TEST(test_mixed_rates)
{
	struct ivr_mixer *m = setup();
	static const uint32_t rate[3] = { 8000, 16000, 16000 };
	struct ivr_resampler *rs[3];
	float *alt[3];
	for (int s = 0; s < 3; s++) {
		ports[s].rate_hz = rate[s];
		struct ivr_resampler_cfg rc = { .in_rate_hz = rate[s],
						.out_rate_hz = rate[s] == 8000 ? 16000 : 8000 };
		rs[s] = ivr_resampler_new(&rc);
		alt[s] = aligned_alloc(64, IVR_MIX_ALT_BYTES);
		ivr_check(rs[s] && alt[s]);
		ivr_mix_port_set_alt(&ports[s], rs[s], alt[s]);
		ivr_check_int_eq(ivr_mixer_join(m, "mixed", (uint32_t)s, true, true, -1), 0);
	}
	enum { TICKS = 50 };
	static float got[3][TICKS * 320];
	double ph[3][2] = { { 0 } };
	for (uint64_t t = 0; t < TICKS; t++) {
		for (int s = 0; s < 3; s++) {
			float f[320];
			size_t n = rate[s] / 50;
			for (size_t i = 0; i < n; i++) {
				double v = 0;
				if (s == 0)
					v = 0.2 * sin(ph[s][0] += 2 * M_PI * 500 / 8000);
				else if (s == 1)
					v = 0.2 * sin(ph[s][0] += 2 * M_PI * 1000 / 16000) +
					    0.2 * sin(ph[s][1] += 2 * M_PI * 6000 / 16000);
				else
					v = 0.2 * sin(ph[s][0] += 2 * M_PI * 1500 / 16000);
				f[i] = (float)v;
			}
			ivr_mix_port_publish(&ports[s], t, f, n);
		}
		for (int s = 0; s < 3; s++) {
			size_t n = rate[s] / 50;
			int k = ivr_mixer_mix(m, (uint32_t)s, t, got[s] + t * n, n);
			ivr_check_msg(k == (t < IVR_MIX_DELAY_MIN ? 0 : 2),
				      "slot %d tick %d: %d members", s, (int)t, k);
		}
	}
	/* the second half: past the converters' start-up */
	const float *g0 = got[0] + TICKS * 80, *g1 = got[1] + TICKS * 160,
		    *g2 = got[2] + TICKS * 160;
	const size_t n0 = TICKS * 80, n1 = TICKS * 160;
	printf("  8 kHz member hears 1 kHz %.3f, 1.5 kHz %.3f, 2 kHz (6 kHz alias) %.4f, own "
	       "500 Hz %.4f\n",
	       ivr_dft_amp(g0, n0, 8000, 1000), ivr_dft_amp(g0, n0, 8000, 1500),
	       ivr_dft_amp(g0, n0, 8000, 2000), ivr_dft_amp(g0, n0, 8000, 500));
	printf("  16 kHz members hear 500 Hz %.3f / %.3f, 6 kHz %.3f (of 0.2)\n",
	       ivr_dft_amp(g1, n1, 16000, 500), ivr_dft_amp(g2, n1, 16000, 500),
	       ivr_dft_amp(g2, n1, 16000, 6000));
	ivr_check_near(ivr_dft_amp(g0, n0, 8000, 1000), 0.2, 0.01);
	ivr_check_near(ivr_dft_amp(g0, n0, 8000, 1500), 0.2, 0.01);
	ivr_check(ivr_dft_amp(g0, n0, 8000, 2000) < 0.002);
	ivr_check(ivr_dft_amp(g0, n0, 8000, 500) < 0.002);
	ivr_check_near(ivr_dft_amp(g1, n1, 16000, 500), 0.2, 0.01);
	ivr_check_near(ivr_dft_amp(g1, n1, 16000, 1500), 0.2, 0.01);
	ivr_check(ivr_dft_amp(g1, n1, 16000, 1000) < 0.002 &&
		  ivr_dft_amp(g1, n1, 16000, 6000) < 0.002);
	ivr_check_near(ivr_dft_amp(g2, n1, 16000, 500), 0.2, 0.01);
	ivr_check_near(ivr_dft_amp(g2, n1, 16000, 1000), 0.2, 0.01);
	ivr_check_near(ivr_dft_amp(g2, n1, 16000, 6000), 0.2, 0.01);
	/* the 8 kHz member leaves: nobody converts any more */
	ivr_check(atomic_load(&ports[1].want_alt));
	ivr_check_int_eq(ivr_mixer_leave(m, 0), 0);
	ivr_check(!atomic_load(&ports[1].want_alt) && !atomic_load(&ports[2].want_alt));
	uint64_t seq = atomic_load(&ports[1].alt_seq);
	float f[320] = { 0 };
	ivr_mix_port_publish(&ports[1], TICKS, f, 320);
	ivr_check(atomic_load(&ports[1].alt_seq) == seq);
	for (int s = 0; s < 3; s++) {
		ivr_resampler_free(rs[s]);
		free(alt[s]);
	}
	ivr_mixer_free(m);
	free(ports);
	return IVR_TEST_RESULT();
}

/*
 * Two media workers that run late by turns: worker A holds slots 0 and 1,
 * worker B slot 2; each worker runs its ticks in order, each up to 39 ms
 * after its grid point (a descheduled thread, or one catching up), in a
 * pseudo-random interleaving of the two; B skips one tick (overrun).  Each
 * member publishes a frame whose value names member and tick.  Every
 * listener must hear each other member's frames in order, each once,
 * nothing doubled and nothing skipped but around the tick B skipped (B's
 * frame of it was never made, and B did not play one of the others'), at most
 * IVR_MIX_DELAY_MAX ticks after it was made; members of one worker hear each
 * other after IVR_MIX_DELAY_MIN all along.  (Mixing "the newest frame" failed
 * this: a late speaker's previous frame heard twice, then one frame never.)
 */
IVR_TEST(test_late_workers)
{
	struct ivr_mixer *m = setup();
	for (uint32_t s = 0; s < 3; s++)
		ivr_check_int_eq(ivr_mixer_join(m, "late", s, true, true, -1), 0);
	enum { TICKS = 400, SKIP = 137 };
	static const double scale[3] = { 1, 100, 10000 }; /* exact in float */
	/* when each worker runs each tick, in 0.1 ms: grid + 0..39 ms, in order */
	static uint32_t run_at[2][TICKS];
	uint32_t seed = 12345;
	for (int w = 0; w < 2; w++)
		for (uint32_t t = 0; t < TICKS; t++) {
			seed = seed * 1664525u + 1013904223u;
			uint32_t late = (seed >> 8) % 390;
			run_at[w][t] = 200 * t + late;
			if (t && run_at[w][t] <= run_at[w][t - 1])
				run_at[w][t] = run_at[w][t - 1] + 1;
		}
	/* per listener and member: the last frame heard (tick + 1), frames heard, longest delay */
	uint64_t last[3][3] = { { 0 } };
	int count[3][3] = { { 0 } }, max_delay[3][3] = { { 0 } }, bad = 0;
	uint32_t ti[2] = { 0, 0 };
	while (ti[0] < TICKS || ti[1] < TICKS) {
		int w = ti[1] >= TICKS || (ti[0] < TICKS && run_at[0][ti[0]] <= run_at[1][ti[1]])
				? 0
				: 1;
		uint64_t t = ti[w]++;
		if (w == 1 && t == SKIP)
			continue; /* B fell behind and skipped this tick */
		for (uint32_t s = (w == 0 ? 0 : 2); s < (w == 0 ? 2u : 3u); s++) {
			float f[160];
			for (int i = 0; i < 160; i++)
				f[i] = (float)(scale[s] * (double)(t % 99 + 1));
			ivr_mix_port_publish(&ports[s], t, f, 160);
			float acc[160] = { 0 };
			ivr_mixer_mix(m, s, t, acc, 160);
			if (acc[0] != acc[159])
				bad++;
			long v = lrintf(acc[0]);
			for (uint32_t o = 0; o < 3; o++) {
				long d = (long)(v / (long)scale[o]) % 100;
				if (o == s || d == 0)
					continue; /* silence from o this tick */
				/* the frame of o heard: the one of the last IVR_MIX_DELAY_MAX ticks
				 */
				int delay = 0;
				for (int k = 1; k <= IVR_MIX_DELAY_MAX && !delay; k++)
					if (t >= (uint64_t)k && (long)((t - k) % 99 + 1) == d)
						delay = k;
				uint64_t src = t - (uint64_t)delay;
				/* B's skipped tick: its frame was never made, and slot 2
				 * did not play one frame of the others */
				bool gap_ok = last[s][o] == src || (((o == 2 && src == SKIP + 1) ||
								     (s == 2 && t == SKIP + 1)) &&
								    last[s][o] + 1 == src);
				if (!delay || !gap_ok) {
					if (bad++ < 5)
						printf("  slot %u tick %llu heard %ld of member "
						       "%u, "
						       "last %llu\n",
						       s, (unsigned long long)t, d, o,
						       (unsigned long long)last[s][o]);
					continue;
				}
				last[s][o] = src + 1;
				count[s][o]++;
				max_delay[s][o] = IVR_MAX(max_delay[s][o], delay);
			}
		}
	}
	printf("  frames heard of 0/1/2: by 0: -/%d/%d, by 1: %d/-/%d, by 2: %d/%d/-; longest "
	       "delay "
	       "0<-2 %d, 2<-0 %d ticks\n",
	       count[0][1], count[0][2], count[1][0], count[1][2], count[2][0], count[2][1],
	       max_delay[0][2], max_delay[2][0]);
	ivr_check_int_eq(bad, 0);
	/* nothing lost: all frames up to the last IVR_MIX_DELAY_MAX ticks (B's skipped one aside)
	 */
	for (uint32_t s = 0; s < 3; s++)
		for (uint32_t o = 0; o < 3; o++)
			if (o != s)
				ivr_check(count[s][o] >=
					  TICKS - IVR_MIX_DELAY_MAX - (o == 2) - (s == 2));
	/* one worker's members hear each other one tick on, however late the worker runs */
	ivr_check_int_eq(max_delay[0][1], IVR_MIX_DELAY_MIN);
	ivr_check_int_eq(max_delay[1][0], IVR_MIX_DELAY_MIN);
	/* across workers this run needs the longer delay somewhere (else it tests nothing) */
	ivr_check(max_delay[0][2] == IVR_MIX_DELAY_MAX || max_delay[2][0] == IVR_MIX_DELAY_MAX);
	ivr_mixer_free(m);
	free(ports);
	return IVR_TEST_RESULT();
}

/*
 * A member whose worker ran late once, then keeps time: its listener's delay
 * grows to IVR_MIX_DELAY_MAX and, after IVR_MIX_SHRINK_TICKS on time, comes
 * back to IVR_MIX_DELAY_MIN on a quiet frame (the only frame dropped).
 */
IVR_TEST(test_delay_shrinks_on_quiet)
{
	struct ivr_mixer *m = setup();
	for (uint32_t s = 0; s < 2; s++)
		ivr_check_int_eq(ivr_mixer_join(m, "shrink", s, true, true, -1), 0);
	const uint64_t LATE = 10, QUIET = IVR_MIX_SHRINK_TICKS + 100, END = QUIET + 40;
	int delay_after_late = 0, delay_at_end = 0, heard_quiet = 0;
	for (uint64_t t = 0; t < END; t++) {
		float f[160], acc[160] = { 0 };
		/* slot 1 speaks (value = tick + 1) except a run of quiet frames */
		float v = (t >= QUIET && t < QUIET + 20) ? 0.0f : (float)(t + 1);
		for (int i = 0; i < 160; i++)
			f[i] = v;
		if (t != LATE) /* slot 1's worker runs tick LATE after slot 0's next tick */
			ivr_mix_port_publish(&ports[1], t, f, 160);
		ivr_mixer_mix(m, 0, t, acc, 160);
		if (t == LATE + 1)
			ivr_mix_port_publish(&ports[1], LATE, (float[160]){ (float)(LATE + 1) },
					     160);
		long got = lrintf(acc[0]);
		if (t == LATE + 5)
			delay_after_late = got ? (int)(t + 1 - (uint64_t)got) : -1;
		if (t >= QUIET && t < QUIET + 22 && got == 0)
			heard_quiet++;
		if (t == END - 1)
			delay_at_end = got ? (int)(t + 1 - (uint64_t)got) : -1;
	}
	printf("  delay after the late tick %d, at the end %d ticks; quiet ticks %d\n",
	       delay_after_late, delay_at_end, heard_quiet);
	ivr_check_int_eq(delay_after_late, IVR_MIX_DELAY_MAX);
	ivr_check_int_eq(delay_at_end, IVR_MIX_DELAY_MIN);
	ivr_check_int_eq(heard_quiet, 19); /* 20 quiet frames made, one dropped */
	ivr_mixer_free(m);
	free(ports);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_n_minus_one_and_flags);
	ivr_test_run(test_limits);
	ivr_test_run(test_mixed_rates);
	ivr_test_run(test_late_workers);
	ivr_test_run(test_delay_shrinks_on_quiet);
	return ivr_test_summary();
}
