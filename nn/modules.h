/* nn modules: plain structs with an init, a forward, a params and a free.
 *
 * init allocates TG_PERSIST parameters (owned by the module, released by the
 * module's free, which accepts NULL members) and initializes them from `rng`;
 * params adds them to an optimizer parameter set under "<prefix>.<name>"
 * (marking them requires_grad), matrices in TG_GROUP_DECAY and vectors
 * (biases, norm weights) in TG_GROUP_NO_DECAY; forward builds step tensors on
 * the tape. Forward functions return NULL with tg_last_error() on bad input,
 * like the ops. */
#ifndef TG_NN_MODULES_H
#define TG_NN_MODULES_H

#include <stdbool.h>

#include "optim/param.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

/* Parameter groups used by params functions. */
enum { TG_GROUP_DECAY = 0, TG_GROUP_NO_DECAY = 1 };

/* Adds t to ps as "<prefix>.<name>" in `group` and marks it requires_grad. */
tg_status tg_nn_add_param(tg_param_set *ps, const char *prefix, const char *name, tg_tensor *t, int group);

/* ---- Linear: y = x Wᵀ + b ---- */

typedef struct tg_nn_linear {
    int64_t in, out;
    tg_tensor *weight; /* (out, in) */
    tg_tensor *bias;   /* (out) or NULL */
} tg_nn_linear;

/* Mixed precision for this thread: with TG_BF16, Linear layers multiply
 * bf16 copies of their input and weight (f32 accumulation and output, f32
 * gradients into the f32 master weight); TG_F32 (default) turns it off. */
void tg_nn_set_autocast(tg_dtype dt);
tg_dtype tg_nn_autocast(void);

/* Weight Normal(0, 0.02) (GPT-2 default), bias zeros. */
tg_status tg_nn_linear_init(tg_nn_linear *m, int64_t in, int64_t out, bool bias, tg_rng *rng);
tg_tensor *tg_nn_linear_forward(const tg_nn_linear *m, const tg_tensor *x);
tg_status tg_nn_linear_params(tg_nn_linear *m, tg_param_set *ps, const char *prefix);
void tg_nn_linear_free(tg_nn_linear *m);

/* ---- Embedding ---- */

typedef struct tg_nn_embedding {
    int64_t num, dim;
    tg_tensor *weight; /* (num, dim) */
} tg_nn_embedding;

/* Weight Normal(0, 0.02). */
tg_status tg_nn_embedding_init(tg_nn_embedding *m, int64_t num, int64_t dim, tg_rng *rng);
tg_tensor *tg_nn_embedding_forward(const tg_nn_embedding *m, const tg_tensor *idx);
tg_status tg_nn_embedding_params(tg_nn_embedding *m, tg_param_set *ps, const char *prefix);
void tg_nn_embedding_free(tg_nn_embedding *m);

/* ---- LayerNorm / RMSNorm (one struct; rms selects RMSNorm, no bias) ---- */

typedef struct tg_nn_norm {
    int64_t dim;
    bool rms;
    double eps;
    tg_tensor *weight; /* (dim) ones */
    tg_tensor *bias;   /* (dim) zeros; NULL for RMSNorm */
} tg_nn_norm;

tg_status tg_nn_norm_init(tg_nn_norm *m, int64_t dim, bool rms, double eps);
tg_tensor *tg_nn_norm_forward(const tg_nn_norm *m, const tg_tensor *x);
/* The same with options (NULL: f32 output). */
typedef struct tg_nn_norm_opts {
    tg_dtype out; /* output dtype as in tg_layer_norm_opts (bf16: a bf16 matmul's operand) */
} tg_nn_norm_opts;
tg_tensor *tg_nn_norm_forward_with(const tg_nn_norm *m, const tg_tensor *x, const tg_nn_norm_opts *opts);
tg_status tg_nn_norm_params(tg_nn_norm *m, tg_param_set *ps, const char *prefix);
void tg_nn_norm_free(tg_nn_norm *m);

/* ---- Dropout ---- */

/* Dropout with probability p in training mode, identity in eval mode; masks
 * come from the current context's RNG stream. */
tg_tensor *tg_nn_dropout(const tg_tensor *x, double p, bool train);

/* ---- Multi-head self-attention ---- */

typedef struct tg_nn_mha {
    int64_t dim, heads;
    tg_nn_linear qkv;  /* (3 dim, dim): q, k, v stacked, heads contiguous */
    tg_nn_linear proj; /* (dim, dim) */
} tg_nn_mha;

/* proj gets the GPT-2 residual init for a model of n_layers. */
tg_status tg_nn_mha_init(tg_nn_mha *m, int64_t dim, int64_t heads, int n_layers, tg_rng *rng);
/* x (B, T, dim) -> (B, T, dim). causal masks the future; lengths (B) s32 or
 * NULL masks padded keys. Uses the fused flash-style attention op. */
tg_tensor *tg_nn_mha_forward(const tg_nn_mha *m, const tg_tensor *x, bool causal, const tg_tensor *lengths);
tg_status tg_nn_mha_params(tg_nn_mha *m, tg_param_set *ps, const char *prefix);
void tg_nn_mha_free(tg_nn_mha *m);

/* ---- Feed-forward: GELU MLP or SwiGLU ---- */

typedef struct tg_nn_ffn {
    bool swiglu;
    tg_nn_linear fc1;  /* (hidden, dim) */
    tg_nn_linear gate; /* (hidden, dim), SwiGLU only */
    tg_nn_linear fc2;  /* (dim, hidden) */
} tg_nn_ffn;

tg_status tg_nn_ffn_init(tg_nn_ffn *m, int64_t dim, int64_t hidden, bool swiglu, int n_layers, tg_rng *rng);
/* GELU: fc2(gelu_tanh(fc1 x)); SwiGLU: fc2(silu(fc1 x) * gate x). */
tg_tensor *tg_nn_ffn_forward(const tg_nn_ffn *m, const tg_tensor *x);
tg_status tg_nn_ffn_params(tg_nn_ffn *m, tg_param_set *ps, const char *prefix);
void tg_nn_ffn_free(tg_nn_ffn *m);

/* ---- Pre-LN transformer block ---- */

typedef struct tg_nn_block {
    tg_nn_norm ln1, ln2;
    tg_nn_mha attn;
    tg_nn_ffn mlp;
    double dropout;
} tg_nn_block;

typedef struct tg_nn_block_config {
    int64_t dim, heads, hidden;
    int n_layers; /* of the whole model, for the residual init */
    bool swiglu, rms;
    double dropout, eps;
} tg_nn_block_config;

tg_status tg_nn_block_init(tg_nn_block *m, const tg_nn_block_config *c, tg_rng *rng);
/* x + drop(attn(ln1 x)), then + drop(mlp(ln2 ·)). x (B, T, dim). */
tg_tensor *tg_nn_block_forward(const tg_nn_block *m, const tg_tensor *x, bool causal, const tg_tensor *lengths,
                               bool train);
tg_status tg_nn_block_params(tg_nn_block *m, tg_param_set *ps, const char *prefix);
void tg_nn_block_free(tg_nn_block *m);

#endif
