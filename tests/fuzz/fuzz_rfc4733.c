/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_rfc4733.c - RFC 4733 parser and receiver on arbitrary bytes.
 *
 * Input layout: records of [len (1 byte, low 6 bits)][ts delta (2 bytes)]
 * [seq delta (1 byte)][flags (1 byte)][len payload bytes], so the fuzzer
 * drives the receiver's state machine (duplicates, reordering, timestamp
 * jumps, ticks) and not only the 4-byte parser.  Checks the exactly-once
 * invariant: START and END alternate and END follows a START of the same digit.
 */
#include "config.h"

#include <stdlib.h>

#include "dsp/rfc4733.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivr_rfc4733_payload blk[16];
	int nb = ivr_rfc4733_parse(data, size, blk, 16);
	for (int i = 0; i < nb; i++) { /* parse -> build gives back the bytes, R bit aside */
		uint8_t b[4];
		if (ivr_rfc4733_build(b, 4, &blk[i]) != 4 || b[0] != data[4 * i] ||
		    b[1] != (data[4 * i + 1] & 0xbf) || memcmp(b + 2, data + 4 * i + 2, 2))
			abort();
	}

	static _Alignas(64) uint8_t mem[4096];
	struct ivr_rfc4733_rx *rx = (struct ivr_rfc4733_rx *)(void *)mem;
	if (ivr_rfc4733_rx_size(NULL) > sizeof(mem) ||
	    ivr_rfc4733_rx_init(rx, sizeof(mem), NULL) < 0)
		abort();
	uint32_t ts = 0x7FFFF000u;
	uint16_t seq = 0;
	int active = 0;
	char digit = 0;
	size_t off = 0;
	while (off + 5 <= size) {
		size_t len = data[off] & 63;
		int16_t dts = (int16_t)(data[off + 1] << 8 | data[off + 2]);
		int8_t dseq = (int8_t)data[off + 3];
		uint8_t flags = data[off + 4];
		off += 5;
		if (len > size - off)
			len = size - off;
		ts += (uint32_t)(int32_t)dts;
		seq = (uint16_t)(seq + dseq);
		struct ivr_dtmf_event ev[64];
		int n;
		if (flags & 0x80)
			n = ivr_rfc4733_rx_tick(rx, ts, ev, 64);
		else
			n = ivr_rfc4733_rx_packet(rx, data + off, len, ts, seq, flags & 1, ev, 64);
		off += len;
		for (int i = 0; i < n; i++) {
			if (ev[i].type == IVR_DTMF_EV_START) {
				if (active)
					abort(); /* START while a digit is active */
				active = 1;
				digit = ev[i].digit;
			} else {
				if (!active || ev[i].digit != digit)
					abort(); /* END without its START */
				active = 0;
			}
			if (!ev[i].digit)
				abort();
		}
	}
	return 0;
}
