/* Fused scaled-dot-product attention, flash-style.
 *
 * Forward walks blocks of queries against blocks of keys with an online
 * softmax (running row max m and sum l), so no T×T matrix ever exists; it
 * saves only the per-row log-sum-exp for backward. Backward (FlashAttention-2)
 * recomputes the probabilities tile by tile from q, k and that log-sum-exp:
 *   P = exp(S - lse),  D_i = rowsum(dO_i ∘ O_i),
 *   dV += Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - D_i),
 *   dQ += scale dS K,  dK += scale dSᵀ Q.
 * Masked scores are -inf inside a tile; a query with no valid key outputs
 * zeros and gets no gradient.
 *
 * Two layouts: separate q, k, v (B, H, T, Dh) giving (B, H, T, Dh), or one
 * packed qkv (B, T, 3·H·Dh) straight from the qkv projection giving
 * (B, T, H·Dh), the input of the output projection; the packed form reads
 * rows through strides and so needs no head split/merge copies.
 *
 * Mixed precision (compute bf16, on CPUs with AVX-512 BF16): the five tile
 * products take q, k, v, dO, P and dS rounded to bf16 and accumulate in f32
 * (tile_bf16.h); the softmax, its statistics, dS and the accumulators stay
 * f32. Other CPUs run the f32 tiles.
 *
 * Kept probabilities: with bf16 products and a sequence short enough that
 * the tiles of P (bf16) take no more memory than the f32 q, k, v they come
 * from, forward runs a plain two-pass softmax over all of a query block's
 * keys and stores P, pair-packed as the Pᵀ dO product reads it; backward
 * then skips S = q kᵀ (one product of five) and the exponentials. Memory
 * stays O(T·Dh) per head either way.
 *
 * This file is the op: attributes, shape inference, the geometry and
 * workspaces of a call, and the parallel loops handing work items to the
 * f32 tile path (attention_f32.c) or the bf16 one (attention_bf16.c). What
 * they all compute, plainly and in O(T²), is attention_ref.c. */
#include <math.h>
#include <omp.h>

#include "autograd/ops/attention_internal.h"
#include "autograd/ops/tile_bf16.h"

typedef struct attn_attr {
    bool causal;
    bool bf16;     /* bf16 tile products (when the CPU has them) */
    float scale;   /* already resolved: never 0 */
    int64_t heads; /* > 0: packed qkv input with this many heads */
} attn_attr;

/* ---- shape inference ---- */

static tg_status check_lengths(const tg_tensor *len, int64_t B, int64_t T)
{
    char a[96];
    const tg_shape *ls = tg_tensor_shape(len);
    if (tg_tensor_dtype(len) != TG_S32)
        return tg_error(TG_ERR_DTYPE, "attention: lengths must be s32, got %s", tg_dtype_name(tg_tensor_dtype(len)));
    if (ls->ndim != 1 || ls->dims[0] != B)
        return tg_error(TG_ERR_SHAPE, "attention: lengths shape %s must be (B) = (%lld)", tg_shape_str(ls, a, sizeof a),
                        (long long)B);
    const int32_t *l = tg_s32(len);
    for (int64_t i = 0; i < B; i++)
        if (l[i] < 0 || l[i] > T)
            return tg_error(TG_ERR_INVALID, "attention: lengths[%lld] = %d is outside [0, T = %lld]", (long long)i,
                            l[i], (long long)T);
    return TG_OK;
}

/* qkv (B, T, 3·heads·Dh) [+ lengths (B)] -> (B, T, heads·Dh). */
static tg_status packed_infer(const tg_tensor *const *in, int n_in, int64_t heads, tg_shape *out, tg_dtype *dt)
{
    char a[96];
    if (n_in != 1 && n_in != 2)
        return tg_error(TG_ERR_INVALID, "attention: packed form expects qkv and optional lengths, got %d inputs", n_in);
    const tg_shape *s = tg_tensor_shape(in[0]);
    tg_dtype d = tg_tensor_dtype(in[0]);
    if (d != TG_F32 && d != TG_BF16)
        return tg_error(TG_ERR_DTYPE, "attention: qkv must be f32 or bf16, got %s", tg_dtype_name(d));
    if (s->ndim != 3 || s->dims[2] % (3 * heads) || s->dims[2] == 0)
        return tg_error(TG_ERR_SHAPE, "attention: qkv must be (B, T, 3·%lld·Dh) with Dh >= 1, got %s", (long long)heads,
                        tg_shape_str(s, a, sizeof a));
    if (n_in == 2) TG_TRY(check_lengths(in[1], s->dims[0], s->dims[1]));
    *out = *s;
    out->dims[2] = s->dims[2] / 3; /* (B, T, D) */
    *dt = TG_F32;
    return TG_OK;
}

static tg_status attention_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    char a[96], b[96];
    const int64_t heads = ((const attn_attr *)attr)->heads;
    if (heads > 0) return packed_infer(in, n_in, heads, out, dt);
    if (n_in != 3 && n_in != 4)
        return tg_error(TG_ERR_INVALID, "attention: expects q, k, v and optional lengths, got %d inputs", n_in);
    const tg_shape *qs = tg_tensor_shape(in[0]);
    static const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        const tg_shape *s = tg_tensor_shape(in[i]);
        tg_dtype d = tg_tensor_dtype(in[i]);
        if (s->ndim != 4)
            return tg_error(TG_ERR_SHAPE, "attention: %s must be (B, H, T, Dh), got rank %d %s", names[i], s->ndim,
                            tg_shape_str(s, a, sizeof a));
        if (d != TG_F32 && d != TG_BF16)
            return tg_error(TG_ERR_DTYPE, "attention: %s must be f32 or bf16, got %s", names[i], tg_dtype_name(d));
        if (!tg_shape_equal(s, qs))
            return tg_error(TG_ERR_SHAPE, "attention: %s shape %s differs from q shape %s", names[i],
                            tg_shape_str(s, a, sizeof a), tg_shape_str(qs, b, sizeof b));
    }
    if (qs->dims[3] < 1) return tg_error(TG_ERR_SHAPE, "attention: head dim Dh must be >= 1, got 0");
    if (n_in == 4) TG_TRY(check_lengths(in[3], qs->dims[0], qs->dims[2]));
    *out = *qs;
    *dt = TG_F32;
    return TG_OK;
}

/* ---- geometry and workspaces ---- */

static size_t ws_floats(const attn_geom *g)
{
    const int64_t D = g->D, T = g->T;
    const size_t f32 = (size_t)(10 * BQ * D + 2 * BQ * BK + 2 * BQ + (g->keep ? BQ * t_pad(T) : 0));
    return f32 + (g->bf16 ? (8 * tile_u16(D) + 4 * BQ * BK + 4 * head_u16(D, T)) / 2 : 0);
}

static void ws_carve(attn_ws *w, float *base, const attn_geom *g)
{
    const int64_t D = g->D, T = g->T;
    const size_t tile = (size_t)(BQ * D);
    float *p = base;
    w->q = p;
    p += tile;
    w->k = p;
    p += tile;
    w->kt = p;
    p += tile;
    w->v = p;
    p += tile;
    w->vt = p;
    p += tile;
    w->dout = p;
    p += tile;
    w->acc = p;
    p += tile;
    w->dq = p;
    p += tile;
    w->dk = p;
    p += tile;
    w->dv = p;
    p += tile;
    w->s = p;
    p += BQ * BK;
    w->dp = p;
    p += BQ * BK;
    w->m = p;
    p += BQ;
    w->l = p;
    p += BQ;
    w->wide = p;
    if (g->keep) p += BQ * t_pad(T);
    if (!g->bf16) return;
    uint16_t *h = (uint16_t *)p;
    const size_t rows = (size_t)(BQ * DQ(D)), sq = BQ * BK; /* BQ == BK */
    uint16_t **big[8] = {&w->qa, &w->qp, &w->oa, &w->op, &w->kc, &w->kp, &w->vc, &w->vp};
    for (int i = 0; i < 8; i++, h += rows) *big[i] = h;
    uint16_t **small[4] = {&w->pa, &w->pt, &w->sa, &w->st};
    for (int i = 0; i < 4; i++, h += sq) *small[i] = h;
    for (int i = 0; i < 4; i++, h += head_u16(D, T)) w->head[i] = h;
}

/* One workspace per thread the parallel regions below may use. */
static float *ws_alloc(tg_op_ctx *ctx, const attn_geom *g, int *n_threads)
{
    *n_threads = omp_get_max_threads();
    return tg_op_scratch(ctx, sizeof(float) * ws_floats(g) * (size_t)*n_threads);
}

/* This thread's workspace. */
static void ws_mine(attn_ws *w, float *ws, const attn_geom *g)
{
    ws_carve(w, ws + ws_floats(g) * (size_t)omp_get_thread_num(), g);
}

/* Whether P's bf16 tiles fit in the memory of the f32 q, k and v. */
static bool keep_fits(const attn_geom *g)
{
    return (size_t)n_tiles(g) * BQ * BK * sizeof(uint16_t) <= (size_t)(3 * g->T * g->D) * sizeof(float);
}

static attn_geom geom_of(const tg_tensor *const *in, int n_in, const attn_attr *a)
{
    const tg_shape *s = tg_tensor_shape(in[0]);
    attn_geom g = {.causal = a->causal, .scale = a->scale, .bf16 = a->bf16 && tg_tile_bf16_available()};
    if (a->heads > 0) { /* qkv (B, T, 3·H·Dh), out (B, T, H·Dh) */
        const int64_t C = s->dims[2] / 3;
        g.B = s->dims[0], g.H = a->heads, g.T = s->dims[1], g.D = C / a->heads;
        g.lengths = n_in == 2 ? tg_s32(in[1]) : NULL;
        g.in_bs = g.T * 3 * C, g.in_hs = g.D, g.in_ts = 3 * C;
        g.out_bs = g.T * C, g.out_hs = g.D, g.out_ts = C;
        g.k_off = C, g.v_off = 2 * C;
        g.keep = g.bf16 && keep_fits(&g);
        return g;
    }
    g.B = s->dims[0], g.H = s->dims[1], g.T = s->dims[2], g.D = s->dims[3];
    g.lengths = n_in == 4 ? tg_s32(in[3]) : NULL;
    g.in_bs = g.out_bs = g.H * g.T * g.D;
    g.in_hs = g.out_hs = g.T * g.D;
    g.in_ts = g.out_ts = g.D;
    g.keep = g.bf16 && keep_fits(&g);
    return g;
}

/* q, k and v tensors of a call (the same tensor three times when packed). */
static void qkv_of(const tg_tensor *const *in, const attn_attr *a, const tg_tensor *qkv[3])
{
    for (int i = 0; i < 3; i++) qkv[i] = a->heads > 0 ? in[0] : in[i];
}

/* Whether one thread should own each head (enough heads for every thread):
 * then the bf16 path packs a head's tiles once. */
static bool per_head(const attn_geom *g, int nt)
{
    const int64_t BH = g->B * g->H;
    return nt == 1 || BH >= 2 * nt || BH * g->T * g->T * g->D <= ATTN_OMP_MIN;
}

/* ---- forward ---- */

static tg_status attention_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr,
                                   tg_tensor *out)
{
    attn_geom g = geom_of(in, n_in, attr);
    const int64_t nqb = (g.T + BQ - 1) / BQ, BH = g.B * g.H, items = BH * nqb;
    tg_tensor *lse_t = NULL, *p_t = NULL; /* (B, H, T); (B·H, tiles, BQ·BK) */
    if (tg_op_recording(ctx)) {
        lse_t = tg_tensor_empty(TG_STEP, TG_SHAPE(g.B, g.H, g.T), TG_F32);
        if (g.keep) p_t = tg_tensor_empty(TG_STEP, TG_SHAPE(BH, n_tiles(&g), BQ * BK), TG_BF16);
        if (!lse_t || (g.keep && !p_t)) return TG_ERR_OOM;
    }
    g.p = p_t ? tg_bf16(p_t) : NULL; /* without a backward the two-pass forward stores nothing */
    int nt;
    float *ws = ws_alloc(ctx, &g, &nt);
    if (!ws) return TG_ERR_OOM;
    float *o = tg_f32(out), *lse = lse_t ? tg_f32(lse_t) : NULL;
    const tg_tensor *t[3];
    qkv_of(in, attr, t);
    const bool heads = g.bf16 && (g.keep || per_head(&g, nt)); /* keeping P needs all of a head's keys */
#pragma omp parallel if (items > 1 && BH * g.T * g.T * g.D > ATTN_OMP_MIN)
    {
        attn_ws w;
        ws_mine(&w, ws, &g);
        if (heads) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t bh = 0; bh < BH; bh++) {
                tg_attn_pack_head_kv(&w, t[1], t[2], &g, bh);
                for (int64_t q0 = 0; q0 < g.T; q0 += BQ)
                    if (g.keep)
                        tg_attn_fwd_query_block_kept(o, lse, &w, t[0], &g, bh, q0);
                    else
                        tg_attn_fwd_query_block_bf16(o, lse, &w, t[0], t[1], t[2], &g, bh, q0, true);
            }
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < items; it++) {
                if (g.bf16)
                    tg_attn_fwd_query_block_bf16(o, lse, &w, t[0], t[1], t[2], &g, it / nqb, (it % nqb) * BQ, false);
                else
                    tg_attn_fwd_query_block(o, lse, &w, t[0], t[1], t[2], &g, it / nqb, (it % nqb) * BQ);
            }
        }
    }
    if (lse_t) TG_TRY(tg_op_save(ctx, lse_t));
    return p_t ? tg_op_save(ctx, p_t) : TG_OK;
}

/* ---- backward ---- */

/* delta (B·H·T) = rowsum(dO ∘ O). */
static void row_dots(float *delta, const float *dout, const float *out, const attn_geom *g)
{
    const int64_t rows = g->B * g->H * g->T, D = g->D;
#pragma omp parallel for if (rows * D > TG_OMP_MIN)
    for (int64_t i = 0; i < rows; i++) {
        const int64_t o = out_row(g, i / g->T, i % g->T);
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t d = 0; d < D; d++) acc += dout[o + d] * out[o + d];
        delta[i] = acc;
    }
}

static tg_status attention_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const int n_in = tg_op_n_in(ctx);
    const tg_tensor *in[4], *t[3];
    for (int i = 0; i < n_in; i++) in[i] = tg_op_input(ctx, i);
    const attn_attr *a = tg_op_attr(ctx);
    attn_geom g = geom_of(in, n_in, a);
    for (int i = 0; i < 3; i++) g.fresh[i] = tg_op_grad_fresh(ctx, a->heads > 0 ? 0 : i);
    qkv_of(in, a, t);
    const int64_t BH = g.B * g.H, nqb = (g.T + BQ - 1) / BQ, rows = BH * g.T;
    float *dq, *dk, *dv;
    if (a->heads > 0) { /* one (B, T, 3·H·Dh) gradient */
        float *d = din[0] ? tg_f32(din[0]) : NULL;
        dq = d, dk = d ? d + g.k_off : NULL, dv = d ? d + g.v_off : NULL;
    } else {
        dq = din[0] ? tg_f32(din[0]) : NULL, dk = din[1] ? tg_f32(din[1]) : NULL;
        dv = din[2] ? tg_f32(din[2]) : NULL;
    }
    const float *lse = tg_f32(tg_op_saved(ctx, 0));
    g.p = g.keep ? (uint16_t *)tg_bf16(tg_op_saved(ctx, 1)) : NULL; /* forward kept P: it was recording */
    g.keep = false; /* the wide score rows are the two-pass forward's: no workspace for them here */
    float *delta = tg_op_scratch(ctx, sizeof(float) * (size_t)(rows > 0 ? rows : 1)); /* (B, H, T) */
    int nt;
    float *ws = ws_alloc(ctx, &g, &nt);
    if (!delta || !ws) return TG_ERR_OOM;
    row_dots(delta, tg_f32(dout), tg_f32(tg_op_output(ctx)), &g);

    /* Enough heads to keep every thread busy: one thread owns a head and does
     * dQ, dK, dV in one pass. Otherwise split heads by key blocks (dK, dV)
     * and then by query blocks (dQ), so no two threads write the same rows.
     * Kept P is read per head. */
    if (g.p || per_head(&g, nt)) {
#pragma omp parallel if (BH > 1 && BH * g.T * g.T * g.D > ATTN_OMP_MIN)
        {
            attn_ws w;
            ws_mine(&w, ws, &g);
#pragma omp for schedule(dynamic, 1)
            for (int64_t bh = 0; bh < BH; bh++) {
                if (dq && g.fresh[0])
                    tg_attn_zero_rows(dq + in_row(&g, bh, 0), g.in_ts, g.T, g.D); /* key blocks add into it */
                if (g.bf16) tg_attn_pack_head_qo(&w, t[0], dout, &g, bh);
                for (int64_t k0 = 0; k0 < g.T; k0 += BK) {
                    if (g.bf16)
                        tg_attn_bwd_key_block_bf16(dq, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0,
                                                   true);
                    else
                        tg_attn_bwd_key_block(dq, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0);
                }
            }
        }
        return TG_OK;
    }
#pragma omp parallel
    {
        attn_ws w;
        ws_mine(&w, ws, &g);
        if (dk || dv) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < BH * nqb; it++) {
                const int64_t bh = it / nqb, k0 = it % nqb * BK;
                if (g.bf16)
                    tg_attn_bwd_key_block_bf16(NULL, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0, false);
                else
                    tg_attn_bwd_key_block(NULL, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0);
            }
        }
        if (dq) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < BH * nqb; it++) {
                const int64_t bh = it / nqb, q0 = it % nqb * BQ;
                if (g.bf16)
                    tg_attn_dq_query_block_bf16(dq, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, q0);
                else
                    tg_attn_dq_query_block(dq, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, q0);
            }
        }
    }
    return TG_OK;
}

/* ---- descriptor and wrappers ---- */

static const tg_op attention_op = {.name = "attention",
                                   .n_in = -1,
                                   .flags = TG_OP_FRESH_GRADS,
                                   .infer = attention_infer,
                                   .forward = attention_forward,
                                   .backward = attention_backward};

tg_status tg_register_attention_ops(void) { return tg_op_register(&attention_op); }

/* TG_ERR_DTYPE naming fn unless compute is f32 or bf16. */
static tg_status check_compute(tg_dtype compute, const char *fn)
{
    if (compute == TG_F32 || compute == TG_BF16) return TG_OK;
    return tg_error(TG_ERR_DTYPE, "%s: compute dtype must be f32 or bf16, got %s", fn, tg_dtype_name(compute));
}

tg_tensor *tg_attention(const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, bool causal,
                        const tg_tensor *lengths, double scale)
{
    return tg_attention_with(q, k, v, causal, lengths, scale, NULL);
}

tg_tensor *tg_attention_with(const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, bool causal,
                             const tg_tensor *lengths, double scale, const tg_attention_opts *opts)
{
    if (!q || !k || !v) return NULL;
    if (!isfinite(scale)) {
        tg_error(TG_ERR_INVALID, "tg_attention: scale must be finite, got %g", scale);
        return NULL;
    }
    const tg_dtype compute = opts ? opts->compute : TG_F32;
    if (check_compute(compute, "tg_attention")) return NULL;
    attn_attr a = {.causal = causal, .bf16 = compute == TG_BF16};
    /* Dh is checked by infer; a bad rank leaves the default unused. */
    const int64_t D = tg_tensor_ndim(q) == 4 ? tg_tensor_dim(q, 3) : 1;
    a.scale = (float)(scale != 0.0 ? scale : 1.0 / sqrt((double)(D > 0 ? D : 1)));
    const tg_tensor *in[4] = {q, k, v, lengths};
    return tg_apply(&attention_op, in, lengths ? 4 : 3, &a, sizeof a);
}

tg_tensor *tg_attention_qkv(const tg_tensor *qkv, int64_t heads, bool causal, const tg_tensor *lengths, double scale)
{
    return tg_attention_qkv_with(qkv, heads, causal, lengths, scale, NULL);
}

tg_tensor *tg_attention_qkv_with(const tg_tensor *qkv, int64_t heads, bool causal, const tg_tensor *lengths,
                                 double scale, const tg_attention_opts *opts)
{
    if (!qkv) return NULL;
    if (heads < 1 || !isfinite(scale)) {
        tg_error(TG_ERR_INVALID, "tg_attention_qkv: need heads >= 1 and a finite scale, got %lld, %g", (long long)heads,
                 scale);
        return NULL;
    }
    const tg_dtype compute = opts ? opts->compute : TG_F32;
    if (check_compute(compute, "tg_attention_qkv")) return NULL;
    attn_attr a = {.causal = causal, .bf16 = compute == TG_BF16, .heads = heads};
    /* the shape is checked by infer; a bad rank leaves the default unused */
    const int64_t C = tg_tensor_ndim(qkv) == 3 ? tg_tensor_dim(qkv, 2) : 0, D = C / (3 * heads);
    a.scale = (float)(scale != 0.0 ? scale : 1.0 / sqrt((double)(D > 0 ? D : 1)));
    const tg_tensor *in[2] = {qkv, lengths};
    return tg_apply(&attention_op, in, lengths ? 2 : 1, &a, sizeof a);
}
