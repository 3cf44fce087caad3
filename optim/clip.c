/* Gradient clipping by global L2 norm and by value. */
#include <math.h>
#include <omp.h>

#include "optim/clip.h"
#include "optim/optim_internal.h"

/* g: (n) clamped in place into [-c, c]; returns the number of NaNs. */
static int64_t clamp_kernel(float *g, float c, int64_t n)
{
    int64_t nans = 0;
#pragma omp parallel for simd reduction(+ : nans) if (n > TG_OPTIM_OMP_MIN)
    for (int64_t i = 0; i < n; i++) {
        float x = g[i];
        nans += isnan(x);
        g[i] = x > c ? c : x < -c ? -c : x;
    }
    return nans;
}

double tg_optim_grad_sumsq(const tg_param_set *ps, int *first_bad)
{
    const int n = tg_param_set_count(ps);
    int64_t numel = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *g = tg_param_set_grad(ps, i);
        if (g) numel += tg_tensor_numel(g);
    }
    /* One parallel region over the whole set (no barrier per parameter):
     * each thread sums its contiguous share of every gradient. */
    double total = 0.0;
#pragma omp parallel reduction(+ : total) if (numel > TG_OPTIM_OMP_MIN)
    {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        for (int i = 0; i < n; i++) {
            const tg_tensor *g = tg_param_set_grad(ps, i);
            if (!g) continue;
            const float *x = tg_f32(g);
            const int64_t m = tg_tensor_numel(g), lo = m * t / nt, hi = m * (t + 1) / nt;
            double s = 0.0;
#pragma omp simd reduction(+ : s)
            for (int64_t k = lo; k < hi; k++) s += (double)x[k] * (double)x[k];
            total += s;
        }
    }
    *first_bad = -1;
    if (isfinite(total)) return total;
    for (int i = 0; i < n && *first_bad < 0; i++) { /* rare: name the culprit */
        const tg_tensor *g = tg_param_set_grad(ps, i);
        if (g && !isfinite(tg_optim_kernel_sumsq(tg_f32(g), tg_tensor_numel(g)))) *first_bad = i;
    }
    return total;
}

tg_status tg_grad_global_norm(const tg_param_set *ps, double *norm)
{
    if (!ps) return tg_error(TG_ERR_INVALID, "tg_grad_global_norm: NULL set");
    int bad;
    double n = sqrt(tg_optim_grad_sumsq(ps, &bad));
    if (norm) *norm = n;
    return TG_OK;
}

tg_status tg_clip_grad_norm(tg_param_set *ps, double max_norm, double *norm)
{
    if (!ps) return tg_error(TG_ERR_INVALID, "tg_clip_grad_norm: NULL set");
    if (!(max_norm > 0 && isfinite(max_norm)))
        return tg_error(TG_ERR_INVALID, "tg_clip_grad_norm: max_norm %g must be finite and > 0", max_norm);
    int bad;
    double total = sqrt(tg_optim_grad_sumsq(ps, &bad));
    if (norm) *norm = total;
    if (bad >= 0)
        return tg_error(TG_ERR_NUMERIC,
                        "tg_clip_grad_norm: gradient norm is %g (parameter '%s' has inf/NaN); "
                        "gradients left unchanged, skip this step",
                        total, tg_param_set_name(ps, bad));
    double coef = max_norm / (total + 1e-6);
    if (coef < 1.0) return tg_param_set_scale_grads(ps, coef);
    return TG_OK;
}

tg_status tg_clip_grad_value(tg_param_set *ps, double clip)
{
    if (!ps) return tg_error(TG_ERR_INVALID, "tg_clip_grad_value: NULL set");
    if (!(clip > 0 && isfinite(clip)))
        return tg_error(TG_ERR_INVALID, "tg_clip_grad_value: clip %g must be finite and > 0", clip);
    int first_nan = -1;
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        tg_tensor *g = tg_param_set_grad(ps, i);
        if (g && clamp_kernel(tg_f32(g), (float)clip, tg_tensor_numel(g)) && first_nan < 0) first_nan = i;
    }
    if (first_nan >= 0)
        return tg_error(TG_ERR_NUMERIC, "tg_clip_grad_value: parameter '%s' has NaN gradients (left as NaN)",
                        tg_param_set_name(ps, first_nan));
    return TG_OK;
}
