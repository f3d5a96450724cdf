/* SPDX-License-Identifier: MIT */
/* engine/worker.c - media worker thread, tick loop and command ring; see worker.h. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/shmring.h"
#include "dsp/rfc4733.h"
#include "engine/call.h"
#include "engine/flowsvc.h"
#include "engine/io_epoll.h"
#include "engine/io_uring.h"
#include "engine/prompt.h"
#include "engine/recorder.h"
#include "engine/worker.h"

_Static_assert(IVR_CALL_TAG_RTCP == IVR_IO_TAG_ALT, "one tag bit for the RTCP socket");

/* valgrind does not emulate io_uring (the ring hangs under it): fall back to epoll there. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() 0
#endif

#define TICK_NS	 (IVR_FRAME_MS * 1000000ull)
#define CMD_RING 1024 /* power of two */
/* Lag (ticks behind the grid) a worker catches up by running ticks back to back: up to 40 ms,
 * a typical receiver's jitter-buffer allowance; beyond it, it skips ahead (worker_main). */
#define MAX_LAG_TICKS 2

struct ivr_worker {
	struct ivr_worker_cfg cfg;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	const struct ivr_io_ops *ops;
	void *io;
	/* start-up handshake: the backend is created on the worker thread */
	atomic_int ready; /* 0 pending, 1 ok, -errno failed */
	char err[160];

	/* command ring: producers serialised by post_lock, consumer = worker */
	pthread_mutex_t post_lock;
	_Alignas(64) atomic_uint cmd_head;
	_Alignas(64) atomic_uint cmd_tail;
	struct ivr_wcmd cmds[CMD_RING];

	/* calls owned by this worker (worker thread only) */
	uint32_t *active;
	uint32_t n_active;

	/* counters: written by the worker, read racily */
	_Alignas(64) struct ivr_worker_stats st;
};

static atomic_bool fallback_logged;

uint64_t ivr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline struct ivr_call *slot_call(struct ivr_worker *w, uint32_t slot)
{
	return (struct ivr_call *)(w->cfg.arena + (size_t)slot * w->cfg.stride);
}

static inline uint64_t call_tag(const struct ivr_call *c)
{
	return ((uint64_t)c->slot << 32) | c->gen;
}

static inline uint64_t rtcp_tag(const struct ivr_call *c)
{
	return call_tag(c) | IVR_CALL_TAG_RTCP;
}

/* The call behind @tag if it is still the same, active call on this worker. */
static struct ivr_call *tag_call(struct ivr_worker *w, uint64_t tag)
{
	uint32_t slot = (uint32_t)(tag >> 32), gen = (uint32_t)tag & ~IVR_CALL_TAG_RTCP;
	if (slot >= w->cfg.n_slots)
		return NULL;
	struct ivr_call *c = slot_call(w, slot);
	if (c->gen != gen || c->worker != w->cfg.index ||
	    atomic_load_explicit(&c->state, memory_order_relaxed) != IVR_CALL_ACTIVE)
		return NULL;
	return c;
}

static void on_rx(void *ctx, uint64_t tag, const uint8_t *data, size_t n_bytes,
		  const struct sockaddr *from, socklen_t from_len, uint64_t now_ns)
{
	struct ivr_worker *w = ctx;
	w->st.rx_dgrams++;
	struct ivr_call *c = tag_call(w, tag);
	if (!c) {
		w->st.rx_stale++;
		return;
	}
	if (tag & IVR_CALL_TAG_RTCP)
		ivr_call_on_rtcp(c, data, n_bytes, from, from_len, now_ns);
	else
		ivr_call_on_packet(c, data, n_bytes, from, from_len, now_ns);
}

static int fd_of(void *ctx, uint64_t tag)
{
	struct ivr_call *c = tag_call(ctx, tag);
	if (!c)
		return -1;
	return (tag & IVR_CALL_TAG_RTCP) ? c->rtcp_fd : c->fd;
}

static void remove_active(struct ivr_worker *w, uint32_t slot)
{
	for (uint32_t i = 0; i < w->n_active; i++)
		if (w->active[i] == slot) {
			w->active[i] = w->active[--w->n_active];
			return;
		}
}

static void apply(struct ivr_worker *w, const struct ivr_wcmd *cmd)
{
	if (cmd->slot >= w->cfg.n_slots)
		return;
	struct ivr_call *c = slot_call(w, cmd->slot);
	if (c->gen != cmd->gen) {
		/* A command for a call that is gone: only references need dropping. */
		ivr_prompt_unref(cmd->prompt);
		return;
	}
	int state = atomic_load_explicit(&c->state, memory_order_acquire);
	if (cmd->op == IVR_WCMD_ADD) {
		if (state != IVR_CALL_SETUP)
			return;
		w->active[w->n_active++] = c->slot;
		/* release: the call is ours from now; control reads state only */
		atomic_store_explicit(&c->state, IVR_CALL_ACTIVE, memory_order_release);
		if (w->ops->add(w->io, c->fd, call_tag(c)) < 0)
			c->st.rx_bad++;
		if (c->rtcp_fd >= 0 && w->ops->add(w->io, c->rtcp_fd, rtcp_tag(c)) < 0)
			c->st.rtcp_bad++;
		return;
	}
	if (state != IVR_CALL_ACTIVE && state != IVR_CALL_CLOSING) {
		ivr_prompt_unref(cmd->prompt);
		return;
	}
	switch (cmd->op) {
	case IVR_WCMD_DEL:
		remove_active(w, c->slot);
		w->ops->del(w->io, c->fd, call_tag(c));
		if (c->rtcp_fd >= 0)
			w->ops->del(w->io, c->rtcp_fd, rtcp_tag(c));
		ivr_call_retire(c);
		/* release: everything the worker did with the slot happens before reuse */
		atomic_store_explicit(&c->state, IVR_CALL_RETIRED, memory_order_release);
		break;
	case IVR_WCMD_PLAY:
		ivr_prompt_unref(c->prompt);
		c->prompt = cmd->prompt;
		c->play_pos = 0;
		c->play_loop = cmd->loop;
		c->play_moh = cmd->moh;
		break;
	case IVR_WCMD_STOP_PLAY:
		ivr_prompt_unref(c->prompt);
		c->prompt = NULL;
		break;
	case IVR_WCMD_DTMF:
		if (cmd->rfc4733) {
			/* the same timing as the in-band sender */
			if (c->rfc_tx_ready &&
			    ivr_rfc4733_tx_send((struct ivr_rfc4733_tx *)c->rfc_tx, cmd->digits,
						IVR_CALL_DTMF_ON_MS, IVR_CALL_DTMF_OFF_MS) < 0)
				c->st.tx_errors++;
			break;
		}
		if (ivr_call_dtmf_queue(c, cmd->digits) < 0)
			c->st.tx_errors++;
		break;
	case IVR_WCMD_REC_START:
		if (c->rec_id && c->recorder)
			(void)ivr_recorder_push(c->recorder, w->cfg.index, c->slot, c->rec_id, NULL,
						NULL, 0, true);
		c->rec_id = cmd->rec_id;
		c->rec_paused = false;
		break;
	case IVR_WCMD_REC_STOP:
		if (c->rec_id) {
			c->rec_end_pending = true;
			c->rec_end_id = c->rec_id;
			c->rec_id = 0;
		}
		break;
	case IVR_WCMD_REC_PAUSE:
		c->rec_paused = true;
		break;
	case IVR_WCMD_REC_RESUME:
		c->rec_paused = false;
		break;
	case IVR_WCMD_QUEUE_ANNOUNCE:
		ivr_call_announce_in_queue(c, cmd->prompt);
		break;
	case IVR_WCMD_QUEUE_TRANSFER:
		ivr_call_route_transfer(c);
		break;
	case IVR_WCMD_END_CAUSE:
		ivr_call_set_end_cause(c, cmd->cause);
		break;
	default:
		break;
	}
}

static void drain_cmds(struct ivr_worker *w)
{
	unsigned tail = atomic_load_explicit(&w->cmd_tail, memory_order_relaxed);
	/* acquire: the command's contents were written before head moved */
	unsigned head = atomic_load_explicit(&w->cmd_head, memory_order_acquire);
	while (tail != head) {
		apply(w, &w->cmds[tail & (CMD_RING - 1)]);
		tail++;
		w->st.cmds++;
	}
	/* release: slots are free for the producer after we are done reading them */
	atomic_store_explicit(&w->cmd_tail, tail, memory_order_release);
}

static int make_backend(struct ivr_worker *w)
{
	const char *env = getenv("IVR_FORCE_EPOLL");
	bool force = w->cfg.force_epoll || (env && *env && strcmp(env, "0") != 0);
	if (!force && UNDER_VALGRIND()) {
		if (!atomic_exchange(&fallback_logged, true))
			fprintf(stderr,
				"ivr-engine: running under valgrind (no io_uring); using epoll\n");
		force = true;
	}
	if (!force) {
		w->io = ivr_io_uring_new(w->cfg.io_entries, w->cfg.n_slots * 2, on_rx, fd_of, w,
					 w->err, sizeof(w->err));
		if (w->io) {
			w->ops = &ivr_io_uring_ops;
			return 0;
		}
		if (!atomic_exchange(&fallback_logged, true))
			fprintf(stderr, "ivr-engine: io_uring unavailable (%s); using epoll\n",
				w->err);
	}
	w->io = ivr_io_epoll_new(on_rx, fd_of, w);
	if (!w->io) {
		snprintf(w->err, sizeof(w->err), "epoll: %s", strerror(errno));
		return -errno;
	}
	w->ops = &ivr_io_epoll_ops;
	return 0;
}

/* ASR results of this worker's calls (engine/flowsvc.h), before the calls tick. */
static void deliver_results(struct ivr_worker *w)
{
	struct ivr_flowsvc_result r;
	while (ivr_flowsvc_poll(w->cfg.flowsvc, w->cfg.index, &r) == 1) {
		uint32_t slot = (uint32_t)(r.call_id & ((1u << IVR_CALL_ID_SLOT_BITS) - 1));
		if (slot >= w->cfg.n_slots)
			continue;
		struct ivr_call *c = slot_call(w, slot);
		/* relaxed: only this worker retires its calls; a slot not ours or not
		 * live has another call id or state */
		int st = atomic_load_explicit(&c->state, memory_order_relaxed);
		if (c->call_id == r.call_id && (st == IVR_CALL_ACTIVE || st == IVR_CALL_CLOSING))
			ivr_call_flow_result(c, &r);
	}
}

static void *worker_main(void *arg)
{
	struct ivr_worker *w = arg;
	int r = make_backend(w);
	atomic_store(&w->ready, r < 0 ? r : 1);
	if (r < 0)
		return NULL;
	uint64_t t0 = w->cfg.t0_ns;
	uint64_t tick = (ivr_now_ns() - t0) / TICK_NS + 1;
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		uint64_t deadline = t0 + tick * TICK_NS;
		w->ops->wait(w->io, deadline);
		uint64_t start = ivr_now_ns();
		drain_cmds(w);
		if (w->cfg.flowsvc)
			deliver_results(w);
		for (uint32_t i = 0; i < w->n_active; i++) {
			struct ivr_call *c = slot_call(w, w->active[i]);
			int len = ivr_call_tick(c, tick, start);
			if (len > 0 &&
			    w->ops->send(w->io, c->fd, call_tag(c), &c->msg[c->pkt_i ^ 1]) < 0) {
				c->st.tx_errors++;
				w->st.tx_errors++;
			}
			if (ivr_call_rtcp_tick(c, tick, start) > 0 &&
			    w->ops->send(w->io, c->rtcp_fd, rtcp_tag(c), &c->rtcp_msg) < 0)
				c->st.tx_errors++;
		}
		w->ops->flush(w->io);
		/* Readers sleeping on the event ring are woken once per tick, never per event. */
		if (w->cfg.events)
			(void)ivr_shmring_wake(w->cfg.events, w->cfg.index);
		uint64_t end = ivr_now_ns();
		uint64_t dt = end - start;
		w->st.ticks++;
		w->st.tick_ns_sum += dt;
		if (dt > w->st.tick_ns_max)
			w->st.tick_ns_max = dt;
		w->st.n_calls = w->n_active;
		tick++;
		/*
		 * A tick that ran past the next grid point is caught up: the next one runs at
		 * once, its packets a little late (the caller's jitter buffer absorbs that),
		 * and the ticks after it are back on the grid since a tick costs less than
		 * one.  Only a worker behind by MAX_LAG_TICKS or more (a stall, or work
		 * beyond one core) skips ahead and counts an overrun: its calls lose those
		 * frames once instead of lagging for the rest of their lives.  Skipping at
		 * any overrun (as before) cost every call of the worker a frame whenever
		 * one tick took 20.1 ms: 27 overruns, 5.2% of the frames skipped, in 5 s
		 * at 2,000 calls whose ticks averaged 9.4 ms.
		 */
		uint64_t now_tick = (end - t0) / TICK_NS;
		if (now_tick >= tick + MAX_LAG_TICKS) {
			w->st.overruns += now_tick - tick + 1;
			tick = now_tick + 1;
		}
	}
	drain_cmds(w);
	for (uint32_t i = 0; i < w->n_active; i++) {
		struct ivr_call *c = slot_call(w, w->active[i]);
		w->ops->del(w->io, c->fd, call_tag(c));
		if (c->rtcp_fd >= 0)
			w->ops->del(w->io, c->rtcp_fd, rtcp_tag(c));
		ivr_call_retire(c);
		atomic_store_explicit(&c->state, IVR_CALL_RETIRED, memory_order_release);
	}
	w->n_active = 0;
	w->ops->flush(w->io);
	w->ops->free(w->io);
	w->io = NULL;
	return NULL;
}

struct ivr_worker *ivr_worker_new(const struct ivr_worker_cfg *cfg, char *err, size_t err_len)
{
	if (!cfg || !cfg->arena || !cfg->n_slots) {
		if (err)
			snprintf(err, err_len, "worker: bad configuration");
		errno = EINVAL;
		return NULL;
	}
	struct ivr_worker *w = aligned_alloc(64, IVR_ROUND_UP(sizeof(*w), 64));
	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->cfg = *cfg;
	w->active = calloc(cfg->n_slots, sizeof(uint32_t));
	if (!w->active) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&w->post_lock, NULL);
	return w;
}

int ivr_worker_start(struct ivr_worker *w)
{
	atomic_store(&w->ready, 0);
	atomic_store(&w->stop, false);
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r)
		return -r;
	char name[16];
	snprintf(name, sizeof(name), "ivr-media-%u", w->cfg.index);
	pthread_setname_np(w->thread, name);
	while (atomic_load(&w->ready) == 0) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&w->ready) < 0) {
		pthread_join(w->thread, NULL);
		return atomic_load(&w->ready);
	}
	w->running = true;
	return 0;
}

void ivr_worker_stop(struct ivr_worker *w)
{
	if (!w || !w->running)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	w->running = false;
}

void ivr_worker_free(struct ivr_worker *w)
{
	if (!w)
		return;
	ivr_worker_stop(w);
	pthread_mutex_destroy(&w->post_lock);
	free(w->active);
	free(w);
}

int ivr_worker_post(struct ivr_worker *w, const struct ivr_wcmd *cmd)
{
	pthread_mutex_lock(&w->post_lock);
	for (int tries = 0;; tries++) {
		unsigned head = atomic_load_explicit(&w->cmd_head, memory_order_relaxed);
		/* acquire: the worker finished reading the slot before moving tail */
		unsigned tail = atomic_load_explicit(&w->cmd_tail, memory_order_acquire);
		if (head - tail < CMD_RING) {
			w->cmds[head & (CMD_RING - 1)] = *cmd;
			/* release: publish the command before the new head */
			atomic_store_explicit(&w->cmd_head, head + 1, memory_order_release);
			break;
		}
		if (tries >= 100 || !w->running) {
			pthread_mutex_unlock(&w->post_lock);
			return -EAGAIN;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	pthread_mutex_unlock(&w->post_lock);
	return 0;
}

int ivr_worker_sync(struct ivr_worker *w)
{
	unsigned head = atomic_load(&w->cmd_head);
	for (int i = 0; i < 2000; i++) {
		if ((int)(atomic_load(&w->cmd_tail) - head) >= 0)
			return 0;
		if (!w->running)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 500000 };
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

const char *ivr_worker_backend(const struct ivr_worker *w)
{
	return w->ops ? w->ops->name : "none";
}

void ivr_worker_get_stats(struct ivr_worker *w, struct ivr_worker_stats *st)
{
	*st = w->st;
	if (w->running) {
		clockid_t cid;
		struct timespec ts;
		if (pthread_getcpuclockid(w->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
			st->cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
}
