/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_flowrt.c - the per-call flow runtime on the demo flows:
 * DTMF and speech in one turn (first wins), barge-in, no-input/no-match
 * reprompts and escalation, key 0 from everywhere, * repeat, masked digits in
 * sensitive nodes, the journey at transfer, and no allocation per event.
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr/flow.h"
#include "engine/flowrt.h"
#include "ivr_test.h"

static struct ivr_flow *bank, *hotline;

static struct ivr_flow *load(const char *rel)
{
	char p[1024], err[512];
	struct ivr_flow *f;
	if (ivr_flow_load(&f, ivr_test_srcpath(p, sizeof(p), rel), err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	return f;
}

static int node(const struct ivr_flow *f, const char *name)
{
	return ivr_flow_find_node(f, name);
}

/* @return index of the first action of @type (and @event if EVENT) at or after @from, or -1. */
static int find(const struct ivr_flowrt_actions *a, int type, int ev, int from)
{
	for (uint32_t i = (uint32_t)from; i < a->n; i++)
		if (a->a[i].type == type && (type != IVR_FLOWRT_EVENT || a->a[i].event == ev))
			return (int)i;
	return -1;
}

IVR_TEST(start_plays_prompt_and_arms_recognition)
{
	struct ivr_flowrt_cfg cfg = { bank };
	struct ivr_flowrt *rt = ivr_flowrt_new(&cfg);
	struct ivr_flowrt_actions a;
	int main_n = node(bank, "main");
	ivr_check_int_eq(ivr_flowrt_start(rt, 1000, &a), 3);
	ivr_check_int_eq(a.a[0].type, IVR_FLOWRT_EVENT);
	ivr_check_int_eq(a.a[0].event, IVR_FLOWRT_EV_NODE_ENTER);
	ivr_check_int_eq(a.a[0].reason, IVR_FLOWRT_R_START);
	ivr_check_int_eq(a.a[1].type, IVR_FLOWRT_PLAY);
	ivr_check_int_eq(a.a[1].prompt, IVR_FLOWRT_P_MAIN);
	ivr_check_int_eq(a.a[2].type, IVR_FLOWRT_RECO_START);
	ivr_check_int_eq(a.a[2].node, main_n);
	ivr_check_int_eq(ivr_flowrt_node(rt), main_n);
	/* starting twice does nothing */
	ivr_check_int_eq(ivr_flowrt_start(rt, 1001, &a), 0);
	ivr_flowrt_free(rt);
	return IVR_TEST_RESULT();
}

IVR_TEST(dtmf_mid_prompt_and_answer_goto)
{
	struct ivr_flowrt_cfg cfg = { bank };
	struct ivr_flowrt *rt = ivr_flowrt_new(&cfg);
	struct ivr_flowrt_actions a;
	ivr_flowrt_start(rt, 0, &a);
	ivr_flowrt_digit(rt, 700, '1', IVR_FLOWRT_RFC4733, &a);
	int d = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_DTMF, 0);
	ivr_check(d >= 0 && a.a[d].digit == '1' && a.a[d].source == IVR_FLOWRT_RFC4733);
	ivr_check(find(&a, IVR_FLOWRT_STOP_PROMPT, 0, 0) >= 0);
	ivr_check(find(&a, IVR_FLOWRT_RECO_STOP, 0, 0) >= 0);
	int ex = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_NODE_EXIT, 0);
	ivr_check(ex >= 0 && a.a[ex].reason == IVR_FLOWRT_R_DTMF);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "balance"));
	/* answer node: after its prompt, goto anything_else */
	ivr_check_int_eq(ivr_flowrt_prompt_done(rt, 5000, &a) > 0, 1);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "anything_else"));
	int en = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_NODE_ENTER, 0);
	ivr_check(en >= 0 && a.a[en].reason == IVR_FLOWRT_R_ANSWER);
	/* say "no": goodbye then hang up after its prompt */
	ivr_flowrt_speech_start(rt, 5200, &a);
	int no = ivr_flow_find_intent(&bank->nodes[node(bank, "anything_else")], "no");
	ivr_flowrt_recognition(rt, 6000, node(bank, "anything_else"), no, 0.9f, "no thanks", &a);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "goodbye"));
	ivr_flowrt_prompt_done(rt, 8000, &a);
	ivr_check(find(&a, IVR_FLOWRT_HANGUP, 0, 0) >= 0);
	ivr_check(ivr_flowrt_done(rt));
	const struct ivr_flowrt_journey *j = ivr_flowrt_journey(rt);
	ivr_check_int_eq(j->n_path, 4);
	ivr_check_int_eq(j->path[0].enter_ms, 0);
	ivr_check_int_eq(j->path[0].exit_ms, 700);
	ivr_check_int_eq(j->path[1].enter_ms, 700);
	ivr_check_int_eq(j->path[3].exit_ms, 8000);
	ivr_check(strstr(j->transcript, "anything_else: no thanks") != NULL);
	ivr_check_int_eq(j->transfer_node, -1);
	/* after the end nothing happens */
	ivr_check_int_eq(ivr_flowrt_digit(rt, 9000, '0', IVR_FLOWRT_INBAND, &a), 0);
	ivr_flowrt_free(rt);
	return IVR_TEST_RESULT();
}

IVR_TEST(barge_in_then_intent_and_journey_at_transfer)
{
	struct ivr_flowrt_cfg cfg = { bank };
	struct ivr_flowrt *rt = ivr_flowrt_new(&cfg);
	struct ivr_flowrt_actions a;
	int m = node(bank, "main"), c = node(bank, "cards");
	ivr_flowrt_start(rt, 0, &a);
	ivr_check_int_eq(ivr_flowrt_speech_start(rt, 1500, &a), 1);
	ivr_check_int_eq(a.a[0].type, IVR_FLOWRT_STOP_PROMPT);
	ivr_check_int_eq(a.a[0].reason, IVR_FLOWRT_R_BARGE_IN);
	int cards = ivr_flow_find_intent(&bank->nodes[m], "cards");
	ivr_flowrt_recognition(rt, 2600, m, cards, 0.8f, "i lost my card", &a);
	int r = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_RECOGNITION, 0);
	ivr_check(r >= 0 && a.a[r].intent == cards);
	ivr_check_int_eq(ivr_flowrt_node(rt), c);
	/* the speech path does not stop an already-stopped prompt twice */
	ivr_check_int_eq(find(&a, IVR_FLOWRT_STOP_PROMPT, 0, 0), -1);
	int lost = ivr_flow_find_intent(&bank->nodes[c], "lost_card");
	ivr_flowrt_recognition(rt, 4000, c, lost, 0.9f, "my card was stolen", &a);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "lost_card"));
	ivr_flowrt_prompt_done(rt, 6000, &a);
	int t = find(&a, IVR_FLOWRT_TRANSFER, 0, 0);
	ivr_check(t >= 0 && a.a[t].reason == IVR_FLOWRT_R_INTENT && a.a[t].intent == lost);
	ivr_check(find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_TRANSFER, 0) >= 0);
	const struct ivr_flowrt_journey *j = ivr_flowrt_journey(rt);
	ivr_check_int_eq(j->barge_ins, 1);
	ivr_check_int_eq(j->transfer_node, node(bank, "lost_card"));
	ivr_check_int_eq(j->intent_node, c);
	ivr_check_int_eq(j->n_path, 3);
	ivr_check_int_eq(j->path[2].exit_ms, 6000);
	ivr_check_int_eq(j->end_ms - j->start_ms, 6000);
	ivr_check(!strcmp(j->transcript, "main: i lost my card | cards: my card was stolen"));
	ivr_check(!strcmp(bank->nodes[j->transfer_node].skill, "card_fraud"));
	ivr_flowrt_free(rt);
	return IVR_TEST_RESULT();
}

IVR_TEST(first_input_wins)
{
	struct ivr_flowrt_cfg cfg = { bank };
	struct ivr_flowrt *rt = ivr_flowrt_new(&cfg);
	struct ivr_flowrt_actions a;
	int m = node(bank, "main");
	ivr_flowrt_start(rt, 0, &a);
	ivr_flowrt_speech_start(rt, 1000, &a);
	ivr_flowrt_digit(rt, 1100, '2', IVR_FLOWRT_INBAND, &a);
	ivr_check(find(&a, IVR_FLOWRT_RECO_STOP, 0, 0) >= 0);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "payments"));
	/* the late result of the main-menu turn is ignored */
	ivr_check_int_eq(ivr_flowrt_recognition(rt, 1500, m, 0, 0.9f, "balance", &a), 0);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "payments"));
	ivr_flowrt_free(rt);
	return IVR_TEST_RESULT();
}

IVR_TEST(no_input_no_match_reprompt_then_escalate)
{
	struct ivr_flowrt_cfg cfg = { bank };
	struct ivr_flowrt *rt = ivr_flowrt_new(&cfg);
	struct ivr_flowrt_actions a;
	int m = node(bank, "main");
	uint32_t no_input_ms = bank->nodes[m].no_input_ms;
	ivr_flowrt_start(rt, 0, &a);
	ivr_check_int_eq(ivr_flowrt_prompt_done(rt, 9000, &a), 0);
	ivr_check_int_eq(ivr_flowrt_tick(rt, 9000 + no_input_ms - 20, &a), 0);
	ivr_flowrt_tick(rt, 9000 + no_input_ms, &a);
	int e = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_NO_INPUT, 0);
	ivr_check(e >= 0 && a.a[e].count == 1);
	int p = find(&a, IVR_FLOWRT_PLAY, 0, 0);
	ivr_check(p >= 0 && a.a[p].prompt == IVR_FLOWRT_P_NO_INPUT);
	ivr_check(find(&a, IVR_FLOWRT_RECO_START, 0, 0) > p);
	/* a no-match by recognition (below threshold) */
	ivr_flowrt_speech_start(rt, 16000, &a);
	ivr_flowrt_recognition(rt, 17000, m, -1, 0.2f, "blah", &a);
	e = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_NO_MATCH, 0);
	ivr_check(e >= 0 && a.a[e].count == 1);
	p = find(&a, IVR_FLOWRT_PLAY, 0, 0);
	ivr_check(p >= 0 && a.a[p].prompt == IVR_FLOWRT_P_NO_MATCH);
	/* third failure (max_retries 2): an unmapped key escalates to the agent */
	ivr_flowrt_digit(rt, 18000, '7', IVR_FLOWRT_INBAND, &a);
	ivr_check_int_eq(ivr_flowrt_node(rt), bank->agent_node);
	int en = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_NODE_ENTER, 0);
	ivr_check(en >= 0 && a.a[en].reason == IVR_FLOWRT_R_ESCALATION);
	/* one STOP_PROMPT only, even though the reprompt was playing */
	int s1 = find(&a, IVR_FLOWRT_STOP_PROMPT, 0, 0);
	ivr_check(s1 >= 0 && find(&a, IVR_FLOWRT_STOP_PROMPT, 0, s1 + 1) < 0);
	ivr_flowrt_prompt_done(rt, 20000, &a);
	int t = find(&a, IVR_FLOWRT_TRANSFER, 0, 0);
	ivr_check(t >= 0 && a.a[t].reason == IVR_FLOWRT_R_ESCALATION);
	const struct ivr_flowrt_journey *j = ivr_flowrt_journey(rt);
	ivr_check_int_eq(j->no_input_total, 1);
	ivr_check_int_eq(j->no_match_total, 2);
	ivr_check_int_eq(j->path[0].exit_reason, IVR_FLOWRT_R_ESCALATION);
	/* a speech turn without any result times out as a no-match */
	ivr_flowrt_reset(rt);
	ivr_flowrt_start(rt, 0, &a);
	ivr_flowrt_speech_start(rt, 100, &a);
	ivr_check_int_eq(ivr_flowrt_tick(rt, 100 + IVR_FLOWRT_MAX_SPEECH_MS - 1, &a), 0);
	ivr_flowrt_tick(rt, 100 + IVR_FLOWRT_MAX_SPEECH_MS, &a);
	ivr_check(find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_NO_MATCH, 0) >= 0);
	ivr_flowrt_free(rt);
	return IVR_TEST_RESULT();
}

IVR_TEST(key0_everywhere_star_repeats_sensitive_masks)
{
	struct ivr_flowrt_cfg cfg = { bank };
	struct ivr_flowrt *rt = ivr_flowrt_new(&cfg);
	struct ivr_flowrt_actions a;
	ivr_flowrt_start(rt, 0, &a);
	ivr_flowrt_digit(rt, 100, '1', IVR_FLOWRT_INBAND, &a); /* balance: an answer */
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "balance"));
	/* key 0 in the middle of an answer prompt that has no dtmf map */
	ivr_flowrt_digit(rt, 300, '0', IVR_FLOWRT_INBAND, &a);
	ivr_check(find(&a, IVR_FLOWRT_STOP_PROMPT, 0, 0) >= 0);
	ivr_check_int_eq(ivr_flowrt_node(rt), bank->agent_node);
	ivr_check_int_eq(ivr_flowrt_journey(rt)->zero_outs, 1);
	ivr_flowrt_prompt_done(rt, 900, &a);
	int t = find(&a, IVR_FLOWRT_TRANSFER, 0, 0);
	ivr_check(t >= 0 && a.a[t].reason == IVR_FLOWRT_R_KEY0);

	ivr_flowrt_reset(rt);
	ivr_flowrt_start(rt, 0, &a);
	ivr_check_int_eq(ivr_flowrt_digit(rt, 50, '*', IVR_FLOWRT_INBAND, &a), 3);
	ivr_check_int_eq(a.a[1].type, IVR_FLOWRT_STOP_PROMPT);
	ivr_check_int_eq(a.a[2].type, IVR_FLOWRT_PLAY);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "main"));
	ivr_flowrt_digit(rt, 100, '2', IVR_FLOWRT_INBAND, &a); /* payments: sensitive */
	ivr_flowrt_digit(rt, 200, '1', IVR_FLOWRT_RFC4733, &a);
	int d = find(&a, IVR_FLOWRT_EVENT, IVR_FLOWRT_EV_DTMF, 0);
	ivr_check(d >= 0 && a.a[d].digit == '*' && a.a[d].masked);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(bank, "pay_bill"));
	ivr_flowrt_free(rt);
	return IVR_TEST_RESULT();
}

IVR_TEST(loops_bounded_and_no_alloc)
{
	struct ivr_flowrt_cfg cfg = { bank };
	size_t size = ivr_flowrt_size(&cfg);
	static unsigned char mem[1 << 16] __attribute__((aligned(64)));
	ivr_check(size <= sizeof(mem));
	struct ivr_flowrt *rt = (struct ivr_flowrt *)mem;
	ivr_check_int_eq(ivr_flowrt_init(rt, size, &cfg), 0);
	ivr_check_int_eq(ivr_flowrt_init(rt, 8, &cfg), -EINVAL);
	struct ivr_flowrt_cfg none = { NULL };
	ivr_check_int_eq(ivr_flowrt_init(rt, size, &none), -EINVAL);
	ivr_check_int_eq(ivr_flowrt_init(rt, size, &cfg), 0);
	struct ivr_flowrt_actions a;
	int m = node(bank, "main"), ae = node(bank, "anything_else");
	int yes = ivr_flow_find_intent(&bank->nodes[ae], "yes");
	uint64_t now = 0;
	ivr_flowrt_start(rt, now, &a);
	struct mallinfo2 before = mallinfo2();
	/* main -1-> balance -> anything_else -"yes"-> main, 100 times */
	for (int i = 0; i < 100; i++) {
		ivr_flowrt_digit(rt, now += 100, '1', IVR_FLOWRT_INBAND, &a);
		ivr_flowrt_prompt_done(rt, now += 3000, &a);
		ivr_flowrt_speech_start(rt, now += 500, &a);
		ivr_flowrt_recognition(rt, now += 900, ae, yes, 0.9f, "yes please", &a);
		ivr_flowrt_tick(rt, now += 20, &a);
		ivr_check_int_eq(a.dropped, 0);
	}
	struct mallinfo2 after = mallinfo2();
	ivr_check_int_eq(after.uordblks, before.uordblks);
	ivr_check_int_eq(ivr_flowrt_node(rt), m);
	const struct ivr_flowrt_journey *j = ivr_flowrt_journey(rt);
	ivr_check_int_eq(j->n_path, IVR_FLOWRT_PATH_MAX);
	ivr_check_int_eq(j->path_dropped, 300 + 1 - IVR_FLOWRT_PATH_MAX);
	ivr_check(strlen(j->transcript) < IVR_FLOWRT_TRANSCRIPT_MAX);
	/* state is position-independent: a memcpy'd copy behaves the same */
	static unsigned char copy[1 << 16] __attribute__((aligned(64)));
	memcpy(copy, mem, size);
	struct ivr_flowrt_actions b;
	ivr_flowrt_digit(rt, now + 10, '3', IVR_FLOWRT_INBAND, &a);
	ivr_flowrt_digit((struct ivr_flowrt *)copy, now + 10, '3', IVR_FLOWRT_INBAND, &b);
	ivr_check_int_eq(a.n, b.n);
	ivr_check_int_eq(ivr_flowrt_node((struct ivr_flowrt *)copy), node(bank, "cards"));
	ivr_check(ivr_flowrt_reason_name(IVR_FLOWRT_R_NO_INPUT)[0] == 'n');
	ivr_check(!strcmp(ivr_flowrt_reason_name(IVR_FLOWRT_R_BARGE_IN), "barge_in"));
	return IVR_TEST_RESULT();
}

IVR_TEST(hotline_complaint_goes_straight_to_agent)
{
	struct ivr_flowrt_cfg cfg = { hotline };
	struct ivr_flowrt *rt = ivr_flowrt_new(&cfg);
	struct ivr_flowrt_actions a;
	int m = node(hotline, "main");
	ivr_flowrt_start(rt, 0, &a);
	ivr_flowrt_prompt_done(rt, 12000, &a);
	ivr_flowrt_speech_start(rt, 13000, &a);
	ivr_check_int_eq(a.n, 0); /* no prompt to stop any more */
	int comp = ivr_flow_find_intent(&hotline->nodes[m], "complaint");
	ivr_flowrt_recognition(rt, 14000, m, comp, 0.7f, "i want to make a complaint", &a);
	ivr_check_int_eq(ivr_flowrt_node(rt), node(hotline, "complaints"));
	ivr_flowrt_prompt_done(rt, 16000, &a);
	int t = find(&a, IVR_FLOWRT_TRANSFER, 0, 0);
	ivr_check(t >= 0 && a.a[t].node == node(hotline, "complaints"));
	ivr_check(!strcmp(hotline->nodes[a.a[t].node].skill, "complaints"));
	ivr_check_int_eq(ivr_flowrt_journey(rt)->barge_ins, 0);
	ivr_flowrt_free(rt);
	ivr_flowrt_free(NULL);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	bank = load("grammars/bank.yaml");
	hotline = load("grammars/hotline.yaml");
	if (!bank || !hotline)
		return 1;
	ivr_test_run(start_plays_prompt_and_arms_recognition);
	ivr_test_run(dtmf_mid_prompt_and_answer_goto);
	ivr_test_run(barge_in_then_intent_and_journey_at_transfer);
	ivr_test_run(first_input_wins);
	ivr_test_run(no_input_no_match_reprompt_then_escalate);
	ivr_test_run(key0_everywhere_star_repeats_sensitive_masks);
	ivr_test_run(loops_bounded_and_no_alloc);
	ivr_test_run(hotline_complaint_goes_straight_to_agent);
	ivr_flow_free(bank);
	ivr_flow_free(hotline);
	return ivr_test_summary();
}
