/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_router_engine.c - the queue experience end to end.
 *
 * 1. In process: a caller in the bank flow presses 0 (in-band DTMF), the flow
 *    transfers; the caller then hears music on hold (its audio correlates with
 *    the engine's MOH loop), a queue_announce over the control protocol makes
 *    it hear the rendered announcement (correlation with the prompt file the
 *    reply names), then MOH again; bad router commands get error replies;
 *    hangup publishes call_end with cause "router".
 * 2. As processes: ivr-engine (--control, --ring, --flows) and ivr-router
 *    (--ring, --control, tools/ivr-router.json, --print) as children, the
 *    test as the caller: the ring shows the transfer, the router's
 *    queue_announce got an ok reply, and the caller's audio contains the
 *    announcement.
 * Needs flite and the flows; exits 77 when the environment refuses.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/shmring.h"
#include "dsp/tone.h"
#include "dsp/wav.h"
#include "engine/control.h"
#include "engine/events.h"
#include "engine_test_util.h"
#include "ivr_test.h"

#define FR 160

static const char moh_path[] = IVR_BUILD_DIR "/prompt-cache/moh-default-v1.wav";

/*
 * The three cases run side by side (IVR_TEST_RUN_PARALLEL): each picks its port range from
 * the parent's pid, in its own 1000-port block, so that they never overlap.
 */
static unsigned run_id;

static uint16_t case_ports(unsigned block)
{
	return test_port(42000 + (run_id % 10) * 1000 + block);
}

/* Correlation of the received audio at [@at, @at+@n) with the MOH loop (any phase). */
static double moh_corr(const struct phone *p, size_t at, size_t n, const struct ivr_audio *moh)
{
	if (at + n > p->rx_n)
		return -1;
	return best_norm_corr(p->rx + at, n, moh->samples, moh->n_samples, moh->n_samples - 1, 1,
			      true, NULL);
}

/* Normalised correlation of @x against @r over @n samples. */
static double corr_at(const float *x, const float *r, size_t n)
{
	double xy = 0, ex = 0, er = 0;
	for (size_t i = 0; i < n; i++) {
		xy += (double)x[i] * r[i];
		ex += (double)x[i] * x[i];
		er += (double)r[i] * r[i];
	}
	return xy / sqrt(ex * er + 1e-20);
}

#define ANN_CHUNK  2000 /* 250 ms */
#define ANN_CHUNKS 4

/*
 * Where the announcement @ann starts in the received audio between @from and
 * @from + @search samples, aligned on the signal chunk by chunk: the prompt's
 * first 250 ms fixes the start, each following 250 ms chunk (to 1 s) is
 * aligned again within +-100 ms of where it should be, because on a loaded
 * machine the worker may skip ticks or the jitter buffer shift play-out
 * inside the announcement.  @return how many of the ANN_CHUNKS chunks
 * correlate above @min_corr; *@start the position, *@worst the lowest
 * @corr the first chunk's correlation.
 */
static int find_announcement(const struct phone *p, size_t from, size_t search,
			     const struct ivr_audio *ann, double min_corr, size_t *start,
			     double *corr)
{
	double best = -1;
	*start = from;
	if (ann->n_samples < ANN_CHUNK * ANN_CHUNKS)
		return 0;
	for (size_t s = from; s + ANN_CHUNK <= p->rx_n && s <= from + search; s++) {
		double c = corr_at(p->rx + s, ann->samples, ANN_CHUNK);
		if (c > best) {
			best = c;
			*start = s;
		}
	}
	*corr = best;
	int good = best > min_corr;
	size_t at = *start;
	for (int k = 1; k < ANN_CHUNKS; k++) {
		double cb = -1;
		size_t want = at + ANN_CHUNK, lo = want > 800 ? want - 800 : 0, best_s = want;
		for (size_t s = lo; s <= want + 800 && s + ANN_CHUNK <= p->rx_n; s++) {
			double c =
				corr_at(p->rx + s, ann->samples + (size_t)k * ANN_CHUNK, ANN_CHUNK);
			if (c > cb) {
				cb = c;
				best_s = s;
			}
		}
		at = best_s;
		good += cb > min_corr;
	}
	return good;
}

/* Read ring records of @id into @log (JSON lines, '\n'-separated). */
static void read_ring(struct ivr_shmring_reader *r, uint64_t id, char *log, size_t cap)
{
	static unsigned char buf[1 << 16];
	char js[8192];
	struct ivr_shmring_rec rec;
	while (ivr_shmring_read(r, &rec, buf, sizeof(buf)) == 1) {
		if (rec.call_id != id || ivr_event_to_json(&rec, buf, js, sizeof(js)) < 0)
			continue;
		size_t l = strlen(log);
		snprintf(log + l, cap - l, "%s\n", js);
	}
}

/* The caller: -70 dBFS noise (a floor for the VAD) with DTMF 0 at 0.6 s. */
static float *caller_audio(size_t frames)
{
	float *a = calloc(frames * FR, sizeof(float));
	uint32_t seed = 777;
	for (size_t k = 0; k < frames * FR; k++) {
		seed = seed * 1664525u + 1013904223u;
		a[k] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.0006f;
	}
	struct ivr_tone_dtmf tp = { .level_dbm0 = -8.0f, .twist_db = 2.0f };
	if (ivr_tone_dtmf_add(a + 30 * FR, 6 * FR, 8000, '0', &tp) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

static json_t *ctl(struct ivr_engine *e, const char *fmt, uint64_t id)
{
	char line[512], reply[IVR_CONTROL_MAX_LINE];
	snprintf(line, sizeof(line), fmt, (unsigned long long)id);
	size_t n = ivr_control_handle(e, line, strlen(line), reply, sizeof(reply));
	return json_loadb(reply, n, 0, NULL);
}

static bool is_ok(json_t *j)
{
	return j && json_is_true(json_object_get(j, "ok"));
}

static const char *err_of(json_t *j)
{
	const char *s = j ? json_string_value(json_object_get(j, "error")) : NULL;
	return s ? s : "";
}

static bool have_flite(void)
{
	return access("/usr/bin/flite", X_OK) == 0 && IVR_HAVE_ASR;
}

/* Check MOH -> announcement -> MOH in the received audio; @a0: rx index when it was sent. */
static void check_queue_audio(const struct phone *p, size_t a0, const char *prompt, bool moh_before)
{
	struct ivr_audio moh, ann;
	char err[256];
	ivr_check_msg(ivr_wav_read(&moh, moh_path, 8000, err, sizeof(err)) == 0, "%s", err);
	ivr_check_msg(ivr_wav_read(&ann, prompt, 8000, err, sizeof(err)) == 0, "%s", err);
	if (!moh.samples || !ann.samples) {
		ivr_audio_free(&moh);
		ivr_audio_free(&ann);
		return;
	}
	if (moh_before) {
		/* best of three 250 ms windows: a skipped tick in one does not hide the MOH */
		double c = -1;
		for (size_t w = 6000; w >= 2000 && a0 > 8000 && c <= 0.9; w -= 2000)
			c = fmax(c, moh_corr(p, a0 - w, 2000, &moh));
		printf("  before the announcement: correlation with the MOH loop %.3f\n", c);
		ivr_check_msg(c > 0.9, "MOH before the announcement (corr %.3f)", c);
	}
	size_t start = 0;
	/*
	 * the announcement starts at the next tick, or once the flow's goodbye
	 * prompt is over when the router answered the transfer at once
	 */
	double ca = -1;
	int good =
		find_announcement(p, a0 > 2000 ? a0 - 2000 : 0, 8000 * 5, &ann, 0.8, &start, &ca);
	printf("  announcement: correlation %.3f at %.2f s after the command, %d of %d chunks "
	       "above 0.8, %.2f s long\n",
	       ca, ((double)start - (double)a0) / 8000.0, good, ANN_CHUNKS,
	       (double)ann.n_samples / 8000.0);
	/* all of its first second, or all but one chunk holding a skipped tick */
	ivr_check_msg(good >= ANN_CHUNKS - 1, "announcement heard (%d of %d chunks, corr %.3f)",
		      good, ANN_CHUNKS, ca);
	/*
	 * MOH again: the best 250 ms window from 200 ms after the announcement's end to the
	 * end of what was received (ticks skipped under load end the announcement later on
	 * the RTP clock).
	 */
	size_t after = start + ann.n_samples + 1600;
	double c2 = -1;
	for (size_t w = after; w + 2000 <= p->rx_n && c2 <= 0.9; w += 2000)
		c2 = fmax(c2, moh_corr(p, w, 2000, &moh));
	printf("  after the announcement: correlation with the MOH loop %.3f\n", c2);
	ivr_check_msg(c2 > 0.9, "MOH again after the announcement (corr %.3f, rx %zu of %zu)", c2,
		      after + 2000, p->rx_n);
	ivr_audio_free(&moh);
	ivr_audio_free(&ann);
}

IVR_TEST(test_queue_moh_announce_in_process)
{
	if (!have_flite()) {
		printf("flite or ASR missing: skipped\n");
		return IVR_TEST_SKIP;
	}
	uint16_t base = case_ports(0);
	struct ivr_engine_cfg cfg = { .port_min = base,
				      .port_max = (uint16_t)(base + 398),
				      .n_workers = 1,
				      .max_calls = 4,
				      .flows_dir = IVR_SOURCE_DIR "/grammars" };
	struct ivr_shmring_reader rd;
	struct ivr_engine *e = test_engine_ring_cfg("queue", cfg, &rd);
	if (!e)
		return IVR_TEST_SKIP;
	static struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char remote[64];
	phone_remote(&ph, remote, sizeof(remote));
	const size_t frames = 1000; /* 20 s at most */
	float *audio = caller_audio(frames);
	ivr_check(audio != NULL);
	uint64_t id = 0;
	struct ivr_call_params cp = { .remote = remote,
				      .codec = "PCMU",
				      .pt = -1,
				      .dtmf_pt = -1,
				      .ani = "5550199",
				      .flow = "bank",
				      .vars_json = "{\"tier\":\"gold\"}" };
	ivr_check_int_eq(ivr_call_create(e, &cp, &id, &ph.engine_port), 0);

	static char log[1 << 16];
	json_t *j;
	uint64_t t = now_ns();
	size_t xfer_f = 0, ann_f = 0, a0 = 0, end_f = frames;
	char prompt[1100] = "";
	for (size_t f = 0; f < end_f; f++) {
		phone_send(&ph, audio + f * FR);
		phone_drain(&ph, false);
		if (f == 10) {
			/* still in the flow: refused, with the reason */
			j = ctl(e,
				"{\"id\":1,\"op\":\"queue_announce\",\"call_id\":%llu,"
				"\"position\":2,\"wait_s\":30}",
				id);
			ivr_check_msg(!is_ok(j) && strstr(err_of(j), "not waiting in a queue"),
				      "announce before the transfer: %s", err_of(j));
			json_decref(j);
		}
		if (!xfer_f) {
			read_ring(&rd, id, log, sizeof(log));
			if (strstr(log, "\"type\":\"transfer\""))
				xfer_f = f;
		}
		if (xfer_f && !ann_f && f == xfer_f + 200) {
			/* the goodbye prompt (~2.7 s), 1.3 s of MOH, then the router's announcement
			 */
			j = ctl(e,
				"{\"id\":2,\"op\":\"queue_announce\",\"call_id\":%llu,"
				"\"position\":3,\"wait_s\":40}",
				id);
			ivr_check_msg(is_ok(j), "queue_announce: %s", err_of(j));
			const char *txt = json_string_value(json_object_get(j, "text"));
			const char *pp = json_string_value(json_object_get(j, "prompt"));
			ivr_check(txt && !strcmp(txt, "There are 2 callers ahead of you. Your "
						      "expected wait is about 40 seconds."));
			snprintf(prompt, sizeof(prompt), "%s", pp ? pp : "");
			json_decref(j);
			phone_drain(&ph, false);
			ann_f = f;
			a0 = ph.rx_n;
			struct ivr_audio ann;
			char err[256];
			size_t len = 8000 * 6;
			if (ivr_wav_read(&ann, prompt, 8000, err, sizeof(err)) == 0) {
				len = ann.n_samples;
				ivr_audio_free(&ann);
			}
			/* the announcement, then 1.5 s of MOH */
			end_f = IVR_MIN(frames, f + len / FR + 50 + 75);
		}
		t += 20000000ull;
		sleep_until(t);
	}
	ivr_check_msg(xfer_f > 0, "the flow transferred on DTMF 0");
	ivr_check_msg(ann_f > 0, "an announcement was sent");
	if (ann_f)
		check_queue_audio(&ph, a0, prompt, true);

	/* bad router commands: error replies with a reason */
	j = ctl(e, "{\"id\":3,\"op\":\"queue_announce\",\"call_id\":%llu,\"position\":-1}", id);
	ivr_check_msg(!is_ok(j) && strstr(err_of(j), "position"), "%s", err_of(j));
	json_decref(j);
	j = ctl(e, "{\"id\":4,\"op\":\"queue_announce\",\"call_id\":%llu,\"position\":1}", id + 1);
	ivr_check_msg(!is_ok(j) && strstr(err_of(j), "no call"), "%s", err_of(j));
	json_decref(j);
	j = ctl(e, "{\"id\":5,\"op\":\"transfer\",\"call_id\":%llu,\"target\":\"\"}", id);
	ivr_check_msg(!is_ok(j) && strstr(err_of(j), "target"), "%s", err_of(j));
	json_decref(j);
	j = ctl(e, "{\"id\":6,\"op\":\"transfer\",\"call_id\":%llu,\"target\":\"billing\"}", id);
	ivr_check_msg(is_ok(j), "%s", err_of(j));
	json_decref(j);
	j = ctl(e, "{\"id\":7,\"op\":\"hangup\",\"call_id\":%llu}", id + 1);
	ivr_check_msg(!is_ok(j) && strstr(err_of(j), "no call"), "%s", err_of(j));
	json_decref(j);
	j = ctl(e, "{\"id\":8,\"op\":\"hangup\",\"call_id\":%llu}", id);
	ivr_check_msg(is_ok(j), "%s", err_of(j));
	json_decref(j);
	ivr_engine_sync(e);
	sleep_until(now_ns() + 100000000ull);
	read_ring(&rd, id, log, sizeof(log));
	/* the flow had already transferred: no node_exit "router"; the hangup's cause */
	ivr_check_msg(strstr(log, "\"type\":\"call_end\"") && strstr(log, "\"cause\":\"router\""),
		      "call_end with cause router:\n%s", log);
	ivr_check(!strstr(log, "\"reason\":\"router\""));
	ivr_shmring_reader_close(&rd);
	phone_close(&ph);
	free(audio);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_router_transfer_stops_flow)
{
	/* transfer from the router while the flow still runs: node_exit reason router */
	if (!have_flite())
		return IVR_TEST_SKIP;
	uint16_t base = case_ports(400);
	struct ivr_engine_cfg cfg = { .port_min = base,
				      .port_max = (uint16_t)(base + 198),
				      .n_workers = 1,
				      .max_calls = 4,
				      .flows_dir = IVR_SOURCE_DIR "/grammars" };
	struct ivr_shmring_reader rd;
	struct ivr_engine *e = test_engine_ring_cfg("queue2", cfg, &rd);
	if (!e)
		return IVR_TEST_SKIP;
	uint64_t id = 0;
	uint16_t port;
	struct ivr_call_params cp = { .codec = "PCMU", .pt = -1, .dtmf_pt = -1, .flow = "bank" };
	ivr_check_int_eq(ivr_call_create(e, &cp, &id, &port), 0);
	sleep_until(now_ns() + 300000000ull); /* the flow starts, enters main */
	json_t *j =
		ctl(e, "{\"id\":1,\"op\":\"transfer\",\"call_id\":%llu,\"target\":\"agent7\"}", id);
	ivr_check_msg(is_ok(j), "%s", err_of(j));
	json_decref(j);
	ivr_engine_sync(e);
	char vars[512];
	ivr_check(ivr_call_get_vars(e, id, vars, sizeof(vars)) > 0);
	ivr_check_msg(strstr(vars, "\"transfer_target\":\"agent7\""), "%s", vars);
	j = ctl(e, "{\"id\":2,\"op\":\"queue_announce\",\"call_id\":%llu,\"position\":1}", id);
	ivr_check_msg(is_ok(j), "%s", err_of(j));
	json_decref(j);
	ivr_check_int_eq(ivr_call_destroy(e, id), 0);
	ivr_engine_sync(e);
	sleep_until(now_ns() + 100000000ull);
	static char log[1 << 16];
	read_ring(&rd, id, log, sizeof(log));
	const char *ex = strstr(log, "\"reason\":\"router\"");
	ivr_check_msg(ex && strstr(log, "\"node\":\"main\""), "node_exit reason router:\n%s", log);
	ivr_check_msg(ex && strstr(ex, "\"cause\":\"transfer\""), "call_end transfer:\n%s", log);
	ivr_shmring_reader_close(&rd);
	ivr_engine_free(e);
	return IVR_TEST_RESULT();
}

/* ---- as processes ---- */

static pid_t spawn(const char *const *argv, const char *out_path)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (out_path) {
			int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0)
				dup2(fd, 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void stop_child(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		sleep_until(now_ns() + 10000000ull);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int sock_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static json_t *sock_rq(int fd, const char *line)
{
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
		return NULL;
	char buf[4096];
	size_t n = 0;
	while (n + 1 < sizeof(buf)) {
		/*
		 * 30 s: a flow call's create loads its flow and ASR, which took over 5 s under
		 * ASan with the other cases running beside this one (a reply never comes late
		 * on a healthy engine, so the wait only ends early)
		 */
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 30000) != 1 || read(fd, buf + n, 1) != 1)
			return NULL;
		if (buf[n] == '\n')
			break;
		n++;
	}
	return json_loadb(buf, n, 0, NULL);
}

IVR_TEST(test_router_and_engine_processes)
{
	static const char engine_bin[] = IVR_BUILD_DIR "/engine/ivr-engine";
	static const char router_bin[] = IVR_BUILD_DIR "/tools/ivr-router";
	if (!have_flite() || access(engine_bin, X_OK) || access(router_bin, X_OK)) {
		printf("flite, ivr-engine or ivr-router missing: skipped\n");
		return IVR_TEST_SKIP;
	}
	char ring[64], sock[96], out[128], ports[32];
	snprintf(ring, sizeof(ring), "ivr_test_router_%d", (int)getpid());
	snprintf(sock, sizeof(sock), "/tmp/ivr_test_router_%d.sock", (int)getpid());
	snprintf(out, sizeof(out), "/tmp/ivr_test_router_%d.out", (int)getpid());
	uint16_t base = case_ports(600);
	snprintf(ports, sizeof(ports), "%u-%u", base, base + 198);
	const char *eargv[] = { engine_bin,
				"--control",
				sock,
				"--ring",
				ring,
				"--flows",
				IVR_SOURCE_DIR "/grammars",
				"--workers",
				"1",
				"--max-calls",
				"8",
				"--bind",
				"127.0.0.1",
				"--ports",
				ports,
				NULL };
	pid_t eng = spawn(eargv, "/dev/null");
	int fd = -1;
	for (int i = 0; i < 500 && fd < 0; i++) {
		sleep_until(now_ns() + 20000000ull);
		if (waitpid(eng, NULL, WNOHANG) == eng) {
			printf("SKIP: ivr-engine exited at start\n");
			return IVR_TEST_SKIP;
		}
		fd = sock_connect(sock);
	}
	if (fd < 0) {
		stop_child(eng);
		printf("SKIP: ivr-engine control socket never came up\n");
		return IVR_TEST_SKIP;
	}
	const char *rargv[] = { router_bin,
				"--ring",
				ring,
				"--control",
				sock,
				"--config",
				IVR_SOURCE_DIR "/tools/ivr-router.json",
				"--print",
				NULL };
	pid_t rt = spawn(rargv, out);
	struct ivr_shmring_reader rd;
	ivr_check_int_eq(ivr_shmring_reader_open(&rd, ring, IVR_SHMRING_FROM_OLDEST), 0);
	sleep_until(now_ns() + 300000000ull); /* the router opens the ring (from newest) */

	static struct phone ph;
	ivr_check_int_eq(phone_open(&ph), 0);
	char line[512];
	snprintf(line, sizeof(line),
		 "{\"id\":1,\"op\":\"create_call\",\"remote\":\"127.0.0.1:%u\",\"flow\":\"bank\","
		 "\"ani\":\"5550142\",\"vars\":{\"tier\":\"gold\"}}\n",
		 ph.port);
	uint64_t t_rq = now_ns();
	json_t *j = sock_rq(fd, line);
	printf("  create_call replied after %.0f ms\n", (double)(now_ns() - t_rq) / 1e6);
	ivr_check_msg(is_ok(j), "create_call: %s", err_of(j));
	uint64_t id = (uint64_t)json_integer_value(json_object_get(j, "call_id"));
	ph.engine_port = (uint16_t)json_integer_value(json_object_get(j, "local_port"));
	json_decref(j);

	const size_t frames = 900;
	float *audio = caller_audio(frames);
	static char log[1 << 16];
	char prompt[1100] = "";
	size_t a0 = 0, end_f = frames;
	bool xfer = false;
	uint64_t t = now_ns();
	for (size_t f = 0; f < end_f && audio; f++) {
		phone_send(&ph, audio + f * FR);
		phone_drain(&ph, false);
		if (!xfer) {
			read_ring(&rd, id, log, sizeof(log));
			xfer = strstr(log, "\"type\":\"transfer\"") != NULL;
		}
		if (xfer && !prompt[0] && f % 5 == 0) {
			/* the router's printed command and the engine's reply */
			FILE *fo = fopen(out, "r");
			char l[4096];
			while (fo && fgets(l, sizeof(l), fo)) {
				json_t *r = json_loads(l, 0, NULL);
				json_t *cmd = json_object_get(r, "router");
				json_t *rep = json_object_get(r, "reply");
				const char *op = json_string_value(json_object_get(cmd, "op"));
				if (op && !strcmp(op, "queue_announce") &&
				    (uint64_t)json_integer_value(json_object_get(cmd, "call_id")) ==
					    id) {
					ivr_check_msg(is_ok(rep), "router's announce refused: %s",
						      l);
					const char *pp =
						json_string_value(json_object_get(rep, "prompt"));
					snprintf(prompt, sizeof(prompt), "%s", pp ? pp : "?");
					printf("  router: %s", l);
				}
				json_decref(r);
			}
			if (fo)
				fclose(fo);
			if (prompt[0]) {
				/* the reply came after the rendering: look back a little */
				a0 = ph.rx_n > 8000 ? ph.rx_n - 8000 : 0;
				end_f = IVR_MIN(frames, f + 9 * 50);
			}
		}
		t += 20000000ull;
		sleep_until(t);
	}
	ivr_check_msg(xfer, "ring shows the transfer:\n%s", log);
	ivr_check_msg(prompt[0], "the router sent queue_announce and the engine replied ok");
	if (prompt[0] && strcmp(prompt, "?"))
		check_queue_audio(&ph, a0, prompt, false);
	snprintf(line, sizeof(line), "{\"id\":2,\"op\":\"hangup\",\"call_id\":%llu}\n",
		 (unsigned long long)id);
	j = sock_rq(fd, line);
	ivr_check_msg(is_ok(j), "hangup: %s", err_of(j));
	json_decref(j);
	close(fd);
	stop_child(rt);
	stop_child(eng);
	ivr_shmring_reader_close(&rd);
	phone_close(&ph);
	free(audio);
	unlink(out);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	test_raise_priority(); /* also for the ivr-engine and ivr-router children */
	run_id = (unsigned)getpid();
	/* each waits on real-time audio for 10-15 s: side by side, not one after the other */
	IVR_TEST_RUN_PARALLEL(test_queue_moh_announce_in_process, test_router_transfer_stops_flow,
			      test_router_and_engine_processes);
	return ivr_test_summary();
}
