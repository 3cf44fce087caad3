/* eval_claims: evaluates a trained claims checkpoint on any JSONL split with
 * the decision threshold chosen on validation during training. */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "models/claims/model/artifact.h"
#include "models/claims/model/config.h"
#include "models/claims/text/corpus.h"
#include "models/claims/data/provider_stats.h"
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
    if (++*count <= 20) fprintf(stderr, "%s:%ld: skipped: %s\n", path, line, reason);
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

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress stays in order when piped */
    const char *model = NULL, *data = NULL, *codes_path = cli_data_file("codes.tsv");
    const char *train_path = NULL;
    long threads = 0;
    bool strict = false, json = false;
    cli_opt opts[] = {
        {"model", CLI_STRING, &model, 0, 0, "checkpoint written by train_claims, required"},
        {"data", CLI_STRING, &data, 0, 0, "claims to evaluate (JSONL), required"},
        {"train", CLI_STRING, &train_path, 0, 0, "training claims: rare codes and provider statistics (required for --tabular models)"},
        {"codes", CLI_STRING, &codes_path, 0, 0, "code table (TSV)"},
        {"threads", CLI_INT, &threads, 0, 1024, "threads (0: default)"},
        {"strict", CLI_FLAG, &strict, 0, 0, "a malformed claim line is fatal"},
        {"json", CLI_FLAG, &json, 0, 0, "print the evaluation as one JSON line"},
    };
    int rc = cli_parse("eval_claims", "Evaluates a claims checkpoint.", opts, (int)(sizeof opts / sizeof *opts), argc, argv);
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

    long rejected = 0;
    claims_read_opts ro = {.strict = strict, .codes = codes, .on_reject = reject, .reject_user = &rejected};
    claims_dataset ds = {0}, tr = {0};
    if (claims_dataset_load(data, &ro, &ds) != TG_OK) return fail("--data");
    printf("%s: %ld lines read, %ld used, %ld rejected\n", data, ds.summary.lines_read, ds.summary.used,
           ds.summary.rejected);
    if (m.cfg.tabular && !train_path) {
        fprintf(stderr, "eval_claims: %s reads provider statistics built from the training claims: pass --train\n", model);
        return 2;
    }
    claims_corpus c, ctr = {0};
    if (train_path && claims_dataset_load(train_path, &ro, &tr) != TG_OK) return fail("--train");
    if (train_path && claims_provider_stats_fill(&tr, &ds, NULL) != TG_OK) return fail("provider statistics"); /* as train_claims */
    if (claims_corpus_build(&ds, NULL, 0, tok, &c) != TG_OK) return fail("tokenizing");
    if (train_path && claims_corpus_build(&tr, NULL, 0, tok, &ctr) != TG_OK) return fail("--train");
    uint8_t *is_code, *is_rare;
    if (claims_code_masks(tok, train_path ? &ctr : &c, &is_code, &is_rare) != TG_OK) return fail("code masks");
    claims_eval e;
    if (claims_evaluate(&m, &c, &bo, is_code, is_rare, thr, &e) != TG_OK) return fail("evaluation");
    if (json) {
        claims_eval_write_json(stdout, 0, &e);
    } else {
        printf("claims %lld, tokens %lld (codes %lld, rare codes %lld)\n", (long long)e.docs, (long long)e.tokens,
               (long long)e.code_tokens, (long long)e.rare_code_tokens);
        printf("lm loss %.4f  token acc %.4f  code token acc %.4f  rare code token acc %.4f\n", e.val_lm_loss,
               e.token_acc, e.code_token_acc, e.rare_code_token_acc);
        printf("decision: auc %.4f  pr_auc %.4f  accuracy %.4f  precision %.4f  recall %.4f  (threshold %.4f)\n",
               e.auc, e.pr_auc, e.decision_acc, e.precision, e.recall, e.threshold);
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
