/* A small GPT-style language model: token + learned position embeddings,
 * pre-LN transformer blocks, a final norm, and an output projection that is
 * optionally tied to the token embedding. Parameter names:
 *   wte.weight, wpe.weight, blocks.<i>.{ln1,attn.qkv,attn.proj,ln2,mlp.fc1,
 *   mlp.gate,mlp.fc2}.{weight,bias}, ln_f.{weight,bias}, lm_head.weight */
#ifndef TG_NN_GPT_H
#define TG_NN_GPT_H

#include "autograd/ops.h"
#include "nn/modules.h"

typedef struct tg_gpt_config {
    int64_t vocab, dim, heads, hidden, max_seq;
    int n_layers;
    double dropout;
    double eps;  /* norm epsilon; 0: 1e-5 */
    bool tied;   /* output projection = token embedding */
    bool swiglu; /* SwiGLU MLP instead of GELU */
    bool rms;    /* RMSNorm instead of LayerNorm */
} tg_gpt_config;

typedef struct tg_gpt {
    tg_gpt_config cfg;
    tg_nn_embedding wte, wpe;
    tg_nn_block *blocks;
    tg_nn_norm ln_f;
    tg_nn_linear lm_head; /* unused (NULL weight) when tied */
    tg_param_set *params; /* all parameters, in two groups (see modules.h) */
} tg_gpt;

/* Allocates and initializes the model (GPT-2 init) from seed; fills
 * m->params (group TG_GROUP_NO_DECAY gets no weight decay: set its
 * multiplier with tg_param_set_group). TG_ERR_INVALID names a bad config
 * field. */
tg_status tg_gpt_init(tg_gpt *m, const tg_gpt_config *cfg, uint64_t seed);

/* Frees every parameter and the list. Accepts NULL. */
void tg_gpt_free(tg_gpt *m);

/* idx (B, T) s32 -> final hidden states (B, T, dim). lengths (B) s32 or NULL
 * masks padded keys. train enables dropout. */
tg_tensor *tg_gpt_hidden(const tg_gpt *m, const tg_tensor *idx, const tg_tensor *lengths, bool train);

/* hidden (..., dim) -> logits (..., vocab). */
tg_tensor *tg_gpt_logits(const tg_gpt *m, const tg_tensor *hidden);

/* Language-model loss of idx against targets (B, T) s32 (ignore_index
 * positions skipped) with the given cross-entropy options (NULL: mean).
 * Scalar reductions fuse the output projection with the loss
 * (tg_linear_cross_entropy: the (B, T, V) logits are never materialized). */
tg_tensor *tg_gpt_loss(const tg_gpt *m, const tg_tensor *idx, const tg_tensor *targets, const tg_tensor *lengths,
                       const tg_ce_opts *ce, bool train);

#endif
