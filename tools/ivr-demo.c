/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-demo.c - the README's demo: the demo IVR answering recorded calls
 * and printing, as JSON lines, what the router receives.
 *
 * It runs the real engine in-process (engine/api.h) with its event ring,
 * places the calls of a script file (default grammars/demo/calls.txt) as
 * real RTP over loopback at real pace - speech rendered once with flite and
 * cached, in-band DTMF from dsp/tone.h, RFC 4733 events from dsp/rfc4733.h -
 * and prints every record the ring carries, as `ivr-events` would for a
 * router.  The router's side runs too: the engine's control server listens
 * on a private Unix socket and build/tools/ivr-router (tools/ivr-router.json)
 * reads the same ring and answers on that socket; each command it sends is
 * printed among the events as {"router":COMMAND,"reply":ENGINE_REPLY} (the
 * queue announcements the callers then hear over the music on hold).  At
 * the end it prints one summary line per call from the engine's own
 * statistics.  Exit 0 on success, 2 on bad usage or bad input, 1 when
 * the engine fails.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/defs.h"
#include "common/shmring.h"
#include "dsp/g711.h"
#include "dsp/rfc4733.h"
#include "dsp/tone.h"
#include "dsp/wav.h"
#include "engine/api.h"
#include "engine/control.h"
#include "engine/events.h"
#include "engine/rtp.h"

#define RATE_HZ		8000
#define FRAME		160
#define MAX_CALLS	64
#define MAX_DTMF_EVENTS 32
#define DTMF_PT		101

extern char **environ;

struct rfc4733_at {
	size_t sample; /* when the digits start */
	char digits[16];
};

struct demo_call {
	int line;
	char flow[64], ani[32], dnis[32], vars[256];
	float *audio; /* the caller's side, 8 kHz */
	size_t n_samples, cap;
	struct rfc4733_at dtmf_ev[MAX_DTMF_EVENTS];
	size_t n_dtmf_ev, next_dtmf_ev;
	struct ivr_rfc4733_tx *rfc4733;
	uint64_t call_id;
	uint16_t port;
	int fd;
	uint16_t seq;
	uint32_t ts, ssrc;
	uint64_t rx_pkts;
	bool done;
};

static struct demo_call calls[MAX_CALLS];
static size_t n_calls;
static atomic_bool stop_reader;
static const char *cache_dir;
static int router_out = -1; /* the router's stdout (a pipe), printed by the reader thread */

/*
 * Print the router's complete lines.  The reader thread is the only writer of
 * stdout while calls run, so event lines and router lines never interleave.
 */
static void router_lines(bool flush_all)
{
	static char pend[16384];
	static size_t n;
	for (;;) {
		if (router_out < 0)
			return;
		ssize_t r = read(router_out, pend + n, sizeof(pend) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		char *nl;
		while ((nl = memchr(pend, '\n', n))) {
			fwrite(pend, 1, (size_t)(nl - pend) + 1, stdout);
			n -= (size_t)(nl - pend) + 1;
			memmove(pend, nl + 1, n);
		}
		if (n == sizeof(pend) - 1)
			n = 0; /* a line longer than the buffer: not ours, drop it */
	}
	if (flush_all && n) {
		fwrite(pend, 1, n, stdout);
		putchar('\n');
		n = 0;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-demo [--calls FILE] [--flows DIR] [--cache DIR] [--workers N]\n"
		   "Runs the demo IVR on recorded calls: starts the engine in-process with an\n"
		   "event ring, places the calls of FILE (default grammars/demo/calls.txt) as\n"
		   "real RTP at real pace and prints what the router receives, one JSON object\n"
		   "per line.  Speech is rendered with flite and cached in DIR (default\n"
		   "build/demo-cache).  --workers: the engine's media workers (default 1; one\n"
		   "speech recognition thread each).\n");
}

static int append(struct demo_call *c, const float *x, size_t n)
{
	if (c->n_samples + n > c->cap) {
		size_t cap = (c->n_samples + n) * 2;
		float *a = realloc(c->audio, cap * sizeof(float));
		if (!a)
			return -ENOMEM;
		c->audio = a;
		c->cap = cap;
	}
	if (x)
		memcpy(c->audio + c->n_samples, x, n * sizeof(float));
	else
		memset(c->audio + c->n_samples, 0, n * sizeof(float));
	c->n_samples += n;
	return 0;
}

/* Render @text with flite into the cache (once) and load it at 8 kHz. */
static int say(struct demo_call *c, const char *voice, const char *text)
{
	/* FNV-1a of voice + text names the cached file. */
	uint64_t h = ivr_fnv1a(ivr_fnv1a(IVR_FNV1A_INIT, voice), text);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s-%016llx.wav", cache_dir, voice, (unsigned long long)h);
	struct stat st;
	if (stat(path, &st) != 0) {
		char *argv[] = { "flite",      "-voice", (char *)voice, "-t",
				 (char *)text, "-o",	 path,		NULL };
		pid_t pid;
		int status;
		if (posix_spawnp(&pid, "flite", NULL, NULL, argv, environ) != 0 ||
		    waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "ivr-demo: line %d: flite could not render \"%s\"\n",
				c->line, text);
			return -EIO;
		}
	}
	struct ivr_audio a;
	char err[256];
	if (ivr_wav_read(&a, path, RATE_HZ, err, sizeof(err)) < 0) {
		fprintf(stderr, "ivr-demo: %s\n", err);
		return -EBADMSG;
	}
	/* Telephone level: speech peaks around -10 dBFS, like a handset. */
	float peak = 1e-6f;
	for (size_t i = 0; i < a.n_samples; i++)
		peak = fmaxf(peak, fabsf(a.samples[i]));
	for (size_t i = 0; i < a.n_samples; i++)
		a.samples[i] *= 0.3f / peak;
	int e = append(c, a.samples, a.n_samples);
	ivr_audio_free(&a);
	return e;
}

static int inband_dtmf(struct demo_call *c, const char *digits)
{
	struct ivr_tone_tx_cfg cfg = { .rate_hz = RATE_HZ };
	struct ivr_tone_tx *tx = ivr_tone_tx_new(&cfg);
	if (!tx || ivr_tone_tx_queue(tx, digits) < 0) {
		ivr_tone_tx_free(tx);
		fprintf(stderr, "ivr-demo: line %d: bad DTMF digits \"%s\"\n", c->line, digits);
		return -EINVAL;
	}
	float frame[FRAME];
	while (ivr_tone_tx_pending(tx)) {
		memset(frame, 0, sizeof(frame));
		if (ivr_tone_tx_render(tx, frame, FRAME) < 0 || append(c, frame, FRAME) < 0)
			break;
	}
	ivr_tone_tx_free(tx);
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* One script step; @voice persists across steps of the call. */
static int run_step(struct demo_call *c, char *step, char *voice, size_t voice_len)
{
	char *arg = step;
	while (*arg && !isspace((unsigned char)*arg))
		arg++;
	if (*arg)
		*arg++ = 0;
	arg = trim(arg);
	if (!strcmp(step, "wait")) {
		char *end;
		long ms = strtol(arg, &end, 10);
		if (*arg == 0 || *end || ms < 0 || ms > 600000)
			goto bad;
		return append(c, NULL, (size_t)ms * RATE_HZ / 1000);
	}
	if (!strcmp(step, "say") && *arg)
		return say(c, voice, arg);
	if (!strcmp(step, "voice") && *arg) {
		snprintf(voice, voice_len, "%s", arg);
		return 0;
	}
	if (!strcmp(step, "dtmf") && *arg)
		return inband_dtmf(c, arg);
	if (!strcmp(step, "rfc4733") && *arg && strlen(arg) < sizeof(c->dtmf_ev[0].digits) &&
	    c->n_dtmf_ev < MAX_DTMF_EVENTS) {
		struct rfc4733_at *ev = &c->dtmf_ev[c->n_dtmf_ev++];
		ev->sample = c->n_samples;
		snprintf(ev->digits, sizeof(ev->digits), "%s", arg);
		/* The caller is silent while the events play: 100 ms on, 100 ms off. */
		return append(c, NULL, strlen(arg) * 200 * RATE_HZ / 1000);
	}
bad:
	fprintf(stderr, "ivr-demo: line %d: bad step \"%s %s\"\n", c->line, step, arg);
	return -EINVAL;
}

static int load_calls(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "ivr-demo: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	char line[4096];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (*s == 0 || *s == '#')
			continue;
		char *field[5];
		int n = 0;
		for (char *p = s; n < 5; n++) {
			field[n] = p;
			char *bar = n < 4 ? strchr(p, '|') : NULL;
			if (!bar && n < 4)
				break;
			if (bar) {
				*bar = 0;
				p = bar + 1;
			}
		}
		if (n != 5 || n_calls == MAX_CALLS) {
			fprintf(stderr,
				"ivr-demo: %s:%d: need FLOW | ANI | DNIS | VARS | SCRIPT%s\n", path,
				lineno, n_calls == MAX_CALLS ? " (too many calls)" : "");
			rc = -EINVAL;
			break;
		}
		struct demo_call *c = &calls[n_calls++];
		c->line = lineno;
		snprintf(c->flow, sizeof(c->flow), "%s", trim(field[0]));
		snprintf(c->ani, sizeof(c->ani), "%s", trim(field[1]));
		snprintf(c->dnis, sizeof(c->dnis), "%s", trim(field[2]));
		snprintf(c->vars, sizeof(c->vars), "%s", trim(field[3]));
		char voice[32] = "slt";
		char *save = NULL;
		for (char *step = strtok_r(field[4], ";", &save); step && rc == 0;
		     step = strtok_r(NULL, ";", &save)) {
			step = trim(step);
			if (*step)
				rc = run_step(c, step, voice, sizeof(voice));
		}
	}
	fclose(f);
	if (rc == 0 && n_calls == 0) {
		fprintf(stderr, "ivr-demo: %s: no calls\n", path);
		rc = -EINVAL;
	}
	return rc;
}

/* The router's view: every ring record as one JSON line. */
static void *reader_main(void *arg)
{
	struct ivr_shmring_reader *r = arg;
	size_t cap = ivr_shmring_reader_max_record(r);
	unsigned char *buf = malloc(cap);
	size_t jcap = cap * 6 + 4096;
	char *js = malloc(jcap);
	struct ivr_shmring_rec rec;
	while (buf && js) {
		int rc = ivr_shmring_read(r, &rec, buf, cap);
		if (rc == 1) {
			(void)ivr_event_print(stdout, &rec, buf, js, jcap);
			continue;
		}
		router_lines(false);
		fflush(stdout);
		if (rc < 0 || atomic_load(&stop_reader))
			break;
		(void)ivr_shmring_reader_wait(r, 50);
	}
	free(js);
	free(buf);
	return NULL;
}

static int open_socket(struct demo_call *c)
{
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(c->fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	return ntohs(a.sin_port);
}

static int connect_to_engine(struct demo_call *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(c->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	return connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
}

static void send_rtp(struct demo_call *c, uint8_t pt, bool marker, uint32_t ts, const void *pl,
		     size_t n)
{
	struct ivr_rtp_hdr h = {
		.version = 2, .marker = marker, .pt = pt, .seq = c->seq++, .ts = ts, .ssrc = c->ssrc
	};
	uint8_t pkt[256];
	int len = ivr_rtp_build(pkt, sizeof(pkt), &h, pl, n);
	if (len > 0 && send(c->fd, pkt, (size_t)len, 0) < 0 && errno != ECONNREFUSED)
		fprintf(stderr, "ivr-demo: send: %s\n", strerror(errno));
}

/* One 20 ms frame of call @c at frame index @k. */
static void call_tick(struct demo_call *c, size_t k)
{
	size_t pos = k * FRAME;
	if (pos >= c->n_samples) {
		c->done = true;
		return;
	}
	uint8_t pl[FRAME];
	float frame[FRAME] = { 0 };
	memcpy(frame, c->audio + pos, IVR_MIN(FRAME, c->n_samples - pos) * sizeof(float));
	ivr_g711_ulaw_encode_f32(pl, frame, FRAME);
	send_rtp(c, 0, k == 0, c->ts, pl, FRAME);

	if (c->next_dtmf_ev < c->n_dtmf_ev && c->dtmf_ev[c->next_dtmf_ev].sample <= pos) {
		if (ivr_rfc4733_tx_send(c->rfc4733, c->dtmf_ev[c->next_dtmf_ev].digits, 100, 100) <
		    0)
			fprintf(stderr, "ivr-demo: line %d: RFC 4733 sender refused\n", c->line);
		c->next_dtmf_ev++;
	}
	struct ivr_rfc4733_tx_pkt ev;
	if (ivr_rfc4733_tx_tick(c->rfc4733, c->ts, &ev) > 0)
		send_rtp(c, DTMF_PT, ev.marker, ev.timestamp, ev.payload, ev.n_bytes);
	c->ts += FRAME;

	uint8_t buf[2048];
	while (recv(c->fd, buf, sizeof(buf), 0) > 0)
		c->rx_pkts++;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "calls", required_argument, NULL, 'c' },
		{ "flows", required_argument, NULL, 'f' },
		{ "cache", required_argument, NULL, 'C' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char calls_path[512], cache[512];
	snprintf(calls_path, sizeof(calls_path), "%s/grammars/demo/calls.txt", IVR_SOURCE_DIR);
	snprintf(cache, sizeof(cache), "%s/demo-cache", IVR_BUILD_DIR);
	const char *flows = NULL;
	unsigned long workers = 1;
	int o;
	while ((o = getopt_long(argc, argv, "c:f:C:w:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			snprintf(calls_path, sizeof(calls_path), "%s", optarg);
			break;
		case 'f':
			flows = optarg;
			break;
		case 'C':
			snprintf(cache, sizeof(cache), "%s", optarg);
			break;
		case 'w':
			if (ivr_cli_uint_opt("ivr-demo", "workers", optarg, 1, 64, &workers) < 0)
				return 2;
			break;
		default:
			return ivr_cli_usage(usage, o);
		}
	}
	if (optind != argc)
		return ivr_cli_usage(usage, 0);
	char flows_default[512];
	snprintf(flows_default, sizeof(flows_default), "%s/grammars", IVR_SOURCE_DIR);
	cache_dir = cache;
	if (mkdir(cache_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "ivr-demo: %s: %s\n", cache_dir, strerror(errno));
		return 2;
	}
	if (load_calls(calls_path) < 0)
		return 2;

	char ring[64];
	snprintf(ring, sizeof(ring), "ivr-demo-%d", (int)getpid());
	struct ivr_engine_cfg cfg = {
		.bind_addr = "127.0.0.1",
		.n_workers = (unsigned)workers,
		.max_calls = 64,
		.ring_name = ring,
		.flows_dir = flows ? flows : flows_default,
		.prompt_cache_dir = cache_dir,
	};
	struct ivr_engine *e = ivr_engine_new(&cfg);
	if (!e || ivr_engine_start(e) < 0) {
		fprintf(stderr, "ivr-demo: engine: %s\n", ivr_engine_last_error());
		ivr_engine_free(e);
		return 1;
	}
	fprintf(stderr, "ivr-demo: engine up (%s I/O), %zu calls from %s, ring %s\n",
		ivr_engine_io_backend(e), n_calls, calls_path, ring);

	struct ivr_shmring_reader reader;
	pthread_t reader_thread;
	bool have_reader = ivr_shmring_reader_open(&reader, ring, IVR_SHMRING_FROM_OLDEST) == 0;
	if (have_reader)
		have_reader = pthread_create(&reader_thread, NULL, reader_main, &reader) == 0;
	else
		fprintf(stderr, "ivr-demo: no event ring: %s\n", reader.why);

	/* The router: ivr-router on the same ring, commands over our control socket. */
	char sock[108], err[256];
	snprintf(sock, sizeof(sock), "/tmp/ivr-demo-%d.sock", (int)getpid());
	struct ivr_control *ctl = ivr_control_start(e, sock, err, sizeof(err));
	pid_t router = -1;
	int pfd[2];
	if (!ctl) {
		fprintf(stderr, "ivr-demo: no router: %s\n", err);
	} else if (pipe2(pfd, O_CLOEXEC) == 0) {
		static const char router_bin[] = IVR_BUILD_DIR "/tools/ivr-router";
		static const char router_cfg[] = IVR_SOURCE_DIR "/tools/ivr-router.json";
		const char *argv_r[] = { router_bin, "--ring",	 ring,	     "--control",
					 sock,	     "--config", router_cfg, "--from",
					 "oldest",   "--print",	 NULL };
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
		int rc =
			posix_spawn(&router, router_bin, &fa, NULL, (char *const *)argv_r, environ);
		if (rc != 0) {
			fprintf(stderr, "ivr-demo: cannot start %s: %s\n", router_bin,
				strerror(rc));
			router = -1;
		}
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[1]);
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		router_out = pfd[0];
	}

	int status = 0;
	for (size_t i = 0; i < n_calls; i++) {
		struct demo_call *c = &calls[i];
		int port = open_socket(c);
		char remote[32];
		snprintf(remote, sizeof(remote), "127.0.0.1:%d", port);
		struct ivr_call_params p = {
			.remote = remote,
			.codec = "PCMU",
			.pt = -1,
			.dtmf_pt = DTMF_PT,
			.ptime_ms = 20,
			.ani = c->ani,
			.dnis = c->dnis,
			.flow = c->flow,
			.vars_json = c->vars,
		};
		struct ivr_rfc4733_tx_cfg tcfg = { .rate_hz = RATE_HZ, .interval_ms = 20 };
		c->rfc4733 = ivr_rfc4733_tx_new(&tcfg);
		c->ssrc = 0x1d3f0000u + (uint32_t)i;
		int rc = port < 0 || !c->rfc4733 ? -EIO
						 : ivr_call_create(e, &p, &c->call_id, &c->port);
		if (rc == 0)
			rc = connect_to_engine(c);
		if (rc < 0) {
			fprintf(stderr, "ivr-demo: line %d: cannot place the call: %s\n", c->line,
				ivr_strerror(rc));
			c->done = true;
			status = 1;
		}
	}

	/* Real pace: one frame per call every 20 ms on an absolute clock. */
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (size_t k = 0;; k++) {
		size_t live = 0;
		for (size_t i = 0; i < n_calls; i++) {
			if (!calls[i].done) {
				call_tick(&calls[i], k);
				live += !calls[i].done;
			}
		}
		if (!live)
			break;
		next.tv_nsec += 20 * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}

	for (size_t i = 0; i < n_calls; i++) {
		struct demo_call *c = &calls[i];
		struct ivr_call_info info;
		if (c->call_id && ivr_call_get_info(e, c->call_id, &info) == 0)
			fprintf(stderr,
				"ivr-demo: call %llu (%s, line %d): rx %llu tx %llu packets, first "
				"prompt after %lld ms\n",
				(unsigned long long)c->call_id, c->flow, c->line,
				(unsigned long long)info.rx_pkts, (unsigned long long)info.tx_pkts,
				(long long)info.first_prompt_ms);
	}
	/*
	 * Last caller first: a router seeing an earlier caller leave would move the
	 * later ones up its queue and announce to calls that are ending too.
	 */
	for (size_t i = n_calls; i-- > 0;)
		if (calls[i].call_id)
			(void)ivr_call_destroy(e, calls[i].call_id);
	(void)ivr_engine_sync(e);
	usleep(300 * 1000); /* let call_end records reach the ring (and the router) */
	if (router > 0) {
		kill(router, SIGTERM);
		waitpid(router, NULL, 0);
	}
	if (have_reader) {
		atomic_store(&stop_reader, true);
		pthread_join(reader_thread, NULL);
		ivr_shmring_reader_close(&reader);
	}
	router_lines(true);
	fflush(stdout);
	if (router_out >= 0)
		close(router_out);
	ivr_control_stop(ctl);
	ivr_engine_stop(e);
	ivr_engine_free(e);
	for (size_t i = 0; i < n_calls; i++) {
		free(calls[i].audio);
		ivr_rfc4733_tx_free(calls[i].rfc4733);
		if (calls[i].fd > 0)
			close(calls[i].fd);
	}
	return status;
}
