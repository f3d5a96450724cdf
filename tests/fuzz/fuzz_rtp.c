/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_rtp.c - RTP parser on arbitrary datagrams; a parsed packet
 * is rebuilt and must parse to the same header and payload, and drives the
 * sequence/jitter statistics.
 */
#include "config.h"

#include <stdlib.h>

#include "engine/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivr_rtp_hdr h, g;
	static struct ivr_rtp_source src;
	static int started;
	if (ivr_rtp_parse(&h, data, size) != 0)
		return 0;
	if (!started) {
		ivr_rtp_source_init(&src, h.ssrc, h.seq);
		started = 1;
	}
	(void)ivr_rtp_source_update(&src, h.seq);
	ivr_rtp_source_jitter(&src, h.ts, h.ts + (uint32_t)size);
	uint8_t out[70000];
	int n = ivr_rtp_build(out, sizeof(out), &h, h.payload, h.payload_n_bytes);
	if (n < 0 || ivr_rtp_parse(&g, out, (size_t)n) != 0 || g.seq != h.seq || g.ts != h.ts ||
	    g.payload_n_bytes != h.payload_n_bytes ||
	    memcmp(g.payload, h.payload, h.payload_n_bytes) != 0)
		abort();
	return 0;
}
