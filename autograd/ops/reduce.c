/* Reductions over a set of axes: sum, mean, max (keepdim optional). */
#include <math.h>
#include <string.h>

#include "autograd/ops/ops_internal.h"

typedef struct reduce_attr {
    uint8_t axis_mask[TG_MAX_DIMS]; /* 1 where the input axis is reduced */
    bool keepdim;
} reduce_attr;

/* Input geometry: for every output element, where its reduced block starts
 * and how to walk the reduced axes. */
typedef struct reduce_plan {
    int nk, nr; /* kept and reduced axes */
    int64_t kdim[TG_MAX_DIMS], kstride[TG_MAX_DIMS];
    int64_t rdim[TG_MAX_DIMS], rstride[TG_MAX_DIMS];
    int64_t count; /* elements per reduced block */
} reduce_plan;

static void plan(reduce_plan *p, const tg_shape *s, const reduce_attr *a)
{
    memset(p, 0, sizeof *p);
    int64_t stride = 1, strides[TG_MAX_DIMS];
    for (int d = s->ndim - 1; d >= 0; d--) {
        strides[d] = stride;
        stride *= s->dims[d];
    }
    p->count = 1;
    for (int d = 0; d < s->ndim; d++) {
        if (a->axis_mask[d]) {
            p->rdim[p->nr] = s->dims[d];
            p->rstride[p->nr++] = strides[d];
            p->count *= s->dims[d];
        } else {
            p->kdim[p->nk] = s->dims[d];
            p->kstride[p->nk++] = strides[d];
        }
    }
}

static int64_t block_base(const reduce_plan *p, int64_t o)
{
    int64_t off = 0;
    for (int k = p->nk - 1; k >= 0; k--) {
        off += (o % p->kdim[k]) * p->kstride[k];
        o /= p->kdim[k];
    }
    return off;
}

static int64_t reduced_offset(const reduce_plan *p, int64_t r)
{
    int64_t off = 0;
    for (int k = p->nr - 1; k >= 0; k--) {
        off += (r % p->rdim[k]) * p->rstride[k];
        r /= p->rdim[k];
    }
    return off;
}

/* ---- shape inference ---- */

static tg_status reduce_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    const reduce_attr *a = attr;
    const tg_shape *s = tg_tensor_shape(in[0]);
    TG_TRY(tg_ops_require_f32(in[0], "reduce", "x"));
    out->ndim = 0;
    for (int d = 0; d < s->ndim; d++) {
        if (!a->axis_mask[d])
            out->dims[out->ndim++] = s->dims[d];
        else if (a->keepdim)
            out->dims[out->ndim++] = 1;
    }
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

static tg_status sum_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    reduce_plan p;
    plan(&p, tg_tensor_shape(in[0]), attr);
    const bool mean = !strcmp(tg_op_of(ctx)->name, "mean");
    const float *x = tg_f32(in[0]);
    float *y = tg_f32(out);
    const int64_t n_out = tg_tensor_numel(out);
#pragma omp parallel for if (n_out * p.count > TG_OMP_MIN)
    for (int64_t o = 0; o < n_out; o++) {
        const float *xb = x + block_base(&p, o);
        double acc = 0;
        for (int64_t r = 0; r < p.count; r++) acc += xb[reduced_offset(&p, r)];
        y[o] = (float)(mean && p.count ? acc / (double)p.count : acc);
    }
    return TG_OK;
}

static tg_status max_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    reduce_plan p;
    plan(&p, tg_tensor_shape(in[0]), attr);
    if (p.count == 0) return tg_error(TG_ERR_SHAPE, "max: reducing over an empty axis");
    const float *x = tg_f32(in[0]);
    float *y = tg_f32(out);
    const int64_t n_out = tg_tensor_numel(out);
    tg_tensor *arg = tg_op_recording(ctx) ? tg_tensor_empty(TG_STEP, *tg_tensor_shape(out), TG_S32) : NULL;
    if (tg_op_recording(ctx) && !arg) return TG_ERR_OOM;
#pragma omp parallel for if (n_out * p.count > TG_OMP_MIN)
    for (int64_t o = 0; o < n_out; o++) {
        int64_t base = block_base(&p, o), best = base + reduced_offset(&p, 0);
        for (int64_t r = 1; r < p.count; r++) {
            int64_t i = base + reduced_offset(&p, r);
            if (x[i] > x[best] || (isnan(x[i]) && !isnan(x[best]))) best = i;
        }
        y[o] = x[best];
        if (arg) tg_s32(arg)[o] = (int32_t)best;
    }
    return tg_op_save(ctx, arg);
}

/* ---- backward ---- */

static tg_status sum_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    reduce_plan p;
    plan(&p, tg_tensor_shape(tg_op_input(ctx, 0)), tg_op_attr(ctx));
    const bool mean = !strcmp(tg_op_of(ctx)->name, "mean");
    const float scale = mean && p.count ? 1.0f / (float)p.count : 1.0f;
    const float *dy = tg_f32(dout);
    float *dx = tg_f32(din[0]);
    const int64_t n_out = tg_tensor_numel(dout);
#pragma omp parallel for if (n_out * p.count > TG_OMP_MIN)
    for (int64_t o = 0; o < n_out; o++) {
        float *db = dx + block_base(&p, o);
        const float g = dy[o] * scale;
        for (int64_t r = 0; r < p.count; r++) db[reduced_offset(&p, r)] += g;
    }
    return TG_OK;
}

static tg_status max_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const int32_t *arg = tg_s32(tg_op_saved(ctx, 0));
    const float *dy = tg_f32(dout);
    float *dx = tg_f32(din[0]);
    for (int64_t o = 0; o < tg_tensor_numel(dout); o++) dx[arg[o]] += dy[o];
    return TG_OK;
}

/* ---- descriptors ---- */

static const tg_op sum_op = {
    .name = "sum", .n_in = 1, .infer = reduce_infer, .forward = sum_forward, .backward = sum_backward};
static const tg_op mean_op = {
    .name = "mean", .n_in = 1, .infer = reduce_infer, .forward = sum_forward, .backward = sum_backward};
static const tg_op max_op = {
    .name = "max", .n_in = 1, .infer = reduce_infer, .forward = max_forward, .backward = max_backward};

tg_status tg_register_reduce_ops(void)
{
    TG_TRY(tg_op_register(&sum_op));
    TG_TRY(tg_op_register(&mean_op));
    return tg_op_register(&max_op);
}

static tg_tensor *reduce(const tg_op *op, const tg_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    if (!x) return NULL;
    reduce_attr a = {.keepdim = keepdim};
    int nd = tg_tensor_ndim(x);
    for (int i = 0; i < n_axes; i++) {
        int ax;
        if (tg_ops_axis(axes[i], nd, op->name, &ax) != TG_OK) return NULL;
        if (a.axis_mask[ax]) {
            tg_error(TG_ERR_INVALID, "%s: axis %d given twice", op->name, axes[i]);
            return NULL;
        }
        a.axis_mask[ax] = 1;
    }
    if (n_axes == 0) memset(a.axis_mask, 1, sizeof a.axis_mask);
    return tg_apply(op, &x, 1, &a, sizeof a);
}

tg_tensor *tg_sum(const tg_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return reduce(&sum_op, x, axes, n_axes, keepdim);
}

tg_tensor *tg_mean(const tg_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return reduce(&mean_op, x, axes, n_axes, keepdim);
}

tg_tensor *tg_max(const tg_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return reduce(&max_op, x, axes, n_axes, keepdim);
}
