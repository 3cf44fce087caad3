/* Shape ops: reshape (view), permute, transpose, slice, concat. Forward values
 * against PyTorch (tests/fixtures/shape.json), gradchecks over case tables,
 * a large permute against a naive loop, and error messages. */
#include <string.h>

#include "tests/tg_test.h"

static tg_tensor *rand_param(tg_shape s, uint64_t seed)
{
    tg_tensor *x = tg_randn(TG_STEP, s, TG_F32, seed, 0.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    return x;
}

/* t is NULL (a failed call) and the error message contains `needle`. */
static void expect_error(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "expected an error containing '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error message '%s' lacks '%s'", tg_last_error(), needle);
}

static int64_t jint(const json_t *c, const char *key) { return json_integer_value(json_object_get(c, key)); }

/* ---- forward against PyTorch ---- */

START_TEST(test_permute_fixture)
{
    json_t *fx = tg_fixture_load("shape");
    const char *name;
    json_t *c;
    int n = 0;
    json_object_foreach(fx, name, c)
    {
        if (strncmp(name, "permute_", 8)) continue;
        tg_tensor *x = tg_fixture_tensor(json_array_get(json_object_get(c, "inputs"), 0));
        int perm[TG_MAX_DIMS];
        for (size_t i = 0; i < json_array_size(json_object_get(c, "perm")); i++)
            perm[i] = (int)json_integer_value(json_array_get(json_object_get(c, "perm"), i));
        tg_assert_close(tg_permute(x, perm), tg_fixture_tensor(json_object_get(c, "output")), 0, 0, name);
        n++;
    }
    ck_assert_int_eq(n, 5);
    json_decref(fx);
}
END_TEST

START_TEST(test_slice_fixture)
{
    json_t *fx = tg_fixture_load("shape");
    const char *name;
    json_t *c;
    int n = 0;
    json_object_foreach(fx, name, c)
    {
        if (strncmp(name, "slice_", 6)) continue;
        tg_tensor *x = tg_fixture_tensor(json_array_get(json_object_get(c, "inputs"), 0));
        tg_tensor *y = tg_slice(x, (int)jint(c, "axis"), jint(c, "start"), jint(c, "end"));
        tg_assert_close(y, tg_fixture_tensor(json_object_get(c, "output")), 0, 0, name);
        n++;
    }
    ck_assert_int_eq(n, 5);
    json_decref(fx);
}
END_TEST

START_TEST(test_concat_fixture)
{
    json_t *fx = tg_fixture_load("shape");
    const char *name;
    json_t *c;
    int n = 0;
    json_object_foreach(fx, name, c)
    {
        if (strncmp(name, "concat_", 7)) continue;
        const json_t *ins = json_object_get(c, "inputs");
        const tg_tensor *xs[8];
        for (size_t i = 0; i < json_array_size(ins); i++) xs[i] = tg_fixture_tensor(json_array_get(ins, i));
        tg_tensor *y = tg_concat(xs, (int)json_array_size(ins), (int)jint(c, "axis"));
        tg_assert_close(y, tg_fixture_tensor(json_object_get(c, "output")), 0, 0, name);
        n++;
    }
    ck_assert_int_eq(n, 4);
    json_decref(fx);
}
END_TEST

/* ---- reshape ---- */

typedef struct reshape_case {
    tg_shape in, out, want;
} reshape_case;

static const reshape_case reshape_cases[] = {
    {TG_SHAPE(2, 3, 4), TG_SHAPE(6, -1), TG_SHAPE(6, 4)},    {TG_SHAPE(1), TG_SCALAR_SHAPE, TG_SCALAR_SHAPE},
    {TG_SHAPE(17), TG_SHAPE(1, 17, 1), TG_SHAPE(1, 17, 1)},  {TG_SHAPE(3, 5, 7), TG_SHAPE(-1), TG_SHAPE(105)},
    {TG_SHAPE(2, 9), TG_SHAPE(3, -1, 2), TG_SHAPE(3, 3, 2)},
};

static tg_tensor *reshape_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    return tg_reshape(in[0], ((const reshape_case *)u)->out);
}

START_TEST(test_reshape_cases)
{
    const reshape_case *c = &reshape_cases[_i];
    tg_tensor *x = rand_param(c->in, 100 + (uint64_t)_i);
    tg_tensor *y = tg_reshape(x, c->out);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert(tg_shape_equal(tg_tensor_shape(y), &c->want));
    ck_assert_ptr_eq(tg_tensor_data(y), tg_tensor_data(x)); /* a view, no copy */
    ck_assert(tg_tensor_requires_grad(y));
    tg_assert_gradcheck(reshape_fn, &x, 1, (void *)c, NULL, "reshape");
}
END_TEST

START_TEST(test_reshape_errors)
{
    tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_F32);
    expect_error(tg_reshape(x, TG_SHAPE(-1, 3, -1)), "reshape: more than one -1 in (-1, 3, -1)");
    expect_error(tg_reshape(x, TG_SHAPE(4, 2)), "input (2, 3) has 6 elements, shape (4, 2) has 8");
    expect_error(tg_reshape(x, TG_SHAPE(4, -1)), "cannot infer the -1 of (4, -1) for input (2, 3)");
    expect_error(tg_reshape(x, TG_SHAPE(-2, -3)), "negative dim -2");
    /* other dtypes reshape too */
    tg_tensor *s = tg_arange(TG_STEP, 6, 0, 1, TG_S32);
    tg_tensor *r = tg_reshape(s, TG_SHAPE(3, 2));
    ck_assert_int_eq(tg_tensor_dtype(r), TG_S32);
    ck_assert_int_eq(tg_s32(r)[5], 5);
}
END_TEST

/* ---- permute / transpose ---- */

typedef struct permute_case {
    tg_shape in;
    int perm[TG_MAX_DIMS];
} permute_case;

static const permute_case permute_cases[] = {
    {TG_SHAPE(2, 3, 5), {2, 0, 1}},
    {TG_SHAPE(3, 33, 18), {0, 2, 1}}, /* tiled path, partial tiles */
    {TG_SHAPE(2, 1, 17, 3), {0, 2, 3, 1}},
    {TG_SHAPE(2, 3, 1, 4, 5), {4, 2, 0, 3, 1}},
    {TG_SHAPE(1, 1), {1, 0}},
    {TG_SHAPE(7), {0}},
    {TG_SHAPE(40, 41, 21), {2, 0, 1}}, /* above the threading threshold */
};

static tg_tensor *permute_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    return tg_permute(in[0], ((const permute_case *)u)->perm);
}

START_TEST(test_permute_cases)
{
    const permute_case *c = &permute_cases[_i];
    tg_tensor *x = rand_param(c->in, 200 + (uint64_t)_i);
    tg_gradcheck_opts o = {.max_elems = 128, .directions = 3};
    tg_assert_gradcheck(permute_fn, &x, 1, (void *)c, &o, "permute");
}
END_TEST

/* Every permutation of a 4-d tensor against a naive index loop, large enough
 * for the threaded and tiled paths. */
START_TEST(test_permute_against_naive)
{
    const tg_shape s = TG_SHAPE(9, 37, 5, 41);
    tg_tensor *x = tg_randn(TG_STEP, s, TG_F32, 7, 0.0, 1.0);
    const float *xd = tg_f32(x);
    int64_t st[4] = {37 * 5 * 41, 5 * 41, 41, 1};
    int checked = 0;
    for (int p = 0; p < 256; p++) {
        int perm[4] = {p & 3, (p >> 2) & 3, (p >> 4) & 3, (p >> 6) & 3};
        if ((1 << perm[0] | 1 << perm[1] | 1 << perm[2] | 1 << perm[3]) != 15) continue;
        tg_tensor *y = tg_permute(x, perm);
        ck_assert_msg(y != NULL, "%s", tg_last_error());
        const float *yd = tg_f32(y);
        int64_t i = 0;
        int64_t d0 = s.dims[perm[0]], d1 = s.dims[perm[1]], d2 = s.dims[perm[2]], d3 = s.dims[perm[3]];
        for (int64_t a = 0; a < d0; a++)
            for (int64_t b = 0; b < d1; b++)
                for (int64_t c = 0; c < d2; c++)
                    for (int64_t d = 0; d < d3; d++, i++) {
                        float want = xd[a * st[perm[0]] + b * st[perm[1]] + c * st[perm[2]] + d * st[perm[3]]];
                        if (yd[i] != want)
                            ck_abort_msg("perm (%d %d %d %d): element %lld is %g, expected %g", perm[0], perm[1],
                                         perm[2], perm[3], (long long)i, yd[i], want);
                    }
        checked++;
    }
    ck_assert_int_eq(checked, 24);
}
END_TEST

typedef struct transpose_case {
    tg_shape in;
    int a, b;
    tg_shape want;
} transpose_case;

static const transpose_case transpose_cases[] = {
    {TG_SHAPE(4, 5), 0, 1, TG_SHAPE(5, 4)},
    {TG_SHAPE(2, 3, 17), -1, -3, TG_SHAPE(17, 3, 2)},
    {TG_SHAPE(3, 1, 5), 1, -1, TG_SHAPE(3, 5, 1)},
    {TG_SHAPE(6), 0, -1, TG_SHAPE(6)},
    {TG_SHAPE(2, 19, 16), -2, -1, TG_SHAPE(2, 16, 19)},
};

static tg_tensor *transpose_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    const transpose_case *c = u;
    return tg_transpose(in[0], c->a, c->b);
}

START_TEST(test_transpose_cases)
{
    const transpose_case *c = &transpose_cases[_i];
    tg_tensor *x = rand_param(c->in, 300 + (uint64_t)_i);
    tg_tensor *y = tg_transpose(x, c->a, c->b);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert(tg_shape_equal(tg_tensor_shape(y), &c->want));
    tg_assert_gradcheck(transpose_fn, &x, 1, (void *)c, NULL, "transpose");
}
END_TEST

START_TEST(test_permute_errors)
{
    tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(2, 3, 4), TG_F32);
    expect_error(tg_permute(x, (int[]){0, 0, 1}), "permute: (0, 0, 1) is not a permutation of 0..2");
    expect_error(tg_permute(x, (int[]){0, 3, 1}), "(0, 3, 1) is not a permutation");
    expect_error(tg_permute(x, (int[]){-1, 0, 1}), "(-1, 0, 1) is not a permutation");
    expect_error(tg_transpose(x, 0, 3), "transpose: axis 3 out of range for rank 3");
    expect_error(tg_transpose(x, -4, 0), "axis -4 out of range");
    /* s32 permutes too */
    tg_tensor *s = tg_reshape(tg_arange(TG_STEP, 6, 0, 1, TG_S32), TG_SHAPE(2, 3));
    tg_tensor *t = tg_transpose(s, 0, 1);
    const int32_t want[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) ck_assert_int_eq(tg_s32(t)[i], want[i]);
}
END_TEST

/* ---- slice ---- */

typedef struct slice_case {
    tg_shape in;
    int axis;
    int64_t start, end;
    int64_t want_len;
} slice_case;

static const slice_case slice_cases[] = {
    {TG_SHAPE(4, 7, 3), 1, -5, 6, 4},      {TG_SHAPE(17), 0, 3, 100, 14}, {TG_SHAPE(2, 5, 19), -1, 0, -3, 16},
    {TG_SHAPE(1, 6), 0, -1, 1, 1},         {TG_SHAPE(5, 1), 1, 0, 1, 1},  {TG_SHAPE(6, 4), 0, -100, -2, 4},
    {TG_SHAPE(300, 130), 0, 11, 290, 279}, /* threaded */
};

static tg_tensor *slice_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    const slice_case *c = u;
    return tg_slice(in[0], c->axis, c->start, c->end);
}

START_TEST(test_slice_cases)
{
    const slice_case *c = &slice_cases[_i];
    tg_tensor *x = rand_param(c->in, 400 + (uint64_t)_i);
    tg_tensor *y = tg_slice(x, c->axis, c->start, c->end);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_dim(y, c->axis), c->want_len);
    tg_gradcheck_opts o = {.max_elems = 128, .directions = 3};
    tg_assert_gradcheck(slice_fn, &x, 1, (void *)c, &o, "slice");
}
END_TEST

START_TEST(test_slice_empty_and_errors)
{
    tg_tensor *x = rand_param(TG_SHAPE(3, 4), 5);
    tg_tensor *y = tg_slice(x, 1, 3, 2);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_dim(y, 1), 0);
    ck_assert_int_eq(tg_tensor_numel(y), 0);
    /* an empty slice joined with a real one: the gradient skips it */
    tg_tensor *z = tg_concat((const tg_tensor *[]){y, tg_slice(x, 1, -1, 4)}, 2, 1); /* (3, 1) */
    ck_assert_int_eq(tg_backward(tg_sum(z, NULL, 0, false)), TG_OK);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(tg_f32(tg_tensor_grad(x))[i], i % 4 == 3 ? 1.0f : 0.0f);

    expect_error(tg_slice(x, -3, 0, 1), "slice: axis -3 out of range for rank 2");
    tg_tensor *s = tg_slice(tg_arange(TG_STEP, 10, 0, 1, TG_S32), 0, -3, 10);
    ck_assert_int_eq(tg_tensor_numel(s), 3);
    ck_assert_int_eq(tg_s32(s)[0], 7);
}
END_TEST

/* ---- concat ---- */

typedef struct concat_case {
    int n;
    tg_shape in[3];
    int axis;
    bool grad[3];
} concat_case;

static const concat_case concat_cases[] = {
    {3, {TG_SHAPE(2, 3, 4), TG_SHAPE(2, 1, 4), TG_SHAPE(2, 5, 4)}, 1, {true, true, true}},
    {2, {TG_SHAPE(3, 2), TG_SHAPE(1, 2)}, 0, {true, false}},
    {2, {TG_SHAPE(2, 3, 17), TG_SHAPE(2, 3, 1)}, -1, {false, true}},
    {1, {TG_SHAPE(5, 3)}, 0, {true}},
    {3, {TG_SHAPE(1), TG_SHAPE(16), TG_SHAPE(3)}, 0, {true, false, true}},
    {2, {TG_SHAPE(130, 200), TG_SHAPE(130, 57)}, 1, {true, true}}, /* threaded */
};

static tg_tensor *concat_fn(tg_tensor *const *in, int n, void *u)
{
    return tg_concat((const tg_tensor *const *)in, n, ((const concat_case *)u)->axis);
}

START_TEST(test_concat_cases)
{
    const concat_case *c = &concat_cases[_i];
    tg_tensor *xs[3] = {NULL, NULL, NULL};
    for (int i = 0; i < c->n; i++) {
        xs[i] = tg_randn(TG_STEP, c->in[i], TG_F32, 500 + 10 * (uint64_t)_i + (uint64_t)i, 0.0, 1.0);
        tg_tensor_set_requires_grad(xs[i], c->grad[i]);
    }
    tg_gradcheck_opts o = {.max_elems = 128, .directions = 3};
    tg_assert_gradcheck(concat_fn, xs, c->n, (void *)c, &o, "concat");
    for (int i = 0; i < c->n; i++)
        if (!c->grad[i]) ck_assert_ptr_null(tg_tensor_grad(xs[i]));
}
END_TEST

START_TEST(test_concat_errors)
{
    tg_tensor *a = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_F32), *b = tg_ones(TG_STEP, TG_SHAPE(3, 3), TG_F32);
    tg_tensor *c = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_S32), *d = tg_ones(TG_STEP, TG_SHAPE(2, 3, 1), TG_F32);
    expect_error(tg_concat((const tg_tensor *[]){a, b}, 2, 1),
                 "concat: input 1 has shape (3, 3), input 0 has (2, 3) (only axis 1 may differ)");
    expect_error(tg_concat((const tg_tensor *[]){a, d}, 2, 0), "input 1 has shape (2, 3, 1)");
    expect_error(tg_concat((const tg_tensor *[]){a, c}, 2, 0), "concat: input 1 is s32, input 0 is f32");
    expect_error(tg_concat((const tg_tensor *[]){a}, 0, 0), "concat: needs at least one tensor, got 0");
    expect_error(tg_concat((const tg_tensor *[]){a, a}, 2, 2), "concat: axis 2 out of range for rank 2");
    tg_tensor *s = tg_concat((const tg_tensor *[]){c, c}, 2, -1);
    ck_assert_int_eq(tg_tensor_dim(s, 1), 6);
    ck_assert_int_eq(tg_s32(s)[5], 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("shape");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_permute_fixture);
    tcase_add_test(tc, test_slice_fixture);
    tcase_add_test(tc, test_concat_fixture);
    tcase_add_loop_test(tc, test_reshape_cases, 0, sizeof reshape_cases / sizeof reshape_cases[0]);
    tcase_add_test(tc, test_reshape_errors);
    tcase_add_loop_test(tc, test_permute_cases, 0, sizeof permute_cases / sizeof permute_cases[0]);
    tcase_add_test(tc, test_permute_against_naive);
    tcase_add_loop_test(tc, test_transpose_cases, 0, sizeof transpose_cases / sizeof transpose_cases[0]);
    tcase_add_test(tc, test_permute_errors);
    tcase_add_loop_test(tc, test_slice_cases, 0, sizeof slice_cases / sizeof slice_cases[0]);
    tcase_add_test(tc, test_slice_empty_and_errors);
    tcase_add_loop_test(tc, test_concat_cases, 0, sizeof concat_cases / sizeof concat_cases[0]);
    tcase_add_test(tc, test_concat_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
