/* SPDX-License-Identifier: MIT */
/*
 * engine/rtp.c - RTP parse/build, RFC 3550 source statistics, latching.
 * See rtp.h.  The sequence logic is appendix A.1 of RFC 3550 nearly verbatim
 * (MAX_DROPOUT 3000, MAX_MISORDER 100, MIN_SEQUENTIAL 2), because its corner
 * cases (restart after a large jump, duplicates at the wrap) are what the
 * interoperability of every RTP stack rests on.
 */
#include "config.h"

#include <arpa/inet.h>

#include "engine/rtp.h"

#define RTP_SEQ_MOD    (1u << 16)
#define MAX_DROPOUT    3000
#define MAX_MISORDER   100
#define MIN_SEQUENTIAL 2

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int ivr_rtp_parse(struct ivr_rtp_hdr *h, const void *pkt, size_t n_bytes)
{
	if (!h || !pkt)
		return -EINVAL;
	const uint8_t *p = pkt;
	if (n_bytes < IVR_RTP_HDR_MIN)
		return -EBADMSG;
	h->version = p[0] >> 6;
	if (h->version != IVR_RTP_VERSION)
		return -EBADMSG;
	h->padding = (p[0] >> 5) & 1;
	h->extension = (p[0] >> 4) & 1;
	h->csrc_count = p[0] & 0x0f;
	h->marker = p[1] >> 7;
	h->pt = p[1] & 0x7f;
	h->seq = rd16(p + 2);
	h->ts = rd32(p + 4);
	h->ssrc = rd32(p + 8);
	size_t off = IVR_RTP_HDR_MIN;
	if (n_bytes - off < (size_t)h->csrc_count * 4)
		return -EBADMSG;
	for (unsigned i = 0; i < h->csrc_count; i++, off += 4)
		h->csrc[i] = rd32(p + off);
	h->ext_profile = 0;
	h->ext_n_words = 0;
	h->ext_data = NULL;
	if (h->extension) {
		if (n_bytes - off < 4)
			return -EBADMSG;
		h->ext_profile = rd16(p + off);
		h->ext_n_words = rd16(p + off + 2);
		off += 4;
		if (n_bytes - off < (size_t)h->ext_n_words * 4)
			return -EBADMSG;
		h->ext_data = p + off;
		off += (size_t)h->ext_n_words * 4;
	}
	size_t end = n_bytes;
	h->pad_n_bytes = 0;
	if (h->padding) {
		/* The last octet counts the padding, itself included: 0 is invalid. */
		uint8_t pad = p[n_bytes - 1];
		if (pad == 0 || pad > end - off)
			return -EBADMSG;
		h->pad_n_bytes = pad;
		end -= pad;
	}
	h->payload = p + off;
	h->payload_n_bytes = end - off;
	return 0;
}

int ivr_rtp_build(void *out, size_t cap, const struct ivr_rtp_hdr *h, const void *payload,
		  size_t payload_n_bytes)
{
	if (!out || !h || (payload_n_bytes && !payload) || h->csrc_count > IVR_RTP_MAX_CSRC)
		return -EINVAL;
	if (h->extension && h->ext_n_words && !h->ext_data)
		return -EINVAL;
	size_t hdr = IVR_RTP_HDR_MIN + (size_t)h->csrc_count * 4 +
		     (h->extension ? 4 + (size_t)h->ext_n_words * 4 : 0);
	size_t body = hdr + payload_n_bytes;
	size_t pad = h->padding ? 4 - (body & 3) : 0; /* 1..4: the count octet always exists */
	if (body + pad > cap || body + pad > INT32_MAX)
		return -ENOSPC;
	uint8_t *p = out;
	p[0] = (uint8_t)((IVR_RTP_VERSION << 6) | (pad ? 0x20 : 0) | (h->extension ? 0x10 : 0) |
			 h->csrc_count);
	p[1] = (uint8_t)((h->marker ? 0x80 : 0) | (h->pt & 0x7f));
	wr16(p + 2, h->seq);
	wr32(p + 4, h->ts);
	wr32(p + 8, h->ssrc);
	size_t off = IVR_RTP_HDR_MIN;
	for (unsigned i = 0; i < h->csrc_count; i++, off += 4)
		wr32(p + off, h->csrc[i]);
	if (h->extension) {
		wr16(p + off, h->ext_profile);
		wr16(p + off + 2, h->ext_n_words);
		off += 4;
		if (h->ext_n_words)
			memcpy(p + off, h->ext_data, (size_t)h->ext_n_words * 4);
		off += (size_t)h->ext_n_words * 4;
	}
	if (payload_n_bytes)
		memcpy(p + off, payload, payload_n_bytes);
	off += payload_n_bytes;
	if (pad) {
		memset(p + off, 0, pad - 1);
		p[off + pad - 1] = (uint8_t)pad;
		off += pad;
	}
	return (int)off;
}

void ivr_rtp_source_init(struct ivr_rtp_source *s, uint32_t ssrc, uint16_t seq)
{
	memset(s, 0, sizeof(*s));
	s->ssrc = ssrc;
	s->base_seq = seq;
	s->bad_seq = RTP_SEQ_MOD + 1; /* so seq == bad_seq is false */
	s->probation = MIN_SEQUENTIAL;
	/* As in RFC 3550 A.1: the first packet then counts as the start of probation. */
	s->max_seq = (uint16_t)(seq - 1);
}

static void reset_seq(struct ivr_rtp_source *s, uint16_t seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = RTP_SEQ_MOD + 1;
	s->cycles = 0;
	s->received = 0;
	s->received_prior = 0;
	s->expected_prior = 0;
}

int ivr_rtp_source_update(struct ivr_rtp_source *s, uint16_t seq)
{
	uint16_t udelta = (uint16_t)(seq - s->max_seq);

	if (s->probation) {
		/* Packet is in sequence: count down probation. */
		if (seq == (uint16_t)(s->max_seq + 1)) {
			s->probation--;
			s->max_seq = seq;
			if (s->probation == 0) {
				reset_seq(s, seq);
				s->received++;
				s->valid = true;
				return 1;
			}
		} else {
			s->probation = MIN_SEQUENTIAL - 1;
			s->max_seq = seq;
		}
		return 0;
	} else if (udelta == 0) {
		s->duplicates++;
		s->received++;
		return 0;
	} else if (udelta < MAX_DROPOUT) {
		/* In order, with permissible gap. */
		if (seq < s->max_seq)
			s->cycles += RTP_SEQ_MOD; /* sequence number wrapped */
		s->max_seq = seq;
	} else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
		/* A very large jump: two sequential packets mean the other side restarted. */
		if (seq == s->bad_seq) {
			reset_seq(s, seq);
		} else {
			s->bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1);
			return 0;
		}
	} else {
		/* Duplicate or reordered packet: counted, left for the jitter buffer to judge. */
	}
	s->received++;
	return 1;
}

void ivr_rtp_source_jitter(struct ivr_rtp_source *s, uint32_t rtp_ts, uint32_t arrival)
{
	uint32_t transit = arrival - rtp_ts;
	if (!s->have_transit) {
		s->transit = transit;
		s->have_transit = true;
		return;
	}
	int32_t d = (int32_t)(transit - s->transit);
	s->transit = transit;
	if (d < 0)
		d = -d;
	/* A.8 integer form: J += |D| - ((J + 8) >> 4), J scaled by 16. */
	s->jitter_q4 += (uint32_t)d - ((s->jitter_q4 + 8) >> 4);
}

uint32_t ivr_rtp_source_ext_max(const struct ivr_rtp_source *s)
{
	return s->cycles + s->max_seq;
}

void ivr_rtp_source_loss(struct ivr_rtp_source *s, int32_t *cum_lost, uint8_t *fraction)
{
	uint32_t ext_max = ivr_rtp_source_ext_max(s);
	uint32_t expected = s->valid ? ext_max - s->base_seq + 1 : 0;
	int64_t lost = (int64_t)expected - (int64_t)s->received;
	/* 24-bit signed field: clamp (RFC 3550 6.4.1). */
	if (lost > 0x7fffff)
		lost = 0x7fffff;
	if (lost < -0x800000)
		lost = -0x800000;
	uint32_t expected_interval = expected - s->expected_prior;
	s->expected_prior = expected;
	uint32_t received_interval = s->received - s->received_prior;
	s->received_prior = s->received;
	int64_t lost_interval = (int64_t)expected_interval - (int64_t)received_interval;
	uint8_t fr = 0;
	if (expected_interval != 0 && lost_interval > 0)
		fr = (uint8_t)IVR_MIN(255, (lost_interval << 8) / expected_interval);
	if (cum_lost)
		*cum_lost = (int32_t)lost;
	if (fraction)
		*fraction = fr;
}

bool ivr_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

void ivr_rtp_latch_init(struct ivr_rtp_latch *l, const struct sockaddr *addr, socklen_t len)
{
	memset(l, 0, sizeof(*l));
	if (addr && len > 0 && len <= sizeof(l->addr)) {
		memcpy(&l->addr, addr, len);
		l->addr_len = len;
	}
}

bool ivr_rtp_latch_check(struct ivr_rtp_latch *l, const struct sockaddr *from, socklen_t len,
			 uint64_t now_ns)
{
	if (!from || len == 0 || len > sizeof(l->addr))
		return false;
	if (l->latched && ivr_sockaddr_equal((const struct sockaddr *)&l->addr, from)) {
		l->last_ns = now_ns;
		return true;
	}
	if (l->latched && now_ns - l->last_ns < IVR_RTP_RELATCH_NS) {
		l->rejected++;
		return false;
	}
	if (l->latched)
		l->relatches++;
	memcpy(&l->addr, from, len);
	l->addr_len = len;
	l->latched = true;
	l->last_ns = now_ns;
	return true;
}
