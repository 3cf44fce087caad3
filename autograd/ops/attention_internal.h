/* The pieces of fused attention shared by its files (not installed):
 *   attention.c       the op: attributes, shape inference, geometry and
 *                     workspaces, the parallel forward and backward that
 *                     hand tiles to a path, the descriptor and wrappers;
 *   attention_f32.c   the f32 tile path, and the masking, online softmax and
 *                     gradient pieces the bf16 path uses too;
 *   attention_bf16.c  the bf16 tile products (tile_bf16.h) and the kept
 *                     probabilities;
 *   attention_ref.c   the plain O(T²) definition the fast paths are tested
 *                     against (tg_attention_ref_forward/_backward, ops.h). */
#ifndef TG_ATTENTION_INTERNAL_H
#define TG_ATTENTION_INTERNAL_H

#include "autograd/ops/ops_internal.h"

/* Tile sizes: a 64×64 score tile and 64-row q/k/v tiles (Dh up to a few
 * hundred) stay within L2 per thread. */
#define BQ 64
#define BK 64
_Static_assert(BQ == BK, "causal block skipping assumes square tiles");
/* Below this many B·H·T²·Dh multiply-adds one thread is faster than waking
 * the team (a parallel region costs more than a small problem). */
#define ATTN_OMP_MIN (1 << 20)

/* Geometry of one call. Row t of head (b, h) of q starts at element
 * q_off + b·in_bs + h·in_hs + t·in_ts of the q tensor (k, v alike, and their
 * gradients); of out and dout at b·out_bs + h·out_hs + t·out_ts. */
typedef struct attn_geom {
    int64_t B, H, T, D;
    bool causal, bf16;
    bool keep;   /* bf16 and short enough to keep P (see the top): two-pass forward */
    uint16_t *p; /* the kept P when keep and recording: (B·H, n_tiles, BQ·BK) */
    float scale;
    const int32_t *lengths; /* (B) or NULL */
    int64_t in_bs, in_hs, in_ts, out_bs, out_hs, out_ts;
    int64_t q_off, k_off, v_off;
    bool fresh[3]; /* backward: dq, dk, dv not yet written (TG_OP_FRESH_GRADS): store, do not add */
} attn_geom;

static inline int64_t in_row(const attn_geom *g, int64_t bh, int64_t t)
{
    return bh / g->H * g->in_bs + bh % g->H * g->in_hs + t * g->in_ts;
}

static inline int64_t out_row(const attn_geom *g, int64_t bh, int64_t t)
{
    return bh / g->H * g->out_bs + bh % g->H * g->out_hs + t * g->out_ts;
}

/* Per-thread tiles, carved from one scratch block. The bf16 operands (only
 * with bf16 products) are named after their role in tile_bf16.h: *a are
 * `a` operands (rows of DQ(D) values), *p pair-packed `b` operands
 * contracting over their source's rows, *c over its columns. */
typedef struct attn_ws {
    float *q, *k, *kt, *v, *vt, *dout;               /* (BQ|BK, D) rows; kt, vt (D, BK) */
    float *s, *dp;                                   /* (BQ, BK) */
    float *acc, *dq, *dk, *dv;                       /* (BQ|BK, D) accumulators */
    float *m, *l;                                    /* (BQ) */
    float *wide;                                     /* (BQ, Tpad): a query block's scores over all keys (keep) */
    uint16_t *qa, *qp, *oa, *op, *kc, *kp, *vc, *vp; /* q, dO (o), k, v tiles as operands */
    uint16_t *pa, *pt, *sa, *st;                     /* P, dS as `a` rows (pa, sa) and pairs (pt, st) */
    uint16_t *head[4];                               /* one head's tiles packed once: (T/BQ) tiles of BQ·DQ(D) */
} attn_ws;

/* Row length of the bf16 tiles: D padded to whole 16-column vectors. */
static inline int64_t DQ(int64_t D) { return (D + 15) / 16 * 16; }

/* bf16 values of one packed tile and of one head's tiles. */
static inline size_t tile_u16(int64_t D) { return (size_t)(BQ * DQ(D)); }
static inline size_t head_u16(int64_t D, int64_t T) { return tile_u16(D) * (size_t)((T + BQ - 1) / BQ); }

/* Blocks of BK keys in a sequence of T, and the padded length they span. */
static inline int64_t n_blocks(int64_t T) { return (T + BK - 1) / BK; }
static inline int64_t t_pad(int64_t T) { return n_blocks(T) * BK; }

static inline int64_t kv_len(const attn_geom *g, int64_t b) { return g->lengths ? g->lengths[b] : g->T; }

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* End (exclusive) of the keys that query rows [q0, q0 + nq) of batch b can
 * see: the causal diagonal and the sequence length. */
static inline int64_t key_end(const attn_geom *g, int64_t b, int64_t q0, int64_t nq)
{
    int64_t e = kv_len(g, b);
    return g->causal ? min64(e, q0 + nq) : e;
}

/* Tiles of P per head: the (query block, key block) pairs that see keys. */
static inline int64_t n_tiles(const attn_geom *g)
{
    const int64_t nb = n_blocks(g->T);
    return g->causal ? nb * (nb + 1) / 2 : nb * nb;
}

/* ---- attention_f32.c ---- */

/* Pieces of one tile that both paths use. */
void tg_attn_scale_mask(float *s, int64_t lds, int nq, int nk, const attn_geom *g, int64_t len, int64_t q0, int64_t k0);
void tg_attn_softmax_step(const attn_ws *w, int nq, int nk, int64_t D);
void tg_attn_fwd_finish(float *out, float *lse, const attn_ws *w, const attn_geom *g, int64_t bh, int64_t q0, int nq,
                        bool normalized);
void tg_attn_tile_ds(float *s, float *dp, const float *lse, const float *delta, const attn_geom *g, int nq, int nk,
                     int64_t row0);
void tg_attn_put_rows(float *dst, int64_t ts, const float *src, int n, int64_t D, bool fresh);
void tg_attn_zero_rows(float *dst, int64_t ts, int64_t n, int64_t D);
/* The work items attention.c shares out: the output rows of one query
 * block; dK, dV of one key block (and dQ when one thread owns the head);
 * dQ of one query block. */
void tg_attn_fwd_query_block(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const tg_tensor *k,
                             const tg_tensor *v, const attn_geom *g, int64_t bh, int64_t q0);
void tg_attn_bwd_key_block(float *dq, float *dk, float *dv, const attn_ws *w, const float *lse, const float *delta,
                           const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                           const attn_geom *g, int64_t bh, int64_t k0);
void tg_attn_dq_query_block(float *dq, const attn_ws *w, const float *lse, const float *delta, const tg_tensor *dout,
                            const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, const attn_geom *g, int64_t bh,
                            int64_t q0);

/* ---- attention_bf16.c ---- */

/* The same work items with bf16 products; with one thread per head its
 * k, v (forward) or q, dO (backward) tiles are packed once (tg_attn_pack_head_*). */
void tg_attn_pack_head_kv(const attn_ws *w, const tg_tensor *k, const tg_tensor *v, const attn_geom *g, int64_t bh);
void tg_attn_fwd_query_block_bf16(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const tg_tensor *k,
                                  const tg_tensor *v, const attn_geom *g, int64_t bh, int64_t q0, bool head);
void tg_attn_fwd_query_block_kept(float *out, float *lse, const attn_ws *w, const tg_tensor *q, const attn_geom *g,
                                  int64_t bh, int64_t q0);
void tg_attn_pack_head_qo(const attn_ws *w, const tg_tensor *q, const tg_tensor *dout, const attn_geom *g, int64_t bh);
void tg_attn_bwd_key_block_bf16(float *dq, float *dk, float *dv, const attn_ws *w, const float *lse, const float *delta,
                                const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                                const attn_geom *g, int64_t bh, int64_t k0, bool head);
void tg_attn_dq_query_block_bf16(float *dq, const attn_ws *w, const float *lse, const float *delta,
                                 const tg_tensor *dout, const tg_tensor *q, const tg_tensor *k, const tg_tensor *v,
                                 const attn_geom *g, int64_t bh, int64_t q0);

#endif
