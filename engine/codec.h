/* SPDX-License-Identifier: MIT */
/*
 * engine/codec.h - per-call audio codec: RTP payload <-> float32 frames.
 *
 * PCMU and PCMA (G.711, RFC 3551 payload types 0 and 8, 8 kHz) through
 * dsp/g711.h.  Opus is refused with -ENOTSUP until dsp/opus_codec.h is
 * merged (the lead wires it here: the state below has room for it).
 * Thread: RT for encode/decode, control for init.
 */
#ifndef IVR_ENGINE_CODEC_H
#define IVR_ENGINE_CODEC_H

#include "common/defs.h"

enum ivr_codec_id {
	IVR_CODEC_PCMU = 0,
	IVR_CODEC_PCMA = 8,
	IVR_CODEC_OPUS = 111,
};

struct ivr_codec {
	enum ivr_codec_id id;
	uint8_t pt;	   /* negotiated RTP payload type */
	uint32_t rate_hz;  /* audio rate of the frames (8000 for G.711) */
	uint32_t clock_hz; /* RTP timestamp clock */
};

/**
 * Parse a codec name ("PCMU", "PCMA", "opus"; case-insensitive).
 * @return 0 and *id, or -ENOTSUP for an unknown name.  Thread: any.
 */
IVR_NODISCARD int ivr_codec_from_name(const char *name, enum ivr_codec_id *id);

/** @return the canonical name of @id ("PCMU"...). */
const char *ivr_codec_name(enum ivr_codec_id id);

/**
 * Set up @c for @id with payload type @pt (-1 = the static default).
 * @return 0, -EINVAL (pt > 127), -ENOTSUP (opus not built in yet).
 * Thread: control.
 */
IVR_NODISCARD int ivr_codec_init(struct ivr_codec *c, enum ivr_codec_id id, int pt);

/**
 * Decode one payload to float samples.
 * @return samples written (<= @max_samples), or -EBADMSG.  Thread: RT.
 */
IVR_RT int ivr_codec_decode(const struct ivr_codec *c, const uint8_t *payload, size_t n_bytes,
			    float *out, size_t max_samples);

/**
 * Encode @n_samples float samples into @out.
 * @return bytes written, or -ENOSPC.  Thread: RT.
 */
IVR_RT int ivr_codec_encode(const struct ivr_codec *c, const float *in, size_t n_samples,
			    uint8_t *out, size_t cap);

#endif /* IVR_ENGINE_CODEC_H */
