/* SPDX-License-Identifier: MIT */
/*
 * asr/grammar.h - what pocketsphinx needs for one flow node, built from its intents.
 *
 * A JSGF grammar that accepts the node's example phrases, the same phrases
 * wrapped in the carrier words callers add ("I'd like to ...", "... please"),
 * and any sequence of the node's words and common carrier words (so a
 * paraphrase like "how much money is in my account" still comes out as words
 * the intent classifier knows), plus the vocabulary list used to build a
 * small per-decoder dictionary.  Out-of-domain speech is rejected later, by
 * comparing the grammar's acoustic score with a free phone loop's
 * (asr/recognizer.c), not by the grammar.
 * Thread: control (allocates).
 */
#ifndef IVR_ASR_GRAMMAR_H
#define IVR_ASR_GRAMMAR_H

#include "asr/flow.h"
#include "asr/intent.h"

/** Grammar shapes. */
enum ivr_grammar_mode {
	IVR_GRAMMAR_PHRASES = 0, /* carrier words + one example phrase (strict) */
	IVR_GRAMMAR_LOOP,	 /* phrases, or any sequence of node + carrier words */
};

/**
 * Build the JSGF text for @node.  @name becomes the grammar's name (letters,
 * digits and _ kept).  *@jsgf is malloc'ed (caller frees).
 * @return 0, -EINVAL (node has no intents), -ENOMEM. Thread: control.
 */
IVR_NODISCARD int ivr_grammar_jsgf(const struct ivr_flow_node *node, const char *name,
				   enum ivr_grammar_mode mode, char **jsgf);

/**
 * The words a decoder needs for @node: its phrases' words and the carrier
 * words, each once, appended to @words (a list of *@n entries of capacity
 * @cap; duplicates already in the list are skipped).
 * @return the number of words added, or -ENOSPC. Thread: any.
 */
int ivr_grammar_words(const struct ivr_flow_node *node, char (*words)[IVR_INTENT_WORD_MAX],
		      size_t *n, size_t cap);

/**
 * Whether @word is one of the carrier words every grammar accepts around a
 * request ("i", "would", "please", "tell", ...): the classifier gives them
 * the weight of a function word.  @return true if it is. Thread: any.
 */
bool ivr_grammar_is_carrier(const char *word);

#endif /* IVR_ASR_GRAMMAR_H */
