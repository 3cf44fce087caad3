/* train_claims: trains the claims adjudication model on JSONL claims and
 * writes checkpoints, metrics.jsonl, the tokenizer and an HTML report into
 * --out. Run with --help for every option. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/cli.h"
#include "parallel/parallel.h"
#include "models/claims/model/artifact.h"
#include "models/claims/model/config.h"
#include "models/claims/text/corpus.h"
#include "models/claims/train/parallel_train.h"
#include "models/claims/data/provider_stats.h"
#include "models/claims/eval/report.h"
#include "models/claims/train/trainer.h"
#include "optim/dpsgd_accountant.h"
#include "autograd/op.h"
#include "tensor/ctx.h"

static volatile sig_atomic_t stop_requested;

/* mkdir -p; 0 or -1 with the error recorded. */
static int mkdir_p(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            tg_error(TG_ERR_IO, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        if (!c) return 0;
        *p = c;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct args {
    const char *train, *valid, *out, *resume, *codes, *tokenizer, *schedule, *decision_loss, *dp_unit;
    long steps, seed, warmup, accum, threads, vocab, d, layers, heads, ff, ctx, budget, eval_every, ckpt_every,
        norms_every, balance, head_hidden, pool_heads, dp_batch, head_epochs;
    double dp_clip, dp_sigma, dp_epsilon, dp_delta, dp_rate;
    double lr, min_lr, clip, weight_decay, dropout, lambda, cost_fr, cost_fa, code_weight, focal_gamma, grad_cut,
        head_fit_lr, head_fit_neg;
    bool bf16, strict, class_weights, quiet, surprisal, tabular, dp;
} args;

static void reject(void *user, const char *path, long line, const char *reason)
{
    long *count = user;
    if (++*count <= 20)
        fprintf(stderr, "%s:%ld: skipped: %s\n", path, line, reason);
    else if (*count == 21)
        fprintf(stderr, "%s: more malformed lines (counted, not printed)\n", path);
}

static int load(const char *path, const args *a, const claims_codes *codes, claims_dataset *ds)
{
    long rejected = 0;
    claims_read_opts ro = {.strict = a->strict, .codes = codes, .on_reject = reject, .reject_user = &rejected};
    if (claims_dataset_load(path, &ro, ds) != TG_OK) {
        fprintf(stderr, "train_claims: %s\n", tg_last_error());
        return 1;
    }
    const claims_read_summary *s = &ds->summary;
    long deny = 0;
    for (size_t i = 0; i < ds->n; i++) deny += ds->claims[i].deny;
    printf("%s: %ld lines read, %ld used, %ld rejected, %ld blank; %ld denials (%.1f%%)\n", path, s->lines_read,
           s->used, s->rejected, s->blank, deny, ds->n ? 100.0 * (double)deny / (double)ds->n : 0.0);
    if (ds->n == 0) {
        fprintf(stderr, "train_claims: %s holds no usable claim\n", path);
        return 1;
    }
    return 0;
}

static void progress(void *user, const claims_progress *p)
{
    const args *a = user;
    static const int width = 30;
    if (tg_parallel_rank() != 0) return; /* rank 0 reports for the job */
    bool tty = isatty(STDERR_FILENO);
    if (!a->quiet && (tty || p->step % 10 == 0 || p->step == p->steps)) {
        int fill = (int)(width * p->step / p->steps);
        fprintf(stderr, "%s[%.*s%*s] step %lld/%lld loss %.4f lr %.2e %.0f tok/s ETA %.0fs%s", tty ? "\r" : "", fill,
                "##############################", width - fill, "", (long long)p->step, (long long)p->steps, p->loss,
                p->lr, p->tokens_per_s, p->eta_s, tty ? "  " : "\n");
    }
    if (p->head_fit)
        fprintf(stderr, "%shead refit: validation AUC %.3f -> %.3f (best epoch %d of %d)\n", tty ? "\n" : "",
                p->head_fit->start_auc, p->head_fit->best_auc, p->head_fit->best_epoch, (int)a->head_epochs);
    if (p->eval) {
        const claims_eval *e = p->eval;
        fprintf(stderr,
                "%seval @%lld: val_lm_loss %.4f token_acc %.3f code_acc %.3f rare_code_acc %.3f | auc %.3f "
                "pr_auc %.3f recall %.3f precision %.3f | cost %.0f (always approve %.0f, always deny %.0f)\n",
                tty ? "\n" : "", (long long)p->step, e->val_lm_loss, e->token_acc, e->code_token_acc,
                e->rare_code_token_acc, e->auc, e->pr_auc, e->recall, e->precision, e->business_cost,
                e->baseline_cost_always_approve, e->baseline_cost_always_deny);
    }
}

/* Room for the option table setup_options copies out (checked at compile time). */
#define TRAIN_MAX_OPTS 64

static int setup_options(args *a, cli_opt *o, int argc, char **argv)
{
    *a = (args){.out = "runs/claims",
                .codes = cli_data_file("codes.tsv"),
                .schedule = "cosine",
                .decision_loss = "cost",
                .steps = 400,
                .seed = 1,
                .warmup = 40,
                .accum = 1,
                .threads = 0,
                .vocab = 4096,
                .d = 128,
                .layers = 2,
                .heads = 4,
                .ff = 512,
                .ctx = 256,
                .budget = 8192,
                .eval_every = 100,
                .ckpt_every = 100,
                .norms_every = 50,
                .balance = 1,
                .lr = 2e-3,
                .min_lr = 1e-4,
                .clip = 1.0,
                .weight_decay = 0.1,
                .dropout = 0.0,
                .lambda = 1.0,
                .cost_fr = 5,
                .cost_fa = 1,
                .code_weight = 1.0,
                .focal_gamma = 2.0,
                .pool_heads = 1,
                .head_fit_lr = 1e-3,
                .head_fit_neg = 1.0,
                .dp_unit = "patient",
                .dp_clip = 1.0,
                .dp_delta = 1e-5};
    cli_opt opts[] = {
        {"train", CLI_STRING, &a->train, 0, 0, "training claims (JSONL), required"},
        {"valid", CLI_STRING, &a->valid, 0, 0, "validation claims (JSONL), required"},
        {"out", CLI_STRING, &a->out, 0, 0, "output directory"},
        {"resume", CLI_STRING, &a->resume, 0, 0, "checkpoint to resume from"},
        {"codes", CLI_STRING, &a->codes, 0, 0, "code table (TSV) for validation and atomic code tokens"},
        {"tokenizer", CLI_STRING, &a->tokenizer, 0, 0, "load this tokenizer instead of training one"},
        {"steps", CLI_INT, &a->steps, 1, 1e9, "optimizer steps"},
        {"seed", CLI_INT, &a->seed, 0, 4294967295.0, "seed of init, data order and dropout"},
        {"lr", CLI_DOUBLE, &a->lr, 0, 10, "peak learning rate (cosine) or Noam factor"},
        {"min-lr", CLI_DOUBLE, &a->min_lr, 0, 10, "floor of the cosine schedule"},
        {"warmup", CLI_INT, &a->warmup, 0, 1e9, "warmup steps"},
        {"schedule", CLI_STRING, &a->schedule, 0, 0, "noam | cosine | step | constant"},
        {"clip", CLI_DOUBLE, &a->clip, 0, 1e9, "global gradient-norm clip (0: off)"},
        {"weight-decay", CLI_DOUBLE, &a->weight_decay, 0, 10, "AdamW decoupled weight decay"},
        {"accum", CLI_INT, &a->accum, 1, CLAIMS_MAX_ACCUM,
         "micro-batches per optimizer step: the global batch, shared by the ranks"},
        {"bf16", CLI_FLAG, &a->bf16, 0, 0, "bf16 matmuls with dynamic loss scaling"},
        {"threads", CLI_INT, &a->threads, 0, 1024, "threads (0: OMP_NUM_THREADS or all cores)"},
        {"vocab", CLI_INT, &a->vocab, 300, 1 << 20, "tokenizer vocabulary size when training one"},
        {"dim", CLI_INT, &a->d, 8, 8192, "model width"},
        {"layers", CLI_INT, &a->layers, 1, 256, "transformer blocks"},
        {"heads", CLI_INT, &a->heads, 1, 256, "attention heads (must divide --dim)"},
        {"ff", CLI_INT, &a->ff, 8, 65536, "feed-forward width"},
        {"ctx", CLI_INT, &a->ctx, 8, 1 << 16, "context (window) length in tokens"},
        {"token-budget", CLI_INT, &a->budget, 64, 1 << 24, "tokens per batch (rows x padded length)"},
        {"dropout", CLI_DOUBLE, &a->dropout, 0, 0.99, "dropout probability"},
        {"lambda", CLI_DOUBLE, &a->lambda, 0, 1000, "weight of the decision loss"},
        {"decision-loss", CLI_STRING, &a->decision_loss, 0, 0, "cost | wce | focal"},
        {"cost-fr", CLI_DOUBLE, &a->cost_fr, 0, 1e6, "cost of a false rejection (true approve, predicted deny)"},
        {"cost-fa", CLI_DOUBLE, &a->cost_fa, 0, 1e6, "cost of a false approval (true deny, predicted approve)"},
        {"class-weights", CLI_FLAG, &a->class_weights, 0, 0, "wce/focal: class weights from label frequencies"},
        {"focal-gamma", CLI_DOUBLE, &a->focal_gamma, 0, 10, "focal loss gamma"},
        {"balance", CLI_INT, &a->balance, 1, 100, "repeat each denied claim this many times per epoch"},
        {"head-hidden", CLI_INT, &a->head_hidden, 0, 65536, "decision head hidden width (0: linear head)"},
        {"pool-heads", CLI_INT, &a->pool_heads, 1, 64, "queries of the decision's attention pooling"},
        {"decision-grad-cut", CLI_DOUBLE, &a->grad_cut, 0, 1,
         "share of the decision loss's gradient kept out of the transformer (1: it learns from the LM loss only)"},
        {"surprisal", CLI_FLAG, &a->surprisal, 0, 0, "feed the LM's per-token surprisal into the decision pooling"},
        {"tabular", CLI_FLAG, &a->tabular, 0, 0,
         "feed the claim's structured facts (age, sex, fee ratio, code limits, history) to the decision head"},
        {"head-epochs", CLI_INT, &a->head_epochs, 0, 100000,
         "after the last step, refit the decision head on frozen features for this many epochs (0: off)"},
        {"head-fit-lr", CLI_DOUBLE, &a->head_fit_lr, 1e-6, 1, "AdamW lr of the head refit"},
        {"head-fit-negatives", CLI_DOUBLE, &a->head_fit_neg, 0.001, 1,
         "share of approved training claims the head refit reads (each weighted up to match)"},
        {"code-weight", CLI_DOUBLE, &a->code_weight, 0.01, 100, "LM loss weight of medical-code targets"},
        {"eval-every", CLI_INT, &a->eval_every, 0, 1e9, "evaluate every K steps (0: only at the end)"},
        {"ckpt-every", CLI_INT, &a->ckpt_every, 0, 1e9, "checkpoint every M steps (0: only at the end)"},
        {"norms-every", CLI_INT, &a->norms_every, 0, 1e9, "log per-layer gradient/update norms every K steps"},
        {"dp", CLI_FLAG, &a->dp, 0, 0,
         "DP-SGD: Poisson-sampled units, per-unit clipping, Gaussian noise, epsilon reported (replaces --accum and "
         "--clip)"},
        {"dp-unit", CLI_STRING, &a->dp_unit, 0, 0, "DP privacy unit: patient (all claims of a member) | claim"},
        {"dp-clip", CLI_DOUBLE, &a->dp_clip, 1e-9, 1e9, "DP per-unit gradient norm bound C"},
        {"dp-sigma", CLI_DOUBLE, &a->dp_sigma, 0, 1e4, "DP noise multiplier, noise std sigma*C (0: from --dp-epsilon)"},
        {"dp-epsilon", CLI_DOUBLE, &a->dp_epsilon, 0, 1e4,
         "DP target epsilon after --steps, sigma computed for it (0: give --dp-sigma)"},
        {"dp-delta", CLI_DOUBLE, &a->dp_delta, 1e-300, 0.5, "DP delta"},
        {"dp-rate", CLI_DOUBLE, &a->dp_rate, 0, 1, "DP sampling probability q of a unit per step (0: from --dp-batch)"},
        {"dp-batch", CLI_INT, &a->dp_batch, 0, 1e9,
         "DP expected units per step, q = batch / units (0: 64 unless --dp-rate)"},
        {"strict", CLI_FLAG, &a->strict, 0, 0, "a malformed claim line is fatal"},
        {"quiet", CLI_FLAG, &a->quiet, 0, 0, "no progress lines"},
    };
    _Static_assert(sizeof opts <= TRAIN_MAX_OPTS * sizeof opts[0], "raise TRAIN_MAX_OPTS");
    memcpy(o, opts, sizeof opts);
    int n = (int)(sizeof opts / sizeof opts[0]);
    int rc = cli_parse("train_claims", "Trains the claims adjudication transformer.", o, n, argc, argv);
    if (rc) return rc;
    if (!a->train || !a->valid) {
        fprintf(stderr, "train_claims: --train and --valid are required (see --help)\n");
        return 2;
    }
    const char *bad = NULL;
    if (a->dp && strcmp(a->dp_unit, "patient") && strcmp(a->dp_unit, "claim"))
        bad = "--dp-unit must be patient or claim";
    else if (a->dp && (a->dp_sigma > 0) == (a->dp_epsilon > 0))
        bad = "--dp needs exactly one of --dp-sigma and --dp-epsilon";
    else if (a->dp && a->dp_rate > 0 && a->dp_batch > 0)
        bad = "give --dp-rate or --dp-batch, not both";
    else if (!a->dp && (a->dp_sigma > 0 || a->dp_epsilon > 0 || a->dp_rate > 0 || a->dp_batch > 0))
        bad = "--dp-* options need --dp";
    if (bad) {
        fprintf(stderr, "train_claims: %s (see --help)\n", bad);
        return 2;
    }
    return 0;
}

/* DP-SGD options: units, sampling rate, and sigma from the target epsilon
 * for the planned steps when asked. */
static int build_dp(const args *a, const claims_dataset *train, claims_dpsgd_opts *o, int32_t **unit)
{
    *o = (claims_dpsgd_opts){
        .patient = !strcmp(a->dp_unit, "patient"), .clip = a->dp_clip, .sigma = a->dp_sigma, .delta = a->dp_delta};
    if (claims_dpsgd_units(train, o->patient, unit, &o->n_units) != TG_OK) {
        fprintf(stderr, "train_claims: %s\n", tg_last_error());
        return 1;
    }
    o->unit = *unit;
    o->rate = a->dp_rate > 0 ? a->dp_rate : (double)(a->dp_batch > 0 ? a->dp_batch : 64) / o->n_units;
    if (o->rate > 1) {
        fprintf(stderr, "train_claims: --dp-batch %ld exceeds the %d units (%s)\n", a->dp_batch, o->n_units,
                a->dp_unit);
        return 2;
    }
    if (a->dp_epsilon > 0 && tg_rdp_sigma_for_epsilon(o->rate, a->steps, o->delta, a->dp_epsilon, &o->sigma) != TG_OK) {
        fprintf(stderr, "train_claims: --dp-epsilon: %s\n", tg_last_error());
        return 2;
    }
    double eps = INFINITY;
    if (o->sigma > 0) tg_rdp_epsilon(o->rate, o->sigma, a->steps, o->delta, &eps, NULL);
    printf("DP-SGD: unit %s (%d units), sample rate %.5g (%.1f units/step expected), clip %g, sigma %.4g, delta %g: "
           "epsilon %.3g after %ld steps (RDP accountant)\n",
           a->dp_unit, o->n_units, o->rate, o->rate * o->n_units, o->clip, o->sigma, o->delta, eps, a->steps);
    return 0;
}

/* Model and training options from the parsed arguments. */
static int build_opts(const args *a, const claims_dataset *train, int32_t vocab, claims_train_opts *t)
{
    claims_model_config *m = &t->model;
    *t = (claims_train_opts){0};
    m->gpt = (tg_gpt_config){.vocab = vocab,
                             .dim = a->d,
                             .heads = a->heads,
                             .hidden = a->ff,
                             .max_seq = a->ctx,
                             .n_layers = (int)a->layers,
                             .dropout = a->dropout,
                             .tied = true};
    m->lambda = a->lambda;
    m->costs = (claims_costs){.c = {{0, a->cost_fr}, {a->cost_fa, 0}}};
    m->focal_gamma = a->focal_gamma;
    m->code_weight = a->code_weight;
    m->head_hidden = (int)a->head_hidden;
    m->surprisal = a->surprisal;
    m->tabular = a->tabular;
    m->pool_heads = (int)a->pool_heads;
    m->decision_grad_cut = a->grad_cut;
    t->head_fit = (claims_head_fit_opts){.epochs = (int)a->head_epochs,
                                         .lr = a->head_fit_lr,
                                         .weight_decay = a->weight_decay,
                                         .neg_keep = a->head_fit_neg,
                                         .seed = a->seed};
    m->class_weight[0] = m->class_weight[1] = 1.0;
    if (a->class_weights) { /* inverse frequency, normalized to mean 1 over claims */
        double pos = 0;
        for (size_t i = 0; i < train->n; i++) pos += train->claims[i].deny;
        double n = (double)train->n, neg = n - pos;
        m->class_weight[0] = neg > 0 ? n / (2 * neg) : 1.0;
        m->class_weight[1] = pos > 0 ? n / (2 * pos) : 1.0;
    }
    if (claims_decision_loss_parse(a->decision_loss, &m->decision) != TG_OK) {
        fprintf(stderr, "train_claims: --decision-loss: %s\n", tg_last_error());
        return 2;
    }
    tg_sched_kind kind;
    if (tg_sched_kind_parse(a->schedule, &kind) != TG_OK) {
        fprintf(stderr, "train_claims: --schedule: %s\n", tg_last_error());
        return 2;
    }
    t->sched = (tg_sched){.kind = kind,
                          .lr = a->lr,
                          .warmup = a->warmup,
                          .total_steps = a->steps,
                          .min_lr = a->min_lr,
                          .d_model = a->d,
                          .gamma = 0.5,
                          .every = a->steps / 3 > 0 ? a->steps / 3 : 1};
    t->batch = (claims_batch_opts){.ctx = (int)a->ctx, .token_budget = a->budget, .pos_repeat = (int)a->balance};
    t->steps = a->steps;
    t->accum = (int)a->accum;
    t->clip = a->clip;
    t->weight_decay = a->weight_decay;
    t->seed = (uint64_t)a->seed;
    t->bf16 = a->bf16;
    t->eval_every = a->eval_every;
    t->ckpt_every = a->ckpt_every;
    t->norms_every = a->norms_every;
    t->out_dir = a->out;
    t->resume = a->resume;
    return 0;
}

static int fail(const char *what)
{
    if (getenv("TG_PROFILE")) tg_profile_print(stderr);
    if (tg_parallel_size() > 1) {
        fprintf(stderr, "train_claims (rank %d of %d): %s: %s\n", tg_parallel_rank(), tg_parallel_size(), what,
                tg_last_error());
        tg_parallel_abort(1); /* the other ranks would wait for this one forever */
    }
    fprintf(stderr, "train_claims: %s: %s\n", what, tg_last_error());
    return 1;
}

/* Threads per rank when neither --threads nor OMP_NUM_THREADS says: the
 * cores shared by the ranks on this machine. */
static int default_threads(long threads)
{
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (threads > 0 || getenv("OMP_NUM_THREADS") || !local || atoi(local) <= 1) return (int)threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN) / atoi(local);
    return cores > 1 ? (int)cores : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress stays in order when piped */
    if (tg_parallel_init(&argc, &argv) != TG_OK) return fail("starting MPI");
    if (tg_parallel_rank() != 0 && !freopen("/dev/null", "w", stdout)) return fail("stdout"); /* rank 0 reports */
    args a;
    cli_opt opts[TRAIN_MAX_OPTS];
    int rc = setup_options(&a, opts, argc, argv);
    if (rc) {
        tg_parallel_finalize();
        return rc == 1 ? 0 : rc;
    }
    tg_ctx_opts co = {.threads = default_threads(a.threads), .seed = (uint64_t)a.seed};
    tg_ctx *ctx = tg_ctx_create(&co);
    if (!ctx) return fail("context");
    printf("tensorgrad train_claims on %s, %d threads", tg_cpu_model(), tg_ctx_threads(ctx));
    if (tg_parallel_size() > 1) printf(" x %d ranks (global batch %ld micro-batches)", tg_parallel_size(), a.accum);
    printf("\n");
    if (a.accum < tg_parallel_size())
        printf("warning: --accum %ld < %d ranks: %d ranks have no micro-batch to compute each step\n", a.accum,
               tg_parallel_size(), tg_parallel_size() - (int)a.accum);

    claims_codes *codes = NULL;
    if (claims_codes_load(a.codes, &codes) != TG_OK) return fail("--codes");
    claims_dataset train = {0}, valid = {0};
    if (load(a.train, &a, codes, &train) || load(a.valid, &a, codes, &valid)) return 1;

    char tok_path[1024];
    claims_tokenizer *tok = NULL;
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", a.out);
    if (mkdir_p(a.out) != 0) return fail("--out");
    if (a.tokenizer || a.resume) {
        const char *from = a.tokenizer ? a.tokenizer : tok_path;
        if (claims_tok_load(from, &tok) != TG_OK) return fail("tokenizer");
    } else if (claims_tokenizer_fit(&train, NULL, 0, (int32_t)a.vocab, codes, &tok) != TG_OK) {
        return fail("training the tokenizer");
    }
    /* every rank fits the same tokenizer from the same data; rank 0 saves it */
    if (!a.resume && tg_parallel_rank() == 0 && claims_tok_save(tok, tok_path) != TG_OK)
        return fail("saving the tokenizer");
    printf("tokenizer: %d ids (%d medical codes, %d merges)\n", claims_tok_vocab_size(tok), claims_tok_n_codes(tok),
           claims_tok_n_merges(tok));

    /* from the training claims, as eval_claims rebuilds them */
    char *stats_json = NULL;
    if (claims_provider_stats_fill(&train, &valid, &stats_json) != TG_OK) return fail("provider statistics");
    /* what scoring needs besides the weights travels in every checkpoint */
    char *artifact = claims_artifact_to_json(tok, stats_json, codes->hash);
    free(stats_json);
    if (!artifact) return fail("model artifact");
    claims_corpus ctrain, cvalid;
    if (claims_corpus_build(&train, NULL, 0, tok, &ctrain) != TG_OK ||
        claims_corpus_build(&valid, NULL, 0, tok, &cvalid) != TG_OK)
        return fail("tokenizing claims");
    uint8_t *is_code, *is_rare;
    if (claims_code_masks(tok, &ctrain, &is_code, &is_rare) != TG_OK) return fail("code masks");

    claims_train_opts t;
    if ((rc = build_opts(&a, &train, claims_tok_vocab_size(tok), &t))) return rc;
    t.tokenizer_name = "tokenizer.json";
    t.artifact_json = artifact;
    claims_dpsgd_opts dpo;
    int32_t *dp_unit = NULL;
    if (a.dp && (rc = build_dp(&a, &train, &dpo, &dp_unit))) return rc;
    if (a.dp) t.dp = &dpo;
    claims_plan plan;
    if (claims_plan_epoch(ctrain.len, ctrain.label, ctrain.n, &t.batch, t.seed, 0, &plan) != TG_OK)
        return fail("batching");
    printf("train: %d claims, %lld tokens, %d batches/epoch, padding waste %.1f%%; valid: %d claims\n", ctrain.n,
           (long long)ctrain.total_tokens, plan.n_batches, 100 * claims_plan_padding_waste(&plan), cvalid.n);
    claims_plan_free(&plan);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    claims_model m;
    double threshold;
    tg_status st = claims_train(&t, &ctrain, &cvalid, is_code, is_rare, progress, &a, &stop_requested, &m, &threshold);
    if (st != TG_OK) return fail("training");
    if (stop_requested)
        printf("stopped by signal; checkpoint written, continue with --resume\n");
    else
        printf("done: %lld steps; decision threshold %.4f (chosen on validation)\n", (long long)t.steps, threshold);

    char metrics[1100], report[1100];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", a.out);
    snprintf(report, sizeof report, "%s/report.html", a.out);
    if (tg_parallel_rank() == 0 && claims_report_write(metrics, report, "tensorgrad claims training") != TG_OK)
        return fail("report");
    printf("wrote %s/checkpoint.safetensors, %s, %s\n", a.out, metrics, report);
    if (getenv("TG_PROFILE")) tg_profile_print(stderr);

    claims_model_free(&m);
    free(artifact);
    free(dp_unit);
    free(is_code);
    free(is_rare);
    claims_corpus_free(&ctrain);
    claims_corpus_free(&cvalid);
    claims_tok_free(tok);
    claims_dataset_free(&train);
    claims_dataset_free(&valid);
    claims_codes_free(codes);
    tg_ctx_destroy(ctx);
    tg_parallel_finalize();
    return stop_requested ? 130 : 0;
}
