/* The optimizer object shared by SGD and Adam/AdamW: allocation of the state,
 * the step loop over parameters and groups, and the checkpoint accessors. */
#include <math.h>
#include <stdlib.h>

#include "optim/optim_internal.h"

static const char *const state_names[][2] = {
    [TG_OPTIM_SGD] = {"momentum_buffer", NULL},
    [TG_OPTIM_ADAM] = {"exp_avg", "exp_avg_sq"},
    [TG_OPTIM_ADAMW] = {"exp_avg", "exp_avg_sq"},
};

tg_optim *tg_optim_alloc(tg_optim_kind kind, tg_param_set *params, int n_states, const char *fn)
{
    if (!params) {
        tg_error(TG_ERR_INVALID, "%s: NULL parameter set", fn);
        return NULL;
    }
    tg_optim *opt = calloc(1, sizeof *opt);
    if (!opt) goto oom;
    opt->kind = kind;
    opt->params = params;
    opt->n_params = tg_param_set_count(params);
    opt->n_states = n_states;
    size_t np = (size_t)opt->n_params;
    opt->param_steps = calloc(np ? np : 1, sizeof *opt->param_steps);
    opt->state = calloc(np * (size_t)n_states + 1, sizeof *opt->state);
    if (!opt->param_steps || !opt->state) goto oom;
    for (int i = 0; i < opt->n_params; i++) {
        const tg_shape *shape = tg_tensor_shape(tg_param_set_value(params, i));
        for (int s = 0; s < n_states; s++) {
            tg_tensor *t = tg_tensor_new(TG_PERSIST, *shape, TG_F32);
            if (!t) goto oom;
            opt->state[i * n_states + s] = t;
        }
    }
    return opt;
oom:
    tg_optim_destroy(opt);
    tg_error(TG_ERR_OOM, "%s: out of memory for optimizer state", fn);
    return NULL;
}

void tg_optim_destroy(tg_optim *opt)
{
    if (!opt) return;
    if (opt->state)
        for (int k = 0; k < opt->n_params * opt->n_states; k++) tg_tensor_free(opt->state[k]);
    free(opt->state);
    free(opt->param_steps);
    free(opt);
}

/* TG_OK when a step with lr may run (the checks of tg_optim_step). */
static tg_status step_check(tg_optim *opt, double lr, const char *fn)
{
    if (!opt) return tg_error(TG_ERR_INVALID, "%s: NULL optimizer", fn);
    if (!(lr >= 0 && isfinite(lr))) return tg_error(TG_ERR_INVALID, "%s: lr %g must be finite and >= 0", fn, lr);
    if (tg_param_set_count(opt->params) != opt->n_params)
        return tg_error(TG_ERR_STATE, "%s: the parameter set had %d parameters at creation, now %d", fn, opt->n_params,
                        tg_param_set_count(opt->params));
    return TG_OK;
}

/* The step with every gradient read as g * gs. */
static tg_status step_scaled(tg_optim *opt, double lr, float gs)
{
    double wd = opt->kind == TG_OPTIM_SGD ? opt->sgd.weight_decay : opt->adam.weight_decay;
    /* Check every shape first so that a failed step changes nothing. */
    for (int i = 0; i < opt->n_params; i++) {
        tg_tensor *p = tg_param_set_value(opt->params, i);
        if (opt->n_states && tg_tensor_numel(p) != tg_tensor_numel(opt->state[i * opt->n_states]))
            return tg_error(TG_ERR_SHAPE, "tg_optim_step: parameter '%s' has %lld elements, its state %lld",
                            tg_param_set_name(opt->params, i), (long long)tg_tensor_numel(p),
                            (long long)tg_tensor_numel(opt->state[i * opt->n_states]));
    }
    int64_t total = 0;
    for (int i = 0; i < opt->n_params; i++) {
        tg_tensor *p = tg_param_set_value(opt->params, i);
        if (!tg_tensor_grad(p)) continue;
        opt->param_steps[i]++;
        total += tg_tensor_numel(p);
    }
    /* One parallel region for the whole set: each update kernel is an
     * orphaned `omp for nowait`, so the threads move from one parameter to
     * the next without a barrier (a region per parameter costs a scheduler
     * wake-up each when the cores are shared). */
#pragma omp parallel if (total > TG_OPTIM_OMP_MIN)
    for (int i = 0; i < opt->n_params; i++) {
        tg_tensor *p = tg_param_set_value(opt->params, i);
        tg_tensor *g = tg_tensor_grad(p);
        if (!g) continue;
        tg_param_group grp = tg_param_set_group_get(opt->params, tg_param_set_group_of(opt->params, i));
        if (opt->kind == TG_OPTIM_SGD)
            tg_sgd_update(opt, i, tg_f32(p), tg_f32(g), gs, tg_tensor_numel(p), lr * grp.lr_mult, wd * grp.wd_mult);
        else
            tg_adam_update(opt, i, tg_f32(p), tg_f32(g), gs, tg_tensor_numel(p), lr * grp.lr_mult, wd * grp.wd_mult);
    }
    opt->steps++;
    return TG_OK;
}

tg_status tg_optim_step(tg_optim *opt, double lr)
{
    TG_TRY(step_check(opt, lr, "tg_optim_step"));
    return step_scaled(opt, lr, 1.0f);
}

tg_status tg_optim_step_clipped(tg_optim *opt, double lr, double max_norm, double *norm)
{
    const char *fn = "tg_optim_step_clipped";
    TG_TRY(step_check(opt, lr, fn));
    if (!(max_norm > 0 && isfinite(max_norm)))
        return tg_error(TG_ERR_INVALID, "%s: max_norm %g must be finite and > 0", fn, max_norm);
    int bad;
    const double total = sqrt(tg_optim_grad_sumsq(opt->params, &bad));
    if (norm) *norm = total;
    if (bad >= 0)
        return tg_error(TG_ERR_NUMERIC,
                        "%s: gradient norm is %g (parameter '%s' has inf/NaN); nothing updated, "
                        "skip this step",
                        fn, total, tg_param_set_name(opt->params, bad));
    /* the factor tg_clip_grad_norm would scale the gradients by */
    const double coef = max_norm / (total + 1e-6);
    return step_scaled(opt, lr, coef < 1.0 ? (float)coef : 1.0f);
}

tg_param_set *tg_optim_params(const tg_optim *opt) { return opt ? opt->params : NULL; }

int64_t tg_optim_step_count(const tg_optim *opt) { return opt ? opt->steps : 0; }

tg_status tg_optim_set_step_count(tg_optim *opt, int64_t steps)
{
    if (!opt) return tg_error(TG_ERR_INVALID, "tg_optim_set_step_count: NULL optimizer");
    if (steps < 0)
        return tg_error(TG_ERR_INVALID, "tg_optim_set_step_count: steps %lld must be >= 0", (long long)steps);
    opt->steps = steps;
    return TG_OK;
}

int64_t tg_optim_param_steps(const tg_optim *opt, int i)
{
    return opt && i >= 0 && i < opt->n_params ? opt->param_steps[i] : -1;
}

tg_status tg_optim_set_param_steps(tg_optim *opt, int i, int64_t steps)
{
    if (!opt) return tg_error(TG_ERR_INVALID, "tg_optim_set_param_steps: NULL optimizer");
    if (i < 0 || i >= opt->n_params)
        return tg_error(TG_ERR_INVALID, "tg_optim_set_param_steps: parameter index %d outside [0, %d)", i,
                        opt->n_params);
    if (steps < 0)
        return tg_error(TG_ERR_INVALID, "tg_optim_set_param_steps: steps %lld must be >= 0", (long long)steps);
    opt->param_steps[i] = steps;
    return TG_OK;
}

int tg_optim_num_states(const tg_optim *opt) { return opt ? opt->n_states : 0; }

const char *tg_optim_state_name(const tg_optim *opt, int slot)
{
    return opt && slot >= 0 && slot < opt->n_states ? state_names[opt->kind][slot] : NULL;
}

tg_tensor *tg_optim_state(const tg_optim *opt, int i, int slot)
{
    if (!opt || i < 0 || i >= opt->n_params || slot < 0 || slot >= opt->n_states) {
        tg_error(TG_ERR_INVALID, "tg_optim_state: no state slot %d for parameter %d (%d parameters, %d slots)", slot, i,
                 opt ? opt->n_params : 0, opt ? opt->n_states : 0);
        return NULL;
    }
    return opt->state[i * opt->n_states + slot];
}
