/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_wav.c - WAV parser on arbitrary bytes (prompts and tool inputs). */
#include "config.h"

#include "dsp/wav.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivr_audio a;
	char err[128];
	if (ivr_wav_parse(&a, data, size, 0, err, sizeof(err)) == 0)
		ivr_audio_free(&a);
	return 0;
}
