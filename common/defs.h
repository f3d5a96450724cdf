/* SPDX-License-Identifier: MIT */
/*
 * common/defs.h - attributes, alignment and error helpers shared by every module.
 *
 * Header-only, the one file every module may include.  The annotations are
 * documentation the compiler can partly check:
 *   IVR_RT        - runs on a media thread: no malloc/free, no locks, no
 *                   blocking syscalls, no synchronous logging
 *                   (enforced by tests/unit/test_rt_noalloc.c).
 *   IVR_NODISCARD - init/parse functions whose result must be checked.
 * Errors are negative errno values (liburing/PipeWire style); ivr_strerror()
 * turns them into text.
 */
#ifndef IVR_COMMON_DEFS_H
#define IVR_COMMON_DEFS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IVR_RT		/* media-thread safe: no alloc, lock or block */
#define IVR_NODISCARD	__attribute__((warn_unused_result))
#define IVR_ALIGN	64
#define IVR_ALIGNED	__attribute__((aligned(IVR_ALIGN)))
#define IVR_LIKELY(x)	__builtin_expect(!!(x), 1)
#define IVR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define IVR_UNUSED	__attribute__((unused))

#define IVR_N_ELEMENTS(a)    (sizeof(a) / sizeof((a)[0]))
#define IVR_MIN(a, b)	     ((a) < (b) ? (a) : (b))
#define IVR_MAX(a, b)	     ((a) > (b) ? (a) : (b))
#define IVR_CLAMP(v, lo, hi) ((v) < (lo) ? (lo) : (v) > (hi) ? (hi) : (v))
/** Round @n up to a multiple of @a (a power of two). */
#define IVR_ROUND_UP(n, a) (((n) + (a)-1) & ~((size_t)(a)-1))

/*
 * SQLite's ALWAYS()/NEVER(): defensive checks for conditions that cannot
 * happen.  In debug builds they assert; in release builds they still guard.
 */
#ifndef NDEBUG
#include <assert.h>
#define IVR_ALWAYS(x) ((x) ? 1 : (assert(0), 0))
#define IVR_NEVER(x)  ((x) ? (assert(0), 1) : 0)
#else
#define IVR_ALWAYS(x) (x)
#define IVR_NEVER(x)  (x)
#endif

/** Telephony frame: 20 ms. */
#define IVR_FRAME_MS 20

/**
 * Text for a negative errno returned by any ivr_* function.
 * @return a static string; thread-safe (no strerror buffer).
 */
static inline const char *ivr_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case EINVAL:
		return "invalid argument";
	case ENOMEM:
		return "out of memory";
	case EAGAIN:
		return "try again";
	case ENOSPC:
		return "no space left (ring or arena full)";
	case EBADMSG:
		return "malformed input";
	case ENOTSUP:
		return "not supported";
	case ENOENT:
		return "not found";
	case EPROTO:
		return "protocol error";
	case ERANGE:
		return "value out of range";
	case EEXIST:
		return "already exists";
	case EBUSY:
		return "busy";
	case EIO:
		return "I/O error";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

/** FNV-1a 64-bit offset basis and prime (Fowler/Noll/Vo). */
#define IVR_FNV1A_INIT	0xcbf29ce484222325ull
#define IVR_FNV1A_PRIME 0x100000001b3ull

/**
 * 64-bit FNV-1a of the bytes of @s, continued from @h (IVR_FNV1A_INIT to start): names
 * cache files, keys hash tables.  Not for anything an attacker must not collide.
 * @return the hash.  Thread: any.
 */
static inline uint64_t ivr_fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * IVR_FNV1A_PRIME;
	return h;
}

#endif /* IVR_COMMON_DEFS_H */
