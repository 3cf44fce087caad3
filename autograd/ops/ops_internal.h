/* Helpers shared by the built-in op families (not installed). */
#ifndef TG_OPS_INTERNAL_H
#define TG_OPS_INTERNAL_H

#include "autograd/autograd.h"
#include "autograd/op.h"
#include "autograd/ops.h"
#include "tensor/backend.h"

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

/* ---- linear layers inside ops (linear.c) ---- */

/* The products of a layer (rows, in) -> (rows, out) with operands in dt.
 * With bf16 products the layer's output y (y_dt), the gradient dy entering
 * it (dy_dt, inside a fused op) and the input gradient dx (dx_dt) may be
 * bf16; each defaults to f32. */
typedef struct tg_linear_prod {
    int64_t rows, in, out;
    tg_dtype dt; /* TG_F32 or TG_BF16 */
    tg_dtype y_dt, dy_dt, dx_dt;
} tg_linear_prod;

/* *out = w (f32 or bf16) packed into op scratch as the B of the 2-D matmul
 * d (tg_backend_matmul_pack_b), for a run of d with b_packed set. */
tg_status tg_ops_pack_weight(tg_op_ctx *ctx, const tg_matmul_desc *d, const tg_tensor *w, const void **out);

/* t as a product operand in dt: its data, or a bf16 copy saved as the op's
 * first saved tensor (only one per op). NULL when out of memory. */
const void *tg_ops_operand(tg_op_ctx *ctx, const tg_tensor *t, tg_dtype dt);

/* y (rows, out) in p->y_dt = x · wᵀ (+ bias (out) when given); x in p->dt;
 * w (out, in) f32 or p->dt, packed for the product here when p->dt is bf16. */
tg_status tg_ops_linear_fwd(tg_op_ctx *ctx, const tg_linear_prod *p, void *y, const void *x, const tg_tensor *w,
                            const float *bias);

/* The gradient entering the layer's products from dy (rows, out), or
 * dy ∘ gelu'(u) when u (rows, out) is given (the layer's output went
 * through GELU), in one pass that also makes dbias (+= unless fresh) when
 * given; dy and u in p->dy_dt. *g is the products' operand: bf16 op scratch
 * with a bf16 p->dt; with f32, dy itself or (with u) g_f32, which must then
 * be given. g may be NULL when only dbias is wanted (no operand is made). */
tg_status tg_ops_layer_grad(tg_op_ctx *ctx, const tg_linear_prod *p, const void *dy, const void *u, float *dbias,
                            bool dbias_fresh, float *g_f32, const void **g);

/* dx (rows, in) in p->dx_dt = g · w and dw (out, in) = gᵀ · x, each added
 * unless fresh (a bf16 dx must be fresh), each skipped when NULL; g from
 * tg_ops_layer_grad, x in p->dt. */
tg_status tg_ops_linear_grads(tg_op_ctx *ctx, const tg_linear_prod *p, const void *g, const void *x, const tg_tensor *w,
                              void *dx, bool dx_fresh, float *dw, bool dw_fresh);

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
tg_status tg_register_mlp_ops(void);

#endif
