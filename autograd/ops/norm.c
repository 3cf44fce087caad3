/* Layer norm and RMS norm over the last axis, with optional (D) affine
 * parameters. Inputs: x, then w when given, then b (layer norm only) when
 * given; the attribute blob says which are present. Forward saves the
 * per-row rstd (and mean for layer norm) for backward.
 *
 * The parameter gradients reduce over all rows. Rows are split into a fixed
 * number of blocks that depends only on the shape; each block sums into its
 * own partial row and the partials are added in block order afterwards, so
 * there are no races and the result does not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "autograd/ops/ops_internal.h"
#include "autograd/ops/vmath.h"

typedef struct norm_attr {
    float eps;
    bool rms; /* RMS norm (no centering, no bias) */
    bool has_w;
    bool has_b;
    bool bf16_out; /* the output rounded to bf16 (backward reads x, not y) */
} norm_attr;

static const char *norm_name(const norm_attr *a) { return a->rms ? "rms_norm" : "layer_norm"; }

/* ---- shape inference ---- */

static tg_status check_param(const tg_tensor *t, const char *fn, const char *arg, const tg_shape *xs)
{
    TG_TRY(tg_ops_require_f32(t, fn, arg));
    const tg_shape *s = tg_tensor_shape(t);
    const int64_t D = xs->dims[xs->ndim - 1];
    if (s->ndim != 1 || s->dims[0] != D) {
        char sp[96], sx[96];
        return tg_error(TG_ERR_SHAPE, "%s: %s has shape %s, expected (%lld) to match the last dim of x %s", fn, arg,
                        tg_shape_str(s, sp, sizeof sp), (long long)D, tg_shape_str(xs, sx, sizeof sx));
    }
    return TG_OK;
}

static tg_status norm_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    const norm_attr *a = attr;
    if (!a) return tg_error(TG_ERR_INVALID, "norm: missing attributes (use tg_layer_norm / tg_rms_norm)");
    const char *fn = norm_name(a);
    if (n_in != 1 + a->has_w + a->has_b)
        return tg_error(TG_ERR_INVALID, "%s: expects %d inputs, got %d", fn, 1 + a->has_w + a->has_b, n_in);
    const tg_shape *xs = tg_tensor_shape(in[0]);
    TG_TRY(tg_ops_require_f32(in[0], fn, "x"));
    if (xs->ndim < 1) return tg_error(TG_ERR_SHAPE, "%s: x must have at least one axis, got a scalar", fn);
    if (a->has_w) TG_TRY(check_param(in[1], fn, "w", xs));
    if (a->has_b) TG_TRY(check_param(in[1 + a->has_w], fn, "b", xs));
    *out = *xs;
    *dt = a->bf16_out ? TG_BF16 : TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

static inline float norm_value(float x, float mu, float rs, const float *w, const float *b, int64_t j)
{
    float v = (x - mu) * rs;
    if (w) v *= w[j];
    if (b) v += b[j];
    return v;
}

/* y (rows, D) = normalized x * w + b, written to y (f32) or yb (bf16),
 * whichever is given. mean and rstd (rows) are written when not NULL; mean
 * is unused for RMS norm. w, b may be NULL. */
static void norm_fwd_kernel(float *y, uint16_t *yb, float *mean, float *rstd, const float *x, const float *w,
                            const float *b, float eps, bool rms, int64_t rows, int64_t D)
{
#pragma omp parallel for schedule(static) if (rows * D > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float mu = 0.0f;
        if (!rms) {
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t j = 0; j < D; j++) s += xr[j];
            mu = s / (float)D;
        }
        /* two passes: the centered sum of squares does not cancel */
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int64_t j = 0; j < D; j++) ss += (xr[j] - mu) * (xr[j] - mu);
        const float rs = 1.0f / sqrtf(ss / (float)D + eps);
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
        if (yb) {
#pragma omp simd
            for (int64_t j = 0; j < D; j++) yb[r * D + j] = tg_vbf16(norm_value(xr[j], mu, rs, w, b, j));
        } else {
#pragma omp simd
            for (int64_t j = 0; j < D; j++) y[r * D + j] = norm_value(xr[j], mu, rs, w, b, j);
        }
    }
}

static tg_status norm_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    const norm_attr *a = attr;
    const tg_shape *xs = tg_tensor_shape(in[0]);
    const int64_t D = xs->dims[xs->ndim - 1], rows = D ? tg_shape_numel(xs) / D : 0;
    tg_tensor *mean = NULL, *rstd = NULL;
    if (tg_op_recording(ctx)) {
        tg_shape rs = *xs;
        rs.ndim--; /* (...) : one value per row */
        rstd = tg_tensor_empty(TG_STEP, rs, TG_F32);
        mean = a->rms ? NULL : tg_tensor_empty(TG_STEP, rs, TG_F32);
        if (!rstd || (!a->rms && !mean)) return TG_ERR_OOM;
    }
    norm_fwd_kernel(a->bf16_out ? NULL : tg_f32(out), a->bf16_out ? tg_bf16(out) : NULL, mean ? tg_f32(mean) : NULL,
                    rstd ? tg_f32(rstd) : NULL, tg_f32(in[0]), a->has_w ? tg_f32(in[1]) : NULL,
                    a->has_b ? tg_f32(in[1 + a->has_w]) : NULL, a->eps, a->rms, rows, D);
    if (!rstd) return TG_OK;
    TG_TRY(tg_op_save(ctx, rstd));
    return mean ? tg_op_save(ctx, mean) : TG_OK;
}

/* ---- backward ---- */

/* With xh = (x - mean) * rstd and g = dy * w:
 *   layer norm: dx += rstd * (g - mean(g) - xh * mean(g * xh))
 *   RMS norm:   dx += rstd * (g - xh * mean(g * xh))
 * and the partial sums dw_part[blk] += dy * xh, db_part[blk] += dy over the
 * block's rows (partials (nblk, D), zeroed by the caller). dx, w, dw_part,
 * db_part may be NULL; mean is NULL for RMS norm. A fresh dx is written
 * (=) instead. */
static void norm_bwd_kernel(float *dx, bool dx_fresh, float *dw_part, float *db_part, const float *mean,
                            const float *rstd, const float *dy, const float *x, const float *w, int64_t rows, int64_t D,
                            int64_t nblk)
{
#pragma omp parallel for schedule(static) if (rows * D > TG_OMP_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        float *dwp = dw_part ? dw_part + blk * D : NULL, *dbp = db_part ? db_part + blk * D : NULL;
        const int64_t r0 = rows * blk / nblk, r1 = rows * (blk + 1) / nblk;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * D, *dyr = dy + r * D;
            const float mu = mean ? mean[r] : 0.0f, rs = rstd[r];
            if (dwp) {
#pragma omp simd
                for (int64_t j = 0; j < D; j++) dwp[j] += dyr[j] * (xr[j] - mu) * rs;
            }
            if (dbp) {
#pragma omp simd
                for (int64_t j = 0; j < D; j++) dbp[j] += dyr[j];
            }
            if (!dx) continue;
            float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
            for (int64_t j = 0; j < D; j++) {
                const float g = w ? dyr[j] * w[j] : dyr[j];
                sg += g;
                sgx += g * (xr[j] - mu) * rs;
            }
            const float mg = mean ? sg / (float)D : 0.0f, mgx = sgx / (float)D;
            float *dxr = dx + r * D;
            if (dx_fresh) {
#pragma omp simd
                for (int64_t j = 0; j < D; j++) {
                    const float g = w ? dyr[j] * w[j] : dyr[j];
                    dxr[j] = rs * (g - mg - (xr[j] - mu) * rs * mgx);
                }
                continue;
            }
#pragma omp simd
            for (int64_t j = 0; j < D; j++) {
                const float g = w ? dyr[j] * w[j] : dyr[j];
                dxr[j] += rs * (g - mg - (xr[j] - mu) * rs * mgx);
            }
        }
    }
}

/* dp[j] += sum over blocks of part[blk][j], added in block order (= when
 * fresh). */
static void sum_partials(float *dp, bool fresh, const float *part, int64_t nblk, int64_t D)
{
#pragma omp parallel for schedule(static) if (nblk * D > TG_OMP_MIN)
    for (int64_t j = 0; j < D; j++) {
        double s = 0.0;
        for (int64_t blk = 0; blk < nblk; blk++) s += part[blk * D + j];
        dp[j] = (fresh ? 0.0f : dp[j]) + (float)s;
    }
}

static tg_status norm_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const norm_attr *a = tg_op_attr(ctx);
    const tg_tensor *x = tg_op_input(ctx, 0);
    const tg_shape *xs = tg_tensor_shape(x);
    const int64_t D = xs->dims[xs->ndim - 1], rows = D ? tg_shape_numel(xs) / D : 0;
    tg_tensor *dw = a->has_w ? din[1] : NULL, *db = a->has_b ? din[1 + a->has_w] : NULL;
    /* about 8K elements per block, at most 64 blocks: enough for the threads */
    int64_t nblk = rows * D / 8192;
    nblk = nblk < 1 ? 1 : nblk > 64 ? 64 : nblk;
    if (nblk > rows) nblk = rows;
    if (nblk == 0) { /* no rows: fresh parameter gradients still need their zeros */
        for (int i = 1; i < tg_op_n_in(ctx); i++)
            if (tg_op_grad_fresh(ctx, i)) memset(tg_f32(din[i]), 0, tg_tensor_nbytes(din[i]));
        return TG_OK;
    }
    float *dw_part = NULL, *db_part = NULL;
    const size_t part_bytes = sizeof(float) * (size_t)(nblk * D);
    if (dw && !(dw_part = tg_op_scratch(ctx, part_bytes))) return TG_ERR_OOM;
    if (db && !(db_part = tg_op_scratch(ctx, part_bytes))) return TG_ERR_OOM;
    if (dw_part) memset(dw_part, 0, part_bytes);
    if (db_part) memset(db_part, 0, part_bytes);
    norm_bwd_kernel(din[0] ? tg_f32(din[0]) : NULL, tg_op_grad_fresh(ctx, 0), dw_part, db_part,
                    a->rms ? NULL : tg_f32(tg_op_saved(ctx, 1)), tg_f32(tg_op_saved(ctx, 0)), tg_f32(dout), tg_f32(x),
                    a->has_w ? tg_f32(tg_op_input(ctx, 1)) : NULL, rows, D, nblk);
    if (dw) sum_partials(tg_f32(dw), tg_op_grad_fresh(ctx, 1), dw_part, nblk, D);
    if (db) sum_partials(tg_f32(db), tg_op_grad_fresh(ctx, 1 + a->has_w), db_part, nblk, D);
    return TG_OK;
}

/* ---- descriptors ---- */

static const tg_op layer_norm_op = {.name = "layer_norm",
                                    .n_in = -1,
                                    .flags = TG_OP_FRESH_GRADS,
                                    .infer = norm_infer,
                                    .forward = norm_forward,
                                    .backward = norm_backward};
static const tg_op rms_norm_op = {.name = "rms_norm",
                                  .n_in = -1,
                                  .flags = TG_OP_FRESH_GRADS,
                                  .infer = norm_infer,
                                  .forward = norm_forward,
                                  .backward = norm_backward};

tg_status tg_register_norm_ops(void)
{
    TG_TRY(tg_op_register(&layer_norm_op));
    return tg_op_register(&rms_norm_op);
}

static tg_tensor *norm_apply(const tg_op *op, const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, double eps,
                             bool rms, tg_dtype out)
{
    if (!x) return NULL; /* keep the earlier call's message */
    norm_attr a = {.eps = (float)eps, .rms = rms, .has_w = w != NULL, .has_b = b != NULL, .bf16_out = out == TG_BF16};
    if (!(eps >= 0.0)) {
        tg_error(TG_ERR_INVALID, "%s: eps must be >= 0, got %g", norm_name(&a), eps);
        return NULL;
    }
    if (out != TG_F32 && out != TG_BF16) {
        tg_error(TG_ERR_DTYPE, "%s: output dtype must be f32 or bf16, got %s", norm_name(&a), tg_dtype_name(out));
        return NULL;
    }
    const tg_tensor *in[3] = {x};
    int n = 1;
    if (w) in[n++] = w;
    if (b) in[n++] = b;
    return tg_apply(op, in, n, &a, sizeof a);
}

tg_tensor *tg_layer_norm(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, double eps)
{
    return tg_layer_norm_with(x, w, b, eps, NULL);
}

tg_tensor *tg_rms_norm(const tg_tensor *x, const tg_tensor *w, double eps) { return tg_rms_norm_with(x, w, eps, NULL); }

tg_tensor *tg_layer_norm_with(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, double eps,
                              const tg_layer_norm_opts *opts)
{
    return norm_apply(&layer_norm_op, x, w, b, eps, false, opts ? opts->out : TG_F32);
}

tg_tensor *tg_rms_norm_with(const tg_tensor *x, const tg_tensor *w, double eps, const tg_rms_norm_opts *opts)
{
    return norm_apply(&rms_norm_op, x, w, NULL, eps, true, opts ? opts->out : TG_F32);
}
