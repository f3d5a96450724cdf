/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_engine_conference.c - conferences over real RTP.
 * Three phones (caller 500 Hz, agent 1000 Hz, supervisor 1500 Hz) in one
 * conference, calls spread over two workers; what each phone receives is
 * measured with Goertzel filters:
 *  - N-1: everyone hears the two others, never themselves;
 *  - whisper: the supervisor speaks to the agent only;
 *  - monitor: the supervisor hears all, nobody hears the supervisor;
 *  - barge: the supervisor is heard by both again;
 *  - a late worker: a real-time "hog" thread shares a CPU with one media
 *    worker and takes it for 12 ms every 47 ms, so that worker runs its ticks
 *    late by turns while the other does not; the member on it speaks a tone
 *    of 10.5 cycles per frame alone, and the members on the other worker
 *    must hear every frame of it once: no 20 ms block the same as the one
 *    before (a frame mixed twice, as the mixer did when it took a late
 *    member's newest frame), and the tone at its level.  Skipped (with a
 *    reason) where real-time threads or CPU affinity are refused.
 * Exit 77 when the engine cannot start here.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

#include "dsp/wav.h"
#include "engine_test_util.h"
#include "ivr_test.h"

#define SECS   1
#define FRAMES (50 * SECS)

static struct ivr_engine *eng;
static struct phone ph[3];
static uint64_t ids[3];
static const double freq[3] = { 500, 1000, 1500 };
static float *sig[3];

/* Run one phase; heard[i][j] = phone i hears phone j's tone. */
static void phase(bool heard[3][3])
{
	for (int i = 0; i < 3; i++) {
		ph[i].rx_started = false;
		ph[i].rx_n = 0;
		memset(ph[i].rx, 0, PHONE_MAX_SAMPLES * sizeof(float));
	}
	struct phone *phs[3] = { &ph[0], &ph[1], &ph[2] };
	const float *src[3] = { sig[0], sig[1], sig[2] };
	phones_run(phs, src, 3, FRAMES);
	for (int i = 0; i < 3; i++) {
		/*
		 * skip the first 200 ms (flags take effect, jitter buffers fill); then the
		 * louder of two 250 ms windows: a tone heard must fill one of them, a tone
		 * not heard must be absent from both (a worker starved on a loaded machine
		 * may miss a member's fresh frames for part of a window)
		 */
		size_t from = 1600, n = ph[i].rx_n > from + 4000 ? 2000 : 0;
		for (int j = 0; j < 3; j++) {
			double pw = n ? fmax(tone_power(ph[i].rx + from, n, freq[j]),
					     tone_power(ph[i].rx + from + n, n, freq[j]))
				      : 0;
			/* each tone is sent at 0.2 amplitude: power 0.02 when heard */
			heard[i][j] = pw > 0.005;
			if (pw > 0.0005 && pw < 0.005)
				fprintf(stderr, "  ambiguous level %g (phone %d, tone %d)\n", pw, i,
					j);
		}
	}
}

static void expect(bool heard[3][3], const bool want[3][3], const char *what)
{
	bool ok = true;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			ivr_check_msg(heard[i][j] == want[i][j],
				      "%s: phone %d hears %d: %d, want %d", what, i, j, heard[i][j],
				      want[i][j]);
			ok = ok && heard[i][j] == want[i][j];
		}
	if (ok)
		return;
	/* what each side saw, for the failure's cause (a loaded machine: skipped ticks?) */
	struct ivr_engine_stats st;
	ivr_engine_get_stats(eng, &st);
	fprintf(stderr, "  engine: %llu overruns, worst tick %.1f ms\n",
		(unsigned long long)st.overruns, (double)st.tick_ns_max / 1e6);
	for (int i = 0; i < 3; i++) {
		struct ivr_call_info in;
		if (ivr_call_get_info(eng, ids[i], &in) < 0)
			continue;
		fprintf(stderr,
			"  phone %d: received %llu packets, %zu samples; its call (worker %u) sent "
			"%llu, played %llu, concealed %llu, skipped %llu, silent %llu, late %llu\n",
			i, (unsigned long long)ph[i].rx_pkts, ph[i].rx_n, in.worker,
			(unsigned long long)in.tx_pkts, (unsigned long long)in.frames_played,
			(unsigned long long)in.frames_concealed,
			(unsigned long long)in.frames_skipped, (unsigned long long)in.frames_silent,
			(unsigned long long)in.jb_late);
	}
}

IVR_TEST(test_conference)
{
	bool h[3][3];
	/* N-1 */
	for (int i = 0; i < 3; i++)
		ivr_check_int_eq(ivr_call_conf_join(eng, ids[i], "room", true, true, 0), 0);
	phase(h);
	static const bool all[3][3] = { { 0, 1, 1 }, { 1, 0, 1 }, { 1, 1, 0 } };
	expect(h, all, "N-1");
	/* whisper: supervisor -> agent only */
	ivr_check_int_eq(ivr_call_conf_flags(eng, ids[2], true, true, ids[1]), 0);
	phase(h);
	static const bool whisper[3][3] = { { 0, 1, 0 }, { 1, 0, 1 }, { 1, 1, 0 } };
	expect(h, whisper, "whisper");
	/* monitor: listen only */
	ivr_check_int_eq(ivr_call_conf_flags(eng, ids[2], true, false, 0), 0);
	phase(h);
	static const bool monitor[3][3] = { { 0, 1, 0 }, { 1, 0, 0 }, { 1, 1, 0 } };
	expect(h, monitor, "monitor");
	/* barge */
	ivr_check_int_eq(ivr_call_conf_flags(eng, ids[2], true, true, 0), 0);
	phase(h);
	expect(h, all, "barge");
	/* leaving: the caller hears nobody, the others only each other */
	ivr_check_int_eq(ivr_call_conf_leave(eng, ids[0]), 0);
	phase(h);
	static const bool left[3][3] = { { 0, 0, 0 }, { 0, 0, 1 }, { 0, 1, 0 } };
	expect(h, left, "leave");
	return IVR_TEST_RESULT();
}

IVR_TEST(test_moh_shared)
{
	/* Two calls on music on hold from one decoded copy hear the same samples in step. */
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ivr_moh_%d.wav", (int)getpid());
	static float moh[8000];
	for (int i = 0; i < 8000; i++)
		moh[i] = 0.25f * sinf(2 * (float)M_PI * (300 + 0.05f * (float)i) * (float)i / 8000);
	ivr_check_int_eq(ivr_wav_write(path, moh, 8000, 8000, IVR_WAV_PCM16), 0);
	struct ivr_engine_stats st;
	ivr_engine_get_stats(eng, &st);
	size_t cached0 = st.prompts_cached; /* the engine's queue MOH is cached from the start */
	ivr_check_int_eq(ivr_call_conf_leave(eng, ids[1]), 0);
	ivr_check_int_eq(ivr_call_conf_leave(eng, ids[2]), 0);
	ivr_check_int_eq(ivr_call_play(eng, ids[1], path, true, true), 0);
	ivr_check_int_eq(ivr_call_play(eng, ids[2], path, true, true), 0);
	bool h[3][3];
	phase(h);
	ivr_check(tone_power(ph[1].rx + 1600, 4000, 1000) < 0.005); /* no conference any more */
	double e1 = 0;
	for (size_t i = 1600; i < 5600; i++)
		e1 += ph[1].rx[i] * ph[1].rx[i];
	ivr_check(e1 / 4000 > 0.01);
	ivr_engine_get_stats(eng, &st);
	ivr_check_int_eq(st.prompts_cached, cached0 + 1);
	unlink(path);
	return IVR_TEST_RESULT();
}

/* Thread id of this process's thread named @name (engine workers: "ivr-media-N"), or -1. */
static pid_t thread_tid(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	pid_t tid = -1;
	while (d && tid < 0 && (de = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = 0;
			if (!strcmp(comm, name))
				tid = (pid_t)atoi(de->d_name);
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return tid;
}

struct hog {
	int cpu;
	atomic_bool stop;
	atomic_int state; /* 0 starting, 1 running, -errno refused */
};

/* SCHED_FIFO on @h->cpu: busy 12 ms, asleep 35 ms, until stopped. */
static void *hog_main(void *arg)
{
	struct hog *h = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(h->cpu, &set);
	struct sched_param sp = { .sched_priority = 1 };
	int r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (!r)
		r = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	atomic_store(&h->state, r ? -r : 1);
	while (!r && !atomic_load(&h->stop)) {
		uint64_t until = now_ns() + 12000000ull;
		while (now_ns() < until)
			;
		sleep_until(now_ns() + 35000000ull);
	}
	return NULL;
}

/* 20 ms blocks of @p's audio from @from on that repeat the block before, sample for sample. */
static int repeated_blocks(const struct phone *p, size_t from)
{
	int n = 0;
	for (size_t b = from + 160; b + 160 <= p->rx_n; b += 160) {
		double e = 0;
		for (size_t i = 0; i < 160; i++)
			e += p->rx[b + i] * p->rx[b + i];
		if (e > 0 && !memcmp(p->rx + b, p->rx + b - 160, 160 * sizeof(float)))
			n++;
	}
	return n;
}

IVR_TEST(test_late_worker)
{
	/* who runs where: the speaker is a member on worker 1, the listeners the others */
	int spk = -1, n_lis = 0;
	for (int i = 0; i < 3; i++) {
		struct ivr_call_info in;
		ivr_check_int_eq(ivr_call_get_info(eng, ids[i], &in), 0);
		if (in.worker == 1 && spk < 0)
			spk = i;
		else if (in.worker == 0)
			n_lis++;
	}
	long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t w1 = thread_tid("ivr-media-1");
	if (spk < 0 || n_lis == 0 || n_cpu < 2 || w1 < 0) {
		printf("  SKIP: calls not on both workers, one CPU, or no worker thread\n");
		return IVR_TEST_SKIP;
	}
	for (int i = 0; i < 3; i++) {
		(void)ivr_call_conf_leave(eng, ids[i]);
		(void)ivr_call_stop_play(eng, ids[i]); /* test_moh_shared left MOH on */
		ivr_check_int_eq(ivr_call_conf_join(eng, ids[i], "late", true, true, 0), 0);
	}
	/* worker 1 and the hog share the last CPU */
	struct hog h = { .cpu = (int)n_cpu - 1 };
	cpu_set_t one, all;
	CPU_ZERO(&one);
	CPU_SET(h.cpu, &one);
	if (sched_getaffinity(w1, sizeof(all), &all) < 0 ||
	    sched_setaffinity(w1, sizeof(one), &one) < 0) {
		printf("  SKIP: CPU affinity refused: %s\n", strerror(errno));
		return IVR_TEST_SKIP;
	}
	pthread_t th;
	bool started = pthread_create(&th, NULL, hog_main, &h) == 0;
	while (started && atomic_load(&h.state) == 0)
		sleep_until(now_ns() + 1000000ull);
	if (!started || atomic_load(&h.state) < 0) {
		if (started)
			pthread_join(th, NULL);
		sched_setaffinity(w1, sizeof(all), &all);
		printf("  SKIP: no real-time thread here: %s\n",
		       strerror(started ? -atomic_load(&h.state) : EAGAIN));
		return IVR_TEST_SKIP;
	}
	/* 1025 Hz: 20.5 cycles per frame, so no two frames of it are alike */
	const size_t frames = 100;
	float *tone = malloc(sizeof(float) * 160 * frames);
	for (size_t k = 0; k < 160 * frames; k++)
		tone[k] = 0.2f * sinf(2 * (float)M_PI * 1025.0f * (float)k / 8000);
	for (int i = 0; i < 3; i++) {
		ph[i].rx_started = false;
		ph[i].rx_n = 0;
		memset(ph[i].rx, 0, PHONE_MAX_SAMPLES * sizeof(float));
	}
	struct phone *phs[3] = { &ph[0], &ph[1], &ph[2] };
	const float *src[3] = { NULL, NULL, NULL };
	src[spk] = tone;
	phones_run(phs, src, 3, frames);
	atomic_store(&h.stop, true);
	pthread_join(th, NULL);
	sched_setaffinity(w1, sizeof(all), &all);
	struct ivr_engine_stats st;
	ivr_engine_get_stats(eng, &st);
	for (int i = 0; i < 3; i++) {
		if (i == spk)
			continue;
		struct ivr_call_info in;
		ivr_check_int_eq(ivr_call_get_info(eng, ids[i], &in), 0);
		if (in.worker != 0)
			continue; /* on the late worker too */
		int rep = repeated_blocks(&ph[i], 1600);
		double pw = ph[i].rx_n > 5600 ? fmax(tone_power(ph[i].rx + 1600, 2000, 1025),
						     tone_power(ph[i].rx + 3600, 2000, 1025))
					      : 0;
		printf("  phone %d (worker %u) hears the late worker's member: tone power %.4f, "
		       "%d repeated frames of %zu (engine overruns so far %llu)\n",
		       i, in.worker, pw, rep, ph[i].rx_n / 160, (unsigned long long)st.overruns);
		ivr_check_int_eq(rep, 0);
		ivr_check_msg(pw > 0.005, "phone %d: tone power %g", i, pw);
	}
	free(tone);
	for (int i = 0; i < 3; i++)
		ivr_check_int_eq(ivr_call_conf_leave(eng, ids[i]), 0);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	eng = test_engine(false, 8, 37000);
	if (!eng)
		return 77;
	for (int i = 0; i < 3; i++) {
		if (phone_open(&ph[i]) < 0)
			return 77;
		char remote[64];
		phone_remote(&ph[i], remote, sizeof(remote));
		struct ivr_call_params p = { .remote = remote, .pt = -1, .dtmf_pt = -1 };
		if (ivr_call_create(eng, &p, &ids[i], &ph[i].engine_port) < 0) {
			fprintf(stderr, "create: %s\n", ivr_engine_last_error());
			return 1;
		}
		sig[i] = malloc(sizeof(float) * 160 * FRAMES);
		for (int k = 0; k < 160 * FRAMES; k++)
			sig[i][k] = 0.2f * sinf(2 * (float)M_PI * (float)freq[i] * (float)k / 8000);
	}
	ivr_test_run(test_conference);
	ivr_test_run(test_moh_shared);
	ivr_test_run(test_late_worker);
	for (int i = 0; i < 3; i++) {
		phone_close(&ph[i]);
		free(sig[i]);
	}
	ivr_engine_free(eng);
	return ivr_test_summary();
}
