/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-asr.c - recognise audio files against a flow node's intents
 * (DESIGN.md section 2):
 *   ivr-asr --flow FLOW.yaml [--node NODE] FILE...
 * One JSON object per line per FILE: file, text, intent (null below the
 * node's threshold), confidence, nbest.  The files of one run are treated as
 * one call: the recogniser's CMN estimate stays warm from file to file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr/flow.h"
#if IVR_HAVE_ASR
#include "asr/recognizer.h"
#endif
#include "dsp/wav.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-asr --flow FLOW.yaml [--node NODE] [--no-verify] [--loop]\n"
		   "               [--channel N] FILE...\n"
		   "Recognises each WAV FILE (PCM16, mu-law or A-law; 8 or 16 kHz, other\n"
		   "rates resampled) against NODE's intents (default: the flow's start node)\n"
		   "and prints one JSON object per file:\n"
		   "  {\"file\":..., \"text\":..., \"intent\":... or null, \"confidence\":0..1,\n"
		   "   \"nbest\":[{\"text\":..., \"intent\":..., \"confidence\":...}]}\n"
		   "nbest: up to 5 distinct word strings from the decoder's lattice, the text\n"
		   "first, each with its own intent (not gated by the threshold) and its\n"
		   "posterior times the acoustic confidence (all together <= 1)\n"
		   "--no-verify  skip the phone-loop check that rejects out-of-domain speech\n"
		   "--loop       grammar also accepts any sequence of the node's words\n"
		   "--channel N  recognise channel N (0-based) of multi-channel FILEs, e.g. 0 =\n"
		   "             caller in an engine recording; required for non-mono FILEs\n");
}

#if IVR_HAVE_ASR
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}
#endif

int main(int argc, char **argv)
{
	const char *flow_path = NULL, *node_name = NULL;
	int first_file = 0, verify = 1, loop = 0, channel = IVR_WAV_MONO;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--flow") && i + 1 < argc) {
			flow_path = argv[++i];
		} else if (!strcmp(argv[i], "--node") && i + 1 < argc) {
			node_name = argv[++i];
		} else if (!strcmp(argv[i], "--no-verify")) {
			verify = 0;
		} else if (!strcmp(argv[i], "--loop")) {
			loop = 1;
		} else if (!strcmp(argv[i], "--channel") && i + 1 < argc) {
			channel = ivr_wav_channel_parse(argv[++i]);
			if (channel < 0) {
				fprintf(stderr,
					"ivr-asr: --channel expects a channel number from 0\n");
				return 2;
			}
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "ivr-asr: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else {
			first_file = i;
			break;
		}
	}
	if (!flow_path || !first_file) {
		usage(stderr);
		return 2;
	}
#if !IVR_HAVE_ASR
	(void)node_name;
	(void)verify;
	(void)loop;
	fprintf(stderr, "ivr-asr: built without speech recognition (-Dasr=disabled)\n");
	return 2;
#else
	char err[512];
	struct ivr_flow *f;
	if (ivr_flow_load(&f, flow_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "ivr-asr: %s\n", err);
		return 2;
	}
	int node = node_name ? ivr_flow_find_node(f, node_name) : f->start_node;
	if (node < 0 || !f->nodes[node].n_intents) {
		fprintf(stderr, "ivr-asr: node \"%s\" not found or has no intents\n",
			node_name ? node_name : (f->start ? f->start : "?"));
		ivr_flow_free(f);
		return 2;
	}
	struct ivr_recognizer_cfg cfg = { .phone_lm = verify ? NULL : "",
					  .mode = loop ? IVR_GRAMMAR_LOOP : IVR_GRAMMAR_LM };
	const struct ivr_flow *fl[1] = { f };
	struct ivr_recognizer *rec = ivr_recognizer_new(fl, 1, &cfg, err, sizeof(err));
	if (!rec) {
		fprintf(stderr, "ivr-asr: %s\n", err);
		ivr_flow_free(f);
		return 2;
	}
	int g = ivr_recognizer_grammar(rec, f, (size_t)node);
	struct ivr_asr_cmn cmn = { 0 };
	int status = 0;
	for (int i = first_file; i < argc; i++) {
		struct ivr_audio a;
		if (ivr_wav_read_channel(&a, argv[i], channel, 0, err, sizeof(err)) < 0) {
			fprintf(stderr, "ivr-asr: %s: %s%s\n", argv[i], err,
				channel == IVR_WAV_MONO && strstr(err, "only mono")
					? " (pick one with --channel N)"
					: "");
			status = 2;
			continue;
		}
		if (a.rate_hz != 8000 && a.rate_hz != 16000) {
			ivr_audio_free(&a);
			if (ivr_wav_read_channel(&a, argv[i], channel, 16000, err, sizeof(err)) <
			    0) {
				fprintf(stderr, "ivr-asr: %s: %s\n", argv[i], err);
				status = 2;
				continue;
			}
		}
		struct ivr_asr_result r;
		int rc = ivr_recognizer_decode(rec, g, a.samples, a.n_samples, a.rate_hz, &cmn, &r);
		ivr_audio_free(&a);
		if (rc < 0) {
			fprintf(stderr, "ivr-asr: %s: recognition failed: %s\n", argv[i],
				ivr_strerror(rc));
			status = 2;
			continue;
		}
		const struct ivr_flow_node *nd = &f->nodes[node];
		printf("{\"file\":");
		json_str(argv[i]);
		printf(",\"text\":");
		json_str(r.text);
		printf(",\"intent\":");
		if (r.intent >= 0)
			json_str(r.intent_name);
		else
			printf("null");
		printf(",\"confidence\":%.3f,\"nbest\":[", r.confidence);
		for (size_t k = 0; k < r.n_nbest; k++) {
			printf("%s{\"text\":", k ? "," : "");
			json_str(r.nbest[k].text);
			printf(",\"intent\":");
			if (r.nbest[k].intent >= 0)
				json_str(nd->intents[r.nbest[k].intent].name);
			else
				printf("null");
			printf(",\"confidence\":%.3f}", r.nbest[k].confidence);
		}
		printf("],\"acoustic_confidence\":%.3f,\"speech_ms\":%u,\"decode_ms\":%.1f}\n",
		       r.acoustic_confidence, r.speech_ms, r.decode_us / 1000.0);
		fflush(stdout);
	}
	ivr_recognizer_free(rec);
	ivr_flow_free(f);
	return status;
#endif
}
