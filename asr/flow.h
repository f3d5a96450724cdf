/* SPDX-License-Identifier: MIT */
/*
 * asr/flow.h - IVR flow files (YAML) parsed into an immutable flow model.
 *
 * A flow (DESIGN.md section 4, contract) is a YAML mapping with `flow`,
 * `start` and `nodes`; each node has a prompt (`prompt: FILE.wav` or
 * `prompt_text`), a DTMF map (key -> intent or node), spoken `intents`
 * (intent -> example phrases) and a `next` map (intent -> node).  Extensions,
 * documented in grammars/README.md:
 *   flow level:  agent (node callers reach with key 0 or on escalation),
 *                defaults {threshold, max_retries, no_input_ms, no_match_ms}
 *   node level:  type (menu | answer | transfer | hangup), goto (answer -> node),
 *                reprompt_text, no_match_text, no_input_text, threshold,
 *                max_retries, no_input_ms, sensitive, skill, priority.
 * Parsing uses libyaml's document API, so every element keeps its line and
 * column and every error reads "FILE:LINE:COL: reason".  Unknown keys, empty
 * intents, wrong types and malformed YAML are errors; references to nodes
 * that do not exist are kept (index -1) for ivr_flow_lint() to report.
 * The model is read-only once parsed: many calls share one (engine/flowrt.h)
 * and a reload swaps in a new one.
 * Thread: control (allocates).  A parsed flow may be read from any thread.
 */
#ifndef IVR_ASR_FLOW_H
#define IVR_ASR_FLOW_H

#include <stdbool.h>

#include "common/defs.h"

/* Limits keep hostile files from costing unbounded memory or time. */
#define IVR_FLOW_MAX_NODES   256
#define IVR_FLOW_MAX_INTENTS 32	  /* per node */
#define IVR_FLOW_MAX_PHRASES 128  /* per intent */
#define IVR_FLOW_MAX_TEXT    1024 /* bytes of any one scalar */
#define IVR_FLOW_N_KEYS	     16	  /* 0-9 * # A-D */

/** 1-based position of an element in its file (0 = not present). */
struct ivr_flow_pos {
	uint32_t line;
	uint32_t col;
};

/** Node types. */
enum ivr_flow_type {
	IVR_FLOW_MENU = 0, /* prompt, then wait for a digit or an intent */
	IVR_FLOW_ANSWER,   /* self-service answer: prompt, then goto or hang up */
	IVR_FLOW_TRANSFER, /* terminal: hand the call to an agent (skill, priority) */
	IVR_FLOW_HANGUP,   /* terminal: prompt, then hang up */
};

/** One spoken intent of a node: its name and example phrases. */
struct ivr_flow_intent {
	char *name;
	char **phrases; /* lower-case, as written */
	size_t n_phrases;
	struct ivr_flow_pos pos;
	int node; /* resolved target node index (next map, else a node of that name), -1 */
};

/** One entry of a `dtmf` or `next` map: a label and where it leads. */
struct ivr_flow_edge {
	char *label;  /* key ("1") or intent name */
	char *target; /* as written */
	struct ivr_flow_pos pos;
	int node; /* resolved node index, -1 when unknown */
};

/** One node of a flow. */
struct ivr_flow_node {
	char *name;
	struct ivr_flow_pos pos;
	enum ivr_flow_type type;
	char *prompt; /* WAV path relative to the flow file's folder, or NULL */
	struct ivr_flow_pos prompt_pos;
	char *prompt_text; /* text for a generated prompt, or NULL */
	char *reprompt_text, *no_match_text, *no_input_text; /* NULL = defaults */
	struct ivr_flow_edge *dtmf;			     /* label is one key character */
	size_t n_dtmf;
	struct ivr_flow_intent *intents;
	size_t n_intents;
	struct ivr_flow_edge *next;
	size_t n_next;
	char *goto_name; /* answer nodes: node to go to after the prompt */
	struct ivr_flow_pos goto_pos;
	int goto_node;
	float threshold;      /* intent confidence below this is a no-match */
	uint32_t max_retries; /* failures (no-input + no-match) before escalation */
	uint32_t no_input_ms; /* silence after the prompt before a no-input */
	bool sensitive;	      /* digits masked in events and logs */
	char *skill;	      /* transfer nodes */
	int priority;
	int key_node[IVR_FLOW_N_KEYS]; /* resolved DTMF key -> node, -1 = none */
};

/** A parsed flow.  Read-only after ivr_flow_parse(). */
struct ivr_flow {
	char *name;
	char *path; /* file it came from ("<memory>" otherwise) */
	char *dir;  /* folder prompts are relative to */
	char *start;
	struct ivr_flow_pos start_pos;
	int start_node;
	char *agent; /* node for key 0 / escalation; default: a node named "agent" */
	struct ivr_flow_pos agent_pos;
	int agent_node;
	struct ivr_flow_node *nodes;
	size_t n_nodes;
};

/** Key character -> index 0..15 (0-9, *, #, A-D). @return index, or -1. Thread: any. */
int ivr_flow_key_index(char key);

/**
 * Parse a flow from @n_bytes of YAML.  @path names the source in messages
 * and sets the prompt folder (NULL: "<memory>", prompts relative to ".").
 * On failure *@out is NULL and @err gets "FILE:LINE:COL: reason".
 * @return 0, -EBADMSG (malformed or invalid flow), -ENOMEM.  Thread: control.
 */
IVR_NODISCARD int ivr_flow_parse(struct ivr_flow **out, const char *yaml, size_t n_bytes,
				 const char *path, char *err, size_t err_len);

/**
 * Read and parse the flow file at @path; see ivr_flow_parse().
 * @return 0, -ENOENT/-EIO (unreadable, reason in @err), -EBADMSG, -ENOMEM.
 * Thread: control.
 */
IVR_NODISCARD int ivr_flow_load(struct ivr_flow **out, const char *path, char *err, size_t err_len);

/** Free a flow (NULL-safe).  Thread: control, once no call uses it. */
void ivr_flow_free(struct ivr_flow *flow);

/** @return the index of node @name in @flow, or -ENOENT. Thread: any. */
int ivr_flow_find_node(const struct ivr_flow *flow, const char *name);

/** @return the intent index of @name in @node, or -ENOENT. Thread: any. */
int ivr_flow_find_intent(const struct ivr_flow_node *node, const char *name);

/** @return "menu", "answer", "transfer" or "hangup". Thread: any. */
const char *ivr_flow_type_name(enum ivr_flow_type type);

#endif /* IVR_ASR_FLOW_H */
