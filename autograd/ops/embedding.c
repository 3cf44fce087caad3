/* Embedding lookup: out[n, :] = table[idx[n], :]. The backward scatter-adds
 * dout rows into dtable; positions are first bucketed by table row (a stable
 * counting sort) so each row of dtable is written by one thread, in a fixed
 * order: no atomics, and the result does not depend on the thread count. */
#include <string.h>

#include "autograd/ops/ops_internal.h"

/* ---- shape inference ---- */

static tg_status embedding_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    (void)attr;
    const tg_shape *ts = tg_tensor_shape(in[0]), *is = tg_tensor_shape(in[1]);
    char a[96];
    TG_TRY(tg_ops_require_f32(in[0], "embedding", "table"));
    if (tg_tensor_dtype(in[1]) != TG_S32)
        return tg_error(TG_ERR_DTYPE, "embedding: idx must be s32, got %s", tg_dtype_name(tg_tensor_dtype(in[1])));
    if (ts->ndim != 2)
        return tg_error(TG_ERR_SHAPE, "embedding: table must be (V, D), got %s", tg_shape_str(ts, a, sizeof a));
    if (is->ndim >= TG_MAX_DIMS)
        return tg_error(TG_ERR_SHAPE, "embedding: idx %s has rank %d; at most %d allowed",
                        tg_shape_str(is, a, sizeof a), is->ndim, TG_MAX_DIMS - 1);
    *out = *is;
    out->dims[out->ndim++] = ts->dims[1]; /* (..., D) */
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

/* The first index outside [0, V) as TG_ERR_INVALID, else TG_OK. */
static tg_status check_indices(const int32_t *idx, int64_t n, int64_t V)
{
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= V)
            return tg_error(TG_ERR_INVALID, "embedding: index %d at position %lld is out of range [0, %lld)", idx[i],
                            (long long)i, (long long)V);
    return TG_OK;
}

static tg_status embedding_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr,
                                   tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    (void)attr;
    const int64_t V = tg_tensor_dim(in[0], 0), D = tg_tensor_dim(in[0], 1), N = tg_tensor_numel(in[1]);
    const int32_t *idx = tg_s32(in[1]);
    TG_TRY(check_indices(idx, N, V));
    const float *w = tg_f32(in[0]);
    float *y = tg_f32(out); /* (N, D) */
#pragma omp parallel for if (N * D > TG_OMP_MIN)
    for (int64_t n = 0; n < N; n++) memcpy(y + n * D, w + (int64_t)idx[n] * D, (size_t)D * sizeof *y);
    return TG_OK;
}

/* ---- backward ---- */

/* start[v]..start[v+1] in `order` lists the positions n with idx[n] == v, in
 * increasing n. start has V + 1 entries, order N. */
static void bucket_by_row(int64_t *start, int64_t *order, const int32_t *idx, int64_t N, int64_t V)
{
    memset(start, 0, (size_t)(V + 1) * sizeof *start);
    for (int64_t n = 0; n < N; n++) start[idx[n] + 1]++;
    for (int64_t v = 0; v < V; v++) start[v + 1] += start[v];
    for (int64_t n = 0; n < N; n++) order[start[idx[n]]++] = n;
    /* the fill advanced start[v] to the end of bucket v: shift back by one */
    memmove(start + 1, start, (size_t)V * sizeof *start);
    start[0] = 0;
}

static tg_status embedding_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    if (!din[0]) return TG_OK;
    const tg_tensor *table = tg_op_input(ctx, 0), *ids = tg_op_input(ctx, 1);
    const int64_t V = tg_tensor_dim(table, 0), D = tg_tensor_dim(table, 1), N = tg_tensor_numel(ids);
    int64_t *start = tg_op_scratch(ctx, (size_t)(V + 1) * sizeof *start);
    int64_t *order = tg_op_scratch(ctx, (size_t)(N ? N : 1) * sizeof *order);
    if (!start || !order)
        return tg_error(TG_ERR_OOM, "embedding: no scratch to bucket %lld indices over %lld rows", (long long)N,
                        (long long)V);
    bucket_by_row(start, order, tg_s32(ids), N, V);
    const float *dy = tg_f32(dout); /* (N, D) */
    float *dw = tg_f32(din[0]);     /* (V, D) */
#pragma omp parallel for schedule(dynamic, 64) if (N * D > TG_OMP_MIN)
    for (int64_t v = 0; v < V; v++) {
        float *dwr = dw + v * D;
        for (int64_t k = start[v]; k < start[v + 1]; k++) {
            const float *dyr = dy + order[k] * D;
            for (int64_t j = 0; j < D; j++) dwr[j] += dyr[j];
        }
    }
    return TG_OK;
}

/* ---- descriptor ---- */

static const tg_op embedding_op = {.name = "embedding",
                                   .n_in = 2,
                                   .infer = embedding_infer,
                                   .forward = embedding_forward,
                                   .backward = embedding_backward};

tg_status tg_register_embedding_ops(void) { return tg_op_register(&embedding_op); }

tg_tensor *tg_embedding(const tg_tensor *table, const tg_tensor *idx)
{
    const tg_tensor *in[2] = {table, idx};
    return tg_apply(&embedding_op, in, 2, NULL, 0);
}
