/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_grammar.c - JSGF and vocabulary built from a node's intents.
 * The JSGF is checked by sphinxbase's own parser when ASR is built.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr/flow.h"
#include "asr/grammar.h"
#include "ivr_test.h"
#if IVR_HAVE_ASR
#include <sphinxbase/jsgf.h>
#endif

static const char FLOW[] = "flow: g\nstart: m\nnodes:\n"
			   "  m:\n"
			   "    prompt_text: hi\n"
			   "    intents:\n"
			   "      balance: [\"Check my  balance\", \"what is my balance\"]\n"
			   "      agent: agent\n"
			   "    dtmf: {\"0\": agent}\n"
			   "  agent: {type: transfer, prompt_text: t}\n"
			   "  n: {prompt_text: t, dtmf: {\"1\": m}}\n";

IVR_TEST(jsgf_holds_every_phrase)
{
	struct ivr_flow *f;
	char err[256];
	ivr_check_int_eq(ivr_flow_parse(&f, FLOW, strlen(FLOW), NULL, err, sizeof(err)), 0);
	if (!f)
		return IVR_TEST_FAIL;
	for (int mode = IVR_GRAMMAR_PHRASES; mode <= IVR_GRAMMAR_LOOP; mode++) {
		char *j;
		ivr_check_int_eq(ivr_grammar_jsgf(&f->nodes[0], "bank-main!", mode, &j), 0);
		if (!j)
			continue;
		ivr_check(!strncmp(j, "#JSGF V1.0;\ngrammar bank_main_;", 31));
		ivr_check(strstr(j, "( check my balance )") != NULL);
		ivr_check(strstr(j, "( what is my balance )") != NULL);
		ivr_check(strstr(j, "( agent )") != NULL);
		ivr_check(strstr(j, "<pre> = ") != NULL);
		/* "my" may come before any phrase ("i'd like my balance") */
		ivr_check(strstr(j, "[<det>] <phrase>") != NULL);
		ivr_check(strstr(j, "<det> = my;") != NULL);
		ivr_check((strstr(j, "<word> = ") != NULL) == (mode == IVR_GRAMMAR_LOOP));
#if IVR_HAVE_ASR
		/* sphinxbase parses it */
		jsgf_t *g = jsgf_parse_string(j, NULL);
		ivr_check(g != NULL);
		if (g)
			jsgf_grammar_free(g);
#endif
		free(j);
	}
	char *j;
	ivr_check_int_eq(ivr_grammar_jsgf(&f->nodes[2], "n", IVR_GRAMMAR_PHRASES, &j), -EINVAL);
	ivr_check(j == NULL);
	ivr_check_int_eq(ivr_grammar_jsgf(NULL, "n", IVR_GRAMMAR_PHRASES, &j), -EINVAL);
	ivr_flow_free(f);
	return IVR_TEST_RESULT();
}

IVR_TEST(vocabulary_once_each)
{
	struct ivr_flow *f;
	char err[256];
	ivr_check_int_eq(ivr_flow_parse(&f, FLOW, strlen(FLOW), NULL, err, sizeof(err)), 0);
	if (!f)
		return IVR_TEST_FAIL;
	char words[256][IVR_INTENT_WORD_MAX];
	size_t n = 0;
	int added = ivr_grammar_words(&f->nodes[0], words, &n, 256);
	ivr_check(added > 0 && (size_t)added == n);
	int seen_balance = 0, seen_check = 0;
	for (size_t i = 0; i < n; i++) {
		seen_balance += !strcmp(words[i], "balance");
		seen_check += !strcmp(words[i], "check");
		for (size_t k = 0; k < i; k++)
			ivr_check(strcmp(words[i], words[k]) != 0);
	}
	ivr_check(seen_balance == 1 && seen_check == 1);
	/* a second call adds nothing new; a tiny capacity is refused */
	ivr_check_int_eq(ivr_grammar_words(&f->nodes[0], words, &n, 256), 0);
	size_t n2 = 0;
	ivr_check_int_eq(ivr_grammar_words(&f->nodes[0], words, &n2, 3), -ENOSPC);
	/* a node without intents needs no words */
	size_t n3 = 0;
	ivr_check_int_eq(ivr_grammar_words(&f->nodes[2], words, &n3, 256), 0);
	ivr_flow_free(f);
	return IVR_TEST_RESULT();
}

IVR_TEST(carrier_words)
{
	ivr_check(ivr_grammar_is_carrier("please"));
	ivr_check(ivr_grammar_is_carrier("tell"));
	ivr_check(!ivr_grammar_is_carrier("balance"));
	ivr_check(!ivr_grammar_is_carrier(""));
	ivr_check(!ivr_grammar_is_carrier("Please")); /* words are lower case */
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(jsgf_holds_every_phrase);
	ivr_test_run(vocabulary_once_each);
	ivr_test_run(carrier_words);
	return ivr_test_summary();
}
