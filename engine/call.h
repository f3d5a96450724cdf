/* SPDX-License-Identifier: MIT */
/*
 * engine/call.h - one call's media state, living in a preallocated slot.
 *
 * The engine preallocates max_calls slots in one 64-byte aligned arena at
 * start-up (ivr_call_arena_new); a slot holds everything a call needs on the
 * media path: RTP in/out state, the jitter buffer, PLC, codec, the DSP-chain
 * state area, prompt playback position, DTMF sender queue, recording ids and
 * the conference port, and after the jitter buffer the codec state (Opus
 * encoder + decoder, engine/codec.h) and the 16 kHz DSP chain of wideband
 * Opus calls (G.711 calls leave both untouched, so their pages are never
 * faulted in; 8 kHz calls keep their chain in dsp[]).  Nothing is allocated after the call is
 * created.
 *
 * Life cycle (docs/architecture.md): FREE -> (control: bind socket, init)
 * SETUP -> (worker: ADD command) ACTIVE -> (control: destroy) CLOSING ->
 * (worker: stops I/O, drops references) RETIRED -> (control: close socket,
 * release port) FREE.  The state word is the only field both sides write.
 *
 * Hook points:
 *   ivr_call_dsp_in()   - per-call DSP chain (engine/dspchain.h) on the
 *                         caller's decoded audio: in-band DTMF + RFC 4733
 *                         merge, fax tones, AEC against what the call was
 *                         sent, VAD; its state lives in dsp[] (set up by
 *                         ivr_call_dsp_setup() at create, released by
 *                         ivr_call_dsp_release() when the slot is freed);
 *                         DTMF and speech events go to the event ring.
 *   ivr_call_dtmf_rx_event() - RFC 4733 payloads from the caller, into the
 *                         same chain and merge.
 *   ivr_call_dtmf_tx()  - renders digits queued by ivr_call_dtmf_queue()
 *                         into the outgoing audio (in-band) with the
 *                         dsp/tone.h sender in tone_tx[] (Q.23 pairs, low
 *                         group -8 dBm0, high group +2 dB, 100 ms on,
 *                         60 ms off); digits sent as RFC 4733 go through
 *                         the dsp/rfc4733.h sender in rfc_tx[], whose
 *                         packets replace the audio packet of their tick.
 * Thread: RT for on_packet/tick (the owning worker); control for the rest.
 */
#ifndef IVR_ENGINE_CALL_H
#define IVR_ENGINE_CALL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/defs.h"
#include "engine/codec.h"
#include "engine/jitter.h"
#include "engine/mixer.h"
#include "engine/rtp.h"

#define IVR_CALL_FRAME_MAX    320
#define IVR_CALL_PKT_MAX      512
#define IVR_CALL_DSP_BYTES    19968 /* room for the 8 kHz DSP chain (ivr_dspchain_size(): 19776) */
#define IVR_CALL_TONE_BYTES   128   /* dsp/tone.h sender (ivr_tone_tx_size(): 112) */
#define IVR_CALL_DTMF_ON_MS   100   /* per digit sent, in-band and RFC 4733 alike */
#define IVR_CALL_DTMF_OFF_MS  60    /* gap after each digit sent */
#define IVR_CALL_RFC_TX_BYTES 704   /* dsp/rfc4733.h sender (ivr_rfc4733_tx_size(): 644) */
#define IVR_CALL_FLOOD_PKTS   25    /* per tick; a normal call sends 1 */
#define IVR_CALL_RTCP_TICKS   250   /* an RTCP report every 5 s (RFC 3550 6.2 minimum) */
#define IVR_CALL_TAG_RTCP     0x80000000u /* in the low word of an I/O tag: the RTCP socket */
#define IVR_CALL_FLOWRT_BYTES 4096	  /* flow runtime (ivr_flowrt_size()) */
#define IVR_CALL_VARS_BYTES   512	  /* call_start vars kept in the slot */
#define IVR_CALL_VARS_MAX     16	  /* ... at most this many */
#define IVR_CALL_ID_SLOT_BITS 24	  /* call_id = generation << 24 | slot (engine/api.c) */
#define IVR_CALL_MOH_DUCK     0.1f	  /* MOH gain under a queue announcement (-20 dB) */

struct ivr_prompt;
struct ivr_recorder;
struct ivr_shmring;
struct ivr_ring;
struct ivr_flowsvc;
struct ivr_flowsvc_flow;
struct ivr_flowsvc_result;

enum ivr_call_state {
	IVR_CALL_FREE = 0,
	IVR_CALL_SETUP,
	IVR_CALL_ACTIVE,
	IVR_CALL_CLOSING,
	IVR_CALL_RETIRED,
};

/** Counters of one call (owned by its worker, read racily by stats). */
struct ivr_call_stats {
	uint64_t rx_pkts, rx_bytes, rx_bad, rx_foreign, rx_other_pt, rx_flood_dropped;
	uint64_t rx_dtmf_pkts;
	uint64_t tx_pkts, tx_bytes, tx_errors;
	uint64_t frames_played, frames_concealed, frames_silent, frames_skipped;
	uint64_t frames_fec; /* of frames_concealed: rebuilt from Opus in-band FEC */
	uint64_t rec_dropped;
	uint64_t dsp_events, events_dropped; /* media events / refused by the event ring */
	uint64_t ticks;
	uint32_t jitter_units, jb_target_frames, jb_depth_frames;
	uint64_t jb_late, jb_duplicates, jb_missing;
	uint64_t rtcp_rx, rtcp_bad, rtcp_tx;
	uint64_t tx_payload_bytes;
	int64_t rtt_us;		      /* from the peer's report blocks; -1 = unknown */
	uint8_t remote_fraction_lost; /* what the peer reports about our stream */
	uint32_t remote_jitter;
	int32_t cum_lost;
};

/** Whether the RTP socket is connect()ed to the latched source (ivr_call_tick decides). */
enum ivr_call_conn {
	IVR_CALL_CONN_UNCHECKED = 0, /* not yet looked at */
	IVR_CALL_CONN_OFF,	     /* not connected: sends carry the address */
	IVR_CALL_CONN_ON,	     /* connected: sends go without an address */
	IVR_CALL_CONN_NEVER,	     /* wildcard-bound or refused: always send with the address */
};

struct ivr_call {
	/* ---- written by control before ADD, read-only afterwards ---- */
	uint32_t slot;
	uint32_t gen;
	uint64_t call_id;
	unsigned worker;
	int fd;
	int rtcp_fd; /* RTP port + 1 */
	uint16_t local_port;
	struct ivr_codec codec;
	int dtmf_pt;		/* -1: none */
	uint32_t frame_samples; /* 160 at 8 kHz, 320 at 16 kHz (codec.rate_hz) */
	uint32_t ssrc;
	uint64_t created_ns;
	char ani[64], dnis[64], flow[64];
	struct ivr_recorder *recorder; /* engine-wide, shared (push is per worker ring) */
	struct ivr_mixer *mixer;       /* engine-wide conference table */
	struct ivr_shmring *events;    /* event ring (sub-ring = worker), NULL = none */
	struct ivr_ring *asr;	       /* worker's speech ring to ASR, NULL = none */
	bool dsp_ready;		       /* dsp[] holds an initialised chain */
	bool mix_alt_ready;	       /* mix.alt_rs is initialised (ivr_call_mix_setup) */
	bool aec_on;		       /* the chain cancels echo (enum ivr_call_aec) */
	uint64_t ssrc_seed;
	struct ivr_flowsvc *flowsvc;	     /* engine-wide flow service, NULL = no flow */
	struct ivr_flowsvc_flow *flowver;    /* flow version the call runs (a reference) */
	bool flow_ready;		     /* flowrt[] holds an initialised runtime */
	uint8_t n_flow_vars;		     /* platform vars for call_start, in flow_vars */
	char flow_vars[IVR_CALL_VARS_BYTES]; /* "key\0value\0" pairs (strings and numbers) */
	struct ivr_prompt *moh_src;	     /* engine's music on hold (engine holds it), or NULL */

	/* ---- shared: the state word ---- */
	_Alignas(64) atomic_int state;
	atomic_bool queued; /* written by the worker once the call waits in queue */

	/* ---- media thread only ---- */
	_Alignas(64) struct ivr_rtp_source src;
	bool have_src;
	struct ivr_rtp_latch latch;
	int8_t tx_conn;		 /* enum ivr_call_conn: fd connected to the latched source? */
	uint32_t conn_relatches; /* latch.relatches when fd was connected */
	uint16_t tx_seq;
	uint32_t tx_ts;
	bool tx_started;
	uint64_t last_tick;	   /* the worker may skip ticks when it falls behind */
	uint32_t rx_this_tick;	   /* flood guard */
	struct ivr_prompt *prompt; /* reference held while playing */
	size_t play_pos;
	bool play_loop;
	bool play_moh;		       /* position from the engine tick: shared MOH */
	bool flow_started, flow_ended; /* call_start published / call_end published */
	uint32_t flow_play_id;	       /* flowrt PLAY in progress (0 = none) */
	uint32_t flow_utts;	       /* speech starts seen = the chain's last utterance id */
	uint64_t flow_now_ms;	       /* time of the current tick, for inputs between ticks */
	const char *flow_end_cause;    /* call_end cause once the flow handed the call on */
	bool flow_stopped;	       /* the router took the call out of its flow */
	struct ivr_prompt *queue_moh;  /* reference on moh_src while waiting in queue */
	struct ivr_prompt *queue_ann;  /* queue announcement playing (a reference), or NULL */
	size_t queue_ann_pos;
	bool out_dtmf;	   /* c->out carries in-band DTMF we sent (echo guard) */
	bool tone_tx_busy; /* digits were queued on tone_tx[] and may not be done yet */
	bool in_concealed; /* c->in stands in for lost packets this tick (the DSP chain's flag) */
	bool rfc_tx_ready; /* rfc_tx[] holds an initialised sender */
	_Alignas(64) uint8_t rfc_tx[IVR_CALL_RFC_TX_BYTES];
	/* struct ivr_tone_tx: the in-band DTMF sender */
	_Alignas(64) uint8_t tone_tx[IVR_CALL_TONE_BYTES];
	uint32_t rec_id; /* 0 = not recording */
	bool rec_paused;
	bool rec_end_pending; /* stop requested, end record not yet queued */
	uint32_t rec_end_id;
	uint64_t first_tx_ns;	     /* time of the first packet sent */
	uint64_t first_prompt_tx_ns; /* time of the first packet carrying a prompt */
	struct ivr_call_stats st;
	struct ivr_plc plc;
	_Alignas(64) float in[IVR_CALL_FRAME_MAX];  /* caller audio of this tick */
	_Alignas(64) float out[IVR_CALL_FRAME_MAX]; /* engine audio of this tick */
	_Alignas(64) uint8_t dsp[IVR_CALL_DSP_BYTES];
	_Alignas(64) uint8_t flowrt[IVR_CALL_FLOWRT_BYTES]; /* struct ivr_flowrt */
	/* send buffers: two, alternating, so an in-flight io_uring send is never overwritten */
	_Alignas(64) uint8_t pkt[2][IVR_CALL_PKT_MAX];
	struct msghdr msg[2];
	struct iovec iov[2];
	unsigned pkt_i;
	/* RTCP */
	uint32_t lsr; /* middle 32 bits of the peer's last SR NTP time */
	uint64_t lsr_arrival_ns;
	struct sockaddr_storage rtcp_addr;
	socklen_t rtcp_addr_len; /* 0: derive from the RTP destination (+1) */
	_Alignas(64) uint8_t rtcp_pkt[256];
	struct msghdr rtcp_msg;
	struct iovec rtcp_iov;

	struct ivr_mix_port mix;
	/* struct ivr_jb (ivr_jb_size() bytes), then codec state, then a 16 kHz chain */
	_Alignas(64) uint8_t jb[];
};

/**
 * @return the slot stride: sizeof(struct ivr_call) + jitter buffer + codec
 * state (ivr_codec_state_max()) + a 16 kHz DSP chain, 64-aligned.
 */
size_t ivr_call_slot_size(void);

/** @return the call's jitter buffer. */
static inline struct ivr_jb *ivr_call_jb(struct ivr_call *c)
{
	return (struct ivr_jb *)c->jb;
}

/**
 * @return the bytes of a slot the media path uses for every call: all but
 * the codec state and the 16 kHz chain, which ivr_call_dsp_setup()
 * initialises (faults in) on the control thread for the calls that have
 * them.  Thread: any.
 */
size_t ivr_call_slot_hot_size(void);

/** @return the call's codec state (ivr_codec_state_max() bytes, 64-aligned). */
void *ivr_call_codec_state(struct ivr_call *c);

/**
 * Set the call up for c->codec (control thread, after ivr_call_init() and
 * the codec): frame size, jitter buffer clock (48 kHz for Opus), PLC and the
 * codec state.  ivr_call_dsp_setup() runs it first.
 * @return 0 or a negative errno.
 */
IVR_NODISCARD int ivr_call_codec_setup(struct ivr_call *c);

/**
 * Prepare a slot for a new call (control thread, slot FREE): resets media
 * state, jitter buffer and PLC; codec/addresses set by the caller after.
 * @return 0 or a negative errno.
 */
IVR_NODISCARD int ivr_call_init(struct ivr_call *c, uint32_t slot, uint32_t gen);

/**
 * Handle one received datagram for this call.  @now_ns CLOCK_MONOTONIC.
 * Thread: RT (owning worker).
 */
IVR_RT void ivr_call_on_packet(struct ivr_call *c, const uint8_t *data, size_t n_bytes,
			       const struct sockaddr *from, socklen_t from_len, uint64_t now_ns);

/**
 * Run one 20 ms tick: jitter buffer -> decode/PLC -> DSP chain -> recorder,
 * prompt/MOH + conference + DTMF -> encode -> RTP packet.
 * @return the packet length to send (c->msg[c->pkt_i ^ 1] is ready), 0 when
 *         there is nowhere to send yet.  Thread: RT.
 */
IVR_RT int ivr_call_tick(struct ivr_call *c, uint64_t tick, uint64_t now_ns);

/** Handle one datagram on the call's RTCP socket. Thread: RT. */
IVR_RT void ivr_call_on_rtcp(struct ivr_call *c, const uint8_t *data, size_t n_bytes,
			     const struct sockaddr *from, socklen_t from_len, uint64_t now_ns);

/**
 * Build the periodic SR (with a report block on the caller's stream) when
 * due at @tick.  @return its length (c->rtcp_msg is ready) or 0.  Thread: RT.
 */
IVR_RT int ivr_call_rtcp_tick(struct ivr_call *c, uint64_t tick, uint64_t now_ns);

/**
 * Play queue announcement @p (a reference the call takes over) over the
 * call's music on hold; the MOH returns to full level when it ends.
 * Thread: RT (the call's worker).
 */
IVR_RT void ivr_call_announce_in_queue(struct ivr_call *c, struct ivr_prompt *p);

/**
 * The router transferred the call: a flow still running stops (its prompt,
 * its recognition; a node_exit with reason "router" is published and the
 * call_end cause becomes "transfer"), and the call waits in queue with music
 * on hold.  Idempotent.  Thread: RT (the call's worker).
 */
IVR_RT void ivr_call_route_transfer(struct ivr_call *c);

/** Set the call_end cause (a static string) published when the call is retired. Thread: RT. */
IVR_RT void ivr_call_set_end_cause(struct ivr_call *c, const char *cause);

/** Drop what the call holds on the media side (prompt ref, recording). Thread: RT. */
IVR_RT void ivr_call_retire(struct ivr_call *c);

/**
 * Set up the call's DSP chain at the call's rate (8 kHz in c->dsp, 16 kHz in
 * the slot's cold part) for c->call_id (allocates speexdsp's
 * canceller) and, when c->dtmf_pt >= 0, the RFC 4733 sender in c->rfc_tx.
 * Needs codec, dtmf_pt and call_id set; call after ivr_call_init() and
 * before the worker's ADD.  Runs ivr_call_codec_setup() first.
 * @return 0 or a negative errno.  Thread: control.
 */
IVR_NODISCARD int ivr_call_dsp_setup(struct ivr_call *c);

/**
 * Give the call's conference port its rate converter (mixer.h, mixed rates)
 * in the slot's cold part, before its first conf_join; kept until
 * ivr_call_mix_release().  Allocates speexdsp's resampler state.
 * @return 0 or a negative errno.  Thread: control.
 */
IVR_NODISCARD int ivr_call_mix_setup(struct ivr_call *c);

/** Free what ivr_call_mix_setup() took (slot going back to FREE); idempotent. Thread: control. */
void ivr_call_mix_release(struct ivr_call *c);

/** Release the chain's speexdsp state (slot going back to FREE); idempotent. Thread: control. */
void ivr_call_dsp_release(struct ivr_call *c);

/**
 * Give the call a flow runtime for version @v of @svc (takes over the
 * caller's reference on @v).  Needs call_id set; before the worker's ADD.
 * @return 0, -ENOSPC (runtime larger than the slot's room), -EINVAL.
 * Thread: control.
 */
IVR_NODISCARD int ivr_call_flow_setup(struct ivr_call *c, struct ivr_flowsvc *svc,
				      struct ivr_flowsvc_flow *v);

/** Drop the flow version reference (slot going back to FREE); idempotent. Thread: control. */
void ivr_call_flow_release(struct ivr_call *c);

/** A recognition result of the ASR service for this call. Thread: RT. */
IVR_RT void ivr_call_flow_result(struct ivr_call *c, const struct ivr_flowsvc_result *r);

/** DSP chain hook: caller's decoded audio of this tick. Thread: RT. */
IVR_RT void ivr_call_dsp_in(struct ivr_call *c, float *frame, size_t n_samples);

/** RFC 4733 hook: a telephone-event payload from the caller. Thread: RT. */
IVR_RT void ivr_call_dtmf_rx_event(struct ivr_call *c, const struct ivr_rtp_hdr *h);

/**
 * Queue @digits (0-9 * # A-D) for in-band sending.  All or nothing.
 * @return digits queued, -EINVAL (not a digit) or -ENOSPC (queue full).
 * Thread: RT (the owning worker).
 */
IVR_RT int ivr_call_dtmf_queue(struct ivr_call *c, const char *digits);

/** @return digits queued or being sent in-band. Thread: RT. */
IVR_RT size_t ivr_call_dtmf_pending(const struct ivr_call *c);

/** DTMF sending hook: add (+=) the queued digits' tones to @out. Thread: RT. */
IVR_RT void ivr_call_dtmf_tx(struct ivr_call *c, float *out, size_t n_samples);

#endif /* IVR_ENGINE_CALL_H */
