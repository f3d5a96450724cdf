/* SPDX-License-Identifier: MIT */
/*
 * engine/ivr-engine.c - the media engine daemon: a thin main over libivr
 * (engine/api.h) and the JSON-lines control server (engine/control.h).
 * Runs until SIGINT/SIGTERM.  Exit 0 on a clean stop, 2 on bad usage,
 * 1 when the engine cannot start.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cli.h"
#include "engine/api.h"
#include "engine/control.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ivr-engine --control PATH|HOST:PORT [options]\n"
		"  --control EP      control endpoint: Unix socket path or 127.0.0.1:PORT\n"
		"  --ports A-B       RTP port range (even ports are used; default 20000-39999)\n"
		"  --bind ADDR       IPv4 address for RTP sockets (default 0.0.0.0)\n"
		"  --workers N       media threads (default: one per CPU)\n"
		"  --max-calls N     call slots (default %d)\n"
		"  --ring NAME       event ring name (for the router)\n"
		"  --force-epoll     use the epoll fallback instead of io_uring\n"
		"  --flows DIR       IVR flows (DIR/NAME.yaml): calls created with flow NAME run "
		"it\n"
		"  --asr-threads N   speech recognition threads for flows (default: one per "
		"worker)\n"
		"  --prompt-cache DIR  where prompt_text is rendered (default: build tree)\n"
		"  --moh FILE        queue music on hold WAV (default: a synthesized melody;\n"
		"                    \"\" = none)\n"
		"  --help            this text\n",
		IVR_MAX_CALLS);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "ports", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "workers", required_argument, NULL, 'w' },
		{ "max-calls", required_argument, NULL, 'm' },
		{ "ring", required_argument, NULL, 'r' },
		{ "force-epoll", no_argument, NULL, 'e' },
		{ "flows", required_argument, NULL, 'f' },
		{ "asr-threads", required_argument, NULL, 'a' },
		{ "prompt-cache", required_argument, NULL, 'P' },
		{ "moh", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ivr_engine_cfg cfg = { 0 };
	const char *control = NULL;
	int c;
	unsigned long v;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			control = optarg;
			break;
		case 'p': {
			unsigned long a, b;
			char buf[64];
			snprintf(buf, sizeof(buf), "%s", optarg);
			char *dash = strchr(buf, '-');
			if (!dash) {
				fprintf(stderr, "ivr-engine: --ports wants A-B, got '%s'\n",
					optarg);
				return 2;
			}
			*dash = 0;
			if (ivr_cli_parse_uint(buf, 65535, &a) < 0 ||
			    ivr_cli_parse_uint(dash + 1, 65535, &b) < 0 || a < 1024 || a > b) {
				fprintf(stderr,
					"ivr-engine: bad --ports '%s' (1024 <= A <= B <= 65535)\n",
					optarg);
				return 2;
			}
			cfg.port_min = (uint16_t)a;
			cfg.port_max = (uint16_t)b;
			break;
		}
		case 'b':
			cfg.bind_addr = optarg;
			break;
		case 'w':
			if (ivr_cli_uint_opt("ivr-engine", "workers", optarg, 1, 256, &v) < 0)
				return 2;
			cfg.n_workers = (unsigned)v;
			break;
		case 'm':
			if (ivr_cli_uint_opt("ivr-engine", "max-calls", optarg, 1, (1ul << 24) - 1,
					     &v) < 0)
				return 2;
			cfg.max_calls = (uint32_t)v;
			break;
		case 'r':
			cfg.ring_name = optarg;
			break;
		case 'e':
			cfg.force_epoll = true;
			break;
		case 'f':
			cfg.flows_dir = optarg;
			break;
		case 'a':
			if (ivr_cli_uint_opt("ivr-engine", "asr-threads", optarg, 1, 64, &v) < 0)
				return 2;
			cfg.asr_threads = (unsigned)v;
			break;
		case 'P':
			cfg.prompt_cache_dir = optarg;
			break;
		case 'M':
			cfg.moh_file = optarg;
			break;
		default:
			return ivr_cli_usage(usage, c);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ivr-engine: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!control) {
		fprintf(stderr, "ivr-engine: --control is required\n");
		return 2;
	}
	/* Two sockets per call: lift the soft descriptor limit to the hard one. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct ivr_engine *e = ivr_engine_new(&cfg);
	if (!e) {
		fprintf(stderr, "ivr-engine: %s\n", ivr_engine_last_error());
		return 2;
	}
	if (ivr_engine_start(e) < 0) {
		fprintf(stderr, "ivr-engine: %s\n", ivr_engine_last_error());
		ivr_engine_free(e);
		return 1;
	}
	char err[256];
	struct ivr_control *ctl = ivr_control_start(e, control, err, sizeof(err));
	if (!ctl) {
		fprintf(stderr, "ivr-engine: %s\n", err);
		ivr_engine_free(e);
		return 1;
	}
	ivr_cli_on_stop_signals();
	signal(SIGPIPE, SIG_IGN);
	struct ivr_engine_stats st;
	ivr_engine_get_stats(e, &st);
	if (ivr_control_port(ctl))
		fprintf(stderr, "ivr-engine: control on port %u, ", ivr_control_port(ctl));
	else
		fprintf(stderr, "ivr-engine: control on %s, ", control);
	fprintf(stderr, "io=%s workers=%u max_calls=%u slot=%zu bytes\n", ivr_engine_io_backend(e),
		st.n_workers, st.max_calls, st.slot_bytes);
	while (!ivr_cli_stop)
		pause();
	ivr_control_stop(ctl);
	ivr_engine_free(e);
	return 0;
}
