#include "models/claims/train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autograd/autograd.h"
#include "parallel/parallel.h"
#include "models/claims/model/config.h"
#include "models/claims/train/parallel_train.h"
#include "optim/checkpoint.h"
#include "optim/clip.h"
#include "optim/optim.h"
#include "optim/scaler.h"
#include "tensor/ctx.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- training ---- */

typedef struct run {
    const claims_train_opts *o;
    const claims_corpus *train, *valid;
    const uint8_t *is_code, *is_rare;
    claims_model *m;
    tg_optim *opt;
    tg_parallel_reducer *reducer; /* gradient all-reduce across ranks */
    tg_scaler scaler;
    tg_train_state state; /* step, epoch, batch cursor, rng */
    claims_plan plan;
    claims_batch mb[CLAIMS_MAX_ACCUM]; /* the step's micro-batches (this rank's filled) */
    int32_t *labels;
    float **before; /* weights before the step, on norm-logging steps */
    FILE *metrics;
    double threshold;
    double calib_a, calib_b; /* Platt calibration from the last evaluation (NaN: none yet) */
    claims_dpsgd *dp;        /* DP-SGD state when opts->dp */
    claims_dpsgd_stats dp_stats;
} run;

static tg_status open_plan(run *r)
{
    claims_plan_free(&r->plan);
    return claims_plan_epoch(r->train->len, r->train->label, r->train->n, &r->o->batch, r->o->seed, (int)r->state.epoch,
                             &r->plan);
}

/* Fills the next micro-batch (b NULL: another rank's, skipped), moving to
 * the next epoch's plan when needed. */
static tg_status next_batch(run *r, claims_batch *b)
{
    if (r->state.batch_cursor >= r->plan.n_batches) {
        r->state.epoch++;
        r->state.batch_cursor = 0;
        TG_TRY(open_plan(r));
    }
    if (!b) {
        r->state.batch_cursor++;
        return TG_OK;
    }
    return claims_batch_fill(&r->plan, (int32_t)r->state.batch_cursor++, (const int32_t *const *)r->train->tokens,
                             CLAIMS_TOK_PAD, b);
}

typedef struct step_stats {
    double loss, lm_loss, decision_loss, grad_norm, lr;
    int64_t tokens;
    bool skipped;
} step_stats;

static tg_status micro_step(run *r, const claims_batch *b, double lm_weight, double lm_denom, double dec_denom,
                            step_stats *s)
{
    for (int32_t d = 0; d < b->n_docs; d++) r->labels[d] = r->train->label[b->doc_index[d]];
    claims_forward f;
    tg_nn_set_autocast(r->o->bf16 ? TG_BF16 : TG_F32);
    tg_status st =
        claims_model_forward(r->m, b, r->labels, r->train->features, r->is_code, lm_denom, dec_denom, true, false, &f);
    tg_nn_set_autocast(TG_F32);
    TG_TRY(st);
    tg_tensor *loss = r->o->bf16 ? tg_scale(f.loss, tg_scaler_scale(&r->scaler)) : f.loss;
    TG_TRY(tg_backward(loss));
    s->loss += tg_item(f.loss);
    s->lm_loss += tg_item(f.lm_loss) * lm_weight;
    s->decision_loss += tg_item(f.decision_loss) * b->n_docs;
    for (int32_t i = 0; i < b->rows; i++) s->tokens += b->lengths[i];
    tg_step_end();
    return TG_OK;
}

/* Copies every weight into r->before (allocated on first use). */
static tg_status snapshot(run *r)
{
    tg_param_set *ps = r->m->gpt.params;
    if (!r->before) r->before = calloc((size_t)tg_param_set_count(ps), sizeof *r->before);
    if (!r->before) return tg_error(TG_ERR_OOM, "claims_train: out of memory");
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        tg_tensor *w = tg_param_set_value(ps, i);
        if (!r->before[i]) r->before[i] = malloc(tg_tensor_nbytes(w));
        if (!r->before[i]) return tg_error(TG_ERR_OOM, "claims_train: out of memory");
        memcpy(r->before[i], tg_f32(w), tg_tensor_nbytes(w));
    }
    return TG_OK;
}

/* The step's gradients summed over opts->accum micro-batches and ranks. */
static tg_status accumulate(run *r, step_stats *s)
{
    double lm_denom = 0, dec_denom = 0, w[CLAIMS_MAX_ACCUM] = {0}, docs[CLAIMS_MAX_ACCUM] = {0};
    for (int k = 0; k < r->o->accum; k++) {
        const bool mine = tg_parallel_owns(k);
        TG_TRY(next_batch(r, mine ? &r->mb[k] : NULL));
        if (!mine) continue;
        w[k] = claims_lm_weight(&r->mb[k], r->is_code, r->o->model.code_weight);
        docs[k] = r->mb[k].n_docs;
    }
    TG_TRY(claims_parallel_denominators(w, docs, r->o->accum, &lm_denom, &dec_denom));
    tg_rng *rng = tg_ctx_rng(tg_ctx_current()), step_rng = *rng;
    const int last = claims_parallel_last_owned(r->o->accum);
    for (int k = 0; k <= last; k++) {
        if (!tg_parallel_owns(k)) continue;
        *rng = claims_parallel_micro_rng(step_rng, k);
        if (k == last) TG_TRY(tg_parallel_reducer_arm(r->reducer)); /* sum gradients while the last backward runs */
        TG_TRY(micro_step(r, &r->mb[k], w[k], lm_denom, dec_denom, s));
        if (k != last) TG_TRY(tg_parallel_reducer_accumulate(r->reducer)); /* each micro-batch from zero */
    }
    *rng = claims_parallel_step_rng_end(step_rng, r->o->accum);
    TG_TRY(tg_parallel_reducer_finish(r->reducer, TG_PARALLEL_SUM));
    double sums[4] = {s->loss, s->lm_loss, s->decision_loss, (double)s->tokens};
    TG_TRY(tg_parallel_allreduce_f64(sums, 4, TG_PARALLEL_SUM));
    s->loss = sums[0], s->lm_loss = sums[1], s->decision_loss = sums[2], s->tokens = (int64_t)sums[3];
    s->lm_loss /= lm_denom > 0 ? lm_denom : 1;
    s->decision_loss /= dec_denom;
    return TG_OK;
}

/* The step's noisy mean of clipped per-unit gradients (dpsgd_train.h). */
static tg_status dp_gradients(run *r, step_stats *s)
{
    claims_dpsgd_stats *d = &r->dp_stats;
    TG_TRY(claims_dpsgd_step(r->dp, r->m, r->train, r->is_code, &r->o->batch, r->o->seed, r->state.step, d));
    s->loss = d->loss, s->lm_loss = d->lm_loss, s->decision_loss = d->decision_loss, s->tokens = d->tokens;
    return TG_OK;
}

/* One optimizer step over opts->accum micro-batches (or a DP-SGD batch).
 * Gradients stay in place afterwards (for the norm log); the next step
 * zeroes them first. */
static tg_status train_step(run *r, bool keep_before, step_stats *s)
{
    memset(s, 0, sizeof *s);
    TG_TRY(tg_param_set_zero_grad(r->m->gpt.params));
    TG_TRY(r->dp ? dp_gradients(r, s) : accumulate(r, s));
    tg_param_set *ps = r->m->gpt.params;
    if (r->o->bf16) {
        TG_TRY(tg_scaler_unscale(&r->scaler, ps));
        TG_TRY(tg_parallel_any(r->scaler.found_inf, &r->scaler.found_inf)); /* a skip on one rank skips on all */
        s->skipped = !tg_scaler_should_step(&r->scaler);
        TG_TRY(tg_scaler_update(&r->scaler));
    }
    /* DP gradients are clipped per unit already */
    tg_status cst = r->o->clip > 0 && !r->dp ? tg_clip_grad_norm(ps, r->o->clip, &s->grad_norm)
                                             : tg_grad_global_norm(ps, &s->grad_norm);
    if (cst == TG_ERR_NUMERIC)
        s->skipped = true; /* inf/NaN gradient: skip rather than corrupt weights */
    else if (cst != TG_OK)
        return cst;
    TG_TRY(tg_parallel_any(s->skipped, &s->skipped));
    s->lr = tg_sched_lr(&r->o->sched, r->state.step + 1);
    if (keep_before) TG_TRY(snapshot(r));
    if (!s->skipped) TG_TRY(tg_optim_step(r->opt, s->lr));
    r->state.step++;
    return TG_OK;
}

static void write_step(run *r, const step_stats *s, double tokens_per_s)
{
    fprintf(r->metrics, "{\"step\":%lld", (long long)r->state.step);
    claims_json_num(r->metrics, "loss", s->loss);
    claims_json_num(r->metrics, "lm_loss", s->lm_loss);
    claims_json_num(r->metrics, "decision_loss", s->decision_loss);
    claims_json_num(r->metrics, "lr", s->lr);
    claims_json_num(r->metrics, "grad_norm", s->grad_norm);
    claims_json_num(r->metrics, "tokens_per_s", tokens_per_s);
    fprintf(r->metrics, ",\"skipped\":%d,\"skipped_total\":%lld", s->skipped, (long long)r->scaler.skipped);
    if (r->o->bf16) claims_json_num(r->metrics, "loss_scale", tg_scaler_scale(&r->scaler));
    if (r->dp) claims_dpsgd_write_json(r->metrics, r->dp, &r->dp_stats);
    fprintf(r->metrics, ",\"epoch\":%lld}\n", (long long)r->state.epoch);
    fflush(r->metrics);
}

/* Name of the layer a parameter belongs to: "blocks.3", "wte", "head". */
static void layer_of(const char *name, char *out, size_t n)
{
    const char *dot = strchr(name, '.');
    if (dot && !strncmp(name, "blocks.", 7)) dot = strchr(dot + 1, '.');
    snprintf(out, n, "%.*s", dot ? (int)(dot - name) : (int)strlen(name), name);
}

/* Gradient and update L2 norms per layer, as one JSON line. */
static void write_layer_norms(run *r)
{
    tg_param_set *ps = r->m->gpt.params;
    fprintf(r->metrics, "{\"norms_step\":%lld,\"layers\":{", (long long)r->state.step);
    int i = 0, first = 1;
    while (i < tg_param_set_count(ps)) {
        char layer[64], other[64];
        layer_of(tg_param_set_name(ps, i), layer, sizeof layer);
        double g2 = 0, u2 = 0;
        for (; i < tg_param_set_count(ps); i++) {
            layer_of(tg_param_set_name(ps, i), other, sizeof other);
            if (strcmp(layer, other)) break;
            tg_tensor *w = tg_param_set_value(ps, i), *g = tg_param_set_grad(ps, i);
            for (int64_t j = 0; j < tg_tensor_numel(w); j++) {
                double gj = g ? tg_f32(g)[j] : 0.0, uj = (double)tg_f32(w)[j] - r->before[i][j];
                g2 += gj * gj;
                u2 += uj * uj;
            }
        }
        fprintf(r->metrics, "%s\"%s\":{\"grad\":%.6g,\"update\":%.6g}", first ? "" : ",", layer, sqrt(g2), sqrt(u2));
        first = 0;
    }
    fprintf(r->metrics, "}}\n");
    fflush(r->metrics);
}

/* ---- setup, checkpoints, loop ---- */

static tg_status make_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) return TG_OK;
    return tg_error(TG_ERR_IO, "claims_train: cannot create %s: %s", dir, strerror(errno));
}

/* next, after freeing prev (both malloc'd text). */
static char *replace(char *prev, char *next)
{
    free(prev);
    return next;
}

static tg_status save_checkpoint(run *r, const char *name)
{
    if (tg_parallel_rank() != 0) return TG_OK; /* rank 0 writes for the job */
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", r->o->out_dir, name);
    r->state.rng = *tg_ctx_rng(tg_ctx_current());
    char *model = claims_config_to_json(&r->o->model, &r->o->batch, r->o->tokenizer_name, r->threshold);
    char *config = model ? claims_dpsgd_config_add(model, r->o->dp) : NULL;
    free(model);
    if (config && r->o->artifact_json)
        config = replace(config, claims_config_set(config, "artifact", r->o->artifact_json));
    char calib[96];
    snprintf(calib, sizeof calib, "{\"a\":%.17g,\"b\":%.17g}", r->calib_a, r->calib_b);
    if (config && isfinite(r->calib_a) && isfinite(r->calib_b))
        config = replace(config, claims_config_set(config, "calibration", calib));
    if (!config) return TG_ERR_OOM;
    tg_status st = tg_checkpoint_save(path, r->m->gpt.params, r->opt, &r->scaler, &r->state, config);
    free(config);
    return st;
}

static tg_status setup(run *r)
{
    const claims_train_opts *o = r->o;
    if (o->accum < 1 || o->accum > CLAIMS_MAX_ACCUM)
        return tg_error(TG_ERR_INVALID, "claims_train: accum %d outside [1, %d]", o->accum, CLAIMS_MAX_ACCUM);
    if (o->steps < 1) return tg_error(TG_ERR_INVALID, "claims_train: steps %lld must be >= 1", (long long)o->steps);
    TG_TRY(tg_sched_check(&o->sched));
    TG_TRY(make_dir(o->out_dir));
    if (o->dp && o->head_fit.epochs > 0)
        return tg_error(TG_ERR_INVALID, "claims_train: the head refit is not differentially private; "
                                        "use it without DP-SGD");
    if (o->dp) {
        TG_TRY(claims_dpsgd_check(o->dp, &o->model, &o->batch, o->bf16));
        TG_TRY(claims_dpsgd_create(o->dp, r->train, &r->dp));
    }
    TG_TRY(claims_model_init(r->m, &o->model, o->seed));
    tg_param_set *ps = r->m->gpt.params;
    TG_TRY(tg_param_set_group(ps, TG_GROUP_NO_DECAY, (tg_param_group){1.0, 0.0}));
    tg_adam_opts ao = tg_adamw_default_opts();
    ao.weight_decay = o->weight_decay;
    r->opt = tg_adamw_create(ps, &ao);
    if (!r->opt) return TG_ERR_INVALID;
    TG_TRY(tg_scaler_init(&r->scaler, NULL));
    r->state = (tg_train_state){.data_seed = o->seed};
    tg_ctx_rng(tg_ctx_current())->seed = o->seed;
    tg_ctx_rng(tg_ctx_current())->counter = 0;
    r->threshold = 0.5;
    r->calib_a = r->calib_b = NAN;
    if (o->resume) {
        char *config = NULL, tok[16];
        claims_model_config mc;
        claims_batch_opts bo;
        TG_TRY(tg_checkpoint_load(o->resume, ps, r->opt, &r->scaler, &r->state, &config));
        tg_status st = claims_config_from_json(config, o->resume, &mc, &bo, tok, sizeof tok, &r->threshold);
        if (st == TG_OK) st = claims_dpsgd_config_check(config, o->dp, o->resume);
        if (st == TG_OK && !claims_config_calibration(config, &r->calib_a, &r->calib_b)) r->calib_a = r->calib_b = NAN;
        free(config);
        TG_TRY(st);
        *tg_ctx_rng(tg_ctx_current()) = r->state.rng;
    }
    TG_TRY(claims_parallel_sync(ps, r->opt, &r->scaler, &r->state, &r->threshold));
    /* f64 buckets: the same weights for any number of ranks */
    r->reducer = tg_parallel_reducer_create(ps, claims_parallel_bucket_bytes(tg_param_set_numel(ps)), true);
    if (!r->reducer) return TG_ERR_OOM;
    r->labels = malloc(sizeof *r->labels * (size_t)(r->train->n ? r->train->n : 1));
    if (!r->labels) return tg_error(TG_ERR_OOM, "claims_train: out of memory");
    char path[1024];
    snprintf(path, sizeof path, "%s/metrics.jsonl", o->out_dir);
    r->metrics = fopen(tg_parallel_rank() == 0 ? path : "/dev/null", o->resume ? "a" : "w"); /* rank 0 logs */
    if (!r->metrics) return tg_error(TG_ERR_IO, "claims_train: cannot write %s: %s", path, strerror(errno));
    return open_plan(r);
}

static tg_status evaluate(run *r, claims_eval *e)
{
    TG_TRY(claims_evaluate(r->m, r->valid, &r->o->batch, r->is_code, r->is_rare, NAN, e));
    r->threshold = e->threshold;
    r->calib_a = e->calib_a, r->calib_b = e->calib_b;
    claims_eval_write_json(r->metrics, r->state.step, e);
    return TG_OK;
}

static tg_status loop(run *r, claims_progress_fn progress, void *user, volatile sig_atomic_t *stop)
{
    const claims_train_opts *o = r->o;
    const int64_t first = r->state.step;
    const double t_start = now_s();
    while (r->state.step < o->steps) {
        bool stop_now = stop && *stop;
        TG_TRY(tg_parallel_any(stop_now, &stop_now)); /* every rank stops at the same step */
        if (stop_now) return save_checkpoint(r, "checkpoint.safetensors");
        const bool norms = o->norms_every > 0 && (r->state.step + 1) % o->norms_every == 0;
        step_stats s;
        double t0 = now_s();
        TG_TRY(train_step(r, norms, &s));
        double dt = now_s() - t0, tps = s.tokens / (dt > 0 ? dt : 1e-9);
        write_step(r, &s, tps);
        if (norms) write_layer_norms(r);
        claims_head_fit_result hf, *hp = NULL;
        if (r->state.step == o->steps && o->head_fit.epochs > 0) {
            TG_TRY(claims_head_fit(r->m, r->train, r->valid, &o->batch, r->is_code, &o->head_fit, r->metrics, &hf));
            hp = &hf;
        }
        claims_eval e, *ep = NULL;
        if ((o->eval_every > 0 && r->state.step % o->eval_every == 0) || r->state.step == o->steps) {
            TG_TRY(evaluate(r, &e));
            ep = &e;
        }
        if (o->ckpt_every > 0 && r->state.step % o->ckpt_every == 0)
            TG_TRY(save_checkpoint(r, "checkpoint.safetensors"));
        if (progress) {
            double per_step = (now_s() - t_start) / (double)(r->state.step - first);
            claims_progress p = {
                r->state.step, o->steps, s.loss, s.lr, tps, per_step * (double)(o->steps - r->state.step), ep, hp};
            progress(user, &p);
        }
    }
    return save_checkpoint(r, "checkpoint.safetensors");
}

static void run_free(run *r)
{
    if (r->before)
        for (int i = 0; i < tg_param_set_count(r->m->gpt.params); i++) free(r->before[i]);
    free(r->before);
    for (int k = 0; k < CLAIMS_MAX_ACCUM; k++) claims_batch_free(&r->mb[k]);
    claims_plan_free(&r->plan);
    free(r->labels);
    tg_parallel_reducer_destroy(r->reducer);
    tg_optim_destroy(r->opt);
    claims_dpsgd_free(r->dp);
    if (r->metrics) fclose(r->metrics);
}

tg_status claims_train(const claims_train_opts *opts, const claims_corpus *train, const claims_corpus *valid,
                       const uint8_t *is_code, const uint8_t *is_rare, claims_progress_fn progress, void *user,
                       volatile sig_atomic_t *stop, claims_model *m, double *threshold)
{
    run r = {.o = opts, .train = train, .valid = valid, .is_code = is_code, .is_rare = is_rare, .m = m};
    memset(m, 0, sizeof *m);
    tg_status st = setup(&r);
    if (st == TG_OK) st = loop(&r, progress, user, stop);
    if (threshold) *threshold = r.threshold;
    run_free(&r);
    return st;
}
