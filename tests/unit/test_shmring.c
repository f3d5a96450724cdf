/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_shmring.c - common/shmring.h: records and payloads round-trip (single
 * and multi-slot), exact loss counts when a reader is lapped, start at oldest/newest,
 * several sub-rings, refusal of missing/foreign/other-version/truncated/garbage rings,
 * futex wait and wake, and producer + spinning + sleeping reader threads checking every
 * payload byte (run under TSan in CI: suite 'ring').
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/shmring.h"
#include "ivr_pattern.h"
#include "ivr_test.h"

static char tmpdir[256];

static const char *ring_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
	return buf;
}

static int publish(struct ivr_shmring *s, uint32_t w, uint64_t seq, size_t len)
{
	unsigned char b[16384];
	ivr_pattern_fill(b, len, seq);
	return ivr_shmring_push(s, w, (uint8_t)(seq % 11 + 1), seq * 10 + w, 1000 + seq, 2000 + seq,
				b, len);
}

/*
 * Most cases begin the same way: declare p (a fresh ring path for @name), s (a ring made
 * there with the struct ivr_shmring_cfg fields given) and r (a reader on it from @from),
 * each step checked.  A macro because it declares the case's variables.
 */
#define RING_WITH_READER(name, from, ...)                                                          \
	char p[300];                                                                               \
	struct ivr_shmring s;                                                                      \
	struct ivr_shmring_cfg cfg = { __VA_ARGS__ };                                              \
	ivr_check_int_eq(ivr_shmring_create(&s, ring_path(p, sizeof(p), name), &cfg), 0);          \
	struct ivr_shmring_reader r;                                                               \
	ivr_check_int_eq(ivr_shmring_reader_open(&r, p, from), 0)

/* Close reader @r and destroy ring @s (its file removed). */
static void ring_close(struct ivr_shmring *s, struct ivr_shmring_reader *r)
{
	ivr_shmring_reader_close(r);
	ivr_shmring_destroy(s, 1);
}

IVR_TEST(roundtrip_single_and_multislot)
{
	RING_WITH_READER("rt", IVR_SHMRING_FROM_OLDEST, .capacity = 1024, .slot_size = 64);
	size_t maxrec = ivr_shmring_reader_max_record(&r);
	ivr_check_int_eq(maxrec, 16 + 63 * 40);
	/* Lengths around every slot boundary, up to the largest record. */
	uint64_t n = 0;
	size_t lens[] = { 0, 1, 15, 16, 17, 55, 56, 57, 96, 97, 500, maxrec - 1, maxrec };
	for (size_t i = 0; i < IVR_N_ELEMENTS(lens); i++) {
		int rc = publish(&s, 0, n, lens[i]);
		ivr_check_msg(rc >= 1, "len %zu rc %d", lens[i], rc);
		n++;
	}
	unsigned char buf[4096];
	struct ivr_shmring_rec rec;
	for (uint64_t i = 0; i < n; i++) {
		int rc = ivr_shmring_read(&r, &rec, buf, sizeof(buf));
		ivr_check_int_eq(rc, 1);
		ivr_check_int_eq(rec.seq, i);
		ivr_check_int_eq(rec.len, lens[i]);
		ivr_check_int_eq(rec.call_id, i * 10);
		ivr_check_int_eq(rec.ts_ns, 1000 + i);
		ivr_check_int_eq(rec.wall_ms, 2000 + i);
		ivr_check_int_eq(rec.type, i % 11 + 1);
		ivr_check_int_eq(rec.lost_before, 0);
		ivr_check(ivr_pattern_ok(buf, rec.len, i));
	}
	ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, sizeof(buf)), 0);
	/* Too big for the ring: refused and counted, never truncated. */
	ivr_check_int_eq(publish(&s, 0, 99, maxrec + 1), -EMSGSIZE);
	ivr_check_int_eq(ivr_shmring_too_big(&s, 0), 1);
	ivr_check_int_eq(ivr_shmring_push(&s, 0, 1, 0, 0, 0, buf, (size_t)1 << 40), -EMSGSIZE);
	ivr_check_int_eq(ivr_shmring_push(&s, 1, 1, 0, 0, 0, buf, 1), -EINVAL);
	/* A reader buffer too small: -EMSGSIZE and the record stays for a retry. */
	ivr_check(publish(&s, 0, n, 200) >= 1);
	ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, 100), -EMSGSIZE);
	ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, sizeof(buf)), 1);
	ivr_check_int_eq(rec.seq, n);
	ivr_check(ivr_pattern_ok(buf, 200, n));
	ivr_check_int_eq(ivr_shmring_reader_lost(&r), 0);
	ring_close(&s, &r);
	struct stat st;
	ivr_check(stat(p, &st) != 0);
	return IVR_TEST_RESULT();
}

IVR_TEST(from_names)
{
	enum ivr_shmring_from f = IVR_SHMRING_FROM_NEWEST;
	ivr_check_int_eq(ivr_shmring_from_parse("oldest", &f), 0);
	ivr_check_int_eq(f, IVR_SHMRING_FROM_OLDEST);
	ivr_check_int_eq(ivr_shmring_from_parse("newest", &f), 0);
	ivr_check_int_eq(f, IVR_SHMRING_FROM_NEWEST);
	ivr_check_int_eq(ivr_shmring_from_parse("Oldest", &f), -EINVAL);
	ivr_check_int_eq(ivr_shmring_from_parse("", &f), -EINVAL);
	ivr_check_int_eq(ivr_shmring_from_parse(NULL, &f), -EINVAL);
	ivr_check_int_eq(f, IVR_SHMRING_FROM_NEWEST);
	return IVR_TEST_RESULT();
}

IVR_TEST(shm_object_name)
{
	char name[64], dev[128];
	snprintf(name, sizeof(name), "ivr-test-shmring-%d", (int)getpid());
	snprintf(dev, sizeof(dev), "/dev/shm/%s", name);
	struct ivr_shmring s;
	struct ivr_shmring_cfg cfg = { .capacity = 64 };
	int rc = ivr_shmring_create(&s, name, &cfg);
	if (rc == -ENOSYS || rc == -EACCES)
		return IVR_TEST_SKIP;
	ivr_check_int_eq(rc, 0);
	struct stat st;
	ivr_check(stat(dev, &st) == 0);
	ivr_check_int_eq(st.st_size, IVR_SHMRING_DATA_OFF + 64 * 128);
	struct ivr_shmring_reader r;
	ivr_check_int_eq(ivr_shmring_reader_open(&r, name, IVR_SHMRING_FROM_NEWEST), 0);
	ivr_check(publish(&s, 0, 0, 10) == 1);
	unsigned char buf[256];
	struct ivr_shmring_rec rec;
	ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, sizeof(buf)), 1);
	ivr_check(ivr_pattern_ok(buf, 10, 0));
	ring_close(&s, &r);
	ivr_check(stat(dev, &st) != 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&r, name, IVR_SHMRING_FROM_NEWEST), -ENOENT);
	ivr_check(strstr(r.why, name) != NULL);
	return IVR_TEST_RESULT();
}

/* Publish a deterministic stream with a reader reading in bursts; check that every
 * delivered record is intact and in order, and that delivered + lost == published. */
static void lap_run(uint32_t slot, uint32_t cap, size_t maxlen, int burst_pub, int burst_read)
{
	RING_WITH_READER("lap", IVR_SHMRING_FROM_NEWEST, .capacity = cap, .slot_size = slot);
	unsigned char buf[16384];
	struct ivr_shmring_rec rec;
	uint64_t pub = 0, got = 0, lost = 0, next = 0, bad = 0;
	for (int round = 0; round < 300; round++) {
		int np = (int)(ivr_pattern_mix((uint64_t)round) % (uint64_t)burst_pub);
		for (int i = 0; i < np; i++, pub++)
			ivr_check(publish(&s, 0, pub, ivr_pattern_len(pub, maxlen)) >= 1);
		int nr = (int)(ivr_pattern_mix((uint64_t)round + 99) % (uint64_t)burst_read);
		for (int i = 0; i < nr; i++) {
			int rc = ivr_shmring_read(&r, &rec, buf, sizeof(buf));
			if (rc != 1)
				break;
			if (rec.seq != next + rec.lost_before ||
			    rec.len != ivr_pattern_len(rec.seq, maxlen) ||
			    !ivr_pattern_ok(buf, rec.len, rec.seq))
				bad++;
			lost += rec.lost_before;
			next = rec.seq + 1;
			got++;
		}
	}
	while (ivr_shmring_read(&r, &rec, buf, sizeof(buf)) == 1) {
		if (rec.seq != next + rec.lost_before || !ivr_pattern_ok(buf, rec.len, rec.seq))
			bad++;
		lost += rec.lost_before;
		next = rec.seq + 1;
		got++;
	}
	ivr_check_int_eq(bad, 0);
	ivr_check_int_eq(got + lost, pub);
	ivr_check_int_eq(ivr_shmring_reader_lost(&r), lost);
	ivr_check_msg(lost > 0, "the reader should have been lapped (pub %llu)",
		      (unsigned long long)pub);
	ivr_check(got > 0);
	ring_close(&s, &r);
}

IVR_TEST(lapped_exact_loss_single_slot)
{
	/* Hand-computed case first: 16 slots, 3 read, then 47 more published. */
	RING_WITH_READER("lap1", IVR_SHMRING_FROM_NEWEST, .capacity = 16, .slot_size = 64);
	unsigned char buf[256];
	struct ivr_shmring_rec rec;
	for (uint64_t i = 0; i < 10; i++)
		ivr_check(publish(&s, 0, i, 8) == 1);
	for (uint64_t i = 0; i < 3; i++)
		ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, sizeof(buf)), 1);
	for (uint64_t i = 10; i < 50; i++)
		ivr_check(publish(&s, 0, i, 8) == 1);
	/* Slots 34..49 are held; the reader re-seats a quarter ring in, at 38. */
	ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, sizeof(buf)), 1);
	ivr_check_int_eq(rec.seq, 38);
	ivr_check_int_eq(rec.lost_before, 35);
	uint64_t got = 1;
	while (ivr_shmring_read(&r, &rec, buf, sizeof(buf)) == 1) {
		ivr_check_int_eq(rec.lost_before, 0);
		got++;
	}
	ivr_check_int_eq(got, 12);
	ivr_check_int_eq(ivr_shmring_reader_lost(&r), 35);
	ring_close(&s, &r);

	lap_run(64, 16, 16, 40, 20);
	lap_run(128, 64, 80, 150, 60);
	return IVR_TEST_RESULT();
}

IVR_TEST(lapped_exact_loss_multislot)
{
	/* Records of up to 10 slots in rings of 32 and 64 slots: readers land in the middle
	 * of records after a lap and must skip continuations, never deliver torn records. */
	lap_run(64, 32, 16 + 9 * 40, 30, 10);
	lap_run(128, 64, 500, 60, 20);
	lap_run(256, 128, 2000, 90, 25);
	return IVR_TEST_RESULT();
}

IVR_TEST(start_oldest_and_newest)
{
	char p[300];
	struct ivr_shmring s;
	struct ivr_shmring_cfg cfg = { .capacity = 32, .slot_size = 64 };
	ivr_check_int_eq(ivr_shmring_create(&s, ring_path(p, sizeof(p), "start"), &cfg), 0);
	/* 3-slot records: 100 of them wrap the 32-slot ring many times. */
	for (uint64_t i = 0; i < 100; i++)
		ivr_check(publish(&s, 0, i, 90) == 3);
	struct ivr_shmring_reader old, neu;
	unsigned char buf[256];
	struct ivr_shmring_rec rec;
	ivr_check_int_eq(ivr_shmring_reader_open(&old, p, IVR_SHMRING_FROM_OLDEST), 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&neu, p, IVR_SHMRING_FROM_NEWEST), 0);
	ivr_check_int_eq(ivr_shmring_read(&neu, &rec, buf, sizeof(buf)), 0);
	/* Slots 268..299 are held; 268 is mid-record (records start at multiples of 3), so
	 * the oldest complete record is the one at slot 270: record 90. */
	ivr_check_int_eq(ivr_shmring_read(&old, &rec, buf, sizeof(buf)), 1);
	ivr_check_int_eq(rec.seq, 90);
	ivr_check_int_eq(rec.lost_before, 0);
	ivr_check(ivr_pattern_ok(buf, 90, 90));
	int more = 0;
	while (ivr_shmring_read(&old, &rec, buf, sizeof(buf)) == 1)
		more++;
	ivr_check_int_eq(more, 9);
	ivr_check(publish(&s, 0, 100, 5) == 1);
	ivr_check_int_eq(ivr_shmring_read(&neu, &rec, buf, sizeof(buf)), 1);
	ivr_check_int_eq(rec.seq, 100);
	ivr_check_int_eq(rec.lost_before, 0);
	/* A newest-reader that is lapped before its first read still counts the loss. */
	struct ivr_shmring_reader late;
	ivr_check_int_eq(ivr_shmring_reader_open(&late, p, IVR_SHMRING_FROM_NEWEST), 0);
	for (uint64_t i = 101; i < 141; i++)
		ivr_check(publish(&s, 0, i, 5) == 1);
	ivr_check_int_eq(ivr_shmring_read(&late, &rec, buf, sizeof(buf)), 1);
	ivr_check_int_eq(rec.seq - rec.lost_before, 101);
	/* An oldest-reader lapped before its first read: head is 341 (100 records of 3 slots,
	 * 41 of 1), the oldest held slot 309 is record 109, so it counts from there. */
	struct ivr_shmring_reader old2;
	ivr_check_int_eq(ivr_shmring_reader_open(&old2, p, IVR_SHMRING_FROM_OLDEST), 0);
	for (uint64_t i = 0; i < 40; i++)
		ivr_check(publish(&s, 0, 200 + i, 90) == 3);
	ivr_check_int_eq(ivr_shmring_read(&old2, &rec, buf, sizeof(buf)), 1);
	ivr_check_int_eq(rec.seq - rec.lost_before, 109);
	ivr_check(rec.lost_before > 0);
	ivr_shmring_reader_close(&old2);
	ivr_shmring_reader_close(&old);
	ivr_shmring_reader_close(&neu);
	ivr_shmring_reader_close(&late);
	ivr_shmring_destroy(&s, 1);
	return IVR_TEST_RESULT();
}

IVR_TEST(head_store_not_yet_visible)
{
	/* The producer stores a slot's sw (release) before the sub-ring head.  A reader can
	 * see the complete one-slot record first and deliver it; the head it loads next is
	 * then behind its cursor.  Replay that window deterministically by holding head back. */
	RING_WITH_READER("lag", IVR_SHMRING_FROM_NEWEST, .capacity = 16, .slot_size = 64);
	struct ivr_shmring_ctl *ctl = ivr_shmring_ctl_(s.base, 0);
	unsigned char buf[256];
	struct ivr_shmring_rec rec;
	uint64_t next = 0, got = 0, lost = 0;
	for (uint64_t i = 0; i < 200; i++) {
		ivr_check(publish(&s, 0, i, 16) == 1);
		if (i % 7 == 3)
			continue; /* the reader falls behind now and then */
		uint64_t h = ctl->head;
		ctl->head = h - 1; /* the head store is "not visible yet" */
		/* Bounded: a reader that re-delivers would loop here forever. */
		for (int k = 0; k < 40 && ivr_shmring_read(&r, &rec, buf, sizeof(buf)) == 1; k++) {
			ivr_check_int_eq(rec.seq, next + rec.lost_before);
			ivr_check(ivr_pattern_ok(buf, rec.len, rec.seq));
			next = rec.seq + 1;
			got++;
			lost += rec.lost_before;
		}
		/* Nothing is re-delivered and the reader does not think data is pending. */
		ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, sizeof(buf)), 0);
		ivr_check_int_eq(ivr_shmring_reader_pending(&r), 0);
		ctl->head = h;
		if (i % 50 == 49) /* a burst that laps the reader (16 slots) */
			for (uint64_t k = 0; k < 20; k++, i++)
				ivr_check(publish(&s, 0, i + 1, 16) == 1);
	}
	while (ivr_shmring_read(&r, &rec, buf, sizeof(buf)) == 1) {
		ivr_check_int_eq(rec.seq, next + rec.lost_before);
		next = rec.seq + 1;
		got++;
		lost += rec.lost_before;
	}
	ivr_check_int_eq(got + lost, ctl->records);
	ivr_check(lost > 0);
	ring_close(&s, &r);
	return IVR_TEST_RESULT();
}

IVR_TEST(several_workers)
{
	RING_WITH_READER("workers", IVR_SHMRING_FROM_OLDEST, .capacity = 256, .slot_size = 128,
			 .n_rings = 3);
	uint64_t pubs[3] = { 0, 0, 0 };
	for (int i = 0; i < 90; i++) {
		uint32_t w = (uint32_t)(ivr_pattern_mix((uint64_t)i) % 3);
		ivr_check(publish(&s, w, pubs[w], ivr_pattern_len(pubs[w], 300)) >= 1);
		pubs[w]++;
	}
	uint64_t next[3] = { 0, 0, 0 };
	unsigned char buf[8192];
	struct ivr_shmring_rec rec;
	int n = 0;
	while (ivr_shmring_read(&r, &rec, buf, sizeof(buf)) == 1) {
		ivr_check(rec.worker < 3);
		ivr_check_int_eq(rec.seq, next[rec.worker]);
		ivr_check_int_eq(rec.call_id, rec.seq * 10 + rec.worker);
		ivr_check(ivr_pattern_ok(buf, rec.len, rec.seq));
		next[rec.worker]++;
		n++;
	}
	ivr_check_int_eq(n, 90);
	for (int w = 0; w < 3; w++)
		ivr_check_int_eq(next[w], pubs[w]);
	ring_close(&s, &r);
	return IVR_TEST_RESULT();
}

static int write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, n, f);
	fclose(f);
	return w == n ? 0 : -1;
}

static size_t read_file(const char *path, unsigned char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

IVR_TEST(refuse_bad_rings)
{
	char p[300], q[300];
	struct ivr_shmring_reader r;
	ivr_check_int_eq(ivr_shmring_reader_open(&r, ring_path(p, sizeof(p), "nope"),
						 IVR_SHMRING_FROM_OLDEST),
			 -ENOENT);
	ivr_check(strstr(r.why, "cannot open") != NULL);

	struct ivr_shmring s;
	struct ivr_shmring_cfg cfg = { .capacity = 16, .slot_size = 64 };
	ivr_check_int_eq(ivr_shmring_create(&s, ring_path(p, sizeof(p), "good"), &cfg), 0);
	ivr_check(publish(&s, 0, 0, 40) >= 1);
	static unsigned char img[IVR_SHMRING_DATA_OFF + 16 * 64 + 64];
	size_t n = read_file(p, img, sizeof(img));
	ivr_check_int_eq(n, IVR_SHMRING_DATA_OFF + 16 * 64);
	ivr_shmring_destroy(&s, 1);
	ring_path(q, sizeof(q), "bad");

	/* Another layout version. */
	struct ivr_shmring_header h;
	memcpy(&h, img, sizeof(h));
	h.version = 2;
	memcpy(img, &h, sizeof(h));
	ivr_check_int_eq(write_file(q, img, n), 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&r, q, IVR_SHMRING_FROM_OLDEST), -EPROTONOSUPPORT);
	ivr_check_msg(strstr(r.why, "version 2") != NULL, "%s", r.why);
	h.version = IVR_SHMRING_VERSION;
	memcpy(img, &h, sizeof(h));

	/* Truncated: cut inside the slots, inside the header, and empty. */
	size_t cuts[] = { n - 1, n - 64, IVR_SHMRING_DATA_OFF, 100, 0 };
	for (size_t i = 0; i < IVR_N_ELEMENTS(cuts); i++) {
		ivr_check_int_eq(write_file(q, img, cuts[i]), 0);
		ivr_check_int_eq(ivr_shmring_reader_open(&r, q, IVR_SHMRING_FROM_OLDEST), -EBADMSG);
		ivr_check_msg(strstr(r.why, "truncated") != NULL, "%s", r.why);
	}
	/* Longer than the header says. */
	ivr_check_int_eq(write_file(q, img, n + 64), 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&r, q, IVR_SHMRING_FROM_OLDEST), -EBADMSG);

	/* Garbage of the right size, and a foreign magic. */
	static unsigned char junk[IVR_SHMRING_DATA_OFF + 16 * 64];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)ivr_pattern_mix(i);
	ivr_check_int_eq(write_file(q, junk, sizeof(junk)), 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&r, q, IVR_SHMRING_FROM_OLDEST), -EBADMSG);
	ivr_check(strstr(r.why, "not an IVR event ring") != NULL);

	/* A valid header with bad geometry. */
	memcpy(junk, img, sizeof(h));
	struct ivr_shmring_header g = h;
	g.capacity = 12;
	memcpy(junk, &g, sizeof(g));
	ivr_check_int_eq(write_file(q, junk, sizeof(junk)), 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&r, q, IVR_SHMRING_FROM_OLDEST), -EBADMSG);
	ivr_check(strstr(r.why, "geometry") != NULL);

	/* A good header over garbage slots: opens, and reading finds nothing valid. */
	memcpy(junk, img, sizeof(h));
	memcpy(junk + 64, img + 64, 64); /* head */
	ivr_check_int_eq(write_file(q, junk, sizeof(junk)), 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&r, q, IVR_SHMRING_FROM_OLDEST), 0);
	unsigned char buf[4096];
	struct ivr_shmring_rec rec;
	ivr_check_int_eq(ivr_shmring_read(&r, &rec, buf, sizeof(buf)), 0);
	ivr_shmring_reader_close(&r);

	/* Not yet initialised (zero header). */
	memset(junk, 0, sizeof(junk));
	ivr_check_int_eq(write_file(q, junk, sizeof(junk)), 0);
	ivr_check_int_eq(ivr_shmring_reader_open(&r, q, IVR_SHMRING_FROM_OLDEST), -EAGAIN);
	/* A directory. */
	ivr_check(ivr_shmring_reader_open(&r, tmpdir, IVR_SHMRING_FROM_OLDEST) < 0);
	unlink(q);

	/* Bad producer geometry. */
	struct ivr_shmring_cfg bad[] = { { .capacity = 100 },
					 { .capacity = 2 },
					 { .slot_size = 96 },
					 { .n_rings = 33 },
					 { .capacity = 16, .max_record_slots = 9 } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(bad); i++)
		ivr_check_int_eq(ivr_shmring_create(&s, q, &bad[i]), -EINVAL);
	ivr_check_int_eq(ivr_shmring_create(&s, "", NULL), -EINVAL);
	return IVR_TEST_RESULT();
}

IVR_TEST(wait_timeout_and_wake)
{
	RING_WITH_READER("wait", IVR_SHMRING_FROM_NEWEST, .capacity = 64);
	uint64_t t0 = ivr_shmring_now_ns();
	ivr_check_int_eq(ivr_shmring_reader_wait(&r, 30), -ETIMEDOUT);
	uint64_t dt = ivr_shmring_now_ns() - t0;
	ivr_check_msg(dt >= 29000000 && dt < 2000000000, "waited %llu ns", (unsigned long long)dt);
	/* No sleeper: wake is a no-op even with news. */
	ivr_check(publish(&s, 0, 0, 4) == 1);
	ivr_check_int_eq(ivr_shmring_wake(&s, 0), 0);
	ivr_check_int_eq(ivr_shmring_reader_wait(&r, 0), 0);
	ivr_check_int_eq(ivr_shmring_reader_pending(&r), 1);
	ring_close(&s, &r);
	return IVR_TEST_RESULT();
}

/* ---- threads: one producer, a spinning reader and a sleeping reader ---- */

#define THR_RECORDS 200000u

/* Largest payload in the threaded cases: 16 keeps every record in one 64-byte slot (the
 * reader's fast path), 300 makes most records span slots. */
static size_t thr_maxlen;

struct thr {
	struct ivr_shmring *s;
	const char *path;
	int sleeping;
	uint64_t got, lost, bad, wakes;
	int done_flag; /* producer finished (atomic) */
	int opened;    /* reader has mapped the ring (atomic) */
	struct thr *prod;
};

static void *thr_producer(void *arg)
{
	struct thr *t = arg;
	for (uint64_t i = 0; i < THR_RECORDS; i++) {
		publish(t->s, 0, i, ivr_pattern_len(i, thr_maxlen));
		/* A "tick" every 64 records: wake sleepers, as the engine does per 20 ms. */
		if ((i & 63) == 63)
			t->wakes += (uint64_t)ivr_shmring_wake(t->s, 0);
	}
	ivr_shmring_wake(t->s, 0);
	/* Release: readers that see the flag see every record. */
	__atomic_store_n(&t->done_flag, 1, __ATOMIC_RELEASE);
	ivr_shmring_wake(t->s, 0);
	return NULL;
}

static void *thr_reader(void *arg)
{
	struct thr *t = arg;
	struct ivr_shmring_reader r;
	int open_rc = ivr_shmring_reader_open(&r, t->path, IVR_SHMRING_FROM_OLDEST);
	/* Release: pairs with threads_run()'s acquire before the producer starts. */
	__atomic_store_n(&t->opened, 1, __ATOMIC_RELEASE);
	if (open_rc != 0) {
		t->bad++;
		return NULL;
	}
	static __thread unsigned char buf[8192];
	struct ivr_shmring_rec rec;
	uint64_t next = 0;
	for (;;) {
		int rc = ivr_shmring_read(&r, &rec, buf, sizeof(buf));
		if (rc == 1) {
			if (rec.seq != next + rec.lost_before ||
			    rec.len != ivr_pattern_len(rec.seq, thr_maxlen) ||
			    !ivr_pattern_ok(buf, rec.len, rec.seq) || rec.call_id != rec.seq * 10)
				t->bad++;
			t->got++;
			t->lost += rec.lost_before;
			next = rec.seq + 1;
			if (next == THR_RECORDS)
				break;
			continue;
		}
		if (rc < 0) {
			t->bad++;
			break;
		}
		/* Acquire: pairs with the producer's release of done_flag. */
		if (__atomic_load_n(&t->prod->done_flag, __ATOMIC_ACQUIRE) &&
		    !ivr_shmring_reader_pending(&r))
			break;
		if (t->sleeping)
			ivr_shmring_reader_wait(&r, 5);
	}
	ivr_shmring_reader_close(&r);
	return NULL;
}

static void threads_run(size_t maxlen)
{
	char p[300];
	thr_maxlen = maxlen;
	struct ivr_shmring s;
	/* A small ring so the sleeping reader (woken only every 64 records) gets lapped. */
	struct ivr_shmring_cfg cfg = { .capacity = 256, .slot_size = 64 };
	ivr_check_int_eq(ivr_shmring_create(&s, ring_path(p, sizeof(p), "thr"), &cfg), 0);
	struct thr prod = { .s = &s, .path = p };
	prod.prod = &prod;
	struct thr spin = { .path = p, .prod = &prod },
		   sleep = { .path = p, .sleeping = 1, .prod = &prod };
	pthread_t a, b, c;
	ivr_check_int_eq(pthread_create(&a, NULL, thr_reader, &spin), 0);
	ivr_check_int_eq(pthread_create(&b, NULL, thr_reader, &sleep), 0);
	/* Both readers map the ring before records flow (they start at the oldest): waiting
	 * for them, not a fixed sleep, so a loaded machine cannot start the producer first. */
	struct timespec ts = { 0, 1000000 };
	for (int i = 0; i < 10000 && !(__atomic_load_n(&spin.opened, __ATOMIC_ACQUIRE) &&
				       __atomic_load_n(&sleep.opened, __ATOMIC_ACQUIRE));
	     i++)
		nanosleep(&ts, NULL);
	ivr_check_int_eq(pthread_create(&c, NULL, thr_producer, &prod), 0);
	pthread_join(c, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	ivr_check_int_eq(spin.bad, 0);
	ivr_check_int_eq(sleep.bad, 0);
	/* Every record is either delivered intact or counted lost, exactly. */
	ivr_check_int_eq(spin.got + spin.lost, THR_RECORDS);
	ivr_check_int_eq(sleep.got + sleep.lost, THR_RECORDS);
	printf("  max %zu B: spinning reader: %llu delivered, %llu lost; sleeping: %llu "
	       "delivered, %llu lost, %llu futex wakes\n",
	       maxlen, (unsigned long long)spin.got, (unsigned long long)spin.lost,
	       (unsigned long long)sleep.got, (unsigned long long)sleep.lost,
	       (unsigned long long)prod.wakes);
	ivr_shmring_destroy(&s, 1);
}

IVR_TEST(threads_producer_two_readers)
{
	threads_run(16);  /* one-slot records */
	threads_run(300); /* mostly multi-slot records */
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ivr-test-shmring-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ivr_test_run(roundtrip_single_and_multislot);
	ivr_test_run(from_names);
	ivr_test_run(shm_object_name);
	ivr_test_run(lapped_exact_loss_single_slot);
	ivr_test_run(lapped_exact_loss_multislot);
	ivr_test_run(start_oldest_and_newest);
	ivr_test_run(head_store_not_yet_visible);
	ivr_test_run(several_workers);
	ivr_test_run(refuse_bad_rings);
	ivr_test_run(wait_timeout_and_wake);
	ivr_test_run(threads_producer_two_readers);
	rmdir(tmpdir);
	return ivr_test_summary();
}
