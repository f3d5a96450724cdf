/* SPDX-License-Identifier: MIT */
/*
 * engine/codec.h - per-call audio codec: RTP payload <-> float32 frames.
 *
 * PCMU and PCMA (G.711, RFC 3551 payload types 0 and 8, 8 kHz) through
 * dsp/g711.h; Opus (RFC 7587, dynamic payload type) through
 * dsp/opus_codec.h, with in-band FEC and PLC.
 *
 * Rates: Opus's RTP clock is 48 kHz whatever the audio bandwidth (RFC 7587
 * section 4.1: a 20 ms packet advances the timestamp by 960).  The audio
 * rate the platform negotiated (maxplaybackrate / sprop-maxcapturerate:
 * 8000, 16000 or 48000; ivr_codec_set_rate()) picks the call's internal
 * rate_hz: 8 kHz for narrowband Opus and G.711, 16 kHz for 16 and 48 kHz
 * Opus.  libopus encodes and decodes at 8/16 kHz natively (SILK NB/WB, no
 * resampler of ours).  48 kHz legs run at 16 kHz inside because nothing the
 * engine does uses audio above 8 kHz: the DSP chain's detectors, the 16 kHz
 * recogniser, telephony prompts and recordings; the canceller, the mixer
 * and the prompt/recording memory would cost 3x for it.  The far end gets
 * wideband Opus, which a 48 kHz decoder plays as it is (RFC 7587 3.1.1:
 * maxplaybackrate is an upper bound, not a demand).
 *
 * State: G.711 has none; Opus needs an encoder and a decoder (about 62 KB)
 * that live in caller memory (the call slot): ivr_codec_state_size() and
 * ivr_codec_state_init(), then pass the same memory to every
 * encode/decode/conceal call.  The state holds no pointers.
 * Thread: RT for encode/decode/conceal, control for init.
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
	uint8_t pt;		/* negotiated RTP payload type */
	uint32_t rate_hz;	/* audio rate of the frames inside: 8000 or 16000 */
	uint32_t codec_rate_hz; /* negotiated audio rate: 8000 (G.711), Opus 8000/16000/48000 */
	uint32_t clock_hz;	/* RTP timestamp clock (8000 G.711, 48000 Opus) */
	uint32_t frame_samples; /* samples per 20 ms frame at rate_hz */
	uint32_t frame_units;	/* RTP timestamp units per 20 ms frame at clock_hz */
};

/**
 * Parse a codec name ("PCMU", "PCMA", "opus"; case-insensitive).
 * @return 0 and *id, or -ENOTSUP for an unknown name.  Thread: any.
 */
IVR_NODISCARD int ivr_codec_from_name(const char *name, enum ivr_codec_id *id);

/** @return the canonical name of @id ("PCMU"...). */
const char *ivr_codec_name(enum ivr_codec_id id);

/**
 * Set up @c for @id with payload type @pt (-1 = the static default; Opus
 * has none and defaults to 111, the usual dynamic choice).
 * @return 0, -EINVAL (pt > 127, unknown id).  Thread: control.
 */
IVR_NODISCARD int ivr_codec_init(struct ivr_codec *c, enum ivr_codec_id id, int pt);

/**
 * Set the negotiated audio rate of an initialised @c (0 = the default: 8000
 * for G.711, 8000 for Opus).  Opus takes 8000 (internal 8 kHz), 16000 and
 * 48000 (internal 16 kHz, see above); G.711 only 8000.
 * @return 0, -ENOTSUP (a rate the engine does not run), -EINVAL.  Thread: control.
 */
IVR_NODISCARD int ivr_codec_set_rate(struct ivr_codec *c, uint32_t codec_rate_hz);

/** @return bytes of per-call codec state @c needs (0 for G.711). Thread: any. */
size_t ivr_codec_state_size(const struct ivr_codec *c);

/** @return the largest ivr_codec_state_size() of any codec (slot sizing). Thread: any. */
size_t ivr_codec_state_max(void);

/**
 * Initialise @c's state in @mem (@size >= ivr_codec_state_size(), 64-byte
 * aligned; may be NULL when the size is 0): a fresh encoder and decoder.
 * @return 0, -ENOSPC (@size too small), -EINVAL or -EIO (libopus refused).
 * Thread: control.
 */
IVR_NODISCARD int ivr_codec_state_init(const struct ivr_codec *c, void *mem, size_t size);

/**
 * Decode one payload to float samples (@state from ivr_codec_state_init()).
 * @return samples written (<= @max_samples), or -EBADMSG (malformed Opus
 * packet, unknown codec), -ENOSPC (packet longer than @max_samples).
 * Thread: RT.
 */
IVR_RT int ivr_codec_decode(const struct ivr_codec *c, void *state, const uint8_t *payload,
			    size_t n_bytes, float *out, size_t max_samples);

/**
 * Conceal one lost frame of @n_samples: with @next (the payload of the
 * packet after the lost one) Opus rebuilds it from the in-band FEC, with
 * @next NULL by Opus PLC.  G.711 has no codec concealment: the caller runs
 * its own (engine/jitter.h struct ivr_plc).
 * @return @n_samples, -ENOTSUP (G.711), -EBADMSG (malformed @next), -EINVAL.
 * Thread: RT.
 */
IVR_RT int ivr_codec_conceal(const struct ivr_codec *c, void *state, const uint8_t *next,
			     size_t n_next, float *out, size_t n_samples);

/**
 * Encode @n_samples float samples (one 20 ms frame for Opus) into @out.
 * @return bytes written, -ENOSPC (@cap too small), -EINVAL (Opus frame
 * size) or -EIO.  Thread: RT.
 */
IVR_RT int ivr_codec_encode(const struct ivr_codec *c, void *state, const float *in,
			    size_t n_samples, uint8_t *out, size_t cap);

#endif /* IVR_ENGINE_CODEC_H */
