/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-aec.c - remove the echo of FAR from NEAR (DESIGN.md section 2).
 *
 *   ivr-aec --far FAR.wav --near NEAR.wav --out OUT.wav [--tail-ms N] [--delay-ms N]
 *           [--far-channel N] [--near-channel N]
 *
 * FAR is what the engine sent (the prompt), NEAR the caller's audio with the
 * echo of FAR plus the caller's voice; OUT is NEAR with the echo removed, at
 * NEAR's rate and length (PCM16).  8000 and 16000 Hz are processed as they
 * are; other rates are resampled to 16000 Hz (8000 Hz when both files are at
 * or below it) and OUT is resampled back to NEAR's rate.  A FAR shorter than
 * NEAR is padded with silence.  Multi-channel inputs (an engine recording
 * holds caller and engine side by side) need --far-channel / --near-channel
 * (0-based); without them such a file is refused, never downmixed.  Exit 0
 * on success, 2 with a one-line reason on bad usage or input.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp/aec.h"
#include "dsp/resample.h"
#include "dsp/wav.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ivr-aec --far FAR.wav --near NEAR.wav --out OUT.wav [--tail-ms N] "
		"[--delay-ms N]\n"
		"  Removes the echo of FAR (what was sent) from NEAR (what came back).\n"
		"  --tail-ms N   echo canceller filter length (default 128, max %d)\n"
		"  --delay-ms N  bulk delay of the echo path taken out before the filter "
		"(default 0, max %d)\n"
		"  --far-channel N, --near-channel N  channel (0-based) of a multi-channel input,\n"
		"                required when that input is not mono (an engine recording made\n"
		"                with all channels: 0 caller = NEAR, 1 engine = FAR)\n"
		"  Input: WAV, PCM16/mu-law/A-law/float; OUT: PCM16 at NEAR's rate "
		"and length.\n",
		IVR_AEC_MAX_TAIL_MS, IVR_AEC_MAX_DELAY_MS);
}

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "ivr-aec: %s: %s\n", what, why);
	return 2;
}

/* A multi-channel file read without a selector: say which option picks one. */
static const char *with_hint(char *err, size_t len, int channel, const char *opt)
{
	size_t n = strlen(err);
	if (channel == IVR_WAV_MONO && strstr(err, "only mono") && n < len)
		snprintf(err + n, len - n, " (pick one with %s N)", opt);
	return err;
}

static int parse_ms(const char *s, long max, uint32_t *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "far", required_argument, NULL, 'f' },
		{ "near", required_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ "tail-ms", required_argument, NULL, 't' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "far-channel", required_argument, NULL, 'F' },
		{ "near-channel", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *far_path = NULL, *near_path = NULL, *out_path = NULL;
	struct ivr_aec_cfg cfg = { 0 };
	int far_ch = IVR_WAV_MONO, near_ch = IVR_WAV_MONO;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			far_path = optarg;
			break;
		case 'n':
			near_path = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 't':
			if (parse_ms(optarg, IVR_AEC_MAX_TAIL_MS, &cfg.tail_ms) < 0 ||
			    cfg.tail_ms < 20)
				return fail("--tail-ms", "expects 20 to 500");
			break;
		case 'd':
			if (parse_ms(optarg, IVR_AEC_MAX_DELAY_MS, &cfg.bulk_delay_ms) < 0)
				return fail("--delay-ms", "expects 0 to 1000");
			break;
		case 'F':
		case 'N':
			*(c == 'F' ? &far_ch : &near_ch) = ivr_wav_channel_parse(optarg);
			if ((c == 'F' ? far_ch : near_ch) < 0)
				return fail(c == 'F' ? "--far-channel" : "--near-channel",
					    "expects a channel number from 0");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return fail(argv[optind - 1] ? argv[optind - 1] : "option",
				    "unknown option or missing value (see --help)");
		}
	}
	if (optind < argc)
		return fail(argv[optind], "unexpected argument (see --help)");
	if (!far_path || !near_path || !out_path)
		return fail("usage", "--far, --near and --out are required (see --help)");

	char err[160];
	struct ivr_audio far = { 0 }, near = { 0 };
	/* ivr_wav_read's reason already names the file. */
	if (ivr_wav_read_channel(&near, near_path, near_ch, 0, err, sizeof(err)) < 0)
		return fail("--near", with_hint(err, sizeof(err), near_ch, "--near-channel"));
	if (ivr_wav_read_channel(&far, far_path, far_ch, 0, err, sizeof(err)) < 0) {
		ivr_audio_free(&near);
		return fail("--far", with_hint(err, sizeof(err), far_ch, "--far-channel"));
	}
	/* Work rate: the files' own when both are 8 or 16 kHz and equal, else resample. */
	uint32_t rate = near.rate_hz;
	if (far.rate_hz != near.rate_hz || (rate != 8000 && rate != 16000))
		rate = (far.rate_hz <= 8000 && near.rate_hz <= 8000) ? 8000 : 16000;
	const uint32_t near_rate = near.rate_hz;
	const size_t near_len = near.n_samples;
	int ret = 2;
	float *x = NULL, *y = NULL, *ref = NULL, *out = NULL;
	size_t nx = near.n_samples, ny = far.n_samples;
	if (near.rate_hz != rate) {
		if (ivr_resample_buffer(near.samples, near.n_samples, near.rate_hz, &x, &nx, rate) <
		    0) {
			fail(near_path, "cannot resample");
			goto out;
		}
	}
	if (far.rate_hz != rate) {
		if (ivr_resample_buffer(far.samples, far.n_samples, far.rate_hz, &y, &ny, rate) <
		    0) {
			fail(far_path, "cannot resample");
			goto out;
		}
	}
	const float *nearp = x ? x : near.samples, *farp = y ? y : far.samples;
	cfg.rate_hz = rate;
	struct ivr_aec *aec = ivr_aec_new(&cfg);
	if (!aec) {
		fail("ivr-aec", ivr_strerror(-errno));
		goto out;
	}
	const size_t frame = ivr_aec_frame_samples(aec);
	const size_t padded = (nx + frame - 1) / frame * frame;
	ref = calloc(padded ? padded : 1, sizeof(float));
	out = calloc(padded ? padded : 1, sizeof(float));
	float *in = calloc(padded ? padded : 1, sizeof(float));
	if (!ref || !out || !in) {
		free(in);
		ivr_aec_free(aec);
		fail("ivr-aec", "out of memory");
		goto out;
	}
	memcpy(in, nearp, nx * sizeof(float));
	memcpy(ref, farp, IVR_MIN(nx, ny) * sizeof(float));
	int r = ivr_aec_process(aec, in, ref, out, padded);
	free(in);
	ivr_aec_free(aec);
	if (r < 0) {
		fail("ivr-aec", ivr_strerror(r));
		goto out;
	}
	float *result = out;
	size_t nres = nx;
	float *back = NULL;
	if (rate != near_rate) {
		if (ivr_resample_buffer(out, nx, rate, &back, &nres, near_rate) < 0) {
			fail(out_path, "cannot resample the result");
			goto out;
		}
		result = back;
	}
	/* Same length as NEAR: resampling can be off by a sample or two. */
	float *final = calloc(near_len ? near_len : 1, sizeof(float));
	if (!final) {
		free(back);
		fail("ivr-aec", "out of memory");
		goto out;
	}
	memcpy(final, result, IVR_MIN(nres, near_len) * sizeof(float));
	free(back);
	r = ivr_wav_write(out_path, final, near_len, near_rate, IVR_WAV_PCM16);
	free(final);
	if (r < 0) {
		fail(out_path, ivr_strerror(r));
		goto out;
	}
	ret = 0;
out:
	free(x);
	free(y);
	free(ref);
	free(out);
	ivr_audio_free(&far);
	ivr_audio_free(&near);
	return ret;
}
