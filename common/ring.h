/* SPDX-License-Identifier: MIT */
/*
 * common/ring.h - in-process single-producer single-consumer ring of fixed-size records.
 *
 * The spa_ringbuffer design (PipeWire spa/utils/ringbuffer.h) reduced to whole records:
 * two free-running 32-bit indices, a power-of-two number of power-of-two sized records,
 * and index arithmetic modulo 2^32 so "head - tail" is the fill level even after the
 * indices wrap.  The producer owns head, the consumer owns tail; each side caches the
 * other's index (Rigtorp's SPSCQueue) so the shared cache line is only read when the
 * cached value says the ring looks full (producer) or empty (consumer).
 *
 * push() never blocks: a full ring returns -ENOSPC and counts the drop, so a media
 * thread that feeds a slow worker (ASR, logging) loses records instead of time.
 * The state is position-independent (records live in a flexible array member), so it
 * can be placed in any 64-byte aligned arena with ivr_ring_size()/ivr_ring_init().
 *
 * Memory ordering (every atomic below says which side it pairs with):
 *   producer: write record bytes; store-release head   -> consumer load-acquire head
 *   consumer: read record bytes;  store-release tail   -> producer load-acquire tail
 * so a record is never read before it is complete, and never overwritten while read.
 *
 * Thread: exactly one producer thread and one consumer thread (RT-safe on both sides).
 */
#ifndef IVR_COMMON_RING_H
#define IVR_COMMON_RING_H

#include <stdint.h>
#include <string.h>

#include "common/defs.h"

/** SPSC ring control block followed by the records.  Opaque in spirit: use the functions. */
struct ivr_ring {
	/* Producer cache line: head is written only by the producer. */
	uint32_t head IVR_ALIGNED;
	uint32_t tail_cache; /* producer's last seen tail (plain: producer-private) */
	uint64_t drops;	     /* records refused because full; atomic: read by anyone */
	/* Consumer cache line: tail is written only by the consumer. */
	uint32_t tail IVR_ALIGNED;
	uint32_t head_cache; /* consumer's last seen head (plain: consumer-private) */
	/* Read-only after init. */
	uint32_t mask IVR_ALIGNED;
	uint32_t rec_size;
	unsigned char data[] IVR_ALIGNED;
};

static inline int ivr_ring_pow2_(uint32_t v)
{
	return v && !(v & (v - 1));
}

/**
 * Bytes needed for a ring of @n_records records of @rec_size bytes.
 * @return the size for ivr_ring_init(), or 0 if the geometry is invalid (either value
 *         not a power of two, fewer than 2 records, or over 2^31 records).  Thread: any.
 */
static inline size_t ivr_ring_size(uint32_t n_records, uint32_t rec_size)
{
	if (!ivr_ring_pow2_(n_records) || n_records < 2 || n_records > (1u << 31) ||
	    !ivr_ring_pow2_(rec_size))
		return 0;
	return sizeof(struct ivr_ring) + (size_t)n_records * rec_size;
}

/**
 * Initialise a ring in caller memory (64-byte aligned, at least ivr_ring_size() bytes).
 * @return 0, or -EINVAL for a bad geometry, a short or misaligned buffer.  Thread: control,
 *         before either side runs.
 */
IVR_NODISCARD static inline int ivr_ring_init(struct ivr_ring *r, size_t size, uint32_t n_records,
					      uint32_t rec_size)
{
	size_t need = ivr_ring_size(n_records, rec_size);
	if (!r || need == 0 || size < need || ((uintptr_t)r & (IVR_ALIGN - 1)))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->mask = n_records - 1;
	r->rec_size = rec_size;
	return 0;
}

/**
 * Empty the ring and clear the drop counter.  Only when neither side is running.
 * Thread: control.
 */
static inline void ivr_ring_reset(struct ivr_ring *r)
{
	r->head = r->tail = r->tail_cache = r->head_cache = 0;
	r->drops = 0;
}

/**
 * Copy one record (rec_size bytes from @rec) into the ring.
 * @return 0, or -ENOSPC when the ring is full (the drop is counted).  Thread: producer, RT.
 */
IVR_RT static inline int ivr_ring_push(struct ivr_ring *r, const void *rec)
{
	/* Relaxed: only this thread writes head. */
	uint32_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	if (head - r->tail_cache > r->mask) {
		/* Acquire pairs with the consumer's release store of tail: its reads of the
		 * slot we are about to overwrite are complete before we write it. */
		r->tail_cache = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (head - r->tail_cache > r->mask) {
			/* Relaxed: a statistic, no data depends on it. */
			__atomic_fetch_add(&r->drops, 1, __ATOMIC_RELAXED);
			return -ENOSPC;
		}
	}
	memcpy(r->data + (size_t)(head & r->mask) * r->rec_size, rec, r->rec_size);
	/* Release pairs with the consumer's acquire load of head: the record bytes above are
	 * visible before the new head is. */
	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
	return 0;
}

/**
 * Oldest unread record, in place (zero-copy); pair with ivr_ring_read_advance().
 * @return a pointer to rec_size bytes valid until the advance, or NULL when empty.
 *         Thread: consumer, RT.
 */
IVR_RT static inline const void *ivr_ring_read_ptr(struct ivr_ring *r)
{
	/* Relaxed: only this thread writes tail. */
	uint32_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	if (tail == r->head_cache) {
		/* Acquire pairs with the producer's release store of head: the record bytes
		 * are visible once the index that covers them is. */
		r->head_cache = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		if (tail == r->head_cache)
			return NULL;
	}
	return r->data + (size_t)(tail & r->mask) * r->rec_size;
}

/**
 * Release the record returned by ivr_ring_read_ptr() back to the producer.
 * Thread: consumer, RT.
 */
IVR_RT static inline void ivr_ring_read_advance(struct ivr_ring *r)
{
	uint32_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	/* Release pairs with the producer's acquire load of tail: our reads of the slot
	 * happen before the producer may reuse it. */
	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
}

/**
 * Copy the oldest record out of the ring.
 * @return 0, or -EAGAIN when the ring is empty.  Thread: consumer, RT.
 */
IVR_RT static inline int ivr_ring_pop(struct ivr_ring *r, void *rec)
{
	const void *p = ivr_ring_read_ptr(r);
	if (!p)
		return -EAGAIN;
	memcpy(rec, p, r->rec_size);
	ivr_ring_read_advance(r);
	return 0;
}

/**
 * Records currently queued (a snapshot; exact only from the consumer when the producer
 * is idle).  @return 0..n_records.  Thread: any.
 */
static inline uint32_t ivr_ring_count(const struct ivr_ring *r)
{
	/* Acquire on both: a consistent-enough snapshot for statistics. */
	uint32_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	uint32_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	return head - tail;
}

/**
 * Records refused by ivr_ring_push() since init.  @return the count.  Thread: any.
 */
static inline uint64_t ivr_ring_drops(const struct ivr_ring *r)
{
	/* Relaxed: a statistic. */
	return __atomic_load_n(&r->drops, __ATOMIC_RELAXED);
}

#endif /* IVR_COMMON_RING_H */
