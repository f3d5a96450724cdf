/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_wav.c - WAV parser on arbitrary bytes (prompts, tool inputs, recordings),
 * mono and multi-channel. */
#include "config.h"

#include "dsp/wav.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivr_audio a;
	char err[128];
	if (ivr_wav_parse(&a, data, size, 0, err, sizeof(err)) == 0)
		ivr_audio_free(&a);
	/* Multi-channel paths: all channels de-interleaved, and one picked past the first. */
	if (ivr_wav_parse_channel(&a, data, size, IVR_WAV_ALL, 0, err, sizeof(err)) == 0)
		ivr_audio_free(&a);
	if (ivr_wav_parse_channel(&a, data, size, 2, 0, err, sizeof(err)) == 0)
		ivr_audio_free(&a);
	return 0;
}
