/* Optimizers over a tg_param_set: SGD (momentum, dampening, Nesterov, L2
 * weight decay), Adam (coupled L2 weight decay) and AdamW (decoupled weight
 * decay), with the update rules of torch.optim (1.13) in f32.
 *
 * The learning rate is passed to every tg_optim_step call (schedulers are
 * pure functions, see optim/sched.h). Per group, the effective lr is
 * lr * lr_mult and the effective weight decay weight_decay * wd_mult.
 * A parameter whose gradient is missing (NULL) at a step is skipped: its
 * state and its own step count are left unchanged, as in PyTorch.
 *
 * State for checkpoints: each parameter has state tensors ("momentum_buffer"
 * for SGD with momentum; "exp_avg", "exp_avg_sq" for Adam/AdamW), TG_PERSIST,
 * shaped like the parameter, owned and freed by the optimizer, plus its own
 * step count (the number of updates it received). Restoring a checkpoint is
 * tg_copy into the state tensors and tg_optim_set_param_steps. */
#ifndef TG_OPTIM_OPTIM_H
#define TG_OPTIM_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "optim/param.h"
#include "tensor/status.h"
#include "tensor/tensor.h"

typedef struct tg_optim tg_optim;

typedef enum tg_optim_kind { TG_OPTIM_SGD = 0, TG_OPTIM_ADAM = 1, TG_OPTIM_ADAMW = 2 } tg_optim_kind;

typedef struct tg_sgd_opts {
    double momentum;     /* >= 0; 0 = plain SGD */
    double dampening;    /* in [0, 1]; must be 0 with nesterov */
    double weight_decay; /* >= 0, added to the gradient (L2) */
    bool nesterov;       /* needs momentum > 0 */
} tg_sgd_opts;

typedef struct tg_adam_opts {
    double beta1, beta2;     /* each in [0, 1) */
    double eps;              /* > 0 */
    double weight_decay;     /* >= 0: L2 for Adam, decoupled for AdamW */
    bool no_bias_correction; /* true: textbook w -= lr * m / (sqrt(v) + eps) */
} tg_adam_opts;

/* Defaults: Adam {0.9, 0.999, 1e-8, wd 0}; AdamW the same with wd 0.01
 * (torch.optim defaults); SGD all zero (zero-initialized struct). */
tg_adam_opts tg_adam_default_opts(void);
tg_adam_opts tg_adamw_default_opts(void);

/* Creates an optimizer over `params` (borrowed: keep it alive and do not add
 * parameters afterwards) with zeroed state. opts NULL = defaults.
 * NULL on error: TG_ERR_INVALID naming the bad hyper-parameter, TG_ERR_OOM.
 * Free with tg_optim_destroy. */
tg_optim *tg_sgd_create(tg_param_set *params, const tg_sgd_opts *opts);
tg_optim *tg_adam_create(tg_param_set *params, const tg_adam_opts *opts);
tg_optim *tg_adamw_create(tg_param_set *params, const tg_adam_opts *opts);
/* Frees the optimizer and its state tensors. Accepts NULL. */
void tg_optim_destroy(tg_optim *opt);

/* One update of every parameter that has a gradient, with learning rate lr
 * (>= 0 and finite, else TG_ERR_INVALID). TG_ERR_STATE if parameters were
 * added to the set after creation; TG_ERR_SHAPE if a parameter now has a
 * different element count than its state. On error nothing is updated.
 * Gradients are read, not modified or zeroed. */
tg_status tg_optim_step(tg_optim *opt, double lr);
/* tg_clip_grad_norm(params, max_norm, norm) then tg_optim_step(opt, lr),
 * fused: after one pass for the global gradient norm (in *norm when not
 * NULL), the update reads each gradient times the clipping factor, so the
 * gradients are not rewritten (they stay unclipped). Same parameters as the
 * two calls. TG_ERR_NUMERIC when a gradient has inf/NaN (nothing updated),
 * TG_ERR_INVALID for a bad max_norm, else as tg_optim_step. */
tg_status tg_optim_step_clipped(tg_optim *opt, double lr, double max_norm, double *norm);

/* The parameter set the optimizer was created with. */
tg_param_set *tg_optim_params(const tg_optim *opt);

/* Number of tg_optim_step calls that succeeded (or the value set below). */
int64_t tg_optim_step_count(const tg_optim *opt);
/* Restores the step-call counter (>= 0, else TG_ERR_INVALID). */
tg_status tg_optim_set_step_count(tg_optim *opt, int64_t steps);
/* Updates parameter i has received (Adam's bias-correction step; SGD uses
 * 0 to mean "momentum buffer not started"); -1 for a bad index. */
int64_t tg_optim_param_steps(const tg_optim *opt, int i);
/* Restores it (>= 0; TG_ERR_INVALID for a bad index or value). */
tg_status tg_optim_set_param_steps(tg_optim *opt, int i, int64_t steps);

/* State tensors per parameter: 0 (plain SGD), 1 (SGD with momentum), 2 (Adam). */
int tg_optim_num_states(const tg_optim *opt);
/* Name of state slot s ("momentum_buffer", "exp_avg", "exp_avg_sq"), NULL if bad. */
const char *tg_optim_state_name(const tg_optim *opt, int slot);
/* State tensor `slot` of parameter i, owned by the optimizer; NULL for a bad
 * index (with TG_ERR_INVALID recorded). */
tg_tensor *tg_optim_state(const tg_optim *opt, int i, int slot);

#endif
