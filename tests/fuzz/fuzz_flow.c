/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_flow.c - flow YAML parser on arbitrary bytes (grammar authors' files). */
#include "config.h"

#include "asr/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivr_flow *f;
	char err[256];
	if (ivr_flow_parse(&f, (const char *)data, size, "fuzz.yaml", err, sizeof(err)) == 0)
		ivr_flow_free(f);
	return 0;
}
