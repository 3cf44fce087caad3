/* DP-SGD building blocks that do not depend on the model: Poisson sampling
 * of privacy units and the Gaussian noise on the summed clipped gradients.
 * Both are pure functions of (seed, step, index), so a run is reproducible
 * for a seed, a resumed run draws what the uninterrupted one would, and every
 * rank of a data-parallel job draws the same values (parallel/parallel.h contract).
 * Per-unit clipping itself is autograd/dpsgd_norms.h; the accountant optim/dpsgd_accountant.h. */
#ifndef TG_OPTIM_DPSGD_H
#define TG_OPTIM_DPSGD_H

#include <stdbool.h>
#include <stdint.h>

#include "optim/param.h"

/* Whether unit `unit` is in step `step`'s batch: independently with
 * probability q (a 53-bit uniform below q). */
bool tg_dpsgd_sampled(uint64_t seed, int64_t step, int64_t unit, double q);

/* Standard normal number `index` of the noise of step `step` (Box-Muller on
 * two 53-bit uniforms, in double). */
double tg_dpsgd_normal(uint64_t seed, int64_t step, uint64_t index);

/* Every gradient g of ps becomes (g + sigma * clip * n) / denom with n the
 * step's standard normals, numbered across the parameters in set order
 * (a missing gradient is created as zeros first: it gets noise too).
 * TG_ERR_INVALID unless sigma >= 0, clip > 0 and denom > 0 are finite;
 * TG_ERR_OOM. */
tg_status tg_dpsgd_noise_average(tg_param_set *ps, uint64_t seed, int64_t step, double sigma, double clip,
                                 double denom);

#endif
