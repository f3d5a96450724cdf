/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_faxtone.c - CNG / CED-ANS detection.
 *
 * Tones are synthesised at 8 and 16 kHz per T.30 / V.25 / V.8 (CNG cadence,
 * CED, ANS with 450 ms phase reversals, ANSam 15 Hz AM), at several levels,
 * through mu-law/A-law, and in white noise.  Must not fire: white noise,
 * speech-like formant synthesis and espeak-ng speech (if installed), DTMF,
 * 1000 Hz and 1800 Hz tones, a continuous 1100 Hz tone (not a CNG burst),
 * short 2100 Hz blips, tones outside the frequency tolerance.
 */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp/dtmf.h"
#include "dsp/faxtone.h"
#include "dsp/g711.h"
#include "dsp/wav.h"
#include "ivr_speech.h"
#include "ivr_test.h"

#define MAXN (16000 * 12)

static float sig[MAXN];

static double amp_dbm0(double dbm0)
{
	return IVR_DBM0_RMS_S16 / 32768.0 * sqrt(2.0) * pow(10, dbm0 / 20);
}

/* Add a tone to x[from, to): level dBm0, phase reversals every rev_ms, AM depth. */
static void add_tone(float *x, size_t from, size_t to, double f, uint32_t rate, double dbm0,
		     double rev_ms, double am)
{
	double a = amp_dbm0(dbm0);
	for (size_t i = from; i < to; i++) {
		double t = (double)(i - from) / rate;
		double ph = 2 * M_PI * f * t;
		if (rev_ms > 0 && ((long)(t * 1000.0 / rev_ms)) % 2 == 1)
			ph += M_PI;
		double g = am > 0 ? 1.0 + am * sin(2 * M_PI * 15.0 * t) : 1.0;
		x[i] += (float)(a * g * sin(ph));
	}
}

static uint32_t rs = 1;
static double gauss(void)
{
	double u = 0;
	for (int k = 0; k < 12; k++) {
		rs = rs * 1664525u + 1013904223u;
		u += (rs >> 8) / 16777216.0;
	}
	return u - 6.0;
}

static void add_noise(float *x, size_t n, double dbm0)
{
	double sd = amp_dbm0(dbm0) / sqrt(2.0);
	for (size_t i = 0; i < n; i++)
		x[i] += (float)(sd * gauss());
}

/* Run the detector over x in 20 ms frames. @return number of events. */
static int detect(const float *x, size_t n, uint32_t rate, struct ivr_faxtone_event *ev, int max_ev)
{
	struct ivr_faxtone_cfg cfg = { .rate_hz = rate };
	struct ivr_faxtone *ft = ivr_faxtone_new(&cfg);
	if (!ft)
		return -1;
	size_t frame = rate / 50;
	int k = 0;
	for (size_t i = 0; i < n; i += frame) {
		int r = ivr_faxtone_process(ft, x + i, IVR_MIN(frame, n - i), ev + k,
					    (size_t)(max_ev - k));
		if (r < 0) {
			k = r;
			break;
		}
		k += r;
	}
	ivr_faxtone_free(ft);
	return k;
}

static void show(const struct ivr_faxtone_event *ev, int n, uint32_t rate)
{
	for (int i = 0; i < n; i++)
		fprintf(stderr, "    ev type %d flags %d f %u onset %.3f s dur %.3f s\n",
			ev[i].type, ev[i].flags, ev[i].freq_hz, (double)ev[i].onset_sample / rate,
			(double)ev[i].duration_samples / rate);
}

static int count(const struct ivr_faxtone_event *ev, int n, int type)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += ev[i].type == type;
	return c;
}

/* One -15 dBm0 burst of @f Hz, @on_s long from 0.5 s, in @seconds of 8 kHz
 * audio (in sig).  @return the events detected (in @ev). */
static int detect_burst(double f, double on_s, size_t seconds, struct ivr_faxtone_event *ev,
			int max_ev)
{
	size_t n = 8000 * seconds;
	memset(sig, 0, n * sizeof(float));
	add_tone(sig, 4000, 4000 + (size_t)(on_s * 8000), f, 8000, -15, 0, 0);
	return detect(sig, n, 8000, ev, max_ev);
}

IVR_TEST(cng_cadence_levels_rates_codecs)
{
	static const uint32_t rates[] = { 8000, 16000 };
	static const double levels[] = { -6, -20, -35, -42 };
	for (int r = 0; r < 2; r++) {
		for (int l = 0; l < 4; l++) {
			for (int law = 0; law < (rates[r] == 8000 ? 3 : 1); law++) {
				uint32_t rate = rates[r];
				size_t n = rate * 7;
				memset(sig, 0, n * sizeof(float));
				/* two CNG cycles: 0.5 s on, 3 s off, starting at 0.2 s */
				for (int c = 0; c < 2; c++) {
					size_t on = rate / 5 + (size_t)c * rate * 7 / 2;
					add_tone(sig, on, on + rate / 2, 1100, rate, levels[l], 0,
						 0);
				}
				ivr_speech_g711(sig, n, law);
				struct ivr_faxtone_event ev[16];
				int k = detect(sig, n, rate, ev, 16);
				bool ok = k == 2 && ev[0].type == IVR_FAXTONE_CNG &&
					  ev[1].type == IVR_FAXTONE_CNG;
				ivr_check_msg(ok, "%u Hz %g dBm0 law %d: %d events", rate,
					      levels[l], law, k);
				if (!ok) {
					show(ev, k, rate);
					continue;
				}
				for (int c = 0; c < 2; c++) {
					double on = 0.2 + c * 3.5;
					ivr_check_near((double)ev[c].onset_sample / rate, on,
						       0.011);
					ivr_check_near((double)ev[c].duration_samples / rate, 0.5,
						       0.011);
					ivr_check_near(ev[c].freq_hz, 1100, 2);
				}
				/* the second burst keeps the T.30 rhythm */
				ivr_check_int_eq(ev[0].flags, 0);
				ivr_check_int_eq(ev[1].flags, IVR_FAXTONE_F_CADENCE);
			}
		}
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(cng_frequency_tolerance_and_duration)
{
	static const struct {
		double f, on_s;
		int want;
	} cases[] = {
		{ 1100 + 30, 0.5, 1 }, { 1100 - 30, 0.5, 1 },  { 1100 + 60, 0.5, 0 },
		{ 1100 - 60, 0.5, 0 }, { 1100, 0.45, 1 },      { 1100, 0.2, 0 },
		{ 1100 + 80, 0.5, 0 }, { 1100 - 100, 0.5, 0 }, { 1100, 1.0, 0 },
		{ 1100, 5.0, 0 }, /* continuous: not a CNG burst */
	};
	for (size_t c = 0; c < IVR_N_ELEMENTS(cases); c++) {
		struct ivr_faxtone_event ev[16];
		int k = detect_burst(cases[c].f, cases[c].on_s, 7, ev, 16);
		ivr_check_msg(count(ev, k, IVR_FAXTONE_CNG) == cases[c].want && k == cases[c].want,
			      "%.0f Hz for %.2f s: %d events, want %d", cases[c].f, cases[c].on_s,
			      k, cases[c].want);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(cng_cadence_flag_needs_t30_rhythm)
{
	/* bursts 1.5 s apart, then 3.5 s: only the last one is in cadence */
	size_t n = 8000 * 8;
	memset(sig, 0, n * sizeof(float));
	add_tone(sig, 8000, 12000, 1100, 8000, -15, 0, 0);
	add_tone(sig, 20000, 24000, 1100, 8000, -15, 0, 0);
	add_tone(sig, 48000, 52000, 1100, 8000, -15, 0, 0);
	struct ivr_faxtone_event ev[16];
	int k = detect(sig, n, 8000, ev, 16);
	ivr_check_int_eq(k, 3);
	if (k == 3) {
		ivr_check_int_eq(ev[0].flags, 0);
		ivr_check_int_eq(ev[1].flags, 0);
		ivr_check_int_eq(ev[2].flags, IVR_FAXTONE_F_CADENCE);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(ans_variants)
{
	static const struct {
		double rev_ms, am;
		uint8_t flags;
	} kinds[] = {
		{ 0, 0, 0 },						  /* CED / ANS */
		{ 450, 0, IVR_FAXTONE_F_REVERSALS },			  /* ANS-bar */
		{ 0, 0.2, IVR_FAXTONE_F_AM },				  /* ANSam */
		{ 450, 0.2, IVR_FAXTONE_F_AM | IVR_FAXTONE_F_REVERSALS }, /* ANSam-bar */
	};
	static const uint32_t rates[] = { 8000, 16000 };
	for (int r = 0; r < 2; r++) {
		for (size_t kd = 0; kd < IVR_N_ELEMENTS(kinds); kd++) {
			for (int law = 0; law < 2; law++) {
				uint32_t rate = rates[r];
				size_t n = rate * 5;
				memset(sig, 0, n * sizeof(float));
				add_tone(sig, rate / 2, rate / 2 + rate * 3, 2100, rate, -20,
					 kinds[kd].rev_ms, kinds[kd].am);
				if (rate == 8000)
					ivr_speech_g711(sig, n, law ? 2 : 1);
				struct ivr_faxtone_event ev[16];
				int k = detect(sig, n, rate, ev, 16);
				bool ok = k == 2 && ev[0].type == IVR_FAXTONE_ANS &&
					  ev[1].type == IVR_FAXTONE_ANS_END;
				ivr_check_msg(ok, "%u Hz kind %zu: %d events", rate, kd, k);
				if (!ok) {
					show(ev, k, rate);
					continue;
				}
				ivr_check_near((double)ev[0].onset_sample / rate, 0.5, 0.011);
				/* reported after ans_min_ms = 1 s */
				ivr_check_near((double)ev[0].duration_samples / rate, 1.0, 0.011);
				ivr_check_near((double)ev[1].duration_samples / rate, 3.0, 0.011);
				ivr_check_msg(ev[0].flags == kinds[kd].flags &&
						      ev[1].flags == kinds[kd].flags,
					      "%u Hz kind %zu: flags %d/%d want %d", rate, kd,
					      ev[0].flags, ev[1].flags, kinds[kd].flags);
				ivr_check_near(ev[1].freq_hz, 2100, 2);
			}
		}
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(ans_frequency_tolerance_and_duration)
{
	static const struct {
		double f, on_s;
		int want;
	} cases[] = {
		{ 2100 + 12, 3, 2 },  { 2100 - 12, 3, 2 }, { 2100 + 40, 3, 0 },
		{ 2100 - 40, 3, 0 },  { 2100 + 60, 3, 0 }, { 2100 - 60, 3, 0 },
		{ 2100 + 100, 3, 0 }, { 2100, 0.3, 0 },	   { 2100, 0.9, 0 },
	};
	for (size_t c = 0; c < IVR_N_ELEMENTS(cases); c++) {
		struct ivr_faxtone_event ev[16];
		int k = detect_burst(cases[c].f, cases[c].on_s, 5, ev, 16);
		ivr_check_msg(k == cases[c].want, "%.0f Hz for %.1f s: %d events, want %d",
			      cases[c].f, cases[c].on_s, k, cases[c].want);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(tones_in_noise)
{
	/* 9 dB SNR (tone vs white noise over the whole band): still detected. */
	for (int t = 0; t < 2; t++) {
		size_t n = 8000 * 6;
		memset(sig, 0, n * sizeof(float));
		rs = 77 + (uint32_t)t;
		add_noise(sig, n, -29);
		if (t == 0) {
			add_tone(sig, 8000, 12000, 1100, 8000, -20, 0, 0);
			add_tone(sig, 36000, 40000, 1100, 8000, -20, 0, 0);
		} else {
			add_tone(sig, 8000, 8000 + 3 * 8000, 2100, 8000, -20, 450, 0);
		}
		ivr_speech_g711(sig, n, 1);
		struct ivr_faxtone_event ev[16];
		int k = detect(sig, n, 8000, ev, 16);
		if (t == 0)
			ivr_check_msg(k == 2 && count(ev, k, IVR_FAXTONE_CNG) == 2, "CNG: %d", k);
		else
			ivr_check_msg(k == 2 && ev[0].type == IVR_FAXTONE_ANS &&
					      (ev[0].flags & IVR_FAXTONE_F_REVERSALS),
				      "ANS: %d", k);
		if (ivr_test_failed_)
			show(ev, k, 8000);
	}
	/* Noise alone, loud and quiet, at both rates: nothing. */
	for (int r = 0; r < 2; r++) {
		uint32_t rate = r ? 16000 : 8000;
		size_t n = rate * 10;
		memset(sig, 0, n * sizeof(float));
		rs = 5;
		add_noise(sig, n, r ? -10 : -40);
		struct ivr_faxtone_event ev[16];
		int k = detect(sig, n, rate, ev, 16);
		ivr_check_msg(k == 0, "noise at %u Hz: %d events", rate, k);
	}
	return IVR_TEST_RESULT();
}

/* Speech-like source-filter synthesis (glottal pulses through 3 formants). */
static void speechlike(float *x, size_t n, uint32_t rate, uint32_t seed, double f0_base)
{
	static const double
		vowels[][3] = {
			{ 730, 1090, 2440 }, { 270, 2290, 3010 }, { 300, 870, 2240 },
			{ 530, 1840, 2480 }, { 570, 840, 2410 },  { 660, 1720, 2410 },
			{ 390, 1100, 2100 }, /* formants right on the fax frequencies */
		};
	double y1[3] = { 0 }, y2[3] = { 0 }, phase = 0;
	size_t syl = rate / 4;
	const double *fm = vowels[0];
	rs = seed;
	for (size_t i = 0; i < n; i++) {
		if (i % syl == 0) {
			rs = rs * 1664525u + 1013904223u;
			fm = vowels[(rs >> 8) % 7];
		}
		double t = (double)i / rate;
		phase += (f0_base + 25 * sin(2 * M_PI * 0.5 * t)) / rate;
		double s = 0;
		if (phase >= 1.0) {
			phase -= 1.0;
			s = 1.0;
		}
		for (int k = 0; k < 3; k++) {
			double r = exp(-M_PI * 80.0 / rate);
			double c = 2 * r * cos(2 * M_PI * fm[k] / rate);
			double y = (1 - r) * s + c * y1[k] - r * r * y2[k];
			y2[k] = y1[k];
			y1[k] = y;
			s = y;
		}
		double env = (i / syl) % 5 == 4 ? 0.0 : pow(sin(M_PI * (double)(i % syl) / syl), 2);
		x[i] = (float)(s * env * 8.0);
	}
}

/* As detect(), with the hint of a DTMF detector run on the same frames (as engine/dspchain.c
 * does).  @gated: blocks the hint covered. */
static int detect_hinted(const float *x, size_t n, uint32_t rate, struct ivr_faxtone_event *ev,
			 int max_ev, size_t *gated)
{
	struct ivr_faxtone_cfg cfg = { .rate_hz = rate };
	struct ivr_dtmf_cfg dcfg = { .rate_hz = rate };
	struct ivr_faxtone *ft = ivr_faxtone_new(&cfg);
	struct ivr_dtmf_rx *rx = ivr_dtmf_rx_new(&dcfg);
	if (!ft || !rx) {
		ivr_faxtone_free(ft);
		ivr_dtmf_rx_free(rx);
		return -1;
	}
	size_t frame = rate / 50;
	int k = 0;
	*gated = 0;
	for (size_t i = 0; i + frame <= n; i += frame) {
		struct ivr_dtmf_event de[4];
		ivr_check(ivr_dtmf_rx_process(rx, x + i, frame, de, 4) >= 0);
		uint32_t hint = ivr_dtmf_rx_gated(rx, 4);
		*gated += (size_t)__builtin_popcount(hint);
		int r = ivr_faxtone_process_hint(ft, x + i, frame, hint, ev + k,
						 (size_t)(max_ev - k));
		if (r < 0) {
			k = r;
			break;
		}
		k += r;
	}
	ivr_faxtone_free(ft);
	ivr_dtmf_rx_free(rx);
	return k;
}

/*
 * The DTMF detector's gate as a hint (ivr_faxtone_process_hint()): CNG and ANS bursts right
 * next to a low voice (140/280 Hz: most of its blocks are skipped) and quiet, in noise,
 * give the same events as without the hint, and the hint covered most blocks that held no
 * tone.  A hint for blocks that do not start at @pcm is ignored.
 */
IVR_TEST(dtmf_gate_hint_changes_nothing)
{
	for (int r = 0; r < 2; r++) {
		uint32_t rate = r ? 16000 : 8000;
		size_t n = rate * 10;
		memset(sig, 0, n * sizeof(float));
		for (size_t i = 0; i < n; i++) {
			/* the voice right up to each tone and on after it */
			double t = (double)i / rate;
			bool tone =
				(t >= 0.2 && t < 0.7) || (t >= 3.7 && t < 4.2) || (t >= 6 && t < 9);
			double env = tone || (t >= 2 && t < 3) ? 0.0 : 1.0;
			sig[i] = (float)(env * 0.2 *
					 (0.75 * sin(2 * M_PI * 140 * t) +
					  0.25 * sin(2 * M_PI * 280 * t)));
		}
		add_noise(sig, n, -60);
		add_tone(sig, rate / 5, rate / 5 + rate / 2, 1100, rate, -30, 0, 0);
		add_tone(sig, rate * 37 / 10, rate * 42 / 10, 1100, rate, -40, 0, 0);
		add_tone(sig, rate * 6, rate * 9, 2100, rate, -25, 450, 0.2);
		if (rate == 8000)
			ivr_speech_g711(sig, n, 1);
		struct ivr_faxtone_event e0[16], e1[16];
		size_t gated = 0;
		int k0 = detect(sig, n, rate, e0, 16);
		int k1 = detect_hinted(sig, n, rate, e1, 16, &gated);
		ivr_check_msg(k0 == 4 && k1 == k0, "%u Hz: %d events plain, %d hinted", rate, k0,
			      k1);
		for (int i = 0; i < k0 && i < k1; i++) {
			ivr_check_int_eq(e1[i].type, e0[i].type);
			ivr_check_int_eq(e1[i].flags, e0[i].flags);
			ivr_check_int_eq(e1[i].freq_hz, e0[i].freq_hz);
			ivr_check_int_eq(e1[i].onset_sample, e0[i].onset_sample);
			ivr_check_int_eq(e1[i].duration_samples, e0[i].duration_samples);
		}
		/* 10 s in 5 ms blocks, 4.5 s of them tones: most of the rest is gated */
		size_t blocks = n / (rate / 200);
		ivr_check_msg(gated > blocks / 3, "%u Hz: %zu of %zu blocks gated", rate, gated,
			      blocks);
		printf("  %u Hz: %zu of %zu blocks skipped by the hint\n", rate, gated, blocks);
	}
	/* a hint that does not match the blocks of @pcm (mid-block start) is ignored */
	struct ivr_faxtone *ft = ivr_faxtone_new(NULL);
	ivr_check(ft != NULL);
	if (ft) {
		memset(sig, 0, 8000 * sizeof(float));
		add_tone(sig, 0, 4000, 1100, 8000, -20, 0, 0); /* a 0.5 s CNG burst */
		struct ivr_faxtone_event ev[4];
		int k = ivr_faxtone_process(ft, sig, 13, ev, 4);
		for (size_t i = 13; i + 160 <= 8000; i += 160)
			k += ivr_faxtone_process_hint(ft, sig + i, 160, ~0u, ev + k,
						      (size_t)(4 - k));
		ivr_check_msg(k == 1 && ev[0].type == IVR_FAXTONE_CNG, "misaligned hint: %d events",
			      k);
		ivr_check_int_eq(ivr_faxtone_process_hint(NULL, sig, 160, 0, ev, 4), -EINVAL);
		ivr_faxtone_free(ft);
	}
	return IVR_TEST_RESULT();
}

/*
 * Frames [@from[j], @from[j] + @lost) (20 ms each, j < 2) of x are lost: replaced by what a
 * G.711 concealment gives (@fade: the last 10 ms before the loss repeated, full for 10 ms,
 * then fading to nothing at 60 ms) or by silence, and fed flagged concealed (or, @plain, as
 * audio).  @return events, as detect().
 */
static int detect_lossy(float *x, size_t n, uint32_t rate, const size_t from[2], size_t lost,
			bool fade, bool plain, struct ivr_faxtone_event *ev, int max_ev)
{
	struct ivr_faxtone_cfg cfg = { .rate_hz = rate };
	struct ivr_faxtone *ft = ivr_faxtone_new(&cfg);
	if (!ft)
		return -1;
	const size_t frame = rate / 50, period = rate / 100;
	for (int j = 0; j < 2; j++) {
		const size_t s0 = from[j] * frame;
		for (size_t i = s0; i < s0 + lost * frame && i < n; i++) {
			double t = (double)(i - s0) / rate;
			double g = !fade      ? 0.0
				   : t < 0.01 ? 1.0
				   : t < 0.06 ? (0.06 - t) / 0.05
					      : 0.0;
			x[i] = (float)(g * x[s0 - period + (i - s0) % period]);
		}
	}
	int k = 0;
	for (size_t f = 0; f * frame < n && k >= 0; f++) {
		size_t len = IVR_MIN(frame, n - f * frame);
		bool gone = (f >= from[0] && f < from[0] + lost) ||
			    (f >= from[1] && f < from[1] + lost);
		int r = gone && !plain ? ivr_faxtone_process_concealed(ft, x + f * frame, len, 0,
								       ev + k, (size_t)(max_ev - k))
				       : ivr_faxtone_process(ft, x + f * frame, len, ev + k,
							     (size_t)(max_ev - k));
		k = r < 0 ? r : k + r;
	}
	ivr_faxtone_free(ft);
	return k;
}

/*
 * Lost packets inside fax tones (ivr_faxtone_process_concealed()): 1-5 frames of 20 ms
 * concealed (faded or silent) inside each of two CNG bursts and twice inside a CED and an
 * ANSam-bar leave two CNG bursts of 0.5 s with their onsets and cadence, and one answer
 * tone of 3 s with its onset and flags.  Fed as plain audio, one silent frame already ends
 * the tone (a CNG burst split in two too short to count, a CED reported twice).
 */
IVR_TEST(concealed_frames_inside_tones)
{
	for (int r = 0; r < 2; r++) {
		const uint32_t rate = r ? 16000 : 8000;
		for (size_t lost = 1; lost <= 5; lost++) {
			for (int mode = 0; mode < 3; mode++) { /* silent, faded, silent fed plain */
				const bool fade = mode == 1, plain = mode == 2;
				const char *how = plain	 ? "silent plain"
						  : fade ? "faded"
							 : "silent";
				/* CNG bursts 0.2-0.7 s and 3.7-4.2 s, lost from 0.4 s and 3.9 s */
				size_t n = rate * 5;
				memset(sig, 0, n * sizeof(float));
				for (int c = 0; c < 2; c++) {
					size_t on = rate / 5 + (size_t)c * rate * 7 / 2;
					add_tone(sig, on, on + rate / 2, 1100, rate, -20, 0, 0);
				}
				if (rate == 8000)
					ivr_speech_g711(sig, n, 1);
				struct ivr_faxtone_event ev[16];
				static const size_t cng_loss[2] = { 20, 195 };
				int k = detect_lossy(sig, n, rate, cng_loss, lost, fade, plain, ev,
						     16);
				bool ok = k == 2 && count(ev, k, IVR_FAXTONE_CNG) == 2;
				for (int c = 0; ok && c < 2; c++)
					ok = fabs((double)ev[c].onset_sample / rate -
						  (0.2 + 3.5 * c)) < 0.011 &&
					     fabs((double)ev[c].duration_samples / rate - 0.5) <
						     0.011;
				ok = ok && ev[0].flags == 0 && ev[1].flags == IVR_FAXTONE_F_CADENCE;
				ivr_check_msg(ok != plain,
					      "%u Hz CNG, %zu %s frames lost: %d events", rate,
					      lost, how, k);
				if (ok == plain)
					show(ev, k, rate);

				/* CED and ANSam-bar 0.5-3.5 s, lost from 1.0 s and 3.0 s */
				for (int kind = 0; kind < 2; kind++) {
					memset(sig, 0, n * sizeof(float));
					add_tone(sig, rate / 2, rate / 2 + rate * 3, 2100, rate,
						 -20, kind ? 450 : 0, kind ? 0.2 : 0);
					if (rate == 8000)
						ivr_speech_g711(sig, n, 2);
					const uint8_t want =
						kind ? IVR_FAXTONE_F_REVERSALS | IVR_FAXTONE_F_AM
						     : 0;
					static const size_t ans_loss[2] = { 50, 150 };
					k = detect_lossy(sig, n, rate, ans_loss, lost, fade, plain,
							 ev, 16);
					ok = k == 2 && ev[0].type == IVR_FAXTONE_ANS &&
					     ev[1].type == IVR_FAXTONE_ANS_END &&
					     fabs((double)ev[0].onset_sample / rate - 0.5) <
						     0.011 &&
					     fabs((double)ev[1].duration_samples / rate - 3.0) <
						     0.011 &&
					     ev[0].flags == want && ev[1].flags == want &&
					     abs((int)ev[1].freq_hz - 2100) <= 2;
					ivr_check_msg(ok != plain,
						      "%u Hz %s, %zu %s frames lost: %d events",
						      rate, kind ? "ANSam-bar" : "CED", lost, how,
						      k);
					if (ok == plain)
						show(ev, k, rate);
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/*
 * Concealed audio never starts a tone: a whole CNG burst flagged concealed gives nothing, a
 * CED whose first 60 ms are concealed starts at the first real block, as does one whose first
 * block is only partly concealed.  200 ms of loss is not bridged: the CED ends at its last
 * real block and starts again after the loss.
 */
IVR_TEST(concealed_frames_never_start_a_tone)
{
	struct ivr_faxtone *ft = ivr_faxtone_new(NULL);
	if (!ft)
		return IVR_TEST_FAIL;
	struct ivr_faxtone_event ev[16];
	size_t n = 8000 * 5;
	/* a CNG burst at 0.2 s, all of it concealed */
	memset(sig, 0, n * sizeof(float));
	add_tone(sig, 1600, 5600, 1100, 8000, -15, 0, 0);
	int k = 0;
	for (size_t i = 0; i < 8000 * 2; i += 160)
		k += ivr_faxtone_process_concealed(ft, sig + i, 160, 0, ev, 16);
	ivr_check_int_eq(k, 0);
	/* a CED from 0 whose first 3 frames, or first 13 samples, are concealed */
	for (size_t head = 0; head < 2; head++) {
		const size_t conc = head ? 13 : 480;
		ivr_faxtone_reset(ft);
		memset(sig, 0, n * sizeof(float));
		add_tone(sig, 0, 8000 * 3, 2100, 8000, -15, 0, 0);
		k = ivr_faxtone_process_concealed(ft, sig, conc, 0, ev, 16);
		for (size_t i = conc; i < n; i += 160)
			k += ivr_faxtone_process(ft, sig + i, IVR_MIN((size_t)160, n - i), ev + k,
						 (size_t)(16 - k));
		ivr_check_msg(k == 2 && ev[0].type == IVR_FAXTONE_ANS, "CED, %zu concealed: %d",
			      conc, k);
		if (k == 2) {
			ivr_check_int_eq(ev[0].onset_sample, head ? 40 : 480);
			ivr_check_int_eq(ev[1].duration_samples, 8000 * 3 - (head ? 40 : 480));
		}
	}
	/* 200 ms lost (silent) at 2 s inside a CED 0.5-3.5 s: two tones */
	memset(sig, 0, n * sizeof(float));
	add_tone(sig, 4000, 28000, 2100, 8000, -15, 0, 0);
	static const size_t loss[2] = { 100, 100 };
	k = detect_lossy(sig, n, 8000, loss, 10, false, false, ev, 16);
	ivr_check_msg(k == 4 && ev[0].type == IVR_FAXTONE_ANS &&
			      ev[1].type == IVR_FAXTONE_ANS_END && ev[2].type == IVR_FAXTONE_ANS &&
			      ev[3].type == IVR_FAXTONE_ANS_END,
		      "200 ms lost in a CED: %d events", k);
	if (k == 4) {
		ivr_check_int_eq(ev[1].duration_samples, 12000); /* 0.5 s to the loss at 2 s */
		ivr_check_int_eq(ev[2].onset_sample, 17600);	 /* the first real block after it */
	}
	ivr_check_int_eq(ivr_faxtone_process_concealed(NULL, sig, 160, 0, ev, 16), -EINVAL);
	ivr_check_int_eq(ivr_faxtone_process_concealed(ft, NULL, 160, 0, ev, 16), -EINVAL);
	ivr_faxtone_free(ft);
	return IVR_TEST_RESULT();
}

IVR_TEST(rejects_speech)
{
	static const double f0s[] = { 100, 137.5, 183.3, 220, 275 }; /* 1100 = 8 x 137.5 etc. */
	for (int r = 0; r < 2; r++) {
		uint32_t rate = r ? 16000 : 8000;
		for (size_t f = 0; f < IVR_N_ELEMENTS(f0s); f++) {
			size_t n = rate * 10;
			speechlike(sig, n, rate, 11 + (uint32_t)f, f0s[f]);
			if (rate == 8000)
				ivr_speech_g711(sig, n, 1);
			struct ivr_faxtone_event ev[16];
			int k = detect(sig, n, rate, ev, 16);
			ivr_check_msg(k == 0, "speech-like f0 %.1f at %u Hz: %d events", f0s[f],
				      rate, k);
			if (k)
				show(ev, k, rate);
		}
	}
	/* Real synthetic speech from espeak-ng, if installed. */
	FILE *p = popen("espeak-ng --stdout -s 150 'Thank you for calling. Please say or enter "
			"your account number, followed by the pound key. One one hundred. "
			"Twenty one hundred. Beeeeeep. Aaaaaaah. Eeeeeeee.' 2>/dev/null",
			"r");
	if (!p)
		return IVR_TEST_RESULT();
	static uint8_t wav[4 << 20];
	size_t len = fread(wav, 1, sizeof(wav), p);
	pclose(p);
	if (len < 1000) {
		printf("  espeak-ng not available: synthetic speech only\n");
		return IVR_TEST_RESULT();
	}
	/* espeak writes a streaming header with unknown sizes: fix the RIFF/data lengths. */
	if (len > 44 && memcmp(wav + 36, "data", 4) == 0) {
		uint32_t d = (uint32_t)(len - 44), rl = (uint32_t)(len - 8);
		memcpy(wav + 40, &d, 4);
		memcpy(wav + 4, &rl, 4);
	}
	for (int r = 0; r < 2; r++) {
		uint32_t rate = r ? 16000 : 8000;
		struct ivr_audio a;
		char err[128];
		int e = ivr_wav_parse(&a, wav, len, rate, err, sizeof(err));
		ivr_check_msg(e == 0, "espeak wav: %s", err);
		if (e)
			break;
		struct ivr_faxtone_event ev[16];
		int k = detect(a.samples, a.n_samples, rate, ev, 16);
		printf("  espeak-ng speech at %u Hz, %.1f s: %d events\n", rate,
		       (double)a.n_samples / rate, k);
		ivr_check_msg(k == 0, "espeak-ng speech at %u Hz (%.1f s): %d events", rate,
			      (double)a.n_samples / rate, k);
		ivr_audio_free(&a);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(rejects_dtmf_and_other_tones)
{
	static const double lo[] = { 697, 770, 852, 941 }, hi[] = { 1209, 1336, 1477, 1633 };
	for (int r = 0; r < 2; r++) {
		uint32_t rate = r ? 16000 : 8000;
		/* all 16 digits, 100 ms on / 100 ms off, then a 3 s long digit '1' */
		size_t n = rate * 7;
		memset(sig, 0, n * sizeof(float));
		for (int d = 0; d < 16; d++) {
			size_t on = (size_t)d * rate / 5;
			add_tone(sig, on, on + rate / 10, lo[d / 4], rate, -10, 0, 0);
			add_tone(sig, on, on + rate / 10, hi[d % 4], rate, -8, 0, 0);
		}
		add_tone(sig, rate * 4, rate * 7, 697, rate, -10, 0, 0);
		add_tone(sig, rate * 4, rate * 7, 1209, rate, -8, 0, 0);
		struct ivr_faxtone_event ev[16];
		int k = detect(sig, n, rate, ev, 16);
		ivr_check_msg(k == 0, "DTMF at %u Hz: %d events", rate, k);
		/* 1000 Hz and 1800 Hz: continuous and in CNG-like 0.5 s bursts */
		static const double others[] = { 1000, 1800 };
		for (int o = 0; o < 2; o++) {
			memset(sig, 0, n * sizeof(float));
			add_tone(sig, 0, rate * 3, others[o], rate, -10, 0, 0);
			add_tone(sig, rate * 4, rate * 9 / 2, others[o], rate, -10, 0, 0);
			add_tone(sig, rate * 6, rate * 13 / 2, others[o], rate, -10, 0, 0);
			k = detect(sig, n, rate, ev, 16);
			ivr_check_msg(k == 0, "%.0f Hz at %u Hz: %d events", others[o], rate, k);
		}
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_input_and_framing)
{
	struct ivr_faxtone_cfg bad[] = { { .rate_hz = 11025 },
					 { .rate_hz = 48000 },
					 { .min_level_dbm0 = 5.0f },
					 { .min_level_dbm0 = NAN },
					 { .ans_min_ms = 100000 } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(bad); i++) {
		errno = 0;
		ivr_check(ivr_faxtone_new(&bad[i]) == NULL && errno == EINVAL);
	}
	char small[16];
	ivr_check_int_eq(ivr_faxtone_init((struct ivr_faxtone *)(void *)small, sizeof(small), NULL),
			 -ENOSPC);
	ivr_faxtone_free(NULL);
	struct ivr_faxtone *ft = ivr_faxtone_new(NULL);
	if (!ft)
		return IVR_TEST_FAIL;
	struct ivr_faxtone_event ev[8];
	float junk[160];
	for (int i = 0; i < 160; i++)
		junk[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
	for (int f = 0; f < 100; f++)
		ivr_check_int_eq(ivr_faxtone_process(ft, junk, 160, ev, 8), 0);
	ivr_check_int_eq(ivr_faxtone_process(NULL, junk, 160, ev, 8), -EINVAL);
	ivr_check_int_eq(ivr_faxtone_process(ft, NULL, 160, ev, 8), -EINVAL);
	ivr_check_int_eq(ivr_faxtone_process(ft, junk, 0, ev, 8), 0);
	/* Odd frame sizes give the same events as 20 ms frames. */
	size_t n = 8000 * 5;
	memset(sig, 0, n * sizeof(float));
	add_tone(sig, 1000, 5000, 1100, 8000, -15, 0, 0);
	add_tone(sig, 12000, 36000, 2100, 8000, -15, 450, 0);
	struct ivr_faxtone_event e1[8], e2[8];
	int k1 = detect(sig, n, 8000, e1, 8);
	ivr_faxtone_reset(ft);
	int k2 = 0;
	for (size_t i = 0; i < n; i += 333) {
		int r = ivr_faxtone_process(ft, sig + i, IVR_MIN((size_t)333, n - i), e2 + k2,
					    (size_t)(8 - k2));
		k2 += r > 0 ? r : 0;
	}
	ivr_check_int_eq(k1, 3);
	ivr_check_int_eq(k2, k1);
	for (int i = 0; i < k1 && i < k2; i++) {
		ivr_check_int_eq(e1[i].type, e2[i].type);
		ivr_check_int_eq(e1[i].onset_sample, e2[i].onset_sample);
		ivr_check_int_eq(e1[i].duration_samples, e2[i].duration_samples);
	}
	ivr_faxtone_free(ft);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(cng_cadence_levels_rates_codecs);
	ivr_test_run(cng_frequency_tolerance_and_duration);
	ivr_test_run(cng_cadence_flag_needs_t30_rhythm);
	ivr_test_run(ans_variants);
	ivr_test_run(ans_frequency_tolerance_and_duration);
	ivr_test_run(tones_in_noise);
	ivr_test_run(dtmf_gate_hint_changes_nothing);
	ivr_test_run(concealed_frames_inside_tones);
	ivr_test_run(concealed_frames_never_start_a_tone);
	ivr_test_run(rejects_speech);
	ivr_test_run(rejects_dtmf_and_other_tones);
	ivr_test_run(bad_input_and_framing);
	return ivr_test_summary();
}
