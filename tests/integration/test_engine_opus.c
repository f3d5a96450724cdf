/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_opus.c - Opus calls over real loopback RTP
 * (RFC 7587), on both I/O paths (io_uring and the epoll fallback):
 *  - a prompt played to an Opus call (pt 111) comes back as RTP with
 *    timestamps on the 48 kHz clock (+960 per 20 ms packet) that libopus,
 *    here in the test, decodes to the prompt: correlation and level, as
 *    suits a lossy codec (waveform SNR is not what Opus preserves);
 *  - Opus speech sent in (libopus encoder in the test, in-band FEC on) is
 *    recorded at the level sent; one packet is never sent: the engine
 *    rebuilds it from the next packet's FEC, so the recording has speech,
 *    not a gap, where it was;
 *  - create_call refuses a bad payload type for opus with a reason.
 * Exit 77 when the engine cannot start here (sockets or threads refused).
 */
#include "config.h"

#include <opus.h>
#include <stdio.h>

#include "dsp/wav.h"
#include "engine_test_util.h"
#include "ivr_test.h"

#define OPUS_PT 111

static bool use_epoll;
static uint16_t port_base = 41000;

/* Peak normalised correlation of @got against @ref over @n samples, lags 0..@max_lag. */
static double best_corr(const float *ref, const float *got, size_t n, size_t max_lag,
			size_t *lag_out)
{
	return best_norm_corr(ref, n, got, n + max_lag, max_lag, 1, false, lag_out);
}

static double rms_db(const float *x, size_t n)
{
	double a = 0;
	for (size_t i = 0; i < n; i++)
		a += (double)x[i] * x[i];
	return 10 * log10(a / (double)n + 1e-20);
}

IVR_TEST(test_opus_prompt)
{
	struct ivr_engine *e = test_engine_next(use_epoll, 4, &port_base);
	if (!e)
		return IVR_TEST_SKIP;
	static float prompt[8000];
	speechlike(prompt, 8000, 140);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ivr_opus_prompt_%d.wav", (int)getpid());
	ivr_check_int_eq(ivr_wav_write(path, prompt, 8000, 8000, IVR_WAV_PCM16), 0);
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	struct ivr_call_params p = { .codec = "opus", .pt = OPUS_PT, .dtmf_pt = 101 };
	uint64_t id;
	ivr_check_int_eq(phone_call(e, &ph, &p, &id), 0);
	ivr_check_int_eq(ivr_call_play(e, id, path, false, false), 0);
	int oe = 0;
	OpusDecoder *dec = opus_decoder_create(8000, 1, &oe);
	ivr_check(dec != NULL);
	if (!dec)
		return IVR_TEST_FAIL;
	uint32_t last_ts = 0;
	bool started = false;
	int n_pkts = 0, bad_step = 0, bad_pt = 0, skipped = 0;
	uint64_t end = now_ns() + 1400000000ull;
	while (now_ns() < end) {
		uint8_t buf[2048];
		struct ivr_rtp_hdr h;
		if (!phone_recv_rtp(&ph, buf, sizeof(buf), &h))
			continue;
		if (h.pt != OPUS_PT) {
			bad_pt++;
			continue;
		}
		if (!started) {
			started = true;
		} else if ((h.ts - last_ts) % 960 != 0 || h.ts == last_ts) {
			/* a worker that falls behind skips whole 20 ms frames (960 units) */
			bad_step++;
		} else {
			skipped += (int)((h.ts - last_ts) / 960 - 1);
		}
		last_ts = h.ts;
		/*
		 * Decoded in arrival order (loopback keeps it) and laid end to end: the prompt
		 * goes on where it was after a tick the worker skipped (a loaded machine), only
		 * the timestamps jump (checked above), so placed by timestamp every skip would
		 * shift the rest of the prompt by 20 ms and spoil the correlation (0.58 seen).
		 */
		size_t off = (size_t)n_pkts * 160;
		n_pkts++;
		if (off + 160 > PHONE_MAX_SAMPLES)
			continue;
		int got = opus_decode_float(dec, h.payload, (opus_int32)h.payload_n_bytes,
					    ph.rx + off, 160, 0);
		ivr_check_int_eq(got, 160);
		if (off + 160 > ph.rx_n)
			ph.rx_n = off + 160;
	}
	opus_decoder_destroy(dec);
	ivr_check_msg(n_pkts >= 60, "%d Opus packets", n_pkts);
	ivr_check_int_eq(bad_step, 0);
	ivr_check_int_eq(bad_pt, 0);
	ivr_check_msg(ph.rx_n >= 8000 + 800, "received %zu samples", ph.rx_n);
	size_t lag = 0;
	double r = best_corr(prompt, ph.rx, 7000, 800, &lag);
	double lvl = rms_db(ph.rx + lag, 7000) - rms_db(prompt, 7000);
	printf("  %s: opus prompt correlation %.3f at lag %zu, level %+.2f dB, %d packets, %d "
	       "ticks skipped\n",
	       ivr_engine_io_backend(e), r, lag, lvl, n_pkts, skipped);
	ivr_check_msg(r > 0.9, "prompt correlation %.3f", r);
	ivr_check_near(lvl, 0.0, 2.0);
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	ivr_check_msg(!strcmp(in.codec, "opus"), "codec %s", in.codec);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	/* Payload type out of range: refused with a reason. */
	struct ivr_call_params bad = { .codec = "opus", .pt = 200, .dtmf_pt = -1 };
	ivr_check_int_eq(ivr_call_create(e, &bad, &id, NULL), -EINVAL);
	ivr_check(strstr(ivr_engine_last_error(), "payload type") != NULL);
	test_engine_end(e, &ph, path);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_opus_record_and_loss)
{
	struct ivr_engine *e = test_engine_next(use_epoll, 4, &port_base);
	if (!e)
		return IVR_TEST_SKIP;
	enum { N_FRAMES = 100, LOST = 60 };
	static float voice[N_FRAMES * 160];
	speechlike(voice, N_FRAMES * 160, 130);
	char rpath[64];
	snprintf(rpath, sizeof(rpath), "/tmp/ivr_opus_rec_%d_%d.wav", (int)getpid(),
		 (int)use_epoll);
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	struct ivr_call_params p = { .codec = "OPUS", .pt = OPUS_PT, .dtmf_pt = -1 };
	uint64_t id;
	ivr_check_int_eq(phone_call(e, &ph, &p, &id), 0);
	ivr_check_int_eq(ivr_call_record_start(e, id, rpath, "caller"), 0);
	int oe = 0;
	OpusEncoder *enc = opus_encoder_create(8000, 1, OPUS_APPLICATION_VOIP, &oe);
	ivr_check(enc != NULL);
	if (!enc)
		return IVR_TEST_FAIL;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(20000));
	opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(10));
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(ph.engine_port) };
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	uint64_t t = now_ns();
	for (int f = 0; f < N_FRAMES + 15; f++) {
		/* 300 ms of silence after the speech flushes the jitter buffer into the file */
		static const float zero[160];
		const float *pcm = f < N_FRAMES ? voice + (size_t)f * 160 : zero;
		uint8_t pay[400], pkt[512];
		int np = opus_encode_float(enc, pcm, 160, pay, sizeof(pay));
		ivr_check(np > 0);
		struct ivr_rtp_hdr h = { .pt = OPUS_PT,
					 .seq = (uint16_t)(7000 + f),
					 .ts = 90000u + (uint32_t)f * 960,
					 .ssrc = 0x0b05 };
		int n = ivr_rtp_build(pkt, sizeof(pkt), &h, pay, (size_t)(np > 0 ? np : 0));
		if (f != LOST && n > 0)
			(void)!sendto(ph.fd, pkt, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to));
		phone_drain(&ph, false);
		t += 20000000ull;
		sleep_until(t);
	}
	opus_encoder_destroy(enc);
	struct ivr_call_info in;
	ivr_check_int_eq(ivr_call_get_info(e, id, &in), 0);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	ivr_engine_sync(e);
	sleep_until(now_ns() + 60000000ull);
	ivr_engine_flush_recordings(e);
	printf("  %s: played %llu, concealed %llu (FEC %llu), late %llu, skipped %llu\n",
	       ivr_engine_io_backend(e), (unsigned long long)in.frames_played,
	       (unsigned long long)in.frames_concealed, (unsigned long long)in.frames_fec,
	       (unsigned long long)in.jb_late, (unsigned long long)in.frames_skipped);
	/*
	 * Ticks the worker skipped (a loaded machine: it fell behind) drop their frames from
	 * the call and from the recording, which shifts the rest: each can spoil the chunk it
	 * falls in and the lost frame's alignment.  None on a quiet machine.
	 */
	const int skipped = (int)IVR_MIN(in.frames_skipped, (uint64_t)N_FRAMES);
	/* the one packet never sent; a loaded machine (ASan, shared CI) makes a few late */
	ivr_check_msg(in.frames_concealed >= 1 && in.frames_concealed <= 10, "concealed %llu",
		      (unsigned long long)in.frames_concealed);
	ivr_check_msg(in.frames_fec >= 1, "FEC rebuilt %llu", (unsigned long long)in.frames_fec);
	struct ivr_audio a = { 0 };
	ivr_check_int_eq(ivr_wav_read(&a, rpath, 0, NULL, 0), 0);
	ivr_check_msg(a.n_samples >= N_FRAMES * 160, "recorded %zu samples", a.n_samples);
	if (a.n_samples >= N_FRAMES * 160) {
		/*
		 * The jitter buffer and the codec delay the recording, and the buffer
		 * may drop a frame when it shrinks to its target: align chunk by chunk.
		 */
		int good = 0, chunks = 0;
		double lvl_sum = 0;
		for (size_t off = 800; off + 2000 <= (N_FRAMES - 12) * 160; off += 2000, chunks++) {
			size_t l = 0;
			double r = best_corr(voice + off, a.samples + off, 2000, 1600, &l);
			lvl_sum += rms_db(a.samples + off + l, 2000) - rms_db(voice + off, 2000);
			good += r > 0.8; /* measured 0.83-0.94 at 20 kbit/s */
		}
		double lvl = lvl_sum / chunks;
		/* the lost frame's 20 ms, aligned by the 100 ms before it: speech rebuilt */
		size_t lag = 0, at = (LOST - 5) * 160;
		(void)best_corr(voice + at, a.samples + at, 800, 1600, &lag);
		const float *lf = a.samples + lag + LOST * 160;
		double lost_lvl = rms_db(lf, 160) - rms_db(voice + LOST * 160, 160);
		double c = 0, e0 = 0, e1 = 0;
		for (size_t k = 0; k < 160; k++) {
			c += (double)voice[LOST * 160 + k] * lf[k];
			e0 += (double)voice[LOST * 160 + k] * voice[LOST * 160 + k];
			e1 += (double)lf[k] * lf[k];
		}
		double lost_r = c / sqrt(e0 * e1 + 1e-30);
		printf("  recorded: %d of %d chunks correlate > 0.8, level %+.2f dB; lost frame "
		       "(lag %zu) level %+.2f dB, correlation %.3f\n",
		       good, chunks, lvl, lag, lost_lvl, lost_r);
		ivr_check_msg(good >= chunks - 1 - skipped,
			      "%d of %d chunks correlate (%d skipped)", good, chunks, skipped);
		ivr_check_near(lvl, 0.0, 2.0);
		if (!skipped) {
			ivr_check_near(lost_lvl, 0.0, 6.0);
			ivr_check_msg(lost_r > 0.5, "lost frame correlation %.3f", lost_r);
		}
	}
	ivr_audio_free(&a);
	test_engine_end(e, &ph, rpath);
	return IVR_TEST_RESULT();
}

static void run_cases(void)
{
	ivr_test_run(test_opus_prompt);
	ivr_test_run(test_opus_record_and_loss);
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	test_engine_both_paths(&use_epoll, run_cases);
	return ivr_test_summary();
}
