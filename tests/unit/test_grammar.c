/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_grammar.c - JSGF, trigram model and vocabulary built from a
 * node's intents.  The JSGF and the ARPA text are checked by sphinxbase's own
 * readers when ASR is built; the model's probabilities are checked to sum to 1.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr/flow.h"
#include "asr/grammar.h"
#include "ivr_test.h"
#if IVR_HAVE_ASR
#include <sphinxbase/jsgf.h>
#include <sphinxbase/ngram_model.h>
#include <unistd.h>
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

/* log10 probability of the unigram @w in @arpa, or NAN; its backoff into *@bo. */
static double uni(const char *arpa, const char *w, double *bo)
{
	const char *s = strstr(arpa, "\\1-grams:\n");
	const char *end = strstr(arpa, "\\2-grams:");
	for (s = s ? strchr(s, '\n') + 1 : NULL; s && s < end; s = strchr(s, '\n') + 1) {
		double p, b;
		char word[64];
		if (sscanf(s, "%lf %63s %lf", &p, word, &b) == 3 && !strcmp(word, w)) {
			*bo = b;
			return p;
		}
	}
	return NAN;
}

IVR_TEST(arpa_is_a_proper_model)
{
	struct ivr_flow *f;
	char err[256];
	ivr_check_int_eq(ivr_flow_parse(&f, FLOW, strlen(FLOW), NULL, err, sizeof(err)), 0);
	if (!f)
		return IVR_TEST_FAIL;
	char *a = NULL;
	ivr_check_int_eq(ivr_grammar_arpa(&f->nodes[0], &a), 0);
	if (!a) {
		ivr_flow_free(f);
		return IVR_TEST_FAIL;
	}
	/* the header's counts match the sections */
	size_t hdr[3] = { 0 }, got[3] = { 0 };
	ivr_check(sscanf(strstr(a, "ngram 1="), "ngram 1=%zu ngram 2=%zu ngram 3=%zu", &hdr[0],
			 &hdr[1], &hdr[2]) == 3);
	int sec = -1;
	double sum1 = 0;
	for (const char *s = a; *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : s + strlen(s)) {
		if (!strncmp(s, "\\1-grams:", 9) || !strncmp(s, "\\2-grams:", 9) ||
		    !strncmp(s, "\\3-grams:", 9)) {
			sec = s[1] - '1';
			continue;
		}
		if (sec < 0 || *s == '\n' || *s == '\\')
			continue;
		got[sec]++;
		double p;
		char w1[64];
		if (sec == 0 && sscanf(s, "%lf %63s", &p, w1) == 2 && strcmp(w1, "<s>"))
			sum1 += pow(10, p);
	}
	for (int k = 0; k < 3; k++)
		ivr_check_msg(hdr[k] == got[k] && got[k] > 0, "%d-grams %zu vs %zu", k + 1, hdr[k],
			      got[k]);
	ivr_check_near(sum1, 1.0, 0.01);
	/* every phrase word, a synonym ("representative" for "agent") and a
	 * background word are in the vocabulary */
	double bo;
	ivr_check(!isnan(uni(a, "balance", &bo)) && !isnan(uni(a, "representative", &bo)) &&
		  !isnan(uni(a, "where", &bo)));
	ivr_check(isnan(uni(a, "zebra", &bo)));
	/* after <s>: seen bigrams + backoff * unseen unigrams = 1 */
	double bo_s;
	ivr_check(!isnan(uni(a, "<s>", &bo_s)));
	double seen = 0, seen_uni = 0;
	const char *s2 = strstr(a, "\\2-grams:"), *e2 = strstr(a, "\\3-grams:");
	for (const char *s = strchr(s2, '\n') + 1; s < e2; s = strchr(s, '\n') + 1) {
		double p, b;
		char w1[64], w2[64];
		if (sscanf(s, "%lf %63s %63s %lf", &p, w1, w2, &b) == 4 && !strcmp(w1, "<s>")) {
			seen += pow(10, p);
			seen_uni += pow(10, uni(a, w2, &b));
		}
	}
	ivr_check_near(seen + pow(10, bo_s) * (sum1 - seen_uni), 1.0, 0.01);
#if IVR_HAVE_ASR
	char path[] = "/tmp/test_grammar_XXXXXX";
	int fd = mkstemp(path);
	ivr_check(fd >= 0 && write(fd, a, strlen(a)) == (ssize_t)strlen(a));
	if (fd >= 0)
		close(fd);
	logmath_t *lm = logmath_init(1.0001, 0, 0);
	ngram_model_t *ng = ngram_model_read(NULL, path, NGRAM_ARPA, lm);
	ivr_check_msg(ng != NULL, "sphinxbase rejected the ARPA model");
	if (ng)
		ngram_model_free(ng);
	logmath_free(lm);
	unlink(path);
#endif
	free(a);
	/* a node without intents has no model */
	ivr_check_int_eq(ivr_grammar_arpa(&f->nodes[2], &a), -EINVAL);
	ivr_check(a == NULL);
	ivr_check_int_eq(ivr_grammar_arpa(NULL, &a), -EINVAL);
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
	static char words[8192][IVR_INTENT_WORD_MAX];
	size_t n = 0;
	int added = ivr_grammar_words(&f->nodes[0], words, &n, 8192);
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
	ivr_check_int_eq(ivr_grammar_words(&f->nodes[0], words, &n, 8192), 0);
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

IVR_TEST(general_word_rank)
{
	/* asr/wordlist.h is most frequent first: "the" leads, rarer words come later */
	ivr_check_int_eq(ivr_grammar_general_rank("the"), 0);
	int money = ivr_grammar_general_rank("money");
	ivr_check(money > 0 && money > ivr_grammar_general_rank("you"));
	ivr_check_int_eq(ivr_grammar_general_rank("zzzqx"), -1);
	ivr_check_int_eq(ivr_grammar_general_rank(""), -1);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(jsgf_holds_every_phrase);
	ivr_test_run(arpa_is_a_proper_model);
	ivr_test_run(vocabulary_once_each);
	ivr_test_run(carrier_words);
	ivr_test_run(general_word_rank);
	return ivr_test_summary();
}
