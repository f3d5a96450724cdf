/* SPDX-License-Identifier: MIT */
/*
 * dsp/resample.h - sample-rate conversion.
 *
 * Two paths, as DESIGN.md section 1 says:
 *  - files and prompts (control thread): libsamplerate, SRC_SINC_BEST_QUALITY,
 *    ivr_resample_buffer();
 *  - hot path 8 <-> 16 <-> 48 kHz per call: speexdsp's resampler (about ten
 *    times cheaper at telephone quality), struct ivr_resampler.
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

#endif /* IVR_DSP_RESAMPLE_H */
