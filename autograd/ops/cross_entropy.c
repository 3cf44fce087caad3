/* Fused log-softmax + negative log-likelihood over the last axis of the
 * logits, with PyTorch's semantics for ignore_index, label smoothing and
 * class weights, plus per-target token weights.
 *
 * For a kept target i (t_i != ignore_index) with class weights w (all 1
 * when absent), token weight u_i (1 when absent), eps = label_smoothing,
 * C classes and log p = log_softmax(logits_i):
 *   l_i = (1 - eps) * w[t_i] * -log p[t_i] + eps / C * sum_c w[c] * -log p[c]
 *   NONE: u_i * l_i per target (0 where ignored)
 *   SUM:  sum_i u_i * l_i
 *   MEAN: sum_i u_i * l_i / sum_i u_i * w[t_i]   (0 when that sum is 0)
 * so token weights scale both a target's loss and its share of the mean's
 * denominator, exactly like a class weight attached to that one target.
 *
 * The weight tensors are passed to tg_apply as extra inputs (logits,
 * targets, then class_weights and token_weights when given; the attribute
 * blob says which): the tape node then holds them for backward with their
 * own lifetime and nothing is copied. They never get a gradient.
 *
 * Nothing of size (rows, C) is stored: forward saves the per-row
 * log-sum-exp and the reduction's scale, and backward recomputes the
 * softmax from the logits in the same pass that writes the gradient.
 *
 * linear_cross_entropy fuses the output projection in front: logits =
 * h · wᵀ are made row chunk by row chunk and never exist whole. With a
 * scalar reduction the loss is linear in dout, so forward (when recording)
 * also turns each chunk's logits into their gradient and folds it at once
 * into dh (rows, D) and dw (V, D) by two matmuls; backward only scales those
 * by dout. Same FLOPs as the unfused ops, memory O(chunk · V + rows · D). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "autograd/ops/ops_internal.h"
#include "autograd/ops/vmath.h"
#include "tensor/backend.h"

typedef struct ce_attr {
    int32_t ignore_index;
    float smoothing;
    int32_t reduction; /* tg_reduction */
    bool has_cw, has_tw;
} ce_attr;

/* The optional inputs, NULL when absent. */
static const tg_tensor *class_w(const tg_tensor *const *in, const ce_attr *a) { return a->has_cw ? in[2] : NULL; }
static const tg_tensor *token_w(const tg_tensor *const *in, const ce_attr *a)
{
    return a->has_tw ? in[2 + a->has_cw] : NULL;
}

/* ---- shape inference ---- */

static tg_status ce_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    const char *fn = "cross_entropy";
    const ce_attr *a = attr;
    if (!a) return tg_error(TG_ERR_INVALID, "%s: missing attributes (use tg_cross_entropy)", fn);
    if (n_in != 2 + a->has_cw + a->has_tw)
        return tg_error(TG_ERR_INVALID, "%s: expects %d inputs, got %d", fn, 2 + a->has_cw + a->has_tw, n_in);
    const tg_shape *ls = tg_tensor_shape(in[0]), *ts = tg_tensor_shape(in[1]);
    char s1[96], s2[96], s3[96];
    TG_TRY(tg_ops_require_f32(in[0], fn, "logits"));
    if (ls->ndim < 1 || ls->dims[ls->ndim - 1] < 1)
        return tg_error(TG_ERR_SHAPE, "%s: logits %s need a last (class) dim of at least 1", fn,
                        tg_shape_str(ls, s1, sizeof s1));
    if (tg_tensor_dtype(in[1]) != TG_S32)
        return tg_error(TG_ERR_DTYPE, "%s: targets must be s32, got %s", fn, tg_dtype_name(tg_tensor_dtype(in[1])));
    tg_shape lead = *ls;
    lead.ndim--; /* (...) : the logits without the class dim */
    if (!tg_shape_equal(ts, &lead))
        return tg_error(TG_ERR_SHAPE, "%s: targets %s must have the logits' leading shape %s (logits %s)", fn,
                        tg_shape_str(ts, s1, sizeof s1), tg_shape_str(&lead, s2, sizeof s2),
                        tg_shape_str(ls, s3, sizeof s3));
    const tg_tensor *cw = class_w(in, a), *tw = token_w(in, a);
    if (cw) {
        TG_TRY(tg_ops_require_f32(cw, fn, "class_weights"));
        const tg_shape *cs = tg_tensor_shape(cw);
        if (cs->ndim != 1 || cs->dims[0] != ls->dims[ls->ndim - 1])
            return tg_error(TG_ERR_SHAPE, "%s: class_weights %s must be (%lld), one per class of logits %s", fn,
                            tg_shape_str(cs, s1, sizeof s1), (long long)ls->dims[ls->ndim - 1],
                            tg_shape_str(ls, s2, sizeof s2));
    }
    if (tw) {
        TG_TRY(tg_ops_require_f32(tw, fn, "token_weights"));
        if (!tg_shape_equal(tg_tensor_shape(tw), ts))
            return tg_error(TG_ERR_SHAPE, "%s: token_weights %s must have the targets' shape %s", fn,
                            tg_shape_str(tg_tensor_shape(tw), s1, sizeof s1), tg_shape_str(ts, s2, sizeof s2));
    }
    *out = a->reduction == TG_REDUCE_NONE ? *ts : TG_SCALAR_SHAPE;
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

/* TG_ERR_INVALID naming the first target outside [0, C) that is not the
 * ignore index, with its flat position and multi-index. */
static tg_status check_targets(const tg_tensor *targets, int64_t C, int32_t ignore)
{
    const int32_t *t = tg_s32(targets);
    const int64_t n = tg_tensor_numel(targets);
    for (int64_t i = 0; i < n; i++) {
        if (t[i] == ignore || (t[i] >= 0 && t[i] < C)) continue;
        const tg_shape *s = tg_tensor_shape(targets);
        char idx[160] = "";
        size_t len = 0;
        int64_t stride = n;
        for (int d = 0; d < s->ndim && len < sizeof idx; d++) {
            stride /= s->dims[d];
            len += (size_t)snprintf(idx + len, sizeof idx - len, "%s%lld", d ? ", " : "",
                                    (long long)(i / stride % s->dims[d]));
        }
        return tg_error(TG_ERR_INVALID,
                        "cross_entropy: target %d at position %lld (index [%s]) is outside [0, %lld) and is not "
                        "ignore_index %d",
                        t[i], (long long)i, idx, (long long)C, ignore);
    }
    return TG_OK;
}

/* The loss l_i of kept row zr (C logits, target t) and its log-sum-exp
 * (*lse). cw may be NULL; wsum is the sum of the class weights (C without).
 * With e the pass that sums the exponentials also stores them there,
 * e = exp(zr - max), and *inv = 1 / their sum. */
static inline float ce_row_loss(float *lse, const float *zr, float *e, float *inv, int32_t t, const float *cw,
                                double wsum, float eps, int64_t C)
{
    const float keep = 1.0f - eps, smooth = eps / (float)C, zt = zr[t];
    const float mx = tg_vmax_n(zr, C);
    /* with smoothing, sum_c w[c] * -log p[c] = W * lse - sum_c w[c] * z[c] */
    float wz = 0.0f;
    if (eps > 0.0f && cw) {
#pragma omp simd reduction(+ : wz)
        for (int64_t j = 0; j < C; j++) wz += cw[j] * zr[j];
    } else if (eps > 0.0f) {
#pragma omp simd reduction(+ : wz)
        for (int64_t j = 0; j < C; j++) wz += zr[j];
    }
    float s = 0.0f;
    if (e) {
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < C; j++) {
            const float x = tg_vexpf_fast(zr[j] - mx);
            e[j] = x;
            s += x;
        }
        *inv = 1.0f / s;
    } else {
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < C; j++) s += tg_vexpf_fast(zr[j] - mx);
    }
    const float l = mx + logf(s);
    float li = keep * (cw ? cw[t] : 1.0f) * (l - zt);
    if (eps > 0.0f) li += smooth * (float)(wsum * (double)l - (double)wz);
    *lse = l;
    return li;
}

/* Per-row losses loss (rows) = u_i * l_i (0 where ignored) and lse (rows);
 * returns sum_i u_i * l_i and, in *denom, sum_i u_i * w[t_i] over kept rows.
 * cw, tw may be NULL. */
static double ce_fwd_kernel(float *loss, float *lse, double *denom, const float *z, const int32_t *t, const float *cw,
                            const float *tw, double wsum, int32_t ignore, float eps, int64_t rows, int64_t C)
{
    double total = 0.0, den = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total, den) if (rows * C > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        if (t[r] == ignore) {
            loss[r] = 0.0f;
            lse[r] = 0.0f;
            continue;
        }
        const float u = tw ? tw[r] : 1.0f, li = ce_row_loss(&lse[r], z + r * C, NULL, NULL, t[r], cw, wsum, eps, C);
        loss[r] = u * li;
        total += (double)(u * li);
        den += (double)u * (double)(cw ? cw[t[r]] : 1.0f);
    }
    *denom = den;
    return total;
}

static double class_weight_sum(const float *cw, int64_t C)
{
    if (!cw) return (double)C;
    double s = 0.0;
    for (int64_t j = 0; j < C; j++) s += cw[j];
    return s;
}

static tg_status ce_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    const ce_attr *a = attr;
    const tg_shape *ls = tg_tensor_shape(in[0]);
    const int64_t C = ls->dims[ls->ndim - 1], rows = tg_tensor_numel(in[1]);
    TG_TRY(check_targets(in[1], C, a->ignore_index));
    const tg_tensor *cw = class_w(in, a), *tw = token_w(in, a);
    const bool none = a->reduction == TG_REDUCE_NONE;
    tg_tensor *lse = tg_tensor_empty(TG_STEP, *tg_tensor_shape(in[1]), TG_F32); /* (...) per row */
    float *loss = none ? tg_f32(out) : tg_op_scratch(ctx, sizeof(float) * (size_t)(rows ? rows : 1));
    if (!lse || !loss) return TG_ERR_OOM;
    double denom = 0.0;
    const double total = ce_fwd_kernel(loss, tg_f32(lse), &denom, tg_f32(in[0]), tg_s32(in[1]), cw ? tg_f32(cw) : NULL,
                                       tw ? tg_f32(tw) : NULL, class_weight_sum(cw ? tg_f32(cw) : NULL, C),
                                       a->ignore_index, a->smoothing, rows, C);
    /* backward multiplies dout by scale: 1/denom for the mean (0 when
     * nothing is kept, so an all-ignored batch gives loss 0 and no grad) */
    double scale = 1.0;
    if (a->reduction == TG_REDUCE_MEAN) scale = denom != 0.0 ? 1.0 / denom : 0.0;
    if (!none) tg_f32(out)[0] = (float)(total * scale);
    if (!tg_op_recording(ctx)) return TG_OK;
    tg_tensor *sc = tg_full(TG_STEP, TG_SCALAR_SHAPE, TG_F32, scale);
    if (!sc) return TG_ERR_OOM;
    TG_TRY(tg_op_save(ctx, lse));
    return tg_op_save(ctx, sc);
}

/* ---- backward ---- */

/* Row zr's gradient g ((1-eps) w[t] (p - onehot(t)) + eps/C (W p - w)),
 * p = exp(zr - l), added into dzr (add) or written to it. */
static inline void ce_row_grad(float *dzr, bool add, const float *zr, float l, int32_t t, float g, const float *cw,
                               float wsum, float eps, int64_t C)
{
    const float keep = 1.0f - eps, smooth = eps / (float)C, wt = cw ? cw[t] : 1.0f;
    const float gp = g * (keep * wt + smooth * wsum); /* coefficient of p */
    if (cw) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++)
            dzr[j] = (add ? dzr[j] : 0.0f) + (gp * tg_vexpf_fast(zr[j] - l) - g * smooth * cw[j]);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) dzr[j] = (add ? dzr[j] : 0.0f) + (gp * tg_vexpf_fast(zr[j] - l) - g * smooth);
    }
    dzr[t] -= g * keep * wt;
}

/* ce_row_grad written as bf16 into dr (the operand of bf16 matmuls, made
 * without an f32 copy), from e = exp(zr - mx) and inv = 1 / sum(e), so
 * p = e * inv needs no second exp. */
static inline void ce_row_grad_bf16(uint16_t *dr, const float *e, float inv, int32_t t, float g, const float *cw,
                                    float wsum, float eps, int64_t C)
{
    const float keep = 1.0f - eps, smooth = eps / (float)C, wt = cw ? cw[t] : 1.0f;
    const float gp = g * (keep * wt + smooth * wsum) * inv;
    if (cw) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) dr[j] = tg_vbf16(gp * e[j] - g * smooth * cw[j]);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) dr[j] = tg_vbf16(gp * e[j] - g * smooth);
    }
    /* the target's value again, with its one-hot term, rounded once */
    dr[t] = tg_vbf16(gp * e[t] - g * smooth * wt - g * keep * wt);
}

/* dz (rows, C) += g_i * row gradient, g_i = (dy_none ? dy_none[i] : dy) *
 * scale * u_i. */
static void ce_bwd_kernel(float *dz, const float *lse, float scale, float dy, const float *dy_none, const float *z,
                          const int32_t *t, const float *cw, const float *tw, float wsum, int32_t ignore, float eps,
                          int64_t rows, int64_t C)
{
#pragma omp parallel for schedule(static) if (rows * C > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        if (t[r] == ignore) continue;
        const float g = (dy_none ? dy_none[r] : dy) * scale * (tw ? tw[r] : 1.0f);
        if (g != 0.0f) ce_row_grad(dz + r * C, true, z + r * C, lse[r], t[r], g, cw, wsum, eps, C);
    }
}

/* Losses and lse as ce_fwd_kernel, and in the same pass over each row (while
 * it is in cache) the gradient of the reduced loss for dy = 1 and scale 1,
 * written into dz (f32) or dzb (bf16), whichever is given (zeros for rows
 * without one). With dzb the row's exponentials go to ebuf (C floats per
 * thread, reused row after row so they never leave the cache) and the
 * gradient is made from them. */
static double ce_fused_kernel(float *loss, float *lse, double *denom, float *dz, uint16_t *dzb, float *ebuf,
                              const float *z, const int32_t *t, const float *cw, const float *tw, double wsum,
                              int32_t ignore, float eps, int64_t rows, int64_t C)
{
    double total = 0.0, den = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total, den) if (rows * C > TG_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float u = tw ? tw[r] : 1.0f, *zr = z + r * C;
        float *e = dzb ? ebuf + (size_t)omp_get_thread_num() * (size_t)C : NULL, li = 0.0f, l = 0.0f, inv = 0.0f;
        if (t[r] != ignore) {
            li = ce_row_loss(&l, zr, e, &inv, t[r], cw, wsum, eps, C);
            total += (double)(u * li);
            den += (double)u * (double)(cw ? cw[t[r]] : 1.0f);
        }
        loss[r] = u * li;
        lse[r] = l;
        const bool none = t[r] == ignore || u == 0.0f;
        if (dzb && none) memset(dzb + r * C, 0, sizeof(uint16_t) * (size_t)C);
        if (dzb && !none) ce_row_grad_bf16(dzb + r * C, e, inv, t[r], u, cw, (float)wsum, eps, C);
        if (dz && none) memset(dz + r * C, 0, sizeof(float) * (size_t)C);
        if (dz && !none) ce_row_grad(dz + r * C, false, zr, l, t[r], u, cw, (float)wsum, eps, C);
    }
    *denom = den;
    return total;
}

static tg_status ce_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    if (!din[0]) return TG_OK; /* weights get no gradient */
    const ce_attr *a = tg_op_attr(ctx);
    const tg_tensor *const in[4] = {tg_op_input(ctx, 0), tg_op_input(ctx, 1),
                                    tg_op_n_in(ctx) > 2 ? tg_op_input(ctx, 2) : NULL,
                                    tg_op_n_in(ctx) > 3 ? tg_op_input(ctx, 3) : NULL};
    const tg_tensor *cw = class_w(in, a), *tw = token_w(in, a);
    const tg_shape *ls = tg_tensor_shape(in[0]);
    const int64_t C = ls->dims[ls->ndim - 1], rows = tg_tensor_numel(in[1]);
    const bool none = a->reduction == TG_REDUCE_NONE;
    const float *cwp = cw ? tg_f32(cw) : NULL;
    ce_bwd_kernel(tg_f32(din[0]), tg_f32(tg_op_saved(ctx, 0)), tg_f32(tg_op_saved(ctx, 1))[0],
                  none ? 0.0f : tg_f32(dout)[0], none ? tg_f32(dout) : NULL, tg_f32(in[0]), tg_s32(in[1]), cwp,
                  tw ? tg_f32(tw) : NULL, (float)class_weight_sum(cwp, C), a->ignore_index, a->smoothing, rows, C);
    return TG_OK;
}

/* ---- linear + cross-entropy, chunked ---- */

typedef struct lce_attr {
    ce_attr ce;         /* reduction MEAN or SUM */
    int32_t compute;    /* tg_dtype of the matmuls: TG_F32 or TG_BF16 */
    int64_t chunk_rows; /* rows of logits made at once */
} lce_attr;

/* inputs: h (..., D), w (V, D), targets (...), then the optional weights */
static tg_status lce_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    const char *fn = "linear_cross_entropy";
    const lce_attr *a = attr;
    char s1[96], s2[96];
    if (n_in != 3 + a->ce.has_cw + a->ce.has_tw)
        return tg_error(TG_ERR_INVALID, "%s: expects %d inputs, got %d", fn, 3 + a->ce.has_cw + a->ce.has_tw, n_in);
    TG_TRY(tg_ops_require_f32(in[0], fn, "h"));
    TG_TRY(tg_ops_require_f32(in[1], fn, "w"));
    const tg_shape *hs = tg_tensor_shape(in[0]), *ws = tg_tensor_shape(in[1]);
    if (hs->ndim < 1 || ws->ndim != 2 || ws->dims[1] != hs->dims[hs->ndim - 1] || ws->dims[0] < 1)
        return tg_error(TG_ERR_SHAPE, "%s: h %s does not fit w %s (want h (..., D), w (V, D))", fn,
                        tg_shape_str(hs, s1, sizeof s1), tg_shape_str(ws, s2, sizeof s2));
    tg_shape lead = *hs;
    lead.ndim--; /* (...) */
    if (tg_tensor_dtype(in[2]) != TG_S32 || !tg_shape_equal(tg_tensor_shape(in[2]), &lead))
        return tg_error(TG_ERR_SHAPE, "%s: targets must be s32 of h's leading shape %s, got %s %s", fn,
                        tg_shape_str(&lead, s1, sizeof s1), tg_dtype_name(tg_tensor_dtype(in[2])),
                        tg_shape_str(tg_tensor_shape(in[2]), s2, sizeof s2));
    const tg_tensor *cw = class_w(in + 1, &a->ce), *tw = token_w(in + 1, &a->ce);
    if (cw && (tg_tensor_dtype(cw) != TG_F32 || tg_tensor_ndim(cw) != 1 || tg_tensor_dim(cw, 0) != ws->dims[0]))
        return tg_error(TG_ERR_SHAPE, "%s: class_weights must be f32 (%lld), one per row of w", fn,
                        (long long)ws->dims[0]);
    if (tw && (tg_tensor_dtype(tw) != TG_F32 || !tg_shape_equal(tg_tensor_shape(tw), &lead)))
        return tg_error(TG_ERR_SHAPE, "%s: token_weights must be f32 of the targets' shape %s", fn,
                        tg_shape_str(&lead, s1, sizeof s1));
    *out = TG_SCALAR_SHAPE;
    *dt = TG_F32;
    return TG_OK;
}

/* Per-forward buffers and views. */
typedef struct lce_run {
    int64_t rows, D, V, chunk;
    const void *h;       /* matmul operand (a bf16 copy in bf16 mode) */
    const float *w;      /* f32 mode */
    const void *wz, *wd; /* bf16 mode: w packed for z and dh, for chunks of packed_n rows */
    int64_t packed_n;
    tg_dtype dt;
    float *z, *dz; /* (chunk, V); dz only in f32 mode */
    uint16_t *dzb; /* (chunk, V) dz in bf16, bf16 mode */
    float *ebuf;   /* bf16 mode: (threads, V) one row's exponentials per thread */
} lce_run;

static tg_matmul_desc lce_desc(const lce_run *r, int64_t m, int64_t k, int64_t n, bool at, bool bt, bool acc)
{
    tg_matmul_desc d = {.ndim = 2, .ab_dtype = r->dt, .accumulate = acc};
    tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, m, k, at);
    tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, k, n, bt);
    tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, m, n, false);
    return d;
}

/* The products of a chunk of n rows: z (n, V) = h rows · wᵀ, dh rows (n, D)
 * = dz · w, dw (V, D) += dzᵀ · h rows (= for the first chunk). */
static tg_matmul_desc desc_z(const lce_run *r, int64_t n) { return lce_desc(r, n, r->D, r->V, false, true, false); }
static tg_matmul_desc desc_dh(const lce_run *r, int64_t n) { return lce_desc(r, n, r->V, r->D, false, false, false); }
static tg_matmul_desc desc_dw(const lce_run *r, int64_t n, bool acc)
{
    return lce_desc(r, r->V, n, r->D, true, false, acc);
}

/* In bf16 mode, f32 w rounded into the blocked layouts of the products
 * that read it (r->wz; r->wd for dh only when recording), once per chunk
 * size instead of inside every oneDNN call. */
static tg_status pack_w(tg_op_ctx *ctx, lce_run *r, const tg_tensor *w, int64_t n, bool rec)
{
    if (r->dt != TG_BF16 || r->packed_n == n || r->D == 0) return TG_OK;
    const tg_matmul_desc dz = desc_z(r, n), dd = desc_dh(r, n);
    TG_TRY(tg_ops_pack_weight(ctx, &dz, w, &r->wz));
    if (rec) TG_TRY(tg_ops_pack_weight(ctx, &dd, w, &r->wd));
    r->packed_n = n;
    return TG_OK;
}

/* Runs product d (desc_z or desc_dh of n rows) with b = its packed w, wp,
 * when there is one, else f32 w. */
static tg_status run_w(const lce_run *r, tg_matmul_desc d, int64_t n, float *c, const void *a, const void *wp)
{
    d.b_packed = r->packed_n == n;
    return tg_backend_matmul(tg_ctx_current(), &d, c, a, d.b_packed ? wp : r->w, NULL);
}

static const void *row_ptr(const lce_run *r, const void *base, int64_t row, int64_t width)
{
    const size_t el = r->dt == TG_BF16 ? 2 : 4;
    return (const char *)base + (size_t)(row * width) * el;
}

/* The f32 input t as a matmul operand in r->dt (a saved bf16 copy). */
static const void *operand(const tg_tensor *t, tg_dtype dt)
{
    if (dt == TG_F32) return tg_f32(t);
    tg_tensor *b = tg_tensor_empty(TG_STEP, *tg_tensor_shape(t), TG_BF16);
    if (!b) return NULL;
    tg_f32_to_bf16_n(tg_bf16(b), tg_f32(t), tg_tensor_numel(t));
    return tg_bf16(b);
}

/* The chunks of one forward: losses into *total and *denom and, when
 * recording, dh and dw. Every buffer it takes is scratch the caller gives
 * back afterwards (the logits chunk is the largest block of a step). */
static tg_status lce_chunks(tg_op_ctx *ctx, lce_run *r, const tg_tensor *const *in, const lce_attr *a, tg_tensor *dh,
                            tg_tensor *dw, double *total, double *denom)
{
    const tg_tensor *cw = class_w(in + 1, &a->ce), *tw = token_w(in + 1, &a->ce);
    const bool rec = dh != NULL;
    const size_t zn = (size_t)((r->chunk > 0 ? r->chunk : 1) * r->V);
    r->h = operand(in[0], r->dt);
    r->z = tg_op_scratch(ctx, sizeof(float) * zn);
    r->dz = rec && r->dt == TG_F32 ? tg_op_scratch(ctx, sizeof(float) * zn) : NULL;
    r->dzb = rec && r->dt == TG_BF16 ? tg_op_scratch(ctx, sizeof(uint16_t) * zn) : NULL;
    r->ebuf = r->dzb ? tg_op_scratch(ctx, sizeof(float) * (size_t)(omp_get_max_threads() * r->V)) : NULL;
    float *loss = tg_op_scratch(ctx, sizeof(float) * (size_t)(r->rows ? r->rows : 1)),
          *lse = tg_op_scratch(ctx, sizeof(float) * (size_t)(r->rows ? r->rows : 1));
    if (!r->h || !r->z || !loss || !lse || (rec && (!(r->dz || r->dzb) || (r->dzb && !r->ebuf)))) return TG_ERR_OOM;
    const float *cwp = cw ? tg_f32(cw) : NULL, *twp = tw ? tg_f32(tw) : NULL;
    const double wsum = class_weight_sum(cwp, r->V);
    const int32_t *t = tg_s32(in[2]);
    for (int64_t r0 = 0; r0 < r->rows; r0 += r->chunk) {
        const int64_t n = r->rows - r0 < r->chunk ? r->rows - r0 : r->chunk;
        TG_TRY(pack_w(ctx, r, in[1], n, rec));
        TG_TRY(run_w(r, desc_z(r, n), n, r->z, row_ptr(r, r->h, r0, r->D), r->wz));
        double den = 0.0;
        const int32_t *tc = t + r0;
        const float *twc = twp ? twp + r0 : NULL;
        if (rec)
            *total += ce_fused_kernel(loss + r0, lse + r0, &den, r->dz, r->dzb, r->ebuf, r->z, tc, cwp, twc, wsum,
                                      a->ce.ignore_index, a->ce.smoothing, n, r->V);
        else
            *total += ce_fwd_kernel(loss + r0, lse + r0, &den, r->z, tc, cwp, twc, wsum, a->ce.ignore_index,
                                    a->ce.smoothing, n, r->V);
        *denom += den;
        if (!rec) continue;
        const void *g = r->dzb ? (const void *)r->dzb : (const void *)r->dz;
        /* dh rows (n, D) = dz (n, V) · w (V, D);  dw (V, D) += dzᵀ (V, n) · h rows (n, D) */
        TG_TRY(run_w(r, desc_dh(r, n), n, tg_f32(dh) + r0 * r->D, g, r->wd));
        const tg_matmul_desc d = desc_dw(r, n, r0 > 0);
        TG_TRY(tg_backend_matmul(tg_ctx_current(), &d, tg_f32(dw), g, row_ptr(r, r->h, r0, r->D), NULL));
    }
    return TG_OK;
}

static tg_status lce_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    const lce_attr *a = attr;
    lce_run r = {.rows = tg_tensor_numel(in[2]),
                 .D = tg_tensor_dim(in[1], 1),
                 .V = tg_tensor_dim(in[1], 0),
                 .dt = (tg_dtype)a->compute,
                 .w = tg_f32(in[1]),
                 .packed_n = -1};
    TG_TRY(check_targets(in[2], r.V, a->ce.ignore_index));
    r.chunk = a->chunk_rows < r.rows ? a->chunk_rows : r.rows;
    const bool rec = tg_op_recording(ctx);
    tg_tensor *dh = rec ? tg_tensor_empty(TG_STEP, *tg_tensor_shape(in[0]), TG_F32) : NULL; /* (..., D) */
    tg_tensor *dw = !rec     ? NULL /* (V, D), written by the chunks' products */
                    : r.rows ? tg_tensor_empty(TG_STEP, *tg_tensor_shape(in[1]), TG_F32)
                             : tg_zeros(TG_STEP, *tg_tensor_shape(in[1]), TG_F32);
    if (rec && (!dh || !dw)) return TG_ERR_OOM;
    double total = 0.0, denom = 0.0;
    const tg_mark mark = tg_mark_get(); /* the chunks' scratch is given back */
    const tg_status st = lce_chunks(ctx, &r, in, a, dh, dw, &total, &denom);
    tg_mark_rewind(mark);
    TG_TRY(st);
    double scale = 1.0;
    if (a->ce.reduction == TG_REDUCE_MEAN) scale = denom != 0.0 ? 1.0 / denom : 0.0;
    tg_f32(out)[0] = (float)(total * scale);
    if (!rec) return TG_OK;
    tg_tensor *sc = tg_full(TG_STEP, TG_SCALAR_SHAPE, TG_F32, scale);
    if (!sc) return TG_ERR_OOM;
    TG_TRY(tg_op_save(ctx, dh));
    TG_TRY(tg_op_save(ctx, dw));
    return tg_op_save(ctx, sc);
}

/* dst (n) = g · src (n), or += when !fresh. */
static void axpy(float *dst, bool fresh, float g, const float *src, int64_t n)
{
    if (fresh) {
#pragma omp parallel for simd if (n > TG_OMP_MIN)
        for (int64_t i = 0; i < n; i++) dst[i] = g * src[i];
        return;
    }
#pragma omp parallel for simd if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) dst[i] += g * src[i];
}

static tg_status lce_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const float g = tg_f32(dout)[0] * tg_f32(tg_op_saved(ctx, 2))[0];
    for (int i = 0; i < 2; i++) {
        const tg_tensor *d = tg_op_saved(ctx, i);
        if (din[i]) axpy(tg_f32(din[i]), tg_op_grad_fresh(ctx, i), g, tg_f32(d), tg_tensor_numel(d));
    }
    return TG_OK;
}

/* ---- descriptors ---- */

static const tg_op cross_entropy_op = {
    .name = "cross_entropy", .n_in = -1, .infer = ce_infer, .forward = ce_forward, .backward = ce_backward};

static const tg_op linear_cross_entropy_op = {.name = "linear_cross_entropy",
                                              .n_in = -1,
                                              .flags = TG_OP_FRESH_GRADS,
                                              .infer = lce_infer,
                                              .forward = lce_forward,
                                              .backward = lce_backward};

tg_status tg_register_cross_entropy_ops(void)
{
    TG_TRY(tg_op_register(&cross_entropy_op));
    return tg_op_register(&linear_cross_entropy_op);
}

tg_ce_opts tg_ce_defaults(void)
{
    return (tg_ce_opts){.ignore_index = -100, .label_smoothing = 0.0, .reduction = TG_REDUCE_MEAN};
}

/* Checks o and fills the attribute blob and the optional inputs after the
 * first `n` of `in`; returns the input count, or -1 with the error set. */
static int ce_prepare(const tg_ce_opts *o, const char *fn, ce_attr *a, const tg_tensor **in, int n)
{
    if (!(o->label_smoothing >= 0.0 && o->label_smoothing < 1.0)) {
        tg_error(TG_ERR_INVALID, "%s: label_smoothing must be in [0, 1), got %g", fn, o->label_smoothing);
        return -1;
    }
    if (o->reduction != TG_REDUCE_MEAN && o->reduction != TG_REDUCE_SUM && o->reduction != TG_REDUCE_NONE) {
        tg_error(TG_ERR_INVALID, "%s: unknown reduction %d", fn, (int)o->reduction);
        return -1;
    }
    *a = (ce_attr){.ignore_index = o->ignore_index,
                   .smoothing = (float)o->label_smoothing,
                   .reduction = (int32_t)o->reduction,
                   .has_cw = o->class_weights != NULL,
                   .has_tw = o->token_weights != NULL};
    if (o->class_weights) in[n++] = o->class_weights;
    if (o->token_weights) in[n++] = o->token_weights;
    return n;
}

tg_tensor *tg_cross_entropy(const tg_tensor *logits, const tg_tensor *targets, const tg_ce_opts *opts)
{
    if (!logits || !targets) return NULL; /* keep the earlier call's message */
    const tg_ce_opts o = opts ? *opts : tg_ce_defaults();
    ce_attr a;
    const tg_tensor *in[4] = {logits, targets};
    const int n = ce_prepare(&o, "cross_entropy", &a, in, 2);
    return n < 0 ? NULL : tg_apply(&cross_entropy_op, in, n, &a, sizeof a);
}

tg_tensor *tg_linear_cross_entropy(const tg_tensor *h, const tg_tensor *w, const tg_tensor *targets,
                                   const tg_ce_opts *opts, tg_dtype compute, int64_t chunk_rows)
{
    if (!h || !w || !targets) return NULL;
    const tg_ce_opts o = opts ? *opts : tg_ce_defaults();
    const char *fn = "linear_cross_entropy";
    if (o.reduction == TG_REDUCE_NONE) {
        tg_error(TG_ERR_INVALID, "%s: needs a MEAN or SUM reduction (use tg_linear + tg_cross_entropy for NONE)", fn);
        return NULL;
    }
    if ((compute != TG_F32 && compute != TG_BF16) || chunk_rows < 0) {
        tg_error(TG_ERR_INVALID, "%s: compute must be f32 or bf16 and chunk_rows >= 0, got %s, %lld", fn,
                 tg_dtype_name(compute), (long long)chunk_rows);
        return NULL;
    }
    lce_attr a = {.compute = (int32_t)compute, .chunk_rows = chunk_rows};
    if (!chunk_rows) { /* 32 MiB of f32 logits per chunk: fewer, larger matmuls amortize oneDNN weight packing */
        const int64_t V = tg_tensor_ndim(w) == 2 && tg_tensor_dim(w, 0) > 0 ? tg_tensor_dim(w, 0) : 1;
        a.chunk_rows = ((int64_t)1 << 23) / V > 0 ? ((int64_t)1 << 23) / V : 1;
    }
    const tg_tensor *in[5] = {h, w, targets};
    const int n = ce_prepare(&o, fn, &a.ce, in, 3);
    return n < 0 ? NULL : tg_apply(&linear_cross_entropy_op, in, n, &a, sizeof a);
}
