/* SPDX-License-Identifier: MIT */
/*
 * engine/worker.h - media worker threads: one per core, each with its own
 * I/O loop (io_uring, or epoll when io_uring is refused) and its own calls.
 *
 * A worker sleeps to the next point of a global 20 ms grid, drains every
 * datagram that arrived meanwhile (each goes straight into its call's
 * jitter buffer), applies the control commands queued for it, runs one tick
 * of every call it owns (the "timer wheel" has a single 20 ms bucket: all
 * calls are due every tick) and submits all outgoing packets in one batch.
 * Sleeping to a grid instead of waking per packet is what DESIGN.md 6
 * measured as 2-3x cheaper.  A call stays on its worker for life, so the
 * media path takes no lock.
 * Control -> worker: a per-worker single-producer command ring (producers
 * are serialised by a mutex on the control side; the worker never locks).
 * It is private to this file on purpose; common/ring.h may replace it.
 * Thread: ivr_worker_post and the rest from control; the loop is its own.
 */
#ifndef IVR_ENGINE_WORKER_H
#define IVR_ENGINE_WORKER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "common/defs.h"

struct ivr_prompt;
struct ivr_call;
struct ivr_shmring;
struct ivr_flowsvc;

/* ---- I/O backend interface (engine/io_uring.c, engine/io_epoll.c) ---- */

/** Receive callback: one datagram for @tag (slot << 32 | generation). */
typedef void (*ivr_io_rx_fn)(void *ctx, uint64_t tag, const uint8_t *data, size_t n_bytes,
			     const struct sockaddr *from, socklen_t from_len, uint64_t now_ns);

/** @return the socket of @tag while its call is active, else -1 (stale tag). */
typedef int (*ivr_io_fd_fn)(void *ctx, uint64_t tag);

/* Tag layout: slot << 32 | generation, bit 31 set for the call's second (RTCP) socket. */
#define IVR_IO_TAG_ALT 0x80000000u

/** @return the registered-file index of @tag's socket: two per slot. */
static inline unsigned ivr_io_file_index(uint64_t tag)
{
	return (unsigned)((tag >> 32) << 1) | ((tag & IVR_IO_TAG_ALT) ? 1u : 0u);
}

struct ivr_io_ops {
	const char *name;
	/** Start receiving on @fd, reporting @tag. @return 0 or -errno. */
	int (*add)(void *io, int fd, uint64_t tag);
	/** Stop receiving on @fd (may complete later; late datagrams carry the old tag). */
	int (*del)(void *io, int fd, uint64_t tag);
	/**
	 * Queue one datagram on @fd (@tag's socket): @msg has one iovec and the
	 * destination; both stay valid until the next flush returns.
	 */
	int (*send)(void *io, int fd, uint64_t tag, struct msghdr *msg);
	/** Push queued sends to the kernel. @return number sent or -errno. */
	int (*flush)(void *io);
	/** Sleep until @deadline_ns (CLOCK_MONOTONIC), then deliver everything received. */
	int (*wait)(void *io, uint64_t deadline_ns);
	void (*free)(void *io);
};

/* ---- worker ---- */

enum ivr_wcmd_op {
	IVR_WCMD_ADD = 1,
	IVR_WCMD_DEL,
	IVR_WCMD_PLAY,
	IVR_WCMD_STOP_PLAY,
	IVR_WCMD_DTMF,
	IVR_WCMD_REC_START,
	IVR_WCMD_REC_STOP,
	IVR_WCMD_REC_PAUSE,
	IVR_WCMD_REC_RESUME,
	IVR_WCMD_QUEUE_ANNOUNCE, /* prompt: the announcement */
	IVR_WCMD_QUEUE_TRANSFER, /* the router transferred the call */
	IVR_WCMD_END_CAUSE,	 /* cause: call_end cause for the DEL that follows */
};

struct ivr_wcmd {
	uint8_t op;
	uint32_t slot;
	uint32_t gen;
	struct ivr_prompt *prompt; /* PLAY: a reference the worker takes over */
	bool loop, moh;		   /* PLAY */
	uint32_t rec_id;	   /* REC_START */
	char digits[32];	   /* DTMF, NUL-terminated */
	bool rfc4733;		   /* DTMF: as telephone-events, not in-band */
	const char *cause;	   /* END_CAUSE: a static string */
};

struct ivr_worker_cfg {
	unsigned index;
	bool force_epoll;
	uint8_t *arena; /* call slots: slot s at arena + s * stride */
	size_t stride;
	uint32_t n_slots;
	uint64_t t0_ns;		     /* origin of the global 20 ms grid */
	unsigned io_entries;	     /* io_uring SQ size; 0 = 4096 */
	struct ivr_shmring *events;  /* event ring, sub-ring `index` is ours; NULL = none */
	struct ivr_flowsvc *flowsvc; /* ASR results for our calls' flows; NULL = none */
};

struct ivr_worker_stats {
	uint64_t ticks, overruns, cmds, tick_ns_sum, tick_ns_max, rx_dgrams, rx_stale, tx_errors;
	uint32_t n_calls;
	uint64_t cpu_ns; /* thread CPU time (CLOCK_THREAD_CPUTIME_ID) */
};

struct ivr_worker;

/**
 * Create a worker and its I/O backend (io_uring unless refused or
 * @cfg->force_epoll; the fallback is logged once per process).
 * @return the worker or NULL (errno, reason in @err).  Thread: control.
 */
struct ivr_worker *ivr_worker_new(const struct ivr_worker_cfg *cfg, char *err, size_t err_len);

/** Start the thread. @return 0 or -errno. */
IVR_NODISCARD int ivr_worker_start(struct ivr_worker *w);

/** Stop and join the thread (calls still on it are retired). */
void ivr_worker_stop(struct ivr_worker *w);

/** Free (after stop). NULL-safe. */
void ivr_worker_free(struct ivr_worker *w);

/**
 * Queue a command; applied at the worker's next tick (<= 20 ms).
 * @return 0 or -EAGAIN (queue full for 100 ms).  Thread: control (any).
 */
IVR_NODISCARD int ivr_worker_post(struct ivr_worker *w, const struct ivr_wcmd *cmd);

/** @return "io_uring" or "epoll". */
const char *ivr_worker_backend(const struct ivr_worker *w);

/** Copy the counters (racy snapshot). */
void ivr_worker_get_stats(struct ivr_worker *w, struct ivr_worker_stats *st);

/** Wait until the worker has applied every command posted so far. @return 0 or -ETIMEDOUT. */
int ivr_worker_sync(struct ivr_worker *w);

/** @return CLOCK_MONOTONIC now in ns. */
uint64_t ivr_now_ns(void);

#endif /* IVR_ENGINE_WORKER_H */
