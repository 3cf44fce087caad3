/* The vectorizable expf/tanhf/erff of autograd/ops/vmath.h against
 * double-precision libm: maximum relative (or absolute) error over dense
 * grids, evaluated in `omp simd` loops so the vector code is what gets
 * checked, and the special values one by one. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "autograd/ops/vmath.h"
#include "tests/tg_test.h"

enum { EXP, TANH, ERF, EXP_FAST };

/* One dense grid of n points on [lo, hi] and the error bound there: a point
 * passes when |got - want| <= atol + rtol * |want|. */
typedef struct range_case {
    int fn;
    float lo, hi;
    int n;
    double atol, rtol;
} range_case;

static const range_case ranges[] = {
    {EXP, -87.0f, 88.0f, 2000003, 0, 2e-7},        /* normal results */
    {EXP, -1.0f, 1.0f, 200001, 0, 2e-7},           /* around exp(0) = 1 */
    {EXP, -103.9f, -87.0f, 200003, 1.5e-45, 2e-7}, /* subnormal results: half an ulp more */
    {TANH, -12.0f, 12.0f, 2000003, 0, 3e-7},
    {TANH, -0.7f, 0.7f, 200001, 0, 2e-7},  /* both sides of the polynomial's edge */
    {TANH, 1e-6f, 1e-2f, 200001, 0, 2e-7}, /* small arguments keep their digits */
    {ERF, -5.0f, 5.0f, 2000003, 1.5e-7, 0},
    {ERF, -1.0f, 1.0f, 200001, 0, 2.5e-7}, /* relative near 0 */
    {ERF, 1e-6f, 1e-2f, 200001, 0, 2e-7},
    {EXP_FAST, -87.3f, 88.3f, 2000003, 0, 3e-7},
    {EXP_FAST, -1.0f, 1.0f, 200001, 0, 3e-7},
};

static double ref(int fn, double x) { return fn == EXP || fn == EXP_FAST ? exp(x) : fn == TANH ? tanh(x) : erf(x); }

START_TEST(test_range)
{
    const range_case *c = &ranges[_i];
    float *x = malloc(sizeof(float) * (size_t)c->n), *y = malloc(sizeof(float) * (size_t)c->n);
    ck_assert(x && y);
    for (int i = 0; i < c->n; i++) x[i] = c->lo + (c->hi - c->lo) * (float)i / (float)(c->n - 1);
    if (c->fn == EXP) {
#pragma omp simd
        for (int i = 0; i < c->n; i++) y[i] = tg_vexpf(x[i]);
    } else if (c->fn == EXP_FAST) {
#pragma omp simd
        for (int i = 0; i < c->n; i++) y[i] = tg_vexpf_fast(x[i]);
    } else if (c->fn == TANH) {
#pragma omp simd
        for (int i = 0; i < c->n; i++) y[i] = tg_vtanhf(x[i]);
    } else {
#pragma omp simd
        for (int i = 0; i < c->n; i++) y[i] = tg_verff(x[i]);
    }
    double worst = 0; /* error / allowed error */
    int at = 0;
    for (int i = 0; i < c->n; i++) {
        const double w = ref(c->fn, (double)x[i]), e = fabs((double)y[i] - w) / (c->atol + c->rtol * fabs(w));
        if (!(e <= worst)) worst = e, at = i;
    }
    ck_assert_msg(worst <= 1.0, "fn %d on [%g, %g]: at x = %.9g got %.9g, want %.9g (%.3g of the allowed error)", c->fn,
                  (double)c->lo, (double)c->hi, (double)x[at], (double)y[at], ref(c->fn, (double)x[at]), worst);
    free(x);
    free(y);
}
END_TEST

START_TEST(test_exp_special_values)
{
    ck_assert_float_eq(tg_vexpf(0.0f), 1.0f);
    ck_assert_float_eq(tg_vexpf(-0.0f), 1.0f);
    ck_assert(isinf(tg_vexpf(88.8f)) && tg_vexpf(88.8f) > 0);
    ck_assert(isinf(tg_vexpf(1000.0f)));
    ck_assert(isinf(tg_vexpf(INFINITY)));
    ck_assert(isfinite(tg_vexpf(88.7f)));
    ck_assert_float_eq(tg_vexpf(-INFINITY), 0.0f);
    ck_assert_float_eq(tg_vexpf(-104.0f), 0.0f);
    ck_assert_float_eq(tg_vexpf(-1e30f), 0.0f);
    ck_assert(tg_vexpf(-103.0f) > 0.0f); /* subnormal, not flushed */
    ck_assert(isnan(tg_vexpf(NAN)));
    ck_assert(isnan(tg_vexpf(-NAN)));

    ck_assert_float_eq(tg_vexpf_fast(0.0f), 1.0f);
    ck_assert(isinf(tg_vexpf_fast(88.5f)) && isinf(tg_vexpf_fast(INFINITY)));
    ck_assert(isfinite(tg_vexpf_fast(88.3f)));
    ck_assert_float_eq(tg_vexpf_fast(-INFINITY), 0.0f); /* masked softmax scores */
    ck_assert_float_eq(tg_vexpf_fast(-88.0f), 0.0f);
    ck_assert_float_eq(tg_vexpf_fast(-1e30f), 0.0f);
    ck_assert(tg_vexpf_fast(-87.3f) > 0.0f);
    ck_assert(isnan(tg_vexpf_fast(NAN)) && isnan(tg_vexpf_fast(-NAN)));
}
END_TEST

START_TEST(test_tanh_special_values)
{
    ck_assert_float_eq(tg_vtanhf(0.0f), 0.0f);
    ck_assert(signbit(tg_vtanhf(-0.0f)));
    ck_assert_float_eq(tg_vtanhf(1e-30f), 1e-30f);
    ck_assert_float_eq(tg_vtanhf(-1e-30f), -1e-30f);
    ck_assert_float_eq(tg_vtanhf(20.0f), 1.0f);
    ck_assert_float_eq(tg_vtanhf(-20.0f), -1.0f);
    ck_assert_float_eq(tg_vtanhf(100.0f), 1.0f);
    ck_assert_float_eq(tg_vtanhf(INFINITY), 1.0f);
    ck_assert_float_eq(tg_vtanhf(-INFINITY), -1.0f);
    ck_assert(isnan(tg_vtanhf(NAN)));
    for (float x = 0.001f; x < 12.0f; x *= 1.01f) ck_assert_float_eq(tg_vtanhf(-x), -tg_vtanhf(x));
}
END_TEST

START_TEST(test_erf_special_values)
{
    ck_assert_float_eq(tg_verff(0.0f), 0.0f);
    ck_assert(signbit(tg_verff(-0.0f)));
    ck_assert_float_eq_tol(tg_verff(1e-30f) / 1e-30f, 2.0 / sqrt(M_PI), 2e-7);
    ck_assert_float_eq(tg_verff(4.0f), 1.0f);
    ck_assert_float_eq(tg_verff(-4.0f), -1.0f);
    ck_assert_float_eq(tg_verff(1e30f), 1.0f);
    ck_assert_float_eq(tg_verff(INFINITY), 1.0f);
    ck_assert_float_eq(tg_verff(-INFINITY), -1.0f);
    ck_assert(isnan(tg_verff(NAN)));
    for (float x = 0.001f; x < 5.0f; x *= 1.01f) ck_assert_float_eq(tg_verff(-x), -tg_verff(x));
}
END_TEST

/* tg_vmax_n against a plain loop over lengths around its 64-wide blocks,
 * with the maximum in the blocks or in the tail, NaN skipped, and -inf for
 * an empty or all -inf row. */
START_TEST(test_max_n)
{
    float x[300];
    const int64_t lens[] = {0, 1, 5, 63, 64, 65, 128, 200, 300};
    for (size_t c = 0; c < sizeof lens / sizeof lens[0]; c++) {
        const int64_t n = lens[c];
        for (int where = 0; where < 3 && n > 0; where++) {
            for (int64_t j = 0; j < n; j++) x[j] = (float)((j * 37) % 101) - 50.0f;
            const int64_t at = where == 0 ? 0 : where == 1 ? n / 2 : n - 1;
            x[at] = 1000.0f;
            if (n > 2) x[(at + 1) % n] = NAN;
            ck_assert_float_eq(tg_vmax_n(x, n), 1000.0f);
        }
    }
    ck_assert(isinf(tg_vmax_n(x, 0)) && tg_vmax_n(x, 0) < 0);
    for (int j = 0; j < 70; j++) x[j] = -INFINITY;
    ck_assert(isinf(tg_vmax_n(x, 70)) && tg_vmax_n(x, 70) < 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmath");
    TCase *tc = tcase_create("vmath");
    tcase_add_loop_test(tc, test_range, 0, (int)(sizeof ranges / sizeof ranges[0]));
    tcase_add_test(tc, test_exp_special_values);
    tcase_add_test(tc, test_tanh_special_values);
    tcase_add_test(tc, test_erf_special_values);
    tcase_add_test(tc, test_max_n);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
