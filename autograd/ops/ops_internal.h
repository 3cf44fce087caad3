/* Helpers shared by the built-in op families (not installed). */
#ifndef TG_OPS_INTERNAL_H
#define TG_OPS_INTERNAL_H

#include "autograd/op.h"
#include "autograd/ops.h"

/* Below this many elements a kernel runs on one thread. */
#define TG_OMP_MIN 32768

/* TG_ERR_DTYPE naming `fn` and the argument unless t is f32. */
tg_status tg_ops_require_f32(const tg_tensor *t, const char *fn, const char *arg);

/* Normalizes a possibly negative axis for rank `ndim`; TG_ERR_INVALID
 * naming `fn` when out of range. */
tg_status tg_ops_axis(int axis, int ndim, const char *fn, int *out);

/* Broadcast iteration: the output shape split into outer rows and a last
 * dim, with each input's element strides (0 where broadcast). */
typedef struct tg_bcast {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
    int64_t stride[2][TG_MAX_DIMS]; /* per input, per output dim */
    int64_t rows, cols;             /* outer rows, last-dim length */
} tg_bcast;

/* Plans broadcasting of shapes a and b to out (out from tg_broadcast_shape). */
void tg_bcast_plan(tg_bcast *p, const tg_shape *a, const tg_shape *b, const tg_shape *out);

/* Offsets of input `which` at the start of outer row `row`. */
int64_t tg_bcast_row_offset(const tg_bcast *p, int which, int64_t row);

/* True when input `which` is broadcast along some outer dim (several output
 * rows map onto the same input row, so row-parallel accumulation races). */
bool tg_bcast_rows_shared(const tg_bcast *p, int which);

/* Adds src (shape `from`) into dst (shape `to`, which broadcasts to `from`),
 * summing over broadcast dims: the backward of broadcasting. */
void tg_reduce_to_shape(float *dst, const tg_shape *to, const float *src, const tg_shape *from);

/* Family registration functions called by builtin.c. */
tg_status tg_register_eltwise_ops(void);
tg_status tg_register_binary_ops(void);
tg_status tg_register_reduce_ops(void);
tg_status tg_register_loss_ops(void);
tg_status tg_register_cast_ops(void);
tg_status tg_register_softmax_ops(void);
tg_status tg_register_norm_ops(void);
tg_status tg_register_cross_entropy_ops(void);
tg_status tg_register_shape_ops(void);
tg_status tg_register_slice_ops(void);
tg_status tg_register_where_ops(void);
tg_status tg_register_embedding_ops(void);
tg_status tg_register_dropout_ops(void);
tg_status tg_register_matmul_ops(void);
tg_status tg_register_linear_ops(void);
tg_status tg_register_attention_ops(void);

#endif
