/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_vad.c - VAD cost per sample and channels per core.
 *
 * 8 and 16 kHz, 10 and 20 ms frames, on a speech-like signal (shaped noise
 * with pauses plus a noise floor).  Reference in the same run: speexdsp's
 * preprocessor with only its denoiser on (a comparable per-frame FFT
 * analysis, the cheapest spectral processor the engine links anyway).
 * Also the VAD with its pre-gate off (no_pregate: every block analysed, as
 * before the gate), on the same signal, whose pauses carry a -71 dBFS floor.
 * Prints: name impl n_samples ns_per_sample x_realtime(channels/core), and
 * the ratios vad/reference and vad/no_pregate.  Median of REPEATS runs.
 * --smoke: short run.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_preprocess.h>

#include "bench/bench.h"
#include "dsp/g711.h"
#include "dsp/vad.h"

#define REPEATS 7

int main(int argc, char **argv)
{
	const int smoke = bench_smoke(argc, argv);
	const double seconds = smoke ? 0.5 : 20.0;
	const int repeats = smoke ? 1 : REPEATS;
	int ok = 1;
	bench_header("name impl n_samples ns_per_sample x_realtime(channels/core)", smoke);
	for (uint32_t rate = 8000; rate <= 16000; rate *= 2) {
		const size_t n = (size_t)(seconds * rate);
		float *x = malloc(n * sizeof(float));
		int16_t *x16 = malloc(n * 2), *tmp = malloc(n * 2);
		/* 2/3 s voiced (600 +- 300 Hz), then 1/3 s of the noise floor alone */
		bench_resonant_noise(x, n, rate,
				     &(struct bench_noise_cfg){ .seed = 0x2545F4914F6CDD1Dull,
								.f_hz = 600.0f,
								.swing_hz = 300.0f,
								.mod_hz = 2.0f,
								.gate_div = 3,
								.gate_n = 3,
								.amp = 0.05f,
								.floor = 0.001f });
		for (size_t i = 0; i < n; i++)
			x16[i] = ivr_f32_to_s16(x[i]);
		for (uint32_t ms = 10; ms <= 20; ms += 10) {
			const size_t frame = rate * ms / 1000;
			double tv[REPEATS], tr[REPEATS], tn[REPEATS];
			size_t speech = 0;
			for (int k = 0; k < repeats; k++) {
				struct ivr_vad *v =
					ivr_vad_new(&(struct ivr_vad_cfg){ .rate_hz = rate });
				speech = 0;
				double t0 = bench_cpu_ns();
				for (size_t off = 0; off + frame <= n; off += frame)
					speech += ivr_vad_process(v, x + off, frame, NULL) > 0;
				tv[k] = bench_cpu_ns() - t0;
				ivr_vad_free(v);

				v = ivr_vad_new(
					&(struct ivr_vad_cfg){ .rate_hz = rate, .no_pregate = 1 });
				t0 = bench_cpu_ns();
				for (size_t off = 0; off + frame <= n; off += frame)
					(void)ivr_vad_process(v, x + off, frame, NULL);
				tn[k] = bench_cpu_ns() - t0;
				ivr_vad_free(v);

				SpeexPreprocessState *pp =
					speex_preprocess_state_init((int)frame, (int)rate);
				memcpy(tmp, x16, n * 2);
				t0 = bench_cpu_ns();
				for (size_t off = 0; off + frame <= n; off += frame)
					speex_preprocess_run(pp, tmp + off);
				tr[k] = bench_cpu_ns() - t0;
				speex_preprocess_state_destroy(pp);
			}
			const double mv = bench_median(tv, repeats), mr = bench_median(tr, repeats);
			const double mn = bench_median(tn, repeats);
			char name[48];
			snprintf(name, sizeof(name), "vad_%uk_%ums", rate / 1000, ms);
			bench_row(name, "ivr_vad", n, mv / n, 1, rate);
			bench_row(name, "ivr_vad_no_pregate", n, mn / n, 1, rate);
			bench_row(name, "speex_denoise_ref", n, mr / n, 1, rate);
			printf("%s ratio vad/no_pregate %.3f\n", name, mv / mn);
			printf("%s ratio vad/ref %.3f (speech frames %.0f%%)\n", name, mv / mr,
			       100.0 * speech * frame / n);
			if (!(mv > 0) || speech == 0)
				ok = 0;
		}
		free(x);
		free(x16);
		free(tmp);
	}
	return ok ? 0 : 1;
}
