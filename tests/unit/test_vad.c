/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_vad.c - VAD/endpointer on real speech.
 *
 * Corpus: the 14 recorded utterances of pocketsphinx-testdata (16 kHz; also
 * resampled to 8 kHz, and sent through mu-law) plus 8 sentences synthesised
 * now with espeak-ng and flite (several voices), each trimmed to its active
 * region +-100 ms, set to an active level of -26 dBFS and concatenated with
 * silences of known length (400-1400 ms).  A recording's gap carries its own
 * background (its inactive samples, looped), and the whole line has an
 * idle-channel noise 35 dB under the speech: a line never falls digitally
 * silent between sentences.
 * Ground truth: the ITU-T P.56 activity of the clean signal (threshold
 * 15.9 dB under the active level, 200 ms hangover; the envelope's second
 * smoother runs backwards so the labels are not late), a 20 ms frame being
 * speech when most of its samples are active.
 * Conditions: clean, white noise and babble (the sum of six other talkers)
 * at 20 and 10 dB SNR (active speech level vs noise power).  F1 and the
 * false-alarm rate are printed per condition and the targets asserted:
 * F1 >= 0.965 and FA <= 4% clean and at 20 dB, F1 >= 0.90 at 10 dB.
 * Also: the line 10 dB quieter and louder, endpointer events against the
 * known silences, noise-floor tracking, 10 ms vs 20 ms frames, reset/clone,
 * bad input.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dsp/vad.h"
#include "ivr_speech.h"
#include "ivr_test.h"

#define LEVEL_DBFS -26.0
#define N_BABBLE   6
#define BED_DB	   35.0 /* idle-channel noise below the active speech level */
/* Clean and 20 dB SNR: measured 0.972-0.985 and at most 3.6% (16k babble); a little slack. */
#define F1_MIN 0.965
#define FA_MAX 0.04

static char tmpdir[64];

struct stream {
	uint32_t rate_hz;
	float *clean;
	size_t n;
	uint8_t *label; /* per 20 ms frame */
	size_t n_frames;
	float *babble;	  /* n samples, unit mean square */
	double speech_ms; /* active level (mean square) of clean */
	/* known utterance boundaries (samples) for endpointer checks */
	size_t utt_start[IVR_SPEECH_MAX_UTT], utt_end[IVR_SPEECH_MAX_UTT];
	int n_utt;
};

static struct ivr_speech_corpus corpus16, corpus8;
static double level_offset_db; /* whole line louder or quieter than LEVEL_DBFS */
static struct stream st16, st8;
static int have_corpus;

/* Deterministic gap lengths 400..1400 ms. */
static size_t gap_samples(int i, uint32_t rate_hz)
{
	static const int ms[] = { 700, 400, 1100, 550, 1400, 800, 450, 1000, 650, 1250, 500, 900 };
	return (size_t)ms[i % 12] * rate_hz / 1000;
}

static void build_stream(struct stream *s, const struct ivr_speech_corpus *c, uint32_t rate_hz)
{
	size_t n = gap_samples(0, rate_hz);
	for (int i = 0; i < c->n_utt; i++)
		n += c->utt[i].n_samples + gap_samples(i + 1, rate_hz);
	s->rate_hz = rate_hz;
	s->clean = calloc(n, sizeof(float));
	size_t pos = gap_samples(0, rate_hz);
	for (int i = 0; i < c->n_utt; i++) {
		/*
		 * The gap before a recording carries that recording's own
		 * background, looped: a recorded line does not fall silent
		 * between sentences, and a background switched on at every
		 * utterance would test noise onsets, not speech.
		 */
		const size_t g = gap_samples(i, rate_hz);
		for (size_t k = 0; k < g && c->n_noise[i]; k++)
			s->clean[pos - g + k] = c->noise[i][k % c->n_noise[i]];
		memcpy(s->clean + pos, c->utt[i].samples, c->utt[i].n_samples * sizeof(float));
		s->utt_start[i] = pos;
		pos += c->utt[i].n_samples;
		s->utt_end[i] = pos;
		pos += gap_samples(i + 1, rate_hz);
	}
	s->n_utt = c->n_utt;
	s->n = n;
	const size_t fl = rate_hz / 50;
	s->n_frames = n / fl;
	uint8_t *act = malloc(n);
	s->speech_ms = ivr_speech_p56(s->clean, n, rate_hz, act);
	s->label = malloc(s->n_frames);
	for (size_t f = 0; f < s->n_frames; f++) {
		size_t cnt = 0;
		for (size_t i = 0; i < fl; i++)
			cnt += act[f * fl + i];
		s->label[f] = cnt * 2 > fl;
	}
	free(act);
	/*
	 * Babble: six talkers, each the corpus back to back without pauses,
	 * started at a different offset so that no talker is the target's
	 * utterance at the same moment; normalised to unit mean square.
	 */
	size_t total = 0;
	for (int i = 0; i < c->n_utt; i++)
		total += c->utt[i].n_samples;
	float *talk = malloc(total * sizeof(float));
	size_t p = 0;
	for (int i = 0; i < c->n_utt; i++) {
		memcpy(talk + p, c->utt[i].samples, c->utt[i].n_samples * sizeof(float));
		p += c->utt[i].n_samples;
	}
	s->babble = calloc(n, sizeof(float));
	for (int t = 0; t < N_BABBLE; t++) {
		size_t off = total / 7 * (size_t)(t + 1) + (size_t)t * 1234;
		for (size_t i = 0; i < n; i++)
			s->babble[i] += talk[(off + i) % total];
	}
	free(talk);
	double ms = ivr_speech_ms(s->babble, n);
	for (size_t i = 0; i < n; i++)
		s->babble[i] /= (float)sqrt(ms);
}

enum noise { NOISE_NONE, NOISE_WHITE, NOISE_BABBLE };

struct score {
	size_t tp, fp, fn, tn;
	double f1, fa;
};

/* The endpointer events of one run (sample positions, and the frame that reported them). */
struct events {
	size_t n;
	size_t skipped_speech,
		speech_blocks; /* blocks not analysed / all, in frames labelled speech */
	uint8_t type[512];
	uint64_t sample[512], at[512];
};

/* The stream with @noise at @snr_db (and level_offset_db), through G.711 if @ulaw: malloc'd. */
static float *line_signal(const struct stream *s, enum noise noise, double snr_db, int ulaw)
{
	float *x = malloc(s->n * sizeof(float));
	const float g =
		noise == NOISE_NONE ? 0.0f : (float)sqrt(s->speech_ms / pow(10.0, snr_db / 10.0));
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(snr_db * 1000) ^ s->rate_hz;
	/* A line is never digitally silent: idle-channel noise 35 dB below the speech. */
	const float bed = (float)sqrt(s->speech_ms / pow(10.0, BED_DB / 10.0));
	for (size_t i = 0; i < s->n; i++) {
		float nz = 0.0f;
		if (noise == NOISE_WHITE)
			nz = (float)ivr_speech_gauss(&seed);
		else if (noise == NOISE_BABBLE)
			nz = s->babble[i];
		x[i] = s->clean[i] + g * nz + bed * (float)ivr_speech_gauss(&seed);
	}
	if (level_offset_db != 0.0) {
		const float lg = (float)pow(10.0, level_offset_db / 20.0);
		for (size_t i = 0; i < s->n; i++)
			x[i] *= lg;
	}
	if (ulaw)
		ivr_speech_ulaw(x, s->n);
	return x;
}

/*
 * Run the VAD over the stream with @noise at @snr_db; @ulaw adds G.711; @frame_ms 10 or 20.
 * @dec (NULL or n_frames) gets the frame decisions, @ev (may be NULL) the events.
 */
static struct score run_ev(const struct stream *s, enum noise noise, double snr_db, int ulaw,
			   int frame_ms, const struct ivr_vad_cfg *cfg_in, uint8_t *dec,
			   struct events *ev)
{
	struct score sc = { 0 };
	float *x = line_signal(s, noise, snr_db, ulaw);
	struct ivr_vad_cfg cfg = { .rate_hz = s->rate_hz };
	if (cfg_in)
		cfg = *cfg_in;
	cfg.rate_hz = s->rate_hz;
	struct ivr_vad *v = ivr_vad_new(&cfg);
	const size_t fl = s->rate_hz / 50, sub = s->rate_hz * (size_t)frame_ms / 1000;
	for (size_t f = 0; f < s->n_frames; f++) {
		int sp = 0;
		for (size_t o = 0; o < fl; o += sub) {
			struct ivr_vad_result r;
			if (ivr_vad_process(v, x + f * fl + o, sub, &r) > 0)
				sp = 1;
			if (ev && s->label[f]) {
				ev->skipped_speech += r.n_gated;
				ev->speech_blocks += (size_t)frame_ms / 10;
			}
			for (int e = 0; ev && e < r.n_events && ev->n < IVR_N_ELEMENTS(ev->type);
			     e++, ev->n++) {
				ev->type[ev->n] = r.ev[e].type;
				ev->sample[ev->n] = r.ev[e].sample;
				ev->at[ev->n] = f * fl + o + sub;
			}
		}
		if (dec)
			dec[f] = (uint8_t)sp;
		const int lab = s->label[f];
		sc.tp += sp && lab;
		sc.fp += sp && !lab;
		sc.fn += !sp && lab;
		sc.tn += !sp && !lab;
	}
	ivr_vad_free(v);
	free(x);
	sc.f1 = 2.0 * sc.tp / (double)(2 * sc.tp + sc.fp + sc.fn);
	sc.fa = sc.fp / (double)(sc.fp + sc.tn);
	return sc;
}

static struct score run(const struct stream *s, enum noise noise, double snr_db, int ulaw,
			int frame_ms, const struct ivr_vad_cfg *cfg_in)
{
	return run_ev(s, noise, snr_db, ulaw, frame_ms, cfg_in, NULL, NULL);
}

static int load(void)
{
	if (have_corpus)
		return have_corpus > 0;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ivr_vad_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		have_corpus = -1;
		return 0;
	}
	if (ivr_speech_load(&corpus16, 16000, LEVEL_DBFS, tmpdir, 8) == 0) {
		printf("  pocketsphinx-testdata not installed\n");
		have_corpus = -1;
		return 0;
	}
	/* 8 kHz from the same 16 kHz material (libsamplerate), as a telephone would carry it. */
	corpus8.n_utt = corpus16.n_utt;
	for (int i = 0; i < corpus16.n_utt; i++) {
		float *y;
		size_t ny;
		if (ivr_resample_buffer(corpus16.utt[i].samples, corpus16.utt[i].n_samples, 16000,
					&y, &ny, 8000) < 0)
			abort();
		corpus8.utt[i].samples = y;
		corpus8.utt[i].n_samples = ny;
		corpus8.utt[i].rate_hz = 8000;
		if (corpus16.n_noise[i] &&
		    ivr_resample_buffer(corpus16.noise[i], corpus16.n_noise[i], 16000,
					&corpus8.noise[i], &corpus8.n_noise[i], 8000) < 0)
			abort();
	}
	printf("  corpus: %d recorded + %d synthesised utterances\n", corpus16.n_recorded,
	       corpus16.n_synth);
	build_stream(&st16, &corpus16, 16000);
	build_stream(&st8, &corpus8, 8000);
	size_t sp = 0;
	for (size_t f = 0; f < st16.n_frames; f++)
		sp += st16.label[f];
	printf("  stream: %.1f s, %zu frames, %.0f%% labelled speech\n", st16.n / 16000.0,
	       st16.n_frames, 100.0 * sp / st16.n_frames);
	have_corpus = 1;
	return 1;
}

static int check_condition(const char *name, const struct stream *s, enum noise noise, double snr,
			   int ulaw, double f1_min, double fa_max)
{
	struct score sc = run(s, noise, snr, ulaw, 20, NULL);
	printf("  %-26s F1 %.3f  FA %5.2f%%  (tp %zu fp %zu fn %zu tn %zu)%s\n", name, sc.f1,
	       100 * sc.fa, sc.tp, sc.fp, sc.fn, sc.tn,
	       sc.f1 >= f1_min && sc.fa <= fa_max ? "" : "  <-- below target");
	ivr_check_msg(sc.f1 >= f1_min, "%s: F1 %.3f < %.2f", name, sc.f1, f1_min);
	ivr_check_msg(sc.fa <= fa_max, "%s: FA %.3f > %.2f", name, sc.fa, fa_max);
	return 0;
}

static void conditions(const struct stream *s, int ulaw, const char *tag)
{
	char name[64];
#define COND(label, nz, snr, f1, fa)                                                               \
	snprintf(name, sizeof(name), "%s %s", tag, label);                                         \
	check_condition(name, s, nz, snr, ulaw, f1, fa)
	COND("clean", NOISE_NONE, 0, F1_MIN, FA_MAX);
	COND("white 20 dB", NOISE_WHITE, 20, F1_MIN, FA_MAX);
	COND("babble 20 dB", NOISE_BABBLE, 20, F1_MIN, FA_MAX);
	COND("white 10 dB", NOISE_WHITE, 10, 0.90, 1.0);
	COND("babble 10 dB", NOISE_BABBLE, 10, 0.90, 1.0);
#undef COND
}

IVR_TEST(accuracy_16k)
{
	if (!load())
		return IVR_TEST_SKIP;
	conditions(&st16, 0, "16k");
	return IVR_TEST_RESULT();
}

IVR_TEST(accuracy_8k)
{
	if (!load())
		return IVR_TEST_SKIP;
	conditions(&st8, 0, "8k");
	return IVR_TEST_RESULT();
}

IVR_TEST(accuracy_8k_ulaw)
{
	if (!load())
		return IVR_TEST_SKIP;
	conditions(&st8, 1, "8k mu-law");
	return IVR_TEST_RESULT();
}

/* The same figures with the whole line 10 dB quieter and 10 dB louder (8 kHz mu-law). */
IVR_TEST(level_independence)
{
	if (!load())
		return IVR_TEST_SKIP;
	const double off[] = { -10.0, 10.0 };
	for (int i = 0; i < 2; i++) {
		char name[64];
		level_offset_db = off[i];
		snprintf(name, sizeof(name), "8k mu-law %+.0f dB clean", off[i]);
		check_condition(name, &st8, NOISE_NONE, 0, 1, F1_MIN, FA_MAX);
		snprintf(name, sizeof(name), "8k mu-law %+.0f dB babble 20", off[i]);
		check_condition(name, &st8, NOISE_BABBLE, 20, 1, F1_MIN, FA_MAX);
	}
	level_offset_db = 0.0;
	return IVR_TEST_RESULT();
}

/* Speech start/end events against the known utterance boundaries of the 16 kHz stream. */
IVR_TEST(endpointer_events)
{
	if (!load())
		return IVR_TEST_SKIP;
	const struct stream *s = &st16;
	const struct ivr_vad_cfg cfg = { .rate_hz = 16000, .start_ms = 60, .end_ms = 300 };
	struct ivr_vad *v = ivr_vad_new(&cfg);
	uint64_t seed = 7;
	const float bed = (float)sqrt(s->speech_ms / pow(10.0, BED_DB / 10.0));
	const size_t fl = 320;
	float x[320];
	uint64_t starts[256], ends[256], start_at[256], end_at[256];
	size_t ns = 0, ne = 0;
	int in = 0, alternates = 1;
	for (size_t f = 0; f < s->n_frames; f++) {
		for (size_t i = 0; i < fl; i++)
			x[i] = s->clean[f * fl + i] + bed * (float)ivr_speech_gauss(&seed);
		struct ivr_vad_result r;
		ivr_check(ivr_vad_process(v, x, fl, &r) >= 0);
		for (int e = 0; e < r.n_events; e++) {
			if (r.ev[e].type == IVR_VAD_EV_START && ns < 256) {
				alternates &= !in;
				in = 1;
				start_at[ns] = (f + 1) * fl;
				starts[ns++] = r.ev[e].sample;
			} else if (r.ev[e].type == IVR_VAD_EV_END && ne < 256) {
				alternates &= in;
				in = 0;
				end_at[ne] = (f + 1) * fl;
				ends[ne++] = r.ev[e].sample;
			}
		}
		ivr_check_int_eq(r.in_speech, in);
	}
	ivr_vad_free(v);
	ivr_check(alternates);
	/*
	 * Each utterance (trimmed with 100 ms of margin either side) must open
	 * with a START whose sample lies within its first 400 ms (margin + weak
	 * onsets), reported at
	 * most start_ms + 60 ms after that sample, and close with an END within
	 * 500 ms before its end (the 100 ms margin, and final syllables fading
	 * under the relative gate) or 100 ms after, reported within end_ms + 60 ms.
	 */
	int found_start = 0, found_end = 0;
	for (int u = 0; u < s->n_utt; u++) {
		const uint64_t a = s->utt_start[u], b = s->utt_end[u], ms = 16;
		int fs = 0, fe = 0;
		for (size_t i = 0; i < ns; i++)
			if (starts[i] >= a && starts[i] <= a + 400 * ms &&
			    start_at[i] - starts[i] <= (60 + 60) * ms)
				fs = 1;
		for (size_t i = 0; i < ne; i++)
			if (ends[i] + 500 * ms >= b && ends[i] <= b + 100 * ms &&
			    end_at[i] - ends[i] <= (300 + 60) * ms)
				fe = 1;
		found_start += fs;
		found_end += fe;
		if (!fs || !fe) {
			printf("  utterance %d [%.2f, %.2f] s:", u, a / 16000.0, b / 16000.0);
			for (size_t i = 0; i < ns; i++)
				if (starts[i] + 16000 > a && starts[i] < b + 16000)
					printf(" START %.2f (at %.2f)", starts[i] / 16000.0,
					       start_at[i] / 16000.0);
			for (size_t i = 0; i < ne; i++)
				if (ends[i] + 16000 > a && ends[i] < b + 16000)
					printf(" END %.2f (at %.2f)", ends[i] / 16000.0,
					       end_at[i] / 16000.0);
			printf("\n");
		}
	}
	printf("  %d utterances: %zu START, %zu END events; %d starts and %d ends on the "
	       "boundaries\n",
	       s->n_utt, ns, ne, found_start, found_end);
	ivr_check_int_eq(found_start, s->n_utt);
	ivr_check_int_eq(found_end, s->n_utt);
	/* Pauses inside an utterance may split it, but not into pieces. */
	ivr_check(ns <= (size_t)s->n_utt * 2);
	return IVR_TEST_RESULT();
}

/* The noise floor follows white noise, and a 15 dB step up within 4 s (2.4 s minimum window). */
IVR_TEST(noise_floor_tracking)
{
	for (uint32_t rate = 8000; rate <= 16000; rate *= 2) {
		struct ivr_vad *v = ivr_vad_new(&(struct ivr_vad_cfg){ .rate_hz = rate });
		const size_t fl = rate / 50;
		float x[320];
		uint64_t seed = 99;
		/* Expected band level: white noise power times the band's share of 0..rate/2. */
		const double share = (3800.0 - 200.0) / (rate / 2.0);
		const double lv[2] = { -50.0, -35.0 };
		for (int step = 0; step < 2; step++) {
			const double sd = pow(10.0, lv[step] / 20.0);
			const double want = lv[step] + 10 * log10(share);
			int flagged_late = 0;
			for (size_t f = 0; f < 300; f++) {
				for (size_t i = 0; i < fl; i++)
					x[i] = (float)(sd * ivr_speech_gauss(&seed));
				struct ivr_vad_result r;
				int sp = ivr_vad_process(v, x, fl, &r);
				if (f >= 200)
					flagged_late += sp;
			}
			const float got = ivr_vad_noise_dbfs(v);
			printf("  %u Hz noise %.0f dBFS: floor %.1f dB (expected %.1f), speech "
			       "flags "
			       "in the last 2 s: %d\n",
			       rate, lv[step], got, want, flagged_late);
			ivr_check_near(got, want, 2.0);
			ivr_check_int_eq(flagged_late, 0);
		}
		ivr_vad_free(v);
	}
	return IVR_TEST_RESULT();
}

/*
 * The pre-gate passes over background, not onsets: each utterance after 4 s
 * of idle-line noise (35 dB under the speech, which the gate passes over)
 * must give its START at the same sample and in the same frame as with every
 * block analysed (no_pregate), give or take one 10 ms block, and the gate
 * must actually have passed over most of the silence.
 */
IVR_TEST(pregate_keeps_onsets)
{
	if (!load())
		return IVR_TEST_SKIP;
	for (int k = 0; k < 2; k++) {
		const struct ivr_speech_corpus *c = k ? &corpus16 : &corpus8;
		const uint32_t rate = k ? 16000 : 8000;
		const size_t fl = rate / 50, gap = 4 * (size_t)rate;
		const float bed = (float)pow(10.0, (LEVEL_DBFS - BED_DB) / 20.0);
		struct ivr_vad *v[2];
		v[0] = ivr_vad_new(&(struct ivr_vad_cfg){ .rate_hz = rate });
		v[1] = ivr_vad_new(&(struct ivr_vad_cfg){ .rate_hz = rate, .no_pregate = 1 });
		uint64_t seed = 11, pos = 0;
		size_t gated = 0, silent_blocks = 0;
		int found[2] = { 0, 0 }, same = 0, close = 0;
		float x[320];
		for (int u = 0; u < c->n_utt; u++) {
			const size_t len = gap + c->utt[u].n_samples;
			const uint64_t onset = pos + gap;
			uint64_t start[2] = { 0, 0 }, at[2] = { 0, 0 };
			for (size_t off = 0; off + fl <= len; off += fl) {
				for (size_t i = 0; i < fl; i++) {
					const size_t j = off + i;
					x[i] = bed * (float)ivr_speech_gauss(&seed) +
					       (j >= gap ? c->utt[u].samples[j - gap] : 0.0f);
				}
				if (!k)
					ivr_speech_ulaw(x, fl);
				for (int d = 0; d < 2; d++) {
					struct ivr_vad_result r;
					ivr_check(ivr_vad_process(v[d], x, fl, &r) >= 0);
					if (d == 0 && off + fl <= gap && off >= rate) {
						gated += r.n_gated;
						silent_blocks += 2;
					}
					for (int e = 0; e < r.n_events; e++)
						if (r.ev[e].type == IVR_VAD_EV_START && !at[d] &&
						    r.ev[e].sample + rate / 10 >= onset) {
							start[d] = r.ev[e].sample;
							at[d] = pos + off + fl;
						}
				}
			}
			pos += len - len % fl;
			for (int d = 0; d < 2; d++)
				found[d] +=
					at[d] && start[d] <= onset + 400 * (uint64_t)rate / 1000;
			same += at[0] == at[1] && start[0] == start[1];
			close += at[0] && at[1] && at[0] <= at[1] + rate / 100 &&
				 start[0] <= start[1] + rate / 100;
			if (!(at[0] == at[1] && start[0] == start[1]))
				printf("  %u Hz utterance %d: START %.3f s (at %.3f) gated, %.3f s "
				       "(at "
				       "%.3f) reference\n",
				       rate, u, (double)start[0] / rate, (double)at[0] / rate,
				       (double)start[1] / rate, (double)at[1] / rate);
		}
		printf("  %u Hz: %d utterances after 4 s of noise: %d/%d found (gate/reference), "
		       "%d identical, %d within 10 ms; gate passed over %.0f%% of the silence\n",
		       rate, c->n_utt, found[0], found[1], same, close,
		       100.0 * (double)gated / (double)silent_blocks);
		ivr_check_int_eq(found[0], c->n_utt);
		ivr_check_int_eq(found[1], c->n_utt);
		ivr_check_int_eq(close, c->n_utt);
		ivr_check(gated * 2 > silent_blocks);
		ivr_vad_free(v[0]);
		ivr_vad_free(v[1]);
	}
	return IVR_TEST_RESULT();
}

/* Does @ev hold an event of @type at most @tol samples from @sample, reported at most @late after
 * @at? */
static int has_event(const struct events *ev, uint8_t type, uint64_t sample, uint64_t at,
		     uint64_t tol, uint64_t late)
{
	for (size_t j = 0; j < ev->n; j++)
		if (ev->type[j] == type && ev->sample[j] + tol >= sample &&
		    ev->sample[j] <= sample + tol && ev->at[j] <= at + late)
			return 1;
	return 0;
}

/*
 * Blocks not analysed (pre-gate, hold) keep the decisions of the full analysis: on the corpus
 * streams (16 kHz, 8 kHz mu-law; clean, white and babble at 20 dB), against no_pregate (every
 * block analysed), at most 1% of the frame decisions differ, every START comes within 20 ms
 * of the reference's and is reported at most 20 ms later, and 80% of the ENDs within 100 ms
 * (the rest are final syllables near the relative gate, which any change of state moves:
 * 6 of 120 with the hold, 3 of 120 with the pre-gate alone), while over 30% of the speech blocks
 * are not analysed.
 */
IVR_TEST(decimation_keeps_decisions)
{
	if (!load())
		return IVR_TEST_SKIP;
	static const struct {
		enum noise nz;
		double snr;
		const char *name;
	} cond[] = { { NOISE_NONE, 0, "clean" },
		     { NOISE_WHITE, 20, "white 20 dB" },
		     { NOISE_BABBLE, 20, "babble 20 dB" } };
	for (int k = 0; k < 2; k++) {
		const struct stream *s = k ? &st16 : &st8;
		const uint64_t ms = s->rate_hz / 1000;
		for (size_t c = 0; c < IVR_N_ELEMENTS(cond); c++) {
			uint8_t *d[2] = { malloc(s->n_frames), malloc(s->n_frames) };
			static struct events ev[2];
			for (int r = 0; r < 2; r++) {
				ev[r].n = ev[r].skipped_speech = ev[r].speech_blocks = 0;
				(void)run_ev(s, cond[c].nz, cond[c].snr, !k, 20,
					     &(struct ivr_vad_cfg){ .no_pregate = (uint8_t)r },
					     d[r], &ev[r]);
			}
			size_t diff = 0, n_start = 0, n_end = 0, m_start = 0, m_end = 0;
			for (size_t f = 0; f < s->n_frames; f++)
				diff += d[0][f] != d[1][f];
			for (size_t i = 0; i < ev[1].n; i++) {
				if (ev[1].type[i] == IVR_VAD_EV_START) {
					n_start++;
					m_start +=
						has_event(&ev[0], IVR_VAD_EV_START, ev[1].sample[i],
							  ev[1].at[i], 20 * ms, 20 * ms);
				} else {
					n_end++;
					m_end += has_event(&ev[0], IVR_VAD_EV_END, ev[1].sample[i],
							   ev[1].at[i], 100 * ms, 100 * ms);
				}
			}
			const double skipped =
				(double)ev[0].skipped_speech / (double)ev[0].speech_blocks;
			printf("  %-9s %-12s %2zu of %zu frames differ; START %zu/%zu, END %zu/%zu "
			       "matched; %.0f%% of the speech blocks not analysed\n",
			       k ? "16k" : "8k mu-law", cond[c].name, diff, s->n_frames, m_start,
			       n_start, m_end, n_end, 100.0 * skipped);
			ivr_check(diff * 100 <= s->n_frames);
			ivr_check_int_eq(m_start, n_start);
			ivr_check(m_end * 5 >= n_end * 4);
			ivr_check(skipped > 0.3);
			free(d[0]);
			free(d[1]);
		}
	}
	return IVR_TEST_RESULT();
}

/* 10 ms frames give the same decisions as 20 ms ones (the analysis is per 10 ms). */
IVR_TEST(frame_sizes_agree)
{
	if (!load())
		return IVR_TEST_SKIP;
	for (int k = 0; k < 2; k++) {
		const struct stream *s = k ? &st16 : &st8;
		struct score a = run(s, NOISE_WHITE, 15, 0, 20, NULL);
		struct score b = run(s, NOISE_WHITE, 15, 0, 10, NULL);
		ivr_check_int_eq(a.tp, b.tp);
		ivr_check_int_eq(a.fp, b.fp);
		ivr_check_int_eq(a.fn, b.fn);
	}
	return IVR_TEST_RESULT();
}

/* State is one flat block: a memcpy clone continues identically; reset == fresh. */
IVR_TEST(clone_and_reset)
{
	const struct ivr_vad_cfg cfg = { .rate_hz = 8000 };
	const size_t size = ivr_vad_size(&cfg);
	ivr_check(size > 0);
	void *m1 = aligned_alloc(64, IVR_ROUND_UP(size, 64));
	void *m2 = aligned_alloc(64, IVR_ROUND_UP(size, 64));
	struct ivr_vad *a = m1, *b = m2;
	ivr_check_int_eq(ivr_vad_init(a, size, &cfg), 0);
	float x[160];
	uint64_t seed = 5;
	for (int f = 0; f < 100; f++) {
		for (int i = 0; i < 160; i++)
			x[i] = (float)(0.01 * ivr_speech_gauss(&seed)) +
			       (f > 50 ? 0.2f * sinf(0.3f * (float)(f * 160 + i)) : 0.0f);
		ivr_check(ivr_vad_process(a, x, 160, NULL) >= 0);
	}
	memcpy(b, a, size);
	int same = 1;
	for (int f = 0; f < 100; f++) {
		for (int i = 0; i < 160; i++)
			x[i] = (float)(0.01 * ivr_speech_gauss(&seed)) +
			       (f % 20 < 10 ? 0.2f * sinf(0.2f * (float)i) : 0.0f);
		struct ivr_vad_result ra, rb;
		same &= ivr_vad_process(a, x, 160, &ra) == ivr_vad_process(b, x, 160, &rb);
		same &= ra.llr == rb.llr && ra.noise_dbfs == rb.noise_dbfs;
	}
	ivr_check(same);
	/* reset == a freshly initialised detector */
	ivr_vad_reset(a);
	ivr_check_int_eq(ivr_vad_init(b, size, &cfg), 0);
	same = 1;
	for (int f = 0; f < 50; f++) {
		for (int i = 0; i < 160; i++)
			x[i] = (float)(0.01 * ivr_speech_gauss(&seed));
		struct ivr_vad_result ra, rb;
		same &= ivr_vad_process(a, x, 160, &ra) == ivr_vad_process(b, x, 160, &rb);
		same &= ra.llr == rb.llr;
	}
	ivr_check(same);
	free(m1);
	free(m2);
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_input)
{
	ivr_check_int_eq(ivr_vad_size(&(struct ivr_vad_cfg){ .rate_hz = 44100 }), 0);
	ivr_check_int_eq(ivr_vad_size(&(struct ivr_vad_cfg){ .threshold = -1 }), 0);
	ivr_check_int_eq(ivr_vad_size(&(struct ivr_vad_cfg){ .min_level_dbfs = 10 }), 0);
	ivr_check_int_eq(ivr_vad_size(&(struct ivr_vad_cfg){ .prior_level_dbfs = 3 }), 0);
	ivr_check_int_eq(ivr_vad_size(&(struct ivr_vad_cfg){ .hangover_ms = 100000 }), 0);
	ivr_check_int_eq(ivr_vad_size(&(struct ivr_vad_cfg){ .no_pregate = 2 }), 0);
	ivr_check(ivr_vad_size(NULL) > 0);
	errno = 0;
	ivr_check(ivr_vad_new(&(struct ivr_vad_cfg){ .rate_hz = 22050 }) == NULL);
	ivr_check_int_eq(errno, EINVAL);
	char small[8];
	ivr_check_int_eq(ivr_vad_init((struct ivr_vad *)small, sizeof(small), NULL), -EINVAL);
	ivr_vad_free(NULL);

	struct ivr_vad *v = ivr_vad_new(NULL);
	static float x[320];
	ivr_check_int_eq(ivr_vad_process(v, x, 159, NULL), -EINVAL);
	ivr_check_int_eq(ivr_vad_process(v, x, 320, NULL), -EINVAL); /* 40 ms at 8 kHz */
	ivr_check_int_eq(ivr_vad_process(v, NULL, 160, NULL), -EINVAL);
	ivr_check_int_eq(ivr_vad_process(NULL, x, 160, NULL), -EINVAL);
	/* NaN, Inf, clipped: defined results, finite figures. */
	struct ivr_vad_result r;
	int finite = 1;
	for (int f = 0; f < 100; f++) {
		for (int i = 0; i < 160; i++)
			x[i] = i % 7 == 0 ? NAN : i % 7 == 1 ? -INFINITY : (f % 2 ? 8.0f : -8.0f);
		int sp = ivr_vad_process(v, x, 160, &r);
		finite &= (sp == 0 || sp == 1) && isfinite(r.llr) && isfinite(r.noise_dbfs) &&
			  isfinite(r.level_dbfs);
	}
	ivr_check(finite);
	/* Digital silence: never speech. */
	memset(x, 0, sizeof(x));
	ivr_vad_reset(v);
	int any = 0, gated = 0;
	for (int f = 0; f < 100; f++) {
		any |= ivr_vad_process(v, x, 160, &r);
		gated += r.n_gated;
	}
	ivr_check(!any);
	/* ... and passed over by the pre-gate after the first 250 ms (7 blocks in 8). */
	ivr_check(gated >= 150);
	ivr_vad_free(v);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(accuracy_16k);
	ivr_test_run(accuracy_8k);
	ivr_test_run(accuracy_8k_ulaw);
	ivr_test_run(level_independence);
	ivr_test_run(endpointer_events);
	ivr_test_run(noise_floor_tracking);
	ivr_test_run(pregate_keeps_onsets);
	ivr_test_run(decimation_keeps_decisions);
	ivr_test_run(frame_sizes_agree);
	ivr_test_run(clone_and_reset);
	ivr_test_run(bad_input);
	if (tmpdir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return ivr_test_summary();
}
