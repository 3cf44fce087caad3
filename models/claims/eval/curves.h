/* Curves of a scored split for the evaluation report: ROC, precision-recall,
 * business cost against the decision threshold, reliability (calibration)
 * and score histograms. Scores are P(deny), label 1 = deny, "deny" when
 * score >= threshold, as in metrics.h. */
#ifndef CLAIMS_CURVES_H
#define CLAIMS_CURVES_H

#include <stdint.h>

#include "models/claims/data/decision.h"
#include "tensor/status.h"

typedef struct claims_curve {
    int n;
    double *x, *y; /* n points each, malloc'd */
} claims_curve;

void claims_curve_free(claims_curve *c);

/* ROC: (false positive rate, true positive rate) from (0, 0), one point
 * per distinct score from the highest, to (1, 1). Empty (n = 0) when a
 * class is absent. TG_ERR_OOM. */
tg_status claims_roc_curve(const float *score, const int32_t *label, int64_t n, claims_curve *out);

/* Precision-recall: (recall, precision) once per distinct score from the
 * highest. Empty without positives. TG_ERR_OOM. */
tg_status claims_pr_curve(const float *score, const int32_t *label, int64_t n, claims_curve *out);

/* Total cost against the threshold over [0, 1] as a step line: denying
 * everything at 0, approving everything above the highest score. */
tg_status claims_cost_curve(const float *score, const int32_t *label, int64_t n, const claims_costs *c,
                            claims_curve *out);

/* Reliability: (mean probability, observed deny rate) of each non-empty one
 * of `bins` equal-width probability bins (the bins of claims_ece). */
tg_status claims_reliability_curve(const float *prob, const int32_t *label, int64_t n, int bins, claims_curve *out);

/* Histogram of the scores of the claims with label `which` over `bins`
 * equal-width bins of [0, 1], as the share of those claims in each bin,
 * drawn as a step outline from (0, 0) to (1, 0). */
tg_status claims_score_histogram(const float *score, const int32_t *label, int64_t n, int32_t which, int bins,
                                 claims_curve *out);

#endif
