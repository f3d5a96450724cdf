/* SPDX-License-Identifier: MIT */
/*
 * engine/prompt.h - prompt cache: WAV files decoded and converted to the call
 * rate once, at load, then shared read-only by every call that plays them.
 * The cache keeps one converted copy per (file, rate) in use: 8 kHz for
 * narrowband calls, 16 kHz for wideband Opus calls; a rate nobody plays a
 * file at is never converted.
 *
 * Loading (dsp/wav.h, libsamplerate for other rates) happens on the control
 * thread.  A call holds a reference while it plays; the media thread only
 * reads samples and drops its reference with an atomic decrement, never
 * frees.  Reload replaces each cached file with a freshly loaded version;
 * the old version is retired and freed by ivr_prompt_cache_sweep() (control
 * thread) once no call plays it any more, so a reload never cuts a prompt.
 * Music on hold is a prompt played at a position derived from the engine's
 * tick counter: one decoded copy fans out to any number of calls.
 * Thread: control, except ivr_prompt_unref() and reading samples (any).
 */
#ifndef IVR_ENGINE_PROMPT_H
#define IVR_ENGINE_PROMPT_H

#include <stdatomic.h>

#include "common/defs.h"

struct ivr_prompt {
	float *samples; /* at the cache's rate, full scale 1.0 */
	size_t n_samples;
	uint32_t rate_hz;
	atomic_int refs; /* the cache's own + one per playing call */
	char path[];
};

struct ivr_prompt_cache; /* opaque */

/** @return a new empty cache converting to @rate_hz, or NULL. Thread: control. */
struct ivr_prompt_cache *ivr_prompt_cache_new(uint32_t rate_hz);

/** Free the cache and every prompt (no call may still play one). NULL-safe. */
void ivr_prompt_cache_free(struct ivr_prompt_cache *pc);

/**
 * Get @path at the cache's rate, loading it on first use, and take a
 * reference for the caller (ivr_prompt_get_at() with rate 0).
 * @return the prompt, or NULL with errno set and a reason in @err.
 * Thread: control.
 */
struct ivr_prompt *ivr_prompt_get(struct ivr_prompt_cache *pc, const char *path, char *err,
				  size_t err_len);

/**
 * Get @path converted to @rate_hz (0 = the cache's rate), loading and
 * converting it on first use at that rate, and take a reference.  Calls at
 * the same rate share one copy.
 * @return the prompt, or NULL with errno set and a reason in @err.
 * Thread: control.
 */
struct ivr_prompt *ivr_prompt_get_at(struct ivr_prompt_cache *pc, const char *path,
				     uint32_t rate_hz, char *err, size_t err_len);

/** Drop a reference (any thread, IVR_RT: never frees). NULL-safe. */
static inline void ivr_prompt_unref(struct ivr_prompt *p)
{
	if (p)
		/* release: our reads of the samples happen before a sweep may free them */
		atomic_fetch_sub_explicit(&p->refs, 1, memory_order_release);
}

/**
 * Reload every cached file from disk; files that fail keep their old version.
 * @return the number reloaded, or a negative errno.  Thread: control.
 */
int ivr_prompt_cache_reload(struct ivr_prompt_cache *pc);

/** Free retired versions no call references any more. Thread: control. */
void ivr_prompt_cache_sweep(struct ivr_prompt_cache *pc);

/** @return the number of cached (current) prompts, one per (file, rate). */
size_t ivr_prompt_cache_count(const struct ivr_prompt_cache *pc);

#endif /* IVR_ENGINE_PROMPT_H */
