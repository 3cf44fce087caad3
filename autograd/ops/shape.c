/* Shape ops: reshape (a view sharing the input's data) and permute /
 * transpose (a copy into a contiguous output; backward is the inverse
 * permutation). */
#include <stdio.h>
#include <string.h>

#include "autograd/ops/ops_internal.h"

typedef struct reshape_attr {
    tg_shape shape; /* requested shape, may hold one -1 */
} reshape_attr;

typedef struct permute_attr {
    int perm[TG_MAX_DIMS]; /* output dim i is input dim perm[i] */
} permute_attr;

/* Permute geometry after merging output dims that stay adjacent in the input
 * and dropping size-1 dims: output dims with their input strides. */
typedef struct permute_plan {
    int n;
    int64_t dims[TG_MAX_DIMS];
    int64_t istride[TG_MAX_DIMS]; /* input element stride of output dim i */
    int64_t ostride[TG_MAX_DIMS]; /* output element stride of output dim i */
} permute_plan;

#define PERMUTE_TILE 32

static void permute_plan_make(permute_plan *p, const tg_shape *in, const int *perm)
{
    int64_t stride[TG_MAX_DIMS], acc = 1;
    for (int d = in->ndim - 1; d >= 0; d--) {
        stride[d] = acc;
        acc *= in->dims[d];
    }
    memset(p, 0, sizeof *p);
    for (int i = 0; i < in->ndim; i++) {
        int64_t dim = in->dims[perm[i]], st = stride[perm[i]];
        if (dim == 1) continue;
        /* previous output dim is the next-outer input dim: merge */
        if (p->n && p->istride[p->n - 1] == st * dim) {
            p->dims[p->n - 1] *= dim;
            p->istride[p->n - 1] = st;
            continue;
        }
        p->dims[p->n] = dim;
        p->istride[p->n++] = st;
    }
    if (p->n == 0) { /* all size 1: one element */
        p->n = 1;
        p->dims[0] = 1;
        p->istride[0] = 1;
    }
    acc = 1;
    for (int i = p->n - 1; i >= 0; i--) {
        p->ostride[i] = acc;
        acc *= p->dims[i];
    }
}

/* Input and output offsets of "outer" index o, which enumerates every output
 * dim except those in `skip0` and `skip1` (-1: none). */
static void outer_offsets(const permute_plan *p, int skip0, int skip1, int64_t o, int64_t *io, int64_t *oo)
{
    int64_t a = 0, b = 0;
    for (int d = p->n - 1; d >= 0; d--) {
        if (d == skip0 || d == skip1) continue;
        int64_t k = o % p->dims[d];
        o /= p->dims[d];
        a += k * p->istride[d];
        b += k * p->ostride[d];
    }
    *io = a;
    *oo = b;
}

/* One kernel body for the copy and accumulate variants. When the innermost
 * output dim is contiguous in the input, rows are copied straight; otherwise
 * 32x32 tiles over (the input's contiguous dim, the output's) keep both reads
 * and writes within a few cache lines. */
#define PERMUTE_BODY(STORE)                                                                                            \
    const int n = p->n, last = n - 1;                                                                                  \
    int k = -1;                                                                                                        \
    for (int d = 0; d < n; d++)                                                                                        \
        if (p->istride[d] == 1) k = d;                                                                                 \
    if (k == last || k < 0) {                                                                                          \
        const int64_t cols = p->dims[last], rows = numel / (cols ? cols : 1);                                          \
        const int64_t sl = p->istride[last];                                                                           \
        _Pragma("omp parallel for if (numel > TG_OMP_MIN)") for (int64_t r = 0; r < rows; r++)                         \
        {                                                                                                              \
            int64_t io, oo;                                                                                            \
            outer_offsets(p, last, -1, r, &io, &oo);                                                                   \
            for (int64_t j = 0; j < cols; j++) STORE(y[oo + j], x[io + j * sl]);                                       \
        }                                                                                                              \
    } else {                                                                                                           \
        const int64_t di = p->dims[k], dj = p->dims[last], sj = p->istride[last];                                      \
        const int64_t osi = p->ostride[k];                                                                             \
        const int64_t ti = (di + PERMUTE_TILE - 1) / PERMUTE_TILE;                                                     \
        const int64_t tj = (dj + PERMUTE_TILE - 1) / PERMUTE_TILE;                                                     \
        const int64_t outer = numel / (di * dj), tiles = outer * ti * tj;                                              \
        _Pragma("omp parallel for if (numel > TG_OMP_MIN)") for (int64_t t = 0; t < tiles; t++)                        \
        {                                                                                                              \
            int64_t io, oo;                                                                                            \
            outer_offsets(p, k, last, t / (ti * tj), &io, &oo);                                                        \
            const int64_t i0 = (t / tj % ti) * PERMUTE_TILE, j0 = (t % tj) * PERMUTE_TILE;                             \
            const int64_t i1 = i0 + PERMUTE_TILE < di ? i0 + PERMUTE_TILE : di;                                        \
            const int64_t j1 = j0 + PERMUTE_TILE < dj ? j0 + PERMUTE_TILE : dj;                                        \
            for (int64_t i = i0; i < i1; i++)                                                                          \
                for (int64_t j = j0; j < j1; j++) STORE(y[oo + i * osi + j], x[io + i + j * sj]);                      \
        }                                                                                                              \
    }

#define STORE_SET(dst, src) ((dst) = (src))
#define STORE_ADD(dst, src) ((dst) += (src))

/* y (permuted) = x, 4-byte elements (f32 and s32 bit patterns). */
static void permute_copy32(uint32_t *y, const uint32_t *x, const permute_plan *p, int64_t numel)
{
    PERMUTE_BODY(STORE_SET)
}

/* y (permuted) = x, 2-byte elements (bf16). */
static void permute_copy16(uint16_t *y, const uint16_t *x, const permute_plan *p, int64_t numel)
{
    PERMUTE_BODY(STORE_SET)
}

/* y (permuted) += x. */
static void permute_add_f32(float *y, const float *x, const permute_plan *p, int64_t numel) { PERMUTE_BODY(STORE_ADD) }

/* ---- shape inference ---- */

static tg_status reshape_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    const tg_shape *req = &((const reshape_attr *)attr)->shape;
    const tg_shape *s = tg_tensor_shape(in[0]);
    char a[96], b[96];
    if (req->ndim < 0 || req->ndim > TG_MAX_DIMS)
        return tg_error(TG_ERR_SHAPE, "reshape: rank %d out of range 0..%d", req->ndim, TG_MAX_DIMS);
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < req->ndim; i++) {
        if (req->dims[i] == -1) {
            if (infer_at >= 0)
                return tg_error(TG_ERR_SHAPE, "reshape: more than one -1 in %s", tg_shape_str(req, a, sizeof a));
            infer_at = i;
        } else if (req->dims[i] < 0) {
            return tg_error(TG_ERR_SHAPE, "reshape: negative dim %lld in %s", (long long)req->dims[i],
                            tg_shape_str(req, a, sizeof a));
        } else {
            known *= req->dims[i];
        }
    }
    *out = *req;
    const int64_t numel = tg_shape_numel(s);
    if (infer_at >= 0) {
        if (known == 0 || numel % known != 0)
            return tg_error(TG_ERR_SHAPE, "reshape: cannot infer the -1 of %s for input %s (%lld elements)",
                            tg_shape_str(req, a, sizeof a), tg_shape_str(s, b, sizeof b), (long long)numel);
        out->dims[infer_at] = numel / known;
    }
    if (tg_shape_numel(out) != numel)
        return tg_error(TG_ERR_SHAPE, "reshape: input %s has %lld elements, shape %s has %lld",
                        tg_shape_str(s, a, sizeof a), (long long)numel, tg_shape_str(out, b, sizeof b),
                        (long long)tg_shape_numel(out));
    *dt = tg_tensor_dtype(in[0]);
    return TG_OK;
}

static tg_status permute_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    const int *perm = ((const permute_attr *)attr)->perm;
    const tg_shape *s = tg_tensor_shape(in[0]);
    out->ndim = s->ndim;
    for (int i = 0; i < s->ndim; i++) out->dims[i] = s->dims[perm[i]];
    *dt = tg_tensor_dtype(in[0]);
    return TG_OK;
}

/* ---- forward ---- */

static tg_status reshape_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)in;
    (void)n_in;
    (void)attr;
    (void)out;
    return TG_OK; /* the output already shares the input's data */
}

static tg_status permute_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    permute_plan p;
    permute_plan_make(&p, tg_tensor_shape(in[0]), ((const permute_attr *)attr)->perm);
    const int64_t numel = tg_tensor_numel(out);
    if (numel == 0) return TG_OK;
    if (tg_dtype_size(tg_tensor_dtype(out)) == 4)
        permute_copy32(tg_tensor_data(out), tg_tensor_data(in[0]), &p, numel);
    else
        permute_copy16(tg_tensor_data(out), tg_tensor_data(in[0]), &p, numel);
    return TG_OK;
}

/* ---- backward ---- */

static tg_status reshape_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    (void)ctx;
    const float *dy = tg_f32(dout);
    float *dx = tg_f32(din[0]);
    const int64_t n = tg_tensor_numel(dout);
#pragma omp parallel for simd if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
    return TG_OK;
}

static tg_status permute_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const int *perm = ((const permute_attr *)tg_op_attr(ctx))->perm;
    const int nd = tg_tensor_ndim(dout);
    int inv[TG_MAX_DIMS];
    for (int i = 0; i < nd; i++) inv[perm[i]] = i;
    permute_plan p;
    permute_plan_make(&p, tg_tensor_shape(dout), inv);
    const int64_t numel = tg_tensor_numel(dout);
    if (numel) permute_add_f32(tg_f32(din[0]), tg_f32(dout), &p, numel); /* dx += dy permuted back */
    return TG_OK;
}

/* ---- descriptors ---- */

static const tg_op reshape_op = {.name = "reshape",
                                 .n_in = 1,
                                 .flags = TG_OP_VIEW,
                                 .infer = reshape_infer,
                                 .forward = reshape_forward,
                                 .backward = reshape_backward};
static const tg_op permute_op = {
    .name = "permute", .n_in = 1, .infer = permute_infer, .forward = permute_forward, .backward = permute_backward};

tg_status tg_register_shape_ops(void)
{
    TG_TRY(tg_op_register(&reshape_op));
    return tg_op_register(&permute_op);
}

tg_tensor *tg_reshape(const tg_tensor *x, tg_shape shape)
{
    reshape_attr a = {.shape = shape};
    return tg_apply(&reshape_op, &x, 1, &a, sizeof a);
}

tg_tensor *tg_permute(const tg_tensor *x, const int *perm)
{
    if (!x) return NULL;
    const int nd = tg_tensor_ndim(x);
    permute_attr a;
    bool seen[TG_MAX_DIMS] = {false};
    if (!perm && nd > 0) {
        tg_error(TG_ERR_INVALID, "permute: perm is NULL for rank %d", nd);
        return NULL;
    }
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]]) {
            char buf[TG_MAX_DIMS * 14] = "";
            for (int j = 0, len = 0; j < nd; j++)
                len += snprintf(buf + len, sizeof buf - (size_t)len, j ? ", %d" : "%d", perm[j]);
            tg_error(TG_ERR_INVALID, "permute: (%s) is not a permutation of 0..%d", buf, nd - 1);
            return NULL;
        }
        seen[perm[i]] = true;
        a.perm[i] = perm[i];
    }
    return tg_apply(&permute_op, &x, 1, &a, sizeof a);
}

tg_tensor *tg_transpose(const tg_tensor *x, int axis0, int axis1)
{
    if (!x) return NULL;
    const int nd = tg_tensor_ndim(x);
    int a0, a1, perm[TG_MAX_DIMS];
    if (tg_ops_axis(axis0, nd, "transpose", &a0) != TG_OK || tg_ops_axis(axis1, nd, "transpose", &a1) != TG_OK)
        return NULL;
    for (int i = 0; i < nd; i++) perm[i] = i;
    perm[a0] = a1;
    perm[a1] = a0;
    return tg_permute(x, perm);
}
