/* dropout: gradchecks with a fixed seed, kept fraction and scale on 100k
 * elements, determinism across runs, thread counts and fresh contexts with
 * the same seed, the backward reusing the forward mask, eval-mode identity,
 * and error messages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tg_test.h"

#define N_BIG 100000

/* t is NULL (a failed call) and the error message contains `needle`. */
static void expect_error(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "expected an error containing '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error message '%s' lacks '%s'", tg_last_error(), needle);
}

/* A heap copy of a tensor's f32 values (outlives its context). */
static float *copy_values(const tg_tensor *t)
{
    ck_assert_msg(t != NULL, "%s", tg_last_error());
    size_t bytes = (size_t)tg_tensor_numel(t) * sizeof(float);
    float *v = malloc(bytes);
    memcpy(v, tg_f32(t), bytes);
    return v;
}

typedef struct dropout_case {
    tg_shape s;
    double p;
    uint64_t seed;
} dropout_case;

static const dropout_case dropout_cases[] = {
    {TG_SHAPE(7), 0.5, 1},        {TG_SHAPE(3, 17), 0.3, 2}, {TG_SHAPE(1, 1), 0.1, 3},
    {TG_SHAPE(2, 5, 33), 0.9, 4}, {TG_SHAPE(4, 16), 0.0, 5},
};

static tg_tensor *dropout_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    const dropout_case *c = u;
    return tg_dropout_seeded(in[0], c->p, c->seed);
}

START_TEST(test_dropout_gradcheck)
{
    const dropout_case *c = &dropout_cases[_i];
    tg_tensor *x = tg_randn(TG_STEP, c->s, TG_F32, 40 + (uint64_t)_i, 0.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    tg_gradcheck_opts o = {.max_elems = 128, .directions = 3};
    tg_assert_gradcheck(dropout_fn, &x, 1, (void *)c, &o, "dropout");
}
END_TEST

/* Kept fraction within 0.01 of 1 - p (about 7 standard deviations at 100k),
 * kept values scaled by exactly 1/(1-p), and the backward's mask equal to
 * the forward's. */
START_TEST(test_dropout_fraction_scale_and_mask)
{
    const double ps[3] = {0.1, 0.3, 0.75};
    for (int k = 0; k < 3; k++) {
        tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(N_BIG), TG_F32);
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *y = tg_dropout_seeded(x, ps[k], 99);
        ck_assert_msg(y != NULL, "%s", tg_last_error());
        const float scale = 1.0f / (1.0f - (float)ps[k]);
        int64_t kept = 0;
        for (int64_t i = 0; i < N_BIG; i++) {
            float v = tg_f32(y)[i];
            ck_assert_msg(v == 0.0f || v == scale, "p %g: element %lld is %g, not 0 or %g", ps[k], (long long)i, v,
                          scale);
            kept += v != 0.0f;
        }
        double frac = (double)kept / N_BIG;
        ck_assert_msg(fabs(frac - (1.0 - ps[k])) < 0.01, "p %g: kept fraction %g", ps[k], frac);
        ck_assert_int_eq(tg_backward(tg_sum(y, NULL, 0, false)), TG_OK);
        ck_assert(memcmp(tg_f32(tg_tensor_grad(x)), tg_f32(y), N_BIG * sizeof(float)) == 0);
        tg_step_end();
    }
}
END_TEST

START_TEST(test_dropout_deterministic)
{
    tg_ctx *ctx = tg_ctx_current();
    tg_tensor *x = tg_randn(TG_PERSIST, TG_SHAPE(100, 1000), TG_F32, 5, 0.0, 1.0);
    ck_assert_int_eq(tg_ctx_set_threads(ctx, 1), TG_OK);
    float *one = copy_values(tg_dropout_seeded(x, 0.4, 1234));
    ck_assert_int_eq(tg_ctx_set_threads(ctx, 2), TG_OK);
    float *two = copy_values(tg_dropout_seeded(x, 0.4, 1234));
    float *again = copy_values(tg_dropout_seeded(x, 0.4, 1234));
    float *other = copy_values(tg_dropout_seeded(x, 0.4, 1235));
    ck_assert(memcmp(one, two, N_BIG * sizeof(float)) == 0);
    ck_assert(memcmp(two, again, N_BIG * sizeof(float)) == 0);
    ck_assert(memcmp(two, other, N_BIG * sizeof(float)) != 0);
    free(one);
    free(two);
    free(again);
    free(other);
    tg_tensor_free(x);
}
END_TEST

START_TEST(test_dropout_eval_identity)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(3, 17), TG_F32, 6, 0.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    tg_rng before = *tg_ctx_rng(tg_ctx_current());
    tg_tensor *y = tg_dropout(x, 0.5, false);
    tg_tensor *z = tg_dropout(x, 0.0, true);
    tg_assert_close(y, x, 0, 0, "eval mode");
    tg_assert_close(z, x, 0, 0, "p = 0");
    /* identity draws nothing from the context's stream */
    ck_assert_uint_eq(tg_ctx_rng(tg_ctx_current())->counter, before.counter);
    ck_assert_int_eq(tg_backward(tg_sum(tg_add(y, z), NULL, 0, false)), TG_OK);
    for (int i = 0; i < 51; i++) ck_assert_float_eq(tg_f32(tg_tensor_grad(x))[i], 2.0f);
}
END_TEST

/* Two fresh contexts with the same seed give the same masks, call after
 * call; successive calls in one context give different masks. */
START_TEST(test_dropout_ctx_seed_reproducible)
{
    tg_ctx *orig = tg_ctx_current();
    tg_tensor *x = tg_ones(TG_PERSIST, TG_SHAPE(N_BIG), TG_F32);
    float *first[2][2];
    for (int run = 0; run < 2; run++) {
        tg_ctx_opts o = {.threads = run + 1, .seed = 77};
        tg_ctx *ctx = tg_ctx_create(&o);
        ck_assert_msg(ctx != NULL, "%s", tg_last_error());
        tg_ctx_set_current(ctx);
        first[run][0] = copy_values(tg_dropout(x, 0.5, true));
        first[run][1] = copy_values(tg_dropout(x, 0.5, true));
        tg_ctx_destroy(ctx);
    }
    tg_ctx_set_current(orig);
    tg_ctx_set_threads(orig, 2);
    ck_assert(memcmp(first[0][0], first[1][0], N_BIG * sizeof(float)) == 0);
    ck_assert(memcmp(first[0][1], first[1][1], N_BIG * sizeof(float)) == 0);
    ck_assert(memcmp(first[0][0], first[0][1], N_BIG * sizeof(float)) != 0);
    for (int i = 0; i < 4; i++) free(first[i / 2][i % 2]);
    tg_tensor_free(x);
}
END_TEST

START_TEST(test_dropout_errors)
{
    tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32);
    expect_error(tg_dropout(x, 1.0, true), "dropout: p must be in [0, 1), got 1");
    expect_error(tg_dropout(x, -0.1, false), "dropout: p must be in [0, 1), got -0.1");
    expect_error(tg_dropout_seeded(x, NAN, 3), "dropout: p must be in [0, 1), got nan");
    expect_error(tg_dropout_seeded(x, 1.5, 3), "got 1.5");
    expect_error(tg_dropout(tg_ones(TG_STEP, TG_SHAPE(4), TG_S32), 0.5, true), "dropout: x must be f32, got s32");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_dropout_gradcheck, 0, sizeof dropout_cases / sizeof dropout_cases[0]);
    tcase_add_test(tc, test_dropout_fraction_scale_and_mask);
    tcase_add_test(tc, test_dropout_deterministic);
    tcase_add_test(tc, test_dropout_eval_identity);
    tcase_add_test(tc, test_dropout_ctx_seed_reproducible);
    tcase_add_test(tc, test_dropout_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
