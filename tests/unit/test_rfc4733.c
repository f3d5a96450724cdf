/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_rfc4733.c - RFC 4733 payloads, sender and receiver.
 *
 * The sender's packets are checked field by field against RFC 4733 2.5.1
 * (marker, timestamp, cumulative duration, end x3, segments); the receiver
 * is fed the sender's output after duplication, reordering (random jitter)
 * and loss, and must report every digit exactly once and in order; and the
 * real RFC 2833/4733 captures shipped with SIPp (Debian sip-tester) are
 * parsed from pcap (Ethernet/IPv4/UDP/RTP) and must yield their digit.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "dsp/rfc4733.h"
#include "ivr_test.h"

#define MAX_PKTS 4096

struct pkt {
	uint8_t payload[4];
	uint32_t ts;
	uint16_t seq;
	bool marker;
	double arrival; /* for reordering */
};

/* Run the sender over @digits; audio interval of @interval samples. */
static int make_stream(const char *digits, uint32_t dur_ms, uint32_t gap_ms, uint32_t ts0,
		       struct pkt *out, int max)
{
	struct ivr_rfc4733_tx *tx = ivr_rfc4733_tx_new(NULL);
	if (!tx)
		return -1;
	if (ivr_rfc4733_tx_send(tx, digits, dur_ms, gap_ms) != (int)strlen(digits)) {
		ivr_rfc4733_tx_free(tx);
		return -1;
	}
	int n = 0;
	uint32_t ts = ts0;
	uint16_t seq = 1000;
	while (ivr_rfc4733_tx_busy(tx) && n < max) {
		struct ivr_rfc4733_tx_pkt p;
		int r = ivr_rfc4733_tx_tick(tx, ts, &p);
		if (r == 1) {
			memcpy(out[n].payload, p.payload, 4);
			out[n].ts = p.timestamp;
			out[n].marker = p.marker;
			out[n].seq = seq;
			out[n].arrival = (double)(uint32_t)(ts - ts0);
			n++;
		}
		seq++; /* audio packets take sequence numbers in between */
		ts += 160;
	}
	ivr_rfc4733_tx_free(tx);
	return n;
}

/* Feed packets to a receiver, collect events, then tick far ahead. */
static int receive(const struct pkt *p, int n, struct ivr_dtmf_event *ev, int max_ev,
		   uint32_t tick_ts)
{
	struct ivr_rfc4733_rx *rx = ivr_rfc4733_rx_new(NULL);
	if (!rx)
		return -1;
	int k = 0;
	for (int i = 0; i < n && k + 3 <= max_ev; i++) {
		int r = ivr_rfc4733_rx_packet(rx, p[i].payload, 4, p[i].ts, p[i].seq, p[i].marker,
					      ev + k, (size_t)(max_ev - k));
		if (r < 0) {
			ivr_rfc4733_rx_free(rx);
			return r;
		}
		k += r;
	}
	if (k < max_ev) {
		int r = ivr_rfc4733_rx_tick(rx, tick_ts, ev + k, (size_t)(max_ev - k));
		k += r > 0 ? r : 0;
	}
	ivr_rfc4733_rx_free(rx);
	return k;
}

/* Events must be START/END pairs of @digits in order; returns 1 if so. */
static int check_pairs(const struct ivr_dtmf_event *ev, int n, const char *digits)
{
	size_t nd = strlen(digits);
	if (n != (int)(2 * nd)) {
		fprintf(stderr, "  got %d events for %zu digits:", n, nd);
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %c%c", ev[i].type == IVR_DTMF_EV_START ? '+' : '-',
				ev[i].digit);
		fputc('\n', stderr);
		return 0;
	}
	for (size_t i = 0; i < nd; i++) {
		const struct ivr_dtmf_event *s = &ev[2 * i], *e = &ev[2 * i + 1];
		if (s->type != IVR_DTMF_EV_START || e->type != IVR_DTMF_EV_END ||
		    s->digit != digits[i] || e->digit != digits[i] ||
		    s->onset_sample != e->onset_sample) {
			fprintf(stderr, "  pair %zu wrong: %d%c %d%c\n", i, s->type, s->digit,
				e->type, e->digit);
			return 0;
		}
	}
	return 1;
}

IVR_TEST(digit_map_and_payload_roundtrip)
{
	const char *all = "0123456789*#ABCD!";
	for (int i = 0; all[i]; i++) {
		ivr_check_int_eq(ivr_rfc4733_event_from_digit(all[i]), i);
		ivr_check_int_eq(ivr_rfc4733_digit_from_event((unsigned)i), all[i]);
	}
	ivr_check_int_eq(ivr_rfc4733_event_from_digit('b'), 13);
	ivr_check_int_eq(ivr_rfc4733_event_from_digit('x'), -EINVAL);
	ivr_check_int_eq(ivr_rfc4733_event_from_digit('\0'), -EINVAL);
	ivr_check_int_eq(ivr_rfc4733_digit_from_event(17), 0);
	ivr_check_int_eq(ivr_rfc4733_digit_from_event(255), 0);

	for (unsigned ev = 0; ev < 256; ev += 7) {
		for (unsigned vol = 0; vol < 64; vol += 9) {
			struct ivr_rfc4733_payload in = { (uint8_t)ev, (ev & 1) != 0, (uint8_t)vol,
							  (uint16_t)(ev * 257 + vol) },
						   out;
			uint8_t b[4];
			ivr_check_int_eq(ivr_rfc4733_build(b, 4, &in), 4);
			ivr_check_int_eq(ivr_rfc4733_parse(b, 4, &out, 1), 1);
			ivr_check_int_eq(out.event, in.event);
			ivr_check_int_eq(out.end, in.end);
			ivr_check_int_eq(out.volume, in.volume);
			ivr_check_int_eq(out.duration, in.duration);
		}
	}
	/* Wire layout of RFC 4733 figure 1: '5', E set, volume 10, 800 units. */
	uint8_t b[4];
	struct ivr_rfc4733_payload p = { 5, true, 10, 800 };
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &p), 4);
	ivr_check_int_eq(b[0], 0x05);
	ivr_check_int_eq(b[1], 0x8a);
	ivr_check_int_eq(b[2], 0x03);
	ivr_check_int_eq(b[3], 0x20);
	/* The R bit is ignored on receive. */
	uint8_t r[4] = { 3, 0x40 | 0x80 | 7, 0, 160 };
	ivr_check_int_eq(ivr_rfc4733_parse(r, 4, &p, 1), 1);
	ivr_check_int_eq(p.end, 1);
	ivr_check_int_eq(p.volume, 7);
	return IVR_TEST_RESULT();
}

IVR_TEST(payload_bad_input)
{
	uint8_t b[12] = { 0 };
	struct ivr_rfc4733_payload p[3];
	ivr_check_int_eq(ivr_rfc4733_parse(b, 0, p, 3), -EBADMSG);
	ivr_check_int_eq(ivr_rfc4733_parse(b, 3, p, 3), -EBADMSG);
	ivr_check_int_eq(ivr_rfc4733_parse(b, 5, p, 3), -EBADMSG);
	ivr_check_int_eq(ivr_rfc4733_parse(b, 12, p, 2), -ENOSPC);
	ivr_check_int_eq(ivr_rfc4733_parse(b, 12, p, 3), 3);
	ivr_check_int_eq(ivr_rfc4733_parse(NULL, 4, p, 3), -EINVAL);
	ivr_check_int_eq(ivr_rfc4733_parse(b, 4, NULL, 3), -EINVAL);
	struct ivr_rfc4733_payload v = { 1, false, 64, 0 };
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &v), -EINVAL);
	v.volume = 63;
	ivr_check_int_eq(ivr_rfc4733_build(b, 3, &v), -ENOSPC);
	ivr_check_int_eq(ivr_rfc4733_build(NULL, 4, &v), -EINVAL);

	struct ivr_rfc4733_tx_cfg bad = { .volume = 64 };
	ivr_check(ivr_rfc4733_tx_new(&bad) == NULL && errno == EINVAL);
	struct ivr_rfc4733_rx_cfg badr = { .rate_hz = 10 };
	ivr_check(ivr_rfc4733_rx_new(&badr) == NULL && errno == EINVAL);
	char small[8];
	ivr_check_int_eq(
		ivr_rfc4733_tx_init((struct ivr_rfc4733_tx *)(void *)small, sizeof(small), NULL),
		-ENOSPC);
	ivr_check_int_eq(
		ivr_rfc4733_rx_init((struct ivr_rfc4733_rx *)(void *)small, sizeof(small), NULL),
		-ENOSPC);
	ivr_rfc4733_tx_free(NULL);
	ivr_rfc4733_rx_free(NULL);
	return IVR_TEST_RESULT();
}

IVR_TEST(sender_packet_sequence)
{
	struct ivr_rfc4733_tx *tx = ivr_rfc4733_tx_new(NULL);
	ivr_check(tx != NULL);
	if (!tx)
		return IVR_TEST_FAIL;
	ivr_check_int_eq(ivr_rfc4733_tx_send(tx, "5x", 100, 50), -EINVAL);
	ivr_check(!ivr_rfc4733_tx_busy(tx));
	ivr_check_int_eq(ivr_rfc4733_tx_send(tx, "5", 0, 50), -EINVAL);
	ivr_check_int_eq(ivr_rfc4733_tx_send(tx, "59", 100, 60), 2);
	uint32_t ts = 4000;
	struct ivr_rfc4733_tx_pkt p;
	struct ivr_rfc4733_payload pl;
	/* Digit 5: 100 ms = 800 units: 5 packets, the last one x3. */
	for (int i = 0; i < 7; i++, ts += 160) {
		ivr_check_int_eq(ivr_rfc4733_tx_tick(tx, ts, &p), 1);
		ivr_check_int_eq(p.n_bytes, 4);
		ivr_check_int_eq(ivr_rfc4733_parse(p.payload, 4, &pl, 1), 1);
		ivr_check_int_eq(p.timestamp, 4000);
		ivr_check_int_eq(p.marker, i == 0);
		ivr_check_int_eq(pl.event, 5);
		ivr_check_int_eq(pl.volume, 10);
		ivr_check_int_eq(pl.duration, IVR_MIN(160 * (i + 1), 800));
		ivr_check_int_eq(pl.end, i >= 4);
	}
	/* 60 ms gap after the 800-unit event: audio until ts 4000+800+480. */
	int idle = 0;
	while (ivr_rfc4733_tx_tick(tx, ts, &p) == 0) {
		idle++;
		ts += 160;
	}
	ivr_check(ts >= 4000 + 800 + 480);
	ivr_check(idle >= 1);
	ivr_check_int_eq(p.timestamp, ts);
	ivr_check(p.marker);
	ivr_check_int_eq(p.payload[0], 9);
	ivr_check(ivr_rfc4733_tx_busy(tx));
	ivr_rfc4733_tx_reset(tx);
	ivr_check(!ivr_rfc4733_tx_busy(tx));
	ivr_check_int_eq(ivr_rfc4733_tx_tick(tx, ts, &p), 0);
	/* The queue holds 64 digits. */
	char many[66];
	memset(many, '1', 65);
	many[65] = 0;
	ivr_check_int_eq(ivr_rfc4733_tx_send(tx, many, 100, 50), -ENOSPC);
	many[64] = 0;
	ivr_check_int_eq(ivr_rfc4733_tx_send(tx, many, 100, 50), 64);
	ivr_check_int_eq(ivr_rfc4733_tx_send(tx, "1", 100, 50), -ENOSPC);
	ivr_rfc4733_tx_free(tx);
	return IVR_TEST_RESULT();
}

IVR_TEST(long_event_is_segmented)
{
	/* 10 s = 80000 units > 0xFFFF: two segments (RFC 4733 2.5.1.3). */
	static struct pkt p[MAX_PKTS];
	uint32_t ts0 = 0xFFFFF000u; /* and the RTP timestamp wraps meanwhile */
	int n = make_stream("#", 10000, 100, ts0, p, MAX_PKTS);
	ivr_check(n > 500);
	int markers = 0, seg_end = 0, ev_end = 0;
	uint32_t seg2 = 0;
	for (int i = 0; i < n; i++) {
		struct ivr_rfc4733_payload pl;
		ivr_check_int_eq(ivr_rfc4733_parse(p[i].payload, 4, &pl, 1), 1);
		markers += p[i].marker;
		if (p[i].ts == ts0) {
			if (pl.duration == 0xFFFF && !pl.end)
				seg_end++;
		} else {
			seg2 = p[i].ts;
			ev_end += pl.end;
			if (pl.end)
				ivr_check_int_eq(pl.duration, 80000 - 0xFFFF);
		}
	}
	ivr_check_int_eq(markers, 1);
	ivr_check_int_eq(seg_end, 3);
	ivr_check_int_eq(ev_end, 3);
	ivr_check_int_eq(seg2, ts0 + 0xFFFF);
	struct ivr_dtmf_event ev[16];
	int k = receive(p, n, ev, 16, ts0 + 200000);
	ivr_check(check_pairs(ev, k, "#"));
	if (k == 2) {
		ivr_check_int_eq(ev[1].duration_samples, 80000);
		ivr_check_int_eq(ev[0].onset_sample, ts0);
	}
	/* Losing every copy of the first segment's end still gives one digit. */
	int m = 0;
	for (int i = 0; i < n; i++) {
		struct ivr_rfc4733_payload pl;
		if (ivr_rfc4733_parse(p[i].payload, 4, &pl, 1) == 1 && p[i].ts == ts0 &&
		    pl.duration == 0xFFFF)
			continue;
		p[m++] = p[i];
	}
	k = receive(p, m, ev, 16, ts0 + 200000);
	ivr_check(check_pairs(ev, k, "#"));
	if (k == 2)
		ivr_check_int_eq(ev[1].duration_samples, 80000);
	return IVR_TEST_RESULT();
}

IVR_TEST(receiver_clean_stream)
{
	static struct pkt p[MAX_PKTS];
	const char *digits = "0123456789*#ABCD11";
	int n = make_stream(digits, 80, 60, 123456, p, MAX_PKTS);
	struct ivr_dtmf_event ev[64];
	int k = receive(p, n, ev, 64, 0);
	ivr_check(check_pairs(ev, k, digits));
	for (int i = 1; i < k; i += 2)
		ivr_check_int_eq(ev[i].duration_samples, 640);
	ivr_check_int_eq(ev[0].onset_sample, 123456);
	for (int i = 2; i < k; i += 2)
		ivr_check(ev[i].onset_sample > ev[i - 2].onset_sample + 640);
	return IVR_TEST_RESULT();
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return rng_state >> 8;
}
static double urand(void)
{
	return (rnd() & 0xFFFFFF) / 16777216.0;
}

static int by_arrival(const void *a, const void *b)
{
	double x = ((const struct pkt *)a)->arrival, y = ((const struct pkt *)b)->arrival;
	return x < y ? -1 : x > y;
}

IVR_TEST(receiver_exactly_once_under_dup_reorder_loss)
{
	static struct pkt p[MAX_PKTS], q[2 * MAX_PKTS];
	const char *digits = "123A456B789C*0#D5555";
	int n = make_stream(digits, 100, 60, 0x7FFFFF00u, p, MAX_PKTS);
	struct ivr_dtmf_event ev[128];
	int bad = 0;
	for (int trial = 0; trial < 300; trial++) {
		int m = 0;
		bool kept_any = false;
		for (int i = 0; i < n; i++) {
			struct ivr_rfc4733_payload pl;
			if (ivr_rfc4733_parse(p[i].payload, 4, &pl, 1) != 1)
				return IVR_TEST_FAIL;
			bool is_first = p[i].marker, is_end = pl.end;
			bool is_last = i + 1 == n || p[i + 1].ts != p[i].ts;
			double loss = trial % 3 == 0 ? 0.2 : 0.05;
			bool drop = false;
			if (is_first) {
				kept_any = false;
				drop = trial % 2 == 0; /* lost start packet */
			} else if (!is_end) {
				drop = urand() < loss;
			} else if (trial % 7 == 1) {
				drop = true; /* every end copy lost: next event or timeout ends it
					      */
			} else if (trial % 5 != 0 && !is_last) {
				drop = urand() < 0.5; /* some end copies lost, the last one kept */
			}
			/* A digit none of whose packets arrives cannot be reported. */
			if (is_last && !kept_any)
				drop = false;
			if (drop)
				continue;
			kept_any = true;
			/* Jitter up to 3 intervals reorders packets. */
			q[m] = p[i];
			q[m].arrival = p[i].arrival + urand() * 480.0;
			m++;
			if (urand() < 0.15) { /* duplicate, later */
				q[m] = q[m - 1];
				q[m].arrival += urand() * 800.0;
				m++;
			}
		}
		qsort(q, (size_t)m, sizeof(q[0]), by_arrival);
		int k = receive(q, m, ev, 128, 0x7FFFFF00u + 10000000u);
		if (!check_pairs(ev, k, digits)) {
			fprintf(stderr, "  trial %d failed\n", trial);
			for (int i = 0; i < m && getenv("RFC_DEBUG"); i++)
				fprintf(stderr, "   ts %u seq %u ev %u e %d dur %u arr %.0f\n",
					q[i].ts, q[i].seq, q[i].payload[0], q[i].payload[1] >> 7,
					q[i].payload[2] << 8 | q[i].payload[3], q[i].arrival);
			bad++;
		}
	}
	ivr_check_int_eq(bad, 0);
	return IVR_TEST_RESULT();
}

IVR_TEST(receiver_timeout_and_flash)
{
	struct ivr_rfc4733_rx_cfg cfg = { .rate_hz = 8000, .timeout_ms = 200 };
	struct ivr_rfc4733_rx *rx = ivr_rfc4733_rx_new(&cfg);
	ivr_check(rx != NULL);
	if (!rx)
		return IVR_TEST_FAIL;
	struct ivr_dtmf_event ev[8];
	uint8_t b[4];
	struct ivr_rfc4733_payload pl = { IVR_RFC4733_EV_FLASH, false, 10, 160 };
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &pl), 4);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 4, 1000, 1, true, ev, 8), 1);
	ivr_check_int_eq(ev[0].digit, '!');
	ivr_check_int_eq(ev[0].type, IVR_DTMF_EV_START);
	pl.duration = 320;
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &pl), 4);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 4, 1000, 2, false, ev, 8), 0);
	/* All end packets lost: 200 ms after the known end the digit ends. */
	ivr_check_int_eq(ivr_rfc4733_rx_tick(rx, 1000 + 320 + 1600, ev, 8), 0);
	ivr_check_int_eq(ivr_rfc4733_rx_tick(rx, 1000 + 320 + 1601, ev, 8), 1);
	ivr_check_int_eq(ev[0].type, IVR_DTMF_EV_END);
	ivr_check_int_eq(ev[0].duration_samples, 320);
	ivr_check_int_eq(ivr_rfc4733_rx_tick(rx, 1000 + 320 + 9000, ev, 8), 0);
	/* Late packets of the timed-out event are dropped. */
	pl.end = true;
	pl.duration = 480;
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &pl), 4);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 4, 1000, 3, false, ev, 8), 0);
	/* Unknown event codes are not digits and are not reported. */
	pl.event = 200;
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &pl), 4);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 4, 5000, 4, true, ev, 8), 0);
	/* Malformed packets: error, state unchanged; too small event buffer. */
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 3, 6000, 5, true, ev, 8), -EBADMSG);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 0, 6000, 5, true, ev, 8), -EBADMSG);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 4, 6000, 5, true, ev, 2), -ENOSPC);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(NULL, b, 4, 6000, 5, true, ev, 8), -EINVAL);
	ivr_check_int_eq(ivr_rfc4733_rx_tick(NULL, 0, ev, 8), -EINVAL);
	/* A digit whose only surviving packet is an end packet: START+END. */
	pl.event = 7;
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &pl), 4);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 4, 7000, 6, false, ev, 8), 2);
	ivr_check_int_eq(ev[0].type, IVR_DTMF_EV_START);
	ivr_check_int_eq(ev[1].type, IVR_DTMF_EV_END);
	ivr_check_int_eq(ev[1].digit, '7');
	ivr_check_int_eq(ev[1].duration_samples, 480);
	/* After a reset the same timestamp is a new digit again. */
	ivr_rfc4733_rx_reset(rx);
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 4, 7000, 6, false, ev, 8), 2);
	ivr_rfc4733_rx_free(rx);
	return IVR_TEST_RESULT();
}

IVR_TEST(receiver_packed_events)
{
	/* RFC 4733 2.5.1.5: '1' (400 units, ended) then '2' starting right after. */
	uint8_t b[8];
	struct ivr_rfc4733_payload a = { 1, true, 10, 400 }, c = { 2, false, 10, 160 };
	ivr_check_int_eq(ivr_rfc4733_build(b, 4, &a), 4);
	ivr_check_int_eq(ivr_rfc4733_build(b + 4, 4, &c), 4);
	struct ivr_rfc4733_rx *rx = ivr_rfc4733_rx_new(NULL);
	if (!rx)
		return IVR_TEST_FAIL;
	struct ivr_dtmf_event ev[8];
	int n = ivr_rfc4733_rx_packet(rx, b, 8, 10000, 1, true, ev, 8);
	ivr_check_int_eq(n, 3);
	if (n == 3) {
		ivr_check(ev[0].type == IVR_DTMF_EV_START && ev[0].digit == '1');
		ivr_check(ev[1].type == IVR_DTMF_EV_END && ev[1].duration_samples == 400);
		ivr_check(ev[2].type == IVR_DTMF_EV_START && ev[2].digit == '2');
		ivr_check_int_eq(ev[2].onset_sample, 10400);
	}
	/* The same packet again with a new sequence number reports nothing. */
	ivr_check_int_eq(ivr_rfc4733_rx_packet(rx, b, 8, 10000, 2, false, ev, 8), 0);
	ivr_rfc4733_rx_free(rx);
	return IVR_TEST_RESULT();
}

/* ------------------------------------------------------------- SIPp pcaps */

static uint32_t rd32(const uint8_t *p, int swap)
{
	return swap ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
		    : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

struct rtp_pkt {
	uint8_t pt;
	bool marker;
	uint16_t seq;
	uint32_t ts;
	const uint8_t *payload;
	size_t n_bytes;
};

/* Extracts the RTP packets of a classic pcap (Ethernet/IPv4/UDP). @return count or -1. */
static int pcap_rtp(const uint8_t *d, size_t len, struct rtp_pkt *out, int max)
{
	if (len < 24)
		return -1;
	uint32_t magic = rd32(d, 0);
	int swap;
	if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du)
		swap = 0;
	else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u)
		swap = 1;
	else
		return -1;
	if (rd32(d + 20, swap) != 1) /* LINKTYPE_ETHERNET */
		return -1;
	size_t off = 24;
	int n = 0;
	while (off + 16 <= len && n < max) {
		uint32_t incl = rd32(d + off + 8, swap);
		off += 16;
		if (incl > len - off)
			return -1;
		const uint8_t *f = d + off;
		off += incl;
		size_t l = incl;
		if (l < 14 + 20 + 8 + 12 || f[12] != 0x08 || f[13] != 0x00)
			continue; /* not IPv4 */
		const uint8_t *ip = f + 14;
		size_t ihl = (size_t)(ip[0] & 15) * 4;
		if ((ip[0] >> 4) != 4 || ip[9] != 17 || ihl < 20 || 14 + ihl + 8 > l)
			continue;
		const uint8_t *udp = ip + ihl;
		size_t ulen = (size_t)udp[4] << 8 | udp[5];
		if (ulen < 8 + 12 || 14 + ihl + ulen > l)
			continue;
		const uint8_t *rtp = udp + 8;
		size_t rl = ulen - 8;
		if ((rtp[0] >> 6) != 2)
			continue;
		size_t hl = 12 + 4 * (size_t)(rtp[0] & 15);
		if (rtp[0] & 0x10) { /* header extension */
			if (hl + 4 > rl)
				continue;
			hl += 4 + 4 * ((size_t)rtp[hl + 2] << 8 | rtp[hl + 3]);
		}
		size_t pad = (rtp[0] & 0x20) && rl > 0 ? rtp[rl - 1] : 0;
		if (hl + pad > rl)
			continue;
		out[n] = (struct rtp_pkt){
			.pt = rtp[1] & 0x7f,
			.marker = (rtp[1] & 0x80) != 0,
			.seq = (uint16_t)(rtp[2] << 8 | rtp[3]),
			.ts = (uint32_t)rtp[4] << 24 | (uint32_t)rtp[5] << 16 |
			      (uint32_t)rtp[6] << 8 | rtp[7],
			.payload = rtp + hl,
			.n_bytes = rl - hl - pad,
		};
		n++;
	}
	return n;
}

IVR_TEST(receiver_stream_restart_jumping_back)
{
	/*
	 * A stream restarted with lower sequence numbers and timestamps (a new
	 * sender epoch, or SIPp's per-digit captures played one after another):
	 * the new events are digits, not stragglers of the old ones.  A small
	 * step back in both stays a straggler and is still dropped.
	 */
	static struct pkt a[256], b[256], all[512];
	int na = make_stream("5", 100, 100, 17632, a, 256);
	int nb = make_stream("1", 100, 100, 13280, b, 256);
	ivr_check(na > 0 && nb > 0);
	if (na <= 0 || nb <= 0)
		return IVR_TEST_FAIL;
	for (int i = 0; i < nb; i++)
		b[i].seq = (uint16_t)(b[i].seq - 4096); /* far behind the first stream */
	memcpy(all, a, (size_t)na * sizeof(*a));
	memcpy(all + na, b, (size_t)nb * sizeof(*b));
	struct ivr_dtmf_event ev[16];
	int k = receive(all, na + nb, ev, 16, 13280 + 16000);
	ivr_check(check_pairs(ev, k, "51"));

	/* A late copy of the first event's start, a few packets back: dropped. */
	memcpy(all + na, a, sizeof(*a));
	all[na].seq = (uint16_t)(a[na - 1].seq + 1);
	all[na].ts = a[0].ts - 800;
	all[na].payload[0] = 9;
	k = receive(all, na + 1, ev, 16, 17632 + 16000);
	ivr_check(check_pairs(ev, k, "5"));
	return IVR_TEST_RESULT();
}

IVR_TEST(sipp_pcaps_carry_their_digit)
{
	static const struct {
		const char *file;
		char digit;
	} cases[] = {
		{ "dtmf_2833_0.pcap", '0' },	 { "dtmf_2833_1.pcap", '1' },
		{ "dtmf_2833_2.pcap", '2' },	 { "dtmf_2833_3.pcap", '3' },
		{ "dtmf_2833_4.pcap", '4' },	 { "dtmf_2833_5.pcap", '5' },
		{ "dtmf_2833_6.pcap", '6' },	 { "dtmf_2833_7.pcap", '7' },
		{ "dtmf_2833_8.pcap", '8' },	 { "dtmf_2833_9.pcap", '9' },
		{ "dtmf_2833_pound.pcap", '#' }, { "dtmf_2833_star.pcap", '*' },
	};
	int found = 0;
	for (size_t c = 0; c < IVR_N_ELEMENTS(cases); c++) {
		char path[256];
		snprintf(path, sizeof(path), "/usr/share/sip-tester/%s", cases[c].file);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		static uint8_t buf[1 << 16];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		found++;
		struct rtp_pkt pk[256];
		int n = pcap_rtp(buf, len, pk, 256);
		ivr_check_msg(n > 0, "%s: no RTP", cases[c].file);
		/* The event payload type is the one whose payloads are 4 bytes. */
		int pt = -1;
		for (int i = 0; i < n && pt < 0; i++)
			if (pk[i].n_bytes == 4)
				pt = pk[i].pt;
		ivr_check_msg(pt >= 0, "%s: no 4-byte payloads", cases[c].file);
		struct ivr_rfc4733_rx *rx = ivr_rfc4733_rx_new(NULL);
		if (!rx)
			return IVR_TEST_FAIL;
		struct ivr_dtmf_event ev[16];
		int k = 0;
		for (int i = 0; i < n && k + 3 <= 16; i++) {
			if (pk[i].pt != pt)
				continue;
			int r = ivr_rfc4733_rx_packet(rx, pk[i].payload, pk[i].n_bytes, pk[i].ts,
						      pk[i].seq, pk[i].marker, ev + k,
						      (size_t)(16 - k));
			ivr_check_msg(r >= 0, "%s: %s", cases[c].file, ivr_strerror(r));
			k += r > 0 ? r : 0;
		}
		ivr_rfc4733_rx_free(rx);
		char want[2] = { cases[c].digit, 0 };
		ivr_check_msg(check_pairs(ev, k, want), "%s", cases[c].file);
		/* Each capture's event lasts 2240 units (280 ms at 8 kHz). */
		if (k == 2)
			ivr_check_int_eq(ev[1].duration_samples, 2240);
	}
	if (found == 0)
		return IVR_TEST_SKIP; /* sip-tester not installed */
	ivr_check_int_eq(found, IVR_N_ELEMENTS(cases));
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(digit_map_and_payload_roundtrip);
	ivr_test_run(payload_bad_input);
	ivr_test_run(sender_packet_sequence);
	ivr_test_run(long_event_is_segmented);
	ivr_test_run(receiver_clean_stream);
	ivr_test_run(receiver_exactly_once_under_dup_reorder_loss);
	ivr_test_run(receiver_timeout_and_flash);
	ivr_test_run(receiver_packed_events);
	ivr_test_run(receiver_stream_restart_jumping_back);
	ivr_test_run(sipp_pcaps_carry_their_digit);
	return ivr_test_summary();
}
