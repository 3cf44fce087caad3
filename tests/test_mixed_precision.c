/* bf16 mixed precision: the bf16-compute linear against its f32 form and
 * against explicit casts; GELU with a bf16 output feeding a bf16-compute
 * linear against the f32 chain; a small GPT's loss and every parameter gradient
 * under bf16 autocast within bf16 tolerance of f32; and the dynamic loss
 * scaler driving bf16 steps (exact unscaling, growth, NaN skip with backoff
 * and untouched weights). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tg_test.h"

/* ||a - b|| / ||b|| over two f32 tensors of one size. */
static double rel_l2(const tg_tensor *a, const tg_tensor *b)
{
    double num = 0, den = 1e-30;
    for (int64_t i = 0; i < tg_tensor_numel(b); i++) {
        const double d = (double)tg_f32(a)[i] - tg_f32(b)[i];
        num += d * d;
        den += (double)tg_f32(b)[i] * tg_f32(b)[i];
    }
    return sqrt(num / den);
}

static tg_tensor *leaf(tg_shape s, uint64_t seed)
{
    tg_tensor *t = tg_randn(TG_STEP, s, TG_F32, seed, 0, 1);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

START_TEST(test_linear_bf16_compute)
{
    const tg_shape sx = TG_SHAPE(3, 37, 48), sw = TG_SHAPE(20, 48);
    tg_tensor *x = leaf(sx, 1), *w = leaf(sw, 2), *b = leaf(TG_SHAPE(20), 3);
    tg_tensor *x2 = leaf(sx, 1), *w2 = leaf(sw, 2), *b2 = leaf(TG_SHAPE(20), 3);
    tg_tensor *seed = tg_randn(TG_STEP, TG_SHAPE(3, 37, 20), TG_F32, 4, 0, 1);
    tg_tensor *y16 = tg_linear_with(x, w, b, &(tg_linear_opts){.compute = TG_BF16});
    tg_tensor *y32 = tg_linear(x2, w2, b2);
    ck_assert_msg(y16 && y32, "%s", tg_last_error());
    /* the forward equals the matmul of explicitly rounded operands */
    tg_tensor *yc = tg_linear(tg_cast(x, TG_BF16), tg_cast(w, TG_BF16), b);
    tg_assert_close(y16, yc, 1e-5, 1e-5, "bf16 compute vs casts");
    ck_assert(rel_l2(y16, y32) > 1e-5); /* it did round */
    ck_assert(rel_l2(y16, y32) < 1e-2);
    ck_assert_int_eq(tg_backward_with(y16, &(tg_backward_opts){.seed = seed, .retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward_with(y32, &(tg_backward_opts){.seed = seed}), TG_OK);
    ck_assert_double_lt(rel_l2(tg_tensor_grad(x), tg_tensor_grad(x2)), 1e-2);
    ck_assert_double_lt(rel_l2(tg_tensor_grad(w), tg_tensor_grad(w2)), 1e-2);
    tg_assert_close(tg_tensor_grad(b), tg_tensor_grad(b2), 1e-6, 1e-6, "dbias stays f32");
    ck_assert_ptr_null(tg_linear_with(x, w, b, &(tg_linear_opts){.compute = TG_S32}));
}
END_TEST

/* GELU's bf16 output is the rounded f32 output, its gradient the f32 one;
 * a bf16-compute linear takes it as is and matches the same linear on the
 * widened f32 values (the rounding is then a no-op), gradients included. */
START_TEST(test_gelu_bf16_into_linear)
{
    const tg_shape sx = TG_SHAPE(2, 19, 40), sw = TG_SHAPE(24, 40);
    tg_tensor *x = leaf(sx, 5), *w = leaf(sw, 6), *b = leaf(TG_SHAPE(24), 7);
    tg_tensor *x2 = leaf(sx, 5), *w2 = leaf(sw, 6), *b2 = leaf(TG_SHAPE(24), 7);
    tg_tensor *seed = tg_randn(TG_STEP, TG_SHAPE(2, 19, 24), TG_F32, 8, 0, 1);
    tg_tensor *g16 = tg_gelu_with(x, &(tg_gelu_opts){.out = TG_BF16}), *g32 = tg_gelu(x2);
    ck_assert_msg(g16 && g32, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_dtype(g16), TG_BF16);
    tg_assert_close(tg_tensor_to(TG_STEP, g16, TG_F32), tg_tensor_to(TG_STEP, tg_cast(g32, TG_BF16), TG_F32), 0, 0,
                    "gelu bf16 output");
    tg_tensor *y16 = tg_linear_with(g16, w, b, &(tg_linear_opts){.compute = TG_BF16});
    tg_tensor *y32 =
        tg_linear_with(tg_cast(tg_cast(g32, TG_BF16), TG_F32), w2, b2, &(tg_linear_opts){.compute = TG_BF16});
    ck_assert_msg(y16 && y32, "%s", tg_last_error());
    tg_assert_close(y16, y32, 0, 0, "linear on bf16 x");
    ck_assert_int_eq(tg_backward_with(y16, &(tg_backward_opts){.seed = seed, .retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward_with(y32, &(tg_backward_opts){.seed = seed}), TG_OK);
    tg_assert_close(tg_tensor_grad(w), tg_tensor_grad(w2), 0, 0, "dw");
    tg_assert_close(tg_tensor_grad(b), tg_tensor_grad(b2), 0, 0, "dbias");
    /* the f32 chain's cast passes the gradient straight through */
    tg_assert_close(tg_tensor_grad(x), tg_tensor_grad(x2), 1e-6, 1e-5, "dx through gelu");
    ck_assert_ptr_null(tg_gelu_with(x, &(tg_gelu_opts){.out = TG_S32}));
    ck_assert_ptr_null(tg_linear(g16, w, b)); /* bf16 x with f32 w needs compute bf16 */
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "one dtype"));
}
END_TEST

/* ---- small GPT ---- */

#define B 2
#define T 16

static void make_gpt(tg_gpt *m)
{
    tg_gpt_config c = {
        .vocab = 61, .dim = 32, .heads = 2, .hidden = 64, .max_seq = T, .n_layers = 2, .eps = 1e-5, .tied = true};
    ck_assert_int_eq(tg_gpt_init(m, &c, 11), TG_OK);
}

static void make_batch(tg_tensor **idx, tg_tensor **tgt)
{
    *idx = tg_tensor_new(TG_STEP, TG_SHAPE(B, T), TG_S32);
    *tgt = tg_tensor_new(TG_STEP, TG_SHAPE(B, T), TG_S32);
    for (int i = 0; i < B * T; i++) {
        tg_s32(*idx)[i] = (int32_t)((i * 7 + 3) % 61);
        tg_s32(*tgt)[i] = (int32_t)((i * 13 + 5) % 61);
    }
}

/* Loss of m on the batch in dtype dt times `scale`, backward into m's
 * grads (zeroed first); returns the unscaled loss. */
static double loss_and_grads(tg_gpt *m, tg_dtype dt, double scale)
{
    tg_tensor *idx, *tgt;
    make_batch(&idx, &tgt);
    ck_assert_int_eq(tg_param_set_zero_grad(m->params), TG_OK);
    tg_nn_set_autocast(dt);
    tg_tensor *loss = tg_gpt_loss(m, idx, tgt, NULL, NULL, true);
    tg_nn_set_autocast(TG_F32);
    ck_assert_msg(loss != NULL, "%s", tg_last_error());
    const double v = tg_item(loss);
    ck_assert_int_eq(tg_backward(scale == 1 ? loss : tg_scale(loss, scale)), TG_OK);
    return v;
}

/* Copies of every gradient of m. */
static tg_tensor **grads_copy(const tg_gpt *m)
{
    const int n = tg_param_set_count(m->params);
    tg_tensor **g = calloc((size_t)n, sizeof *g);
    for (int i = 0; i < n; i++) g[i] = tg_tensor_to(TG_STEP, tg_param_set_grad(m->params, i), TG_F32);
    return g;
}

START_TEST(test_gpt_bf16_close_to_f32)
{
    tg_gpt m;
    make_gpt(&m);
    const double l32 = loss_and_grads(&m, TG_F32, 1);
    tg_tensor **g32 = grads_copy(&m);
    const double l16 = loss_and_grads(&m, TG_BF16, 1);
    ck_assert(l16 != l32); /* the bf16 path ran */
    ck_assert_double_lt(fabs(l16 - l32) / l32, 5e-3);
    for (int i = 0; i < tg_param_set_count(m.params); i++) {
        const double e = rel_l2(tg_param_set_grad(m.params, i), g32[i]);
        ck_assert_msg(e < 3e-2, "%s: bf16 gradient off by %g (relative L2)", tg_param_set_name(m.params, i), e);
    }
    free(g32);
    tg_gpt_free(&m);
}
END_TEST

/* Scaling by a power of two commutes with bf16 rounding, so unscaled
 * gradients equal the unscaled run's; then two clean steps grow the scale;
 * a NaN weight makes the step skip, back off, and leave the weights alone. */
START_TEST(test_loss_scaler_bf16)
{
    tg_gpt m;
    make_gpt(&m);
    loss_and_grads(&m, TG_BF16, 1);
    tg_tensor **ref = grads_copy(&m);
    tg_scaler s;
    tg_scaler_opts so = tg_scaler_default_opts();
    so.init_scale = 1024;
    so.growth_interval = 2;
    ck_assert_int_eq(tg_scaler_init(&s, &so), TG_OK);
    tg_optim *opt = tg_adamw_create(m.params, NULL);
    ck_assert_ptr_nonnull(opt);
    for (int step = 0; step < 2; step++) {
        loss_and_grads(&m, TG_BF16, tg_scaler_scale(&s));
        ck_assert_int_eq(tg_scaler_unscale(&s, m.params), TG_OK);
        ck_assert(tg_scaler_should_step(&s));
        if (step == 0)
            for (int i = 0; i < tg_param_set_count(m.params); i++)
                tg_assert_close(tg_param_set_grad(m.params, i), ref[i], 1e-9, 1e-5, "unscaled grad");
        ck_assert_int_eq(tg_optim_step(opt, 1e-3), TG_OK);
        ck_assert_int_eq(tg_scaler_update(&s), TG_OK);
        tg_step_end();
    }
    ck_assert_double_eq(tg_scaler_scale(&s), 2048);

    /* poison one weight: loss and gradients turn NaN */
    tg_tensor *w = m.blocks[0].mlp.fc1.weight;
    const float keep = tg_f32(w)[5];
    tg_f32(w)[5] = NAN;
    tg_tensor *before = tg_tensor_to(TG_STEP, m.blocks[1].attn.qkv.weight, TG_F32);
    const double l = loss_and_grads(&m, TG_BF16, tg_scaler_scale(&s));
    ck_assert(isnan(l));
    ck_assert_int_eq(tg_scaler_unscale(&s, m.params), TG_OK);
    ck_assert(!tg_scaler_should_step(&s));
    ck_assert_int_eq(tg_scaler_update(&s), TG_OK);
    tg_assert_close(m.blocks[1].attn.qkv.weight, before, 0, 0, "skipped step");
    ck_assert_double_eq(tg_scaler_scale(&s), 1024);
    ck_assert_int_eq(s.skipped, 1);
    tg_f32(w)[5] = keep;
    tg_step_end();

    /* and training resumes with finite gradients */
    loss_and_grads(&m, TG_BF16, tg_scaler_scale(&s));
    ck_assert_int_eq(tg_scaler_unscale(&s, m.params), TG_OK);
    ck_assert(tg_scaler_should_step(&s));
    ck_assert_int_eq(tg_scaler_update(&s), TG_OK);
    tg_optim_destroy(opt);
    free(ref);
    tg_gpt_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mixed_precision");
    TCase *tc = tcase_create("mixed_precision");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_linear_bf16_compute);
    tcase_add_test(tc, test_gelu_bf16_into_linear);
    tcase_add_test(tc, test_gpt_bf16_close_to_f32);
    tcase_add_test(tc, test_loss_scaler_bf16);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
