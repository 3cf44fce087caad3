/* nn modules: parameter naming, init statistics, train/eval mode, module
 * gradchecks (SwiGLU, RMSNorm, attention block), and gradient accumulation
 * over micro-batches with different padding equal to the full batch. */
#include <string.h>

#include "tests/tg_test.h"

static double std_of(const tg_tensor *t)
{
    double s = 0, s2 = 0;
    int64_t n = tg_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) s += tg_f32(t)[i], s2 += (double)tg_f32(t)[i] * tg_f32(t)[i];
    return sqrt(s2 / n - (s / n) * (s / n));
}

START_TEST(test_gpt_parameter_names)
{
    tg_gpt m;
    tg_gpt_config c = {.vocab = 50, .dim = 16, .heads = 2, .hidden = 32, .max_seq = 8, .n_layers = 2, .swiglu = true};
    ck_assert_int_eq(tg_gpt_init(&m, &c, 1), TG_OK);
    const char *want[] = {"wte.weight",
                          "wpe.weight",
                          "blocks.0.ln1.weight",
                          "blocks.0.ln1.bias",
                          "blocks.0.attn.qkv.weight",
                          "blocks.0.attn.qkv.bias",
                          "blocks.0.attn.proj.weight",
                          "blocks.0.attn.proj.bias",
                          "blocks.0.ln2.weight",
                          "blocks.0.ln2.bias",
                          "blocks.0.mlp.fc1.weight",
                          "blocks.0.mlp.fc1.bias",
                          "blocks.0.mlp.gate.weight",
                          "blocks.0.mlp.gate.bias",
                          "blocks.0.mlp.fc2.weight",
                          "blocks.0.mlp.fc2.bias"};
    for (int i = 0; i < 16; i++) ck_assert_str_eq(tg_param_set_name(m.params, i), want[i]);
    ck_assert_str_eq(tg_param_set_name(m.params, tg_param_set_count(m.params) - 1), "lm_head.weight");
    ck_assert_int_eq(tg_param_set_group_of(m.params, 4), TG_GROUP_DECAY);
    ck_assert_int_eq(tg_param_set_group_of(m.params, 5), TG_GROUP_NO_DECAY);
    ck_assert(tg_tensor_requires_grad(tg_param_set_value(m.params, 0)));
    tg_gpt_free(&m);
    c.heads = 3;
    tg_assert_error(tg_gpt_init(&m, &c, 1), TG_ERR_INVALID, "dim 16 is not divisible by heads 3");
}
END_TEST

START_TEST(test_init_statistics)
{
    tg_rng rng = {.seed = 5};
    tg_tensor *w = tg_tensor_new(TG_PERSIST, TG_SHAPE(256, 512), TG_F32);
    ck_assert_int_eq(tg_init_normal(w, &rng, 0.02), TG_OK);
    ck_assert_double_eq_tol(std_of(w), 0.02, 0.0005);
    ck_assert_int_eq(tg_init_xavier_uniform(w, &rng, 1.0), TG_OK);
    ck_assert_double_eq_tol(std_of(w), sqrt(6.0 / 768) / sqrt(3.0), 0.001);
    ck_assert_int_eq(tg_init_xavier_normal(w, &rng, 1.0), TG_OK);
    ck_assert_double_eq_tol(std_of(w), sqrt(2.0 / 768), 0.001);
    ck_assert_int_eq(tg_init_kaiming_normal(w, &rng), TG_OK);
    ck_assert_double_eq_tol(std_of(w), sqrt(2.0 / 512), 0.001);
    ck_assert_int_eq(tg_init_kaiming_uniform(w, &rng), TG_OK);
    ck_assert_double_eq_tol(std_of(w), sqrt(6.0 / 512) / sqrt(3.0), 0.001);
    ck_assert_int_eq(tg_init_gpt2_residual(w, &rng, 8), TG_OK);
    ck_assert_double_eq_tol(std_of(w), 0.02 / 4, 0.0002);
    tg_tensor_free(w);
}
END_TEST

START_TEST(test_dropout_train_and_eval)
{
    tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(1000), TG_F32);
    ck_assert_ptr_eq(tg_nn_dropout(x, 0.5, false), x);
    tg_tensor *y = tg_nn_dropout(x, 0.5, true);
    int zeros = 0;
    for (int i = 0; i < 1000; i++) zeros += tg_f32(y)[i] == 0;
    ck_assert_int_gt(zeros, 400);
    ck_assert_int_lt(zeros, 600);
}
END_TEST

typedef struct block_user {
    tg_nn_block *b;
} block_user;

static tg_tensor *block_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    tg_tensor *len = tg_from_buffer(TG_STEP, TG_SHAPE(2), TG_S32, (int32_t[]){5, 3});
    return tg_nn_block_forward(((block_user *)u)->b, in[0], true, len, false);
}

START_TEST(test_block_gradcheck_variants)
{
    for (int variant = 0; variant < 2; variant++) {
        tg_rng rng = {.seed = 9};
        tg_nn_block b;
        tg_nn_block_config c = {
            .dim = 8, .heads = 2, .hidden = 12, .n_layers = 1, .swiglu = variant, .rms = variant, .eps = 1e-5};
        ck_assert_int_eq(tg_nn_block_init(&b, &c, &rng), TG_OK);
        tg_param_set *ps = tg_param_set_create();
        ck_assert_int_eq(tg_nn_block_params(&b, ps, "b"), TG_OK);
        for (int i = 0; i < tg_param_set_count(ps); i++)
            tg_fill_randn(tg_param_set_value(ps, i), 40 + (uint64_t)i, 0, 0.4);
        tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(2, 5, 8), TG_F32, 3, 0, 1);
        tg_tensor_set_requires_grad(x, true);
        block_user u = {&b};
        tg_gradcheck_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .max_elems = 40};
        tg_assert_gradcheck(block_fn, &x, 1, &u, &o, variant ? "swiglu+rms block (x)" : "gelu+layernorm block (x)");
        /* parameters too: one weight matrix through the same function */
        tg_tensor *w = b.attn.qkv.weight, *xs[2] = {x, w};
        tg_tensor_set_requires_grad(x, false);
        tg_assert_gradcheck(block_fn, xs, 2, &u, &o, "block (qkv weight)");
        tg_param_set_destroy(ps);
        tg_nn_block_free(&b);
    }
}
END_TEST

/* Sum of per-token losses of a padded batch (targets -100 on padding). */
static tg_tensor *sum_loss(const tg_gpt *m, const int32_t *idx, const int32_t *tgt, const int32_t *len, int B, int T)
{
    tg_ce_opts ce = tg_ce_defaults();
    ce.reduction = TG_REDUCE_SUM;
    return tg_gpt_loss(m, tg_from_buffer(TG_STEP, TG_SHAPE(B, T), TG_S32, idx),
                       tg_from_buffer(TG_STEP, TG_SHAPE(B, T), TG_S32, tgt),
                       tg_from_buffer(TG_STEP, TG_SHAPE(B), TG_S32, len), &ce, false);
}

START_TEST(test_accumulation_matches_full_batch)
{
    enum { B = 3, T = 8 };
    tg_gpt m;
    tg_gpt_config c = {.vocab = 20, .dim = 16, .heads = 2, .hidden = 32, .max_seq = T, .n_layers = 1, .tied = true};
    ck_assert_int_eq(tg_gpt_init(&m, &c, 2), TG_OK);
    int32_t idx[B * T], tgt[B * T], len[B] = {8, 5, 2};
    int64_t tokens = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            idx[b * T + t] = t < len[b] ? (b * 7 + t * 3) % 20 : 0;
            tgt[b * T + t] = t < len[b] ? (b * 5 + t * 11 + 1) % 20 : -100;
            tokens += t < len[b];
        }
    /* full batch: mean over its 15 tokens */
    ck_assert_int_eq(tg_backward(tg_gpt_loss(&m, tg_from_buffer(TG_STEP, TG_SHAPE(B, T), TG_S32, idx),
                                             tg_from_buffer(TG_STEP, TG_SHAPE(B, T), TG_S32, tgt),
                                             tg_from_buffer(TG_STEP, TG_SHAPE(B), TG_S32, len), NULL, false)),
                     TG_OK);
    int n = tg_param_set_count(m.params);
    tg_tensor **full = calloc((size_t)n, sizeof *full);
    for (int i = 0; i < n; i++) full[i] = tg_tensor_clone(TG_PERSIST, tg_param_set_grad(m.params, i));
    tg_step_end();
    tg_param_set_zero_grad(m.params);
    /* micro-batches of 8 and 7 real tokens, summed, then normalized once */
    tg_accum acc;
    tg_accum_reset(&acc);
    ck_assert_int_eq(tg_backward(sum_loss(&m, idx, tgt, len, 1, T)), TG_OK);
    ck_assert_int_eq(tg_accum_add(&acc, 8), TG_OK);
    ck_assert_int_eq(tg_backward(sum_loss(&m, idx + T, tgt + T, len + 1, 2, T)), TG_OK);
    ck_assert_int_eq(tg_accum_add(&acc, 7), TG_OK);
    ck_assert_int_eq(tg_accum_finish(&acc, m.params), TG_OK);
    ck_assert_int_eq(tokens, 15);
    for (int i = 0; i < n; i++) {
        tg_assert_close(tg_param_set_grad(m.params, i), full[i], 1e-6, 1e-4, tg_param_set_name(m.params, i));
        tg_tensor_free(full[i]);
    }
    free(full);
    tg_gpt_free(&m);
}
END_TEST

START_TEST(test_bf16_autocast_linear)
{
    tg_rng rng = {.seed = 21};
    tg_nn_linear l;
    ck_assert_int_eq(tg_nn_linear_init(&l, 48, 24, true, &rng), TG_OK);
    tg_tensor_set_requires_grad(l.weight, true);
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(5, 48), TG_F32, 22, 0, 1);
    tg_tensor *y32 = tg_nn_linear_forward(&l, x);
    ck_assert_int_eq(tg_backward(tg_sum(tg_mul(y32, y32), NULL, 0, false)), TG_OK);
    tg_tensor *g32 = tg_tensor_clone(TG_STEP, tg_tensor_grad(l.weight));
    tg_zero_grad(l.weight);
    tg_nn_set_autocast(TG_BF16);
    tg_tensor *y16 = tg_nn_linear_forward(&l, x);
    tg_nn_set_autocast(TG_F32);
    ck_assert_int_eq(tg_tensor_dtype(y16), TG_F32);
    tg_assert_close(y16, y32, 2e-3, 2e-2, "bf16 linear output");
    ck_assert_int_eq(tg_backward(tg_sum(tg_mul(y16, y16), NULL, 0, false)), TG_OK);
    ck_assert_int_eq(tg_tensor_dtype(tg_tensor_grad(l.weight)), TG_F32);
    tg_assert_close(tg_tensor_grad(l.weight), g32, 2e-2, 3e-2, "bf16 weight gradient");
    tg_nn_linear_free(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("nn");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gpt_parameter_names);
    tcase_add_test(tc, test_init_statistics);
    tcase_add_test(tc, test_dropout_train_and_eval);
    tcase_add_test(tc, test_block_gradcheck_variants);
    tcase_add_test(tc, test_accumulation_matches_full_batch);
    tcase_add_test(tc, test_bf16_autocast_linear);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
