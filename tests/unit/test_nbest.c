/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_nbest.c - n-best word strings from the lattice (asr/nbest.h)
 * on speech synthesised in the test (flite slt/rms, 8 kHz mu-law), clean and
 * with noise: distinct, ordered, posteriors in 0..1 summing to <= 1, entry 0
 * the result's text, the spoken text found among the alternatives when it is
 * not the best path (6 of 84 utterances of bank.cases); no lattice, empty utterances and bad
 * arguments give the best entry alone.  Prints the added tail latency per utterance (not asserted).
 * IVR_NBEST_VOTE=1 also measures an intent vote over the n-best on the tuning sets
 * (grammars/tests/{bank,hotline}{,.heldout,.heldout2}). Skips (77) without the en-us model or
 * flite.
 */
#include "config.h"

#if !IVR_HAVE_ASR
#include <stdio.h>
int main(void)
{
	puts("built without speech recognition (-Dasr=disabled): skipped");
	return 77;
}
#else

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pocketsphinx.h>

#include "asr/grammar.h"
#include "asr/intent.h"
#include "asr/nbest.h"
#include "asr/recognizer.h"
#include "asr/testset.h"
#include "dsp/wav.h"
#include "ivr_asr_test.h"
#include "ivr_test.h"

#define MODEL_DIR "/usr/share/pocketsphinx/model/en-us"

static struct ivr_flow *bank;
static struct ivr_recognizer *rec;
static char cache[1024];
static const char *const VOICES[] = { "slt", "rms" };

static double now_ms(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The spoken words as the recogniser spells them (lower case, single spaces). */
static void norm_text(const char *in, char *out, size_t len)
{
	char w[64][IVR_INTENT_WORD_MAX];
	size_t n = IVR_MIN(ivr_intent_words(in, w, 64), (size_t)64), o = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && o + 1 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "", w[i]);
}

/* The properties every result's n-best list has. */
static void check_list(const struct ivr_asr_result *r, const char *what)
{
	if (!r->text[0]) {
		ivr_check_msg(r->n_nbest == 0, "%s: %zu entries without text", what, r->n_nbest);
		return;
	}
	ivr_check_msg(r->n_nbest >= 1 && r->n_nbest <= IVR_ASR_NBEST, "%s: %zu", what, r->n_nbest);
	ivr_check_msg(!strcmp(r->nbest[0].text, r->text), "%s: entry 0 \"%s\" text \"%s\"", what,
		      r->nbest[0].text, r->text);
	ivr_check_int_eq(r->nbest[0].intent, r->best_intent);
	double sum = 0;
	for (size_t k = 0; k < r->n_nbest; k++) {
		const struct ivr_asr_hyp *h = &r->nbest[k];
		ivr_check_msg(h->confidence >= 0 && h->confidence <= 1, "%s: %zu: %f", what, k,
			      h->confidence);
		ivr_check_msg(h->text[0], "%s: entry %zu empty", what, k);
		if (k)
			ivr_check_msg(h->confidence <= r->nbest[k - 1].confidence + 1e-6f,
				      "%s: entry %zu %f > %f", what, k, h->confidence,
				      r->nbest[k - 1].confidence);
		for (size_t j = 0; j < k; j++)
			ivr_check_msg(strcmp(h->text, r->nbest[j].text), "%s: \"%s\" twice", what,
				      h->text);
		for (const char *c = h->text; *c; c++)
			ivr_check_msg(*c != '<' && *c != '[' && *c != '+', "%s: filler in \"%s\"",
				      what, h->text);
		sum += h->confidence;
	}
	ivr_check_msg(sum <= 1.0 + 1e-4, "%s: sum %f", what, sum);
}

static int load_cases(const char *name, struct ivr_flow **f, struct ivr_testcase **cases, size_t *n,
		      char *dir, size_t dir_len)
{
	char rel[128], p[1024], err[512];
	snprintf(rel, sizeof(rel), "grammars/tests/%s.cases", name);
	ivr_test_srcpath(p, sizeof(p), rel);
	ivr_test_srcpath(dir, dir_len, "grammars/tests");
	if (ivr_testset_load(p, *f, cases, n, err, sizeof(err)) < 0) {
		ivr_check_msg(0, "%s", err);
		return -1;
	}
	return 0;
}

/*
 * Every utterance of bank.cases (both voices): the list's properties, and how
 * often the spoken text is the best path or only an alternative.  (A pass at
 * 10 dB SNR found no utterance more whose spoken text was only an
 * alternative, at twice the test's time, so it is not run.)
 */
IVR_TEST(lists_on_real_speech)
{
	struct ivr_testcase *cases;
	size_t n;
	char dir[1024];
	if (load_cases("bank", &bank, &cases, &n, dir, sizeof(dir)) < 0)
		return IVR_TEST_FAIL;
	size_t best_true = 0, alt_true = 0, lists = 0, entries = 0, total = 0;
	{
		struct ivr_testset_opts o = { .voices = VOICES,
					      .n_voices = IVR_N_ELEMENTS(VOICES),
					      .cache_dir = cache,
					      .cases_dir = dir };
		struct ivr_testset_outcome *out = NULL;
		int no = ivr_testset_run(rec, bank, cases, n, &o, &out);
		if (no == -ENOENT) {
			free(cases);
			return IVR_TEST_SKIP;
		}
		ivr_check(no > 0);
		for (int i = 0; i < no; i++) {
			const struct ivr_asr_result *r = &out[i].r;
			char what[512], truth[IVR_ASR_TEXT_MAX];
			snprintf(what, sizeof(what), "%s/%s", out[i].c->text, out[i].voice);
			check_list(r, what);
			total++;
			if (!r->text[0])
				continue;
			lists += r->n_nbest > 1;
			entries += r->n_nbest;
			norm_text(out[i].c->text, truth, sizeof(truth));
			if (!strcmp(r->nbest[0].text, truth)) {
				best_true++;
				continue;
			}
			for (size_t k = 1; k < r->n_nbest; k++)
				if (!strcmp(r->nbest[k].text, truth)) {
					alt_true++;
					printf("  spoken \"%s\" (%s) is entry %zu (%.3f); best "
					       "\"%s\" "
					       "(%.3f)\n",
					       truth, out[i].voice, k, r->nbest[k].confidence,
					       r->text, r->nbest[0].confidence);
				}
		}
		free(out);
	}
	printf("  %zu utterances: spoken text best %zu, only an alternative %zu; %zu with "
	       "alternatives, %.2f entries per list\n",
	       total, best_true, alt_true, lists, lists ? (double)entries / (double)total : 0.0);
	ivr_check(lists > 0);
	ivr_check(alt_true >= 1);
	free(cases);
	return IVR_TEST_RESULT();
}

/* A raw decoder with the recogniser's search settings, and node @node's LM. */
static ps_decoder_t *raw_decoder(const struct ivr_flow_node *node)
{
	cmd_ln_t *c =
		cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", MODEL_DIR "/en-us", "-dict",
			    MODEL_DIR "/cmudict-en-us.dict", "-mmap", "yes", "-logfn", "/dev/null",
			    "-fwdflat", "no", "-bestpath", "yes", "-ds", "2", "-maxhmmpf", "3000",
			    "-maxwpf", "20", "-remove_silence", "no", NULL);
	ps_decoder_t *ps = c ? ps_init(c) : NULL;
	if (c)
		cmd_ln_free_r(c);
	char *arpa = NULL;
	if (!ps || ivr_grammar_arpa(node, &arpa) < 0) {
		if (ps)
			ps_free(ps);
		return NULL;
	}
	char path[64];
	snprintf(path, sizeof(path), "/tmp/test_nbest_XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ok = f && fputs(arpa, f) >= 0;
	if (f)
		ok &= fclose(f) == 0;
	free(arpa);
	ngram_model_t *lm =
		ok ? ngram_model_read(ps_get_config(ps), path, NGRAM_ARPA, ps_get_logmath(ps))
		   : NULL;
	if (fd >= 0)
		unlink(path);
	if (!lm || ps_set_lm(ps, "main", lm) < 0 || ps_set_search(ps, "main") < 0) {
		if (lm)
			ngram_model_free(lm);
		ps_free(ps);
		return NULL;
	}
	ngram_model_free(lm);
	return ps;
}

static int decode_raw(ps_decoder_t *ps, const struct ivr_audio *a)
{
	int16_t *pcm = malloc(a->n_samples * sizeof(*pcm));
	if (!pcm)
		return -1;
	for (size_t i = 0; i < a->n_samples; i++)
		pcm[i] = (int16_t)lrintf(IVR_CLAMP(a->samples[i] * 32767.0f, -32768.0f, 32767.0f));
	int rc = ps_start_utt(ps);
	for (size_t off = 0; rc >= 0 && off < a->n_samples; off += 1600)
		rc = ps_process_raw(ps, pcm + off, IVR_MIN((size_t)1600, a->n_samples - off), FALSE,
				    FALSE);
	if (ps_end_utt(ps) < 0)
		rc = -1;
	free(pcm);
	return rc < 0 ? -1 : 0;
}

/*
 * The cost: ivr_nbest_list() timed on its own over the main node's cases
 * (the time it adds between the end of speech and the result), with the
 * decoder's own best text as entry 0.
 */
IVR_TEST(cost_and_best_text)
{
	int ni = ivr_flow_find_node(bank, "main");
	ps_decoder_t *ps = raw_decoder(&bank->nodes[ni]);
	if (!ps) {
		printf("  no raw decoder: skipped\n");
		return IVR_TEST_SKIP;
	}
	struct ivr_testcase *cases;
	size_t n;
	char dir[1024];
	if (load_cases("bank", &bank, &cases, &n, dir, sizeof(dir)) < 0) {
		ps_free(ps);
		return IVR_TEST_FAIL;
	}
	double ms[256], cpu_ms[256], dec_ms[256];
	size_t nm = 0, in_lattice = 0, capped = 0, pops_max = 0, links_max = 0;
	for (size_t i = 0; i < n && nm < IVR_N_ELEMENTS(ms); i++) {
		if (strcmp(cases[i].node, "main") || cases[i].is_audio)
			continue;
		/* one voice: the cost depends on the lattice's size, not on whose speech */
		for (size_t v = 0; v < 1 && nm < IVR_N_ELEMENTS(ms); v++) {
			char wav[2048], err[256];
			struct ivr_audio a;
			if (ivr_testset_render(cases[i].text, VOICES[v], cache, wav, sizeof(wav)) <
				    0 ||
			    ivr_wav_read(&a, wav, 16000, err, sizeof(err)) < 0)
				continue;
			double t0 = now_ms(CLOCK_MONOTONIC);
			int rc = decode_raw(ps, &a);
			const char *hyp = rc == 0 ? ps_get_hyp(ps, NULL) : NULL;
			double t1 = now_ms(CLOCK_MONOTONIC), c1 = now_ms(CLOCK_THREAD_CPUTIME_ID);
			ivr_audio_free(&a);
			ivr_check(rc == 0);
			if (!hyp || !hyp[0])
				continue;
			struct ivr_nbest_alt alts[IVR_ASR_NBEST];
			struct ivr_nbest_stats st;
			int k = ivr_nbest_list(ps, hyp, alts, IVR_ASR_NBEST, &st);
			double t2 = now_ms(CLOCK_MONOTONIC), c2 = now_ms(CLOCK_THREAD_CPUTIME_ID);
			ivr_check_msg(k >= 1 && !strcmp(alts[0].text, hyp), "%d \"%s\" \"%s\"", k,
				      k > 0 ? alts[0].text : "", hyp);
			double sum = 0;
			for (int j = 0; j < k; j++) {
				ivr_check(alts[j].posterior >= 0 && alts[j].posterior <= 1);
				ivr_check(j == 0 || alts[j].posterior <= alts[j - 1].posterior);
				sum += alts[j].posterior;
			}
			ivr_check_msg(sum <= 1.0 + 1e-4, "sum %f", sum);
			ms[nm] = t2 - t1;
			cpu_ms[nm] = c2 - c1;
			dec_ms[nm++] = t1 - t0;
			in_lattice += (size_t)st.best_in_lattice;
			capped += (size_t)st.capped;
			pops_max = IVR_MAX(pops_max, (size_t)st.pops);
			links_max = IVR_MAX(links_max, (size_t)st.links);
		}
	}
	ivr_check(nm > 0);
	if (nm) {
		qsort(ms, nm, sizeof(*ms), cmp_double);
		qsort(cpu_ms, nm, sizeof(*cpu_ms), cmp_double);
		qsort(dec_ms, nm, sizeof(*dec_ms), cmp_double);
		/* wall time includes preemption on a loaded machine; thread CPU time does not */
		printf("  n-best tail latency over %zu utterances: wall median %.2f ms, max %.2f "
		       "ms; "
		       "CPU median %.2f ms, max %.2f ms (decode wall median %.1f ms); lattices up "
		       "to %zu links, up to %zu expansions, %zu capped; decoder's text in the "
		       "lattice %zu/%zu\n",
		       nm, ms[nm / 2], ms[nm - 1], cpu_ms[nm / 2], cpu_ms[nm - 1], dec_ms[nm / 2],
		       links_max, pops_max, capped, in_lattice, nm);
	}
	ivr_check(in_lattice == nm);
	free(cases);
	ps_free(ps);
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_input_gives_the_best_entry)
{
	struct ivr_nbest_alt alts[IVR_ASR_NBEST];
	ivr_check_int_eq(ivr_nbest_list(NULL, "hello", NULL, 3, NULL), -EINVAL);
	ivr_check_int_eq(ivr_nbest_list(NULL, "hello", alts, 0, NULL), -EINVAL);
	ivr_check_int_eq(ivr_nbest_list(NULL, "", alts, 3, NULL), 0);
	ivr_check_int_eq(ivr_nbest_list(NULL, NULL, alts, 3, NULL), 0);
	/* no decoder, so no lattice: the text alone, all the probability */
	ivr_check_int_eq(ivr_nbest_list(NULL, "  check  my balance ", alts, 3, NULL), 1);
	ivr_check(!strcmp(alts[0].text, "check my balance"));
	ivr_check(fabsf(alts[0].posterior - 1.0f) < 1e-6f);

	int ni = ivr_flow_find_node(bank, "main");
	ps_decoder_t *ps = raw_decoder(&bank->nodes[ni]);
	if (!ps)
		return IVR_TEST_SKIP;
	/* an empty utterance: no frames, no lattice */
	struct ivr_audio none = { .samples = NULL, .n_samples = 0, .rate_hz = 16000 };
	ivr_check(decode_raw(ps, &none) == 0);
	struct ivr_nbest_stats st;
	ivr_check_int_eq(ivr_nbest_list(ps, "agent", alts, IVR_ASR_NBEST, &st), 1);
	ivr_check(!strcmp(alts[0].text, "agent"));
	/* the keyword search has no lattice */
	char wav[2048], err[256];
	struct ivr_audio a;
	if (ivr_testset_render("agent please", "slt", cache, wav, sizeof(wav)) == 0 &&
	    ivr_wav_read(&a, wav, 16000, err, sizeof(err)) == 0) {
		ivr_check(ps_set_keyphrase(ps, "kws", "agent") == 0 &&
			  ps_set_search(ps, "kws") == 0);
		ivr_check(decode_raw(ps, &a) == 0);
		const char *hyp = ps_get_hyp(ps, NULL);
		int k = ivr_nbest_list(ps, hyp && hyp[0] ? hyp : "agent", alts, IVR_ASR_NBEST, &st);
		ivr_check_int_eq(k, 1);
		ivr_check(fabsf(alts[0].posterior - 1.0f) < 1e-6f);
		ivr_audio_free(&a);
	}
	ps_free(ps);

	/* the recogniser: silence gives no text and no list */
	float quiet[8000] = { 0 };
	struct ivr_asr_result r;
	int g = ivr_recognizer_grammar(rec, bank, (size_t)ni);
	ivr_check_int_eq(ivr_recognizer_decode(rec, g, quiet, 8000, 8000, NULL, &r), 0);
	check_list(&r, "silence");
	return IVR_TEST_RESULT();
}

/* ---- IVR_NBEST_VOTE=1: does an intent vote over the n-best help? */

/* The vote: posterior mass per intent over the list; only an accepted result may change. */
static int vote(const struct ivr_asr_result *r)
{
	if (r->intent < 0 || r->n_nbest < 2)
		return r->intent;
	float mass[64] = { 0 };
	for (size_t k = 0; k < r->n_nbest; k++)
		if (r->nbest[k].intent >= 0 && r->nbest[k].intent < 64)
			mass[r->nbest[k].intent] += r->nbest[k].confidence;
	int best = r->intent;
	for (int i = 0; i < 64; i++)
		if (mass[i] > mass[best])
			best = i;
	return best;
}

static void vote_set(const char *flow, const char *set, size_t t[6])
{
	char rel[128], p[1024], err[512], dir[1024];
	snprintf(rel, sizeof(rel), "grammars/%s.yaml", flow);
	struct ivr_flow *f;
	if (ivr_flow_load(&f, ivr_test_srcpath(p, sizeof(p), rel), err, sizeof(err)) < 0) {
		ivr_check_msg(0, "%s", err);
		return;
	}
	struct ivr_testcase *cases;
	size_t n;
	const struct ivr_flow *fl[1] = { f };
	struct ivr_recognizer *r = ivr_recognizer_new(fl, 1, NULL, err, sizeof(err));
	if (!r || load_cases(set, &f, &cases, &n, dir, sizeof(dir)) < 0) {
		ivr_recognizer_free(r);
		ivr_flow_free(f);
		return;
	}
	struct ivr_testset_opts o = { .voices = VOICES,
				      .n_voices = IVR_N_ELEMENTS(VOICES),
				      .cache_dir = cache,
				      .cases_dir = dir };
	struct ivr_testset_outcome *out = NULL;
	int no = ivr_testset_run(r, f, cases, n, &o, &out);
	size_t c[6] = { 0 }; /* in, in correct, in correct by vote, ood, ood rejected (both) */
	for (int i = 0; i < no; i++) {
		int e = out[i].expected, v = vote(&out[i].r);
		if (e >= 0) {
			c[0]++;
			c[1] += out[i].r.intent == e;
			c[2] += v == e;
		} else {
			c[3]++;
			c[4] += out[i].r.intent < 0;
			c[5] += v < 0;
		}
	}
	printf("  %-18s in-domain %zu/%zu, vote %zu/%zu; rejected %zu/%zu, vote %zu/%zu\n", set,
	       c[1], c[0], c[2], c[0], c[4], c[3], c[5], c[3]);
	for (int i = 0; i < 6; i++)
		t[i] += c[i];
	free(out);
	free(cases);
	ivr_recognizer_free(r);
	ivr_flow_free(f);
}

IVR_TEST(intent_vote_on_tuning_sets)
{
	const char *env = getenv("IVR_NBEST_VOTE");
	if (!env || strcmp(env, "1")) {
		printf("  IVR_NBEST_VOTE=1 measures it (about a minute): skipped\n");
		return IVR_TEST_SKIP;
	}
	size_t t[6] = { 0 };
	const char *sets[] = { "", ".heldout", ".heldout2" };
	for (int fl = 0; fl < 2; fl++)
		for (int s = 0; s < 3; s++) {
			char name[64];
			snprintf(name, sizeof(name), "%s%s", fl ? "hotline" : "bank", sets[s]);
			vote_set(fl ? "hotline" : "bank", name, t);
		}
	printf("  all: in-domain %zu/%zu, vote %zu/%zu; rejected %zu/%zu, vote %zu/%zu\n", t[1],
	       t[0], t[2], t[0], t[4], t[3], t[5], t[3]);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	int exit_code;
	rec = ivr_asr_test_bank(&bank, cache, sizeof(cache), &exit_code);
	if (!rec)
		return exit_code;
	ivr_test_run(lists_on_real_speech);
	ivr_test_run(cost_and_best_text);
	ivr_test_run(bad_input_gives_the_best_entry);
	ivr_test_run(intent_vote_on_tuning_sets);
	ivr_recognizer_free(rec);
	ivr_flow_free(bank);
	return ivr_test_summary();
}
#endif /* IVR_HAVE_ASR */
