/* SPDX-License-Identifier: MIT */
/*
 * asr/lint.c - structure, contact-centre and dictionary checks of a flow.
 *
 * Graph checks walk the resolved model (flow.c keeps unknown targets as -1
 * with their position).  Menu depth counts menu levels on the shortest path
 * from start: answer/transfer/hangup nodes are leaves of a level, not levels.
 * The dictionary check reads the cmudict once, keeping only the words the
 * flow uses (a 3.5 MB file, 135k entries: a scan is ~30 ms, a hash of all of
 * it would be wasted work).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "asr/intent.h"
#include "asr/lint.h"
#include "dsp/wav.h"

#ifndef IVR_PS_MODELDIR
#define IVR_PS_MODELDIR "/usr/share/pocketsphinx/model"
#endif
#define DEFAULT_DICT IVR_PS_MODELDIR "/en-us/cmudict-en-us.dict"
#define WORDS_PER_S  2.5f

struct lint {
	const struct ivr_flow *f;
	ivr_lint_fn fn;
	void *ctx;
	int n;
};

__attribute__((format(printf, 3, 4))) static void report(struct lint *l, uint32_t line,
							 const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->n++;
	if (l->fn)
		l->fn(l->ctx, line, msg);
}

float ivr_lint_text_seconds(const char *text)
{
	return (float)ivr_intent_words(text, NULL, 0) / WORDS_PER_S;
}

static void check_refs(struct lint *l)
{
	const struct ivr_flow *f = l->f;
	if (f->start_node < 0)
		report(l, f->start_pos.line, "start node \"%s\" is not defined", f->start);
	if (f->agent && f->agent_node < 0)
		report(l, f->agent_pos.line, "agent node \"%s\" is not defined", f->agent);
	else if (f->agent_node < 0)
		report(l, 0, "no agent node: set \"agent:\" or define a node named \"agent\"");
	else if (f->nodes[f->agent_node].type != IVR_FLOW_TRANSFER)
		report(l, f->nodes[f->agent_node].pos.line, "agent node \"%s\" is not a transfer",
		       f->nodes[f->agent_node].name);
	for (size_t i = 0; i < f->n_nodes; i++) {
		const struct ivr_flow_node *n = &f->nodes[i];
		for (size_t j = 0; j < n->n_next; j++) {
			if (n->next[j].node < 0)
				report(l, n->next[j].pos.line,
				       "node \"%s\": next \"%s\" leads to unknown node \"%s\"",
				       n->name, n->next[j].label, n->next[j].target);
			else if (ivr_flow_find_intent(n, n->next[j].label) < 0) {
				int used = 0;
				for (size_t k = 0; k < n->n_dtmf; k++)
					used |= !strcmp(n->dtmf[k].target, n->next[j].label);
				if (!used)
					report(l, n->next[j].pos.line,
					       "node \"%s\": next \"%s\" is used by no intent or "
					       "key",
					       n->name, n->next[j].label);
			}
		}
		for (size_t j = 0; j < n->n_intents; j++)
			if (n->intents[j].node < 0)
				report(l, n->intents[j].pos.line,
				       "node \"%s\": intent \"%s\" leads nowhere (no next entry, "
				       "no node of that name)",
				       n->name, n->intents[j].name);
		for (size_t j = 0; j < n->n_dtmf; j++)
			if (n->dtmf[j].node < 0)
				report(l, n->dtmf[j].pos.line,
				       "node \"%s\": key %s -> \"%s\" is neither a next entry nor "
				       "a node",
				       n->name, n->dtmf[j].label, n->dtmf[j].target);
		if (n->goto_name && n->goto_node < 0)
			report(l, n->goto_pos.line, "node \"%s\": goto unknown node \"%s\"",
			       n->name, n->goto_name);
		if (n->type == IVR_FLOW_MENU && n->n_intents == 0 && n->n_dtmf == 0)
			report(l, n->pos.line, "menu node \"%s\" offers no options (dead end)",
			       n->name);
		if (n->type == IVR_FLOW_TRANSFER || n->type == IVR_FLOW_HANGUP) {
			if (n->n_intents || n->n_dtmf || n->n_next)
				report(l, n->pos.line,
				       "%s node \"%s\" ends the call: its options are never used",
				       ivr_flow_type_name(n->type), n->name);
		}
	}
}

/* Successors of node @i: intents, keys, goto. @return count written to @out. */
static size_t successors(const struct ivr_flow_node *n, int *out, size_t max)
{
	size_t k = 0;
	for (size_t j = 0; j < n->n_intents && k < max; j++)
		if (n->intents[j].node >= 0)
			out[k++] = n->intents[j].node;
	for (size_t j = 0; j < n->n_dtmf && k < max; j++)
		if (n->dtmf[j].node >= 0)
			out[k++] = n->dtmf[j].node;
	if (n->goto_node >= 0 && k < max)
		out[k++] = n->goto_node;
	return k;
}

static void check_graph(struct lint *l, uint32_t max_depth)
{
	const struct ivr_flow *f = l->f;
	size_t nn = f->n_nodes;
	if (f->start_node < 0)
		return;
	/*
	 * Menu levels: entering a menu costs one level, other nodes none.
	 * Bellman-Ford sweeps until nothing improves (at most 256 nodes, so
	 * O(nodes x edges) is nothing, and there is no queue to overflow).
	 */
	uint32_t *level = malloc(nn * sizeof(*level));
	int succ[IVR_FLOW_MAX_INTENTS + IVR_FLOW_N_KEYS + 1];
	if (!level) {
		l->n = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < nn; i++)
		level[i] = UINT32_MAX;
	level[f->start_node] = 1;
	for (int changed = 1; changed;) {
		changed = 0;
		for (size_t u = 0; u < nn; u++) {
			if (level[u] == UINT32_MAX)
				continue;
			size_t ns = successors(&f->nodes[u], succ, IVR_N_ELEMENTS(succ));
			for (size_t k = 0; k < ns; k++) {
				int v = succ[k];
				uint32_t lv =
					level[u] + (f->nodes[v].type == IVR_FLOW_MENU ? 1 : 0);
				if (lv < level[v]) {
					level[v] = lv;
					changed = 1;
				}
			}
		}
	}
	for (size_t i = 0; i < nn; i++) {
		const struct ivr_flow_node *n = &f->nodes[i];
		/* The agent node is reachable from everywhere by key 0 and escalation. */
		if (level[i] == UINT32_MAX && (int)i != f->agent_node)
			report(l, n->pos.line, "node \"%s\" is unreachable from \"%s\"", n->name,
			       f->start);
		else if (n->type == IVR_FLOW_MENU && level[i] != UINT32_MAX && level[i] > max_depth)
			report(l, n->pos.line, "menu \"%s\" is %u levels deep (at most %u)",
			       n->name, level[i], max_depth);
	}
	free(level);
}

static void check_menus(struct lint *l, uint32_t max_width, float max_prompt_s)
{
	const struct ivr_flow *f = l->f;
	int agent = f->agent_node;
	for (size_t i = 0; i < f->n_nodes; i++) {
		const struct ivr_flow_node *n = &f->nodes[i];
		/* Width: distinct destinations a caller chooses between, the agent aside. */
		int dest[IVR_FLOW_MAX_INTENTS + IVR_FLOW_N_KEYS + 1];
		size_t ns = successors(n, dest, IVR_N_ELEMENTS(dest));
		uint32_t width = 0;
		for (size_t k = 0; k < ns; k++) {
			int dup = dest[k] == agent;
			for (size_t j = 0; j < k; j++)
				dup |= dest[j] == dest[k];
			width += !dup;
		}
		if (n->type == IVR_FLOW_MENU && width > max_width)
			report(l, n->pos.line, "menu \"%s\" offers %u options (at most %u)",
			       n->name, width, max_width);
		if (n->type == IVR_FLOW_MENU && agent >= 0) {
			int key0 = n->key_node[0];
			if (key0 < 0)
				report(l, n->pos.line, "menu \"%s\": key 0 does not reach an agent",
				       n->name);
			else if (f->nodes[key0].type != IVR_FLOW_TRANSFER)
				report(l, n->pos.line,
				       "menu \"%s\": key 0 leads to \"%s\", not to an agent",
				       n->name, f->nodes[key0].name);
		}
		for (size_t j = 0; j < n->n_dtmf; j++)
			if (n->dtmf[j].label[0] == '*')
				report(l, n->dtmf[j].pos.line,
				       "node \"%s\": key * is reserved for \"repeat\"", n->name);
		/* Prompt length */
		if (n->prompt) {
			char path[4096];
			if (n->prompt[0] == '/')
				snprintf(path, sizeof(path), "%s", n->prompt);
			else
				snprintf(path, sizeof(path), "%s/%s", f->dir, n->prompt);
			struct stat st;
			struct ivr_audio a;
			char err[256];
			if (stat(path, &st) != 0) {
				report(l, n->prompt_pos.line,
				       "node \"%s\": prompt file %s not found", n->name, path);
			} else if (ivr_wav_read(&a, path, 0, err, sizeof(err)) < 0) {
				report(l, n->prompt_pos.line, "node \"%s\": prompt %s: %s", n->name,
				       path, err);
			} else {
				float s = a.rate_hz ? (float)a.n_samples / (float)a.rate_hz : 0;
				if (s > max_prompt_s)
					report(l, n->prompt_pos.line,
					       "node \"%s\": prompt lasts %.1f s (at most %.0f s)",
					       n->name, s, max_prompt_s);
				ivr_audio_free(&a);
			}
		} else if (n->prompt_text) {
			float s = ivr_lint_text_seconds(n->prompt_text);
			if (s > max_prompt_s)
				report(l, n->pos.line,
				       "node \"%s\": prompt_text would last about %.0f s (at most "
				       "%.0f s)",
				       n->name, s, max_prompt_s);
		}
	}
	/* A key that means "agent" or "main menu" somewhere must mean it everywhere. */
	for (int k = 0; k < IVR_FLOW_N_KEYS; k++) {
		int global = -1;
		for (size_t i = 0; i < f->n_nodes && global < 0; i++) {
			int t = f->nodes[i].key_node[k];
			if (t >= 0 && (t == agent || t == f->start_node))
				global = t;
		}
		if (global < 0)
			continue;
		for (size_t i = 0; i < f->n_nodes; i++) {
			const struct ivr_flow_node *n = &f->nodes[i];
			int t = n->key_node[k];
			if (t < 0 || t == global)
				continue;
			for (size_t j = 0; j < n->n_dtmf; j++)
				if (ivr_flow_key_index(n->dtmf[j].label[0]) == k)
					report(l, n->dtmf[j].pos.line,
					       "node \"%s\": key %s leads to \"%s\" but means "
					       "\"%s\" elsewhere",
					       n->name, n->dtmf[j].label, f->nodes[t].name,
					       f->nodes[global].name);
		}
	}
}

struct wordset {
	char (*w)[IVR_INTENT_WORD_MAX];
	uint32_t *line;
	char *found;
	size_t n, cap;
};

static int wordset_add(struct wordset *s, const char *w, uint32_t line)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->w[i], w))
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *nw = realloc(s->w, cap * sizeof(*s->w));
		if (!nw)
			return -ENOMEM;
		s->w = nw;
		void *nl = realloc(s->line, cap * sizeof(*s->line));
		if (!nl)
			return -ENOMEM;
		s->line = nl;
		s->cap = cap;
	}
	memcpy(s->w[s->n], w, IVR_INTENT_WORD_MAX);
	s->line[s->n++] = line;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void check_words(struct lint *l, const char *dict, int explicit_dict)
{
	const struct ivr_flow *f = l->f;
	struct wordset s = { 0 };
	char words[64][IVR_INTENT_WORD_MAX];
	for (size_t i = 0; i < f->n_nodes; i++)
		for (size_t j = 0; j < f->nodes[i].n_intents; j++) {
			const struct ivr_flow_intent *in = &f->nodes[i].intents[j];
			for (size_t p = 0; p < in->n_phrases; p++) {
				size_t n = IVR_MIN(ivr_intent_words(in->phrases[p], words, 64),
						   (size_t)64);
				for (size_t k = 0; k < n; k++)
					if (wordset_add(&s, words[k], in->pos.line) < 0)
						goto out;
			}
		}
	if (s.n == 0)
		goto out;
	FILE *fp = fopen(dict, "r");
	if (!fp) {
		if (explicit_dict)
			report(l, 0, "cannot read dictionary %s: words not checked", dict);
		goto out;
	}
	s.found = calloc(s.n, 1);
	/* Sorted copy for bsearch while scanning. */
	char(*sorted)[IVR_INTENT_WORD_MAX] = malloc(s.n * sizeof(*sorted));
	if (!s.found || !sorted) {
		free(sorted);
		fclose(fp);
		goto out;
	}
	memcpy(sorted, s.w, s.n * sizeof(*sorted));
	qsort(sorted, s.n, sizeof(*sorted), cmp_str);
	char *found_sorted = calloc(s.n, 1);
	char line[512];
	while (found_sorted && fgets(line, sizeof(line), fp)) {
		char key[IVR_INTENT_WORD_MAX];
		ivr_intent_dict_key(line, key);
		char(*hit)[IVR_INTENT_WORD_MAX] =
			bsearch(key, sorted, s.n, sizeof(*sorted), cmp_str);
		if (hit)
			found_sorted[hit - sorted] = 1;
	}
	fclose(fp);
	for (size_t i = 0; found_sorted && i < s.n; i++) {
		char(*hit)[IVR_INTENT_WORD_MAX] =
			bsearch(s.w[i], sorted, s.n, sizeof(*sorted), cmp_str);
		if (hit && !found_sorted[hit - sorted])
			report(l, s.line[i], "word \"%s\" is not in the pocketsphinx dictionary %s",
			       s.w[i], dict);
	}
	free(found_sorted);
	free(sorted);
out:
	free(s.w);
	free(s.line);
	free(s.found);
}

int ivr_flow_lint(const struct ivr_flow *flow, const struct ivr_lint_cfg *cfg, ivr_lint_fn fn,
		  void *ctx)
{
	if (!flow)
		return -EINVAL;
	struct ivr_lint_cfg c = cfg ? *cfg : (struct ivr_lint_cfg){ 0 };
	struct lint l = { .f = flow, .fn = fn, .ctx = ctx };
	check_refs(&l);
	check_graph(&l, c.max_depth ? c.max_depth : 3);
	if (l.n < 0)
		return l.n;
	check_menus(&l, c.max_width ? c.max_width : 5, c.max_prompt_s > 0 ? c.max_prompt_s : 30);
	if (!c.dict_path || c.dict_path[0])
		check_words(&l, c.dict_path ? c.dict_path : DEFAULT_DICT, c.dict_path != NULL);
	return l.n;
}
