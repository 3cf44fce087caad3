#include "optim/dpsgd.h"

#include <math.h>

#include "tensor/rng.h"

#define SAMPLE_KEY 0x64702d73616d706cULL /* "dp-sampl" */
#define NOISE_KEY 0x64702d6e6f697365ULL  /* "dp-noise" */

static double uniform53(uint64_t bits) { return (double)(bits >> 11) * 0x1.0p-53; }

bool tg_dpsgd_sampled(uint64_t seed, int64_t step, int64_t unit, double q)
{
    uint64_t s = tg_rng_bits(seed ^ SAMPLE_KEY, (uint64_t)step);
    return uniform53(tg_rng_bits(s, (uint64_t)unit)) < q;
}

double tg_dpsgd_normal(uint64_t seed, int64_t step, uint64_t index)
{
    uint64_t s = tg_rng_bits(seed ^ NOISE_KEY, (uint64_t)step);
    double u1 = 1.0 - uniform53(tg_rng_bits(s, 2 * index)); /* (0, 1]: log is finite */
    double u2 = uniform53(tg_rng_bits(s, 2 * index + 1));
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

tg_status tg_dpsgd_noise_average(tg_param_set *ps, uint64_t seed, int64_t step, double sigma, double clip, double denom)
{
    if (!(sigma >= 0) || !isfinite(sigma) || !(clip > 0) || !isfinite(clip) || !(denom > 0) || !isfinite(denom))
        return tg_error(TG_ERR_INVALID,
                        "tg_dpsgd_noise_average: need finite sigma >= 0 (%g), clip > 0 (%g), denom > 0 (%g)", sigma,
                        clip, denom);
    uint64_t index = 0;
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        tg_tensor *g = tg_tensor_grad_or_zeros(tg_param_set_value(ps, i));
        if (!g) return TG_ERR_OOM;
        float *pg = tg_f32(g);
        const int64_t n = tg_tensor_numel(g);
        const uint64_t base = index;
#pragma omp parallel for if (n > 65536)
        for (int64_t k = 0; k < n; k++)
            pg[k] = (float)(((double)pg[k] + sigma * clip * tg_dpsgd_normal(seed, step, base + (uint64_t)k)) / denom);
        index += (uint64_t)n;
    }
    return TG_OK;
}
