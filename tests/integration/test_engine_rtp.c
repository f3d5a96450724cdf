/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_rtp.c - the engine over real loopback RTP,
 * on both I/O paths (io_uring and the epoll fallback):
 *  - a prompt played to a call comes back as RTP that decodes to the prompt
 *    (aligned SNR), with the first prompt packet within 40 ms of creation;
 *  - garbage, a flood and a foreign source on ports do not hurt another
 *    call's audio;
 *  - the max-calls limit refuses with a clear error.
 * Exit 77 when the engine cannot start here (sockets or threads refused).
 */
#include "config.h"

#include <stdio.h>

#include "dsp/wav.h"
#include "engine_test_util.h"
#include "ivr_test.h"

static bool use_epoll;
static uint16_t port_base = 33000;

IVR_TEST(test_prompt_playback)
{
	struct ivr_engine *e = test_engine(use_epoll, 8, port_base);
	if (!e)
		return IVR_TEST_SKIP;
	port_base += 400;
	static float prompt[8000];
	speechlike(prompt, 8000, 140);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ivr_rtp_prompt_%d.wav", (int)getpid());
	ivr_check_int_eq(ivr_wav_write(path, prompt, 8000, 8000, IVR_WAV_PCM16), 0);
	/* Reference: what the engine can at best send, the prompt through mu-law. */
	static float ref[8000];
	for (int i = 0; i < 8000; i++)
		ref[i] = (float)ivr_g711_ulaw_decode(ivr_g711_ulaw_encode(ivr_f32_to_s16(prompt[i]))) /
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
	size_t lag = 0;
	double snr = aligned_snr(ref, ph.rx, 7000, 800, &lag);
	ivr_check_msg(snr > 30, "prompt SNR %.1f dB at lag %zu", snr, lag);
	ivr_check_msg(lag == 0, "prompt starts at sample %zu of the stream", lag);
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	ivr_check_msg(in.first_prompt_ms >= 0 && in.first_prompt_ms <= 40,
		      "create -> first prompt packet %lld ms", (long long)in.first_prompt_ms);
	printf("  %s: prompt SNR %.1f dB, first prompt packet after %lld ms\n",
	       ivr_engine_io_backend(e), snr, (long long)in.first_prompt_ms);
	ivr_check(!in.playing); /* finished by itself */
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	phone_close(&ph);
	ivr_engine_free(e);
	unlink(path);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_garbage_and_flood)
{
	struct ivr_engine *e = test_engine(use_epoll, 8, port_base);
	if (!e)
		return IVR_TEST_SKIP;
	port_base += 400;
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
	int frames = 100;
	for (int f = 0; f < frames; f++) {
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
	sleep_until(now_ns() + 100000000ull);
	struct ivr_call_info ia, ib;
	ivr_check_int_eq(ivr_call_get_info(e, ida, &ia), 0);
	ivr_check_int_eq(ivr_call_get_info(e, idb, &ib), 0);
	printf("  %s: A played %llu concealed %llu foreign %llu; B bad %llu flood-dropped %llu\n",
	       ivr_engine_io_backend(e), (unsigned long long)ia.frames_played,
	       (unsigned long long)ia.frames_concealed, (unsigned long long)ia.rx_foreign,
	       (unsigned long long)ib.rx_bad, (unsigned long long)ib.rx_flood_dropped);
	/* A got every frame it was sent, and nothing from the intruder. */
	ivr_check_msg(ia.frames_played >= (uint64_t)frames - 2, "A played %llu of %d",
		      (unsigned long long)ia.frames_played, frames);
	ivr_check(ia.rx_foreign > 0);
	ivr_check(ia.jb_late == 0);
	ivr_check(ib.rx_bad + ib.rx_flood_dropped > 1000);
	/* The latch stayed on A's real address. */
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", a.port);
	ivr_check_msg(!strcmp(ia.remote, want), "latched to %s", ia.remote);
	/* B still gets its stream from the engine despite the flood. */
	ivr_check(b.rx_pkts >= (uint64_t)frames - 5);
	struct ivr_engine_stats st;
	ivr_engine_get_stats(e, &st);
	ivr_check_int_eq(st.overruns, 0);
	phone_close(&a);
	phone_close(&b);
	phone_close(&intruder);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_max_calls)
{
	struct ivr_engine *e = test_engine(use_epoll, 4, port_base);
	if (!e)
		return IVR_TEST_SKIP;
	port_base += 400;
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

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	for (int pass = 0; pass < 2; pass++) {
		use_epoll = pass == 1;
		printf("# %s path\n", use_epoll ? "epoll" : "io_uring");
		ivr_test_run(test_prompt_playback);
		ivr_test_run(test_garbage_and_flood);
		ivr_test_run(test_max_calls);
	}
	return ivr_test_summary();
}
