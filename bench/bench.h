/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h - the timing, median, --smoke and output helpers every
 * bench/bench_<x>.c repeated.
 *
 * Clocks: bench_wall_ns() (CLOCK_MONOTONIC) and bench_cpu_ns()
 * (CLOCK_THREAD_CPUTIME_ID: on a machine shared with other jobs, time spent
 * preempted is not the bench's).  Each bench keeps the clock it quotes.
 * Figures are medians of several repeats (bench_median()); bench_smoke()
 * parses the one option, --smoke (a short run that checks the bench works,
 * so `meson test --suite bench` keeps it from bit-rotting); bench_row()
 * prints the common line "name impl n ns_per_unit x_realtime" under
 * bench_header(); bench_resonant_noise() (the VAD bench's signal),
 * bench_speechlike() and bench_add_echo() make the prompt/caller/echo
 * audio the AEC, VAD and DSP-chain benches share.
 * Header-only, static functions; for bench programs only (not RT code).
 */
#ifndef IVR_BENCH_BENCH_H
#define IVR_BENCH_BENCH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** @return wall-clock time in ns (CLOCK_MONOTONIC); any thread. */
static inline double bench_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/** @return CPU time of the calling thread in ns (CLOCK_THREAD_CPUTIME_ID). */
static inline double bench_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline int bench_cmp_double_(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/**
 * Median of @n (>= 1) figures.  Sorts @v ascending in place, so v[0] is
 * then the fastest run (the least disturbed by other load).
 * @return the middle value (n odd) or the mean of the two middle ones.
 */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), bench_cmp_double_);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/**
 * Parse the command line: no argument = the full run, "--smoke" = the
 * short run; anything else prints a usage line and exits with status 2.
 * @return 1 for --smoke, 0 for a full run.
 */
static inline int bench_smoke(int argc, char **argv)
{
	if (argc == 1)
		return 0;
	if (argc == 2 && strcmp(argv[1], "--smoke") == 0)
		return 1;
	fprintf(stderr, "usage: %s [--smoke]\n", argv[0]);
	exit(2);
}

/**
 * Print "name impl n ns_per_unit x_realtime" without the newline, so a
 * bench may append its own columns (a ratio).  @ns_per_unit is ns per
 * sample (or per frame) printed with @decimals decimals; @units_per_s is
 * the samples (frames) one real-time stream needs per second, so
 * x_realtime = 1e9 / (ns_per_unit * units_per_s) = streams one core sustains.
 */
static inline void bench_row_start(const char *name, const char *impl, size_t n, double ns_per_unit,
				   int decimals, double units_per_s)
{
	printf("%s %s %zu %.*f %.0f", name, impl, n, decimals, ns_per_unit,
	       1e9 / (ns_per_unit * units_per_s));
}

/** bench_row_start() and the newline: the whole common output line. */
static inline void bench_row(const char *name, const char *impl, size_t n, double ns_per_unit,
			     int decimals, double units_per_s)
{
	bench_row_start(name, impl, n, ns_per_unit, decimals, units_per_s);
	printf("\n");
}

/* A noise source through a moving resonance, gated: see bench_resonant_noise(). */
struct bench_noise_cfg {
	uint64_t seed;	      /* xorshift64 state, not 0 */
	float f_hz, swing_hz; /* resonance centre moves over f_hz +- swing_hz ... */
	float mod_hz;	      /* ... as a sine of this rate */
	uint32_t gate_div;    /* gate segments of rate_hz / gate_div samples ... */
	uint32_t gate_n;      /* ... the last of every gate_n of them silent */
	float amp;	      /* gain of the resonance output */
	float floor;	      /* gain of the raw noise added everywhere (0 = none) */
};

/**
 * Test audio at @rate_hz as @c says: xorshift64 white noise through a two-pole
 * resonance (pole radius 0.97) whose centre moves, gated off one segment in gate_n,
 * plus a floor of the raw noise.  Fills @x[0..n).
 */
static inline void bench_resonant_noise(float *x, size_t n, uint32_t rate_hz,
					const struct bench_noise_cfg *c)
{
	uint64_t s = c->seed;
	float y1 = 0, y2 = 0;
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		float w = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
		float f = c->f_hz + c->swing_hz * sinf(2.0f * 3.14159f * c->mod_hz * (float)i /
						       (float)rate_hz);
		float k = 2.0f * 0.97f * cosf(2.0f * 3.14159f * f / (float)rate_hz);
		float y = w + k * y1 - 0.9409f * y2;
		y2 = y1;
		y1 = y;
		float gate =
			((i / (rate_hz / c->gate_div)) % c->gate_n) == c->gate_n - 1 ? 0.0f : 1.0f;
		x[i] = c->amp * y * gate + c->floor * w;
	}
}

/**
 * Speech-like test audio at @rate_hz: bench_resonant_noise() with seed @seed, the
 * resonance centre moving 100..900 Hz at 3 Hz, gated off one quarter second in five
 * (pauses), scaled by @amp, no noise floor.  Fills @x[0..n).
 */
static inline void bench_speechlike(float *x, size_t n, uint32_t rate_hz, uint64_t seed, float amp)
{
	bench_resonant_noise(x, n, rate_hz,
			     &(struct bench_noise_cfg){ .seed = seed,
							.f_hz = 500.0f,
							.swing_hz = 400.0f,
							.mod_hz = 3.0f,
							.gate_div = 4,
							.gate_n = 5,
							.amp = amp });
}

/**
 * Print the column header line "# @columns", marked " [smoke]" for a smoke run.
 * @return nothing.
 */
static inline void bench_header(const char *columns, int smoke)
{
	printf("# %s%s\n", columns, smoke ? " [smoke]" : "");
}

/**
 * Add to @near[0..n) the echo of @far: 10 ms delay, a 24-tap decaying
 * alternating response, -6 dB.
 */
static inline void bench_add_echo(const float *far, float *near, size_t n, uint32_t rate_hz)
{
	const size_t d = rate_hz / 100;
	for (size_t i = 0; i < n; i++) {
		float e = 0;
		for (size_t k = 0; k < 24 && k + d <= i; k++)
			e += 0.5f * expf(-0.2f * (float)k) * (k % 2 ? -0.5f : 1.0f) *
			     far[i - d - k];
		near[i] += e;
	}
}

#endif /* IVR_BENCH_BENCH_H */
