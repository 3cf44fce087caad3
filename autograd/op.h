/* The op descriptor and its one registration call.
 *
 * Every differentiable operation, built-in or user-defined, is a tg_op
 * registered with tg_op_register() and run with tg_apply(). tg_apply infers
 * the output shape, allocates the output in the step arena, runs forward and,
 * when grad mode is on and an input requires grad, records a tape node that
 * tg_backward() later hands to the op's backward. Nothing in the library
 * switches over op kinds. */
#ifndef TG_OP_H
#define TG_OP_H

#include <stdio.h>

#include "tensor/tensor.h"

/* The per-call record an op sees in forward and backward: inputs, output,
 * the attribute blob and tensors saved for backward. */
typedef struct tg_node tg_op_ctx;

enum {
    /* The output shares in[0]'s data (reshape-like views): tg_apply does not
     * allocate output data, and forward usually has nothing to do. */
    TG_OP_VIEW = 1u << 0,
    /* Backward honours tg_op_grad_fresh: a gradient buffer the op is the
     * first to reach comes unzeroed, and the op writes it instead of adding
     * (saves zero-filling and re-reading activation-sized buffers). */
    TG_OP_FRESH_GRADS = 1u << 1,
};

/* What an op may declare about its own math so that generic machinery can
 * take a shortcut instead of running its backward. Linear rows: the output
 * is out (..., O) = x (..., I) · wᵀ + bias row for row, with w (O, I) and
 * bias (O) inputs; per-sample gradient norms (autograd/dpsgd_norms.h) then
 * get w's from Gram matrices of x and dout (the ghost norm). */
typedef struct tg_op_linear_rows {
    int x, w; /* input indices of x and w */
    int bias; /* input index of the bias when the call has that many inputs; -1: none */
} tg_op_linear_rows;

typedef struct tg_op {
    const char *name; /* unique; shown in errors and the profile table */
    int n_in;         /* inputs expected; -1 for any number >= 1 */
    unsigned flags;   /* TG_OP_* */
    /* Output shape and dtype from the inputs and attributes; returns
     * TG_ERR_SHAPE / TG_ERR_DTYPE / TG_ERR_INVALID with a message on bad
     * input. */
    tg_status (*infer)(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out_shape,
                       tg_dtype *out_dtype);
    /* Computes `out` (allocated by tg_apply) and may save tensors. */
    tg_status (*forward)(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out);
    /* Adds each input's gradient into din[i] (f32, the input's shape), given
     * dout (f32, the output's shape). din[i] is NULL for inputs that need no
     * gradient. NULL backward: the op is not differentiable. */
    tg_status (*backward)(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din);
    /* Optional (NULL: nothing declared): the op is linear in its rows, as
     * tg_op_linear_rows says. */
    const tg_op_linear_rows *linear_rows;
} tg_op;

/* Registers an op (the descriptor must outlive its use; it is not copied).
 * Registering the same descriptor twice is a no-op; another descriptor with
 * a registered name gives TG_ERR_STATE. */
tg_status tg_op_register(const tg_op *op);

/* The registered op with this name, or NULL. */
const tg_op *tg_op_find(const char *name);

/* Runs a registered op on `in`; `attr` (attr_size bytes, may be NULL/0) is
 * copied into the node. Returns the output (TG_STEP lifetime) or NULL with
 * tg_last_error() set. A NULL input (from a failed earlier call) returns NULL
 * and keeps that earlier message. */
tg_tensor *tg_apply(const tg_op *op, const tg_tensor *const *in, int n_in, const void *attr, size_t attr_size);

/* ---- for op implementations ---- */

/* The descriptor being run (lets one set of functions serve several ops). */
const tg_op *tg_op_of(const tg_op_ctx *ctx);
int tg_op_n_in(const tg_op_ctx *ctx);
const tg_tensor *tg_op_input(const tg_op_ctx *ctx, int i);
const tg_tensor *tg_op_output(const tg_op_ctx *ctx);
/* The attribute blob as passed to tg_apply. */
const void *tg_op_attr(const tg_op_ctx *ctx);
/* True when a backward may follow (save what it needs only then). */
bool tg_op_recording(const tg_op_ctx *ctx);
/* Keeps a tensor for backward (up to 8 per node); no-op when not recording.
 * Tensors created for this purpose should be TG_STEP. */
tg_status tg_op_save(tg_op_ctx *ctx, const tg_tensor *t);
const tg_tensor *tg_op_saved(const tg_op_ctx *ctx, int i);
/* In backward of a TG_OP_FRESH_GRADS op: true when din[i] was created for
 * this call and holds no values yet, so backward must write (=) every one
 * of its elements instead of adding. Always false for other ops and for an
 * input passed twice to the same call. */
bool tg_op_grad_fresh(const tg_op_ctx *ctx, int i);
/* Scratch memory from the step arena (64-byte aligned, uninitialized). */
void *tg_op_scratch(tg_op_ctx *ctx, size_t bytes);

/* Called during backward for each node whose output has a gradient, right
 * before the node's backward runs: dout is then complete and may be changed
 * in place. A non-OK return stops the backward with that status. Per-sample
 * gradient norms (autograd/dpsgd_norms.h) are computed here. */
typedef tg_status (*tg_node_grad_fn)(void *user, tg_op_ctx *node, tg_tensor *dout);

/* Sets this thread's node hook (NULL: none); returns the previous one
 * through prev_fn and prev_user when not NULL. */
void tg_backward_set_node_hook(tg_node_grad_fn fn, void *user, tg_node_grad_fn *prev_fn, void **prev_user);

/* ---- profiling ---- */

/* Enables per-op timing (also enabled by the environment TG_PROFILE=1). */
void tg_profile_enable(bool on);
/* Prints per-op forward/backward calls and milliseconds, slowest first. */
void tg_profile_print(FILE *f);
/* Zeroes the counters. */
void tg_profile_reset(void);

#endif
