/* SPDX-License-Identifier: MIT */
/*
 * dsp/dtmf.h - in-band DTMF digit detector, 8 and 16 kHz, float input.
 *
 * What: turns a stream of float samples (full scale 1.0) into digit START
 * and END events with onset sample and duration, meeting ITU-T Q.24 (AT&T
 * column) and the Bellcore/Mitel practice of spandsp's dtmf_rx_tests:
 * +-1.5% frequency accepted, >= +-3.5% rejected; twist high-minus-low
 * -8..+4 dB accepted; 0..-25 dBm0 per tone accepted, -55 dBm0 rejected;
 * tones >= 40 ms detected, <= 23 ms never; 40 ms pauses split digits,
 * dropouts <= 10 ms do not.
 * How (details in dtmf.c): the 8 Q.23 frequencies are demodulated in 5 ms
 * sub-blocks (a table-driven complex DFT, vectorised, AVX2 when the CPU
 * has it); a 10 ms window picks the candidate row/column; the two tones
 * are separated from each other's leakage by a 4x4 least-squares solve;
 * their phase progression gives the frequency, their per-sub-block
 * amplitude the exact on/off edges, so duration rules are decided on
 * measured milliseconds rather than block counts.
 * Why: the engine's own detector (no spandsp at run time), cheaper per
 * sample than spandsp's dtmf_rx (bench/bench_dtmf.c) and exact on
 * duration and frequency limits.
 * Thread: RT (process/reset), control (init/new/free).  State is
 * position-independent: it may be memcpy'd to clone a detector.
 */
#ifndef IVR_DSP_DTMF_H
#define IVR_DSP_DTMF_H

#include "common/defs.h"

struct ivr_dtmf_rx; /* opaque */

/** Detector configuration; zero fields take the defaults listed. */
struct ivr_dtmf_cfg {
	uint32_t rate_hz;     /* 8000 or 16000 (0 = 8000) */
	float threshold_dbm0; /* minimum level per tone, dBm0, in [-60, -10] (0 = -36) */
};

/** Event types. */
enum ivr_dtmf_ev_type {
	IVR_DTMF_EV_START = 1, /* digit recognised (about 30 ms after its onset) */
	IVR_DTMF_EV_END = 2,   /* digit ended (25 ms after its last sample) */
};

/** One detector event; all positions in samples since init/reset. */
struct ivr_dtmf_event {
	uint8_t type;		   /* enum ivr_dtmf_ev_type */
	char digit;		   /* '0'-'9', '*', '#', 'A'-'D' */
	uint64_t onset_sample;	   /* first sample of the tone */
	uint32_t duration_samples; /* START: measured so far; END: whole tone */
};

/** Default minimum level per tone, dBm0. */
#define IVR_DTMF_DEFAULT_THRESHOLD_DBM0 (-36.0f)

/**
 * @return bytes needed for a detector with @cfg (NULL = defaults), or 0 if
 *         @cfg is invalid.  Thread: any.
 */
size_t ivr_dtmf_rx_size(const struct ivr_dtmf_cfg *cfg);

/**
 * Initialise a detector in @rx (@size bytes from ivr_dtmf_rx_size()).
 * @return 0, or -EINVAL (rate not 8000/16000, threshold out of range,
 *         @size too small).  Thread: control.
 */
IVR_NODISCARD int ivr_dtmf_rx_init(struct ivr_dtmf_rx *rx, size_t size,
				   const struct ivr_dtmf_cfg *cfg);

/** Forget all audio and pending events; sample positions restart at 0. Thread: RT. */
IVR_RT void ivr_dtmf_rx_reset(struct ivr_dtmf_rx *rx);

/**
 * Feed @n_samples samples (any count, 0 allowed).  Events are written to
 * @ev (up to @max_ev; the rest wait, up to 16, for the next call).  NaN and
 * infinite samples make their 5 ms sub-block count as silence.
 * @return number of events written, or -EINVAL (NULL @rx, NULL @pcm with
 *         @n_samples > 0).  Thread: RT (no allocation, no locks).
 */
IVR_RT int ivr_dtmf_rx_process(struct ivr_dtmf_rx *rx, const float *pcm, size_t n_samples,
			       struct ivr_dtmf_event *ev, size_t max_ev);

/**
 * As ivr_dtmf_rx_process(), for audio that stands in for lost packets (the
 * jitter buffer's concealment): while a digit is on, its whole sub-blocks
 * neither end the digit nor extend it, up to 100 ms in a row, so a digit
 * whose middle was lost stays one digit (a 60 ms loss used to split it in
 * two: the concealment fades out within 60 ms) and one that ended during
 * the loss ends 25 ms into the real audio after it, at its last real edge.
 * While no digit is on, the audio is processed as usual.
 * @return as ivr_dtmf_rx_process().  Thread: RT.
 */
IVR_RT int ivr_dtmf_rx_process_concealed(struct ivr_dtmf_rx *rx, const float *pcm, size_t n_samples,
					 struct ivr_dtmf_event *ev, size_t max_ev);

/**
 * Which of the last @n (1..32) completed 5 ms sub-blocks the detector's gates
 * skipped as unable to hold a tone at or above 650 Hz, while no digit was on:
 * quiet ones (mean square 21 dB under the per-tone threshold: -57 dBm0 by
 * default) and low-frequency ones (first-difference energy under 0.098 of the
 * energy at 8 kHz, 0.0245 at 16 kHz: under ~28% of a 697 Hz tone's share).
 * Another detector on the same audio may skip those blocks too
 * (dsp/faxtone.h ivr_faxtone_process_hint()).
 * @return bit k set for the k-th of the @n sub-blocks in time order; 0 if @n
 *         is out of range.  Thread: RT.
 */
IVR_RT uint32_t ivr_dtmf_rx_gated(const struct ivr_dtmf_rx *rx, unsigned n);

/** @return the configured sample rate in Hz. Thread: any. */
uint32_t ivr_dtmf_rx_rate(const struct ivr_dtmf_rx *rx);

/**
 * Force the generic C kernel (1) or allow the CPU's best (0); for tests
 * and benches comparing SIMD with the C reference.  Thread: control.
 */
void ivr_dtmf_rx_force_c(struct ivr_dtmf_rx *rx, int force_c);

/** Heap wrapper of size+init. @return NULL with errno set on failure. Thread: control. */
struct ivr_dtmf_rx *ivr_dtmf_rx_new(const struct ivr_dtmf_cfg *cfg);

/** Free a detector from ivr_dtmf_rx_new() (NULL-safe). Thread: control. */
void ivr_dtmf_rx_free(struct ivr_dtmf_rx *rx);

#endif /* IVR_DSP_DTMF_H */
