/* where(cond, a, b) and masked_fill(x, mask, value): forward against PyTorch
 * (tests/fixtures/shape.json), gradchecks with three-way broadcasting, the
 * truth value of f32 conditions, and error messages. */
#include <math.h>
#include <string.h>

#include "tests/tg_test.h"

/* t is NULL (a failed call) and the error message contains `needle`. */
static void expect_error(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "expected an error containing '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error message '%s' lacks '%s'", tg_last_error(), needle);
}

/* A condition with a fixed mix of zeros and nonzeros (value i*7 mod 3 - 1). */
static tg_tensor *make_cond(tg_shape s, tg_dtype dt)
{
    tg_tensor *c = tg_tensor_empty(TG_STEP, s, dt);
    for (int64_t i = 0; i < tg_tensor_numel(c); i++) tg_tensor_set(c, i, (double)((i * 7 + 1) % 3) - 1.0);
    return c;
}

/* ---- forward against PyTorch ---- */

START_TEST(test_where_fixture)
{
    json_t *fx = tg_fixture_load("shape");
    const char *name;
    json_t *c;
    int n = 0;
    json_object_foreach(fx, name, c)
    {
        const json_t *ins = json_object_get(c, "inputs");
        tg_tensor *want = NULL, *got = NULL;
        if (!strncmp(name, "where_", 6)) {
            got = tg_where(tg_fixture_tensor(json_array_get(ins, 0)), tg_fixture_tensor(json_array_get(ins, 1)),
                           tg_fixture_tensor(json_array_get(ins, 2)));
        } else if (!strncmp(name, "masked_fill_", 12)) {
            got = tg_masked_fill(tg_fixture_tensor(json_array_get(ins, 0)), tg_fixture_tensor(json_array_get(ins, 1)),
                                 json_number_value(json_object_get(c, "value")));
        } else {
            continue;
        }
        want = tg_fixture_tensor(json_object_get(c, "output"));
        tg_assert_close(got, want, 0, 0, name);
        n++;
    }
    ck_assert_int_eq(n, 5);
    json_decref(fx);
}
END_TEST

/* ---- where ---- */

typedef struct where_case {
    tg_shape c, a, b, want;
    tg_dtype cdt;
    bool grad_a, grad_b;
} where_case;

static const where_case where_cases[] = {
    {TG_SHAPE(3, 1), TG_SHAPE(1, 4), TG_SHAPE(3, 4), TG_SHAPE(3, 4), TG_S32, true, true},
    {TG_SHAPE(2, 3, 5), TG_SHAPE(5), TG_SCALAR_SHAPE, TG_SHAPE(2, 3, 5), TG_F32, true, true},
    {TG_SHAPE(17), TG_SHAPE(2, 17), TG_SHAPE(2, 1), TG_SHAPE(2, 17), TG_S32, true, true},
    {TG_SHAPE(1), TG_SHAPE(1), TG_SHAPE(1), TG_SHAPE(1), TG_F32, true, true},
    {TG_SHAPE(4, 1, 3), TG_SHAPE(5, 1), TG_SHAPE(1, 1, 3), TG_SHAPE(4, 5, 3), TG_S32, false, true},
    {TG_SCALAR_SHAPE, TG_SHAPE(2, 19), TG_SHAPE(19), TG_SHAPE(2, 19), TG_S32, true, false},
    {TG_SHAPE(9, 1, 31), TG_SHAPE(9, 7, 31), TG_SHAPE(7, 1), TG_SHAPE(9, 7, 31), TG_F32, true, true},
};

static tg_tensor *where_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    return tg_where((const tg_tensor *)u, in[0], in[1]);
}

START_TEST(test_where_cases)
{
    const where_case *c = &where_cases[_i];
    tg_tensor *cond = make_cond(c->c, c->cdt);
    tg_tensor *ab[2] = {tg_randn(TG_STEP, c->a, TG_F32, 600 + (uint64_t)_i, 0.0, 1.0),
                        tg_randn(TG_STEP, c->b, TG_F32, 700 + (uint64_t)_i, 0.0, 1.0)};
    tg_tensor_set_requires_grad(ab[0], c->grad_a);
    tg_tensor_set_requires_grad(ab[1], c->grad_b);
    tg_tensor *y = tg_where(cond, ab[0], ab[1]);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert(tg_shape_equal(tg_tensor_shape(y), &c->want));
    tg_gradcheck_opts o = {.max_elems = 128, .directions = 3};
    tg_assert_gradcheck(where_fn, ab, 2, cond, &o, "where");
}
END_TEST

/* nonzero is true: -0.0 is false, NaN and negatives are true; each gradient
 * goes only where its branch was taken. */
START_TEST(test_where_truth_and_grad)
{
    const float cv[5] = {0.0f, -0.0f, 2.5f, NAN, -1.0f};
    tg_tensor *cond = tg_from_buffer(TG_STEP, TG_SHAPE(5), TG_F32, cv);
    tg_tensor *a = tg_full(TG_STEP, TG_SHAPE(5), TG_F32, 1.0), *b = tg_full(TG_STEP, TG_SHAPE(1), TG_F32, -1.0);
    tg_tensor_set_requires_grad(a, true);
    tg_tensor_set_requires_grad(b, true);
    tg_tensor *y = tg_where(cond, a, b);
    const float want[5] = {-1, -1, 1, 1, 1};
    tg_assert_close_buf(y, want, 5, 0, 0, "where f32 truth");
    ck_assert_int_eq(tg_backward(tg_sum(y, NULL, 0, false)), TG_OK);
    const float da[5] = {0, 0, 1, 1, 1};
    tg_assert_close_buf(tg_tensor_grad(a), da, 5, 0, 0, "da");
    ck_assert_float_eq(tg_f32(tg_tensor_grad(b))[0], 2.0f);
}
END_TEST

START_TEST(test_where_errors)
{
    tg_tensor *a = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_F32), *b = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32);
    tg_tensor *c = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_S32);
    expect_error(tg_where(c, a, b), "where (a, b): shapes (2, 3) and (4) do not broadcast");
    expect_error(tg_where(tg_ones(TG_STEP, TG_SHAPE(5, 1), TG_S32), a, a),
                 "where (cond, a/b): shapes (5, 1) and (2, 3) do not broadcast");
    expect_error(tg_where(tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_BF16), a, a), "where: cond must be s32 or f32, got bf16");
    expect_error(tg_where(c, c, a), "where: a must be f32, got s32");
    expect_error(tg_where(c, a, c), "where: b must be f32, got s32");
}
END_TEST

/* ---- masked_fill ---- */

typedef struct masked_case {
    tg_shape x, m;
    tg_dtype mdt;
    double value;
} masked_case;

static const masked_case masked_cases[] = {
    {TG_SHAPE(3, 4, 5), TG_SHAPE(4, 1), TG_S32, -5.5}, {TG_SHAPE(2, 17), TG_SHAPE(2, 17), TG_F32, 0.0},
    {TG_SHAPE(1), TG_SCALAR_SHAPE, TG_S32, 3.0},       {TG_SHAPE(2, 3, 33), TG_SHAPE(1, 1, 33), TG_F32, -1e9},
    {TG_SHAPE(64, 600), TG_SHAPE(600), TG_S32, 1.0}, /* threaded */
};

static tg_tensor *masked_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    const tg_tensor *m = u;
    return tg_masked_fill(in[0], m, 2.0);
}

START_TEST(test_masked_fill_cases)
{
    const masked_case *c = &masked_cases[_i];
    tg_tensor *m = make_cond(c->m, c->mdt);
    tg_tensor *x = tg_randn(TG_STEP, c->x, TG_F32, 800 + (uint64_t)_i, 0.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_masked_fill(x, m, c->value);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert(tg_shape_equal(tg_tensor_shape(y), &c->x));
    /* against the broadcast definition, element by element */
    const tg_shape *xs = &c->x, *ms = &c->m;
    for (int64_t i = 0; i < tg_tensor_numel(x); i++) {
        int64_t rem = i, mi = 0, mstride = 1;
        for (int d = xs->ndim - 1; d >= 0; d--) {
            int64_t k = rem % xs->dims[d];
            rem /= xs->dims[d];
            int dm = d - (xs->ndim - ms->ndim);
            if (dm >= 0) {
                if (ms->dims[dm] != 1) mi += k * mstride;
                mstride *= ms->dims[dm];
            }
        }
        float want = tg_tensor_get(m, mi) != 0 ? (float)c->value : tg_f32(x)[i];
        ck_assert_msg(tg_f32(y)[i] == want, "element %lld is %g, expected %g", (long long)i, tg_f32(y)[i], want);
    }
    tg_gradcheck_opts o = {.max_elems = 128, .directions = 3};
    tg_assert_gradcheck(masked_fn, &x, 1, m, &o, "masked_fill");
}
END_TEST

START_TEST(test_masked_fill_errors)
{
    tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32);
    expect_error(tg_masked_fill(x, tg_ones(TG_STEP, TG_SHAPE(3, 4), TG_S32), 0.0),
                 "masked_fill: mask (3, 4) does not broadcast to x (4)");
    expect_error(tg_masked_fill(x, tg_ones(TG_STEP, TG_SHAPE(5), TG_S32), 0.0),
                 "masked_fill: mask (5) does not broadcast to x (4)");
    expect_error(tg_masked_fill(x, tg_ones(TG_STEP, TG_SHAPE(4), TG_BF16), 0.0),
                 "masked_fill: mask must be s32 or f32, got bf16");
    expect_error(tg_masked_fill(tg_ones(TG_STEP, TG_SHAPE(4), TG_S32), x, 0.0), "masked_fill: x must be f32, got s32");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("where");
    TCase *tc = tcase_create("where");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_where_fixture);
    tcase_add_loop_test(tc, test_where_cases, 0, sizeof where_cases / sizeof where_cases[0]);
    tcase_add_test(tc, test_where_truth_and_grad);
    tcase_add_test(tc, test_where_errors);
    tcase_add_loop_test(tc, test_masked_fill_cases, 0, sizeof masked_cases / sizeof masked_cases[0]);
    tcase_add_test(tc, test_masked_fill_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
