/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_g711.c - G.711 encode/decode speed, ns per sample and
 * channels per core, against the ITU-T G.191 reference loop (the
 * shift-and-count form the test checks bit-exactness against) in the same run.
 *
 * Output, one line per case:
 *   name impl block_samples ns_per_sample x_realtime ratio_vs_ref
 * x_realtime = how many 8 kHz channels one core sustains.  Each figure is
 * the median of REPEATS runs.  --smoke: a few milliseconds per case.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "dsp/g711.h"

#define TOTAL	800000 /* samples per run (100 s of 8 kHz audio) */
#define REPEATS 5

/* dsp/g711.c computes float encodes 4 lanes at a time where SSE2 exists, else uses the table */
#if defined(__SSE2__)
#define F32_ENC_IMPL "sse2"
#else
#define F32_ENC_IMPL "table"
#endif

static int16_t lin[TOTAL], lin_out[TOTAL];
static float flt[TOTAL], flt_out[TOTAL];
static uint8_t codes[TOTAL];
static volatile unsigned sink;

/* ITU-T G.191 ulaw_compress / alaw_compress, per sample (reference). */
static uint8_t ref_ulaw(int16_t x)
{
	short absno = x < 0 ? (short)(((~x) >> 2) + 33) : (short)((x >> 2) + 33);
	if (absno > 0x1FFF)
		absno = 0x1FFF;
	short i = absno >> 6, segno = 1;
	while (i != 0) {
		segno++;
		i >>= 1;
	}
	short high = (short)(0x8 - segno), low = (short)(0xF - ((absno >> segno) & 0xF));
	short v = (short)((high << 4) | low);
	if (x >= 0)
		v |= 0x80;
	return (uint8_t)v;
}

static uint8_t ref_alaw(int16_t x)
{
	short ix = x < 0 ? (short)((~x) >> 4) : (short)(x >> 4);
	if (ix > 15) {
		short iexp = 1;
		while (ix > 16 + 15) {
			ix >>= 1;
			iexp++;
		}
		ix = (short)(ix - 16 + (iexp << 4));
	}
	if (x >= 0)
		ix |= 0x80;
	return (uint8_t)(ix ^ 0x55);
}

enum op {
	ULAW_ENC_S16,
	ALAW_ENC_S16,
	ULAW_DEC_S16,
	ALAW_DEC_S16,
	ULAW_ENC_F32,
	ULAW_DEC_F32,
	REF_ULAW_ENC,
	REF_ALAW_ENC
};

static void run_op(enum op op, size_t block, size_t total)
{
	for (size_t i = 0; i + block <= total; i += block) {
		switch (op) {
		case ULAW_ENC_S16:
			ivr_g711_ulaw_encode_s16(codes + i, lin + i, block);
			break;
		case ALAW_ENC_S16:
			ivr_g711_alaw_encode_s16(codes + i, lin + i, block);
			break;
		case ULAW_DEC_S16:
			ivr_g711_ulaw_decode_s16(lin_out + i, codes + i, block);
			break;
		case ALAW_DEC_S16:
			ivr_g711_alaw_decode_s16(lin_out + i, codes + i, block);
			break;
		case ULAW_ENC_F32:
			ivr_g711_ulaw_encode_f32(codes + i, flt + i, block);
			break;
		case ULAW_DEC_F32:
			ivr_g711_ulaw_decode_f32(flt_out + i, codes + i, block);
			break;
		case REF_ULAW_ENC:
			for (size_t k = 0; k < block; k++)
				codes[i + k] = ref_ulaw(lin[i + k]);
			break;
		case REF_ALAW_ENC:
			for (size_t k = 0; k < block; k++)
				codes[i + k] = ref_alaw(lin[i + k]);
			break;
		}
	}
	sink += codes[total / 2] + (unsigned)lin_out[total / 3] + (unsigned)(flt_out[7] > 0);
}

static double measure(enum op op, size_t block, size_t total, int repeats)
{
	double t[REPEATS];
	size_t n = total / block * block;
	for (int r = 0; r < repeats; r++) {
		double t0 = bench_wall_ns();
		run_op(op, block, total);
		t[r] = (bench_wall_ns() - t0) / (double)n;
	}
	return bench_median(t, repeats);
}

int main(int argc, char **argv)
{
	int smoke = bench_smoke(argc, argv);
	size_t total = smoke ? 16000 : TOTAL;
	int repeats = smoke ? 1 : REPEATS;
	/* Speech-like amplitude distribution: a sum of tones with noise, varying level. */
	uint32_t s = 1;
	for (size_t i = 0; i < TOTAL; i++) {
		s = s * 1664525u + 1013904223u;
		double env = 0.05 + 0.9 * (double)((i / 4000) % 7) / 7.0;
		double v = env * (0.5 * __builtin_sin(i * 0.3) + 0.3 * __builtin_sin(i * 1.7) +
				  0.2 * ((s >> 8) / 16777216.0 - 0.5));
		flt[i] = (float)v;
		lin[i] = ivr_f32_to_s16(flt[i]);
	}
	ivr_g711_ulaw_encode_s16(codes, lin, TOTAL);
	static const size_t blocks[] = { 1, 160, 320, 333 };
	static const struct {
		const char *name, *impl;
		enum op op, ref;
	} cases[] = {
		{ "ulaw_encode_s16", "table", ULAW_ENC_S16, REF_ULAW_ENC },
		{ "alaw_encode_s16", "table", ALAW_ENC_S16, REF_ALAW_ENC },
		{ "ulaw_encode_s16", "g191_ref", REF_ULAW_ENC, REF_ULAW_ENC },
		{ "alaw_encode_s16", "g191_ref", REF_ALAW_ENC, REF_ALAW_ENC },
		{ "ulaw_decode_s16", "table", ULAW_DEC_S16, REF_ULAW_ENC },
		{ "alaw_decode_s16", "table", ALAW_DEC_S16, REF_ALAW_ENC },
		{ "ulaw_encode_f32", F32_ENC_IMPL, ULAW_ENC_F32, REF_ULAW_ENC },
		{ "ulaw_decode_f32", "table", ULAW_DEC_F32, REF_ULAW_ENC },
	};
	printf("# name impl block_samples ns_per_sample x_realtime(8kHz ch/core) "
	       "ratio_vs_g191_encode%s\n",
	       smoke ? " (smoke)" : "");
	for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
		double ref_u = measure(REF_ULAW_ENC, blocks[b], total, repeats);
		double ref_a = measure(REF_ALAW_ENC, blocks[b], total, repeats);
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			double ns = measure(cases[c].op, blocks[b], total, repeats);
			double ref = cases[c].ref == REF_ULAW_ENC ? ref_u : ref_a;
			if (!(ns > 0)) {
				fprintf(stderr, "bench_g711: no time measured\n");
				return 1;
			}
			bench_row_start(cases[c].name, cases[c].impl, blocks[b], ns, 3, 8000);
			printf(" %.2f\n", ns / ref);
		}
	}
	/* Smoke: the table encoder must agree with the reference it is timed against. */
	for (size_t i = 0; i < 65536; i += 7) {
		int16_t x = (int16_t)(i - 32768);
		if (ivr_g711_ulaw_encode(x) != ref_ulaw(x) ||
		    ivr_g711_alaw_encode(x) != ref_alaw(x)) {
			fprintf(stderr, "bench_g711: encoder disagrees with G.191 at %d\n", x);
			return 1;
		}
	}
	return 0;
}
