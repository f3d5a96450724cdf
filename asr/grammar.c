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

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr/grammar.h"
#include "asr/wordlist.h"

/*
 * General English (asr/wordlist.h): the WORDLIST_N most frequent words share
 * WORDLIST_SHARE of the unigram mass, in proportion to their probabilities
 * in pocketsphinx-en-us's general model, so a caller's own words can be
 * recognised rather than bent into the phrases' words.  Chosen on the tuning
 * sets (docs/asr.md): 3000 words at 10% / 20% / 30%, 5000 at 10%.
 */
#define WORDLIST_N     3000
#define WORDLIST_SHARE 0.2
_Static_assert(WORDLIST_N <= IVR_N_ELEMENTS(IVR_WORDLIST), "asr/wordlist.h too short");

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

/*
 * A small general-purpose telephony lexicon: words a caller uses for the
 * same thing in a contact centre.  Written by hand from general knowledge of
 * IVR menus, not from any test set.  The language model (ivr_grammar_arpa)
 * lets a phrase's word be replaced by another word of its group, and the
 * classifier (asr/intent.c) reads a group member as the phrase's word.
 */
static const char *const LEXICON[] = {
	"agent representative operator person someone somebody human advisor",
	"speak talk chat",
	"money cash funds",
	"pay payment paying",
	"bill bills invoice",
	"transfer move send",
	"balance funds",
	"card cards",
	"lost lose missing stolen stole",
	"block cancel freeze stop",
	"activate enable",
	"complaint complain complaints unhappy dissatisfied upset",
	"question questions ask query enquiry inquiry",
	"information info details",
	"feedback comment comments opinion",
	"suggestion suggest suggestions idea ideas proposal propose",
	"hours times schedule",
	"open opening",
	"rubbish garbage trash waste refuse recycling bins",
	"collection collect collected pickup picked",
	"yes yeah yep sure correct",
	"no nope nah",
	"goodbye bye",
	"account accounts",
	"new replacement",
};

/*
 * Background words: function words and generic verbs that off-topic speech
 * is made of.  In every node's language model at a low unigram probability,
 * so speech outside the menu comes out as words the classifier does not know
 * (the garbage path) instead of being bent into menu words.
 */
static const char *const BACKGROUND[] = {
	"the",	  "a",	   "an",    "of",    "and",   "or",	"but",	 "if",	  "then",   "than",
	"at",	  "by",	   "from",  "into",  "over",  "under",	"about", "after", "before", "what",
	"where",  "when",  "why",   "who",   "which", "how",	"is",	 "are",	  "was",    "were",
	"be",	  "been",  "am",    "do",    "does",  "did",	"have",	 "has",	  "had",    "will",
	"should", "may",   "might", "must",  "can",   "could",	"would", "there", "here",   "this",
	"that",	  "these", "those", "it",    "its",   "they",	"them",	 "their", "we",	    "us",
	"our",	  "you",   "your",  "he",    "she",   "him",	"her",	 "his",	  "i",	    "me",
	"my",	  "not",   "all",   "any",   "every", "each",	"more",	 "most",  "other",  "some",
	"such",	  "only",  "own",   "same",  "so",    "too",	"very",	 "just",  "now",    "one",
	"two",	  "three", "first", "last",  "next",  "day",	"week",	 "month", "year",   "time",
	"good",	  "bad",   "big",   "small", "long",  "little", "old",	 "right", "left",   "up",
	"down",	  "out",   "off",   "again", "go",    "going",	"went",	 "come",  "came",   "make",
	"made",	  "take",  "took",  "see",   "saw",   "look",	"find",	 "give",  "gave",   "say",
	"said",	  "know",  "think", "want",  "like",  "use",	"work",	 "call",  "called", "home",
};

/* Copy the @k-th word of the space-separated @list into @w.  @return false past the end. */
static bool list_word(const char *list, size_t k, char w[IVR_INTENT_WORD_MAX])
{
	const char *s = list;
	for (;;) {
		while (*s == ' ')
			s++;
		if (!*s)
			return false;
		size_t len = strcspn(s, " ");
		if (k-- == 0) {
			len = IVR_MIN(len, (size_t)IVR_INTENT_WORD_MAX - 1);
			memcpy(w, s, len);
			w[len] = 0;
			return true;
		}
		s += len;
	}
}

int ivr_grammar_synonym_group(const char *word, int after)
{
	char w[IVR_INTENT_WORD_MAX];
	for (size_t g = after < 0 ? 0 : (size_t)after + 1; g < IVR_N_ELEMENTS(LEXICON); g++)
		for (size_t k = 0; list_word(LEXICON[g], k, w); k++)
			if (!strcmp(w, word))
				return (int)g;
	return -1;
}

bool ivr_grammar_synonym(int group, size_t k, char w[IVR_INTENT_WORD_MAX])
{
	if (group < 0 || (size_t)group >= IVR_N_ELEMENTS(LEXICON))
		return false;
	return list_word(LEXICON[group], k, w);
}

bool ivr_grammar_is_carrier(const char *word)
{
	for (size_t i = 0; i < IVR_N_ELEMENTS(CARRIER); i++)
		if (!strcmp(CARRIER[i], word))
			return true;
	return false;
}

int ivr_grammar_general_rank(const char *word)
{
	for (size_t i = 0; i < WORDLIST_N; i++)
		if (!strcmp(IVR_WORDLIST[i].word, word))
			return (int)i;
	return -1;
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

/* Append @w to @words unless it is there.  @return 1 added, 0 known, -ENOSPC. */
static int add_word(const char *w, char (*words)[IVR_INTENT_WORD_MAX], size_t *n, size_t cap)
{
	for (size_t j = 0; j < *n; j++)
		if (!strcmp(words[j], w))
			return 0;
	if (*n >= cap)
		return -ENOSPC;
	/* cut to the slot as snprintf would (memcpy: -O3's truncation warning is -Werror) */
	const size_t len = strnlen(w, IVR_INTENT_WORD_MAX - 1);
	memcpy(words[*n], w, len);
	words[(*n)++][len] = 0;
	return 1;
}

int ivr_grammar_words(const struct ivr_flow_node *node, char (*words)[IVR_INTENT_WORD_MAX],
		      size_t *n, size_t cap)
{
	int added = 0, rc;
	if (!node->n_intents)
		return 0;
	char w[64][IVR_INTENT_WORD_MAX];
#define ADD(word)                                                                                  \
	do {                                                                                       \
		if ((rc = add_word((word), words, n, cap)) < 0)                                    \
			return rc;                                                                 \
		added += rc;                                                                       \
	} while (0)
	for (size_t k = 0; k < IVR_N_ELEMENTS(CARRIER); k++)
		ADD(CARRIER[k]);
	for (size_t k = 0; k < IVR_N_ELEMENTS(BACKGROUND); k++)
		ADD(BACKGROUND[k]);
	for (size_t k = 0; k < WORDLIST_N; k++)
		ADD(IVR_WORDLIST[k].word);
	for (size_t g = 0; g < IVR_N_ELEMENTS(LEXICON); g++)
		for (size_t k = 0; list_word(LEXICON[g], k, w[0]); k++)
			ADD(w[0]);
	for (size_t i = 0; i < node->n_intents; i++)
		for (size_t p = 0; p < node->intents[i].n_phrases; p++) {
			size_t nw = IVR_MIN(ivr_intent_words(node->intents[i].phrases[p], w, 64),
					    (size_t)64);
			for (size_t k = 0; k < nw; k++)
				ADD(w[k]);
		}
#undef ADD
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

/* ------------------------------------------------ n-gram language model */

/*
 * Weights of the generated sentences (counts are fractional): an example
 * phrase counts 1; a phrase with one word replaced by a synonym SYN_WEIGHT;
 * the carrier-wrapped forms share PRE_WEIGHT / POST_WEIGHT of their phrase.
 * BG_COUNT is the unigram count every vocabulary word gets (background and
 * carrier words included), BACKOFF the probability mass a bigram or trigram
 * history leaves to the lower order: how far the decoder may stray from the
 * phrases.
 */
#define SYN_WEIGHT  0.3
#define PRE_WEIGHT  1.0
#define POST_WEIGHT 0.3
#define BG_COUNT    0.05
#define BACKOFF	    0.3

struct ntab {
	uint64_t *key; /* key + 1; 0 = empty */
	double *val;
	size_t cap, n;
};

static double *ntab_get(struct ntab *t, uint64_t key, bool create)
{
	if (create && (t->n + 1) * 2 > t->cap) {
		struct ntab o = *t;
		size_t cap = o.cap ? o.cap * 2 : 1024;
		t->key = calloc(cap, sizeof(*t->key));
		t->val = calloc(cap, sizeof(*t->val));
		if (!t->key || !t->val) {
			free(t->key);
			free(t->val);
			*t = o;
			return NULL;
		}
		t->cap = cap;
		t->n = 0;
		for (size_t i = 0; i < o.cap; i++)
			if (o.key[i])
				*ntab_get(t, o.key[i] - 1, true) = o.val[i];
		free(o.key);
		free(o.val);
	}
	if (!t->cap)
		return NULL;
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (t->cap - 1);
	while (t->key[i] && t->key[i] != key + 1)
		i = (i + 1) & (t->cap - 1);
	if (!t->key[i]) {
		if (!create)
			return NULL;
		t->key[i] = key + 1;
		t->val[i] = 0;
		t->n++;
	}
	return &t->val[i];
}

static void ntab_free(struct ntab *t)
{
	free(t->key);
	free(t->val);
}

struct lm {
	char (*vocab)[IVR_INTENT_WORD_MAX];
	size_t nv, cap;
	double *c1, *c2h;   /* unigram counts; bigram history totals */
	double *bg;	    /* prior count every word gets on top of c1 */
	struct ntab c2, c3; /* bigram, trigram counts */
	struct ntab c3h;    /* trigram history totals, keyed as bigrams */
	int oom;
};

#define BOS 0
#define EOS 1

static uint32_t lm_word(struct lm *m, const char *w)
{
	for (size_t i = 0; i < m->nv; i++)
		if (!strcmp(m->vocab[i], w))
			return (uint32_t)i;
	if (add_word(w, m->vocab, &m->nv, m->cap) < 0)
		m->oom = 1;
	else
		m->bg[m->nv - 1] = BG_COUNT;
	return (uint32_t)(m->nv - 1);
}

static void lm_count(struct lm *m, const uint32_t *s, size_t n, double wgt)
{
	uint64_t V = 65536;
	uint32_t h1 = BOS, h2 = BOS;
	for (size_t i = 0; i <= n; i++) {
		uint32_t w = i < n ? s[i] : EOS;
		m->c1[w] += wgt;
		double *c;
		if ((c = ntab_get(&m->c2, (uint64_t)h2 * V + w, true)))
			*c += wgt;
		else
			m->oom = 1;
		m->c2h[h2] += wgt;
		if (i > 0) {
			uint64_t hk = (uint64_t)h1 * V + h2;
			if ((c = ntab_get(&m->c3, hk * V + w, true)))
				*c += wgt;
			else
				m->oom = 1;
			if ((c = ntab_get(&m->c3h, hk, true)))
				*c += wgt;
			else
				m->oom = 1;
		}
		h1 = h2;
		h2 = w;
	}
}

/* Count @s, and @s wrapped in every carrier phrase before and after it. */
static void lm_count_wrapped(struct lm *m, const uint32_t *s, size_t n, double wgt)
{
	uint32_t buf[96];
	lm_count(m, s, n, wgt);
	char w[16][IVR_INTENT_WORD_MAX];
	for (size_t k = 0; k < IVR_N_ELEMENTS(PRE); k++) {
		size_t np = IVR_MIN(ivr_intent_words(PRE[k], w, 16), (size_t)16);
		if (np + n > IVR_N_ELEMENTS(buf))
			continue;
		for (size_t j = 0; j < np; j++)
			buf[j] = lm_word(m, w[j]);
		memcpy(buf + np, s, n * sizeof(*s));
		lm_count(m, buf, np + n, wgt * PRE_WEIGHT / IVR_N_ELEMENTS(PRE));
	}
	static const char *const POST[] = { "please", "thanks", "thank you", "now" };
	for (size_t k = 0; k < IVR_N_ELEMENTS(POST); k++) {
		size_t np = IVR_MIN(ivr_intent_words(POST[k], w, 16), (size_t)16);
		if (np + n > IVR_N_ELEMENTS(buf))
			continue;
		memcpy(buf, s, n * sizeof(*s));
		for (size_t j = 0; j < np; j++)
			buf[n + j] = lm_word(m, w[j]);
		lm_count(m, buf, np + n, wgt * POST_WEIGHT / IVR_N_ELEMENTS(POST));
	}
}

static double p_uni(const struct lm *m, uint32_t w, double z)
{
	return (m->c1[w] + m->bg[w]) / z;
}

static double p_bi(struct lm *m, uint32_t h, uint32_t w, const double *alpha1, double z)
{
	double *c = ntab_get(&m->c2, (uint64_t)h * 65536 + w, false);
	if (c && m->c2h[h] > 0)
		return (1 - BACKOFF) * *c / m->c2h[h];
	return alpha1[h] * p_uni(m, w, z);
}

int ivr_grammar_arpa(const struct ivr_flow_node *node, char **arpa)
{
	*arpa = NULL;
	if (!node || node->n_intents == 0)
		return -EINVAL;
	struct lm m = { 0 };
	struct buf b = { 0 };
	double *alpha1 = NULL, *sum1 = NULL;
	struct ntab sum2 = { 0 };
	int rc = -ENOMEM;
	m.cap = 8192;
	m.vocab = calloc(m.cap, sizeof(*m.vocab));
	m.c1 = calloc(m.cap, sizeof(*m.c1));
	m.c2h = calloc(m.cap, sizeof(*m.c2h));
	m.bg = calloc(m.cap, sizeof(*m.bg));
	if (!m.vocab || !m.c1 || !m.c2h || !m.bg)
		goto out;
	lm_word(&m, "<s>");
	lm_word(&m, "</s>");
	for (size_t k = 0; k < IVR_N_ELEMENTS(CARRIER); k++)
		lm_word(&m, CARRIER[k]);
	for (size_t k = 0; k < IVR_N_ELEMENTS(BACKGROUND); k++)
		lm_word(&m, BACKGROUND[k]);
	char w[64][IVR_INTENT_WORD_MAX], syn[IVR_INTENT_WORD_MAX];
	uint32_t s[64];
	size_t n_phr = 0;
	for (size_t i = 0; i < node->n_intents; i++)
		for (size_t p = 0; p < node->intents[i].n_phrases; p++) {
			size_t nw = IVR_MIN(ivr_intent_words(node->intents[i].phrases[p], w, 64),
					    (size_t)64);
			if (!nw)
				continue;
			n_phr++;
			for (size_t k = 0; k < nw; k++)
				s[k] = lm_word(&m, w[k]);
			lm_count_wrapped(&m, s, nw, 1.0);
			/* one word at a time replaced by each of its synonyms */
			for (size_t k = 0; k < nw; k++)
				for (int g = ivr_grammar_synonym_group(w[k], -1); g >= 0;
				     g = ivr_grammar_synonym_group(w[k], g))
					for (size_t j = 0; ivr_grammar_synonym(g, j, syn); j++) {
						if (!strcmp(syn, w[k]))
							continue;
						s[k] = lm_word(&m, syn);
						lm_count_wrapped(&m, s, nw, SYN_WEIGHT);
						s[k] = lm_word(&m, w[k]);
					}
		}
	if (m.oom)
		goto out;
	if (!n_phr) {
		rc = -EINVAL;
		goto out;
	}
	/* general English words not in the node's own vocabulary: WORDLIST_SHARE of the mass */
	double z = 0, wl_p = 0;
	for (size_t i = 1; i < m.nv; i++)
		z += m.c1[i] + m.bg[i];
	size_t nv_own = m.nv;
	for (size_t k = 0; k < WORDLIST_N; k++)
		if (lm_word(&m, IVR_WORDLIST[k].word) >= nv_own)
			wl_p += pow(10, IVR_WORDLIST[k].log10_p);
	if (m.oom)
		goto out;
	/* the new words are in the list's order */
	for (size_t k = 0, i = nv_own; k < WORDLIST_N && i < m.nv; k++)
		if (!strcmp(m.vocab[i], IVR_WORDLIST[k].word)) {
			m.bg[i] = WORDLIST_SHARE / (1 - WORDLIST_SHARE) * z *
				  pow(10, IVR_WORDLIST[k].log10_p) / wl_p;
			i++;
		}
	for (size_t i = nv_own; i < m.nv; i++)
		z += m.bg[i];
	/* backoff weights: the mass left over, spread over the unseen words */
	alpha1 = calloc(m.nv, sizeof(*alpha1));
	sum1 = calloc(m.nv, sizeof(*sum1));
	if (!alpha1 || !sum1)
		goto out;
	for (size_t i = 0; i < m.c2.cap; i++)
		if (m.c2.key[i]) {
			uint64_t k = m.c2.key[i] - 1;
			sum1[k >> 16] += p_uni(&m, (uint32_t)(k & 0xffff), z);
		}
	for (size_t h = 0; h < m.nv; h++)
		alpha1[h] = m.c2h[h] > 0 ? BACKOFF / fmax(1e-9, 1 - sum1[h]) : 1;
	for (size_t i = 0; i < m.c3.cap; i++)
		if (m.c3.key[i]) {
			uint64_t k = m.c3.key[i] - 1;
			double *v = ntab_get(&sum2, k >> 16, true);
			if (!v)
				goto out;
			*v += p_bi(&m, (uint32_t)((k >> 16) & 0xffff), (uint32_t)(k & 0xffff),
				   alpha1, z);
		}
	char line[256];
	put(&b, "\\data\\\n");
	snprintf(line, sizeof(line), "ngram 1=%zu\nngram 2=%zu\nngram 3=%zu\n\n\\1-grams:\n", m.nv,
		 m.c2.n, m.c3.n);
	put(&b, line);
	for (size_t i = 0; i < m.nv; i++) {
		double lp = i == BOS ? -99 : log10(p_uni(&m, (uint32_t)i, z));
		snprintf(line, sizeof(line), "%.4f %s %.4f\n", lp, m.vocab[i], log10(alpha1[i]));
		put(&b, line);
	}
	put(&b, "\n\\2-grams:\n");
	for (size_t i = 0; i < m.c2.cap; i++)
		if (m.c2.key[i]) {
			uint64_t k = m.c2.key[i] - 1;
			uint32_t h = (uint32_t)(k >> 16), wd = (uint32_t)(k & 0xffff);
			double *tot = ntab_get(&m.c3h, k, false), *seen = ntab_get(&sum2, k, false);
			double a2 = tot && seen ? BACKOFF / fmax(1e-9, 1 - *seen) : 1;
			snprintf(line, sizeof(line), "%.4f %s %s %.4f\n",
				 log10(p_bi(&m, h, wd, alpha1, z)), m.vocab[h], m.vocab[wd],
				 log10(a2));
			put(&b, line);
		}
	put(&b, "\n\\3-grams:\n");
	for (size_t i = 0; i < m.c3.cap; i++)
		if (m.c3.key[i]) {
			uint64_t k = m.c3.key[i] - 1;
			double *tot = ntab_get(&m.c3h, k >> 16, false);
			double p = (1 - BACKOFF) * m.c3.val[i] / *tot;
			snprintf(line, sizeof(line), "%.4f %s %s %s\n", log10(p), m.vocab[k >> 32],
				 m.vocab[(k >> 16) & 0xffff], m.vocab[k & 0xffff]);
			put(&b, line);
		}
	put(&b, "\n\\end\\\n");
	rc = b.oom ? -ENOMEM : 0;
out:
	if (rc == 0)
		*arpa = b.s;
	else
		free(b.s);
	free(m.vocab);
	free(m.c1);
	free(m.c2h);
	free(m.bg);
	ntab_free(&m.c2);
	ntab_free(&m.c3);
	ntab_free(&m.c3h);
	ntab_free(&sum2);
	free(alpha1);
	free(sum1);
	return rc;
}
