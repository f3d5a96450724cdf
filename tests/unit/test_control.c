/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_control.c - the JSON-lines control protocol: every op's
 * happy path and its error replies (bad JSON, wrong types, unknown ops and
 * calls, limits), and the server over a real loopback TCP socket (pipelined
 * requests, over-long lines, a client that vanishes).
 */
#include "config.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
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

/* Send the request formatted from @fmt; true when the reply says ok. */
__attribute__((format(printf, 1, 2))) static bool accepted(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_t *j = rq(line);
	bool r = ok(j);
	json_decref(j);
	return r;
}

/* Send the request formatted from @fmt; true when it is refused with an error containing @why. */
__attribute__((format(printf, 2, 3))) static bool refused(const char *why, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_t *j = rq(line);
	bool r = j && !ok(j) && strstr(error_of(j), why);
	json_decref(j);
	return r;
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
	ivr_check(accepted(
		"{\"id\":3,\"op\":\"set_vars\",\"call_id\":%lld,\"vars\":{\"lang\":\"fr\"}}",
		(long long)id));
	/* Router commands: an announcement needs the call to wait in queue first. */
	ivr_check(refused(
		"not waiting in a queue",
		"{\"id\":4,\"op\":\"queue_announce\",\"call_id\":%lld,\"position\":3,\"wait_s\":"
		"90}",
		(long long)id));
	ivr_check(refused("position", "{\"id\":4,\"op\":\"queue_announce\",\"call_id\":%lld}",
			  (long long)id));
	ivr_check(refused("target", "{\"id\":4,\"op\":\"transfer\",\"call_id\":%lld}",
			  (long long)id));
	ivr_check(refused("no call",
			  "{\"id\":4,\"op\":\"transfer\",\"call_id\":999999,\"target\":\"x\"}"));
	ivr_check(accepted("{\"id\":4,\"op\":\"transfer\",\"call_id\":%lld,\"target\":\"billing\"}",
			   (long long)id));
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
	ivr_check(
		refused("nonexistent",
			"{\"id\":6,\"op\":\"play\",\"call_id\":%lld,\"file\":\"/nonexistent.wav\"}",
			(long long)id));
	ivr_check(refused("digits",
			  "{\"id\":7,\"op\":\"send_dtmf\",\"call_id\":%lld,\"digits\":\"12x\"}",
			  (long long)id));
	ivr_check(accepted("{\"id\":8,\"op\":\"send_dtmf\",\"call_id\":%lld,\"digits\":\"123#\"}",
			   (long long)id));
	ivr_check(refused(
		"cannot open",
		"{\"id\":9,\"op\":\"record_start\",\"call_id\":%lld,\"path\":\"/nonexistent-dir/"
		"x.wav\"}",
		(long long)id));
	ivr_check(refused("channels",
			  "{\"id\":10,\"op\":\"record_start\",\"call_id\":%lld,\"path\":\"/tmp/"
			  "x.wav\",\"channels\":[\"caller\",\"bogus\"]}",
			  (long long)id));
	ivr_check(refused(
		"not in a conference",
		"{\"id\":11,\"op\":\"conf_flags\",\"call_id\":%lld,\"listen\":true,\"speak\":"
		"false}",
		(long long)id));
	ivr_check(refused(
		"speak",
		"{\"id\":12,\"op\":\"conf_join\",\"call_id\":%lld,\"conf\":\"room1\",\"listen\":"
		"true,\"speak\":\"yes\"}",
		(long long)id));
	ivr_check(accepted("{\"id\":13,\"op\":\"conf_join\",\"call_id\":%lld,\"conf\":\"room1\"}",
			   (long long)id));
	ivr_check(accepted("{\"id\":14,\"op\":\"conf_leave\",\"call_id\":%lld}", (long long)id));
	ivr_check(accepted("{\"id\":15,\"op\":\"hangup\",\"call_id\":%lld}", (long long)id));
	ivr_check(refused("no call", "{\"id\":15,\"op\":\"hangup\",\"call_id\":%lld}",
			  (long long)id));
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

IVR_TEST(test_server_tcp)
{
	char err[256];
	struct ivr_control *ctl = ivr_control_start(eng, "127.0.0.1:0", err, sizeof(err));
	if (!ctl) {
		fprintf(stderr, "%s\n", err);
		return IVR_TEST_SKIP;
	}
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ivr_control_port(ctl)) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
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

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	if (start_engine() < 0)
		return 77;
	ivr_test_run(test_bad_requests);
	ivr_test_run(test_call_ops);
	ivr_test_run(test_max_calls);
	ivr_test_run(test_server_tcp);
	ivr_engine_free(eng);
	return ivr_test_summary();
}
