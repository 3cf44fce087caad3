/* Learning-rate schedules: pure functions of the optimizer step.
 *
 * Steps are 1-based: `step` is the number of the update about to be taken
 * (the first tg_optim_step call uses step 1). Negative steps count as 0, and
 * step 0 gives the formula's natural limit: 0 for Noam and for any schedule
 * with warmup > 0, the base lr for schedules without warmup.
 *
 * Linear warmup (constant, cosine, step): for step < warmup the lr is
 * lr * step / warmup, so step == warmup reaches the peak lr exactly. */
#ifndef TG_OPTIM_SCHED_H
#define TG_OPTIM_SCHED_H

#include <stdint.h>

#include "tensor/status.h"

/* Noam: factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5); peaks at
 * step == warmup. Needs d_model >= 1 and warmup >= 1 (else NaN). */
double tg_sched_noam(int64_t step, double factor, int64_t d_model, int64_t warmup);
/* Warmup to `lr`, then cosine decay from lr to min_lr over the steps
 * warmup..total, min_lr after total. Needs total > warmup >= 0 (else NaN). */
double tg_sched_cosine(int64_t step, double lr, int64_t warmup, int64_t total, double min_lr);
/* Warmup to `lr`, then lr * gamma^k where k = floor((step - max(warmup, 1)) / every):
 * `every` steps at each level, the first at the peak. Needs every >= 1 (else NaN). */
double tg_sched_step_decay(int64_t step, double lr, int64_t warmup, double gamma, int64_t every);
/* Warmup to `lr`, then constant lr. */
double tg_sched_constant(int64_t step, double lr, int64_t warmup);

typedef enum tg_sched_kind {
    TG_SCHED_CONSTANT = 0,
    TG_SCHED_NOAM = 1,
    TG_SCHED_COSINE = 2,
    TG_SCHED_STEP = 3
} tg_sched_kind;

/* A schedule chosen at run time; fields a kind does not use are ignored. */
typedef struct tg_sched {
    tg_sched_kind kind;
    double lr;           /* peak lr; Noam: the factor */
    int64_t warmup;      /* warmup steps (>= 0; Noam: >= 1) */
    int64_t total_steps; /* cosine: step at which min_lr is reached (> warmup) */
    double min_lr;       /* cosine floor, in [0, lr] */
    double gamma;        /* step decay factor, > 0 */
    int64_t every;       /* step decay period, >= 1 */
    int64_t d_model;     /* Noam model width, >= 1 */
} tg_sched;

/* Parses "noam", "cosine", "step" or "constant"; TG_ERR_INVALID naming the
 * bad value and listing the accepted ones. */
tg_status tg_sched_kind_parse(const char *name, tg_sched_kind *kind);
/* The name parsed by tg_sched_kind_parse ("?" for an unknown kind). */
const char *tg_sched_kind_name(tg_sched_kind kind);
/* TG_OK if the fields used by s->kind are valid, else TG_ERR_INVALID naming
 * the field and its value. */
tg_status tg_sched_check(const tg_sched *s);
/* The lr at `step` (see above); NaN with the tg_sched_check error recorded
 * when s is invalid. */
double tg_sched_lr(const tg_sched *s, int64_t step);

#endif
