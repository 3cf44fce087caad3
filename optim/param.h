/* tg_param_set: the parameters an optimizer updates, seen as f32 value
 * tensors whose gradients are fetched with tg_tensor_grad() at step time
 * (autograd allocates a gradient lazily, so the set can be built once before
 * the first backward). Each parameter belongs to a group; a group scales the
 * optimizer's learning rate and weight decay (e.g. group 1 with weight decay
 * multiplier 0 for norms, biases and embeddings).
 *
 * The set borrows the value tensors (they must outlive it) and copies names. */
#ifndef TG_OPTIM_PARAM_H
#define TG_OPTIM_PARAM_H

#include <stdint.h>

#include "tensor/status.h"
#include "tensor/tensor.h"

#define TG_MAX_PARAM_GROUPS 16

typedef struct tg_param_set tg_param_set;

/* Per-group multipliers of the optimizer's lr and weight decay. */
typedef struct tg_param_group {
    double lr_mult; /* effective lr = lr * lr_mult */
    double wd_mult; /* effective weight decay = weight_decay * wd_mult */
} tg_param_group;

/* New empty set; every group starts as {lr_mult 1, wd_mult 1}. Free with
 * tg_param_set_destroy. NULL with TG_ERR_OOM. */
tg_param_set *tg_param_set_create(void);
/* Frees the set and its copied names (not the tensors). Accepts NULL. */
void tg_param_set_destroy(tg_param_set *ps);

/* Sets the multipliers of group g (0 <= g < TG_MAX_PARAM_GROUPS).
 * TG_ERR_INVALID for a bad group index or a negative/non-finite multiplier. */
tg_status tg_param_set_group(tg_param_set *ps, int g, tg_param_group grp);
/* The multipliers of group g ({1, 1} for a bad index). */
tg_param_group tg_param_set_group_get(const tg_param_set *ps, int g);

/* Appends a parameter (borrowed f32 tensor) in group g; name is copied and
 * may be NULL (the tensor's debug name or "param.<i>" is used). Returns the
 * parameter's index. TG_ERR_INVALID (NULL value, bad group, duplicate
 * tensor), TG_ERR_DTYPE (not f32), TG_ERR_OOM. */
tg_status tg_param_set_add(tg_param_set *ps, const char *name, tg_tensor *value, int g, int *index);

/* Number of parameters. */
int tg_param_set_count(const tg_param_set *ps);
/* Value tensor / current gradient (NULL when none yet) / name / group of
 * parameter i; NULL or -1 for a bad index. */
tg_tensor *tg_param_set_value(const tg_param_set *ps, int i);
tg_tensor *tg_param_set_grad(const tg_param_set *ps, int i);
const char *tg_param_set_name(const tg_param_set *ps, int i);
int tg_param_set_group_of(const tg_param_set *ps, int i);
/* Total number of elements over all parameters. */
int64_t tg_param_set_numel(const tg_param_set *ps);

/* Sets every existing gradient to zero (missing ones stay missing). */
tg_status tg_param_set_zero_grad(tg_param_set *ps);
/* Multiplies every existing gradient by `factor` (finite, else TG_ERR_INVALID). */
tg_status tg_param_set_scale_grads(tg_param_set *ps, double factor);

#endif
