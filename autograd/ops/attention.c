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
 * stays O(T·Dh) per head either way. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "autograd/ops/ops_internal.h"
#include "autograd/ops/tile_bf16.h"
#include "autograd/ops/vmath.h"

/* Tile sizes: a 64×64 score tile and 64-row q/k/v tiles (Dh up to a few
 * hundred) stay within L2 per thread. */
#define BQ 64
#define BK 64
_Static_assert(BQ == BK, "causal block skipping assumes square tiles");
/* Below this many B·H·T²·Dh multiply-adds one thread is faster than waking
 * the team (a parallel region costs more than a small problem). */
#define ATTN_OMP_MIN (1 << 20)

typedef struct attn_attr {
    bool causal;
    bool bf16;     /* bf16 tile products (when the CPU has them) */
    float scale;  /* already resolved: never 0 */
    int64_t heads; /* > 0: packed qkv input with this many heads */
} attn_attr;

/* Geometry of one call. Row t of head (b, h) of q starts at element
 * q_off + b·in_bs + h·in_hs + t·in_ts of the q tensor (k, v alike, and their
 * gradients); of out and dout at b·out_bs + h·out_hs + t·out_ts. */
typedef struct attn_geom {
    int64_t B, H, T, D;
    bool causal, bf16;
    bool keep;   /* bf16 and short enough to keep P (see the top): two-pass forward */
    uint16_t *p; /* the kept P when keep and recording: (B·H, n_tiles, BQ·BK) */
    float scale;
    const int32_t *lengths;  /* (B) or NULL */
    int64_t in_bs, in_hs, in_ts, out_bs, out_hs, out_ts;
    int64_t q_off, k_off, v_off;
    bool fresh[3]; /* backward: dq, dk, dv not yet written (TG_OP_FRESH_GRADS): store, do not add */
} attn_geom;

static int64_t in_row(const attn_geom *g, int64_t bh, int64_t t)
{
    return bh / g->H * g->in_bs + bh % g->H * g->in_hs + t * g->in_ts;
}

static int64_t out_row(const attn_geom *g, int64_t bh, int64_t t)
{
    return bh / g->H * g->out_bs + bh % g->H * g->out_hs + t * g->out_ts;
}

/* Per-thread tiles, carved from one scratch block. The bf16 operands (only
 * with bf16 products) are named after their role in tile_bf16.h: *a are
 * `a` operands (rows of DQ(D) values), *p pair-packed `b` operands
 * contracting over their source's rows, *c over its columns. */
typedef struct attn_ws {
    float *q, *k, *kt, *v, *vt, *dout; /* (BQ|BK, D) rows; kt, vt (D, BK) */
    float *s, *dp;                     /* (BQ, BK) */
    float *acc, *dq, *dk, *dv;         /* (BQ|BK, D) accumulators */
    float *m, *l;                      /* (BQ) */
    float *wide;                       /* (BQ, Tpad): a query block's scores over all keys (keep) */
    uint16_t *qa, *qp, *oa, *op, *kc, *kp, *vc, *vp; /* q, dO (o), k, v tiles as operands */
    uint16_t *pa, *pt, *sa, *st;       /* P, dS as `a` rows (pa, sa) and pairs (pt, st) */
    uint16_t *head[4];                 /* one head's tiles packed once: (T/BQ) tiles of BQ·DQ(D) */
} attn_ws;

/* Row length of the bf16 tiles: D padded to whole 16-column vectors. */
static int64_t DQ(int64_t D) { return (D + 15) / 16 * 16; }

/* bf16 values of one packed tile and of one head's tiles. */
static size_t tile_u16(int64_t D) { return (size_t)(BQ * DQ(D)); }
static size_t head_u16(int64_t D, int64_t T) { return tile_u16(D) * (size_t)((T + BQ - 1) / BQ); }

/* Blocks of BK keys in a sequence of T, and the padded length they span. */
static int64_t n_blocks(int64_t T) { return (T + BK - 1) / BK; }
static int64_t t_pad(int64_t T) { return n_blocks(T) * BK; }

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
    w->q = p; p += tile;
    w->k = p; p += tile;
    w->kt = p; p += tile;
    w->v = p; p += tile;
    w->vt = p; p += tile;
    w->dout = p; p += tile;
    w->acc = p; p += tile;
    w->dq = p; p += tile;
    w->dk = p; p += tile;
    w->dv = p; p += tile;
    w->s = p; p += BQ * BK;
    w->dp = p; p += BQ * BK;
    w->m = p; p += BQ;
    w->l = p; p += BQ;
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

static int64_t kv_len(const attn_geom *g, int64_t b) { return g->lengths ? g->lengths[b] : g->T; }

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* End (exclusive) of the keys that query rows [q0, q0 + nq) of batch b can
 * see: the causal diagonal and the sequence length. */
static int64_t key_end(const attn_geom *g, int64_t b, int64_t q0, int64_t nq)
{
    int64_t e = kv_len(g, b);
    return g->causal ? min64(e, q0 + nq) : e;
}

/* ---- shape inference ---- */

static tg_status check_lengths(const tg_tensor *len, int64_t B, int64_t T)
{
    char a[96];
    const tg_shape *ls = tg_tensor_shape(len);
    if (tg_tensor_dtype(len) != TG_S32)
        return tg_error(TG_ERR_DTYPE, "attention: lengths must be s32, got %s", tg_dtype_name(tg_tensor_dtype(len)));
    if (ls->ndim != 1 || ls->dims[0] != B)
        return tg_error(TG_ERR_SHAPE, "attention: lengths shape %s must be (B) = (%lld)",
                        tg_shape_str(ls, a, sizeof a), (long long)B);
    const int32_t *l = tg_s32(len);
    for (int64_t i = 0; i < B; i++)
        if (l[i] < 0 || l[i] > T)
            return tg_error(TG_ERR_INVALID, "attention: lengths[%lld] = %d is outside [0, T = %lld]",
                            (long long)i, l[i], (long long)T);
    return TG_OK;
}

/* qkv (B, T, 3·heads·Dh) [+ lengths (B)] -> (B, T, heads·Dh). */
static tg_status packed_infer(const tg_tensor *const *in, int n_in, int64_t heads, tg_shape *out, tg_dtype *dt)
{
    char a[96];
    if (n_in != 1 && n_in != 2)
        return tg_error(TG_ERR_INVALID, "attention: packed form expects qkv and optional lengths, got %d inputs",
                        n_in);
    const tg_shape *s = tg_tensor_shape(in[0]);
    tg_dtype d = tg_tensor_dtype(in[0]);
    if (d != TG_F32 && d != TG_BF16)
        return tg_error(TG_ERR_DTYPE, "attention: qkv must be f32 or bf16, got %s", tg_dtype_name(d));
    if (s->ndim != 3 || s->dims[2] % (3 * heads) || s->dims[2] == 0)
        return tg_error(TG_ERR_SHAPE, "attention: qkv must be (B, T, 3·%lld·Dh) with Dh >= 1, got %s",
                        (long long)heads, tg_shape_str(s, a, sizeof a));
    if (n_in == 2) TG_TRY(check_lengths(in[1], s->dims[0], s->dims[1]));
    *out = *s;
    out->dims[2] = s->dims[2] / 3; /* (B, T, D) */
    *dt = TG_F32;
    return TG_OK;
}

static tg_status attention_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out,
                                 tg_dtype *dt)
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
            return tg_error(TG_ERR_SHAPE, "attention: %s must be (B, H, T, Dh), got rank %d %s", names[i],
                            s->ndim, tg_shape_str(s, a, sizeof a));
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

/* ---- tiles ---- */

/* n rows of D values, the first at element `off` of t and the next ones
 * `ts` elements apart, as f32 into dst (n, D). */
static void load_rows(float *dst, const tg_tensor *t, int64_t off, int n, int64_t D, int64_t ts)
{
    for (int r = 0; r < n; r++) {
        float *d = dst + r * D;
        if (tg_tensor_dtype(t) == TG_F32) {
            memcpy(d, tg_f32(t) + off + r * ts, sizeof(float) * (size_t)D);
        } else {
            const uint16_t *src = tg_bf16(t) + off + r * ts;
            for (int64_t i = 0; i < D; i++) d[i] = tg_bf16_to_f32(src[i]);
        }
    }
}

/* dst (D, BK) = src (n, D) transposed, so score rows vectorize over keys. */
static void transpose_tile(float *dst, const float *src, int n, int64_t D)
{
    for (int c = 0; c < n; c++)
        for (int64_t d = 0; d < D; d++) dst[d * BK + c] = src[c * D + d];
}

/* c (M, N) += a (M, K) · b (K, N): a's element (m, k) is a[m·sam + k·sak]
 * (so a transposed operand is just other strides), b and c are row-major
 * with leading dims ldb, ldc. A 4×16 register block keeps the accumulators
 * in vector registers (explicit fmaf: one rounding per step whatever the
 * vector width); the edges fall back to plain dot products. AVX-512 and
 * AVX2 clones are picked at load time on CPUs that have them. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void gemm_acc(float *c, int64_t ldc, const float *a, int64_t sam, int64_t sak, const float *b, int64_t ldb,
                     int M, int N, int K)
{
    enum { NB = 16 };
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        int n = 0;
        const int64_t s1 = sam, s2 = 2 * sam, s3 = 3 * sam;
        for (; n + NB <= N; n += NB) {
            float acc[4][NB] = {{0}};
            const float *ak = a + m * sam, *bk = b + n;
            for (int k = 0; k < K; k++, ak += sak, bk += ldb) {
                const float a0 = ak[0], a1 = ak[s1], a2 = ak[s2], a3 = ak[s3];
#pragma omp simd
                for (int j = 0; j < NB; j++) {
                    acc[0][j] = fmaf(a0, bk[j], acc[0][j]);
                    acc[1][j] = fmaf(a1, bk[j], acc[1][j]);
                    acc[2][j] = fmaf(a2, bk[j], acc[2][j]);
                    acc[3][j] = fmaf(a3, bk[j], acc[3][j]);
                }
            }
            for (int i = 0; i < 4; i++)
#pragma omp simd
                for (int j = 0; j < NB; j++) c[(m + i) * ldc + n + j] += acc[i][j];
        }
        for (int i = m; i < m + 4; i++)
            for (int j = n; j < N; j++) {
                float acc = 0.0f;
                for (int k = 0; k < K; k++) acc = fmaf(a[i * sam + k * sak], b[k * ldb + j], acc);
                c[i * ldc + j] += acc;
            }
    }
    for (; m < M; m++)
        for (int k = 0; k < K; k++) {
            const float am = a[m * sam + k * sak];
            const float *bk = b + k * ldb;
            float *cm = c + m * ldc;
#pragma omp simd
            for (int j = 0; j < N; j++) cm[j] = fmaf(am, bk[j], cm[j]);
        }
}

/* c (nq, BK) = a (nq, D) · btᵀ, with bt (D, BK) the transposed right tile. */
static void tile_matmul_nt(float *c, const float *a, const float *bt, int nq, int nk, int64_t D)
{
    for (int r = 0; r < nq; r++)
        for (int j = 0; j < nk; j++) c[r * BK + j] = 0.0f;
    gemm_acc(c, BK, a, D, 1, bt, BK, nq, nk, (int)D);
}

/* s (nq, nk), rows lds apart, *= scale for query rows q0.. and keys k0..,
 * with keys past the sequence length or (causal) after the query set to
 * -inf. */
static void scale_mask(float *s, int64_t lds, int nq, int nk, const attn_geom *g, int64_t len, int64_t q0,
                       int64_t k0)
{
    const float scale = g->scale;
    for (int r = 0; r < nq; r++) {
        float *row = s + r * lds;
        int64_t lim = len - k0;
        if (g->causal) lim = min64(lim, q0 + r + 1 - k0);
        const int vis = (int)(lim < 0 ? 0 : min64(lim, nk)); /* two plain loops: they vectorize */
#pragma omp simd
        for (int j = 0; j < vis; j++) row[j] *= scale;
        for (int j = vis; j < nk; j++) row[j] = -INFINITY;
    }
}

/* s (nq, BK) = scale · q kᵀ, masked as scale_mask says. */
static void tile_scores(float *s, const float *q, const float *kt, int nq, int nk, const attn_geom *g,
                        int64_t len, int64_t q0, int64_t k0)
{
    tile_matmul_nt(s, q, kt, nq, nk, g->D);
    scale_mask(s, BK, nq, nk, g, len, q0, k0);
}

/* acc (n, D) += p (n, BK) · v (nk, D); acc rows are ldc apart. */
static void tile_matmul_pv(float *acc, int64_t ldc, const float *p, const float *v, int n, int nk, int64_t D)
{
    gemm_acc(acc, ldc, p, BK, 1, v, D, n, (int)D, nk);
}

/* acc (nk, D) += pᵀ · x with p (nq, BK) and x (nq, D). */
static void tile_matmul_tn(float *acc, const float *p, const float *x, int nq, int nk, int64_t D)
{
    gemm_acc(acc, D, p, 1, BK, x, D, nk, (int)D, nq);
}

/* ---- forward ---- */

/* Online softmax over one score tile: for each of the nq rows, the running
 * max m and sum l absorb the row's nk scores, the row turns into its
 * unnormalized probabilities exp(s - m), and the output accumulator row is
 * rescaled to the new max. */
static void softmax_step(const attn_ws *w, int nq, int nk, int64_t D)
{
    for (int r = 0; r < nq; r++) {
        float *row = w->s + r * BK;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < nk; j++) mx = row[j] > mx ? row[j] : mx;
        if (mx == -INFINITY) { /* nothing visible in this block: P row is 0 */
            for (int j = 0; j < nk; j++) row[j] = 0.0f;
            continue;
        }
        const float m_new = fmaxf(w->m[r], mx), alpha = tg_vexpf_fast(w->m[r] - m_new);
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < nk; j++) {
            row[j] = tg_vexpf_fast(row[j] - m_new);
            sum += row[j];
        }
        w->l[r] = w->l[r] * alpha + sum;
        w->m[r] = m_new;
        float *ar = w->acc + r * D;
#pragma omp simd
        for (int64_t d = 0; d < D; d++) ar[d] *= alpha;
    }
}

/* Output rows and log-sum-exp of a finished query block; the accumulator
 * rows are divided by their sums unless `normalized` already. */
static void fwd_finish(float *out, float *lse, const attn_ws *w, const attn_geom *g, int64_t bh, int64_t q0, int nq,
                       bool normalized)
{
    const int64_t D = g->D, T = g->T;
    for (int r = 0; r < nq; r++) {
        const float l = w->l[r], inv = l > 0.0f ? (normalized ? 1.0f : 1.0f / l) : 0.0f;
        float *o = out + out_row(g, bh, q0 + r);
        const float *ar = w->acc + r * D;
        for (int64_t d = 0; d < D; d++) o[d] = ar[d] * inv;
        if (lse) lse[bh * T + q0 + r] = l > 0.0f ? w->m[r] + logf(l) : -INFINITY;
    }
}

/* out and lse rows of one query block of one head: online softmax over the
 * key blocks the block can see. */
static void fwd_query_block(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const tg_tensor *k,
                            const tg_tensor *v, const attn_geom *g, int64_t bh, int64_t q0)
{
    const int64_t D = g->D, T = g->T, b = bh / g->H;
    const int nq = (int)min64(BQ, T - q0);
    const int64_t len = kv_len(g, b), kend = key_end(g, b, q0, nq);
    load_rows(w->q, q, g->q_off + in_row(g, bh, q0), nq, D, g->in_ts);
    memset(w->acc, 0, sizeof(float) * (size_t)(nq * D));
    for (int r = 0; r < nq; r++) {
        w->m[r] = -INFINITY;
        w->l[r] = 0.0f;
    }
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int nk = (int)min64(BK, T - k0);
        load_rows(w->k, k, g->k_off + in_row(g, bh, k0), nk, D, g->in_ts);
        transpose_tile(w->kt, w->k, nk, D);
        load_rows(w->v, v, g->v_off + in_row(g, bh, k0), nk, D, g->in_ts);
        tile_scores(w->s, w->q, w->kt, nq, nk, g, len, q0, k0);
        softmax_step(w, nq, nk, D);
        tile_matmul_pv(w->acc, D, w->s, w->v, nq, nk, D);
    }
    fwd_finish(out, lse, w, g, bh, q0, nq, false);
}

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
static void pack_head_kv(const attn_ws *w, const tg_tensor *k, const tg_tensor *v, const attn_geom *g, int64_t bh)
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
        tg_tile_bf16_mm(c + i0 * ldc, ldc, a + i0 * ld, ld / 2, 1, b, BK, mini(DIAG, m - i0), mini(n, i0 + DIAG),
                        kp, false);
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

/* fwd_query_block with bf16 tile products: q kᵀ and P v. With `head` the
 * key blocks come packed by pack_head_kv, else each is packed here. */
static void fwd_query_block_bf16(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const tg_tensor *k,
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
        scale_mask(w->s, BK, nq, nk, g, len, q0, k0);
        softmax_step(w, nq, nk, D);
        tg_tile_pack_rows(w->pa, BK, w->s, BK, nq, nk);
        mm_keys(w->acc, D, w->pa, t.vp, Dq, nq, (int)D, nk, diag);
    }
    fwd_finish(out, lse, w, g, bh, q0, nq, false);
}

/* ---- kept probabilities ---- */

/* Tiles of P per head: the (query block, key block) pairs that see keys. */
static int64_t n_tiles(const attn_geom *g)
{
    const int64_t nb = n_blocks(g->T);
    return g->causal ? nb * (nb + 1) / 2 : nb * nb;
}

/* Whether P's bf16 tiles fit in the memory of the f32 q, k and v. */
static bool keep_fits(const attn_geom *g)
{
    return (size_t)n_tiles(g) * BQ * BK * sizeof(uint16_t) <= (size_t)(3 * g->T * g->D) * sizeof(float);
}

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
        scale_mask(w->wide + k0, ldw, nq, nk, g, kv_len(g, b), q0, k0);
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

/* fwd_query_block_bf16 keeping P: a two-pass softmax over all the keys the
 * block sees (wide_softmax), each tile of P multiplied into the output and
 * stored into g->p when given. The key blocks come packed by pack_head_kv. */
static void fwd_query_block_kept(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const attn_geom *g,
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
    fwd_finish(out, lse, w, g, bh, q0, nq, true);
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
                pack_head_kv(&w, t[1], t[2], &g, bh);
                for (int64_t q0 = 0; q0 < g.T; q0 += BQ)
                    if (g.keep)
                        fwd_query_block_kept(o, lse, &w, t[0], &g, bh, q0);
                    else
                        fwd_query_block_bf16(o, lse, &w, t[0], t[1], t[2], &g, bh, q0, true);
            }
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < items; it++) {
                if (g.bf16)
                    fwd_query_block_bf16(o, lse, &w, t[0], t[1], t[2], &g, it / nqb, (it % nqb) * BQ, false);
                else
                    fwd_query_block(o, lse, &w, t[0], t[1], t[2], &g, it / nqb, (it % nqb) * BQ);
            }
        }
    }
    if (lse_t) TG_TRY(tg_op_save(ctx, lse_t));
    return p_t ? tg_op_save(ctx, p_t) : TG_OK;
}

/* ---- backward ---- */

/* Turns the score tile into P = exp(S - lse) and the dP tile into
 * dS = scale · P ∘ (dP - D_i) for query rows q0.. of head bh. */
static void tile_ds(float *s, float *dp, const float *lse, const float *delta, const attn_geom *g, int nq,
                    int nk, int64_t row0)
{
    for (int r = 0; r < nq; r++) {
        float *sr = s + r * BK, *dr = dp + r * BK;
        const float lr = lse[row0 + r], dl = delta[row0 + r];
#pragma omp simd
        for (int j = 0; j < nk; j++) {
            const int masked = sr[j] == -INFINITY;
            const float p = tg_vmath_select(masked, 0.0f, tg_vexpf_fast(sr[j] - lr));
            sr[j] = p;
            /* masked: 0 even where dP was not computed (bf16 diagonal tiles) */
            dr[j] = tg_vmath_select(masked, 0.0f, g->scale * p * (dr[j] - dl));
        }
    }
}

/* tile_ds from the kept P: dS = scale · P ∘ (dP - D_i) into dp. */
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

/* P and dS of the (query block q0, key block k0) tile of head bh, with the
 * q, dout, kt and vt tiles of the workspace already loaded. */
static void tile_backward(const attn_ws *w, const float *lse, const float *delta, const attn_geom *g, int64_t bh,
                          int64_t q0, int64_t k0, int nq, int nk)
{
    const int64_t len = kv_len(g, bh / g->H);
    tile_scores(w->s, w->q, w->kt, nq, nk, g, len, q0, k0);
    tile_matmul_nt(w->dp, w->dout, w->vt, nq, nk, g->D);
    tile_ds(w->s, w->dp, lse, delta, g, nq, nk, bh * g->T + q0);
}

/* dst rows (ts apart) += src (n, D), or = src when fresh. */
static void put_rows(float *dst, int64_t ts, const float *src, int n, int64_t D, bool fresh)
{
    for (int r = 0; r < n; r++) {
        float *d = dst + r * ts;
        const float *x = src + r * D;
        if (fresh)
            memcpy(d, x, sizeof(float) * (size_t)D);
        else
#pragma omp simd
            for (int64_t i = 0; i < D; i++) d[i] += x[i];
    }
}

/* n rows (ts apart) of D zeros. */
static void zero_rows(float *dst, int64_t ts, int64_t n, int64_t D)
{
    for (int64_t r = 0; r < n; r++) memset(dst + r * ts, 0, sizeof(float) * (size_t)D);
}

/* dK and dV of one key block of head bh, summed over the query blocks that
 * see it. When dq is given the caller owns the whole head and dQ rows are
 * accumulated here as well (one pass); otherwise dq_query_block does it. */
static void bwd_key_block(float *dq, float *dk, float *dv, const attn_ws *w, const float *lse,
                          const float *delta, const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k,
                          const tg_tensor *v, const attn_geom *g, int64_t bh, int64_t k0)
{
    const int64_t D = g->D, T = g->T, ts = g->in_ts;
    const int nk = (int)min64(BK, T - k0);
    memset(w->dk, 0, sizeof(float) * (size_t)(nk * D));
    memset(w->dv, 0, sizeof(float) * (size_t)(nk * D));
    const bool seen = k0 < kv_len(g, bh / g->H); /* else zero gradients */
    if (seen) {
        load_rows(w->k, k, g->k_off + in_row(g, bh, k0), nk, D, ts);
        transpose_tile(w->kt, w->k, nk, D);
        load_rows(w->v, v, g->v_off + in_row(g, bh, k0), nk, D, ts);
        transpose_tile(w->vt, w->v, nk, D);
    }
    /* causal: query blocks wholly before this key block see none of it */
    for (int64_t q0 = g->causal ? k0 / BQ * BQ : 0; seen && q0 < T; q0 += BQ) {
        const int nq = (int)min64(BQ, T - q0);
        load_rows(w->q, q, g->q_off + in_row(g, bh, q0), nq, D, ts);
        load_rows(w->dout, dout, out_row(g, bh, q0), nq, D, g->out_ts);
        tile_backward(w, lse, delta, g, bh, q0, k0, nq, nk);
        tile_matmul_tn(w->dv, w->s, w->dout, nq, nk, D);
        tile_matmul_tn(w->dk, w->dp, w->q, nq, nk, D);
        if (dq) tile_matmul_pv(dq + in_row(g, bh, q0), ts, w->dp, w->k, nq, nk, D);
    }
    if (dk) put_rows(dk + in_row(g, bh, k0), ts, w->dk, nk, D, g->fresh[1]);
    if (dv) put_rows(dv + in_row(g, bh, k0), ts, w->dv, nk, D, g->fresh[2]);
}

/* dQ of one query block of head bh, summed over the key blocks it sees. */
static void dq_query_block(float *dq, const attn_ws *w, const float *lse, const float *delta,
                           const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                           const attn_geom *g, int64_t bh, int64_t q0)
{
    const int64_t D = g->D, T = g->T, ts = g->in_ts;
    const int nq = (int)min64(BQ, T - q0);
    const int64_t kend = key_end(g, bh / g->H, q0, nq);
    load_rows(w->q, q, g->q_off + in_row(g, bh, q0), nq, D, ts);
    load_rows(w->dout, dout, out_row(g, bh, q0), nq, D, g->out_ts);
    memset(w->dq, 0, sizeof(float) * (size_t)(nq * D));
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int nk = (int)min64(BK, T - k0);
        load_rows(w->k, k, g->k_off + in_row(g, bh, k0), nk, D, ts);
        transpose_tile(w->kt, w->k, nk, D);
        load_rows(w->v, v, g->v_off + in_row(g, bh, k0), nk, D, ts);
        transpose_tile(w->vt, w->v, nk, D);
        tile_backward(w, lse, delta, g, bh, q0, k0, nq, nk);
        tile_matmul_pv(w->dq, D, w->dp, w->k, nq, nk, D);
    }
    put_rows(dq + in_row(g, bh, q0), ts, w->dq, nq, D, g->fresh[0]);
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
static void pack_head_qo(const attn_ws *w, const tg_tensor *q, const tg_tensor *dout, const attn_geom *g, int64_t bh)
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
    scale_mask(w->s, BK, nq, nk, g, kv_len(g, bh / g->H), q0, k0);
    tile_ds(w->s, w->dp, lse, delta, g, nq, nk, bh * g->T + q0);
}

/* bwd_key_block with bf16 products; `head`: the query blocks come packed
 * by pack_head_qo. */
static void bwd_key_block_bf16(float *dq, float *dk, float *dv, const attn_ws *w, const float *lse,
                               const float *delta, const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k,
                               const tg_tensor *v, const attn_geom *g, int64_t bh, int64_t k0, bool head)
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
    if (dk) put_rows(dk + in_row(g, bh, k0), ts, w->dk, nk, D, g->fresh[1]);
    if (dv) put_rows(dv + in_row(g, bh, k0), ts, w->dv, nk, D, g->fresh[2]);
}

/* dq_query_block with bf16 products. */
static void dq_query_block_bf16(float *dq, const attn_ws *w, const float *lse, const float *delta,
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
    put_rows(dq + in_row(g, bh, q0), g->in_ts, w->dq, nq, D, g->fresh[0]);
}

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
                if (dq && g.fresh[0]) zero_rows(dq + in_row(&g, bh, 0), g.in_ts, g.T, g.D); /* key blocks add into it */
                if (g.bf16) pack_head_qo(&w, t[0], dout, &g, bh);
                for (int64_t k0 = 0; k0 < g.T; k0 += BK) {
                    if (g.bf16)
                        bwd_key_block_bf16(dq, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0, true);
                    else
                        bwd_key_block(dq, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0);
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
                    bwd_key_block_bf16(NULL, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0, false);
                else
                    bwd_key_block(NULL, dk, dv, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, k0);
            }
        }
        if (dq) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < BH * nqb; it++) {
                const int64_t bh = it / nqb, q0 = it % nqb * BQ;
                if (g.bf16)
                    dq_query_block_bf16(dq, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, q0);
                else
                    dq_query_block(dq, &w, lse, delta, dout, t[0], t[1], t[2], &g, bh, q0);
            }
        }
    }
    return TG_OK;
}

/* ---- descriptor and wrapper ---- */

static const tg_op attention_op = {.name = "attention", .n_in = -1, .flags = TG_OP_FRESH_GRADS,
                                   .infer = attention_infer, .forward = attention_forward,
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

tg_tensor *tg_attention_qkv(const tg_tensor *qkv, int64_t heads, bool causal, const tg_tensor *lengths,
                            double scale)
{
    return tg_attention_qkv_with(qkv, heads, causal, lengths, scale, NULL);
}

tg_tensor *tg_attention_qkv_with(const tg_tensor *qkv, int64_t heads, bool causal, const tg_tensor *lengths,
                                 double scale, const tg_attention_opts *opts)
{
    if (!qkv) return NULL;
    if (heads < 1 || !isfinite(scale)) {
        tg_error(TG_ERR_INVALID, "tg_attention_qkv: need heads >= 1 and a finite scale, got %lld, %g",
                 (long long)heads, scale);
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
