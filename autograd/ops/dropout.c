/* Inverted dropout: y = x * keep / (1 - p), with keep_i = (u(seed, i) >= p)
 * for the counter-based uniform u. The mask is a pure function of (seed, i),
 * so it does not depend on the thread count, and backward regenerates it from
 * the seed in the attribute instead of saving a mask tensor. */
#include "autograd/ops/ops_internal.h"
#include "tensor/ctx.h"

typedef struct dropout_attr {
    uint64_t seed;
    float p;
} dropout_attr;

/* ---- shape inference ---- */

static tg_status dropout_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    (void)attr;
    TG_TRY(tg_ops_require_f32(in[0], "dropout", "x"));
    *out = *tg_tensor_shape(in[0]);
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

/* y (+)= dy * mask * scale: one kernel for forward (accumulate = false, x
 * as the source) and backward (accumulate = true, dy as the source). */
static void dropout_apply(float *y, const float *x, int64_t n, uint64_t seed, float p, bool accumulate)
{
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for if (n > TG_OMP_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        const float v = tg_rng_uniform_at(seed, (uint64_t)i) >= p ? x[i] * scale : 0.0f;
        if (accumulate)
            y[i] += v;
        else
            y[i] = v;
    }
}

static tg_status dropout_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    const dropout_attr *a = attr;
    dropout_apply(tg_f32(out), tg_f32(in[0]), tg_tensor_numel(out), a->seed, a->p, false);
    return TG_OK;
}

/* ---- backward ---- */

static tg_status dropout_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const dropout_attr *a = tg_op_attr(ctx);
    dropout_apply(tg_f32(din[0]), tg_f32(dout), tg_tensor_numel(dout), a->seed, a->p, true);
    return TG_OK;
}

/* ---- descriptor ---- */

static const tg_op dropout_op = {
    .name = "dropout", .n_in = 1, .infer = dropout_infer, .forward = dropout_forward, .backward = dropout_backward};

tg_status tg_register_dropout_ops(void) { return tg_op_register(&dropout_op); }

/* x f32 and p in [0, 1) (also after rounding to f32; rejects NaN). */
static tg_status check_args(const tg_tensor *x, double p)
{
    TG_TRY(tg_ops_require_f32(x, "dropout", "x"));
    if (p >= 0.0 && p < 1.0 && (float)p < 1.0f) return TG_OK;
    return tg_error(TG_ERR_INVALID, "dropout: p must be in [0, 1), got %g", p);
}

tg_tensor *tg_dropout_seeded(const tg_tensor *x, double p, uint64_t seed)
{
    if (!x || check_args(x, p) != TG_OK) return NULL;
    dropout_attr a = {.seed = seed, .p = (float)p};
    return tg_apply(&dropout_op, &x, 1, &a, sizeof a);
}

tg_tensor *tg_dropout(const tg_tensor *x, double p, bool train)
{
    if (!x || check_args(x, p) != TG_OK) return NULL;
    if (!train || p == 0.0) return tg_reshape(x, *tg_tensor_shape(x)); /* identity view, gradient passes */
    const uint64_t seed = tg_rng_split(tg_ctx_rng(tg_ctx_current()), (uint64_t)tg_tensor_numel(x));
    return tg_dropout_seeded(x, p, seed);
}
