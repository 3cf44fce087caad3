/* Fully connected layer: y = x · wᵀ + bias as one oneDNN matmul with a bias,
 * with the weight (out, in) read transposed through strides. Leading dims of
 * x are flattened into rows.
 *
 * Mixed precision (attr compute = bf16 with f32 x and w): the op rounds x to
 * bf16 itself and keeps that copy for backward, so no cast nodes, no f32
 * gradient copies, and the gradients land in f32 directly. x may also come
 * in bf16 already (from tg_gelu_with) with an f32 w. w is rounded straight
 * into the blocked layout of each bf16 product that reads it (wᵀ forward,
 * w for dx), which oneDNN would otherwise repack inside every call. */
#include <string.h>

#include "autograd/ops/ops_internal.h"
#include "autograd/ops/vmath.h"
#include "tensor/backend.h"

/* Rows of x once its leading dims are flattened, and the two feature sizes. */
typedef struct linear_dims {
    int64_t rows, in, out;
} linear_dims;

typedef struct linear_attr {
    tg_dtype compute; /* TG_BF16: matmuls in bf16 whatever the input dtype */
    tg_dtype out;     /* y: TG_F32, or TG_BF16 with bf16 compute */
} linear_attr;

static tg_dtype out_dtype(const void *attr) { return attr ? ((const linear_attr *)attr)->out : TG_F32; }

static tg_dtype compute_dtype(const tg_tensor *x, const void *attr)
{
    return attr && ((const linear_attr *)attr)->compute == TG_BF16 ? TG_BF16 : tg_tensor_dtype(x);
}

static linear_dims dims_of(const tg_tensor *x, const tg_tensor *w)
{
    linear_dims d = {.rows = 1, .in = tg_tensor_dim(w, 1), .out = tg_tensor_dim(w, 0)};
    for (int i = 0; i < tg_tensor_ndim(x) - 1; i++) d.rows *= tg_tensor_dim(x, i);
    return d;
}

/* ---- shape inference ---- */

static tg_status linear_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    if (n_in != 2 && n_in != 3)
        return tg_error(TG_ERR_INVALID, "tg_linear: expects x, w and an optional bias, got %d inputs", n_in);
    const tg_tensor *x = in[0], *w = in[1], *bias = n_in == 3 ? in[2] : NULL;
    const tg_shape *sx = tg_tensor_shape(x), *sw = tg_tensor_shape(w);
    char bx[96], bw[96], bb[96];
    tg_shape_str(sx, bx, sizeof bx);
    tg_shape_str(sw, bw, sizeof bw);
    for (int i = 0; i < 2; i++) {
        tg_dtype t = tg_tensor_dtype(in[i]);
        if (t != TG_F32 && t != TG_BF16)
            return tg_error(TG_ERR_DTYPE, "tg_linear: %s must be f32 or bf16, got %s", i ? "w" : "x", tg_dtype_name(t));
    }
    const bool mixed = attr && ((const linear_attr *)attr)->compute == TG_BF16 && tg_tensor_dtype(x) == TG_BF16;
    if (tg_tensor_dtype(x) != tg_tensor_dtype(w) && !mixed)
        return tg_error(TG_ERR_DTYPE,
                        "tg_linear: x is %s but w is %s (both must have one dtype, or x bf16 with compute bf16)",
                        tg_dtype_name(tg_tensor_dtype(x)), tg_dtype_name(tg_tensor_dtype(w)));
    if (sx->ndim < 1 || sw->ndim != 2 || sx->dims[sx->ndim - 1] != sw->dims[1])
        return tg_error(TG_ERR_SHAPE, "tg_linear: x %s does not fit w %s (want x (..., in), w (out, in))", bx, bw);
    if (bias) {
        TG_TRY(tg_ops_require_f32(bias, "tg_linear", "bias"));
        if (tg_tensor_ndim(bias) != 1 || tg_tensor_dim(bias, 0) != sw->dims[0])
            return tg_error(TG_ERR_SHAPE, "tg_linear: bias %s does not fit w %s (want bias (%lld))",
                            tg_shape_str(tg_tensor_shape(bias), bb, sizeof bb), bw, (long long)sw->dims[0]);
    }
    *out = *sx;
    out->dims[sx->ndim - 1] = sw->dims[0]; /* (..., out) */
    *dt = out_dtype(attr);
    return TG_OK;
}

/* ---- forward ---- */

/* A bf16 step copy of f32 t, saved for backward when recording (the op's
 * first saved tensor: ops call this at most once). */
static const tg_tensor *to_bf16(tg_op_ctx *ctx, const tg_tensor *t)
{
    tg_tensor *b = tg_tensor_empty(TG_STEP, *tg_tensor_shape(t), TG_BF16);
    if (!b) return NULL;
    tg_f32_to_bf16_n(tg_bf16(b), tg_f32(t), tg_tensor_numel(t));
    return tg_op_save(ctx, b) == TG_OK ? b : NULL;
}

tg_status tg_ops_pack_weight(tg_op_ctx *ctx, const tg_matmul_desc *d, const tg_tensor *w, const void **out)
{
    tg_ctx *c = tg_ctx_current();
    size_t bytes = 0;
    TG_TRY(tg_backend_matmul_packed_bytes(c, d, &bytes));
    void *buf = tg_op_scratch(ctx, bytes);
    if (!buf) return TG_ERR_OOM;
    *out = buf;
    return tg_backend_matmul_pack_b(c, d, buf, tg_tensor_data(w), tg_tensor_dtype(w));
}

/* Whether the products of p run on a packed w (bf16, nothing empty). */
static bool packs(const tg_linear_prod *p) { return p->dt == TG_BF16 && p->rows > 0 && p->in > 0 && p->out > 0; }

tg_status tg_ops_linear_fwd(tg_op_ctx *ctx, const tg_linear_prod *p, void *y, const void *x, const tg_tensor *w,
                            const float *bias)
{
    tg_matmul_desc d = {.ndim = 2, .ab_dtype = p->dt, .c_dtype = p->y_dt, .bias = bias != NULL, .b_packed = packs(p)};
    tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, p->rows, p->in, false);  /* x (R, in) */
    tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, p->in, p->out, true);    /* wᵀ (in, out) */
    tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, p->rows, p->out, false); /* y (R, out) */
    const void *wb = tg_tensor_data(w);
    if (d.b_packed) TG_TRY(tg_ops_pack_weight(ctx, &d, w, &wb));
    return tg_backend_matmul(tg_ctx_current(), &d, y, x, wb, bias);
}

const void *tg_ops_operand(tg_op_ctx *ctx, const tg_tensor *t, tg_dtype dt)
{
    const tg_tensor *c = tg_tensor_dtype(t) == dt ? t : to_bf16(ctx, t);
    return c ? tg_tensor_data(c) : NULL;
}

static tg_status linear_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    const linear_dims n = dims_of(in[0], in[1]);
    const tg_linear_prod p = {
        .rows = n.rows, .in = n.in, .out = n.out, .dt = compute_dtype(in[0], attr), .y_dt = out_dtype(attr)};
    const void *x = tg_ops_operand(ctx, in[0], p.dt); /* f32 x of a bf16 product is rounded here */
    if (!x) return TG_ERR_OOM;
    return tg_ops_linear_fwd(ctx, &p, tg_tensor_data(out), x, in[1], n_in == 3 ? tg_f32(in[2]) : NULL);
}

/* ---- backward ---- */

/* Rows of dy per block of the bias gradient's partial sums. */
enum { BIAS_ROWS = 128 };

/* One row of grad_pass: g = row, or row ∘ gelu'(ur) with ur, into each of
 * acc (+=), br (bf16) and fr (f32, may be row) that is given. */
static inline void grad_row(float *acc, uint16_t *br, float *fr, const float *row, const float *ur, int64_t cols)
{
    if (ur) { /* g made once per element, for each output given */
        if (br && acc) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                const float v = row[j] * tg_vgelu_grad(ur[j]);
                br[j] = tg_vbf16(v);
                acc[j] += v;
            }
        } else if (br) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) br[j] = tg_vbf16(row[j] * tg_vgelu_grad(ur[j]));
        } else if (acc && !fr) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) acc[j] += row[j] * tg_vgelu_grad(ur[j]);
        }
        if (fr)
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) fr[j] = row[j] * tg_vgelu_grad(ur[j]);
        if (fr && acc)
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) acc[j] += fr[j];
        return;
    }
    if (acc)
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) acc[j] += row[j];
    if (br)
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) br[j] = tg_vbf16(row[j]);
    if (fr && fr != row) memcpy(fr, row, sizeof(float) * (size_t)cols);
}

/* grad_row for a bf16 row and ur (a fused op's bf16 intermediates), into
 * acc (+=) and br. */
static inline void grad_row_bf16(float *acc, uint16_t *br, const uint16_t *row, const uint16_t *ur, int64_t cols)
{
    if (ur && br && acc) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) {
            const float v = tg_vf32(row[j]) * tg_vgelu_grad(tg_vf32(ur[j]));
            br[j] = tg_vbf16(v);
            acc[j] += v;
        }
        return;
    }
    if (acc)
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) acc[j] += tg_vf32(row[j]) * (ur ? tg_vgelu_grad(tg_vf32(ur[j])) : 1.0f);
    if (br)
#pragma omp simd
        for (int64_t j = 0; j < cols; j++)
            br[j] = ur ? tg_vbf16(tg_vf32(row[j]) * tg_vgelu_grad(tg_vf32(ur[j]))) : row[j];
}

/* The gradient entering a layer's products, g = dy or, with u, dy ∘
 * gelu'(u) (the layer's input went through GELU), in one streaming pass
 * over dy (rows, cols): dbias (cols) += column sums of g (= when fresh),
 * when dbias is given; gb = g rounded to bf16, when given; gf = g (f32, may
 * be dy itself), when given. Threads take blocks of BIAS_ROWS rows, each
 * summing into its own row of part (ceil(rows / BIAS_ROWS), cols), then
 * split the columns to add the blocks in order: the result does not depend
 * on the thread count. */
static void grad_pass(float *dbias, bool fresh, float *part, uint16_t *gb, float *gf, const void *dy, const void *u,
                      tg_dtype in_dt, int64_t rows, int64_t cols)
{
    const size_t esz = tg_dtype_size(in_dt);
    const int64_t nblk = (rows + BIAS_ROWS - 1) / BIAS_ROWS;
#pragma omp parallel if (rows * cols > TG_OMP_MIN)
    {
#pragma omp for
        for (int64_t blk = 0; blk < nblk; blk++) {
            const int64_t r1 = (blk + 1) * BIAS_ROWS < rows ? (blk + 1) * BIAS_ROWS : rows;
            float *acc = dbias ? part + blk * cols : NULL;
            if (acc) memset(acc, 0, sizeof(float) * (size_t)cols);
            for (int64_t r = blk * BIAS_ROWS; r < r1; r++) {
                const size_t at = (size_t)(r * cols) * esz;
                const void *ur = u ? (const char *)u + at : NULL, *row = (const char *)dy + at;
                uint16_t *br = gb ? gb + r * cols : NULL;
                if (in_dt == TG_BF16)
                    grad_row_bf16(acc, br, row, ur, cols);
                else
                    grad_row(acc, br, gf ? gf + r * cols : NULL, row, ur, cols);
            }
        }
        if (dbias) {
#pragma omp for
            for (int64_t j = 0; j < cols; j++) {
                float sum = fresh ? 0.0f : dbias[j];
                for (int64_t blk = 0; blk < nblk; blk++) sum += part[blk * cols + j];
                dbias[j] = sum;
            }
        }
    }
}

tg_status tg_ops_layer_grad(tg_op_ctx *ctx, const tg_linear_prod *p, const void *dy, const void *u, float *dbias,
                            bool dbias_fresh, float *g_f32, const void **g)
{
    TG_ASSERT(p->dy_dt == TG_F32 || p->dt == TG_BF16, "a bf16 dy needs bf16 products");
    uint16_t *gb = NULL; /* (R, out) */
    if (g && p->dt == TG_BF16 && !(gb = tg_op_scratch(ctx, sizeof(uint16_t) * (size_t)(p->rows * p->out))))
        return TG_ERR_OOM;
    float *part = NULL, *gf = g && p->dt == TG_F32 ? (u ? g_f32 : (float *)dy) : NULL;
    const size_t nblk = (size_t)((p->rows + BIAS_ROWS - 1) / BIAS_ROWS);
    if (dbias && !(part = tg_op_scratch(ctx, sizeof(float) * nblk * (size_t)p->out))) return TG_ERR_OOM;
    if (dbias || gb || (gf && (gf != dy || u)))
        grad_pass(dbias, dbias_fresh, part, gb, gf, dy, u, p->dy_dt, p->rows, p->out);
    if (g) *g = gb ? (const void *)gb : (const void *)gf;
    return TG_OK;
}

tg_status tg_ops_linear_grads(tg_op_ctx *ctx, const tg_linear_prod *p, const void *g, const void *x, const tg_tensor *w,
                              void *dx, bool dx_fresh, float *dw, bool dw_fresh)
{
    tg_ctx *c = tg_ctx_current();
    if (dx) { /* dx (R, in) += g (R, out) · w (out, in) */
        tg_matmul_desc d = {
            .ndim = 2, .ab_dtype = p->dt, .c_dtype = p->dx_dt, .accumulate = !dx_fresh, .b_packed = packs(p)};
        tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, p->rows, p->out, false);
        tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, p->out, p->in, false);
        tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, p->rows, p->in, false);
        const void *wb = tg_tensor_data(w);
        if (d.b_packed) TG_TRY(tg_ops_pack_weight(ctx, &d, w, &wb));
        TG_TRY(tg_backend_matmul(c, &d, dx, g, wb, NULL));
    }
    if (dw) { /* dw (out, in) += gᵀ (out, R) · x (R, in) */
        tg_matmul_desc d = {.ndim = 2, .ab_dtype = p->dt, .accumulate = !dw_fresh};
        tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, p->out, p->rows, true);
        tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, p->rows, p->in, false);
        tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, p->out, p->in, false);
        TG_TRY(tg_backend_matmul(c, &d, dw, g, x, NULL));
    }
    return TG_OK;
}

/* Both gradient matmuls run in the operands' dtype: with bf16 x and w (mixed
 * precision) dy is rounded to bf16 once and both products are bf16 with f32
 * accumulation, as the forward was. */
static tg_status linear_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const tg_tensor *x = tg_op_input(ctx, 0), *w = tg_op_input(ctx, 1);
    const linear_dims n = dims_of(x, w);
    const tg_linear_prod p = {.rows = n.rows, .in = n.in, .out = n.out, .dt = compute_dtype(x, tg_op_attr(ctx))};
    if (tg_tensor_dtype(x) != p.dt) x = tg_op_saved(ctx, 0); /* the bf16 copy made by forward */
    float *dbias = tg_op_n_in(ctx) == 3 && din[2] ? tg_f32(din[2]) : NULL;
    const void *g = NULL;
    TG_TRY(tg_ops_layer_grad(ctx, &p, tg_f32(dout), NULL, dbias, tg_op_grad_fresh(ctx, 2), NULL,
                             din[0] || din[1] ? &g : NULL));
    return tg_ops_linear_grads(ctx, &p, g, tg_tensor_data(x), w, din[0] ? tg_f32(din[0]) : NULL,
                               tg_op_grad_fresh(ctx, 0), din[1] ? tg_f32(din[1]) : NULL, tg_op_grad_fresh(ctx, 1));
}

/* ---- descriptor and wrapper ---- */

static const tg_op_linear_rows linear_rows = {.x = 0, .w = 1, .bias = 2};

static const tg_op linear_op = {
    .name = "linear",
    .n_in = -1,
    .flags = TG_OP_FRESH_GRADS,
    .infer = linear_infer,
    .forward = linear_forward,
    .backward = linear_backward,
    .linear_rows = &linear_rows,
};

tg_status tg_register_linear_ops(void) { return tg_op_register(&linear_op); }

tg_tensor *tg_linear(const tg_tensor *x, const tg_tensor *w, const tg_tensor *bias)
{
    return tg_linear_with(x, w, bias, NULL);
}

tg_tensor *tg_linear_with(const tg_tensor *x, const tg_tensor *w, const tg_tensor *bias, const tg_linear_opts *opts)
{
    const tg_tensor *in[3] = {x, w, bias};
    if (!x || !w) return NULL; /* an earlier call failed; keep its message */
    const tg_linear_opts o = opts ? *opts : (tg_linear_opts){0};
    if (o.compute != TG_F32 && o.compute != TG_BF16) {
        tg_error(TG_ERR_DTYPE, "tg_linear: compute dtype must be f32 or bf16, got %s", tg_dtype_name(o.compute));
        return NULL;
    }
    if (o.out != TG_F32 && !(o.out == TG_BF16 && o.compute == TG_BF16)) {
        tg_error(TG_ERR_DTYPE, "tg_linear: output must be f32, or bf16 with bf16 compute; got %s with %s compute",
                 tg_dtype_name(o.out), tg_dtype_name(o.compute));
        return NULL;
    }
    linear_attr a = {.compute = o.compute, .out = o.out};
    return tg_apply(&linear_op, in, bias ? 3 : 2, &a, sizeof a);
}
