/* SPDX-License-Identifier: MIT */
/*
 * asr/grammar.h - what pocketsphinx needs for one flow node, built from its intents.
 *
 * The default: a trigram language model (ARPA) counted from the node's example
 * phrases, the phrases with one word replaced by a synonym from a small
 * telephony lexicon, and both wrapped in the carrier words callers add ("I'd
 * like to ...", "... please"); carrier and background words (function words,
 * generic verbs) and the 3000 most frequent words of general English
 * (asr/wordlist.h, from pocketsphinx-en-us's general model) are in its
 * vocabulary at a low probability, so a caller's own words are recognised as
 * themselves and off-topic speech comes out as words no intent knows.  Also the older JSGF shapes
 * (the phrases with carriers; or any sequence of the node's words), and the vocabulary list used to
 * build a small per-decoder dictionary.  Out-of-domain speech is rejected by the classifier and by
 * comparing the search's score with a free phone loop's (asr/recognizer.c).  Measurements:
 * docs/asr.md. Thread: control (allocates).
 */
#ifndef IVR_ASR_GRAMMAR_H
#define IVR_ASR_GRAMMAR_H

#include "asr/flow.h"
#include "asr/intent.h"

/**
 * Search shapes.  The default, the n-gram model, understood held-out
 * paraphrases best (docs/asr.md); the JSGF shapes are cheaper to decode.
 */
enum ivr_grammar_mode {
	IVR_GRAMMAR_LM = 0,  /* trigram language model from the phrases (ivr_grammar_arpa) */
	IVR_GRAMMAR_PHRASES, /* JSGF: carrier words + one example phrase (strict) */
	IVR_GRAMMAR_LOOP,    /* JSGF: phrases, or any sequence of node + carrier words */
};

/**
 * Build the JSGF text for @node.  @name becomes the grammar's name (letters,
 * digits and _ kept).  *@jsgf is malloc'ed (caller frees).
 * @return 0, -EINVAL (node has no intents), -ENOMEM. Thread: control.
 */
IVR_NODISCARD int ivr_grammar_jsgf(const struct ivr_flow_node *node, const char *name,
				   enum ivr_grammar_mode mode, char **jsgf);

/**
 * The words a decoder needs for @node: its phrases' words, the carrier,
 * background and lexicon words and the general words of asr/wordlist.h
 * (about 3300 in all), each once, appended to @words (a list of *@n entries of capacity
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

/**
 * The rank of @word among the general English words of asr/wordlist.h that
 * every LM holds (0 = the most frequent), by frequency in pocketsphinx-en-us's
 * general model.  @return the rank, or -1 when it is not one of them. Thread: any.
 */
int ivr_grammar_general_rank(const char *word);

/**
 * Build a trigram language model (ARPA text, log10 probabilities with
 * backoff) for @node: counted from its example phrases, the same phrases
 * with one word replaced by a synonym from the built-in telephony lexicon,
 * and wrapped in carrier phrases; every carrier and background word is in
 * its vocabulary at a low unigram probability, and the general words of
 * asr/wordlist.h share 20% of the unigram mass in proportion to their
 * general frequency, so speech outside the menu can come out as words the
 * classifier does not know.  *@arpa is malloc'ed
 * (caller frees).
 * @return 0, -EINVAL (node has no intents or no words), -ENOMEM. Thread: control.
 */
IVR_NODISCARD int ivr_grammar_arpa(const struct ivr_flow_node *node, char **arpa);

/**
 * The lexicon group after group @after (-1: the first) that holds @word.
 * @return the group index, or -1 when no further group has it. Thread: any.
 */
int ivr_grammar_synonym_group(const char *word, int after);

/**
 * The @k-th word of lexicon group @group into @w.
 * @return false when @k or @group is past the end. Thread: any.
 */
bool ivr_grammar_synonym(int group, size_t k, char w[IVR_INTENT_WORD_MAX]);

#endif /* IVR_ASR_GRAMMAR_H */
