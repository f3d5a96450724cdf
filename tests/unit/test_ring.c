/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_ring.c - common/ring.h: geometry checks, FIFO order across index
 * wrap-around, -ENOSPC with exact drop counts, zero-copy reads, and a producer/consumer
 * thread pair moving a checksummed sequence (run under TSan in CI: suite 'ring').
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "common/ring.h"
#include "ivr_test.h"

struct rec {
	uint64_t seq;
	uint64_t check;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static struct ivr_ring *ring_new(uint32_t n, uint32_t sz)
{
	size_t bytes = ivr_ring_size(n, sz);
	if (!bytes)
		return NULL;
	struct ivr_ring *r = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(bytes, IVR_ALIGN));
	if (r && ivr_ring_init(r, bytes, n, sz) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

IVR_TEST(geometry)
{
	ivr_check_int_eq(ivr_ring_size(0, 16), 0);
	ivr_check_int_eq(ivr_ring_size(1, 16), 0);
	ivr_check_int_eq(ivr_ring_size(3, 16), 0);
	ivr_check_int_eq(ivr_ring_size(8, 24), 0);
	ivr_check_int_eq(ivr_ring_size(8, 0), 0);
	ivr_check(ivr_ring_size(8, 16) >= 8 * 16 + sizeof(struct ivr_ring));
	size_t bytes = ivr_ring_size(8, 16);
	struct ivr_ring *r = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(bytes, IVR_ALIGN));
	ivr_check_int_eq(ivr_ring_init(r, bytes - 1, 8, 16), -EINVAL);
	ivr_check_int_eq(ivr_ring_init(NULL, bytes, 8, 16), -EINVAL);
	ivr_check_int_eq(ivr_ring_init((struct ivr_ring *)((char *)r + 8), bytes, 8, 16), -EINVAL);
	ivr_check_int_eq(ivr_ring_init(r, bytes, 8, 16), 0);
	free(r);
	return IVR_TEST_RESULT();
}

IVR_TEST(fifo_full_and_wrap)
{
	struct ivr_ring *r = ring_new(8, sizeof(struct rec));
	ivr_check(r != NULL);
	struct rec in, out;
	uint64_t next_in = 0, next_out = 0, refused = 0;
	/* Many rounds of uneven push/pop bursts walk the indices around the ring many
	 * times; order must hold and exactly the refused pushes must count as drops. */
	for (int round = 0; round < 1000; round++) {
		int n_push = 1 + (int)(mix((uint64_t)round) % 11);
		for (int i = 0; i < n_push; i++) {
			in.seq = next_in;
			in.check = mix(next_in);
			if (ivr_ring_push(r, &in) == 0)
				next_in++;
			else
				refused++;
		}
		ivr_check(ivr_ring_count(r) <= 8);
		int n_pop = (int)(mix((uint64_t)round + 7) % 9);
		for (int i = 0; i < n_pop; i++) {
			if (ivr_ring_pop(r, &out) != 0)
				break;
			ivr_check_int_eq(out.seq, next_out);
			ivr_check_int_eq(out.check, mix(next_out));
			next_out++;
		}
	}
	ivr_check(refused > 0);
	ivr_check_int_eq(ivr_ring_drops(r), refused);
	while (ivr_ring_pop(r, &out) == 0) {
		ivr_check_int_eq(out.seq, next_out);
		next_out++;
	}
	ivr_check_int_eq(next_out, next_in);
	ivr_check_int_eq(ivr_ring_pop(r, &out), -EAGAIN);
	ivr_check_int_eq(ivr_ring_count(r), 0);

	/* Exactly capacity fits; the next is refused. */
	for (int i = 0; i < 8; i++)
		ivr_check_int_eq(ivr_ring_push(r, &in), 0);
	ivr_check_int_eq(ivr_ring_push(r, &in), -ENOSPC);
	ivr_ring_reset(r);
	ivr_check_int_eq(ivr_ring_count(r), 0);
	ivr_check_int_eq(ivr_ring_drops(r), 0);
	free(r);
	return IVR_TEST_RESULT();
}

IVR_TEST(index_wrap_2_32)
{
	/* Start the free-running indices just below 2^32 so they overflow mid-test. */
	struct ivr_ring *r = ring_new(4, 8);
	r->head = r->tail = r->tail_cache = r->head_cache = UINT32_MAX - 5;
	uint64_t v, got;
	for (uint64_t i = 0; i < 40; i++) {
		v = i;
		ivr_check_int_eq(ivr_ring_push(r, &v), 0);
		if (i % 3 == 2) {
			ivr_check_int_eq(ivr_ring_push(r, &v), 0);
			ivr_check_int_eq(ivr_ring_pop(r, &got), 0);
		}
		ivr_check_int_eq(ivr_ring_pop(r, &got), 0);
	}
	ivr_check(r->head < 100);
	free(r);
	return IVR_TEST_RESULT();
}

IVR_TEST(zero_copy_read)
{
	struct ivr_ring *r = ring_new(4, 16);
	ivr_check(ivr_ring_read_ptr(r) == NULL);
	char a[16] = "hello", b[16] = "world";
	ivr_check_int_eq(ivr_ring_push(r, a), 0);
	ivr_check_int_eq(ivr_ring_push(r, b), 0);
	const char *p = ivr_ring_read_ptr(r);
	ivr_check(p && strcmp(p, "hello") == 0);
	/* Reading again without advancing gives the same record. */
	ivr_check(ivr_ring_read_ptr(r) == p);
	ivr_ring_read_advance(r);
	p = ivr_ring_read_ptr(r);
	ivr_check(p && strcmp(p, "world") == 0);
	ivr_ring_read_advance(r);
	ivr_check(ivr_ring_read_ptr(r) == NULL);
	free(r);
	return IVR_TEST_RESULT();
}

#define N_THREADED 1000000u

struct thr_arg {
	struct ivr_ring *r;
	uint64_t pushed, errors, received;
};

static void *producer(void *p)
{
	struct thr_arg *a = p;
	struct rec in;
	uint64_t seq = 0;
	while (seq < N_THREADED) {
		in.seq = seq;
		in.check = mix(seq);
		if (ivr_ring_push(a->r, &in) == 0)
			seq++; /* retry refused records: the test wants all of them delivered */
		else
			sched_yield(); /* 2 shared cores: let the consumer drain */
	}
	a->pushed = seq;
	return NULL;
}

static void *consumer(void *p)
{
	struct thr_arg *a = p;
	struct rec out;
	uint64_t next = 0;
	while (next < N_THREADED) {
		const struct rec *q = ivr_ring_read_ptr(a->r);
		if (!q) {
			sched_yield();
			continue;
		}
		out = *q;
		ivr_ring_read_advance(a->r);
		if (out.seq != next || out.check != mix(next))
			a->errors++;
		next = out.seq + 1;
	}
	a->received = next;
	return NULL;
}

IVR_TEST(threads_spsc)
{
	struct thr_arg a = { .r = ring_new(1024, sizeof(struct rec)) };
	pthread_t tp, tc;
	ivr_check_int_eq(pthread_create(&tc, NULL, consumer, &a), 0);
	ivr_check_int_eq(pthread_create(&tp, NULL, producer, &a), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	ivr_check_int_eq(a.pushed, N_THREADED);
	ivr_check_int_eq(a.received, N_THREADED);
	ivr_check_int_eq(a.errors, 0);
	/* Retries were counted as drops; the ring itself is empty at the end. */
	ivr_check_int_eq(ivr_ring_count(a.r), 0);
	free(a.r);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(geometry);
	ivr_test_run(fifo_full_and_wrap);
	ivr_test_run(index_wrap_2_32);
	ivr_test_run(zero_copy_read);
	ivr_test_run(threads_spsc);
	return ivr_test_summary();
}
