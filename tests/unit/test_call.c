/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_call.c - one call slot without sockets: packets in ->
 * jitter buffer -> decoded caller audio; latching and foreign sources;
 * payload-type filtering; the flood guard; outgoing RTP headers (marker,
 * sequence, timestamp, SSRC); no send before an address is known; prompt
 * playback to the end; in-band DTMF at the right frequencies.
 */
#include "config.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "dsp/g711.h"
#include "dsp/tone.h"
#include "dsp/wav.h"
#include "engine/call.h"
#include "engine/prompt.h"
#include "ivr_test.h"

static struct ivr_call *new_call(void)
{
	struct ivr_call *c = aligned_alloc(64, ivr_call_slot_size());
	if (!c || ivr_call_init(c, 0, 1) < 0 || ivr_codec_init(&c->codec, IVR_CODEC_PCMU, -1) < 0)
		abort();
	c->ssrc = 0xabcdef01;
	c->dtmf_pt = 101;
	atomic_store(&c->state, IVR_CALL_ACTIVE);
	return c;
}

static struct sockaddr_in addr(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static int mkpkt(uint8_t *out, uint8_t pt, uint16_t seq, uint32_t ts, const float *pcm)
{
	uint8_t pay[160];
	ivr_g711_ulaw_encode_f32(pay, pcm, 160);
	struct ivr_rtp_hdr h = { .pt = pt, .seq = seq, .ts = ts, .ssrc = 42 };
	return ivr_rtp_build(out, 256, &h, pay, 160);
}

static double goertzel(const float *x, size_t n, double hz)
{
	double w = 2 * M_PI * hz / 8000, c = 2 * cos(w), s1 = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		double s = x[i] + c * s1 - s2;
		s2 = s1;
		s1 = s;
	}
	return (s1 * s1 + s2 * s2 - c * s1 * s2) / ((double)n * n / 4) * 0.5;
}

IVR_TEST(test_receive_path)
{
	struct ivr_call *c = new_call();
	struct sockaddr_in peer = addr("10.1.1.1", 4000), other = addr("10.9.9.9", 5000);
	float pcm[160];
	uint8_t pkt[256];
	uint64_t now = 5000000000ull;
	/* Nothing to send to yet: no signalled address, no media. */
	ivr_rtp_latch_init(&c->latch, NULL, 0);
	ivr_check_int_eq(ivr_call_tick(c, 0, now), 0);
	int played = 0;
	for (int t = 0; t < 20; t++) {
		for (int i = 0; i < 160; i++)
			pcm[i] = 0.3f * sinf(2 * (float)M_PI * 600 * (float)(t * 160 + i) / 8000);
		int n = mkpkt(pkt, 0, (uint16_t)(100 + t), (uint32_t)t * 160, pcm);
		ivr_call_on_packet(c, pkt, (size_t)n, (struct sockaddr *)&peer, sizeof(peer), now);
		/* a foreign source with valid RTP is dropped once latched */
		n = mkpkt(pkt, 0, (uint16_t)(900 + t), (uint32_t)t * 160, pcm);
		ivr_call_on_packet(c, pkt, (size_t)n, (struct sockaddr *)&other, sizeof(other),
				   now);
		/* an unknown payload type and a telephone-event */
		n = mkpkt(pkt, 18, (uint16_t)t, 0, pcm);
		ivr_call_on_packet(c, pkt, (size_t)n, (struct sockaddr *)&peer, sizeof(peer), now);
		n = mkpkt(pkt, 101, (uint16_t)t, 0, pcm);
		ivr_call_on_packet(c, pkt, (size_t)n, (struct sockaddr *)&peer, sizeof(peer), now);
		int len = ivr_call_tick(c, (uint64_t)t, now);
		ivr_check(len > 0); /* latched: the call answers to the peer */
		if (t >= 2)
			played++;
		now += 20000000ull;
	}
	ivr_check_int_eq(c->st.rx_foreign, 20);
	ivr_check_int_eq(c->st.rx_other_pt, 20);
	ivr_check_int_eq(c->st.rx_dtmf_pkts, 20);
	ivr_check(c->st.frames_played >= 18);
	/* the last decoded frame is the 600 Hz tone at the sent level */
	ivr_check_near(goertzel(c->in, 160, 600), 0.045, 0.005);
	/* outgoing header */
	struct ivr_rtp_hdr h;
	uint8_t *last = c->pkt[c->pkt_i ^ 1];
	ivr_check_int_eq(ivr_rtp_parse(&h, last, c->iov[c->pkt_i ^ 1].iov_len), 0);
	ivr_check_int_eq(h.ssrc, 0xabcdef01);
	ivr_check_int_eq(h.marker, 0);
	ivr_check_int_eq(h.payload_n_bytes, 160);
	ivr_check(ivr_sockaddr_equal((struct sockaddr *)c->msg[c->pkt_i ^ 1].msg_name,
				     (struct sockaddr *)&peer));
	(void)played;
	free(c);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_send_sequence_and_flood)
{
	struct ivr_call *c = new_call();
	struct sockaddr_in peer = addr("127.0.0.1", 4000);
	ivr_rtp_latch_init(&c->latch, (struct sockaddr *)&peer, sizeof(peer));
	c->tx_seq = 65534;
	c->tx_ts = 0xffffff00u;
	struct ivr_rtp_hdr h[4];
	for (int t = 0; t < 4; t++) {
		int len = ivr_call_tick(c, (uint64_t)t, 1000);
		ivr_check(len == 12 + 160);
		ivr_check_int_eq(ivr_rtp_parse(&h[t], c->pkt[c->pkt_i ^ 1], (size_t)len), 0);
	}
	ivr_check_int_eq(h[0].marker, 1);
	ivr_check_int_eq(h[1].marker, 0);
	ivr_check_int_eq(h[2].seq, 0);
	ivr_check_int_eq(h[3].ts - h[2].ts, 160);
	ivr_check_int_eq(h[2].ts, 0x40u);
	/* a flood: beyond IVR_CALL_FLOOD_PKTS per tick, packets are not even parsed */
	uint8_t pkt[256];
	float z[160] = { 0 };
	int n = mkpkt(pkt, 0, 1, 0, z);
	for (int i = 0; i < 1000; i++)
		ivr_call_on_packet(c, pkt, (size_t)n, (struct sockaddr *)&peer, sizeof(peer), 1000);
	ivr_check_int_eq(c->st.rx_flood_dropped, 1000 - IVR_CALL_FLOOD_PKTS);
	(void)ivr_call_tick(c, 5, 2000);
	ivr_call_on_packet(c, pkt, (size_t)n, (struct sockaddr *)&peer, sizeof(peer), 3000);
	ivr_check_int_eq(c->st.rx_flood_dropped, 1000 - IVR_CALL_FLOOD_PKTS);
	/* Ticks the worker skipped (4 and 6..8) still advance the timestamp. */
	int len = ivr_call_tick(c, 9, 4000);
	struct ivr_rtp_hdr h9;
	ivr_check_int_eq(ivr_rtp_parse(&h9, c->pkt[c->pkt_i ^ 1], (size_t)len), 0);
	ivr_check_int_eq(h9.ts - h[3].ts, 6 * 160);
	ivr_check_int_eq(h9.seq, (uint16_t)(h[3].seq + 2));
	ivr_check_int_eq(c->st.frames_skipped, 4);
	free(c);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_prompt_and_dtmf)
{
	struct ivr_call *c = new_call();
	struct sockaddr_in peer = addr("127.0.0.1", 4000);
	ivr_rtp_latch_init(&c->latch, (struct sockaddr *)&peer, sizeof(peer));
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ivr_call_prompt_%d.wav", (int)getpid());
	float tone[400];
	for (int i = 0; i < 400; i++)
		tone[i] = 0.4f * sinf(2 * (float)M_PI * 1000 * (float)i / 8000);
	ivr_check_int_eq(ivr_wav_write(path, tone, 400, 8000, IVR_WAV_PCM16), 0);
	struct ivr_prompt_cache *pc = ivr_prompt_cache_new(8000);
	c->prompt = ivr_prompt_get(pc, path, NULL, 0);
	ivr_check(c->prompt != NULL);
	struct ivr_prompt *p = c->prompt;
	(void)ivr_call_tick(c, 0, 1);
	ivr_check_near(goertzel(c->out, 160, 1000), 0.08, 0.005);
	(void)ivr_call_tick(c, 1, 2);
	(void)ivr_call_tick(c, 2, 3); /* 400 samples: ends inside this frame */
	ivr_check(c->prompt == NULL);
	ivr_check_near(c->out[159], 0, 1e-9);
	ivr_check_int_eq(atomic_load(&p->refs), 1); /* only the cache's reference left */
	/* DTMF '5' = 770 + 1336 Hz, 100 ms on, 60 ms off */
	ivr_check_int_eq(ivr_call_dtmf_queue(c, "5#"), 2);
	ivr_check_int_eq(ivr_call_dtmf_queue(c, "5x"), -EINVAL);
	static float seq[160 * 20];
	for (int t = 0; t < 20; t++) {
		(void)ivr_call_tick(c, (uint64_t)(3 + t), 4);
		memcpy(seq + t * 160, c->out, 160 * sizeof(float));
	}
	/* Q.23 pair at the sender's levels: low group -8 dBm0, high group 2 dB above */
	double lo = ivr_tone_dbm0_to_amp(-8.0f), hi = ivr_tone_dbm0_to_amp(-6.0f);
	ivr_check_near(10 * log10(goertzel(seq, 800, 770) / (lo * lo / 2)), 0, 0.5);
	ivr_check_near(10 * log10(goertzel(seq, 800, 1336) / (hi * hi / 2)), 0, 0.5);
	ivr_check(goertzel(seq, 800, 941) < 0.001);
	/* the gap (100..160 ms) is silent, then '#' = 941 + 1477 Hz */
	ivr_check(goertzel(seq + 800, 480, 770) < 1e-6);
	ivr_check(goertzel(seq + 1280, 800, 941) > 0.01);
	ivr_check(goertzel(seq + 1280, 800, 1477) > 0.01);
	ivr_check_int_eq(ivr_call_dtmf_pending(c), 0);
	ivr_prompt_cache_free(pc);
	unlink(path);
	free(c);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_receive_path);
	ivr_test_run(test_send_sequence_and_flood);
	ivr_test_run(test_prompt_and_dtmf);
	return ivr_test_summary();
}
