/* SPDX-License-Identifier: MIT */
/*
 * asr/intent.c - words -> intent classifier learned from example phrases.
 *
 * Two views of one text, both weighted by how specific a word is to an
 * intent (idf over the node's intents; function words damped):
 *  - text coverage: share of the text's word weight that the intent knows
 *    (unknown words count against every intent, so off-topic speech scores low);
 *  - phrase coverage: the best share of one example phrase's weight found in
 *    the text (a paraphrase usually keeps a phrase's key words).
 * Their mean, scaled by the acoustic confidence, is the intent's score; the
 * margin over the runner-up decides between near ties.
 * Word forms meet through Snowball's English (Porter2) stemmer, Debian's
 * libstemmer ("activation", "activate" -> "activ"; "collected" -> "collect"):
 * a text word the node does not know counts as the node's word with the same
 * stem.  Builds without ASR (no libstemmer) match whole words only.
 * Thread: build on control, classify on any thread (read-only model).
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if IVR_HAVE_ASR
#include <libstemmer.h>
#endif

#include "asr/grammar.h"
#include "asr/intent.h"
#include "asr/related.h"

#define MAX_TEXT_WORDS 64
/* Weight of a word the node has never seen: about an average content word. */
#define UNKNOWN_WEIGHT	1.0f
#define STOP_WEIGHT	0.15f
#define MIN_TEXT_WEIGHT 0.5f
/*
 * A word WordNet relates to a node's word (asr/related.h) counts this much of
 * that word: below a word of the phrases or of the hand lexicon, because a
 * general resource also relates senses a flow does not mean ("bill" - "post").
 */
#define RELATED_WEIGHT 0.5f
/*
 * Garbage-word rate: the share of a text's word weight that is words no
 * intent of the node knows (function, carrier and the GARBAGE_FREQUENT_RANK
 * most frequent general words excepted).  Off-topic speech decodes to such
 * words under the n-gram search ("married era train agent"); above
 * GARBAGE_FREE the confidence falls in proportion (chosen on the tuning
 * sets, docs/asr.md).
 */
#define GARBAGE_FREQUENT_RANK 300
#define GARBAGE_FREE	      0.5f

/* Function words: present in most phrases of most intents, they say little. */
static const char *const STOP[] = { "a",    "an",   "the",   "to",   "i",     "my",   "me",
				    "of",   "for",  "is",    "it",   "and",   "in",   "on",
				    "do",   "you",  "your",  "want", "would", "like", "please",
				    "can",  "with", "about", "need", "i'd",   "i'm",  "am",
				    "have", "be",   "this",  "that", "some",  "get",  "could" };

struct word {
	char text[IVR_INTENT_WORD_MAX];
	char stem[IVR_INTENT_WORD_MAX]; /* Porter2 stem; "" when too short to match on */
	float weight;			/* idf * stop damping */
	uint32_t mask;			/* intents whose phrases contain the word (<= 32 intents) */
};

struct phrase {
	int intent;
	uint16_t n_words;
	uint16_t first; /* into word_idx[] */
	float weight;	/* sum of its words' weights */
};

/* A stem WordNet relates to one of the model's words. */
struct related {
	const char *stem; /* into IVR_RELATED */
	int word;
};

struct ivr_intent_model {
	size_t n_intents;
	struct related *related;
	size_t n_related;
	struct word *words;
	size_t n_words;
	struct phrase *phrases;
	size_t n_phrases;
	uint16_t *word_idx;
};

size_t ivr_intent_words(const char *text, char (*words)[IVR_INTENT_WORD_MAX], size_t max)
{
	size_t n = 0;
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	while (*s) {
		while (*s && !(isalpha(*s) || *s == '\''))
			s++;
		if (!*s)
			break;
		size_t len = 0;
		char w[IVR_INTENT_WORD_MAX];
		while (*s && (isalpha(*s) || *s == '\'')) {
			if (len < IVR_INTENT_WORD_MAX - 1)
				w[len++] = (char)tolower(*s);
			s++;
		}
		w[len] = 0;
		/* A lone apostrophe (quotes) is not a word. */
		if (!strcmp(w, "'"))
			continue;
		if (n < max)
			memcpy(words[n], w, len + 1);
		n++;
	}
	return n;
}

static int is_stop(const char *w)
{
	for (size_t i = 0; i < IVR_N_ELEMENTS(STOP); i++)
		if (!strcmp(STOP[i], w))
			return 1;
	return 0;
}

/*
 * Common English words ("something", "else", "got") are what recognition
 * errors and carrier talk are made of: not evidence of an off-topic request.
 */
static bool frequent(const char *w)
{
	int r = ivr_grammar_general_rank(w);
	return r >= 0 && r < GARBAGE_FREQUENT_RANK;
}

static int find_word(const struct ivr_intent_model *m, const char *w)
{
	for (size_t i = 0; i < m->n_words; i++)
		if (!strcmp(m->words[i].text, w))
			return (int)i;
	return -1;
}

/* Shortest stem that may stand for a word: shorter ones ("us", "im") join unrelated words. */
#define MIN_STEM_LEN 3

/*
 * A stemmer per call: a Snowball stemmer keeps its state in the instance, so
 * one cannot be shared by the threads that classify.  NULL when unavailable.
 */
static struct sb_stemmer *stemmer_new(void)
{
#if IVR_HAVE_ASR
	return sb_stemmer_new("english", NULL);
#else
	return NULL;
#endif
}

static void stemmer_free(struct sb_stemmer *st)
{
#if IVR_HAVE_ASR
	if (st)
		sb_stemmer_delete(st);
#else
	(void)st;
#endif
}

/* The stem of @w into @out; "" when there is no stemmer or the stem is too short. */
static void stem_of(struct sb_stemmer *st, const char *w, char out[IVR_INTENT_WORD_MAX])
{
	out[0] = 0;
#if IVR_HAVE_ASR
	if (!st)
		return;
	const sb_symbol *s = sb_stemmer_stem(st, (const sb_symbol *)w, (int)strlen(w));
	int len = s ? sb_stemmer_length(st) : 0;
	if (len >= MIN_STEM_LEN && len < IVR_INTENT_WORD_MAX) {
		memcpy(out, s, (size_t)len);
		out[len] = 0;
	}
#else
	(void)st;
	(void)w;
#endif
}

static int find_stem(const struct ivr_intent_model *m, const char *stem)
{
	if (!stem[0])
		return -1;
	for (size_t i = 0; i < m->n_words; i++)
		if (!strcmp(m->words[i].stem, stem))
			return (int)i;
	return -1;
}

/*
 * A word of one of @w's lexicon groups, or (@stems) with that word's stem.
 * @return the index, or -1.
 */
static int find_synonym(const struct ivr_intent_model *m, struct sb_stemmer *st, const char *w,
			bool stems)
{
	int wi;
	char stem[IVR_INTENT_WORD_MAX];
	char syn[IVR_INTENT_WORD_MAX];
	for (int g = ivr_grammar_synonym_group(w, -1); g >= 0; g = ivr_grammar_synonym_group(w, g))
		for (size_t k = 0; ivr_grammar_synonym(g, k, syn); k++) {
			if (!strcmp(syn, w))
				continue;
			if (!stems && (wi = find_word(m, syn)) >= 0)
				return wi;
			if (stems) {
				stem_of(st, syn, stem);
				if ((wi = find_stem(m, stem)) >= 0)
					return wi;
			}
		}
	return -1;
}

/*
 * The model's word for @w: itself, a word of one of its lexicon groups
 * (asr/grammar.c), a word with the same stem, or with a lexicon word's stem
 * (*@scale 1); else the most specific word WordNet relates to it (RELATED_WEIGHT).
 * @return the index, or -1.
 */
static int find_known(const struct ivr_intent_model *m, struct sb_stemmer *st, const char *w,
		      float *scale)
{
	*scale = 1;
	int wi = find_word(m, w);
	if (wi >= 0)
		return wi;
	/*
	 * The lexicon's own grouping of this very word first ("times" is listed
	 * with "hours"), then the word's stem ("times" -> "time"), then the
	 * lexicon words' stems.
	 */
	if ((wi = find_synonym(m, st, w, false)) >= 0)
		return wi;
	char stem[IVR_INTENT_WORD_MAX];
	stem_of(st, w, stem);
	if ((wi = find_stem(m, stem)) >= 0)
		return wi;
	wi = find_synonym(m, st, w, true);
	if (wi >= 0 || !stem[0])
		return wi;
	for (size_t i = 0; i < m->n_related; i++)
		if (!strcmp(m->related[i].stem, stem) &&
		    (wi < 0 || m->words[m->related[i].word].weight > m->words[wi].weight))
			wi = m->related[i].word;
	*scale = RELATED_WEIGHT;
	return wi;
}

static int cmp_related(const void *key, const void *entry)
{
	return strcmp(key, ((const char *const *)entry)[0]);
}

/* Collect the stems WordNet relates to each model word.  @return 0 or -ENOMEM. */
static int build_related(struct ivr_intent_model *m)
{
	size_t cap = 0;
	for (size_t i = 0; i < m->n_words; i++) {
		const char *s = m->words[i].stem;
		if (!s[0])
			continue;
		const char *const(*e)[2] = bsearch(s, IVR_RELATED, IVR_N_ELEMENTS(IVR_RELATED),
						   sizeof(IVR_RELATED[0]), cmp_related);
		if (!e)
			continue;
		while (e > IVR_RELATED && !strcmp(e[-1][0], s))
			e--;
		for (; e < IVR_RELATED + IVR_N_ELEMENTS(IVR_RELATED) && !strcmp((*e)[0], s); e++) {
			if (find_stem(m, (*e)[1]) >= 0)
				continue; /* the node has that word itself */
			if (m->n_related == cap) {
				cap = cap ? 2 * cap : 32;
				struct related *nr = realloc(m->related, cap * sizeof(*nr));
				if (!nr)
					return -ENOMEM;
				m->related = nr;
			}
			m->related[m->n_related++] = (struct related){ (*e)[1], (int)i };
		}
	}
	return 0;
}

struct ivr_intent_model *ivr_intent_build(const struct ivr_flow_node *node)
{
	if (!node || node->n_intents == 0 || node->n_intents > 32) {
		errno = EINVAL;
		return NULL;
	}
	size_t total_phrases = 0, total_words = 0;
	char tmp[MAX_TEXT_WORDS][IVR_INTENT_WORD_MAX];
	for (size_t i = 0; i < node->n_intents; i++) {
		total_phrases += node->intents[i].n_phrases;
		for (size_t p = 0; p < node->intents[i].n_phrases; p++) {
			size_t n =
				ivr_intent_words(node->intents[i].phrases[p], tmp, MAX_TEXT_WORDS);
			total_words += IVR_MIN(n, (size_t)MAX_TEXT_WORDS);
		}
	}
	struct ivr_intent_model *m = calloc(1, sizeof(*m));
	if (!m)
		goto oom;
	m->n_intents = node->n_intents;
	m->words = calloc(total_words ? total_words : 1, sizeof(*m->words));
	m->phrases = calloc(total_phrases, sizeof(*m->phrases));
	m->word_idx = calloc(total_words ? total_words : 1, sizeof(*m->word_idx));
	if (!m->words || !m->phrases || !m->word_idx)
		goto oom;
	size_t n_idx = 0;
	for (size_t i = 0; i < node->n_intents; i++) {
		for (size_t p = 0; p < node->intents[i].n_phrases; p++) {
			char(*w)[IVR_INTENT_WORD_MAX] = tmp;
			size_t n = ivr_intent_words(node->intents[i].phrases[p], w, MAX_TEXT_WORDS);
			n = IVR_MIN(n, (size_t)MAX_TEXT_WORDS);
			struct phrase *ph = &m->phrases[m->n_phrases++];
			ph->intent = (int)i;
			ph->first = (uint16_t)n_idx;
			for (size_t k = 0; k < n; k++) {
				int wi = find_word(m, w[k]);
				if (wi < 0) {
					wi = (int)m->n_words++;
					memcpy(m->words[wi].text, w[k], sizeof(w[k]));
				}
				m->words[wi].mask |= 1u << i;
				/* a word twice in one phrase counts once */
				int dup = 0;
				for (size_t j = ph->first; j < n_idx; j++)
					dup |= m->word_idx[j] == wi;
				if (!dup) {
					m->word_idx[n_idx++] = (uint16_t)wi;
					ph->n_words++;
				}
			}
		}
	}
	struct sb_stemmer *st = stemmer_new();
	if (IVR_HAVE_ASR && !st)
		goto oom;
	for (size_t i = 0; i < m->n_words; i++)
		stem_of(st, m->words[i].text, m->words[i].stem);
	stemmer_free(st);
	if (build_related(m) < 0)
		goto oom;
	bool *alone = calloc(m->n_words ? m->n_words : 1, sizeof(*alone));
	if (!alone)
		goto oom;
	for (size_t p = 0; p < m->n_phrases; p++)
		if (m->phrases[p].n_words == 1)
			alone[m->word_idx[m->phrases[p].first]] = true;
	for (size_t i = 0; i < m->n_words; i++) {
		struct word *w = &m->words[i];
		float df = (float)__builtin_popcount(w->mask);
		w->weight = logf(1.0f + (float)m->n_intents / df);
		/*
		 * Carrier words ("how", "tell", "know") are what any request is
		 * wrapped in; with an n-gram search noise and off-topic speech
		 * often come out as one of them.  Damped like function words,
		 * unless a phrase is that word alone ("yes", "no").
		 */
		if (is_stop(w->text) || (ivr_grammar_is_carrier(w->text) && !alone[i]))
			w->weight *= STOP_WEIGHT;
	}
	free(alone);
	for (size_t p = 0; p < m->n_phrases; p++) {
		struct phrase *ph = &m->phrases[p];
		for (size_t k = 0; k < ph->n_words; k++)
			ph->weight += m->words[m->word_idx[ph->first + k]].weight;
	}
	return m;
oom:
	ivr_intent_free(m);
	errno = ENOMEM;
	return NULL;
}

void ivr_intent_free(struct ivr_intent_model *m)
{
	if (!m)
		return;
	free(m->words);
	free(m->related);
	free(m->phrases);
	free(m->word_idx);
	free(m);
}

size_t ivr_intent_vocab_size(const struct ivr_intent_model *m)
{
	return m ? m->n_words : 0;
}

int ivr_intent_classify(const struct ivr_intent_model *m, const char *text, float asr_confidence,
			float threshold, struct ivr_intent_result *out)
{
	if (!m || !out)
		return -EINVAL;
	out->intent = out->best = out->runner_up = -1;
	out->confidence = out->runner_up_confidence = out->garbage = 0;
	char words[MAX_TEXT_WORDS][IVR_INTENT_WORD_MAX];
	size_t n = IVR_MIN(ivr_intent_words(text, words, MAX_TEXT_WORDS), (size_t)MAX_TEXT_WORDS);
	int idx[MAX_TEXT_WORDS];
	float sc[MAX_TEXT_WORDS]; /* share of its word's weight a text word carries */
	float total = 0, garbage = 0;
	/* Without a stemmer (out of memory) words still match whole. */
	struct sb_stemmer *st = stemmer_new();
	size_t n_uniq = 0;
	for (size_t k = 0; k < n; k++) {
		int dup = 0;
		for (size_t j = 0; j < k; j++)
			dup |= !strcmp(words[j], words[k]);
		if (dup)
			continue;
		float scale;
		int wi = find_known(m, st, words[k], &scale);
		for (size_t j = 0; j < n_uniq && wi >= 0; j++)
			if (idx[j] == wi) {
				/* a synonym of a word already counted: once, at its best */
				sc[j] = fmaxf(sc[j], scale);
				wi = -2;
			}
		if (wi == -2)
			continue;
		sc[n_uniq] = scale;
		idx[n_uniq++] = wi;
		if (wi >= 0)
			total += m->words[wi].weight;
		else if (is_stop(words[k]) || ivr_grammar_is_carrier(words[k]))
			total += STOP_WEIGHT;
		else {
			total += UNKNOWN_WEIGHT;
			if (!frequent(words[k]))
				garbage += UNKNOWN_WEIGHT;
		}
	}
	stemmer_free(st);
	if (n_uniq == 0 || total <= 0)
		return 0;
	out->garbage = garbage / total;
	/*
	 * A text must weigh at least half a content word to cover an intent
	 * alone: a lone function or carrier word (what noise often decodes
	 * to under the n-gram search) is not a request.
	 */
	total = fmaxf(total, MIN_TEXT_WEIGHT);
	float best = 0, second = 0;
	int best_i = -1, second_i = -1;
	for (size_t i = 0; i < m->n_intents; i++) {
		float known = 0;
		for (size_t k = 0; k < n_uniq; k++)
			if (idx[k] >= 0 && (m->words[idx[k]].mask & (1u << i)))
				known += sc[k] * m->words[idx[k]].weight;
		float text_cov = known / total;
		float phrase_cov = 0;
		for (size_t p = 0; p < m->n_phrases; p++) {
			const struct phrase *ph = &m->phrases[p];
			if (ph->intent != (int)i || ph->weight <= 0)
				continue;
			float got = 0;
			for (size_t w = 0; w < ph->n_words; w++)
				for (size_t k = 0; k < n_uniq; k++)
					if (idx[k] == m->word_idx[ph->first + w])
						got += sc[k] * m->words[idx[k]].weight;
			phrase_cov = fmaxf(phrase_cov, got / ph->weight);
		}
		float s = 0.5f * (text_cov + phrase_cov);
		if (s > best) {
			second = best;
			second_i = best_i;
			best = s;
			best_i = (int)i;
		} else if (s > second) {
			second = s;
			second_i = (int)i;
		}
	}
	if (best_i < 0)
		return 0;
	/* A near tie is a guess: scale by the margin (full at a 2:1 lead). */
	float margin = best > 0 ? IVR_MIN(1.0f, 2.0f * (best - second) / best) : 0;
	float ac = IVR_CLAMP(asr_confidence, 0.0f, 1.0f);
	float clean = IVR_MIN(1.0f, (1.0f - out->garbage) / (1.0f - GARBAGE_FREE));
	float conf = best * (0.5f + 0.5f * margin) * ac * clean;
	out->confidence = IVR_CLAMP(conf, 0.0f, 1.0f);
	out->runner_up = second_i;
	/* The runner-up has no lead: margin 0, so never above the best. */
	out->runner_up_confidence = IVR_CLAMP(second * 0.5f * ac, 0.0f, 1.0f);
	out->best = best_i;
	out->intent = out->confidence >= threshold ? best_i : -1;
	return 0;
}

void ivr_intent_dict_key(const char *line, char key[IVR_INTENT_WORD_MAX])
{
	size_t k = 0;
	while (line[k] && line[k] != ' ' && line[k] != '\t' && line[k] != '(' &&
	       k < IVR_INTENT_WORD_MAX - 1) {
		key[k] = line[k];
		k++;
	}
	key[k] = 0;
}
