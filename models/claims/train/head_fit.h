/* Refitting the decision head on frozen features.
 *
 * During training the decision head sees each denial a few times, in steps
 * shared with the LM, and under Adam a weight moves about lr per step: the
 * rare class is under-learned when the LM is done. The refit computes the
 * head's input (the <SEP> state, the pooled states and the claim's facts)
 * once for every denied training claim, a share of the approved ones and
 * every validation claim, with the transformer and pooling frozen, then trains head_fc and head alone for some epochs over
 * them (AdamW, mini-batches in a seeded order, the model's decision loss),
 * keeping the epoch with the best validation AUC. Feature passes are split
 * over distributed ranks (each claim by one rank, then summed), so every
 * rank fits the same head. */
#ifndef CLAIMS_HEAD_FIT_H
#define CLAIMS_HEAD_FIT_H

#include <stdio.h>

#include "models/claims/model/model.h"

typedef struct claims_head_fit_opts {
    int epochs;          /* passes over the training claims; 0: no refit */
    int batch;           /* claims per mini-batch (0: 256) */
    double lr;           /* AdamW learning rate, cosine to lr / 10 over the epochs */
    double weight_decay; /* on the head's matrices */
    double neg_keep;     /* share of approved training claims used, (0, 1] (0 means 1); each
                            kept one weighs 1 / neg_keep in the loss, so the objective is
                            unbiased while the feature pass reads fewer claims */
    uint64_t seed;       /* which approved claims are kept, mini-batch order */
} claims_head_fit_opts;

typedef struct claims_head_fit_result {
    int best_epoch;             /* 0: the head as trained was best and is kept */
    double start_auc, best_auc; /* validation AUC before and after */
} claims_head_fit_result;

/* Refits m's decision head (head_fc, head) as above; batching as bo.
 * Writes one {"head_epoch", "head_loss", "head_val_auc"} line per epoch to
 * metrics (may be NULL). TG_ERR_INVALID for bad options (message names
 * them), TG_ERR_OOM. */
tg_status claims_head_fit(claims_model *m, const claims_corpus *train, const claims_corpus *valid,
                          const claims_batch_opts *bo, const uint8_t *is_code, const claims_head_fit_opts *o,
                          FILE *metrics, claims_head_fit_result *res);

#endif
