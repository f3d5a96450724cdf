/* SPDX-License-Identifier: MIT */
/*
 * asr/flow.c - flow YAML -> flow model (see flow.h).
 *
 * libyaml's document API (yaml_parser_load) gives a node graph where every
 * node keeps its start mark, which is what lets every message carry a line
 * and column.  The walk is schema-driven and bounded: the schema has a fixed
 * depth and every list has a limit (flow.h), so aliases cannot blow it up.
 * Errors stop at the first problem: a grammar author fixes one at a time,
 * and lint (asr/lint.c) is where "all findings" live.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "asr/flow.h"
#include "common/readall.h"

#define DEFAULT_THRESHOLD   0.5f
#define DEFAULT_MAX_RETRIES 2
#define DEFAULT_NO_INPUT_MS 5000

struct parse {
	yaml_document_t *doc;
	struct ivr_flow *flow;
	char *err;
	size_t err_len;
	int failed;
	/* flow-level defaults, applied to nodes that do not set their own */
	float threshold;
	uint32_t max_retries, no_input_ms;
	bool has_threshold, has_retries, has_no_input;
};

static const char KEYS[IVR_FLOW_N_KEYS] = { '0', '1', '2', '3', '4', '5', '6', '7',
					    '8', '9', '*', '#', 'A', 'B', 'C', 'D' };

int ivr_flow_key_index(char key)
{
	for (int i = 0; i < IVR_FLOW_N_KEYS; i++)
		if (KEYS[i] == key)
			return i;
	return -1;
}

const char *ivr_flow_type_name(enum ivr_flow_type type)
{
	switch (type) {
	case IVR_FLOW_MENU:
		return "menu";
	case IVR_FLOW_ANSWER:
		return "answer";
	case IVR_FLOW_TRANSFER:
		return "transfer";
	case IVR_FLOW_HANGUP:
		return "hangup";
	}
	return "?";
}

static struct ivr_flow_pos pos_of(const yaml_node_t *n)
{
	struct ivr_flow_pos p = { (uint32_t)n->start_mark.line + 1,
				  (uint32_t)n->start_mark.column + 1 };
	return p;
}

__attribute__((format(printf, 3, 4))) static int fail(struct parse *p, const yaml_node_t *at,
						      const char *fmt, ...)
{
	if (p->failed)
		return -EBADMSG;
	p->failed = 1;
	if (p->err && p->err_len) {
		int n = snprintf(p->err, p->err_len, "%s:%u:%u: ", p->flow->path,
				 at ? (unsigned)at->start_mark.line + 1 : 1,
				 at ? (unsigned)at->start_mark.column + 1 : 1);
		if (n >= 0 && (size_t)n < p->err_len) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EBADMSG;
}

static int oom(struct parse *p)
{
	if (!p->failed && p->err && p->err_len)
		snprintf(p->err, p->err_len, "%s: out of memory", p->flow->path);
	p->failed = 1;
	return -ENOMEM;
}

static yaml_node_t *node_at(struct parse *p, int idx)
{
	return yaml_document_get_node(p->doc, idx);
}

/* A scalar's text (NUL-terminated by libyaml), or NULL after reporting. */
static const char *scalar(struct parse *p, yaml_node_t *n, const char *what)
{
	if (!n || n->type != YAML_SCALAR_NODE) {
		fail(p, n, "%s must be a single value", what);
		return NULL;
	}
	if (n->data.scalar.length > IVR_FLOW_MAX_TEXT) {
		fail(p, n, "%s is longer than %d bytes", what, IVR_FLOW_MAX_TEXT);
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		fail(p, n, "%s contains a NUL byte", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static int dup_scalar(struct parse *p, yaml_node_t *n, const char *what, char **out)
{
	const char *s = scalar(p, n, what);
	if (!s)
		return -EBADMSG;
	if (!*s)
		return fail(p, n, "%s is empty", what);
	free(*out);
	*out = strdup(s);
	return *out ? 0 : oom(p);
}

static int get_float(struct parse *p, yaml_node_t *n, const char *what, float lo, float hi,
		     float *out)
{
	const char *s = scalar(p, n, what);
	if (!s)
		return -EBADMSG;
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= lo && v <= hi))
		return fail(p, n, "%s must be a number in %g..%g, not \"%s\"", what, lo, hi, s);
	*out = (float)v;
	return 0;
}

static int get_uint(struct parse *p, yaml_node_t *n, const char *what, long hi, uint32_t *out)
{
	const char *s = scalar(p, n, what);
	if (!s)
		return -EBADMSG;
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < 0 || v > hi)
		return fail(p, n, "%s must be an integer in 0..%ld, not \"%s\"", what, hi, s);
	*out = (uint32_t)v;
	return 0;
}

static int get_bool(struct parse *p, yaml_node_t *n, const char *what, bool *out)
{
	const char *s = scalar(p, n, what);
	if (!s)
		return -EBADMSG;
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
		*out = false;
	else
		return fail(p, n, "%s must be true or false, not \"%s\"", what, s);
	return 0;
}

static int expect_mapping(struct parse *p, yaml_node_t *n, const char *what)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return fail(p, n, "%s must be a mapping (key: value)", what);
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count > 4096)
		return fail(p, n, "%s has too many entries", what);
	return 0;
}

/*
 * YAML allows a key twice in a mapping (the last wins in most loaders); in a
 * flow that is always a mistake, and half-merged state is how parsers crash.
 * @return 1 (and reports) when the key at @pr already appeared in @map.
 */
static int repeated_key(struct parse *p, yaml_node_t *map, yaml_node_pair_t *pr)
{
	yaml_node_t *k = node_at(p, pr->key);
	if (!k || k->type != YAML_SCALAR_NODE)
		return 0;
	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
		yaml_node_t *qk = node_at(p, q->key);
		if (qk && qk->type == YAML_SCALAR_NODE &&
		    qk->data.scalar.length == k->data.scalar.length &&
		    !memcmp(qk->data.scalar.value, k->data.scalar.value, k->data.scalar.length)) {
			fail(p, k, "key \"%s\" appears twice", (const char *)k->data.scalar.value);
			return 1;
		}
	}
	return 0;
}

/* Phrases are matched case-insensitively: store them lower-case, blanks squeezed. */
static char *normalise_phrase(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isspace(c)) {
			if (o && out[o - 1] != ' ')
				out[o++] = ' ';
		} else {
			out[o++] = (char)tolower(c);
		}
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = 0;
	return out;
}

static int parse_edges(struct parse *p, yaml_node_t *map, const char *what, bool keys,
		       struct ivr_flow_edge **out, size_t *n_out)
{
	if (expect_mapping(p, map, what) < 0)
		return -EBADMSG;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	struct ivr_flow_edge *e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return oom(p);
	*out = e;
	*n_out = 0;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
		struct ivr_flow_edge *ed = &e[*n_out];
		const char *ks = scalar(p, k, keys ? "a DTMF key" : "an intent name");
		if (!ks)
			return -EBADMSG;
		if (keys && (strlen(ks) != 1 || ivr_flow_key_index(ks[0]) < 0))
			return fail(p, k, "DTMF key \"%s\" is not one of 0-9 * # A-D", ks);
		for (size_t i = 0; i < *n_out; i++)
			if (!strcmp(e[i].label, ks))
				return fail(p, k, "%s \"%s\" appears twice in %s",
					    keys ? "key" : "intent", ks, what);
		ed->node = -1;
		ed->pos = pos_of(k);
		(*n_out)++;
		ed->label = strdup(ks);
		if (!ed->label)
			return oom(p);
		if (dup_scalar(p, v, "a target", &ed->target) < 0)
			return -EBADMSG;
	}
	return 0;
}

static int parse_intents(struct parse *p, yaml_node_t *map, struct ivr_flow_node *node)
{
	if (expect_mapping(p, map, "intents") < 0)
		return -EBADMSG;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n == 0)
		return fail(p, map, "intents of node \"%s\" is empty", node->name);
	if (n > IVR_FLOW_MAX_INTENTS)
		return fail(p, map, "node \"%s\" has %zu intents (at most %d)", node->name, n,
			    IVR_FLOW_MAX_INTENTS);
	node->intents = calloc(n, sizeof(*node->intents));
	if (!node->intents)
		return oom(p);
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
		struct ivr_flow_intent *in = &node->intents[node->n_intents];
		const char *name = scalar(p, k, "an intent name");
		if (!name)
			return -EBADMSG;
		if (!*name)
			return fail(p, k, "empty intent name");
		for (size_t i = 0; i < node->n_intents; i++)
			if (!strcmp(node->intents[i].name, name))
				return fail(p, k, "intent \"%s\" appears twice", name);
		in->pos = pos_of(k);
		in->node = -1;
		node->n_intents++;
		in->name = strdup(name);
		if (!in->name)
			return oom(p);
		/* A single phrase may be written as a plain scalar. */
		if (v && v->type == YAML_SCALAR_NODE) {
			in->phrases = calloc(1, sizeof(char *));
			if (!in->phrases)
				return oom(p);
			const char *s = scalar(p, v, "a phrase");
			if (!s)
				return -EBADMSG;
			if (!(in->phrases[0] = normalise_phrase(s)))
				return oom(p);
			in->n_phrases = 1;
			if (!in->phrases[0][0])
				return fail(p, v, "intent \"%s\" has an empty phrase", name);
			continue;
		}
		if (!v || v->type != YAML_SEQUENCE_NODE)
			return fail(p, v, "intent \"%s\" must list example phrases", name);
		size_t np = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		if (np == 0)
			return fail(p, v, "intent \"%s\" has no example phrases", name);
		if (np > IVR_FLOW_MAX_PHRASES)
			return fail(p, v, "intent \"%s\" has %zu phrases (at most %d)", name, np,
				    IVR_FLOW_MAX_PHRASES);
		in->phrases = calloc(np, sizeof(char *));
		if (!in->phrases)
			return oom(p);
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *ph = node_at(p, *it);
			const char *s = scalar(p, ph, "a phrase");
			if (!s)
				return -EBADMSG;
			char *norm = normalise_phrase(s);
			if (!norm)
				return oom(p);
			in->phrases[in->n_phrases++] = norm;
			if (!norm[0])
				return fail(p, ph, "intent \"%s\" has an empty phrase", name);
		}
	}
	return 0;
}

static int parse_node(struct parse *p, yaml_node_t *k, yaml_node_t *map, struct ivr_flow_node *node)
{
	node->pos = pos_of(k);
	node->goto_node = -1;
	for (int i = 0; i < IVR_FLOW_N_KEYS; i++)
		node->key_node[i] = -1;
	node->threshold = p->threshold;
	node->max_retries = p->max_retries;
	node->no_input_ms = p->no_input_ms;
	if (dup_scalar(p, k, "a node name", &node->name) < 0)
		return -EBADMSG;
	if (expect_mapping(p, map, "a node") < 0)
		return -EBADMSG;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *kn = node_at(p, pr->key), *v = node_at(p, pr->value);
		const char *key = scalar(p, kn, "a node key");
		int r = 0;
		if (!key || repeated_key(p, map, pr))
			return -EBADMSG;
		if (!strcmp(key, "type")) {
			const char *t = scalar(p, v, "type");
			if (!t)
				return -EBADMSG;
			if (!strcmp(t, "menu"))
				node->type = IVR_FLOW_MENU;
			else if (!strcmp(t, "answer"))
				node->type = IVR_FLOW_ANSWER;
			else if (!strcmp(t, "transfer") || !strcmp(t, "agent"))
				node->type = IVR_FLOW_TRANSFER;
			else if (!strcmp(t, "hangup"))
				node->type = IVR_FLOW_HANGUP;
			else
				return fail(p, v,
					    "type \"%s\" is not menu, answer, transfer or hangup",
					    t);
		} else if (!strcmp(key, "prompt")) {
			node->prompt_pos = pos_of(v ? v : kn);
			r = dup_scalar(p, v, "prompt", &node->prompt);
		} else if (!strcmp(key, "prompt_text")) {
			r = dup_scalar(p, v, "prompt_text", &node->prompt_text);
		} else if (!strcmp(key, "reprompt_text")) {
			r = dup_scalar(p, v, "reprompt_text", &node->reprompt_text);
		} else if (!strcmp(key, "no_match_text")) {
			r = dup_scalar(p, v, "no_match_text", &node->no_match_text);
		} else if (!strcmp(key, "no_input_text")) {
			r = dup_scalar(p, v, "no_input_text", &node->no_input_text);
		} else if (!strcmp(key, "dtmf")) {
			r = parse_edges(p, v, "dtmf", true, &node->dtmf, &node->n_dtmf);
		} else if (!strcmp(key, "next")) {
			r = parse_edges(p, v, "next", false, &node->next, &node->n_next);
		} else if (!strcmp(key, "intents")) {
			r = parse_intents(p, v, node);
		} else if (!strcmp(key, "goto")) {
			node->goto_pos = pos_of(v ? v : kn);
			r = dup_scalar(p, v, "goto", &node->goto_name);
		} else if (!strcmp(key, "threshold")) {
			r = get_float(p, v, "threshold", 0, 1, &node->threshold);
		} else if (!strcmp(key, "max_retries")) {
			r = get_uint(p, v, "max_retries", 10, &node->max_retries);
		} else if (!strcmp(key, "no_input_ms")) {
			r = get_uint(p, v, "no_input_ms", 60000, &node->no_input_ms);
		} else if (!strcmp(key, "sensitive")) {
			r = get_bool(p, v, "sensitive", &node->sensitive);
		} else if (!strcmp(key, "skill")) {
			r = dup_scalar(p, v, "skill", &node->skill);
		} else if (!strcmp(key, "priority")) {
			uint32_t pr_v = 0;
			r = get_uint(p, v, "priority", 100, &pr_v);
			node->priority = (int)pr_v;
		} else if (!strcmp(key, "description")) {
			r = scalar(p, v, "description") ? 0 : -EBADMSG;
		} else {
			return fail(p, kn,
				    "unknown key \"%s\" in node \"%s\" (known: type, prompt, "
				    "prompt_text, reprompt_text, no_match_text, no_input_text, "
				    "dtmf, intents, next, goto, threshold, max_retries, "
				    "no_input_ms, sensitive, skill, priority, description)",
				    key, node->name);
		}
		if (r < 0)
			return r;
	}
	if (!node->prompt && !node->prompt_text)
		return fail(p, k, "node \"%s\" has neither prompt nor prompt_text", node->name);
	if (node->type != IVR_FLOW_ANSWER && node->goto_name)
		return fail(p, k, "node \"%s\": goto is only for answer nodes", node->name);
	return 0;
}

static int parse_defaults(struct parse *p, yaml_node_t *map)
{
	if (expect_mapping(p, map, "defaults") < 0)
		return -EBADMSG;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *kn = node_at(p, pr->key), *v = node_at(p, pr->value);
		const char *key = scalar(p, kn, "a defaults key");
		int r;
		if (!key || repeated_key(p, map, pr))
			return -EBADMSG;
		if (!strcmp(key, "threshold"))
			r = get_float(p, v, "threshold", 0, 1, &p->threshold);
		else if (!strcmp(key, "max_retries"))
			r = get_uint(p, v, "max_retries", 10, &p->max_retries);
		else if (!strcmp(key, "no_input_ms"))
			r = get_uint(p, v, "no_input_ms", 60000, &p->no_input_ms);
		else
			return fail(p, kn,
				    "unknown key \"%s\" in defaults (known: threshold, "
				    "max_retries, no_input_ms)",
				    key);
		if (r < 0)
			return r;
	}
	return 0;
}

static int find_edge(const struct ivr_flow_edge *e, size_t n, const char *label)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].label, label))
			return (int)i;
	return -1;
}

/* Resolve names to indices; unknown ones stay -1 for lint to report. */
static void resolve(struct ivr_flow *f)
{
	f->start_node = f->start ? ivr_flow_find_node(f, f->start) : -1;
	if (f->start_node < 0)
		f->start_node = -1;
	f->agent_node = ivr_flow_find_node(f, f->agent ? f->agent : "agent");
	if (f->agent_node < 0)
		f->agent_node = -1;
	for (size_t i = 0; i < f->n_nodes; i++) {
		struct ivr_flow_node *n = &f->nodes[i];
		for (size_t j = 0; j < n->n_next; j++) {
			int t = ivr_flow_find_node(f, n->next[j].target);
			n->next[j].node = t < 0 ? -1 : t;
		}
		/* An intent or key leads through the next map, else to a node of that name. */
		for (size_t j = 0; j < n->n_intents; j++) {
			int e = find_edge(n->next, n->n_next, n->intents[j].name);
			int t = e >= 0 ? n->next[e].node
				       : ivr_flow_find_node(f, n->intents[j].name);
			n->intents[j].node = t < 0 ? -1 : t;
		}
		for (size_t j = 0; j < n->n_dtmf; j++) {
			int e = find_edge(n->next, n->n_next, n->dtmf[j].target);
			int t = e >= 0 ? n->next[e].node : ivr_flow_find_node(f, n->dtmf[j].target);
			n->dtmf[j].node = t < 0 ? -1 : t;
			n->key_node[ivr_flow_key_index(n->dtmf[j].label[0])] = n->dtmf[j].node;
		}
		if (n->goto_name) {
			int t = ivr_flow_find_node(f, n->goto_name);
			n->goto_node = t < 0 ? -1 : t;
		}
	}
}

static int parse_root(struct parse *p, yaml_node_t *root)
{
	struct ivr_flow *f = p->flow;
	if (!root)
		return fail(p, NULL, "empty file (a flow needs flow, start and nodes)");
	if (expect_mapping(p, root, "a flow file") < 0)
		return -EBADMSG;
	yaml_node_t *nodes = NULL, *defaults = NULL;
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = node_at(p, pr->key), *v = node_at(p, pr->value);
		const char *key = scalar(p, kn, "a top-level key");
		int r = 0;
		if (!key || repeated_key(p, root, pr))
			return -EBADMSG;
		if (!strcmp(key, "flow")) {
			r = dup_scalar(p, v, "flow", &f->name);
		} else if (!strcmp(key, "start")) {
			f->start_pos = pos_of(v ? v : kn);
			r = dup_scalar(p, v, "start", &f->start);
		} else if (!strcmp(key, "agent")) {
			f->agent_pos = pos_of(v ? v : kn);
			r = dup_scalar(p, v, "agent", &f->agent);
		} else if (!strcmp(key, "nodes")) {
			nodes = v;
		} else if (!strcmp(key, "defaults")) {
			defaults = v;
		} else if (!strcmp(key, "description")) {
			r = scalar(p, v, "description") ? 0 : -EBADMSG;
		} else {
			return fail(p, kn,
				    "unknown top-level key \"%s\" (known: flow, start, agent, "
				    "defaults, nodes, description)",
				    key);
		}
		if (r < 0)
			return r;
	}
	if (!f->name)
		return fail(p, root, "missing \"flow\" (the flow's name)");
	if (!f->start)
		return fail(p, root, "missing \"start\" (the first node)");
	if (!nodes)
		return fail(p, root, "missing \"nodes\"");
	/* Defaults first, whatever their place in the file: nodes inherit them. */
	if (defaults && parse_defaults(p, defaults) < 0)
		return -EBADMSG;
	if (expect_mapping(p, nodes, "nodes") < 0)
		return -EBADMSG;
	size_t n = (size_t)(nodes->data.mapping.pairs.top - nodes->data.mapping.pairs.start);
	if (n == 0)
		return fail(p, nodes, "nodes is empty");
	if (n > IVR_FLOW_MAX_NODES)
		return fail(p, nodes, "%zu nodes (at most %d)", n, IVR_FLOW_MAX_NODES);
	f->nodes = calloc(n, sizeof(*f->nodes));
	if (!f->nodes)
		return oom(p);
	for (yaml_node_pair_t *pr = nodes->data.mapping.pairs.start;
	     pr < nodes->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = node_at(p, pr->key), *v = node_at(p, pr->value);
		const char *name = scalar(p, kn, "a node name");
		if (!name)
			return -EBADMSG;
		if (ivr_flow_find_node(f, name) >= 0)
			return fail(p, kn, "node \"%s\" is defined twice", name);
		struct ivr_flow_node *node = &f->nodes[f->n_nodes++];
		int r = parse_node(p, kn, v, node);
		if (r < 0)
			return r;
	}
	resolve(f);
	return 0;
}

static int set_path(struct ivr_flow *f, const char *path)
{
	f->path = strdup(path ? path : "<memory>");
	const char *slash = path ? strrchr(path, '/') : NULL;
	f->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	return f->path && f->dir ? 0 : -ENOMEM;
}

int ivr_flow_parse(struct ivr_flow **out, const char *yaml, size_t n_bytes, const char *path,
		   char *err, size_t err_len)
{
	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	if (!yaml && n_bytes)
		return -EINVAL;
	struct ivr_flow *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (set_path(f, path) < 0) {
		ivr_flow_free(f);
		return -ENOMEM;
	}
	struct parse p = { .flow = f,
			   .err = err,
			   .err_len = err_len,
			   .threshold = DEFAULT_THRESHOLD,
			   .max_retries = DEFAULT_MAX_RETRIES,
			   .no_input_ms = DEFAULT_NO_INPUT_MS };
	yaml_parser_t parser;
	yaml_document_t doc;
	int r;
	if (!yaml_parser_initialize(&parser)) {
		ivr_flow_free(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), n_bytes);
	if (!yaml_parser_load(&parser, &doc)) {
		if (err && err_len)
			snprintf(err, err_len, "%s:%zu:%zu: malformed YAML: %s%s%s", f->path,
				 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "parse error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		ivr_flow_free(f);
		return parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EBADMSG;
	}
	p.doc = &doc;
	r = parse_root(&p, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	/* A second document in the stream is a mistake worth reporting. */
	if (r == 0) {
		yaml_document_t extra;
		if (!yaml_parser_load(&parser, &extra)) {
			r = fail(&p, NULL, "malformed YAML after the first document");
		} else {
			if (yaml_document_get_root_node(&extra))
				r = fail(&p, NULL, "more than one YAML document");
			yaml_document_delete(&extra);
		}
	}
	yaml_parser_delete(&parser);
	if (r < 0) {
		ivr_flow_free(f);
		return r;
	}
	*out = f;
	return 0;
}

int ivr_flow_load(struct ivr_flow **out, const char *path, char *err, size_t err_len)
{
	*out = NULL;
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		int e = errno;
		if (err && err_len)
			snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
		return e == ENOENT ? -ENOENT : -EIO;
	}
	void *buf;
	size_t len;
	int rc = ivr_read_all(fp, 16u << 20, &buf, &len);
	fclose(fp);
	if (rc == -EFBIG) {
		if (err && err_len)
			snprintf(err, err_len, "%s: larger than 16 MB", path);
		return -EBADMSG;
	}
	if (rc == -ENOMEM)
		return -ENOMEM;
	if (rc < 0) {
		if (err && err_len)
			snprintf(err, err_len, "%s: read error", path);
		return -EIO;
	}
	int r = ivr_flow_parse(out, buf, len, path, err, err_len);
	free(buf);
	return r;
}

static void free_edges(struct ivr_flow_edge *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].label);
		free(e[i].target);
	}
	free(e);
}

void ivr_flow_free(struct ivr_flow *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_nodes; i++) {
		struct ivr_flow_node *n = &f->nodes[i];
		free(n->name);
		free(n->prompt);
		free(n->prompt_text);
		free(n->reprompt_text);
		free(n->no_match_text);
		free(n->no_input_text);
		free(n->goto_name);
		free(n->skill);
		free_edges(n->dtmf, n->n_dtmf);
		free_edges(n->next, n->n_next);
		for (size_t j = 0; j < n->n_intents; j++) {
			for (size_t k = 0; k < n->intents[j].n_phrases; k++)
				free(n->intents[j].phrases[k]);
			free(n->intents[j].phrases);
			free(n->intents[j].name);
		}
		free(n->intents);
	}
	free(f->nodes);
	free(f->name);
	free(f->path);
	free(f->dir);
	free(f->start);
	free(f->agent);
	free(f);
}

int ivr_flow_find_node(const struct ivr_flow *f, const char *name)
{
	for (size_t i = 0; i < f->n_nodes; i++)
		if (f->nodes[i].name && !strcmp(f->nodes[i].name, name))
			return (int)i;
	return -ENOENT;
}

int ivr_flow_find_intent(const struct ivr_flow_node *node, const char *name)
{
	for (size_t i = 0; i < node->n_intents; i++)
		if (!strcmp(node->intents[i].name, name))
			return (int)i;
	return -ENOENT;
}
