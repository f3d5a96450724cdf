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
 * Before step 1, the pre-gate (GATE_NOISE) passes over background blocks.
 * The raw block decisions then drive the hangover (frame flag; armed only
 * by 3 speech blocks in a row, so a lone click gets none) and the endpointer
 * (events).  No allocation, no pointers in the state.
 *
 * Footprint: the state holds only what lives from block to block (4.3 KB).
 * The window, twiddle and radix-4 group tables depend on the rate alone and
 * are shared by every detector (static, built once); the FFT buffers and the
 * band power are scratch on the stack of block().  With 1000+ calls per
 * engine the per-call state does not stay in cache, so every byte of it a
 * block touches is a miss: the shared tables stay hot for all calls.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#include "common/vec4.h"
#include "dsp/vad.h"

#define FFT_MAX	 512 /* real FFT size at 16 kHz */
#define HALF_MAX (FFT_MAX / 2)
#define WIN_MAX	 320	/* 20 ms at 16 kHz */
#define BIN_HZ	 31.25f /* bin spacing at both rates */
/*
 * The band 200-3800 Hz: bins 7..121 at both rates (31.25 Hz spacing), 115
 * bins, computed as 116 (29 vectors of 4) with the last lane a copy of bin
 * 121 that the sums leave out.  Fixed at compile time so every per-bin loop
 * is a whole number of vectors.
 */
#define K_LO 7
#define NB   115
#define NBV  116
#define NVEC (NBV / 4)

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
/*
 * Pre-gate: a block whose windowed energy (an upper bound of its band
 * level, by Parseval) is under the loudness gate cannot be speech, and if
 * it is also within GATE_NOISE of the tracked noise floor it is plain
 * background: its spectrum is not computed.  One such block in GATE_DECIM
 * still gets the whole analysis and a noise update that stands for the
 * blocks skipped since the last one, so the tracker keeps following the
 * background at 1/GATE_DECIM of the cost.
 */
#define GATE_NOISE 4.0f /* 6 dB over the noise floor's band level */
#define GATE_DECIM 8	/* one analysed block per 80 ms of background */
/* Under -90 dBFS (digital silence, a muted phone): gated however far under the floor. */
#define GATE_SILENT 1.0e-9f
/*
 * Hold: a block whose windowed energy is within HOLD_RATIO of the last
 * analysed block's takes that block's decision without its spectrum, when
 * that block was sustained speech (a run that has reached start_ms, HOLD_LLR
 * times over the threshold and HOLD_LOUD over the loudness gates; at most
 * HOLD_SPEECH blocks in a row) or plain background (under HOLD_BG_LLR of the
 * threshold or HOLD_LOUD under the gates; at most HOLD_BG in a row).  Any
 * change of level (an onset, an offset, a pause, the next syllable) gets the
 * whole analysis.  The held blocks count for the minimum search and the
 * speech level with their level estimated from the windowed energy, and the
 * next analysed block's smoothing stands for them when it decides the same.
 * Tried and dropped: 3 background blocks in a row (babble 20 dB at 16 kHz
 * went over 4% false alarms) and a 3 dB window (the same).
 */
/* 1: the MCRA update runs on every other analysed speech block (lambda is frozen there) */
#define MCRA_DECIM  1
#define HOLD_SPEECH 3
#define HOLD_BG	    1
#define HOLD_LLR    2.0f
#define HOLD_BG_LLR 0.5f
#define HOLD_LOUD   2.0f  /* 3 dB */
#define HOLD_RATIO  1.41f /* 1.5 dB either way */

/* a < b ? a : b and a > b ? a : b, lane-wise: minps/maxps (SSE, baseline on x86-64) do exactly
 * that. */
static inline v4sf vmin(v4sf a, v4sf b)
{
#ifdef __SSE__
	return _mm_min_ps(a, b);
#else
	return v4_sel(a < b, a, b);
#endif
}

static inline v4sf vmax(v4sf a, v4sf b)
{
#ifdef __SSE__
	return _mm_max_ps(a, b);
#else
	return v4_sel(a > b, a, b);
#endif
}

static inline float hsum(v4sf v)
{
	return (v[0] + v[1]) + (v[2] + v[3]);
}

/*
 * Natural log of x > 0 (normal, finite), 4 lanes: Cephes' logf (exponent
 * split, mantissa in [sqrt(1/2), sqrt(2)), degree-9 polynomial; Cephes
 * gives its error as about 1e-7 relative).  Replaces log1pf, which was a
 * third of the detector's time as a scalar libm call per bin; test_vad's
 * figures did not change.
 */
static inline v4sf vlog(v4sf x)
{
	const v4si bits = (v4si)x;
	v4si e = ((bits >> 23) & 0xff) - 127;
	v4sf m = (v4sf)((bits & 0x007fffff) | 0x3f800000); /* [1, 2) */
	const v4si big = m > v4_splat(1.41421356f);
	m = v4_sel(big, m * 0.5f, m);
	e -= big; /* big is -1 where true */
	const v4sf ef = __builtin_convertvector(e, v4sf);
	const v4sf f = m - 1.0f, z = f * f;
	v4sf y = v4_splat(7.0376836292e-2f);
	y = y * f - 1.1514610310e-1f;
	y = y * f + 1.1676998740e-1f;
	y = y * f - 1.2420140846e-1f;
	y = y * f + 1.4249322787e-1f;
	y = y * f - 1.6668057665e-1f;
	y = y * f + 2.0000714765e-1f;
	y = y * f - 2.4999993993e-1f;
	y = y * f + 3.3333331174e-1f;
	y = y * f * z;
	y += ef * -2.12194440e-4f;
	y -= 0.5f * z;
	return f + y + ef * 0.693359375f;
}

/* Sum of the NB real lanes of a NBV-lane array (the pad lane left out). */
static inline float band_sum(const float *a)
{
	v4sf acc = v4_splat(0.0f);
	for (uint32_t i = 0; i < NVEC - 1; i++)
		acc += v4_ld(a + 4 * i);
	const v4sf last = v4_ld(a + 4 * (NVEC - 1));
	return hsum(acc) + (last[0] + last[1] + last[2]);
}

struct ivr_vad {
	/* configuration */
	uint32_t rate_hz;
	uint32_t hop;  /* samples per 10 ms block */
	uint32_t nfft; /* real FFT size */
	uint32_t hang_blocks, start_blocks, end_blocks;
	float threshold;
	float min_level;
	float prior_level; /* linear band power */
	float power_norm;  /* band bin power -> mean square of the signal */
	float inv_w2;	   /* 1 / sum of the window squared: windowed energy -> mean square */
	/* smoothing constants to the power of 1..GATE_DECIM blocks (index = blocks) */
	float a_s[GATE_DECIM + 1], a_p[GATE_DECIM + 1];

	/* running state */
	uint64_t n_blocks;	/* blocks analysed since reset */
	uint32_t hang_left;	/* hangover blocks left */
	uint32_t run_speech;	/* consecutive raw speech blocks */
	uint32_t run_silence;	/* consecutive raw non-speech blocks */
	uint64_t run_start;	/* block index where the current speech run began */
	uint64_t last_speech;	/* block index one past the last raw speech block */
	uint8_t in_speech;	/* endpointer state */
	uint8_t a2_clear;	/* a2[] is all 0 (background since the last analysed block) */
	uint8_t pregate;	/* the pre-gate is on (configuration) */
	uint8_t gated_now;	/* the last block was passed over */
	uint32_t skipped;	/* pre-gated blocks since the last noise update */
	uint32_t mcra_count;	/* blocks into the current minimum sub-window */
	float noise_total;	/* sum of lambda over the band */
	float tot_min, tot_tmp; /* minimum of the band total of S: overall, current sub-window */
	float speech_level;	/* running band power of speech blocks */
	uint32_t n_speech;	/* speech blocks seen, up to SL_BLOCKS */
	float tot_s;		/* band total, smoothed over FLOOR_ALPHA */
	float tot_sub[FLOOR_SUBWIN]; /* minima of the previous sub-windows */
	uint32_t floor_count, floor_idx;
	float band_ratio; /* band level / windowed level of background blocks (running mean) */
	/* the last analysed block, for the hold */
	float last_wl, last_level, last_llr; /* windowed level, band level, mean LLR */
	uint8_t hold_max;		     /* blocks it allows to be held (see HOLD_SPEECH) */
	uint8_t last_raw;		     /* its decision */
	uint8_t held;			     /* blocks held since */
	uint8_t mcra_sp;		     /* the last MCRA update was on a speech block */
	uint8_t mcra_owed; /* the last analysed block left its update to the next */

	/* buffers */
	_Alignas(16) float hist[WIN_MAX]; /* last two blocks: halves of hop, the newest at hist_new
					   */
	uint32_t hist_new;

	/* per-bin state */
	_Alignas(16) float lambda[NBV]; /* noise power */
	_Alignas(16) float s[NBV];	/* smoothed power */
	_Alignas(16) float s_min[NBV], s_tmp[NBV];
	_Alignas(16) float p[NBV];  /* speech presence probability */
	_Alignas(16) float a2[NBV]; /* previous clean-power estimate / lambda (DD rule) */
};

/* Tables that depend on the rate alone: one set per rate, shared by all detectors. */
struct vad_tables {
	_Alignas(16) float window[WIN_MAX];
	_Alignas(16) float tw_re[HALF_MAX], tw_im[HALF_MAX]; /* stage h: [h + k] = W_2h^k */
	_Alignas(16) float sp_re[NBV], sp_im[NBV];	     /* e^{-j 2 pi k / nfft}, band bins */
	uint16_t grp[HALF_MAX /
		     4]; /* [r]: where the radix-4 group of inputs r + {0, 1/2, 1/4, 3/4} n goes */
};

/* [0] 8 kHz, [1] 16 kHz; written once under tables_once, read-only afterwards. */
static struct vad_tables vad_tab[2];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Per-block scratch, on the stack of block(): nothing in it outlives the block. */
struct vad_scratch {
	_Alignas(16) float z_re[HALF_MAX], z_im[HALF_MAX];
	/* band power with one guard slot either side (3-tap smoothing): power = pwx + 4 */
	_Alignas(16) float pwx[NBV + 8];
};

#define POWER(sc) ((sc)->pwx + 4)

static inline const struct vad_tables *tab(const struct ivr_vad *v)
{
	return &vad_tab[v->rate_hz != 8000];
}

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
	if (d.no_pregate > 1)
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

static void build_tables(struct vad_tables *t, uint32_t hop, uint32_t nfft, uint32_t log2_half)
{
	const uint32_t win = 2 * hop, half = nfft / 2;
	const double pi = 3.14159265358979323846;
	for (uint32_t i = 0; i < win; i++)
		t->window[i] = (float)(0.5 - 0.5 * cos(2.0 * pi * (i + 0.5) / win));
	/* Per stage of half-length h, W_2h^k for k < h, contiguous: the butterflies read them in
	 * order. */
	for (uint32_t h = 1; h < half; h <<= 1)
		for (uint32_t k = 0; k < h; k++) {
			t->tw_re[h + k] = (float)cos(pi * k / h);
			t->tw_im[h + k] = (float)-sin(pi * k / h);
		}
	for (uint32_t b = 0; b < NBV; b++) {
		t->sp_re[b] = (float)cos(2.0 * pi * (K_LO + b) / nfft);
		t->sp_im[b] = (float)-sin(2.0 * pi * (K_LO + b) / nfft);
	}
	/* Group g (outputs 4g..4g+3 in bit-reversed order) takes input bitrev(4g) = r first. */
	for (uint32_t g = 0; g < half / 4; g++) {
		uint32_t r = 0;
		for (uint32_t b = 0; b < log2_half; b++)
			r |= (((4 * g) >> b) & 1u) << (log2_half - 1 - b);
		t->grp[r] = (uint16_t)(4 * g);
	}
}

static void build_all_tables(void)
{
	build_tables(&vad_tab[0], 80, 256, 7);
	build_tables(&vad_tab[1], 160, 512, 8);
}

static void init_tables(struct ivr_vad *v)
{
	const uint32_t win = 2 * v->hop;
	pthread_once(&tables_once, build_all_tables);
	const struct vad_tables *t = tab(v);
	/*
	 * Parseval: sum over all nfft bins of |X|^2 = nfft * sum (w x)^2, and the
	 * band is counted once on the positive side, so twice that.  Dividing by
	 * sum w^2 turns it into the mean square of x over the window.
	 */
	double w2 = 0.0;
	for (uint32_t i = 0; i < win; i++)
		w2 += (double)t->window[i] * t->window[i];
	v->power_norm = (float)(2.0 / ((double)v->nfft * w2));
	v->inv_w2 = (float)(1.0 / w2);
	for (uint32_t n = 0; n <= GATE_DECIM; n++) {
		v->a_s[n] = powf(MCRA_ALPHA_S, (float)n);
		v->a_p[n] = powf(MCRA_ALPHA_P, (float)n);
	}
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
	vad->hang_blocks = (c.hangover_ms + 9) / 10;
	vad->start_blocks = IVR_MAX(1u, (c.start_ms + 9) / 10);
	vad->end_blocks = IVR_MAX(1u, (c.end_ms + 9) / 10);
	vad->threshold = c.threshold;
	vad->pregate = !c.no_pregate;
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
	vad->a2_clear = 0;
	vad->skipped = 0;
	vad->hold_max = vad->last_raw = vad->held = 0;
	vad->mcra_sp = vad->mcra_owed = 0;
	vad->last_wl = vad->last_level = vad->last_llr = 0.0f;
	vad->mcra_count = 0;
	vad->noise_total = 0.0f;
	vad->tot_min = vad->tot_tmp = vad->tot_s = 0.0f;
	/* The first speech block replaces the prior (weight 1 at n_speech 0). */
	vad->speech_level = vad->prior_level;
	vad->n_speech = 0;
	memset(vad->tot_sub, 0, sizeof(vad->tot_sub));
	vad->floor_count = vad->floor_idx = 0;
	vad->band_ratio = 1.0f;
	memset(vad->hist, 0, sizeof(vad->hist));
	vad->hist_new = 0;
	memset(vad->lambda, 0, sizeof(vad->lambda));
	memset(vad->s, 0, sizeof(vad->s));
	memset(vad->s_min, 0, sizeof(vad->s_min));
	memset(vad->s_tmp, 0, sizeof(vad->s_tmp));
	memset(vad->p, 0, sizeof(vad->p));
	memset(vad->a2, 0, sizeof(vad->a2));
}

/* 4x4 transpose: lane l of the results is row l. */
static inline void transpose4(v4sf *a, v4sf *b, v4sf *c, v4sf *d)
{
	const v4sf t0 = __builtin_shufflevector(*a, *b, 0, 4, 1, 5);
	const v4sf t1 = __builtin_shufflevector(*a, *b, 2, 6, 3, 7);
	const v4sf t2 = __builtin_shufflevector(*c, *d, 0, 4, 1, 5);
	const v4sf t3 = __builtin_shufflevector(*c, *d, 2, 6, 3, 7);
	*a = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
	*b = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
	*c = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
	*d = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

/* Radix-2 butterflies a, b = a + W b, a - W b on 4 lanes, W from @wr/@wi. */
static inline void cbfly(v4sf *ar, v4sf *ai, v4sf *br, v4sf *bi, const float *wr, const float *wi)
{
	const v4sf w_r = v4_ld(wr), w_i = v4_ld(wi);
	const v4sf xr = *br * w_r - *bi * w_i, xi = *br * w_i + *bi * w_r;
	*br = *ar - xr;
	*bi = *ai - xi;
	*ar = *ar + xr;
	*ai = *ai + xi;
}

/* Sample @i (< 2 hop) of the window: the older block, then the newer (no memmove per block). */
static inline const float *win_at(const struct ivr_vad *v, uint32_t i)
{
	const uint32_t hop = v->hop, h = i < hop ? v->hist_new ^ 1u : v->hist_new;
	return v->hist + h * hop + (i < hop ? i : i - hop);
}

/* z[m..m+3] of the windowed samples @xw (z[m] = x[2m] + j x[2m+1]; 0 past the window). */
static inline void load_z(const struct ivr_vad *v, const float *xw, uint32_t m, v4sf *re, v4sf *im)
{
	if (m >= v->hop) { /* win / 2 = hop: a multiple of 4 */
		*re = *im = v4_splat(0.0f);
		return;
	}
	const v4sf a = v4_ld(xw + 2 * m), b = v4_ld(xw + 2 * m + 4);
	*re = __builtin_shufflevector(a, b, 0, 2, 4, 6);
	*im = __builtin_shufflevector(a, b, 1, 3, 5, 7);
}

/*
 * Windowed history into z (real input packed as z[n] = x[2n] + j x[2n+1],
 * zero-padded), then an in-place radix-2 complex FFT of nfft/2 points,
 * decimation in time.  The first two stages (twiddles 1 and -j) are one
 * radix-4 pass fused with the windowing and the bit reversal: the four
 * inputs of a group are z[r], z[r + n/2], z[r + n/4], z[r + 3n/4] for
 * r < n/4, so four groups (r .. r+3) load as whole vectors, and a 4x4
 * transpose puts each group's outputs in its place.  Then the other stages,
 * four butterflies at a time.
 */
static void fft_half(const struct ivr_vad *v, const float *xw, struct vad_scratch *sc)
{
	const struct vad_tables *t = tab(v);
	const uint32_t n = v->nfft / 2;
	float *re = sc->z_re, *im = sc->z_im;
	for (uint32_t r = 0; r < n / 4; r += 4) {
		v4sf r0, i0, r1, i1, r2, i2, r3, i3;
		load_z(v, xw, r, &r0, &i0);
		load_z(v, xw, r + n / 2, &r1, &i1);
		load_z(v, xw, r + n / 4, &r2, &i2);
		load_z(v, xw, r + 3 * n / 4, &r3, &i3);
		const v4sf ar = r0 + r1, ai = i0 + i1, br = r0 - r1, bi = i0 - i1;
		const v4sf cr = r2 + r3, ci = i2 + i3;
		/* (x2 - x3) * -j */
		const v4sf dr = i2 - i3, di = r3 - r2;
		v4sf o0r = ar + cr, o1r = br + dr, o2r = ar - cr, o3r = br - dr;
		v4sf o0i = ai + ci, o1i = bi + di, o2i = ai - ci, o3i = bi - di;
		transpose4(&o0r, &o1r, &o2r, &o3r);
		transpose4(&o0i, &o1i, &o2i, &o3i);
		const v4sf orr[4] = { o0r, o1r, o2r, o3r }, oii[4] = { o0i, o1i, o2i, o3i };
		for (uint32_t l = 0; l < 4; l++) {
			const uint32_t g = t->grp[r + l];
			v4_st(re + g, orr[l]);
			v4_st(im + g, oii[l]);
		}
	}
	/*
	 * The radix-2 stages h and 2h two at a time on quarters a, a+h, a+2h,
	 * a+3h held in registers (the same operations and twiddles as two
	 * passes, one load and store of the data), the last one alone if odd.
	 */
	uint32_t h = 4;
	for (; 2 * h < n; h *= 4) {
		for (uint32_t i = 0; i < n; i += 4 * h) {
			for (uint32_t k = 0; k < h; k += 4) {
				const uint32_t a = i + k;
				v4sf r0 = v4_ld(re + a), i0 = v4_ld(im + a);
				v4sf r1 = v4_ld(re + a + h), i1 = v4_ld(im + a + h);
				v4sf r2 = v4_ld(re + a + 2 * h), i2 = v4_ld(im + a + 2 * h);
				v4sf r3 = v4_ld(re + a + 3 * h), i3 = v4_ld(im + a + 3 * h);
				cbfly(&r0, &i0, &r1, &i1, t->tw_re + h + k, t->tw_im + h + k);
				cbfly(&r2, &i2, &r3, &i3, t->tw_re + h + k, t->tw_im + h + k);
				cbfly(&r0, &i0, &r2, &i2, t->tw_re + 2 * h + k,
				      t->tw_im + 2 * h + k);
				cbfly(&r1, &i1, &r3, &i3, t->tw_re + 3 * h + k,
				      t->tw_im + 3 * h + k);
				v4_st(re + a, r0), v4_st(im + a, i0);
				v4_st(re + a + h, r1), v4_st(im + a + h, i1);
				v4_st(re + a + 2 * h, r2), v4_st(im + a + 2 * h, i2);
				v4_st(re + a + 3 * h, r3), v4_st(im + a + 3 * h, i3);
			}
		}
	}
	if (h < n) {
		for (uint32_t k = 0; k < h; k += 4) { /* h = n / 2: one group */
			v4sf r0 = v4_ld(re + k), i0 = v4_ld(im + k);
			v4sf r1 = v4_ld(re + k + h), i1 = v4_ld(im + k + h);
			cbfly(&r0, &i0, &r1, &i1, t->tw_re + h + k, t->tw_im + h + k);
			v4_st(re + k, r0), v4_st(im + k, i0);
			v4_st(re + k + h, r1), v4_st(im + k + h, i1);
		}
	}
}

/* Power spectrum of the windowed history over the band into POWER(sc); returns band power. */
static float band_power(const struct ivr_vad *v, const float *xw, struct vad_scratch *sc)
{
	const struct vad_tables *t = tab(v);
	const uint32_t half = v->nfft / 2;
	fft_half(v, xw, sc);
	float *pw = POWER(sc);
	/* The guard lanes the 3-tap smoothing reads past the band: 0 as in a zeroed buffer. */
	memset(sc->pwx, 0, 4 * sizeof(float));
	memset(pw + NBV, 0, 4 * sizeof(float));
	for (uint32_t i = 0; i < NVEC; i++) {
		/* Split: X[k] = E + W^k O with E = (Z[k] + Z*[M-k]) / 2, O = (Z[k] - Z*[M-k]) / 2j.
		 */
		const uint32_t b = 4 * i, km = half - (K_LO + b) - 3;
		const v4sf zr = v4_ld(sc->z_re + K_LO + b), zi = v4_ld(sc->z_im + K_LO + b);
		/* Z*[M - k] for the same 4 bins: M-k runs down, so load 4 and reverse. */
		const v4sf cr = __builtin_shufflevector(v4_ld(sc->z_re + km), v4_ld(sc->z_re + km),
							3, 2, 1, 0);
		const v4sf ci = -__builtin_shufflevector(v4_ld(sc->z_im + km), v4_ld(sc->z_im + km),
							 3, 2, 1, 0);
		const v4sf er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);
		const v4sf dr = 0.5f * (zr - cr), di = 0.5f * (zi - ci);
		const v4sf or_ = di, oi = -dr; /* (d) / j */
		const v4sf spr = v4_ld(t->sp_re + b), spi = v4_ld(t->sp_im + b);
		const v4sf xr = er + spr * or_ - spi * oi;
		const v4sf xi = ei + spr * oi + spi * or_;
		v4_st(pw + b, xr * xr + xi * xi + POWER_FLOOR);
	}
	/* The pad lane and the guards repeat the edge bins (MCRA's 3-tap smoothing). */
	pw[NB] = pw[NB - 1];
	pw[-1] = pw[0];
	return band_sum(pw);
}

/*
 * Martin's minimum statistics on the band total @tot of one block: the
 * minimum over the last 4 sub-windows of 0.6 s.  One window of 0.8 s
 * (MCRA's) is not enough: a fluent reader does not pause for that long, the
 * minimum rises to the speech and pulls lambda up with it.  Run on every
 * block, pre-gated ones included (with an estimate of @tot): a minimum
 * over fewer blocks would be biased up, and lambda with it.
 */
static void floor_track(struct ivr_vad *v, float tot)
{
	v->tot_s = FLOOR_ALPHA * v->tot_s + (1.0f - FLOOR_ALPHA) * tot;
	tot = v->tot_s;
	v->tot_tmp = IVR_MIN(v->tot_tmp, tot);
	v->tot_min = v->tot_tmp;
	for (uint32_t i = 0; i < FLOOR_SUBWIN; i++)
		v->tot_min = IVR_MIN(v->tot_min, v->tot_sub[i]);
	if (++v->floor_count >= FLOOR_L) {
		v->floor_count = 0;
		v->tot_sub[v->floor_idx] = v->tot_tmp;
		v->floor_idx = (v->floor_idx + 1) % FLOOR_SUBWIN;
		v->tot_tmp = tot;
	}
}

/*
 * MCRA noise update after the decision on this block, whose smoothing
 * stands for @step blocks (1, or more for a background block after
 * pre-gated ones: the constants are raised to that power) and which
 * advances the minimum windows by @count blocks.  @speech (the block's own raw decision or
 * hangover) freezes the averaging: MCRA's per-bin presence probability alone lets the quieter bins
 * of a vowel leak into lambda.  Frozen or not, lambda never stays below MIN_BIAS times the windowed
 * minimum, which is what lets it follow a rise of the noise level even while every block is judged
 * speech.
 */
static void mcra_update(struct ivr_vad *v, const float *pw, float tot, int speech, uint32_t step,
			uint32_t count)
{
	const v4sf as = v4_splat(v->a_s[step]), ap = v4_splat(v->a_p[step]);
	const v4sf one = v4_splat(1.0f), delta = v4_splat(MCRA_DELTA);
	v4sf lam_acc = v4_splat(0.0f), lam_last = lam_acc;
	for (uint32_t i = 0; i < NVEC; i++) {
		const uint32_t b = 4 * i;
		/* 3-tap frequency smoothing (Cohen: window b over neighbours). */
		const v4sf pb = v4_ld(pw + b);
		const v4sf sf = 0.25f * v4_ld(pw + b - 1) + 0.5f * pb + 0.25f * v4_ld(pw + b + 1);
		const v4sf s = as * v4_ld(v->s + b) + (one - as) * sf;
		v4_st(v->s + b, s);
		const v4sf smin = vmin(v4_ld(v->s_min + b), s);
		v4_st(v->s_min + b, smin);
		v4_st(v->s_tmp + b, vmin(v4_ld(v->s_tmp + b), s));
		const v4sf ind = (v4sf)((v4si)one & (s > delta * smin));
		const v4sf p = ap * v4_ld(v->p + b) + (one - ap) * ind;
		v4_st(v->p + b, p);
		v4sf lam = v4_ld(v->lambda + b);
		if (!speech) {
			const v4sf ad1 = MCRA_ALPHA_D + (1.0f - MCRA_ALPHA_D) * p;
			v4sf ad = ad1;
			for (uint32_t k = 1; k < step; k++)
				ad *= ad1;
			lam = ad * lam + (one - ad) * pb;
			v4_st(v->lambda + b, lam);
		}
		/* band_sum()'s order: the pad lane left out */
		if (i < NVEC - 1)
			lam_acc += lam;
		else
			lam_last = lam;
	}
	/* The same minimum search on the band total @tot drives the lambda floor. */
	const float lam = hsum(lam_acc) + (lam_last[0] + lam_last[1] + lam_last[2]);
	floor_track(v, tot);
	if (lam < MIN_BIAS * v->tot_min) {
		const v4sf up = v4_splat(MIN_BIAS * v->tot_min / lam);
		for (uint32_t i = 0; i < NVEC; i++)
			v4_st(v->lambda + 4 * i, v4_ld(v->lambda + 4 * i) * up);
	}
	v->mcra_count += count;
	if (v->mcra_count >= MCRA_L) {
		v->mcra_count = 0;
		for (uint32_t i = 0; i < NVEC; i++) {
			const v4sf s = v4_ld(v->s + 4 * i);
			v4_st(v->s_min + 4 * i, vmin(v4_ld(v->s_tmp + 4 * i), s));
			v4_st(v->s_tmp + 4 * i, s);
		}
	}
}

/*
 * Mean log-likelihood ratio of the band (Sohn), updating the decision-directed a2.
 * The sum of ln(1 + xi) over the band is taken as the log of a product: the
 * exponents of 1 + xi summed as integers, the mantissas ([1, 2), 29 per
 * lane: < 2^29) multiplied, and one vlog() per lane at the end instead of
 * one per bin.
 */
static float mean_llr(struct ivr_vad *v, const float *pw)
{
	const v4sf one = v4_splat(1.0f), gmax = v4_splat(GAMMA_MAX), ximin = v4_splat(XI_MIN);
	const v4si pad = { 0, 0, 0, -1 }; /* the pad lane of the last vector */
	v4sf acc = v4_splat(0.0f), mant = one;
	v4si expo = { 0, 0, 0, 0 };
	for (uint32_t i = 0; i < NVEC; i++) {
		const uint32_t b = 4 * i;
		const v4sf g = vmin(v4_ld(pw + b) / v4_ld(v->lambda + b), gmax);
		const v4sf xi = vmax(DD_ALPHA * v4_ld(v->a2 + b) +
					     (1.0f - DD_ALPHA) * vmax(g - one, v4_splat(0.0f)),
				     ximin);
		v4sf ox = one + xi;
		const v4sf gain = xi / ox;
		v4sf lr = g * gain;
		v4_st(v->a2 + b, gain * lr);
		if (i == NVEC - 1) {
			lr = (v4sf)(~pad & (v4si)lr);
			ox = v4_sel(pad, one, ox);
		}
		acc += lr;
		const v4si bits = (v4si)ox;
		expo += (bits >> 23) - 127; /* 1 + xi >= 1: positive, normal */
		mant *= (v4sf)((bits & 0x007fffff) | 0x3f800000);
	}
	v->a2_clear = 0;
	const v4sf logs = vlog(mant) + __builtin_convertvector(expo, v4sf) * 0.69314718f;
	return (hsum(acc) - hsum(logs)) / (float)NB;
}

/*
 * Windowed mean square of the history: >= the band level of the same window
 * (Parseval).  The windowed samples go to @xw, the FFT's input.
 */
static float window_level(const struct ivr_vad *v, float *xw)
{
	const float *w = tab(v)->window;
	const uint32_t hop = v->hop;
	const float *x0 = win_at(v, 0), *x1 = win_at(v, hop);
	v4sf acc = v4_splat(0.0f);
	for (uint32_t i = 0; i < hop; i += 4) {
		const v4sf y = v4_ld(x0 + i) * v4_ld(w + i);
		v4_st(xw + i, y);
		acc += y * y;
	}
	for (uint32_t i = 0; i < hop; i += 4) {
		const v4sf y = v4_ld(x1 + i) * v4_ld(w + hop + i);
		v4_st(xw + hop + i, y);
		acc += y * y;
	}
	return hsum(acc) * v->inv_w2;
}

/* Active speech level: mean power of the speech blocks, over ~SL_BLOCKS. */
static void learn_level(struct ivr_vad *v, float level)
{
	const float w =
		v->n_speech < SL_BLOCKS ? 1.0f / (float)(v->n_speech + 1) : 1.0f / SL_BLOCKS;
	v->speech_level += w * (level - v->speech_level);
	if (v->n_speech < SL_BLOCKS)
		v->n_speech++;
}

/* Analyse one 10 ms block; returns the raw decision and the mean LLR in *llr. */
static int block(struct ivr_vad *v, const float *restrict x, float *llr, float *level)
{
	const uint32_t hop = v->hop;
	v->hist_new ^= 1u; /* the older half takes the new block */
	float *h = v->hist + v->hist_new * hop;
	for (uint32_t i = 0; i < hop; i += 4) {
		/* NaN/Inf (exponent all ones) become 0 */
		const v4sf s = v4_ld(x + i);
		const v4si fin = ((v4si)s & 0x7f800000) != 0x7f800000;
		v4_st(h + i, (v4sf)((v4si)s & fin));
	}
	/*
	 * Pre-gate (see GATE_NOISE): under both the loudness gate below (so
	 * the decision would be "not speech" whatever the spectrum) and near
	 * the noise floor.  The margin of 1e-3 covers the rounding between
	 * the two ways of measuring the level.
	 */
	int gated = 0;
	_Alignas(16) float xw[WIN_MAX]; /* windowed history, scratch */
	const float wl = window_level(v, xw);
	v->gated_now = 0;
	if (v->pregate && v->n_blocks >= INIT_BLOCKS) {
		const float loud = IVR_MAX(v->min_level, v->speech_level * REL_GATE);
		/*
		 * Within GATE_NOISE of the floor both ways: a block far under the
		 * floor means the floor is too high, and lambda can only come down
		 * through the analysis of such blocks (ivr-load's caller signal,
		 * which dips to near silence 3 times a second: 74 of 1000 frames
		 * speech with the troughs gated against 667 with every block
		 * analysed, 667 with this bound).  Digital silence (GATE_SILENT) is
		 * gated all the same: it has no floor to teach, and a caller's muted
		 * pauses would otherwise cost the whole analysis (bench_dspchain
		 * chain_idle: 24397 instructions per frame against 16585).
		 */
		const float nl = v->noise_total * v->power_norm;
		gated = wl * 1.001f < loud && wl < GATE_NOISE * nl &&
			(GATE_NOISE * v->band_ratio * wl > nl || wl < GATE_SILENT);
		if (gated && v->skipped + 1 < GATE_DECIM) {
			v->skipped++;
			v->gated_now = 1;
			v->n_blocks++;
			/* A background block leaves a2 at about XI_MIN^2: negligible. */
			if (!v->a2_clear) {
				memset(v->a2, 0, sizeof(v->a2));
				v->a2_clear = 1;
			}
			/* The floor's minimum search sees every block (see floor_track). */
			floor_track(v, v->band_ratio * wl / v->power_norm);
			*llr = 0.0f;
			*level = wl;
			return 0;
		}
	}
	/* Hold (see HOLD_SPEECH): sustained speech or background at a steady level. */
	if (v->held < v->hold_max && v->skipped + 1 < GATE_DECIM && wl < HOLD_RATIO * v->last_wl &&
	    v->last_wl < HOLD_RATIO * wl) {
		v->held++;
		v->skipped++;
		v->gated_now = 1;
		v->n_blocks++;
		*llr = v->last_llr;
		*level = v->last_level * (wl / v->last_wl);
		if (v->last_raw)
			learn_level(v, *level);
		floor_track(v, *level / v->power_norm);
		return v->last_raw;
	}
	struct vad_scratch sc;
	const float total = band_power(v, xw, &sc);
	const float *pw = POWER(&sc);
	*level = total * v->power_norm;
	/* How much of a background block's windowed level is in the band: calibrates floor_track.
	 */
	if ((gated || v->n_blocks < INIT_BLOCKS) && wl > 0.0f)
		v->band_ratio += 0.1f * (IVR_MIN(*level / wl, 1.0f) - v->band_ratio);

	if (v->n_blocks == 0) {
		/* Start from the first block: a call starts with line noise, not speech. */
		for (uint32_t b = 0; b < NBV; b++) {
			v->lambda[b] = v->s[b] = v->s_min[b] = v->s_tmp[b] = pw[b];
			v->a2[b] = 1.0f;
		}
		v->tot_min = v->tot_tmp = v->tot_s = total;
		for (uint32_t i = 0; i < FLOOR_SUBWIN; i++)
			v->tot_sub[i] = total;
	}

	*llr = mean_llr(v, pw);
	/*
	 * Relative gate (the idea of P.56's activity threshold, which sits
	 * 15.9 dB under the active level): a block far below the talker's
	 * recent speech level is a breath, a tail or the background, not speech.
	 */
	const int loud_enough = *level > v->min_level && *level > v->speech_level * REL_GATE;
	const int raw = *llr > v->threshold && loud_enough;
	if (raw)
		learn_level(v, *level);
	/*
	 * The blocks skipped since the last update count for the minimum
	 * windows; the smoothing stands for them only if this block is
	 * background too: a block that ended a run of background may be the
	 * onset of speech, and weighting it as several blocks would pull
	 * lambda up into the speech.
	 */
	/*
	 * In speech lambda is frozen and MCRA only follows S and its minimum:
	 * every other analysed speech block leaves that to the next one, whose
	 * smoothing stands for it (MCRA_DECIM).
	 */
	const int sp = raw || v->hang_left;
	if (MCRA_DECIM && v->pregate && v->n_blocks >= INIT_BLOCKS && sp && v->mcra_sp &&
	    !v->mcra_owed && v->skipped + 1 < GATE_DECIM) {
		floor_track(v, total);
		v->skipped++;
		v->held = 0;
		v->mcra_owed = 1;
		goto decided;
	}
	const uint32_t steps = v->skipped + 1,
		       smooth = gated || ((v->held || v->mcra_owed) && raw == v->last_raw) ? steps
											   : 1;
	v->skipped = 0;
	v->held = 0;
	v->mcra_owed = 0;
	v->mcra_sp = (uint8_t)sp;
	if (v->n_blocks < INIT_BLOCKS) {
		/* Learning: lambda is the plain mean of the blocks so far. */
		const float w = 1.0f / (float)(v->n_blocks + 1);
		for (uint32_t b = 0; b < NBV; b++)
			v->lambda[b] += w * (pw[b] - v->lambda[b]);
		mcra_update(v, pw, total, 1, 1, 1);
	} else {
		mcra_update(v, pw, total, raw || v->hang_left, smooth, steps);
	}

	const v4sf fl = v4_splat(POWER_FLOOR);
	v4sf acc = v4_splat(0.0f);
	for (uint32_t i = 0; i < NVEC; i++) {
		const v4sf lam = vmax(v4_ld(v->lambda + 4 * i), fl);
		v4_st(v->lambda + 4 * i, lam);
		if (i < NVEC - 1)
			acc += lam;
		else
			v->noise_total = hsum(acc) + (lam[0] + lam[1] + lam[2]); /* as band_sum() */
	}
decided:
	v->n_blocks++;
	const float loud = IVR_MAX(v->min_level, v->speech_level * REL_GATE);
	v->hold_max = 0;
	if (v->pregate && v->n_blocks > INIT_BLOCKS) {
		if (raw && v->run_speech + 1 >= v->start_blocks &&
		    *llr >= HOLD_LLR * v->threshold && *level >= HOLD_LOUD * loud)
			v->hold_max = HOLD_SPEECH;
		else if (!raw && (*llr < HOLD_BG_LLR * v->threshold || *level * HOLD_LOUD < loud))
			v->hold_max = HOLD_BG;
	}
	v->last_raw = (uint8_t)raw;
	v->last_wl = wl;
	v->last_level = *level;
	v->last_llr = *llr;
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
	uint8_t n_gated = 0;
	for (size_t off = 0; off < n_samples; off += vad->hop) {
		float llr, level;
		const uint64_t idx = vad->n_blocks;
		const int raw = block(vad, pcm + off, &llr, &level);
		llr_max = fmaxf(llr_max, llr);
		level_sum += level;
		n_gated += vad->gated_now;
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
		res->n_gated = n_gated;
	}
	return speech;
}

void ivr_vad_prefetch(const struct ivr_vad *vad)
{
	/* Every line of the state but the history an 8 kHz detector does not use. */
	const char *q = (const char *)vad, *end = (const char *)(vad + 1);
	const char *unused = (const char *)(vad->hist + 2 * vad->hop);
	const char *unused_end = (const char *)(vad->hist + WIN_MAX);
	for (; q < end; q += 64)
		if (q < unused || q >= unused_end)
			__builtin_prefetch(q, 1, 3);
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
