/* SPDX-License-Identifier: MIT */
/*
 * dsp/faxtone.c - CNG / CED-ANS detection (see faxtone.h for the method).
 *
 * Per 5 ms block: the input times e^{-j w n} for both tones, summed, and
 * its power; then purity, level and phase step decide.  Both tones make a
 * whole number of cycles in 10 ms (1100 Hz: 11, 2100 Hz: 21), so
 * e^{-j w n} is a table of two blocks indexed by n modulo two blocks:
 * exact, no rotator to renormalise, and the block sums are dot products
 * the compiler turns into vector code (five of 40 samples per block, about
 * a sixth of the former per-sample rotators' cost).  The tables are
 * shared by all detectors, filled once (pthread_once) at the first init.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/vec4.h"
#include "dsp/faxtone.h"
#include "dsp/g711.h"

#define BLOCK_MS     5
#define PURITY	     0.6f /* share of block power in the tone */
#define MAX_BAD	     3	  /* bad blocks (15 ms) tolerated inside a tone: reversals, glitches */
#define MAX_BRIDGE   20	  /* concealed blocks (100 ms) a tone is held over at most */
#define REV_DEBOUNCE 20	  /* blocks (100 ms) between two counted reversals */
#define AM_HZ	     15.0
#define AM_DEPTH     0.1 /* ANSam is 20% */

enum { DET_CNG, DET_ANS, N_DET };

/* e^{-j w n} over two blocks (10 ms), per rate (0: 8 kHz, 1: 16 kHz) and tone. */
#define TAB_MAX 160
static float tab_re[2][N_DET][TAB_MAX], tab_im[2][N_DET][TAB_MAX];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;
static const float tone_hz[N_DET] = { 1100.0f, 2100.0f };

static void tab_fill(void)
{
	for (int r = 0; r < 2; r++)
		for (int d = 0; d < N_DET; d++)
			for (int n = 0; n < TAB_MAX; n++) {
				const double w = 2 * M_PI * tone_hz[d] / (r ? 16000.0 : 8000.0);
				tab_re[r][d][n] = (float)cos(w * n);
				tab_im[r][d][n] = (float)-sin(w * n); /* demodulate to 0 Hz */
			}
}

struct det {
	float f0, tol_hz;
	float acc_re, acc_im;
	bool in_run, reported;
	uint32_t bad_streak, reversals;
	uint64_t onset, last_good_end, prev_idx, last_rev_idx;
	float prev_re, prev_im;
	bool have_prev;
	double sum_dphi;
	uint32_t n_dphi;
	/* Goertzel at AM_HZ on |z| (block rate) */
	double g1, g2, mag_sum;
	uint32_t n_mag;
};

struct ivr_faxtone {
	uint32_t rate_hz, block;
	float p_min;	  /* block mean-square floor */
	uint64_t ans_min; /* samples */
	double am_coef;
	uint64_t pos; /* samples consumed */
	uint64_t block_idx;
	uint32_t fill;
	float sumsq;
	bool have_cng;
	uint64_t last_cng_onset; /* for the cadence flag */
	uint8_t tab;		 /* 0: 8 kHz tables, 1: 16 kHz */
	struct det det[N_DET];
	/* lost packets (ivr_faxtone_process_concealed()) */
	bool concealed;	   /* the audio being fed stands in for lost packets */
	bool conc_part;	   /* the block being filled holds concealed samples */
	uint32_t conc_run; /* concealed blocks in a row up to the last completed one */
};

size_t ivr_faxtone_size(const struct ivr_faxtone_cfg *cfg)
{
	uint32_t r = cfg && cfg->rate_hz ? cfg->rate_hz : 8000;
	return r == 8000 || r == 16000 ? sizeof(struct ivr_faxtone) : 0;
}

static void det_setup(struct det *d, float f0, float tol)
{
	memset(d, 0, sizeof(*d));
	d->f0 = f0;
	d->tol_hz = tol;
}

int ivr_faxtone_init(struct ivr_faxtone *ft, size_t size, const struct ivr_faxtone_cfg *cfg)
{
	if (!ft)
		return -EINVAL;
	size_t need = ivr_faxtone_size(cfg);
	if (!need)
		return -EINVAL;
	if (size < need)
		return -ENOSPC;
	float lvl = cfg && cfg->min_level_dbm0 != 0.0f ? cfg->min_level_dbm0 : -43.0f;
	if (!(lvl >= -70.0f && lvl <= 0.0f))
		return -EINVAL;
	uint32_t ans_ms = cfg && cfg->ans_min_ms ? cfg->ans_min_ms : 1000;
	if (ans_ms > 60000)
		return -EINVAL;
	memset(ft, 0, sizeof(*ft));
	ft->rate_hz = cfg && cfg->rate_hz ? cfg->rate_hz : 8000;
	ft->tab = ft->rate_hz == 16000;
	(void)pthread_once(&tab_once, tab_fill);
	ft->block = ft->rate_hz / 1000 * BLOCK_MS;
	float a0 = IVR_DBM0_RMS_S16 / 32768.0f;
	ft->p_min = a0 * a0 * powf(10.0f, lvl / 10.0f);
	ft->ans_min = (uint64_t)ft->rate_hz * ans_ms / 1000;
	ft->am_coef = 2 * cos(2 * M_PI * AM_HZ * BLOCK_MS / 1000.0);
	ivr_faxtone_reset(ft);
	return 0;
}

void ivr_faxtone_reset(struct ivr_faxtone *ft)
{
	if (!ft)
		return;
	ft->pos = 0;
	ft->block_idx = 0;
	ft->fill = 0;
	ft->sumsq = 0;
	ft->concealed = false;
	ft->conc_part = false;
	ft->conc_run = 0;
	ft->have_cng = false;
	ft->last_cng_onset = 0;
	det_setup(&ft->det[DET_CNG], tone_hz[DET_CNG], 38.0f);
	/* V.25 says +-15 Hz; 5 Hz more absorbs measurement error at low SNR. */
	det_setup(&ft->det[DET_ANS], tone_hz[DET_ANS], 20.0f);
}

static double det_freq(const struct ivr_faxtone *ft, const struct det *d)
{
	if (!d->n_dphi)
		return d->f0;
	return d->f0 + d->sum_dphi / d->n_dphi * ft->rate_hz / (2 * M_PI * ft->block);
}

static uint8_t det_flags(const struct ivr_faxtone *ft, const struct det *d)
{
	uint8_t f = 0;
	if (d->reversals > 0)
		f |= IVR_FAXTONE_F_REVERSALS;
	if (d->n_mag >= 40 && d->mag_sum > 0) {
		double pw = d->g1 * d->g1 + d->g2 * d->g2 - ft->am_coef * d->g1 * d->g2;
		double amp = 2 * sqrt(pw > 0 ? pw : 0) / d->n_mag;
		if (amp / (d->mag_sum / d->n_mag) > AM_DEPTH)
			f |= IVR_FAXTONE_F_AM;
	}
	return f;
}

static void push(struct ivr_faxtone_event *ev, size_t max_ev, size_t *n,
		 const struct ivr_faxtone_event *e)
{
	if (*n < max_ev)
		ev[*n] = *e;
	(*n)++;
}

static void end_run(struct ivr_faxtone *ft, int which, struct ivr_faxtone_event *ev, size_t max_ev,
		    size_t *n)
{
	struct det *d = &ft->det[which];
	uint64_t dur = d->last_good_end - d->onset;
	double f = det_freq(ft, d);
	struct ivr_faxtone_event e = {
		.freq_hz = (uint16_t)lrint(f),
		.onset_sample = d->onset,
		.duration_samples = (uint32_t)IVR_MIN(dur, (uint64_t)UINT32_MAX),
	};
	if (which == DET_CNG) {
		/* T.30: 0.5 s +-15%; a little more slack for the block grid. */
		if (dur >= ft->rate_hz * 2 / 5 && dur <= ft->rate_hz * 7 / 10 &&
		    fabs(f - d->f0) <= d->tol_hz) {
			e.type = IVR_FAXTONE_CNG;
			/* T.30: one burst every 3.5 s (0.5 on + 3 off), +-15% */
			uint64_t gap = d->onset - ft->last_cng_onset;
			if (ft->have_cng && gap >= (uint64_t)ft->rate_hz * 3 &&
			    gap <= (uint64_t)ft->rate_hz * 4)
				e.flags = IVR_FAXTONE_F_CADENCE;
			ft->have_cng = true;
			ft->last_cng_onset = d->onset;
			push(ev, max_ev, n, &e);
		}
	} else if (d->reported) {
		e.type = IVR_FAXTONE_ANS_END;
		e.flags = det_flags(ft, d);
		push(ev, max_ev, n, &e);
	}
	d->in_run = false;
}

static void det_block(struct ivr_faxtone *ft, int which, float p, struct ivr_faxtone_event *ev,
		      size_t max_ev, size_t *n)
{
	struct det *d = &ft->det[which];
	float inv = 1.0f / (float)ft->block;
	float zr = d->acc_re * inv, zi = d->acc_im * inv;
	d->acc_re = d->acc_im = 0;

	float mag2 = zr * zr + zi * zi;
	bool good = p >= ft->p_min && 2.0f * mag2 >= PURITY * p;
	uint64_t idx = ft->block_idx;
	uint64_t start = ft->pos - ft->block, end = ft->pos;
	if (good && !d->in_run) {
		d->in_run = true;
		d->reported = false;
		d->onset = start;
		d->bad_streak = 0;
		d->reversals = 0;
		d->have_prev = false;
		d->sum_dphi = 0;
		d->n_dphi = 0;
		d->g1 = d->g2 = d->mag_sum = 0;
		d->n_mag = 0;
		d->last_rev_idx = 0;
	}
	if (!d->in_run)
		return;
	/* |z| at the block rate, good blocks or not, for the AM measurement */
	double mag = sqrt(mag2);
	double g0 = mag + ft->am_coef * d->g1 - d->g2;
	d->g2 = d->g1;
	d->g1 = g0;
	d->mag_sum += mag;
	d->n_mag++;
	if (!good) {
		if (++d->bad_streak > MAX_BAD)
			end_run(ft, which, ev, max_ev, n);
		return;
	}
	d->bad_streak = 0;
	if (d->have_prev) {
		/* phase of z * conj(prev) */
		float cr = zr * d->prev_re + zi * d->prev_im;
		float ci = zi * d->prev_re - zr * d->prev_im;
		double dphi = atan2(ci, cr);
		/*
		 * CNG has no reversals: every step measures frequency (a 60 Hz
		 * offset steps 0.6 pi per block and must count as an offset).
		 */
		if (which == DET_ANS && fabs(dphi) > M_PI / 2) {
			if (d->reversals == 0 || idx - d->last_rev_idx >= REV_DEBOUNCE)
				d->reversals++;
			d->last_rev_idx = idx;
		} else if (idx - d->prev_idx == 1) {
			d->sum_dphi += dphi;
			d->n_dphi++;
		}
	}
	d->prev_re = zr;
	d->prev_im = zi;
	d->prev_idx = idx;
	d->have_prev = true;
	d->last_good_end = end;
	if (which == DET_ANS && !d->reported && end - d->onset >= ft->ans_min && d->n_dphi >= 20 &&
	    fabs(det_freq(ft, d) - d->f0) <= d->tol_hz) {
		struct ivr_faxtone_event e = {
			.type = IVR_FAXTONE_ANS,
			.flags = det_flags(ft, d),
			.freq_hz = (uint16_t)lrint(det_freq(ft, d)),
			.onset_sample = d->onset,
			.duration_samples = (uint32_t)(end - d->onset),
		};
		d->reported = true;
		push(ev, max_ev, n, &e);
	}
}

/*
 * A completed block that holds audio standing in for lost packets
 * (ivr_faxtone_process_concealed()) is no evidence either way: it never starts a run, and
 * inside one it neither ends nor extends it for up to MAX_BRIDGE blocks in a row (the G.711
 * concealment fades out within 60 ms: 4 faded or silent blocks ended a CED and started it
 * again, and split a CNG burst into two too short to count).  Past that it counts as a bad
 * block, so a tone that stopped during a long loss ends at its last real block.
 */
static void det_concealed(struct ivr_faxtone *ft, int which, struct ivr_faxtone_event *ev,
			  size_t max_ev, size_t *n)
{
	struct det *d = &ft->det[which];
	float inv = 1.0f / (float)ft->block;
	float zr = d->acc_re * inv, zi = d->acc_im * inv;
	d->acc_re = d->acc_im = 0;
	if (!d->in_run)
		return;
	const bool bridge = ft->conc_run <= MAX_BRIDGE;
	/* The AM filter runs at the block rate; over the bridge the mean |z| keeps its timing
	 * and adds no 15 Hz. */
	double mag = bridge ? d->mag_sum / d->n_mag : sqrt(zr * zr + zi * zi);
	double g0 = mag + ft->am_coef * d->g1 - d->g2;
	d->g2 = d->g1;
	d->g1 = g0;
	d->mag_sum += mag;
	d->n_mag++;
	/* the phase step across the gap is neither a frequency measurement nor a reversal */
	d->have_prev = false;
	if (!bridge && ++d->bad_streak > MAX_BAD)
		end_run(ft, which, ev, max_ev, n);
}

int ivr_faxtone_process_hint(struct ivr_faxtone *ft, const float *pcm, size_t n_samples,
			     uint32_t no_tone, struct ivr_faxtone_event *ev, size_t max_ev)
{
	if (!ft || (n_samples && !pcm) || (max_ev && !ev))
		return -EINVAL;
	if (ft->fill)
		no_tone = 0; /* the blocks of @pcm are not the hint's */
	size_t n = 0;
	struct det *c = &ft->det[DET_CNG], *a = &ft->det[DET_ANS];
	const float *cre = tab_re[ft->tab][DET_CNG], *cim = tab_im[ft->tab][DET_CNG];
	const float *are = tab_re[ft->tab][DET_ANS], *aim = tab_im[ft->tab][DET_ANS];
	size_t i = 0;
	while (i < n_samples) {
		const uint32_t t0 = (uint32_t)(ft->block_idx & 1) * ft->block;
		if (ft->fill == 0 && n_samples - i >= ft->block && (no_tone & 1) && !c->in_run &&
		    !a->in_run) {
			/* No tone can start in this block (the hint): nothing to demodulate. */
			ft->sumsq = 0;
			c->acc_re = c->acc_im = a->acc_re = a->acc_im = 0;
			i += ft->block;
			ft->fill = ft->block;
		} else if (ft->fill == 0 && n_samples - i >= ft->block) {
			/* A whole block (the usual case): five dot products, 4 lanes wide. */
			const v4sf zero = { 0, 0, 0, 0 };
			v4sf e = zero, sr = zero, si = zero, tr = zero, ti = zero;
			for (uint32_t k = 0; k < ft->block; k += 4) {
				v4sf x = v4_ld(pcm + i + k);
				/* NaN/Inf (exponent all ones) count as silence */
				const v4si fin = ((v4si)x & 0x7f800000) != 0x7f800000;
				x = (v4sf)((v4si)x & fin);
				e += x * x;
				sr += x * v4_ld(cre + t0 + k);
				si += x * v4_ld(cim + t0 + k);
				tr += x * v4_ld(are + t0 + k);
				ti += x * v4_ld(aim + t0 + k);
			}
			ft->sumsq = (e[0] + e[1]) + (e[2] + e[3]);
			c->acc_re = (sr[0] + sr[1]) + (sr[2] + sr[3]);
			c->acc_im = (si[0] + si[1]) + (si[2] + si[3]);
			a->acc_re = (tr[0] + tr[1]) + (tr[2] + tr[3]);
			a->acc_im = (ti[0] + ti[1]) + (ti[2] + ti[3]);
			i += ft->block;
			ft->fill = ft->block;
		} else {
			float x = pcm[i++];
			if (!isfinite(x))
				x = 0.0f;
			const uint32_t t = t0 + ft->fill;
			ft->sumsq += x * x;
			c->acc_re += x * cre[t];
			c->acc_im += x * cim[t];
			a->acc_re += x * are[t];
			a->acc_im += x * aim[t];
			ft->fill++;
		}
		if (ft->fill == ft->block) {
			no_tone >>= 1;
			ft->pos += ft->block;
			float p = ft->sumsq / (float)ft->block;
			if (IVR_LIKELY(!(ft->concealed | ft->conc_part))) {
				ft->conc_run = 0;
				det_block(ft, DET_CNG, p, ev, max_ev, &n);
				det_block(ft, DET_ANS, p, ev, max_ev, &n);
			} else {
				ft->conc_run++;
				det_concealed(ft, DET_CNG, ev, max_ev, &n);
				det_concealed(ft, DET_ANS, ev, max_ev, &n);
			}
			ft->block_idx++;
			ft->fill = 0;
			ft->sumsq = 0;
			ft->conc_part = false;
		}
	}
	/* a block partly concealed is concealed: it must not start a tone either */
	if (ft->concealed && ft->fill)
		ft->conc_part = true;
	return (int)IVR_MIN(n, max_ev);
}

int ivr_faxtone_process(struct ivr_faxtone *ft, const float *pcm, size_t n_samples,
			struct ivr_faxtone_event *ev, size_t max_ev)
{
	return ivr_faxtone_process_hint(ft, pcm, n_samples, 0, ev, max_ev);
}

int ivr_faxtone_process_concealed(struct ivr_faxtone *ft, const float *pcm, size_t n_samples,
				  uint32_t no_tone, struct ivr_faxtone_event *ev, size_t max_ev)
{
	if (!ft)
		return -EINVAL;
	ft->concealed = true;
	int r = ivr_faxtone_process_hint(ft, pcm, n_samples, no_tone, ev, max_ev);
	ft->concealed = false;
	return r;
}

struct ivr_faxtone *ivr_faxtone_new(const struct ivr_faxtone_cfg *cfg)
{
	size_t sz = ivr_faxtone_size(cfg);
	if (!sz) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_faxtone *ft = malloc(sz);
	if (!ft) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_faxtone_init(ft, sz, cfg);
	if (r < 0) {
		free(ft);
		errno = -r;
		return NULL;
	}
	return ft;
}

void ivr_faxtone_free(struct ivr_faxtone *ft)
{
	free(ft);
}
