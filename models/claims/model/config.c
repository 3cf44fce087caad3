#include "models/claims/model/config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

char *claims_config_to_json(const claims_model_config *m, const claims_batch_opts *b, const char *tokenizer_path,
                            double threshold)
{
    const tg_gpt_config *g = &m->gpt;
    json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:i,s:f,s:f,s:b,s:b,s:b, s:f,s:s,s:[[f,f],[f,f]],s:[f,f],s:f,s:f,s:i,s:b,s:i,s:f,s:b, "
        "s:i,s:i,s:I,s:i, s:s,s:f}",
        "vocab", (json_int_t)g->vocab, "dim", (json_int_t)g->dim, "heads", (json_int_t)g->heads, "hidden",
        (json_int_t)g->hidden, "max_seq", (json_int_t)g->max_seq, "layers", g->n_layers, "dropout", g->dropout,
        "eps", g->eps, "tied", g->tied, "swiglu", g->swiglu, "rms", g->rms, "lambda", m->lambda, "decision_loss",
        claims_decision_loss_name(m->decision), "costs", m->costs.c[0][0], m->costs.c[0][1], m->costs.c[1][0],
        m->costs.c[1][1], "class_weight", m->class_weight[0], m->class_weight[1], "focal_gamma", m->focal_gamma,
        "code_weight", m->code_weight, "head_hidden", m->head_hidden, "surprisal", m->surprisal, "pool_heads", m->pool_heads, "decision_grad_cut", m->decision_grad_cut, "tabular", m->tabular, "ctx", b->ctx, "stride", b->stride, "token_budget", (json_int_t)b->token_budget,
        "pos_repeat", b->pos_repeat, "tokenizer", tokenizer_path ? tokenizer_path : "", "threshold",
        isfinite(threshold) ? threshold : CLAIMS_APPROVE_ALL);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) tg_error(TG_ERR_OOM, "claims_config_to_json: out of memory");
    return s;
}

tg_status claims_config_from_json(const char *json, const char *what, claims_model_config *m, claims_batch_opts *b,
                                  char *tokenizer_path, size_t path_len, double *threshold)
{
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    if (!o) return tg_error(TG_ERR_FORMAT, "%s: configuration is not valid JSON (%s)", what, err.text);
    json_object_del(o, "dp"); /* DP-SGD settings: checked by the trainer (claims_dpsgd_config_check) */
    memset(m, 0, sizeof *m);
    memset(b, 0, sizeof *b);
    m->pool_heads = 1; /* absent in configurations written before pooling had several queries */
    tg_gpt_config *g = &m->gpt;
    json_int_t vocab, dim, heads, hidden, max_seq, budget;
    int tied, swiglu, rms, surprisal = 0, tabular = 0;
    const char *loss, *tok;
    int rc = json_unpack_ex(
        o, &err, JSON_STRICT,
        "{s:I,s:I,s:I,s:I,s:I,s:i,s:F,s:F,s:b,s:b,s:b, s:F,s:s,s:[[F,F],[F,F]],s:[F,F],s:F,s:F,s?i,s?b,s?i,s?F,s?b, "
        "s:i,s:i,s:I,s:i, s:s,s:F}",
        "vocab", &vocab, "dim", &dim, "heads", &heads, "hidden", &hidden, "max_seq", &max_seq, "layers", &g->n_layers,
        "dropout", &g->dropout, "eps", &g->eps, "tied", &tied, "swiglu", &swiglu, "rms", &rms, "lambda", &m->lambda,
        "decision_loss", &loss, "costs", &m->costs.c[0][0], &m->costs.c[0][1], &m->costs.c[1][0], &m->costs.c[1][1],
        "class_weight", &m->class_weight[0], &m->class_weight[1], "focal_gamma", &m->focal_gamma, "code_weight",
        &m->code_weight, "head_hidden", &m->head_hidden, "surprisal", &surprisal, "pool_heads", &m->pool_heads, "decision_grad_cut", &m->decision_grad_cut, "tabular", &tabular, "ctx", &b->ctx, "stride", &b->stride, "token_budget", &budget, "pos_repeat", &b->pos_repeat,
        "tokenizer", &tok, "threshold", threshold);
    tg_status st = TG_OK;
    if (rc != 0) {
        st = tg_error(TG_ERR_FORMAT, "%s: configuration field problem: %s", what, err.text);
    } else {
        g->vocab = vocab, g->dim = dim, g->heads = heads, g->hidden = hidden, g->max_seq = max_seq;
        g->tied = tied, g->swiglu = swiglu, g->rms = rms;
        m->surprisal = surprisal;
        m->tabular = tabular;
        b->token_budget = budget;
        st = claims_decision_loss_parse(loss, &m->decision);
        snprintf(tokenizer_path, path_len, "%s", tok);
    }
    json_decref(o);
    return st;
}
