/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_dtmf.c - ns per sample of the engine's DTMF detector (C
 * reference kernel and the run-time selected SIMD kernel) against
 * spandsp's dtmf_rx on the same audio, in one run.
 *
 * Audio: 8 kHz (and 16 kHz for ours; spandsp's dtmf_rx is 8 kHz only)
 * random digits 50 ms on / 50 ms off at -10 dBm0 per tone over white noise
 * at -40 dBm0 ("dtmf-digits", the worst case: every digit is verified),
 * and the same noise alone ("dtmf-noise"), fed in chunks of 160 (20 ms;
 * 320 at 16 kHz), 1 and 333 samples.  spandsp gets the same signal as
 * int16 (its input format), converted outside the timed loop.  Each figure
 * is the median of 7 repeats.
 * Output: "name impl rate chunk n_samples ns_per_sample x_realtime digits",
 * then "ratio" lines (ours / spandsp, lower is better; target <= 1.0).
 * --smoke: a short run that checks both detectors find the digits; < 2 s.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "dsp/dtmf.h"
#include "dsp/g711.h"
#include "dsp/tone.h"

#if defined(__has_include)
#if __has_include(<spandsp.h>)
#define IVR_HAVE_SPANDSP 1
#include <spandsp.h>
#endif
#endif

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static float *make_audio(uint32_t rate, double seconds, int with_digits, size_t *n_out,
			 int *n_digits)
{
	static const char digits[] = "0123456789*#ABCD";
	size_t n = (size_t)(seconds * rate);
	float *x = calloc(n, sizeof(float));
	size_t per = rate / 10, on = rate / 20;
	int k = 0;
	for (size_t pos = per / 2; with_digits && pos + on <= n; pos += per, k++) {
		struct ivr_tone_dtmf p = { .level_dbm0 = -10 };
		if (ivr_tone_dtmf_add(x + pos, on, rate, digits[(int)(urand() * 16) & 15], &p) < 0)
			abort();
	}
	double sd = ivr_tone_dbm0_to_amp(-40) / sqrt(2.0);
	for (size_t i = 0; i < n; i++)
		x[i] += (float)(sd * (urand() + urand() + urand() - 1.5) * 2.0);
	*n_out = n;
	*n_digits = k;
	return x;
}

/* One timed pass of ours over @x; @return ns and the digit count. */
static double run_ours(struct ivr_dtmf_rx *rx, const float *x, size_t n, size_t chunk, int *digits)
{
	struct ivr_dtmf_event ev[16];
	int d = 0;
	ivr_dtmf_rx_reset(rx);
	double t0 = bench_wall_ns();
	for (size_t pos = 0; pos < n; pos += chunk) {
		size_t m = n - pos < chunk ? n - pos : chunk;
		int r = ivr_dtmf_rx_process(rx, x + pos, m, ev, 16);
		for (int i = 0; i < r; i++)
			d += ev[i].type == IVR_DTMF_EV_START;
	}
	double t = bench_wall_ns() - t0;
	*digits = d;
	return t;
}

#ifdef IVR_HAVE_SPANDSP
static int span_digits;
static void span_cb(void *user, const char *digits, int len)
{
	(void)user;
	(void)digits;
	span_digits += len;
}

static double run_spandsp(const int16_t *x, size_t n, size_t chunk, int *digits)
{
	dtmf_rx_state_t *s = dtmf_rx_init(NULL, span_cb, NULL);
	span_digits = 0;
	double t0 = bench_wall_ns();
	for (size_t pos = 0; pos < n; pos += chunk) {
		size_t m = n - pos < chunk ? n - pos : chunk;
		dtmf_rx(s, x + pos, (int)m);
	}
	double t = bench_wall_ns() - t0;
	dtmf_rx_free(s);
	*digits = span_digits;
	return t;
}
#endif

static void report(const char *name, const char *impl, uint32_t rate, size_t chunk, size_t n,
		   double ns, int digits)
{
	double nsps = ns / n;
	printf("%-11s %-8s %5u %4zu %9zu %8.3f %9.0f %d\n", name, impl, rate, chunk, n, nsps,
	       1e9 / (nsps * rate), digits);
}

int main(int argc, char **argv)
{
	int smoke = bench_smoke(argc, argv);
	int reps = smoke ? 1 : 7;
	double seconds = smoke ? 2.0 : 20.0;
	int fail = 0;
	printf("# name impl rate chunk n_samples ns_per_sample x_realtime digits\n");
	/* kind 0: a digit every 100 ms (worst case: every digit is verified);
	 * kind 1: the same noise without digits (a call's usual audio) */
	static const char *kinds[2] = { "dtmf-digits", "dtmf-noise" };
#if IVR_HAVE_SIMD
	int have_simd = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	int have_simd = 0;
#endif
	if (!have_simd)
		printf("# no AVX2/FMA kernel (build or CPU): C kernel only\n");
	double ours_c[2] = { 0 }, ours_simd[2] = { 0 }, span[2] = { 0 };
	static const uint32_t rates[2] = { 8000, 16000 };
	for (int kind = 0; kind < 2; kind++) {
		for (int ri = 0; ri < 2; ri++) {
			uint32_t rate = rates[ri];
			size_t n;
			int want;
			float *x = make_audio(rate, seconds, kind == 0, &n, &want);
			struct ivr_dtmf_cfg cfg = { .rate_hz = rate };
			struct ivr_dtmf_rx *rx = ivr_dtmf_rx_new(&cfg);
			if (!rx)
				return 1;
			size_t chunks[3] = { rate / 50, 1, 333 };
			for (int c = 0; c < 3; c++) {
				for (int impl = 0; impl < 1 + have_simd; impl++) {
					double t[16];
					int d = 0;
					ivr_dtmf_rx_force_c(rx, impl == 0);
					for (int r = 0; r < reps; r++)
						t[r] = run_ours(rx, x, n, chunks[c], &d);
					double m = bench_median(t, reps);
					report(kinds[kind], impl ? "ivr-simd" : "ivr-c", rate,
					       chunks[c], n, m, d);
					if (d != want) {
						fprintf(stderr, "ivr: %d digits, want %d\n", d,
							want);
						fail = 1;
					}
					if (rate == 8000 && c == 0)
						*(impl ? &ours_simd[kind] : &ours_c[kind]) = m / n;
				}
			}
#ifdef IVR_HAVE_SPANDSP
			if (rate == 8000) {
				int16_t *s16 = malloc(n * sizeof(int16_t));
				for (size_t i = 0; i < n; i++)
					s16[i] = ivr_f32_to_s16(x[i]);
				for (int c = 0; c < 3; c++) {
					double t[16];
					int d = 0;
					for (int r = 0; r < reps; r++)
						t[r] = run_spandsp(s16, n, chunks[c], &d);
					double m = bench_median(t, reps);
					report(kinds[kind], "spandsp", rate, chunks[c], n, m, d);
					if (d != want) {
						fprintf(stderr, "spandsp: %d digits, want %d\n", d,
							want);
						fail = 1;
					}
					if (c == 0)
						span[kind] = m / n;
				}
				free(s16);
			}
#endif
			ivr_dtmf_rx_free(rx);
			free(x);
		}
	}
	for (int kind = 0; kind < 2; kind++) {
		if (span[kind] > 0) {
			printf("ratio %-11s ivr-c/spandsp    8000 Hz 160-sample frames: %.3f\n",
			       kinds[kind], ours_c[kind] / span[kind]);
			if (have_simd)
				printf("ratio %-11s ivr-simd/spandsp 8000 Hz 160-sample frames: "
				       "%.3f\n",
				       kinds[kind], ours_simd[kind] / span[kind]);
		} else {
			printf("ratio: spandsp not available (no <spandsp.h>)\n");
		}
	}
	return fail;
}
