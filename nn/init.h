/* Weight initialization schemes, in place, from a counter-based stream so
 * results do not depend on the thread count. Each call draws a fresh seed
 * from `rng`. f32 tensors; TG_ERR_DTYPE otherwise. Fans follow PyTorch: for a
 * (out, in) weight, fan_in = in and fan_out = out. */
#ifndef TG_NN_INIT_H
#define TG_NN_INIT_H

#include "tensor/rng.h"
#include "tensor/tensor.h"

/* Normal(0, std). */
tg_status tg_init_normal(tg_tensor *t, tg_rng *rng, double std);
/* Uniform(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)). */
tg_status tg_init_xavier_uniform(tg_tensor *t, tg_rng *rng, double gain);
/* Normal(0, gain * sqrt(2 / (fan_in + fan_out))). */
tg_status tg_init_xavier_normal(tg_tensor *t, tg_rng *rng, double gain);
/* Normal(0, sqrt(2 / fan_in)): He init for ReLU layers. */
tg_status tg_init_kaiming_normal(tg_tensor *t, tg_rng *rng);
/* Uniform(-b, b) with b = sqrt(6 / fan_in). */
tg_status tg_init_kaiming_uniform(tg_tensor *t, tg_rng *rng);
/* GPT-2's residual projection init: Normal(0, 0.02 / sqrt(2 * n_layers)). */
tg_status tg_init_gpt2_residual(tg_tensor *t, tg_rng *rng, int n_layers);

#endif
