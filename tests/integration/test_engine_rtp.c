/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_rtp.c - the engine over real loopback RTP,
 * on both I/O paths (io_uring and the epoll fallback):
 *  - a prompt played to a call comes back as RTP that decodes to the prompt
 *    (aligned SNR), with the first prompt packet within 40 ms of creation;
 *  - garbage, a flood and a foreign source on ports do not hurt another
 *    call's audio;
 *  - the caller moving to a new address (after IVR_RTP_RELATCH_NS of quiet,
 *    its old port closed so the engine's sends to it are refused by ICMP)
 *    takes the latch over: the call goes on with the new address;
 *  - the max-calls limit refuses with a clear error;
 *  - RTCP: the engine's SR describes its stream and reports on ours (LSR
 *    echo, loss, highest sequence) and it measures RTT from our RR.
 * Exit 77 when the engine cannot start here (sockets or threads refused).
 */
#include "config.h"

#include <stdio.h>

#include "dsp/wav.h"
#include "engine/rtcp.h"
#include "engine_test_util.h"
#include "ivr_test.h"

static bool use_epoll;
static uint16_t port_base = 33000;

/*
 * SNR in dB of @got against @ref over @n samples at the lag (0..@max_lag) of least error:
 * the output is exact up to mu-law, and a voiced signal's periodicity can fool correlation.
 */
static double exact_snr(const float *ref, const float *got, size_t n, size_t max_lag, size_t *lag)
{
	double best_e = 1e300, sig = 0;
	for (size_t i = 0; i < n; i++)
		sig += (double)ref[i] * ref[i];
	for (size_t l = 0; l <= max_lag; l++) {
		double e = 0;
		for (size_t i = 0; i < n && e < best_e; i++)
			e += ((double)got[i + l] - ref[i]) * ((double)got[i + l] - ref[i]);
		if (e < best_e) {
			best_e = e;
			*lag = l;
		}
	}
	return 10 * log10(sig / (best_e + 1e-20));
}

IVR_TEST(test_prompt_playback)
{
	struct ivr_engine *e = test_engine_next(use_epoll, 8, &port_base);
	if (!e)
		return IVR_TEST_SKIP;
	static float prompt[8000];
	speechlike(prompt, 8000, 140);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ivr_rtp_prompt_%d.wav", (int)getpid());
	ivr_check_int_eq(ivr_wav_write(path, prompt, 8000, 8000, IVR_WAV_PCM16), 0);
	/* Reference: what the engine can at best send, the prompt through mu-law. */
	static float ref[8000];
	for (int i = 0; i < 8000; i++)
		ref[i] = (float)ivr_g711_ulaw_decode(
				 ivr_g711_ulaw_encode(ivr_f32_to_s16(prompt[i]))) /
			 32768.0f;
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char remote[64];
	phone_remote(&ph, remote, sizeof(remote));
	struct ivr_call_params p = { .remote = remote, .codec = "PCMU", .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(ivr_call_create(e, &p, &id, &ph.engine_port), 0);
	ivr_check_int_eq(ivr_call_play(e, id, path, false, false), 0);
	struct phone *phs[1] = { &ph };
	phones_run(phs, NULL, 1, 60);
	ivr_check_msg(ph.rx_n >= 8000, "received %zu samples", ph.rx_n);
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	/*
	 * The prompt through mu-law, aligned on the signal 125 ms at a time: a tick
	 * the worker skipped under load advances the RTP clock by a frame, so the
	 * rest of the prompt comes a frame later on it.  Every chunk must be exact
	 * (SNR > 30 dB) but those the engine says a skip fell into.
	 */
	const size_t chunk = 1000, n_chunks = 7;
	const size_t skipped = (size_t)in.frames_skipped;
	size_t lag = 0, good = 0;
	double snr = 1e9;
	for (size_t c = 0; c < n_chunks && ph.rx_n >= 8000 + 160 * skipped; c++) {
		size_t l = 0;
		double sc = exact_snr(ref + c * chunk, ph.rx + c * chunk, chunk,
				      800 + 160 * skipped, &l);
		if (c == 0)
			lag = l;
		good += sc > 30;
		snr = fmin(snr, sc);
	}
	ivr_check_msg(good + skipped >= n_chunks, "prompt: %zu of %zu chunks exact (worst %.1f dB)",
		      good, n_chunks, snr);
	/* PLAY may land one tick after ADD: at most 2 frames of silence first (+ skips). */
	ivr_check_msg(lag <= 320 + 160 * skipped, "prompt starts at sample %zu of the stream", lag);
	/*
	 * Create -> first prompt packet within 40 ms (two ticks).  A loaded machine can
	 * delay one worker wake-up past that, so the best of up to three calls counts: an
	 * engine that is late by design is late every time.
	 */
	long long first_ms = in.first_prompt_ms;
	for (int retry = 0; retry < 2 && (first_ms < 0 || first_ms > 40); retry++) {
		struct phone p2;
		ivr_check_int_eq(phone_open(&p2), 0);
		struct ivr_call_params pp = { .codec = "PCMU", .pt = -1, .dtmf_pt = -1 };
		uint64_t id2;
		ivr_check_int_eq(phone_call(e, &p2, &pp, &id2), 0);
		ivr_check_int_eq(ivr_call_play(e, id2, path, false, false), 0);
		struct ivr_call_info i2 = { .first_prompt_ms = -1 };
		for (int k = 0; k < 100 && i2.first_prompt_ms < 0; k++) {
			sleep_until(now_ns() + 20000000ull);
			ivr_check_int_eq(ivr_call_get_info(e, id2, &i2), 0);
		}
		printf("  retry: create -> first prompt packet %lld ms\n",
		       (long long)i2.first_prompt_ms);
		if (i2.first_prompt_ms >= 0 && (first_ms < 0 || i2.first_prompt_ms < first_ms))
			first_ms = i2.first_prompt_ms;
		ivr_check_int_eq(ivr_call_destroy(e, id2), 0);
		phone_close(&p2);
	}
	ivr_check_msg(first_ms >= 0 && first_ms <= 40, "create -> first prompt packet %lld ms",
		      first_ms);
	printf("  %s: prompt worst chunk SNR %.1f dB, first prompt packet after %lld ms\n",
	       ivr_engine_io_backend(e), snr, first_ms);
	/* finished by itself (1 s of prompt; a starved worker plays it later: 3 s at most) */
	for (int k = 0; k < 150 && in.playing; k++) {
		sleep_until(now_ns() + 20000000ull);
		ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	}
	ivr_check(!in.playing);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	test_engine_end(e, &ph, path);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_garbage_and_flood)
{
	struct ivr_engine *e = test_engine_next(use_epoll, 8, &port_base);
	if (!e)
		return IVR_TEST_SKIP;
	struct phone a, b, intruder;
	ivr_check_int_eq(phone_open(&a), 0);
	ivr_check_int_eq(phone_open(&b), 0);
	ivr_check_int_eq(phone_open(&intruder), 0);
	char ra[64], rb[64];
	phone_remote(&a, ra, sizeof(ra));
	phone_remote(&b, rb, sizeof(rb));
	struct ivr_call_params pa = { .remote = ra, .pt = -1, .dtmf_pt = -1 };
	struct ivr_call_params pb = { .remote = rb, .pt = -1, .dtmf_pt = -1 };
	uint64_t ida, idb;
	ivr_check_int_eq(ivr_call_create(e, &pa, &ida, &a.engine_port), 0);
	ivr_check_int_eq(ivr_call_create(e, &pb, &idb, &b.engine_port), 0);
	static float voice[8000 * 3];
	speechlike(voice, 8000 * 3, 120);
	uint64_t t = now_ns();
	uint8_t junk[1400];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 31 + 7);
	int frames = 100, sent_late = 0;
	for (int f = 0; f < frames; f++) {
		/* Our own stalls (a loaded machine): frames we send over 40 ms behind schedule may
		 * reach the engine after their play-out time; counted so they are not the engine's.
		 */
		sent_late += now_ns() > t + 40000000ull;
		phone_send(&a, voice + (size_t)f * 160);
		/* B's port: 200 datagrams of garbage and fake RTP per 20 ms (10k/s). */
		for (int k = 0; k < 200; k++) {
			junk[0] = (uint8_t)(k & 1 ? 0x80 : 0x00);
			phone_send_raw(&b, junk, 12 + (size_t)(k * 7 % 1300));
		}
		/* A's port: a foreign source sending valid-looking RTP and a runt. */
		intruder.engine_port = a.engine_port;
		if (f > 5) {
			static const float zero[160];
			phone_send(&intruder, zero);
			phone_send_raw(&intruder, junk, 3);
		}
		phone_drain(&a, false);
		phone_drain(&b, false);
		phone_drain(&intruder, false);
		t += 20000000ull;
		sleep_until(t);
	}
	/* A's jitter buffer plays out: wait until its count stops moving (3 s at most). */
	struct ivr_call_info ia, ib;
	uint64_t played = UINT64_MAX, deadline = now_ns() + 3000000000ull;
	do {
		sleep_until(now_ns() + 100000000ull);
		ivr_check_int_eq(ivr_call_get_info(e, ida, &ia), 0);
		if (ia.frames_played == played)
			break;
		played = ia.frames_played;
	} while (now_ns() < deadline);
	phone_drain(&b, false);
	ivr_check_int_eq(ivr_call_get_info(e, idb, &ib), 0);
	printf("  %s: A played %llu concealed %llu late %llu foreign %llu (we sent %d late); "
	       "B bad %llu flood-dropped %llu\n",
	       ivr_engine_io_backend(e), (unsigned long long)ia.frames_played,
	       (unsigned long long)ia.frames_concealed, (unsigned long long)ia.jb_late,
	       (unsigned long long)ia.rx_foreign, sent_late, (unsigned long long)ib.rx_bad,
	       (unsigned long long)ib.rx_flood_dropped);
	/* A got every frame it was sent, and nothing from the intruder. */
	/* (5% slack as before, plus the frames we ourselves sent late and the ticks the
	 * starved worker skipped, whose frames the engine drops and counts) */
	ivr_check_msg((ia.frames_played + (uint64_t)sent_late + ia.frames_skipped) * 100 >=
			      (uint64_t)frames * 95,
		      "A played %llu of %d, skipped %llu", (unsigned long long)ia.frames_played,
		      frames, (unsigned long long)ia.frames_skipped);
	/* The intruder's datagrams never counted: dropped as rx_foreign by the latch, or by the
	 * kernel once the RTP socket is connected to A (engine/call.c, tx_connect_update). */
	ivr_check_msg(ia.jb_late <= 5 + (uint64_t)sent_late, "A: %llu late, we sent %d late",
		      (unsigned long long)ia.jb_late, sent_late);
	ivr_check(ib.rx_bad + ib.rx_flood_dropped > 1000);
	/* The latch stayed on A's real address. */
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", a.port);
	ivr_check_msg(!strcmp(ia.remote, want), "latched to %s", ia.remote);
	/* B still gets its stream from the engine despite the flood. */
	/* (ticks the worker skipped under load send nothing) */
	ivr_check_msg(b.rx_pkts + ib.frames_skipped >= (uint64_t)frames - 5,
		      "B received %llu packets, %llu ticks skipped", (unsigned long long)b.rx_pkts,
		      (unsigned long long)ib.frames_skipped);
	phone_close(&a);
	phone_close(&b);
	phone_close(&intruder);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_relatch)
{
	struct ivr_engine *e = test_engine_next(use_epoll, 4, &port_base);
	if (!e)
		return IVR_TEST_SKIP;
	struct phone a, a2;
	ivr_check_int_eq(phone_open(&a), 0);
	struct ivr_call_params p = { .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(phone_call(e, &a, &p, &id), 0);
	static float voice[8000 * 2]; /* 25 frames from A, then 40 from A2 */
	speechlike(voice, 8000 * 2, 130);
	uint64_t t = now_ns();
	for (int f = 0; f < 25; f++) {
		phone_send(&a, voice + (size_t)f * 160);
		phone_drain(&a, false);
		t += 20000000ull;
		sleep_until(t);
	}
	sleep_until(now_ns() + 60000000ull);
	phone_drain(&a, false);
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	/* (ticks the worker skipped under load send nothing) */
	ivr_check_msg(a.rx_pkts + in.frames_skipped >= 15, "A got %llu packets, %llu ticks skipped",
		      (unsigned long long)a.rx_pkts, (unsigned long long)in.frames_skipped);
	/* The caller moves: its old port goes away (the engine's sends to it are refused), and
	 * after the quiet time it speaks from a new port. */
	phone_close(&a);
	sleep_until(now_ns() + IVR_RTP_RELATCH_NS + 300000000ull);
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	uint64_t played0 = in.frames_played;
	ivr_check_int_eq(phone_open(&a2), 0);
	a2.engine_port = a.engine_port;
	t = now_ns();
	for (int f = 0; f < 40; f++) {
		phone_send(&a2, voice + (size_t)(25 + f) * 160);
		phone_drain(&a2, false);
		t += 20000000ull;
		sleep_until(t);
	}
	sleep_until(now_ns() + 60000000ull);
	phone_drain(&a2, false);
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	char want[64];
	phone_remote(&a2, want, sizeof(want));
	printf("  %s: relatched to %s (want %s), new port got %llu packets, played %llu of 40, "
	       "tx errors %llu\n",
	       ivr_engine_io_backend(e), in.remote, want, (unsigned long long)a2.rx_pkts,
	       (unsigned long long)(in.frames_played - played0), (unsigned long long)in.tx_errors);
	ivr_check_msg(!strcmp(in.remote, want), "latched to %s", in.remote);
	ivr_check_msg(a2.rx_pkts >= 30, "new address got %llu packets",
		      (unsigned long long)a2.rx_pkts);
	ivr_check(in.frames_played - played0 >= 36);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	phone_close(&a2);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_rtcp)
{
	struct ivr_engine *e = test_engine_next(use_epoll, 4, &port_base);
	if (!e)
		return IVR_TEST_SKIP;
	struct phone ph, rc;
	ivr_check_int_eq(phone_open(&ph), 0);
	ivr_check_int_eq(phone_open(&rc), 0); /* our RTCP socket */
	struct ivr_call_params p = { .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(phone_call(e, &ph, &p, &id), 0);
	rc.engine_port = (uint16_t)(ph.engine_port + 1);
	static float voice[8000];
	speechlike(voice, 8000, 150);
	uint64_t t = now_ns();
	uint64_t our_ntp = 0xe1000000ull << 32 | 0x12345678u;
	struct ivr_rtcp_report got = { 0 };
	bool have_sr = false;
	uint32_t engine_ssrc = 0;
	for (int f = 0; f < 6 * 50 && !have_sr; f++) {
		phone_send(&ph, voice + (size_t)(f % 50) * 160);
		if (f == 20) {
			/* our SR: the engine must echo its middle bits as LSR */
			struct ivr_rtcp_report sr = { .ssrc = 0x5eed0000u + ph.port,
						      .is_sr = true,
						      .ntp = our_ntp };
			uint8_t b[256];
			int n = ivr_rtcp_build(b, sizeof(b), &sr, "phone");
			phone_send_raw(&rc, b, (size_t)n);
		}
		uint8_t buf[2048];
		ssize_t n;
		while ((n = recv(ph.fd, buf, sizeof(buf), 0)) > 0) {
			struct ivr_rtp_hdr h;
			if (ivr_rtp_parse(&h, buf, (size_t)n) == 0)
				engine_ssrc = h.ssrc;
		}
		while ((n = recv(rc.fd, buf, sizeof(buf), 0)) > 0)
			if (ivr_rtcp_parse(&got, buf, (size_t)n) == 0 && got.is_sr)
				have_sr = true;
		t += 20000000ull;
		sleep_until(t);
	}
	ivr_check_msg(have_sr, "no SR from the engine in 6 s");
	if (have_sr) {
		ivr_check_int_eq(got.ssrc, engine_ssrc);
		ivr_check(got.pkt_count > 50);
		ivr_check_int_eq(got.octet_count, got.pkt_count * 160);
		ivr_check_int_eq(got.n_rb, 1);
		ivr_check_int_eq(got.rb[0].ssrc, 0x5eed0000u + ph.port);
		ivr_check_int_eq(got.rb[0].cum_lost, 0);
		/* the SR may be built a packet or two before our latest arrived */
		uint16_t behind =
			(uint16_t)((uint16_t)(ph.seq - 1) - (got.rb[0].ext_max_seq & 0xffff));
		ivr_check_msg(behind <= 2, "ext_max_seq %u, last sent %u", got.rb[0].ext_max_seq,
			      (uint16_t)(ph.seq - 1));
		ivr_check_int_eq(got.rb[0].lsr, ivr_rtcp_ntp_mid(our_ntp));
		ivr_check(got.rb[0].dlsr > 0);
		/* Answer with an RR on the engine's stream: it measures the round trip. */
		struct ivr_rtcp_report rr = { .ssrc = 0x5eed0000u + ph.port, .n_rb = 1 };
		rr.rb[0].ssrc = got.ssrc;
		rr.rb[0].lsr = ivr_rtcp_ntp_mid(got.ntp);
		rr.rb[0].dlsr = 0;
		rr.rb[0].fraction_lost = 3;
		uint8_t b[256];
		int n = ivr_rtcp_build(b, sizeof(b), &rr, "phone");
		phone_send_raw(&rc, b, (size_t)n);
		sleep_until(now_ns() + 60000000ull);
		struct ivr_call_info in;
		ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
		ivr_check(in.rtcp_rx == 2 && in.rtcp_tx >= 1);
		ivr_check_int_eq(in.remote_fraction_lost, 3);
		ivr_check_msg(in.rtt_us >= 0 && in.rtt_us < 200000, "rtt %lld us",
			      (long long)in.rtt_us);
	}
	phone_close(&ph);
	phone_close(&rc);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_max_calls)
{
	struct ivr_engine *e = test_engine_next(use_epoll, 4, &port_base);
	if (!e)
		return IVR_TEST_SKIP;
	struct ivr_call_params p = { .pt = -1, .dtmf_pt = -1 };
	uint64_t ids[4], extra;
	for (int i = 0; i < 4; i++)
		ivr_check_int_eq(ivr_call_create(e, &p, &ids[i], NULL), 0);
	ivr_check_int_eq(ivr_call_create(e, &p, &extra, NULL), -ENOSPC);
	ivr_check_msg(strstr(ivr_engine_last_error(), "max calls (4) reached"), "%s",
		      ivr_engine_last_error());
	ivr_check_int_eq(ivr_call_destroy(e, ids[2]), 0);
	ivr_check_int_eq(ivr_call_create(e, &p, &extra, NULL), 0);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

static void run_cases(void)
{
	ivr_test_run(test_prompt_playback);
	ivr_test_run(test_garbage_and_flood);
	ivr_test_run(test_max_calls);
	ivr_test_run(test_relatch);
	if (!use_epoll)
		ivr_test_run(test_rtcp); /* 5 s: once is enough, the path is shared */
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	test_engine_both_paths(&use_epoll, run_cases);
	return ivr_test_summary();
}
