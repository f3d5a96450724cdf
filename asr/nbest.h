/* SPDX-License-Identifier: MIT */
/*
 * asr/nbest.h - distinct alternative word strings of one utterance, from the
 * decoder's word lattice, each with a posterior in 0..1.
 *
 * pocketsphinx's own ps_nbest() (A* over the lattice) enumerates paths, not
 * word strings: the same words at a thousand slightly different times come
 * out one by one, and with these grammars it took 10 s for a 1.6 s utterance.
 * Here the lattice (ps_get_lattice: the fwdtree backpointer table with
 * -fwdflat no, the FSG search's lattice for JSGF) is copied once into arrays,
 * scored per link as pocketsphinx's best path does (the link's acoustic score
 * plus the language model's weighted bigram score of the word it enters;
 * fillers are transparent), and searched best-first (A*) with an exact
 * heuristic: the best score from each node to the end, from one backward
 * Viterbi pass.  A partial path is expanded only the first time its lattice
 * node is reached with its word history (fillers removed), so paths that
 * differ only in timing or fillers collapse into one and every complete path
 * taken off the queue is a new word string, best first.  Expansions are
 * capped (IVR_NBEST_MAX_POPS): a few ms at most.
 *
 * A string's posterior is its best path's probability over the sum over all
 * lattice paths (forward pass), both with the scores divided by the acoustic
 * scale (-ascale, as pocketsphinx's confidence does): distinct strings are
 * disjoint sets of paths, so the posteriors sum to at most 1.  The
 * decoder's own best text (ps_get_hyp: a trigram rescoring) stays entry 0,
 * and no alternative is reported above it.  The keyword search has no lattice: only the
 * best entry then.
 * Thread: the decoder's owner (reads its last utterance).
 */
#ifndef IVR_ASR_NBEST_H
#define IVR_ASR_NBEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/defs.h"

#define IVR_NBEST_TEXT_MAX 256
#define IVR_NBEST_MAX_POPS 2000 /* partial paths expanded per utterance */

struct ps_decoder_s; /* pocketsphinx */

/** One word string and its share of the lattice's probability. */
struct ivr_nbest_alt {
	char text[IVR_NBEST_TEXT_MAX]; /* words separated by one space, fillers removed */
	float posterior;	       /* 0..1 */
};

/** What the search did (for benches and tests). */
struct ivr_nbest_stats {
	uint32_t nodes, links; /* lattice size */
	uint32_t pops;	       /* partial paths expanded */
	uint32_t found;	       /* distinct strings completed (best text included) */
	int capped;	       /* stopped at IVR_NBEST_MAX_POPS or the path store */
	int best_in_lattice;   /* the decoder's best text was found by the search */
};

/**
 * List up to @max distinct word strings of @ps's last utterance (call after
 * ps_end_utt() and ps_get_hyp(), before the decoder starts another
 * utterance).  @out[0] is always @best (the decoder's text) and the others
 * follow in decreasing posterior; each posterior is at most @out[0]'s and all
 * of them sum to at most 1.  Without a lattice (keyword search, no frames)
 * @out[0] is @best alone with posterior 1.  @st may be NULL.
 * @return the number of entries (0 when @best is empty or NULL), -EINVAL
 * (@out NULL or @max 0), -ENOMEM.  Thread: the decoder's owner.
 */
int ivr_nbest_list(struct ps_decoder_s *ps, const char *best, struct ivr_nbest_alt *out, size_t max,
		   struct ivr_nbest_stats *st);

#endif /* IVR_ASR_NBEST_H */
