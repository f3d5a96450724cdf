/* SPDX-License-Identifier: MIT */
/*
 * dsp/faxtone.h - fax and modem tone detection: CNG 1100 Hz, CED/ANS 2100 Hz.
 *
 * ITU-T T.30: the calling fax sends CNG, 1100 Hz +-38 Hz, 0.5 s on / 3 s
 * off; the answering fax sends CED, 2100 Hz +-15 Hz for 2.6-4 s.  ITU-T
 * V.25 ANS is the same tone, optionally with 180-degree phase reversals
 * every 450 ms (to disable echo cancellers); V.8 ANSam adds 15 Hz
 * amplitude modulation at 20%.  An IVR must recognise a caller that is a
 * fax machine (CNG) and a callee that answers with a modem (ANS).
 *
 * Method: each tone has a complex demodulator at its nominal frequency;
 * over 5 ms blocks it yields the tone's complex amplitude z.  A block holds
 * the tone when the tone carries most of the block's power (2|z|^2 / power
 * >= 0.6, which excludes speech, music, DTMF and other tones) above the
 * level floor.  The phase step of z between blocks measures the frequency
 * offset (averaged over the whole tone, so the +-38 / +-15 Hz limits are
 * checked precisely), a step near 180 degrees is a phase reversal, and a
 * Goertzel filter on |z| at 15 Hz measures ANSam's modulation.
 *
 * Events: CNG when a 1100 Hz burst of 0.4-0.7 s ends (a continuous 1100 Hz
 * tone is not CNG), flagged CADENCE from the second burst on when bursts
 * follow the T.30 0.5 s on / 3 s off rhythm; ANS once 2100 Hz has lasted ans_min_ms (default 1 s)
 * with flags for reversals / AM; ANS_END with the total duration when it
 * stops (T.30 CED lasts >= 2.6 s; the caller can check duration_samples).
 *
 * Thread: per call, one media thread; init at call setup, the rest IVR_RT.
 */
#ifndef IVR_DSP_FAXTONE_H
#define IVR_DSP_FAXTONE_H

#include "common/defs.h"

/** Configuration; zero fields take the defaults. */
struct ivr_faxtone_cfg {
	uint32_t rate_hz;     /* 8000 or 16000, default 8000 */
	float min_level_dbm0; /* weakest tone detected, default -43 dBm0 */
	uint32_t ans_min_ms;  /* 2100 Hz duration before ANS is reported, default 1000 */
};

enum ivr_faxtone_type {
	IVR_FAXTONE_CNG = 1,	 /* calling fax tone burst (one event per burst) */
	IVR_FAXTONE_ANS = 2,	 /* 2100 Hz answer tone (CED / V.25 ANS / V.8 ANSam) */
	IVR_FAXTONE_ANS_END = 3, /* the answer tone stopped; duration_samples = total */
};

/** Event flags. */
#define IVR_FAXTONE_F_REVERSALS 0x01 /* ANS: phase reversals seen: ANS-bar / ANSam-bar */
#define IVR_FAXTONE_F_AM	0x02 /* ANS: 15 Hz amplitude modulation: ANSam */
#define IVR_FAXTONE_F_CADENCE	0x04 /* CNG: 3.5 s +-15% after the previous burst (T.30) */

struct ivr_faxtone_event {
	uint8_t type;		   /* enum ivr_faxtone_type */
	uint8_t flags;		   /* IVR_FAXTONE_F_* */
	uint16_t freq_hz;	   /* measured tone frequency, rounded */
	uint64_t onset_sample;	   /* tone start, samples since init/reset */
	uint32_t duration_samples; /* CNG: burst length; ANS: so far; ANS_END: total */
};

struct ivr_faxtone; /* opaque */

/** @return bytes for a detector with @cfg (NULL = defaults), 0 if invalid. Thread: any. */
size_t ivr_faxtone_size(const struct ivr_faxtone_cfg *cfg);

/**
 * Initialise a detector in caller memory.
 * @return 0, -EINVAL (bad rate or level, NULL) or -ENOSPC (@size too small).
 * Thread: control (call setup).
 */
IVR_NODISCARD int ivr_faxtone_init(struct ivr_faxtone *ft, size_t size,
				   const struct ivr_faxtone_cfg *cfg);

/** Restart detection (new call in the slot); sample count back to 0. Thread: media. */
IVR_RT void ivr_faxtone_reset(struct ivr_faxtone *ft);

/**
 * Feed @n_samples of audio (float, full scale 1.0; NaN/Inf count as silence).
 * Writes at most @max_ev events; more than 2 per 20 ms frame cannot happen.
 * @return number of events written, -EINVAL on NULL.  Thread: media (IVR_RT).
 */
IVR_RT int ivr_faxtone_process(struct ivr_faxtone *ft, const float *pcm, size_t n_samples,
			       struct ivr_faxtone_event *ev, size_t max_ev);

/**
 * ivr_faxtone_process() with what a detector that looked at the same audio
 * already knows (dsp/dtmf.h ivr_dtmf_rx_gated()): bit k of @no_tone set when
 * the k-th whole 5 ms block of @pcm cannot hold a fax tone (under the level
 * floor, or its power mostly under 400 Hz: a fax tone needs 60% of it at
 * 1100 or 2100 Hz).  While no tone is in progress such blocks skip the
 * demodulators.  The hint is used only when @pcm starts a block.
 * @return as ivr_faxtone_process().  Thread: media (IVR_RT).
 */
IVR_RT int ivr_faxtone_process_hint(struct ivr_faxtone *ft, const float *pcm, size_t n_samples,
				    uint32_t no_tone, struct ivr_faxtone_event *ev, size_t max_ev);

/**
 * ivr_faxtone_process_hint() for audio that stands in for lost packets (the
 * jitter buffer's concealment, engine/call.c): its 5 ms blocks (and a block
 * only partly made of it) never start a tone, and while a tone is in
 * progress they neither end nor extend it, up to 100 ms in a row.  So a CED
 * with a few lost packets stays one tone with its true onset and a CNG burst
 * stays one burst (the concealment fades out within 60 ms: 20 ms of it used
 * to end a tone and restart it); a tone that stopped during the loss ends at
 * its last real block, and after 100 ms the stand-in counts as no tone.
 * @no_tone as ivr_faxtone_process_hint() (0: no hint).
 * @return as ivr_faxtone_process().  Thread: media (IVR_RT).
 */
IVR_RT int ivr_faxtone_process_concealed(struct ivr_faxtone *ft, const float *pcm, size_t n_samples,
					 uint32_t no_tone, struct ivr_faxtone_event *ev,
					 size_t max_ev);

/** Heap wrappers for tools and tests. @return NULL with errno set on failure. */
struct ivr_faxtone *ivr_faxtone_new(const struct ivr_faxtone_cfg *cfg);
/** NULL-safe. Thread: control. */
void ivr_faxtone_free(struct ivr_faxtone *ft);

#endif /* IVR_DSP_FAXTONE_H */
