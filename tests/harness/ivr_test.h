/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/ivr_test.h - minimal self-checking test harness.
 *
 * Modelled on Redis' testhelp.h with pwtest-style names.  A test program
 * defines cases with IVR_TEST(name) and lists them in main() with
 * ivr_test_run(); an optional argv[1] filter selects cases by substring.
 * Independent real-time cases (each waits on the wall clock, not the CPU)
 * can run side by side with IVR_TEST_RUN_PARALLEL(a, b, ...): each in a
 * child process, its output printed whole once it ends.
 * The program prints "N passed, N failed, N skipped" and exits 0 (all
 * passed), 1 (a failure) or 77 (everything skipped), as meson expects.
 */
#ifndef IVR_TEST_H
#define IVR_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { IVR_TEST_PASS = 0, IVR_TEST_FAIL = 1, IVR_TEST_SKIP = 77 };

static int ivr_test_failed_ = 0;
static int ivr_test_n_pass_, ivr_test_n_fail_, ivr_test_n_skip_;
static const char *ivr_test_filter_;

#define IVR_TEST(name) static int name(void)

/* A failed check marks the case failed and keeps going (more context per run). */
#define ivr_check(cond)                                                                            \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
			ivr_test_failed_ = 1;                                                      \
		}                                                                                  \
	} while (0)

#define ivr_check_msg(cond, ...)                                                                   \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			ivr_test_failed_ = 1;                                                      \
		}                                                                                  \
	} while (0)

#define ivr_check_int_eq(a, b)                                                                     \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_) {                                                                    \
			fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__,       \
				__LINE__, #a, #b, a_, b_);                                         \
			ivr_test_failed_ = 1;                                                      \
		}                                                                                  \
	} while (0)

#define ivr_check_near(a, b, tol)                                                                  \
	do {                                                                                       \
		double a_ = (double)(a), b_ = (double)(b);                                         \
		if (!(fabs(a_ - b_) <= (tol))) {                                                   \
			fprintf(stderr, "  FAIL %s:%d: %s ~= %s (%g vs %g, tol %g)\n", __FILE__,   \
				__LINE__, #a, #b, a_, b_, (double)(tol));                          \
			ivr_test_failed_ = 1;                                                      \
		}                                                                                  \
	} while (0)

static inline void ivr_test_count_(const char *name, int r)
{
	if (r == IVR_TEST_SKIP) {
		ivr_test_n_skip_++;
		printf("SKIP %s\n", name);
	} else if (r != IVR_TEST_PASS) {
		ivr_test_n_fail_++;
		printf("FAIL %s\n", name);
	} else {
		ivr_test_n_pass_++;
		printf("ok   %s\n", name);
	}
}

/* Run one case; a case returns IVR_TEST_PASS, IVR_TEST_FAIL or IVR_TEST_SKIP. */
#define ivr_test_run(fn) ivr_test_run_(#fn, fn)

static inline void ivr_test_init(int argc, char **argv)
{
	ivr_test_filter_ = argc > 1 ? argv[1] : NULL;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline void ivr_test_run_(const char *name, int (*fn)(void))
{
	if (ivr_test_filter_ && !strstr(name, ivr_test_filter_))
		return;
	ivr_test_failed_ = 0;
	int r = fn();
	if (r != IVR_TEST_SKIP && ivr_test_failed_)
		r = IVR_TEST_FAIL;
	ivr_test_count_(name, r);
}

/*
 * Run @n cases at the same time, each in a forked child (its own checks, its
 * own pid for ring and socket names), and count them as ivr_test_run()
 * does.  For cases that spend their time waiting on real-time media: their
 * wall times overlap instead of adding up.  Each child's output goes to a
 * temporary file the parent prints after it, so the logs do not interleave.
 * A case that cannot be forked runs in the parent.
 */
static inline void ivr_test_run_parallel_(const char *const *names, int (*const *fns)(void), int n)
{
	pid_t pid[16];
	FILE *out[16];
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < n && i < 16; i++) {
		pid[i] = -1;
		out[i] = NULL;
		if (ivr_test_filter_ && !strstr(names[i], ivr_test_filter_))
			continue;
		out[i] = tmpfile();
		pid[i] = out[i] ? fork() : -1;
		if (pid[i] == 0) {
			dup2(fileno(out[i]), 1);
			dup2(fileno(out[i]), 2);
			ivr_test_failed_ = 0;
			int r = fns[i]();
			if (r != IVR_TEST_SKIP && ivr_test_failed_)
				r = IVR_TEST_FAIL;
			fflush(stdout);
			fflush(stderr);
			_exit(r);
		}
		if (pid[i] < 0) {
			ivr_test_run_(names[i], fns[i]);
			if (out[i])
				fclose(out[i]);
			out[i] = NULL;
		}
	}
	for (int i = 0; i < n && i < 16; i++) {
		if (pid[i] <= 0)
			continue;
		int st = 0;
		int r = waitpid(pid[i], &st, 0) == pid[i] && WIFEXITED(st) ? WEXITSTATUS(st)
									   : IVR_TEST_FAIL;
		char buf[4096];
		size_t k;
		rewind(out[i]);
		while ((k = fread(buf, 1, sizeof(buf), out[i])) > 0)
			fwrite(buf, 1, k, stdout);
		fclose(out[i]);
		if (!WIFEXITED(st))
			printf("  %s: child ended by signal %d\n", names[i],
			       WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		ivr_test_count_(names[i], r);
	}
}

/* IVR_TEST_RUN_PARALLEL(a, b, ...): run the cases side by side (ivr_test_run_parallel_()). */
#define IVR_TEST_RUN_PARALLEL(...)                                                                 \
	do {                                                                                       \
		int (*const fns_[])(void) = { __VA_ARGS__ };                                       \
		static const char names_[] = #__VA_ARGS__;                                         \
		const char *nm_[16];                                                               \
		char buf_[sizeof(names_)];                                                         \
		memcpy(buf_, names_, sizeof(names_));                                              \
		int n_ = 0;                                                                        \
		for (char *t_ = strtok(buf_, ", "); t_ && n_ < 16; t_ = strtok(NULL, ", "))        \
			nm_[n_++] = t_;                                                            \
		ivr_test_run_parallel_(nm_, fns_, n_);                                             \
	} while (0)

static inline int ivr_test_summary(void)
{
	printf("%d passed, %d failed, %d skipped\n", ivr_test_n_pass_, ivr_test_n_fail_,
	       ivr_test_n_skip_);
	if (ivr_test_n_fail_)
		return 1;
	if (ivr_test_n_pass_ == 0 && ivr_test_n_skip_ > 0)
		return 77;
	return 0;
}

/* Case result: pass unless a check failed. */
#define IVR_TEST_RESULT() (ivr_test_failed_ ? IVR_TEST_FAIL : IVR_TEST_PASS)

/* Path of a file under the source tree (IVR_SOURCE_DIR from meson's test env). */
static inline const char *ivr_test_srcpath(char *buf, size_t n, const char *rel)
{
	const char *root = getenv("IVR_SOURCE_DIR");
	snprintf(buf, n, "%s/%s", root ? root : ".", rel);
	return buf;
}

#endif /* IVR_TEST_H */
