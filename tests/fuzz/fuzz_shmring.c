/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_shmring.c - ring images and event payloads from outside: a reader must
 * refuse or read them without crashing, and every delivered record must render as JSON.
 *
 * First byte selects the mode:
 *   0  the bytes are a ring file image (header checks, then reads);
 *   1  a valid header built from the next bytes (slot size, capacity, rings, max record,
 *      heads), slots filled from the rest, some slot seqlock words made consistent with
 *      the heads so the record parser (flags, nslots, len, continuations) is reached;
 *   2  the bytes are an event payload for ivr_event_to_json().
 */
#include "config.h"

#include <stdlib.h>

#include "common/shmring.h"
#include "engine/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char json[1 << 17];

static void drain(void *img, size_t n, enum ivr_shmring_from from)
{
	struct ivr_shmring_reader r;
	if (ivr_shmring_reader_attach(&r, img, n, from) != 0)
		return;
	size_t cap = ivr_shmring_reader_max_record(&r);
	unsigned char *buf = malloc(cap ? cap : 1);
	struct ivr_shmring_rec rec;
	for (int i = 0; i < 2000; i++) {
		int rc = ivr_shmring_read(&r, &rec, buf, cap);
		if (rc != 1)
			break;
		if (rec.len > cap)
			abort(); /* the reader promised the buffer bound */
		ivr_event_to_json(&rec, buf, json, sizeof(json));
	}
	ivr_shmring_reader_pending(&r);
	free(buf);
}

static uint64_t take(const uint8_t **p, size_t *n, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t) * *p << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 3;
	data++;
	size--;
	if (mode == 2) {
		struct ivr_shmring_rec rec = { .type = size ? data[0] : 0,
					       .len = (uint32_t)(size ? size - 1 : 0) };
		ivr_event_to_json(&rec, size ? data + 1 : NULL, json, sizeof(json));
		ivr_event_to_json(&rec, size ? data + 1 : NULL, json, 64); /* overflow path */
		return 0;
	}
	if (mode == 0) {
		void *img =
			aligned_alloc(IVR_SHMRING_PAGE, IVR_ROUND_UP(size + 1, IVR_SHMRING_PAGE));
		memcpy(img, data, size);
		drain(img, size, IVR_SHMRING_FROM_OLDEST);
		drain(img, size, IVR_SHMRING_FROM_NEWEST);
		free(img);
		return 0;
	}
	uint32_t slot = 64u << (take(&data, &size, 1) % 3);
	uint32_t cap = 4u << (take(&data, &size, 1) % 5);
	uint32_t rings = 1 + (uint32_t)(take(&data, &size, 1) % 3);
	uint32_t maxrec = 1 + (uint32_t)(take(&data, &size, 1) % (cap / 2));
	size_t total = IVR_SHMRING_DATA_OFF + (size_t)slot * cap * rings;
	unsigned char *img = aligned_alloc(IVR_SHMRING_PAGE, IVR_ROUND_UP(total, IVR_SHMRING_PAGE));
	memset(img, 0, total);
	struct ivr_shmring_header *h = (struct ivr_shmring_header *)img;
	h->magic = IVR_SHMRING_MAGIC;
	h->version = IVR_SHMRING_VERSION;
	h->data_off = IVR_SHMRING_DATA_OFF;
	h->slot_size = slot;
	h->capacity = cap;
	h->n_rings = rings;
	h->max_record_slots = maxrec;
	h->file_bytes = total;
	uint64_t heads[3];
	for (uint32_t i = 0; i < rings; i++) {
		heads[i] = take(&data, &size, 2);
		if (take(&data, &size, 1) & 1)
			heads[i] += UINT64_MAX - 70000; /* near the top of the sequence space */
		ivr_shmring_ctl_(img, i)->head = heads[i];
	}
	unsigned char *slots = img + IVR_SHMRING_DATA_OFF;
	size_t area = (size_t)slot * cap * rings;
	for (size_t i = 0; size && i < area; i++)
		slots[i] = data[i % size];
	/* Make slot words valid for the held window where the input says so. */
	for (uint32_t i = 0; i < rings; i++) {
		uint64_t base = heads[i] > cap ? heads[i] - cap : 0;
		for (uint64_t p = base, k = 0; p < heads[i]; p++, k++) {
			if (size && !(data[k % size] & 0x80))
				continue;
			uint64_t *sw =
				(uint64_t *)(slots + ((size_t)i * cap + (p & (cap - 1))) * slot);
			sw[0] = (p + 1) << 1;
		}
	}
	drain(img, total, IVR_SHMRING_FROM_OLDEST);
	drain(img, total, IVR_SHMRING_FROM_NEWEST);
	free(img);
	return 0;
}
