/* SPDX-License-Identifier: MIT */
/*
 * asr/recognizer.c - pocketsphinx decoders for flow nodes, and the pool.
 * See recognizer.h for the design; the numbers behind it are in DESIGN.md
 * section 7 and in the report of bench/bench_asr.c.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/feat.h>
#include <sphinxbase/jsgf.h>
#include <sphinxbase/ngram_model.h>
#include <speex/speex_resampler.h>

#include "asr/intent.h"
#include "asr/nbest.h"
#include "asr/recognizer.h"

#ifndef IVR_PS_MODELDIR
#define IVR_PS_MODELDIR "/usr/share/pocketsphinx/model"
#endif
#define DEF_HMM	     IVR_PS_MODELDIR "/en-us/en-us"
#define DEF_DICT     IVR_PS_MODELDIR "/en-us/cmudict-en-us.dict"
#define DEF_PHONE_LM IVR_PS_MODELDIR "/en-us/en-us-phone.lm.bin"
#define PHONE_SEARCH "_phone"
#define MAX_VOCAB    8192
/*
 * pocketsphinx gets the audio in 100 ms blocks, live or whole: the blocks
 * decide when live CMN shifts its window, so equal blocks give a streamed
 * utterance exactly the result of a whole one.  At most one block (~2 ms of
 * decoding) is left for the end of speech.
 */
#define STREAM_BLOCK 1600

/*
 * Telephone-speech CMN prior: the warm per-call estimate after 42 utterances
 * of grammars/tests/bank.cases through G.711 mu-law and 8->16 kHz
 * upsampling, averaged over flite slt, rms and awb.  The model's own prior is
 * for wideband microphone speech; a cold call starting from it lost its first
 * utterance (DESIGN.md section 7: warm CMN ~97%, reset ~45%).
 */
static const float TEL_CMN_PRIOR[IVR_ASR_CMN_DIM] = { 44.8f, 30.4f, -27.7f, 54.9f, -15.8f,
						      2.9f,  18.2f, -25.9f, 14.6f, -12.2f,
						      4.6f,  13.4f, -11.3f };

/*
 * Verification calibration: the score gap is (phone loop - grammar) per
 * frame, in pocketsphinx's own acoustic score units.  Measured on
 * grammars/tests/bank.cases (flite slt + rms, 8 kHz mu-law): correctly
 * recognised in-domain utterances -19..+0.3, out-of-domain 3.5..17.  The
 * context-independent phone loop is weaker than the triphone grammar, so
 * speech that fits the grammar scores below zero.  The hotline set was not
 * used to choose these.
 */
#define DEF_VERIFY_CENTER 2.5f
#define DEF_VERIFY_SCALE  0.5f
/*
 * Language weight of the n-gram searches only (pocketsphinx's default -lw
 * 6.5 stays for the JSGF searches, the cards grammar and the phone loop).
 * 8.5 on the six tuning sets, --no-verify: 90.6% in-domain / 85.3% rejected
 * (6.5: 90.3% / 85.3%), and its stronger LM prunes more (bench_asr, docs/asr.md).
 * It also lifts correct results' path scores away from out-of-domain ones
 * (VERIFY_SKIP_SCORE_LM).
 */
#define LM_LW 8.5f
/*
 * The same for n-gram searches (IVR_GRAMMAR_LM): their path score includes
 * the language model's word scores, so the gap sits higher, and since the
 * model holds 3000 general English words (asr/grammar.c) and the search is
 * the single tree pass (-fwdflat no, below) higher still and less separated.
 * Chosen with LM_LW 8.5 on the six tuning sets (grammars/tests/{bank,hotline}
 * {,.heldout,.heldout2}.cases, slt + rms) from the gaps of `ivr-flow test
 * --verify-always` against the results of `--no-verify` (centres 10-40,
 * scales 0.5-3), in-domain / rejected: 24 / 2 and 23 / 1.5 90.3% / 92.6% (most
 * correct decisions), 25.5 / 2.5 (the choice at LM_LW 6.5) 90.3% / 91.2%, no
 * verification 90.6% / 85.3%.  At LM_LW 6.5 it was 25.5 / 2.5, 89.9% / 92.6%.
 * With fwdflat's second pass the same general words gave 90.3% / 98.5% at
 * 17 / 2 (asrheld), at 1.5x the CPU.  Before the general words: 14.5 / 0.5
 * (single pass), 12 / 0.5 (fwdflat).
 */
#define DEF_VERIFY_CENTER_LM 24.0f
#define DEF_VERIFY_SCALE_LM  2.0f

/*
 * The phone loop costs ~2.8x the grammar pass, so it runs only when its
 * answer can change the result: the text maps to an intent, and the grammar
 * pass's own per-frame acoustic score is not already conclusive.  Measured
 * on grammars/tests/bank.cases (slt + rms, 8 kHz mu-law, -ds 2): every
 * out-of-domain utterance scored <= -43.0 per frame, 55 of 66 in-domain ones
 * > -40.  Above VERIFY_SKIP_SCORE the utterance is accepted as it would be
 * by a clearly negative gap.  A noisy line scores lower, so it falls back to
 * verification (slower, never less safe).  hotline.cases was not used.
 */
#define VERIFY_SKIP_SCORE (-40.0f)
/*
 * The n-gram search's path score (LM included) separates the same way, lower:
 * with LM_LW 8.5, on the six tuning sets (slt + rms, 346 utterances) every
 * out-of-domain utterance that maps to an intent scored <= -57.0 per frame,
 * and verifying only below -52 (111 utterances with an intent; 238 below -44,
 * the value at LM_LW 6.5) decides every one of them as verifying below -44
 * does (the predicted decisions are the same down to -57).  -52 keeps a
 * margin of 5; a noisy line or another voice scores lower, so it is verified
 * more, never less.  REJECT_SCORE does not apply: correct LM results score as
 * low as out-of-domain ones.
 */
#define VERIFY_SKIP_SCORE_LM (-52.0f)
/*
 * Below REJECT_SCORE the grammar fits so badly that the utterance is
 * rejected without the phone loop: on bank.cases no in-domain utterance that
 * was recognised scored below -48.8, and 8 of 18 out-of-domain ones did.
 * Same accuracy on bank.cases clean and at 20 dB SNR (ivr-flow test --snr 20)
 * with and without it.
 */
#define REJECT_SCORE (-50.0f)
/*
 * Streaming verification (verify_stream): the verifier starts on the kept
 * audio once the grammar pass's running per-frame score is at or below the
 * skip score (plus VERIFY_START_MARGIN) and its words so far map to an
 * intent, then follows it block by block while the caller speaks, so at the
 * end of speech only its last block is left.  An utterance that meets both
 * only at its very end is verified after the end, as without streaming.
 * The running score of most utterances dips below the skip score at some
 * point, so starting there ran the verifier on many that end above it.
 * bench_asr --verify-stream (one run each, load 1-3, skip score -52): margin
 * 0 (earlier run, load 3-7) 3.50 s CPU, 1.46x verifying after the end; -4
 * 2.58 s; -8 2.28 s, the same as verifying after the end (2.33 s), with the
 * streaming tail max 99 ms and 16 callers on 16 decoders max 244 ms.  The
 * utterances that end between the skip score and the start score are
 * verified after the end, whole.
 */
#define VERIFY_START_MARGIN (-8.0f)
/*
 * The pool verifies an ended utterance in slices of this much 16 kHz audio
 * (5 blocks, ~10-25 ms of decoding), so that between slices the worker can
 * finish other ends that need no verification and keep its live streams fed.
 */
#define VERIFY_SLICE (5 * STREAM_BLOCK)

struct grammar {
	char search[48];
	const struct ivr_flow *flow; /* NULL for custom grammars */
	size_t node;
	bool lm; /* an n-gram search (else JSGF) */
	struct ivr_intent_model *model;
};

struct ivr_recognizer {
	ps_decoder_t *ps;
	cmd_ln_t *config;
	/* the phone-loop verifier: ps itself, or with verify_stream a second decoder
	 * that runs beside the grammar pass */
	ps_decoder_t *vps;
	cmd_ln_t *vconfig;
	struct grammar *g;
	size_t n_g, cap_g;
	bool verify, verify_always, verify_stream;
	float verify_center, verify_scale;
	float verify_center_lm; /* n-gram searches: their path score includes the LM */
	float lm_lw;		/* language weight of the n-gram searches (LM_LW) */
	enum ivr_grammar_mode mode;
	SpeexResamplerState *up;
	int16_t *pcm;
	size_t pcm_cap;
	mfcc_t cmn_prior[IVR_ASR_CMN_DIM];	/* telephone (8 kHz input) */
	mfcc_t cmn_prior_wide[IVR_ASR_CMN_DIM]; /* the model's own, for 16 kHz input */
	bool wide;				/* current utterance is 16 kHz */
	/* streaming utterance (ivr_recognizer_stream_*) */
	bool streaming, s_has_cmn;
	int s_grammar;
	uint32_t s_rate;
	struct ivr_asr_cmn s_cmn0; /* the call's CMN at the start (verification reloads it) */
	size_t n16, fed;	   /* 16 kHz samples kept in pcm / given to pocketsphinx */
	bool v_on;		   /* the verifier streams this utterance */
	size_t vfed;		   /* 16 kHz samples given to the verifier */
	uint64_t s_busy_us;	   /* decoder time spent on the utterance so far */
	/* ended utterance whose verification is pending (end_grammar .. end_result) */
	bool e_verify;
	struct ivr_asr_result *e_out;
	struct ivr_asr_cmn *e_cmn, e_after;
	int32_t e_gscore;
	int e_gframes;
	float e_ac;
	uint64_t e_t0; /* end of speech */
	/* the lattice's word strings, taken before verification may reuse the decoder */
	struct ivr_nbest_alt e_alts[IVR_ASR_NBEST];
	int e_n_alts;
};

static void seterr(char *err, size_t len, const char *fmt, const char *a, const char *b)
{
	if (err && len)
		snprintf(err, len, fmt, a, b);
}

static int cmp_word(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * Write the dictionary lines of @words (sorted) from @dict to a temp file.
 * Missing words are listed in @err.  @return 0, -EINVAL (missing), -ENOENT.
 */
static int small_dict(const char *dict, char (*words)[IVR_INTENT_WORD_MAX], size_t n, char *path,
		      size_t path_len, char *err, size_t err_len)
{
	FILE *in = fopen(dict, "r");
	if (!in) {
		seterr(err, err_len, "cannot read dictionary %s%s", dict, "");
		return -ENOENT;
	}
	snprintf(path, path_len, "/tmp/ivr_dict_XXXXXX");
	int fd = mkstemp(path);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	char *found = calloc(n ? n : 1, 1);
	if (!out || !found) {
		if (fd >= 0 && !out)
			close(fd);
		if (out)
			fclose(out);
		if (fd >= 0)
			unlink(path);
		fclose(in);
		free(found);
		seterr(err, err_len, "cannot write a temporary dictionary%s%s", "", "");
		return -EIO;
	}
	qsort(words, n, sizeof(*words), cmp_word);
	char line[512];
	while (fgets(line, sizeof(line), in)) {
		char key[IVR_INTENT_WORD_MAX];
		ivr_intent_dict_key(line, key);
		char(*hit)[IVR_INTENT_WORD_MAX] = bsearch(key, words, n, sizeof(*words), cmp_word);
		if (hit) {
			found[hit - words] = 1;
			fputs(line, out);
		}
	}
	fclose(in);
	fclose(out);
	char missing[512] = "";
	size_t n_missing = 0;
	for (size_t i = 0; i < n; i++)
		if (!found[i]) {
			if (n_missing++ < 10) {
				size_t l = strlen(missing);
				snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? ", " : "",
					 words[i]);
			}
		}
	free(found);
	if (n_missing) {
		unlink(path);
		if (err && err_len)
			snprintf(err, err_len,
				 "%zu word%s not in the pocketsphinx dictionary %s: %s", n_missing,
				 n_missing == 1 ? "" : "s", dict, missing);
		return -EINVAL;
	}
	return 0;
}

/* Load ARPA text as an n-gram search named @search.  @return 0 or -1. */
static int set_lm(struct ivr_recognizer *r, const char *search, const char *arpa)
{
	/* add_grammar() passes NULL for a JSGF; gcc -O3 sees that path (-Wnonnull) */
	if (!arpa)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ivr_lm_XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return -1;
	}
	int ok = fputs(arpa, f) >= 0;
	ok &= fclose(f) == 0;
	/*
	 * The n-gram search's own language weight: ngram_model_read() applies -lw
	 * to the model and ngram_search_init() reads it once, so setting it around
	 * the two leaves the JSGF searches and the phone loop at the default.
	 */
	double lw0 = cmd_ln_float32_r(r->config, "-lw");
	cmd_ln_set_float32_r(r->config, "-lw", r->lm_lw);
	ngram_model_t *lm =
		ok ? ngram_model_read(r->config, path, NGRAM_ARPA, ps_get_logmath(r->ps)) : NULL;
	unlink(path);
	/* ps_set_lm() keeps its own reference */
	int set = lm ? ps_set_lm(r->ps, search, lm) : -1;
	cmd_ln_set_float32_r(r->config, "-lw", lw0);
	if (lm)
		ngram_model_free(lm);
	return set < 0 ? -1 : 0;
}

/* @jsgf, or when it is NULL @arpa (an n-gram model), as search number r->n_g. */
static int add_grammar(struct ivr_recognizer *r, const char *name, const char *jsgf,
		       const char *arpa, const struct ivr_flow *flow, size_t node, char *err,
		       size_t err_len)
{
	if (r->n_g == r->cap_g) {
		size_t cap = r->cap_g ? r->cap_g * 2 : 16;
		struct grammar *ng = realloc(r->g, cap * sizeof(*ng));
		if (!ng)
			return -ENOMEM;
		r->g = ng;
		r->cap_g = cap;
	}
	struct grammar *g = &r->g[r->n_g];
	memset(g, 0, sizeof(*g));
	snprintf(g->search, sizeof(g->search), "g%zu_%.40s", r->n_g, name);
	if (!jsgf) {
		if (set_lm(r, g->search, arpa) < 0) {
			seterr(err, err_len, "language model for %s does not load%s", name, "");
			return -EINVAL;
		}
		goto model;
	}
	/*
	 * What ps_set_jsgf_string() does, minus its leak: 5prealpha never frees
	 * the parsed jsgf_t.  ps_set_fsg() keeps its own reference to the FSG.
	 */
	jsgf_t *jg = jsgf_parse_string(jsgf, NULL);
	jsgf_rule_t *rule = jg ? jsgf_get_public_rule(jg) : NULL;
	fsg_model_t *fsg = rule ? jsgf_build_fsg(jg, rule, ps_get_logmath(r->ps),
						 (float32)cmd_ln_float32_r(r->config, "-lw"))
				: NULL;
	int set = fsg ? ps_set_fsg(r->ps, g->search, fsg) : -1;
	if (fsg)
		fsg_model_free(fsg);
	if (jg)
		jsgf_grammar_free(jg);
	if (set < 0) {
		seterr(err, err_len, "grammar %s does not compile%s", name,
		       " (pocketsphinx rejected the JSGF: unknown word or syntax)");
		return -EINVAL;
	}
model:
	g->lm = !jsgf;
	g->flow = flow;
	g->node = node;
	if (flow) {
		g->model = ivr_intent_build(&flow->nodes[node]);
		if (!g->model)
			return -errno;
	}
	return (int)r->n_g++;
}

struct ivr_recognizer *ivr_recognizer_new(const struct ivr_flow *const *flows, size_t n_flows,
					  const struct ivr_recognizer_cfg *cfg, char *err,
					  size_t err_len)
{
	struct ivr_recognizer_cfg c = cfg ? *cfg : (struct ivr_recognizer_cfg){ 0 };
	const char *hmm = c.hmm_dir ? c.hmm_dir : DEF_HMM;
	const char *dict = c.dict_path ? c.dict_path : DEF_DICT;
	const char *phone_lm = c.phone_lm ? c.phone_lm : DEF_PHONE_LM;
	char hmm_mdef[4096];
	snprintf(hmm_mdef, sizeof(hmm_mdef), "%s/mdef", hmm);
	if (access(hmm_mdef, R_OK) != 0 || access(dict, R_OK) != 0) {
		seterr(err, err_len, "pocketsphinx model not found (%s, %s)", hmm, dict);
		errno = ENOENT;
		return NULL;
	}
	struct ivr_recognizer *r = calloc(1, sizeof(*r));
	char(*words)[IVR_INTENT_WORD_MAX] = NULL;
	char dict_tmp[64] = "";
	int e = ENOMEM;
	if (!r)
		goto fail;
	r->mode = c.mode;
	r->verify = phone_lm[0] != 0;
	r->verify_always = c.verify_always;
	r->verify_stream = r->verify && c.verify_stream;
	r->verify_center = c.verify_center != 0 ? c.verify_center : DEF_VERIFY_CENTER;
	r->verify_scale = c.verify_scale > 0 ? c.verify_scale : DEF_VERIFY_SCALE;
	r->verify_center_lm = DEF_VERIFY_CENTER_LM;
	/* IVR_LM_LW: measuring other language weights (ivr-flow test, bench_asr) */
	const char *lw_env = getenv("IVR_LM_LW");
	r->lm_lw = lw_env ? strtof(lw_env, NULL) : LM_LW;
	if (!(r->lm_lw > 0))
		r->lm_lw = LM_LW;
	const char *use_dict = dict;
	if (!c.full_dict) {
		size_t n = 0;
		words = malloc(MAX_VOCAB * sizeof(*words));
		if (!words)
			goto fail;
		for (size_t f = 0; f < n_flows; f++)
			for (size_t i = 0; i < flows[f]->n_nodes; i++)
				if (flows[f]->nodes[i].n_intents &&
				    ivr_grammar_words(&flows[f]->nodes[i], words, &n, MAX_VOCAB) <
					    0) {
					seterr(err, err_len, "more than %s words%s", "8192", "");
					e = EINVAL;
					goto fail;
				}
		if (n == 0) {
			/* No intents anywhere: a one-word dictionary keeps ps_init happy. */
			snprintf(words[n++], IVR_INTENT_WORD_MAX, "%s", "agent");
		}
		int rc = small_dict(dict, words, n, dict_tmp, sizeof(dict_tmp), err, err_len);
		if (rc < 0) {
			e = -rc;
			dict_tmp[0] = 0;
			goto fail;
		}
		use_dict = dict_tmp;
	}
	/*
	 * -mmap: model pages shared between decoders.  -cmn live with the
	 * model's own prior: the per-call state is swapped in per utterance.
	 * -remove_silence no: the endpointer already cut the speech, and the
	 * phone-loop comparison needs both passes to see the same frames.
	 * -ds 2: Gaussian scores every other frame.  Measured on the demo test
	 * sets (slt+rms): 1.6x less CPU, accuracy equal (bank 90.9%) or better
	 * (hotline 88.6% vs 84.1%), out-of-domain rejection unchanged; cards
	 * 4/5 either way.  -ds 3 started accepting out-of-domain speech.
	 * -fwdflat no: the n-gram search is the tree pass alone.  fwdflat's
	 * second pass re-scored every frame of the utterance after its end: ~40%
	 * of the decoding CPU, and all of it between the end of speech and the
	 * result.  Without it (and with the verification recalibrated, see
	 * DEF_VERIFY_CENTER_LM) the tuned sets keep 104/110 in-domain and reject
	 * 34/34 instead of 33/34; held-out 127/168 (129 before), 31/34 rejected
	 * (26 before); CPU of those runs 37 s instead of 57 s (docs/asr.md).
	 */
	{
		const char *av[64] = { "-hmm",
				       hmm,
				       "-dict",
				       use_dict,
				       "-mmap",
				       "yes",
				       "-logfn",
				       "/dev/null",
				       "-samprate",
				       "16000",
				       "-cmn",
				       "live",
				       "-remove_silence",
				       "no",
				       "-bestpath",
				       "yes",
				       "-fwdflat",
				       "no",
				       "-allphone_ci",
				       "yes",
				       "-ds",
				       "2",
				       "-maxhmmpf",
				       "3000",
				       "-maxwpf",
				       "20" };
		int ac = 26;
		/*
		 * IVR_PS_ARGS="-name value ...": override or add pocketsphinx options
		 * when measuring search settings (ivr-flow test, bench_asr).
		 */
		static char extra[1024];
		const char *ex = getenv("IVR_PS_ARGS");
		if (ex) {
			snprintf(extra, sizeof(extra), "%s", ex);
			for (char *t = strtok(extra, " "); t && ac < 62; t = strtok(NULL, " ")) {
				char *v = strtok(NULL, " ");
				int k = 0;
				while (k < ac && strcmp(av[k], t))
					k += 2;
				av[k] = t;
				av[k + 1] = v;
				if (k == ac)
					ac += 2;
			}
		}
		r->config = cmd_ln_parse_r(NULL, ps_args(), ac, (char **)av, TRUE);
		if (r->verify_stream)
			r->vconfig = cmd_ln_parse_r(NULL, ps_args(), ac, (char **)av, TRUE);
	}
	if (!r->config || (r->verify_stream && !r->vconfig)) {
		seterr(err, err_len, "pocketsphinx rejected its configuration%s%s", "", "");
		e = EINVAL;
		goto fail;
	}
	r->ps = ps_init(r->config);
	/* without streaming the phone loop runs on the grammar decoder after it */
	r->vps = r->verify_stream ? ps_init(r->vconfig) : r->ps;
	if (dict_tmp[0])
		unlink(dict_tmp);
	dict_tmp[0] = 0;
	if (!r->ps || !r->vps) {
		seterr(err, err_len, "pocketsphinx could not load the model in %s%s", hmm, "");
		e = EIO;
		goto fail;
	}
	for (int i = 0; i < IVR_ASR_CMN_DIM; i++)
		r->cmn_prior[i] = (mfcc_t)TEL_CMN_PRIOR[i];
	feat_t *feat0 = ps_get_feat(r->ps);
	if (feat0 && feat0->cmn_struct && feat0->cmn_struct->veclen == IVR_ASR_CMN_DIM)
		cmn_live_get(feat0->cmn_struct, r->cmn_prior_wide);
	else
		memcpy(r->cmn_prior_wide, r->cmn_prior, sizeof(r->cmn_prior));
	if (r->verify && ps_set_allphone_file(r->vps, PHONE_SEARCH, phone_lm) < 0) {
		seterr(err, err_len, "cannot load phone language model %s%s", phone_lm, "");
		e = ENOENT;
		goto fail;
	}
	for (size_t f = 0; f < n_flows; f++)
		for (size_t i = 0; i < flows[f]->n_nodes; i++) {
			if (!flows[f]->nodes[i].n_intents)
				continue;
			char *jsgf;
			char name[128];
			snprintf(name, sizeof(name), "%s_%s", flows[f]->name,
				 flows[f]->nodes[i].name);
			bool lm = c.mode == IVR_GRAMMAR_LM;
			int rc = lm ? ivr_grammar_arpa(&flows[f]->nodes[i], &jsgf)
				    : ivr_grammar_jsgf(&flows[f]->nodes[i], name, c.mode, &jsgf);
			if (rc < 0) {
				e = -rc;
				goto fail;
			}
			rc = add_grammar(r, name, lm ? NULL : jsgf, lm ? jsgf : NULL, flows[f], i,
					 err, err_len);
			free(jsgf);
			if (rc < 0) {
				e = -rc;
				goto fail;
			}
		}
	int serr;
	r->up = speex_resampler_init(1, 8000, 16000, 5, &serr);
	if (!r->up)
		goto fail;
	free(words);
	return r;
fail:
	if (dict_tmp[0])
		unlink(dict_tmp);
	free(words);
	ivr_recognizer_free(r);
	errno = e;
	return NULL;
}

void ivr_recognizer_free(struct ivr_recognizer *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_g; i++)
		ivr_intent_free(r->g[i].model);
	free(r->g);
	if (r->ps)
		ps_free(r->ps);
	else if (r->config)
		cmd_ln_free_r(r->config);
	if (r->ps && r->config)
		cmd_ln_free_r(r->config);
	if (r->vps && r->vps != r->ps)
		ps_free(r->vps);
	if (r->vconfig)
		cmd_ln_free_r(r->vconfig);
	if (r->up)
		speex_resampler_destroy(r->up);
	free(r->pcm);
	free(r);
}

int ivr_recognizer_grammar(const struct ivr_recognizer *r, const struct ivr_flow *flow,
			   size_t node_idx)
{
	for (size_t i = 0; i < r->n_g; i++)
		if (r->g[i].flow == flow && r->g[i].node == node_idx)
			return (int)i;
	return -ENOENT;
}

int ivr_recognizer_add_jsgf(struct ivr_recognizer *r, const char *name, const char *jsgf, char *err,
			    size_t err_len)
{
	if (!r || !jsgf)
		return -EINVAL;
	return add_grammar(r, name ? name : "custom", jsgf, NULL, NULL, 0, err, err_len);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Convert float samples to int16 for pocketsphinx, clamped. */
static void to_s16(const float *x, size_t n, int16_t *y)
{
	for (size_t k = 0; k < n; k++) {
		float v = x[k] * 32768.0f;
		y[k] = (int16_t)(v > 32767.f ? 32767 : v < -32768.f ? -32768 : lrintf(v));
	}
}

static void cmn_load_ps(struct ivr_recognizer *r, ps_decoder_t *ps, const struct ivr_asr_cmn *cmn)
{
	feat_t *feat = ps_get_feat(ps);
	if (!feat || !feat->cmn_struct || feat->cmn_struct->veclen != IVR_ASR_CMN_DIM)
		return;
	mfcc_t v[IVR_ASR_CMN_DIM];
	for (int i = 0; i < IVR_ASR_CMN_DIM; i++)
		v[i] = cmn && cmn->valid ? (mfcc_t)cmn->mean[i]
					 : (r->wide ? r->cmn_prior_wide[i] : r->cmn_prior[i]);
	cmn_live_set(feat->cmn_struct, v);
}

static void cmn_load(struct ivr_recognizer *r, const struct ivr_asr_cmn *cmn)
{
	cmn_load_ps(r, r->ps, cmn);
}

static void cmn_save(struct ivr_recognizer *r, struct ivr_asr_cmn *cmn)
{
	feat_t *feat = ps_get_feat(r->ps);
	if (!cmn || !feat || !feat->cmn_struct || feat->cmn_struct->veclen != IVR_ASR_CMN_DIM)
		return;
	mfcc_t v[IVR_ASR_CMN_DIM];
	cmn_live_get(feat->cmn_struct, v);
	for (int i = 0; i < IVR_ASR_CMN_DIM; i++)
		cmn->mean[i] = (float)v[i];
	cmn->valid = true;
}

static int classify(const struct grammar *g, const char *text, float ac, struct ivr_asr_hyp *h)
{
	int best = -1;
	snprintf(h->text, sizeof(h->text), "%s", text ? text : "");
	h->intent = -1;
	h->confidence = 0;
	if (!g->model) {
		h->confidence = ac;
		return -1;
	}
	struct ivr_intent_result ir;
	if (ivr_intent_classify(g->model, h->text, ac, g->flow->nodes[g->node].threshold, &ir) ==
	    0) {
		h->intent = ir.intent;
		h->confidence = ir.confidence;
		best = ir.best;
	}
	return best;
}

/* ------------------------------------------------------------- streaming */

/* Make room for @n more 16 kHz samples in the kept PCM.  @return 0 or -ENOMEM. */
static int pcm_room(struct ivr_recognizer *r, size_t n)
{
	if (r->n16 + n <= r->pcm_cap)
		return 0;
	size_t cap = IVR_MAX(r->pcm_cap * 2, r->n16 + n + STREAM_BLOCK);
	int16_t *np = realloc(r->pcm, cap * sizeof(*np));
	if (!np)
		return -ENOMEM;
	r->pcm = np;
	r->pcm_cap = cap;
	return 0;
}

/* Give pocketsphinx the kept PCM in whole STREAM_BLOCKs (all of it when @flush). */
static int stream_process(struct ivr_recognizer *r, bool flush)
{
	while (r->n16 - r->fed >= STREAM_BLOCK || (flush && r->n16 > r->fed)) {
		size_t len = IVR_MIN((size_t)STREAM_BLOCK, r->n16 - r->fed);
		if (ps_process_raw(r->ps, r->pcm + r->fed, len, FALSE, FALSE) < 0)
			return -EIO;
		r->fed += len;
	}
	return 0;
}

/* Skip score of the open utterance's search (see VERIFY_SKIP_SCORE_LM). */
static float skip_score(const struct ivr_recognizer *r)
{
	return r->g[r->s_grammar].lm ? VERIFY_SKIP_SCORE_LM : VERIFY_SKIP_SCORE;
}

/*
 * Start the verifier when the grammar pass's running score nears the band
 * where verification runs (VERIFY_START_MARGIN), then keep it level with the
 * grammar pass.  @return 0 or -EIO.
 */
static int verify_track(struct ivr_recognizer *r)
{
	if (!r->verify_stream || r->vfed == r->fed)
		return 0;
	if (!r->v_on) {
		const struct grammar *g = &r->g[r->s_grammar];
		int32 s = 0;
		const char *hyp = ps_get_hyp(r->ps, &s);
		int frames = ps_get_n_frames(r->ps);
		if (!r->verify_always &&
		    (frames <= 0 || (double)s / frames > skip_score(r) + VERIFY_START_MARGIN))
			return 0;
		if (g->model) {
			/* the words so far map to no intent: most likely a no-match either way */
			struct ivr_asr_hyp pre;
			(void)classify(g, hyp, 1.0f, &pre);
			if (pre.intent < 0)
				return 0;
		}
		cmn_load_ps(r, r->vps, r->s_has_cmn ? &r->s_cmn0 : NULL);
		if (ps_set_search(r->vps, PHONE_SEARCH) < 0 || ps_start_utt(r->vps) < 0)
			return -EIO;
		r->v_on = true;
		r->vfed = 0;
	}
	for (; r->vfed < r->fed; r->vfed += STREAM_BLOCK) {
		size_t len = IVR_MIN((size_t)STREAM_BLOCK, r->fed - r->vfed);
		if (ps_process_raw(r->vps, r->pcm + r->vfed, len, FALSE, FALSE) < 0)
			return -EIO;
		if (len < STREAM_BLOCK) {
			r->vfed += len;
			break;
		}
	}
	return 0;
}

/* End the verifier's utterance, if one is open. */
static void verify_stop(struct ivr_recognizer *r)
{
	if (r->v_on)
		ps_end_utt(r->vps);
	r->v_on = false;
}

int ivr_recognizer_stream_begin(struct ivr_recognizer *r, int grammar, uint32_t rate_hz,
				const struct ivr_asr_cmn *cmn)
{
	if (!r || grammar < 0 || (size_t)grammar >= r->n_g || (rate_hz != 8000 && rate_hz != 16000))
		return -EINVAL;
	if (r->streaming || r->e_verify)
		ivr_recognizer_stream_abort(r);
	r->s_grammar = grammar;
	r->s_rate = rate_hz;
	r->wide = rate_hz == 16000;
	r->s_has_cmn = cmn != NULL;
	if (cmn)
		r->s_cmn0 = *cmn;
	r->n16 = r->fed = 0;
	r->v_on = false;
	r->vfed = 0;
	r->s_busy_us = 0;
	uint64_t t0 = now_us();
	speex_resampler_reset_mem(r->up);
	speex_resampler_skip_zeros(r->up);
	cmn_load(r, cmn);
	if (ps_set_search(r->ps, r->g[grammar].search) < 0 || ps_start_utt(r->ps) < 0)
		return -EIO;
	r->streaming = true;
	r->s_busy_us += now_us() - t0;
	return 0;
}

int ivr_recognizer_stream_feed(struct ivr_recognizer *r, const float *pcm, size_t n_samples)
{
	if (!r || !r->streaming || (!pcm && n_samples))
		return -EINVAL;
	uint64_t t0 = now_us();
	size_t done_in = 0;
	while (done_in < n_samples) {
		size_t in = IVR_MIN((size_t)480, n_samples - done_in);
		size_t out_cap = r->s_rate == 8000 ? 2 * in + 64 : in;
		if (pcm_room(r, out_cap) < 0)
			return -ENOMEM;
		if (r->s_rate == 8000) {
			/* speexdsp in float, then clamp to int16 for pocketsphinx */
			float tmp[2 * 480 + 64];
			spx_uint32_t in_len = (spx_uint32_t)in, out_len = (spx_uint32_t)out_cap;
			speex_resampler_process_float(r->up, 0, pcm + done_in, &in_len, tmp,
						      &out_len);
			to_s16(tmp, out_len, r->pcm + r->n16);
			r->n16 += out_len;
			if (in_len == 0)
				break;
			done_in += in_len;
		} else {
			to_s16(pcm + done_in, in, r->pcm + r->n16);
			r->n16 += in;
			done_in += in;
		}
	}
	int rc = stream_process(r, false);
	if (rc == 0)
		rc = verify_track(r);
	r->s_busy_us += now_us() - t0;
	return rc < 0 ? rc : (int)IVR_MIN(done_in, (size_t)INT32_MAX);
}

int ivr_recognizer_stream_partial(struct ivr_recognizer *r, char *text, size_t len)
{
	if (!r || !r->streaming || !text || !len)
		return -EINVAL;
	uint64_t t0 = now_us();
	/* mid-utterance: a backtrace from the best path so far, no lattice */
	const char *hyp = ps_get_hyp(r->ps, NULL);
	snprintf(text, len, "%s", hyp ? hyp : "");
	r->s_busy_us += now_us() - t0;
	return (int)strlen(text);
}

void ivr_recognizer_stream_abort(struct ivr_recognizer *r)
{
	if (!r || (!r->streaming && !r->e_verify))
		return;
	if (r->streaming)
		ps_end_utt(r->ps);
	verify_stop(r);
	r->streaming = r->e_verify = false;
	/* the call's CMN state is the caller's; the decoder's own goes back to the prior */
	cmn_load(r, NULL);
}

/*
 * End of speech, first part: the last block, the grammar pass's result, and
 * whether the phone loop must run.  @return 0 (no: end_result() next), 1
 * (verification pending: verify_step() until it returns 0, then
 * end_result()), -EINVAL, -EIO.
 */
static int end_grammar(struct ivr_recognizer *r, struct ivr_asr_cmn *cmn,
		       struct ivr_asr_result *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->intent = out->best_intent = -1;
	if (!r || !r->streaming)
		return -EINVAL;
	uint64_t t0 = now_us();
	const struct grammar *g = &r->g[r->s_grammar];
	r->streaming = false;
	out->speech_ms = (uint32_t)(r->n16 / 16);
	int32 s = 0;
	if (stream_process(r, true) < 0) {
		ps_end_utt(r->ps);
		verify_stop(r);
		return -EIO;
	}
	if (ps_end_utt(r->ps) < 0) {
		verify_stop(r);
		return -EIO;
	}
	const char *hyp = ps_get_hyp(r->ps, &s);
	r->e_gscore = s;
	r->e_gframes = ps_get_n_frames(r->ps);
	snprintf(out->text, sizeof(out->text), "%s", hyp ? hyp : "");
	/* the lattice now: the verification pass below may reuse this decoder */
	r->e_n_alts = ivr_nbest_list(r->ps, out->text, r->e_alts, IVR_ASR_NBEST, NULL);
	cmn_save(r, &r->e_after);
	r->e_out = out;
	r->e_cmn = cmn;
	r->e_t0 = t0;
	r->e_ac = 1.0f;

	double gpf = r->e_gframes > 0 ? (double)r->e_gscore / r->e_gframes : 0;
	out->grammar_score = (float)gpf;
	bool need = r->verify && out->text[0] && r->e_gframes > 0 &&
		    (r->verify_always || gpf <= skip_score(r));
	if (need && g->model) {
		/* no intent even at full acoustic confidence: a no-match either way */
		struct ivr_asr_hyp pre;
		(void)classify(g, out->text, 1.0f, &pre);
		need = pre.intent >= 0;
	}
	if (need && !r->verify_always && !g->lm && gpf < REJECT_SCORE) {
		/* a fit this poor never passed the phone loop: reject without it */
		need = false;
		r->e_ac = 0;
	}
	if (!need)
		verify_stop(r);
	r->e_verify = need;
	out->verified = need;
	r->s_busy_us += now_us() - t0;
	return need ? 1 : 0;
}

/* 16 kHz samples the pending verification has still to decode. */
static size_t verify_left(const struct ivr_recognizer *r)
{
	return r->n16 - (r->v_on ? r->vfed : 0);
}

/*
 * The pending verification over at most @max more samples of the kept audio
 * (a multiple of STREAM_BLOCK: the same blocks as the grammar pass, so the
 * result does not depend on the slicing).  When it has seen everything, its
 * score gives the acoustic confidence.  @return 1 (more to do), 0 (done), -EIO.
 */
static int verify_step(struct ivr_recognizer *r, size_t max)
{
	uint64_t t0 = now_us();
	int rc = 0;
	if (!r->v_on) {
		/* not started while the caller spoke: from the start of the utterance */
		cmn_load_ps(r, r->vps, r->s_has_cmn ? &r->s_cmn0 : NULL);
		if (ps_set_search(r->vps, PHONE_SEARCH) < 0 || ps_start_utt(r->vps) < 0)
			return -EIO;
		r->v_on = true;
		r->vfed = 0;
	}
	size_t stop = r->n16 - r->vfed > max ? r->vfed + max : r->n16;
	while (r->vfed < stop) {
		size_t len = IVR_MIN((size_t)STREAM_BLOCK, stop - r->vfed);
		if (ps_process_raw(r->vps, r->pcm + r->vfed, len, FALSE, FALSE) < 0) {
			verify_stop(r);
			return -EIO;
		}
		r->vfed += len;
	}
	if (r->vfed < r->n16) {
		rc = 1;
	} else {
		r->v_on = false;
		int32 ps = 0;
		if (ps_end_utt(r->vps) < 0)
			return -EIO;
		(void)ps_get_hyp(r->vps, &ps);
		if (ps_get_n_frames(r->vps) > 0) {
			/* raw score units per frame: calibrated, so no log-base conversion */
			const struct grammar *g = &r->g[r->s_grammar];
			double gap = ((double)ps - (double)r->e_gscore) / r->e_gframes;
			r->e_out->score_gap = (float)gap;
			float center = g->lm ? r->verify_center_lm : r->verify_center;
			float scale = g->lm ? DEF_VERIFY_SCALE_LM : r->verify_scale;
			r->e_ac = 1.0f / (1.0f + expf(((float)gap - center) / scale));
		}
	}
	r->s_busy_us += now_us() - t0;
	return rc;
}

/* End of speech, last part: the intent of the text.  @return 0. */
static int end_result(struct ivr_recognizer *r)
{
	uint64_t t0 = now_us();
	struct ivr_asr_result *out = r->e_out;
	const struct grammar *g = &r->g[r->s_grammar];
	float ac = r->e_ac;
	r->e_verify = false;
	out->acoustic_confidence = ac;
	if (r->e_cmn)
		*r->e_cmn = r->e_after;
	else
		cmn_load(r, &r->e_after);

	struct ivr_asr_hyp best;
	out->best_intent = out->text[0] ? classify(g, out->text, ac, &best) : -1;
	if (!out->text[0])
		best.intent = -1;
	out->intent = out->text[0] ? best.intent : -1;
	out->confidence = out->text[0] ? best.confidence : 0;
	if (out->intent >= 0)
		out->intent_name = g->flow->nodes[g->node].intents[out->intent].name;
	/*
	 * n-best: distinct word strings of the lattice (asr/nbest.h), the best
	 * text first, each with its posterior scaled by the acoustic confidence
	 * and its own intent whatever the node's threshold (which decides
	 * out->intent only, from the best text alone).
	 */
	const struct ivr_nbest_alt *alts = r->e_alts;
	int n_alts = r->e_n_alts;
	for (int k = 0; out->text[0] && k < IVR_MAX(n_alts, 1); k++) {
		struct ivr_asr_hyp *h = &out->nbest[out->n_nbest++];
		const char *t = k == 0 ? out->text : alts[k].text;
		size_t tl = strnlen(t, sizeof(h->text) - 1);
		memcpy(h->text, t, tl);
		h->text[tl] = 0;
		struct ivr_intent_result ir; /* threshold 2: the best intent, never gated */
		h->intent = k == 0 ? out->best_intent
			    : g->model && ivr_intent_classify(g->model, h->text, ac, 2.0f, &ir) == 0
				    ? ir.best
				    : -1;
		h->confidence = (n_alts > 0 ? alts[k].posterior : 1.0f) * ac;
	}
	uint64_t t1 = now_us();
	r->s_busy_us += t1 - t0;
	out->tail_us = (uint32_t)IVR_MIN(t1 - r->e_t0, (uint64_t)UINT32_MAX);
	out->decode_us = (uint32_t)IVR_MIN(r->s_busy_us, (uint64_t)UINT32_MAX);
	return 0;
}

int ivr_recognizer_stream_end(struct ivr_recognizer *r, struct ivr_asr_cmn *cmn,
			      struct ivr_asr_result *out)
{
	int rc = end_grammar(r, cmn, out);
	while (rc == 1)
		rc = verify_step(r, SIZE_MAX);
	if (rc < 0) {
		ivr_recognizer_stream_abort(r);
		return rc;
	}
	return end_result(r);
}

int ivr_recognizer_decode(struct ivr_recognizer *r, int grammar, const float *pcm, size_t n_samples,
			  uint32_t rate_hz, struct ivr_asr_cmn *cmn, struct ivr_asr_result *out)
{
	memset(out, 0, sizeof(*out));
	out->intent = out->best_intent = -1;
	if (!pcm && n_samples)
		return -EINVAL;
	/* the streaming path, all at once: one code path, the same result either way */
	int rc = ivr_recognizer_stream_begin(r, grammar, rate_hz, cmn);
	if (rc == 0 && n_samples)
		rc = ivr_recognizer_stream_feed(r, pcm, n_samples);
	if (rc < 0) {
		ivr_recognizer_stream_abort(r);
		return rc;
	}
	return ivr_recognizer_stream_end(r, cmn, out);
}

/*
 * Leaks inside Debian's pocketsphinx/sphinxbase 5prealpha that callers cannot
 * avoid: allphone_search_hyp() drops a list per hypothesis, and the JSGF
 * parser keeps tokens after a syntax error.  Weak, so a program may define its
 * own list.
 */
const char *__lsan_default_suppressions(void) __attribute__((weak));
const char *__lsan_default_suppressions(void)
{
	return "leak:allphone_search_hyp\nleak:yylex\nleak:yyparse\n";
}

/*
 * The suppressions match function names up the allocation stack; sphinxbase
 * is built without frame pointers, so ASan's fast unwinder stops inside it.
 * Programs that link the recogniser unwind fully (only ASan builds read
 * this; not weak, because the ASan runtime's own default is weak).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

/* ---------------------------------------------------------------- pool */

/*
 * Streaming pool.  Each worker thread owns streams_per_thread decoders.  A
 * session is bound to a free decoder as soon as its caller starts speaking
 * (state FILLING) and the worker feeds it what the media thread has appended
 * since (s->n, published with release), so at the end of speech only the
 * last block is left.  When more callers speak than there are decoders, a
 * session waits with all its audio in its own buffer (pre-roll included);
 * the first decoder to free up takes it (ended sessions before speaking
 * ones) and catches up at ~50x real time.  This was chosen over switching
 * sessions on one decoder: pocketsphinx's search state cannot be saved and
 * restored, so a decoder stays with its utterance to the end.
 */
enum { S_FREE, S_IDLE, S_FILLING, S_READY, S_DONE };

struct session {
	_Atomic int state;
	_Atomic int claimed;   /* 1 while a worker's decoder holds it */
	_Atomic size_t n;      /* samples appended (media: release; worker: acquire) */
	_Atomic uint32_t pseq; /* partial seqlock: odd while the worker writes */
	int grammar;
	float *audio; /* 8 kHz */
	size_t cap;
	uint32_t dropped;
	uint32_t pseq_read; /* media-private: the last partial handed out */
	struct ivr_asr_cmn cmn;
	struct ivr_asr_result result;
	char partial[IVR_ASR_TEXT_MAX];
};

struct stream {
	struct ivr_recognizer *rec;
	struct session *s; /* NULL: free */
	/*
	 * 1: ended, its phone-loop verification pending.  Set (release) by the
	 * owning worker, which then leaves the stream alone until it is 0 again;
	 * meanwhile any worker that takes @busy may run a slice, and the one that
	 * runs the last delivers, unbinds and clears it (release).
	 */
	_Atomic int verifying;
	_Atomic int busy;
	_Atomic size_t left; /* verification audio left (16 kHz samples) */
	size_t fed, next_partial;
	char text[IVR_ASR_TEXT_MAX]; /* last partial published */
};

struct worker {
	pthread_t thread;
	struct ivr_asr_pool *pool;
	struct stream *st;
	size_t n_st;
	bool started;
};

struct ivr_asr_pool {
	struct session *s;
	size_t n_sessions;
	struct worker *w;
	size_t n_workers, per_thread;
	size_t partial_samples; /* 8 kHz samples between partials; 0 = none */
	_Atomic int stop;
	pthread_mutex_t open_lock; /* control-path only (open/close) */
};

static void publish_partial(struct stream *st, const char *text)
{
	struct session *s = st->s;
	uint32_t q = atomic_load_explicit(&s->pseq, memory_order_relaxed);
	atomic_store_explicit(&s->pseq, q + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(s->partial, text, sizeof(s->partial));
	atomic_store_explicit(&s->pseq, q + 2, memory_order_release);
	memcpy(st->text, text, sizeof(st->text));
}

/* Let go of the bound session.  @return 1. */
static int unbind(struct stream *st)
{
	atomic_store_explicit(&st->s->claimed, 0, memory_order_release);
	st->s = NULL;
	return 1;
}

/*
 * Finish the ended utterance of @st (@rc: 0 = ready for end_result(), < 0 =
 * failed: an empty result), hand it to the session and let go.  @return 1.
 */
static int deliver(struct stream *st, int rc)
{
	struct session *s = st->s;
	if (rc < 0 || end_result(st->rec) < 0) {
		ivr_recognizer_stream_abort(st->rec);
		memset(&s->result, 0, sizeof(s->result));
		s->result.intent = s->result.best_intent = -1;
	}
	/* release: the result is visible before DONE; fails if closed meanwhile */
	int expect = S_READY;
	atomic_compare_exchange_strong_explicit(&s->state, &expect, S_DONE, memory_order_release,
						memory_order_relaxed);
	return unbind(st);
}

/* Advance a bound stream.  @return 1 if it did work. */
static int stream_step(struct ivr_asr_pool *p, struct stream *st)
{
	struct session *s = st->s;
	/* acquire: the audio below n and the grammar are visible */
	int state = atomic_load_explicit(&s->state, memory_order_acquire);
	if (state != S_FILLING && state != S_READY) {
		/* closed under us */
		ivr_recognizer_stream_abort(st->rec);
		return unbind(st);
	}
	size_t n = atomic_load_explicit(&s->n, memory_order_acquire);
	int did = 0;
	if (n > st->fed) {
		if (ivr_recognizer_stream_feed(st->rec, s->audio + st->fed, n - st->fed) < 0)
			state = -1;
		st->fed = n;
		did = 1;
	}
	if (state == S_FILLING && p->partial_samples && st->fed >= st->next_partial) {
		char text[IVR_ASR_TEXT_MAX];
		st->next_partial = st->fed + p->partial_samples;
		/* rate limit: a new partial only when the words changed */
		if (ivr_recognizer_stream_partial(st->rec, text, sizeof(text)) > 0 &&
		    strcmp(text, st->text))
			publish_partial(st, text);
		return 1;
	}
	if (state == S_FILLING)
		return did;
	int rc = state < 0 ? -EIO : end_grammar(st->rec, &s->cmn, &s->result);
	if (rc == 1) {
		/* the verification is left to worker_main(), shortest first */
		atomic_store_explicit(&st->left, verify_left(st->rec), memory_order_relaxed);
		atomic_store_explicit(&st->verifying, 1, memory_order_release);
		return 1;
	}
	return deliver(st, rc);
}

/*
 * A slice of @st's pending verification (VERIFY_SLICE of audio), and its
 * result when that was the last.  The caller holds st->busy.
 */
static void verify_slice(struct stream *st)
{
	struct session *s = st->s;
	if (atomic_load_explicit(&s->state, memory_order_acquire) != S_READY) {
		/* closed under us */
		ivr_recognizer_stream_abort(st->rec);
		unbind(st);
	} else {
		int rc = verify_step(st->rec, VERIFY_SLICE);
		atomic_store_explicit(&st->left, verify_left(st->rec), memory_order_relaxed);
		if (rc == 1)
			return;
		deliver(st, rc);
	}
	/* release: the stream's state (unbound) is visible to its owner */
	atomic_store_explicit(&st->verifying, 0, memory_order_release);
}

/*
 * One slice of the pending verification with the least audio left, on any
 * worker's decoder (a worker whose callers all finished helps the one whose
 * callers need verification).  @return 1 if it ran one.
 */
static int verify_any(struct ivr_asr_pool *p)
{
	struct stream *v = NULL;
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < p->n_workers; i++)
		for (size_t k = 0; k < p->w[i].n_st; k++) {
			struct stream *st = &p->w[i].st[k];
			size_t left = atomic_load_explicit(&st->left, memory_order_relaxed);
			if (atomic_load_explicit(&st->verifying, memory_order_relaxed) &&
			    !atomic_load_explicit(&st->busy, memory_order_relaxed) && left < best) {
				v = st;
				best = left;
			}
		}
	int zero = 0;
	if (!v || !atomic_compare_exchange_strong_explicit(&v->busy, &zero, 1, memory_order_acquire,
							   memory_order_relaxed))
		return 0;
	/* acquire: the owner's (or the last slicer's) writes to the decoder */
	if (atomic_load_explicit(&v->verifying, memory_order_acquire))
		verify_slice(v);
	atomic_store_explicit(&v->busy, 0, memory_order_release);
	return 1;
}

/* Bind a waiting session in @want state to @st.  @return 1 if bound. */
static int stream_claim(struct ivr_asr_pool *p, struct stream *st, size_t start, int want)
{
	for (size_t k = 0; k < p->n_sessions; k++) {
		struct session *s = &p->s[(start + k) % p->n_sessions];
		if (atomic_load_explicit(&s->state, memory_order_relaxed) != want ||
		    atomic_load_explicit(&s->claimed, memory_order_relaxed))
			continue;
		int zero = 0;
		if (!atomic_compare_exchange_strong_explicit(
			    &s->claimed, &zero, 1, memory_order_acquire, memory_order_relaxed))
			continue;
		/* acquire: pairs with the media thread's release of FILLING/READY */
		int state = atomic_load_explicit(&s->state, memory_order_acquire);
		if ((state != S_FILLING && state != S_READY) ||
		    ivr_recognizer_stream_begin(st->rec, s->grammar, 8000, &s->cmn) < 0) {
			atomic_store_explicit(&s->claimed, 0, memory_order_release);
			continue;
		}
		st->s = s;
		st->fed = 0;
		st->next_partial = p->partial_samples;
		st->text[0] = 0;
		return 1;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ivr_asr_pool *p = w->pool;
	size_t start = (size_t)(w - p->w);
	while (!atomic_load_explicit(&p->stop, memory_order_acquire)) {
		int did = 0;
		for (size_t i = 0; i < w->n_st; i++) {
			struct stream *st = &w->st[i];
			/* acquire: pairs with the release of whoever delivered it */
			if (atomic_load_explicit(&st->verifying, memory_order_acquire))
				continue;
			/* ended utterances first: their callers are waiting */
			if (!st->s && !stream_claim(p, st, start, S_READY))
				stream_claim(p, st, start, S_FILLING);
			if (st->s)
				did |= stream_step(p, st);
		}
		/*
		 * Then one slice of the pending verification with the least audio left:
		 * shortest remaining work first, and between slices the other decoders
		 * get their ends and new audio, so a caller whose utterance needs no
		 * verification does not wait behind one that does.
		 */
		did |= verify_any(p);
		if (!did) {
			/* Idle poll: 2 ms adds at most 2 ms to a result, and media threads never
			 * make a wake-up syscall. */
			struct timespec ts = { 0, 2000000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

struct ivr_asr_pool *ivr_asr_pool_new(const struct ivr_flow *const *flows, size_t n_flows,
				      const struct ivr_asr_pool_cfg *cfg, char *err, size_t err_len)
{
	struct ivr_asr_pool_cfg c = cfg ? *cfg : (struct ivr_asr_pool_cfg){ 0 };
	size_t nd = c.n_decoders ? c.n_decoders : 2, ns = c.n_sessions ? c.n_sessions : 64;
	size_t per = c.streams_per_thread ? c.streams_per_thread : 2;
	size_t max_ms = c.max_speech_ms ? c.max_speech_ms : 10000;
	struct ivr_asr_pool *p = calloc(1, sizeof(*p));
	int e = ENOMEM;
	if (!p)
		goto fail;
	pthread_mutex_init(&p->open_lock, NULL);
	p->per_thread = per;
	p->partial_samples =
		c.partial_ms == UINT32_MAX ? 0 : (c.partial_ms ? c.partial_ms : 300) * 8;
	p->s = calloc(ns, sizeof(*p->s));
	p->w = calloc(nd, sizeof(*p->w));
	if (!p->s || !p->w)
		goto fail;
	p->n_sessions = ns;
	for (size_t i = 0; i < ns; i++) {
		p->s[i].cap = max_ms * 8;
		p->s[i].audio = malloc(p->s[i].cap * sizeof(float));
		if (!p->s[i].audio)
			goto fail;
		atomic_init(&p->s[i].state, S_FREE);
	}
	for (size_t i = 0; i < nd; i++) {
		p->w[i].pool = p;
		p->n_workers = i + 1;
		p->w[i].st = calloc(per, sizeof(*p->w[i].st));
		if (!p->w[i].st)
			goto fail;
		for (size_t k = 0; k < per; k++) {
			p->w[i].st[k].rec =
				ivr_recognizer_new(flows, n_flows, &c.rec, err, err_len);
			if (!p->w[i].st[k].rec) {
				e = errno;
				goto fail;
			}
			p->w[i].n_st = k + 1;
		}
	}
	for (size_t i = 0; i < nd; i++) {
		if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0) {
			e = EAGAIN;
			goto fail;
		}
		p->w[i].started = true;
	}
	return p;
fail:
	ivr_asr_pool_free(p);
	errno = e;
	return NULL;
}

void ivr_asr_pool_free(struct ivr_asr_pool *p)
{
	if (!p)
		return;
	atomic_store_explicit(&p->stop, 1, memory_order_release);
	/* all threads first: any of them may be verifying on another's decoder */
	for (size_t i = 0; p->w && i < p->n_workers; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
	for (size_t i = 0; p->w && i < p->n_workers; i++) {
		for (size_t k = 0; k < p->w[i].n_st; k++) {
			struct stream *st = &p->w[i].st[k];
			if (st->s) {
				ivr_recognizer_stream_abort(st->rec);
				unbind(st);
			}
			ivr_recognizer_free(st->rec);
		}
		free(p->w[i].st);
	}
	for (size_t i = 0; p->s && i < p->n_sessions; i++)
		free(p->s[i].audio);
	free(p->s);
	free(p->w);
	pthread_mutex_destroy(&p->open_lock);
	free(p);
}

int ivr_asr_pool_grammar(const struct ivr_asr_pool *p, const struct ivr_flow *flow, size_t node_idx)
{
	return p && p->n_workers && p->w[0].n_st
		       ? ivr_recognizer_grammar(p->w[0].st[0].rec, flow, node_idx)
		       : -ENOENT;
}

int ivr_asr_session_open(struct ivr_asr_pool *p)
{
	pthread_mutex_lock(&p->open_lock);
	for (size_t i = 0; i < p->n_sessions; i++) {
		int expect = S_FREE;
		struct session *s = &p->s[i];
		if (!atomic_load(&s->claimed) &&
		    atomic_compare_exchange_strong(&s->state, &expect, S_IDLE)) {
			s->cmn.valid = false;
			atomic_store(&s->n, 0);
			s->dropped = 0;
			s->pseq_read = atomic_load(&s->pseq);
			pthread_mutex_unlock(&p->open_lock);
			return (int)i;
		}
	}
	pthread_mutex_unlock(&p->open_lock);
	return -ENOSPC;
}

void ivr_asr_session_close(struct ivr_asr_pool *p, int session)
{
	if (!p || session < 0 || (size_t)session >= p->n_sessions)
		return;
	struct session *s = &p->s[session];
	/* Take it out of FILLING/READY (no new claim), then wait for a decoder to let go. */
	atomic_store_explicit(&s->state, S_IDLE, memory_order_release);
	while (atomic_load_explicit(&s->claimed, memory_order_acquire)) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	atomic_store_explicit(&s->state, S_FREE, memory_order_release);
}

static struct session *session_at(struct ivr_asr_pool *p, int session)
{
	if (!p || session < 0 || (size_t)session >= p->n_sessions)
		return NULL;
	return &p->s[session];
}

int ivr_asr_session_begin(struct ivr_asr_pool *p, int session, int grammar)
{
	struct session *s = session_at(p, session);
	if (!s || grammar < 0)
		return -EINVAL;
	int st = atomic_load_explicit(&s->state, memory_order_acquire);
	if (st == S_FREE)
		return -EINVAL;
	/*
	 * Restarting an utterance a decoder already streams would feed it the new
	 * audio: not yet.  From IDLE a decoder that just delivered may still be
	 * letting go (claimed); nobody else can claim until it has.
	 */
	if (st != S_IDLE &&
	    (st != S_FILLING || atomic_load_explicit(&s->claimed, memory_order_acquire)))
		return -EBUSY;
	s->grammar = grammar;
	atomic_store_explicit(&s->n, 0, memory_order_relaxed);
	s->dropped = 0;
	/* release: grammar and n are visible to the worker that sees FILLING */
	atomic_store_explicit(&s->state, S_FILLING, memory_order_release);
	return 0;
}

size_t ivr_asr_session_feed(struct ivr_asr_pool *p, int session, const float *pcm8k,
			    size_t n_samples)
{
	struct session *s = session_at(p, session);
	if (!s || !pcm8k || atomic_load_explicit(&s->state, memory_order_relaxed) != S_FILLING)
		return 0;
	size_t n = atomic_load_explicit(&s->n, memory_order_relaxed);
	size_t take = IVR_MIN(n_samples, s->cap - n);
	memcpy(s->audio + n, pcm8k, take * sizeof(float));
	s->dropped += (uint32_t)(n_samples - take);
	/* release: the samples are written before a worker sees the new count */
	atomic_store_explicit(&s->n, n + take, memory_order_release);
	return take;
}

int ivr_asr_session_end(struct ivr_asr_pool *p, int session)
{
	struct session *s = session_at(p, session);
	if (!s || atomic_load_explicit(&s->state, memory_order_relaxed) != S_FILLING)
		return -EINVAL;
	/* release: audio and grammar are visible to the worker that sees READY */
	atomic_store_explicit(&s->state, S_READY, memory_order_release);
	return 0;
}

int ivr_asr_session_partial(struct ivr_asr_pool *p, int session, char *text, size_t len)
{
	struct session *s = session_at(p, session);
	if (!s || !text || !len)
		return -EINVAL;
	/* seqlock read: one try; a torn copy is left for the next tick */
	uint32_t q = atomic_load_explicit(&s->pseq, memory_order_acquire);
	if ((q & 1) || q == s->pseq_read)
		return 0;
	char tmp[IVR_ASR_TEXT_MAX];
	memcpy(tmp, s->partial, sizeof(tmp));
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->pseq, memory_order_relaxed) != q)
		return 0;
	s->pseq_read = q;
	size_t n = strnlen(tmp, sizeof(tmp) - 1);
	n = IVR_MIN(n, len - 1);
	memcpy(text, tmp, n);
	text[n] = 0;
	return 1;
}

int ivr_asr_session_poll(struct ivr_asr_pool *p, int session, struct ivr_asr_result *out)
{
	struct session *s = session_at(p, session);
	if (!s || !out)
		return -EINVAL;
	/* acquire: pairs with the worker's release of DONE */
	if (atomic_load_explicit(&s->state, memory_order_acquire) != S_DONE)
		return 0;
	memcpy(out, &s->result, sizeof(*out));
	atomic_store_explicit(&s->state, S_IDLE, memory_order_relaxed);
	return 1;
}
