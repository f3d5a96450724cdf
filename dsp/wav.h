/* SPDX-License-Identifier: MIT */
/*
 * dsp/wav.h - WAV (RIFF/WAVE) reading and writing for tools, tests and prompts.
 *
 * Reads PCM 8/16/24/32-bit, IEEE float32, mu-law and A-law, plain or
 * WAVE_FORMAT_EXTENSIBLE, with 1 to IVR_WAV_MAX_CHANNELS interleaved
 * channels.  A multi-channel file is never downmixed: the caller names the
 * channel it wants (an engine recording holds caller, engine and mixed side
 * by side, which must not be mixed by accident), asks for all of them
 * (planar), or gets a clear refusal from the mono-only ivr_wav_parse() /
 * ivr_wav_read().  Samples come back as float32, full scale 1.0.  Optional
 * conversion to a target rate uses libsamplerate at its best quality
 * (dsp/resample.h), off the real-time path.  The writer writes 1..N
 * channels; more than two channels use WAVE_FORMAT_EXTENSIBLE as the
 * Microsoft WAVE spec asks (channel mask 0: the channels are not speakers);
 * ivr_wav_header() gives the same header to writers that stream.
 * Thread: control (allocates).
 */
#ifndef IVR_DSP_WAV_H
#define IVR_DSP_WAV_H

#include "common/defs.h"

/** WAV sample encodings (the WAVE format tags). */
enum ivr_wav_format {
	IVR_WAV_PCM16 = 1,
	IVR_WAV_FLOAT32 = 3,
	IVR_WAV_ALAW = 6,
	IVR_WAV_ULAW = 7,
};

/** Most channels a WAV may have to be read or written. */
#define IVR_WAV_MAX_CHANNELS 64

/** Channel selectors for ivr_wav_parse_channel() (>= 0 picks that channel, 0-based). */
#define IVR_WAV_MONO (-1) /* the file must be mono; refused with a reason otherwise */
#define IVR_WAV_ALL  (-2) /* every channel, planar */

/** Audio in memory: @n_channels planes of @n_samples each, back to back. */
struct ivr_audio {
	float *samples;	  /* n_channels * n_samples floats, channel c at c * n_samples */
	size_t n_samples; /* per channel */
	uint32_t rate_hz;
	uint16_t n_channels; /* 1 unless read with IVR_WAV_ALL */
};

/**
 * Parse a WAV image held in memory.  @target_rate_hz = 0 keeps the file's
 * rate; otherwise the audio is resampled.  On failure @err (if not NULL) gets
 * a one-line reason.
 * @return 0, or -EBADMSG (not a readable WAV), -ENOTSUP (valid but
 *         unsupported: stereo, unknown codec), -ENOMEM.
 * Thread: control.
 */
IVR_NODISCARD int ivr_wav_parse(struct ivr_audio *out, const void *data, size_t n_bytes,
				uint32_t target_rate_hz, char *err, size_t err_len);

/**
 * Parse a WAV image and return one channel or all of them: @channel >= 0
 * (0-based) gives that channel as mono audio (-EINVAL with a reason naming
 * the channel count when the file has no such channel), IVR_WAV_ALL gives
 * every channel planar (out->n_channels set), IVR_WAV_MONO behaves as
 * ivr_wav_parse().  Otherwise as ivr_wav_parse().
 * @return 0, or -EBADMSG, -ENOTSUP, -EINVAL, -ENOMEM.  Thread: control.
 */
IVR_NODISCARD int ivr_wav_parse_channel(struct ivr_audio *out, const void *data, size_t n_bytes,
					int channel, uint32_t target_rate_hz, char *err,
					size_t err_len);

/**
 * Read a WAV file; see ivr_wav_parse().  @return 0 or a negative errno
 * (-ENOENT etc. when the file cannot be opened).  Thread: control.
 */
IVR_NODISCARD int ivr_wav_read(struct ivr_audio *out, const char *path, uint32_t target_rate_hz,
			       char *err, size_t err_len);

/**
 * Read a WAV file; see ivr_wav_parse_channel() for @channel.
 * @return 0 or a negative errno.  Thread: control.
 */
IVR_NODISCARD int ivr_wav_read_channel(struct ivr_audio *out, const char *path, int channel,
				       uint32_t target_rate_hz, char *err, size_t err_len);

/**
 * Parse a channel selector given on a command line: a decimal number from 0
 * to IVR_WAV_MAX_CHANNELS - 1.  @return the channel (>= 0) or -EINVAL.
 * Thread: any.
 */
IVR_NODISCARD int ivr_wav_channel_parse(const char *s);

/**
 * Write mono audio as WAV in @format (PCM16, FLOAT32, ULAW or ALAW).
 * @return 0 or a negative errno.  Thread: control.
 */
IVR_NODISCARD int ivr_wav_write(const char *path, const float *samples, size_t n_samples,
				uint32_t rate_hz, enum ivr_wav_format format);

/**
 * Write @n_channels channels (@channels[c]: @n_samples floats each; NULL =
 * silence) interleaved as WAV in @format; more than two channels are written
 * as WAVE_FORMAT_EXTENSIBLE.
 * @return 0 or a negative errno (-EINVAL for 0 or more than
 *         IVR_WAV_MAX_CHANNELS channels).  Thread: control.
 */
IVR_NODISCARD int ivr_wav_write_channels(const char *path, const float *const *channels,
					 unsigned n_channels, size_t n_samples, uint32_t rate_hz,
					 enum ivr_wav_format format);

/** Bytes of the longest header ivr_wav_header() writes (WAVE_FORMAT_EXTENSIBLE). */
#define IVR_WAV_HEADER_MAX 68

/**
 * Write into @h the RIFF/WAVE header of a file of @n_channels interleaved
 * channels in @format holding @data_len bytes of samples: plain for 1 or 2
 * channels (44 bytes), WAVE_FORMAT_EXTENSIBLE (channel mask 0) beyond (68),
 * as ivr_wav_write_channels() does.  For writers that stream the samples
 * and rewrite the header with the final length (engine/recorder).
 * @return the header's length in bytes, or -EINVAL.  Thread: any.
 */
IVR_NODISCARD int ivr_wav_header(uint8_t h[IVR_WAV_HEADER_MAX], unsigned n_channels,
				 uint32_t rate_hz, enum ivr_wav_format format, uint32_t data_len);

/** Free the samples of @a (NULL-safe) and zero it. */
void ivr_audio_free(struct ivr_audio *a);

#endif /* IVR_DSP_WAV_H */
