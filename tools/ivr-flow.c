/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-flow.c - the grammar author's tool (DESIGN.md sections 2 and 4).
 *
 *   ivr-flow lint FLOW.yaml          structure and contact-centre rules
 *   ivr-flow test FLOW.yaml CASES    replay audio cases through the recogniser
 *
 * lint prints FILE:LINE: message per finding; exit 0 clean, 1 findings,
 * 2 unreadable or invalid file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "asr/flow.h"
#include "asr/lint.h"
#if IVR_HAVE_ASR
#include "asr/recognizer.h"
#include "asr/testset.h"
#include "dsp/wav.h"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-flow lint [--dict DICT] FLOW.yaml\n"
		   "       ivr-flow test [--voices slt,rms] [--cache DIR] [-v] [--loop|--phrases] "
		   "[--no-verify]\n"
		   "                     [--verify-always] [--text]\n"
		   "                     FLOW.yaml CASES\n"
		   "       ivr-flow prompts [--voice slt] FLOW.yaml DIR\n"
		   "lint: unknown/unreachable nodes, dead ends, missing prompts, menus <= 3 deep\n"
		   "      and <= 5 wide, prompts <= 30 s, key 0 = agent, consistent keys, words\n"
		   "      missing from the pocketsphinx dictionary.  Exit 0 clean, 1 findings,\n"
		   "      2 unreadable.\n"
		   "test: CASES lines are NODE|TEXT|EXPECTED (EXPECTED an intent, or - for out\n"
		   "      of domain); TEXT is a .wav recording (relative to CASES) or words that\n"
		   "      are rendered once per voice (flite slt/rms/awb/kal, espeak) to 8 kHz\n"
		   "      mu-law and cached.  Prints accuracy, confusion matrix, per-intent\n"
		   "      recall, false accepts/rejects against the threshold.  Exit 0 ran,\n"
		   "      2 bad input or no recogniser.  Each node is searched with a trigram\n"
		   "      model built from its phrases; --phrases uses the strict JSGF of the\n"
		   "      phrases instead, --loop a JSGF that also takes any word sequence.\n"
		   "      --text classifies each case's own words, no audio (the classifier's\n"
		   "      share of the errors).\n"
		   "prompts: render every prompt_text (and reprompt/no-match/no-input texts) to\n"
		   "      DIR/NODE[.kind].wav, 8 kHz mu-law, with flite (or --voice espeak).\n");
}

static void print_finding(void *ctx, uint32_t line, const char *msg)
{
	const char *path = ctx;
	if (line)
		printf("%s:%u: %s\n", path, line, msg);
	else
		printf("%s: %s\n", path, msg);
}

static int cmd_lint(int argc, char **argv)
{
	struct ivr_lint_cfg cfg = { 0 };
	const char *path = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--dict") && i + 1 < argc)
			cfg.dict_path = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1]) {
			usage(stderr);
			return 2;
		} else if (!path)
			path = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	struct ivr_flow *f;
	char err[512];
	if (ivr_flow_load(&f, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "ivr-flow: %s\n", err);
		return 2;
	}
	int n = ivr_flow_lint(f, &cfg, print_finding, (void *)path);
	ivr_flow_free(f);
	if (n < 0) {
		fprintf(stderr, "ivr-flow: lint failed: %s\n", ivr_strerror(n));
		return 2;
	}
	if (n > 0)
		fprintf(stderr, "%s: %d finding%s\n", path, n, n == 1 ? "" : "s");
	return n > 0 ? 1 : 0;
}

#if IVR_HAVE_ASR
/* Render one text to DIR/NAME.wav (8 kHz mu-law) via the TTS cache. @return seconds or < 0. */
static double render_to(const char *text, const char *voice, const char *dir, const char *name)
{
	char cached[4096], out[4096], err[256], cache[4096];
	snprintf(cache, sizeof(cache), "%s/.tts-cache", dir);
	if (ivr_testset_render(text, voice, cache, cached, sizeof(cached)) < 0)
		return -1;
	struct ivr_audio a;
	if (ivr_wav_read(&a, cached, 8000, err, sizeof(err)) < 0)
		return -1;
	snprintf(out, sizeof(out), "%s/%s.wav", dir, name);
	int rc = ivr_wav_write(out, a.samples, a.n_samples, 8000, IVR_WAV_ULAW);
	double s = a.n_samples / 8000.0;
	ivr_audio_free(&a);
	return rc < 0 ? -1 : s;
}

static int cmd_prompts(int argc, char **argv)
{
	const char *voice = "slt", *paths[2] = { 0 };
	int np = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--voice") && i + 1 < argc)
			voice = argv[++i];
		else if (argv[i][0] != '-' && np < 2)
			paths[np++] = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (np != 2) {
		usage(stderr);
		return 2;
	}
	struct ivr_flow *f;
	char err[512];
	if (ivr_flow_load(&f, paths[0], err, sizeof(err)) < 0) {
		fprintf(stderr, "ivr-flow: %s\n", err);
		return 2;
	}
	mkdir(paths[1], 0777);
	int rc = 0;
	for (size_t i = 0; i < f->n_nodes && rc == 0; i++) {
		const struct ivr_flow_node *n = &f->nodes[i];
		const char *texts[] = { n->prompt_text, n->reprompt_text, n->no_match_text,
					n->no_input_text };
		const char *suffix[] = { "", ".reprompt", ".no_match", ".no_input" };
		for (int k = 0; k < 4; k++) {
			if (!texts[k])
				continue;
			char name[256];
			snprintf(name, sizeof(name), "%s%s", n->name, suffix[k]);
			double s = render_to(texts[k], voice, paths[1], name);
			if (s < 0) {
				fprintf(stderr,
					"ivr-flow: cannot render %s (flite or espeak-ng "
					"missing?)\n",
					name);
				rc = 2;
				break;
			}
			printf("%s/%s.wav %.1f s%s\n", paths[1], name, s,
			       s > 30 ? " (over 30 s)" : "");
		}
	}
	/* The runtime's default failure prompts. */
	if (rc == 0 && (render_to("Sorry, I did not get that.", voice, paths[1], "_no_match") < 0 ||
			render_to("Sorry, I did not hear you.", voice, paths[1], "_no_input") < 0))
		rc = 2;
	ivr_flow_free(f);
	return rc;
}

static int cmd_test(int argc, char **argv)
{
	const char *paths[2] = { 0 }, *cache = NULL;
	char voices_buf[256] = "slt,rms";
	int verbose = 0, np = 0, loop = 0, verify = 1, verify_always = 0, text = 0;
	float snr_db = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--voices") && i + 1 < argc)
			snprintf(voices_buf, sizeof(voices_buf), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
			cache = argv[++i];
		else if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "--loop"))
			loop = 1;
		else if (!strcmp(argv[i], "--phrases"))
			loop = 2;
		else if (!strcmp(argv[i], "--no-verify"))
			verify = 0;
		else if (!strcmp(argv[i], "--verify-always"))
			verify_always = 1;
		else if (!strcmp(argv[i], "--text"))
			text = 1;
		else if (!strcmp(argv[i], "--snr") && i + 1 < argc)
			snr_db = strtof(argv[++i], NULL);
		else if (argv[i][0] != '-' && np < 2)
			paths[np++] = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (np != 2) {
		usage(stderr);
		return 2;
	}
	const char *voices[8];
	size_t nv = 0;
	for (char *t = strtok(voices_buf, ","); t && nv < 8; t = strtok(NULL, ","))
		voices[nv++] = t;
	char cache_buf[4096];
	if (!cache) {
		snprintf(cache_buf, sizeof(cache_buf), "%s/ivr-tts-cache",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		cache = cache_buf;
	}
	struct ivr_flow *f;
	char err[512];
	if (ivr_flow_load(&f, paths[0], err, sizeof(err)) < 0) {
		fprintf(stderr, "ivr-flow: %s\n", err);
		return 2;
	}
	struct ivr_testcase *cases;
	size_t n;
	if (ivr_testset_load(paths[1], f, &cases, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "ivr-flow: %s\n", err);
		ivr_flow_free(f);
		return 2;
	}
	if (text) {
		/* The classifier alone on each case's own words: no recogniser, no audio. */
		struct ivr_testset_outcome *o;
		int k = ivr_testset_classify_text(f, cases, n, verbose ? stdout : NULL, &o);
		if (k >= 0) {
			printf("flow %s, cases %s, text only (classifier, no audio)\n", f->name,
			       paths[1]);
			ivr_testset_print(stdout, f, o, (size_t)k);
			free(o);
		} else {
			fprintf(stderr, "ivr-flow: %s\n", ivr_strerror(k));
		}
		free(cases);
		ivr_flow_free(f);
		return k < 0 ? 2 : 0;
	}
	const struct ivr_flow *fl[1] = { f };
	struct ivr_recognizer_cfg rcfg = { .mode = loop == 2 ? IVR_GRAMMAR_PHRASES
						   : loop    ? IVR_GRAMMAR_LOOP
							     : IVR_GRAMMAR_LM,
					   .phone_lm = verify ? NULL : "",
					   .verify_always = verify_always };
	struct ivr_recognizer *rec = ivr_recognizer_new(fl, 1, &rcfg, err, sizeof(err));
	if (!rec) {
		fprintf(stderr, "ivr-flow: %s\n", err);
		free(cases);
		ivr_flow_free(f);
		return 2;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", paths[1]);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof(dir), ".");
	struct ivr_testset_outcome *o;
	struct ivr_testset_opts opts = { voices, nv, cache, dir, snr_db, verbose ? stdout : NULL };
	int k = ivr_testset_run(rec, f, cases, n, &opts, &o);
	int rc = 0;
	if (k < 0) {
		fprintf(stderr, "ivr-flow: replay failed: %s%s\n", ivr_strerror(k),
			k == -ENOENT ? " (flite or espeak-ng missing?)" : "");
		rc = 2;
	} else {
		printf("flow %s, cases %s, voices", f->name, paths[1]);
		for (size_t v = 0; v < nv; v++)
			printf(" %s", voices[v]);
		printf("\n");
		ivr_testset_print(stdout, f, o, (size_t)k);
		free(o);
	}
	ivr_recognizer_free(rec);
	free(cases);
	ivr_flow_free(f);
	return rc;
}
#endif

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "lint"))
		return cmd_lint(argc - 2, argv + 2);
#if IVR_HAVE_ASR
	if (!strcmp(argv[1], "test"))
		return cmd_test(argc - 2, argv + 2);
	if (!strcmp(argv[1], "prompts"))
		return cmd_prompts(argc - 2, argv + 2);
#else
	if (!strcmp(argv[1], "test") || !strcmp(argv[1], "prompts")) {
		fprintf(stderr, "ivr-flow: built without speech recognition (-Dasr=disabled)\n");
		return 2;
	}
#endif
	usage(stderr);
	return 2;
}
