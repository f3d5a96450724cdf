/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_codec.c - per-call codec: a 1 kHz tone survives PCMU/PCMA
 * encode/decode with G.711's SNR (> 30 dB); an Opus call (48 kHz RTP
 * clock, 8 kHz frames, state in caller memory) carries a speech-like
 * signal with a lossy codec's fidelity, conceals a lost frame from the next
 * packet's FEC better than by PLC alone; payload types, names, bad input.
 */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/codec.h"
#include "ivr_dft.h"
#include "ivr_test.h"

static double roundtrip_snr(enum ivr_codec_id id)
{
	struct ivr_codec c;
	if (ivr_codec_init(&c, id, -1) != 0)
		return -1;
	float in[160], out[160];
	uint8_t pay[160];
	for (int i = 0; i < 160; i++)
		in[i] = 0.5f * sinf(2 * (float)M_PI * 1000 * (float)i / 8000);
	int n = ivr_codec_encode(&c, NULL, in, 160, pay, sizeof(pay));
	if (n != 160 || ivr_codec_decode(&c, NULL, pay, 160, out, 160) != 160)
		return -1;
	double s = 0, e = 0;
	for (int i = 0; i < 160; i++) {
		s += in[i] * in[i];
		e += (in[i] - out[i]) * (in[i] - out[i]);
	}
	return 10 * log10(s / e);
}

IVR_TEST(test_g711_roundtrip)
{
	ivr_check(roundtrip_snr(IVR_CODEC_PCMU) > 30);
	ivr_check(roundtrip_snr(IVR_CODEC_PCMA) > 30);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_names_and_errors)
{
	enum ivr_codec_id id;
	struct ivr_codec c;
	ivr_check_int_eq(ivr_codec_from_name("pcmu", &id), 0);
	ivr_check_int_eq(id, IVR_CODEC_PCMU);
	ivr_check_int_eq(ivr_codec_from_name("PCMA", &id), 0);
	ivr_check_int_eq(id, IVR_CODEC_PCMA);
	ivr_check_int_eq(ivr_codec_from_name("G729", &id), -ENOTSUP);
	ivr_check_int_eq(ivr_codec_init(&c, IVR_CODEC_PCMA, -1), 0);
	ivr_check_int_eq(c.pt, 8);
	ivr_check_int_eq(ivr_codec_init(&c, IVR_CODEC_PCMU, 96), 0);
	ivr_check_int_eq(c.pt, 96);
	ivr_check_int_eq(ivr_codec_init(&c, IVR_CODEC_PCMU, 128), -EINVAL);
	ivr_check_int_eq(ivr_codec_init(&c, IVR_CODEC_OPUS, -1), 0);
	ivr_check_int_eq(c.pt, 111);
	ivr_check_int_eq(c.clock_hz, 48000);
	ivr_check_int_eq(c.frame_units, 960);
	ivr_check_int_eq(c.frame_samples, 160);
	/* Opus without its state, or with too little room, is refused. */
	float g[160] = { 0 };
	uint8_t q[400];
	ivr_check_int_eq(ivr_codec_encode(&c, NULL, g, 160, q, sizeof(q)), -EINVAL);
	ivr_check_int_eq(ivr_codec_state_init(&c, q, sizeof(q)), -ENOSPC);
	ivr_check_int_eq(ivr_codec_init(&c, (enum ivr_codec_id)99, -1), -EINVAL);
	ivr_check_int_eq(ivr_codec_init(&c, IVR_CODEC_PCMU, 0), 0);
	float f[10] = { 0 };
	uint8_t p[4];
	ivr_check_int_eq(ivr_codec_encode(&c, NULL, f, 10, p, sizeof(p)), -ENOSPC);
	ivr_check_int_eq(ivr_codec_state_size(&c), 0);
	ivr_check_int_eq(ivr_codec_state_init(&c, NULL, 0), 0);
	ivr_check_int_eq(ivr_codec_conceal(&c, NULL, NULL, 0, f, 10), -ENOTSUP);
	/* A short payload decodes what is there, never more than the room. */
	uint8_t big[400];
	memset(big, 0xff, sizeof(big));
	ivr_check_int_eq(ivr_codec_decode(&c, NULL, big, sizeof(big), f, 10), 10);
	ivr_check_near(f[9], 0, 1e-3);
	return IVR_TEST_RESULT();
}

/*
 * Voiced-speech-like test signal: harmonics (1/h amplitudes, below 1 kHz)
 * of a pitch that jumps every 100 ms among 120/170/230 Hz, so concealment
 * by extrapolation (PLC) is wrong at each jump while FEC is not.
 */
static void voiced(float *x, size_t n)
{
	static const double f0s[3] = { 120, 170, 230 };
	double ph = 0;
	for (size_t i = 0; i < n; i++) {
		double f0 = f0s[(i / 800) % 3], v = 0;
		ph += 2 * M_PI * f0 / 8000;
		for (int h = 1; h * f0 < 1000; h++)
			v += sin(h * ph) / h;
		x[i] = (float)(0.12 * v);
	}
}

/* SNR (dB) of @out delayed by @lag against @ref over the frames where @mask is set. */
static double snr_frames(const float *ref, const float *out, size_t n_frames, size_t lag,
			 const bool *mask)
{
	double s = 0, e = 0;
	for (size_t f = 1; f + 1 < n_frames; f++) {
		if (mask && !mask[f])
			continue;
		for (size_t i = f * 160; i < f * 160 + 160; i++) {
			double d = out[i + lag] - ref[i];
			s += (double)ref[i] * ref[i];
			e += d * d;
		}
	}
	return 10 * log10(s / (e + 1e-20));
}

#define OPUS_FRAMES 100

static float o_in[OPUS_FRAMES * 160], o_out[OPUS_FRAMES * 160 + 320];
static uint8_t o_pay[OPUS_FRAMES][400];
static int o_npay[OPUS_FRAMES];

/*
 * Encode OPUS_FRAMES frames through a call codec, decode them with the
 * frames in @lost (NULL = none) concealed, from the next packet's FEC when
 * @fec; return the SNR over the lost frames (all frames when none).
 */
static double opus_run(const bool *lost, bool fec)
{
	struct ivr_codec c;
	if (ivr_codec_init(&c, IVR_CODEC_OPUS, 111) < 0)
		return -100;
	size_t sz = ivr_codec_state_size(&c);
	void *enc_st = aligned_alloc(64, IVR_ROUND_UP(sz, 64));
	void *dec_st = aligned_alloc(64, IVR_ROUND_UP(sz, 64));
	double snr = -100;
	voiced(o_in, OPUS_FRAMES * 160);
	if (!enc_st || !dec_st || ivr_codec_state_init(&c, enc_st, sz) < 0 ||
	    ivr_codec_state_init(&c, dec_st, sz) < 0)
		goto out;
	for (int f = 0; f < OPUS_FRAMES; f++) {
		o_npay[f] = ivr_codec_encode(&c, enc_st, o_in + f * 160, 160, o_pay[f],
					     sizeof(o_pay[f]));
		if (o_npay[f] <= 0 || o_npay[f] > 100) /* 20 kbit/s: about 50 bytes */
			goto out;
	}
	memset(o_out, 0, sizeof(o_out));
	for (int f = 0; f < OPUS_FRAMES; f++) {
		int n;
		if (lost && lost[f])
			n = ivr_codec_conceal(&c, dec_st, fec ? o_pay[f + 1] : NULL,
					      fec ? (size_t)o_npay[f + 1] : 0, o_out + f * 160,
					      160);
		else
			n = ivr_codec_decode(&c, dec_st, o_pay[f], (size_t)o_npay[f],
					     o_out + f * 160, 160);
		if (n != 160)
			goto out;
	}
	/* align by the codec delay: the best lag of the whole signal */
	size_t lag = 0;
	double best = -100;
	for (size_t l = 0; l < 160; l++) {
		double v = snr_frames(o_in, o_out, OPUS_FRAMES, l, NULL);
		if (v > best) {
			best = v;
			lag = l;
		}
	}
	snr = snr_frames(o_in, o_out, OPUS_FRAMES, lag, lost);
out:
	free(enc_st);
	free(dec_st);
	return snr;
}

IVR_TEST(test_opus_call_codec)
{
	double clean = opus_run(NULL, false);
	static bool lost[OPUS_FRAMES];
	for (int f = 5; f + 1 < OPUS_FRAMES; f += 5)
		lost[f] = true; /* each pitch jump's first frame */
	double with_fec = opus_run(lost, true), plc = opus_run(lost, false);
	printf("  opus 8 kHz frames in 48 kHz RTP: SNR %.1f dB, %d bytes/frame;"
	       " lost frames: FEC %.1f dB, PLC %.1f dB\n",
	       clean, o_npay[10], with_fec, plc);
	/* a perceptual codec at 20 kbit/s: waveform SNR well below G.711's 30+ */
	ivr_check_msg(clean > 4, "opus round trip SNR %.1f dB", clean);
	/* FEC used (measured 2.9 dB ahead of PLC at the pitch jumps, and above silence's 0 dB) */
	ivr_check_msg(with_fec > plc + 2 && with_fec > 1, "FEC %.1f dB vs PLC %.1f dB", with_fec,
		      plc);
	return IVR_TEST_RESULT();
}

/*
 * Negotiated rates: Opus 16000 and 48000 run at 16 kHz inside (320-sample
 * frames, the RTP clock stays 48 kHz), 8000 at 8 kHz; other rates and
 * wideband G.711 are refused.  A 16 kHz Opus call keeps a 6 kHz tone that
 * an 8 kHz call cannot carry.
 */
IVR_TEST(test_opus_rates)
{
	struct ivr_codec c;
	static const struct {
		uint32_t rate, inside;
	} ok[] = { { 0, 8000 }, { 8000, 8000 }, { 16000, 16000 }, { 48000, 16000 } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(ok); i++) {
		ivr_check(ivr_codec_init(&c, IVR_CODEC_OPUS, 111) == 0);
		ivr_check(ivr_codec_set_rate(&c, ok[i].rate) == 0);
		ivr_check_int_eq(c.rate_hz, ok[i].inside);
		ivr_check_int_eq(c.frame_samples, ok[i].inside / 50);
		ivr_check_int_eq(c.clock_hz, 48000);
		ivr_check_int_eq(c.frame_units, 960);
		ivr_check(ivr_codec_state_size(&c) <= ivr_codec_state_max());
	}
	static const uint32_t bad[] = { 11025, 12000, 24000, 32000, 44100, 96000 };
	for (size_t i = 0; i < IVR_N_ELEMENTS(bad); i++)
		ivr_check(ivr_codec_set_rate(&c, bad[i]) == -ENOTSUP);
	ivr_check(ivr_codec_init(&c, IVR_CODEC_PCMU, -1) == 0);
	ivr_check(ivr_codec_set_rate(&c, 8000) == 0 && c.rate_hz == 8000);
	ivr_check(ivr_codec_set_rate(&c, 16000) == -ENOTSUP);
	ivr_check(ivr_codec_set_rate(NULL, 8000) == -EINVAL);

	/* 6 kHz + 1 kHz through a 16 kHz Opus leg */
	ivr_check(ivr_codec_init(&c, IVR_CODEC_OPUS, 111) == 0 &&
		  ivr_codec_set_rate(&c, 48000) == 0);
	size_t sz = ivr_codec_state_size(&c);
	void *enc = aligned_alloc(64, IVR_ROUND_UP(sz, 64));
	void *dec = aligned_alloc(64, IVR_ROUND_UP(sz, 64));
	ivr_check(ivr_codec_state_init(&c, enc, sz) == 0 && ivr_codec_state_init(&c, dec, sz) == 0);
	enum { F = 50 };
	static float in[F * 320], out[F * 320];
	for (size_t i = 0; i < F * 320; i++)
		in[i] = (float)(0.1 * sin(2 * M_PI * 1000 * i / 16000.0) +
				0.1 * sin(2 * M_PI * 6000 * i / 16000.0));
	for (int f = 0; f < F; f++) {
		uint8_t pay[400];
		int nb = ivr_codec_encode(&c, enc, in + f * 320, 320, pay, sizeof(pay));
		ivr_check(nb > 0);
		if (nb <= 0)
			break;
		ivr_check_int_eq(ivr_codec_decode(&c, dec, pay, (size_t)nb, out + f * 320, 320),
				 320);
	}
	/* the second half: past the encoder's start-up */
	double p6 = ivr_goertzel_pow(out + F * 160, F * 160, 16000, 6000);
	double p1 = ivr_goertzel_pow(out + F * 160, F * 160, 16000, 1000);
	printf("  opus 16 kHz inside: 6 kHz tone at %.1f dB relative to the 1 kHz one\n",
	       10 * log10(p6 / p1));
	ivr_check_msg(p6 > p1 * 0.25, "6 kHz %.2g vs 1 kHz %.2g", p6, p1);
	free(enc);
	free(dec);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_g711_roundtrip);
	ivr_test_run(test_opus_call_codec);
	ivr_test_run(test_names_and_errors);
	ivr_test_run(test_opus_rates);
	return ivr_test_summary();
}
