/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-related.c - write asr/related.h: pairs of related English words
 * from WordNet 3.0 (Debian's wordnet-base), as Porter2 stems, for the intent
 * classifier (asr/intent.c).
 *
 * A caller who says "complain" for the flow's "complaint", or "proposal" for
 * "suggestion", uses a word the example phrases do not hold.  Rather than a
 * hand-picked list, the pairs come from a real resource: for each word of
 * the vocabulary the recogniser can output (the general words of
 * asr/wordlist.h and the telephony lexicon of asr/grammar.c), the other
 * words of its first SENSES synsets (nouns, verbs, adjectives: the most
 * frequent senses, later ones are rare and noisy: "bill" -> "beak") and the
 * words WordNet links to it derivationally ("+": "complain" <-> "complaint",
 * "suggest" <-> "suggestion"), kept when they are in that vocabulary too
 * (a word the recogniser cannot output would never reach the classifier).
 * The most frequent words (function words, generic verbs such as "get",
 * "have") are left out: they relate to everything.  Both words are written
 * as their Porter2 stems (libstemmer), both directions, sorted, so the
 * classifier can binary-search a stem.
 *
 *   build/tools/ivr-related [-s SENSES] [-d WORDNET_DIR] > asr/related.h
 *
 * Thread: single-threaded tool.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if IVR_HAVE_ASR
#include <libstemmer.h>

#include "asr/grammar.h"
#include "asr/intent.h"
#include "asr/wordlist.h"

/* The most frequent words of asr/wordlist.h that are left out (see above). */
#define SKIP_TOP 150

struct pair {
	char a[IVR_INTENT_WORD_MAX], b[IVR_INTENT_WORD_MAX];
};

static char (*vocab)[IVR_INTENT_WORD_MAX];
static size_t n_vocab;
static struct pair *pairs;
static size_t n_pairs, cap_pairs;
static struct sb_stemmer *stemmer;

static int cmp_word(const void *x, const void *y)
{
	return strcmp(x, y);
}

static int cmp_pair(const void *x, const void *y)
{
	const struct pair *p = x, *q = y;
	int c = strcmp(p->a, q->a);
	return c ? c : strcmp(p->b, q->b);
}

static bool in_vocab(const char *w)
{
	return bsearch(w, vocab, n_vocab, sizeof(*vocab), cmp_word) != NULL;
}

static bool skipped(const char *w)
{
	for (size_t i = 0; i < SKIP_TOP; i++)
		if (!strcmp(IVR_WORDLIST[i].word, w))
			return true;
	return ivr_grammar_is_carrier(w);
}

static void add_vocab(const char *w)
{
	if (strlen(w) < IVR_INTENT_WORD_MAX)
		snprintf(vocab[n_vocab++], IVR_INTENT_WORD_MAX, "%s", w);
}

static void stem(const char *w, char out[IVR_INTENT_WORD_MAX])
{
	const sb_symbol *s = sb_stemmer_stem(stemmer, (const sb_symbol *)w, (int)strlen(w));
	int len = s ? sb_stemmer_length(stemmer) : 0;
	if (len <= 0 || len >= IVR_INTENT_WORD_MAX)
		len = 0;
	memcpy(out, s, (size_t)len);
	out[len] = 0;
}

/* Record @a <-> @b (WordNet lemmas) when both can be recognised and mean something. */
static int relate(const char *a, const char *b)
{
	if (!in_vocab(a) || !in_vocab(b) || skipped(a) || skipped(b))
		return 0;
	char sa[IVR_INTENT_WORD_MAX], sb[IVR_INTENT_WORD_MAX];
	stem(a, sa);
	stem(b, sb);
	if (strlen(sa) < 3 || strlen(sb) < 3 || !strcmp(sa, sb))
		return 0;
	if (n_pairs + 2 > cap_pairs) {
		cap_pairs = cap_pairs ? 2 * cap_pairs : 4096;
		struct pair *np = realloc(pairs, cap_pairs * sizeof(*np));
		if (!np)
			return -ENOMEM;
		pairs = np;
	}
	memcpy(pairs[n_pairs].a, sa, sizeof(sa));
	memcpy(pairs[n_pairs++].b, sb, sizeof(sb));
	memcpy(pairs[n_pairs].a, sb, sizeof(sb));
	memcpy(pairs[n_pairs++].b, sa, sizeof(sa));
	return 0;
}

/* One synset line of a data.POS file, parsed. */
struct synset {
	char words[64][IVR_INTENT_WORD_MAX];
	size_t n_words;
	struct {
		char sym[4];
		long offset;
		char pos;
		unsigned src, dst;
	} ptrs[256];
	size_t n_ptrs;
};

static FILE *data_file(const char *dir, char pos)
{
	static FILE *f[4];
	static const char *const NAME[4] = { "noun", "verb", "adj", "adv" };
	int i = pos == 'n' ? 0 : pos == 'v' ? 1 : (pos == 'a' || pos == 's') ? 2 : 3;
	if (!f[i]) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/data.%s", dir, NAME[i]);
		f[i] = fopen(path, "r");
	}
	return f[i];
}

/* Lemma as a plain word: lower case, adjective markers "(a)" cut; "" for collocations. */
static void lemma_word(const char *in, char out[IVR_INTENT_WORD_MAX])
{
	size_t k = 0;
	for (; in[k] && in[k] != '(' && k < IVR_INTENT_WORD_MAX - 1; k++)
		out[k] = (char)(in[k] >= 'A' && in[k] <= 'Z' ? in[k] - 'A' + 'a' : in[k]);
	out[k] = 0;
	if (strchr(out, '_') || strchr(out, '-'))
		out[0] = 0;
}

static int read_synset(const char *dir, char pos, long offset, struct synset *s)
{
	FILE *f = data_file(dir, pos);
	static char line[65536];
	if (!f || fseek(f, offset, SEEK_SET) || !fgets(line, sizeof(line), f))
		return -EIO;
	char *save = NULL, *t = strtok_r(line, " ", &save);
	for (int i = 0; i < 3 && t; i++) /* offset, lex_filenum, ss_type */
		t = strtok_r(NULL, " ", &save);
	if (!t)
		return -EBADMSG;
	size_t nw = strtoul(t, NULL, 16);
	s->n_words = 0;
	for (size_t i = 0; i < nw; i++) {
		char *w = strtok_r(NULL, " ", &save);
		if (!w || !strtok_r(NULL, " ", &save)) /* lex_id */
			return -EBADMSG;
		if (s->n_words < IVR_N_ELEMENTS(s->words))
			lemma_word(w, s->words[s->n_words++]);
	}
	t = strtok_r(NULL, " ", &save);
	size_t np = t ? strtoul(t, NULL, 10) : 0;
	s->n_ptrs = 0;
	for (size_t i = 0; i < np; i++) {
		char *sym = strtok_r(NULL, " ", &save), *off = strtok_r(NULL, " ", &save);
		char *ps = strtok_r(NULL, " ", &save), *st = strtok_r(NULL, " ", &save);
		if (!sym || !off || !ps || !st)
			return -EBADMSG;
		if (s->n_ptrs < IVR_N_ELEMENTS(s->ptrs)) {
			unsigned v = (unsigned)strtoul(st, NULL, 16);
			snprintf(s->ptrs[s->n_ptrs].sym, sizeof(s->ptrs[0].sym), "%s", sym);
			s->ptrs[s->n_ptrs].offset = strtol(off, NULL, 10);
			s->ptrs[s->n_ptrs].pos = ps[0];
			s->ptrs[s->n_ptrs].src = v >> 8;
			s->ptrs[s->n_ptrs].dst = v & 0xff;
			s->n_ptrs++;
		}
	}
	return 0;
}

/* Every vocabulary lemma of index.@name: its first @senses synsets. */
static int scan_index(const char *dir, const char *name, char pos, int senses)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/index.%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "ivr-related: %s: %s\n", path, strerror(errno));
		return -ENOENT;
	}
	static char line[65536];
	static struct synset s, d;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		if (line[0] == ' ')
			continue; /* licence header */
		char *save = NULL, *lemma = strtok_r(line, " ", &save);
		char w[IVR_INTENT_WORD_MAX];
		lemma_word(lemma, w);
		if (!w[0] || !in_vocab(w) || skipped(w))
			continue;
		strtok_r(NULL, " ", &save); /* pos */
		size_t n_syn = strtoul(strtok_r(NULL, " ", &save), NULL, 10);
		size_t p_cnt = strtoul(strtok_r(NULL, " ", &save), NULL, 10);
		for (size_t i = 0; i < p_cnt; i++)
			strtok_r(NULL, " ", &save);
		strtok_r(NULL, " ", &save); /* sense_cnt */
		strtok_r(NULL, " ", &save); /* tagsense_cnt */
		for (size_t i = 0; i < n_syn && i < (size_t)senses && rc == 0; i++) {
			char *off = strtok_r(NULL, " ", &save);
			if (!off || (rc = read_synset(dir, pos, strtol(off, NULL, 10), &s)) < 0)
				break;
			unsigned self = 0;
			for (size_t k = 0; k < s.n_words && rc == 0; k++) {
				if (!strcmp(s.words[k], w))
					self = (unsigned)k + 1;
				else if (s.words[k][0])
					rc = relate(w, s.words[k]);
			}
			for (size_t p = 0; p < s.n_ptrs && rc == 0; p++) {
				if (strcmp(s.ptrs[p].sym, "+") || s.ptrs[p].src != self || !self)
					continue;
				if ((rc = read_synset(dir, s.ptrs[p].pos, s.ptrs[p].offset, &d)) <
				    0)
					break;
				unsigned t = s.ptrs[p].dst;
				if (t >= 1 && t <= d.n_words && d.words[t - 1][0])
					rc = relate(w, d.words[t - 1]);
			}
		}
	}
	fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = "/usr/share/wordnet";
	int senses = 2;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-d") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			senses = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: ivr-related [-s SENSES] [-d WORDNET_DIR] > "
					"asr/related.h\n");
			return 2;
		}
	}
	size_t cap = IVR_N_ELEMENTS(IVR_WORDLIST) + 4096;
	vocab = calloc(cap, sizeof(*vocab));
	stemmer = sb_stemmer_new("english", NULL);
	if (!vocab || !stemmer)
		return 1;
	for (size_t i = 0; i < IVR_N_ELEMENTS(IVR_WORDLIST); i++)
		add_vocab(IVR_WORDLIST[i].word);
	char w[IVR_INTENT_WORD_MAX];
	for (int g = 0; ivr_grammar_synonym(g, 0, w); g++)
		for (size_t k = 0; n_vocab < cap && ivr_grammar_synonym(g, k, w); k++)
			add_vocab(w);
	qsort(vocab, n_vocab, sizeof(*vocab), cmp_word);
	static const struct {
		const char *name;
		char pos;
	} POS[] = { { "noun", 'n' }, { "verb", 'v' }, { "adj", 'a' } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(POS); i++)
		if (scan_index(dir, POS[i].name, POS[i].pos, senses) < 0)
			return 1;
	qsort(pairs, n_pairs, sizeof(*pairs), cmp_pair);
	size_t n = 0;
	for (size_t i = 0; i < n_pairs; i++)
		if (!n || cmp_pair(&pairs[i], &pairs[n - 1]))
			pairs[n++] = pairs[i];
	printf("/* SPDX-License-Identifier: MIT */\n"
	       "/*\n"
	       " * asr/related.h - generated by tools/ivr-related.c (do not edit): %zu pairs of\n"
	       " * related words from WordNet 3.0 (synonyms in each word's first %d senses,\n"
	       " * derivational links) among the words the recogniser can output, as\n"
	       " * Porter2 stems, both directions, sorted.  Used by asr/intent.c.\n"
	       " */\n"
	       "#ifndef IVR_ASR_RELATED_H\n#define IVR_ASR_RELATED_H\n\n"
	       "static const char *const IVR_RELATED[][2] = {\n",
	       n, senses);
	for (size_t i = 0; i < n; i++)
		printf("\t{ \"%s\", \"%s\" },\n", pairs[i].a, pairs[i].b);
	printf("};\n\n#endif /* IVR_ASR_RELATED_H */\n");
	sb_stemmer_delete(stemmer);
	free(pairs);
	free(vocab);
	return 0;
}
#else
int main(void)
{
	fprintf(stderr, "ivr-related: built without speech recognition (-Dasr=disabled)\n");
	return 2;
}
#endif
