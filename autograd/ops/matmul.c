/* Batched matrix product with NumPy batch broadcasting and optional
 * transposes, on the backend's cached oneDNN matmul.
 *
 * Every product (forward and both gradients) is one strided matmul
 * description: transposes are strides, never copies, and gradients of
 * broadcast inputs are summed over the broadcast batch dims by the backend
 * (as one GEMM when the layout allows, e.g. a weight shared by the batch). */
#include <string.h>

#include "autograd/ops/ops_internal.h"
#include "tensor/backend.h"

typedef struct matmul_attr {
    uint8_t trans_a, trans_b;
} matmul_attr;

/* Operand geometry: batch dims aligned to the output's rank (1 where an
 * input lacks or broadcasts a dim) and the matrix sizes. */
typedef struct matmul_plan {
    int nb;
    int64_t ba[TG_MAX_DIMS], bb[TG_MAX_DIMS], bc[TG_MAX_DIMS];
    int64_t M, K, N;
    bool ta, tb;
} matmul_plan;

static void plan_make(matmul_plan *p, const tg_shape *a, const tg_shape *b, const matmul_attr *at)
{
    memset(p, 0, sizeof *p);
    const int na = a->ndim - 2, nbb = b->ndim - 2;
    p->nb = na > nbb ? na : nbb;
    for (int i = 0; i < p->nb; i++) {
        int ia = i - (p->nb - na), ib = i - (p->nb - nbb);
        p->ba[i] = ia >= 0 ? a->dims[ia] : 1;
        p->bb[i] = ib >= 0 ? b->dims[ib] : 1;
        p->bc[i] = p->ba[i] == 1 ? p->bb[i] : p->ba[i];
    }
    p->ta = at->trans_a;
    p->tb = at->trans_b;
    p->M = a->dims[a->ndim - (p->ta ? 1 : 2)];
    p->K = a->dims[a->ndim - (p->ta ? 2 : 1)];
    p->N = b->dims[b->ndim - (p->tb ? 2 : 1)];
}

/* ---- shape inference ---- */

static tg_status check_dtypes(const tg_tensor *a, const tg_tensor *b, const char *fn, const char *na, const char *nb)
{
    const tg_tensor *t[2] = {a, b};
    const char *names[2] = {na, nb};
    for (int i = 0; i < 2; i++) {
        tg_dtype dt = tg_tensor_dtype(t[i]);
        if (dt != TG_F32 && dt != TG_BF16)
            return tg_error(TG_ERR_DTYPE, "%s: %s must be f32 or bf16, got %s", fn, names[i], tg_dtype_name(dt));
    }
    if (tg_tensor_dtype(a) != tg_tensor_dtype(b))
        return tg_error(TG_ERR_DTYPE, "%s: %s is %s but %s is %s (both must have one dtype)", fn, na,
                        tg_dtype_name(tg_tensor_dtype(a)), nb, tg_dtype_name(tg_tensor_dtype(b)));
    return TG_OK;
}

static tg_status matmul_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    const tg_shape *a = tg_tensor_shape(in[0]), *b = tg_tensor_shape(in[1]);
    char sa[96], sb[96];
    tg_shape_str(a, sa, sizeof sa);
    tg_shape_str(b, sb, sizeof sb);
    TG_TRY(check_dtypes(in[0], in[1], "tg_matmul", "a", "b"));
    if (a->ndim < 2 || b->ndim < 2)
        return tg_error(TG_ERR_SHAPE, "tg_matmul: a %s and b %s need at least 2 dims each", sa, sb);
    const matmul_attr *at = attr;
    matmul_plan p;
    plan_make(&p, a, b, at);
    int64_t kb = b->dims[b->ndim - (at->trans_b ? 1 : 2)];
    if (p.K != kb)
        return tg_error(TG_ERR_SHAPE,
                        "tg_matmul: inner dims differ: a %s gives K = %lld, b %s gives K = %lld "
                        "(trans_a %d, trans_b %d)",
                        sa, (long long)p.K, sb, (long long)kb, at->trans_a, at->trans_b);
    for (int i = 0; i < p.nb; i++)
        if (p.ba[i] != p.bb[i] && p.ba[i] != 1 && p.bb[i] != 1)
            return tg_error(TG_ERR_SHAPE,
                            "tg_matmul: batch dims of a %s and b %s do not broadcast "
                            "(%lld vs %lld)",
                            sa, sb, (long long)p.ba[i], (long long)p.bb[i]);
    out->ndim = p.nb + 2;
    for (int i = 0; i < p.nb; i++) out->dims[i] = p.bc[i];
    out->dims[p.nb] = p.M;
    out->dims[p.nb + 1] = p.N;
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

static tg_status matmul_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    matmul_plan p;
    plan_make(&p, tg_tensor_shape(in[0]), tg_tensor_shape(in[1]), attr);
    tg_matmul_desc d = {.ndim = p.nb + 2, .ab_dtype = tg_tensor_dtype(in[0])};
    tg_matmul_view(d.a_dims, d.a_strides, p.nb, p.ba, p.M, p.K, p.ta);
    tg_matmul_view(d.b_dims, d.b_strides, p.nb, p.bb, p.K, p.N, p.tb);
    tg_matmul_view(d.c_dims, d.c_strides, p.nb, p.bc, p.M, p.N, false); /* (..., M, N) */
    return tg_backend_matmul(tg_ctx_current(), &d, tg_f32(out), tg_tensor_data(in[0]), tg_tensor_data(in[1]), NULL);
}

/* ---- backward ---- */

/* Gradients are computed in f32: bf16 inputs are widened once. */
static const tg_tensor *as_f32(const tg_tensor *t)
{
    return tg_tensor_dtype(t) == TG_F32 ? t : tg_tensor_to(TG_STEP, t, TG_F32);
}

/* A logical operand of a gradient product: the (rows, cols) matrices of
 * `data`, transposed in storage when trans, with batch dims `batch`. */
typedef struct operand {
    const float *data;
    const int64_t *batch;
    int64_t rows, cols;
    bool trans;
} operand;

/* g (batch_g..., rows, cols) += x · y, summed over batch dims where g is 1. */
static tg_status accumulate_product(const matmul_plan *p, float *g, const int64_t *batch_g, operand x, operand y)
{
    tg_matmul_desc d = {.ndim = p->nb + 2, .ab_dtype = TG_F32, .accumulate = true};
    tg_matmul_view(d.a_dims, d.a_strides, p->nb, x.batch, x.rows, x.cols, x.trans);
    tg_matmul_view(d.b_dims, d.b_strides, p->nb, y.batch, y.rows, y.cols, y.trans);
    tg_matmul_view(d.c_dims, d.c_strides, p->nb, batch_g, x.rows, y.cols, false);
    return tg_backend_matmul(tg_ctx_current(), &d, g, x.data, y.data, NULL);
}

static tg_status matmul_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const tg_tensor *a = tg_op_input(ctx, 0), *b = tg_op_input(ctx, 1);
    matmul_plan p;
    plan_make(&p, tg_tensor_shape(a), tg_tensor_shape(b), tg_op_attr(ctx));
    const int64_t M = p.M, K = p.K, N = p.N;
    const float *dc = tg_f32(dout); /* (..., M, N) */
    if (din[0]) {
        const tg_tensor *bf = as_f32(b);
        if (!bf) return TG_ERR_OOM;
        operand vb = {tg_f32(bf), p.bb, 0, 0, false}, vdc = {dc, p.bc, 0, 0, false};
        if (!p.ta) { /* dA (M, K) = dC (M, N) · op(B)ᵀ (N, K) */
            vdc.rows = M, vdc.cols = N;
            vb.rows = N, vb.cols = K, vb.trans = !p.tb;
            TG_TRY(accumulate_product(&p, tg_f32(din[0]), p.ba, vdc, vb));
        } else { /* dA stored (K, M) = op(B) (K, N) · dCᵀ (N, M) */
            vb.rows = K, vb.cols = N, vb.trans = p.tb;
            vdc.rows = N, vdc.cols = M, vdc.trans = true;
            TG_TRY(accumulate_product(&p, tg_f32(din[0]), p.ba, vb, vdc));
        }
    }
    if (din[1]) {
        const tg_tensor *af = as_f32(a);
        if (!af) return TG_ERR_OOM;
        operand va = {tg_f32(af), p.ba, 0, 0, false}, vdc = {dc, p.bc, 0, 0, false};
        if (!p.tb) { /* dB (K, N) = op(A)ᵀ (K, M) · dC (M, N) */
            va.rows = K, va.cols = M, va.trans = !p.ta;
            vdc.rows = M, vdc.cols = N;
            TG_TRY(accumulate_product(&p, tg_f32(din[1]), p.bb, va, vdc));
        } else { /* dB stored (N, K) = dCᵀ (N, M) · op(A) (M, K) */
            vdc.rows = N, vdc.cols = M, vdc.trans = true;
            va.rows = M, va.cols = K, va.trans = p.ta;
            TG_TRY(accumulate_product(&p, tg_f32(din[1]), p.bb, vdc, va));
        }
    }
    return TG_OK;
}

/* ---- descriptor and wrappers ---- */

static const tg_op matmul_op = {
    .name = "matmul",
    .n_in = 2,
    .infer = matmul_infer,
    .forward = matmul_forward,
    .backward = matmul_backward,
};

tg_status tg_register_matmul_ops(void) { return tg_op_register(&matmul_op); }

tg_tensor *tg_matmul_with(const tg_tensor *a, const tg_tensor *b, const tg_matmul_opts *opts)
{
    const tg_tensor *in[2] = {a, b};
    const tg_matmul_opts o = opts ? *opts : (tg_matmul_opts){0};
    matmul_attr at = {.trans_a = o.trans_a, .trans_b = o.trans_b};
    return tg_apply(&matmul_op, in, 2, &at, sizeof at);
}

tg_tensor *tg_matmul(const tg_tensor *a, const tg_tensor *b) { return tg_matmul_with(a, b, NULL); }
