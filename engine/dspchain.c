/* SPDX-License-Identifier: MIT */
/*
 * engine/dspchain.c - per-call DSP chain and the ASR hand-off; see dspchain.h
 * for the order of the stages, the DTMF merge rules and the record format.
 *
 * Layout: one header (configuration, merge state, pre-roll history, scratch)
 * followed by the sub-states of dsp/dtmf, dsp/vad, dsp/aec, dsp/faxtone and
 * dsp/rfc4733 at 64-byte aligned offsets, so the whole chain is one block
 * in the call slot.  Offsets, not pointers: only speexdsp's own state (inside
 * dsp/aec) is outside the block.
 *
 * AEC bypass: a call that is not being sent anything (no prompt, no MOH, no
 * conference audio) has no echo to cancel.  After the far signal has been
 * digital silence for longer than the echo can last (bulk delay + tail +
 * one frame), the canceller is skipped and the VAD gets the caller's audio
 * as it is; the first non-silent far frame switches it back on (the FIFO
 * then holds only silence, so nothing is out of step).  That halves the
 * chain's cost for calls waiting on the caller (bench/bench_dspchain.c).
 */
#include "config.h"

#include <stdlib.h>

#include "common/vec4.h"
#include "dsp/aec.h"
#include "dsp/dtmf.h"
#include "dsp/faxtone.h"
#include "dsp/g711.h"
#include "dsp/rfc4733.h"
#include "dsp/vad.h"
#include "engine/dspchain.h"

#define FRAME_MS       20
#define FRAME_MAX      320 /* samples per frame at 16 kHz */
#define HIST_FRAMES    24  /* 480 ms: pre-roll (<= 400 ms) + VAD START latency (~80 ms) */
#define MAX_PREROLL_MS 400
#define INBAND_HIST    8 /* in-band digits one dedup window can hold (60 ms per digit) */
#define SILENT_ABS     (1.0f / 32768.0f) /* below one PCM16 step: digital silence */
/*
 * DTMF gate of the canceller and the VAD: both run LOOKAHEAD frames behind
 * the DTMF detector, which reports a digit about 30-45 ms after its onset
 * and its END 25 ms after its last sample, so by the time a frame reaches
 * them the detector has said whether tone energy is in it.  Such frames
 * (with TONE_MARGIN_MS of ramp either side) are replaced by the last frame the
 * VAD heard as non-speech: the tone neither starts speech, nor misadapts
 * the canceller (whose residue of the prompt then sounds like speech), nor
 * teaches the VAD's active-level tracker the tone's level (which would gate
 * quieter speech after it out), and the ASR hand-off gets background.
 */
#define LOOKAHEAD      3 /* frames (60 ms) */
#define TONE_MARGIN_MS 10
#define TONE_HIST      4 /* tones one lookahead window can overlap (40 ms tone + 40 ms gap) */

_Static_assert(sizeof(struct ivr_asr_frame) == 512, "ASR record must be 512 bytes");

struct ivr_dspchain {
	struct ivr_dspchain_cfg cfg; /* defaults filled in */
	uint32_t off_dtmf, off_vad, off_aec, off_fax, off_rfc;
	uint32_t sz_dtmf, sz_vad, sz_aec, sz_fax, sz_rfc;
	bool aec_live; /* speexdsp state allocated (between init and fini) */

	uint64_t clock; /* media samples processed */

	/* DTMF merge (see dspchain.h, rules 1-3) */
	bool rfc_seen;	    /* rule 1: a telephone-event packet arrived */
	bool inband_active; /* an in-band START was reported, END pending */
	bool inband_muted;  /* the current in-band digit was suppressed */
	/* rule 2: recent in-band STARTs, each matched by at most one RFC 4733 START */
	char inband_digit[INBAND_HIST];
	uint64_t inband_clock[INBAND_HIST];
	uint8_t inband_pos;
	bool rfc_dropped; /* the current RFC 4733 event was dropped by rule 2 */
	uint64_t rfc_start_clock;
	uint64_t guard_until; /* in-band STARTs with an onset before this are own echo */
	uint32_t rfc_now_ts;  /* RTP clock of the telephone-event stream, advanced per frame */
	bool rfc_have_ts;

	/* DTMF gate of the VAD: [onset, end) of recent in-band tones, end UINT64_MAX while on */
	uint64_t tone_on[TONE_HIST], tone_end[TONE_HIST];
	uint8_t tone_pos;
	bool tone_open; /* tone_*[tone_pos - 1] has no END yet */

	/* Listening (ivr_dspchain_listen): the canceller/VAD/hand-off stage runs */
	bool listen;	    /* what the caller asked for */
	bool vad_on;	    /* the stage is running (follows listen at the next frame) */
	bool vad_in_speech; /* the endpointer's state after its last frame */
	uint64_t resume_cf; /* first frame of this listening period */
	uint64_t vad_base;  /* chain sample of the VAD's sample 0 */

	/* AEC bypass */
	uint32_t far_silent; /* samples of digital silence in a row on the far side */
	uint32_t bypass_after;

	/* ASR hand-off */
	bool utt_open, abort_pending;
	uint32_t utt_id, frame_idx, abort_utt;
	uint32_t preroll;     /* samples */
	uint32_t frame;	      /* samples per 20 ms frame at rate_hz: 160 or 320 */
	uint32_t tone_margin; /* samples (TONE_MARGIN_MS) */
	/*
	 * Frame buffers after the sub-states, sized for the rate (offsets: the
	 * 8 kHz chain keeps its size, a 16 kHz one doubles only these):
	 * hist[HIST_FRAMES] canceller output, frame f at f % H (PCM16);
	 * dly_near/dly_far[LOOKAHEAD] caller audio and its echo reference, frame
	 * f at f % L (PCM16); noise: the last frame the VAD heard as
	 * non-speech (PCM16).  The canceller's input, reference and output of
	 * the frame are scratch on the stack of ivr_dspchain_process().
	 * The delay line of the reference and its silence flags are kept only
	 * with a canceller, the history only while there is an ASR ring.
	 */
	uint32_t off_hist, off_dly_near, off_dly_far, off_noise;
	bool dly_far_silent[LOOKAHEAD]; /* that reference was digital silence */
	bool hist_on;			/* the history is being kept (an ASR ring was given) */
	uint64_t hist_from;		/* first frame of the history kept since */

	struct ivr_dspchain_stats st;
	_Alignas(64) unsigned char blob[];
};

static int fill_cfg(struct ivr_dspchain_cfg *c, const struct ivr_dspchain_cfg *cfg)
{
	struct ivr_dspchain_cfg d = { 0 };
	if (cfg)
		d = *cfg;
	if (!d.rate_hz)
		d.rate_hz = 8000;
	if (!d.aec_tail_ms)
		d.aec_tail_ms = 128;
	if (!d.dedup_ms)
		d.dedup_ms = 500;
	if (!d.echo_guard_ms)
		d.echo_guard_ms = 300;
	if (!d.preroll_ms)
		d.preroll_ms = 300;
	if (!d.vad_start_ms)
		d.vad_start_ms = 60;
	if (!d.vad_end_ms)
		d.vad_end_ms = 600;
	if (!d.rfc_clock_hz)
		d.rfc_clock_hz = d.rate_hz;
	if (d.rate_hz != 8000 && d.rate_hz != 16000)
		return -ENOTSUP;
	if (d.no_aec > 1 || d.dtmf_on_aec_output > 1 || d.preroll_ms > MAX_PREROLL_MS ||
	    d.dedup_ms > 10000 || d.echo_guard_ms > 10000 || d.rfc_clock_hz % d.rate_hz ||
	    d.rfc_clock_hz > 48000)
		return -EINVAL;
	*c = d;
	return 0;
}

static void sub_cfgs(const struct ivr_dspchain_cfg *c, struct ivr_dtmf_cfg *dt,
		     struct ivr_vad_cfg *va, struct ivr_aec_cfg *ae, struct ivr_faxtone_cfg *fx,
		     struct ivr_rfc4733_rx_cfg *rf)
{
	*dt = (struct ivr_dtmf_cfg){ .rate_hz = c->rate_hz };
	*va = (struct ivr_vad_cfg){ .rate_hz = c->rate_hz,
				    .start_ms = c->vad_start_ms,
				    .end_ms = c->vad_end_ms };
	*ae = (struct ivr_aec_cfg){ .rate_hz = c->rate_hz,
				    .tail_ms = c->aec_tail_ms,
				    .bulk_delay_ms = c->aec_bulk_delay_ms };
	*fx = (struct ivr_faxtone_cfg){ .rate_hz = c->rate_hz };
	*rf = (struct ivr_rfc4733_rx_cfg){ .rate_hz = c->rfc_clock_hz };
}

/* Sizes and offsets of the sub-states; 0 if a sub-configuration is invalid. */
static size_t layout(const struct ivr_dspchain_cfg *c, uint32_t off[5], uint32_t sz[5],
		     uint32_t boff[4])
{
	struct ivr_dtmf_cfg dt;
	struct ivr_vad_cfg va;
	struct ivr_aec_cfg ae;
	struct ivr_faxtone_cfg fx;
	struct ivr_rfc4733_rx_cfg rf;
	sub_cfgs(c, &dt, &va, &ae, &fx, &rf);
	size_t s[5] = { ivr_dtmf_rx_size(&dt), ivr_vad_size(&va), c->no_aec ? 0 : ivr_aec_size(&ae),
			ivr_faxtone_size(&fx), ivr_rfc4733_rx_size(&rf) };
	size_t pos = IVR_ROUND_UP(sizeof(struct ivr_dspchain), IVR_ALIGN);
	for (int i = 0; i < 5; i++) {
		if (!s[i] && !(i == 2 && c->no_aec))
			return 0;
		off[i] = (uint32_t)pos;
		sz[i] = (uint32_t)s[i];
		pos += IVR_ROUND_UP(s[i], IVR_ALIGN);
	}
	const size_t fr = c->rate_hz / 1000 * FRAME_MS;
	/* pre-roll history, near and far delay lines, the last background frame */
	const size_t b[4] = { HIST_FRAMES * fr * sizeof(int16_t), LOOKAHEAD * fr * sizeof(int16_t),
			      LOOKAHEAD * fr * sizeof(int16_t), fr * sizeof(int16_t) };
	for (int i = 0; i < 4; i++) {
		boff[i] = (uint32_t)pos;
		pos += IVR_ROUND_UP(b[i], IVR_ALIGN);
	}
	return pos;
}

size_t ivr_dspchain_size(const struct ivr_dspchain_cfg *cfg)
{
	struct ivr_dspchain_cfg c;
	uint32_t off[5], sz[5], boff[4];
	if (fill_cfg(&c, cfg) < 0)
		return 0;
	return layout(&c, off, sz, boff);
}

static inline void *sub(struct ivr_dspchain *ch, uint32_t off)
{
	return (unsigned char *)ch + off;
}
#define DTMF(ch)	     ((struct ivr_dtmf_rx *)sub(ch, (ch)->off_dtmf))
#define VAD(ch)		     ((struct ivr_vad *)sub(ch, (ch)->off_vad))
#define AEC(ch)		     ((struct ivr_aec *)sub(ch, (ch)->off_aec))
#define FAX(ch)		     ((struct ivr_faxtone *)sub(ch, (ch)->off_fax))
#define RFC(ch)		     ((struct ivr_rfc4733_rx *)sub(ch, (ch)->off_rfc))
#define BUF16(ch, off, n, f) ((int16_t *)sub(ch, (ch)->off) + (size_t)((f) % (n)) * (ch)->frame)
#define HIST(ch, f)	     BUF16(ch, off_hist, HIST_FRAMES, f)
#define DLY_NEAR(ch, f)	     BUF16(ch, off_dly_near, LOOKAHEAD, f)
#define DLY_FAR(ch, f)	     BUF16(ch, off_dly_far, LOOKAHEAD, f)
#define NOISE(ch)	     ((int16_t *)sub(ch, (ch)->off_noise))

/* Everything but the detectors' own state and the configuration. */
static void clear_state(struct ivr_dspchain *ch)
{
	ch->clock = 0;
	ch->rfc_seen = ch->inband_active = ch->inband_muted = false;
	memset(ch->inband_digit, 0, sizeof(ch->inband_digit));
	memset(ch->inband_clock, 0, sizeof(ch->inband_clock));
	ch->inband_pos = 0;
	ch->rfc_dropped = false;
	ch->rfc_start_clock = 0;
	ch->guard_until = 0;
	ch->rfc_now_ts = 0;
	ch->rfc_have_ts = false;
	ch->far_silent = 0;
	ch->listen = ch->vad_on = true;
	ch->vad_in_speech = false;
	ch->resume_cf = ch->vad_base = 0;
	memset(ch->tone_on, 0, sizeof(ch->tone_on));
	memset(ch->tone_end, 0, sizeof(ch->tone_end));
	ch->tone_pos = 0;
	ch->tone_open = false;
	memset(DLY_NEAR(ch, 0), 0, LOOKAHEAD * ch->frame * sizeof(int16_t));
	memset(DLY_FAR(ch, 0), 0, LOOKAHEAD * ch->frame * sizeof(int16_t));
	memset(ch->dly_far_silent, 0, sizeof(ch->dly_far_silent));
	memset(NOISE(ch), 0, ch->frame * sizeof(int16_t));
	ch->hist_on = false;
	ch->hist_from = 0;
	ch->utt_open = ch->abort_pending = false;
	ch->utt_id = ch->frame_idx = ch->abort_utt = 0;
	memset(HIST(ch, 0), 0, HIST_FRAMES * ch->frame * sizeof(int16_t));
	memset(&ch->st, 0, sizeof(ch->st));
}

int ivr_dspchain_init(struct ivr_dspchain *ch, size_t size, const struct ivr_dspchain_cfg *cfg)
{
	struct ivr_dspchain_cfg c;
	int r = fill_cfg(&c, cfg);
	if (r < 0)
		return r;
	uint32_t off[5], sz[5], boff[4];
	size_t need = layout(&c, off, sz, boff);
	if (!ch || !need || size < need || ((uintptr_t)ch & (IVR_ALIGN - 1)))
		return -EINVAL;
	memset(ch, 0, sizeof(*ch));
	ch->cfg = c;
	ch->off_dtmf = off[0], ch->sz_dtmf = sz[0];
	ch->off_vad = off[1], ch->sz_vad = sz[1];
	ch->off_aec = off[2], ch->sz_aec = sz[2];
	ch->off_fax = off[3], ch->sz_fax = sz[3];
	ch->off_rfc = off[4], ch->sz_rfc = sz[4];
	ch->off_hist = boff[0], ch->off_dly_near = boff[1], ch->off_dly_far = boff[2];
	ch->off_noise = boff[3];
	ch->frame = c.rate_hz / 1000 * FRAME_MS;
	ch->tone_margin = c.rate_hz / 1000 * TONE_MARGIN_MS;
	ch->preroll = c.preroll_ms * c.rate_hz / 1000;
	/* Echo can last bulk delay + tail; one frame more for the FIFO's own step. */
	ch->bypass_after = (c.aec_bulk_delay_ms + c.aec_tail_ms) * c.rate_hz / 1000 + ch->frame;
	clear_state(ch);

	struct ivr_dtmf_cfg dt;
	struct ivr_vad_cfg va;
	struct ivr_aec_cfg ae;
	struct ivr_faxtone_cfg fx;
	struct ivr_rfc4733_rx_cfg rf;
	sub_cfgs(&c, &dt, &va, &ae, &fx, &rf);
	if ((r = ivr_dtmf_rx_init(DTMF(ch), sz[0], &dt)) < 0 ||
	    (r = ivr_vad_init(VAD(ch), sz[1], &va)) < 0 ||
	    (r = ivr_faxtone_init(FAX(ch), sz[3], &fx)) < 0 ||
	    (r = ivr_rfc4733_rx_init(RFC(ch), sz[4], &rf)) < 0)
		return r;
	if (!c.no_aec) {
		if ((r = ivr_aec_init(AEC(ch), sz[2], &ae)) < 0)
			return r;
		ch->aec_live = true;
	}
	return 0;
}

int ivr_dspchain_reset(struct ivr_dspchain *ch, uint64_t call_id)
{
	if (!ch)
		return -EINVAL;
	clear_state(ch);
	ch->cfg.call_id = call_id;
	ivr_dtmf_rx_reset(DTMF(ch));
	ivr_vad_reset(VAD(ch));
	ivr_faxtone_reset(FAX(ch));
	ivr_rfc4733_rx_reset(RFC(ch));
	return ch->aec_live ? ivr_aec_reset(AEC(ch)) : 0;
}

void ivr_dspchain_fini(struct ivr_dspchain *ch)
{
	if (!ch || !ch->aec_live)
		return;
	ivr_aec_fini(AEC(ch));
	ch->aec_live = false;
}

uint64_t ivr_dspchain_samples(const struct ivr_dspchain *ch)
{
	return ch->clock;
}

void ivr_dspchain_get_stats(const struct ivr_dspchain *ch, struct ivr_dspchain_stats *st)
{
	*st = ch->st;
}

/* ------------------------------------------------------------- events */

static void put_ev(struct ivr_dspchain_out *out, uint8_t type, uint8_t source, char digit,
		   uint8_t flags, uint64_t sample, uint32_t duration)
{
	/* IVR_DSPCHAIN_MAX_EVENTS bounds what one frame can produce (see callers). */
	if (IVR_NEVER(out->n_events >= IVR_DSPCHAIN_MAX_EVENTS))
		return;
	out->ev[out->n_events++] = (struct ivr_media_event){
		.type = type,
		.source = source,
		.digit = digit,
		.flags = flags,
		.duration_samples = duration,
		.sample = sample,
	};
}

/* In-band detector events through rule 1 and the echo guard. */
static void merge_inband(struct ivr_dspchain *ch, const struct ivr_dtmf_event *e,
			 struct ivr_dspchain_out *out)
{
	/* Every tone the detector hears gates the VAD, reported as a digit or not. */
	if (e->type == IVR_DTMF_EV_START) {
		ch->tone_on[ch->tone_pos] = e->onset_sample;
		ch->tone_end[ch->tone_pos] = UINT64_MAX;
		ch->tone_pos = (ch->tone_pos + 1) % TONE_HIST;
		ch->tone_open = true;
	} else if (e->type == IVR_DTMF_EV_END && ch->tone_open) {
		unsigned last = (ch->tone_pos + TONE_HIST - 1) % TONE_HIST;
		ch->tone_end[last] = e->onset_sample + e->duration_samples;
		ch->tone_open = false;
	}
	if (e->type == IVR_DTMF_EV_START) {
		if (ch->rfc_seen || e->onset_sample < ch->guard_until) {
			ch->inband_muted = true;
			ch->st.inband_suppressed++;
			return;
		}
		ch->inband_muted = false;
		ch->inband_active = true;
		ch->inband_digit[ch->inband_pos] = e->digit;
		ch->inband_clock[ch->inband_pos] = ch->clock;
		ch->inband_pos = (ch->inband_pos + 1) % INBAND_HIST;
		put_ev(out, IVR_MEDIA_EV_DTMF_START, IVR_MEDIA_SRC_INBAND, e->digit, 0,
		       e->onset_sample, e->duration_samples);
	} else if (e->type == IVR_DTMF_EV_END) {
		if (ch->inband_active && !ch->inband_muted)
			put_ev(out, IVR_MEDIA_EV_DTMF_END, IVR_MEDIA_SRC_INBAND, e->digit, 0,
			       e->onset_sample, e->duration_samples);
		ch->inband_active = false;
		ch->inband_muted = false;
	}
}

/* RFC 4733 receiver events through rule 2. */
static void merge_rfc(struct ivr_dspchain *ch, const struct ivr_dtmf_event *e,
		      struct ivr_dspchain_out *out)
{
	if (e->type == IVR_DTMF_EV_START) {
		/*
		 * The oldest unmatched in-band START of the same digit inside the
		 * window: packets that lag the audio can arrive after in-band has
		 * already reported the next digits, so the last one is not enough.
		 */
		const uint64_t win = (uint64_t)ch->cfg.dedup_ms * ch->cfg.rate_hz / 1000;
		for (unsigned k = 0; k < INBAND_HIST; k++) {
			unsigned i = (ch->inband_pos + k) % INBAND_HIST;
			if (ch->inband_digit[i] == e->digit &&
			    ch->clock - ch->inband_clock[i] <= win) {
				ch->inband_digit[i] = 0; /* used up */
				ch->rfc_dropped = true;
				ch->st.rfc_dedup++;
				return;
			}
		}
		ch->rfc_dropped = false;
		ch->rfc_start_clock = ch->clock;
		put_ev(out, IVR_MEDIA_EV_DTMF_START, IVR_MEDIA_SRC_RFC4733, e->digit, 0, ch->clock,
		       0);
	} else if (e->type == IVR_DTMF_EV_END) {
		if (!ch->rfc_dropped)
			put_ev(out, IVR_MEDIA_EV_DTMF_END, IVR_MEDIA_SRC_RFC4733, e->digit, 0,
			       ch->rfc_start_clock,
			       e->duration_samples / (ch->cfg.rfc_clock_hz / ch->cfg.rate_hz));
		ch->rfc_dropped = false;
	}
}

int ivr_dspchain_rfc4733(struct ivr_dspchain *ch, const uint8_t *payload, size_t n_bytes,
			 uint32_t rtp_ts, uint16_t seq, bool marker, struct ivr_dspchain_out *out)
{
	if (!ch || !out || (!payload && n_bytes))
		return -EINVAL;
	out->n_events = 0;
	/* 4 blocks of 3 events fit the output array: more are refused whole. */
	struct ivr_rfc4733_payload blk[4];
	int nb = ivr_rfc4733_parse(payload, n_bytes, blk, IVR_N_ELEMENTS(blk));
	if (nb < 0) {
		ch->st.rfc_bad++;
		return -EBADMSG;
	}
	struct ivr_dtmf_event ev[3 * IVR_N_ELEMENTS(blk)];
	int n = ivr_rfc4733_rx_packet(RFC(ch), payload, n_bytes, rtp_ts, seq, marker, ev,
				      IVR_N_ELEMENTS(ev));
	if (n < 0) {
		ch->st.rfc_bad++;
		return n == -EINVAL ? n : -EBADMSG;
	}
	ch->rfc_seen = true;
	/* The sender's clock now is the event's timestamp plus its duration so far. */
	uint32_t dur = 0;
	for (int i = 0; i < nb; i++)
		dur = IVR_MAX(dur, blk[i].duration);
	uint32_t now = rtp_ts + dur;
	/*
	 * The clock only moves forward, except when the receiver starts a new
	 * event from this packet: after a stream restart (timestamps jumping
	 * back) the old clock would time the new event out at once.
	 */
	bool started = false;
	for (int i = 0; i < n; i++)
		started |= ev[i].type == IVR_DTMF_EV_START;
	if (!ch->rfc_have_ts || started || (int32_t)(now - ch->rfc_now_ts) > 0)
		ch->rfc_now_ts = now;
	ch->rfc_have_ts = true;
	for (int i = 0; i < n; i++)
		merge_rfc(ch, &ev[i], out);
	return (int)out->n_events;
}

/* ------------------------------------------------------------ ASR hand-off */

static int push_rec(struct ivr_dspchain *ch, struct ivr_ring *asr, uint32_t utt, uint32_t idx,
		    uint16_t flags, uint64_t frame_no, bool with_pcm)
{
	/* A 16 kHz frame goes as two 10 ms records (IVR_ASR_F_WB): FIRST on the first, LAST on the
	 * second. */
	const uint32_t parts = with_pcm ? ch->frame / IVR_ASR_FRAME_SAMPLES : 1;
	const uint16_t wb = ch->frame > IVR_ASR_FRAME_SAMPLES ? IVR_ASR_F_WB : 0;
	for (uint32_t k = 0; k < parts; k++) {
		struct ivr_asr_frame rec;
		rec.call_id = ch->cfg.call_id;
		rec.utt_id = utt;
		rec.frame_idx = idx + k;
		rec.start_sample = frame_no * ch->frame + k * IVR_ASR_FRAME_SAMPLES;
		rec.flags = (uint16_t)(wb | (flags & ~(k ? IVR_ASR_F_FIRST : 0) &
					     ~(k + 1 < parts ? IVR_ASR_F_LAST : 0)));
		rec.n_samples = with_pcm ? IVR_ASR_FRAME_SAMPLES : 0;
		rec.reserved = 0;
		if (with_pcm)
			memcpy(rec.pcm, HIST(ch, frame_no) + k * IVR_ASR_FRAME_SAMPLES,
			       sizeof(rec.pcm));
		else
			memset(rec.pcm, 0, sizeof(rec.pcm));
		memset(rec.pad, 0, sizeof(rec.pad));
		if (ivr_ring_push(asr, &rec) < 0) {
			ch->st.asr_drops++;
			return -ENOSPC;
		}
		ch->st.asr_frames++;
	}
	return 0;
}

/* A push of the open utterance failed: stop it and owe the consumer a marker. */
static void utt_abort(struct ivr_dspchain *ch)
{
	ch->utt_open = false;
	ch->abort_pending = true;
	ch->abort_utt = ch->utt_id;
	ch->st.utt_aborted++;
}

static void utt_frame(struct ivr_dspchain *ch, struct ivr_ring *asr, uint64_t frame_no,
		      uint16_t flags)
{
	if (push_rec(ch, asr, ch->utt_id, ch->frame_idx, flags, frame_no, true) < 0) {
		if (!(flags & IVR_ASR_F_LAST))
			utt_abort(ch);
		else {
			ch->abort_pending = true;
			ch->abort_utt = ch->utt_id;
			ch->st.utt_aborted++;
		}
		return;
	}
	ch->frame_idx += ch->frame / IVR_ASR_FRAME_SAMPLES;
}

/* Open an utterance at speech START @s; the frame just processed is @cur. */
static void utt_open(struct ivr_dspchain *ch, struct ivr_ring *asr, uint64_t s, uint64_t cur)
{
	ch->utt_id++;
	ch->frame_idx = 0;
	ch->utt_open = true;
	/* FIRST restarts the call's utterance at the consumer: no marker owed any more. */
	ch->abort_pending = false;
	ch->st.utterances++;
	/* Rounded up: the pre-roll never reaches further back than preroll_ms. */
	uint64_t first = s > ch->preroll ? (s - ch->preroll + ch->frame - 1) / ch->frame : 0;
	if (cur + 1 > HIST_FRAMES && first < cur + 1 - HIST_FRAMES)
		first = cur + 1 - HIST_FRAMES;
	if (first < ch->hist_from)
		first = ch->hist_from; /* no history from before the ASR ring */
	for (uint64_t f = first; f <= cur && ch->utt_open; f++)
		utt_frame(ch, asr, f, f == first ? IVR_ASR_F_FIRST : 0);
}

/* @cur: the frame the VAD just processed. */
static void handoff(struct ivr_dspchain *ch, struct ivr_ring *asr, const struct ivr_vad_result *vr,
		    uint64_t cur)
{
	if (ch->abort_pending && push_rec(ch, asr, ch->abort_utt, 0,
					  IVR_ASR_F_LAST | IVR_ASR_F_ABORTED, cur, false) == 0)
		ch->abort_pending = false;
	bool pushed = false;
	for (unsigned i = 0; i < vr->n_events; i++) {
		const struct ivr_vad_event *e = &vr->ev[i];
		if (e->type == IVR_VAD_EV_END && ch->utt_open) {
			if (pushed) {
				if (push_rec(ch, asr, ch->utt_id, ch->frame_idx, IVR_ASR_F_LAST,
					     cur, false) < 0) {
					ch->abort_pending = true;
					ch->abort_utt = ch->utt_id;
				}
			} else {
				utt_frame(ch, asr, cur, IVR_ASR_F_LAST);
			}
			ch->utt_open = false;
			pushed = true;
		} else if (e->type == IVR_VAD_EV_START) {
			if (ch->utt_open && push_rec(ch, asr, ch->utt_id, ch->frame_idx,
						     IVR_ASR_F_LAST, cur, false) < 0)
				ch->st.utt_aborted++;
			utt_open(ch, asr, e->sample, cur);
			pushed = true;
		}
	}
	if (ch->utt_open && !pushed)
		utt_frame(ch, asr, cur, 0);
}

/* ------------------------------------------------------------------ frame */

typedef int16_t v4hi __attribute__((vector_size(8)));

/*
 * A frame to PCM16 as ivr_f32_to_s16() does it (round to nearest even,
 * clamp, NaN -> 0), four samples at a time: the per-sample branches made
 * the delay lines and the pre-roll copy a third of the chain's idle cost.
 * Adding and subtracting 1.5 * 2^23 rounds to an integer in the default
 * rounding mode for |v| < 2^22 (the clamp comes first).
 */
static void frame_to_s16(int16_t *restrict out, const float *restrict in, size_t n)
{
	const v4sf hi = { 32767.0f, 32767.0f, 32767.0f, 32767.0f };
	const v4sf lo = { -32768.0f, -32768.0f, -32768.0f, -32768.0f };
	const v4sf magic = { 12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f };
	for (size_t i = 0; i < n; i += 4) { /* n: 160 or 320, a multiple of 4 */
		const v4sf x = v4_ld(in + i);
		const v4si num = x == x;
		v4sf v = x * 32768.0f;
		v4si m = v > hi;
		v = (v4sf)((m & (v4si)hi) | (~m & (v4si)v));
		m = v < lo;
		v = (v4sf)((m & (v4si)lo) | (~m & (v4si)v));
		v = (v4sf)(num & (v4si)((v + magic) - magic));
		const v4hi h = __builtin_convertvector(__builtin_convertvector(v, v4si), v4hi);
		memcpy(out + i, &h, sizeof(h));
	}
}

/* PCM16 to float32 (full scale 1.0), four samples at a time; n a multiple of 4. */
static void s16_to_frame(float *restrict out, const int16_t *restrict in, size_t n)
{
	for (size_t i = 0; i < n; i += 4) {
		v4hi h;
		memcpy(&h, in + i, sizeof(h));
		const v4sf x = __builtin_convertvector(__builtin_convertvector(h, v4si), v4sf) *
			       (1.0f / 32768.0f);
		v4_st(out + i, x);
	}
}

/* Is every |x| under SILENT_ABS (NaN ignored, as before)?  Four lanes, no branch per sample. */
static bool silent(const float *x, size_t n)
{
	if (!x)
		return true;
	const v4sf lim = { SILENT_ABS, SILENT_ABS, SILENT_ABS, SILENT_ABS };
	v4si quiet = { -1, -1, -1, -1 };
	for (size_t i = 0; i < n; i += 4) {
		const v4sf a = (v4sf)((v4si)v4_ld(x + i) & 0x7fffffff);
		quiet &= (a < lim) | (a != a);
	}
	return (quiet[0] & quiet[1] & quiet[2] & quiet[3]) != 0;
}

/* Does [a, b) overlap a tone the detector reported (TONE_MARGIN_MS either side)? */
static bool tone_in(const struct ivr_dspchain *ch, uint64_t a, uint64_t b)
{
	for (unsigned i = 0; i < TONE_HIST; i++) {
		if (!ch->tone_end[i])
			continue; /* empty entry */
		const uint32_t m = ch->tone_margin;
		uint64_t on = ch->tone_on[i] > m ? ch->tone_on[i] - m : 0;
		uint64_t end = ch->tone_end[i] == UINT64_MAX ? UINT64_MAX : ch->tone_end[i] + m;
		if (on < b && a < end)
			return true;
	}
	return false;
}

static void run_dtmf(struct ivr_dspchain *ch, const float *pcm, bool concealed,
		     struct ivr_dspchain_out *out)
{
	/* Rule 1 drops its digits after telephone-events (merge_inband), but the
	 * detector keeps running: senders that also leave the tone in the audio
	 * still need it kept away from the VAD.  A concealed frame does not end a
	 * digit (3 lost packets split one in two). */
	struct ivr_dtmf_event ev[4];
	int n = concealed ? ivr_dtmf_rx_process_concealed(DTMF(ch), pcm, ch->frame, ev,
							  IVR_N_ELEMENTS(ev))
			  : ivr_dtmf_rx_process(DTMF(ch), pcm, ch->frame, ev, IVR_N_ELEMENTS(ev));
	for (int i = 0; i < n; i++)
		merge_inband(ch, &ev[i], out);
}

void ivr_dspchain_listen(struct ivr_dspchain *ch, bool on)
{
	ch->listen = on;
}

/*
 * Start or stop the canceller/VAD/hand-off stage at frame @cf.  Stopping in
 * the middle of speech ends it there: SPEECH_END one past the last frame the
 * VAD heard, and the open utterance closed with a LAST marker.  Starting
 * resets the VAD (it re-learns the noise over its first 250 ms) and waits
 * LOOKAHEAD frames for the delay lines to fill; the pre-roll history from
 * before is stale and cleared.
 */
static void switch_stage(struct ivr_dspchain *ch, bool on, uint64_t cf, struct ivr_ring *asr,
			 struct ivr_dspchain_out *out)
{
	ch->vad_on = on;
	if (on) {
		ivr_vad_reset(VAD(ch));
		ch->resume_cf = cf;
		ch->vad_base = cf * ch->frame;
		ch->far_silent = 0;
		memset(HIST(ch, 0), 0, HIST_FRAMES * ch->frame * sizeof(int16_t));
		memset(NOISE(ch), 0, ch->frame * sizeof(int16_t));
		return;
	}
	const uint64_t heard = cf > ch->resume_cf + LOOKAHEAD ? cf - LOOKAHEAD : ch->resume_cf;
	if (ch->vad_in_speech)
		put_ev(out, IVR_MEDIA_EV_SPEECH_END, 0, 0, 0, heard * ch->frame, 0);
	ch->vad_in_speech = false;
	if (ch->utt_open) {
		ch->utt_open = false;
		if (asr && push_rec(ch, asr, ch->utt_id, ch->frame_idx, IVR_ASR_F_LAST, heard,
				    false) < 0) {
			ch->abort_pending = true;
			ch->abort_utt = ch->utt_id;
		}
	}
}

int ivr_dspchain_process(struct ivr_dspchain *ch, const float *near, const float *far,
			 size_t n_samples, unsigned flags, struct ivr_ring *asr,
			 struct ivr_dspchain_out *out)
{
	if (!ch || !near || !out || n_samples != ch->frame)
		return -EINVAL;
	out->n_events = 0;
	ch->st.frames++;
	/*
	 * The VAD's state and the delay line it reads are not in cache with
	 * thousands of calls: start loading them now, DTMF and fax tones run
	 * meanwhile.
	 */
	if (ch->vad_on && ch->listen) {
		const int16_t *d = DLY_NEAR(ch, (ch->clock / ch->frame) % LOOKAHEAD);
		for (size_t i = 0; i < ch->frame; i += 32)
			__builtin_prefetch(d + i, 0, 3);
		ivr_vad_prefetch(VAD(ch));
	}

	/* RFC 4733 events whose end packets were all lost end here. */
	if (ch->rfc_have_ts) {
		ch->rfc_now_ts += ch->frame * (ch->cfg.rfc_clock_hz / ch->cfg.rate_hz);
		struct ivr_dtmf_event ev[1];
		int n = ivr_rfc4733_rx_tick(RFC(ch), ch->rfc_now_ts, ev, 1);
		for (int i = 0; i < n; i++)
			merge_rfc(ch, &ev[i], out);
	}
	if (flags & IVR_DSPCHAIN_F_FAR_DTMF)
		ch->guard_until = ch->clock + ch->frame +
				  (uint64_t)(ch->cfg.aec_bulk_delay_ms + ch->cfg.echo_guard_ms) *
					  ch->cfg.rate_hz / 1000;

	/* The blocks of this frame the DTMF detector found unable to hold a tone at or above
	 * 650 Hz (quiet at -57 dBm0, under the fax floor, or mostly under 400 Hz) cannot hold
	 * a fax tone either: the fax detector skips them (same 5 ms grid, same audio). */
	uint32_t no_tone = 0;
	if (!ch->cfg.dtmf_on_aec_output) {
		run_dtmf(ch, near, (flags & IVR_DSPCHAIN_F_CONCEALED) != 0, out);
		no_tone = ivr_dtmf_rx_gated(DTMF(ch), ch->frame / (ch->cfg.rate_hz / 200));
	}
	struct ivr_faxtone_event fe[2];
	/* A concealed frame neither ends nor starts a fax tone (as for DTMF). */
	int nf = flags & IVR_DSPCHAIN_F_CONCEALED
			 ? ivr_faxtone_process_concealed(FAX(ch), near, ch->frame, no_tone, fe,
							 IVR_N_ELEMENTS(fe))
			 : ivr_faxtone_process_hint(FAX(ch), near, ch->frame, no_tone, fe,
						    IVR_N_ELEMENTS(fe));
	for (int i = 0; i < nf; i++) {
		static const uint8_t map[] = { [IVR_FAXTONE_CNG] = IVR_MEDIA_EV_FAX_CNG,
					       [IVR_FAXTONE_ANS] = IVR_MEDIA_EV_FAX_ANS,
					       [IVR_FAXTONE_ANS_END] = IVR_MEDIA_EV_FAX_ANS_END };
		if (fe[i].type < IVR_N_ELEMENTS(map) && map[fe[i].type])
			put_ev(out, map[fe[i].type], 0, 0, fe[i].flags, fe[i].onset_sample,
			       fe[i].duration_samples);
	}

	/*
	 * Canceller and VAD run LOOKAHEAD frames behind the detectors, on the
	 * frame (and its echo reference) stored then; a frame with DTMF in it is
	 * replaced by background, so the tone neither misadapts the canceller
	 * (a loud near-end tone makes it diverge and leave prompt residue that
	 * sounds like speech) nor reaches the VAD or the ASR.
	 */
	const size_t fr = ch->frame;
	/* Scratch of this frame only: on the stack, not in the per-call state (cache footprint). */
	_Alignas(64) float vin[FRAME_MAX], vfar[FRAME_MAX], cln[FRAME_MAX], nz[FRAME_MAX];
	const uint64_t cf = ch->clock / fr;
	const unsigned slot = (unsigned)(cf % LOOKAHEAD);
	out->speech = out->in_speech = 0;
	/* A detector on the canceller's output (tests) needs the stage whatever listens. */
	const bool listen = ch->listen || ch->cfg.dtmf_on_aec_output;
	if (listen != ch->vad_on)
		switch_stage(ch, listen, cf, asr, out);
	if (!ch->vad_on)
		goto done;
	if (cf >= ch->resume_cf + LOOKAHEAD) {
		const uint64_t vf = cf - LOOKAHEAD;
		const bool tone = tone_in(ch, vf * fr, vf * fr + fr);
		/* A detector on the canceller's output (tests) must hear the tone through it. */
		if (tone)
			s16_to_frame(nz, NOISE(ch), fr);
		if (tone && !ch->cfg.dtmf_on_aec_output)
			memcpy(vin, nz, fr * sizeof(float));
		else
			s16_to_frame(vin, DLY_NEAR(ch, slot), fr);
		/* Echo cancelling, bypassed while there has been no far signal for a whole echo. */
		const float *clean = vin;
		if (ch->aec_live) {
			if (ch->dly_far_silent[slot]) {
				if (ch->far_silent < ch->bypass_after)
					ch->far_silent += (uint32_t)fr;
			} else {
				ch->far_silent = 0;
			}
			if (ch->far_silent < ch->bypass_after) {
				s16_to_frame(vfar, DLY_FAR(ch, slot), fr);
				(void)ivr_aec_process(AEC(ch), vin, vfar, cln, fr);
				clean = cln;
				ch->st.aec_frames++;
			}
		}
		if (ch->cfg.dtmf_on_aec_output)
			run_dtmf(ch, clean, false, out); /* (frames LOOKAHEAD old: flag not kept) */
		if (tone)
			clean = nz;

		struct ivr_vad_result vr;
		(void)ivr_vad_process(VAD(ch), clean, fr, &vr);
		for (unsigned i = 0; i < vr.n_events; i++) {
			/* The VAD counts from the start of this listening period. */
			vr.ev[i].sample += ch->vad_base;
			put_ev(out,
			       vr.ev[i].type == IVR_VAD_EV_START ? IVR_MEDIA_EV_SPEECH_START
								 : IVR_MEDIA_EV_SPEECH_END,
			       0, 0, 0, vr.ev[i].sample, 0);
		}
		out->speech = vr.speech;
		out->in_speech = vr.in_speech;
		ch->vad_in_speech = vr.in_speech;
		/* The caller's own frame (no canceller, no tone) is in the delay line as it is. */
		const int16_t *c16 = clean == vin && !tone ? DLY_NEAR(ch, slot) : NULL;
		if (!vr.speech && !tone) {
			if (c16)
				memcpy(NOISE(ch), c16, fr * sizeof(int16_t));
			else
				frame_to_s16(NOISE(ch), clean, fr);
		}
		/*
		 * Keep the last HIST_FRAMES frames for the pre-roll, then hand speech
		 * over; without an ASR ring neither (a ring given later starts its
		 * history then: no pre-roll from before).
		 */
		if (asr && !ch->hist_on)
			ch->hist_from = vf;
		ch->hist_on = asr != NULL;
		if (asr) {
			if (c16)
				memcpy(HIST(ch, vf), c16, fr * sizeof(int16_t));
			else
				frame_to_s16(HIST(ch, vf), clean, fr);
			handoff(ch, asr, &vr, vf);
		}
	}
	/* This frame and its echo reference wait LOOKAHEAD frames (PCM16: G.711's range). */
	frame_to_s16(DLY_NEAR(ch, slot), near, fr);
	if (ch->aec_live) {
		ch->dly_far_silent[slot] = silent(far, fr);
		if (far)
			frame_to_s16(DLY_FAR(ch, slot), far, fr);
		else
			memset(DLY_FAR(ch, slot), 0, fr * sizeof(int16_t));
	}
done:
	ch->clock += fr;
	return (int)out->n_events;
}

/* --------------------------------------------------------------- heap */

struct ivr_dspchain *ivr_dspchain_new(const struct ivr_dspchain_cfg *cfg)
{
	size_t size = ivr_dspchain_size(cfg);
	if (!size) {
		struct ivr_dspchain_cfg c;
		errno = -fill_cfg(&c, cfg);
		if (!errno)
			errno = EINVAL;
		return NULL;
	}
	struct ivr_dspchain *ch = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(size, IVR_ALIGN));
	if (!ch) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_dspchain_init(ch, size, cfg);
	if (r < 0) {
		free(ch);
		errno = -r;
		return NULL;
	}
	return ch;
}

void ivr_dspchain_free(struct ivr_dspchain *ch)
{
	if (!ch)
		return;
	ivr_dspchain_fini(ch);
	free(ch);
}

/* ------------------------------------------------------ ASR reassembly */

struct reasm_slot {
	bool open;
	uint64_t call_id;
	uint32_t utt_id, next_idx;
	uint16_t flags;
	uint32_t rate_hz; /* 16000 when the records carry IVR_ASR_F_WB */
	uint64_t start_sample;
	size_t n;
	int16_t *pcm; /* max_samples */
};

struct ivr_asr_reasm {
	uint32_t n_slots;
	size_t max_samples;
	struct reasm_slot *slot;
	int16_t *done; /* the finished utterance handed out (copy: its slot is reused) */
};

struct ivr_asr_reasm *ivr_asr_reasm_new(uint32_t max_calls, size_t max_samples)
{
	if (!max_calls || !max_samples || max_samples > (size_t)1 << 28) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_asr_reasm *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->n_slots = max_calls;
	r->max_samples = max_samples;
	r->slot = calloc(max_calls, sizeof(*r->slot));
	r->done = malloc(max_samples * sizeof(int16_t));
	if (!r->slot || !r->done) {
		ivr_asr_reasm_free(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

void ivr_asr_reasm_free(struct ivr_asr_reasm *r)
{
	if (!r)
		return;
	if (r->slot)
		for (uint32_t i = 0; i < r->n_slots; i++)
			free(r->slot[i].pcm);
	free(r->slot);
	free(r->done);
	free(r);
}

static struct reasm_slot *find_slot(struct ivr_asr_reasm *r, uint64_t call_id, bool create)
{
	struct reasm_slot *free_s = NULL;
	for (uint32_t i = 0; i < r->n_slots; i++) {
		struct reasm_slot *s = &r->slot[i];
		if (s->open && s->call_id == call_id)
			return s;
		if (!s->open && !free_s)
			free_s = s;
	}
	if (!create || !free_s)
		return NULL;
	if (!free_s->pcm) {
		free_s->pcm = malloc(r->max_samples * sizeof(int16_t));
		if (!free_s->pcm)
			return NULL;
	}
	return free_s;
}

static void finish(struct ivr_asr_reasm *r, struct reasm_slot *s, struct ivr_asr_utt *utt)
{
	memcpy(r->done, s->pcm, s->n * sizeof(int16_t));
	*utt = (struct ivr_asr_utt){
		.call_id = s->call_id,
		.utt_id = s->utt_id,
		.flags = s->flags,
		.start_sample = s->start_sample,
		.rate_hz = s->rate_hz,
		.pcm = r->done,
		.n_samples = s->n,
	};
	s->open = false;
}

int ivr_asr_reasm_feed(struct ivr_asr_reasm *r, const struct ivr_asr_frame *rec,
		       struct ivr_asr_utt *utt)
{
	if (!r || !rec || !utt || rec->n_samples > IVR_ASR_FRAME_SAMPLES)
		return -EINVAL;
	struct reasm_slot *s = find_slot(r, rec->call_id, rec->flags & IVR_ASR_F_FIRST);
	int ret = 0;
	if (s && s->open && s->utt_id != rec->utt_id && (int32_t)(rec->utt_id - s->utt_id) > 0) {
		/*
		 * A later utterance of the call while this one never got its LAST
		 * (lost with the frames a full ring dropped): hand it out as ABORTED.
		 */
		s->flags |= IVR_ASR_F_ABORTED;
		finish(r, s, utt);
		ret = 1;
	}
	if (rec->flags & IVR_ASR_F_FIRST) {
		if (!s)
			return -ENOSPC;
		/* A new utterance replaces an unfinished one of the same call. */
		s->open = true;
		s->call_id = rec->call_id;
		s->utt_id = rec->utt_id;
		s->next_idx = 0;
		s->flags = 0;
		s->rate_hz = rec->flags & IVR_ASR_F_WB ? 16000 : 8000;
		s->start_sample = rec->start_sample;
		s->n = 0;
	}
	if (!s || !s->open || s->utt_id != rec->utt_id)
		return ret; /* the rest of an utterance whose start was lost or replaced */
	if (rec->frame_idx != s->next_idx && rec->n_samples)
		s->flags |= IVR_ASR_F_ABORTED; /* frames were lost in between */
	s->next_idx = rec->frame_idx + 1;
	if (rec->flags & IVR_ASR_F_ABORTED)
		s->flags |= IVR_ASR_F_ABORTED;
	size_t room = r->max_samples - s->n, take = IVR_MIN(room, (size_t)rec->n_samples);
	if (take < rec->n_samples)
		s->flags |= IVR_ASR_F_ABORTED; /* longer than max_samples: cut */
	memcpy(s->pcm + s->n, rec->pcm, take * sizeof(int16_t));
	s->n += take;
	if (!(rec->flags & IVR_ASR_F_LAST))
		return ret;
	if (ret) {
		/* FIRST|LAST in one record right after a lost LAST: only one utterance
		 * can go out per feed, and the chain never sends such a record (a
		 * START always comes with pre-roll frames before any LAST). */
		s->open = false;
		return ret;
	}
	finish(r, s, utt);
	return 1;
}

int ivr_asr_reasm_poll(struct ivr_asr_reasm *r, struct ivr_ring *ring, struct ivr_asr_utt *utt)
{
	const void *p;
	while ((p = ivr_ring_read_ptr(ring)) != NULL) {
		int k = ivr_asr_reasm_feed(r, p, utt);
		ivr_ring_read_advance(ring);
		if (k == 1)
			return 1;
	}
	return 0;
}
