/* SPDX-License-Identifier: MIT */
/*
 * asr/intent.h - recognised words -> intent, with a confidence in 0..1.
 *
 * Callers rarely say an example phrase word for word ("I'd like to know my
 * balance" for "check my balance").  The classifier is learned from a node's
 * example phrases: each word gets a weight per intent (how specific it is to
 * that intent: tf-idf over the node's intents, with function words such as
 * "my", "to", "a" counting little because every intent has them).  A text is
 * scored per intent as the weight of its words found in that intent divided
 * by the text's total word weight; the confidence of the best intent combines
 * that coverage, its margin over the runner-up and the recogniser's own
 * acoustic confidence.  Below the node's threshold the answer is no intent.
 * Words meet through their Porter2 stems (Debian's libstemmer), the hand
 * lexicon (asr/grammar.c) and WordNet's related words at half weight
 * (asr/related.h); a text mostly made of words no intent knows (the
 * garbage-word rate) loses confidence.  Measurements: docs/asr.md.
 * Also the text normaliser (lower case, words of a-z and ') every ASR module
 * shares, so the flow, the grammar and the classifier agree on what a word is.
 * Thread: build on control; classify is read-only on the model (any thread).
 */
#ifndef IVR_ASR_INTENT_H
#define IVR_ASR_INTENT_H

#include "asr/flow.h"

#define IVR_INTENT_WORD_MAX 32 /* bytes of one word, NUL included */

/**
 * Split @text into lower-case words of [a-z'] (other characters separate
 * words; longer words are truncated).  Up to @max words into @words.
 * @return the number of words found (may exceed @max). Thread: any.
 */
size_t ivr_intent_words(const char *text, char (*words)[IVR_INTENT_WORD_MAX], size_t max);

/**
 * The headword of one pocketsphinx dictionary line ("word  W ER D", "word(2) ..."): the
 * text up to the first space, tab or '(' (alternate pronunciations), truncated to
 * IVR_INTENT_WORD_MAX - 1 bytes, into @key (NUL-terminated).  Shared by the lint's
 * dictionary check and the recogniser's dictionary filter so both read a line alike.
 * @return nothing. Thread: any.
 */
void ivr_intent_dict_key(const char *line, char key[IVR_INTENT_WORD_MAX]);

struct ivr_intent_model; /* opaque */

/** Classification of one text. */
struct ivr_intent_result {
	int intent;	  /* index into the node's intents, -1 = no intent */
	int best;	  /* best intent ignoring the threshold, -1 = no known word */
	float confidence; /* 0..1 of the best intent (also when below threshold) */
	int runner_up;	  /* second-best intent, -1 if none */
	float runner_up_confidence;
	float garbage; /* share 0..1 of the text's word weight that no intent of the node knows */
};

/**
 * Learn a classifier from @node's intents and phrases.
 * @return the model, or NULL with errno (EINVAL: node has no intents; ENOMEM).
 * Thread: control.
 */
struct ivr_intent_model *ivr_intent_build(const struct ivr_flow_node *node);

/** Free a model (NULL-safe). Thread: control. */
void ivr_intent_free(struct ivr_intent_model *m);

/**
 * Classify recognised @text.  @asr_confidence in 0..1 is the recogniser's
 * confidence in the words (1 when the text is typed).  The result's intent is
 * -1 when the confidence is below @threshold or no word is known.
 * @return 0, or -EINVAL. Thread: any (model read-only).
 */
int ivr_intent_classify(const struct ivr_intent_model *m, const char *text, float asr_confidence,
			float threshold, struct ivr_intent_result *out);

/** @return the number of distinct words the model knows. Thread: any. */
size_t ivr_intent_vocab_size(const struct ivr_intent_model *m);

#endif /* IVR_ASR_INTENT_H */
