/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_dspchain.c - cost of the per-call DSP chain per 20 ms frame,
 * whole and per stage, and the calls per core it leaves.
 *
 * Signals (8 kHz, mu-law): far = speech-like noise through a moving
 * resonance with pauses (the prompt); near = its echo (10 ms, decaying
 * response, -6 dB) plus a "caller" of the same kind every other second and
 * DTMF digits.  Besides: "silence" = idle-channel noise at -66 dBFS (white,
 * a quiet line), "speech" = the caller talking all the time over that
 * noise.  Stages run alone on the same frames: in-band DTMF, fax tones,
 * AEC (speexdsp + suppressor), VAD, the detectors also on silence and on
 * speech; then the whole chain, once with the prompt playing (canceller
 * on), once with nothing sent to the caller (canceller bypassed), on
 * silence and on speech with nothing sent, and with a 64 ms echo tail
 * instead of 128 ms (line echo behind a bulk delay rarely needs more),
 * with the ASR hand-off into a ring that a consumer empties outside the
 * timed region; and "unheard": prompt playing or caller talking while
 * nothing consumes the VAD (ivr_dspchain_listen off: no canceller, VAD or
 * hand-off).  "load": ivr-load's default caller signal (a voiced 140/280 Hz
 * tone pair, amplitude-modulated at 3 Hz, through mu-law: what every call of
 * bench/bench_engine sends), through the VAD, DTMF and fax detectors alone
 * (vad_load, dtmf_load, faxtone_load) and through the
 * chain listening without a canceller (chain_load: the engine's G.711 calls).
 * Prints: name impl frames ns_per_frame x_realtime(calls/core), and the
 * ratio chain / sum of stages measured in the same run (the chain's own
 * overhead).  Thread CPU time, median of REPEATS interleaved runs.  --smoke: short, checks
 * it works.  --stage NAME runs that stage alone (callgrind, perf).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "dsp/aec.h"
#include "dsp/dtmf.h"
#include "dsp/faxtone.h"
#include "dsp/g711.h"
#include "dsp/tone.h"
#include "dsp/vad.h"
#include "engine/dspchain.h"

#define REPEATS 5
#define FR	160
#define RATE	8000

static void ulaw(float *x, size_t n)
{
	uint8_t b[FR];
	for (size_t off = 0; off + FR <= n; off += FR) {
		ivr_g711_ulaw_encode_f32(b, x + off, FR);
		ivr_g711_ulaw_decode_f32(x + off, b, FR);
	}
}

/* The caller: speech-like (bench_speechlike), talking every other second only. */
static void make_caller(float *x, size_t n)
{
	bench_speechlike(x, n, RATE, 1234567ull, 0.03f);
	for (size_t i = 0; i < n; i++)
		if ((i / RATE) % 2)
			x[i] = 0;
}

static void make_signals(float *far, float *near, size_t n)
{
	bench_speechlike(far, n, RATE, 88172645463325252ull, 0.05f);
	make_caller(near, n);
	bench_add_echo(far, near, n, RATE);
	/* A digit every 3 s. */
	for (size_t at = RATE / 2; at + RATE / 10 < n; at += 3 * RATE)
		if (ivr_tone_dtmf_add(near + at, RATE / 10, RATE, "0123456789"[(at / RATE) % 10],
				      NULL) < 0)
			abort();
	ulaw(far, n);
	ulaw(near, n);
}

/* Idle-channel noise at -66 dBFS rms (white) added to @x. */
static void add_line_noise(float *x, size_t n)
{
	uint64_t s = 0x9E3779B97F4A7C15ull;
	const float amp = 5.0e-4f * 3.4641f; /* uniform of rms 5e-4 */
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		x[i] += amp * (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
	}
}

enum stage {
	S_DTMF,
	S_FAX,
	S_AEC,
	S_VAD,
	S_DTMF_SIL,
	S_FAX_SIL,
	S_VAD_SIL,
	S_DTMF_TALK,
	S_FAX_TALK,
	S_VAD_TALK,
	S_CHAIN_PROMPT,
	S_CHAIN_IDLE,
	S_CHAIN_SIL,
	S_CHAIN_TALK,
	S_CHAIN_TAIL64,
	S_CHAIN_PROMPT_UNHEARD,
	S_CHAIN_SPEECH_UNHEARD,
	S_VAD_LOAD,
	S_CHAIN_LOAD,
	S_DTMF_LOAD,
	S_FAX_LOAD,
	S_N
};
static const char *const stage_name[S_N] = { "dtmf",
					     "faxtone",
					     "aec",
					     "vad",
					     "dtmf_silence",
					     "faxtone_silence",
					     "vad_silence",
					     "dtmf_speech",
					     "faxtone_speech",
					     "vad_speech",
					     "chain_prompt",
					     "chain_idle",
					     "chain_silence",
					     "chain_speech",
					     "chain_prompt_tail64ms",
					     "chain_prompt_unheard",
					     "chain_speech_unheard",
					     "vad_load",
					     "chain_load",
					     "dtmf_load",
					     "faxtone_load" };

static struct ivr_ring *ring;

static double run(enum stage s, const float *near, const float *far, size_t n, float *out)
{
	const size_t frames = n / FR;
	double t0 = 0, t = 0;
	switch (s) {
	case S_DTMF:
	case S_DTMF_SIL:
	case S_DTMF_TALK:
	case S_DTMF_LOAD: {
		struct ivr_dtmf_rx *d = ivr_dtmf_rx_new(NULL);
		struct ivr_dtmf_event ev[4];
		t0 = bench_cpu_ns();
		for (size_t f = 0; f < frames; f++)
			(void)ivr_dtmf_rx_process(d, near + f * FR, FR, ev, 4);
		t = bench_cpu_ns() - t0;
		ivr_dtmf_rx_free(d);
		break;
	}
	case S_FAX:
	case S_FAX_SIL:
	case S_FAX_TALK:
	case S_FAX_LOAD: {
		struct ivr_faxtone *x = ivr_faxtone_new(NULL);
		struct ivr_faxtone_event ev[2];
		t0 = bench_cpu_ns();
		for (size_t f = 0; f < frames; f++)
			(void)ivr_faxtone_process(x, near + f * FR, FR, ev, 2);
		t = bench_cpu_ns() - t0;
		ivr_faxtone_free(x);
		break;
	}
	case S_AEC: {
		struct ivr_aec *a = ivr_aec_new(NULL);
		t0 = bench_cpu_ns();
		for (size_t f = 0; f < frames; f++)
			(void)ivr_aec_process(a, near + f * FR, far + f * FR, out + f * FR, FR);
		t = bench_cpu_ns() - t0;
		ivr_aec_free(a);
		break;
	}
	case S_VAD:
	case S_VAD_SIL:
	case S_VAD_TALK:
	case S_VAD_LOAD: {
		struct ivr_vad *v = ivr_vad_new(NULL);
		t0 = bench_cpu_ns();
		for (size_t f = 0; f < frames; f++)
			(void)ivr_vad_process(v, near + f * FR, FR, NULL);
		t = bench_cpu_ns() - t0;
		ivr_vad_free(v);
		break;
	}
	case S_CHAIN_PROMPT:
	case S_CHAIN_IDLE:
	case S_CHAIN_SIL:
	case S_CHAIN_TALK:
	case S_CHAIN_TAIL64:
	case S_CHAIN_PROMPT_UNHEARD:
	case S_CHAIN_SPEECH_UNHEARD:
	case S_CHAIN_LOAD: {
		struct ivr_dspchain_cfg cfg = { .aec_tail_ms = s == S_CHAIN_TAIL64 ? 64 : 0,
						.no_aec = s == S_CHAIN_LOAD };
		struct ivr_dspchain *ch = ivr_dspchain_new(&cfg);
		struct ivr_dspchain_out o;
		struct ivr_asr_frame rec;
		const bool idle = s == S_CHAIN_IDLE || s == S_CHAIN_SIL || s == S_CHAIN_TALK ||
				  s == S_CHAIN_SPEECH_UNHEARD || s == S_CHAIN_LOAD;
		/* "unheard": nothing consumes the VAD (ivr_dspchain_listen) */
		ivr_dspchain_listen(ch, s != S_CHAIN_PROMPT_UNHEARD && s != S_CHAIN_SPEECH_UNHEARD);
		/* Consume in chunks outside the timed region, like an ASR thread would. */
		for (size_t f0 = 0; f0 < frames; f0 += 256) {
			size_t f1 = f0 + 256 < frames ? f0 + 256 : frames;
			t0 = bench_cpu_ns();
			for (size_t f = f0; f < f1; f++)
				(void)ivr_dspchain_process(ch, near + f * FR,
							   idle || !f ? NULL : far + (f - 1) * FR,
							   FR, 0, ring, &o);
			t += bench_cpu_ns() - t0;
			while (ivr_ring_pop(ring, &rec) == 0)
				;
		}
		ivr_dspchain_free(ch);
		break;
	}
	default:
		break;
	}
	return t / (double)frames;
}

/* tools/ivr-load.c's default caller audio (its "synthetic voiced signal", 4 s looped). */
static void make_load_signal(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const double t = (double)(i % (4 * RATE)) / RATE;
		x[i] = (float)((0.5 + 0.5 * sin(2 * M_PI * 3 * t)) *
			       (0.3 * sin(2 * M_PI * 140 * t) + 0.1 * sin(2 * M_PI * 280 * t)));
	}
	ulaw(x, n);
}

int main(int argc, char **argv)
{
	int smoke = 0, only = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0) {
			smoke = 1;
			continue;
		}
		if (strcmp(argv[i], "--stage") == 0 && i + 1 < argc) {
			for (int s = 0; s < S_N; s++)
				if (strcmp(argv[i + 1], stage_name[s]) == 0)
					only = s;
			if (only >= 0) {
				i++;
				continue;
			}
		}
		fprintf(stderr, "usage: %s [--smoke] [--stage NAME]\n", argv[0]);
		return 2;
	}
	const double seconds = smoke ? 1.0 : 20.0;
	const int repeats = smoke ? 1 : REPEATS;
	const size_t n = (size_t)(seconds * RATE) / FR * FR;
	float *far = malloc(n * sizeof(float)), *near = malloc(n * sizeof(float));
	float *out = malloc(n * sizeof(float));
	size_t rsz = ivr_ring_size(512, sizeof(struct ivr_asr_frame));
	ring = aligned_alloc(64, rsz);
	if (!far || !near || !out || !ring || ivr_ring_init(ring, rsz, 512, 512) < 0)
		return 1;
	make_signals(far, near, n);
	/* Caller-only input for the idle case: no echo, same caller and digits. */
	float *near_idle = malloc(n * sizeof(float));
	make_caller(near_idle, n);
	ulaw(near_idle, n);
	float *near_sil = calloc(n, sizeof(float)), *near_talk = malloc(n * sizeof(float));
	float *near_load = malloc(n * sizeof(float));
	if (!near_idle || !near_sil || !near_talk || !near_load)
		return 1;
	make_load_signal(near_load, n);
	add_line_noise(near_sil, n);
	ulaw(near_sil, n);
	bench_speechlike(near_talk, n, RATE, 1234567ull, 0.03f);
	add_line_noise(near_talk, n);
	ulaw(near_talk, n);
	const float *input[S_N];
	for (int s = 0; s < S_N; s++)
		input[s] = near;
	input[S_CHAIN_IDLE] = near_idle;
	input[S_DTMF_SIL] = input[S_FAX_SIL] = input[S_VAD_SIL] = input[S_CHAIN_SIL] = near_sil;
	input[S_DTMF_TALK] = input[S_FAX_TALK] = input[S_VAD_TALK] = input[S_CHAIN_TALK] =
		input[S_CHAIN_SPEECH_UNHEARD] = near_talk;
	input[S_VAD_LOAD] = input[S_CHAIN_LOAD] = input[S_DTMF_LOAD] = input[S_FAX_LOAD] =
		near_load;

	if (only >= 0) {
		double t1[REPEATS];
		for (int k = 0; k < repeats; k++)
			t1[k] = run((enum stage)only, input[only], far, n, out);
		const double m = bench_median(t1, repeats);
		bench_row("dspchain_8k", stage_name[only], n / FR, m, 0, RATE / FR);
		return m > 0 ? 0 : 1;
	}

	double t[S_N][REPEATS];
	for (int k = 0; k < repeats; k++)
		for (int s = 0; s < S_N; s++)
			t[s][k] = run((enum stage)s, input[s], far, n, out);
	printf("# name impl frames ns_per_frame x_realtime(calls/core)%s\n",
	       smoke ? " [smoke]" : "");
	double med[S_N];
	int ok = 1;
	for (int s = 0; s < S_N; s++) {
		med[s] = bench_median(t[s], repeats);
		bench_row("dspchain_8k", stage_name[s], n / FR, med[s], 0, RATE / FR);
		if (!(med[s] > 0))
			ok = 0;
	}
	const double sum = med[S_DTMF] + med[S_FAX] + med[S_AEC] + med[S_VAD];
	bench_row("dspchain_8k", "sum_of_stages", n / FR, sum, 0, RATE / FR);
	printf("dspchain_8k ratio chain_prompt/sum_of_stages %.3f\n", med[S_CHAIN_PROMPT] / sum);
	printf("dspchain_8k ratio chain_idle/chain_prompt %.3f\n",
	       med[S_CHAIN_IDLE] / med[S_CHAIN_PROMPT]);
	printf("dspchain_8k asr_ring_drops %llu\n", (unsigned long long)ivr_ring_drops(ring));
	free(far);
	free(near);
	free(near_idle);
	free(near_sil);
	free(near_talk);
	free(near_load);
	free(out);
	free(ring);
	return ok ? 0 : 1;
}
