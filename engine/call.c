/* SPDX-License-Identifier: MIT */
/*
 * engine/call.c - per-call media processing, one 20 ms frame per tick.
 * See call.h for the slot life cycle and the hook points.
 */
#include "config.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "common/vec4.h"
#include "dsp/faxtone.h"
#include "dsp/resample.h"
#include "dsp/rfc4733.h"
#include "dsp/tone.h"
#include "engine/call.h"
#include "engine/dspchain.h"
#include "engine/events.h"
#include "engine/flowrt.h"
#include "engine/flowsvc.h"
#include "engine/rtcp.h"
#include "engine/prompt.h"
#include "engine/recorder.h"

static inline struct ivr_tone_tx *call_tone_tx(struct ivr_call *c)
{
	return (struct ivr_tone_tx *)c->tone_tx;
}

/* The in-band sender at the call's audio rate (Q.23 pairs, levels: call.h). */
static int tone_tx_init(struct ivr_call *c)
{
	struct ivr_tone_tx_cfg tc = { .rate_hz = c->codec.rate_hz,
				      .level_dbm0 = -8.0f,
				      .twist_db = 2.0f,
				      .on_ms = IVR_CALL_DTMF_ON_MS,
				      .off_ms = IVR_CALL_DTMF_OFF_MS };
	if (ivr_tone_tx_size(&tc) > sizeof(c->tone_tx))
		return -ENOSPC;
	c->tone_tx_busy = false;
	return ivr_tone_tx_init(call_tone_tx(c), sizeof(c->tone_tx), &tc);
}

/* Offset of the codec state in c->jb[]: after the largest jitter buffer. */
static size_t codec_state_off(void)
{
	return IVR_ROUND_UP(ivr_jb_size(NULL), IVR_ALIGN);
}

/* Bytes of a 16 kHz DSP chain (any configuration: the canceller's size does not change it). */
static size_t wb_chain_size(void)
{
	return IVR_ROUND_UP(ivr_dspchain_size(&(struct ivr_dspchain_cfg){ .rate_hz = 16000 }),
			    IVR_ALIGN);
}

/*
 * Offset of a wideband call's DSP chain in c->jb[]: after the codec state,
 * in the cold part of the slot that only Opus calls touch, so the 16 kHz
 * chain (about 12 KB of frame buffers more than the 8 kHz one in c->dsp)
 * costs G.711 calls nothing.
 */
static size_t wb_chain_off(void)
{
	return codec_state_off() + IVR_ROUND_UP(ivr_codec_state_max(), IVR_ALIGN);
}

/* The conference rate converter (mixer.h, mixed rates) after it: members only touch it. */
static size_t mix_rs_off(void)
{
	return wb_chain_off() + wb_chain_size();
}

static size_t mix_rs_bytes(void)
{
	return IVR_ROUND_UP(ivr_resampler_size(NULL), IVR_ALIGN);
}

size_t ivr_call_slot_size(void)
{
	return IVR_ROUND_UP(sizeof(struct ivr_call) + mix_rs_off() + mix_rs_bytes() +
				    IVR_MIX_ALT_BYTES,
			    IVR_ALIGN);
}

int ivr_call_mix_setup(struct ivr_call *c)
{
	if (c->mix_alt_ready)
		return 0;
	struct ivr_resampler *rs = (struct ivr_resampler *)(void *)(c->jb + mix_rs_off());
	struct ivr_resampler_cfg rc = { .in_rate_hz = c->codec.rate_hz,
					.out_rate_hz = c->codec.rate_hz == 8000 ? 16000 : 8000 };
	int r = ivr_resampler_init(rs, mix_rs_bytes(), &rc);
	if (r < 0)
		return r;
	ivr_mix_port_set_alt(&c->mix, rs, c->jb + mix_rs_off() + mix_rs_bytes());
	c->mix_alt_ready = true;
	return 0;
}

void ivr_call_mix_release(struct ivr_call *c)
{
	if (!c->mix_alt_ready)
		return;
	ivr_resampler_fini(c->mix.alt_rs);
	ivr_mix_port_set_alt(&c->mix, NULL, NULL);
	c->mix_alt_ready = false;
}

size_t ivr_call_slot_hot_size(void)
{
	return sizeof(struct ivr_call) + codec_state_off();
}

void *ivr_call_codec_state(struct ivr_call *c)
{
	return c->jb + codec_state_off();
}

int ivr_call_codec_setup(struct ivr_call *c)
{
	c->frame_samples = c->codec.frame_samples;
	if (c->frame_samples == 0 || c->frame_samples > IVR_CALL_FRAME_MAX)
		return -EINVAL;
	/* Same payload room as the slot was sized for, on the codec's RTP clock. */
	struct ivr_jb_cfg jc = { .clock_hz = c->codec.clock_hz,
				 .frame_units = c->codec.frame_units };
	int r = ivr_jb_init(ivr_call_jb(c), ivr_jb_size(NULL), &jc);
	if (r < 0)
		return r;
	c->mix.rate_hz = c->codec.rate_hz;
	r = ivr_plc_init(&c->plc, c->codec.rate_hz);
	if (r < 0)
		return r;
	r = tone_tx_init(c);
	if (r < 0)
		return r;
	return ivr_codec_state_init(&c->codec, ivr_call_codec_state(c), ivr_codec_state_max());
}

int ivr_call_init(struct ivr_call *c, uint32_t slot, uint32_t gen)
{
	/*
	 * The slot may be uninitialised memory here, so dsp_ready cannot be
	 * trusted: a chain must have been released (close_slot) before.
	 * Everything up to the state word and the media part is reset.
	 */
	memset(c, 0, sizeof(*c));
	c->slot = slot;
	c->gen = gen;
	c->fd = -1;
	c->rtcp_fd = -1;
	c->dtmf_pt = -1;
	c->st.rtt_us = -1;
	c->frame_samples = 160;
	atomic_init(&c->state, IVR_CALL_FREE);
	int r = ivr_codec_init(&c->codec, IVR_CODEC_PCMU, -1); /* a valid codec until set */
	if (r < 0)
		return r;
	r = ivr_jb_init(ivr_call_jb(c), ivr_jb_size(NULL), NULL);
	if (r < 0)
		return r;
	r = tone_tx_init(c);
	if (r < 0)
		return r;
	return ivr_plc_init(&c->plc, 8000);
}

void ivr_call_on_packet(struct ivr_call *c, const uint8_t *data, size_t n_bytes,
			const struct sockaddr *from, socklen_t from_len, uint64_t now_ns)
{
	c->st.rx_pkts++;
	c->st.rx_bytes += n_bytes;
	/* A flood on this port must not eat the tick of the other calls: stop parsing. */
	if (IVR_UNLIKELY(++c->rx_this_tick > IVR_CALL_FLOOD_PKTS)) {
		c->st.rx_flood_dropped++;
		return;
	}
	struct ivr_rtp_hdr h;
	if (ivr_rtp_parse(&h, data, n_bytes) < 0) {
		c->st.rx_bad++;
		return;
	}
	bool media = h.pt == c->codec.pt;
	bool dtmf = c->dtmf_pt >= 0 && h.pt == (unsigned)c->dtmf_pt;
	if (!media && !dtmf) {
		c->st.rx_other_pt++;
		return;
	}
	if (!ivr_rtp_latch_check(&c->latch, from, from_len, now_ns)) {
		c->st.rx_foreign++;
		return;
	}
	if (dtmf) {
		c->st.rx_dtmf_pkts++;
		ivr_call_dtmf_rx_event(c, &h);
		return;
	}
	if (!c->have_src || h.ssrc != c->src.ssrc) {
		ivr_rtp_source_init(&c->src, h.ssrc, h.seq);
		c->have_src = true;
	}
	(void)ivr_rtp_source_update(&c->src, h.seq);
	/* Arrival time in RTP clock units (A.8 needs both in the same units). */
	uint32_t arrival = (uint32_t)(now_ns / (1000000000ull / c->codec.clock_hz));
	ivr_rtp_source_jitter(&c->src, h.ts, arrival);
	(void)ivr_jb_put(ivr_call_jb(c), h.seq, h.ts, h.marker, h.payload, h.payload_n_bytes,
			 arrival);
}

/* The chain: c->dsp at 8 kHz, the slot's cold part for 16 kHz calls (wb_chain_off()). */
static inline struct ivr_dspchain *call_chain(struct ivr_call *c)
{
	if (c->codec.rate_hz == 8000)
		return (struct ivr_dspchain *)c->dsp;
	return (struct ivr_dspchain *)(void *)(c->jb + wb_chain_off());
}

int ivr_call_dsp_setup(struct ivr_call *c)
{
	int rc = ivr_call_codec_setup(c);
	if (rc < 0)
		return rc;
	if (c->dtmf_pt >= 0) {
		struct ivr_rfc4733_tx_cfg tc = { .rate_hz = c->codec.clock_hz };
		if (ivr_rfc4733_tx_size(&tc) > sizeof(c->rfc_tx))
			return -ENOSPC;
		int r = ivr_rfc4733_tx_init((struct ivr_rfc4733_tx *)c->rfc_tx, sizeof(c->rfc_tx),
					    &tc);
		if (r < 0)
			return r;
		c->rfc_tx_ready = true;
	}
	/* Telephone-events use the audio's RTP clock: 48 kHz on Opus calls. */
	struct ivr_dspchain_cfg cfg = { .rate_hz = c->codec.rate_hz,
					.call_id = c->call_id,
					.rfc_clock_hz = c->codec.clock_hz,
					.no_aec = !c->aec_on };
	const size_t room = c->codec.rate_hz == 8000 ? sizeof(c->dsp) : wb_chain_size();
	if (ivr_dspchain_size(&cfg) > room)
		return -ENOSPC;
	int r = ivr_dspchain_init(call_chain(c), room, &cfg);
	if (r < 0)
		return r;
	c->dsp_ready = true;
	return 0;
}

void ivr_call_dsp_release(struct ivr_call *c)
{
	if (!c->dsp_ready)
		return;
	ivr_dspchain_fini(call_chain(c));
	c->dsp_ready = false;
}

/*
 * Flow runtime glue (engine/flowrt.h, engine/flowsvc.h).  A call created with
 * a flow runs its flowrt in c->flowrt: the chain's DTMF and speech events,
 * the ASR service's results, prompt completions and the tick's time go in;
 * the actions come out and are executed here, on the call's worker, without
 * allocation: prompts are the version's preloaded ones (a reference per
 * play), recognition is armed through one atomic store, events go to the
 * event ring.  call_start is published at the first tick (media start),
 * call_end when the flow hangs up or when the call is retired.
 */
static inline struct ivr_flowrt *call_flowrt(struct ivr_call *c)
{
	return (struct ivr_flowrt *)c->flowrt;
}

int ivr_call_flow_setup(struct ivr_call *c, struct ivr_flowsvc *svc, struct ivr_flowsvc_flow *v)
{
	if (!svc || !v)
		return -EINVAL;
	if (ivr_flowrt_size() > sizeof(c->flowrt))
		return -ENOSPC;
	int r = ivr_flowrt_init(call_flowrt(c), sizeof(c->flowrt),
				&(struct ivr_flowrt_cfg){ .flow = ivr_flowsvc_flow_model(v) });
	if (r < 0)
		return r;
	r = ivr_flowsvc_call_open(svc, c->call_id, v);
	if (r < 0)
		return r;
	c->flowsvc = svc;
	c->flowver = v;
	c->flow_ready = true;
	return 0;
}

void ivr_call_flow_release(struct ivr_call *c)
{
	if (!c->flowver)
		return;
	ivr_flowsvc_call_close(c->flowsvc, c->call_id);
	ivr_flowsvc_release(c->flowver);
	c->flowver = NULL;
	c->flow_ready = false;
}

static uint32_t call_ms(const struct ivr_call *c)
{
	uint64_t now = c->flow_now_ms, t0 = c->created_ns / 1000000;
	return now > t0 ? (uint32_t)(now - t0) : 0;
}

static void flow_publish(struct ivr_call *c, const struct ivr_event *ev)
{
	if (!c->events)
		return;
	/* Big enough for a full hand-off record (32 path steps, 16 transcript lines). */
	uint8_t scratch[6144];
	if (ivr_event_publish(c->events, c->worker, c->call_id, 0, 0, ev, scratch,
			      sizeof(scratch)) < 0)
		c->st.events_dropped++;
}

static void flow_call_end(struct ivr_call *c, const char *cause)
{
	if (c->flow_ended)
		return;
	c->flow_ended = true;
	struct ivr_event ev = { .type = IVR_EVENT_CALL_END };
	ev.u.call_end.cause = cause;
	ev.u.call_end.duration_ms = call_ms(c);
	flow_publish(c, &ev);
}

static void flow_stop_prompt(struct ivr_call *c)
{
	if (!c->flow_play_id)
		return;
	c->flow_play_id = 0;
	ivr_prompt_unref(c->prompt);
	c->prompt = NULL;
}

/*
 * Queue experience (DESIGN.md section 5): once the call is handed on (the
 * flow's transfer, or the router's), it waits in queue hearing the engine's
 * shared music on hold, with the router's queue announcements over it.
 * queued is set before the hand-off is published, so a router that reacts to
 * the transfer record finds the call waiting.
 */
static void queue_enter(struct ivr_call *c)
{
	if (!c->queue_moh && c->moh_src) {
		/* relaxed: the engine's own reference keeps it alive already */
		atomic_fetch_add_explicit(&c->moh_src->refs, 1, memory_order_relaxed);
		c->queue_moh = c->moh_src;
	}
	atomic_store_explicit(&c->queued, true, memory_order_release);
}

static void flow_exec(struct ivr_call *c, const struct ivr_flowrt_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		const struct ivr_flowrt_action *a = &o->a[i];
		switch (a->type) {
		case IVR_FLOWRT_PLAY: {
			struct ivr_prompt *p = ivr_flowsvc_flow_prompt_at(
				c->flowver, a->node, a->prompt, c->codec.rate_hz);
			ivr_prompt_unref(c->prompt);
			c->prompt = NULL;
			if (p) {
				/* relaxed: the version's own reference keeps it alive already */
				atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
				c->prompt = p;
				c->play_pos = 0;
				c->play_loop = false;
				c->play_moh = false;
			}
			/* without audio the prompt is over at once (next prompt check) */
			c->flow_play_id = a->id;
			break;
		}
		case IVR_FLOWRT_STOP_PROMPT:
			flow_stop_prompt(c);
			break;
		case IVR_FLOWRT_RECO_START:
			/* the utterance in progress (if any) started before this turn */
			ivr_flowsvc_arm(c->flowsvc, c->call_id, a->node, a->id, c->flow_utts + 1);
			break;
		case IVR_FLOWRT_RECO_STOP:
			ivr_flowsvc_arm(c->flowsvc, c->call_id, -1, 0, 0);
			break;
		case IVR_FLOWRT_PUBLISH:
			flow_publish(c, &a->ev);
			break;
		case IVR_FLOWRT_TRANSFER:
			queue_enter(c);
			flow_publish(c, &a->ev);
			c->flow_end_cause = "transfer";
			break;
		case IVR_FLOWRT_HANGUP:
			/* the router destroys the call on this call_end */
			flow_call_end(c, "ivr_hangup");
			break;
		default:
			break;
		}
	}
}

static void flow_start(struct ivr_call *c)
{
	c->flow_started = true;
	const struct ivr_flow *f = ivr_flowsvc_flow_model(c->flowver);
	struct ivr_event ev = { .type = IVR_EVENT_CALL_START };
	struct ivr_event_kv kv[IVR_CALL_VARS_MAX];
	const char *v = c->flow_vars;
	size_t n = 0;
	for (; n < c->n_flow_vars && n < IVR_CALL_VARS_MAX; n++) {
		kv[n].key = v;
		v += strlen(v) + 1;
		kv[n].value = v;
		v += strlen(v) + 1;
	}
	ev.u.call_start.ani = c->ani;
	ev.u.call_start.dnis = c->dnis;
	ev.u.call_start.flow = f->name;
	ev.u.call_start.vars = n ? kv : NULL;
	ev.u.call_start.n_vars = n;
	flow_publish(c, &ev);
	struct ivr_flowrt_out o;
	if (ivr_flowrt_start(call_flowrt(c), c->flow_now_ms, &o) > 0)
		flow_exec(c, &o);
}

/* Feed one media event to the flow.  @return false when the flow does not take it. */
static bool flow_media_event(struct ivr_call *c, const struct ivr_media_event *m, uint32_t per_ms)
{
	if (!c->flow_ready || !c->flow_started || c->flow_stopped)
		return false;
	struct ivr_flowrt_out o;
	int n;
	switch (m->type) {
	case IVR_MEDIA_EV_DTMF_END:
		n = ivr_flowrt_digit(call_flowrt(c), m->digit,
				     m->source == IVR_MEDIA_SRC_RFC4733 ? IVR_EVENT_DTMF_RFC4733
									: IVR_EVENT_DTMF_INBAND,
				     m->duration_samples / per_ms, c->flow_now_ms, &o);
		break;
	case IVR_MEDIA_EV_SPEECH_START:
		/* the chain numbers utterances from 1, one per speech START */
		c->flow_utts++;
		n = ivr_flowrt_speech_start(call_flowrt(c), c->flow_now_ms, &o);
		break;
	case IVR_MEDIA_EV_SPEECH_END:
		n = ivr_flowrt_speech_end(call_flowrt(c), c->flow_now_ms, &o);
		break;
	default:
		return false;
	}
	if (n > 0)
		flow_exec(c, &o);
	/* a digit the flow refused (not a key, flow over) is not published either */
	return true;
}

void ivr_call_flow_result(struct ivr_call *c, const struct ivr_flowsvc_result *r)
{
	if (!c->flow_ready || !c->flow_started || c->flow_stopped || r->call_id != c->call_id)
		return;
	if (r->flags & IVR_FLOWSVC_R_PARTIAL) {
		/* words so far: for the router's eyes only, the flow waits for the result */
		struct ivr_event ev = { .type = IVR_EVENT_PARTIAL };
		ev.u.recognition.text = r->text;
		flow_publish(c, &ev);
		return;
	}
	struct ivr_event_nbest nb[IVR_FLOWSVC_NBEST];
	struct ivr_flowrt_result fr;
	ivr_flowsvc_to_flowrt(r, ivr_flowsvc_flow_model(c->flowver), nb, &fr);
	struct ivr_flowrt_out o;
	if (ivr_flowrt_result(call_flowrt(c), &fr, c->flow_now_ms, &o) > 0)
		flow_exec(c, &o);
}

/* Per tick, before the audio: start, lost results, deadlines. */
static void flow_tick(struct ivr_call *c, uint64_t now_ns)
{
	c->flow_now_ms = now_ns / 1000000;
	if (!c->flow_started) {
		flow_start(c);
		return;
	}
	struct ivr_flowrt_out o;
	uint32_t lost = ivr_flowsvc_take_lost(c->flowsvc, c->call_id);
	if (lost) {
		/* the ASR result did not fit the ring: the caller hears a no-match */
		struct ivr_flowrt_result fr = { .turn = lost, .text = "", .intent = -1 };
		if (ivr_flowrt_result(call_flowrt(c), &fr, c->flow_now_ms, &o) > 0)
			flow_exec(c, &o);
	}
	if (ivr_flowrt_tick(call_flowrt(c), c->flow_now_ms, &o) > 0)
		flow_exec(c, &o);
}

/* After the prompt's samples of this tick: report a finished flow prompt. */
static void flow_prompt_check(struct ivr_call *c)
{
	if (!c->flow_play_id || c->prompt)
		return;
	uint32_t id = c->flow_play_id;
	c->flow_play_id = 0;
	struct ivr_flowrt_out o;
	if (ivr_flowrt_prompt_done(call_flowrt(c), id, c->flow_now_ms, &o) > 0)
		flow_exec(c, &o);
}

/*
 * Media events -> router events (DESIGN.md section 3).  A digit is published
 * once, at its END, when its duration is known; speech START/END with the
 * offset in ms of the call's media clock.  Fax tones: one `fax` event per
 * CNG burst and one per ANS (at detection, not at its end).
 */
static void publish(struct ivr_call *c, const struct ivr_dspchain_out *o)
{
	const uint32_t per_ms = c->codec.rate_hz / 1000;
	for (uint32_t i = 0; i < o->n_events; i++) {
		const struct ivr_media_event *m = &o->ev[i];
		struct ivr_event ev = { 0 };
		c->st.dsp_events++;
		/* A call in a flow: the flow publishes (digits masked in sensitive nodes). */
		if (flow_media_event(c, m, per_ms))
			continue;
		switch (m->type) {
		case IVR_MEDIA_EV_DTMF_END:
			ev.type = IVR_EVENT_DTMF;
			ev.u.dtmf.digit = m->digit;
			ev.u.dtmf.source = m->source == IVR_MEDIA_SRC_RFC4733
						   ? IVR_EVENT_DTMF_RFC4733
						   : IVR_EVENT_DTMF_INBAND;
			ev.u.dtmf.duration_ms = m->duration_samples / per_ms;
			break;
		case IVR_MEDIA_EV_SPEECH_START:
		case IVR_MEDIA_EV_SPEECH_END:
			ev.type = m->type == IVR_MEDIA_EV_SPEECH_START ? IVR_EVENT_SPEECH_START
								       : IVR_EVENT_SPEECH_END;
			ev.u.speech.offset_ms = (uint32_t)(m->sample / per_ms);
			break;
		case IVR_MEDIA_EV_FAX_CNG:
		case IVR_MEDIA_EV_FAX_ANS:
			ev.type = IVR_EVENT_FAX;
			ev.u.fax.tone = m->type == IVR_MEDIA_EV_FAX_ANS ? IVR_EVENT_FAX_ANS
									: IVR_EVENT_FAX_CNG;
			ev.u.fax.reversals = (m->flags & IVR_FAXTONE_F_REVERSALS) != 0;
			ev.u.fax.offset_ms = (uint32_t)(m->sample / per_ms);
			break;
		default:
			continue;
		}
		if (!c->events)
			continue;
		uint8_t scratch[256];
		if (ivr_event_publish(c->events, c->worker, c->call_id, 0, 0, &ev, scratch,
				      sizeof(scratch)) < 0)
			c->st.events_dropped++;
	}
}

void ivr_call_dsp_in(struct ivr_call *c, float *frame, size_t n_samples)
{
	if (!c->dsp_ready)
		return;
	/*
	 * The VAD's output goes to the event ring, the ASR ring and the flow;
	 * a call with none of them (an engine without --ring or flows) skips
	 * the canceller, the VAD and the hand-off (engine/dspchain.h).
	 */
	ivr_dspchain_listen(call_chain(c), c->events || c->asr || c->flow_ready);
	/* c->out still holds the previous tick's frame: exactly what was sent last. */
	struct ivr_dspchain_out o;
	unsigned flags = (c->out_dtmf ? IVR_DSPCHAIN_F_FAR_DTMF : 0) |
			 (c->in_concealed ? IVR_DSPCHAIN_F_CONCEALED : 0);
	int n = ivr_dspchain_process(call_chain(c), frame, c->out, n_samples, flags, c->asr, &o);
	if (n > 0)
		publish(c, &o);
}

void ivr_call_dtmf_rx_event(struct ivr_call *c, const struct ivr_rtp_hdr *h)
{
	if (!c->dsp_ready)
		return;
	struct ivr_dspchain_out o;
	int n = ivr_dspchain_rfc4733(call_chain(c), h->payload, h->payload_n_bytes, h->ts, h->seq,
				     h->marker, &o);
	if (n > 0)
		publish(c, &o);
}

int ivr_call_dtmf_queue(struct ivr_call *c, const char *digits)
{
	int r = ivr_tone_tx_queue(call_tone_tx(c), digits);
	if (r >= 0)
		c->tone_tx_busy = true;
	return r;
}

size_t ivr_call_dtmf_pending(const struct ivr_call *c)
{
	return ivr_tone_tx_pending((const struct ivr_tone_tx *)c->tone_tx);
}

void ivr_call_dtmf_tx(struct ivr_call *c, float *out, size_t n_samples)
{
	float tone[IVR_CALL_FRAME_MAX];
	n_samples = IVR_MIN(n_samples, (size_t)IVR_CALL_FRAME_MAX);
	if (!ivr_tone_tx_render(call_tone_tx(c), tone, n_samples))
		return;
	for (size_t i = 0; i < n_samples; i++)
		out[i] += tone[i];
}

/*
 * out[i] += src[i], four lanes at a time: gcc -O2 leaves the plain loop scalar (it would
 * need a run-time overlap check and a tail), and the prompt's add was ~800 of the 1,390
 * instructions ivr_call_tick() itself ran per call and tick (callgrind, 1000 calls).
 */
static void add_f32(float *restrict out, const float *restrict src, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		v4_st(out + i, v4_ld(out + i) + v4_ld(src + i));
	for (; i < n; i++)
		out[i] += src[i];
}

static void play_prompt(struct ivr_call *c, uint64_t tick, float *out, size_t n)
{
	const struct ivr_prompt *p = c->prompt;
	if (!p->n_samples) {
		ivr_prompt_unref(c->prompt);
		c->prompt = NULL;
		return;
	}
	size_t pos = c->play_moh ? (size_t)((tick * n) % p->n_samples) : c->play_pos;
	/* In runs up to the prompt's end: no wrap test inside the (vector) add. */
	for (size_t i = 0; i < n;) {
		if (pos >= p->n_samples) {
			if (!c->play_loop && !c->play_moh) {
				ivr_prompt_unref(c->prompt);
				c->prompt = NULL;
				return;
			}
			pos = 0;
		}
		size_t k = IVR_MIN(n - i, p->n_samples - pos);
		add_f32(out + i, p->samples + pos, k);
		i += k;
		pos += k;
	}
	c->play_pos = pos;
	if (pos >= p->n_samples && !c->play_loop && !c->play_moh) {
		ivr_prompt_unref(c->prompt);
		c->prompt = NULL;
	}
}

/*
 * Queue audio of this tick: MOH at the engine-wide position (tick x frame, so
 * every waiting call plays the same samples of one decoded copy), ducked by
 * IVR_CALL_MOH_DUCK under an announcement.  A prompt the call plays (the
 * flow's goodbye, a play command) goes first: queue audio waits for it.
 */
static void queue_audio(struct ivr_call *c, uint64_t tick, float *out, size_t n)
{
	if (c->prompt)
		return;
	const struct ivr_prompt *m = c->queue_moh;
	const float g = c->queue_ann ? IVR_CALL_MOH_DUCK : 1.0f;
	if (m && m->n_samples) {
		size_t pos = (size_t)((tick * n) % m->n_samples);
		for (size_t i = 0; i < n; i++) {
			out[i] += g * m->samples[pos];
			if (++pos >= m->n_samples)
				pos = 0;
		}
	}
	const struct ivr_prompt *a = c->queue_ann;
	if (!a)
		return;
	size_t k = IVR_MIN(n, a->n_samples - IVR_MIN(c->queue_ann_pos, a->n_samples));
	add_f32(out, a->samples + c->queue_ann_pos, k);
	c->queue_ann_pos += k;
	if (c->queue_ann_pos >= a->n_samples) {
		ivr_prompt_unref(c->queue_ann);
		c->queue_ann = NULL;
	}
}

void ivr_call_announce_in_queue(struct ivr_call *c, struct ivr_prompt *p)
{
	ivr_prompt_unref(c->queue_ann);
	c->queue_ann = p;
	c->queue_ann_pos = 0;
}

void ivr_call_route_transfer(struct ivr_call *c)
{
	bool was_running = c->flow_ready && c->flow_started && !c->flow_stopped && !c->flow_ended;
	struct ivr_flowrt_stats fs = { .node = -1 };
	if (was_running)
		ivr_flowrt_get_stats(call_flowrt(c), &fs);
	c->flow_stopped = true;
	queue_enter(c);
	if (!was_running || fs.ended)
		return;
	/* The flow was still talking to the caller: it ends here, at its node. */
	flow_stop_prompt(c);
	ivr_flowsvc_arm(c->flowsvc, c->call_id, -1, 0, 0);
	const struct ivr_flow *f = ivr_flowsvc_flow_model(c->flowver);
	struct ivr_event ev = { .type = IVR_EVENT_NODE_EXIT };
	ev.u.node.node = fs.node >= 0 && (size_t)fs.node < f->n_nodes ? f->nodes[fs.node].name : "";
	ev.u.node.reason = "router";
	flow_publish(c, &ev);
	c->flow_end_cause = "transfer";
}

void ivr_call_set_end_cause(struct ivr_call *c, const char *cause)
{
	c->flow_end_cause = cause;
}

/*
 * A frame of caller audio is missing (or unusable): Opus conceals it itself,
 * from the FEC in @next when given, else by its PLC; G.711 by ivr_plc.
 */
static void conceal(struct ivr_call *c, const uint8_t *next, size_t n_next)
{
	const size_t n = c->frame_samples;
	int r = -ENOTSUP;
	if (c->codec.id == IVR_CODEC_OPUS) {
		r = ivr_codec_conceal(&c->codec, ivr_call_codec_state(c), next, n_next, c->in, n);
		if (r < 0 && next) /* malformed next packet: plain PLC */
			r = ivr_codec_conceal(&c->codec, ivr_call_codec_state(c), NULL, 0, c->in,
					      n);
		else if (r >= 0 && next)
			c->st.frames_fec++;
		if (r < 0)
			memset(c->in, 0, n * sizeof(float));
	} else {
		ivr_plc_conceal(&c->plc, c->in, n);
	}
	c->st.frames_concealed++;
	c->in_concealed = true;
}

/*
 * Connected UDP: connect() the RTP socket to the latched source, so that each send skips the
 * route lookup and the copy of a destination address (IORING_OP_SEND / sendmsg without a
 * name), and the kernel drops datagrams from other sources before they cost a receive.
 * Only after media latched (a NATed caller's real source may differ from the signalled
 * address), and only on sockets bound to a specific address: connect() on a wildcard-bound
 * socket pins its local address to the route's source, which on a multi-homed host may not
 * be the address the caller sends to.  Undone once the source has been quiet for
 * IVR_RTP_RELATCH_NS, so that a moved caller's packets reach the latch again; redone on the
 * next tick with the (new) latched source.  Errors the kernel reports on a connected socket
 * (ECONNREFUSED from an ICMP port unreachable) fail one send or end one multishot receive,
 * which the I/O loop re-arms: the call goes on.  connect() is a syscall, but it runs once
 * per latch, not per packet, and neither allocates in user space nor blocks.
 */
static void tx_connect_update(struct ivr_call *c, uint64_t now_ns)
{
	if (IVR_LIKELY(c->tx_conn == IVR_CALL_CONN_ON)) {
		if (IVR_LIKELY(c->conn_relatches == c->latch.relatches &&
			       now_ns - c->latch.last_ns < IVR_RTP_RELATCH_NS))
			return;
		struct sockaddr un = { .sa_family = AF_UNSPEC };
		if (connect(c->fd, &un, sizeof(un)) < 0) {
			/* still connected: sends keep going there, address or not */
			c->tx_conn = IVR_CALL_CONN_NEVER;
			return;
		}
		c->tx_conn = IVR_CALL_CONN_OFF;
	}
	if (c->tx_conn == IVR_CALL_CONN_NEVER || c->fd < 0 || !c->latch.latched ||
	    now_ns - c->latch.last_ns >= IVR_RTP_RELATCH_NS)
		return;
	if (c->tx_conn == IVR_CALL_CONN_UNCHECKED) {
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		bool specific = getsockname(c->fd, (struct sockaddr *)&me, &ml) == 0 &&
				me.sin_family == AF_INET && me.sin_addr.s_addr != htonl(INADDR_ANY);
		c->tx_conn = specific ? IVR_CALL_CONN_OFF : IVR_CALL_CONN_NEVER;
		if (!specific)
			return;
	}
	if (connect(c->fd, (const struct sockaddr *)&c->latch.addr, c->latch.addr_len) < 0) {
		c->tx_conn = IVR_CALL_CONN_NEVER;
		return;
	}
	c->tx_conn = IVR_CALL_CONN_ON;
	c->conn_relatches = c->latch.relatches;
}

int ivr_call_tick(struct ivr_call *c, uint64_t tick, uint64_t now_ns)
{
	const size_t n = c->frame_samples;
	c->rx_this_tick = 0;
	c->st.ticks++;
	/*
	 * Ticks the worker skipped (it fell behind) are time that passed: keep the
	 * playout point and the outgoing timestamps on the wall-clock grid, or the
	 * call would lag by the skipped frames for the rest of its life.
	 */
	uint64_t skipped = c->tx_started && tick > c->last_tick + 1 ? tick - c->last_tick - 1 : 0;
	c->last_tick = tick;
	if (IVR_UNLIKELY(skipped)) {
		uint8_t scratch[IVR_JB_MAX_PAYLOAD];
		size_t sb;
		uint32_t sts;
		for (uint64_t k = 0; k < IVR_MIN(skipped, (uint64_t)IVR_JB_SLOTS); k++)
			(void)ivr_jb_get(ivr_call_jb(c), scratch, sizeof(scratch), &sb, &sts);
		c->tx_ts += (uint32_t)(skipped * c->codec.frame_units);
		c->st.frames_skipped += skipped;
	}

	/* Caller -> engine. */
	c->in_concealed = false;
	uint8_t pay[IVR_JB_MAX_PAYLOAD];
	size_t nb = 0;
	uint32_t ts = 0;
	switch (ivr_jb_get(ivr_call_jb(c), pay, sizeof(pay), &nb, &ts)) {
	case IVR_JB_FRAME: {
		int got = ivr_codec_decode(&c->codec, ivr_call_codec_state(c), pay, nb, c->in, n);
		if (got < 0 && c->codec.id == IVR_CODEC_OPUS) {
			/* a malformed Opus packet is a lost one to the decoder */
			conceal(c, NULL, 0);
			break;
		}
		if (got < 0)
			got = 0;
		if ((size_t)got < n)
			memset(c->in + got, 0, (n - (size_t)got) * sizeof(float));
		if (c->codec.id != IVR_CODEC_OPUS)
			ivr_plc_good(&c->plc, c->in, n);
		c->st.frames_played++;
		break;
	}
	case IVR_JB_MISSING: {
		/* Opus: the next packet's in-band FEC rebuilds the lost frame (RFC 6716 4.2.5). */
		uint8_t next[IVR_JB_MAX_PAYLOAD];
		size_t nn = 0;
		uint32_t nts = 0;
		bool fec = c->codec.id == IVR_CODEC_OPUS &&
			   ivr_jb_peek(ivr_call_jb(c), next, sizeof(next), &nn, &nts) &&
			   nts == ts + c->codec.frame_units;
		conceal(c, fec ? next : NULL, nn);
		break;
	}
	default:
		memset(c->in, 0, n * sizeof(float));
		c->st.frames_silent++;
		break;
	}
	if (c->flow_ready && !c->flow_stopped)
		flow_tick(c, now_ns);
	ivr_call_dsp_in(c, c->in, n);
	if (atomic_load_explicit(&c->mix.conf, memory_order_relaxed))
		ivr_mix_port_publish(&c->mix, tick, c->in, n);

	/* Engine -> caller. */
	memset(c->out, 0, n * sizeof(float));
	bool prompt_audio = c->prompt != NULL;
	if (c->prompt)
		play_prompt(c, tick, c->out, n);
	if (c->flow_ready && !c->flow_stopped)
		flow_prompt_check(c);
	if (c->queue_moh || c->queue_ann)
		queue_audio(c, tick, c->out, n);
	if (c->mixer)
		ivr_mixer_mix(c->mixer, c->slot, tick, c->out, n);
	/* The sender's state is a cache line of its own: asked only while digits are queued
	 * (ivr_tone_tx_pending() was 0.7% of engine samples at 1000 calls, all of it the miss). */
	c->out_dtmf = c->tone_tx_busy && ivr_call_dtmf_pending(c) != 0;
	c->tone_tx_busy = c->out_dtmf;
	if (c->out_dtmf)
		ivr_call_dtmf_tx(c, c->out, n);

	if (c->rec_id && c->recorder) {
		int r = ivr_recorder_push(c->recorder, c->worker, c->slot, c->rec_id,
					  c->rec_paused ? NULL : c->in,
					  c->rec_paused ? NULL : c->out, n, false);
		if (r < 0)
			c->st.rec_dropped++;
	}
	if (c->rec_end_pending && c->recorder &&
	    ivr_recorder_push(c->recorder, c->worker, c->slot, c->rec_end_id, NULL, NULL, 0,
			      true) == 0)
		c->rec_end_pending = false;

	/* Nowhere to send until an address is known (signalled or latched). */
	if (c->latch.addr_len == 0)
		return 0;
	/* A telephone-event packet due this tick replaces the audio packet (RFC 4733 2.5.1). */
	struct ivr_rfc4733_tx_pkt ev;
	bool event = c->rfc_tx_ready && ivr_rfc4733_tx_busy((struct ivr_rfc4733_tx *)c->rfc_tx) &&
		     ivr_rfc4733_tx_tick((struct ivr_rfc4733_tx *)c->rfc_tx, c->tx_ts, &ev) == 1;
	uint8_t enc[IVR_CALL_FRAME_MAX];
	int ne;
	if (event) {
		memcpy(enc, ev.payload, ev.n_bytes);
		ne = (int)ev.n_bytes;
	} else {
		ne = ivr_codec_encode(&c->codec, ivr_call_codec_state(c), c->out, n, enc,
				      sizeof(enc));
	}
	if (ne < 0)
		return 0;
	struct ivr_rtp_hdr h = { 0 };
	h.pt = event ? (uint8_t)c->dtmf_pt : c->codec.pt;
	h.marker = event ? ev.marker : !c->tx_started;
	h.seq = c->tx_seq++;
	h.ts = event ? ev.timestamp : c->tx_ts;
	h.ssrc = c->ssrc;
	c->tx_ts += c->codec.frame_units;
	c->tx_started = true;
	unsigned i = c->pkt_i;
	c->pkt_i ^= 1;
	int len = ivr_rtp_build(c->pkt[i], IVR_CALL_PKT_MAX, &h, enc, (size_t)ne);
	if (len < 0)
		return 0;
	c->iov[i].iov_base = c->pkt[i];
	c->iov[i].iov_len = (size_t)len;
	tx_connect_update(c, now_ns);
	memset(&c->msg[i], 0, sizeof(c->msg[i]));
	if (c->tx_conn != IVR_CALL_CONN_ON) {
		c->msg[i].msg_name = &c->latch.addr;
		c->msg[i].msg_namelen = c->latch.addr_len;
	}
	c->msg[i].msg_iov = &c->iov[i];
	c->msg[i].msg_iovlen = 1;
	if (!c->first_tx_ns)
		c->first_tx_ns = now_ns;
	if (prompt_audio && !c->first_prompt_tx_ns)
		c->first_prompt_tx_ns = now_ns;
	c->st.tx_pkts++;
	c->st.tx_bytes += (uint64_t)len;
	c->st.tx_payload_bytes += (uint64_t)ne;
	return len;
}

/* NTP 32.32 from the wall clock (vDSO clock_gettime: no syscall, no block). */
static uint64_t ntp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t sec = (uint64_t)ts.tv_sec + 2208988800ull;
	uint64_t frac = ((uint64_t)ts.tv_nsec << 32) / 1000000000ull;
	return (sec << 32) | frac;
}

void ivr_call_on_rtcp(struct ivr_call *c, const uint8_t *data, size_t n_bytes,
		      const struct sockaddr *from, socklen_t from_len, uint64_t now_ns)
{
	struct ivr_rtcp_report r;
	if (IVR_UNLIKELY(++c->rx_this_tick > IVR_CALL_FLOOD_PKTS)) {
		c->st.rx_flood_dropped++;
		return;
	}
	if (ivr_rtcp_parse(&r, data, n_bytes) < 0) {
		c->st.rtcp_bad++;
		return;
	}
	c->st.rtcp_rx++;
	/* Symmetric RTCP: answer where reports come from. */
	if (from_len > 0 && from_len <= sizeof(c->rtcp_addr)) {
		memcpy(&c->rtcp_addr, from, from_len);
		c->rtcp_addr_len = from_len;
	}
	if (r.is_sr) {
		c->lsr = ivr_rtcp_ntp_mid(r.ntp);
		c->lsr_arrival_ns = now_ns;
	}
	for (unsigned i = 0; i < r.n_rb; i++) {
		if (r.rb[i].ssrc != c->ssrc)
			continue;
		c->st.remote_fraction_lost = r.rb[i].fraction_lost;
		c->st.remote_jitter = r.rb[i].jitter;
		int64_t rtt = ivr_rtcp_rtt(&r.rb[i], ivr_rtcp_ntp_mid(ntp_now()));
		if (rtt >= 0)
			c->st.rtt_us = rtt * 1000000 / 65536;
	}
}

int ivr_call_rtcp_tick(struct ivr_call *c, uint64_t tick, uint64_t now_ns)
{
	/* Staggered by slot so a worker's reports do not all fall on one tick. */
	if (c->rtcp_fd < 0 || (tick + c->slot) % IVR_CALL_RTCP_TICKS != 0 || !c->tx_started)
		return 0;
	struct ivr_rtcp_report r = { 0 };
	r.ssrc = c->ssrc;
	r.is_sr = true;
	r.ntp = ntp_now();
	r.rtp_ts = c->tx_ts;
	r.pkt_count = (uint32_t)c->st.tx_pkts;
	r.octet_count = (uint32_t)c->st.tx_payload_bytes;
	if (c->have_src && c->src.valid) {
		struct ivr_rtcp_rb *b = &r.rb[0];
		r.n_rb = 1;
		b->ssrc = c->src.ssrc;
		ivr_rtp_source_loss(&c->src, &b->cum_lost, &b->fraction_lost);
		b->ext_max_seq = ivr_rtp_source_ext_max(&c->src);
		b->jitter = ivr_rtp_source_jitter_units(&c->src);
		if (c->lsr) {
			b->lsr = c->lsr;
			b->dlsr = (uint32_t)((now_ns - c->lsr_arrival_ns) * 65536 / 1000000000ull);
		}
	}
	int len = ivr_rtcp_build(c->rtcp_pkt, sizeof(c->rtcp_pkt), &r, "ivr-engine");
	if (len < 0)
		return 0;
	if (c->rtcp_addr_len == 0) {
		/* No RTCP heard yet: RFC 3550 convention, RTP port + 1. */
		if (c->latch.addr_len == 0)
			return 0;
		memcpy(&c->rtcp_addr, &c->latch.addr, c->latch.addr_len);
		struct sockaddr_in *a = (struct sockaddr_in *)&c->rtcp_addr;
		if (a->sin_family != AF_INET)
			return 0;
		a->sin_port = htons((uint16_t)(ntohs(a->sin_port) + 1));
		c->rtcp_addr_len = c->latch.addr_len;
	}
	c->rtcp_iov.iov_base = c->rtcp_pkt;
	c->rtcp_iov.iov_len = (size_t)len;
	memset(&c->rtcp_msg, 0, sizeof(c->rtcp_msg));
	c->rtcp_msg.msg_name = &c->rtcp_addr;
	c->rtcp_msg.msg_namelen = c->rtcp_addr_len;
	c->rtcp_msg.msg_iov = &c->rtcp_iov;
	c->rtcp_msg.msg_iovlen = 1;
	c->st.rtcp_tx++;
	return len;
}

void ivr_call_retire(struct ivr_call *c)
{
	ivr_prompt_unref(c->prompt);
	c->prompt = NULL;
	ivr_prompt_unref(c->queue_ann);
	c->queue_ann = NULL;
	ivr_prompt_unref(c->queue_moh);
	c->queue_moh = NULL;
	if (c->flow_ready) {
		if (c->flow_started)
			flow_call_end(c, c->flow_end_cause ? c->flow_end_cause : "hangup");
		ivr_flowsvc_call_close(c->flowsvc, c->call_id);
	}
	if (c->rec_id && c->recorder) {
		/* Best effort: a full ring leaves the file to be closed at reuse/shutdown. */
		(void)ivr_recorder_push(c->recorder, c->worker, c->slot, c->rec_id, NULL, NULL, 0,
					true);
		c->rec_id = 0;
	} else if (c->rec_end_pending && c->recorder) {
		(void)ivr_recorder_push(c->recorder, c->worker, c->slot, c->rec_end_id, NULL, NULL,
					0, true);
	}
	c->rec_end_pending = false;
}
