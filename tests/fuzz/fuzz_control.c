/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_control.c - control protocol request handler on arbitrary
 * lines.  The engine is not started (no threads, no sockets): every op must
 * come back as exactly one well-formed JSON reply line, never a crash.
 */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>

#include "engine/api.h"
#include "engine/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ivr_engine *eng;
static char reply[IVR_CONTROL_MAX_LINE];

static void done(void)
{
	ivr_engine_free(eng);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!eng) {
		struct ivr_engine_cfg cfg = { .max_calls = 2, .n_workers = 1 };
		eng = ivr_engine_new(&cfg);
		if (!eng)
			abort();
		atexit(done);
	}
	size_t n = ivr_control_handle(eng, (const char *)data, size, reply, sizeof(reply));
	if (n == 0 || reply[n - 1] != '\n' || memchr(reply, '\n', n - 1))
		abort();
	json_t *j = json_loadb(reply, n, 0, NULL);
	if (!j || !json_is_boolean(json_object_get(j, "ok")))
		abort();
	json_decref(j);
	return 0;
}
