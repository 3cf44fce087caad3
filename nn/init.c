#include "nn/init.h"

#include <math.h>

/* fan_in and fan_out of a weight: last dim is fan_in, first is fan_out. */
static tg_status fans(const tg_tensor *t, const char *fn, double *fan_in, double *fan_out)
{
    if (!t) return tg_error(TG_ERR_INVALID, "%s: NULL tensor", fn);
    if (tg_tensor_dtype(t) != TG_F32) return tg_error(TG_ERR_DTYPE, "%s: tensor must be f32", fn);
    int nd = tg_tensor_ndim(t);
    if (nd < 1) return tg_error(TG_ERR_SHAPE, "%s: needs at least one dim", fn);
    double rf = 1; /* receptive field for >2-d weights */
    for (int i = 2; i < nd; i++) rf *= (double)tg_tensor_dim(t, i);
    *fan_in = (double)tg_tensor_dim(t, nd > 1 ? 1 : 0) * rf;
    *fan_out = (double)tg_tensor_dim(t, 0) * rf;
    return TG_OK;
}

tg_status tg_init_normal(tg_tensor *t, tg_rng *rng, double std)
{
    if (!t) return tg_error(TG_ERR_INVALID, "tg_init_normal: NULL tensor");
    return tg_fill_randn(t, tg_rng_next(rng), 0.0, std);
}

tg_status tg_init_xavier_uniform(tg_tensor *t, tg_rng *rng, double gain)
{
    double fi, fo;
    TG_TRY(fans(t, "tg_init_xavier_uniform", &fi, &fo));
    double a = gain * sqrt(6.0 / (fi + fo));
    return tg_fill_rand(t, tg_rng_next(rng), -a, a);
}

tg_status tg_init_xavier_normal(tg_tensor *t, tg_rng *rng, double gain)
{
    double fi, fo;
    TG_TRY(fans(t, "tg_init_xavier_normal", &fi, &fo));
    return tg_fill_randn(t, tg_rng_next(rng), 0.0, gain * sqrt(2.0 / (fi + fo)));
}

tg_status tg_init_kaiming_normal(tg_tensor *t, tg_rng *rng)
{
    double fi, fo;
    TG_TRY(fans(t, "tg_init_kaiming_normal", &fi, &fo));
    return tg_fill_randn(t, tg_rng_next(rng), 0.0, sqrt(2.0 / fi));
}

tg_status tg_init_kaiming_uniform(tg_tensor *t, tg_rng *rng)
{
    double fi, fo;
    TG_TRY(fans(t, "tg_init_kaiming_uniform", &fi, &fo));
    double b = sqrt(6.0 / fi);
    return tg_fill_rand(t, tg_rng_next(rng), -b, b);
}

tg_status tg_init_gpt2_residual(tg_tensor *t, tg_rng *rng, int n_layers)
{
    if (n_layers < 1) return tg_error(TG_ERR_INVALID, "tg_init_gpt2_residual: n_layers %d < 1", n_layers);
    return tg_init_normal(t, rng, 0.02 / sqrt(2.0 * n_layers));
}
