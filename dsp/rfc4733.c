/* SPDX-License-Identifier: MIT */
/*
 * dsp/rfc4733.c - RFC 4733 telephone events (see rfc4733.h).
 *
 * The receiver identifies an event by its RTP timestamp, as RFC 4733
 * 2.5.2.1 says ("the RTP timestamp identifies the event"): packets of the
 * active event only raise its duration; a newer timestamp starts a new
 * event (or continues a long one, 2.5.2.3); timestamps of events already
 * ended are remembered in a small history so that the end packet's three
 * copies, late retransmissions and reordered stragglers are dropped.
 * Sequence numbers only filter exact duplicates (a 64-packet window like
 * SRTP's replay list), which also makes SIPp-style repeats that reuse
 * the sequence number cheap.
 */
#include "config.h"

#include <stdlib.h>

#include "dsp/rfc4733.h"

#define MAX_BLOCKS 8  /* packed blocks per packet we accept */
#define HIST	   8  /* ended events remembered */
#define TX_QUEUE   64 /* digits queued in a sender */
#define SEQ_WINDOW 64 /* duplicate-sequence window */

int ivr_rfc4733_event_from_digit(char digit)
{
	if (digit >= '0' && digit <= '9')
		return digit - '0';
	switch (digit) {
	case '*':
		return 10;
	case '#':
		return 11;
	case 'A':
	case 'B':
	case 'C':
	case 'D':
		return 12 + (digit - 'A');
	case 'a':
	case 'b':
	case 'c':
	case 'd':
		return 12 + (digit - 'a');
	case '!':
		return IVR_RFC4733_EV_FLASH;
	default:
		return -EINVAL;
	}
}

char ivr_rfc4733_digit_from_event(unsigned event)
{
	static const char map[] = "0123456789*#ABCD!";
	return event <= IVR_RFC4733_EV_FLASH ? map[event] : 0;
}

int ivr_rfc4733_parse(const uint8_t *buf, size_t n_bytes, struct ivr_rfc4733_payload *out,
		      size_t max_blocks)
{
	if (!buf || !out)
		return -EINVAL;
	if (n_bytes == 0 || n_bytes % IVR_RFC4733_BLOCK_BYTES)
		return -EBADMSG;
	size_t n = n_bytes / IVR_RFC4733_BLOCK_BYTES;
	if (n > max_blocks)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = buf + i * IVR_RFC4733_BLOCK_BYTES;
		out[i].event = b[0];
		out[i].end = (b[1] & 0x80) != 0;
		/* b[1] & 0x40 is R: "MUST be ignored by the receiver" (2.3). */
		out[i].volume = b[1] & 0x3f;
		out[i].duration = (uint16_t)(b[2] << 8 | b[3]);
	}
	return (int)n;
}

int ivr_rfc4733_build(uint8_t *buf, size_t cap, const struct ivr_rfc4733_payload *p)
{
	if (!buf || !p || p->volume > 63)
		return -EINVAL;
	if (cap < IVR_RFC4733_BLOCK_BYTES)
		return -ENOSPC;
	buf[0] = p->event;
	buf[1] = (uint8_t)((p->end ? 0x80 : 0) | p->volume);
	buf[2] = (uint8_t)(p->duration >> 8);
	buf[3] = (uint8_t)p->duration;
	return IVR_RFC4733_BLOCK_BYTES;
}

/* ------------------------------------------------------------------ sender */

enum tx_state { TX_IDLE, TX_ACTIVE, TX_ENDING };

struct ivr_rfc4733_tx {
	uint32_t rate_hz, interval; /* interval in timestamp units */
	uint8_t volume;
	/* queue of digits: a ring, TX_QUEUE entries */
	uint8_t q_code[TX_QUEUE];
	uint32_t q_dur[TX_QUEUE], q_gap[TX_QUEUE];
	unsigned q_head, q_n;
	/* event in progress; all times in timestamp units */
	enum tx_state state;
	uint8_t code;
	uint32_t total, gap; /* target duration, silence after */
	uint32_t ev_ts;	     /* event start */
	uint32_t seg_ts;     /* current segment timestamp */
	uint32_t seg_base;   /* duration covered by earlier segments */
	bool first;	     /* next packet is the event's first: marker */
	unsigned repeats_left;
	bool final_is_event_end;
	uint8_t last_payload[IVR_RFC4733_BLOCK_BYTES];
	bool have_gap;
	uint32_t gap_until; /* no new event before this timestamp */
};

size_t ivr_rfc4733_tx_size(const struct ivr_rfc4733_tx_cfg *cfg)
{
	return sizeof(struct ivr_rfc4733_tx);
}

int ivr_rfc4733_tx_init(struct ivr_rfc4733_tx *tx, size_t size,
			const struct ivr_rfc4733_tx_cfg *cfg)
{
	if (!tx)
		return -EINVAL;
	if (size < sizeof(*tx))
		return -ENOSPC;
	uint32_t rate = cfg && cfg->rate_hz ? cfg->rate_hz : 8000;
	uint32_t ms = cfg && cfg->interval_ms ? cfg->interval_ms : 20;
	uint8_t vol = cfg && cfg->volume ? cfg->volume : 10;
	if (rate < 1000 || rate > 192000 || ms > 1000 || vol > 63)
		return -EINVAL;
	memset(tx, 0, sizeof(*tx));
	tx->rate_hz = rate;
	tx->interval = (uint32_t)((uint64_t)rate * ms / 1000);
	tx->volume = vol;
	if (tx->interval == 0)
		return -EINVAL;
	return 0;
}

void ivr_rfc4733_tx_reset(struct ivr_rfc4733_tx *tx)
{
	if (!tx)
		return;
	tx->q_head = tx->q_n = 0;
	tx->state = TX_IDLE;
	tx->have_gap = false;
}

int ivr_rfc4733_tx_send(struct ivr_rfc4733_tx *tx, const char *digits, uint32_t duration_ms,
			uint32_t gap_ms)
{
	if (!tx || !digits || duration_ms == 0)
		return -EINVAL;
	uint64_t dur = (uint64_t)duration_ms * tx->rate_hz / 1000;
	uint64_t gap = (uint64_t)gap_ms * tx->rate_hz / 1000;
	/* Keep serial-number arithmetic on 32-bit timestamps meaningful. */
	if (dur == 0 || dur >= (1u << 30) || gap >= (1u << 30))
		return -EINVAL;
	size_t n = strlen(digits);
	for (size_t i = 0; i < n; i++)
		if (ivr_rfc4733_event_from_digit(digits[i]) < 0)
			return -EINVAL;
	if (n > TX_QUEUE - tx->q_n)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		unsigned slot = (tx->q_head + tx->q_n) % TX_QUEUE;
		tx->q_code[slot] = (uint8_t)ivr_rfc4733_event_from_digit(digits[i]);
		tx->q_dur[slot] = (uint32_t)dur;
		tx->q_gap[slot] = (uint32_t)gap;
		tx->q_n++;
	}
	return (int)n;
}

bool ivr_rfc4733_tx_busy(const struct ivr_rfc4733_tx *tx)
{
	return tx && (tx->state != TX_IDLE || tx->q_n > 0);
}

static void tx_emit(struct ivr_rfc4733_tx *tx, struct ivr_rfc4733_tx_pkt *pkt, bool end,
		    uint32_t dur)
{
	struct ivr_rfc4733_payload p = {
		.event = tx->code,
		.end = end,
		.volume = tx->volume,
		.duration = (uint16_t)dur,
	};
	int r = ivr_rfc4733_build(tx->last_payload, sizeof(tx->last_payload), &p);
	(void)r; /* cannot fail: fixed buffer, volume checked at init */
	memcpy(pkt->payload, tx->last_payload, sizeof(pkt->payload));
	pkt->n_bytes = IVR_RFC4733_BLOCK_BYTES;
	pkt->timestamp = tx->seg_ts;
	pkt->marker = tx->first;
	tx->first = false;
}

int ivr_rfc4733_tx_tick(struct ivr_rfc4733_tx *tx, uint32_t rtp_ts, struct ivr_rfc4733_tx_pkt *pkt)
{
	if (!tx || !pkt)
		return -EINVAL;
	if (tx->state == TX_ENDING) {
		/* Repeat the final packet of the event or segment (2.5.1.4). */
		memcpy(pkt->payload, tx->last_payload, sizeof(pkt->payload));
		pkt->n_bytes = IVR_RFC4733_BLOCK_BYTES;
		pkt->timestamp = tx->seg_ts;
		pkt->marker = false;
		if (--tx->repeats_left == 0) {
			if (tx->final_is_event_end) {
				tx->state = TX_IDLE;
				tx->have_gap = true;
				tx->gap_until = tx->ev_ts + tx->total + tx->gap;
			} else {
				/* Next segment starts where this one ended (2.5.1.3). */
				tx->seg_ts += IVR_RFC4733_MAX_DURATION;
				tx->seg_base += IVR_RFC4733_MAX_DURATION;
				tx->state = TX_ACTIVE;
			}
		}
		return 1;
	}
	if (tx->state == TX_IDLE) {
		if (tx->q_n == 0)
			return 0;
		if (tx->have_gap && (int32_t)(rtp_ts - tx->gap_until) < 0)
			return 0;
		unsigned h = tx->q_head;
		tx->code = tx->q_code[h];
		tx->total = tx->q_dur[h];
		tx->gap = tx->q_gap[h];
		tx->q_head = (h + 1) % TX_QUEUE;
		tx->q_n--;
		tx->ev_ts = tx->seg_ts = rtp_ts;
		tx->seg_base = 0;
		tx->first = true;
		tx->state = TX_ACTIVE;
	}
	/* Each packet covers the event up to the end of this interval. */
	uint32_t elapsed = rtp_ts + tx->interval - tx->ev_ts;
	uint32_t covered = IVR_MIN(elapsed, tx->total);
	uint32_t seg = covered - tx->seg_base;
	if (seg > IVR_RFC4733_MAX_DURATION) {
		tx_emit(tx, pkt, false, IVR_RFC4733_MAX_DURATION);
		tx->state = TX_ENDING;
		tx->final_is_event_end = false;
		tx->repeats_left = IVR_RFC4733_END_REPEATS - 1;
	} else if (elapsed >= tx->total) {
		tx_emit(tx, pkt, true, seg);
		tx->state = TX_ENDING;
		tx->final_is_event_end = true;
		tx->repeats_left = IVR_RFC4733_END_REPEATS - 1;
	} else {
		tx_emit(tx, pkt, false, seg);
	}
	return 1;
}

struct ivr_rfc4733_tx *ivr_rfc4733_tx_new(const struct ivr_rfc4733_tx_cfg *cfg)
{
	size_t sz = ivr_rfc4733_tx_size(cfg);
	struct ivr_rfc4733_tx *tx = malloc(sz);
	if (!tx) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_rfc4733_tx_init(tx, sz, cfg);
	if (r < 0) {
		free(tx);
		errno = -r;
		return NULL;
	}
	return tx;
}

void ivr_rfc4733_tx_free(struct ivr_rfc4733_tx *tx)
{
	free(tx);
}

/* ---------------------------------------------------------------- receiver */

struct ivr_rfc4733_rx {
	uint32_t rate_hz, timeout; /* timeout in timestamp units */
	/* timestamp extension: newest event timestamp seen and its 64-bit value */
	bool have_ref;
	uint32_t ref_ts;
	uint64_t ref_ext;
	/* active event */
	bool active;
	uint8_t code;
	uint32_t first_ts; /* event start */
	uint64_t first_ext;
	uint32_t seg_ts;  /* current segment */
	uint32_t seg_dur; /* largest duration seen in the current segment */
	/* ended events (timestamp, code), a ring */
	uint32_t hist_ts[HIST];
	uint8_t hist_code[HIST];
	unsigned hist_n, hist_pos;
	/* sequence numbers: newest and a bitmap of the SEQ_WINDOW before it */
	bool have_seq;
	uint16_t max_seq;
	uint64_t seq_seen;
};

size_t ivr_rfc4733_rx_size(const struct ivr_rfc4733_rx_cfg *cfg)
{
	return sizeof(struct ivr_rfc4733_rx);
}

int ivr_rfc4733_rx_init(struct ivr_rfc4733_rx *rx, size_t size,
			const struct ivr_rfc4733_rx_cfg *cfg)
{
	if (!rx)
		return -EINVAL;
	if (size < sizeof(*rx))
		return -ENOSPC;
	uint32_t rate = cfg && cfg->rate_hz ? cfg->rate_hz : 8000;
	uint32_t ms = cfg && cfg->timeout_ms ? cfg->timeout_ms : 300;
	if (rate < 1000 || rate > 192000 || ms > 60000)
		return -EINVAL;
	memset(rx, 0, sizeof(*rx));
	rx->rate_hz = rate;
	rx->timeout = (uint32_t)((uint64_t)rate * ms / 1000);
	return 0;
}

void ivr_rfc4733_rx_reset(struct ivr_rfc4733_rx *rx)
{
	if (!rx)
		return;
	uint32_t rate = rx->rate_hz, timeout = rx->timeout;
	memset(rx, 0, sizeof(*rx));
	rx->rate_hz = rate;
	rx->timeout = timeout;
}

/* true if @seq was already seen (exact duplicate); records it otherwise */
/*
 * Duplicate check on the RTP sequence number.  *@restart is set when the
 * number jumps back further than the window: no reordering reaches that far,
 * so the stream was restarted (a new SSRC epoch, a re-INVITE, spliced
 * captures) and the timestamp logic must not take its events for stragglers
 * of older ones (RFC 3550 A.1 treats such a jump as a restart as well).
 */
static bool seq_duplicate(struct ivr_rfc4733_rx *rx, uint16_t seq, bool *restart)
{
	*restart = false;
	if (!rx->have_seq) {
		rx->have_seq = true;
		rx->max_seq = seq;
		rx->seq_seen = 1;
		return false;
	}
	int16_t d = (int16_t)(uint16_t)(seq - rx->max_seq);
	if (d > 0) {
		rx->seq_seen = d >= SEQ_WINDOW ? 1 : (rx->seq_seen << d) | 1;
		rx->max_seq = seq;
		return false;
	}
	unsigned back = (unsigned)-d;
	if (back >= SEQ_WINDOW) {
		*restart = true;
		rx->max_seq = seq;
		rx->seq_seen = 1;
		return false;
	}
	uint64_t bit = (uint64_t)1 << back;
	if (rx->seq_seen & bit)
		return true;
	rx->seq_seen |= bit;
	return false;
}

static bool in_history(const struct ivr_rfc4733_rx *rx, uint32_t ts, uint8_t code)
{
	for (unsigned i = 0; i < rx->hist_n; i++)
		if (rx->hist_ts[i] == ts && rx->hist_code[i] == code)
			return true;
	return false;
}

static void history_add(struct ivr_rfc4733_rx *rx, uint32_t ts, uint8_t code)
{
	rx->hist_ts[rx->hist_pos] = ts;
	rx->hist_code[rx->hist_pos] = code;
	rx->hist_pos = (rx->hist_pos + 1) % HIST;
	if (rx->hist_n < HIST)
		rx->hist_n++;
}

static uint64_t extend_ts(struct ivr_rfc4733_rx *rx, uint32_t ts)
{
	if (!rx->have_ref)
		return ts;
	return rx->ref_ext + (uint64_t)(int64_t)(int32_t)(ts - rx->ref_ts);
}

static void emit(struct ivr_dtmf_event *ev, size_t *n, uint8_t type, uint8_t code, uint64_t onset,
		 uint32_t dur)
{
	ev[*n] = (struct ivr_dtmf_event){
		.type = type,
		.digit = ivr_rfc4733_digit_from_event(code),
		.onset_sample = onset,
		.duration_samples = dur,
	};
	(*n)++;
}

static void end_active(struct ivr_rfc4733_rx *rx, struct ivr_dtmf_event *ev, size_t *n)
{
	emit(ev, n, IVR_DTMF_EV_END, rx->code, rx->first_ext,
	     (rx->seg_ts - rx->first_ts) + rx->seg_dur);
	history_add(rx, rx->seg_ts, rx->code);
	rx->active = false;
}

static void rx_block(struct ivr_rfc4733_rx *rx, const struct ivr_rfc4733_payload *p, uint32_t ts,
		     bool restart, struct ivr_dtmf_event *ev, size_t *n)
{
	if (p->event > IVR_RFC4733_EV_FLASH)
		return;
	if (rx->active && ts == rx->seg_ts && p->event == rx->code) {
		/* Another packet of the current event: duration only grows. */
		if (p->duration > rx->seg_dur)
			rx->seg_dur = p->duration;
		if (p->end)
			end_active(rx, ev, n);
		return;
	}
	if (in_history(rx, ts, p->event))
		return; /* copy of an end packet, or a straggler of an ended event */
	if (rx->have_ref && (int32_t)(ts - rx->ref_ts) < 0 && !restart)
		return; /* older than the newest event: reordered from the past */
	uint32_t step = ts - rx->seg_ts;
	if (rx->active && p->event == rx->code && ts != rx->seg_ts &&
	    step <= IVR_RFC4733_MAX_DURATION && step >= rx->seg_dur && step >= 0x8000) {
		/*
		 * Next segment of a long event (2.5.2.3): same code, contiguous
		 * with a segment that was long; a new key press would follow a
		 * pause and most presses are far shorter than 0x8000 units.
		 */
		history_add(rx, rx->seg_ts, rx->code);
		rx->seg_ts = ts;
		rx->seg_dur = p->duration;
	} else {
		/* A new event; an active one lost its end packets. */
		if (rx->active)
			end_active(rx, ev, n);
		uint64_t ext = extend_ts(rx, ts);
		rx->active = true;
		rx->code = p->event;
		rx->first_ts = rx->seg_ts = ts;
		rx->first_ext = ext;
		rx->seg_dur = p->duration;
		emit(ev, n, IVR_DTMF_EV_START, p->event, ext, 0);
	}
	rx->ref_ext = extend_ts(rx, ts);
	rx->ref_ts = ts;
	rx->have_ref = true;
	if (p->end)
		end_active(rx, ev, n);
}

int ivr_rfc4733_rx_packet(struct ivr_rfc4733_rx *rx, const uint8_t *payload, size_t n_bytes,
			  uint32_t rtp_ts, uint16_t seq, bool marker, struct ivr_dtmf_event *ev,
			  size_t max_ev)
{
	if (!rx || !payload || !ev)
		return -EINVAL;
	struct ivr_rfc4733_payload blk[MAX_BLOCKS];
	int nb = ivr_rfc4733_parse(payload, n_bytes, blk, MAX_BLOCKS);
	if (nb == -ENOSPC)
		return -EBADMSG; /* more packed events than any sender uses */
	if (nb < 0)
		return nb;
	if (max_ev < 3 * (size_t)nb)
		return -ENOSPC;
	/*
	 * The marker only says "first packet of an event"; the timestamp
	 * already says that, and a lost first packet must not lose the
	 * digit, so the marker is not needed to start one.
	 */
	(void)marker;
	bool restart;
	if (seq_duplicate(rx, seq, &restart))
		return 0;
	size_t n = 0;
	uint32_t ts = rtp_ts;
	for (int i = 0; i < nb; i++) {
		rx_block(rx, &blk[i], ts, restart, ev, &n);
		/* Packed events follow each other without gaps (2.5.1.5). */
		ts += blk[i].duration;
	}
	return (int)n;
}

int ivr_rfc4733_rx_tick(struct ivr_rfc4733_rx *rx, uint32_t now_ts, struct ivr_dtmf_event *ev,
			size_t max_ev)
{
	if (!rx || !ev)
		return -EINVAL;
	if (!rx->active || max_ev < 1)
		return 0;
	uint32_t known_end = rx->seg_ts + rx->seg_dur;
	if ((int32_t)(now_ts - known_end) <= (int32_t)rx->timeout)
		return 0;
	size_t n = 0;
	end_active(rx, ev, &n);
	return (int)n;
}

struct ivr_rfc4733_rx *ivr_rfc4733_rx_new(const struct ivr_rfc4733_rx_cfg *cfg)
{
	size_t sz = ivr_rfc4733_rx_size(cfg);
	struct ivr_rfc4733_rx *rx = malloc(sz);
	if (!rx) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_rfc4733_rx_init(rx, sz, cfg);
	if (r < 0) {
		free(rx);
		errno = -r;
		return NULL;
	}
	return rx;
}

void ivr_rfc4733_rx_free(struct ivr_rfc4733_rx *rx)
{
	free(rx);
}
