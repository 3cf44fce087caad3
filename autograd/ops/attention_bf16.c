/* Fused attention, the bf16 tile path (see attention.c): q, k, v, dO, P
 * and dS packed as the bf16 tile products of tile_bf16.h read them (CPUs
 * with AVX-512 BF16 only), and the kept probabilities of short sequences. */
#include <math.h>
#include <string.h>

#include "autograd/ops/attention_internal.h"
#include "autograd/ops/tile_bf16.h"
#include "autograd/ops/vmath.h"

/* ---- forward ---- */

/* The tile packers (tile_bf16.h) on n rows of D values of t, the first at
 * element off and the next ts apart: f32 rows are rounded, bf16 rows (a
 * qkv projection that wrote bf16) copied. */
typedef enum { AS_ROWS, AS_PAIRS, AS_PAIRS_T } pack_form;

static void pack_from(pack_form form, uint16_t *dst, int64_t ld, const tg_tensor *t, int64_t off, int64_t ts, int n,
                      int64_t D)
{
    if (tg_tensor_dtype(t) == TG_BF16) {
        const uint16_t *b = tg_bf16(t) + off;
        if (form == AS_ROWS) tg_tile_pack_rows_bf16(dst, ld, b, ts, n, (int)D);
        if (form == AS_PAIRS) tg_tile_pack_pairs_bf16(dst, ld, b, ts, n, (int)D);
        if (form == AS_PAIRS_T) tg_tile_pack_pairs_t_bf16(dst, ld, b, ts, n, (int)D);
        return;
    }
    const float *f = tg_f32(t) + off;
    if (form == AS_ROWS) tg_tile_pack_rows(dst, ld, f, ts, n, (int)D);
    if (form == AS_PAIRS) tg_tile_pack_pairs(dst, ld, f, ts, n, (int)D);
    if (form == AS_PAIRS_T) tg_tile_pack_pairs_t(dst, ld, f, ts, n, (int)D);
}

/* Operand tiles of one key block for the bf16 forward: k for S = q kᵀ
 * (pairs over D), v for P v. */
typedef struct kv_tiles {
    const uint16_t *kc, *vp;
} kv_tiles;

static void pack_kv_fwd(uint16_t *kc, uint16_t *vp, const tg_tensor *k, const tg_tensor *v, const attn_geom *g,
                        int64_t bh, int64_t k0, int nk)
{
    pack_from(AS_PAIRS_T, kc, BK, k, g->k_off + in_row(g, bh, k0), g->in_ts, nk, g->D);
    pack_from(AS_PAIRS, vp, DQ(g->D), v, g->v_off + in_row(g, bh, k0), g->in_ts, nk, g->D);
}

/* Packs every key block of head bh into the workspace's head tiles. */
void tg_attn_pack_head_kv(const attn_ws *w, const tg_tensor *k, const tg_tensor *v, const attn_geom *g, int64_t bh)
{
    for (int64_t k0 = 0; k0 < g->T; k0 += BK) {
        const size_t off = (size_t)(k0 / BK) * tile_u16(g->D);
        pack_kv_fwd(w->head[0] + off, w->head[1] + off, k, v, g, bh, k0, (int)min64(BK, g->T - k0));
    }
}

/* Rows of a causal diagonal tile (query block == key block) taken together
 * by the bf16 products: row i of such a tile sees keys 0..i only, so a
 * group of DIAG rows from i0 needs the keys below i0 + DIAG, and the
 * key rows from j0 of Pᵀ dO and dSᵀ q only the queries from j0 on. */
enum { DIAG = 16 };

static int mini(int a, int b) { return a < b ? a : b; }

/* c (m, n) (rows ldc apart) = a · b over kp pairs of D: S = q kᵀ or
 * dP = dO vᵀ, with a's rows ld values apart and b pair-packed with npad
 * BK; on a diagonal tile each row group only up to the keys it sees. */
static void mm_scores(float *c, int64_t ldc, const uint16_t *a, int64_t ld, const uint16_t *b, int m, int n, int kp,
                      bool diag)
{
    if (!diag) {
        tg_tile_bf16_mm(c, ldc, a, ld / 2, 1, b, BK, m, n, kp, false);
        return;
    }
    for (int i0 = 0; i0 < m; i0 += DIAG)
        tg_tile_bf16_mm(c + i0 * ldc, ldc, a + i0 * ld, ld / 2, 1, b, BK, mini(DIAG, m - i0), mini(n, i0 + DIAG), kp,
                        false);
}

/* c (m, n) (rows ldc apart) += a · b contracting over nk keys: P v or
 * dS k, a row-major with rows BK values apart, b pair-packed over keys with
 * npad; on a diagonal tile each row group only over the keys it sees. */
static void mm_keys(float *c, int64_t ldc, const uint16_t *a, const uint16_t *b, int64_t npad, int m, int n, int nk,
                    bool diag)
{
    if (!diag) {
        tg_tile_bf16_mm(c, ldc, a, BK / 2, 1, b, npad, m, n, (nk + 1) / 2, true);
        return;
    }
    for (int i0 = 0; i0 < m; i0 += DIAG)
        tg_tile_bf16_mm(c + i0 * ldc, ldc, a + i0 * BK, BK / 2, 1, b, npad, mini(DIAG, m - i0), n,
                        (mini(nk, i0 + DIAG) + 1) / 2, true);
}

/* c (nk, n) (rows ldc apart) += aᵀ · b contracting over nq queries: Pᵀ dO
 * or dSᵀ q, a pair-packed over queries with npad BK (read transposed), b
 * pair-packed over queries with npad; on a diagonal tile each group of key
 * rows only over the queries that see it. */
static void mm_queries(float *c, int64_t ldc, const uint16_t *a, const uint16_t *b, int64_t npad, int nk, int n, int nq,
                       bool diag)
{
    const int kp = (nq + 1) / 2;
    if (!diag) {
        tg_tile_bf16_mm(c, ldc, a, 1, BK, b, npad, nk, n, kp, true);
        return;
    }
    for (int j0 = 0; j0 < nk && j0 / 2 < kp; j0 += DIAG) {
        const int p0 = j0 / 2; /* the first query pair, (j0, j0 + 1) */
        tg_tile_bf16_mm(c + j0 * ldc, ldc, a + 2 * ((int64_t)p0 * BK + j0), 1, BK, b + 2 * (int64_t)p0 * npad, npad,
                        mini(DIAG, nk - j0), n, kp - p0, true);
    }
}

/* tg_attn_fwd_query_block with bf16 tile products: q kᵀ and P v. With `head` the
 * key blocks come packed by tg_attn_pack_head_kv, else each is packed here. */
void tg_attn_fwd_query_block_bf16(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const tg_tensor *k,
                                  const tg_tensor *v, const attn_geom *g, int64_t bh, int64_t q0, bool head)
{
    const int64_t D = g->D, T = g->T, b = bh / g->H, Dq = DQ(D);
    const int nq = (int)min64(BQ, T - q0), kpd = (int)((D + 1) / 2);
    const int64_t len = kv_len(g, b), kend = key_end(g, b, q0, nq);
    pack_from(AS_ROWS, w->qa, Dq, q, g->q_off + in_row(g, bh, q0), g->in_ts, nq, D);
    memset(w->acc, 0, sizeof(float) * (size_t)(nq * D));
    for (int r = 0; r < nq; r++) {
        w->m[r] = -INFINITY;
        w->l[r] = 0.0f;
    }
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int nk = (int)min64(BK, T - k0);
        const size_t off = (size_t)(k0 / BK) * tile_u16(D);
        kv_tiles t = {w->head[0] + off, w->head[1] + off};
        if (!head) {
            pack_kv_fwd(w->kc, w->vp, k, v, g, bh, k0, nk);
            t = (kv_tiles){w->kc, w->vp};
        }
        const bool diag = g->causal && k0 == q0;
        mm_scores(w->s, BK, w->qa, Dq, t.kc, nq, nk, kpd, diag);
        tg_attn_scale_mask(w->s, BK, nq, nk, g, len, q0, k0);
        tg_attn_softmax_step(w, nq, nk, D);
        tg_tile_pack_rows(w->pa, BK, w->s, BK, nq, nk);
        mm_keys(w->acc, D, w->pa, t.vp, Dq, nq, (int)D, nk, diag);
    }
    tg_attn_fwd_finish(out, lse, w, g, bh, q0, nq, false);
}

/* ---- kept probabilities ---- */

/* Head bh's tile of query block q0 and key block k0 in the kept P (g->p). */
static uint16_t *kept_tile(const attn_geom *g, int64_t bh, int64_t q0, int64_t k0)
{
    const int64_t qb = q0 / BQ, kb = k0 / BK;
    const int64_t at = g->causal ? qb * (qb + 1) / 2 + kb : qb * n_blocks(g->T) + kb;
    return g->p + (bh * n_tiles(g) + at) * BQ * BK;
}

/* Scores of the query block against every key block it sees, into the wide
 * rows; then each row's softmax in place (zeros for a row that sees no key),
 * its max and sum in m, l. Returns the end of the keys seen. */
static int64_t wide_softmax(const attn_ws *w, const attn_geom *g, int64_t bh, int64_t q0, int nq)
{
    const int64_t D = g->D, T = g->T, b = bh / g->H, ldw = t_pad(T), kend = key_end(g, b, q0, nq);
    const int kpd = (int)((D + 1) / 2);
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int nk = (int)min64(BK, T - k0);
        const uint16_t *kc = w->head[0] + (size_t)(k0 / BK) * tile_u16(D);
        mm_scores(w->wide + k0, ldw, w->qa, DQ(D), kc, nq, nk, kpd, g->causal && k0 == q0);
        tg_attn_scale_mask(w->wide + k0, ldw, nq, nk, g, kv_len(g, b), q0, k0);
    }
    const int n = (int)min64(t_pad(kend), T); /* through the last block: its masked keys become zeros */
    for (int r = 0; r < nq; r++) {
        float *row = w->wide + r * ldw;
        const float mx = tg_vmax_n(row, n);
        float sum = 0.0f;
        w->m[r] = mx;
        if (mx == -INFINITY) { /* nothing visible: a P row of zeros */
            memset(row, 0, sizeof(float) * (size_t)n);
            w->l[r] = 0.0f;
            continue;
        }
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            row[j] = tg_vexpf_fast(row[j] - mx);
            sum += row[j];
        }
        const float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < n; j++) row[j] *= inv;
        w->l[r] = sum;
    }
    return kend;
}

/* tg_attn_fwd_query_block_bf16 keeping P: a two-pass softmax over all the keys the
 * block sees (wide_softmax), each tile of P multiplied into the output and
 * stored into g->p when given. The key blocks come packed by tg_attn_pack_head_kv. */
void tg_attn_fwd_query_block_kept(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const attn_geom *g,
                                  int64_t bh, int64_t q0)
{
    const int64_t D = g->D, T = g->T, Dq = DQ(D), ldw = t_pad(T);
    const int nq = (int)min64(BQ, T - q0);
    pack_from(AS_ROWS, w->qa, Dq, q, g->q_off + in_row(g, bh, q0), g->in_ts, nq, D);
    const int64_t kend = wide_softmax(w, g, bh, q0, nq);
    memset(w->acc, 0, sizeof(float) * (size_t)(nq * D));
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int nk = (int)min64(BK, T - k0);
        if (g->p) tg_tile_pack_pairs(kept_tile(g, bh, q0, k0), BK, w->wide + k0, ldw, nq, nk);
        tg_tile_pack_rows(w->pa, BK, w->wide + k0, ldw, nq, nk);
        const uint16_t *vp = w->head[1] + (size_t)(k0 / BK) * tile_u16(D);
        mm_keys(w->acc, D, w->pa, vp, Dq, nq, (int)D, nk, g->causal && k0 == q0);
    }
    tg_attn_fwd_finish(out, lse, w, g, bh, q0, nq, true);
}

/* ---- backward ---- */

/* tg_attn_tile_ds from the kept P: dS = scale · P ∘ (dP - D_i) into dp. */
static void tile_ds_kept(const float *p, float *dp, const float *delta, const attn_geom *g, int nq, int nk,
                         int64_t row0)
{
    for (int r = 0; r < nq; r++) {
        const float *pr = p + r * BK;
        float *dr = dp + r * BK;
        const float dl = delta[row0 + r];
#pragma omp simd
        for (int j = 0; j < nk; j++) /* P = 0: 0 even where dP was not computed (bf16 diagonal tiles) */
            dr[j] = tg_vmath_select(pr[j] == 0.0f, 0.0f, g->scale * pr[j] * (dr[j] - dl));
    }
}

/* The k and v tiles of key block k0 of head bh as the bf16 products read
 * them: k for S = q kᵀ and dQ = dS k, v for dP = dO vᵀ. */
static void pack_kv_bwd(const attn_ws *w, const tg_tensor *k, const tg_tensor *v, const attn_geom *g, int64_t bh,
                        int64_t k0, int nk)
{
    const int64_t D = g->D, ko = g->k_off + in_row(g, bh, k0);
    pack_from(AS_PAIRS_T, w->kc, BK, k, ko, g->in_ts, nk, D);
    pack_from(AS_PAIRS, w->kp, DQ(D), k, ko, g->in_ts, nk, D);
    pack_from(AS_PAIRS_T, w->vc, BK, v, g->v_off + in_row(g, bh, k0), g->in_ts, nk, D);
}

/* Operand tiles of one query block for the bf16 backward: q and dO as `a`
 * rows for S and dP (qa, oa), and pair-packed as `b` for dK = dSᵀ q and
 * dV = Pᵀ dO (qp, op). */
typedef struct qo_tiles {
    const uint16_t *qa, *qp, *oa, *op;
} qo_tiles;

static void pack_qo(uint16_t *qa, uint16_t *qp, uint16_t *oa, uint16_t *op, const tg_tensor *q, const tg_tensor *dout,
                    const attn_geom *g, int64_t bh, int64_t q0, int nq)
{
    const int64_t D = g->D, Dq = DQ(D), qo = g->q_off + in_row(g, bh, q0), oo = out_row(g, bh, q0);
    pack_from(AS_ROWS, qa, Dq, q, qo, g->in_ts, nq, D);
    if (qp) pack_from(AS_PAIRS, qp, Dq, q, qo, g->in_ts, nq, D);
    pack_from(AS_ROWS, oa, Dq, dout, oo, g->out_ts, nq, D);
    if (op) pack_from(AS_PAIRS, op, Dq, dout, oo, g->out_ts, nq, D);
}

/* Packs every query block of head bh into the workspace's head tiles. */
void tg_attn_pack_head_qo(const attn_ws *w, const tg_tensor *q, const tg_tensor *dout, const attn_geom *g, int64_t bh)
{
    for (int64_t q0 = 0; q0 < g->T; q0 += BQ) {
        const size_t off = (size_t)(q0 / BQ) * tile_u16(g->D);
        pack_qo(w->head[0] + off, w->head[1] + off, w->head[2] + off, w->head[3] + off, q, dout, g, bh, q0,
                (int)min64(BQ, g->T - q0));
    }
}

/* Query block q0's tiles: from the head tiles when `head`, else packed now
 * into the workspace (the pair forms only when `pairs`). */
static qo_tiles qo_of(const attn_ws *w, bool head, bool pairs, const tg_tensor *q, const tg_tensor *dout,
                      const attn_geom *g, int64_t bh, int64_t q0, int nq)
{
    if (head) {
        const size_t off = (size_t)(q0 / BQ) * tile_u16(g->D);
        return (qo_tiles){w->head[0] + off, w->head[1] + off, w->head[2] + off, w->head[3] + off};
    }
    pack_qo(w->qa, pairs ? w->qp : NULL, w->oa, pairs ? w->op : NULL, q, dout, g, bh, q0, nq);
    return (qo_tiles){w->qa, w->qp, w->oa, w->op};
}

/* tile_backward with bf16 products, from packed tiles; P from the kept
 * tile when given, else recomputed. */
static void tile_backward_bf16(const attn_ws *w, const qo_tiles *t, const uint16_t *kept, const float *lse,
                               const float *delta, const attn_geom *g, int64_t bh, int64_t q0, int64_t k0, int nq,
                               int nk)
{
    const int64_t Dq = DQ(g->D);
    const int kpd = (int)((g->D + 1) / 2);
    const bool diag = g->causal && k0 == q0;
    mm_scores(w->dp, BK, t->oa, Dq, w->vc, nq, nk, kpd, diag);
    if (kept) {
        tg_tile_unpack_pairs(w->s, BK, kept, BK, nq, nk);
        tile_ds_kept(w->s, w->dp, delta, g, nq, nk, bh * g->T + q0);
        return;
    }
    mm_scores(w->s, BK, t->qa, Dq, w->kc, nq, nk, kpd, diag);
    tg_attn_scale_mask(w->s, BK, nq, nk, g, kv_len(g, bh / g->H), q0, k0);
    tg_attn_tile_ds(w->s, w->dp, lse, delta, g, nq, nk, bh * g->T + q0);
}

/* tg_attn_bwd_key_block with bf16 products; `head`: the query blocks come packed
 * by tg_attn_pack_head_qo. */
void tg_attn_bwd_key_block_bf16(float *dq, float *dk, float *dv, const attn_ws *w, const float *lse, const float *delta,
                                const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                                const attn_geom *g, int64_t bh, int64_t k0, bool head)
{
    const int64_t D = g->D, T = g->T, ts = g->in_ts, Dq = DQ(D);
    const int nk = (int)min64(BK, T - k0);
    memset(w->dk, 0, sizeof(float) * (size_t)(nk * D));
    memset(w->dv, 0, sizeof(float) * (size_t)(nk * D));
    const bool seen = k0 < kv_len(g, bh / g->H); /* else zero gradients */
    if (seen) pack_kv_bwd(w, k, v, g, bh, k0, nk);
    for (int64_t q0 = g->causal ? k0 / BQ * BQ : 0; seen && q0 < T; q0 += BQ) {
        const int nq = (int)min64(BQ, T - q0);
        const qo_tiles t = qo_of(w, head, true, q, dout, g, bh, q0, nq);
        const uint16_t *kept = g->p ? kept_tile(g, bh, q0, k0) : NULL;
        tile_backward_bf16(w, &t, kept, lse, delta, g, bh, q0, k0, nq, nk);
        /* Pᵀ and dSᵀ: P and dS pair-packed over their rows, read transposed */
        if (!kept) tg_tile_pack_pairs(w->pt, BK, w->s, BK, nq, nk);
        tg_tile_pack_pairs(w->st, BK, w->dp, BK, nq, nk);
        const bool diag = g->causal && k0 == q0;
        mm_queries(w->dv, D, kept ? kept : w->pt, t.op, Dq, nk, (int)D, nq, diag);
        mm_queries(w->dk, D, w->st, t.qp, Dq, nk, (int)D, nq, diag);
        if (!dq) continue;
        tg_tile_pack_rows(w->sa, BK, w->dp, BK, nq, nk);
        mm_keys(dq + in_row(g, bh, q0), ts, w->sa, w->kp, Dq, nq, (int)D, nk, diag);
    }
    if (dk) tg_attn_put_rows(dk + in_row(g, bh, k0), ts, w->dk, nk, D, g->fresh[1]);
    if (dv) tg_attn_put_rows(dv + in_row(g, bh, k0), ts, w->dv, nk, D, g->fresh[2]);
}

/* tg_attn_dq_query_block with bf16 products. */
void tg_attn_dq_query_block_bf16(float *dq, const attn_ws *w, const float *lse, const float *delta,
                                 const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                                 const attn_geom *g, int64_t bh, int64_t q0)
{
    const int64_t D = g->D, T = g->T, Dq = DQ(D);
    const int nq = (int)min64(BQ, T - q0);
    const int64_t kend = key_end(g, bh / g->H, q0, nq);
    const qo_tiles t = qo_of(w, false, false, q, dout, g, bh, q0, nq);
    memset(w->dq, 0, sizeof(float) * (size_t)(nq * D));
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int nk = (int)min64(BK, T - k0);
        pack_kv_bwd(w, k, v, g, bh, k0, nk);
        tile_backward_bf16(w, &t, NULL, lse, delta, g, bh, q0, k0, nq, nk);
        tg_tile_pack_rows(w->sa, BK, w->dp, BK, nq, nk);
        mm_keys(w->dq, D, w->sa, w->kp, Dq, nq, (int)D, nk, g->causal && k0 == q0);
    }
    tg_attn_put_rows(dq + in_row(g, bh, q0), g->in_ts, w->dq, nq, D, g->fresh[0]);
}
