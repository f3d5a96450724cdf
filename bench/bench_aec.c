/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_aec.c - echo canceller cost: dsp/aec wrapper against raw
 * speexdsp on the same audio in the same run.
 *
 * 8 kHz (and 16 kHz), 128 ms tail, 20 ms frames.  "raw" calls
 * speex_echo_cancellation() (+ speex_preprocess_run() for the suppressor
 * case) on int16 buffers prepared beforehand; "wrapper" is ivr_aec_process()
 * on float frames, i.e. raw + the float/int16 conversions and the reference
 * FIFO.  Prints per case: name impl n_samples ns_per_sample x_realtime
 * (= channels per core), medians of REPEATS interleaved runs of 2 s of
 * audio, and the wrapper/raw ratio of the medians and of the fastest runs
 * (the least disturbed on a shared machine; target <= 1.10).
 * --smoke: a short run that checks it works.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#include "bench/bench.h"
#include "dsp/aec.h"
#include "dsp/g711.h"

#define REPEATS 21

/* Speech-like far end (the prompt); the near end is its echo only. */
static void make_signals(float *far, float *near, size_t n, uint32_t rate)
{
	bench_speechlike(far, n, rate, 88172645463325252ull, 0.05f);
	memset(near, 0, n * sizeof(float));
	bench_add_echo(far, near, n, rate);
}

static double run_raw(const int16_t *near16, const int16_t *far16, size_t n, uint32_t rate,
		      int suppress)
{
	const int frame = (int)(rate / 50);
	SpeexEchoState *st = speex_echo_state_init(frame, (int)(rate * 128 / 1000));
	spx_int32_t r = (spx_int32_t)rate;
	speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &r);
	SpeexPreprocessState *pp = NULL;
	if (suppress) {
		pp = speex_preprocess_state_init(frame, (int)rate);
		speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, st);
	}
	int16_t out[320];
	double t0 = bench_cpu_ns();
	for (size_t off = 0; off + (size_t)frame <= n; off += (size_t)frame) {
		speex_echo_cancellation(st, near16 + off, far16 + off, out);
		if (pp)
			speex_preprocess_run(pp, out);
	}
	double t = bench_cpu_ns() - t0;
	if (pp)
		speex_preprocess_state_destroy(pp);
	speex_echo_state_destroy(st);
	return t;
}

static double run_wrapper(const float *near, const float *far, float *out, size_t n, uint32_t rate,
			  int suppress)
{
	struct ivr_aec *a = ivr_aec_new(
		&(struct ivr_aec_cfg){ .rate_hz = rate, .linear_only = (uint8_t)!suppress });
	if (!a)
		return -1;
	const size_t frame = rate / 50;
	double t0 = bench_cpu_ns();
	for (size_t off = 0; off + frame <= n; off += frame)
		ivr_aec_process(a, near + off, far + off, out + off, frame);
	double t = bench_cpu_ns() - t0;
	ivr_aec_free(a);
	return t;
}

int main(int argc, char **argv)
{
	const int smoke = bench_smoke(argc, argv);
	const double seconds = smoke ? 0.5 : 2.0;
	const int repeats = smoke ? 1 : REPEATS;
	int ok = 1;
	bench_header("name impl n_samples ns_per_sample x_realtime(channels/core)", smoke);
	for (uint32_t rate = 8000; rate <= 16000; rate *= 2) {
		const size_t n = (size_t)(seconds * rate);
		float *far = malloc(n * sizeof(float)), *near = malloc(n * sizeof(float));
		float *out = malloc(n * sizeof(float));
		int16_t *far16 = malloc(n * 2), *near16 = malloc(n * 2);
		make_signals(far, near, n, rate);
		for (size_t i = 0; i < n; i++) {
			far16[i] = ivr_f32_to_s16(far[i]);
			near16[i] = ivr_f32_to_s16(near[i]);
		}
		for (int suppress = 0; suppress <= 1; suppress++) {
			double tr[REPEATS], tw[REPEATS];
			/* Interleave raw and wrapper runs so load changes hit both alike. */
			for (int k = 0; k < repeats; k++) {
				tr[k] = run_raw(near16, far16, n, rate, suppress);
				tw[k] = run_wrapper(near, far, out, n, rate, suppress);
			}
			const double mr = bench_median(tr, repeats), mw = bench_median(tw, repeats);
			/* Sorted: the fastest run is the one least disturbed by other load. */
			const double br = tr[0], bw = tw[0];
			char name[64];
			snprintf(name, sizeof(name), "aec_%uk_tail128%s", rate / 1000,
				 suppress ? "_suppress" : "_linear");
			bench_row(name, "speexdsp_raw", n, mr / n, 1, rate);
			bench_row(name, "ivr_aec", n, mw / n, 1, rate);
			printf("%s ratio wrapper/raw median %.3f best %.3f%s\n", name, mw / mr,
			       bw / br, bw / br <= 1.10 ? "" : "  (target <= 1.10)");
			if (!(mw > 0 && mr > 0))
				ok = 0;
		}
		for (size_t i = 0; i < n; i++)
			if (!isfinite(out[i]))
				ok = 0;
		free(far);
		free(near);
		free(out);
		free(far16);
		free(near16);
	}
	return ok ? 0 : 1;
}
