/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_dspchain.c - the per-call DSP chain on real signals.
 *
 * Signals are made here and sent through G.711 mu-law like a call's audio:
 * DTMF digits from dsp/tone.h, RFC 4733 packets from the dsp/rfc4733.h
 * sender, fax CNG bursts, and recorded speech from Debian's
 * pocketsphinx-testdata (goforward.raw as the prompt the engine plays,
 * numbers.raw as the caller), resampled to 8 kHz.  The echo of the prompt
 * in the caller's audio is the sent signal delayed 60 ms, low-pass filtered
 * with a second tap 6 ms later, attenuated by about 12 dB, plus idle noise
 * at -70 dBFS.  Checked: digit onsets/durations; exactly one report per
 * digit whatever mix of in-band and RFC 4733 (also with a lost first
 * packet and lost end packets); no false barge-in on echo after
 * convergence (and a negative control without the canceller); caller speech
 * on top of the echo starts within 200 ms; the ASR records start <= 300 ms
 * before the speech start and end after its end; a full ASR ring drops,
 * counts and closes the utterance; the echo guard for the engine's own
 * in-band digits; fax CNG; key presses alone give no speech event and no
 * ASR frame, speech / key / speech gives two utterances and the key once;
 * no digit from the engine's own flow prompts (flite slt and rms) echoed
 * back 6-12 dB down; and no allocation on the process path
 * (malloc interposed by tests/harness/ivr_alloc_guard.h; skipped under ASan).
 * The speech cases skip when pocketsphinx-testdata is not installed, the
 * prompt case when flite is (renders cached in /tmp/ivr-test-prompts-UID).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "asr/flow.h"
#include "dsp/g711.h"
#include "dsp/resample.h"
#include "dsp/rfc4733.h"
#include "dsp/wav.h"
#include "dsp/tone.h"
#include "engine/dspchain.h"
#if IVR_HAVE_ASR
#include "asr/testset.h"
#endif
#include "ivr_speech.h"
#include "ivr_alloc_guard.h"
#include "ivr_test.h"

/* ------------------------------------------------------------ helpers */

#define RATE  8000
#define FR    160
#define MS(x) ((uint64_t)(x)*RATE / 1000)

/* Everything one run of the chain reported. */
struct log {
	struct ivr_media_event ev[256];
	uint64_t at[256]; /* chain clock when reported */
	int n;
};

static void log_add(struct log *l, const struct ivr_dspchain_out *o, uint64_t clock)
{
	for (uint32_t i = 0; i < o->n_events && l->n < 256; i++) {
		l->at[l->n] = clock;
		l->ev[l->n++] = o->ev[i];
	}
}

static int count(const struct log *l, uint8_t type, int source)
{
	int k = 0;
	for (int i = 0; i < l->n; i++)
		if (l->ev[i].type == type && (source < 0 || l->ev[i].source == source))
			k++;
	return k;
}

/* Digit string of the STARTs, in order. */
static void starts(const struct log *l, char *buf, size_t cap)
{
	size_t k = 0;
	for (int i = 0; i < l->n && k + 1 < cap; i++)
		if (l->ev[i].type == IVR_MEDIA_EV_DTMF_START)
			buf[k++] = l->ev[i].digit;
	buf[k] = 0;
}

/* In-band digits: @on_ms tone, @off_ms gap each, at @lead_ms; returns samples, onsets out. */
static float *make_digits(const char *digits, uint32_t lead_ms, uint32_t on_ms, uint32_t off_ms,
			  float level_dbm0, size_t *n_out, uint64_t *onset)
{
	size_t nd = strlen(digits), n = MS(lead_ms) + nd * MS(on_ms + off_ms) + MS(1000);
	n = IVR_ROUND_UP(n, FR);
	float *x = calloc(n, sizeof(float));
	struct ivr_tone_dtmf p = { .level_dbm0 = level_dbm0, .twist_db = 2.0f, .ramp_ms = 2.0f };
	for (size_t i = 0; i < nd; i++) {
		size_t at = MS(lead_ms) + i * MS(on_ms + off_ms);
		if (onset)
			onset[i] = at;
		if (ivr_tone_dtmf_add(x + at, MS(on_ms), RATE, digits[i], &p) < 0)
			abort();
	}
	ivr_speech_ulaw(x, n);
	*n_out = n;
	return x;
}

/* RFC 4733 packets of @digits, one per 20 ms tick, as the sender makes them. */
struct pkts {
	struct ivr_rfc4733_tx_pkt p[1024];
	uint32_t tick[1024]; /* tick at which it was sent */
	uint16_t seq[1024];
	int n;
};

static void make_pkts(struct pkts *k, const char *digits, uint32_t lead_ms, uint32_t on_ms,
		      uint32_t off_ms, uint32_t ticks)
{
	struct ivr_rfc4733_tx *tx = ivr_rfc4733_tx_new(NULL);
	k->n = 0;
	uint16_t seq = 1000;
	bool queued = false;
	for (uint32_t t = 0; t < ticks && k->n < 1024; t++) {
		if (!queued && t * 20 >= lead_ms) {
			if (ivr_rfc4733_tx_send(tx, digits, on_ms, off_ms) < 0)
				abort();
			queued = true;
		}
		struct ivr_rfc4733_tx_pkt pk;
		uint32_t ts = 5000 + t * FR;
		if (ivr_rfc4733_tx_tick(tx, ts, &pk) == 1) {
			k->p[k->n] = pk;
			k->tick[k->n] = t;
			k->seq[k->n++] = seq;
		}
		seq++; /* audio packets take the other sequence numbers */
	}
	ivr_rfc4733_tx_free(tx);
}

static struct ivr_dspchain *chain(const struct ivr_dspchain_cfg *cfg)
{
	struct ivr_dspchain *ch = ivr_dspchain_new(cfg);
	if (!ch)
		fprintf(stderr, "ivr_dspchain_new: %s\n", strerror(errno));
	return ch;
}

/*
 * Run @near through the chain, delivering packet i at tick tick[i] + @pkt_delay
 * (negative: earlier than the audio) unless @drop says so.
 */
static void run(struct ivr_dspchain *ch, const float *near, const float *far, size_t n,
		const struct pkts *k, int pkt_delay, const uint8_t *drop, struct log *l,
		struct ivr_ring *asr, unsigned flags)
{
	struct ivr_dspchain_out o;
	int pi = 0;
	for (size_t t = 0; t * FR + FR <= n; t++) {
		while (k && pi < k->n && (long)k->tick[pi] + pkt_delay <= (long)t) {
			if (!drop || !drop[pi]) {
				int r = ivr_dspchain_rfc4733(ch, k->p[pi].payload, k->p[pi].n_bytes,
							     k->p[pi].timestamp, k->seq[pi],
							     k->p[pi].marker, &o);
				ivr_check(r >= 0);
				log_add(l, &o, ivr_dspchain_samples(ch));
			}
			pi++;
		}
		int r = ivr_dspchain_process(ch, near + t * FR, far ? far + t * FR : NULL, FR,
					     flags, asr, &o);
		ivr_check(r >= 0);
		log_add(l, &o, ivr_dspchain_samples(ch));
	}
}

static const char DIGITS[] = "1234567890*#ABCD";

/* ------------------------------------------------------------- DTMF */

IVR_TEST(inband_onset_duration)
{
	uint64_t onset[16];
	size_t n;
	float *x = make_digits(DIGITS, 300, 70, 60, -12.0f, &n, onset);
	struct ivr_dspchain *ch = chain(NULL);
	static struct log l;
	l.n = 0;
	run(ch, x, NULL, n, NULL, 0, NULL, &l, NULL, 0);
	char got[32];
	starts(&l, got, sizeof(got));
	ivr_check_msg(!strcmp(got, DIGITS), "got %s", got);
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_END, IVR_MEDIA_SRC_INBAND), 16);
	int e = 0;
	for (int i = 0; i < l.n; i++) {
		if (l.ev[i].type != IVR_MEDIA_EV_DTMF_END || e >= 16)
			continue;
		ivr_check_int_eq(l.ev[i].source, IVR_MEDIA_SRC_INBAND);
		ivr_check_near((double)l.ev[i].sample, (double)onset[e], MS(5));
		ivr_check_near((double)l.ev[i].duration_samples, (double)MS(70), MS(5));
		e++;
	}
	ivr_dspchain_free(ch);
	free(x);
	return IVR_TEST_RESULT();
}

IVR_TEST(rfc4733_alone)
{
	static struct pkts k;
	make_pkts(&k, DIGITS, 300, 100, 60, 300);
	float *x = calloc(300 * FR, sizeof(float));
	struct ivr_dspchain *ch = chain(NULL);
	static struct log l;
	l.n = 0;
	run(ch, x, NULL, 300 * FR, &k, 0, NULL, &l, NULL, 0);
	char got[32];
	starts(&l, got, sizeof(got));
	ivr_check_msg(!strcmp(got, DIGITS), "got %s", got);
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_START, IVR_MEDIA_SRC_RFC4733), 16);
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_END, IVR_MEDIA_SRC_RFC4733), 16);
	for (int i = 0; i < l.n; i++)
		if (l.ev[i].type == IVR_MEDIA_EV_DTMF_END)
			ivr_check_near((double)l.ev[i].duration_samples, (double)MS(100), MS(20));
	ivr_dspchain_free(ch);
	free(x);
	return IVR_TEST_RESULT();
}

/*
 * Both sources carry the same digits.  @delay: ticks by which the packets
 * lag the audio (negative: they lead, as they do in the engine where audio
 * waits in the jitter buffer).  Each digit must be reported once.
 */
static void both(int delay, bool drop_first, int *n_start, int *n_end, char *got, size_t cap,
		 int *n_rfc)
{
	size_t n;
	float *x = make_digits(DIGITS, 300, 100, 60, -10.0f, &n, NULL);
	static struct pkts k;
	make_pkts(&k, DIGITS, 300, 100, 60, (uint32_t)(n / FR));
	uint8_t drop[1024] = { 0 };
	if (drop_first)
		for (int i = 0; i < k.n; i++)
			drop[i] = k.p[i].marker; /* first packet of every event */
	struct ivr_dspchain *ch = chain(NULL);
	static struct log l;
	l.n = 0;
	run(ch, x, NULL, n, &k, delay, drop, &l, NULL, 0);
	*n_start = count(&l, IVR_MEDIA_EV_DTMF_START, -1);
	*n_end = count(&l, IVR_MEDIA_EV_DTMF_END, -1);
	*n_rfc = count(&l, IVR_MEDIA_EV_DTMF_START, IVR_MEDIA_SRC_RFC4733);
	starts(&l, got, cap);
	ivr_dspchain_free(ch);
	free(x);
}

IVR_TEST(both_sources_once)
{
	static const int delays[] = { -3, 0, 2, 5, 10 };
	for (size_t d = 0; d < IVR_N_ELEMENTS(delays); d++) {
		for (int lost = 0; lost < 2; lost++) {
			int ns, ne, nr;
			char got[64];
			both(delays[d], lost, &ns, &ne, got, sizeof(got), &nr);
			ivr_check_msg(ns == 16 && ne == 16 && !strcmp(got, DIGITS),
				      "delay %d ticks, lost first %d: %d starts %d ends '%s'",
				      delays[d], lost, ns, ne, got);
			/*
			 * After the first telephone-event every digit comes from RFC 4733;
			 * before it, in-band may have reported the digits keyed while
			 * the packets lagged (one per 160 ms of lag, plus one).
			 */
			int inband_max = delays[d] <= 0 ? 0 : delays[d] * 20 / 160 + 1;
			ivr_check_msg(nr >= 16 - inband_max, "delay %d: %d from rfc4733", delays[d],
				      nr);
		}
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(rfc4733_lost_packets)
{
	static struct pkts k;
	make_pkts(&k, "159#", 100, 120, 100, 200);
	float *x = calloc(200 * FR, sizeof(float));
	uint8_t drop[1024] = { 0 };
	/* First packet of every event lost, and all three end packets of '9'. */
	int ev = -1;
	for (int i = 0; i < k.n; i++) {
		struct ivr_rfc4733_payload p;
		ivr_check(ivr_rfc4733_parse(k.p[i].payload, 4, &p, 1) == 1);
		if (k.p[i].marker)
			ev++, drop[i] = 1;
		if (ev == 2 && p.end)
			drop[i] = 1;
	}
	struct ivr_dspchain *ch = chain(NULL);
	static struct log l;
	l.n = 0;
	run(ch, x, NULL, 200 * FR, &k, 0, drop, &l, NULL, 0);
	char got[16];
	starts(&l, got, sizeof(got));
	ivr_check_msg(!strcmp(got, "159#"), "got %s", got);
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_END, IVR_MEDIA_SRC_RFC4733), 4);
	ivr_dspchain_free(ch);
	free(x);
	return IVR_TEST_RESULT();
}

IVR_TEST(own_dtmf_echo_guard)
{
	/* The engine sends digits in-band; their echo (-12 dB, 40 ms) comes back. */
	size_t n;
	float *far = make_digits("2580", 200, 100, 100, -8.0f, &n, NULL);
	float *near = calloc(n, sizeof(float));
	for (size_t i = MS(40); i < n; i++)
		near[i] = 0.25f * far[i - MS(40)];
	ivr_speech_ulaw(near, n);
	for (int guard = 0; guard < 2; guard++) {
		struct ivr_dspchain *ch = chain(NULL);
		struct ivr_dspchain_out o;
		static struct log l;
		l.n = 0;
		for (size_t t = 0; t * FR + FR <= n; t++) {
			/* far of tick t is what was sent in tick t-1 */
			const float *f = t ? far + (t - 1) * FR : NULL;
			unsigned fl = 0;
			if (guard && f && ivr_speech_ms(f, FR) > 0)
				fl = IVR_DSPCHAIN_F_FAR_DTMF;
			ivr_check(ivr_dspchain_process(ch, near + t * FR, f, FR, fl, NULL, &o) >=
				  0);
			log_add(&l, &o, ivr_dspchain_samples(ch));
		}
		int ns = count(&l, IVR_MEDIA_EV_DTMF_START, -1);
		if (guard)
			ivr_check_msg(ns == 0, "%d digits from the engine's own echo", ns);
		else
			ivr_check_msg(ns > 0, "control: echo of own digits not detected at all");
		ivr_dspchain_free(ch);
	}
	free(far);
	free(near);
	return IVR_TEST_RESULT();
}

/* ------------------------------------------------------------- fax */

IVR_TEST(fax_cng)
{
	size_t n = IVR_ROUND_UP(MS(8000), FR);
	float *x = calloc(n, sizeof(float));
	for (int b = 0; b < 2; b++) {
		size_t at = MS(500) + (size_t)b * MS(3500);
		ivr_check(ivr_tone_sine_add(x + at, MS(500), RATE, 1100.0f, -15.0f, NULL) == 0);
	}
	ivr_speech_ulaw(x, n);
	struct ivr_dspchain *ch = chain(NULL);
	static struct log l;
	l.n = 0;
	run(ch, x, NULL, n, NULL, 0, NULL, &l, NULL, 0);
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_FAX_CNG, -1), 2);
	for (int i = 0; i < l.n; i++)
		if (l.ev[i].type == IVR_MEDIA_EV_FAX_CNG) {
			ivr_check_near((double)l.ev[i].duration_samples, (double)MS(500), MS(30));
			ivr_check(l.ev[i].sample == MS(500) || l.ev[i].sample + MS(30) > MS(500));
		}
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_START, -1), 0);
	ivr_dspchain_free(ch);
	free(x);
	return IVR_TEST_RESULT();
}

/* ------------------------------------------------------------ speech */

struct scene {
	float *far;  /* what the engine sent, frame t at t*FR (mu-law) */
	float *near; /* caller's audio: echo + caller + noise (mu-law) */
	size_t n;
	size_t onset; /* caller speech first sample */
	size_t end;   /* caller speech last sample + 1 */
	bool ok;
};

static bool load(struct ivr_audio *a, const char *file, double dbfs)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", IVR_SPEECH_PS_DIR, file);
	if (ivr_speech_read_raw16k(a, path, RATE) < 0)
		return false;
	ivr_speech_dc_block(a->samples, a->n_samples, RATE);
	ivr_speech_trim(a, 0);
	ivr_speech_set_level(a->samples, a->n_samples, RATE, dbfs);
	return true;
}

/*
 * Prompt looped over @secs seconds; the caller talks from @caller_at_ms
 * (0 = never) over it.  Echo: 60 ms bulk, [0.25 0.5 0.25] low-pass, second
 * tap 6 ms later at -20 dB, total about -12 dB.
 */
static struct scene make_scene(double secs, uint32_t caller_at_ms, double caller_dbfs)
{
	struct scene s = { 0 };
	struct ivr_audio prompt = { 0 }, caller = { 0 };
	if (!load(&prompt, "goforward.raw", -20.0) || !load(&caller, "numbers.raw", caller_dbfs))
		return s;
	s.n = IVR_ROUND_UP((size_t)(secs * RATE), FR);
	s.far = calloc(s.n, sizeof(float));
	s.near = calloc(s.n, sizeof(float));
	/* The prompt with 300 ms gaps, looped: what an IVR menu sounds like. */
	for (size_t i = 0, p = 0; i < s.n; i++) {
		s.far[i] = p < prompt.n_samples ? prompt.samples[p] : 0.0f;
		if (++p >= prompt.n_samples + MS(300))
			p = 0;
	}
	ivr_speech_ulaw(s.far, s.n);
	const size_t d = MS(60), d2 = MS(66);
	for (size_t i = d2 + 2; i < s.n; i++)
		s.near[i] = 0.25f * (0.25f * s.far[i - d] + 0.5f * s.far[i - d - 1] +
				     0.25f * s.far[i - d - 2]) +
			    0.1f * 0.25f * s.far[i - d2];
	uint64_t seed = 12345;
	const double nrms = pow(10.0, -70.0 / 20.0);
	for (size_t i = 0; i < s.n; i++)
		s.near[i] += (float)(nrms * ivr_speech_gauss(&seed));
	if (caller_at_ms) {
		s.onset = MS(caller_at_ms);
		s.end = IVR_MIN(s.n, s.onset + caller.n_samples);
		for (size_t i = s.onset; i < s.end; i++)
			s.near[i] += caller.samples[i - s.onset];
	}
	ivr_speech_ulaw(s.near, s.n);
	ivr_audio_free(&prompt);
	ivr_audio_free(&caller);
	s.ok = true;
	return s;
}

static void free_scene(struct scene *s)
{
	free(s->far);
	free(s->near);
}

/* Run a scene: far of tick t = the frame sent in tick t-1. */
static void run_scene(struct ivr_dspchain *ch, const struct scene *s, struct log *l,
		      struct ivr_ring *asr)
{
	struct ivr_dspchain_out o;
	for (size_t t = 0; t * FR + FR <= s->n; t++) {
		const float *f = t ? s->far + (t - 1) * FR : NULL;
		int r = ivr_dspchain_process(ch, s->near + t * FR, f, FR, 0, asr, &o);
		ivr_check(r >= 0);
		log_add(l, &o, ivr_dspchain_samples(ch));
	}
}

static struct ivr_ring *ring_new(uint32_t n_rec)
{
	size_t sz = ivr_ring_size(n_rec, sizeof(struct ivr_asr_frame));
	struct ivr_ring *r = aligned_alloc(IVR_ALIGN, IVR_ROUND_UP(sz, IVR_ALIGN));
	if (ivr_ring_init(r, sz, n_rec, sizeof(struct ivr_asr_frame)) < 0)
		abort();
	return r;
}

IVR_TEST(echo_no_false_barge_in)
{
	struct scene s = make_scene(12.0, 0, 0);
	if (!s.ok)
		return IVR_TEST_SKIP;
	for (int aec = 1; aec >= 0; aec--) {
		struct ivr_dspchain_cfg cfg = { .no_aec = (uint8_t)!aec };
		struct ivr_dspchain *ch = chain(&cfg);
		static struct log l;
		l.n = 0;
		run_scene(ch, &s, &l, NULL);
		int late = 0, all = 0;
		for (int i = 0; i < l.n; i++)
			if (l.ev[i].type == IVR_MEDIA_EV_SPEECH_START) {
				all++;
				late += l.ev[i].sample >= MS(3000);
			}
		printf("  echo only, %s: %d speech_start (%d after 3 s)\n",
		       aec ? "with AEC" : "without AEC", all, late);
		if (aec)
			ivr_check_msg(late == 0, "%d false barge-ins after convergence", late);
		else
			ivr_check_msg(late > 0, "negative control: raw echo never started speech");
		ivr_dspchain_free(ch);
	}
	free_scene(&s);
	return IVR_TEST_RESULT();
}

IVR_TEST(barge_in_and_asr_handoff)
{
	const uint32_t at_ms = 6000;
	struct scene s = make_scene(11.0, at_ms, -26.0);
	if (!s.ok)
		return IVR_TEST_SKIP;
	struct ivr_dspchain *ch = chain(&(struct ivr_dspchain_cfg){ .call_id = 77 });
	struct ivr_ring *ring = ring_new(1024);
	static struct log l;
	l.n = 0;
	run_scene(ch, &s, &l, ring);
	/* The first speech_start at or after 3 s is the caller's. */
	int si = -1, ei = -1;
	for (int i = 0; i < l.n; i++) {
		if (l.ev[i].type == IVR_MEDIA_EV_SPEECH_START && l.ev[i].sample >= MS(3000)) {
			ivr_check_msg(si >= 0 || l.ev[i].sample + MS(100) >= s.onset,
				      "false start at %.0f ms", l.ev[i].sample * 1000.0 / RATE);
			if (si < 0)
				si = i;
		}
		if (si >= 0 && ei < 0 && i > si && l.ev[i].type == IVR_MEDIA_EV_SPEECH_END)
			ei = i;
	}
	ivr_check(si >= 0 && ei >= 0);
	if (si >= 0 && ei >= 0) {
		double lat = ((double)l.at[si] - (double)s.onset) * 1000.0 / RATE;
		printf("  caller onset %zu ms: speech_start at %.0f ms (reported %.0f ms after "
		       "onset), speech_end %.0f ms (speech ends %.0f ms)\n",
		       s.onset * 1000 / RATE, l.ev[si].sample * 1000.0 / RATE, lat,
		       l.ev[ei].sample * 1000.0 / RATE, s.end * 1000.0 / RATE);
		ivr_check_msg(lat <= 200.0, "speech_start %.0f ms after onset", lat);
		ivr_check_near((double)l.ev[si].sample, (double)s.onset, MS(150));

		struct ivr_asr_reasm *ra = ivr_asr_reasm_new(4, MS(30000));
		struct ivr_asr_utt u;
		int got = 0;
		while (ivr_asr_reasm_poll(ra, ring, &u) == 1) {
			if (u.start_sample + u.n_samples <= MS(3000))
				continue; /* an echo-onset utterance before convergence */
			got++;
			ivr_check_int_eq(u.call_id, 77);
			ivr_check(!(u.flags & IVR_ASR_F_ABORTED));
			double pre =
				((double)l.ev[si].sample - (double)u.start_sample) * 1000.0 / RATE;
			double post =
				((double)(u.start_sample + u.n_samples) - (double)l.ev[ei].sample) *
				1000.0 / RATE;
			printf("  ASR utterance %u: starts %.0f ms before speech_start, ends %.0f "
			       "ms after speech_end, %zu ms\n",
			       u.utt_id, pre, post, u.n_samples * 1000 / RATE);
			ivr_check_msg(pre >= 280.0 && pre <= 300.0, "pre-roll %.0f ms", pre);
			ivr_check_msg(post >= 0, "ends %.0f ms before speech_end", post);
			ivr_check(u.start_sample + u.n_samples >= s.end);
		}
		ivr_check_int_eq(got, 1);
		struct ivr_dspchain_stats st;
		ivr_dspchain_get_stats(ch, &st);
		ivr_check_int_eq(st.asr_drops, 0);
		ivr_asr_reasm_free(ra);
	}
	free(ring);
	ivr_dspchain_free(ch);
	free_scene(&s);
	return IVR_TEST_RESULT();
}

/* Where in-band detection goes: before or after the canceller (report in the output). */
/*
 * Without an ASR ring the chain keeps no pre-roll history; a ring given
 * 100 ms before the caller starts gets an utterance whose pre-roll reaches
 * back only to the frame the VAD was at then (60 ms behind), not 300 ms
 * into history that was never kept.
 */
IVR_TEST(preroll_from_ring_start)
{
	const uint32_t at_ms = 6000;
	struct scene s = make_scene(11.0, at_ms, -26.0);
	if (!s.ok)
		return IVR_TEST_SKIP;
	struct ivr_dspchain *ch = chain(&(struct ivr_dspchain_cfg){ .call_id = 78 });
	struct ivr_ring *ring = ring_new(1024);
	const size_t t_ring = (s.onset - MS(100)) / FR;
	struct ivr_dspchain_out o;
	for (size_t t = 0; t * FR + FR <= s.n; t++) {
		const float *f = t ? s.far + (t - 1) * FR : NULL;
		ivr_check(ivr_dspchain_process(ch, s.near + t * FR, f, FR, 0,
					       t >= t_ring ? ring : NULL, &o) >= 0);
	}
	struct ivr_asr_reasm *ra = ivr_asr_reasm_new(4, MS(30000));
	struct ivr_asr_utt u;
	int got = 0;
	while (ivr_asr_reasm_poll(ra, ring, &u) == 1) {
		got++;
		printf("  ring from %.0f ms: utterance %.0f-%.0f ms\n", t_ring * FR * 1000.0 / RATE,
		       u.start_sample * 1000.0 / RATE,
		       (u.start_sample + u.n_samples) * 1000.0 / RATE);
		ivr_check_int_eq(u.start_sample, (t_ring - 3) * FR);
		ivr_check(!(u.flags & IVR_ASR_F_ABORTED));
		ivr_check(u.start_sample + u.n_samples >= s.end);
	}
	ivr_check_int_eq(got, 1);
	ivr_asr_reasm_free(ra);
	free(ring);
	ivr_dspchain_free(ch);
	free_scene(&s);
	return IVR_TEST_RESULT();
}

IVR_TEST(dtmf_before_vs_after_aec)
{
	/*
	 * The caller keys digits over the prompt's echo (about -26 dBm0) from
	 * 4 s on.  Measured and printed for both placements; asserted for the
	 * chain's placement (before the canceller) where phones really are:
	 * short presses at -16 dBm0 and long presses (2 s, a held key) at
	 * -20 dBm0.  Weak short presses at the echo's own level (-26 dBm0) are
	 * only printed: the canceller's output wins there, but it splits held
	 * keys into several digits because speexdsp's suppressor learns a
	 * stationary tone as noise (see engine/dspchain.h).
	 */
	static const struct {
		uint32_t on_ms;
		float dbm0;
		bool assert_before;
	} cond[] = { { 70, -16.0f, true }, { 70, -26.0f, false }, { 2000, -20.0f, true } };
	for (size_t c = 0; c < IVR_N_ELEMENTS(cond); c++) {
		struct scene s = make_scene(cond[c].on_ms > 1000 ? 38.0 : 10.0, 0, 0);
		if (!s.ok)
			return IVR_TEST_SKIP;
		size_t n;
		float *keys = make_digits(DIGITS, 4000, cond[c].on_ms, 60, cond[c].dbm0, &n, NULL);
		for (size_t i = 0; i < s.n && i < n; i++)
			s.near[i] += keys[i];
		int found[2], ends_ok[2];
		for (int after = 0; after < 2; after++) {
			struct ivr_dspchain_cfg cfg = { .dtmf_on_aec_output = (uint8_t)after };
			struct ivr_dspchain *ch = chain(&cfg);
			static struct log l;
			l.n = 0;
			run_scene(ch, &s, &l, NULL);
			char got[64];
			starts(&l, got, sizeof(got));
			found[after] = count(&l, IVR_MEDIA_EV_DTMF_START, -1);
			ends_ok[after] = 0;
			for (int i = 0; i < l.n; i++)
				if (l.ev[i].type == IVR_MEDIA_EV_DTMF_END &&
				    fabs((double)l.ev[i].duration_samples -
					 (double)MS(cond[c].on_ms)) <= MS(10))
					ends_ok[after]++;
			printf("  %u ms at %.0f dBm0, DTMF %s the canceller: %d/16 digits '%s', "
			       "%d durations within 10 ms\n",
			       cond[c].on_ms, (double)cond[c].dbm0, after ? "after " : "before",
			       found[after], got, ends_ok[after]);
			if (!after && cond[c].assert_before) {
				ivr_check_msg(!strcmp(got, DIGITS), "before the AEC: '%s'", got);
				ivr_check_int_eq(ends_ok[0], 16);
			}
			ivr_dspchain_free(ch);
		}
		if (cond[c].on_ms > 1000)
			ivr_check(ends_ok[0] >
				  ends_ok[1]); /* held keys: the reason for the choice */
		free(keys);
		free_scene(&s);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(asr_ring_full_drops)
{
	struct scene s = make_scene(11.0, 6000, -26.0);
	if (!s.ok)
		return IVR_TEST_SKIP;
	struct ivr_dspchain *ch = chain(&(struct ivr_dspchain_cfg){ .call_id = 5 });
	struct ivr_ring *ring = ring_new(8);
	static struct log l;
	l.n = 0;
	/* Nobody reads until the end: the producer must drop, count and go on. */
	struct ivr_dspchain_out o;
	size_t t = 0;
	for (; t * FR + FR <= s.n; t++) {
		const float *f = t ? s.far + (t - 1) * FR : NULL;
		ivr_check(ivr_dspchain_process(ch, s.near + t * FR, f, FR, 0, ring, &o) >= 0);
		log_add(&l, &o, ivr_dspchain_samples(ch));
	}
	struct ivr_dspchain_stats st;
	ivr_dspchain_get_stats(ch, &st);
	ivr_check(st.asr_drops > 0);
	ivr_check(ivr_ring_drops(ring) == st.asr_drops);
	ivr_check(st.utt_aborted > 0);
	/* Drain, then one more frame: the owed LAST|ABORTED marker gets through. */
	struct ivr_asr_reasm *ra = ivr_asr_reasm_new(2, MS(30000));
	struct ivr_asr_utt u;
	while (ivr_asr_reasm_poll(ra, ring, &u) == 1)
		;
	float zero[FR] = { 0 };
	ivr_check(ivr_dspchain_process(ch, zero, NULL, FR, 0, ring, &o) >= 0);
	int fin = 0;
	while (ivr_asr_reasm_poll(ra, ring, &u) == 1) {
		fin++;
		ivr_check(u.flags & IVR_ASR_F_ABORTED);
		ivr_check_int_eq(u.n_samples, 8 * FR);
	}
	ivr_check_int_eq(fin, 1);
	ivr_asr_reasm_free(ra);
	free(ring);
	ivr_dspchain_free(ch);
	free_scene(&s);
	return IVR_TEST_RESULT();
}

IVR_TEST(reasm_gaps_and_bad_input)
{
	struct ivr_asr_reasm *ra = ivr_asr_reasm_new(1, 4 * FR);
	struct ivr_asr_frame f = { .call_id = 1, .utt_id = 1, .n_samples = FR };
	struct ivr_asr_utt u;
	f.flags = IVR_ASR_F_FIRST;
	ivr_check_int_eq(ivr_asr_reasm_feed(ra, &f, &u), 0);
	/* A second call while the only slot is busy: refused. */
	struct ivr_asr_frame g = f;
	g.call_id = 2;
	ivr_check_int_eq(ivr_asr_reasm_feed(ra, &g, &u), -ENOSPC);
	f.flags = 0;
	f.frame_idx = 2; /* frame 1 lost */
	ivr_check_int_eq(ivr_asr_reasm_feed(ra, &f, &u), 0);
	f.frame_idx = 3;
	f.flags = IVR_ASR_F_LAST;
	ivr_check_int_eq(ivr_asr_reasm_feed(ra, &f, &u), 1);
	ivr_check(u.flags & IVR_ASR_F_ABORTED);
	ivr_check_int_eq(u.n_samples, 3 * FR);
	f.n_samples = FR + 1;
	ivr_check_int_eq(ivr_asr_reasm_feed(ra, &f, &u), -EINVAL);
	ivr_check_int_eq(ivr_asr_reasm_feed(NULL, &f, &u), -EINVAL);
	ivr_check(ivr_asr_reasm_new(0, 10) == NULL && errno == EINVAL);
	ivr_asr_reasm_free(ra);
	ivr_asr_reasm_free(NULL);
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_input_and_reset)
{
	ivr_check_int_eq(ivr_dspchain_size(&(struct ivr_dspchain_cfg){ .rate_hz = 44100 }), 0);
	ivr_check(ivr_dspchain_new(&(struct ivr_dspchain_cfg){ .rate_hz = 48000 }) == NULL &&
		  errno == ENOTSUP);
	ivr_check(ivr_dspchain_new(&(struct ivr_dspchain_cfg){ .preroll_ms = 2000 }) == NULL &&
		  errno == EINVAL);
	size_t sz = ivr_dspchain_size(NULL);
	ivr_check(sz > 0);
	unsigned char *mem = aligned_alloc(64, IVR_ROUND_UP(sz + 64, 64));
	ivr_check_int_eq(ivr_dspchain_init((struct ivr_dspchain *)mem, sz - 1, NULL), -EINVAL);
	ivr_check_int_eq(ivr_dspchain_init((struct ivr_dspchain *)(mem + 8), sz, NULL), -EINVAL);
	struct ivr_dspchain *ch = (struct ivr_dspchain *)mem;
	ivr_check_int_eq(ivr_dspchain_init(ch, sz, NULL), 0);
	struct ivr_dspchain_out o;
	float x[FR] = { 0 };
	ivr_check_int_eq(ivr_dspchain_process(ch, x, NULL, 80, 0, NULL, &o), -EINVAL);
	ivr_check_int_eq(ivr_dspchain_process(ch, NULL, NULL, FR, 0, NULL, &o), -EINVAL);
	ivr_check_int_eq(ivr_dspchain_process(NULL, x, NULL, FR, 0, NULL, &o), -EINVAL);
	const uint8_t bad[3] = { 1, 2, 3 };
	ivr_check_int_eq(ivr_dspchain_rfc4733(ch, bad, 3, 0, 0, true, &o), -EBADMSG);
	ivr_check_int_eq(ivr_dspchain_rfc4733(ch, NULL, 4, 0, 0, true, &o), -EINVAL);
	/* NaN/Inf audio: no crash, no events. */
	float nan[FR];
	for (int i = 0; i < FR; i++)
		nan[i] = i & 1 ? NAN : INFINITY;
	for (int i = 0; i < 50; i++)
		ivr_check_int_eq(ivr_dspchain_process(ch, nan, nan, FR, 0, NULL, &o), 0);
	/* A telephone-event, then reset: rule 1 must not outlive the call. */
	uint8_t pl[4];
	struct ivr_rfc4733_payload p = { .event = 5, .duration = 160 };
	ivr_check(ivr_rfc4733_build(pl, 4, &p) == 4);
	ivr_check_int_eq(ivr_dspchain_rfc4733(ch, pl, 4, 100, 1, true, &o), 1);
	ivr_check_int_eq(ivr_dspchain_reset(ch, 9), 0);
	ivr_check_int_eq(ivr_dspchain_samples(ch), 0);
	size_t n;
	float *d = make_digits("7", 100, 100, 100, -10.0f, &n, NULL);
	static struct log l;
	l.n = 0;
	run(ch, d, NULL, n, NULL, 0, NULL, &l, NULL, 0);
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_START, IVR_MEDIA_SRC_INBAND), 1);
	free(d);
	ivr_dspchain_fini(ch);
	ivr_dspchain_fini(ch); /* idempotent */
	free(mem);
	ivr_dspchain_free(NULL);
	return IVR_TEST_RESULT();
}

IVR_TEST(process_does_not_allocate)
{
#ifdef IVR_ASAN
	return IVR_TEST_SKIP; /* ASan owns malloc */
#else
	struct scene s = make_scene(9.0, 4000, -26.0);
	if (!s.ok)
		return IVR_TEST_SKIP;
	size_t n;
	float *d = make_digits("123", 7000, 100, 100, -10.0f, &n, NULL);
	for (size_t i = 0; i < s.n && i < n; i++)
		s.near[i] += d[i];
	static struct pkts k;
	make_pkts(&k, "45", 8000, 100, 60, (uint32_t)(s.n / FR));
	struct ivr_dspchain *ch = chain(NULL);
	struct ivr_ring *ring = ring_new(64);
	struct ivr_asr_frame rec;
	static struct log l;
	l.n = 0;
	atomic_store(&ivr_alloc_hits, 0);
	ivr_alloc_armed = 1;
	struct ivr_dspchain_out o;
	int pi = 0;
	for (size_t t = 0; t * FR + FR <= s.n; t++) {
		while (pi < k.n && k.tick[pi] <= t) {
			(void)ivr_dspchain_rfc4733(ch, k.p[pi].payload, 4, k.p[pi].timestamp,
						   k.seq[pi], k.p[pi].marker, &o);
			log_add(&l, &o, 0);
			pi++;
		}
		const float *f = t ? s.far + (t - 1) * FR : NULL;
		(void)ivr_dspchain_process(ch, s.near + t * FR, f, FR, 0, ring, &o);
		log_add(&l, &o, 0);
		while (ivr_ring_pop(ring, &rec) == 0) /* the consumer, elsewhere */
			;
	}
	ivr_alloc_armed = 0;
	int clean_hits = atomic_load(&ivr_alloc_hits);
	ivr_check_msg(clean_hits == 0, "%d allocations on the process path", clean_hits);
	/* It did real work meanwhile. */
	ivr_check(count(&l, IVR_MEDIA_EV_SPEECH_START, -1) >= 1);
	ivr_check(count(&l, IVR_MEDIA_EV_DTMF_START, -1) >= 4);
	/* Negative control: the interposer does see an allocation. */
	ivr_alloc_armed = 1;
	void *p = ivr_alloc_malloc_fn(16);
	ivr_alloc_armed = 0;
	free(p);
	ivr_check(atomic_load(&ivr_alloc_hits) > clean_hits);
	free(ring);
	ivr_dspchain_free(ch);
	free(d);
	free_scene(&s);
	return IVR_TEST_RESULT();
#endif
}

/* ------------------------------------------------- DTMF is not speech */

/* Background noise at @dbfs (so the VAD has a floor to learn), added to @x. */
static void add_noise(float *x, size_t n, double dbfs, uint64_t seed)
{
	const double a = pow(10.0, dbfs / 20.0);
	for (size_t i = 0; i < n; i++)
		x[i] += (float)(a * ivr_speech_gauss(&seed));
}

/* Speech events, ASR records and utterances of one run with an ASR ring. */
struct vad_run {
	int starts, ends;
	uint64_t start_at[8];
	uint64_t asr_frames;
	int utts;
};

static struct vad_run run_with_asr(const float *near, size_t n, struct log *l)
{
	struct vad_run v = { 0 };
	struct ivr_dspchain *ch = chain(NULL);
	struct ivr_ring *ring = ring_new(512);
	struct ivr_asr_reasm *ra = ivr_asr_reasm_new(2, MS(30000));
	struct ivr_asr_utt u;
	l->n = 0;
	run(ch, near, NULL, n, NULL, 0, NULL, l, ring, 0);
	while (ivr_asr_reasm_poll(ra, ring, &u) == 1)
		v.utts++;
	struct ivr_dspchain_stats st;
	ivr_dspchain_get_stats(ch, &st);
	v.asr_frames = st.asr_frames;
	for (int i = 0; i < l->n; i++) {
		if (l->ev[i].type == IVR_MEDIA_EV_SPEECH_START && v.starts < 8)
			v.start_at[v.starts++] = l->ev[i].sample;
		v.ends += l->ev[i].type == IVR_MEDIA_EV_SPEECH_END;
	}
	ivr_asr_reasm_free(ra);
	free(ring);
	ivr_dspchain_free(ch);
	return v;
}

/* Keys alone, short and held, loud and weak: digits, never speech, nothing to the ASR. */
IVR_TEST(dtmf_is_not_speech)
{
	static const struct {
		uint32_t on_ms, off_ms;
		float dbm0;
	} cases[] = {
		{ 70, 70, -8.0f }, { 150, 300, -4.0f }, { 1500, 500, -10.0f }, { 45, 45, -20.0f }
	};
	static struct log l;
	for (size_t c = 0; c < IVR_N_ELEMENTS(cases); c++) {
		size_t n;
		float *x = make_digits(DIGITS, 700, cases[c].on_ms, cases[c].off_ms, cases[c].dbm0,
				       &n, NULL);
		add_noise(x, n, -65.0, 7 + c);
		ivr_speech_ulaw(x, n);
		struct vad_run v = run_with_asr(x, n, &l);
		char got[64];
		starts(&l, got, sizeof(got));
		printf("  %u ms keys at %.0f dBm0: digits '%s', %d speech_start, %d speech_end, "
		       "%llu ASR frames\n",
		       cases[c].on_ms, (double)cases[c].dbm0, got, v.starts, v.ends,
		       (unsigned long long)v.asr_frames);
		ivr_check_msg(!strcmp(got, DIGITS), "digits once each");
		ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_END, -1), 16);
		ivr_check_int_eq(v.starts, 0);
		ivr_check_int_eq(v.ends, 0);
		ivr_check_int_eq(v.asr_frames, 0);
		ivr_check_int_eq(v.utts, 0);
		free(x);
	}
	return IVR_TEST_RESULT();
}

/*
 * Speech, a loud key 300 ms after it, speech 300 ms after the key (quieter
 * than the tone by 20 dB): both utterances start and end, the digit comes
 * once, and the ASR gets two utterances without the tone.
 */
IVR_TEST(speech_digit_speech)
{
	struct ivr_audio a = { 0 }, b = { 0 };
	if (!load(&a, "numbers.raw", -26.0) || !load(&b, "goforward.raw", -26.0)) {
		ivr_audio_free(&a);
		return IVR_TEST_SKIP;
	}
	const size_t on_a = MS(800), dig = on_a + a.n_samples + MS(300);
	const size_t on_b = dig + MS(150) + MS(300);
	const size_t n = IVR_ROUND_UP(on_b + b.n_samples + MS(1200), FR);
	float *x = calloc(n, sizeof(float));
	memcpy(x + on_a, a.samples, a.n_samples * sizeof(float));
	memcpy(x + on_b, b.samples, b.n_samples * sizeof(float));
	struct ivr_tone_dtmf p = { .level_dbm0 = -6.0f, .twist_db = 2.0f, .ramp_ms = 2.0f };
	ivr_check(ivr_tone_dtmf_add(x + dig, MS(150), RATE, '5', &p) == 0);
	add_noise(x, n, -65.0, 99);
	ivr_speech_ulaw(x, n);
	static struct log l;
	struct vad_run v = run_with_asr(x, n, &l);
	char got[16];
	starts(&l, got, sizeof(got));
	printf("  speech %.0f-%.0f ms, key 5 at %.0f ms, speech %.0f-%.0f ms: digits '%s', "
	       "speech_start at",
	       on_a / 8.0, (on_a + a.n_samples) / 8.0, dig / 8.0, on_b / 8.0,
	       (on_b + b.n_samples) / 8.0, got);
	for (int i = 0; i < v.starts; i++)
		printf(" %.0f", v.start_at[i] / 8.0);
	printf(" ms, %d speech_end, %d ASR utterances\n", v.ends, v.utts);
	ivr_check_msg(!strcmp(got, "5"), "the key once");
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_END, -1), 1);
	ivr_check_int_eq(v.starts, 2);
	ivr_check_int_eq(v.ends, 2);
	ivr_check_int_eq(v.utts, 2);
	if (v.starts == 2) {
		ivr_check(llabs((long long)v.start_at[0] - (long long)on_a) < (long long)MS(200));
		ivr_check(llabs((long long)v.start_at[1] - (long long)on_b) < (long long)MS(200));
	}
	free(x);
	ivr_audio_free(&a);
	ivr_audio_free(&b);
	return IVR_TEST_RESULT();
}

/* --------------------------------------------- talk-off on own prompts */

#if IVR_HAVE_ASR
/* The engine's own prompts, concatenated with 300 ms gaps (8 kHz, as the engine sends them). */
struct prompts {
	float *x;
	size_t n;
	int count;
};

static int add_prompt(struct prompts *p, const char *text, const char *voice, const char *cache)
{
	char wav[1024], err[256];
	struct ivr_audio a;
	/* The engine's own rendering (engine/flowsvc.c): flite, peak -6 dBFS, 8 kHz mu-law. */
	if (ivr_testset_render(text, voice, cache, wav, sizeof(wav)) < 0 ||
	    ivr_wav_read(&a, wav, RATE, err, sizeof(err)) < 0)
		return -1;
	float *nx = realloc(p->x, (p->n + a.n_samples + MS(300)) * sizeof(float));
	if (!nx) {
		ivr_audio_free(&a);
		return -1;
	}
	p->x = nx;
	memcpy(p->x + p->n, a.samples, a.n_samples * sizeof(float));
	memset(p->x + p->n + a.n_samples, 0, MS(300) * sizeof(float));
	p->n += a.n_samples + MS(300);
	p->count++;
	ivr_audio_free(&a);
	return 0;
}

/* Every prompt_text/reprompt_text (and no_match/no_input text) of @flow_file in @voice. */
static int load_prompts(struct prompts *p, const char *flow_file, const char *voice,
			const char *cache)
{
	char path[512], err[256];
	snprintf(path, sizeof(path), "%s/grammars/%s", IVR_SOURCE_DIR, flow_file);
	struct ivr_flow *fl;
	if (ivr_flow_load(&fl, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "  %s: %s\n", path, err);
		return -1;
	}
	int r = 0;
	for (size_t i = 0; i < fl->n_nodes && r == 0; i++) {
		const struct ivr_flow_node *nd = &fl->nodes[i];
		const char *t[] = { nd->prompt_text, nd->reprompt_text, nd->no_match_text,
				    nd->no_input_text };
		for (size_t k = 0; k < IVR_N_ELEMENTS(t) && r == 0; k++)
			if (t[k])
				r = add_prompt(p, t[k], voice, cache);
	}
	ivr_flow_free(fl);
	return r;
}
#endif

/*
 * Issue 3 (DTMF): no digits from the engine's own prompts echoed back.
 * Every prompt of grammars/bank.yaml and grammars/hotline.yaml, rendered as
 * the engine renders it (flite slt and rms; cached in a temp folder, so
 * only the first run renders), is sent to the caller; the caller's line
 * echoes it (bulk delay, a [0.25 0.5 0.25] low-pass, 6-12 dB down) back
 * through G.711 mu-law with -70 dBFS of noise, into the chain with the sent
 * prompt as the canceller's reference: no digit.  A key pressed at the end
 * (-10 dBm0, 80 ms) must still come once, so the path is live.
 */
IVR_TEST(own_prompts_echo_no_talkoff)
{
#if !IVR_HAVE_ASR
	printf("  note: built without asr (flow prompts are not rendered), skipped\n");
	return IVR_TEST_SKIP;
#else
	if (system("command -v flite >/dev/null 2>&1") != 0) {
		printf("  note: flite not installed, skipped\n");
		return IVR_TEST_SKIP;
	}
	char cache[64];
	snprintf(cache, sizeof(cache), "/tmp/ivr-test-prompts-%u", (unsigned)getuid());
	static const char *const voices[] = { "slt", "rms" };
	static const struct {
		uint32_t delay_ms;
		float atten_db;
	} paths[] = { { 20, 6.0f }, { 64, 9.0f }, { 150, 12.0f } };
	int total = 0;
	for (size_t v = 0; v < IVR_N_ELEMENTS(voices); v++) {
		struct prompts p = { 0 };
		int r = load_prompts(&p, "bank.yaml", voices[v], cache);
		if (r == 0)
			r = load_prompts(&p, "hotline.yaml", voices[v], cache);
		ivr_check_msg(r == 0 && p.count >= 20, "%s: prompts rendered %d", voices[v],
			      p.count);
		if (r < 0) {
			free(p.x);
			continue;
		}
		/* room for the echo's delay, the control key and the detector's tail */
		const size_t key_at = p.n + MS(200), n = IVR_ROUND_UP(key_at + MS(600), FR);
		float *far = calloc(n, sizeof(float)), *near = calloc(n, sizeof(float));
		memcpy(far, p.x, p.n * sizeof(float));
		ivr_speech_ulaw(far, n);
		for (size_t e = 0; e < IVR_N_ELEMENTS(paths); e++) {
			const size_t d = MS(paths[e].delay_ms);
			const float g = powf(10.0f, -paths[e].atten_db / 20.0f);
			memset(near, 0, n * sizeof(float));
			for (size_t i = d + 2; i < n; i++)
				near[i] = g * (0.25f * far[i - d] + 0.5f * far[i - d - 1] +
					       0.25f * far[i - d - 2]);
			add_noise(near, n, -70.0, 31 + e);
			struct ivr_tone_dtmf k = { .level_dbm0 = -10.0f, .twist_db = 2.0f };
			ivr_check(ivr_tone_dtmf_add(near + key_at, MS(80), RATE, '5', &k) == 0);
			ivr_speech_ulaw(near, n);
			struct ivr_dspchain *ch = chain(NULL);
			struct ivr_dspchain_out o;
			int digits = 0, key = 0;
			for (size_t t = 0; t * FR + FR <= n; t++) {
				const float *f = t ? far + (t - 1) * FR : NULL;
				ivr_check(ivr_dspchain_process(ch, near + t * FR, f, FR, 0, NULL,
							       &o) >= 0);
				for (uint32_t i = 0; i < o.n_events; i++) {
					if (o.ev[i].type != IVR_MEDIA_EV_DTMF_START)
						continue;
					if (o.ev[i].sample + MS(20) >= key_at) {
						key += o.ev[i].digit == '5';
						continue;
					}
					digits++;
					fprintf(stderr,
						"  talk-off: %s, echo %u ms -%.0f dB: '%c' at "
						"%.0f ms\n",
						voices[v], paths[e].delay_ms,
						(double)paths[e].atten_db, o.ev[i].digit,
						o.ev[i].sample / 8.0);
				}
			}
			printf("  %s: %d prompts, %.1f s, echo %u ms -%.0f dB: %d digits from "
			       "the prompts, control key %d\n",
			       voices[v], p.count, p.n / 8000.0, paths[e].delay_ms,
			       (double)paths[e].atten_db, digits, key);
			ivr_check_int_eq(key, 1);
			total += digits;
			ivr_dspchain_free(ch);
		}
		free(far);
		free(near);
		free(p.x);
	}
	ivr_check_int_eq(total, 0);
	return IVR_TEST_RESULT();
#endif
}

/* ---------------------------------------------------- 16 kHz (wideband Opus calls) */

/* Energy of @x above 4 kHz relative to all of it (a one-pole high-pass is enough to tell). */
static double hf_share(const int16_t *x, size_t n)
{
	double all = 0, hi = 0;
	for (size_t i = 2; i < n; i++) {
		/* second difference: +12 dB/octave, about 0 dB at 4 kHz of a 16 kHz signal */
		double d = ((double)x[i] - 2.0 * x[i - 1] + x[i - 2]) / 4.0;
		all += (double)x[i] * x[i];
		hi += d * d;
	}
	return all > 0 ? hi / all : 0;
}

/*
 * The whole chain at 16 kHz: in-band digits (onsets, durations), fax CNG,
 * echo of a prompt cancelled (no false speech), the caller's speech started
 * and handed to the ASR as 16 kHz records (IVR_ASR_F_WB, two per frame)
 * that keep the speech's energy above 4 kHz.
 */
IVR_TEST(wideband_16k)
{
	const uint32_t wr = 16000, wf = 320;
#define WMS(x) ((size_t)(x)*16)
	struct ivr_dspchain *ch = chain(&(struct ivr_dspchain_cfg){ .rate_hz = wr, .call_id = 16 });
	ivr_check(ch != NULL);
	if (!ch)
		return IVR_TEST_RESULT();
	/* digits and a fax CNG burst */
	size_t n = WMS(16 * 130 + 3000);
	n = IVR_ROUND_UP(n, wf);
	float *x = calloc(n, sizeof(float));
	struct ivr_tone_dtmf p = { .level_dbm0 = -12.0f, .twist_db = 2.0f, .ramp_ms = 2.0f };
	for (size_t i = 0; i < 16; i++)
		ivr_check(ivr_tone_dtmf_add(x + WMS(300 + i * 130), WMS(70), wr, DIGITS[i], &p) ==
			  0);
	size_t fax_at = WMS(300 + 16 * 130 + 300);
	ivr_check(ivr_tone_sine_add(x + fax_at, WMS(500), wr, 1100.0f, -15.0f, NULL) == 0);
	static struct log l;
	l.n = 0;
	struct ivr_dspchain_out o;
	for (size_t t = 0; t * wf + wf <= n; t++) {
		ivr_check(ivr_dspchain_process(ch, x + t * wf, NULL, wf, 0, NULL, &o) >= 0);
		log_add(&l, &o, ivr_dspchain_samples(ch));
	}
	/* a 8 kHz frame length is refused at 16 kHz */
	ivr_check(ivr_dspchain_process(ch, x, NULL, 160, 0, NULL, &o) == -EINVAL);
	char got[32];
	starts(&l, got, sizeof(got));
	ivr_check_msg(!strcmp(got, DIGITS), "got %s", got);
	int e = 0;
	for (int i = 0; i < l.n; i++) {
		if (l.ev[i].type == IVR_MEDIA_EV_DTMF_END && e < 16) {
			ivr_check_near((double)l.ev[i].sample, (double)WMS(300 + e * 130), WMS(5));
			ivr_check_near((double)l.ev[i].duration_samples, (double)WMS(70), WMS(5));
			e++;
		}
	}
	ivr_check_int_eq(e, 16);
	ivr_check_int_eq(count(&l, IVR_MEDIA_EV_FAX_CNG, -1), 1);
	for (int i = 0; i < l.n; i++)
		if (l.ev[i].type == IVR_MEDIA_EV_FAX_CNG)
			ivr_check_near((double)l.ev[i].duration_samples, (double)WMS(500), WMS(30));
	free(x);
	ivr_dspchain_free(ch);

	/* speech over the echo of a prompt, at 16 kHz (no G.711: a wideband leg) */
	char path[256];
	struct ivr_audio pr = { 0 }, ca = { 0 };
	snprintf(path, sizeof(path), "%s/goforward.raw", IVR_SPEECH_PS_DIR);
	bool ok = ivr_speech_read_raw16k(&pr, path, wr) == 0;
	snprintf(path, sizeof(path), "%s/numbers.raw", IVR_SPEECH_PS_DIR);
	ok = ivr_speech_read_raw16k(&ca, path, wr) == 0 && ok;
	if (!ok) {
		ivr_audio_free(&pr);
		ivr_audio_free(&ca);
		return IVR_TEST_SKIP;
	}
	ivr_speech_dc_block(pr.samples, pr.n_samples, wr);
	ivr_speech_dc_block(ca.samples, ca.n_samples, wr);
	ivr_speech_trim(&ca, 0);
	ivr_speech_set_level(pr.samples, pr.n_samples, wr, -20.0);
	ivr_speech_set_level(ca.samples, ca.n_samples, wr, -26.0);
	const size_t at = WMS(6000);
	n = IVR_ROUND_UP(at + ca.n_samples + WMS(1500), wf);
	float *far = calloc(n, sizeof(float)), *near = calloc(n, sizeof(float));
	for (size_t i = 0, q = 0; i < n; i++) {
		far[i] = q < pr.n_samples ? pr.samples[q] : 0.0f;
		if (++q >= pr.n_samples + WMS(300))
			q = 0;
	}
	const size_t d = WMS(60);
	uint64_t seed = 99;
	for (size_t i = d + 2; i < n; i++)
		near[i] = 0.25f * (0.25f * far[i - d] + 0.5f * far[i - d - 1] +
				   0.25f * far[i - d - 2]) +
			  (float)(pow(10.0, -70.0 / 20.0) * ivr_speech_gauss(&seed));
	for (size_t i = 0; i < ca.n_samples && at + i < n; i++)
		near[at + i] += ca.samples[i];
	ch = chain(&(struct ivr_dspchain_cfg){ .rate_hz = wr, .call_id = 16 });
	struct ivr_ring *ring = ring_new(2048);
	l.n = 0;
	for (size_t t = 0; t * wf + wf <= n; t++) {
		ivr_check(ivr_dspchain_process(ch, near + t * wf, t ? far + (t - 1) * wf : NULL, wf,
					       0, ring, &o) >= 0);
		log_add(&l, &o, ivr_dspchain_samples(ch));
	}
	int si = -1;
	for (int i = 0; i < l.n; i++)
		if (l.ev[i].type == IVR_MEDIA_EV_SPEECH_START && l.ev[i].sample >= WMS(3000)) {
			ivr_check_msg(si >= 0 || l.ev[i].sample + WMS(100) >= at,
				      "false start at %.0f ms", l.ev[i].sample / 16.0);
			if (si < 0)
				si = i;
		}
	ivr_check(si >= 0);
	struct ivr_asr_reasm *ra = ivr_asr_reasm_new(4, WMS(30000));
	struct ivr_asr_utt u;
	int utts = 0;
	double hf_last = 0;
	while (ivr_asr_reasm_poll(ra, ring, &u) == 1) {
		if (u.start_sample + u.n_samples <= WMS(3000))
			continue;
		utts++;
		ivr_check_int_eq(u.rate_hz, 16000);
		ivr_check(!(u.flags & IVR_ASR_F_ABORTED));
		ivr_check(u.start_sample + WMS(400) >= at && u.start_sample <= at + WMS(150));
		ivr_check(u.n_samples >= ca.n_samples / 2);
		double hf = hf_share(u.pcm, u.n_samples);
		printf("  16 kHz: caller onset %zu ms, speech_start %.0f ms, ASR utterance %zu ms "
		       "from %.0f ms, high-band energy share %.3f\n",
		       at / 16, si >= 0 ? l.ev[si].sample / 16.0 : -1.0, u.n_samples / 16,
		       u.start_sample / 16.0, hf);
		hf_last = hf;
	}
	ivr_check(utts >= 1);
	/* the reference: the caller's speech band-limited to 4 kHz (16 -> 8 -> 16 kHz) */
	float *nb = NULL, *wb = NULL;
	size_t n_nb = 0, n_wb = 0;
	ivr_check(ivr_resample_buffer(ca.samples, ca.n_samples, wr, &nb, &n_nb, 8000) == 0);
	ivr_check(ivr_resample_buffer(nb, n_nb, 8000, &wb, &n_wb, wr) == 0);
	int16_t *w16 = calloc(n_wb + 1, sizeof(int16_t));
	for (size_t i = 0; i < n_wb; i++)
		w16[i] = ivr_f32_to_s16(wb[i]);
	double hf_nb = hf_share(w16, n_wb);
	printf("  same speech band-limited to 4 kHz: high-band energy share %.3f\n", hf_nb);
	ivr_check_msg(hf_last > 1.5 * hf_nb, "ASR %.4f vs band-limited %.4f", hf_last, hf_nb);
	free(nb);
	free(wb);
	free(w16);
	struct ivr_dspchain_stats st;
	ivr_dspchain_get_stats(ch, &st);
	ivr_check_int_eq(st.asr_drops, 0);
	ivr_check(st.aec_frames > 0);
	ivr_asr_reasm_free(ra);
	free(ring);
	ivr_dspchain_free(ch);
	free(far);
	free(near);
	ivr_audio_free(&pr);
	ivr_audio_free(&ca);
#undef WMS
	return IVR_TEST_RESULT();
}

/* ---------------------------------------------------------- listening */

/*
 * ivr_dspchain_listen(): the caller ("numbers.raw", -26 dBFS) talks at 3 s
 * over -65 dBFS noise, a key at 1 s.  Not listening: the digit, no speech
 * event, no ASR record.  Listening from 2 s on (the VAD
 * reset at 2 s): the same speech_start as a chain that listened all along,
 * within 20 ms.  Stopping 500 ms into the speech: SPEECH_END at once, the
 * utterance closed (one utterance out of the reassembler), nothing after.
 */
IVR_TEST(listen_only_when_consumed)
{
	struct ivr_audio caller = { 0 };
	if (!load(&caller, "numbers.raw", -26.0))
		return IVR_TEST_SKIP;
	const size_t n = IVR_ROUND_UP(MS(3000) + caller.n_samples + MS(1500), FR);
	float *x = calloc(n, sizeof(float));
	for (size_t i = 0; i < caller.n_samples; i++)
		x[MS(3000) + i] = caller.samples[i];
	ivr_check(ivr_tone_dtmf_add(x + MS(1000), MS(100), RATE, '5', NULL) == 0);
	add_noise(x, n, -65.0, 3);
	ivr_speech_ulaw(x, n);

	/* mode 0: always listening (reference), 1: never, 2: from 2 s, 3: until 3.5 s */
	uint64_t first_start[4] = { 0 };
	for (int mode = 0; mode < 4; mode++) {
		struct ivr_dspchain *ch = chain(NULL);
		struct ivr_ring *ring = ring_new(1024);
		static struct log l;
		l.n = 0;
		struct ivr_dspchain_out o;
		uint64_t off_at = 0;
		for (size_t t = 0; t * FR + FR <= n; t++) {
			const uint64_t now = t * FR;
			bool on = mode == 0 || (mode == 2 && now >= MS(2000)) ||
				  (mode == 3 && now < MS(3500));
			if (mode == 3 && !on && !off_at)
				off_at = now;
			ivr_dspchain_listen(ch, on);
			ivr_check(ivr_dspchain_process(ch, x + now, NULL, FR, 0, ring, &o) >= 0);
			log_add(&l, &o, ivr_dspchain_samples(ch));
		}
		struct ivr_asr_reasm *ra = ivr_asr_reasm_new(2, MS(30000));
		struct ivr_asr_utt u;
		int utts = 0;
		while (ivr_asr_reasm_poll(ra, ring, &u) == 1)
			utts++;
		ivr_asr_reasm_free(ra);
		struct ivr_dspchain_stats st;
		ivr_dspchain_get_stats(ch, &st);
		const int ns = count(&l, IVR_MEDIA_EV_SPEECH_START, -1);
		const int ne = count(&l, IVR_MEDIA_EV_SPEECH_END, -1);
		for (int i = 0; i < l.n; i++)
			if (l.ev[i].type == IVR_MEDIA_EV_SPEECH_START && !first_start[mode])
				first_start[mode] = l.ev[i].sample;
		printf("  mode %d: %d digit, %d speech_start (first %.0f ms), %d "
		       "speech_end, %d "
		       "utterances, %llu ASR records\n",
		       mode, count(&l, IVR_MEDIA_EV_DTMF_END, -1), ns,
		       first_start[mode] * 1000.0 / RATE, ne, utts,
		       (unsigned long long)st.asr_frames);
		ivr_check_int_eq(count(&l, IVR_MEDIA_EV_DTMF_END, -1), 1);
		ivr_check_int_eq(ns, ne);
		if (mode == 1) {
			ivr_check_int_eq(ns, 0);
			ivr_check_int_eq(st.asr_frames, 0);
			ivr_check_int_eq(utts, 0);
		} else {
			ivr_check(ns >= 1);
			ivr_check(utts >= 1);
			ivr_check_near((double)first_start[mode], (double)MS(3000), MS(150));
		}
		if (mode == 2)
			ivr_check_near((double)first_start[2], (double)first_start[0], MS(20));
		if (mode == 3) {
			/* The one utterance ends where listening stopped, reported then. */
			ivr_check_int_eq(ns, 1);
			ivr_check_int_eq(utts, 1);
			for (int i = 0; i < l.n; i++)
				if (l.ev[i].type == IVR_MEDIA_EV_SPEECH_END) {
					ivr_check(l.at[i] == off_at + FR);
					ivr_check(l.ev[i].sample <= off_at &&
						  l.ev[i].sample + MS(80) >= off_at);
				}
		}
		free(ring);
		ivr_dspchain_free(ch);
	}
	free(x);
	ivr_audio_free(&caller);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(inband_onset_duration);
	ivr_test_run(rfc4733_alone);
	ivr_test_run(both_sources_once);
	ivr_test_run(rfc4733_lost_packets);
	ivr_test_run(own_dtmf_echo_guard);
	ivr_test_run(fax_cng);
	ivr_test_run(dtmf_is_not_speech);
	ivr_test_run(speech_digit_speech);
	ivr_test_run(own_prompts_echo_no_talkoff);
	ivr_test_run(echo_no_false_barge_in);
	ivr_test_run(barge_in_and_asr_handoff);
	ivr_test_run(preroll_from_ring_start);
	ivr_test_run(dtmf_before_vs_after_aec);
	ivr_test_run(asr_ring_full_drops);
	ivr_test_run(reasm_gaps_and_bad_input);
	ivr_test_run(bad_input_and_reset);
	ivr_test_run(process_does_not_allocate);
	ivr_test_run(wideband_16k);
	ivr_test_run(listen_only_when_consumed);
	return ivr_test_summary();
}
