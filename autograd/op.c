#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/node.h"
#include "tensor/ctx.h"

#define MAX_OPS 256

typedef struct op_stats {
    long long fwd_ns, bwd_ns;
    long long fwd_calls, bwd_calls;
} op_stats;

static const tg_op *registry[MAX_OPS];
static op_stats stats[MAX_OPS];
static int n_ops;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static int profile_state = -1; /* -1: not read from the environment yet */

/* ---- registry ---- */

tg_status tg_op_register(const tg_op *op)
{
    if (!op || !op->name || !op->infer || !op->forward)
        return tg_error(TG_ERR_INVALID, "tg_op_register: op needs a name, infer and forward");
    pthread_mutex_lock(&registry_lock);
    tg_status st = TG_OK;
    for (int i = 0; i < n_ops; i++) {
        if (registry[i] == op) goto out;
        if (!strcmp(registry[i]->name, op->name)) {
            st = tg_error(TG_ERR_STATE, "tg_op_register: another op is already named '%s'", op->name);
            goto out;
        }
    }
    if (n_ops == MAX_OPS) {
        st = tg_error(TG_ERR_OOM, "tg_op_register: registry full (%d ops)", MAX_OPS);
        goto out;
    }
    registry[n_ops++] = op;
out:
    pthread_mutex_unlock(&registry_lock);
    return st;
}

int tg_op_id(const tg_op *op)
{
    for (int i = 0; i < n_ops; i++)
        if (registry[i] == op) return i;
    return -1;
}

const tg_op *tg_op_find(const char *name)
{
    tg_builtin_ops_init();
    for (int i = 0; i < n_ops; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

/* ---- apply ---- */

static bool wants_grad(const tg_op *op, const tg_tensor *const *in, int n_in)
{
    if (!op->backward || !tg_grad_enabled()) return false;
    for (int i = 0; i < n_in; i++)
        if (in[i]->requires_grad) return true;
    return false;
}

static tg_tensor *alloc_output(const tg_op *op, const tg_tensor *in0, tg_shape shape, tg_dtype dt)
{
    if (op->flags & TG_OP_VIEW) return tg_tensor_view(TG_STEP, in0, shape);
    return tg_tensor_empty(TG_STEP, shape, dt);
}

tg_tensor *tg_apply(const tg_op *op, const tg_tensor *const *in, int n_in, const void *attr, size_t attr_size)
{
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return NULL; /* an earlier call failed; keep its message */
    tg_builtin_ops_init();
    int id = tg_op_id(op);
    if (id < 0) {
        tg_error(TG_ERR_STATE, "tg_apply: op '%s' is not registered (call tg_op_register)",
                 op && op->name ? op->name : "?");
        return NULL;
    }
    if ((op->n_in >= 0 && n_in != op->n_in) || n_in < 1) {
        tg_error(TG_ERR_INVALID, "%s: expects %d inputs, got %d", op->name, op->n_in, n_in);
        return NULL;
    }
    tg_shape shape;
    tg_dtype dt = in[0]->dtype;
    if (op->infer(in, n_in, attr, &shape, &dt) != TG_OK) return NULL;
    tg_tensor *out = alloc_output(op, in[0], shape, dt);
    if (!out) return NULL;

    bool rec = wants_grad(op, in, n_in);
    tg_arena *arena = tg_ctx_arena(tg_ctx_current());
    struct tg_node local, *node = &local;
    if (rec) {
        node = tg_arena_calloc(arena, sizeof *node);
        const tg_tensor **ins = tg_arena_alloc(arena, sizeof *ins * (size_t)n_in);
        void *attr_copy = attr_size ? tg_arena_alloc(arena, attr_size) : NULL;
        if (!node || !ins || (attr_size && !attr_copy)) return NULL;
        memcpy(ins, in, sizeof *ins * (size_t)n_in);
        if (attr_size) memcpy(attr_copy, attr, attr_size);
        *node = (struct tg_node){.in = ins, .attr = attr_size ? attr_copy : NULL};
    } else {
        local = (struct tg_node){.in = (const tg_tensor **)in, .attr = attr};
    }
    node->op = op;
    node->op_id = id;
    node->n_in = n_in;
    node->out = out;
    node->recording = rec;

    long long t0 = tg_profile_on() ? tg_now_ns() : 0;
    if (op->forward(node, in, n_in, node->attr, out) != TG_OK) return NULL;
    if (t0) tg_profile_add(id, false, tg_now_ns() - t0);

    if (rec) {
        out->requires_grad = true;
        out->node = node;
        if (tg_tape_push(node) != TG_OK) return NULL;
    }
    return out;
}

/* ---- op context accessors ---- */

const tg_op *tg_op_of(const tg_op_ctx *ctx) { return ctx->op; }
int tg_op_n_in(const tg_op_ctx *ctx) { return ctx->n_in; }
bool tg_op_grad_fresh(const tg_op_ctx *ctx, int i) { return i >= 0 && i < 32 && (ctx->fresh >> i & 1u); }
const tg_tensor *tg_op_input(const tg_op_ctx *ctx, int i) { return ctx->in[i]; }
const tg_tensor *tg_op_output(const tg_op_ctx *ctx) { return ctx->out; }
const void *tg_op_attr(const tg_op_ctx *ctx) { return ctx->attr; }
bool tg_op_recording(const tg_op_ctx *ctx) { return ctx->recording; }

tg_status tg_op_save(tg_op_ctx *ctx, const tg_tensor *t)
{
    if (!ctx->recording) return TG_OK;
    if (!t) return tg_error(TG_ERR_INVALID, "%s: saving a NULL tensor", ctx->op->name);
    TG_ASSERT(ctx->n_saved < TG_MAX_SAVED, "an op saved more than 8 tensors");
    ctx->saved[ctx->n_saved++] = t;
    return TG_OK;
}

const tg_tensor *tg_op_saved(const tg_op_ctx *ctx, int i)
{
    TG_ASSERT(i >= 0 && i < ctx->n_saved, "tg_op_saved: index past the saved tensors");
    return ctx->saved[i];
}

void *tg_op_scratch(tg_op_ctx *ctx, size_t bytes)
{
    (void)ctx;
    return tg_arena_alloc(tg_ctx_arena(tg_ctx_current()), bytes);
}

/* ---- profiling ---- */

long long tg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool tg_profile_on(void)
{
    if (profile_state < 0) {
        const char *e = getenv("TG_PROFILE");
        profile_state = e && *e && strcmp(e, "0") != 0;
    }
    return profile_state == 1;
}

void tg_profile_enable(bool on) { profile_state = on; }

void tg_profile_add(int op_id, bool bwd, long long ns)
{
    if (bwd) {
        stats[op_id].bwd_ns += ns;
        stats[op_id].bwd_calls++;
    } else {
        stats[op_id].fwd_ns += ns;
        stats[op_id].fwd_calls++;
    }
}

void tg_profile_reset(void) { memset(stats, 0, sizeof stats); }

static int by_total_desc(const void *a, const void *b)
{
    const op_stats *x = &stats[*(const int *)a], *y = &stats[*(const int *)b];
    long long tx = x->fwd_ns + x->bwd_ns, ty = y->fwd_ns + y->bwd_ns;
    return (tx < ty) - (tx > ty);
}

void tg_profile_print(FILE *f)
{
    int order[MAX_OPS];
    long long total = 0;
    for (int i = 0; i < n_ops; i++) {
        order[i] = i;
        total += stats[i].fwd_ns + stats[i].bwd_ns;
    }
    qsort(order, (size_t)n_ops, sizeof order[0], by_total_desc);
    fprintf(f, "%-22s %9s %11s %9s %11s %6s\n", "op", "fwd_calls", "fwd_ms", "bwd_calls", "bwd_ms", "share");
    for (int k = 0; k < n_ops; k++) {
        const op_stats *s = &stats[order[k]];
        if (!s->fwd_calls && !s->bwd_calls) continue;
        fprintf(f, "%-22s %9lld %11.3f %9lld %11.3f %5.1f%%\n", registry[order[k]]->name, s->fwd_calls, s->fwd_ns / 1e6,
                s->bwd_calls, s->bwd_ns / 1e6, total ? 100.0 * (double)(s->fwd_ns + s->bwd_ns) / (double)total : 0.0);
    }
}
