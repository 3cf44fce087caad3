/* oneDNN-free interface to the backend's compute primitives, for ops.
 *
 * Ops describe a matmul by dims and element strides; the backend turns the
 * description into a cached oneDNN primitive (a repeated call with the same
 * description creates nothing new) and runs it on the context's stream. */
#ifndef TG_BACKEND_H
#define TG_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/ctx.h"
#include "tensor/tensor.h"

/* Most dims of a batched matmul (batch dims plus the two matrix dims). */
#define TG_MATMUL_MAX_DIMS TG_MAX_DIMS

/* C (batch..., M, N) = A (batch..., M, K) · B (batch..., K, N) [+ bias (N)].
 *
 * Every operand is a strided view: element (i0, ..., in-1) of A lives at
 * a + Σ ik * a_strides[k] elements (strides >= 0), so transposes need no
 * copy (a row-major (K, M) matrix read transposed is A with dims (M, K) and
 * strides (1, M)).
 * Batch dims follow NumPy broadcasting with one extension:
 *   - a batch dim of 1 in A or B is broadcast to C's size;
 *   - a batch dim of 1 in C where A or B has more sums over that dim
 *     (the backward of broadcasting), which bias does not allow.
 * Unused trailing array entries are ignored. */
typedef struct tg_matmul_desc {
    int ndim; /* 2 .. TG_MATMUL_MAX_DIMS */
    int64_t a_dims[TG_MATMUL_MAX_DIMS], a_strides[TG_MATMUL_MAX_DIMS];
    int64_t b_dims[TG_MATMUL_MAX_DIMS], b_strides[TG_MATMUL_MAX_DIMS];
    int64_t c_dims[TG_MATMUL_MAX_DIMS], c_strides[TG_MATMUL_MAX_DIMS];
    tg_dtype ab_dtype; /* A and B: TG_F32 or TG_BF16; the bias is f32 */
    tg_dtype c_dtype;  /* C: TG_F32, or TG_BF16 (rounded to nearest even) with bf16 A and B and no
                         * accumulate or summed batch dim */
    bool bias;         /* add the f32 vector passed as `bias` along N */
    bool accumulate;   /* C += A·B (a oneDNN sum post-op) instead of C = A·B */
    bool b_packed;     /* b was made by tg_backend_matmul_pack_b for this desc */
} tg_matmul_desc;

/* Runs the matmul described by d on the context's stream and waits for it.
 * bias is ignored unless d->bias. Works for any M, N, K >= 0 (K == 0 gives
 * bias or zeros). When the CPU has no bf16 matmul, bf16 operands are widened
 * to f32 in temporary heap buffers. Errors: TG_ERR_INVALID for an inconsistent
 * description, TG_ERR_BACKEND when oneDNN fails, TG_ERR_OOM. */
tg_status tg_backend_matmul(tg_ctx *ctx, const tg_matmul_desc *d, void *c, const void *a, const void *b,
                            const void *bias);

/* B in the layout the primitive for d prefers (blocked for its kernel):
 * a weight used by many matmuls in a step is packed once instead of inside
 * every call. Needs ndim 2. tg_backend_matmul_packed_bytes gives the size
 * in *bytes; tg_backend_matmul_pack_b writes into
 * dst the B that d->b_dims / d->b_strides describe, read from b as src_dtype
 * (f32 or bf16; rounded to d->ab_dtype on the way). The result is only for
 * matmuls with d's dims, strides and flags, run with d->b_packed set. */
tg_status tg_backend_matmul_packed_bytes(tg_ctx *ctx, const tg_matmul_desc *d, size_t *bytes);
tg_status tg_backend_matmul_pack_b(tg_ctx *ctx, const tg_matmul_desc *d, void *dst, const void *b, tg_dtype src_dtype);

/* Name of the oneDNN implementation chosen for d (building and caching the
 * primitive if needed), e.g. "brg:avx2" or "gemm:jit"; NULL with the error
 * set on failure. The string is owned by the context's primitive cache. */
const char *tg_backend_matmul_impl(tg_ctx *ctx, const tg_matmul_desc *d);

/* Sets one operand of a desc (dims/strides: e.g. d->a_dims, d->a_strides) to
 * a logical (rows, cols) matrix per batch index, stored row-major and
 * contiguous as (batch..., rows, cols), or as (batch..., cols, rows) when
 * trans. batch has nb = ndim - 2 entries (1 where broadcast). */
void tg_matmul_view(int64_t *dims, int64_t *strides, int nb, const int64_t *batch, int64_t rows, int64_t cols,
                    bool trans);

#endif
