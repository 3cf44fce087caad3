/* Data-parallel pieces of the claims trainer (parallel/parallel.h underneath).
 *
 * A step's global batch is its `accum` micro-batches, planned identically on
 * every rank from (seed, epoch); rank r computes micro-batches k with
 * k % size == r and skips the others, so the global order - and, with the
 * same accum, the trained weights - do not depend on the number of ranks.
 * Losses are divided by denominators summed over the whole global batch,
 * gradients are summed across ranks, and every micro-batch draws dropout
 * from its own slice of the step's RNG stream. With one process every call
 * here is the single-process case (no communication). */
#ifndef CLAIMS_PARALLEL_TRAIN_H
#define CLAIMS_PARALLEL_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "optim/checkpoint.h"
#include "optim/optim.h"
#include "optim/scaler.h"
#include "tensor/rng.h"

/* Most micro-batches in one step's global batch (every rank needs one at
 * least to have work). */
#define CLAIMS_MAX_ACCUM 256

/* Gradient bucket size of the trainer's reducer for a model of `numel`
 * parameters: an eighth of the f64 gradients, within [1 MiB, 32 MiB] - a
 * small model still gets several buckets to overlap with backward, a large
 * one does not pay the per-message latency thousands of times. */
size_t claims_parallel_bucket_bytes(int64_t numel);

/* The last micro-batch of `accum` this rank computes, or -1 when none. */
int claims_parallel_last_owned(int accum);

/* Dropout stream of micro-batch k of a step that started with `step`: a
 * disjoint 2^40-draw slice, the same whichever rank computes it. */
tg_rng claims_parallel_micro_rng(tg_rng step, int k);

/* The context stream after a step of `accum` micro-batches. */
tg_rng claims_parallel_step_rng_end(tg_rng step, int accum);

/* Global LM and decision denominators of a step: w[k] and docs[k] hold this
 * rank's micro-batches (zero elsewhere); they are summed across ranks in
 * place (exact: one nonzero per slot) and then added in k order, as one
 * process would. */
tg_status claims_parallel_denominators(double *w, double *docs, int accum, double *lm_denom, double *dec_denom);

/* Makes every rank start from rank 0's parameters, optimizer, scaler,
 * train state, context RNG and decision threshold. */
tg_status claims_parallel_sync(tg_param_set *ps, tg_optim *opt, tg_scaler *sc, tg_train_state *st, double *threshold);

#endif
