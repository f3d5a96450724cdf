/* SPDX-License-Identifier: MIT */
/*
 * dsp/rfc4733.h - RFC 4733 telephone-event payloads: parse/build, a sender
 * state machine and a receiver that reports each digit exactly once.
 *
 * Payload (RFC 4733 section 2.3): 4 bytes per event,
 *     event (8) | E (1) R (1) volume (6) | duration (16, timestamp units)
 * several 4-byte blocks may be packed in one packet (section 2.5.1.5).
 *
 * Sender (section 2.5.1): one event keeps the RTP timestamp of its start;
 * the marker bit is set on its first packet only; every packet carries the
 * cumulative duration; the final packet has E set and is sent three times
 * (2.5.1.4); an event longer than 0xFFFF timestamp units is cut into
 * segments (2.5.1.3) whose final packets have E clear, each new segment
 * taking timestamp = previous segment timestamp + its duration.
 *
 * Receiver (section 2.5.2): packets arrive with their RTP timestamp and
 * sequence number, possibly duplicated, reordered or lost.  The receiver
 * keys an event on its timestamp, so a lost start packet still starts the
 * digit, the three end packets end it once, late packets of an event that
 * already ended are dropped, and a lost end is recovered by the next event
 * or by ivr_rfc4733_rx_tick() after a timeout.  Events are reported as
 * START (first packet seen) and END (E bit, next event or timeout), each
 * exactly once.
 *
 * Thread: tx/rx state is per call and owned by one media thread; _init runs
 * at call setup, _new/_free on the control path, everything else is IVR_RT
 * (no allocation, no locks).
 */
#ifndef IVR_DSP_RFC4733_H
#define IVR_DSP_RFC4733_H

#include <stdbool.h>

#include "common/defs.h"
#include "dsp/dtmf.h"

/** Bytes of one telephone-event block. */
#define IVR_RFC4733_BLOCK_BYTES 4
/** Largest duration one packet (one segment) can carry, timestamp units. */
#define IVR_RFC4733_MAX_DURATION 0xFFFFu
/** Event codes: 0-9, 10 = '*', 11 = '#', 12-15 = 'A'-'D', 16 = flash ('!'). */
#define IVR_RFC4733_EV_FLASH 16
/** Times the final packet of an event or segment is sent (RFC 4733 2.5.1.4). */
#define IVR_RFC4733_END_REPEATS 3

/*
 * Digit events are struct ivr_dtmf_event (dsp/dtmf.h), the same type the
 * in-band detector reports, so the per-call chain merges both sources
 * without conversion.  type: IVR_DTMF_EV_START or IVR_DTMF_EV_END.
 * onset_sample is the event's RTP timestamp extended to 64 bits (wraps
 * unrolled, first timestamp seen taken as is); duration_samples is 0 for
 * START and the total duration for END.
 */

/** One decoded telephone-event block. */
struct ivr_rfc4733_payload {
	uint8_t event;	   /* 0-255; digits are 0-16 */
	bool end;	   /* E bit */
	uint8_t volume;	   /* 0-63, power level in -dBm0 */
	uint16_t duration; /* timestamp units since the event (segment) timestamp */
};

/**
 * Map a digit character ('0'-'9', '*', '#', 'A'-'D' or 'a'-'d', '!' = flash)
 * to its event code.
 * @return 0-16, or -EINVAL for any other character.  Thread: any.
 */
IVR_RT int ivr_rfc4733_event_from_digit(char digit);

/**
 * Map an event code to its digit character.
 * @return '0'-'9', '*', '#', 'A'-'D', '!' (flash), or 0 for codes > 16.  Thread: any.
 */
IVR_RT char ivr_rfc4733_digit_from_event(unsigned event);

/**
 * Parse a telephone-event payload of @n_bytes into up to @max_blocks blocks
 * (packed events, RFC 4733 2.5.1.5).  The R bit is ignored as the RFC says.
 * @return number of blocks written (>= 1), -EBADMSG if @n_bytes is 0 or not a
 * multiple of 4, -ENOSPC if there are more blocks than @max_blocks,
 * -EINVAL on NULL pointers.  Thread: any.
 */
IVR_NODISCARD IVR_RT int ivr_rfc4733_parse(const uint8_t *buf, size_t n_bytes,
					   struct ivr_rfc4733_payload *out, size_t max_blocks);

/**
 * Write one block into @buf (@cap bytes).
 * @return 4, -ENOSPC if @cap < 4, -EINVAL if volume > 63 or NULL pointers.
 * Thread: any.
 */
IVR_NODISCARD IVR_RT int ivr_rfc4733_build(uint8_t *buf, size_t cap,
					   const struct ivr_rfc4733_payload *p);

/* ------------------------------------------------------------------ sender */

/** Sender configuration; zero fields take the defaults. */
struct ivr_rfc4733_tx_cfg {
	uint32_t rate_hz;     /* RTP clock of the audio stream, default 8000 */
	uint32_t interval_ms; /* packet interval = audio ptime, default 20 */
	uint8_t volume;	      /* 0-63 (-dBm0), default 10 */
};

/** One packet the sender wants on the wire. */
struct ivr_rfc4733_tx_pkt {
	uint8_t payload[IVR_RFC4733_BLOCK_BYTES];
	size_t n_bytes;	    /* always 4 */
	uint32_t timestamp; /* RTP timestamp to put in the header */
	bool marker;	    /* RTP marker bit */
};

struct ivr_rfc4733_tx; /* opaque */

/** @return bytes needed for a sender with @cfg (NULL = defaults). Thread: any. */
size_t ivr_rfc4733_tx_size(const struct ivr_rfc4733_tx_cfg *cfg);

/**
 * Initialise a sender in caller memory (@size from ivr_rfc4733_tx_size()).
 * @return 0, or -EINVAL (bad cfg, NULL) / -ENOSPC (@size too small).
 * Thread: control (call setup).
 */
IVR_NODISCARD int ivr_rfc4733_tx_init(struct ivr_rfc4733_tx *tx, size_t size,
				      const struct ivr_rfc4733_tx_cfg *cfg);

/** Drop queued digits and any event in progress. Thread: media (IVR_RT). */
IVR_RT void ivr_rfc4733_tx_reset(struct ivr_rfc4733_tx *tx);

/**
 * Queue @digits (NUL-terminated) to send, each lasting @duration_ms and
 * followed by @gap_ms of silence (audio) before the next one.  A duration
 * above 0xFFFF timestamp units is sent as several segments.
 * @return number of digits queued, -EINVAL on a character that is not a
 * digit (nothing queued) or duration_ms == 0, -ENOSPC if the queue
 * (64 digits) cannot take them all (nothing queued).  Thread: media (IVR_RT).
 */
IVR_NODISCARD IVR_RT int ivr_rfc4733_tx_send(struct ivr_rfc4733_tx *tx, const char *digits,
					     uint32_t duration_ms, uint32_t gap_ms);

/**
 * Called once per packet interval with @rtp_ts, the timestamp the audio
 * packet of this interval would carry.  If an event packet is due it is
 * written to @pkt and should be sent in place of the audio packet.
 * @return 1 (send @pkt), 0 (nothing to send: send audio), -EINVAL (NULL).
 * Thread: media (IVR_RT).
 */
IVR_RT int ivr_rfc4733_tx_tick(struct ivr_rfc4733_tx *tx, uint32_t rtp_ts,
			       struct ivr_rfc4733_tx_pkt *pkt);

/** @return true while an event is being sent or digits are queued. Thread: media. */
IVR_RT bool ivr_rfc4733_tx_busy(const struct ivr_rfc4733_tx *tx);

/** Heap wrappers for tools and tests. @return NULL with errno set on failure. */
struct ivr_rfc4733_tx *ivr_rfc4733_tx_new(const struct ivr_rfc4733_tx_cfg *cfg);
/** Free a sender from ivr_rfc4733_tx_new(); NULL-safe. Thread: control. */
void ivr_rfc4733_tx_free(struct ivr_rfc4733_tx *tx);

/* ---------------------------------------------------------------- receiver */

/** Receiver configuration; zero fields take the defaults. */
struct ivr_rfc4733_rx_cfg {
	uint32_t rate_hz;    /* RTP clock, default 8000 */
	uint32_t timeout_ms; /* end an event with no update for this long, default 300 */
};

struct ivr_rfc4733_rx; /* opaque */

/** @return bytes needed for a receiver with @cfg (NULL = defaults). Thread: any. */
size_t ivr_rfc4733_rx_size(const struct ivr_rfc4733_rx_cfg *cfg);

/**
 * Initialise a receiver in caller memory.
 * @return 0, or -EINVAL (bad cfg, NULL) / -ENOSPC (@size too small).
 * Thread: control (call setup).
 */
IVR_NODISCARD int ivr_rfc4733_rx_init(struct ivr_rfc4733_rx *rx, size_t size,
				      const struct ivr_rfc4733_rx_cfg *cfg);

/** Forget all events (new stream / slot reuse). Thread: media (IVR_RT). */
IVR_RT void ivr_rfc4733_rx_reset(struct ivr_rfc4733_rx *rx);

/**
 * Feed one telephone-event packet: its payload (@n_bytes), RTP timestamp,
 * sequence number and marker bit.  Writes at most @max_ev events to @ev
 * (3 per packed block is always enough: END of the previous event,
 * START and END of this one).
 * Events for codes above 16 are not reported.
 * @return number of events written, -EBADMSG for a malformed payload (state
 * unchanged), -ENOSPC if @max_ev is too small for what this packet
 * produced (state unchanged), -EINVAL on NULL pointers.
 * Thread: media (IVR_RT).
 */
IVR_RT int ivr_rfc4733_rx_packet(struct ivr_rfc4733_rx *rx, const uint8_t *payload, size_t n_bytes,
				 uint32_t rtp_ts, uint16_t seq, bool marker,
				 struct ivr_dtmf_event *ev, size_t max_ev);

/**
 * Advance the receiver's clock to @now_ts (RTP timestamp units of the same
 * stream, e.g. from audio packets or the engine's tick).  An event with no
 * new packet for timeout_ms past the end of its known duration is ended
 * (its end packets were all lost).
 * @return number of events written (0 or 1), -EINVAL on NULL.
 * Thread: media (IVR_RT).
 */
IVR_RT int ivr_rfc4733_rx_tick(struct ivr_rfc4733_rx *rx, uint32_t now_ts,
			       struct ivr_dtmf_event *ev, size_t max_ev);

/** Heap wrappers for tools and tests. @return NULL with errno set on failure. */
struct ivr_rfc4733_rx *ivr_rfc4733_rx_new(const struct ivr_rfc4733_rx_cfg *cfg);
/** Free a receiver from ivr_rfc4733_rx_new(); NULL-safe. Thread: control. */
void ivr_rfc4733_rx_free(struct ivr_rfc4733_rx *rx);

#endif /* IVR_DSP_RFC4733_H */
