/* SPDX-License-Identifier: MIT */
/*
 * engine/rtcp.c - RTCP SR/RR compound build and parse (RFC 3550 6.4, A.2).
 */
#include "config.h"

#include "engine/rtcp.h"

static inline uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void parse_blocks(struct ivr_rtcp_report *r, const uint8_t *p, unsigned n)
{
	r->n_rb = (uint8_t)n;
	for (unsigned i = 0; i < n; i++, p += 24) {
		struct ivr_rtcp_rb *b = &r->rb[i];
		b->ssrc = rd32(p);
		b->fraction_lost = p[4];
		uint32_t cl = ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
		/* Sign-extend the 24-bit field. */
		b->cum_lost = (cl & 0x800000) ? (int32_t)(cl | 0xff000000u) : (int32_t)cl;
		b->ext_max_seq = rd32(p + 8);
		b->jitter = rd32(p + 12);
		b->lsr = rd32(p + 16);
		b->dlsr = rd32(p + 20);
	}
}

int ivr_rtcp_parse(struct ivr_rtcp_report *r, const void *pkt, size_t n_bytes)
{
	if (!r || !pkt)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	const uint8_t *p = pkt;
	size_t off = 0;
	bool first = true, have_report = false;
	if (n_bytes < 4 || (n_bytes & 3))
		return -EBADMSG;
	while (off < n_bytes) {
		if (n_bytes - off < 4)
			return -EBADMSG;
		const uint8_t *h = p + off;
		unsigned version = h[0] >> 6, padding = (h[0] >> 5) & 1, count = h[0] & 0x1f;
		unsigned pt = h[1];
		size_t len = ((size_t)((h[2] << 8) | h[3]) + 1) * 4;
		if (version != 2 || len > n_bytes - off)
			return -EBADMSG;
		if (first && pt != IVR_RTCP_SR && pt != IVR_RTCP_RR)
			return -EBADMSG;
		size_t body = len;
		if (padding) {
			/* Only the last packet of a compound may be padded. */
			if (off + len != n_bytes)
				return -EBADMSG;
			uint8_t pad = h[len - 1];
			if (pad == 0 || pad > len - 4)
				return -EBADMSG;
			body = len - pad;
		}
		if (pt == IVR_RTCP_SR || pt == IVR_RTCP_RR) {
			size_t fixed = pt == IVR_RTCP_SR ? 28 : 8;
			if (body < fixed + (size_t)count * 24)
				return -EBADMSG;
			if (!have_report) {
				r->ssrc = rd32(h + 4);
				r->is_sr = pt == IVR_RTCP_SR;
				if (r->is_sr) {
					r->ntp = ((uint64_t)rd32(h + 8) << 32) | rd32(h + 12);
					r->rtp_ts = rd32(h + 16);
					r->pkt_count = rd32(h + 20);
					r->octet_count = rd32(h + 24);
				}
				parse_blocks(r, h + fixed, count);
				have_report = true;
			}
		} else if (pt == IVR_RTCP_BYE) {
			if (body < 4 + (size_t)count * 4)
				return -EBADMSG;
			r->bye = true;
		} else if (pt < 192 || pt > 223) {
			/* Outside the RTCP range: probably RTP sent to the RTCP port. */
			return -EBADMSG;
		}
		first = false;
		off += len;
	}
	return 0;
}

int ivr_rtcp_build(void *out, size_t cap, const struct ivr_rtcp_report *r, const char *cname)
{
	if (!out || !r || r->n_rb > IVR_RTCP_MAX_RB)
		return -EINVAL;
	size_t cname_len = cname ? strlen(cname) : 0;
	if (cname_len > 255)
		return -EINVAL;
	size_t rep = (r->is_sr ? 28 : 8) + (size_t)r->n_rb * 24;
	/* SDES: header, SSRC, item (type, len, text), END octet, pad to 32 bits. */
	size_t sdes = cname ? IVR_ROUND_UP(4 + 4 + 2 + cname_len + 1, 4) : 0;
	if (rep + sdes > cap)
		return -ENOSPC;
	uint8_t *p = out;
	p[0] = (uint8_t)(0x80 | r->n_rb);
	p[1] = r->is_sr ? IVR_RTCP_SR : IVR_RTCP_RR;
	p[2] = (uint8_t)((rep / 4 - 1) >> 8);
	p[3] = (uint8_t)(rep / 4 - 1);
	wr32(p + 4, r->ssrc);
	size_t off = 8;
	if (r->is_sr) {
		wr32(p + 8, (uint32_t)(r->ntp >> 32));
		wr32(p + 12, (uint32_t)r->ntp);
		wr32(p + 16, r->rtp_ts);
		wr32(p + 20, r->pkt_count);
		wr32(p + 24, r->octet_count);
		off = 28;
	}
	for (unsigned i = 0; i < r->n_rb; i++, off += 24) {
		const struct ivr_rtcp_rb *b = &r->rb[i];
		int32_t cl = IVR_CLAMP(b->cum_lost, -0x800000, 0x7fffff);
		wr32(p + off, b->ssrc);
		wr32(p + off + 4, ((uint32_t)b->fraction_lost << 24) | ((uint32_t)cl & 0xffffff));
		wr32(p + off + 8, b->ext_max_seq);
		wr32(p + off + 12, b->jitter);
		wr32(p + off + 16, b->lsr);
		wr32(p + off + 20, b->dlsr);
	}
	if (cname) {
		uint8_t *s = p + off;
		memset(s, 0, sdes);
		s[0] = 0x81; /* one chunk */
		s[1] = IVR_RTCP_SDES;
		s[2] = (uint8_t)((sdes / 4 - 1) >> 8);
		s[3] = (uint8_t)(sdes / 4 - 1);
		wr32(s + 4, r->ssrc);
		s[8] = 1; /* CNAME */
		s[9] = (uint8_t)cname_len;
		memcpy(s + 10, cname, cname_len);
		/* The zero fill supplies the END item and the padding to 32 bits. */
		off += sdes;
	}
	return (int)off;
}
