#include "models/claims/eval/curves.h"

#include <math.h>
#include <stdlib.h>

void claims_curve_free(claims_curve *c)
{
    if (!c) return;
    free(c->x);
    free(c->y);
    *c = (claims_curve){0};
}

static tg_status curve_alloc(claims_curve *c, int64_t cap)
{
    *c = (claims_curve){.x = malloc(sizeof(double) * (size_t)(cap > 0 ? cap : 1)),
                        .y = malloc(sizeof(double) * (size_t)(cap > 0 ? cap : 1))};
    if (c->x && c->y) return TG_OK;
    claims_curve_free(c);
    return tg_error(TG_ERR_OOM, "claims curves: out of memory");
}

static void push(claims_curve *c, double x, double y)
{
    c->x[c->n] = x;
    c->y[c->n++] = y;
}

typedef struct ranked {
    float s;
    int32_t y;
} ranked;

static int by_score_desc(const void *a, const void *b)
{
    float x = ((const ranked *)a)->s, y = ((const ranked *)b)->s;
    return (x < y) - (x > y);
}

/* (score, label) pairs by descending score, with the class totals. */
static ranked *rank(const float *score, const int32_t *label, int64_t n, double *pos, double *neg)
{
    ranked *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (!v) {
        tg_error(TG_ERR_OOM, "claims curves: out of memory");
        return NULL;
    }
    *pos = *neg = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = (ranked){score[i], label[i] != 0};
        *pos += v[i].y, *neg += !v[i].y;
    }
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    return v;
}

/* Index past the group of scores equal to v[i].s, adding its classes. */
static int64_t group_end(const ranked *v, int64_t n, int64_t i, double *tp, double *fp)
{
    int64_t j = i;
    for (; j < n && v[j].s == v[i].s; j++) *tp += v[j].y, *fp += !v[j].y;
    return j;
}

tg_status claims_roc_curve(const float *score, const int32_t *label, int64_t n, claims_curve *out)
{
    double pos, neg, tp = 0, fp = 0;
    ranked *v = rank(score, label, n, &pos, &neg);
    if (!v) return TG_ERR_OOM;
    tg_status st = curve_alloc(out, n + 1);
    if (st == TG_OK && pos > 0 && neg > 0) {
        push(out, 0, 0);
        for (int64_t i = 0; i < n;) {
            i = group_end(v, n, i, &tp, &fp);
            push(out, fp / neg, tp / pos);
        }
    }
    free(v);
    return st;
}

tg_status claims_pr_curve(const float *score, const int32_t *label, int64_t n, claims_curve *out)
{
    double pos, neg, tp = 0, fp = 0;
    ranked *v = rank(score, label, n, &pos, &neg);
    if (!v) return TG_ERR_OOM;
    tg_status st = curve_alloc(out, n);
    for (int64_t i = 0; st == TG_OK && pos > 0 && i < n;) {
        i = group_end(v, n, i, &tp, &fp);
        push(out, tp / pos, tp / (tp + fp));
    }
    free(v);
    return st;
}

/* Cost with tp of pos denials and fp of neg approvals denied, the rest approved. */
static double cost_at(const claims_costs *c, double tp, double fp, double pos, double neg)
{
    return tp * c->c[1][1] + fp * c->c[0][1] + (pos - tp) * c->c[1][0] + (neg - fp) * c->c[0][0];
}

tg_status claims_cost_curve(const float *score, const int32_t *label, int64_t n, const claims_costs *c,
                            claims_curve *out)
{
    double pos, neg, tp = 0, fp = 0;
    ranked *v = rank(score, label, n, &pos, &neg);
    if (!v) return TG_ERR_OOM;
    tg_status st = curve_alloc(out, 2 * n + 2);
    if (st == TG_OK) {
        double prev = cost_at(c, 0, 0, pos, neg);
        push(out, 1, prev);
        /* lowering the threshold to each distinct score denies that group */
        for (int64_t i = 0; i < n;) {
            double s = v[i].s;
            i = group_end(v, n, i, &tp, &fp);
            push(out, s, prev);
            push(out, s, prev = cost_at(c, tp, fp, pos, neg));
        }
        if (out->x[out->n - 1] > 0) push(out, 0, prev);
    }
    free(v);
    return st;
}

tg_status claims_reliability_curve(const float *prob, const int32_t *label, int64_t n, int bins, claims_curve *out)
{
    double *sp = calloc((size_t)bins, sizeof *sp), *sy = calloc((size_t)bins, sizeof *sy);
    int64_t *m = calloc((size_t)bins, sizeof *m);
    tg_status st = sp && sy && m ? curve_alloc(out, bins) : tg_error(TG_ERR_OOM, "claims curves: out of memory");
    for (int64_t i = 0; st == TG_OK && i < n; i++) {
        int b = (int)(prob[i] * bins); /* as claims_ece */
        b = b < 0 ? 0 : b < bins ? b : bins - 1;
        sp[b] += prob[i], sy[b] += label[i] != 0, m[b]++;
    }
    for (int b = 0; st == TG_OK && b < bins; b++)
        if (m[b]) push(out, sp[b] / (double)m[b], sy[b] / (double)m[b]);
    free(sp);
    free(sy);
    free(m);
    return st;
}

tg_status claims_score_histogram(const float *score, const int32_t *label, int64_t n, int32_t which, int bins,
                                 claims_curve *out)
{
    int64_t *h = calloc((size_t)bins, sizeof *h), total = 0;
    tg_status st = h ? curve_alloc(out, 2 * bins + 2) : tg_error(TG_ERR_OOM, "claims curves: out of memory");
    for (int64_t i = 0; st == TG_OK && i < n; i++) {
        if ((label[i] != 0) != (which != 0)) continue;
        int b = (int)(score[i] * bins);
        h[b < 0 ? 0 : b < bins ? b : bins - 1]++;
        total++;
    }
    if (st == TG_OK) {
        push(out, 0, 0);
        for (int b = 0; b < bins; b++) {
            double share = total ? (double)h[b] / (double)total : 0;
            push(out, (double)b / bins, share);
            push(out, (double)(b + 1) / bins, share);
        }
        push(out, 1, 0);
    }
    free(h);
    return st;
}
