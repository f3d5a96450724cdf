/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_control.c - the JSON-lines control protocol: every op's
 * happy path and its error replies (bad JSON, wrong types, unknown ops and
 * calls, limits, hostile input: deep nesting, huge numbers, NUL bytes, bad
 * UTF-8), and the server over a real loopback TCP socket (pipelined
 * requests, over-long lines, a client that vanishes, a client that never
 * reads its replies, more clients than slots).
 */
#include "config.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/api.h"
#include "engine/control.h"
#include "ivr_test.h"

static struct ivr_engine *eng;
static char reply[IVR_CONTROL_MAX_LINE];

/* Send one request; return the parsed reply (caller decrefs). */
static json_t *rq(const char *line)
{
	size_t n = ivr_control_handle(eng, line, strlen(line), reply, sizeof(reply));
	if (n == 0 || reply[n - 1] != '\n' || memchr(reply, '\n', n - 1))
		return NULL; /* must be exactly one line */
	return json_loads(reply, 0, NULL);
}

static bool ok(json_t *j)
{
	return j && json_is_true(json_object_get(j, "ok"));
}

static const char *error_of(json_t *j)
{
	json_t *e = j ? json_object_get(j, "error") : NULL;
	return json_is_string(e) ? json_string_value(e) : "";
}

/* Send the request formatted from @fmt and @ap; return the parsed reply (caller decrefs). */
__attribute__((format(printf, 1, 0))) static json_t *vrq(const char *fmt, va_list ap)
{
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	return rq(line);
}

/* Send the request formatted from @fmt; true when the reply says ok. */
__attribute__((format(printf, 1, 2))) static bool accepted(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *j = vrq(fmt, ap);
	va_end(ap);
	bool r = ok(j);
	json_decref(j);
	return r;
}

/* Send the request formatted from @fmt; true when it is refused with an error containing @why. */
__attribute__((format(printf, 2, 3))) static bool refused(const char *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *j = vrq(fmt, ap);
	va_end(ap);
	bool r = j && !ok(j) && strstr(error_of(j), why);
	json_decref(j);
	return r;
}

/* A request on a call and its outcome: accepted (why NULL) or refused with @why in the error. */
struct call_rq {
	const char *why;
	const char *fmt; /* the request; %lld (if any) is the call id */
};

/* Send the requests of @t in order, the call id @id formatted in; check each outcome. */
static void check_call_rqs(const struct call_rq *t, size_t n, long long id)
{
	for (size_t i = 0; i < n; i++)
		ivr_check_msg(t[i].why ? refused(t[i].why, t[i].fmt, id) : accepted(t[i].fmt, id),
			      "%s", t[i].fmt);
}

static int start_engine(void)
{
	struct ivr_engine_cfg cfg = { .bind_addr = "127.0.0.1",
				      .port_min = 32000,
				      .port_max = 32100,
				      .n_workers = 1,
				      .max_calls = 4 };
	eng = ivr_engine_new(&cfg);
	if (!eng || ivr_engine_start(eng) < 0) {
		fprintf(stderr, "engine: %s\n", ivr_engine_last_error());
		return -1;
	}
	return 0;
}

IVR_TEST(test_bad_requests)
{
	json_t *j;
	j = rq("not json");
	ivr_check(j && !ok(j) && strstr(error_of(j), "not JSON"));
	ivr_check(j && json_is_null(json_object_get(j, "id")));
	json_decref(j);
	ivr_check(refused("object", "[1,2]"));
	j = rq("{\"id\":7,\"op\":5}");
	ivr_check(j && !ok(j) && json_integer_value(json_object_get(j, "id")) == 7);
	json_decref(j);
	ivr_check(refused("unknown op", "{\"id\":8,\"op\":\"fly\"}"));
	ivr_check(refused("call_id", "{\"id\":9,\"op\":\"play\",\"call_id\":\"x\"}"));
	ivr_check(refused("'file' is required", "{\"id\":10,\"op\":\"play\",\"call_id\":123456}"));
	ivr_check(refused("no call", "{\"id\":11,\"op\":\"stop_play\",\"call_id\":123456}"));
	j = rq("{\"id\":12,\"op\":\"ping\",\"id\":13}");
	ivr_check(j && !ok(j)); /* duplicate keys refused */
	json_decref(j);
	/* The id is echoed whatever its type. */
	j = rq("{\"id\":\"abc\",\"op\":\"ping\"}");
	ivr_check(ok(j) && !strcmp(json_string_value(json_object_get(j, "id")), "abc"));
	json_decref(j);
	return IVR_TEST_RESULT();
}

/* Send @n bytes (may hold NULs); true when refused with an error containing @why. */
static bool refused_bytes(const char *why, const char *line, size_t n)
{
	size_t m = ivr_control_handle(eng, line, n, reply, sizeof(reply));
	if (m == 0 || reply[m - 1] != '\n' || memchr(reply, '\n', m - 1))
		return false;
	json_t *j = json_loads(reply, 0, NULL);
	bool r = j && !ok(j) && strstr(error_of(j), why);
	if (!r)
		fprintf(stderr, "  reply: %s", reply);
	json_decref(j);
	return r;
}

/* Hostile requests: each gets one error reply with a reason, the engine keeps going. */
IVR_TEST(test_limits)
{
	/* Nesting far deeper than any request: the parser's depth limit, not the stack. */
	size_t deep = IVR_CONTROL_MAX_LINE - 16;
	char *line = malloc(deep + 32);
	int k = sprintf(line, "{\"id\":1,\"op\":\"ping\",\"x\":");
	memset(line + k, '[', deep - (size_t)k);
	ivr_check(refused_bytes("not JSON", line, deep));
	memset(line, '{', deep);
	ivr_check(refused_bytes("not JSON", line, deep));
	/* A string value as long as a line may be: an error, its echo bounded. */
	k = sprintf(line, "{\"id\":2,\"op\":\"");
	memset(line + k, 'o', deep - (size_t)k - 2);
	memcpy(line + deep - 2, "\"}", 2);
	ivr_check(refused_bytes("unknown op", line, deep));
	size_t m = strlen(reply);
	ivr_check_msg(m < 400, "reply to a 64 KiB op name is %zu bytes", m);
	free(line);
	/* Numbers: too big for any integer type, negative, fractional, exponent. */
	ivr_check(refused("not JSON", "{\"id\":3,\"op\":\"stop_play\",\"call_id\":%s}",
			  "123456789012345678901234567890"));
	ivr_check(refused("call_id", "{\"id\":4,\"op\":\"stop_play\",\"call_id\":-1}"));
	ivr_check(refused("call_id", "{\"id\":5,\"op\":\"stop_play\",\"call_id\":1.5}"));
	ivr_check(refused("call_id", "{\"id\":6,\"op\":\"stop_play\",\"call_id\":1e300}"));
	ivr_check(refused("no call", "{\"id\":7,\"op\":\"stop_play\",\"call_id\":%lld}",
			  (long long)INT64_MAX));
	ivr_check(refused("pt", "{\"id\":8,\"op\":\"create_call\",\"pt\":%lld}",
			  (long long)INT64_MIN));
	ivr_check(refused("ptime", "{\"id\":9,\"op\":\"create_call\",\"ptime_ms\":4294967316}"));
	/* NUL inside the line, invalid UTF-8, an empty object, the op of another type. */
	static const char nul[] = "{\"id\":10,\"op\":\"ping\0\"}";
	ivr_check(refused_bytes("not JSON", nul, sizeof(nul) - 1));
	ivr_check(refused("not JSON", "{\"id\":11,\"op\":\"p\xff\xfeing\"}"));
	ivr_check(refused("op", "{}"));
	ivr_check(refused("op", "{\"id\":12,\"op\":[\"ping\"]}"));
	ivr_check(refused("not JSON", "{\"id\":13,\"op\":\"ping\"} trailing"));
	/* Bad DTMF and dangerous file names reach the API and are refused there. */
	json_t *j = rq("{\"id\":14,\"op\":\"create_call\",\"remote\":\"127.0.0.1:9\"}");
	ivr_check(ok(j));
	long long id = (long long)json_integer_value(json_object_get(j, "call_id"));
	json_decref(j);
	ivr_check(refused("", "{\"id\":15,\"op\":\"send_dtmf\",\"call_id\":%lld,\"digits\":\"1x\"}",
			  id));
	ivr_check(refused("", "{\"id\":16,\"op\":\"play\",\"call_id\":%lld,\"file\":\"\"}", id));
	ivr_check(refused(
		"", "{\"id\":17,\"op\":\"play\",\"call_id\":%lld,\"file\":\"/nonexistent\"}", id));
	/* 60000 digits: refused by length, not queued. */
	line = malloc(IVR_CONTROL_MAX_LINE);
	k = snprintf(line, 200, "{\"id\":20,\"op\":\"send_dtmf\",\"call_id\":%lld,\"digits\":\"",
		     id);
	memset(line + k, '1', 60000);
	memcpy(line + k + 60000, "\"}", 2);
	ivr_check(refused_bytes("digits", line, (size_t)k + 60002));
	/* Variables cannot grow a call without bound: 100 x 100-byte keys is over the limit. */
	int n_ok = 0;
	for (int i = 0; i < 100; i++) {
		char v[100];
		memset(v, 'v', sizeof(v) - 1);
		v[sizeof(v) - 1] = 0;
		n_ok += accepted("{\"id\":21,\"op\":\"set_vars\",\"call_id\":%lld,\"vars\":{\"k%"
				 "d\":\"%s\"}}",
				 id, i, v);
	}
	ivr_check_msg(n_ok > 10 && n_ok < 100, "%d of 100 set_vars accepted", n_ok);
	ivr_check(refused(
		"over",
		"{\"id\":22,\"op\":\"set_vars\",\"call_id\":%lld,\"vars\":{\"k99\":\"%0500d\"}}",
		id, 0));
	/* What was accepted is all still there: stats shows every variable. */
	char q[128];
	snprintf(q, sizeof(q), "{\"id\":23,\"op\":\"stats\",\"call_id\":%lld}", id);
	j = rq(q);
	ivr_check_int_eq(json_object_size(json_object_get(j, "vars")), n_ok);
	json_decref(j);
	k = snprintf(line, 200, "{\"id\":24,\"op\":\"create_call\",\"vars\":{\"a\":\"");
	memset(line + k, 'a', IVR_CALL_VARS_MAX_BYTES);
	memcpy(line + k + IVR_CALL_VARS_MAX_BYTES, "\"}}", 3);
	ivr_check(refused_bytes("vars over", line, (size_t)k + IVR_CALL_VARS_MAX_BYTES + 3));
	free(line);
	ivr_check(accepted("{\"id\":18,\"op\":\"destroy_call\",\"call_id\":%lld}", id));
	/* Still serving. */
	ivr_check(accepted("{\"id\":19,\"op\":\"ping\"}"));
	return IVR_TEST_RESULT();
}

/* The same operations through the C API with NULL, empty and absurd arguments: errors. */
IVR_TEST(test_api_bad_args)
{
	struct ivr_call_params p = { .remote = "127.0.0.1:9", .pt = -1, .dtmf_pt = -1 };
	uint64_t id;
	uint16_t port;
	ivr_check(ivr_call_create(eng, NULL, &id, &port) < 0);
	ivr_check(ivr_call_create(eng, &p, NULL, &port) < 0);
	ivr_check(ivr_call_create(NULL, &p, &id, &port) < 0);
	struct ivr_call_params bad = p;
	bad.remote = "127.0.0.1:99999";
	ivr_check(ivr_call_create(eng, &bad, &id, &port) < 0);
	bad.remote = "127.0.0.1:9";
	bad.codec = "";
	ivr_check(ivr_call_create(eng, &bad, &id, &port) < 0);
	bad.codec = NULL;
	bad.vars_json = "{\"a\":";
	ivr_check(ivr_call_create(eng, &bad, &id, &port) < 0);
	ivr_check_int_eq(ivr_call_create(eng, &p, &id, &port), 0);
	ivr_check(ivr_call_play(eng, id, NULL, false, false) < 0);
	ivr_check(ivr_call_play(eng, id, "", false, false) < 0);
	ivr_check(ivr_call_send_dtmf(eng, id, NULL, NULL) < 0);
	ivr_check(ivr_call_send_dtmf(eng, id, "", NULL) < 0);
	ivr_check(ivr_call_send_dtmf(eng, id, "1", "loud") < 0);
	ivr_check(ivr_call_record_start(eng, id, NULL, NULL) < 0);
	ivr_check(ivr_call_record_start(eng, id, "", NULL) < 0);
	ivr_check(ivr_call_record_start(eng, id, "/nonexistent/dir/x.wav", NULL) < 0);
	ivr_check(ivr_call_record_start(eng, id, "/tmp/x.wav", "caller,nobody") < 0);
	ivr_check(ivr_call_conf_join(eng, id, NULL, true, true, 0) < 0);
	ivr_check(ivr_call_conf_join(eng, id, "", true, true, 0) < 0);
	ivr_check(ivr_call_conf_join(eng, id, "room", true, true, id + 1) < 0);
	ivr_check(ivr_call_transfer(eng, id, NULL) < 0);
	ivr_check(ivr_call_set_vars(eng, id, NULL) < 0);
	ivr_check(ivr_call_set_vars(eng, id, "[1]") < 0);
	char small[2];
	ivr_check(ivr_call_get_vars(eng, id, small, sizeof(small)) == -ENOSPC);
	ivr_check(ivr_call_get_vars(eng, id, NULL, 0) < 0);
	ivr_check(ivr_call_get_vars(eng, id, NULL, 100) == -EINVAL);
	ivr_check(ivr_call_get_vars(NULL, id, small, sizeof(small)) < 0);
	ivr_check(ivr_call_play(NULL, id, "x.wav", false, false) < 0);
	ivr_check(ivr_engine_get_stats(NULL, NULL) < 0);
	ivr_check(ivr_call_get_info(eng, id, NULL) < 0);
	ivr_check(ivr_call_get_info(eng, UINT64_MAX, NULL) < 0);
	ivr_check(ivr_call_destroy(eng, UINT64_MAX) < 0);
	ivr_check(ivr_call_destroy(eng, 0) < 0);
	ivr_check(ivr_engine_get_stats(eng, NULL) < 0);
	ivr_check_int_eq(ivr_call_destroy(eng, id), 0);
	ivr_check(ivr_call_destroy(eng, id) < 0); /* twice */
	ivr_check(ivr_call_stop_play(eng, id) < 0);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_call_ops)
{
	json_t *j;
	ivr_check(refused(
		"codec",
		"{\"id\":1,\"op\":\"create_call\",\"remote\":\"127.0.0.1:9\",\"codec\":\"G729\"}"));
	ivr_check(refused("remote", "{\"id\":1,\"op\":\"create_call\",\"remote\":\"localhost\"}"));
	ivr_check(refused("ptime", "{\"id\":1,\"op\":\"create_call\",\"ptime_ms\":30}"));
	ivr_check(refused("vars", "{\"id\":1,\"op\":\"create_call\",\"vars\":[1]}"));
	ivr_check(refused("pt", "{\"id\":1,\"op\":\"create_call\",\"pt\":300}"));
	ivr_check(refused("aec", "{\"id\":1,\"op\":\"create_call\",\"aec\":\"yes\"}"));
	/* the negotiated rate: one the engine does not run, or wideband G.711 */
	ivr_check(
		refused("rate_hz 22050 not supported for opus",
			"{\"id\":1,\"op\":\"create_call\",\"codec\":\"opus\",\"rate_hz\":22050}"));
	ivr_check(refused("rate_hz 16000 not supported for PCMU",
			  "{\"id\":1,\"op\":\"create_call\",\"rate_hz\":16000}"));
	ivr_check(refused("rate_hz", "{\"id\":1,\"op\":\"create_call\",\"rate_hz\":\"wide\"}"));
	j = rq("{\"id\":1,\"op\":\"create_call\",\"remote\":\"127.0.0.1:9\",\"codec\":\"opus\","
	       "\"rate_hz\":48000}");
	ivr_check(ok(j));
	long long wid = (long long)json_integer_value(json_object_get(j, "call_id"));
	json_decref(j);
	char wb[160];
	snprintf(wb, sizeof(wb), "{\"id\":1,\"op\":\"stats\",\"call_id\":%lld}", wid);
	j = rq(wb);
	json_t *cs = j ? json_object_get(j, "call") : NULL;
	ivr_check(ok(j) && json_integer_value(json_object_get(cs, "rate_hz")) == 16000 &&
		  json_integer_value(json_object_get(cs, "codec_rate_hz")) == 48000);
	json_decref(j);
	ivr_check(accepted("{\"id\":1,\"op\":\"destroy_call\",\"call_id\":%lld}", wid));
	j = rq("{\"id\":1,\"op\":\"create_call\",\"remote\":\"127.0.0.1:9\",\"aec\":true}");
	ivr_check(ok(j));
	char destroy[128];
	snprintf(destroy, sizeof(destroy), "{\"id\":1,\"op\":\"destroy_call\",\"call_id\":%lld}",
		 (long long)json_integer_value(json_object_get(j, "call_id")));
	json_decref(j);
	j = rq(destroy);
	ivr_check(ok(j));
	json_decref(j);
	j = rq("{\"id\":2,\"op\":\"create_call\",\"remote\":\"127.0.0.1:9\",\"codec\":\"PCMA\","
	       "\"ani\":\"+15551234\",\"dnis\":\"800\",\"flow\":\"bank\",\"dtmf_pt\":101,"
	       "\"vars\":{\"tier\":\"gold\"}}");
	ivr_check(ok(j));
	json_int_t id = json_integer_value(json_object_get(j, "call_id"));
	json_int_t port = json_integer_value(json_object_get(j, "local_port"));
	ivr_check(port >= 32000 && port <= 32100 && port % 2 == 0);
	json_decref(j);
	char buf[512];
	/* Router commands: an announcement needs the call to wait in queue first. */
	static const struct call_rq router_rqs[] = {
		{ NULL,
		  "{\"id\":3,\"op\":\"set_vars\",\"call_id\":%lld,\"vars\":{\"lang\":\"fr\"}}" },
		{ "not waiting in a queue", "{\"id\":4,\"op\":\"queue_announce\",\"call_id\":%lld,"
					    "\"position\":3,\"wait_s\":90}" },
		{ "position", "{\"id\":4,\"op\":\"queue_announce\",\"call_id\":%lld}" },
		{ "target", "{\"id\":4,\"op\":\"transfer\",\"call_id\":%lld}" },
		{ "no call", "{\"id\":4,\"op\":\"transfer\",\"call_id\":999999,\"target\":\"x\"}" },
		{ NULL, "{\"id\":4,\"op\":\"transfer\",\"call_id\":%lld,\"target\":\"billing\"}" },
	};
	check_call_rqs(router_rqs, IVR_N_ELEMENTS(router_rqs), (long long)id);
	ivr_check(ivr_engine_sync(eng) == 0); /* the worker has put the call in queue */
	snprintf(buf, sizeof(buf),
		 "{\"id\":4,\"op\":\"queue_announce\",\"call_id\":%lld,\"position\":3,\"wait_s\":"
		 "90}",
		 (long long)id);
	j = rq(buf);
#if IVR_HAVE_ASR
	if (!ok(j))
		fprintf(stderr, "queue_announce: %s (flite missing?)\n", error_of(j));
	else
		ivr_check(!strcmp(json_string_value(json_object_get(j, "text")),
				  "There are 2 callers ahead of you. Your expected wait is about 2 "
				  "minutes."));
#else
	ivr_check(!ok(j) && strstr(error_of(j), "render"));
#endif
	json_decref(j);
	snprintf(buf, sizeof(buf), "{\"id\":5,\"op\":\"stats\",\"call_id\":%lld}", (long long)id);
	j = rq(buf);
	ivr_check(ok(j));
	json_t *vars = json_object_get(j, "vars");
	ivr_check(!strcmp(json_string_value(json_object_get(vars, "tier")), "gold"));
	ivr_check(!strcmp(json_string_value(json_object_get(vars, "lang")), "fr"));
	ivr_check(!strcmp(json_string_value(json_object_get(vars, "transfer_target")), "billing"));
	ivr_check(!strcmp(json_string_value(json_object_get(json_object_get(j, "call"), "codec")),
			  "PCMA"));
	ivr_check(json_is_integer(json_object_get(json_object_get(j, "call"), "frames_fec")));
	json_decref(j);
	static const struct call_rq media_rqs[] = {
		{ "nonexistent",
		  "{\"id\":6,\"op\":\"play\",\"call_id\":%lld,\"file\":\"/nonexistent.wav\"}" },
		{ "digits", "{\"id\":7,\"op\":\"send_dtmf\",\"call_id\":%lld,\"digits\":\"12x\"}" },
		{ NULL, "{\"id\":8,\"op\":\"send_dtmf\",\"call_id\":%lld,\"digits\":\"123#\"}" },
		{ "cannot open", "{\"id\":9,\"op\":\"record_start\",\"call_id\":%lld,\"path\":\"/"
				 "nonexistent-dir/x.wav\"}" },
		{ "channels", "{\"id\":10,\"op\":\"record_start\",\"call_id\":%lld,\"path\":\"/tmp/"
			      "x.wav\",\"channels\":[\"caller\",\"bogus\"]}" },
		{ "not in a conference", "{\"id\":11,\"op\":\"conf_flags\",\"call_id\":%lld,"
					 "\"listen\":true,\"speak\":false}" },
		{ "speak", "{\"id\":12,\"op\":\"conf_join\",\"call_id\":%lld,\"conf\":\"room1\","
			   "\"listen\":true,\"speak\":\"yes\"}" },
		{ NULL, "{\"id\":13,\"op\":\"conf_join\",\"call_id\":%lld,\"conf\":\"room1\"}" },
		{ NULL, "{\"id\":14,\"op\":\"conf_leave\",\"call_id\":%lld}" },
		{ NULL, "{\"id\":15,\"op\":\"hangup\",\"call_id\":%lld}" },
		{ "no call", "{\"id\":15,\"op\":\"hangup\",\"call_id\":%lld}" },
	};
	check_call_rqs(media_rqs, IVR_N_ELEMENTS(media_rqs), (long long)id);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_max_calls)
{
	json_t *j;
	json_int_t ids[4];
	for (int i = 0; i < 4; i++) {
		j = rq("{\"id\":1,\"op\":\"create_call\"}");
		ivr_check(ok(j));
		ids[i] = json_integer_value(json_object_get(j, "call_id"));
		json_decref(j);
	}
	j = rq("{\"id\":2,\"op\":\"create_call\"}");
	ivr_check_msg(!ok(j) && strstr(error_of(j), "max calls (4) reached"), "%s", error_of(j));
	json_decref(j);
	ivr_check(
		accepted("{\"id\":3,\"op\":\"destroy_call\",\"call_id\":%lld}", (long long)ids[0]));
	/* The freed slot is reused; the old id stays invalid. */
	j = rq("{\"id\":4,\"op\":\"create_call\"}");
	ivr_check(ok(j));
	ivr_check(json_integer_value(json_object_get(j, "call_id")) != ids[0]);
	ids[0] = json_integer_value(json_object_get(j, "call_id"));
	json_decref(j);
	j = rq("{\"id\":5,\"op\":\"stats\"}");
	ivr_check(ok(j));
	json_t *en = json_object_get(j, "engine");
	ivr_check(json_integer_value(json_object_get(en, "calls_active")) == 4);
	ivr_check(json_integer_value(json_object_get(en, "calls_refused")) >= 1);
	json_decref(j);
	for (int i = 0; i < 4; i++)
		ivr_check_int_eq(ivr_call_destroy(eng, (uint64_t)ids[i]), 0);
	return IVR_TEST_RESULT();
}

static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		ssize_t r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

/*
 * Start the control server on a free loopback TCP port; its address goes to @a.
 * @return the server, or NULL (the reason on stderr: the case is skipped).
 */
static struct ivr_control *server_start(struct sockaddr_in *a)
{
	char err[256];
	struct ivr_control *ctl = ivr_control_start(eng, "127.0.0.1:0", err, sizeof(err));
	if (!ctl) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	*a = (struct sockaddr_in){ .sin_family = AF_INET,
				   .sin_port = htons(ivr_control_port(ctl)) };
	inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
	return ctl;
}

IVR_TEST(test_server_tcp)
{
	struct sockaddr_in a;
	struct ivr_control *ctl = server_start(&a);
	if (!ctl)
		return IVR_TEST_SKIP;
	/* A client that connects and vanishes must not disturb anything. */
	int gone = socket(AF_INET, SOCK_STREAM, 0);
	ivr_check(connect(gone, (struct sockaddr *)&a, sizeof(a)) == 0);
	ivr_check(send(gone, "{\"id\":1,\"op\":\"pi", 16, 0) == 16);
	close(gone);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ivr_check(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	/* Two pipelined requests in one write, CRLF line ends. */
	const char *two = "{\"id\":1,\"op\":\"ping\"}\r\n{\"id\":2,\"op\":\"stats\"}\n";
	ivr_check(send(fd, two, strlen(two), 0) == (ssize_t)strlen(two));
	char line[8192];
	ivr_check(read_line(fd, line, sizeof(line)) > 0 && strstr(line, "\"id\":1") &&
		  strstr(line, "\"ok\":true"));
	ivr_check(read_line(fd, line, sizeof(line)) > 0 && strstr(line, "\"id\":2") &&
		  strstr(line, "calls_active"));
	/* An over-long line gets an error, and the connection keeps working. */
	size_t big = IVR_CONTROL_MAX_LINE + 100;
	char *junk = malloc(big + 1);
	memset(junk, 'x', big);
	junk[big] = '\n';
	ivr_check(send(fd, junk, big + 1, 0) == (ssize_t)big + 1);
	free(junk);
	ivr_check(read_line(fd, line, sizeof(line)) > 0 && strstr(line, "longer than"));
	ivr_check(send(fd, "{\"id\":3,\"op\":\"ping\"}\n", 21, 0) == 21);
	ivr_check(read_line(fd, line, sizeof(line)) > 0 && strstr(line, "\"id\":3"));
	close(fd);
	ivr_control_stop(ctl);
	return IVR_TEST_RESULT();
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_to(const struct sockaddr_in *a, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = { .tv_sec = 10 }; /* a broken server fails the test, not hangs it */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Ping over @fd; @return the reply time in ms, or -1. */
static long ping_ms(int fd, int id)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "{\"id\":%d,\"op\":\"ping\"}\n", id);
	uint64_t t0 = mono_ms();
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	char want[32];
	snprintf(want, sizeof(want), "\"id\":%d,", id);
	if (read_line(fd, line, sizeof(line)) <= 0 || !strstr(line, want) ||
	    !strstr(line, "\"pong\":true"))
		return -1;
	return (long)(mono_ms() - t0);
}

/*
 * A client that pipelines thousands of requests and never reads must not
 * hold up the control thread: another client is answered at once meanwhile.
 * When the stuck client reads at last, it gets every reply, whole and in
 * order (nothing dropped to get rid of it).
 */
IVR_TEST(test_server_client_never_reads)
{
	struct sockaddr_in a;
	struct ivr_control *ctl = server_start(&a);
	if (!ctl)
		return IVR_TEST_SKIP;
	int stuck = connect_to(&a, 4096);
	int other = connect_to(&a, 0);
	ivr_check(stuck >= 0 && other >= 0);
	/*
	 * 30000 stats requests (~12 MB of replies, more than the socket buffers
	 * hold: tcp_wmem max is 4 MB here, the stuck client's receive buffer 4 KiB).
	 */
	const int n_req = 30000;
	size_t cap = (size_t)n_req * 40, len = 0;
	char *reqs = malloc(cap);
	for (int i = 1; i <= n_req; i++)
		len += (size_t)snprintf(reqs + len, cap - len, "{\"id\":%d,\"op\":\"stats\"}\n", i);
	size_t sent = 0;
	uint64_t last_progress = mono_ms();
	while (sent < len && mono_ms() - last_progress < 300) {
		ssize_t w = send(stuck, reqs + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			last_progress = mono_ms();
		} else {
			poll(NULL, 0, 5);
		}
	}
	int n_whole = 0; /* requests sent in full: each must get its reply */
	for (size_t i = 0; i < sent; i++)
		n_whole += reqs[i] == '\n';
	free(reqs);
	poll(NULL, 0, 200); /* let the server fill the stuck client's buffers */
	long worst = 0;
	for (int i = 0; i < 5; i++) {
		long ms = ping_ms(other, 100000 + i);
		ivr_check_msg(ms >= 0, "no ping reply while another client is stuck");
		if (ms > worst)
			worst = ms;
	}
	/* The old blocking send waited 1 s per reply; a loaded machine still answers in ms. */
	ivr_check_msg(worst < 900, "ping took %ld ms while another client is stuck", worst);
	printf("  ping while a client does not read: worst %ld ms\n", worst);
	/* The stuck client reads now: every reply, whole and in order. */
	static char in[1 << 16];
	size_t have = 0;
	int next = 1, bad = 0;
	while (next <= n_whole) {
		ssize_t r = recv(stuck, in + have, sizeof(in) - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
		char *p = in, *nl;
		while (next <= n_whole && (nl = memchr(p, '\n', have - (size_t)(p - in)))) {
			*nl = 0;
			char want[32];
			snprintf(want, sizeof(want), "{\"id\":%d,", next);
			if (strncmp(p, want, strlen(want)) || !strstr(p, "calls_active"))
				bad++;
			next++;
			p = nl + 1;
		}
		have -= (size_t)(p - in);
		memmove(in, p, have);
	}
	printf("  the stuck client got %d requests in before the server held off\n", n_whole);
	ivr_check_msg(n_whole > 100, "only %d requests went in", n_whole);
	ivr_check_msg(next == n_whole + 1 && bad == 0, "stuck client got %d of %d replies, %d bad",
		      next - 1, n_whole, bad);
	close(stuck);
	close(other);
	ivr_control_stop(ctl);
	return IVR_TEST_RESULT();
}

/* More clients than slots: the extra one is told why and closed, the rest are all served. */
IVR_TEST(test_server_many_clients)
{
	struct sockaddr_in a;
	struct ivr_control *ctl = server_start(&a);
	if (!ctl)
		return IVR_TEST_SKIP;
	enum { N = 64 }; /* the server's client slots */
	int fd[N];
	for (int i = 0; i < N; i++) {
		fd[i] = connect_to(&a, 0);
		ivr_check(fd[i] >= 0);
	}
	/* All slots taken once each has been answered (the server accepts in order). */
	int served = 0;
	for (int i = 0; i < N; i++)
		served += fd[i] >= 0 && ping_ms(fd[i], i) >= 0;
	ivr_check_int_eq(served, N);
	int extra = connect_to(&a, 0);
	char line[256] = "";
	ivr_check(extra >= 0 && read_line(extra, line, sizeof(line)) > 0 &&
		  strstr(line, "too many control clients"));
	if (extra >= 0)
		close(extra);
	/* A freed slot is reused. */
	close(fd[0]);
	fd[0] = -1;
	long ms = -1;
	for (int tries = 0; tries < 50 && ms < 0; tries++) {
		int c = connect_to(&a, 0);
		ms = c >= 0 ? ping_ms(c, 7) : -1;
		if (ms < 0 && c >= 0) {
			close(c);
			poll(NULL, 0, 20); /* the server has not seen the close yet */
		} else {
			fd[0] = c;
		}
	}
	ivr_check_msg(ms >= 0, "no slot after a client left");
	for (int i = 0; i < N; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	ivr_control_stop(ctl);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	if (start_engine() < 0)
		return 77;
	ivr_test_run(test_bad_requests);
	ivr_test_run(test_limits);
	ivr_test_run(test_api_bad_args);
	ivr_test_run(test_call_ops);
	ivr_test_run(test_max_calls);
	ivr_test_run(test_server_tcp);
	ivr_test_run(test_server_client_never_reads);
	ivr_test_run(test_server_many_clients);
	ivr_engine_free(eng);
	return ivr_test_summary();
}
