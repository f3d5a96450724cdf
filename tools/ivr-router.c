/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-router.c - reference router: event ring in, queue announcements out.
 *
 *   ivr-router --ring NAME --config FILE (--control PATH | --dry-run)
 *              [--from oldest|newest] [--count N] [--timeout-ms N] [--announce-every-s S]
 *              [--print]
 *
 * Reads the engine's event ring (common/shmring.h), remembers each call's priority tier
 * (call_start vars.tier) and last recognised intent, and on a `transfer` hand-off picks a
 * queue with the first matching rule of the configuration (intent x tier -> queue; see
 * tools/ivr-router.json).  Each queue keeps its waiting callers ordered by tier rank,
 * then arrival; whenever a caller's position changes (a caller joins ahead, or one ahead
 * leaves on call_end) the router sends
 *   {"id":N,"op":"queue_announce","call_id":C,"position":P,"wait_s":W}
 * over the engine's control socket (JSON lines, DESIGN.md/api: one reply line per
 * request), with W = ceil(P * aht_s / agents).  --announce-every-s repeats the
 * announcement for everyone waiting, as contact centres do.  --dry-run prints the
 * commands on stdout instead of sending them; --print sends them and also prints each
 * with the engine's reply, one JSON line {"router":COMMAND,"reply":REPLY} (the demo).  --count
 * stops after N ring records,
 * --timeout-ms after N ms without one.  At exit a JSON summary of waiting counts per
 * queue goes to stderr.
 * Exit: 0, 2 (bad usage/config, missing or foreign ring, control socket unreachable).
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/cli.h"
#include "common/shmring.h"
#include "engine/events.h"

#define MAX_QUEUES 64
#define MAX_TIERS  32
#define MAX_ROUTES 256
#define MAX_CALLS  8192 /* open-addressing table; calls are forgotten on call_end */

struct queue {
	char name[64];
	unsigned agents, aht_s;
	uint64_t *calls; /* waiting call ids in order */
	size_t n, cap;
	uint64_t joined, left;
};

struct tier {
	char name[64];
	int rank; /* lower = served first */
};

struct route {
	char intent[64]; /* "" = any */
	char tier[64];	 /* "" = any */
	int queue;
};

struct call {
	uint64_t id;
	int used;
	int rank;
	int queue; /* -1: not queued */
	unsigned position;
	char tier[64];
	char intent[64];
};

static struct queue queues[MAX_QUEUES];
static size_t n_queues;
static struct tier tiers[MAX_TIERS];
static size_t n_tiers;
static struct route routes[MAX_ROUTES];
static size_t n_routes;
static char default_tier[64] = "";
static struct call calls[MAX_CALLS];

static int dry_run, print_cmds;
static int ctl_fd = -1;
static const char *ctl_path;
static long long next_id = 1;
static unsigned long long sent, failed;
static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* ---- configuration ---- */

static int find_queue(const char *name)
{
	for (size_t i = 0; i < n_queues; i++)
		if (strcmp(queues[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int tier_rank(const char *name)
{
	for (size_t i = 0; i < n_tiers; i++)
		if (strcmp(tiers[i].name, name) == 0)
			return tiers[i].rank;
	return -1;
}

static int load_config(const char *path)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	if (!root) {
		fprintf(stderr, "ivr-router: %s:%d: %s\n", path, err.line, err.text);
		return -1;
	}
	int rc = -1;
	json_t *jt = json_object_get(root, "tiers"), *jq = json_object_get(root, "queues"),
	       *jr = json_object_get(root, "routes");
	if (!json_is_object(jt) || !json_is_object(jq) || !json_is_array(jr)) {
		fprintf(stderr,
			"ivr-router: %s: needs objects \"tiers\", \"queues\" and an array "
			"\"routes\"\n",
			path);
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(jt, k, v)
	{
		if (n_tiers == MAX_TIERS || !json_is_integer(v)) {
			fprintf(stderr, "ivr-router: %s: tier %s: rank must be an integer\n", path,
				k);
			goto out;
		}
		copy_str(tiers[n_tiers].name, sizeof(tiers[0].name), k);
		tiers[n_tiers++].rank = (int)json_integer_value(v);
	}
	json_object_foreach(jq, k, v)
	{
		json_t *a = json_object_get(v, "agents"), *h = json_object_get(v, "aht_s");
		if (n_queues == MAX_QUEUES || !json_is_integer(a) || !json_is_integer(h) ||
		    json_integer_value(a) < 1 || json_integer_value(h) < 0) {
			fprintf(stderr,
				"ivr-router: %s: queue %s needs agents >= 1 and aht_s >= 0\n", path,
				k);
			goto out;
		}
		struct queue *q = &queues[n_queues++];
		copy_str(q->name, sizeof(q->name), k);
		q->agents = (unsigned)json_integer_value(a);
		q->aht_s = (unsigned)json_integer_value(h);
	}
	size_t i;
	json_array_foreach(jr, i, v)
	{
		const char *qn = json_string_value(json_object_get(v, "queue"));
		int qi = qn ? find_queue(qn) : -1;
		if (n_routes == MAX_ROUTES || qi < 0) {
			fprintf(stderr, "ivr-router: %s: route %zu: unknown or missing queue\n",
				path, i);
			goto out;
		}
		struct route *r = &routes[n_routes++];
		copy_str(r->intent, sizeof(r->intent),
			 json_string_value(json_object_get(v, "intent")));
		copy_str(r->tier, sizeof(r->tier), json_string_value(json_object_get(v, "tier")));
		if (r->tier[0] && tier_rank(r->tier) < 0) {
			fprintf(stderr, "ivr-router: %s: route %zu: unknown tier %s\n", path, i,
				r->tier);
			goto out;
		}
		r->queue = qi;
	}
	copy_str(default_tier, sizeof(default_tier),
		 json_string_value(json_object_get(root, "default_tier")));
	if (default_tier[0] && tier_rank(default_tier) < 0) {
		fprintf(stderr, "ivr-router: %s: unknown default_tier %s\n", path, default_tier);
		goto out;
	}
	if (n_routes == 0) {
		fprintf(stderr, "ivr-router: %s: no routes\n", path);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- calls ---- */

static struct call *call_get(uint64_t id, int create)
{
	size_t h = (size_t)((id * 0x9e3779b97f4a7c15ull) >> 51) % MAX_CALLS;
	for (size_t k = 0; k < MAX_CALLS; k++) {
		struct call *c = &calls[(h + k) % MAX_CALLS];
		if (c->used && c->id == id)
			return c;
		if (!c->used) {
			if (!create)
				return NULL;
			memset(c, 0, sizeof(*c));
			c->used = 1;
			c->id = id;
			c->queue = -1;
			c->rank = default_tier[0] ? tier_rank(default_tier) : INT_MAX / 2;
			copy_str(c->tier, sizeof(c->tier), default_tier);
			return c;
		}
	}
	return NULL; /* table full */
}

/* Remove with backward-shift so open-addressing probes stay intact. */
static void call_forget(struct call *c)
{
	size_t i = (size_t)(c - calls);
	calls[i].used = 0;
	for (size_t j = (i + 1) % MAX_CALLS; calls[j].used; j = (j + 1) % MAX_CALLS) {
		size_t h = (size_t)((calls[j].id * 0x9e3779b97f4a7c15ull) >> 51) % MAX_CALLS;
		/* Move j back to i if its home h is not in the cyclic range (i, j]. */
		int in_range = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (!in_range) {
			calls[i] = calls[j];
			calls[j].used = 0;
			i = j;
		}
	}
}

/* ---- control socket ---- */

static int ctl_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(ctl_path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, ctl_path, strlen(ctl_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	ctl_fd = fd;
	return 0;
}

/* Read one reply line (up to 2 s).  @return 1 ok, 0 error reply, -1 I/O failure. */
static int ctl_reply(char *line, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = { ctl_fd, POLLIN, 0 };
		if (poll(&p, 1, 2000) != 1)
			return -1;
		ssize_t r = read(ctl_fd, line + n, 1); /* byte-wise: replies are short */
		if (r <= 0)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = 0;
	json_t *j = json_loads(line, 0, NULL);
	int ok = j && json_is_true(json_object_get(j, "ok"));
	json_decref(j);
	return ok;
}

/* Send one command (a JSON object without "id"); prints it instead with --dry-run. */
static void command(json_t *cmd)
{
	json_object_set_new(cmd, "id", json_integer(next_id++));
	char *s = json_dumps(cmd, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(cmd);
	if (!s)
		return;
	if (dry_run) {
		printf("%s\n", s);
		fflush(stdout);
		sent++;
		free(s);
		return;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (ctl_fd < 0 && ctl_connect() != 0)
			break;
		size_t len = strlen(s);
		s[len] = '\n'; /* json_dumps' NUL becomes the line end for the write */
		ssize_t w = send(ctl_fd, s, len + 1, MSG_NOSIGNAL);
		s[len] = 0;
		char reply[1024];
		int ok = w == (ssize_t)(len + 1) ? ctl_reply(reply, sizeof(reply)) : -1;
		if (ok >= 0 && print_cmds) {
			printf("{\"router\":%s,\"reply\":%s}\n", s, reply);
			fflush(stdout);
		}
		if (ok >= 0) {
			if (ok)
				sent++;
			else {
				failed++;
				fprintf(stderr, "ivr-router: engine refused %s: %s\n", s, reply);
			}
			free(s);
			return;
		}
		close(ctl_fd); /* broken connection: reconnect once */
		ctl_fd = -1;
	}
	failed++;
	fprintf(stderr, "ivr-router: control socket %s unavailable, dropped %s\n", ctl_path, s);
	free(s);
}

/* ---- queues ---- */

static unsigned wait_s(const struct queue *q, unsigned position)
{
	return (unsigned)(((uint64_t)position * q->aht_s + q->agents - 1) / q->agents);
}

static void announce(const struct queue *q, struct call *c, unsigned position)
{
	c->position = position;
	json_t *cmd = json_object();
	json_object_set_new(cmd, "op", json_string("queue_announce"));
	json_object_set_new(cmd, "call_id", json_integer((json_int_t)c->id));
	json_object_set_new(cmd, "position", json_integer(position));
	json_object_set_new(cmd, "wait_s", json_integer(wait_s(q, position)));
	command(cmd);
}

/* Announce to every caller of @q whose position changed (all of them if @all). */
static void announce_changes(struct queue *q, int all)
{
	for (size_t i = 0; i < q->n; i++) {
		struct call *c = call_get(q->calls[i], 0);
		if (c && (all || c->position != i + 1))
			announce(q, c, (unsigned)(i + 1));
	}
}

static void enqueue(struct call *c, int qi)
{
	struct queue *q = &queues[qi];
	if (q->n == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 16;
		uint64_t *p = realloc(q->calls, ncap * sizeof(*p));
		if (!p) {
			fprintf(stderr, "ivr-router: out of memory\n");
			return;
		}
		q->calls = p;
		q->cap = ncap;
	}
	/* Behind everyone of the same or a better tier, ahead of worse tiers. */
	size_t at = q->n;
	while (at > 0) {
		struct call *prev = call_get(q->calls[at - 1], 0);
		if (prev && prev->rank <= c->rank)
			break;
		at--;
	}
	memmove(q->calls + at + 1, q->calls + at, (q->n - at) * sizeof(*q->calls));
	q->calls[at] = c->id;
	q->n++;
	q->joined++;
	c->queue = qi;
	c->position = 0;
	announce_changes(q, 0);
}

static void dequeue(struct call *c)
{
	if (c->queue < 0)
		return;
	struct queue *q = &queues[c->queue];
	for (size_t i = 0; i < q->n; i++) {
		if (q->calls[i] == c->id) {
			memmove(q->calls + i, q->calls + i + 1, (q->n - i - 1) * sizeof(*q->calls));
			q->n--;
			q->left++;
			break;
		}
	}
	c->queue = -1;
	announce_changes(q, 0);
}

static int pick_queue(const struct call *c, const char *intent)
{
	for (size_t i = 0; i < n_routes; i++) {
		const struct route *r = &routes[i];
		if (r->intent[0] && strcmp(r->intent, intent) != 0)
			continue;
		if (r->tier[0] && strcmp(r->tier, c->tier) != 0)
			continue;
		return r->queue;
	}
	return -1;
}

/* ---- events ---- */

static void on_event(json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *jid = json_object_get(ev, "call_id");
	if (!type || !json_is_integer(jid))
		return;
	uint64_t id = (uint64_t)json_integer_value(jid);
	if (strcmp(type, "call_start") == 0) {
		struct call *c = call_get(id, 1);
		if (!c) {
			fprintf(stderr, "ivr-router: call table full, ignoring call %llu\n",
				(unsigned long long)id);
			return;
		}
		const char *t =
			json_string_value(json_object_get(json_object_get(ev, "vars"), "tier"));
		if (t && tier_rank(t) >= 0) {
			copy_str(c->tier, sizeof(c->tier), t);
			c->rank = tier_rank(t);
		} else if (t) {
			fprintf(stderr, "ivr-router: call %llu: unknown tier %s, using %s\n",
				(unsigned long long)id, t, default_tier[0] ? default_tier : "none");
		}
	} else if (strcmp(type, "recognition") == 0) {
		struct call *c = call_get(id, 1);
		const char *in = json_string_value(json_object_get(ev, "intent"));
		if (c && in && *in)
			copy_str(c->intent, sizeof(c->intent), in);
	} else if (strcmp(type, "transfer") == 0) {
		struct call *c = call_get(id, 1);
		if (!c)
			return;
		const char *in = json_string_value(json_object_get(ev, "intent"));
		if (!in || !*in)
			in = json_string_value(json_object_get(ev, "skill"));
		if (!in || !*in)
			in = c->intent;
		int qi = pick_queue(c, in);
		if (qi < 0) {
			fprintf(stderr,
				"ivr-router: call %llu: no route for intent '%s' tier '%s'\n",
				(unsigned long long)id, in, c->tier);
			return;
		}
		if (c->queue == qi)
			return;
		dequeue(c);
		enqueue(c, qi);
	} else if (strcmp(type, "call_end") == 0) {
		struct call *c = call_get(id, 0);
		if (c) {
			dequeue(c);
			call_forget(c);
		}
	}
}

static void summary(unsigned long long records, unsigned long long lost)
{
	json_t *s = json_object(), *qs = json_object();
	for (size_t i = 0; i < n_queues; i++)
		json_object_set_new(qs, queues[i].name, json_integer((json_int_t)queues[i].n));
	json_object_set_new(s, "waiting", qs);
	json_object_set_new(s, "records", json_integer((json_int_t)records));
	json_object_set_new(s, "lost", json_integer((json_int_t)lost));
	json_object_set_new(s, "commands_sent", json_integer((json_int_t)sent));
	json_object_set_new(s, "commands_failed", json_integer((json_int_t)failed));
	char *t = json_dumps(s, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (t)
		fprintf(stderr, "%s\n", t);
	free(t);
	json_decref(s);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-router --ring NAME --config FILE (--control PATH | --dry-run)\n"
		   "                  [--from oldest|newest] [--count N] [--timeout-ms N]\n"
		   "                  [--announce-every-s S] [--print]\n");
}

int main(int argc, char **argv)
{
	const char *cfg = NULL;
	struct ivr_cli_ring_opts ro;
	ivr_cli_ring_opts_init(&ro);
	long long every_s = 0;
	static const struct option opts[] = {
		IVR_CLI_RING_OPTIONS,
		{ "config", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 'C' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "print", no_argument, NULL, 'p' },
		{ "announce-every-s", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "r:c:C:dpf:n:t:a:h", opts, NULL)) != -1) {
		int taken = ivr_cli_ring_opt(&ro, "ivr-router", o, optarg);
		if (taken < 0)
			return 2;
		if (taken)
			continue;
		switch (o) {
		case 'c':
			cfg = optarg;
			break;
		case 'C':
			ctl_path = optarg;
			break;
		case 'd':
			dry_run = 1;
			break;
		case 'p':
			print_cmds = 1;
			break;
		case 'a':
			if (ivr_cli_parse_count(optarg, &every_s) < 0) {
				fprintf(stderr,
					"ivr-router: --announce-every-s needs a number >= 0\n");
				return 2;
			}
			break;
		default:
			return ivr_cli_usage(usage, o);
		}
	}
	if (!ro.ring || !cfg || (!ctl_path && !dry_run) || optind != argc)
		return ivr_cli_usage(usage, 0);
	if (load_config(cfg) != 0)
		return 2;
	if (!dry_run) {
		int rc = ctl_connect();
		if (rc != 0) {
			fprintf(stderr, "ivr-router: cannot connect to control socket %s: %s\n",
				ctl_path, strerror(-rc));
			return 2;
		}
	}
	struct ivr_shmring_reader r;
	if (ivr_shmring_reader_open(&r, ro.ring, ro.from) != 0) {
		fprintf(stderr, "ivr-router: %s\n", r.why);
		return 2;
	}
	ivr_cli_on_stop_signals();

	size_t cap = ivr_shmring_reader_max_record(&r), jcap = cap * 6 + 4096;
	unsigned char *buf = malloc(cap);
	char *js = malloc(jcap);
	if (!buf || !js)
		return 1;
	unsigned long long records = 0, lost = 0;
	uint64_t next_announce =
		every_s ? ivr_shmring_now_ns() + (uint64_t)every_s * 1000000000u : UINT64_MAX;
	struct ivr_shmring_rec rec;
	while (!ivr_cli_stop && (ro.count < 0 || (long long)records < ro.count)) {
		int rc = ivr_shmring_read(&r, &rec, buf, cap);
		if (rc == 1) {
			records++;
			if (rec.lost_before) {
				/* Our view of the queues may now be stale; say so. */
				lost += rec.lost_before;
				fprintf(stderr, "ivr-router: lost %llu events on worker %u\n",
					(unsigned long long)rec.lost_before, rec.worker);
			}
			if (ivr_event_to_json(&rec, buf, js, jcap) >= 0) {
				json_t *ev = json_loads(js, 0, NULL);
				if (ev)
					on_event(ev);
				json_decref(ev);
			}
			continue;
		}
		if (rc < 0)
			break;
		uint64_t now = ivr_shmring_now_ns();
		if (now >= next_announce) {
			for (size_t i = 0; i < n_queues; i++)
				announce_changes(&queues[i], 1);
			next_announce = now + (uint64_t)every_s * 1000000000u;
		}
		int wait_ms = ro.timeout_ms < 0 ? -1 : (int)IVR_MIN(ro.timeout_ms, INT_MAX);
		if (every_s) {
			int until = (int)((next_announce - now) / 1000000u) + 1;
			wait_ms = wait_ms < 0 ? until : IVR_MIN(wait_ms, until);
		}
		rc = ivr_shmring_reader_wait(&r, wait_ms);
		if (rc == -ETIMEDOUT && ro.timeout_ms >= 0 && !every_s)
			break;
		if (rc == -ETIMEDOUT && ro.timeout_ms >= 0 && every_s &&
		    ivr_shmring_now_ns() - now >= (uint64_t)ro.timeout_ms * 1000000u)
			break;
	}
	summary(records, lost);
	for (size_t i = 0; i < n_queues; i++)
		free(queues[i].calls);
	free(js);
	free(buf);
	ivr_shmring_reader_close(&r);
	if (ctl_fd >= 0)
		close(ctl_fd);
	return 0;
}
