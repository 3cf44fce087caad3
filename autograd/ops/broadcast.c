/* NumPy broadcasting shared by binary, where and masked ops. */
#include <string.h>

#include "autograd/ops/ops_internal.h"

tg_status tg_ops_require_f32(const tg_tensor *t, const char *fn, const char *arg)
{
    if (tg_tensor_dtype(t) == TG_F32) return TG_OK;
    return tg_error(TG_ERR_DTYPE, "%s: %s must be f32, got %s", fn, arg, tg_dtype_name(tg_tensor_dtype(t)));
}

tg_status tg_ops_axis(int axis, int ndim, const char *fn, int *out)
{
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim) return tg_error(TG_ERR_INVALID, "%s: axis %d out of range for rank %d", fn, axis, ndim);
    *out = a;
    return TG_OK;
}

tg_status tg_broadcast_shape(const tg_shape *a, const tg_shape *b, tg_shape *out, const char *fn)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    out->ndim = n;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[96], sb[96];
            return tg_error(TG_ERR_SHAPE, "%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)", fn,
                            tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb), i, (long long)da,
                            (long long)db);
        }
        out->dims[i] = da == 1 ? db : da;
    }
    return TG_OK;
}

static void plan_strides(int64_t *stride, const tg_shape *s, const tg_shape *out)
{
    int n = out->ndim;
    int64_t acc = 1;
    for (int i = n - 1; i >= 0; i--) {
        int is = i - (n - s->ndim);
        int64_t d = is >= 0 ? s->dims[is] : 1;
        stride[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

void tg_bcast_plan(tg_bcast *p, const tg_shape *a, const tg_shape *b, const tg_shape *out)
{
    memset(p, 0, sizeof *p);
    p->ndim = out->ndim;
    memcpy(p->dims, out->dims, sizeof p->dims);
    plan_strides(p->stride[0], a, out);
    plan_strides(p->stride[1], b, out);
    p->cols = out->ndim ? out->dims[out->ndim - 1] : 1;
    p->rows = p->cols ? tg_shape_numel(out) / p->cols : 0;
}

int64_t tg_bcast_row_offset(const tg_bcast *p, int which, int64_t row)
{
    int64_t off = 0;
    for (int d = p->ndim - 2; d >= 0; d--) {
        off += (row % p->dims[d]) * p->stride[which][d];
        row /= p->dims[d];
    }
    return off;
}

bool tg_bcast_rows_shared(const tg_bcast *p, int which)
{
    for (int d = 0; d < p->ndim - 1; d++)
        if (p->stride[which][d] == 0 && p->dims[d] > 1) return true;
    return false;
}

void tg_reduce_to_shape(float *dst, const tg_shape *to, const float *src, const tg_shape *from)
{
    tg_bcast p;
    tg_bcast_plan(&p, to, to, from);
    const int64_t cols = p.cols, sl = p.ndim ? p.stride[0][p.ndim - 1] : 0;
    const bool shared = tg_bcast_rows_shared(&p, 0);
#pragma omp parallel for if (!shared && p.rows * cols > TG_OMP_MIN)
    for (int64_t r = 0; r < p.rows; r++) {
        float *d = dst + tg_bcast_row_offset(&p, 0, r);
        const float *s = src + r * cols;
        if (sl) {
            for (int64_t j = 0; j < cols; j++) d[j] += s[j];
        } else {
            float acc = 0;
            for (int64_t j = 0; j < cols; j++) acc += s[j];
            d[0] += acc;
        }
    }
}
