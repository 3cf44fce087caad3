/* Differential privacy: the RDP accountant against published values and an
 * independent numeric integration, its monotonicity and the sigma search;
 * DP-SGD noise statistics and Poisson sampling (optim/dp.h). */
#include <math.h>

#include "optim/rdp.h"
#include "tests/tg_test.h"

/* RDP of the sampled Gaussian by direct integration of
 * A_a = int N(z; 0, s^2) ((1 - q) + q exp((2z - 1) / (2 s^2)))^a dz
 * (trapezoid in log space on a wide grid), independent of the series. */
static double rdp_numeric(double q, double s, double a)
{
    const double lo = -40 * s, hi = 40 * s + a, h = 1e-3 * s;
    double m = -INFINITY, acc = 0;
    const int64_t n = (int64_t)((hi - lo) / h);
    for (int pass = 0; pass < 2; pass++)
        for (int64_t k = 0; k <= n; k++) {
            double z = lo + (double)k * h;
            double lmix = log1p(-q + q * exp((2 * z - 1) / (2 * s * s)));
            double l = -z * z / (2 * s * s) - 0.5 * log(2 * M_PI * s * s) + a * lmix;
            if (pass == 0) m = fmax(m, l);
            else acc += exp(l - m) * (k == 0 || k == n ? 0.5 : 1.0);
        }
    return (m + log(acc * h)) / (a - 1);
}

START_TEST(test_rdp_matches_integration)
{
    const double cases[][3] = {{0.01, 1.0, 2}, {0.01, 1.0, 2.5}, {0.004267, 1.1, 8.1}, {0.004267, 1.1, 12},
                               {0.05, 0.8, 3.7}, {0.1, 2.0, 20}, {0.2, 1.5, 1.5}, {0.02, 4.0, 32}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double q = cases[i][0], s = cases[i][1], a = cases[i][2];
        double got = tg_rdp_sgm(q, s, a), want = rdp_numeric(q, s, a);
        ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want) + 1e-12, "q %g sigma %g order %g: rdp %.10g, integral %.10g",
                      q, s, a, got, want);
    }
    /* q = 1 is the plain Gaussian mechanism: a / (2 s^2) */
    ck_assert(fabs(tg_rdp_sgm(1.0, 2.0, 5) - 5.0 / 8.0) < 1e-12);
    ck_assert(tg_rdp_sgm(0.0, 2.0, 5) == 0.0);
}
END_TEST

START_TEST(test_rdp_published)
{
    /* Abadi et al. 2016 / TF-Privacy MNIST: q = 256/60000, sigma = 1.1, 60
     * epochs, delta = 1e-5 gives epsilon ~ 3 (classic conversion); the
     * TF-Privacy tutorial's sigma = 1.3, 15 epochs gives 1.18. */
    const double q = 256.0 / 60000;
    double e, e2, order;
    ck_assert_int_eq(tg_rdp_epsilon_classic(q, 1.1, 60 * 60000 / 256, 1e-5, &e), TG_OK);
    ck_assert_msg(fabs(e - 3.0) <= 0.05 * 3.0, "epsilon %g, expected ~3", e);
    ck_assert_int_eq(tg_rdp_epsilon_classic(q, 1.3, 15 * 60000 / 256, 1e-5, &e), TG_OK);
    ck_assert_msg(fabs(e - 1.18) <= 0.05 * 1.18, "epsilon %g, expected ~1.18", e);
    /* the improved conversion is never looser */
    ck_assert_int_eq(tg_rdp_epsilon(q, 1.1, 60 * 60000 / 256, 1e-5, &e2, &order), TG_OK);
    ck_assert_int_eq(tg_rdp_epsilon_classic(q, 1.1, 60 * 60000 / 256, 1e-5, &e), TG_OK);
    ck_assert_msg(e2 < e && e2 > 0.8 * e, "improved %g vs classic %g", e2, e);
    ck_assert(order > 1 && order < 64);
}
END_TEST

START_TEST(test_rdp_monotone_and_search)
{
    const double q = 0.01, delta = 1e-5;
    double prev = -1;
    for (int64_t steps = 0; steps <= 20000; steps += 500) {
        double e;
        ck_assert_int_eq(tg_rdp_epsilon(q, 1.0, steps, delta, &e, NULL), TG_OK);
        ck_assert_msg(e > prev || (steps == 0 && e == 0), "epsilon %g after %lld steps not above %g", e,
                      (long long)steps, prev);
        prev = e;
    }
    for (double target = 0.5; target <= 16; target *= 2) {
        double s, e, e_less;
        ck_assert_int_eq(tg_rdp_sigma_for_epsilon(q, 3000, delta, target, &s), TG_OK);
        ck_assert_int_eq(tg_rdp_epsilon(q, s, 3000, delta, &e, NULL), TG_OK);
        ck_assert_int_eq(tg_rdp_epsilon(q, s * 0.995, 3000, delta, &e_less, NULL), TG_OK);
        ck_assert_msg(e <= target && e > 0.98 * target && e_less > target, "target %g: sigma %g gives %g (%g at 0.995 sigma)",
                      target, s, e, e_less);
    }
    double e;
    tg_assert_error(tg_rdp_epsilon(1.5, 1.0, 10, delta, &e, NULL), TG_ERR_INVALID, "q in [0, 1] (1.5)");
    tg_assert_error(tg_rdp_epsilon(0.1, 0.0, 10, delta, &e, NULL), TG_ERR_INVALID, "sigma > 0 (0)");
    tg_assert_error(tg_rdp_epsilon(0.1, 1.0, 10, 0.0, &e, NULL), TG_ERR_INVALID, "delta in (0, 1) (0)");
    tg_assert_error(tg_rdp_sigma_for_epsilon(0.1, 10, delta, -1, &e), TG_ERR_INVALID, "target epsilon -1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dp");
    TCase *tc = tcase_create("rdp");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_rdp_matches_integration);
    tcase_add_test(tc, test_rdp_published);
    tcase_add_test(tc, test_rdp_monotone_and_search);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
