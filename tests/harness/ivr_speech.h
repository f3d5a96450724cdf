/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/ivr_speech.h - real speech for the VAD, AEC, DSP-chain and
 * DTMF talk-off tests.
 *
 * Loads the recorded utterances of Debian's pocketsphinx-testdata (16 kHz
 * WAV and raw PCM) and speech synthesised at test time with espeak-ng and
 * flite into a temporary directory, at a requested rate (libsamplerate,
 * dsp/wav.h).  Also: the ITU-T P.56 (method B) active speech level and
 * activity mask, used as the energy oracle that labels speech frames from
 * the clean signal; a seeded Gaussian noise source; G.711 round trips.
 * Header-only, static functions; for test programs only (allocates, forks).
 */
#ifndef IVR_SPEECH_H
#define IVR_SPEECH_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsp/g711.h"
#include "dsp/resample.h"
#include "dsp/wav.h"

#define IVR_SPEECH_PS_DIR  "/usr/share/pocketsphinx/test/data"
#define IVR_SPEECH_MAX_UTT 64

/* The pocketsphinx-testdata recordings used, under IVR_SPEECH_PS_DIR: WAV files, */
static const char *const ivr_speech_ps_wavs[] IVR_UNUSED = {
	"cards/001.wav",
	"cards/002.wav",
	"cards/003.wav",
	"cards/004.wav",
	"cards/005.wav",
	"librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
	"librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
	"librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
	"librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
	"librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
};
/* and headerless 16 kHz s16le, for ivr_speech_read_raw16k() (numbers.raw: spoken digits). */
static const char *const ivr_speech_ps_raws[] IVR_UNUSED = {
	"goforward.raw",
	"numbers.raw",
	"something.raw",
	"tidigits/dhd.2934z.raw",
};

struct ivr_speech_corpus {
	struct ivr_audio utt[IVR_SPEECH_MAX_UTT];
	/* Each recording's own background (its P.56-inactive samples, same gain), or empty. */
	float *noise[IVR_SPEECH_MAX_UTT];
	size_t n_noise[IVR_SPEECH_MAX_UTT];
	int n_utt;
	int n_recorded, n_synth; /* how many came from each source */
};

/* Read raw 16 kHz little-endian PCM16 (pocketsphinx's .raw files). */
static inline int ivr_speech_read_raw16k(struct ivr_audio *a, const char *path, uint32_t rate_hz)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long bytes = ftell(f);
	fseek(f, 0, SEEK_SET);
	size_t n = bytes > 0 ? (size_t)bytes / 2 : 0;
	int16_t *s = malloc(n * 2 + 2);
	float *x = malloc(n * sizeof(float) + 4);
	if (!s || !x || fread(s, 2, n, f) != n) {
		fclose(f);
		free(s);
		free(x);
		return -1;
	}
	fclose(f);
	for (size_t i = 0; i < n; i++)
		x[i] = s[i] / 32768.0f;
	free(s);
	a->rate_hz = rate_hz;
	if (rate_hz != 16000) {
		float *y;
		size_t ny;
		if (ivr_resample_buffer(x, n, 16000, &y, &ny, rate_hz) < 0) {
			free(x);
			return -1;
		}
		free(x);
		x = y;
		n = ny;
	}
	a->samples = x;
	a->n_samples = n;
	return 0;
}

/* Remove DC (recordings carry some) with a one-pole high-pass at ~50 Hz. */
static inline void ivr_speech_dc_block(float *x, size_t n, uint32_t rate_hz)
{
	const float r = 1.0f - 2.0f * 3.14159265f * 50.0f / (float)rate_hz;
	float xm = 0.0f, ym = 0.0f;
	for (size_t i = 0; i < n; i++) {
		float y = x[i] - xm + r * ym;
		xm = x[i];
		ym = y;
		x[i] = y;
	}
}

/*
 * ITU-T P.56 method B: envelope = two cascaded one-pole smoothers (30 ms) of
 * |x| (the second run backwards, see below); a threshold c marks samples active while the envelope
 * has been >= c within the last 200 ms (hangover); the active level A(c) is the mean square over
 * active samples, and the chosen c is the one where A(c) lies 15.9 dB above c^2.  Returns the
 * active mean square; @active (may be NULL, n bytes) gets the per-sample activity.
 */
static inline double ivr_speech_p56(const float *x, size_t n, uint32_t rate_hz, uint8_t *active)
{
	if (n == 0)
		return 0.0;
	const double g = exp(-1.0 / (0.03 * rate_hz));
	const size_t hang = (size_t)(0.2 * rate_hz);
	float *env = malloc(n * sizeof(float));
	double p = 0, q = 0, energy = 0;
	/*
	 * P.56 cascades both smoothers forward in time, which delays the
	 * envelope by ~60 ms; as a frame labeller we run the second one
	 * backwards instead (same smoothing, zero phase).
	 */
	for (size_t i = 0; i < n; i++) {
		p = g * p + (1 - g) * fabs(x[i]);
		env[i] = (float)p;
		energy += (double)x[i] * x[i];
	}
	for (size_t i = n; i-- > 0;) {
		q = g * q + (1 - g) * env[i];
		env[i] = (float)q;
	}
	/* Sliding max over the hangover window (monotonic deque). */
	float *smax = malloc(n * sizeof(float));
	size_t *dq = malloc(n * sizeof(size_t));
	size_t head = 0, tail = 0;
	for (size_t i = 0; i < n; i++) {
		while (tail > head && env[dq[tail - 1]] <= env[i])
			tail--;
		dq[tail++] = i;
		if (dq[head] + hang < i)
			head++;
		smax[i] = env[dq[head]];
	}
	free(dq);
	free(env);
	/* Histogram of the sliding max in 0.25 dB bins from -120 to 0 dB. */
	enum { NB = 480 };
	static size_t hist[NB];
	memset(hist, 0, sizeof(hist));
	for (size_t i = 0; i < n; i++) {
		double db = 20 * log10(smax[i] + 1e-12);
		int b = (int)((db + 120.0) * 4.0);
		hist[b < 0 ? 0 : b >= NB ? NB - 1 : b]++;
	}
	double level = 0, thr = 0;
	size_t count = n;
	for (int b = 0; b < NB; b++) {
		/* samples at or above threshold bin b */
		if (count == 0)
			break;
		double c_db = -120.0 + b / 4.0;
		double a_db = 10 * log10(energy / (double)count + 1e-30);
		if (a_db - c_db <= 15.9) {
			level = energy / (double)count;
			thr = pow(10.0, c_db / 20.0);
			break;
		}
		count -= hist[b];
	}
	if (active)
		for (size_t i = 0; i < n; i++)
			active[i] = smax[i] >= thr;
	free(smax);
	return level;
}

/*
 * Trim @a to its P.56-active region plus @margin_ms either side, with 10 ms
 * fades: drops the room noise before and after a recorded utterance so that
 * the silences a test inserts are the only pauses of known length.
 */
static inline void ivr_speech_trim(struct ivr_audio *a, double margin_ms)
{
	const size_t n = a->n_samples;
	uint8_t *act = malloc(n ? n : 1);
	ivr_speech_p56(a->samples, n, a->rate_hz, act);
	size_t first = n, last = 0;
	for (size_t i = 0; i < n; i++) {
		if (act[i]) {
			if (first == n)
				first = i;
			last = i;
		}
	}
	free(act);
	if (first == n)
		return;
	/* The activity includes P.56's 200 ms hangover after the last envelope crossing. */
	const size_t hang = (size_t)(0.2 * a->rate_hz),
		     margin = (size_t)(margin_ms * a->rate_hz / 1000);
	last = last > hang ? last - hang : last;
	first = first > margin ? first - margin : 0;
	last = last + margin < n ? last + margin : n - 1;
	const size_t m = last - first + 1, fade = a->rate_hz / 100;
	memmove(a->samples, a->samples + first, m * sizeof(float));
	a->n_samples = m;
	for (size_t i = 0; i < fade && i < m; i++) {
		const float g = (float)i / (float)fade;
		a->samples[i] *= g;
		a->samples[m - 1 - i] *= g;
	}
}

/* Scale @x so that its P.56 active level is @dbfs (dB re full-scale square wave). */
static inline float ivr_speech_set_level(float *x, size_t n, uint32_t rate_hz, double dbfs)
{
	double lvl = ivr_speech_p56(x, n, rate_hz, NULL);
	if (lvl <= 0)
		return 1.0f;
	float g = (float)sqrt(pow(10.0, dbfs / 10.0) / lvl);
	for (size_t i = 0; i < n; i++)
		x[i] *= g;
	return g;
}

/* Collect the P.56-inactive samples of @a (its background noise), up to 2 s. */
static inline size_t ivr_speech_background(const struct ivr_audio *a, float **out)
{
	const size_t n = a->n_samples, max = 2 * a->rate_hz;
	uint8_t *act = malloc(n ? n : 1);
	ivr_speech_p56(a->samples, n, a->rate_hz, act);
	float *b = malloc((max + 1) * sizeof(float));
	size_t k = 0;
	for (size_t i = 0; i < n && k < max; i++)
		if (!act[i])
			b[k++] = a->samples[i];
	free(act);
	if (k < a->rate_hz / 20) { /* under 50 ms: no usable background */
		free(b);
		b = NULL;
		k = 0;
	}
	*out = b;
	return k;
}

/* Synthesize @text with @tool/@voice into @path; 0 on success. */
static inline int ivr_speech_synth(const char *tool, const char *voice, const char *text,
				   const char *path)
{
	char cmd[1024];
	if (!strcmp(tool, "espeak-ng"))
		snprintf(cmd, sizeof(cmd), "espeak-ng -v '%s' -w '%s' '%s' >/dev/null 2>&1", voice,
			 path, text);
	else
		snprintf(cmd, sizeof(cmd), "flite -voice %s -t '%s' -o '%s' >/dev/null 2>&1", voice,
			 text, path);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * Load the corpus at @rate_hz, each utterance DC-blocked and set to an active
 * level of @level_dbfs.  @tmpdir (existing directory) receives the synthesised
 * WAVs; @max_synth limits how many sentences are synthesised (0 = none).
 * Returns the number of utterances (0 when no recorded speech is installed).
 */
static inline int ivr_speech_load(struct ivr_speech_corpus *c, uint32_t rate_hz, double level_dbfs,
				  const char *tmpdir, int max_synth)
{
	/* Prompt-like sentences for the synthetic voices. */
	static const char *const sentences[] = {
		"Welcome to the customer service line. Please listen carefully as our menu options "
		"have changed.",
		"For account balances, press one or say balance. To pay a bill, press two or say "
		"payment.",
		"I am sorry, I did not understand that. Please say the name of the department you "
		"want.",
		"Your call is important to us. All of our agents are busy helping other customers.",
		"Please enter your sixteen digit card number followed by the pound key.",
		"Thank you. Your payment of forty two dollars has been scheduled for Monday "
		"morning.",
		"To speak with a representative, press zero at any time.",
		"Is there anything else I can help you with today? You can say yes or no.",
	};

	static const char *const voices[][2] = {
		/* tool, voice */
		{ "espeak-ng", "en-us" },      { "flite", "slt" },
		{ "espeak-ng", "en-gb" },      { "flite", "rms" },
		{ "espeak-ng", "en-us+f3" },   { "flite", "awb" },
		{ "espeak-ng", "en-gb-x-rp" }, { "flite", "slt" },
	};
	char path[512], err[128];
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < IVR_N_ELEMENTS(ivr_speech_ps_wavs); i++) {
		snprintf(path, sizeof(path), "%s/%s", IVR_SPEECH_PS_DIR, ivr_speech_ps_wavs[i]);
		if (ivr_wav_read(&c->utt[c->n_utt], path, rate_hz, err, sizeof(err)) == 0)
			c->n_utt++;
	}
	for (size_t i = 0; i < IVR_N_ELEMENTS(ivr_speech_ps_raws); i++) {
		snprintf(path, sizeof(path), "%s/%s", IVR_SPEECH_PS_DIR, ivr_speech_ps_raws[i]);
		if (ivr_speech_read_raw16k(&c->utt[c->n_utt], path, rate_hz) == 0)
			c->n_utt++;
	}
	c->n_recorded = c->n_utt;
	if (c->n_recorded == 0)
		return 0;
	int n_sent = (int)(sizeof(sentences) / sizeof(sentences[0]));
	for (int i = 0; i < max_synth && i < n_sent && c->n_utt < IVR_SPEECH_MAX_UTT; i++) {
		snprintf(path, sizeof(path), "%s/synth%d.wav", tmpdir, i);
		if (ivr_speech_synth(voices[i][0], voices[i][1], sentences[i], path) < 0)
			continue;
		if (ivr_wav_read(&c->utt[c->n_utt], path, rate_hz, err, sizeof(err)) == 0) {
			c->n_utt++;
			c->n_synth++;
		}
	}
	for (int i = 0; i < c->n_utt; i++) {
		ivr_speech_dc_block(c->utt[i].samples, c->utt[i].n_samples, rate_hz);
		c->n_noise[i] = ivr_speech_background(&c->utt[i], &c->noise[i]);
		ivr_speech_trim(&c->utt[i], 100.0);
		const float g = ivr_speech_set_level(c->utt[i].samples, c->utt[i].n_samples,
						     rate_hz, level_dbfs);
		for (size_t k = 0; k < c->n_noise[i]; k++)
			c->noise[i][k] *= g;
	}
	return c->n_utt;
}

static inline void ivr_speech_free(struct ivr_speech_corpus *c)
{
	for (int i = 0; i < c->n_utt; i++) {
		ivr_audio_free(&c->utt[i]);
		free(c->noise[i]);
		c->noise[i] = NULL;
		c->n_noise[i] = 0;
	}
	c->n_utt = 0;
}

/* xorshift64* uniform in [0,1) and Box-Muller Gaussian; deterministic per seed. */
static inline double ivr_speech_uniform(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (double)((*s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static inline double ivr_speech_gauss(uint64_t *s)
{
	double u1 = ivr_speech_uniform(s), u2 = ivr_speech_uniform(s);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* Mean square of @x. */
static inline double ivr_speech_ms(const float *x, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return n ? e / (double)n : 0.0;
}

/* G.711 encode/decode in place (what a PCMU/PCMA leg does to audio):
 * @law 0 = linear (unchanged), 1 = mu-law, 2 = A-law. */
static inline void ivr_speech_g711(float *x, size_t n, int law)
{
	uint8_t buf[320];
	for (size_t off = 0; law && off < n; off += sizeof(buf)) {
		size_t k = n - off < sizeof(buf) ? n - off : sizeof(buf);
		if (law == 1) {
			ivr_g711_ulaw_encode_f32(buf, x + off, k);
			ivr_g711_ulaw_decode_f32(x + off, buf, k);
		} else {
			ivr_g711_alaw_encode_f32(buf, x + off, k);
			ivr_g711_alaw_decode_f32(x + off, buf, k);
		}
	}
}

/* mu-law encode/decode in place (the telephone channel). */
static inline void ivr_speech_ulaw(float *x, size_t n)
{
	ivr_speech_g711(x, n, 1);
}

#endif /* IVR_SPEECH_H */
