/* Linear-layer micro-benchmark: GFLOP/s of tg_linear forward + backward
 * (y = x·wᵀ + b, dx = dy·w, dw = dyᵀ·x: three matmuls) beside the same three
 * matmuls issued directly to oneDNN, on transformer-like shapes. A middle
 * column runs the three products through tg_backend_matmul alone.
 *
 *   bench_linear [--threads N] [--iters N] [--bf16] [--profile]
 *
 * --bf16: tg_linear_with with bf16 compute (f32 x and w rounded inside the
 * op, as under autocast) against bf16 × bf16 -> f32 matmuls in the other
 * two columns. --profile prints tensorgrad's per-op table at the end.
 */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/backend.h"
#include "apps/cli.h"
#include "tensorgrad.h"

/* Operand dtype of the products (--bf16). */
static tg_dtype ab = TG_F32;

typedef struct shape3 {
    int64_t rows, in, out;
} shape3;

static const shape3 shapes[] = {
    {4096, 256, 1024},
    {4096, 1024, 256},
    {4096, 256, 256},
    {4096, 256, 8192},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define DNNL_OK(call)                                                                                                  \
    do {                                                                                                               \
        dnnl_status_t s_ = (call);                                                                                     \
        if (s_ != dnnl_success) {                                                                                      \
            fprintf(stderr, "bench_linear: %s failed with oneDNN status %d\n", #call, (int)s_);                        \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

/* ---- the tensorgrad side ---- */

static double bench_tg(shape3 s, int iters, int warmup)
{
    tg_tensor *x = tg_randn(TG_PERSIST, TG_SHAPE(s.rows, s.in), TG_F32, 1, 0, 1);
    tg_tensor *w = tg_randn(TG_PERSIST, TG_SHAPE(s.out, s.in), TG_F32, 2, 0, 0.05);
    tg_tensor *b = tg_zeros(TG_PERSIST, TG_SHAPE(s.out), TG_F32);
    tg_tensor *seed = tg_randn(TG_PERSIST, TG_SHAPE(s.rows, s.out), TG_F32, 3, 0, 1);
    if (!x || !w || !b || !seed) {
        fprintf(stderr, "bench_linear: %s\n", tg_last_error());
        exit(1);
    }
    tg_tensor_set_requires_grad(x, true);
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_requires_grad(b, true);
    double t0 = 0;
    for (int it = 0; it < warmup + iters; it++) {
        if (it == warmup) t0 = now_s();
        tg_tensor *y = tg_linear_with(x, w, b, &(tg_linear_opts){.compute = ab}); /* (rows, out) */
        if (!y || tg_backward_with(y, &(tg_backward_opts){.seed = seed}) != TG_OK) {
            fprintf(stderr, "bench_linear: %s\n", tg_last_error());
            exit(1);
        }
        tg_step_end();
    }
    double dt = (now_s() - t0) / iters;
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(b);
    tg_tensor_free(seed);
    return dt;
}

/* The descriptions tg_linear hands the backend: forward with bias, then the
 * accumulating dx and dw products. */
static void linear_descs(tg_matmul_desc d[3], shape3 s)
{
    memset(d, 0, 3 * sizeof *d);
    for (int i = 0; i < 3; i++) d[i].ndim = 2, d[i].ab_dtype = ab;
    d[0].bias = true;
    tg_matmul_view(d[0].a_dims, d[0].a_strides, 0, NULL, s.rows, s.in, false);
    tg_matmul_view(d[0].b_dims, d[0].b_strides, 0, NULL, s.in, s.out, true);
    tg_matmul_view(d[0].c_dims, d[0].c_strides, 0, NULL, s.rows, s.out, false);
    d[1].accumulate = d[2].accumulate = true;
    tg_matmul_view(d[1].a_dims, d[1].a_strides, 0, NULL, s.rows, s.out, false);
    tg_matmul_view(d[1].b_dims, d[1].b_strides, 0, NULL, s.out, s.in, false);
    tg_matmul_view(d[1].c_dims, d[1].c_strides, 0, NULL, s.rows, s.in, false);
    tg_matmul_view(d[2].a_dims, d[2].a_strides, 0, NULL, s.out, s.rows, true);
    tg_matmul_view(d[2].b_dims, d[2].b_strides, 0, NULL, s.rows, s.in, false);
    tg_matmul_view(d[2].c_dims, d[2].c_strides, 0, NULL, s.out, s.in, false);
}

/* The same three products through tg_backend_matmul alone: separates the
 * backend's cost from the op and tape work around it. */
static double bench_backend(tg_ctx *ctx, shape3 s, int iters, int warmup)
{
    tg_matmul_desc d[3];
    linear_descs(d, s);
    const size_t nx = (size_t)(s.rows * s.in), nw = (size_t)(s.out * s.in), ny = (size_t)(s.rows * s.out);
    /* operands in ab (y doubles as dy), results in f32 */
    const size_t es = tg_dtype_size(ab);
    void *x = calloc(nx, es), *w = calloc(nw, es), *y = calloc(ny, 4);
    float *b = calloc((size_t)s.out, 4), *dx = calloc(nx, 4), *dw = calloc(nw, 4);
    if (!x || !w || !b || !y || !dx || !dw) {
        fprintf(stderr, "bench_linear: out of memory\n");
        exit(1);
    }
    double t0 = 0;
    for (int it = 0; it < warmup + iters; it++) {
        if (it == warmup) t0 = now_s();
        if (tg_backend_matmul(ctx, &d[0], y, x, w, b) || tg_backend_matmul(ctx, &d[1], dx, y, w, NULL) ||
            tg_backend_matmul(ctx, &d[2], dw, y, x, NULL)) {
            fprintf(stderr, "bench_linear: %s\n", tg_last_error());
            exit(1);
        }
    }
    double dt = (now_s() - t0) / iters;
    free(x), free(w), free(b), free(y), free(dx), free(dw);
    return dt;
}

/* The implementation names oneDNN picked for tg_linear's three products. */
static void print_tg_impls(tg_ctx *ctx, shape3 s)
{
    tg_matmul_desc d[3];
    linear_descs(d, s);
    const char *names[3] = {"fwd", "dx", "dw"};
    printf("    oneDNN impl:");
    for (int i = 0; i < 3; i++) {
        const char *impl = tg_backend_matmul_impl(ctx, &d[i]);
        printf(" %s=%s", names[i], impl ? impl : "?");
    }
    printf("\n");
}

/* ---- the raw oneDNN side ---- */

typedef struct raw_mm {
    dnnl_primitive_t prim;
    dnnl_memory_t mem[4];
    int args[4], n;
} raw_mm;

/* A (m, k) · B (k, n) -> C (m, n) with the given element strides, fresh
 * buffers, optional bias over n and optional accumulation into C. */
static raw_mm raw_make(dnnl_engine_t eng, int64_t m, int64_t k, int64_t n, const dnnl_dims_t sa, const dnnl_dims_t sb,
                       int bias, int accumulate)
{
    raw_mm r = {0};
    dnnl_memory_desc_t a, b, c, bi;
    dnnl_dims_t da = {m, k}, db = {k, n}, dc = {m, n}, dbi = {1, n}, sc = {n, 1};
    const dnnl_data_type_t t = ab == TG_BF16 ? dnnl_bf16 : dnnl_f32;
    DNNL_OK(dnnl_memory_desc_init_by_strides(&a, 2, da, t, sa));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&b, 2, db, t, sb));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&bi, 2, dbi, dnnl_f32, sc));
    dnnl_matmul_desc_t md;
    DNNL_OK(dnnl_matmul_desc_init(&md, &a, &b, bias ? &bi : NULL, &c));
    dnnl_primitive_attr_t attr;
    DNNL_OK(dnnl_primitive_attr_create(&attr));
    if (accumulate) {
        dnnl_post_ops_t po;
        DNNL_OK(dnnl_post_ops_create(&po));
        DNNL_OK(dnnl_post_ops_append_sum(po, 1.0f));
        DNNL_OK(dnnl_primitive_attr_set_post_ops(attr, po));
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    DNNL_OK(dnnl_primitive_create(&r.prim, pd));
    const dnnl_memory_desc_t *mds[4] = {&a, &b, &c, &bi};
    const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    r.n = bias ? 4 : 3;
    for (int i = 0; i < r.n; i++) {
        DNNL_OK(dnnl_memory_create(&r.mem[i], mds[i], eng, DNNL_MEMORY_ALLOCATE));
        void *h;
        DNNL_OK(dnnl_memory_get_data_handle(r.mem[i], &h));
        memset(h, 0, dnnl_memory_desc_get_size(mds[i]));
        r.args[i] = args[i];
    }
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return r;
}

static void raw_run(dnnl_stream_t st, const raw_mm *r)
{
    dnnl_exec_arg_t a[4];
    for (int i = 0; i < r->n; i++) a[i] = (dnnl_exec_arg_t){.arg = r->args[i], .memory = r->mem[i]};
    DNNL_OK(dnnl_primitive_execute(r->prim, st, r->n, a));
}

static void raw_free(raw_mm *r)
{
    for (int i = 0; i < r->n; i++) dnnl_memory_destroy(r->mem[i]);
    dnnl_primitive_destroy(r->prim);
}

static double bench_raw(shape3 s, int iters, int warmup)
{
    dnnl_engine_t eng;
    dnnl_stream_t st;
    DNNL_OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    DNNL_OK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    const dnnl_dims_t row_in = {s.in, 1}, wt = {1, s.in}, row_out = {s.out, 1}, col_out = {1, s.out};
    raw_mm mm[3] = {
        raw_make(eng, s.rows, s.in, s.out, row_in, wt, 1, 0),      /* y = x · wᵀ + b */
        raw_make(eng, s.rows, s.out, s.in, row_out, row_in, 0, 1), /* dx += dy · w */
        raw_make(eng, s.out, s.rows, s.in, col_out, row_in, 0, 1), /* dw += dyᵀ · x */
    };
    double t0 = 0;
    for (int it = 0; it < warmup + iters; it++) {
        if (it == warmup) t0 = now_s();
        for (int i = 0; i < 3; i++) raw_run(st, &mm[i]);
        DNNL_OK(dnnl_stream_wait(st));
    }
    double dt = (now_s() - t0) / iters;
    for (int i = 0; i < 3; i++) raw_free(&mm[i]);
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return dt;
}

int main(int argc, char **argv)
{
    long threads = 0, iters = 10;
    bool profile = false, bf16 = false;
    cli_opt opts[] = {
        {"threads", CLI_INT, &threads, 0, 1024, "threads (0: default)"},
        {"iters", CLI_INT, &iters, 1, 1 << 20, "timed iterations"},
        {"bf16", CLI_FLAG, &bf16, 0, 0, "bf16 products (tg_linear_with compute bf16; bf16 oneDNN matmuls)"},
        {"profile", CLI_FLAG, &profile, 0, 0, "print the per-op profile table"},
    };
    int rc = cli_parse("bench_linear", "Times forward + backward of the ops against their peers.", opts, 4, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    ab = bf16 ? TG_BF16 : TG_F32;
    tg_ctx *ctx = tg_ctx_create(&(tg_ctx_opts){.threads = (int)threads});
    if (!ctx) {
        fprintf(stderr, "bench_linear: %s\n", tg_last_error());
        return 1;
    }
    tg_ctx_set_current(ctx);
    tg_profile_enable(profile);
    const dnnl_version_t *v = dnnl_version();
    printf("CPU: %s\nthreads: %d, iters: %ld, oneDNN %d.%d.%d (%s)\n", tg_cpu_model(), tg_ctx_threads(ctx), iters,
           v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime");
    printf("GFLOP/s of forward + backward (3 matmuls: y = x·wᵀ + b, dx += dy·w, dw += dyᵀ·x), %s products\n",
           tg_dtype_name(ab));
    printf("%-22s %10s %9s %12s %10s %9s %7s\n", "rows x in -> out", "tg ms", "tg GF/s", "backend GF/s", "raw ms",
           "raw GF/s", "tg/raw");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        shape3 s = shapes[i];
        const double flop = 3.0 * 2.0 * (double)s.rows * (double)s.in * (double)s.out;
        double tr = bench_raw(s, iters, 2);
        double tt = bench_tg(s, iters, 2);
        double tb = bench_backend(ctx, s, iters, 2);
        char name[64];
        snprintf(name, sizeof name, "%lld x %lld -> %lld", (long long)s.rows, (long long)s.in, (long long)s.out);
        printf("%-22s %10.2f %9.1f %12.1f %10.2f %9.1f %7.2f\n", name, 1e3 * tt, flop / tt * 1e-9, flop / tb * 1e-9,
               1e3 * tr, flop / tr * 1e-9, tr / tt);
        print_tg_impls(ctx, s);
    }
    if (profile) tg_profile_print(stdout);
    tg_ctx_destroy(ctx);
    return 0;
}
