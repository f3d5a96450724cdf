/* SPDX-License-Identifier: MIT */
/*
 * engine/jitter.c - adaptive jitter buffer and G.711 Appendix I style PLC.
 * See jitter.h for the policy; the numbers below are its knobs.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "engine/jitter.h"

#define SLOT_MASK     (IVR_JB_SLOTS - 1)
#define SHRINK_TICKS  50  /* 1 s deeper than the target before dropping a frame */
#define RELAX_TICKS   100 /* 2 s without late packets before the target decays */
#define IDLE_TICKS    10  /* 200 ms with an empty buffer: the stream stopped */
#define RESYNC_FRAMES (4 * IVR_JB_SLOTS)

struct jb_slot {
	uint32_t ts;
	uint16_t seq;
	uint16_t n_bytes;
	uint8_t used;
	uint8_t marker;
	uint8_t played; /* seq is the frame already played from here: spots late duplicates */
};

struct ivr_jb {
	struct ivr_jb_cfg cfg;
	struct jb_slot slots[IVR_JB_SLOTS];
	bool started; /* a packet anchored the playout clock */
	bool playing; /* prefill done */
	uint32_t prefill_ticks;
	uint32_t play_ts;  /* timestamp of the frame due next */
	uint32_t play_idx; /* its slot */
	uint32_t n_used;
	uint32_t target;      /* frames */
	uint32_t late_target; /* floor raised by late packets, decays */
	uint32_t over_ticks, calm_ticks, idle_ticks;
	bool have_transit;
	uint32_t transit;
	uint32_t jitter_q4;
	struct ivr_jb_stats st;
	uint8_t data[]; /* IVR_JB_SLOTS * max_payload */
};

static int fill_cfg(struct ivr_jb_cfg *c, const struct ivr_jb_cfg *in)
{
	struct ivr_jb_cfg z = { 0 };
	*c = in ? *in : z;
	if (!c->clock_hz)
		c->clock_hz = 8000;
	if (!c->frame_units)
		c->frame_units = c->clock_hz / 50;
	if (!c->min_frames)
		c->min_frames = 1;
	if (!c->max_frames)
		c->max_frames = 10;
	if (!c->max_payload)
		c->max_payload = 320;
	if (c->max_frames > IVR_JB_SLOTS / 2 || c->min_frames > c->max_frames ||
	    c->max_payload > IVR_JB_MAX_PAYLOAD || c->frame_units == 0)
		return -EINVAL;
	return 0;
}

size_t ivr_jb_size(const struct ivr_jb_cfg *cfg)
{
	struct ivr_jb_cfg c;
	if (fill_cfg(&c, cfg) < 0)
		return 0;
	return IVR_ROUND_UP(sizeof(struct ivr_jb) + (size_t)IVR_JB_SLOTS * c.max_payload, 64);
}

int ivr_jb_init(struct ivr_jb *jb, size_t size, const struct ivr_jb_cfg *cfg)
{
	struct ivr_jb_cfg c;
	if (!jb || fill_cfg(&c, cfg) < 0 || size < ivr_jb_size(&c))
		return -EINVAL;
	memset(jb, 0, sizeof(*jb));
	jb->cfg = c;
	ivr_jb_reset(jb);
	return 0;
}

void ivr_jb_reset(struct ivr_jb *jb)
{
	struct ivr_jb_cfg c = jb->cfg;
	memset(jb, 0, sizeof(*jb));
	jb->cfg = c;
	jb->target = c.min_frames > 2 ? c.min_frames : IVR_MIN(2u, c.max_frames);
	jb->late_target = jb->target;
}

static void flush(struct ivr_jb *jb)
{
	for (unsigned i = 0; i < IVR_JB_SLOTS; i++)
		jb->slots[i].used = jb->slots[i].played = 0;
	jb->n_used = 0;
}

static void anchor(struct ivr_jb *jb, uint32_t ts)
{
	jb->started = true;
	jb->playing = false;
	jb->prefill_ticks = 0;
	jb->play_ts = ts;
	jb->play_idx = 0;
	jb->idle_ticks = 0;
}

int ivr_jb_put(struct ivr_jb *jb, uint16_t seq, uint32_t ts, bool marker, const void *payload,
	       size_t n_bytes, uint32_t arrival)
{
	if (!jb || (n_bytes && !payload))
		return -EINVAL;
	if (n_bytes > jb->cfg.max_payload) {
		jb->st.too_big++;
		return -EMSGSIZE;
	}
	const uint32_t frame = jb->cfg.frame_units;
	if (!jb->started)
		anchor(jb, ts);
	int32_t diff = (int32_t)(ts - jb->play_ts);
	/* Round to whole frames: some senders' timestamps are not frame-aligned. */
	int64_t k = diff >= 0 ? ((int64_t)diff + frame / 2) / frame
			      : -(((int64_t)-diff + frame / 2) / frame);
	if (k < -(int64_t)RESYNC_FRAMES || k >= (int64_t)RESYNC_FRAMES ||
	    (k >= IVR_JB_SLOTS && jb->n_used == 0)) {
		/* The sender restarted or jumped: follow it. */
		flush(jb);
		anchor(jb, ts);
		jb->st.resyncs++;
		k = 0;
	} else if (k < 0) {
		struct jb_slot *old = &jb->slots[(jb->play_idx + (uint32_t)k) & SLOT_MASK];
		if (k > -IVR_JB_SLOTS && old->played && old->seq == seq) {
			jb->st.duplicates++;
			return -EEXIST;
		}
		jb->st.late++;
		/* Packets arrive later than the depth allows: deepen now, hold one frame. */
		if (jb->late_target < jb->cfg.max_frames)
			jb->late_target++;
		jb->calm_ticks = 0;
		return -ERANGE;
	} else if (k >= IVR_JB_SLOTS) {
		/* Burst beyond the window: drop the oldest frames to make room. */
		int64_t drop = k - IVR_JB_SLOTS + 1;
		for (int64_t i = 0; i < drop; i++) {
			struct jb_slot *s = &jb->slots[jb->play_idx];
			if (s->used) {
				s->used = 0;
				jb->n_used--;
			}
			jb->play_idx = (jb->play_idx + 1) & SLOT_MASK;
			jb->play_ts += frame;
			jb->st.dropped_adapt++;
		}
		k = IVR_JB_SLOTS - 1;
	}
	uint32_t idx = (jb->play_idx + (uint32_t)k) & SLOT_MASK;
	struct jb_slot *s = &jb->slots[idx];
	uint32_t slot_ts = jb->play_ts + (uint32_t)k * frame;
	if (s->used && s->seq == seq) {
		jb->st.duplicates++;
		return -EEXIST;
	}
	if (!s->used)
		jb->n_used++;
	s->used = 1;
	s->played = 0;
	s->ts = slot_ts;
	s->seq = seq;
	s->marker = marker;
	s->n_bytes = (uint16_t)n_bytes;
	if (n_bytes)
		memcpy(jb->data + (size_t)idx * jb->cfg.max_payload, payload, n_bytes);
	jb->st.received++;
	/* RFC 3550 A.8 estimate on arrivals (not on playout). */
	uint32_t transit = arrival - ts;
	if (jb->have_transit) {
		int32_t d = (int32_t)(transit - jb->transit);
		if (d < 0)
			d = -d;
		jb->jitter_q4 += (uint32_t)d - ((jb->jitter_q4 + 8) >> 4);
	}
	jb->transit = transit;
	jb->have_transit = true;
	return 0;
}

static void adapt(struct ivr_jb *jb)
{
	const uint32_t frame = jb->cfg.frame_units;
	uint32_t j = jb->jitter_q4 >> 4;
	/* 3 J covers ~99% of arrivals for the near-Gaussian jitter of real paths. */
	uint32_t tj = 1 + (3 * j + frame / 2) / frame;
	if (++jb->calm_ticks >= RELAX_TICKS && jb->late_target > jb->cfg.min_frames) {
		jb->late_target--;
		jb->calm_ticks = 0;
	}
	uint32_t t = IVR_MAX(tj, jb->late_target);
	jb->target = IVR_CLAMP(t, jb->cfg.min_frames, jb->cfg.max_frames);
	/*
	 * After this tick's frame left, target - 1 frames should remain; holding
	 * `target` or more for a whole second means the delay can shrink.
	 */
	if (jb->n_used >= jb->target) {
		if (++jb->over_ticks >= SHRINK_TICKS) {
			/* Too deep for the measured jitter: drop the frame due next. */
			struct jb_slot *s = &jb->slots[jb->play_idx];
			if (s->used) {
				s->used = 0;
				jb->n_used--;
			}
			jb->play_idx = (jb->play_idx + 1) & SLOT_MASK;
			jb->play_ts += frame;
			jb->st.dropped_adapt++;
			jb->over_ticks = 0;
		}
	} else {
		jb->over_ticks = 0;
	}
}

int ivr_jb_get(struct ivr_jb *jb, void *out, size_t cap, size_t *n_bytes, uint32_t *ts)
{
	if (n_bytes)
		*n_bytes = 0;
	if (!jb->started)
		return IVR_JB_EMPTY;
	if (!jb->playing) {
		/* Prefill: hold the first frame for target-1 ticks. */
		if (jb->prefill_ticks + 1 < jb->target) {
			jb->prefill_ticks++;
			return IVR_JB_EMPTY;
		}
		jb->playing = true;
	}
	if (ts)
		*ts = jb->play_ts;
	/* A late packet raised the target above what is buffered: stretch one frame. */
	if (jb->late_target > jb->target && jb->late_target <= jb->cfg.max_frames) {
		jb->target = jb->late_target;
		jb->st.missing++;
		return IVR_JB_MISSING;
	}
	struct jb_slot *s = &jb->slots[jb->play_idx];
	int res;
	if (s->used && s->ts == jb->play_ts) {
		size_t n = IVR_MIN((size_t)s->n_bytes, cap);
		memcpy(out, jb->data + (size_t)jb->play_idx * jb->cfg.max_payload, n);
		if (n_bytes)
			*n_bytes = n;
		s->used = 0;
		s->played = 1;
		jb->n_used--;
		jb->st.played++;
		jb->idle_ticks = 0;
		res = IVR_JB_FRAME;
	} else {
		jb->st.missing++;
		res = IVR_JB_MISSING;
		if (jb->n_used == 0 && ++jb->idle_ticks > IDLE_TICKS) {
			/* The stream stopped (hold, DTX, hang-up): wait for it afresh. */
			jb->started = false;
			jb->st.missing--;
			return IVR_JB_EMPTY;
		}
	}
	jb->play_idx = (jb->play_idx + 1) & SLOT_MASK;
	jb->play_ts += jb->cfg.frame_units;
	adapt(jb);
	return res;
}

bool ivr_jb_peek(const struct ivr_jb *jb, void *out, size_t cap, size_t *n_bytes, uint32_t *ts)
{
	if (!jb->started || !jb->playing)
		return false;
	const struct jb_slot *s = &jb->slots[jb->play_idx];
	if (!s->used || s->ts != jb->play_ts)
		return false;
	size_t n = IVR_MIN((size_t)s->n_bytes, cap);
	memcpy(out, jb->data + (size_t)jb->play_idx * jb->cfg.max_payload, n);
	*n_bytes = n;
	*ts = s->ts;
	return true;
}

void ivr_jb_get_stats(const struct ivr_jb *jb, struct ivr_jb_stats *st)
{
	*st = jb->st;
	st->target_frames = jb->target;
	st->depth_frames = jb->n_used;
	st->jitter_units = jb->jitter_q4 >> 4;
}

struct ivr_jb *ivr_jb_new(const struct ivr_jb_cfg *cfg)
{
	size_t n = ivr_jb_size(cfg);
	if (!n) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_jb *jb = aligned_alloc(64, n);
	if (!jb)
		return NULL;
	if (ivr_jb_init(jb, n, cfg) < 0) {
		free(jb);
		errno = EINVAL;
		return NULL;
	}
	return jb;
}

void ivr_jb_free(struct ivr_jb *jb)
{
	free(jb);
}

/* ---- PLC ---- */

int ivr_plc_init(struct ivr_plc *p, uint32_t rate_hz)
{
	if (!p || (rate_hz != 8000 && rate_hz != 16000))
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->rate_hz = rate_hz;
	return 0;
}

static void hist_push(struct ivr_plc *p, const float *x, size_t n)
{
	/* A plain ring, written once in runs up to the wrap: every good frame passes here, a
	 * loss is rare, so unrolling the ring waits for a loss (ivr_plc_conceal).  The former
	 * mirrored ring (each sample stored twice, so the history was always contiguous) wrote
	 * twice the bytes per frame: its two memcpy were 1.4% of engine samples at 1000 calls,
	 * and the second half of the ring 2 KiB of every call's hot slot. */
	uint32_t pos = p->hist_pos;
	if (n > IVR_PLC_HIST) {
		x += n - IVR_PLC_HIST;
		n = IVR_PLC_HIST;
	}
	while (n) {
		size_t k = IVR_MIN(n, (size_t)(IVR_PLC_HIST - pos));
		memcpy(p->hist + pos, x, k * sizeof(float));
		pos += (uint32_t)k;
		x += k;
		n -= k;
		if (pos == IVR_PLC_HIST)
			pos = 0;
	}
	p->hist_pos = pos;
}

/* The history oldest first into @out (IVR_PLC_HIST samples). */
static void hist_unroll(const struct ivr_plc *p, float *out)
{
	const uint32_t k = IVR_PLC_HIST - p->hist_pos;
	memcpy(out, p->hist + p->hist_pos, k * sizeof(float));
	memcpy(out + k, p->hist, p->hist_pos * sizeof(float));
}

/* Normalised cross-correlation pitch search over 5..15 ms (Appendix I's range); @end is one
 * past the newest history sample, with IVR_PLC_HIST samples before it. */
static uint32_t find_pitch(const struct ivr_plc *p, const float *end)
{
	const uint32_t minlag = p->rate_hz / 200, maxlag = p->rate_hz * 15 / 1000;
	const uint32_t w = p->rate_hz / 100; /* 10 ms correlation window */
	const float *x = end - w;
	uint32_t best = maxlag;
	float best_score = -1e30f;
	for (uint32_t lag = minlag; lag <= maxlag; lag++) {
		const float *y = x - lag;
		float xy = 0, yy = 1e-9f;
		for (uint32_t i = 0; i < w; i++) {
			xy += x[i] * y[i];
			yy += y[i] * y[i];
		}
		float score = xy / sqrtf(yy);
		if (score > best_score) {
			best_score = score;
			best = lag;
		}
	}
	return best;
}

static float loss_gain(const struct ivr_plc *p, uint32_t n_lost)
{
	uint32_t ms10 = p->rate_hz / 100;
	if (n_lost < ms10)
		return 1.0f;
	float g = 1.0f - 0.2f * (float)(n_lost - ms10) / (float)ms10;
	return g > 0 ? g : 0;
}

void ivr_plc_conceal(struct ivr_plc *p, float *out, size_t n_samples)
{
	if (p->n_lost == 0) {
		float lin[IVR_PLC_HIST];
		hist_unroll(p, lin);
		const float *h = lin + IVR_PLC_HIST;
		uint32_t P = find_pitch(p, h), q = P / 4;
		memcpy(p->period, h - P, P * sizeof(float));
		/* Blend the period's tail into what preceded its head, so the wrap is smooth. */
		for (uint32_t j = 0; j < q; j++) {
			float w = (float)(j + 1) / (float)(q + 1);
			p->period[P - q + j] =
				(1 - w) * p->period[P - q + j] + w * h[-(int)P - (int)q + (int)j];
		}
		p->pitch = P;
		p->pos = 0;
	}
	for (size_t i = 0; i < n_samples; i++) {
		out[i] = p->period[p->pos] * loss_gain(p, p->n_lost + (uint32_t)i);
		if (++p->pos >= p->pitch)
			p->pos = 0;
	}
	p->n_lost += (uint32_t)n_samples;
	hist_push(p, out, n_samples);
}

void ivr_plc_good(struct ivr_plc *p, float *frame, size_t n_samples)
{
	if (p->n_lost > 0) {
		/* Cross-fade the synthetic continuation into the first 4 ms of real audio. */
		size_t L = IVR_MIN(n_samples, (size_t)(p->rate_hz / 250));
		for (size_t i = 0; i < L; i++) {
			float s = p->period[p->pos] * loss_gain(p, p->n_lost + (uint32_t)i);
			if (++p->pos >= p->pitch)
				p->pos = 0;
			float w = (float)(i + 1) / (float)(L + 1);
			frame[i] = (1 - w) * s + w * frame[i];
		}
		p->n_lost = 0;
	}
	hist_push(p, frame, n_samples);
}
