/* SPDX-License-Identifier: MIT */
/*
 * common/cli.h - number parsing and stop-signal set-up for the command-line tools
 * (ivr-engine, ivr-events, ivr-router).
 *
 * Header-only, like the rest of common/.  Each tool used to carry its own strtoul/strtoll
 * check; they live here once so every tool rejects the same inputs.  The callers keep
 * their own one-line error message and exit status (2 = bad usage), because the wording
 * names the tool and the option.
 * Thread: any (no state).
 */
#ifndef IVR_COMMON_CLI_H
#define IVR_COMMON_CLI_H

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

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

/**
 * Route SIGINT and SIGTERM to @handler (which should only set a volatile sig_atomic_t).
 * No SA_RESTART: the signal interrupts a blocking wait (futex, poll, sleep) so the tool
 * notices the flag and exits promptly.
 * @return nothing. Thread: main, before any other thread starts.
 */
static inline void ivr_cli_on_stop_signals(void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

#endif /* IVR_COMMON_CLI_H */
