/* layer_norm / rms_norm: forward and x, w, b gradients against PyTorch 1.13
 * (tests/fixtures/normce.json), gradchecks over the case table (D = 1, 5,
 * 17, 33, 100, 6, 7; with and without affine parameters), the row-parallel
 * parameter-gradient reduction, and error messages. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/tg_test.h"

static const char *const cases[] = {
    "ln_d1",      "ln_d5_plain", "ln_d17_w",     "ln_d33_wb", "ln_d100_wb", "ln_vec7_b",
    "ln_big_eps", "rms_d1",      "rms_d5_plain", "rms_d17_w", "rms_d33_w",  "rms_d100_w",
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

typedef struct norm_user {
    bool rms, has_w, has_b;
    double eps;
} norm_user;

static tg_tensor *norm_fn(tg_tensor *const *in, int n_in, void *user)
{
    (void)n_in;
    const norm_user *u = user;
    const tg_tensor *w = u->has_w ? in[1] : NULL, *b = u->has_b ? in[1 + u->has_w] : NULL;
    return u->rms ? tg_rms_norm(in[0], w, u->eps) : tg_layer_norm(in[0], w, b, u->eps);
}

static void assert_fails(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "call succeeded, expected an error with '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error '%s' lacks '%s'", tg_last_error(), needle);
}

START_TEST(test_norm_cases)
{
    const char *name = cases[_i];
    json_t *fx = tg_fixture_load("normce");
    const json_t *c = json_object_get(fx, name), *attrs = json_object_get(c, "attrs");
    ck_assert_msg(c != NULL, "fixture case %s missing", name);
    norm_user u = {.rms = !strcmp(json_string_value(json_object_get(attrs, "op")), "rms_norm"),
                   .has_w = json_is_true(json_object_get(attrs, "has_w")),
                   .has_b = json_is_true(json_object_get(attrs, "has_b")),
                   .eps = json_number_value(json_object_get(attrs, "eps"))};
    const json_t *inputs = json_object_get(c, "inputs"), *grads = json_object_get(c, "grads");
    const int n_in = (int)json_array_size(inputs);
    ck_assert_int_eq(n_in, 1 + u.has_w + u.has_b);
    tg_tensor *in[3];
    for (int i = 0; i < n_in; i++) {
        in[i] = tg_fixture_tensor(json_array_get(inputs, (size_t)i));
        tg_tensor_set_requires_grad(in[i], true);
    }
    tg_tensor *y = norm_fn(in, n_in, &u);
    tg_assert_close(y, tg_fixture_tensor(json_object_get(c, "output")), 1e-5, 1e-4, name);
    const tg_backward_opts bo = {.seed = tg_fixture_tensor(json_object_get(c, "seed"))};
    ck_assert_int_eq(tg_backward_with(y, &bo), TG_OK);
    for (int i = 0; i < n_in; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s d%s", name, i == 0 ? "x" : i == 1 && u.has_w ? "w" : "b");
        tg_assert_close(tg_tensor_grad(in[i]), tg_fixture_tensor(json_array_get(grads, (size_t)i)), 1e-4, 1e-4, what);
    }
    tg_assert_gradcheck(norm_fn, in, n_in, &u, NULL, name);
    json_decref(fx);
}
END_TEST

/* dw and db of a (rows, D) layer norm in double, straight from the formula. */
static void reference_dwdb(double *dw, double *db, const float *x, const float *dy, int64_t rows, int64_t D, double eps)
{
    memset(dw, 0, sizeof *dw * (size_t)D);
    memset(db, 0, sizeof *db * (size_t)D);
    for (int64_t r = 0; r < rows; r++) {
        double mu = 0, var = 0;
        for (int64_t j = 0; j < D; j++) mu += x[r * D + j];
        mu /= (double)D;
        for (int64_t j = 0; j < D; j++) var += (x[r * D + j] - mu) * (x[r * D + j] - mu);
        const double rs = 1.0 / sqrt(var / (double)D + eps);
        for (int64_t j = 0; j < D; j++) {
            dw[j] += dy[r * D + j] * (x[r * D + j] - mu) * rs;
            db[j] += dy[r * D + j];
        }
    }
}

START_TEST(test_param_grads_parallel)
{
    /* 600 rows x 97: several row blocks on both threads */
    const int64_t rows = 600, D = 97;
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(4, 150, 97), TG_F32, 21, 0.5, 2.0);
    tg_tensor *dy = tg_randn(TG_STEP, TG_SHAPE(4, 150, 97), TG_F32, 22, 0.0, 1.0);
    tg_tensor *w = tg_randn(TG_PERSIST, TG_SHAPE(97), TG_F32, 23, 1.0, 0.1);
    tg_tensor *b = tg_zeros(TG_PERSIST, TG_SHAPE(97), TG_F32);
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_requires_grad(b, true);
    float dw_runs[2][97], db_runs[2][97];
    for (int run = 0; run < 2; run++) {
        tg_ctx_set_threads(tg_ctx_current(), run ? 1 : 2);
        tg_zero_grad(w);
        tg_zero_grad(b);
        ck_assert_int_eq(tg_backward_with(tg_layer_norm(x, w, b, 1e-5), &(tg_backward_opts){.seed = dy}), TG_OK);
        memcpy(dw_runs[run], tg_f32(tg_tensor_grad(w)), sizeof dw_runs[run]);
        memcpy(db_runs[run], tg_f32(tg_tensor_grad(b)), sizeof db_runs[run]);
    }
    tg_ctx_set_threads(tg_ctx_current(), 2);
    /* the same bits whatever the thread count */
    ck_assert_int_eq(memcmp(dw_runs[0], dw_runs[1], sizeof dw_runs[0]), 0);
    ck_assert_int_eq(memcmp(db_runs[0], db_runs[1], sizeof db_runs[0]), 0);
    double dw_ref[97], db_ref[97];
    reference_dwdb(dw_ref, db_ref, tg_f32(x), tg_f32(dy), rows, D, 1e-5);
    for (int j = 0; j < D; j++) {
        ck_assert_double_eq_tol(dw_runs[0][j], dw_ref[j], 1e-3 + 1e-4 * fabs(dw_ref[j]));
        ck_assert_double_eq_tol(db_runs[0][j], db_ref[j], 1e-3 + 1e-4 * fabs(db_ref[j]));
    }
    tg_tensor_free(w);
    tg_tensor_free(b);
}
END_TEST

START_TEST(test_norm_large_gradcheck)
{
    /* above the OpenMP threshold: sampled elements plus directions */
    tg_tensor *in[3] = {tg_randn(TG_STEP, TG_SHAPE(256, 130), TG_F32, 31, 0.0, 1.0),
                        tg_randn(TG_STEP, TG_SHAPE(130), TG_F32, 32, 1.0, 0.2),
                        tg_randn(TG_STEP, TG_SHAPE(130), TG_F32, 33, 0.0, 0.2)};
    for (int i = 0; i < 3; i++) tg_tensor_set_requires_grad(in[i], true);
    tg_gradcheck_opts o = {.max_elems = 48, .directions = 2, .eps = 1e-2, .seed = 5};
    norm_user ln = {.has_w = true, .has_b = true, .eps = 1e-5};
    tg_assert_gradcheck(norm_fn, in, 3, &ln, &o, "layer_norm 256x130");
    norm_user rms = {.rms = true, .has_w = true, .eps = 1e-5};
    tg_assert_gradcheck(norm_fn, in, 2, &rms, &o, "rms_norm 256x130");
}
END_TEST

START_TEST(test_no_grad_for_x_only_params)
{
    /* x constant, only w and b need gradients: dx is never written */
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(3, 4), TG_F32, 41, 0.0, 1.0);
    tg_tensor *w = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32);
    tg_tensor_set_requires_grad(w, true);
    ck_assert_int_eq(tg_backward(tg_sum(tg_rms_norm(x, w, 1e-6), NULL, 0, false)), TG_OK);
    ck_assert_ptr_null(tg_tensor_grad(x));
    /* d/dw sum(x * rstd * w) = sum over rows of x * rstd */
    for (int j = 0; j < 4; j++) {
        double want = 0;
        for (int r = 0; r < 3; r++) {
            double ms = 0;
            for (int k = 0; k < 4; k++) ms += tg_f32(x)[r * 4 + k] * tg_f32(x)[r * 4 + k];
            want += tg_f32(x)[r * 4 + j] / sqrt(ms / 4 + 1e-6);
        }
        ck_assert_double_eq_tol(tg_f32(tg_tensor_grad(w))[j], want, 1e-5);
    }
}
END_TEST

/* bf16 output: the f32 result rounded to nearest even, and the same
 * gradients (backward reads x and the statistics, never the output), for
 * layer and RMS norm with their affine parameters. */
START_TEST(test_norm_bf16_output)
{
    for (int rms = 0; rms < 2; rms++) {
        tg_tensor *x32 = tg_randn(TG_STEP, TG_SHAPE(5, 37), TG_F32, 51, 0.5, 2.0);
        tg_tensor *x16 = tg_tensor_clone(TG_STEP, x32);
        tg_tensor *w = tg_randn(TG_STEP, TG_SHAPE(37), TG_F32, 52, 1.0, 0.3);
        tg_tensor *b = rms ? NULL : tg_randn(TG_STEP, TG_SHAPE(37), TG_F32, 53, 0.0, 0.3);
        tg_tensor_set_requires_grad(x32, true);
        tg_tensor_set_requires_grad(x16, true);
        tg_tensor *y32 = rms ? tg_rms_norm(x32, w, 1e-5) : tg_layer_norm(x32, w, b, 1e-5);
        tg_tensor *y16 = rms ? tg_rms_norm_with(x16, w, 1e-5, &(tg_rms_norm_opts){.out = TG_BF16})
                             : tg_layer_norm_with(x16, w, b, 1e-5, &(tg_layer_norm_opts){.out = TG_BF16});
        ck_assert_int_eq(tg_tensor_dtype(y16), TG_BF16);
        for (int64_t i = 0; i < tg_tensor_numel(y32); i++)
            ck_assert_uint_eq(tg_bf16(y16)[i], tg_f32_to_bf16(tg_f32(y32)[i]));
        tg_tensor *seed = tg_randn(TG_STEP, TG_SHAPE(5, 37), TG_F32, 54, 0, 1);
        /* one tape for both */
        ck_assert_int_eq(tg_backward_with(y32, &(tg_backward_opts){.seed = seed, .retain_graph = true}), TG_OK);
        ck_assert_int_eq(tg_backward_with(y16, &(tg_backward_opts){.seed = seed}), TG_OK);
        tg_assert_close(tg_tensor_grad(x16), tg_tensor_grad(x32), 0, 0, "dx with a bf16 output");
    }
    assert_fails(tg_layer_norm_with(tg_zeros(TG_STEP, TG_SHAPE(2, 5), TG_F32), NULL, NULL, 1e-5,
                                    &(tg_layer_norm_opts){.out = TG_S32}),
                 "layer_norm: output dtype must be f32 or bf16, got s32");
}
END_TEST

START_TEST(test_norm_errors)
{
    tg_tensor *x = tg_zeros(TG_STEP, TG_SHAPE(2, 5), TG_F32);
    tg_tensor *w4 = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32), *w5 = tg_ones(TG_STEP, TG_SHAPE(5), TG_F32);
    assert_fails(tg_layer_norm(x, w4, NULL, 1e-5),
                 "layer_norm: w has shape (4), expected (5) to match the last dim of x (2, 5)");
    assert_fails(tg_layer_norm(x, w5, tg_ones(TG_STEP, TG_SHAPE(1, 5), TG_F32), 1e-5),
                 "layer_norm: b has shape (1, 5), expected (5)");
    assert_fails(tg_rms_norm(x, w4, 1e-5), "rms_norm: w has shape (4), expected (5)");
    assert_fails(tg_rms_norm(x, tg_ones(TG_STEP, TG_SHAPE(5), TG_S32), 1e-5), "rms_norm: w must be f32, got s32");
    assert_fails(tg_layer_norm(tg_zeros(TG_STEP, TG_SHAPE(5), TG_BF16), NULL, NULL, 1e-5),
                 "layer_norm: x must be f32, got bf16");
    assert_fails(tg_layer_norm(x, NULL, NULL, -1.0), "layer_norm: eps must be >= 0, got -1");
    assert_fails(tg_rms_norm(tg_ones(TG_STEP, TG_SCALAR_SHAPE, TG_F32), NULL, 1e-5),
                 "rms_norm: x must have at least one axis");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("norm");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_norm_cases, 0, N_CASES);
    tcase_add_test(tc, test_param_grads_parallel);
    tcase_add_test(tc, test_norm_large_gradcheck);
    tcase_add_test(tc, test_no_grad_for_x_only_params);
    tcase_add_test(tc, test_norm_errors);
    tcase_add_test(tc, test_norm_bf16_output);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
