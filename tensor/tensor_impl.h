/* The tensor struct, for tensor/ and autograd/ internals only. Ops (built-in
 * and custom) use the accessors of tensor.h. */
#ifndef TG_TENSOR_IMPL_H
#define TG_TENSOR_IMPL_H

#include "tensor/tensor.h"

struct tg_node;

struct tg_tensor {
    tg_shape shape;
    int64_t numel;
    void *data;
    tg_dtype dtype;
    tg_lifetime life;
    bool requires_grad;
    bool owns_data;       /* PERSIST tensors own their block; views do not */
    tg_tensor *grad;      /* accumulated gradient, same lifetime */
    struct tg_node *node; /* producing tape node, NULL for leaves */
    const char *name;
};

/* Allocates a tensor header in the given lifetime with `data` borrowed
 * (not owned): used for views such as reshape and detach. */
tg_tensor *tg_tensor_view(tg_lifetime life, const tg_tensor *base, tg_shape shape);

#endif
