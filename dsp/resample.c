/* SPDX-License-Identifier: MIT */
/*
 * dsp/resample.c - sample-rate conversion (see resample.h).
 *
 * File/prompt conversion uses libsamplerate's SRC_SINC_BEST_QUALITY: prompts
 * are converted once at load, so quality is worth the cost.
 */
#include "config.h"

#include <math.h>
#include <samplerate.h>
#include <stdlib.h>

#include "dsp/resample.h"

int ivr_resample_buffer(const float *in, size_t n_in, uint32_t in_rate_hz, float **out,
			size_t *n_out, uint32_t out_rate_hz)
{
	if (!out || !n_out || in_rate_hz == 0 || out_rate_hz == 0 || (n_in && !in))
		return -EINVAL;
	double ratio = (double)out_rate_hz / in_rate_hz;
	if (ratio > 256.0 || ratio < 1.0 / 256.0)
		return -EINVAL; /* libsamplerate's documented limit */
	size_t cap = (size_t)ceil(n_in * ratio) + 16;
	float *buf = malloc(cap * sizeof(float));
	if (!buf)
		return -ENOMEM;
	if (n_in == 0) {
		*out = buf;
		*n_out = 0;
		return 0;
	}
	SRC_DATA d = {
		.data_in = in,
		.data_out = buf,
		.input_frames = (long)n_in,
		.output_frames = (long)cap,
		.src_ratio = ratio,
	};
	int e = src_simple(&d, SRC_SINC_BEST_QUALITY, 1);
	if (e) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*n_out = (size_t)d.output_frames_gen;
	return 0;
}
