/* SPDX-License-Identifier: MIT */
/*
 * dsp/dtmf_avx2.c - AVX2+FMA version of the DTMF demodulation kernel.
 *
 * Same contract as ivr_dtmf_kernel_c() (dsp/dtmf_kernel.h): 8 bins x re/im
 * are two 8-float registers, one FMA each per sample.  Four samples are
 * unrolled into four independent accumulator sets so the FMA latency
 * (4 cycles) does not serialise the loop; the sets are summed at the end,
 * so results differ from the C reference only by float rounding order.
 * Built in its own static library with -mavx2 -mfma (dsp/meson.build) and
 * called only after __builtin_cpu_supports() said so.
 */
#include "config.h"

#include <immintrin.h>

#include "dsp/dtmf_kernel.h"

void ivr_dtmf_kernel_avx2(float *restrict acc, const float (*restrict tab)[16],
			  const float *restrict x, size_t n)
{
	__m256 r0 = _mm256_setzero_ps(), i0 = _mm256_setzero_ps();
	__m256 r1 = _mm256_setzero_ps(), i1 = _mm256_setzero_ps();
	__m256 r2 = _mm256_setzero_ps(), i2 = _mm256_setzero_ps();
	__m256 r3 = _mm256_setzero_ps(), i3 = _mm256_setzero_ps();
	__m128 e = _mm_setzero_ps();
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		__m128 v4 = _mm_loadu_ps(x + i);
		e = _mm_fmadd_ps(v4, v4, e);
		__m256 v;
		v = _mm256_set1_ps(x[i]);
		r0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i]), r0);
		i0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i] + 8), i0);
		v = _mm256_set1_ps(x[i + 1]);
		r1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i + 1]), r1);
		i1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i + 1] + 8), i1);
		v = _mm256_set1_ps(x[i + 2]);
		r2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i + 2]), r2);
		i2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i + 2] + 8), i2);
		v = _mm256_set1_ps(x[i + 3]);
		r3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i + 3]), r3);
		i3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i + 3] + 8), i3);
	}
	float es = 0.0f;
	for (; i < n; i++) {
		__m256 v = _mm256_set1_ps(x[i]);
		r0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i]), r0);
		i0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(tab[i] + 8), i0);
		es += x[i] * x[i];
	}
	__m256 re = _mm256_add_ps(_mm256_add_ps(r0, r1), _mm256_add_ps(r2, r3));
	__m256 im = _mm256_add_ps(_mm256_add_ps(i0, i1), _mm256_add_ps(i2, i3));
	_mm256_storeu_ps(acc, _mm256_add_ps(_mm256_loadu_ps(acc), re));
	_mm256_storeu_ps(acc + 8, _mm256_add_ps(_mm256_loadu_ps(acc + 8), im));
	float et[4];
	_mm_storeu_ps(et, e);
	acc[16] += (et[0] + et[1]) + (et[2] + et[3]) + es;
}
