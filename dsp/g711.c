/* SPDX-License-Identifier: MIT */
/*
 * dsp/g711.c - ITU-T G.711 companding, bit-exact to ITU-T G.191 g711.c.
 *
 * The G.191 reference compresses from the 14 (mu-law) or 13 (A-law) most
 * significant bits of a 16-bit sample, using the one's complement for
 * negative values.  Because ~x >> k == ~(x >> k) under arithmetic shift,
 * the code depends only on x >> 2 (mu-law) or x >> 4 (A-law), so tables of
 * 16384 and 4096 entries indexed by those bits are exact.  The tables are
 * built once before main() from the reference algorithm itself, so the
 * encoder cannot drift from it; tests/unit/test_g711.c checks all 65536
 * inputs against an independent transcription of G.191.
 */
#include "config.h"

#include "dsp/g711.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static uint8_t ulaw_enc_table[16384];
static uint8_t alaw_enc_table[4096];
static int16_t ulaw_dec_table[256];
static int16_t alaw_dec_table[256];
static float ulaw_dec_f32[256];
static float alaw_dec_f32[256];

/* G.191 ulaw_compress for one sample. */
static uint8_t ulaw_compress_ref(int16_t x)
{
	int absno = x < 0 ? ((~x) >> 2) + 33 : (x >> 2) + 33;
	if (absno > 0x1FFF)
		absno = 0x1FFF;
	int i = absno >> 6, segno = 1;
	while (i != 0) {
		segno++;
		i >>= 1;
	}
	int high = 0x8 - segno;
	int low = 0xF - ((absno >> segno) & 0xF);
	int code = (high << 4) | low;
	if (x >= 0)
		code |= 0x80;
	return (uint8_t)code;
}

/* G.191 alaw_compress for one sample. */
static uint8_t alaw_compress_ref(int16_t x)
{
	int ix = x < 0 ? (~x) >> 4 : x >> 4;
	if (ix > 15) {
		int iexp = 1;
		while (ix > 16 + 15) {
			ix >>= 1;
			iexp++;
		}
		ix -= 16;
		ix += iexp << 4;
	}
	if (x >= 0)
		ix |= 0x80;
	return (uint8_t)(ix ^ 0x55);
}

/* G.191 ulaw_expand for one code. */
static int16_t ulaw_expand_ref(uint8_t code)
{
	int sign = code < 0x80 ? -1 : 1;
	int mant = ~code;
	int exponent = (mant >> 4) & 0x7;
	int step = 4 << (exponent + 1);
	mant &= 0xF;
	return (int16_t)(sign * ((0x80 << exponent) + step * mant + step / 2 - 4 * 33));
}

/* G.191 alaw_expand for one code. */
static int16_t alaw_expand_ref(uint8_t code)
{
	int ix = (code ^ 0x55) & 0x7F;
	int iexp = ix >> 4, mant = ix & 0xF;
	if (iexp > 0)
		mant += 16;
	mant = (mant << 4) + 0x8;
	if (iexp > 1)
		mant <<= iexp - 1;
	return (int16_t)(code > 127 ? mant : -mant);
}

__attribute__((constructor)) static void g711_tables_init(void)
{
	for (int i = 0; i < 16384; i++)
		ulaw_enc_table[i] = ulaw_compress_ref((int16_t)((i - 8192) * 4));
	for (int i = 0; i < 4096; i++)
		alaw_enc_table[i] = alaw_compress_ref((int16_t)((i - 2048) * 16));
	for (int i = 0; i < 256; i++) {
		ulaw_dec_table[i] = ulaw_expand_ref((uint8_t)i);
		alaw_dec_table[i] = alaw_expand_ref((uint8_t)i);
		ulaw_dec_f32[i] = ulaw_dec_table[i] / 32768.0f;
		alaw_dec_f32[i] = alaw_dec_table[i] / 32768.0f;
	}
}

uint8_t ivr_g711_ulaw_encode(int16_t x)
{
	return ulaw_enc_table[(x >> 2) + 8192];
}

int16_t ivr_g711_ulaw_decode(uint8_t code)
{
	return ulaw_dec_table[code];
}

uint8_t ivr_g711_alaw_encode(int16_t x)
{
	return alaw_enc_table[(x >> 4) + 2048];
}

int16_t ivr_g711_alaw_decode(uint8_t code)
{
	return alaw_dec_table[code];
}

void ivr_g711_ulaw_encode_s16(uint8_t *restrict out, const int16_t *restrict in, size_t n_samples)
{
	for (size_t i = 0; i < n_samples; i++)
		out[i] = ulaw_enc_table[(in[i] >> 2) + 8192];
}

void ivr_g711_alaw_encode_s16(uint8_t *restrict out, const int16_t *restrict in, size_t n_samples)
{
	for (size_t i = 0; i < n_samples; i++)
		out[i] = alaw_enc_table[(in[i] >> 4) + 2048];
}

void ivr_g711_ulaw_decode_s16(int16_t *restrict out, const uint8_t *restrict in, size_t n_samples)
{
	for (size_t i = 0; i < n_samples; i++)
		out[i] = ulaw_dec_table[in[i]];
}

void ivr_g711_alaw_decode_s16(int16_t *restrict out, const uint8_t *restrict in, size_t n_samples)
{
	for (size_t i = 0; i < n_samples; i++)
		out[i] = alaw_dec_table[in[i]];
}

/*
 * Float -> G.711, four samples at a time (SSE2, in every x86-64), computed rather than
 * looked up: the scalar ivr_f32_to_s16() + table per sample was 19 instructions a sample,
 * 7.6% of a call's instructions per tick (callgrind, 1000 calls with the VAD on), and a
 * 16 KiB table competing with the call's state for L1.
 * Conversion: NaN masked to 0, the clamps done in float before cvtps2dq (so +-Inf and
 * values beyond int32 clamp instead of becoming INT_MIN), cvtps2dq rounding to nearest
 * even like lrintf in the default mode: bit-exact with ivr_f32_to_s16().
 * Companding (the G.191 reference above, ulaw_compress_ref / alaw_compress_ref): the
 * segment is the position of the magnitude's leading one and the 4 bits below it are the
 * mantissa; converted to float (exact: < 2^13) those are the exponent field and the top 4
 * mantissa bits, i.e. bits 19..30 of the float's encoding.  u-law: magnitude
 * m = (|x| >> 2) + 33 (one's complement for negatives, as the reference) clamped to 0x1FFF
 * has its leading one at bit e in 5..12, segment e - 4, code 0x7F - (segment << 4 | mant)
 * = 2239 - (bits >> 19).  A-law: m = |x| >> 4 (one's complement), below 16 the code is m,
 * else leading one at e in 4..10, code (e - 3) << 4 | mant = (bits >> 19) - 2080.
 * test_g711 checks every int16 level and the float edges against the tables.
 */
#if defined(__SSE2__)
static inline __m128i f32_to_s16x4(const float *in)
{
	__m128 x = _mm_loadu_ps(in);
	x = _mm_and_ps(x, _mm_cmpeq_ps(x, x)); /* NaN -> 0 */
	x = _mm_min_ps(_mm_max_ps(_mm_mul_ps(x, _mm_set1_ps(32768.0f)), _mm_set1_ps(-32768.0f)),
		       _mm_set1_ps(32767.0f));
	return _mm_cvtps_epi32(x);
}

/* Four codes (bytes 0..3 of lanes 0..3) to out[0..3]. */
static inline void store4(uint8_t *out, __m128i code)
{
	__m128i b = _mm_packus_epi16(_mm_packs_epi32(code, code), code);
	int32_t v = _mm_cvtsi128_si32(b);
	memcpy(out, &v, 4);
}
#endif

void ivr_g711_ulaw_encode_f32(uint8_t *restrict out, const float *restrict in, size_t n_samples)
{
	size_t i = 0;
#if defined(__SSE2__)
	for (; i + 4 <= n_samples; i += 4) {
		__m128i s = f32_to_s16x4(in + i);
		__m128i neg = _mm_srai_epi32(s, 31);
		__m128i m =
			_mm_add_epi32(_mm_xor_si128(_mm_srai_epi32(s, 2), neg), _mm_set1_epi32(33));
		m = _mm_min_epi16(m,
				  _mm_set1_epi32(0x1FFF)); /* 0 <= m < 2^15: 16-bit min is exact */
		__m128i bits = _mm_srli_epi32(_mm_castps_si128(_mm_cvtepi32_ps(m)), 19);
		__m128i code = _mm_sub_epi32(_mm_set1_epi32(2239), bits);
		code = _mm_or_si128(code, _mm_andnot_si128(neg, _mm_set1_epi32(0x80)));
		store4(out + i, code);
	}
#endif
	for (; i < n_samples; i++)
		out[i] = ulaw_enc_table[(ivr_f32_to_s16(in[i]) >> 2) + 8192];
}

void ivr_g711_alaw_encode_f32(uint8_t *restrict out, const float *restrict in, size_t n_samples)
{
	size_t i = 0;
#if defined(__SSE2__)
	for (; i + 4 <= n_samples; i += 4) {
		__m128i s = f32_to_s16x4(in + i);
		__m128i neg = _mm_srai_epi32(s, 31);
		__m128i m = _mm_srai_epi32(_mm_xor_si128(s, neg), 4);
		__m128i bits = _mm_srli_epi32(_mm_castps_si128(_mm_cvtepi32_ps(m)), 19);
		__m128i seg = _mm_sub_epi32(bits, _mm_set1_epi32(2080));
		__m128i big = _mm_cmpgt_epi32(m, _mm_set1_epi32(15));
		__m128i code = _mm_or_si128(_mm_and_si128(big, seg), _mm_andnot_si128(big, m));
		code = _mm_or_si128(code, _mm_andnot_si128(neg, _mm_set1_epi32(0x80)));
		store4(out + i, _mm_xor_si128(code, _mm_set1_epi32(0x55)));
	}
#endif
	for (; i < n_samples; i++)
		out[i] = alaw_enc_table[(ivr_f32_to_s16(in[i]) >> 4) + 2048];
}

void ivr_g711_ulaw_decode_f32(float *restrict out, const uint8_t *restrict in, size_t n_samples)
{
	for (size_t i = 0; i < n_samples; i++)
		out[i] = ulaw_dec_f32[in[i]];
}

void ivr_g711_alaw_decode_f32(float *restrict out, const uint8_t *restrict in, size_t n_samples)
{
	for (size_t i = 0; i < n_samples; i++)
		out[i] = alaw_dec_f32[in[i]];
}
