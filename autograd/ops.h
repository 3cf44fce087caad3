/* Built-in differentiable ops. Each is a registered tg_op (see op.h) behind a
 * small typed wrapper. All return a TG_STEP tensor, or NULL with
 * tg_last_error() naming the function and the offending shapes/values.
 * Float ops compute in f32; where noted they also accept bf16 inputs.
 *
 * Options: an op with settings beyond its plain arguments has a struct
 * tg_<op>_opts whose zero value means the defaults, and tg_<op>_with(the
 * plain arguments..., const tg_<op>_opts *opts) with NULL for the defaults;
 * the plain tg_<op>(...) is tg_<op>_with(..., NULL). For example
 *   tg_linear_with(x, w, b, &(tg_linear_opts){.compute = TG_BF16}). */
#ifndef TG_OPS_H
#define TG_OPS_H

#include <stdbool.h>

#include "tensor/tensor.h"

_Static_assert(TG_F32 == 0, "a zeroed dtype field of the options structs below means f32");

/* ---- matmul.c ---- */

/* (..., M, K) @ (..., K, N) -> (..., M, N); batch dims broadcast NumPy-style.
 * f32 or bf16 inputs (both the same); the output is f32. */
tg_tensor *tg_matmul(const tg_tensor *a, const tg_tensor *b);

typedef struct tg_matmul_opts {
    bool trans_a, trans_b; /* use the transpose of a's / b's last two dims */
} tg_matmul_opts;
tg_tensor *tg_matmul_with(const tg_tensor *a, const tg_tensor *b, const tg_matmul_opts *opts);

/* ---- linear.c ---- */

/* x (..., in) · w (out, in)ᵀ + bias (out) -> (..., out); bias may be NULL.
 * f32 or bf16 x and w (the same); bias and output f32. */
tg_tensor *tg_linear(const tg_tensor *x, const tg_tensor *w, const tg_tensor *bias);

typedef struct tg_linear_opts {
    /* Dtype of the matmuls, TG_F32 or TG_BF16: with bf16, f32 x and w are
     * rounded to bf16 inside the op (mixed precision: f32 master weights,
     * bf16 operands, f32 accumulation, output and gradients); dy is rounded
     * to bf16 for the two gradient matmuls. x may then also be bf16 with an
     * f32 w. */
    tg_dtype compute;
    /* Dtype of y: TG_F32, or TG_BF16 (needs bf16 compute) to have the
     * matmul write y rounded to bf16, for a consumer that rounds its input
     * anyway (attention's packed qkv); the gradient arriving for y is f32
     * as always. */
    tg_dtype out;
} tg_linear_opts;
/* Errors as tg_linear, plus TG_ERR_DTYPE for a compute or out dtype other
 * than the above. */
tg_tensor *tg_linear_with(const tg_tensor *x, const tg_tensor *w, const tg_tensor *bias, const tg_linear_opts *opts);

/* ---- mlp.c ---- */

/* The transformer feed-forward layer as one op:
 *   y (..., O) = gelu_tanh(x · w1ᵀ + b1) · w2ᵀ + b2
 * with x (..., D), w1 (H, D), w2 (O, H); b1 (H) and b2 (O) may be NULL.
 * The values and gradients of tg_linear_with, tg_gelu_with, tg_linear_with
 * in `compute` (f32 or bf16 products; x f32, or bf16 with bf16 compute), with
 * GELU's input gradient never written in f32 between ops; with bf16
 * compute GELU's input and its gradient are kept in bf16 too (the unfused
 * ops keep them in f32), so results agree to bf16 rounding. Errors:
 * TG_ERR_SHAPE, TG_ERR_DTYPE, TG_ERR_INVALID. */
tg_tensor *tg_mlp_gelu(const tg_tensor *x, const tg_tensor *w1, const tg_tensor *b1, const tg_tensor *w2,
                       const tg_tensor *b2, tg_dtype compute);

/* ---- cast.c ---- */

/* x converted to `to` (f32 <-> bf16); x itself when it already has that
 * dtype. The gradient flows back unchanged in f32. */
tg_tensor *tg_cast(const tg_tensor *x, tg_dtype to);

/* ---- binary.c (NumPy broadcasting) ---- */

tg_tensor *tg_add(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_sub(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_mul(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_div(const tg_tensor *a, const tg_tensor *b);

/* The shape a and b broadcast to, or TG_ERR_SHAPE naming `fn`. */
tg_status tg_broadcast_shape(const tg_shape *a, const tg_shape *b, tg_shape *out, const char *fn);

/* ---- eltwise.c ---- */

tg_tensor *tg_scale(const tg_tensor *x, double s);      /* s * x */
tg_tensor *tg_add_scalar(const tg_tensor *x, double s); /* x + s */
tg_tensor *tg_neg(const tg_tensor *x);
tg_tensor *tg_gelu(const tg_tensor *x); /* tanh approximation (GPT-2) */
typedef struct tg_gelu_opts {
    /* Dtype of the output: TG_F32, or TG_BF16 to round it to bf16 (under
     * autocast, the next linear's matmul operand as is); the gradient still
     * reaches x in f32. Another dtype: TG_ERR_DTYPE. */
    tg_dtype out;
} tg_gelu_opts;
tg_tensor *tg_gelu_with(const tg_tensor *x, const tg_gelu_opts *opts);
tg_tensor *tg_gelu_erf(const tg_tensor *x); /* exact, with erf */
tg_tensor *tg_relu(const tg_tensor *x);
tg_tensor *tg_silu(const tg_tensor *x);
tg_tensor *tg_tanh(const tg_tensor *x);
tg_tensor *tg_sigmoid(const tg_tensor *x);
tg_tensor *tg_exp(const tg_tensor *x);
tg_tensor *tg_log(const tg_tensor *x);
tg_tensor *tg_sqrt(const tg_tensor *x);
tg_tensor *tg_pow(const tg_tensor *x, double p); /* x^p */

/* ---- softmax.c (last axis) ---- */

/* softmax(x + mask); mask (may be NULL) is f32 and broadcasts to x; use a
 * large negative value (or -INFINITY) to exclude positions. Rows whose
 * entries are all -inf give zeros (log_softmax too) and a zero gradient.
 * The mask never gets a gradient. Errors: TG_ERR_DTYPE (not f32),
 * TG_ERR_SHAPE (scalar x, mask that does not broadcast to x's shape). */
tg_tensor *tg_softmax(const tg_tensor *x, const tg_tensor *mask);
tg_tensor *tg_log_softmax(const tg_tensor *x, const tg_tensor *mask);

/* ---- norm.c (last axis) ---- */

/* (x - mean) / sqrt(var + eps) * w + b over the last dim D (biased
 * variance); w and b (D) may be NULL. Errors: TG_ERR_SHAPE (w or b not (D)),
 * TG_ERR_DTYPE (not f32), TG_ERR_INVALID (eps < 0). */
tg_tensor *tg_layer_norm(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, double eps);
/* x / sqrt(mean(x²) + eps) * w; w (D) may be NULL. */
tg_tensor *tg_rms_norm(const tg_tensor *x, const tg_tensor *w, double eps);

/* The two with options. out is the output's dtype: TG_F32, or TG_BF16 to
 * write the normalized values rounded to bf16 (the operand of a bf16
 * matmul, with no f32 copy; the statistics and backward stay f32);
 * TG_ERR_DTYPE for another dtype. */
typedef struct tg_layer_norm_opts {
    tg_dtype out;
} tg_layer_norm_opts;
typedef struct tg_rms_norm_opts {
    tg_dtype out;
} tg_rms_norm_opts;
tg_tensor *tg_layer_norm_with(const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, double eps,
                              const tg_layer_norm_opts *opts);
tg_tensor *tg_rms_norm_with(const tg_tensor *x, const tg_tensor *w, double eps, const tg_rms_norm_opts *opts);

/* ---- embedding.c ---- */

/* table (V, D) f32, idx s32 (...) in [0, V) -> (..., D). Backward
 * scatter-adds into the table's gradient (duplicates accumulate). */
tg_tensor *tg_embedding(const tg_tensor *table, const tg_tensor *idx);

/* ---- reduce.c ---- */

/* Reductions over `axes` (n_axes == 0: all axes; negative axes count from
 * the end). keepdim keeps reduced axes with size 1. max sends the gradient
 * to the first maximal element. */
tg_tensor *tg_sum(const tg_tensor *x, const int *axes, int n_axes, bool keepdim);
tg_tensor *tg_mean(const tg_tensor *x, const int *axes, int n_axes, bool keepdim);
tg_tensor *tg_max(const tg_tensor *x, const int *axes, int n_axes, bool keepdim);

/* ---- shape.c ---- */

/* Same data, new shape; one dim may be -1 (inferred). No copy. */
tg_tensor *tg_reshape(const tg_tensor *x, tg_shape shape);
/* Output dim i is input dim perm[i] (perm has ndim entries). */
tg_tensor *tg_permute(const tg_tensor *x, const int *perm);
/* Swaps two axes (negative counts from the end). */
tg_tensor *tg_transpose(const tg_tensor *x, int axis0, int axis1);

/* ---- slice.c ---- */

/* Elements start..end-1 along axis (negative start/end count from the end). */
tg_tensor *tg_slice(const tg_tensor *x, int axis, int64_t start, int64_t end);
/* Joins n tensors along axis; other dims must match. */
tg_tensor *tg_concat(const tg_tensor *const *xs, int n, int axis);

/* ---- where.c ---- */

/* cond ? a : b elementwise with broadcasting; cond is s32 or f32 (nonzero =
 * true) and gets no gradient. */
tg_tensor *tg_where(const tg_tensor *cond, const tg_tensor *a, const tg_tensor *b);
/* x with `value` where mask (broadcasts to x, nonzero = true). */
tg_tensor *tg_masked_fill(const tg_tensor *x, const tg_tensor *mask, double value);

/* ---- dropout.c ---- */

/* Zeroes each element with probability p and scales the rest by 1/(1-p).
 * The mask comes from the context's RNG stream (reproducible for a given
 * ctx seed); identity when !train or p == 0. */
tg_tensor *tg_dropout(const tg_tensor *x, double p, bool train);
/* Same with an explicit seed: the mask is a pure function of (seed, index). */
tg_tensor *tg_dropout_seeded(const tg_tensor *x, double p, uint64_t seed);

/* ---- cross_entropy.c ---- */

typedef enum tg_reduction { TG_REDUCE_MEAN = 0, TG_REDUCE_SUM, TG_REDUCE_NONE } tg_reduction;

typedef struct tg_ce_opts {
    int ignore_index;               /* targets equal to it add nothing; default -100 */
    double label_smoothing;         /* in [0, 1) */
    const tg_tensor *class_weights; /* (C) f32 or NULL */
    const tg_tensor *token_weights; /* targets' shape, f32, or NULL */
    tg_reduction reduction;         /* MEAN: sum(w_i l_i) / sum(w_i) over kept targets */
} tg_ce_opts;
/* Exact definition: for a kept target i (t_i != ignore_index), class
 * weights cw (1 when NULL), token weight u_i (1 when NULL), eps = smoothing,
 * log p = log_softmax(logits_i):
 *   l_i  = (1-eps) cw[t_i] (-log p[t_i]) + eps/C sum_c cw[c] (-log p[c])
 *   NONE = u_i l_i (0 where ignored), SUM = sum_i u_i l_i,
 *   MEAN = sum_i u_i l_i / sum_i u_i cw[t_i], and 0 (zero gradient) when
 *          that denominator is 0 (e.g. every target ignored).
 * Without token weights this is PyTorch's F.cross_entropy. */

/* Default options: ignore_index -100, no smoothing, no weights, mean. */
tg_ce_opts tg_ce_defaults(void);

/* Fused log-softmax + negative log-likelihood. logits (..., C) f32,
 * targets s32 with logits' leading shape. Returns a scalar (MEAN, SUM) or
 * per-target losses (NONE). Targets outside [0, C) that are not the
 * ignore_index give TG_ERR_INVALID naming the position and value; wrong
 * dtypes TG_ERR_DTYPE; mismatched shapes TG_ERR_SHAPE; smoothing outside
 * [0, 1) TG_ERR_INVALID. The weights get no gradient. opts may be NULL. */
tg_tensor *tg_cross_entropy(const tg_tensor *logits, const tg_tensor *targets, const tg_ce_opts *opts);
/* tg_cross_entropy(tg_linear_with(h, w, NULL, &(tg_linear_opts){.compute = compute}), targets, opts) with
 * h (..., D) and w (V, D) f32, fused: the (..., V) logits are made
 * chunk_rows rows at a time (0: about 32 MiB of them) and neither they nor
 * their gradient ever exist whole. Only MEAN and SUM reductions (forward
 * also folds the gradient into dh and dw, so backward is two scaled adds).
 * compute TG_BF16 runs the three matmuls in bf16 (f32 accumulation). Errors
 * as tg_cross_entropy and tg_linear, TG_ERR_INVALID for reduction NONE. */
tg_tensor *tg_linear_cross_entropy(const tg_tensor *h, const tg_tensor *w, const tg_tensor *targets,
                                   const tg_ce_opts *opts, tg_dtype compute, int64_t chunk_rows);

/* ---- losses.c (fused losses beyond cross-entropy; all mean over rows) ---- */

/* Focal loss: mean_i -alpha[y_i] (1 - p_i)^gamma log p_i with p_i the
 * softmax probability of the target. logits (N, C) f32, targets (N) s32 in
 * [0, C), alpha (C) f32 or NULL (all ones), gamma >= 0. */
tg_tensor *tg_focal_loss(const tg_tensor *logits, const tg_tensor *targets, double gamma, const tg_tensor *alpha);

/* Binary cross-entropy with logits, PyTorch semantics: mean of
 * -[pw·y·log σ(x) + (1 - y)·log(1 - σ(x))]. targets f32 in [0, 1] with
 * logits' shape; pos_weight (last dim of logits) f32 or NULL. Stable for
 * large |x|. */
tg_tensor *tg_bce_logits(const tg_tensor *logits, const tg_tensor *targets, const tg_tensor *pos_weight);

/* Expected cost under the softmax: mean_i sum_k softmax(z_i)_k C[y_i][k].
 * logits (N, K), targets (N) s32 in [0, K), cost (K, K) f32 indexed
 * [true][predicted]. Minimizing it makes costly mistakes (a false rejection)
 * weigh more than cheap ones (a false approval). */
tg_tensor *tg_cost_matrix_loss(const tg_tensor *logits, const tg_tensor *targets, const tg_tensor *cost);

/* ---- attention.c (and attention_*.c) ---- */

/* Scaled dot-product attention, flash-style: q, k, v (B, H, T, Dh) f32 (or
 * bf16) -> (B, H, T, Dh) f32. causal masks keys after the query; lengths
 * (B) s32 or NULL masks keys at positions >= lengths[b] (queries there
 * still attend to the valid keys; a sequence of length 0 gives zeros).
 * scale 0 means 1/sqrt(Dh). Neither pass materializes the T×T matrix.
 * The exact definition, forward and backward, is tg_attention_ref_forward
 * and tg_attention_ref_backward below (attention_ref.c). */
tg_tensor *tg_attention(const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, bool causal,
                        const tg_tensor *lengths, double scale);
/* tg_attention on a packed qkv (B, T, 3·heads·Dh) (q, k, v one after the
 * other along the last dim, heads inside each, as a fused qkv projection
 * writes them) giving (B, T, heads·Dh) (heads merged): the same values as
 * splitting, permuting and merging around tg_attention, without the copies.
 * lengths, causal and scale as there. Errors: TG_ERR_SHAPE, TG_ERR_DTYPE,
 * TG_ERR_INVALID. */
tg_tensor *tg_attention_qkv(const tg_tensor *qkv, int64_t heads, bool causal, const tg_tensor *lengths, double scale);
/* Options of both forms. */
typedef struct tg_attention_opts {
    /* Dtype of the tile products: TG_BF16 rounds q, k, v, the probabilities
     * and the gradients entering the products to bf16 (f32 accumulation,
     * softmax and statistics in f32; the output and gradients stay f32) on
     * CPUs with AVX-512 BF16, and computes in f32 elsewhere. Another dtype
     * than f32 or bf16: TG_ERR_DTYPE. */
    tg_dtype compute;
} tg_attention_opts;
tg_tensor *tg_attention_with(const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, bool causal,
                             const tg_tensor *lengths, double scale, const tg_attention_opts *opts);
tg_tensor *tg_attention_qkv_with(const tg_tensor *qkv, int64_t heads, bool causal, const tg_tensor *lengths,
                                 double scale, const tg_attention_opts *opts);

/* ---- attention_ref.c ---- */

/* The reference of tg_attention: the naive O(T²) loops on plain row-major
 * f32 arrays, in double inside, readable top to bottom (no autograd, no
 * threads). Shapes: q, k, v, out and their gradients (B, H, T, D); att
 * (B, H, T, T), the probabilities forward writes and backward reads. */
typedef struct tg_attention_ref_args {
    int64_t B, H, T, D;
    bool causal;            /* as tg_attention's arguments */
    const int32_t *lengths; /* (B) or NULL */
    double scale;           /* 0: 1/sqrt(D) */
} tg_attention_ref_args;
/* out = softmax(scale · q kᵀ, masked) v; att = the softmax. */
void tg_attention_ref_forward(float *out, float *att, const float *q, const float *k, const float *v,
                              const tg_attention_ref_args *a);
/* Adds (+=) the gradients of q, k, v for the output gradient dout into dq,
 * dk, dv, given the att of the forward on the same q, k, v. */
void tg_attention_ref_backward(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                               const float *k, const float *v, const tg_attention_ref_args *a);

#endif
