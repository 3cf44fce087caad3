/* Selection by a condition: where(cond, a, b) with broadcasting across all
 * three, and masked_fill(x, mask, value). The condition (s32 or f32,
 * nonzero = true) gets no gradient. */
#include <string.h>

#include "autograd/ops/ops_internal.h"

typedef struct masked_fill_attr {
    float value;
} masked_fill_attr;

/* Three-way broadcast plan built from two two-way plans over the same output
 * shape: `ca` holds the strides of cond (0) and a (1), `bb` those of b (0). */
typedef struct where_plan {
    tg_bcast ca, bb;
} where_plan;

static void where_plan_make(where_plan *p, const tg_shape *c, const tg_shape *a, const tg_shape *b, const tg_shape *out)
{
    tg_bcast_plan(&p->ca, c, a, out);
    tg_bcast_plan(&p->bb, b, b, out);
}

static int64_t last_stride(const tg_bcast *p, int which) { return p->ndim ? p->stride[which][p->ndim - 1] : 0; }

/* Condition element i as a truth value. */
static inline bool cond_at(const void *c, bool is_f32, int64_t i)
{
    return is_f32 ? ((const float *)c)[i] != 0.0f : ((const int32_t *)c)[i] != 0;
}

static tg_status check_cond(const tg_tensor *c, const char *fn, const char *arg)
{
    tg_dtype dt = tg_tensor_dtype(c);
    if (dt == TG_S32 || dt == TG_F32) return TG_OK;
    return tg_error(TG_ERR_DTYPE, "%s: %s must be s32 or f32, got %s", fn, arg, tg_dtype_name(dt));
}

/* ---- shape inference ---- */

static tg_status where_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    (void)attr;
    TG_TRY(check_cond(in[0], "where", "cond"));
    TG_TRY(tg_ops_require_f32(in[1], "where", "a"));
    TG_TRY(tg_ops_require_f32(in[2], "where", "b"));
    tg_shape ab;
    TG_TRY(tg_broadcast_shape(tg_tensor_shape(in[1]), tg_tensor_shape(in[2]), &ab, "where (a, b)"));
    TG_TRY(tg_broadcast_shape(tg_tensor_shape(in[0]), &ab, out, "where (cond, a/b)"));
    *dt = TG_F32;
    return TG_OK;
}

static tg_status masked_fill_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    (void)attr;
    TG_TRY(tg_ops_require_f32(in[0], "masked_fill", "x"));
    TG_TRY(check_cond(in[1], "masked_fill", "mask"));
    const tg_shape *xs = tg_tensor_shape(in[0]), *ms = tg_tensor_shape(in[1]);
    tg_shape b;
    tg_status st = tg_broadcast_shape(xs, ms, &b, "masked_fill");
    if (st != TG_OK || !tg_shape_equal(&b, xs)) {
        char sx[96], sm[96];
        return tg_error(TG_ERR_SHAPE, "masked_fill: mask %s does not broadcast to x %s",
                        tg_shape_str(ms, sm, sizeof sm), tg_shape_str(xs, sx, sizeof sx));
    }
    *out = *xs;
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

static tg_status where_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    (void)attr;
    where_plan p;
    where_plan_make(&p, tg_tensor_shape(in[0]), tg_tensor_shape(in[1]), tg_tensor_shape(in[2]), tg_tensor_shape(out));
    const void *c = tg_tensor_data(in[0]);
    const bool cf = tg_tensor_dtype(in[0]) == TG_F32;
    const float *a = tg_f32(in[1]), *b = tg_f32(in[2]);
    float *y = tg_f32(out);
    const int64_t rows = p.ca.rows, cols = p.ca.cols;
    const int64_t sc = last_stride(&p.ca, 0), sa = last_stride(&p.ca, 1), sb = last_stride(&p.bb, 0);
#pragma omp parallel for if (rows * cols > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t oc = tg_bcast_row_offset(&p.ca, 0, r), oa = tg_bcast_row_offset(&p.ca, 1, r);
        const int64_t ob = tg_bcast_row_offset(&p.bb, 0, r);
        float *yr = y + r * cols;
        for (int64_t j = 0; j < cols; j++) yr[j] = cond_at(c, cf, oc + j * sc) ? a[oa + j * sa] : b[ob + j * sb];
    }
    return TG_OK;
}

static tg_status masked_fill_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr,
                                     tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    const float v = ((const masked_fill_attr *)attr)->value;
    tg_bcast p;
    tg_bcast_plan(&p, tg_tensor_shape(in[1]), tg_tensor_shape(in[1]), tg_tensor_shape(out));
    const void *m = tg_tensor_data(in[1]);
    const bool mf = tg_tensor_dtype(in[1]) == TG_F32;
    const float *x = tg_f32(in[0]);
    float *y = tg_f32(out);
    const int64_t cols = p.cols, sm = last_stride(&p, 0);
#pragma omp parallel for if (p.rows * cols > TG_OMP_MIN)
    for (int64_t r = 0; r < p.rows; r++) {
        const int64_t om = tg_bcast_row_offset(&p, 0, r);
        for (int64_t j = 0; j < cols; j++) {
            const int64_t i = r * cols + j;
            y[i] = cond_at(m, mf, om + j * sm) ? v : x[i];
        }
    }
    return TG_OK;
}

/* ---- backward ---- */

/* g (the output's shape) = dy where the broadcast condition equals `keep`,
 * else 0. `p` plans the condition as its input 0. */
static void select_grad(float *g, const tg_bcast *p, const void *c, bool cf, bool keep, const float *dy)
{
    const int64_t cols = p->cols, sc = last_stride(p, 0);
#pragma omp parallel for if (p->rows * cols > TG_OMP_MIN)
    for (int64_t r = 0; r < p->rows; r++) {
        const int64_t oc = tg_bcast_row_offset(p, 0, r);
        for (int64_t j = 0; j < cols; j++) {
            const int64_t i = r * cols + j;
            g[i] = cond_at(c, cf, oc + j * sc) == keep ? dy[i] : 0.0f;
        }
    }
}

/* dx (shape xs, broadcasting to the output) += the selected part of dy. */
static tg_status select_grad_add(tg_op_ctx *ctx, float *dx, const tg_shape *xs, const tg_bcast *p,
                                 const tg_tensor *cond, bool keep, const tg_tensor *dout)
{
    const tg_shape *os = tg_tensor_shape(dout);
    const int64_t n = tg_tensor_numel(dout);
    float *g = tg_op_scratch(ctx, (size_t)(n ? n : 1) * sizeof *g); /* output's shape */
    if (!g) return tg_error(TG_ERR_OOM, "%s: no scratch for %lld gradient elements", tg_op_of(ctx)->name, (long long)n);
    select_grad(g, p, tg_tensor_data(cond), tg_tensor_dtype(cond) == TG_F32, keep, tg_f32(dout));
    tg_reduce_to_shape(dx, xs, g, os);
    return TG_OK;
}

static tg_status where_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const tg_tensor *cond = tg_op_input(ctx, 0);
    tg_bcast p;
    tg_bcast_plan(&p, tg_tensor_shape(cond), tg_tensor_shape(cond), tg_tensor_shape(dout));
    for (int i = 1; i <= 2; i++) /* da where cond, db where !cond */
        if (din[i])
            TG_TRY(select_grad_add(ctx, tg_f32(din[i]), tg_tensor_shape(tg_op_input(ctx, i)), &p, cond, i == 1, dout));
    return TG_OK;
}

static tg_status masked_fill_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    if (!din[0]) return TG_OK;
    const tg_tensor *mask = tg_op_input(ctx, 1);
    tg_bcast p;
    tg_bcast_plan(&p, tg_tensor_shape(mask), tg_tensor_shape(mask), tg_tensor_shape(dout));
    return select_grad_add(ctx, tg_f32(din[0]), tg_tensor_shape(dout), &p, mask, false, dout); /* dx where !mask */
}

/* ---- descriptors ---- */

static const tg_op where_op = {
    .name = "where", .n_in = 3, .infer = where_infer, .forward = where_forward, .backward = where_backward};
static const tg_op masked_fill_op = {.name = "masked_fill",
                                     .n_in = 2,
                                     .infer = masked_fill_infer,
                                     .forward = masked_fill_forward,
                                     .backward = masked_fill_backward};

tg_status tg_register_where_ops(void)
{
    TG_TRY(tg_op_register(&where_op));
    return tg_op_register(&masked_fill_op);
}

tg_tensor *tg_where(const tg_tensor *cond, const tg_tensor *a, const tg_tensor *b)
{
    const tg_tensor *in[3] = {cond, a, b};
    return tg_apply(&where_op, in, 3, NULL, 0);
}

tg_tensor *tg_masked_fill(const tg_tensor *x, const tg_tensor *mask, double value)
{
    const tg_tensor *in[2] = {x, mask};
    masked_fill_attr a = {.value = (float)value};
    return tg_apply(&masked_fill_op, in, 2, &a, sizeof a);
}
