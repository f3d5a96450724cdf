/* SPDX-License-Identifier: MIT */
/*
 * asr/testset.h - recognition test sets: cases files, speech rendered by TTS,
 * replay through the recogniser, and the statistics `ivr-flow test` prints.
 *
 * A cases file has one case per line, `NODE|TEXT|EXPECTED` (EXPECTED an
 * intent of NODE, or `-` for out-of-domain speech that must be rejected);
 * `#` starts a comment.  When TEXT ends in `.wav` it is a recording (path
 * relative to the cases file); otherwise it is rendered with a synthetic
 * voice: flite (slt, rms, awb, kal) or espeak-ng ("espeak"), converted to
 * 8 kHz mu-law (telephone quality) and cached by voice and text.
 * Replay keeps one CMN state per voice, as one call would.
 * Thread: control (files, processes, allocation).
 */
#ifndef IVR_ASR_TESTSET_H
#define IVR_ASR_TESTSET_H

#include <stdio.h>

#include "asr/flow.h"
#include "asr/recognizer.h"

/** One line of a cases file. */
struct ivr_testcase {
	char node[64];
	char text[256];	   /* words spoken, or the recording's path */
	char expected[64]; /* intent name, "-" = out of domain */
	bool is_audio;	   /* text is a WAV path */
	bool is_phrase;	   /* text is one of the node's example phrases */
	uint32_t line;
};

/** One case replayed with one voice. */
struct ivr_testset_outcome {
	const struct ivr_testcase *c;
	const char *voice;
	int node;     /* flow node index */
	int expected; /* intent index, -1 = out of domain */
	struct ivr_asr_result r;
};

/** Summary at one threshold. */
struct ivr_testset_summary {
	uint32_t n_in, in_correct, in_rejected, in_wrong;
	uint32_t n_phrase, phrase_correct, n_para, para_correct;
	uint32_t n_ood, ood_rejected;
	double decode_ms_median, decode_ms_max, speech_ms_total, decode_ms_total;
};

/**
 * Parse @path.  @return 0 with *@cases (malloc'ed) and *@n, -ENOENT, -EBADMSG
 * (@err gives FILE:LINE), -ENOMEM.  Thread: control.
 */
IVR_NODISCARD int ivr_testset_load(const char *path, const struct ivr_flow *flow,
				   struct ivr_testcase **cases, size_t *n, char *err,
				   size_t err_len);

/**
 * Render @text with @voice into @cache_dir (created if needed) as 8 kHz
 * mu-law WAV; an existing rendering is reused.  @out gets the path.
 * @return 0, -ENOENT (TTS program missing), -EIO. Thread: control.
 */
IVR_NODISCARD int ivr_testset_render(const char *text, const char *voice, const char *cache_dir,
				     char *out, size_t out_len);

/** How to replay a test set. */
struct ivr_testset_opts {
	const char *const *voices; /* TTS voices for text cases */
	size_t n_voices;
	const char *cache_dir; /* rendered speech */
	const char *cases_dir; /* recordings are relative to it */
	float snr_db;	       /* > 0: add white noise at this SNR (speech RMS) */
	FILE *log;	       /* one line per replay, or NULL */
};

/**
 * Replay @n cases through @rec, text cases once per voice.  *@out
 * (malloc'ed) gets one outcome per replay.  @return the number of outcomes,
 * or a negative errno (-ENOENT: TTS missing).  Thread: control.
 */
int ivr_testset_run(struct ivr_recognizer *rec, const struct ivr_flow *flow,
		    const struct ivr_testcase *cases, size_t n, const struct ivr_testset_opts *opts,
		    struct ivr_testset_outcome **out);

/**
 * Classify each text case's own words with the node's intent classifier
 * (asr/intent.h) at acoustic confidence 1, without audio: the classifier's
 * share of the errors, measured in milliseconds.  Recordings are skipped.
 * *@out (malloc'ed) gets one outcome per text case (voice "text", r.text the
 * case's text, no timing).  @log gets one line per case, or NULL.
 * @return the number of outcomes, or -ENOMEM / -EINVAL.  Thread: control.
 */
int ivr_testset_classify_text(const struct ivr_flow *flow, const struct ivr_testcase *cases,
			      size_t n, FILE *log, struct ivr_testset_outcome **out);

/**
 * Summarise outcomes; @threshold < 0 uses each node's own threshold.
 * Thread: any.
 */
void ivr_testset_summarise(const struct ivr_testset_outcome *o, size_t n, float threshold,
			   struct ivr_testset_summary *s);

/** Print accuracy, confusion matrix, recall per intent and a threshold sweep. */
void ivr_testset_print(FILE *f, const struct ivr_flow *flow, const struct ivr_testset_outcome *o,
		       size_t n);

#endif /* IVR_ASR_TESTSET_H */
