/* SPDX-License-Identifier: MIT */
/*
 * engine/events.c - router events: field encoding for the ring and JSON decoding.
 *
 * Wire format of a payload: fields <key u8><len u16 little-endian><len bytes>.  The key
 * table below gives each key its JSON name and value kind.  Decoding checks every length
 * against the payload, so any byte string decodes to valid JSON (fuzzed by
 * tests/fuzz/fuzz_shmring.c).  See engine/events.h.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/events.h"

enum kind { K_STR = 1, K_U32, K_F32, K_KV, K_NBEST, K_STEP, K_LINE, K_HYP };

enum key {
	F_ANI = 1,
	F_DNIS,
	F_FLOW,
	F_VAR,
	F_DIGIT,
	F_SOURCE,
	F_DURATION_MS,
	F_OFFSET_MS,
	F_TEXT,
	F_INTENT,
	F_CONFIDENCE,
	F_NBEST,
	F_NODE,
	F_REASON,
	F_COUNT,
	F_SKILL,
	F_PRIORITY,
	F_PATH,
	F_TRANSCRIPT,
	F_NO_MATCH_TOTAL,
	F_NO_INPUT_TOTAL,
	F_BARGE_INS,
	F_ZERO_OUTS,
	F_IVR_MS,
	F_CAUSE,
	F_MASKED,
	F_TONE,
	F_REVERSALS,
	F_HYP, /* n-best entry with its intent; replaces F_NBEST in new records */
	F_MAX
};

static const struct {
	const char *name;
	uint8_t kind;
} keys[F_MAX] = {
	[F_ANI] = { "ani", K_STR },
	[F_DNIS] = { "dnis", K_STR },
	[F_FLOW] = { "flow", K_STR },
	[F_VAR] = { "vars", K_KV },
	[F_DIGIT] = { "digit", K_STR },
	[F_SOURCE] = { "source", K_STR },
	[F_DURATION_MS] = { "duration_ms", K_U32 },
	[F_OFFSET_MS] = { "offset_ms", K_U32 },
	[F_TEXT] = { "text", K_STR },
	[F_INTENT] = { "intent", K_STR },
	[F_CONFIDENCE] = { "confidence", K_F32 },
	[F_NBEST] = { "nbest", K_NBEST }, /* f32 confidence, text (records before F_HYP) */
	[F_NODE] = { "node", K_STR },
	[F_REASON] = { "reason", K_STR },
	[F_COUNT] = { "count", K_U32 },
	[F_SKILL] = { "skill", K_STR },
	[F_PRIORITY] = { "priority", K_U32 },
	[F_PATH] = { "path", K_STEP },
	[F_TRANSCRIPT] = { "transcript", K_LINE },
	[F_NO_MATCH_TOTAL] = { "no_match_total", K_U32 },
	[F_NO_INPUT_TOTAL] = { "no_input_total", K_U32 },
	[F_BARGE_INS] = { "barge_ins", K_U32 },
	[F_ZERO_OUTS] = { "zero_outs", K_U32 },
	[F_IVR_MS] = { "ivr_ms", K_U32 },
	[F_CAUSE] = { "cause", K_STR },
	[F_MASKED] = { "masked", K_U32 }, /* rendered as a boolean */
	[F_TONE] = { "tone", K_STR },
	[F_REVERSALS] = { "reversals", K_U32 }, /* rendered as a boolean */
	[F_HYP] = { "nbest", K_HYP },		/* f32 confidence, u8 intent length, intent, text */
};

static const char *const type_names[IVR_EVENT_TYPE_MAX] = {
	[IVR_EVENT_CALL_START] = "call_start",	   [IVR_EVENT_DTMF] = "dtmf",
	[IVR_EVENT_SPEECH_START] = "speech_start", [IVR_EVENT_SPEECH_END] = "speech_end",
	[IVR_EVENT_RECOGNITION] = "recognition",   [IVR_EVENT_NODE_ENTER] = "node_enter",
	[IVR_EVENT_NODE_EXIT] = "node_exit",	   [IVR_EVENT_NO_INPUT] = "no_input",
	[IVR_EVENT_NO_MATCH] = "no_match",	   [IVR_EVENT_TRANSFER] = "transfer",
	[IVR_EVENT_CALL_END] = "call_end",	   [IVR_EVENT_FAX] = "fax",
	[IVR_EVENT_PARTIAL] = "partial",
};

const char *ivr_event_type_name(unsigned type)
{
	return type < IVR_EVENT_TYPE_MAX ? type_names[type] : NULL;
}

/* ---- encoder ------------------------------------------------------------------- */

struct enc {
	unsigned char *p;
	size_t cap, len;
	int err;
};

/* Open a field of @n value bytes; returns where the value goes or NULL (overflow). */
static unsigned char *field(struct enc *e, uint8_t key, size_t n)
{
	if (e->err || n > 0xffff || e->cap - e->len < 3 + n) {
		e->err = -EMSGSIZE;
		return NULL;
	}
	unsigned char *f = e->p + e->len;
	f[0] = key;
	f[1] = (unsigned char)(n & 0xff);
	f[2] = (unsigned char)(n >> 8);
	e->len += 3 + n;
	return f + 3;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The f32 that put_f32() / the n-best writer stored as its little-endian bits. */
static float get_le_f32(const unsigned char *p)
{
	uint32_t u = get_le32(p);
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static void put_str(struct enc *e, uint8_t key, const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	unsigned char *v = field(e, key, n);
	if (v)
		memcpy(v, s, n);
}

static void put_u32(struct enc *e, uint8_t key, uint32_t x)
{
	unsigned char *v = field(e, key, 4);
	if (v)
		put_le32(v, x);
}

static void put_f32(struct enc *e, uint8_t key, float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	put_u32(e, key, u);
}

/* Key/value: u16 key length, key bytes, value bytes. */
static void put_kv(struct enc *e, const char *k, const char *val)
{
	size_t kn = k ? strlen(k) : 0, vn = val ? strlen(val) : 0;
	if (kn > 0xffff) {
		e->err = -EMSGSIZE;
		return;
	}
	unsigned char *v = field(e, F_VAR, 2 + kn + vn);
	if (!v)
		return;
	v[0] = (unsigned char)(kn & 0xff);
	v[1] = (unsigned char)(kn >> 8);
	if (kn)
		memcpy(v + 2, k, kn);
	if (vn)
		memcpy(v + 2 + kn, val, vn);
}

/* An n-best entry: f32 confidence, u8 intent length (0 = no intent), intent, text. */
static void put_hyp(struct enc *e, const struct ivr_event_nbest *h)
{
	size_t in = h->intent ? strlen(h->intent) : 0, tn = h->text ? strlen(h->text) : 0;
	if (in > 0xff) {
		e->err = -EMSGSIZE;
		return;
	}
	unsigned char *v = field(e, F_HYP, 5 + in + tn);
	if (!v)
		return;
	uint32_t c;
	memcpy(&c, &h->confidence, 4);
	put_le32(v, c);
	v[4] = (unsigned char)in;
	if (in)
		memcpy(v + 5, h->intent, in);
	if (tn)
		memcpy(v + 5 + in, h->text, tn);
}

/* A number prefix (u32 or f32 words) followed by text. */
static void put_words_text(struct enc *e, uint8_t key, const uint32_t *w, size_t nw, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	unsigned char *v = field(e, key, 4 * nw + n);
	if (!v)
		return;
	for (size_t i = 0; i < nw; i++)
		put_le32(v + 4 * i, w[i]);
	if (n)
		memcpy(v + 4 * nw, s, n);
}

IVR_RT int ivr_event_encode(void *buf, size_t cap, const struct ivr_event *ev)
{
	struct enc e = { buf, buf ? cap : 0, 0, 0 };
	if (!ev)
		return -EINVAL;
	switch (ev->type) {
	case IVR_EVENT_CALL_START:
		put_str(&e, F_ANI, ev->u.call_start.ani);
		put_str(&e, F_DNIS, ev->u.call_start.dnis);
		put_str(&e, F_FLOW, ev->u.call_start.flow);
		for (size_t i = 0; ev->u.call_start.vars && i < ev->u.call_start.n_vars; i++)
			put_kv(&e, ev->u.call_start.vars[i].key, ev->u.call_start.vars[i].value);
		break;
	case IVR_EVENT_DTMF: {
		char d[2] = { ev->u.dtmf.sensitive ? '*' : ev->u.dtmf.digit, 0 };
		put_str(&e, F_DIGIT, d);
		put_str(&e, F_SOURCE,
			ev->u.dtmf.source == IVR_EVENT_DTMF_RFC4733 ? "rfc4733" : "inband");
		put_u32(&e, F_DURATION_MS, ev->u.dtmf.duration_ms);
		if (ev->u.dtmf.sensitive)
			put_u32(&e, F_MASKED, 1);
		break;
	}
	case IVR_EVENT_SPEECH_START:
	case IVR_EVENT_SPEECH_END:
		put_u32(&e, F_OFFSET_MS, ev->u.speech.offset_ms);
		break;
	case IVR_EVENT_RECOGNITION:
		put_str(&e, F_TEXT, ev->u.recognition.text);
		put_str(&e, F_INTENT, ev->u.recognition.intent);
		put_f32(&e, F_CONFIDENCE, ev->u.recognition.confidence);
		for (size_t i = 0; ev->u.recognition.nbest && i < ev->u.recognition.n_nbest; i++)
			put_hyp(&e, &ev->u.recognition.nbest[i]);
		break;
	case IVR_EVENT_PARTIAL:
		put_str(&e, F_TEXT, ev->u.recognition.text);
		break;
	case IVR_EVENT_NODE_ENTER:
	case IVR_EVENT_NODE_EXIT:
		put_str(&e, F_NODE, ev->u.node.node);
		put_str(&e, F_REASON, ev->u.node.reason);
		break;
	case IVR_EVENT_NO_INPUT:
	case IVR_EVENT_NO_MATCH:
		put_str(&e, F_NODE, ev->u.miss.node);
		put_u32(&e, F_COUNT, ev->u.miss.count);
		break;
	case IVR_EVENT_TRANSFER:
		put_str(&e, F_REASON, ev->u.transfer.reason);
		put_str(&e, F_INTENT, ev->u.transfer.intent);
		put_str(&e, F_SKILL, ev->u.transfer.skill);
		put_u32(&e, F_PRIORITY, ev->u.transfer.priority);
		for (size_t i = 0; ev->u.transfer.path && i < ev->u.transfer.n_path; i++) {
			uint32_t w[2] = { ev->u.transfer.path[i].enter_ms,
					  ev->u.transfer.path[i].exit_ms };
			put_words_text(&e, F_PATH, w, 2, ev->u.transfer.path[i].node);
		}
		for (size_t i = 0; ev->u.transfer.transcript && i < ev->u.transfer.n_transcript;
		     i++)
			put_words_text(&e, F_TRANSCRIPT, NULL, 0, ev->u.transfer.transcript[i]);
		put_u32(&e, F_NO_MATCH_TOTAL, ev->u.transfer.no_match_total);
		put_u32(&e, F_NO_INPUT_TOTAL, ev->u.transfer.no_input_total);
		put_u32(&e, F_BARGE_INS, ev->u.transfer.barge_ins);
		put_u32(&e, F_ZERO_OUTS, ev->u.transfer.zero_outs);
		put_u32(&e, F_IVR_MS, ev->u.transfer.ivr_ms);
		break;
	case IVR_EVENT_CALL_END:
		put_str(&e, F_CAUSE, ev->u.call_end.cause);
		put_u32(&e, F_DURATION_MS, ev->u.call_end.duration_ms);
		break;
	case IVR_EVENT_FAX:
		if (ev->u.fax.tone > IVR_EVENT_FAX_ANS)
			return -EINVAL;
		put_str(&e, F_TONE, ev->u.fax.tone == IVR_EVENT_FAX_ANS ? "ans" : "cng");
		put_u32(&e, F_REVERSALS, ev->u.fax.reversals);
		put_u32(&e, F_OFFSET_MS, ev->u.fax.offset_ms);
		break;
	default:
		return -EINVAL;
	}
	return e.err ? e.err : (int)e.len;
}

IVR_RT int ivr_event_publish(struct ivr_shmring *ring, uint32_t worker, uint64_t call_id,
			     uint64_t ts_ns, uint64_t wall_ms, const struct ivr_event *ev,
			     void *scratch, size_t scratch_len)
{
	int n = ivr_event_encode(scratch, scratch_len, ev);
	if (n < 0)
		return n;
	if (!ts_ns)
		ts_ns = ivr_shmring_now_ns();
	if (!wall_ms)
		wall_ms = ivr_shmring_wall_ms();
	return ivr_shmring_push(ring, worker, ev->type, call_id, ts_ns, wall_ms, scratch,
				(size_t)n);
}

/* ---- JSON ---------------------------------------------------------------------- */

struct jw {
	char *p;
	size_t cap, len;
	int full;
};

static void jw_raw(struct jw *j, const char *s, size_t n)
{
	if (j->full || j->cap - j->len <= n) {
		j->full = 1;
		return;
	}
	memcpy(j->p + j->len, s, n);
	j->len += n;
	j->p[j->len] = 0;
}

static void jw_cstr(struct jw *j, const char *s)
{
	jw_raw(j, s, strlen(s));
}

static void jw_fmt_u64(struct jw *j, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	jw_raw(j, b, (size_t)n);
}

static void jw_fmt_f32(struct jw *j, float f)
{
	if (!isfinite(f)) {
		jw_cstr(j, "null");
		return;
	}
	char b[32];
	int n = snprintf(b, sizeof(b), "%.4g", (double)f);
	jw_raw(j, b, (size_t)n);
}

/* Length of a valid UTF-8 sequence at @s (at most @n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string from @n bytes: escapes per RFC 8259, invalid UTF-8 becomes U+FFFD. */
static void jw_str(struct jw *j, const unsigned char *s, size_t n)
{
	jw_raw(j, "\"", 1);
	size_t i = 0;
	while (i < n && !j->full) {
		unsigned c = s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jw_raw(j, esc, 2);
			i++;
		} else if (c < 0x20) {
			const char *named = c == '\n'	? "\\n"
					    : c == '\r' ? "\\r"
					    : c == '\t' ? "\\t"
							: NULL;
			if (named) {
				jw_raw(j, named, 2);
			} else {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				jw_raw(j, esc, 6);
			}
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);
			if (l == 0) {
				jw_raw(j, "\\ufffd", 6);
				i++;
			} else {
				jw_raw(j, (const char *)s + i, l);
				i += l;
			}
		}
	}
	jw_raw(j, "\"", 1);
}

static void jw_key(struct jw *j, const char *k)
{
	jw_raw(j, ",\"", 2);
	jw_cstr(j, k);
	jw_raw(j, "\":", 2);
}

int ivr_event_to_json(const struct ivr_shmring_rec *rec, const void *payload, char *out, size_t cap)
{
	struct jw j = { out, cap, 0, 0 };
	if (!out || cap == 0)
		return -ENOSPC;
	out[0] = 0;
	jw_cstr(&j, "{\"seq\":");
	jw_fmt_u64(&j, rec->seq);
	jw_cstr(&j, ",\"ts_ns\":");
	jw_fmt_u64(&j, rec->ts_ns);
	jw_cstr(&j, ",\"wall_ms\":");
	jw_fmt_u64(&j, rec->wall_ms);
	jw_cstr(&j, ",\"call_id\":");
	jw_fmt_u64(&j, rec->call_id);
	jw_cstr(&j, ",\"worker\":");
	jw_fmt_u64(&j, rec->worker);
	jw_cstr(&j, ",\"type\":");
	const char *tn = ivr_event_type_name(rec->type);
	if (tn) {
		jw_raw(&j, "\"", 1);
		jw_cstr(&j, tn);
		jw_raw(&j, "\"", 1);
	} else {
		jw_cstr(&j, "\"unknown\",\"type_id\":");
		jw_fmt_u64(&j, rec->type);
	}

	const unsigned char *p = payload;
	size_t n = payload ? rec->len : 0, off = 0;
	unsigned open_key = 0; /* list field whose JSON container is open */
	int malformed = 0;
	while (off < n) {
		if (n - off < 3) {
			malformed = 1;
			break;
		}
		unsigned key = p[off];
		size_t vl = (size_t)p[off + 1] | (size_t)p[off + 2] << 8;
		const unsigned char *v = p + off + 3;
		if (vl > n - off - 3 || key == 0 || key >= F_MAX) {
			malformed = 1;
			break;
		}
		off += 3 + vl;
		unsigned kind = keys[key].kind;
		int is_list = kind == K_KV || kind == K_NBEST || kind == K_STEP || kind == K_LINE ||
			      kind == K_HYP;
		int is_obj = kind == K_KV;
		if (open_key && open_key != key) {
			jw_raw(&j, keys[open_key].kind == K_KV ? "}" : "]", 1);
			open_key = 0;
		}
		if (is_list) {
			if (open_key == key) {
				jw_raw(&j, ",", 1);
			} else {
				jw_key(&j, keys[key].name);
				jw_raw(&j, is_obj ? "{" : "[", 1);
				open_key = key;
			}
		} else {
			jw_key(&j, keys[key].name);
		}
		switch (kind) {
		case K_STR:
		case K_LINE:
			jw_str(&j, v, vl);
			break;
		case K_U32:
			if (vl != 4) {
				jw_cstr(&j, "null");
				malformed = 1;
			} else if (key == F_MASKED || key == F_REVERSALS) {
				jw_cstr(&j, get_le32(v) ? "true" : "false");
			} else {
				jw_fmt_u64(&j, get_le32(v));
			}
			break;
		case K_F32:
			if (vl != 4) {
				jw_cstr(&j, "null");
				malformed = 1;
			} else {
				jw_fmt_f32(&j, get_le_f32(v));
			}
			break;
		case K_KV: {
			size_t kl = vl >= 2 ? ((size_t)v[0] | (size_t)v[1] << 8) : 0;
			if (vl < 2 || kl > vl - 2) {
				/* Keep the object valid: an empty key with no value. */
				jw_cstr(&j, "\"\":null");
				malformed = 1;
				break;
			}
			jw_str(&j, v + 2, kl);
			jw_raw(&j, ":", 1);
			jw_str(&j, v + 2 + kl, vl - 2 - kl);
			break;
		}
		case K_NBEST:
			if (vl < 4) {
				jw_cstr(&j, "null");
				malformed = 1;
				break;
			}
			jw_cstr(&j, "{\"text\":");
			jw_str(&j, v + 4, vl - 4);
			jw_cstr(&j, ",\"confidence\":");
			jw_fmt_f32(&j, get_le_f32(v));
			jw_raw(&j, "}", 1);
			break;
		case K_HYP:
			if (vl < 5 || v[4] > vl - 5) {
				jw_cstr(&j, "null");
				malformed = 1;
				break;
			}
			jw_cstr(&j, "{\"text\":");
			jw_str(&j, v + 5 + v[4], vl - 5 - v[4]);
			jw_cstr(&j, ",\"intent\":");
			if (v[4])
				jw_str(&j, v + 5, v[4]);
			else
				jw_cstr(&j, "null");
			jw_cstr(&j, ",\"confidence\":");
			jw_fmt_f32(&j, get_le_f32(v));
			jw_raw(&j, "}", 1);
			break;
		case K_STEP:
			if (vl < 8) {
				jw_cstr(&j, "null");
				malformed = 1;
				break;
			}
			jw_cstr(&j, "{\"node\":");
			jw_str(&j, v + 8, vl - 8);
			jw_cstr(&j, ",\"enter_ms\":");
			jw_fmt_u64(&j, get_le32(v));
			jw_cstr(&j, ",\"exit_ms\":");
			jw_fmt_u64(&j, get_le32(v + 4));
			jw_raw(&j, "}", 1);
			break;
		}
	}
	if (open_key)
		jw_raw(&j, keys[open_key].kind == K_KV ? "}" : "]", 1);
	if (malformed)
		jw_cstr(&j, ",\"malformed\":true");
	jw_raw(&j, "}", 1);
	return j.full ? -ENOSPC : (int)j.len;
}

int ivr_event_print(FILE *f, const struct ivr_shmring_rec *rec, const void *payload, char *json,
		    size_t json_cap)
{
	int r = 0;
	if (rec->lost_before)
		r |= fprintf(f, "{\"type\":\"lost\",\"count\":%llu,\"worker\":%u}\n",
			     (unsigned long long)rec->lost_before, rec->worker) < 0;
	if (ivr_event_to_json(rec, payload, json, json_cap) >= 0)
		r |= fprintf(f, "%s\n", json) < 0;
	else
		r |= fprintf(f, "{\"seq\":%llu,\"type\":\"oversized\"}\n",
			     (unsigned long long)rec->seq) < 0;
	return r ? -EIO : 0;
}
