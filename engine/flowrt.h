/* SPDX-License-Identifier: MIT */
/*
 * engine/flowrt.h - per-call IVR flow runtime: a pure state machine.
 *
 * It walks a parsed flow (asr/flow.h) for one call.  Inputs are what the
 * media path observed (a digit and its source, the recogniser's result,
 * the start of caller speech, the end of a prompt, a clock tick); outputs
 * are a short fixed list of actions for the engine to carry out (play or
 * stop a prompt, start or stop recognition for a node, transfer with the
 * hand-off record, hang up) and events for the router (DESIGN.md section 3),
 * which the engine publishes through engine/events.h.  No I/O, no clock, no
 * allocation after init: the engine owns time (every input carries now_ms)
 * and the state lives in the call slot (_size()/_init()).
 *
 * Behaviour (DESIGN.md section 5):
 *  - DTMF and speech in the same turn: the first to arrive wins; a
 *    recognition result for a turn already decided by a digit is ignored.
 *  - Barge-in: caller speech or a digit stops the prompt.
 *  - Key 0 reaches the flow's agent node from every node, even mid-prompt
 *    and even when the node's dtmf map does not list it; `*` repeats.
 *  - No-input (no_input_ms after the prompt ends) and no-match (digit not in
 *    the map, or recognition below the node's threshold) reprompt; after
 *    max_retries such failures in one node the call escalates to the agent.
 *  - Sensitive nodes mask digits ("*") in the events they produce.
 *  - The journey (path with enter/exit times, transcript of what was said,
 *    counters) is kept for the transfer hand-off record.
 * Thread: the call's media worker (IVR_RT for every input function).
 */
#ifndef IVR_ENGINE_FLOWRT_H
#define IVR_ENGINE_FLOWRT_H

#include <stdbool.h>

#include "asr/flow.h"
#include "common/defs.h"

#define IVR_FLOWRT_MAX_ACTIONS	  16
#define IVR_FLOWRT_PATH_MAX	  32
#define IVR_FLOWRT_TRANSCRIPT_MAX 1024
#define IVR_FLOWRT_MAX_SPEECH_MS  15000 /* a turn with speech but no result: no-match */

/** Why a node was entered or left, or why a call was transferred. */
enum ivr_flowrt_reason {
	IVR_FLOWRT_R_NONE = 0,
	IVR_FLOWRT_R_START,	 /* call start */
	IVR_FLOWRT_R_MATCH,	 /* recognised intent */
	IVR_FLOWRT_R_DTMF,	 /* mapped key */
	IVR_FLOWRT_R_NO_INPUT,	 /* failure: silence */
	IVR_FLOWRT_R_NO_MATCH,	 /* failure: not understood */
	IVR_FLOWRT_R_BARGE_IN,	 /* prompt stopped by the caller */
	IVR_FLOWRT_R_KEY0,	 /* key 0: agent */
	IVR_FLOWRT_R_ESCALATION, /* too many failures: agent */
	IVR_FLOWRT_R_ANSWER,	 /* self-service answer played */
	IVR_FLOWRT_R_REPEAT,	 /* key * */
	IVR_FLOWRT_R_HANGUP,	 /* flow ended the call */
	IVR_FLOWRT_R_INTENT,	 /* transfer node reached by an intent or key */
};

/** What an action asks the engine to do. */
enum ivr_flowrt_act {
	IVR_FLOWRT_PLAY = 1,	/* play node's prompt of kind `prompt` */
	IVR_FLOWRT_STOP_PROMPT, /* stop the prompt now (barge-in) */
	IVR_FLOWRT_RECO_START,	/* start recognition with node's grammar */
	IVR_FLOWRT_RECO_STOP,	/* discard any recognition in progress */
	IVR_FLOWRT_TRANSFER,	/* hand off to an agent: node's skill/priority, journey */
	IVR_FLOWRT_HANGUP,	/* end the call */
	IVR_FLOWRT_EVENT,	/* publish event `event` to the router */
};

/** Which text of a node to play (the engine maps it to audio). */
enum ivr_flowrt_prompt {
	IVR_FLOWRT_P_MAIN = 0, /* prompt / prompt_text */
	IVR_FLOWRT_P_REPROMPT, /* reprompt_text, else the main prompt */
	IVR_FLOWRT_P_NO_MATCH, /* no_match_text ("Sorry, I did not get that."), then reprompt */
	IVR_FLOWRT_P_NO_INPUT, /* no_input_text ("Sorry, I did not hear you."), then reprompt */
};

/** Router events the runtime produces (DESIGN.md section 3 types). */
enum ivr_flowrt_event {
	IVR_FLOWRT_EV_NODE_ENTER = 1,
	IVR_FLOWRT_EV_NODE_EXIT,
	IVR_FLOWRT_EV_DTMF,	   /* digit (masked in sensitive nodes), source */
	IVR_FLOWRT_EV_RECOGNITION, /* the result given to ivr_flowrt_recognition() */
	IVR_FLOWRT_EV_NO_INPUT,	   /* node, count */
	IVR_FLOWRT_EV_NO_MATCH,	   /* node, count */
	IVR_FLOWRT_EV_TRANSFER,	   /* the hand-off record: ivr_flowrt_journey() */
};

/** DTMF source. */
enum ivr_flowrt_source { IVR_FLOWRT_INBAND = 0, IVR_FLOWRT_RFC4733 = 1 };

/** One output action. */
struct ivr_flowrt_action {
	uint8_t type;	/* enum ivr_flowrt_act */
	uint8_t event;	/* enum ivr_flowrt_event for IVR_FLOWRT_EVENT */
	uint8_t reason; /* enum ivr_flowrt_reason (node enter/exit, transfer) */
	uint8_t prompt; /* enum ivr_flowrt_prompt for PLAY */
	int16_t node;	/* flow node index the action is about */
	char digit;	/* DTMF event: the digit, or '*' when masked */
	uint8_t source; /* DTMF event: enum ivr_flowrt_source */
	uint32_t count; /* no_input / no_match events: failures so far in the node */
	int16_t intent; /* recognition/transfer: intent index in `node`'s intents, -1 */
	bool masked;	/* DTMF event came from a sensitive node */
};

/** Actions produced by one input (cleared by each input call). */
struct ivr_flowrt_actions {
	struct ivr_flowrt_action a[IVR_FLOWRT_MAX_ACTIONS];
	uint32_t n;
	uint32_t dropped; /* actions that did not fit (a bug if ever non-zero) */
};

/** One node visit of the journey. */
struct ivr_flowrt_visit {
	int16_t node;
	uint8_t enter_reason, exit_reason; /* enum ivr_flowrt_reason */
	uint64_t enter_ms, exit_ms;	   /* exit_ms 0 while inside */
};

/** The caller's journey: what the agent sees at transfer. */
struct ivr_flowrt_journey {
	struct ivr_flowrt_visit path[IVR_FLOWRT_PATH_MAX];
	uint32_t n_path;
	uint32_t path_dropped;			    /* visits after the path was full (loops) */
	char transcript[IVR_FLOWRT_TRANSCRIPT_MAX]; /* "node: text | node: text" */
	uint32_t no_match_total, no_input_total, barge_ins, zero_outs;
	uint64_t start_ms, end_ms;
	uint8_t transfer_reason; /* enum ivr_flowrt_reason, 0 until transfer */
	int16_t transfer_node;
	int16_t intent_node; /* node of the last matched intent, -1 */
	int16_t intent;	     /* last matched intent, -1 */
};

/** Runtime configuration. */
struct ivr_flowrt_cfg {
	const struct ivr_flow *flow; /* must outlive the state (reload: a new state per call) */
};

struct ivr_flowrt; /* opaque */

/** @return bytes needed for one call's state. Thread: any. */
size_t ivr_flowrt_size(const struct ivr_flowrt_cfg *cfg);

/**
 * Initialise @rt in @size bytes for @cfg->flow.
 * @return 0, -EINVAL (no flow, no valid start node, too small). Thread: control.
 */
IVR_NODISCARD int ivr_flowrt_init(struct ivr_flowrt *rt, size_t size,
				  const struct ivr_flowrt_cfg *cfg);

/** Forget the call (slot reuse); the flow stays. Thread: media (IVR_RT). */
IVR_RT void ivr_flowrt_reset(struct ivr_flowrt *rt);

/** Heap wrappers for tools and tests. @return NULL with errno on failure. */
struct ivr_flowrt *ivr_flowrt_new(const struct ivr_flowrt_cfg *cfg);
/** NULL-safe. */
void ivr_flowrt_free(struct ivr_flowrt *rt);

/** Start the call: enter the start node. @return number of actions. Thread: media. */
IVR_RT int ivr_flowrt_start(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_actions *out);

/** A digit (0-9 * # A-D) from @source.  @return number of actions. Thread: media. */
IVR_RT int ivr_flowrt_digit(struct ivr_flowrt *rt, uint64_t now_ms, char digit,
			    enum ivr_flowrt_source source, struct ivr_flowrt_actions *out);

/** The endpointer heard the caller start speaking. @return number of actions. */
IVR_RT int ivr_flowrt_speech_start(struct ivr_flowrt *rt, uint64_t now_ms,
				   struct ivr_flowrt_actions *out);

/**
 * A recognition result for @node: @intent index (-1 = no match), its
 * @confidence and @text (copied into the transcript, may be NULL).
 * Results for another node or a turn already decided are ignored (0 actions).
 * @return number of actions. Thread: media.
 */
IVR_RT int ivr_flowrt_recognition(struct ivr_flowrt *rt, uint64_t now_ms, int node, int intent,
				  float confidence, const char *text,
				  struct ivr_flowrt_actions *out);

/** The prompt asked for by the last PLAY finished. @return number of actions. */
IVR_RT int ivr_flowrt_prompt_done(struct ivr_flowrt *rt, uint64_t now_ms,
				  struct ivr_flowrt_actions *out);

/** Clock tick (every 20 ms is plenty): timeouts. @return number of actions. */
IVR_RT int ivr_flowrt_tick(struct ivr_flowrt *rt, uint64_t now_ms, struct ivr_flowrt_actions *out);

/** @return the journey so far (valid until reset). Thread: media. */
const struct ivr_flowrt_journey *ivr_flowrt_journey(const struct ivr_flowrt *rt);

/** @return the current node index, or -1 once the call was handed off or ended. */
int ivr_flowrt_node(const struct ivr_flowrt *rt);

/** @return true once the flow transferred or hung up. */
bool ivr_flowrt_done(const struct ivr_flowrt *rt);

/** @return "match", "dtmf", "no_input", ... (DESIGN.md section 3 reason names). */
const char *ivr_flowrt_reason_name(enum ivr_flowrt_reason r);

#endif /* IVR_ENGINE_FLOWRT_H */
