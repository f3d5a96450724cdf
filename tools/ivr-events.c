/* SPDX-License-Identifier: MIT */
/*
 * tools/ivr-events.c - print the engine's event ring as JSON lines (DESIGN.md section 3).
 *
 *   ivr-events --ring NAME [--from oldest|newest] [--count N] [--timeout-ms N]
 *
 * NAME is a POSIX shm object (/dev/shm/NAME) or, if it contains '/', a file path.  Each
 * record becomes one JSON object per line; records overwritten before this reader got to
 * them are reported as {"type":"lost","count":N,"worker":W} in their place.  The reader
 * sleeps on the ring's futex between records (no spinning).  --count stops after N
 * records, --timeout-ms after N ms without a record.
 * Exit: 0 done, 2 missing/foreign/other-version ring or bad usage, 1 output error.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cli.h"
#include "common/shmring.h"
#include "engine/events.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-events --ring NAME [--from oldest|newest] [--count N] "
		   "[--timeout-ms N]\n");
}

int main(int argc, char **argv)
{
	const char *ring = NULL;
	enum ivr_shmring_from from = IVR_SHMRING_FROM_NEWEST;
	long long count = -1, timeout_ms = -1;
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "from", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "r:f:n:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ring = optarg;
			break;
		case 'f':
			if (ivr_shmring_from_parse(optarg, &from) < 0) {
				fprintf(stderr, "ivr-events: --from must be oldest or newest\n");
				return 2;
			}
			break;
		case 'n':
		case 't': {
			long long v;
			if (ivr_cli_parse_count(optarg, &v) < 0) {
				fprintf(stderr, "ivr-events: --%s needs a number >= 0\n",
					c == 'n' ? "count" : "timeout-ms");
				return 2;
			}
			if (c == 'n')
				count = v;
			else
				timeout_ms = v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!ring || optind != argc) {
		usage(stderr);
		return 2;
	}

	struct ivr_shmring_reader r;
	int rc = ivr_shmring_reader_open(&r, ring, from);
	if (rc < 0) {
		fprintf(stderr, "ivr-events: %s\n", r.why);
		return 2;
	}
	/* The signal interrupts the futex wait (no SA_RESTART), so we exit promptly. */
	ivr_cli_on_stop_signals(on_signal);

	size_t cap = ivr_shmring_reader_max_record(&r);
	unsigned char *buf = malloc(cap);
	size_t jcap = cap * 6 + 4096; /* worst case: every byte escaped as \u00XX */
	char *js = malloc(jcap);
	if (!buf || !js) {
		fprintf(stderr, "ivr-events: out of memory\n");
		return 1;
	}
	long long printed = 0;
	int status = 0;
	struct ivr_shmring_rec rec;
	while (!stop && (count < 0 || printed < count)) {
		rc = ivr_shmring_read(&r, &rec, buf, cap);
		if (rc == 1) {
			(void)ivr_event_print(stdout, &rec, buf, js, jcap);
			printed++;
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "ivr-events: read: %s\n", ivr_strerror(rc));
			status = 1;
			break;
		}
		/* Caught up: flush what we printed before sleeping. */
		if (fflush(stdout) != 0) {
			status = 1;
			break;
		}
		rc = ivr_shmring_reader_wait(
			&r, timeout_ms < 0 ? -1 : (int)IVR_MIN(timeout_ms, INT_MAX));
		if (rc == -ETIMEDOUT)
			break;
	}
	if (fflush(stdout) != 0)
		status = 1;
	free(js);
	free(buf);
	ivr_shmring_reader_close(&r);
	return status;
}
