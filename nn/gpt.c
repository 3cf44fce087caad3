#include "nn/gpt.h"

#include <stdio.h>
#include <stdlib.h>

static tg_status check_config(const tg_gpt_config *c)
{
    if (c->vocab < 1 || c->dim < 1 || c->heads < 1 || c->hidden < 1 || c->max_seq < 1 || c->n_layers < 0)
        return tg_error(TG_ERR_INVALID,
                        "tg_gpt_init: sizes must be positive (vocab %lld, dim %lld, "
                        "heads %lld, hidden %lld, max_seq %lld, layers %d)",
                        (long long)c->vocab, (long long)c->dim, (long long)c->heads, (long long)c->hidden,
                        (long long)c->max_seq, c->n_layers);
    if (c->dim % c->heads)
        return tg_error(TG_ERR_INVALID, "tg_gpt_init: dim %lld is not divisible by heads %lld", (long long)c->dim,
                        (long long)c->heads);
    if (c->dropout < 0 || c->dropout >= 1)
        return tg_error(TG_ERR_INVALID, "tg_gpt_init: dropout %g outside [0, 1)", c->dropout);
    return TG_OK;
}

static tg_status init_modules(tg_gpt *m, tg_rng *rng)
{
    const tg_gpt_config *c = &m->cfg;
    TG_TRY(tg_nn_embedding_init(&m->wte, c->vocab, c->dim, rng));
    TG_TRY(tg_nn_embedding_init(&m->wpe, c->max_seq, c->dim, rng));
    m->blocks = calloc((size_t)(c->n_layers ? c->n_layers : 1), sizeof *m->blocks);
    if (!m->blocks) return tg_error(TG_ERR_OOM, "tg_gpt_init: out of memory");
    tg_nn_block_config bc = {.dim = c->dim,
                             .heads = c->heads,
                             .hidden = c->hidden,
                             .n_layers = c->n_layers,
                             .swiglu = c->swiglu,
                             .rms = c->rms,
                             .dropout = c->dropout,
                             .eps = c->eps};
    for (int i = 0; i < c->n_layers; i++) TG_TRY(tg_nn_block_init(&m->blocks[i], &bc, rng));
    TG_TRY(tg_nn_norm_init(&m->ln_f, c->dim, c->rms, c->eps > 0 ? c->eps : 1e-5));
    if (!c->tied) TG_TRY(tg_nn_linear_init(&m->lm_head, c->dim, c->vocab, false, rng));
    return TG_OK;
}

static tg_status collect_params(tg_gpt *m)
{
    TG_TRY(tg_nn_embedding_params(&m->wte, m->params, "wte"));
    TG_TRY(tg_nn_embedding_params(&m->wpe, m->params, "wpe"));
    for (int i = 0; i < m->cfg.n_layers; i++) {
        char p[64];
        snprintf(p, sizeof p, "blocks.%d", i);
        TG_TRY(tg_nn_block_params(&m->blocks[i], m->params, p));
    }
    TG_TRY(tg_nn_norm_params(&m->ln_f, m->params, "ln_f"));
    return m->cfg.tied ? TG_OK : tg_nn_linear_params(&m->lm_head, m->params, "lm_head");
}

tg_status tg_gpt_init(tg_gpt *m, const tg_gpt_config *cfg, uint64_t seed)
{
    *m = (tg_gpt){.cfg = *cfg};
    TG_TRY(check_config(cfg));
    tg_rng rng = {.seed = seed};
    m->params = tg_param_set_create();
    if (!m->params) return TG_ERR_OOM;
    tg_status st = init_modules(m, &rng);
    if (st == TG_OK) st = collect_params(m);
    if (st != TG_OK) tg_gpt_free(m);
    return st;
}

void tg_gpt_free(tg_gpt *m)
{
    if (!m) return;
    tg_nn_embedding_free(&m->wte);
    tg_nn_embedding_free(&m->wpe);
    for (int i = 0; m->blocks && i < m->cfg.n_layers; i++) tg_nn_block_free(&m->blocks[i]);
    free(m->blocks);
    m->blocks = NULL;
    tg_nn_norm_free(&m->ln_f);
    tg_nn_linear_free(&m->lm_head);
    tg_param_set_destroy(m->params);
    m->params = NULL;
}

tg_tensor *tg_gpt_hidden(const tg_gpt *m, const tg_tensor *idx, const tg_tensor *lengths, bool train)
{
    if (!idx) return NULL;
    char s[96];
    if (tg_tensor_ndim(idx) != 2 || tg_tensor_dtype(idx) != TG_S32) {
        tg_error(TG_ERR_SHAPE, "tg_gpt_hidden: idx must be (B, T) s32, got %s %s",
                 tg_shape_str(tg_tensor_shape(idx), s, sizeof s), tg_dtype_name(tg_tensor_dtype(idx)));
        return NULL;
    }
    const int64_t T = tg_tensor_dim(idx, 1);
    if (T > m->cfg.max_seq) {
        tg_error(TG_ERR_SHAPE, "tg_gpt_hidden: sequence length %lld exceeds max_seq %lld", (long long)T,
                 (long long)m->cfg.max_seq);
        return NULL;
    }
    /* positions per row, so every row of the wpe lookup belongs to one
     * sequence (per-sample gradients, autograd/dpsgd_norms.h) */
    const int64_t B = tg_tensor_dim(idx, 0);
    tg_tensor *pos = tg_tensor_empty(TG_STEP, TG_SHAPE(B, T), TG_S32); /* (B, T) */
    if (!pos) return NULL;
    for (int64_t i = 0; i < B * T; i++) tg_s32(pos)[i] = (int32_t)(i % T);
    tg_tensor *h = tg_add(tg_nn_embedding_forward(&m->wte, idx),  /* (B, T, D) */
                          tg_nn_embedding_forward(&m->wpe, pos)); /* (B, T, D) */
    h = tg_nn_dropout(h, m->cfg.dropout, train);
    for (int i = 0; i < m->cfg.n_layers; i++) h = tg_nn_block_forward(&m->blocks[i], h, true, lengths, train);
    return tg_nn_norm_forward(&m->ln_f, h);
}

tg_tensor *tg_gpt_logits(const tg_gpt *m, const tg_tensor *hidden)
{
    const tg_tensor *w = m->cfg.tied ? m->wte.weight : m->lm_head.weight;
    return tg_linear_with(hidden, w, NULL, &(tg_linear_opts){.compute = tg_nn_autocast()});
}

tg_tensor *tg_gpt_loss(const tg_gpt *m, const tg_tensor *idx, const tg_tensor *targets, const tg_tensor *lengths,
                       const tg_ce_opts *ce, bool train)
{
    tg_tensor *h = tg_gpt_hidden(m, idx, lengths, train); /* (B, T, D) */
    if (ce && ce->reduction == TG_REDUCE_NONE) return tg_cross_entropy(tg_gpt_logits(m, h), targets, ce);
    /* scalar loss: the output projection fused with the loss, in row chunks */
    const tg_tensor *w = m->cfg.tied ? m->wte.weight : m->lm_head.weight;
    return tg_linear_cross_entropy(h, w, targets, ce, tg_nn_autocast(), 0);
}
