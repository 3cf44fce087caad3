/* Per-sample gradient norms and per-sample weighted gradients, for DP-SGD
 * (optim/dpsgd.h), without one backward per sample.
 *
 * A "sample" is a group of rows of the batch (in DP-SGD: a privacy unit, one
 * claim or all claims of a patient). Samples must not interact in the
 * forward (the rows of one sample never feed another's), which holds for
 * causal attention within rows, row-wise norms, masked pooling per document
 * and per-document heads. The caller describes which sample each leading row
 * belongs to by row spaces: a tensor whose numel / last dim equals a space's
 * `rows` is attributed row by row through that space (for the claims model:
 * the R·T token positions, and the n_docs documents).
 *
 * The squared norm of sample i's gradient is summed over parameters from the
 * nodes that read them, during one backward that computes no parameter
 * gradient:
 *   - weights read once by an op that declares linear rows (tg_linear; see
 *     tg_op_linear_rows in autograd/op.h): per sample, either the ghost norm
 *     ||sum_t g_t a_tᵀ||² = sum_{t,s} (a_t·a_s)(g_t·g_s) from the two Gram
 *     matrices, or the materialized gᵀa, whichever costs less (n_i (in + out)
 *     vs in·out multiply-adds per row); biases from per-sample column sums;
 *   - parameters read by several nodes (tied embeddings) get per-sample
 *     gradients accumulated over their readers before the norm;
 *   - any other op (embedding, layer/RMS norm, broadcast mul, user ops) runs
 *     its own backward on the output gradient restricted to the sample's rows.
 * tg_psn_backward_weighted then accumulates sum_i w_i g_i into the
 * parameters' gradients in one more backward: each parameter node's backward
 * sees its output gradient with sample i's rows scaled by w_i. */
#ifndef TG_DPSGD_NORMS_H
#define TG_DPSGD_NORMS_H

#include <stdint.h>

#include "tensor/tensor.h"

typedef struct tg_psn_space {
    int64_t rows;          /* leading rows of the tensors it describes */
    const int32_t *sample; /* (rows) sample of each row in [0, n_samples), -1: none */
} tg_psn_space;

typedef enum tg_psn_linear {
    TG_PSN_AUTO = 0,   /* the cheaper of ghost norm and materialization per sample */
    TG_PSN_GHOST,      /* Gram-matrix ghost norm for single-reader linear weights */
    TG_PSN_MATERIALIZE /* per-sample gᵀa always */
} tg_psn_linear;

typedef struct tg_psn_opts {
    int n_samples;
    const tg_psn_space *spaces;
    int n_spaces; /* spaces must have distinct row counts */
    tg_psn_linear linear;
} tg_psn_opts;

/* Squared L2 norms of each sample's gradient of `loss` (a scalar) over the
 * params: sq[n_samples] (f64). Keeps the graph for another backward and
 * leaves the params' gradients unchanged. Errors: TG_ERR_INVALID for bad
 * options or a parameter read by a node whose output has no row space (for
 * example through a cast: run in f32), TG_ERR_OOM, and backward's errors. */
tg_status tg_psn_norms(tg_tensor *loss, tg_tensor *const *params, int n_params, const tg_psn_opts *o, double *sq);

/* Accumulates sum_i weight[i] * (sample i's gradient) into the params'
 * gradients (+=) by one backward of `loss`, which releases the graph.
 * Rows of no sample contribute nothing. Same errors as tg_psn_norms. */
tg_status tg_psn_backward_weighted(tg_tensor *loss, tg_tensor *const *params, int n_params, const tg_psn_opts *o,
                                   const double *weight);

#endif
