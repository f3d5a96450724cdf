/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_flowsvc.c - the flow service: loading flows by name from a
 * folder, errors for bad names and files, hot reload with refcounted
 * versions (live calls keep theirs, retired versions freed after the last
 * release), prompts rendered with flite into a cache and loaded into the
 * prompt cache, and the ASR threads: utterances pushed as dspchain speech
 * records come back as results on the worker's result ring (real
 * pocketsphinx decode of flite speech run through G.711 mu-law, skipped when
 * the model or flite is missing), stale calls dropped, aborted utterances
 * flagged, and a full result ring counted and reported as a lost turn.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "asr/intent.h"
#include "asr/testset.h"
#include "common/ring.h"
#include "dsp/g711.h"
#include "dsp/wav.h"
#include "engine/dspchain.h"
#include "engine/flowsvc.h"
#include "engine/prompt.h"
#include "ivr_test.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	if (tmpdir[0])
		return;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_flowsvc.XXXXXX");
	if (!mkdtemp(tmpdir))
		tmpdir[0] = 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static const char *const flow_v1 = "flow: small\n"
				   "start: menu\n"
				   "agent: agent\n"
				   "nodes:\n"
				   "  menu:\n"
				   "    prompt_text: Version one.\n"
				   "    dtmf: {\"1\": info, \"0\": agent}\n"
				   "    intents:\n"
				   "      info: [\"information\"]\n"
				   "    next: {info: info}\n"
				   "  info:\n"
				   "    type: answer\n"
				   "    prompt_text: Here it is.\n"
				   "  agent:\n"
				   "    type: transfer\n"
				   "    skill: general\n"
				   "    prompt_text: Hold on.\n";

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool model_present(void)
{
#if IVR_HAVE_ASR
	char p[512];
	snprintf(p, sizeof(p), "%s/en-us/en-us/mdef", IVR_PS_MODELDIR);
	return access(p, R_OK) == 0;
#else
	return false;
#endif
}

static bool flite_present(void)
{
	return access("/usr/bin/flite", X_OK) == 0 || access("/usr/local/bin/flite", X_OK) == 0;
}

IVR_TEST(test_load_by_name_and_errors)
{
	char err[512];
	struct ivr_flowsvc *svc = ivr_flowsvc_new(
		&(struct ivr_flowsvc_cfg){ .no_asr = true, .no_tts = true }, err, sizeof(err));
	ivr_check(svc != NULL);
	if (!svc)
		return IVR_TEST_FAIL;
	struct ivr_flowsvc_flow *a, *b;
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "bank", &a, err, sizeof(err)), 0);
	ivr_check(a && !strcmp(ivr_flowsvc_flow_model(a)->name, "bank"));
	ivr_check_int_eq(ivr_flowsvc_flow_version(a), 1);
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "bank", &b, err, sizeof(err)), 0);
	ivr_check(a == b);
	ivr_check_int_eq(ivr_flowsvc_flow_refs(a), 3); /* service + two calls */
	ivr_flowsvc_release(a);
	ivr_flowsvc_release(b);
	ivr_check_int_eq(ivr_flowsvc_flow_refs(a), 1);
	/* no TTS, no cache: no prompt paths for text prompts */
	ivr_check(ivr_flowsvc_flow_prompt(a, 0, IVR_FLOWRT_PROMPT_MAIN) == NULL);
	ivr_check(ivr_flowsvc_flow_prompt(a, -1, 0) == NULL);
	ivr_check(ivr_flowsvc_flow_prompt(a, 0, 99) == NULL);

	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "../etc/passwd", &b, err, sizeof(err)), -EINVAL);
	ivr_check(b == NULL && strstr(err, "invalid flow name"));
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "", &b, err, sizeof(err)), -EINVAL);
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, NULL, &b, err, sizeof(err)), -EINVAL);
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "no_such_flow", &b, err, sizeof(err)), -ENOENT);
	ivr_check(strstr(err, "no_such_flow.yaml") != NULL);
	ivr_flowsvc_free(svc);

	/* a malformed file: FILE:LINE:COL reason, and nothing loaded */
	make_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/broken.yaml", tmpdir);
	ivr_check(write_file(path, "flow: broken\nstart: x\nnodes: [1, 2\n") == 0);
	svc = ivr_flowsvc_new(
		&(struct ivr_flowsvc_cfg){ .dir = tmpdir, .no_asr = true, .no_tts = true }, err,
		sizeof(err));
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "broken", &b, err, sizeof(err)), -EBADMSG);
	ivr_check_msg(strstr(err, "broken.yaml:") != NULL, "%s", err);
	struct ivr_flowsvc_stats st;
	ivr_flowsvc_get_stats(svc, &st);
	ivr_check_int_eq(st.versions_live, 0);
	ivr_flowsvc_free(svc);
	unlink(path);

	/* bad configuration */
	ivr_check(ivr_flowsvc_new(&(struct ivr_flowsvc_cfg){ .result_ring_records = 3 }, err,
				  sizeof(err)) == NULL);
	ivr_check(errno == EINVAL);
	return IVR_TEST_PASS;
}

IVR_TEST(test_hot_reload_keeps_live_calls)
{
	char err[512], path[512];
	make_tmpdir();
	snprintf(path, sizeof(path), "%s/small.yaml", tmpdir);
	ivr_check(write_file(path, flow_v1) == 0);
	struct ivr_flowsvc *svc = ivr_flowsvc_new(
		&(struct ivr_flowsvc_cfg){ .dir = tmpdir, .no_asr = true, .no_tts = true }, err,
		sizeof(err));
	if (!svc)
		return IVR_TEST_FAIL;
	struct ivr_flowsvc_flow *live, *fresh;
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "small", &live, err, sizeof(err)), 0);
	if (!live)
		return IVR_TEST_FAIL;
	const struct ivr_flow *m1 = ivr_flowsvc_flow_model(live);

	/* edit the file: new calls get version 2, the live call keeps version 1 */
	char v2[2048];
	snprintf(v2, sizeof(v2), "%s", flow_v1);
	memcpy(strstr(v2, "Version one."), "Version two.", 12);
	ivr_check(write_file(path, v2) == 0);
	ivr_check_int_eq(ivr_flowsvc_reload(svc, NULL, err, sizeof(err)), 1);
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "small", &fresh, err, sizeof(err)), 0);
	ivr_check(fresh != live && ivr_flowsvc_flow_version(fresh) == 2);
	const struct ivr_flow *m2 = ivr_flowsvc_flow_model(fresh);
	ivr_check(!strcmp(m2->nodes[m2->start_node].prompt_text, "Version two."));
	/* the live call still reads its own model (ASan would catch a free) */
	ivr_check(!strcmp(m1->nodes[m1->start_node].prompt_text, "Version one."));
	ivr_check_int_eq(ivr_flowsvc_sweep(svc), 0);
	struct ivr_flowsvc_stats st;
	ivr_flowsvc_get_stats(svc, &st);
	ivr_check(st.versions_live == 1 && st.versions_retired == 1);

	/* a broken edit keeps the current version */
	ivr_check(write_file(path, "flow: small\nstart: menu\nnodes: {menu: 3}\n") == 0);
	ivr_check(ivr_flowsvc_reload(svc, "small", err, sizeof(err)) < 0);
	struct ivr_flowsvc_flow *again;
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "small", &again, err, sizeof(err)), 0);
	ivr_check(again == fresh);
	ivr_flowsvc_release(again);

	/* the last call of version 1 ends: the sweep frees it */
	ivr_flowsvc_release(live);
	ivr_check_int_eq(ivr_flowsvc_sweep(svc), 1);
	ivr_flowsvc_get_stats(svc, &st);
	ivr_check(st.versions_live == 1 && st.versions_retired == 0);
	ivr_flowsvc_release(fresh);
	ivr_check_int_eq(ivr_flowsvc_reload(svc, "Bad/Name", err, sizeof(err)), -EINVAL);
	ivr_flowsvc_free(svc);
	unlink(path);
	return IVR_TEST_PASS;
}

IVR_TEST(test_prompts_rendered_and_cached)
{
	if (!flite_present() || !IVR_HAVE_ASR) /* the renderer is built with ASR only */
		return IVR_TEST_SKIP;
	char err[512], pdir[512], path[512];
	make_tmpdir();
	snprintf(pdir, sizeof(pdir), "%s/prompts", tmpdir);
	snprintf(path, sizeof(path), "%s/small.yaml", tmpdir);
	ivr_check(write_file(path, flow_v1) == 0);
	struct ivr_prompt_cache *pc = ivr_prompt_cache_new(8000);
	struct ivr_flowsvc *svc = ivr_flowsvc_new(
		&(struct ivr_flowsvc_cfg){
			.dir = tmpdir, .prompt_dir = pdir, .prompts = pc, .no_asr = true },
		err, sizeof(err));
	struct ivr_flowsvc_flow *v;
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "small", &v, err, sizeof(err)), 0);
	if (!v)
		return IVR_TEST_FAIL;
	const struct ivr_flow *m = ivr_flowsvc_flow_model(v);
	for (size_t i = 0; i < m->n_nodes; i++) {
		struct ivr_prompt *p = ivr_flowsvc_flow_prompt(v, (int)i, IVR_FLOWRT_PROMPT_MAIN);
		ivr_check_msg(p != NULL, "node %s", m->nodes[i].name);
		if (!p)
			continue;
		/* a spoken sentence of a few words: between 0.4 and 5 s, not silent */
		ivr_check(p->rate_hz == 8000 && p->n_samples > 3200 && p->n_samples < 40000);
		double e = 0;
		for (size_t k = 0; k < p->n_samples; k++)
			e += (double)p->samples[k] * p->samples[k];
		ivr_check(sqrt(e / (double)p->n_samples) > 0.01);
	}
	/* a wideband call's prompts: 16 kHz copies, made at the version's first such call */
	ivr_check(ivr_flowsvc_flow_prompt_at(v, 0, IVR_FLOWRT_PROMPT_MAIN, 16000) == NULL);
	size_t n8 = ivr_prompt_cache_count(pc);
	ivr_check_int_eq(ivr_flowsvc_flow_use_rate(v, 44100), -EINVAL);
	ivr_check_int_eq(ivr_flowsvc_flow_use_rate(v, 16000), 0);
	ivr_check_int_eq(ivr_flowsvc_flow_use_rate(v, 16000), 0); /* once */
	ivr_check_int_eq(ivr_prompt_cache_count(pc), 2 * n8);
	for (size_t i = 0; i < m->n_nodes; i++) {
		struct ivr_prompt *p8 = ivr_flowsvc_flow_prompt(v, (int)i, IVR_FLOWRT_PROMPT_MAIN);
		struct ivr_prompt *p16 =
			ivr_flowsvc_flow_prompt_at(v, (int)i, IVR_FLOWRT_PROMPT_MAIN, 16000);
		ivr_check(
			p8 && p16 && p16->rate_hz == 16000 &&
			p8 == ivr_flowsvc_flow_prompt_at(v, (int)i, IVR_FLOWRT_PROMPT_MAIN, 8000));
		if (p8 && p16)
			ivr_check_near((double)p16->n_samples, 2.0 * (double)p8->n_samples, 4);
	}
	/* texts that do not exist give no prompt; the rendering is reused by a reload */
	ivr_check(ivr_flowsvc_flow_prompt(v, 0, IVR_FLOWRT_PROMPT_NO_MATCH) == NULL);
	const char *p1 = ivr_flowsvc_flow_prompt_path(v, 0, IVR_FLOWRT_PROMPT_MAIN);
	struct stat st1, st2;
	ivr_check(p1 && stat(p1, &st1) == 0);
	ivr_check_int_eq(ivr_flowsvc_reload(svc, "small", err, sizeof(err)), 1);
	ivr_check(p1 && stat(p1, &st2) == 0 && st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
		  st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
	ivr_flowsvc_release(v);
	ivr_check_int_eq(ivr_flowsvc_sweep(svc), 1);
	ivr_flowsvc_free(svc);
	ivr_prompt_cache_free(pc);
	unlink(path);
	return IVR_TEST_PASS;
}

/* Push @n samples as one utterance of speech records (as engine/dspchain.c does). */
/* Push records [@from, @to) of an utterance (frame indices; @to past the end = all);
 * @wb: 16 kHz records, as a wideband call's chain pushes them. */
static int push_part(struct ivr_ring *ring, uint64_t call_id, uint32_t utt_id, const float *pcm,
		     size_t n, bool aborted, bool wb, uint32_t from, uint32_t to)
{
	struct ivr_asr_frame f;
	uint32_t idx = from;
	for (size_t off = (size_t)from * IVR_ASR_FRAME_SAMPLES; (off < n || idx == 0) && idx < to;
	     off += IVR_ASR_FRAME_SAMPLES, idx++) {
		memset(&f, 0, sizeof(f));
		f.call_id = call_id;
		f.utt_id = utt_id;
		f.frame_idx = idx;
		f.start_sample = off;
		size_t k = IVR_MIN((size_t)IVR_ASR_FRAME_SAMPLES, n > off ? n - off : 0);
		f.n_samples = (uint16_t)k;
		for (size_t i = 0; i < k; i++)
			f.pcm[i] = ivr_f32_to_s16(pcm[off + i]);
		f.flags = (idx == 0 ? IVR_ASR_F_FIRST : 0) |
			  (off + IVR_ASR_FRAME_SAMPLES >= n ? IVR_ASR_F_LAST : 0) |
			  (aborted && off + IVR_ASR_FRAME_SAMPLES >= n ? IVR_ASR_F_ABORTED : 0) |
			  (wb ? IVR_ASR_F_WB : 0);
		while (ivr_ring_push(ring, &f) < 0)
			sleep_ms(1);
		if (f.flags & IVR_ASR_F_LAST)
			break;
	}
	return 0;
}

static int push_utt_at(struct ivr_ring *ring, uint64_t call_id, uint32_t utt_id, const float *pcm,
		       size_t n, bool aborted, bool wb)
{
	return push_part(ring, call_id, utt_id, pcm, n, aborted, wb, 0, UINT32_MAX);
}

/* 8 kHz speech records, as a narrowband call's chain pushes them */
static int push_utt(struct ivr_ring *ring, uint64_t call_id, uint32_t utt_id, const float *pcm,
		    size_t n, bool aborted)
{
	return push_utt_at(ring, call_id, utt_id, pcm, n, aborted, false);
}

static struct ivr_ring *ring_new(uint32_t n)
{
	size_t sz = ivr_ring_size(n, sizeof(struct ivr_asr_frame));
	struct ivr_ring *r = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(sz, IVR_ALIGN));
	if (r && ivr_ring_init(r, sz, n, sizeof(struct ivr_asr_frame)) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

/* The next final result; partials before it are counted in *@n_partial (may be NULL). */
static int wait_final(struct ivr_flowsvc *svc, struct ivr_flowsvc_result *res, unsigned ms,
		      int *n_partial, char *last_partial, size_t cap)
{
	for (unsigned t = 0; t < ms;) {
		if (ivr_flowsvc_poll(svc, 0, res) == 1) {
			if (!(res->flags & IVR_FLOWSVC_R_PARTIAL))
				return 1;
			if (n_partial)
				++*n_partial;
			if (last_partial)
				snprintf(last_partial, cap, "%s", res->text);
			continue;
		}
		sleep_ms(2);
		t += 2;
	}
	return 0;
}

static int wait_result(struct ivr_flowsvc *svc, struct ivr_flowsvc_result *res, unsigned ms)
{
	return wait_final(svc, res, ms, NULL, NULL, 0);
}

IVR_TEST(test_asr_thread_bookkeeping)
{
	/* no recogniser: results still come back (flagged), so the plumbing is testable */
	char err[256];
	struct ivr_flowsvc *svc = ivr_flowsvc_new(
		&(struct ivr_flowsvc_cfg){
			.no_asr = true, .no_tts = true, .max_calls = 16, .result_ring_records = 2 },
		err, sizeof(err));
	struct ivr_ring *ring = ring_new(64);
	if (!svc || !ring)
		return IVR_TEST_FAIL;
	struct ivr_ring *rings[1] = { ring };
	ivr_check_int_eq(ivr_flowsvc_start(svc, rings, 1), 0);
	ivr_check_int_eq(ivr_flowsvc_start(svc, rings, 1), -EALREADY);
	struct ivr_flowsvc_flow *v;
	ivr_check_int_eq(ivr_flowsvc_acquire(svc, "bank", &v, err, sizeof(err)), 0);
	uint64_t id = (7ull << 24) | 3; /* gen 7, slot 3 */
	ivr_check_int_eq(ivr_flowsvc_call_open(svc, id, v), 0);
	ivr_check_int_eq(ivr_flowsvc_call_open(svc, (1ull << 24) | 99, v), -EINVAL);
	float pcm[800];
	for (size_t i = 0; i < 800; i++)
		pcm[i] = 0.1f * sinf(2.0f * 3.14159265f * 300.0f * (float)i / 8000.0f);

	/* not armed: dropped as stale */
	push_utt(ring, id, 1, pcm, 800, false);
	struct ivr_flowsvc_result res;
	ivr_check_int_eq(wait_result(svc, &res, 200), 0);
	/* armed: a result for turn 5 (flagged: no recogniser) */
	ivr_flowsvc_arm(svc, id, 0, 5, 2);
	push_utt(ring, id, 2, pcm, 800, false);
	ivr_check_int_eq(wait_result(svc, &res, 2000), 1);
	ivr_check(res.call_id == id && res.turn == 5 && res.node == 0 && res.intent == -1);
	ivr_check(res.flags & IVR_FLOWSVC_R_ERROR);
	/* aborted utterance: flagged, not decoded */
	push_utt(ring, id, 3, pcm, 800, true);
	ivr_check_int_eq(wait_result(svc, &res, 2000), 1);
	ivr_check(res.flags & IVR_FLOWSVC_R_ABORTED);
	/* result ring of 2: the third result is dropped, the turn reported lost */
	ivr_flowsvc_arm(svc, id, 0, 6, 4);
	for (uint32_t u = 4; u < 7; u++)
		push_utt(ring, id, u, pcm, 320, false);
	struct ivr_flowsvc_stats st;
	for (int i = 0; i < 1000; i++) {
		ivr_flowsvc_get_stats(svc, &st);
		if (st.utterances >= 6)
			break;
		sleep_ms(2);
	}
	ivr_check_int_eq(st.result_drops, 1);
	ivr_check_int_eq(ivr_flowsvc_take_lost(svc, id), 6);
	ivr_check_int_eq(ivr_flowsvc_take_lost(svc, id), 0);
	int got = 0;
	while (ivr_flowsvc_poll(svc, 0, &res) == 1)
		got++;
	ivr_check_int_eq(got, 2);
	/* an utterance that started before the armed turn is not decoded for it */
	ivr_flowsvc_arm(svc, id, 0, 7, 20);
	push_utt(ring, id, 19, pcm, 320, false);
	ivr_check_int_eq(wait_result(svc, &res, 200), 0);
	/* the call ends: later utterances are dropped */
	ivr_flowsvc_call_close(svc, id);
	push_utt(ring, id, 8, pcm, 320, false);
	ivr_check_int_eq(wait_result(svc, &res, 200), 0);
	ivr_flowsvc_get_stats(svc, &st);
	ivr_check_int_eq(st.stale, 3);
	ivr_check_int_eq(st.aborted, 1);
	ivr_flowsvc_release(v);
	ivr_flowsvc_free(svc);
	free(ring);
	return IVR_TEST_PASS;
}

/* flite speech at @rate (8 kHz: telephone quality; 16 kHz: a wideband call), full scale 1.0 */
static float *speech(const char *text, const char *voice, uint32_t rate, size_t *n)
{
	char dir[512], wav[1024], err[256];
	make_tmpdir();
	snprintf(dir, sizeof(dir), "%s/speech", tmpdir);
#if IVR_HAVE_ASR
	if (ivr_testset_render(text, voice, dir, wav, sizeof(wav)) < 0)
		return NULL;
#else
	(void)text, (void)voice;
	return NULL; /* the renderer is built with ASR only */
#endif
	struct ivr_audio a;
	if (ivr_wav_read(&a, wav, rate, err, sizeof(err)) < 0)
		return NULL;
	*n = a.n_samples;
	return a.samples; /* the caller frees */
}

IVR_TEST(test_asr_decodes_intents)
{
	if (!model_present() || !flite_present())
		return IVR_TEST_SKIP;
	char err[512];
	struct ivr_flowsvc *svc = ivr_flowsvc_new(
		&(struct ivr_flowsvc_cfg){ .no_tts = true, .max_calls = 16, .partial_ms = 200 },
		err, sizeof(err));
	struct ivr_ring *ring = ring_new(1024);
	if (!svc || !ring)
		return IVR_TEST_FAIL;
	struct ivr_flowsvc_flow *v;
	int r = ivr_flowsvc_acquire(svc, "bank", &v, err, sizeof(err));
	ivr_check_msg(r == 0, "%s", err);
	if (r < 0)
		return IVR_TEST_FAIL;
	struct ivr_ring *rings[1] = { ring };
	ivr_check_int_eq(ivr_flowsvc_start(svc, rings, 1), 0);
	const struct ivr_flow *m = ivr_flowsvc_flow_model(v);
	int main_n = ivr_flow_find_node(m, "main");
	uint64_t id = (1ull << 24) | 5;
	ivr_check_int_eq(ivr_flowsvc_call_open(svc, id, v), 0);
	const char *says[][2] = { { "I want to check my balance", "balance" },
				  { "I lost my card", "cards" },
				  { "I would like to speak to an agent", "agent" } };
	/* the node's own classifier, to know the runner-up intents independently */
	struct ivr_intent_model *im = ivr_intent_build(&m->nodes[main_n]);
	ivr_check(im != NULL);
	if (!im)
		return IVR_TEST_FAIL;
	int n_with_alt = 0;
	/* each sentence from a narrowband call (8 kHz records) and a wideband one (16 kHz records,
	 * decoded at 16 kHz as they are) */
	for (size_t i = 0; i < 2 * IVR_N_ELEMENTS(says); i++) {
		const bool wb = i >= IVR_N_ELEMENTS(says);
		size_t n = 0, si = i % IVR_N_ELEMENTS(says);
		float *pcm = speech(says[si][0], "slt", wb ? 16000 : 8000, &n);
		ivr_check(pcm != NULL);
		if (!pcm)
			break;
		ivr_flowsvc_arm(svc, id, main_n, 10 + (uint32_t)i, 1 + (uint32_t)i);
		push_utt_at(ring, id, 1 + (uint32_t)i, pcm, n, false, wb);
		free(pcm);
		struct ivr_flowsvc_result res;
		int n_partial = 0;
		char last[IVR_FLOWSVC_TEXT_MAX] = "";
		ivr_check_int_eq(wait_final(svc, &res, 20000, &n_partial, last, sizeof(last)), 1);
		ivr_check_int_eq(res.turn, 10 + i);
		/* partials came first, and the last one leads to the final words */
		char first[64] = "";
		sscanf(res.text, "%63s", first);
		ivr_check_msg(n_partial >= 1 && !strncmp(last, first, strlen(first)),
			      "%s: %d partials, last \"%s\", final \"%s\"", wb ? "16k" : "8k",
			      n_partial, last, res.text);
		int want = ivr_flow_find_intent(&m->nodes[main_n], says[si][1]);
		ivr_check_msg(res.intent == want, "%s \"%s\" -> \"%s\" intent %d (%.2f), want %s",
			      wb ? "16k" : "8k", says[si][0], res.text, res.intent, res.confidence,
			      says[si][1]);
		/* the speech duration counts 16 kHz samples as 16 kHz */
		ivr_check_near((double)res.speech_ms, n * 1000.0 / (wb ? 16000 : 8000), 100);
		ivr_check(res.n_nbest >= 1 && res.speech_ms > 500);
		/* the flow runtime accepts it as its input */
		struct ivr_event_nbest nb[IVR_FLOWSVC_NBEST];
		struct ivr_flowrt_result fr;
		ivr_flowsvc_to_flowrt(&res, m, nb, &fr);
		ivr_check(fr.turn == res.turn && fr.intent == res.intent && fr.text == res.text);
		/*
		 * the n-best entries are distinct word strings from the lattice (asr/nbest.h),
		 * the decoded text first with its best intent as the node's classifier ranks
		 * it (threshold out of reach: ranks only); confidences never increase
		 */
		struct ivr_intent_result ir;
		ivr_check_int_eq(ivr_intent_classify(im, res.text, 1.0f, 2.0f, &ir), 0);
		const struct ivr_flow_node *mn = &m->nodes[main_n];
		ivr_check(fr.n_nbest >= 1 && fr.n_nbest <= IVR_FLOWSVC_NBEST);
		ivr_check(!strcmp(nb[0].text, res.text));
		ivr_check_msg(nb[0].intent && ir.best >= 0 &&
				      !strcmp(nb[0].intent, mn->intents[ir.best].name) &&
				      !strcmp(nb[0].intent, says[si][1]),
			      "nbest[0] intent %s, want %s", nb[0].intent ? nb[0].intent : "null",
			      says[si][1]);
		for (size_t k = 1; k < fr.n_nbest; k++) {
			ivr_check(strcmp(nb[k].text, nb[k - 1].text) != 0);
			ivr_check(nb[k].confidence <= nb[k - 1].confidence);
		}
		n_with_alt += fr.n_nbest >= 2;
	}
	/* real speech leaves alternatives in the lattice: some sentence has one */
	ivr_check(n_with_alt >= 1);
	ivr_intent_free(im);
	struct ivr_flowsvc_stats st;
	ivr_flowsvc_get_stats(svc, &st);
	ivr_check_int_eq(st.decoded, 2 * IVR_N_ELEMENTS(says));
	ivr_check_int_eq(st.streamed, 2 * IVR_N_ELEMENTS(says));
	ivr_check(st.partials >= 2 * IVR_N_ELEMENTS(says));

	/*
	 * Three callers speak at once on one ASR thread with two streams: the
	 * third is decoded whole at its end by the spare decoder; all three
	 * are understood.
	 */
	{
		uint64_t ids[3] = { (2ull << 24) | 6, (3ull << 24) | 7, (4ull << 24) | 8 };
		float *pc[3];
		size_t pn[3];
		for (int i = 0; i < 3; i++) {
			pc[i] = speech(says[i][0], "slt", 8000, &pn[i]);
			ivr_check_int_eq(ivr_flowsvc_call_open(svc, ids[i], v), 0);
			ivr_flowsvc_arm(svc, ids[i], main_n, 20, 1);
		}
		if (pc[0] && pc[1] && pc[2]) {
			push_part(ring, ids[0], 1, pc[0], pn[0], false, false, 0, 10);
			push_part(ring, ids[1], 1, pc[1], pn[1], false, false, 0, 10);
			push_utt(ring, ids[2], 1, pc[2], pn[2], false);
			push_part(ring, ids[0], 1, pc[0], pn[0], false, false, 10, UINT32_MAX);
			push_part(ring, ids[1], 1, pc[1], pn[1], false, false, 10, UINT32_MAX);
			int got[3] = { 0 };
			for (int k = 0; k < 3; k++) {
				struct ivr_flowsvc_result res;
				if (wait_result(svc, &res, 20000) != 1)
					break;
				for (int i = 0; i < 3; i++)
					if (res.call_id == ids[i]) {
						got[i]++;
						int want = ivr_flow_find_intent(&m->nodes[main_n],
										says[i][1]);
						ivr_check_msg(res.intent == want,
							      "\"%s\" -> \"%s\"", says[i][0],
							      res.text);
					}
			}
			for (int i = 0; i < 3; i++)
				ivr_check_int_eq(got[i], 1);
			struct ivr_flowsvc_stats st2;
			ivr_flowsvc_get_stats(svc, &st2);
			ivr_check_int_eq(st2.streamed - st.streamed, 2);
			ivr_check_int_eq(st2.decoded - st.decoded, 3);
		}
		for (int i = 0; i < 3; i++) {
			ivr_flowsvc_call_close(svc, ids[i]);
			free(pc[i]);
		}
	}
	printf("  decode: %.1f ms per s of speech\n",
	       st.speech_ms_total ? (double)st.decode_us_total / (double)st.speech_ms_total : 0.0);
	ivr_flowsvc_call_close(svc, id);
	ivr_flowsvc_release(v);
	ivr_flowsvc_free(svc);
	free(ring);
	return IVR_TEST_PASS;
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_load_by_name_and_errors);
	ivr_test_run(test_hot_reload_keeps_live_calls);
	ivr_test_run(test_prompts_rendered_and_cached);
	ivr_test_run(test_asr_thread_bookkeeping);
	ivr_test_run(test_asr_decodes_intents);
	if (tmpdir[0]) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return ivr_test_summary();
}
