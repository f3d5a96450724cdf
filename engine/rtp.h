/* SPDX-License-Identifier: MIT */
/*
 * engine/rtp.h - RTP (RFC 3550) packet parse/build, per-source sequence and
 * jitter statistics, and source-address latching.
 *
 * Parsing checks every length against the datagram: fixed header, CSRC list,
 * header extension and padding, and refuses anything inconsistent with
 * -EBADMSG (outside input, fuzzed by tests/fuzz/fuzz_rtp.c).  The source
 * statistics are RFC 3550 appendix A.1 (sequence validation with probation
 * and extended sequence numbers across the 16-bit wrap), A.3 (expected and
 * lost packets, loss fraction per interval) and A.8 (interarrival jitter in
 * timestamp units, kept in 1/16 units as in the RFC's integer form).
 * Latching (symmetric RTP, RFC 4961 / "comedia"): replies go to the address the
 * caller's media actually comes from, which behind NAT differs from the one
 * signalled.
 * Thread: any; all functions are IVR_RT (no allocation, no syscalls).
 */
#ifndef IVR_ENGINE_RTP_H
#define IVR_ENGINE_RTP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "common/defs.h"

#define IVR_RTP_VERSION	 2
#define IVR_RTP_HDR_MIN	 12
#define IVR_RTP_MAX_CSRC 15

/** A parsed RTP packet; pointers refer into the parsed datagram. */
struct ivr_rtp_hdr {
	uint8_t version;    /* always 2 after a successful parse */
	uint8_t padding;    /* P bit */
	uint8_t extension;  /* X bit */
	uint8_t csrc_count; /* CC */
	uint8_t marker;	    /* M bit */
	uint8_t pt;	    /* payload type 0..127 */
	uint16_t seq;
	uint32_t ts; /* in clock-rate units */
	uint32_t ssrc;
	uint32_t csrc[IVR_RTP_MAX_CSRC];
	uint16_t ext_profile; /* "defined by profile" field when extension */
	uint16_t ext_n_words; /* extension length in 32-bit words */
	const uint8_t *ext_data;
	const uint8_t *payload;
	size_t payload_n_bytes; /* without padding */
	uint8_t pad_n_bytes;	/* padding octets, including the count octet */
};

/**
 * Parse one RTP datagram.
 * @return 0, or -EBADMSG (too short, version != 2, CSRC/extension/padding
 *         overrunning the datagram, padding count 0), -EINVAL (NULL args).
 * Thread: any (IVR_RT).
 */
IVR_NODISCARD IVR_RT int ivr_rtp_parse(struct ivr_rtp_hdr *h, const void *pkt, size_t n_bytes);

/**
 * Build an RTP packet: header from @h (version forced to 2; csrc_count CSRCs;
 * extension when h->extension with h->ext_n_words words from h->ext_data;
 * padding to a multiple of 4 when h->padding), then @payload.
 * @return the packet length in bytes, or -ENOSPC (@cap too small), -EINVAL.
 * Thread: any (IVR_RT).
 */
IVR_NODISCARD IVR_RT int ivr_rtp_build(void *out, size_t cap, const struct ivr_rtp_hdr *h,
				       const void *payload, size_t payload_n_bytes);

/** Per-source receive statistics, RFC 3550 appendix A.1/A.3/A.8. */
struct ivr_rtp_source {
	uint32_t ssrc;
	uint16_t max_seq; /* highest sequence number seen */
	uint32_t cycles;  /* shifted count of sequence number wraps */
	uint32_t base_seq;
	uint32_t bad_seq;	 /* last 'bad' seq + 1 */
	uint32_t probation;	 /* sequential packets till source is valid */
	uint32_t received;	 /* packets received (valid ones) */
	uint32_t expected_prior; /* at last report */
	uint32_t received_prior;
	uint32_t transit;    /* relative transit time for previous packet */
	uint32_t jitter_q4;  /* estimated jitter, timestamp units * 16 */
	uint32_t duplicates; /* same seq as max_seq again */
	bool valid;	     /* out of probation */
	bool have_transit;
};

/**
 * Start tracking @ssrc whose first packet has @seq (RFC 3550 init_seq, with
 * a probation of 2 sequential packets).  Thread: any (IVR_RT).
 */
IVR_RT void ivr_rtp_source_init(struct ivr_rtp_source *s, uint32_t ssrc, uint16_t seq);

/**
 * Account one packet with @seq (RFC 3550 update_seq).
 * @return 1 when the packet is valid for playout, 0 when it is held back
 *         (probation, or a large jump that is not yet confirmed).
 * Thread: any (IVR_RT).
 */
IVR_RT int ivr_rtp_source_update(struct ivr_rtp_source *s, uint16_t seq);

/**
 * Update the interarrival jitter with one packet (RFC 3550 A.8):
 * @rtp_ts its RTP timestamp, @arrival its arrival time in the same clock
 * units (e.g. samples since any fixed origin).  Thread: any (IVR_RT).
 */
IVR_RT void ivr_rtp_source_jitter(struct ivr_rtp_source *s, uint32_t rtp_ts, uint32_t arrival);

/** @return the extended highest sequence number received (cycles + max_seq). */
IVR_RT uint32_t ivr_rtp_source_ext_max(const struct ivr_rtp_source *s);

/** @return the jitter estimate in timestamp units (rounded down). */
static inline uint32_t ivr_rtp_source_jitter_units(const struct ivr_rtp_source *s)
{
	return s->jitter_q4 >> 4;
}

/**
 * Loss figures for a receiver report (RFC 3550 A.3).  @cum_lost is the
 * cumulative number lost (may be negative with duplicates, clamped to
 * 24-bit signed range), @fraction the loss fraction since the previous call
 * in 1/256 units.  Advances the interval.  Thread: any (IVR_RT).
 */
IVR_RT void ivr_rtp_source_loss(struct ivr_rtp_source *s, int32_t *cum_lost, uint8_t *fraction);

/** Source-address latch: which address replies go to. */
struct ivr_rtp_latch {
	struct sockaddr_storage addr; /* current destination */
	socklen_t addr_len;
	bool latched;	    /* true once media has been seen */
	uint64_t last_ns;   /* last packet from @addr */
	uint32_t relatches; /* address changes accepted */
	uint32_t rejected;  /* packets from other addresses dropped */
};

/** Quiet time after which media from a new address may take the latch over. */
#define IVR_RTP_RELATCH_NS (2ull * 1000000000ull)

/**
 * Initialise with the signalled remote @addr (may be NULL: nothing to send
 * to until media arrives).  Thread: any.
 */
void ivr_rtp_latch_init(struct ivr_rtp_latch *l, const struct sockaddr *addr, socklen_t len);

/**
 * Decide on a valid RTP packet from @from at @now_ns: the first packet
 * latches; later packets from another address are dropped unless the latched
 * address has been quiet for IVR_RTP_RELATCH_NS (the caller moved).
 * @return true to accept the packet.  Thread: any (IVR_RT).
 */
IVR_RT bool ivr_rtp_latch_check(struct ivr_rtp_latch *l, const struct sockaddr *from, socklen_t len,
				uint64_t now_ns);

/** @return true when two socket addresses (IPv4/IPv6) are equal. */
IVR_RT bool ivr_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif /* IVR_ENGINE_RTP_H */
