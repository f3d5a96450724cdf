/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_g711.c - G.711 against an independent transcription of the
 * ITU-T G.191 reference (array form, short arithmetic, as published), over
 * all 65536 inputs and all 256 codes; digital milliwatt level; float edges.
 */
#include "config.h"

#include <math.h>

#include "dsp/g711.h"
#include "ivr_test.h"

/* ITU-T G.191 STL g711.c, transcribed with its own types and loop shape. */
static void g191_ulaw_compress(long lseg, short *linbuf, short *logbuf)
{
	long n;
	short i, absno, segno, low_nibble, high_nibble;
	for (n = 0; n < lseg; n++) {
		absno = linbuf[n] < 0 ? ((~linbuf[n]) >> 2) + 33 : ((linbuf[n]) >> 2) + 33;
		if (absno > (0x1FFF))
			absno = (0x1FFF);
		i = absno >> 6;
		segno = 1;
		while (i != 0) {
			segno++;
			i >>= 1;
		}
		high_nibble = (0x0008) - segno;
		low_nibble = (absno >> segno) & (0x000F);
		low_nibble = (0x000F) - low_nibble;
		logbuf[n] = (high_nibble << 4) | low_nibble;
		if (linbuf[n] >= 0)
			logbuf[n] = logbuf[n] | (0x0080);
	}
}

static void g191_alaw_compress(long lseg, short *linbuf, short *logbuf)
{
	short ix, iexp;
	long n;
	for (n = 0; n < lseg; n++) {
		ix = linbuf[n] < 0 ? (~linbuf[n]) >> 4 : (linbuf[n]) >> 4;
		if (ix > 15) {
			iexp = 1;
			while (ix > 16 + 15) {
				ix >>= 1;
				iexp++;
			}
			ix -= 16;
			ix += iexp << 4;
		}
		if (linbuf[n] >= 0)
			ix |= (0x0080);
		logbuf[n] = ix ^ (0x0055);
	}
}

static void g191_ulaw_expand(long lseg, short *logbuf, short *linbuf)
{
	long n;
	short segment, mantissa, exponent, sign, step;
	for (n = 0; n < lseg; n++) {
		sign = logbuf[n] < (0x0080) ? -1 : 1;
		mantissa = ~logbuf[n];
		exponent = (mantissa >> 4) & (0x0007);
		segment = exponent + 1;
		mantissa = mantissa & (0x000F);
		step = (4) << segment;
		linbuf[n] = sign * (((0x0080) << exponent) + step * mantissa + step / 2 - 4 * 33);
	}
}

static void g191_alaw_expand(long lseg, short *logbuf, short *linbuf)
{
	short ix, mant, iexp;
	long n;
	for (n = 0; n < lseg; n++) {
		ix = logbuf[n] ^ (0x0055);
		ix &= (0x007F);
		iexp = ix >> 4;
		mant = ix & (0x000F);
		if (iexp > 0)
			mant = mant + 16;
		mant = (mant << 4) + (0x0008);
		if (iexp > 1)
			mant = mant << (iexp - 1);
		linbuf[n] = logbuf[n] > 127 ? mant : -mant;
	}
}

static short all_lin[65536], ref_codes[65536];
static int16_t lin16[65536];
static uint8_t codes[65536];

IVR_TEST(ulaw_encode_bit_exact_all_inputs)
{
	for (int i = 0; i < 65536; i++)
		lin16[i] = all_lin[i] = (short)(i - 32768);
	g191_ulaw_compress(65536, all_lin, ref_codes);
	ivr_g711_ulaw_encode_s16(codes, lin16, 65536);
	int mismatches = 0;
	for (int i = 0; i < 65536; i++) {
		mismatches += codes[i] != (uint8_t)ref_codes[i];
		mismatches += ivr_g711_ulaw_encode(lin16[i]) != (uint8_t)ref_codes[i];
	}
	ivr_check_int_eq(mismatches, 0);
	/* Anchors from G.191: zero is 0xFF, -1 is 0x7F, full scale 0x80 / 0x00. */
	ivr_check_int_eq(ivr_g711_ulaw_encode(0), 0xFF);
	ivr_check_int_eq(ivr_g711_ulaw_encode(-1), 0x7F);
	ivr_check_int_eq(ivr_g711_ulaw_encode(32767), 0x80);
	ivr_check_int_eq(ivr_g711_ulaw_encode(-32768), 0x00);
	return IVR_TEST_RESULT();
}

IVR_TEST(alaw_encode_bit_exact_all_inputs)
{
	for (int i = 0; i < 65536; i++)
		lin16[i] = all_lin[i] = (short)(i - 32768);
	g191_alaw_compress(65536, all_lin, ref_codes);
	ivr_g711_alaw_encode_s16(codes, lin16, 65536);
	int mismatches = 0;
	for (int i = 0; i < 65536; i++) {
		mismatches += codes[i] != (uint8_t)ref_codes[i];
		mismatches += ivr_g711_alaw_encode(lin16[i]) != (uint8_t)ref_codes[i];
	}
	ivr_check_int_eq(mismatches, 0);
	ivr_check_int_eq(ivr_g711_alaw_encode(0), 0xD5);
	ivr_check_int_eq(ivr_g711_alaw_encode(-1), 0x55);
	ivr_check_int_eq(ivr_g711_alaw_encode(32767), 0xAA);
	ivr_check_int_eq(ivr_g711_alaw_encode(-32768), 0x2A);
	return IVR_TEST_RESULT();
}

IVR_TEST(decode_bit_exact_all_codes)
{
	short logv[256], ref_u[256], ref_a[256];
	int16_t out_u[256], out_a[256];
	uint8_t c[256];
	for (int i = 0; i < 256; i++)
		c[i] = (uint8_t)(logv[i] = (short)i);
	g191_ulaw_expand(256, logv, ref_u);
	g191_alaw_expand(256, logv, ref_a);
	ivr_g711_ulaw_decode_s16(out_u, c, 256);
	ivr_g711_alaw_decode_s16(out_a, c, 256);
	for (int i = 0; i < 256; i++) {
		ivr_check_int_eq(out_u[i], ref_u[i]);
		ivr_check_int_eq(out_a[i], ref_a[i]);
	}
	ivr_check_int_eq(ivr_g711_ulaw_decode(0x80), 32124);
	ivr_check_int_eq(ivr_g711_alaw_decode(0xAA), 32256);
	return IVR_TEST_RESULT();
}

IVR_TEST(decode_then_encode_is_identity)
{
	for (int c = 0; c < 256; c++) {
		/* mu-law 0x7F decodes to 0, whose code is 0xFF: the only alias. */
		if (c != 0x7F)
			ivr_check_int_eq(ivr_g711_ulaw_encode(ivr_g711_ulaw_decode((uint8_t)c)), c);
		ivr_check_int_eq(ivr_g711_alaw_encode(ivr_g711_alaw_decode((uint8_t)c)), c);
	}
	return IVR_TEST_RESULT();
}

static double rms_dbm0(const int16_t *x, int n, double ref_rms)
{
	double acc = 0;
	for (int i = 0; i < n; i++)
		acc += (double)x[i] * x[i];
	return 20.0 * log10(sqrt(acc / n) / ref_rms);
}

IVR_TEST(digital_milliwatt_is_0dbm0)
{
	/* ITU-T G.711 Tables 5 and 6: the 8-sample digital milliwatt sequences. */
	static const uint8_t dmw_u[8] = { 0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E };
	static const uint8_t dmw_a[8] = { 0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4 };
	int16_t u[8], a[8];
	ivr_g711_ulaw_decode_s16(u, dmw_u, 8);
	ivr_g711_alaw_decode_s16(a, dmw_a, 8);
	ivr_check_near(rms_dbm0(u, 8, IVR_G711_ULAW_DBM0_RMS), 0.0, 0.1);
	ivr_check_near(rms_dbm0(a, 8, IVR_G711_ALAW_DBM0_RMS), 0.0, 0.1);
	return IVR_TEST_RESULT();
}

IVR_TEST(float_edges_clamp_and_nan)
{
	float in[6] = { 0.0f, 1.5f, -1.5f, NAN, INFINITY, -INFINITY };
	uint8_t u[6];
	float back[6];
	ivr_g711_ulaw_encode_f32(u, in, 6);
	ivr_check_int_eq(u[0], 0xFF);
	ivr_check_int_eq(u[1], 0x80);
	ivr_check_int_eq(u[2], 0x00);
	ivr_check_int_eq(u[3], 0xFF);
	ivr_check_int_eq(u[4], 0x80);
	ivr_check_int_eq(u[5], 0x00);
	ivr_g711_ulaw_decode_f32(back, u, 6);
	ivr_check_near(back[1], 32124 / 32768.0, 1e-6);
	uint8_t a[6];
	ivr_g711_alaw_encode_f32(a, in, 6);
	ivr_check_int_eq(a[3], 0xD5);
	/* A sine through the codec keeps its level within the quantisation noise. */
	float s[800], d[800];
	uint8_t cu[800];
	for (int i = 0; i < 800; i++)
		s[i] = 0.3f * sinf(2.0f * (float)M_PI * 1000.0f * i / 8000.0f);
	ivr_g711_alaw_encode_f32(cu, s, 800);
	ivr_g711_alaw_decode_f32(d, cu, 800);
	double es = 0, en = 0;
	for (int i = 0; i < 800; i++) {
		es += s[i] * s[i];
		en += (s[i] - d[i]) * (s[i] - d[i]);
	}
	ivr_check_msg(10 * log10(es / en) > 33.0, "SNR %.1f dB", 10 * log10(es / en));
	return IVR_TEST_RESULT();
}

/*
 * The batch float encoders (4 samples at a time where SIMD is available, the tail one by one)
 * give exactly ivr_g711_*_encode(ivr_f32_to_s16(x)) for every input: each int16 level, the
 * points half way between levels (round to nearest even), just inside and outside full
 * scale, huge values, +-Inf, NaN, -0 and denormals, at every alignment and tail length.
 */
IVR_TEST(float_batch_encode_matches_per_sample)
{
	enum { N = 65536 * 2 + 64 };
	static float x[N];
	static uint8_t u[N], a[N];
	size_t n = 0;
	for (int v = -32768; v <= 32767; v++) {
		x[n++] = (float)v / 32768.0f;
		x[n++] = ((float)v + 0.5f) / 32768.0f;
	}
	const float edge[] = { 32766.5f / 32768.0f,
			       32767.0f / 32768.0f,
			       32767.4f / 32768.0f,
			       32767.5f / 32768.0f,
			       1.0f,
			       -1.0f,
			       -32768.5f / 32768.0f,
			       -32767.5f / 32768.0f,
			       nextafterf(1.0f, 2.0f),
			       nextafterf(-1.0f, -2.0f),
			       3e9f,
			       -3e9f,
			       1e30f,
			       -1e30f,
			       INFINITY,
			       -INFINITY,
			       NAN,
			       -NAN,
			       0.0f,
			       -0.0f,
			       1e-40f,
			       -1e-40f,
			       0.5f / 32768.0f,
			       -0.5f / 32768.0f,
			       1.5f / 32768.0f,
			       -1.5f / 32768.0f };
	for (size_t i = 0; i < IVR_N_ELEMENTS(edge); i++)
		x[n++] = edge[i];
	ivr_check(n <= N);
	for (size_t off = 0; off < 4; off++) {
		ivr_g711_ulaw_encode_f32(u + off, x + off, n - off);
		ivr_g711_alaw_encode_f32(a + off, x + off, n - off);
		size_t bad = 0;
		for (size_t i = off; i < n; i++) {
			int16_t s16 = ivr_f32_to_s16(x[i]);
			bad += u[i] != ivr_g711_ulaw_encode(s16);
			bad += a[i] != ivr_g711_alaw_encode(s16);
		}
		ivr_check_msg(bad == 0, "offset %zu: %zu codes differ", off, bad);
	}
	/* short runs: tails only, and one vector plus a tail */
	for (size_t len = 1; len <= 7; len++) {
		uint8_t cu[8], ca[8];
		ivr_g711_ulaw_encode_f32(cu, x + n - len, len);
		ivr_g711_alaw_encode_f32(ca, x + n - len, len);
		for (size_t i = 0; i < len; i++) {
			int16_t s16 = ivr_f32_to_s16(x[n - len + i]);
			ivr_check_int_eq(cu[i], ivr_g711_ulaw_encode(s16));
			ivr_check_int_eq(ca[i], ivr_g711_alaw_encode(s16));
		}
	}
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(ulaw_encode_bit_exact_all_inputs);
	ivr_test_run(alaw_encode_bit_exact_all_inputs);
	ivr_test_run(decode_bit_exact_all_codes);
	ivr_test_run(decode_then_encode_is_identity);
	ivr_test_run(digital_milliwatt_is_0dbm0);
	ivr_test_run(float_edges_clamp_and_nan);
	ivr_test_run(float_batch_encode_matches_per_sample);
	return ivr_test_summary();
}
