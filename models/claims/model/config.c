#include "models/claims/model/config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Every setting is spelled as its train_claims flag (and config-file key):
 * one name for the flag, the config file and the checkpoint. */
char *claims_config_to_json(const claims_model_config *m, const claims_batch_opts *b, const char *tokenizer_path,
                            double threshold)
{
    const tg_gpt_config *g = &m->gpt;
    json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:i,s:f,s:f,s:b,s:b,s:b, s:f,s:s,s:f,s:f,s:[f,f],s:f,s:f,s:i,s:b,s:i,s:f,s:b, "
        "s:i,s:i,s:I,s:i, s:s,s:f}",
        "vocab", (json_int_t)g->vocab, "dim", (json_int_t)g->dim, "heads", (json_int_t)g->heads, "ff",
        (json_int_t)g->hidden, "max-seq", (json_int_t)g->max_seq, "layers", g->n_layers, "dropout", g->dropout, "eps",
        g->eps, "tied", g->tied, "swiglu", g->swiglu, "rms", g->rms, "lambda", m->lambda, "decision-loss",
        claims_decision_loss_name(m->decision), "cost-fr", m->costs.c[0][1], "cost-fa", m->costs.c[1][0],
        "class-weights", m->class_weight[0], m->class_weight[1], "focal-gamma", m->focal_gamma, "code-weight",
        m->code_weight, "head-hidden", m->head_hidden, "surprisal", m->surprisal, "pool-heads", m->pool_heads,
        "decision-grad-cut", m->decision_grad_cut, "tabular", m->tabular, "ctx", b->ctx, "stride", b->stride,
        "token-budget", (json_int_t)b->token_budget, "balance", b->pos_repeat, "tokenizer",
        tokenizer_path ? tokenizer_path : "", "threshold", isfinite(threshold) ? threshold : CLAIMS_APPROVE_ALL);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) tg_error(TG_ERR_OOM, "claims_config_to_json: out of memory");
    return s;
}

/* Checkpoints written before the settings shared their flags' names. */
static const char *const old_names[][2] = {
    {"hidden", "ff"},
    {"max_seq", "max-seq"},
    {"decision_loss", "decision-loss"},
    {"class_weight", "class-weights"},
    {"focal_gamma", "focal-gamma"},
    {"code_weight", "code-weight"},
    {"head_hidden", "head-hidden"},
    {"pool_heads", "pool-heads"},
    {"decision_grad_cut", "decision-grad-cut"},
    {"token_budget", "token-budget"},
    {"pos_repeat", "balance"},
};

/* Renames the old keys of o in place; the old cost matrix becomes its two
 * off-diagonal costs (the diagonal was always 0). */
static tg_status upgrade_names(json_t *o, const char *what)
{
    for (size_t i = 0; i < sizeof old_names / sizeof old_names[0]; i++) {
        json_t *v = json_object_get(o, old_names[i][0]);
        if (!v) continue;
        if (json_object_get(o, old_names[i][1]))
            return tg_error(TG_ERR_FORMAT, "%s: configuration has both '%s' and its old name '%s'", what,
                            old_names[i][1], old_names[i][0]);
        json_object_set(o, old_names[i][1], v);
        json_object_del(o, old_names[i][0]);
    }
    json_t *c = json_object_get(o, "costs");
    if (!c) return TG_OK;
    double c00, c01, c10, c11;
    if (json_unpack(c, "[[F,F],[F,F]]", &c00, &c01, &c10, &c11) || c00 != 0 || c11 != 0)
        return tg_error(TG_ERR_FORMAT, "%s: 'costs' must be [[0, false rejection], [false approval, 0]]", what);
    json_object_set_new(o, "cost-fr", json_real(c01));
    json_object_set_new(o, "cost-fa", json_real(c10));
    json_object_del(o, "costs");
    return TG_OK;
}

tg_status claims_config_from_json(const char *json, const char *what, claims_model_config *m, claims_batch_opts *b,
                                  char *tokenizer_path, size_t path_len, double *threshold)
{
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    if (!o) return tg_error(TG_ERR_FORMAT, "%s: configuration is not valid JSON (%s)", what, err.text);
    if (!json_is_object(o)) {
        json_decref(o);
        return tg_error(TG_ERR_FORMAT, "%s: configuration must be a JSON object", what);
    }
    json_object_del(o, "dp");          /* DP-SGD settings: checked by the trainer (claims_dpsgd_config_check) */
    json_object_del(o, "artifact");    /* read by claims_artifact_from_config (artifact.h) */
    json_object_del(o, "calibration"); /* read by claims_config_calibration */
    tg_status st = upgrade_names(o, what);
    if (st != TG_OK) {
        json_decref(o);
        return st;
    }
    memset(m, 0, sizeof *m);
    memset(b, 0, sizeof *b);
    m->pool_heads = 1; /* absent in configurations written before pooling had several queries */
    tg_gpt_config *g = &m->gpt;
    json_int_t vocab, dim, heads, hidden, max_seq, budget;
    int tied, swiglu, rms, surprisal = 0, tabular = 0;
    const char *loss, *tok;
    int rc = json_unpack_ex(
        o, &err, JSON_STRICT,
        "{s:I,s:I,s:I,s:I,s:I,s:i,s:F,s:F,s:b,s:b,s:b, s:F,s:s,s:F,s:F,s:[F,F],s:F,s:F,s?i,s?b,s?i,s?F,s?b, "
        "s:i,s:i,s:I,s:i, s:s,s:F}",
        "vocab", &vocab, "dim", &dim, "heads", &heads, "ff", &hidden, "max-seq", &max_seq, "layers", &g->n_layers,
        "dropout", &g->dropout, "eps", &g->eps, "tied", &tied, "swiglu", &swiglu, "rms", &rms, "lambda", &m->lambda,
        "decision-loss", &loss, "cost-fr", &m->costs.c[0][1], "cost-fa", &m->costs.c[1][0], "class-weights",
        &m->class_weight[0], &m->class_weight[1], "focal-gamma", &m->focal_gamma, "code-weight", &m->code_weight,
        "head-hidden", &m->head_hidden, "surprisal", &surprisal, "pool-heads", &m->pool_heads, "decision-grad-cut",
        &m->decision_grad_cut, "tabular", &tabular, "ctx", &b->ctx, "stride", &b->stride, "token-budget", &budget,
        "balance", &b->pos_repeat, "tokenizer", &tok, "threshold", threshold);
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

char *claims_config_set(const char *config, const char *key, const char *value_json)
{
    json_t *o = json_loads(config, 0, NULL), *v = json_loads(value_json, JSON_DECODE_ANY, NULL);
    char *s = NULL;
    if (json_is_object(o) && v && json_object_set(o, key, v) == 0)
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o), json_decref(v);
    if (!s)
        tg_error(TG_ERR_INVALID, "claims_config_set: cannot set '%s' (configuration or value not JSON, or OOM)", key);
    return s;
}

bool claims_config_calibration(const char *config, double *a, double *b)
{
    *a = 1, *b = 0;
    json_t *o = json_loads(config, 0, NULL);
    bool ok = o && !json_unpack(json_object_get(o, "calibration"), "{s:F,s:F}", "a", a, "b", b) && isfinite(*a) &&
              isfinite(*b);
    if (!ok) *a = 1, *b = 0;
    json_decref(o);
    return ok;
}
