/* SPDX-License-Identifier: MIT */
/*
 * engine/io_epoll.h - fallback I/O loop: epoll (level-triggered) to find the
 * sockets with data after each sleep, recvmmsg to drain each in batches of
 * 32, sendmsg per call socket (sendmmsg batches only within one socket, and
 * every call has its own).  Used where io_uring is refused (Docker's default
 * seccomp profile, io_uring_disabled) or when forced (--force-epoll,
 * IVR_FORCE_EPOLL=1).  Thread: the owning worker only.
 */
#ifndef IVR_ENGINE_IO_EPOLL_H
#define IVR_ENGINE_IO_EPOLL_H

#include "engine/worker.h"

extern const struct ivr_io_ops ivr_io_epoll_ops;

/** @return a backend delivering to @fn(@ctx, ...), or NULL (errno). Thread: worker. */
void *ivr_io_epoll_new(ivr_io_rx_fn fn, ivr_io_fd_fn fd_of, void *ctx);

#endif /* IVR_ENGINE_IO_EPOLL_H */
