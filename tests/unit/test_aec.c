/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_aec.c - echo canceller on the ITU-T G.168 Annex D echo
 * paths with real speech.
 *
 * Echo paths: the published impulse responses of G.168 models D.2-D.9, as
 * shipped by Debian's libspandsp-dev (<spandsp/g168models.h>, the G.168
 * coefficient tables and their scale factors), behind a pure delay of
 * 5-75 ms so that delay + dispersion stays inside the 128 ms tail, scaled
 * to an echo return loss of 6, 8, 10 or 12 dB (measured on the far speech).
 * The test skips (77) when that header is not installed.
 * Signals at 8 kHz: far = recorded speech (pocketsphinx-testdata), sent as
 * G.711 mu-law, which is exactly what the engine transmits and what the
 * canceller gets as reference; near = mu-law(echo + caller + idle noise
 * at -70 dBFS).  12 s per path: far only 0-6 s, double talk from 6 s (a
 * different recorded talker, about 3 s), far only again after.
 * Asserted per path: ERLE >= 20 dB over 1.5-2 s, >= 30 dB over 4-6 s;
 * after double talk (9.5-12 s) >= the 4-6 s figure - 10 dB; of the frames
 * the same VAD flags on the caller's line without echo, >= 95% still flagged
 * on the output, caller level on the output within +-3 dB; the VAD on the
 * output flags <= 5% of the far-only frames, from the first frame on.  The
 * VAD is in its barge-in setting: nothing under -55 dBFS, and a talker at
 * -26 dBFS assumed until the caller has spoken (its relative gate then
 * ignores residual echo 16 dB under that).
 * Also a 16 kHz path, a 300 ms round trip taken up by the bulk-delay FIFO
 * (with a negative control without it), 10 ms frames, reset and bad input.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp/aec.h"
#include "dsp/vad.h"
#include "ivr_speech.h"
#include "ivr_test.h"

#if defined(__has_include)
#if __has_include(<spandsp/g168models.h>)
#include <spandsp/g168models.h>
#define HAVE_G168 1
#endif
#endif

#define SECONDS	    12.0
#define FAR_DBFS    -20.0
#define CALLER_DBFS -26.0
#define NOISE_DBFS  -70.0
#define DT_START    6.0
/* Barge-in VAD: nothing quieter than -55 dBFS (~-53 dBm0, 29 dB below the caller) is speech. */
#define BARGE_IN_MIN_DBFS -55.0f
/* ... and before the caller has said anything, assume a talker at -26 dBFS (~-24 dBm0). */
#define BARGE_IN_PRIOR_DBFS -26.0f

struct signals {
	uint32_t rate_hz;
	size_t n;
	float *far;			     /* what the engine sent (decoded mu-law at 8 kHz) */
	float *caller;			     /* caller alone, zero outside double talk */
	uint8_t *far_active, *caller_active; /* per 20 ms frame */
	size_t n_frames;
	double dt_start, dt_end; /* double talk, seconds */
};

static struct signals sig8, sig16;
static int have_sig = 0;

static uint8_t *frame_activity(const float *x, size_t n, uint32_t rate_hz, size_t n_frames)
{
	uint8_t *act = malloc(n), *fr = calloc(n_frames, 1);
	ivr_speech_p56(x, n, rate_hz, act);
	const size_t fl = rate_hz / 50;
	for (size_t f = 0; f < n_frames; f++) {
		size_t c = 0;
		for (size_t i = 0; i < fl; i++)
			c += act[f * fl + i];
		fr[f] = c * 2 > fl;
	}
	free(act);
	return fr;
}

static int make_signals(struct signals *s, uint32_t rate_hz)
{
	struct ivr_speech_corpus c;
	if (ivr_speech_load(&c, rate_hz, 0.0, "/tmp", 0) < 10)
		return -1;
	s->rate_hz = rate_hz;
	s->n = (size_t)(SECONDS * rate_hz);
	s->n -= s->n % (rate_hz / 50);
	s->n_frames = s->n / (rate_hz / 50);
	s->far = calloc(s->n, sizeof(float));
	s->caller = calloc(s->n, sizeof(float));
	/* Far: the five librivox readings (indices 5-9) back to back, 150 ms apart. */
	size_t pos = 0;
	for (int i = 5; i < 10 && pos < s->n; i++) {
		size_t k = IVR_MIN(c.utt[i].n_samples, s->n - pos);
		memcpy(s->far + pos, c.utt[i].samples, k * sizeof(float));
		pos += k + rate_hz * 150 / 1000;
	}
	ivr_speech_set_level(s->far, s->n, rate_hz, FAR_DBFS);
	if (rate_hz == 8000)
		ivr_speech_ulaw(s->far, s->n); /* the engine sends G.711 */
	/* Caller: another talker (cards/005.wav, "numbers"), up to 3.2 s from DT_START. */
	const size_t c0 = (size_t)(DT_START * rate_hz);
	size_t ck = IVR_MIN(c.utt[4].n_samples, (size_t)(3.2 * rate_hz));
	memcpy(s->caller + c0, c.utt[4].samples, ck * sizeof(float));
	ivr_speech_set_level(s->caller + c0, ck, rate_hz, CALLER_DBFS);
	s->dt_start = DT_START;
	s->dt_end = DT_START + (double)ck / rate_hz;
	s->far_active = frame_activity(s->far, s->n, rate_hz, s->n_frames);
	s->caller_active = frame_activity(s->caller, s->n, rate_hz, s->n_frames);
	ivr_speech_free(&c);
	return 0;
}

static int load(void)
{
	if (!have_sig) {
		have_sig = -1;
		if (make_signals(&sig8, 8000) == 0 && make_signals(&sig16, 16000) == 0)
			have_sig = 1;
		else
			printf("  pocketsphinx-testdata not installed\n");
	}
	return have_sig > 0;
}

struct path {
	float h[4096];
	size_t len;
};

/* G.168 model @m (2..9) at 8 kHz behind @delay_ms, scaled for @erl_db on @far. */
static int g168_path(struct path *p, int m, double delay_ms, uint32_t rate_hz)
{
#ifdef HAVE_G168
	static const int32_t *const coeffs[] = { line_model_d2_coeffs, line_model_d3_coeffs,
						 line_model_d4_coeffs, line_model_d5_coeffs,
						 line_model_d6_coeffs, line_model_d7_coeffs,
						 line_model_d8_coeffs, line_model_d9_coeffs };
	static const size_t lens[] = {
		IVR_N_ELEMENTS(line_model_d2_coeffs), IVR_N_ELEMENTS(line_model_d3_coeffs),
		IVR_N_ELEMENTS(line_model_d4_coeffs), IVR_N_ELEMENTS(line_model_d5_coeffs),
		IVR_N_ELEMENTS(line_model_d6_coeffs), IVR_N_ELEMENTS(line_model_d7_coeffs),
		IVR_N_ELEMENTS(line_model_d8_coeffs), IVR_N_ELEMENTS(line_model_d9_coeffs),
	};
	static const float gains[] = { LINE_MODEL_D2_GAIN, LINE_MODEL_D3_GAIN, LINE_MODEL_D4_GAIN,
				       LINE_MODEL_D5_GAIN, LINE_MODEL_D6_GAIN, LINE_MODEL_D7_GAIN,
				       LINE_MODEL_D8_GAIN, LINE_MODEL_D9_GAIN };
	const int i = m - 2;
	float h8[256];
	for (size_t k = 0; k < lens[i]; k++)
		h8[k] = (float)coeffs[i][k] * gains[i];
	memset(p, 0, sizeof(*p));
	const size_t d = (size_t)(delay_ms * rate_hz / 1000);
	if (rate_hz == 8000) {
		memcpy(p->h + d, h8, lens[i] * sizeof(float));
		p->len = d + lens[i];
	} else {
		/* The 8 kHz response as a 16 kHz filter: band-limited interpolation. */
		float *h16;
		size_t n16;
		if (ivr_resample_buffer(h8, lens[i], 8000, &h16, &n16, 16000) < 0)
			return -1;
		n16 = IVR_MIN(n16, IVR_N_ELEMENTS(p->h) - d);
		memcpy(p->h + d, h16, n16 * sizeof(float));
		free(h16);
		p->len = d + n16;
	}
	return 0;
#else
	(void)p;
	(void)m;
	(void)delay_ms;
	(void)rate_hz;
	return -1;
#endif
}

static void convolve(float *y, const float *x, size_t n, const struct path *p)
{
	for (size_t i = 0; i < n; i++) {
		double acc = 0;
		const size_t kmax = IVR_MIN(p->len, i + 1);
		for (size_t k = 0; k < kmax; k++)
			acc += (double)p->h[k] * x[i - k];
		y[i] = (float)acc;
	}
}

struct result {
	double erle_2s, erle_steady, erle_after;
	double caller_detect, caller_level_db;
	double prompt_fa; /* share of the far-only frames the VAD flags */
	double erl_db;
};

/* ERLE over far-active frames in [t0, t1): echo power over output power. */
static double erle(const struct signals *s, const float *echo, const float *out, double t0,
		   double t1)
{
	const size_t fl = s->rate_hz / 50;
	double pe = 0, po = 0;
	for (size_t f = (size_t)(t0 * 50); f < (size_t)(t1 * 50) && f < s->n_frames; f++) {
		if (!s->far_active[f])
			continue;
		pe += ivr_speech_ms(echo + f * fl, fl);
		po += ivr_speech_ms(out + f * fl, fl);
	}
	return 10 * log10((pe + 1e-20) / (po + 1e-20));
}

static struct result run_path(const struct signals *s, const struct path *p, double erl_db,
			      const struct ivr_aec_cfg *cfg_in)
{
	struct result r = { 0 };
	const size_t n = s->n;
	float *echo = malloc(n * sizeof(float)), *near = malloc(n * sizeof(float));
	float *out = malloc(n * sizeof(float));
	convolve(echo, s->far, n, p);
	const double g =
		sqrt(ivr_speech_ms(s->far, n) / ivr_speech_ms(echo, n) / pow(10.0, erl_db / 10.0));
	for (size_t i = 0; i < n; i++)
		echo[i] *= (float)g;
	r.erl_db = 10 * log10(ivr_speech_ms(s->far, n) / ivr_speech_ms(echo, n));
	uint64_t seed = 12345;
	const double nz = pow(10.0, NOISE_DBFS / 20.0);
	for (size_t i = 0; i < n; i++)
		near[i] = echo[i] + s->caller[i] + (float)(nz * ivr_speech_gauss(&seed));
	if (s->rate_hz == 8000)
		ivr_speech_ulaw(near, n);

	/*
	 * Reference for "caller speech survives": the frames the same VAD
	 * flags on the caller's line without any echo (caller + idle noise,
	 * same codec).  What the canceller must not lose is what the VAD
	 * would have heard without it.
	 */
	float *alone = malloc(n * sizeof(float));
	uint8_t *caller_sp = calloc(s->n_frames, 1);
	seed = 12345;
	for (size_t i = 0; i < n; i++)
		alone[i] = s->caller[i] + (float)(nz * ivr_speech_gauss(&seed));
	if (s->rate_hz == 8000)
		ivr_speech_ulaw(alone, n);
	struct ivr_vad *vad0 =
		ivr_vad_new(&(struct ivr_vad_cfg){ .rate_hz = s->rate_hz,
						   .min_level_dbfs = BARGE_IN_MIN_DBFS,
						   .prior_level_dbfs = BARGE_IN_PRIOR_DBFS });
	for (size_t f = 0; f < s->n_frames; f++) {
		const double t = f / 50.0;
		caller_sp[f] = ivr_vad_process(vad0, alone + f * (s->rate_hz / 50), s->rate_hz / 50,
					       NULL) > 0 &&
			       t >= s->dt_start && t < s->dt_end + 0.3;
	}
	ivr_vad_free(vad0);
	free(alone);

	struct ivr_aec_cfg cfg = { .rate_hz = s->rate_hz };
	if (cfg_in)
		cfg = *cfg_in;
	struct ivr_aec *aec = ivr_aec_new(&cfg);
	struct ivr_vad *vad =
		ivr_vad_new(&(struct ivr_vad_cfg){ .rate_hz = s->rate_hz,
						   .min_level_dbfs = BARGE_IN_MIN_DBFS,
						   .prior_level_dbfs = BARGE_IN_PRIOR_DBFS });
	const size_t fl = s->rate_hz / 50;
	size_t cf = 0, cd = 0, pf = 0, pd = 0;
	double pc = 0, po = 0;
	for (size_t f = 0; f < s->n_frames; f++) {
		if (ivr_aec_process(aec, near + f * fl, s->far + f * fl, out + f * fl, fl) < 0)
			abort();
		const int sp = ivr_vad_process(vad, out + f * fl, fl, NULL) > 0;
		const double t = f / 50.0;
		if (caller_sp[f]) {
			cf++;
			cd += sp;
			pc += ivr_speech_ms(s->caller + f * fl, fl);
			po += ivr_speech_ms(out + f * fl, fl);
		} else if (!s->caller_active[f] && (t < s->dt_start || t >= s->dt_end + 0.3)) {
			pf++;
			pd += sp;
		}
	}
	r.erle_2s = erle(s, echo, out, 1.5, 2.0);
	r.erle_steady = erle(s, echo, out, 4.0, DT_START);
	r.erle_after = erle(s, echo, out, s->dt_end + 0.3, SECONDS);
	r.caller_detect = cf ? (double)cd / cf : 0;
	r.caller_level_db = 10 * log10((po + 1e-20) / (pc + 1e-20));
	r.prompt_fa = pf ? (double)pd / pf : 1;
	free(caller_sp);
	ivr_vad_free(vad);
	ivr_aec_free(aec);
	free(echo);
	free(near);
	free(out);
	return r;
}

static void check_result_steady(const char *name, const struct result *r, double steady_min)
{
	printf("  %-22s ERL %4.1f dB  ERLE 2s %5.1f  steady %5.1f  after DT %5.1f dB  "
	       "caller det %5.1f%% level %+5.2f dB  prompt FA %4.1f%%\n",
	       name, r->erl_db, r->erle_2s, r->erle_steady, r->erle_after, 100 * r->caller_detect,
	       r->caller_level_db, 100 * r->prompt_fa);
	ivr_check_msg(r->erle_2s >= 20.0, "%s ERLE at 2 s %.1f dB", name, r->erle_2s);
	ivr_check_msg(r->erle_steady >= steady_min, "%s steady ERLE %.1f dB", name, r->erle_steady);
	ivr_check_msg(r->erle_after >= r->erle_steady - 10.0, "%s ERLE after DT %.1f dB", name,
		      r->erle_after);
	ivr_check_msg(r->caller_detect >= 0.95, "%s caller detection %.3f", name, r->caller_detect);
	ivr_check_msg(fabs(r->caller_level_db) <= 3.0, "%s caller level %+.2f dB", name,
		      r->caller_level_db);
	ivr_check_msg(r->prompt_fa <= 0.05, "%s prompt-only VAD flags %.3f", name, r->prompt_fa);
}

/* The eight Annex D paths D.2-D.9: delays 5-75 ms, echo return losses 6-12 dB. */
static double path_delay_ms(int m)
{
	return 5.0 + 10.0 * (m - 2);
}

static double path_erl_db(int m)
{
	return 6.0 + 2.0 * ((m - 2) % 4);
}

/* The signals, and in @p model D.@m behind @delay_ms at @rate_hz.
 * @return 0, or -1 when the test must skip (no speech or no G.168 models). */
static int load_path(struct path *p, int m, double delay_ms, uint32_t rate_hz)
{
	return load() && g168_path(p, m, delay_ms, rate_hz) == 0 ? 0 : -1;
}

static void check_result(const char *name, const struct result *r)
{
	check_result_steady(name, r, 30.0);
}

IVR_TEST(g168_paths_8k)
{
	if (!load())
		return IVR_TEST_SKIP;
	struct path p;
	if (g168_path(&p, 2, 5, 8000) < 0) {
		printf("  <spandsp/g168models.h> not installed\n");
		return IVR_TEST_SKIP;
	}
	for (int m = 2; m <= 9; m++) {
		const double delay_ms = path_delay_ms(m), erl = path_erl_db(m);
		ivr_check(g168_path(&p, m, delay_ms, 8000) == 0);
		struct result r = run_path(&sig8, &p, erl, NULL);
		char name[48];
		snprintf(name, sizeof(name), "D.%d delay %2.0f ms", m, delay_ms);
		check_result(name, &r);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(g168_path_16k)
{
	struct path p;
	if (load_path(&p, 4, 20, 16000) < 0)
		return IVR_TEST_SKIP;
	struct result r = run_path(&sig16, &p, 6.0, NULL);
	check_result("16k D.4 delay 20 ms", &r);
	return IVR_TEST_RESULT();
}

IVR_TEST(bulk_delay_fifo)
{
	struct path p;
	/* 300 ms round trip + D.3 dispersion: beyond the 128 ms tail without the FIFO. */
	if (load_path(&p, 3, 300, 8000) < 0)
		return IVR_TEST_SKIP;
	struct ivr_aec_cfg cfg = { .rate_hz = 8000, .bulk_delay_ms = 280 };
	struct result r = run_path(&sig8, &p, 6.0, &cfg);
	check_result("D.3 300 ms, bulk 280", &r);
	/* Negative control: without the FIFO the path is out of reach of the tail. */
	struct ivr_aec_cfg lin = { .rate_hz = 8000, .linear_only = 1 };
	struct result r0 = run_path(&sig8, &p, 6.0, &lin);
	printf("  without FIFO (linear): steady ERLE %.1f dB\n", r0.erle_steady);
	ivr_check(r0.erle_steady < 10.0);
	return IVR_TEST_RESULT();
}

/*
 * The start-up gate: without it the VAD hears the prompt while the filter
 * converges (negative control); with it, a caller who talks over the first
 * second of the prompt 10 dB above its echo still gets through, at little
 * cost against the same call without the gate.
 */
IVR_TEST(startup_gate)
{
	struct path p;
	if (load_path(&p, 2, 5, 8000) < 0)
		return IVR_TEST_SKIP;
	const struct ivr_aec_cfg nog = { .rate_hz = 8000, .no_startup_gate = 1 };
	struct result r0 = run_path(&sig8, &p, 6.0, &nog);
	struct result r1 = run_path(&sig8, &p, 6.0, NULL);
	printf("  D.2 prompt-only frames flagged: %.1f%% without the gate, %.1f%% with it\n",
	       100 * r0.prompt_fa, 100 * r1.prompt_fa);
	ivr_check(r0.prompt_fa > r1.prompt_fa);

	/* The caller's words moved to 0.3 s, 10 dB louder than in the double-talk test. */
	struct signals e = sig8;
	const size_t c0 = (size_t)(DT_START * 8000),
		     len = (size_t)((sig8.dt_end - DT_START) * 8000);
	const size_t e0 = (size_t)(0.3 * 8000);
	e.caller = calloc(e.n, sizeof(float));
	for (size_t i = 0; i < len; i++)
		e.caller[e0 + i] = 3.162f * sig8.caller[c0 + i];
	e.dt_start = 0.3;
	e.dt_end = 0.3 + (double)len / 8000;
	e.caller_active = frame_activity(e.caller, e.n, 8000, e.n_frames);
	struct result r2 = run_path(&e, &p, 6.0, NULL);
	struct result r3 = run_path(&e, &p, 6.0, &nog);
	printf("  caller at 0.3 s, 10 dB over the echo: %.1f%% of its frames detected, level "
	       "%+.2f dB (without the gate: %.1f%%, %+.2f dB)\n",
	       100 * r2.caller_detect, r2.caller_level_db, 100 * r3.caller_detect,
	       r3.caller_level_db);
	/*
	 * speexdsp alone already loses ~3.7 dB of this caller (its filter and
	 * suppressor are still learning); what is asserted is the gate's own
	 * cost on top: at most 5% of the frames and 1 dB.
	 */
	ivr_check(r2.caller_detect >= 0.90);
	ivr_check(r2.caller_detect >= r3.caller_detect - 0.05);
	ivr_check(r2.caller_level_db >= r3.caller_level_db - 1.0);
	free(e.caller);
	free(e.caller_active);
	return IVR_TEST_RESULT();
}

/*
 * 10 ms frames (speexdsp called every 10 ms) on every path.  This mode
 * converges faster but settles lower than the default 20 ms: its steady
 * ERLE is held to 25 dB, not the 30 dB target, and the paths under 30 dB
 * are printed.  The targets are met with the default (g168_paths_8k).
 */
IVR_TEST(frames_10ms)
{
	if (!load())
		return IVR_TEST_SKIP;
	struct path p;
	int below = 0;
	for (int m = 2; m <= 9; m++) {
		const double delay_ms = path_delay_ms(m), erl = path_erl_db(m);
		if (g168_path(&p, m, delay_ms, 8000) < 0)
			return IVR_TEST_SKIP;
		struct ivr_aec_cfg cfg = { .rate_hz = 8000, .frame_ms = 10 };
		struct result r = run_path(&sig8, &p, erl, &cfg);
		char name[48];
		snprintf(name, sizeof(name), "10 ms D.%d %2.0f ms", m, delay_ms);
		check_result_steady(name, &r, 25.0);
		below += r.erle_steady < 30.0;
	}
	printf("  10 ms frames: %d of 8 paths under 30 dB steady ERLE\n", below);
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_input)
{
	ivr_check_int_eq(ivr_aec_size(&(struct ivr_aec_cfg){ .rate_hz = 44100 }), 0);
	ivr_check_int_eq(ivr_aec_size(&(struct ivr_aec_cfg){ .frame_ms = 15 }), 0);
	ivr_check_int_eq(ivr_aec_size(&(struct ivr_aec_cfg){ .tail_ms = 5000 }), 0);
	ivr_check_int_eq(ivr_aec_size(&(struct ivr_aec_cfg){ .bulk_delay_ms = 5000 }), 0);
	ivr_check_int_eq(ivr_aec_size(&(struct ivr_aec_cfg){ .echo_suppress_db = 10 }), 0);
	errno = 0;
	ivr_check(ivr_aec_new(&(struct ivr_aec_cfg){ .rate_hz = 11025 }) == NULL);
	ivr_check_int_eq(errno, EINVAL);
	char small[16];
	ivr_check_int_eq(ivr_aec_init((struct ivr_aec *)small, sizeof(small), NULL), -EINVAL);
	ivr_aec_free(NULL);
	ivr_aec_fini(NULL);

	struct ivr_aec *a = ivr_aec_new(NULL);
	ivr_check(a != NULL);
	ivr_check_int_eq(ivr_aec_frame_samples(a), 160);
	static float near[480], far[480], out[480];
	ivr_check_int_eq(ivr_aec_process(a, near, far, out, 100), -EINVAL);
	ivr_check_int_eq(ivr_aec_process(a, NULL, far, out, 160), -EINVAL);
	ivr_check_int_eq(ivr_aec_process(a, near, far, out, 0), 0);
	/* NaN, Inf and beyond-full-scale samples: finite, bounded output. */
	for (int i = 0; i < 480; i++) {
		near[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : 4.0f;
		far[i] = i % 2 ? -INFINITY : NAN;
	}
	for (int k = 0; k < 20; k++)
		ivr_check_int_eq(ivr_aec_process(a, near, far, out, 480), 0);
	int finite = 1;
	for (int i = 0; i < 480; i++)
		finite &= isfinite(out[i]) && fabsf(out[i]) <= 1.0f;
	ivr_check(finite);
	/* In-place processing (out aliases near) is allowed. */
	ivr_check_int_eq(ivr_aec_process(a, near, far, near, 480), 0);
	ivr_check_int_eq(ivr_aec_reset(a), 0);
	ivr_aec_free(a);
	return IVR_TEST_RESULT();
}

IVR_TEST(reset_reconverges)
{
	struct path p;
	if (load_path(&p, 6, 10, 8000) < 0)
		return IVR_TEST_SKIP;
	/* Caller memory (arena style) instead of the heap wrapper. */
	const struct ivr_aec_cfg cfg = { .rate_hz = 8000, .linear_only = 1 };
	const size_t size = ivr_aec_size(&cfg);
	void *mem = aligned_alloc(64, IVR_ROUND_UP(size, 64));
	struct ivr_aec *a = mem;
	ivr_check_int_eq(ivr_aec_init(a, size, &cfg), 0);
	const size_t n = 5 * 8000;
	float *echo = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
	convolve(echo, sig8.far, n, &p);
	double e[2];
	for (int pass = 0; pass < 2; pass++) {
		for (size_t off = 0; off < n; off += 160)
			ivr_check_int_eq(
				ivr_aec_process(a, echo + off, sig8.far + off, out + off, 160), 0);
		e[pass] = erle(&sig8, echo, out, 3.0, 5.0);
		ivr_check_int_eq(ivr_aec_reset(a), 0);
	}
	printf("  linear ERLE 3-5 s: %.1f dB, after reset %.1f dB\n", e[0], e[1]);
	ivr_check_near(e[0], e[1], 3.0);
	ivr_check(e[0] > 10.0);
	ivr_aec_fini(a);
	free(mem);
	free(echo);
	free(out);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(g168_paths_8k);
	ivr_test_run(g168_path_16k);
	ivr_test_run(bulk_delay_fifo);
	ivr_test_run(startup_gate);
	ivr_test_run(frames_10ms);
	ivr_test_run(reset_reconverges);
	ivr_test_run(bad_input);
	return ivr_test_summary();
}
