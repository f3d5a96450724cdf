/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-demo.c - the README's demo: the demo IVR answering recorded calls
 * and printing, as JSON lines, what the router receives.
 *
 * It grows with the engine: today it runs the furthest part that exists,
 * the G.711 decode of each recorded call and its level, and says so.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dsp/g711.h"
#include "dsp/wav.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-demo [CALL.wav...]\n"
		   "Runs the demo IVR on recorded calls (default: the built-in demo calls)\n"
		   "and prints what the router receives, one JSON object per line.\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (argv[i][0] == '-') {
			usage(stderr);
			return 2;
		}
	}
	int n_files = argc - 1;
	if (n_files == 0) {
		fprintf(stderr, "ivr-demo: no built-in demo calls yet (engine pending)\n");
		return 0;
	}
	int status = 0;
	for (int i = 1; i < argc; i++) {
		struct ivr_audio a;
		char err[256];
		if (ivr_wav_read(&a, argv[i], 8000, err, sizeof(err)) < 0) {
			fprintf(stderr, "ivr-demo: %s\n", err);
			status = 2;
			continue;
		}
		double acc = 0;
		for (size_t k = 0; k < a.n_samples; k++)
			acc += (double)a.samples[k] * a.samples[k];
		double rms = a.n_samples ? sqrt(acc / a.n_samples) * 32768.0 : 0;
		printf("{\"call_id\":%d,\"type\":\"call_start\",\"file\":\"%s\"}\n", i, argv[i]);
		printf("{\"call_id\":%d,\"type\":\"call_end\",\"cause\":\"eof\",\"duration_ms\":%zu,"
		       "\"level_dbm0\":%.1f}\n",
		       i, a.n_samples / 8, rms > 0 ? 20 * log10(rms / IVR_DBM0_RMS_S16) : -99.0);
		ivr_audio_free(&a);
	}
	return status;
}
