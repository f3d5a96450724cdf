/* SPDX-License-Identifier: MIT */
/* engine/mixer.c - lock-free N-1 conference mixing; see mixer.h. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp/resample.h"
#include "engine/mixer.h"

struct conf {
	char name[64];
	atomic_uint members[IVR_CONF_MAX_MEMBERS]; /* slot + 1, 0 = empty */
	int n;					   /* control-side count */
};

struct ivr_mixer {
	pthread_mutex_t lock; /* control side only */
	uint8_t *base;
	size_t stride;
	uint32_t n_slots;
	uint32_t max_confs;
	struct conf confs[];
};

static inline struct ivr_mix_port *port(const struct ivr_mixer *m, uint32_t slot)
{
	return (struct ivr_mix_port *)(m->base + (size_t)slot * m->stride);
}

struct ivr_mixer *ivr_mixer_new(uint32_t max_confs)
{
	if (!max_confs) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_mixer *m = calloc(1, sizeof(*m) + max_confs * sizeof(struct conf));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->max_confs = max_confs;
	return m;
}

void ivr_mixer_free(struct ivr_mixer *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void ivr_mixer_set_ports(struct ivr_mixer *m, void *base, size_t stride, uint32_t n_slots)
{
	m->base = base;
	m->stride = stride;
	m->n_slots = n_slots;
}

static void set_flags(struct ivr_mix_port *p, bool listen, bool speak, int64_t speak_to_slot)
{
	atomic_store_explicit(&p->listen, listen, memory_order_relaxed);
	atomic_store_explicit(&p->speak, speak, memory_order_relaxed);
	atomic_store_explicit(&p->speak_to, speak_to_slot >= 0 ? (unsigned)speak_to_slot + 1 : 0,
			      memory_order_relaxed);
}

void ivr_mix_port_set_alt(struct ivr_mix_port *p, struct ivr_resampler *rs, void *alt)
{
	p->alt_rs = rs;
	p->alt = alt;
	p->alt_n = 0;
	atomic_store(&p->alt_seq, 0);
	for (int i = 0; i < IVR_MIX_RING; i++)
		atomic_store(&p->alt_stamp[i], 0);
}

/*
 * Members of @c publish a copy at the other rate while the conference holds
 * both rates.  Lock held.
 */
static void update_rates(struct ivr_mixer *m, struct conf *c)
{
	bool nb = false, wb = false;
	for (int i = 0; i < IVR_CONF_MAX_MEMBERS; i++) {
		unsigned s1 = atomic_load(&c->members[i]);
		if (!s1)
			continue;
		if (port(m, s1 - 1)->rate_hz == 16000)
			wb = true;
		else
			nb = true;
	}
	for (int i = 0; i < IVR_CONF_MAX_MEMBERS; i++) {
		unsigned s1 = atomic_load(&c->members[i]);
		if (s1)
			atomic_store_explicit(&port(m, s1 - 1)->want_alt, nb && wb,
					      memory_order_relaxed);
	}
}

static int leave_locked(struct ivr_mixer *m, uint32_t slot)
{
	struct ivr_mix_port *p = port(m, slot);
	int ci = atomic_load(&p->conf) - 1;
	if (ci < 0)
		return -ENOENT;
	struct conf *c = &m->confs[ci];
	for (int i = 0; i < IVR_CONF_MAX_MEMBERS; i++)
		if (atomic_load(&c->members[i]) == slot + 1) {
			atomic_store(&c->members[i], 0);
			c->n--;
		}
	atomic_store(&p->conf, 0);
	atomic_store(&p->want_alt, false);
	update_rates(m, c);
	if (c->n <= 0) {
		c->n = 0;
		c->name[0] = 0;
	}
	return 0;
}

int ivr_mixer_join(struct ivr_mixer *m, const char *name, uint32_t slot, bool listen, bool speak,
		   int64_t speak_to_slot)
{
	if (!m || !name || !*name || strlen(name) >= sizeof(m->confs[0].name) ||
	    slot >= m->n_slots || speak_to_slot >= (int64_t)m->n_slots)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	leave_locked(m, slot);
	int ci = -1, free_ci = -1;
	for (uint32_t i = 0; i < m->max_confs; i++) {
		if (m->confs[i].name[0] && !strcmp(m->confs[i].name, name)) {
			ci = (int)i;
			break;
		}
		if (!m->confs[i].name[0] && free_ci < 0)
			free_ci = (int)i;
	}
	if (ci < 0) {
		if (free_ci < 0) {
			pthread_mutex_unlock(&m->lock);
			return -ENOSPC;
		}
		ci = free_ci;
		snprintf(m->confs[ci].name, sizeof(m->confs[ci].name), "%s", name);
	}
	struct conf *c = &m->confs[ci];
	int at = -1;
	for (int i = 0; i < IVR_CONF_MAX_MEMBERS && at < 0; i++)
		if (atomic_load(&c->members[i]) == 0)
			at = i;
	if (at < 0) {
		if (c->n == 0)
			c->name[0] = 0;
		pthread_mutex_unlock(&m->lock);
		return -ENOSPC;
	}
	struct ivr_mix_port *p = port(m, slot);
	set_flags(p, listen, speak, speak_to_slot);
	atomic_store(&p->conf, ci + 1);
	/* seq_cst store: flags above are visible before other members can see us */
	atomic_store(&c->members[at], slot + 1);
	c->n++;
	update_rates(m, c);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int ivr_mixer_flags(struct ivr_mixer *m, uint32_t slot, bool listen, bool speak,
		    int64_t speak_to_slot)
{
	if (!m || slot >= m->n_slots || speak_to_slot >= (int64_t)m->n_slots)
		return -EINVAL;
	struct ivr_mix_port *p = port(m, slot);
	if (atomic_load(&p->conf) == 0)
		return -ENOENT;
	set_flags(p, listen, speak, speak_to_slot);
	return 0;
}

int ivr_mixer_leave(struct ivr_mixer *m, uint32_t slot)
{
	if (!m || slot >= m->n_slots)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	int r = leave_locked(m, slot);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ivr_mixer_count(struct ivr_mixer *m, const char *name)
{
	int n = -ENOENT;
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < m->max_confs; i++)
		if (m->confs[i].name[0] && !strcmp(m->confs[i].name, name))
			n = m->confs[i].n;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/*
 * Seqlock write of one ring slot: stamp 0 while the frame is written, the
 * tick (+ 1) once it is complete.  A reader that sees the same non-zero
 * stamp before and after its copy has a whole frame of that tick.
 */
static void slot_begin(atomic_uint_fast64_t *stamp)
{
	atomic_store_explicit(stamp, 0, memory_order_relaxed);
	/* release fence: the 0 is visible before any of the new frame's samples */
	atomic_thread_fence(memory_order_release);
}

void ivr_mix_port_publish(struct ivr_mix_port *p, uint64_t tick, const float *frame,
			  size_t n_samples)
{
	const size_t i = tick % IVR_MIX_RING;
	n_samples = IVR_MIN(n_samples, (size_t)IVR_MIX_FRAME_MAX);
	slot_begin(&p->stamp[i]);
	memcpy(p->frames[i], frame, n_samples * sizeof(float));
	p->n_samples = (uint32_t)n_samples;
	/* release: the frame is written before readers can see its tick */
	atomic_store_explicit(&p->stamp[i], tick + 1, memory_order_release);
	atomic_store_explicit(&p->seq, tick + 1, memory_order_release);
	if (!atomic_load_explicit(&p->want_alt, memory_order_relaxed) || !p->alt_rs)
		return;
	slot_begin(&p->alt_stamp[i]);
	float *a = p->alt[i];
	int k = ivr_resampler_process(p->alt_rs, frame, n_samples, a, IVR_MIX_ALT_FRAME);
	if (k <= 0)
		return;
	/* speexdsp may return a sample less or more than 2:1 in a frame: pad/cut to 20 ms */
	const size_t want = p->rate_hz == 16000 ? n_samples / 2 : n_samples * 2;
	for (size_t j = (size_t)k; j < want && j < IVR_MIX_FRAME_MAX; j++)
		a[j] = a[k - 1];
	p->alt_n = (uint32_t)IVR_MIN(want, (size_t)IVR_MIX_FRAME_MAX);
	atomic_store_explicit(&p->alt_stamp[i], tick + 1, memory_order_release);
	atomic_store_explicit(&p->alt_seq, tick + 1, memory_order_release);
}

/*
 * Copy the frame of @tick from @frames/@stamp into @dst (@n samples).
 * @return false when the ring does not hold it whole: never published (the
 * member's worker skipped or has not yet run that tick), or overwritten
 * while we read (we ran more than IVR_MIX_RING - IVR_MIX_DELAY_MAX ticks late).
 */
static bool read_frame(const atomic_uint_fast64_t *stamp, const float *frame, uint64_t tick,
		       float *dst, size_t n)
{
	/* acquire: pairs with publish's release store, the frame is complete */
	if (atomic_load_explicit(stamp, memory_order_acquire) != tick + 1)
		return false;
	memcpy(dst, frame, n * sizeof(float));
	/* acquire fence: the copy is done before the stamp is read again */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(stamp, memory_order_relaxed) == tick + 1;
}

/* The frame of @tick in @o's ring at @n samples (its own, or its copy at the other rate). */
static bool read_member(const struct ivr_mix_port *o, bool same, uint64_t tick, float *dst,
			size_t n)
{
	const size_t ri = tick % IVR_MIX_RING;
	return same ? read_frame(&o->stamp[ri], o->frames[ri], tick, dst, n)
		    : read_frame(&o->alt_stamp[ri], o->alt[ri], tick, dst, n);
}

static bool has_frame(const struct ivr_mix_port *o, bool same, uint64_t tick)
{
	const size_t ri = tick % IVR_MIX_RING;
	return atomic_load_explicit(same ? &o->stamp[ri] : &o->alt_stamp[ri],
				    memory_order_acquire) == tick + 1;
}

static bool quiet(const float *f, size_t n)
{
	float peak = 0;
	for (size_t k = 0; k < n; k++)
		peak = fmaxf(peak, fabsf(f[k]));
	return peak < 5e-3f; /* -46 dBFS: a pause in speech, or line noise */
}

int ivr_mixer_mix(const struct ivr_mixer *m, uint32_t slot, uint64_t tick, float *acc,
		  size_t n_samples)
{
	struct ivr_mix_port *me = port(m, slot);
	int ci = atomic_load_explicit(&me->conf, memory_order_relaxed) - 1;
	if (ci < 0 || !atomic_load_explicit(&me->listen, memory_order_relaxed) ||
	    tick < IVR_MIX_DELAY_MIN)
		return 0;
	const struct conf *c = &m->confs[ci];
	float f[IVR_MIX_FRAME_MAX];
	int mixed = 0;
	for (int i = 0; i < IVR_CONF_MAX_MEMBERS; i++) {
		unsigned s1 = atomic_load_explicit(&c->members[i], memory_order_acquire);
		if (s1 == 0 || s1 - 1 == slot || s1 - 1 >= m->n_slots)
			continue;
		const struct ivr_mix_port *o = port(m, s1 - 1);
		if (!atomic_load_explicit(&o->speak, memory_order_relaxed))
			continue;
		unsigned to = atomic_load_explicit(&o->speak_to, memory_order_relaxed);
		if (to != 0 && to != slot + 1)
			continue; /* whispering to someone else */
		/* a member at the other rate: its converted copy (mixer.h, mixed rates) */
		const bool same = o->n_samples == n_samples;
		if (!same && (!o->alt || o->alt_n != n_samples))
			continue;
		size_t n = IVR_MIN(n_samples, (size_t)(same ? o->n_samples : o->alt_n));
		typeof(me->heard[0]) *h = &me->heard[i];
		if (h->slot1 != s1) {
			h->slot1 = s1;
			h->missed = 0;
			h->on_time = 0;
			h->delay = IVR_MIX_DELAY_MIN;
		}
		/* its frame missed at the last tick has come since: it runs late, hear it now */
		if (h->delay == IVR_MIX_DELAY_MIN && h->missed &&
		    h->missed == (uint32_t)(tick - 1) && has_frame(o, same, tick - 2)) {
			h->delay = IVR_MIX_DELAY_MAX;
			h->on_time = 0;
		}
		h->missed = 0;
		if (tick < h->delay)
			continue;
		const uint64_t want = tick - h->delay;
		if (!read_member(o, same, want, f, n)) {
			if (h->delay == IVR_MIX_DELAY_MIN)
				h->missed = (uint32_t)want + 1; /* late, or its worker skipped it */
			continue; /* silence for this member this tick */
		}
		for (size_t k = 0; k < n; k++)
			acc[k] += f[k];
		mixed++;
		if (h->delay == IVR_MIX_DELAY_MAX) {
			/* shrink back over a quiet frame once it has kept time for a while */
			if (!has_frame(o, same, want + 1))
				h->on_time = 0;
			else if (h->on_time < IVR_MIX_SHRINK_TICKS)
				h->on_time++;
			else if (read_member(o, same, want + 1, f, n) && quiet(f, n))
				h->delay = IVR_MIX_DELAY_MIN; /* want + 1 is dropped */
		}
	}
	return mixed;
}
