/* SPDX-License-Identifier: MIT */
/*
 * dsp/dtmf_kernel.h - internal: the per-sample kernel of dsp/dtmf.c.
 *
 * acc[0..7] += x * cos(w_k n), acc[8..15] += x * -sin(w_k n) (the 8 Q.23
 * bins, table rows @tab[n]), acc[16] += x * x, over @n samples.  The C
 * version in dtmf.c is the reference; dtmf_avx2.c (built with -mavx2
 * -mfma) must agree with it to float rounding at any length.
 * Thread: any (IVR_RT).
 */
#ifndef IVR_DSP_DTMF_KERNEL_H
#define IVR_DSP_DTMF_KERNEL_H

#include "common/defs.h"

#define IVR_DTMF_KERNEL_ACC 17

/** C reference kernel (see file comment). */
IVR_RT void ivr_dtmf_kernel_c(float *restrict acc, const float (*restrict tab)[16],
			      const float *restrict x, size_t n);
/** AVX2+FMA kernel; call only when __builtin_cpu_supports("avx2") and ("fma"). */
IVR_RT void ivr_dtmf_kernel_avx2(float *restrict acc, const float (*restrict tab)[16],
				 const float *restrict x, size_t n);

#endif /* IVR_DSP_DTMF_KERNEL_H */
