/* Shared by the optim/ sources only: the OpenMP threshold and the small
 * element-wise kernels that several optim files run over gradients. */
#ifndef TG_OPTIM_KERNELS_INTERNAL_H
#define TG_OPTIM_KERNELS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Below this many elements a kernel runs on one thread. */
#define TG_OPTIM_OMP_MIN 32768

/* x[i] *= a. */
void tg_optim_kernel_scale(float *x, float a, int64_t n);
/* x[i] *= a; returns true when any result is inf or NaN. */
bool tg_optim_kernel_scale_check(float *x, float a, int64_t n);
/* Sum of x[i]^2 in double (inf/NaN propagate). */
double tg_optim_kernel_sumsq(const float *x, int64_t n);

#endif
