/* Decision metrics for claims adjudication. The positive class is "deny"
 * (label 1), the rare one; scores are P(deny); costs as in decision.h. */
#ifndef CLAIMS_METRICS_H
#define CLAIMS_METRICS_H

#include <stdint.h>

#include "models/claims/data/decision.h"

typedef struct claims_confusion {
    int64_t tp, fp, tn, fn; /* deny = positive */
} claims_confusion;

/* ROC AUC by the rank statistic, ties counted as one half; NaN when one class
 * is absent. */
double claims_auc(const float *score, const int32_t *label, int64_t n);

/* Area under the precision-recall curve as average precision (the mean of
 * precision at each true positive, thresholds at distinct scores); NaN
 * without positives. */
double claims_pr_auc(const float *score, const int32_t *label, int64_t n);

/* Counts with "deny" predicted when score >= threshold. */
claims_confusion claims_confusion_at(const float *score, const int32_t *label, int64_t n, double threshold);

/* Total cost of the decisions in a confusion matrix. */
double claims_cost_total(const claims_confusion *m, const claims_costs *c);

/* Precision, recall of the deny class (0 when undefined) and accuracy. */
double claims_precision(const claims_confusion *m);
double claims_recall(const claims_confusion *m);
double claims_accuracy(const claims_confusion *m);

/* The threshold minimizing total cost over all distinct cut points (ties
 * broken toward the higher threshold); writes that cost to *cost. */
double claims_best_threshold(const float *score, const int32_t *label, int64_t n, const claims_costs *c, double *cost);

/* Cost of approving everything / denying everything. */
double claims_cost_always_approve(const int32_t *label, int64_t n, const claims_costs *c);
double claims_cost_always_deny(const int32_t *label, int64_t n, const claims_costs *c);

/* Platt scaling: p' = 1 / (1 + exp(-(a logit(p) + b))), (a, b) fitted by
 * Newton's method on the log-loss with Platt's smoothed targets (identity
 * a = 1, b = 0 when one class is absent). */
void claims_platt_fit(const float *score, const int32_t *label, int64_t n, double *a, double *b);
double claims_platt_apply(double a, double b, double p);

/* Expected calibration error over `bins` equal-width probability bins. */
double claims_ece(const float *prob, const int32_t *label, int64_t n, int bins);

#endif
