/* SGD with momentum, dampening, Nesterov and L2 weight decay, following
 * torch.optim.SGD: d = g + wd*p; b = d on a parameter's first update, else
 * b = momentum*b + (1 - dampening)*d; d = nesterov ? d + momentum*b : b;
 * p -= lr*d. */
#include <math.h>

#include "optim/optim_internal.h"

/* p, b: (n) updated in place; g: (n). first: b is not started yet. */
static void sgd_momentum_kernel(float *p, float *b, const float *g, float gs, float lr, float wd, float momentum,
                                float damp_keep, bool nesterov, bool first, int64_t n)
{
#pragma omp for simd schedule(static) nowait /* in the step's parallel region */
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] * gs + wd * p[i];
        float buf = first ? d : b[i] * momentum + damp_keep * d;
        b[i] = buf;
        p[i] = p[i] - lr * (nesterov ? d + momentum * buf : buf);
    }
}

/* p: (n) updated in place; g: (n) read as g * gs. */
static void sgd_plain_kernel(float *p, const float *g, float gs, float lr, float wd, int64_t n)
{
#pragma omp for simd schedule(static) nowait /* in the step's parallel region */
    for (int64_t i = 0; i < n; i++) p[i] = p[i] - lr * (g[i] * gs + wd * p[i]);
}

void tg_sgd_update(tg_optim *opt, int i, float *p, const float *g, float gs, int64_t n, double lr, double wd)
{
    const tg_sgd_opts *o = &opt->sgd;
    if (o->momentum == 0) {
        sgd_plain_kernel(p, g, gs, (float)lr, (float)wd, n);
        return;
    }
    float *b = tg_f32(opt->state[i]);
    sgd_momentum_kernel(p, b, g, gs, (float)lr, (float)wd, (float)o->momentum, (float)(1.0 - o->dampening), o->nesterov,
                        opt->param_steps[i] == 1, n);
}

static tg_status sgd_check(const tg_sgd_opts *o)
{
    if (!(o->momentum >= 0 && isfinite(o->momentum)))
        return tg_error(TG_ERR_INVALID, "tg_sgd_create: momentum %g must be finite and >= 0", o->momentum);
    if (!(o->dampening >= 0 && o->dampening <= 1))
        return tg_error(TG_ERR_INVALID, "tg_sgd_create: dampening %g must be in [0, 1]", o->dampening);
    if (!(o->weight_decay >= 0 && isfinite(o->weight_decay)))
        return tg_error(TG_ERR_INVALID, "tg_sgd_create: weight_decay %g must be finite and >= 0", o->weight_decay);
    if (o->nesterov && o->momentum == 0)
        return tg_error(TG_ERR_INVALID, "tg_sgd_create: nesterov needs momentum > 0 (momentum %g)", o->momentum);
    if (o->nesterov && o->dampening != 0)
        return tg_error(TG_ERR_INVALID, "tg_sgd_create: nesterov needs dampening 0 (dampening %g)", o->dampening);
    return TG_OK;
}

tg_optim *tg_sgd_create(tg_param_set *params, const tg_sgd_opts *opts)
{
    tg_sgd_opts o = opts ? *opts : (tg_sgd_opts){0};
    if (sgd_check(&o) != TG_OK) return NULL;
    tg_optim *opt = tg_optim_alloc(TG_OPTIM_SGD, params, o.momentum != 0 ? 1 : 0, "tg_sgd_create");
    if (opt) opt->sgd = o;
    return opt;
}
