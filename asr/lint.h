/* SPDX-License-Identifier: MIT */
/*
 * asr/lint.h - checks a parsed flow against structure and contact-centre rules.
 *
 * Structure: unknown start/agent/target nodes, intents that lead nowhere,
 * unreachable nodes, menus without options (dead ends), missing prompt files.
 * Contact-centre practice (DESIGN.md section 5): menus at most 3 levels deep
 * and 5 options wide, prompts at most 30 s (WAV length, or estimated from
 * prompt_text at 2.5 words/s, a typical IVR speaking rate), key 0 reaching an
 * agent in every menu, a key that means "agent" or "main menu" in one node
 * meaning the same everywhere, `*` left free for "repeat".  Recognition:
 * every word of every example phrase must be in the pocketsphinx dictionary,
 * or the grammar cannot be compiled; the missing words are named.
 * Each finding goes to a callback with the line it is about.
 * Thread: control (reads files).
 */
#ifndef IVR_ASR_LINT_H
#define IVR_ASR_LINT_H

#include "asr/flow.h"

/** Lint limits; zero fields take the defaults shown. */
struct ivr_lint_cfg {
	const char *dict_path; /* NULL: the en-us cmudict; "": skip the word check */
	uint32_t max_depth;    /* 3 menu levels */
	uint32_t max_width;    /* 5 options besides the agent */
	float max_prompt_s;    /* 30 s */
};

/** Receives one finding: @line in the flow file (0 = whole file) and a message. */
typedef void (*ivr_lint_fn)(void *ctx, uint32_t line, const char *msg);

/**
 * Check @flow; call @fn once per finding, in file order per check.
 * @return the number of findings (0 = clean), or -ENOMEM.
 * If the dictionary cannot be read the word check is skipped and one finding
 * says so when @cfg->dict_path was given explicitly.  Thread: control.
 */
int ivr_flow_lint(const struct ivr_flow *flow, const struct ivr_lint_cfg *cfg, ivr_lint_fn fn,
		  void *ctx);

/**
 * Estimated speaking time of @text in seconds (2.5 words/s).  Thread: any.
 * @return seconds, >= 0.
 */
float ivr_lint_text_seconds(const char *text);

#endif /* IVR_ASR_LINT_H */
