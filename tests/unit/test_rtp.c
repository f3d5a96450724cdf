/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_rtp.c - RTP parse/build round trips, every malformed
 * length refused, RFC 3550 A.1 sequence tracking across the wrap with loss,
 * duplicates and restarts, A.8 jitter against a direct float computation,
 * and source-address latching.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "engine/rtp.h"
#include "ivr_test.h"

IVR_TEST(test_build_parse_roundtrip)
{
	uint8_t payload[160], pkt[512];
	for (int i = 0; i < 160; i++)
		payload[i] = (uint8_t)(i * 7);
	uint32_t ext[2] = { 0x01020304, 0x05060708 };
	for (int variant = 0; variant < 8; variant++) {
		struct ivr_rtp_hdr h = { 0 }, g;
		h.marker = variant & 1;
		h.pt = (uint8_t)(variant * 13 & 0x7f);
		h.seq = (uint16_t)(65530 + variant);
		h.ts = 0xfffffff0u + (uint32_t)variant * 160;
		h.ssrc = 0xdeadbeef;
		h.csrc_count = (variant & 2) ? 3 : 0;
		for (int i = 0; i < 3; i++)
			h.csrc[i] = 100u + (uint32_t)i;
		h.extension = (variant & 4) ? 1 : 0;
		h.ext_profile = 0xbede;
		h.ext_n_words = 2;
		h.ext_data = (const uint8_t *)ext;
		h.padding = variant == 7;
		int n = ivr_rtp_build(pkt, sizeof(pkt), &h, payload, sizeof(payload));
		ivr_check(n > 0);
		ivr_check_int_eq(ivr_rtp_parse(&g, pkt, (size_t)n), 0);
		ivr_check_int_eq(g.version, 2);
		ivr_check_int_eq(g.marker, h.marker);
		ivr_check_int_eq(g.pt, h.pt);
		ivr_check_int_eq(g.seq, h.seq);
		ivr_check_int_eq(g.ts, h.ts);
		ivr_check_int_eq(g.ssrc, h.ssrc);
		ivr_check_int_eq(g.csrc_count, h.csrc_count);
		if (h.csrc_count)
			ivr_check_int_eq(g.csrc[2], 102);
		ivr_check_int_eq(g.extension, h.extension);
		if (h.extension) {
			ivr_check_int_eq(g.ext_profile, 0xbede);
			ivr_check_int_eq(g.ext_n_words, 2);
			ivr_check(!memcmp(g.ext_data, ext, 8));
		}
		ivr_check_int_eq(g.payload_n_bytes, 160);
		ivr_check(!memcmp(g.payload, payload, 160));
		if (h.padding)
			ivr_check(g.pad_n_bytes >= 1 && (n & 3) == 0);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(test_parse_rejects_bad)
{
	uint8_t pkt[64] = { 0 };
	struct ivr_rtp_hdr h;
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 0), -EBADMSG);
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 11), -EBADMSG);
	ivr_check_int_eq(ivr_rtp_parse(NULL, pkt, 12), -EINVAL);
	pkt[0] = 0x40; /* version 1 */
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 12), -EBADMSG);
	pkt[0] = 0x8f; /* 15 CSRCs in a 20-byte packet */
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 20), -EBADMSG);
	pkt[0] = 0x90; /* extension header missing */
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 14), -EBADMSG);
	pkt[14] = 0x00;
	pkt[15] = 0x10; /* 16 words of extension in a 20-byte packet */
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 20), -EBADMSG);
	pkt[0] = 0xa0; /* padding count 0 */
	pkt[19] = 0;
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 20), -EBADMSG);
	pkt[19] = 9; /* padding larger than the payload */
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 20), -EBADMSG);
	pkt[19] = 8; /* padding eats the whole payload: legal, empty */
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 20), 0);
	ivr_check_int_eq(h.payload_n_bytes, 0);
	pkt[0] = 0x80;
	ivr_check_int_eq(ivr_rtp_parse(&h, pkt, 12), 0);
	ivr_check_int_eq(h.payload_n_bytes, 0);
	/* build: too small an output buffer */
	struct ivr_rtp_hdr b = { .pt = 0 };
	ivr_check_int_eq(ivr_rtp_build(pkt, 20, &b, pkt, 160), -ENOSPC);
	b.csrc_count = 16;
	ivr_check_int_eq(ivr_rtp_build(pkt, sizeof(pkt), &b, NULL, 0), -EINVAL);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_seq_wrap_loss_dup)
{
	struct ivr_rtp_source s;
	uint16_t seq = 65000;
	ivr_rtp_source_init(&s, 1, seq);
	ivr_check_int_eq(ivr_rtp_source_update(&s, seq), 0); /* probation */
	seq++;
	ivr_check_int_eq(ivr_rtp_source_update(&s, seq), 1);
	int sent = 2, delivered = 1; /* RFC counts from the confirming packet */
	uint16_t first_counted = seq;
	int dropped = 0;
	for (int i = 0; i < 2000; i++) {
		seq++;
		sent++;
		if (i % 50 == 7) {
			dropped++;
			continue;
		}
		ivr_check_int_eq(ivr_rtp_source_update(&s, seq), 1);
		delivered++;
	}
	ivr_check_int_eq(ivr_rtp_source_ext_max(&s), 65536u + seq);
	int32_t cum;
	uint8_t frac;
	ivr_rtp_source_loss(&s, &cum, &frac);
	ivr_check_int_eq(cum, dropped);
	/* fraction over the whole interval: dropped/expected in 1/256 */
	uint32_t expected = (uint32_t)(65536u + seq - first_counted + 1);
	ivr_check_int_eq(frac, (dropped * 256) / (int)expected);
	(void)delivered;
	(void)sent;
	/* A duplicate does not advance, and makes cumulative loss smaller. */
	ivr_check_int_eq(ivr_rtp_source_update(&s, seq), 0);
	ivr_check_int_eq(s.duplicates, 1);
	ivr_rtp_source_loss(&s, &cum, &frac);
	ivr_check_int_eq(cum, dropped - 1);
	ivr_check_int_eq(frac, 0);
	/* A big jump needs a second sequential packet to restart the source. */
	uint16_t jump = (uint16_t)(seq + 20000);
	ivr_check_int_eq(ivr_rtp_source_update(&s, jump), 0);
	ivr_check_int_eq(ivr_rtp_source_update(&s, (uint16_t)(jump + 1)), 1);
	ivr_check_int_eq(s.max_seq, (uint16_t)(jump + 1));
	ivr_check_int_eq(s.cycles, 0);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_jitter_a8)
{
	/* Packets every 160 units, arrival jittered by a known pseudo-random amount. */
	struct ivr_rtp_source s;
	ivr_rtp_source_init(&s, 1, 0);
	double j = 0, prev_transit = 0;
	uint32_t rng = 12345;
	for (int i = 0; i < 5000; i++) {
		rng = rng * 1103515245u + 12345u;
		int noise = (int)((rng >> 16) % 81) - 40; /* +-40 units (+-5 ms at 8 kHz) */
		uint32_t ts = 1000u + (uint32_t)i * 160u;
		uint32_t arrival = 777u + (uint32_t)i * 160u + (uint32_t)(noise + 40);
		ivr_rtp_source_jitter(&s, ts, arrival);
		double transit = (double)arrival - (double)ts;
		if (i > 0)
			j += (fabs(transit - prev_transit) - j) / 16.0;
		prev_transit = transit;
	}
	ivr_check_near(ivr_rtp_source_jitter_units(&s), j, 2.0);
	/* uniform +-40: E|X-Y| = 80/3 ~ 27 */
	ivr_check_near(j, 27.0, 6.0);
	/* Constant delay gives zero jitter. */
	ivr_rtp_source_init(&s, 1, 0);
	for (int i = 0; i < 100; i++)
		ivr_rtp_source_jitter(&s, (uint32_t)i * 160u, 5u + (uint32_t)i * 160u);
	ivr_check_int_eq(ivr_rtp_source_jitter_units(&s), 0);
	return IVR_TEST_RESULT();
}

static struct sockaddr_in addr4(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

IVR_TEST(test_latch)
{
	struct ivr_rtp_latch l;
	struct sockaddr_in sig = addr4("10.0.0.1", 4000), nat = addr4("192.0.2.7", 31000),
			   other = addr4("198.51.100.9", 5000);
	ivr_rtp_latch_init(&l, (struct sockaddr *)&sig, sizeof(sig));
	ivr_check(!l.latched);
	ivr_check(ivr_sockaddr_equal((struct sockaddr *)&l.addr, (struct sockaddr *)&sig));
	/* First media from the NAT address takes over. */
	ivr_check(ivr_rtp_latch_check(&l, (struct sockaddr *)&nat, sizeof(nat), 1000));
	ivr_check(ivr_sockaddr_equal((struct sockaddr *)&l.addr, (struct sockaddr *)&nat));
	/* A third party is refused while the latched source is alive. */
	ivr_check(!ivr_rtp_latch_check(&l, (struct sockaddr *)&other, sizeof(other), 20000000));
	ivr_check_int_eq(l.rejected, 1);
	ivr_check(ivr_rtp_latch_check(&l, (struct sockaddr *)&nat, sizeof(nat), 40000000));
	/* After 2 s of silence a new address may take over. */
	ivr_check(ivr_rtp_latch_check(&l, (struct sockaddr *)&other, sizeof(other),
				      40000000 + IVR_RTP_RELATCH_NS));
	ivr_check(ivr_sockaddr_equal((struct sockaddr *)&l.addr, (struct sockaddr *)&other));
	ivr_check_int_eq(l.relatches, 1);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_build_parse_roundtrip);
	ivr_test_run(test_parse_rejects_bad);
	ivr_test_run(test_seq_wrap_loss_dup);
	ivr_test_run(test_jitter_a8);
	ivr_test_run(test_latch);
	return ivr_test_summary();
}
