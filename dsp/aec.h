/* SPDX-License-Identifier: MIT */
/*
 * dsp/aec.h - line/acoustic echo canceller for barge-in.
 *
 * Wraps speexdsp's MDF canceller (multidelay block frequency-domain
 * adaptive filter, J.-M. Valin, "On adjusting the learning rate in
 * frequency domain echo cancellation with double-talk", IEEE TASLP 2007)
 * and its residual-echo suppressor (speex_preprocess with the echo state
 * attached).  The wrapper makes the reference exactly what the engine sent:
 * the caller passes, per frame, the caller's (near/mic) audio and the frame
 * the engine transmitted in the same tick (far), and a FIFO delays the far
 * signal by bulk_delay_ms before it reaches the adaptive filter, so the
 * filter's tail (tail_ms, default 128 ms) only has to cover the dispersion
 * of the echo path, not the network/jitter-buffer round trip.  Until the
 * filter has converged (12 dB of linear cancellation over 0.5 s of far
 * speech, typically 1-2 s into the first prompt) a start-up gate attenuates
 * frames that hold nothing but echo by 30 dB; a caller 6 dB above the echo
 * passes.  After that the gate stays off for the call (no_startup_gate = 1
 * disables it).
 * Float32 in/out (full scale 1.0); speexdsp works on int16, converted here.
 *
 * Memory: the wrapper state (with the FIFO) lives in caller memory
 * (_size/_init) or on the heap (_new/_free), but speexdsp allocates its own
 * state inside _init (speex_echo_state_init / speex_preprocess_state_init).
 * _init is therefore call-setup work (control thread), and _fini must be
 * called to release it.  For the same reason the state is not memcpy-clonable.
 * Thread: RT (process), control (init/reset/fini/new/free).
 */
#ifndef IVR_DSP_AEC_H
#define IVR_DSP_AEC_H

#include "common/defs.h"

struct ivr_aec; /* opaque */

/** Longest bulk delay the FIFO accepts. */
#define IVR_AEC_MAX_DELAY_MS 1000
/** Longest adaptive-filter tail accepted. */
#define IVR_AEC_MAX_TAIL_MS 500

/** Configuration; zero fields take the defaults in brackets. */
struct ivr_aec_cfg {
	uint32_t rate_hz;		 /* 8000 or 16000 [8000] */
	uint32_t frame_ms;		 /* 10 or 20: samples per speexdsp call [20] */
	uint32_t tail_ms;		 /* adaptive filter length [128] */
	uint32_t bulk_delay_ms;		 /* far signal delay before the filter [0] */
	int32_t echo_suppress_db;	 /* residual echo attenuation, far only [-40] */
	int32_t echo_suppress_active_db; /* the same while the caller talks [-15] */
	int32_t noise_suppress_db;	 /* speexdsp's noise suppression [-15] */
	uint8_t no_startup_gate; /* 1: no attenuation of far-only frames before convergence */
	uint8_t linear_only;	 /* 1: no residual suppressor (MDF output as is) */
};

/**
 * Bytes of wrapper state for @cfg (NULL = defaults).
 * @return the size, or 0 if @cfg is invalid.  Thread: any.
 */
size_t ivr_aec_size(const struct ivr_aec_cfg *cfg);

/**
 * Initialise a canceller in caller memory @aec of @size bytes
 * (>= ivr_aec_size()).  Allocates speexdsp's state (call setup).
 * @return 0, -EINVAL (bad configuration or size) or -ENOMEM.
 * Thread: control.
 */
IVR_NODISCARD int ivr_aec_init(struct ivr_aec *aec, size_t size, const struct ivr_aec_cfg *cfg);

/** Release speexdsp's state of an initialised canceller; NULL-safe.  Thread: control. */
void ivr_aec_fini(struct ivr_aec *aec);

/**
 * Forget the echo path and empty the FIFO (new call in a reused slot).
 * Re-creates the suppressor (speexdsp has no reset for it): control thread.
 * @return 0 or -ENOMEM.
 */
int ivr_aec_reset(struct ivr_aec *aec);

/**
 * Cancel the echo in @n_samples of @near (caller audio, with the echo) given
 * @far, the audio the engine sent in the same tick; write the result to
 * @out (may alias @near).  @n_samples must be a multiple of the frame
 * (frame_ms at rate_hz).  NaN/Inf are taken as 0, samples beyond full scale
 * are clipped.
 * @return 0, or -EINVAL (bad length or pointers).  Thread: RT (no allocation).
 */
IVR_RT int ivr_aec_process(struct ivr_aec *aec, const float *near, const float *restrict far,
			   float *out, size_t n_samples);

/** @return samples per frame (rate_hz * frame_ms / 1000). Thread: any. */
size_t ivr_aec_frame_samples(const struct ivr_aec *aec);

/** Heap wrapper: _size + aligned allocation + _init. @return NULL with errno set on failure. */
struct ivr_aec *ivr_aec_new(const struct ivr_aec_cfg *cfg);

/** _fini + free for ivr_aec_new(); NULL-safe.  Thread: control. */
void ivr_aec_free(struct ivr_aec *aec);

#endif /* IVR_DSP_AEC_H */
