/* SPDX-License-Identifier: MIT */
/*
 * engine/recorder.h - call recording to WAV, written off the media thread.
 *
 * Each media worker pushes one record per recorded call per tick (caller and
 * engine audio, int16) into its own single-producer single-consumer ring; a
 * writer thread drains all rings every 20 ms and appends to the files.  The
 * media thread never touches a file: when a ring is full the frame is
 * dropped and counted (-ENOSPC), the call goes on.  A file holds the chosen
 * channels interleaved as 16-bit PCM: caller (what the caller said), engine
 * (what the engine sent) and mixed (their sum, what a listener on the line
 * heard); the header is dsp/wav.h's: plain PCM for 1 or 2 channels,
 * WAVE_FORMAT_EXTENSIBLE (channel mask 0) for 3, as the WAVE spec asks for
 * more than two channels (sox and the like read it).  While paused (sensitive digits) silence is
 * written, so the timeline of the recording stays true. The ring here is deliberately private and
 * minimal; common/ring.h (another engineer's module) is meant to replace it once merged. Thread:
 * push is RT; open/new/free are control; the writer is its own thread.
 */
#ifndef IVR_ENGINE_RECORDER_H
#define IVR_ENGINE_RECORDER_H

#include <stdbool.h>

#include "common/defs.h"

enum ivr_rec_channel {
	IVR_REC_CALLER = 1 << 0,
	IVR_REC_ENGINE = 1 << 1,
	IVR_REC_MIXED = 1 << 2,
};

#define IVR_REC_FRAME_MAX 320

struct ivr_recorder; /* opaque */

struct ivr_recorder_stats {
	uint64_t frames_written, frames_dropped, files_open, files_closed, write_errors;
};

/**
 * @n_rings producers (one per worker), each with @ring_frames records
 * (rounded up to a power of two); @max_slots bounds the slot numbers.
 * Starts the writer thread.  @return the recorder or NULL (errno).
 * Thread: control.
 */
struct ivr_recorder *ivr_recorder_new(unsigned n_rings, uint32_t ring_frames, uint32_t max_slots);

/** Drain everything, close every open file, stop the writer. NULL-safe. */
void ivr_recorder_free(struct ivr_recorder *r);

/**
 * Open @path for the call in @slot with @channels (enum ivr_rec_channel
 * mask, 0 = all three) at @rate_hz.  Any previous recording of the slot is
 * closed first.  *@rec_id identifies this recording in pushes.
 * @return 0, or a negative errno with a reason in @err.  Thread: control.
 */
IVR_NODISCARD int ivr_recorder_open(struct ivr_recorder *r, uint32_t slot, const char *path,
				    unsigned channels, uint32_t rate_hz, uint32_t *rec_id,
				    char *err, size_t err_len);

/**
 * Queue one frame (@caller and @engine, @n_samples each; NULL = silence) for
 * recording @rec_id of @slot on ring @ring.  @end closes the file after this
 * record (n_samples may be 0).
 * @return 0 or -ENOSPC (ring full, frame dropped and counted).  Thread: RT,
 * one producer per ring.
 */
IVR_RT int ivr_recorder_push(struct ivr_recorder *r, unsigned ring, uint32_t slot, uint32_t rec_id,
			     const float *caller, const float *engine, size_t n_samples, bool end);

/** Wait until the writer has consumed everything pushed so far. Thread: control. */
void ivr_recorder_flush(struct ivr_recorder *r);

/** Copy the counters. Thread: any. */
void ivr_recorder_get_stats(struct ivr_recorder *r, struct ivr_recorder_stats *st);

#endif /* IVR_ENGINE_RECORDER_H */
