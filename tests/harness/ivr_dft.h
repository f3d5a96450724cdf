/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/ivr_dft.h - the level of one tone in a signal, for tests.
 *
 * A Hann-windowed single-bin DFT evaluated at any frequency (not only bin
 * centres), so that a neighbouring tone (the other of a DTMF pair, an image
 * or alias next to a test tone) does not leak in.  Phasors advance by
 * complex rotation, renormalised every 256 samples, instead of cos/sin per
 * sample: that kept the tone tests fast under valgrind.  Independent of the
 * Goertzel code under test (dsp/dtmf.c, dsp/faxtone.c).  ivr_goertzel_pow() is the
 * plain unwindowed power test_codec and test_prompt compare one tone by.  Header-only.
 */
#ifndef IVR_DFT_H
#define IVR_DFT_H

#include <math.h>
#include <stddef.h>

/*
 * Amplitude (peak, in the units of @x) of the component at @f_hz in
 * x[0..n) sampled at @rate_hz.  Window w_i = 0.5 - 0.5 cos(pi (2i+1) / n).
 */
static inline double ivr_dft_amp(const float *x, size_t n, double rate_hz, double f_hz)
{
	double re = 0, im = 0, wsum = 0;
	double cr = 1, ci = 0, dr = cos(2 * M_PI * f_hz / rate_hz),
	       di = -sin(2 * M_PI * f_hz / rate_hz);
	double pr = cos(M_PI / n), pi = sin(M_PI / n); /* e^{j pi (2i+1)/n} */
	double hr2 = cos(2 * M_PI / n), hi2 = sin(2 * M_PI / n);
	for (size_t i = 0; i < n; i++) {
		double w = 0.5 - 0.5 * pr;
		re += w * x[i] * cr;
		im += w * x[i] * ci;
		wsum += w;
		double t = cr * dr - ci * di;
		ci = cr * di + ci * dr;
		cr = t;
		t = pr * hr2 - pi * hi2;
		pi = pr * hi2 + pi * hr2;
		pr = t;
		if ((i & 255) == 255) {
			double g = 1.0 / sqrt(cr * cr + ci * ci);
			cr *= g;
			ci *= g;
		}
	}
	return 2 * sqrt(re * re + im * im) / wsum;
}

/*
 * Power of the component at @f_hz in x[0..n) sampled at @rate_hz: a plain (unwindowed)
 * Goertzel, |X(f)|^2 / n^2, so a full-scale-A sine at a bin centre gives A^2 / 4.  For
 * comparing the same tone across signals (one rate kept, one removed), where leakage
 * from a far-away second tone does not matter.
 */
static inline double ivr_goertzel_pow(const float *x, size_t n, double rate_hz, double f_hz)
{
	double c = 2 * cos(2 * M_PI * f_hz / rate_hz), s1 = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		double s0 = x[i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	return (s1 * s1 + s2 * s2 - c * s1 * s2) / ((double)n * n);
}

#endif /* IVR_DFT_H */
