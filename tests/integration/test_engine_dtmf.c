/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_dtmf.c - DTMF from real RTP to the event ring.
 *
 * An in-process engine (2 workers, loopback, event ring in /dev/shm) and
 * three "phones" sending mu-law RTP at real pace:
 *   A: digits in-band only (dsp/tone.h, -8 dBm0, 100 ms on / 100 ms off);
 *   B: the same digits as RFC 4733 telephone-events only (payload type 101,
 *      dsp/rfc4733.h sender: marker, cumulative duration, end packet x3,
 *      sequence numbers shared with the audio as on a real stream), silence
 *      in the audio;
 *   C: both at once, as many gateways send them.
 * A reader on the ring (common/shmring.h, events decoded with
 * ivr_event_to_json) must see exactly one dtmf event per digit and call, in
 * order, with source inband for A and rfc4733 for B; for C exactly one per
 * digit whatever the source, each lasting 100 ms +-20.  Also the sending
 * side: send_dtmf in-band and as RFC 4733, decoded by the phone.  And the
 * speech path: a caller talking gives speech_start/speech_end on the ring
 * and one utterance (pre-roll included) on the worker's ASR ring.  And fax:
 * a caller's fax machine sending the T.30 CNG cadence (1100 Hz, 0.5 s on,
 * 3 s off) gives one fax event per burst, tone "cng", at the burst onsets.
 * Run on io_uring and on the epoll fallback.
 * Exit 77 when the engine cannot start here (sockets, threads, shm refused).
 */
#include "config.h"

#include <stdio.h>

#include "common/shmring.h"
#include "dsp/dtmf.h"
#include "dsp/rfc4733.h"
#include "dsp/tone.h"
#include "engine/call.h"
#include "engine/dspchain.h"
#include "engine/events.h"
#include "engine_test_util.h"
#include "ivr_test.h"

#define DTMF_PT 101
#define FR	160

static bool use_epoll;
static uint16_t port_base = 35400;
static const char DIGITS[] = "159#";

/* One phone's stream: its audio and whether it sends telephone-events. */
struct stream {
	struct phone ph;
	float *audio;
	bool rfc;
	struct ivr_rfc4733_tx *tx;
	uint64_t id;
};

static void send_event(struct phone *p, const struct ivr_rfc4733_tx_pkt *pk)
{
	uint8_t pkt[64];
	struct ivr_rtp_hdr h = { .pt = DTMF_PT,
				 .marker = pk->marker,
				 .seq = p->seq++,
				 .ts = pk->timestamp,
				 .ssrc = 0x5eed0000u + p->port };
	int n = ivr_rtp_build(pkt, sizeof(pkt), &h, pk->payload, pk->n_bytes);
	if (n > 0)
		phone_send_raw(p, pkt, (size_t)n);
}

/* Collected dtmf events of one call. */
struct got {
	char digits[32];
	char sources[32]; /* 'i' inband, 'r' rfc4733 */
	int dur_ms[32];
	int n;
};

static void read_ring(struct ivr_shmring_reader *r, const uint64_t *ids, struct got *g, int n_ids,
		      int *other)
{
	static unsigned char buf[1 << 16];
	struct ivr_shmring_rec rec;
	char json[4096];
	while (ivr_shmring_read(r, &rec, buf, sizeof(buf)) == 1) {
		if (rec.type != IVR_EVENT_DTMF)
			continue;
		if (ivr_event_to_json(&rec, buf, json, sizeof(json)) < 0)
			continue;
		int k = -1;
		for (int i = 0; i < n_ids; i++)
			if (rec.call_id == ids[i])
				k = i;
		if (k < 0) {
			(*other)++;
			continue;
		}
		const char *d = strstr(json, "\"digit\":\"");
		const char *s = strstr(json, "\"source\":\"");
		if (!d || !s || g[k].n >= 31)
			continue;
		g[k].digits[g[k].n] = d[9];
		g[k].sources[g[k].n] = s[10] == 'r' ? 'r' : 'i';
		const char *du = strstr(json, "\"duration_ms\":");
		g[k].dur_ms[g[k].n] = du ? atoi(du + 14) : -1;
		g[k].n++;
		g[k].digits[g[k].n] = g[k].sources[g[k].n] = 0;
	}
}

/* An engine with an event ring read by @rd (engine_test_util.h), on this test's next ports. */
static struct ivr_engine *engine_with_ring(const char *tag, uint32_t max_calls,
					   uint32_t asr_ring_records, struct ivr_shmring_reader *rd)
{
	uint16_t p = test_port(port_base);
	port_base += 400;
	return test_engine_with_ring(tag, use_epoll, p, max_calls, asr_ring_records, rd);
}

IVR_TEST(test_dtmf_to_event_ring)
{
	struct ivr_shmring_reader rd;
	struct ivr_engine *e = engine_with_ring("dtmf", 8, 0, &rd);
	if (!e)
		return IVR_TEST_SKIP;
	const size_t frames = 150; /* 3 s */
	const size_t lead = 25;	   /* digits start after 500 ms (jitter buffer filled) */
	static struct stream st[3];
	for (int i = 0; i < 3; i++) {
		struct stream *s = &st[i];
		ivr_check_int_eq(phone_open(&s->ph), 0);
		s->audio = calloc(frames * FR, sizeof(float));
		s->rfc = i >= 1;
		if (i != 1) {
			struct ivr_tone_dtmf p = { .level_dbm0 = -8.0f, .twist_db = 2.0f };
			for (size_t d = 0; d < strlen(DIGITS); d++)
				ivr_check(ivr_tone_dtmf_add(s->audio + (lead + 10 * d) * FR, 5 * FR,
							    8000, DIGITS[d], &p) == 0);
		}
		s->tx = ivr_rfc4733_tx_new(NULL);
		char remote[64];
		phone_remote(&s->ph, remote, sizeof(remote));
		struct ivr_call_params cp = {
			.remote = remote, .codec = "PCMU", .pt = -1, .dtmf_pt = DTMF_PT
		};
		ivr_check_int_eq(ivr_call_create(e, &cp, &s->id, &s->ph.engine_port), 0);
	}
	uint64_t t = now_ns();
	for (size_t f = 0; f < frames; f++) {
		for (int i = 0; i < 3; i++) {
			struct stream *s = &st[i];
			if (s->rfc && f == lead)
				ivr_check(ivr_rfc4733_tx_send(s->tx, DIGITS, 100, 100) == 4);
			struct ivr_rfc4733_tx_pkt pk;
			uint32_t ts = s->ph.ts;
			/* Audio first (it carries the tones for C), then the event packet. */
			phone_send(&s->ph, s->audio + f * FR);
			if (s->rfc && ivr_rfc4733_tx_tick(s->tx, ts, &pk) == 1)
				send_event(&s->ph, &pk);
			phone_drain(&s->ph, false);
		}
		t += 20000000ull;
		sleep_until(t);
	}
	/*
	 * Let the jitter buffers play out and the last ENDs come: wait until every call has
	 * all its digits (a loaded machine may take seconds), then 300 ms more so that a
	 * double would show.
	 */
	uint64_t ids[3] = { st[0].id, st[1].id, st[2].id };
	struct got g[3] = { 0 };
	int other = 0;
	uint64_t deadline = now_ns() + 8000000000ull;
	for (;;) {
		read_ring(&rd, ids, g, 3, &other);
		int complete = 0;
		for (int i = 0; i < 3; i++)
			complete += g[i].n >= (int)strlen(DIGITS);
		if (complete == 3 || now_ns() > deadline)
			break;
		sleep_until(now_ns() + 20000000ull);
	}
	sleep_until(now_ns() + 300000000ull);
	read_ring(&rd, ids, g, 3, &other);
	static const char *const name[3] = { "inband", "rfc4733", "both" };
	for (int i = 0; i < 3; i++) {
		printf("  %s (%s): digits '%s' sources '%s'\n", name[i], ivr_engine_io_backend(e),
		       g[i].digits, g[i].sources);
		ivr_check_msg(!strcmp(g[i].digits, DIGITS), "%s: got '%s'", name[i], g[i].digits);
		for (int k = 0; k < g[i].n; k++)
			ivr_check_msg(g[i].dur_ms[k] >= 80 && g[i].dur_ms[k] <= 120,
				      "%s: digit %c lasted %d ms (sent 100)", name[i],
				      g[i].digits[k], g[i].dur_ms[k]);
	}
	ivr_check_msg(!strcmp(g[0].sources, "iiii"), "in-band call sources '%s'", g[0].sources);
	ivr_check_msg(!strcmp(g[1].sources, "rrrr"), "rfc4733 call sources '%s'", g[1].sources);
	ivr_check_int_eq(other, 0);

	for (int i = 0; i < 3; i++) {
		ivr_check_int_eq(ivr_call_destroy(e, st[i].id), 0);
		phone_close(&st[i].ph);
		free(st[i].audio);
		ivr_rfc4733_tx_free(st[i].tx);
	}
	ivr_shmring_reader_close(&rd);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

/*
 * The sending side: send_dtmf in both modes; the phone decodes what the
 * engine sends (telephone-events with the dsp/rfc4733.h receiver, audio with
 * the dsp/dtmf.h detector) and must get the digits, each once.
 */
IVR_TEST(test_send_dtmf_both_modes)
{
	struct ivr_engine *e = test_engine(use_epoll, 4, port_base);
	port_base += 400;
	if (!e)
		return IVR_TEST_SKIP;
	static const char *const mode[2] = { "inband", "rfc4733" };
	static const char want[] = "42*7";
	for (int m = 0; m < 2; m++) {
		struct phone ph;
		ivr_check_int_eq(phone_open(&ph), 0);
		char remote[64];
		phone_remote(&ph, remote, sizeof(remote));
		struct ivr_call_params cp = {
			.remote = remote, .codec = "PCMU", .pt = -1, .dtmf_pt = DTMF_PT
		};
		uint64_t id;
		ivr_check_int_eq(ivr_call_create(e, &cp, &id, &ph.engine_port), 0);
		ivr_check_int_eq(ivr_call_send_dtmf(e, id, want, mode[m]), 0);
		struct ivr_rfc4733_rx *rx = ivr_rfc4733_rx_new(NULL);
		struct ivr_dtmf_rx *det = ivr_dtmf_rx_new(NULL);
		char got[32] = "";
		int n_got = 0, n_events = 0, n_audio = 0;
		/*
		 * Until all digits (and for RFC 4733 their end packets) are in, 6 s at most
		 * (1 s on a quiet machine), then 300 ms more so that a double would show.
		 */
		uint64_t end = now_ns() + 6000000000ull;
		bool complete = false;
		while (now_ns() < end) {
			if (!complete && n_got >= (int)strlen(want) &&
			    (m == 0 || n_events >= 4 * 3)) {
				complete = true;
				end = now_ns() + 300000000ull;
			}
			uint8_t buf[2048];
			struct ivr_rtp_hdr h;
			if (!phone_recv_rtp(&ph, buf, sizeof(buf), &h))
				continue;
			struct ivr_dtmf_event ev[8];
			int k = 0;
			if (h.pt == DTMF_PT) {
				n_events++;
				k = ivr_rfc4733_rx_packet(rx, h.payload, h.payload_n_bytes, h.ts,
							  h.seq, h.marker, ev, 8);
			} else {
				float pcm[IVR_CALL_FRAME_MAX];
				size_t ns = IVR_MIN(h.payload_n_bytes, (size_t)IVR_CALL_FRAME_MAX);
				ivr_g711_ulaw_decode_f32(pcm, h.payload, ns);
				n_audio++;
				k = ivr_dtmf_rx_process(det, pcm, ns, ev, 8);
			}
			for (int i = 0; i < k && n_got < 31; i++)
				if (ev[i].type == IVR_DTMF_EV_START)
					got[n_got++] = ev[i].digit;
		}
		got[n_got] = 0;
		printf("  send_dtmf %s (%s): phone got '%s' (%d event packets, %d audio)\n",
		       mode[m], ivr_engine_io_backend(e), got, n_events, n_audio);
		ivr_check_msg(!strcmp(got, want), "%s: got '%s'", mode[m], got);
		if (m == 0)
			ivr_check_int_eq(n_events, 0);
		else
			ivr_check(n_events >= 4 * 3); /* at least the end packets x3 */
		ivr_rfc4733_rx_free(rx);
		ivr_dtmf_rx_free(det);
		ivr_check_int_eq(ivr_call_destroy(e, id), 0);
		phone_close(&ph);
	}
	/* No dtmf_pt: rfc4733 sending is refused with a reason. */
	struct ivr_call_params np = { .remote = "127.0.0.1:9", .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	uint16_t port;
	ivr_check_int_eq(ivr_call_create(e, &np, &id, &port), 0);
	ivr_check_int_eq(ivr_call_send_dtmf(e, id, "1", "rfc4733"), -EINVAL);
	ivr_check(strstr(ivr_engine_last_error(), "dtmf_pt") != NULL);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_speech_to_asr_ring)
{
	struct ivr_shmring_reader rd;
	struct ivr_engine *e = engine_with_ring("speech", 4, 256, &rd);
	if (!e)
		return IVR_TEST_SKIP;
	/* 1 s of silence, 1.5 s of speech-like voice, 1.5 s of silence. */
	const size_t frames = 200, on = 50, off = 125;
	float *audio = calloc(frames * FR, sizeof(float));
	speechlike(audio + on * FR, (off - on) * FR, 140);
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char remote[64];
	phone_remote(&ph, remote, sizeof(remote));
	struct ivr_call_params cp = { .remote = remote, .codec = "PCMU", .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(ivr_call_create(e, &cp, &id, &ph.engine_port), 0);
	struct phone *phs[1] = { &ph };
	const float *src[1] = { audio };
	phones_run(phs, src, 1, frames);

	/*
	 * The ASR side: the worker's ring holds one utterance of this call; the event ring
	 * speech_start then speech_end, about 1.5 s apart.  Polled until both are complete
	 * (5 s at most: the endpointer's silence may still be playing out on a loaded
	 * machine), then 300 ms more so that a second utterance would show.
	 */
	struct ivr_asr_reasm *ra = ivr_asr_reasm_new(4, 8000 * 30);
	struct ivr_asr_utt u;
	int utts = 0;
	size_t n_samples = 0;
	static unsigned char buf[1 << 16];
	struct ivr_shmring_rec rec;
	char json[4096];
	long start_ms = -1, end_ms = -1;
	uint64_t deadline = now_ns() + 5000000000ull, settle = 0;
	for (;;) {
		for (unsigned w = 0; w < 2; w++)
			while (ivr_asr_reasm_poll(ra, ivr_engine_asr_ring(e, w), &u) == 1) {
				ivr_check_int_eq(u.call_id, id);
				ivr_check(!(u.flags & IVR_ASR_F_ABORTED));
				utts++;
				n_samples = u.n_samples;
			}
		while (ivr_shmring_read(&rd, &rec, buf, sizeof(buf)) == 1) {
			if (rec.call_id != id ||
			    ivr_event_to_json(&rec, buf, json, sizeof(json)) < 0)
				continue;
			const char *o = strstr(json, "\"offset_ms\":");
			if (rec.type == IVR_EVENT_SPEECH_START && o && start_ms < 0)
				start_ms = atol(o + 12);
			if (rec.type == IVR_EVENT_SPEECH_END && o && end_ms < 0)
				end_ms = atol(o + 12);
		}
		uint64_t now = now_ns();
		if (!settle && utts >= 1 && end_ms >= 0)
			settle = now + 300000000ull;
		if ((settle && now >= settle) || now >= deadline)
			break;
		sleep_until(now + 20000000ull);
	}
	ivr_check(ivr_engine_asr_ring(e, 2) == NULL);
	printf("  speech (%s): speech_start %ld ms, speech_end %ld ms, %d utterance(s) of %zu ms "
	       "on the ASR ring\n",
	       ivr_engine_io_backend(e), start_ms, end_ms, utts, n_samples / 8);
	/* frames the engine concealed, skipped or never played shorten or lengthen the speech */
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	long moved = (long)(in.frames_concealed + in.frames_skipped) +
		     labs((long)frames - (long)in.frames_played);
	ivr_check_int_eq(utts, 1);
	ivr_check(start_ms >= 0 && end_ms > start_ms);
	ivr_check_near((double)(end_ms - start_ms), 1500.0, 200.0 + 20.0 * (double)moved);
	/* pre-roll (300 ms) + speech + the endpointer's 600 ms of silence */
	ivr_check(n_samples >= (size_t)(1500 + 300) * 8);
	ivr_asr_reasm_free(ra);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	phone_close(&ph);
	free(audio);
	ivr_shmring_reader_close(&rd);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_fax_cng_to_event_ring)
{
	struct ivr_shmring_reader rd;
	struct ivr_engine *e = engine_with_ring("fax", 4, 0, &rd);
	if (!e)
		return IVR_TEST_SKIP;
	/* Two CNG bursts at 0.5 s and 4.0 s (T.30: 0.5 s on, 3 s off), -15 dBm0. */
	const size_t frames = 240, burst[2] = { 25, 200 };
	float *audio = calloc(frames * FR, sizeof(float));
	for (int b = 0; b < 2; b++)
		ivr_check(ivr_tone_sine_add(audio + burst[b] * FR, 25 * FR, 8000, 1100.0f, -15.0f,
					    NULL) == 0);
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char remote[64];
	phone_remote(&ph, remote, sizeof(remote));
	struct ivr_call_params cp = { .remote = remote, .codec = "PCMU", .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(ivr_call_create(e, &cp, &id, &ph.engine_port), 0);
	struct phone *phs[1] = { &ph };
	const float *src[1] = { audio };
	phones_run(phs, src, 1, frames);

	/* Both events, 5 s at most (a loaded machine), then 300 ms more for a spurious third. */
	static unsigned char buf[1 << 16];
	struct ivr_shmring_rec rec;
	char json[4096];
	long off[4];
	int n_fax = 0, n_cng = 0;
	uint64_t deadline = now_ns() + 5000000000ull, settle = 0;
	for (;;) {
		while (ivr_shmring_read(&rd, &rec, buf, sizeof(buf)) == 1) {
			if (rec.call_id != id ||
			    ivr_event_to_json(&rec, buf, json, sizeof(json)) < 0)
				continue;
			if (rec.type != IVR_EVENT_FAX)
				continue;
			printf("  %s: %s\n", ivr_engine_io_backend(e), json);
			const char *o = strstr(json, "\"offset_ms\":");
			if (n_fax < 4)
				off[n_fax] = o ? atol(o + 12) : -1;
			n_fax++;
			n_cng += strstr(json, "\"tone\":\"cng\"") &&
				 strstr(json, "\"reversals\":false");
		}
		uint64_t now = now_ns();
		if (!settle && n_fax >= 2)
			settle = now + 300000000ull;
		if ((settle && now >= settle) || now >= deadline)
			break;
		sleep_until(now + 20000000ull);
	}
	ivr_check_int_eq(n_fax, 2);
	ivr_check_int_eq(n_cng, 2);
	/*
	 * Media clock offsets: the burst onsets, within the jitter buffer's play-out
	 * shift.  On a loaded machine the sender stalls now and then and the jitter
	 * buffer conceals, drops late packets, grows and shrinks: each such frame
	 * moves the sent audio against the media clock by 20 ms.  The engine counts
	 * them; the tolerance widens by exactly those frames (none on a quiet machine).
	 */
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	long moved = (long)(in.frames_concealed + in.frames_skipped) +
		     labs((long)frames - (long)in.frames_played);
	printf("  %s: frames played %llu concealed %llu skipped %llu of %zu sent\n",
	       ivr_engine_io_backend(e), (unsigned long long)in.frames_played,
	       (unsigned long long)in.frames_concealed, (unsigned long long)in.frames_skipped,
	       frames);
	for (int b = 0; b < 2 && b < n_fax; b++)
		ivr_check_msg(off[b] >= (long)burst[b] * 20 - 20 * moved &&
				      off[b] <= (long)burst[b] * 20 + 200 + 20 * moved,
			      "burst %d at %zu ms, fax offset_ms %ld (%ld frames moved)", b,
			      burst[b] * 20, off[b], moved);
	/* the jitter buffer may shift play-out between the bursts (seen: 40 ms) */
	if (n_fax == 2)
		ivr_check_near((double)(off[1] - off[0]), 3500.0, 100.0 + 20.0 * (double)moved);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	phone_close(&ph);
	free(audio);
	ivr_shmring_reader_close(&rd);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	use_epoll = false;
	ivr_test_run(test_dtmf_to_event_ring);
	ivr_test_run(test_send_dtmf_both_modes);
	ivr_test_run(test_speech_to_asr_ring);
	ivr_test_run(test_fax_cng_to_event_ring);
	use_epoll = true;
	ivr_test_run(test_dtmf_to_event_ring);
	ivr_test_run(test_send_dtmf_both_modes);
	ivr_test_run(test_speech_to_asr_ring);
	ivr_test_run(test_fax_cng_to_event_ring);
	return ivr_test_summary();
}
