/* softmax / log_softmax: forward and backward against PyTorch 1.13
 * (tests/fixtures/normce.json from gen_normce.py), gradchecks over the case
 * table (sizes 1, odd, not multiples of 16; causal, padding and fully
 * masked rows), numerical stability and error messages. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/tg_test.h"

/* Case names in the fixture, each run as "softmax_<name>" and "log_softmax_<name>". */
static const char *const cases[] = {
    "1x1", "3x5", "2x17", "2x33", "2x100", "vec7", "causal", "padding", "fullmask", "finite_mask", "row_mask",
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

typedef struct sm_user {
    bool log;
    bool through_exp; /* check exp(log_softmax): keeps -inf outputs out of the projection */
} sm_user;

static tg_tensor *sm_fn(tg_tensor *const *in, int n_in, void *user)
{
    const sm_user *u = user;
    const tg_tensor *mask = n_in > 1 ? in[1] : NULL;
    if (!u->log) return tg_softmax(in[0], mask);
    tg_tensor *y = tg_log_softmax(in[0], mask);
    return u->through_exp ? tg_exp(y) : y;
}

/* Fails unless the call returned NULL with `needle` in the error message. */
static void assert_fails(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "call succeeded, expected an error with '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error '%s' lacks '%s'", tg_last_error(), needle);
}

static bool has_neg_inf(const tg_tensor *t)
{
    for (int64_t i = 0; i < tg_tensor_numel(t); i++)
        if (isinf(tg_tensor_get(t, i))) return true;
    return false;
}

START_TEST(test_softmax_cases)
{
    const bool log = _i >= N_CASES;
    char name[64];
    snprintf(name, sizeof name, "%s_%s", log ? "log_softmax" : "softmax", cases[_i % N_CASES]);
    json_t *fx = tg_fixture_load("normce");
    const json_t *c = json_object_get(fx, name);
    ck_assert_msg(c != NULL, "fixture case %s missing", name);
    const json_t *inputs = json_object_get(c, "inputs");
    const int n_in = (int)json_array_size(inputs);
    tg_tensor *in[2] = {tg_fixture_tensor(json_array_get(inputs, 0)),
                        n_in > 1 ? tg_fixture_tensor(json_array_get(inputs, 1)) : NULL};
    tg_tensor_set_requires_grad(in[0], true);

    tg_tensor *y = log ? tg_log_softmax(in[0], in[1]) : tg_softmax(in[0], in[1]);
    tg_assert_close(y, tg_fixture_tensor(json_object_get(c, "output")), 1e-6, 1e-5, name);
    const tg_backward_opts bo = {.seed = tg_fixture_tensor(json_object_get(c, "seed"))};
    ck_assert_int_eq(tg_backward_with(y, &bo), TG_OK);
    tg_assert_close(tg_tensor_grad(in[0]), tg_fixture_tensor(json_array_get(json_object_get(c, "grads"), 0)), 1e-6,
                    1e-5, name);

    sm_user u = {.log = log, .through_exp = log && n_in > 1 && has_neg_inf(in[1])};
    /* log-probabilities near -log C round to ~2e-7 in f32, and a 1e-3 step
     * over ~200 outputs leaves ~1e-3 of rounding noise in the numeric
     * derivative: as large as the tolerance. A 1e-2 step keeps the noise at
     * 1e-4 while the truncation error stays far below it. */
    const tg_gradcheck_opts o = {.eps = log ? 1e-2 : 0};
    tg_assert_gradcheck(sm_fn, in, n_in, &u, &o, name);
    json_decref(fx);
}
END_TEST

START_TEST(test_fully_masked_rows_no_nan)
{
    /* row 0 fully masked by the mask, row 1 by -inf logits, row 2 live */
    const float xv[] = {1, 2, 3, -INFINITY, -INFINITY, -INFINITY, 0, 1, 2};
    const float mv[] = {-INFINITY, 0, 0};
    tg_tensor *x = tg_from_buffer(TG_STEP, TG_SHAPE(3, 3), TG_F32, xv);
    tg_tensor *mask = tg_from_buffer(TG_STEP, TG_SHAPE(3, 1), TG_F32, mv);
    tg_tensor_set_requires_grad(x, true);
    for (int log = 0; log < 2; log++) {
        tg_zero_grad(x);
        tg_tensor *y = log ? tg_log_softmax(x, mask) : tg_softmax(x, mask);
        ck_assert_ptr_nonnull(y);
        for (int i = 0; i < 6; i++) ck_assert_float_eq(tg_f32(y)[i], 0.0f);
        tg_tensor *seed = tg_full(TG_STEP, TG_SHAPE(3, 3), TG_F32, 0.5);
        tg_f32(seed)[8] = 2.0f;
        ck_assert_int_eq(tg_backward_with(y, &(tg_backward_opts){.seed = seed}), TG_OK);
        const float *dx = tg_f32(tg_tensor_grad(x));
        for (int i = 0; i < 9; i++) ck_assert_msg(isfinite(dx[i]), "log %d: dx[%d] = %g", log, i, dx[i]);
        for (int i = 0; i < 6; i++) ck_assert_float_eq(dx[i], 0.0f);
        ck_assert_float_ne(dx[8], 0.0f);
    }
}
END_TEST

START_TEST(test_large_logits_stable)
{
    const float xv[] = {1000.0f, 1001.0f, -1000.0f, 88.0f, 89.0f, 90.0f};
    tg_tensor *x = tg_from_buffer(TG_STEP, TG_SHAPE(2, 3), TG_F32, xv);
    const float e1 = 1.0f / (1.0f + expf(1.0f)), e2 = 1.0f / (1.0f + expf(-1.0f));
    const float d = 1.0f + expf(-1.0f) + expf(-2.0f);
    const float want[] = {e1, e2, 0.0f, expf(-2.0f) / d, expf(-1.0f) / d, 1.0f / d};
    tg_assert_close_buf(tg_softmax(x, NULL), want, 6, 1e-6, 1e-5, "softmax large");
    const float want_log[] = {-logf(1.0f + expf(1.0f)), -logf(1.0f + expf(-1.0f)), -2001.0f - logf(1.0f + expf(-1.0f)),
                              -2.0f - logf(d),          -1.0f - logf(d),           -logf(d)};
    tg_assert_close_buf(tg_log_softmax(x, NULL), want_log, 6, 1e-5, 1e-5, "log_softmax large");
}
END_TEST

START_TEST(test_mask_gets_no_gradient)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(2, 4), TG_F32, 3, 0.0, 1.0);
    tg_tensor *mask = tg_randn(TG_STEP, TG_SHAPE(4), TG_F32, 4, 0.0, 1.0);
    tg_tensor_set_requires_grad(mask, true);
    tg_tensor *y = tg_softmax(x, mask);
    ck_assert(tg_tensor_requires_grad(y));
    ck_assert_int_eq(tg_backward(tg_sum(tg_mul(y, y), NULL, 0, false)), TG_OK);
    const tg_tensor *dm = tg_tensor_grad(mask);
    for (int64_t i = 0; dm && i < tg_tensor_numel(dm); i++) ck_assert_float_eq(tg_f32(dm)[i], 0.0f);
}
END_TEST

START_TEST(test_parallel_rows_match_serial)
{
    /* 300 rows of 129: above the OpenMP threshold; compare with 1 thread */
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(3, 100, 129), TG_F32, 5, 0.0, 3.0);
    tg_tensor *mask = tg_rand(TG_STEP, TG_SHAPE(100, 129), TG_F32, 6, -5.0, 0.0);
    tg_tensor *y2 = tg_log_softmax(x, mask);
    tg_ctx_set_threads(tg_ctx_current(), 1);
    tg_tensor *y1 = tg_log_softmax(x, mask);
    tg_ctx_set_threads(tg_ctx_current(), 2);
    ck_assert_int_eq(memcmp(tg_f32(y1), tg_f32(y2), tg_tensor_nbytes(y1)), 0);
    /* each row of exp(log_softmax) sums to 1 */
    tg_tensor *s = tg_sum(tg_exp(y2), (int[]){-1}, 1, false);
    tg_assert_close(s, tg_ones(TG_STEP, TG_SHAPE(3, 100), TG_F32), 1e-5, 0, "row sums");
}
END_TEST

START_TEST(test_softmax_errors)
{
    tg_tensor *x = tg_zeros(TG_STEP, TG_SHAPE(2, 3, 5), TG_F32);
    assert_fails(tg_softmax(x, tg_zeros(TG_STEP, TG_SHAPE(3, 4), TG_F32)),
                 "softmax: mask (3, 4) does not broadcast to x (2, 3, 5)");
    /* a mask that would enlarge x is not a mask */
    assert_fails(tg_log_softmax(x, tg_zeros(TG_STEP, TG_SHAPE(4, 1, 1, 5), TG_F32)),
                 "log_softmax: mask (4, 1, 1, 5) does not broadcast to x (2, 3, 5)");
    assert_fails(tg_softmax(x, tg_zeros(TG_STEP, TG_SHAPE(5), TG_S32)), "softmax: mask must be f32, got s32");
    assert_fails(tg_softmax(tg_zeros(TG_STEP, TG_SHAPE(4), TG_S32), NULL), "softmax: x must be f32, got s32");
    assert_fails(tg_softmax(tg_zeros(TG_STEP, TG_SCALAR_SHAPE, TG_F32), NULL),
                 "softmax: x must have at least one axis");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("softmax");
    TCase *tc = tcase_create("softmax");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_softmax_cases, 0, 2 * N_CASES);
    tcase_add_test(tc, test_fully_masked_rows_no_nan);
    tcase_add_test(tc, test_large_logits_stable);
    tcase_add_test(tc, test_mask_gets_no_gradient);
    tcase_add_test(tc, test_parallel_rows_match_serial);
    tcase_add_test(tc, test_softmax_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
