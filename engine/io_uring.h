/* SPDX-License-Identifier: MIT */
/*
 * engine/io_uring.h - the io_uring I/O loop of a media worker (liburing 2.3).
 *
 * One ring per worker (SINGLE_ISSUER | DEFER_TASKRUN when the kernel takes
 * them), one multishot recvmsg per call socket drawing from a registered
 * provided-buffer ring (io_uring_register_buf_ring; liburing 2.3 has no
 * io_uring_setup_buf_ring), sends batched per tick as IORING_OP_SEND with a
 * destination address (no msghdr to copy) and IOSQE_CQE_SKIP_SUCCESS.  Call
 * sockets are registered files (sparse table, two per slot: no fget per
 * request); when the kernel refuses the table, plain descriptors are used.  The worker sleeps in
 * io_uring_submit_and_wait_timeout with a wait count nobody reaches, so it wakes at the deadline
 * rather than per packet, then re-enters (io_uring_get_events) until no new completion appears:
 * since kernel 6.13 one enter runs at most 20 deferred items and a multishot receive yields at most
 * 32 datagrams per wake-up (DESIGN.md 6). Thread: the owning worker only.
 */
#ifndef IVR_ENGINE_IO_URING_H
#define IVR_ENGINE_IO_URING_H

#include "engine/worker.h"

extern const struct ivr_io_ops ivr_io_uring_ops;

/**
 * @return a backend with an SQ of @entries and @max_files registered-file
 * slots (indexed by ivr_io_file_index()), or NULL with errno (EPERM /
 * ENOSYS when the kernel or seccomp refuses io_uring) and a reason in @err.
 * Thread: the worker thread that will use it (SINGLE_ISSUER ties the ring to
 * the task that created it).
 */
void *ivr_io_uring_new(unsigned entries, unsigned max_files, ivr_io_rx_fn fn, ivr_io_fd_fn fd_of,
		       void *ctx, char *err, size_t err_len);

#endif /* IVR_ENGINE_IO_URING_H */
