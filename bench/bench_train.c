/* Training-throughput benchmark: trains the "claims-small" GPT (pre-LN,
 * learned positions, tied embeddings, GELU tanh, no dropout) with AdamW and
 * global-norm clipping on random tokens, and prints tokens/s, the median
 * step time and the peak RSS. bench/torch_peer.py runs the same model in
 * PyTorch with the same flags and output format; bench/run_bench.sh compares
 * the two.
 *
 * A step is zero_grad + forward + loss + backward + clip + AdamW + step end.
 * The first --warmup steps are not timed; --steps steps are. TG_PROFILE=1
 * prints the per-op table of the timed steps to stderr at the end. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "autograd/autograd.h"
#include "nn/gpt.h"
#include "optim/optim.h"
#include "tensor/backend.h"
#include "tensor/ctx.h"

#define DATA_SEED 1234u
#define MODEL_SEED 42u
#define LR 3e-4
#define WEIGHT_DECAY 0.1
#define CLIP_NORM 1.0

typedef struct bench_opts {
    long vocab, d, layers, heads, ff, seq, batch, steps, threads, warmup;
    int bf16;
} bench_opts;

/* Wall time of each phase of one step, in seconds. */
enum { PH_FORWARD, PH_BACKWARD, PH_OPTIM, PH_END, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {"forward", "backward", "clip_optim", "step_end"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_train [--vocab 8192] [--d 256] [--layers 4] [--heads 4] [--ff 1024]\n"
               "                   [--seq 256] [--batch 16] [--steps 6] [--warmup 2] [--threads 2] [--bf16]\n"
               "Trains the claims-small GPT on random tokens and prints\n"
               "tokens_per_s=... median_step_s=... peak_rss_mb=... first_loss=... last_loss=...\n");
}

/* Parses `text` as an integer in [lo, hi] for `flag`; prints why not. */
static int parse_long(const char *flag, const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || end == text || *end != '\0' || errno || v < lo || v > hi) {
        fprintf(stderr, "bench_train: %s expects an integer in [%ld, %ld], got '%s'\n", flag, lo, hi,
                text ? text : "(missing)");
        return -1;
    }
    *out = v;
    return 0;
}

/* Fills o from argv. Returns 0, 1 for --help, -1 on a bad flag (reported). */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.vocab = 8192,
                      .d = 256,
                      .layers = 4,
                      .heads = 4,
                      .ff = 1024,
                      .seq = 256,
                      .batch = 16,
                      .steps = 6,
                      .threads = 2,
                      .warmup = 2};
    const struct {
        const char *name;
        long *dst, lo;
    } flags[] = {
        {"--vocab", &o->vocab, 2},   {"--d", &o->d, 1},         {"--layers", &o->layers, 1},
        {"--heads", &o->heads, 1},   {"--ff", &o->ff, 1},       {"--seq", &o->seq, 1},
        {"--batch", &o->batch, 1},   {"--steps", &o->steps, 1}, {"--threads", &o->threads, 1},
        {"--warmup", &o->warmup, 0},
    };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
        if (!strcmp(argv[i], "--bf16")) {
            o->bf16 = 1;
            continue;
        }
        size_t f = 0;
        while (f < sizeof flags / sizeof flags[0] && strcmp(argv[i], flags[f].name)) f++;
        if (f == sizeof flags / sizeof flags[0]) {
            fprintf(stderr, "bench_train: unknown flag '%s' (see --help)\n", argv[i]);
            return -1;
        }
        const char *val = i + 1 < argc ? argv[++i] : NULL;
        if (parse_long(flags[f].name, val, flags[f].lo, INT_MAX, flags[f].dst)) return -1;
    }
    if (o->d % o->heads) {
        fprintf(stderr, "bench_train: --d %ld must be divisible by --heads %ld\n", o->d, o->heads);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts v). */
static double median(double *v, long n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Random tokens: a (B, T + 1) stream from DATA_SEED; inputs are the first T,
 * targets the last T of each row (next-token prediction). */
static tg_status make_batch(const bench_opts *o, tg_tensor **idx, tg_tensor **targets)
{
    *idx = tg_tensor_new(TG_PERSIST, TG_SHAPE(o->batch, o->seq), TG_S32);
    *targets = tg_tensor_new(TG_PERSIST, TG_SHAPE(o->batch, o->seq), TG_S32);
    if (!*idx || !*targets) return TG_ERR_OOM;
    int32_t *x = tg_s32(*idx), *y = tg_s32(*targets);
    for (long b = 0; b < o->batch; b++) {
        for (long t = 0; t <= o->seq; t++) {
            int32_t tok = (int32_t)(tg_rng_bits(DATA_SEED, (uint64_t)(b * (o->seq + 1) + t)) % (uint64_t)o->vocab);
            if (t < o->seq) x[b * o->seq + t] = tok;
            if (t > 0) y[b * o->seq + t - 1] = tok;
        }
    }
    return TG_OK;
}

/* Prints the oneDNN implementation of the main forward matmuls (the MLP
 * up-projection and the tied output projection) in the run's dtype. */
static void print_impl(tg_ctx *ctx, const bench_opts *o)
{
    const struct {
        const char *name;
        int64_t out;
    } mm[] = {{"mlp_fc1", o->ff}, {"lm_head", o->vocab}};
    printf("onednn_impl");
    for (int i = 0; i < 2; i++) {
        tg_matmul_desc d = {.ndim = 2, .ab_dtype = o->bf16 ? TG_BF16 : TG_F32, .bias = i == 0};
        tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, o->batch * o->seq, o->d, false);
        tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, o->d, mm[i].out, true);
        tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, o->batch * o->seq, mm[i].out, false);
        const char *impl = tg_backend_matmul_impl(ctx, &d);
        printf(" %s=%s", mm[i].name, impl ? impl : "?");
    }
    printf("\n");
}

/* One training step; ph receives the phase times, *loss the loss value. */
static tg_status train_step(tg_gpt *m, tg_optim *opt, const tg_tensor *idx, const tg_tensor *targets,
                            double ph[PH_COUNT], double *loss_value)
{
    double t0 = now_s();
    TG_TRY(tg_param_set_zero_grad(m->params));
    tg_tensor *loss = tg_gpt_loss(m, idx, targets, NULL, NULL, true);
    if (!loss) return TG_ERR_INVALID;
    *loss_value = tg_item(loss);
    double t1 = now_s();
    TG_TRY(tg_backward(loss));
    double t2 = now_s();
    TG_TRY(tg_optim_step_clipped(opt, LR, CLIP_NORM, NULL)); /* clipping fused into AdamW */
    double t3 = now_s();
    tg_step_end();
    double t4 = now_s();
    ph[PH_FORWARD] = t1 - t0;
    ph[PH_BACKWARD] = t2 - t1;
    ph[PH_OPTIM] = t3 - t2;
    ph[PH_END] = t4 - t3;
    return TG_OK;
}

/* Runs warmup + timed steps and prints the report. */
static tg_status run(const bench_opts *o, tg_gpt *m, tg_optim *opt, const tg_tensor *idx, const tg_tensor *targets)
{
    double *step_s = calloc((size_t)o->steps * (PH_COUNT + 1), sizeof *step_s);
    if (!step_s) return tg_error(TG_ERR_OOM, "bench_train: out of memory");
    double *phase_s = step_s + o->steps; /* [PH_COUNT][steps] */
    double first_loss = NAN, loss = NAN, ph[PH_COUNT];
    tg_status st = TG_OK;
    for (long i = 0; i < o->warmup + o->steps && st == TG_OK; i++) {
        if (i == o->warmup) tg_profile_reset();
        double t0 = now_s();
        st = train_step(m, opt, idx, targets, ph, &loss);
        double dt = now_s() - t0;
        if (i == 0) first_loss = loss;
        if (st == TG_OK && !isfinite(loss))
            st = tg_error(TG_ERR_NUMERIC, "bench_train: loss %g at step %ld is not finite", loss, i + 1);
        if (i < o->warmup) continue;
        long k = i - o->warmup;
        step_s[k] = dt;
        for (int p = 0; p < PH_COUNT; p++) phase_s[p * o->steps + k] = ph[p];
    }
    if (st == TG_OK) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double med = median(step_s, o->steps);
        printf("phase_median_s");
        for (int p = 0; p < PH_COUNT; p++) printf(" %s=%.4f", phase_names[p], median(phase_s + p * o->steps, o->steps));
        printf("\ntokens_per_s=%.1f median_step_s=%.4f peak_rss_mb=%.1f first_loss=%.4f last_loss=%.4f\n",
               (double)(o->batch * o->seq) / med, med, (double)ru.ru_maxrss / 1024.0, first_loss, loss);
    }
    free(step_s);
    return st;
}

int main(int argc, char **argv)
{
    bench_opts o;
    int pa = parse_args(argc, argv, &o);
    if (pa) {
        usage(pa > 0 ? stdout : stderr);
        return pa > 0 ? 0 : 2;
    }
    /* bf16 mixed precision: bf16 matmul operands, f32 master weights, norms and loss */
    tg_nn_set_autocast(o.bf16 ? TG_BF16 : TG_F32);
    tg_ctx *ctx = tg_ctx_create(&(tg_ctx_opts){.threads = (int)o.threads, .seed = MODEL_SEED});
    if (!ctx) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    tg_ctx_set_current(ctx);
    printf("cpu=\"%s\" threads=%d dtype=%s vocab=%ld d=%ld layers=%ld heads=%ld ff=%ld seq=%ld batch=%ld "
           "steps=%ld warmup=%ld\n",
           tg_cpu_model(), tg_ctx_threads(ctx), o.bf16 ? "bf16" : "fp32", o.vocab, o.d, o.layers, o.heads, o.ff, o.seq,
           o.batch, o.steps, o.warmup);
    print_impl(ctx, &o);
    fflush(stdout);

    tg_gpt_config cfg = {.vocab = o.vocab,
                         .dim = o.d,
                         .heads = o.heads,
                         .hidden = o.ff,
                         .max_seq = o.seq,
                         .n_layers = (int)o.layers,
                         .dropout = 0.0,
                         .eps = 1e-5,
                         .tied = true};
    tg_gpt m;
    tg_optim *opt = NULL;
    tg_tensor *idx = NULL, *targets = NULL;
    tg_adam_opts ao = tg_adamw_default_opts();
    ao.weight_decay = WEIGHT_DECAY;
    tg_status st = tg_gpt_init(&m, &cfg, MODEL_SEED);
    if (st == TG_OK) {
        /* Norm weights and biases get no weight decay (as in torch_peer.py). */
        st = tg_param_set_group(m.params, TG_GROUP_NO_DECAY, (tg_param_group){.lr_mult = 1, .wd_mult = 0});
        if (st == TG_OK) opt = tg_adamw_create(m.params, &ao);
        if (!opt) st = TG_ERR_INVALID;
        if (st == TG_OK) st = make_batch(&o, &idx, &targets);
        if (st == TG_OK) st = run(&o, &m, opt, idx, targets);
        tg_optim_destroy(opt);
        tg_gpt_free(&m);
    }
    if (st != TG_OK) fprintf(stderr, "bench_train: %s: %s\n", tg_status_str(st), tg_last_error());
    const char *prof = getenv("TG_PROFILE");
    if (st == TG_OK && prof && *prof && strcmp(prof, "0")) tg_profile_print(stderr);
    tg_tensor_free(idx);
    tg_tensor_free(targets);
    tg_ctx_destroy(ctx);
    return st == TG_OK ? 0 : 1;
}
