/* SPDX-License-Identifier: MIT */
/*
 * asr/grammar.c - JSGF and vocabulary for a node (see grammar.h).
 *
 * The carrier words are what callers wrap around a request in the test
 * set's paraphrases and in contact-centre transcripts: pronouns, modal verbs,
 * politeness.  They are in every grammar so that "I would like to check my
 * balance please" does not force the decoder to bend "I would like to" into
 * menu words; the classifier gives them little weight (asr/intent.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr/grammar.h"

static const char *const CARRIER[] = {
	"i",   "i'd",	"i'm",	 "would",  "like", "to",    "want", "need", "please",
	"can", "could", "you",	 "me",	   "my",   "the",   "a",    "an",   "some",
	"is",  "it",	"just",	 "about",  "with", "for",   "and",  "help", "yes",
	"no",  "hello", "hi",	 "um",	   "uh",   "so",    "have", "what", "how",
	"do",  "get",	"on",	 "in",	   "of",   "this",  "that", "know", "tell",
	"ask", "let",	"think", "thanks", "okay", "thank", "now",
};

/* What callers put before a request (all words are in CARRIER). */
static const char *const PRE[] = {
	"i want to",
	"i would like to",
	"i'd like to",
	"i need to",
	"i want",
	"i need",
	"can i",
	"could i",
	"can you",
	"could you",
	"i would like",
	"i'd like",
	"i want to know",
	"please",
	"i have",
	"yes",
	"no",
	"hello",
	"hi",
	"um",
	"uh",
	"so",
	"i'd like to know",
	"tell me",
	"i need help with",
	"i would like to know",
	"i just want to",
	"i want to ask",
	"can you tell me",
	"i need some",
};

bool ivr_grammar_is_carrier(const char *word)
{
	for (size_t i = 0; i < IVR_N_ELEMENTS(CARRIER); i++)
		if (!strcmp(CARRIER[i], word))
			return true;
	return false;
}

struct buf {
	char *s;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap : 1024);
		while (cap < b->len + n + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

int ivr_grammar_words(const struct ivr_flow_node *node, char (*words)[IVR_INTENT_WORD_MAX],
		      size_t *n, size_t cap)
{
	int added = 0;
	char w[64][IVR_INTENT_WORD_MAX];
	size_t total = node->n_intents ? IVR_N_ELEMENTS(CARRIER) : 0;
	for (size_t pass = 0;; pass++) {
		/* pass 0: carrier words; then one pass per phrase */
		size_t nw;
		if (pass == 0) {
			nw = total;
			for (size_t k = 0; k < nw; k++)
				snprintf(w[k], sizeof(w[k]), "%s", CARRIER[k]);
		} else {
			size_t idx = pass - 1, i = 0;
			while (i < node->n_intents && idx >= node->intents[i].n_phrases)
				idx -= node->intents[i++].n_phrases;
			if (i >= node->n_intents)
				break;
			nw = IVR_MIN(ivr_intent_words(node->intents[i].phrases[idx], w, 64),
				     (size_t)64);
		}
		for (size_t k = 0; k < nw; k++) {
			int dup = 0;
			for (size_t j = 0; j < *n && !dup; j++)
				dup = !strcmp(words[j], w[k]);
			if (dup)
				continue;
			if (*n >= cap)
				return -ENOSPC;
			memcpy(words[(*n)++], w[k], IVR_INTENT_WORD_MAX);
			added++;
		}
	}
	return added;
}

int ivr_grammar_jsgf(const struct ivr_flow_node *node, const char *name, enum ivr_grammar_mode mode,
		     char **jsgf)
{
	*jsgf = NULL;
	if (!node || node->n_intents == 0)
		return -EINVAL;
	struct buf b = { 0 };
	char gname[64];
	size_t g = 0;
	for (const char *s = name ? name : "node"; *s && g < sizeof(gname) - 1; s++)
		gname[g++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
						    (*s >= '0' && *s <= '9')
					    ? *s
					    : '_');
	gname[g] = 0;
	put(&b, "#JSGF V1.0;\ngrammar ");
	put(&b, g ? gname : "node");
	put(&b, ";\n");
	/*
	 * Carrier phrases are fixed sequences, not a word loop: a loop of
	 * short function words soaks up acoustics and wrecks the phrase
	 * (measured: "i lost my card" -> "to an on want need a my card").
	 */
	if (mode == IVR_GRAMMAR_LOOP)
		put(&b, "public <utt> = /20/ ([<pre>] [<det>] <phrase> [<post>]) | /1/ "
			"(<word>+);\n");
	else
		put(&b, "public <utt> = [<pre>] [<det>] <phrase> [<post>];\n");
	/* "my balance", "the operator": a phrase's words after a determiner */
	put(&b, "<det> = my;\n");
	put(&b, "<phrase> = ");
	int first = 1;
	char w[64][IVR_INTENT_WORD_MAX];
	for (size_t i = 0; i < node->n_intents; i++)
		for (size_t p = 0; p < node->intents[i].n_phrases; p++) {
			size_t nw = IVR_MIN(ivr_intent_words(node->intents[i].phrases[p], w, 64),
					    (size_t)64);
			if (!nw)
				continue;
			put(&b, first ? "( " : "\n\t| ( ");
			first = 0;
			for (size_t k = 0; k < nw; k++) {
				put(&b, w[k]);
				put(&b, " ");
			}
			put(&b, ")");
		}
	put(&b, ";\n<pre> = ");
	for (size_t k = 0; k < IVR_N_ELEMENTS(PRE); k++) {
		put(&b, k ? " | " : "");
		put(&b, PRE[k]);
	}
	put(&b, ";\n<post> = please | thanks | thank you | now;\n");
	if (mode == IVR_GRAMMAR_LOOP) {
		size_t n = 0, cap = 1024;
		char(*words)[IVR_INTENT_WORD_MAX] = malloc(cap * sizeof(*words));
		if (!words) {
			free(b.s);
			return -ENOMEM;
		}
		(void)ivr_grammar_words(node, words, &n, cap);
		put(&b, "<word> = ");
		for (size_t k = 0; k < n; k++) {
			put(&b, k ? " | " : "");
			put(&b, words[k]);
		}
		put(&b, ";\n");
		free(words);
	}
	if (b.oom || first) {
		free(b.s);
		return b.oom ? -ENOMEM : -EINVAL;
	}
	*jsgf = b.s;
	return 0;
}
