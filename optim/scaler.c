/* Dynamic loss scaler: unscale with overflow detection, back off, grow. */
#include <math.h>

#include "optim/optim_internal.h"
#include "optim/scaler.h"

tg_scaler_opts tg_scaler_default_opts(void) { return (tg_scaler_opts){65536.0, 2.0, 0.5, 2000, 1.0, 4294967296.0}; }

tg_status tg_scaler_init(tg_scaler *s, const tg_scaler_opts *opts)
{
    if (!s) return tg_error(TG_ERR_INVALID, "tg_scaler_init: NULL scaler");
    tg_scaler_opts o = opts ? *opts : tg_scaler_default_opts();
    if (!(o.min_scale > 0 && isfinite(o.min_scale)))
        return tg_error(TG_ERR_INVALID, "tg_scaler_init: min_scale %g must be finite and > 0", o.min_scale);
    if (!(o.max_scale >= o.min_scale && isfinite(o.max_scale)))
        return tg_error(TG_ERR_INVALID, "tg_scaler_init: max_scale %g must be finite and >= min_scale %g", o.max_scale,
                        o.min_scale);
    if (!(o.init_scale >= o.min_scale && o.init_scale <= o.max_scale))
        return tg_error(TG_ERR_INVALID, "tg_scaler_init: init_scale %g must be in [min_scale %g, max_scale %g]",
                        o.init_scale, o.min_scale, o.max_scale);
    if (!(o.growth > 1 && isfinite(o.growth)))
        return tg_error(TG_ERR_INVALID, "tg_scaler_init: growth %g must be finite and > 1", o.growth);
    if (!(o.backoff > 0 && o.backoff < 1))
        return tg_error(TG_ERR_INVALID, "tg_scaler_init: backoff %g must be in (0, 1)", o.backoff);
    if (o.growth_interval < 1)
        return tg_error(TG_ERR_INVALID, "tg_scaler_init: growth_interval %lld must be >= 1",
                        (long long)o.growth_interval);
    *s = (tg_scaler){.opts = o, .scale = o.init_scale};
    return TG_OK;
}

double tg_scaler_scale(const tg_scaler *s) { return s->scale; }

tg_status tg_scaler_unscale(tg_scaler *s, tg_param_set *ps)
{
    if (!s || !ps) return tg_error(TG_ERR_INVALID, "tg_scaler_unscale: NULL %s", s ? "parameter set" : "scaler");
    if (s->unscaled)
        return tg_error(TG_ERR_STATE, "tg_scaler_unscale: gradients already unscaled this step "
                                      "(call tg_scaler_update first)");
    bool found = false;
    float inv = (float)(1.0 / s->scale);
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        tg_tensor *g = tg_param_set_grad(ps, i);
        if (g) found |= tg_optim_kernel_scale_check(tg_f32(g), inv, tg_tensor_numel(g));
    }
    s->found_inf = found;
    s->unscaled = true;
    return TG_OK;
}

bool tg_scaler_should_step(const tg_scaler *s) { return s->unscaled && !s->found_inf; }

tg_status tg_scaler_update(tg_scaler *s)
{
    if (!s) return tg_error(TG_ERR_INVALID, "tg_scaler_update: NULL scaler");
    if (!s->unscaled) return tg_error(TG_ERR_STATE, "tg_scaler_update: call tg_scaler_unscale before update");
    if (s->found_inf) {
        s->scale = fmax(s->scale * s->opts.backoff, s->opts.min_scale);
        s->good_steps = 0;
        s->skipped++;
    } else if (++s->good_steps >= s->opts.growth_interval) {
        s->scale = fmin(s->scale * s->opts.growth, s->opts.max_scale);
        s->good_steps = 0;
    }
    s->unscaled = false;
    s->found_inf = false;
    return TG_OK;
}
