#include "models/claims/eval/metrics.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored {
    float s;
    int32_t y;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x < y) - (x > y);
}

/* Pairs sorted by descending score (NULL when memory is short). */
static scored *sorted(const float *score, const int32_t *label, int64_t n)
{
    scored *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) v[i] = (scored){score[i], label[i] != 0};
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    return v;
}

double claims_auc(const float *score, const int32_t *label, int64_t n)
{
    scored *v = sorted(score, label, n);
    if (!v) return NAN;
    /* Walk groups of equal scores from the top: each positive in a group
     * beats the negatives below it and ties half the negatives beside it. */
    double wins = 0, pos = 0, neg_seen = 0, total_neg = 0;
    for (int64_t i = 0; i < n; i++) total_neg += v[i].y == 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        double gp = 0, gn = 0;
        while (j < n && v[j].s == v[i].s) {
            gp += v[j].y;
            gn += !v[j].y;
            j++;
        }
        wins += gp * (total_neg - neg_seen - gn + 0.5 * gn);
        pos += gp;
        neg_seen += gn;
        i = j;
    }
    free(v);
    return pos > 0 && total_neg > 0 ? wins / (pos * total_neg) : NAN;
}

double claims_pr_auc(const float *score, const int32_t *label, int64_t n)
{
    scored *v = sorted(score, label, n);
    if (!v) return NAN;
    double tp = 0, fp = 0, ap = 0, total_pos = 0, prev_recall = 0;
    for (int64_t i = 0; i < n; i++) total_pos += v[i].y;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].s == v[i].s) {
            tp += v[j].y;
            fp += !v[j].y;
            j++;
        }
        double recall = total_pos > 0 ? tp / total_pos : 0;
        ap += (recall - prev_recall) * (tp / (tp + fp));
        prev_recall = recall;
        i = j;
    }
    free(v);
    return total_pos > 0 ? ap : NAN;
}

claims_confusion claims_confusion_at(const float *score, const int32_t *label, int64_t n, double threshold)
{
    claims_confusion m = {0};
    for (int64_t i = 0; i < n; i++) {
        int deny = score[i] >= threshold, y = label[i] != 0;
        m.tp += deny && y;
        m.fp += deny && !y;
        m.tn += !deny && !y;
        m.fn += !deny && y;
    }
    return m;
}

double claims_cost_total(const claims_confusion *m, const claims_costs *c)
{
    return (double)m->tn * c->c[0][0] + (double)m->fp * c->c[0][1] + (double)m->fn * c->c[1][0] +
           (double)m->tp * c->c[1][1];
}

double claims_precision(const claims_confusion *m)
{
    return m->tp + m->fp ? (double)m->tp / (double)(m->tp + m->fp) : 0.0;
}

double claims_recall(const claims_confusion *m)
{
    return m->tp + m->fn ? (double)m->tp / (double)(m->tp + m->fn) : 0.0;
}

double claims_accuracy(const claims_confusion *m)
{
    int64_t n = m->tp + m->fp + m->tn + m->fn;
    return n ? (double)(m->tp + m->tn) / (double)n : 0.0;
}

double claims_best_threshold(const float *score, const int32_t *label, int64_t n, const claims_costs *c, double *cost)
{
    scored *v = sorted(score, label, n);
    claims_confusion m = claims_confusion_at(score, label, n, INFINITY); /* approve all */
    double best = claims_cost_total(&m, c), best_thr = INFINITY;
    /* Lowering the threshold past each group of equal scores turns that group
     * from approve into deny. */
    for (int64_t i = 0; v && i < n;) {
        int64_t j = i;
        while (j < n && v[j].s == v[i].s) {
            if (v[j].y) {
                m.fn--;
                m.tp++;
            } else {
                m.tn--;
                m.fp++;
            }
            j++;
        }
        double k = claims_cost_total(&m, c);
        if (k < best) {
            best = k;
            best_thr = v[i].s;
        }
        i = j;
    }
    free(v);
    if (cost) *cost = best;
    return best_thr;
}

double claims_cost_always_approve(const int32_t *label, int64_t n, const claims_costs *c)
{
    double k = 0;
    for (int64_t i = 0; i < n; i++) k += c->c[label[i] != 0][0];
    return k;
}

double claims_cost_always_deny(const int32_t *label, int64_t n, const claims_costs *c)
{
    double k = 0;
    for (int64_t i = 0; i < n; i++) k += c->c[label[i] != 0][1];
    return k;
}

/* logit of a probability, clamped away from 0 and 1. */
static double logit(double p)
{
    const double e = 1e-7;
    p = p < e ? e : p > 1 - e ? 1 - e : p;
    return log(p / (1 - p));
}

double claims_platt_apply(double a, double b, double p) { return 1.0 / (1.0 + exp(-(a * logit(p) + b))); }

void claims_platt_fit(const float *score, const int32_t *label, int64_t n, double *a, double *b)
{
    *a = 1, *b = 0;
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += label[i] != 0;
    if (pos == 0 || pos == n) return;
    /* Platt's smoothed targets keep the fit finite on separable data. */
    const double t1 = (pos + 1.0) / (pos + 2.0), t0 = 1.0 / (n - pos + 2.0);
    for (int it = 0; it < 100; it++) { /* Newton steps on the log-loss in (a, b) */
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
        for (int64_t i = 0; i < n; i++) {
            double x = logit(score[i]), q = 1.0 / (1.0 + exp(-(*a * x + *b)));
            double d = q - (label[i] ? t1 : t0), w = q * (1 - q) + 1e-12;
            ga += d * x, gb += d, haa += w * x * x, hab += w * x, hbb += w;
        }
        double det = haa * hbb - hab * hab;
        if (!(fabs(det) > 1e-300)) break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        *a -= da, *b -= db;
        if (fabs(da) < 1e-10 && fabs(db) < 1e-10) break;
    }
}

double claims_ece(const float *prob, const int32_t *label, int64_t n, int bins)
{
    double err = 0;
    for (int k = 0; k < bins; k++) {
        double sp = 0, sy = 0;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            int bin = (int)(prob[i] * bins);
            if ((bin < bins ? bin : bins - 1) != k) continue;
            sp += prob[i], sy += label[i] != 0, m++;
        }
        if (m) err += fabs(sp - sy) / (double)n;
    }
    return n ? err : NAN;
}
