/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-dtmf.c - print the DTMF digits in a WAV file.
 *
 * Contract (DESIGN.md section 2): `ivr-dtmf [--channel N] FILE` prints one line per
 * detected digit, `ONSET_MS DIGIT` (onset of the tone in ms from the start
 * of the file, rounded), in order.  Exit 0 on success (also when there are
 * no digits), 2 on bad usage or an unreadable file with a one-line reason
 * on stderr.  8 and 16 kHz files are analysed at their own rate; other
 * rates are resampled to 8000 Hz (libsamplerate, best quality).  The
 * detector is dsp/dtmf.h with its defaults, fed in 20 ms frames as the
 * engine does.  A multi-channel file (an engine recording) needs
 * --channel N (0-based); without it such a file is refused with a reason,
 * never downmixed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsp/dtmf.h"
#include "dsp/wav.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-dtmf [--channel N] FILE\n"
		   "Print the DTMF digits in the WAV FILE, one per line: ONSET_MS DIGIT.\n"
		   "FILE: WAV (PCM16/24/32, float, mu-law, A-law); 8000 and 16000 Hz are\n"
		   "analysed as they are, other rates are resampled to 8000 Hz.\n"
		   "--channel N: analyse channel N (0-based) of a multi-channel file, e.g. an\n"
		   "  engine recording (caller, engine, mixed in the order recorded); required\n"
		   "  when FILE is not mono.\n"
		   "Exit status: 0 success, 2 bad usage or unreadable file.\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	int channel = IVR_WAV_MONO, argi = 1;
	if (argc >= 2 && strcmp(argv[1], "--channel") == 0) {
		channel = argc >= 3 ? ivr_wav_channel_parse(argv[2]) : -EINVAL;
		if (channel < 0) {
			fprintf(stderr,
				"ivr-dtmf: --channel expects a channel number from 0 to %d\n",
				IVR_WAV_MAX_CHANNELS - 1);
			return 2;
		}
		argi = 3;
	}
	if (argc != argi + 1 || argv[argi][0] == '\0' ||
	    (argv[argi][0] == '-' && argv[argi][1] != '\0')) {
		fprintf(stderr, "ivr-dtmf: expected exactly one FILE argument (try --help)\n");
		return 2;
	}
	const char *path = argv[argi];
	struct ivr_audio a;
	char err[256] = "";
	int r = ivr_wav_read_channel(&a, path, channel, 0, err, sizeof(err));
	if (r == 0 && a.rate_hz != 8000 && a.rate_hz != 16000) {
		ivr_audio_free(&a);
		r = ivr_wav_read_channel(&a, path, channel, 8000, err, sizeof(err));
	}
	if (r < 0) {
		/* ivr_wav_read's reason already names the file */
		if (err[0])
			fprintf(stderr, "ivr-dtmf: %s%s\n", err,
				r == -ENOTSUP && channel == IVR_WAV_MONO && strstr(err, "only mono")
					? " (pick one with --channel N)"
					: "");
		else
			fprintf(stderr, "ivr-dtmf: %s: %s\n", path, ivr_strerror(r));
		return 2;
	}
	struct ivr_dtmf_cfg cfg = { .rate_hz = a.rate_hz };
	struct ivr_dtmf_rx *rx = ivr_dtmf_rx_new(&cfg);
	if (!rx) {
		fprintf(stderr, "ivr-dtmf: %s: cannot create detector: %s\n", path,
			ivr_strerror(-errno));
		ivr_audio_free(&a);
		return 2;
	}
	size_t frame = a.rate_hz / 50;
	struct ivr_dtmf_event ev[16];
	for (size_t pos = 0; pos < a.n_samples; pos += frame) {
		size_t n = IVR_MIN(frame, a.n_samples - pos);
		int k = ivr_dtmf_rx_process(rx, a.samples + pos, n, ev, IVR_N_ELEMENTS(ev));
		for (int i = 0; i < k; i++) {
			if (ev[i].type != IVR_DTMF_EV_START)
				continue;
			unsigned long long ms =
				(ev[i].onset_sample * 1000ull + a.rate_hz / 2) / a.rate_hz;
			printf("%llu %c\n", ms, ev[i].digit);
		}
	}
	ivr_dtmf_rx_free(rx);
	ivr_audio_free(&a);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "ivr-dtmf: cannot write output\n");
		return 2;
	}
	return 0;
}
