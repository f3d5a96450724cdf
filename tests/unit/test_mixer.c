/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_mixer.c - conference mixing on the ports directly: N-1
 * sums, listen/speak/whisper flags, stale frames ignored, limits and bad
 * arguments.
 */
#include "config.h"

#include <stdlib.h>

#include "engine/mixer.h"
#include "ivr_test.h"

#define SLOTS 40
static struct ivr_mix_port *ports;

static struct ivr_mixer *setup(void)
{
	ports = aligned_alloc(64, sizeof(*ports) * SLOTS);
	memset(ports, 0, sizeof(*ports) * SLOTS);
	struct ivr_mixer *m = ivr_mixer_new(2);
	ivr_mixer_set_ports(m, ports, sizeof(*ports), SLOTS);
	return m;
}

/* Each slot s publishes a constant frame of value (s + 1) / 100. */
static void publish_all(uint64_t tick, int n)
{
	float f[160];
	for (int s = 0; s < n; s++) {
		for (int i = 0; i < 160; i++)
			f[i] = (float)(s + 1) / 100.0f;
		ivr_mix_port_publish(&ports[s], tick, f, 160);
	}
}

static float heard(struct ivr_mixer *m, uint32_t slot, uint64_t tick, int *n)
{
	float acc[160] = { 0 };
	*n = ivr_mixer_mix(m, slot, tick, acc, 160);
	return acc[77];
}

IVR_TEST(test_n_minus_one_and_flags)
{
	struct ivr_mixer *m = setup();
	for (uint32_t s = 0; s < 4; s++)
		ivr_check_int_eq(ivr_mixer_join(m, "a", s, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_count(m, "a"), 4);
	publish_all(10, 4);
	int n;
	/* slot 0 hears 2+3+4 hundredths */
	ivr_check_near(heard(m, 0, 10, &n), 0.09, 1e-6);
	ivr_check_int_eq(n, 3);
	ivr_check_near(heard(m, 3, 10, &n), 0.06, 1e-6);
	/* slot 3 whispers to slot 1 */
	ivr_check_int_eq(ivr_mixer_flags(m, 3, true, true, 1), 0);
	ivr_check_near(heard(m, 0, 10, &n), 0.05, 1e-6);
	ivr_check_near(heard(m, 1, 10, &n), 0.08, 1e-6);
	/* slot 3 monitors */
	ivr_check_int_eq(ivr_mixer_flags(m, 3, true, false, -1), 0);
	ivr_check_near(heard(m, 1, 10, &n), 0.04, 1e-6);
	ivr_check_near(heard(m, 3, 10, &n), 0.06, 1e-6);
	/* slot 2 deafened */
	ivr_check_int_eq(ivr_mixer_flags(m, 2, false, true, -1), 0);
	ivr_check_near(heard(m, 2, 10, &n), 0, 1e-9);
	/* frames older than 2 ticks are not mixed: a member that stopped running */
	ivr_check_near(heard(m, 0, 13, &n), 0, 1e-9);
	ivr_check_near(heard(m, 0, 11, &n), 0.05, 1e-6);
	/* leaving */
	ivr_check_int_eq(ivr_mixer_leave(m, 1), 0);
	ivr_check_int_eq(ivr_mixer_leave(m, 1), -ENOENT);
	ivr_check_near(heard(m, 0, 10, &n), 0.03, 1e-6);
	ivr_check_near(heard(m, 1, 10, &n), 0, 1e-9);
	ivr_mixer_free(m);
	free(ports);
	return IVR_TEST_RESULT();
}

IVR_TEST(test_limits)
{
	struct ivr_mixer *m = setup();
	ivr_check_int_eq(ivr_mixer_join(m, "", 0, true, true, -1), -EINVAL);
	ivr_check_int_eq(ivr_mixer_join(m, "a", SLOTS, true, true, -1), -EINVAL);
	ivr_check_int_eq(ivr_mixer_join(m, "a", 0, true, true, SLOTS), -EINVAL);
	ivr_check_int_eq(ivr_mixer_flags(m, 5, true, true, -1), -ENOENT);
	ivr_check_int_eq(ivr_mixer_join(m, "a", 0, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_join(m, "b", 1, true, true, -1), 0);
	/* only 2 conferences in this table */
	ivr_check_int_eq(ivr_mixer_join(m, "c", 2, true, true, -1), -ENOSPC);
	/* a conference holds IVR_CONF_MAX_MEMBERS */
	for (uint32_t s = 2; s < 2 + IVR_CONF_MAX_MEMBERS - 1; s++)
		ivr_check_int_eq(ivr_mixer_join(m, "a", s, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_join(m, "a", 39, true, true, -1), -ENOSPC);
	/* moving to another conference leaves the first */
	ivr_check_int_eq(ivr_mixer_join(m, "b", 0, true, true, -1), 0);
	ivr_check_int_eq(ivr_mixer_count(m, "a"), IVR_CONF_MAX_MEMBERS - 1);
	ivr_check_int_eq(ivr_mixer_count(m, "b"), 2);
	ivr_check_int_eq(ivr_mixer_count(m, "zz"), -ENOENT);
	ivr_mixer_free(m);
	free(ports);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(test_n_minus_one_and_flags);
	ivr_test_run(test_limits);
	return ivr_test_summary();
}
