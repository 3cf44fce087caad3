/* cross_entropy: loss and logits gradient against PyTorch 1.13
 * (tests/fixtures/normce.json) for every reduction, ignore_index (also a
 * valid class), label smoothing, class weights and token weights (checked
 * against the definition in autograd/ops/cross_entropy.c), gradchecks over
 * the case table, the all-ignored mean, and error messages. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/tg_test.h"

static const char *const cases[] = {
    "ce_c1",
    "ce_4x5_mean",
    "ce_6x17_ignore",
    "ce_5x33_smooth",
    "ce_6x17_smooth_ignore_cw",
    "ce_8x5_cw_mean",
    "ce_8x5_cw_sum",
    "ce_2x3x5_none",
    "ce_2x3x5_none_smooth_cw",
    "ce_ignore_valid_class",
    "ce_3x4x7_tw_mean",
    "ce_3x4x7_tw_sum",
    "ce_3x4x7_tw_none",
    "ce_4x100_smooth_sum",
    "ce_2x3x17_mean",
    "ce_all_ignored",
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

/* Options whose weights are taken from the gradcheck inputs 2 and 3. */
typedef struct ce_user {
    tg_ce_opts o;
    bool cw, tw;
} ce_user;

static tg_tensor *ce_fn(tg_tensor *const *in, int n_in, void *user)
{
    (void)n_in;
    const ce_user *u = user;
    tg_ce_opts o = u->o;
    o.class_weights = u->cw ? in[2] : NULL;
    o.token_weights = u->tw ? in[2 + u->cw] : NULL;
    return tg_cross_entropy(in[0], in[1], &o);
}

static void assert_fails(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "call succeeded, expected an error with '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error '%s' lacks '%s'", tg_last_error(), needle);
}

static tg_reduction reduction_of(const char *s)
{
    return !strcmp(s, "sum") ? TG_REDUCE_SUM : !strcmp(s, "none") ? TG_REDUCE_NONE : TG_REDUCE_MEAN;
}

START_TEST(test_ce_cases)
{
    const char *name = cases[_i];
    json_t *fx = tg_fixture_load("normce");
    const json_t *c = json_object_get(fx, name), *attrs = json_object_get(c, "attrs");
    ck_assert_msg(c != NULL, "fixture case %s missing", name);
    ce_user u = {.o = tg_ce_defaults(),
                 .cw = json_is_true(json_object_get(attrs, "class_weights")),
                 .tw = json_is_true(json_object_get(attrs, "token_weights"))};
    u.o.ignore_index = (int)json_integer_value(json_object_get(attrs, "ignore_index"));
    u.o.label_smoothing = json_number_value(json_object_get(attrs, "smoothing"));
    u.o.reduction = reduction_of(json_string_value(json_object_get(attrs, "reduction")));
    const json_t *inputs = json_object_get(c, "inputs");
    const int n_in = (int)json_array_size(inputs);
    ck_assert_int_eq(n_in, 2 + u.cw + u.tw);
    tg_tensor *in[4];
    for (int i = 0; i < n_in; i++) in[i] = tg_fixture_tensor(json_array_get(inputs, (size_t)i));
    tg_tensor_set_requires_grad(in[0], true);

    tg_tensor *loss = ce_fn(in, n_in, &u);
    tg_assert_close(loss, tg_fixture_tensor(json_object_get(c, "output")), 1e-5, 1e-5, name);
    const tg_backward_opts bo = {.seed = tg_fixture_tensor(json_object_get(c, "seed"))};
    ck_assert_int_eq(tg_backward_with(loss, &bo), TG_OK);
    tg_assert_close(tg_tensor_grad(in[0]), tg_fixture_tensor(json_array_get(json_object_get(c, "grads"), 0)), 1e-6,
                    1e-4, name);
    tg_assert_gradcheck(ce_fn, in, n_in, &u, NULL, name);
    json_decref(fx);
}
END_TEST

START_TEST(test_all_ignored_mean_is_zero)
{
    tg_tensor *z = tg_randn(TG_STEP, TG_SHAPE(2, 3, 4), TG_F32, 1, 0.0, 1.0);
    tg_tensor *t = tg_full(TG_STEP, TG_SHAPE(2, 3), TG_S32, -100);
    tg_tensor_set_requires_grad(z, true);
    tg_ce_opts o = tg_ce_defaults();
    o.label_smoothing = 0.1;
    tg_tensor *loss = tg_cross_entropy(z, t, &o);
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(tg_tensor_ndim(loss), 0);
    ck_assert_float_eq(tg_f32(loss)[0], 0.0f);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(tg_f32(tg_tensor_grad(z))[i], 0.0f);
    /* zero token weights empty the denominator the same way */
    tg_tensor *t2 = tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_S32);
    o.token_weights = tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_F32);
    ck_assert_float_eq(tg_item(tg_cross_entropy(z, t2, &o)), 0.0f);
}
END_TEST

START_TEST(test_defaults_and_null_opts)
{
    tg_ce_opts d = tg_ce_defaults();
    ck_assert_int_eq(d.ignore_index, -100);
    ck_assert_double_eq(d.label_smoothing, 0.0);
    ck_assert_ptr_null(d.class_weights);
    ck_assert_ptr_null(d.token_weights);
    ck_assert_int_eq(d.reduction, TG_REDUCE_MEAN);
    /* uniform logits: every target costs log(C) */
    tg_tensor *z = tg_zeros(TG_STEP, TG_SHAPE(3, 7), TG_F32);
    const int32_t tv[] = {0, 6, -100};
    tg_tensor *t = tg_from_buffer(TG_STEP, TG_SHAPE(3), TG_S32, tv);
    ck_assert_double_eq_tol(tg_item(tg_cross_entropy(z, t, NULL)), log(7.0), 1e-6);
    d.reduction = TG_REDUCE_SUM;
    ck_assert_double_eq_tol(tg_item(tg_cross_entropy(z, t, &d)), 2 * log(7.0), 1e-5);
}
END_TEST

START_TEST(test_large_parallel)
{
    /* 96 x 500 logits: above the OpenMP threshold; loss checked against a
     * double-precision evaluation of the definition, gradient by gradcheck */
    const int64_t R = 96, C = 500;
    tg_tensor *in[4] = {
        tg_randn(TG_STEP, TG_SHAPE(R, C), TG_F32, 7, 0.0, 3.0), tg_tensor_empty(TG_STEP, TG_SHAPE(R), TG_S32),
        tg_rand(TG_STEP, TG_SHAPE(C), TG_F32, 8, 0.2, 2.0), tg_rand(TG_STEP, TG_SHAPE(R), TG_F32, 9, 0.0, 1.5)};
    for (int64_t r = 0; r < R; r++) tg_s32(in[1])[r] = r % 11 == 3 ? -100 : (int32_t)((r * 37) % C);
    tg_tensor_set_requires_grad(in[0], true);
    ce_user u = {.o = tg_ce_defaults(), .cw = true, .tw = true};
    u.o.label_smoothing = 0.1;
    const float *z = tg_f32(in[0]), *cw = tg_f32(in[2]), *tw = tg_f32(in[3]);
    double num = 0, den = 0, wsum = 0;
    for (int64_t j = 0; j < C; j++) wsum += cw[j];
    for (int64_t r = 0; r < R; r++) {
        const int32_t t = tg_s32(in[1])[r];
        if (t == -100) continue;
        double mx = -INFINITY, s = 0, wz = 0;
        for (int64_t j = 0; j < C; j++) mx = fmax(mx, z[r * C + j]);
        for (int64_t j = 0; j < C; j++) {
            s += exp(z[r * C + j] - mx);
            wz += cw[j] * z[r * C + j];
        }
        const double lse = mx + log(s);
        const double l = 0.9 * cw[t] * (lse - z[r * C + t]) + 0.1 / (double)C * (wsum * lse - wz);
        num += tw[r] * l;
        den += tw[r] * cw[t];
    }
    ck_assert_double_eq_tol(tg_item(ce_fn(in, 4, &u)), num / den, 1e-4 * num / den);
    tg_gradcheck_opts o = {.max_elems = 64, .directions = 2, .seed = 3};
    tg_assert_gradcheck(ce_fn, in, 4, &u, &o, "cross_entropy 96x500");
}
END_TEST

START_TEST(test_ce_errors)
{
    tg_tensor *z = tg_zeros(TG_STEP, TG_SHAPE(2, 3, 5), TG_F32);
    const int32_t tv[] = {0, 1, 4, 2, 5, -100};
    tg_tensor *t = tg_from_buffer(TG_STEP, TG_SHAPE(2, 3), TG_S32, tv);
    tg_ce_opts o = tg_ce_defaults();
    assert_fails(tg_cross_entropy(z, t, &o),
                 "cross_entropy: target 5 at position 4 (index [1, 1]) is outside [0, 5) and is not ignore_index -100");
    tg_s32(t)[4] = -1;
    assert_fails(tg_cross_entropy(z, t, &o), "target -1 at position 4 (index [1, 1]) is outside [0, 5)");
    tg_s32(t)[4] = 0;
    o.ignore_index = -1;
    assert_fails(tg_cross_entropy(z, t, &o), "target -100 at position 5 (index [1, 2])");
    o = tg_ce_defaults();
    ck_assert_ptr_nonnull(tg_cross_entropy(z, t, &o));
    assert_fails(tg_cross_entropy(z, tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_F32), &o),
                 "cross_entropy: targets must be s32, got f32");
    assert_fails(tg_cross_entropy(z, tg_zeros(TG_STEP, TG_SHAPE(3, 2), TG_S32), &o),
                 "cross_entropy: targets (3, 2) must have the logits' leading shape (2, 3) (logits (2, 3, 5))");
    assert_fails(tg_cross_entropy(z, tg_zeros(TG_STEP, TG_SHAPE(2, 3, 5), TG_S32), &o),
                 "targets (2, 3, 5) must have the logits' leading shape (2, 3)");
    assert_fails(tg_cross_entropy(tg_zeros(TG_STEP, TG_SHAPE(2, 3, 5), TG_S32), t, &o),
                 "cross_entropy: logits must be f32, got s32");
    o.class_weights = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32);
    assert_fails(tg_cross_entropy(z, t, &o),
                 "cross_entropy: class_weights (4) must be (5), one per class of logits (2, 3, 5)");
    o.class_weights = NULL;
    o.token_weights = tg_ones(TG_STEP, TG_SHAPE(6), TG_F32);
    assert_fails(tg_cross_entropy(z, t, &o), "cross_entropy: token_weights (6) must have the targets' shape (2, 3)");
    o.token_weights = NULL;
    o.label_smoothing = 1.0;
    assert_fails(tg_cross_entropy(z, t, &o), "cross_entropy: label_smoothing must be in [0, 1), got 1");
    o.label_smoothing = 0;
    o.reduction = (tg_reduction)7;
    assert_fails(tg_cross_entropy(z, t, &o), "cross_entropy: unknown reduction 7");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cross_entropy");
    TCase *tc = tcase_create("cross_entropy");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_ce_cases, 0, N_CASES);
    tcase_add_test(tc, test_all_ignored_mean_is_zero);
    tcase_add_test(tc, test_defaults_and_null_opts);
    tcase_add_test(tc, test_large_parallel);
    tcase_add_test(tc, test_ce_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
