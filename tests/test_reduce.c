/* sum/mean/max over axes with keepdim: forward against PyTorch, gradcheck. */
#include <string.h>

#include "tests/tg_test.h"

static const char *ops[] = {"sum", "mean", "max"};
#define N_OPS 3
#define N_SHAPES 5

typedef struct red_user {
    int op;
    int axes[TG_MAX_DIMS];
    int n_axes;
    bool keepdim;
} red_user;

static tg_tensor *reduce(const red_user *u, const tg_tensor *x)
{
    switch (u->op) {
    case 0: return tg_sum(x, u->axes, u->n_axes, u->keepdim);
    case 1: return tg_mean(x, u->axes, u->n_axes, u->keepdim);
    default: return tg_max(x, u->axes, u->n_axes, u->keepdim);
    }
}

static tg_tensor *gc_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    return reduce(u, in[0]);
}

START_TEST(test_reduce_case)
{
    json_t *fx = tg_fixture_load("core");
    char key[64];
    snprintf(key, sizeof key, "reduce_%s_%d", ops[_i / N_SHAPES], _i % N_SHAPES);
    json_t *c = json_object_get(fx, key);
    ck_assert_msg(c != NULL, "fixture %s missing", key);
    red_user u = {.op = _i / N_SHAPES, .keepdim = json_is_true(json_object_get(c, "keepdim"))};
    json_t *axes = json_object_get(c, "axes");
    u.n_axes = (int)json_array_size(axes);
    for (int k = 0; k < u.n_axes; k++) u.axes[k] = (int)json_integer_value(json_array_get(axes, (size_t)k));
    tg_tensor *x = tg_fixture_tensor(json_array_get(json_object_get(c, "inputs"), 0));
    tg_assert_close(reduce(&u, x), tg_fixture_tensor(json_object_get(c, "output")), 1e-5, 1e-5, key);
    tg_tensor_set_requires_grad(x, true);
    tg_assert_gradcheck(gc_fn, &x, 1, &u, NULL, key);
    json_decref(fx);
}
END_TEST

START_TEST(test_max_ties_go_to_first)
{
    float v[] = {1, 3, 3, 2};
    tg_tensor *x = tg_from_buffer(TG_STEP, TG_SHAPE(4), TG_F32, v);
    tg_tensor_set_requires_grad(x, true);
    ck_assert_int_eq(tg_backward(tg_max(x, NULL, 0, false)), TG_OK);
    float want[] = {0, 1, 0, 0};
    tg_assert_close_buf(tg_tensor_grad(x), want, 4, 0, 0, "max tie gradient");
}
END_TEST

START_TEST(test_errors)
{
    tg_tensor *x = tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_F32);
    ck_assert_ptr_null(tg_sum(x, (int[]){2}, 1, false));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "sum: axis 2 out of range for rank 2"));
    ck_assert_ptr_null(tg_mean(x, (int[]){1, -1}, 2, false));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "mean: axis -1 given twice"));
    ck_assert_ptr_null(tg_max(tg_zeros(TG_STEP, TG_SHAPE(2, 0), TG_F32), (int[]){1}, 1, false));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "empty axis"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("reduce");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_loop_test(tc, test_reduce_case, 0, N_OPS * N_SHAPES);
    tcase_add_test(tc, test_max_ties_go_to_first);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
