#include "models/claims/score/scorer.h"

#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/base/hashmap.h"
#include "models/claims/data/history.h"
#include "models/claims/eval/evaluate.h"
#include "models/claims/eval/metrics.h"
#include "models/claims/model/artifact.h"
#include "models/claims/model/config.h"
#include "optim/checkpoint.h"
#include "tensor/ctx.h"

#define SCORE_SEED 0x73636f72ULL
#define EVIDENCE_CHARS 200

struct claims_scorer {
    pthread_mutex_t lock;
    tg_ctx *ctx;
    claims_model m;
    bool model_ready;
    claims_batch_opts bo;
    claims_artifact art;
    claims_codes *codes;
    claims_history history; /* the stream's earlier claims */
    double threshold, calib_a, calib_b, review_cost;
    int evidence;
    bool per_call_history;
    char model_id[17];
};

/* ---- opening ---- */

/* FNV-1a over the configuration and every parameter's values. */
static void make_model_id(claims_scorer *s, const char *config)
{
    uint64_t h = claims_hash_bytes(config, strlen(config));
    const tg_param_set *ps = s->m.gpt.params;
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        const tg_tensor *v = tg_param_set_value(ps, i);
        h = h * 1099511628211ull ^ claims_hash_bytes(tg_f32(v), sizeof(float) * (size_t)tg_tensor_numel(v));
    }
    snprintf(s->model_id, sizeof s->model_id, "%016" PRIx64, h);
}

/* Refuses an artifact that cannot score what this model reads. */
static tg_status check_artifact(const claims_scorer *s, const char *ckpt, bool has_artifact_hash)
{
    if (s->m.cfg.tabular && !s->art.has_stats)
        return tg_error(TG_ERR_FORMAT,
                        "%s: incomplete model: it reads claim facts but carries no provider statistics (a checkpoint "
                        "written before model artifacts; retrain or resume it to write one)",
                        ckpt);
    if (has_artifact_hash && s->art.codes_hash != s->codes->hash)
        return tg_error(TG_ERR_INVALID,
                        "%s: the code table differs from the one the model was trained with (fingerprint %016" PRIx64
                        ", table %016" PRIx64 ")",
                        ckpt, s->art.codes_hash, s->codes->hash);
    return TG_OK;
}

static tg_status load(claims_scorer *s, const char *ckpt, const claims_scorer_opts *o)
{
    if (!o || !o->codes_path) return tg_error(TG_ERR_INVALID, "claims_scorer_open: a code table path is required");
    char *config = NULL, tok_name[512], dir[4096];
    claims_model_config mc;
    TG_TRY(tg_checkpoint_read_config(ckpt, &config));
    tg_status st = claims_config_from_json(config, ckpt, &mc, &s->bo, tok_name, sizeof tok_name, &s->threshold);
    snprintf(dir, sizeof dir, "%s", ckpt);
    if (st == TG_OK) st = claims_artifact_from_config(config, ckpt, dirname(dir), &s->art);
    if (st == TG_OK) st = claims_codes_load(o->codes_path, &s->codes);
    if (st == TG_OK && claims_tok_vocab_size(s->art.tok) != mc.gpt.vocab)
        st = tg_error(TG_ERR_FORMAT, "%s: tokenizer has %d ids, the model %lld", ckpt,
                      (int)claims_tok_vocab_size(s->art.tok), (long long)mc.gpt.vocab);
    if (st == TG_OK && (st = claims_model_init(&s->m, &mc, 0)) == TG_OK) s->model_ready = true;
    if (st == TG_OK) st = tg_checkpoint_load(ckpt, s->m.gpt.params, NULL, NULL, NULL, NULL);
    if (st == TG_OK) st = check_artifact(s, ckpt, strstr(config, "\"artifact\"") != NULL);
    if (st == TG_OK) {
        claims_config_calibration(config, &s->calib_a, &s->calib_b);
        make_model_id(s, config);
    }
    free(config);
    return st;
}

tg_status claims_scorer_open(const char *checkpoint, const claims_scorer_opts *opts, claims_scorer **out)
{
    *out = NULL;
    claims_scorer *s = calloc(1, sizeof *s);
    if (!s) return tg_error(TG_ERR_OOM, "claims_scorer_open: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    tg_ctx *prev = tg_ctx_peek();
    tg_ctx_opts co = {.threads = opts ? opts->threads : 0};
    s->ctx = tg_ctx_create(&co);
    tg_status st = s->ctx ? load(s, checkpoint, opts) : TG_ERR_OOM;
    tg_ctx_set_current(prev);
    if (st != TG_OK) {
        claims_scorer_close(s);
        return st;
    }
    s->review_cost = opts->review_cost;
    s->evidence = opts->evidence > 0 ? opts->evidence : 3;
    s->per_call_history = opts->per_call_history;
    *out = s;
    return TG_OK;
}

void claims_scorer_close(claims_scorer *s)
{
    if (!s) return;
    tg_ctx *prev = tg_ctx_peek();
    if (s->ctx) tg_ctx_set_current(s->ctx);
    if (s->model_ready) claims_model_free(&s->m);
    claims_artifact_free(&s->art);
    claims_codes_free(s->codes);
    claims_history_free(&s->history);
    if (s->ctx) tg_ctx_destroy(s->ctx);
    tg_ctx_set_current(prev == s->ctx ? NULL : prev);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *claims_scorer_model_id(const claims_scorer *s) { return s->model_id; }

/* ---- one pass over a chunk of claims ---- */

typedef struct evidence {
    int32_t pos[8]; /* document token positions, strongest first */
    float w[8];
    int n;
} evidence;

typedef struct pass {
    const claims_scorer *s;
    const claims_corpus *c;
    float *score; /* (docs) raw P(deny) */
    evidence *ev; /* (docs) */
} pass;

/* Keeps the k strongest positions of document d (weight: the largest over
 * the pooling queries). */
static void collect_evidence(pass *p, const claims_batch *b, const claims_forward *f, int32_t d)
{
    const int64_t RT = (int64_t)b->rows * b->pad_len, K = tg_tensor_dim(f->pool_weights, 0);
    const float *a = tg_f32(f->pool_weights);
    evidence *e = &p->ev[b->doc_index[d]];
    int k = p->s->evidence < 8 ? p->s->evidence * 2 : 8; /* room for positions on a shared line */
    for (int32_t r = 0; r < b->rows; r++) {
        if (b->row_doc[r] != d) continue;
        for (int32_t t = 0; t < b->lengths[r]; t++) {
            float w = 0;
            for (int64_t q = 0; q < K; q++) {
                float x = a[(q * b->n_docs + d) * RT + (int64_t)r * b->pad_len + t];
                w = x > w ? x : w;
            }
            int32_t pos = b->row_start[r] + t;
            int i = e->n < k ? e->n++ : k - 1;
            if (i == k - 1 && e->n == k && w <= e->w[i]) continue;
            for (; i > 0 && e->w[i - 1] < w; i--) e->w[i] = e->w[i - 1], e->pos[i] = e->pos[i - 1];
            e->w[i] = w, e->pos[i] = pos;
        }
    }
}

static tg_status on_batch(void *user, const claims_batch *b, const claims_forward *f)
{
    pass *p = user;
    for (int32_t d = 0; d < b->n_docs; d++) {
        p->score[b->doc_index[d]] = claims_model_deny_prob(f, d);
        collect_evidence(p, b, f, d);
    }
    return TG_OK;
}

/* ---- records ---- */

/* The decoded line of document d around token position pos (scrubbed text). */
static json_t *evidence_line(const claims_scorer *s, const claims_corpus *c, int32_t d, int32_t pos)
{
    char *text = NULL;
    size_t len = 0, at = 0;
    for (int32_t i = 0; i < pos && i < c->len[d]; i++) {
        size_t l;
        claims_tok_token(s->art.tok, c->tokens[d][i], &l);
        at += l;
    }
    if (claims_tok_decode(s->art.tok, c->tokens[d], (size_t)c->len[d], &text, &len) != TG_OK) return NULL;
    size_t lo = at < len ? at : len, hi = lo;
    while (lo > 0 && text[lo - 1] != '\n') lo--;
    while (hi < len && text[hi] != '\n') hi++;
    if (hi - lo > EVIDENCE_CHARS) { /* a long line: the stretch around the token */
        lo = at > lo + EVIDENCE_CHARS / 2 ? at - EVIDENCE_CHARS / 2 : lo;
        hi = lo + EVIDENCE_CHARS < hi ? lo + EVIDENCE_CHARS : hi;
    }
    json_t *j = json_stringn_nocheck(text + lo, hi - lo);
    free(text);
    return j;
}

static json_t *evidence_json(const claims_scorer *s, const claims_corpus *c, int32_t d, const evidence *e)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < e->n && (int)json_array_size(arr) < s->evidence; i++) {
        json_t *line = evidence_line(s, c, d, e->pos[i]);
        bool dup = false;
        for (size_t j = 0; line && j < json_array_size(arr); j++)
            dup |= json_equal(json_object_get(json_array_get(arr, j), "text"), line);
        if (line && !dup)
            json_array_append_new(arr, json_pack("{s:o,s:f}", "text", line, "weight", (double)e->w[i]));
        else
            json_decref(line);
    }
    return arr;
}

static char *record(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    return s;
}

static char *error_record(const claims_scorer *s, long line, const char *why)
{
    return record(json_pack("{s:I,s:s,s:s}", "line", (json_int_t)line, "error", why, "model_id", s->model_id));
}

static char *score_record(const claims_scorer *s, long line, const claims_claim *cl, const claims_corpus *c, int32_t d,
                          float raw, const evidence *e)
{
    const double p = claims_platt_apply(s->calib_a, s->calib_b, raw);
    const double cost_approve = p * s->m.cfg.costs.c[1][0], cost_deny = (1 - p) * s->m.cfg.costs.c[0][1];
    const bool deny = raw >= s->threshold;
    const bool review = s->review_cost > 0 && s->review_cost < (deny ? cost_deny : cost_approve);
    json_t *costs = json_pack("{s:f,s:f}", "approve", cost_approve, "deny", cost_deny);
    if (costs && s->review_cost > 0) json_object_set_new(costs, "review", json_real(s->review_cost));
    return record(json_pack("{s:I,s:s,s:s,s:f,s:f,s:f,s:o,s:n,s:o,s:s}", "line", (json_int_t)line, "claim_id",
                            cl->claim_id, "action",
                            review ? "review"
                            : deny ? "deny"
                                   : "approve",
                            "p_deny", p, "score", (double)raw, "threshold", s->threshold, "expected_cost", costs,
                            "reasons", "evidence", evidence_json(s, c, d, e), "model_id", s->model_id));
}

/* ---- scoring ---- */

/* Parses line i into ds (history and provider facts filled), or writes its
 * error record. */
static tg_status take_line(claims_scorer *s, const char *line, size_t len, long no, claims_dataset *ds, char **out,
                           size_t *n_errors)
{
    char why[512];
    claims_claim *c = &ds->claims[ds->n];
    if (!claims_parse_claim(line, len, s->codes, true, c, why, sizeof why)) {
        *n_errors += 1;
        return (*out = error_record(s, no, why)) ? TG_OK : TG_ERR_OOM;
    }
    ds->n++;
    TG_TRY(claims_history_observe(&s->history, c));
    if (s->art.has_stats) claims_provider_stats_apply_claim(&s->art.stats, c, false);
    return TG_OK;
}

static tg_status score_locked(claims_scorer *s, const char *const *lines, const size_t *lens, const long *no, size_t n,
                              char **out, size_t *n_errors)
{
    claims_dataset ds = {.claims = calloc(n ? n : 1, sizeof(claims_claim))};
    size_t *doc_of = malloc(sizeof *doc_of * (n ? n : 1)); /* input line -> document, or SIZE_MAX */
    if (!ds.claims || !doc_of) {
        free(ds.claims), free(doc_of);
        return tg_error(TG_ERR_OOM, "claims_scorer_score: out of memory for %zu lines", n);
    }
    tg_status st = TG_OK;
    for (size_t i = 0; st == TG_OK && i < n; i++) {
        size_t before = ds.n;
        st = take_line(s, lines[i], lens[i], no[i], &ds, &out[i], n_errors);
        doc_of[i] = ds.n > before ? before : SIZE_MAX;
    }
    claims_corpus c = {0};
    pass p = {s, &c, NULL, NULL};
    if (st == TG_OK) st = claims_corpus_build(&ds, NULL, 0, s->art.tok, &c);
    if (st == TG_OK && ds.n) {
        p.score = calloc(ds.n, sizeof *p.score);
        p.ev = calloc(ds.n, sizeof *p.ev);
        st = p.score && p.ev ? claims_forward_corpus(&s->m, &c, &s->bo, NULL, SCORE_SEED, false, on_batch, &p)
                             : tg_error(TG_ERR_OOM, "claims_scorer_score: out of memory");
    }
    for (size_t i = 0; st == TG_OK && i < n; i++)
        if (doc_of[i] != SIZE_MAX) {
            size_t d = doc_of[i];
            out[i] = score_record(s, no[i], &ds.claims[d], &c, (int32_t)d, p.score[d], &p.ev[d]);
            if (!out[i]) st = tg_error(TG_ERR_OOM, "claims_scorer_score: out of memory writing a record");
        }
    free(p.score), free(p.ev), free(doc_of);
    claims_corpus_free(&c);
    claims_dataset_free(&ds);
    return st;
}

tg_status claims_scorer_score(claims_scorer *s, const char *const *lines, const size_t *lens, const long *line_no,
                              size_t n, char **out, size_t *n_errors)
{
    size_t errors = 0;
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    pthread_mutex_lock(&s->lock);
    tg_ctx *prev = tg_ctx_peek();
    tg_ctx_set_current(s->ctx);
    tg_status st = score_locked(s, lines, lens, line_no, n, out, &errors);
    if (s->per_call_history) {
        claims_history_free(&s->history);
        s->history = (claims_history){0};
    }
    tg_ctx_set_current(prev);
    pthread_mutex_unlock(&s->lock);
    if (st != TG_OK)
        for (size_t i = 0; i < n; i++) free(out[i]), out[i] = NULL;
    if (n_errors) *n_errors = errors;
    return st;
}

tg_status claims_scorer_score_one(claims_scorer *s, const char *json, size_t len, char **rec)
{
    long one = 1;
    return claims_scorer_score(s, &json, &len, &one, 1, rec, NULL);
}
