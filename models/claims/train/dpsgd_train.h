/* DP-SGD training of the claims model (trainer.h with opts.dp set).
 *
 * Privacy unit: one claim, or one patient (every claim of a member id); the
 * guarantee covers adding or removing a whole unit. Each step:
 *   1. Poisson sampling: every unit joins the step independently with
 *      probability q (optim/dpsgd.h; a pure function of seed and step, so
 *      resumed and multi-rank runs draw the same batch);
 *   2. the sampled units' documents are packed into micro-batches under the
 *      token budget, a unit never split across micro-batches (its gradient,
 *      the sum over its documents, is clipped whole);
 *   3. per micro-batch, the per-unit gradient norms (autograd/dpsgd_norms.h) give
 *      weights min(1, C / norm), and one weighted backward adds the clipped
 *      per-unit gradients to the parameters' gradients;
 *   4. the ranks sum their clipped sums, every rank adds the same noise
 *      N(0, sigma^2 C^2) and divides by the expected batch size q * units.
 * A unit's loss is the sum over its documents of LM cross-entropy divided by
 * the mean number of targets per training document (a constant, so no unit's
 * loss depends on the others) plus lambda times its decision loss.
 * The accountant (optim/dpsgd_accountant.h) gives epsilon at delta after each step. */
#ifndef CLAIMS_DPSGD_TRAIN_H
#define CLAIMS_DPSGD_TRAIN_H

#include <stdio.h>

#include "models/claims/text/batch.h"
#include "models/claims/text/corpus.h"
#include "models/claims/data/dataset.h"
#include "models/claims/model/model.h"

typedef struct claims_dpsgd_opts {
    bool patient; /* unit = patient, else claim */
    double clip;  /* C: per-unit gradient norm bound */
    double sigma; /* noise multiplier */
    double rate;  /* q: sampling probability of a unit per step */
    double delta;
    const int32_t *unit; /* (training documents) unit of each, in [0, n_units) */
    int32_t n_units;
} claims_dpsgd_opts;

/* Privacy units of a dataset's claims: claim i is unit i, or with `patient`
 * claims of one member id share a unit (numbered by first appearance).
 * *unit is malloc'd (ds->n entries). TG_ERR_OOM. */
tg_status claims_dpsgd_units(const claims_dataset *ds, bool patient, int32_t **unit, int32_t *n_units);

/* Checks DP options against the run: clip > 0, sigma >= 0, q in (0, 1],
 * delta in (0, 1), and a model whose loss splits by document (no bf16, no
 * class-weighted cross-entropy, no repeated denials). TG_ERR_INVALID says
 * which. */
tg_status claims_dpsgd_check(const claims_dpsgd_opts *o, const claims_model_config *m, const claims_batch_opts *b,
                             bool bf16);

/* The checkpoint configuration `config` (JSON object text) with the DP
 * settings added as "dp" (none when dp is NULL); malloc'd, NULL on OOM. */
char *claims_dpsgd_config_add(const char *config, const claims_dpsgd_opts *dp);

/* Resuming must keep the privacy accounting true: TG_ERR_INVALID, naming
 * `what` and the field, when the DP settings stored in a checkpoint's
 * configuration differ from dp (NULL: a run without DP-SGD). */
tg_status claims_dpsgd_config_check(const char *config, const claims_dpsgd_opts *dp, const char *what);

typedef struct claims_dpsgd claims_dpsgd;

typedef struct claims_dpsgd_stats {
    int64_t units, docs, tokens, clipped; /* sampled units, their claims and tokens; units clipped */
    double loss, lm_loss, decision_loss;  /* per sampled claim / per target */
    double epsilon;                       /* after this step */
} claims_dpsgd_stats;

/* DP state for a training corpus (documents unit-indexed by o->unit). */
tg_status claims_dpsgd_create(const claims_dpsgd_opts *o, const claims_corpus *train, claims_dpsgd **out);
void claims_dpsgd_free(claims_dpsgd *dp);

/* Sets the parameters' gradients to step `step`'s noisy mean of clipped
 * per-unit gradients (gradients zeroed by the caller). Advances the context
 * RNG (dropout) identically on all ranks. */
tg_status claims_dpsgd_step(claims_dpsgd *dp, const claims_model *m, const claims_corpus *train, const uint8_t *is_code,
                            const claims_batch_opts *bo, uint64_t seed, int64_t step, claims_dpsgd_stats *s);

/* Appends the step's privacy fields to a metrics JSON object:
 * ,"epsilon":..,"delta":..,"sigma":..,"clip":..,"sample_rate":..,"dp_unit":..,
 * "dp_units":..,"dp_clipped":.. */
void claims_dpsgd_write_json(FILE *f, const claims_dpsgd *dp, const claims_dpsgd_stats *s);

#endif
