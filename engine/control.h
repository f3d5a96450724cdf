/* SPDX-License-Identifier: MIT */
/*
 * engine/control.h - the control protocol: one JSON object per line over a
 * Unix stream socket or 127.0.0.1 TCP (shared interfaces, README).
 *
 * Request {"id":N,"op":"...",...}; reply {"id":N,"ok":true,...} or
 * {"id":N,"ok":false,"error":"one-line reason"}.  Ops: ping, create_call,
 * destroy_call, play, stop_play, send_dtmf, record_start, record_stop,
 * record_pause, record_resume, conf_join, conf_leave, conf_flags, set_vars,
 * stats, reload_prompts; from the router: queue_announce, transfer, hangup.
 * Malformed input (not JSON, wrong types, unknown op, lines over 64 KiB)
 * gets an error reply; nothing a client sends can stop the engine.
 * One control thread serves all clients with poll(); each request is
 * answered before the next line of that client is read.  Replies are never
 * sent blocking: a client that does not read its replies is not read any
 * further until it does, and never holds up the other clients (at most 64).
 * Thread: control.
 */
#ifndef IVR_ENGINE_CONTROL_H
#define IVR_ENGINE_CONTROL_H

#include "common/defs.h"

struct ivr_engine;
struct ivr_control; /* opaque */

#define IVR_CONTROL_MAX_LINE 65536

/**
 * Handle one request line (without the newline) and write the reply line
 * (with a trailing newline, NUL-terminated) into @reply.
 * @return the reply length.  Thread: control.
 */
size_t ivr_control_handle(struct ivr_engine *e, const char *line, size_t n_bytes, char *reply,
			  size_t cap);

/**
 * Listen on @endpoint: a filesystem path (Unix socket, replaced if stale)
 * or "127.0.0.1:PORT" / "HOST:PORT" (TCP, PORT 0 = any; see
 * ivr_control_port()).  Starts the control thread.
 * @return the server or NULL (errno, reason in @err).
 */
struct ivr_control *ivr_control_start(struct ivr_engine *e, const char *endpoint, char *err,
				      size_t err_len);

/** @return the TCP port listened on (0 for a Unix socket). */
uint16_t ivr_control_port(const struct ivr_control *c);

/** Stop the thread, close every client and the listener. NULL-safe. */
void ivr_control_stop(struct ivr_control *c);

#endif /* IVR_ENGINE_CONTROL_H */
