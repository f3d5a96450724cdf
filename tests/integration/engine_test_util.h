/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/engine_test_util.h - helpers shared by the engine
 * integration tests: an in-process engine on loopback, a UDP "phone" that
 * sends G.711 RTP at real pace and collects what the engine sends back,
 * and signal measures (Goertzel power, aligned SNR).
 * Tests exit 77 when the environment refuses sockets or threads.
 *
 * Written to hold on a loaded machine (CI runs six builds at once next to
 * load benches): senders keep real pace from an absolute timer that catches
 * up after a stall, receivers wait for what they expect with generous
 * deadlines instead of fixed sleeps, and engine port ranges sit below the
 * ephemeral range (32768-60999: thousands of load-generator sockets) and
 * the benches' fixed ranges (30000+, 44000-60000), which could otherwise
 * leave a test's whole range taken.
 */
#ifndef IVR_ENGINE_TEST_UTIL_H
#define IVR_ENGINE_TEST_UTIL_H

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/shmring.h"
#include "dsp/g711.h"
#include "engine/api.h"
#include "engine/rtp.h"

#define PHONE_MAX_SAMPLES (8000 * 30)

/* A test endpoint: sends RTP to the engine, collects the engine's RTP. */
struct phone {
	int fd;
	uint16_t port;	      /* our port */
	uint16_t engine_port; /* the call's local port */
	uint16_t seq;
	uint32_t ts;
	/* received audio, placed by RTP timestamp relative to the first packet */
	float *rx;
	size_t rx_n; /* highest sample index + 1 */
	bool rx_started;
	uint32_t rx_ts0;
	uint64_t rx_pkts;
	uint64_t first_rx_ns;
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull),
			       .tv_nsec = (long)(t % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static inline int phone_open(struct phone *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (p->fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t al = sizeof(a);
	if (bind(p->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(p->fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	int big = 4 << 20;
	setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	p->port = ntohs(a.sin_port);
	p->rx = calloc(PHONE_MAX_SAMPLES, sizeof(float));
	p->seq = 1000;
	p->ts = 5000;
	return p->rx ? 0 : -1;
}

static inline void phone_close(struct phone *p)
{
	close(p->fd);
	free(p->rx);
}

static inline void phone_remote(const struct phone *p, char *buf, size_t n)
{
	snprintf(buf, n, "127.0.0.1:%u", p->port);
}

/*
 * Create a call on @e that sends to @ph (already open), set up as @p says; its .remote is
 * filled in here with the phone's address, and the call's local port goes to
 * @ph->engine_port.  @return ivr_call_create()'s result (0 and *@id set, or negative errno).
 */
static inline int phone_call(struct ivr_engine *e, struct phone *ph,
			     const struct ivr_call_params *p, uint64_t *id)
{
	char remote[64];
	phone_remote(ph, remote, sizeof(remote));
	struct ivr_call_params q = *p;
	q.remote = remote;
	return ivr_call_create(e, &q, id, &ph->engine_port);
}

/* Send one 20 ms PCMU frame (160 float samples) to the engine. */
static inline void phone_send(struct phone *p, const float *pcm)
{
	uint8_t pay[160], pkt[256];
	ivr_g711_ulaw_encode_f32(pay, pcm, 160);
	struct ivr_rtp_hdr h = {
		.pt = 0, .seq = p->seq++, .ts = p->ts, .ssrc = 0x5eed0000u + p->port
	};
	p->ts += 160;
	int n = ivr_rtp_build(pkt, sizeof(pkt), &h, pay, 160);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p->engine_port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	(void)!sendto(p->fd, pkt, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a));
}

/* Send raw bytes to the engine port (garbage, floods). */
static inline void phone_send_raw(struct phone *p, const void *data, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p->engine_port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	(void)!sendto(p->fd, data, n, 0, (struct sockaddr *)&a, sizeof(a));
}

/* Collect everything that arrived: decode PCMU/PCMA into rx[] by timestamp. */
static inline void phone_drain(struct phone *p, bool alaw)
{
	uint8_t buf[2048];
	for (;;) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return;
		struct ivr_rtp_hdr h;
		if (ivr_rtp_parse(&h, buf, (size_t)n) < 0)
			continue;
		if (!p->rx_started) {
			p->rx_started = true;
			p->rx_ts0 = h.ts;
			p->first_rx_ns = now_ns();
		}
		p->rx_pkts++;
		uint32_t off = h.ts - p->rx_ts0;
		if ((size_t)off + h.payload_n_bytes > PHONE_MAX_SAMPLES)
			continue;
		if (alaw)
			ivr_g711_alaw_decode_f32(p->rx + off, h.payload, h.payload_n_bytes);
		else
			ivr_g711_ulaw_decode_f32(p->rx + off, h.payload, h.payload_n_bytes);
		if (off + h.payload_n_bytes > p->rx_n)
			p->rx_n = off + h.payload_n_bytes;
	}
}

/*
 * Take the next RTP packet the engine sent to @p into @buf and parse it
 * into @h.  @return false (after a 5 ms nap when nothing was there) if no
 * valid packet was waiting.
 */
static inline bool phone_recv_rtp(struct phone *p, uint8_t *buf, size_t cap, struct ivr_rtp_hdr *h)
{
	ssize_t n = recv(p->fd, buf, cap, 0);
	if (n <= 0) {
		sleep_until(now_ns() + 5000000ull);
		return false;
	}
	return ivr_rtp_parse(h, buf, (size_t)n) == 0;
}

/*
 * Run @n_frames ticks of real time: each phone sends its next frame (if src), all drain.
 * Then keep draining (100 ms at least, 3 s at most) until every phone has received the
 * @n_frames frames the engine sent it meanwhile: on a loaded machine the engine's
 * jitter buffer may have grown, so the last frames come later than on a quiet one.
 */
static inline void phones_run(struct phone **ph, const float *const *src, size_t n_phones,
			      size_t n_frames)
{
	size_t want[16];
	for (size_t i = 0; i < n_phones && i < 16; i++)
		want[i] = (ph[i]->rx_started ? ph[i]->rx_n : 0) +
			  (n_frames - IVR_MIN(n_frames, 3)) * 160;
	uint64_t t = now_ns();
	for (size_t f = 0; f < n_frames; f++) {
		for (size_t i = 0; i < n_phones; i++) {
			if (src && src[i])
				phone_send(ph[i], src[i] + f * 160);
			phone_drain(ph[i], false);
		}
		t += 20000000ull;
		sleep_until(t);
	}
	uint64_t min_end = now_ns() + 100000000ull, deadline = now_ns() + 3000000000ull;
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n_phones; i++) {
			phone_drain(ph[i], false);
			if (i < 16 && ph[i]->rx_n < want[i])
				all = false;
		}
		uint64_t now = now_ns();
		if ((all && now >= min_end) || now >= deadline)
			break;
		sleep_until(now + 10000000ull);
	}
}

/*
 * @nominal_port moved below the ephemeral range and the benches' ranges
 * (10000-19999), keeping the tests' relative layout.
 */
static inline uint16_t test_port(uint32_t nominal_port)
{
	return (uint16_t)(10000 + nominal_port % 10000);
}

/*
 * Poll @cond(@arg) every 10 ms until it holds or @timeout_ms passes.
 * @return whether it held.
 */
static inline bool wait_for(bool (*cond)(void *), void *arg, unsigned timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		if (cond(arg))
			return true;
		if (now_ns() >= end)
			return false;
		sleep_until(now_ns() + 10000000ull);
	}
}

/* Power of frequency @hz in x[0..n) (Goertzel), normalised to a unit sine's 0.5. */
static inline double tone_power(const float *x, size_t n, double hz)
{
	double w = 2 * M_PI * hz / 8000.0, c = 2 * cos(w), s1 = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		double s = x[i] + c * s1 - s2;
		s2 = s1;
		s1 = s;
	}
	double pw = s1 * s1 + s2 * s2 - c * s1 * s2;
	return pw / ((double)n * n / 4.0) * 0.5;
}

/*
 * Best alignment of @got against @ref (lag 0..max_lag samples, by
 * correlation) and the SNR in dB of @got vs @ref at that lag over @n samples.
 */
static inline double aligned_snr(const float *ref, const float *got, size_t n, size_t max_lag,
				 size_t *lag_out)
{
	size_t best = 0;
	double best_c = -1e300;
	for (size_t lag = 0; lag <= max_lag; lag++) {
		double c = 0;
		for (size_t i = 0; i < n; i += 4)
			c += ref[i] * got[i + lag];
		if (c > best_c) {
			best_c = c;
			best = lag;
		}
	}
	double s = 0, e = 0;
	for (size_t i = 0; i < n; i++) {
		double d = got[i + best] - ref[i];
		s += ref[i] * ref[i];
		e += d * d;
	}
	if (lag_out)
		*lag_out = best;
	return 10 * log10(s / (e + 1e-20));
}

/*
 * Peak normalised cross-correlation of @x[0..@n) against @ref shifted by lags 0..@max_lag:
 * sum x[i] * ref[lag + i] / sqrt(energy of both windows), over every @step-th i.  @ref
 * holds @ref_n samples; past its end it wraps when @circ (a loop: music on hold) and is
 * silence otherwise.  *@lag_out (may be NULL): the lag of the peak.  With @step 1 the
 * shifted window's energy slides from one lag to the next instead of being summed again.
 */
static inline double best_norm_corr(const float *x, size_t n, const float *ref, size_t ref_n,
				    size_t max_lag, size_t step, bool circ, size_t *lag_out)
{
	double ex = 0, er = 0, best = -2;
	if (!n || !ref_n || !step)
		return best;
#define REF_AT(k) (circ ? ref[(k) % ref_n] : (k) < ref_n ? ref[k] : 0.0f)
	for (size_t i = 0; i < n; i += step) {
		ex += (double)x[i] * x[i];
		er += (double)REF_AT(i) * REF_AT(i);
	}
	for (size_t lag = 0; lag <= max_lag; lag++) {
		if (lag && step == 1) {
			double out = REF_AT(lag - 1), in = REF_AT(lag + n - 1);
			er = fmax(er - out * out + in * in, 0);
		} else if (lag) {
			er = 0;
			for (size_t i = 0; i < n; i += step)
				er += (double)REF_AT(lag + i) * REF_AT(lag + i);
		}
		double xy = 0;
		for (size_t i = 0; i < n; i += step)
			xy += (double)x[i] * REF_AT(lag + i);
		double c = xy / sqrt(ex * er + 1e-30);
		if (c > best) {
			best = c;
			if (lag_out)
				*lag_out = lag;
		}
	}
#undef REF_AT
	return best;
}

/*
 * A media engine is deployed at a raised priority; so is the engine under test, as far
 * as the environment allows (root or CAP_SYS_NICE; otherwise nothing changes).  Threads
 * started afterwards (the engine's) and child processes (ivr-engine) inherit it.  On a
 * machine loaded with other builds the workers then still get the CPU every 20 ms,
 * instead of skipping seconds of ticks (seen: 83 of 240) and dropping the audio under
 * test.  The assertions stay what they are.
 */
static inline void test_raise_priority(void)
{
	if (setpriority(PRIO_PROCESS, 0, -10) < 0) {
		/* not permitted here: run at the normal priority */
	}
}

/* Start an in-process engine configured by @cfg; NULL means "environment refused" (exit 77),
 * with the reason on stderr. */
static inline struct ivr_engine *test_engine_start(const struct ivr_engine_cfg *cfg)
{
	test_raise_priority();
	struct ivr_engine *e = ivr_engine_new(cfg);
	if (!e || ivr_engine_start(e) < 0) {
		fprintf(stderr, "SKIP: engine cannot start: %s\n", ivr_engine_last_error());
		ivr_engine_free(e);
		return NULL;
	}
	return e;
}

/* Start an in-process engine on ports from test_port(@port_min); NULL means "environment
 * refused" (exit 77). */
static inline struct ivr_engine *test_engine(bool force_epoll, uint32_t max_calls,
					     uint16_t port_min)
{
	struct ivr_engine_cfg cfg = { .bind_addr = "127.0.0.1",
				      .port_min = test_port(port_min),
				      .port_max =
					      (uint16_t)(test_port(port_min) + 2 * max_calls + 200),
				      .n_workers = 2,
				      .max_calls = max_calls,
				      .force_epoll = force_epoll };
	return test_engine_start(&cfg);
}

/*
 * test_engine() on ports from @*port_base, which then moves on by 400 (one case's span), so
 * the next case of the same program does not meet this one's sockets in TIME_WAIT.
 * NULL means "environment refused" (exit 77); @*port_base then stays.
 */
static inline struct ivr_engine *test_engine_next(bool force_epoll, uint32_t max_calls,
						  uint16_t *port_base)
{
	struct ivr_engine *e = test_engine(force_epoll, max_calls, *port_base);
	if (e)
		*port_base = (uint16_t)(*port_base + 400);
	return e;
}

/*
 * Run @cases twice: first with *@use_epoll false (io_uring), then true (the epoll
 * fallback), each pass under a "# <backend> path" heading.  Both I/O paths carry the same
 * media, so each case is asserted on both.
 */
static inline void test_engine_both_paths(bool *use_epoll, void (*cases)(void))
{
	for (int pass = 0; pass < 2; pass++) {
		*use_epoll = pass == 1;
		printf("# %s path\n", *use_epoll ? "epoll" : "io_uring");
		cases();
	}
}

/* End of a case with one engine and one phone: close @ph, free @e, remove @path (a WAV). */
static inline void test_engine_end(struct ivr_engine *e, struct phone *ph, const char *path)
{
	phone_close(ph);
	ivr_engine_free(e);
	unlink(path);
}

/*
 * Start an in-process engine configured by @cfg (bind_addr 127.0.0.1, 2 workers and
 * port_max = port_min + 200 where left 0) that publishes to its own event ring
 * "/ivr_test_<tag>_<pid>_<epoll>"; when @rd is given, open it from its oldest record.
 * NULL means "environment refused" (exit 77), with the reason on stderr.
 */
static inline struct ivr_engine *test_engine_ring_cfg(const char *tag, struct ivr_engine_cfg cfg,
						      struct ivr_shmring_reader *rd)
{
	char ring[64];
	snprintf(ring, sizeof(ring), "/ivr_test_%s_%d_%d", tag, (int)getpid(),
		 (int)cfg.force_epoll);
	cfg.ring_name = ring;
	if (!cfg.bind_addr)
		cfg.bind_addr = "127.0.0.1";
	if (!cfg.n_workers)
		cfg.n_workers = 2;
	if (!cfg.port_max)
		cfg.port_max = (uint16_t)(cfg.port_min + 200);
	struct ivr_engine *e = test_engine_start(&cfg);
	if (!e || !rd)
		return e;
	if (ivr_shmring_reader_open(rd, ring, IVR_SHMRING_FROM_OLDEST) < 0) {
		fprintf(stderr, "SKIP: %s\n", rd->why);
		ivr_engine_free(e);
		return NULL;
	}
	return e;
}

/*
 * test_engine_ring_cfg() on ports [@port_min, @port_min + 200), 2 workers, @max_calls,
 * @asr_ring_records (0 = no ASR ring).
 */
static inline struct ivr_engine *test_engine_with_ring(const char *tag, bool force_epoll,
						       uint16_t port_min, uint32_t max_calls,
						       uint32_t asr_ring_records,
						       struct ivr_shmring_reader *rd)
{
	struct ivr_engine_cfg cfg = { .port_min = port_min,
				      .max_calls = max_calls,
				      .force_epoll = force_epoll,
				      .asr_ring_records = asr_ring_records };
	return test_engine_ring_cfg(tag, cfg, rd);
}

/* A voiced, speech-like test signal: harmonics of a gliding pitch under a syllable envelope. */
static inline void speechlike(float *x, size_t n, double f0)
{
	double ph = 0;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / 8000.0;
		double pitch = f0 * (1.0 + 0.2 * sin(2 * M_PI * 0.7 * t));
		ph += 2 * M_PI * pitch / 8000.0;
		double env = 0.5 + 0.5 * sin(2 * M_PI * 3.0 * t);
		x[i] = (float)(env * (0.25 * sin(ph) + 0.12 * sin(2 * ph + 0.3) +
				      0.06 * sin(3 * ph + 1.1)));
	}
}

#endif /* IVR_ENGINE_TEST_UTIL_H */
