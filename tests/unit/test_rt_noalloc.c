/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_rt_noalloc.c - the media path never allocates.
 *
 * malloc/calloc/realloc/free/aligned_alloc/posix_memalign are interposed
 * (tests/harness/ivr_alloc_guard.h, forwarding to glibc's __libc_* entry
 * points); a thread-local flag arms them on this thread only, so the
 * recorder's writer thread may allocate.
 * Armed: 1000 ticks of three calls' full per-call processing - RTP parse,
 * latching, RFC 3550 statistics, jitter buffer with reordering and loss,
 * G.711 and Opus decode (call 2 is an Opus call: FEC and PLC; call 3 a
 * wideband Opus call running at 16 kHz with its canceller on, a 16 kHz
 * prompt and recording, in the conference with the 8 kHz calls so the
 * mixer's rate converters run), PLC, the DSP chain (AEC, DTMF
 * in-band and RFC 4733, fax tones, VAD), conference N-1 mix, prompt playback, in-band and RFC 4733
 * DTMF sending, recording handoff, encode and packet build (call 0 with a real
 * socket, connected to its latched peer on the media path), RTCP reports in
 * and out.  The negative control proves
 * the interposer sees a deliberate malloc.
 * Under AddressSanitizer or valgrind (which own malloc) the test skips.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dsp/g711.h"
#include "dsp/opus_codec.h"
#include "dsp/rfc4733.h"
#include "dsp/wav.h"
#include "engine/call.h"
#include "engine/flowrt.h"
#include "engine/flowsvc.h"
#include "engine/mixer.h"
#include "engine/prompt.h"
#include "engine/rtcp.h"
#include "engine/recorder.h"
#include "ivr_alloc_guard.h"
#include "ivr_test.h"

IVR_TEST(test_negative_control)
{
	atomic_store(&ivr_alloc_hits, 0);
	ivr_alloc_armed = 1;
	void *p = ivr_alloc_malloc_fn(32);
	ivr_alloc_armed = 0;
	ivr_check_int_eq(atomic_load(&ivr_alloc_hits), 1);
	free(p);
	return IVR_TEST_RESULT();
}

#define N_CALLS 4 /* PCMU, PCMA + flow, Opus 8 kHz, Opus 16 kHz */

IVR_TEST(test_media_ticks)
{
	/* Control-side set-up (allocates freely). */
	char prompt_path[] = "/tmp/ivr_noalloc_prompt_XXXXXX.wav";
	int pfd = mkstemps(prompt_path, 4);
	ivr_check(pfd >= 0);
	close(pfd);
	float tone[8000];
	for (int i = 0; i < 8000; i++)
		tone[i] = 0.3f * sinf(2 * (float)M_PI * 440 * (float)i / 8000);
	ivr_check_int_eq(ivr_wav_write(prompt_path, tone, 8000, 8000, IVR_WAV_PCM16), 0);
	struct ivr_prompt_cache *pc = ivr_prompt_cache_new(8000);
	struct ivr_recorder *rec = ivr_recorder_new(1, 4096, N_CALLS);
	struct ivr_mixer *mix = ivr_mixer_new(4);
	size_t stride = ivr_call_slot_size();
	uint8_t *arena = aligned_alloc(64, stride * N_CALLS);
	ivr_check(pc && rec && mix && arena);
	memset(arena, 0, stride * N_CALLS);
	ivr_mixer_set_ports(mix, arena + offsetof(struct ivr_call, mix), stride, N_CALLS);
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(4000) };
	inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
	/* Call 1 runs the bank flow (no recogniser, no prompts: DTMF, timers, events). */
	struct ivr_flowsvc *fsvc = ivr_flowsvc_new(
		&(struct ivr_flowsvc_cfg){ .no_asr = true, .no_tts = true, .max_calls = N_CALLS },
		NULL, 0);
	struct ivr_flowsvc_flow *fv = NULL;
	ivr_check(fsvc && ivr_flowsvc_acquire(fsvc, "bank", &fv, NULL, 0) == 0);
	struct ivr_call *calls[N_CALLS];
	char rec_path[N_CALLS][64];
	for (int i = 0; i < N_CALLS; i++) {
		struct ivr_call *c = (struct ivr_call *)(arena + stride * (size_t)i);
		calls[i] = c;
		ivr_check_int_eq(ivr_call_init(c, (uint32_t)i, 1), 0);
		ivr_check_int_eq(ivr_codec_init(&c->codec,
						i == 1	 ? IVR_CODEC_PCMA
						: i >= 2 ? IVR_CODEC_OPUS
							 : IVR_CODEC_PCMU,
						-1),
				 0);
		ivr_check_int_eq(ivr_codec_set_rate(&c->codec, i == 3 ? 48000 : 8000), 0);
		c->aec_on = i == 3;
		c->ssrc = 1000u + (uint32_t)i;
		c->dtmf_pt = 101;
		c->call_id = 1u + (uint32_t)i;
		ivr_check_int_eq(ivr_call_dsp_setup(c), 0);
		c->recorder = rec;
		c->mixer = mix;
		ivr_rtp_latch_init(&c->latch, (struct sockaddr *)&peer, sizeof(peer));
		snprintf(rec_path[i], sizeof(rec_path[i]), "/tmp/ivr_noalloc_rec%d_%d.wav", i,
			 (int)getpid());
		ivr_check_int_eq(ivr_recorder_open(rec, (uint32_t)i, rec_path[i], 0,
						   c->codec.rate_hz, &c->rec_id, NULL, 0),
				 0);
		c->prompt = ivr_prompt_get_at(pc, prompt_path, c->codec.rate_hz, NULL, 0);
		ivr_check(c->prompt != NULL);
		c->play_loop = i >= 2;
		ivr_check_int_eq(ivr_call_mix_setup(c), 0);
		ivr_check_int_eq(ivr_mixer_join(mix, "room", (uint32_t)i, true, true, -1), 0);
		c->rtcp_fd = 1000 + i; /* never used for I/O here: lets RTCP reports be built */
		if (i == 0) {
			/* A real socket bound to an address: the tick connect()s it to the
			 * latched peer (engine/call.c tx_connect_update), armed. */
			struct sockaddr_in me = { .sin_family = AF_INET };
			inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
			c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			ivr_check(c->fd >= 0 &&
				  bind(c->fd, (struct sockaddr *)&me, sizeof(me)) == 0);
		}
		if (i == 1 && fv)
			ivr_check_int_eq(ivr_call_flow_setup(c, fsvc, fv), 0);
		atomic_store(&c->state, IVR_CALL_ACTIVE);
	}
	uint8_t sr[256];
	struct ivr_rtcp_report rep = { .ssrc = 77, .is_sr = true, .ntp = 1ull << 40, .n_rb = 1 };
	rep.rb[0].ssrc = 1000;
	int sr_len = ivr_rtcp_build(sr, sizeof(sr), &rep, "peer");
	ivr_check(sr_len > 0);
	uint64_t rtcp_sent = 0;
	ivr_check_int_eq(ivr_call_dtmf_queue(calls[0], "123#"), 4);
	ivr_check_int_eq(
		ivr_rfc4733_tx_send((struct ivr_rfc4733_tx *)calls[2]->rfc_tx, "9#", 100, 60), 2);
	/* Telephone-events from the caller of call 1: digit 5, three packets and the end. */
	uint8_t ev_pkt[4][64];
	int ev_n[4];
	for (int k = 0; k < 4; k++) {
		uint8_t pl[4];
		struct ivr_rfc4733_payload p = { .event = 5,
						 .end = k == 3,
						 .duration = (uint16_t)(160 * (k + 1)) };
		ivr_check(ivr_rfc4733_build(pl, sizeof(pl), &p) == 4);
		struct ivr_rtp_hdr h = { .pt = 101,
					 .marker = k == 0,
					 .seq = (uint16_t)(30000 + k),
					 .ts = 200 * 160,
					 .ssrc = 77 };
		ev_n[k] = ivr_rtp_build(ev_pkt[k], sizeof(ev_pkt[k]), &h, pl, 4);
	}

	/* The Opus caller's encoder (the call's own state is the engine's side). */
	struct ivr_opus_enc *penc = ivr_opus_enc_new(NULL);
	struct ivr_opus_enc *penc_wb = ivr_opus_enc_new(&(struct ivr_opus_cfg){ .rate_hz = 16000 });
	ivr_check(penc != NULL && penc_wb != NULL);

	/* Media path, armed. */
	atomic_store(&ivr_alloc_hits, 0);
	ivr_alloc_armed = 1;
	uint8_t pkt[N_CALLS][2][512];
	int held[N_CALLS] = { 0 }, garbage = 0;
	for (int t = 0; t < 1000; t++) {
		uint64_t now = 1000000000ull + (uint64_t)t * 20000000ull;
		for (int i = 0; i < N_CALLS; i++) {
			struct ivr_call *c = calls[i];
			float f[320];
			uint8_t pay[320];
			const int fn = (int)c->frame_samples;
			for (int k = 0; k < fn; k++)
				f[k] = 0.2f * sinf(2 * (float)M_PI * 300 * (float)(t * fn + k) /
						   (float)c->codec.rate_hz);
			int np = c->codec.id == IVR_CODEC_OPUS
					 ? ivr_opus_encode(fn == 320 ? penc_wb : penc, f,
							   (size_t)fn, pay, sizeof(pay))
					 : ivr_codec_encode(&c->codec, NULL, f, 160, pay,
							    sizeof(pay));
			ivr_check(np > 0);
			struct ivr_rtp_hdr h = { .pt = c->codec.pt,
						 .seq = (uint16_t)t,
						 .ts = (uint32_t)t * c->codec.frame_units,
						 .ssrc = 77 };
			int n = ivr_rtp_build(pkt[i][t & 1], sizeof(pkt[i][0]), &h, pay,
					      (size_t)(np > 0 ? np : 0));
			/* every 10th packet arrives a tick late (reorder), every 50th is lost */
			if (t % 50 == 3)
				continue;
			if (t % 10 == 5) {
				held[i] = n;
				continue;
			}
			ivr_call_on_packet(c, pkt[i][t & 1], (size_t)n, (struct sockaddr *)&peer,
					   sizeof(peer), now);
			if (held[i]) {
				ivr_call_on_packet(c, pkt[i][(t - 1) & 1], (size_t)held[i],
						   (struct sockaddr *)&peer, sizeof(peer), now);
				held[i] = 0;
			}
			/* garbage too */
			ivr_call_on_packet(c, pay, 7, (struct sockaddr *)&peer, sizeof(peer), now);
			garbage += i == 0;
		}
		if (t >= 200 && t < 204)
			ivr_call_on_packet(calls[1], ev_pkt[t - 200], (size_t)ev_n[t - 200],
					   (struct sockaddr *)&peer, sizeof(peer), now);
		for (int i = 0; i < N_CALLS; i++) {
			(void)ivr_call_tick(calls[i], (uint64_t)t, now);
			rtcp_sent += ivr_call_rtcp_tick(calls[i], (uint64_t)t, now) > 0;
			if (t % 100 == 50)
				ivr_call_on_rtcp(calls[i], sr, (size_t)sr_len,
						 (struct sockaddr *)&peer, sizeof(peer), now);
		}
	}
	ivr_alloc_armed = 0;
	ivr_check_msg(atomic_load(&ivr_alloc_hits) == 0, "%d allocations on the media path",
		      atomic_load(&ivr_alloc_hits));
	ivr_check_int_eq(rtcp_sent, N_CALLS * 4); /* every 250 ticks */
	ivr_check_int_eq(calls[0]->st.rtcp_rx, 10);
	/* Call 0's socket got connected on the media path (and sends then carry no address). */
	ivr_check_int_eq(calls[0]->tx_conn, IVR_CALL_CONN_ON);
	ivr_check(calls[0]->msg[calls[0]->pkt_i ^ 1].msg_name == NULL);
	close(calls[0]->fd);
	for (int i = 0; i < N_CALLS; i++) {
		ivr_check_int_eq(calls[i]->st.tx_pkts, 1000);
		ivr_check(calls[i]->st.frames_played > 900);
		ivr_check(calls[i]->st.frames_concealed > 0);
		ivr_check_int_eq(calls[i]->st.rx_bad, garbage);
	}
	/* Calls 2 and 3 rebuilt lost packets from the next packet's Opus FEC. */
	for (int i = 2; i < N_CALLS; i++)
		ivr_check_msg(calls[i]->st.frames_fec > 0, "Opus FEC frames %llu",
			      (unsigned long long)calls[i]->st.frames_fec);
	/* The mixed-rate conference converted every member's frames. */
	for (int i = 0; i < N_CALLS; i++)
		ivr_check(atomic_load(&calls[i]->mix.alt_seq) > 0);
	ivr_check_int_eq(calls[3]->frame_samples, 320);
	/* The chain did run: call 1's telephone-event digit came out of it. */
	ivr_check(calls[1]->st.dsp_events >= 2);
	/* ... into the flow: "5" is no key of the bank's main menu, a no-match. */
	struct ivr_flowrt_stats fst;
	ivr_flowrt_get_stats((struct ivr_flowrt *)calls[1]->flowrt, &fst);
	ivr_check(calls[1]->flow_started && fst.no_match_total >= 1);

	/* Tear down on the control side. */
	for (int i = 0; i < N_CALLS; i++) {
		ivr_call_retire(calls[i]);
		(void)ivr_mixer_leave(mix, (uint32_t)i);
		ivr_call_dsp_release(calls[i]);
		ivr_call_mix_release(calls[i]);
		ivr_call_flow_release(calls[i]);
	}
	ivr_opus_enc_free(penc);
	ivr_opus_enc_free(penc_wb);
	ivr_flowsvc_free(fsvc);
	ivr_recorder_free(rec);
	ivr_mixer_free(mix);
	ivr_prompt_cache_free(pc);
	free(arena);
	for (int i = 0; i < N_CALLS; i++)
		unlink(rec_path[i]);
	unlink(prompt_path);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
#ifdef IVR_ASAN
	printf("SKIP: AddressSanitizer owns malloc; run under gcc\n");
	return 77;
#endif
	if (IVR_UNDER_VALGRIND()) {
		/* valgrind replaces malloc itself: the interposer never sees calls. */
		printf("SKIP: valgrind owns malloc; run natively\n");
		return 77;
	}
	ivr_test_run(test_negative_control);
	ivr_test_run(test_media_ticks);
	return ivr_test_summary();
}
