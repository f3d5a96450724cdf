/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_flow.c - flow YAML parser on arbitrary bytes (grammar
 * authors' files), then what is built from a parsed flow: lint, each intent
 * node's JSGF and classifier, and the classifier on the input as "ASR text".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "asr/flow.h"
#include "asr/grammar.h"
#include "asr/intent.h"
#include "asr/lint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivr_flow *f;
	char err[256];
	if (ivr_flow_parse(&f, (const char *)data, size, "fuzz.yaml", err, sizeof(err)) != 0)
		return 0;
	struct ivr_lint_cfg cfg = { .dict_path = "" }; /* no file reads per input */
	(void)ivr_flow_lint(f, &cfg, NULL, NULL);
	char text[512];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = 0;
	for (size_t i = 0; i < f->n_nodes; i++) {
		if (!f->nodes[i].n_intents)
			continue;
		char *jsgf;
		if (ivr_grammar_jsgf(&f->nodes[i], f->nodes[i].name, IVR_GRAMMAR_LOOP, &jsgf) == 0)
			free(jsgf);
		struct ivr_intent_model *m = ivr_intent_build(&f->nodes[i]);
		struct ivr_intent_result r;
		if (m)
			(void)ivr_intent_classify(m, text, 1.0f, 0.5f, &r);
		ivr_intent_free(m);
	}
	ivr_flow_free(f);
	return 0;
}
