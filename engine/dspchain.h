/* SPDX-License-Identifier: MIT */
/*
 * engine/dspchain.h - the per-call DSP chain: echo cancelling, DTMF (in-band
 * and RFC 4733, merged), fax tones, VAD/endpointer, and the speech hand-off
 * to the ASR threads.
 *
 * What: one state per call, placed in the call slot (_size/_init), run once
 * per 20 ms frame of the caller's decoded audio on the call's media worker.
 * Per frame (DESIGN.md section 1):
 *   near (caller audio) ---+--> in-band DTMF (dsp/dtmf.h)
 *                          +--> fax tones CNG/ANS (dsp/faxtone.h)
 *                          +--> AEC (dsp/aec.h, reference = what the engine
 *                                sent this call) --> VAD/endpointer
 *                                (dsp/vad.h) --> speech START/END, and while
 *                                in speech the 8 kHz frames (with a 300 ms
 *                                pre-roll) go to the worker's ASR ring.
 *   RFC 4733 packets --> receiver (dsp/rfc4733.h) --> the same DTMF merge.
 * Output: a fixed array of media events per call of the chain (no
 * allocation): DTMF START/END with source and duration, speech START/END
 * with sample offsets, fax CNG/ANS/ANS_END.
 *
 * Why DTMF and fax tones on the canceller's input, not its output
 * (measured in tests/unit/test_dspchain.c, prompt echo at about -26 dBm0):
 * the canceller is followed by speexdsp's residual-echo and noise
 * suppressor, which learns a stationary tone as noise and attenuates it
 * after a few hundred ms: a held key (2 s at -20 dBm0) came out of the
 * output as 23 digits for 16 presses, from the input as exactly 16 with
 * durations within 10 ms.  Short presses at -16 dBm0: 16/16 on both.  The
 * output does win for weak presses at the echo's own level (70 ms at
 * -26 dBm0: 16/16 after, 13/16 before), because the echo is gone there;
 * phones send DTMF at -4..-10 dBm0 per tone, well above a line's echo, so
 * splitting held keys is the worse failure.  Fax tones are stationary
 * too, hence the same placement.
 * The one thing the input placement must handle is the echo of DTMF the
 * engine itself sends in-band: frames flagged IVR_DSPCHAIN_F_FAR_DTMF (and
 * echo_guard_ms after them) do not start in-band digits.
 *
 * DTMF merge without doubles (RFC 4733 section 2.6 says a receiver should
 * prefer telephone-events when both arrive):
 *   1. Once the call has delivered a valid telephone-event packet, in-band
 *      digits are suppressed for the rest of the call (the detector still
 *      runs, to keep tones away from the VAD); an in-band digit already
 *      started still gets its END.
 *   2. An RFC 4733 START for a digit that in-band reported (START) within
 *      dedup_ms (default 500) of media time before the packet is dropped,
 *      and so is the matching RFC 4733 END: the in-band pair stands.
 *      (In-band usually loses the race, since audio waits in the jitter
 *      buffer and telephone-events do not; the window covers senders that
 *      start events late and a lost first event packet.)
 *   3. A lost first RFC 4733 packet: the receiver keys events on their RTP
 *      timestamp, so any later packet of the event starts it (once).
 * Sample positions of in-band, VAD and fax events are media samples since
 * init/reset (the chain's clock: one frame per process call); an RFC 4733
 * event is stamped with the chain's clock when its first packet arrived,
 * and its duration is the sender's.
 *
 * DTMF is not speech: the canceller and the VAD run 3 frames (60 ms) behind
 * the DTMF detector, and frames that hold a tone the detector heard
 * (reported as a digit or suppressed as own echo or under rule 1) reach
 * them and the ASR hand-off as the last frame the VAD heard as non-speech.
 * So a key press neither starts speech nor reaches the ASR, the VAD's
 * active-level tracker never learns the tone's level (it would gate out
 * quieter speech after a loud key), and the canceller does not misadapt on
 * the tone (its residue of the prompt would sound like speech).  Speech
 * events are reported 60 ms later for it; their sample positions are
 * unchanged.
 *
 * Speech hand-off: records of struct ivr_asr_frame (512 bytes, power of two
 * as common/ring.h wants) on a per-worker SPSC ring; the producer never
 * blocks, a full ring drops and counts, and an utterance that lost a frame
 * is closed by a LAST|ABORTED marker as soon as the ring has room.  The
 * consumer side (struct ivr_asr_reasm) reassembles utterances per call.
 *
 * Memory: the state is flat except speexdsp's AEC state, which speexdsp
 * allocates at _init (call setup) and _fini releases; hence _init and
 * _fini are control-thread work and the state is not memcpy-clonable.
 * Rates: 8000 Hz (G.711, narrowband Opus) and 16000 Hz (wideband Opus):
 * every stage runs at the call's rate (DTMF, fax tones, AEC and VAD take
 * it), the frame buffers after the sub-states are sized for it, and a
 * 16 kHz frame goes to the ASR as two 10 ms records flagged IVR_ASR_F_WB,
 * so the 16 kHz recogniser gets the call's own audio, not an upsampled copy.
 * Thread: process/rfc4733/tick on the call's media worker (IVR_RT);
 * size/init/reset/fini on the control thread.
 */
#ifndef IVR_ENGINE_DSPCHAIN_H
#define IVR_ENGINE_DSPCHAIN_H

#include <stdbool.h>

#include "common/defs.h"
#include "common/ring.h"

struct ivr_dspchain; /* opaque */

/** Configuration; zero fields take the defaults in brackets. */
struct ivr_dspchain_cfg {
	uint32_t rate_hz;	    /* 8000 or 16000 (wideband Opus calls) [8000] */
	uint64_t call_id;	    /* copied into the ASR records */
	uint32_t aec_tail_ms;	    /* echo path length the filter covers [128] */
	uint32_t aec_bulk_delay_ms; /* round trip taken up by a FIFO [0] */
	uint8_t no_aec;		    /* 1: VAD on the raw caller audio */
	uint8_t dtmf_on_aec_output; /* 1: in-band DTMF after the canceller (tests) */
	uint32_t dedup_ms;	    /* RFC 4733 START vs earlier in-band START [500] */
	uint32_t echo_guard_ms;	    /* after own in-band DTMF sent [300] */
	uint32_t preroll_ms;	    /* audio before VAD START sent to ASR [300], <= 400 */
	uint32_t vad_start_ms;	    /* speech needed for START [60] */
	uint32_t vad_end_ms;	    /* non-speech needed for END [600] */
	uint32_t rfc_clock_hz;	    /* RTP clock of telephone-events [rate_hz]; 48000 on Opus */
};

/** Media event types. */
enum ivr_media_ev_type {
	IVR_MEDIA_EV_DTMF_START = 1,   /* digit, source, sample = onset */
	IVR_MEDIA_EV_DTMF_END = 2,     /* digit, source, sample = onset, duration */
	IVR_MEDIA_EV_SPEECH_START = 3, /* sample = first sample of the speech run */
	IVR_MEDIA_EV_SPEECH_END = 4,   /* sample = one past its last sample */
	IVR_MEDIA_EV_FAX_CNG = 5,      /* sample = burst onset, duration; flags */
	IVR_MEDIA_EV_FAX_ANS = 6,      /* sample = tone onset, duration so far; flags */
	IVR_MEDIA_EV_FAX_ANS_END = 7,  /* duration = whole tone */
};

/** DTMF sources (same values as enum ivr_event_dtmf_source in engine/events.h). */
enum ivr_media_src { IVR_MEDIA_SRC_INBAND = 0, IVR_MEDIA_SRC_RFC4733 = 1 };

/** One media event; positions in samples of the chain's clock (see above). */
struct ivr_media_event {
	uint8_t type;		   /* enum ivr_media_ev_type */
	uint8_t source;		   /* DTMF: enum ivr_media_src */
	char digit;		   /* DTMF: '0'-'9', '*', '#', 'A'-'D', '!' (flash) */
	uint8_t flags;		   /* fax: IVR_FAXTONE_F_* */
	uint32_t duration_samples; /* DTMF END, fax */
	uint64_t sample;	   /* see enum ivr_media_ev_type */
};

/** Most events one process or rfc4733 call can produce. */
#define IVR_DSPCHAIN_MAX_EVENTS 16

/** What one call of the chain produced. */
struct ivr_dspchain_out {
	uint32_t n_events;
	struct ivr_media_event ev[IVR_DSPCHAIN_MAX_EVENTS];
	uint8_t speech;	   /* VAD frame decision (process only) */
	uint8_t in_speech; /* endpointer between START and END (process only) */
};

/** Process flags. */
#define IVR_DSPCHAIN_F_FAR_DTMF	 0x01 /* the far frame carried in-band DTMF the engine sent */
#define IVR_DSPCHAIN_F_CONCEALED 0x02 /* the near frame stands in for lost packets (PLC) */

/** Counters of one chain (owned by its worker, read racily). */
struct ivr_dspchain_stats {
	uint64_t frames, aec_frames;	  /* frames processed / through the canceller */
	uint64_t inband_suppressed;	  /* in-band STARTs dropped (rule 1 or echo guard) */
	uint64_t rfc_dedup;		  /* RFC 4733 STARTs dropped by rule 2 */
	uint64_t rfc_bad;		  /* malformed telephone-event payloads */
	uint64_t asr_frames, asr_drops;	  /* records pushed / refused by a full ring */
	uint64_t utterances, utt_aborted; /* utterances started / cut by a drop */
};

/* ------------------------------------------------------------- ASR records */

/** ASR record flags. */
#define IVR_ASR_F_FIRST	  0x01 /* first frame of an utterance (pre-roll included) */
#define IVR_ASR_F_LAST	  0x02 /* last frame; n_samples may be 0 for a pure marker */
#define IVR_ASR_F_ABORTED 0x04 /* with LAST: frames of this utterance were dropped */
#define IVR_ASR_F_WB	  0x08 /* pcm is 16 kHz (a wideband call: 10 ms per record) */

/** Samples per ASR record (20 ms at 8 kHz, 10 ms at 16 kHz: two records per frame). */
#define IVR_ASR_FRAME_SAMPLES 160

/** One ring record toward the ASR threads (512 bytes). */
struct ivr_asr_frame {
	uint64_t call_id;
	uint32_t utt_id;       /* per call, from 1 */
	uint32_t frame_idx;    /* within the utterance, from 0 */
	uint64_t start_sample; /* chain clock of pcm[0] */
	uint16_t flags;	       /* IVR_ASR_F_* */
	uint16_t n_samples;    /* 160, or 0 for a LAST marker */
	uint32_t reserved;
	int16_t pcm[IVR_ASR_FRAME_SAMPLES]; /* PCM16 at 8 kHz, or 16 kHz with IVR_ASR_F_WB */
	uint8_t pad[512 - 32 - 2 * IVR_ASR_FRAME_SAMPLES];
};

/* ------------------------------------------------------------------- chain */

/**
 * Bytes of state for @cfg (NULL = defaults).
 * @return the size, or 0 if @cfg is invalid.  Thread: any.
 */
size_t ivr_dspchain_size(const struct ivr_dspchain_cfg *cfg);

/**
 * Initialise a chain in @mem (@size >= ivr_dspchain_size(), 64-byte aligned).
 * Allocates speexdsp's echo canceller state (call setup).
 * @return 0, -EINVAL (bad cfg, size or alignment), -ENOTSUP (rate other than
 *         8000 or 16000) or -ENOMEM.  Thread: control.
 */
IVR_NODISCARD int ivr_dspchain_init(struct ivr_dspchain *ch, size_t size,
				    const struct ivr_dspchain_cfg *cfg);

/**
 * Start a new call in a reused slot: clocks back to 0, all detectors and the
 * merge state cleared, counters zeroed; @call_id replaces the configured one.
 * @return 0 or -ENOMEM (speexdsp's suppressor is re-created).  Thread: control.
 */
int ivr_dspchain_reset(struct ivr_dspchain *ch, uint64_t call_id);

/** Release speexdsp's state; NULL-safe, idempotent.  Thread: control. */
void ivr_dspchain_fini(struct ivr_dspchain *ch);

/**
 * Run one frame: @near is the caller's decoded audio (@n_samples = 20 ms: 160 or 320),
 * @far the frame the engine sent this call in the previous tick (the echo
 * reference; NULL = silence).  @flags: IVR_DSPCHAIN_F_*.  Speech frames go
 * to @asr (NULL = no hand-off).  @out receives the events (n_events reset).
 * @return number of events, or -EINVAL (NULL, wrong frame length).
 * Thread: the call's media worker, IVR_RT (no allocation, never blocks).
 */
IVR_RT int ivr_dspchain_process(struct ivr_dspchain *ch, const float *near, const float *far,
				size_t n_samples, unsigned flags, struct ivr_ring *asr,
				struct ivr_dspchain_out *out);

/**
 * Feed one RFC 4733 telephone-event packet (payload, RTP timestamp,
 * sequence, marker).  @out receives the merged DTMF events (n_events reset).
 * @return number of events, -EBADMSG (malformed payload, counted), -EINVAL.
 * Thread: the call's media worker, IVR_RT.
 */
IVR_RT int ivr_dspchain_rfc4733(struct ivr_dspchain *ch, const uint8_t *payload, size_t n_bytes,
				uint32_t rtp_ts, uint16_t seq, bool marker,
				struct ivr_dspchain_out *out);

/**
 * Say whether anything consumes the VAD's output (speech events, the ASR
 * hand-off).  While nothing does, the canceller, the VAD and the hand-off
 * are skipped (their output goes nowhere else); in-band DTMF, fax tones and
 * the RFC 4733 merge run as always.  Takes effect at the next process call:
 * stopping during speech ends it there (SPEECH_END, the utterance closed by
 * a LAST record); starting resets the VAD, which re-learns the noise floor
 * over its first 250 ms, and speech is detected from LOOKAHEAD (60 ms) after.
 * Init and reset leave it on.  Thread: the call's media worker, IVR_RT.
 */
IVR_RT void ivr_dspchain_listen(struct ivr_dspchain *ch, bool on);

/** @return the chain's clock: media samples processed since init/reset. Thread: RT. */
IVR_RT uint64_t ivr_dspchain_samples(const struct ivr_dspchain *ch);

/** Copy the counters (racy snapshot from another thread). */
void ivr_dspchain_get_stats(const struct ivr_dspchain *ch, struct ivr_dspchain_stats *st);

/** Heap wrapper: aligned allocation + _init. @return NULL with errno set. Thread: control. */
struct ivr_dspchain *ivr_dspchain_new(const struct ivr_dspchain_cfg *cfg);

/** _fini + free for ivr_dspchain_new(); NULL-safe.  Thread: control. */
void ivr_dspchain_free(struct ivr_dspchain *ch);

/* ------------------------------------------------- ASR-side reassembly */

struct ivr_asr_reasm; /* opaque */

/** One reassembled utterance; pcm valid until the next feed/poll on the same reassembler. */
struct ivr_asr_utt {
	uint64_t call_id;
	uint32_t utt_id;
	uint16_t flags;	       /* IVR_ASR_F_ABORTED if frames were lost or it overflowed */
	uint64_t start_sample; /* chain clock of pcm[0] */
	uint32_t rate_hz;      /* 8000, or 16000 for a wideband call's utterance */
	const int16_t *pcm;    /* PCM16 at rate_hz */
	size_t n_samples;
};

/**
 * Create a reassembler for up to @max_calls utterances in progress at once,
 * each up to @max_samples long (longer ones are cut and flagged ABORTED).
 * @return it, or NULL with errno set.  Thread: the ASR thread (allocates).
 */
struct ivr_asr_reasm *ivr_asr_reasm_new(uint32_t max_calls, size_t max_samples);

/** Free; NULL-safe.  Thread: the ASR thread. */
void ivr_asr_reasm_free(struct ivr_asr_reasm *r);

/**
 * Add one record.  A FIRST record restarts its call's utterance (an unfinished
 * one is dropped); a gap in frame_idx marks the utterance ABORTED.
 * @return 1 when @utt holds a finished utterance, 0 if not yet, -ENOSPC if
 *         @max_calls utterances are already open (record dropped), -EINVAL.
 * Thread: the ASR thread (the ring's consumer).
 */
int ivr_asr_reasm_feed(struct ivr_asr_reasm *r, const struct ivr_asr_frame *rec,
		       struct ivr_asr_utt *utt);

/**
 * Pop records from @ring until one utterance is finished or the ring is empty.
 * @return 1 (@utt filled), 0 (ring empty).  Thread: the ring's consumer.
 */
int ivr_asr_reasm_poll(struct ivr_asr_reasm *r, struct ivr_ring *ring, struct ivr_asr_utt *utt);

#endif /* IVR_ENGINE_DSPCHAIN_H */
