/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_asr_intents.c - intent recognition on telephone
 * speech: the demo flows' cases (grammars/tests/NAME.cases: example phrases,
 * paraphrases that are not in the flow files, out-of-domain sentences)
 * rendered by two flite voices, 8 kHz mu-law, through the same recogniser
 * path as ivr-asr and ivr-flow test.  Renderings are cached in the build dir.
 *
 * Targets from issue 6: intent accuracy >= 95% on phrases and paraphrases,
 * out-of-domain rejected >= 90%.  The recogniser runs its default search, a
 * trigram model per node built from the flow's phrases plus 3000 general
 * English words (asr/grammar.c, asr/wordlist.h).  Measured (see the report
 * printed): all in-domain 97.3% (bank 97.0%, hotline 97.7%), out-of-domain
 * rejection 97.1% with fwdflat's second pass (branch asrheld); with the
 * single-pass search (asrmix) 95.5% (bank 93.9%, hotline 97.7%) / 91.2%:
 * below the assertions, which were kept at asrheld's level (docs/asr.md,
 * "General words and the single-pass search combined").  With the
 * garbage-word rate (asrheld4): 95.5% (105/110) / 97.1% (33/34); the
 * rejection assertion was raised to 94% (one case of margin).  These two sets and the older
 * held-out sets (grammars/tests/NAME.heldout.cases, .heldout2.cases) were used to choose the
 * search's settings; the accuracy assertion is the level this code achieves, with one case of
 * margin.  The held-out sets are not replayed here (time: this test already takes ~35-70 s on the
 * shared machine); docs/asr.md gives their figures and those of the untouched .heldout3 sets from
 * ivr-flow test.
 * Exit 77 when the model or flite is missing.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asr/recognizer.h"
#include "asr/testset.h"
#include "ivr_test.h"

static const char *const VOICES[] = { "slt", "rms" };

struct totals {
	struct ivr_testset_summary s;
	int skipped;
};

static void run_flow(const char *name, struct totals *t)
{
	char path[128], cases_path[128], dir[1024], err[512], cache[1024];
	snprintf(path, sizeof(path), "grammars/%s.yaml", name);
	snprintf(cases_path, sizeof(cases_path), "grammars/tests/%s.cases", name);
	char fp[1024], cp[1024];
	ivr_test_srcpath(fp, sizeof(fp), path);
	ivr_test_srcpath(cp, sizeof(cp), cases_path);
	ivr_test_srcpath(dir, sizeof(dir), "grammars/tests");
	snprintf(cache, sizeof(cache), "%s/tts-cache",
		 getenv("IVR_BUILD_DIR") ? getenv("IVR_BUILD_DIR") : IVR_BUILD_DIR);
	struct ivr_flow *f;
	if (ivr_flow_load(&f, fp, err, sizeof(err)) < 0) {
		ivr_check_msg(0, "%s", err);
		return;
	}
	struct ivr_testcase *cases;
	size_t n;
	if (ivr_testset_load(cp, f, &cases, &n, err, sizeof(err)) < 0) {
		ivr_check_msg(0, "%s", err);
		ivr_flow_free(f);
		return;
	}
	const struct ivr_flow *fl[1] = { f };
	struct ivr_recognizer *rec = ivr_recognizer_new(fl, 1, NULL, err, sizeof(err));
	if (!rec) {
		if (errno == ENOENT)
			t->skipped = 1;
		else
			ivr_check_msg(0, "%s", err);
		free(cases);
		ivr_flow_free(f);
		return;
	}
	struct ivr_testset_outcome *o;
	struct ivr_testset_opts opts = { VOICES, IVR_N_ELEMENTS(VOICES), cache, dir, 0, NULL };
	int k = ivr_testset_run(rec, f, cases, n, &opts, &o);
	if (k == -ENOENT) {
		t->skipped = 1;
	} else if (k < 0) {
		ivr_check_msg(0, "replay: %s", ivr_strerror(k));
	} else {
		printf("== %s ==\n", name);
		ivr_testset_print(stdout, f, o, (size_t)k);
		struct ivr_testset_summary s;
		ivr_testset_summarise(o, (size_t)k, -1, &s);
		t->s.n_in += s.n_in;
		t->s.in_correct += s.in_correct;
		t->s.n_phrase += s.n_phrase;
		t->s.phrase_correct += s.phrase_correct;
		t->s.n_para += s.n_para;
		t->s.para_correct += s.para_correct;
		t->s.n_ood += s.n_ood;
		t->s.ood_rejected += s.ood_rejected;
		t->s.decode_ms_max =
			s.decode_ms_max > t->s.decode_ms_max ? s.decode_ms_max : t->s.decode_ms_max;
		free(o);
	}
	ivr_recognizer_free(rec);
	free(cases);
	ivr_flow_free(f);
}

IVR_TEST(demo_flow_intents)
{
	struct totals t = { 0 };
	run_flow("bank", &t);
	if (!t.skipped)
		run_flow("hotline", &t);
	if (t.skipped) {
		printf("pocketsphinx model or flite missing: skipped\n");
		return IVR_TEST_SKIP;
	}
	const struct ivr_testset_summary *s = &t.s;
	double acc = s->n_in ? (double)s->in_correct / s->n_in : 0;
	double phr = s->n_phrase ? (double)s->phrase_correct / s->n_phrase : 0;
	double para = s->n_para ? (double)s->para_correct / s->n_para : 0;
	double rej = s->n_ood ? (double)s->ood_rejected / s->n_ood : 0;
	printf("== both flows, voices slt+rms ==\n"
	       "intent accuracy %.1f%% (phrases %.1f%%, paraphrases %.1f%%), "
	       "out-of-domain rejected %.1f%%\n"
	       "targets: accuracy >= 95%% %s, rejection >= 90%% %s (asserted: 94%%)\n",
	       100 * acc, 100 * phr, 100 * para, 100 * rej, acc >= 0.95 ? "met" : "NOT met",
	       rej >= 0.90 ? "met" : "NOT met");
	ivr_check(s->n_in >= 80 && s->n_ood >= 20);
	ivr_check_msg(phr >= 0.95, "example phrases %.3f", phr);
	ivr_check_msg(acc >= 0.95, "in-domain accuracy %.3f", acc);
	ivr_check_msg(rej >= 0.94, "out-of-domain rejection %.3f", rej);
	return IVR_TEST_RESULT();
}

/*
 * The classifier alone on every tuning set's typed text (no audio, about a
 * millisecond): its share of the errors, so a lexicon or classifier change
 * that loses paraphrases shows here even when recognition hides it.
 * Measured (asrheld4): 195/208 in-domain (93.8%), 57/57 out-of-domain
 * rejected; asserted with one case of margin.
 */
IVR_TEST(typed_text_all_tuning_sets)
{
	static const char *const SETS[] = {
		"bank",	   "bank.heldout",    "bank.heldout2",	  "bank.heldout3",
		"hotline", "hotline.heldout", "hotline.heldout2", "hotline.heldout3"
	};
	struct ivr_testset_summary t = { 0 };
	for (size_t i = 0; i < IVR_N_ELEMENTS(SETS); i++) {
		char path[128], cases_path[128], fp[1024], cp[1024], err[512];
		snprintf(path, sizeof(path), "grammars/%.*s.yaml", (int)strcspn(SETS[i], "."),
			 SETS[i]);
		snprintf(cases_path, sizeof(cases_path), "grammars/tests/%s.cases", SETS[i]);
		ivr_test_srcpath(fp, sizeof(fp), path);
		ivr_test_srcpath(cp, sizeof(cp), cases_path);
		struct ivr_flow *f;
		struct ivr_testcase *cases;
		size_t n;
		if (ivr_flow_load(&f, fp, err, sizeof(err)) < 0) {
			ivr_check_msg(0, "%s", err);
			continue;
		}
		if (ivr_testset_load(cp, f, &cases, &n, err, sizeof(err)) < 0) {
			ivr_check_msg(0, "%s", err);
			ivr_flow_free(f);
			continue;
		}
		struct ivr_testset_outcome *o;
		int k = ivr_testset_classify_text(f, cases, n, NULL, &o);
		ivr_check_msg(k > 0, "%s: %d", SETS[i], k);
		if (k > 0) {
			struct ivr_testset_summary s;
			ivr_testset_summarise(o, (size_t)k, -1, &s);
			printf("typed %-18s in-domain %u/%u, out-of-domain rejected %u/%u\n",
			       SETS[i], s.in_correct, s.n_in, s.ood_rejected, s.n_ood);
			t.n_in += s.n_in;
			t.in_correct += s.in_correct;
			t.n_ood += s.n_ood;
			t.ood_rejected += s.ood_rejected;
			free(o);
		}
		free(cases);
		ivr_flow_free(f);
	}
	double acc = t.n_in ? (double)t.in_correct / t.n_in : 0;
	double rej = t.n_ood ? (double)t.ood_rejected / t.n_ood : 0;
	printf("typed text, all tuning sets: in-domain %.1f%% (%u/%u), out-of-domain rejected "
	       "%.1f%% (%u/%u)\n",
	       100 * acc, t.in_correct, t.n_in, 100 * rej, t.ood_rejected, t.n_ood);
	ivr_check(t.n_in >= 200 && t.n_ood >= 50);
	ivr_check_msg(acc >= 0.93, "typed in-domain accuracy %.3f", acc);
	ivr_check_msg(rej >= 0.98, "typed out-of-domain rejection %.3f", rej);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(typed_text_all_tuning_sets);
	ivr_test_run(demo_flow_intents);
	return ivr_test_summary();
}
#endif /* IVR_HAVE_ASR */
