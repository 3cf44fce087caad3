/* Adam (coupled L2 weight decay) and AdamW (decoupled weight decay),
 * following torch.optim.Adam/AdamW (1.13, single-tensor path):
 *   AdamW: p *= 1 - lr*wd;   Adam: g += wd*p
 *   m = b1*m + (1 - b1)*g;   v = b2*v + (1 - b2)*g^2
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * With no_bias_correction both corrections are 1 (the textbook form
 * p -= lr * m / (sqrt(v) + eps)). One fused pass per parameter. */
#include <math.h>

#include "optim/optim_internal.h"

/* p, m, v: (n) updated in place; g: (n) read as g * gs (gs = 1 is exact;
 * else the fused clipping factor). one_m_b1 = 1 - b1 rounded from
 * double: 1 - (float)0.999 would be off by 1e-5 relative. */
static void adam_kernel(float *p, float *m, float *v, const float *g, float gs, float step_size, float bc2_sqrt,
                        float eps, float b1, float b2, float one_m_b1, float one_m_b2, float l2, float decay_keep,
                        int64_t n)
{
#pragma omp for simd schedule(static) nowait /* in the step's parallel region */
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i] * decay_keep;
        float gi = g[i] * gs + l2 * pi;
        float mi = m[i] * b1 + one_m_b1 * gi;
        float vi = v[i] * b2 + one_m_b2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

void tg_adam_update(tg_optim *opt, int i, float *p, const float *g, float gs, int64_t n, double lr, double wd)
{
    const tg_adam_opts *o = &opt->adam;
    double t = (double)opt->param_steps[i];
    double bc1 = o->no_bias_correction ? 1.0 : 1.0 - pow(o->beta1, t);
    double bc2 = o->no_bias_correction ? 1.0 : 1.0 - pow(o->beta2, t);
    bool decoupled = opt->kind == TG_OPTIM_ADAMW;
    adam_kernel(p, tg_f32(opt->state[2 * i]), tg_f32(opt->state[2 * i + 1]), g, gs, (float)(lr / bc1), (float)sqrt(bc2),
                (float)o->eps, (float)o->beta1, (float)o->beta2, (float)(1.0 - o->beta1), (float)(1.0 - o->beta2),
                decoupled ? 0.0f : (float)wd, decoupled ? (float)(1.0 - lr * wd) : 1.0f, n);
}

tg_adam_opts tg_adam_default_opts(void) { return (tg_adam_opts){0.9, 0.999, 1e-8, 0.0, false}; }

tg_adam_opts tg_adamw_default_opts(void) { return (tg_adam_opts){0.9, 0.999, 1e-8, 0.01, false}; }

static tg_status adam_check(const tg_adam_opts *o, const char *fn)
{
    if (!(o->beta1 >= 0 && o->beta1 < 1))
        return tg_error(TG_ERR_INVALID, "%s: beta1 %g must be in [0, 1)", fn, o->beta1);
    if (!(o->beta2 >= 0 && o->beta2 < 1))
        return tg_error(TG_ERR_INVALID, "%s: beta2 %g must be in [0, 1)", fn, o->beta2);
    if (!(o->eps > 0 && isfinite(o->eps)))
        return tg_error(TG_ERR_INVALID, "%s: eps %g must be finite and > 0", fn, o->eps);
    if (!(o->weight_decay >= 0 && isfinite(o->weight_decay)))
        return tg_error(TG_ERR_INVALID, "%s: weight_decay %g must be finite and >= 0", fn, o->weight_decay);
    return TG_OK;
}

static tg_optim *adam_create(tg_optim_kind kind, tg_param_set *params, const tg_adam_opts *opts, tg_adam_opts defaults,
                             const char *fn)
{
    tg_adam_opts o = opts ? *opts : defaults;
    if (adam_check(&o, fn) != TG_OK) return NULL;
    tg_optim *opt = tg_optim_alloc(kind, params, 2, fn);
    if (opt) opt->adam = o;
    return opt;
}

tg_optim *tg_adam_create(tg_param_set *params, const tg_adam_opts *opts)
{
    return adam_create(TG_OPTIM_ADAM, params, opts, tg_adam_default_opts(), "tg_adam_create");
}

tg_optim *tg_adamw_create(tg_param_set *params, const tg_adam_opts *opts)
{
    return adam_create(TG_OPTIM_ADAMW, params, opts, tg_adamw_default_opts(), "tg_adamw_create");
}
