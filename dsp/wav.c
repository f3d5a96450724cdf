/* SPDX-License-Identifier: MIT */
/*
 * dsp/wav.c - RIFF/WAVE reader and writer (see wav.h).
 *
 * Why by hand: libsndfile would do, but it is one more dependency for ~200
 * lines, and the engine needs exact control over what is refused and how it
 * is reported (tools exit 2 with a one-line reason).  The reader walks the
 * chunk list with every length checked against the bytes that are really
 * there, so truncated or hostile files end in -EBADMSG, never in a read
 * past the buffer (fuzzed by tests/fuzz/fuzz_wav.c).  Multi-channel data
 * is de-interleaved by the fmt chunk's block align, which must equal
 * channels x sample size: a file that disagrees is refused rather than read
 * with one channel's audio attributed to another.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/readall.h"
#include "dsp/g711.h"
#include "dsp/resample.h"
#include "dsp/wav.h"

#define WAVE_FORMAT_EXTENSIBLE 0xFFFE

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Write a one-line reason into @err and return @code, so callers can `return fail(...)`. */
__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t err_len, int code,
						      const char *fmt, ...)
{
	if (err && err_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

static float sample_at(const uint8_t *p, uint16_t tag, uint16_t bits)
{
	switch (tag) {
	case IVR_WAV_ULAW:
		return ivr_g711_ulaw_decode(*p) / 32768.0f;
	case IVR_WAV_ALAW:
		return ivr_g711_alaw_decode(*p) / 32768.0f;
	case IVR_WAV_FLOAT32: {
		float f;
		memcpy(&f, p, 4);
		/* NaN/Inf in a file become silence / full scale: defined, never propagated. */
		if (!(f == f))
			return 0.0f;
		return IVR_CLAMP(f, -1.0f, 1.0f);
	}
	default:
		switch (bits) {
		case 8:
			return (p[0] - 128) / 128.0f;
		case 16:
			return (int16_t)rd16(p) / 32768.0f;
		case 24:
			return (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 |
					 (uint32_t)p[2] << 24) /
			       2147483648.0f;
		default:
			return (int32_t)rd32(p) / 2147483648.0f;
		}
	}
}

/* Resample each of @n_ch planes of @n frames in @s (freed) to @to Hz; *@out/@n_out get the result.
 */
static int resample_planes(float *s, size_t n, unsigned n_ch, uint32_t from, uint32_t to,
			   float **out, size_t *n_out)
{
	float *all = NULL;
	size_t nr = 0;
	int e = 0;
	for (unsigned c = 0; c < n_ch && e == 0; c++) {
		float *r;
		size_t k;
		e = ivr_resample_buffer(s + (size_t)c * n, n, from, &r, &k, to);
		if (e < 0)
			break;
		if (c == 0) {
			nr = k;
			all = malloc((nr ? nr : 1) * n_ch * sizeof(float));
			if (!all)
				e = -ENOMEM;
		}
		/* Same input length and ratio give the same output length; pad if not. */
		if (e == 0) {
			size_t m = IVR_MIN(k, nr);
			memcpy(all + (size_t)c * nr, r, m * sizeof(float));
			memset(all + (size_t)c * nr + m, 0, (nr - m) * sizeof(float));
		}
		free(r);
	}
	free(s);
	if (e < 0) {
		free(all);
		return e;
	}
	*out = all;
	*n_out = nr;
	return 0;
}

int ivr_wav_parse_channel(struct ivr_audio *out, const void *data, size_t n_bytes, int channel,
			  uint32_t target_rate_hz, char *err, size_t err_len)
{
	const uint8_t *b = data;
	if (!out || (!data && n_bytes) || channel < IVR_WAV_ALL || channel >= IVR_WAV_MAX_CHANNELS)
		return fail(err, err_len, -EINVAL, "invalid arguments");
	memset(out, 0, sizeof(*out));
	if (n_bytes < 12 || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4))
		return fail(err, err_len, -EBADMSG, "not a WAV file (no RIFF/WAVE header)");

	const uint8_t *fmt = NULL, *pcm = NULL;
	size_t fmt_len = 0, pcm_len = 0;
	size_t pos = 12;
	while (pos + 8 <= n_bytes) {
		uint32_t len = rd32(b + pos + 4);
		size_t avail = n_bytes - pos - 8;
		if (!memcmp(b + pos, "fmt ", 4)) {
			if (len > avail)
				return fail(err, err_len, -EBADMSG, "truncated fmt chunk");
			fmt = b + pos + 8;
			fmt_len = len;
		} else if (!memcmp(b + pos, "data", 4)) {
			/* A data length past the end (streamed or cut files): keep what is there.
			 */
			pcm = b + pos + 8;
			pcm_len = len > avail ? avail : len;
			if (len > avail)
				break;
		}
		if (len > avail)
			break;
		pos += 8 + (size_t)len + (len & 1); /* chunks are word-aligned */
	}
	if (!fmt)
		return fail(err, err_len, -EBADMSG, "WAV has no fmt chunk");
	if (fmt_len < 16)
		return fail(err, err_len, -EBADMSG, "WAV fmt chunk too short (%zu bytes)", fmt_len);
	if (!pcm)
		return fail(err, err_len, -EBADMSG, "WAV has no data chunk");

	uint16_t tag = rd16(fmt), channels = rd16(fmt + 2), block_align = rd16(fmt + 12),
		 bits = rd16(fmt + 14);
	uint32_t rate = rd32(fmt + 4);
	if (tag == WAVE_FORMAT_EXTENSIBLE) {
		if (fmt_len < 40)
			return fail(err, err_len, -EBADMSG, "WAV extensible fmt chunk too short");
		tag = rd16(fmt + 24); /* first two bytes of the subformat GUID */
	}
	if (channels == 0)
		return fail(err, err_len, -EBADMSG, "WAV has 0 channels");
	if (channels > IVR_WAV_MAX_CHANNELS)
		return fail(err, err_len, -ENOTSUP, "WAV has %u channels; at most %d are supported",
			    channels, IVR_WAV_MAX_CHANNELS);
	if (channel == IVR_WAV_MONO && channels != 1)
		return fail(err, err_len, -ENOTSUP,
			    "WAV has %u channels; only mono is read unless a channel is chosen",
			    channels);
	if (channel >= (int)channels)
		return fail(err, err_len, -EINVAL, "WAV has %u channel%s; there is no channel %d",
			    channels, channels == 1 ? "" : "s", channel);
	if (rate < 1000 || rate > 384000)
		return fail(err, err_len, -ENOTSUP, "WAV sample rate %u Hz is not usable", rate);
	unsigned bytes_per_sample;
	switch (tag) {
	case IVR_WAV_PCM16: /* PCM, any of 8/16/24/32 bits */
		if (bits != 8 && bits != 16 && bits != 24 && bits != 32)
			return fail(err, err_len, -ENOTSUP, "WAV PCM with %u bits is not supported",
				    bits);
		bytes_per_sample = bits / 8;
		break;
	case IVR_WAV_FLOAT32:
		if (bits != 32)
			return fail(err, err_len, -ENOTSUP,
				    "WAV float with %u bits is not supported", bits);
		bytes_per_sample = 4;
		break;
	case IVR_WAV_ULAW:
	case IVR_WAV_ALAW:
		if (bits != 8)
			return fail(err, err_len, -EBADMSG, "WAV G.711 with %u bits per sample",
				    bits);
		bytes_per_sample = 1;
		break;
	default:
		return fail(err, err_len, -ENOTSUP, "WAV format tag 0x%04x is not supported", tag);
	}
	/* The frame size decides where every channel's samples are: a wrong one would
	 * silently read one channel's audio as another's, so it must match. */
	size_t frame_bytes = (size_t)channels * bytes_per_sample;
	if (block_align != frame_bytes)
		return fail(err, err_len, -EBADMSG,
			    "WAV block align %u does not match %u channels of %u bytes",
			    block_align, channels, bytes_per_sample);

	unsigned n_out = channel == IVR_WAV_ALL ? channels : 1;
	unsigned first = channel >= 0 ? (unsigned)channel : 0;
	size_t n = pcm_len / frame_bytes;
	float *s = malloc((n ? n : 1) * n_out * sizeof(float));
	if (!s)
		return fail(err, err_len, -ENOMEM, "out of memory");
	for (unsigned c = 0; c < n_out; c++) {
		const uint8_t *p = pcm + (size_t)(first + c) * bytes_per_sample;
		float *d = s + (size_t)c * n;
		for (size_t i = 0; i < n; i++, p += frame_bytes)
			d[i] = sample_at(p, tag, bits);
	}

	if (target_rate_hz && target_rate_hz != rate) {
		int e = resample_planes(s, n, n_out, rate, target_rate_hz, &s, &n);
		if (e < 0)
			return fail(err, err_len, e, "cannot resample %u Hz to %u Hz: %s", rate,
				    target_rate_hz, ivr_strerror(e));
		rate = target_rate_hz;
	}
	out->samples = s;
	out->n_samples = n;
	out->rate_hz = rate;
	out->n_channels = (uint16_t)n_out;
	return 0;
}

int ivr_wav_parse(struct ivr_audio *out, const void *data, size_t n_bytes, uint32_t target_rate_hz,
		  char *err, size_t err_len)
{
	return ivr_wav_parse_channel(out, data, n_bytes, IVR_WAV_MONO, target_rate_hz, err,
				     err_len);
}

int ivr_wav_channel_parse(const char *s)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0' || errno || v >= IVR_WAV_MAX_CHANNELS)
		return -EINVAL;
	return (int)v;
}

int ivr_wav_read(struct ivr_audio *out, const char *path, uint32_t target_rate_hz, char *err,
		 size_t err_len)
{
	return ivr_wav_read_channel(out, path, IVR_WAV_MONO, target_rate_hz, err, err_len);
}

int ivr_wav_read_channel(struct ivr_audio *out, const char *path, int channel,
			 uint32_t target_rate_hz, char *err, size_t err_len)
{
	if (!out || !path)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		return fail(err, err_len, -e, "%s: %s", path, strerror(e));
	}
	void *buf;
	size_t len;
	int rc = ivr_read_all(f, SIZE_MAX, &buf, &len);
	fclose(f);
	if (rc == -ENOMEM)
		return fail(err, err_len, -ENOMEM, "%s: out of memory", path);
	if (rc < 0)
		return fail(err, err_len, -EIO, "%s: read error", path);
	char why[200] = "";
	int e = ivr_wav_parse_channel(out, buf, len, channel, target_rate_hz, why, sizeof(why));
	free(buf);
	if (e < 0)
		return fail(err, err_len, e, "%s: %s", path, why);
	return 0;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16(p + 2, (uint16_t)(v >> 16));
}

int ivr_wav_write(const char *path, const float *samples, size_t n_samples, uint32_t rate_hz,
		  enum ivr_wav_format format)
{
	const float *ch[1] = { samples };
	if (n_samples && !samples)
		return -EINVAL;
	return ivr_wav_write_channels(path, ch, 1, n_samples, rate_hz, format);
}

/* KSDATAFORMAT_SUBTYPE_* GUID tail shared by PCM, IEEE float, A-law and mu-law. */
static const uint8_t ksdataformat_tail[14] = { 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
					       0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 };

static unsigned format_bytes(enum ivr_wav_format format)
{
	switch (format) {
	case IVR_WAV_PCM16:
		return 2;
	case IVR_WAV_FLOAT32:
		return 4;
	case IVR_WAV_ULAW:
	case IVR_WAV_ALAW:
		return 1;
	default:
		return 0;
	}
}

int ivr_wav_header(uint8_t h[IVR_WAV_HEADER_MAX], unsigned n_channels, uint32_t rate_hz,
		   enum ivr_wav_format format, uint32_t data_len)
{
	const unsigned bps = format_bytes(format);
	if (!h || !bps || n_channels == 0 || n_channels > IVR_WAV_MAX_CHANNELS || rate_hz == 0 ||
	    (uint64_t)rate_hz * bps * n_channels > UINT32_MAX)
		return -EINVAL;
	const unsigned frame = bps * n_channels;
	/* The Microsoft WAVE spec asks for WAVE_FORMAT_EXTENSIBLE beyond two channels. */
	const bool ext = n_channels > 2;
	const uint32_t fmt_len = ext ? 40 : 16, hdr = 20 + fmt_len + 8;
	data_len = IVR_MIN(data_len, UINT32_MAX - hdr - 1);
	memcpy(h, "RIFF", 4);
	wr32(h + 4, hdr - 8 + data_len + (data_len & 1));
	memcpy(h + 8, "WAVEfmt ", 8);
	wr32(h + 16, fmt_len);
	wr16(h + 20, ext ? WAVE_FORMAT_EXTENSIBLE : (uint16_t)format);
	wr16(h + 22, (uint16_t)n_channels);
	wr32(h + 24, rate_hz);
	wr32(h + 28, rate_hz * frame);
	wr16(h + 32, (uint16_t)frame);
	wr16(h + 34, (uint16_t)(bps * 8));
	uint8_t *d = h + 36;
	if (ext) {
		wr16(d, 22);			  /* cbSize */
		wr16(d + 2, (uint16_t)(bps * 8)); /* valid bits */
		wr32(d + 4, 0);			  /* channel mask: not speaker positions */
		wr16(d + 8, (uint16_t)format);	  /* subformat GUID */
		memcpy(d + 10, ksdataformat_tail, sizeof(ksdataformat_tail));
		d += 24;
	}
	memcpy(d, "data", 4);
	wr32(d + 4, data_len);
	return (int)hdr;
}

int ivr_wav_write_channels(const char *path, const float *const *channels, unsigned n_channels,
			   size_t n_samples, uint32_t rate_hz, enum ivr_wav_format format)
{
	const unsigned bps = format_bytes(format);
	if (!bps || !path || (n_channels && !channels) || n_channels == 0 ||
	    n_channels > IVR_WAV_MAX_CHANNELS || rate_hz == 0 ||
	    n_samples > (UINT32_MAX - 128) / (bps * n_channels))
		return -EINVAL;
	const unsigned frame = bps * n_channels;
	uint32_t data_len = (uint32_t)(n_samples * frame);
	uint8_t h[IVR_WAV_HEADER_MAX];
	int hl = ivr_wav_header(h, n_channels, rate_hz, format, data_len);
	if (hl < 0)
		return hl;
	const size_t hdr = (size_t)hl;
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	int ok = fwrite(h, 1, hdr, f) == hdr;
	uint8_t chunk[4096];
	for (size_t i = 0; ok && i < n_samples;) {
		size_t k = 0;
		for (; i < n_samples && k + frame <= sizeof(chunk); i++) {
			for (unsigned c = 0; c < n_channels; c++, k += bps) {
				float x = channels[c] ? channels[c][i] : 0.0f;
				switch (format) {
				case IVR_WAV_PCM16:
					wr16(chunk + k, (uint16_t)ivr_f32_to_s16(x));
					break;
				case IVR_WAV_FLOAT32:
					memcpy(chunk + k, &x, 4);
					break;
				case IVR_WAV_ULAW:
					chunk[k] = ivr_g711_ulaw_encode(ivr_f32_to_s16(x));
					break;
				default:
					chunk[k] = ivr_g711_alaw_encode(ivr_f32_to_s16(x));
					break;
				}
			}
		}
		ok = fwrite(chunk, 1, k, f) == k;
	}
	if (ok && (data_len & 1))
		ok = fputc(0, f) != EOF;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -EIO;
}

void ivr_audio_free(struct ivr_audio *a)
{
	if (!a)
		return;
	free(a->samples);
	memset(a, 0, sizeof(*a));
}
