/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_recognizer.c - the pocketsphinx recogniser and its pool on
 * speech synthesised in the test (flite, 8 kHz mu-law), silence and noise;
 * missing dictionary words and broken grammars reported, not crashed on.
 * Skips (77) without the en-us model or flite.
 */
#include "config.h"

#if !IVR_HAVE_ASR
#include <stdio.h>
int main(void)
{
	puts("built without speech recognition (-Dasr=disabled): skipped");
	return 77;
}
#else

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asr/recognizer.h"
#include "asr/testset.h"
#include "dsp/wav.h"
#include "ivr_asr_test.h"
#include "ivr_test.h"

static struct ivr_flow *bank;
static struct ivr_recognizer *rec;
static char cache[1024];

static int speech(const char *text, struct ivr_audio *a)
{
	char wav[2048], err[256];
	if (ivr_testset_render(text, "slt", cache, wav, sizeof(wav)) < 0)
		return -1;
	return ivr_wav_read(a, wav, 0, err, sizeof(err));
}

static int main_grammar(void)
{
	return ivr_recognizer_grammar(rec, bank, (size_t)ivr_flow_find_node(bank, "main"));
}

IVR_TEST(phrase_to_intent)
{
	struct ivr_audio a;
	if (speech("i lost my card", &a) < 0)
		return IVR_TEST_SKIP;
	ivr_check_int_eq(a.rate_hz, 8000);
	struct ivr_asr_cmn cmn = { 0 };
	struct ivr_asr_result r;
	ivr_check_int_eq(
		ivr_recognizer_decode(rec, main_grammar(), a.samples, a.n_samples, 8000, &cmn, &r),
		0);
	ivr_check_msg(r.intent_name && !strcmp(r.intent_name, "cards"), "text \"%s\" intent %d",
		      r.text, r.intent);
	ivr_check(strstr(r.text, "lost my card") != NULL);
	ivr_check(r.confidence >= 0.5f && r.confidence <= 1.0f);
	ivr_check(r.acoustic_confidence > 0.5f);
	ivr_check(r.n_nbest >= 1 && !strcmp(r.nbest[0].text, r.text));
	ivr_check_near(r.speech_ms, a.n_samples / 8, 25);
	ivr_check(cmn.valid);
	ivr_audio_free(&a);
	return IVR_TEST_RESULT();
}

IVR_TEST(silence_and_noise_are_no_match)
{
	size_t n = 8000 * 2;
	float *x = calloc(n, sizeof(float));
	struct ivr_asr_result r;
	ivr_check_int_eq(ivr_recognizer_decode(rec, main_grammar(), x, n, 8000, NULL, &r), 0);
	ivr_check_int_eq(r.intent, -1);
	srand(7);
	for (size_t i = 0; i < n; i++)
		x[i] = 0.3f * ((float)((double)rand() / RAND_MAX) - 0.5f);
	ivr_check_int_eq(ivr_recognizer_decode(rec, main_grammar(), x, n, 8000, NULL, &r), 0);
	ivr_check_msg(r.intent == -1, "noise -> \"%s\" %.2f", r.text, r.confidence);
	/* empty input */
	ivr_check_int_eq(ivr_recognizer_decode(rec, main_grammar(), x, 0, 8000, NULL, &r), 0);
	ivr_check_int_eq(r.intent, -1);
	free(x);
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_arguments_and_grammars)
{
	float x[160] = { 0 };
	struct ivr_asr_result r;
	ivr_check_int_eq(ivr_recognizer_decode(rec, -1, x, 160, 8000, NULL, &r), -EINVAL);
	ivr_check_int_eq(ivr_recognizer_decode(rec, 999, x, 160, 8000, NULL, &r), -EINVAL);
	ivr_check_int_eq(ivr_recognizer_decode(rec, main_grammar(), x, 160, 44100, NULL, &r),
			 -EINVAL);
	char err[512] = "";
	ivr_check(ivr_recognizer_add_jsgf(rec, "bad", "#JSGF V1.0;\ngrammar x;\npublic <a> = ((;",
					  err, sizeof(err)) < 0);
	ivr_check(strstr(err, "does not compile") != NULL);
	ivr_check_int_eq(ivr_recognizer_grammar(rec, bank, (size_t)bank->agent_node), -ENOENT);

	/* a phrase word pocketsphinx cannot pronounce is named */
	const char *y = "flow: x\nstart: m\nnodes:\n  m:\n    prompt_text: t\n"
			"    intents: {a: [\"frobnicate the zyxwvut\"]}\n";
	struct ivr_flow *f;
	ivr_check_int_eq(ivr_flow_parse(&f, y, strlen(y), NULL, err, sizeof(err)), 0);
	const struct ivr_flow *fl[1] = { f };
	struct ivr_recognizer *r2 = ivr_recognizer_new(fl, 1, NULL, err, sizeof(err));
	ivr_check(r2 == NULL && errno == EINVAL);
	ivr_check_msg(strstr(err, "zyxwvut") && strstr(err, "frobnicate"), "%s", err);
	ivr_recognizer_free(r2);
	ivr_flow_free(f);
	/* a missing model is ENOENT (the integration tests' skip signal) */
	struct ivr_recognizer_cfg cfg = { .hmm_dir = "/nonexistent" };
	ivr_check(ivr_recognizer_new(NULL, 0, &cfg, err, sizeof(err)) == NULL && errno == ENOENT);
	ivr_recognizer_free(NULL);
	return IVR_TEST_RESULT();
}

/* @a is a word prefix of @b ("i lost" of "i lost my card"). */
static bool word_prefix(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n && !strncmp(a, b, n) && (b[n] == 0 || b[n] == ' ');
}

IVR_TEST(streaming_equals_whole_utterance)
{
	const char *texts[] = { "i lost my card", "i want to make a payment please",
				"speak to an agent", "what is the weather like on mars" };
	struct ivr_asr_cmn cmn_w = { 0 }, cmn_s = { 0 };
	int n_partial_before = 0, n_prefix = 0, n_long = 0;
	/*
	 * Two fresh decoders with the same history: pocketsphinx carries a little
	 * state from one utterance to the next (the same audio decoded twice on
	 * one decoder ends with a slightly different CMN estimate).
	 */
	const struct ivr_flow *fl[1] = { bank };
	char err[512];
	struct ivr_recognizer *rw = ivr_recognizer_new(fl, 1, NULL, err, sizeof(err));
	struct ivr_recognizer *rs = ivr_recognizer_new(fl, 1, NULL, err, sizeof(err));
	ivr_check_msg(rw && rs, "%s", err);
	if (!rw || !rs)
		return IVR_TEST_RESULT();
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct ivr_audio a;
		if (speech(texts[t], &a) < 0)
			return IVR_TEST_SKIP;
		struct ivr_asr_result whole, str;
		ivr_check_int_eq(ivr_recognizer_decode(rw, main_grammar(), a.samples, a.n_samples,
						       8000, &cmn_w, &whole),
				 0);
		/* 20 ms frames as the media thread hands them over; a partial every 300 ms */
		ivr_check_int_eq(ivr_recognizer_stream_begin(rs, main_grammar(), 8000, &cmn_s), 0);
		char part[IVR_ASR_TEXT_MAX] = "", last[IVR_ASR_TEXT_MAX] = "";
		int n_part = 0;
		for (size_t off = 0; off < a.n_samples; off += 160) {
			size_t len = IVR_MIN((size_t)160, a.n_samples - off);
			ivr_check_int_eq(ivr_recognizer_stream_feed(rs, a.samples + off, len),
					 (int)len);
			if (off % 2400 == 0 &&
			    ivr_recognizer_stream_partial(rs, part, sizeof(part)) > 0) {
				n_part++;
				memcpy(last, part, sizeof(last));
			}
		}
		ivr_check_int_eq(ivr_recognizer_stream_end(rs, &cmn_s, &str), 0);
		ivr_check_msg(!strcmp(whole.text, str.text), "whole \"%s\" streamed \"%s\"",
			      whole.text, str.text);
		ivr_check_int_eq(str.intent, whole.intent);
		ivr_check_near(str.confidence, whole.confidence, 1e-4);
		ivr_check_near(str.acoustic_confidence, whole.acoustic_confidence, 1e-4);
		for (int i = 0; i < IVR_ASR_CMN_DIM; i++)
			ivr_check_near(cmn_s.mean[i], cmn_w.mean[i], 1e-3);
		ivr_check(str.tail_us <= str.decode_us);
		if (a.n_samples > 8000 && str.text[0]) {
			/* partials come while the caller speaks and lead to the final words */
			n_long++;
			n_partial_before += n_part > 0;
			char first[64];
			sscanf(str.text, "%63s", first);
			n_prefix += word_prefix(first, last);
			printf("# \"%s\": %d partials, last \"%s\", final \"%s\"\n", texts[t],
			       n_part, last, str.text);
		}
		ivr_audio_free(&a);
	}
	ivr_check(n_long >= 3);
	ivr_check_int_eq(n_partial_before, n_long);
	ivr_check_int_eq(n_prefix, n_long);
	ivr_recognizer_free(rw);
	ivr_recognizer_free(rs);
	/* bad use: feed/end without begin, partial with no room */
	struct ivr_asr_result r;
	float x[160] = { 0 };
	char buf[8];
	ivr_check_int_eq(ivr_recognizer_stream_feed(rec, x, 160), -EINVAL);
	ivr_check_int_eq(ivr_recognizer_stream_end(rec, NULL, &r), -EINVAL);
	ivr_check_int_eq(ivr_recognizer_stream_partial(rec, buf, sizeof(buf)), -EINVAL);
	ivr_check_int_eq(ivr_recognizer_stream_begin(rec, 999, 8000, NULL), -EINVAL);
	ivr_check_int_eq(ivr_recognizer_stream_begin(rec, main_grammar(), 11025, NULL), -EINVAL);
	ivr_check_int_eq(ivr_recognizer_stream_begin(rec, main_grammar(), 8000, NULL), 0);
	ivr_check_int_eq(ivr_recognizer_stream_partial(rec, buf, 0), -EINVAL);
	ivr_recognizer_stream_abort(rec);
	ivr_recognizer_stream_abort(rec);
	ivr_check_int_eq(ivr_recognizer_stream_end(rec, NULL, &r), -EINVAL);
	return IVR_TEST_RESULT();
}

/*
 * The phone-loop verification streamed on a second decoder while the caller
 * speaks (verify_stream) decides as the pass after the end of speech does:
 * same utterances verified, same accept/reject, nearly the same score gap
 * (each decoder carries a little state between utterances: the live CMN
 * estimate's history differs between the grammar decoder and the verifier).
 * verify_always: with LM_LW 8.5 most of these texts score above the skip score
 * in this test's warm-CMN sequence, and the comparison needs the phone loop.
 */
IVR_TEST(streamed_verification_equals_after_end)
{
	const char *texts[] = { "how much money is in my account",
				"operator please",
				"representative",
				"what is the weather like tomorrow",
				"i would like to order a large pizza",
				"my credit card was stolen" };
	const bool ood[] = { false, false, false, true, true, false };
	const struct ivr_flow *fl[1] = { bank };
	char err[512];
	struct ivr_recognizer_cfg ca = { .verify_always = true };
	struct ivr_recognizer_cfg cs = { .verify_always = true, .verify_stream = true };
	struct ivr_recognizer *ra = ivr_recognizer_new(fl, 1, &ca, err, sizeof(err));
	struct ivr_recognizer *rs = ivr_recognizer_new(fl, 1, &cs, err, sizeof(err));
	ivr_check_msg(ra && rs, "%s", err);
	if (!ra || !rs) {
		ivr_recognizer_free(ra);
		ivr_recognizer_free(rs);
		return IVR_TEST_RESULT();
	}
	struct ivr_asr_cmn cmn_a = { 0 }, cmn_s = { 0 };
	int n_verified = 0, n_ood_rejected = 0;
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct ivr_audio a;
		if (speech(texts[t], &a) < 0) {
			ivr_recognizer_free(ra);
			ivr_recognizer_free(rs);
			return IVR_TEST_SKIP;
		}
		struct ivr_asr_result res[2];
		struct ivr_recognizer *rr[2] = { ra, rs };
		struct ivr_asr_cmn *cc[2] = { &cmn_a, &cmn_s };
		for (int k = 0; k < 2; k++) {
			/* 20 ms frames as the pool hands them over */
			ivr_check_int_eq(
				ivr_recognizer_stream_begin(rr[k], main_grammar(), 8000, cc[k]), 0);
			for (size_t off = 0; off < a.n_samples; off += 160) {
				size_t len = IVR_MIN((size_t)160, a.n_samples - off);
				ivr_check_int_eq(
					ivr_recognizer_stream_feed(rr[k], a.samples + off, len),
					(int)len);
			}
			ivr_check_int_eq(ivr_recognizer_stream_end(rr[k], cc[k], &res[k]), 0);
		}
		printf("# \"%s\": \"%s\" score %.1f verified %d/%d gap %.2f/%.2f intent %d/%d\n",
		       texts[t], res[0].text, res[0].grammar_score, res[0].verified,
		       res[1].verified, res[0].score_gap, res[1].score_gap, res[0].intent,
		       res[1].intent);
		ivr_check(!strcmp(res[0].text, res[1].text));
		ivr_check_int_eq(res[1].verified, res[0].verified);
		ivr_check_int_eq(res[1].intent, res[0].intent);
		/* measured: up to 0.54 apart before the general words, 1.07 with them
		 * (gap units; the LM verification: centre 24, scale 2) */
		ivr_check_near(res[1].score_gap, res[0].score_gap, 1.5);
		ivr_check_near(res[1].acoustic_confidence, res[0].acoustic_confidence, 0.1);
		n_verified += res[0].verified;
		n_ood_rejected += ood[t] && res[0].verified && res[0].intent < 0;
		ivr_audio_free(&a);
	}
	/* the comparison means something: the phone loop ran and rejected */
	ivr_check_msg(n_verified >= 3, "%d verified", n_verified);
	ivr_check_msg(n_ood_rejected >= 1, "%d out-of-domain rejected by verification",
		      n_ood_rejected);
	/* an utterance dropped mid-way leaves the verifier ready for the next */
	struct ivr_asr_result r;
	ivr_check_int_eq(ivr_recognizer_stream_begin(rs, main_grammar(), 8000, NULL), 0);
	float x[1600];
	srand(3);
	for (size_t i = 0; i < 1600; i++)
		x[i] = 0.2f * ((float)((double)rand() / RAND_MAX) - 0.5f);
	for (int i = 0; i < 10; i++)
		ivr_check_int_eq(ivr_recognizer_stream_feed(rs, x, 1600), 1600);
	ivr_recognizer_stream_abort(rs);
	ivr_check_int_eq(ivr_recognizer_decode(rs, main_grammar(), x, 1600, 8000, NULL, &r), 0);
	ivr_recognizer_free(ra);
	ivr_recognizer_free(rs);
	return IVR_TEST_RESULT();
}

/* The pool; with @vstream its decoders verify while the callers speak. */
static int pool_sessions_mode(bool vstream)
{
	struct ivr_audio a[2];
	if (speech("make a payment", &a[0]) < 0 || speech("speak to an agent", &a[1]) < 0)
		return IVR_TEST_SKIP;
	const struct ivr_flow *fl[1] = { bank };
	struct ivr_asr_pool_cfg cfg = { .rec.verify_stream = vstream,
					.n_decoders = 2,
					.n_sessions = 3,
					.max_speech_ms = 4000 };
	char err[512];
	struct ivr_asr_pool *p = ivr_asr_pool_new(fl, 1, &cfg, err, sizeof(err));
	ivr_check_msg(p != NULL, "%s", err);
	if (!p)
		return IVR_TEST_FAIL;
	int g = ivr_asr_pool_grammar(p, bank, (size_t)ivr_flow_find_node(bank, "main"));
	ivr_check(g >= 0);
	int s[3];
	for (int i = 0; i < 3; i++)
		ivr_check((s[i] = ivr_asr_session_open(p)) >= 0);
	ivr_check_int_eq(ivr_asr_session_open(p), -ENOSPC);
	ivr_check_int_eq(ivr_asr_session_begin(p, 99, g), -EINVAL);
	/* sessions 0 and 1 speak at once, 20 ms frames as the media thread would */
	for (int i = 0; i < 2; i++)
		ivr_check_int_eq(ivr_asr_session_begin(p, s[i], g), 0);
	size_t longest = a[0].n_samples > a[1].n_samples ? a[0].n_samples : a[1].n_samples;
	for (size_t off = 0; off < longest; off += 160)
		for (int i = 0; i < 2; i++)
			if (off < a[i].n_samples)
				ivr_asr_session_feed(p, s[i], a[i].samples + off,
						     IVR_MIN((size_t)160, a[i].n_samples - off));
	for (int i = 0; i < 2; i++)
		ivr_check_int_eq(ivr_asr_session_end(p, s[i]), 0);
	ivr_check_int_eq(ivr_asr_session_begin(p, s[0], g), -EBUSY);
	struct ivr_asr_result r[2];
	int got[2] = { 0, 0 };
	for (int spin = 0; spin < 3000 && !(got[0] && got[1]); spin++) {
		for (int i = 0; i < 2; i++)
			if (!got[i])
				got[i] = ivr_asr_session_poll(p, s[i], &r[i]);
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	ivr_check(got[0] == 1 && got[1] == 1);
	ivr_check_msg(got[0] && r[0].intent_name && !strcmp(r[0].intent_name, "payments"), "%s",
		      r[0].text);
	ivr_check_msg(got[1] && r[1].intent_name && !strcmp(r[1].intent_name, "agent"), "%s",
		      r[1].text);
	/* the session is idle again; the third one never spoke */
	ivr_check_int_eq(ivr_asr_session_poll(p, s[0], &r[0]), 0);
	ivr_check_int_eq(ivr_asr_session_begin(p, s[0], g), 0);
	ivr_check_int_eq(ivr_asr_session_feed(p, s[2], a[0].samples, 160), 0);
	/* closing a session mid-utterance is fine */
	for (int i = 0; i < 3; i++)
		ivr_asr_session_close(p, s[i]);
	ivr_check((s[0] = ivr_asr_session_open(p)) >= 0);
	ivr_asr_pool_free(p);
	ivr_audio_free(&a[0]);
	ivr_audio_free(&a[1]);
	return IVR_TEST_RESULT();
}

IVR_TEST(pool_sessions)
{
	int rc = pool_sessions_mode(false);
	return rc == IVR_TEST_SKIP ? rc : pool_sessions_mode(true);
}

/*
 * More callers speaking than decoders (1 thread x 1 decoder, 3 callers at
 * once, fed at about real time): every one gets its result, partials arrive
 * while the first caller speaks and come before its final result.
 */
IVR_TEST(pool_partials_before_final)
{
	const char *texts[3] = { "i want to make a payment please", "i lost my card",
				 "speak to an agent" };
	const char *want[3] = { "payments", "cards", "agent" };
	struct ivr_audio a[3];
	for (int i = 0; i < 3; i++)
		if (speech(texts[i], &a[i]) < 0)
			return IVR_TEST_SKIP;
	const struct ivr_flow *fl[1] = { bank };
	char err[512];
	struct ivr_asr_pool_cfg cfg = { .n_decoders = 1,
					.streams_per_thread = 1,
					.n_sessions = 3,
					.max_speech_ms = 5000,
					.partial_ms = 200 };
	struct ivr_asr_pool *p = ivr_asr_pool_new(fl, 1, &cfg, err, sizeof(err));
	ivr_check_msg(p != NULL, "%s", err);
	if (!p)
		return IVR_TEST_RESULT();
	int g = ivr_asr_pool_grammar(p, bank, (size_t)ivr_flow_find_node(bank, "main"));
	int s[3];
	for (int i = 0; i < 3; i++) {
		ivr_check((s[i] = ivr_asr_session_open(p)) >= 0);
		ivr_check_int_eq(ivr_asr_session_begin(p, s[i], g), 0);
	}
	int n_partial = 0, got[3] = { 0 };
	char part[IVR_ASR_TEXT_MAX];
	struct ivr_asr_result r[3];
	for (size_t off = 0; off < a[0].n_samples; off += 160) {
		for (int i = 0; i < 3; i++) {
			if (off < a[i].n_samples)
				ivr_asr_session_feed(p, s[i], a[i].samples + off,
						     IVR_MIN((size_t)160, a[i].n_samples - off));
			else if (off < a[i].n_samples + 160)
				ivr_check_int_eq(ivr_asr_session_end(p, s[i]), 0);
		}
		if (ivr_asr_session_partial(p, s[0], part, sizeof(part)) == 1) {
			ivr_check(!got[0]);
			n_partial++;
		}
		/* 20 ms of audio per 4 ms: 5x real time keeps the test short */
		struct timespec ts = { 0, 4000000 };
		nanosleep(&ts, NULL);
	}
	ivr_check_int_eq(ivr_asr_session_end(p, s[0]), 0);
	ivr_check_msg(n_partial >= 1, "%d partials", n_partial);
	for (int spin = 0; spin < 3000 && !(got[0] && got[1] && got[2]); spin++) {
		for (int i = 0; i < 3; i++)
			if (!got[i])
				got[i] = ivr_asr_session_poll(p, s[i], &r[i]);
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < 3; i++) {
		ivr_check(got[i] == 1);
		ivr_check_msg(got[i] && r[i].intent_name && !strcmp(r[i].intent_name, want[i]),
			      "%s -> \"%s\"", texts[i], r[i].text);
	}
	/* no partial after the result was collected */
	ivr_check_int_eq(ivr_asr_session_partial(p, s[0], part, sizeof(part)), 0);
	ivr_check_int_eq(ivr_asr_session_partial(p, 99, part, sizeof(part)), -EINVAL);
	for (int i = 0; i < 3; i++) {
		ivr_asr_session_close(p, s[i]);
		ivr_audio_free(&a[i]);
	}
	ivr_asr_pool_free(p);
	return IVR_TEST_RESULT();
}

/*
 * Two callers end in the same tick on one thread: the one whose result needs
 * no phone-loop verification gets it first (the other's verification runs in
 * slices after it, shortest first), and the sliced verification decides as
 * ivr_recognizer_decode() does.  A session closed while its verification is
 * pending frees its decoder for the next utterance.
 */
IVR_TEST(pool_verification_after_quick_results)
{
	/* a long in-domain request, verified (verify_always: whatever its score), and
	 * off-topic speech that maps to no intent (never verified) */
	const char *texts[2] = { "i would like to know my balance please",
				 "how tall is the eiffel tower" };
	enum { N = 2 };
	struct ivr_audio a[N];
	struct ivr_asr_result one[N];
	const struct ivr_flow *fl[1] = { bank };
	char err[512];
	struct ivr_recognizer_cfg va = { .verify_always = true };
	struct ivr_recognizer *rv = ivr_recognizer_new(fl, 1, &va, err, sizeof(err));
	ivr_check_msg(rv != NULL, "%s", err);
	if (!rv)
		return IVR_TEST_RESULT();
	for (int i = 0; i < N; i++) {
		if (speech(texts[i], &a[i]) < 0) {
			ivr_recognizer_free(rv);
			return IVR_TEST_SKIP;
		}
		struct ivr_asr_cmn cmn = { 0 };
		ivr_check_int_eq(ivr_recognizer_decode(rv, main_grammar(), a[i].samples,
						       a[i].n_samples, 8000, &cmn, &one[i]),
				 0);
	}
	ivr_recognizer_free(rv);
	int ver = 0, quick = 1;
	ivr_check_msg(one[ver].verified && one[ver].intent >= 0, "\"%s\" score %.1f", one[ver].text,
		      one[ver].grammar_score);
	ivr_check_msg(!one[quick].verified && one[quick].intent < 0, "\"%s\"", one[quick].text);
	struct ivr_asr_pool_cfg cfg = { .rec = va,
					.n_decoders = 1,
					.streams_per_thread = 2,
					.n_sessions = 2,
					.max_speech_ms = 5000 };
	struct ivr_asr_pool *p = ivr_asr_pool_new(fl, 1, &cfg, err, sizeof(err));
	ivr_check_msg(p != NULL, "%s", err);
	if (!p)
		return IVR_TEST_RESULT();
	int g = ivr_asr_pool_grammar(p, bank, (size_t)ivr_flow_find_node(bank, "main"));
	int s[2], pick[2] = { ver, quick };
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 2; i++) {
			/* a fresh session: cold CMN, as the single decodes above */
			ivr_check((s[i] = ivr_asr_session_open(p)) >= 0);
			ivr_check_int_eq(ivr_asr_session_begin(p, s[i], g), 0);
			ivr_asr_session_feed(p, s[i], a[pick[i]].samples, a[pick[i]].n_samples);
		}
		for (int i = 0; i < 2; i++)
			ivr_check_int_eq(ivr_asr_session_end(p, s[i]), 0);
		if (round == 1)
			/* closed while verifying (or before): no result, no crash */
			ivr_asr_session_close(p, s[0]);
		struct ivr_asr_result r[2];
		int got[2] = { 0, 0 }, order = 0, when[2] = { 0, 0 };
		for (int spin = 0; spin < 5000 && !(got[1] && (round || got[0])); spin++) {
			for (int i = round; i < 2; i++)
				if (!got[i] && (got[i] = ivr_asr_session_poll(p, s[i], &r[i])))
					when[i] = ++order;
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
		ivr_check(got[1] == 1 && (round || got[0] == 1));
		ivr_check_msg(round || when[1] < when[0], "unverified result %d, verified %d",
			      when[1], when[0]);
		for (int i = round; i < 2; i++) {
			/* pocketsphinx keeps a little state across a decoder's utterances, so
			 * the words may differ slightly from the single decode's */
			const struct ivr_asr_result *x = &one[pick[i]];
			ivr_check_msg(r[i].intent == x->intent, "\"%s\" vs \"%s\"", r[i].text,
				      x->text);
			ivr_check_int_eq(r[i].verified, x->verified);
			ivr_check_near(r[i].acoustic_confidence, x->acoustic_confidence, 0.1);
			ivr_check(r[i].tail_us > 0 && r[i].decode_us > 0);
		}
		for (int i = round; i < 2; i++)
			ivr_asr_session_close(p, s[i]);
	}
	/* the decoder of the session closed while verifying serves a new utterance */
	ivr_check((s[0] = ivr_asr_session_open(p)) >= 0);
	ivr_check_int_eq(ivr_asr_session_begin(p, s[0], g), 0);
	ivr_asr_session_feed(p, s[0], a[quick].samples, a[quick].n_samples);
	ivr_check_int_eq(ivr_asr_session_end(p, s[0]), 0);
	struct ivr_asr_result r0;
	int got0 = 0;
	for (int spin = 0; spin < 5000 && !got0; spin++) {
		got0 = ivr_asr_session_poll(p, s[0], &r0);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	ivr_check(got0 == 1 && r0.intent == one[quick].intent);
	ivr_asr_session_close(p, s[0]);
	ivr_asr_pool_free(p);
	for (int i = 0; i < N; i++)
		ivr_audio_free(&a[i]);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	int exit_code;
	rec = ivr_asr_test_bank(&bank, cache, sizeof(cache), &exit_code);
	if (!rec)
		return exit_code;
	ivr_test_run(phrase_to_intent);
	ivr_test_run(silence_and_noise_are_no_match);
	ivr_test_run(bad_arguments_and_grammars);
	ivr_test_run(streaming_equals_whole_utterance);
	ivr_test_run(streamed_verification_equals_after_end);
	ivr_test_run(pool_sessions);
	ivr_test_run(pool_partials_before_final);
	ivr_test_run(pool_verification_after_quick_results);
	ivr_recognizer_free(rec);
	ivr_flow_free(bank);
	return ivr_test_summary();
}
#endif /* IVR_HAVE_ASR */
