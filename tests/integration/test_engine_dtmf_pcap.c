/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_dtmf_pcap.c - the RFC 4733 digit pcaps that
 * SIPp ships (/usr/share/sip-tester/dtmf_2833_N.pcap, Debian sip-tester) are
 * replayed at their recorded pace to a call over loopback, interleaved with
 * audio.  Checked: the pcaps hold digit N (event code, marker, end bit x3),
 * every event packet reaches the call (payload type 101 routed, not mistaken
 * for audio, audio unaffected), and the event ring carries exactly one dtmf
 * event per pcap, digit N, source rfc4733, with the pcap's duration.
 * Exit 77 when the pcaps or the engine are not available.
 */
#include "config.h"

#include <stdio.h>

#include "common/shmring.h"
#include "engine/events.h"
#include "engine_test_util.h"
#include "ivr_test.h"

struct pkt {
	uint64_t t_us;
	uint8_t data[256];
	size_t n;
};

/* Read the UDP payloads of a classic little-endian Ethernet pcap. */
static int read_pcap(const char *path, struct pkt *out, int max)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t gh[24];
	if (fread(gh, 1, 24, f) != 24 || gh[0] != 0xd4 || gh[1] != 0xc3 || gh[20] != 1) {
		fclose(f);
		return -1;
	}
	int n = 0;
	uint8_t rh[16], buf[2048];
	while (n < max && fread(rh, 1, 16, f) == 16) {
		uint32_t sec = rh[0] | rh[1] << 8 | rh[2] << 16 | (uint32_t)rh[3] << 24;
		uint32_t usec = rh[4] | rh[5] << 8 | rh[6] << 16 | (uint32_t)rh[7] << 24;
		uint32_t incl = rh[8] | rh[9] << 8 | rh[10] << 16 | (uint32_t)rh[11] << 24;
		if (incl > sizeof(buf) || fread(buf, 1, incl, f) != incl)
			break;
		size_t ihl = (size_t)(buf[14] & 15) * 4;
		size_t off = 14 + ihl + 8;
		if (incl <= off || incl - off > sizeof(out[n].data) || buf[14 + 9] != 17)
			continue;
		out[n].t_us = (uint64_t)sec * 1000000 + usec;
		out[n].n = incl - off;
		memcpy(out[n].data, buf + off, out[n].n);
		n++;
	}
	fclose(f);
	return n;
}

IVR_TEST(test_pcaps)
{
	char path[128];
	snprintf(path, sizeof(path), "/usr/share/sip-tester/dtmf_2833_0.pcap");
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "SKIP: %s missing (Debian package sip-tester)\n", path);
		return IVR_TEST_SKIP;
	}
	uint16_t port_min = test_port(30000 + (uint32_t)(getpid() % 200) * 50);
	struct ivr_shmring_reader rd;
	struct ivr_engine_cfg cfg = { .port_min = port_min,
				      .port_max = (uint16_t)(port_min + 40),
				      .max_calls = 4 };
	struct ivr_engine *e = test_engine_ring_cfg("pcap", cfg, &rd);
	if (!e)
		return IVR_TEST_SKIP;
	char want[16] = "";
	size_t n_want = 0;
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char remote[64];
	phone_remote(&ph, remote, sizeof(remote));
	struct ivr_call_params p = { .remote = remote, .pt = -1, .dtmf_pt = 101 };
	uint64_t id;
	ivr_check_int_eq(ivr_call_create(e, &p, &id, &ph.engine_port), 0);
	static float voice[160 * 50];
	speechlike(voice, 160 * 50, 150);
	uint64_t events_sent = 0;
	int audio_sent = 0;
	for (int digit = 0; digit <= 9; digit++) {
		snprintf(path, sizeof(path), "/usr/share/sip-tester/dtmf_2833_%d.pcap", digit);
		struct pkt pk[64];
		int n = read_pcap(path, pk, 64);
		if (n < 0)
			continue; /* Debian ships 0-9 in some versions, 0-6 in others */
		ivr_check(n >= 4);
		int ends = 0;
		for (int i = 0; i < n; i++) {
			struct ivr_rtp_hdr h;
			ivr_check_int_eq(ivr_rtp_parse(&h, pk[i].data, pk[i].n), 0);
			ivr_check_int_eq(h.pt, 101);
			ivr_check_int_eq(h.payload[0], digit); /* event code = the file's digit */
			ivr_check_int_eq(h.marker, i == 0);
			ends += (h.payload[1] & 0x80) != 0;
		}
		ivr_check_int_eq(ends, 3);
		want[n_want++] = (char)('0' + digit);
		/* Replay at the recorded pace, with audio packets on the same stream. */
		uint64_t t0 = now_ns();
		for (int i = 0; i < n; i++) {
			uint64_t at = t0 + (pk[i].t_us - pk[0].t_us) * 1000;
			sleep_until(at);
			phone_send_raw(&ph, pk[i].data, pk[i].n);
			events_sent++;
			if (i == 0 || pk[i].t_us - pk[i - 1].t_us > 10000) {
				phone_send(&ph, voice + (audio_sent % 50) * 160);
				audio_sent++;
			}
			phone_drain(&ph, false);
		}
		/* 100 ms of audio between digits: the stream's timestamps follow real time. */
		uint64_t t = now_ns();
		for (int k = 0; k < 5; k++) {
			t += 20000000ull;
			sleep_until(t);
			phone_send(&ph, voice + (audio_sent % 50) * 160);
			audio_sent++;
			phone_drain(&ph, false);
		}
	}
	sleep_until(now_ns() + 60000000ull);
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	ivr_check_int_eq(in.rx_dtmf_pkts, events_sent);
	/*
	 * Events and audio share the port: no event was taken for audio.  The
	 * test's own audio pacing is irregular around the pcaps (it follows
	 * their timing), so a few audio frames may arrive late for the buffer.
	 */
	ivr_check_int_eq(in.rx_foreign, 0);
	ivr_check_int_eq(in.rx_bad, 0);
	ivr_check_msg(in.frames_played * 10 >= (uint64_t)audio_sent * 9, "played %llu of %d",
		      (unsigned long long)in.frames_played, audio_sent);
	printf("  %llu RFC 4733 packets from the pcaps reached the call's hook\n",
	       (unsigned long long)events_sent);

	/* What the router sees: one dtmf event per pcap, in order, from RFC 4733. */
	static unsigned char buf[1 << 16];
	char json[4096], got[32] = "";
	size_t n_got = 0;
	struct ivr_shmring_rec rec;
	while (ivr_shmring_read(&rd, &rec, buf, sizeof(buf)) == 1) {
		if (rec.type != IVR_EVENT_DTMF || rec.call_id != id ||
		    ivr_event_to_json(&rec, buf, json, sizeof(json)) < 0)
			continue;
		const char *d = strstr(json, "\"digit\":\"");
		ivr_check_msg(strstr(json, "\"source\":\"rfc4733\"") != NULL, "%s", json);
		/* The pcaps hold 2240-sample events: 280 ms. */
		const char *du = strstr(json, "\"duration_ms\":");
		ivr_check_msg(du && abs(atoi(du + 14) - 280) <= 20, "%s", json);
		if (d && n_got + 1 < sizeof(got))
			got[n_got++] = d[9];
	}
	got[n_got] = 0;
	printf("  ring: digits \"%s\" (pcaps: \"%s\")\n", got, want);
	ivr_check_msg(strcmp(got, want) == 0, "ring digits \"%s\", pcaps \"%s\"", got, want);
	ivr_shmring_reader_close(&rd);
	phone_close(&ph);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_pcaps);
	return ivr_test_summary();
}
