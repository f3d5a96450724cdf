/* SPDX-License-Identifier: MIT */
/* engine/io_epoll.c - epoll + recvmmsg fallback loop; see io_epoll.h. */
#include "config.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "engine/io_epoll.h"

#define BATCH	   32
#define MAX_EVENTS 1024
#define DGRAM_MAX  2048

struct io_epoll {
	int ep;
	ivr_io_rx_fn fn;
	ivr_io_fd_fn fd_of;
	void *ctx;
	struct epoll_event ev[MAX_EVENTS];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH];
	uint8_t buf[BATCH][DGRAM_MAX];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void *ivr_io_epoll_new(ivr_io_rx_fn fn, ivr_io_fd_fn fd_of, void *ctx)
{
	struct io_epoll *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->ep = epoll_create1(EPOLL_CLOEXEC);
	if (io->ep < 0) {
		int e = errno;
		free(io);
		errno = e;
		return NULL;
	}
	io->fn = fn;
	io->fd_of = fd_of;
	io->ctx = ctx;
	return io;
}

static int ep_add(void *p, int fd, uint64_t tag)
{
	struct io_epoll *io = p;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	if (epoll_ctl(io->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return errno == EEXIST ? 0 : -errno;
	return 0;
}

static int ep_del(void *p, int fd, uint64_t tag)
{
	struct io_epoll *io = p;
	(void)tag;
	if (epoll_ctl(io->ep, EPOLL_CTL_DEL, fd, NULL) < 0)
		return -errno;
	return 0;
}

static int ep_send(void *p, int fd, uint64_t tag, struct msghdr *msg)
{
	(void)p;
	(void)tag;
	/* Per-call sockets: nothing to batch across calls, send at once. */
	if (sendmsg(fd, msg, MSG_DONTWAIT) < 0)
		return -errno;
	return 0;
}

static int ep_flush(void *p)
{
	(void)p;
	return 0;
}

static void drain_fd(struct io_epoll *io, int fd, uint64_t tag)
{
	unsigned refused = 0;
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			io->iov[i].iov_base = io->buf[i];
			io->iov[i].iov_len = DGRAM_MAX;
			memset(&io->mm[i].msg_hdr, 0, sizeof(io->mm[i].msg_hdr));
			io->mm[i].msg_hdr.msg_iov = &io->iov[i];
			io->mm[i].msg_hdr.msg_iovlen = 1;
			io->mm[i].msg_hdr.msg_name = &io->from[i];
			io->mm[i].msg_hdr.msg_namelen = sizeof(io->from[i]);
		}
		int n = recvmmsg(fd, io->mm, BATCH, MSG_DONTWAIT, NULL);
		/* A connected socket reports an ICMP error (ECONNREFUSED) once, ahead of the
		 * datagrams queued behind it: reading it cleared it, so read on. */
		if (n < 0 && errno == ECONNREFUSED && refused++ == 0)
			continue;
		if (n <= 0)
			return;
		uint64_t now = mono_ns();
		for (int i = 0; i < n; i++) {
			if (io->mm[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue; /* larger than any RTP we accept */
			io->fn(io->ctx, tag, io->buf[i], io->mm[i].msg_len,
			       (struct sockaddr *)&io->from[i], io->mm[i].msg_hdr.msg_namelen, now);
		}
		if (n < BATCH)
			return;
	}
}

static int ep_wait(void *p, uint64_t deadline_ns)
{
	struct io_epoll *io = p;
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ull),
			       .tv_nsec = (long)(deadline_ns % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	int total = 0;
	for (;;) {
		int n = epoll_wait(io->ep, io->ev, MAX_EVENTS, 0);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			uint64_t tag = io->ev[i].data.u64;
			int fd = io->fd_of(io->ctx, tag);
			if (fd >= 0)
				drain_fd(io, fd, tag);
		}
		total += n;
		if (n < MAX_EVENTS)
			break;
	}
	return total;
}

static void ep_free(void *p)
{
	struct io_epoll *io = p;
	if (!io)
		return;
	close(io->ep);
	free(io);
}

const struct ivr_io_ops ivr_io_epoll_ops = {
	.name = "epoll",
	.add = ep_add,
	.del = ep_del,
	.send = ep_send,
	.flush = ep_flush,
	.wait = ep_wait,
	.free = ep_free,
};
