/* SPDX-License-Identifier: MIT */
/* engine/codec.c - G.711 per-call codec; see codec.h. */
#include "config.h"

#include <strings.h>

#include "dsp/g711.h"
#include "engine/codec.h"

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
		return 0;
	case IVR_CODEC_OPUS:
		/* Waiting for dsp/opus_codec.h (another engineer's module). */
		return -ENOTSUP;
	}
	return -EINVAL;
}

int ivr_codec_decode(const struct ivr_codec *c, const uint8_t *payload, size_t n_bytes, float *out,
		     size_t max_samples)
{
	size_t n = IVR_MIN(n_bytes, max_samples);
	switch (c->id) {
	case IVR_CODEC_PCMU:
		ivr_g711_ulaw_decode_f32(out, payload, n);
		return (int)n;
	case IVR_CODEC_PCMA:
		ivr_g711_alaw_decode_f32(out, payload, n);
		return (int)n;
	default:
		return -EBADMSG;
	}
}

int ivr_codec_encode(const struct ivr_codec *c, const float *in, size_t n_samples, uint8_t *out,
		     size_t cap)
{
	if (n_samples > cap)
		return -ENOSPC;
	switch (c->id) {
	case IVR_CODEC_PCMU:
		ivr_g711_ulaw_encode_f32(out, in, n_samples);
		return (int)n_samples;
	case IVR_CODEC_PCMA:
		ivr_g711_alaw_encode_f32(out, in, n_samples);
		return (int)n_samples;
	default:
		return -ENOSPC;
	}
}
