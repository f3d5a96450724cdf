/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_asr.c - how many simultaneous real-time recognitions one core
 * sustains, memory per decoder, and the false-accept rate, against
 * pocketsphinx_continuous run as separate processes with the same grammar
 * and dictionary on the same call audio.
 *
 * A "call" is the caller's side of an IVR call: each turn is a prompt
 * (the caller is silent: 6 s of low-level line noise) followed by one
 * utterance from grammars/tests/bank.cases (flite slt, 8 kHz mu-law).  The
 * engine's endpointer hands only the speech to the recogniser, so our cost
 * per call is the decoding of its utterances (grammar pass + phone-loop
 * verification); pocketsphinx_continuous gets the whole call file (its own
 * VAD) as a process per call.  calls/core = call audio seconds / CPU seconds.
 * Memory: our private bytes per extra decoder (VmRSS growth; the model is
 * memory-mapped and shared) versus the reference process's peak RSS.
 * False accepts: out-of-domain utterances that get an intent (ours) or any
 * hypothesis (reference: a plain JSGF search has no rejection).
 *
 * Output: "name impl n value unit" lines and ratios; --smoke runs one
 * utterance through our path only (< 2 s) and exits 0, or 77 without model.
 */
#include "config.h"

#if !IVR_HAVE_ASR
#include <stdio.h>
int main(void)
{
	puts("built without speech recognition (-Dasr=disabled): skipped");
	return 77;
}
#else

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asr/grammar.h"
#include "asr/recognizer.h"
#include "asr/testset.h"
#include "dsp/resample.h"
#include "dsp/wav.h"

#define TURN_SILENCE_S 6

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* @key ("VmRSS:", "RssAnon:") of /proc/@pid/@file ("status", "smaps_rollup") in KB, or -1. */
static long proc_kb(const char *pid, const char *file, const char *key)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%s/%s", pid, file);
	FILE *f = fopen(path, "r");
	char line[256];
	long kb = -1;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n))
			kb = strtol(line + n, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static long status_kb(const char *pid, const char *key)
{
	return proc_kb(pid, "status", key);
}

static long rss_kb(void)
{
	return status_kb("self", "VmRSS:");
}

/*
 * Proportional set size: a page mapped n times counts 1/n in each mapping.
 * Every decoder maps the same model files, so VmRSS counts the model's
 * page-cache pages once per decoder although they exist once; Pss growth per
 * extra decoder is what that decoder really adds.  The reference process is
 * measured the same way (its shared libraries count in part, like ours).
 */
static long pss_kb(const char *pid)
{
	return proc_kb(pid, "smaps_rollup", "Pss:");
}

/*
 * Private memory: VmRSS also counts the pages of the memory-mapped model
 * files once per mapping, though every decoder (and every process) shares
 * the same page-cache pages; RssAnon is what a decoder or process adds.
 */
static long anon_kb(void)
{
	return status_kb("self", "RssAnon:");
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	return v[n / 2];
}

/*
 * Run pocketsphinx_continuous; @return child CPU seconds, its peak RSS
 * (VmHWM) in *maxrss_kb, peak RssAnon and Pss (sampled every 2 ms while it
 * runs) in *anon_peak_kb and *pss_peak_kb, output in @out.  Memory is read
 * only once the child runs pocketsphinx (comm): between fork and exec the
 * child is a copy of this process, and getrusage's ru_maxrss keeps that
 * copy's peak (this bench's own decoders) across the exec.
 */
static double run_ref(const char *wav, const char *search, const char *gram, const char *dict,
		      long *maxrss_kb, long *anon_peak_kb, long *pss_peak_kb, char *out,
		      size_t out_len)
{
	int pipefd[2];
	if (pipe(pipefd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		FILE *devnull = freopen("/dev/null", "w", stderr);
		(void)devnull;
		execlp("pocketsphinx_continuous", "pocketsphinx_continuous", "-infile", wav, search,
		       gram, "-dict", dict, "-logfn", "/dev/null", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	size_t got = 0;
	char pid_s[24];
	snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	*anon_peak_kb = *pss_peak_kb = *maxrss_kb = 0;
	char comm_path[64];
	snprintf(comm_path, sizeof(comm_path), "/proc/%s/comm", pid_s);
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		char comm[32] = "";
		FILE *cf = fopen(comm_path, "r");
		if (cf) {
			if (!fgets(comm, sizeof(comm), cf))
				comm[0] = 0;
			fclose(cf);
		}
		if (!strncmp(comm, "pocketsphinx", 12)) {
			long a = status_kb(pid_s, "RssAnon:"), h = status_kb(pid_s, "VmHWM:"),
			     ps = pss_kb(pid_s);
			*anon_peak_kb = a > *anon_peak_kb ? a : *anon_peak_kb;
			*maxrss_kb = h > *maxrss_kb ? h : *maxrss_kb;
			*pss_peak_kb = ps > *pss_peak_kb ? ps : *pss_peak_kb;
		}
		if (poll(&pfd, 1, 2) == 0)
			continue;
		ssize_t r = read(pipefd[0], out + got, out_len - 1 - got);
		if (r <= 0 || got + (size_t)r >= out_len - 1)
			break;
		got += (size_t)r;
	}
	out[got] = 0;
	close(pipefd[0]);
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* The small dictionary both sides use: cmudict lines of the grammar's words. */
static int write_dict(const struct ivr_flow_node *node, const char *path)
{
	static char words[8192][IVR_INTENT_WORD_MAX]; /* node words + asr/wordlist.h */
	size_t n = 0;
	if (ivr_grammar_words(node, words, &n, 8192) < 0)
		return -1;
	FILE *in = fopen(IVR_PS_MODELDIR "/en-us/cmudict-en-us.dict", "r");
	FILE *out = fopen(path, "w");
	if (!in || !out) {
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		return -1;
	}
	char line[512];
	while (fgets(line, sizeof(line), in)) {
		char key[IVR_INTENT_WORD_MAX];
		size_t k = 0;
		while (line[k] && line[k] != ' ' && line[k] != '(' && k < sizeof(key) - 1) {
			key[k] = line[k];
			k++;
		}
		key[k] = 0;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(words[i], key)) {
				fputs(line, out);
				break;
			}
	}
	fclose(in);
	fclose(out);
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

#define MAX_CALLERS 16

/* See the comment at the call. */
static void pool_latency(const struct ivr_flow *const *fl, const struct ivr_flow *flow,
			 int main_node, const struct ivr_recognizer_cfg *rcfg,
			 const struct ivr_audio *utt, size_t n_utt, int k, int per)
{
	char err[512];
	struct ivr_asr_pool_cfg pc = { .rec = *rcfg,
				       .n_decoders = 2,
				       .streams_per_thread = (uint32_t)per,
				       .n_sessions = MAX_CALLERS };
	struct ivr_asr_pool *pool = ivr_asr_pool_new(fl, 1, &pc, err, sizeof(err));
	int pg = pool ? ivr_asr_pool_grammar(pool, flow, (size_t)main_node) : -1;
	if (pg < 0) {
		printf("asr_latency ivr_pool not run: %s\n", err);
		ivr_asr_pool_free(pool);
		return;
	}
	double lat[2 * MAX_CALLERS], first_partial = 0;
	int n_lat = 0, n_partial = 0, n_fp = 0, sess[MAX_CALLERS];
	for (int i = 0; i < k; i++)
		sess[i] = ivr_asr_session_open(pool);
	for (int round = 0; round < 2; round++) {
		const struct ivr_audio *u[MAX_CALLERS];
		size_t longest = 0;
		for (int i = 0; i < k; i++) {
			u[i] = &utt[((size_t)i * 3 + (size_t)round * 7) % n_utt];
			longest = u[i]->n_samples > longest ? u[i]->n_samples : longest;
		}
		size_t ticks = (longest + 159) / 160;
		int begun[MAX_CALLERS] = { 0 }, got_partial[MAX_CALLERS] = { 0 };
		double begin_ms[MAX_CALLERS] = { 0 };
		struct timespec t0, tick0;
		clock_gettime(CLOCK_MONOTONIC, &tick0);
		for (size_t t = 0; t < ticks; t++) {
			for (int i = 0; i < k; i++) {
				/* caller i speaks during the last u[i]->n_samples of the window */
				size_t start = ticks * 160 - u[i]->n_samples, off = t * 160;
				if (off + 160 <= start)
					continue;
				if (!begun[i]) {
					(void)ivr_asr_session_begin(pool, sess[i], pg);
					begun[i] = 1;
					begin_ms[i] = ms_since(&tick0);
				}
				size_t from = off > start ? off - start : 0;
				size_t to = off + 160 - start;
				ivr_asr_session_feed(pool, sess[i], u[i]->samples + from,
						     to - from);
				char part[IVR_ASR_TEXT_MAX];
				if (ivr_asr_session_partial(pool, sess[i], part, sizeof(part)) ==
				    1) {
					n_partial++;
					if (!got_partial[i]++) {
						first_partial += ms_since(&tick0) - begin_ms[i];
						n_fp++;
					}
				}
			}
			/* real time: the next 20 ms tick */
			struct timespec next = tick0;
			long ns = (long)((t + 1) * 20000000ul % 1000000000ul);
			next.tv_sec += (time_t)((t + 1) * 20000000ul / 1000000000ul);
			next.tv_nsec += ns;
			if (next.tv_nsec >= 1000000000) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < k; i++)
			ivr_asr_session_end(pool, sess[i]);
		int done = 0, got[MAX_CALLERS] = { 0 };
		while (done < k) {
			for (int i = 0; i < k; i++) {
				struct ivr_asr_result r;
				if (!got[i] && ivr_asr_session_poll(pool, sess[i], &r) == 1) {
					lat[n_lat++] = ms_since(&t0);
					got[i] = 1;
					done++;
				}
			}
			struct timespec ts = { 0, 500000 };
			nanosleep(&ts, NULL);
		}
	}
	qsort(lat, (size_t)n_lat, sizeof(double), cmp_d);
	printf("asr_latency ivr_pool callers %d decoders %d (2 threads x %d) "
	       "end_of_speech_to_result_ms "
	       "p50 %.0f p95 %.0f max %.0f (target max <= 300)\n",
	       k, 2 * per, per, lat[n_lat / 2], lat[(n_lat * 95 + 99) / 100 - 1], lat[n_lat - 1]);
	printf("asr_partial ivr_pool callers %d partials %d first_partial_after_speech_start_ms "
	       "mean "
	       "%.0f\n",
	       k, n_partial, n_fp ? first_partial / n_fp : 0);
	for (int i = 0; i < k; i++)
		ivr_asr_session_close(pool, sess[i]);
	ivr_asr_pool_free(pool);
}

int main(int argc, char **argv)
{
	int smoke = 0, verify = 1, phrases = 0, vstream = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--smoke"))
			smoke = 1;
		else if (!strcmp(argv[i], "--no-verify"))
			verify = 0;
		else if (!strcmp(argv[i], "--verify-stream"))
			vstream = 1; /* the phone loop on a second decoder during speech */
		else if (!strcmp(argv[i], "--phrases"))
			phrases = 1; /* our path with the strict JSGF instead of the n-gram model */
		else {
			fprintf(stderr,
				"usage: bench_asr [--smoke] [--no-verify] [--verify-stream] "
				"[--phrases]\n");
			return 2;
		}
	}
	struct ivr_recognizer_cfg rcfg = { .phone_lm = verify ? NULL : "",
					   .mode = phrases ? IVR_GRAMMAR_PHRASES : IVR_GRAMMAR_LM,
					   .verify_stream = vstream };
	int repeats = smoke ? 1 : 3;
	char src[1024], err[512], cache[1024], tmpdir[] = "/tmp/ivr_bench_asr_XXXXXX";
	snprintf(src, sizeof(src), "%s/grammars/bank.yaml", IVR_SOURCE_DIR);
	snprintf(cache, sizeof(cache), "%s/tts-cache", IVR_BUILD_DIR);
	struct ivr_flow *flow;
	if (ivr_flow_load(&flow, src, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_asr: %s\n", err);
		return 1;
	}
	const struct ivr_flow *fl[1] = { flow };
	int main_node = ivr_flow_find_node(flow, "main");
	long rss0 = rss_kb();
	struct ivr_recognizer *rec = ivr_recognizer_new(fl, 1, &rcfg, err, sizeof(err));
	if (!rec) {
		printf("bench_asr: skipped: %s\n", err);
		ivr_flow_free(flow);
		return errno == ENOENT ? 77 : 1;
	}
	long rss1 = rss_kb();
	int g = ivr_recognizer_grammar(rec, flow, (size_t)main_node);

	/* Utterances: main-node cases, in-domain and out-of-domain. */
	char cases_path[1024];
	snprintf(cases_path, sizeof(cases_path), "%s/grammars/tests/bank.cases", IVR_SOURCE_DIR);
	struct ivr_testcase *cases;
	size_t n_cases;
	if (ivr_testset_load(cases_path, flow, &cases, &n_cases, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_asr: %s\n", err);
		return 1;
	}
	struct ivr_audio utt[64];
	int is_ood[64];
	size_t n_utt = 0;
	for (size_t i = 0; i < n_cases && n_utt < (smoke ? 1u : 64u); i++) {
		if (strcmp(cases[i].node, "main"))
			continue;
		char wav[2048];
		if (ivr_testset_render(cases[i].text, "slt", cache, wav, sizeof(wav)) < 0 ||
		    ivr_wav_read(&utt[n_utt], wav, 0, err, sizeof(err)) < 0) {
			printf("bench_asr: skipped: flite missing\n");
			return smoke ? 77 : 1;
		}
		is_ood[n_utt++] = !strcmp(cases[i].expected, "-");
	}

	/* Ours: CPU per utterance, acceptance of out-of-domain speech, latency. */
	double speech_s = 0, call_s = 0;
	for (size_t i = 0; i < n_utt; i++) {
		speech_s += utt[i].n_samples / 8000.0;
		call_s += utt[i].n_samples / 8000.0 + TURN_SILENCE_S;
	}
	double ours_cpu[5], lat_max = 0, tail_max = 0, tail_max_unverified = 0;
	int n_verified = 0;
	double *lat = calloc(n_utt, sizeof(double)), *tail = calloc(n_utt, sizeof(double));
	int fa = 0, n_ood = 0, in_ok = 0, n_in = 0;
	for (int rep = 0; rep < repeats; rep++) {
		struct ivr_asr_cmn cmn = { 0 };
		double t0 = cpu_s();
		for (size_t i = 0; i < n_utt; i++) {
			/* streamed 20 ms at a time as the pool does (without its real-time pace),
			 * so tail_us is what streaming leaves after the end of speech */
			struct ivr_asr_result r;
			if (ivr_recognizer_stream_begin(rec, g, 8000, &cmn) < 0)
				return 1;
			for (size_t off = 0; off < utt[i].n_samples; off += 160)
				if (ivr_recognizer_stream_feed(
					    rec, utt[i].samples + off,
					    IVR_MIN((size_t)160, utt[i].n_samples - off)) < 0)
					return 1;
			if (ivr_recognizer_stream_end(rec, &cmn, &r) < 0)
				return 1;
			lat[i] = r.decode_us / 1000.0;
			lat_max = fmax(lat_max, lat[i]);
			tail[i] = r.tail_us / 1000.0;
			tail_max = fmax(tail_max, tail[i]);
			if (!r.verified)
				tail_max_unverified = fmax(tail_max_unverified, tail[i]);
			n_verified += rep == 0 && r.verified;
			if (rep == 0) {
				if (is_ood[i]) {
					n_ood++;
					fa += r.intent >= 0;
				} else {
					n_in++;
					in_ok += r.intent >= 0;
				}
			}
		}
		ours_cpu[rep] = cpu_s() - t0;
	}
	double ours = median(ours_cpu, repeats);
	double lat_med = median(lat, (int)n_utt), tail_med = median(tail, (int)n_utt);
	printf("# verification: %s\n", !verify	 ? "off"
				       : vstream ? "streamed on a second decoder (--verify-stream)"
						 : "after the end of speech");
	printf("asr_call ivr_recognizer %zu utterances %.1f s speech in %.1f s of calls\n", n_utt,
	       speech_s, call_s);
	printf("asr_call ivr_recognizer cpu_s %.3f x_realtime_speech %.4f calls_per_core %.0f\n",
	       ours, ours / speech_s, call_s / ours);
	printf("asr_latency ivr_recognizer decode_after_end_of_speech_ms median %.0f max %.0f "
	       "(whole utterance after the end, no streaming)\n",
	       lat_med, lat_max);
	printf("asr_latency ivr_recognizer streaming_tail_ms median %.1f max %.1f (last block, "
	       "verification, intent: what is left at the end of speech when streaming); "
	       "%d/%zu utterances verified, max without verification %.1f\n",
	       tail_med, tail_max, n_verified, n_utt, tail_max_unverified);
	if (!smoke)
		printf("asr_false_accept ivr_recognizer %d/%d out-of-domain accepted (%.0f%%); "
		       "in-domain given an intent %d/%d\n",
		       fa, n_ood, n_ood ? 100.0 * fa / n_ood : 0, in_ok, n_in);

	/* Memory per decoder: four more decoders, VmRSS growth / 4. */
	struct ivr_recognizer *more[4] = { 0 };
	long rss_a = rss_kb(), anon_a = anon_kb(), pss_a = pss_kb("self");
	int n_more = smoke ? 1 : 4;
	for (int i = 0; i < n_more; i++)
		more[i] = ivr_recognizer_new(fl, 1, &rcfg, err, sizeof(err));
	for (int i = 0; i < n_more; i++) {
		struct ivr_asr_result r;
		if (more[i])
			(void)ivr_recognizer_decode(more[i], g, utt[0].samples, utt[0].n_samples,
						    8000, NULL, &r);
	}
	long rss_b = rss_kb(), anon_b = anon_kb(), pss_b = pss_kb("self");
	double per_dec_pss_mb = (pss_b - pss_a) / 1024.0 / n_more;
	double per_dec_mb = (rss_b - rss_a) / 1024.0 / n_more;
	double per_dec_anon_mb = (anon_b - anon_a) / 1024.0 / n_more;
	printf("asr_memory ivr_recognizer first_decoder_mb %.1f per_extra_decoder_mb %.1f "
	       "per_extra_decoder_private_mb %.1f per_extra_decoder_pss_mb %.1f\n",
	       (rss1 - rss0) / 1024.0, per_dec_mb, per_dec_anon_mb, per_dec_pss_mb);
	for (int i = 0; i < n_more; i++)
		ivr_recognizer_free(more[i]);

	int rc = 0;
	if (!smoke) {
		/*
		 * Pool latency, streaming: k callers speak at once, fed 20 ms per
		 * 20 ms tick as a media thread would (real time), all stopping in
		 * the same tick (the worst case for a shared pool); time from
		 * ivr_asr_session_end() to a collectable result, p50/p95/max over
		 * the callers of 2 rounds.  2 threads (the machine's cores) with
		 * streams_per_thread decoders each: callers beyond them wait with
		 * their audio and are decoded when a decoder frees.
		 */
		const struct {
			int k, per;
		} sc[] = { { 1, 2 }, { 8, 2 }, { 8, 4 }, { 12, 4 }, { 16, 4 }, { 16, 8 } };
		for (size_t si = 0; si < sizeof(sc) / sizeof(sc[0]); si++)
			pool_latency(fl, flow, main_node, &rcfg, utt, n_utt, sc[si].k, sc[si].per);
	}
	if (!smoke) {
		/* Reference: one pocketsphinx_continuous process on the whole call. */
		if (!mkdtemp(tmpdir))
			return 1;
		char gram[1100], dict[1100], call[1100];
		snprintf(gram, sizeof(gram), "%s/main.gram", tmpdir);
		snprintf(dict, sizeof(dict), "%s/main.dict", tmpdir);
		snprintf(call, sizeof(call), "%s/call.wav", tmpdir);
		/*
		 * The reference searches what ours searches ("the same grammar"): the node's
		 * n-gram model by default, the strict JSGF with --phrases.
		 */
		char *model;
		const char *search = phrases ? "-jsgf" : "-lm";
		if ((phrases ? ivr_grammar_jsgf(&flow->nodes[main_node], "bank_main",
						IVR_GRAMMAR_PHRASES, &model)
			     : ivr_grammar_arpa(&flow->nodes[main_node], &model)) < 0)
			return 1;
		FILE *gf = fopen(gram, "w");
		if (!gf)
			return 1;
		fputs(model, gf);
		fclose(gf);
		free(model);
		printf("# reference: pocketsphinx_continuous %s (the same %s as ours)\n", search,
		       phrases ? "JSGF" : "trigram model");
		write_dict(&flow->nodes[main_node], dict);
		size_t total = (size_t)(call_s * 16000) + 16000;
		float *cs = calloc(total, sizeof(float));
		size_t pos = 0;
		srand(1);
		for (size_t i = 0; i < n_utt; i++) {
			for (size_t k = 0; k < TURN_SILENCE_S * 16000u && pos < total; k++)
				cs[pos++] = 0.0005f * ((float)((double)rand() / RAND_MAX) - 0.5f);
			float *up;
			size_t n_up;
			if (ivr_resample_buffer(utt[i].samples, utt[i].n_samples, 8000, &up, &n_up,
						16000) < 0)
				return 1;
			for (size_t k = 0; k < n_up && pos < total; k++)
				cs[pos++] = up[k];
			free(up);
		}
		if (ivr_wav_write(call, cs, pos, 16000, IVR_WAV_PCM16) < 0)
			return 1;
		free(cs);
		double ref_cpu[5];
		long maxrss = 0, ref_anon = 0, ref_pss = 0;
		static char out[1 << 16];
		int ok = 1;
		for (int rep = 0; rep < repeats && ok; rep++) {
			long rss_rep, anon_rep, pss_rep;
			ref_cpu[rep] = run_ref(call, search, gram, dict, &rss_rep, &anon_rep,
					       &pss_rep, out, sizeof(out));
			maxrss = rss_rep > maxrss ? rss_rep : maxrss;
			ref_anon = anon_rep > ref_anon ? anon_rep : ref_anon;
			ref_pss = pss_rep > ref_pss ? pss_rep : ref_pss;
			ok = ref_cpu[rep] > 0;
		}
		if (!ok) {
			printf("asr_call pocketsphinx_continuous not run (program missing?)\n");
		} else {
			double ref = median(ref_cpu, repeats);
			printf("asr_call pocketsphinx_continuous cpu_s %.3f calls_per_core %.0f "
			       "(process per call, whole call audio)\n",
			       ref, call_s / ref);
			printf("asr_memory pocketsphinx_continuous process_maxrss_mb %.1f "
			       "peak_private_mb %.1f peak_pss_mb %.1f\n",
			       maxrss / 1024.0, ref_anon / 1024.0, ref_pss / 1024.0);
			/* reference false accepts: any hypothesis for an out-of-domain utterance */
			int rfa = 0, rn = 0;
			for (size_t i = 0; i < n_utt; i++) {
				if (!is_ood[i])
					continue;
				char uw[1100];
				snprintf(uw, sizeof(uw), "%s/u%zu.wav", tmpdir, i);
				float *up;
				size_t n_up;
				if (ivr_resample_buffer(utt[i].samples, utt[i].n_samples, 8000, &up,
							&n_up, 16000) < 0 ||
				    ivr_wav_write(uw, up, n_up, 16000, IVR_WAV_PCM16) < 0)
					return 1;
				free(up);
				long m, ma, mp;
				rn++;
				if (run_ref(uw, search, gram, dict, &m, &ma, &mp, out,
					    sizeof(out)) >= 0 &&
				    strspn(out, " \n\t") < strlen(out))
					rfa++;
				unlink(uw);
			}
			printf("asr_false_accept pocketsphinx_continuous %d/%d out-of-domain "
			       "accepted (%.0f%%)\n",
			       rfa, rn, rn ? 100.0 * rfa / rn : 0);
			printf("ratio calls_per_core ivr/pocketsphinx_continuous %.1fx (target >= "
			       "2x)\n",
			       ref / ours);
			if (ref_pss > 0)
				printf("ratio memory_per_call ivr_decoder/pocketsphinx_process "
				       "%.2f "
				       "(Pss both sides; target <= 0.25; a decoder per call)\n",
				       per_dec_pss_mb / (ref_pss / 1024.0));
			printf("ratio vmrss_per_call ivr_decoder/pocketsphinx_process %.2f "
			       "(VmRSS growth vs VmHWM: counts the shared mapped model once per "
			       "decoder)\n",
			       per_dec_mb / (maxrss / 1024.0));
			if (ref_anon > 0)
				printf("ratio private_memory_per_call ivr_decoder/"
				       "pocketsphinx_process %.2f (RssAnon; the mapped model "
				       "pages are shared by all)\n",
				       per_dec_anon_mb / (ref_anon / 1024.0));
			/*
			 * The pool shares decoders: a call holds a session (CMN + a
			 * 10 s speech buffer), and 4 streaming decoders per core serve
			 * the calls that core sustains.
			 */
			double calls = call_s / ours;
			double sess_mb = (10000.0 * 8 * sizeof(float) + 2048) / 1048576.0;
			double pooled = 4 * per_dec_pss_mb / calls + sess_mb;
			printf("asr_memory ivr_pool per_call_mb %.2f (session %.2f + 4 "
			       "decoders/%.0f "
			       "calls)\n",
			       pooled, sess_mb, calls);
			if (ref_pss > 0)
				printf("ratio memory_per_call ivr_pool/pocketsphinx_process %.3f\n",
				       pooled / (ref_pss / 1024.0));
		}
		unlink(gram);
		unlink(dict);
		unlink(call);
		rmdir(tmpdir);
	}
	for (size_t i = 0; i < n_utt; i++)
		ivr_audio_free(&utt[i]);
	free(lat);
	free(tail);
	free(cases);
	ivr_recognizer_free(rec);
	ivr_flow_free(flow);
	printf("1 passed, 0 failed, 0 skipped\n");
	return rc;
}
#endif /* IVR_HAVE_ASR */
