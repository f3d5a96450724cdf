/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_lint.c - every lint rule fires on a flow that breaks it, at
 * the right line, and stays quiet on the demo flows.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asr/flow.h"
#include "asr/lint.h"
#include "dsp/wav.h"
#include "ivr_test.h"

#ifndef IVR_PS_MODELDIR
#define IVR_PS_MODELDIR "/usr/share/pocketsphinx/model"
#endif
#define DICT IVR_PS_MODELDIR "/en-us/cmudict-en-us.dict"

struct findings {
	int n;
	uint32_t line[64];
	char msg[64][512];
};

static void collect(void *ctx, uint32_t line, const char *msg)
{
	struct findings *f = ctx;
	if (f->n < 64) {
		f->line[f->n] = line;
		snprintf(f->msg[f->n], sizeof(f->msg[0]), "%s", msg);
	}
	f->n++;
}

/* @return 1 if a finding at @line contains @what. */
static int has(const struct findings *f, uint32_t line, const char *what)
{
	for (int i = 0; i < f->n && i < 64; i++)
		if (f->line[i] == line && strstr(f->msg[i], what))
			return 1;
	fprintf(stderr, "  missing finding %u: %s; got:\n", line, what);
	for (int i = 0; i < f->n && i < 64; i++)
		fprintf(stderr, "    %u: %s\n", f->line[i], f->msg[i]);
	return 0;
}

static int lint_text(const char *yaml, const char *path, const char *dict, struct findings *out)
{
	struct ivr_flow *f;
	char err[512];
	memset(out, 0, sizeof(*out));
	if (ivr_flow_parse(&f, yaml, strlen(yaml), path, err, sizeof(err)) < 0) {
		fprintf(stderr, "  parse: %s\n", err);
		return -1;
	}
	struct ivr_lint_cfg cfg = { .dict_path = dict };
	int n = ivr_flow_lint(f, &cfg, collect, out);
	ivr_flow_free(f);
	return n;
}

IVR_TEST(structure_rules)
{
	const char *y = "flow: x\n"							 /* 1 */
			"start: main\n"							 /* 2 */
			"nodes:\n"							 /* 3 */
			"  main:\n"							 /* 4 */
			"    prompt_text: hello\n"					 /* 5 */
			"    dtmf: {\"1\": a, \"2\": nowhere, \"0\": agent}\n"		 /* 6 */
			"    intents: {a: [yes], lost: [no]}\n"				 /* 7 */
			"    next: {a: a, b: ghost}\n"					 /* 8 */
			"  a:\n"							 /* 9 */
			"    prompt_text: empty menu\n"					 /* 10 */
			"  orphan: {type: answer, prompt_text: t, goto: gone}\n"	 /* 11 */
			"  agent: {type: transfer, prompt_text: t, dtmf: {\"1\": a}}\n"; /* 12 */
	struct findings f;
	int n = lint_text(y, "s.yaml", "", &f);
	ivr_check(n == f.n && n >= 7);
	ivr_check(has(&f, 6, "key 2 -> \"nowhere\""));
	ivr_check(has(&f, 7, "intent \"lost\" leads nowhere"));
	ivr_check(has(&f, 8, "unknown node \"ghost\""));
	ivr_check(has(&f, 9, "offers no options (dead end)"));
	ivr_check(has(&f, 11, "\"orphan\" is unreachable"));
	ivr_check(has(&f, 11, "goto unknown node \"gone\""));
	ivr_check(has(&f, 12, "ends the call"));
	ivr_check(has(&f, 9, "key 0 does not reach an agent"));
	return IVR_TEST_RESULT();
}

IVR_TEST(contact_centre_rules)
{
	/* 80 words at 2.5 words/s: 32 s */
	char words[1024] = "", y[4096];
	for (int i = 0; i < 80; i++)
		strcat(words, "word ");
	const char *fmt =
		"flow: x\nstart: l1\nagent: op\n"				    /* 1-3 */
		"nodes:\n"							    /* 4 */
		"  l1: {prompt_text: t, dtmf: {\"1\": l2, \"9\": l1, \"0\": op}}\n" /* 5 */
		"  l2: {prompt_text: t, dtmf: {\"1\": l3, \"9\": x1, \"0\": op}}\n" /* 6 */
		"  l3: {prompt_text: t, dtmf: {\"1\": l4, \"0\": op, \"*\": l1}}\n" /* 7 */
		"  l4: {prompt_text: t, dtmf: {\"1\": x1, \"2\": x2, \"3\": x3, \"4\": x4, "
		"\"5\": x5, \"6\": x6, \"0\": op}}\n"	 /* 8 */
		"  x1: {type: hangup, prompt_text: t}\n" /* 9 */
		"  x2: {type: hangup, prompt_text: t}\n" /* 10 */
		"  x3: {type: hangup, prompt_text: t}\n" /* 11 */
		"  x4: {type: hangup, prompt_text: t}\n" /* 12 */
		"  x5: {type: hangup, prompt_text: t}\n" /* 13 */
		"  x6:\n"				 /* 14 */
		"    type: hangup\n"			 /* 15 */
		"    prompt_text: %s\n"			 /* 16 */
		"  op: {type: transfer, prompt_text: t}\n";
	snprintf(y, sizeof(y), fmt, words);
	struct findings f;
	int n = lint_text(y, "c.yaml", "", &f);
	ivr_check(n == f.n);
	ivr_check(has(&f, 8, "menu \"l4\" is 4 levels deep (at most 3)"));
	ivr_check(has(&f, 8, "offers 6 options (at most 5)"));
	ivr_check(has(&f, 7, "key * is reserved"));
	ivr_check(has(&f, 6, "key 9 leads to \"x1\" but means \"l1\" elsewhere"));
	ivr_check(has(&f, 14, "would last about 32 s"));
	ivr_check_near(ivr_lint_text_seconds("one two three four five"), 2.0, 1e-6);
	return IVR_TEST_RESULT();
}

IVR_TEST(prompt_files_and_dictionary)
{
	char dir[] = "/tmp/ivr_lint_XXXXXX";
	if (!mkdtemp(dir))
		return IVR_TEST_FAIL;
	char wav[256], yaml[2048], path[256];
	snprintf(wav, sizeof(wav), "%s/long.wav", dir);
	size_t n = 8000 * 31;
	float *x = calloc(n, sizeof(float));
	ivr_check_int_eq(ivr_wav_write(wav, x, n, 8000, IVR_WAV_ULAW), 0);
	free(x);
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	snprintf(yaml, sizeof(yaml),
		 "flow: x\nstart: m\n"						     /* 1-2 */
		 "nodes:\n"							     /* 3 */
		 "  m:\n"							     /* 4 */
		 "    prompt: long.wav\n"					     /* 5 */
		 "    dtmf: {\"0\": agent}\n"					     /* 6 */
		 "    intents: {agent: [\"speak to an agentt\", \"xyzzy plugh\"]}\n" /* 7 */
		 "  agent: {type: transfer, prompt: missing.wav}\n");		     /* 8 */
	struct findings f;
	int r = lint_text(yaml, path, access(DICT, R_OK) == 0 ? NULL : "", &f);
	ivr_check(r == f.n);
	ivr_check(has(&f, 5, "prompt lasts 31.0 s"));
	ivr_check(has(&f, 8, "missing.wav not found"));
	if (access(DICT, R_OK) == 0) {
		ivr_check(has(&f, 7, "word \"agentt\" is not in the pocketsphinx dictionary"));
		ivr_check(has(&f, 7, "word \"xyzzy\""));
		ivr_check(has(&f, 7, "word \"plugh\""));
		ivr_check_int_eq(r, 5);
	}
	/* An explicit but unreadable dictionary is said, not silently skipped. */
	r = lint_text(yaml, path, "/nonexistent.dict", &f);
	ivr_check(has(&f, 0, "cannot read dictionary /nonexistent.dict"));
	unlink(wav);
	rmdir(dir);
	return IVR_TEST_RESULT();
}

IVR_TEST(demo_flows_are_clean)
{
	const char *demos[] = { "grammars/bank.yaml", "grammars/hotline.yaml" };
	for (size_t i = 0; i < 2; i++) {
		char p[512], err[512];
		struct ivr_flow *f;
		if (ivr_flow_load(&f, ivr_test_srcpath(p, sizeof(p), demos[i]), err, sizeof(err))) {
			ivr_check_msg(0, "%s", err);
			continue;
		}
		struct findings fd = { 0 };
		int n = ivr_flow_lint(f, NULL, collect, &fd);
		ivr_check_msg(n == 0, "%s: %d findings, first: %s", demos[i], n, fd.msg[0]);
		ivr_flow_free(f);
	}
	ivr_check_int_eq(ivr_flow_lint(NULL, NULL, NULL, NULL), -EINVAL);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(structure_rules);
	ivr_test_run(contact_centre_rules);
	ivr_test_run(prompt_files_and_dictionary);
	ivr_test_run(demo_flows_are_clean);
	return ivr_test_summary();
}
