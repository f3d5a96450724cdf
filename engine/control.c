/* SPDX-License-Identifier: MIT */
/* engine/control.c - JSON-lines control server on top of engine/api.h; see control.h. */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/api.h"
#include "engine/control.h"

#define MAX_CLIENTS 64

/* ---- request handling ---- */

struct req {
	json_t *j;
	char err[256];
};

static int get_id(struct req *r, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(r->j, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(r->err, sizeof(r->err), "'%s' must be a non-negative integer", key);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_str(struct req *r, const char *key, bool required, const char **out)
{
	json_t *v = json_object_get(r->j, key);
	if (!v || json_is_null(v)) {
		*out = NULL;
		if (required) {
			snprintf(r->err, sizeof(r->err), "'%s' is required", key);
			return -EINVAL;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(r->err, sizeof(r->err), "'%s' must be a string", key);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

static int get_bool(struct req *r, const char *key, bool dflt, bool *out)
{
	json_t *v = json_object_get(r->j, key);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (!json_is_boolean(v)) {
		snprintf(r->err, sizeof(r->err), "'%s' must be true or false", key);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

static int get_int(struct req *r, const char *key, int dflt, int lo, int hi, int *out)
{
	json_t *v = json_object_get(r->j, key);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(r->err, sizeof(r->err), "'%s' must be an integer in %d..%d", key, lo, hi);
		return -EINVAL;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

/* vars: an object, serialised for the API. Caller frees *out. */
static int get_vars(struct req *r, const char *key, char **out)
{
	json_t *v = json_object_get(r->j, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		snprintf(r->err, sizeof(r->err), "'%s' must be an object", key);
		return -EINVAL;
	}
	*out = json_dumps(v, JSON_COMPACT);
	return *out ? 0 : -ENOMEM;
}

static json_t *info_json(const struct ivr_call_info *in)
{
	json_t *j = json_pack(
		"{s:I,s:i,s:i,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		"s:I,s:I,s:f,s:i,s:i,s:i,s:b,s:b,s:I}",
		"call_id", (json_int_t)in->call_id, "local_port", in->local_port, "worker",
		in->worker, "codec", in->codec, "remote", in->remote, "rx_pkts",
		(json_int_t)in->rx_pkts, "rx_bad", (json_int_t)in->rx_bad, "rx_foreign",
		(json_int_t)in->rx_foreign, "rx_flood_dropped", (json_int_t)in->rx_flood_dropped,
		"rx_dtmf_pkts", (json_int_t)in->rx_dtmf_pkts, "tx_pkts", (json_int_t)in->tx_pkts,
		"tx_errors", (json_int_t)in->tx_errors, "frames_played",
		(json_int_t)in->frames_played, "frames_concealed", (json_int_t)in->frames_concealed,
		"frames_silent", (json_int_t)in->frames_silent, "rec_dropped",
		(json_int_t)in->rec_dropped, "jb_late", (json_int_t)in->jb_late, "jb_duplicates",
		(json_int_t)in->jb_duplicates, "jitter_ms", in->jitter_ms_x100 / 100.0,
		"jb_target_frames", (int)in->jb_target_frames, "jb_depth_frames",
		(int)in->jb_depth_frames, "cum_lost", (int)in->cum_lost, "playing", in->playing,
		"recording", in->recording, "first_prompt_ms", (json_int_t)in->first_prompt_ms);
	if (j) {
		json_object_set_new(j, "rtcp_rx", json_integer((json_int_t)in->rtcp_rx));
		json_object_set_new(j, "rate_hz", json_integer(in->rate_hz));
		json_object_set_new(j, "codec_rate_hz", json_integer(in->codec_rate_hz));
		json_object_set_new(j, "frames_skipped",
				    json_integer((json_int_t)in->frames_skipped));
		json_object_set_new(j, "rtcp_tx", json_integer((json_int_t)in->rtcp_tx));
		json_object_set_new(j, "frames_fec", json_integer((json_int_t)in->frames_fec));
		json_object_set_new(j, "rtt_ms",
				    in->rtt_us >= 0 ? json_real(in->rtt_us / 1000.0) : json_null());
		json_object_set_new(j, "remote_fraction_lost",
				    json_integer(in->remote_fraction_lost));
	}
	return j;
}

static json_t *engine_json(struct ivr_engine *e)
{
	struct ivr_engine_stats s;
	ivr_engine_get_stats(e, &s);
	return json_pack("{s:i,s:i,s:I,s:I,s:i,s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:I,s:I,s:i,s:i,"
			 "s:s}",
			 "calls_active", (int)s.calls_active, "max_calls", (int)s.max_calls,
			 "calls_created", (json_int_t)s.calls_created, "calls_refused",
			 (json_int_t)s.calls_refused, "workers", (int)s.n_workers, "io",
			 ivr_engine_io_backend(e), "ticks", (json_int_t)s.ticks, "overruns",
			 (json_int_t)s.overruns, "rx_dgrams", (json_int_t)s.rx_dgrams, "tx_errors",
			 (json_int_t)s.tx_errors, "tick_us_avg", s.tick_ns_avg / 1000.0,
			 "tick_us_max", s.tick_ns_max / 1000.0, "cpu_s", s.cpu_ns / 1e9,
			 "rec_frames_written", (json_int_t)s.rec_frames_written,
			 "rec_frames_dropped", (json_int_t)s.rec_frames_dropped, "prompts_cached",
			 (int)s.prompts_cached, "slot_bytes", (int)s.slot_bytes, "ring",
			 ivr_engine_ring_name(e));
}

/* Runs one op; fills @out with extra reply fields. @return 0 or -errno (reason in r->err). */
static int run_op(struct ivr_engine *e, const char *op, struct req *r, json_t *out)
{
	uint64_t id = 0, to = 0;
	int rc;
	if (!strcmp(op, "ping")) {
		json_object_set_new(out, "pong", json_true());
		return 0;
	}
	if (!strcmp(op, "stats")) {
		if (json_object_get(r->j, "call_id")) {
			if (get_id(r, "call_id", &id) < 0)
				return -EINVAL;
			struct ivr_call_info in;
			if ((rc = ivr_call_get_info(e, id, &in)) < 0)
				return rc;
			json_object_set_new(out, "call", info_json(&in));
			char vars[IVR_CALL_VARS_MAX_BYTES];
			if (ivr_call_get_vars(e, id, vars, sizeof(vars)) >= 0)
				json_object_set_new(out, "vars", json_loads(vars, 0, NULL));
			return 0;
		}
		json_object_set_new(out, "engine", engine_json(e));
		return 0;
	}
	if (!strcmp(op, "reload_prompts")) {
		rc = ivr_engine_reload_prompts(e);
		if (rc < 0)
			return rc;
		json_object_set_new(out, "reloaded", json_integer(rc));
		return 0;
	}
	if (!strcmp(op, "create_call")) {
		const char *remote, *codec, *ani, *dnis, *flow;
		int pt, dtmf_pt, ptime, rate;
		char *vars = NULL;
		/* "aec": true / false; absent = on for calls with a flow. */
		enum ivr_call_aec aec = IVR_CALL_AEC_AUTO;
		json_t *aec_j = json_object_get(r->j, "aec");
		if (aec_j && !json_is_boolean(aec_j)) {
			snprintf(r->err, sizeof(r->err), "'aec' must be true or false");
			return -EINVAL;
		}
		if (aec_j)
			aec = json_is_true(aec_j) ? IVR_CALL_AEC_ON : IVR_CALL_AEC_OFF;
		if (get_str(r, "remote", false, &remote) < 0 ||
		    get_str(r, "codec", false, &codec) < 0 || get_str(r, "ani", false, &ani) < 0 ||
		    get_str(r, "dnis", false, &dnis) < 0 || get_str(r, "flow", false, &flow) < 0 ||
		    get_int(r, "pt", -1, -1, 127, &pt) < 0 ||
		    get_int(r, "dtmf_pt", -1, -1, 127, &dtmf_pt) < 0 ||
		    get_int(r, "ptime_ms", 20, 0, 1000, &ptime) < 0 ||
		    get_int(r, "rate_hz", 0, 0, 192000, &rate) < 0 ||
		    get_vars(r, "vars", &vars) < 0)
			return -EINVAL;
		struct ivr_call_params p = { .remote = remote,
					     .codec = codec,
					     .pt = pt,
					     .dtmf_pt = dtmf_pt,
					     .ptime_ms = (unsigned)ptime,
					     .rate_hz = (uint32_t)rate,
					     .ani = ani,
					     .dnis = dnis,
					     .flow = flow,
					     .vars_json = vars,
					     .aec = aec };
		uint16_t port = 0;
		rc = ivr_call_create(e, &p, &id, &port);
		free(vars);
		if (rc < 0)
			return rc;
		json_object_set_new(out, "call_id", json_integer((json_int_t)id));
		json_object_set_new(out, "local_port", json_integer(port));
		return 0;
	}
	static const char *const call_ops[] = {
		"destroy_call", "hangup",      "play",	       "stop_play",	 "send_dtmf",
		"record_start", "record_stop", "record_pause", "record_resume",	 "conf_join",
		"conf_flags",	"conf_leave",  "set_vars",     "queue_announce", "transfer",
	};
	bool known = false;
	for (size_t i = 0; i < IVR_N_ELEMENTS(call_ops); i++)
		known |= !strcmp(op, call_ops[i]);
	if (!known) {
		snprintf(r->err, sizeof(r->err), "unknown op '%.200s'", op);
		return -ENOTSUP;
	}
	/* Every other op names a call. */
	if (get_id(r, "call_id", &id) < 0)
		return -EINVAL;
	if (!strcmp(op, "destroy_call"))
		return ivr_call_destroy(e, id);
	if (!strcmp(op, "hangup"))
		return ivr_call_hangup(e, id);
	if (!strcmp(op, "play")) {
		const char *file;
		bool loop, moh;
		if (get_str(r, "file", true, &file) < 0 || get_bool(r, "loop", false, &loop) < 0 ||
		    get_bool(r, "moh", false, &moh) < 0)
			return -EINVAL;
		return ivr_call_play(e, id, file, loop, moh);
	}
	if (!strcmp(op, "stop_play"))
		return ivr_call_stop_play(e, id);
	if (!strcmp(op, "send_dtmf")) {
		const char *digits, *mode;
		if (get_str(r, "digits", true, &digits) < 0 || get_str(r, "mode", false, &mode) < 0)
			return -EINVAL;
		return ivr_call_send_dtmf(e, id, digits, mode);
	}
	if (!strcmp(op, "record_start")) {
		const char *path, *channels = NULL;
		if (get_str(r, "path", true, &path) < 0)
			return -EINVAL;
		json_t *ch = json_object_get(r->j, "channels");
		char chbuf[64] = "";
		if (json_is_array(ch)) {
			size_t i;
			json_t *v;
			json_array_foreach(ch, i, v)
			{
				if (!json_is_string(v) ||
				    strlen(chbuf) + strlen(json_string_value(v)) + 2 >
					    sizeof(chbuf)) {
					snprintf(r->err, sizeof(r->err),
						 "'channels' must list caller, engine, mixed");
					return -EINVAL;
				}
				if (chbuf[0])
					strcat(chbuf, ",");
				strcat(chbuf, json_string_value(v));
			}
			channels = chbuf;
		} else if (get_str(r, "channels", false, &channels) < 0) {
			return -EINVAL;
		}
		return ivr_call_record_start(e, id, path, channels);
	}
	if (!strcmp(op, "record_stop"))
		return ivr_call_record_stop(e, id);
	if (!strcmp(op, "record_pause"))
		return ivr_call_record_pause(e, id, true);
	if (!strcmp(op, "record_resume"))
		return ivr_call_record_pause(e, id, false);
	if (!strcmp(op, "conf_join") || !strcmp(op, "conf_flags")) {
		const char *conf = NULL;
		bool listen, speak;
		if ((!strcmp(op, "conf_join") && get_str(r, "conf", true, &conf) < 0) ||
		    get_bool(r, "listen", true, &listen) < 0 ||
		    get_bool(r, "speak", true, &speak) < 0)
			return -EINVAL;
		if (json_object_get(r->j, "speak_to") && get_id(r, "speak_to", &to) < 0)
			return -EINVAL;
		return conf ? ivr_call_conf_join(e, id, conf, listen, speak, to)
			    : ivr_call_conf_flags(e, id, listen, speak, to);
	}
	if (!strcmp(op, "conf_leave"))
		return ivr_call_conf_leave(e, id);
	if (!strcmp(op, "set_vars")) {
		char *vars = NULL;
		if (get_vars(r, "vars", &vars) < 0)
			return -EINVAL;
		if (!vars) {
			snprintf(r->err, sizeof(r->err), "'vars' is required");
			return -EINVAL;
		}
		rc = ivr_call_set_vars(e, id, vars);
		free(vars);
		return rc;
	}
	if (!strcmp(op, "queue_announce")) {
		int pos, wait_s;
		if (!json_is_integer(json_object_get(r->j, "position"))) {
			snprintf(r->err, sizeof(r->err), "'position' is required (1 = next)");
			return -EINVAL;
		}
		if (get_int(r, "position", 1, 1, 1000000, &pos) < 0 ||
		    get_int(r, "wait_s", 0, 0, 86400 * 7, &wait_s) < 0)
			return -EINVAL;
		char text[200], path[1100];
		rc = ivr_call_queue_announce(e, id, (unsigned)pos, (unsigned)wait_s, text,
					     sizeof(text), path, sizeof(path));
		if (rc < 0)
			return rc;
		json_object_set_new(out, "text", json_string(text));
		json_object_set_new(out, "prompt", json_string(path));
		return 0;
	}
	if (!strcmp(op, "transfer")) {
		const char *target;
		if (get_str(r, "target", true, &target) < 0)
			return -EINVAL;
		if (!*target) {
			snprintf(r->err, sizeof(r->err), "'target' must not be empty");
			return -EINVAL;
		}
		return ivr_call_transfer(e, id, target);
	}
	snprintf(r->err, sizeof(r->err), "unknown op '%.200s'", op);
	return -ENOTSUP;
}

static size_t emit(json_t *reply, char *out, size_t cap)
{
	char *s = json_dumps(reply, JSON_COMPACT);
	size_t n = 0;
	if (s) {
		n = strlen(s);
		if (n + 2 > cap) {
			/* Cannot happen with our replies; keep the protocol line-framed anyway. */
			n = (size_t)snprintf(out, cap,
					     "{\"ok\":false,\"error\":\"reply too long\"}");
		} else {
			memcpy(out, s, n);
		}
		free(s);
	} else {
		n = (size_t)snprintf(out, cap, "{\"ok\":false,\"error\":\"out of memory\"}");
	}
	if (n + 2 <= cap) {
		out[n++] = '\n';
		out[n] = 0;
	}
	return n;
}

size_t ivr_control_handle(struct ivr_engine *e, const char *line, size_t n_bytes, char *reply,
			  size_t cap)
{
	struct req r = { 0 };
	json_t *out = json_object();
	json_error_t je;
	r.j = json_loadb(line, n_bytes, JSON_REJECT_DUPLICATES, &je);
	json_t *id = r.j ? json_object_get(r.j, "id") : NULL;
	if (id)
		json_object_set(out, "id", id);
	else
		json_object_set_new(out, "id", json_null());
	const char *why = NULL;
	char buf[300], tmp[300];
	if (!r.j) {
		snprintf(tmp, sizeof(tmp), "not JSON: %s", je.text);
		why = tmp;
	} else if (!json_is_object(r.j)) {
		why = "request must be a JSON object";
	} else if (!json_is_string(json_object_get(r.j, "op"))) {
		why = "'op' must be a string";
	} else {
		int rc = run_op(e, json_string_value(json_object_get(r.j, "op")), &r, out);
		if (rc < 0) {
			if (r.err[0])
				why = r.err;
			else if (ivr_engine_last_error()[0])
				why = ivr_engine_last_error();
			else
				why = ivr_strerror(rc);
		}
	}
	if (why) {
		/* Keep the reply one line: reasons never carry newlines. */
		snprintf(buf, sizeof(buf), "%s", why);
		for (char *p = buf; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		json_object_set_new(out, "ok", json_false());
		json_object_set_new(out, "error", json_string(buf));
	} else {
		json_object_set_new(out, "ok", json_true());
	}
	size_t n = emit(out, reply, cap);
	json_decref(out);
	json_decref(r.j);
	return n;
}

/* ---- server ---- */

/*
 * A client's state.  Replies are never written with a blocking send: a
 * client that does not read its replies would otherwise stall the one
 * control thread, and with it every other client.  Instead a reply that does
 * not fit in the socket buffer waits in @out, the client's further input
 * stays unread (in @in and in the kernel, which pushes back on the client)
 * and poll() waits for POLLOUT on it alone.  So each request is still
 * answered before the next line of that client is read, at most one reply
 * per client is held, and other clients go on.
 */
struct client {
	int fd;
	char *buf; /* the line being assembled, IVR_CONTROL_MAX_LINE bytes */
	size_t len;
	bool discarding; /* inside an over-long line: drop until newline */
	char in[8192];	 /* bytes received but not yet taken into lines */
	size_t in_off, in_len;
	char *out; /* the pending reply, IVR_CONTROL_MAX_LINE bytes */
	size_t out_off, out_len;
};

struct ivr_control {
	struct ivr_engine *e;
	int lfd;
	uint16_t port;
	char path[108];
	int wake[2]; /* self-pipe to stop the thread */
	pthread_t thread;
	struct client cl[MAX_CLIENTS];
};

static void drop_client(struct client *c)
{
	close(c->fd);
	free(c->buf);
	free(c->out);
	c->fd = -1;
	c->buf = c->out = NULL;
	c->len = c->in_off = c->in_len = c->out_off = c->out_len = 0;
	c->discarding = false;
}

/* Send what the socket takes of the pending reply.  @return false if the client is gone. */
static bool flush_out(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true; /* the rest goes when poll() says POLLOUT */
		if (w <= 0)
			return false;
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	return true;
}

/* Take bytes of @c->in into lines and answer them, until the input is used up or a reply
 * waits for the client to read. */
static void take_lines(struct ivr_control *ctl, struct client *c)
{
	while (c->in_off < c->in_len && c->out_len == 0) {
		char ch = c->in[c->in_off++];
		if (ch == '\n') {
			if (c->discarding) {
				c->out_len = (size_t)snprintf(c->out, IVR_CONTROL_MAX_LINE,
							      "{\"id\":null,\"ok\":false,\"error\":"
							      "\"line longer than %d bytes\"}\n",
							      IVR_CONTROL_MAX_LINE);
				c->discarding = false;
			} else {
				size_t len = c->len;
				if (len && c->buf[len - 1] == '\r')
					len--;
				if (len)
					c->out_len = ivr_control_handle(ctl->e, c->buf, len, c->out,
									IVR_CONTROL_MAX_LINE);
			}
			c->len = 0;
			continue;
		}
		if (c->discarding)
			continue;
		if (c->len + 1 >= IVR_CONTROL_MAX_LINE) {
			c->discarding = true;
			c->len = 0;
			continue;
		}
		c->buf[c->len++] = ch;
	}
}

/* Lines one client gets answered per poll round: one busy client cannot starve the others. */
#define LINES_PER_ROUND 16

/* Whether @c has received lines waiting to be answered (and no reply pending). */
static bool has_pending_input(const struct client *c)
{
	return c->fd >= 0 && c->out_len == 0 && c->in_off < c->in_len;
}

/*
 * Serve @c: flush, answer buffered lines (LINES_PER_ROUND at most), read at
 * most one more chunk.  @return false to drop the client.
 */
static bool client_serve(struct ivr_control *ctl, struct client *c)
{
	bool have_read = false;
	for (int lines = 0; lines < LINES_PER_ROUND;) {
		if (!flush_out(c))
			return false;
		if (c->out_len)
			return true; /* wait for POLLOUT */
		if (c->in_off < c->in_len) {
			take_lines(ctl, c);
			lines += c->out_len > 0;
			continue;
		}
		if (have_read)
			return true;
		ssize_t n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
		c->in_off = 0;
		c->in_len = (size_t)n;
		have_read = true;
	}
	return flush_out(c);
}

static void *control_main(void *arg)
{
	struct ivr_control *ctl = arg;
	struct pollfd pf[MAX_CLIENTS + 2];
	for (;;) {
		int n = 0;
		pf[n++] = (struct pollfd){ .fd = ctl->wake[0], .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = ctl->lfd, .events = POLLIN };
		int map[MAX_CLIENTS];
		int timeout_ms = 1000;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (ctl->cl[i].fd >= 0) {
				/* Lines left over from the last round: come back at once. */
				if (has_pending_input(&ctl->cl[i]))
					timeout_ms = 0;
				map[n - 2] = i;
				/* A client with a reply pending is not read until it takes it. */
				short ev = ctl->cl[i].out_len ? POLLOUT : POLLIN;
				pf[n++] = (struct pollfd){ .fd = ctl->cl[i].fd, .events = ev };
			}
		if (poll(pf, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		if (pf[1].revents & POLLIN) {
			int fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0) {
				int slot = -1;
				for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
					if (ctl->cl[i].fd < 0)
						slot = i;
				char *buf = slot >= 0 ? malloc(IVR_CONTROL_MAX_LINE) : NULL;
				char *out = buf ? malloc(IVR_CONTROL_MAX_LINE) : NULL;
				if (!out) {
					/* A fresh socket's buffer takes this line: no wait. */
					const char *msg = "{\"id\":null,\"ok\":false,\"error\":"
							  "\"too many control clients\"}\n";
					(void)!send(fd, msg, strlen(msg),
						    MSG_NOSIGNAL | MSG_DONTWAIT);
					close(fd);
					free(buf);
				} else {
					struct client *c = &ctl->cl[slot];
					memset(c, 0, sizeof(*c));
					c->fd = fd;
					c->buf = buf;
					c->out = out;
				}
			}
		}
		for (int k = 2; k < n; k++) {
			struct client *c = &ctl->cl[map[k - 2]];
			if (!pf[k].revents && !has_pending_input(c))
				continue;
			if (c->fd < 0)
				continue;
			if (!client_serve(ctl, c))
				drop_client(c);
		}
	}
	return NULL;
}

struct ivr_control *ivr_control_start(struct ivr_engine *e, const char *endpoint, char *err,
				      size_t err_len)
{
	struct ivr_control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !endpoint || !*endpoint) {
		free(ctl);
		if (err)
			snprintf(err, err_len, "control: no endpoint");
		errno = EINVAL;
		return NULL;
	}
	ctl->e = e;
	ctl->lfd = -1;
	ctl->wake[0] = ctl->wake[1] = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		ctl->cl[i].fd = -1;
	const char *colon = strrchr(endpoint, ':');
	int r = 0;
	if (endpoint[0] != '/' && endpoint[0] != '.' && colon) {
		char host[64];
		size_t hl = (size_t)(colon - endpoint);
		char *end;
		long port = strtol(colon + 1, &end, 10);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		if (hl >= sizeof(host) || *end || port < 0 || port > 65535) {
			r = -EINVAL;
			goto out;
		}
		memcpy(host, endpoint, hl);
		host[hl] = 0;
		if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
			r = -EINVAL;
			goto out;
		}
		ctl->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		if (ctl->lfd < 0 ||
		    setsockopt(ctl->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(ctl->lfd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			r = -errno;
			goto out;
		}
		socklen_t al = sizeof(a);
		getsockname(ctl->lfd, (struct sockaddr *)&a, &al);
		ctl->port = ntohs(a.sin_port);
	} else {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		if (strlen(endpoint) >= sizeof(a.sun_path)) {
			r = -ENAMETOOLONG;
			goto out;
		}
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", endpoint);
		snprintf(ctl->path, sizeof(ctl->path), "%s", endpoint);
		unlink(endpoint); /* a stale socket from a previous run */
		ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ctl->lfd < 0 || bind(ctl->lfd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			r = -errno;
			goto out;
		}
	}
	if (listen(ctl->lfd, 64) < 0 || pipe2(ctl->wake, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	r = -pthread_create(&ctl->thread, NULL, control_main, ctl);
out:
	if (r < 0) {
		if (err)
			snprintf(err, err_len, "control %s: %s", endpoint, strerror(-r));
		if (ctl->lfd >= 0)
			close(ctl->lfd);
		if (ctl->wake[0] >= 0) {
			close(ctl->wake[0]);
			close(ctl->wake[1]);
		}
		free(ctl);
		errno = -r;
		return NULL;
	}
	pthread_setname_np(ctl->thread, "ivr-control");
	return ctl;
}

uint16_t ivr_control_port(const struct ivr_control *c)
{
	return c ? c->port : 0;
}

void ivr_control_stop(struct ivr_control *ctl)
{
	if (!ctl)
		return;
	char b = 1;
	if (write(ctl->wake[1], &b, 1) < 0) {
		/* Cannot fail on a fresh pipe; the poll timeout (1 s) ends the thread anyway. */
	}
	pthread_join(ctl->thread, NULL);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (ctl->cl[i].fd >= 0)
			drop_client(&ctl->cl[i]);
	close(ctl->lfd);
	close(ctl->wake[0]);
	close(ctl->wake[1]);
	if (ctl->path[0])
		unlink(ctl->path);
	free(ctl);
}
