/* Unary elementwise ops: forward against PyTorch, gradcheck over shapes. */
#include <string.h>

#include "tests/tg_test.h"

typedef struct unary_case {
    const char *name; /* fixture key suffix and registered op name */
    tg_tensor *(*fn)(const tg_tensor *x, double alpha);
    double alpha;
    double lo, hi; /* input domain for gradcheck */
} unary_case;

static tg_tensor *w_scale(const tg_tensor *x, double a) { return tg_scale(x, a); }
static tg_tensor *w_add_scalar(const tg_tensor *x, double a) { return tg_add_scalar(x, a); }
static tg_tensor *w_neg(const tg_tensor *x, double a)
{
    (void)a;
    return tg_neg(x);
}
static tg_tensor *w_gelu(const tg_tensor *x, double a)
{
    (void)a;
    return tg_gelu(x);
}
static tg_tensor *w_gelu_erf(const tg_tensor *x, double a)
{
    (void)a;
    return tg_gelu_erf(x);
}
static tg_tensor *w_relu(const tg_tensor *x, double a)
{
    (void)a;
    return tg_relu(x);
}
static tg_tensor *w_silu(const tg_tensor *x, double a)
{
    (void)a;
    return tg_silu(x);
}
static tg_tensor *w_tanh(const tg_tensor *x, double a)
{
    (void)a;
    return tg_tanh(x);
}
static tg_tensor *w_sigmoid(const tg_tensor *x, double a)
{
    (void)a;
    return tg_sigmoid(x);
}
static tg_tensor *w_exp(const tg_tensor *x, double a)
{
    (void)a;
    return tg_exp(x);
}
static tg_tensor *w_log(const tg_tensor *x, double a)
{
    (void)a;
    return tg_log(x);
}
static tg_tensor *w_sqrt(const tg_tensor *x, double a)
{
    (void)a;
    return tg_sqrt(x);
}
static tg_tensor *w_pow(const tg_tensor *x, double a) { return tg_pow(x, a); }

static const unary_case cases[] = {
    {"scale", w_scale, -1.75, -3, 3},   {"add_scalar", w_add_scalar, 0.5, -3, 3},
    {"neg", w_neg, 0, -3, 3},           {"gelu_tanh", w_gelu, 0, -3, 3},
    {"gelu_erf", w_gelu_erf, 0, -3, 3}, {"relu", w_relu, 0, -3, 3},
    {"silu", w_silu, 0, -3, 3},         {"tanh", w_tanh, 0, -3, 3},
    {"sigmoid", w_sigmoid, 0, -3, 3},   {"exp", w_exp, 0, -3, 3},
    {"log", w_log, 0, 0.1, 5},          {"sqrt", w_sqrt, 0, 0.1, 5},
    {"pow", w_pow, 2.5, 0.1, 3},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static const tg_shape shapes[] = {{1, {1}}, {1, {5}}, {2, {3, 17}}, {3, {2, 3, 33}}};
#define N_SHAPES 4

START_TEST(test_forward_matches_torch)
{
    const unary_case *c = &cases[_i];
    json_t *fx = tg_fixture_load("core");
    char key[64];
    snprintf(key, sizeof key, "unary_%s", c->name);
    json_t *cs = json_object_get(fx, key);
    ck_assert_msg(cs != NULL, "fixture %s missing", key);
    tg_tensor *x = tg_fixture_tensor(json_array_get(json_object_get(cs, "inputs"), 0));
    tg_tensor *want = tg_fixture_tensor(json_object_get(cs, "output"));
    tg_assert_close(c->fn(x, c->alpha), want, 1e-6, 1e-5, key);
    ck_assert_ptr_nonnull(tg_op_find(c->name));
    json_decref(fx);
}
END_TEST

typedef struct gc_user {
    const unary_case *c;
} gc_user;

static tg_tensor *gc_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    const unary_case *c = ((gc_user *)u)->c;
    return c->fn(in[0], c->alpha);
}

START_TEST(test_gradcheck_shapes)
{
    const unary_case *c = &cases[_i / N_SHAPES];
    tg_shape s = shapes[_i % N_SHAPES];
    tg_tensor *x = tg_rand(TG_STEP, s, TG_F32, 100 + (uint64_t)_i, c->lo, c->hi);
    if (!strcmp(c->name, "relu")) /* keep away from the kink at 0 */
        for (int64_t i = 0; i < tg_tensor_numel(x); i++) tg_f32(x)[i] += tg_f32(x)[i] >= 0 ? 0.1f : -0.1f;
    tg_tensor_set_requires_grad(x, true);
    gc_user u = {c};
    tg_assert_gradcheck(gc_fn, &x, 1, &u, NULL, c->name);
}
END_TEST

START_TEST(test_wrong_dtype)
{
    tg_tensor *i = tg_zeros(TG_STEP, TG_SHAPE(3), TG_S32);
    ck_assert_ptr_null(tg_gelu(i));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "x must be f32, got s32"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eltwise");
    TCase *tc = tcase_create("eltwise");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_loop_test(tc, test_forward_matches_torch, 0, N_CASES);
    tcase_add_loop_test(tc, test_gradcheck_shapes, 0, N_CASES * N_SHAPES);
    tcase_add_test(tc, test_wrong_dtype);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
