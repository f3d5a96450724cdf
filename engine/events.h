/* SPDX-License-Identifier: MIT */
/*
 * engine/events.h - the router events of DESIGN.md section 3: encoding into ring records
 * and decoding to one JSON object per line.
 *
 * A record's payload is a list of fields, each <key u8><len u16 LE><value>; the key
 * decides the value's kind (string, u32, f32, key/value pair, n-best entry, path step,
 * transcript line).  Keys are only ever added, never re-used or re-shaped: an n-best entry
 * with its intent has its own key (a reader built before it stops at that field and marks
 * the object "malformed"; this reader still decodes the older intent-less entries).  Repeated list
 * fields are written contiguously and decoded into one JSON object ("vars") or array ("nbest",
 * "path", "transcript").  The format is private between this encoder and decoder; readers other
 * than ivr_event_to_json() should use the JSON.  Strings are bytes; the JSON writer escapes quotes,
 * backslashes and control characters and replaces invalid UTF-8 with U+FFFD.
 *
 * Encoding (ivr_event_encode, ivr_event_publish) is IVR_RT: no allocation, the caller
 * passes the buffer, and a record that does not fit is refused with -EMSGSIZE (never
 * truncated).  DTMF digits of a node marked sensitive are masked ('*') before they reach
 * the ring, so PINs never leave the media worker.
 *
 * Thread: any (pure functions on caller memory); publish on the sub-ring's worker.
 */
#ifndef IVR_ENGINE_EVENTS_H
#define IVR_ENGINE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/defs.h"
#include "common/shmring.h"

/** Record types (the ring's type byte). */
enum ivr_event_type {
	IVR_EVENT_CALL_START = 1,
	IVR_EVENT_DTMF = 2,
	IVR_EVENT_SPEECH_START = 3,
	IVR_EVENT_SPEECH_END = 4,
	IVR_EVENT_RECOGNITION = 5,
	IVR_EVENT_NODE_ENTER = 6,
	IVR_EVENT_NODE_EXIT = 7,
	IVR_EVENT_NO_INPUT = 8,
	IVR_EVENT_NO_MATCH = 9,
	IVR_EVENT_TRANSFER = 10,
	IVR_EVENT_CALL_END = 11,
	IVR_EVENT_FAX = 12,	/* DESIGN.md section 3 extension: a fax tone from the caller */
	IVR_EVENT_PARTIAL = 13, /* extension: words recognised so far while the caller speaks
				   (u.recognition.text only; never a result) */
	IVR_EVENT_TYPE_MAX
};

/** DTMF sources. */
enum ivr_event_dtmf_source { IVR_EVENT_DTMF_INBAND = 0, IVR_EVENT_DTMF_RFC4733 = 1 };

/** Fax tones (ITU-T T.30 CNG, V.25 ANS / V.8 ANSam). */
enum ivr_event_fax_tone { IVR_EVENT_FAX_CNG = 0, IVR_EVENT_FAX_ANS = 1 };

/** One platform variable (call_start vars: tier, language...). */
struct ivr_event_kv {
	const char *key;
	const char *value;
};

/** One n-best hypothesis: its words, the intent they map to (a name of the node's
 *  intents, NULL = none) and that intent's confidence 0..1. */
struct ivr_event_nbest {
	const char *text;
	const char *intent;
	float confidence;
};

/** One node of the caller's path, times in ms since call start. */
struct ivr_event_step {
	const char *node;
	uint32_t enter_ms;
	uint32_t exit_ms;
};

/** An event to encode.  Strings are NUL-terminated; NULL means "absent". */
struct ivr_event {
	uint8_t type; /* enum ivr_event_type */
	union {
		struct {
			const char *ani, *dnis, *flow;
			const struct ivr_event_kv *vars;
			size_t n_vars;
		} call_start;
		struct {
			char digit;
			uint8_t source; /* enum ivr_event_dtmf_source */
			bool sensitive; /* masks the digit as '*' */
			uint32_t duration_ms;
		} dtmf;
		struct {
			uint32_t offset_ms; /* since call start */
		} speech;		    /* speech_start and speech_end */
		struct {
			const char *text, *intent;
			float confidence;
			const struct ivr_event_nbest *nbest;
			size_t n_nbest;
		} recognition;
		struct {
			const char *node, *reason;
		} node; /* node_enter and node_exit */
		struct {
			const char *node;
			uint32_t count;
		} miss; /* no_input and no_match */
		struct {
			const char *reason, *intent, *skill;
			uint32_t priority;
			const struct ivr_event_step *path;
			size_t n_path;
			const char *const *transcript;
			size_t n_transcript;
			uint32_t no_match_total, no_input_total, barge_ins, zero_outs, ivr_ms;
		} transfer;
		struct {
			const char *cause;
			uint32_t duration_ms;
		} call_end;
		struct {
			uint8_t tone;	/* enum ivr_event_fax_tone; JSON "cng" or "ans" */
			bool reversals; /* ANS with phase reversals (V.25 echo-canceller disable) */
			uint32_t offset_ms; /* tone onset, since call start */
		} fax;
	} u;
};

/**
 * Name of a record type ("call_start", ...).
 * @return a static string, or NULL for an unknown type.  Thread: any.
 */
const char *ivr_event_type_name(unsigned type);

/**
 * Encode @ev into @buf (@cap bytes).
 * @return payload bytes, -EMSGSIZE if it does not fit (nothing truncated), -EINVAL for
 *         an unknown type.  Thread: any, IVR_RT (no allocation).
 */
IVR_RT IVR_NODISCARD int ivr_event_encode(void *buf, size_t cap, const struct ivr_event *ev);

/**
 * Encode @ev into @scratch and publish it on sub-ring @worker of @ring for @call_id,
 * stamped with @ts_ns (CLOCK_MONOTONIC) and @wall_ms (UNIX ms); zero stamps are taken now.
 * @return slots used (>= 1), -EMSGSIZE if the event exceeds @scratch or the ring's
 *         largest record, -EINVAL.  Thread: the worker owning @worker, IVR_RT.
 */
IVR_RT int ivr_event_publish(struct ivr_shmring *ring, uint32_t worker, uint64_t call_id,
			     uint64_t ts_ns, uint64_t wall_ms, const struct ivr_event *ev,
			     void *scratch, size_t scratch_len);

/**
 * Render a record (header from ivr_shmring_read() plus its payload) as one JSON object
 * with seq, ts_ns, wall_ms, call_id, worker, type and the type's fields, NUL-terminated,
 * without a newline.  Garbage payloads give valid JSON with the fields decoded so far
 * and "malformed":true.
 * @return length (excluding NUL), or -ENOSPC if @cap is too small.  Thread: any.
 */
int ivr_event_to_json(const struct ivr_shmring_rec *rec, const void *payload, char *out,
		      size_t cap);

/**
 * Print a record as a router sees it (ivr-events, ivr-demo): a line
 * {"type":"lost","count":N,"worker":W} first when records were lost before it,
 * then the record's JSON line (ivr_event_to_json() into @json, @json_cap
 * bytes), or {"seq":N,"type":"oversized"} when it does not fit.
 * @return 0, or -EIO when writing to @f failed.  Thread: any (not RT).
 */
int ivr_event_print(FILE *f, const struct ivr_shmring_rec *rec, const void *payload, char *json,
		    size_t json_cap);

#endif /* IVR_ENGINE_EVENTS_H */
