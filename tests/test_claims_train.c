/* End-to-end claims training on a tiny generated dataset: validation loss
 * falls, resuming from a checkpoint reproduces the uninterrupted run bit for
 * bit, and the report is written. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/text/corpus.h"
#include "models/claims/synth/gen.h"
#include "models/claims/eval/report.h"
#include "models/claims/train/trainer.h"
#include "tests/claims_fixture.h"
#include "tests/tg_test.h"

static claims_fixture fx;

/* 240 generated claims without long notes, split 200 / 40 by patient. */
static void data_setup(void) { claims_fixture_setup(&fx, 240, 3); }

static void data_teardown(void) { claims_fixture_teardown(&fx); }

static claims_train_opts tiny_opts(const char *out, int64_t steps)
{
    claims_train_opts o = {0};
    o.model.gpt = (tg_gpt_config){.vocab = claims_tok_vocab_size(fx.tok),
                                  .dim = 32,
                                  .heads = 2,
                                  .hidden = 64,
                                  .max_seq = 64,
                                  .n_layers = 1,
                                  .dropout = 0.1,
                                  .tied = true};
    o.model.lambda = 1.0;
    o.model.costs = claims_costs_default();
    o.model.code_weight = 2.0;
    o.batch = (claims_batch_opts){.ctx = 64, .token_budget = 2048, .pos_repeat = 2};
    o.steps = steps;
    o.accum = 2;
    o.sched = (tg_sched){.kind = TG_SCHED_COSINE, .lr = 3e-3, .warmup = 3, .total_steps = 20, .min_lr = 3e-4};
    o.clip = 1.0;
    o.weight_decay = 0.1;
    o.seed = 11;
    o.eval_every = 10;
    o.ckpt_every = 10;
    o.out_dir = out;
    o.tokenizer_name = "tokenizer.json";
    return o;
}

static void run_as(const char *sub, int64_t steps, const char *resume, bool bf16, claims_eval *last)
{
    char out[512];
    snprintf(out, sizeof out, "%s", tg_test_path(sub));
    claims_train_opts o = tiny_opts(out, steps);
    o.resume = resume;
    o.bf16 = bf16;
    claims_model m;
    double thr;
    ck_assert_msg(claims_train(&o, &fx.train, &fx.valid, fx.is_code, fx.is_rare, NULL, NULL, NULL, &m, &thr) == TG_OK,
                  "%s", tg_last_error());
    if (last) ck_assert_int_eq(claims_evaluate(&m, &fx.valid, &o.batch, fx.is_code, fx.is_rare, thr, last), TG_OK);
    claims_model_free(&m);
}

static void run(const char *sub, int64_t steps, const char *resume, claims_eval *last)
{
    run_as(sub, steps, resume, false, last);
}

START_TEST(test_validation_loss_falls_and_report)
{
    claims_model m0;
    claims_train_opts o = tiny_opts("unused", 1);
    ck_assert_int_eq(claims_model_init(&m0, &o.model, o.seed), TG_OK);
    claims_eval before, after;
    ck_assert_int_eq(claims_evaluate(&m0, &fx.valid, &o.batch, fx.is_code, fx.is_rare, NAN, &before), TG_OK);
    claims_model_free(&m0);
    run("a", 20, NULL, &after);
    ck_assert_msg(after.val_lm_loss < before.val_lm_loss - 0.5, "val loss %.3f -> %.3f", before.val_lm_loss,
                  after.val_lm_loss);
    ck_assert_int_gt(after.code_tokens, 0);
    int64_t named = 0, denied = 0;
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++) named += after.reason_n[r];
    for (int32_t i = 0; i < fx.valid.n; i++) denied += fx.valid.label[i];
    ck_assert_int_ge(named, denied); /* every generated denial names its reasons */
    ck_assert_int_gt(denied, 0);
    size_t mlen;
    char *mj = (char *)tg_test_read_file(tg_test_path("a/metrics.jsonl"), &mlen);
    ck_assert_ptr_nonnull(strstr(mj, ",\"by_reason\":{\"mismatch\":{\"n\":"));
    free(mj);
    char metrics[600], report[600];
    snprintf(metrics, sizeof metrics, "%s", tg_test_path("a/metrics.jsonl"));
    snprintf(report, sizeof report, "%s", tg_test_path("a/report.html"));
    ck_assert_int_eq(claims_report_write(metrics, report, "test"), TG_OK);
    FILE *f = fopen(report, "r");
    char buf[4096] = {0};
    ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 100);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "<svg"));
}
END_TEST

static tg_st_file *open_ckpt(const char *sub)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s/checkpoint.safetensors", tg_test_scratch(), sub);
    tg_st_file *f = tg_st_open(path);
    ck_assert_msg(f != NULL, "%s", tg_last_error());
    return f;
}

START_TEST(test_resume_is_bitwise_identical)
{
    run("straight", 20, NULL, NULL);
    run("first", 10, NULL, NULL);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s", tg_test_path("first/checkpoint.safetensors"));
    run("second", 20, ckpt, NULL);
    tg_st_file *a = open_ckpt("straight"), *b = open_ckpt("second");
    ck_assert_int_eq(tg_st_count(a), tg_st_count(b));
    int compared = 0;
    for (int i = 0; i < tg_st_count(a); i++) {
        const char *name = tg_st_name(a, i);
        tg_st_entry ea, eb;
        ck_assert_int_eq(tg_st_find(a, name, &ea), TG_OK);
        ck_assert_msg(tg_st_find(b, name, &eb) == TG_OK, "%s missing after resume", name);
        ck_assert_uint_eq(ea.nbytes, eb.nbytes);
        ck_assert_msg(memcmp(ea.data, eb.data, ea.nbytes) == 0, "%s differs after resume", name);
        compared++;
    }
    ck_assert_int_gt(compared, 20);
    tg_st_close(a);
    tg_st_close(b);
}
END_TEST

/* Raises the stop flag once step 5 is done, as a SIGINT handler would. */
static void stop_at_5(void *user, const claims_progress *p)
{
    if (p->step == 5) *(volatile sig_atomic_t *)user = 1;
}

START_TEST(test_stop_writes_checkpoint_and_resumes)
{
    run("ten", 10, NULL, NULL);
    volatile sig_atomic_t stop = 0;
    claims_train_opts o = tiny_opts(tg_test_path("stopped"), 10);
    claims_model m;
    double thr;
    ck_assert_int_eq(
        claims_train(&o, &fx.train, &fx.valid, fx.is_code, fx.is_rare, stop_at_5, (void *)&stop, &stop, &m, &thr),
        TG_OK);
    claims_model_free(&m);
    size_t len;
    char *metrics = (char *)tg_test_read_file(tg_test_path("stopped/metrics.jsonl"), &len);
    ck_assert_ptr_nonnull(strstr(metrics, "{\"step\":5,"));
    ck_assert_ptr_null(strstr(metrics, "{\"step\":6,"));
    free(metrics);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s", tg_test_path("stopped/checkpoint.safetensors"));
    run("resumed", 10, ckpt, NULL);
    tg_st_file *a = open_ckpt("ten"), *b = open_ckpt("resumed");
    for (int i = 0; i < tg_st_count(a); i++) {
        tg_st_entry ea, eb;
        ck_assert_int_eq(tg_st_find(a, tg_st_name(a, i), &ea), TG_OK);
        ck_assert_int_eq(tg_st_find(b, tg_st_name(a, i), &eb), TG_OK);
        ck_assert_msg(ea.nbytes == eb.nbytes && !memcmp(ea.data, eb.data, ea.nbytes), "%s differs", ea.name);
    }
    tg_st_close(a);
    tg_st_close(b);
}
END_TEST

START_TEST(test_bf16_training_tracks_f32)
{
    claims_eval f32, bf16;
    run_as("f32", 10, NULL, false, &f32);
    run_as("bf16", 10, NULL, true, &bf16);
    ck_assert_msg(fabs(bf16.val_lm_loss - f32.val_lm_loss) <= 0.02 * f32.val_lm_loss, "val loss f32 %.4f bf16 %.4f",
                  f32.val_lm_loss, bf16.val_lm_loss);
    size_t len;
    char *m = (char *)tg_test_read_file(tg_test_path("bf16/metrics.jsonl"), &len);
    ck_assert_ptr_nonnull(strstr(m, "\"loss_scale\":65536"));
    ck_assert_ptr_nonnull(strstr(m, "\"skipped_total\":0"));
    free(m);
}
END_TEST

typedef struct model_case {
    claims_model *m;
    claims_batch *b;
    int32_t *labels;
} model_case;

static tg_tensor *model_loss(tg_tensor *const *in, int n_in, void *user)
{
    (void)in;
    (void)n_in;
    model_case *c = user;
    claims_forward f;
    return claims_model_forward(c->m, c->b, c->labels, fx.valid.features, fx.is_code, 0, 0, false, false, &f) == TG_OK
               ? f.loss
               : NULL;
}

/* The first batch of a 512-token plan over the validation claims, labelled
 * approve / deny alternately (labels holds 64). */
static void first_batch(claims_train_opts *o, claims_plan *plan, claims_batch *b, int32_t *labels)
{
    o->batch.token_budget = 512;
    ck_assert_int_eq(claims_plan_epoch(fx.valid.len, fx.valid.label, fx.valid.n, &o->batch, 1, 0, plan), TG_OK);
    ck_assert_int_eq(claims_batch_fill(plan, 0, (const int32_t *const *)fx.valid.tokens, CLAIMS_TOK_PAD, b), TG_OK);
    ck_assert_int_le(b->n_docs, 64);
    for (int32_t d = 0; d < b->n_docs; d++) labels[d] = d % 2;
}

/* The MLP head, several pooling queries, the surprisal input and the
 * claims' structured facts: named parameters and sizes, gradients through
 * the whole model (surprisal itself is detached) against finite
 * differences, surprise.weight changes the decision once it is nonzero, the
 * facts change it, and a tabular model without facts is an error. */
START_TEST(test_decision_head_options)
{
    claims_train_opts o = tiny_opts("unused", 1);
    o.model.gpt.dropout = 0;
    o.model.head_hidden = 16;
    o.model.surprisal = true;
    o.model.pool_heads = 3;
    o.model.tabular = true;
    o.model.decision = CLAIMS_LOSS_WCE;
    o.model.class_weight[0] = 0.6;
    o.model.class_weight[1] = 3.0;
    o.model.lambda = 2.0;
    claims_model m;
    ck_assert_int_eq(claims_model_init(&m, &o.model, 5), TG_OK);
    int named = 0;
    for (int i = 0; i < tg_param_set_count(m.gpt.params); i++) {
        const char *name = tg_param_set_name(m.gpt.params, i);
        named += !strcmp(name, "surprise.weight") || !strcmp(name, "head_fc.weight") || !strcmp(name, "head_fc.bias");
    }
    ck_assert_int_eq(named, 3);
    const int64_t D = o.model.gpt.dim;
    ck_assert_int_eq(tg_tensor_numel(m.pool.weight), 3 * D);
    ck_assert_int_eq(tg_tensor_numel(m.head_fc.weight), 16 * (4 * D + CLAIMS_N_FEATURES)); /* <SEP>, 3 pooled, facts */
    ck_assert_int_eq(tg_fill_randn(m.surprise, 9, 0.0, 0.5), TG_OK);
    ck_assert_int_eq(tg_fill_randn(m.pool.weight, 4, 0.0, 0.5), TG_OK); /* queries differ */
    claims_plan plan;
    claims_batch b = {0};
    int32_t labels[64];
    first_batch(&o, &plan, &b, labels);
    model_case c = {&m, &b, labels};
    tg_tensor *in[] = {m.surprise, m.head_fc.weight, m.pool.weight, m.head.weight};
    tg_gradcheck_opts go = {.eps = 3e-3, .atol = 2e-3, .rtol = 3e-2, .max_elems = 24, .seed = 2};
    tg_assert_gradcheck(model_loss, in, 4, &c, &go, "claims model decision path");

    claims_forward f;
    ck_assert_int_eq(claims_model_forward(&m, &b, labels, fx.valid.features, fx.is_code, 0, 0, false, false, &f),
                     TG_OK);
    float with = tg_f32(f.decision_logits)[0];
    ck_assert_int_eq(tg_fill(m.surprise, 0.0), TG_OK);
    ck_assert_int_eq(claims_model_forward(&m, &b, labels, fx.valid.features, fx.is_code, 0, 0, false, false, &f),
                     TG_OK);
    ck_assert_msg(fabsf(tg_f32(f.decision_logits)[0] - with) > 1e-6f, "surprisal has no effect");
    with = tg_f32(f.decision_logits)[0];
    float *facts = malloc(sizeof(float) * CLAIMS_N_FEATURES * (size_t)fx.valid.n);
    memcpy(facts, fx.valid.features, sizeof(float) * CLAIMS_N_FEATURES * (size_t)fx.valid.n);
    facts[b.doc_index[0] * CLAIMS_N_FEATURES + 3] += 1.0f; /* a higher fee ratio */
    ck_assert_int_eq(claims_model_forward(&m, &b, labels, facts, fx.is_code, 0, 0, false, false, &f), TG_OK);
    ck_assert_msg(fabsf(tg_f32(f.decision_logits)[0] - with) > 1e-6f, "claim facts have no effect");
    free(facts);
    ck_assert_int_eq(claims_model_forward(&m, &b, labels, NULL, fx.is_code, 0, 0, false, false, &f), TG_ERR_INVALID);
    tg_step_end();
    claims_batch_free(&b);
    claims_plan_free(&plan);
    claims_model_free(&m);
}
END_TEST

/* Gradient of every parameter after one forward + backward on batch b. */
static float **all_grads(claims_model *m, const claims_batch *b, const int32_t *labels)
{
    claims_forward f;
    ck_assert_int_eq(claims_model_forward(m, b, labels, fx.valid.features, fx.is_code, 0, 0, false, false, &f), TG_OK);
    ck_assert_int_eq(tg_backward(f.loss), TG_OK);
    int n = tg_param_set_count(m->gpt.params);
    float **g = calloc((size_t)n, sizeof *g);
    for (int i = 0; i < n; i++) {
        const tg_tensor *t = tg_param_set_grad(m->gpt.params, i);
        ck_assert_ptr_nonnull(t);
        size_t bytes = sizeof(float) * (size_t)tg_tensor_numel(t);
        g[i] = malloc(bytes);
        memcpy(g[i], tg_f32(t), bytes);
    }
    ck_assert_int_eq(tg_param_set_zero_grad(m->gpt.params), TG_OK);
    tg_step_end();
    return g;
}

/* decision_grad_cut c scales the decision loss's gradient into the
 * transformer by 1 - c and leaves the loss and the decision head's own
 * gradients alone: every gradient is linear in c. */
START_TEST(test_decision_grad_cut)
{
    claims_train_opts o = tiny_opts("unused", 1);
    o.model.gpt.dropout = 0;
    o.model.lambda = 3.0;
    claims_plan plan;
    claims_batch b = {0};
    int32_t labels[64];
    first_batch(&o, &plan, &b, labels);
    static const double cuts[3] = {0.0, 1.0, 0.25};
    float **g[3];
    claims_model m;
    for (int k = 0; k < 3; k++) {
        o.model.decision_grad_cut = cuts[k];
        ck_assert_int_eq(claims_model_init(&m, &o.model, 5), TG_OK);
        g[k] = all_grads(&m, &b, labels);
        if (k < 2) claims_model_free(&m);
    }
    int n = tg_param_set_count(m.gpt.params), differ = 0;
    for (int i = 0; i < n; i++) {
        const char *name = tg_param_set_name(m.gpt.params, i);
        bool trunk = strncmp(name, "pool.", 5) && strncmp(name, "head", 4);
        for (int64_t j = 0; j < tg_tensor_numel(tg_param_set_value(m.gpt.params, i)); j++) {
            float full = g[0][i][j], lm = g[1][i][j], want = trunk ? 0.75f * full + 0.25f * lm : full;
            ck_assert_msg(fabsf(g[2][i][j] - want) <= 1e-5f + 1e-3f * fabsf(want), "%s[%lld]: %g, want %g", name,
                          (long long)j, g[2][i][j], want);
            if (!trunk) ck_assert_msg(fabsf(lm - full) <= 1e-5f + 1e-3f * fabsf(full), "%s differs", name);
            differ += trunk && fabsf(full - lm) > 1e-4f * (fabsf(full) + 1e-3f);
        }
        for (int k = 0; k < 3; k++) free(g[k][i]);
    }
    ck_assert_int_gt(differ, 10); /* the decision loss does reach the transformer when not cut */
    for (int k = 0; k < 3; k++) free(g[k]);
    claims_model_free(&m);
    claims_batch_free(&b);
    claims_plan_free(&plan);
}
END_TEST

/* The head refit changes only head_fc and head, lowers the training decision
 * loss over its epochs, keeps an epoch only if it beats the validation AUC
 * of the head as trained, is deterministic, and rejects bad options. */
START_TEST(test_head_fit)
{
    claims_train_opts o = tiny_opts(tg_test_path("refit"), 10);
    o.model.tabular = true;
    o.model.head_hidden = 8;
    claims_model m;
    double thr;
    ck_assert_msg(claims_train(&o, &fx.train, &fx.valid, fx.is_code, fx.is_rare, NULL, NULL, NULL, &m, &thr) == TG_OK,
                  "%s", tg_last_error());
    tg_param_set *ps = m.gpt.params;
    const int np = tg_param_set_count(ps);
    float **before = calloc((size_t)np, sizeof *before), **first = calloc((size_t)np, sizeof *first);
    for (int i = 0; i < np; i++) {
        size_t bytes = sizeof(float) * (size_t)tg_tensor_numel(tg_param_set_value(ps, i));
        before[i] = malloc(bytes);
        memcpy(before[i], tg_f32(tg_param_set_value(ps, i)), bytes);
    }
    claims_head_fit_opts ho = {.epochs = 6, .batch = 16, .lr = 1e-2, .weight_decay = 0.1, .seed = 3};
    double loss[2][6];
    claims_head_fit_result res[2];
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < np; i++) /* start both runs from the trained head */
            tg_copy_from(tg_param_set_value(ps, i), before[i],
                         sizeof(float) * (size_t)tg_tensor_numel(tg_param_set_value(ps, i)));
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        ck_assert_msg(claims_head_fit(&m, &fx.train, &fx.valid, &o.batch, fx.is_code, &ho, f, &res[run]) == TG_OK, "%s",
                      tg_last_error());
        fclose(f);
        const char *p = buf;
        for (int e = 0; e < 6; e++) {
            ck_assert_ptr_nonnull(p = strstr(p, "\"head_loss\":"));
            loss[run][e] = strtod(p + 12, NULL);
            p++;
        }
        free(buf);
        for (int i = 0; i < np && run == 0; i++) {
            size_t bytes = sizeof(float) * (size_t)tg_tensor_numel(tg_param_set_value(ps, i));
            first[i] = malloc(bytes);
            memcpy(first[i], tg_f32(tg_param_set_value(ps, i)), bytes);
        }
    }
    ck_assert_double_lt(loss[0][5], loss[0][0]);
    ck_assert_double_ge(res[0].best_auc, res[0].start_auc);
    ck_assert_double_eq(res[0].best_auc, res[1].best_auc);
    for (int i = 0; i < np; i++) {
        const char *name = tg_param_set_name(ps, i);
        const size_t bytes = sizeof(float) * (size_t)tg_tensor_numel(tg_param_set_value(ps, i));
        const bool head = !strncmp(name, "head", 4);
        ck_assert_msg(!memcmp(first[i], tg_f32(tg_param_set_value(ps, i)), bytes), "%s differs between runs", name);
        if (!head || res[0].best_epoch == 0)
            ck_assert_msg(!memcmp(before[i], first[i], bytes), "%s changed", name);
        else if (!strcmp(name, "head.weight"))
            ck_assert_msg(memcmp(before[i], first[i], bytes), "head.weight did not change");
        free(before[i]);
        free(first[i]);
    }
    free(before);
    free(first);
    ho.lr = 0;
    ck_assert_int_eq(claims_head_fit(&m, &fx.train, &fx.valid, &o.batch, fx.is_code, &ho, NULL, NULL), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "lr"));
    claims_model_free(&m);
}
END_TEST

START_TEST(test_codes_atomic_and_identifiers_gone)
{
    for (int i = 0; i < fx.codes->n; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        const char *code = fx.codes->codes[i].code;
        ck_assert_int_eq(claims_tok_encode(fx.tok, code, strlen(code), NULL, &ids, &n), TG_OK);
        ck_assert_msg(n == 1 && claims_tok_is_code(fx.tok, ids[0]), "code %s encodes to %zu tokens", code, n);
        free(ids);
    }
    claims_corpus all;
    ck_assert_int_eq(claims_corpus_build(&fx.ds, NULL, 0, fx.tok, &all), TG_OK);
    for (int32_t d = 0; d < all.n; d++) {
        char *text;
        size_t len;
        ck_assert_int_eq(claims_tok_decode(fx.tok, all.tokens[d], (size_t)all.len[d], &text, &len), TG_OK);
        const claims_claim *c = &fx.ds.claims[d];
        ck_assert_msg(!strstr(text, c->member_id), "member id %s in the token stream", c->member_id);
        ck_assert_msg(!strstr(text, c->patient_name), "name %s in the token stream", c->patient_name);
        ck_assert_msg(!strstr(text, c->patient_dob), "dob %s in the token stream", c->patient_dob);
        free(text);
    }
    claims_corpus_free(&all);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims_train");
    TCase *tc = tcase_create("train");
    tcase_add_checked_fixture(tc, data_setup, data_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_validation_loss_falls_and_report);
    tcase_add_test(tc, test_resume_is_bitwise_identical);
    tcase_add_test(tc, test_stop_writes_checkpoint_and_resumes);
    tcase_add_test(tc, test_bf16_training_tracks_f32);
    tcase_add_test(tc, test_codes_atomic_and_identifiers_gone);
    tcase_add_test(tc, test_decision_head_options);
    tcase_add_test(tc, test_decision_grad_cut);
    tcase_add_test(tc, test_head_fit);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
