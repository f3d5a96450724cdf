/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/ivr_asr_test.h - the set-up the recogniser tests share: the
 * bank demo flow, the TTS cache directory under the build tree (utterances
 * are synthesised once and reused), and a recogniser for that flow.
 * Header-only; for test programs only (allocates).
 */
#ifndef IVR_ASR_TEST_H
#define IVR_ASR_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "asr/flow.h"
#include "asr/recognizer.h"
#include "ivr_test.h"

/*
 * Load grammars/bank.yaml into @bank, point @cache at the build tree's
 * tts-cache and make a recogniser with default options.  @return it, or NULL
 * with *@exit_code set to what main() should return: 77 when the acoustic
 * model is not installed (skip), 1 on any other failure (reason printed).
 */
static inline struct ivr_recognizer *ivr_asr_test_bank(struct ivr_flow **bank, char *cache,
						       size_t cache_len, int *exit_code)
{
	char p[1024], err[512];
	if (ivr_flow_load(bank, ivr_test_srcpath(p, sizeof(p), "grammars/bank.yaml"), err,
			  sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		*exit_code = 1;
		return NULL;
	}
	snprintf(cache, cache_len, "%s/tts-cache",
		 getenv("IVR_BUILD_DIR") ? getenv("IVR_BUILD_DIR") : IVR_BUILD_DIR);
	const struct ivr_flow *fl[1] = { *bank };
	struct ivr_recognizer *rec = ivr_recognizer_new(fl, 1, NULL, err, sizeof(err));
	if (!rec) {
		printf("no recogniser: %s\n", err);
		*exit_code = errno == ENOENT ? 77 : 1;
		ivr_flow_free(*bank);
		*bank = NULL;
	}
	return rec;
}

#endif /* IVR_ASR_TEST_H */
