/* SPDX-License-Identifier: MIT */
/*
 * engine/api.c - libivr: engine object, call slots, ports, and the control
 * operations (see api.h).  Control side only: the media path is call.c and
 * worker.c; everything here may allocate and lock.
 */
#include "config.h"

#include <arpa/inet.h>
#include <math.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/shmring.h"
#if IVR_HAVE_ASR
#include "asr/testset.h"
#endif
#include "dsp/wav.h"
#include "engine/api.h"
#include "engine/call.h"
#include "engine/dspchain.h"
#include "engine/flowsvc.h"
#include "engine/mixer.h"
#include "engine/prompt.h"
#include "engine/recorder.h"
#include "engine/worker.h"

#define MIN_CONFS	256 /* conference table: max(MIN_CONFS, max_calls / 2) */
#define REC_RING_FRAMES 4096

struct ivr_engine {
	struct ivr_engine_cfg cfg;
	char bind_addr[64];
	char ring_name[128];
	uint8_t *arena;
	size_t stride;
	uint32_t n_slots;
	pthread_mutex_t lock; /* slots, ports, vars, reclaim list */
	uint32_t *free_slots;
	uint32_t n_free;
	uint32_t *closing; /* slots waiting for their worker to retire them */
	uint32_t n_closing;
	char **vars;	    /* per slot JSON text */
	uint8_t *port_used; /* per even port of the range */
	uint32_t n_ports, port_cursor;
	struct ivr_worker **workers;
	unsigned n_workers;
	unsigned *worker_load;
	struct ivr_prompt_cache *prompts;
	struct ivr_recorder *rec;
	struct ivr_mixer *mixer;
	struct ivr_shmring events;   /* event ring, one sub-ring per worker (when ring_name) */
	struct ivr_ring **asr_rings; /* per worker, when cfg.asr_ring_records */
	struct ivr_flowsvc *flowsvc; /* when cfg.flows_dir */
	char flows_dir[1024], prompt_cache_dir[1024];
	struct ivr_prompt *moh;	   /* queue music on hold (our reference), NULL = none */
	struct ivr_prompt *moh_wb; /* its 16 kHz copy, loaded at the first wideband call */
	char moh_path[1100];
	bool have_events;
	bool started;
	uint64_t t0_ns;
	uint64_t created, refused;
};

static __thread char last_err[256];

static int fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	return err;
}

const char *ivr_engine_last_error(void)
{
	return last_err;
}

static inline struct ivr_call *slot_call(struct ivr_engine *e, uint32_t slot)
{
	return (struct ivr_call *)(e->arena + (size_t)slot * e->stride);
}

#define SLOT_BITS 24
static inline uint64_t make_id(uint32_t slot, uint32_t gen)
{
	return ((uint64_t)gen << SLOT_BITS) | slot;
}

/* Without the acoustic model, flows still run on DTMF; speech becomes a no-match. */
static bool asr_model_present(void)
{
#if IVR_HAVE_ASR
	return access(IVR_PS_MODELDIR "/en-us/en-us/mdef", R_OK) == 0;
#else
	return false;
#endif
}

/* Where rendered prompts and the default MOH go. */
static const char *cache_dir(const struct ivr_engine *e)
{
	return e->prompt_cache_dir[0] ? e->prompt_cache_dir : IVR_BUILD_DIR "/prompt-cache";
}

/*
 * The default music on hold: 9.6 s of a slow pentatonic melody (soft
 * bell-like notes, a quiet fifth drone), -12 dBFS peak, whose last note has
 * died away before the loop restarts.  Synthesized once into the prompt
 * cache folder (written beside and renamed, so engines starting together
 * never read half a file) instead of a committed recording.
 */
static int synth_moh(const char *path)
{
	static const float notes[] = { 392.0f, 440.0f, 523.3f, 587.3f, 523.3f, 440.0f,
				       392.0f, 329.6f, 392.0f, 440.0f, 392.0f, 329.6f,
				       293.7f, 329.6f, 392.0f, 0.0f };
	const uint32_t rate = 8000, note = rate * 6 / 10;
	const size_t n = IVR_N_ELEMENTS(notes) * note;
	float *x = calloc(n, sizeof(float));
	if (!x)
		return -ENOMEM;
	for (size_t k = 0; k < IVR_N_ELEMENTS(notes); k++) {
		if (notes[k] <= 0)
			continue;
		for (uint32_t i = 0; i < note; i++) {
			float t = (float)i / (float)rate;
			float env = IVR_MIN(t / 0.03f, 1.0f) * expf(-t / 0.22f);
			float w = 2 * (float)M_PI * notes[k] * t;
			x[k * note + i] += 0.2f * env * (sinf(w) + 0.25f * sinf(2 * w));
		}
	}
	/* drone: G3 + D4, swelling in and out over the loop so the seam is silent */
	for (size_t i = 0; i < n; i++) {
		float t = (float)i / (float)rate, ph = (float)i / (float)n;
		float env = 0.03f * sinf((float)M_PI * ph);
		x[i] += env *
			(sinf(2 * (float)M_PI * 196.0f * t) + sinf(2 * (float)M_PI * 293.7f * t));
	}
	char tmp[1200];
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	int r = ivr_wav_write(tmp, x, n, rate, IVR_WAV_PCM16);
	free(x);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/*
 * Load the MOH: @file (failure is fatal: the operator asked for it), "" =
 * none, NULL = the synthesized default (failure only costs the melody: the
 * queue is silent, said once on stderr).
 */
static int load_moh(struct ivr_engine *e, const char *file)
{
	if (file && !*file)
		return 0;
	if (file) {
		snprintf(e->moh_path, sizeof(e->moh_path), "%s", file);
	} else {
		const char *dir = cache_dir(e);
		snprintf(e->moh_path, sizeof(e->moh_path), "%s/moh-default-v1.wav", dir);
		struct stat st;
		int r = stat(e->moh_path, &st) == 0 ? 0 : synth_moh(e->moh_path);
		if (r < 0 && mkdir(dir, 0755) == 0)
			r = synth_moh(e->moh_path);
		if (r < 0) {
			fprintf(stderr, "ivr-engine: no music on hold: cannot write %s: %s\n",
				e->moh_path, strerror(-r));
			return 0;
		}
	}
	char err[256] = "";
	e->moh = ivr_prompt_get(e->prompts, e->moh_path, err, sizeof(err));
	if (!e->moh && !file) {
		fprintf(stderr, "ivr-engine: no music on hold: %s\n", err[0] ? err : e->moh_path);
		return 0;
	}
	if (!e->moh) {
		int r = errno ? -errno : -EIO;
		fail(r, "music on hold: %s", err[0] ? err : e->moh_path);
		errno = -r;
		return r;
	}
	return 0;
}

/*
 * The MOH at a wideband call's rate: converted once, at the first such call
 * (engine lock held; a failure leaves the call's queue silent).
 */
static struct ivr_prompt *moh_at(struct ivr_engine *e, uint32_t rate_hz)
{
	if (!e->moh)
		return NULL;
	if (!e->moh_wb) {
		char err[256] = "";
		e->moh_wb = ivr_prompt_get_at(e->prompts, e->moh_path, rate_hz, err, sizeof(err));
		if (!e->moh_wb)
			fprintf(stderr, "ivr-engine: no %u Hz music on hold: %s\n", rate_hz,
				err[0] ? err : e->moh_path);
	}
	return e->moh_wb;
}

struct ivr_engine *ivr_engine_new(const struct ivr_engine_cfg *cfg)
{
	struct ivr_engine_cfg c = cfg ? *cfg : (struct ivr_engine_cfg){ 0 };
	if (!c.port_min)
		c.port_min = 20000;
	if (!c.port_max)
		c.port_max = 39999;
	if (!c.max_calls)
		c.max_calls = IVR_MAX_CALLS;
	if (!c.n_workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c.n_workers = n > 0 ? (unsigned)n : 1;
	}
	if (c.port_min > c.port_max || c.port_min < 1024 || c.max_calls >= (1u << SLOT_BITS) ||
	    c.n_workers > 256) {
		fail(-EINVAL, "bad engine configuration (ports %u-%u, max_calls %u, workers %u)",
		     c.port_min, c.port_max, c.max_calls, c.n_workers);
		errno = EINVAL;
		return NULL;
	}
	struct ivr_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->bind_addr, sizeof(e->bind_addr), "%s", c.bind_addr ? c.bind_addr : "0.0.0.0");
	snprintf(e->ring_name, sizeof(e->ring_name), "%s", c.ring_name ? c.ring_name : "");
	c.bind_addr = e->bind_addr;
	c.ring_name = e->ring_name;
	if (c.flows_dir) {
		snprintf(e->flows_dir, sizeof(e->flows_dir), "%s", c.flows_dir);
		c.flows_dir = e->flows_dir;
		/* flows listen: speech has to reach the ASR threads */
		if (!c.asr_ring_records)
			c.asr_ring_records = 512;
	}
	if (c.prompt_cache_dir) {
		snprintf(e->prompt_cache_dir, sizeof(e->prompt_cache_dir), "%s",
			 c.prompt_cache_dir);
		c.prompt_cache_dir = e->prompt_cache_dir;
	}
	e->cfg = c;
	struct in_addr probe;
	if (inet_pton(AF_INET, e->bind_addr, &probe) != 1) {
		fail(-EINVAL, "bind address %s is not an IPv4 address", e->bind_addr);
		free(e);
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->n_slots = c.max_calls;
	e->stride = ivr_call_slot_size();
	e->arena = aligned_alloc(IVR_ALIGN, e->stride * e->n_slots);
	e->free_slots = calloc(e->n_slots, sizeof(uint32_t));
	e->closing = calloc(e->n_slots, sizeof(uint32_t));
	e->vars = calloc(e->n_slots, sizeof(char *));
	e->n_ports = (uint32_t)(c.port_max - c.port_min) / 2 + 1;
	e->port_used = calloc(e->n_ports, 1);
	e->workers = calloc(c.n_workers, sizeof(*e->workers));
	e->worker_load = calloc(c.n_workers, sizeof(unsigned));
	e->prompts = ivr_prompt_cache_new(8000);
	e->mixer = ivr_mixer_new(IVR_MAX(MIN_CONFS, e->n_slots / 2));
	if (!e->arena || !e->free_slots || !e->closing || !e->vars || !e->port_used ||
	    !e->workers || !e->worker_load || !e->prompts || !e->mixer) {
		fail(-ENOMEM, "out of memory for %u call slots of %zu bytes", e->n_slots,
		     e->stride);
		ivr_engine_free(e);
		errno = ENOMEM;
		return NULL;
	}
	if (c.flows_dir) {
		char err[512];
		/*
		 * One ASR thread per media worker by default: a thread serves the speech
		 * rings of workers w % n == its index, so more threads than workers idle
		 * and fewer queue several workers' utterances behind one decoder thread.
		 * 16 callers ending together (docs/asr.md): 1 worker + 1 thread max
		 * 300-440 ms, 2 workers + 2 threads 140-200 ms.
		 */
		unsigned asr_threads = c.asr_threads ? c.asr_threads : IVR_MIN(c.n_workers, 64u);
		e->flowsvc =
			ivr_flowsvc_new(&(struct ivr_flowsvc_cfg){ .dir = c.flows_dir,
								   .prompt_dir = c.prompt_cache_dir,
								   .prompts = e->prompts,
								   .no_asr = !asr_model_present(),
								   .n_asr_threads = asr_threads,
								   .partial_ms = 300,
								   .n_workers = c.n_workers,
								   .max_calls = c.max_calls,
								   .slot_bits = SLOT_BITS },
					err, sizeof(err));
		if (!e->flowsvc) {
			int r = errno;
			fail(-r, "flows: %s", err);
			ivr_engine_free(e);
			errno = r;
			return NULL;
		}
	}
	/*
	 * Touch the slots now: no page faults on the media path later.  The codec
	 * state at the end of each slot is left alone: only Opus calls use it, and
	 * their create_call initialises (faults in) all of it on this thread.
	 */
	for (uint32_t i = 0; i < e->n_slots; i++) {
		struct ivr_call *call = slot_call(e, i);
		memset(call, 0, ivr_call_slot_hot_size());
		if (ivr_call_init(call, i, 0) < 0) {
			fail(-EINVAL, "call slot init failed");
			ivr_engine_free(e);
			errno = EINVAL;
			return NULL;
		}
		/* LIFO free list with slot 0 on top: low slots first, cache-friendly. */
		e->free_slots[e->n_slots - 1 - i] = i;
	}
	e->n_free = e->n_slots;
	if (load_moh(e, cfg ? cfg->moh_file : NULL) < 0) {
		int r = errno;
		ivr_engine_free(e);
		errno = r;
		return NULL;
	}
	ivr_mixer_set_ports(e->mixer, e->arena + offsetof(struct ivr_call, mix), e->stride,
			    e->n_slots);
	e->n_workers = c.n_workers;
	return e;
}

int ivr_engine_start(struct ivr_engine *e)
{
	if (!e)
		return -EINVAL;
	if (e->started)
		return 0;
	e->rec = ivr_recorder_new(e->n_workers, REC_RING_FRAMES, e->n_slots);
	if (!e->rec)
		return fail(-errno, "recorder: %s", strerror(errno));
	if (e->cfg.asr_ring_records && !e->asr_rings) {
		size_t sz = ivr_ring_size(e->cfg.asr_ring_records, sizeof(struct ivr_asr_frame));
		if (!sz)
			return fail(-EINVAL, "asr_ring_records %u is not a power of two >= 2",
				    e->cfg.asr_ring_records);
		e->asr_rings = calloc(e->n_workers, sizeof(*e->asr_rings));
		for (unsigned i = 0; e->asr_rings && i < e->n_workers; i++) {
			e->asr_rings[i] = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(sz, IVR_ALIGN));
			if (!e->asr_rings[i] ||
			    ivr_ring_init(e->asr_rings[i], sz, e->cfg.asr_ring_records,
					  sizeof(struct ivr_asr_frame)) < 0)
				return fail(-ENOMEM, "out of memory for the ASR rings");
			/* Touch it now: no page faults on the media path. */
			memset(e->asr_rings[i]->data, 0, sz - sizeof(struct ivr_ring));
		}
		if (!e->asr_rings)
			return fail(-ENOMEM, "out of memory for the ASR rings");
	} else if (e->asr_rings && !e->flowsvc) {
		/* Restart: no thread runs, records of the previous run are stale (the flow
		 * service's ASR threads, still running, drain them instead). */
		for (unsigned i = 0; i < e->n_workers; i++)
			ivr_ring_reset(e->asr_rings[i]);
	}
	if (e->ring_name[0] && !e->have_events) {
		struct ivr_shmring_cfg rc = { .n_rings = e->n_workers };
		int r = ivr_shmring_create(&e->events, e->ring_name, &rc);
		if (r < 0)
			return fail(r, "event ring %s: %s", e->ring_name, ivr_strerror(r));
		e->have_events = true;
	}
	e->t0_ns = ivr_now_ns();
	for (unsigned i = 0; i < e->n_workers; i++) {
		char err[160] = "";
		struct ivr_worker_cfg wc = { .index = i,
					     .force_epoll = e->cfg.force_epoll,
					     .arena = e->arena,
					     .stride = e->stride,
					     .n_slots = e->n_slots,
					     .t0_ns = e->t0_ns,
					     .events = e->have_events ? &e->events : NULL,
					     .flowsvc = e->flowsvc };
		e->workers[i] = ivr_worker_new(&wc, err, sizeof(err));
		int r = e->workers[i] ? ivr_worker_start(e->workers[i]) : -errno;
		if (r < 0) {
			fail(r, "worker %u: %s", i, err[0] ? err : ivr_strerror(r));
			ivr_engine_stop(e);
			return r;
		}
	}
	if (e->flowsvc && e->asr_rings) {
		/* once per engine: the threads keep consuming the same rings after a restart */
		int r = ivr_flowsvc_start(e->flowsvc, e->asr_rings, e->n_workers);
		if (r < 0 && r != -EALREADY) {
			fail(r, "ASR threads: %s", ivr_strerror(r));
			ivr_engine_stop(e);
			return r;
		}
	}
	e->started = true;
	return 0;
}

static void close_slot(struct ivr_engine *e, uint32_t slot)
{
	struct ivr_call *c = slot_call(e, slot);
	if (c->fd >= 0)
		close(c->fd);
	if (c->rtcp_fd >= 0)
		close(c->rtcp_fd);
	c->fd = -1;
	c->rtcp_fd = -1;
	if (c->local_port) {
		uint32_t pi = (uint32_t)(c->local_port - e->cfg.port_min) / 2;
		if (pi < e->n_ports)
			e->port_used[pi] = 0;
		c->local_port = 0;
	}
	ivr_call_dsp_release(c);
	ivr_call_mix_release(c);
	if (c->flowver) {
		ivr_call_flow_release(c);
		/* a version retired by a reload goes when its last call does */
		(void)ivr_flowsvc_sweep(e->flowsvc);
	}
	free(e->vars[slot]);
	e->vars[slot] = NULL;
	if (e->worker_load[c->worker])
		e->worker_load[c->worker]--;
	atomic_store_explicit(&c->state, IVR_CALL_FREE, memory_order_release);
	e->free_slots[e->n_free++] = slot;
}

/* Give slots whose worker has retired them back to the free list. Lock held. */
static void reclaim_locked(struct ivr_engine *e)
{
	uint32_t j = 0;
	for (uint32_t i = 0; i < e->n_closing; i++) {
		uint32_t s = e->closing[i];
		/* acquire: pairs with the worker's release store of RETIRED */
		if (atomic_load_explicit(&slot_call(e, s)->state, memory_order_acquire) ==
		    IVR_CALL_RETIRED)
			close_slot(e, s);
		else
			e->closing[j++] = s;
	}
	e->n_closing = j;
}

int ivr_engine_stop(struct ivr_engine *e)
{
	if (!e)
		return 0;
	for (unsigned i = 0; i < e->n_workers; i++)
		if (e->workers[i]) {
			ivr_worker_stop(e->workers[i]);
			ivr_worker_free(e->workers[i]);
			e->workers[i] = NULL;
		}
	pthread_mutex_lock(&e->lock);
	for (uint32_t s = 0; s < e->n_slots; s++) {
		struct ivr_call *c = slot_call(e, s);
		int st = atomic_load(&c->state);
		if (st == IVR_CALL_SETUP || st == IVR_CALL_ACTIVE || st == IVR_CALL_CLOSING) {
			ivr_call_retire(c);
			atomic_store(&c->state, IVR_CALL_RETIRED);
		}
		if (atomic_load(&c->state) == IVR_CALL_RETIRED) {
			ivr_mixer_leave(e->mixer, s);
			bool listed = false;
			for (uint32_t i = 0; i < e->n_closing; i++)
				listed |= e->closing[i] == s;
			if (!listed)
				e->closing[e->n_closing++] = s;
		}
	}
	reclaim_locked(e);
	pthread_mutex_unlock(&e->lock);
	if (e->rec) {
		ivr_recorder_free(e->rec);
		e->rec = NULL;
	}
	if (e->have_events) {
		ivr_shmring_destroy(&e->events, 1);
		e->have_events = false;
	}
	e->started = false;
	return 0;
}

void ivr_engine_free(struct ivr_engine *e)
{
	if (!e)
		return;
	if (e->arena && e->workers)
		ivr_engine_stop(e);
	if (e->vars)
		for (uint32_t i = 0; i < e->n_slots; i++)
			free(e->vars[i]);
	/* before the rings its threads read, after the calls that held versions */
	ivr_flowsvc_free(e->flowsvc);
	ivr_prompt_unref(e->moh);
	ivr_prompt_unref(e->moh_wb);
	ivr_prompt_cache_free(e->prompts);
	ivr_mixer_free(e->mixer);
	if (e->asr_rings)
		for (unsigned i = 0; i < e->n_workers; i++)
			free(e->asr_rings[i]);
	free(e->asr_rings);
	free(e->arena);
	free(e->free_slots);
	free(e->closing);
	free(e->vars);
	free(e->port_used);
	free(e->workers);
	free(e->worker_load);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

const char *ivr_engine_io_backend(struct ivr_engine *e)
{
	return e && e->started && e->workers[0] ? ivr_worker_backend(e->workers[0]) : "none";
}

struct ivr_ring *ivr_engine_asr_ring(struct ivr_engine *e, unsigned worker)
{
	if (!e || !e->asr_rings || worker >= e->n_workers)
		return NULL;
	return e->asr_rings[worker];
}

const char *ivr_engine_ring_name(struct ivr_engine *e)
{
	return e ? e->ring_name : "";
}

static int parse_remote(const char *s, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/*
 * Bind RTP on a free even port of the range and RTCP on the next one
 * (RFC 3550 11).  Lock held.  @return 0 and both fds, or -errno.
 */
static int bind_port(struct ivr_engine *e, uint16_t *port_out, int *rtp_fd, int *rtcp_fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, e->bind_addr, &a.sin_addr);
	int fd = udp_socket(), fd2 = udp_socket();
	if (fd < 0 || fd2 < 0) {
		int err = fd < 0 ? fd : fd2;
		if (fd >= 0)
			close(fd);
		if (fd2 >= 0)
			close(fd2);
		return err;
	}
	for (uint32_t tries = 0; tries < e->n_ports; tries++) {
		uint32_t pi = e->port_cursor;
		e->port_cursor = (e->port_cursor + 1) % e->n_ports;
		if (e->port_used[pi])
			continue;
		uint16_t port = (uint16_t)(e->cfg.port_min + pi * 2);
		if (port == 65535)
			continue;
		a.sin_port = htons(port);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			if (errno == EADDRINUSE)
				continue;
			break;
		}
		a.sin_port = htons((uint16_t)(port + 1));
		if (bind(fd2, (struct sockaddr *)&a, sizeof(a)) < 0) {
			/* RTP is bound now and a socket cannot be unbound: start afresh. */
			close(fd);
			fd = udp_socket();
			if (fd < 0)
				break;
			continue;
		}
		e->port_used[pi] = 1;
		*port_out = port;
		*rtp_fd = fd;
		*rtcp_fd = fd2;
		return 0;
	}
	int err = errno == EADDRINUSE || errno == 0 ? -ENOSPC : -errno;
	if (fd >= 0)
		close(fd);
	close(fd2);
	return err;
}

/*
 * Undo a create_call that holds e->lock, slot @slot and port pair @port (sockets @fd,
 * @rtcp_fd): close the sockets, free the port and the slot, unlock, drop the flow
 * reference @fv (may be NULL).  One unwind for every step that can fail after binding.
 */
static void create_undo_locked(struct ivr_engine *e, uint32_t slot, uint16_t port, int fd,
			       int rtcp_fd, struct ivr_flowsvc_flow *fv)
{
	close(fd);
	close(rtcp_fd);
	e->port_used[(port - e->cfg.port_min) / 2] = 0;
	e->free_slots[e->n_free++] = slot;
	pthread_mutex_unlock(&e->lock);
	ivr_flowsvc_release(fv);
}

/*
 * Platform vars (a JSON object) -> the slot's "key\0value\0" list for call_start.
 * Strings and numbers are kept (numbers as JSON text); nested values are
 * skipped; what does not fit is left out (the router has the vars anyway).
 */
static void keep_vars(struct ivr_call *c, const char *json)
{
	c->n_flow_vars = 0;
	json_t *j = json ? json_loads(json, 0, NULL) : NULL;
	if (!j)
		return;
	size_t used = 0;
	const char *key;
	json_t *val;
	json_object_foreach(j, key, val)
	{
		char num[64];
		const char *text = NULL;
		if (json_is_string(val)) {
			text = json_string_value(val);
		} else if (json_is_integer(val)) {
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(val));
			text = num;
		} else if (json_is_real(val)) {
			snprintf(num, sizeof(num), "%g", json_real_value(val));
			text = num;
		} else if (json_is_boolean(val)) {
			text = json_is_true(val) ? "true" : "false";
		}
		if (!text)
			continue;
		size_t kl = strlen(key) + 1, vl = strlen(text) + 1;
		if (c->n_flow_vars >= IVR_CALL_VARS_MAX || used + kl + vl > sizeof(c->flow_vars))
			break;
		memcpy(c->flow_vars + used, key, kl);
		memcpy(c->flow_vars + used + kl, text, vl);
		used += kl + vl;
		c->n_flow_vars++;
	}
	json_decref(j);
}

static bool valid_json_object(const char *s)
{
	if (!s)
		return true;
	json_error_t je;
	json_t *j = json_loads(s, 0, &je);
	bool ok = j && json_is_object(j);
	json_decref(j);
	return ok;
}

int ivr_call_create(struct ivr_engine *e, const struct ivr_call_params *p, uint64_t *call_id,
		    uint16_t *local_port)
{
	if (!e || !p || !call_id)
		return fail(-EINVAL, "create_call: missing arguments");
	if (!e->started)
		return fail(-EAGAIN, "create_call: engine not started");
	struct sockaddr_in remote;
	bool have_remote = p->remote && *p->remote;
	if (have_remote && parse_remote(p->remote, &remote) < 0)
		return fail(-EINVAL, "create_call: remote '%s' is not ipv4:port", p->remote);
	enum ivr_codec_id cid = IVR_CODEC_PCMU;
	if (p->codec && ivr_codec_from_name(p->codec, &cid) < 0)
		return fail(-ENOTSUP, "create_call: unknown codec '%s'", p->codec);
	struct ivr_codec codec;
	int r = ivr_codec_init(&codec, cid, p->pt);
	if (r < 0)
		return fail(r, "create_call: bad payload type %d", p->pt);
	r = ivr_codec_set_rate(&codec, p->rate_hz);
	if (r < 0)
		return fail(r, "create_call: rate_hz %u not supported for %s (%s)", p->rate_hz,
			    ivr_codec_name(cid),
			    cid == IVR_CODEC_OPUS ? "8000, 16000 or 48000" : "8000 only");
	if (p->dtmf_pt > 127 || (p->dtmf_pt >= 0 && p->dtmf_pt == codec.pt))
		return fail(-EINVAL, "create_call: bad dtmf_pt %d", p->dtmf_pt);
	if (p->ptime_ms && p->ptime_ms != IVR_FRAME_MS)
		return fail(-EINVAL, "create_call: ptime_ms %u not supported (20 only)",
			    p->ptime_ms);
	if (p->vars_json && strlen(p->vars_json) >= IVR_CALL_VARS_MAX_BYTES)
		return fail(-E2BIG, "create_call: vars over %d bytes", IVR_CALL_VARS_MAX_BYTES - 1);
	if (!valid_json_object(p->vars_json))
		return fail(-EINVAL, "create_call: vars is not a JSON object");

	/* The flow is loaded (parsed, grammars compiled, prompts rendered) before the
	 * engine lock: a first load takes a while and must not stall other calls. */
	struct ivr_flowsvc_flow *fv = NULL;
	if (e->flowsvc && p->flow && *p->flow) {
		char err[512] = "";
		int fr = ivr_flowsvc_acquire(e->flowsvc, p->flow, &fv, err, sizeof(err));
		if (fr < 0)
			return fail(fr, "create_call: flow %s: %s", p->flow, err);
		/* a wideband call plays the flow's prompts at 16 kHz */
		fr = ivr_flowsvc_flow_use_rate(fv, codec.rate_hz);
		if (fr < 0) {
			ivr_flowsvc_release(fv);
			return fail(fr, "create_call: flow %s: prompts at %u Hz", p->flow,
				    codec.rate_hz);
		}
	}

	pthread_mutex_lock(&e->lock);
	reclaim_locked(e);
	/* Slots being retired come back within a tick: wait for them rather than refuse. */
	for (int i = 0; i < 50 && e->n_free == 0 && e->n_closing > 0; i++) {
		pthread_mutex_unlock(&e->lock);
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&e->lock);
		reclaim_locked(e);
	}
	if (e->n_free == 0) {
		e->refused++;
		pthread_mutex_unlock(&e->lock);
		ivr_flowsvc_release(fv);
		return fail(-ENOSPC, "create_call: max calls (%u) reached", e->n_slots);
	}
	uint16_t port = 0;
	int fd = -1, rtcp_fd = -1;
	r = bind_port(e, &port, &fd, &rtcp_fd);
	if (r < 0) {
		e->refused++;
		pthread_mutex_unlock(&e->lock);
		ivr_flowsvc_release(fv);
		return fail(r, "create_call: no free RTP port in %u-%u (%s)", e->cfg.port_min,
			    e->cfg.port_max, ivr_strerror(r));
	}
	uint32_t slot = e->free_slots[--e->n_free];
	struct ivr_call *c = slot_call(e, slot);
	uint32_t gen = c->gen + 1;
	if (gen >= (1u << 29))
		gen = 1;
	r = ivr_call_init(c, slot, gen);
	if (r < 0) {
		create_undo_locked(e, slot, port, fd, rtcp_fd, fv);
		return fail(r, "create_call: slot init failed");
	}
	c->codec = codec;
	c->dtmf_pt = p->dtmf_pt;
	c->call_id = make_id(slot, gen);
	c->aec_on = p->aec == IVR_CALL_AEC_ON || (p->aec == IVR_CALL_AEC_AUTO && fv);
	r = ivr_call_dsp_setup(c);
	if (r < 0) {
		create_undo_locked(e, slot, port, fd, rtcp_fd, fv);
		return fail(r, "create_call: DSP chain setup failed (%s)", ivr_strerror(r));
	}
	if (fv) {
		r = ivr_call_flow_setup(c, e->flowsvc, fv);
		if (r < 0) {
			ivr_call_dsp_release(c);
			create_undo_locked(e, slot, port, fd, rtcp_fd, fv);
			return fail(r, "create_call: flow runtime setup failed (%s)",
				    ivr_strerror(r));
		}
	}
	/* Least loaded worker: calls never move, so balance at creation. */
	unsigned w = 0;
	for (unsigned i = 1; i < e->n_workers; i++)
		if (e->worker_load[i] < e->worker_load[w])
			w = i;
	e->worker_load[w]++;
	c->worker = w;
	c->asr = e->asr_rings ? e->asr_rings[w] : NULL;
	c->fd = fd;
	c->rtcp_fd = rtcp_fd;
	c->local_port = port;
	c->codec = codec;
	c->dtmf_pt = p->dtmf_pt;
	c->frame_samples = codec.rate_hz / 50;
	c->recorder = e->rec;
	c->mixer = e->mixer;
	c->moh_src = codec.rate_hz == 8000 ? e->moh : moh_at(e, codec.rate_hz);
	c->events = e->have_events ? &e->events : NULL;
	c->created_ns = ivr_now_ns();
	if (getrandom(&c->ssrc, sizeof(c->ssrc), GRND_NONBLOCK) != sizeof(c->ssrc))
		c->ssrc = (uint32_t)(c->created_ns ^ (c->created_ns >> 32) ^ slot);
	c->tx_seq = (uint16_t)(c->ssrc >> 7);
	c->tx_ts = c->ssrc * 2654435761u;
	snprintf(c->ani, sizeof(c->ani), "%s", p->ani ? p->ani : "");
	snprintf(c->dnis, sizeof(c->dnis), "%s", p->dnis ? p->dnis : "");
	snprintf(c->flow, sizeof(c->flow), "%s", p->flow ? p->flow : "");
	ivr_rtp_latch_init(&c->latch, have_remote ? (struct sockaddr *)&remote : NULL,
			   have_remote ? sizeof(remote) : 0);
	e->vars[slot] = strdup(p->vars_json ? p->vars_json : "{}");
	if (c->flow_ready)
		keep_vars(c, p->vars_json);
	atomic_store_explicit(&c->state, IVR_CALL_SETUP, memory_order_release);
	e->created++;
	uint64_t id = make_id(slot, gen);
	c->call_id = id;
	pthread_mutex_unlock(&e->lock);
	struct ivr_wcmd cmd = { .op = IVR_WCMD_ADD, .slot = slot, .gen = gen };
	r = ivr_worker_post(e->workers[w], &cmd);
	if (r < 0) {
		pthread_mutex_lock(&e->lock);
		atomic_store(&c->state, IVR_CALL_RETIRED);
		e->closing[e->n_closing++] = slot;
		reclaim_locked(e);
		pthread_mutex_unlock(&e->lock);
		return fail(r, "create_call: worker %u queue full", w);
	}
	*call_id = id;
	if (local_port)
		*local_port = port;
	return 0;
}

/* The call of @id if it is live (SETUP/ACTIVE). */
static struct ivr_call *find(struct ivr_engine *e, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & ((1u << SLOT_BITS) - 1));
	uint32_t gen = (uint32_t)(id >> SLOT_BITS);
	if (!e || slot >= e->n_slots || gen == 0)
		return NULL;
	struct ivr_call *c = slot_call(e, slot);
	int st = atomic_load_explicit(&c->state, memory_order_acquire);
	if (c->gen != gen || (st != IVR_CALL_SETUP && st != IVR_CALL_ACTIVE))
		return NULL;
	return c;
}

static int no_call(const char *op, uint64_t id)
{
	return fail(-ENOENT, "%s: no call %llu", op, (unsigned long long)id);
}

static int post(struct ivr_engine *e, struct ivr_call *c, struct ivr_wcmd *cmd, const char *op)
{
	cmd->slot = c->slot;
	cmd->gen = c->gen;
	int r = ivr_worker_post(e->workers[c->worker], cmd);
	if (r < 0)
		return fail(r, "%s: worker %u queue full", op, c->worker);
	return 0;
}

int ivr_call_destroy(struct ivr_engine *e, uint64_t call_id)
{
	if (!e)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	struct ivr_call *c = find(e, call_id);
	if (!c) {
		pthread_mutex_unlock(&e->lock);
		return no_call("destroy_call", call_id);
	}
	ivr_mixer_leave(e->mixer, c->slot);
	atomic_store_explicit(&c->state, IVR_CALL_CLOSING, memory_order_release);
	e->closing[e->n_closing++] = c->slot;
	pthread_mutex_unlock(&e->lock);
	struct ivr_wcmd cmd = { .op = IVR_WCMD_DEL };
	cmd.slot = c->slot;
	cmd.gen = c->gen;
	/* A full queue here would leak the slot: keep trying (the worker drains each tick). */
	while (ivr_worker_post(e->workers[c->worker], &cmd) < 0) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

int ivr_call_play(struct ivr_engine *e, uint64_t call_id, const char *file, bool loop, bool moh)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("play", call_id);
	char err[200] = "";
	/* at the call's rate: the cache converts each file once per rate in use */
	struct ivr_prompt *p =
		ivr_prompt_get_at(e->prompts, file, c->codec.rate_hz, err, sizeof(err));
	if (!p)
		return fail(-errno, "play: %s", err[0] ? err : strerror(errno));
	struct ivr_wcmd cmd = { .op = IVR_WCMD_PLAY, .prompt = p, .loop = loop, .moh = moh };
	int r = post(e, c, &cmd, "play");
	if (r < 0)
		ivr_prompt_unref(p);
	ivr_prompt_cache_sweep(e->prompts);
	return r;
}

int ivr_call_stop_play(struct ivr_engine *e, uint64_t call_id)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("stop_play", call_id);
	struct ivr_wcmd cmd = { .op = IVR_WCMD_STOP_PLAY };
	return post(e, c, &cmd, "stop_play");
}

int ivr_call_send_dtmf(struct ivr_engine *e, uint64_t call_id, const char *digits, const char *mode)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("send_dtmf", call_id);
	if (!digits || !*digits || strlen(digits) >= sizeof(((struct ivr_wcmd *)0)->digits))
		return fail(-EINVAL, "send_dtmf: give 1 to 31 digits");
	if (strspn(digits, "0123456789*#ABCD") != strlen(digits))
		return fail(-EINVAL, "send_dtmf: digits must be 0-9 * # A-D");
	bool rfc = mode && !strcmp(mode, "rfc4733");
	if (mode && !rfc && strcmp(mode, "inband") != 0)
		return fail(-EINVAL, "send_dtmf: mode must be inband or rfc4733");
	if (rfc && (c->dtmf_pt < 0 || !c->rfc_tx_ready))
		return fail(-EINVAL, "send_dtmf: rfc4733 needs a dtmf_pt for the call");
	struct ivr_wcmd cmd = { .op = IVR_WCMD_DTMF, .rfc4733 = rfc };
	snprintf(cmd.digits, sizeof(cmd.digits), "%s", digits);
	return post(e, c, &cmd, "send_dtmf");
}

static int parse_channels(const char *s, unsigned *mask)
{
	*mask = 0;
	if (!s || !*s)
		return 0;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "caller"))
			*mask |= IVR_REC_CALLER;
		else if (!strcmp(t, "engine"))
			*mask |= IVR_REC_ENGINE;
		else if (!strcmp(t, "mixed"))
			*mask |= IVR_REC_MIXED;
		else
			return -EINVAL;
	}
	return 0;
}

int ivr_call_record_start(struct ivr_engine *e, uint64_t call_id, const char *path,
			  const char *channels)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("record_start", call_id);
	unsigned mask;
	if (parse_channels(channels, &mask) < 0)
		return fail(-EINVAL,
			    "record_start: channels must be a list of caller,engine,mixed");
	char err[200] = "";
	uint32_t rec_id;
	int r = ivr_recorder_open(e->rec, c->slot, path, mask, c->codec.rate_hz, &rec_id, err,
				  sizeof(err));
	if (r < 0)
		return fail(r, "%s", err);
	struct ivr_wcmd cmd = { .op = IVR_WCMD_REC_START, .rec_id = rec_id };
	return post(e, c, &cmd, "record_start");
}

int ivr_call_record_stop(struct ivr_engine *e, uint64_t call_id)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("record_stop", call_id);
	struct ivr_wcmd cmd = { .op = IVR_WCMD_REC_STOP };
	return post(e, c, &cmd, "record_stop");
}

int ivr_call_record_pause(struct ivr_engine *e, uint64_t call_id, bool pause)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call(pause ? "record_pause" : "record_resume", call_id);
	struct ivr_wcmd cmd = { .op = pause ? IVR_WCMD_REC_PAUSE : IVR_WCMD_REC_RESUME };
	return post(e, c, &cmd, "record_pause");
}

static int64_t whisper_slot(struct ivr_engine *e, uint64_t speak_to)
{
	if (!speak_to)
		return -1;
	struct ivr_call *t = find(e, speak_to);
	return t ? (int64_t)t->slot : -2;
}

int ivr_call_conf_join(struct ivr_engine *e, uint64_t call_id, const char *conf, bool listen,
		       bool speak, uint64_t speak_to)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("conf_join", call_id);
	int64_t ws = whisper_slot(e, speak_to);
	if (ws == -2)
		return no_call("conf_join: speak_to", speak_to);
	/* the rate converter for conferences that mix 8 and 16 kHz members (mixer.h) */
	pthread_mutex_lock(&e->lock);
	int r = ivr_call_mix_setup(c);
	pthread_mutex_unlock(&e->lock);
	if (r < 0)
		return fail(r, "conf_join: rate converter (%s)", ivr_strerror(r));
	r = ivr_mixer_join(e->mixer, conf, c->slot, listen, speak, ws);
	if (r == -ENOSPC)
		return fail(r, "conf_join: conference table or conference '%s' full", conf);
	if (r < 0)
		return fail(r, "conf_join: bad conference name");
	return 0;
}

int ivr_call_conf_flags(struct ivr_engine *e, uint64_t call_id, bool listen, bool speak,
			uint64_t speak_to)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("conf_flags", call_id);
	int64_t ws = whisper_slot(e, speak_to);
	if (ws == -2)
		return no_call("conf_flags: speak_to", speak_to);
	int r = ivr_mixer_flags(e->mixer, c->slot, listen, speak, ws);
	if (r < 0)
		return fail(r, "conf_flags: call is not in a conference");
	return 0;
}

int ivr_call_conf_leave(struct ivr_engine *e, uint64_t call_id)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("conf_leave", call_id);
	if (ivr_mixer_leave(e->mixer, c->slot) < 0)
		return fail(-ENOENT, "conf_leave: call is not in a conference");
	return 0;
}

/* The spoken text of a queue announcement (position is 1 for the caller served next). */
static void announce_text(unsigned position, unsigned wait_s, char *out, size_t cap)
{
	char ahead[96], wait[96];
	unsigned n = position ? position - 1 : 0;
	if (n == 0)
		snprintf(ahead, sizeof(ahead), "You are next in line.");
	else if (n == 1)
		snprintf(ahead, sizeof(ahead), "There is 1 caller ahead of you.");
	else
		snprintf(ahead, sizeof(ahead), "There are %u callers ahead of you.", n);
	/* rounded the way people say it: fewer distinct texts, so fewer renderings */
	if (wait_s < 60) {
		unsigned s = IVR_MAX((wait_s + 9) / 10 * 10, 10u);
		snprintf(wait, sizeof(wait), "Your expected wait is about %u seconds.", s);
	} else {
		unsigned m = (wait_s + 30) / 60;
		snprintf(wait, sizeof(wait), "Your expected wait is about %u minute%s.", m,
			 m == 1 ? "" : "s");
	}
	snprintf(out, cap, "%s %s", ahead, wait);
}

int ivr_call_queue_announce(struct ivr_engine *e, uint64_t call_id, unsigned position,
			    unsigned wait_s, char *text, size_t text_cap, char *path,
			    size_t path_cap)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("queue_announce", call_id);
	if (!atomic_load_explicit(&c->queued, memory_order_acquire))
		return fail(-EAGAIN, "queue_announce: call %llu is not waiting in a queue",
			    (unsigned long long)call_id);
	char t[200], p[1100];
	announce_text(position, wait_s, t, sizeof(t));
	int r = -ENOTSUP; /* the renderer lives in asr/testset.c, built only with ASR */
#if IVR_HAVE_ASR
	/* flite on this control thread, once per distinct text: the file is the cache */
	r = ivr_testset_render(t, "slt", cache_dir(e), p, sizeof(p));
#endif
	if (r < 0)
		return fail(r, "queue_announce: cannot render the announcement with flite (%s)",
			    ivr_strerror(r));
	char err[200] = "";
	struct ivr_prompt *pr =
		ivr_prompt_get_at(e->prompts, p, c->codec.rate_hz, err, sizeof(err));
	if (!pr)
		return fail(errno ? -errno : -EIO, "queue_announce: %s", err[0] ? err : p);
	struct ivr_wcmd cmd = { .op = IVR_WCMD_QUEUE_ANNOUNCE, .prompt = pr };
	r = post(e, c, &cmd, "queue_announce");
	if (r < 0) {
		ivr_prompt_unref(pr);
		return r;
	}
	if (text)
		snprintf(text, text_cap, "%s", t);
	if (path)
		snprintf(path, path_cap, "%s", p);
	return 0;
}

int ivr_call_transfer(struct ivr_engine *e, uint64_t call_id, const char *target)
{
	if (!target || !*target)
		return fail(-EINVAL, "transfer: target is required");
	json_t *v = json_pack("{s:s}", "transfer_target", target);
	char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (!s)
		return fail(-ENOMEM, "transfer: out of memory");
	int r = ivr_call_set_vars(e, call_id, s);
	free(s);
	if (r < 0)
		return r == -ENOENT ? no_call("transfer", call_id) : r;
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("transfer", call_id);
	struct ivr_wcmd cmd = { .op = IVR_WCMD_QUEUE_TRANSFER };
	return post(e, c, &cmd, "transfer");
}

int ivr_call_hangup(struct ivr_engine *e, uint64_t call_id)
{
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("hangup", call_id);
	/* the worker applies commands in order: the cause is set before the DEL */
	struct ivr_wcmd cmd = { .op = IVR_WCMD_END_CAUSE, .cause = "router" };
	int r = post(e, c, &cmd, "hangup");
	return r < 0 ? r : ivr_call_destroy(e, call_id);
}

int ivr_call_set_vars(struct ivr_engine *e, uint64_t call_id, const char *vars_json)
{
	if (!valid_json_object(vars_json) || !vars_json)
		return fail(-EINVAL, "set_vars: vars is not a JSON object");
	pthread_mutex_lock(&e->lock);
	struct ivr_call *c = find(e, call_id);
	if (!c) {
		pthread_mutex_unlock(&e->lock);
		return no_call("set_vars", call_id);
	}
	/* Merge: new keys replace old ones, others stay. */
	json_t *old = json_loads(e->vars[c->slot] ? e->vars[c->slot] : "{}", 0, NULL);
	json_t *nw = json_loads(vars_json, 0, NULL);
	if (!old)
		old = json_object();
	json_object_update(old, nw);
	char *s = json_dumps(old, JSON_COMPACT);
	json_decref(old);
	json_decref(nw);
	if (!s) {
		pthread_mutex_unlock(&e->lock);
		return fail(-ENOMEM, "set_vars: out of memory");
	}
	if (strlen(s) >= IVR_CALL_VARS_MAX_BYTES) {
		free(s);
		pthread_mutex_unlock(&e->lock);
		return fail(-E2BIG, "set_vars: vars would be over %d bytes",
			    IVR_CALL_VARS_MAX_BYTES - 1);
	}
	free(e->vars[c->slot]);
	e->vars[c->slot] = s;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int ivr_call_get_vars(struct ivr_engine *e, uint64_t call_id, char *buf, size_t cap)
{
	if (!e || (!buf && cap))
		return fail(-EINVAL, "get_vars: no buffer");
	pthread_mutex_lock(&e->lock);
	struct ivr_call *c = find(e, call_id);
	if (!c) {
		pthread_mutex_unlock(&e->lock);
		return no_call("get_vars", call_id);
	}
	const char *v = e->vars[c->slot] ? e->vars[c->slot] : "{}";
	size_t n = strlen(v);
	int r = (int)n;
	if (n + 1 > cap)
		r = -ENOSPC;
	else
		memcpy(buf, v, n + 1);
	pthread_mutex_unlock(&e->lock);
	return r;
}

int ivr_call_get_info(struct ivr_engine *e, uint64_t call_id, struct ivr_call_info *info)
{
	if (!info)
		return fail(-EINVAL, "stats: no info buffer");
	struct ivr_call *c = find(e, call_id);
	if (!c)
		return no_call("stats", call_id);
	memset(info, 0, sizeof(*info));
	/* A racy snapshot of counters owned by the media thread: fine for monitoring. */
	struct ivr_call_stats st = c->st;
	info->call_id = call_id;
	info->local_port = c->local_port;
	info->worker = c->worker;
	snprintf(info->codec, sizeof(info->codec), "%s", ivr_codec_name(c->codec.id));
	info->rate_hz = c->codec.rate_hz;
	info->codec_rate_hz = c->codec.codec_rate_hz;
	if (c->latch.addr_len && ((struct sockaddr *)&c->latch.addr)->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&c->latch.addr;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(info->remote, sizeof(info->remote), "%s:%u", ip, ntohs(a->sin_port));
	}
	info->rx_pkts = st.rx_pkts;
	info->rx_bad = st.rx_bad + st.rx_other_pt;
	info->rx_foreign = st.rx_foreign;
	info->rx_flood_dropped = st.rx_flood_dropped;
	info->rx_dtmf_pkts = st.rx_dtmf_pkts;
	info->tx_pkts = st.tx_pkts;
	info->tx_errors = st.tx_errors;
	info->frames_played = st.frames_played;
	info->frames_concealed = st.frames_concealed;
	info->frames_fec = st.frames_fec;
	info->frames_silent = st.frames_silent;
	info->frames_skipped = st.frames_skipped;
	info->rec_dropped = st.rec_dropped;
	struct ivr_jb_stats js;
	ivr_jb_get_stats(ivr_call_jb(c), &js);
	info->jb_late = js.late;
	info->jb_duplicates = js.duplicates;
	info->jb_target_frames = js.target_frames;
	info->jb_depth_frames = js.depth_frames;
	info->jitter_ms_x100 = (uint32_t)((uint64_t)ivr_rtp_source_jitter_units(&c->src) * 100000 /
					  c->codec.clock_hz);
	uint32_t ext = ivr_rtp_source_ext_max(&c->src);
	info->cum_lost = c->src.valid ? (int32_t)(ext - c->src.base_seq + 1 - c->src.received) : 0;
	info->rtcp_rx = st.rtcp_rx;
	info->rtcp_tx = st.rtcp_tx;
	info->rtt_us = st.rtt_us;
	info->remote_fraction_lost = st.remote_fraction_lost;
	info->playing = c->prompt != NULL;
	info->recording = c->rec_id != 0;
	info->first_prompt_ms = c->first_prompt_tx_ns
					? (int64_t)(c->first_prompt_tx_ns - c->created_ns) / 1000000
					: -1;
	return 0;
}

int ivr_engine_get_stats(struct ivr_engine *e, struct ivr_engine_stats *st)
{
	if (!e || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&e->lock);
	reclaim_locked(e);
	st->calls_active = e->n_slots - e->n_free - e->n_closing;
	st->max_calls = e->n_slots;
	st->calls_created = e->created;
	st->calls_refused = e->refused;
	pthread_mutex_unlock(&e->lock);
	st->n_workers = e->n_workers;
	uint64_t sum = 0;
	for (unsigned i = 0; i < e->n_workers; i++) {
		if (!e->workers[i])
			continue;
		struct ivr_worker_stats ws;
		ivr_worker_get_stats(e->workers[i], &ws);
		st->ticks += ws.ticks;
		st->overruns += ws.overruns;
		st->rx_dgrams += ws.rx_dgrams;
		st->tx_errors += ws.tx_errors;
		st->cpu_ns += ws.cpu_ns;
		sum += ws.tick_ns_sum;
		if (ws.tick_ns_max > st->tick_ns_max)
			st->tick_ns_max = ws.tick_ns_max;
	}
	st->tick_ns_avg = st->ticks ? sum / st->ticks : 0;
	if (e->rec) {
		struct ivr_recorder_stats rs;
		ivr_recorder_get_stats(e->rec, &rs);
		st->rec_frames_written = rs.frames_written;
		st->rec_frames_dropped = rs.frames_dropped;
	}
	st->prompts_cached = ivr_prompt_cache_count(e->prompts);
	st->slot_bytes = e->stride;
	return 0;
}

int ivr_engine_reload_prompts(struct ivr_engine *e)
{
	int r = ivr_prompt_cache_reload(e->prompts);
	if (r < 0)
		return fail(r, "reload_prompts: %s", ivr_strerror(r));
	if (e->flowsvc) {
		/* flows too: new calls get the new version, live calls keep theirs */
		char err[512] = "";
		int n = ivr_flowsvc_reload(e->flowsvc, NULL, err, sizeof(err));
		if (n < 0)
			return fail(n, "reload_prompts: flows: %s", err);
		/* versions no call uses go now; the others when their last call ends */
		(void)ivr_flowsvc_sweep(e->flowsvc);
		r += n;
	}
	return r;
}

int ivr_engine_sync(struct ivr_engine *e)
{
	for (unsigned i = 0; i < e->n_workers; i++)
		if (e->workers[i] && ivr_worker_sync(e->workers[i]) < 0)
			return -ETIMEDOUT;
	pthread_mutex_lock(&e->lock);
	reclaim_locked(e);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

void ivr_engine_flush_recordings(struct ivr_engine *e)
{
	if (e->rec)
		ivr_recorder_flush(e->rec);
}
