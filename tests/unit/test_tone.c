/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_tone.c - DTMF/tone generator and in-band sender: levels
 * in dBm0 (also after G.711), twist, frequency offsets, durations and ramps
 * measured on the generated signal with an independent DFT
 * (tests/harness/ivr_dft.h); the sender's queue, timing, frame-size
 * independence, memcpy cloning and a round trip through the detector
 * (dsp/dtmf.h); bad input.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "dsp/dtmf.h"
#include "dsp/g711.h"
#include "dsp/tone.h"
#include "ivr_dft.h"
#include "ivr_test.h"

static const char all_digits[] = "0123456789*#ABCD";
static const uint32_t rates[2] = { 8000, 16000 };

/* Frequency of the strongest component within +-@span Hz of @f (0.05 Hz grid
 * refinement by golden-section-free scanning: coarse 1 Hz, then fine). */
static double peak_near(const float *x, size_t n, uint32_t rate, double f, double span)
{
	double best = f, bv = -1;
	for (double g = f - span; g <= f + span; g += 1.0) {
		double v = ivr_dft_amp(x, n, rate, g);
		if (v > bv) {
			bv = v;
			best = g;
		}
	}
	double c = best;
	for (double g = c - 1.0; g <= c + 1.0; g += 0.05) {
		double v = ivr_dft_amp(x, n, rate, g);
		if (v > bv) {
			bv = v;
			best = g;
		}
	}
	return best;
}

static double to_dbm0(double amp)
{
	return 20 * log10(amp / ivr_tone_dbm0_to_amp(0));
}

IVR_TEST(test_freqs)
{
	static const float lo[16] = { 941, 697, 697, 697, 770, 770, 770, 852,
				      852, 852, 941, 941, 697, 770, 852, 941 };
	static const float hi[16] = { 1336, 1209, 1336, 1477, 1209, 1336, 1477, 1209,
				      1336, 1477, 1209, 1477, 1633, 1633, 1633, 1633 };
	for (int i = 0; i < 16; i++) {
		float l = 0, h = 0;
		ivr_check_int_eq(ivr_tone_dtmf_freqs(all_digits[i], &l, &h), 0);
		ivr_check_near(l, lo[i], 0);
		ivr_check_near(h, hi[i], 0);
	}
	float l, h;
	ivr_check_int_eq(ivr_tone_dtmf_freqs('b', &l, &h), 0);
	ivr_check_near(l, 770, 0);
	static const char bad[] = "EeXx+-,. ";
	for (const char *c = bad; *c; c++)
		ivr_check_int_eq(ivr_tone_dtmf_freqs(*c, &l, &h), -EINVAL);
	ivr_check_int_eq(ivr_tone_dtmf_freqs(0, &l, &h), -EINVAL);
	/* 0 dBm0 peak amplitude: sqrt(2) * the mu-law 0 dBm0 RMS */
	ivr_check_near(ivr_tone_dbm0_to_amp(0), M_SQRT2 * IVR_DBM0_RMS_S16 / 32768.0, 1e-6);
	return IVR_TEST_RESULT();
}

/* Level per tone, twist and offsets as asked, at both rates, also after G.711. */
IVR_TEST(test_levels_twist_offsets)
{
	static const float levels[] = { 0, -10, -25 };
	static const float twists[] = { -8, 0, 4 };
	static const float offs[][2] = { { 0, 0 }, { 1.5f, -1.5f }, { -3.5f, 3.5f } };
	for (int ri = 0; ri < 2; ri++) {
		uint32_t rate = rates[ri];
		size_t n = rate / 4; /* 250 ms */
		float *x = malloc(n * sizeof(float));
		for (const char *c = all_digits; c < all_digits + 16; c += 5) {
			float fl, fh;
			ivr_check_int_eq(ivr_tone_dtmf_freqs(*c, &fl, &fh), 0);
			for (size_t li = 0; li < 3; li++) {
				for (size_t ti = 0; ti < 3; ti++) {
					for (size_t oi = 0; oi < 3; oi++) {
						struct ivr_tone_dtmf p = {
							.level_dbm0 = levels[li],
							.twist_db = twists[ti],
							.low_offset_pct = offs[oi][0],
							.high_offset_pct = offs[oi][1],
						};
						memset(x, 0, n * sizeof(float));
						ivr_check_int_eq(
							ivr_tone_dtmf_add(x, n, rate, *c, &p), 0);
						double gl = fl * (1 + offs[oi][0] / 100);
						double gh = fh * (1 + offs[oi][1] / 100);
						double al = to_dbm0(ivr_dft_amp(x, n, rate, gl));
						double ah = to_dbm0(ivr_dft_amp(x, n, rate, gh));
						ivr_check_near(al, levels[li], 0.05);
						ivr_check_near(ah - al, twists[ti], 0.05);
						if (ti == 1 && li == 1) {
							ivr_check_near(
								peak_near(x, n, rate, gl, 40), gl,
								0.3);
							ivr_check_near(
								peak_near(x, n, rate, gh, 60), gh,
								0.3);
						}
					}
				}
			}
			/* through G.711: level kept within 0.3 dB.  Two tones at 0 dBm0
			 * peak at +6 dBm0, beyond G.711's +3.17 dBm0 load, and clip;
			 * -4 dBm0 per tone is the loudest pair that fits */
			static const float g711_levels[] = { -4, -10, -25 };
			for (size_t li = 0; li < 3; li++) {
				struct ivr_tone_dtmf p = { .level_dbm0 = g711_levels[li] };
				uint8_t *code = malloc(n);
				memset(x, 0, n * sizeof(float));
				ivr_check_int_eq(ivr_tone_dtmf_add(x, n, rate, *c, &p), 0);
				for (int law = 0; law < 2; law++) {
					float *y = malloc(n * sizeof(float));
					if (law == 0) {
						ivr_g711_ulaw_encode_f32(code, x, n);
						ivr_g711_ulaw_decode_f32(y, code, n);
					} else {
						ivr_g711_alaw_encode_f32(code, x, n);
						ivr_g711_alaw_decode_f32(y, code, n);
					}
					ivr_check_near(to_dbm0(ivr_dft_amp(y, n, rate, fl)),
						       g711_levels[li], 0.3);
					ivr_check_near(to_dbm0(ivr_dft_amp(y, n, rate, fh)),
						       g711_levels[li], 0.3);
					free(y);
				}
				free(code);
			}
		}
		free(x);
	}
	return IVR_TEST_RESULT();
}

/* Exact length, add (not overwrite), ramps. */
IVR_TEST(test_duration_ramp)
{
	for (int ri = 0; ri < 2; ri++) {
		uint32_t rate = rates[ri];
		size_t n = rate / 25; /* 40 ms */
		float x[1000];
		for (size_t i = 0; i < IVR_N_ELEMENTS(x); i++)
			x[i] = 0.25f;
		struct ivr_tone_dtmf p = { .level_dbm0 = -3, .ramp_ms = 2 };
		ivr_check_int_eq(ivr_tone_dtmf_add(x + 10, n, rate, '7', &p), 0);
		for (size_t i = 0; i < 10; i++)
			ivr_check_near(x[i], 0.25, 0);
		for (size_t i = 10 + n; i < IVR_N_ELEMENTS(x); i++)
			ivr_check_near(x[i], 0.25, 0);
		/* ramp: the first and last samples are small, the middle is not */
		double amp = ivr_tone_dbm0_to_amp(-3) * 2;
		ivr_check(fabs(x[10] - 0.25) < 0.02 * amp);
		ivr_check(fabs(x[10 + n - 1] - 0.25) < 0.05 * amp);
		double peak = 0;
		for (size_t i = 10; i < 10 + n; i++)
			peak = fmax(peak, fabs(x[i] - 0.25));
		ivr_check(peak > 0.8 * amp && peak <= amp * 1.0001);
		/* the rise takes ~2 ms: energy in the first 0.5 ms is far below
		 * that of a hard-edged burst */
		float y[1000] = { 0 }, z[1000] = { 0 };
		struct ivr_tone_dtmf hard = { .level_dbm0 = -3 };
		ivr_check_int_eq(ivr_tone_dtmf_add(y, n, rate, '7', &p), 0);
		ivr_check_int_eq(ivr_tone_dtmf_add(z, n, rate, '7', &hard), 0);
		double ey = 0, ez = 0;
		for (size_t i = 0; i < rate / 2000; i++) {
			ey += y[i] * y[i];
			ez += z[i] * z[i];
		}
		ivr_check(ey < 0.1 * ez);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(test_sine)
{
	for (int ri = 0; ri < 2; ri++) {
		uint32_t rate = rates[ri];
		size_t n = rate / 5;
		float *a = calloc(n, sizeof(float)), *b = calloc(n, sizeof(float));
		double ph = 0;
		/* one call or two: same waveform (phase continues) */
		ivr_check_int_eq(ivr_tone_sine_add(a, n, rate, 350, -13, NULL), 0);
		ivr_check_int_eq(ivr_tone_sine_add(b, 333, rate, 350, -13, &ph), 0);
		ivr_check_int_eq(ivr_tone_sine_add(b + 333, n - 333, rate, 350, -13, &ph), 0);
		double maxd = 0;
		for (size_t i = 0; i < n; i++)
			maxd = fmax(maxd, fabs(a[i] - b[i]));
		ivr_check(maxd < 1e-5);
		ivr_check_near(to_dbm0(ivr_dft_amp(a, n, rate, 350)), -13, 0.05);
		ivr_check_int_eq(ivr_tone_sine_add(a, n, rate, rate / 2.0f, -13, NULL), -EINVAL);
		ivr_check_int_eq(ivr_tone_sine_add(a, n, rate, -1, -13, NULL), -EINVAL);
		ivr_check_int_eq(ivr_tone_sine_add(a, n, rate, 440, NAN, NULL), -EINVAL);
		ivr_check_int_eq(ivr_tone_sine_add(NULL, n, rate, 440, -10, NULL), -EINVAL);
		ivr_check_int_eq(ivr_tone_sine_add(NULL, 0, rate, 440, -10, NULL), 0);
		ivr_check_int_eq(ivr_tone_sine_add(a, n, 0, 440, -10, NULL), -EINVAL);
		free(a);
		free(b);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(test_bad_input)
{
	float x[160] = { 0 };
	struct ivr_tone_dtmf p = { .level_dbm0 = -10 };
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 44100, '1', &p), -EINVAL);
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 0, '1', &p), -EINVAL);
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 8000, 'x', &p), -EINVAL);
	ivr_check_int_eq(ivr_tone_dtmf_add(NULL, 160, 8000, '1', &p), -EINVAL);
	ivr_check_int_eq(ivr_tone_dtmf_add(NULL, 0, 8000, '1', &p), 0);
	struct ivr_tone_dtmf q = p;
	q.level_dbm0 = NAN;
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 8000, '1', &q), -EINVAL);
	q = p;
	q.twist_db = INFINITY;
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 8000, '1', &q), -EINVAL);
	q = p;
	q.low_offset_pct = 25;
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 8000, '1', &q), -EINVAL);
	q = p;
	q.ramp_ms = -1;
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 8000, '1', &q), -EINVAL);
	/* NULL params: -10 dBm0 per tone */
	ivr_check_int_eq(ivr_tone_dtmf_add(x, 160, 8000, '1', NULL), 0);
	ivr_check_near(to_dbm0(ivr_dft_amp(x, 160, 8000, 697)), -10, 0.3);
	/* nothing written on error */
	float y[16] = { 0 };
	ivr_check_int_eq(ivr_tone_dtmf_add(y, 16, 8000, 'Z', NULL), -EINVAL);
	for (int i = 0; i < 16; i++)
		ivr_check_near(y[i], 0, 0);
	return IVR_TEST_RESULT();
}

/* ---- sender ------------------------------------------------------------ */

static struct ivr_tone_tx *tx_new(uint32_t rate, uint32_t on, uint32_t off)
{
	struct ivr_tone_tx_cfg cfg = { .rate_hz = rate, .on_ms = on, .off_ms = off };
	struct ivr_tone_tx *tx = ivr_tone_tx_new(&cfg);
	ivr_check(tx != NULL);
	return tx;
}

IVR_TEST(test_tx_config)
{
	struct ivr_tone_tx_cfg bad_rate = { .rate_hz = 11025 };
	struct ivr_tone_tx_cfg bad_level = { .level_dbm0 = 10 };
	struct ivr_tone_tx_cfg nan_level = { .level_dbm0 = NAN };
	struct ivr_tone_tx_cfg long_on = { .on_ms = 20000 };
	size_t sz = ivr_tone_tx_size(NULL);
	void *mem = malloc(sz);
	ivr_check_int_eq(ivr_tone_tx_init(mem, sz, &bad_rate), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_init(mem, sz, &bad_level), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_init(mem, sz, &nan_level), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_init(mem, sz, &long_on), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_init(mem, sz - 1, NULL), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_init(NULL, sz, NULL), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_init(mem, sz, NULL), 0);
	errno = 0;
	ivr_check(ivr_tone_tx_new(&bad_rate) == NULL && errno == EINVAL);
	ivr_tone_tx_free(NULL);
	free(mem);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_tx_queue)
{
	struct ivr_tone_tx *tx = tx_new(8000, 60, 40);
	float f[160];
	ivr_check_int_eq(ivr_tone_tx_render(tx, f, 160), 0); /* idle: zeros */
	for (int i = 0; i < 160; i++)
		ivr_check_near(f[i], 0, 0);
	ivr_check_int_eq(ivr_tone_tx_queue(tx, "12x"), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_pending(tx), 0);
	ivr_check_int_eq(ivr_tone_tx_queue(NULL, "1"), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_queue(tx, NULL), -EINVAL);
	ivr_check_int_eq(ivr_tone_tx_queue(tx, ""), 0);
	char many[IVR_TONE_TX_QUEUE + 2];
	memset(many, '5', sizeof(many) - 1);
	many[sizeof(many) - 1] = 0;
	ivr_check_int_eq(ivr_tone_tx_queue(tx, many), -ENOSPC);
	ivr_check_int_eq(ivr_tone_tx_pending(tx), 0);
	many[IVR_TONE_TX_QUEUE - 1] = 0;
	ivr_check_int_eq(ivr_tone_tx_queue(tx, many), IVR_TONE_TX_QUEUE - 1);
	ivr_check_int_eq(ivr_tone_tx_queue(tx, "12"), -ENOSPC);
	ivr_check_int_eq(ivr_tone_tx_queue(tx, "a"), 1);
	ivr_check_int_eq(ivr_tone_tx_pending(tx), IVR_TONE_TX_QUEUE);
	ivr_tone_tx_reset(tx);
	ivr_check_int_eq(ivr_tone_tx_pending(tx), 0);
	ivr_check_int_eq(ivr_tone_tx_render(tx, f, 160), 0);
	ivr_tone_tx_free(tx);
	return IVR_TEST_RESULT();
}

/* Render into frames of any size: same waveform; tone/gap timing exact;
 * the detector reads the digits back at both rates. */
IVR_TEST(test_tx_render)
{
	static const char digits[] = "159#0*A,D";
	for (int ri = 0; ri < 2; ri++) {
		uint32_t rate = rates[ri];
		size_t ms = rate / 1000, on = 70 * ms, off = 50 * ms;
		size_t n_digits = strlen(digits);
		size_t n = n_digits * (on + off) + 200 * ms;
		float *ref = calloc(n, sizeof(float)), *y = calloc(n, sizeof(float));
		struct ivr_tone_tx *tx = tx_new(rate, 70, 50);
		ivr_check_int_eq(ivr_tone_tx_queue(tx, digits), (int)n_digits);
		size_t frame = rate / 50, active = 0;
		for (size_t pos = 0; pos < n; pos += frame)
			active += ivr_tone_tx_render(tx, ref + pos, IVR_MIN(frame, n - pos));
		ivr_check_int_eq(active, (n_digits * (on + off) + frame - 1) / frame);
		ivr_check_int_eq(ivr_tone_tx_pending(tx), 0);
		/* each on period holds the digit at the configured level, each off
		 * period (and the ',' pause) is silent */
		for (size_t d = 0; d < n_digits; d++) {
			const float *seg = ref + d * (on + off);
			double e_on = 0, e_off = 0;
			for (size_t i = 0; i < on; i++)
				e_on += seg[i] * seg[i];
			for (size_t i = on; i < on + off; i++)
				e_off += seg[i] * seg[i];
			ivr_check_near(e_off, 0, 0);
			if (digits[d] == ',') {
				ivr_check_near(e_on, 0, 0);
				continue;
			}
			float fl, fh;
			ivr_check_int_eq(ivr_tone_dtmf_freqs(digits[d], &fl, &fh), 0);
			ivr_check_near(to_dbm0(ivr_dft_amp(seg, on, rate, fl)), -8, 0.3);
			ivr_check_near(to_dbm0(ivr_dft_amp(seg, on, rate, fh)), -6, 0.3);
			ivr_check(seg[on - 1] != 0 || seg[on - 2] != 0);
		}
		/* frame size independence (1, odd, 20 ms) and memcpy cloning */
		static const size_t chunks[] = { 1, 333, 7 };
		for (size_t c = 0; c < IVR_N_ELEMENTS(chunks); c++) {
			ivr_tone_tx_reset(tx);
			ivr_check_int_eq(ivr_tone_tx_queue(tx, digits), (int)n_digits);
			memset(y, 0, n * sizeof(float));
			size_t pos = 0;
			for (; pos < n / 2; pos += chunks[c])
				ivr_tone_tx_render(tx, y + pos, IVR_MIN(chunks[c], n - pos));
			size_t sz = ivr_tone_tx_size(NULL);
			struct ivr_tone_tx *clone = malloc(sz);
			memcpy(clone, tx, sz);
			ivr_tone_tx_free(tx);
			tx = clone;
			for (; pos < n; pos += chunks[c])
				ivr_tone_tx_render(tx, y + pos, IVR_MIN(chunks[c], n - pos));
			double maxd = 0;
			for (size_t i = 0; i < n; i++)
				maxd = fmax(maxd, fabs(ref[i] - y[i]));
			ivr_check_msg(maxd == 0, "chunk %zu: max diff %g", chunks[c], maxd);
		}
		/* round trip through the detector */
		struct ivr_dtmf_cfg cfg = { .rate_hz = rate };
		struct ivr_dtmf_rx *rx = ivr_dtmf_rx_new(&cfg);
		struct ivr_dtmf_event ev[32];
		int k = ivr_dtmf_rx_process(rx, ref, n, ev, 32);
		char got[32] = "";
		int ng = 0;
		for (int i = 0; i < k; i++) {
			if (ev[i].type == IVR_DTMF_EV_START && ng < 31)
				got[ng++] = ev[i].digit;
		}
		got[ng] = 0;
		ivr_check_msg(strcmp(got, "159#0*AD") == 0, "%u Hz: got \"%s\"", rate, got);
		ivr_dtmf_rx_free(rx);
		ivr_tone_tx_free(tx);
		free(ref);
		free(y);
	}
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_freqs);
	ivr_test_run(test_levels_twist_offsets);
	ivr_test_run(test_duration_ramp);
	ivr_test_run(test_sine);
	ivr_test_run(test_bad_input);
	ivr_test_run(test_tx_config);
	ivr_test_run(test_tx_queue);
	ivr_test_run(test_tx_render);
	return ivr_test_summary();
}
