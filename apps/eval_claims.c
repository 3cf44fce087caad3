/* eval_claims: evaluates a trained claims checkpoint on any JSONL split with
 * the decision threshold chosen on validation during training, and writes
 * the split's HTML report. With --json, stdout holds only the JSON line. */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/cli.h"
#include "models/claims/model/artifact.h"
#include "models/claims/model/config.h"
#include "models/claims/text/corpus.h"
#include "models/claims/data/provider_stats.h"
#include "models/claims/eval/eval_report.h"
#include "models/claims/eval/evaluate.h"
#include "optim/checkpoint.h"
#include "tensor/ctx.h"

static int fail(const char *what)
{
    fprintf(stderr, "eval_claims: %s: %s\n", what, tg_last_error());
    return 1;
}

static void reject(void *user, const char *path, long line, const char *reason)
{
    long *count = user;
    if (++*count <= 20)
        fprintf(stderr, "%s:%ld: skipped: %s\n", path, line, reason);
    else if (*count == 21)
        fprintf(stderr, "%s: more malformed lines (counted, not printed)\n", path);
}

/* The model and tokenizer a checkpoint was trained with (the tokenizer from
 * its artifact, or from the file beside an older checkpoint). */
static int load_model(const char *ckpt, claims_model *m, claims_batch_opts *bo, claims_tokenizer **tok, double *thr)
{
    char *config = NULL, tok_name[512], dir[1024];
    claims_model_config mc;
    claims_artifact art;
    if (tg_checkpoint_read_config(ckpt, &config) != TG_OK) return fail("--model");
    if (claims_config_from_json(config, ckpt, &mc, bo, tok_name, sizeof tok_name, thr) != TG_OK) return fail("--model");
    snprintf(dir, sizeof dir, "%s", ckpt);
    tg_status st = claims_artifact_from_config(config, ckpt, dirname(dir), &art);
    free(config);
    if (st != TG_OK) return fail("tokenizer");
    *tok = art.tok;
    art.tok = NULL;
    claims_artifact_free(&art);
    if (claims_model_init(m, &mc, 0) != TG_OK) return fail("model");
    if (tg_checkpoint_load(ckpt, m->gpt.params, NULL, NULL, NULL, NULL) != TG_OK) return fail("--model");
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* report_<data file name without its extension>.html beside the checkpoint. */
static void default_report_path(const char *model, const char *data, char *out, size_t len)
{
    char dir[1024], name[512];
    snprintf(dir, sizeof dir, "%s", model);
    snprintf(name, sizeof name, "%s", data);
    char *stem = basename(name), *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    snprintf(out, len, "%s/report_%s.html", dirname(dir), stem);
}

/* The split's HTML report, with the run configuration from the checkpoint. */
static int write_report(const char *path, const char *model, const char *data, const claims_dataset *ds,
                        const claims_model *m, const claims_eval *e, const claims_eval_scores *sc, time_t started,
                        double t0)
{
    char *config = NULL;
    if (tg_checkpoint_read_config(model, &config) != TG_OK) return fail("--model");
    claims_eval_report r = {.model_path = model,
                            .data_path = data,
                            .eval = e,
                            .scores = sc,
                            .costs = m->cfg.costs,
                            .config_json = config,
                            .read = ds->summary,
                            .started = started,
                            .duration_s = now_s() - t0};
    tg_status st = claims_eval_report_write(path, &r);
    free(config);
    return st == TG_OK ? 0 : fail("--report");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress stays in order when piped */
    const double t0 = now_s();
    const time_t started = time(NULL);
    const char *model = NULL, *data = NULL, *codes_path = cli_data_file("codes.tsv");
    const char *train_path = NULL, *report = NULL;
    long threads = 0;
    bool strict = false, json = false, no_report = false;
    cli_opt opts[] = {
        {"model", CLI_STRING, &model, 0, 0, "checkpoint written by train_claims, required"},
        {"data", CLI_STRING, &data, 0, 0, "claims to evaluate (JSONL), required"},
        {"train", CLI_STRING, &train_path, 0, 0,
         "training claims: rare codes and provider statistics (required for --tabular models)"},
        {"codes", CLI_STRING, &codes_path, 0, 0, "code table (TSV)"},
        {"threads", CLI_INT, &threads, 0, 1024, "threads (0: default)"},
        {"strict", CLI_FLAG, &strict, 0, 0, "a malformed claim line is fatal"},
        {"json", CLI_FLAG, &json, 0, 0, "print the evaluation as one JSON line, alone on stdout (status to stderr)"},
        {"report", CLI_STRING, &report, 0, 0,
         "HTML report of the split (default: report_<data stem>.html beside --model)"},
        {"no-report", CLI_FLAG, &no_report, 0, 0, "write no HTML report"},
    };
    int rc = cli_parse("eval_claims", "Evaluates a claims checkpoint on a JSONL split and writes its HTML report.",
                       opts, (int)(sizeof opts / sizeof *opts), argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model || !data) {
        fprintf(stderr, "eval_claims: --model and --data are required (see --help)\n");
        return 2;
    }
    tg_ctx_opts co = {.threads = (int)threads};
    tg_ctx *ctx = tg_ctx_create(&co);
    if (!ctx) return fail("context");
    claims_codes *codes;
    if (claims_codes_load(codes_path, &codes) != TG_OK) return fail("--codes");
    claims_model m;
    claims_batch_opts bo;
    claims_tokenizer *tok = NULL;
    double thr;
    if (load_model(model, &m, &bo, &tok, &thr)) return 1;

    FILE *status = json ? stderr : stdout; /* --json: stdout is for the JSON line alone */
    long rejected = 0;
    claims_read_opts ro = {.strict = strict, .codes = codes, .on_reject = reject, .reject_user = &rejected};
    claims_dataset ds = {0}, tr = {0};
    if (claims_dataset_load(data, &ro, &ds) != TG_OK) return fail("--data");
    fprintf(status, "%s: %ld lines read, %ld used, %ld rejected\n", data, ds.summary.lines_read, ds.summary.used,
            ds.summary.rejected);
    if (ds.n == 0) {
        fprintf(stderr, "eval_claims: %s holds no usable claim (%ld lines read, %ld rejected, %ld blank)\n", data,
                ds.summary.lines_read, ds.summary.rejected, ds.summary.blank);
        return 1;
    }
    if (m.cfg.tabular && !train_path) {
        fprintf(stderr, "eval_claims: %s reads provider statistics built from the training claims: pass --train\n",
                model);
        return 2;
    }
    claims_corpus c, ctr = {0};
    if (train_path && claims_dataset_load(train_path, &ro, &tr) != TG_OK) return fail("--train");
    if (train_path && claims_provider_stats_fill(&tr, &ds, NULL) != TG_OK)
        return fail("provider statistics"); /* as train_claims */
    if (claims_corpus_build(&ds, NULL, 0, tok, &c) != TG_OK) return fail("tokenizing");
    if (train_path && claims_corpus_build(&tr, NULL, 0, tok, &ctr) != TG_OK) return fail("--train");
    uint8_t *is_code, *is_rare;
    if (claims_code_masks(tok, train_path ? &ctr : &c, &is_code, &is_rare) != TG_OK) return fail("code masks");
    claims_eval e;
    claims_eval_scores sc;
    if (claims_evaluate_scores(&m, &c, &bo, is_code, is_rare, thr, &e, &sc) != TG_OK) return fail("evaluation");
    if (json) {
        claims_eval_write_json(stdout, 0, &e);
    } else {
        printf("claims %lld, tokens %lld (codes %lld, rare codes %lld)\n", (long long)e.docs, (long long)e.tokens,
               (long long)e.code_tokens, (long long)e.rare_code_tokens);
        printf("lm loss %.4f  token acc %.4f  code token acc %.4f  rare code token acc %.4f\n", e.val_lm_loss,
               e.token_acc, e.code_token_acc, e.rare_code_token_acc);
        printf("decision: auc %.4f  pr_auc %.4f  accuracy %.4f  precision %.4f  recall %.4f  (threshold %.4f)\n", e.auc,
               e.pr_auc, e.decision_acc, e.precision, e.recall, e.threshold);
        printf("confusion: tn %lld fp %lld fn %lld tp %lld\n", (long long)e.confusion.tn, (long long)e.confusion.fp,
               (long long)e.confusion.fn, (long long)e.confusion.tp);
        printf("business cost %.0f  (always approve %.0f, always deny %.0f)\n", e.business_cost,
               e.baseline_cost_always_approve, e.baseline_cost_always_deny);
        for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++)
            if (e.reason_n[r])
                printf("  deny reason %-9s claims %4lld  recall %.3f  auc %.3f\n",
                       claims_deny_reason_name((claims_deny_reason)r), (long long)e.reason_n[r], e.reason_recall[r],
                       e.reason_auc[r]);
    }
    if (!no_report) {
        char report_path[1600];
        if (report)
            snprintf(report_path, sizeof report_path, "%s", report);
        else
            default_report_path(model, data, report_path, sizeof report_path);
        if (write_report(report_path, model, data, &ds, &m, &e, &sc, started, t0)) return 1;
        fprintf(status, "report: %s\n", report_path);
    }
    claims_eval_scores_free(&sc);
    free(is_code);
    free(is_rare);
    claims_corpus_free(&c);
    claims_corpus_free(&ctr);
    claims_dataset_free(&ds);
    claims_dataset_free(&tr);
    claims_model_free(&m);
    claims_tok_free(tok);
    claims_codes_free(codes);
    tg_ctx_destroy(ctx);
    return 0;
}
