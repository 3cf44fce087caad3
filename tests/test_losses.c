/* Focal, BCE-with-logits and cost-matrix losses: values and gradients
 * against PyTorch, gradcheck on every case, bad input. */
#include <string.h>

#include "tests/tg_test.h"

static json_t *fx;
static const char **keys;
static int n_keys;

static void load_keys(void)
{
    fx = tg_fixture_load("losses");
    n_keys = (int)json_object_size(fx);
    keys = calloc((size_t)n_keys, sizeof *keys);
    int i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(fx, k, v) keys[i++] = k;
}

typedef struct loss_user {
    const char *key;
    double gamma;
    tg_tensor *extra[2];
    int n_extra;
} loss_user;

static tg_tensor *run(tg_tensor *z, const loss_user *u)
{
    if (!strncmp(u->key, "focal", 5))
        return tg_focal_loss(z, u->extra[0], u->gamma, u->n_extra > 1 ? u->extra[1] : NULL);
    if (!strncmp(u->key, "cost", 4)) return tg_cost_matrix_loss(z, u->extra[0], u->extra[1]);
    return tg_bce_logits(z, u->extra[0], u->n_extra > 1 ? u->extra[1] : NULL);
}

static tg_tensor *gc_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    return run(in[0], u);
}

START_TEST(test_loss_case)
{
    load_keys();
    ck_assert_int_gt(n_keys, 30);
    for (int i = 0; i < n_keys; i++) {
        json_t *c = json_object_get(fx, keys[i]);
        json_t *ins = json_object_get(c, "inputs");
        loss_user u = {.key = keys[i], .gamma = json_number_value(json_object_get(c, "gamma"))};
        tg_tensor *z = tg_fixture_tensor(json_array_get(ins, 0));
        u.n_extra = (int)json_array_size(ins) - 1;
        for (int k = 0; k < u.n_extra; k++) u.extra[k] = tg_fixture_tensor(json_array_get(ins, (size_t)k + 1));
        tg_tensor_set_requires_grad(z, true);
        tg_tensor *loss = run(z, &u);
        tg_assert_close(loss, tg_fixture_tensor(json_object_get(c, "output")), 1e-6, 1e-5, keys[i]);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_assert_close(tg_tensor_grad(z), tg_fixture_tensor(json_object_get(c, "grad")), 1e-6, 1e-4, keys[i]);
        tg_assert_gradcheck(gc_fn, &z, 1, &u, NULL, keys[i]);
    }
    free(keys);
    json_decref(fx);
}
END_TEST

START_TEST(test_focal_gamma_zero_is_cross_entropy)
{
    tg_tensor *z = tg_randn(TG_STEP, TG_SHAPE(6, 4), TG_F32, 3, 0, 2);
    int32_t yv[] = {0, 3, 2, 1, 1, 0};
    tg_tensor *y = tg_from_buffer(TG_STEP, TG_SHAPE(6), TG_S32, yv);
    double focal = tg_item(tg_focal_loss(z, y, 0.0, NULL));
    double ce = 0;
    for (int i = 0; i < 6; i++) {
        double m = -1e30, s = 0;
        for (int k = 0; k < 4; k++) m = fmax(m, tg_f32(z)[i * 4 + k]);
        for (int k = 0; k < 4; k++) s += exp(tg_f32(z)[i * 4 + k] - m);
        ce += -(tg_f32(z)[i * 4 + yv[i]] - m - log(s));
    }
    ck_assert_double_eq_tol(focal, ce / 6, 1e-5);
}
END_TEST

START_TEST(test_cost_matrix_prefers_cheap_mistakes)
{
    /* Two rows of true class 0 (approve); predicting 1 (deny) costs 5. A
     * gradient step must lower the logit of the costly class more. */
    float cv[] = {0, 5, 1, 0};
    tg_tensor *cost = tg_from_buffer(TG_STEP, TG_SHAPE(2, 2), TG_F32, cv);
    tg_tensor *z = tg_zeros(TG_STEP, TG_SHAPE(2, 2), TG_F32);
    tg_tensor_set_requires_grad(z, true);
    int32_t yv[] = {0, 1};
    tg_tensor *y = tg_from_buffer(TG_STEP, TG_SHAPE(2), TG_S32, yv);
    tg_tensor *loss = tg_cost_matrix_loss(z, y, cost);
    ck_assert_double_eq_tol(tg_item(loss), (2.5 + 0.5) / 2, 1e-6);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    const float *g = tg_f32(tg_tensor_grad(z));
    ck_assert_float_gt(g[1], 0);                      /* push down "deny" for a true approve */
    ck_assert_float_eq_tol(g[1], -5.0f * g[3], 1e-6); /* five times the reverse mistake */
}
END_TEST

START_TEST(test_errors)
{
    tg_tensor *z = tg_zeros(TG_STEP, TG_SHAPE(3, 2), TG_F32);
    int32_t bad[] = {0, 2, 1};
    tg_tensor *y = tg_from_buffer(TG_STEP, TG_SHAPE(3), TG_S32, bad);
    ck_assert_ptr_null(tg_focal_loss(z, y, 2.0, NULL));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "target 2 at row 1 outside [0, 2)"));
    tg_tensor *y4 = tg_zeros(TG_STEP, TG_SHAPE(4), TG_S32);
    ck_assert_ptr_null(tg_cost_matrix_loss(z, y4, tg_zeros(TG_STEP, TG_SHAPE(2, 2), TG_F32)));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "needs logits (N, C) f32 and targets (N) s32"));
    tg_tensor *y3 = tg_zeros(TG_STEP, TG_SHAPE(3), TG_S32);
    ck_assert_ptr_null(tg_cost_matrix_loss(z, y3, tg_zeros(TG_STEP, TG_SHAPE(3, 3), TG_F32)));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "cost must be (2, 2), got (3, 3)"));
    ck_assert_ptr_null(tg_focal_loss(z, y3, -1.0, NULL));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "gamma -1 must be >= 0"));
    ck_assert_ptr_null(tg_bce_logits(z, tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_F32), NULL));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "targets (2, 3) differ from logits (3, 2)"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("losses");
    TCase *tc = tcase_create("losses");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_loss_case);
    tcase_add_test(tc, test_focal_gamma_zero_is_cross_entropy);
    tcase_add_test(tc, test_cost_matrix_prefers_cheap_mistakes);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
