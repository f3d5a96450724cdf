/* SPDX-License-Identifier: MIT */
/*
 * asr/nbest.c - distinct word strings from a pocketsphinx lattice: one copy
 * of the lattice into arrays, a backward Viterbi pass (A* heuristic), a
 * forward sum (normaliser) and a best-first search that expands each (node,
 * word history) once.  See nbest.h.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pocketsphinx.h>
#include <sphinxbase/cmd_ln.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>

#include "asr/nbest.h"

#define MAX_RECS  65536 /* partial paths stored (24 bytes each) */
#define MAX_WORDS 64	/* words of the best text checked against the lattice */
#define NEG_INF	  (-HUGE_VAL)

enum kind { K_TEXT, K_SENT, K_FILLER }; /* a word, <s> or </s>, a filler */

struct node {
	ps_latnode_t *p;
	const char *word; /* baseword */
	uint64_t whash;	  /* of word (K_TEXT) */
	int32 lmwid;
	int sf;
	enum kind kind;
	uint32_t first, n_exit, n_entry;
	double h;     /* best score from here to the end (backward Viterbi) */
	double alpha; /* log sum of the scaled scores of all paths from the start */
};

struct link {
	uint32_t to;
	double w; /* acoustic + weighted LM score, natural log */
};

struct rec {
	int32_t node, prev;
	double g; /* score from the start */
	uint64_t hist;
};

struct heap_ent {
	double f;
	int32_t rec;
};

struct ws {
	struct node *n;
	struct link *l;
	size_t nn, nl;
	struct rec *r;
	size_t nr;
	struct heap_ent *hp;
	size_t nh;
	uint64_t *seen; /* (node, history) keys taken off the queue; 0 = empty */
	size_t seen_mask;
};

static enum kind word_kind(const char *w)
{
	if (!strcmp(w, "<s>") || !strcmp(w, "</s>"))
		return K_SENT;
	/* <sil>, [NOISE], [BREATH], ++garbage++: the model's fillers */
	if (w[0] == '<' || w[0] == '[' || (w[0] == '+' && w[1] == '+'))
		return K_FILLER;
	return K_TEXT;
}

static int cmp_node(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	if (x->sf != y->sf)
		return x->sf < y->sf ? -1 : 1;
	return (x->p > y->p) - (x->p < y->p);
}

struct pidx {
	ps_latnode_t *p;
	uint32_t i;
};

static int cmp_pidx(const void *a, const void *b)
{
	const struct pidx *x = a, *y = b;
	return (x->p > y->p) - (x->p < y->p);
}

static double logadd(double a, double b)
{
	if (a == NEG_INF)
		return b;
	if (b == NEG_INF)
		return a;
	return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

/* ---- the path store and its queue */

static void heap_push(struct ws *w, double f, int32_t rec)
{
	size_t i = w->nh++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (w->hp[up].f >= f)
			break;
		w->hp[i] = w->hp[up];
		i = up;
	}
	w->hp[i] = (struct heap_ent){ f, rec };
}

static int32_t heap_pop(struct ws *w)
{
	int32_t top = w->hp[0].rec;
	struct heap_ent last = w->hp[--w->nh];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= w->nh)
			break;
		if (c + 1 < w->nh && w->hp[c + 1].f > w->hp[c].f)
			c++;
		if (w->hp[c].f <= last.f)
			break;
		w->hp[i] = w->hp[c];
		i = c;
	}
	if (w->nh)
		w->hp[i] = last;
	return top;
}

static uint64_t seen_key(uint32_t node, uint64_t hist)
{
	uint64_t k = hist ^ ((uint64_t)(node + 1) * 0x9e3779b97f4a7c15ull);
	return k ? k : 1;
}

/* @return 1 when @k was already there, else inserts it and returns 0. */
static int seen_test_set(struct ws *w, uint64_t k, int insert)
{
	size_t i = (size_t)(k ^ (k >> 29)) & w->seen_mask;
	while (w->seen[i]) {
		if (w->seen[i] == k)
			return 1;
		i = (i + 1) & w->seen_mask;
	}
	if (insert)
		w->seen[i] = k;
	return 0;
}

/* ---- building */

/* Copy the lattice into w->n (topological: by start frame) and w->l.  @return 0, -ENOMEM, -EINVAL
 */
static int build(struct ws *w, ps_lattice_t *dag, ngram_model_t *lm, logmath_t *lmath)
{
	size_t nn = 0;
	for (ps_latnode_iter_t *it = ps_latnode_iter(dag); it; it = ps_latnode_iter_next(it))
		nn++;
	if (nn < 2)
		return -EINVAL;
	w->n = calloc(nn, sizeof(*w->n));
	struct pidx *px = calloc(nn, sizeof(*px));
	if (!w->n || !px) {
		free(px);
		return -ENOMEM;
	}
	size_t i = 0, nl = 0;
	for (ps_latnode_iter_t *it = ps_latnode_iter(dag); it && i < nn;
	     it = ps_latnode_iter_next(it), i++) {
		struct node *n = &w->n[i];
		n->p = ps_latnode_iter_node(it);
		int16 fef, lef;
		n->sf = ps_latnode_times(n->p, &fef, &lef);
		const char *bw = ps_latnode_baseword(dag, n->p);
		n->word = bw ? bw : "";
		n->kind = word_kind(n->word);
		n->whash = ivr_fnv1a(IVR_FNV1A_INIT, n->word);
		n->lmwid = lm && n->kind != K_FILLER ? ngram_wid(lm, n->word) : -1;
		for (ps_latlink_iter_t *x = ps_latnode_exits(n->p); x; x = ps_latlink_iter_next(x))
			nl++;
	}
	w->nn = nn = i;
	qsort(w->n, nn, sizeof(*w->n), cmp_node);
	for (i = 0; i < nn; i++)
		px[i] = (struct pidx){ w->n[i].p, (uint32_t)i };
	qsort(px, nn, sizeof(*px), cmp_pidx);
	w->l = calloc(nl ? nl : 1, sizeof(*w->l));
	if (!w->l) {
		free(px);
		return -ENOMEM;
	}
	size_t k = 0;
	for (i = 0; i < nn; i++) {
		struct node *n = &w->n[i];
		n->first = (uint32_t)k;
		for (ps_latlink_iter_t *x = ps_latnode_exits(n->p); x && k < nl;
		     x = ps_latlink_iter_next(x)) {
			ps_latlink_t *l = ps_latlink_iter_link(x);
			ps_latnode_t *src = NULL;
			struct pidx key = { ps_latlink_nodes(l, &src), 0 };
			struct pidx *hit = bsearch(&key, px, nn, sizeof(*px), cmp_pidx);
			/* a DAG in start-frame order: links only go forward */
			if (!hit || hit->i <= i)
				continue;
			struct node *to = &w->n[hit->i];
			int32 ascr = 0;
			(void)ps_latlink_prob(dag, l, &ascr);
			/* the link carries the acoustic score of its source word */
			double s = logmath_log_to_ln(lmath, ascr);
			if (lm && to->kind != K_FILLER) {
				/* across a filler the history is unknown: unigram */
				int32 nu, hist = n->lmwid;
				int32 ls = n->kind != K_FILLER
						   ? ngram_ng_score(lm, to->lmwid, &hist, 1, &nu)
						   : ngram_ng_score(lm, to->lmwid, NULL, 0, &nu);
				s += logmath_log_to_ln(lmath, ls);
			}
			w->l[k++] = (struct link){ (uint32_t)hit->i, s };
			to->n_entry++;
		}
		n->n_exit = (uint32_t)k - n->first;
	}
	w->nl = k;
	free(px);
	return 0;
}

/* Start: the earliest node nothing enters; end: the latest node that exits nowhere. */
static void ends(const struct ws *w, size_t *start, size_t *end)
{
	*start = *end = SIZE_MAX;
	for (size_t i = 0; i < w->nn; i++) {
		if (w->n[i].n_entry == 0 && *start == SIZE_MAX)
			*start = i;
		if (w->n[i].n_exit == 0)
			*end = i;
	}
}

/* Append the words of the path ending in record @ri to @text. */
static void path_text(const struct ws *w, int32_t ri, char *text, size_t len)
{
	const char *words[MAX_WORDS * 4];
	size_t nw = 0;
	for (int32_t r = ri; r >= 0 && nw < IVR_N_ELEMENTS(words); r = w->r[r].prev) {
		const struct node *n = &w->n[w->r[r].node];
		if (n->kind == K_TEXT)
			words[nw++] = n->word;
	}
	size_t o = 0;
	text[0] = 0;
	while (nw-- > 0 && o + 1 < len) {
		int m = snprintf(text + o, len - o, "%s%s", o ? " " : "", words[nw]);
		if (m < 0)
			break;
		o += (size_t)m;
	}
	if (o >= len)
		text[len - 1] = 0;
}

/*
 * Log of the summed scaled scores of all paths spelling exactly @text (words
 * separated by single spaces), or NEG_INF when the lattice has none: the
 * string's share of the lattice is exp(this - normaliser).  One pass over the
 * links per word position.
 */
static double text_logsum(const struct ws *w, size_t start, size_t end, double temp,
			  const char *text)
{
	char tmp[IVR_NBEST_TEXT_MAX];
	const char *bw[MAX_WORDS];
	size_t nbw = 0;
	snprintf(tmp, sizeof(tmp), "%s", text);
	char *save = NULL;
	for (char *t = strtok_r(tmp, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (nbw == MAX_WORDS)
			return NEG_INF;
		bw[nbw++] = t;
	}
	size_t stride = nbw + 1;
	double *dp = malloc(w->nn * stride * sizeof(*dp));
	if (!dp)
		return NEG_INF;
	for (size_t i = 0; i < w->nn * stride; i++)
		dp[i] = NEG_INF;
	dp[start * stride] = 0;
	for (size_t i = start; i < w->nn; i++)
		for (size_t k = 0; k <= nbw; k++) {
			double g = dp[i * stride + k];
			if (g == NEG_INF)
				continue;
			for (uint32_t e = 0; e < w->n[i].n_exit; e++) {
				const struct link *l = &w->l[w->n[i].first + e];
				const struct node *to = &w->n[l->to];
				size_t k2 = k;
				if (to->kind == K_TEXT) {
					if (k == nbw || strcmp(to->word, bw[k]))
						continue;
					k2 = k + 1;
				}
				double *d = &dp[l->to * stride + k2];
				*d = logadd(*d, g + l->w / temp);
			}
		}
	double s = dp[end * stride + nbw];
	free(dp);
	return s;
}

static int cmp_alt(const void *a, const void *b)
{
	const struct ivr_nbest_alt *x = a, *y = b;
	return (x->posterior < y->posterior) - (x->posterior > y->posterior);
}

static void ws_free(struct ws *w)
{
	free(w->n);
	free(w->l);
	free(w->r);
	free(w->hp);
	free(w->seen);
}

/* The search proper; @return entries written to @out (>= 1). */
static int search(struct ws *w, size_t start, size_t end, double temp, const char *best,
		  struct ivr_nbest_alt *out, size_t max, struct ivr_nbest_stats *st)
{
	/* backward Viterbi (heuristic) and forward sum (normaliser), nodes in topological order */
	for (size_t i = 0; i < w->nn; i++) {
		w->n[i].h = i == end ? 0 : NEG_INF;
		w->n[i].alpha = i == start ? 0 : NEG_INF;
	}
	for (size_t i = w->nn; i-- > 0;)
		for (uint32_t e = 0; e < w->n[i].n_exit; e++) {
			const struct link *l = &w->l[w->n[i].first + e];
			if (w->n[l->to].h != NEG_INF && w->n[l->to].h + l->w > w->n[i].h)
				w->n[i].h = w->n[l->to].h + l->w;
		}
	for (size_t i = 0; i < w->nn; i++) {
		if (w->n[i].alpha == NEG_INF)
			continue;
		for (uint32_t e = 0; e < w->n[i].n_exit; e++) {
			const struct link *l = &w->l[w->n[i].first + e];
			w->n[l->to].alpha = logadd(w->n[l->to].alpha, w->n[i].alpha + l->w / temp);
		}
	}
	double z = w->n[end].alpha;
	if (w->n[start].h == NEG_INF || z == NEG_INF)
		return -EINVAL;

	w->r = malloc(MAX_RECS * sizeof(*w->r));
	w->hp = malloc(MAX_RECS * sizeof(*w->hp));
	w->seen_mask = 16383;
	w->seen = calloc(w->seen_mask + 1, sizeof(*w->seen));
	if (!w->r || !w->hp || !w->seen)
		return -ENOMEM;
	w->r[0] = (struct rec){ (int32_t)start, -1, 0, 0 };
	w->nr = 1;
	heap_push(w, w->n[start].h, 0);

	/* out[0] is reserved for @best; found strings go to out[1..] (or are best itself) */
	double p_best = -1; /* < 0: not found yet */
	size_t n_out = 1;
	uint32_t pops = 0, found = 0;
	int capped = 0;
	while (w->nh && n_out < max + (p_best < 0)) {
		if (pops >= IVR_NBEST_MAX_POPS) {
			capped = 1;
			break;
		}
		int32_t ri = heap_pop(w);
		struct rec cur = w->r[ri];
		if (seen_test_set(w, seen_key((uint32_t)cur.node, cur.hist), 1))
			continue;
		pops++;
		if ((size_t)cur.node == end) {
			char text[IVR_NBEST_TEXT_MAX];
			path_text(w, ri, text, sizeof(text));
			found++;
			if (!strcmp(text, best)) {
				p_best = 0; /* scored below */
			} else if (text[0] && n_out < max) {
				snprintf(out[n_out].text, sizeof(out[n_out].text), "%s", text);
				out[n_out++].posterior = 0;
			}
			continue;
		}
		const struct node *n = &w->n[cur.node];
		for (uint32_t e = 0; e < n->n_exit; e++) {
			const struct link *l = &w->l[n->first + e];
			const struct node *to = &w->n[l->to];
			if (to->h == NEG_INF)
				continue;
			uint64_t hist = to->kind == K_TEXT ? cur.hist * IVR_FNV1A_PRIME + to->whash
							   : cur.hist;
			if (seen_test_set(w, seen_key(l->to, hist), 0))
				continue;
			if (w->nr == MAX_RECS) {
				capped = 1;
				break;
			}
			w->r[w->nr] = (struct rec){ (int32_t)l->to, ri, cur.g + l->w, hist };
			heap_push(w, cur.g + l->w + to->h, (int32_t)w->nr);
			w->nr++;
		}
	}
	/* every path of a string counts, not only its best segmentation */
	double lb = text_logsum(w, start, end, temp, best);
	int in_lattice = lb != NEG_INF;
	for (size_t i = 1; i < n_out; i++) {
		double la = text_logsum(w, start, end, temp, out[i].text);
		out[i].posterior = la == NEG_INF ? 0 : (float)exp(la - z);
	}
	qsort(out + 1, n_out - 1, sizeof(*out), cmp_alt);
	if (in_lattice) {
		p_best = exp(lb - z);
	} else {
		/* the decoder's text has no path here (it should): the mass not listed */
		double rest = 1;
		for (size_t i = 1; i < n_out; i++)
			rest -= out[i].posterior;
		p_best = rest > 0 ? rest : 0;
	}
	out[0].posterior = (float)IVR_CLAMP(p_best, 0.0, 1.0);
	for (size_t i = 1; i < n_out; i++)
		if (out[i].posterior > out[0].posterior)
			out[i].posterior = out[0].posterior;
	if (st) {
		st->pops = pops;
		st->found = found;
		st->capped = capped;
		st->best_in_lattice = in_lattice;
	}
	return (int)n_out;
}

int ivr_nbest_list(struct ps_decoder_s *ps, const char *best, struct ivr_nbest_alt *out, size_t max,
		   struct ivr_nbest_stats *st)
{
	if (!out || !max)
		return -EINVAL;
	if (st)
		memset(st, 0, sizeof(*st));
	if (!best || !best[0])
		return 0;
	/* the text as the search spells it: words separated by one space */
	char norm[IVR_NBEST_TEXT_MAX];
	size_t o = 0;
	for (const char *s = best; *s && o + 1 < sizeof(norm); s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n') {
			if (o && norm[o - 1] != ' ')
				norm[o++] = ' ';
		} else {
			norm[o++] = *s;
		}
	}
	while (o && norm[o - 1] == ' ')
		o--;
	norm[o] = 0;
	snprintf(out[0].text, sizeof(out[0].text), "%s", norm);
	out[0].posterior = 1;
	ps_lattice_t *dag = ps ? ps_get_lattice(ps) : NULL;
	if (!dag || max == 1)
		return 1;
	const char *search_name = ps_get_search(ps);
	ngram_model_t *lm = search_name ? ps_get_lm(ps, search_name) : NULL;
	logmath_t *lmath = ps_lattice_get_logmath(dag);
	/* pocketsphinx's confidence divides acoustic scores by -ascale (default 20) */
	cmd_ln_t *cfg = ps_get_config(ps);
	double temp = cfg && cmd_ln_exists_r(cfg, "-ascale") ? cmd_ln_float32_r(cfg, "-ascale") : 0;
	if (!(temp > 0))
		temp = 20;

	struct ws w = { 0 };
	int rc = build(&w, dag, lm, lmath);
	size_t start = SIZE_MAX, end = SIZE_MAX;
	if (rc == 0)
		ends(&w, &start, &end);
	if (st) {
		st->nodes = (uint32_t)w.nn;
		st->links = (uint32_t)w.nl;
	}
	if (rc == 0 && (start == SIZE_MAX || end == SIZE_MAX || start >= end))
		rc = -EINVAL;
	if (rc == 0)
		rc = search(&w, start, end, temp, norm, out, max, st);
	ws_free(&w);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		/* a lattice without a usable path: the best entry alone */
		out[0].posterior = 1;
		return 1;
	}
	return rc;
}
