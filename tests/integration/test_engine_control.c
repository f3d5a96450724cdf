/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_control.c - ivr-engine as a child process,
 * driven over its Unix control socket like the router does: usage errors
 * exit 2 (also ivr-demo's --workers), a call is created and streams RTP to a
 * loopback phone, bad requests get error replies and never kill the engine,
 * --force-epoll works, SIGTERM stops it cleanly (exit 0).
 * Exit 77 when the daemon cannot be run here.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "engine_test_util.h"
#include "ivr_test.h"

static char exe[512], demo_exe[512];

static pid_t spawn(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (quiet) {
			FILE *n = freopen("/dev/null", "w", stderr);
			(void)n;
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		sleep_until(now_ns() + 10000000ull);
	}
	return -1;
}

static char *request(int fd, const char *req, char *buf, size_t cap)
{
	size_t n = strlen(req);
	if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n)
		return NULL;
	size_t got = 0;
	while (got + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 3000) <= 0)
			return NULL;
		ssize_t r = recv(fd, buf + got, 1, 0);
		if (r <= 0)
			return NULL;
		if (buf[got++] == '\n')
			break;
	}
	buf[got] = 0;
	return buf;
}

IVR_TEST(test_usage)
{
	char *a1[] = { exe, "--help", NULL };
	ivr_check_int_eq(wait_exit(spawn(a1, true)), 0);
	char *a2[] = { exe, "--workers", "zero", "--control", "/tmp/x", NULL };
	ivr_check_int_eq(wait_exit(spawn(a2, true)), 2);
	char *a3[] = { exe, "--ports", "5000", "--control", "/tmp/x", NULL };
	ivr_check_int_eq(wait_exit(spawn(a3, true)), 2);
	char *a4[] = { exe, NULL };
	ivr_check_int_eq(wait_exit(spawn(a4, true)), 2);
	char *a5[] = { exe, "--bogus", NULL };
	ivr_check_int_eq(wait_exit(spawn(a5, true)), 2);
	/* ivr-demo's engine options, checked before it renders or binds anything */
	if (access(demo_exe, X_OK) == 0) {
		char *d1[] = { demo_exe, "--workers", "0", NULL };
		ivr_check_int_eq(wait_exit(spawn(d1, true)), 2);
		char *d2[] = { demo_exe, "--workers", "65", NULL };
		ivr_check_int_eq(wait_exit(spawn(d2, true)), 2);
		char *d3[] = { demo_exe, "--workers", "two", NULL };
		ivr_check_int_eq(wait_exit(spawn(d3, true)), 2);
	}
	return IVR_TEST_RESULT();
}

static int run_daemon(bool epoll)
{
	char sock[64], ports[32];
	snprintf(sock, sizeof(sock), "/tmp/ivr_ctl_%d_%d.sock", (int)getpid(), epoll);
	/* below the ephemeral range, clear of other tests and benches (engine_test_util.h) */
	const uint16_t p0 = test_port(epoll ? 38400 : 38000);
	snprintf(ports, sizeof(ports), "%u-%u", p0, p0 + 200u);
	char *argv[] = { exe,	"--control", sock,	 "--ports",
			 ports, "--workers", "2",	 "--max-calls",
			 "16",	"--ring",    "ivr-test", epoll ? "--force-epoll" : NULL,
			 NULL };
	pid_t pid = spawn(argv, false);
	int fd = connect_unix(sock);
	if (fd < 0) {
		kill(pid, SIGKILL);
		wait_exit(pid);
		return IVR_TEST_SKIP;
	}
	char buf[8192], req[512];
	ivr_check(request(fd, "{\"id\":1,\"op\":\"ping\"}\n", buf, sizeof(buf)) &&
		  strstr(buf, "\"ok\":true"));
	ivr_check(request(fd, "{\"id\":2,\"op\":\"stats\"}\n", buf, sizeof(buf)) &&
		  strstr(buf, epoll ? "\"io\":\"epoll\"" : "\"io\":\"io_uring\"") &&
		  strstr(buf, "\"ring\":\"ivr-test\""));
	struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	snprintf(req, sizeof(req),
		 "{\"id\":3,\"op\":\"create_call\",\"remote\":\"127.0.0.1:%u\",\"codec\":\"PCMU\","
		 "\"pt\":0,\"dtmf_pt\":101,\"ptime_ms\":20,\"ani\":\"100\",\"dnis\":\"200\","
		 "\"flow\":\"bank\",\"vars\":{\"tier\":\"gold\"}}\n",
		 ph.port);
	ivr_check(request(fd, req, buf, sizeof(buf)) && strstr(buf, "\"ok\":true"));
	unsigned long long id = 0;
	unsigned port = 0;
	char *p = strstr(buf, "\"call_id\":");
	if (p)
		id = strtoull(p + 10, NULL, 10);
	p = strstr(buf, "\"local_port\":");
	if (p)
		port = (unsigned)strtoul(p + 13, NULL, 10);
	ivr_check(id > 0 && port >= p0 && port <= p0 + 200u);
	ph.engine_port = (uint16_t)port;
	/* Garbage of every kind on the control socket: replies, no crash. */
	const char *bad[] = { "}{\n",
			      "{\"id\":4}\n",
			      "{\"id\":5,\"op\":\"play\"}\n",
			      "{\"id\":6,\"op\":\"destroy_call\",\"call_id\":-1}\n",
			      "{\"id\":7,\"op\":\"create_call\",\"remote\":\"1.2.3.4:99999\"}\n",
			      "\x01\x02\xff\xfe\n" };
	for (size_t i = 0; i < IVR_N_ELEMENTS(bad); i++)
		ivr_check_msg(request(fd, bad[i], buf, sizeof(buf)) && strstr(buf, "\"ok\":false"),
			      "request %zu", i);
	/* The call streams 20 ms packets to us. */
	struct phone *phs[1] = { &ph };
	phones_run(phs, NULL, 1, 25);
	ivr_check_msg(ph.rx_pkts >= 20, "got %llu packets", (unsigned long long)ph.rx_pkts);
	snprintf(req, sizeof(req), "{\"id\":8,\"op\":\"destroy_call\",\"call_id\":%llu}\n", id);
	ivr_check(request(fd, req, buf, sizeof(buf)) && strstr(buf, "\"ok\":true"));
	/* An Opus call (dynamic pt) over the protocol: created, reported, destroyed. */
	snprintf(req, sizeof(req),
		 "{\"id\":10,\"op\":\"create_call\",\"remote\":\"127.0.0.1:%u\","
		 "\"codec\":\"opus\",\"pt\":111,\"dtmf_pt\":101}\n",
		 ph.port);
	ivr_check(request(fd, req, buf, sizeof(buf)) && strstr(buf, "\"ok\":true"));
	p = strstr(buf, "\"call_id\":");
	unsigned long long oid = p ? strtoull(p + 10, NULL, 10) : 0;
	ivr_check(oid > 0);
	snprintf(req, sizeof(req), "{\"id\":11,\"op\":\"destroy_call\",\"call_id\":%llu}\n", oid);
	ivr_check(request(fd, req, buf, sizeof(buf)) && strstr(buf, "\"ok\":true"));
	ivr_check(request(fd, "{\"id\":9,\"op\":\"ping\"}\n", buf, sizeof(buf)) &&
		  strstr(buf, "\"ok\":true"));
	close(fd);
	phone_close(&ph);
	kill(pid, SIGTERM);
	ivr_check_int_eq(wait_exit(pid), 0);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_daemon_io_uring)
{
	return run_daemon(false);
}

IVR_TEST(test_daemon_epoll)
{
	return run_daemon(true);
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	const char *bd = getenv("IVR_BUILD_DIR");
	snprintf(exe, sizeof(exe), "%s/engine/ivr-engine", bd ? bd : ".");
	snprintf(demo_exe, sizeof(demo_exe), "%s/tools/ivr-demo", bd ? bd : ".");
	if (access(exe, X_OK) != 0) {
		fprintf(stderr, "SKIP: %s not built\n", exe);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	ivr_test_run(test_usage);
	ivr_test_run(test_daemon_io_uring);
	ivr_test_run(test_daemon_epoll);
	return ivr_test_summary();
}
