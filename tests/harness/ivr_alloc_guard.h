/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/ivr_alloc_guard.h - count heap calls on a media path.
 *
 * Interposes malloc, calloc, realloc, aligned_alloc, posix_memalign and
 * free (forwarding to glibc's __libc_* entry points).  While the calling
 * thread has set ivr_alloc_armed, each call (free of NULL excepted) adds
 * one to ivr_alloc_hits; other threads (a recorder's writer) allocate
 * uncounted.  ivr_alloc_malloc_fn calls malloc through a volatile pointer so
 * that a negative control cannot be optimised away.  Used by the tests
 * that prove IVR_RT code does not allocate (test_rt_noalloc, test_dspchain).
 *
 * The interposers are global definitions: include this header in exactly
 * one translation unit of a test program.  Under AddressSanitizer, which
 * owns malloc, nothing is interposed and IVR_ASAN is defined: the test
 * must then skip.  Under valgrind (which replaces malloc as well) the
 * interposers are bypassed: IVR_UNDER_VALGRIND() tells the test to skip.
 */
#ifndef IVR_ALLOC_GUARD_H
#define IVR_ALLOC_GUARD_H

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/defs.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IVR_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(IVR_ASAN)
#define IVR_ASAN 1
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define IVR_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef IVR_UNDER_VALGRIND
#define IVR_UNDER_VALGRIND() 0
#endif

/* Set on a thread to count its heap calls; the count of heap calls seen while armed. */
static __thread int ivr_alloc_armed IVR_UNUSED;
static atomic_int ivr_alloc_hits IVR_UNUSED;

#ifndef IVR_ASAN
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
	if (ivr_alloc_armed)
		atomic_fetch_add(&ivr_alloc_hits, 1);
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (ivr_alloc_armed)
		atomic_fetch_add(&ivr_alloc_hits, 1);
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (ivr_alloc_armed)
		atomic_fetch_add(&ivr_alloc_hits, 1);
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
	if (ivr_alloc_armed)
		atomic_fetch_add(&ivr_alloc_hits, 1);
	return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
	if (ivr_alloc_armed)
		atomic_fetch_add(&ivr_alloc_hits, 1);
	*p = __libc_memalign(a, n);
	return *p ? 0 : ENOMEM;
}

void free(void *p)
{
	if (ivr_alloc_armed && p)
		atomic_fetch_add(&ivr_alloc_hits, 1);
	__libc_free(p);
}
#endif

/* Through a volatile pointer so the compiler cannot elide a negative control. */
static void *(*volatile ivr_alloc_malloc_fn)(size_t)IVR_UNUSED = malloc;

#endif /* IVR_ALLOC_GUARD_H */
