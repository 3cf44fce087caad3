/* Fused attention, the f32 tile path (see attention.c): tiles of q, k, v
 * loaded as f32 rows, the score and gradient products on a small register-
 * blocked GEMM, and the masking, online softmax and dS pieces that the bf16
 * path (attention_bf16.c) shares. */
#include <math.h>
#include <string.h>

#include "autograd/ops/attention_internal.h"
#include "autograd/ops/vmath.h"

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
__attribute__((target_clones("avx512f", "avx2", "default"))) static void gemm_acc(float *c, int64_t ldc, const float *a,
                                                                                  int64_t sam, int64_t sak,
                                                                                  const float *b, int64_t ldb, int M,
                                                                                  int N, int K)
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
void tg_attn_scale_mask(float *s, int64_t lds, int nq, int nk, const attn_geom *g, int64_t len, int64_t q0, int64_t k0)
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

/* s (nq, BK) = scale · q kᵀ, masked as tg_attn_scale_mask says. */
static void tile_scores(float *s, const float *q, const float *kt, int nq, int nk, const attn_geom *g, int64_t len,
                        int64_t q0, int64_t k0)
{
    tile_matmul_nt(s, q, kt, nq, nk, g->D);
    tg_attn_scale_mask(s, BK, nq, nk, g, len, q0, k0);
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
void tg_attn_softmax_step(const attn_ws *w, int nq, int nk, int64_t D)
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
void tg_attn_fwd_finish(float *out, float *lse, const attn_ws *w, const attn_geom *g, int64_t bh, int64_t q0, int nq,
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
void tg_attn_fwd_query_block(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const tg_tensor *k,
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
        tg_attn_softmax_step(w, nq, nk, D);
        tile_matmul_pv(w->acc, D, w->s, w->v, nq, nk, D);
    }
    tg_attn_fwd_finish(out, lse, w, g, bh, q0, nq, false);
}

/* ---- backward ---- */

/* Turns the score tile into P = exp(S - lse) and the dP tile into
 * dS = scale · P ∘ (dP - D_i) for query rows q0.. of head bh. */
void tg_attn_tile_ds(float *s, float *dp, const float *lse, const float *delta, const attn_geom *g, int nq, int nk,
                     int64_t row0)
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

/* P and dS of the (query block q0, key block k0) tile of head bh, with the
 * q, dout, kt and vt tiles of the workspace already loaded. */
static void tile_backward(const attn_ws *w, const float *lse, const float *delta, const attn_geom *g, int64_t bh,
                          int64_t q0, int64_t k0, int nq, int nk)
{
    const int64_t len = kv_len(g, bh / g->H);
    tile_scores(w->s, w->q, w->kt, nq, nk, g, len, q0, k0);
    tile_matmul_nt(w->dp, w->dout, w->vt, nq, nk, g->D);
    tg_attn_tile_ds(w->s, w->dp, lse, delta, g, nq, nk, bh * g->T + q0);
}

/* dst rows (ts apart) += src (n, D), or = src when fresh. */
void tg_attn_put_rows(float *dst, int64_t ts, const float *src, int n, int64_t D, bool fresh)
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
void tg_attn_zero_rows(float *dst, int64_t ts, int64_t n, int64_t D)
{
    for (int64_t r = 0; r < n; r++) memset(dst + r * ts, 0, sizeof(float) * (size_t)D);
}

/* dK and dV of one key block of head bh, summed over the query blocks that
 * see it. When dq is given the caller owns the whole head and dQ rows are
 * accumulated here as well (one pass); otherwise tg_attn_dq_query_block does it. */
void tg_attn_bwd_key_block(float *dq, float *dk, float *dv, const attn_ws *w, const float *lse, const float *delta,
                           const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                           const attn_geom *g, int64_t bh, int64_t k0)
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
    if (dk) tg_attn_put_rows(dk + in_row(g, bh, k0), ts, w->dk, nk, D, g->fresh[1]);
    if (dv) tg_attn_put_rows(dv + in_row(g, bh, k0), ts, w->dv, nk, D, g->fresh[2]);
}

/* dQ of one query block of head bh, summed over the key blocks it sees. */
void tg_attn_dq_query_block(float *dq, const attn_ws *w, const float *lse, const float *delta, const tg_tensor *dout,
                            const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, const attn_geom *g, int64_t bh,
                            int64_t q0)
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
    tg_attn_put_rows(dq + in_row(g, bh, q0), ts, w->dq, nq, D, g->fresh[0]);
}
