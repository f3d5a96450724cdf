/* SPDX-License-Identifier: MIT */
/*
 * dsp/g711.h - ITU-T G.711 mu-law and A-law companding.
 *
 * Bit-exact to the ITU-T G.191 reference (g711.c: ulaw_compress/expand,
 * alaw_compress/expand) over all 65536 linear inputs.  Encoding is a table
 * lookup on the bits the reference actually uses (x >> 2 for mu-law, x >> 4
 * for A-law), decoding a 256-entry table.  Stateless: callable on any thread.
 * Thread: any (IVR_RT).
 */
#ifndef IVR_DSP_G711_H
#define IVR_DSP_G711_H

#include "common/defs.h"

/*
 * RMS in 16-bit units of a 0 dBm0 sine.  G.711's load capacity is +3.17 dBm0
 * for mu-law (peak 8159 << 2) and +3.14 dBm0 for A-law (peak 4096 << 3); the
 * digital milliwatt of each law decodes to 0 dBm0 against its own reference.
 * The engine's level figures (DTMF thresholds, VAD) use the mu-law one.
 */
#define IVR_G711_ULAW_DBM0_RMS 16020.8f
#define IVR_G711_ALAW_DBM0_RMS 16141.0f
#define IVR_DBM0_RMS_S16       IVR_G711_ULAW_DBM0_RMS

/** @return the mu-law code of one 16-bit sample. Thread: any. */
IVR_RT uint8_t ivr_g711_ulaw_encode(int16_t x);
/** @return the 16-bit linear value of one mu-law code. Thread: any. */
IVR_RT int16_t ivr_g711_ulaw_decode(uint8_t code);
/** @return the A-law code of one 16-bit sample. Thread: any. */
IVR_RT uint8_t ivr_g711_alaw_encode(int16_t x);
/** @return the 16-bit linear value of one A-law code. Thread: any. */
IVR_RT int16_t ivr_g711_alaw_decode(uint8_t code);

/** Encode @n_samples int16 samples to codes. Thread: any. */
IVR_RT void ivr_g711_ulaw_encode_s16(uint8_t *restrict out, const int16_t *restrict in,
				     size_t n_samples);
IVR_RT void ivr_g711_alaw_encode_s16(uint8_t *restrict out, const int16_t *restrict in,
				     size_t n_samples);
/** Decode @n_samples codes to int16. Thread: any. */
IVR_RT void ivr_g711_ulaw_decode_s16(int16_t *restrict out, const uint8_t *restrict in,
				     size_t n_samples);
IVR_RT void ivr_g711_alaw_decode_s16(int16_t *restrict out, const uint8_t *restrict in,
				     size_t n_samples);
/**
 * Float edges: samples are int16 / 32768 (full scale = 1.0).  Encoding
 * clamps out-of-range values and maps NaN to 0.  Thread: any.
 */
IVR_RT void ivr_g711_ulaw_encode_f32(uint8_t *restrict out, const float *restrict in,
				     size_t n_samples);
IVR_RT void ivr_g711_alaw_encode_f32(uint8_t *restrict out, const float *restrict in,
				     size_t n_samples);
IVR_RT void ivr_g711_ulaw_decode_f32(float *restrict out, const uint8_t *restrict in,
				     size_t n_samples);
IVR_RT void ivr_g711_alaw_decode_f32(float *restrict out, const uint8_t *restrict in,
				     size_t n_samples);

/** Convert one float sample (full scale 1.0) to int16: rounds, clamps, NaN -> 0. */
static inline int16_t ivr_f32_to_s16(float x)
{
	if (!(x == x))
		return 0;
	float v = x * 32768.0f;
	if (v >= 32767.0f)
		return 32767;
	if (v <= -32768.0f)
		return -32768;
	return (int16_t)__builtin_lrintf(v);
}

#endif /* IVR_DSP_G711_H */
