/* SPDX-License-Identifier: MIT */
/* engine/recorder.c - per-worker SPSC rings to a WAV writer thread; see recorder.h. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dsp/g711.h"
#include "dsp/wav.h"
#include "engine/recorder.h"

struct rec_rec {
	uint32_t slot;
	uint32_t rec_id;
	uint16_t n_samples;
	uint8_t end;
	int16_t caller[IVR_REC_FRAME_MAX];
	int16_t engine[IVR_REC_FRAME_MAX];
};

struct rec_ring {
	/* head: written by the producer (media thread), tail by the writer. */
	_Alignas(64) atomic_uint_fast32_t head;
	_Alignas(64) atomic_uint_fast32_t tail;
	_Alignas(64) uint64_t dropped; /* producer-owned */
	struct rec_rec *recs;
};

struct rec_file {
	FILE *f;
	uint32_t rec_id;
	unsigned channels;
	uint32_t rate_hz;
	uint64_t n_frames; /* sample frames written */
};

struct ivr_recorder {
	unsigned n_rings;
	uint32_t mask;
	uint32_t max_slots;
	struct rec_ring *rings;
	pthread_mutex_t lock; /* guards files[] between control and the writer */
	struct rec_file *files;
	atomic_uint next_id;
	atomic_bool stop;
	pthread_t thread;
	atomic_uint_fast64_t written, errors, opened, closed;
};

static unsigned n_channels(unsigned mask)
{
	return (unsigned)__builtin_popcount(mask);
}

static void close_file(struct ivr_recorder *r, struct rec_file *rf)
{
	if (!rf->f)
		return;
	/* the header again, now with the length (ivr_wav_header() caps it at 4 GiB) */
	uint8_t h[IVR_WAV_HEADER_MAX];
	uint64_t bytes = rf->n_frames * n_channels(rf->channels) * 2;
	int hl = ivr_wav_header(h, n_channels(rf->channels), rf->rate_hz, IVR_WAV_PCM16,
				(uint32_t)IVR_MIN(bytes, (uint64_t)UINT32_MAX));
	if (hl < 0 || fseek(rf->f, 0, SEEK_SET) != 0 ||
	    fwrite(h, 1, (size_t)hl, rf->f) != (size_t)hl)
		atomic_fetch_add(&r->errors, 1);
	if (fclose(rf->f) != 0)
		atomic_fetch_add(&r->errors, 1);
	rf->f = NULL;
	atomic_fetch_add(&r->closed, 1);
}

static void write_rec(struct ivr_recorder *r, const struct rec_rec *rr)
{
	if (rr->slot >= r->max_slots)
		return;
	pthread_mutex_lock(&r->lock);
	struct rec_file *rf = &r->files[rr->slot];
	if (rf->f && rf->rec_id == rr->rec_id) {
		int16_t buf[IVR_REC_FRAME_MAX * 3];
		unsigned nc = n_channels(rf->channels);
		for (unsigned i = 0; i < rr->n_samples; i++) {
			unsigned k = 0;
			if (rf->channels & IVR_REC_CALLER)
				buf[i * nc + k++] = rr->caller[i];
			if (rf->channels & IVR_REC_ENGINE)
				buf[i * nc + k++] = rr->engine[i];
			if (rf->channels & IVR_REC_MIXED) {
				int m = rr->caller[i] + rr->engine[i];
				buf[i * nc + k++] = (int16_t)IVR_CLAMP(m, -32768, 32767);
			}
		}
		if (rr->n_samples && fwrite(buf, 2 * nc, rr->n_samples, rf->f) != rr->n_samples)
			atomic_fetch_add(&r->errors, 1);
		rf->n_frames += rr->n_samples;
		atomic_fetch_add(&r->written, 1);
		if (rr->end)
			close_file(r, rf);
	}
	pthread_mutex_unlock(&r->lock);
}

static int drain(struct ivr_recorder *r)
{
	int n = 0;
	for (unsigned i = 0; i < r->n_rings; i++) {
		struct rec_ring *q = &r->rings[i];
		uint32_t tail = (uint32_t)atomic_load_explicit(&q->tail, memory_order_relaxed);
		/* acquire: the record's contents were written before the producer's head store */
		uint32_t head = (uint32_t)atomic_load_explicit(&q->head, memory_order_acquire);
		while (tail != head) {
			write_rec(r, &q->recs[tail & r->mask]);
			tail++;
			n++;
		}
		/* release: we are done reading the records before the producer may reuse them */
		atomic_store_explicit(&q->tail, tail, memory_order_release);
	}
	return n;
}

static void *writer_main(void *arg)
{
	struct ivr_recorder *r = arg;
	while (!atomic_load(&r->stop)) {
		if (drain(r) == 0) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	drain(r);
	return NULL;
}

struct ivr_recorder *ivr_recorder_new(unsigned n_rings, uint32_t ring_frames, uint32_t max_slots)
{
	if (n_rings == 0 || ring_frames == 0 || max_slots == 0) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t n = 1;
	while (n < ring_frames)
		n <<= 1;
	struct ivr_recorder *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->n_rings = n_rings;
	r->mask = n - 1;
	r->max_slots = max_slots;
	r->rings = aligned_alloc(64, IVR_ROUND_UP(sizeof(*r->rings) * n_rings, 64));
	r->files = calloc(max_slots, sizeof(*r->files));
	if (!r->rings || !r->files)
		goto fail;
	memset(r->rings, 0, sizeof(*r->rings) * n_rings);
	for (unsigned i = 0; i < n_rings; i++) {
		r->rings[i].recs = calloc(n, sizeof(struct rec_rec));
		if (!r->rings[i].recs)
			goto fail;
	}
	pthread_mutex_init(&r->lock, NULL);
	if (pthread_create(&r->thread, NULL, writer_main, r) != 0) {
		pthread_mutex_destroy(&r->lock);
		goto fail;
	}
	return r;
fail:
	if (r->rings)
		for (unsigned i = 0; i < n_rings; i++)
			free(r->rings[i].recs);
	free(r->rings);
	free(r->files);
	free(r);
	errno = ENOMEM;
	return NULL;
}

void ivr_recorder_free(struct ivr_recorder *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	for (uint32_t i = 0; i < r->max_slots; i++)
		close_file(r, &r->files[i]);
	for (unsigned i = 0; i < r->n_rings; i++)
		free(r->rings[i].recs);
	pthread_mutex_destroy(&r->lock);
	free(r->rings);
	free(r->files);
	free(r);
}

int ivr_recorder_open(struct ivr_recorder *r, uint32_t slot, const char *path, unsigned channels,
		      uint32_t rate_hz, uint32_t *rec_id, char *err, size_t err_len)
{
	if (!r || slot >= r->max_slots || !path || !*path || rate_hz == 0) {
		if (err)
			snprintf(err, err_len, "record: bad arguments");
		return -EINVAL;
	}
	if (channels == 0)
		channels = IVR_REC_CALLER | IVR_REC_ENGINE | IVR_REC_MIXED;
	channels &= IVR_REC_CALLER | IVR_REC_ENGINE | IVR_REC_MIXED;
	if (channels == 0) {
		if (err)
			snprintf(err, err_len, "record: no known channel asked for");
		return -EINVAL;
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		int e = errno;
		if (err)
			snprintf(err, err_len, "record: cannot open %s: %s", path, strerror(e));
		return -e;
	}
	/* PCM16; WAVE_FORMAT_EXTENSIBLE for 3 channels, as the WAVE spec asks (dsp/wav.h) */
	uint8_t h[IVR_WAV_HEADER_MAX];
	int hl = ivr_wav_header(h, n_channels(channels), rate_hz, IVR_WAV_PCM16, 0);
	if (hl < 0 || fwrite(h, 1, (size_t)hl, f) != (size_t)hl) {
		fclose(f);
		if (err)
			snprintf(err, err_len, "record: cannot write %s", path);
		return -EIO;
	}
	pthread_mutex_lock(&r->lock);
	struct rec_file *rf = &r->files[slot];
	close_file(r, rf);
	rf->f = f;
	rf->rec_id = atomic_fetch_add(&r->next_id, 1) + 1;
	rf->channels = channels;
	rf->rate_hz = rate_hz;
	rf->n_frames = 0;
	*rec_id = rf->rec_id;
	pthread_mutex_unlock(&r->lock);
	atomic_fetch_add(&r->opened, 1);
	return 0;
}

static void to_s16(int16_t *out, const float *in, size_t n)
{
	if (!in) {
		memset(out, 0, n * sizeof(*out));
		return;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = ivr_f32_to_s16(in[i]);
}

int ivr_recorder_push(struct ivr_recorder *r, unsigned ring, uint32_t slot, uint32_t rec_id,
		      const float *caller, const float *engine, size_t n_samples, bool end)
{
	struct rec_ring *q = &r->rings[ring];
	uint32_t head = (uint32_t)atomic_load_explicit(&q->head, memory_order_relaxed);
	/* acquire: the writer finished with the record before it advanced tail */
	uint32_t tail = (uint32_t)atomic_load_explicit(&q->tail, memory_order_acquire);
	if (head - tail > r->mask) {
		q->dropped++;
		return -ENOSPC;
	}
	struct rec_rec *rr = &q->recs[head & r->mask];
	n_samples = IVR_MIN(n_samples, (size_t)IVR_REC_FRAME_MAX);
	rr->slot = slot;
	rr->rec_id = rec_id;
	rr->n_samples = (uint16_t)n_samples;
	rr->end = end;
	to_s16(rr->caller, caller, n_samples);
	to_s16(rr->engine, engine, n_samples);
	/* release: publish the record's contents with the new head */
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
	return 0;
}

void ivr_recorder_flush(struct ivr_recorder *r)
{
	for (int spins = 0; spins < 500; spins++) {
		bool empty = true;
		for (unsigned i = 0; i < r->n_rings; i++)
			if (atomic_load(&r->rings[i].head) != atomic_load(&r->rings[i].tail))
				empty = false;
		if (empty)
			break;
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* The writer may be between draining and writing: take the lock once. */
	pthread_mutex_lock(&r->lock);
	pthread_mutex_unlock(&r->lock);
}

void ivr_recorder_get_stats(struct ivr_recorder *r, struct ivr_recorder_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->frames_written = atomic_load(&r->written);
	for (unsigned i = 0; i < r->n_rings; i++)
		st->frames_dropped += r->rings[i].dropped;
	st->files_open = atomic_load(&r->opened) - atomic_load(&r->closed);
	st->files_closed = atomic_load(&r->closed);
	st->write_errors = atomic_load(&r->errors);
}
