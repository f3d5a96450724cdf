/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_rtcp.c - RTCP compound parser on arbitrary datagrams; a
 * parsed report is rebuilt and must parse back to the same values.
 */
#include "config.h"

#include <stdlib.h>

#include "engine/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivr_rtcp_report r, g;
	if (ivr_rtcp_parse(&r, data, size) != 0)
		return 0;
	uint8_t out[2048];
	int n = ivr_rtcp_build(out, sizeof(out), &r, "fuzz");
	if (n < 0 || ivr_rtcp_parse(&g, out, (size_t)n) != 0 || g.ssrc != r.ssrc ||
	    g.n_rb != r.n_rb || g.is_sr != r.is_sr)
		abort();
	for (unsigned i = 0; i < r.n_rb; i++)
		if (g.rb[i].cum_lost != r.rb[i].cum_lost || g.rb[i].jitter != r.rb[i].jitter)
			abort();
	return 0;
}
