/* SPDX-License-Identifier: MIT */
/*
 * dsp/tone.h - DTMF tone generator and per-call in-band DTMF sender.
 *
 * What: renders DTMF digits (0-9 * # A-D, ITU-T Q.23 frequencies) as float
 * samples at 8 or 16 kHz with a level per tone in dBm0, twist, per-tone
 * frequency offsets in percent and an optional raised-cosine ramp; a plain
 * sine helper for test signals (dial tone, music); and a per-call sender
 * state that renders a queue of digits into frames for in-band sending.
 * How: a double-precision phase accumulator per tone and sinf() per sample:
 * exact frequencies for any offset and no drift over long tones; the
 * sender is a small ring of digits plus a position counter, so it is
 * memcpy-able and renders any frame size.
 * Why: the tests of dsp/dtmf.h need exact off-nominal, twisted, attenuated
 * digits (Bellcore/Mitel practice, as spandsp's dtmf_rx_tests regenerates
 * the Mitel tape), and the engine needs a real-time sender when RFC 4733 is
 * not negotiated.  Level reference: IVR_DBM0_RMS_S16 (dsp/g711.h).
 * Thread: ivr_tone_* generators any; sender RT (queue/render), control
 * (init/new/free).
 */
#ifndef IVR_DSP_TONE_H
#define IVR_DSP_TONE_H

#include "common/defs.h"

/** One DTMF burst (a NULL pointer means -10 dBm0, no twist, offset or ramp). */
struct ivr_tone_dtmf {
	float level_dbm0;      /* level of the low-group tone, dBm0 */
	float twist_db;	       /* high-group level minus low-group level, dB */
	float low_offset_pct;  /* low tone frequency offset, percent of nominal */
	float high_offset_pct; /* high tone frequency offset, percent of nominal */
	float ramp_ms;	       /* raised-cosine on/off ramp, ms (0 = hard edges) */
};

/**
 * Nominal frequencies of a DTMF digit (ITU-T Q.23).
 * @return 0, or -EINVAL if @digit is not one of 0-9 * # A-D (a-d accepted).
 * Thread: any.
 */
IVR_NODISCARD int ivr_tone_dtmf_freqs(char digit, float *low_hz, float *high_hz);

/**
 * Add (+=) one DTMF burst of @n_samples samples at @rate_hz (8000 or 16000)
 * to @out, starting at phase 0.  @p may be NULL (defaults).
 * @return 0, or -EINVAL (bad digit, rate or parameters).
 * Thread: any (IVR_RT).
 */
IVR_NODISCARD IVR_RT int ivr_tone_dtmf_add(float *out, size_t n_samples, uint32_t rate_hz,
					   char digit, const struct ivr_tone_dtmf *p);

/**
 * Add (+=) a sine of @freq_hz at @level_dbm0 to @out, continuing from and
 * updating *@phase (radians, may be NULL to start at 0).
 * @return 0, or -EINVAL (rate 0, frequency not in [0, rate/2)).
 * Thread: any (IVR_RT).
 */
IVR_NODISCARD IVR_RT int ivr_tone_sine_add(float *out, size_t n_samples, uint32_t rate_hz,
					   float freq_hz, float level_dbm0, double *phase);

/** @return the peak amplitude (full scale 1.0) of a sine at @level_dbm0. Thread: any. */
float ivr_tone_dbm0_to_amp(float level_dbm0);

/* ---- per-call in-band sender ------------------------------------------ */

struct ivr_tone_tx; /* opaque, position-independent (memcpy-able) */

/** Sender configuration; zero fields take the defaults listed. */
struct ivr_tone_tx_cfg {
	uint32_t rate_hz; /* 8000 or 16000 (0 = 8000) */
	float level_dbm0; /* low-group level (0 = -8 dBm0) */
	float twist_db;	  /* high minus low group, dB (0 = +2 dB, as phones send) */
	uint32_t on_ms;	  /* tone length per digit (0 = 100 ms) */
	uint32_t off_ms;  /* silence after each digit (0 = 100 ms) */
};

/** Capacity of the sender's digit queue. */
#define IVR_TONE_TX_QUEUE 64

/** @return bytes needed for a sender with @cfg (NULL = defaults). Thread: any. */
size_t ivr_tone_tx_size(const struct ivr_tone_tx_cfg *cfg);

/**
 * Initialise a sender in @mem (@size bytes, from ivr_tone_tx_size()).
 * @return 0, or -EINVAL (bad rate/level/durations, @size too small).
 * Thread: control.
 */
IVR_NODISCARD int ivr_tone_tx_init(struct ivr_tone_tx *tx, size_t size,
				   const struct ivr_tone_tx_cfg *cfg);

/** Drop queued digits and any digit being sent. Thread: RT. */
IVR_RT void ivr_tone_tx_reset(struct ivr_tone_tx *tx);

/**
 * Queue the digits of the NUL-terminated @digits (0-9 * # A-D; ',' queues a
 * pause of on+off ms).  All or nothing.
 * @return number of digits queued, -EINVAL (a character is not a digit) or
 *         -ENOSPC (the queue would overflow).
 * Thread: RT (no allocation).
 */
IVR_RT int ivr_tone_tx_queue(struct ivr_tone_tx *tx, const char *digits);

/**
 * Render the next @n_samples samples (any size; 20 ms frames in the engine)
 * into @out: DTMF tones and inter-digit silence while digits are pending,
 * zeros once the queue is empty.
 * @return 1 if the frame carried sender output (tone or inter-digit gap),
 *         0 if the sender was idle for the whole frame.
 * Thread: RT.
 */
IVR_RT int ivr_tone_tx_render(struct ivr_tone_tx *tx, float *out, size_t n_samples);

/** @return number of digits still queued or being sent. Thread: RT. */
IVR_RT size_t ivr_tone_tx_pending(const struct ivr_tone_tx *tx);

/** Heap wrapper of size+init. @return NULL with errno set on failure. Thread: control. */
struct ivr_tone_tx *ivr_tone_tx_new(const struct ivr_tone_tx_cfg *cfg);

/** Free a sender from ivr_tone_tx_new() (NULL-safe). Thread: control. */
void ivr_tone_tx_free(struct ivr_tone_tx *tx);

#endif /* IVR_DSP_TONE_H */
