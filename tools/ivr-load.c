/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-load.c - load generator for ivr-engine: N concurrent calls of
 * recorded audio sent as real RTP at real pace (one 20 ms packet per call
 * per tick) from one process, receiving the engine's audio back.
 *
 * All calls share one local UDP socket: sends go out in sendmmsg batches
 * of 64 (one destination per call: the call's engine port), a receiver
 * thread takes replies in recvmmsg batches and tells calls apart by the
 * engine port they come from.  That keeps the generator far cheaper than
 * the engine it measures on the same two cores.
 * Reports: packets/s each way, lost frames (by RTP sequence), frames the
 * engine skipped (consecutive sequence numbers whose timestamps jump), late frames
 * (arriving more than 20 ms behind the stream's own schedule, measured
 * against the earliest arrival seen so far; arrival = the kernel's receive
 * stamp, SO_TIMESTAMPNS, so a receiver thread held up by the machine does not
 * count as a late engine), sender overruns, and the
 * engine's media-thread CPU per call-second (from its "stats" op).
 * With --pairs, calls 2k and 2k+1 share a conference and hear each other:
 * every 25th frame carries a signature, and the time from sending it on one
 * call to receiving it on the partner is the mouth-to-ear latency through
 * the engine (jitter buffer + one tick + send).
 * With --dtmf, every call also sends digits from t = 1 s, 100 ms on and
 * 100 ms off, through the engine's own senders so the load is what the
 * engine itself sends: RFC 4733 events from dsp/rfc4733.h (payload type
 * 101, volume 10; each event packet replaces that tick's audio packet, as
 * RFC 4733 2.5.1 and the engine do) or in-band tones from dsp/tone.h (Q.23
 * pairs, low group -8 dBm0, +2 dB twist) replacing the audio while digits
 * are pending.
 * Exit 0 on success, 2 on bad usage, 1 when the engine refuses.
 */
#include "config.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "dsp/g711.h"
#include "dsp/rfc4733.h"
#include "dsp/tone.h"
#include "dsp/wav.h"
#include "engine/rtp.h"

#define BATCH		64
#define SIG_EVERY	25
#define MAX_PROBES	64
#define DTMF_PT		101
#define DTMF_START_TICK 50 /* digits start 1 s into the call */

#define DTMF_ON_MS  100
#define DTMF_OFF_MS 100

/*
 * Per-call DTMF senders (dsp/tone.h in-band, dsp/rfc4733.h events), one
 * fixed-size block per call in one array: only allocated with --dtmf.
 */
static uint8_t *dtmf_mem;
static size_t dtmf_stride;

static void *dtmf_sender(int call)
{
	return dtmf_mem + (size_t)call * dtmf_stride;
}

/* @return 0, or -1 (message printed) if the senders cannot be set up. */
static int dtmf_setup(int n, bool rfc4733)
{
	struct ivr_tone_tx_cfg tc = { .rate_hz = 8000, .on_ms = DTMF_ON_MS, .off_ms = DTMF_OFF_MS };
	struct ivr_rfc4733_tx_cfg rc = { .rate_hz = 8000 };
	size_t sz = rfc4733 ? ivr_rfc4733_tx_size(&rc) : ivr_tone_tx_size(&tc);
	dtmf_stride = IVR_ROUND_UP(sz, IVR_ALIGN);
	dtmf_mem = aligned_alloc(IVR_ALIGN, dtmf_stride * (size_t)n);
	if (!dtmf_mem) {
		fprintf(stderr, "ivr-load: no memory for %d DTMF senders\n", n);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int r = rfc4733 ? ivr_rfc4733_tx_init(dtmf_sender(i), dtmf_stride, &rc)
				: ivr_tone_tx_init(dtmf_sender(i), dtmf_stride, &tc);
		if (r < 0) {
			fprintf(stderr, "ivr-load: DTMF sender: %s\n", strerror(-r));
			return -1;
		}
	}
	return 0;
}

struct lcall {
	uint64_t id;
	uint16_t port; /* engine side */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	/* receive side (receiver thread) */
	bool rx_started;
	uint16_t rx_max_seq;
	uint32_t rx_cycles;
	uint32_t rx_first_seq;
	uint64_t rx_pkts;
	uint32_t rx_ts0;
	uint32_t rx_max_ts; /* timestamp of the highest sequence number */
	bool rx_max_audio;  /* ... and it was audio (not a telephone-event) */
	uint64_t skipped;   /* frames missing from the timestamps (the engine skipped a tick) */
	int64_t rx_t0_us;
	int64_t min_off_us;
	uint64_t late;
	/* the same on the receiver thread's drain times, for comparison (late_drain_pct) */
	int64_t rx_t0_drain_us, min_off_drain_us;
	uint64_t late_drain;
	/* latency probes sent on this call: send time by probe number */
	uint64_t probe_sent_ns[MAX_PROBES];
};

static struct lcall *calls;
static int n_calls;
static int call_of_port[65536];
static int sock_fd = -1;
static atomic_bool stop_rx;
static atomic_bool measuring; /* ignore what arrives before the timed run starts */
static int64_t *lat_us;
static atomic_size_t n_lat;
static size_t lat_cap;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME, the clock of the kernel's SO_TIMESTAMPNS receive stamps. */
static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- control connection ---- */

static FILE *ctl_in;
static int ctl_fd = -1;
static int req_id;

static int ctl_connect(const char *ep)
{
	const char *colon = strrchr(ep, ':');
	if (ep[0] != '/' && ep[0] != '.' && colon) {
		char host[64];
		size_t hl = (size_t)(colon - ep);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, ep, hl);
		host[hl] = 0;
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)atoi(colon + 1)) };
		if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
			return -1;
		ctl_fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(ctl_fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
	} else {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", ep);
		ctl_fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(ctl_fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
	}
	ctl_in = fdopen(dup(ctl_fd), "r");
	return ctl_in ? 0 : -1;
}

/* Send @req (an object; "id" is added), return the reply (caller decrefs) or NULL. */
static json_t *ctl(json_t *req)
{
	json_object_set_new(req, "id", json_integer(++req_id));
	char *s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	size_t n = strlen(s);
	s[n] = '\n';
	ssize_t w = write(ctl_fd, s, n + 1);
	free(s);
	if (w != (ssize_t)n + 1)
		return NULL;
	char line[65536];
	if (!fgets(line, sizeof(line), ctl_in))
		return NULL;
	return json_loads(line, 0, NULL);
}

static bool ok(json_t *j, const char *what)
{
	if (j && json_is_true(json_object_get(j, "ok")))
		return true;
	fprintf(stderr, "ivr-load: %s: %s\n", what,
		j ? json_string_value(json_object_get(j, "error")) : "no reply from engine");
	return false;
}

/* The engine's counters that the run reports on (its "stats" op). */
struct engine_snap {
	double cpu_s; /* media threads' CPU; < 0 when unknown */
	double rx_dgrams, overruns;
};

static struct engine_snap engine_stats(void)
{
	json_t *r = ctl(json_pack("{s:s}", "op", "stats"));
	struct engine_snap s = { .cpu_s = -1 };
	if (ok(r, "stats")) {
		json_t *e = json_object_get(r, "engine");
		s.cpu_s = json_real_value(json_object_get(e, "cpu_s"));
		s.rx_dgrams = (double)json_integer_value(json_object_get(e, "rx_dgrams"));
		s.overruns = (double)json_integer_value(json_object_get(e, "overruns"));
	}
	json_decref(r);
	return s;
}

/* This process's CPU (both threads), s: the generator shares the cores it measures. */
static double self_cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- receiver ---- */

/* Lateness of one frame against the stream's own schedule (see the file comment). */
static uint64_t late_check(int64_t t_us, int64_t *t0_us, int64_t *min_off_us, bool first,
			   uint32_t dts)
{
	if (first) {
		*t0_us = t_us;
		*min_off_us = 0;
	}
	int64_t off = t_us - (*t0_us + (int64_t)dts * 125);
	if (off < *min_off_us)
		*min_off_us = off;
	return off - *min_off_us > 20000;
}

/*
 * @t: the kernel's receive stamp of the datagram (CLOCK_REALTIME, SO_TIMESTAMPNS): when the
 * engine's send put it on our socket, however late this thread got to it; @t_drain: when
 * this thread read it.
 */
static void on_packet(int ci, const uint8_t *buf, size_t n, uint64_t t, uint64_t t_drain)
{
	struct ivr_rtp_hdr h;
	if (!atomic_load_explicit(&measuring, memory_order_acquire) ||
	    ivr_rtp_parse(&h, buf, n) < 0)
		return;
	struct lcall *c = &calls[ci];
	const bool first = !c->rx_started;
	if (!c->rx_started) {
		c->rx_started = true;
		c->rx_max_seq = h.seq;
		c->rx_first_seq = h.seq;
		c->rx_ts0 = h.ts;
		c->rx_max_ts = h.ts;
		c->rx_max_audio = h.pt == 0 || h.pt == 8;
	} else {
		uint16_t d = (uint16_t)(h.seq - c->rx_max_seq);
		if (d < 0x8000 && d != 0) {
			if (h.seq < c->rx_max_seq)
				c->rx_cycles += 65536;
			c->rx_max_seq = h.seq;
			/* A sender that falls behind skips frames: consecutive sequence numbers
			 * whose timestamps jump.  Neither lost nor late, but a gap in the audio. */
			bool audio = h.pt == 0 || h.pt == 8;
			uint32_t dts = h.ts - c->rx_max_ts, want = (uint32_t)d * 160;
			if (audio && c->rx_max_audio && dts > want && dts - want < 8000 * 60)
				c->skipped += (dts - want) / 160;
			c->rx_max_ts = h.ts;
			c->rx_max_audio = audio;
		}
	}
	c->rx_pkts++;
	/* schedule offset: arrival minus where the stream's timestamps put it */
	const uint32_t dts = h.ts - c->rx_ts0;
	c->late += late_check((int64_t)(t / 1000), &c->rx_t0_us, &c->min_off_us, first, dts);
	c->late_drain += late_check((int64_t)(t_drain / 1000), &c->rx_t0_drain_us,
				    &c->min_off_drain_us, first, dts);
	/* latency probe from the partner: signature bytes 0x55 0xAA, probe number, call */
	if (h.payload_n_bytes >= 8 && h.payload[0] == 0x55 && h.payload[1] == 0xaa &&
	    h.payload[2] == 0x55 && h.payload[3] == 0xaa) {
		unsigned probe = h.payload[4] % MAX_PROBES;
		unsigned from =
			(unsigned)h.payload[5] << 16 | (unsigned)h.payload[6] << 8 | h.payload[7];
		if ((int)from < n_calls && calls[from].probe_sent_ns[probe]) {
			size_t k = atomic_fetch_add(&n_lat, 1);
			if (k < lat_cap)
				lat_us[k] = (int64_t)(t - calls[from].probe_sent_ns[probe]) / 1000;
		}
	}
}

/*
 * Drains the socket every millisecond rather than waking on each datagram: a receiver that
 * wakes per datagram preempts the engine (on loopback the engine's send delivers the datagram
 * and wakes us on its own CPU), once per packet when ivr-load runs at a higher real-time
 * priority.  Arrival times are the kernel's receive stamps, not the drain time: a drain that
 * is late (1 ms by design, more when the machine holds this thread up) does not make frames
 * late.  The drain-time figure is kept as late_drain_pct: the gap between the two is the
 * instrument's own lateness.
 */
static void *rx_main(void *arg)
{
	(void)arg;
	static struct mmsghdr mm[BATCH];
	static struct iovec iov[BATCH];
	static struct sockaddr_in from[BATCH];
	static uint8_t buf[BATCH][2048];
	static union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(struct timespec))];
	} ctl[BATCH];
	uint64_t next = now_ns();
	while (!atomic_load(&stop_rx)) {
		for (;;) {
			for (int i = 0; i < BATCH; i++) {
				iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
				mm[i].msg_hdr =
					(struct msghdr){ .msg_name = &from[i],
							 .msg_namelen = sizeof(from[i]),
							 .msg_iov = &iov[i],
							 .msg_iovlen = 1,
							 .msg_control = ctl[i].b,
							 .msg_controllen = sizeof(ctl[i].b) };
			}
			int n = recvmmsg(sock_fd, mm, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			uint64_t t = real_ns();
			for (int i = 0; i < n; i++) {
				int ci = call_of_port[ntohs(from[i].sin_port)];
				if (ci < 0)
					continue;
				uint64_t ts = t; /* no stamp (timestamping refused): drain time */
				struct cmsghdr *cm = CMSG_FIRSTHDR(&mm[i].msg_hdr);
				if (cm && cm->cmsg_level == SOL_SOCKET &&
				    cm->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec k;
					memcpy(&k, CMSG_DATA(cm), sizeof(k));
					ts = (uint64_t)k.tv_sec * 1000000000ull +
					     (uint64_t)k.tv_nsec;
				}
				on_packet(ci, buf[i], mm[i].msg_len, ts, t);
			}
			if (n < BATCH)
				break;
		}
		next += 1000000ull;
		uint64_t now = now_ns();
		if (next < now)
			next = now; /* we were held up: no burst of catch-up drains */
		struct timespec ts = { .tv_sec = (time_t)(next / 1000000000ull),
				       .tv_nsec = (long)(next % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-load --control EP --calls N [options]\n"
		   "  --control EP     engine control socket (path or 127.0.0.1:PORT)\n"
		   "  --calls N        concurrent calls (default 10)\n"
		   "  --duration S     seconds of audio per call (default 10)\n"
		   "  --wav FILE       audio each call sends (default: synthetic voiced signal)\n"
		   "  --prompt FILE    the engine plays this (looped) to every call\n"
		   "  --pairs          pair calls in conferences and measure mouth-to-ear latency\n"
		   "  --codec C        PCMU (default) or PCMA\n"
		   "  --dtmf DIGITS    each call sends these digits from t = 1 s (100 ms on, 100 "
		   "ms off)\n"
		   "  --dtmf-mode M    rfc4733 (default, payload type 101) or inband\n"
		   "  --json           print the summary as one JSON object\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "calls", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "wav", required_argument, NULL, 'w' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "pairs", no_argument, NULL, 'P' },
		{ "codec", required_argument, NULL, 'C' },
		{ "dtmf", required_argument, NULL, 'D' },
		{ "dtmf-mode", required_argument, NULL, 'M' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *ep = NULL, *wav = NULL, *prompt = NULL, *codec = "PCMU";
	const char *digits = NULL, *dtmf_mode = "rfc4733";
	double duration = 10;
	bool pairs = false, as_json = false;
	n_calls = 10;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			ep = optarg;
			break;
		case 'n':
			n_calls = atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'w':
			wav = optarg;
			break;
		case 'p':
			prompt = optarg;
			break;
		case 'P':
			pairs = true;
			break;
		case 'C':
			codec = optarg;
			break;
		case 'D':
			digits = optarg;
			break;
		case 'M':
			dtmf_mode = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		default:
			return ivr_cli_usage(usage, o);
		}
	}
	bool alaw = !strcmp(codec, "PCMA");
	bool rfc4733 = !strcmp(dtmf_mode, "rfc4733");
	if ((!rfc4733 && strcmp(dtmf_mode, "inband")) ||
	    (digits &&
	     (strspn(digits, "0123456789*#ABCD") != strlen(digits) || strlen(digits) > 32))) {
		fprintf(stderr, "ivr-load: --dtmf takes up to 32 of 0-9 * # A-D; --dtmf-mode "
				"rfc4733|inband\n");
		return 2;
	}
	if (!ep || n_calls <= 0 || n_calls > 60000 || !(duration > 0 && duration < 86400) ||
	    (!alaw && strcmp(codec, "PCMU")) || optind < argc) {
		fprintf(stderr, "ivr-load: need --control, 1 <= --calls <= 60000, --duration > 0, "
				"--codec PCMU|PCMA\n");
		return 2;
	}
	/* Audio: the WAV file, or a synthetic voiced signal. */
	struct ivr_audio au = { 0 };
	char err[256];
	if (wav) {
		if (ivr_wav_read(&au, wav, 8000, err, sizeof(err)) < 0) {
			fprintf(stderr, "ivr-load: %s: %s\n", wav, err);
			return 2;
		}
	} else {
		au.n_samples = 8000 * 4;
		au.rate_hz = 8000;
		au.samples = malloc(au.n_samples * sizeof(float));
		for (size_t i = 0; i < au.n_samples; i++) {
			double t = (double)i / 8000;
			au.samples[i] = (float)((0.5 + 0.5 * sin(2 * M_PI * 3 * t)) *
						(0.3 * sin(2 * M_PI * 140 * t) +
						 0.1 * sin(2 * M_PI * 280 * t)));
		}
	}
	if (au.n_samples < 160) {
		fprintf(stderr, "ivr-load: %s is shorter than one frame\n", wav);
		return 2;
	}
	size_t n_frames_audio = au.n_samples / 160;
	uint8_t *enc = malloc(n_frames_audio * 160);
	if (alaw)
		ivr_g711_alaw_encode_f32(enc, au.samples, n_frames_audio * 160);
	else
		ivr_g711_ulaw_encode_f32(enc, au.samples, n_frames_audio * 160);

	if (digits && dtmf_setup(n_calls, rfc4733) < 0)
		return 1;

	/* Enough descriptors for big runs. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (ctl_connect(ep) < 0) {
		fprintf(stderr, "ivr-load: cannot connect to %s: %s\n", ep, strerror(errno));
		return 1;
	}
	sock_fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in me = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
	socklen_t ml = sizeof(me);
	int big = 32 << 20;
	setsockopt(sock_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(sock_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	/* Arrival = the kernel's stamp when the datagram reached the socket (rx_main). */
	int one = 1;
	setsockopt(sock_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (bind(sock_fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    getsockname(sock_fd, (struct sockaddr *)&me, &ml) < 0) {
		fprintf(stderr, "ivr-load: socket: %s\n", strerror(errno));
		return 1;
	}
	char remote[64];
	snprintf(remote, sizeof(remote), "127.0.0.1:%u", ntohs(me.sin_port));
	calls = calloc((size_t)n_calls, sizeof(*calls));
	for (int i = 0; i < 65536; i++)
		call_of_port[i] = -1;
	lat_cap = 1 << 20;
	lat_us = malloc(lat_cap * sizeof(int64_t));
	/* Receive from the start so nothing queues up before the timed run. */
	pthread_t rx_thread;
	pthread_create(&rx_thread, NULL, rx_main, NULL);
	int created = 0;
	for (int i = 0; i < n_calls; i++) {
		json_t *r =
			ctl(json_pack("{s:s,s:s,s:s,s:i}", "op", "create_call", "remote", remote,
				      "codec", codec, "dtmf_pt", digits && rfc4733 ? DTMF_PT : -1));
		if (!ok(r, "create_call")) {
			json_decref(r);
			break;
		}
		calls[i].id = (uint64_t)json_integer_value(json_object_get(r, "call_id"));
		calls[i].port = (uint16_t)json_integer_value(json_object_get(r, "local_port"));
		calls[i].seq = (uint16_t)(i * 7919);
		calls[i].ts = (uint32_t)i * 104729u;
		calls[i].ssrc = 0x10000000u + (uint32_t)i;
		call_of_port[calls[i].port] = i;
		json_decref(r);
		created++;
		if (prompt) {
			r = ctl(json_pack("{s:s,s:I,s:s,s:b}", "op", "play", "call_id",
					  (json_int_t)calls[i].id, "file", prompt, "loop", 1));
			bool good = ok(r, "play");
			json_decref(r);
			if (!good)
				goto refused;
		}
		if (pairs && (i & 1)) {
			char conf[32];
			snprintf(conf, sizeof(conf), "load-%d", i / 2);
			for (int k = i - 1; k <= i; k++) {
				r = ctl(json_pack("{s:s,s:I,s:s}", "op", "conf_join", "call_id",
						  (json_int_t)calls[k].id, "conf", conf));
				bool good = ok(r, "conf_join");
				json_decref(r);
				if (!good)
					goto refused;
			}
		}
	}
	if (created < n_calls) {
		fprintf(stderr, "ivr-load: only %d of %d calls created\n", created, n_calls);
		n_calls = created;
		if (!created)
			goto refused;
	}
	struct engine_snap e0 = engine_stats();
	double self0 = self_cpu_s();
	atomic_store_explicit(&measuring, true, memory_order_release);

	/* Sender: one packet per call per 20 ms, in sendmmsg batches. */
	size_t ticks = (size_t)(duration * 50);
	static struct mmsghdr mm[BATCH];
	static struct iovec iov[BATCH];
	static struct sockaddr_in dst[BATCH];
	static uint8_t pkt[BATCH][256];
	uint64_t t0 = now_ns(), sent = 0, send_fail = 0, overruns = 0, dtmf_pkts = 0;
	size_t n_digits = digits ? strlen(digits) : 0;
	uint64_t next = t0;
	for (size_t tick = 0; tick < ticks; tick++) {
		const uint8_t *frame = enc + (tick % n_frames_audio) * 160;
		int nb = 0;
		for (int i = 0; i < n_calls; i++) {
			struct lcall *c = &calls[i];
			struct ivr_rtp_hdr h = { .pt = alaw ? 8 : 0,
						 .seq = c->seq++,
						 .ts = c->ts,
						 .ssrc = c->ssrc,
						 .marker = tick == 0 };
			c->ts += 160;
			uint8_t pay[160];
			size_t n_pay = 160;
			memcpy(pay, frame, 160);
			if (digits && tick == DTMF_START_TICK) {
				int q = rfc4733 ? ivr_rfc4733_tx_send(dtmf_sender(i), digits,
								      DTMF_ON_MS, DTMF_OFF_MS)
						: ivr_tone_tx_queue(dtmf_sender(i), digits);
				if (q < 0)
					fprintf(stderr, "ivr-load: call %d: DTMF refused: %s\n", i,
						strerror(-q));
			}
			bool event = false;
			if (digits && rfc4733) {
				/* an event packet due this tick replaces the audio packet */
				struct ivr_rfc4733_tx_pkt ev;
				if (ivr_rfc4733_tx_busy(dtmf_sender(i)) &&
				    ivr_rfc4733_tx_tick(dtmf_sender(i), h.ts, &ev) == 1) {
					event = true;
					h.pt = DTMF_PT;
					h.ts = ev.timestamp;
					h.marker = ev.marker;
					memcpy(pay, ev.payload, ev.n_bytes);
					n_pay = ev.n_bytes;
					dtmf_pkts++;
				}
			} else if (digits && ivr_tone_tx_pending(dtmf_sender(i))) {
				float pcm[160];
				(void)ivr_tone_tx_render(dtmf_sender(i), pcm, 160);
				if (alaw)
					ivr_g711_alaw_encode_f32(pay, pcm, 160);
				else
					ivr_g711_ulaw_encode_f32(pay, pcm, 160);
			}
			if (pairs && !event && tick % SIG_EVERY == 0) {
				unsigned probe = (unsigned)(tick / SIG_EVERY) % MAX_PROBES;
				pay[0] = 0x55, pay[1] = 0xaa, pay[2] = 0x55, pay[3] = 0xaa;
				pay[4] = (uint8_t)probe;
				pay[5] = (uint8_t)(i >> 16), pay[6] = (uint8_t)(i >> 8),
				pay[7] = (uint8_t)i;
				c->probe_sent_ns[probe] = real_ns(); /* receive stamps' clock */
			}
			int n = ivr_rtp_build(pkt[nb], sizeof(pkt[nb]), &h, pay, n_pay);
			dst[nb] = (struct sockaddr_in){ .sin_family = AF_INET,
							.sin_port = htons(c->port),
							.sin_addr = me.sin_addr };
			iov[nb] = (struct iovec){ pkt[nb], (size_t)n };
			mm[nb].msg_hdr = (struct msghdr){ .msg_name = &dst[nb],
							  .msg_namelen = sizeof(dst[nb]),
							  .msg_iov = &iov[nb],
							  .msg_iovlen = 1 };
			if (++nb == BATCH || i == n_calls - 1) {
				int off = 0;
				while (off < nb) {
					int r = sendmmsg(sock_fd, mm + off, (unsigned)(nb - off),
							 0);
					if (r <= 0) {
						send_fail += (uint64_t)(nb - off);
						break;
					}
					off += r;
					sent += (uint64_t)r;
				}
				nb = 0;
			}
		}
		next += 20000000ull;
		uint64_t now = now_ns();
		if (now > next) {
			overruns++;
			continue;
		}
		struct timespec ts = { .tv_sec = (time_t)(next / 1000000000ull),
				       .tv_nsec = (long)(next % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	double wall = (double)(now_ns() - t0) / 1e9;
	struct engine_snap e1 = engine_stats();
	/* Received until here: what the engine sent in the timed run (load_cpu_s covers it). */
	uint64_t rx_timed = 0;
	for (int i = 0; i < n_calls; i++)
		rx_timed += calls[i].rx_pkts;
	double self_cpu = self_cpu_s() - self0;
	/* Let the last packets arrive, then stop receiving. */
	struct timespec grace = { 0, 200000000 };
	nanosleep(&grace, NULL);
	atomic_store(&stop_rx, true);
	pthread_join(rx_thread, NULL);
	for (int i = 0; i < n_calls; i++)
		json_decref(ctl(json_pack("{s:s,s:I}", "op", "destroy_call", "call_id",
					  (json_int_t)calls[i].id)));

	uint64_t rx = 0, late = 0, late_drain = 0, lost = 0, expected = 0, skipped = 0;
	for (int i = 0; i < n_calls; i++) {
		struct lcall *c = &calls[i];
		rx += c->rx_pkts;
		late += c->late;
		late_drain += c->late_drain;
		skipped += c->skipped;
		if (c->rx_started) {
			uint64_t exp = c->rx_cycles + c->rx_max_seq - c->rx_first_seq + 1;
			expected += exp;
			if (exp > c->rx_pkts)
				lost += exp - c->rx_pkts;
		}
	}
	size_t nl = IVR_MIN(atomic_load(&n_lat), lat_cap);
	qsort(lat_us, nl, sizeof(int64_t), cmp_i64);
	double p50 = nl ? lat_us[nl / 2] / 1000.0 : -1,
	       p99 = nl ? lat_us[nl * 99 / 100] / 1000.0 : -1;
	double cpu = e0.cpu_s >= 0 && e1.cpu_s >= 0 ? e1.cpu_s - e0.cpu_s : -1;
	/* Engine CPU per datagram it handled (received + sent): the figure that does not depend
	 * on how many packets a starved sender managed to send. */
	double e_pkts = e1.rx_dgrams - e0.rx_dgrams + (double)rx_timed;
	double ns_per_pkt = cpu >= 0 && e_pkts > 0 ? cpu * 1e9 / e_pkts : -1;
	double call_s = (double)n_calls * wall;
	double us_per_call_s = cpu >= 0 ? cpu * 1e6 / call_s : -1;
	double late_pct = expected ? 100.0 * (double)late / (double)expected : 0;
	double late_drain_pct = expected ? 100.0 * (double)late_drain / (double)expected : 0;
	double lost_pct = expected ? 100.0 * (double)lost / (double)expected : 0;
	double skipped_pct = expected ? 100.0 * (double)skipped / (double)(expected + skipped) : 0;
	if (as_json) {
		printf("{\"calls\":%d,\"seconds\":%.2f,\"sent\":%llu,\"received\":%llu,"
		       "\"send_failed\":%llu,\"sender_overruns\":%llu,\"pps_out\":%.0f,\"pps_in\":%"
		       ".0f,"
		       "\"lost\":%llu,\"lost_pct\":%.4f,\"late\":%llu,\"late_pct\":%.4f,"
		       "\"late_drain_pct\":%.4f,"
		       "\"skipped\":%llu,\"skipped_pct\":%.4f,"
		       "\"latency_ms_p50\":%.2f,\"latency_ms_p99\":%.2f,\"latency_samples\":%zu,"
		       "\"engine_cpu_s\":%.3f,\"engine_us_per_call_s\":%.2f,\"engine_ns_per_pkt\":%"
		       ".0f,"
		       "\"engine_overruns\":%.0f,\"load_cpu_s\":%.3f,\"load_cpu_pct\":%.1f}\n",
		       n_calls, wall, (unsigned long long)sent, (unsigned long long)rx,
		       (unsigned long long)send_fail, (unsigned long long)overruns, sent / wall,
		       rx / wall, (unsigned long long)lost, lost_pct, (unsigned long long)late,
		       late_pct, late_drain_pct, (unsigned long long)skipped, skipped_pct, p50, p99,
		       nl, cpu, us_per_call_s, ns_per_pkt, e1.overruns - e0.overruns, self_cpu,
		       100.0 * self_cpu / wall);
	} else {
		printf("calls %d  seconds %.2f  sent %llu (%.0f pkt/s)  received %llu (%.0f "
		       "pkt/s)\n",
		       n_calls, wall, (unsigned long long)sent, sent / wall, (unsigned long long)rx,
		       rx / wall);
		printf("lost %llu (%.3f%%)  late>20ms %llu (%.3f%%; by drain time %.3f%%)  skipped "
		       "by the engine %llu (%.3f%%)  sender overruns %llu  send failures %llu\n",
		       (unsigned long long)lost, lost_pct, (unsigned long long)late, late_pct,
		       late_drain_pct, (unsigned long long)skipped, skipped_pct,
		       (unsigned long long)overruns, (unsigned long long)send_fail);
		if (digits)
			printf("dtmf: %zu digits per call (%s), %llu RFC 4733 packets\n", n_digits,
			       dtmf_mode, (unsigned long long)dtmf_pkts);
		if (pairs)
			printf("mouth-to-ear through the engine: p50 %.1f ms  p99 %.1f ms  (%zu "
			       "probes)\n",
			       p50, p99, nl);
		if (cpu >= 0)
			printf("engine media threads: %.3f s CPU = %.2f us per call-second "
			       "(%.0f calls per core at 100%%)\n",
			       cpu, us_per_call_s, us_per_call_s > 0 ? 1e6 / us_per_call_s : 0);
		if (ns_per_pkt > 0)
			printf("engine: %.0f ns CPU per datagram received or sent, %.0f ticks "
			       "overrun\n",
			       ns_per_pkt, e1.overruns - e0.overruns);
		printf("ivr-load itself: %.3f s CPU (%.1f%% of one core)\n", self_cpu,
		       100.0 * self_cpu / wall);
	}
	free(enc);
	free(dtmf_mem);
	ivr_audio_free(&au);
	free(calls);
	free(lat_us);
	return 0;
refused:
	atomic_store(&stop_rx, true);
	pthread_join(rx_thread, NULL);
	return 1;
}
