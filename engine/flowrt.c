/* SPDX-License-Identifier: MIT */
/*
 * engine/flowrt.c - per-call IVR flow runtime (see flowrt.h for the rules).
 *
 * The state is one flat struct: the current node and its phase (prompt
 * playing, waiting for input, hearing speech), the play id and recognition
 * turn that make late "prompt done" and recognition results harmless, the
 * per-visit failure counters that drive escalation, and the journey (path,
 * transcript, totals) for the hand-off.  Every input goes through the same
 * few helpers - leave(), enter(), fail() - so each rule lives in one place.
 * No allocation, no clock reads, no locks: IVR_RT.  The only pointers kept
 * point into the shared read-only flow, so the state can be memcpy'd between
 * inputs (the transcript pointer array is rebuilt each time it is emitted).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/flowrt.h"

#define DEFAULT_NO_MATCH_MS 10000

enum phase {
	PH_IDLE = 0, /* not started */
	PH_PROMPT,   /* node prompt playing (menu: recognition armed for barge-in) */
	PH_WAIT,     /* prompt over, waiting for speech or a digit (no-input deadline) */
	PH_HEAR,     /* speech started, waiting for its result (no-match deadline) */
	PH_DONE,     /* transferred or hung up */
};

struct ivr_flowrt {
	const struct ivr_flow *flow;
	uint32_t no_match_ms;
	uint8_t phase;
	bool prompting, reco_on;
	int node;
	uint32_t play_id, turn;
	uint32_t hops; /* node changes caused by the current input */
	uint64_t start_ms, deadline_ms;
	uint32_t node_no_match, node_no_input; /* this visit */
	struct ivr_flowrt_stats st;
	const char *last_intent;
	const char *xfer_reason;
	struct ivr_event_step path[IVR_FLOWRT_MAX_PATH];
	size_t n_path;
	char transcript[IVR_FLOWRT_MAX_TRANSCRIPT][IVR_FLOWRT_LINE_MAX];
	size_t n_transcript;
	const char *tr_ptr[IVR_FLOWRT_MAX_TRANSCRIPT]; /* rebuilt when a transfer is emitted */
};

static const char *const act_names[] = {
	[IVR_FLOWRT_PLAY] = "play",
	[IVR_FLOWRT_STOP_PROMPT] = "stop_prompt",
	[IVR_FLOWRT_RECO_START] = "reco_start",
	[IVR_FLOWRT_RECO_STOP] = "reco_stop",
	[IVR_FLOWRT_PUBLISH] = "publish",
	[IVR_FLOWRT_TRANSFER] = "transfer",
	[IVR_FLOWRT_HANGUP] = "hangup",
};

const char *ivr_flowrt_act_name(unsigned type)
{
	return type < IVR_N_ELEMENTS(act_names) ? act_names[type] : NULL;
}

size_t ivr_flowrt_size(void)
{
	return sizeof(struct ivr_flowrt);
}

int ivr_flowrt_init(struct ivr_flowrt *rt, size_t size, const struct ivr_flowrt_cfg *cfg)
{
	if (!rt || size < sizeof(*rt) || !cfg || !cfg->flow)
		return -EINVAL;
	const struct ivr_flow *f = cfg->flow;
	if (f->start_node < 0 || (size_t)f->start_node >= f->n_nodes)
		return -EINVAL;
	memset(rt, 0, sizeof(*rt));
	rt->flow = f;
	rt->no_match_ms = cfg->no_match_ms ? cfg->no_match_ms : DEFAULT_NO_MATCH_MS;
	ivr_flowrt_reset(rt);
	return 0;
}

void ivr_flowrt_reset(struct ivr_flowrt *rt)
{
	const struct ivr_flow *f = rt->flow;
	uint32_t nm = rt->no_match_ms;
	memset(rt, 0, sizeof(*rt));
	rt->flow = f;
	rt->no_match_ms = nm;
	rt->node = -1;
	rt->st.node = -1;
}

const struct ivr_flow *ivr_flowrt_flow(const struct ivr_flowrt *rt)
{
	return rt->flow;
}

void ivr_flowrt_get_stats(const struct ivr_flowrt *rt, struct ivr_flowrt_stats *st)
{
	*st = rt->st;
	st->node = rt->node;
	st->ended = rt->phase == PH_DONE;
}

struct ivr_flowrt *ivr_flowrt_new(const struct ivr_flowrt_cfg *cfg)
{
	struct ivr_flowrt *rt = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(sizeof(*rt), IVR_ALIGN));
	if (!rt) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_flowrt_init(rt, sizeof(*rt), cfg);
	if (r < 0) {
		free(rt);
		errno = -r;
		return NULL;
	}
	return rt;
}

void ivr_flowrt_free(struct ivr_flowrt *rt)
{
	free(rt);
}

/* ------------------------------------------------------------------ helpers */

static const struct ivr_flow_node *cur(const struct ivr_flowrt *rt)
{
	return &rt->flow->nodes[rt->node];
}

static uint32_t rel_ms(const struct ivr_flowrt *rt, uint64_t now_ms)
{
	return now_ms > rt->start_ms ? (uint32_t)(now_ms - rt->start_ms) : 0;
}

static struct ivr_flowrt_action *push(struct ivr_flowrt_out *out, uint8_t type)
{
	if (out->n >= IVR_FLOWRT_MAX_ACTIONS) {
		out->dropped++;
		return NULL;
	}
	struct ivr_flowrt_action *a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->node = -1;
	return a;
}

static void simple(struct ivr_flowrt_out *out, uint8_t type)
{
	push(out, type);
}

static struct ivr_event *publish(struct ivr_flowrt_out *out, uint8_t ev_type)
{
	struct ivr_flowrt_action *a = push(out, IVR_FLOWRT_PUBLISH);
	if (!a)
		return NULL;
	a->ev.type = ev_type;
	return &a->ev;
}

static void publish_node(struct ivr_flowrt *rt, struct ivr_flowrt_out *out, uint8_t type,
			 const char *reason)
{
	struct ivr_event *ev = publish(out, type);
	if (ev) {
		ev->u.node.node = cur(rt)->name;
		ev->u.node.reason = reason;
	}
}

/* Append a transcript line; the oldest line goes when the list is full. */
static char *transcript_line(struct ivr_flowrt *rt)
{
	if (rt->n_transcript == IVR_FLOWRT_MAX_TRANSCRIPT) {
		memmove(rt->transcript[0], rt->transcript[1],
			sizeof(rt->transcript[0]) * (IVR_FLOWRT_MAX_TRANSCRIPT - 1));
		rt->n_transcript--;
	}
	return rt->transcript[rt->n_transcript++];
}

static bool has_text(const struct ivr_flow_node *n, unsigned kind)
{
	switch (kind) {
	case IVR_FLOWRT_PROMPT_MAIN:
		return n->prompt || n->prompt_text;
	case IVR_FLOWRT_PROMPT_REPROMPT:
		return n->reprompt_text;
	case IVR_FLOWRT_PROMPT_NO_MATCH:
		return n->no_match_text;
	case IVR_FLOWRT_PROMPT_NO_INPUT:
		return n->no_input_text;
	}
	return false;
}

/* The text to play for @kind: the specific one, else the reprompt, else the prompt. */
static int resolve_prompt(const struct ivr_flow_node *n, unsigned kind)
{
	if (has_text(n, kind))
		return (int)kind;
	if (has_text(n, IVR_FLOWRT_PROMPT_REPROMPT))
		return IVR_FLOWRT_PROMPT_REPROMPT;
	if (has_text(n, IVR_FLOWRT_PROMPT_MAIN))
		return IVR_FLOWRT_PROMPT_MAIN;
	return -1;
}

/* Play @kind of the current node; false when the node has nothing to play. */
static bool play(struct ivr_flowrt *rt, struct ivr_flowrt_out *out, unsigned kind)
{
	int k = resolve_prompt(cur(rt), kind);
	if (k < 0)
		return false;
	if (rt->prompting)
		simple(out, IVR_FLOWRT_STOP_PROMPT);
	struct ivr_flowrt_action *a = push(out, IVR_FLOWRT_PLAY);
	rt->play_id++;
	if (a) {
		a->prompt = (uint8_t)k;
		a->node = (int16_t)rt->node;
		a->id = rt->play_id;
	}
	rt->prompting = true;
	return true;
}

static void stop_prompt(struct ivr_flowrt *rt, struct ivr_flowrt_out *out)
{
	if (rt->prompting) {
		simple(out, IVR_FLOWRT_STOP_PROMPT);
		rt->prompting = false;
	}
}

/* Begin a new recognition turn for the current node (results of older turns are ignored). */
static void reco_start(struct ivr_flowrt *rt, struct ivr_flowrt_out *out)
{
	rt->turn++;
	if (cur(rt)->n_intents == 0)
		return;
	struct ivr_flowrt_action *a = push(out, IVR_FLOWRT_RECO_START);
	if (a) {
		a->node = (int16_t)rt->node;
		a->id = rt->turn;
	}
	rt->reco_on = true;
}

static void reco_stop(struct ivr_flowrt *rt, struct ivr_flowrt_out *out)
{
	rt->turn++;
	if (rt->reco_on) {
		simple(out, IVR_FLOWRT_RECO_STOP);
		rt->reco_on = false;
	}
}

/* Waiting for input after the prompt: the no-input clock runs. */
static void wait_input(struct ivr_flowrt *rt, uint64_t now_ms)
{
	rt->phase = PH_WAIT;
	rt->deadline_ms = now_ms + cur(rt)->no_input_ms;
}

static void path_exit(struct ivr_flowrt *rt, uint64_t now_ms)
{
	if (rt->n_path)
		rt->path[rt->n_path - 1].exit_ms = rel_ms(rt, now_ms);
}

static void end_call(struct ivr_flowrt *rt, struct ivr_flowrt_out *out, uint64_t now_ms,
		     const char *reason)
{
	reco_stop(rt, out);
	publish_node(rt, out, IVR_EVENT_NODE_EXIT, reason);
	path_exit(rt, now_ms);
	rt->phase = PH_DONE;
	rt->deadline_ms = 0;
}

static void hangup(struct ivr_flowrt *rt, struct ivr_flowrt_out *out, uint64_t now_ms,
		   const char *reason)
{
	end_call(rt, out, now_ms, reason);
	simple(out, IVR_FLOWRT_HANGUP);
}

static void transfer(struct ivr_flowrt *rt, struct ivr_flowrt_out *out, uint64_t now_ms)
{
	const struct ivr_flow_node *n = cur(rt);
	end_call(rt, out, now_ms, "transfer");
	struct ivr_flowrt_action *a = push(out, IVR_FLOWRT_TRANSFER);
	if (!a)
		return;
	for (size_t i = 0; i < rt->n_transcript; i++)
		rt->tr_ptr[i] = rt->transcript[i];
	a->node = (int16_t)rt->node;
	struct ivr_event *ev = &a->ev;
	ev->type = IVR_EVENT_TRANSFER;
	ev->u.transfer.reason = rt->xfer_reason ? rt->xfer_reason : "intent";
	ev->u.transfer.intent = rt->last_intent;
	ev->u.transfer.skill = n->skill;
	ev->u.transfer.priority = n->priority > 0 ? (uint32_t)n->priority : 0;
	ev->u.transfer.path = rt->path;
	ev->u.transfer.n_path = rt->n_path;
	ev->u.transfer.transcript = rt->tr_ptr;
	ev->u.transfer.n_transcript = rt->n_transcript;
	ev->u.transfer.no_match_total = rt->st.no_match_total;
	ev->u.transfer.no_input_total = rt->st.no_input_total;
	ev->u.transfer.barge_ins = rt->st.barge_ins;
	ev->u.transfer.zero_outs = rt->st.zero_outs;
	ev->u.transfer.ivr_ms = rel_ms(rt, now_ms);
}

static void go(struct ivr_flowrt *rt, int target, const char *reason, uint64_t now_ms,
	       struct ivr_flowrt_out *out);

/* An answer node has said its piece: follow its goto, or end the call. */
static void answer_done(struct ivr_flowrt *rt, const struct ivr_flow_node *n, uint64_t now_ms,
			struct ivr_flowrt_out *out)
{
	if (n->goto_node >= 0)
		go(rt, n->goto_node, "done", now_ms, out);
	else
		hangup(rt, out, now_ms, "done");
}

/* Enter node @idx (the previous one has been left). */
static void enter(struct ivr_flowrt *rt, int idx, const char *reason, uint64_t now_ms,
		  struct ivr_flowrt_out *out)
{
	rt->node = idx;
	rt->node_no_match = rt->node_no_input = 0;
	rt->deadline_ms = 0;
	rt->st.nodes_entered++;
	if (rt->n_path == IVR_FLOWRT_MAX_PATH) {
		memmove(&rt->path[0], &rt->path[1],
			sizeof(rt->path[0]) * (IVR_FLOWRT_MAX_PATH - 1));
		rt->n_path--;
	}
	const struct ivr_flow_node *n = cur(rt);
	rt->path[rt->n_path++] = (struct ivr_event_step){ .node = n->name,
							  .enter_ms = rel_ms(rt, now_ms),
							  .exit_ms = rel_ms(rt, now_ms) };
	publish_node(rt, out, IVR_EVENT_NODE_ENTER, reason);
	/* A flow whose nodes pass the call on without waiting (answers without
	 * prompts in a cycle) must not spin: give up after a few hops. */
	if (++rt->hops > IVR_FLOWRT_MAX_HOPS) {
		hangup(rt, out, now_ms, "loop");
		return;
	}
	bool played = play(rt, out, IVR_FLOWRT_PROMPT_MAIN);
	switch (n->type) {
	case IVR_FLOW_MENU:
		reco_start(rt, out);
		if (played)
			rt->phase = PH_PROMPT;
		else
			wait_input(rt, now_ms);
		break;
	case IVR_FLOW_ANSWER:
		rt->phase = PH_PROMPT;
		if (!played)
			answer_done(rt, n, now_ms, out);
		break;
	case IVR_FLOW_HANGUP:
		rt->phase = PH_PROMPT;
		if (!played)
			hangup(rt, out, now_ms, "hangup");
		break;
	case IVR_FLOW_TRANSFER:
		/* Transfer at once: the agent gets the journey while the hold prompt plays. */
		transfer(rt, out, now_ms);
		break;
	}
}

static void leave(struct ivr_flowrt *rt, const char *reason, uint64_t now_ms,
		  struct ivr_flowrt_out *out)
{
	stop_prompt(rt, out);
	reco_stop(rt, out);
	publish_node(rt, out, IVR_EVENT_NODE_EXIT, reason);
	path_exit(rt, now_ms);
}

static void go(struct ivr_flowrt *rt, int target, const char *reason, uint64_t now_ms,
	       struct ivr_flowrt_out *out)
{
	leave(rt, reason, now_ms, out);
	if (target < 0 || (size_t)target >= rt->flow->n_nodes) {
		/* lint reports dangling targets; at run time the call must not die silently */
		rt->phase = PH_DONE;
		simple(out, IVR_FLOWRT_HANGUP);
		return;
	}
	enter(rt, target, reason, now_ms, out);
}

/* Escalate to the flow's agent node (or hang up when the flow has none). */
static void to_agent(struct ivr_flowrt *rt, const char *xfer_reason, const char *exit_reason,
		     uint64_t now_ms, struct ivr_flowrt_out *out)
{
	rt->xfer_reason = xfer_reason;
	if (rt->flow->agent_node < 0) {
		stop_prompt(rt, out);
		hangup(rt, out, now_ms, exit_reason);
		return;
	}
	go(rt, rt->flow->agent_node, exit_reason, now_ms, out);
}

/* A no-match or no-input: count, publish, reprompt or escalate. */
static void fail(struct ivr_flowrt *rt, bool no_input, uint64_t now_ms, struct ivr_flowrt_out *out)
{
	const struct ivr_flow_node *n = cur(rt);
	uint32_t count;
	if (no_input) {
		count = ++rt->node_no_input;
		rt->st.no_input_total++;
	} else {
		count = ++rt->node_no_match;
		rt->st.no_match_total++;
	}
	const char *what = no_input ? "no_input" : "no_match";
	struct ivr_event *ev = publish(out, no_input ? IVR_EVENT_NO_INPUT : IVR_EVENT_NO_MATCH);
	if (ev) {
		ev->u.miss.node = n->name;
		ev->u.miss.count = count;
	}
	if (rt->node_no_input + rt->node_no_match > n->max_retries) {
		to_agent(rt, "escalation", what, now_ms, out);
		return;
	}
	reco_stop(rt, out);
	bool played =
		play(rt, out, no_input ? IVR_FLOWRT_PROMPT_NO_INPUT : IVR_FLOWRT_PROMPT_NO_MATCH);
	reco_start(rt, out);
	if (played)
		rt->phase = PH_PROMPT;
	else
		wait_input(rt, now_ms);
}

static int begin(struct ivr_flowrt *rt, struct ivr_flowrt_out *out)
{
	if (!rt || !out)
		return -EINVAL;
	out->n = 0;
	out->dropped = 0;
	rt->hops = 0;
	return 0;
}

static bool live(const struct ivr_flowrt *rt)
{
	return rt->phase != PH_IDLE && rt->phase != PH_DONE;
}

/* ------------------------------------------------------------------- inputs */

int ivr_flowrt_start(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_out *out)
{
	if (begin(rt, out) < 0)
		return -EINVAL;
	if (rt->phase != PH_IDLE)
		return -EALREADY;
	rt->start_ms = now_ms;
	enter(rt, rt->flow->start_node, "start", now_ms, out);
	return (int)out->n;
}

/* The intent a DTMF key stands for in @n (its dtmf map names an intent), or NULL. */
static const char *key_intent(const struct ivr_flow_node *n, char digit)
{
	for (size_t i = 0; i < n->n_dtmf; i++)
		if (n->dtmf[i].label[0] == digit && ivr_flow_find_intent(n, n->dtmf[i].target) >= 0)
			return n->dtmf[i].target;
	return NULL;
}

int ivr_flowrt_digit(struct ivr_flowrt *rt, char digit, uint8_t source, uint32_t duration_ms,
		     uint64_t now_ms, struct ivr_flowrt_out *out)
{
	if (begin(rt, out) < 0)
		return -EINVAL;
	int k = ivr_flow_key_index(digit);
	if (k < 0)
		return -EINVAL;
	if (!live(rt))
		return 0;
	const struct ivr_flow_node *n = cur(rt);
	char shown = n->sensitive ? '*' : digit;
	struct ivr_event *ev = publish(out, IVR_EVENT_DTMF);
	if (ev) {
		ev->u.dtmf.digit = digit;
		ev->u.dtmf.source = source;
		ev->u.dtmf.sensitive = n->sensitive;
		ev->u.dtmf.duration_ms = duration_ms;
	}
	snprintf(transcript_line(rt), IVR_FLOWRT_LINE_MAX, "%s: dtmf %c", n->name, shown);

	int target = n->key_node[k];
	bool zero = digit == '0' && rt->flow->agent_node >= 0;
	bool repeat = digit == '*' && target < 0;
	bool menu = n->type == IVR_FLOW_MENU;
	/* Answer/hangup prompts are not interrupted by keys that mean nothing there. */
	if (!zero && !repeat && target < 0 && !menu)
		return (int)out->n;
	if (repeat) {
		play(rt, out, IVR_FLOWRT_PROMPT_MAIN);
		if (n->type == IVR_FLOW_MENU) {
			reco_stop(rt, out);
			reco_start(rt, out);
		}
		rt->phase = PH_PROMPT;
		return (int)out->n;
	}
	if (rt->prompting) {
		rt->st.barge_ins++;
		stop_prompt(rt, out);
	}
	if (zero) {
		rt->st.zero_outs++;
		to_agent(rt, "key0", "key0", now_ms, out);
	} else if (target >= 0) {
		const char *intent = key_intent(n, digit);
		if (intent)
			rt->last_intent = intent;
		rt->xfer_reason = intent && !strcmp(intent, "complaint") ? "complaint" : "dtmf";
		go(rt, target, "dtmf", now_ms, out);
	} else {
		fail(rt, false, now_ms, out);
	}
	return (int)out->n;
}

/* The head both speech hooks share: publish the event with its offset into the call.
 * @return 1 when the call is live (go on), 0 when it is not, -EINVAL on bad arguments. */
static int speech_event(struct ivr_flowrt *rt, uint8_t ev_type, uint64_t now_ms,
			struct ivr_flowrt_out *out)
{
	if (begin(rt, out) < 0)
		return -EINVAL;
	if (!live(rt))
		return 0;
	struct ivr_event *ev = publish(out, ev_type);
	if (ev)
		ev->u.speech.offset_ms = rel_ms(rt, now_ms);
	return 1;
}

int ivr_flowrt_speech_start(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_out *out)
{
	int r = speech_event(rt, IVR_EVENT_SPEECH_START, now_ms, out);
	if (r <= 0)
		return r;
	/* Only a node that listens is barged in on; an answer keeps playing. */
	if (!rt->reco_on)
		return (int)out->n;
	if (rt->prompting) {
		rt->st.barge_ins++;
		stop_prompt(rt, out);
	}
	rt->phase = PH_HEAR;
	rt->deadline_ms = now_ms + rt->no_match_ms;
	return (int)out->n;
}

int ivr_flowrt_speech_end(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_out *out)
{
	int r = speech_event(rt, IVR_EVENT_SPEECH_END, now_ms, out);
	if (r <= 0)
		return r;
	/* The recogniser starts its work now: give it the whole no-match window. */
	if (rt->phase == PH_HEAR)
		rt->deadline_ms = now_ms + rt->no_match_ms;
	return (int)out->n;
}

int ivr_flowrt_result(struct ivr_flowrt *rt, const struct ivr_flowrt_result *res, uint64_t now_ms,
		      struct ivr_flowrt_out *out)
{
	if (begin(rt, out) < 0 || !res)
		return -EINVAL;
	if (!live(rt) || !rt->reco_on || res->turn != rt->turn)
		return 0;
	const struct ivr_flow_node *n = cur(rt);
	const char *text = res->text ? res->text : "";
	bool valid = res->intent >= 0 && (size_t)res->intent < n->n_intents;
	const char *intent = valid ? n->intents[res->intent].name : NULL;
	struct ivr_event *ev = publish(out, IVR_EVENT_RECOGNITION);
	if (ev) {
		ev->u.recognition.text = text;
		ev->u.recognition.intent = intent;
		ev->u.recognition.confidence = res->confidence;
		ev->u.recognition.nbest = res->nbest;
		ev->u.recognition.n_nbest = res->nbest ? res->n_nbest : 0;
	}
	float c = IVR_CLAMP(res->confidence, 0.0f, 1.0f);
	snprintf(transcript_line(rt), IVR_FLOWRT_LINE_MAX, "%s: said \"%.80s\" -> %s (%u%%)",
		 n->name, text, intent ? intent : "-", (unsigned)(c * 100.0f + 0.5f));
	stop_prompt(rt, out);
	if (valid && res->confidence >= n->threshold && n->intents[res->intent].node >= 0) {
		rt->last_intent = intent;
		rt->xfer_reason = strcmp(intent, "complaint") ? "intent" : "complaint";
		go(rt, n->intents[res->intent].node, "match", now_ms, out);
	} else {
		fail(rt, false, now_ms, out);
	}
	return (int)out->n;
}

int ivr_flowrt_prompt_done(struct ivr_flowrt *rt, uint32_t play_id, uint64_t now_ms,
			   struct ivr_flowrt_out *out)
{
	if (begin(rt, out) < 0)
		return -EINVAL;
	if (!rt->prompting || play_id != rt->play_id)
		return 0;
	rt->prompting = false;
	if (!live(rt))
		return 0; /* a transfer's hold prompt ended */
	const struct ivr_flow_node *n = cur(rt);
	switch (n->type) {
	case IVR_FLOW_MENU:
		if (rt->phase == PH_PROMPT)
			wait_input(rt, now_ms);
		break;
	case IVR_FLOW_ANSWER:
		answer_done(rt, n, now_ms, out);
		break;
	case IVR_FLOW_HANGUP:
		hangup(rt, out, now_ms, "hangup");
		break;
	case IVR_FLOW_TRANSFER:
		break;
	}
	return (int)out->n;
}

int ivr_flowrt_tick(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_out *out)
{
	if (begin(rt, out) < 0)
		return -EINVAL;
	if (!live(rt) || !rt->deadline_ms || now_ms < rt->deadline_ms)
		return 0;
	if (rt->phase == PH_WAIT)
		fail(rt, true, now_ms, out);
	else if (rt->phase == PH_HEAR)
		fail(rt, false, now_ms, out);
	return (int)out->n;
}
