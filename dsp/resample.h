/* SPDX-License-Identifier: MIT */
/*
 * dsp/resample.h - sample-rate conversion.
 *
 * Two paths, as DESIGN.md section 1 says:
 *  - files and prompts (control thread): libsamplerate, SRC_SINC_BEST_QUALITY,
 *    ivr_resample_buffer();
 *  - hot path 8 <-> 16 <-> 48 kHz per call: speexdsp's resampler (about ten
 *    times cheaper at telephone quality), struct ivr_resampler.
 *
 * struct ivr_resampler follows the size/init/reset/process/new/free shape,
 * with one exception: speexdsp allocates its filter state inside
 * speex_resampler_init() and offers no way to place it in caller memory, so
 * ivr_resampler_init() allocates (a few KiB) and ivr_resampler_fini() frees.
 * Both run at call setup / teardown on the control path; process() and
 * reset() never allocate.  Quality is speexdsp's 0-10 scale; 3-5 are the
 * telephony settings (default 4: 300-3400 Hz flat within +-0.25 dB through
 * 8->16->8 and 8->48->8, see tests/unit/test_resample.c).  The state holds a
 * pointer to the speex state, so it is not memcpy-clonable.
 */
#ifndef IVR_DSP_RESAMPLE_H
#define IVR_DSP_RESAMPLE_H

#include "common/defs.h"

/**
 * Convert @n_in samples at @in_rate_hz to @out_rate_hz with libsamplerate's
 * best-quality sinc.  *@out is malloc'ed (caller frees), *@n_out its length.
 * @return 0 or -EINVAL / -ENOMEM / -EIO (libsamplerate error).
 * Thread: control.
 */
IVR_NODISCARD int ivr_resample_buffer(const float *in, size_t n_in, uint32_t in_rate_hz,
				      float **out, size_t *n_out, uint32_t out_rate_hz);

/** Hot-path resampler configuration; quality < 0 or > 10 is an error. */
struct ivr_resampler_cfg {
	uint32_t in_rate_hz;  /* 1000-192000 */
	uint32_t out_rate_hz; /* 1000-192000 */
	int quality;	      /* speexdsp 0-10; 0 here means the default (4) */
};

struct ivr_resampler; /* opaque */

/** @return bytes for the wrapper (the speex state is separate). Thread: any. */
size_t ivr_resampler_size(const struct ivr_resampler_cfg *cfg);

/**
 * Initialise a resampler in caller memory; allocates the speexdsp state.
 * @return 0, -EINVAL (bad rates/quality, NULL), -ENOSPC (@size too small)
 * or -ENOMEM.  Thread: control (call setup: it allocates).
 */
IVR_NODISCARD int ivr_resampler_init(struct ivr_resampler *rs, size_t size,
				     const struct ivr_resampler_cfg *cfg);

/** Release the speexdsp state of an initialised resampler; NULL-safe. Thread: control. */
void ivr_resampler_fini(struct ivr_resampler *rs);

/** Clear the filter history (new stream in the same slot). Thread: media (IVR_RT). */
IVR_RT void ivr_resampler_reset(struct ivr_resampler *rs);

/**
 * @return the largest number of output samples ivr_resampler_process() can
 * produce from @n_in input samples.  Thread: any.
 */
IVR_RT size_t ivr_resampler_out_max(const struct ivr_resampler *rs, size_t n_in);

/**
 * Convert @n_in samples (float, full scale 1.0) into @out.  All input is
 * consumed; the filter keeps its history between calls, so a stream can be
 * fed in 20 ms frames (160 at 8 kHz -> 320 at 16 kHz, 960 at 48 kHz).
 * @return output samples written, -ENOSPC if @max_out <
 * ivr_resampler_out_max(@n_in) (nothing done), -EINVAL on NULL.
 * Thread: media (IVR_RT).
 */
IVR_RT int ivr_resampler_process(struct ivr_resampler *rs, const float *restrict in, size_t n_in,
				 float *restrict out, size_t max_out);

/**
 * @return the group delay of the filter in output samples (a tone entering
 * at input time t leaves at output time t * out/in + delay).  Thread: any.
 */
IVR_RT uint32_t ivr_resampler_delay_samples(const struct ivr_resampler *rs);

/** Heap wrappers for tools and tests. @return NULL with errno set on failure. */
struct ivr_resampler *ivr_resampler_new(const struct ivr_resampler_cfg *cfg);
/** Finalise and free a resampler from ivr_resampler_new(); NULL-safe. Thread: control. */
void ivr_resampler_free(struct ivr_resampler *rs);

#endif /* IVR_DSP_RESAMPLE_H */
