/* SPDX-License-Identifier: MIT */
/*
 * common/readall.h - read an open file to its end into one heap buffer.
 *
 * Header-only, like the rest of common/.  dsp/wav.c (WAV prompts) and asr/flow.c (flow
 * YAML) both load a whole file before parsing it; dsp may not include asr, so the one
 * loop they share lives here.  The buffer doubles from 64 KiB, so a file of n bytes costs
 * O(log n) reallocs; a caller's max_bytes turns a runaway file into -EFBIG instead of
 * an unbounded allocation.  The caller opens and closes the FILE and words the error.
 * Thread: control path only (allocates and blocks on I/O), never IVR_RT.
 */
#ifndef IVR_COMMON_READALL_H
#define IVR_COMMON_READALL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/**
 * Read @f from its position to EOF.
 * @max_bytes: a buffer that fills up to this many bytes (or more) is refused, so a file
 *             of max_bytes or more fails; SIZE_MAX for no limit beyond memory.
 * @out, @n_bytes: on success a malloc'd buffer (the caller frees it) and its length in
 *             bytes; untouched on failure.
 * @return 0, -EFBIG (the file reached max_bytes), -ENOMEM, or -EIO (a read error).
 */
static inline int ivr_read_all(FILE *f, size_t max_bytes, void **out, size_t *n_bytes)
{
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
		if (cap >= max_bytes) {
			free(buf);
			return -EFBIG;
		}
		uint8_t *nb = cap > (SIZE_MAX >> 2) ? NULL : realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (!buf)
		return -ENOMEM;
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*n_bytes = len;
	return 0;
}

#endif /* IVR_COMMON_READALL_H */
