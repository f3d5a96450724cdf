/* SPDX-License-Identifier: MIT */
/*
 * dsp/tone.c - DTMF tone generator and in-band DTMF sender (see tone.h).
 *
 * Every sample is computed from its index (sin of a double phase), so a
 * burst has no accumulated phase error and the sender state is only
 * counters: position-independent, and rendering a 20 ms frame or a single
 * sample gives the same waveform.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "dsp/g711.h"
#include "dsp/tone.h"

static const float row_hz[4] = { 697.0f, 770.0f, 852.0f, 941.0f };
static const float col_hz[4] = { 1209.0f, 1336.0f, 1477.0f, 1633.0f };
static const char keypad[4][4] = {
	{ '1', '2', '3', 'A' },
	{ '4', '5', '6', 'B' },
	{ '7', '8', '9', 'C' },
	{ '*', '0', '#', 'D' },
};

int ivr_tone_dtmf_freqs(char digit, float *low_hz, float *high_hz)
{
	if (digit >= 'a' && digit <= 'd')
		digit = (char)(digit - 'a' + 'A');
	for (int r = 0; r < 4; r++) {
		for (int c = 0; c < 4; c++) {
			if (keypad[r][c] == digit && digit != 0) {
				if (low_hz)
					*low_hz = row_hz[r];
				if (high_hz)
					*high_hz = col_hz[c];
				return 0;
			}
		}
	}
	return -EINVAL;
}

float ivr_tone_dbm0_to_amp(float level_dbm0)
{
	return (float)(M_SQRT2 * (IVR_DBM0_RMS_S16 / 32768.0) * pow(10.0, level_dbm0 / 20.0));
}

static int rate_ok(uint32_t rate_hz)
{
	return rate_hz == 8000 || rate_hz == 16000;
}

/* Raised-cosine gain of sample @i of @n with ramps of @ramp samples. */
static double ramp_gain(size_t i, size_t n, size_t ramp)
{
	if (ramp == 0)
		return 1.0;
	size_t edge = IVR_MIN(i, n - 1 - i);
	if (edge >= ramp)
		return 1.0;
	return 0.5 - 0.5 * cos(M_PI * ((double)edge + 0.5) / (double)ramp);
}

int ivr_tone_dtmf_add(float *out, size_t n_samples, uint32_t rate_hz, char digit,
		      const struct ivr_tone_dtmf *p)
{
	static const struct ivr_tone_dtmf defaults = { .level_dbm0 = -10.0f };
	float fl, fh;

	if (!p)
		p = &defaults;
	if (!rate_ok(rate_hz) || ivr_tone_dtmf_freqs(digit, &fl, &fh) < 0 || (!out && n_samples) ||
	    !isfinite(p->level_dbm0) || !isfinite(p->twist_db) ||
	    fabsf(p->low_offset_pct) > 20.0f || fabsf(p->high_offset_pct) > 20.0f ||
	    !(p->ramp_ms >= 0.0f && p->ramp_ms <= 100.0f))
		return -EINVAL;
	float level = p->level_dbm0;
	double al = ivr_tone_dbm0_to_amp(level);
	double ah = ivr_tone_dbm0_to_amp(level + p->twist_db);
	double wl = 2.0 * M_PI * fl * (1.0 + p->low_offset_pct / 100.0) / rate_hz;
	double wh = 2.0 * M_PI * fh * (1.0 + p->high_offset_pct / 100.0) / rate_hz;
	size_t ramp = (size_t)(p->ramp_ms * rate_hz / 1000.0f);
	if (2 * ramp > n_samples)
		ramp = n_samples / 2;
	for (size_t i = 0; i < n_samples; i++) {
		double t = (double)i;
		out[i] += (float)(ramp_gain(i, n_samples, ramp) *
				  (al * sin(wl * t) + ah * sin(wh * t)));
	}
	return 0;
}

int ivr_tone_sine_add(float *out, size_t n_samples, uint32_t rate_hz, float freq_hz,
		      float level_dbm0, double *phase)
{
	if (rate_hz == 0 || !(freq_hz >= 0.0f && freq_hz < rate_hz / 2.0f) ||
	    !isfinite(level_dbm0) || (!out && n_samples))
		return -EINVAL;
	double a = ivr_tone_dbm0_to_amp(level_dbm0);
	double w = 2.0 * M_PI * freq_hz / rate_hz;
	double ph0 = phase ? *phase : 0.0;
	for (size_t i = 0; i < n_samples; i++)
		out[i] += (float)(a * sin(ph0 + w * (double)i));
	if (phase)
		*phase = fmod(ph0 + w * (double)n_samples, 2.0 * M_PI);
	return 0;
}

/* ---- sender ----------------------------------------------------------- */

struct ivr_tone_tx {
	uint32_t rate_hz;
	uint32_t on_samples, off_samples, ramp_samples;
	double amp_low, amp_high;
	/* queue: ring of digits (',' = pause); head is the digit being sent */
	char queue[IVR_TONE_TX_QUEUE];
	uint32_t head, count;
	uint32_t pos; /* samples into the head digit's on+off period */
};

size_t ivr_tone_tx_size(const struct ivr_tone_tx_cfg *cfg)
{
	(void)cfg;
	return sizeof(struct ivr_tone_tx);
}

int ivr_tone_tx_init(struct ivr_tone_tx *tx, size_t size, const struct ivr_tone_tx_cfg *cfg)
{
	static const struct ivr_tone_tx_cfg defaults = { 0 };
	if (!cfg)
		cfg = &defaults;
	uint32_t rate = cfg->rate_hz ? cfg->rate_hz : 8000;
	float level = cfg->level_dbm0 != 0.0f ? cfg->level_dbm0 : -8.0f;
	float twist = cfg->twist_db != 0.0f ? cfg->twist_db : 2.0f;
	uint32_t on_ms = cfg->on_ms ? cfg->on_ms : 100;
	uint32_t off_ms = cfg->off_ms ? cfg->off_ms : 100;
	if (!tx || size < sizeof(*tx) || !rate_ok(rate) || !(level <= 3.0f && level >= -60.0f) ||
	    !(twist >= -20.0f && twist <= 20.0f) || on_ms > 10000 || off_ms > 10000)
		return -EINVAL;
	memset(tx, 0, sizeof(*tx));
	tx->rate_hz = rate;
	tx->on_samples = on_ms * (rate / 1000);
	tx->off_samples = off_ms * (rate / 1000);
	/* 1 ms ramps keep the spectrum of the bursts narrow (no clicks) */
	tx->ramp_samples = rate / 1000;
	tx->amp_low = ivr_tone_dbm0_to_amp(level);
	tx->amp_high = ivr_tone_dbm0_to_amp(level + twist);
	return 0;
}

void ivr_tone_tx_reset(struct ivr_tone_tx *tx)
{
	tx->head = tx->count = tx->pos = 0;
}

int ivr_tone_tx_queue(struct ivr_tone_tx *tx, const char *digits)
{
	size_t n = 0;
	if (!tx || !digits)
		return -EINVAL;
	for (const char *d = digits; *d; d++, n++) {
		if (*d != ',' && ivr_tone_dtmf_freqs(*d, NULL, NULL) < 0)
			return -EINVAL;
	}
	if (n > IVR_TONE_TX_QUEUE - tx->count)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		char c = digits[i];
		if (c >= 'a' && c <= 'd')
			c = (char)(c - 'a' + 'A');
		tx->queue[(tx->head + tx->count) % IVR_TONE_TX_QUEUE] = c;
		tx->count++;
	}
	return (int)n;
}

size_t ivr_tone_tx_pending(const struct ivr_tone_tx *tx)
{
	return tx->count;
}

int ivr_tone_tx_render(struct ivr_tone_tx *tx, float *out, size_t n_samples)
{
	int active = 0;
	size_t i = 0;
	while (i < n_samples) {
		if (tx->count == 0) {
			memset(out + i, 0, (n_samples - i) * sizeof(*out));
			break;
		}
		active = 1;
		char d = tx->queue[tx->head];
		uint32_t period = tx->on_samples + tx->off_samples;
		size_t run = IVR_MIN(n_samples - i, (size_t)(period - tx->pos));
		float fl = 0.0f, fh = 0.0f;
		int tone = d != ',' && ivr_tone_dtmf_freqs(d, &fl, &fh) == 0;
		double wl = 2.0 * M_PI * fl / tx->rate_hz, wh = 2.0 * M_PI * fh / tx->rate_hz;
		for (size_t k = 0; k < run; k++) {
			uint32_t p = tx->pos + (uint32_t)k;
			float v = 0.0f;
			if (tone && p < tx->on_samples) {
				double g = ramp_gain(p, tx->on_samples, tx->ramp_samples);
				v = (float)(g * (tx->amp_low * sin(wl * p) +
						 tx->amp_high * sin(wh * p)));
			}
			out[i + k] = v;
		}
		i += run;
		tx->pos += (uint32_t)run;
		if (tx->pos >= period) {
			tx->pos = 0;
			tx->head = (tx->head + 1) % IVR_TONE_TX_QUEUE;
			tx->count--;
		}
	}
	return active;
}

struct ivr_tone_tx *ivr_tone_tx_new(const struct ivr_tone_tx_cfg *cfg)
{
	size_t size = ivr_tone_tx_size(cfg);
	struct ivr_tone_tx *tx = calloc(1, size);
	if (!tx) {
		errno = ENOMEM;
		return NULL;
	}
	int r = ivr_tone_tx_init(tx, size, cfg);
	if (r < 0) {
		free(tx);
		errno = -r;
		return NULL;
	}
	return tx;
}

void ivr_tone_tx_free(struct ivr_tone_tx *tx)
{
	free(tx);
}
