/* Fused feed-forward layer: y = gelu_tanh(x · w1ᵀ + b1) · w2ᵀ + b2, the
 * transformer MLP as one op. As separate linear, GELU, linear ops the
 * backward writes GELU's input gradient in f32 only for the next op to read
 * it back and round it for fc1's products; here one pass turns dy · w2 into
 * fc1's operand (dy · w2 ∘ gelu'(u), bf16 under mixed precision) and b1's
 * gradient together.
 *
 * Inputs: x (..., D), w1 (H, D), then b1 (H) when given, w2 (O, H), then
 * b2 (O) when given; the attribute blob says which biases are present.
 * x is f32, or bf16 with bf16 compute; weights and biases are f32. Forward
 * saves u = x · w1ᵀ + b1 (rows, H) and a = gelu(u) (fc2's operand), plus
 * x's bf16 copy when it rounds x. With bf16 compute u and its gradient
 * dy · w2 are bf16 too, as the products write them: they are only read by
 * the GELU passes, whose results are rounded to bf16 for the next product
 * anyway, and f32 copies would double those passes' memory traffic. */
#include "autograd/ops/ops_internal.h"
#include "autograd/ops/vmath.h"

typedef struct mlp_attr {
    int32_t compute; /* tg_dtype of the products: TG_F32 or TG_BF16 */
    bool has_b1, has_b2;
} mlp_attr;

/* The inputs by role (biases NULL when absent). */
typedef struct mlp_in {
    const tg_tensor *x, *w1, *b1, *w2, *b2;
} mlp_in;

static mlp_in inputs_of(const tg_tensor *const *in, const mlp_attr *a)
{
    int i = 2;
    mlp_in m = {.x = in[0], .w1 = in[1]};
    if (a->has_b1) m.b1 = in[i++];
    m.w2 = in[i++];
    if (a->has_b2) m.b2 = in[i];
    return m;
}

/* The two layers' products: fc1 (rows, D) -> (rows, H), fc2 (rows, H) -> (rows, O). */
static void prods_of(const mlp_in *m, tg_dtype dt, tg_linear_prod *p1, tg_linear_prod *p2)
{
    const int64_t D = tg_tensor_dim(m->w1, 1), H = tg_tensor_dim(m->w1, 0), O = tg_tensor_dim(m->w2, 0);
    const int64_t rows = D ? tg_tensor_numel(m->x) / D : 0;
    *p1 = (tg_linear_prod){.rows = rows, .in = D, .out = H, .dt = dt, .y_dt = dt, .dy_dt = dt}; /* u in dt */
    *p2 = (tg_linear_prod){.rows = rows, .in = H, .out = O, .dt = dt, .dx_dt = dt};             /* its gradient too */
}

/* ---- shape inference ---- */

static tg_status check_bias(const tg_tensor *b, int64_t n, const char *arg)
{
    if (!b) return TG_OK;
    TG_TRY(tg_ops_require_f32(b, "tg_mlp_gelu", arg));
    if (tg_tensor_ndim(b) != 1 || tg_tensor_dim(b, 0) != n)
        return tg_error(TG_ERR_SHAPE, "tg_mlp_gelu: %s must be (%lld)", arg, (long long)n);
    return TG_OK;
}

static tg_status mlp_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    const mlp_attr *a = attr;
    if (!a || n_in != 3 + a->has_b1 + a->has_b2)
        return tg_error(TG_ERR_INVALID, "tg_mlp_gelu: expects x, w1, [b1], w2, [b2] (use tg_mlp_gelu)");
    const mlp_in m = inputs_of(in, a);
    const tg_dtype xt = tg_tensor_dtype(m.x);
    if (xt != TG_F32 && !(xt == TG_BF16 && a->compute == TG_BF16))
        return tg_error(TG_ERR_DTYPE, "tg_mlp_gelu: x must be f32 (or bf16 with bf16 compute), got %s",
                        tg_dtype_name(xt));
    TG_TRY(tg_ops_require_f32(m.w1, "tg_mlp_gelu", "w1"));
    TG_TRY(tg_ops_require_f32(m.w2, "tg_mlp_gelu", "w2"));
    const tg_shape *xs = tg_tensor_shape(m.x);
    char s1[96], s2[96], s3[96];
    if (xs->ndim < 1 || tg_tensor_ndim(m.w1) != 2 || tg_tensor_ndim(m.w2) != 2 ||
        tg_tensor_dim(m.w1, 1) != xs->dims[xs->ndim - 1] || tg_tensor_dim(m.w2, 1) != tg_tensor_dim(m.w1, 0))
        return tg_error(TG_ERR_SHAPE,
                        "tg_mlp_gelu: x %s, w1 %s, w2 %s do not fit (want x (..., D), w1 (H, D), "
                        "w2 (O, H))",
                        tg_shape_str(xs, s1, sizeof s1), tg_shape_str(tg_tensor_shape(m.w1), s2, sizeof s2),
                        tg_shape_str(tg_tensor_shape(m.w2), s3, sizeof s3));
    TG_TRY(check_bias(m.b1, tg_tensor_dim(m.w1, 0), "b1"));
    TG_TRY(check_bias(m.b2, tg_tensor_dim(m.w2, 0), "b2"));
    *out = *xs;
    out->dims[xs->ndim - 1] = tg_tensor_dim(m.w2, 0); /* (..., O) */
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

/* a (n) = gelu(u) in f32 (af, from f32 u) or bf16 (ab, from bf16 u),
 * whichever is given. */
static void gelu_pass(float *af, uint16_t *ab, const void *u, int64_t n)
{
    if (ab) {
        const uint16_t *ub = u;
#pragma omp parallel for simd if (n > TG_OMP_MIN)
        for (int64_t i = 0; i < n; i++) ab[i] = tg_vbf16(tg_vgelu(tg_vf32(ub[i])));
    } else {
        const float *uf = u;
#pragma omp parallel for simd if (n > TG_OMP_MIN)
        for (int64_t i = 0; i < n; i++) af[i] = tg_vgelu(uf[i]);
    }
}

static tg_status mlp_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    const mlp_attr *at = attr;
    const mlp_in m = inputs_of(in, at);
    tg_linear_prod p1, p2;
    prods_of(&m, (tg_dtype)at->compute, &p1, &p2);
    const void *x = tg_ops_operand(ctx, m.x, p1.dt); /* an f32 x of bf16 products is rounded (saved first) */
    tg_tensor *u = tg_tensor_empty(TG_STEP, TG_SHAPE(p1.rows, p1.out), p1.y_dt); /* (rows, H) */
    tg_tensor *a = tg_tensor_empty(TG_STEP, TG_SHAPE(p1.rows, p1.out), p1.dt);   /* (rows, H) */
    if (!x || !u || !a) return TG_ERR_OOM;
    TG_TRY(tg_ops_linear_fwd(ctx, &p1, tg_tensor_data(u), x, m.w1, m.b1 ? tg_f32(m.b1) : NULL));
    gelu_pass(p1.dt == TG_F32 ? tg_f32(a) : NULL, p1.dt == TG_BF16 ? tg_bf16(a) : NULL, tg_tensor_data(u),
              tg_tensor_numel(u));
    TG_TRY(tg_ops_linear_fwd(ctx, &p2, tg_f32(out), tg_tensor_data(a), m.w2, m.b2 ? tg_f32(m.b2) : NULL));
    TG_TRY(tg_op_save(ctx, u));
    return tg_op_save(ctx, a);
}

/* ---- backward ---- */

/* din index of each input role, -1 when absent. */
typedef struct mlp_slots {
    int x, w1, b1, w2, b2;
} mlp_slots;

static mlp_slots slots_of(const mlp_attr *a)
{
    return (mlp_slots){0, 1, a->has_b1 ? 2 : -1, 2 + a->has_b1, a->has_b2 ? 3 + a->has_b1 : -1};
}

static float *grad_at(tg_tensor *const *din, int slot) { return slot >= 0 && din[slot] ? tg_f32(din[slot]) : NULL; }

static bool fresh_at(const tg_op_ctx *ctx, int slot) { return slot >= 0 && tg_op_grad_fresh(ctx, slot); }

static tg_status mlp_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const mlp_attr *at = tg_op_attr(ctx);
    const tg_tensor *in[5];
    for (int i = 0; i < tg_op_n_in(ctx); i++) in[i] = tg_op_input(ctx, i);
    const mlp_in m = inputs_of(in, at);
    const mlp_slots s = slots_of(at);
    tg_linear_prod p1, p2;
    prods_of(&m, (tg_dtype)at->compute, &p1, &p2);
    const int copied = tg_tensor_dtype(m.x) != p1.dt; /* x's bf16 copy is saved first */
    const tg_tensor *x = copied ? tg_op_saved(ctx, 0) : m.x, *u = tg_op_saved(ctx, copied),
                    *a = tg_op_saved(ctx, copied + 1);
    float *dx = grad_at(din, s.x), *dw1 = grad_at(din, s.w1), *db1 = grad_at(din, s.b1);
    float *dw2 = grad_at(din, s.w2), *db2 = grad_at(din, s.b2);
    const bool fc1 = dx || dw1 || db1;
    /* fc2: its operand g2 from dy (and db2), then da (rows, H) = g2 · w2 and dw2 */
    const void *g2 = NULL;
    TG_TRY(tg_ops_layer_grad(ctx, &p2, tg_f32(dout), NULL, db2, fresh_at(ctx, s.b2), NULL, fc1 || dw2 ? &g2 : NULL));
    void *da = fc1 ? tg_op_scratch(ctx, tg_dtype_size(p2.dx_dt) * (size_t)(p1.rows * p1.out)) : NULL;
    if (fc1 && !da) return TG_ERR_OOM;
    TG_TRY(tg_ops_linear_grads(ctx, &p2, g2, tg_tensor_data(a), m.w2, da, true, dw2, fresh_at(ctx, s.w2)));
    if (!fc1) return TG_OK;
    /* fc1: g1 = da ∘ gelu'(u) (in place over da in f32) with db1, then dx and dw1 */
    const void *g1 = NULL;
    TG_TRY(tg_ops_layer_grad(ctx, &p1, da, tg_tensor_data(u), db1, fresh_at(ctx, s.b1), p1.dt == TG_F32 ? da : NULL,
                             dx || dw1 ? &g1 : NULL));
    return tg_ops_linear_grads(ctx, &p1, g1, tg_tensor_data(x), m.w1, dx, fresh_at(ctx, s.x), dw1, fresh_at(ctx, s.w1));
}

/* ---- descriptor and wrapper ---- */

static const tg_op mlp_op = {.name = "mlp_gelu",
                             .n_in = -1,
                             .flags = TG_OP_FRESH_GRADS,
                             .infer = mlp_infer,
                             .forward = mlp_forward,
                             .backward = mlp_backward};

tg_status tg_register_mlp_ops(void) { return tg_op_register(&mlp_op); }

tg_tensor *tg_mlp_gelu(const tg_tensor *x, const tg_tensor *w1, const tg_tensor *b1, const tg_tensor *w2,
                       const tg_tensor *b2, tg_dtype compute)
{
    if (!x || !w1 || !w2) return NULL; /* an earlier call failed; keep its message */
    if (compute != TG_F32 && compute != TG_BF16) {
        tg_error(TG_ERR_DTYPE, "tg_mlp_gelu: compute dtype must be f32 or bf16, got %s", tg_dtype_name(compute));
        return NULL;
    }
    const mlp_attr a = {.compute = (int32_t)compute, .has_b1 = b1 != NULL, .has_b2 = b2 != NULL};
    const tg_tensor *in[5] = {x, w1};
    int n = 2;
    if (b1) in[n++] = b1;
    in[n++] = w2;
    if (b2) in[n++] = b2;
    return tg_apply(&mlp_op, in, n, &a, sizeof a);
}
