/* SPDX-License-Identifier: MIT */
/*
 * engine/mixer.h - conferences: each participant hears all others but
 * itself, with per-participant listen/speak control.
 *
 * Every call carries a mix port (struct ivr_mix_port, inside its slot) where
 * its media thread publishes the caller's audio of each tick into a ring of
 * IVR_MIX_RING frames, each stamped with its tick.  A listener's media
 * thread at tick T sums, of every other member that speaks to it, that
 * member's frame of tick T - d, read with a stamp check before and after
 * (the seqlock idea), so no locks are taken on the media path.
 * The delay d is kept per (listener, member) pair, like a two-step jitter
 * buffer.  It starts at IVR_MIX_DELAY_MIN (one tick, 20 ms: members on the
 * listener's own worker published T - 1 in its previous tick, so it is
 * always there).  Members on another worker may run late now and then
 * (descheduled, or catching up after a long tick): when frame T - 1 is not
 * there at tick T but has arrived by tick T + 1, the pair's delay grows to
 * IVR_MIX_DELAY_MAX (40 ms) and the late frame is heard then, so the pair
 * has one tick of silence and loses nothing.  After IVR_MIX_SHRINK_TICKS in
 * a row in which the member's newer frame was already there, the delay
 * shrinks back on a quiet frame (the one dropped).  So every frame is heard
 * at most once, in order: taking "the newest frame" of each member, as this
 * mixer once did, made the listener hear a late member's previous frame
 * twice and then skip one (a click per late tick); a fixed 40 ms for every
 * pair, as it did next, doubled the conference's mouth-to-ear latency
 * (bench_engine p50 29-36 -> 63-76 ms; 47-54 with this, all measured under
 * load) to cover a rare case.  A frame later
 * than IVR_MIX_DELAY_MAX (its worker skipped the tick) is silence, never a
 * repeat.
 * Flags per member: listen (hears the conference), speak (is heard), and a
 * whisper target (speaks to one member only): a supervisor monitors with
 * listen=1 speak=0, whispers with speak_to=agent, barges with speak=1.
 * Membership is changed by the control thread with atomic stores; the media
 * thread reads it.
 *
 * Mixed rates (8 kHz G.711/narrowband Opus members with 16 kHz wideband
 * Opus members): each member still publishes at its own rate, and while its
 * conference has members at the other rate (want_alt, kept by join/leave)
 * it also publishes a copy converted to that rate (speexdsp resampler whose
 * state the call set up at join, ivr_mix_port_set_alt(); nothing is
 * allocated on the media path).  A listener sums each member's frame at its
 * own rate.  So a frame is converted once per speaker per tick, however
 * many listeners hear it; an all-narrowband (or all-wideband) conference
 * converts nothing; no listener's sum is resampled, so the N-1 rule and
 * whisper targets stay per listener as before; a wideband pair hears each
 * other at 16 kHz in a mixed conference, and a narrowband member hears the
 * wideband ones band-limited to 4 kHz, which is all its line carries.
 * Thread: mix/publish RT; join/leave control.
 */
#ifndef IVR_ENGINE_MIXER_H
#define IVR_ENGINE_MIXER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/defs.h"

#define IVR_MIX_FRAME_MAX 320
#define IVR_MIX_RING	  6 /* frames per port: IVR_MIX_DELAY_MAX + 3 ticks of a late listener */
/* ticks between a speaker's frame and the tick a listener hears it (mixer.h) */
#define IVR_MIX_DELAY_MIN 1
#define IVR_MIX_DELAY_MAX 2
/* on-time ticks in a row before a pair's delay shrinks back (10 s) */
#define IVR_MIX_SHRINK_TICKS 500
#define IVR_CONF_MAX_MEMBERS 32
/* a frame converted to the other rate: 20 ms at 16 kHz plus the resampler's slack */
#define IVR_MIX_ALT_FRAME (IVR_MIX_FRAME_MAX + 16)

/** Per-call publication point (lives in the call slot). */
struct ivr_mix_port {
	atomic_uint_fast64_t seq;		  /* tick of the newest frame + 1; 0 = none */
	atomic_uint_fast64_t stamp[IVR_MIX_RING]; /* tick of frames[i] + 1; 0 = being written */
	atomic_int conf;			  /* conference index + 1; 0 = none */
	atomic_bool listen;
	atomic_bool speak;
	atomic_uint speak_to; /* slot + 1 of the only member who hears us; 0 = all */
	uint32_t n_samples;
	uint32_t rate_hz;		 /* the member's rate (set with the call, 8000 or 16000) */
	atomic_bool want_alt;		 /* members at the other rate: publish alt too */
	struct ivr_resampler *alt_rs;	 /* rate_hz -> the other rate, NULL = none yet */
	float (*alt)[IVR_MIX_ALT_FRAME]; /* IVR_MIX_RING frames at the other rate */
	atomic_uint_fast64_t alt_seq;	 /* as seq, for alt */
	atomic_uint_fast64_t alt_stamp[IVR_MIX_RING]; /* as stamp, for alt */
	uint32_t alt_n;
	/* listener side, by conference member index; written only by this call's worker */
	struct {
		uint32_t slot1;	  /* the member (slot + 1) this entry is about; 0 = none */
		uint32_t missed;  /* tick + 1 of its frame that was not there in time; 0 = none */
		uint16_t on_time; /* ticks in a row its newer frame was already there */
		uint8_t delay;	  /* IVR_MIX_DELAY_MIN or IVR_MIX_DELAY_MAX */
	} heard[IVR_CONF_MAX_MEMBERS];
	_Alignas(64) float frames[IVR_MIX_RING][IVR_MIX_FRAME_MAX];
};

/** Bytes ivr_mix_port_set_alt() needs for the alt ring. */
#define IVR_MIX_ALT_BYTES (sizeof(float) * IVR_MIX_RING * IVR_MIX_ALT_FRAME)

/**
 * Give port @p (rate @p->rate_hz) its converter to the other rate: @rs an
 * initialised resampler (rate_hz -> 16000/8000) and @alt IVR_MIX_ALT_BYTES
 * of memory, both owned by the call and kept until its slot is freed.
 * Call before the port joins a conference.  Thread: control.
 */
void ivr_mix_port_set_alt(struct ivr_mix_port *p, struct ivr_resampler *rs, void *alt);

struct ivr_mixer; /* opaque */

/** @return a table of @max_confs conferences, or NULL. Thread: control. */
struct ivr_mixer *ivr_mixer_new(uint32_t max_confs);
void ivr_mixer_free(struct ivr_mixer *m);

/**
 * Tell the mixer where the ports are: port of slot s at @base + s * @stride.
 * Thread: control, before any call starts.
 */
void ivr_mixer_set_ports(struct ivr_mixer *m, void *base, size_t stride, uint32_t n_slots);

/**
 * Add @slot to conference @name (created on first join) with flags.
 * @return 0, -ENOSPC (too many conferences or members), -EINVAL.
 * Thread: control.
 */
IVR_NODISCARD int ivr_mixer_join(struct ivr_mixer *m, const char *name, uint32_t slot, bool listen,
				 bool speak, int64_t speak_to_slot);

/** Change flags of a member. @return 0 or -ENOENT (not in a conference). */
IVR_NODISCARD int ivr_mixer_flags(struct ivr_mixer *m, uint32_t slot, bool listen, bool speak,
				  int64_t speak_to_slot);

/** Remove @slot from its conference. @return 0 or -ENOENT. Thread: control. */
int ivr_mixer_leave(struct ivr_mixer *m, uint32_t slot);

/** @return members of the conference @name, or -ENOENT. */
int ivr_mixer_count(struct ivr_mixer *m, const char *name);

/** Publish @slot's caller audio for @tick. Thread: RT (the call's worker). */
IVR_RT void ivr_mix_port_publish(struct ivr_mix_port *p, uint64_t tick, const float *frame,
				 size_t n_samples);

/**
 * Add to @acc what @slot hears from its conference at @tick: the frame each
 * other member (that speaks to @slot) published for tick @tick - d, d being
 * the pair's delay, 1 or 2 ticks (mixer.h).  Call once per tick, in tick
 * order.  @return the number of members mixed in.
 * Thread: RT.
 */
IVR_RT int ivr_mixer_mix(const struct ivr_mixer *m, uint32_t slot, uint64_t tick, float *acc,
			 size_t n_samples);

#endif /* IVR_ENGINE_MIXER_H */
