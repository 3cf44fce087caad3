/* tg_parallel_*: backend choice, typed collectives, parameter and optimizer
 * broadcast, and the bucketed gradient reducer driven by the tape's leaf
 * hook. */
#include "parallel/parallel.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/autograd.h"
#include "parallel/parallel_backend.h"
#include "tensor/tensor.h"

static const tg_parallel_backend *be = &tg_parallel_local_backend;
static bool started;

tg_status tg_parallel_init(int *argc, char ***argv)
{
    if (started) return TG_OK;
    const char *force = getenv("TG_DIST");
    if (force && strcmp(force, "local") && strcmp(force, "mpi"))
        return tg_error(TG_ERR_INVALID, "tg_parallel_init: TG_DIST=%s (expected local or mpi)", force);
#ifdef TG_PARALLEL_MPI
    if (!force || !strcmp(force, "mpi")) {
        const tg_parallel_backend *mpi = NULL;
        TG_TRY(tg_parallel_mpi_start(argc, argv, &mpi));
        if (mpi) be = mpi;
    }
#else
    (void)argc, (void)argv;
#endif
    if (force && !strcmp(force, "mpi") && be == &tg_parallel_local_backend)
        return tg_error(TG_ERR_BACKEND, "tg_parallel_init: TG_DIST=mpi but %s",
                        tg_parallel_mpi_built() ? "this process was not started by an MPI launcher (mpirun)"
                                                : "the library was built without MPI (TG_MPI=OFF)");
    started = true;
    return TG_OK;
}

void tg_parallel_finalize(void)
{
    be->finalize();
    be = &tg_parallel_local_backend;
    started = false;
}

void tg_parallel_abort(int code) { be->abort(code); }

int tg_parallel_rank(void) { return be->rank; }
int tg_parallel_size(void) { return be->size; }
bool tg_parallel_owns(int64_t k) { return k % be->size == be->rank; }
const char *tg_parallel_backend_name(void) { return be->name; }

bool tg_parallel_mpi_built(void)
{
#ifdef TG_PARALLEL_MPI
    return true;
#else
    return false;
#endif
}

static tg_status check_count(const char *fn, const void *buf, int64_t n)
{
    if (n < 0 || (n > 0 && !buf)) return tg_error(TG_ERR_INVALID, "%s: %lld elements at %p", fn, (long long)n, buf);
    return TG_OK;
}

tg_status tg_parallel_allreduce_f32(float *buf, int64_t n, tg_parallel_op op)
{
    TG_TRY(check_count("tg_parallel_allreduce_f32", buf, n));
    TG_TRY(be->allreduce(buf, n, TG_PARALLEL_F32, op));
    if (op == TG_PARALLEL_MEAN && be->size > 1)
        for (int64_t i = 0; i < n; i++) buf[i] /= (float)be->size;
    return TG_OK;
}

tg_status tg_parallel_allreduce_f64(double *buf, int64_t n, tg_parallel_op op)
{
    TG_TRY(check_count("tg_parallel_allreduce_f64", buf, n));
    TG_TRY(be->allreduce(buf, n, TG_PARALLEL_F64, op));
    if (op == TG_PARALLEL_MEAN && be->size > 1)
        for (int64_t i = 0; i < n; i++) buf[i] /= (double)be->size;
    return TG_OK;
}

tg_status tg_parallel_allreduce_i64(int64_t *buf, int64_t n, tg_parallel_op op)
{
    TG_TRY(check_count("tg_parallel_allreduce_i64", buf, n));
    if (op == TG_PARALLEL_MEAN) return tg_error(TG_ERR_INVALID, "tg_parallel_allreduce_i64: MEAN of integers");
    return be->allreduce(buf, n, TG_PARALLEL_I64, op);
}

tg_status tg_parallel_any(bool local, bool *any)
{
    int64_t v = local;
    TG_TRY(be->allreduce(&v, 1, TG_PARALLEL_I64, TG_PARALLEL_MAX));
    *any = v != 0;
    return TG_OK;
}

tg_status tg_parallel_broadcast(void *buf, size_t bytes, int root)
{
    if (bytes > 0 && !buf) return tg_error(TG_ERR_INVALID, "tg_parallel_broadcast: NULL buffer of %zu bytes", bytes);
    return be->broadcast(buf, bytes, root);
}

tg_status tg_parallel_barrier(void) { return be->barrier(); }

tg_status tg_parallel_broadcast_params(tg_param_set *ps)
{
    if (!ps) return tg_error(TG_ERR_INVALID, "tg_parallel_broadcast_params: NULL parameter set");
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        tg_tensor *w = tg_param_set_value(ps, i);
        TG_TRY(be->broadcast(tg_tensor_data(w), tg_tensor_nbytes(w), 0));
    }
    return TG_OK;
}

tg_status tg_parallel_broadcast_optim(tg_optim *opt)
{
    if (!opt) return tg_error(TG_ERR_INVALID, "tg_parallel_broadcast_optim: NULL optimizer");
    tg_param_set *ps = tg_optim_params(opt);
    const int n = tg_param_set_count(ps), slots = tg_optim_num_states(opt);
    int64_t *steps = malloc(sizeof *steps * (size_t)(n + 1));
    if (!steps) return tg_error(TG_ERR_OOM, "tg_parallel_broadcast_optim: out of memory");
    steps[n] = tg_optim_step_count(opt);
    for (int i = 0; i < n; i++) steps[i] = tg_optim_param_steps(opt, i);
    tg_status st = be->broadcast(steps, sizeof *steps * (size_t)(n + 1), 0);
    if (st == TG_OK) st = tg_optim_set_step_count(opt, steps[n]);
    for (int i = 0; st == TG_OK && i < n; i++) st = tg_optim_set_param_steps(opt, i, steps[i]);
    free(steps);
    for (int i = 0; st == TG_OK && i < n; i++)
        for (int s = 0; st == TG_OK && s < slots; s++) {
            tg_tensor *t = tg_optim_state(opt, i, s);
            st = be->broadcast(tg_tensor_data(t), tg_tensor_nbytes(t), 0);
        }
    return st;
}

/* ---- the bucketed reducer ---- */

typedef struct bucket {
    int first, last; /* parameters first..last (descending order: first > last) */
    int64_t numel;   /* gradient elements, then one has-gradient flag per parameter */
    void *buf;       /* numel + (first - last + 1) elements (float or double),
                         zero between steps; holds accumulated micro-batches */
    int pending;     /* parameters not yet final in this backward */
    bool started;
    void *req;
} bucket;

typedef struct leaf_index {
    const tg_tensor *leaf;
    int param;
} leaf_index;

struct tg_parallel_reducer {
    tg_param_set *ps;
    bool f64; /* buckets hold and send doubles */
    bool fed; /* tg_parallel_reducer_accumulate ran this step */
    int n_params, n_buckets;
    int *bucket_of;    /* parameter -> bucket */
    int64_t *offset;   /* parameter -> offset in its bucket's buf */
    bool *final;       /* parameter reported final in this round */
    bool *had_grad;    /* parameter had a gradient at an accumulate this step */
    leaf_index *index; /* sorted by leaf, for the hook */
    bucket *buckets;   /* in the order backward completes them */
    int next;          /* buckets start in index order on every rank (MPI
                           matches collectives by order): the next to start */
    bool armed;
    tg_leaf_grad_fn prev_fn;
    void *prev_user;
    tg_parallel_reducer_stats stats;
};

static int by_leaf(const void *a, const void *b)
{
    const leaf_index *x = a, *y = b;
    return x->leaf == y->leaf ? 0 : (uintptr_t)x->leaf < (uintptr_t)y->leaf ? -1 : 1;
}

void tg_parallel_reducer_destroy(tg_parallel_reducer *r)
{
    if (!r) return;
    if (r->armed) tg_backward_set_leaf_hook(r->prev_fn, r->prev_user, NULL, NULL); /* an error cut the step short */
    for (int b = 0; b < r->n_buckets; b++) free(r->buckets[b].buf);
    free(r->buckets);
    free(r->bucket_of);
    free(r->offset);
    free(r->final);
    free(r->had_grad);
    free(r->index);
    free(r);
}

static int64_t bucket_len(const bucket *b) { return b->numel + b->first - b->last + 1; }

/* Packs parameters from the last to the first into buckets of about `cap`
 * bytes: backward finishes the last layers first. */
static tg_status plan_buckets(tg_parallel_reducer *r, size_t cap)
{
    const size_t elem = r->f64 ? sizeof(double) : sizeof(float);
    r->buckets = calloc((size_t)(r->n_params ? r->n_params : 1), sizeof *r->buckets);
    if (!r->buckets) return TG_ERR_OOM;
    for (int i = r->n_params - 1; i >= 0; i--) {
        int64_t numel = tg_tensor_numel(tg_param_set_value(r->ps, i));
        bucket *b = r->n_buckets ? &r->buckets[r->n_buckets - 1] : NULL;
        if (!b || (size_t)(b->numel + numel) * elem > cap) {
            b = &r->buckets[r->n_buckets++];
            b->first = i;
        }
        b->last = i;
        r->bucket_of[i] = r->n_buckets - 1;
        r->offset[i] = b->numel;
        b->numel += numel;
    }
    for (int k = 0; k < r->n_buckets; k++) r->stats.bytes += (int64_t)elem * bucket_len(&r->buckets[k]);
    r->stats.buckets = r->n_buckets;
    return TG_OK;
}

tg_parallel_reducer *tg_parallel_reducer_create(tg_param_set *ps, size_t bucket_bytes, bool f64)
{
    if (!ps) {
        tg_error(TG_ERR_INVALID, "tg_parallel_reducer_create: NULL parameter set");
        return NULL;
    }
    tg_parallel_reducer *r = calloc(1, sizeof *r);
    const int n = tg_param_set_count(ps);
    const size_t n1 = (size_t)(n ? n : 1);
    if (r) {
        r->ps = ps;
        r->f64 = f64;
        r->n_params = n;
        r->bucket_of = malloc(sizeof *r->bucket_of * n1);
        r->offset = malloc(sizeof *r->offset * n1);
        r->final = calloc(n1, sizeof *r->final);
        r->had_grad = calloc(n1, sizeof *r->had_grad);
        r->index = malloc(sizeof *r->index * n1);
    }
    if (!r || !r->bucket_of || !r->offset || !r->final || !r->had_grad || !r->index ||
        plan_buckets(r, bucket_bytes ? bucket_bytes : (size_t)4 << 20) != TG_OK) {
        tg_parallel_reducer_destroy(r);
        tg_error(TG_ERR_OOM, "tg_parallel_reducer_create: out of memory for %d parameters", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) r->index[i] = (leaf_index){tg_param_set_value(ps, i), i};
    qsort(r->index, (size_t)n, sizeof *r->index, by_leaf);
    return r;
}

/* The bucket's buffer, zero-filled on first use. */
static tg_status bucket_buf(const tg_parallel_reducer *r, bucket *b)
{
    if (!b->buf && !(b->buf = calloc((size_t)bucket_len(b), r->f64 ? sizeof(double) : sizeof(float))))
        return tg_error(TG_ERR_OOM, "tg_parallel_reducer: out of memory for a bucket of %lld elements",
                        (long long)bucket_len(b));
    return TG_OK;
}

/* buf[off..] += g (n elements), in the bucket's precision. */
static void add_into(const tg_parallel_reducer *r, void *buf, int64_t off, const float *g, int64_t n)
{
    if (r->f64) {
        double *d = (double *)buf + off;
        for (int64_t j = 0; j < n; j++) d[j] += (double)g[j];
    } else {
        float *d = (float *)buf + off;
        for (int64_t j = 0; j < n; j++) d[j] += g[j];
    }
}

static void set_elem(const tg_parallel_reducer *r, void *buf, int64_t i, double v)
{
    if (r->f64)
        ((double *)buf)[i] = v;
    else
        ((float *)buf)[i] = (float)v;
}

static double get_elem(const tg_parallel_reducer *r, const void *buf, int64_t i)
{
    return r->f64 ? ((const double *)buf)[i] : (double)((const float *)buf)[i];
}

tg_status tg_parallel_reducer_accumulate(tg_parallel_reducer *r)
{
    if (!r) return tg_error(TG_ERR_INVALID, "tg_parallel_reducer_accumulate: NULL reducer");
    if (r->armed) return tg_error(TG_ERR_STATE, "tg_parallel_reducer_accumulate: armed (finish the step first)");
    for (int i = 0; i < r->n_params; i++) {
        tg_tensor *g = tg_param_set_grad(r->ps, i);
        if (!g) continue;
        bucket *b = &r->buckets[r->bucket_of[i]];
        TG_TRY(bucket_buf(r, b));
        add_into(r, b->buf, r->offset[i], tg_f32(g), tg_tensor_numel(g));
        memset(tg_f32(g), 0, tg_tensor_nbytes(g));
        r->had_grad[i] = true;
    }
    r->fed = true;
    return TG_OK;
}

/* Adds the bucket's gradients to what accumulate left in its buffer, sets
 * the has-gradient flags and starts the sum. */
static tg_status start_bucket(tg_parallel_reducer *r, bucket *b)
{
    b->started = true;
    b->req = NULL;
    if (be->size == 1 && !r->fed) return TG_OK; /* the local gradients are the sums */
    TG_TRY(bucket_buf(r, b));
    for (int i = b->first; i >= b->last; i--) {
        tg_tensor *g = tg_param_set_grad(r->ps, i);
        if (g) add_into(r, b->buf, r->offset[i], tg_f32(g), tg_tensor_numel(g));
        set_elem(r, b->buf, b->numel + b->first - i, g || r->had_grad[i] ? 1.0 : 0.0);
    }
    if (be->size == 1) return TG_OK;
    return be->isum(b->buf, bucket_len(b), r->f64 ? TG_PARALLEL_F64 : TG_PARALLEL_F32, &b->req);
}

/* Lets started transfers move on (MPI progresses inside MPI calls). */
static tg_status progress(tg_parallel_reducer *r)
{
    for (int k = 0; k < r->next; k++) {
        bucket *b = &r->buckets[k];
        if (!b->req) continue;
        bool done;
        TG_TRY(be->test(b->req, &done));
        if (done) b->req = NULL;
    }
    return TG_OK;
}

static tg_status hook_status = TG_OK; /* first error inside the hook, reported by finish */

static void on_leaf_final(void *user, tg_tensor *leaf)
{
    tg_parallel_reducer *r = user;
    leaf_index key = {leaf, 0}, *hit = bsearch(&key, r->index, (size_t)r->n_params, sizeof key, by_leaf);
    if (!hit || r->final[hit->param] || hook_status != TG_OK) return;
    r->final[hit->param] = true;
    r->buckets[r->bucket_of[hit->param]].pending--;
    while (hook_status == TG_OK && r->next < r->n_buckets && r->buckets[r->next].pending == 0) {
        hook_status = start_bucket(r, &r->buckets[r->next++]);
        if (hook_status == TG_OK) r->stats.started_in_backward++;
    }
    if (hook_status == TG_OK) hook_status = progress(r);
}

static void reset_round(tg_parallel_reducer *r)
{
    for (int k = 0; k < r->n_buckets; k++) {
        bucket *b = &r->buckets[k];
        b->pending = b->first - b->last + 1;
        b->started = false;
        b->req = NULL;
    }
    memset(r->final, 0, sizeof *r->final * (size_t)r->n_params);
    r->next = 0;
    r->stats.started_in_backward = 0;
    hook_status = TG_OK;
}

tg_status tg_parallel_reducer_arm(tg_parallel_reducer *r)
{
    if (!r) return tg_error(TG_ERR_INVALID, "tg_parallel_reducer_arm: NULL reducer");
    if (r->armed) return tg_error(TG_ERR_STATE, "tg_parallel_reducer_arm: already armed (finish the step first)");
    reset_round(r);
    tg_backward_set_leaf_hook(on_leaf_final, r, &r->prev_fn, &r->prev_user);
    r->armed = true;
    return TG_OK;
}

/* Writes a reduced bucket back into the gradients and zeroes the buffer for
 * the next step. */
static tg_status unpack_bucket(tg_parallel_reducer *r, bucket *b, tg_parallel_op op)
{
    if (!b->buf || (be->size == 1 && !r->fed)) return TG_OK; /* the gradients are the sums */
    const double inv = op == TG_PARALLEL_MEAN ? 1.0 / (double)be->size : 1.0;
    for (int i = b->first; i >= b->last; i--) {
        tg_tensor *w = tg_param_set_value(r->ps, i), *g = tg_param_set_grad(r->ps, i);
        if (get_elem(r, b->buf, b->numel + b->first - i) == 0.0) continue; /* no rank has a gradient */
        if (!g && !(g = tg_tensor_grad_or_zeros(w)))
            return tg_error(TG_ERR_OOM, "tg_parallel_reducer_finish: out of memory for the gradient of %s",
                            tg_param_set_name(r->ps, i));
        float *dst = tg_f32(g);
        const int64_t n = tg_tensor_numel(w), off = r->offset[i];
        if (r->f64) {
            const double *src = (const double *)b->buf + off;
            for (int64_t j = 0; j < n; j++) dst[j] = (float)(src[j] * inv);
        } else {
            const float *src = (const float *)b->buf + off;
            for (int64_t j = 0; j < n; j++) dst[j] = inv == 1.0 ? src[j] : (float)(src[j] * inv);
        }
    }
    memset(b->buf, 0, (size_t)bucket_len(b) * (r->f64 ? sizeof(double) : sizeof(float)));
    return TG_OK;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

tg_status tg_parallel_reducer_finish(tg_parallel_reducer *r, tg_parallel_op op)
{
    if (!r) return tg_error(TG_ERR_INVALID, "tg_parallel_reducer_finish: NULL reducer");
    if (r->armed) {
        tg_backward_set_leaf_hook(r->prev_fn, r->prev_user, NULL, NULL);
        r->armed = false;
    } else {
        reset_round(r);
    }
    tg_status st = hook_status;
    hook_status = TG_OK;
    const double t0 = seconds();
    while (st == TG_OK && r->next < r->n_buckets) st = start_bucket(r, &r->buckets[r->next++]);
    for (int k = 0; k < r->n_buckets; k++) {
        bucket *b = &r->buckets[k];
        tg_status ws = b->started ? be->wait(b->req) : TG_OK;
        b->req = NULL;
        if (st == TG_OK) st = ws;
        if (st == TG_OK) st = unpack_bucket(r, b, op);
    }
    memset(r->had_grad, 0, sizeof *r->had_grad * (size_t)r->n_params);
    r->fed = false;
    r->stats.wait_s = seconds() - t0;
    return st;
}

tg_parallel_reducer_stats tg_parallel_reducer_get_stats(const tg_parallel_reducer *r)
{
    return r ? r->stats : (tg_parallel_reducer_stats){0};
}

tg_status tg_parallel_allreduce_grads(tg_param_set *ps, tg_parallel_op op)
{
    tg_parallel_reducer *r = tg_parallel_reducer_create(ps, 0, false);
    if (!r) return ps ? TG_ERR_OOM : TG_ERR_INVALID;
    tg_status st = tg_parallel_reducer_finish(r, op);
    tg_parallel_reducer_destroy(r);
    return st;
}
