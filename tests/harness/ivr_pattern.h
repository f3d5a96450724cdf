/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/ivr_pattern.h - deterministic payloads for the event-ring tests.
 *
 * The length and every byte of record @seq derive from the sequence number alone
 * (splitmix64 finaliser), so a reader thread or a fork()ed reader process can check each
 * payload byte without shared state.  Shared by tests/unit/test_shmring.c and
 * tests/integration/test_shmring_multiproc.c, which had identical copies.  Header-only.
 */
#ifndef IVR_PATTERN_H
#define IVR_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 finaliser: a cheap, well-mixed hash of @x. */
static inline uint64_t ivr_pattern_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Payload length of record @seq, in bytes, in [0, @max]. */
static inline size_t ivr_pattern_len(uint64_t seq, size_t max)
{
	return (size_t)(ivr_pattern_mix(seq * 3 + 1) % (max + 1));
}

/* Fill b[0..n) with the payload bytes of record @seq. */
static inline void ivr_pattern_fill(unsigned char *b, size_t n, uint64_t seq)
{
	uint64_t m = ivr_pattern_mix(seq);
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((m >> ((i & 7) * 8)) ^ i);
}

/* 1 if b[0..n) are the payload bytes of record @seq, else 0. */
static inline int ivr_pattern_ok(const unsigned char *b, size_t n, uint64_t seq)
{
	uint64_t m = ivr_pattern_mix(seq);
	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)((m >> ((i & 7) * 8)) ^ i))
			return 0;
	return 1;
}

#endif /* IVR_PATTERN_H */
