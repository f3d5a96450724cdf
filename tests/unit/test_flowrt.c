/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_flowrt.c - the flow runtime's rules, one case per rule,
 * driven by scripted inputs (digits, speech start/end, recognition results,
 * prompt completions, time) against the demo bank flow (grammars/bank.yaml,
 * parsed from the source tree) and small flows written here.  Events the
 * runtime publishes are also run through the real encoder and JSON decoder
 * (engine/events.h) where masking or the hand-off record matter.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "asr/flow.h"
#include "engine/events.h"
#include "engine/flowrt.h"
#include "ivr_test.h"

static struct ivr_flow *load_bank(void)
{
	char err[256], p[512];
	struct ivr_flow *f = NULL;
	if (ivr_flow_load(&f, ivr_test_srcpath(p, sizeof(p), "grammars/bank.yaml"), err,
			  sizeof(err)) < 0) {
		fprintf(stderr, "  %s\n", err);
		return NULL;
	}
	return f;
}

static struct ivr_flow *parse(const char *yaml)
{
	char err[256];
	struct ivr_flow *f = NULL;
	if (ivr_flow_parse(&f, yaml, strlen(yaml), NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "  parse: %s\n", err);
		return NULL;
	}
	return f;
}

/* Small flow: complaint intent, answer without goto (hangs up), retries 1. */
static const char *const test_yaml =
	"flow: t\n"
	"start: menu\n"
	"agent: agent\n"
	"defaults: {max_retries: 1, no_input_ms: 3000, threshold: 0.6}\n"
	"nodes:\n"
	"  menu:\n"
	"    prompt_text: Say something.\n"
	"    no_match_text: Sorry, I did not get that.\n"
	"    dtmf: {\"1\": info, \"0\": agent}\n"
	"    intents:\n"
	"      info: [\"information\"]\n"
	"      complaint: [\"i want to complain\", \"complaint\"]\n"
	"    next: {info: info, complaint: complaints}\n"
	"  info:\n"
	"    type: answer\n"
	"    prompt_text: Here is the information.\n"
	"  complaints:\n"
	"    type: transfer\n"
	"    skill: complaints\n"
	"    priority: 7\n"
	"    prompt_text: Connecting you.\n"
	"  agent:\n"
	"    type: transfer\n"
	"    skill: general\n"
	"    priority: 5\n"
	"    prompt_text: Please hold.\n";

/* ---- helpers over an action list ---- */

static int count_type(const struct ivr_flowrt_out *o, uint8_t type)
{
	int n = 0;
	for (uint32_t i = 0; i < o->n; i++)
		n += o->a[i].type == type;
	return n;
}

static const struct ivr_flowrt_action *find(const struct ivr_flowrt_out *o, uint8_t type)
{
	for (uint32_t i = 0; i < o->n; i++)
		if (o->a[i].type == type)
			return &o->a[i];
	return NULL;
}

static int index_of(const struct ivr_flowrt_out *o, uint8_t type)
{
	for (uint32_t i = 0; i < o->n; i++)
		if (o->a[i].type == type)
			return (int)i;
	return -1;
}

static const struct ivr_event *find_ev(const struct ivr_flowrt_out *o, uint8_t ev_type, int nth)
{
	for (uint32_t i = 0; i < o->n; i++)
		if (o->a[i].type == IVR_FLOWRT_PUBLISH && o->a[i].ev.type == ev_type)
			if (nth-- == 0)
				return &o->a[i].ev;
	return NULL;
}

static const char *entered(const struct ivr_flowrt_out *o)
{
	const struct ivr_event *e = find_ev(o, IVR_EVENT_NODE_ENTER, 0);
	return e ? e->u.node.node : NULL;
}

static uint32_t last_play_id(const struct ivr_flowrt_out *o)
{
	uint32_t id = 0;
	for (uint32_t i = 0; i < o->n; i++)
		if (o->a[i].type == IVR_FLOWRT_PLAY)
			id = o->a[i].id;
	return id;
}

static uint32_t reco_turn(const struct ivr_flowrt_out *o)
{
	const struct ivr_flowrt_action *a = find(o, IVR_FLOWRT_RECO_START);
	return a ? a->id : 0;
}

/* Encode @ev and render it as JSON, as ivr-events would print it. */
static int to_json(const struct ivr_event *ev, char *json, size_t cap)
{
	uint8_t buf[8192];
	int n = ivr_event_encode(buf, sizeof(buf), ev);
	if (n < 0)
		return n;
	struct ivr_shmring_rec rec = {
		.seq = 1, .call_id = 42, .len = (uint32_t)n, .type = ev->type
	};
	return ivr_event_to_json(&rec, buf, json, cap);
}

static int node_idx(const struct ivr_flow *f, const char *name)
{
	return ivr_flow_find_node(f, name);
}

/* A runtime for @f (default cfg), started at @now_ms; its first actions are in @o. */
static struct ivr_flowrt *started(struct ivr_flow *f, uint64_t now_ms, struct ivr_flowrt_out *o)
{
	struct ivr_flowrt *rt = ivr_flowrt_new(&(struct ivr_flowrt_cfg){ .flow = f });
	(void)ivr_flowrt_start(rt, now_ms, o);
	return rt;
}

/*
 * Most cases begin the same way: declare the bank flow f, the action list o and
 * rt, a runtime started at @now_ms (its first actions in o); without the bank
 * file the case is skipped.  A macro because it declares the case's variables.
 */
#define BANK_STARTED(now_ms)                                                                       \
	struct ivr_flow *f = load_bank();                                                          \
	if (!f)                                                                                    \
		return IVR_TEST_SKIP;                                                              \
	struct ivr_flowrt_out o;                                                                   \
	struct ivr_flowrt *rt = started(f, now_ms, &o)

/* End of a case: free @rt and @f; the case's checks decide pass or fail. */
static int finish(struct ivr_flowrt *rt, struct ivr_flow *f)
{
	ivr_flowrt_free(rt);
	ivr_flow_free(f);
	return IVR_TEST_PASS;
}

/* ---- cases ---- */

IVR_TEST(test_start_plays_and_arms_recognition)
{
	struct ivr_flow *f = load_bank();
	if (!f)
		return IVR_TEST_SKIP;
	struct ivr_flowrt *rt = ivr_flowrt_new(&(struct ivr_flowrt_cfg){ .flow = f });
	ivr_check(rt != NULL);
	struct ivr_flowrt_out o;
	ivr_check(ivr_flowrt_start(rt, 1000, &o) > 0);
	ivr_check(entered(&o) && !strcmp(entered(&o), "main"));
	ivr_check(!strcmp(find_ev(&o, IVR_EVENT_NODE_ENTER, 0)->u.node.reason, "start"));
	const struct ivr_flowrt_action *p = find(&o, IVR_FLOWRT_PLAY);
	ivr_check(p && p->node == node_idx(f, "main") && p->prompt == IVR_FLOWRT_PROMPT_MAIN);
	const struct ivr_flowrt_action *r = find(&o, IVR_FLOWRT_RECO_START);
	ivr_check(r && r->node == node_idx(f, "main"));
	/* enter is published before the prompt starts */
	ivr_check(index_of(&o, IVR_FLOWRT_PUBLISH) < index_of(&o, IVR_FLOWRT_PLAY));
	ivr_check_int_eq(o.dropped, 0);
	ivr_check_int_eq(ivr_flowrt_start(rt, 1000, &o), -EALREADY);
	return finish(rt, f);
}

IVR_TEST(test_digit_barges_in_and_routes)
{
	BANK_STARTED(0);
	/* "1" mid-prompt: dtmf published, prompt stopped, recognition off, main -> balance */
	ivr_check(ivr_flowrt_digit(rt, '1', IVR_EVENT_DTMF_INBAND, 80, 1500, &o) > 0);
	const struct ivr_event *d = find_ev(&o, IVR_EVENT_DTMF, 0);
	ivr_check(d && d->u.dtmf.digit == '1' && !d->u.dtmf.sensitive &&
		  d->u.dtmf.duration_ms == 80 && d->u.dtmf.source == IVR_EVENT_DTMF_INBAND);
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_STOP_PROMPT), 1);
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_RECO_STOP), 1);
	ivr_check(index_of(&o, IVR_FLOWRT_STOP_PROMPT) < index_of(&o, IVR_FLOWRT_PLAY));
	const struct ivr_event *x = find_ev(&o, IVR_EVENT_NODE_EXIT, 0);
	ivr_check(x && !strcmp(x->u.node.node, "main") && !strcmp(x->u.node.reason, "dtmf"));
	ivr_check(entered(&o) && !strcmp(entered(&o), "balance"));
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_RECO_START), 0); /* answers do not listen */
	struct ivr_flowrt_stats st;
	ivr_flowrt_get_stats(rt, &st);
	ivr_check_int_eq(st.barge_ins, 1);
	ivr_check_int_eq(st.node, node_idx(f, "balance"));
	/* the answer ends -> goto anything_else */
	uint32_t id = last_play_id(&o);
	ivr_check_int_eq(ivr_flowrt_prompt_done(rt, id + 7, 9000, &o), 0); /* stale id */
	ivr_check(ivr_flowrt_prompt_done(rt, id, 9000, &o) > 0);
	x = find_ev(&o, IVR_EVENT_NODE_EXIT, 0);
	ivr_check(x && !strcmp(x->u.node.node, "balance") && !strcmp(x->u.node.reason, "done"));
	ivr_check(entered(&o) && !strcmp(entered(&o), "anything_else"));
	/* "9" -> back to main (self-service returns to a node) */
	ivr_check(ivr_flowrt_digit(rt, '9', IVR_EVENT_DTMF_RFC4733, 100, 10000, &o) > 0);
	ivr_check(entered(&o) && !strcmp(entered(&o), "main"));
	return finish(rt, f);
}

IVR_TEST(test_speech_barge_in_and_intent)
{
	BANK_STARTED(0);
	uint32_t turn = reco_turn(&o);
	ivr_check(ivr_flowrt_speech_start(rt, 2000, &o) > 0);
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_STOP_PROMPT), 1);
	const struct ivr_event *s = find_ev(&o, IVR_EVENT_SPEECH_START, 0);
	ivr_check(s && s->u.speech.offset_ms == 2000);
	(void)ivr_flowrt_speech_end(rt, 3500, &o);
	ivr_check(find_ev(&o, IVR_EVENT_SPEECH_END, 0) != NULL);
	int bal = ivr_flow_find_intent(&f->nodes[node_idx(f, "main")], "balance");
	struct ivr_event_nbest nb[2] = { { "check my balance", "balance", 0.8f },
					 { "check my balance", "cards", 0.1f } };
	struct ivr_flowrt_result res = { .turn = turn,
					 .text = "check my balance",
					 .intent = bal,
					 .confidence = 0.8f,
					 .nbest = nb,
					 .n_nbest = 2 };
	ivr_check(ivr_flowrt_result(rt, &res, 3900, &o) > 0);
	const struct ivr_event *r = find_ev(&o, IVR_EVENT_RECOGNITION, 0);
	ivr_check(r && !strcmp(r->u.recognition.intent, "balance") &&
		  !strcmp(r->u.recognition.text, "check my balance") &&
		  r->u.recognition.n_nbest == 2);
	/* the n-best reaches the event as given, runner-up intent included */
	ivr_check(r && r->u.recognition.nbest &&
		  !strcmp(r->u.recognition.nbest[1].intent, "cards"));
	ivr_check_near(r->u.recognition.confidence, 0.8, 1e-6);
	ivr_check(!strcmp(find_ev(&o, IVR_EVENT_NODE_EXIT, 0)->u.node.reason, "match"));
	ivr_check(entered(&o) && !strcmp(entered(&o), "balance"));
	/* the prompt was already stopped by the barge-in: no second stop */
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_STOP_PROMPT), 0);
	struct ivr_flowrt_stats st;
	ivr_flowrt_get_stats(rt, &st);
	ivr_check_int_eq(st.barge_ins, 1);
	/* the same result again is stale (its turn is over) */
	ivr_check_int_eq(ivr_flowrt_result(rt, &res, 4000, &o), 0);
	return finish(rt, f);
}

IVR_TEST(test_same_turn_first_input_wins)
{
	BANK_STARTED(0);
	uint32_t turn = reco_turn(&o);
	(void)ivr_flowrt_speech_start(rt, 1000, &o);
	/* the digit decides the turn before the recogniser answers */
	ivr_check(ivr_flowrt_digit(rt, '3', IVR_EVENT_DTMF_INBAND, 90, 1200, &o) > 0);
	ivr_check(entered(&o) && !strcmp(entered(&o), "cards"));
	uint32_t cards_turn = reco_turn(&o);
	ivr_check(cards_turn != turn);
	/* late result of main's turn: ignored, no recognition event, still in cards */
	struct ivr_flowrt_result res = {
		.turn = turn, .text = "pay my bill", .intent = 1, .confidence = 0.9f
	};
	ivr_check_int_eq(ivr_flowrt_result(rt, &res, 1800, &o), 0);
	struct ivr_flowrt_stats st;
	ivr_flowrt_get_stats(rt, &st);
	ivr_check_int_eq(st.node, node_idx(f, "cards"));
	/* speech first, result first: a digit after it belongs to the next node */
	(void)ivr_flowrt_speech_start(rt, 2000, &o);
	int act = ivr_flow_find_intent(&f->nodes[node_idx(f, "cards")], "activate");
	res = (struct ivr_flowrt_result){
		.turn = cards_turn, .text = "activate my card", .intent = act, .confidence = 0.9f
	};
	ivr_check(ivr_flowrt_result(rt, &res, 2600, &o) > 0);
	ivr_check(entered(&o) && !strcmp(entered(&o), "activate"));
	return finish(rt, f);
}

IVR_TEST(test_no_input_reprompt_then_escalate)
{
	struct ivr_flow *f = load_bank();
	if (!f)
		return IVR_TEST_SKIP;
	const struct ivr_flow_node *main_n = &f->nodes[node_idx(f, "main")];
	uint32_t ni = main_n->no_input_ms;
	ivr_check_int_eq(ni, 5000);
	ivr_check_int_eq(main_n->max_retries, 2);
	struct ivr_flowrt_out o;
	struct ivr_flowrt *rt = started(f, 0, &o);
	uint32_t id = last_play_id(&o);
	uint64_t t = 8000;
	/* no clock runs while the prompt plays */
	ivr_check_int_eq(ivr_flowrt_tick(rt, 60000, &o), 0);
	t = 60000;
	(void)ivr_flowrt_prompt_done(rt, id, t, &o);
	ivr_check_int_eq(o.n, 0);
	for (uint32_t k = 1; k <= main_n->max_retries; k++) {
		ivr_check_int_eq(ivr_flowrt_tick(rt, t + ni - 1, &o), 0);
		ivr_check(ivr_flowrt_tick(rt, t + ni, &o) > 0);
		const struct ivr_event *e = find_ev(&o, IVR_EVENT_NO_INPUT, 0);
		ivr_check(e && e->u.miss.count == k && !strcmp(e->u.miss.node, "main"));
		const struct ivr_flowrt_action *p = find(&o, IVR_FLOWRT_PLAY);
		/* main has a reprompt_text and no no_input_text: the reprompt plays */
		ivr_check(p && p->prompt == IVR_FLOWRT_PROMPT_REPROMPT);
		ivr_check(find(&o, IVR_FLOWRT_RECO_START) != NULL);
		t += ni;
		(void)ivr_flowrt_prompt_done(rt, p ? p->id : 0, t + 3000, &o);
		t += 3000;
	}
	/* one failure more than max_retries: to the agent */
	ivr_check(ivr_flowrt_tick(rt, t + ni, &o) > 0);
	const struct ivr_event *e3 = find_ev(&o, IVR_EVENT_NO_INPUT, 0);
	const struct ivr_event *x3 = find_ev(&o, IVR_EVENT_NODE_EXIT, 0);
	ivr_check(e3 && e3->u.miss.count == 3);
	ivr_check(x3 && !strcmp(x3->u.node.reason, "no_input"));
	ivr_check(entered(&o) && !strcmp(entered(&o), "agent"));
	const struct ivr_flowrt_action *x = find(&o, IVR_FLOWRT_TRANSFER);
	ivr_check(x && !strcmp(x->ev.u.transfer.reason, "escalation"));
	ivr_check(x && x->ev.u.transfer.no_input_total == 3 &&
		  x->ev.u.transfer.no_match_total == 0);
	ivr_check(x && x->ev.u.transfer.ivr_ms == t + ni);
	ivr_check(x && !strcmp(x->ev.u.transfer.skill, "general") &&
		  x->ev.u.transfer.priority == 5);
	/* the agent's hold prompt plays while the hand-off goes out */
	ivr_check(find(&o, IVR_FLOWRT_PLAY) != NULL);
	struct ivr_flowrt_stats st;
	ivr_flowrt_get_stats(rt, &st);
	ivr_check(st.ended);
	/* nothing more happens after the transfer */
	ivr_check_int_eq(ivr_flowrt_tick(rt, t + 100000, &o), 0);
	ivr_check_int_eq(ivr_flowrt_digit(rt, '1', 0, 80, t + 100000, &o), 0);
	return finish(rt, f);
}

IVR_TEST(test_no_match_reprompt_then_escalate)
{
	struct ivr_flow *f = parse(test_yaml);
	ivr_check(f != NULL);
	if (!f)
		return IVR_TEST_FAIL;
	struct ivr_flowrt *rt =
		ivr_flowrt_new(&(struct ivr_flowrt_cfg){ .flow = f, .no_match_ms = 4000 });
	struct ivr_flowrt_out o;
	(void)ivr_flowrt_start(rt, 0, &o);
	uint32_t turn = reco_turn(&o);
	/* intent above 0 but below the flow threshold 0.6: no-match, no_match_text plays */
	(void)ivr_flowrt_speech_start(rt, 500, &o);
	struct ivr_flowrt_result res = {
		.turn = turn, .text = "information", .intent = 0, .confidence = 0.55f
	};
	ivr_check(ivr_flowrt_result(rt, &res, 1500, &o) > 0);
	const struct ivr_event *r = find_ev(&o, IVR_EVENT_RECOGNITION, 0);
	ivr_check(r && r->u.recognition.intent && !strcmp(r->u.recognition.intent, "info"));
	const struct ivr_event *e = find_ev(&o, IVR_EVENT_NO_MATCH, 0);
	ivr_check(e && e->u.miss.count == 1);
	const struct ivr_flowrt_action *p = find(&o, IVR_FLOWRT_PLAY);
	ivr_check(p && p->prompt == IVR_FLOWRT_PROMPT_NO_MATCH);
	uint32_t turn2 = reco_turn(&o);
	ivr_check(turn2 > turn);
	/* speech heard but no result within no_match_ms: second failure > max_retries 1 */
	(void)ivr_flowrt_speech_start(rt, 2000, &o);
	ivr_check_int_eq(ivr_flowrt_tick(rt, 5999, &o), 0);
	ivr_check(ivr_flowrt_tick(rt, 6000, &o) > 0);
	e = find_ev(&o, IVR_EVENT_NO_MATCH, 0);
	ivr_check(e && e->u.miss.count == 2);
	const struct ivr_flowrt_action *x = find(&o, IVR_FLOWRT_TRANSFER);
	ivr_check(x && !strcmp(x->ev.u.transfer.reason, "escalation") &&
		  x->ev.u.transfer.no_match_total == 2);
	ivr_flowrt_free(rt);

	/* an unmapped digit is a no-match too; a ring-full result (no text) as well */
	rt = started(f, 0, &o);
	turn = reco_turn(&o);
	ivr_check(ivr_flowrt_digit(rt, '7', 0, 80, 100, &o) > 0);
	ivr_check(find_ev(&o, IVR_EVENT_NO_MATCH, 0) != NULL);
	ivr_check(find(&o, IVR_FLOWRT_PLAY)->prompt == IVR_FLOWRT_PROMPT_NO_MATCH);
	res = (struct ivr_flowrt_result){ .turn = reco_turn(&o), .text = NULL, .intent = -1 };
	ivr_check(ivr_flowrt_result(rt, &res, 900, &o) > 0);
	ivr_check(find_ev(&o, IVR_EVENT_NO_MATCH, 0)->u.miss.count == 2);
	ivr_check(find(&o, IVR_FLOWRT_TRANSFER) != NULL);
	return finish(rt, f);
}

IVR_TEST(test_key0_from_every_node)
{
	struct ivr_flow *f = load_bank();
	if (!f)
		return IVR_TEST_SKIP;
	/* route to each non-terminal node, then press 0 mid-prompt */
	const char *routes[][3] = { { "", "", "main" },
				    { "1", "", "balance" },
				    { "2", "", "payments" },
				    { "3", "", "cards" },
				    { "3", "2", "activate" },
				    { "2", "1", "pay_bill" },
				    { "2", "2", "transfer_money" } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(routes); i++) {
		struct ivr_flowrt *rt = ivr_flowrt_new(&(struct ivr_flowrt_cfg){ .flow = f });
		struct ivr_flowrt_out o;
		uint64_t t = 0;
		(void)ivr_flowrt_start(rt, t, &o);
		for (int k = 0; k < 2; k++)
			if (routes[i][k][0])
				(void)ivr_flowrt_digit(rt, routes[i][k][0], 0, 80, t += 700, &o);
		struct ivr_flowrt_stats st;
		ivr_flowrt_get_stats(rt, &st);
		ivr_check_msg(st.node == node_idx(f, routes[i][2]), "route to %s", routes[i][2]);
		ivr_check(ivr_flowrt_digit(rt, '0', 0, 80, t += 700, &o) > 0);
		ivr_check_int_eq(count_type(&o, IVR_FLOWRT_STOP_PROMPT), 1);
		const struct ivr_flowrt_action *x = find(&o, IVR_FLOWRT_TRANSFER);
		ivr_check_msg(x && !strcmp(x->ev.u.transfer.reason, "key0"), "from %s",
			      routes[i][2]);
		ivr_check(x && x->ev.u.transfer.zero_outs == 1 &&
			  !strcmp(x->ev.u.transfer.skill, "general"));
		/* the transfer comes after the exit of the node the caller left */
		ivr_check(!strcmp(find_ev(&o, IVR_EVENT_NODE_EXIT, 0)->u.node.node, routes[i][2]));
		ivr_flowrt_free(rt);
	}
	ivr_flow_free(f);
	return IVR_TEST_PASS;
}

IVR_TEST(test_star_repeats_prompt)
{
	BANK_STARTED(0);
	uint32_t id1 = last_play_id(&o);
	/* mid-prompt: stop, play from the start, new id; the old id is stale */
	ivr_check(ivr_flowrt_digit(rt, '*', 0, 80, 1000, &o) > 0);
	ivr_check(index_of(&o, IVR_FLOWRT_STOP_PROMPT) >= 0 &&
		  index_of(&o, IVR_FLOWRT_STOP_PROMPT) < index_of(&o, IVR_FLOWRT_PLAY));
	const struct ivr_flowrt_action *p = find(&o, IVR_FLOWRT_PLAY);
	ivr_check(p && p->prompt == IVR_FLOWRT_PROMPT_MAIN && p->id != id1);
	ivr_check(find_ev(&o, IVR_EVENT_NODE_EXIT, 0) == NULL);
	uint32_t id2 = p ? p->id : 0;
	ivr_check_int_eq(ivr_flowrt_prompt_done(rt, id1, 1500, &o), 0);
	/* after the prompt: '*' again replays, and the no-input clock stops */
	(void)ivr_flowrt_prompt_done(rt, id2, 9000, &o);
	ivr_check(ivr_flowrt_digit(rt, '*', 0, 80, 12000, &o) > 0);
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_STOP_PROMPT), 0);
	ivr_check(find(&o, IVR_FLOWRT_PLAY) != NULL);
	ivr_check_int_eq(ivr_flowrt_tick(rt, 30000, &o), 0);
	struct ivr_flowrt_stats st;
	ivr_flowrt_get_stats(rt, &st);
	ivr_check_int_eq(st.barge_ins, 0);
	ivr_check_int_eq(st.no_match_total, 0);
	return finish(rt, f);
}

IVR_TEST(test_sensitive_node_masks_digits)
{
	BANK_STARTED(0);
	(void)ivr_flowrt_digit(rt, '2', 0, 80, 500, &o); /* payments: sensitive */
	ivr_check(entered(&o) && !strcmp(entered(&o), "payments"));
	(void)ivr_flowrt_digit(rt, '7', 0, 80, 900, &o); /* unmapped: no-match */
	const struct ivr_event *d = find_ev(&o, IVR_EVENT_DTMF, 0);
	ivr_check(d && d->u.dtmf.sensitive);
	char json[2048];
	ivr_check(d && to_json(d, json, sizeof(json)) > 0);
	ivr_check_msg(strstr(json, "\"digit\":\"*\"") && !strstr(json, "\"7\""), "%s", json);
	(void)ivr_flowrt_digit(rt, '0', 0, 80, 1500, &o);
	const struct ivr_flowrt_action *x = find(&o, IVR_FLOWRT_TRANSFER);
	ivr_check(x != NULL);
	if (!x)
		return IVR_TEST_FAIL;
	/* transcript: the digit pressed in main is shown, the ones in payments are not */
	bool main2 = false, masked = false, leak = false;
	for (size_t i = 0; i < x->ev.u.transfer.n_transcript; i++) {
		const char *l = x->ev.u.transfer.transcript[i];
		main2 |= !strcmp(l, "main: dtmf 2");
		masked |= !strcmp(l, "payments: dtmf *");
		leak |= strstr(l, "payments") &&
			strpbrk(l + strlen("payments: dtmf"), "0123456789");
	}
	ivr_check(main2 && masked && !leak);
	ivr_check(to_json(&x->ev, json, sizeof(json)) > 0);
	ivr_check_msg(!strstr(json, "payments: dtmf 7") && !strstr(json, "payments: dtmf 0"), "%s",
		      json);
	return finish(rt, f);
}

IVR_TEST(test_handoff_record)
{
	BANK_STARTED(100000);
	uint32_t turn = reco_turn(&o);
	(void)ivr_flowrt_speech_start(rt, 102000, &o);
	int cards = ivr_flow_find_intent(&f->nodes[node_idx(f, "main")], "cards");
	struct ivr_flowrt_result res = {
		.turn = turn, .text = "my card", .intent = cards, .confidence = 0.7f
	};
	(void)ivr_flowrt_result(rt, &res, 103000, &o);
	ivr_check(entered(&o) && !strcmp(entered(&o), "cards"));
	turn = reco_turn(&o);
	(void)ivr_flowrt_speech_start(rt, 104000, &o);
	int lost = ivr_flow_find_intent(&f->nodes[node_idx(f, "cards")], "lost_card");
	res = (struct ivr_flowrt_result){
		.turn = turn, .text = "i lost my card", .intent = lost, .confidence = 0.9f
	};
	ivr_check(ivr_flowrt_result(rt, &res, 106500, &o) > 0);
	const struct ivr_flowrt_action *x = find(&o, IVR_FLOWRT_TRANSFER);
	ivr_check(x != NULL);
	if (!x)
		return IVR_TEST_FAIL;
	const struct ivr_event *t = &x->ev;
	ivr_check(!strcmp(t->u.transfer.reason, "intent"));
	ivr_check(!strcmp(t->u.transfer.intent, "lost_card"));
	ivr_check(!strcmp(t->u.transfer.skill, "card_fraud") && t->u.transfer.priority == 9);
	ivr_check_int_eq(t->u.transfer.n_path, 3);
	const char *nodes[] = { "main", "cards", "lost_card" };
	uint32_t enter[] = { 0, 3000, 6500 }, exit_[] = { 3000, 6500, 6500 };
	for (size_t i = 0; i < 3 && i < t->u.transfer.n_path; i++) {
		ivr_check(!strcmp(t->u.transfer.path[i].node, nodes[i]));
		ivr_check_int_eq(t->u.transfer.path[i].enter_ms, enter[i]);
		ivr_check_int_eq(t->u.transfer.path[i].exit_ms, exit_[i]);
	}
	ivr_check_int_eq(t->u.transfer.ivr_ms, 6500);
	ivr_check_int_eq(t->u.transfer.barge_ins, 2);
	ivr_check_int_eq(t->u.transfer.n_transcript, 2);
	ivr_check(strstr(t->u.transfer.transcript[1], "i lost my card") &&
		  strstr(t->u.transfer.transcript[1], "lost_card"));
	char json[4096];
	ivr_check(to_json(t, json, sizeof(json)) > 0);
	ivr_check_msg(strstr(json, "\"reason\":\"intent\"") && strstr(json, "card_fraud") &&
			      strstr(json, "\"ivr_ms\":6500"),
		      "%s", json);
	return finish(rt, f);
}

IVR_TEST(test_complaint_and_self_service_end)
{
	struct ivr_flow *f = parse(test_yaml);
	ivr_check(f != NULL);
	if (!f)
		return IVR_TEST_FAIL;
	struct ivr_flowrt_out o;
	struct ivr_flowrt *rt = started(f, 0, &o);
	struct ivr_flowrt_result res = { .turn = reco_turn(&o),
					 .text = "i want to complain",
					 .intent = 1,
					 .confidence = 0.95f };
	(void)ivr_flowrt_result(rt, &res, 2000, &o);
	const struct ivr_flowrt_action *x = find(&o, IVR_FLOWRT_TRANSFER);
	ivr_check(x && !strcmp(x->ev.u.transfer.reason, "complaint") &&
		  !strcmp(x->ev.u.transfer.skill, "complaints") && x->ev.u.transfer.priority == 7);
	ivr_flowrt_free(rt);

	/* answer without goto: play it, then hang up (self-service end) */
	rt = started(f, 0, &o);
	(void)ivr_flowrt_digit(rt, '1', 0, 80, 300, &o);
	ivr_check(entered(&o) && !strcmp(entered(&o), "info"));
	uint32_t id = last_play_id(&o);
	/* speech and meaningless keys do not interrupt an answer */
	ivr_check_int_eq(
		count_type((ivr_flowrt_speech_start(rt, 500, &o), &o), IVR_FLOWRT_STOP_PROMPT), 0);
	ivr_check_int_eq(
		count_type((ivr_flowrt_digit(rt, '5', 0, 80, 600, &o), &o), IVR_FLOWRT_STOP_PROMPT),
		0);
	ivr_check(ivr_flowrt_prompt_done(rt, id, 4000, &o) > 0);
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_HANGUP), 1);
	ivr_check(!strcmp(find_ev(&o, IVR_EVENT_NODE_EXIT, 0)->u.node.reason, "done"));
	struct ivr_flowrt_stats st;
	ivr_flowrt_get_stats(rt, &st);
	ivr_check(st.ended);
	ivr_flowrt_free(rt);
	ivr_flow_free(f);

	/* bank: anything_else "2" -> goodbye (hangup node) -> hang up after its prompt */
	f = load_bank();
	if (!f)
		return IVR_TEST_PASS;
	rt = started(f, 0, &o);
	(void)ivr_flowrt_digit(rt, '1', 0, 80, 300, &o);
	(void)ivr_flowrt_prompt_done(rt, last_play_id(&o), 5000, &o);
	(void)ivr_flowrt_digit(rt, '2', 0, 80, 6000, &o);
	ivr_check(entered(&o) && !strcmp(entered(&o), "goodbye"));
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_HANGUP), 0);
	(void)ivr_flowrt_prompt_done(rt, last_play_id(&o), 8000, &o);
	ivr_check_int_eq(count_type(&o, IVR_FLOWRT_HANGUP), 1);
	return finish(rt, f);
}

IVR_TEST(test_bad_input_and_loop_guard)
{
	struct ivr_flowrt_out o;
	ivr_check(ivr_flowrt_new(NULL) == NULL && errno == EINVAL);
	ivr_check(ivr_flowrt_new(&(struct ivr_flowrt_cfg){ 0 }) == NULL);
	struct ivr_flow *f = parse(test_yaml);
	if (!f)
		return IVR_TEST_FAIL;
	static _Alignas(64) unsigned char mem[16384];
	ivr_check(ivr_flowrt_size() <= sizeof(mem));
	struct ivr_flowrt *rt = (struct ivr_flowrt *)mem;
	ivr_check_int_eq(ivr_flowrt_init(rt, 16, &(struct ivr_flowrt_cfg){ .flow = f }), -EINVAL);
	ivr_check_int_eq(ivr_flowrt_init(rt, sizeof(mem), &(struct ivr_flowrt_cfg){ .flow = f }),
			 0);
	/* inputs before start do nothing */
	ivr_check_int_eq(ivr_flowrt_digit(rt, '1', 0, 80, 0, &o), 0);
	ivr_check_int_eq(ivr_flowrt_tick(rt, 100000, &o), 0);
	ivr_check_int_eq(ivr_flowrt_digit(rt, 'x', 0, 80, 0, &o), -EINVAL);
	ivr_check_int_eq(ivr_flowrt_result(rt, NULL, 0, &o), -EINVAL);
	ivr_check_int_eq(ivr_flowrt_start(rt, 0, NULL), -EINVAL);
	ivr_check(ivr_flowrt_start(rt, 0, &o) > 0);
	/* intent index out of range: a no-match, not a crash */
	struct ivr_flowrt_result res = {
		.turn = reco_turn(&o), .text = "x", .intent = 99, .confidence = 1.0f
	};
	ivr_check(ivr_flowrt_result(rt, &res, 10, &o) > 0);
	ivr_check(find_ev(&o, IVR_EVENT_NO_MATCH, 0) != NULL);
	/* reset: a new call on the same state starts from scratch */
	ivr_flowrt_reset(rt);
	struct ivr_flowrt_stats st;
	ivr_flowrt_get_stats(rt, &st);
	ivr_check(st.node == -1 && st.no_match_total == 0 && !st.ended);
	ivr_check(ivr_flowrt_start(rt, 0, &o) > 0);
	ivr_flow_free(f);

	/* answers without prompts in a cycle (the parser refuses such files; the
	 * model is cleared by hand): the call hangs up instead of spinning */
	f = parse("flow: loop\nstart: a\nnodes:\n  a: {type: answer, goto: b, prompt_text: x}\n"
		  "  b: {type: answer, goto: a, prompt_text: y}\n");
	if (!f)
		return IVR_TEST_FAIL;
	char *saved[2] = { f->nodes[0].prompt_text, f->nodes[1].prompt_text };
	f->nodes[0].prompt_text = f->nodes[1].prompt_text = NULL;
	ivr_check_int_eq(ivr_flowrt_init(rt, sizeof(mem), &(struct ivr_flowrt_cfg){ .flow = f }),
			 0);
	ivr_check(ivr_flowrt_start(rt, 0, &o) > 0);
	ivr_check(count_type(&o, IVR_FLOWRT_HANGUP) == 1 || o.dropped > 0);
	ivr_flowrt_get_stats(rt, &st);
	ivr_check(st.ended);
	f->nodes[0].prompt_text = saved[0];
	f->nodes[1].prompt_text = saved[1];
	ivr_flow_free(f);
	return IVR_TEST_PASS;
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_start_plays_and_arms_recognition);
	ivr_test_run(test_digit_barges_in_and_routes);
	ivr_test_run(test_speech_barge_in_and_intent);
	ivr_test_run(test_same_turn_first_input_wins);
	ivr_test_run(test_no_input_reprompt_then_escalate);
	ivr_test_run(test_no_match_reprompt_then_escalate);
	ivr_test_run(test_key0_from_every_node);
	ivr_test_run(test_star_repeats_prompt);
	ivr_test_run(test_sensitive_node_masks_digits);
	ivr_test_run(test_handoff_record);
	ivr_test_run(test_complaint_and_self_service_end);
	ivr_test_run(test_bad_input_and_loop_guard);
	return ivr_test_summary();
}
