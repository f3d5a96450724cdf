/* SPDX-License-Identifier: MIT */
/*
 * dsp/dtmf.c - DTMF detector (see dtmf.h for the contract).
 *
 * Design note
 * -----------
 * 1. Demodulation.  Samples are cut into sub-blocks of S = 5 ms (40 samples
 *    at 8 kHz, 80 at 16 kHz).  For each sub-block the kernel accumulates the
 *    complex DFT X_k at the 8 Q.23 frequencies (table of cos/-sin per sample
 *    position) and the energy sum(x^2).  Unlike a Goertzel recursion this has
 *    no per-sample dependency chain, so it vectorises (8 bins x re/im = two
 *    AVX registers, one FMA each per sample) and is the only per-sample work.
 *    Non-finite input shows up as a non-finite energy: the sub-block is then
 *    zeroed (silence).
 * 2. Candidate pair.  Every 5 ms, a 10 ms window (two sub-blocks, phase
 *    aligned with e^{-j w_k S}) picks the strongest row and column bins; a
 *    loose gate (each >= threshold - 6 dB, both >= 50% of window energy)
 *    decides whether to look closer.  10 ms separates neighbouring rows
 *    (73..89 Hz apart) by > 9 dB.
 * 3. Leakage removal.  At 5 ms resolution a row tone leaks up to -14 dB into
 *    the column bins and vice versa, which with 8 dB of twist would swamp
 *    amplitude and phase.  The two tones are therefore fitted jointly: the
 *    sub-block DFT of Re(c_l e^{jw_l n}) + Re(c_h e^{jw_h n}) is linear in
 *    (c_l, c_h) and their conjugates, so a precomputed 4x4 inverse per
 *    row/column pair turns (X_l, X_h) into the tones' complex amplitudes.
 * 4. Measurements over the tone.  From the fitted c(i) of consecutive
 *    sub-blocks: frequency offset = phase step (unambiguous +-100 Hz, so
 *    3.5% of 1633 Hz is still measured, not aliased); level = coherent,
 *    de-rotated mean amplitude; twist; share of the signal energy the two
 *    tones hold (talk-off, dial tone, noise); whether the two frequencies
 *    are harmonics of one sound (4:3, 3:2, 5:3, 2:1 within 0.4%: a voice or
 *    a note gliding through a row and a column); and per sub-block the
 *    fraction |c(i)| / |c_full| of it the tone occupies, which gives the
 *    onset and end to about a millisecond.
 * 5. Decisions (the Q.24 numbers are in the #defines below): a digit starts
 *    when the same pair has been continuously present for >= 30 ms
 *    (measured edge to edge, so 23 ms never passes and 40 ms always does,
 *    at any alignment) and frequency (+-2.0%: half way between Q.24's
 *    limits would be 2.5%; 2.0% removed the one talk-off found in 22 min
 *    of espeak-ng/flite speech, a 4th/5th harmonic pair of a 240 Hz voice
 *    at +2.2%/-0.4%), twist, level, energy share and the harmonic check
 *    pass over the fully occupied sub-blocks.  It ends after 25 ms without
 *    the pair, so a <= 10 ms dropout (<= 3 sub-blocks) is bridged and a
 *    40 ms pause (>= 7 empty sub-blocks) is not.
 * References: ITU-T Q.23, Q.24; Bellcore TR-TSY-000181 / Mitel CM7291 test
 * practice as in spandsp's dtmf_rx_tests.c; Goertzel/DFT detection as in
 * spandsp dtmf.c (here replaced by a vectorisable DFT and a two-tone fit).
 * State is a flat struct, no pointers, memcpy-able; the rate-only tables
 * (cos/-sin, fit matrices, rotations) are shared, built once per process.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/vec4.h"
#include "dsp/dtmf.h"
#include "dsp/dtmf_kernel.h"
#include "dsp/g711.h"

#define NB	     8	    /* bins: 4 rows then 4 columns */
#define SUB_MS	     5	    /* sub-block length */
#define MAX_SUB	     80	    /* sub-block samples at 16 kHz */
#define HIST	     16	    /* sub-blocks of history kept (80 ms) */
#define PEND	     16	    /* events waiting for the caller */
#define GATE_SHARE   0.5    /* window: both tones >= this share of its energy */
#define PRESENT_FRAC 0.5f   /* sub-block holds the tone if |c| >= this of full */
#define CORE_FRAC    0.8f   /* fully occupied sub-blocks (measurements) */
#define EDGE_FRAC    0.12f  /* a partial sub-block at a tone edge */
#define MIN_ON_MS    30	    /* 23 ms rejected, 40 ms accepted */
#define END_SUBS     5	    /* 25 ms without the pair ends the digit */
#define FREQ_TOL     0.020  /* accept 1.5%, reject 3.5%; tighter = less talk-off */
#define TWIST_MAX_DB 4.5    /* high minus low group: accept +4 dB */
#define TWIST_MIN_DB (-8.5) /* accept -8 dB */
#define TONE_SHARE   0.85   /* energy share of the two tones; -10 dB dial tone: 0.91 */
#define HARMONIC_TOL 0.004  /* tones in a harmonic ratio are one sound */
/*
 * Quiet sub-blocks: while no digit is on, a sub-block whose energy is 15 dB
 * under what one tone at the candidate gate would put in it cannot open a
 * window (|X_k|^2 <= length * energy) and adds at most 18% of the gate's
 * amplitude to the next window, whose own tone decides: its bins are taken
 * as 0 and the kernel (16 MACs per sample) is skipped.  Idle-line noise
 * (G.712: under -65 dBm0) and pauses are such blocks.  test_dtmf prints the
 * same lines with and without this.
 */
#define QUIET 0.0316f
/*
 * Low-frequency sub-blocks: while no digit is on, a sub-block whose energy
 * sits mostly under LOW_HZ cannot hold a digit either.  The ratio of the
 * first difference's energy to the energy, sum (x[n] - x[n-1])^2 / sum x^2,
 * is 2 (1 - cos w) for a sine at w and the energy-weighted mean of that for
 * a mix: at 8 kHz 0.29 for 697 Hz, 0.84 for 1209 Hz, so >= 0.36 for any
 * digit within the twist limits, and >= 0.18 when the pair holds half the
 * energy (the window gate's GATE_SHARE); a voice's 100-300 Hz fundamentals
 * and first harmonics give 0.01-0.1.  Under 2 (1 - cos(2 pi LOW_HZ / rate))
 * (0.098 at 8 kHz, 400 Hz) the pair would hold under ~28% of the sub-block:
 * such a sub-block is treated like a quiet one (bins 0, kernel skipped).
 * A digit over loud low speech is not lost by it: its sub-blocks fail the
 * energy share (TONE_SHARE) anyway.
 */
#define LOW_HZ	   400.0
#define MAX_BRIDGE 20 /* concealed sub-blocks (100 ms) a digit is held over at most */

static const double bin_hz[NB] = { 697, 770, 852, 941, 1209, 1336, 1477, 1633 };
static const char keypad[4][4] = {
	{ '1', '2', '3', 'A' },
	{ '4', '5', '6', 'B' },
	{ '7', '8', '9', 'C' },
	{ '*', '0', '#', 'D' },
};

struct cplx {
	float re, im;
};

struct ivr_dtmf_rx {
	uint32_t rate_hz;
	uint32_t sub_len; /* S, samples */
	uint32_t min_on;  /* samples */
	uint32_t force_c;
	float thr_power; /* per tone, mean square (full scale 1.0) */
	float gate_power;
	float quiet_energy; /* sub-block energy under which its DFT is taken as 0 */
	float low_ratio;    /* difference/energy ratio under which it is taken as 0 (LOW_HZ) */
	float x_prev;	    /* the last sample fed (the first difference across sub-blocks) */
	uint32_t zeroed;    /* bit i: sub-block n_sub - 1 - i was gated (bins 0) */
	bool gated;	    /* the sub-block being completed is */
	bool concealed;	    /* the audio being fed stands in for lost packets */
	uint32_t bridged;   /* concealed sub-blocks in a row the current digit was held over */

	/* current sub-block */
	float acc[IVR_DTMF_KERNEL_ACC];
	uint32_t pos;

	/* history ring of completed sub-blocks, index = sub-block number % HIST */
	float hx[HIST][16];
	float he[HIST];
	uint64_t n_sub; /* completed sub-blocks since init/reset */

	/* detector */
	int active;
	uint8_t cur_l, cur_h;
	char cur_digit;
	float ref_l, ref_h;    /* |c| of a fully occupied sub-block */
	uint64_t onset;	       /* samples */
	double last_end;       /* samples: end of the tone as last seen */
	uint64_t last_present; /* sub-block */
	uint32_t absent;       /* consecutive sub-blocks without the pair */
	uint64_t floor_sub;    /* a new tone may not start before this sub-block */

	struct ivr_dtmf_event pend[PEND];
	uint32_t pend_head, pend_count;
};

/*
 * Tables that depend on the rate alone, one set per rate shared by every
 * detector (6.2 KB that each call used to carry; with 1000+ calls the
 * per-call copies did not stay in cache).  Built once under tables_once,
 * read-only afterwards.
 */
struct dtmf_tables {
	float rot_re[NB], rot_im[NB];	     /* e^{-j w_k S} */
	float minv[16][4][4];		     /* two-tone fit per row*4+col pair */
	_Alignas(64) float tab[MAX_SUB][16]; /* cos(w_k n), -sin(w_k n) */
};

static struct dtmf_tables dtmf_tab[2]; /* [0] 8 kHz, [1] 16 kHz */
static int dtmf_tab_err;	       /* build_tables() failed (never for these rates) */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static inline const struct dtmf_tables *tabs(const struct ivr_dtmf_rx *rx)
{
	return &dtmf_tab[rx->rate_hz != 8000];
}

/*
 * The C kernel is written with GNU vector extensions (4 floats: SSE2 on
 * x86-64, NEON on arm64, scalar elsewhere) so that it is vectorised across
 * the 16 sums at every optimisation level: at -O3 GCC vectorised the plain
 * loop across samples instead (transposing shuffles, 6x slower).  Two
 * samples per step with separate sums keep the add latency off the
 * critical path.
 */
void ivr_dtmf_kernel_c(float *restrict acc, const float (*restrict tab)[16],
		       const float *restrict x, size_t n)
{
	v4sf a0 = v4_ld(acc), a1 = v4_ld(acc + 4), a2 = v4_ld(acc + 8), a3 = v4_ld(acc + 12);
	v4sf b0 = { 0 }, b1 = { 0 }, b2 = { 0 }, b3 = { 0 };
	float ea = 0.0f, eb = 0.0f;
	size_t i = 0;
	for (; i + 2 <= n; i += 2) {
		v4sf u = { x[i], x[i], x[i], x[i] };
		v4sf v = { x[i + 1], x[i + 1], x[i + 1], x[i + 1] };
		a0 += u * v4_ld(tab[i]);
		a1 += u * v4_ld(tab[i] + 4);
		a2 += u * v4_ld(tab[i] + 8);
		a3 += u * v4_ld(tab[i] + 12);
		b0 += v * v4_ld(tab[i + 1]);
		b1 += v * v4_ld(tab[i + 1] + 4);
		b2 += v * v4_ld(tab[i + 1] + 8);
		b3 += v * v4_ld(tab[i + 1] + 12);
		ea += x[i] * x[i];
		eb += x[i + 1] * x[i + 1];
	}
	if (i < n) {
		v4sf u = { x[i], x[i], x[i], x[i] };
		a0 += u * v4_ld(tab[i]);
		a1 += u * v4_ld(tab[i] + 4);
		a2 += u * v4_ld(tab[i] + 8);
		a3 += u * v4_ld(tab[i] + 12);
		ea += x[i] * x[i];
	}
	a0 += b0;
	a1 += b1;
	a2 += b2;
	a3 += b3;
	v4_st(acc, a0);
	v4_st(acc + 4, a1);
	v4_st(acc + 8, a2);
	v4_st(acc + 12, a3);
	acc[16] += ea + eb;
}

static int use_avx2(const struct ivr_dtmf_rx *rx)
{
#if IVR_HAVE_SIMD
	return !rx->force_c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	(void)rx;
	return 0;
#endif
}

static float dbm0_power(float dbm0)
{
	double rms = IVR_DBM0_RMS_S16 / 32768.0;
	return (float)(rms * rms * pow(10.0, dbm0 / 10.0));
}

static int cfg_resolve(const struct ivr_dtmf_cfg *cfg, uint32_t *rate, float *thr)
{
	*rate = cfg && cfg->rate_hz ? cfg->rate_hz : 8000;
	*thr = cfg && cfg->threshold_dbm0 != 0.0f ? cfg->threshold_dbm0
						  : IVR_DTMF_DEFAULT_THRESHOLD_DBM0;
	if (*rate != 8000 && *rate != 16000)
		return -EINVAL;
	if (!(*thr >= -60.0f && *thr <= -10.0f))
		return -EINVAL;
	return 0;
}

size_t ivr_dtmf_rx_size(const struct ivr_dtmf_cfg *cfg)
{
	uint32_t rate;
	float thr;
	if (cfg_resolve(cfg, &rate, &thr) < 0)
		return 0;
	return sizeof(struct ivr_dtmf_rx);
}

/* Gauss-Jordan inverse of a 4x4 matrix; @return 0 or -1 if singular. */
static int invert4(double m[4][4], double inv[4][4])
{
	double a[4][8];
	for (int r = 0; r < 4; r++)
		for (int c = 0; c < 8; c++)
			a[r][c] = c < 4 ? m[r][c] : (c - 4 == r);
	for (int c = 0; c < 4; c++) {
		int p = c;
		for (int r = c + 1; r < 4; r++)
			if (fabs(a[r][c]) > fabs(a[p][c]))
				p = r;
		if (fabs(a[p][c]) < 1e-9)
			return -1;
		for (int k = 0; k < 8; k++) {
			double t = a[c][k];
			a[c][k] = a[p][k];
			a[p][k] = t;
		}
		double d = a[c][c];
		for (int k = 0; k < 8; k++)
			a[c][k] /= d;
		for (int r = 0; r < 4; r++) {
			if (r == c)
				continue;
			double f = a[r][c];
			for (int k = 0; k < 8; k++)
				a[r][k] -= f * a[c][k];
		}
	}
	for (int r = 0; r < 4; r++)
		for (int c = 0; c < 4; c++)
			inv[r][c] = a[r][c + 4];
	return 0;
}

/* G(d) = sum_{n<S} e^{j d n} = e^{j d (S-1)/2} sin(d S/2) / sin(d/2) */
static void geo_sum(double d, uint32_t s, double *gr, double *gi)
{
	double sd = sin(d / 2);
	double mag = fabs(sd) < 1e-12 ? (double)s : sin(d * s / 2) / sd;
	*gr = mag * cos(d * (s - 1) / 2);
	*gi = mag * sin(d * (s - 1) / 2);
}

/* Add the contribution of (c/2) G (conj=0) or (conj(c)/2) G (conj=1) of unknown
 * pair (column 2u, 2u+1) to measurement pair (rows 2v, 2v+1). */
static void add_term(double m[4][4], int v, int u, double d, uint32_t s, int conj)
{
	double gr, gi;
	geo_sum(d, s, &gr, &gi);
	double sg = conj ? -1.0 : 1.0;
	m[2 * v][2 * u] += gr / 2;
	m[2 * v][2 * u + 1] += -sg * gi / 2;
	m[2 * v + 1][2 * u] += gi / 2;
	m[2 * v + 1][2 * u + 1] += sg * gr / 2;
}

/*
 * Two-tone fit: the inverse of the map from the complex amplitudes of tones
 * at @tl, @th (rad/sample) to their S-sample DFT at bins @bl, @bh.
 * Measurement 0 = X_l, 1 = X_h; unknown 0 = c_l, 1 = c_h.
 */
static int fit_matrix(double bl, double bh, double tl, double th, uint32_t s, float out[4][4])
{
	double m[4][4] = { { 0 } }, inv[4][4];
	add_term(m, 0, 0, tl - bl, s, 0);
	add_term(m, 0, 0, -tl - bl, s, 1);
	add_term(m, 0, 1, th - bl, s, 0);
	add_term(m, 0, 1, -th - bl, s, 1);
	add_term(m, 1, 1, th - bh, s, 0);
	add_term(m, 1, 1, -th - bh, s, 1);
	add_term(m, 1, 0, tl - bh, s, 0);
	add_term(m, 1, 0, -tl - bh, s, 1);
	if (invert4(m, inv) < 0)
		return -EINVAL;
	for (int r = 0; r < 4; r++)
		for (int c = 0; c < 4; c++)
			out[r][c] = (float)inv[r][c];
	return 0;
}

static int build_tables(struct dtmf_tables *t, uint32_t rate)
{
	const uint32_t s = rate / 1000 * SUB_MS;
	double w[NB];
	for (int k = 0; k < NB; k++) {
		w[k] = 2.0 * M_PI * bin_hz[k] / rate;
		t->rot_re[k] = (float)cos(w[k] * s);
		t->rot_im[k] = (float)-sin(w[k] * s);
	}
	for (uint32_t n = 0; n < MAX_SUB; n++) {
		for (int k = 0; k < NB; k++) {
			t->tab[n][k] = n < s ? (float)cos(w[k] * n) : 0.0f;
			t->tab[n][NB + k] = n < s ? (float)-sin(w[k] * n) : 0.0f;
		}
	}
	for (int l = 0; l < 4; l++)
		for (int h = 0; h < 4; h++)
			if (fit_matrix(w[l], w[4 + h], w[l], w[4 + h], s, t->minv[l * 4 + h]) < 0)
				return -EINVAL;
	return 0;
}

static void build_all_tables(void)
{
	dtmf_tab_err =
		build_tables(&dtmf_tab[0], 8000) < 0 || build_tables(&dtmf_tab[1], 16000) < 0;
}

int ivr_dtmf_rx_init(struct ivr_dtmf_rx *rx, size_t size, const struct ivr_dtmf_cfg *cfg)
{
	uint32_t rate;
	float thr;
	if (!rx || size < sizeof(*rx) || cfg_resolve(cfg, &rate, &thr) < 0)
		return -EINVAL;
	memset(rx, 0, sizeof(*rx));
	rx->rate_hz = rate;
	rx->sub_len = rate / 1000 * SUB_MS;
	rx->min_on = rate / 1000 * MIN_ON_MS;
	rx->thr_power = dbm0_power(thr);
	/* the 10 ms gate sees up to ~1 dB of offset loss and some leakage */
	rx->gate_power = rx->thr_power * 0.25f;
	rx->quiet_energy = rx->gate_power * (float)rx->sub_len * QUIET;
	rx->low_ratio = (float)(2.0 * (1.0 - cos(2.0 * M_PI * LOW_HZ / rate)));
	pthread_once(&tables_once, build_all_tables);
	if (dtmf_tab_err)
		return -EINVAL;
	return 0;
}

void ivr_dtmf_rx_reset(struct ivr_dtmf_rx *rx)
{
	memset(rx->acc, 0, sizeof(rx->acc));
	rx->pos = 0;
	rx->x_prev = 0.0f;
	rx->zeroed = 0;
	rx->gated = false;
	rx->concealed = false;
	rx->bridged = 0;
	memset(rx->hx, 0, sizeof(rx->hx));
	memset(rx->he, 0, sizeof(rx->he));
	rx->n_sub = 0;
	rx->active = 0;
	rx->absent = 0;
	rx->floor_sub = 0;
	rx->pend_head = rx->pend_count = 0;
}

uint32_t ivr_dtmf_rx_gated(const struct ivr_dtmf_rx *rx, unsigned n)
{
	if (!rx || n < 1 || n > 32)
		return 0;
	uint32_t m = 0;
	for (unsigned k = 0; k < n; k++)
		m |= ((rx->zeroed >> (n - 1 - k)) & 1u) << k;
	return m;
}

uint32_t ivr_dtmf_rx_rate(const struct ivr_dtmf_rx *rx)
{
	return rx->rate_hz;
}

void ivr_dtmf_rx_force_c(struct ivr_dtmf_rx *rx, int force_c)
{
	rx->force_c = force_c != 0;
}

static void push_event(struct ivr_dtmf_rx *rx, uint8_t type, char digit, uint64_t onset, double dur)
{
	if (rx->pend_count == PEND) {
		/* the caller has not collected 16 events: keep the newest */
		rx->pend_head = (rx->pend_head + 1) % PEND;
		rx->pend_count--;
	}
	struct ivr_dtmf_event *e = &rx->pend[(rx->pend_head + rx->pend_count) % PEND];
	e->type = type;
	e->digit = digit;
	e->onset_sample = onset;
	e->duration_samples = dur > 0 ? (uint32_t)IVR_MIN(dur + 0.5, 4294967295.0) : 0;
	rx->pend_count++;
}

static size_t drain(struct ivr_dtmf_rx *rx, struct ivr_dtmf_event *ev, size_t max_ev, size_t n)
{
	while (rx->pend_count && n < max_ev) {
		ev[n++] = rx->pend[rx->pend_head];
		rx->pend_head = (rx->pend_head + 1) % PEND;
		rx->pend_count--;
	}
	return n;
}

/* Two-tone fit of sub-block @i for pair (l, h): complex amplitudes (local phase). */
static void fit_with(const struct ivr_dtmf_rx *rx, uint64_t i, int l, int h, const float (*m)[4],
		     struct cplx *cl, struct cplx *ch)
{
	const float *x = rx->hx[i % HIST];
	float v[4] = { x[l], x[NB + l], x[4 + h], x[NB + 4 + h] };
	float u[4];
	for (int r = 0; r < 4; r++)
		u[r] = m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2] + m[r][3] * v[3];
	cl->re = u[0];
	cl->im = u[1];
	ch->re = u[2];
	ch->im = u[3];
}

/* Two-tone fit at the nominal frequencies of pair (l, h). */
static void fit(const struct ivr_dtmf_rx *rx, uint64_t i, int l, int h, struct cplx *cl,
		struct cplx *ch)
{
	fit_with(rx, i, l, h, (const float(*)[4])tabs(rx)->minv[l * 4 + h], cl, ch);
}

static float cabs2(struct cplx c)
{
	return c.re * c.re + c.im * c.im;
}

/*
 * Frequency offset @dw (rad/sample) and mean fitted magnitude @amp of one
 * tone (bin @k) over the @n sub-blocks of @c.  @return the number of fully
 * occupied sub-blocks, or -1 if too few to measure.
 */
/* |mean of c(i) e^{-j w S i}| over the fully occupied sub-blocks: the
 * amplitude of a tone at @w rad/sample whose phase c(i) advances by w S. */
static double coherent_amp(const struct ivr_dtmf_rx *rx, const struct cplx *c, const float *frac,
			   int n, double w)
{
	double zr = 0, zi = 0;
	double sr1 = cos(w * rx->sub_len), si1 = -sin(w * rx->sub_len);
	double cr = 1, ci = 0; /* e^{-j w S i} */
	int core = 0;
	for (int i = 0; i < n; i++) {
		if (frac[i] >= CORE_FRAC) {
			zr += c[i].re * cr - c[i].im * ci;
			zi += c[i].re * ci + c[i].im * cr;
			core++;
		}
		double t = cr * sr1 - ci * si1;
		ci = cr * si1 + ci * sr1;
		cr = t;
	}
	return core ? sqrt(zr * zr + zi * zi) / core : 0.0;
}

static int measure(const struct ivr_dtmf_rx *rx, int k, const struct cplx *c, const float *frac,
		   int n, double *dw, double *amp)
{
	const struct dtmf_tables *t = tabs(rx);
	double sr = 0, si = 0;
	int core = 0, pairs = 0;
	for (int i = 0; i < n; i++) {
		if (frac[i] < CORE_FRAC)
			continue;
		core++;
		if (i + 1 < n && frac[i + 1] >= CORE_FRAC) {
			pairs++;
			/* c(i+1) conj(c(i)) e^{-j w S} = |c|^2 e^{j dw S} */
			double pr = c[i + 1].re * c[i].re + c[i + 1].im * c[i].im;
			double pi = c[i + 1].im * c[i].re - c[i + 1].re * c[i].im;
			sr += pr * t->rot_re[k] - pi * t->rot_im[k];
			si += pr * t->rot_im[k] + pi * t->rot_re[k];
		}
	}
	if (core < 3 || pairs < 2)
		return -1;
	double step = atan2(si, sr); /* dw * S */
	*dw = step / rx->sub_len;
	*amp = coherent_amp(rx, c, frac, n, 2.0 * M_PI * bin_hz[k] / rx->rate_hz + *dw);
	return core;
}

static void fit_mag(const struct ivr_dtmf_rx *rx, uint64_t i, int l, int h, struct cplx *cl,
		    struct cplx *ch, float *ml, float *mh)
{
	fit(rx, i, l, h, cl, ch);
	*ml = sqrtf(cabs2(*cl));
	*mh = sqrtf(cabs2(*ch));
}

static float ref_mag(const float *m, int n)
{
	float v[4];
	int k = 0;
	for (int i = IVR_MAX(0, n - 4); i < n; i++)
		v[k++] = m[i];
	if (k < 4)
		return 0.0f;
	float lo = v[0], sum = 0;
	for (int i = 0; i < 4; i++) {
		sum += v[i];
		lo = IVR_MIN(lo, v[i]);
	}
	return (sum - lo) / 3.0f;
}

static int try_start(struct ivr_dtmf_rx *rx, uint64_t s, int l, int h)
{
	struct cplx cl[HIST], ch[HIST];
	float ml[HIST], mh[HIST], frac[HIST];
	uint64_t lo = s + 1 >= HIST ? s + 1 - HIST : 0;
	if (lo < rx->floor_sub)
		lo = rx->floor_sub;
	if (lo > s)
		return 0;
	int n = (int)(s - lo + 1);
	/* fits are computed lazily from the newest sub-block backwards: the
	 * run is usually short and the history is 16 sub-blocks */
	int done = IVR_MAX(0, n - 4);
	for (int i = done; i < n; i++)
		fit_mag(rx, lo + i, l, h, &cl[i], &ch[i], &ml[i], &mh[i]);
	/* full-tone magnitude: mean of the 3 largest of the last 4 sub-blocks
	 * (one may be a partial edge; the max alone is biased up by noise) */
	float ref_l = ref_mag(ml, n), ref_h = ref_mag(mh, n);
	if (!(ref_l > 0 && ref_h > 0))
		return 0;
	/* walk back over the contiguous run holding the pair */
	int a = n;
	while (a > 0) {
		if (a - 1 < done) {
			done = a - 1;
			fit_mag(rx, lo + done, l, h, &cl[done], &ch[done], &ml[done], &mh[done]);
		}
		float f = IVR_MIN(ml[a - 1] / ref_l, mh[a - 1] / ref_h);
		if (f < PRESENT_FRAC)
			break;
		frac[a - 1] = IVR_MIN(f, 1.0f);
		a--;
	}
	if (a == n)
		return 0;
	double S = rx->sub_len;
	double onset = (double)(lo + a) * S + (1.0 - frac[a]) * S;
	if (a > 0) {
		/* the tone may start late in the sub-block before the run */
		float f = IVR_MIN(ml[a - 1] / ref_l, mh[a - 1] / ref_h);
		if (f >= EDGE_FRAC && frac[a] >= CORE_FRAC)
			onset = (double)(lo + a) * S - f * S;
	}
	double end = (double)s * S + frac[n - 1] * S;
	if (end - onset < rx->min_on)
		return 0;

	double dwl, dwh, al, ah;
	int nr = n - a;
	if (measure(rx, l, cl + a, frac + a, nr, &dwl, &al) < 0 ||
	    measure(rx, 4 + h, ch + a, frac + a, nr, &dwh, &ah) < 0)
		return 0;

	double wl = 2.0 * M_PI * bin_hz[l] / rx->rate_hz;
	double wh = 2.0 * M_PI * bin_hz[4 + h] / rx->rate_hz;
	if (fabs(dwl / wl) > FREQ_TOL || fabs(dwh / wh) > FREQ_TOL)
		return 0;
	/* harmonics of one voice or note: reject exact 4:3, 3:2, 5:3 and 2:1
	 * ratios (true DTMF pairs are >= 3.6% away from them, >= 0.6% at
	 * +-1.5%; 5:4 is within reach of '*' at +-1.5% and cannot be used) */
	double ratio = (wh + dwh) / (wl + dwl);
	static const double harm[4] = { 4.0 / 3.0, 1.5, 5.0 / 3.0, 2.0 };
	for (int i = 0; i < 4; i++)
		if (fabs(ratio / harm[i] - 1.0) < HARMONIC_TOL)
			return 0;
	/* amplitude: refit at the measured frequencies, so neither the offset
	 * (up to 1 dB of sub-block loss) nor the other tone's leakage modelled
	 * at the wrong frequency (1 dB of twist at -8 dB) biases level and twist */
	float mtx[4][4];
	if (fit_matrix(wl, wh, wl + dwl, wh + dwh, rx->sub_len, mtx) < 0)
		return 0;
	struct cplx rl[HIST], rh[HIST];
	for (int i = a; i < n; i++)
		if (frac[i] >= CORE_FRAC)
			fit_with(rx, lo + i, l, h, (const float(*)[4])mtx, &rl[i], &rh[i]);
	double raw_l = al, raw_h = ah;
	al = coherent_amp(rx, rl + a, frac + a, nr, wl + dwl);
	ah = coherent_amp(rx, rh + a, frac + a, nr, wh + dwh);
	double pl = al * al / 2, ph = ah * ah / 2;
	if (pl < rx->thr_power || ph < rx->thr_power)
		return 0;
	double twist = 10.0 * log10(ph / pl);
	if (twist > TWIST_MAX_DB || twist < TWIST_MIN_DB)
		return 0;
	double e = 0;
	int core = 0;
	for (int i = a; i < n; i++) {
		if (frac[i] >= CORE_FRAC) {
			e += rx->he[(lo + i) % HIST];
			core++;
		}
	}
	if ((pl + ph) * core * S < TONE_SHARE * e)
		return 0;

	rx->active = 1;
	rx->cur_l = (uint8_t)l;
	rx->cur_h = (uint8_t)h;
	rx->cur_digit = keypad[l][h];
	/* the active state compares nominal-frequency fits with these */
	rx->ref_l = (float)raw_l;
	rx->ref_h = (float)raw_h;
	rx->onset = (uint64_t)(onset + 0.5);
	rx->last_end = end;
	rx->last_present = s;
	rx->absent = 0;
	rx->bridged = 0;
	push_event(rx, IVR_DTMF_EV_START, rx->cur_digit, rx->onset, end - (double)rx->onset);
	return 1;
}

/* One completed sub-block @s (its data is in the history ring). */
static void step(struct ivr_dtmf_rx *rx, uint64_t s)
{
	if (rx->active) {
		/* a stand-in for lost audio is no evidence either way
		 * (ivr_dtmf_rx_process_concealed) */
		if (!rx->concealed)
			rx->bridged = 0;
		else if (rx->bridged < MAX_BRIDGE) {
			rx->bridged++;
			return;
		}
		struct cplx cl, ch;
		fit(rx, s, rx->cur_l, rx->cur_h, &cl, &ch);
		float al2 = cabs2(cl), ah2 = cabs2(ch);
		float f = IVR_MIN(sqrtf(al2) / rx->ref_l, sqrtf(ah2) / rx->ref_h);
		float e = rx->he[s % HIST];
		/* the pair must still carry the sub-block, not speech over it */
		if (f >= PRESENT_FRAC && (al2 + ah2) / 2 * rx->sub_len >= 0.4f * e) {
			rx->absent = 0;
			rx->last_end = (double)s * rx->sub_len + IVR_MIN(f, 1.0f) * rx->sub_len;
			rx->last_present = s;
		} else if (++rx->absent == 1 && f >= EDGE_FRAC) {
			/* the tone ends early in this sub-block */
			rx->last_end = (double)s * rx->sub_len + f * rx->sub_len;
		} else if (rx->absent >= END_SUBS) {
			push_event(rx, IVR_DTMF_EV_END, rx->cur_digit, rx->onset,
				   rx->last_end - (double)rx->onset);
			rx->active = 0;
			rx->floor_sub = rx->last_present + 1;
		}
		return;
	}
	/* both sub-blocks of the window gated: all its bins are 0, under any gate */
	if (s < 1 || s - 1 < rx->floor_sub || (rx->zeroed & 3) == 3)
		return;
	/* 10 ms window (s-1, s): strongest row and column */
	const struct dtmf_tables *t = tabs(rx);
	const float *x0 = rx->hx[(s - 1) % HIST], *x1 = rx->hx[s % HIST];
	float p[NB];
	for (int k = 0; k < NB; k++) {
		float yr = x0[k] + x1[k] * t->rot_re[k] - x1[NB + k] * t->rot_im[k];
		float yi = x0[NB + k] + x1[k] * t->rot_im[k] + x1[NB + k] * t->rot_re[k];
		p[k] = yr * yr + yi * yi;
	}
	int l = 0, h = 4;
	for (int k = 1; k < 4; k++) {
		if (p[k] > p[l])
			l = k;
		if (p[4 + k] > p[h])
			h = 4 + k;
	}
	float len = 2.0f * rx->sub_len;
	float norm = 2.0f / (len * len); /* |Y|^2 -> mean square of the tone */
	float pl = p[l] * norm, ph = p[h] * norm;
	float ew = (rx->he[(s - 1) % HIST] + rx->he[s % HIST]) / len;
	if (pl < rx->gate_power || ph < rx->gate_power || pl + ph < GATE_SHARE * ew)
		return;
	try_start(rx, s, l, h - 4);
}

static void end_subblock(struct ivr_dtmf_rx *rx)
{
	uint64_t s = rx->n_sub;
	float *hx = rx->hx[s % HIST];
	if (isfinite(rx->acc[16])) {
		memcpy(hx, rx->acc, 16 * sizeof(float));
		rx->he[s % HIST] = rx->acc[16];
	} else {
		/* NaN/Inf in the input: this sub-block is treated as silence */
		memset(hx, 0, 16 * sizeof(float));
		rx->he[s % HIST] = 0.0f;
	}
	memset(rx->acc, 0, sizeof(rx->acc));
	rx->pos = 0;
	rx->n_sub++;
	rx->zeroed = rx->zeroed << 1 | rx->gated;
	rx->gated = false;
	step(rx, s);
}

int ivr_dtmf_rx_process(struct ivr_dtmf_rx *rx, const float *pcm, size_t n_samples,
			struct ivr_dtmf_event *ev, size_t max_ev)
{
	if (!rx || (!pcm && n_samples) || (!ev && max_ev))
		return -EINVAL;
	size_t n_ev = drain(rx, ev, max_ev, 0);
	int simd = use_avx2(rx);
	while (n_samples) {
		if (!rx->active && rx->pos == 0 && n_samples >= rx->sub_len) {
			/* the quiet gate, then (rarely needed on silence) the low-frequency one */
			v4sf e4 = { 0 };
			for (uint32_t i = 0; i + 4 <= rx->sub_len; i += 4) {
				const v4sf x = v4_ld(pcm + i);
				e4 += x * x;
			}
			const float e = (e4[0] + e4[1]) + (e4[2] + e4[3]);
			bool skip = e < rx->quiet_energy;
			if (!skip && e == e) {
				v4sf d4 = { 0 };
				uint32_t i = 0;
				for (; i + 5 <= rx->sub_len; i += 4) {
					const v4sf dx = v4_ld(pcm + i + 1) - v4_ld(pcm + i);
					d4 += dx * dx;
				}
				float d = (pcm[0] - rx->x_prev) * (pcm[0] - rx->x_prev);
				for (i++; i < rx->sub_len; i++)
					d += (pcm[i] - pcm[i - 1]) * (pcm[i] - pcm[i - 1]);
				d += (d4[0] + d4[1]) + (d4[2] + d4[3]);
				skip = d < rx->low_ratio * e;
			}
			/* false for NaN/Inf: the kernel path handles those */
			if (skip) {
				rx->acc[16] = e;
				rx->gated = true;
				rx->x_prev = pcm[rx->sub_len - 1];
				pcm += rx->sub_len;
				n_samples -= rx->sub_len;
				end_subblock(rx);
				n_ev = drain(rx, ev, max_ev, n_ev);
				continue;
			}
		}
		size_t take = IVR_MIN(n_samples, (size_t)(rx->sub_len - rx->pos));
#if IVR_HAVE_SIMD
		if (simd)
			ivr_dtmf_kernel_avx2(rx->acc, &tabs(rx)->tab[rx->pos], pcm, take);
		else
#endif
			ivr_dtmf_kernel_c(rx->acc, &tabs(rx)->tab[rx->pos], pcm, take);
		(void)simd;
		rx->x_prev = pcm[take - 1];
		rx->pos += (uint32_t)take;
		pcm += take;
		n_samples -= take;
		if (rx->pos == rx->sub_len) {
			end_subblock(rx);
			n_ev = drain(rx, ev, max_ev, n_ev);
		}
	}
	return (int)n_ev;
}

int ivr_dtmf_rx_process_concealed(struct ivr_dtmf_rx *rx, const float *pcm, size_t n_samples,
				  struct ivr_dtmf_event *ev, size_t max_ev)
{
	if (!rx)
		return -EINVAL;
	/* a sub-block begun with real audio is judged as usual */
	rx->concealed = rx->pos == 0;
	int r = ivr_dtmf_rx_process(rx, pcm, n_samples, ev, max_ev);
	rx->concealed = false;
	return r;
}

struct ivr_dtmf_rx *ivr_dtmf_rx_new(const struct ivr_dtmf_cfg *cfg)
{
	size_t size = ivr_dtmf_rx_size(cfg);
	if (!size) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_dtmf_rx *rx = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(size, IVR_ALIGN));
	if (!rx) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_dtmf_rx_init(rx, size, cfg);
	if (r < 0) {
		free(rx);
		errno = -r;
		return NULL;
	}
	return rx;
}

void ivr_dtmf_rx_free(struct ivr_dtmf_rx *rx)
{
	free(rx);
}
