/* SPDX-License-Identifier: MIT */
/*
 * dsp/opus_codec.h - libopus encode/decode for one call leg, with in-band
 * FEC and packet-loss concealment.
 *
 * Mono, 20 ms frames at 8, 16 or 48 kHz (the engine's internal rate for the
 * leg; Opus's RTP clock is always 48 kHz, RFC 7587, which the RTP layer
 * handles).  The encoder runs in OPUS_APPLICATION_VOIP with
 * OPUS_SIGNAL_VOICE and in-band FEC (SILK LBRR, RFC 6716 section 4.2.5)
 * so a lost packet can be rebuilt from the next one.  The decoder offers
 * three calls: a packet; a lost packet rebuilt from the FEC data in the
 * next packet (opus_decode with decode_fec = 1); a lost packet with nothing
 * to rebuild from (PLC, opus_decode with data = NULL).
 *
 * libopus silently drops FEC when the bitrate is too low for the expected
 * loss (opus_encoder.c decide_fec()): at 8 kHz with 20% loss, 16 kbit/s
 * carries no FEC at all, 18 kbit/s does (measured in the unit test), hence
 * the 20 kbit/s default there.
 *
 * State lives in caller memory (opus_encoder_get_size/opus_encoder_init and
 * the decoder pair), so it can sit in the call-slot arena; it holds no
 * pointers and can be memcpy'd, as libopus guarantees for its own state.
 * Thread: per call, owned by one media thread; init at call setup, the rest
 * IVR_RT.
 */
#ifndef IVR_DSP_OPUS_CODEC_H
#define IVR_DSP_OPUS_CODEC_H

#include <stdbool.h>

#include "common/defs.h"

/** Largest encoded frame the wrapper produces (RFC 6716: 1275 bytes per frame). */
#define IVR_OPUS_MAX_PACKET 1275

/** Configuration; zero fields take the defaults. */
struct ivr_opus_cfg {
	uint32_t rate_hz;     /* 8000, 16000 or 48000; default 8000 */
	uint32_t bitrate_bps; /* default 20000 / 24000 / 32000 by rate, see below */
	uint8_t loss_pct;     /* expected loss for FEC, default 10 */
	uint8_t complexity;   /* 1-10, default 5 */
	bool no_fec;	      /* true: no in-band FEC (saves bits) */
};

struct ivr_opus_enc; /* opaque */
struct ivr_opus_dec; /* opaque */

/** @return samples per 20 ms frame at @cfg's rate, 0 for a bad rate. Thread: any. */
size_t ivr_opus_frame_samples(const struct ivr_opus_cfg *cfg);

/** @return bytes for an encoder with @cfg, 0 if @cfg is invalid. Thread: any. */
size_t ivr_opus_enc_size(const struct ivr_opus_cfg *cfg);

/**
 * Initialise an encoder in caller memory (@size from ivr_opus_enc_size()).
 * @return 0, -EINVAL (bad cfg, NULL), -ENOSPC (@size too small) or -EIO
 * (libopus refused).  Thread: control (call setup).
 */
IVR_NODISCARD int ivr_opus_enc_init(struct ivr_opus_enc *enc, size_t size,
				    const struct ivr_opus_cfg *cfg);

/** Reset the encoder to a fresh stream (OPUS_RESET_STATE). Thread: media (IVR_RT). */
IVR_RT void ivr_opus_enc_reset(struct ivr_opus_enc *enc);

/**
 * Encode one 20 ms frame (@n_samples must equal ivr_opus_frame_samples(),
 * float full scale 1.0) into @out (@max_bytes; IVR_OPUS_MAX_PACKET is enough).
 * @return packet bytes (>= 1), -EINVAL (wrong frame size, NULL), -ENOSPC
 * (buffer too small) or -EIO (other libopus error).  Thread: media (IVR_RT).
 */
IVR_RT int ivr_opus_encode(struct ivr_opus_enc *enc, const float *pcm, size_t n_samples,
			   uint8_t *out, size_t max_bytes);

/**
 * @return the encoder's algorithmic delay in samples at its rate
 * (OPUS_GET_LOOKAHEAD): decoded audio lags the input by this much.
 */
IVR_RT uint32_t ivr_opus_enc_delay_samples(const struct ivr_opus_enc *enc);

/** Heap wrappers for tools and tests. @return NULL with errno set on failure. */
struct ivr_opus_enc *ivr_opus_enc_new(const struct ivr_opus_cfg *cfg);
/** NULL-safe. Thread: control. */
void ivr_opus_enc_free(struct ivr_opus_enc *enc);

/** @return bytes for a decoder with @cfg (only rate_hz matters), 0 if invalid. */
size_t ivr_opus_dec_size(const struct ivr_opus_cfg *cfg);

/**
 * Initialise a decoder in caller memory.
 * @return 0, -EINVAL, -ENOSPC or -EIO as for the encoder.  Thread: control.
 */
IVR_NODISCARD int ivr_opus_dec_init(struct ivr_opus_dec *dec, size_t size,
				    const struct ivr_opus_cfg *cfg);

/** Reset the decoder (new stream, OPUS_RESET_STATE). Thread: media (IVR_RT). */
IVR_RT void ivr_opus_dec_reset(struct ivr_opus_dec *dec);

/**
 * Decode one packet into @pcm (@max_samples; 120 ms at the rate is always
 * enough, a 20 ms packet gives one frame).
 * @return samples decoded, -EBADMSG (malformed or empty packet), -ENOSPC
 * (the packet holds more audio than @max_samples), -EINVAL (NULL).
 * Thread: media (IVR_RT).
 */
IVR_RT int ivr_opus_decode(struct ivr_opus_dec *dec, const uint8_t *pkt, size_t n_bytes, float *pcm,
			   size_t max_samples);

/**
 * Conceal one lost packet of @n_samples (the lost packet's duration, e.g.
 * one 20 ms frame).  If @next (the packet after the lost one) is given,
 * its in-band FEC data rebuilds the lost audio (libopus falls back to PLC
 * by itself when @next carries none); with @next NULL it is pure PLC.
 * Decode @next itself afterwards with ivr_opus_decode() as usual.
 * @return @n_samples, -EBADMSG (malformed @next), -EINVAL (bad size or
 * NULL @pcm).  Thread: media (IVR_RT).
 */
IVR_RT int ivr_opus_decode_lost(struct ivr_opus_dec *dec, const uint8_t *next, size_t n_next,
				float *pcm, size_t n_samples);

/** Heap wrappers for tools and tests. @return NULL with errno set on failure. */
struct ivr_opus_dec *ivr_opus_dec_new(const struct ivr_opus_cfg *cfg);
/** NULL-safe. Thread: control. */
void ivr_opus_dec_free(struct ivr_opus_dec *dec);

#endif /* IVR_DSP_OPUS_CODEC_H */
