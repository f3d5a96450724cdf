/* SPDX-License-Identifier: MIT */
/*
 * dsp/aec.c - speexdsp MDF echo canceller + residual echo suppressor,
 * with a bulk-delay FIFO on the reference.  See dsp/aec.h.
 *
 * Per frame: far (float) -> int16 into the FIFO; the sample written
 * bulk_delay samples ago comes out as the reference; near -> int16;
 * speex_echo_cancellation(); speex_preprocess_run() (suppressor, which
 * reads the canceller's residual-echo estimate through the attached echo
 * state); int16 -> float.  The conversions are the only work the wrapper
 * adds to raw speexdsp (bench/bench_aec.c measures it).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#include "dsp/aec.h"
#include "dsp/g711.h"

#define FRAME_MAX 320 /* 20 ms at 16 kHz */

struct ivr_aec {
	struct ivr_aec_cfg cfg; /* with defaults filled in */
	uint32_t frame;		/* samples per speexdsp call */
	uint32_t delay;		/* bulk delay in samples */
	uint32_t fifo_len;	/* delay + frame */
	uint32_t fifo_pos;	/* next write index */
	SpeexEchoState *echo;
	SpeexPreprocessState *pp;
	int16_t near16[FRAME_MAX], ref16[FRAME_MAX], out16[FRAME_MAX];
	int16_t fifo[]; /* fifo_len samples */
};

static int fill_cfg(struct ivr_aec_cfg *c, const struct ivr_aec_cfg *cfg)
{
	struct ivr_aec_cfg d = { 0 };
	if (cfg)
		d = *cfg;
	if (!d.rate_hz)
		d.rate_hz = 8000;
	if (!d.frame_ms)
		d.frame_ms = 20;
	if (!d.tail_ms)
		d.tail_ms = 128;
	if (!d.echo_suppress_db)
		d.echo_suppress_db = -40;
	if (!d.echo_suppress_active_db)
		d.echo_suppress_active_db = -15;
	if (!d.noise_suppress_db)
		d.noise_suppress_db = -15;
	if (d.rate_hz != 8000 && d.rate_hz != 16000)
		return -EINVAL;
	if (d.frame_ms != 10 && d.frame_ms != 20)
		return -EINVAL;
	if (d.tail_ms < d.frame_ms || d.tail_ms > IVR_AEC_MAX_TAIL_MS)
		return -EINVAL;
	if (d.bulk_delay_ms > IVR_AEC_MAX_DELAY_MS)
		return -EINVAL;
	if (d.echo_suppress_db > 0 || d.echo_suppress_db < -100 || d.echo_suppress_active_db > 0 ||
	    d.echo_suppress_active_db < -100 || d.noise_suppress_db > 0 ||
	    d.noise_suppress_db < -100)
		return -EINVAL;
	if (d.linear_only > 1)
		return -EINVAL;
	*c = d;
	return 0;
}

size_t ivr_aec_size(const struct ivr_aec_cfg *cfg)
{
	struct ivr_aec_cfg c;
	if (fill_cfg(&c, cfg) < 0)
		return 0;
	const size_t frame = c.rate_hz * c.frame_ms / 1000;
	const size_t delay = (size_t)c.rate_hz * c.bulk_delay_ms / 1000;
	return sizeof(struct ivr_aec) + (delay + frame) * sizeof(int16_t);
}

static int make_pp(struct ivr_aec *a)
{
	a->pp = speex_preprocess_state_init((int)a->frame, (int)a->cfg.rate_hz);
	if (!a->pp)
		return -ENOMEM;
	/* The suppressor works through the denoiser's gains: it must stay on. */
	int on = 1, off = 0;
	speex_preprocess_ctl(a->pp, SPEEX_PREPROCESS_SET_DENOISE, &on);
	speex_preprocess_ctl(a->pp, SPEEX_PREPROCESS_SET_AGC, &off);
	/* SET_VAD is left alone: speexdsp prints a warning when it is touched. */
	speex_preprocess_ctl(a->pp, SPEEX_PREPROCESS_SET_DEREVERB, &off);
	spx_int32_t v = a->cfg.noise_suppress_db;
	speex_preprocess_ctl(a->pp, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &v);
	v = a->cfg.echo_suppress_db;
	speex_preprocess_ctl(a->pp, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &v);
	v = a->cfg.echo_suppress_active_db;
	speex_preprocess_ctl(a->pp, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &v);
	speex_preprocess_ctl(a->pp, SPEEX_PREPROCESS_SET_ECHO_STATE, a->echo);
	return 0;
}

int ivr_aec_init(struct ivr_aec *aec, size_t size, const struct ivr_aec_cfg *cfg)
{
	struct ivr_aec_cfg c;
	int r = fill_cfg(&c, cfg);
	if (r < 0)
		return r;
	if (!aec || size < ivr_aec_size(&c))
		return -EINVAL;
	memset(aec, 0, sizeof(*aec));
	aec->cfg = c;
	aec->frame = c.rate_hz * c.frame_ms / 1000;
	aec->delay = (uint32_t)((size_t)c.rate_hz * c.bulk_delay_ms / 1000);
	aec->fifo_len = aec->delay + aec->frame;
	memset(aec->fifo, 0, aec->fifo_len * sizeof(int16_t));
	aec->echo = speex_echo_state_init((int)aec->frame, (int)(c.rate_hz * c.tail_ms / 1000));
	if (!aec->echo)
		return -ENOMEM;
	spx_int32_t rate = (spx_int32_t)c.rate_hz;
	speex_echo_ctl(aec->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
	if (!c.linear_only && make_pp(aec) < 0) {
		speex_echo_state_destroy(aec->echo);
		aec->echo = NULL;
		return -ENOMEM;
	}
	return 0;
}

void ivr_aec_fini(struct ivr_aec *aec)
{
	if (!aec)
		return;
	if (aec->pp)
		speex_preprocess_state_destroy(aec->pp);
	if (aec->echo)
		speex_echo_state_destroy(aec->echo);
	aec->pp = NULL;
	aec->echo = NULL;
}

int ivr_aec_reset(struct ivr_aec *aec)
{
	if (!aec || !aec->echo)
		return -EINVAL;
	speex_echo_state_reset(aec->echo);
	memset(aec->fifo, 0, aec->fifo_len * sizeof(int16_t));
	aec->fifo_pos = 0;
	if (aec->pp) {
		speex_preprocess_state_destroy(aec->pp);
		aec->pp = NULL;
		return make_pp(aec);
	}
	return 0;
}

size_t ivr_aec_frame_samples(const struct ivr_aec *aec)
{
	return aec->frame;
}

int ivr_aec_process(struct ivr_aec *aec, const float *near, const float *restrict far, float *out,
		    size_t n_samples)
{
	if (!aec || !aec->echo || (n_samples && (!near || !far || !out)) || n_samples % aec->frame)
		return -EINVAL;
	const uint32_t frame = aec->frame, len = aec->fifo_len;
	for (size_t off = 0; off < n_samples; off += frame) {
		/*
		 * FIFO: write this tick's far frame, read the one written
		 * `delay` samples earlier.  len = delay + frame, so the read
		 * position is the write position + frame (mod len), and the
		 * two ranges never overlap.
		 */
		uint32_t w = aec->fifo_pos;
		for (uint32_t i = 0; i < frame; i++) {
			aec->fifo[w] = ivr_f32_to_s16(far[off + i]);
			if (++w == len)
				w = 0;
		}
		uint32_t rd = w; /* fifo_pos + frame == fifo_pos - delay (mod len) */
		for (uint32_t i = 0; i < frame; i++) {
			aec->ref16[i] = aec->fifo[rd];
			if (++rd == len)
				rd = 0;
		}
		aec->fifo_pos = w;
		for (uint32_t i = 0; i < frame; i++)
			aec->near16[i] = ivr_f32_to_s16(near[off + i]);
		speex_echo_cancellation(aec->echo, aec->near16, aec->ref16, aec->out16);
		if (aec->pp)
			speex_preprocess_run(aec->pp, aec->out16);
		for (uint32_t i = 0; i < frame; i++)
			out[off + i] = aec->out16[i] * (1.0f / 32768.0f);
	}
	return 0;
}

struct ivr_aec *ivr_aec_new(const struct ivr_aec_cfg *cfg)
{
	size_t size = ivr_aec_size(cfg);
	if (!size) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_aec *a = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(size, IVR_ALIGN));
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_aec_init(a, size, cfg);
	if (r < 0) {
		free(a);
		errno = -r;
		return NULL;
	}
	return a;
}

void ivr_aec_free(struct ivr_aec *aec)
{
	if (!aec)
		return;
	ivr_aec_fini(aec);
	free(aec);
}
