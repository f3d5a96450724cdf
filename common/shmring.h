/* SPDX-License-Identifier: MIT */
/*
 * common/shmring.h - shared-memory broadcast ring: engine events to router processes.
 *
 * Header-only (layout, producer and reader): a router includes this one file and links
 * with -lrt -pthread, nothing else.  engine/events.h builds the event payloads on top.
 *
 * One ring object per engine, with one sub-ring per media worker inside ("worker" in the
 * records).  Each sub-ring has exactly one producer (the worker thread that owns the
 * calls), so a call's events stay in order, and publishing needs no atomic read-modify-
 * write, no lock and no system call.  Readers are any number of processes, each with its
 * own cursor per sub-ring; they never write anything the producer reads except the
 * waiters counter, so a slow, crashed or killed reader cannot block or slow the engine.
 *
 * Layout v1 (all integers native little-endian, x86-64/aarch64):
 *   page 0    struct ivr_shmring_header: magic, version, geometry (read-only to readers);
 *             then one 64-byte line per sub-ring holding its head (producer sequence)
 *   page 1    struct ivr_shmring_waitpage: futex word + waiters counter (the only page
 *             readers map writable)
 *   8192 + i*capacity*slot_size: sub-ring i, capacity slots of slot_size bytes.
 * A slot: u64 sw (seqlock word) | u64 rseq (record sequence) | u8 type | u8 flags |
 *   u16 nslots | u32 len | first slot only: u64 call_id, ts_ns (CLOCK_MONOTONIC), wall_ms
 *   (CLOCK_REALTIME) | payload.  A record longer than the first slot continues in the next
 *   nslots-1 slots (flags without FIRST, same rseq); LAST marks the final one.
 *
 * Sequences: a sub-ring's head counts slots ever written; slot position p lives at index
 * p & (capacity-1).  Its seqlock word is ((p+1) << 1) | writing, so a reader expecting
 * position p sees exactly whether the slot still holds p, is being overwritten, or holds
 * a later lap.  rseq counts records (not slots), so a lapped reader learns exactly how
 * many records it lost: the rseq of the next intact record minus the one it expected.
 *
 * Memory ordering (Boehm, "Can seqlocks get along with programming language memory
 * models?", MSPC 2012; the same protocol as the Linux seqcount):
 *   producer per slot: sw=odd (relaxed); fence(release); payload (relaxed atomics);
 *                      sw=even (release).  After the record: head (release).
 *   reader per slot:   head (acquire); sw (acquire) == expected; payload (relaxed);
 *                      fence(acquire); sw (relaxed) == expected, else overwritten.
 * Payload words are read and written with atomic 64-bit operations, so a torn copy is
 * never a data race (TSan-clean) and is always caught by the second sw check.
 *
 * Waiting: readers sleep on a futex (shared, not PRIVATE: different processes) on
 * waitpage.wake_seq after incrementing waitpage.waiters.  The producer never wakes on
 * publish; the engine calls ivr_shmring_wake() once per 20 ms tick, which costs one
 * load when nobody sleeps and one FUTEX_WAKE when someone does and there is news
 * (DESIGN.md 6: a wake costs 25-38 us, so at most once per tick).
 *
 * Thread: producer functions on the sub-ring's owning worker (push/wake are IVR_RT);
 * create/destroy on the control thread.  A reader is used by one thread at a time.
 * See docs/ring.md.
 */
#ifndef IVR_COMMON_SHMRING_H
#define IVR_COMMON_SHMRING_H

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/defs.h"

#define IVR_SHMRING_MAGIC	 0x31474e4952525649ull /* "IVRRING1" in file byte order */
#define IVR_SHMRING_VERSION	 1u
#define IVR_SHMRING_PAGE	 4096u
#define IVR_SHMRING_DATA_OFF	 (2u * IVR_SHMRING_PAGE)
#define IVR_SHMRING_MAX_RINGS	 32u  /* sub-rings (media workers) per ring object */
#define IVR_SHMRING_MAX_SLOT	 256u /* slot sizes: 64, 128 or 256 bytes */
#define IVR_SHMRING_MAX_CAPACITY (1u << 24)
#define IVR_SHMRING_FIRST_HDR	 48u /* sw, rseq, type/flags/nslots/len, call_id, ts, wall */
#define IVR_SHMRING_CONT_HDR	 24u /* sw, rseq, type/flags/nslots/len */

/** Slot flags. */
enum ivr_shmring_flag { IVR_SHMRING_F_FIRST = 1, IVR_SHMRING_F_LAST = 2 };

/** Where a new reader starts. */
enum ivr_shmring_from {
	IVR_SHMRING_FROM_NEWEST = 0, /* only records published after open */
	IVR_SHMRING_FROM_OLDEST = 1, /* the oldest record still held */
};

/**
 * Parse a reader's start position as the tools spell it ("oldest" or "newest").
 * @return 0 and *@from, or -EINVAL for any other text.  Thread: any.
 */
static inline int ivr_shmring_from_parse(const char *name, enum ivr_shmring_from *from)
{
	if (name && !strcmp(name, "oldest"))
		*from = IVR_SHMRING_FROM_OLDEST;
	else if (name && !strcmp(name, "newest"))
		*from = IVR_SHMRING_FROM_NEWEST;
	else
		return -EINVAL;
	return 0;
}

/** Page 0 of the ring object.  Written once by the producer at create. */
struct ivr_shmring_header {
	uint64_t magic; /* IVR_SHMRING_MAGIC, stored last at create (release) */
	uint32_t version;
	uint32_t data_off;	   /* byte offset of sub-ring 0 */
	uint32_t slot_size;	   /* bytes per slot: 64, 128 or 256 */
	uint32_t capacity;	   /* slots per sub-ring, power of two */
	uint32_t n_rings;	   /* sub-rings (media workers) */
	uint32_t max_record_slots; /* largest record, in slots (<= capacity / 2) */
	uint64_t file_bytes;	   /* exact size of the object */
	uint64_t created_wall_ms;
	int32_t producer_pid;
	uint32_t reserved[3];
};

/** Per-sub-ring control line in page 0 at offset 64 * (1 + i). */
struct ivr_shmring_ctl {
	uint64_t head;	  /* slots ever published; written by the producer (release) */
	uint64_t records; /* records ever published (statistics, relaxed) */
};

/** Page 1: the one place readers write. */
struct ivr_shmring_waitpage {
	uint32_t wake_seq; /* futex word: bumped by ivr_shmring_wake() */
	uint32_t waiters;  /* readers inside ivr_shmring_reader_wait() */
};

/** Geometry for ivr_shmring_create(); zero fields take the defaults. */
struct ivr_shmring_cfg {
	uint32_t capacity;	   /* slots per sub-ring (default 65536, power of two) */
	uint32_t slot_size;	   /* 64, 128 or 256 (default 128) */
	uint32_t n_rings;	   /* sub-rings, one per media worker (default 1) */
	uint32_t max_record_slots; /* default min(64, capacity / 2) */
};

/** Producer-private state of one sub-ring (one cache line, owned by one worker). */
struct ivr_shmring_prod {
	uint64_t pos;	    /* next slot position (== published head) */
	uint64_t rseq;	    /* next record sequence */
	uint64_t last_wake; /* head at the last FUTEX_WAKE */
	uint64_t too_big;   /* records refused with -EMSGSIZE */
} IVR_ALIGNED;

/** Producer handle (the engine).  Fields are private. */
struct ivr_shmring {
	struct ivr_shmring_header *hdr;
	unsigned char *base;
	size_t map_bytes;
	uint32_t slot_size, mask, n_rings, max_record_slots;
	struct ivr_shmring_prod prod[IVR_SHMRING_MAX_RINGS];
	char path[256]; /* what to unlink at destroy; empty when attached to memory */
	int is_file;
};

/** One delivered record (the payload goes to the caller's buffer). */
struct ivr_shmring_rec {
	uint64_t seq; /* record sequence within its sub-ring */
	uint64_t call_id;
	uint64_t ts_ns;	      /* CLOCK_MONOTONIC at publish */
	uint64_t wall_ms;     /* CLOCK_REALTIME, UNIX ms */
	uint64_t lost_before; /* records of this sub-ring lost just before this one */
	uint32_t len;	      /* payload bytes */
	uint32_t worker;      /* sub-ring index */
	uint8_t type;
};

/** Reader cursor on one sub-ring. */
struct ivr_shmring_cursor {
	uint64_t pos;	     /* next slot position to read */
	uint64_t head_cache; /* last head seen */
	uint64_t next_rseq;  /* record expected next */
	int have_rseq;	     /* next_rseq is known (else the next record sets it) */
};

/** Reader handle.  Fields are private; why[] holds the last refusal reason. */
struct ivr_shmring_reader {
	const struct ivr_shmring_header *hdr;
	const unsigned char *base;
	struct ivr_shmring_waitpage *wp; /* NULL: read-only mapping, poll only */
	void *map, *wmap;
	size_t map_bytes;
	uint32_t slot_size, mask, capacity, n_rings, max_record_slots, next_ring;
	uint64_t lost_total;
	struct ivr_shmring_cursor cur[IVR_SHMRING_MAX_RINGS];
	char why[320];
};

/* ---- clocks -------------------------------------------------------------------- */

/** CLOCK_MONOTONIC in ns (vDSO, no syscall).  @return ns.  Thread: any, RT. */
IVR_RT static inline uint64_t ivr_shmring_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** CLOCK_REALTIME in UNIX ms (vDSO).  @return ms.  Thread: any, RT. */
IVR_RT static inline uint64_t ivr_shmring_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* ---- layout helpers ------------------------------------------------------------ */

static inline int ivr_shmring_pow2_(uint64_t v)
{
	return v && !(v & (v - 1));
}

/** Payload bytes a record of @nslots slots can carry.  @return bytes.  Thread: any. */
static inline size_t ivr_shmring_record_max(uint32_t slot_size, uint32_t nslots)
{
	if (nslots == 0)
		return 0;
	return (slot_size - IVR_SHMRING_FIRST_HDR) +
	       (size_t)(nslots - 1) * (slot_size - IVR_SHMRING_CONT_HDR);
}

static inline uint64_t ivr_shmring_file_bytes_(uint32_t slot, uint32_t cap, uint32_t n)
{
	return IVR_SHMRING_DATA_OFF + (uint64_t)slot * cap * n;
}

/*
 * Validate a header (the first bytes of a ring object of @size bytes).  Fills @why with a
 * one-line reason.  @return 0, -EAGAIN (not initialised yet), -EBADMSG (foreign, garbage
 * or truncated), -EPROTONOSUPPORT (another layout version).
 */
static inline int ivr_shmring_check_header_(const struct ivr_shmring_header *h, uint64_t size,
					    char *why, size_t why_len)
{
	if (size < IVR_SHMRING_DATA_OFF) {
		snprintf(why, why_len, "truncated: %llu bytes, a ring needs at least %u",
			 (unsigned long long)size, IVR_SHMRING_DATA_OFF);
		return -EBADMSG;
	}
	/* Acquire pairs with the producer's release store of magic: the geometry written
	 * before it is visible once the magic is. */
	uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	if (magic == 0 && h->version == 0) {
		snprintf(why, why_len, "ring not initialised yet (magic is zero)");
		return -EAGAIN;
	}
	if (magic != IVR_SHMRING_MAGIC) {
		snprintf(why, why_len, "not an IVR event ring (magic %016llx)",
			 (unsigned long long)magic);
		return -EBADMSG;
	}
	if (h->version != IVR_SHMRING_VERSION) {
		snprintf(why, why_len, "ring layout version %u, this reader speaks version %u",
			 h->version, IVR_SHMRING_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h->data_off != IVR_SHMRING_DATA_OFF ||
	    (h->slot_size != 64 && h->slot_size != 128 && h->slot_size != 256) ||
	    !ivr_shmring_pow2_(h->capacity) || h->capacity < 4 ||
	    h->capacity > IVR_SHMRING_MAX_CAPACITY || h->n_rings < 1 ||
	    h->n_rings > IVR_SHMRING_MAX_RINGS || h->max_record_slots < 1 ||
	    h->max_record_slots > h->capacity / 2 || h->max_record_slots > 65535) {
		snprintf(why, why_len,
			 "bad ring geometry (slot %u, capacity %u, rings %u, max slots %u)",
			 h->slot_size, h->capacity, h->n_rings, h->max_record_slots);
		return -EBADMSG;
	}
	uint64_t want = ivr_shmring_file_bytes_(h->slot_size, h->capacity, h->n_rings);
	if (h->file_bytes != want || size != want) {
		snprintf(why, why_len, "truncated or resized: %llu bytes, geometry needs %llu",
			 (unsigned long long)size, (unsigned long long)want);
		return -EBADMSG;
	}
	return 0;
}

static inline struct ivr_shmring_ctl *ivr_shmring_ctl_(const void *base, uint32_t i)
{
	return (struct ivr_shmring_ctl *)((uintptr_t)base + 64u * (1u + i));
}

/* Open NAME as a file path (contains '/') or a POSIX shm object (/dev/shm/NAME). */
static inline int ivr_shmring_open_fd_(const char *name, int flags, mode_t mode)
{
	if (strchr(name, '/'))
		return open(name, flags | O_CLOEXEC, mode);
	char n[256];
	if (snprintf(n, sizeof(n), "/%s", name) >= (int)sizeof(n)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return shm_open(n, flags, mode);
}

/* ---- producer ------------------------------------------------------------------ */

/**
 * Create (replace) the ring object @name and map it.  An existing object of that name is
 * unlinked first, never truncated, so readers still mapping it keep a valid (frozen) view
 * instead of SIGBUS.  @return 0 or a negative errno (-EINVAL bad geometry or name).
 * Thread: control.
 */
IVR_NODISCARD static inline int ivr_shmring_create(struct ivr_shmring *s, const char *name,
						   const struct ivr_shmring_cfg *cfg)
{
	struct ivr_shmring_cfg c;
	memset(&c, 0, sizeof(c));
	if (cfg)
		c = *cfg;
	if (!s || !name || !*name)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	if (!c.capacity)
		c.capacity = 65536;
	if (!c.slot_size)
		c.slot_size = 128;
	if (!c.n_rings)
		c.n_rings = 1;
	if (!c.max_record_slots)
		c.max_record_slots = IVR_MIN(64u, c.capacity / 2);
	if ((c.slot_size != 64 && c.slot_size != 128 && c.slot_size != 256) ||
	    !ivr_shmring_pow2_(c.capacity) || c.capacity < 4 ||
	    c.capacity > IVR_SHMRING_MAX_CAPACITY || c.n_rings > IVR_SHMRING_MAX_RINGS ||
	    c.max_record_slots > c.capacity / 2 || c.max_record_slots > 65535)
		return -EINVAL;
	s->is_file = strchr(name, '/') != NULL;
	if (snprintf(s->path, sizeof(s->path), "%s%s", s->is_file ? "" : "/", name) >=
	    (int)sizeof(s->path))
		return -EINVAL;
	if (s->is_file)
		unlink(s->path);
	else
		shm_unlink(s->path);
	int fd = ivr_shmring_open_fd_(name, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return -errno;
	uint64_t bytes = ivr_shmring_file_bytes_(c.slot_size, c.capacity, c.n_rings);
	if (ftruncate(fd, (off_t)bytes) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = -errno;
	close(fd); /* the mapping keeps the object alive */
	if (m == MAP_FAILED)
		return e;
	s->base = (unsigned char *)m;
	s->hdr = (struct ivr_shmring_header *)m;
	s->map_bytes = bytes;
	s->slot_size = c.slot_size;
	s->mask = c.capacity - 1;
	s->n_rings = c.n_rings;
	s->max_record_slots = c.max_record_slots;
	struct ivr_shmring_header *h = s->hdr;
	h->version = IVR_SHMRING_VERSION;
	h->data_off = IVR_SHMRING_DATA_OFF;
	h->slot_size = c.slot_size;
	h->capacity = c.capacity;
	h->n_rings = c.n_rings;
	h->max_record_slots = c.max_record_slots;
	h->file_bytes = bytes;
	h->created_wall_ms = ivr_shmring_wall_ms();
	h->producer_pid = (int32_t)getpid();
	/* Release: readers that see the magic (acquire) see the geometry above. */
	__atomic_store_n(&h->magic, IVR_SHMRING_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/**
 * Unmap the ring; with @unlink_name also remove the name (readers keep their mapping).
 * NULL-safe.  Thread: control.
 */
static inline void ivr_shmring_destroy(struct ivr_shmring *s, int unlink_name)
{
	if (!s || !s->base)
		return;
	munmap(s->base, s->map_bytes);
	if (unlink_name && s->path[0]) {
		if (s->is_file)
			unlink(s->path);
		else
			shm_unlink(s->path);
	}
	s->base = NULL;
	s->hdr = NULL;
}

static inline void ivr_shmring_slot_write_(uint64_t *slot, uint64_t pos, const uint64_t *w,
					   uint32_t nwords)
{
	/* Relaxed: the odd value marks the slot as being rewritten; the fence below orders
	 * it before every payload store. */
	__atomic_store_n(&slot[0], ((pos + 1) << 1) | 1u, __ATOMIC_RELAXED);
	/* Release fence: a reader whose relaxed payload loads observe any store below also
	 * observes (after its acquire fence) the odd marker or later, and rejects the copy. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t k = 1; k < nwords; k++)
		__atomic_store_n(&slot[k], w[k], __ATOMIC_RELAXED); /* ordered by the fences */
	/* Release: the payload above is visible to a reader that loads this value with
	 * acquire. */
	__atomic_store_n(&slot[0], (pos + 1) << 1, __ATOMIC_RELEASE);
}

/**
 * Publish one record on sub-ring @worker.  @payload (@len bytes) is copied; a record
 * longer than one slot spans consecutive slots.  Never blocks, never fails for lack of
 * readers: the oldest slots are overwritten.
 * @return slots used (>= 1), -EMSGSIZE if @len exceeds max_record_slots (counted, never
 *         truncated), -EINVAL for a bad @worker.  Thread: the worker owning sub-ring
 *         @worker, IVR_RT (no syscall, lock or allocation).
 */
IVR_RT static inline int ivr_shmring_push(struct ivr_shmring *s, uint32_t worker, uint8_t type,
					  uint64_t call_id, uint64_t ts_ns, uint64_t wall_ms,
					  const void *payload, size_t len)
{
	if (IVR_UNLIKELY(worker >= s->n_rings))
		return -EINVAL;
	struct ivr_shmring_prod *p = &s->prod[worker];
	const uint32_t ss = s->slot_size, first = ss - IVR_SHMRING_FIRST_HDR,
		       cont = ss - IVR_SHMRING_CONT_HDR;
	uint32_t nslots = 1;
	if (len > first) {
		size_t rest = len - first;
		if (rest / cont >= s->max_record_slots) {
			p->too_big++;
			return -EMSGSIZE;
		}
		nslots = 1 + (uint32_t)((rest + cont - 1) / cont);
	}
	if (IVR_UNLIKELY(nslots > s->max_record_slots)) {
		p->too_big++;
		return -EMSGSIZE;
	}
	unsigned char *ring = s->base + IVR_SHMRING_DATA_OFF + (size_t)worker * (s->mask + 1) * ss;
	const unsigned char *src = (const unsigned char *)payload;
	uint64_t w[IVR_SHMRING_MAX_SLOT / 8];
	uint64_t pos = p->pos;
	for (uint32_t i = 0; i < nslots; i++) {
		uint32_t hb = i == 0 ? IVR_SHMRING_FIRST_HDR : IVR_SHMRING_CONT_HDR;
		uint32_t flags = (i == 0 ? IVR_SHMRING_F_FIRST : 0) |
				 (i + 1 == nslots ? IVR_SHMRING_F_LAST : 0);
		w[1] = p->rseq;
		w[2] = (uint64_t)type | (uint64_t)flags << 8 | (uint64_t)nslots << 16 |
		       (uint64_t)len << 32;
		if (i == 0) {
			w[3] = call_id;
			w[4] = ts_ns;
			w[5] = wall_ms;
		}
		size_t n = IVR_MIN((size_t)(ss - hb), len);
		/* Zero the tail so readers never see stale bytes of an older record. */
		memset((unsigned char *)w + hb, 0, ss - hb);
		if (n)
			memcpy((unsigned char *)w + hb, src, n);
		src += n;
		len -= n;
		ivr_shmring_slot_write_((uint64_t *)(ring + (size_t)((pos + i) & s->mask) * ss),
					pos + i, w, ss / 8);
	}
	p->pos = pos + nslots;
	p->rseq++;
	struct ivr_shmring_ctl *ctl = ivr_shmring_ctl_(s->base, worker);
	/* Relaxed: statistics only. */
	__atomic_store_n(&ctl->records, p->rseq, __ATOMIC_RELAXED);
	/* Release: every slot of the record is complete before readers see the new head,
	 * so a reader never starts a record that is only partly written. */
	__atomic_store_n(&ctl->head, p->pos, __ATOMIC_RELEASE);
	return (int)nslots;
}

/**
 * Wake sleeping readers if any sleep and sub-ring @worker published since its last wake.
 * Call once per tick per worker, never per event.
 * @return 1 if FUTEX_WAKE was issued, 0 otherwise.  Thread: the owning worker, IVR_RT
 *         (at most one non-blocking syscall, only when a reader sleeps).
 */
IVR_RT static inline int ivr_shmring_wake(struct ivr_shmring *s, uint32_t worker)
{
	if (IVR_UNLIKELY(worker >= s->n_rings))
		return 0;
	struct ivr_shmring_prod *p = &s->prod[worker];
	struct ivr_shmring_waitpage *wp =
		(struct ivr_shmring_waitpage *)(s->base + IVR_SHMRING_PAGE);
	if (p->pos == p->last_wake)
		return 0;
	/* Seq-cst fence (Dekker with the reader's waiters increment + fence + head load):
	 * either we see its waiters count or it sees our head store and does not sleep. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&wp->waiters, __ATOMIC_RELAXED) == 0)
		return 0;
	p->last_wake = p->pos;
	/* Release: a reader that reads the new wake_seq also sees the records. */
	__atomic_fetch_add(&wp->wake_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &wp->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return 1;
}

/**
 * Records refused by ivr_shmring_push() for size on sub-ring @worker.
 * @return the count.  Thread: the owning worker.
 */
static inline uint64_t ivr_shmring_too_big(const struct ivr_shmring *s, uint32_t worker)
{
	return worker < s->n_rings ? s->prod[worker].too_big : 0;
}

/* ---- reader -------------------------------------------------------------------- */

static inline const uint64_t *ivr_shmring_rslot_(const struct ivr_shmring_reader *r, uint32_t ring,
						 uint64_t pos)
{
	return (const uint64_t *)(r->base + IVR_SHMRING_DATA_OFF +
				  ((size_t)ring * r->capacity + (size_t)(pos & r->mask)) *
					  r->slot_size);
}

/* Copy slot @pos of sub-ring @ring into @w.  @return 0 if it held @pos intact throughout
 * the copy, -1 if it holds another lap (overwritten) or was rewritten meanwhile. */
static inline int ivr_shmring_slot_read_(const struct ivr_shmring_reader *r, uint32_t ring,
					 uint64_t pos, uint64_t *w)
{
	const uint64_t *slot = ivr_shmring_rslot_(r, ring, pos);
	const uint64_t want = (pos + 1) << 1;
	/* Acquire pairs with the producer's release store of the even value: the payload
	 * of @pos is visible, and our payload loads cannot move above this load. */
	if (__atomic_load_n(&slot[0], __ATOMIC_ACQUIRE) != want)
		return -1;
	uint32_t n = r->slot_size / 8;
	for (uint32_t k = 1; k < n; k++)
		w[k] = __atomic_load_n(&slot[k], __ATOMIC_RELAXED); /* validated below */
	/* Acquire fence: the payload loads above complete before the re-check; pairs with
	 * the producer's release fence after its odd marker. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&slot[0], __ATOMIC_RELAXED) == want ? 0 : -1;
}

/* Position of the oldest slot that may still hold data, given @head. */
static inline uint64_t ivr_shmring_oldest_(const struct ivr_shmring_reader *r, uint64_t head)
{
	return head > r->capacity ? head - r->capacity : 0;
}

static inline void ivr_shmring_cursor_init_(struct ivr_shmring_reader *r, uint32_t i,
					    enum ivr_shmring_from from)
{
	struct ivr_shmring_cursor *c = &r->cur[i];
	/* Acquire: pairs with the producer's release of head (see the file comment). */
	uint64_t head = __atomic_load_n(&ivr_shmring_ctl_(r->base, i)->head, __ATOMIC_ACQUIRE);
	memset(c, 0, sizeof(*c));
	c->head_cache = head;
	if (head == 0) {
		/* Nothing published yet: the first record will be rseq 0, so even a reader
		 * lapped before its first read counts its loss. */
		c->have_rseq = 1;
		return;
	}
	uint64_t w[IVR_SHMRING_MAX_SLOT / 8];
	if (from == IVR_SHMRING_FROM_OLDEST) {
		c->pos = ivr_shmring_oldest_(r, head);
		/* The oldest slot names its record: the first whole record is that one (a FIRST
		 * slot) or the next (a continuation), so losses from here on are counted. */
		if (ivr_shmring_slot_read_(r, i, c->pos, w) == 0) {
			c->next_rseq = w[1] + !((w[2] >> 8) & IVR_SHMRING_F_FIRST);
			c->have_rseq = 1;
		}
		return;
	}
	c->pos = head;
	/* The last slot before head carries the rseq of the newest record, so a reader that
	 * starts at the newest still counts records it is lapped on before its first read. */
	if (ivr_shmring_slot_read_(r, i, head - 1, w) == 0) {
		c->next_rseq = w[1] + 1;
		c->have_rseq = 1;
	}
}

/*
 * Attach a reader to a ring image at @mem (@size bytes, writable: the wait page is
 * written).  Used by ivr_shmring_reader_open(), the fuzzer and tests.
 */
static inline int ivr_shmring_reader_attach_(struct ivr_shmring_reader *r, const void *mem,
					     size_t size, struct ivr_shmring_waitpage *wp,
					     enum ivr_shmring_from from)
{
	int rc = ivr_shmring_check_header_((const struct ivr_shmring_header *)mem, size, r->why,
					   sizeof(r->why));
	if (rc)
		return rc;
	const struct ivr_shmring_header *h = (const struct ivr_shmring_header *)mem;
	r->hdr = h;
	r->base = (const unsigned char *)mem;
	r->wp = wp;
	r->slot_size = h->slot_size;
	r->capacity = h->capacity;
	r->mask = h->capacity - 1;
	r->n_rings = h->n_rings;
	r->max_record_slots = h->max_record_slots;
	r->next_ring = 0;
	r->lost_total = 0;
	for (uint32_t i = 0; i < r->n_rings; i++)
		ivr_shmring_cursor_init_(r, i, from);
	return 0;
}

/**
 * Attach a reader to a ring image already in memory (@size bytes at @mem, writable,
 * 8-byte aligned), e.g. a copy of a ring file.  The image must outlive the reader.
 * @return 0 or the refusal of ivr_shmring_reader_open() (reason in r->why).
 * Thread: the reader's.
 */
IVR_NODISCARD static inline int ivr_shmring_reader_attach(struct ivr_shmring_reader *r, void *mem,
							  size_t size, enum ivr_shmring_from from)
{
	memset(r, 0, sizeof(*r));
	if (!mem || ((uintptr_t)mem & 7)) {
		snprintf(r->why, sizeof(r->why), "misaligned ring image");
		return -EINVAL;
	}
	struct ivr_shmring_waitpage *wp =
		size >= IVR_SHMRING_DATA_OFF
			? (struct ivr_shmring_waitpage *)((unsigned char *)mem + IVR_SHMRING_PAGE)
			: NULL;
	return ivr_shmring_reader_attach_(r, mem, size, wp, from);
}

/**
 * Open the ring @name (shm object, or a file path if it contains '/') for reading.
 * The ring is mapped read-only except for the wait page.
 * @return 0; -ENOENT (no such ring), -EBADMSG (not a ring, garbage, truncated),
 *         -EPROTONOSUPPORT (another layout version), -EAGAIN (being created), or another
 *         negative errno.  r->why says which, in one line.  Thread: the reader's.
 */
IVR_NODISCARD static inline int
ivr_shmring_reader_open(struct ivr_shmring_reader *r, const char *name, enum ivr_shmring_from from)
{
	memset(r, 0, sizeof(*r));
	int rw = 1;
	/* O_NONBLOCK: a FIFO or device named by mistake must not hang the open; it is then
	 * refused as "not a regular file". */
	int fd = ivr_shmring_open_fd_(name, O_RDWR | O_NONBLOCK, 0);
	if (fd < 0 && (errno == EACCES || errno == EROFS)) {
		rw = 0; /* still readable: no sleeping, poll only */
		fd = ivr_shmring_open_fd_(name, O_RDONLY | O_NONBLOCK, 0);
	}
	if (fd < 0) {
		int e = -errno;
		snprintf(r->why, sizeof(r->why), "cannot open ring %.200s: %s", name, strerror(-e));
		return e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(r->why, sizeof(r->why), "%.200s is not a regular file or shm object",
			 name);
		close(fd);
		return -EBADMSG;
	}
	if ((uint64_t)st.st_size < IVR_SHMRING_DATA_OFF) {
		ivr_shmring_check_header_(NULL, (uint64_t)st.st_size, r->why, sizeof(r->why));
		close(fd);
		return -EBADMSG;
	}
	size_t bytes = (size_t)st.st_size;
	void *m = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int e = -errno;
		snprintf(r->why, sizeof(r->why), "mmap %.200s: %s", name, strerror(-e));
		close(fd);
		return e;
	}
	void *wm = MAP_FAILED;
	if (rw)
		wm = mmap(NULL, IVR_SHMRING_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			  IVR_SHMRING_PAGE);
	close(fd);
	int rc = ivr_shmring_reader_attach_(
		r, m, bytes, wm == MAP_FAILED ? NULL : (struct ivr_shmring_waitpage *)wm, from);
	if (rc) {
		munmap(m, bytes);
		if (wm != MAP_FAILED)
			munmap(wm, IVR_SHMRING_PAGE);
		r->hdr = NULL;
		r->base = NULL;
		r->wp = NULL;
		return rc;
	}
	r->map = m;
	r->map_bytes = bytes;
	r->wmap = wm == MAP_FAILED ? NULL : wm;
	return 0;
}

/** Unmap a reader from ivr_shmring_reader_open().  NULL-safe.  Thread: the reader's. */
static inline void ivr_shmring_reader_close(struct ivr_shmring_reader *r)
{
	if (!r)
		return;
	if (r->map)
		munmap(r->map, r->map_bytes);
	if (r->wmap)
		munmap(r->wmap, IVR_SHMRING_PAGE);
	r->map = r->wmap = NULL;
	r->hdr = NULL;
	r->base = NULL;
	r->wp = NULL;
}

/* Re-seat a lapped cursor near the oldest data still held: a quarter of the ring of
 * slack so that the producer does not immediately lap it again. */
static inline void ivr_shmring_resync_(struct ivr_shmring_reader *r, uint32_t ring)
{
	struct ivr_shmring_cursor *c = &r->cur[ring];
	/* Acquire: pairs with the producer's release of head. */
	uint64_t head = __atomic_load_n(&ivr_shmring_ctl_(r->base, ring)->head, __ATOMIC_ACQUIRE);
	uint64_t to = ivr_shmring_oldest_(r, head);
	if (head - to > r->capacity / 4)
		to += r->capacity / 4;
	uint64_t was = c->pos;
	c->head_cache = head;
	c->pos = IVR_MAX(was + 1, to);
	if (c->pos > head)
		c->pos = IVR_MAX(head, was); /* never backwards: that would re-deliver */
}

/* Read one record from sub-ring @ring.  @return 1, 0 (none), -EMSGSIZE. */
static inline int ivr_shmring_read_ring_(struct ivr_shmring_reader *r, uint32_t ring,
					 struct ivr_shmring_rec *rec, void *buf, size_t cap)
{
	struct ivr_shmring_cursor *c = &r->cur[ring];
	const uint32_t ss = r->slot_size, first = ss - IVR_SHMRING_FIRST_HDR,
		       cont = ss - IVR_SHMRING_CONT_HDR;
	uint64_t w[IVR_SHMRING_MAX_SLOT / 8];
	/* Each pass either returns or advances pos toward head, and head - pos is at most
	 * capacity after a resync: bounded even on a garbage image. */
	for (uint64_t guard = 0; guard < 4ull * r->capacity + 8; guard++) {
		if (c->pos >= c->head_cache) {
			/* Past the last head we saw: look at the slot first.  Its word says
			 * whether anything new is there without touching the head line, which
			 * the producer writes on every publish (a spinning reader that polled
			 * head would steal that line from it each time). */
			const uint64_t *slot = ivr_shmring_rslot_(r, ring, c->pos);
			/* Acquire: pairs with the producer's release store of sw. */
			uint64_t sw = __atomic_load_n(&slot[0], __ATOMIC_ACQUIRE);
			uint64_t at = sw >> 1; /* position + 1 the slot holds or is being given */
			if (at < c->pos + 1 || (at == c->pos + 1 && (sw & 1)))
				return 0; /* an older lap, or pos being written: nothing new */
			if (at > c->pos + 1) {
				ivr_shmring_resync_(r, ring); /* a later lap: we were overtaken */
				continue;
			}
			/* Relaxed: only a hint; the validated copy below re-checks sw. */
			uint64_t hint = __atomic_load_n(&slot[2], __ATOMIC_RELAXED);
			if (((hint >> 8) & 0xff) == (IVR_SHMRING_F_FIRST | IVR_SHMRING_F_LAST)) {
				/* A complete one-slot record is published once its sw is (its
				 * release store came before head's): no head load needed. */
				c->head_cache = c->pos + 1;
			} else {
				/* A multi-slot record is complete only below head. */
				c->head_cache = __atomic_load_n(
					&ivr_shmring_ctl_(r->base, ring)->head, __ATOMIC_ACQUIRE);
				/* pos can be ahead of the head we load (a one-slot record whose
				 * head store is not visible yet was consumed); head never goes
				 * backwards otherwise: a new engine creates a new object. */
				if (c->pos >= c->head_cache)
					return 0;
			}
		}
		if (c->head_cache - c->pos > r->capacity) {
			ivr_shmring_resync_(r, ring);
			continue;
		}
		if (ivr_shmring_slot_read_(r, ring, c->pos, w) != 0) {
			ivr_shmring_resync_(r, ring);
			continue;
		}
		uint64_t rseq = w[1];
		uint32_t type = (uint32_t)(w[2] & 0xff), flags = (uint32_t)(w[2] >> 8) & 0xff;
		uint32_t nslots = (uint32_t)(w[2] >> 16) & 0xffff, len = (uint32_t)(w[2] >> 32);
		if (!(flags & IVR_SHMRING_F_FIRST) || nslots < 1 || nslots > r->max_record_slots ||
		    len > ivr_shmring_record_max(ss, nslots) ||
		    (nslots > 1 && len <= ivr_shmring_record_max(ss, nslots - 1)) ||
		    (c->have_rseq && rseq < c->next_rseq)) {
			/* A continuation (we landed mid-record after a lap) or garbage. */
			c->pos++;
			continue;
		}
		if (c->head_cache - c->pos < nslots) {
			c->pos++; /* claims more slots than published: garbage */
			continue;
		}
		if (len > cap)
			return -EMSGSIZE; /* stay here: the caller may retry with a bigger buffer */
		rec->call_id = w[3];
		rec->ts_ns = w[4];
		rec->wall_ms = w[5];
		unsigned char *dst = (unsigned char *)buf;
		size_t n = IVR_MIN((size_t)first, (size_t)len), left = len;
		if (n)
			memcpy(dst, (unsigned char *)w + IVR_SHMRING_FIRST_HDR, n);
		dst += n;
		left -= n;
		int torn = 0;
		for (uint32_t i = 1; i < nslots && !torn; i++) {
			if (ivr_shmring_slot_read_(r, ring, c->pos + i, w) != 0 || w[1] != rseq ||
			    (((w[2] >> 8) & 0xff) & IVR_SHMRING_F_FIRST)) {
				torn = 1;
				break;
			}
			n = IVR_MIN((size_t)cont, left);
			memcpy(dst, (unsigned char *)w + IVR_SHMRING_CONT_HDR, n);
			dst += n;
			left -= n;
		}
		if (torn) {
			/* Overwritten while we read it: the whole record counts as lost (the
			 * next delivered record's rseq shows the gap), never delivered torn. */
			ivr_shmring_resync_(r, ring);
			continue;
		}
		rec->lost_before = c->have_rseq ? rseq - c->next_rseq : 0;
		r->lost_total += rec->lost_before;
		rec->seq = rseq;
		rec->len = len;
		rec->type = (uint8_t)type;
		rec->worker = ring;
		c->next_rseq = rseq + 1;
		c->have_rseq = 1;
		c->pos += nslots;
		return 1;
	}
	return 0;
}

/**
 * Read the next record (sub-rings are visited round-robin; order is kept within each).
 * The payload goes to @buf (@cap bytes; ivr_shmring_reader_max_record() always fits).
 * rec->lost_before says how many records of that sub-ring were overwritten before the
 * reader got to them (exact).
 * @return 1 (a record), 0 (nothing new), -EMSGSIZE (@cap too small; the record stays).
 *         Thread: the reader's; never blocks.
 */
static inline int ivr_shmring_read(struct ivr_shmring_reader *r, struct ivr_shmring_rec *rec,
				   void *buf, size_t cap)
{
	if (!r->base)
		return -EINVAL;
	/* Round-robin without division (it would cost more than reading a slot). */
	uint32_t i = r->next_ring < r->n_rings ? r->next_ring : 0;
	for (uint32_t k = 0; k < r->n_rings; k++) {
		int rc = ivr_shmring_read_ring_(r, i, rec, buf, cap);
		if (++i == r->n_rings)
			i = 0;
		if (rc != 0) {
			r->next_ring = i;
			return rc;
		}
	}
	return 0;
}

/** Largest payload a record of this ring can have.  @return bytes.  Thread: any. */
static inline size_t ivr_shmring_reader_max_record(const struct ivr_shmring_reader *r)
{
	return ivr_shmring_record_max(r->slot_size, r->max_record_slots);
}

/**
 * Whether any sub-ring has slots the reader has not consumed (a poll).
 * @return 1 or 0.  Thread: the reader's.
 */
static inline int ivr_shmring_reader_pending(const struct ivr_shmring_reader *r)
{
	for (uint32_t i = 0; i < r->n_rings; i++) {
		/* Acquire: pairs with the producer's release of head. */
		uint64_t head =
			__atomic_load_n(&ivr_shmring_ctl_(r->base, i)->head, __ATOMIC_ACQUIRE);
		if (head > r->cur[i].pos)
			return 1;
	}
	return 0;
}

/**
 * Sleep until a producer's ivr_shmring_wake() after new records, or @timeout_ms
 * (-1 = forever).  Returns at once if records are pending.  Without a writable wait
 * page (read-only access) it polls every millisecond instead.
 * @return 0 (records pending), -ETIMEDOUT, -EINTR.  Thread: the reader's.
 */
static inline int ivr_shmring_reader_wait(struct ivr_shmring_reader *r, int timeout_ms)
{
	if (ivr_shmring_reader_pending(r))
		return 0;
	uint64_t deadline = timeout_ms >= 0 ? ivr_shmring_now_ns() + (uint64_t)timeout_ms * 1000000u
					    : UINT64_MAX;
	for (;;) {
		uint64_t now = ivr_shmring_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left = deadline - now;
		if (!r->wp) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
			if (ivr_shmring_reader_pending(r))
				return 0;
			continue;
		}
		/* Acquire: pairs with the producer's release increment of wake_seq. */
		uint32_t seq = __atomic_load_n(&r->wp->wake_seq, __ATOMIC_ACQUIRE);
		/* Seq-cst: registers us before we re-check head (Dekker with the fence in
		 * ivr_shmring_wake(): either the producer sees us or we see its records). */
		__atomic_fetch_add(&r->wp->waiters, 1, __ATOMIC_SEQ_CST);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (ivr_shmring_reader_pending(r)) {
			__atomic_fetch_sub(&r->wp->waiters, 1, __ATOMIC_RELAXED);
			return 0;
		}
		struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
		long rc = syscall(SYS_futex, &r->wp->wake_seq, FUTEX_WAIT, seq,
				  timeout_ms < 0 ? NULL : &ts, NULL, 0);
		int e = rc < 0 ? errno : 0;
		/* Relaxed: only a hint for the producer; a crashed sleeper leaves it high,
		 * which costs at most one spare FUTEX_WAKE per tick. */
		__atomic_fetch_sub(&r->wp->waiters, 1, __ATOMIC_RELAXED);
		if (ivr_shmring_reader_pending(r))
			return 0;
		if (e == EINTR)
			return -EINTR;
	}
}

/** Records this reader lost to laps since open.  @return count.  Thread: the reader's. */
static inline uint64_t ivr_shmring_reader_lost(const struct ivr_shmring_reader *r)
{
	return r->lost_total;
}

#endif /* IVR_COMMON_SHMRING_H */
