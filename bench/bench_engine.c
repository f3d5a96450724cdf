/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_engine.c - engine CPU per call-second for full-duplex G.711
 * calls, against rtpengine relaying the same number of one-way streams.
 *
 * IVR side: starts build/engine/ivr-engine (2 workers) and drives it with
 * build/tools/ivr-load (N calls, each sends 50 packets/s of audio and gets
 * 50 packets/s of prompt back: decode, jitter buffer, PLC, prompt playback,
 * encode), reading the engine's media-thread CPU from its stats op.
 * rtpengine side (Debian rtpengine-daemon, userspace forwarding only:
 * --table=-1): N calls set up over its ng protocol (offer/answer), each
 * relaying one stream of the same packets (one in, one out per 20 ms: the
 * same packet count per "call" as the IVR side); CPU from /proc/PID/stat.
 * Both run in this one invocation, on the same loopback, with the same
 * sender.  Prints one line per case:
 *   name impl n us_per_call_s calls_per_core late_pct lost_pct ns_per_pkt load_cpu_pct
 *   engine_overruns skipped_pct load_overruns
 * (ns_per_pkt: engine CPU per datagram received or sent; load_cpu_pct: ivr-load's own CPU,
 * which shares the cores; skipped_pct: frames the engine left out when it fell 40 ms or more
 * behind, a gap in the audio that is neither lost nor late; load_overruns: 20 ms ticks that
 * ivr-load itself started late: a stall of the whole machine, which the engine's late and
 * skipped frames of that run share) then the ratio, and at the end the knee of the
 * curve: the first call count with >= 0.1% late or skipped frames.  Without rtpengine installed it
 * says so and prints the engine's own figures.  --smoke: 20 calls for 1 s, checks it works.
 * Options: --calls 100,250,500,1000,1500,2000,2500,3000  --seconds 10  --repeats 3
 * --no-latency (skip the paired mouth-to-ear run of each point)  --no-rtpengine
 * --no-ring: the engine without an event ring, so no call's VAD runs (nothing consumes it)
 * --rt PRIO: engine and rtpengine run SCHED_FIFO at PRIO, the bench and ivr-load at PRIO + 1
 * (as media servers are deployed; on a machine shared with other work it keeps the late-frame
 * figures about the engine rather than about the neighbours; a saturated server then takes
 * up to the kernel's RT limit, 95%, of the CPUs).
 * The machine is shared: quote medians, and state the load.
 */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsp/g711.h"
#include "dsp/wav.h"
#include "engine/call.h"
#include "engine/codec.h"
#include "engine/dspchain.h"
#include "engine/rtp.h"

static char dir[512];
/* --rt: SCHED_FIFO priority of the servers (engine, rtpengine); the bench and ivr-load run one
 * above so the instrument measuring lateness is never queued behind what it measures. */
static int rt_prio;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[], int out_fd, bool quiet, bool server)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (rt_prio && server) {
			struct sched_param sp = { .sched_priority = rt_prio };
			sched_setscheduler(0, SCHED_FIFO, &sp); /* threads inherit it */
		}
		if (out_fd >= 0)
			dup2(out_fd, 1);
		if (quiet) {
			int n = open("/dev/null", O_WRONLY);
			dup2(n, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct result {
	double us_per_call_s, late_pct, lost_pct, p50, p99;
	double ns_per_pkt, load_cpu_pct, overruns, skipped_pct, load_overruns; /* IVR side */
	bool ok;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- IVR engine + ivr-load ---- */

/*
 * With an event ring every call's VAD runs (speech events have a consumer), which is the
 * issue's IVR workload: decode, DTMF, VAD, prompt, encode.  Without one the chain skips
 * the VAD (docs/dspchain.md "What runs when"): --no-ring measures that case.
 */
static bool with_ring = true;

static struct result run_ivr(int n, double secs, const char *prompt, bool pairs)
{
	struct result r = { 0 };
	char eng[600], load[600], sock[128], calls[32], dur[32], maxc[32], ring[64];
	snprintf(eng, sizeof(eng), "%s/../engine/ivr-engine", dir);
	snprintf(load, sizeof(load), "%s/../tools/ivr-load", dir);
	snprintf(sock, sizeof(sock), "/tmp/bench_engine_%d.sock", (int)getpid());
	snprintf(calls, sizeof(calls), "%d", n);
	snprintf(dur, sizeof(dur), "%.1f", secs);
	snprintf(maxc, sizeof(maxc), "%d", n + 16);
	snprintf(ring, sizeof(ring), "bench_engine_%d", (int)getpid());
	char *eargv[] = { eng,		 "--control",	sock,	     "--workers",
			  "2",		 "--max-calls", maxc,	     "--ports",
			  "44000-60000", "--bind",	"127.0.0.1", with_ring ? "--ring" : NULL,
			  ring,		 NULL };
	pid_t ep = spawn(eargv, -1, true, true);
	for (int i = 0; i < 300 && access(sock, F_OK) != 0; i++)
		msleep(10);
	int pfd[2];
	if (pipe(pfd) < 0)
		return r;
	char *largv[] = { load,
			  "--control",
			  sock,
			  "--calls",
			  calls,
			  "--duration",
			  dur,
			  "--json",
			  prompt ? "--prompt" : NULL,
			  (char *)prompt,
			  NULL,
			  NULL };
	if (pairs) {
		largv[8] = "--pairs";
		largv[9] = NULL;
	}
	pid_t lp = spawn(largv, pfd[1], false, false);
	close(pfd[1]);
	char buf[4096] = "";
	size_t got = 0;
	ssize_t k;
	while ((k = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)k;
	buf[got] = 0;
	close(pfd[0]);
	int lrc = reap(lp);
	kill(ep, SIGTERM);
	reap(ep);
	json_t *j = json_loads(buf, 0, NULL);
	if (lrc == 0 && j) {
		r.us_per_call_s = json_real_value(json_object_get(j, "engine_us_per_call_s"));
		r.late_pct = json_real_value(json_object_get(j, "late_pct"));
		r.lost_pct = json_real_value(json_object_get(j, "lost_pct"));
		r.p50 = json_real_value(json_object_get(j, "latency_ms_p50"));
		r.p99 = json_real_value(json_object_get(j, "latency_ms_p99"));
		r.ns_per_pkt = json_number_value(json_object_get(j, "engine_ns_per_pkt"));
		r.load_cpu_pct = json_real_value(json_object_get(j, "load_cpu_pct"));
		r.overruns = json_number_value(json_object_get(j, "engine_overruns"));
		r.skipped_pct = json_number_value(json_object_get(j, "skipped_pct"));
		r.load_overruns = json_number_value(json_object_get(j, "sender_overruns"));
		r.ok = r.us_per_call_s > 0;
	} else {
		fprintf(stderr, "ivr-load failed (exit %d): %s\n", lrc, buf);
	}
	json_decref(j);
	return r;
}

/* ---- rtpengine over its ng protocol ---- */

static const char *rtpengine_bin(void)
{
	static const char *cands[] = { "/usr/bin/rtpengine", "/usr/sbin/rtpengine" };
	for (size_t i = 0; i < 2; i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

static void bstr(char *out, size_t cap, const char *s)
{
	size_t n = strlen(out);
	snprintf(out + n, cap - n, "%zu:%s", strlen(s), s);
}

/* Send an ng command, return rtpengine's SDP media port, or -1. */
static int ng(int fd, const struct sockaddr_in *to, const char *cmd, const char *callid,
	      const char *from_tag, const char *to_tag, int my_port)
{
	char sdp[512], msg[2048];
	snprintf(sdp, sizeof(sdp),
		 "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		 "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
		 my_port);
	snprintf(msg, sizeof(msg), "%s_%s d", callid, cmd);
	bstr(msg, sizeof(msg), "call-id");
	bstr(msg, sizeof(msg), callid);
	bstr(msg, sizeof(msg), "command");
	bstr(msg, sizeof(msg), cmd);
	bstr(msg, sizeof(msg), "from-tag");
	bstr(msg, sizeof(msg), from_tag);
	bstr(msg, sizeof(msg), "sdp");
	bstr(msg, sizeof(msg), sdp);
	if (to_tag) {
		bstr(msg, sizeof(msg), "to-tag");
		bstr(msg, sizeof(msg), to_tag);
	}
	strcat(msg, "e");
	if (sendto(fd, msg, strlen(msg), 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
		return -1;
	char rep[8192];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 2000) <= 0)
		return -1;
	ssize_t n = recv(fd, rep, sizeof(rep) - 1, 0);
	if (n <= 0)
		return -1;
	rep[n] = 0;
	const char *m = strstr(rep, "m=audio ");
	return m ? atoi(m + 8) : -1;
}

static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* fields after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static struct result run_rtpengine(const char *bin, int n, double secs)
{
	struct result r = { 0 };
	/* Our own ng port: another bench_engine may be running on this machine at the same time. */
	int ng_port = 20000 + (int)(getpid() % 2000);
	char listen[64];
	snprintf(listen, sizeof(listen), "--listen-ng=127.0.0.1:%d", ng_port);
	/* --config-file=none: the packaged config's fixed CLI/HTTP ports would collide too. */
	char *argv[] = {
		(char *)bin,	    "--config-file=none",    "--foreground",  "--log-stderr",
		"--table=-1",	    "--interface=127.0.0.1", listen,	      "--port-min=30000",
		"--port-max=43999", "--num-threads=2",	     "--log-level=3", NULL
	};
	pid_t rp = spawn(argv, -1, true, true);
	msleep(500);
	int ctl = socket(AF_INET, SOCK_DGRAM, 0);
	int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in lo = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
	socklen_t sl = sizeof(lo);
	struct sockaddr_in sa = lo, sb = lo, ng_addr = lo;
	ng_addr.sin_port = htons((uint16_t)ng_port);
	int big = 32 << 20;
	setsockopt(b, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	bind(ctl, (struct sockaddr *)&lo, sizeof(lo));
	bind(a, (struct sockaddr *)&sa, sizeof(sa));
	bind(b, (struct sockaddr *)&sb, sizeof(sb));
	getsockname(a, (struct sockaddr *)&sa, &sl);
	sl = sizeof(sb);
	getsockname(b, (struct sockaddr *)&sb, &sl);
	uint16_t *port_a = calloc((size_t)n, sizeof(uint16_t));
	int ready = 0;
	for (int i = 0; i < n; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "bench%d", i);
		int pb = ng(ctl, &ng_addr, "offer", cid, "A", NULL, ntohs(sa.sin_port));
		int pa = pb > 0 ? ng(ctl, &ng_addr, "answer", cid, "A", "B", ntohs(sb.sin_port))
				: -1;
		if (pa <= 0)
			break;
		port_a[i] = (uint16_t)pa; /* where A sends; relayed to B */
		ready++;
	}
	if (ready < n) {
		fprintf(stderr, "rtpengine: only %d of %d calls set up\n", ready, n);
		goto out;
	}
	uint8_t pay[160], pkt[256];
	memset(pay, 0xff, sizeof(pay));
	double cpu0 = proc_cpu_s(rp);
	uint64_t t0 = now_ns(), next = t0, rx = 0, sent = 0;
	size_t ticks = (size_t)(secs * 50);
	static struct mmsghdr mm[64];
	static struct iovec iov[64];
	static struct sockaddr_in dst[64];
	static uint8_t pk[64][256];
	static struct mmsghdr rm[64];
	static struct iovec riov[64];
	static uint8_t rbuf[64][512];
	for (size_t t = 0; t < ticks; t++) {
		int nb = 0;
		for (int i = 0; i < n; i++) {
			struct ivr_rtp_hdr h = { .pt = 0,
						 .seq = (uint16_t)t,
						 .ts = (uint32_t)t * 160,
						 .ssrc = 0x7000u + (uint32_t)i };
			int len = ivr_rtp_build(pk[nb], sizeof(pk[nb]), &h, pay, 160);
			dst[nb] = lo;
			dst[nb].sin_port = htons(port_a[i]);
			iov[nb] = (struct iovec){ pk[nb], (size_t)len };
			mm[nb].msg_hdr = (struct msghdr){ .msg_name = &dst[nb],
							  .msg_namelen = sizeof(dst[nb]),
							  .msg_iov = &iov[nb],
							  .msg_iovlen = 1 };
			if (++nb == 64 || i == n - 1) {
				int s = sendmmsg(a, mm, (unsigned)nb, 0);
				sent += s > 0 ? (uint64_t)s : 0;
				nb = 0;
			}
		}
		for (;;) {
			for (int i = 0; i < 64; i++) {
				riov[i] = (struct iovec){ rbuf[i], sizeof(rbuf[i]) };
				rm[i].msg_hdr =
					(struct msghdr){ .msg_iov = &riov[i], .msg_iovlen = 1 };
			}
			int g = recvmmsg(b, rm, 64, MSG_DONTWAIT, NULL);
			if (g <= 0)
				break;
			rx += (uint64_t)g;
		}
		next += 20000000ull;
		struct timespec ts = { (time_t)(next / 1000000000ull),
				       (long)(next % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	double wall = (double)(now_ns() - t0) / 1e9;
	double cpu = proc_cpu_s(rp) - cpu0;
	(void)pkt;
	r.us_per_call_s = cpu * 1e6 / ((double)n * wall);
	r.lost_pct = sent ? 100.0 * (double)(sent > rx ? sent - rx : 0) / (double)sent : 100;
	r.ok = rx > sent / 2;
	if (!r.ok)
		fprintf(stderr, "rtpengine relayed %llu of %llu packets\n", (unsigned long long)rx,
			(unsigned long long)sent);
out:
	free(port_a);
	close(a);
	close(b);
	close(ctl);
	kill(rp, SIGTERM);
	reap(rp);
	return r;
}

static struct result median(struct result *rs, int k)
{
	double v[16];
	int m = 0;
	for (int i = 0; i < k; i++)
		if (rs[i].ok)
			v[m++] = rs[i].us_per_call_s;
	struct result r = { 0 };
	if (!m)
		return r;
	qsort(v, (size_t)m, sizeof(double), cmp_d);
	for (int i = 0; i < k; i++)
		if (rs[i].ok && rs[i].us_per_call_s == v[m / 2])
			r = rs[i];
	return r;
}

/*
 * Bytes of its slot a call touches, by codec (issue 4: <= 64 KiB per G.711
 * call): the hot part for every call, plus the codec state for Opus, plus
 * the 16 kHz chain in the cold tail for wideband Opus (whose 8 kHz chain
 * area in the hot part stays unused).  The speexdsp canceller's heap, when
 * AEC is on, is not in the slot and not counted here.
 */
static int print_slot_bytes(void)
{
	struct ivr_codec nb, wb;
	if (ivr_codec_init(&nb, IVR_CODEC_OPUS, -1) < 0 || ivr_codec_set_rate(&nb, 8000) < 0 ||
	    ivr_codec_init(&wb, IVR_CODEC_OPUS, -1) < 0 || ivr_codec_set_rate(&wb, 16000) < 0)
		return -1;
	const size_t hot = ivr_call_slot_hot_size();
	const size_t wb_chain = ivr_dspchain_size(&(struct ivr_dspchain_cfg){ .rate_hz = 16000 });
	printf("# slot_bytes g711 %zu opus_nb %zu opus_wb %zu (stride %zu; target g711 <= 65536)\n",
	       hot, hot + ivr_codec_state_size(&nb), hot + ivr_codec_state_size(&wb) + wb_chain,
	       ivr_call_slot_size());
	return 0;
}

int main(int argc, char **argv)
{
	bool smoke = false;
	const char *calls_list = "100,250,500,1000,1500,2000,2500,3000";
	bool latency = true, relay = true;
	double secs = 10;
	int repeats = 3;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--smoke"))
			smoke = true;
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls_list = argv[++i];
		else if (!strcmp(argv[i], "--no-latency"))
			latency = false;
		else if (!strcmp(argv[i], "--no-rtpengine"))
			relay = false;
		else if (!strcmp(argv[i], "--no-ring"))
			with_ring = false;
		else if (!strcmp(argv[i], "--rt") && i + 1 < argc) {
			int v = atoi(argv[++i]);
			rt_prio = IVR_CLAMP(v, 1, 98);
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
			int v = atoi(argv[++i]); /* not inside IVR_CLAMP: it evaluates twice */
			repeats = IVR_CLAMP(v, 1, 15);
		} else {
			fprintf(stderr, "usage: bench_engine [--smoke] [--calls A,B,..] [--seconds "
					"S] [--repeats R] [--no-latency] [--no-rtpengine] "
					"[--no-ring] [--rt PRIO]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows in logs of long runs */
	if (rt_prio) {
		struct sched_param sp = { .sched_priority = rt_prio + 1 };
		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
			fprintf(stderr, "bench_engine: --rt: %s\n", strerror(errno));
			return 1;
		}
	}
	if (smoke) {
		calls_list = "20";
		secs = 1;
		repeats = 1;
	}
	char self[512];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0)
		return 1;
	self[sl] = 0;
	snprintf(dir, sizeof(dir), "%s", dirname(self));
	char prompt[64];
	snprintf(prompt, sizeof(prompt), "/tmp/bench_engine_prompt_%d.wav", (int)getpid());
	static float pr[16000];
	for (int i = 0; i < 16000; i++)
		pr[i] = 0.2f * sinf(2 * (float)M_PI * 440 * (float)i / 8000);
	if (ivr_wav_write(prompt, pr, 16000, 8000, IVR_WAV_PCM16) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	const char *rtpe = relay ? rtpengine_bin() : NULL;
	if (print_slot_bytes() < 0)
		return 1;
	printf("# name impl n us_per_call_s calls_per_core late_pct lost_pct ns_per_pkt "
	       "load_cpu_pct engine_overruns skipped_pct load_overruns (median of %d x %.0f "
	       "s%s)\n",
	       repeats, secs, rt_prio ? ", servers SCHED_FIFO" : "");
	int fails = 0, knee = 0, last_n = 0;
	char list[256];
	snprintf(list, sizeof(list), "%s", calls_list);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int n = atoi(t);
		if (n <= 0)
			continue;
		struct result rs[16];
		for (int k = 0; k < repeats; k++)
			rs[k] = run_ivr(n, secs, prompt, false);
		struct result r = median(rs, repeats);
		if (!r.ok) {
			printf("engine_g711_duplex ivr %d FAILED\n", n);
			fails++;
			continue;
		}
		bool bad = r.late_pct + r.skipped_pct >= 0.1;
		printf("engine_g711_duplex ivr %d %.2f %.0f %.4f %.4f %.0f %.1f %.0f %.4f %.0f%s\n",
		       n, r.us_per_call_s, 1e6 / r.us_per_call_s, r.late_pct, r.lost_pct,
		       r.ns_per_pkt, r.load_cpu_pct, r.overruns, r.skipped_pct, r.load_overruns,
		       !knee && bad ? "  <- knee" : "");
		if (!knee && bad)
			knee = n;
		last_n = n;
		if (!smoke && latency) {
			struct result lp = run_ivr(IVR_MAX(2, n & ~1), secs, NULL, true);
			if (lp.ok)
				printf("engine_latency ivr %d p50_ms %.1f p99_ms %.1f\n", n, lp.p50,
				       lp.p99);
		}
		if (rtpe) {
			for (int k = 0; k < repeats; k++)
				rs[k] = run_rtpengine(rtpe, n, secs);
			struct result q = median(rs, repeats);
			if (q.ok) {
				printf("relay_g711_oneway rtpengine %d %.2f %.0f - %.4f\n", n,
				       q.us_per_call_s, 1e6 / q.us_per_call_s, q.lost_pct);
				printf("ratio ivr_calls_per_core/rtpengine_streams_per_core %d "
				       "%.2f\n",
				       n, q.us_per_call_s / r.us_per_call_s);
			} else {
				printf("relay_g711_oneway rtpengine %d FAILED (see stderr)\n", n);
			}
		}
	}
	if (knee)
		printf("knee ivr %d (first point with >= 0.1%% late or skipped frames)\n", knee);
	else if (last_n)
		printf("knee ivr none up to %d (late + skipped frames < 0.1%% at every point)\n",
		       last_n);
	if (relay && !rtpe)
		printf("# rtpengine not installed (Debian rtpengine-daemon; "
		       "tools/install-deps.sh): "
		       "engine figures only\n");
	unlink(prompt);
	return fails ? 1 : 0;
}
