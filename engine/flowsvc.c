/* SPDX-License-Identifier: MIT */
/*
 * engine/flowsvc.c - flow versions, prompts, recognisers and the ASR threads
 * (see flowsvc.h for the model).
 *
 * Versions: `current` is a list with one version per flow name (the service
 * holds one reference on each); reload pushes the old one onto `retired`
 * and drops the service's reference.  Calls hold references from
 * ivr_flowsvc_acquire() to ivr_flowsvc_release().  ivr_flowsvc_sweep() frees
 * a retired version when its count is 0 and every ASR thread has announced a
 * quiescent point (its `quiescent` epoch) newer than the epoch stamped on the
 * version when its count was first seen at 0: an ASR thread only touches a
 * version between two quiescent points, while handling one utterance.
 *
 * Per-call ASR state lives in a table indexed by the call's slot (the low
 * slot_bits of the call id).  The worker writes `armed` (turn << 32 |
 * node + 1) with one release store; the ASR thread reads call_id, then
 * armed and ver with acquire loads, and drops utterances of calls that
 * ended.  The CMN estimate in the same entry is private to the ASR thread
 * that serves the call's worker; it restarts when the slot's call changes.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asr/testset.h"
#include "common/ring.h"
#include "engine/dspchain.h"
#include "engine/flowsvc.h"
#include "engine/prompt.h"

_Static_assert(sizeof(struct ivr_flowsvc_result) <= IVR_FLOWSVC_RESULT_SZ,
	       "result record must fit its ring slot");

#define MAX_OPEN_UTTERANCES 64 /* per ASR thread, in reassembly at once */
#define MAX_STREAMS	    16 /* per ASR thread, decoded while the caller speaks */

struct ivr_flowsvc_flow {
	struct ivr_flowsvc *svc;
	struct ivr_flow *flow;
	char name[IVR_FLOWSVC_NAME_MAX];
	uint32_t version;
	atomic_int refs;
	uint64_t free_epoch;	       /* 0 until refs was seen at 0 after retirement */
	struct ivr_recognizer **rec;   /* [thread][stream + 1 spare], NULL without ASR */
	int *grammar;		       /* [thread][node], -1 = no grammar */
	struct ivr_prompt **prompt;    /* [node][kind] */
	struct ivr_prompt **prompt_wb; /* [node][kind] at 16 kHz, from the first wideband call */
	char **prompt_path;	       /* [node][kind] */
	struct ivr_flowsvc_flow *next;
};

struct call_ctx {
	_Atomic uint64_t call_id; /* 0 = no call */
	_Atomic(struct ivr_flowsvc_flow *) ver;
	_Atomic uint64_t armed;	    /* turn << 32 | (node + 1); 0 = disarmed */
	_Atomic uint32_t first_utt; /* utterances before this id belong to older turns */
	_Atomic uint32_t lost_turn; /* result dropped on a full ring */
	/* ASR thread private */
	uint64_t cmn_owner;
	struct ivr_asr_cmn cmn;
} IVR_ALIGNED;

/* An utterance being decoded as it arrives (ASR thread private). */
struct live {
	struct ivr_flowsvc_flow *v; /* referenced while bound; NULL = free */
	uint64_t call_id;
	uint32_t utt_id, turn, next_idx;
	int node;
	bool broken;			 /* a record was lost: the whole-utterance path decides */
	uint32_t rate_hz;		 /* 16000 for a wideband call's records (IVR_ASR_F_WB) */
	size_t fed, next_partial;	 /* samples at rate_hz */
	char text[IVR_FLOWSVC_TEXT_MAX]; /* last partial sent */
};

struct asr_thread {
	struct ivr_flowsvc *svc;
	struct live live[MAX_STREAMS];
	uint32_t index;
	pthread_t tid;
	bool started;
	_Atomic uint64_t quiescent;
	struct ivr_asr_reasm *reasm;
	float *pcm;
};

struct ivr_flowsvc {
	struct ivr_flowsvc_cfg cfg;
	char dir[1024], prompt_dir[1024], voice[32];
	pthread_mutex_t lock; /* version lists (control threads) */
	struct ivr_flowsvc_flow *current, *retired;
	struct call_ctx *calls;
	uint64_t slot_mask;
	struct ivr_ring **results; /* per worker */
	struct ivr_ring **speech;  /* copied from ivr_flowsvc_start() */
	uint32_t n_speech;
	struct asr_thread *threads;
	atomic_bool running;
	_Atomic uint64_t epoch;
	_Atomic uint64_t utterances, decoded, streamed, partials, aborted, stale, result_drops,
		decode_us, speech_ms;
};

static void set_err(char *err, size_t len, const char *fmt, const char *a, const char *b)
{
	if (err && len)
		snprintf(err, len, fmt, a, b);
}

/* ---------------------------------------------------------------- versions */

#if IVR_HAVE_ASR
/* Decoders per ASR thread and version: the streams and a spare for whole utterances. */
static uint32_t n_dec(const struct ivr_flowsvc *svc)
{
	return svc->cfg.streams_per_thread + 1;
}

static struct ivr_recognizer *dec_of(const struct ivr_flowsvc_flow *v, uint32_t thread, uint32_t k)
{
	return v->rec[thread * n_dec(v->svc) + k];
}
#endif

static void version_free(struct ivr_flowsvc_flow *v)
{
	if (!v)
		return;
	struct ivr_flowsvc *svc = v->svc;
	size_t n = v->flow ? v->flow->n_nodes * IVR_FLOWRT_N_PROMPTS : 0;
	for (size_t i = 0; i < n; i++) {
		if (v->prompt)
			ivr_prompt_unref(v->prompt[i]);
		if (v->prompt_wb)
			ivr_prompt_unref(v->prompt_wb[i]);
		if (v->prompt_path)
			free(v->prompt_path[i]);
	}
	free(v->prompt);
	free(v->prompt_wb);
	free(v->prompt_path);
#if IVR_HAVE_ASR
	if (v->rec)
		for (uint32_t t = 0; t < svc->cfg.n_asr_threads * n_dec(svc); t++)
			ivr_recognizer_free(v->rec[t]);
#endif
	free(v->rec);
	free(v->grammar);
	ivr_flow_free(v->flow);
	free(v);
	/* the prompts the cache no longer needs go now that our references are gone */
	if (svc->cfg.prompts)
		ivr_prompt_cache_sweep(svc->cfg.prompts);
}

static bool valid_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= IVR_FLOWSVC_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(name[i] == '_' || name[i] == '-' || name[i] == '.' ||
		      (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return false;
	return true;
}

static const char *node_text(const struct ivr_flow_node *n, unsigned kind)
{
	switch (kind) {
	case IVR_FLOWRT_PROMPT_MAIN:
		return n->prompt ? NULL : n->prompt_text;
	case IVR_FLOWRT_PROMPT_REPROMPT:
		return n->reprompt_text;
	case IVR_FLOWRT_PROMPT_NO_MATCH:
		return n->no_match_text;
	case IVR_FLOWRT_PROMPT_NO_INPUT:
		return n->no_input_text;
	}
	return NULL;
}

static int render(struct ivr_flowsvc *svc, const char *text, char *path, size_t len)
{
#if IVR_HAVE_ASR
	return ivr_testset_render(text, svc->voice, svc->prompt_dir, path, len);
#else
	/* the renderer lives in asr/testset.c, built only with ASR */
	(void)svc, (void)text, (void)path, (void)len;
	return -ENOTSUP;
#endif
}

/* Resolve (and render when needed) every node prompt, then load it into the cache. */
static int build_prompts(struct ivr_flowsvc *svc, struct ivr_flowsvc_flow *v)
{
	const struct ivr_flow *f = v->flow;
	size_t n = f->n_nodes * IVR_FLOWRT_N_PROMPTS;
	v->prompt = calloc(n ? n : 1, sizeof(*v->prompt));
	v->prompt_path = calloc(n ? n : 1, sizeof(*v->prompt_path));
	if (!v->prompt || !v->prompt_path)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_nodes; i++) {
		const struct ivr_flow_node *node = &f->nodes[i];
		for (unsigned k = 0; k < IVR_FLOWRT_N_PROMPTS; k++) {
			char path[2048];
			const char *text = node_text(node, k);
			if (k == IVR_FLOWRT_PROMPT_MAIN && node->prompt) {
				if (node->prompt[0] == '/')
					snprintf(path, sizeof(path), "%s", node->prompt);
				else
					snprintf(path, sizeof(path), "%s/%s", f->dir, node->prompt);
			} else if (text && !svc->cfg.no_tts) {
				if (render(svc, text, path, sizeof(path)) < 0) {
					/* TTS missing: the call runs without this prompt */
					continue;
				}
			} else {
				continue;
			}
			size_t idx = i * IVR_FLOWRT_N_PROMPTS + k;
			v->prompt_path[idx] = strdup(path);
			if (!v->prompt_path[idx])
				return -ENOMEM;
			if (svc->cfg.prompts) {
				char err[256];
				v->prompt[idx] =
					ivr_prompt_get(svc->cfg.prompts, path, err, sizeof(err));
				if (!v->prompt[idx])
					fprintf(stderr, "flowsvc: %s: prompt %s: %s\n", f->name,
						path, err);
			}
		}
	}
	return 0;
}

static int build_recognizers(struct ivr_flowsvc *svc, struct ivr_flowsvc_flow *v, char *err,
			     size_t err_len)
{
	uint32_t nt = svc->cfg.n_asr_threads;
	const struct ivr_flow *f = v->flow;
	v->grammar = malloc(sizeof(int) * nt * (f->n_nodes ? f->n_nodes : 1));
	if (!v->grammar)
		return -ENOMEM;
	for (size_t i = 0; i < nt * f->n_nodes; i++)
		v->grammar[i] = -1;
	if (svc->cfg.no_asr)
		return 0;
#if IVR_HAVE_ASR
	uint32_t nd = n_dec(svc);
	v->rec = calloc((size_t)nt * nd, sizeof(*v->rec));
	if (!v->rec)
		return -ENOMEM;
	const struct ivr_flow *flows[1] = { f };
	for (uint32_t t = 0; t < nt * nd; t++) {
		v->rec[t] = ivr_recognizer_new(flows, 1, &svc->cfg.rec, err, err_len);
		if (!v->rec[t])
			return errno ? -errno : -EINVAL;
	}
	/* the same flow compiles to the same ids in every decoder */
	for (uint32_t t = 0; t < nt; t++)
		for (size_t i = 0; i < f->n_nodes; i++)
			v->grammar[t * f->n_nodes + i] =
				ivr_recognizer_grammar(dec_of(v, t, 0), f, i);
	return 0;
#else
	(void)err, (void)err_len;
	return 0; /* built without ASR: no_asr is forced in ivr_flowsvc_new() */
#endif
}

static int version_build(struct ivr_flowsvc *svc, const char *name, uint32_t version,
			 struct ivr_flowsvc_flow **out, char *err, size_t err_len)
{
	*out = NULL;
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s.yaml", svc->dir, name);
	struct ivr_flowsvc_flow *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->svc = svc;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->version = version;
	atomic_init(&v->refs, 1); /* the service's own while current */
	int r = ivr_flow_load(&v->flow, path, err, err_len);
	if (r == 0 &&
	    (v->flow->start_node < 0 || (size_t)v->flow->start_node >= v->flow->n_nodes)) {
		set_err(err, err_len, "%s: start node \"%s\" does not exist", path,
			v->flow->start ? v->flow->start : "");
		r = -EBADMSG;
	}
	if (r == 0)
		r = build_recognizers(svc, v, err, err_len);
	if (r == 0)
		r = build_prompts(svc, v);
	if (r < 0) {
		version_free(v);
		return r;
	}
	*out = v;
	return 0;
}

static struct ivr_flowsvc_flow *find_current(struct ivr_flowsvc *svc, const char *name)
{
	for (struct ivr_flowsvc_flow *v = svc->current; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

int ivr_flowsvc_acquire(struct ivr_flowsvc *svc, const char *name, struct ivr_flowsvc_flow **out,
			char *err, size_t err_len)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!svc || !valid_name(name)) {
		set_err(err, err_len, "invalid flow name \"%s\"%s", name ? name : "", "");
		return -EINVAL;
	}
	pthread_mutex_lock(&svc->lock);
	struct ivr_flowsvc_flow *v = find_current(svc, name);
	int r = 0;
	if (!v) {
		/* Built under the lock: a flow loads once even if two calls race for it. */
		r = version_build(svc, name, 1, &v, err, err_len);
		if (r == 0) {
			v->next = svc->current;
			svc->current = v;
		}
	}
	if (r == 0) {
		atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
		*out = v;
	}
	pthread_mutex_unlock(&svc->lock);
	return r;
}

void ivr_flowsvc_release(struct ivr_flowsvc_flow *v)
{
	if (v)
		/* release: the caller's reads of the version happen before a sweep frees it */
		atomic_fetch_sub_explicit(&v->refs, 1, memory_order_release);
}

int ivr_flowsvc_reload(struct ivr_flowsvc *svc, const char *name, char *err, size_t err_len)
{
	if (!svc || (name && !valid_name(name)))
		return -EINVAL;
	pthread_mutex_lock(&svc->lock);
	int n = 0, first_err = 0;
	for (struct ivr_flowsvc_flow **pp = &svc->current; *pp;) {
		struct ivr_flowsvc_flow *old = *pp;
		if (name && strcmp(old->name, name)) {
			pp = &old->next;
			continue;
		}
		struct ivr_flowsvc_flow *nv;
		int r = version_build(svc, old->name, old->version + 1, &nv, err, err_len);
		if (r < 0) {
			if (!first_err)
				first_err = r;
			pp = &old->next;
			continue;
		}
		nv->next = old->next;
		*pp = nv;
		old->next = svc->retired;
		svc->retired = old;
		ivr_flowsvc_release(old); /* the service's own reference */
		n++;
		pp = &nv->next;
	}
	pthread_mutex_unlock(&svc->lock);
	if (name && n == 0 && !first_err) {
		/* not loaded yet: a reload is a first load */
		struct ivr_flowsvc_flow *v;
		int r = ivr_flowsvc_acquire(svc, name, &v, err, err_len);
		if (r < 0)
			return r;
		ivr_flowsvc_release(v);
		return 1;
	}
	return n ? n : first_err;
}

static bool threads_passed(struct ivr_flowsvc *svc, uint64_t epoch)
{
	if (!svc->threads)
		return true;
	for (uint32_t t = 0; t < svc->cfg.n_asr_threads; t++)
		if (svc->threads[t].started &&
		    atomic_load_explicit(&svc->threads[t].quiescent, memory_order_acquire) < epoch)
			return false;
	return true;
}

int ivr_flowsvc_sweep(struct ivr_flowsvc *svc)
{
	if (!svc)
		return -EINVAL;
	int n = 0;
	pthread_mutex_lock(&svc->lock);
	for (struct ivr_flowsvc_flow **pp = &svc->retired; *pp;) {
		struct ivr_flowsvc_flow *v = *pp;
		/* acquire pairs with the release in ivr_flowsvc_release() */
		if (atomic_load_explicit(&v->refs, memory_order_acquire) > 0) {
			pp = &v->next;
			continue;
		}
		if (!v->free_epoch)
			v->free_epoch =
				atomic_fetch_add_explicit(&svc->epoch, 1, memory_order_acq_rel) + 1;
		if (!threads_passed(svc, v->free_epoch)) {
			pp = &v->next;
			continue;
		}
		*pp = v->next;
		version_free(v);
		n++;
	}
	pthread_mutex_unlock(&svc->lock);
	return n;
}

const struct ivr_flow *ivr_flowsvc_flow_model(const struct ivr_flowsvc_flow *v)
{
	return v ? v->flow : NULL;
}

uint32_t ivr_flowsvc_flow_version(const struct ivr_flowsvc_flow *v)
{
	return v ? v->version : 0;
}

int ivr_flowsvc_flow_refs(const struct ivr_flowsvc_flow *v)
{
	return v ? atomic_load_explicit(&((struct ivr_flowsvc_flow *)v)->refs, memory_order_relaxed)
		 : 0;
}

static bool prompt_idx(const struct ivr_flowsvc_flow *v, int node, unsigned kind, size_t *idx)
{
	if (!v || node < 0 || (size_t)node >= v->flow->n_nodes || kind >= IVR_FLOWRT_N_PROMPTS)
		return false;
	*idx = (size_t)node * IVR_FLOWRT_N_PROMPTS + kind;
	return true;
}

struct ivr_prompt *ivr_flowsvc_flow_prompt(const struct ivr_flowsvc_flow *v, int node,
					   unsigned kind)
{
	size_t i;
	return prompt_idx(v, node, kind, &i) ? v->prompt[i] : NULL;
}

int ivr_flowsvc_flow_use_rate(struct ivr_flowsvc_flow *v, uint32_t rate_hz)
{
	if (!v || (rate_hz != 8000 && rate_hz != 16000))
		return -EINVAL;
	struct ivr_flowsvc *svc = v->svc;
	if (rate_hz == 8000 || !svc->cfg.prompts)
		return 0;
	size_t n = v->flow->n_nodes * IVR_FLOWRT_N_PROMPTS;
	int r = 0;
	pthread_mutex_lock(&svc->lock);
	if (!v->prompt_wb) {
		struct ivr_prompt **wb = calloc(n ? n : 1, sizeof(*wb));
		if (!wb) {
			r = -ENOMEM;
		} else {
			for (size_t i = 0; i < n; i++) {
				char err[256];
				if (v->prompt_path[i] &&
				    !(wb[i] = ivr_prompt_get_at(svc->cfg.prompts, v->prompt_path[i],
								rate_hz, err, sizeof(err))))
					fprintf(stderr, "flowsvc: %s: prompt %s: %s\n", v->name,
						v->prompt_path[i], err);
			}
			v->prompt_wb = wb;
		}
	}
	pthread_mutex_unlock(&svc->lock);
	return r;
}

struct ivr_prompt *ivr_flowsvc_flow_prompt_at(const struct ivr_flowsvc_flow *v, int node,
					      unsigned kind, uint32_t rate_hz)
{
	size_t i;
	if (!prompt_idx(v, node, kind, &i))
		return NULL;
	if (rate_hz == 16000)
		return v->prompt_wb ? v->prompt_wb[i] : NULL;
	return v->prompt[i];
}

const char *ivr_flowsvc_flow_prompt_path(const struct ivr_flowsvc_flow *v, int node, unsigned kind)
{
	size_t i;
	return prompt_idx(v, node, kind, &i) ? v->prompt_path[i] : NULL;
}

/* ---------------------------------------------------------------- per call */

static struct call_ctx *ctx_of(struct ivr_flowsvc *svc, uint64_t call_id)
{
	uint64_t slot = call_id & svc->slot_mask;
	if (!call_id || slot >= svc->cfg.max_calls)
		return NULL;
	return &svc->calls[slot];
}

int ivr_flowsvc_call_open(struct ivr_flowsvc *svc, uint64_t call_id, struct ivr_flowsvc_flow *v)
{
	struct call_ctx *c = svc ? ctx_of(svc, call_id) : NULL;
	if (!c)
		return -EINVAL;
	atomic_store_explicit(&c->armed, 0, memory_order_relaxed);
	atomic_store_explicit(&c->first_utt, 0, memory_order_relaxed);
	atomic_store_explicit(&c->lost_turn, 0, memory_order_relaxed);
	atomic_store_explicit(&c->ver, v, memory_order_relaxed);
	/* release: an ASR thread that sees this call id also sees its version and armed word */
	atomic_store_explicit(&c->call_id, call_id, memory_order_release);
	return 0;
}

void ivr_flowsvc_call_close(struct ivr_flowsvc *svc, uint64_t call_id)
{
	struct call_ctx *c = svc ? ctx_of(svc, call_id) : NULL;
	if (!c)
		return;
	uint64_t expect = call_id;
	/* only the call that owns the slot clears it (a late close after reuse is a no-op) */
	atomic_compare_exchange_strong_explicit(&c->call_id, &expect, 0, memory_order_release,
						memory_order_relaxed);
}

void ivr_flowsvc_arm(struct ivr_flowsvc *svc, uint64_t call_id, int node, uint32_t turn,
		     uint32_t first_utt)
{
	struct call_ctx *c = svc ? ctx_of(svc, call_id) : NULL;
	if (!c)
		return;
	uint64_t w = node < 0 ? 0 : ((uint64_t)turn << 32) | (uint32_t)(node + 1);
	/* Before the armed word: a reader that sees this arm sees this first_utt or a later
	 * one; a later one only drops utterances whose turn is over anyway. */
	atomic_store_explicit(&c->first_utt, first_utt, memory_order_relaxed);
	/* release pairs with the ASR thread's acquire load when the utterance ends */
	atomic_store_explicit(&c->armed, w, memory_order_release);
}

uint32_t ivr_flowsvc_take_lost(struct ivr_flowsvc *svc, uint64_t call_id)
{
	struct call_ctx *c = svc ? ctx_of(svc, call_id) : NULL;
	if (!c || !atomic_load_explicit(&c->lost_turn, memory_order_relaxed))
		return 0;
	return atomic_exchange_explicit(&c->lost_turn, 0, memory_order_acquire);
}

int ivr_flowsvc_poll(struct ivr_flowsvc *svc, uint32_t worker, struct ivr_flowsvc_result *out)
{
	if (!svc || worker >= svc->cfg.n_workers || !svc->results)
		return 0;
	const void *p = ivr_ring_read_ptr(svc->results[worker]);
	if (!p)
		return 0;
	memcpy(out, p, sizeof(*out));
	ivr_ring_read_advance(svc->results[worker]);
	return 1;
}

void ivr_flowsvc_to_flowrt(const struct ivr_flowsvc_result *r, const struct ivr_flow *flow,
			   struct ivr_event_nbest nb[IVR_FLOWSVC_NBEST],
			   struct ivr_flowrt_result *out)
{
	const struct ivr_flow_node *node = flow && r->node >= 0 && (size_t)r->node < flow->n_nodes
						   ? &flow->nodes[r->node]
						   : NULL;
	size_t n = IVR_MIN((size_t)r->n_nbest, (size_t)IVR_FLOWSVC_NBEST);
	for (size_t i = 0; i < n; i++) {
		int in = r->nbest[i].intent;
		nb[i].text = r->nbest[i].text;
		nb[i].intent = node && in >= 0 && (size_t)in < node->n_intents
				       ? node->intents[in].name
				       : NULL;
		nb[i].confidence = r->nbest[i].confidence;
	}
	*out = (struct ivr_flowrt_result){ .turn = r->turn,
					   .text = r->text,
					   .intent = r->intent,
					   .confidence = r->confidence,
					   .nbest = n ? nb : NULL,
					   .n_nbest = n };
}

/* ------------------------------------------------------------- ASR threads */

static void count(_Atomic uint64_t *c, uint64_t n)
{
	/* relaxed: statistics only */
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#if IVR_HAVE_ASR
/* Copy a NUL-terminated string into @dst of @cap bytes, cut if longer. */
static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}
#endif

#if IVR_HAVE_ASR
/* Copy a recogniser result into a ring record. */
static void fill_result(struct ivr_flowsvc *svc, const struct ivr_asr_result *ar,
			struct ivr_flowsvc_result *res)
{
	count(&svc->decoded, 1);
	count(&svc->decode_us, ar->decode_us);
	count(&svc->speech_ms, ar->speech_ms);
	res->intent = (int16_t)ar->intent;
	res->confidence = ar->confidence;
	res->speech_ms = ar->speech_ms;
	res->decode_us = ar->decode_us;
	copy_text(res->text, sizeof(res->text), ar->text);
	size_t nb = IVR_MIN(ar->n_nbest, (size_t)IVR_FLOWSVC_NBEST);
	for (size_t i = 0; i < nb; i++) {
		copy_text(res->nbest[i].text, sizeof(res->nbest[i].text), ar->nbest[i].text);
		res->nbest[i].confidence = ar->nbest[i].confidence;
		res->nbest[i].intent = (int16_t)ar->nbest[i].intent;
	}
	res->n_nbest = (uint8_t)nb;
}
#endif

/* The call's CMN state, reset when a new call took the slot. */
static struct ivr_asr_cmn *call_cmn(struct call_ctx *c, uint64_t call_id)
{
	if (c->cmn_owner != call_id) {
		/* a new call in this slot: start from the model's telephone prior */
		memset(&c->cmn, 0, sizeof(c->cmn));
		c->cmn_owner = call_id;
	}
	return &c->cmn;
}

/* Whole-utterance decoding on the thread's spare decoder (no stream was free). */
static void decode(struct asr_thread *t, struct call_ctx *c, struct ivr_flowsvc_flow *v, int node,
		   const struct ivr_asr_utt *utt, struct ivr_flowsvc_result *res)
{
	struct ivr_flowsvc *svc = t->svc;
	int g = v->rec ? v->grammar[t->index * v->flow->n_nodes + (size_t)node] : -1;
	if (g < 0) {
		res->flags |= IVR_FLOWSVC_R_ERROR;
		return;
	}
	/* wideband calls' utterances are 16 kHz: decoded as they are, not upsampled */
	const uint32_t rate = utt->rate_hz == 16000 ? 16000 : 8000;
	size_t n = IVR_MIN(utt->n_samples, (size_t)svc->cfg.max_speech_ms * (rate / 1000));
	for (size_t i = 0; i < n; i++)
		t->pcm[i] = (float)utt->pcm[i] * (1.0f / 32768.0f);
	struct ivr_asr_cmn *cmn = call_cmn(c, utt->call_id);
#if IVR_HAVE_ASR
	static _Thread_local struct ivr_asr_result ar;
	if (ivr_recognizer_decode(dec_of(v, t->index, svc->cfg.streams_per_thread), g, t->pcm, n,
				  rate, cmn, &ar) < 0) {
		res->flags |= IVR_FLOWSVC_R_ERROR;
		return;
	}
	fill_result(svc, &ar, res);
#else
	/* unreachable: without ASR no grammar id is ever >= 0 */
	(void)cmn;
	res->flags |= IVR_FLOWSVC_R_ERROR;
#endif
}

/* ---------------------------------------------------------- streaming */

/* A speech record's rate: wideband calls' records are 16 kHz, decoded as they are, not
 * upsampled. */
static uint32_t record_rate(const struct ivr_asr_frame *f)
{
	return f->flags & IVR_ASR_F_WB ? 16000 : 8000;
}

static struct live *live_find(struct asr_thread *t, uint64_t call_id)
{
	for (uint32_t k = 0; k < t->svc->cfg.streams_per_thread; k++)
		if (t->live[k].v && t->live[k].call_id == call_id)
			return &t->live[k];
	return NULL;
}

static void live_drop(struct asr_thread *t, struct live *L)
{
#if IVR_HAVE_ASR
	ivr_recognizer_stream_abort(dec_of(L->v, t->index, (uint32_t)(L - t->live)));
#endif
	ivr_flowsvc_release(L->v);
	L->v = NULL;
}

/*
 * First record of an utterance: bind it to a free stream when its call is
 * armed for a node with a grammar.  Called before the quiescent point, so
 * the version read from the call is alive; the reference taken here keeps
 * it alive while the stream lasts.
 */
static struct live *live_bind(struct asr_thread *t, const struct ivr_asr_frame *f)
{
	struct ivr_flowsvc *svc = t->svc;
	struct live *L = NULL;
	for (uint32_t k = 0; k < svc->cfg.streams_per_thread && !L; k++)
		if (!t->live[k].v)
			L = &t->live[k];
	struct call_ctx *c = ctx_of(svc, f->call_id);
	if (!L || !c || atomic_load_explicit(&c->call_id, memory_order_acquire) != f->call_id)
		return NULL;
	uint64_t armed = atomic_load_explicit(&c->armed, memory_order_acquire);
	uint32_t first = atomic_load_explicit(&c->first_utt, memory_order_relaxed);
	struct ivr_flowsvc_flow *v = atomic_load_explicit(&c->ver, memory_order_acquire);
	int node = (int)(uint32_t)armed - 1;
	if (!v || !v->rec || node < 0 || (size_t)node >= v->flow->n_nodes ||
	    (int32_t)(f->utt_id - first) < 0)
		return NULL;
	int g = v->grammar[t->index * v->flow->n_nodes + (size_t)node];
	const uint32_t rate = record_rate(f);
#if IVR_HAVE_ASR
	if (g < 0 || ivr_recognizer_stream_begin(dec_of(v, t->index, (uint32_t)(L - t->live)), g,
						 rate, call_cmn(c, f->call_id)) < 0)
		return NULL;
#else
	(void)g;
	return NULL;
#endif
	atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
	*L = (struct live){ .v = v,
			    .call_id = f->call_id,
			    .utt_id = f->utt_id,
			    .turn = (uint32_t)(armed >> 32),
			    .node = node,
			    .rate_hz = rate,
			    .next_partial = (size_t)svc->cfg.partial_ms * (rate / 1000) };
	return L;
}

static void live_partial(struct asr_thread *t, uint32_t worker, struct live *L)
{
#if IVR_HAVE_ASR
	struct ivr_flowsvc *svc = t->svc;
	static _Thread_local union {
		struct ivr_flowsvc_result r;
		uint8_t raw[IVR_FLOWSVC_RESULT_SZ];
	} rec;
	char text[IVR_ASR_TEXT_MAX];
	L->next_partial = L->fed + (size_t)svc->cfg.partial_ms * (L->rate_hz / 1000);
	/* rate limit: only when the words changed */
	if (ivr_recognizer_stream_partial(dec_of(L->v, t->index, (uint32_t)(L - t->live)), text,
					  sizeof(text)) <= 0 ||
	    !strncmp(text, L->text, sizeof(L->text) - 1))
		return;
	copy_text(L->text, sizeof(L->text), text);
	memset(&rec, 0, sizeof(rec));
	rec.r.call_id = L->call_id;
	rec.r.turn = L->turn;
	rec.r.node = (int16_t)L->node;
	rec.r.intent = -1;
	rec.r.flags = IVR_FLOWSVC_R_PARTIAL;
	rec.r.speech_ms = (uint32_t)(L->fed / (L->rate_hz / 1000));
	copy_text(rec.r.text, sizeof(rec.r.text), text);
	if (ivr_ring_push(svc->results[worker], rec.raw) == 0) /* full: the next one will do */
		count(&svc->partials, 1);
#else
	(void)t, (void)worker, (void)L;
#endif
}

/* Feed one speech record to its stream (binding it at the utterance's first record). */
static void live_record(struct asr_thread *t, uint32_t worker, const struct ivr_asr_frame *f)
{
	struct live *L = live_find(t, f->call_id);
	if (L && ((f->flags & IVR_ASR_F_FIRST) || f->utt_id != L->utt_id)) {
		live_drop(t, L); /* replaced by a newer utterance */
		L = NULL;
	}
	if (!L && (f->flags & IVR_ASR_F_FIRST))
		L = live_bind(t, f);
	if (!L || L->broken)
		return;
	if (f->frame_idx != L->next_idx || (f->flags & IVR_ASR_F_ABORTED) ||
	    record_rate(f) != L->rate_hz || f->n_samples > IVR_ASR_FRAME_SAMPLES) {
		L->broken = true;
		return;
	}
	L->next_idx = f->frame_idx + 1;
#if IVR_HAVE_ASR
	float x[IVR_ASR_FRAME_SAMPLES];
	for (size_t i = 0; i < f->n_samples; i++)
		x[i] = (float)f->pcm[i] * (1.0f / 32768.0f);
	if (ivr_recognizer_stream_feed(dec_of(L->v, t->index, (uint32_t)(L - t->live)), x,
				       f->n_samples) < 0) {
		L->broken = true;
		return;
	}
#endif
	L->fed += f->n_samples;
	if (t->svc->cfg.partial_ms && L->fed >= L->next_partial && !(f->flags & IVR_ASR_F_LAST))
		live_partial(t, worker, L);
}

/* Drop streams of calls that ended (their last record may never come). */
static void live_reap(struct asr_thread *t)
{
	for (uint32_t k = 0; k < t->svc->cfg.streams_per_thread; k++) {
		struct live *L = &t->live[k];
		struct call_ctx *c = L->v ? ctx_of(t->svc, L->call_id) : NULL;
		if (L->v &&
		    (!c || atomic_load_explicit(&c->call_id, memory_order_acquire) != L->call_id))
			live_drop(t, L);
	}
}

static void handle(struct asr_thread *t, uint32_t worker, const struct ivr_asr_utt *utt)
{
	struct ivr_flowsvc *svc = t->svc;
	count(&svc->utterances, 1);
	struct live *L = live_find(t, utt->call_id);
	if (L && L->utt_id != utt->utt_id)
		L = NULL; /* an older utterance handed out as aborted; the stream is newer */
	struct call_ctx *c = ctx_of(svc, utt->call_id);
	/* acquire pairs with ivr_flowsvc_call_open()'s release store */
	if (!c || atomic_load_explicit(&c->call_id, memory_order_acquire) != utt->call_id) {
		count(&svc->stale, 1);
		if (L)
			live_drop(t, L);
		return;
	}
	uint64_t armed = atomic_load_explicit(&c->armed, memory_order_acquire);
	uint32_t first = atomic_load_explicit(&c->first_utt, memory_order_relaxed);
	struct ivr_flowsvc_flow *v = atomic_load_explicit(&c->ver, memory_order_acquire);
	int node = (int)(uint32_t)armed - 1;
	/* signed distance: utterance ids wrap after 2^32 */
	if (!v || node < 0 || (size_t)node >= v->flow->n_nodes ||
	    (int32_t)(utt->utt_id - first) < 0) {
		count(&svc->stale, 1);
		if (L)
			live_drop(t, L);
		return;
	}
	static _Thread_local union {
		struct ivr_flowsvc_result r;
		uint8_t raw[IVR_FLOWSVC_RESULT_SZ];
	} rec;
	memset(&rec, 0, sizeof(rec));
	rec.r.call_id = utt->call_id;
	rec.r.turn = (uint32_t)(armed >> 32);
	rec.r.node = (int16_t)node;
	rec.r.intent = -1;
	if (utt->flags & IVR_ASR_F_ABORTED) {
		count(&svc->aborted, 1);
		rec.r.flags |= IVR_FLOWSVC_R_ABORTED;
		if (L)
			live_drop(t, L);
	} else if (L && !L->broken && L->v == v && L->node == node && L->turn == rec.r.turn) {
#if IVR_HAVE_ASR
		static _Thread_local struct ivr_asr_result ar;
		if (ivr_recognizer_stream_end(dec_of(v, t->index, (uint32_t)(L - t->live)),
					      call_cmn(c, utt->call_id), &ar) < 0)
			rec.r.flags |= IVR_FLOWSVC_R_ERROR;
		else {
			fill_result(svc, &ar, &rec.r);
			count(&svc->streamed, 1);
		}
#endif
		live_drop(t, L);
	} else {
		/* no stream, or it decoded for a node/turn that is over: the whole utterance */
		if (L)
			live_drop(t, L);
		decode(t, c, v, node, utt, &rec.r);
	}
	if (ivr_ring_push(svc->results[worker], rec.raw) < 0) {
		count(&svc->result_drops, 1);
		/* release pairs with ivr_flowsvc_take_lost()'s acquire exchange */
		atomic_store_explicit(&c->lost_turn, rec.r.turn ? rec.r.turn : 1,
				      memory_order_release);
	}
}

static void *asr_main(void *arg)
{
	struct asr_thread *t = arg;
	struct ivr_flowsvc *svc = t->svc;
	uint32_t nt = svc->cfg.n_asr_threads;
	while (atomic_load_explicit(&svc->running, memory_order_acquire)) {
		int did = 0;
		for (uint32_t w = t->index; w < svc->n_speech; w += nt) {
			const void *p;
			/* each record is decoded as it comes (streams) and reassembled (the
			 * rest, and the utterance's end) */
			while ((p = ivr_ring_read_ptr(svc->speech[w])) != NULL) {
				struct ivr_asr_utt utt;
				live_record(t, w, p);
				int k = ivr_asr_reasm_feed(t->reasm, p, &utt);
				ivr_ring_read_advance(svc->speech[w]);
				if (k == 1)
					handle(t, w, &utt);
				did++;
			}
		}
		live_reap(t);
		/* Quiescent point: no version pointer is held across this line, except
		 * by streams, which hold a reference.  acquire on the epoch, release on
		 * ours: the sweeper that sees our epoch also sees that our earlier reads
		 * of retired versions are done. */
		atomic_store_explicit(&t->quiescent,
				      atomic_load_explicit(&svc->epoch, memory_order_acquire),
				      memory_order_release);
		if (!did) {
			/* Speech arrives at 20 ms frames: a 2 ms nap costs little latency
			 * and no CPU while idle. */
			struct timespec ts = { 0, 2 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	for (uint32_t k = 0; k < svc->cfg.streams_per_thread; k++)
		if (t->live[k].v)
			live_drop(t, &t->live[k]);
	return NULL;
}

/* ------------------------------------------------------------- life cycle */

struct ivr_flowsvc *ivr_flowsvc_new(const struct ivr_flowsvc_cfg *cfg, char *err, size_t err_len)
{
	struct ivr_flowsvc_cfg c = cfg ? *cfg : (struct ivr_flowsvc_cfg){ 0 };
	if (!c.n_asr_threads)
		c.n_asr_threads = 1;
	if (!c.n_workers)
		c.n_workers = 1;
	if (!c.max_calls)
		c.max_calls = IVR_MAX_CALLS;
	if (!c.slot_bits)
		c.slot_bits = 24;
	if (!c.result_ring_records)
		c.result_ring_records = 64;
	if (!c.max_speech_ms)
		c.max_speech_ms = 10000;
	if (!c.streams_per_thread)
		c.streams_per_thread = 2;
#if !IVR_HAVE_ASR
	c.no_asr = true;
	c.no_tts = true;
#endif
	size_t ring_sz = ivr_ring_size(c.result_ring_records, IVR_FLOWSVC_RESULT_SZ);
	if (c.n_asr_threads > 64 || c.streams_per_thread > MAX_STREAMS || c.n_workers > 1024 ||
	    c.slot_bits > 32 || !ring_sz ||
	    (c.slot_bits < 32 && c.max_calls > (1ull << c.slot_bits))) {
		set_err(err, err_len, "flowsvc: invalid configuration%s%s", "", "");
		errno = EINVAL;
		return NULL;
	}
	struct ivr_flowsvc *svc = calloc(1, sizeof(*svc));
	if (!svc)
		goto nomem;
	svc->cfg = c;
	snprintf(svc->dir, sizeof(svc->dir), "%s", c.dir ? c.dir : IVR_SOURCE_DIR "/grammars");
	snprintf(svc->prompt_dir, sizeof(svc->prompt_dir), "%s",
		 c.prompt_dir ? c.prompt_dir : IVR_BUILD_DIR "/prompt-cache");
	snprintf(svc->voice, sizeof(svc->voice), "%s", c.voice ? c.voice : "slt");
	svc->cfg.dir = svc->dir;
	svc->cfg.prompt_dir = svc->prompt_dir;
	svc->cfg.voice = svc->voice;
	pthread_mutex_init(&svc->lock, NULL);
	svc->slot_mask = c.slot_bits >= 64 ? ~0ull : (1ull << c.slot_bits) - 1;
	svc->calls = aligned_alloc(IVR_ALIGN,
				   IVR_ROUND_UP(sizeof(*svc->calls) * c.max_calls, IVR_ALIGN));
	svc->results = calloc(c.n_workers, sizeof(*svc->results));
	if (!svc->calls || !svc->results)
		goto nomem;
	memset(svc->calls, 0, sizeof(*svc->calls) * c.max_calls);
	for (uint32_t w = 0; w < c.n_workers; w++) {
		svc->results[w] = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(ring_sz, IVR_ALIGN));
		if (!svc->results[w] ||
		    ivr_ring_init(svc->results[w], ring_sz, c.result_ring_records,
				  IVR_FLOWSVC_RESULT_SZ) < 0)
			goto nomem;
	}
	return svc;
nomem:
	ivr_flowsvc_free(svc);
	set_err(err, err_len, "flowsvc: out of memory%s%s", "", "");
	errno = ENOMEM;
	return NULL;
}

int ivr_flowsvc_start(struct ivr_flowsvc *svc, struct ivr_ring *const *rings, uint32_t n_rings)
{
	if (!svc || !rings || n_rings == 0 || n_rings > svc->cfg.n_workers)
		return -EINVAL;
	if (svc->threads)
		return -EALREADY;
	uint32_t nt = svc->cfg.n_asr_threads;
	svc->threads = calloc(nt, sizeof(*svc->threads));
	svc->speech = calloc(n_rings, sizeof(*svc->speech));
	if (!svc->threads || !svc->speech)
		return -ENOMEM;
	memcpy(svc->speech, rings, n_rings * sizeof(*rings));
	svc->n_speech = n_rings;
	atomic_store(&svc->running, true);
	/* room for max_speech_ms of a wideband (16 kHz) call's utterance */
	size_t max_samples = (size_t)svc->cfg.max_speech_ms * 16;
	for (uint32_t i = 0; i < nt; i++) {
		struct asr_thread *t = &svc->threads[i];
		t->svc = svc;
		t->index = i;
		t->reasm = ivr_asr_reasm_new(MAX_OPEN_UTTERANCES, max_samples);
		t->pcm = malloc(max_samples * sizeof(float));
		if (!t->reasm || !t->pcm)
			return -ENOMEM; /* ivr_flowsvc_free() joins what started */
		atomic_init(&t->quiescent, 0);
		int r = pthread_create(&t->tid, NULL, asr_main, t);
		if (r)
			return -r;
		t->started = true;
	}
	return 0;
}

void ivr_flowsvc_free(struct ivr_flowsvc *svc)
{
	if (!svc)
		return;
	atomic_store(&svc->running, false);
	if (svc->threads) {
		for (uint32_t i = 0; i < svc->cfg.n_asr_threads; i++) {
			struct asr_thread *t = &svc->threads[i];
			if (t->started)
				pthread_join(t->tid, NULL);
			ivr_asr_reasm_free(t->reasm);
			free(t->pcm);
		}
		free(svc->threads);
	}
	while (svc->current) {
		struct ivr_flowsvc_flow *v = svc->current;
		svc->current = v->next;
		version_free(v);
	}
	while (svc->retired) {
		struct ivr_flowsvc_flow *v = svc->retired;
		svc->retired = v->next;
		version_free(v);
	}
	if (svc->results)
		for (uint32_t w = 0; w < svc->cfg.n_workers; w++)
			free(svc->results[w]);
	free(svc->results);
	free(svc->speech);
	free(svc->calls);
	pthread_mutex_destroy(&svc->lock);
	free(svc);
}

void ivr_flowsvc_get_stats(struct ivr_flowsvc *svc, struct ivr_flowsvc_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!svc)
		return;
	st->utterances = atomic_load_explicit(&svc->utterances, memory_order_relaxed);
	st->decoded = atomic_load_explicit(&svc->decoded, memory_order_relaxed);
	st->streamed = atomic_load_explicit(&svc->streamed, memory_order_relaxed);
	st->partials = atomic_load_explicit(&svc->partials, memory_order_relaxed);
	st->aborted = atomic_load_explicit(&svc->aborted, memory_order_relaxed);
	st->stale = atomic_load_explicit(&svc->stale, memory_order_relaxed);
	st->result_drops = atomic_load_explicit(&svc->result_drops, memory_order_relaxed);
	st->decode_us_total = atomic_load_explicit(&svc->decode_us, memory_order_relaxed);
	st->speech_ms_total = atomic_load_explicit(&svc->speech_ms, memory_order_relaxed);
	pthread_mutex_lock(&svc->lock);
	for (struct ivr_flowsvc_flow *v = svc->current; v; v = v->next)
		st->versions_live++;
	for (struct ivr_flowsvc_flow *v = svc->retired; v; v = v->next)
		st->versions_retired++;
	pthread_mutex_unlock(&svc->lock);
}
