/* SPDX-License-Identifier: MIT */
/*
 * dsp/opus_codec.c - libopus wrapper (see opus_codec.h).
 *
 * Layout: a small header followed, at a 64-byte aligned offset, by the
 * libopus state that opus_encoder_init()/opus_decoder_init() build in
 * place.  The libopus state is found by offset, never by a stored
 * pointer, so the whole block stays position-independent.
 */
#include "config.h"

#include <opus.h>
#include <stdlib.h>

#include "dsp/opus_codec.h"

#define HDR IVR_ALIGN /* header bytes before the libopus state */

struct ivr_opus_enc {
	uint32_t rate_hz, frame, delay;
};

struct ivr_opus_dec {
	uint32_t rate_hz, frame;
};

_Static_assert(sizeof(struct ivr_opus_enc) <= HDR, "header must fit its slot");
_Static_assert(sizeof(struct ivr_opus_dec) <= HDR, "header must fit its slot");

static OpusEncoder *enc_st(const struct ivr_opus_enc *enc)
{
	return (OpusEncoder *)(void *)((char *)(uintptr_t)enc + HDR);
}

static OpusDecoder *dec_st(const struct ivr_opus_dec *dec)
{
	return (OpusDecoder *)(void *)((char *)(uintptr_t)dec + HDR);
}

static bool rate_ok(uint32_t r)
{
	return r == 8000 || r == 16000 || r == 48000;
}

static uint32_t cfg_rate(const struct ivr_opus_cfg *cfg)
{
	return cfg && cfg->rate_hz ? cfg->rate_hz : 8000;
}

size_t ivr_opus_frame_samples(const struct ivr_opus_cfg *cfg)
{
	uint32_t r = cfg_rate(cfg);
	return rate_ok(r) ? r / 50 : 0;
}

size_t ivr_opus_enc_size(const struct ivr_opus_cfg *cfg)
{
	if (!rate_ok(cfg_rate(cfg)))
		return 0;
	return HDR + IVR_ROUND_UP((size_t)opus_encoder_get_size(1), IVR_ALIGN);
}

int ivr_opus_enc_init(struct ivr_opus_enc *enc, size_t size, const struct ivr_opus_cfg *cfg)
{
	uint32_t rate = cfg_rate(cfg);
	if (!enc || !rate_ok(rate) || (cfg && cfg->complexity > 10) ||
	    (cfg && cfg->loss_pct > 100) ||
	    (cfg && cfg->bitrate_bps && (cfg->bitrate_bps < 6000 || cfg->bitrate_bps > 510000)))
		return -EINVAL;
	if (size < ivr_opus_enc_size(cfg))
		return -ENOSPC;
	memset(enc, 0, HDR);
	enc->rate_hz = rate;
	enc->frame = rate / 50;
	OpusEncoder *st = enc_st(enc);
	if (opus_encoder_init(st, (opus_int32)rate, 1, OPUS_APPLICATION_VOIP) != OPUS_OK)
		return -EIO;
	uint32_t bitrate = cfg && cfg->bitrate_bps ? cfg->bitrate_bps
			   : rate == 8000	   ? 20000
			   : rate == 16000	   ? 24000
						   : 32000;
	int loss = cfg && cfg->loss_pct ? cfg->loss_pct : 10;
	int cx = cfg && cfg->complexity ? cfg->complexity : 5;
	bool fec = !(cfg && cfg->no_fec);
	int e = opus_encoder_ctl(st, OPUS_SET_BITRATE((opus_int32)bitrate));
	e |= opus_encoder_ctl(st, OPUS_SET_COMPLEXITY(cx));
	e |= opus_encoder_ctl(st, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	e |= opus_encoder_ctl(st, OPUS_SET_INBAND_FEC(fec ? 1 : 0));
	e |= opus_encoder_ctl(st, OPUS_SET_PACKET_LOSS_PERC(fec ? loss : 0));
	opus_int32 la = 0;
	e |= opus_encoder_ctl(st, OPUS_GET_LOOKAHEAD(&la));
	if (e != OPUS_OK)
		return -EIO;
	enc->delay = (uint32_t)la;
	return 0;
}

void ivr_opus_enc_reset(struct ivr_opus_enc *enc)
{
	if (enc)
		opus_encoder_ctl(enc_st(enc), OPUS_RESET_STATE);
}

int ivr_opus_encode(struct ivr_opus_enc *enc, const float *pcm, size_t n_samples, uint8_t *out,
		    size_t max_bytes)
{
	if (!enc || !pcm || !out || n_samples != enc->frame)
		return -EINVAL;
	if (max_bytes < 3)
		return -ENOSPC;
	opus_int32 cap = (opus_int32)IVR_MIN(max_bytes, (size_t)IVR_OPUS_MAX_PACKET);
	opus_int32 n = opus_encode_float(enc_st(enc), pcm, (int)n_samples, out, cap);
	if (n == OPUS_BUFFER_TOO_SMALL)
		return -ENOSPC;
	if (n < 0)
		return -EIO;
	return (int)n;
}

uint32_t ivr_opus_enc_delay_samples(const struct ivr_opus_enc *enc)
{
	return enc ? enc->delay : 0;
}

struct ivr_opus_enc *ivr_opus_enc_new(const struct ivr_opus_cfg *cfg)
{
	size_t sz = ivr_opus_enc_size(cfg);
	if (!sz) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_opus_enc *enc = aligned_alloc(IVR_ALIGN, sz);
	if (!enc) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_opus_enc_init(enc, sz, cfg);
	if (r < 0) {
		free(enc);
		errno = -r;
		return NULL;
	}
	return enc;
}

void ivr_opus_enc_free(struct ivr_opus_enc *enc)
{
	free(enc);
}

size_t ivr_opus_dec_size(const struct ivr_opus_cfg *cfg)
{
	if (!rate_ok(cfg_rate(cfg)))
		return 0;
	return HDR + IVR_ROUND_UP((size_t)opus_decoder_get_size(1), IVR_ALIGN);
}

int ivr_opus_dec_init(struct ivr_opus_dec *dec, size_t size, const struct ivr_opus_cfg *cfg)
{
	uint32_t rate = cfg_rate(cfg);
	if (!dec || !rate_ok(rate))
		return -EINVAL;
	if (size < ivr_opus_dec_size(cfg))
		return -ENOSPC;
	memset(dec, 0, HDR);
	dec->rate_hz = rate;
	dec->frame = rate / 50;
	if (opus_decoder_init(dec_st(dec), (opus_int32)rate, 1) != OPUS_OK)
		return -EIO;
	return 0;
}

void ivr_opus_dec_reset(struct ivr_opus_dec *dec)
{
	if (dec)
		opus_decoder_ctl(dec_st(dec), OPUS_RESET_STATE);
}

int ivr_opus_decode(struct ivr_opus_dec *dec, const uint8_t *pkt, size_t n_bytes, float *pcm,
		    size_t max_samples)
{
	if (!dec || !pcm || (!pkt && n_bytes))
		return -EINVAL;
	/* An empty packet would mean "lost" to libopus: that is decode_lost's job. */
	if (!pkt || n_bytes == 0 || n_bytes > INT32_MAX)
		return -EBADMSG;
	int ns = opus_packet_get_nb_samples(pkt, (opus_int32)n_bytes, (opus_int32)dec->rate_hz);
	if (ns < 0)
		return -EBADMSG;
	if ((size_t)ns > max_samples)
		return -ENOSPC;
	int n = opus_decode_float(dec_st(dec), pkt, (opus_int32)n_bytes, pcm, ns, 0);
	if (n < 0)
		return n == OPUS_BUFFER_TOO_SMALL ? -ENOSPC : -EBADMSG;
	return n;
}

int ivr_opus_decode_lost(struct ivr_opus_dec *dec, const uint8_t *next, size_t n_next, float *pcm,
			 size_t n_samples)
{
	if (!dec || !pcm || (!next && n_next))
		return -EINVAL;
	/* libopus conceals in multiples of 2.5 ms, up to 120 ms. */
	if (n_samples == 0 || n_samples % (dec->rate_hz / 400) ||
	    n_samples > dec->rate_hz / 1000 * 120)
		return -EINVAL;
	int n;
	if (next && n_next) {
		if (n_next > INT32_MAX || opus_packet_get_nb_samples(next, (opus_int32)n_next,
								     (opus_int32)dec->rate_hz) < 0)
			return -EBADMSG;
		n = opus_decode_float(dec_st(dec), next, (opus_int32)n_next, pcm, (int)n_samples,
				      1);
	} else {
		n = opus_decode_float(dec_st(dec), NULL, 0, pcm, (int)n_samples, 0);
	}
	if (n < 0)
		return -EBADMSG;
	return n;
}

struct ivr_opus_dec *ivr_opus_dec_new(const struct ivr_opus_cfg *cfg)
{
	size_t sz = ivr_opus_dec_size(cfg);
	if (!sz) {
		errno = EINVAL;
		return NULL;
	}
	struct ivr_opus_dec *dec = aligned_alloc(IVR_ALIGN, sz);
	if (!dec) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_opus_dec_init(dec, sz, cfg);
	if (r < 0) {
		free(dec);
		errno = -r;
		return NULL;
	}
	return dec;
}

void ivr_opus_dec_free(struct ivr_opus_dec *dec)
{
	free(dec);
}
