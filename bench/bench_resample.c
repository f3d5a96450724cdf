/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_resample.c - hot-path resampler cost: speexdsp (through
 * struct ivr_resampler, qualities 3/4/5) against libsamplerate's streaming
 * API (sinc fastest/medium/best) on the same audio in the same run, fed in
 * 20 ms frames as the media thread does.
 *
 * Output, one line per case:
 *   name impl frames ns_per_frame ns_per_in_sample x_realtime ratio_vs_speex_q4
 * x_realtime = 20 ms / ns_per_frame = streams one core converts in real
 * time.  Figures are the median of REPEATS runs, interleaved across
 * implementations.  --smoke: tiny runs.
 */
#include "config.h"

#include <math.h>
#include <samplerate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "dsp/resample.h"

#define SECONDS 10
#define REPEATS 5
#define MAX_IN	(48000 * SECONDS)

static float in[MAX_IN], out[6 * MAX_IN];
static volatile float sink;

/* @return ns for @frames frames through speexdsp at @q, or -1. */
static double run_speex(uint32_t ir, uint32_t orate, int q, size_t frames)
{
	struct ivr_resampler_cfg cfg = { ir, orate, q };
	struct ivr_resampler *rs = ivr_resampler_new(&cfg);
	if (!rs)
		return -1;
	size_t fi = ir / 50, o = 0;
	double t0 = bench_wall_ns();
	for (size_t f = 0; f < frames; f++) {
		int r = ivr_resampler_process(rs, in + f * fi, fi, out + o, 6 * MAX_IN - o);
		if (r < 0) {
			ivr_resampler_free(rs);
			return -1;
		}
		o += (size_t)r;
	}
	double t = bench_wall_ns() - t0;
	sink = out[o / 2];
	ivr_resampler_free(rs);
	return t;
}

static double run_src(uint32_t ir, uint32_t orate, int type, size_t frames)
{
	int err = 0;
	SRC_STATE *st = src_new(type, 1, &err);
	if (!st)
		return -1;
	size_t fi = ir / 50, o = 0;
	double ratio = (double)orate / ir;
	double t0 = bench_wall_ns();
	for (size_t f = 0; f < frames; f++) {
		SRC_DATA d = {
			.data_in = in + f * fi,
			.data_out = out + o,
			.input_frames = (long)fi,
			.output_frames = (long)(6 * MAX_IN - o),
			.src_ratio = ratio,
		};
		if (src_process(st, &d) != 0 || d.input_frames_used != (long)fi) {
			src_delete(st);
			return -1;
		}
		o += (size_t)d.output_frames_gen;
	}
	double t = bench_wall_ns() - t0;
	sink = out[o / 2];
	src_delete(st);
	return t;
}

int main(int argc, char **argv)
{
	int smoke = bench_smoke(argc, argv);
	int repeats = smoke ? 1 : REPEATS;
	size_t seconds = smoke ? 0 : SECONDS; /* smoke: 10 frames */
	static const uint32_t pairs[][2] = { { 8000, 16000 }, { 16000, 8000 },	{ 8000, 48000 },
					     { 48000, 8000 }, { 16000, 48000 }, { 48000, 16000 } };
	static const struct {
		const char *impl;
		int speex_q, src_type;
	} impls[] = {
		{ "speexdsp_q4", 4, -1 },
		{ "speexdsp_q3", 3, -1 },
		{ "speexdsp_q5", 5, -1 },
		{ "src_sinc_fastest", -1, SRC_SINC_FASTEST },
		{ "src_sinc_medium", -1, SRC_SINC_MEDIUM_QUALITY },
		{ "src_sinc_best", -1, SRC_SINC_BEST_QUALITY },
	};
	uint32_t s = 3;
	for (size_t i = 0; i < MAX_IN; i++) {
		s = s * 1664525u + 1013904223u;
		in[i] = (float)(0.3 * sin(i * 0.05) + 0.2 * sin(i * 0.37) +
				0.1 * ((s >> 8) / 16777216.0 - 0.5));
	}
	printf("# name impl frames ns_per_frame ns_per_in_sample x_realtime ratio_vs_speex_q4%s\n",
	       smoke ? " (smoke)" : "");
	for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		uint32_t ir = pairs[p][0], orate = pairs[p][1];
		size_t frames = smoke ? 10 : seconds * 50;
		char name[32];
		snprintf(name, sizeof(name), "resample_%uk_to_%uk", ir / 1000, orate / 1000);
		/* Repeats interleaved across implementations: load hits all alike. */
		enum { N_IMPL = sizeof(impls) / sizeof(impls[0]) };
		double t[N_IMPL][REPEATS];
		size_t fr[N_IMPL];
		for (int r = 0; r < repeats; r++) {
			for (size_t k = 0; k < N_IMPL; k++) {
				/* best-quality sinc is ~100x slower: fewer frames keep it short */
				fr[k] = impls[k].src_type == SRC_SINC_BEST_QUALITY && !smoke
						? frames / 10
						: frames;
				t[k][r] = impls[k].speex_q >= 0
						  ? run_speex(ir, orate, impls[k].speex_q, fr[k])
						  : run_src(ir, orate, impls[k].src_type, fr[k]);
				if (t[k][r] < 0) {
					fprintf(stderr, "bench_resample: %s %s failed\n", name,
						impls[k].impl);
					return 1;
				}
			}
		}
		double ref = 0;
		for (size_t k = 0; k < N_IMPL; k++) {
			double ns_frame = bench_median(t[k], repeats) / (double)fr[k];
			if (k == 0)
				ref = ns_frame;
			printf("%s %s %zu %.0f %.2f %.0f %.2f\n", name, impls[k].impl, fr[k],
			       ns_frame, ns_frame / (ir / 50), 20e6 / ns_frame, ns_frame / ref);
		}
	}
	return 0;
}
