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

static void usage(FILE *f)
{
	fprintf(f, "usage: ivr-events --ring NAME [--from oldest|newest] [--count N] "
		   "[--timeout-ms N]\n");
}

int main(int argc, char **argv)
{
	struct ivr_cli_ring_opts ro;
	ivr_cli_ring_opts_init(&ro);
	static const struct option opts[] = {
		IVR_CLI_RING_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "r:f:n:t:h", opts, NULL)) != -1) {
		int taken = ivr_cli_ring_opt(&ro, "ivr-events", c, optarg);
		if (taken < 0)
			return 2;
		if (!taken)
			return ivr_cli_usage(usage, c);
	}
	if (!ro.ring || optind != argc)
		return ivr_cli_usage(usage, 0);

	struct ivr_shmring_reader r;
	int rc = ivr_shmring_reader_open(&r, ro.ring, ro.from);
	if (rc < 0) {
		fprintf(stderr, "ivr-events: %s\n", r.why);
		return 2;
	}
	/* The signal interrupts the futex wait (no SA_RESTART), so we exit promptly. */
	ivr_cli_on_stop_signals();

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
	while (!ivr_cli_stop && (ro.count < 0 || printed < ro.count)) {
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
			&r, ro.timeout_ms < 0 ? -1 : (int)IVR_MIN(ro.timeout_ms, INT_MAX));
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
