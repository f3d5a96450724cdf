/* SPDX-License-Identifier: MIT */
/* engine/io_uring.c - multishot recvmsg + buffer ring + batched sendmsg; see io_uring.h. */
#include "config.h"

#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "engine/io_uring.h"

#define KIND_SHIFT  56
#define KIND_RECV   1ull
#define KIND_SEND   2ull
#define KIND_CANCEL 3ull
#define TAG_MASK    ((1ull << KIND_SHIFT) - 1)
#define BUF_SIZE    2048 /* larger than any RTP packet we accept */
#define BUF_ENTRIES 4096
#define BGID	    0
#define SEND_BATCH  64 /* sends per submit within a tick (ur_send) */

struct io_ur {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	unsigned recycled;  /* buffers added back, not yet advanced */
	unsigned wait_nr;   /* a completion count never reached: wake on the deadline only */
	unsigned tx_queued; /* sends queued since the last submit */
	ivr_io_rx_fn fn;
	ivr_io_fd_fn fd_of;
	void *ctx;
	struct msghdr rmsg; /* layout template for multishot recvmsg */
	unsigned max_files; /* registered-file table size; 0 = plain descriptors */
	uint64_t tx_errors, enobufs, rearms;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void *ivr_io_uring_new(unsigned entries, unsigned max_files, ivr_io_rx_fn fn, ivr_io_fd_fn fd_of,
		       void *ctx, char *err, size_t err_len)
{
	struct io_ur *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	if (!entries)
		entries = 4096;
	struct io_uring_params p = { 0 };
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	int r = io_uring_queue_init_params(entries, &io->ring, &p);
	if (r == -EINVAL) {
		/* Older kernels: no SINGLE_ISSUER/DEFER_TASKRUN; completions then post from irq. */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, &io->ring, &p);
	}
	if (r < 0) {
		if (err)
			snprintf(err, err_len, "io_uring_queue_init: %s", strerror(-r));
		free(io);
		errno = -r;
		return NULL;
	}
	io->wait_nr = p.cq_entries;
	io->br_bytes = BUF_ENTRIES * sizeof(struct io_uring_buf);
	io->br = mmap(NULL, io->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	io->bufs = malloc((size_t)BUF_ENTRIES * BUF_SIZE);
	if (io->br == MAP_FAILED || !io->bufs) {
		r = -ENOMEM;
		goto fail;
	}
	struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)io->br,
					.ring_entries = BUF_ENTRIES,
					.bgid = BGID };
	r = io_uring_register_buf_ring(&io->ring, &reg, 0);
	if (r < 0) {
		if (err)
			snprintf(err, err_len, "io_uring_register_buf_ring: %s", strerror(-r));
		goto fail;
	}
	io_uring_buf_ring_init(io->br);
	int mask = io_uring_buf_ring_mask(BUF_ENTRIES);
	for (unsigned i = 0; i < BUF_ENTRIES; i++)
		io_uring_buf_ring_add(io->br, io->bufs + (size_t)i * BUF_SIZE, BUF_SIZE,
				      (unsigned short)i, mask, (int)i);
	io_uring_buf_ring_advance(io->br, BUF_ENTRIES);
	io->rmsg.msg_namelen = sizeof(struct sockaddr_in6);
	/* Registered files save an fget/fput per request; optional (RLIMIT_NOFILE bounds it). */
	if (max_files && io_uring_register_files_sparse(&io->ring, max_files) == 0)
		io->max_files = max_files;
	io->fn = fn;
	io->fd_of = fd_of;
	io->ctx = ctx;
	return io;
fail:
	io_uring_queue_exit(&io->ring);
	if (io->br && io->br != MAP_FAILED)
		munmap(io->br, io->br_bytes);
	free(io->bufs);
	free(io);
	errno = -r;
	return NULL;
}

static struct io_uring_sqe *get_sqe(struct io_ur *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	if (!sqe) {
		/* SQ full (more sends than entries this tick): push what we have. */
		io_uring_submit(&io->ring);
		sqe = io_uring_get_sqe(&io->ring);
	}
	return sqe;
}

/* The registered index of @tag's socket, or -1 to use @fd itself. */
static int fixed_index(const struct io_ur *io, uint64_t tag)
{
	unsigned idx = ivr_io_file_index(tag);
	return io->max_files && idx < io->max_files ? (int)idx : -1;
}

static void set_file(struct io_uring_sqe *sqe, int idx)
{
	if (idx >= 0) {
		sqe->fd = idx;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

static int arm_recv(struct io_ur *io, int fd, uint64_t tag)
{
	struct io_uring_sqe *sqe = get_sqe(io);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, fd, &io->rmsg, 0);
	set_file(sqe, fixed_index(io, tag));
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, (KIND_RECV << KIND_SHIFT) | tag);
	return 0;
}

static int ur_add(void *p, int fd, uint64_t tag)
{
	struct io_ur *io = p;
	int idx = fixed_index(io, tag);
	/* A synchronous table update: on call set-up only, never per packet. */
	if (idx >= 0 && io_uring_register_files_update(&io->ring, (unsigned)idx, &fd, 1) != 1)
		return -EBADF;
	return arm_recv(io, fd, tag);
}

static int ur_del(void *p, int fd, uint64_t tag)
{
	struct io_ur *io = p;
	(void)fd;
	struct io_uring_sqe *sqe = get_sqe(io);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, (KIND_RECV << KIND_SHIFT) | tag, 0);
	io_uring_sqe_set_data64(sqe, KIND_CANCEL << KIND_SHIFT);
	int idx = fixed_index(io, tag);
	if (idx >= 0) {
		/* In-flight requests keep their own file reference: clearing is safe now. */
		int none = -1;
		io_uring_register_files_update(&io->ring, (unsigned)idx, &none, 1);
	}
	return 0;
}

static int ur_send(void *p, int fd, uint64_t tag, struct msghdr *msg)
{
	struct io_ur *io = p;
	struct io_uring_sqe *sqe = get_sqe(io);
	if (!sqe)
		return -EBUSY;
	/* IORING_OP_SEND: sendto semantics without a msghdr to copy; no address at all on a
	 * connected socket (no copy, no route lookup). */
	io_uring_prep_send(sqe, fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len, 0);
	if (msg->msg_name)
		io_uring_prep_send_set_addr(sqe, msg->msg_name, (uint16_t)msg->msg_namelen);
	set_file(sqe, fixed_index(io, tag));
	/* Only failures produce a completion: halves the CQ traffic of a tick. */
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, KIND_SEND << KIND_SHIFT);
	/*
	 * Submit every SEND_BATCH sends rather than all of a tick's at its end: a call's packet
	 * then leaves about when the call was processed, so its send time varies with the work
	 * of the calls before it only, not with the whole tick's (which a preempted or long tick
	 * stretches), and the receiver gets 64-packet bursts instead of one of 1,000.  The
	 * price, measured at 1000 calls (5 interleaved pairs): 542 against 498 us of engine
	 * CPU per call-second with one submit per tick; 256 per submit cost nothing
	 * measurable (524 / 521) but had late and skipped frames at 2000 calls in 2 of 2 runs
	 * where 64 had none.  Likely why (not proven): one io_uring_enter sends, and on
	 * loopback delivers, all of them with no preemption point on this PREEMPT_NONE kernel
	 * (1,000 x 2-3 us), during which even ivr-load's higher-priority sender cannot run on
	 * that core.  Submitting by elapsed time instead (once 1 ms of the tick's work had
	 * passed since the last submit, the clock read every 16 sends) was no cheaper: medians
	 * of 4 interleaved pairs at load 13-16, 463 vs 458 us per call-second at 1000 calls,
	 * 445 vs 435 at 2000, and late frames at 2000 calls in 2 of its 4 runs (1.48% in one
	 * without any ivr-load overrun), none with 64.
	 */
	if (++io->tx_queued >= SEND_BATCH) {
		io->tx_queued = 0;
		io_uring_submit(&io->ring);
	}
	return 0;
}

static int ur_flush(void *p)
{
	struct io_ur *io = p;
	io->tx_queued = 0;
	return io_uring_submit(&io->ring);
}

static void recycle(struct io_ur *io, unsigned bid)
{
	io_uring_buf_ring_add(io->br, io->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE,
			      (unsigned short)bid, io_uring_buf_ring_mask(BUF_ENTRIES),
			      (int)io->recycled);
	io->recycled++;
}

static unsigned reap(struct io_ur *io)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	uint64_t now = mono_ns();
	io_uring_for_each_cqe(&io->ring, head, cqe)
	{
		n++;
		uint64_t ud = cqe->user_data, kind = ud >> KIND_SHIFT, tag = ud & TAG_MASK;
		if (kind == KIND_SEND) {
			io->tx_errors++;
			continue;
		}
		if (kind != KIND_RECV)
			continue;
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			uint8_t *buf = io->bufs + (size_t)bid * BUF_SIZE;
			if (cqe->res > 0) {
				struct io_uring_recvmsg_out *o =
					io_uring_recvmsg_validate(buf, cqe->res, &io->rmsg);
				if (o && !(o->flags & MSG_TRUNC)) {
					const uint8_t *pl = io_uring_recvmsg_payload(o, &io->rmsg);
					unsigned len = io_uring_recvmsg_payload_length(o, cqe->res,
										       &io->rmsg);
					socklen_t fl = IVR_MIN(o->namelen, io->rmsg.msg_namelen);
					io->fn(io->ctx, tag, pl, len,
					       (const struct sockaddr *)io_uring_recvmsg_name(o),
					       fl, now);
				}
			}
			recycle(io, bid);
		}
		if (!(cqe->flags & IORING_CQE_F_MORE) && cqe->res != -ECANCELED) {
			/* Multishot ended (ENOBUFS, error): re-arm while the call lives. */
			if (cqe->res == -ENOBUFS)
				io->enobufs++;
			int fd = io->fd_of(io->ctx, tag);
			if (fd >= 0 && arm_recv(io, fd, tag) == 0)
				io->rearms++;
		}
	}
	io_uring_cq_advance(&io->ring, n);
	if (io->recycled) {
		/* Publish the recycled buffers to the kernel in one tail update. */
		io_uring_buf_ring_advance(io->br, (int)io->recycled);
		io->recycled = 0;
	}
	return n;
}

static int ur_wait(void *p, uint64_t deadline_ns)
{
	struct io_ur *io = p;
	uint64_t now = mono_ns();
	uint64_t rel = deadline_ns > now ? deadline_ns - now : 0;
	struct __kernel_timespec ts = { .tv_sec = (long long)(rel / 1000000000ull),
					.tv_nsec = (long long)(rel % 1000000000ull) };
	struct io_uring_cqe *cqe;
	/* Submits pending SQEs and sleeps to the deadline (wait_nr is never reached). */
	int r = io_uring_submit_and_wait_timeout(&io->ring, &cqe, io->wait_nr, &ts, NULL);
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
		return r;
	/* Sleeping was a coarse timer: finish the residue so ticks stay on the grid. */
	now = mono_ns();
	if (now < deadline_ns) {
		struct timespec t = { .tv_sec = (time_t)(deadline_ns / 1000000000ull),
				      .tv_nsec = (long)(deadline_ns % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
	}
	unsigned total = 0;
	for (;;) {
		/* Run deferred task work; loop until no new completion appears. */
		io_uring_get_events(&io->ring);
		unsigned n = reap(io);
		total += n;
		if (n == 0)
			break;
	}
	return (int)total;
}

static void ur_free(void *p)
{
	struct io_ur *io = p;
	if (!io)
		return;
	io_uring_unregister_buf_ring(&io->ring, BGID);
	io_uring_queue_exit(&io->ring);
	munmap(io->br, io->br_bytes);
	free(io->bufs);
	free(io);
}

const struct ivr_io_ops ivr_io_uring_ops = {
	.name = "io_uring",
	.add = ur_add,
	.del = ur_del,
	.send = ur_send,
	.flush = ur_flush,
	.wait = ur_wait,
	.free = ur_free,
};
