/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_intent.c - words -> intent classifier: tokenising, example
 * phrases, paraphrases sharing key words, off-topic text, thresholds and the
 * acoustic confidence, bad input.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "asr/flow.h"
#include "asr/grammar.h"
#include "asr/intent.h"
#include "ivr_test.h"

static struct ivr_flow *bank;

static const struct ivr_flow_node *main_node(void)
{
	return &bank->nodes[ivr_flow_find_node(bank, "main")];
}

static int intent_of(const struct ivr_flow_node *n, const char *name)
{
	return ivr_flow_find_intent(n, name);
}

IVR_TEST(tokeniser)
{
	char w[8][IVR_INTENT_WORD_MAX];
	ivr_check_int_eq(ivr_intent_words("  I'd LIKE, to-pay 42 bills!  ' ", w, 8), 5);
	ivr_check(!strcmp(w[0], "i'd") && !strcmp(w[1], "like") && !strcmp(w[2], "to") &&
		  !strcmp(w[3], "pay") && !strcmp(w[4], "bills"));
	ivr_check_int_eq(ivr_intent_words("a b c d e f g h i j", w, 3), 10);
	ivr_check_int_eq(ivr_intent_words(NULL, w, 8), 0);
	ivr_check_int_eq(ivr_intent_words("", w, 8), 0);
	char longw[100];
	memset(longw, 'a', 99);
	longw[99] = 0;
	ivr_check_int_eq(ivr_intent_words(longw, w, 8), 1);
	ivr_check_int_eq(strlen(w[0]), IVR_INTENT_WORD_MAX - 1);
	return IVR_TEST_RESULT();
}

IVR_TEST(phrases_map_to_their_intent)
{
	const struct ivr_flow_node *n = main_node();
	struct ivr_intent_model *m = ivr_intent_build(n);
	ivr_check(m != NULL && ivr_intent_vocab_size(m) > 20);
	for (size_t i = 0; i < n->n_intents; i++)
		for (size_t p = 0; p < n->intents[i].n_phrases; p++) {
			struct ivr_intent_result r;
			ivr_check_int_eq(ivr_intent_classify(m, n->intents[i].phrases[p], 1.0f,
							     n->threshold, &r),
					 0);
			ivr_check_msg(r.intent == (int)i, "\"%s\" -> %d (%.2f), want %zu",
				      n->intents[i].phrases[p], r.intent, r.confidence, i);
		}
	ivr_intent_free(m);
	return IVR_TEST_RESULT();
}

IVR_TEST(paraphrases_and_off_topic)
{
	const struct ivr_flow_node *n = main_node();
	struct ivr_intent_model *m = ivr_intent_build(n);
	struct {
		const char *text;
		const char *intent; /* NULL = rejected */
	} cases[] = {
		{ "i would like to know my balance please", "balance" },
		{ "can i pay my gas bill", "payments" },
		{ "somebody stole my debit card", "cards" },
		{ "put me through to a representative", "agent" },
		{ "what will the weather be like tomorrow", NULL },
		{ "the quick brown fox jumps over the lazy dog", NULL },
		{ "um", NULL },
	};
	for (size_t i = 0; i < IVR_N_ELEMENTS(cases); i++) {
		struct ivr_intent_result r;
		ivr_intent_classify(m, cases[i].text, 1.0f, n->threshold, &r);
		int want = cases[i].intent ? intent_of(n, cases[i].intent) : -1;
		ivr_check_msg(r.intent == want, "\"%s\" -> %d (%.2f), want %d", cases[i].text,
			      r.intent, r.confidence, want);
		ivr_check(r.confidence >= 0 && r.confidence <= 1);
	}
	/* The same words with a weak acoustic confidence fall below the threshold. */
	struct ivr_intent_result strong, weak;
	ivr_intent_classify(m, "check my balance", 1.0f, n->threshold, &strong);
	ivr_intent_classify(m, "check my balance", 0.2f, n->threshold, &weak);
	ivr_check(strong.intent == intent_of(n, "balance"));
	ivr_check(weak.intent == -1 && weak.best == intent_of(n, "balance"));
	ivr_check_near(weak.confidence, strong.confidence * 0.2f, 1e-5);
	/* An ambiguous text ("card" and "agent" words) has a runner-up. */
	struct ivr_intent_result amb;
	ivr_intent_classify(m, "agent for my card", 1.0f, 0.0f, &amb);
	ivr_check(amb.runner_up >= 0 && amb.runner_up != amb.best);
	ivr_check(amb.runner_up_confidence <= amb.confidence + 1e-6f);
	/* Carrier words the node does not know weigh like function words,
	 * an unknown content word like a content word. */
	struct ivr_intent_result carrier, content;
	ivr_intent_classify(m, "hello tell me my balance", 1.0f, 0.0f, &carrier);
	ivr_intent_classify(m, "zebra giraffe my balance", 1.0f, 0.0f, &content);
	ivr_check(carrier.best == intent_of(n, "balance"));
	ivr_check_msg(carrier.confidence > content.confidence + 0.1f, "%.2f vs %.2f",
		      carrier.confidence, content.confidence);
	ivr_intent_free(m);
	return IVR_TEST_RESULT();
}

IVR_TEST(synonyms_stems_and_lone_carriers)
{
	const struct ivr_flow_node *n = main_node();
	struct ivr_intent_model *m = ivr_intent_build(n);
	/* "someone" is in the lexicon's group of "person": it counts like it */
	struct ivr_intent_result syn, unk;
	ivr_intent_classify(m, "can i talk to someone", 1.0f, n->threshold, &syn);
	ivr_intent_classify(m, "can i talk to zebras", 1.0f, n->threshold, &unk);
	ivr_check_msg(syn.intent == intent_of(n, "agent"), "-> %d %.2f", syn.intent,
		      syn.confidence);
	ivr_check_msg(syn.confidence > unk.confidence + 0.1f, "%.2f vs %.2f", syn.confidence,
		      unk.confidence);
	/* "paying" and "bills" share the stems of "pay" and "bill" */
	struct ivr_intent_result st;
	ivr_intent_classify(m, "paying bills", 1.0f, n->threshold, &st);
	ivr_check_msg(st.intent == intent_of(n, "payments"), "-> %d %.2f", st.intent,
		      st.confidence);
#if IVR_HAVE_ASR
	/* Porter2 (libstemmer) joins derived forms the old suffix stripping did not */
	const struct ivr_flow_node *cards = &bank->nodes[ivr_flow_find_node(bank, "cards")];
	struct ivr_intent_model *cm = ivr_intent_build(cards);
	struct ivr_intent_result act;
	ivr_intent_classify(cm, "card activation", 1.0f, cards->threshold, &act);
	ivr_check_msg(act.intent == ivr_flow_find_intent(cards, "activate"), "-> %d %.2f",
		      act.intent, act.confidence);
	ivr_intent_free(cm);
#endif
	/* a lone carrier word, what noise may decode to, is no request */
	struct ivr_intent_result lone;
	ivr_intent_classify(m, "how", 1.0f, n->threshold, &lone);
	ivr_check_msg(lone.intent == -1, "\"how\" -> %d %.2f", lone.intent, lone.confidence);
	ivr_intent_free(m);
	/* ... unless a phrase is that word alone */
	const struct ivr_flow_node *ae = &bank->nodes[ivr_flow_find_node(bank, "anything_else")];
	m = ivr_intent_build(ae);
	struct ivr_intent_result yes;
	ivr_intent_classify(m, "yep", 1.0f, ae->threshold, &yes);
	ivr_check_msg(yes.intent == ivr_flow_find_intent(ae, "yes"), "\"yep\" -> %d", yes.intent);
	ivr_intent_free(m);
	/* the lexicon lookup itself */
	char w[IVR_INTENT_WORD_MAX];
	int g = ivr_grammar_synonym_group("someone", -1);
	ivr_check(g >= 0 && ivr_grammar_synonym(g, 0, w) && !strcmp(w, "agent"));
	ivr_check(ivr_grammar_synonym_group("zebra", -1) == -1);
	ivr_check(!ivr_grammar_synonym(-1, 0, w) && !ivr_grammar_synonym(g, 1000, w));
	return IVR_TEST_RESULT();
}

IVR_TEST(related_words_and_garbage_rate)
{
	const struct ivr_flow_node *n = main_node();
	struct ivr_intent_model *m = ivr_intent_build(n);
	struct ivr_intent_result own, rel, unk;
	ivr_intent_classify(m, "talk to a person", 1.0f, n->threshold, &own);
	ivr_intent_classify(m, "talk to an individual", 1.0f, n->threshold, &rel);
	ivr_intent_classify(m, "talk to a zebra", 1.0f, n->threshold, &unk);
#if IVR_HAVE_ASR
	/* WordNet relates "individual" to "person" (asr/related.h): it counts, below the word */
	ivr_check_msg(rel.intent == intent_of(n, "agent") && rel.garbage == 0.0f, "-> %d %.2f",
		      rel.intent, rel.garbage);
	ivr_check_msg(rel.confidence < own.confidence - 0.05f &&
			      rel.confidence > unk.confidence + 0.05f,
		      "%.2f %.2f %.2f", own.confidence, rel.confidence, unk.confidence);
#endif
	ivr_check_msg(own.garbage == 0.0f && unk.garbage > 0.2f, "%.2f %.2f", own.garbage,
		      unk.garbage);
	/* off-topic words around one menu word: mostly garbage, so no intent */
	struct ivr_intent_result g;
	ivr_intent_classify(m, "married era train agent", 1.0f, n->threshold, &g);
	ivr_check_msg(g.garbage > 0.5f && g.intent == -1, "%.2f -> %d %.2f", g.garbage, g.intent,
		      g.confidence);
	/* common words are not garbage: "something else" is how people talk */
	struct ivr_intent_result c;
	ivr_intent_classify(m, "something else about my balance", 1.0f, n->threshold, &c);
	ivr_check_msg(c.garbage == 0.0f && c.intent == intent_of(n, "balance"), "%.2f -> %d",
		      c.garbage, c.intent);
	ivr_intent_free(m);
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_input)
{
	struct ivr_flow_node empty;
	memset(&empty, 0, sizeof(empty));
	ivr_check(ivr_intent_build(&empty) == NULL && errno == EINVAL);
	ivr_check(ivr_intent_build(NULL) == NULL);
	struct ivr_intent_result r;
	ivr_check_int_eq(ivr_intent_classify(NULL, "x", 1, 0.5f, &r), -EINVAL);
	struct ivr_intent_model *m = ivr_intent_build(main_node());
	ivr_check_int_eq(ivr_intent_classify(m, NULL, 1, 0.5f, &r), 0);
	ivr_check(r.intent == -1 && r.confidence == 0);
	ivr_check_int_eq(ivr_intent_classify(m, "balance", 7.0f, 0.5f, &r), 0);
	ivr_check(r.confidence <= 1.0f);
	ivr_intent_free(m);
	ivr_intent_free(NULL);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	char p[1024], err[512];
	if (ivr_flow_load(&bank, ivr_test_srcpath(p, sizeof(p), "grammars/bank.yaml"), err,
			  sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	ivr_test_run(tokeniser);
	ivr_test_run(phrases_map_to_their_intent);
	ivr_test_run(paraphrases_and_off_topic);
	ivr_test_run(synonyms_stems_and_lone_carriers);
	ivr_test_run(related_words_and_garbage_rate);
	ivr_test_run(bad_input);
	ivr_flow_free(bank);
	return ivr_test_summary();
}
