/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_flow.c - calls running the demo bank flow
 * (grammars/bank.yaml) in the real engine, over real RTP on loopback, with
 * the real DSP chain, the ASR service (pocketsphinx) and the event ring.
 *
 * Call A presses 1 in-band during the welcome prompt: the ring must show
 * call_start (flow bank), node_enter main, the dtmf, node_exit main (dtmf)
 * and node_enter balance; then it presses 0 during the balance answer: a
 * transfer whose hand-off record says key0, the path main -> balance ->
 * agent and one zero-out.  Call B says "I want to check my balance" (flite,
 * 8 kHz mu-law, sent as PCMU): speech_start, a recognition with intent
 * balance, and node_enter balance with reason match.  Destroying the calls
 * publishes call_end.  Call C presses 3 (menu -> menu): the VAD takes the
 * tone for speech too, and that utterance must not answer the cards menu
 * (no no_match there).
 * On failure (or with IVR_TEST_VERBOSE) it prints how far its sender ran
 * behind the 20 ms grid and each call's concealed, skipped and late frames:
 * what a loaded machine did to the callers' audio (3 concealed frames split
 * a digit before engine/dspchain.c flagged them) against a fault in the flow.
 * Exit 77 when the pocketsphinx model or flite is missing, or the engine
 * cannot start.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "asr/testset.h"
#include "common/shmring.h"
#include "dsp/tone.h"
#include "dsp/wav.h"
#include "engine/events.h"
#include "engine_test_util.h"
#include "ivr_test.h"

#define FR 160

static bool model_present(void)
{
#if IVR_HAVE_ASR
	return access(IVR_PS_MODELDIR "/en-us/en-us/mdef", R_OK) == 0;
#else
	return false;
#endif
}

/* Events of one call as JSON lines, in ring order. */
struct log {
	char lines[128][2048];
	int n;
};

static void read_ring(struct ivr_shmring_reader *r, const uint64_t *ids, struct log *logs,
		      int n_ids)
{
	static unsigned char buf[1 << 16];
	struct ivr_shmring_rec rec;
	while (ivr_shmring_read(r, &rec, buf, sizeof(buf)) == 1) {
		for (int i = 0; i < n_ids; i++) {
			if (rec.call_id != ids[i] || logs[i].n >= 128)
				continue;
			if (ivr_event_to_json(&rec, buf, logs[i].lines[logs[i].n], 2048) >= 0)
				logs[i].n++;
		}
	}
}

/* Index of the first line at or after @from holding every needle, or -1. */
static int find(const struct log *l, int from, const char *a, const char *b, const char *c)
{
	for (int i = from < 0 ? 0 : from; i < l->n; i++)
		if (strstr(l->lines[i], a) && (!b || strstr(l->lines[i], b)) &&
		    (!c || strstr(l->lines[i], c)))
			return i;
	return -1;
}

static void dump(const char *name, const struct log *l)
{
	printf("  call %s:\n", name);
	for (int i = 0; i < l->n; i++)
		printf("    %s\n", l->lines[i]);
}

IVR_TEST(test_bank_flow_dtmf_speech_transfer)
{
	if (!model_present() || access("/usr/bin/flite", X_OK) != 0) {
		printf("pocketsphinx model or flite missing: skipped\n");
		return IVR_TEST_SKIP;
	}
	/* the caller's speech: flite, telephone quality */
	char dir[256], wav[1024], err[256];
	snprintf(dir, sizeof(dir), "%s/prompt-cache", IVR_BUILD_DIR);
#if IVR_HAVE_ASR
	if (ivr_testset_render("I want to check my balance", "slt", dir, wav, sizeof(wav)) < 0)
		return IVR_TEST_SKIP;
#else
	return IVR_TEST_SKIP; /* unreachable: model_present() is false without ASR */
#endif
	struct ivr_audio said;
	ivr_check(ivr_wav_read(&said, wav, 8000, err, sizeof(err)) == 0);

	/* a port range of its own per run: other engines may be running on this machine */
	uint16_t base = test_port(42000 + (uint32_t)(getpid() % 50) * 400);
	struct ivr_shmring_reader rd;
	struct ivr_engine_cfg cfg = { .port_min = base,
				      .port_max = (uint16_t)(base + 398),
				      .max_calls = 8,
				      .flows_dir = IVR_SOURCE_DIR "/grammars" };
	struct ivr_engine *e = test_engine_ring_cfg("flow", cfg, &rd);
	if (!e) {
		ivr_audio_free(&said);
		return IVR_TEST_SKIP;
	}

	const size_t frames = 400; /* 8 s */
	static struct phone ph[3];
	uint64_t ids[3];
	float *audio[3];
	for (int i = 0; i < 3; i++) {
		ivr_check_int_eq(phone_open(&ph[i]), 0);
		audio[i] = calloc(frames * FR, sizeof(float));
		/* a quiet line: -70 dBFS noise, so the VAD has a floor to learn */
		uint32_t seed = 12345u + (uint32_t)i;
		for (size_t k = 0; k < frames * FR; k++) {
			seed = seed * 1664525u + 1013904223u;
			audio[i][k] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.0006f;
		}
		char remote[64];
		phone_remote(&ph[i], remote, sizeof(remote));
		struct ivr_call_params cp = { .remote = remote,
					      .codec = "PCMU",
					      .pt = -1,
					      .dtmf_pt = -1,
					      .ani = "5551234",
					      .dnis = "800",
					      .flow = "bank",
					      .vars_json = "{\"tier\":\"gold\",\"age\":42}" };
		int r = ivr_call_create(e, &cp, &ids[i], &ph[i].engine_port);
		ivr_check_msg(r == 0, "create_call: %s", ivr_engine_last_error());
		if (r < 0) {
			ivr_engine_free(e);
			return IVR_TEST_FAIL;
		}
	}
	/* A: "1" at 1.0 s (barge-in on the welcome), "0" at 3.0 s (during the answer) */
	struct ivr_tone_dtmf tp = { .level_dbm0 = -8.0f, .twist_db = 2.0f };
	ivr_check(ivr_tone_dtmf_add(audio[0] + 50 * FR, 6 * FR, 8000, '1', &tp) == 0);
	ivr_check(ivr_tone_dtmf_add(audio[0] + 150 * FR, 6 * FR, 8000, '0', &tp) == 0);
	ivr_check(ivr_tone_dtmf_add(audio[2] + 50 * FR, 6 * FR, 8000, '3', &tp) == 0);
	/* B: the utterance at 1.0 s */
	size_t off = 50 * FR;
	for (size_t k = 0; k < said.n_samples && off + k < frames * FR; k++)
		audio[1][off + k] += said.samples[k];

	uint64_t t = now_ns(), send_late_max = 0;
	for (size_t f = 0; f < frames; f++) {
		/* how far behind its 20 ms grid this sender ran (the machine held it up) */
		uint64_t late = now_ns() - t;
		send_late_max = IVR_MAX(send_late_max, late);
		for (int i = 0; i < 3; i++) {
			phone_send(&ph[i], audio[i] + f * FR);
			phone_drain(&ph[i], false);
		}
		t += 20000000ull;
		sleep_until(t);
	}
	/* what the engine did with the callers' audio: concealed (late/lost) or skipped frames */
	struct ivr_call_info info[3];
	for (int i = 0; i < 3; i++)
		ivr_check_int_eq(ivr_call_get_info(e, ids[i], &info[i]), 0);
	/* the engine played the prompts to both phones */
	for (int i = 0; i < 3; i++)
		ivr_check_msg(ph[i].rx_pkts > frames / 2, "phone %d got %llu packets", i,
			      (unsigned long long)ph[i].rx_pkts);
	for (int i = 0; i < 3; i++)
		ivr_check_int_eq(ivr_call_destroy(e, ids[i]), 0);
	sleep_until(now_ns() + 200000000ull);
	static struct log logs[3];
	read_ring(&rd, ids, logs, 3);

	const struct log *a = &logs[0], *b = &logs[1], *cc = &logs[2];
	int s = find(a, 0, "\"call_start\"", "\"flow\":\"bank\"", "\"ani\":\"5551234\"");
	ivr_check(s >= 0);
	ivr_check_msg(s >= 0 && strstr(a->lines[s], "\"tier\":\"gold\"") &&
			      strstr(a->lines[s], "\"age\":\"42\""),
		      "call_start vars: %s", s >= 0 ? a->lines[s] : "-");
	int en = find(a, s, "\"node_enter\"", "\"node\":\"main\"", NULL);
	int d1 = find(a, en, "\"dtmf\"", "\"digit\":\"1\"", NULL);
	int ex = find(a, d1, "\"node_exit\"", "\"node\":\"main\"", "\"reason\":\"dtmf\"");
	int bal = find(a, ex, "\"node_enter\"", "\"node\":\"balance\"", "\"reason\":\"dtmf\"");
	int xf = find(a, bal, "\"transfer\"", "\"reason\":\"key0\"", "\"zero_outs\":1");
	int ce = find(a, xf, "\"call_end\"", "\"cause\":\"transfer\"", NULL);
	ivr_check_msg(en >= 0 && d1 > en && ex > d1 && bal > ex, "A: main -> balance by dtmf");
	ivr_check_msg(xf > bal, "A: key 0 -> transfer");
	ivr_check_msg(ce > xf, "A: call_end after the transfer");
	if (xf >= 0) {
		const char *x = strstr(a->lines[xf], "\"path\":");
		const char *pm = x ? strstr(x, "\"node\":\"main\"") : NULL;
		const char *pb = x ? strstr(x, "\"node\":\"balance\"") : NULL;
		const char *pa = x ? strstr(x, "\"node\":\"agent\"") : NULL;
		ivr_check_msg(pm && pb && pa && pm < pb && pb < pa, "path: %s", x);
		ivr_check(strstr(a->lines[xf], "\"skill\":\"general\"") &&
			  strstr(a->lines[xf], "\"ivr_ms\":") &&
			  strstr(a->lines[xf], "\"transcript\":[\"main: dtmf 1\""));
	}

	int sp = find(b, 0, "\"speech_start\"", NULL, NULL);
	int rec = find(b, sp, "\"recognition\"", "\"intent\":\"balance\"", NULL);
	int mb = find(b, rec, "\"node_enter\"", "\"node\":\"balance\"", "\"reason\":\"match\"");
	ivr_check_msg(sp >= 0 && rec > sp && mb > rec, "B: speech -> balance by intent");
	ivr_check(find(b, 0, "\"call_end\"", NULL, NULL) >= 0);
	int cards = find(cc, 0, "\"node_enter\"", "\"node\":\"cards\"", "\"reason\":\"dtmf\"");
	ivr_check_msg(cards >= 0, "C: main -> cards by dtmf");
	ivr_check_msg(find(cc, cards, "\"no_match\"", NULL, NULL) < 0 &&
			      find(cc, cards, "\"recognition\"", NULL, NULL) < 0,
		      "C: the key's tone answered the cards menu");
	if (ivr_test_failed_ || getenv("IVR_TEST_VERBOSE")) {
		printf("  sender late by up to %.1f ms\n", (double)send_late_max / 1e6);
		for (int i = 0; i < 3; i++)
			printf("  call %c: rx %llu concealed %llu skipped %llu jb_late %llu target "
			       "%u\n",
			       'A' + i, (unsigned long long)info[i].rx_pkts,
			       (unsigned long long)info[i].frames_concealed,
			       (unsigned long long)info[i].frames_skipped,
			       (unsigned long long)info[i].jb_late, info[i].jb_target_frames);
		dump("A (dtmf 1, 0)", a);
		dump("B (speech)", b);
		dump("C (dtmf 3)", cc);
	}
	for (int i = 0; i < 3; i++) {
		phone_close(&ph[i]);
		free(audio[i]);
	}
	ivr_audio_free(&said);
	ivr_shmring_reader_close(&rd);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_bank_flow_dtmf_speech_transfer);
	return ivr_test_summary();
}
