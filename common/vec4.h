/* SPDX-License-Identifier: MIT */
/*
 * common/vec4.h - four-float vectors in GNU C vector extensions, for the DSP
 * loops that gcc -O2 leaves scalar (SSE2 on x86-64, NEON on arm64, scalar
 * code elsewhere; no -m flags).
 *
 * Loads and stores go through memcpy so they need no alignment and break no
 * aliasing rule; the compiler turns them into one unaligned move.  Header
 * only; the one place the vector types are defined, so every module's lanes
 * are the same type.
 */
#ifndef IVR_COMMON_VEC4_H
#define IVR_COMMON_VEC4_H

#include <stdint.h>
#include <string.h>

typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v4si __attribute__((vector_size(16)));

/* Four floats from @p (any alignment). */
static inline v4sf v4_ld(const float *p)
{
	v4sf v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Four floats to @p (any alignment). */
static inline void v4_st(float *p, v4sf v)
{
	memcpy(p, &v, sizeof(v));
}

static inline v4sf v4_splat(float x)
{
	return (v4sf){ x, x, x, x };
}

/* Lane-wise m ? a : b for a compare mask m. */
static inline v4sf v4_sel(v4si m, v4sf a, v4sf b)
{
	return (v4sf)((m & (v4si)a) | (~m & (v4si)b));
}

#endif
