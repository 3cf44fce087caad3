/* Training of the claims model (evaluation: eval/evaluate.h).
 *
 * claims_train runs the whole loop: bucketed batches with a token budget,
 * forward, loss, backward (gradient accumulation over micro-batches
 * normalized by the total target tokens and documents of the step), global
 * norm clipping, AdamW with a Noam or warmup-cosine schedule, dynamic loss
 * scaling with skipped-step counting when bf16 is on, evaluation every K
 * steps, atomic checkpoints every M steps and when *stop becomes nonzero,
 * and one JSON object per step and per evaluation in <out>/metrics.jsonl.
 * Resuming from a checkpoint reproduces the uninterrupted run bit for bit. */
#ifndef CLAIMS_TRAINER_H
#define CLAIMS_TRAINER_H

#include <signal.h>
#include <stdio.h>

#include "models/claims/eval/evaluate.h"
#include "models/claims/text/batch.h"
#include "models/claims/text/corpus.h"
#include "models/claims/train/dpsgd_train.h"
#include "models/claims/train/head_fit.h"
#include "models/claims/model/model.h"
#include "optim/sched.h"

typedef struct claims_train_opts {
    claims_model_config model;
    claims_batch_opts batch;
    int64_t steps;       /* optimizer steps in total (a resumed run continues to it) */
    int accum;           /* micro-batches per step: the global batch, shared by all ranks (<= CLAIMS_MAX_ACCUM) */
    tg_sched sched;      /* learning-rate schedule (lr = peak) */
    double clip;         /* global-norm clip; 0: off */
    double weight_decay; /* AdamW, on matrices and embeddings only */
    uint64_t seed;       /* init, data order, dropout */
    bool bf16;           /* bf16 matmuls with dynamic loss scaling */
    int64_t eval_every, ckpt_every, norms_every;
    const char *out_dir;           /* metrics.jsonl, checkpoints, report */
    const char *resume;            /* checkpoint path or NULL */
    const char *tokenizer_name;    /* tokenizer file, relative to out_dir, stored in checkpoints */
    const char *artifact_json;     /* model artifact (artifact.h) stored in checkpoints, or NULL */
    const claims_dpsgd_opts *dp;   /* DP-SGD (dpsgd_train.h) instead of accum/clip/bf16, or NULL */
    claims_head_fit_opts head_fit; /* refit of the decision head after the last step (head_fit.h); not with dp */
} claims_train_opts;

typedef struct claims_progress {
    int64_t step, steps;
    double loss, lr, tokens_per_s, eta_s;
    const claims_eval *eval;                /* set on evaluation steps */
    const claims_head_fit_result *head_fit; /* set on the step after which the head was refit */
} claims_progress;

typedef void (*claims_progress_fn)(void *user, const claims_progress *p);

/* Trains a model from scratch or from opts->resume; on return *m holds the
 * final weights (free with claims_model_free) and *threshold the decision
 * threshold chosen on the validation corpus at the last evaluation. */
tg_status claims_train(const claims_train_opts *opts, const claims_corpus *train, const claims_corpus *valid,
                       const uint8_t *is_code, const uint8_t *is_rare, claims_progress_fn progress, void *user,
                       volatile sig_atomic_t *stop, claims_model *m, double *threshold);

#endif
