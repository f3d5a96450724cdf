/* SPDX-License-Identifier: MIT */
/*
 * engine/jitter.h - adaptive jitter buffer (per call, fixed arena) and G.711
 * packet-loss concealment.
 *
 * The buffer holds encoded frames in a ring of IVR_JB_SLOTS slots indexed by
 * timestamp relative to the playout point, so reordering costs nothing and
 * duplicates are found in O(1).  It plays one frame per 20 ms tick.  The
 * target depth follows the RFC 3550 A.8 jitter estimate of the arrivals
 * (target = 1 + ceil(3 J / frame), clamped to [min, max]); a late packet
 * raises the target at once (and the playout holds back one frame, concealed),
 * holding more than the target for 1 s shrinks it by dropping one frame.  Packets
 * far outside the window (a restarted sender) resynchronise the buffer.
 * Missing frames are reported to the caller, who runs the codec's PLC.
 *
 * The PLC (struct ivr_plc) follows the structure of ITU-T G.711 Appendix I:
 * on the first lost frame the pitch period is found by normalised
 * cross-correlation over the history (lags 5..15 ms), the last period(s) are
 * repeated with a quarter-period overlap-add at the joins, the signal is
 * attenuated 20 % per 10 ms after the first 10 ms and muted after 60 ms, and
 * the first good frame after a loss is cross-faded with the synthetic
 * continuation.  Simpler than the Appendix (one period repeated, no
 * 1->2->3 period growth), which is audible only on long losses.
 * Thread: RT for put/get/conceal; init on the control thread.
 */
#ifndef IVR_ENGINE_JITTER_H
#define IVR_ENGINE_JITTER_H

#include <stdbool.h>

#include "common/defs.h"

#define IVR_JB_SLOTS	   32 /* power of two: 640 ms of 20 ms frames */
#define IVR_JB_MAX_PAYLOAD 640

struct ivr_jb_cfg {
	uint32_t clock_hz;    /* RTP clock; 0 = 8000 */
	uint32_t frame_units; /* timestamp units per frame; 0 = clock_hz/50 (20 ms) */
	uint32_t min_frames;  /* minimum target depth; 0 = 1 */
	uint32_t max_frames;  /* maximum target depth; 0 = 10; <= IVR_JB_SLOTS/2 */
	uint32_t max_payload; /* bytes per frame; 0 = 320; <= IVR_JB_MAX_PAYLOAD */
};

enum ivr_jb_result {
	IVR_JB_FRAME = 0,   /* a frame was returned */
	IVR_JB_MISSING = 1, /* the frame due now is missing: conceal */
	IVR_JB_EMPTY = 2,   /* nothing playing yet (prefill, no stream): silence */
};

struct ivr_jb_stats {
	uint64_t received, played, missing, late, duplicates, too_big, resyncs, dropped_adapt;
	uint32_t target_frames; /* current target depth */
	uint32_t depth_frames;	/* frames buffered now */
	uint32_t jitter_units;	/* A.8 estimate of arrival jitter */
};

struct ivr_jb; /* opaque */

/** @return bytes needed for a buffer with @cfg (NULL = defaults). Thread: any. */
size_t ivr_jb_size(const struct ivr_jb_cfg *cfg);

/**
 * Initialise in @mem (@size >= ivr_jb_size(), 8-byte aligned).
 * @return 0, -EINVAL (bad cfg or size).  Thread: control.
 */
IVR_NODISCARD int ivr_jb_init(struct ivr_jb *jb, size_t size, const struct ivr_jb_cfg *cfg);

/** Forget all frames and statistics (slot reuse). Thread: RT. */
IVR_RT void ivr_jb_reset(struct ivr_jb *jb);

/**
 * Insert one packet's payload.  @arrival is the arrival time in RTP clock
 * units (any origin; used for the jitter estimate).
 * @return 0 stored, -EEXIST duplicate, -ERANGE late (its time has passed),
 *         -EMSGSIZE payload too big, -EINVAL.  Thread: RT.
 */
IVR_RT int ivr_jb_put(struct ivr_jb *jb, uint16_t seq, uint32_t ts, bool marker,
		      const void *payload, size_t n_bytes, uint32_t arrival);

/**
 * Take the frame due at this tick.  On IVR_JB_FRAME, copies up to @cap bytes
 * into @out and sets *@n_bytes; *@ts gets the frame's timestamp in all cases
 * once playing.  @return an enum ivr_jb_result.  Thread: RT.
 */
IVR_RT int ivr_jb_get(struct ivr_jb *jb, void *out, size_t cap, size_t *n_bytes, uint32_t *ts);

/**
 * Look at the frame the next ivr_jb_get() will return, without taking it:
 * after IVR_JB_MISSING, the packet that follows the lost one (Opus FEC
 * rebuilds the lost frame from it).  Copies up to @cap bytes into @out.
 * @return true with *@n_bytes and *@ts (its RTP timestamp) set, false if
 *         that frame has not arrived (or nothing is playing).  Thread: RT.
 */
IVR_RT bool ivr_jb_peek(const struct ivr_jb *jb, void *out, size_t cap, size_t *n_bytes,
			uint32_t *ts);

/** Copy the counters. Thread: RT (owner) only. */
IVR_RT void ivr_jb_get_stats(const struct ivr_jb *jb, struct ivr_jb_stats *st);

/** Heap wrappers for tools/tests. */
struct ivr_jb *ivr_jb_new(const struct ivr_jb_cfg *cfg);
void ivr_jb_free(struct ivr_jb *jb);

/* ---- G.711 packet loss concealment (Appendix I structure) ---- */

#define IVR_PLC_HIST 512 /* samples: longest pitch lag + correlation window at 16 kHz (400) */

struct ivr_plc {
	uint32_t rate_hz;
	uint32_t n_lost;	  /* samples concealed in the current loss */
	uint32_t pitch;		  /* period in samples during a loss */
	uint32_t pos;		  /* read position inside the repeated period */
	uint32_t hist_pos;	  /* oldest sample of the ring hist[] (= where the next one goes) */
	float hist[IVR_PLC_HIST]; /* ring: one copy per good frame, unrolled only on a loss */
	float period[IVR_PLC_HIST / 2];
};

/** Initialise for @rate_hz (8000 or 16000). @return 0 or -EINVAL. Thread: any. */
IVR_NODISCARD int ivr_plc_init(struct ivr_plc *p, uint32_t rate_hz);

/**
 * A good frame was decoded: cross-fade it in place after a loss, and keep
 * it as history.  Thread: RT.
 */
IVR_RT void ivr_plc_good(struct ivr_plc *p, float *frame, size_t n_samples);

/** Synthesise @n_samples of a lost frame into @out. Thread: RT. */
IVR_RT void ivr_plc_conceal(struct ivr_plc *p, float *out, size_t n_samples);

#endif /* IVR_ENGINE_JITTER_H */
