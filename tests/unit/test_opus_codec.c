/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_opus_codec.c - libopus wrapper: round trip, loss, bad input.
 *
 * The signal is speech-like: a glottal pulse train with a moving pitch
 * through three formant resonators that change every syllable, with a
 * syllable envelope and pauses (a crude source-filter model of vowels).
 * Round trip: SNR and level after aligning by the encoder's lookahead.
 * Loss: every 5th packet lost; rebuilding it from the next packet's in-band
 * FEC must beat concealment (PLC) on the lost frames.  Bad packets give
 * errors, never crashes.  State placed in caller memory is memcpy-clonable.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "dsp/opus_codec.h"
#include "ivr_test.h"

#define SECONDS 4
#define MAXN	(48000 * SECONDS)

static uint32_t seed = 1;
static double frand(void)
{
	seed = seed * 1664525u + 1013904223u;
	return (seed >> 8) / 16777216.0;
}

/* Speech-like test signal at @rate, about -22 dBFS RMS while voiced. */
static void speechlike(float *x, size_t n, uint32_t rate)
{
	static const double vowels[][3] = {
		{ 730, 1090, 2440 }, { 270, 2290, 3010 }, { 300, 870, 2240 },
		{ 530, 1840, 2480 }, { 570, 840, 2410 },  { 660, 1720, 2410 },
	};
	double y1[3] = { 0 }, y2[3] = { 0 }, phase = 0;
	size_t syl = rate / 4; /* 250 ms syllables */
	const double *fm = vowels[0];
	seed = 7;
	for (size_t i = 0; i < n; i++) {
		if (i % syl == 0)
			fm = vowels[(size_t)(frand() * 6) % 6];
		double t = (double)i / rate;
		double f0 = 140 + 30 * sin(2 * M_PI * 0.7 * t);
		phase += f0 / rate;
		double e = 0;
		if (phase >= 1.0) {
			phase -= 1.0;
			e = 1.0;
		}
		e += 0.02 * (frand() - 0.5);
		double s = e;
		for (int k = 0; k < 3; k++) {
			/* two-pole resonator, 100 Hz bandwidth, unity gain at the peak (approx.) */
			double r = exp(-M_PI * 100.0 / rate);
			double c = 2 * r * cos(2 * M_PI * fm[k] / rate);
			double y = (1 - r) * s + c * y1[k] - r * r * y2[k];
			y2[k] = y1[k];
			y1[k] = y;
			s = y;
		}
		size_t pos = i % syl, k = i / syl;
		double env = k % 4 == 3 ? 0.0 : pow(sin(M_PI * (double)pos / syl), 2);
		x[i] = (float)(s * env);
	}
	/* normalise the voiced RMS to -22 dBFS */
	double acc = 0;
	for (size_t i = 0; i < n; i++)
		acc += (double)x[i] * x[i];
	double g = pow(10, -22 / 20.0) / sqrt(acc / n * 4 / 3);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(x[i] * g);
}

/* SNR (dB) of @y against @x over frames [f0, f1) where mask (if any) is set; best lag near @lag. */
static double snr_db(const float *x, const float *y, size_t n, size_t frame, int lag,
		     const unsigned char *mask, int *best_lag)
{
	double best = -1e9;
	for (int l = lag - 8; l <= lag + 8; l++) {
		double es = 0, en = 0;
		for (size_t i = (size_t)(lag + 16); i + (size_t)(lag + 16) < n; i++) {
			if (mask && !mask[i / frame])
				continue;
			long j = (long)i - l;
			if (j < 0)
				continue;
			double s = x[j], d = y[i] - s;
			es += s * s;
			en += d * d;
		}
		double snr = 10 * log10((es + 1e-20) / (en + 1e-20));
		if (snr > best) {
			best = snr;
			*best_lag = l;
		}
	}
	return best;
}

static double rms_db(const float *x, size_t n)
{
	double a = 0;
	for (size_t i = 0; i < n; i++)
		a += (double)x[i] * x[i];
	return 10 * log10(a / n + 1e-20);
}

static float in[MAXN], out[MAXN], out2[MAXN];
static uint8_t pkts[SECONDS * 50][IVR_OPUS_MAX_PACKET];
static int plen[SECONDS * 50];

static int encode_all(uint32_t rate, bool no_fec, size_t *frame_out, uint32_t *delay)
{
	struct ivr_opus_cfg cfg = { .rate_hz = rate, .no_fec = no_fec, .loss_pct = 20 };
	struct ivr_opus_enc *enc = ivr_opus_enc_new(&cfg);
	if (!enc)
		return -1;
	size_t frame = ivr_opus_frame_samples(&cfg), nf = rate * SECONDS / frame;
	speechlike(in, rate * SECONDS, rate);
	for (size_t f = 0; f < nf; f++) {
		plen[f] = ivr_opus_encode(enc, in + f * frame, frame, pkts[f], IVR_OPUS_MAX_PACKET);
		if (plen[f] <= 0) {
			ivr_opus_enc_free(enc);
			return -1;
		}
	}
	*delay = ivr_opus_enc_delay_samples(enc);
	*frame_out = frame;
	ivr_opus_enc_free(enc);
	return (int)nf;
}

IVR_TEST(roundtrip_snr_and_level)
{
	static const uint32_t rates[] = { 8000, 16000, 48000 };
	for (size_t r = 0; r < 3; r++) {
		size_t frame;
		uint32_t delay;
		int nf = encode_all(rates[r], false, &frame, &delay);
		ivr_check(nf > 0);
		if (nf <= 0)
			return IVR_TEST_FAIL;
		struct ivr_opus_cfg cfg = { .rate_hz = rates[r] };
		struct ivr_opus_dec *dec = ivr_opus_dec_new(&cfg);
		if (!dec)
			return IVR_TEST_FAIL;
		long bytes = 0;
		for (int f = 0; f < nf; f++) {
			int n = ivr_opus_decode(dec, pkts[f], (size_t)plen[f], out + f * frame,
						frame);
			ivr_check_int_eq(n, (long)frame);
			bytes += plen[f];
		}
		size_t n = (size_t)nf * frame;
		int lag = 0;
		double snr = snr_db(in, out, n, frame, (int)delay, NULL, &lag);
		double lvl = rms_db(out + delay, n - delay) - rms_db(in, n - delay);
		double kbps = bytes * 8.0 / SECONDS / 1000;
		printf("  %u Hz: SNR %.1f dB (lag %d, lookahead %u), level %+.2f dB, %.1f kbit/s\n",
		       rates[r], snr, lag, delay, lvl, kbps);
		ivr_check_msg(snr >= 8.0, "%u Hz SNR %.1f dB", rates[r], snr);
		ivr_check_near(lvl, 0.0, 1.5);
		ivr_check(kbps > 8 && kbps < 48);
		ivr_opus_dec_free(dec);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(loss_fec_beats_plc)
{
	static const uint32_t rates[] = { 8000, 16000, 48000 };
	for (size_t r = 0; r < 3; r++) {
		size_t frame;
		uint32_t delay;
		int nf = encode_all(rates[r], false, &frame, &delay);
		if (nf <= 0)
			return IVR_TEST_FAIL;
		struct ivr_opus_cfg cfg = { .rate_hz = rates[r] };
		struct ivr_opus_dec *a = ivr_opus_dec_new(&cfg), *b = ivr_opus_dec_new(&cfg);
		if (!a || !b)
			return IVR_TEST_FAIL;
		static unsigned char lost[SECONDS * 50];
		memset(lost, 0, sizeof(lost));
		for (int f = 0; f < nf; f++) {
			bool is_lost = f >= 5 && f % 5 == 0 && f + 1 < nf;
			lost[f] = is_lost;
			if (is_lost) {
				int x = ivr_opus_decode_lost(a, NULL, 0, out + f * frame, frame);
				int y = ivr_opus_decode_lost(b, pkts[f + 1], (size_t)plen[f + 1],
							     out2 + f * frame, frame);
				ivr_check_int_eq(x, (long)frame);
				ivr_check_int_eq(y, (long)frame);
			} else {
				int x = ivr_opus_decode(a, pkts[f], (size_t)plen[f],
							out + f * frame, frame);
				int y = ivr_opus_decode(b, pkts[f], (size_t)plen[f],
							out2 + f * frame, frame);
				ivr_check_int_eq(x, (long)frame);
				ivr_check_int_eq(y, (long)frame);
			}
		}
		/* Score the lost frames (shifted by the codec delay: mask on output time). */
		size_t n = (size_t)nf * frame;
		static unsigned char mask[SECONDS * 50 * 2];
		memset(mask, 0, sizeof(mask));
		for (int f = 0; f < nf; f++)
			mask[f] = lost[f];
		int lag_a = 0, lag_b = 0;
		double plc = snr_db(in, out, n, frame, (int)delay, mask, &lag_a);
		double fec = snr_db(in, out2, n, frame, (int)delay, mask, &lag_b);
		int lag_c = 0;
		double rest = snr_db(in, out2, n, frame, (int)delay, NULL, &lag_c);
		printf("  %u Hz, 20%% loss: lost frames SNR PLC %.1f dB, FEC %.1f dB (whole %.1f "
		       "dB)\n",
		       rates[r], plc, fec, rest);
		ivr_check_msg(fec >= plc + 3.0, "%u Hz: FEC %.1f dB vs PLC %.1f dB", rates[r], fec,
			      plc);
		ivr_opus_dec_free(a);
		ivr_opus_dec_free(b);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_packets_and_args)
{
	struct ivr_opus_cfg cfg = { .rate_hz = 16000 };
	struct ivr_opus_dec *dec = ivr_opus_dec_new(&cfg);
	struct ivr_opus_enc *enc = ivr_opus_enc_new(&cfg);
	if (!dec || !enc)
		return IVR_TEST_FAIL;
	float pcm[5760];
	uint8_t b[IVR_OPUS_MAX_PACKET];
	ivr_check_int_eq(ivr_opus_decode(dec, b, 0, pcm, 5760), -EBADMSG);
	ivr_check_int_eq(ivr_opus_decode(dec, NULL, 0, pcm, 5760), -EBADMSG);
	ivr_check_int_eq(ivr_opus_decode(dec, NULL, 3, pcm, 5760), -EINVAL);
	/* Code 3 packet (TOC & 3 == 3) with no frame-count byte: malformed. */
	uint8_t c3[1] = { 0x03 };
	ivr_check_int_eq(ivr_opus_decode(dec, c3, 1, pcm, 5760), -EBADMSG);
	/* Code 3 with a frame count of 0: malformed. */
	uint8_t c30[2] = { 0x03, 0x00 };
	ivr_check_int_eq(ivr_opus_decode(dec, c30, 2, pcm, 5760), -EBADMSG);
	/* Code 3 claiming 48 x 20 ms = 960 ms (> 120 ms): malformed. */
	uint8_t big[3] = { 0x7b, 48, 0 };
	ivr_check_int_eq(ivr_opus_decode(dec, big, 3, pcm, 5760), -EBADMSG);
	/* A valid 20 ms packet into a 10 ms buffer: -ENOSPC. */
	float frame[320] = { 0 };
	int n = ivr_opus_encode(enc, frame, 320, b, sizeof(b));
	ivr_check(n > 0);
	ivr_check_int_eq(ivr_opus_decode(dec, b, (size_t)n, pcm, 160), -ENOSPC);
	ivr_check_int_eq(ivr_opus_decode(dec, b, (size_t)n, pcm, 320), 320);
	/* Random bytes: an error or a decoded frame, never a crash or overrun. */
	seed = 99;
	int errors = 0;
	for (int t = 0; t < 2000; t++) {
		size_t len = 1 + (size_t)(frand() * 200);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)(frand() * 256);
		int r = ivr_opus_decode(dec, b, len, pcm, 5760);
		ivr_check(r == -EBADMSG || (r > 0 && r <= 5760 && r % 40 == 0));
		errors += r < 0;
	}
	ivr_check(errors > 0);
	/* Encoder: wrong frame size, small buffer; loss with a bad size or next packet. */
	ivr_check_int_eq(ivr_opus_encode(enc, frame, 160, b, sizeof(b)), -EINVAL);
	ivr_check_int_eq(ivr_opus_encode(enc, frame, 320, b, 2), -ENOSPC);
	ivr_check_int_eq(ivr_opus_decode_lost(dec, NULL, 0, pcm, 0), -EINVAL);
	ivr_check_int_eq(ivr_opus_decode_lost(dec, NULL, 0, pcm, 333), -EINVAL);
	ivr_check_int_eq(ivr_opus_decode_lost(dec, c3, 1, pcm, 320), -EBADMSG);
	ivr_check_int_eq(ivr_opus_decode_lost(dec, NULL, 0, pcm, 320), 320);
	/* NaN / Inf / clipped input: a valid packet that decodes to finite audio. */
	for (int i = 0; i < 320; i++)
		frame[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -4.0f;
	n = ivr_opus_encode(enc, frame, 320, b, sizeof(b));
	ivr_check(n > 0);
	if (n > 0) {
		int r = ivr_opus_decode(dec, b, (size_t)n, pcm, 5760);
		ivr_check_int_eq(r, 320);
		for (int i = 0; i < r; i++)
			ivr_check(isfinite(pcm[i]));
	}
	/* Bad configurations. */
	struct ivr_opus_cfg bad[] = { { .rate_hz = 44100 },
				      { .rate_hz = 8000, .complexity = 11 },
				      { .rate_hz = 8000, .bitrate_bps = 100 },
				      { .rate_hz = 8000, .loss_pct = 101 } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(bad); i++) {
		errno = 0;
		ivr_check(ivr_opus_enc_new(&bad[i]) == NULL && errno == EINVAL);
	}
	ivr_check(ivr_opus_dec_new(&bad[0]) == NULL);
	ivr_check_int_eq(ivr_opus_enc_size(&bad[0]), 0);
	ivr_opus_enc_free(NULL);
	ivr_opus_dec_free(NULL);
	ivr_opus_enc_free(enc);
	ivr_opus_dec_free(dec);
	return IVR_TEST_RESULT();
}

IVR_TEST(state_in_arena_is_clonable)
{
	struct ivr_opus_cfg cfg = { .rate_hz = 8000 };
	size_t es = ivr_opus_enc_size(&cfg), ds = ivr_opus_dec_size(&cfg);
	static _Alignas(64) unsigned char arena[4][65536];
	ivr_check(es > 0 && es <= sizeof(arena[0]) && ds > 0 && ds <= sizeof(arena[0]));
	if (es > sizeof(arena[0]) || ds > sizeof(arena[0]))
		return IVR_TEST_FAIL;
	struct ivr_opus_enc *e1 = (struct ivr_opus_enc *)(void *)arena[0];
	struct ivr_opus_dec *d1 = (struct ivr_opus_dec *)(void *)arena[1];
	ivr_check_int_eq(ivr_opus_enc_init(e1, es, &cfg), 0);
	ivr_check_int_eq(ivr_opus_dec_init(d1, ds, &cfg), 0);
	ivr_check_int_eq(ivr_opus_enc_init(e1, es - 1, &cfg), -ENOSPC);
	ivr_check_int_eq(ivr_opus_enc_init(e1, es, &cfg), 0);
	speechlike(in, 8000, 8000);
	uint8_t p1[400], p2[400];
	float o1[160], o2[160];
	/* Run 10 frames, clone, then both copies must produce identical output. */
	for (int f = 0; f < 10; f++) {
		int n = ivr_opus_encode(e1, in + 160 * f, 160, p1, sizeof(p1));
		ivr_check(n > 0 && ivr_opus_decode(d1, p1, (size_t)n, o1, 160) == 160);
	}
	memcpy(arena[2], arena[0], es);
	memcpy(arena[3], arena[1], ds);
	struct ivr_opus_enc *e2 = (struct ivr_opus_enc *)(void *)arena[2];
	struct ivr_opus_dec *d2 = (struct ivr_opus_dec *)(void *)arena[3];
	int diff = 0;
	for (int f = 10; f < 40; f++) {
		int n1 = ivr_opus_encode(e1, in + 160 * f, 160, p1, sizeof(p1));
		int n2 = ivr_opus_encode(e2, in + 160 * f, 160, p2, sizeof(p2));
		diff += n1 != n2 || n1 <= 0 || memcmp(p1, p2, (size_t)n1);
		if (n1 > 0 && n2 > 0) {
			diff += ivr_opus_decode(d1, p1, (size_t)n1, o1, 160) != 160;
			diff += ivr_opus_decode(d2, p2, (size_t)n2, o2, 160) != 160;
			diff += memcmp(o1, o2, sizeof(o1)) != 0;
		}
	}
	ivr_check_int_eq(diff, 0);
	/* Reset: a fresh stream encodes like a freshly initialised encoder. */
	ivr_opus_enc_reset(e2);
	ivr_opus_dec_reset(d2);
	ivr_check_int_eq(ivr_opus_enc_init(e1, es, &cfg), 0);
	int n1 = ivr_opus_encode(e1, in, 160, p1, sizeof(p1));
	int n2 = ivr_opus_encode(e2, in, 160, p2, sizeof(p2));
	ivr_check(n1 > 0 && n1 == n2 && memcmp(p1, p2, (size_t)n1) == 0);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(roundtrip_snr_and_level);
	ivr_test_run(loss_fec_beats_plc);
	ivr_test_run(bad_packets_and_args);
	ivr_test_run(state_in_arena_is_clonable);
	return ivr_test_summary();
}
