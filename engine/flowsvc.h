/* SPDX-License-Identifier: MIT */
/*
 * engine/flowsvc.h - the engine's flow service: flows loaded from a folder,
 * their recognition resources and prompts built once and shared read-only by
 * calls, hot reload, and the ASR threads that turn the media workers' speech
 * into results for the calls' flow runtimes (engine/flowrt.h).
 *
 * Flows: flow NAME is the file DIR/NAME.yaml (DESIGN.md section 4; DIR is
 * grammars/ of the source tree by default).  Loading one builds a *version*:
 * the parsed model, one pocketsphinx recogniser per ASR thread holding every
 * intent node's grammar compiled once (asr/recognizer.h), and the node
 * prompts - WAV files relative to the flow, or prompt_text rendered with
 * flite into a cache folder (asr/testset.h, 8 kHz mu-law, reused when the
 * same text was rendered before) - loaded through the prompt cache
 * (engine/prompt.h).  A call takes a reference on the current version when
 * it starts and drops it when it ends (the drop is an atomic decrement, safe
 * on a media worker).  Reload builds a new version from the file; new calls
 * get it, live calls keep theirs; a retired version is freed by
 * ivr_flowsvc_sweep() once no call references it and every ASR thread has
 * passed a quiescent point since (quiescent-state reclamation, so an ASR
 * thread that read a call's version pointer just before the call ended
 * never sees it freed under it).
 *
 * ASR service: N threads (default 1).  Thread t consumes the speech rings of
 * the media workers w with w % N == t (records of engine/dspchain.h,
 * reassembled per call by ivr_asr_reasm), so every utterance of a call is
 * decoded by the same thread, which keeps the call's cepstral mean warm
 * across its utterances (DESIGN.md section 7: ~97% vs ~45% when reset per
 * utterance).  Which grammar to use is what the call's media worker armed
 * last (ivr_flowsvc_arm(): node + recognition turn, one atomic word per call
 * slot).  Each result goes back on the owning worker's result ring; neither
 * side ever blocks: a full result ring counts a drop and marks the call's
 * turn lost, which the worker turns into a no-match
 * (ivr_flowsvc_take_lost()).
 *
 * Streaming: an ASR thread binds a call's utterance to one of its
 * streams_per_thread decoders at the utterance's first record (when the
 * call is armed) and decodes each record as it arrives, so the end of
 * speech leaves only the last 100 ms block, the verification pass when it
 * is needed, and the intent.  Utterances that find every decoder busy are
 * reassembled as before and decoded whole at their end by the thread's
 * spare decoder (one more per version).  A stream whose node or turn
 * changed before its end is decoded again whole with the node armed at the
 * end.  With partial_ms, the words so far go to the worker's result ring
 * every partial_ms of speech when they changed (IVR_FLOWSVC_R_PARTIAL; a
 * full ring drops them silently).
 *
 * Thread: control for load/reload/sweep/new/free/start; the functions
 * marked IVR_RT on the owning media worker.
 */
#ifndef IVR_ENGINE_FLOWSVC_H
#define IVR_ENGINE_FLOWSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asr/flow.h"
#include "asr/recognizer.h"
#include "common/defs.h"
#include "engine/flowrt.h"

struct ivr_ring;
struct ivr_prompt;
struct ivr_prompt_cache;

#define IVR_FLOWSVC_TEXT_MAX  160 /* bytes of a result's text (NUL included) */
#define IVR_FLOWSVC_NBEST     3	  /* n-best entries carried back */
#define IVR_FLOWSVC_NAME_MAX  64  /* bytes of a flow name */
#define IVR_FLOWSVC_RESULT_SZ 1024

/** Result flags. */
#define IVR_FLOWSVC_R_ABORTED 0x01 /* speech frames were lost: reported as a no-match */
#define IVR_FLOWSVC_R_ERROR   0x02 /* the decoder failed: reported as a no-match */
#define IVR_FLOWSVC_R_PARTIAL 0x04 /* words so far while the caller speaks; not a result */

/** One recognition result on a worker's result ring (IVR_FLOWSVC_RESULT_SZ bytes). */
struct ivr_flowsvc_result {
	uint64_t call_id;
	uint32_t turn;	  /* the armed turn the utterance was decoded for */
	int16_t node;	  /* node whose grammar was used */
	int16_t intent;	  /* intent index in that node, -1 = none/below threshold */
	float confidence; /* 0..1 */
	uint32_t speech_ms, decode_us;
	uint8_t flags; /* IVR_FLOWSVC_R_* */
	uint8_t n_nbest;
	char text[IVR_FLOWSVC_TEXT_MAX];
	struct {
		char text[IVR_FLOWSVC_TEXT_MAX];
		float confidence; /* of the entry's intent, 0..1 */
		int16_t intent;	  /* intent index in that node, -1 = none */
	} nbest[IVR_FLOWSVC_NBEST];
};

/** Configuration; zero fields take the defaults in brackets. */
struct ivr_flowsvc_cfg {
	const char *dir;		  /* flows [IVR_SOURCE_DIR "/grammars"] */
	const char *prompt_dir;		  /* rendered prompts [IVR_BUILD_DIR "/prompt-cache"] */
	const char *voice;		  /* flite voice for prompt_text ["slt"] */
	struct ivr_prompt_cache *prompts; /* where prompts are loaded; NULL = no audio */
	bool no_asr;			  /* build no recognisers (no model, or tests) */
	bool no_tts;			  /* do not render prompt_text */
	struct ivr_recognizer_cfg rec;
	uint32_t n_asr_threads;	      /* [1] */
	uint32_t n_workers;	      /* media workers (speech + result rings) [1] */
	uint32_t max_calls;	      /* call slots (per-call ASR state) [IVR_MAX_CALLS] */
	uint32_t slot_bits;	      /* call_id & ((1 << slot_bits) - 1) = slot [24] */
	uint32_t result_ring_records; /* per worker, power of two [64] */
	uint32_t max_speech_ms;	      /* longest utterance decoded [10000] */
	uint32_t streams_per_thread;  /* callers decoded while they speak, per ASR thread [2] */
	uint32_t partial_ms;	      /* audio between partial results [0 = none] */
};

/** Counters (racy snapshot). */
struct ivr_flowsvc_stats {
	uint64_t utterances; /* reassembled */
	uint64_t decoded;
	uint64_t streamed;     /* of which decoded while the caller spoke */
	uint64_t partials;     /* partial results sent */
	uint64_t aborted;      /* utterances with lost frames */
	uint64_t stale;	       /* for calls that ended or were not armed */
	uint64_t result_drops; /* result ring full */
	uint64_t decode_us_total, speech_ms_total;
	uint32_t versions_live, versions_retired;
};

struct ivr_flowsvc;	 /* opaque */
struct ivr_flowsvc_flow; /* one loaded version of a flow (opaque) */

/**
 * Create the service (no thread yet).  @return it, or NULL with errno and
 * a reason in @err.  Thread: control.
 */
struct ivr_flowsvc *ivr_flowsvc_new(const struct ivr_flowsvc_cfg *cfg, char *err, size_t err_len);

/**
 * Start the ASR threads on the workers' speech rings (@rings[w], one per
 * worker, cfg.n_workers of them; engine/api.h ivr_engine_asr_ring()).
 * Without recognisers (cfg.no_asr) the threads still drain the rings.
 * @return 0, -EALREADY, -EINVAL, -ENOMEM, -EAGAIN.  Thread: control.
 */
IVR_NODISCARD int ivr_flowsvc_start(struct ivr_flowsvc *svc, struct ivr_ring *const *rings,
				    uint32_t n_rings);

/** Stop the threads, free every version (no call may hold one). NULL-safe. */
void ivr_flowsvc_free(struct ivr_flowsvc *svc);

/**
 * The current version of flow @name (loaded from DIR/NAME.yaml on first use),
 * with a reference for the caller.
 * @return 0 with *@out, -EINVAL (bad name), -ENOENT, -EBADMSG (@err says
 * FILE:LINE:COL why), -ENOMEM.  Thread: control.
 */
IVR_NODISCARD int ivr_flowsvc_acquire(struct ivr_flowsvc *svc, const char *name,
				      struct ivr_flowsvc_flow **out, char *err, size_t err_len);

/** Drop a reference (never frees: see ivr_flowsvc_sweep()). NULL-safe. Thread: any, IVR_RT. */
IVR_RT void ivr_flowsvc_release(struct ivr_flowsvc_flow *v);

/**
 * Reload flow @name (NULL: every loaded flow) from its file.  A flow that
 * fails to load keeps its current version (@err says why).
 * @return the number of flows reloaded, or a negative errno.  Thread: control.
 */
int ivr_flowsvc_reload(struct ivr_flowsvc *svc, const char *name, char *err, size_t err_len);

/** Free retired versions nobody uses. @return how many were freed. Thread: control. */
int ivr_flowsvc_sweep(struct ivr_flowsvc *svc);

/** @return the parsed model of a version. Thread: any. */
const struct ivr_flow *ivr_flowsvc_flow_model(const struct ivr_flowsvc_flow *v);

/** @return the version number (1 for the first load, +1 per reload). Thread: any. */
uint32_t ivr_flowsvc_flow_version(const struct ivr_flowsvc_flow *v);

/** @return references held (calls + the service's own while current). Thread: any. */
int ivr_flowsvc_flow_refs(const struct ivr_flowsvc_flow *v);

/**
 * The prompt to play for node @node, text @kind (enum ivr_flowrt_prompt),
 * or NULL (not loaded: no prompt cache, TTS missing).  The version holds it;
 * a player takes its own reference (prompt.h refs) while playing.
 * Thread: any.
 */
struct ivr_prompt *ivr_flowsvc_flow_prompt(const struct ivr_flowsvc_flow *v, int node,
					   unsigned kind);

/**
 * Make version @v's prompts available at @rate_hz (16000: a wideband call;
 * the prompt cache converts each file once, at the first such call of the
 * version).  Call before the call is handed to its worker.
 * @return 0, -EINVAL (rate other than 8000/16000), -ENOMEM.  Thread: control.
 */
int ivr_flowsvc_flow_use_rate(struct ivr_flowsvc_flow *v, uint32_t rate_hz);

/**
 * ivr_flowsvc_flow_prompt() at @rate_hz (8000 or 16000; 16000 after
 * ivr_flowsvc_flow_use_rate()).  @return the prompt or NULL.  Thread: any.
 */
struct ivr_prompt *ivr_flowsvc_flow_prompt_at(const struct ivr_flowsvc_flow *v, int node,
					      unsigned kind, uint32_t rate_hz);

/** @return the path the prompt was (or would be) loaded from, or NULL. Thread: any. */
const char *ivr_flowsvc_flow_prompt_path(const struct ivr_flowsvc_flow *v, int node, unsigned kind);

/**
 * A call @call_id (in its slot) starts using version @v: clears its armed
 * state.  @return 0, -EINVAL (slot out of range).  Thread: control, before the
 * worker feeds the call.
 */
int ivr_flowsvc_call_open(struct ivr_flowsvc *svc, uint64_t call_id, struct ivr_flowsvc_flow *v);

/** The call ended: its later utterances and results are dropped. Thread: any, IVR_RT. */
IVR_RT void ivr_flowsvc_call_close(struct ivr_flowsvc *svc, uint64_t call_id);

/**
 * Arm recognition for @call_id with node @node's grammar for turn @turn
 * (flowrt RECO_START); @node < 0 disarms (RECO_STOP).  Only utterances with
 * a chain utterance id (struct ivr_asr_frame utt_id) >= @first_utt are
 * decoded for this turn: speech that started before the turn (a DTMF tone
 * the VAD took for speech, the tail of an answer to the previous node)
 * must not answer the new node.  Thread: the call's worker, IVR_RT (two
 * atomic stores).
 */
IVR_RT void ivr_flowsvc_arm(struct ivr_flowsvc *svc, uint64_t call_id, int node, uint32_t turn,
			    uint32_t first_utt);

/**
 * Take the next result for worker @worker.
 * @return 1 (*@out filled), 0 (none).  Thread: that worker, IVR_RT.
 */
IVR_RT int ivr_flowsvc_poll(struct ivr_flowsvc *svc, uint32_t worker,
			    struct ivr_flowsvc_result *out);

/**
 * A turn of @call_id whose result was dropped (result ring full), cleared by
 * the call.  @return the turn, or 0.  Thread: the call's worker, IVR_RT.
 */
IVR_RT uint32_t ivr_flowsvc_take_lost(struct ivr_flowsvc *svc, uint64_t call_id);

/**
 * Convert a ring result to flowrt's input (pointers into @r, @nb and @flow).  The n-best
 * entries' intent indices become names of node @r->node of @flow (the flow the call runs,
 * which decoded the result); NULL @flow or an index out of range gives a NULL intent.
 * Thread: any, IVR_RT.
 */
IVR_RT void ivr_flowsvc_to_flowrt(const struct ivr_flowsvc_result *r, const struct ivr_flow *flow,
				  struct ivr_event_nbest nb[IVR_FLOWSVC_NBEST],
				  struct ivr_flowrt_result *out);

/** Copy the counters. Thread: any. */
void ivr_flowsvc_get_stats(struct ivr_flowsvc *svc, struct ivr_flowsvc_stats *st);

#endif /* IVR_ENGINE_FLOWSVC_H */
