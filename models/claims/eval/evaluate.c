#include "models/claims/eval/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
#include "parallel/parallel.h"
#include "tensor/ctx.h"

#define RARE_CODE_COUNT 20
#define EVAL_SEED 0x65766131ULL

/* ---- token classes ---- */

tg_status claims_code_masks(const claims_tokenizer *tok, const claims_corpus *train, uint8_t **is_code,
                            uint8_t **is_rare)
{
    const int32_t V = claims_tok_vocab_size(tok);
    *is_code = calloc((size_t)V, 1);
    *is_rare = calloc((size_t)V, 1);
    int64_t *count = calloc((size_t)V, sizeof *count);
    if (!*is_code || !*is_rare || !count) {
        free(count);
        return tg_error(TG_ERR_OOM, "claims_code_masks: out of memory");
    }
    for (int32_t i = 0; i < train->n; i++)
        for (int32_t j = 1; j < train->len[i]; j++) count[train->tokens[i][j]]++;
    for (int32_t v = 0; v < V; v++) {
        (*is_code)[v] = claims_tok_is_code(tok, v);
        (*is_rare)[v] = (*is_code)[v] && count[v] < RARE_CODE_COUNT;
    }
    free(count);
    return TG_OK;
}

/* ---- evaluation ---- */

typedef struct eval_acc {
    double lm_sum;
    int64_t tokens, correct, code, code_correct, rare, rare_correct;
    float *score; /* P(deny) per document */
} eval_acc;

static int32_t argmax_row(const float *z, int64_t V)
{
    int32_t best = 0;
    for (int64_t v = 1; v < V; v++)
        if (z[v] > z[best]) best = (int32_t)v;
    return best;
}

/* Token accuracy and LM loss over the counted targets of one batch. */
static tg_status eval_tokens(const claims_batch *b, const claims_forward *f, const uint8_t *is_code,
                             const uint8_t *is_rare, eval_acc *a)
{
    const int64_t R = b->rows, T = b->pad_len, V = tg_tensor_dim(f->lm_logits, -1);
    tg_tensor *tgt = tg_from_buffer(TG_STEP, TG_SHAPE(R, T), TG_S32, b->targets);
    tg_ce_opts o = tg_ce_defaults();
    o.reduction = TG_REDUCE_NONE;
    tg_tensor *nll = tg_cross_entropy(f->lm_logits, tgt, &o); /* (R, T) */
    if (!nll) return TG_ERR_INVALID;
    const float *z = tg_f32(f->lm_logits);
    for (int64_t i = 0; i < R * T; i++) {
        int32_t t = b->targets[i];
        if (t < 0) continue;
        bool ok = argmax_row(z + i * V, V) == t;
        a->lm_sum += tg_f32(nll)[i];
        a->tokens++;
        a->correct += ok;
        if (is_code && is_code[t]) a->code++, a->code_correct += ok;
        if (is_rare && is_rare[t]) a->rare++, a->rare_correct += ok;
    }
    return TG_OK;
}

static void eval_scores(const claims_batch *b, const claims_forward *f, eval_acc *a)
{
    for (int32_t d = 0; d < b->n_docs; d++) a->score[b->doc_index[d]] = claims_model_deny_prob(f, d);
}

static void eval_decisions(const claims_corpus *c, const claims_costs *costs, double threshold, eval_acc *a,
                           claims_eval *out)
{
    out->auc = claims_auc(a->score, c->label, c->n);
    out->pr_auc = claims_pr_auc(a->score, c->label, c->n);
    double best;
    out->threshold = isnan(threshold) ? claims_best_threshold(a->score, c->label, c->n, costs, &best) : threshold;
    out->confusion = claims_confusion_at(a->score, c->label, c->n, out->threshold);
    out->business_cost = claims_cost_total(&out->confusion, costs);
    out->baseline_cost_always_approve = claims_cost_always_approve(c->label, c->n, costs);
    out->baseline_cost_always_deny = claims_cost_always_deny(c->label, c->n, costs);
    out->decision_acc = claims_accuracy(&out->confusion);
    out->precision = claims_precision(&out->confusion);
    out->recall = claims_recall(&out->confusion);
    claims_platt_fit(a->score, c->label, c->n, &out->calib_a, &out->calib_b);
    out->ece = claims_ece(a->score, c->label, c->n, 10);
    float *cal = malloc(sizeof *cal * (size_t)(c->n ? c->n : 1));
    for (int32_t i = 0; cal && i < c->n; i++)
        cal[i] = (float)claims_platt_apply(out->calib_a, out->calib_b, a->score[i]);
    out->ece_calibrated = cal ? claims_ece(cal, c->label, c->n, 10) : NAN;
    free(cal);
}

static double ratio(int64_t a, int64_t b) { return b ? (double)a / (double)b : NAN; }

/* Recall and AUC (against approved claims) of each named deny reason. */
static tg_status eval_reasons(const claims_corpus *c, const float *score, double threshold, claims_eval *out)
{
    float *s = malloc(sizeof *s * (size_t)(c->n ? c->n : 1));
    int32_t *y = malloc(sizeof *y * (size_t)(c->n ? c->n : 1));
    if (!s || !y) {
        free(s);
        free(y);
        return tg_error(TG_ERR_OOM, "claims_evaluate: out of memory");
    }
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++) {
        int32_t n = 0;
        int64_t caught = 0;
        for (int32_t i = 0; i < c->n; i++) {
            bool has = (c->reasons[i] >> r) & 1;
            if (!has && c->label[i]) continue;
            s[n] = score[i];
            y[n++] = has;
            if (has) out->reason_n[r]++, caught += score[i] >= threshold;
        }
        out->reason_recall[r] = ratio(caught, out->reason_n[r]);
        out->reason_auc[r] = out->reason_n[r] ? claims_auc(s, y, n) : NAN;
    }
    free(s);
    free(y);
    return TG_OK;
}

/* Sums the ranks' shares of an evaluation. Every document is scored by one
 * rank (zero elsewhere), so the summed scores - and AUC, threshold and
 * confusion from them - are exactly those of one process. */
static tg_status reduce_eval(eval_acc *a, int32_t n_docs)
{
    int64_t c[6] = {a->tokens, a->correct, a->code, a->code_correct, a->rare, a->rare_correct};
    TG_TRY(tg_parallel_allreduce_i64(c, 6, TG_PARALLEL_SUM));
    TG_TRY(tg_parallel_allreduce_f64(&a->lm_sum, 1, TG_PARALLEL_SUM));
    a->tokens = c[0], a->correct = c[1], a->code = c[2], a->code_correct = c[3], a->rare = c[4], a->rare_correct = c[5];
    return tg_parallel_allreduce_f32(a->score, n_docs, TG_PARALLEL_SUM);
}

tg_status claims_forward_corpus(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo,
                                const uint8_t *is_code, uint64_t seed, bool keep_logits, claims_batch_fn fn, void *user)
{
    claims_batch_opts o = *bo;
    o.pos_repeat = 1;
    claims_plan plan;
    TG_TRY(claims_plan_epoch(c->len, NULL, c->n, &o, seed, 0, &plan));
    claims_batch b = {0};
    int32_t *labels = malloc(sizeof *labels * (size_t)(c->n ? c->n : 1));
    tg_status st = labels ? TG_OK : tg_error(TG_ERR_OOM, "claims_forward_corpus: out of memory");
    bool prev = tg_grad_set_enabled(false);
    for (int32_t k = 0; st == TG_OK && k < plan.n_batches; k++) {
        if (!tg_parallel_owns(k)) continue; /* another rank runs it */
        st = claims_batch_fill(&plan, k, (const int32_t *const *)c->tokens, CLAIMS_TOK_PAD, &b);
        for (int32_t d = 0; st == TG_OK && d < b.n_docs; d++) labels[d] = c->label[b.doc_index[d]];
        claims_forward f;
        if (st == TG_OK) st = claims_model_forward(m, &b, labels, c->features, is_code, 0, 0, false, keep_logits, &f);
        if (st == TG_OK) st = fn(user, &b, &f);
        tg_step_end();
    }
    tg_grad_set_enabled(prev);
    free(labels);
    claims_batch_free(&b);
    claims_plan_free(&plan);
    return st;
}

typedef struct eval_batch_ctx {
    const uint8_t *is_code, *is_rare;
    eval_acc *a;
} eval_batch_ctx;

static tg_status eval_batch(void *user, const claims_batch *b, const claims_forward *f)
{
    eval_batch_ctx *e = user;
    TG_TRY(eval_tokens(b, f, e->is_code, e->is_rare, e->a));
    eval_scores(b, f, e->a);
    return TG_OK;
}

/* Hands score to *keep (which owns it from here, also on error) with
 * copies of the labels and reasons. */
static tg_status keep_scores(const claims_corpus *c, float *score, claims_eval_scores *keep)
{
    size_t n = (size_t)(c->n ? c->n : 1);
    *keep = (claims_eval_scores){
        .n = c->n, .score = score, .label = malloc(sizeof(int32_t) * n), .reasons = malloc(sizeof(uint32_t) * n)};
    if (!keep->label || !keep->reasons) return tg_error(TG_ERR_OOM, "claims_evaluate_scores: out of memory");
    memcpy(keep->label, c->label, sizeof(int32_t) * (size_t)c->n);
    if (c->reasons)
        memcpy(keep->reasons, c->reasons, sizeof(uint32_t) * (size_t)c->n);
    else
        memset(keep->reasons, 0, sizeof(uint32_t) * n);
    return TG_OK;
}

tg_status claims_evaluate_scores(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo,
                                 const uint8_t *is_code, const uint8_t *is_rare, double threshold, claims_eval *out,
                                 claims_eval_scores *scores)
{
    memset(out, 0, sizeof *out);
    if (scores) *scores = (claims_eval_scores){0};
    eval_acc a = {.score = calloc((size_t)(c->n ? c->n : 1), sizeof(float))};
    if (!a.score) return tg_error(TG_ERR_OOM, "claims_evaluate: out of memory");
    eval_batch_ctx ctx = {is_code, is_rare, &a};
    tg_status st = claims_forward_corpus(m, c, bo, is_code, EVAL_SEED, true, eval_batch, &ctx);
    if (st == TG_OK) st = reduce_eval(&a, c->n);
    if (st == TG_OK) {
        out->docs = c->n;
        out->tokens = a.tokens;
        out->code_tokens = a.code;
        out->rare_code_tokens = a.rare;
        out->val_lm_loss = a.tokens ? a.lm_sum / (double)a.tokens : NAN;
        out->token_acc = ratio(a.correct, a.tokens);
        out->code_token_acc = ratio(a.code_correct, a.code);
        out->rare_code_token_acc = ratio(a.rare_correct, a.rare);
        eval_decisions(c, &m->cfg.costs, threshold, &a, out);
        st = eval_reasons(c, a.score, out->threshold, out);
    }
    if (st == TG_OK && scores) return keep_scores(c, a.score, scores); /* scores owns a.score now */
    free(a.score);
    return st;
}

tg_status claims_evaluate(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo,
                          const uint8_t *is_code, const uint8_t *is_rare, double threshold, claims_eval *out)
{
    return claims_evaluate_scores(m, c, bo, is_code, is_rare, threshold, out, NULL);
}

void claims_eval_scores_free(claims_eval_scores *s)
{
    if (!s) return;
    free(s->score);
    free(s->label);
    free(s->reasons);
    *s = (claims_eval_scores){0};
}

void claims_json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.6g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

void claims_eval_write_json(FILE *f, int64_t step, const claims_eval *e)
{
    fprintf(f, "{\"eval_step\":%lld", (long long)step);
    claims_json_num(f, "val_lm_loss", e->val_lm_loss);
    claims_json_num(f, "token_acc", e->token_acc);
    claims_json_num(f, "code_token_acc", e->code_token_acc);
    claims_json_num(f, "rare_code_token_acc", e->rare_code_token_acc);
    claims_json_num(f, "decision_acc", e->decision_acc);
    claims_json_num(f, "precision", e->precision);
    claims_json_num(f, "recall", e->recall);
    claims_json_num(f, "auc", e->auc);
    claims_json_num(f, "pr_auc", e->pr_auc);
    claims_json_num(f, "threshold", e->threshold);
    claims_json_num(f, "ece", e->ece);
    claims_json_num(f, "ece_calibrated", e->ece_calibrated);
    claims_json_num(f, "business_cost", e->business_cost);
    claims_json_num(f, "baseline_cost_always_approve", e->baseline_cost_always_approve);
    claims_json_num(f, "baseline_cost_always_deny", e->baseline_cost_always_deny);
    bool any = false;
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++) any |= e->reason_n[r] > 0;
    for (int r = 0; any && r < CLAIMS_N_DENY_REASONS; r++) {
        fprintf(f, "%s\"%s\":{\"n\":%lld", r ? "," : ",\"by_reason\":{", claims_deny_reason_name((claims_deny_reason)r),
                (long long)e->reason_n[r]);
        claims_json_num(f, "recall", e->reason_recall[r]);
        claims_json_num(f, "auc", e->reason_auc[r]);
        fputc('}', f);
    }
    if (any) fputc('}', f);
    fprintf(f, ",\"confusion\":{\"tn\":%lld,\"fp\":%lld,\"fn\":%lld,\"tp\":%lld},\"docs\":%lld,\"tokens\":%lld}\n",
            (long long)e->confusion.tn, (long long)e->confusion.fp, (long long)e->confusion.fn,
            (long long)e->confusion.tp, (long long)e->docs, (long long)e->tokens);
    fflush(f);
}
