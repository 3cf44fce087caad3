#include "models/claims/train/dpsgd_train.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
#include "autograd/dpsgd_norms.h"
#include "parallel/parallel.h"
#include "models/claims/train/parallel_train.h"
#include "models/claims/text/tokenizer.h"
#include "optim/dpsgd.h"
#include "optim/dpsgd_accountant.h"
#include "tensor/ctx.h"

struct claims_dpsgd {
    claims_dpsgd_opts o;
    int32_t *off, *docs; /* documents of unit u: docs[off[u] .. off[u + 1]) */
    double lm_scale;     /* mean counted targets per training document */
    claims_plan plan;    /* the step's micro-batches */
    int32_t *sampled;    /* the step's units */
    int64_t win_cap, batch_cap;
    claims_batch b;
    int32_t *labels, *tok_unit, *doc_unit;
    int64_t tok_cap;
    tg_tensor **params;
};

/* ---- units ---- */

typedef struct by_member {
    const char *id;
    size_t i;
} by_member;

static int cmp_member(const void *a, const void *b)
{
    const by_member *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

tg_status claims_dpsgd_units(const claims_dataset *ds, bool patient, int32_t **unit, int32_t *n_units)
{
    const size_t n = ds->n;
    *unit = malloc((n ? n : 1) * sizeof **unit);
    by_member *s = patient ? malloc((n ? n : 1) * sizeof *s) : NULL;
    if (!*unit || (patient && !s)) {
        free(*unit);
        free(s);
        return tg_error(TG_ERR_OOM, "claims_dpsgd_units: out of memory for %zu claims", n);
    }
    if (!patient) {
        for (size_t i = 0; i < n; i++) (*unit)[i] = (int32_t)i;
        *n_units = (int32_t)n;
        return TG_OK;
    }
    for (size_t i = 0; i < n; i++) s[i] = (by_member){ds->claims[i].member_id ? ds->claims[i].member_id : "", i};
    qsort(s, n, sizeof *s, cmp_member);
    for (size_t k = 0; k < n; k++) /* each member's first claim leads its group */
        (*unit)[s[k].i] = k > 0 && !strcmp(s[k].id, s[k - 1].id) ? (int32_t)-1 - (int32_t)s[k - 1].i : INT32_MIN;
    int32_t next = 0;
    for (size_t i = 0; i < n; i++) { /* number units by first appearance */
        int32_t v = (*unit)[i];
        (*unit)[i] = v == INT32_MIN ? next++ : (*unit)[-1 - v];
    }
    free(s);
    *n_units = next;
    return TG_OK;
}

/* ---- checks, setup ---- */

tg_status claims_dpsgd_check(const claims_dpsgd_opts *o, const claims_model_config *m, const claims_batch_opts *b,
                             bool bf16)
{
    if (!(o->clip > 0) || !isfinite(o->clip) || !(o->sigma >= 0) || !isfinite(o->sigma))
        return tg_error(TG_ERR_INVALID, "DP: need a finite clip > 0 (%g) and sigma >= 0 (%g)", o->clip, o->sigma);
    if (!(o->rate > 0 && o->rate <= 1) || !(o->delta > 0 && o->delta < 1))
        return tg_error(TG_ERR_INVALID, "DP: need sample rate in (0, 1] (%g) and delta in (0, 1) (%g)", o->rate,
                        o->delta);
    if (bf16) return tg_error(TG_ERR_INVALID, "DP: per-unit gradient norms need f32 matmuls (drop --bf16)");
    if (m->decision == CLAIMS_LOSS_WCE && (m->class_weight[0] != 1.0 || m->class_weight[1] != 1.0))
        return tg_error(TG_ERR_INVALID, "DP: class-weighted cross-entropy divides by the batch's weight sum, which "
                                        "ties every claim's loss to the others; use the cost or focal decision loss");
    if (b->pos_repeat != 1)
        return tg_error(TG_ERR_INVALID,
                        "DP: units are Poisson-sampled once per step; repeating denied claims "
                        "(balance %d) breaks the accountant's assumption",
                        b->pos_repeat);
    if (!o->unit || o->n_units < 1) return tg_error(TG_ERR_INVALID, "DP: no privacy units");
    return TG_OK;
}

tg_status claims_dpsgd_create(const claims_dpsgd_opts *o, const claims_corpus *train, claims_dpsgd **out)
{
    claims_dpsgd *dp = calloc(1, sizeof *dp);
    if (!dp) return tg_error(TG_ERR_OOM, "claims_dpsgd_create: out of memory");
    *out = dp;
    dp->o = *o;
    dp->off = calloc((size_t)o->n_units + 1, sizeof *dp->off);
    dp->docs = malloc((size_t)(train->n ? train->n : 1) * sizeof *dp->docs);
    dp->sampled = malloc((size_t)o->n_units * sizeof *dp->sampled);
    dp->labels = malloc((size_t)(train->n ? train->n : 1) * sizeof *dp->labels);
    dp->doc_unit = malloc((size_t)(train->n ? train->n : 1) * sizeof *dp->doc_unit);
    if (!dp->off || !dp->docs || !dp->sampled || !dp->labels || !dp->doc_unit)
        return tg_error(TG_ERR_OOM, "claims_dpsgd_create: out of memory");
    int64_t targets = 0;
    for (int32_t i = 0; i < train->n; i++) {
        if (o->unit[i] < 0 || o->unit[i] >= o->n_units)
            return tg_error(TG_ERR_INVALID, "claims_dpsgd_create: claim %d has unit %d outside [0, %d)", i, o->unit[i],
                            o->n_units);
        dp->off[o->unit[i] + 1]++;
        targets += train->len[i] - 1;
    }
    for (int32_t u = 0; u < o->n_units; u++) dp->off[u + 1] += dp->off[u];
    int32_t *fill = calloc((size_t)o->n_units, sizeof *fill);
    if (!fill) return tg_error(TG_ERR_OOM, "claims_dpsgd_create: out of memory");
    for (int32_t i = 0; i < train->n; i++) dp->docs[dp->off[o->unit[i]] + fill[o->unit[i]]++] = i;
    free(fill);
    dp->lm_scale = train->n ? (double)targets / train->n : 1.0;
    if (dp->lm_scale <= 0) dp->lm_scale = 1.0;
    return TG_OK;
}

void claims_dpsgd_free(claims_dpsgd *dp)
{
    if (!dp) return;
    free(dp->off);
    free(dp->docs);
    free(dp->plan.windows);
    free(dp->plan.batches);
    free(dp->sampled);
    free(dp->labels);
    free(dp->tok_unit);
    free(dp->doc_unit);
    free(dp->params);
    claims_batch_free(&dp->b);
    free(dp);
}

/* ---- packing the sampled units into micro-batches ---- */

static tg_status reserve(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return TG_OK;
    int64_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return tg_error(TG_ERR_OOM, "claims_dpsgd: out of memory");
    *p = q;
    *cap = c;
    return TG_OK;
}

/* Appends document d's windows to the plan (as the epoch planner cuts them). */
static tg_status add_doc_windows(claims_dpsgd *dp, const claims_corpus *c, int32_t d, const claims_batch_opts *bo,
                                 int32_t *pad)
{
    claims_batch_opts one = *bo;
    one.pos_repeat = 1;
    one.token_budget = bo->token_budget > bo->ctx ? bo->token_budget : bo->ctx;
    claims_plan p;
    TG_TRY(claims_plan_epoch(&c->len[d], NULL, 1, &one, 0, 0, &p));
    tg_status st =
        reserve((void **)&dp->plan.windows, &dp->win_cap, dp->plan.n_windows + p.n_windows, sizeof *dp->plan.windows);
    for (int32_t w = 0; st == TG_OK && w < p.n_windows; w++) {
        claims_window win = p.windows[w];
        win.doc = d;
        if (win.len > *pad) *pad = win.len;
        dp->plan.windows[dp->plan.n_windows++] = win;
    }
    claims_plan_free(&p);
    return st;
}

static tg_status close_batch(claims_dpsgd *dp, int32_t first_win, int32_t pad, int32_t n_docs)
{
    TG_TRY(reserve((void **)&dp->plan.batches, &dp->batch_cap, dp->plan.n_batches + 1, sizeof *dp->plan.batches));
    dp->plan.batches[dp->plan.n_batches++] =
        (claims_plan_batch){first_win, dp->plan.n_windows - first_win, pad, n_docs};
    return TG_OK;
}

/* Micro-batches of the sampled units: greedy in unit order under the token
 * budget (rows x padded length); a unit larger than the budget alone. */
static tg_status pack(claims_dpsgd *dp, const claims_corpus *c, const claims_batch_opts *bo, int32_t n_sampled)
{
    dp->plan.n_windows = dp->plan.n_batches = 0;
    int32_t first_win = 0, pad = 0, docs = 0;
    for (int32_t k = 0; k < n_sampled; k++) {
        const int32_t u = dp->sampled[k], w0 = dp->plan.n_windows;
        int32_t upad = 0;
        for (int32_t j = dp->off[u]; j < dp->off[u + 1]; j++) TG_TRY(add_doc_windows(dp, c, dp->docs[j], bo, &upad));
        const int32_t rows_before = w0 - first_win, rows_after = dp->plan.n_windows - first_win;
        const int32_t new_pad = upad > pad ? upad : pad;
        if (rows_before > 0 && (int64_t)rows_after * new_pad > bo->token_budget) {
            /* the unit starts the next batch: close the current one before its windows */
            int32_t n_win = dp->plan.n_windows;
            dp->plan.n_windows = w0;
            TG_TRY(close_batch(dp, first_win, pad, docs));
            dp->plan.n_windows = n_win;
            first_win = w0, pad = upad, docs = 0;
        } else {
            pad = new_pad;
        }
        docs += dp->off[u + 1] - dp->off[u];
    }
    if (dp->plan.n_windows > first_win) TG_TRY(close_batch(dp, first_win, pad, docs));
    return TG_OK;
}

/* ---- one micro-batch: clipped per-unit gradients ---- */

static tg_status micro(claims_dpsgd *dp, const claims_model *m, const claims_corpus *c, const uint8_t *is_code,
                       claims_dpsgd_stats *s)
{
    const claims_batch *b = &dp->b;
    const int64_t RT = (int64_t)b->rows * b->pad_len;
    TG_TRY(reserve((void **)&dp->tok_unit, &dp->tok_cap, RT, sizeof *dp->tok_unit));
    int32_t n_units = 0;
    for (int32_t d = 0; d < b->n_docs; d++) { /* a unit's documents are consecutive */
        const int32_t doc = b->doc_index[d];
        if (d > 0 && dp->o.unit[doc] != dp->o.unit[b->doc_index[d - 1]]) n_units++;
        dp->doc_unit[d] = n_units;
        dp->labels[d] = c->label[doc];
    }
    n_units++;
    for (int32_t r = 0; r < b->rows; r++)
        for (int32_t t = 0; t < b->pad_len; t++)
            dp->tok_unit[(int64_t)r * b->pad_len + t] = dp->doc_unit[b->row_doc[r]];
    claims_forward f;
    TG_TRY(claims_model_forward(m, b, dp->labels, c->features, is_code, dp->lm_scale, 1.0, true, false, &f));
    tg_param_set *ps = m->gpt.params;
    const int np = tg_param_set_count(ps);
    if (!dp->params) dp->params = malloc((size_t)np * sizeof *dp->params);
    if (!dp->params) return tg_error(TG_ERR_OOM, "claims_dpsgd: out of memory");
    for (int i = 0; i < np; i++) dp->params[i] = tg_param_set_value(ps, i);
    tg_psn_space sp[2] = {{RT, dp->tok_unit}, {b->n_docs, dp->doc_unit}};
    tg_psn_opts po = {.n_samples = n_units, .spaces = sp, .n_spaces = RT == b->n_docs ? 1 : 2};
    double *w = malloc((size_t)n_units * sizeof *w);
    if (!w) return tg_error(TG_ERR_OOM, "claims_dpsgd: out of memory");
    tg_status st = tg_psn_norms(f.loss, dp->params, np, &po, w);
    for (int32_t u = 0; st == TG_OK && u < n_units; u++) {
        double norm = sqrt(w[u]);
        s->clipped += norm > dp->o.clip;
        w[u] = fmin(1.0, dp->o.clip / (norm + 1e-6));
    }
    if (st == TG_OK) st = tg_psn_backward_weighted(f.loss, dp->params, np, &po, w);
    free(w);
    TG_TRY(st);
    s->loss += tg_item(f.loss);
    s->lm_loss += tg_item(f.lm_loss) * claims_lm_weight(b, is_code, m->cfg.code_weight);
    s->decision_loss += tg_item(f.decision_loss) * b->n_docs;
    for (int32_t r = 0; r < b->rows; r++) s->tokens += b->lengths[r];
    return TG_OK;
}

tg_status claims_dpsgd_step(claims_dpsgd *dp, const claims_model *m, const claims_corpus *train, const uint8_t *is_code,
                            const claims_batch_opts *bo, uint64_t seed, int64_t step, claims_dpsgd_stats *s)
{
    memset(s, 0, sizeof *s);
    int32_t n = 0;
    for (int32_t u = 0; u < dp->o.n_units; u++)
        if (tg_dpsgd_sampled(seed, step, u, dp->o.rate)) dp->sampled[n++] = u;
    TG_TRY(pack(dp, train, bo, n));
    tg_rng *rng = tg_ctx_rng(tg_ctx_current()), step_rng = *rng;
    double lm_weight = 0;
    for (int32_t k = 0; k < dp->plan.n_batches; k++) {
        if (!tg_parallel_owns(k)) continue;
        *rng = claims_parallel_micro_rng(step_rng, k);
        TG_TRY(claims_batch_fill(&dp->plan, k, (const int32_t *const *)train->tokens, CLAIMS_TOK_PAD, &dp->b));
        tg_status st = micro(dp, m, train, is_code, s);
        lm_weight += claims_lm_weight(&dp->b, is_code, m->cfg.code_weight);
        s->docs += dp->b.n_docs;
        tg_step_end();
        TG_TRY(st);
    }
    *rng = claims_parallel_step_rng_end(step_rng, dp->plan.n_batches);
    tg_param_set *ps = m->gpt.params;
    if (tg_parallel_size() > 1)
        TG_TRY(tg_parallel_allreduce_grads(ps, TG_PARALLEL_SUM)); /* clipped sums, before the noise */
    double sums[7] = {s->loss,         s->lm_loss,        s->decision_loss,  lm_weight,
                      (double)s->docs, (double)s->tokens, (double)s->clipped};
    TG_TRY(tg_parallel_allreduce_f64(sums, 7, TG_PARALLEL_SUM));
    TG_TRY(tg_dpsgd_noise_average(ps, seed, step, dp->o.sigma, dp->o.clip, dp->o.rate * dp->o.n_units));
    s->units = n;
    s->docs = (int64_t)sums[4];
    s->tokens = (int64_t)sums[5];
    s->clipped = (int64_t)sums[6];
    s->loss = s->docs ? sums[0] / (double)s->docs : NAN;
    s->lm_loss = sums[3] > 0 ? sums[1] / sums[3] : NAN;
    s->decision_loss = s->docs ? sums[2] / (double)s->docs : NAN;
    s->epsilon = INFINITY; /* no noise: no guarantee */
    return dp->o.sigma > 0 ? tg_rdp_epsilon(dp->o.rate, dp->o.sigma, step + 1, dp->o.delta, &s->epsilon, NULL) : TG_OK;
}

void claims_dpsgd_write_json(FILE *f, const claims_dpsgd *dp, const claims_dpsgd_stats *s)
{
    if (isfinite(s->epsilon))
        fprintf(f, ",\"epsilon\":%.6g", s->epsilon);
    else
        fprintf(f, ",\"epsilon\":null");
    fprintf(f,
            ",\"delta\":%.6g,\"sigma\":%.6g,\"clip\":%.6g,\"sample_rate\":%.6g,\"dp_unit\":\"%s\","
            "\"dp_units\":%lld,\"dp_claims\":%lld,\"dp_clipped\":%lld",
            dp->o.delta, dp->o.sigma, dp->o.clip, dp->o.rate, dp->o.patient ? "patient" : "claim", (long long)s->units,
            (long long)s->docs, (long long)s->clipped);
}

char *claims_dpsgd_config_add(const char *config, const claims_dpsgd_opts *dp)
{
    json_t *o = json_loads(config, 0, NULL);
    if (o && dp)
        json_object_set_new(o, "dp",
                            json_pack("{s:s,s:f,s:f,s:f,s:f}", "unit", dp->patient ? "patient" : "claim", "clip",
                                      dp->clip, "sigma", dp->sigma, "rate", dp->rate, "delta", dp->delta));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) tg_error(TG_ERR_OOM, "claims_dpsgd_config_add: out of memory");
    return s;
}

tg_status claims_dpsgd_config_check(const char *config, const claims_dpsgd_opts *dp, const char *what)
{
    json_t *o = json_loads(config, 0, NULL);
    if (!o) return tg_error(TG_ERR_FORMAT, "%s: configuration is not valid JSON", what);
    json_t *was = json_object_get(o, "dp");
    tg_status st = TG_OK;
    if (!was != !dp) {
        st = tg_error(TG_ERR_INVALID,
                      "%s: the checkpoint was trained %s DP-SGD and this run is %s it; epsilon "
                      "would not account for every step",
                      what, was ? "with" : "without", dp ? "with" : "without");
    } else if (dp) {
        const char *unit = "";
        double v[4] = {0};
        static const char *names[4] = {"clip", "sigma", "rate", "delta"};
        const double now[4] = {dp->clip, dp->sigma, dp->rate, dp->delta};
        if (json_unpack(was, "{s:s,s:F,s:F,s:F,s:F}", "unit", &unit, "clip", &v[0], "sigma", &v[1], "rate", &v[2],
                        "delta", &v[3]))
            st = tg_error(TG_ERR_FORMAT, "%s: configuration field 'dp' needs unit, clip, sigma, rate and delta", what);
        else if (strcmp(unit, dp->patient ? "patient" : "claim"))
            st = tg_error(TG_ERR_INVALID, "%s: the checkpoint's DP unit is %s, this run's %s", what, unit,
                          dp->patient ? "patient" : "claim");
        for (int k = 0; st == TG_OK && k < 4; k++)
            if (v[k] != now[k])
                st = tg_error(TG_ERR_INVALID,
                              "%s: the checkpoint's DP %s is %.17g, this run's %.17g; resume with "
                              "the same DP settings",
                              what, names[k], v[k], now[k]);
    }
    json_decref(o);
    return st;
}
