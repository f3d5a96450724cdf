/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/ivr_test.h - minimal self-checking test harness.
 *
 * Modelled on Redis' testhelp.h with pwtest-style names.  A test program
 * defines cases with IVR_TEST(name) and lists them in main() with
 * ivr_test_run(); an optional argv[1] filter selects cases by substring.
 * The program prints "N passed, N failed, N skipped" and exits 0 (all
 * passed), 1 (a failure) or 77 (everything skipped), as meson expects.
 */
#ifndef IVR_TEST_H
#define IVR_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (r == IVR_TEST_SKIP) {
		ivr_test_n_skip_++;
		printf("SKIP %s\n", name);
	} else if (r != IVR_TEST_PASS || ivr_test_failed_) {
		ivr_test_n_fail_++;
		printf("FAIL %s\n", name);
	} else {
		ivr_test_n_pass_++;
		printf("ok   %s\n", name);
	}
}

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
