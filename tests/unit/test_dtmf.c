/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_dtmf.c - the DTMF detector against ITU-T Q.24 (AT&T
 * column) and the Bellcore/Mitel practice of spandsp's dtmf_rx_tests:
 * every signal is synthesized here with dsp/tone.h (as spandsp regenerates
 * the Mitel tape), at 8 and 16 kHz, straight and through G.711 mu-law and
 * A-law.  Talk-off uses pocketsphinx-testdata recordings, speech made with
 * espeak-ng and flite at test time (skipped with a note when missing) and
 * synthesized music (chords with harmonics, sweeps).
 * SNR convention: power of the two tones together over the power of white
 * Gaussian noise over the whole band (0..rate/2).
 */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsp/dtmf.h"
#include "dsp/dtmf_kernel.h"
#include "dsp/g711.h"
#include "dsp/resample.h"
#include "dsp/tone.h"
#include "dsp/wav.h"
#include "ivr_speech.h"
#include "ivr_test.h"

static const char all_digits[] = "0123456789*#ABCD";
static const uint32_t rates[2] = { 8000, 16000 };
enum law { LAW_NONE, LAW_ULAW, LAW_ALAW }; /* ivr_speech_g711()'s @law */
static const char *law_name[3] = { "linear", "ulaw", "alaw" };

/* ---- signal helpers ---------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double grand(void)
{
	double u = urand(), v = urand();
	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

struct sig {
	float *x;
	size_t n, cap;
	uint32_t rate;
};

static void sig_init(struct sig *s, uint32_t rate, double max_seconds)
{
	s->rate = rate;
	s->cap = (size_t)(max_seconds * rate) + 1;
	s->x = calloc(s->cap, sizeof(float));
	s->n = 0;
}

static size_t ms_to_n(const struct sig *s, double ms)
{
	return (size_t)(ms * s->rate / 1000.0 + 0.5);
}

static void sig_silence(struct sig *s, size_t n)
{
	if (s->n + n > s->cap)
		n = s->cap - s->n;
	s->n += n; /* buffer is zeroed */
}

static void sig_digit(struct sig *s, char d, size_t n, const struct ivr_tone_dtmf *p)
{
	if (s->n + n > s->cap)
		n = s->cap - s->n;
	int r = ivr_tone_dtmf_add(s->x + s->n, n, s->rate, d, p);
	ivr_check_int_eq(r, 0);
	s->n += n;
}

static void sig_free(struct sig *s)
{
	free(s->x);
	s->x = NULL;
}

/* ---- detection helper -------------------------------------------------- */

#define MAX_DET 4096
struct det {
	int n;	   /* START events */
	int n_end; /* END events */
	char digit[MAX_DET];
	double onset_ms[MAX_DET];
	double dur_ms[MAX_DET]; /* from the END event */
};

/* Run a fresh detector over @x in @chunk-sample pieces (0 = 20 ms frames),
 * then 100 ms of silence so the last digit ends. */
static void detect_chunked(uint32_t rate, const float *x, size_t n, size_t chunk, struct det *d,
			   int force_c)
{
	struct ivr_dtmf_cfg cfg = { .rate_hz = rate };
	struct ivr_dtmf_rx *rx = ivr_dtmf_rx_new(&cfg);
	static float zeros[1600];
	struct ivr_dtmf_event ev[8];
	memset(d, 0, sizeof(*d));
	if (!rx) {
		ivr_check(rx != NULL);
		return;
	}
	ivr_dtmf_rx_force_c(rx, force_c);
	if (chunk == 0)
		chunk = rate / 50;
	size_t total = n + rate / 10; /* then 100 ms of silence */
	for (size_t pos = 0; pos < total;) {
		size_t m = IVR_MIN(chunk, pos < n ? n - pos : IVR_MIN(total - pos, 1600));
		const float *p = pos < n ? x + pos : zeros;
		pos += m;
		int r = ivr_dtmf_rx_process(rx, p, m, ev, IVR_N_ELEMENTS(ev));
		ivr_check(r >= 0);
		for (int i = 0; i < r; i++) {
			double scale = 1000.0 / rate;
			if (ev[i].type == IVR_DTMF_EV_START && d->n < MAX_DET) {
				d->digit[d->n] = ev[i].digit;
				d->onset_ms[d->n] = ev[i].onset_sample * scale;
				d->n++;
			} else if (ev[i].type == IVR_DTMF_EV_END) {
				if (d->n_end < MAX_DET)
					d->dur_ms[d->n_end] = ev[i].duration_samples * scale;
				d->n_end++;
			}
		}
	}
	ivr_dtmf_rx_free(rx);
}

static void detect(const struct sig *s, struct det *d)
{
	detect_chunked(s->rate, s->x, s->n, 0, d, 0);
}

/* A single burst of @digit, @on_ms long after @pre samples of silence. */
static int detect_one(uint32_t rate, enum law law, char digit, double on_ms, size_t pre,
		      const struct ivr_tone_dtmf *p, struct det *d)
{
	struct sig s;
	sig_init(&s, rate, 0.5 + on_ms / 1000.0);
	sig_silence(&s, pre);
	sig_digit(&s, digit, ms_to_n(&s, on_ms), p);
	sig_silence(&s, ms_to_n(&s, 100));
	ivr_speech_g711(s.x, s.n, law);
	detect(&s, d);
	sig_free(&s);
	return d->n == 1 && d->n_end == 1 && d->digit[0] == digit;
}

/* ---- cases ------------------------------------------------------------- */

IVR_TEST(test_all_digits)
{
	/* every digit, 50 ms on / 50 ms off, -10 dBm0, each rate and law */
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law++) {
			struct sig s;
			struct det d;
			sig_init(&s, rates[ri], 2.0);
			for (const char *c = all_digits; *c; c++) {
				sig_silence(&s, ms_to_n(&s, 50));
				sig_digit(&s, *c, ms_to_n(&s, 50), NULL);
			}
			ivr_speech_g711(s.x, s.n, law);
			detect(&s, &d);
			ivr_check_msg(d.n == 16 && d.n_end == 16, "%u Hz %s: %d starts %d ends",
				      rates[ri], law_name[law], d.n, d.n_end);
			for (int i = 0; i < d.n && i < 16; i++)
				ivr_check_int_eq(d.digit[i], all_digits[i]);
			sig_free(&s);
		}
	}
	return IVR_TEST_RESULT();
}

/*
 * The low-frequency gate (dtmf.c LOW_HZ): a voice-like 140/280 Hz signal (ivr-load's caller)
 * right up to each digit and right after it, whose sub-blocks the gate skips, must not cost a
 * digit or move its edges by more than a sub-block: the weakest pairs for the gate (low tones,
 * -8 dB twist) at -25 dBm0 next to a -12 dBm0 voice, 40 ms and 60 ms long, at sub-block offsets
 * 0-4 ms.  Without the gate the voice's leakage into the edge sub-blocks already moves onsets by
 * up to 3.4 ms and durations by up to 4.7 ms here (measured); the gate moved them by <= 1.2 ms.
 */
IVR_TEST(test_low_voice_between_digits)
{
	const char digits[] = "147*2580";
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law += 2) {
			const uint32_t rate = rates[ri];
			struct sig s;
			struct det d;
			sig_init(&s, rate, 3.0);
			double t_on[16], len[16];
			int n_dig = 0;
			const double a = 0.25; /* about -12 dBm0 */
			for (const char *c = digits; *c; c++) {
				const double off_ms = (double)(n_dig % 5);
				size_t gap = ms_to_n(&s, 100.0 + off_ms);
				for (size_t i = 0; i < gap; i++) {
					double t = (double)(s.n + i) / rate;
					s.x[s.n + i] =
						(float)(a * (0.75 * sin(2 * M_PI * 140 * t) +
							     0.25 * sin(2 * M_PI * 280 * t)));
				}
				s.n += gap;
				struct ivr_tone_dtmf tp = { .level_dbm0 = -25.0f,
							    .twist_db = n_dig % 2 ? -8.0f : 4.0f };
				len[n_dig] = n_dig % 2 ? 40.0 : 60.0;
				t_on[n_dig] = (double)s.n * 1000.0 / rate;
				sig_digit(&s, *c, ms_to_n(&s, len[n_dig]), &tp);
				n_dig++;
			}
			size_t tail = ms_to_n(&s, 100.0);
			for (size_t i = 0; i < tail; i++) {
				double t = (double)(s.n + i) / rate;
				s.x[s.n + i] = (float)(a * sin(2 * M_PI * 140 * t));
			}
			s.n += tail;
			ivr_speech_g711(s.x, s.n, law);
			detect(&s, &d);
			ivr_check_msg(d.n == n_dig && d.n_end == n_dig, "%u Hz %s: %d of %d digits",
				      rate, law_name[law], d.n, n_dig);
			for (int i = 0; i < d.n && i < n_dig; i++) {
				ivr_check_int_eq(d.digit[i], digits[i]);
				ivr_check_msg(fabs(d.onset_ms[i] - t_on[i]) < 5.0 &&
						      fabs(d.dur_ms[i] - len[i]) < 6.0,
					      "%u Hz %c: onset %.1f (%.1f) ms, %.1f (%.0f) ms long",
					      rate, digits[i], d.onset_ms[i], t_on[i], d.dur_ms[i],
					      len[i]);
			}
			sig_free(&s);
		}
	}
	return IVR_TEST_RESULT();
}

/* A 300 ms '5' in frames 10..24 of 40 at @rate whose frames [@from, @from + @lost) are lost
 * (silence stands in), fed as concealed (or, @plain, as audio).  @return digits; *@dur_ms
 * the last one's duration. */
static int digit_with_loss(uint32_t rate, int from, int lost, bool plain, double *dur_ms)
{
	const uint32_t fr = rate / 50;
	float *x = calloc((size_t)fr * 40, sizeof(float));
	struct ivr_dtmf_cfg cfg = { .rate_hz = rate };
	struct ivr_dtmf_rx *rx = ivr_dtmf_rx_new(&cfg);
	int starts = 0, ends = 0;
	if (!x || !rx || ivr_tone_dtmf_add(x + 10 * fr, 15 * fr, rate, '5', NULL) < 0)
		starts = -100;
	for (int f = 0; f < 40 && starts >= 0; f++) {
		float *p = x + (size_t)f * fr;
		bool gone = f >= from && f < from + lost;
		if (gone)
			memset(p, 0, fr * sizeof(float));
		struct ivr_dtmf_event ev[8];
		int n = gone && !plain ? ivr_dtmf_rx_process_concealed(rx, p, fr, ev, 8)
				       : ivr_dtmf_rx_process(rx, p, fr, ev, 8);
		for (int i = 0; i < n; i++) {
			starts += ev[i].type == IVR_DTMF_EV_START;
			if (ev[i].type == IVR_DTMF_EV_END) {
				ends++;
				*dur_ms = ev[i].duration_samples * 1000.0 / rate;
			}
		}
	}
	ivr_dtmf_rx_free(rx);
	free(x);
	return starts == ends ? starts : -1;
}

/*
 * Lost packets inside a digit (ivr_dtmf_rx_process_concealed()): 1-6 frames of 20 ms whose
 * stand-in is silence (the worst a concealment gives: it fades out within 60 ms) in the middle
 * of a 300 ms digit leave one digit of 300 ms; fed as ordinary audio, 3 frames split it in
 * two (what engine_flow saw under load: a 77 ms digit and a second one).  A digit that ends
 * inside the loss ends at its last real edge; 140 ms of loss is not bridged (100 ms at most).
 */
IVR_TEST(test_concealed_frames_inside_digit)
{
	for (int ri = 0; ri < 2; ri++) {
		const uint32_t rate = rates[ri];
		double dur = 0;
		int n = digit_with_loss(rate, 13, 3, true, &dur);
		ivr_check_msg(n == 2, "%u Hz: 3 lost frames fed as audio: %d digits", rate, n);
		for (int lost = 1; lost <= 6; lost++) {
			n = digit_with_loss(rate, 13, lost, false, &dur);
			ivr_check_msg(n == 1 && fabs(dur - 300.0) < 3.0,
				      "%u Hz, %d frames lost mid-digit: %d digits, %.1f ms", rate,
				      lost, n, dur);
			/* the loss from frame 22 on: the tone's end (frame 25) inside it for 3+ */
			double want = 22 + lost >= 25 ? 240.0 : 300.0;
			n = digit_with_loss(rate, 22, lost, false, &dur);
			ivr_check_msg(n == 1 && fabs(dur - want) < 3.0,
				      "%u Hz, %d frames lost at the end: %d digits, %.1f (%.0f) ms",
				      rate, lost, n, dur, want);
		}
		n = digit_with_loss(rate, 13, 7, false, &dur);
		ivr_check_msg(n == 2, "%u Hz: 140 ms lost: %d digits", rate, n);
	}
	return IVR_TEST_RESULT();
}

/* +-1.5% on one or both tones, same or opposite direction: accepted. */
IVR_TEST(test_freq_accept)
{
	static const float off[][2] = {
		{ 1.5f, 0 },	  { -1.5f, 0 },	   { 0, 1.5f },	    { 0, -1.5f },    { 1.5f, 1.5f },
		{ -1.5f, -1.5f }, { 1.5f, -1.5f }, { -1.5f, 1.5f }, { 1.0f, -0.7f }, { 0.5f, 1.2f },
	};
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law++) {
			for (size_t o = 0; o < IVR_N_ELEMENTS(off); o++) {
				for (const char *c = all_digits; *c; c++) {
					struct ivr_tone_dtmf p = { .level_dbm0 = -10,
								   .low_offset_pct = off[o][0],
								   .high_offset_pct = off[o][1] };
					struct det d;
					int ok = detect_one(rates[ri], law, *c, 50, 37, &p, &d);
					ivr_check_msg(ok, "%c %u Hz %s offsets %+.1f%% %+.1f%%: %d",
						      *c, rates[ri], law_name[law], off[o][0],
						      off[o][1], d.n);
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/* >= +-3.5% on either tone: rejected, also for long tones. */
IVR_TEST(test_freq_reject)
{
	static const float pct[] = { 3.5f, -3.5f, 4.0f, -4.0f, 5.0f, -5.0f };
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law += 2) {
			for (size_t o = 0; o < IVR_N_ELEMENTS(pct); o++) {
				for (int which = 0; which < 3; which++) {
					for (const char *c = all_digits; *c; c++) {
						struct ivr_tone_dtmf p = { .level_dbm0 = -10 };
						if (which != 1)
							p.low_offset_pct = pct[o];
						if (which != 0)
							p.high_offset_pct =
								which == 2 ? -pct[o] : pct[o];
						struct det d;
						detect_one(rates[ri], law, *c, 200, 0, &p, &d);
						ivr_check_msg(d.n == 0,
							      "%c %u Hz %s offsets %+.1f%% "
							      "%+.1f%%: %d (%c) "
							      "digits",
							      *c, rates[ri], law_name[law],
							      p.low_offset_pct, p.high_offset_pct,
							      d.n, d.digit[0]);
					}
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/* Twist (high minus low group) -8..+4 dB accepted, beyond rejected. */
IVR_TEST(test_twist)
{
	static const float accept[] = { -8.0f, -6.0f, -3.0f, 0.0f, 2.0f, 4.0f };
	static const float reject[] = { -9.5f, -10.0f, -14.0f, 5.5f, 6.0f, 10.0f };
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law++) {
			for (const char *c = all_digits; *c; c++) {
				struct det d;
				for (size_t i = 0; i < IVR_N_ELEMENTS(accept); i++) {
					struct ivr_tone_dtmf p = { .level_dbm0 = -6,
								   .twist_db = accept[i] };
					int ok = detect_one(rates[ri], law, *c, 50, 11, &p, &d);
					ivr_check_msg(ok, "%c %u Hz %s twist %+.1f dB missed", *c,
						      rates[ri], law_name[law], accept[i]);
				}
				for (size_t i = 0; i < IVR_N_ELEMENTS(reject); i++) {
					struct ivr_tone_dtmf p = { .level_dbm0 = -6,
								   .twist_db = reject[i] };
					detect_one(rates[ri], law, *c, 100, 11, &p, &d);
					ivr_check_msg(d.n == 0,
						      "%c %u Hz %s twist %+.1f dB accepted", *c,
						      rates[ri], law_name[law], reject[i]);
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/* 0..-25 dBm0 per tone detected; -55 dBm0 and below rejected. */
IVR_TEST(test_level)
{
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law++) {
			for (const char *c = all_digits; *c; c++) {
				struct det d;
				for (float lv = 0.0f; lv >= -25.0f; lv -= 2.5f) {
					struct ivr_tone_dtmf p = { .level_dbm0 = lv };
					int ok = detect_one(rates[ri], law, *c, 50, 5, &p, &d);
					ivr_check_msg(ok, "%c %u Hz %s at %.1f dBm0 missed", *c,
						      rates[ri], law_name[law], lv);
				}
				static const float low[] = { -55.0f, -60.0f, -70.0f };
				for (size_t i = 0; i < IVR_N_ELEMENTS(low); i++) {
					struct ivr_tone_dtmf p = { .level_dbm0 = low[i] };
					detect_one(rates[ri], law, *c, 100, 5, &p, &d);
					ivr_check_msg(d.n == 0, "%c %u Hz %s at %.1f dBm0 detected",
						      *c, rates[ri], law_name[law], low[i]);
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/* The limits together: extreme level, twist and offsets at once, 40 ms,
 * at both rates, each law (levels are those of the louder tone; 0 dBm0
 * pairs are left out of G.711, whose +3 dBm0 load clips them). */
IVR_TEST(test_combined_limits)
{
	static const float lv[] = { 0, -25 };
	static const float tw[] = { -8, 4 };
	static const float of[][2] = {
		{ 0, 0 }, { 1.5f, 1.5f }, { -1.5f, -1.5f }, { 1.5f, -1.5f }, { -1.5f, 1.5f },
	};
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law++) {
			for (size_t li = 0; li < 2; li++) {
				if (law && lv[li] == 0)
					continue;
				for (size_t ti = 0; ti < 2; ti++) {
					for (size_t oi = 0; oi < IVR_N_ELEMENTS(of); oi++) {
						for (int d = 0; d < 16; d++) {
							struct ivr_tone_dtmf p = {
								.level_dbm0 =
									lv[li] -
									(tw[ti] > 0 ? tw[ti] : 0),
								.twist_db = tw[ti],
								.low_offset_pct = of[oi][0],
								.high_offset_pct = of[oi][1],
							};
							struct det dd;
							int ok = detect_one(
								rates[ri], law, all_digits[d], 40,
								(size_t)(d * 7 + oi), &p, &dd);
							ivr_check_msg(ok,
								      "%c %u Hz %s low %.0f dBm0 "
								      "twist %+.0f "
								      "offsets %+.1f%% %+.1f%%: %d",
								      all_digits[d], rates[ri],
								      law_name[law], p.level_dbm0,
								      tw[ti], of[oi][0], of[oi][1],
								      dd.n);
						}
					}
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/* Every tone >= 40 ms detected at every alignment (each sample offset of a
 * 5 ms sub-block and beyond), with onset and duration right. */
IVR_TEST(test_duration_accept)
{
	static const double ms[] = { 40, 41, 45, 60, 200 };
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law += 1) {
			size_t sub = rates[ri] / 200;
			for (size_t m = 0; m < IVR_N_ELEMENTS(ms); m++) {
				for (size_t pre = 0; pre < 2 * sub; pre += (law ? 7 : 1)) {
					char c = all_digits[pre % 16];
					struct ivr_tone_dtmf p = { .level_dbm0 = -12,
								   .twist_db = 2 };
					struct det d;
					int ok = detect_one(rates[ri], law, c, ms[m], pre, &p, &d);
					ivr_check_msg(ok, "%u Hz %s %.0f ms at +%zu: %d", rates[ri],
						      law_name[law], ms[m], pre, d.n);
					if (!ok)
						continue;
					double t0 = pre * 1000.0 / rates[ri];
					ivr_check_near(d.onset_ms[0], t0, 3.0);
					ivr_check_near(d.dur_ms[0], ms[m], 3.0);
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/* Never a tone <= 23 ms, at any alignment, at any level or twist. */
IVR_TEST(test_duration_reject)
{
	static const double ms[] = { 23, 20, 15, 10, 5 };
	static const float lv[][2] = { { -10, 0 }, { 0, 0 }, { -25, 0 }, { -6, -8 }, { -8, 4 } };
	for (int ri = 0; ri < 2; ri++) {
		size_t sub = rates[ri] / 200;
		for (int law = 0; law < 3; law++) {
			for (size_t m = 0; m < IVR_N_ELEMENTS(ms); m++) {
				for (size_t l = 0; l < IVR_N_ELEMENTS(lv); l++) {
					for (size_t pre = 0; pre < 2 * sub; pre++) {
						if (law && pre % 3)
							continue;
						char c = all_digits[(pre + l) % 16];
						struct ivr_tone_dtmf p = { .level_dbm0 = lv[l][0],
									   .twist_db = lv[l][1] };
						struct det d;
						detect_one(rates[ri], law, c, ms[m], pre, &p, &d);
						ivr_check_msg(d.n == 0, "%u Hz %s %.0f ms at +%zu",
							      rates[ri], law_name[law], ms[m], pre);
					}
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

/* A 40 ms pause separates two digits (even the same digit); a dropout of
 * <= 10 ms does not; at every alignment. */
IVR_TEST(test_pause_and_dropout)
{
	for (int ri = 0; ri < 2; ri++) {
		size_t sub = rates[ri] / 200;
		for (int law = 0; law < 3; law++) {
			for (size_t pre = 0; pre < 2 * sub; pre += 3) {
				static const double gaps[] = { 40, 10, 5, 2 };
				for (size_t g = 0; g < IVR_N_ELEMENTS(gaps); g++) {
					char c = all_digits[pre % 16];
					struct sig s;
					struct det d;
					sig_init(&s, rates[ri], 1.0);
					sig_silence(&s, pre);
					sig_digit(&s, c, ms_to_n(&s, 60), NULL);
					sig_silence(&s, ms_to_n(&s, gaps[g]));
					sig_digit(&s, c, ms_to_n(&s, 60), NULL);
					ivr_speech_g711(s.x, s.n, law);
					detect(&s, &d);
					int want = gaps[g] >= 40 ? 2 : 1;
					ivr_check_msg(d.n == want && d.n_end == want,
						      "%u Hz %s gap %.0f ms at +%zu: %d digits",
						      rates[ri], law_name[law], gaps[g], pre, d.n);
					if (want == 1 && d.n_end == 1)
						ivr_check_near(d.dur_ms[0], 120 + gaps[g], 4.0);
					sig_free(&s);
				}
			}
		}
	}
	return IVR_TEST_RESULT();
}

static void random_digits(char *out, int n)
{
	for (int i = 0; i < n; i++)
		out[i] = all_digits[(int)(urand() * 16) & 15];
	out[n] = 0;
}

/* @s at @rate: @n random digits (written to @want), each @on_ms long at @p
 * after 50 ms of silence, then 50 ms of silence. */
static void sig_random_digits(struct sig *s, uint32_t rate, char *want, int n, double on_ms,
			      const struct ivr_tone_dtmf *p)
{
	random_digits(want, n);
	sig_init(s, rate, n * 0.1 + 1);
	for (int i = 0; i < n; i++) {
		sig_silence(s, ms_to_n(s, 50));
		sig_digit(s, want[i], ms_to_n(s, on_ms), p);
	}
	sig_silence(s, ms_to_n(s, 50));
}

/* How many of the first @n detected digits differ from @want. */
static int n_wrong(const struct det *d, const char *want, int n)
{
	int bad = 0;
	for (int i = 0; i < d->n && i < n; i++)
		bad += d->digit[i] != want[i];
	return bad;
}

/* 93 ms per digit (40 on / 53 off): 100% correct, in order. */
IVR_TEST(test_sequence_40_53)
{
	enum { N = 400 };
	char want[N + 1];
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law++) {
			struct sig s;
			struct det d;
			random_digits(want, N);
			sig_init(&s, rates[ri], N * 0.1 + 1);
			sig_silence(&s, 17);
			for (int i = 0; i < N; i++) {
				struct ivr_tone_dtmf p = { .level_dbm0 =
								   -4.0f - 20.0f * (float)urand(),
							   .twist_db =
								   3.0f - 6.0f * (float)urand() };
				sig_digit(&s, want[i], ms_to_n(&s, 40), &p);
				sig_silence(&s, ms_to_n(&s, 53));
			}
			ivr_speech_g711(s.x, s.n, law);
			detect(&s, &d);
			ivr_check_msg(d.n == N && d.n_end == N, "%u Hz %s: %d of %d", rates[ri],
				      law_name[law], d.n, N);
			for (int i = 0; i < d.n && i < N; i++)
				ivr_check_near(d.onset_ms[i], 17000.0 / rates[ri] + 93.0 * i, 20.0);
			ivr_check_int_eq(n_wrong(&d, want, N), 0);
			sig_free(&s);
		}
	}
	return IVR_TEST_RESULT();
}

/* @s through @law: exactly the @n digits of @want detected, in order. */
static void check_train(struct sig *s, int law, const char *want, int n)
{
	struct det d;
	ivr_speech_g711(s->x, s->n, law);
	detect(s, &d);
	int bad = n_wrong(&d, want, n);
	ivr_check_msg(d.n == n && bad == 0, "%u Hz %s: %d detected, %d wrong", s->rate,
		      law_name[law], d.n, bad);
}

/* White noise at 15 dB SNR: 1000 of 1000 digits, nothing extra. */
IVR_TEST(test_noise_15db)
{
	enum { N = 1000 };
	char want[N + 1];
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 2; law++) {
			struct sig s;
			/* -13 dBm0 per tone: -10 dBm0 together; noise 15 dB below that */
			struct ivr_tone_dtmf p = { .level_dbm0 = -13 };
			sig_random_digits(&s, rates[ri], want, N, 50, &p);
			double rms0 = IVR_DBM0_RMS_S16 / 32768.0;
			double sig_pow = 2 * rms0 * rms0 * pow(10.0, -13.0 / 10.0);
			double sd = sqrt(sig_pow / pow(10.0, 15.0 / 10.0));
			for (size_t i = 0; i < s.n; i++)
				s.x[i] += (float)(sd * grand());
			check_train(&s, law, want, N);
			sig_free(&s);
		}
	}
	return IVR_TEST_RESULT();
}

/* Dial tone (350 + 440 Hz) 10 dB below the digits, all the time. */
IVR_TEST(test_dial_tone)
{
	enum { N = 64 };
	char want[N + 1];
	for (int ri = 0; ri < 2; ri++) {
		for (int law = 0; law < 3; law++) {
			struct sig s;
			struct det d;
			struct ivr_tone_dtmf p = { .level_dbm0 = -10 };
			sig_random_digits(&s, rates[ri], want, N, 45, &p);
			/* digits -10 dBm0 per tone; each dial tone -20 dBm0 */
			ivr_check_int_eq(ivr_tone_sine_add(s.x, s.n, s.rate, 350, -20, NULL), 0);
			ivr_check_int_eq(ivr_tone_sine_add(s.x, s.n, s.rate, 440, -20, NULL), 0);
			check_train(&s, law, want, N);
			/* dial tone alone: nothing */
			memset(s.x, 0, s.n * sizeof(float));
			ivr_check_int_eq(ivr_tone_sine_add(s.x, s.n, s.rate, 350, -10, NULL), 0);
			ivr_check_int_eq(ivr_tone_sine_add(s.x, s.n, s.rate, 440, -10, NULL), 0);
			ivr_speech_g711(s.x, s.n, law);
			detect(&s, &d);
			ivr_check_int_eq(d.n, 0);
			sig_free(&s);
		}
	}
	return IVR_TEST_RESULT();
}

/* ---- talk-off ---------------------------------------------------------- */

/* Count digits detected in @a at @rate through each law, at the file's
 * level and normalised to a loud -10 dBm0 RMS. */
static int talkoff_count(const struct ivr_audio *a, const char *what)
{
	int total = 0;
	double rms = sqrt(ivr_speech_ms(a->samples, a->n_samples));
	double rms0 = IVR_DBM0_RMS_S16 / 32768.0;
	float *x = malloc((a->n_samples ? a->n_samples : 1) * sizeof(float));
	for (int gain_i = 0; gain_i < 2; gain_i++) {
		double g = gain_i == 0 || rms <= 0 ? 1.0 : rms0 * pow(10.0, -10.0 / 20.0) / rms;
		for (int law = 0; law < 3; law++) {
			for (size_t i = 0; i < a->n_samples; i++)
				x[i] = (float)(a->samples[i] * g);
			ivr_speech_g711(x, a->n_samples, law);
			struct det d;
			detect_chunked(a->rate_hz, x, a->n_samples, 0, &d, 0);
			if (d.n)
				fprintf(stderr,
					"  talk-off: %s %u Hz %s gain %.1f dB: %d digits (%c at "
					"%.0f ms)\n",
					what, a->rate_hz, law_name[law], 20 * log10(g), d.n,
					d.digit[0], d.onset_ms[0]);
			total += d.n;
		}
	}
	free(x);
	return total;
}

/* Talk-off over one recording read at 8 and 16 kHz: a WAV file, or (@raw)
 * headerless 16 kHz PCM.  @return digits detected, -1 when unreadable. */
static int talkoff_file(const char *path, int raw, double *seconds)
{
	int total = 0;
	for (int ri = 0; ri < 2; ri++) {
		struct ivr_audio a;
		char err[200] = "cannot read";
		int r = raw ? ivr_speech_read_raw16k(&a, path, rates[ri])
			    : ivr_wav_read(&a, path, rates[ri], err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "  %s: %s\n", path, err);
			return -1;
		}
		if (ri == 0)
			*seconds += (double)a.n_samples / a.rate_hz;
		total += talkoff_count(&a, path);
		ivr_audio_free(&a);
	}
	return total;
}

IVR_TEST(test_talkoff_recorded_speech)
{
	double seconds = 0;
	int found = 0, total = 0;
	for (int raw = 0; raw < 2; raw++) {
		const char *const *names = raw ? ivr_speech_ps_raws : ivr_speech_ps_wavs;
		const size_t n = raw ? IVR_N_ELEMENTS(ivr_speech_ps_raws)
				     : IVR_N_ELEMENTS(ivr_speech_ps_wavs);
		for (size_t i = 0; i < n; i++) {
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", IVR_SPEECH_PS_DIR, names[i]);
			if (access(path, R_OK) != 0)
				continue;
			found++;
			int r = talkoff_file(path, raw, &seconds);
			ivr_check(r >= 0);
			if (r > 0)
				total += r;
		}
	}
	if (!found) {
		printf("  note: pocketsphinx-testdata not installed, skipped\n");
		return IVR_TEST_SKIP;
	}
	printf("  %.0f s of recorded speech x 2 rates x 3 laws x 2 levels: %d digits\n", seconds,
	       total);
	ivr_check_int_eq(total, 0);
	return IVR_TEST_RESULT();
}

static const char talk_text[] =
	"Thank you for calling. Your call is important to us. For billing, press one or say "
	"billing. To hear your balance, say balance. Zero, one, two, three, four, five, six, "
	"seven, eight, nine, oh, star, pound, hash. Please hold while we transfer you to the "
	"next available agent. Sorry, I did not understand that. Please say yes or no. "
	"The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
	"Beep boop, hmm, eee, ooo, aaah, mmmmm, nine nine nine, eight eight eight.";

static int talkoff_synth(const char *prog, const char *fmt)
{
	char dir[] = "/tmp/ivr_dtmf_talkoff_XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	char wav[600], txt[600], cmd[2000];
	snprintf(wav, sizeof(wav), "%s/speech.wav", dir);
	snprintf(txt, sizeof(txt), "%s/text.txt", dir);
	FILE *f = fopen(txt, "w");
	if (!f)
		return -1;
	fputs(talk_text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), fmt, prog, txt, wav);
	int total = -1;
	double seconds = 0;
	if (system(cmd) == 0) {
		total = talkoff_file(wav, 0, &seconds);
		printf("  %s: %.0f s of speech x 2 rates x 3 laws x 2 levels: %d digits\n", prog,
		       seconds, total);
	}
	unlink(wav);
	unlink(txt);
	rmdir(dir);
	return total;
}

static int have_prog(const char *name)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

IVR_TEST(test_talkoff_espeak)
{
	if (!have_prog("espeak-ng")) {
		printf("  note: espeak-ng not installed, skipped\n");
		return IVR_TEST_SKIP;
	}
	int total = 0;
	/* two voices and speeds: male default and a female variant, slower */
	int r = talkoff_synth("espeak-ng", "%s -f %s -w %s 2>/dev/null");
	ivr_check(r >= 0);
	total += r > 0 ? r : 0;
	r = talkoff_synth("espeak-ng", "%s -v en+f3 -s 130 -f %s -w %s 2>/dev/null");
	ivr_check(r >= 0);
	total += r > 0 ? r : 0;
	ivr_check_int_eq(total, 0);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_talkoff_flite)
{
	if (!have_prog("flite")) {
		printf("  note: flite not installed, skipped\n");
		return IVR_TEST_SKIP;
	}
	int r = talkoff_synth("flite", "%s -f %s -o %s 2>/dev/null");
	ivr_check(r == 0);
	return IVR_TEST_RESULT();
}

/* Music-like signals: chord progressions (notes with harmonics), arpeggios,
 * sweeps. */
IVR_TEST(test_talkoff_music)
{
	static const int chords[][4] = {
		{ 0, 4, 7, -1 }, { 0, 3, 7, -1 }, { 0, 4, 7, 10 }, { 0, 3, 7, 10 },
		{ 0, 4, 7, 11 }, { 0, 5, 7, -1 }, { 0, 3, 6, 9 },  { 0, 4, 8, -1 },
	};
	int total = 0;
	for (int ri = 0; ri < 2; ri++) {
		uint32_t rate = rates[ri];
		struct ivr_audio a = { .rate_hz = rate };
		size_t chord_n = rate / 4; /* 250 ms per chord */
		size_t n_chords = 0;
		/* every root over three octaves, every chord shape */
		size_t cap = 36 * IVR_N_ELEMENTS(chords) * chord_n + 12 * rate;
		a.samples = calloc(cap, sizeof(float));
		for (int root = 0; root < 36; root++) {
			for (size_t c = 0; c < IVR_N_ELEMENTS(chords); c++, n_chords++) {
				float *x = a.samples + n_chords * chord_n;
				for (int v = 0; v < 4 && chords[c][v] >= 0; v++) {
					/* C4 = 261.63 Hz .. */
					double f0 = 261.63 * pow(2.0, (root + chords[c][v]) / 12.0);
					for (int hm = 1; hm <= 5; hm++) {
						double f = f0 * hm;
						if (f >= rate / 2.0 - 100)
							break;
						double amp = 0.08 / hm;
						for (size_t i = 0; i < chord_n; i++) {
							double t = (double)i / rate;
							/* plucked envelope plus vibrato */
							double env =
								exp(-3.0 * t) * (1 - exp(-200 * t));
							double ph =
								2 * M_PI * f * t +
								0.3 * hm * sin(2 * M_PI * 5 * t);
							x[i] += (float)(amp * env * sin(ph));
						}
					}
				}
			}
		}
		size_t n = n_chords * chord_n;
		/* sweeps: linear 200..3400 Hz in 3 s, log 300..3400 Hz in 3 s, and a
		 * sweep with harmonics (synth lead glide) */
		for (int sw = 0; sw < 3; sw++) {
			size_t len = 3 * rate;
			double f1 = sw == 0 ? 200 : 300, f2 = 3400, ph = 0;
			for (size_t i = 0; i < len; i++) {
				double t = (double)i / len;
				double f = sw == 0 ? f1 + (f2 - f1) * t : f1 * pow(f2 / f1, t);
				if (sw == 2)
					f = 300 + 600 * t;
				ph += 2 * M_PI * f / rate;
				double v = 0.3 * sin(ph);
				if (sw == 2)
					v = 0.2 * sin(ph) + 0.1 * sin(2 * ph) + 0.07 * sin(3 * ph);
				a.samples[n + i] = (float)v;
			}
			n += len;
		}
		a.n_samples = n;
		total += talkoff_count(&a, "music");
		free(a.samples);
	}
	ivr_check_int_eq(total, 0);
	return IVR_TEST_RESULT();
}

/* ---- ivr-dtmf tool (DESIGN.md section 2 contract) ----------------------- */

static int run_tool(const char *tool, const char *args, char *out, size_t out_len)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", tool, args);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, out_len - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

IVR_TEST(test_tool_cli)
{
	char tool[600], out[4096];
	const char *bd = getenv("IVR_BUILD_DIR");
	snprintf(tool, sizeof(tool), "%s/tools/ivr-dtmf", bd ? bd : ".");
	if (access(tool, X_OK) != 0) {
		printf("  note: %s not built, skipped\n", tool);
		return IVR_TEST_SKIP;
	}
	char dir[] = "/tmp/ivr_dtmf_cli_XXXXXX";
	if (!mkdtemp(dir))
		return IVR_TEST_FAIL;
	/* "1#9" at 300, 480, 660 ms: PCM16 8 kHz, mu-law 8 kHz, float 16 kHz
	 * (kept) and PCM16 44.1 kHz (resampled to 8 kHz) */
	static const struct {
		uint32_t rate;
		enum ivr_wav_format fmt;
	} files[] = { { 8000, IVR_WAV_PCM16 },
		      { 8000, IVR_WAV_ULAW },
		      { 16000, IVR_WAV_FLOAT32 },
		      { 44100, IVR_WAV_PCM16 } };
	for (size_t f = 0; f < IVR_N_ELEMENTS(files); f++) {
		uint32_t rate = files[f].rate;
		size_t n = rate; /* 1 s */
		float *x = calloc(n, sizeof(float));
		static const char digits[] = "1#9";
		for (int i = 0; i < 3; i++) {
			size_t at = (size_t)((300 + 180 * i) * (double)rate / 1000);
			size_t len = (size_t)(0.08 * rate);
			/* the generator is 8/16 kHz: synthesize 44.1 kHz directly */
			float fl, fh;
			ivr_check_int_eq(ivr_tone_dtmf_freqs(digits[i], &fl, &fh), 0);
			double a = ivr_tone_dbm0_to_amp(-10);
			for (size_t k = 0; k < len; k++)
				x[at + k] = (float)(a * sin(2 * M_PI * fl * k / rate) +
						    a * sin(2 * M_PI * fh * k / rate));
		}
		char path[700], args[800];
		snprintf(path, sizeof(path), "%s/d%zu.wav", dir, f);
		ivr_check_int_eq(ivr_wav_write(path, x, n, rate, files[f].fmt), 0);
		free(x);
		snprintf(args, sizeof(args), "'%s'", path);
		int rc = run_tool(tool, args, out, sizeof(out));
		ivr_check_int_eq(rc, 0);
		unsigned ms[4];
		char d[4];
		int got = sscanf(out, "%u %c\n%u %c\n%u %c\n%u %c", &ms[0], &d[0], &ms[1], &d[1],
				 &ms[2], &d[2], &ms[3], &d[3]);
		ivr_check_msg(got == 6, "%u Hz: output \"%s\"", rate, out);
		for (int i = 0; i < 3 && got == 6; i++) {
			ivr_check_int_eq(d[i], digits[i]);
			ivr_check_near(ms[i], 300 + 180 * i, 20);
		}
		unlink(path);
	}
	/* contract: --help exits 0; bad usage and unreadable files exit 2 */
	ivr_check_int_eq(run_tool(tool, "--help", out, sizeof(out)), 0);
	ivr_check(strstr(out, "usage") != NULL);
	ivr_check_int_eq(run_tool(tool, "", out, sizeof(out)), 2);
	ivr_check_int_eq(run_tool(tool, "a b", out, sizeof(out)), 2);
	ivr_check_int_eq(run_tool(tool, "--bogus", out, sizeof(out)), 2);
	char args[800], path[700];
	snprintf(args, sizeof(args), "'%s/missing.wav'", dir);
	ivr_check_int_eq(run_tool(tool, args, out, sizeof(out)), 2);
	snprintf(path, sizeof(path), "%s/junk.wav", dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("not a wav file at all", f);
		fclose(f);
	}
	snprintf(args, sizeof(args), "'%s'", path);
	ivr_check_int_eq(run_tool(tool, args, out, sizeof(out)), 2);
	ivr_check_int_eq(strlen(out), 0);
	unlink(path);
	rmdir(dir);
	return IVR_TEST_RESULT();
}

/* ---- API and bad input ------------------------------------------------- */

IVR_TEST(test_bad_config)
{
	struct ivr_dtmf_cfg bad_rate = { .rate_hz = 44100 };
	struct ivr_dtmf_cfg bad_thr = { .threshold_dbm0 = 5.0f };
	struct ivr_dtmf_cfg nan_thr = { .threshold_dbm0 = NAN };
	ivr_check_int_eq(ivr_dtmf_rx_size(&bad_rate), 0);
	ivr_check(ivr_dtmf_rx_size(NULL) > 0);
	size_t sz = ivr_dtmf_rx_size(NULL);
	void *mem = aligned_alloc(64, IVR_ROUND_UP(sz, 64));
	ivr_check_int_eq(ivr_dtmf_rx_init(mem, sz, &bad_rate), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_init(mem, sz, &bad_thr), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_init(mem, sz, &nan_thr), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_init(mem, sz - 1, NULL), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_init(NULL, sz, NULL), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_init(mem, sz, NULL), 0);
	ivr_check_int_eq(ivr_dtmf_rx_rate(mem), 8000);
	errno = 0;
	ivr_check(ivr_dtmf_rx_new(&bad_rate) == NULL && errno == EINVAL);
	ivr_dtmf_rx_free(NULL);
	free(mem);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_bad_input)
{
	struct ivr_dtmf_rx *rx = ivr_dtmf_rx_new(NULL);
	struct ivr_dtmf_event ev[4];
	float x[160] = { 0 };
	ivr_check_int_eq(ivr_dtmf_rx_process(rx, NULL, 10, ev, 4), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_process(NULL, x, 10, ev, 4), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_process(rx, x, 10, NULL, 4), -EINVAL);
	ivr_check_int_eq(ivr_dtmf_rx_process(rx, NULL, 0, ev, 4), 0);
	ivr_check_int_eq(ivr_dtmf_rx_process(rx, x, 0, ev, 4), 0);
	ivr_check_int_eq(ivr_dtmf_rx_process(rx, x, 160, NULL, 0), 0);
	ivr_dtmf_rx_free(rx);

	/* NaN / Inf / huge bursts between digits: no crash, digits around them
	 * still detected, nothing invented */
	for (int ri = 0; ri < 2; ri++) {
		struct sig s;
		struct det d;
		sig_init(&s, rates[ri], 2.0);
		sig_digit(&s, '5', ms_to_n(&s, 60), NULL);
		sig_silence(&s, ms_to_n(&s, 60));
		size_t at = s.n;
		sig_silence(&s, ms_to_n(&s, 30));
		s.x[at] = NAN;
		s.x[at + 7] = INFINITY;
		s.x[at + 50] = -INFINITY;
		s.x[at + 90] = 1e30f;
		sig_silence(&s, ms_to_n(&s, 60));
		sig_digit(&s, '9', ms_to_n(&s, 100), NULL);
		/* NaN inside a recognised digit: one 5 ms sub-block of silence,
		 * a dropout, the digit goes on */
		s.x[s.n - ms_to_n(&s, 30)] = NAN;
		sig_silence(&s, ms_to_n(&s, 60));
		detect(&s, &d);
		ivr_check_msg(d.n == 2 && d.digit[0] == '5' && d.digit[1] == '9',
			      "%u Hz: %d digits", rates[ri], d.n);
		ivr_check(d.n_end == 2 && fabs(d.dur_ms[1] - 100) < 3);
		/* clipped: 0 dBm0 tones hard-clipped at 0.5 full scale (harsh) and
		 * a full-scale square-ish signal: defined results, no crash */
		memset(s.x, 0, s.cap * sizeof(float));
		s.n = 0;
		struct ivr_tone_dtmf loud = { .level_dbm0 = 0 };
		sig_digit(&s, '3', ms_to_n(&s, 80), &loud);
		sig_silence(&s, ms_to_n(&s, 80));
		for (size_t i = 0; i < s.n; i++)
			s.x[i] = IVR_CLAMP(s.x[i], -0.6f, 0.6f);
		detect(&s, &d);
		ivr_check_msg(d.n == 1 && d.digit[0] == '3', "%u Hz clipped: %d", rates[ri], d.n);
		for (size_t i = 0; i < s.n; i++)
			s.x[i] = (i / 7) % 2 ? 1.0f : -1.0f;
		detect(&s, &d);
		ivr_check_int_eq(d.n, 0);
		sig_free(&s);
	}
	return IVR_TEST_RESULT();
}

/* Chunk size does not matter; memcpy clones; reset restarts; events wait. */
IVR_TEST(test_state)
{
	struct sig s;
	sig_init(&s, 8000, 3.0);
	char want[17];
	random_digits(want, 16);
	for (int i = 0; i < 16; i++) {
		sig_silence(&s, 333);
		sig_digit(&s, want[i], 400, NULL);
	}
	struct det ref, d;
	detect(&s, &ref);
	ivr_check_int_eq(ref.n, 16);
	static const size_t chunks[] = { 1, 7, 39, 40, 41, 160, 333, 1000 };
	for (size_t c = 0; c < IVR_N_ELEMENTS(chunks); c++) {
		detect_chunked(8000, s.x, s.n, chunks[c], &d, 0);
		ivr_check_int_eq(d.n, ref.n);
		for (int i = 0; i < d.n && i < ref.n; i++) {
			ivr_check_int_eq(d.digit[i], ref.digit[i]);
			ivr_check_near(d.onset_ms[i], ref.onset_ms[i], 0.5);
		}
	}
	/* C reference vs SIMD kernel: same digits and onsets */
	detect_chunked(8000, s.x, s.n, 0, &d, 1);
	ivr_check_int_eq(d.n, ref.n);
	for (int i = 0; i < d.n && i < ref.n; i++)
		ivr_check_near(d.onset_ms[i], ref.onset_ms[i], 0.5);

	/* memcpy clone half way: both copies report the same second half */
	size_t sz = ivr_dtmf_rx_size(NULL);
	struct ivr_dtmf_rx *a = ivr_dtmf_rx_new(NULL);
	struct ivr_dtmf_rx *b = aligned_alloc(64, IVR_ROUND_UP(sz, 64));
	struct ivr_dtmf_event ea[64], eb[64];
	size_t half = s.n / 2;
	int na = ivr_dtmf_rx_process(a, s.x, half, ea, 64);
	memcpy(b, a, sz);
	int ra = ivr_dtmf_rx_process(a, s.x + half, s.n - half, ea, 64);
	int rb = ivr_dtmf_rx_process(b, s.x + half, s.n - half, eb, 64);
	ivr_check(na > 0);
	ivr_check_int_eq(ra, rb);
	for (int i = 0; i < ra && i < rb; i++) {
		ivr_check_int_eq(ea[i].digit, eb[i].digit);
		ivr_check_int_eq(ea[i].onset_sample, eb[i].onset_sample);
	}
	/* reset: positions restart at 0 */
	ivr_dtmf_rx_reset(a);
	int r = ivr_dtmf_rx_process(a, s.x, 2000, ea, 64);
	ivr_check(r >= 1);
	ivr_check(r >= 1 && ea[0].onset_sample < 400 && ea[0].digit == want[0]);
	/* events wait when the caller gives no room, up to 16 */
	ivr_dtmf_rx_reset(a);
	r = ivr_dtmf_rx_process(a, s.x, s.n / 4, NULL, 0);
	ivr_check_int_eq(r, 0);
	r = ivr_dtmf_rx_process(a, s.x, 0, ea, 64);
	ivr_check(r >= 4);
	ivr_check(r >= 1 && ea[0].type == IVR_DTMF_EV_START && ea[0].digit == want[0]);
	ivr_dtmf_rx_free(a);
	free(b);
	sig_free(&s);
	return IVR_TEST_RESULT();
}

/* The C kernel against a scalar double-precision sum, and the SIMD kernel
 * against the C one, at odd lengths (tails). */
IVR_TEST(test_kernel_simd)
{
	static const size_t lens[] = { 0, 1, 2, 3, 5, 40, 77, 80, 333, 513 };
	float(*tab)[16] = malloc(513 * sizeof(*tab));
	float *x = malloc(513 * sizeof(float));
	for (size_t i = 0; i < 513; i++) {
		x[i] = (float)(urand() * 2 - 1);
		for (int k = 0; k < 16; k++)
			tab[i][k] = (float)(urand() * 2 - 1);
	}
#if IVR_HAVE_SIMD
	int simd = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	int simd = 0;
#endif
	for (size_t l = 0; l < IVR_N_ELEMENTS(lens); l++) {
		float a[IVR_DTMF_KERNEL_ACC], b[IVR_DTMF_KERNEL_ACC];
		double ref[IVR_DTMF_KERNEL_ACC];
		for (int k = 0; k < IVR_DTMF_KERNEL_ACC; k++)
			a[k] = b[k] = (float)(ref[k] = k);
		for (size_t i = 0; i < lens[l]; i++) {
			for (int k = 0; k < 16; k++)
				ref[k] += (double)x[i] * tab[i][k];
			ref[16] += (double)x[i] * x[i];
		}
		ivr_dtmf_kernel_c(a, (const float(*)[16])tab, x, lens[l]);
		for (int k = 0; k < IVR_DTMF_KERNEL_ACC; k++)
			ivr_check_near(a[k], ref[k], 1e-4 * (1 + fabs(ref[k])));
#if IVR_HAVE_SIMD
		if (simd) {
			ivr_dtmf_kernel_avx2(b, (const float(*)[16])tab, x, lens[l]);
			for (int k = 0; k < IVR_DTMF_KERNEL_ACC; k++)
				ivr_check_near(a[k], b[k], 1e-4 * (1 + fabs(a[k])));
		}
#endif
		(void)b;
	}
	if (!simd)
		printf("  note: no AVX2/FMA build or CPU: C kernel checked only\n");
	free(tab);
	free(x);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_all_digits);
	ivr_test_run(test_freq_accept);
	ivr_test_run(test_freq_reject);
	ivr_test_run(test_low_voice_between_digits);
	ivr_test_run(test_concealed_frames_inside_digit);
	ivr_test_run(test_twist);
	ivr_test_run(test_level);
	ivr_test_run(test_combined_limits);
	ivr_test_run(test_duration_accept);
	ivr_test_run(test_duration_reject);
	ivr_test_run(test_pause_and_dropout);
	ivr_test_run(test_sequence_40_53);
	ivr_test_run(test_noise_15db);
	ivr_test_run(test_dial_tone);
	ivr_test_run(test_talkoff_recorded_speech);
	ivr_test_run(test_talkoff_espeak);
	ivr_test_run(test_talkoff_flite);
	ivr_test_run(test_talkoff_music);
	ivr_test_run(test_tool_cli);
	ivr_test_run(test_bad_config);
	ivr_test_run(test_bad_input);
	ivr_test_run(test_state);
	ivr_test_run(test_kernel_simd);
	return ivr_test_summary();
}
