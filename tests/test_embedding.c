/* embedding(table, idx): forward and backward with duplicate indices against
 * PyTorch (tests/fixtures/shape.json), gradchecks over index shapes, a large
 * threaded backward against a serial sum (and identical on 1 and 2 threads),
 * and error messages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tg_test.h"

/* t is NULL (a failed call) and the error message contains `needle`. */
static void expect_error(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "expected an error containing '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error message '%s' lacks '%s'", tg_last_error(), needle);
}

/* s32 indices in [0, V) from a counter-based stream (duplicates likely). */
static tg_tensor *make_idx(tg_shape s, int64_t V, uint64_t seed)
{
    tg_tensor *t = tg_tensor_empty(TG_STEP, s, TG_S32);
    for (int64_t i = 0; i < tg_tensor_numel(t); i++)
        tg_s32(t)[i] = (int32_t)(tg_rng_bits(seed, (uint64_t)i) % (uint64_t)V);
    return t;
}

START_TEST(test_embedding_fixture)
{
    json_t *fx = tg_fixture_load("shape");
    const char *name;
    json_t *c;
    int n = 0;
    json_object_foreach(fx, name, c)
    {
        if (strncmp(name, "embedding_", 10)) continue;
        const json_t *ins = json_object_get(c, "inputs");
        tg_tensor *table = tg_fixture_tensor(json_array_get(ins, 0));
        tg_tensor *idx = tg_fixture_tensor(json_array_get(ins, 1));
        tg_tensor_set_requires_grad(table, true);
        tg_tensor *y = tg_embedding(table, idx);
        tg_assert_close(y, tg_fixture_tensor(json_object_get(c, "output")), 0, 0, name);
        const tg_backward_opts bo = {.seed = tg_fixture_tensor(json_object_get(c, "dout"))};
        ck_assert_int_eq(tg_backward_with(y, &bo), TG_OK);
        tg_assert_close(tg_tensor_grad(table), tg_fixture_tensor(json_array_get(json_object_get(c, "grads"), 0)), 1e-6,
                        1e-5, name);
        n++;
    }
    ck_assert_int_eq(n, 3);
    json_decref(fx);
}
END_TEST

typedef struct emb_case {
    int64_t V, D;
    tg_shape idx;
} emb_case;

static const emb_case emb_cases[] = {
    {10, 7, TG_SHAPE(3, 5)},   {5, 16, TG_SHAPE(20)}, /* many duplicates */
    {1, 3, TG_SHAPE(2, 1)},                           /* V = 1: every index is 0 */
    {13, 17, TG_SCALAR_SHAPE}, {4, 1, TG_SHAPE(2, 3, 2)}, {50, 33, TG_SHAPE(8, 31)},
};

static tg_tensor *emb_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    return tg_embedding(in[0], (const tg_tensor *)u);
}

START_TEST(test_embedding_cases)
{
    const emb_case *c = &emb_cases[_i];
    tg_tensor *table = tg_randn(TG_STEP, TG_SHAPE(c->V, c->D), TG_F32, 900 + (uint64_t)_i, 0.0, 1.0);
    tg_tensor_set_requires_grad(table, true);
    tg_tensor *idx = make_idx(c->idx, c->V, 950 + (uint64_t)_i);
    tg_tensor *y = tg_embedding(table, idx);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_ndim(y), c->idx.ndim + 1);
    ck_assert_int_eq(tg_tensor_dim(y, -1), c->D);
    tg_gradcheck_opts o = {.max_elems = 128, .directions = 3};
    tg_assert_gradcheck(emb_fn, &table, 1, idx, &o, "embedding");
}
END_TEST

/* dtable for dout on N = 4000 positions over V = 50 rows, computed serially
 * in double; the op's result must match it and be bitwise identical on 1 and
 * 2 threads. */
START_TEST(test_embedding_backward_large)
{
    const int64_t V = 50, D = 33, N = 4000;
    tg_ctx *ctx = tg_ctx_current();
    tg_tensor *table = tg_randn(TG_PERSIST, TG_SHAPE(V, D), TG_F32, 11, 0.0, 1.0);
    tg_tensor_set_requires_grad(table, true);
    tg_tensor *idx = make_idx(TG_SHAPE(40, 100), V, 12);
    tg_tensor *dout = tg_randn(TG_STEP, TG_SHAPE(40, 100, D), TG_F32, 13, 0.0, 1.0);
    double *want = calloc((size_t)(V * D), sizeof *want);
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < D; j++) want[tg_s32(idx)[n] * D + j] += tg_f32(dout)[n * D + j];
    float *by_threads[2];
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(tg_ctx_set_threads(ctx, t + 1), TG_OK);
        tg_zero_grad(table);
        ck_assert_int_eq(tg_backward_with(tg_embedding(table, idx), &(tg_backward_opts){.seed = dout}), TG_OK);
        by_threads[t] = tg_f32(tg_tensor_clone(TG_STEP, tg_tensor_grad(table)));
    }
    for (int64_t i = 0; i < V * D; i++)
        ck_assert_msg(fabs(by_threads[1][i] - want[i]) <= 1e-4 + 1e-5 * fabs(want[i]),
                      "dtable[%lld] is %g, expected %g", (long long)i, by_threads[1][i], want[i]);
    ck_assert(memcmp(by_threads[0], by_threads[1], (size_t)(V * D) * sizeof(float)) == 0);
    free(want);
    tg_tensor_free(table);
}
END_TEST

START_TEST(test_embedding_errors)
{
    tg_tensor *table = tg_ones(TG_STEP, TG_SHAPE(10, 4), TG_F32);
    const int32_t bad[6] = {0, 1, 9, 3, 10, 2};
    tg_tensor *idx = tg_from_buffer(TG_STEP, TG_SHAPE(2, 3), TG_S32, bad);
    expect_error(tg_embedding(table, idx), "embedding: index 10 at position 4 is out of range [0, 10)");
    tg_s32(idx)[4] = 0;
    tg_s32(idx)[1] = -1;
    expect_error(tg_embedding(table, idx), "embedding: index -1 at position 1 is out of range [0, 10)");
    expect_error(tg_embedding(table, tg_ones(TG_STEP, TG_SHAPE(3), TG_F32)), "embedding: idx must be s32, got f32");
    expect_error(tg_embedding(tg_ones(TG_STEP, TG_SHAPE(10, 4), TG_S32), tg_zeros(TG_STEP, TG_SHAPE(3), TG_S32)),
                 "embedding: table must be f32, got s32");
    expect_error(tg_embedding(tg_ones(TG_STEP, TG_SHAPE(2, 10, 4), TG_F32), tg_zeros(TG_STEP, TG_SHAPE(3), TG_S32)),
                 "embedding: table must be (V, D), got (2, 10, 4)");
    expect_error(tg_embedding(table, tg_zeros(TG_STEP, TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), TG_S32)),
                 "has rank 8; at most 7 allowed");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("embedding");
    TCase *tc = tcase_create("embedding");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_embedding_fixture);
    tcase_add_loop_test(tc, test_embedding_cases, 0, sizeof emb_cases / sizeof emb_cases[0]);
    tcase_add_test(tc, test_embedding_backward_large);
    tcase_add_test(tc, test_embedding_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
