/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_asr_cards.c - pocketsphinx-testdata's "cards" set
 * with its own JSGF grammar: sentence accuracy of this project's recogniser
 * path versus the pocketsphinx_continuous program on the same five files,
 * both measured in this run.  Exit 77 when the test data or model is missing.
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
#include "dsp/wav.h"
#include "ivr_test.h"

#define CARDS "/usr/share/pocketsphinx/test/data/cards"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	if (buf)
		(void)!fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

/* Reference: "<s> ten of clubs  </s> (001)" -> "ten of clubs". */
static int reference(const char *id, char *out, size_t n)
{
	char path[256], line[512];
	snprintf(path, sizeof(path), "%s/cards.transcription", CARDS);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int rc = -1;
	char tag[32];
	snprintf(tag, sizeof(tag), "(%s)", id);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, tag))
			continue;
		char *s = strstr(line, "<s>"), *e = strstr(line, "</s>");
		if (!s || !e)
			break;
		s += 3;
		*e = 0;
		size_t o = 0;
		for (char *p = strtok(s, " \t"); p && o + 1 < n; p = strtok(NULL, " \t"))
			o += (size_t)snprintf(out + o, n - o, "%s%s", o ? " " : "", p);
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

static void squeeze(char *s)
{
	size_t o = 0;
	int sp = 1;
	for (size_t i = 0; s[i]; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			if (!sp)
				s[o++] = ' ';
			sp = 1;
		} else {
			s[o++] = s[i];
			sp = 0;
		}
	}
	while (o && s[o - 1] == ' ')
		o--;
	s[o] = 0;
}

IVR_TEST(cards_vs_pocketsphinx_continuous)
{
	char gram_path[256];
	snprintf(gram_path, sizeof(gram_path), "%s/cards.gram", CARDS);
	char *gram = slurp(gram_path);
	if (!gram || access(IVR_PS_MODELDIR "/en-us/en-us/mdef", R_OK) != 0) {
		free(gram);
		printf("pocketsphinx-testdata or model missing\n");
		return IVR_TEST_SKIP;
	}
	char err[512];
	struct ivr_recognizer_cfg cfg = { .full_dict = true, .phone_lm = "" };
	struct ivr_recognizer *rec = ivr_recognizer_new(NULL, 0, &cfg, err, sizeof(err));
	if (!rec) {
		free(gram);
		ivr_check_msg(0, "%s", err);
		return IVR_TEST_FAIL;
	}
	int g = ivr_recognizer_add_jsgf(rec, "cards", gram, err, sizeof(err));
	free(gram);
	ivr_check_msg(g >= 0, "%s", err);
	int have_prog = system("command -v pocketsphinx_continuous >/dev/null 2>&1") == 0;
	int ours = 0, theirs = 0, n = 0;
	struct ivr_asr_cmn cmn = { 0 };
	for (int i = 1; i <= 5 && g >= 0; i++) {
		char id[8], wav[256], ref[256];
		snprintf(id, sizeof(id), "%03d", i);
		snprintf(wav, sizeof(wav), "%s/%s.wav", CARDS, id);
		if (reference(id, ref, sizeof(ref)) < 0)
			continue;
		struct ivr_audio a;
		if (ivr_wav_read(&a, wav, 16000, err, sizeof(err)) < 0) {
			ivr_check_msg(0, "%s", err);
			continue;
		}
		struct ivr_asr_result r;
		ivr_check_int_eq(
			ivr_recognizer_decode(rec, g, a.samples, a.n_samples, 16000, &cmn, &r), 0);
		ivr_audio_free(&a);
		n++;
		ours += !strcmp(r.text, ref);
		char cmd[1024], prog_hyp[512] = "";
		if (have_prog) {
			snprintf(cmd, sizeof(cmd),
				 "pocketsphinx_continuous -infile %s -jsgf %s -logfn /dev/null "
				 "2>/dev/null",
				 wav, gram_path);
			FILE *p = popen(cmd, "r");
			if (p) {
				size_t got = fread(prog_hyp, 1, sizeof(prog_hyp) - 1, p);
				prog_hyp[got] = 0;
				pclose(p);
			}
			squeeze(prog_hyp);
			theirs += !strcmp(prog_hyp, ref);
		}
		printf("%s ref \"%s\" ours \"%s\" (%u ms for %u ms) pocketsphinx_continuous "
		       "\"%s\"\n",
		       id, ref, r.text, r.decode_us / 1000, r.speech_ms, prog_hyp);
	}
	ivr_recognizer_free(rec);
	printf("sentence accuracy: ours %d/%d, pocketsphinx_continuous %d/%d%s\n", ours, n, theirs,
	       n, have_prog ? "" : " (program missing: not run)");
	ivr_check(n == 5);
	ivr_check_msg(ours >= theirs, "ours %d < pocketsphinx_continuous %d", ours, theirs);
	ivr_check(ours >= 4);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	ivr_test_run(cards_vs_pocketsphinx_continuous);
	return ivr_test_summary();
}
#endif /* IVR_HAVE_ASR */
