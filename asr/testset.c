/* SPDX-License-Identifier: MIT */
/*
 * asr/testset.c - cases files, TTS rendering and replay statistics (testset.h).
 *
 * TTS runs as a child process (posix_spawnp, no shell: case text is never
 * interpreted).  Renderings are cached under a name made of the voice and a
 * 64-bit FNV-1a hash of the text, written to a temporary name and renamed so
 * that parallel test runs never read a half-written file.
 */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asr/intent.h"
#include "asr/testset.h"
#include "common/defs.h"
#include "dsp/g711.h"
#include "dsp/wav.h"

extern char **environ;

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

int ivr_testset_load(const char *path, const struct ivr_flow *flow, struct ivr_testcase **cases,
		     size_t *n, char *err, size_t err_len)
{
	*cases = NULL;
	*n = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, err_len, "%s: cannot open", path);
		return -ENOENT;
	}
	size_t cap = 64;
	struct ivr_testcase *c = malloc(cap * sizeof(*c));
	char line[1024];
	uint32_t ln = 0;
	int rc = 0;
	while (c && fgets(line, sizeof(line), f)) {
		ln++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *f1 = s, *f2 = strchr(f1, '|'), *f3 = f2 ? strchr(f2 + 1, '|') : NULL;
		if (!f3 || strchr(f3 + 1, '|')) {
			snprintf(err, err_len, "%s:%u: expected NODE|TEXT|EXPECTED", path, ln);
			rc = -EBADMSG;
			break;
		}
		*f2++ = 0;
		*f3++ = 0;
		f1 = trim(f1);
		f2 = trim(f2);
		f3 = trim(f3);
		if (*n == cap) {
			struct ivr_testcase *nc = realloc(c, cap * 2 * sizeof(*c));
			if (!nc) {
				rc = -ENOMEM;
				break;
			}
			c = nc;
			cap *= 2;
		}
		struct ivr_testcase *t = &c[*n];
		memset(t, 0, sizeof(*t));
		if (strlen(f1) >= sizeof(t->node) || strlen(f2) >= sizeof(t->text) ||
		    strlen(f3) >= sizeof(t->expected) || !*f1 || !*f2 || !*f3) {
			snprintf(err, err_len, "%s:%u: empty or too long field", path, ln);
			rc = -EBADMSG;
			break;
		}
		strcpy(t->node, f1);
		strcpy(t->text, f2);
		strcpy(t->expected, f3);
		t->line = ln;
		size_t tl = strlen(t->text);
		t->is_audio = tl > 4 && !strcmp(t->text + tl - 4, ".wav");
		int node = flow ? ivr_flow_find_node(flow, t->node) : 0;
		if (node < 0 || (flow && !flow->nodes[node].n_intents)) {
			snprintf(err, err_len, "%s:%u: node \"%s\" is not a node with intents",
				 path, ln, t->node);
			rc = -EBADMSG;
			break;
		}
		if (flow && strcmp(t->expected, "-") &&
		    ivr_flow_find_intent(&flow->nodes[node], t->expected) < 0) {
			snprintf(err, err_len, "%s:%u: \"%s\" is not an intent of node \"%s\"",
				 path, ln, t->expected, t->node);
			rc = -EBADMSG;
			break;
		}
		if (flow && !t->is_audio) {
			const struct ivr_flow_node *nd = &flow->nodes[node];
			for (size_t i = 0; i < nd->n_intents; i++)
				for (size_t p = 0; p < nd->intents[i].n_phrases; p++)
					t->is_phrase |= !strcmp(nd->intents[i].phrases[p], t->text);
		}
		(*n)++;
	}
	fclose(f);
	if (!c)
		rc = -ENOMEM;
	if (rc < 0) {
		free(c);
		*n = 0;
		return rc;
	}
	*cases = c;
	return 0;
}

static int run_child(char *const argv[])
{
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -ENOENT;
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -EIO;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0
						     : (WEXITSTATUS(st) == 127 ? -ENOENT : -EIO);
}

int ivr_testset_render(const char *text, const char *voice, const char *cache_dir, char *out,
		       size_t out_len)
{
	uint64_t h = ivr_fnv1a(IVR_FNV1A_INIT, text);
	mkdir(cache_dir, 0777);
	snprintf(out, out_len, "%s/%s_%016llx.wav", cache_dir, voice, (unsigned long long)h);
	if (access(out, R_OK) == 0)
		return 0;
	char raw[4096], tmp[4096];
	snprintf(raw, sizeof(raw), "%s.%d.raw.wav", out, (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", out, (int)getpid());
	int rc;
	if (!strcmp(voice, "espeak")) {
		char *argv[] = { "espeak-ng", "-v", "en-us", "-w", raw, (char *)text, NULL };
		rc = run_child(argv);
	} else {
		char *argv[] = { "flite",      "-voice", (char *)voice, "-t",
				 (char *)text, "-o",	 raw,		NULL };
		rc = run_child(argv);
	}
	if (rc < 0) {
		unlink(raw);
		return rc;
	}
	struct ivr_audio a;
	char err[256];
	rc = ivr_wav_read(&a, raw, 8000, err, sizeof(err));
	unlink(raw);
	if (rc < 0)
		return -EIO;
	/* Telephone level: peak at -6 dBFS, then G.711 mu-law. */
	float peak = 0;
	for (size_t i = 0; i < a.n_samples; i++)
		peak = fmaxf(peak, fabsf(a.samples[i]));
	if (peak > 0)
		for (size_t i = 0; i < a.n_samples; i++)
			a.samples[i] *= 0.5f / peak;
	rc = ivr_wav_write(tmp, a.samples, a.n_samples, 8000, IVR_WAV_ULAW);
	ivr_audio_free(&a);
	if (rc < 0 || rename(tmp, out) < 0) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

static int replay_one(struct ivr_recognizer *rec, int grammar, const char *wav, float snr_db,
		      uint32_t *seed, struct ivr_asr_cmn *cmn, struct ivr_asr_result *r)
{
	struct ivr_audio a;
	char err[256];
	if (ivr_wav_read(&a, wav, 0, err, sizeof(err)) < 0)
		return -EIO;
	if (a.rate_hz != 8000 && a.rate_hz != 16000) {
		ivr_audio_free(&a);
		if (ivr_wav_read(&a, wav, 16000, err, sizeof(err)) < 0)
			return -EIO;
	}
	if (snr_db > 0 && a.n_samples) {
		/* White noise at @snr_db below the utterance's RMS (Box-Muller, own PRNG). */
		double e = 0;
		for (size_t i = 0; i < a.n_samples; i++)
			e += (double)a.samples[i] * a.samples[i];
		double sigma = sqrt(e / a.n_samples) / pow(10.0, snr_db / 20.0);
		for (size_t i = 0; i < a.n_samples; i++) {
			*seed = *seed * 1664525u + 1013904223u;
			double u1 = ((*seed >> 8) + 1.0) / 16777217.0;
			*seed = *seed * 1664525u + 1013904223u;
			double u2 = (*seed >> 8) / 16777216.0;
			a.samples[i] += (float)(sigma * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
		}
	}
	int rc = ivr_recognizer_decode(rec, grammar, a.samples, a.n_samples, a.rate_hz, cmn, r);
	ivr_audio_free(&a);
	return rc;
}

int ivr_testset_run(struct ivr_recognizer *rec, const struct ivr_flow *flow,
		    const struct ivr_testcase *cases, size_t n, const struct ivr_testset_opts *opts,
		    struct ivr_testset_outcome **out)
{
	const char *const *voices = opts->voices;
	size_t n_voices = opts->n_voices;
	const char *cache_dir = opts->cache_dir, *cases_dir = opts->cases_dir;
	FILE *log = opts->log;
	uint32_t seed = 12345;
	size_t cap = n * (n_voices ? n_voices : 1), k = 0;
	struct ivr_testset_outcome *o = calloc(cap ? cap : 1, sizeof(*o));
	struct ivr_asr_cmn *cmn = calloc(n_voices + 1, sizeof(*cmn));
	if (!o || !cmn) {
		free(o);
		free(cmn);
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t v = 0; v < (n_voices ? n_voices : 1) && rc == 0; v++) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			const struct ivr_testcase *c = &cases[i];
			if (c->is_audio && v > 0)
				continue;
			char wav[4096];
			const char *voice = c->is_audio ? "recorded" : voices[v];
			if (c->is_audio) {
				if (c->text[0] == '/')
					snprintf(wav, sizeof(wav), "%s", c->text);
				else
					snprintf(wav, sizeof(wav), "%s/%s", cases_dir, c->text);
			} else if ((rc = ivr_testset_render(c->text, voice, cache_dir, wav,
							    sizeof(wav))) < 0) {
				break;
			}
			struct ivr_testset_outcome *oc = &o[k];
			oc->c = c;
			oc->voice = voice;
			oc->node = ivr_flow_find_node(flow, c->node);
			oc->expected =
				strcmp(c->expected, "-")
					? ivr_flow_find_intent(&flow->nodes[oc->node], c->expected)
					: -1;
			int g = ivr_recognizer_grammar(rec, flow, (size_t)oc->node);
			if (g < 0 || replay_one(rec, g, wav, opts->snr_db, &seed,
						&cmn[c->is_audio ? n_voices : v], &oc->r) < 0) {
				memset(&oc->r, 0, sizeof(oc->r));
				oc->r.intent = oc->r.best_intent = -1;
			}
			k++;
			if (log)
				fprintf(log,
					"%-8s %-14s %-10s -> %-10s %.2f gap %5.2f score %6.1f "
					"\"%s\" [%s]\n",
					voice, c->node, c->expected,
					oc->r.intent >= 0 ? oc->r.intent_name : "-",
					oc->r.confidence, oc->r.score_gap, oc->r.grammar_score,
					oc->r.text, c->text);
			/* the n-best alternatives (asr/nbest.h) under their line */
			for (size_t a = 1; log && a < oc->r.n_nbest; a++) {
				const struct ivr_asr_hyp *h = &oc->r.nbest[a];
				fprintf(log, "%36s alt %-10s %.3f \"%s\"\n", "",
					h->intent >= 0
						? flow->nodes[oc->node].intents[h->intent].name
						: "-",
					h->confidence, h->text);
			}
		}
	}
	free(cmn);
	if (rc < 0) {
		free(o);
		return rc;
	}
	*out = o;
	return (int)k;
}

int ivr_testset_classify_text(const struct ivr_flow *flow, const struct ivr_testcase *cases,
			      size_t n, FILE *log, struct ivr_testset_outcome **out)
{
	if (!flow || (!cases && n) || !out)
		return -EINVAL;
	struct ivr_testset_outcome *o = calloc(n ? n : 1, sizeof(*o));
	struct ivr_intent_model **models =
		calloc(flow->n_nodes ? flow->n_nodes : 1, sizeof(*models));
	if (!o || !models) {
		free(o);
		free(models);
		return -ENOMEM;
	}
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ivr_testcase *c = &cases[i];
		if (c->is_audio)
			continue;
		struct ivr_testset_outcome *oc = &o[k++];
		oc->c = c;
		oc->voice = "text";
		oc->node = ivr_flow_find_node(flow, c->node);
		const struct ivr_flow_node *nd = &flow->nodes[oc->node];
		oc->expected =
			strcmp(c->expected, "-") ? ivr_flow_find_intent(nd, c->expected) : -1;
		oc->r.intent = oc->r.best_intent = -1;
		snprintf(oc->r.text, sizeof(oc->r.text), "%s", c->text);
		oc->r.acoustic_confidence = 1;
		/* Models are built on first use: nodes without cases cost nothing. */
		if (!models[oc->node] && nd->n_intents &&
		    !(models[oc->node] = ivr_intent_build(nd))) {
			rc = -ENOMEM;
			break;
		}
		struct ivr_intent_result ir;
		float garbage = 0;
		if (models[oc->node] &&
		    ivr_intent_classify(models[oc->node], c->text, 1.0f, nd->threshold, &ir) == 0) {
			oc->r.intent = ir.intent;
			oc->r.best_intent = ir.best;
			oc->r.confidence = ir.confidence;
			oc->r.intent_name = ir.intent >= 0 ? nd->intents[ir.intent].name : NULL;
			garbage = ir.garbage;
		}
		if (log)
			fprintf(log,
				"%-8s %-14s %-10s -> %-10s %.2f (best %s, garbage %.2f) [%s]\n",
				oc->voice, c->node, c->expected,
				oc->r.intent >= 0 ? oc->r.intent_name : "-", oc->r.confidence,
				oc->r.best_intent >= 0 ? nd->intents[oc->r.best_intent].name : "-",
				garbage, c->text);
	}
	for (size_t i = 0; i < flow->n_nodes; i++)
		ivr_intent_free(models[i]);
	free(models);
	if (rc < 0) {
		free(o);
		return rc;
	}
	*out = o;
	return (int)k;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int decide(const struct ivr_testset_outcome *o, float threshold)
{
	if (threshold < 0)
		return o->r.intent;
	return o->r.best_intent >= 0 && o->r.confidence >= threshold ? o->r.best_intent : -1;
}

void ivr_testset_summarise(const struct ivr_testset_outcome *o, size_t n, float threshold,
			   struct ivr_testset_summary *s)
{
	memset(s, 0, sizeof(*s));
	double *ms = malloc((n ? n : 1) * sizeof(double));
	for (size_t i = 0; i < n; i++) {
		int got = decide(&o[i], threshold);
		if (o[i].expected < 0) {
			s->n_ood++;
			s->ood_rejected += got < 0;
		} else {
			s->n_in++;
			s->in_correct += got == o[i].expected;
			s->in_rejected += got < 0;
			s->in_wrong += got >= 0 && got != o[i].expected;
			if (o[i].c->is_phrase) {
				s->n_phrase++;
				s->phrase_correct += got == o[i].expected;
			} else {
				s->n_para++;
				s->para_correct += got == o[i].expected;
			}
		}
		if (ms)
			ms[i] = o[i].r.decode_us / 1000.0;
		s->decode_ms_total += o[i].r.decode_us / 1000.0;
		s->speech_ms_total += o[i].r.speech_ms;
		s->decode_ms_max = fmax(s->decode_ms_max, o[i].r.decode_us / 1000.0);
	}
	if (ms && n) {
		qsort(ms, n, sizeof(double), cmp_double);
		s->decode_ms_median = ms[n / 2];
	}
	free(ms);
}

static double pct(uint32_t a, uint32_t b)
{
	return b ? 100.0 * a / b : 0;
}

void ivr_testset_print(FILE *f, const struct ivr_flow *flow, const struct ivr_testset_outcome *o,
		       size_t n)
{
	struct ivr_testset_summary s;
	ivr_testset_summarise(o, n, -1, &s);
	fprintf(f, "cases: %zu (in-domain %u: %u phrases, %u paraphrases; out-of-domain %u)\n", n,
		s.n_in, s.n_phrase, s.n_para, s.n_ood);
	fprintf(f, "intent accuracy: %.1f%% (%u/%u)  phrases %.1f%%  paraphrases %.1f%%\n",
		pct(s.in_correct, s.n_in), s.in_correct, s.n_in, pct(s.phrase_correct, s.n_phrase),
		pct(s.para_correct, s.n_para));
	fprintf(f, "in-domain rejected (false reject): %.1f%%  wrong intent: %.1f%%\n",
		pct(s.in_rejected, s.n_in), pct(s.in_wrong, s.n_in));
	fprintf(f, "out-of-domain rejected: %.1f%% (%u/%u)  false accepts: %u\n",
		pct(s.ood_rejected, s.n_ood), s.ood_rejected, s.n_ood, s.n_ood - s.ood_rejected);
	fprintf(f, "decode: median %.1f ms, max %.1f ms per utterance, %.3f x real time\n",
		s.decode_ms_median, s.decode_ms_max,
		s.speech_ms_total > 0 ? s.decode_ms_total / s.speech_ms_total : 0);

	/* Labels: node/intent pairs seen as expected or decided, plus "-". */
	enum { MAXL = 64 };
	char labels[MAXL][96];
	size_t nl = 1;
	snprintf(labels[0], sizeof(labels[0]), "-");
	static uint32_t cm[MAXL][MAXL];
	memset(cm, 0, sizeof(cm));
	for (size_t i = 0; i < n; i++) {
		const struct ivr_flow_node *nd = &flow->nodes[o[i].node];
		int pair[2] = { o[i].expected, o[i].r.intent };
		size_t li[2];
		for (int k = 0; k < 2; k++) {
			char name[96];
			if (pair[k] < 0)
				snprintf(name, sizeof(name), "-");
			else
				snprintf(name, sizeof(name), "%s/%s", nd->name,
					 nd->intents[pair[k]].name);
			size_t j = 0;
			while (j < nl && strcmp(labels[j], name))
				j++;
			if (j == nl && nl < MAXL)
				snprintf(labels[nl++], sizeof(labels[0]), "%s", name);
			li[k] = j < MAXL ? j : 0;
		}
		cm[li[0]][li[1]]++;
	}
	fprintf(f, "\nconfusion (rows expected, columns recognised; - = no intent):\n%24s", "");
	for (size_t j = 0; j < nl; j++)
		fprintf(f, " %4zu", j);
	fprintf(f, "\n");
	for (size_t i = 0; i < nl; i++) {
		uint32_t row = 0;
		for (size_t j = 0; j < nl; j++)
			row += cm[i][j];
		if (!row)
			continue;
		fprintf(f, "%2zu %-21.21s", i, labels[i]);
		for (size_t j = 0; j < nl; j++)
			fprintf(f, " %4u", cm[i][j]);
		fprintf(f, "   recall %5.1f%%\n", pct(cm[i][i], row));
	}
	fprintf(f, "\nthreshold sweep (false accept = out-of-domain accepted or wrong intent;"
		   " false reject = in-domain rejected):\n");
	fprintf(f, "  threshold  accuracy  FA-ood  FA-wrong  FR\n");
	for (int t = 0; t <= 9; t++) {
		float th = t / 10.0f;
		ivr_testset_summarise(o, n, th, &s);
		fprintf(f, "  %9.1f  %7.1f%%  %5.1f%%  %7.1f%%  %5.1f%%\n", th,
			pct(s.in_correct, s.n_in), pct(s.n_ood - s.ood_rejected, s.n_ood),
			pct(s.in_wrong, s.n_in), pct(s.in_rejected, s.n_in));
	}
}
