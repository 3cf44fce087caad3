/* Evaluation of the claims model on a corpus: LM loss and token accuracies
 * (all tokens, medical-code tokens, rare codes), decision metrics at a
 * threshold and per deny reason, and a frozen forward pass over a corpus
 * that other passes (the head refit) reuse. */
#ifndef CLAIMS_EVALUATE_H
#define CLAIMS_EVALUATE_H

#include <stdint.h>
#include <stdio.h>

#include "models/claims/data/decision.h"
#include "models/claims/eval/metrics.h"
#include "models/claims/model/model.h"
#include "models/claims/text/batch.h"
#include "models/claims/text/corpus.h"

typedef struct claims_eval {
    double val_lm_loss, token_acc, code_token_acc, rare_code_token_acc;
    double decision_acc, precision, recall, auc, pr_auc;
    double threshold, business_cost, baseline_cost_always_approve, baseline_cost_always_deny;
    claims_confusion confusion;
    double calib_a, calib_b;    /* Platt scaling fitted on this corpus (metrics.h) */
    double ece, ece_calibrated; /* expected calibration error (10 bins) before and after it */
    int64_t docs, tokens, code_tokens, rare_code_tokens;
    /* Per deny reason (decision.h), when the data names reasons: claims with it,
     * share of them denied at the threshold, AUC against approved claims. */
    int64_t reason_n[CLAIMS_N_DENY_REASONS];
    double reason_recall[CLAIMS_N_DENY_REASONS], reason_auc[CLAIMS_N_DENY_REASONS];
} claims_eval;

/* Token classes for the code metrics: is_code[v] for code tokens, is_rare[v]
 * for codes seen fewer than 20 times as targets in `train`. Arrays of
 * vocab bytes, malloc'd. */
tg_status claims_code_masks(const claims_tokenizer *tok, const claims_corpus *train, uint8_t **is_code,
                            uint8_t **is_rare);

/* Receives each batch of claims_forward_corpus with the model's output. */
typedef tg_status (*claims_batch_fn)(void *user, const claims_batch *b, const claims_forward *f);

/* Runs m without gradients over every claim of c once, in batches as bo
 * (planned with seed, labels from c), calling fn for each batch before its
 * step ends. With several ranks each batch is run by one of them only. A
 * non-OK return of fn stops the pass and is returned. */
tg_status claims_forward_corpus(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo,
                                const uint8_t *is_code, uint64_t seed, bool keep_logits, claims_batch_fn fn,
                                void *user);

/* Evaluates m on a corpus. threshold: P(deny) cut; NaN chooses the one that
 * minimizes business cost on this corpus (and reports it). */
tg_status claims_evaluate(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo,
                          const uint8_t *is_code, const uint8_t *is_rare, double threshold, claims_eval *out);

/* Every claim of an evaluation, in corpus order, for curves and reports. */
typedef struct claims_eval_scores {
    int32_t n;
    float *score;      /* P(deny) of the model, before calibration */
    int32_t *label;    /* 1 = deny */
    uint32_t *reasons; /* deny-reason bit masks (1 << claims_deny_reason), 0 when unknown */
} claims_eval_scores;

/* claims_evaluate that also keeps each claim's score, label and reasons in
 * *scores (owned by it, freed with claims_eval_scores_free, also after an
 * error). */
tg_status claims_evaluate_scores(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo,
                                 const uint8_t *is_code, const uint8_t *is_rare, double threshold, claims_eval *out,
                                 claims_eval_scores *scores);
void claims_eval_scores_free(claims_eval_scores *s);

/* Writes an evaluation as one JSON object line ({"eval_step": step, ...}). */
void claims_eval_write_json(FILE *f, int64_t step, const claims_eval *e);

/* Writes ,"key":v to a JSON object line (null when v is not finite). */
void claims_json_num(FILE *f, const char *key, double v);

#endif
