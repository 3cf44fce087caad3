/* Softmax and log-softmax over the last axis, with an optional additive f32
 * mask that broadcasts to x (a (T, T) causal mask for (B, H, T, T) scores,
 * a (B, 1, 1, T) padding mask, ...). Inputs: x, then the mask when given
 * (the mask never gets a gradient).
 *
 * A row whose masked entries are all -inf has no distribution: both ops give
 * zeros there and a zero gradient, never NaN. log_softmax saves the per-row
 * log-sum-exp (-inf marks such a row) so its backward can tell. */
#include <math.h>

#include "autograd/ops/ops_internal.h"
#include "autograd/ops/vmath.h"

typedef struct softmax_attr {
    bool log; /* log_softmax */
} softmax_attr;

/* Ops run through tg_apply without an attribute blob act as softmax. */
static bool attr_log(const void *attr) { return attr && ((const softmax_attr *)attr)->log; }

/* ---- shape inference ---- */

static tg_status softmax_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    const char *fn = attr_log(attr) ? "log_softmax" : "softmax";
    if (n_in > 2) return tg_error(TG_ERR_INVALID, "%s: expects x and an optional mask, got %d inputs", fn, n_in);
    const tg_shape *xs = tg_tensor_shape(in[0]);
    TG_TRY(tg_ops_require_f32(in[0], fn, "x"));
    if (xs->ndim < 1) return tg_error(TG_ERR_SHAPE, "%s: x must have at least one axis, got a scalar", fn);
    if (n_in == 2) {
        TG_TRY(tg_ops_require_f32(in[1], fn, "mask"));
        const tg_shape *ms = tg_tensor_shape(in[1]);
        tg_shape b;
        char sm[96], sx[96];
        if (tg_broadcast_shape(ms, xs, &b, fn) != TG_OK || !tg_shape_equal(&b, xs))
            return tg_error(TG_ERR_SHAPE, "%s: mask %s does not broadcast to x %s", fn, tg_shape_str(ms, sm, sizeof sm),
                            tg_shape_str(xs, sx, sizeof sx));
    }
    *out = *xs;
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

/* y (rows, C) = softmax or log_softmax of x + mask per row; lse (rows) gets
 * the row's log-sum-exp when not NULL. mask rows start at
 * tg_bcast_row_offset(p, 1, r) and step by sm (0 or 1) along the row. */
static void softmax_fwd_kernel(float *y, float *lse, const float *x, const float *mask, const tg_bcast *p, int64_t sm,
                               bool log, int64_t rows, int64_t C)
{
#pragma omp parallel for schedule(static) if (rows * C > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        float mx = -INFINITY;
        if (mask && sm) {
            const float *mr = mask + tg_bcast_row_offset(p, 1, r);
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < C; j++) {
                yr[j] = xr[j] + mr[j];
                mx = yr[j] > mx ? yr[j] : mx;
            }
        } else if (mask) { /* one mask value for the whole row */
            const float m0 = mask[tg_bcast_row_offset(p, 1, r)];
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < C; j++) {
                yr[j] = xr[j] + m0;
                mx = yr[j] > mx ? yr[j] : mx;
            }
        } else {
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < C; j++) {
                yr[j] = xr[j];
                mx = xr[j] > mx ? xr[j] : mx;
            }
        }
        if (mx == -INFINITY) { /* fully masked: no distribution */
            for (int64_t j = 0; j < C; j++) yr[j] = 0.0f;
            if (lse) lse[r] = -INFINITY;
            continue;
        }
        float sum = 0.0f;
        if (log) {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < C; j++) sum += tg_vexpf(yr[j] - mx);
            /* (z - max) - log(sum): subtracting max first keeps the
             * digits of small log-probabilities next to large logits */
            const float ls = logf(sum);
#pragma omp simd
            for (int64_t j = 0; j < C; j++) yr[j] = (yr[j] - mx) - ls;
            if (lse) lse[r] = mx + ls;
        } else {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < C; j++) {
                yr[j] = tg_vexpf(yr[j] - mx);
                sum += yr[j];
            }
            const float inv = 1.0f / sum;
#pragma omp simd
            for (int64_t j = 0; j < C; j++) yr[j] *= inv;
            if (lse) lse[r] = mx + logf(sum);
        }
    }
}

static tg_status softmax_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    const tg_shape *xs = tg_tensor_shape(in[0]);
    const int64_t C = xs->dims[xs->ndim - 1], rows = C ? tg_shape_numel(xs) / C : 0;
    const tg_tensor *mask = n_in == 2 ? in[1] : NULL;
    tg_bcast p;
    tg_bcast_plan(&p, xs, mask ? tg_tensor_shape(mask) : xs, xs);
    const int64_t sm = p.stride[1][p.ndim - 1];
    const bool log = attr_log(attr);
    tg_tensor *lse = NULL;
    if (log && tg_op_recording(ctx)) {
        tg_shape ls = *xs;
        ls.ndim--; /* (...) : one value per row */
        lse = tg_tensor_empty(TG_STEP, ls, TG_F32);
        if (!lse) return TG_ERR_OOM;
    }
    softmax_fwd_kernel(tg_f32(out), lse ? tg_f32(lse) : NULL, tg_f32(in[0]), mask ? tg_f32(mask) : NULL, &p, sm, log,
                       rows, C);
    return lse ? tg_op_save(ctx, lse) : TG_OK;
}

/* ---- backward ---- */

/* dx += y * (dy - sum(dy * y)) per row; fully masked rows have y = 0. */
static void softmax_bwd_kernel(float *dx, const float *y, const float *dy, int64_t rows, int64_t C)
{
#pragma omp parallel for schedule(static) if (rows * C > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * C, *dyr = dy + r * C;
        float *dxr = dx + r * C;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < C; j++) dot += dyr[j] * yr[j];
#pragma omp simd
        for (int64_t j = 0; j < C; j++) dxr[j] += yr[j] * (dyr[j] - dot);
    }
}

/* dx += dy - exp(y) * sum(dy) per row, skipping rows with lse = -inf. */
static void log_softmax_bwd_kernel(float *dx, const float *lse, const float *y, const float *dy, int64_t rows,
                                   int64_t C)
{
#pragma omp parallel for schedule(static) if (rows * C > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        if (lse[r] == -INFINITY) continue;
        const float *yr = y + r * C, *dyr = dy + r * C;
        float *dxr = dx + r * C;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < C; j++) sum += dyr[j];
#pragma omp simd
        for (int64_t j = 0; j < C; j++) dxr[j] += dyr[j] - tg_vexpf(yr[j]) * sum;
    }
}

static tg_status softmax_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    if (!din[0]) return TG_OK; /* only the mask wants a gradient: it gets none */
    const tg_shape *xs = tg_tensor_shape(dout);
    const int64_t C = xs->dims[xs->ndim - 1], rows = C ? tg_shape_numel(xs) / C : 0;
    const float *y = tg_f32(tg_op_output(ctx));
    if (attr_log(tg_op_attr(ctx)))
        log_softmax_bwd_kernel(tg_f32(din[0]), tg_f32(tg_op_saved(ctx, 0)), y, tg_f32(dout), rows, C);
    else
        softmax_bwd_kernel(tg_f32(din[0]), y, tg_f32(dout), rows, C);
    return TG_OK;
}

/* ---- descriptors ---- */

static const tg_op softmax_op = {
    .name = "softmax", .n_in = -1, .infer = softmax_infer, .forward = softmax_forward, .backward = softmax_backward};
static const tg_op log_softmax_op = {.name = "log_softmax",
                                     .n_in = -1,
                                     .infer = softmax_infer,
                                     .forward = softmax_forward,
                                     .backward = softmax_backward};

tg_status tg_register_softmax_ops(void)
{
    TG_TRY(tg_op_register(&softmax_op));
    return tg_op_register(&log_softmax_op);
}

static tg_tensor *softmax_apply(const tg_op *op, const tg_tensor *x, const tg_tensor *mask)
{
    const tg_tensor *in[2] = {x, mask};
    softmax_attr a = {.log = op == &log_softmax_op};
    return tg_apply(op, in, mask ? 2 : 1, &a, sizeof a);
}

tg_tensor *tg_softmax(const tg_tensor *x, const tg_tensor *mask) { return softmax_apply(&softmax_op, x, mask); }

tg_tensor *tg_log_softmax(const tg_tensor *x, const tg_tensor *mask) { return softmax_apply(&log_softmax_op, x, mask); }
