/* SPDX-License-Identifier: MIT */
/*
 * dsp/aec.c - speexdsp MDF echo canceller + residual echo suppressor,
 * with a bulk-delay FIFO on the reference.  See dsp/aec.h.
 *
 * Per frame: far (float) -> int16 into the FIFO; the sample written
 * bulk_delay samples ago comes out as the reference; near -> int16;
 * speex_echo_cancellation(); speex_preprocess_run() (suppressor, which
 * reads the canceller's residual-echo estimate through the attached echo
 * state); the start-up gate (below) while the filter has not converged;
 * int16 -> float.  The conversions, and the gate's few power sums during
 * the first seconds of a call, are the only work the wrapper adds to raw
 * speexdsp (bench/bench_aec.c measures it).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#include "dsp/aec.h"
#include "dsp/g711.h"

#define FRAME_MAX 320 /* 20 ms at 16 kHz */

/*
 * Start-up gate.  speexdsp's MDF needs one to two seconds of far speech to
 * converge, and its suppressor leans on the filter's own residual estimate,
 * so during that time the echo leaks (10-20 dB under the near signal) and a
 * barge-in detector on the output hears the prompt.  Until the linear filter
 * has reached GATE_CONVERGED_DB of cancellation over GATE_WINDOW_MS of
 * far speech, frames where the far end is active and the near signal is no
 * louder than the echo coupling explains are attenuated by GATE_ATTEN.  A
 * caller GATE_DT times (6 dB) above that opens it for GATE_HOLD_MS (a level
 * double-talk test, as Geigel's, on powers).  Once converged the gate is off
 * for good (until a reset): double talk later in the call is speexdsp's
 * business alone.
 */
#define HIST_MAX	  64	  /* far power history, frames: >= (500 + 20) / 10 */
#define GATE_FAR_MIN	  3.3e-6f /* -55 dBFS mean square: far end active */
#define GATE_WINDOW_MS	  500	  /* far-active time per convergence check */
#define GATE_CONVERGED_DB 12.0f	  /* linear ERLE that ends the start-up gate */
#define GATE_ATTEN	  0.0316f /* -30 dB on echo-only frames */
#define GATE_DT		  4.0f	  /* near above 4x the coupled far power: the caller */
#define GATE_HOLD_MS	  200	  /* open this long after a caller frame: words have dips */
#define GATE_BOOT_MS	  100	  /* far-active time, after a tail, that only learns */
#define GATE_DECAY_DB	  0.0877f /* coupling estimate let down per 20 ms (~4.4 dB/s) */
#define GATE_GROW_DB	  0.5f	  /* ... and let up by at most this per 20 ms */

struct ivr_aec {
	struct ivr_aec_cfg cfg; /* with defaults filled in */
	uint32_t frame;		/* samples per speexdsp call */
	uint32_t delay;		/* bulk delay in samples */
	uint32_t fifo_len;	/* delay + frame */
	uint32_t fifo_pos;	/* next write index */
	SpeexEchoState *echo;
	SpeexPreprocessState *pp;
	/* start-up gate (see GATE_*) */
	uint8_t converged;
	uint32_t hist_len, hist_pos; /* far power history covering the tail */
	uint32_t win_frames;
	float win_near, win_err;	 /* near and linear-residual power sums */
	float coupling;			 /* near/far power ratio of the echo (decaying maximum) */
	uint32_t far_frames;		 /* far-active frames seen, up to boot_frames */
	uint32_t hold_frames, hold_left; /* gate held open after the caller (GATE_HOLD_MS) */
	uint32_t window_frames, boot_frames;
	float decay, grow; /* per-frame factors of GATE_DECAY_DB, GATE_GROW_DB */
	float gain;	   /* smoothed gate gain */
	float far_hist[HIST_MAX];
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
	if (d.linear_only > 1 || d.no_startup_gate > 1)
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

static void gate_reset(struct ivr_aec *a)
{
	/* The gate belongs to the suppression path: linear_only means the MDF output as is. */
	a->converged = a->cfg.no_startup_gate || a->cfg.linear_only;
	a->hist_pos = 0;
	a->win_frames = 0;
	a->win_near = a->win_err = 0.0f;
	a->coupling = 0.0f;
	a->far_frames = 0;
	a->hold_left = 0;
	a->gain = 1.0f;
	memset(a->far_hist, 0, sizeof(a->far_hist));
}

static float mean_square(const int16_t *x, uint32_t n)
{
	float acc = 0.0f;
	for (uint32_t i = 0; i < n; i++)
		acc += (float)x[i] * (float)x[i];
	return acc / ((float)n * 32768.0f * 32768.0f);
}

/*
 * Before convergence: decide the gate for this frame from the powers of the
 * near input, the delayed far reference and the linear residual (out16 as
 * speex_echo_cancellation left it), and update the convergence test.
 * Returns the gain to apply to the frame's output.
 */
static float gate_update(struct ivr_aec *a)
{
	const uint32_t n = a->frame;
	a->far_hist[a->hist_pos] = mean_square(a->ref16, n);
	if (++a->hist_pos == a->hist_len)
		a->hist_pos = 0;
	float far_max = 0.0f;
	for (uint32_t i = 0; i < a->hist_len; i++)
		far_max = fmaxf(far_max, a->far_hist[i]);
	const float pn = mean_square(a->near16, n), pe = mean_square(a->out16, n);
	float target = 1.0f;
	if (far_max > GATE_FAR_MIN) {
		/*
		 * Echo coupling: echo power <= coupling * the loudest far frame
		 * of the tail, so the estimate is the largest ratio seen in
		 * echo-only frames, let down by GATE_DECAY_DB per 20 ms.  A frame
		 * GATE_DT above it holds the caller: it passes and does not
		 * feed the estimate, which may rise by GATE_GROW_DB per 20 ms at
		 * most, so a caller's onset ramping up cannot drag it along.
		 * The first boot_frames far frames (a tail + GATE_BOOT_MS) only
		 * learn.  If the echo is louder later than it was then, the gate
		 * takes it for the caller and stays open: the canceller then
		 * behaves as without the gate, no worse.
		 */
		const float r = pn / far_max;
		if (a->far_frames >= a->boot_frames && r > GATE_DT * a->coupling)
			a->hold_left = a->hold_frames; /* the caller: open, and hold */
		else if (a->hold_left)
			a->hold_left--;
		if (!a->hold_left) {
			float c = fmaxf(a->coupling * a->decay, r);
			/* An echo path does not jump; a caller's onset ramps: cap the rise. */
			if (a->far_frames >= a->boot_frames)
				c = fminf(c, a->coupling * a->grow);
			a->coupling = c;
			target = GATE_ATTEN;
		}
		if (a->far_frames < a->boot_frames)
			a->far_frames++;
		a->win_near += pn;
		a->win_err += pe;
		if (++a->win_frames >= a->window_frames) {
			if (a->win_near >= a->win_err * powf(10.0f, GATE_CONVERGED_DB / 10.0f))
				a->converged = 1;
			a->win_frames = 0;
			a->win_near = a->win_err = 0.0f;
		}
	}
	/* One-pole smoothing per frame: no click when the gate moves. */
	a->gain += 0.5f * (target - a->gain);
	if (a->converged)
		a->gain = 1.0f;
	return a->gain;
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
	/* The gate's time constants are in ms; per frame they depend on frame_ms. */
	aec->hold_frames = GATE_HOLD_MS / c.frame_ms;
	aec->window_frames = GATE_WINDOW_MS / c.frame_ms;
	/* The echo of the first far frame can come as late as the tail: learn that long. */
	aec->boot_frames = (c.tail_ms + GATE_BOOT_MS) / c.frame_ms;
	aec->decay = powf(10.0f, -GATE_DECAY_DB * (float)c.frame_ms / 200.0f);
	aec->grow = powf(10.0f, GATE_GROW_DB * (float)c.frame_ms / 200.0f);
	aec->hist_len = IVR_MIN(HIST_MAX, (c.tail_ms + c.frame_ms - 1) / c.frame_ms + 1);
	gate_reset(aec);
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
	gate_reset(aec);
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
		const float g = aec->converged ? 1.0f : gate_update(aec);
		if (aec->pp)
			speex_preprocess_run(aec->pp, aec->out16);
		const float scale = g * (1.0f / 32768.0f);
		for (uint32_t i = 0; i < frame; i++)
			out[off + i] = aec->out16[i] * scale;
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
