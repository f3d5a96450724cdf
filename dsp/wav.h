/* SPDX-License-Identifier: MIT */
/*
 * dsp/wav.h - WAV (RIFF/WAVE) reading and writing for tools, tests and prompts.
 *
 * Reads PCM 8/16/24/32-bit, IEEE float32, mu-law and A-law, plain or
 * WAVE_FORMAT_EXTENSIBLE, mono only (a stereo file is refused with a clear
 * reason rather than silently downmixed: callers' and engine's channels must
 * not be mixed by accident).  Samples come back as float32, full scale 1.0.
 * Optional conversion to a target rate uses libsamplerate at its best
 * quality (dsp/resample.h), off the real-time path.
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

/** Mono audio in memory. */
struct ivr_audio {
	float *samples; /* n_samples floats, full scale 1.0 */
	size_t n_samples;
	uint32_t rate_hz;
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
 * Read a WAV file; see ivr_wav_parse().  @return 0 or a negative errno
 * (-ENOENT etc. when the file cannot be opened).  Thread: control.
 */
IVR_NODISCARD int ivr_wav_read(struct ivr_audio *out, const char *path, uint32_t target_rate_hz,
			       char *err, size_t err_len);

/**
 * Write mono audio as WAV in @format (PCM16, FLOAT32, ULAW or ALAW).
 * @return 0 or a negative errno.  Thread: control.
 */
IVR_NODISCARD int ivr_wav_write(const char *path, const float *samples, size_t n_samples,
				uint32_t rate_hz, enum ivr_wav_format format);

/** Free the samples of @a (NULL-safe) and zero it. */
void ivr_audio_free(struct ivr_audio *a);

#endif /* IVR_DSP_WAV_H */
