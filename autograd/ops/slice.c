/* Slicing along one axis and concatenation of several tensors along one
 * axis. Both view a tensor as (outer, axis, inner) and move contiguous runs of
 * axis * inner elements. Any dtype in forward; gradients are f32. */
#include <string.h>

#include "autograd/ops/ops_internal.h"

typedef struct slice_attr {
    int axis;           /* normalized */
    int64_t start, end; /* clamped to 0 <= start <= end <= dim */
} slice_attr;

typedef struct concat_attr {
    int axis; /* normalized */
} concat_attr;

/* Product of the dims before / after `axis`. */
static int64_t outer_of(const tg_shape *s, int axis)
{
    int64_t n = 1;
    for (int d = 0; d < axis; d++) n *= s->dims[d];
    return n;
}

static int64_t inner_of(const tg_shape *s, int axis)
{
    int64_t n = 1;
    for (int d = axis + 1; d < s->ndim; d++) n *= s->dims[d];
    return n;
}

/* ---- shape inference ---- */

static tg_status slice_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    const slice_attr *a = attr;
    *out = *tg_tensor_shape(in[0]);
    out->dims[a->axis] = a->end - a->start;
    *dt = tg_tensor_dtype(in[0]);
    return TG_OK;
}

static tg_status concat_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    const int axis = ((const concat_attr *)attr)->axis;
    const tg_shape *s0 = tg_tensor_shape(in[0]);
    *out = *s0;
    out->dims[axis] = 0;
    for (int i = 0; i < n_in; i++) {
        const tg_shape *s = tg_tensor_shape(in[i]);
        char a[96], b[96];
        if (tg_tensor_dtype(in[i]) != tg_tensor_dtype(in[0]))
            return tg_error(TG_ERR_DTYPE, "concat: input %d is %s, input 0 is %s", i,
                            tg_dtype_name(tg_tensor_dtype(in[i])), tg_dtype_name(tg_tensor_dtype(in[0])));
        bool fits = s->ndim == s0->ndim;
        for (int d = 0; fits && d < s->ndim; d++) fits = d == axis || s->dims[d] == s0->dims[d];
        if (!fits)
            return tg_error(TG_ERR_SHAPE, "concat: input %d has shape %s, input 0 has %s (only axis %d may differ)", i,
                            tg_shape_str(s, a, sizeof a), tg_shape_str(s0, b, sizeof b), axis);
        out->dims[axis] += s->dims[axis];
    }
    *dt = tg_tensor_dtype(in[0]);
    return TG_OK;
}

/* ---- forward ---- */

/* dst[o, dst_off + k] = src[o, src_off + k] for k < run, over `outer` rows of
 * dst_row / src_row bytes. */
static void copy_rows(char *dst, const char *src, int64_t outer, int64_t dst_row, int64_t src_row, int64_t dst_off,
                      int64_t src_off, int64_t run)
{
#pragma omp parallel for if (outer * run > 4 * TG_OMP_MIN)
    for (int64_t o = 0; o < outer; o++) memcpy(dst + o * dst_row + dst_off, src + o * src_row + src_off, (size_t)run);
}

static tg_status slice_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    const slice_attr *a = attr;
    const tg_shape *s = tg_tensor_shape(in[0]);
    const int64_t es = (int64_t)tg_dtype_size(tg_tensor_dtype(out));
    const int64_t inner = inner_of(s, a->axis) * es, len = (a->end - a->start) * inner;
    if (len == 0) return TG_OK;
    copy_rows(tg_tensor_data(out), tg_tensor_data(in[0]), outer_of(s, a->axis), len, s->dims[a->axis] * inner, 0,
              a->start * inner, len);
    return TG_OK;
}

static tg_status concat_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    const int axis = ((const concat_attr *)attr)->axis;
    const tg_shape *so = tg_tensor_shape(out);
    const int64_t es = (int64_t)tg_dtype_size(tg_tensor_dtype(out));
    const int64_t outer = outer_of(so, axis), inner = inner_of(so, axis) * es;
    const int64_t out_row = so->dims[axis] * inner;
    int64_t off = 0;
    for (int i = 0; i < n_in; i++) {
        const int64_t run = tg_tensor_shape(in[i])->dims[axis] * inner;
        if (run) copy_rows(tg_tensor_data(out), tg_tensor_data(in[i]), outer, out_row, run, off, 0, run);
        off += run;
    }
    return TG_OK;
}

/* ---- backward ---- */

/* dst[o, dst_off + k] += src[o, src_off + k] for k < run (f32 elements). */
static void add_rows(float *dst, const float *src, int64_t outer, int64_t dst_row, int64_t src_row, int64_t dst_off,
                     int64_t src_off, int64_t run)
{
#pragma omp parallel for if (outer * run > TG_OMP_MIN)
    for (int64_t o = 0; o < outer; o++) {
        float *d = dst + o * dst_row + dst_off;
        const float *s = src + o * src_row + src_off;
        for (int64_t k = 0; k < run; k++) d[k] += s[k];
    }
}

static tg_status slice_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const slice_attr *a = tg_op_attr(ctx);
    const tg_shape *s = tg_tensor_shape(tg_op_input(ctx, 0));
    const int64_t inner = inner_of(s, a->axis), len = (a->end - a->start) * inner;
    if (len) /* dx[:, start:end] += dy */
        add_rows(tg_f32(din[0]), tg_f32(dout), outer_of(s, a->axis), s->dims[a->axis] * inner, len, a->start * inner, 0,
                 len);
    return TG_OK;
}

static tg_status concat_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const int axis = ((const concat_attr *)tg_op_attr(ctx))->axis;
    const tg_shape *so = tg_tensor_shape(dout);
    const int64_t outer = outer_of(so, axis), inner = inner_of(so, axis), out_row = so->dims[axis] * inner;
    int64_t off = 0;
    for (int i = 0; i < tg_op_n_in(ctx); i++) {
        const int64_t run = tg_tensor_shape(tg_op_input(ctx, i))->dims[axis] * inner;
        if (din[i] && run) add_rows(tg_f32(din[i]), tg_f32(dout), outer, run, out_row, 0, off, run);
        off += run;
    }
    return TG_OK;
}

/* ---- descriptors ---- */

static const tg_op slice_op = {
    .name = "slice", .n_in = 1, .infer = slice_infer, .forward = slice_forward, .backward = slice_backward};
static const tg_op concat_op = {
    .name = "concat", .n_in = -1, .infer = concat_infer, .forward = concat_forward, .backward = concat_backward};

tg_status tg_register_slice_ops(void)
{
    TG_TRY(tg_op_register(&slice_op));
    return tg_op_register(&concat_op);
}

/* Python slice bound: negative counts from the end, then clamped to [0, dim]. */
static int64_t clamp_bound(int64_t v, int64_t dim)
{
    if (v < 0) v += dim;
    return v < 0 ? 0 : v > dim ? dim : v;
}

tg_tensor *tg_slice(const tg_tensor *x, int axis, int64_t start, int64_t end)
{
    if (!x) return NULL;
    slice_attr a;
    if (tg_ops_axis(axis, tg_tensor_ndim(x), "slice", &a.axis) != TG_OK) return NULL;
    const int64_t dim = tg_tensor_shape(x)->dims[a.axis];
    a.start = clamp_bound(start, dim);
    a.end = clamp_bound(end, dim);
    if (a.end < a.start) a.end = a.start; /* empty, like x[5:2] */
    return tg_apply(&slice_op, &x, 1, &a, sizeof a);
}

tg_tensor *tg_concat(const tg_tensor *const *xs, int n, int axis)
{
    if (n < 1 || !xs) {
        tg_error(TG_ERR_INVALID, "concat: needs at least one tensor, got %d", n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!xs[i]) return NULL; /* an earlier call failed; keep its message */
    concat_attr a;
    if (tg_ops_axis(axis, tg_tensor_ndim(xs[0]), "concat", &a.axis) != TG_OK) return NULL;
    return tg_apply(&concat_op, xs, n, &a, sizeof a);
}
