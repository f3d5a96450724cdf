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

#include "asr/flow.h"
#include "asr/lint.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-flow lint [--dict DICT] FLOW.yaml\n"
		   "       ivr-flow test FLOW.yaml CASES [--node NODE]\n"
		   "lint: unknown/unreachable nodes, dead ends, missing prompts, menus <= 3 deep\n"
		   "      and <= 5 wide, prompts <= 30 s, key 0 = agent, consistent keys, words\n"
		   "      missing from the pocketsphinx dictionary.  Exit 0 clean, 1 findings,\n"
		   "      2 unreadable.\n"
		   "test: CASES lines are AUDIO|EXPECTED (intent name or '-' for out of domain,\n"
		   "      AUDIO relative to the CASES file); prints accuracy, confusion matrix,\n"
		   "      per-intent recall, false accepts/rejects against the threshold.\n");
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
	usage(stderr);
	return 2;
}
