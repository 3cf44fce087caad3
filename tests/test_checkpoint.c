/* optim/checkpoint: bit-exact round trips of model, AdamW and SGD-momentum
 * state, loss scaler, train state and config; resuming gives the same next
 * step; failed saves keep the previous file; failed loads change nothing;
 * every malformed or mismatched checkpoint is rejected with a message naming
 * the file and the tensor or field. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optim/checkpoint.h"
#include "tests/tg_test.h"

/* ---- a scratch directory per test ---- */

/* ---- a small GPT-shaped parameter set (no forward pass needed) ---- */

#define MAX_P 5

typedef struct model {
    tg_tensor *p[MAX_P];
    int n;
    tg_param_set *ps;
} model;

/* wte (11, 8), qkv (qkv_rows, 8), ln1 bias (8), lm_head (11, 8) and, with
 * `extra`, ln2 weight (8); `drop_head` leaves lm_head out. */
static void model_init(model *m, int64_t qkv_rows, bool extra, bool drop_head, uint64_t seed)
{
    const char *names[MAX_P] = {"wte.weight", "blocks.0.attn.qkv.weight", "blocks.0.ln1.bias", "lm_head.weight",
                                "blocks.0.ln2.weight"};
    tg_shape shapes[MAX_P] = {TG_SHAPE(11, 8), TG_SHAPE(qkv_rows, 8), TG_SHAPE(8), TG_SHAPE(11, 8), TG_SHAPE(8)};
    memset(m, 0, sizeof *m);
    m->ps = tg_param_set_create();
    for (int i = 0; i < MAX_P; i++) {
        if ((i == 3 && drop_head) || (i == 4 && !extra)) continue;
        tg_tensor *t = tg_randn(TG_PERSIST, shapes[i], TG_F32, seed + (uint64_t)i, 0, 0.5);
        ck_assert_ptr_nonnull(t);
        tg_tensor_set_requires_grad(t, true);
        ck_assert_int_eq(tg_param_set_add(m->ps, names[i], t, i == 2 ? 1 : 0, NULL), TG_OK);
        m->p[m->n++] = t;
    }
}

static void model_free(model *m)
{
    tg_param_set_destroy(m->ps);
    for (int i = 0; i < m->n; i++) tg_tensor_free(m->p[i]);
}

/* Fabricated gradients for every parameter except `skip` (-1: none) that has
 * no gradient yet. */
static void set_grads(model *m, uint64_t seed, int skip)
{
    for (int i = 0; i < m->n; i++) {
        if (i == skip && !tg_tensor_grad(m->p[i])) continue;
        tg_tensor *g = tg_tensor_grad_or_zeros(m->p[i]);
        ck_assert_int_eq(tg_fill_randn(g, seed * 31 + (uint64_t)i, 0, 1), TG_OK);
    }
}

/* `steps` optimizer steps; parameter 2 gets no gradient in the first one, so
 * per-parameter step counts differ. */
static void train(model *m, tg_optim *opt, int steps, uint64_t seed)
{
    for (int s = 0; s < steps; s++) {
        set_grads(m, seed + (uint64_t)s, s == 0 ? 2 : -1);
        ck_assert_int_eq(tg_optim_step(opt, 1e-2), TG_OK);
    }
}

static void assert_same_bits(const tg_tensor *a, const tg_tensor *b, const char *what)
{
    ck_assert_msg(tg_shape_equal(tg_tensor_shape(a), tg_tensor_shape(b)), "%s: shapes differ", what);
    ck_assert_msg(!memcmp(tg_tensor_data(a), tg_tensor_data(b), tg_tensor_nbytes(a)), "%s: bits differ", what);
}

static void assert_same_model(const model *a, const model *b)
{
    ck_assert_int_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) assert_same_bits(a->p[i], b->p[i], tg_param_set_name(a->ps, i));
}

static void assert_same_optim(const tg_optim *a, const tg_optim *b, int n)
{
    ck_assert_int_eq(tg_optim_step_count(a), tg_optim_step_count(b));
    ck_assert_int_eq(tg_optim_num_states(a), tg_optim_num_states(b));
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(tg_optim_param_steps(a, i), tg_optim_param_steps(b, i));
        for (int s = 0; s < tg_optim_num_states(a); s++)
            assert_same_bits(tg_optim_state(a, i, s), tg_optim_state(b, i, s), tg_optim_state_name(a, s));
    }
}

static tg_train_state sample_train_state(void)
{
    tg_rng *rng = tg_ctx_rng(tg_ctx_current());
    for (int k = 0; k < 5; k++) tg_rng_next(rng); /* dropout has drawn from it */
    tg_rng_split(rng, 1000);
    return (tg_train_state){.step = 3,
                            .epoch = 1,
                            .batch_cursor = 17,
                            .tokens_seen = 12345,
                            .data_seed = 0xFFFFFFFFFFFFFFF1ull,
                            .rng = *rng,
                            .best_metric = 0.1234567890123456789,
                            .best_step = 2};
}

/* Snapshot of every parameter value, to check that failed loads change nothing. */
typedef struct snapshot {
    tg_tensor *v[MAX_P];
    int n;
} snapshot;

static snapshot take(const model *m)
{
    snapshot s = {.n = m->n};
    for (int i = 0; i < m->n; i++) s.v[i] = tg_tensor_clone(TG_PERSIST, m->p[i]);
    return s;
}

static void assert_unchanged(snapshot *s, const model *m)
{
    for (int i = 0; i < s->n; i++) {
        assert_same_bits(s->v[i], m->p[i], "value after a failed load");
        tg_tensor_free(s->v[i]);
    }
}

static const char *config = "{\"dim\": 8, \"layers\": 1, \"name\": \"tiny \\u00e9\"}";

/* ---- round trips ---- */

START_TEST(test_adamw_round_trip)
{
    const char *path = tg_test_path("ckpt.safetensors");
    model a, b;
    model_init(&a, 24, false, false, 1);
    tg_adam_opts ao = tg_adamw_default_opts();
    tg_optim *oa = tg_adamw_create(a.ps, &ao);
    train(&a, oa, 3, 10);
    ck_assert_int_eq(tg_optim_param_steps(oa, 2), 2);
    ck_assert_int_eq(tg_optim_param_steps(oa, 0), 3);

    tg_scaler sa;
    tg_scaler_opts so = tg_scaler_default_opts();
    so.growth_interval = 50;
    so.backoff = 0.25;
    ck_assert_int_eq(tg_scaler_init(&sa, &so), TG_OK);
    sa.scale = 1024.0 / 3.0;
    sa.good_steps = 7;
    sa.skipped = 2;
    tg_train_state ta = sample_train_state();
    ck_assert_int_eq(tg_checkpoint_save(path, a.ps, oa, &sa, &ta, config), TG_OK);

    model_init(&b, 24, false, false, 99);
    tg_optim *ob = tg_adamw_create(b.ps, &ao);
    tg_scaler sb;
    ck_assert_int_eq(tg_scaler_init(&sb, NULL), TG_OK);
    tg_train_state tb = {0};
    char *cfg = NULL;
    ck_assert_msg(tg_checkpoint_load(path, b.ps, ob, &sb, &tb, &cfg) == TG_OK, "%s", tg_last_error());

    assert_same_model(&a, &b);
    assert_same_optim(oa, ob, a.n);
    ck_assert_str_eq(cfg, config);
    free(cfg);
    ck_assert(!memcmp(&sa.opts, &sb.opts, sizeof sa.opts));
    ck_assert(sa.scale == sb.scale);
    ck_assert_int_eq(sb.good_steps, 7);
    ck_assert_int_eq(sb.skipped, 2);
    ck_assert(!sb.found_inf && !sb.unscaled);
    ck_assert_int_eq(tb.step, ta.step);
    ck_assert_int_eq(tb.epoch, ta.epoch);
    ck_assert_int_eq(tb.batch_cursor, ta.batch_cursor);
    ck_assert_int_eq(tb.tokens_seen, ta.tokens_seen);
    ck_assert_uint_eq(tb.data_seed, ta.data_seed);
    ck_assert_uint_eq(tb.rng.seed, ta.rng.seed);
    ck_assert_uint_eq(tb.rng.counter, ta.rng.counter);
    ck_assert(!memcmp(&tb.best_metric, &ta.best_metric, sizeof(double)));
    ck_assert_int_eq(tb.best_step, ta.best_step);

    /* the resumed run takes the same next step as the uninterrupted one */
    set_grads(&a, 500, -1);
    set_grads(&b, 500, -1);
    ck_assert_int_eq(tg_optim_step(oa, 3e-3), TG_OK);
    ck_assert_int_eq(tg_optim_step(ob, 3e-3), TG_OK);
    assert_same_model(&a, &b);
    assert_same_optim(oa, ob, a.n);

    char *cfg2 = NULL;
    ck_assert_int_eq(tg_checkpoint_read_config(path, &cfg2), TG_OK);
    ck_assert_str_eq(cfg2, config);
    free(cfg2);

    tg_optim_destroy(oa);
    tg_optim_destroy(ob);
    model_free(&a);
    model_free(&b);
}
END_TEST

START_TEST(test_sgd_round_trip)
{
    const char *path = tg_test_path("sgd.safetensors");
    model a, b, c;
    model_init(&a, 24, false, false, 3);
    tg_sgd_opts so = {.momentum = 0.9, .weight_decay = 1e-3, .nesterov = true};
    tg_optim *oa = tg_sgd_create(a.ps, &so);
    train(&a, oa, 2, 20);
    /* no scaler, special metric values, no config */
    tg_train_state ta = {
        .step = 2, .best_metric = -INFINITY, .data_seed = 7, .rng = {.seed = UINT64_MAX, .counter = UINT64_MAX - 1}};
    ck_assert_int_eq(tg_checkpoint_save(path, a.ps, oa, NULL, &ta, NULL), TG_OK);
    snapshot saved = take(&a);

    model_init(&b, 24, false, false, 4);
    tg_optim *ob = tg_sgd_create(b.ps, &so);
    tg_train_state tb;
    char *cfg = (char *)"untouched";
    ck_assert_msg(tg_checkpoint_load(path, b.ps, ob, NULL, &tb, &cfg) == TG_OK, "%s", tg_last_error());
    ck_assert_ptr_null(cfg);
    assert_same_model(&a, &b);
    assert_same_optim(oa, ob, a.n);
    ck_assert_int_eq(tg_optim_param_steps(ob, 2), 1);
    ck_assert(tb.best_metric == -INFINITY);
    ck_assert_uint_eq(tb.rng.seed, UINT64_MAX);
    ck_assert_uint_eq(tb.rng.counter, UINT64_MAX - 1);

    set_grads(&a, 600, -1);
    set_grads(&b, 600, -1);
    ck_assert_int_eq(tg_optim_step(oa, 5e-2), TG_OK);
    ck_assert_int_eq(tg_optim_step(ob, 5e-2), TG_OK);
    assert_same_model(&a, &b);
    assert_same_optim(oa, ob, a.n);

    /* evaluation: weights only, no optimizer, scaler or train state */
    model_init(&c, 24, false, false, 5);
    ck_assert_int_eq(tg_checkpoint_load(path, c.ps, NULL, NULL, NULL, NULL), TG_OK);
    assert_unchanged(&saved, &c);
    tg_assert_error(tg_checkpoint_read_config(path, &cfg), TG_ERR_FORMAT, "metadata field 'config' is missing");
    ck_assert_ptr_null(cfg);

    tg_optim_destroy(oa);
    tg_optim_destroy(ob);
    model_free(&a);
    model_free(&b);
    model_free(&c);
}
END_TEST

START_TEST(test_export_weights)
{
    const char *path = tg_test_path("weights.safetensors");
    model a;
    model_init(&a, 24, false, false, 8);
    ck_assert_int_eq(tg_checkpoint_export_weights(path, a.ps), TG_OK);
    tg_st_file *f = tg_st_open(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tg_st_count(f), a.n);
    ck_assert_str_eq(tg_st_meta(f, "format"), "tensorgrad.weights");
    for (int i = 0; i < a.n; i++) {
        tg_tensor *t = tg_st_load(f, tg_param_set_name(a.ps, i), TG_STEP);
        ck_assert_ptr_nonnull(t);
        assert_same_bits(t, a.p[i], tg_param_set_name(a.ps, i));
    }
    tg_st_close(f);
    /* a weights file is not a training checkpoint */
    tg_assert_error(tg_checkpoint_load(path, a.ps, NULL, NULL, NULL, NULL), TG_ERR_FORMAT,
                    "not a tensorgrad checkpoint (metadata 'format' is 'tensorgrad.weights'");
    model_free(&a);
}
END_TEST

/* ---- atomicity ---- */

START_TEST(test_failed_save_keeps_previous)
{
    const char *path = tg_test_path("ckpt.safetensors");
    model a, b;
    model_init(&a, 24, false, false, 11);
    tg_optim *oa = tg_adamw_create(a.ps, NULL);
    train(&a, oa, 2, 30);
    tg_train_state ta = {.step = 2, .batch_cursor = 4};
    ck_assert_int_eq(tg_checkpoint_save(path, a.ps, oa, NULL, &ta, config), TG_OK);
    size_t len_a;
    unsigned char *bytes_a = tg_test_read_file(path, &len_a);

    /* snapshot A's values, then train further (B) and fail to save */
    model_init(&b, 24, false, false, 12);
    tg_optim *ob = tg_adamw_create(b.ps, NULL);
    ck_assert_int_eq(tg_checkpoint_load(path, b.ps, ob, NULL, NULL, NULL), TG_OK);
    train(&a, oa, 1, 40);
    ta.step = 3;
    size_t limits[] = {10, 600, len_a - 16};
    for (int k = 0; k < 3; k++) {
        tg_test_fail_writes_after(limits[k]);
        tg_status st = tg_checkpoint_save(path, a.ps, oa, NULL, &ta, config);
        tg_st_set_write_hook(NULL);
        tg_assert_error(st, TG_ERR_IO, path);
        ck_assert_ptr_nonnull(strstr(tg_last_error(), "No space left on device"));
        tg_assert_file_bytes(path, bytes_a, len_a);
    }

    /* A still loads, with A's values and step 2 */
    model c;
    model_init(&c, 24, false, false, 13);
    tg_optim *oc = tg_adamw_create(c.ps, NULL);
    tg_train_state tc;
    ck_assert_int_eq(tg_checkpoint_load(path, c.ps, oc, NULL, &tc, NULL), TG_OK);
    ck_assert_int_eq(tc.step, 2);
    ck_assert_int_eq(tg_optim_step_count(oc), 2);
    assert_same_model(&b, &c);
    assert_same_optim(ob, oc, b.n);

    free(bytes_a);
    tg_optim_destroy(oa);
    tg_optim_destroy(ob);
    tg_optim_destroy(oc);
    model_free(&a);
    model_free(&b);
    model_free(&c);
}
END_TEST

/* ---- errors ---- */

/* Copies checkpoint src to dst, leaving out tensor `skip` and setting
 * metadata `key` to `value` (NULL value: key removed). */
static void rewrite(const char *src, const char *dst, const char *skip, const char *key, const char *value)
{
    tg_st_file *f = tg_st_open(src);
    ck_assert_ptr_nonnull(f);
    tg_st_writer *w = tg_st_writer_new();
    for (int i = 0; i < tg_st_count(f); i++) {
        const char *name = tg_st_name(f, i);
        if (skip && !strcmp(name, skip)) continue;
        ck_assert_int_eq(tg_st_writer_add(w, name, tg_st_load(f, name, TG_STEP)), TG_OK);
    }
    for (int i = 0; i < tg_st_meta_count(f); i++) {
        const char *k = tg_st_meta_key(f, i);
        if (key && !strcmp(k, key)) continue;
        ck_assert_int_eq(tg_st_writer_set_meta(w, k, tg_st_meta(f, k)), TG_OK);
    }
    if (key && value) ck_assert_int_eq(tg_st_writer_set_meta(w, key, value), TG_OK);
    ck_assert_int_eq(tg_st_writer_save(w, dst), TG_OK);
    tg_st_writer_free(w);
    tg_st_close(f);
}

START_TEST(test_errors)
{
    const char *path = tg_test_path("ckpt.safetensors"), *bad = tg_test_path("bad.safetensors");
    model a;
    model_init(&a, 24, false, false, 21);
    tg_optim *oa = tg_adamw_create(a.ps, NULL);
    train(&a, oa, 2, 50);
    tg_scaler sc;
    tg_scaler_init(&sc, NULL);
    tg_train_state ta = {.step = 2};
    ck_assert_int_eq(tg_checkpoint_save(path, a.ps, oa, &sc, &ta, config), TG_OK);

    /* wrong model shape: the earlier parameter (wte) must not be overwritten */
    model m;
    model_init(&m, 48, false, false, 22);
    snapshot s = take(&m);
    tg_assert_error(tg_checkpoint_load(path, m.ps, NULL, NULL, NULL, NULL), TG_ERR_SHAPE,
                    "tensor 'model.blocks.0.attn.qkv.weight' has shape (24, 8), model expects (48, 8)");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), path));
    assert_unchanged(&s, &m);
    model_free(&m);

    /* a parameter the file lacks; a tensor the model lacks */
    model_init(&m, 24, true, false, 23);
    tg_assert_error(tg_checkpoint_load(path, m.ps, NULL, NULL, NULL, NULL), TG_ERR_INVALID,
                    "no tensor 'model.blocks.0.ln2.weight' in the checkpoint");
    model_free(&m);
    model_init(&m, 24, false, true, 24);
    tg_assert_error(tg_checkpoint_load(path, m.ps, NULL, NULL, NULL, NULL), TG_ERR_INVALID,
                    "tensor 'model.lm_head.weight' has no parameter 'lm_head.weight' in the model");
    model_free(&m);

    /* optimizer kind and slot mismatches; missing state tensor; all leave the
     * model untouched */
    model_init(&m, 24, false, false, 25);
    s = take(&m);
    tg_optim *adam = tg_adam_create(m.ps, NULL);
    tg_assert_error(tg_checkpoint_load(path, m.ps, adam, NULL, NULL, NULL), TG_ERR_INVALID,
                    "checkpoint optimizer is 'adamw', the optimizer to restore is 'adam'");
    tg_optim_destroy(adam);
    tg_sgd_opts mom = {.momentum = 0.9};
    tg_optim *sgd = tg_sgd_create(m.ps, &mom);
    tg_assert_error(tg_checkpoint_load(path, m.ps, sgd, NULL, NULL, NULL), TG_ERR_INVALID,
                    "checkpoint optimizer is 'adamw', the optimizer to restore is 'sgd'");
    tg_optim *plain = tg_sgd_create(a.ps, NULL);
    ck_assert_int_eq(tg_checkpoint_save(bad, a.ps, plain, NULL, &ta, NULL), TG_OK);
    tg_assert_error(tg_checkpoint_load(bad, m.ps, sgd, NULL, NULL, NULL), TG_ERR_INVALID,
                    "checkpoint has 0 optimizer state slots per parameter, the optimizer has 1");
    tg_optim_destroy(plain);
    tg_optim_destroy(sgd);
    tg_optim *adamw = tg_adamw_create(m.ps, NULL);
    rewrite(path, bad, "optim.lm_head.weight.exp_avg_sq", NULL, NULL);
    tg_assert_error(tg_checkpoint_load(bad, m.ps, adamw, NULL, NULL, NULL), TG_ERR_INVALID,
                    "no tensor 'optim.lm_head.weight.exp_avg_sq' in the checkpoint");
    ck_assert_int_eq(tg_checkpoint_save(bad, a.ps, NULL, NULL, &ta, NULL), TG_OK);
    tg_assert_error(tg_checkpoint_load(bad, m.ps, adamw, NULL, NULL, NULL), TG_ERR_INVALID,
                    "checkpoint optimizer is 'none', the optimizer to restore is 'adamw'");
    tg_scaler sm;
    tg_scaler_init(&sm, NULL);
    tg_assert_error(tg_checkpoint_load(bad, m.ps, NULL, &sm, NULL, NULL), TG_ERR_INVALID,
                    "checkpoint holds no loss-scaler state");

    /* missing and garbled metadata, bad version */
    tg_train_state tm = {.step = -5};
    struct {
        const char *key, *value, *msg;
    } meta_cases[] = {
        {"train.step", NULL, "metadata field 'train.step' is missing"},
        {"train.data_seed", "-1", "metadata field 'train.data_seed' = '-1' is not an unsigned 64-bit integer"},
        {"train.rng_counter", "18446744073709551616",
         "'train.rng_counter' = '18446744073709551616' is not an unsigned 64-bit integer"},
        {"train.epoch", "1.5", "metadata field 'train.epoch' = '1.5' is not a 64-bit integer"},
        {"train.best_metric", "0.5x", "metadata field 'train.best_metric' = '0.5x' is not a number"},
        {"optim.blocks.0.ln1.bias.steps", "-2", "'optim.blocks.0.ln1.bias.steps' = '-2' is not a count >= 0"},
        {"optim.step_count", NULL, "metadata field 'optim.step_count' is missing"},
        {"scaler.scale", "0", "metadata field 'scaler.scale' = '0' is not a finite scale > 0"},
        {"scaler.growth", "0.5", "bad scaler options: tg_scaler_init: growth"},
        {"format_version", "2", "checkpoint format version 2, this build reads version 1"},
        {"format_version", "one", "metadata field 'format_version' = 'one' is not a 64-bit integer"},
        {"format", NULL, "not a tensorgrad checkpoint (metadata 'format' is '(missing)'"},
    };
    for (size_t k = 0; k < sizeof meta_cases / sizeof meta_cases[0]; k++) {
        rewrite(path, bad, NULL, meta_cases[k].key, meta_cases[k].value);
        tg_status st = tg_checkpoint_load(bad, m.ps, adamw, &sm, &tm, NULL);
        ck_assert_msg(strstr(tg_last_error(), meta_cases[k].msg) && strstr(tg_last_error(), bad), "case %zu: got '%s'",
                      k, tg_last_error());
        ck_assert_int_ne(st, TG_OK);
    }
    ck_assert_int_eq(tm.step, -5);
    ck_assert_int_eq(tg_optim_step_count(adamw), 0);
    ck_assert(sm.scale == 65536.0);

    /* truncated file, missing file */
    size_t len;
    unsigned char *bytes = tg_test_read_file(path, &len);
    tg_test_write_file(bad, bytes, len - 100);
    free(bytes);
    tg_assert_error(tg_checkpoint_load(bad, m.ps, adamw, NULL, NULL, NULL), TG_ERR_FORMAT, bad);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "data area"));
    const char *missing = tg_test_path("nope.safetensors");
    tg_assert_error(tg_checkpoint_load(missing, m.ps, NULL, NULL, NULL, NULL), TG_ERR_IO, missing);
    char *cfg = (char *)"untouched";
    tg_assert_error(tg_checkpoint_read_config(missing, &cfg), TG_ERR_IO, missing);
    ck_assert_ptr_null(cfg);
    assert_unchanged(&s, &m);
    tg_optim_destroy(adamw);

    /* bad arguments to save */
    tg_assert_error(tg_checkpoint_save(bad, a.ps, oa, NULL, &ta, "{\"dim\": 8,"), TG_ERR_INVALID,
                    "tg_checkpoint_save: config is not valid JSON");
    tg_optim *other = tg_adamw_create(m.ps, NULL);
    tg_assert_error(tg_checkpoint_save(bad, a.ps, other, NULL, &ta, NULL), TG_ERR_INVALID,
                    "optimizer was created over another parameter set");
    tg_assert_error(tg_checkpoint_load(path, a.ps, other, NULL, NULL, NULL), TG_ERR_INVALID,
                    "optimizer was created over another parameter set");
    tg_assert_error(tg_checkpoint_save(bad, a.ps, NULL, NULL, NULL, NULL), TG_ERR_INVALID,
                    "NULL path, parameter set or train state");
    tg_optim_destroy(other);

    tg_optim_destroy(oa);
    model_free(&m);
    model_free(&a);
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, tg_test_scratch_setup, tg_test_scratch_teardown);
    tcase_add_test(tc, test_adamw_round_trip);
    tcase_add_test(tc, test_sgd_round_trip);
    tcase_add_test(tc, test_export_weights);
    tcase_add_test(tc, test_failed_save_keeps_previous);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_run_suite(checkpoint_suite()) ? EXIT_FAILURE : EXIT_SUCCESS; }
