/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_shmring_multiproc.c - the event ring across processes.
 *
 * fork()ed readers that are SIGKILLed while reading and while asleep in the futex, that
 * crash, restart, fall behind and are lapped (exact loss counts, every delivered payload
 * byte checked, multi-slot records never torn); readers sleeping without spinning; and
 * the tools as separate programs: ivr-events on good, missing, other-version, truncated
 * and garbage rings and on a stopped-then-lapped reader; ivr-router against a ring this
 * test writes and a fake engine control socket this test listens on (and --dry-run).
 */
#include "config.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/shmring.h"
#include "engine/events.h"
#include "ivr_pattern.h"
#include "ivr_test.h"

static char tmpdir[256];

static const char *path_in_tmp(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
	return buf;
}

/* Largest payload of the current case; reader children inherit it through fork(). */
static size_t g_maxlen = 2000;

static int publish(struct ivr_shmring *s, uint64_t seq, size_t maxlen)
{
	unsigned char b[4096];
	size_t len = ivr_pattern_len(seq, maxlen);
	ivr_pattern_fill(b, len, seq);
	return ivr_shmring_push(s, 0, 1, seq, ivr_shmring_now_ns(), 0, b, len);
}

/* What a reader child reports through its pipe. */
struct report {
	uint64_t got, lost, bad, first, last;
	double cpu_s;
};

/* Reader child body: read until record @until-1 arrives or @idle_ms pass without one,
 * checking every payload; optionally stall (to be lapped) or sleep between records. */
static void reader_child(const char *path, int fd, uint64_t until, int stall_every, int idle_ms,
			 enum ivr_shmring_from from)
{
	struct ivr_shmring_reader r;
	struct report rep = { .first = UINT64_MAX };
	if (ivr_shmring_reader_open(&r, path, from) != 0) {
		rep.bad = 1;
		if (write(fd, &rep, sizeof(rep)) < 0)
			_exit(3);
		_exit(2);
	}
	static unsigned char buf[8192];
	struct ivr_shmring_rec rec;
	uint64_t next = UINT64_MAX;
	for (;;) {
		int rc = ivr_shmring_read(&r, &rec, buf, sizeof(buf));
		if (rc == 1) {
			if ((next != UINT64_MAX && rec.seq != next + rec.lost_before) ||
			    rec.len != ivr_pattern_len(rec.seq, g_maxlen) ||
			    !ivr_pattern_ok(buf, rec.len, rec.seq) || rec.call_id != rec.seq)
				rep.bad++;
			if (rep.first == UINT64_MAX)
				rep.first = rec.seq;
			rep.last = rec.seq;
			rep.got++;
			rep.lost += rec.lost_before;
			next = rec.seq + 1;
			if (stall_every && rep.got % (uint64_t)stall_every == 0) {
				struct timespec ts = { 0, 2000000 };
				nanosleep(&ts, NULL);
			}
			if (next >= until)
				break;
			continue;
		}
		if (rc < 0 || ivr_shmring_reader_wait(&r, idle_ms) == -ETIMEDOUT)
			break;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	rep.cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	if (write(fd, &rep, sizeof(rep)) != sizeof(rep))
		_exit(3);
	_exit(0);
}

static pid_t spawn_reader(const char *path, int *rfd, uint64_t until, int stall_every, int idle_ms,
			  enum ivr_shmring_from from)
{
	int p[2];
	*rfd = -1;
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		reader_child(path, p[1], until, stall_every, idle_ms, from);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

static int collect(pid_t pid, int fd, struct report *rep)
{
	memset(rep, 0, sizeof(*rep));
	ssize_t n = read(fd, rep, sizeof(*rep));
	close(fd);
	int st = 0;
	waitpid(pid, &st, 0);
	return n == (ssize_t)sizeof(*rep) && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static uint32_t waiters(const char *path)
{
	struct ivr_shmring_reader r;
	if (ivr_shmring_reader_open(&r, path, IVR_SHMRING_FROM_NEWEST) != 0)
		return UINT32_MAX;
	uint32_t w = __atomic_load_n(&r.wp->waiters, __ATOMIC_ACQUIRE);
	ivr_shmring_reader_close(&r);
	return w;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

IVR_TEST(killed_crashed_and_restarted_readers)
{
	char p[300];
	struct ivr_shmring s;
	struct ivr_shmring_cfg cfg = { .capacity = 4096, .slot_size = 64 };
	ivr_check_int_eq(ivr_shmring_create(&s, path_in_tmp(p, sizeof(p), "kill"), &cfg), 0);
	g_maxlen = 200;
	/* A reader that will be killed while asleep in the futex. */
	int fd_sleep = -1, fd_busy = -1;
	pid_t sleeper = spawn_reader(p, &fd_sleep, UINT64_MAX, 0, -1, IVR_SHMRING_FROM_NEWEST);
	for (int i = 0; i < 200 && waiters(p) != 1; i++)
		sleep_ms(5);
	ivr_check_int_eq(waiters(p), 1);
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	close(fd_sleep);
	/* Its registration stays behind: the producer pays one spare wake per tick, no more. */
	ivr_check_int_eq(waiters(p), 1);

	/* A reader killed mid-read while the producer streams, and one that crashes. */
	pid_t busy = spawn_reader(p, &fd_busy, UINT64_MAX, 0, -1, IVR_SHMRING_FROM_OLDEST);
	pid_t crash = fork();
	if (crash == 0) {
		struct ivr_shmring_reader r;
		if (ivr_shmring_reader_open(&r, p, IVR_SHMRING_FROM_OLDEST) != 0)
			_exit(2);
		unsigned char buf[4096];
		struct ivr_shmring_rec rec;
		for (int n = 0; n < 1000;)
			n += ivr_shmring_read(&r, &rec, buf, sizeof(buf)) == 1;
		/* A real crash, not a sanitizer's report: default action for SIGSEGV. */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		_exit(0);
	}
	uint64_t n = 0, wakes = 0;
	uint64_t t0 = ivr_shmring_now_ns();
	for (; n < 400000; n++) {
		ivr_check(publish(&s, n, 200) >= 1);
		if (n == 100000)
			kill(busy, SIGKILL);
		if ((n & 1023) == 1023)
			wakes += (uint64_t)ivr_shmring_wake(&s, 0);
	}
	double secs = (double)(ivr_shmring_now_ns() - t0) * 1e-9;
	int st = 0;
	waitpid(busy, &st, 0);
	close(fd_busy);
	ivr_check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	waitpid(crash, &st, 0);
	ivr_check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	printf("  400000 publishes with dead readers: %.1f ms, %llu wakes\n", secs * 1e3,
	       (unsigned long long)wakes);
	ivr_check(wakes > 0);

	/* A restarted reader from the oldest: the 4096 held slots, intact, no loss. */
	pid_t again = spawn_reader(p, &fd_busy, n, 0, 200, IVR_SHMRING_FROM_OLDEST);
	struct report rep;
	ivr_check_int_eq(collect(again, fd_busy, &rep), 0);
	ivr_check_int_eq(rep.bad, 0);
	ivr_check_int_eq(rep.lost, 0);
	ivr_check_int_eq(rep.last, n - 1);
	ivr_check_int_eq(rep.got, rep.last - rep.first + 1);
	ivr_check(rep.got > 4096 / 8);
	g_maxlen = 2000;
	ivr_shmring_destroy(&s, 1);
	return IVR_TEST_RESULT();
}

IVR_TEST(lapped_readers_exact_loss)
{
	char p[300];
	struct ivr_shmring s;
	/* Records of 1..51 slots in a 512-slot ring; two stalling readers, one fast. */
	struct ivr_shmring_cfg cfg = { .capacity = 512, .slot_size = 64, .max_record_slots = 64 };
	ivr_check_int_eq(ivr_shmring_create(&s, path_in_tmp(p, sizeof(p), "lap"), &cfg), 0);
	const uint64_t N = 200000;
	int fds[3];
	pid_t kids[3];
	kids[0] = spawn_reader(p, &fds[0], N, 0, 500, IVR_SHMRING_FROM_NEWEST);
	kids[1] = spawn_reader(p, &fds[1], N, 500, 500, IVR_SHMRING_FROM_NEWEST);
	kids[2] = spawn_reader(p, &fds[2], N, 50, 500, IVR_SHMRING_FROM_NEWEST);
	for (int i = 0; i < 400 && waiters(p) != 3; i++)
		sleep_ms(5);
	ivr_check_int_eq(waiters(p), 3);
	for (uint64_t i = 0; i < N; i++) {
		ivr_check(publish(&s, i, 2000) >= 1);
		if ((i & 255) == 255)
			ivr_shmring_wake(&s, 0);
	}
	ivr_shmring_wake(&s, 0);
	for (int k = 0; k < 3; k++) {
		struct report rep;
		ivr_check_int_eq(collect(kids[k], fds[k], &rep), 0);
		printf("  reader %d: %llu delivered, %llu lost\n", k, (unsigned long long)rep.got,
		       (unsigned long long)rep.lost);
		ivr_check_int_eq(rep.bad, 0);
		ivr_check_int_eq(rep.got + rep.lost, N);
		ivr_check_int_eq(rep.first, rep.lost ? rep.first : 0);
		if (k > 0)
			ivr_check_msg(rep.lost > 0, "stalling reader %d was not lapped", k);
	}
	ivr_shmring_destroy(&s, 1);
	return IVR_TEST_RESULT();
}

IVR_TEST(sleeping_readers_do_not_spin)
{
	char p[300];
	struct ivr_shmring s;
	struct ivr_shmring_cfg cfg = { .capacity = 8192, .slot_size = 128 };
	ivr_check_int_eq(ivr_shmring_create(&s, path_in_tmp(p, sizeof(p), "sleep"), &cfg), 0);
	int fds[4];
	pid_t kids[4];
	for (int k = 0; k < 4; k++)
		kids[k] = spawn_reader(p, &fds[k], 1000, 0, 2000, IVR_SHMRING_FROM_NEWEST);
	for (int i = 0; i < 400 && waiters(p) != 4; i++)
		sleep_ms(5);
	/* 1000 records in 50 ticks of 20 records, 10 ms apart: ~0.5 s wall. */
	uint64_t t0 = ivr_shmring_now_ns();
	for (uint64_t i = 0; i < 1000; i++) {
		ivr_check(publish(&s, i, 2000) >= 1);
		if (i % 20 == 19) {
			ivr_shmring_wake(&s, 0);
			sleep_ms(10);
		}
	}
	double wall = (double)(ivr_shmring_now_ns() - t0) * 1e-9;
	for (int k = 0; k < 4; k++) {
		struct report rep;
		ivr_check_int_eq(collect(kids[k], fds[k], &rep), 0);
		ivr_check_int_eq(rep.bad, 0);
		ivr_check_int_eq(rep.got, 1000);
		ivr_check_int_eq(rep.lost, 0);
		/* A spinning reader would burn ~all of the wall time. */
		ivr_check_msg(rep.cpu_s < 0.25 * wall, "reader %d used %.3f s CPU in %.3f s", k,
			      rep.cpu_s, wall);
	}
	ivr_shmring_destroy(&s, 1);
	return IVR_TEST_RESULT();
}

/* ---- tools as processes ---- */

struct run {
	int status; /* exit code, or 128+signal */
	char out[65536], err[4096];
};

static void slurp(const char *path, char *buf, size_t cap)
{
	buf[0] = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	fclose(f);
}

static pid_t start(const char *const *argv, const char *outp, const char *errp)
{
	pid_t pid = fork();
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0)
			_exit(126);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void finish(pid_t pid, struct run *r, const char *outp, const char *errp)
{
	int st = 0;
	waitpid(pid, &st, 0);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	slurp(outp, r->out, sizeof(r->out));
	slurp(errp, r->err, sizeof(r->err));
}

static void run_tool(const char *const *argv, struct run *r)
{
	char o[300], e[300];
	path_in_tmp(o, sizeof(o), "out.txt");
	path_in_tmp(e, sizeof(e), "err.txt");
	finish(start(argv, o, e), r, o, e);
}

static const char events_bin[] = IVR_BUILD_DIR "/tools/ivr-events";
static const char router_bin[] = IVR_BUILD_DIR "/tools/ivr-router";

static int have_tools(void)
{
	return access(events_bin, X_OK) == 0 && access(router_bin, X_OK) == 0;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(b, 1, n, f);
		fclose(f);
	}
}

IVR_TEST(ivr_events_tool)
{
	if (!have_tools())
		return IVR_TEST_SKIP;
	static struct run r;
	char p[300], q[300];
	path_in_tmp(p, sizeof(p), "events");
	const char *missing[] = { events_bin, "--ring", "/nonexistent/ring", NULL };
	run_tool(missing, &r);
	ivr_check_int_eq(r.status, 2);
	ivr_check_msg(strstr(r.err, "cannot open ring") != NULL, "%s", r.err);

	struct ivr_shmring s;
	struct ivr_shmring_cfg cfg = { .capacity = 64, .slot_size = 128 };
	ivr_check_int_eq(ivr_shmring_create(&s, p, &cfg), 0);
	unsigned char scratch[4096];
	struct ivr_event_kv vars[] = { { "tier", "gold" } };
	struct ivr_event ev = { .type = IVR_EVENT_CALL_START };
	ev.u.call_start.ani = "100";
	ev.u.call_start.dnis = "200";
	ev.u.call_start.flow = "bank";
	ev.u.call_start.vars = vars;
	ev.u.call_start.n_vars = 1;
	ivr_check(ivr_event_publish(&s, 0, 5, 0, 0, &ev, scratch, sizeof(scratch)) >= 1);
	ev = (struct ivr_event){ .type = IVR_EVENT_DTMF };
	ev.u.dtmf.digit = '#';
	ivr_check(ivr_event_publish(&s, 0, 5, 0, 0, &ev, scratch, sizeof(scratch)) >= 1);
	ev = (struct ivr_event){ .type = IVR_EVENT_CALL_END };
	ev.u.call_end.cause = "hangup \"quoted\"";
	ivr_check(ivr_event_publish(&s, 0, 5, 0, 0, &ev, scratch, sizeof(scratch)) >= 1);

	const char *all[] = { events_bin, "--ring",	  p,	"--from",
			      "oldest",	  "--timeout-ms", "50", NULL };
	run_tool(all, &r);
	ivr_check_int_eq(r.status, 0);
	ivr_check_int_eq(count_lines(r.out), 3);
	const char *want[] = { "call_start", "dtmf", "call_end" };
	char *line = r.out;
	for (int i = 0; i < 3 && line && *line; i++) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		json_t *j = json_loads(line, 0, NULL);
		ivr_check_msg(j != NULL, "%s", line);
		ivr_check(j && strcmp(json_string_value(json_object_get(j, "type")), want[i]) == 0);
		ivr_check(j && json_integer_value(json_object_get(j, "seq")) == i);
		ivr_check(j && json_integer_value(json_object_get(j, "call_id")) == 5);
		if (i == 2)
			ivr_check(j && strcmp(json_string_value(json_object_get(j, "cause")),
					      "hangup \"quoted\"") == 0);
		json_decref(j);
		line = nl ? nl + 1 : NULL;
	}
	const char *two[] = { events_bin, "--ring", p, "--from", "oldest", "--count", "2", NULL };
	run_tool(two, &r);
	ivr_check_int_eq(r.status, 0);
	ivr_check_int_eq(count_lines(r.out), 2);

	/* A reader that is stopped, lapped, continued: one lost line with the exact count. */
	char o[300], e[300];
	path_in_tmp(o, sizeof(o), "lap.out");
	path_in_tmp(e, sizeof(e), "lap.err");
	const char *follow[] = { events_bin, "--ring", p, "--timeout-ms", "300", NULL };
	pid_t pid = start(follow, o, e);
	for (int i = 0; i < 400 && waiters(p) != 1; i++)
		sleep_ms(5);
	ivr_check_int_eq(waiters(p), 1);
	kill(pid, SIGSTOP);
	ev = (struct ivr_event){ .type = IVR_EVENT_SPEECH_START };
	for (uint32_t i = 0; i < 1000; i++) {
		ev.u.speech.offset_ms = i;
		ivr_check(ivr_event_publish(&s, 0, 9, 0, 0, &ev, scratch, sizeof(scratch)) == 1);
	}
	ivr_shmring_wake(&s, 0);
	kill(pid, SIGCONT);
	finish(pid, &r, o, e);
	ivr_check_int_eq(r.status, 0);
	long long lost = 0, got = 0, last_seq = -1;
	line = r.out;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		json_t *j = json_loads(line, 0, NULL);
		ivr_check_msg(j != NULL, "%s", line);
		if (j && strcmp(json_string_value(json_object_get(j, "type")), "lost") == 0) {
			lost += json_integer_value(json_object_get(j, "count"));
		} else if (j) {
			got++;
			last_seq = json_integer_value(json_object_get(j, "seq"));
		}
		json_decref(j);
		line = nl ? nl + 1 : NULL;
	}
	ivr_check(lost > 0);
	ivr_check_int_eq(got + lost, 1000);
	ivr_check_int_eq(last_seq, 1002);
	ivr_shmring_destroy(&s, 0);

	/* Foreign, other-version, truncated, garbage. */
	static unsigned char img[IVR_SHMRING_DATA_OFF + 64 * 128];
	FILE *f = fopen(p, "rb");
	size_t n = f ? fread(img, 1, sizeof(img), f) : 0;
	if (f)
		fclose(f);
	ivr_check_int_eq(n, sizeof(img));
	path_in_tmp(q, sizeof(q), "bad");
	const char *bad[] = { events_bin, "--ring", q, NULL };
	struct ivr_shmring_header h;
	memcpy(&h, img, sizeof(h));
	h.version = 7;
	memcpy(img, &h, sizeof(h));
	write_bytes(q, img, n);
	run_tool(bad, &r);
	ivr_check_int_eq(r.status, 2);
	ivr_check_msg(strstr(r.err, "version 7") != NULL, "%s", r.err);
	h.version = IVR_SHMRING_VERSION;
	memcpy(img, &h, sizeof(h));
	write_bytes(q, img, n / 2);
	run_tool(bad, &r);
	ivr_check_int_eq(r.status, 2);
	ivr_check_msg(strstr(r.err, "truncated") != NULL, "%s", r.err);
	for (size_t i = 0; i < n; i++)
		img[i] = (unsigned char)ivr_pattern_mix(i);
	write_bytes(q, img, n);
	run_tool(bad, &r);
	ivr_check_int_eq(r.status, 2);
	ivr_check_msg(strstr(r.err, "not an IVR event ring") != NULL, "%s", r.err);
	const char *usage[] = { events_bin, "--from", "middle", NULL };
	run_tool(usage, &r);
	ivr_check_int_eq(r.status, 2);
	unlink(p);
	unlink(q);
	return IVR_TEST_RESULT();
}

/* Publish the router scenario (see the expected commands below). */
static void router_scenario(struct ivr_shmring *s)
{
	unsigned char scratch[4096];
	struct {
		uint64_t call;
		const char *tier;
	} starts[] = { { 1, "standard" }, { 2, "standard" }, { 3, "gold" },
		       { 4, "standard" }, { 5, "platinum" }, { 7, NULL } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(starts); i++) {
		struct ivr_event_kv vars[] = { { "tier", starts[i].tier }, { "lang", "en" } };
		struct ivr_event ev = { .type = IVR_EVENT_CALL_START };
		ev.u.call_start.ani = "555";
		ev.u.call_start.dnis = "800";
		ev.u.call_start.flow = "bank";
		ev.u.call_start.vars = starts[i].tier ? vars : vars + 1;
		ev.u.call_start.n_vars = 1;
		ivr_check(ivr_event_publish(s, 0, starts[i].call, 0, 0, &ev, scratch,
					    sizeof(scratch)) >= 1);
	}
	struct ivr_event rec = { .type = IVR_EVENT_RECOGNITION };
	rec.u.recognition.text = "what is my balance";
	rec.u.recognition.intent = "balance";
	rec.u.recognition.confidence = 0.9f;
	ivr_check(ivr_event_publish(s, 0, 7, 0, 0, &rec, scratch, sizeof(scratch)) >= 1);
	struct {
		uint64_t call;
		const char *intent;
		int end;
	} steps[] = { { 1, "pay", 0 }, { 2, "pay", 0 }, { 3, "pay", 0 },       { 4, "balance", 0 },
		      { 5, "pay", 0 }, { 1, NULL, 1 },	{ 6, "complaint", 0 }, { 7, NULL, 0 } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(steps); i++) {
		struct ivr_event ev = { .type = IVR_EVENT_TRANSFER };
		if (steps[i].end) {
			ev.type = IVR_EVENT_CALL_END;
			ev.u.call_end.cause = "agent_answered";
		} else {
			ev.u.transfer.reason = "intent";
			ev.u.transfer.intent = steps[i].intent;
			ev.u.transfer.ivr_ms = 1000;
		}
		ivr_check(ivr_event_publish(s, 0, steps[i].call, 0, 0, &ev, scratch,
					    sizeof(scratch)) >= 1);
	}
}

/* call_id, position, wait_s in the order the router must send them. */
static const int router_expect[][3] = {
	{ 1, 1, 60 },		      /* billing: 4 agents x 240 s */
	{ 2, 2, 120 }, { 3, 1, 90 },  /* gold pay -> billing_vip: 2 agents x 180 s */
	{ 4, 3, 180 },		      /* balance -> billing */
	{ 5, 1, 90 },		      /* platinum jumps ahead of gold in billing_vip */
	{ 3, 2, 180 }, { 2, 1, 60 },  /* call 1 answered: everyone behind moves up */
	{ 4, 2, 120 }, { 6, 1, 140 }, /* complaint -> care, default tier: 3 agents x 420 s */
	{ 7, 3, 180 }, /* no intent in the hand-off: the last recognised one (balance) */
};

static int check_router_lines(char *text)
{
	int n = 0, bad = 0;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		json_t *j = json_loads(line, 0, NULL);
		if (!j || n >= (int)IVR_N_ELEMENTS(router_expect) ||
		    strcmp(json_string_value(json_object_get(j, "op")), "queue_announce") != 0 ||
		    json_integer_value(json_object_get(j, "call_id")) != router_expect[n][0] ||
		    json_integer_value(json_object_get(j, "position")) != router_expect[n][1] ||
		    json_integer_value(json_object_get(j, "wait_s")) != router_expect[n][2] ||
		    !json_is_integer(json_object_get(j, "id"))) {
			fprintf(stderr, "  unexpected command %d: %s\n", n, line);
			bad++;
		}
		json_decref(j);
		n++;
		line = nl ? nl + 1 : NULL;
	}
	if (n != (int)IVR_N_ELEMENTS(router_expect)) {
		fprintf(stderr, "  %d commands, expected %zu\n", n, IVR_N_ELEMENTS(router_expect));
		bad++;
	}
	return bad;
}

IVR_TEST(ivr_router_tool)
{
	if (!have_tools())
		return IVR_TEST_SKIP;
	char p[300], sock[300], cfgp[512];
	path_in_tmp(p, sizeof(p), "router");
	path_in_tmp(sock, sizeof(sock), "ctl.sock");
	ivr_test_srcpath(cfgp, sizeof(cfgp), "tools/ivr-router.json");
	if (access(cfgp, R_OK) != 0)
		snprintf(cfgp, sizeof(cfgp), "%s/tools/ivr-router.json", IVR_SOURCE_DIR);
	struct ivr_shmring s;
	struct ivr_shmring_cfg cfg = { .capacity = 1024, .slot_size = 128 };
	ivr_check_int_eq(ivr_shmring_create(&s, p, &cfg), 0);
	router_scenario(&s);

	/* Dry run: the same commands on stdout. */
	static struct run r;
	const char *dry[] = { router_bin,     "--ring",	   p,	     "--config",
			      cfgp,	      "--dry-run", "--from", "oldest",
			      "--timeout-ms", "100",	   NULL };
	run_tool(dry, &r);
	ivr_check_int_eq(r.status, 0);
	ivr_check_int_eq(check_router_lines(r.out), 0);
	ivr_check_msg(strstr(r.err, "\"billing\":3") && strstr(r.err, "\"billing_vip\":2") &&
			      strstr(r.err, "\"care\":1"),
		      "summary: %s", r.err);

	/* Against a fake engine control socket: read each command, reply ok. */
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%.100s", sock);
	unlink(sock);
	ivr_check_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ivr_check_int_eq(listen(ls, 4), 0);
	char o[300], e[300];
	path_in_tmp(o, sizeof(o), "router.out");
	path_in_tmp(e, sizeof(e), "router.err");
	const char *live[] = { router_bin, "--ring", p,	       "--config",     cfgp,  "--control",
			       sock,	   "--from", "oldest", "--timeout-ms", "200", NULL };
	pid_t pid = start(live, o, e);
	int c = accept(ls, NULL, NULL);
	ivr_check(c >= 0);
	static char got[65536];
	size_t n = 0;
	for (;;) {
		ssize_t k = read(c, got + n, sizeof(got) - 1 - n);
		if (k <= 0)
			break;
		size_t start_n = n;
		n += (size_t)k;
		/* One reply per complete request line, echoing its id. */
		for (size_t i = start_n; i < n; i++) {
			if (got[i] != '\n')
				continue;
			size_t b = i;
			while (b > 0 && got[b - 1] != '\n')
				b--;
			char req[1024];
			snprintf(req, sizeof(req), "%.*s", (int)(i - b), got + b);
			json_t *j = json_loads(req, 0, NULL);
			char reply[128];
			int len = snprintf(
				reply, sizeof(reply), "{\"id\":%lld,\"ok\":true}\n",
				j ? (long long)json_integer_value(json_object_get(j, "id")) : -1LL);
			json_decref(j);
			ivr_check(write(c, reply, (size_t)len) == len);
		}
	}
	got[n] = 0;
	close(c);
	close(ls);
	finish(pid, &r, o, e);
	ivr_check_int_eq(r.status, 0);
	ivr_check_int_eq(check_router_lines(got), 0);
	ivr_check_msg(strstr(r.err, "\"commands_sent\":10") != NULL, "%s", r.err);

	/* No control socket listening: clear refusal. */
	unlink(sock);
	run_tool(live, &r);
	ivr_check_int_eq(r.status, 2);
	ivr_check(strstr(r.err, "control socket") != NULL);
	/* Bad configuration. */
	char badcfg[300];
	path_in_tmp(badcfg, sizeof(badcfg), "bad.json");
	write_bytes(badcfg, "{\"tiers\":{}, \"queues\":{}, \"routes\":[{\"queue\":\"x\"}]}", 51);
	const char *bc[] = { router_bin, "--ring", p, "--config", badcfg, "--dry-run", NULL };
	run_tool(bc, &r);
	ivr_check_int_eq(r.status, 2);
	ivr_check_msg(strstr(r.err, "unknown or missing queue") != NULL, "%s", r.err);
	unlink(badcfg);
	ivr_shmring_destroy(&s, 1);
	return IVR_TEST_RESULT();
}

static void cleanup_tmp(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ivr-test-multiproc-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 77;
	}
	ivr_test_run(killed_crashed_and_restarted_readers);
	ivr_test_run(lapped_readers_exact_loss);
	ivr_test_run(sleeping_readers_do_not_spin);
	ivr_test_run(ivr_events_tool);
	ivr_test_run(ivr_router_tool);
	cleanup_tmp();
	return ivr_test_summary();
}
