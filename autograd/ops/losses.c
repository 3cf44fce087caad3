/* Fused losses for classification heads: focal loss, binary cross-entropy
 * with logits, and the cost-matrix expected-cost loss. Each is a scalar mean
 * over rows; targets and weights are inputs without gradient. */
#include <math.h>

#include "autograd/ops/ops_internal.h"

typedef struct focal_attr {
    double gamma;
} focal_attr;

/* ---- shared checks ---- */

/* logits (N, C) f32 with targets (N) s32. */
static tg_status check_rows(const tg_tensor *z, const tg_tensor *y, const char *fn)
{
    char a[96], b[96];
    TG_TRY(tg_ops_require_f32(z, fn, "logits"));
    if (tg_tensor_ndim(z) != 2 || tg_tensor_dtype(y) != TG_S32 || tg_tensor_ndim(y) != 1 ||
        tg_tensor_dim(y, 0) != tg_tensor_dim(z, 0))
        return tg_error(TG_ERR_SHAPE, "%s: needs logits (N, C) f32 and targets (N) s32, got %s and %s %s", fn,
                        tg_shape_str(tg_tensor_shape(z), a, sizeof a), tg_shape_str(tg_tensor_shape(y), b, sizeof b),
                        tg_dtype_name(tg_tensor_dtype(y)));
    const int32_t *t = tg_s32(y);
    const int64_t C = tg_tensor_dim(z, 1);
    for (int64_t i = 0; i < tg_tensor_dim(y, 0); i++)
        if (t[i] < 0 || t[i] >= C)
            return tg_error(TG_ERR_INVALID, "%s: target %d at row %lld outside [0, %lld)", fn, t[i], (long long)i,
                            (long long)C);
    return TG_OK;
}

static tg_status check_vector(const tg_tensor *w, int64_t n, const char *fn, const char *what)
{
    if (!w) return TG_OK;
    TG_TRY(tg_ops_require_f32(w, fn, what));
    if (tg_tensor_ndim(w) != 1 || tg_tensor_dim(w, 0) != n) {
        char a[96];
        return tg_error(TG_ERR_SHAPE, "%s: %s must be (%lld), got %s", fn, what, (long long)n,
                        tg_shape_str(tg_tensor_shape(w), a, sizeof a));
    }
    return TG_OK;
}

/* Softmax of one row into p; returns log-sum-exp. */
static double softmax_row(float *p, const float *z, int64_t C)
{
    float m = -INFINITY;
    for (int64_t k = 0; k < C; k++) m = fmaxf(m, z[k]);
    double s = 0;
    for (int64_t k = 0; k < C; k++) s += exp((double)z[k] - m);
    for (int64_t k = 0; k < C; k++) p[k] = (float)(exp((double)z[k] - m) / s);
    return m + log(s);
}

/* ---- focal loss ---- */

static tg_status focal_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    TG_TRY(check_rows(in[0], in[1], "tg_focal_loss"));
    if (n_in > 2) TG_TRY(check_vector(in[2], tg_tensor_dim(in[0], 1), "tg_focal_loss", "alpha"));
    if (!(((const focal_attr *)attr)->gamma >= 0))
        return tg_error(TG_ERR_INVALID, "tg_focal_loss: gamma %g must be >= 0", ((const focal_attr *)attr)->gamma);
    *out = TG_SCALAR_SHAPE;
    *dt = TG_F32;
    return TG_OK;
}

/* Row i's loss and d loss / d p_t, from log p_t. */
static void focal_row(double lpt, double gamma, double a, double *loss, double *dz_scale)
{
    double pt = exp(lpt), q = 1.0 - pt;
    double qg = pow(q, gamma);
    *loss = -a * qg * lpt;
    /* d loss / d z_j = dz_scale * (δ_jy - p_j), with
     * dz_scale = -a [(1-pt)^γ - γ (1-pt)^(γ-1) pt log pt]; the second term
     * vanishes as pt -> 1 for every γ >= 0. */
    double second = q > 0 ? gamma * pow(q, gamma - 1) * pt * lpt : 0.0;
    *dz_scale = -a * (qg - second);
}

static tg_status focal_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    const int64_t N = tg_tensor_dim(in[0], 0), C = tg_tensor_dim(in[0], 1);
    const float *z = tg_f32(in[0]), *alpha = n_in > 2 ? tg_f32(in[2]) : NULL;
    const int32_t *y = tg_s32(in[1]);
    const double gamma = ((const focal_attr *)attr)->gamma;
    double total = 0;
#pragma omp parallel for reduction(+ : total) if (N * C > TG_OMP_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *zi = z + i * C;
        float m = -INFINITY;
        for (int64_t k = 0; k < C; k++) m = fmaxf(m, zi[k]);
        double s = 0;
        for (int64_t k = 0; k < C; k++) s += exp((double)zi[k] - m);
        double loss, unused;
        focal_row((double)zi[y[i]] - m - log(s), gamma, alpha ? alpha[y[i]] : 1.0, &loss, &unused);
        total += loss;
    }
    tg_f32(out)[0] = N ? (float)(total / (double)N) : 0.0f;
    return TG_OK;
}

static tg_status focal_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    if (!din[0]) return TG_OK;
    const tg_tensor *zt = tg_op_input(ctx, 0);
    const int64_t N = tg_tensor_dim(zt, 0), C = tg_tensor_dim(zt, 1);
    const float *z = tg_f32(zt), *alpha = tg_op_n_in(ctx) > 2 ? tg_f32(tg_op_input(ctx, 2)) : NULL;
    const int32_t *y = tg_s32(tg_op_input(ctx, 1));
    const double gamma = ((const focal_attr *)tg_op_attr(ctx))->gamma;
    const double g = N ? tg_f32(dout)[0] / (double)N : 0.0;
    float *dz = tg_f32(din[0]);
    float *p = tg_op_scratch(ctx, sizeof *p * (size_t)C * (size_t)(N ? N : 1));
    if (!p) return TG_ERR_OOM;
#pragma omp parallel for if (N * C > TG_OMP_MIN)
    for (int64_t i = 0; i < N; i++) {
        float *pi = p + i * C;
        double lse = softmax_row(pi, z + i * C, C);
        double loss, scale;
        focal_row((double)z[i * C + y[i]] - lse, gamma, alpha ? alpha[y[i]] : 1.0, &loss, &scale);
        for (int64_t k = 0; k < C; k++) dz[i * C + k] += (float)(g * scale * ((k == y[i]) - pi[k]));
    }
    return TG_OK;
}

/* ---- binary cross-entropy with logits ---- */

static tg_status bce_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)attr;
    char a[96], b[96];
    TG_TRY(tg_ops_require_f32(in[0], "tg_bce_logits", "logits"));
    TG_TRY(tg_ops_require_f32(in[1], "tg_bce_logits", "targets"));
    if (!tg_shape_equal(tg_tensor_shape(in[0]), tg_tensor_shape(in[1])))
        return tg_error(TG_ERR_SHAPE, "tg_bce_logits: targets %s differ from logits %s",
                        tg_shape_str(tg_tensor_shape(in[1]), a, sizeof a),
                        tg_shape_str(tg_tensor_shape(in[0]), b, sizeof b));
    int nd = tg_tensor_ndim(in[0]);
    if (n_in > 2) TG_TRY(check_vector(in[2], nd ? tg_tensor_dim(in[0], -1) : 1, "tg_bce_logits", "pos_weight"));
    *out = TG_SCALAR_SHAPE;
    *dt = TG_F32;
    return TG_OK;
}

/* log(1 + e^x) without overflow. */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static tg_status bce_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)attr;
    const float *x = tg_f32(in[0]), *y = tg_f32(in[1]), *pw = n_in > 2 ? tg_f32(in[2]) : NULL;
    const int64_t n = tg_tensor_numel(in[0]), last = tg_tensor_ndim(in[0]) ? tg_tensor_dim(in[0], -1) : 1;
    double total = 0;
#pragma omp parallel for reduction(+ : total) if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) {
        double w = pw ? pw[i % last] : 1.0;
        total += w * y[i] * softplus(-x[i]) + (1.0 - y[i]) * softplus(x[i]);
    }
    tg_f32(out)[0] = n ? (float)(total / (double)n) : 0.0f;
    return TG_OK;
}

static tg_status bce_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    if (!din[0]) return TG_OK;
    const tg_tensor *xt = tg_op_input(ctx, 0);
    const float *x = tg_f32(xt), *y = tg_f32(tg_op_input(ctx, 1));
    const float *pw = tg_op_n_in(ctx) > 2 ? tg_f32(tg_op_input(ctx, 2)) : NULL;
    const int64_t n = tg_tensor_numel(xt), last = tg_tensor_ndim(xt) ? tg_tensor_dim(xt, -1) : 1;
    const double g = n ? tg_f32(dout)[0] / (double)n : 0.0;
    float *dx = tg_f32(din[0]);
#pragma omp parallel for if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) {
        double w = pw ? pw[i % last] : 1.0, s = 1.0 / (1.0 + exp(-(double)x[i]));
        dx[i] += (float)(g * (-w * y[i] * (1.0 - s) + (1.0 - y[i]) * s));
    }
    return TG_OK;
}

/* ---- cost-matrix expected cost ---- */

static tg_status cost_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    (void)attr;
    TG_TRY(check_rows(in[0], in[1], "tg_cost_matrix_loss"));
    const int64_t K = tg_tensor_dim(in[0], 1);
    TG_TRY(tg_ops_require_f32(in[2], "tg_cost_matrix_loss", "cost"));
    if (tg_tensor_ndim(in[2]) != 2 || tg_tensor_dim(in[2], 0) != K || tg_tensor_dim(in[2], 1) != K) {
        char a[96];
        return tg_error(TG_ERR_SHAPE, "tg_cost_matrix_loss: cost must be (%lld, %lld), got %s", (long long)K,
                        (long long)K, tg_shape_str(tg_tensor_shape(in[2]), a, sizeof a));
    }
    *out = TG_SCALAR_SHAPE;
    *dt = TG_F32;
    return TG_OK;
}

static tg_status cost_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    (void)attr;
    const int64_t N = tg_tensor_dim(in[0], 0), K = tg_tensor_dim(in[0], 1);
    const float *z = tg_f32(in[0]), *cost = tg_f32(in[2]);
    const int32_t *y = tg_s32(in[1]);
    float *p = tg_op_scratch(ctx, sizeof *p * (size_t)K * (size_t)(N ? N : 1));
    if (!p) return TG_ERR_OOM;
    double total = 0;
#pragma omp parallel for reduction(+ : total) if (N * K > TG_OMP_MIN)
    for (int64_t i = 0; i < N; i++) {
        softmax_row(p + i * K, z + i * K, K);
        for (int64_t k = 0; k < K; k++) total += (double)p[i * K + k] * cost[y[i] * K + k];
    }
    tg_f32(out)[0] = N ? (float)(total / (double)N) : 0.0f;
    return TG_OK;
}

static tg_status cost_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    if (!din[0]) return TG_OK;
    const tg_tensor *zt = tg_op_input(ctx, 0);
    const int64_t N = tg_tensor_dim(zt, 0), K = tg_tensor_dim(zt, 1);
    const float *z = tg_f32(zt), *cost = tg_f32(tg_op_input(ctx, 2));
    const int32_t *y = tg_s32(tg_op_input(ctx, 1));
    const double g = N ? tg_f32(dout)[0] / (double)N : 0.0;
    float *dz = tg_f32(din[0]);
    float *p = tg_op_scratch(ctx, sizeof *p * (size_t)K * (size_t)(N ? N : 1));
    if (!p) return TG_ERR_OOM;
        /* d/dz_j sum_k p_k c_k = p_j (c_j - sum_k p_k c_k) */
#pragma omp parallel for if (N * K > TG_OMP_MIN)
    for (int64_t i = 0; i < N; i++) {
        float *pi = p + i * K;
        const float *ci = cost + y[i] * K;
        softmax_row(pi, z + i * K, K);
        double e = 0;
        for (int64_t k = 0; k < K; k++) e += (double)pi[k] * ci[k];
        for (int64_t k = 0; k < K; k++) dz[i * K + k] += (float)(g * pi[k] * (ci[k] - e));
    }
    return TG_OK;
}

/* ---- descriptors ---- */

static const tg_op focal_op = {
    .name = "focal_loss", .n_in = -1, .infer = focal_infer, .forward = focal_forward, .backward = focal_backward};
static const tg_op bce_op = {
    .name = "bce_logits", .n_in = -1, .infer = bce_infer, .forward = bce_forward, .backward = bce_backward};
static const tg_op cost_op = {
    .name = "cost_matrix_loss", .n_in = 3, .infer = cost_infer, .forward = cost_forward, .backward = cost_backward};

tg_status tg_register_loss_ops(void)
{
    TG_TRY(tg_op_register(&focal_op));
    TG_TRY(tg_op_register(&bce_op));
    return tg_op_register(&cost_op);
}

tg_tensor *tg_focal_loss(const tg_tensor *logits, const tg_tensor *targets, double gamma, const tg_tensor *alpha)
{
    const tg_tensor *in[3] = {logits, targets, alpha};
    focal_attr a = {gamma};
    return tg_apply(&focal_op, in, alpha ? 3 : 2, &a, sizeof a);
}

tg_tensor *tg_bce_logits(const tg_tensor *logits, const tg_tensor *targets, const tg_tensor *pos_weight)
{
    const tg_tensor *in[3] = {logits, targets, pos_weight};
    return tg_apply(&bce_op, in, pos_weight ? 3 : 2, NULL, 0);
}

tg_tensor *tg_cost_matrix_loss(const tg_tensor *logits, const tg_tensor *targets, const tg_tensor *cost)
{
    const tg_tensor *in[3] = {logits, targets, cost};
    return tg_apply(&cost_op, in, 3, NULL, 0);
}
