/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_opus.c - Opus encode/decode/conceal cost per 20 ms frame at
 * 8, 16 and 48 kHz, through dsp/opus_codec against raw libopus with the
 * same settings in the same run (the wrapper's overhead is the ratio).
 *
 * Output, one line per case:
 *   name impl frames ns_per_frame ns_per_sample x_realtime ratio_vs_raw
 * x_realtime = 20 ms / ns_per_frame = channels one core sustains.
 * opus_decode_half_plc: every other packet lost and concealed (PLC);
 * opus_conceal_fec: every frame rebuilt from the FEC data of a packet.
 * Median of REPEATS runs, interleaved across cases.  --smoke: a few
 * frames, checks it works.
 */
#include "config.h"

#include <math.h>
#include <opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "dsp/opus_codec.h"

#define SECONDS	   10
#define REPEATS	   5
#define MAX_FRAMES (SECONDS * 50)

static float in[48000 * SECONDS], out[48000 * SECONDS];
static uint8_t pkts[MAX_FRAMES][IVR_OPUS_MAX_PACKET];
static int plen[MAX_FRAMES];
static volatile float sink;

enum kind { ENC_WRAP, ENC_RAW, DEC_WRAP, DEC_RAW, PLC_WRAP, FEC_WRAP };

/* Raw libopus encoder with the wrapper's settings (opus_codec.c). */
static OpusEncoder *raw_encoder(uint32_t rate)
{
	int err;
	OpusEncoder *e = opus_encoder_create((opus_int32)rate, 1, OPUS_APPLICATION_VOIP, &err);
	if (!e)
		return NULL;
	opus_encoder_ctl(e, OPUS_SET_BITRATE(rate == 8000 ? 20000 : rate == 16000 ? 24000 : 32000));
	opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(5));
	opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(10));
	return e;
}

/* @return ns for @frames frames of @kind, or -1 on error. */
static double run(enum kind k, uint32_t rate, size_t frames)
{
	struct ivr_opus_cfg cfg = { .rate_hz = rate };
	size_t fs = rate / 50;
	struct ivr_opus_enc *we = NULL;
	struct ivr_opus_dec *wd = NULL;
	OpusEncoder *re = NULL;
	OpusDecoder *rd = NULL;
	int err = 0;
	if (k == ENC_WRAP)
		we = ivr_opus_enc_new(&cfg);
	else if (k == ENC_RAW)
		re = raw_encoder(rate);
	else if (k == DEC_RAW)
		rd = opus_decoder_create((opus_int32)rate, 1, &err);
	else
		wd = ivr_opus_dec_new(&cfg);
	if (!we && !re && !rd && !wd)
		return -1;
	double t0 = bench_wall_ns();
	int bad = 0;
	for (size_t f = 0; f < frames; f++) {
		int r = 0;
		switch (k) {
		case ENC_WRAP:
			r = plen[f] =
				ivr_opus_encode(we, in + f * fs, fs, pkts[f], IVR_OPUS_MAX_PACKET);
			break;
		case ENC_RAW:
			r = plen[f] = opus_encode_float(re, in + f * fs, (int)fs, pkts[f],
							IVR_OPUS_MAX_PACKET);
			break;
		case DEC_WRAP:
			r = ivr_opus_decode(wd, pkts[f], (size_t)plen[f], out + f * fs, fs);
			break;
		case DEC_RAW:
			r = opus_decode_float(rd, pkts[f], plen[f], out + f * fs, (int)fs, 0);
			break;
		case PLC_WRAP:
			/* every other packet lost: PLC only costs after real audio */
			if (f & 1)
				r = ivr_opus_decode_lost(wd, NULL, 0, out + f * fs, fs);
			else
				r = ivr_opus_decode(wd, pkts[f], (size_t)plen[f], out + f * fs, fs);
			break;
		case FEC_WRAP:
			r = ivr_opus_decode_lost(wd, pkts[f], (size_t)plen[f], out + f * fs, fs);
			break;
		}
		bad |= r <= 0;
	}
	double t = bench_wall_ns() - t0;
	sink = out[fs * frames / 2];
	ivr_opus_enc_free(we);
	ivr_opus_dec_free(wd);
	if (re)
		opus_encoder_destroy(re);
	if (rd)
		opus_decoder_destroy(rd);
	return bad ? -1 : t;
}

int main(int argc, char **argv)
{
	int smoke = bench_smoke(argc, argv);
	int repeats = smoke ? 1 : REPEATS;
	size_t frames = smoke ? 10 : MAX_FRAMES;
	static const uint32_t rates[] = { 8000, 16000, 48000 };
	static const struct {
		const char *name, *impl;
		enum kind kind, ref;
	} cases[] = {
		{ "opus_encode", "libopus_raw", ENC_RAW, ENC_RAW },
		{ "opus_encode", "ivr_wrapper", ENC_WRAP, ENC_RAW },
		{ "opus_decode", "libopus_raw", DEC_RAW, DEC_RAW },
		{ "opus_decode", "ivr_wrapper", DEC_WRAP, DEC_RAW },
		{ "opus_decode_half_plc", "ivr_wrapper", PLC_WRAP, DEC_RAW },
		{ "opus_conceal_fec", "ivr_wrapper", FEC_WRAP, DEC_RAW },
	};
	printf("# name impl frames ns_per_frame ns_per_sample x_realtime ratio_vs_raw%s\n",
	       smoke ? " (smoke)" : "");
	for (size_t r = 0; r < 3; r++) {
		uint32_t rate = rates[r];
		/* voiced-like test signal: harmonics of a moving pitch plus noise */
		uint32_t s = 9;
		for (size_t i = 0; i < rate * SECONDS; i++) {
			double t = (double)i / rate, f0 = 130 + 20 * sin(2 * M_PI * 0.5 * t), v = 0;
			for (int h = 1; h <= 12; h++)
				v += sin(2 * M_PI * f0 * h * t) / h;
			s = s * 1664525u + 1013904223u;
			in[i] = (float)(0.05 * v * (0.6 + 0.4 * sin(2 * M_PI * 3 * t)) +
					0.005 * ((s >> 8) / 16777216.0 - 0.5));
		}
		double ref_ns[FEC_WRAP + 1] = { 0 };
		/*
		 * Repeats are interleaved across cases (all cases, then again), so
		 * load from other processes hits raw and wrapper alike.
		 */
		enum { N_CASES = sizeof(cases) / sizeof(cases[0]) };
		double t[N_CASES][REPEATS];
		for (int k = 0; k < repeats; k++) {
			for (size_t c = 0; c < N_CASES; c++) {
				/* decoders need packets: the encode cases run first */
				t[c][k] = run(cases[c].kind, rate, frames);
				if (t[c][k] < 0) {
					fprintf(stderr, "bench_opus: %s %s at %u failed\n",
						cases[c].name, cases[c].impl, rate);
					return 1;
				}
			}
		}
		for (size_t c = 0; c < N_CASES; c++)
			ref_ns[cases[c].kind] = bench_median(t[c], repeats) / (double)frames;
		for (size_t c = 0; c < N_CASES; c++) {
			double ns = ref_ns[cases[c].kind], ref = ref_ns[cases[c].ref];
			printf("%s_%uk %s %zu %.0f %.1f %.0f %.2f\n", cases[c].name, rate / 1000,
			       cases[c].impl, frames, ns, ns / (rate / 50), 20e6 / ns, ns / ref);
		}
	}
	return 0;
}
