/* SPDX-License-Identifier: MIT */
/*
 * engine/codec.c - per-call codec: G.711 (dsp/g711.h) and Opus
 * (dsp/opus_codec.h); see codec.h.
 *
 * Opus state layout in the caller's memory: the encoder, then the decoder
 * at the next 64-byte boundary; both are found by offset, so the block
 * stays position-independent like the wrappers' own state.
 */
#include "config.h"

#include <strings.h>

#include "dsp/g711.h"
#include "dsp/opus_codec.h"
#include "engine/codec.h"

/* The Opus wrapper's configuration for the call's internal rate (codec.h). */
static struct ivr_opus_cfg opus_cfg(const struct ivr_codec *c)
{
	return (struct ivr_opus_cfg){ .rate_hz = c->rate_hz };
}

int ivr_codec_from_name(const char *name, enum ivr_codec_id *id)
{
	if (!name || !id)
		return -EINVAL;
	if (!strcasecmp(name, "PCMU"))
		*id = IVR_CODEC_PCMU;
	else if (!strcasecmp(name, "PCMA"))
		*id = IVR_CODEC_PCMA;
	else if (!strcasecmp(name, "opus"))
		*id = IVR_CODEC_OPUS;
	else
		return -ENOTSUP;
	return 0;
}

const char *ivr_codec_name(enum ivr_codec_id id)
{
	switch (id) {
	case IVR_CODEC_PCMU:
		return "PCMU";
	case IVR_CODEC_PCMA:
		return "PCMA";
	case IVR_CODEC_OPUS:
		return "opus";
	}
	return "?";
}

int ivr_codec_init(struct ivr_codec *c, enum ivr_codec_id id, int pt)
{
	if (!c || pt > 127)
		return -EINVAL;
	switch (id) {
	case IVR_CODEC_PCMU:
	case IVR_CODEC_PCMA:
		c->id = id;
		c->pt = (uint8_t)(pt < 0 ? (int)id : pt);
		c->rate_hz = 8000;
		c->clock_hz = 8000;
		break;
	case IVR_CODEC_OPUS:
		c->id = id;
		c->pt = (uint8_t)(pt < 0 ? (int)IVR_CODEC_OPUS : pt);
		c->rate_hz = 8000;   /* until ivr_codec_set_rate() */
		c->clock_hz = 48000; /* RFC 7587 4.1: always 48 kHz */
		break;
	default:
		return -EINVAL;
	}
	c->codec_rate_hz = 8000;
	c->frame_samples = c->rate_hz / 50;
	c->frame_units = c->clock_hz / 50;
	return 0;
}

int ivr_codec_set_rate(struct ivr_codec *c, uint32_t codec_rate_hz)
{
	if (!c)
		return -EINVAL;
	if (!codec_rate_hz)
		codec_rate_hz = 8000;
	if (c->id != IVR_CODEC_OPUS)
		return codec_rate_hz == 8000 ? 0 : -ENOTSUP;
	if (codec_rate_hz != 8000 && codec_rate_hz != 16000 && codec_rate_hz != 48000)
		return -ENOTSUP;
	c->codec_rate_hz = codec_rate_hz;
	c->rate_hz = codec_rate_hz == 8000 ? 8000 : 16000;
	c->frame_samples = c->rate_hz / 50;
	return 0;
}

static size_t opus_enc_bytes(const struct ivr_codec *c)
{
	struct ivr_opus_cfg oc = opus_cfg(c);
	return IVR_ROUND_UP(ivr_opus_enc_size(&oc), IVR_ALIGN);
}

static struct ivr_opus_enc *opus_enc(void *state)
{
	return (struct ivr_opus_enc *)state;
}

static struct ivr_opus_dec *opus_dec(const struct ivr_codec *c, void *state)
{
	return (struct ivr_opus_dec *)(void *)((uint8_t *)state + opus_enc_bytes(c));
}

size_t ivr_codec_state_size(const struct ivr_codec *c)
{
	if (!c || c->id != IVR_CODEC_OPUS)
		return 0;
	struct ivr_opus_cfg oc = opus_cfg(c);
	return opus_enc_bytes(c) + IVR_ROUND_UP(ivr_opus_dec_size(&oc), IVR_ALIGN);
}

size_t ivr_codec_state_max(void)
{
	size_t m = 0;
	static const uint32_t rates[] = { 8000, 16000 };
	for (size_t i = 0; i < IVR_N_ELEMENTS(rates); i++) {
		struct ivr_codec c;
		if (ivr_codec_init(&c, IVR_CODEC_OPUS, -1) < 0 ||
		    ivr_codec_set_rate(&c, rates[i]) < 0)
			return 0;
		m = IVR_MAX(m, ivr_codec_state_size(&c));
	}
	return m;
}

int ivr_codec_state_init(const struct ivr_codec *c, void *mem, size_t size)
{
	if (!c)
		return -EINVAL;
	size_t need = ivr_codec_state_size(c);
	if (!need)
		return 0;
	if (!mem)
		return -EINVAL;
	if (size < need)
		return -ENOSPC;
	struct ivr_opus_cfg oc = opus_cfg(c);
	int r = ivr_opus_enc_init(opus_enc(mem), opus_enc_bytes(c), &oc);
	if (r < 0)
		return r;
	return ivr_opus_dec_init(opus_dec(c, mem), need - opus_enc_bytes(c), &oc);
}

int ivr_codec_decode(const struct ivr_codec *c, void *state, const uint8_t *payload, size_t n_bytes,
		     float *out, size_t max_samples)
{
	size_t n = IVR_MIN(n_bytes, max_samples);
	switch (c->id) {
	case IVR_CODEC_PCMU:
		ivr_g711_ulaw_decode_f32(out, payload, n);
		return (int)n;
	case IVR_CODEC_PCMA:
		ivr_g711_alaw_decode_f32(out, payload, n);
		return (int)n;
	case IVR_CODEC_OPUS:
		if (!state)
			return -EINVAL;
		return ivr_opus_decode(opus_dec(c, state), payload, n_bytes, out, max_samples);
	default:
		return -EBADMSG;
	}
}

int ivr_codec_conceal(const struct ivr_codec *c, void *state, const uint8_t *next, size_t n_next,
		      float *out, size_t n_samples)
{
	if (c->id != IVR_CODEC_OPUS)
		return -ENOTSUP;
	if (!state)
		return -EINVAL;
	return ivr_opus_decode_lost(opus_dec(c, state), next, next ? n_next : 0, out, n_samples);
}

int ivr_codec_encode(const struct ivr_codec *c, void *state, const float *in, size_t n_samples,
		     uint8_t *out, size_t cap)
{
	switch (c->id) {
	case IVR_CODEC_PCMU:
		if (n_samples > cap)
			return -ENOSPC;
		ivr_g711_ulaw_encode_f32(out, in, n_samples);
		return (int)n_samples;
	case IVR_CODEC_PCMA:
		if (n_samples > cap)
			return -ENOSPC;
		ivr_g711_alaw_encode_f32(out, in, n_samples);
		return (int)n_samples;
	case IVR_CODEC_OPUS:
		if (!state)
			return -EINVAL;
		return ivr_opus_encode(opus_enc(state), in, n_samples, out, cap);
	default:
		return -ENOSPC;
	}
}
