/* add/sub/mul/div with broadcasting: forward and gradients against PyTorch,
 * gradcheck on every case. */
#include <string.h>

#include "tests/tg_test.h"

static const char *ops[] = {"add", "sub", "mul", "div"};
#define N_OPS 4
#define N_SHAPES 5

static tg_tensor *apply(int op, const tg_tensor *a, const tg_tensor *b)
{
    switch (op) {
    case 0: return tg_add(a, b);
    case 1: return tg_sub(a, b);
    case 2: return tg_mul(a, b);
    default: return tg_div(a, b);
    }
}

static json_t *case_of(json_t *fx, int i, char *key, size_t n)
{
    snprintf(key, n, "binary_%s_%d", ops[i / N_SHAPES], i % N_SHAPES);
    json_t *c = json_object_get(fx, key);
    ck_assert_msg(c != NULL, "fixture %s missing", key);
    return c;
}

START_TEST(test_forward_and_grads_match_torch)
{
    json_t *fx = tg_fixture_load("core");
    char key[64];
    json_t *c = case_of(fx, _i, key, sizeof key);
    json_t *ins = json_object_get(c, "inputs");
    tg_tensor *a = tg_fixture_tensor(json_array_get(ins, 0));
    tg_tensor *b = tg_fixture_tensor(json_array_get(ins, 1));
    tg_tensor_set_requires_grad(a, true);
    tg_tensor_set_requires_grad(b, true);
    tg_tensor *y = apply(_i / N_SHAPES, a, b);
    tg_assert_close(y, tg_fixture_tensor(json_object_get(c, "output")), 1e-6, 1e-5, key);
    const tg_backward_opts bo = {.seed = tg_fixture_tensor(json_object_get(c, "seed"))};
    ck_assert_int_eq(tg_backward_with(y, &bo), TG_OK);
    json_t *g = json_object_get(c, "grads");
    tg_assert_close(tg_tensor_grad(a), tg_fixture_tensor(json_array_get(g, 0)), 1e-5, 1e-5, "da");
    tg_assert_close(tg_tensor_grad(b), tg_fixture_tensor(json_array_get(g, 1)), 1e-5, 1e-5, "db");
    json_decref(fx);
}
END_TEST

typedef struct {
    int op;
} gc_user;

static tg_tensor *gc_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    return apply(((gc_user *)u)->op, in[0], in[1]);
}

START_TEST(test_gradcheck)
{
    json_t *fx = tg_fixture_load("core");
    char key[64];
    json_t *c = case_of(fx, _i, key, sizeof key);
    json_t *ins = json_object_get(c, "inputs");
    tg_tensor *in[2] = {tg_fixture_tensor(json_array_get(ins, 0)), tg_fixture_tensor(json_array_get(ins, 1))};
    tg_tensor_set_requires_grad(in[0], true);
    tg_tensor_set_requires_grad(in[1], true);
    gc_user u = {_i / N_SHAPES};
    tg_assert_gradcheck(gc_fn, in, 2, &u, NULL, key);
    json_decref(fx);
}
END_TEST

START_TEST(test_one_side_requires_grad)
{
    tg_tensor *a = tg_randn(TG_STEP, TG_SHAPE(3, 4), TG_F32, 1, 0, 1);
    tg_tensor *b = tg_randn(TG_STEP, TG_SHAPE(4), TG_F32, 2, 0, 1);
    tg_tensor_set_requires_grad(b, true);
    tg_tensor *loss = tg_sum(tg_mul(a, b), NULL, 0, false);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    ck_assert_ptr_null(tg_tensor_grad(a));
    for (int j = 0; j < 4; j++) {
        float want = 0;
        for (int i = 0; i < 3; i++) want += tg_f32(a)[i * 4 + j];
        ck_assert_float_eq_tol(tg_f32(tg_tensor_grad(b))[j], want, 1e-5);
    }
}
END_TEST

START_TEST(test_errors)
{
    tg_tensor *a = tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_F32);
    tg_tensor *b = tg_zeros(TG_STEP, TG_SHAPE(2, 4), TG_F32);
    ck_assert_ptr_null(tg_mul(a, b));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "(2, 3) and (2, 4) do not broadcast (dim 1: 3 vs 4)"));
    tg_tensor *i = tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_S32);
    ck_assert_ptr_null(tg_add(a, i));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "b must be f32, got s32"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("binary");
    TCase *tc = tcase_create("binary");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_loop_test(tc, test_forward_and_grads_match_torch, 0, N_OPS * N_SHAPES);
    tcase_add_loop_test(tc, test_gradcheck, 0, N_OPS * N_SHAPES);
    tcase_add_test(tc, test_one_side_requires_grad);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
