#include "models/claims/model/model.h"

#include "autograd/autograd.h"
#include "models/claims/text/tokenizer.h"

#include <math.h>
#include <string.h>

static const char *loss_names[] = {"cost", "wce", "focal"};

tg_status claims_decision_loss_parse(const char *s, claims_decision_loss *out)
{
    for (int k = 0; k < 3; k++)
        if (!strcmp(s, loss_names[k])) {
            *out = (claims_decision_loss)k;
            return TG_OK;
        }
    return tg_error(TG_ERR_INVALID, "decision loss '%s': expected cost, wce or focal", s);
}

const char *claims_decision_loss_name(claims_decision_loss k) { return loss_names[k]; }

int64_t claims_model_head_width(const claims_model_config *cfg)
{
    return (1 + (cfg->pool_heads > 0 ? cfg->pool_heads : 1)) * cfg->gpt.dim + (cfg->tabular ? CLAIMS_N_FEATURES : 0);
}

static tg_status init_head(claims_model *m, tg_rng *rng)
{
    const claims_model_config *cfg = &m->cfg;
    tg_param_set *ps = m->gpt.params;
    TG_TRY(tg_nn_linear_init(&m->pool, cfg->gpt.dim, cfg->pool_heads, false, rng));
    TG_TRY(tg_fill(m->pool.weight, 0.0)); /* every query starts as a mean pool */
    TG_TRY(tg_nn_linear_params(&m->pool, ps, "pool"));
    const int64_t feat = claims_model_head_width(cfg);
    if (cfg->head_hidden > 0) {
        TG_TRY(tg_nn_linear_init(&m->head_fc, feat, cfg->head_hidden, true, rng));
        TG_TRY(tg_nn_linear_params(&m->head_fc, ps, "head_fc"));
    }
    TG_TRY(tg_nn_linear_init(&m->head, cfg->head_hidden > 0 ? cfg->head_hidden : feat, 2, true, rng));
    TG_TRY(tg_nn_linear_params(&m->head, ps, "head"));
    if (!cfg->surprisal) return TG_OK;
    m->surprise = tg_zeros(TG_PERSIST, TG_SHAPE(cfg->gpt.dim), TG_F32); /* (dim), starts without effect */
    return m->surprise ? tg_nn_add_param(ps, "surprise", "weight", m->surprise, TG_GROUP_NO_DECAY) : TG_ERR_OOM;
}

tg_status claims_model_init(claims_model *m, const claims_model_config *cfg, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (m->cfg.pool_heads == 0) m->cfg.pool_heads = 1;
    cfg = &m->cfg;
    if (cfg->lambda < 0 || cfg->code_weight <= 0 || cfg->focal_gamma < 0 || cfg->head_hidden < 0 ||
        cfg->pool_heads < 1 || cfg->pool_heads > 64 || !(cfg->decision_grad_cut >= 0 && cfg->decision_grad_cut <= 1))
        return tg_error(TG_ERR_INVALID,
                        "claims_model_init: need lambda >= 0 (%g), code_weight > 0 (%g), "
                        "focal_gamma >= 0 (%g), head_hidden >= 0 (%d), pool_heads in 1..64 (%d), "
                        "decision_grad_cut in [0, 1] (%g)",
                        cfg->lambda, cfg->code_weight, cfg->focal_gamma, cfg->head_hidden, cfg->pool_heads,
                        cfg->decision_grad_cut);
    TG_TRY(tg_gpt_init(&m->gpt, &cfg->gpt, seed));
    tg_rng rng = {.seed = seed ^ 0x68656164ULL};
    tg_status st = init_head(m, &rng);
    if (st != TG_OK) claims_model_free(m);
    return st;
}

void claims_model_free(claims_model *m)
{
    if (!m) return;
    tg_gpt_free(&m->gpt);
    tg_nn_linear_free(&m->pool);
    tg_nn_linear_free(&m->head_fc);
    tg_nn_linear_free(&m->head);
    tg_tensor_free(m->surprise);
    m->surprise = NULL;
}

double claims_lm_weight(const claims_batch *b, const uint8_t *is_code, double code_weight)
{
    double w = 0;
    const int64_t n = (int64_t)b->rows * b->pad_len;
    for (int64_t i = 0; i < n; i++) {
        int32_t t = b->targets[i];
        if (t >= 0) w += is_code && is_code[t] ? code_weight : 1.0;
    }
    return w;
}

/* Additive pooling mask (n_docs, rows * T): 0 on each document's real
 * positions in all its windows, -inf elsewhere. */
static tg_tensor *pooling_mask(const claims_batch *b)
{
    const int64_t cols = (int64_t)b->rows * b->pad_len;
    tg_tensor *p = tg_full(TG_STEP, TG_SHAPE(b->n_docs, cols), TG_F32, -INFINITY); /* (docs, rows*T) */
    if (!p) return NULL;
    float *pp = tg_f32(p);
    for (int32_t r = 0; r < b->rows; r++)
        for (int32_t t = 0; t < b->lengths[r]; t++) pp[b->row_doc[r] * cols + (int64_t)r * b->pad_len + t] = 0.0f;
    return p;
}

/* (R, T, 1): the unweighted NLL of each position's own token under the LM
 * (from nll (R, T) of each position's next token; 0 at a window's first
 * position and on padding), detached. */
static tg_tensor *surprisal(const claims_batch *b, const tg_tensor *nll, const float *token_w)
{
    const int64_t T = b->pad_len;
    tg_tensor *s = tg_zeros(TG_STEP, TG_SHAPE(b->rows, T, 1), TG_F32);
    if (!s || !nll) return NULL;
    const float *l = tg_f32(nll);
    float *ps = tg_f32(s);
    for (int32_t r = 0; r < b->rows; r++)
        for (int64_t t = 1; t < b->lengths[r]; t++) {
            int64_t i = (int64_t)r * T + t - 1;
            if (b->targets[i] >= 0) ps[i + 1] = token_w ? l[i] / token_w[i] : l[i];
        }
    return s;
}

/* (docs): flat position of each document's first <SEP>, where the whole
 * header has been read; without one, its first window's last position. */
static tg_tensor *summary_positions(const claims_batch *b)
{
    tg_tensor *p = tg_full(TG_STEP, TG_SHAPE(b->n_docs), TG_S32, -1); /* (docs) */
    if (!p) return NULL;
    int32_t *pos = tg_s32(p);
    for (int32_t r = 0; r < b->rows; r++) {
        const int32_t d = b->row_doc[r], *row = b->tokens + (int64_t)r * b->pad_len;
        for (int32_t t = 0; pos[d] < 0 && t < b->lengths[r]; t++)
            if (row[t] == CLAIMS_TOK_SEP) pos[d] = r * b->pad_len + t;
    }
    for (int32_t r = 0; r < b->rows; r++) /* no <SEP>: the document's first row */
        if (pos[b->row_doc[r]] < 0) pos[b->row_doc[r]] = r * b->pad_len + b->lengths[r] - 1;
    return p;
}

/* x in forward; in backward only (1 - cut) of the gradient reaches x, so
 * the rare, spiky decision loss does not drown the LM's gradient in the
 * transformer. Applied to the pooling input, so the pooling and head get
 * all of it; the surprisal vector, added before, gets 1 - cut too. */
static tg_tensor *cut_grad(tg_tensor *x, double cut)
{
    if (cut == 0) return x;
    tg_tensor *frozen = tg_detach(x);
    if (cut == 1) return frozen;
    return tg_add(frozen, tg_scale(tg_sub(x, frozen), 1.0 - cut)); /* exactly x: x - frozen is 0 */
}

/* Attention pooling of flat (R·T, D) per document with K queries -> (docs, K·D):
 * each query gathers its own evidence (a code, an amount, a note line). */
static tg_tensor *pool_docs(const claims_model *m, const claims_batch *b, tg_tensor *flat, tg_tensor **weights)
{
    const int64_t RT = (int64_t)b->rows * b->pad_len, K = m->cfg.pool_heads, D = m->cfg.gpt.dim;
    tg_tensor *scores = tg_transpose(tg_nn_linear_forward(&m->pool, flat), 0, 1);              /* (K, RT) */
    tg_tensor *mask = tg_reshape(pooling_mask(b), TG_SHAPE(1, b->n_docs, RT));                 /* (1, docs, RT) */
    tg_tensor *alpha = tg_softmax(tg_add(tg_reshape(scores, TG_SHAPE(K, 1, RT)), mask), NULL); /* (K, docs, RT) */
    *weights = alpha;
    tg_tensor *pooled = tg_matmul(alpha, flat);                                /* (K, docs, D) */
    return tg_reshape(tg_transpose(pooled, 0, 1), TG_SHAPE(b->n_docs, K * D)); /* (docs, K·D) */
}

static tg_tensor *token_weights(const claims_batch *b, const uint8_t *is_code, double code_weight)
{
    if (!is_code || code_weight == 1.0) return NULL;
    tg_tensor *w = tg_tensor_empty(TG_STEP, TG_SHAPE(b->rows, b->pad_len), TG_F32);
    if (!w) return NULL;
    for (int64_t i = 0; i < (int64_t)b->rows * b->pad_len; i++) {
        int32_t t = b->targets[i];
        tg_f32(w)[i] = t >= 0 && is_code[t] ? (float)code_weight : 1.0f;
    }
    return w;
}

float claims_model_deny_prob(const claims_forward *f, int32_t d)
{
    const float *z = tg_f32(f->decision_logits);
    return 1.0f / (1.0f + expf(z[2 * d] - z[2 * d + 1]));
}

tg_tensor *claims_model_head_logits(const claims_model *m, tg_tensor *feat)
{
    if (m->cfg.head_hidden > 0) feat = tg_gelu(tg_nn_linear_forward(&m->head_fc, feat)); /* (docs, H) */
    return tg_nn_linear_forward(&m->head, feat);                                         /* (docs, 2) */
}

tg_tensor *claims_model_decision_loss(const claims_model *m, tg_tensor *logits, tg_tensor *y)
{
    const claims_model_config *c = &m->cfg;
    if (c->decision == CLAIMS_LOSS_COST) {
        float cost[4] = {(float)c->costs.c[0][0], (float)c->costs.c[0][1], (float)c->costs.c[1][0],
                         (float)c->costs.c[1][1]};
        return tg_cost_matrix_loss(logits, y, tg_from_buffer(TG_STEP, TG_SHAPE(2, 2), TG_F32, cost));
    }
    float cw[2] = {(float)c->class_weight[0], (float)c->class_weight[1]};
    tg_tensor *w = tg_from_buffer(TG_STEP, TG_SHAPE(2), TG_F32, cw);
    if (c->decision == CLAIMS_LOSS_FOCAL) return tg_focal_loss(logits, y, c->focal_gamma, w);
    tg_ce_opts o = tg_ce_defaults();
    o.class_weights = w;
    return tg_cross_entropy(logits, y, &o);
}

/* (docs, CLAIMS_N_FEATURES): the batch's rows of the corpus features. */
static tg_tensor *doc_features(const claims_batch *b, const float *features)
{
    if (!features) {
        tg_error(TG_ERR_INVALID, "claims_model_forward: the model reads claim features (tabular) but none were given");
        return NULL;
    }
    tg_tensor *f = tg_tensor_empty(TG_STEP, TG_SHAPE(b->n_docs, CLAIMS_N_FEATURES), TG_F32); /* (docs, F) */
    for (int32_t d = 0; f && d < b->n_docs; d++)
        memcpy(tg_f32(f) + (int64_t)d * CLAIMS_N_FEATURES, features + (int64_t)b->doc_index[d] * CLAIMS_N_FEATURES,
               sizeof(float) * CLAIMS_N_FEATURES);
    return f;
}

tg_status claims_model_forward(const claims_model *m, const claims_batch *b, const int32_t *labels,
                               const float *features, const uint8_t *is_code, double lm_denom, double dec_denom,
                               bool train, bool keep_logits, claims_forward *out)
{
    memset(out, 0, sizeof *out);
    const int64_t R = b->rows, T = b->pad_len;
    tg_tensor *idx = tg_from_buffer(TG_STEP, TG_SHAPE(R, T), TG_S32, b->tokens);  /* (R, T) */
    tg_tensor *tgt = tg_from_buffer(TG_STEP, TG_SHAPE(R, T), TG_S32, b->targets); /* (R, T) */
    tg_tensor *len = tg_from_buffer(TG_STEP, TG_SHAPE(R), TG_S32, b->lengths);    /* (R) */
    tg_tensor *h = tg_gpt_hidden(&m->gpt, idx, len, train);                       /* (R, T, D) */
    tg_tensor *logits = tg_gpt_logits(&m->gpt, h);                                /* (R, T, V) */

    tg_ce_opts ce = tg_ce_defaults();
    ce.reduction = m->surprise ? TG_REDUCE_NONE : TG_REDUCE_SUM;
    ce.token_weights = token_weights(b, is_code, m->cfg.code_weight);
    tg_tensor *lm = tg_cross_entropy(logits, tgt, &ce); /* (R, T) or scalar */
    tg_tensor *lm_sum = m->surprise ? tg_sum(lm, NULL, 0, false) : lm;
    double own_weight = claims_lm_weight(b, is_code, m->cfg.code_weight);

    tg_tensor *hp = h; /* (R, T, D) */
    if (m->surprise) {
        const float *w = ce.token_weights ? tg_f32(ce.token_weights) : NULL;
        hp = tg_add(h, tg_mul(surprisal(b, lm, w), m->surprise));
    }
    tg_tensor *flat = tg_reshape(cut_grad(hp, m->cfg.decision_grad_cut), TG_SHAPE(R * T, m->cfg.gpt.dim)); /* (RT, D) */
    tg_tensor *alpha = NULL;
    const tg_tensor *parts[3] = {tg_embedding(flat, summary_positions(b)), pool_docs(m, b, flat, &alpha),
                                 m->cfg.tabular ? doc_features(b, features) : NULL};
    tg_tensor *feat = tg_concat(parts, m->cfg.tabular ? 3 : 2, 1); /* (docs, (1+K)D [+F]) */
    tg_tensor *dlogits = claims_model_head_logits(m, feat);        /* (docs, 2) */
    tg_tensor *y = tg_from_buffer(TG_STEP, TG_SHAPE(b->n_docs), TG_S32, labels);
    tg_tensor *dec_mean = claims_model_decision_loss(m, dlogits, y);
    if (!lm_sum || !dec_mean) return TG_ERR_INVALID; /* message set by the failing op */

    double lm_d = lm_denom > 0 ? lm_denom : (own_weight > 0 ? own_weight : 1.0);
    double dec_d = dec_denom > 0 ? dec_denom : b->n_docs;
    out->loss = tg_add(tg_scale(lm_sum, 1.0 / lm_d), tg_scale(dec_mean, m->cfg.lambda * b->n_docs / dec_d));
    out->lm_loss = tg_detach(tg_scale(lm_sum, own_weight > 0 ? 1.0 / own_weight : 0.0));
    out->decision_loss = tg_detach(dec_mean);
    out->decision_logits = tg_detach(dlogits);
    out->head_input = tg_detach(feat);
    out->pool_weights = tg_detach(alpha);
    out->lm_logits = keep_logits ? tg_detach(logits) : NULL;
    return out->loss ? TG_OK : TG_ERR_INVALID;
}
