/* SPDX-License-Identifier: MIT */
/*
 * engine/flowrt.c - per-call flow runtime (see flowrt.h).
 *
 * States of the current node:
 *   PROMPT   menu prompt playing; recognition armed so speech barges in
 *   WAIT     prompt over; no-input deadline running
 *   SPEECH   caller speaking; waiting for the recognition result
 *   PLAY_END answer / transfer / hangup node: its prompt, then its action
 *   DONE     transferred or hung up; inputs are ignored
 * Every transition is written as actions into the caller's fixed array, so
 * the runtime never allocates; the flow model is shared and read-only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/flowrt.h"

enum { ST_IDLE, ST_PROMPT, ST_WAIT, ST_SPEECH, ST_PLAY_END, ST_DONE };

struct ivr_flowrt {
	const struct ivr_flow *flow;
	int node;
	int state;
	uint32_t failures; /* no-input + no-match in this node visit */
	uint32_t no_match, no_input;
	uint64_t deadline_ms; /* WAIT: no-input; SPEECH: result */
	bool reco_active;
	struct ivr_flowrt_journey j;
};

static const char *const REASONS[] = {
	[IVR_FLOWRT_R_NONE] = "none",
	[IVR_FLOWRT_R_START] = "start",
	[IVR_FLOWRT_R_MATCH] = "match",
	[IVR_FLOWRT_R_DTMF] = "dtmf",
	[IVR_FLOWRT_R_NO_INPUT] = "no_input",
	[IVR_FLOWRT_R_NO_MATCH] = "no_match",
	[IVR_FLOWRT_R_BARGE_IN] = "barge_in",
	[IVR_FLOWRT_R_KEY0] = "key0",
	[IVR_FLOWRT_R_ESCALATION] = "escalation",
	[IVR_FLOWRT_R_ANSWER] = "answer",
	[IVR_FLOWRT_R_REPEAT] = "repeat",
	[IVR_FLOWRT_R_HANGUP] = "hangup",
	[IVR_FLOWRT_R_INTENT] = "intent",
};

const char *ivr_flowrt_reason_name(enum ivr_flowrt_reason r)
{
	return (size_t)r < IVR_N_ELEMENTS(REASONS) && REASONS[r] ? REASONS[r] : "unknown";
}

size_t ivr_flowrt_size(const struct ivr_flowrt_cfg *cfg)
{
	(void)cfg;
	return IVR_ROUND_UP(sizeof(struct ivr_flowrt), IVR_ALIGN);
}

int ivr_flowrt_init(struct ivr_flowrt *rt, size_t size, const struct ivr_flowrt_cfg *cfg)
{
	if (!rt || !cfg || !cfg->flow || size < sizeof(*rt) || cfg->flow->start_node < 0 ||
	    (size_t)cfg->flow->start_node >= cfg->flow->n_nodes)
		return -EINVAL;
	memset(rt, 0, sizeof(*rt));
	rt->flow = cfg->flow;
	ivr_flowrt_reset(rt);
	return 0;
}

void ivr_flowrt_reset(struct ivr_flowrt *rt)
{
	const struct ivr_flow *f = rt->flow;
	memset(rt, 0, sizeof(*rt));
	rt->flow = f;
	rt->node = -1;
	rt->state = ST_IDLE;
	rt->j.transfer_node = -1;
	rt->j.intent_node = -1;
	rt->j.intent = -1;
}

struct ivr_flowrt *ivr_flowrt_new(const struct ivr_flowrt_cfg *cfg)
{
	struct ivr_flowrt *rt = aligned_alloc(IVR_ALIGN, ivr_flowrt_size(cfg));
	if (!rt) {
		errno = ENOMEM;
		return NULL;
	}
	if (ivr_flowrt_init(rt, ivr_flowrt_size(cfg), cfg) < 0) {
		free(rt);
		errno = EINVAL;
		return NULL;
	}
	return rt;
}

void ivr_flowrt_free(struct ivr_flowrt *rt)
{
	free(rt);
}

const struct ivr_flowrt_journey *ivr_flowrt_journey(const struct ivr_flowrt *rt)
{
	return &rt->j;
}

int ivr_flowrt_node(const struct ivr_flowrt *rt)
{
	return rt->state == ST_DONE ? -1 : rt->node;
}

bool ivr_flowrt_done(const struct ivr_flowrt *rt)
{
	return rt->state == ST_DONE;
}

static struct ivr_flowrt_action *emit(struct ivr_flowrt_actions *out, uint8_t type, int node)
{
	if (out->n >= IVR_FLOWRT_MAX_ACTIONS) {
		out->dropped++;
		/* A scratch slot keeps callers simple; the drop is counted. */
		static _Thread_local struct ivr_flowrt_action scratch;
		return &scratch;
	}
	struct ivr_flowrt_action *a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->node = (int16_t)node;
	a->intent = -1;
	return a;
}

static void event(struct ivr_flowrt_actions *out, uint8_t ev, int node, uint8_t reason)
{
	struct ivr_flowrt_action *a = emit(out, IVR_FLOWRT_EVENT, node);
	a->event = ev;
	a->reason = reason;
}

static const struct ivr_flow_node *cur(const struct ivr_flowrt *rt)
{
	return &rt->flow->nodes[rt->node];
}

static void reco_start(struct ivr_flowrt *rt, struct ivr_flowrt_actions *out)
{
	if (cur(rt)->n_intents) {
		emit(out, IVR_FLOWRT_RECO_START, rt->node);
		rt->reco_active = true;
	}
}

static void enter(struct ivr_flowrt *rt, uint64_t now, int node, uint8_t reason,
		  struct ivr_flowrt_actions *out);

static void leave(struct ivr_flowrt *rt, uint64_t now, uint8_t reason,
		  struct ivr_flowrt_actions *out)
{
	if (rt->state == ST_PROMPT || rt->state == ST_PLAY_END)
		emit(out, IVR_FLOWRT_STOP_PROMPT, rt->node);
	if (rt->reco_active) {
		emit(out, IVR_FLOWRT_RECO_STOP, rt->node);
		rt->reco_active = false;
	}
	if (rt->j.n_path && rt->j.path[rt->j.n_path - 1].exit_ms == 0 &&
	    rt->j.path[rt->j.n_path - 1].node == rt->node) {
		rt->j.path[rt->j.n_path - 1].exit_ms = now ? now : 1;
		rt->j.path[rt->j.n_path - 1].exit_reason = reason;
	}
	event(out, IVR_FLOWRT_EV_NODE_EXIT, rt->node, reason);
}

static void finish(struct ivr_flowrt *rt, uint64_t now, uint8_t reason)
{
	rt->state = ST_DONE;
	rt->reco_active = false;
	rt->j.end_ms = now;
	if (rt->j.n_path && rt->j.path[rt->j.n_path - 1].exit_ms == 0) {
		rt->j.path[rt->j.n_path - 1].exit_ms = now ? now : 1;
		rt->j.path[rt->j.n_path - 1].exit_reason = reason;
	}
}

static void go(struct ivr_flowrt *rt, uint64_t now, int target, uint8_t reason,
	       struct ivr_flowrt_actions *out)
{
	leave(rt, now, reason, out);
	if (target < 0 || (size_t)target >= rt->flow->n_nodes) {
		/* A hole lint reports; a live call still reaches a person. */
		target = rt->flow->agent_node;
		reason = IVR_FLOWRT_R_ESCALATION;
	}
	if (target < 0) {
		emit(out, IVR_FLOWRT_HANGUP, rt->node)->reason = IVR_FLOWRT_R_HANGUP;
		finish(rt, now, IVR_FLOWRT_R_HANGUP);
		return;
	}
	enter(rt, now, target, reason, out);
}

static void enter(struct ivr_flowrt *rt, uint64_t now, int node, uint8_t reason,
		  struct ivr_flowrt_actions *out)
{
	rt->node = node;
	rt->failures = rt->no_match = rt->no_input = 0;
	rt->deadline_ms = 0;
	if (rt->j.n_path < IVR_FLOWRT_PATH_MAX) {
		struct ivr_flowrt_visit *v = &rt->j.path[rt->j.n_path++];
		v->node = (int16_t)node;
		v->enter_reason = reason;
		v->exit_reason = 0;
		v->enter_ms = now;
		v->exit_ms = 0;
	} else {
		rt->j.path_dropped++;
	}
	event(out, IVR_FLOWRT_EV_NODE_ENTER, node, reason);
	emit(out, IVR_FLOWRT_PLAY, node)->prompt = IVR_FLOWRT_P_MAIN;
	const struct ivr_flow_node *n = cur(rt);
	if (n->type == IVR_FLOW_MENU) {
		rt->state = ST_PROMPT;
		reco_start(rt, out);
		return;
	}
	rt->state = ST_PLAY_END;
	if (n->type == IVR_FLOW_TRANSFER)
		rt->j.transfer_reason =
			reason == IVR_FLOWRT_R_KEY0 || reason == IVR_FLOWRT_R_ESCALATION
				? reason
				: IVR_FLOWRT_R_INTENT;
}

static void fail(struct ivr_flowrt *rt, uint64_t now, bool no_input, struct ivr_flowrt_actions *out)
{
	const struct ivr_flow_node *n = cur(rt);
	rt->failures++;
	uint32_t count;
	if (no_input) {
		count = ++rt->no_input;
		rt->j.no_input_total++;
	} else {
		count = ++rt->no_match;
		rt->j.no_match_total++;
	}
	struct ivr_flowrt_action *a = emit(out, IVR_FLOWRT_EVENT, rt->node);
	a->event = no_input ? IVR_FLOWRT_EV_NO_INPUT : IVR_FLOWRT_EV_NO_MATCH;
	a->count = count;
	if (rt->state == ST_PROMPT) {
		emit(out, IVR_FLOWRT_STOP_PROMPT, rt->node);
		rt->state = ST_WAIT; /* stopped: leave() must not stop it again */
	}
	if (rt->failures > n->max_retries) {
		go(rt, now, rt->flow->agent_node, IVR_FLOWRT_R_ESCALATION, out);
		return;
	}
	if (rt->reco_active) {
		emit(out, IVR_FLOWRT_RECO_STOP, rt->node);
		rt->reco_active = false;
	}
	emit(out, IVR_FLOWRT_PLAY, rt->node)->prompt =
		no_input ? IVR_FLOWRT_P_NO_INPUT : IVR_FLOWRT_P_NO_MATCH;
	rt->state = ST_PROMPT;
	rt->deadline_ms = 0;
	reco_start(rt, out);
}

static int begin(struct ivr_flowrt_actions *out)
{
	out->n = 0;
	out->dropped = 0;
	return 0;
}

int ivr_flowrt_start(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_actions *out)
{
	begin(out);
	if (rt->state != ST_IDLE)
		return 0;
	rt->j.start_ms = now_ms;
	enter(rt, now_ms, rt->flow->start_node, IVR_FLOWRT_R_START, out);
	return (int)out->n;
}

int ivr_flowrt_digit(struct ivr_flowrt *rt, uint64_t now_ms, char digit,
		     enum ivr_flowrt_source source, struct ivr_flowrt_actions *out)
{
	begin(out);
	int k = ivr_flow_key_index(digit);
	if (rt->state == ST_DONE || rt->state == ST_IDLE || k < 0)
		return 0;
	const struct ivr_flow_node *n = cur(rt);
	struct ivr_flowrt_action *ev = emit(out, IVR_FLOWRT_EVENT, rt->node);
	ev->event = IVR_FLOWRT_EV_DTMF;
	ev->masked = n->sensitive;
	ev->digit = n->sensitive ? '*' : digit;
	ev->source = (uint8_t)source;
	if (digit == '0' && n->type != IVR_FLOW_TRANSFER) {
		rt->j.zero_outs++;
		int t = n->key_node[0];
		if (t < 0 || rt->flow->nodes[t].type != IVR_FLOW_TRANSFER)
			t = rt->flow->agent_node;
		go(rt, now_ms, t, IVR_FLOWRT_R_KEY0, out);
		return (int)out->n;
	}
	if (digit == '*' && n->key_node[k] < 0) {
		/* Repeat: the node's prompt again, from the start. */
		if (rt->state == ST_PROMPT || rt->state == ST_PLAY_END)
			emit(out, IVR_FLOWRT_STOP_PROMPT, rt->node);
		emit(out, IVR_FLOWRT_PLAY, rt->node)->prompt = IVR_FLOWRT_P_MAIN;
		if (rt->state != ST_PLAY_END)
			rt->state = ST_PROMPT;
		rt->deadline_ms = 0;
		return (int)out->n;
	}
	if (n->type != IVR_FLOW_MENU)
		return (int)out->n; /* other keys do nothing during an announcement */
	if (n->key_node[k] >= 0) {
		go(rt, now_ms, n->key_node[k], IVR_FLOWRT_R_DTMF, out);
		return (int)out->n;
	}
	fail(rt, now_ms, false, out);
	return (int)out->n;
}

int ivr_flowrt_speech_start(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_actions *out)
{
	begin(out);
	if (rt->state != ST_PROMPT && rt->state != ST_WAIT)
		return 0;
	if (!cur(rt)->n_intents)
		return 0; /* a DTMF-only menu: speech is not an answer */
	if (rt->state == ST_PROMPT) {
		emit(out, IVR_FLOWRT_STOP_PROMPT, rt->node)->reason = IVR_FLOWRT_R_BARGE_IN;
		rt->j.barge_ins++;
	}
	rt->state = ST_SPEECH;
	rt->deadline_ms = now_ms + IVR_FLOWRT_MAX_SPEECH_MS;
	return (int)out->n;
}

static void transcript_add(struct ivr_flowrt *rt, const char *text)
{
	char *t = rt->j.transcript;
	size_t len = strnlen(t, sizeof(rt->j.transcript));
	if (!text || !*text || len + 4 >= sizeof(rt->j.transcript))
		return;
	int w = snprintf(t + len, sizeof(rt->j.transcript) - len, "%s%s: %s", len ? " | " : "",
			 cur(rt)->name, text);
	(void)w; /* truncation keeps the earliest words, which matter most */
}

int ivr_flowrt_recognition(struct ivr_flowrt *rt, uint64_t now_ms, int node, int intent,
			   float confidence, const char *text, struct ivr_flowrt_actions *out)
{
	begin(out);
	(void)confidence; /* the recogniser applied the node's threshold */
	if (node != rt->node ||
	    (rt->state != ST_PROMPT && rt->state != ST_WAIT && rt->state != ST_SPEECH))
		return 0;
	const struct ivr_flow_node *n = cur(rt);
	if (!rt->reco_active || n->type != IVR_FLOW_MENU)
		return 0;
	rt->reco_active = false; /* this turn's recognition is over */
	transcript_add(rt, text);
	struct ivr_flowrt_action *ev = emit(out, IVR_FLOWRT_EVENT, rt->node);
	ev->event = IVR_FLOWRT_EV_RECOGNITION;
	bool ok = intent >= 0 && (size_t)intent < n->n_intents;
	ev->intent = (int16_t)(ok ? intent : -1);
	if (ok) {
		rt->j.intent_node = (int16_t)rt->node;
		rt->j.intent = (int16_t)intent;
		go(rt, now_ms, n->intents[intent].node, IVR_FLOWRT_R_MATCH, out);
	} else {
		fail(rt, now_ms, false, out);
	}
	return (int)out->n;
}

int ivr_flowrt_prompt_done(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_actions *out)
{
	begin(out);
	if (rt->state == ST_PROMPT) {
		rt->state = ST_WAIT;
		rt->deadline_ms = now_ms + cur(rt)->no_input_ms;
		return 0;
	}
	if (rt->state != ST_PLAY_END)
		return 0;
	const struct ivr_flow_node *n = cur(rt);
	rt->state = ST_WAIT; /* the prompt is over: nothing to stop on leave */
	if (n->type == IVR_FLOW_ANSWER && n->goto_node >= 0) {
		go(rt, now_ms, n->goto_node, IVR_FLOWRT_R_ANSWER, out);
	} else if (n->type == IVR_FLOW_TRANSFER) {
		rt->j.transfer_node = (int16_t)rt->node;
		leave(rt, now_ms, rt->j.transfer_reason, out);
		finish(rt, now_ms, rt->j.transfer_reason);
		struct ivr_flowrt_action *a = emit(out, IVR_FLOWRT_EVENT, rt->node);
		a->event = IVR_FLOWRT_EV_TRANSFER;
		a->reason = rt->j.transfer_reason;
		a->intent = rt->j.intent;
		a = emit(out, IVR_FLOWRT_TRANSFER, rt->node);
		a->reason = rt->j.transfer_reason;
		a->intent = rt->j.intent;
	} else {
		uint8_t why =
			n->type == IVR_FLOW_ANSWER ? IVR_FLOWRT_R_ANSWER : IVR_FLOWRT_R_HANGUP;
		leave(rt, now_ms, why, out);
		emit(out, IVR_FLOWRT_HANGUP, rt->node)->reason = why;
		finish(rt, now_ms, why);
	}
	return (int)out->n;
}

int ivr_flowrt_tick(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_actions *out)
{
	begin(out);
	if ((rt->state == ST_WAIT || rt->state == ST_SPEECH) && rt->deadline_ms &&
	    now_ms >= rt->deadline_ms)
		fail(rt, now_ms, rt->state == ST_WAIT, out);
	return (int)out->n;
}
