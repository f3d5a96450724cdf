/* SPDX-License-Identifier: MIT */
/* engine/prompt.c - shared prompt cache with retire-on-reload; see prompt.h. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp/wav.h"
#include "engine/prompt.h"

struct ivr_prompt_cache {
	pthread_mutex_t lock; /* control threads only (API users may be several) */
	uint32_t rate_hz;
	struct ivr_prompt **cur;
	size_t n_cur, cap_cur;
	struct ivr_prompt **retired;
	size_t n_retired, cap_retired;
};

struct ivr_prompt_cache *ivr_prompt_cache_new(uint32_t rate_hz)
{
	struct ivr_prompt_cache *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return NULL;
	pthread_mutex_init(&pc->lock, NULL);
	pc->rate_hz = rate_hz;
	return pc;
}

static void prompt_free(struct ivr_prompt *p)
{
	if (!p)
		return;
	free(p->samples);
	free(p);
}

void ivr_prompt_cache_free(struct ivr_prompt_cache *pc)
{
	if (!pc)
		return;
	for (size_t i = 0; i < pc->n_cur; i++)
		prompt_free(pc->cur[i]);
	for (size_t i = 0; i < pc->n_retired; i++)
		prompt_free(pc->retired[i]);
	free(pc->cur);
	free(pc->retired);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
}

static struct ivr_prompt *load(const char *path, uint32_t rate_hz, char *err, size_t err_len)
{
	struct ivr_audio a;
	char why[160] = "";
	int r = ivr_wav_read(&a, path, rate_hz, why, sizeof(why));
	if (r < 0) {
		if (err)
			snprintf(err, err_len, "%s: %s", path, why[0] ? why : ivr_strerror(r));
		errno = -r;
		return NULL;
	}
	size_t plen = strlen(path) + 1;
	struct ivr_prompt *p = malloc(sizeof(*p) + plen);
	if (!p) {
		ivr_audio_free(&a);
		errno = ENOMEM;
		return NULL;
	}
	p->samples = a.samples;
	p->n_samples = a.n_samples;
	p->rate_hz = a.rate_hz;
	atomic_init(&p->refs, 1);
	memcpy(p->path, path, plen);
	return p;
}

static int push(struct ivr_prompt ***arr, size_t *n, size_t *cap, struct ivr_prompt *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *na = realloc(*arr, nc * sizeof(**arr));
		if (!na)
			return -ENOMEM;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

struct ivr_prompt *ivr_prompt_get(struct ivr_prompt_cache *pc, const char *path, char *err,
				  size_t err_len)
{
	return ivr_prompt_get_at(pc, path, 0, err, err_len);
}

struct ivr_prompt *ivr_prompt_get_at(struct ivr_prompt_cache *pc, const char *path,
				     uint32_t rate_hz, char *err, size_t err_len)
{
	if (!pc || !path || !*path) {
		if (err)
			snprintf(err, err_len, "no prompt file given");
		errno = EINVAL;
		return NULL;
	}
	if (!rate_hz)
		rate_hz = pc->rate_hz;
	pthread_mutex_lock(&pc->lock);
	struct ivr_prompt *p = NULL;
	for (size_t i = 0; i < pc->n_cur; i++)
		if (pc->cur[i]->rate_hz == rate_hz && !strcmp(pc->cur[i]->path, path)) {
			p = pc->cur[i];
			break;
		}
	if (!p) {
		p = load(path, rate_hz, err, err_len);
		if (p && push(&pc->cur, &pc->n_cur, &pc->cap_cur, p) < 0) {
			prompt_free(p);
			p = NULL;
			errno = ENOMEM;
		}
	}
	if (p)
		atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&pc->lock);
	return p;
}

int ivr_prompt_cache_reload(struct ivr_prompt_cache *pc)
{
	int n = 0;
	pthread_mutex_lock(&pc->lock);
	for (size_t i = 0; i < pc->n_cur; i++) {
		struct ivr_prompt *np = load(pc->cur[i]->path, pc->cur[i]->rate_hz, NULL, 0);
		if (!np)
			continue;
		if (push(&pc->retired, &pc->n_retired, &pc->cap_retired, pc->cur[i]) < 0) {
			prompt_free(np);
			continue;
		}
		/* The cache's reference moves to the new version; calls keep theirs. */
		atomic_fetch_sub_explicit(&pc->cur[i]->refs, 1, memory_order_relaxed);
		pc->cur[i] = np;
		n++;
	}
	pthread_mutex_unlock(&pc->lock);
	ivr_prompt_cache_sweep(pc);
	return n;
}

void ivr_prompt_cache_sweep(struct ivr_prompt_cache *pc)
{
	pthread_mutex_lock(&pc->lock);
	size_t j = 0;
	for (size_t i = 0; i < pc->n_retired; i++) {
		struct ivr_prompt *p = pc->retired[i];
		/* acquire: pairs with the media thread's release in ivr_prompt_unref() */
		if (atomic_load_explicit(&p->refs, memory_order_acquire) <= 0)
			prompt_free(p);
		else
			pc->retired[j++] = p;
	}
	pc->n_retired = j;
	pthread_mutex_unlock(&pc->lock);
}

size_t ivr_prompt_cache_count(const struct ivr_prompt_cache *pc)
{
	return pc ? pc->n_cur : 0;
}
