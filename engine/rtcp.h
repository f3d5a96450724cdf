/* SPDX-License-Identifier: MIT */
/*
 * engine/rtcp.h - RTCP (RFC 3550 section 6) sender and receiver reports.
 *
 * Builds a compound packet SR|RR + SDES(CNAME) as RFC 3550 6.1 requires, and
 * parses compound packets with the validity checks of appendix A.2 (version
 * 2 everywhere, first packet SR or RR, padding only in the last packet,
 * lengths adding up to the datagram).  Only the first SR/RR is decoded;
 * other packet types (SDES, BYE, APP, feedback) are skipped by length, BYE is
 * flagged.  Report blocks carry loss fraction, cumulative loss (24-bit
 * signed), extended highest sequence, jitter, LSR and DLSR (1/65536 s).
 * Thread: any; IVR_RT.
 */
#ifndef IVR_ENGINE_RTCP_H
#define IVR_ENGINE_RTCP_H

#include <stdbool.h>

#include "common/defs.h"

enum ivr_rtcp_pt {
	IVR_RTCP_SR = 200,
	IVR_RTCP_RR = 201,
	IVR_RTCP_SDES = 202,
	IVR_RTCP_BYE = 203,
	IVR_RTCP_APP = 204,
};

#define IVR_RTCP_MAX_RB 31

/** One reception report block. */
struct ivr_rtcp_rb {
	uint32_t ssrc;	       /* source this block reports on */
	uint8_t fraction_lost; /* 1/256 units, since previous report */
	int32_t cum_lost;      /* cumulative, 24-bit signed */
	uint32_t ext_max_seq;  /* extended highest sequence number received */
	uint32_t jitter;       /* timestamp units */
	uint32_t lsr;	       /* middle 32 bits of last SR's NTP time */
	uint32_t dlsr;	       /* delay since last SR, 1/65536 s */
};

/** The decoded sender info and report blocks of one SR or RR. */
struct ivr_rtcp_report {
	uint32_t ssrc; /* sender of this report */
	bool is_sr;
	bool bye;	      /* parse: a BYE was in the compound */
	uint64_t ntp;	      /* SR: NTP timestamp (32.32) */
	uint32_t rtp_ts;      /* SR: RTP timestamp matching ntp */
	uint32_t pkt_count;   /* SR: packets sent */
	uint32_t octet_count; /* SR: payload octets sent */
	uint8_t n_rb;
	struct ivr_rtcp_rb rb[IVR_RTCP_MAX_RB];
};

/**
 * Parse a compound RTCP datagram into @r (the first SR/RR).
 * @return 0, or -EBADMSG (invalid compound per RFC 3550 A.2), -EINVAL.
 * Thread: any (IVR_RT).
 */
IVR_NODISCARD IVR_RT int ivr_rtcp_parse(struct ivr_rtcp_report *r, const void *pkt, size_t n_bytes);

/**
 * Build a compound packet: an SR (r->is_sr) or RR with r->n_rb blocks, then
 * SDES with one CNAME item @cname (may be NULL: no SDES, for tests only).
 * @return length in bytes, or -ENOSPC, -EINVAL (n_rb > 31, cname > 255).
 * Thread: any (IVR_RT).
 */
IVR_NODISCARD IVR_RT int ivr_rtcp_build(void *out, size_t cap, const struct ivr_rtcp_report *r,
					const char *cname);

/** @return the middle 32 bits of a 32.32 NTP time (the LSR field). */
static inline uint32_t ivr_rtcp_ntp_mid(uint64_t ntp)
{
	return (uint32_t)(ntp >> 16);
}

/**
 * Round-trip time from a received report block (RFC 3550 6.4.1):
 * @now_mid is the middle 32 bits of the NTP time the block arrived.
 * @return RTT in 1/65536 s, or -1 when the block has no LSR.
 */
static inline int64_t ivr_rtcp_rtt(const struct ivr_rtcp_rb *rb, uint32_t now_mid)
{
	if (rb->lsr == 0)
		return -1;
	return (int64_t)(uint32_t)(now_mid - rb->lsr - rb->dlsr);
}

#endif /* IVR_ENGINE_RTCP_H */
