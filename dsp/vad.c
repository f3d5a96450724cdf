/* SPDX-License-Identifier: MIT */
/*
 * dsp/vad.c - statistical-model VAD (Sohn 1999) with MCRA noise tracking
 * (Cohen 2002), hangover and an endpointer.  See dsp/vad.h for the design.
 *
 * Per 10 ms block:
 *   1. the last 20 ms (2 blocks) are Hann-windowed and zero-padded to a
 *      256-point (8 kHz) or 512-point (16 kHz) real FFT: 31.25 Hz bins at both
 *      rates, so every constant below means the same thing at either rate;
 *   2. per bin k of 200-3800 Hz: a posteriori SNR g = P/lambda, a priori SNR
 *      x by the decision-directed rule, log LR = g x/(1+x) - ln(1+x); the
 *      block is speech when the mean over the band exceeds the threshold, the
 *      band level is above min_level_dbfs, and it is no more than 15.9 dB
 *      under the talker's active level (the mean level of recent speech
 *      blocks; P.56 puts its activity threshold at the same distance).  The
 *      relative gate is what keeps breaths, decaying tails and the peaks of
 *      babble 20 dB down from being called speech;
 *   3. noise: MCRA (the time/frequency-smoothed power S against its minimum
 *      over 0.8-1.6 s: where S > 5 Smin the bin is likely speech and lambda
 *      is held in proportion, elsewhere lambda averages P), frozen entirely
 *      in speech and hangover blocks, and floored at 1.5 times the minimum of
 *      the band total over the last 2.4 s (Martin's minimum statistics).  The
 *      floor is what lets lambda rise when the noise does, even while every
 *      block is judged speech.  The first 250 ms are taken as noise.
 * The raw block decisions then drive the hangover (frame flag; armed only
 * by 3 speech blocks in a row, so a lone click gets none) and the endpointer
 * (events).  No allocation, no pointers in the state.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "dsp/vad.h"

#define FFT_MAX	   512 /* real FFT size at 16 kHz */
#define HALF_MAX   (FFT_MAX / 2)
#define WIN_MAX	   320	  /* 20 ms at 16 kHz */
#define BIN_HZ	   31.25f /* bin spacing at both rates */
#define BAND_LO_HZ 200.0f
#define BAND_HI_HZ 3800.0f
#define NBIN_MAX   128

/* MCRA (Cohen & Berdugo 2002) constants, per 10 ms block. */
#define MCRA_ALPHA_S 0.8f      /* time smoothing of S */
#define MCRA_DELTA   5.0f      /* S/Smin above this: speech present (7 dB) */
#define MCRA_ALPHA_P 0.2f      /* smoothing of the presence probability */
#define MCRA_ALPHA_D 0.95f     /* noise averaging when speech is absent (~200 ms) */
#define MCRA_L	     80	       /* blocks per minimum-search sub-window (0.8 s) */
#define ARM_BLOCKS   3u	       /* raw speech blocks in a row that arm the hangover */
#define INIT_BLOCKS  25	       /* the first 250 ms are taken as noise (calls start quiet) */
#define REL_GATE     0.025704f /* -15.9 dB: P.56's activity threshold under the active level */
#define SL_BLOCKS    200.0f    /* active level: mean over the last ~2 s of speech blocks */
#define FLOOR_ALPHA  0.8f      /* ~50 ms smoothing of the band total for the floor */
#define FLOOR_SUBWIN 4	       /* lambda floor: minimum over 4 sub-windows ... */
#define FLOOR_L	     60	       /* ... of 0.6 s: fluent speech never dips for 2.4 s */
#define MIN_BIAS     1.5f      /* lambda >= this times the windowed minimum of the band total */
/* Decision-directed a priori SNR (Ephraim & Malah 1984). */
#define DD_ALPHA    0.98f
#define XI_MIN	    0.0031623f /* -25 dB */
#define GAMMA_MAX   1.0e4f     /* bounds the LR of a loud block over digital silence */
#define POWER_FLOOR 1.0e-14f

struct ivr_vad {
	/* configuration */
	uint32_t rate_hz;
	uint32_t hop;	     /* samples per 10 ms block */
	uint32_t nfft;	     /* real FFT size */
	uint32_t log2_half;  /* log2(nfft / 2) */
	uint32_t k_lo, nbin; /* first bin and number of bins of the band */
	uint32_t hang_blocks, start_blocks, end_blocks;
	float threshold;
	float min_level;
	float prior_level; /* linear band power */
	float power_norm;  /* band bin power -> mean square of the signal */

	/* running state */
	uint64_t n_blocks;	/* blocks analysed since reset */
	uint32_t hang_left;	/* hangover blocks left */
	uint32_t run_speech;	/* consecutive raw speech blocks */
	uint32_t run_silence;	/* consecutive raw non-speech blocks */
	uint64_t run_start;	/* block index where the current speech run began */
	uint64_t last_speech;	/* block index one past the last raw speech block */
	uint8_t in_speech;	/* endpointer state */
	uint32_t mcra_count;	/* blocks into the current minimum sub-window */
	float noise_total;	/* sum of lambda over the band */
	float tot_min, tot_tmp; /* minimum of the band total of S: overall, current sub-window */
	float speech_level;	/* running band power of speech blocks */
	uint32_t n_speech;	/* speech blocks seen, up to SL_BLOCKS */
	float tot_s;		/* band total, smoothed over FLOOR_ALPHA */
	float tot_sub[FLOOR_SUBWIN]; /* minima of the previous sub-windows */
	uint32_t floor_count, floor_idx;

	/* tables */
	float window[WIN_MAX];
	float tw_re[HALF_MAX / 2], tw_im[HALF_MAX / 2]; /* e^{-j 2 pi k / (nfft/2)} */
	float sp_re[HALF_MAX + 1], sp_im[HALF_MAX + 1]; /* e^{-j 2 pi k / nfft} */
	uint16_t bitrev[HALF_MAX];

	/* buffers */
	float hist[WIN_MAX]; /* last two blocks */
	float z_re[HALF_MAX], z_im[HALF_MAX];
	float power[NBIN_MAX];

	/* per-bin state */
	float lambda[NBIN_MAX]; /* noise power */
	float s[NBIN_MAX];	/* smoothed power */
	float s_min[NBIN_MAX], s_tmp[NBIN_MAX];
	float p[NBIN_MAX];  /* speech presence probability */
	float a2[NBIN_MAX]; /* previous clean-power estimate / lambda (DD rule) */
};

static int fill_cfg(struct ivr_vad_cfg *c, const struct ivr_vad_cfg *cfg)
{
	struct ivr_vad_cfg d = { 0 };
	if (cfg)
		d = *cfg;
	if (!d.rate_hz)
		d.rate_hz = 8000;
	if (!d.hangover_ms)
		d.hangover_ms = 200;
	if (!d.start_ms)
		d.start_ms = 60;
	if (!d.end_ms)
		d.end_ms = 600;
	if (d.threshold == 0.0f)
		d.threshold = IVR_VAD_THRESHOLD;
	if (d.min_level_dbfs == 0.0f)
		d.min_level_dbfs = -60.0f;
	if (d.rate_hz != 8000 && d.rate_hz != 16000)
		return -EINVAL;
	if (d.hangover_ms > 10000 || d.start_ms > 10000 || d.end_ms > 60000)
		return -EINVAL;
	if (!(d.threshold > 0.0f && d.threshold < 1000.0f))
		return -EINVAL;
	if (!(d.min_level_dbfs >= -200.0f && d.min_level_dbfs <= 0.0f))
		return -EINVAL;
	if (!(d.prior_level_dbfs >= -200.0f && d.prior_level_dbfs <= 0.0f))
		return -EINVAL;
	*c = d;
	return 0;
}

size_t ivr_vad_size(const struct ivr_vad_cfg *cfg)
{
	struct ivr_vad_cfg c;
	if (fill_cfg(&c, cfg) < 0)
		return 0;
	return sizeof(struct ivr_vad);
}

static void init_tables(struct ivr_vad *v)
{
	const uint32_t win = 2 * v->hop, half = v->nfft / 2;
	const double pi = 3.14159265358979323846;
	for (uint32_t i = 0; i < win; i++)
		v->window[i] = (float)(0.5 - 0.5 * cos(2.0 * pi * (i + 0.5) / win));
	for (uint32_t k = 0; k < half / 2; k++) {
		v->tw_re[k] = (float)cos(2.0 * pi * k / half);
		v->tw_im[k] = (float)-sin(2.0 * pi * k / half);
	}
	for (uint32_t k = 0; k <= half; k++) {
		v->sp_re[k] = (float)cos(2.0 * pi * k / v->nfft);
		v->sp_im[k] = (float)-sin(2.0 * pi * k / v->nfft);
	}
	for (uint32_t i = 0; i < half; i++) {
		uint32_t r = 0;
		for (uint32_t b = 0; b < v->log2_half; b++)
			r |= ((i >> b) & 1u) << (v->log2_half - 1 - b);
		v->bitrev[i] = (uint16_t)r;
	}
	/*
	 * Parseval: sum over all nfft bins of |X|^2 = nfft * sum (w x)^2, and the
	 * band is counted once on the positive side, so twice that.  Dividing by
	 * sum w^2 turns it into the mean square of x over the window.
	 */
	double w2 = 0.0;
	for (uint32_t i = 0; i < win; i++)
		w2 += (double)v->window[i] * v->window[i];
	v->power_norm = (float)(2.0 / ((double)v->nfft * w2));
}

int ivr_vad_init(struct ivr_vad *vad, size_t size, const struct ivr_vad_cfg *cfg)
{
	struct ivr_vad_cfg c;
	int r = fill_cfg(&c, cfg);
	if (r < 0)
		return r;
	if (!vad || size < sizeof(*vad))
		return -EINVAL;
	memset(vad, 0, sizeof(*vad));
	vad->rate_hz = c.rate_hz;
	vad->hop = c.rate_hz / 100;
	vad->nfft = c.rate_hz == 8000 ? 256 : 512;
	vad->log2_half = c.rate_hz == 8000 ? 7 : 8;
	vad->k_lo = (uint32_t)ceilf(BAND_LO_HZ / BIN_HZ);
	vad->nbin = (uint32_t)floorf(BAND_HI_HZ / BIN_HZ) - vad->k_lo + 1;
	vad->hang_blocks = (c.hangover_ms + 9) / 10;
	vad->start_blocks = IVR_MAX(1u, (c.start_ms + 9) / 10);
	vad->end_blocks = IVR_MAX(1u, (c.end_ms + 9) / 10);
	vad->threshold = c.threshold;
	init_tables(vad);
	vad->min_level = powf(10.0f, c.min_level_dbfs / 10.0f);
	vad->prior_level =
		c.prior_level_dbfs == 0.0f ? 0.0f : powf(10.0f, c.prior_level_dbfs / 10.0f);
	ivr_vad_reset(vad);
	return 0;
}

void ivr_vad_reset(struct ivr_vad *vad)
{
	vad->n_blocks = 0;
	vad->hang_left = 0;
	vad->run_speech = 0;
	vad->run_silence = 0;
	vad->run_start = 0;
	vad->last_speech = 0;
	vad->in_speech = 0;
	vad->mcra_count = 0;
	vad->noise_total = 0.0f;
	vad->tot_min = vad->tot_tmp = vad->tot_s = 0.0f;
	/* The first speech block replaces the prior (weight 1 at n_speech 0). */
	vad->speech_level = vad->prior_level;
	vad->n_speech = 0;
	memset(vad->tot_sub, 0, sizeof(vad->tot_sub));
	vad->floor_count = vad->floor_idx = 0;
	memset(vad->hist, 0, sizeof(vad->hist));
	memset(vad->lambda, 0, sizeof(vad->lambda));
	memset(vad->s, 0, sizeof(vad->s));
	memset(vad->s_min, 0, sizeof(vad->s_min));
	memset(vad->s_tmp, 0, sizeof(vad->s_tmp));
	memset(vad->p, 0, sizeof(vad->p));
	memset(vad->a2, 0, sizeof(vad->a2));
}

/* In-place radix-2 complex FFT of z (nfft/2 points), decimation in time. */
static void fft_half(struct ivr_vad *v)
{
	const uint32_t n = v->nfft / 2;
	float *re = v->z_re, *im = v->z_im;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = v->bitrev[i];
		if (j > i) {
			float t = re[i];
			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (uint32_t len = 2; len <= n; len <<= 1) {
		const uint32_t h = len / 2, step = n / len;
		for (uint32_t i = 0; i < n; i += len) {
			for (uint32_t k = 0; k < h; k++) {
				const float wr = v->tw_re[k * step], wi = v->tw_im[k * step];
				const uint32_t a = i + k, b = a + h;
				const float xr = re[b] * wr - im[b] * wi;
				const float xi = re[b] * wi + im[b] * wr;
				re[b] = re[a] - xr;
				im[b] = im[a] - xi;
				re[a] += xr;
				im[a] += xi;
			}
		}
	}
}

/* Power spectrum of the windowed history over the band into v->power; returns band power. */
static float band_power(struct ivr_vad *v)
{
	const uint32_t win = 2 * v->hop, half = v->nfft / 2;
	/* Pack the real input as z[n] = x[2n] + j x[2n+1], zero-padded. */
	for (uint32_t n = 0; n < half; n++) {
		uint32_t i0 = 2 * n, i1 = 2 * n + 1;
		v->z_re[n] = i0 < win ? v->hist[i0] * v->window[i0] : 0.0f;
		v->z_im[n] = i1 < win ? v->hist[i1] * v->window[i1] : 0.0f;
	}
	fft_half(v);
	float total = 0.0f;
	for (uint32_t b = 0; b < v->nbin; b++) {
		const uint32_t k = v->k_lo + b, km = (half - k) & (half - 1);
		/* Split: X[k] = E + W^k O with E = (Z[k] + Z*[M-k]) / 2, O = (Z[k] - Z*[M-k]) / 2j.
		 */
		const float zr = v->z_re[k], zi = v->z_im[k];
		const float cr = v->z_re[km], ci = -v->z_im[km];
		const float er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);
		const float dr = 0.5f * (zr - cr), di = 0.5f * (zi - ci);
		const float or_ = di, oi = -dr; /* (d) / j */
		const float xr = er + v->sp_re[k] * or_ - v->sp_im[k] * oi;
		const float xi = ei + v->sp_re[k] * oi + v->sp_im[k] * or_;
		const float pw = xr * xr + xi * xi + POWER_FLOOR;
		v->power[b] = pw;
		total += pw;
	}
	return total;
}

/*
 * MCRA noise update after the decision on this block.  @speech (the block's
 * own raw decision or hangover) freezes the averaging: MCRA's per-bin
 * presence probability alone lets the quieter bins of a vowel leak into
 * lambda.  Frozen or not, lambda never stays below MIN_BIAS times the
 * windowed minimum, which is what lets it follow a rise of the noise level
 * even while every block is judged speech.
 */
static void mcra_update(struct ivr_vad *v, int speech)
{
	const uint32_t nb = v->nbin;
	float prev = v->power[0];
	for (uint32_t b = 0; b < nb; b++) {
		/* 3-tap frequency smoothing (Cohen: window b over neighbours). */
		const float next = b + 1 < nb ? v->power[b + 1] : v->power[b];
		const float sf = 0.25f * prev + 0.5f * v->power[b] + 0.25f * next;
		prev = v->power[b];
		v->s[b] = MCRA_ALPHA_S * v->s[b] + (1.0f - MCRA_ALPHA_S) * sf;
		v->s_min[b] = fminf(v->s_min[b], v->s[b]);
		v->s_tmp[b] = fminf(v->s_tmp[b], v->s[b]);
		const float ind = v->s[b] > MCRA_DELTA * v->s_min[b] ? 1.0f : 0.0f;
		v->p[b] = MCRA_ALPHA_P * v->p[b] + (1.0f - MCRA_ALPHA_P) * ind;
		const float ad = speech ? 1.0f : MCRA_ALPHA_D + (1.0f - MCRA_ALPHA_D) * v->p[b];
		v->lambda[b] = ad * v->lambda[b] + (1.0f - ad) * v->power[b];
	}
	/* The same minimum search on the band total drives the lambda floor. */
	float tot = 0.0f, lam = 0.0f;
	for (uint32_t b = 0; b < nb; b++) {
		tot += v->power[b];
		lam += v->lambda[b];
	}
	v->tot_s = FLOOR_ALPHA * v->tot_s + (1.0f - FLOOR_ALPHA) * tot;
	tot = v->tot_s;
	/*
	 * Martin's minimum statistics on the band total: the minimum over the
	 * last 4 sub-windows of 0.6 s.  One window of 0.8 s (MCRA's) is not
	 * enough: a fluent reader does not pause for that long, the minimum
	 * rises to the speech and pulls lambda up with it.
	 */
	v->tot_tmp = fminf(v->tot_tmp, tot);
	v->tot_min = v->tot_tmp;
	for (uint32_t i = 0; i < FLOOR_SUBWIN; i++)
		v->tot_min = fminf(v->tot_min, v->tot_sub[i]);
	if (++v->floor_count >= FLOOR_L) {
		v->floor_count = 0;
		v->tot_sub[v->floor_idx] = v->tot_tmp;
		v->floor_idx = (v->floor_idx + 1) % FLOOR_SUBWIN;
		v->tot_tmp = tot;
	}
	if (lam < MIN_BIAS * v->tot_min) {
		const float up = MIN_BIAS * v->tot_min / lam;
		for (uint32_t b = 0; b < nb; b++)
			v->lambda[b] *= up;
	}
	if (++v->mcra_count >= MCRA_L) {
		v->mcra_count = 0;
		for (uint32_t b = 0; b < nb; b++) {
			v->s_min[b] = fminf(v->s_tmp[b], v->s[b]);
			v->s_tmp[b] = v->s[b];
		}
	}
}

/* Analyse one 10 ms block; returns the raw decision and the mean LLR in *llr. */
static int block(struct ivr_vad *v, const float *restrict x, float *llr, float *level)
{
	const uint32_t hop = v->hop;
	memmove(v->hist, v->hist + hop, hop * sizeof(float));
	for (uint32_t i = 0; i < hop; i++) {
		float s = x[i];
		v->hist[hop + i] = isfinite(s) ? s : 0.0f;
	}
	const float total = band_power(v);
	*level = total * v->power_norm;

	if (v->n_blocks == 0) {
		/* Start from the first block: a call starts with line noise, not speech. */
		for (uint32_t b = 0; b < v->nbin; b++) {
			v->lambda[b] = v->s[b] = v->s_min[b] = v->s_tmp[b] = v->power[b];
			v->a2[b] = 1.0f;
		}
		v->tot_min = v->tot_tmp = v->tot_s = total;
		for (uint32_t i = 0; i < FLOOR_SUBWIN; i++)
			v->tot_sub[i] = total;
	}

	float sum = 0.0f;
	for (uint32_t b = 0; b < v->nbin; b++) {
		float g = v->power[b] / v->lambda[b];
		if (g > GAMMA_MAX)
			g = GAMMA_MAX;
		float xi = DD_ALPHA * v->a2[b] + (1.0f - DD_ALPHA) * fmaxf(g - 1.0f, 0.0f);
		if (xi < XI_MIN)
			xi = XI_MIN;
		const float gain = xi / (1.0f + xi);
		sum += g * gain - log1pf(xi);
		v->a2[b] = gain * gain * g;
	}
	*llr = sum / (float)v->nbin;
	/*
	 * Relative gate (the idea of P.56's activity threshold, which sits
	 * 15.9 dB under the active level): a block far below the talker's
	 * recent speech level is a breath, a tail or the background, not speech.
	 */
	const int loud_enough = *level > v->min_level && *level > v->speech_level * REL_GATE;
	const int raw = *llr > v->threshold && loud_enough;
	if (raw) {
		/* Active speech level: mean power of the speech blocks, over ~SL_BLOCKS. */
		const float w = v->n_speech < SL_BLOCKS ? 1.0f / (float)(v->n_speech + 1)
							: 1.0f / SL_BLOCKS;
		v->speech_level += w * (*level - v->speech_level);
		if (v->n_speech < SL_BLOCKS)
			v->n_speech++;
	}
	if (v->n_blocks < INIT_BLOCKS) {
		/* Learning: lambda is the plain mean of the blocks so far. */
		const float w = 1.0f / (float)(v->n_blocks + 1);
		for (uint32_t b = 0; b < v->nbin; b++)
			v->lambda[b] += w * (v->power[b] - v->lambda[b]);
		mcra_update(v, 1);
	} else {
		mcra_update(v, raw || v->hang_left);
	}

	float nt = 0.0f;
	for (uint32_t b = 0; b < v->nbin; b++) {
		if (v->lambda[b] < POWER_FLOOR)
			v->lambda[b] = POWER_FLOOR;
		nt += v->lambda[b];
	}
	v->noise_total = nt;
	v->n_blocks++;
	return raw;
}

static void push_event(struct ivr_vad_result *res, uint8_t type, uint64_t sample)
{
	if (res && res->n_events < IVR_N_ELEMENTS(res->ev)) {
		res->ev[res->n_events].type = type;
		res->ev[res->n_events].sample = sample;
		res->n_events++;
	}
}

static float to_db(float p)
{
	return 10.0f * log10f(p > 1e-20f ? p : 1e-20f);
}

int ivr_vad_process(struct ivr_vad *vad, const float *restrict pcm, size_t n_samples,
		    struct ivr_vad_result *res)
{
	if (!vad || (!pcm && n_samples) || (n_samples != vad->hop && n_samples != 2u * vad->hop))
		return -EINVAL;
	if (res)
		memset(res, 0, sizeof(*res));
	int speech = 0;
	float llr_max = -1e30f, level_sum = 0.0f;
	for (size_t off = 0; off < n_samples; off += vad->hop) {
		float llr, level;
		const uint64_t idx = vad->n_blocks;
		const int raw = block(vad, pcm + off, &llr, &level);
		llr_max = fmaxf(llr_max, llr);
		level_sum += level;
		if (raw) {
			if (vad->run_speech == 0)
				vad->run_start = idx;
			vad->run_speech++;
			/* A lone block (a click, a babble peak) gets no hangover. */
			if (vad->run_speech >= ARM_BLOCKS)
				vad->hang_left = vad->hang_blocks;
			vad->run_silence = 0;
			vad->last_speech = idx + 1;
			speech = 1;
		} else {
			vad->run_speech = 0;
			vad->run_silence++;
			if (vad->hang_left) {
				vad->hang_left--;
				speech = 1;
			}
		}
		if (!vad->in_speech && vad->run_speech >= vad->start_blocks) {
			vad->in_speech = 1;
			push_event(res, IVR_VAD_EV_START, vad->run_start * vad->hop);
		} else if (vad->in_speech && vad->run_silence >= vad->end_blocks) {
			vad->in_speech = 0;
			push_event(res, IVR_VAD_EV_END, vad->last_speech * vad->hop);
		}
	}
	if (res) {
		res->speech = (uint8_t)speech;
		res->in_speech = vad->in_speech;
		res->llr = llr_max;
		res->level_dbfs = to_db(level_sum * vad->hop / (float)n_samples);
		res->noise_dbfs = to_db(vad->noise_total * vad->power_norm);
	}
	return speech;
}

float ivr_vad_noise_dbfs(const struct ivr_vad *vad)
{
	return to_db(vad->noise_total * vad->power_norm);
}

struct ivr_vad *ivr_vad_new(const struct ivr_vad_cfg *cfg)
{
	size_t size = ivr_vad_size(cfg);
	if (!size) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_vad *v = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(size, IVR_ALIGN));
	if (!v) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_vad_init(v, size, cfg);
	if (r < 0) {
		free(v);
		errno = -r;
		return NULL;
	}
	return v;
}

void ivr_vad_free(struct ivr_vad *vad)
{
	free(vad);
}
