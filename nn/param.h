/* Named parameter lists: what modules expose for optimizers and
 * checkpoints. Names follow the module tree ("blocks.0.attn.qkv.weight").
 * A list borrows the tensors (the modules own them) and owns the names. */
#ifndef TG_NN_PARAM_H
#define TG_NN_PARAM_H

#include "tensor/tensor.h"

typedef struct tg_param_list {
    int n, cap;
    char **names;
    tg_tensor **tensors;
} tg_param_list;

/* An empty list (also the state of a zeroed struct). */
void tg_param_list_init(tg_param_list *l);

/* Appends t as "<prefix>.<name>" (or "<name>" when prefix is NULL or "")
 * and marks it requires_grad. TG_ERR_STATE when the name is taken,
 * TG_ERR_OOM when memory is short. */
tg_status tg_param_list_add(tg_param_list *l, const char *prefix, const char *name, tg_tensor *t);

/* The tensor named `name`, or NULL. */
tg_tensor *tg_param_list_find(const tg_param_list *l, const char *name);

/* Total number of elements over all parameters. */
int64_t tg_param_list_numel(const tg_param_list *l);

/* Zeroes every parameter's gradient. */
void tg_param_list_zero_grad(const tg_param_list *l);

/* Frees the names and arrays (not the tensors). Accepts NULL. */
void tg_param_list_free(tg_param_list *l);

#endif
