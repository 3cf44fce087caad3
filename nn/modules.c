#include "nn/modules.h"

#include <stdio.h>

#include "autograd/ops.h"
#include "nn/init.h"

static tg_tensor *param_new(tg_shape s) { return tg_tensor_new(TG_PERSIST, s, TG_F32); }

static void sub_prefix(char *buf, size_t n, const char *prefix, const char *name)
{
    snprintf(buf, n, "%s%s%s", prefix && *prefix ? prefix : "", prefix && *prefix ? "." : "", name);
}

tg_status tg_nn_add_param(tg_param_set *ps, const char *prefix, const char *name, tg_tensor *t, int group)
{
    char full[256];
    int idx;
    sub_prefix(full, sizeof full, prefix, name);
    TG_TRY(tg_param_set_add(ps, full, t, group, &idx));
    tg_tensor_set_name(t, tg_param_set_name(ps, idx));
    return tg_tensor_set_requires_grad(t, true);
}

/* ---- Linear ---- */

tg_status tg_nn_linear_init(tg_nn_linear *m, int64_t in, int64_t out, bool bias, tg_rng *rng)
{
    if (in < 1 || out < 1)
        return tg_error(TG_ERR_INVALID, "tg_nn_linear_init: sizes must be >= 1 (in %lld, out %lld)", (long long)in,
                        (long long)out);
    *m = (tg_nn_linear){.in = in, .out = out};
    m->weight = param_new(TG_SHAPE(out, in));
    m->bias = bias ? param_new(TG_SHAPE(out)) : NULL;
    if (!m->weight || (bias && !m->bias)) {
        tg_nn_linear_free(m);
        return TG_ERR_OOM;
    }
    return tg_init_normal(m->weight, rng, 0.02);
}

static _Thread_local tg_dtype autocast = TG_F32;

void tg_nn_set_autocast(tg_dtype dt) { autocast = dt; }

tg_dtype tg_nn_autocast(void) { return autocast; }

tg_tensor *tg_nn_linear_forward(const tg_nn_linear *m, const tg_tensor *x)
{
    return tg_linear_with(x, m->weight, m->bias, &(tg_linear_opts){.compute = autocast});
}

tg_status tg_nn_linear_params(tg_nn_linear *m, tg_param_set *ps, const char *prefix)
{
    TG_TRY(tg_nn_add_param(ps, prefix, "weight", m->weight, TG_GROUP_DECAY));
    return m->bias ? tg_nn_add_param(ps, prefix, "bias", m->bias, TG_GROUP_NO_DECAY) : TG_OK;
}

void tg_nn_linear_free(tg_nn_linear *m)
{
    if (!m) return;
    tg_tensor_free(m->weight);
    tg_tensor_free(m->bias);
    m->weight = m->bias = NULL;
}

/* ---- Embedding ---- */

tg_status tg_nn_embedding_init(tg_nn_embedding *m, int64_t num, int64_t dim, tg_rng *rng)
{
    if (num < 1 || dim < 1)
        return tg_error(TG_ERR_INVALID, "tg_nn_embedding_init: sizes must be >= 1 (num %lld, dim %lld)", (long long)num,
                        (long long)dim);
    *m = (tg_nn_embedding){.num = num, .dim = dim, .weight = param_new(TG_SHAPE(num, dim))};
    if (!m->weight) return TG_ERR_OOM;
    return tg_init_normal(m->weight, rng, 0.02);
}

tg_tensor *tg_nn_embedding_forward(const tg_nn_embedding *m, const tg_tensor *idx)
{
    return tg_embedding(m->weight, idx);
}

tg_status tg_nn_embedding_params(tg_nn_embedding *m, tg_param_set *ps, const char *prefix)
{
    return tg_nn_add_param(ps, prefix, "weight", m->weight, TG_GROUP_DECAY);
}

void tg_nn_embedding_free(tg_nn_embedding *m)
{
    if (!m) return;
    tg_tensor_free(m->weight);
    m->weight = NULL;
}

/* ---- Norms ---- */

tg_status tg_nn_norm_init(tg_nn_norm *m, int64_t dim, bool rms, double eps)
{
    if (dim < 1 || eps <= 0)
        return tg_error(TG_ERR_INVALID, "tg_nn_norm_init: need dim >= 1 and eps > 0 (dim %lld, eps %g)", (long long)dim,
                        eps);
    *m = (tg_nn_norm){.dim = dim, .rms = rms, .eps = eps};
    m->weight = tg_ones(TG_PERSIST, TG_SHAPE(dim), TG_F32);
    m->bias = rms ? NULL : param_new(TG_SHAPE(dim));
    if (!m->weight || (!rms && !m->bias)) {
        tg_nn_norm_free(m);
        return TG_ERR_OOM;
    }
    return TG_OK;
}

tg_tensor *tg_nn_norm_forward(const tg_nn_norm *m, const tg_tensor *x) { return tg_nn_norm_forward_with(m, x, NULL); }

tg_tensor *tg_nn_norm_forward_with(const tg_nn_norm *m, const tg_tensor *x, const tg_nn_norm_opts *opts)
{
    const tg_dtype out = opts ? opts->out : TG_F32;
    if (m->rms) return tg_rms_norm_with(x, m->weight, m->eps, &(tg_rms_norm_opts){.out = out});
    return tg_layer_norm_with(x, m->weight, m->bias, m->eps, &(tg_layer_norm_opts){.out = out});
}

tg_status tg_nn_norm_params(tg_nn_norm *m, tg_param_set *ps, const char *prefix)
{
    TG_TRY(tg_nn_add_param(ps, prefix, "weight", m->weight, TG_GROUP_NO_DECAY));
    return m->bias ? tg_nn_add_param(ps, prefix, "bias", m->bias, TG_GROUP_NO_DECAY) : TG_OK;
}

void tg_nn_norm_free(tg_nn_norm *m)
{
    if (!m) return;
    tg_tensor_free(m->weight);
    tg_tensor_free(m->bias);
    m->weight = m->bias = NULL;
}

/* ---- Dropout ---- */

tg_tensor *tg_nn_dropout(const tg_tensor *x, double p, bool train)
{
    return train && p > 0 ? tg_dropout(x, p, true) : (tg_tensor *)x;
}

/* ---- Multi-head attention ---- */

tg_status tg_nn_mha_init(tg_nn_mha *m, int64_t dim, int64_t heads, int n_layers, tg_rng *rng)
{
    if (heads < 1 || dim % heads)
        return tg_error(TG_ERR_INVALID, "tg_nn_mha_init: dim %lld is not divisible by heads %lld", (long long)dim,
                        (long long)heads);
    *m = (tg_nn_mha){.dim = dim, .heads = heads};
    TG_TRY(tg_nn_linear_init(&m->qkv, dim, 3 * dim, true, rng));
    TG_TRY(tg_nn_linear_init(&m->proj, dim, dim, true, rng));
    return tg_init_gpt2_residual(m->proj.weight, rng, n_layers);
}

tg_tensor *tg_nn_mha_forward(const tg_nn_mha *m, const tg_tensor *x, bool causal, const tg_tensor *lengths)
{
    if (!x) return NULL;
    if (tg_tensor_ndim(x) != 3) {
        char s[96];
        tg_error(TG_ERR_SHAPE, "tg_nn_mha_forward: x must be (B, T, %lld), got %s", (long long)m->dim,
                 tg_shape_str(tg_tensor_shape(x), s, sizeof s));
        return NULL;
    }
    /* under bf16 autocast qkv comes out in bf16: attention's bf16 products round it anyway */
    const tg_linear_opts qo = {.compute = autocast, .out = autocast};
    tg_tensor *qkv = tg_linear_with(x, m->qkv.weight, m->qkv.bias, &qo); /* (B, T, 3D) */
    const tg_attention_opts ao = {.compute = autocast};
    tg_tensor *y = tg_attention_qkv_with(qkv, m->heads, causal, lengths, 0.0, &ao); /* (B, T, D) */
    return tg_nn_linear_forward(&m->proj, y);
}

tg_status tg_nn_mha_params(tg_nn_mha *m, tg_param_set *ps, const char *prefix)
{
    char p[200];
    sub_prefix(p, sizeof p, prefix, "qkv");
    TG_TRY(tg_nn_linear_params(&m->qkv, ps, p));
    sub_prefix(p, sizeof p, prefix, "proj");
    return tg_nn_linear_params(&m->proj, ps, p);
}

void tg_nn_mha_free(tg_nn_mha *m)
{
    if (!m) return;
    tg_nn_linear_free(&m->qkv);
    tg_nn_linear_free(&m->proj);
}

/* ---- Feed-forward ---- */

tg_status tg_nn_ffn_init(tg_nn_ffn *m, int64_t dim, int64_t hidden, bool swiglu, int n_layers, tg_rng *rng)
{
    *m = (tg_nn_ffn){.swiglu = swiglu};
    TG_TRY(tg_nn_linear_init(&m->fc1, dim, hidden, true, rng));
    if (swiglu) TG_TRY(tg_nn_linear_init(&m->gate, dim, hidden, true, rng));
    TG_TRY(tg_nn_linear_init(&m->fc2, hidden, dim, true, rng));
    return tg_init_gpt2_residual(m->fc2.weight, rng, n_layers);
}

tg_tensor *tg_nn_ffn_forward(const tg_nn_ffn *m, const tg_tensor *x)
{
    /* under bf16 autocast the GELU MLP is one fused op (f32 keeps the three
     * ops, whose per-sample gradient norms DP-SGD computes directly) */
    if (!m->swiglu && autocast == TG_BF16)
        return tg_mlp_gelu(x, m->fc1.weight, m->fc1.bias, m->fc2.weight, m->fc2.bias, autocast); /* (..., dim) */
    tg_tensor *h = tg_nn_linear_forward(&m->fc1, x);                                             /* (..., hidden) */
    h = m->swiglu ? tg_mul(tg_silu(h), tg_nn_linear_forward(&m->gate, x))
                  : tg_gelu_with(h, &(tg_gelu_opts){.out = autocast});
    return tg_nn_linear_forward(&m->fc2, h); /* (..., dim) */
}

tg_status tg_nn_ffn_params(tg_nn_ffn *m, tg_param_set *ps, const char *prefix)
{
    char p[200];
    sub_prefix(p, sizeof p, prefix, "fc1");
    TG_TRY(tg_nn_linear_params(&m->fc1, ps, p));
    if (m->swiglu) {
        sub_prefix(p, sizeof p, prefix, "gate");
        TG_TRY(tg_nn_linear_params(&m->gate, ps, p));
    }
    sub_prefix(p, sizeof p, prefix, "fc2");
    return tg_nn_linear_params(&m->fc2, ps, p);
}

void tg_nn_ffn_free(tg_nn_ffn *m)
{
    if (!m) return;
    tg_nn_linear_free(&m->fc1);
    tg_nn_linear_free(&m->gate);
    tg_nn_linear_free(&m->fc2);
}

/* ---- Transformer block ---- */

tg_status tg_nn_block_init(tg_nn_block *m, const tg_nn_block_config *c, tg_rng *rng)
{
    *m = (tg_nn_block){.dropout = c->dropout};
    double eps = c->eps > 0 ? c->eps : 1e-5;
    TG_TRY(tg_nn_norm_init(&m->ln1, c->dim, c->rms, eps));
    TG_TRY(tg_nn_mha_init(&m->attn, c->dim, c->heads, c->n_layers, rng));
    TG_TRY(tg_nn_norm_init(&m->ln2, c->dim, c->rms, eps));
    return tg_nn_ffn_init(&m->mlp, c->dim, c->hidden, c->swiglu, c->n_layers, rng);
}

tg_tensor *tg_nn_block_forward(const tg_nn_block *m, const tg_tensor *x, bool causal, const tg_tensor *lengths,
                               bool train)
{
    /* under bf16 autocast the norms hand the projections their operands in bf16 */
    const tg_nn_norm_opts no = {.out = autocast};
    tg_tensor *a = tg_nn_mha_forward(&m->attn, tg_nn_norm_forward_with(&m->ln1, x, &no), causal, lengths);
    tg_tensor *h = tg_add(x, tg_nn_dropout(a, m->dropout, train)); /* (B, T, D) */
    tg_tensor *f = tg_nn_ffn_forward(&m->mlp, tg_nn_norm_forward_with(&m->ln2, h, &no));
    return tg_add(h, tg_nn_dropout(f, m->dropout, train));
}

tg_status tg_nn_block_params(tg_nn_block *m, tg_param_set *ps, const char *prefix)
{
    char p[200];
    sub_prefix(p, sizeof p, prefix, "ln1");
    TG_TRY(tg_nn_norm_params(&m->ln1, ps, p));
    sub_prefix(p, sizeof p, prefix, "attn");
    TG_TRY(tg_nn_mha_params(&m->attn, ps, p));
    sub_prefix(p, sizeof p, prefix, "ln2");
    TG_TRY(tg_nn_norm_params(&m->ln2, ps, p));
    sub_prefix(p, sizeof p, prefix, "mlp");
    return tg_nn_ffn_params(&m->mlp, ps, p);
}

void tg_nn_block_free(tg_nn_block *m)
{
    if (!m) return;
    tg_nn_norm_free(&m->ln1);
    tg_nn_mha_free(&m->attn);
    tg_nn_norm_free(&m->ln2);
    tg_nn_ffn_free(&m->mlp);
}
