/* SPDX-License-Identifier: MIT */
/*
 * asr/recognizer.h - pocketsphinx recognition of flow-node intents, and the
 * decoder pool the engine feeds.
 *
 * One struct ivr_recognizer is one pocketsphinx decoder (5prealpha API:
 * cmd_ln_init/ps_init, ps_set_jsgf_string/ps_set_search, ps_start_utt/
 * ps_process_raw/ps_end_utt/ps_get_hyp, ps_get_lattice).  At creation it loads the
 * acoustic model memory-mapped (-mmap yes: the 6 MB of model pages are shared
 * by every decoder of the process) and a dictionary holding only the words of
 * the flows it serves (~5 MB per decoder instead of ~26 MB for the whole
 * cmudict, DESIGN.md section 7), and compiles one JSGF search per flow node
 * (asr/grammar.h) once; utterances only switch searches.
 *
 * Out-of-domain rejection: a grammar forces any speech onto some path, so
 * an utterance whose grammar score is not conclusive is decoded a second
 * time by a free phone loop (en-us-phone.lm.bin, allphone search): after the
 * end of speech, or (verify_stream) on a second pocketsphinx decoder fed
 * while the caller speaks once the running score and words make it likely.  The per-frame gap
 * between the two acoustic scores is small when the caller said grammar words and large when they
 * did not; a logistic of it is the acoustic confidence, which the intent classifier (asr/intent.h)
 * folds into the intent's confidence.
 *
 * Cepstral mean normalisation is kept per call (struct ivr_asr_cmn), not per
 * utterance or per decoder: on telephone audio a warm per-call estimate is the
 * difference between ~97% and ~45% (DESIGN.md section 7).  Decoders are
 * shared by all calls; a call's CMN state is loaded before its utterance and
 * saved after.
 *
 * The pool (struct ivr_asr_pool) owns N threads with K decoders each.
 * Media threads fill a session's preallocated buffer while the endpointer
 * hears speech (IVR_RT, no locks: atomic state and sample count per
 * session), mark it ended, and poll for partial and final results.  A worker
 * binds a speaking session to a free decoder (CAS) and decodes while the
 * caller speaks (streaming), so at the end of speech only the last 100 ms
 * block, verification and intent remain; sessions beyond N*K wait with their
 * audio buffered and catch up when a decoder frees.
 * Thread: recogniser calls on one thread at a time per recogniser; pool as
 * marked per function.
 */
#ifndef IVR_ASR_RECOGNIZER_H
#define IVR_ASR_RECOGNIZER_H

#include <stdbool.h>

#include "asr/flow.h"
#include "asr/grammar.h"

#define IVR_ASR_TEXT_MAX 256
#define IVR_ASR_NBEST	 5
#define IVR_ASR_CMN_DIM	 13

/** One hypothesis and its intent. */
struct ivr_asr_hyp {
	char text[IVR_ASR_TEXT_MAX];
	int intent;	  /* node intent index, -1 = none (not gated by the node's threshold) */
	float confidence; /* lattice posterior of the words x acoustic confidence, 0..1 */
};

/** Result of one utterance. */
struct ivr_asr_result {
	char text[IVR_ASR_TEXT_MAX]; /* best hypothesis, "" if nothing recognised */
	int intent;		     /* node intent index, -1 = no match (below threshold) */
	int best_intent;	     /* best intent ignoring the threshold, -1 = none */
	const char *intent_name;     /* points into the flow, NULL when intent < 0 */
	float confidence;	     /* intent confidence 0..1 (reported even below threshold) */
	float acoustic_confidence;   /* phone-loop verification 0..1 (1 without verification) */
	float score_gap;	     /* per-frame score gap grammar vs phone loop (>= 0 usually) */
	float grammar_score;	     /* grammar pass acoustic score per frame (raw units) */
	bool verified;		     /* the phone-loop pass ran for this utterance */
	struct ivr_asr_hyp nbest[IVR_ASR_NBEST];
	size_t n_nbest;
	uint32_t speech_ms; /* audio decoded */
	uint32_t decode_us; /* wall time in the decoder for this utterance (all passes) */
	uint32_t tail_us;   /* of which after the end of speech (stream_end: last block,
			       verification, intent) */
};

/** Per-call cepstral mean state (kept warm across a call's utterances). */
struct ivr_asr_cmn {
	float mean[IVR_ASR_CMN_DIM];
	bool valid; /* false: start from the model's telephone prior */
};

/** Recogniser options; zero = defaults. */
struct ivr_recognizer_cfg {
	const char *hmm_dir;   /* NULL: IVR_PS_MODELDIR/en-us/en-us */
	const char *dict_path; /* NULL: IVR_PS_MODELDIR/en-us/cmudict-en-us.dict */
	const char *phone_lm;  /* NULL: en-us-phone.lm.bin; "" disables verification */
	bool full_dict;	       /* load the whole dictionary (needed for custom grammars) */
	/* 0 = IVR_GRAMMAR_LM; verify_center applies to the JSGF modes only */
	enum ivr_grammar_mode mode;
	float verify_center; /* per-frame score gap giving confidence 0.5 (0 = built-in) */
	float verify_scale;  /* gap units per logistic unit (0 = built-in) */
	bool verify_always;  /* run the phone loop on every utterance with an intent,
				even when the grammar pass alone is conclusive */
	bool verify_stream;  /* run the phone loop on a second decoder fed while the caller
				speaks, so the end of speech leaves only its last block
				(latency); about the CPU of running it after the end
				(bench_asr: 2.44 s against 2.33 s) and ~3.6 MB Pss more
				per decoder */
};

struct ivr_recognizer; /* opaque */

/**
 * Create a decoder for the intent nodes of @flows (all nodes with intents).
 * A word of a phrase missing from the dictionary fails creation, and @err
 * names the words.  @return the recogniser, or NULL with errno (ENOENT: model
 * missing; EINVAL: bad flow/grammar; ENOMEM) and @err set.  Thread: control.
 */
struct ivr_recognizer *ivr_recognizer_new(const struct ivr_flow *const *flows, size_t n_flows,
					  const struct ivr_recognizer_cfg *cfg, char *err,
					  size_t err_len);

/** Free (NULL-safe). Thread: control. */
void ivr_recognizer_free(struct ivr_recognizer *r);

/**
 * @return the grammar id of node @node_idx of @flow (as given to _new()), or
 * -ENOENT when that node has no grammar (no intents). Thread: any.
 */
int ivr_recognizer_grammar(const struct ivr_recognizer *r, const struct ivr_flow *flow,
			   size_t node_idx);

/**
 * Add a custom JSGF grammar without intents (e.g. pocketsphinx's cards
 * test); words must be in the dictionary the recogniser loaded (full_dict).
 * @return grammar id, or -EINVAL (does not compile; @err says why), -ENOMEM.
 * Thread: control.
 */
int ivr_recognizer_add_jsgf(struct ivr_recognizer *r, const char *name, const char *jsgf, char *err,
			    size_t err_len);

/**
 * Recognise one utterance of @n_samples float samples (full scale 1.0) at
 * @rate_hz (8000: upsampled to 16 kHz; 16000) with grammar @grammar.
 * @cmn (may be NULL: the decoder's own running estimate) is loaded before and
 * updated after.  Silence or noise gives text "" and intent -1.
 * @return 0, -EINVAL (bad grammar id or rate), -EIO (decoder error).
 * Thread: the recogniser's owner.
 */
int ivr_recognizer_decode(struct ivr_recognizer *r, int grammar, const float *pcm, size_t n_samples,
			  uint32_t rate_hz, struct ivr_asr_cmn *cmn, struct ivr_asr_result *out);

/* ---- streaming: one utterance fed while the caller speaks ---- */

/**
 * Start an utterance with grammar @grammar, audio at @rate_hz (8000:
 * upsampled to 16 kHz here; 16000: as is).  @cmn (may be NULL) is the call's
 * cepstral mean, copied now.  An utterance still open is aborted first.
 * @return 0, -EINVAL (bad grammar id or rate), -EIO.  Thread: the owner.
 */
IVR_NODISCARD int ivr_recognizer_stream_begin(struct ivr_recognizer *r, int grammar,
					      uint32_t rate_hz, const struct ivr_asr_cmn *cmn);

/**
 * Feed @n_samples float samples (full scale 1.0, at the rate given to
 * _begin()).  Decoding happens here, in 100 ms blocks, so that _end() is left
 * with at most one block.  The 16 kHz audio is kept for the verification pass
 * (grows on the owner thread; not a media-thread function).
 * @return samples taken, -EINVAL (no utterance open), -ENOMEM, -EIO.
 * Thread: the owner.
 */
int ivr_recognizer_stream_feed(struct ivr_recognizer *r, const float *pcm, size_t n_samples);

/**
 * The best hypothesis so far (backtrace of the live search; words may still
 * change).  @return its length in bytes (0: nothing yet), -EINVAL.
 * Thread: the owner.
 */
int ivr_recognizer_stream_partial(struct ivr_recognizer *r, char *text, size_t len);

/**
 * End of speech: decode the last block, run the verification pass when it
 * can change the result (over the kept audio), classify.  @out as for
 * ivr_recognizer_decode() (which is _begin + _feed + _end); @cmn (may be
 * NULL) gets the call's updated mean.  @return 0, -EINVAL (no utterance
 * open), -EIO.  Thread: the owner.
 */
int ivr_recognizer_stream_end(struct ivr_recognizer *r, struct ivr_asr_cmn *cmn,
			      struct ivr_asr_result *out);

/** Drop the open utterance, if any (NULL-safe). Thread: the owner. */
void ivr_recognizer_stream_abort(struct ivr_recognizer *r);

/* ---- pool ---- */

/** Pool options; zero = defaults. */
struct ivr_asr_pool_cfg {
	struct ivr_recognizer_cfg rec;
	uint32_t n_decoders;	     /* worker threads (default 2) */
	uint32_t streams_per_thread; /* decoders per worker = callers decoded while they
					speak; more wait with their audio (default 2) */
	uint32_t n_sessions;	     /* concurrent recognitions (default 64) */
	uint32_t max_speech_ms;	     /* per utterance buffer (default 10000) */
	uint32_t partial_ms;	     /* audio between partial results (default 300;
					UINT32_MAX: none) */
};

struct ivr_asr_pool; /* opaque */

/**
 * Start @cfg->n_decoders worker threads, each with its own recogniser for
 * @flows (the flows must outlive the pool).  @return the pool or NULL with
 * errno and @err.  Thread: control.
 */
struct ivr_asr_pool *ivr_asr_pool_new(const struct ivr_flow *const *flows, size_t n_flows,
				      const struct ivr_asr_pool_cfg *cfg, char *err,
				      size_t err_len);

/** Stop the workers and free (NULL-safe). Thread: control. */
void ivr_asr_pool_free(struct ivr_asr_pool *p);

/**
 * Reserve a session for one call (its CMN state lives there).
 * @return session id >= 0, or -ENOSPC. Thread: control.
 */
int ivr_asr_session_open(struct ivr_asr_pool *p);

/** Release a session. Thread: control. */
void ivr_asr_session_close(struct ivr_asr_pool *p, int session);

/**
 * Begin an utterance for grammar @grammar (ivr_recognizer_grammar() ids are
 * the same in every decoder of the pool).  @return 0, -EBUSY (previous
 * utterance not collected), -EINVAL. Thread: media (IVR_RT).
 */
IVR_RT int ivr_asr_session_begin(struct ivr_asr_pool *p, int session, int grammar);

/**
 * Append speech (8 kHz float).  Audio beyond max_speech_ms is dropped
 * (counted).  @return samples taken. Thread: media (IVR_RT).
 */
IVR_RT size_t ivr_asr_session_feed(struct ivr_asr_pool *p, int session, const float *pcm8k,
				   size_t n_samples);

/** End of speech: hand the utterance to a worker. Thread: media (IVR_RT). */
IVR_RT int ivr_asr_session_end(struct ivr_asr_pool *p, int session);

/**
 * The latest partial result of the utterance in progress, if a new one was
 * published since the last call (only when the words changed, at most one per
 * partial_ms of audio).  @text gets at most @len - 1 bytes + NUL.
 * @return 1 (new partial in @text), 0 (none), -EINVAL. Thread: media (IVR_RT).
 */
IVR_RT int ivr_asr_session_partial(struct ivr_asr_pool *p, int session, char *text, size_t len);

/**
 * Collect the result if ready.  @return 1 (copied to @out, session idle
 * again), 0 (not yet), -EINVAL. Thread: media (IVR_RT).
 */
IVR_RT int ivr_asr_session_poll(struct ivr_asr_pool *p, int session, struct ivr_asr_result *out);

/** @return the grammar id for a node in the pool's decoders, or -ENOENT. Thread: any. */
int ivr_asr_pool_grammar(const struct ivr_asr_pool *p, const struct ivr_flow *flow,
			 size_t node_idx);

#endif /* IVR_ASR_RECOGNIZER_H */
