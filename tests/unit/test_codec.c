/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_codec.c - PCMU/PCMA per-call codec: a 1 kHz tone survives
 * encode/decode with G.711's SNR (> 30 dB), payload types, names, bad input.
 */
#include "config.h"

#include <math.h>

#include "engine/codec.h"
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
	int n = ivr_codec_encode(&c, in, 160, pay, sizeof(pay));
	if (n != 160 || ivr_codec_decode(&c, pay, 160, out, 160) != 160)
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
	ivr_check_int_eq(ivr_codec_init(&c, IVR_CODEC_OPUS, -1), -ENOTSUP);
	ivr_check_int_eq(ivr_codec_init(&c, IVR_CODEC_PCMU, 0), 0);
	float f[10] = { 0 };
	uint8_t p[4];
	ivr_check_int_eq(ivr_codec_encode(&c, f, 10, p, sizeof(p)), -ENOSPC);
	/* A short payload decodes what is there, never more than the room. */
	uint8_t big[400];
	memset(big, 0xff, sizeof(big));
	ivr_check_int_eq(ivr_codec_decode(&c, big, sizeof(big), f, 10), 10);
	ivr_check_near(f[9], 0, 1e-3);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_g711_roundtrip);
	ivr_test_run(test_names_and_errors);
	return ivr_test_summary();
}
