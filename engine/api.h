/* SPDX-License-Identifier: MIT */
/*
 * engine/api.h - libivr: the media engine as a C library.
 *
 * The same operations as the JSON-lines control protocol (engine/control.h,
 * README "Control protocol"), for platforms that embed the engine in their
 * own process.  An engine owns: a preallocated arena of max_calls call
 * slots, one media worker thread per core (io_uring or epoll), a recorder
 * writer thread, the prompt cache and the conference table.
 * Every function here runs on a control thread (any thread but a media
 * worker), may allocate and take the engine's control lock, and is safe to
 * call from several threads.  Errors are negative errno values; the last
 * one-line reason for the calling thread is ivr_engine_last_error().
 * Operations on a call are queued to its worker and take effect at its next
 * 20 ms tick.
 */
#ifndef IVR_ENGINE_API_H
#define IVR_ENGINE_API_H

#include <stdbool.h>

#include "common/defs.h"

struct ivr_ring;

struct ivr_engine; /* opaque */

struct ivr_engine_cfg {
	const char *bind_addr;	   /* IPv4 address for RTP sockets; NULL = "0.0.0.0" */
	uint16_t port_min;	   /* RTP port range (even ports used); 0 = 20000 */
	uint16_t port_max;	   /* 0 = 39999 */
	unsigned n_workers;	   /* media threads; 0 = one per online CPU */
	uint32_t max_calls;	   /* call slots; 0 = IVR_MAX_CALLS (meson -Dmax_calls) */
	bool force_epoll;	   /* skip io_uring (also env IVR_FORCE_EPOLL=1) */
	const char *ring_name;	   /* event ring name; created at start when set */
	uint32_t asr_ring_records; /* per-worker speech ring to ASR (power of two); 0 = none */
	const char *flows_dir;	   /* IVR flows (NAME.yaml): calls with a flow run it; NULL = off */
	const char *prompt_cache_dir; /* rendered prompt_text; NULL = engine/flowsvc.h default */
	unsigned asr_threads;	      /* ASR service threads for flows; 0 = one per worker */
	const char *moh_file;	      /* queue music on hold (WAV, any rate); NULL = a melody
				       * synthesized into the prompt cache folder; "" = none */
};

/**
 * Create an engine: allocates the slot arena, prompt cache, recorder and
 * mixer.  No thread runs yet.
 * @return the engine, or NULL with errno and ivr_engine_last_error().
 */
struct ivr_engine *ivr_engine_new(const struct ivr_engine_cfg *cfg);

/** Start the media workers. @return 0 or a negative errno. */
IVR_NODISCARD int ivr_engine_start(struct ivr_engine *e);

/** Stop the workers; every call is destroyed. @return 0. */
int ivr_engine_stop(struct ivr_engine *e);

/** Stop if needed and free everything. NULL-safe. */
void ivr_engine_free(struct ivr_engine *e);

/** @return the one-line reason of the calling thread's last failure. */
const char *ivr_engine_last_error(void);

/** @return "io_uring" or "epoll" (what the workers run), "none" before start. */
const char *ivr_engine_io_backend(struct ivr_engine *e);

/**
 * The speech ring of media worker @worker (engine/dspchain.h records, one
 * utterance per call at a time, pre-roll included): the ASR thread that owns
 * it is its only consumer (ivr_asr_reasm_poll()).
 * @return the ring, or NULL (no asr_ring_records, bad worker, not started).
 * Thread: any; consume from exactly one thread.
 */
struct ivr_ring *ivr_engine_asr_ring(struct ivr_engine *e, unsigned worker);

/** @return the configured ring name ("" when none). */
const char *ivr_engine_ring_name(struct ivr_engine *e);

/**
 * Echo cancellation of a call.  The canceller (speexdsp MDF, about 34 us per
 * frame and 76 KB per call) is what lets callers barge in over prompts, so
 * AUTO runs it on calls that have a flow and leaves it off on plain media
 * calls, where nobody listens for barge-in.
 */
enum ivr_call_aec { IVR_CALL_AEC_AUTO = 0, IVR_CALL_AEC_ON = 1, IVR_CALL_AEC_OFF = 2 };

struct ivr_call_params {
	const char *remote; /* "ip:port" where to send; NULL = wait for media (latching) */
	const char *codec;  /* "PCMU" (default), "PCMA", "opus" */
	int pt;		    /* payload type; -1 = the codec's static one (opus: 111) */
	/*
	 * Audio rate negotiated for the codec (Opus maxplaybackrate, RFC 7587;
	 * its RTP clock stays 48 kHz): 0 = 8000; Opus 8000, 16000 or 48000.
	 * The call runs at 8 kHz inside for 8000, at 16 kHz for 16000 and
	 * 48000 (engine/codec.h says why); G.711 takes only 8000.
	 */
	uint32_t rate_hz;
	int dtmf_pt;	   /* telephone-event payload type; -1 = none */
	unsigned ptime_ms; /* 0 or 20 (the engine ticks 20 ms frames) */
	const char *ani, *dnis, *flow;
	const char *vars_json; /* a JSON object as text, or NULL */
	enum ivr_call_aec aec; /* AUTO (zero): on for calls with a flow */
};

/**
 * Create a call: takes a slot, binds an RTP port from the range, hands the
 * call to the least loaded worker.
 * @return 0 and *@call_id, *@local_port; -ENOSPC (max calls reached or no
 *         free port), -EINVAL (bad parameters), -ENOTSUP (codec, or a
 *         rate_hz the engine does not run for it), -EIO.
 */
IVR_NODISCARD int ivr_call_create(struct ivr_engine *e, const struct ivr_call_params *p,
				  uint64_t *call_id, uint16_t *local_port);

/** Destroy a call (its slot is reclaimed within one tick). @return 0 or -ENOENT. */
int ivr_call_destroy(struct ivr_engine *e, uint64_t call_id);

/**
 * Play a WAV prompt (loaded and converted once, cached).  @loop repeats it;
 * @moh plays it as shared music on hold (position from the engine clock).
 * @return 0, -ENOENT (no call), or the load error.
 */
int ivr_call_play(struct ivr_engine *e, uint64_t call_id, const char *file, bool loop, bool moh);

/** Stop the prompt. @return 0 or -ENOENT. */
int ivr_call_stop_play(struct ivr_engine *e, uint64_t call_id);

/**
 * Send DTMF digits (0-9 * # A-D, at most 31).  @mode "inband" (default) or
 * "rfc4733" (-ENOTSUP until dsp/rfc4733.h is merged).  @return 0 or -errno.
 */
int ivr_call_send_dtmf(struct ivr_engine *e, uint64_t call_id, const char *digits,
		       const char *mode);

/**
 * Record to a WAV file: @channels is a comma-separated subset of
 * "caller,engine,mixed" (NULL = all three, in that order, 16-bit PCM).
 * @return 0 or -errno (file cannot be created, no call).
 */
int ivr_call_record_start(struct ivr_engine *e, uint64_t call_id, const char *path,
			  const char *channels);
/** Stop recording (the file is completed by the writer thread). */
int ivr_call_record_stop(struct ivr_engine *e, uint64_t call_id);
/** Pause (silence is recorded: sensitive input) / resume. */
int ivr_call_record_pause(struct ivr_engine *e, uint64_t call_id, bool pause);

/**
 * Join conference @conf (created on first join).  @listen: hears the
 * others; @speak: is heard; @speak_to: a call id (whisper: only that member
 * hears us) or 0 for everyone.  @return 0 or -errno.
 */
int ivr_call_conf_join(struct ivr_engine *e, uint64_t call_id, const char *conf, bool listen,
		       bool speak, uint64_t speak_to);
/** Change the flags in the current conference. */
int ivr_call_conf_flags(struct ivr_engine *e, uint64_t call_id, bool listen, bool speak,
			uint64_t speak_to);
/** Leave the conference. */
int ivr_call_conf_leave(struct ivr_engine *e, uint64_t call_id);

/**
 * Queue announcement (router command queue_announce, DESIGN.md section 5):
 * renders "There are N callers ahead of you. Your expected wait is about M
 * minutes." (N = @position - 1: position 1 is served next; @wait_s rounded
 * to 10 s below a minute, to minutes above) with flite on this thread, once
 * per distinct text (the file in the prompt cache folder is the cache), and
 * plays it over the call's music on hold, which returns afterwards.  A new
 * announcement replaces one still playing.  @text/@path (optional) get the
 * text and the rendered file.
 * @return 0, -ENOENT (no call), -EAGAIN (the call is not waiting in a queue:
 * its flow has not transferred it and no transfer command came), -ENOTSUP
 * (built without ASR, so no renderer), -ENOENT/-EIO from flite.
 * Thread: control (blocks for the rendering, ~0.1-0.5 s, on a new text).
 */
int ivr_call_queue_announce(struct ivr_engine *e, uint64_t call_id, unsigned position,
			    unsigned wait_s, char *text, size_t text_cap, char *path,
			    size_t path_cap);

/**
 * Router transfer: sets the call variable transfer_target = @target; a flow
 * still running stops there (a node_exit with reason "router" is published
 * and the call_end cause will be "transfer"); the call waits in queue with
 * music on hold.  @return 0, -ENOENT, -EINVAL (empty target).  Thread: control.
 */
int ivr_call_transfer(struct ivr_engine *e, uint64_t call_id, const char *target);

/**
 * Router hang-up: destroys the call; its call_end (flow calls) has cause
 * "router".  @return 0 or -ENOENT.  Thread: control.
 */
int ivr_call_hangup(struct ivr_engine *e, uint64_t call_id);

/** Most bytes a call's variables take as compact JSON text (with the NUL). */
#define IVR_CALL_VARS_MAX_BYTES 4096

/**
 * Merge @vars_json (JSON object text) into the call's variables: new keys
 * replace old ones.  @return 0 or -errno (-E2BIG when the result would be
 * IVR_CALL_VARS_MAX_BYTES bytes or more: a client cannot grow a call without bound).
 * Thread: control.
 */
int ivr_call_set_vars(struct ivr_engine *e, uint64_t call_id, const char *vars_json);

/**
 * Copy the call's variables into @buf. @return length or -errno (-ENOSPC
 * when @cap is too small).
 */
int ivr_call_get_vars(struct ivr_engine *e, uint64_t call_id, char *buf, size_t cap);

struct ivr_call_info {
	uint64_t call_id;
	uint16_t local_port;
	unsigned worker;
	char codec[8];
	uint32_t rate_hz;	/* audio rate inside the call: 8000, or 16000 (wideband Opus) */
	uint32_t codec_rate_hz; /* negotiated (create_call rate_hz; 8000 by default) */
	char remote[64];	/* current destination (latched or signalled) */
	uint64_t rx_pkts, rx_bad, rx_foreign, rx_flood_dropped, rx_dtmf_pkts;
	uint64_t tx_pkts, tx_errors;
	uint64_t frames_played, frames_concealed, frames_silent, frames_skipped, rec_dropped;
	uint64_t frames_fec; /* of frames_concealed: rebuilt from Opus in-band FEC */
	uint64_t jb_late, jb_duplicates;
	uint32_t jitter_ms_x100; /* RFC 3550 jitter, 1/100 ms */
	uint32_t jb_target_frames, jb_depth_frames;
	int32_t cum_lost;
	uint64_t rtcp_rx, rtcp_tx;
	int64_t rtt_us;		      /* RTCP round trip; -1 = not measured yet */
	uint8_t remote_fraction_lost; /* the peer's report on our stream, 1/256 */
	bool playing, recording;
	int64_t first_prompt_ms; /* create -> first prompt packet sent, ms; -1 = none */
};

/** Snapshot one call's counters. @return 0 or -ENOENT. */
int ivr_call_get_info(struct ivr_engine *e, uint64_t call_id, struct ivr_call_info *info);

struct ivr_engine_stats {
	uint32_t calls_active, max_calls;
	uint64_t calls_created, calls_refused;
	unsigned n_workers;
	uint64_t ticks, overruns, rx_dgrams, tx_errors;
	uint64_t tick_ns_max; /* worst tick of any worker */
	uint64_t tick_ns_avg;
	uint64_t cpu_ns; /* sum of the media threads' CPU time */
	uint64_t rec_frames_written, rec_frames_dropped;
	size_t prompts_cached;
	size_t slot_bytes; /* memory per call slot */
};

/** Snapshot the engine counters. @return 0. */
int ivr_engine_get_stats(struct ivr_engine *e, struct ivr_engine_stats *st);

/** Reload every cached prompt from disk. @return number reloaded or -errno. */
int ivr_engine_reload_prompts(struct ivr_engine *e);

/** Wait until every worker applied the commands posted so far (tests). */
int ivr_engine_sync(struct ivr_engine *e);

/** Wait until the recorder wrote every frame queued so far (tests). */
void ivr_engine_flush_recordings(struct ivr_engine *e);

#endif /* IVR_ENGINE_API_H */
