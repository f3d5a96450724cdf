/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_flow.c - flow YAML parser: the DESIGN.md section 4 subset,
 * the extensions, name resolution, and bad input reported with FILE:LINE:COL.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "asr/flow.h"
#include "ivr_test.h"

static const char CONTRACT[] =
	"flow: bank\n"
	"start: main\n"
	"nodes:\n"
	"  main:\n"
	"    prompt: prompts/main.wav        # or prompt_text\n"
	"    dtmf: {\"1\": balance, \"2\": pay, \"0\": agent}\n"
	"    intents:\n"
	"      balance: [\"check my balance\", \"what is my balance\"]\n"
	"      pay: [\"pay my bill\", \"make a payment\"]\n"
	"      agent: [\"speak to an agent\", \"representative\"]\n"
	"    next: {balance: balance_node, pay: pay_node, agent: transfer}\n"
	"  balance_node: {type: answer, prompt_text: \"Your balance is ten dollars\"}\n"
	"  pay_node: {type: hangup, prompt_text: \"Bye\"}\n"
	"  transfer: {type: transfer, prompt_text: \"Hold on\", skill: billing, priority: 3}\n";

static struct ivr_flow *parse(const char *y, char *err, size_t n, int *rc)
{
	struct ivr_flow *f = NULL;
	*rc = ivr_flow_parse(&f, y, strlen(y), "t.yaml", err, n);
	return f;
}

IVR_TEST(contract_subset)
{
	char err[256];
	int rc;
	struct ivr_flow *f = parse(CONTRACT, err, sizeof(err), &rc);
	ivr_check_msg(rc == 0, "%s", err);
	if (!f)
		return IVR_TEST_FAIL;
	ivr_check(!strcmp(f->name, "bank"));
	ivr_check_int_eq(f->n_nodes, 4);
	ivr_check_int_eq(f->start_node, 0);
	ivr_check_int_eq(f->agent_node, -1); /* no node named "agent", no agent key */
	const struct ivr_flow_node *m = &f->nodes[0];
	ivr_check(!strcmp(m->prompt, "prompts/main.wav"));
	ivr_check_int_eq(m->prompt_pos.line, 5);
	ivr_check_int_eq(m->n_intents, 3);
	ivr_check_int_eq(m->intents[0].n_phrases, 2);
	ivr_check(!strcmp(m->intents[1].phrases[1], "make a payment"));
	ivr_check_int_eq(m->intents[0].pos.line, 8);
	ivr_check_int_eq(m->intents[0].pos.col, 7);
	/* intent -> next -> node; key -> intent -> next -> node */
	ivr_check_int_eq(m->intents[0].node, ivr_flow_find_node(f, "balance_node"));
	ivr_check_int_eq(m->key_node[1], ivr_flow_find_node(f, "balance_node"));
	ivr_check_int_eq(m->key_node[0], ivr_flow_find_node(f, "transfer"));
	ivr_check_int_eq(m->key_node[5], -1);
	ivr_check_near(m->threshold, 0.5, 1e-6);
	ivr_check_int_eq(m->max_retries, 2);
	ivr_check_int_eq(f->nodes[1].type, IVR_FLOW_ANSWER);
	ivr_check_int_eq(f->nodes[3].type, IVR_FLOW_TRANSFER);
	ivr_check(!strcmp(f->nodes[3].skill, "billing"));
	ivr_check_int_eq(f->nodes[3].priority, 3);
	ivr_check_int_eq(ivr_flow_find_intent(m, "pay"), 1);
	ivr_check_int_eq(ivr_flow_find_intent(m, "nope"), -ENOENT);
	ivr_flow_free(f);
	return IVR_TEST_RESULT();
}

IVR_TEST(extensions_and_defaults)
{
	const char *y = "flow: x\nstart: a\nagent: op\n"
			"defaults: {threshold: 0.7, max_retries: 3, no_input_ms: 4000}\n"
			"nodes:\n"
			"  a:\n"
			"    prompt_text: Say   Hello\n"
			"    sensitive: yes\n"
			"    threshold: 0.25\n"
			"    intents: {hi: \"  Hello   There \"}\n"
			"    dtmf: {1: hi, 0: op, '#': b}\n"
			"  b: {type: answer, prompt_text: t, goto: a, no_input_ms: 100}\n"
			"  op: {type: agent, prompt_text: t}\n";
	char err[256];
	int rc;
	struct ivr_flow *f = parse(y, err, sizeof(err), &rc);
	ivr_check_msg(rc == 0, "%s", err);
	if (!f)
		return IVR_TEST_FAIL;
	const struct ivr_flow_node *a = &f->nodes[0], *b = &f->nodes[1];
	ivr_check(a->sensitive);
	ivr_check_near(a->threshold, 0.25, 1e-6);
	ivr_check_near(b->threshold, 0.7, 1e-6);
	ivr_check_int_eq(a->max_retries, 3);
	ivr_check_int_eq(a->no_input_ms, 4000);
	ivr_check_int_eq(b->no_input_ms, 100);
	ivr_check(!strcmp(a->intents[0].phrases[0], "hello there"));
	ivr_check_int_eq(a->intents[0].node, -1); /* no next, no node "hi" */
	ivr_check_int_eq(a->key_node[ivr_flow_key_index('#')], 1);
	ivr_check_int_eq(a->key_node[0], 2);
	ivr_check_int_eq(f->agent_node, 2);
	ivr_check_int_eq(b->goto_node, 0);
	ivr_check_int_eq(f->nodes[2].type, IVR_FLOW_TRANSFER);
	ivr_flow_free(f);
	return IVR_TEST_RESULT();
}

struct bad_case {
	const char *yaml;
	const char *where; /* expected "t.yaml:L:C:" prefix */
	const char *what;  /* substring of the reason */
};

IVR_TEST(bad_input_is_located)
{
	static const struct bad_case cases[] = {
		{ "", "t.yaml:1:1:", "empty" },
		{ "flow: [x\n", "t.yaml:", "malformed YAML" },
		{ "- a\n- b\n", "t.yaml:1:1:", "mapping" },
		{ "flow: x\nstart: a\nnodes: {a: {prompt_text: t}}\ncolour: red\n",
		  "t.yaml:4:1:", "unknown top-level key \"colour\"" },
		{ "flow: x\nstart: a\nnodes:\n  a:\n    prompt_text: t\n    promt: p.wav\n",
		  "t.yaml:6:5:", "unknown key \"promt\"" },
		{ "flow: x\nstart: a\nnodes:\n  a:\n    prompt_text: t\n    intents: {}\n",
		  "t.yaml:6:14:", "empty" },
		{ "flow: x\nstart: a\nnodes:\n  a:\n    prompt_text: t\n    intents: {b: []}\n",
		  "t.yaml:6:18:", "no example phrases" },
		{ "flow: x\nstart: a\nnodes:\n  a:\n    prompt_text: t\n    intents: {b: [\"\"]}\n",
		  "t.yaml:6:19:", "empty phrase" },
		{ "flow: x\nstart: a\nnodes:\n  a:\n    prompt_text: t\n    dtmf: {12: b}\n",
		  "t.yaml:6:12:", "DTMF key \"12\"" },
		{ "flow: x\nstart: a\nnodes:\n  a: {prompt_text: t}\n  a: {prompt_text: u}\n",
		  "t.yaml:5:3:", "defined twice" },
		{ "flow: x\nstart: a\nnodes:\n  a: {}\n", "t.yaml:4:3:", "neither prompt" },
		{ "flow: x\nnodes:\n  a: {prompt_text: t}\n", "t.yaml:1:1:", "missing \"start\"" },
		{ "flow: x\nstart: a\nnodes:\n  a: {prompt_text: t, threshold: 2}\n",
		  "t.yaml:4:34:", "threshold" },
		{ "flow: x\nstart: a\nnodes:\n  a: {prompt_text: t, type: menus}\n",
		  "t.yaml:4:29:", "type \"menus\"" },
		{ "flow: x\nstart: a\nnodes:\n  a: {prompt_text: t, sensitive: maybe}\n",
		  "t.yaml:4:34:", "true or false" },
		{ "flow: x\nstart: a\nnodes:\n  a: {prompt_text: [t]}\n",
		  "t.yaml:4:20:", "single value" },
		{ "flow: x\nstart: a\nnodes:\n  a: {prompt_text: t, goto: a}\n",
		  "t.yaml:4:3:", "goto" },
		{ "flow: x\nstart: a\nnodes: {a: {prompt_text: t}}\n---\nflow: y\n",
		  "t.yaml:", "more than one" },
	};
	for (size_t i = 0; i < IVR_N_ELEMENTS(cases); i++) {
		char err[512];
		int rc;
		struct ivr_flow *f = parse(cases[i].yaml, err, sizeof(err), &rc);
		ivr_check_msg(rc == -EBADMSG && !f, "case %zu rc %d", i, rc);
		ivr_check_msg(!strncmp(err, cases[i].where, strlen(cases[i].where)),
			      "case %zu: \"%s\" does not start with %s", i, err, cases[i].where);
		ivr_check_msg(strstr(err, cases[i].what) != NULL, "case %zu: \"%s\" lacks \"%s\"",
			      i, err, cases[i].what);
		ivr_flow_free(f);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(load_missing_file_and_demo_flows)
{
	char err[512], p[512];
	struct ivr_flow *f;
	ivr_check_int_eq(ivr_flow_load(&f, "/nonexistent/x.yaml", err, sizeof(err)), -ENOENT);
	ivr_check(f == NULL && strstr(err, "/nonexistent/x.yaml"));
	const char *demos[] = { "grammars/bank.yaml", "grammars/hotline.yaml" };
	for (size_t i = 0; i < 2; i++) {
		int rc = ivr_flow_load(&f, ivr_test_srcpath(p, sizeof(p), demos[i]), err,
				       sizeof(err));
		ivr_check_msg(rc == 0, "%s", err);
		if (!f)
			continue;
		ivr_check(f->start_node >= 0 && f->agent_node >= 0);
		ivr_check_int_eq(f->nodes[f->agent_node].type, IVR_FLOW_TRANSFER);
		/* every reference in the demo flows resolves */
		for (size_t n = 0; n < f->n_nodes; n++) {
			for (size_t k = 0; k < f->nodes[n].n_intents; k++)
				ivr_check(f->nodes[n].intents[k].node >= 0);
			for (size_t k = 0; k < f->nodes[n].n_dtmf; k++)
				ivr_check(f->nodes[n].dtmf[k].node >= 0);
		}
		ivr_check(strstr(f->dir, "grammars") != NULL);
		ivr_flow_free(f);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(nul_and_binary_bytes)
{
	const char y[] = "flow: x\nstart: a\nnodes: {a: {prompt_text: \"t\\0u\"}}\n";
	char err[256];
	struct ivr_flow *f;
	ivr_check_int_eq(ivr_flow_parse(&f, y, sizeof(y) - 1, NULL, err, sizeof(err)), -EBADMSG);
	ivr_check(strstr(err, "<memory>:3:") != NULL);
	const unsigned char bin[] = { 0xff, 0xfe, 0x00, 0x01, 0x80 };
	ivr_check(ivr_flow_parse(&f, (const char *)bin, sizeof(bin), NULL, err, sizeof(err)) < 0);
	ivr_check(f == NULL);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(contract_subset);
	ivr_test_run(extensions_and_defaults);
	ivr_test_run(bad_input_is_located);
	ivr_test_run(load_missing_file_and_demo_flows);
	ivr_test_run(nul_and_binary_bytes);
	return ivr_test_summary();
}
