/* SPDX-License-Identifier: MIT */
/*
 * engine/flowrt.h - per-call IVR flow runtime: a pure state machine over a
 * parsed flow (asr/flow.h).
 *
 * What: one state per call (placed in the call slot with _size/_init, like
 * the DSP states), fed with the call's inputs - a DTMF digit (with its
 * source), speech start/end from the endpointer, a recognition result (text,
 * intent, confidence, n-best), "prompt finished" and the time - and answering
 * each input with a short fixed list of actions for the media worker: play a
 * node's prompt (main / reprompt / no-match / no-input text), stop the
 * prompt, start/stop recognition for a node, transfer (with the hand-off
 * record of DESIGN.md section 3), hang up, and publish a router event
 * (node_enter/node_exit with reason, no_input/no_match with count,
 * recognition, dtmf masked in sensitive nodes, speech_start/speech_end).
 *
 * How (the contact-centre rules of DESIGN.md section 5):
 *  - Menu nodes play their prompt with recognition already armed, so the
 *    caller may barge in: speech start or a digit stops the prompt (counted
 *    as a barge-in in the hand-off).
 *  - DTMF and speech share one turn; the first decisive input wins: a digit
 *    cancels the turn's recognition (a late result of that turn is
 *    discarded, results carry the turn number of their RECO_START), a
 *    recognition result decides the turn unless a digit came first.
 *  - Key 0 reaches the flow's agent node from every node, even mid-prompt;
 *    '*' repeats the prompt (unless the node maps '*' itself).
 *  - No-input: no speech and no digit for the node's no_input_ms after the
 *    prompt ends.  No-match: an unmapped digit, a result below the node's
 *    threshold or without intent, or no result within no_match_ms of speech
 *    start.  Each plays the no-match/no-input text (else the reprompt, else
 *    the prompt); after more than the node's max_retries failures in one
 *    visit the call escalates to the agent node (transfer reason
 *    "escalation").  An intent named "complaint" goes to its node and the
 *    transfer reason is "complaint".
 *  - Answer nodes play their answer and then go to their goto node, or hang
 *    up; hangup nodes play and hang up; transfer nodes play and transfer at
 *    once (the agent sees the journey while the hold prompt plays).
 *  - Sensitive nodes publish digits as '*' and keep them masked in the
 *    transcript.
 *  - The journey (path of nodes with enter/exit times, transcript lines,
 *    no-match/no-input totals, barge-ins, zero-outs, time in IVR) is kept
 *    in the state for the hand-off.
 *
 * Why a pure state machine: no I/O, no clock reads, no allocation - every
 * rule is testable with scripted inputs (tests/unit/test_flowrt.c), and the
 * media worker can run it inside its 20 ms tick (IVR_RT).
 *
 * Lifetime of pointers in actions: strings point into the flow (which must
 * outlive the call: engine/flowsvc.h refcounts flow versions), into this
 * state, or into the input passed to the call that produced them; consume
 * the actions before the next call into the runtime.
 *
 * Thread: all functions on the call's media worker (IVR_RT), except _new/_free.
 */
#ifndef IVR_ENGINE_FLOWRT_H
#define IVR_ENGINE_FLOWRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asr/flow.h"
#include "common/defs.h"
#include "engine/events.h"

#define IVR_FLOWRT_MAX_ACTIONS	  16  /* actions one input can produce */
#define IVR_FLOWRT_MAX_PATH	  32  /* nodes kept for the hand-off (oldest dropped) */
#define IVR_FLOWRT_MAX_TRANSCRIPT 16  /* transcript lines kept (oldest dropped) */
#define IVR_FLOWRT_LINE_MAX	  128 /* bytes of one transcript line */
#define IVR_FLOWRT_MAX_HOPS	  8   /* node changes one input may cause (loop guard) */

/** Action types. */
enum ivr_flowrt_act_type {
	IVR_FLOWRT_PLAY = 1,	/* play prompt @prompt of node @node; report done with @id */
	IVR_FLOWRT_STOP_PROMPT, /* stop the prompt playing */
	IVR_FLOWRT_RECO_START,	/* arm recognition with node @node's grammar, turn @id */
	IVR_FLOWRT_RECO_STOP,	/* disarm (drop any utterance in progress) */
	IVR_FLOWRT_PUBLISH,	/* publish @ev to the router ring */
	IVR_FLOWRT_TRANSFER,	/* hand the call over; @ev is the transfer record (publish it) */
	IVR_FLOWRT_HANGUP,	/* end the call */
};

/** Which text of a node to play. */
enum ivr_flowrt_prompt {
	IVR_FLOWRT_PROMPT_MAIN = 0, /* prompt / prompt_text */
	IVR_FLOWRT_PROMPT_REPROMPT, /* reprompt_text */
	IVR_FLOWRT_PROMPT_NO_MATCH, /* no_match_text */
	IVR_FLOWRT_PROMPT_NO_INPUT, /* no_input_text */
	IVR_FLOWRT_N_PROMPTS
};

/** One action. */
struct ivr_flowrt_action {
	uint8_t type;	     /* enum ivr_flowrt_act_type */
	uint8_t prompt;	     /* PLAY: enum ivr_flowrt_prompt (always a text the node has) */
	int16_t node;	     /* PLAY, RECO_START: node index in the flow */
	uint32_t id;	     /* PLAY: play id for ivr_flowrt_prompt_done(); RECO_START: turn */
	struct ivr_event ev; /* PUBLISH, TRANSFER */
};

/** The actions of one input, in the order to execute them. */
struct ivr_flowrt_out {
	uint32_t n;
	uint32_t dropped; /* actions that did not fit (should stay 0) */
	struct ivr_flowrt_action a[IVR_FLOWRT_MAX_ACTIONS];
};

/** A recognition result handed to the runtime. */
struct ivr_flowrt_result {
	uint32_t turn;	  /* the RECO_START id it answers */
	const char *text; /* best hypothesis ("" or NULL: nothing recognised) */
	int intent;	  /* intent index in the node, -1 = none (below threshold) */
	float confidence; /* 0..1 */
	const struct ivr_event_nbest *nbest;
	size_t n_nbest;
};

/** Configuration; zero fields take the defaults in brackets. */
struct ivr_flowrt_cfg {
	const struct ivr_flow *flow; /* required; must outlive the state */
	uint32_t no_match_ms;	     /* speech start -> result deadline [10000] */
};

/** Counters of the journey (also in the transfer record). */
struct ivr_flowrt_stats {
	uint32_t no_match_total, no_input_total, barge_ins, zero_outs;
	uint32_t nodes_entered;
	int node;   /* current node, -1 before start / after the end */
	bool ended; /* transferred or hung up */
};

struct ivr_flowrt; /* opaque */

/** @return bytes of state (independent of the flow). Thread: any. */
size_t ivr_flowrt_size(void);

/**
 * Initialise a runtime in @mem (@size >= ivr_flowrt_size()) for @cfg->flow.
 * @return 0, or -EINVAL (NULL, small size, flow without a valid start node).
 * Thread: any (no allocation; IVR_RT-safe).
 */
IVR_NODISCARD int ivr_flowrt_init(struct ivr_flowrt *rt, size_t size,
				  const struct ivr_flowrt_cfg *cfg);

/** Back to "not started" for a new call on the same flow. Thread: RT. */
IVR_RT void ivr_flowrt_reset(struct ivr_flowrt *rt);

/**
 * Start the call at @now_ms (any monotonic ms clock; all later times on the
 * same clock): enter the start node.  @out is cleared and filled.
 * @return number of actions, -EINVAL, -EALREADY (already started).  Thread: RT.
 */
IVR_RT int ivr_flowrt_start(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_out *out);

/**
 * A DTMF digit from the caller (call once per key press, at its END, with
 * its duration).  @source: enum ivr_event_dtmf_source.
 * @return number of actions, -EINVAL (not a DTMF key).  Thread: RT.
 */
IVR_RT int ivr_flowrt_digit(struct ivr_flowrt *rt, char digit, uint8_t source, uint32_t duration_ms,
			    uint64_t now_ms, struct ivr_flowrt_out *out);

/** The endpointer heard speech start (barge-in). @return number of actions. Thread: RT. */
IVR_RT int ivr_flowrt_speech_start(struct ivr_flowrt *rt, uint64_t now_ms,
				   struct ivr_flowrt_out *out);

/** The endpointer heard speech end. @return number of actions. Thread: RT. */
IVR_RT int ivr_flowrt_speech_end(struct ivr_flowrt *rt, uint64_t now_ms,
				 struct ivr_flowrt_out *out);

/**
 * A recognition result (a result of an older turn is ignored: 0 actions).
 * An ASR hand-off that failed (ring full) is reported as a result with
 * intent -1 and no text: a no-match.
 * @return number of actions, -EINVAL.  Thread: RT.
 */
IVR_RT int ivr_flowrt_result(struct ivr_flowrt *rt, const struct ivr_flowrt_result *res,
			     uint64_t now_ms, struct ivr_flowrt_out *out);

/**
 * The prompt of PLAY action @play_id finished (a stale id is ignored).
 * @return number of actions.  Thread: RT.
 */
IVR_RT int ivr_flowrt_prompt_done(struct ivr_flowrt *rt, uint32_t play_id, uint64_t now_ms,
				  struct ivr_flowrt_out *out);

/** Time passes: no-input and no-match deadlines. @return number of actions. Thread: RT. */
IVR_RT int ivr_flowrt_tick(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_out *out);

/** Copy the journey counters. Thread: RT (or racy from another thread). */
void ivr_flowrt_get_stats(const struct ivr_flowrt *rt, struct ivr_flowrt_stats *st);

/** The flow this runtime runs. @return it. Thread: any. */
const struct ivr_flow *ivr_flowrt_flow(const struct ivr_flowrt *rt);

/** @return "play", "stop_prompt", ... for an action type (NULL if unknown). Thread: any. */
const char *ivr_flowrt_act_name(unsigned type);

/** Heap wrapper (tests, tools). @return NULL with errno set. Thread: control. */
struct ivr_flowrt *ivr_flowrt_new(const struct ivr_flowrt_cfg *cfg);

/** Free an ivr_flowrt_new() state; NULL-safe. Thread: control. */
void ivr_flowrt_free(struct ivr_flowrt *rt);

#endif /* IVR_ENGINE_FLOWRT_H */
