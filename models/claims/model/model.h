/* The claims model: a pre-LN causal transformer LM over the claim text plus
 * a decision head on an attention pooling of the document's final hidden
 * states over every window of the document, so long claims are read whole:
 * weights softmax(w · h_t) over the document's real positions (w starts at
 * zero, i.e. as a mean pool, and learns which positions carry evidence).
 *
 * With `surprisal`, every position's hidden state entering the pooling also
 * gets s_t · v, where s_t is the LM's (detached) negative log-likelihood of
 * the token at t given the tokens before it and v a learned vector: a code,
 * amount or age that the LM finds unusual in its context is what most rules
 * behind a denial look like, and the LM learns what is usual from every
 * claim, not only from the rare denials. With head_hidden > 0 the head is
 * Linear(dim, head_hidden) -> GELU -> Linear(head_hidden, 2). With `tabular`
 * the head's input also holds the claim's structured facts
 * (claims_claim_features: demographics, the payer's reference for the codes,
 * claims history), which the head would otherwise have to recover from
 * digits in the text.
 *
 * Loss = LM cross-entropy (medical-code targets optionally up-weighted)
 *      + lambda * decision loss (cost-matrix expected cost by default, or
 *        class-weighted cross-entropy, or focal loss).
 * Parameter names: the GPT's (nn/gpt.h) plus pool.weight, head.weight,
 * head.bias, and with the options above surprise.weight, head_fc.weight,
 * head_fc.bias. */
#ifndef CLAIMS_MODEL_H
#define CLAIMS_MODEL_H

#include <stdint.h>

#include "models/claims/text/batch.h"
#include "models/claims/text/corpus.h"
#include "models/claims/data/decision.h"
#include "nn/gpt.h"

typedef enum claims_decision_loss {
    CLAIMS_LOSS_COST = 0, /* expected business cost under the softmax */
    CLAIMS_LOSS_WCE,      /* class-weighted cross-entropy */
    CLAIMS_LOSS_FOCAL     /* focal loss with class weights as alpha */
} claims_decision_loss;

typedef struct claims_model_config {
    tg_gpt_config gpt;
    double lambda; /* weight of the decision loss */
    claims_decision_loss decision;
    claims_costs costs;     /* [true][pred], 0 approve, 1 deny */
    double class_weight[2]; /* WCE weights / focal alpha */
    double focal_gamma;
    double code_weight; /* LM weight of medical-code targets (1: none) */
    int head_hidden;    /* 0: linear head */
    bool surprisal;     /* LM surprisal as a pooling input */
    int pool_heads;     /* queries of the attention pooling (0 means 1) */
    bool tabular;       /* the claim's structured facts (claims_claim_features) enter the head */
    double
        decision_grad_cut; /* share of the decision gradient kept out of the transformer (and surprise.weight), [0, 1] */
} claims_model_config;

typedef struct claims_model {
    claims_model_config cfg;
    tg_gpt gpt;
    tg_nn_linear pool;    /* (pool_heads, dim): pooling scores */
    tg_nn_linear head_fc; /* (head_hidden, dim) when head_hidden > 0 */
    tg_nn_linear head;    /* (2, head_hidden or dim) */
    tg_tensor *surprise;  /* (dim) when surprisal */
} claims_model;

/* Parses "cost", "wce" or "focal"; TG_ERR_INVALID names the bad value. */
tg_status claims_decision_loss_parse(const char *s, claims_decision_loss *out);
const char *claims_decision_loss_name(claims_decision_loss k);

/* Builds the model from seed (all parameters in m->gpt.params). */
tg_status claims_model_init(claims_model *m, const claims_model_config *cfg, uint64_t seed);
void claims_model_free(claims_model *m);

/* What one forward over a batch produces (step tensors). */
typedef struct claims_forward {
    tg_tensor *loss;            /* lm_sum / lm_denom + lambda * dec_sum / dec_denom */
    tg_tensor *lm_loss;         /* weighted mean over this batch's targets */
    tg_tensor *decision_loss;   /* mean over this batch's documents */
    tg_tensor *lm_logits;       /* (rows, T, vocab), when keep_logits */
    tg_tensor *decision_logits; /* (n_docs, 2) */
    tg_tensor *head_input;      /* (n_docs, claims_model_head_width) */
    tg_tensor *pool_weights;    /* (pool_heads, n_docs, rows * pad_len): where each pooling query looked */
} claims_forward;

/* Forward over a filled batch. labels[d] is the label of the batch's d-th
 * document; features is the corpus's (n, CLAIMS_N_FEATURES) array, read at
 * row b->doc_index[d] (needed with cfg.tabular, else may be NULL); is_code[v]
 * marks code tokens (may be NULL). The combined loss
 * divides the LM sum by lm_denom and the decision sum by dec_denom (pass the
 * totals over all micro-batches of an accumulated step; 0 uses this batch's
 * own). */
tg_status claims_model_forward(const claims_model *m, const claims_batch *b, const int32_t *labels,
                               const float *features, const uint8_t *is_code, double lm_denom, double dec_denom,
                               bool train, bool keep_logits, claims_forward *out);

/* P(deny) of the batch's d-th document from a forward's decision logits. */
float claims_model_deny_prob(const claims_forward *f, int32_t d);

/* Width of the decision head's input: <SEP> state, pooled states, facts. */
int64_t claims_model_head_width(const claims_model_config *cfg);

/* The decision head on its input feat (docs, head width) -> logits (docs, 2),
 * and the configured decision loss (mean over docs) of logits for labels y
 * (docs, s32). */
tg_tensor *claims_model_head_logits(const claims_model *m, tg_tensor *feat);
tg_tensor *claims_model_decision_loss(const claims_model *m, tg_tensor *logits, tg_tensor *y);

/* The LM weight mass of a batch: sum over counted targets of their weights. */
double claims_lm_weight(const claims_batch *b, const uint8_t *is_code, double code_weight);

#endif
