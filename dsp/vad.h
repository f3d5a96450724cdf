/* SPDX-License-Identifier: MIT */
/*
 * dsp/vad.h - voice activity detector and endpointer.
 *
 * A statistical-model detector: every 10 ms the last 20 ms of audio go
 * through a Hann-windowed FFT (31.25 Hz bins at 8 and 16 kHz alike), and the
 * bins of the telephone band 200-3800 Hz are tested with the Gaussian
 * likelihood ratio of Sohn, Kim and Sung ("A statistical model-based voice
 * activity detector", IEEE SPL 6(1), 1999), a priori SNR by the
 * decision-directed rule of Ephraim and Malah (1984).  The per-bin noise
 * spectrum is tracked by minima-controlled recursive averaging (Cohen and
 * Berdugo, "Noise estimation by minima controlled recursive averaging for
 * robust speech enhancement", IEEE SPL 9(1), 2002) with a minimum-statistics
 * floor (Martin 2001), so it follows slowly changing noise and babble
 * without a fixed threshold; blocks more than 15.9 dB under the talker's
 * active level are not speech (the ITU-T P.56 activity threshold).  A raw
 * 10 ms decision is held for hangover_ms (frame flag), and the endpointer
 * turns runs of speech into START/END events (start_ms of speech to start,
 * end_ms of non-speech to end).  Not speexdsp's VAD (a stub) nor WebRTC's.
 *
 * Cost: a pre-gate passes over background blocks (windowed energy under the
 * loudness gate and within 6 dB of the noise floor either way: they cannot
 * be speech) without computing their spectrum, analysing one in 8 of them to
 * keep the noise tracker current; a hold gives a block within 1.5 dB of the
 * last analysed block the decision of that block when it was sustained
 * speech (up to 3 blocks in a row) or plain background (1), so only changes
 * of level get the whole analysis; the per-bin loops and the FFT are 4-lane
 * vector code.  See docs/dspchain.md for the figures.
 *
 * Input: float32 (full scale 1.0), 8000 or 16000 Hz, frames of 10 or 20 ms.
 * The state is one flat block (no pointers, memcpy-clonable), placed by the
 * caller (_size/_init) or on the heap (_new/_free).
 * Thread: RT (process, reset), control (init/new/free).
 */
#ifndef IVR_DSP_VAD_H
#define IVR_DSP_VAD_H

#include "common/defs.h"

struct ivr_vad; /* opaque */

/** Configuration; zero fields take the defaults in brackets. */
struct ivr_vad_cfg {
	uint32_t rate_hz;	/* 8000 or 16000 [8000] */
	uint32_t hangover_ms;	/* frame flag held after the last speech block [200] */
	uint32_t start_ms;	/* speech needed before a START event [60] */
	uint32_t end_ms;	/* non-speech needed before an END event [600] */
	float threshold;	/* mean log-likelihood ratio for speech [IVR_VAD_THRESHOLD] */
	float min_level_dbfs;	/* blocks below this band level are never speech [-60] */
	float prior_level_dbfs; /* active level assumed until speech is heard [none] */
	uint8_t no_pregate;	/* 1: analyse every block, no pre-gate, no hold (reference) [0] */
};

/** Default mean log-likelihood-ratio threshold (tuned on tests/unit/test_vad.c's corpus). */
#define IVR_VAD_THRESHOLD 1.5f

/** Endpointer event types. */
enum ivr_vad_ev_type {
	IVR_VAD_EV_START = 1, /* speech started at .sample */
	IVR_VAD_EV_END = 2,   /* speech ended at .sample */
};

/** One endpointer event; positions in samples since init/reset. */
struct ivr_vad_event {
	uint8_t type;	 /* enum ivr_vad_ev_type */
	uint64_t sample; /* START: first sample of the speech run; END: one past its last */
};

/** What one frame gave. */
struct ivr_vad_result {
	uint8_t speech;	   /* frame decision, hangover included */
	uint8_t in_speech; /* endpointer state after the frame (between START and END) */
	uint8_t n_events;  /* entries used in ev[] */
	struct ivr_vad_event ev[2];
	float llr;	  /* largest mean log-likelihood ratio of the frame's blocks */
	float level_dbfs; /* band level of the frame, dB re full-scale square wave */
	float noise_dbfs; /* tracked noise floor in the same band and units */
	uint8_t n_gated;  /* blocks of the frame not analysed (pre-gate: llr 0; hold: that of the
			     last analysed block) */
};

/**
 * Bytes of state for @cfg (NULL = defaults).
 * @return the size, or 0 if @cfg is invalid.  Thread: any.
 */
size_t ivr_vad_size(const struct ivr_vad_cfg *cfg);

/**
 * Initialise a detector in caller memory @vad of @size bytes (>= ivr_vad_size(),
 * aligned to 16 bytes or more).  Does not allocate.
 * @return 0, or -EINVAL (bad rate, times or size).  Thread: control.
 */
IVR_NODISCARD int ivr_vad_init(struct ivr_vad *vad, size_t size, const struct ivr_vad_cfg *cfg);

/** Forget all history (new call in a reused slot); keeps the configuration. Thread: RT. */
IVR_RT void ivr_vad_reset(struct ivr_vad *vad);

/**
 * Analyse one frame of @n_samples (10 or 20 ms at the configured rate).
 * NaN/Inf samples are treated as 0.  @res (may be NULL) gets the details.
 * @return 1 if the frame is speech (hangover included), 0 if not,
 *         -EINVAL for a bad frame length.  Thread: RT (no allocation).
 */
IVR_RT int ivr_vad_process(struct ivr_vad *vad, const float *restrict pcm, size_t n_samples,
			   struct ivr_vad_result *res);

/**
 * Start loading the detector's per-call state into the cache (software
 * prefetch of every line a block touches), for a caller with other work to
 * do before ivr_vad_process(): with thousands of detectors the state is not
 * in cache when its frame comes.  No effect on the results.  Thread: RT.
 */
IVR_RT void ivr_vad_prefetch(const struct ivr_vad *vad);

/** @return the tracked noise floor in dBFS (band 200-3800 Hz). Thread: RT. */
IVR_RT float ivr_vad_noise_dbfs(const struct ivr_vad *vad);

/** Heap wrapper around _size/_init. @return the detector, or NULL with errno set. Thread: control.
 */
struct ivr_vad *ivr_vad_new(const struct ivr_vad_cfg *cfg);

/** Free a detector from ivr_vad_new(); NULL-safe. Thread: control. */
void ivr_vad_free(struct ivr_vad *vad);

#endif /* IVR_DSP_VAD_H */
