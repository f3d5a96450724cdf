/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_prompt.c - prompt cache: load once and share, rate
 * conversion at load (16 kHz file -> 8 kHz calls keeps a 1 kHz tone),
 * one copy per (file, rate) in use (a 6 kHz tone kept at 16 kHz only),
 * clear errors for missing/stereo files, reload replaces content while a
 * playing reference keeps the old version alive until released.
 */
#include "config.h"

#include <math.h>
#include <unistd.h>

#include "dsp/wav.h"
#include "engine/prompt.h"
#include "ivr_dft.h"
#include "ivr_test.h"

static void tmpname(char *buf, size_t n, const char *tag)
{
	snprintf(buf, n, "/tmp/ivr_prompt_%s_%d.wav", tag, (int)getpid());
}

/* End of a case: free the cache @pc, remove the WAV @path; the checks decide the result. */
static int finish(struct ivr_prompt_cache *pc, const char *path)
{
	ivr_prompt_cache_free(pc);
	unlink(path);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_load_share_convert)
{
	char path[64];
	tmpname(path, sizeof(path), "16k");
	static float x[16000];
	for (int i = 0; i < 16000; i++)
		x[i] = 0.5f * sinf(2 * (float)M_PI * 1000 * (float)i / 16000);
	ivr_check_int_eq(ivr_wav_write(path, x, 16000, 16000, IVR_WAV_PCM16), 0);
	struct ivr_prompt_cache *pc = ivr_prompt_cache_new(8000);
	char err[200];
	struct ivr_prompt *a = ivr_prompt_get(pc, path, err, sizeof(err));
	struct ivr_prompt *b = ivr_prompt_get(pc, path, err, sizeof(err));
	ivr_check(a && a == b);
	ivr_check_int_eq(ivr_prompt_cache_count(pc), 1);
	if (a) {
		ivr_check_int_eq(a->rate_hz, 8000);
		ivr_check_near((double)a->n_samples, 8000, 2);
		/* 1 kHz at 8 kHz: 8 samples per period; RMS 0.5/sqrt2 */
		double s = 0;
		for (size_t i = 1000; i < 7000; i++)
			s += a->samples[i] * a->samples[i];
		ivr_check_near(sqrt(s / 6000), 0.5 / sqrt(2), 0.01);
		ivr_check_int_eq(atomic_load(&a->refs), 3);
	}
	ivr_prompt_unref(a);
	ivr_prompt_unref(b);
	return finish(pc, path);
}

IVR_TEST(test_errors)
{
	struct ivr_prompt_cache *pc = ivr_prompt_cache_new(8000);
	char err[200] = "";
	ivr_check(ivr_prompt_get(pc, "/nonexistent/p.wav", err, sizeof(err)) == NULL);
	ivr_check(strstr(err, "/nonexistent/p.wav") != NULL);
	ivr_check(ivr_prompt_get(pc, "", err, sizeof(err)) == NULL);
	char path[64];
	tmpname(path, sizeof(path), "junk");
	FILE *f = fopen(path, "w");
	fputs("this is not a wav file at all, not even close", f);
	fclose(f);
	ivr_check(ivr_prompt_get(pc, path, err, sizeof(err)) == NULL);
	ivr_check(strstr(err, path) != NULL);
	ivr_check_int_eq(ivr_prompt_cache_count(pc), 0);
	return finish(pc, path);
}

IVR_TEST(test_reload_keeps_playing_version)
{
	char path[64];
	tmpname(path, sizeof(path), "reload");
	float one[800], two[1600];
	for (int i = 0; i < 800; i++)
		one[i] = 0.25f;
	for (int i = 0; i < 1600; i++)
		two[i] = -0.5f;
	ivr_check_int_eq(ivr_wav_write(path, one, 800, 8000, IVR_WAV_PCM16), 0);
	struct ivr_prompt_cache *pc = ivr_prompt_cache_new(8000);
	struct ivr_prompt *playing = ivr_prompt_get(pc, path, NULL, 0);
	ivr_check(playing != NULL);
	ivr_check_int_eq(ivr_wav_write(path, two, 1600, 8000, IVR_WAV_PCM16), 0);
	ivr_check_int_eq(ivr_prompt_cache_reload(pc), 1);
	/* The call still plays the old samples, intact. */
	ivr_check_int_eq(playing->n_samples, 800);
	ivr_check_near(playing->samples[400], 0.25, 1e-3);
	struct ivr_prompt *fresh = ivr_prompt_get(pc, path, NULL, 0);
	ivr_check(fresh && fresh != playing);
	if (fresh) {
		ivr_check_int_eq(fresh->n_samples, 1600);
		ivr_check_near(fresh->samples[10], -0.5, 1e-3);
	}
	ivr_prompt_unref(playing); /* call ends: the sweep may free it */
	ivr_prompt_cache_sweep(pc);
	ivr_prompt_unref(fresh);
	ivr_check_int_eq(ivr_prompt_cache_count(pc), 1);
	return finish(pc, path);
}

/*
 * One copy per (file, rate) in use: a 16 kHz file with 1 kHz + 6 kHz tones
 * played by 8 kHz and 16 kHz calls: two copies, each shared by the calls at
 * its rate; the 16 kHz copy keeps the 6 kHz tone, the 8 kHz one cannot; a
 * reload refreshes both at their rates.
 */
IVR_TEST(test_one_copy_per_rate)
{
	char path[64];
	tmpname(path, sizeof(path), "wb");
	static float x[16000];
	for (int i = 0; i < 16000; i++)
		x[i] = 0.3f * sinf(2 * (float)M_PI * 1000 * (float)i / 16000) +
		       0.3f * sinf(2 * (float)M_PI * 6000 * (float)i / 16000);
	ivr_check_int_eq(ivr_wav_write(path, x, 16000, 16000, IVR_WAV_PCM16), 0);
	struct ivr_prompt_cache *pc = ivr_prompt_cache_new(8000);
	char err[200];
	struct ivr_prompt *nb1 = ivr_prompt_get(pc, path, err, sizeof(err));
	struct ivr_prompt *wb1 = ivr_prompt_get_at(pc, path, 16000, err, sizeof(err));
	struct ivr_prompt *nb2 = ivr_prompt_get_at(pc, path, 8000, err, sizeof(err));
	struct ivr_prompt *wb2 = ivr_prompt_get_at(pc, path, 16000, err, sizeof(err));
	ivr_check(nb1 && wb1 && nb1 == nb2 && wb1 == wb2 && nb1 != wb1);
	ivr_check_int_eq(ivr_prompt_cache_count(pc), 2);
	if (nb1 && wb1) {
		ivr_check_int_eq(nb1->rate_hz, 8000);
		ivr_check_int_eq(wb1->rate_hz, 16000);
		ivr_check_near((double)wb1->n_samples, 16000, 2);
		double w6 = ivr_goertzel_pow(wb1->samples + 2000, 12000, 16000, 6000);
		double w1 = ivr_goertzel_pow(wb1->samples + 2000, 12000, 16000, 1000);
		double n1 = ivr_goertzel_pow(nb1->samples + 1000, 6000, 8000, 1000);
		/* both tones at 0.3: (0.3/2)^2 each at 16 kHz; 1 kHz alone survives at 8 kHz */
		ivr_check_near(w6 / w1, 1.0, 0.1);
		ivr_check_near(n1 / w1, 1.0, 0.1);
	}
	ivr_check_int_eq(ivr_prompt_cache_reload(pc), 2);
	struct ivr_prompt *wb3 = ivr_prompt_get_at(pc, path, 16000, err, sizeof(err));
	ivr_check(wb3 && wb3 != wb1 && wb3->rate_hz == 16000);
	ivr_prompt_unref(nb1);
	ivr_prompt_unref(nb2);
	ivr_prompt_unref(wb1);
	ivr_prompt_unref(wb2);
	ivr_prompt_unref(wb3);
	ivr_prompt_cache_sweep(pc);
	return finish(pc, path);
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_load_share_convert);
	ivr_test_run(test_errors);
	ivr_test_run(test_reload_keeps_playing_version);
	ivr_test_run(test_one_copy_per_rate);
	return ivr_test_summary();
}
