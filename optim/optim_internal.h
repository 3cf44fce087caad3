/* Shared by the optim/ sources only: the optimizer object and its update
 * functions (kernels_internal.h has the element-wise kernels). */
#ifndef TG_OPTIM_INTERNAL_H
#define TG_OPTIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "optim/kernels_internal.h"
#include "optim/optim.h"

/* The optimizer object; state[i * n_states + s] is slot s of parameter i. */
struct tg_optim {
    tg_optim_kind kind;
    tg_param_set *params;
    int n_params, n_states;
    tg_tensor **state;
    int64_t *param_steps;
    int64_t steps;
    tg_sgd_opts sgd;
    tg_adam_opts adam;
};

/* Allocates an optimizer with n_states zeroed state tensors per parameter
 * (opts are filled in by the caller); NULL with TG_ERR_OOM/INVALID. */
tg_optim *tg_optim_alloc(tg_optim_kind kind, tg_param_set *params, int n_states, const char *fn);

/* Updates parameter i (value p, gradient g read as g * gs, both n floats)
 * with the group's effective lr and weight decay; param_steps[i] is already
 * incremented. Called by every thread of the step's parallel region (the
 * element loop is an orphaned `omp for nowait`), or by one thread. */
void tg_sgd_update(tg_optim *opt, int i, float *p, const float *g, float gs, int64_t n, double lr, double wd);
void tg_adam_update(tg_optim *opt, int i, float *p, const float *g, float gs, int64_t n, double lr, double wd);

/* Sum of squares over every gradient of ps; *first_bad is the first
 * parameter whose own sum is not finite (-1 when none). */
double tg_optim_grad_sumsq(const tg_param_set *ps, int *first_bad);

#endif
