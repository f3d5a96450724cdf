/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_rtcp.c - SR/RR compound build/parse round trip, report
 * blocks filled from real RTP statistics, RTT from LSR/DLSR, and the RFC 3550
 * A.2 validity checks on malformed compounds.
 */
#include "config.h"

#include "engine/rtcp.h"
#include "engine/rtp.h"
#include "ivr_test.h"

IVR_TEST(test_sr_roundtrip)
{
	struct ivr_rtcp_report r = { 0 }, g;
	r.is_sr = true;
	r.ssrc = 0x11223344;
	r.ntp = 0xe1234567890abcdeull;
	r.rtp_ts = 160000;
	r.pkt_count = 1000;
	r.octet_count = 160000;
	r.n_rb = 2;
	r.rb[0] = (struct ivr_rtcp_rb){ .ssrc = 7,
					.fraction_lost = 25,
					.cum_lost = -3,
					.ext_max_seq = 70000,
					.jitter = 42,
					.lsr = 0x5678,
					.dlsr = 65536 };
	r.rb[1] = (struct ivr_rtcp_rb){ .ssrc = 8, .cum_lost = 0x7fffff };
	uint8_t buf[512];
	int n = ivr_rtcp_build(buf, sizeof(buf), &r, "ivr@engine");
	ivr_check(n > 0 && (n & 3) == 0);
	ivr_check_int_eq(ivr_rtcp_parse(&g, buf, (size_t)n), 0);
	ivr_check(g.is_sr);
	ivr_check_int_eq(g.ssrc, r.ssrc);
	ivr_check(g.ntp == r.ntp);
	ivr_check_int_eq(g.rtp_ts, r.rtp_ts);
	ivr_check_int_eq(g.pkt_count, 1000);
	ivr_check_int_eq(g.octet_count, 160000);
	ivr_check_int_eq(g.n_rb, 2);
	ivr_check_int_eq(g.rb[0].ssrc, 7);
	ivr_check_int_eq(g.rb[0].fraction_lost, 25);
	ivr_check_int_eq(g.rb[0].cum_lost, -3);
	ivr_check_int_eq(g.rb[0].ext_max_seq, 70000);
	ivr_check_int_eq(g.rb[0].jitter, 42);
	ivr_check_int_eq(g.rb[0].lsr, 0x5678);
	ivr_check_int_eq(g.rb[0].dlsr, 65536);
	ivr_check_int_eq(g.rb[1].cum_lost, 0x7fffff);
	/* Too small a buffer. */
	ivr_check_int_eq(ivr_rtcp_build(buf, 40, &r, "ivr@engine"), -ENOSPC);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_rr_from_stats)
{
	/* Receive 1000 packets with every 10th lost, fill an RR from the statistics. */
	struct ivr_rtp_source s;
	ivr_rtp_source_init(&s, 99, 100);
	int lost = 0;
	for (int i = 0; i < 1000; i++) {
		if (i > 2 && i % 10 == 0) {
			lost++;
			continue;
		}
		(void)ivr_rtp_source_update(&s, (uint16_t)(100 + i));
		ivr_rtp_source_jitter(&s, (uint32_t)i * 160, (uint32_t)i * 160 + (i & 1) * 16);
	}
	struct ivr_rtcp_report r = { .ssrc = 5, .n_rb = 1 }, g;
	r.rb[0].ssrc = s.ssrc;
	ivr_rtp_source_loss(&s, &r.rb[0].cum_lost, &r.rb[0].fraction_lost);
	r.rb[0].ext_max_seq = ivr_rtp_source_ext_max(&s);
	r.rb[0].jitter = ivr_rtp_source_jitter_units(&s);
	uint8_t buf[256];
	int n = ivr_rtcp_build(buf, sizeof(buf), &r, "x");
	ivr_check_int_eq(ivr_rtcp_parse(&g, buf, (size_t)n), 0);
	ivr_check(!g.is_sr);
	ivr_check_int_eq(g.rb[0].cum_lost, lost);
	/* ~10% loss -> about 25/256 */
	ivr_check_near(g.rb[0].fraction_lost, 25.6, 1.5);
	ivr_check_int_eq(g.rb[0].ext_max_seq, 100 + 999);
	ivr_check_near(g.rb[0].jitter, 16, 2);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_rtt)
{
	/* SR sent at NTP t0; the peer held it 0.5 s and answered; arrives at t0 + 0.7 s. */
	uint64_t t0 = 0x0000abcd80000000ull;
	struct ivr_rtcp_rb rb = { .lsr = ivr_rtcp_ntp_mid(t0), .dlsr = 32768 };
	uint64_t now = t0 + (uint64_t)(0.7 * 4294967296.0);
	int64_t rtt = ivr_rtcp_rtt(&rb, ivr_rtcp_ntp_mid(now));
	ivr_check_near(rtt / 65536.0, 0.2, 0.001);
	rb.lsr = 0;
	ivr_check_int_eq(ivr_rtcp_rtt(&rb, 5), -1);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_parse_rejects_bad)
{
	struct ivr_rtcp_report r = { .ssrc = 1, .n_rb = 1 }, g;
	uint8_t buf[256];
	int n = ivr_rtcp_build(buf, sizeof(buf), &r, "cname");
	ivr_check(n > 0);
	ivr_check_int_eq(ivr_rtcp_parse(&g, buf, 0), -EBADMSG);
	ivr_check_int_eq(ivr_rtcp_parse(&g, buf, (size_t)n - 4), -EBADMSG); /* SDES cut */
	ivr_check_int_eq(ivr_rtcp_parse(&g, buf, (size_t)n - 1), -EBADMSG);
	uint8_t bad[256];
	memcpy(bad, buf, (size_t)n);
	bad[0] = 0x41; /* version 1 */
	ivr_check_int_eq(ivr_rtcp_parse(&g, bad, (size_t)n), -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[1] = IVR_RTCP_SDES; /* first packet must be SR/RR */
	ivr_check_int_eq(ivr_rtcp_parse(&g, bad, (size_t)n), -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[0] |= 0x20; /* padding in a packet that is not the last */
	ivr_check_int_eq(ivr_rtcp_parse(&g, bad, (size_t)n), -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[0] = 0x9f; /* RC 31 overruns the length */
	ivr_check_int_eq(ivr_rtcp_parse(&g, bad, (size_t)n), -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[3] = 0xff; /* length beyond the datagram */
	ivr_check_int_eq(ivr_rtcp_parse(&g, bad, (size_t)n), -EBADMSG);
	/* An RTP packet is not RTCP. */
	uint8_t rtp[172] = { 0x80, 0x00 };
	ivr_check_int_eq(ivr_rtcp_parse(&g, rtp, sizeof(rtp)), -EBADMSG);
	ivr_check_int_eq(ivr_rtcp_parse(NULL, buf, (size_t)n), -EINVAL);
	/* RR + BYE is valid and flagged. */
	int m = ivr_rtcp_build(buf, sizeof(buf), &(struct ivr_rtcp_report){ .ssrc = 3 }, NULL);
	buf[m] = 0x81;
	buf[m + 1] = IVR_RTCP_BYE;
	buf[m + 2] = 0;
	buf[m + 3] = 1;
	memset(buf + m + 4, 0, 4);
	ivr_check_int_eq(ivr_rtcp_parse(&g, buf, (size_t)m + 8), 0);
	ivr_check(g.bye);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_sr_roundtrip);
	ivr_test_run(test_rr_from_stats);
	ivr_test_run(test_rtt);
	ivr_test_run(test_parse_rejects_bad);
	return ivr_test_summary();
}
