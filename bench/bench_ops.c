/* Micro-benchmark of the memory- and transcendental-bound ops a transformer
 * step spends its non-matmul time in: milliseconds per forward + backward
 * call, with the bytes the kernels must touch (GB/s) or, for attention, the
 * matmul FLOPs (GFLOP/s).
 *
 *   bench_ops [--threads N] [--iters N] [--profile]
 *
 * Threads default to 2 so runs on different machines compare like with like.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/cli.h"
#include "tensorgrad.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check(const void *p, const char *what)
{
    if (!p) {
        fprintf(stderr, "bench_ops: %s: %s\n", what, tg_last_error());
        exit(1);
    }
}

static tg_tensor *input(tg_shape s, uint64_t seed, bool grad)
{
    tg_tensor *t = tg_randn(TG_PERSIST, s, TG_F32, seed, 0, 1);
    check(t, "randn");
    if (grad) tg_tensor_set_requires_grad(t, true);
    return t;
}

/* Each case builds its graph from persistent inputs and returns the output
 * to differentiate. */
typedef struct bench_case {
    const char *name;
    tg_tensor *(*run)(tg_tensor **in);
    double bytes, flops; /* per forward + backward; one of them is 0 */
} bench_case;

static tg_tensor *run_ce(tg_tensor **in) { return tg_cross_entropy(in[0], in[1], NULL); }
static tg_tensor *run_gelu(tg_tensor **in) { return tg_gelu(in[0]); }
static tg_tensor *run_softmax(tg_tensor **in) { return tg_softmax(in[0], NULL); }
static tg_tensor *run_ln(tg_tensor **in) { return tg_layer_norm(in[0], in[1], in[2], 1e-5); }
static tg_tensor *run_add(tg_tensor **in) { return tg_add(in[0], in[1]); }
static tg_tensor *run_attn(tg_tensor **in) { return tg_attention(in[0], in[1], in[2], true, NULL, 0); }
/* the claims-small block's attention: packed qkv, 4 heads of 64 */
static tg_tensor *run_attn_qkv(tg_tensor **in)
{
    return tg_attention_qkv_with(in[0], 4, true, NULL, 0, &(tg_attention_opts){.compute = TG_F32});
}
static tg_tensor *run_attn_qkv_bf16(tg_tensor **in)
{
    return tg_attention_qkv_with(in[0], 4, true, NULL, 0, &(tg_attention_opts){.compute = TG_BF16});
}

/* Times `iters` forward + backward calls after two warm-up calls. */
static double time_case(const bench_case *c, tg_tensor **in, int iters)
{
    double t0 = 0;
    for (int it = 0; it < iters + 2; it++) {
        if (it == 2) t0 = now_s();
        tg_tensor *y = c->run(in);
        check(y, c->name);
        tg_tensor *seed = tg_ones(TG_STEP, *tg_tensor_shape(y), TG_F32);
        check(seed, "seed");
        if (tg_backward_with(y, &(tg_backward_opts){.seed = seed}) != TG_OK) check(NULL, c->name);
        tg_step_end();
    }
    return (now_s() - t0) / iters;
}

/* Random class ids in [0, C) from a simple LCG (distribution is irrelevant). */
static tg_tensor *targets(int64_t n, int32_t C)
{
    int32_t *t = malloc(sizeof *t * (size_t)n);
    check(t, "malloc");
    uint64_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (int32_t)((s >> 33) % (uint64_t)C);
    }
    tg_tensor *tt = tg_from_buffer(TG_PERSIST, TG_SHAPE(n), TG_S32, t);
    free(t);
    check(tt, "targets");
    return tt;
}

int main(int argc, char **argv)
{
    long threads = 2, iters = 5;
    bool profile = false;
    cli_opt opts[] = {
        {"threads", CLI_INT, &threads, 0, 1024, "threads (0: default)"},
        {"iters", CLI_INT, &iters, 1, 1 << 20, "timed iterations"},
        {"profile", CLI_FLAG, &profile, 0, 0, "print the per-op profile table"},
    };
    int rc = cli_parse("bench_ops", "Times forward + backward of the ops against their peers.", opts, 3, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    tg_ctx *ctx = tg_ctx_create(&(tg_ctx_opts){.threads = (int)threads});
    check(ctx, "ctx");
    tg_ctx_set_current(ctx);
    tg_profile_enable(profile);
    printf("CPU: %s\nthreads: %d, iters: %ld\n", tg_cpu_model(), tg_ctx_threads(ctx), iters);

    /* bytes: the f32 arrays each pass must read or write at least once */
    const double ce_n = 8192.0 * 4096, ge_n = 8192.0 * 512, sm_n = 64.0 * 256 * 256, ln_n = 8192.0 * 128;
    const double B = 16, H = 4, T = 256, Dh = 32;
    const bench_case cases[] = {
        /* fwd reads z; bwd reads z, reads + writes dz */
        {"cross_entropy (8192, 4096)", run_ce, 4.0 * 4 * ce_n, 0},
        /* fwd x -> y; bwd reads x, dy, reads + writes dx */
        {"gelu_tanh (8192, 512)", run_gelu, 4.0 * 6 * ge_n, 0},
        /* fwd x -> y; bwd reads y, dy, reads + writes dx */
        {"softmax (64, 256, 256)", run_softmax, 4.0 * 6 * sm_n, 0},
        {"layer_norm (8192, 128)", run_ln, 4.0 * 6 * ln_n, 0},
        /* fwd a, b -> y; bwd dy into da, db (read + write each) */
        {"add (8192, 128) same shape", run_add, 4.0 * 8 * ln_n, 0},
        /* causal: half of QKᵀ and PV forward, twice that again backward
         * (QKᵀ recomputed, dV, dP, dQ, dK) */
        {"attention (16, 4, 256, 32) causal", run_attn, 0, 0.5 * B * H * T * T * Dh * 2 * (2 + 5)},
        {"attention qkv (16, 256, 3·4·64) f32", run_attn_qkv, 0, 0.5 * B * H * T * T * 64 * 2 * (2 + 5)},
        {"attention qkv (16, 256, 3·4·64) bf16", run_attn_qkv_bf16, 0, 0.5 * B * H * T * T * 64 * 2 * (2 + 5)},
    };
    tg_tensor *in[8][3] = {
        {input(TG_SHAPE(8192, 4096), 1, true), targets(8192, 4096)},
        {input(TG_SHAPE(8192, 512), 2, true)},
        {input(TG_SHAPE(64, 256, 256), 3, true)},
        {input(TG_SHAPE(8192, 128), 4, true), input(TG_SHAPE(128), 5, true), input(TG_SHAPE(128), 6, true)},
        {input(TG_SHAPE(8192, 128), 7, true), input(TG_SHAPE(8192, 128), 8, true)},
        {input(TG_SHAPE(16, 4, 256, 32), 9, true), input(TG_SHAPE(16, 4, 256, 32), 10, true),
         input(TG_SHAPE(16, 4, 256, 32), 11, true)},
        {input(TG_SHAPE(16, 256, 768), 12, true)},
        {input(TG_SHAPE(16, 256, 768), 13, true)},
    };
    printf("%-36s %10s %12s\n", "op (forward + backward)", "ms/call", "rate");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const double dt = time_case(&cases[i], in[i], iters);
        if (cases[i].bytes > 0)
            printf("%-36s %10.2f %7.1f GB/s\n", cases[i].name, 1e3 * dt, cases[i].bytes / dt * 1e-9);
        else
            printf("%-36s %10.2f %4.1f GFLOP/s\n", cases[i].name, 1e3 * dt, cases[i].flops / dt * 1e-9);
        for (int j = 0; j < 3; j++) tg_tensor_free(in[i][j]);
    }
    if (profile) tg_profile_print(stdout);
    tg_ctx_destroy(ctx);
    return 0;
}
