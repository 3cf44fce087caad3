#include <stdlib.h>
#include <string.h>

#include "autograd/node.h"
#include "tensor/ctx.h"

/* The tape of one context: a growable heap array of arena-held nodes. The
 * array is reused across steps; the nodes die with the arena. */
typedef struct tape {
    struct tg_node **nodes;
    size_t n, cap;
    uint64_t arena_gen; /* arena generation the nodes belong to */
} tape;

static _Thread_local bool grad_on = true;

bool tg_grad_set_enabled(bool on)
{
    bool prev = grad_on;
    grad_on = on;
    return prev;
}

bool tg_grad_enabled(void) { return grad_on; }

static void tape_destroy(void *p)
{
    tape *t = p;
    if (t) free(t->nodes);
    free(t);
}

/* The current context's tape, emptied if the arena was reset behind it. */
static tape *current_tape(void)
{
    tg_ctx *ctx = tg_ctx_current();
    tape *t = tg_ctx_ext(ctx);
    if (!t) {
        t = calloc(1, sizeof *t);
        TG_ASSERT(t != NULL, "out of memory creating the tape");
        tg_ctx_set_ext(ctx, t, tape_destroy);
    }
    uint64_t gen = tg_arena_generation(tg_ctx_arena(ctx));
    if (t->arena_gen != gen) {
        t->n = 0;
        t->arena_gen = gen;
    }
    return t;
}

tg_status tg_tape_push(struct tg_node *n)
{
    tape *t = current_tape();
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct tg_node **p = realloc(t->nodes, cap * sizeof *p);
        if (!p) return tg_error(TG_ERR_OOM, "tape: cannot grow to %zu nodes", cap);
        t->nodes = p;
        t->cap = cap;
    }
    n->index = t->n;
    t->nodes[t->n++] = n;
    return TG_OK;
}

size_t tg_tape_size(void) { return current_tape()->n; }

static tg_status seed_grad(tg_tensor *out, const tg_tensor *seed)
{
    tg_tensor *g = tg_tensor_grad_or_zeros(out);
    if (!g) return TG_ERR_OOM;
    float *dg = tg_f32(g);
    if (!seed) {
        dg[0] += 1.0f;
        return TG_OK;
    }
    const int64_t n = out->numel;
    if (seed->dtype == TG_F32) {
        const float *s = seed->data;
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; i++) dg[i] += s[i];
    } else {
        for (int64_t i = 0; i < n; i++) dg[i] += (float)tg_tensor_get(seed, i);
    }
    return TG_OK;
}

static tg_status check_backward_args(const tg_tensor *out, const tg_tensor *seed)
{
    char a[96], b[96];
    if (!out) return tg_error(TG_ERR_INVALID, "tg_backward: NULL output");
    if (!out->requires_grad)
        return tg_error(TG_ERR_STATE, "tg_backward: output does not require grad (no input "
                                      "needed a gradient, or it was computed in no-grad mode)");
    if (!seed && out->numel != 1)
        return tg_error(TG_ERR_SHAPE,
                        "tg_backward: output %s is not a scalar; pass a seed "
                        "gradient to tg_backward_with",
                        tg_shape_str(&out->shape, a, sizeof a));
    if (seed && !tg_shape_equal(&seed->shape, &out->shape))
        return tg_error(TG_ERR_SHAPE, "tg_backward: seed shape %s differs from output %s",
                        tg_shape_str(&seed->shape, a, sizeof a), tg_shape_str(&out->shape, b, sizeof b));
    if (out->node && out->node->released)
        return tg_error(TG_ERR_STATE, "tg_backward: the graph was released by an earlier "
                                      "backward; pass retain_graph to tg_backward_with");
    return TG_OK;
}

/* Whether input j of node may get an unzeroed fresh gradient: the op
 * writes fresh gradients, x is a per-step value (a parameter's gradient is
 * fresh only on the first step, and the ops' primitives should not depend
 * on the step) with no gradient yet, and x is not another input too. */
static bool may_be_fresh(const struct tg_node *node, int j)
{
    const tg_tensor *x = node->in[j];
    if (!(node->op->flags & TG_OP_FRESH_GRADS) || j >= 32 || x->grad || x->life != TG_STEP) return false;
    for (int k = 0; k < node->n_in; k++)
        if (k != j && node->in[k] == x) return false;
    return true;
}

static tg_status run_node(struct tg_node *node)
{
    tg_tensor *din[node->n_in > 0 ? node->n_in : 1];
    bool any = false;
    node->fresh = 0;
    for (int j = 0; j < node->n_in; j++) {
        tg_tensor *x = (tg_tensor *)node->in[j];
        if (x->requires_grad && may_be_fresh(node, j)) {
            if (!(x->grad = tg_tensor_empty(x->life, x->shape, TG_F32))) return TG_ERR_OOM;
            node->fresh |= 1u << j;
        }
        din[j] = x->requires_grad ? tg_tensor_grad_or_zeros(x) : NULL;
        if (x->requires_grad && !din[j]) return TG_ERR_OOM;
        any |= din[j] != NULL;
    }
    if (!any) return TG_OK;
    long long t0 = tg_profile_on() ? tg_now_ns() : 0;
    tg_status st = node->op->backward(node, node->out->grad, din);
    node->fresh = 0;
    if (t0) tg_profile_add(node->op_id, true, tg_now_ns() - t0);
    return st;
}

/* ---- node hook: sees each node's finished output gradient ---- */

static _Thread_local tg_node_grad_fn node_hook;
static _Thread_local void *node_hook_user;

void tg_backward_set_node_hook(tg_node_grad_fn fn, void *user, tg_node_grad_fn *prev_fn, void **prev_user)
{
    if (prev_fn) *prev_fn = node_hook;
    if (prev_user) *prev_user = node_hook_user;
    node_hook = fn;
    node_hook_user = user;
}

struct tg_node *const *tg_tape_nodes(size_t *n)
{
    tape *t = current_tape();
    *n = t->n;
    return t->nodes;
}

/* ---- leaf hook: report each leaf's gradient once it is final ---- */

static _Thread_local tg_leaf_grad_fn leaf_hook;
static _Thread_local void *leaf_hook_user;

void tg_backward_set_leaf_hook(tg_leaf_grad_fn fn, void *user, tg_leaf_grad_fn *prev_fn, void **prev_user)
{
    if (prev_fn) *prev_fn = leaf_hook;
    if (prev_user) *prev_user = leaf_hook_user;
    leaf_hook = fn;
    leaf_hook_user = user;
}

typedef struct leaf_use {
    const tg_tensor *leaf;
    size_t first; /* earliest node reading the leaf */
} leaf_use;

static int by_leaf_then_index(const void *a, const void *b)
{
    const leaf_use *x = a, *y = b;
    if (x->leaf != y->leaf) return (uintptr_t)x->leaf < (uintptr_t)y->leaf ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

static int by_index(const void *a, const void *b)
{
    const leaf_use *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

/* The leaves that need a gradient among the inputs of nodes[0..last], each
 * with its earliest reader, sorted by that node (malloc'd, *n entries). */
static tg_status leaf_first_uses(const tape *t, size_t last, leaf_use **out, size_t *n)
{
    size_t cap = 0, k = 0;
    for (size_t i = 0; i <= last; i++) cap += (size_t)t->nodes[i]->n_in;
    leaf_use *u = malloc((cap ? cap : 1) * sizeof *u);
    if (!u) return tg_error(TG_ERR_OOM, "tg_backward: out of memory for %zu leaf uses", cap);
    for (size_t i = 0; i <= last; i++)
        for (int j = 0; j < t->nodes[i]->n_in; j++) {
            const tg_tensor *x = t->nodes[i]->in[j];
            if (!x->node && x->requires_grad) u[k++] = (leaf_use){x, i};
        }
    qsort(u, k, sizeof *u, by_leaf_then_index);
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (m == 0 || u[m - 1].leaf != u[i].leaf) u[m++] = u[i];
    qsort(u, m, sizeof *u, by_index);
    *out = u;
    *n = m;
    return TG_OK;
}

tg_status tg_backward_with(tg_tensor *out, const tg_backward_opts *opts)
{
    const tg_backward_opts o = opts ? *opts : (tg_backward_opts){0};
    const tg_tensor *seed = o.seed;
    TG_TRY(check_backward_args(out, seed));
    if (!out->node) return seed_grad(out, seed); /* a leaf: d out / d out = seed */
    tape *t = current_tape();
    size_t last = out->node->index;
    TG_ASSERT(last < t->n && t->nodes[last] == out->node, "output's node is not on the tape");

    /* Gradients of intermediate values start from zero on every backward. */
    for (size_t i = 0; i <= last; i++) t->nodes[i]->out->grad = NULL;
    TG_TRY(seed_grad(out, seed));
    leaf_use *uses = NULL;
    size_t n_uses = 0;
    if (leaf_hook) TG_TRY(leaf_first_uses(t, last, &uses, &n_uses));
    for (size_t i = last + 1; i-- > 0;) {
        struct tg_node *node = t->nodes[i];
        tg_status st = TG_OK;
        if (node->out->grad) { /* no grad: the loss does not depend on it */
            if (node_hook) st = node_hook(node_hook_user, node, node->out->grad);
            if (st == TG_OK) st = run_node(node);
        }
        if (st != TG_OK) {
            free(uses);
            return st;
        }
        for (; n_uses > 0 && uses[n_uses - 1].first == i; n_uses--)
            leaf_hook(leaf_hook_user, (tg_tensor *)uses[n_uses - 1].leaf);
    }
    free(uses);
    if (!o.retain_graph) {
        for (size_t i = 0; i < t->n; i++) t->nodes[i]->released = true;
        t->n = 0;
    }
    return TG_OK;
}

tg_status tg_backward(tg_tensor *loss) { return tg_backward_with(loss, NULL); }

void tg_zero_grad(tg_tensor *t)
{
    if (t && t->grad) memset(t->grad->data, 0, tg_tensor_nbytes(t->grad));
}

tg_tensor *tg_detach(const tg_tensor *t)
{
    if (!t) return NULL;
    return tg_tensor_view(TG_STEP, t, t->shape);
}

void tg_step_end(void)
{
    tape *t = current_tape();
    tg_arena *a = tg_ctx_arena(tg_ctx_current());
    tg_arena_reset(a);
    t->n = 0;
    t->arena_gen = tg_arena_generation(a);
}

tg_mark tg_mark_get(void)
{
    tape *t = current_tape();
    return (tg_mark){.arena = tg_arena_get_mark(tg_ctx_arena(tg_ctx_current())), .tape_len = t->n};
}

void tg_mark_rewind(tg_mark m)
{
    tape *t = current_tape();
    tg_arena *a = tg_ctx_arena(tg_ctx_current());
    tg_arena_rewind(a, m.arena);
    if (m.tape_len < t->n) t->n = m.tape_len;
    t->arena_gen = tg_arena_generation(a);
}
