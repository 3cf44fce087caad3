#include "models/claims/train/head_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
#include "parallel/parallel.h"
#include "models/claims/eval/metrics.h"
#include "models/claims/eval/evaluate.h"
#include "nn/modules.h"
#include "optim/optim.h"
#include "optim/sched.h"

#define PLAN_SEED 0x68666974ULL

typedef struct inputs_ctx {
    float *x;
    int64_t width;
} inputs_ctx;

static tg_status copy_inputs(void *user, const claims_batch *b, const claims_forward *f)
{
    const inputs_ctx *in = user;
    for (int32_t d = 0; d < b->n_docs; d++)
        memcpy(in->x + (int64_t)b->doc_index[d] * in->width, tg_f32(f->head_input) + (int64_t)d * in->width,
               sizeof(float) * (size_t)in->width);
    return TG_OK;
}

/* x (n, W): the head input of every claim of c, the transformer frozen;
 * each rank fills its batches' rows, the sum holds them all. */
static tg_status head_inputs(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo,
                             const uint8_t *is_code, float *x)
{
    inputs_ctx in = {x, claims_model_head_width(&m->cfg)};
    memset(x, 0, sizeof *x * (size_t)(c->n * in.width));
    TG_TRY(claims_forward_corpus(m, c, bo, is_code, PLAN_SEED, false, copy_inputs, &in));
    return tg_parallel_allreduce_f32(x, (int64_t)c->n * in.width, TG_PARALLEL_SUM);
}

/* The denied claims of c and a seeded share `keep` of the approved ones, as
 * a corpus borrowing c's token arrays (free with sub_corpus_free). */
static tg_status sub_corpus(const claims_corpus *c, double keep, uint64_t seed, claims_corpus *out)
{
    memset(out, 0, sizeof *out);
    const size_t n = (size_t)(c->n ? c->n : 1);
    out->tokens = malloc(n * sizeof *out->tokens);
    out->len = malloc(n * sizeof *out->len);
    out->label = malloc(n * sizeof *out->label);
    out->features = malloc(n * CLAIMS_N_FEATURES * sizeof *out->features);
    if (!out->tokens || !out->len || !out->label || !out->features)
        return tg_error(TG_ERR_OOM, "claims_head_fit: out of memory");
    for (int32_t i = 0; i < c->n; i++) {
        tg_rng r = {.seed = seed ^ 0x6e6567ULL, .counter = (uint64_t)i};
        if (!c->label[i] && tg_rng_next_uniform(&r) >= keep) continue;
        const int32_t k = out->n++;
        out->tokens[k] = c->tokens[i];
        out->len[k] = c->len[i];
        out->label[k] = c->label[i];
        memcpy(out->features + (int64_t)k * CLAIMS_N_FEATURES, c->features + (int64_t)i * CLAIMS_N_FEATURES,
               sizeof(float) * CLAIMS_N_FEATURES);
    }
    return TG_OK;
}

static void sub_corpus_free(claims_corpus *c)
{
    free(c->tokens);
    free(c->len);
    free(c->label);
    free(c->features);
}

/* The head's parameters as fresh leaves in their own set, so the refit
 * touches neither the model's optimizer nor its gradient hooks. */
typedef struct head_copy {
    claims_model shadow; /* m with its head tensors replaced */
    tg_param_set *ps;
    tg_tensor *t[4];
    int n;
} head_copy;

static tg_status add_copy(head_copy *h, tg_tensor **slot, const char *prefix, const char *name, int group)
{
    if (!*slot) return TG_OK;
    tg_tensor *c = tg_tensor_clone(TG_PERSIST, *slot);
    if (!c) return tg_error(TG_ERR_OOM, "claims_head_fit: out of memory");
    h->t[h->n++] = *slot = c;
    return tg_nn_add_param(h->ps, prefix, name, c, group);
}

/* keep: the share of approved claims the fit sees; their loss weight is
 * raised by 1 / keep. */
static tg_status head_copy_init(head_copy *h, const claims_model *m, double keep)
{
    memset(h, 0, sizeof *h);
    h->shadow = *m;
    claims_model *s = &h->shadow;
    s->cfg.class_weight[0] /= keep;
    for (int j = 0; j < 2; j++) s->cfg.costs.c[0][j] /= keep;
    if (!(h->ps = tg_param_set_create())) return tg_error(TG_ERR_OOM, "claims_head_fit: out of memory");
    TG_TRY(tg_param_set_group(h->ps, TG_GROUP_NO_DECAY, (tg_param_group){1.0, 0.0}));
    if (m->cfg.head_hidden > 0) {
        TG_TRY(add_copy(h, &s->head_fc.weight, "head_fc", "weight", TG_GROUP_DECAY));
        TG_TRY(add_copy(h, &s->head_fc.bias, "head_fc", "bias", TG_GROUP_NO_DECAY));
    }
    TG_TRY(add_copy(h, &s->head.weight, "head", "weight", TG_GROUP_DECAY));
    return add_copy(h, &s->head.bias, "head", "bias", TG_GROUP_NO_DECAY);
}

static void head_copy_free(head_copy *h)
{
    for (int i = 0; i < h->n; i++) tg_tensor_free(h->t[i]);
    tg_param_set_destroy(h->ps);
}

/* Validation AUC of the head copy on the frozen inputs x (n, W); the raised
 * class weight of approvals does not change a ranking. */
static double val_auc(const head_copy *h, const claims_corpus *valid, const float *x, float *score)
{
    const int64_t W = claims_model_head_width(&h->shadow.cfg);
    bool prev = tg_grad_set_enabled(false);
    tg_tensor *z = claims_model_head_logits(&h->shadow, tg_from_buffer(TG_STEP, TG_SHAPE(valid->n, W), TG_F32, x));
    for (int32_t i = 0; z && i < valid->n; i++)
        score[i] = 1.0f / (1.0f + expf(tg_f32(z)[2 * i] - tg_f32(z)[2 * i + 1]));
    tg_grad_set_enabled(prev);
    double auc = z ? claims_auc(score, valid->label, valid->n) : NAN;
    tg_step_end();
    return auc;
}

/* One epoch of mini-batch steps over x (n, W) in a seeded order; the mean
 * decision loss in *loss. it counts steps across epochs for the schedule. */
static tg_status fit_epoch(head_copy *h, tg_optim *opt, const claims_corpus *train, const float *x,
                           const claims_head_fit_opts *o, int epoch, int64_t *it, int64_t total, double *loss)
{
    const int64_t W = claims_model_head_width(&h->shadow.cfg), n = train->n, B = o->batch > 0 ? o->batch : 256;
    int32_t *order = malloc(sizeof *order * (size_t)n), *y = malloc(sizeof *y * (size_t)B);
    float *xb = malloc(sizeof *xb * (size_t)(B * W));
    tg_status st = order && y && xb ? TG_OK : tg_error(TG_ERR_OOM, "claims_head_fit: out of memory");
    tg_rng rng = {.seed = o->seed ^ (uint64_t)epoch * 0x9e3779b97f4a7c15ULL};
    for (int64_t i = 0; order && i < n; i++) order[i] = (int32_t)i;
    for (int64_t i = n - 1; st == TG_OK && i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)(tg_rng_next(&rng) % (uint64_t)(i + 1));
        int32_t t = order[i];
        order[i] = order[j], order[j] = t;
    }
    double sum = 0;
    int64_t batches = 0;
    for (int64_t s = 0; st == TG_OK && s < n; s += B, batches++) {
        const int64_t nb = s + B <= n ? B : n - s;
        for (int64_t i = 0; i < nb; i++) {
            memcpy(xb + i * W, x + (int64_t)order[s + i] * W, sizeof *xb * (size_t)W);
            y[i] = train->label[order[s + i]];
        }
        tg_tensor *xt = tg_from_buffer(TG_STEP, TG_SHAPE(nb, W), TG_F32, xb); /* (nb, W) */
        tg_tensor *yt = tg_from_buffer(TG_STEP, TG_SHAPE(nb), TG_S32, y);     /* (nb) */
        tg_tensor *l = claims_model_decision_loss(&h->shadow, claims_model_head_logits(&h->shadow, xt), yt);
        st = l ? tg_backward(l) : TG_ERR_INVALID;
        if (st == TG_OK) sum += tg_f32(l)[0];
        if (st == TG_OK) st = tg_optim_step(opt, tg_sched_cosine(*it, o->lr, 0, total, o->lr / 10));
        if (st == TG_OK) st = tg_param_set_zero_grad(h->ps);
        ++*it;
        tg_step_end();
    }
    *loss = batches ? sum / (double)batches : NAN;
    free(order);
    free(y);
    free(xb);
    return st;
}

static tg_status check_opts(const claims_head_fit_opts *o)
{
    if (o->epochs < 0 || o->epochs > 100000 || o->batch < 0 || !(o->lr > 0 && o->lr < 10) || !(o->weight_decay >= 0) ||
        !(o->neg_keep >= 0 && o->neg_keep <= 1))
        return tg_error(TG_ERR_INVALID,
                        "claims_head_fit: need epochs in 0..100000 (%d), batch >= 0 (%d), "
                        "lr in (0, 10) (%g), weight_decay >= 0 (%g), neg_keep in [0, 1] (%g)",
                        o->epochs, o->batch, o->lr, o->weight_decay, o->neg_keep);
    return TG_OK;
}

/* Saves the head copy's current values into dst. */
static void save_values(const head_copy *h, float **dst)
{
    for (int i = 0; i < h->n; i++) memcpy(dst[i], tg_f32(h->t[i]), sizeof(float) * (size_t)tg_tensor_numel(h->t[i]));
}

static tg_status fit(head_copy *h, const claims_corpus *train, const claims_corpus *valid, const float *xt,
                     const float *xv, const claims_head_fit_opts *o, FILE *metrics, float **best,
                     claims_head_fit_result *res)
{
    float *score = malloc(sizeof *score * (size_t)(valid->n ? valid->n : 1));
    if (!score) return tg_error(TG_ERR_OOM, "claims_head_fit: out of memory");
    tg_adam_opts ao = tg_adamw_default_opts();
    ao.weight_decay = o->weight_decay;
    tg_optim *opt = tg_adamw_create(h->ps, &ao);
    tg_status st = opt ? TG_OK : TG_ERR_INVALID;
    res->best_epoch = 0;
    res->start_auc = res->best_auc = val_auc(h, valid, xv, score);
    const int64_t B = o->batch > 0 ? o->batch : 256, total = (int64_t)o->epochs * ((train->n + B - 1) / B);
    int64_t it = 0;
    for (int e = 1; st == TG_OK && e <= o->epochs; e++) {
        double loss;
        st = fit_epoch(h, opt, train, xt, o, e, &it, total, &loss);
        if (st != TG_OK) break;
        double auc = val_auc(h, valid, xv, score);
        if (metrics) fprintf(metrics, "{\"head_epoch\":%d,\"head_loss\":%g,\"head_val_auc\":%g}\n", e, loss, auc);
        if (auc > res->best_auc) {
            res->best_auc = auc;
            res->best_epoch = e;
            save_values(h, best);
        }
    }
    tg_optim_destroy(opt);
    free(score);
    return st;
}

tg_status claims_head_fit(claims_model *m, const claims_corpus *train, const claims_corpus *valid,
                          const claims_batch_opts *bo, const uint8_t *is_code, const claims_head_fit_opts *o,
                          FILE *metrics, claims_head_fit_result *res)
{
    claims_head_fit_result unused;
    if (!res) res = &unused;
    memset(res, 0, sizeof *res);
    TG_TRY(check_opts(o));
    if (o->epochs == 0 || train->n == 0 || valid->n == 0) return TG_OK;
    const double keep = o->neg_keep > 0 ? o->neg_keep : 1.0;
    claims_corpus sub;
    tg_status st = sub_corpus(train, keep, o->seed, &sub);
    const int64_t W = claims_model_head_width(&m->cfg);
    float *xt = malloc(sizeof *xt * (size_t)((sub.n ? sub.n : 1) * W)),
          *xv = malloc(sizeof *xv * (size_t)(valid->n * W));
    head_copy h = {0};
    if (st == TG_OK)
        st = xt && xv ? head_copy_init(&h, m, keep) : tg_error(TG_ERR_OOM, "claims_head_fit: out of memory");
    float *best[4] = {0};
    for (int i = 0; st == TG_OK && i < h.n; i++)
        if (!(best[i] = malloc(sizeof(float) * (size_t)tg_tensor_numel(h.t[i]))))
            st = tg_error(TG_ERR_OOM, "claims_head_fit: out of memory");
    if (st == TG_OK) st = head_inputs(m, &sub, bo, is_code, xt);
    if (st == TG_OK) st = head_inputs(m, valid, bo, is_code, xv);
    if (st == TG_OK) st = fit(&h, &sub, valid, xt, xv, o, metrics, best, res);
    tg_tensor *dst[4] = {m->head_fc.weight, m->head_fc.bias, m->head.weight, m->head.bias};
    const int off = m->cfg.head_hidden > 0 ? 0 : 2;
    for (int i = 0; st == TG_OK && res->best_epoch > 0 && i < h.n; i++)
        st = tg_copy_from(dst[off + i], best[i], sizeof(float) * (size_t)tg_tensor_numel(dst[off + i]));
    for (int i = 0; i < 4; i++) free(best[i]);
    if (h.ps) head_copy_free(&h);
    sub_corpus_free(&sub);
    free(xt);
    free(xv);
    return st;
}
