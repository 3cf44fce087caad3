/* Reverse-mode autodiff over a Wengert list (the tape).
 *
 * While grad mode is on, every op with an input that requires grad appends a
 * node to the current context's tape. tg_backward() walks the tape in
 * reverse from the loss, skips nodes the loss does not depend on, and adds
 * (+=) gradients into every tensor that requires grad. Nodes live in the step
 * arena: tg_step_end() frees them with all activations. */
#ifndef TG_AUTOGRAD_H
#define TG_AUTOGRAD_H

#include <stdbool.h>

#include "autograd/op.h"
#include "tensor/arena.h"
#include "tensor/tensor.h"

/* Turns recording on or off for this thread; returns the previous mode. */
bool tg_grad_set_enabled(bool on);
bool tg_grad_enabled(void);

/* Backward from a one-element loss with seed gradient 1. Frees the graph
 * (a second backward over it gives TG_ERR_STATE). Errors: TG_ERR_SHAPE for a
 * loss with more than one element, TG_ERR_STATE when the graph was released
 * or the loss does not require grad. */
tg_status tg_backward(tg_tensor *loss);

typedef struct tg_backward_opts {
    /* The gradient of out to start from, of out's shape; NULL: 1, allowed
     * only for one-element outputs. */
    const tg_tensor *seed;
    bool retain_graph; /* keep the graph for another backward */
} tg_backward_opts;

/* Backward from any output with options (NULL: tg_backward's defaults).
 * Errors as tg_backward, plus TG_ERR_SHAPE for a seed of another shape. */
tg_status tg_backward_with(tg_tensor *out, const tg_backward_opts *opts);

/* Called during backward once a leaf's gradient is final: right after the
 * earliest tape node that reads the leaf has run (or was skipped), so no
 * later part of this backward adds to it. Leaves no node reads are not
 * reported. Data-parallel training starts the gradient all-reduce here. */
typedef void (*tg_leaf_grad_fn)(void *user, tg_tensor *leaf);

/* Sets this thread's leaf hook (NULL: none) for the backwards that follow;
 * returns the previous one through prev_fn and prev_user when not NULL. */
void tg_backward_set_leaf_hook(tg_leaf_grad_fn fn, void *user, tg_leaf_grad_fn *prev_fn, void **prev_user);

/* Zeroes a tensor's accumulated gradient (no-op when it has none). */
void tg_zero_grad(tg_tensor *t);

/* A step-lifetime view of t's data with no history and no requires_grad. */
tg_tensor *tg_detach(const tg_tensor *t);

/* Ends a step: drops the tape and resets the current context's arena. Every
 * TG_STEP tensor becomes invalid; persistent tensors and grads stay. */
void tg_step_end(void);

/* Number of nodes on the current tape (for tests and debugging). */
size_t tg_tape_size(void);

/* Position of both the arena and the tape, to drop everything created after
 * it (gradcheck uses this between evaluations). */
typedef struct tg_mark {
    tg_arena_mark arena;
    size_t tape_len;
} tg_mark;
tg_mark tg_mark_get(void);
void tg_mark_rewind(tg_mark m);

#endif
