/* SPDX-License-Identifier: MIT */
/*
 * dsp/resample.c - sample-rate conversion (see resample.h).
 *
 * File/prompt conversion uses libsamplerate's SRC_SINC_BEST_QUALITY: prompts
 * are converted once at load, so quality is worth the cost.
 *
 * The per-call hot path wraps speexdsp's polyphase resampler (Valin's
 * resample.c: windowed-sinc with Kaiser windows, quality 0-10), float API.
 * Equal rates bypass the filter (a copy, zero delay).
 */
#include "config.h"

#include <math.h>
#include <samplerate.h>
#include <speex/speex_resampler.h>
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

struct ivr_resampler {
	SpeexResamplerState *st; /* NULL when in == out rate */
	uint32_t in_rate_hz, out_rate_hz;
	int quality;
};

size_t ivr_resampler_size(const struct ivr_resampler_cfg *cfg)
{
	return sizeof(struct ivr_resampler);
}

int ivr_resampler_init(struct ivr_resampler *rs, size_t size, const struct ivr_resampler_cfg *cfg)
{
	if (!rs || !cfg)
		return -EINVAL;
	if (size < sizeof(*rs))
		return -ENOSPC;
	if (cfg->in_rate_hz < 1000 || cfg->in_rate_hz > 192000 || cfg->out_rate_hz < 1000 ||
	    cfg->out_rate_hz > 192000 || cfg->quality < 0 || cfg->quality > 10)
		return -EINVAL;
	memset(rs, 0, sizeof(*rs));
	rs->in_rate_hz = cfg->in_rate_hz;
	rs->out_rate_hz = cfg->out_rate_hz;
	rs->quality = cfg->quality ? cfg->quality : SPEEX_RESAMPLER_QUALITY_DEFAULT;
	if (rs->in_rate_hz == rs->out_rate_hz)
		return 0;
	int err = 0;
	rs->st = speex_resampler_init(1, rs->in_rate_hz, rs->out_rate_hz, rs->quality, &err);
	if (!rs->st)
		return err == RESAMPLER_ERR_ALLOC_FAILED ? -ENOMEM : -EINVAL;
	return 0;
}

void ivr_resampler_fini(struct ivr_resampler *rs)
{
	if (rs && rs->st) {
		speex_resampler_destroy(rs->st);
		rs->st = NULL;
	}
}

void ivr_resampler_reset(struct ivr_resampler *rs)
{
	if (rs && rs->st)
		speex_resampler_reset_mem(rs->st);
}

size_t ivr_resampler_out_max(const struct ivr_resampler *rs, size_t n_in)
{
	if (!rs->st)
		return n_in;
	/* speexdsp rounds per call; one sample of slack either way. */
	return (size_t)(((uint64_t)n_in * rs->out_rate_hz + rs->in_rate_hz - 1) / rs->in_rate_hz) +
	       1;
}

int ivr_resampler_process(struct ivr_resampler *rs, const float *restrict in, size_t n_in,
			  float *restrict out, size_t max_out)
{
	if (!rs || (n_in && (!in || !out)))
		return -EINVAL;
	if (n_in > INT32_MAX / 8 || max_out < ivr_resampler_out_max(rs, n_in))
		return -ENOSPC;
	if (!rs->st) {
		if (n_in)
			memcpy(out, in, n_in * sizeof(float));
		return (int)n_in;
	}
	spx_uint32_t in_len = (spx_uint32_t)n_in, out_len = (spx_uint32_t)max_out;
	int e = speex_resampler_process_float(rs->st, 0, in, &in_len, out, &out_len);
	/* Cannot fail with a valid state and the room checked above. */
	if (IVR_NEVER(e != RESAMPLER_ERR_SUCCESS || in_len != n_in))
		return -EIO;
	return (int)out_len;
}

uint32_t ivr_resampler_delay_samples(const struct ivr_resampler *rs)
{
	if (!rs || !rs->st)
		return 0;
	return (uint32_t)speex_resampler_get_output_latency(rs->st);
}

struct ivr_resampler *ivr_resampler_new(const struct ivr_resampler_cfg *cfg)
{
	struct ivr_resampler *rs = malloc(sizeof(*rs));
	if (!rs) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_resampler_init(rs, sizeof(*rs), cfg);
	if (r < 0) {
		free(rs);
		errno = -r;
		return NULL;
	}
	return rs;
}

void ivr_resampler_free(struct ivr_resampler *rs)
{
	if (!rs)
		return;
	ivr_resampler_fini(rs);
	free(rs);
}
