/* SPDX-License-Identifier: MIT */
/*
 * common/cli.h - number parsing, usage exits, stop-signal set-up and the event-ring
 * reader options shared by the command-line tools (ivr-engine, ivr-events, ivr-router,
 * ivr-load, ivr-demo).
 *
 * Header-only, like the rest of common/.  Each tool used to carry its own strtoul/strtoll
 * check, its own SIGINT/SIGTERM flag and its own --help/bad-option exit; they live here
 * once so every tool rejects the same inputs and exits the same way (0 for --help, 2 for
 * bad usage).  Callers keep their own one-line error messages where the wording names
 * the tool and the option.
 * Thread: main (the stop flag is the only state: one per tool, each tool is one .c file).
 */
#ifndef IVR_COMMON_CLI_H
#define IVR_COMMON_CLI_H

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/shmring.h"

/**
 * Parse a decimal unsigned number in [0, max]: no sign, no empty string, no trailing text.
 * @return 0 and *out set, or -1 (and *out untouched) if @s is not such a number.
 */
static inline int ivr_cli_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

/**
 * ivr_cli_parse_uint() for option --@opt of @tool with a range [@min, @max]; on a bad value
 * print "@tool: bad --@opt 'ARG' (MIN..MAX)" to stderr.
 * @return 0 and *out set, or -1 (exit 2). Thread: main.
 */
static inline int ivr_cli_uint_opt(const char *tool, const char *opt, const char *arg,
				   unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	if (ivr_cli_parse_uint(arg, max, &v) == 0 && v >= min) {
		*out = v;
		return 0;
	}
	fprintf(stderr, "%s: bad --%s '%s' (%lu..%lu)\n", tool, opt, arg, min, max);
	return -1;
}

/**
 * Parse a decimal count >= 0 (a record count, a time in ms or s): not empty, no trailing
 * text, not negative.
 * @return 0 and *out set, or -1 (and *out untouched) if @s is not such a number.
 */
static inline int ivr_cli_parse_count(const char *s, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s == 0 || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* Set to 1 by SIGINT/SIGTERM once ivr_cli_on_stop_signals() ran; the tool's loops poll it. */
static volatile sig_atomic_t ivr_cli_stop;

static inline void ivr_cli_stop_handler_(int sig)
{
	(void)sig;
	ivr_cli_stop = 1;
}

/**
 * Route SIGINT and SIGTERM to a handler that sets ivr_cli_stop.
 * No SA_RESTART: the signal interrupts a blocking wait (futex, poll, sleep) so the tool
 * notices the flag and exits promptly.
 * @return nothing. Thread: main, before any other thread starts.
 */
static inline void ivr_cli_on_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = ivr_cli_stop_handler_ };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/**
 * End option parsing with the usage text: for @opt 'h' (--help) on stdout, for anything
 * else (an unknown option, a missing or extra argument) on stderr.
 * @return the exit status: 0 for --help, 2 for bad usage. Thread: main.
 */
static inline int ivr_cli_usage(void (*usage)(FILE *f), int opt)
{
	usage(opt == 'h' ? stdout : stderr);
	return opt == 'h' ? 0 : 2;
}

/* The event-ring reader options of ivr-events and ivr-router (DESIGN.md section 2). */
struct ivr_cli_ring_opts {
	const char *ring;	    /* --ring NAME (required) */
	enum ivr_shmring_from from; /* --from oldest|newest */
	long long count;	    /* --count N records; -1 = unlimited */
	long long timeout_ms;	    /* --timeout-ms N without a record; -1 = wait forever */
};

/* getopt_long() entries for struct ivr_cli_ring_opts; short options "r:f:n:t:". */
/* clang-format off */
#define IVR_CLI_RING_OPTIONS                                                                       \
	{ "ring", required_argument, NULL, 'r' },                                                  \
	{ "from", required_argument, NULL, 'f' },                                                  \
	{ "count", required_argument, NULL, 'n' },                                                 \
	{ "timeout-ms", required_argument, NULL, 't' }
/* clang-format on */

/**
 * Defaults for struct ivr_cli_ring_opts: no ring, from the newest record, no count or
 * time limit.
 * @return nothing. Thread: main.
 */
static inline void ivr_cli_ring_opts_init(struct ivr_cli_ring_opts *ro)
{
	*ro = (struct ivr_cli_ring_opts){ .from = IVR_SHMRING_FROM_NEWEST,
					  .count = -1,
					  .timeout_ms = -1 };
}

/**
 * Take getopt's option @opt with argument @arg if it is one of IVR_CLI_RING_OPTIONS; on a
 * bad value print "@tool: ..." to stderr.
 * @return 1 taken, 0 not a ring option, -1 bad value (exit 2). Thread: main.
 */
static inline int ivr_cli_ring_opt(struct ivr_cli_ring_opts *ro, const char *tool, int opt,
				   const char *arg)
{
	switch (opt) {
	case 'r':
		ro->ring = arg;
		return 1;
	case 'f':
		if (ivr_shmring_from_parse(arg, &ro->from) < 0) {
			fprintf(stderr, "%s: --from must be oldest or newest\n", tool);
			return -1;
		}
		return 1;
	case 'n':
	case 't':
		if (ivr_cli_parse_count(arg, opt == 'n' ? &ro->count : &ro->timeout_ms) < 0) {
			fprintf(stderr, "%s: --%s needs a number >= 0\n", tool,
				opt == 'n' ? "count" : "timeout-ms");
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

#endif /* IVR_COMMON_CLI_H */
