/* dtype conversion between f32 and bf16 (round to nearest even). The
 * gradient passes through unchanged, in f32: this is how mixed precision
 * feeds bf16 copies of f32 master weights and activations to matmuls. */
#include "autograd/ops/ops_internal.h"

typedef struct cast_attr {
    tg_dtype to;
} cast_attr;

/* ---- shape inference ---- */

static tg_status cast_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    tg_dtype from = tg_tensor_dtype(in[0]), to = ((const cast_attr *)attr)->to;
    if (from == TG_S32 || to == TG_S32)
        return tg_error(TG_ERR_DTYPE, "tg_cast: only f32 <-> bf16, got %s -> %s", tg_dtype_name(from),
                        tg_dtype_name(to));
    *out = *tg_tensor_shape(in[0]);
    *dt = to;
    return TG_OK;
}

/* ---- forward ---- */

static tg_status cast_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    (void)attr;
    return tg_copy(out, in[0]);
}

/* ---- backward ---- */

static tg_status cast_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    (void)ctx;
    float *dx = tg_f32(din[0]);
    const float *dy = tg_f32(dout);
    const int64_t n = tg_tensor_numel(dout);
#pragma omp parallel for simd if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
    return TG_OK;
}

/* ---- descriptor ---- */

static const tg_op cast_op = {
    .name = "cast", .n_in = 1, .infer = cast_infer, .forward = cast_forward, .backward = cast_backward};

tg_status tg_register_cast_ops(void) { return tg_op_register(&cast_op); }

tg_tensor *tg_cast(const tg_tensor *x, tg_dtype to)
{
    if (x && tg_tensor_dtype(x) == to) return (tg_tensor *)x;
    cast_attr a = {to};
    return tg_apply(&cast_op, &x, 1, &a, sizeof a);
}
