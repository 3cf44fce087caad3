/* The claims reports: nice axis ticks and their labels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/eval/chart.h"
#include "tests/tg_test.h"

/* True when step is 1, 2 or 5 times a power of ten. */
static bool nice_step(double step)
{
    double m = step / pow(10, floor(log10(step) + 1e-9));
    return fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9;
}

static void assert_labels(double lo, double hi, const char *const *want, int n_want)
{
    double t[16], step;
    int n = claims_nice_ticks(lo, hi, 6, t, &step);
    ck_assert_int_eq(n, n_want);
    for (int i = 0; i < n; i++) {
        char lab[64];
        claims_tick_label(t[i], step, lab, sizeof lab);
        ck_assert_str_eq(lab, want[i]);
    }
}

START_TEST(test_nice_ticks_hand_cases)
{
    /* the training report's old axes: steps 1..800 (was 200.8), lr 5e-5..0.002 (was 0.0005375) */
    assert_labels(1, 800, (const char *[]){"0", "200", "400", "600", "800"}, 5);
    assert_labels(5e-5, 0.002, (const char *[]){"0", "0.0005", "0.001", "0.0015", "0.002"}, 5);
    assert_labels(0, 1, (const char *[]){"0", "0.2", "0.4", "0.6", "0.8", "1"}, 6);
    assert_labels(52, 78, (const char *[]){"50", "60", "70", "80"}, 4);
    assert_labels(0, 7475, (const char *[]){"0", "2,000", "4,000", "6,000", "8,000"}, 5);
    assert_labels(-0.3, 0.3, (const char *[]){"-0.4", "-0.2", "0", "0.2", "0.4"}, 5); /* 0.1 apart: 7 > 6 ticks */
}
END_TEST

START_TEST(test_nice_ticks_cover_any_range)
{
    for (uint64_t k = 0; k < 2000; k++) {
        double scale = pow(10, 12 * tg_rng_uniform_at(7, k) - 6);
        double lo = scale * (2 * tg_rng_uniform_at(8, k) - 1), hi = lo + scale * tg_rng_uniform_at(9, k);
        int max = 2 + (int)(k % 9);
        double t[16], step;
        int n = claims_nice_ticks(lo, hi, max, t, &step);
        ck_assert_int_ge(n, 2);
        ck_assert_int_le(n, max);
        ck_assert_msg(nice_step(step), "step %g for [%g, %g]", step, lo, hi);
        ck_assert_double_le(t[0], lo + 1e-9 * step);
        ck_assert_double_ge(t[n - 1], hi - 1e-9 * step);
        for (int i = 0; i < n; i++) {
            char lab[64];
            claims_tick_label(t[i], step, lab, sizeof lab);
            for (char *p = strchr(lab, ','); p; p = strchr(p, ',')) memmove(p, p + 1, strlen(p));
            /* the label reads back as the tick, to well under a step */
            ck_assert_msg(fabs(strtod(lab, NULL) - t[i]) < 1e-6 * step, "label %s for %.17g", lab, t[i]);
            ck_assert_msg(strlen(lab) < 16, "label %s", lab);
        }
    }
}
END_TEST

START_TEST(test_log_ticks)
{
    double t[16];
    int n = claims_log_ticks(0.08, 14.5, 10, t); /* the loss chart */
    double want[] = {0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20};
    ck_assert_int_eq(n, 9);
    for (int i = 0; i < n; i++) ck_assert_double_eq_tol(t[i], want[i], 1e-12);
    n = claims_log_ticks(0.7, 0.9, 10, t); /* narrow: 1 to 9 times a power of ten */
    ck_assert_int_eq(n, 3);
    ck_assert_double_eq_tol(t[0], 0.7, 1e-12);
    ck_assert_double_eq_tol(t[2], 0.9, 1e-12);
    n = claims_log_ticks(1e-9, 1e9, 6, t); /* wide: every few decades */
    ck_assert_int_le(n, 6);
    ck_assert_double_le(t[0], 1e-9);
    ck_assert_double_ge(t[n - 1], 1e9);
    char lab[32];
    claims_tick_label(0.05, 0, lab, sizeof lab);
    ck_assert_str_eq(lab, "0.05");
    claims_tick_label(20, 0, lab, sizeof lab);
    ck_assert_str_eq(lab, "20");
}
END_TEST

START_TEST(test_format_num)
{
    char b[48];
    claims_format_num(7475, 6, b, sizeof b);
    ck_assert_str_eq(b, "7,475");
    claims_format_num(0.0312345, 3, b, sizeof b);
    ck_assert_str_eq(b, "0.0312");
    claims_format_num(NAN, 3, b, sizeof b);
    ck_assert_str_eq(b, "n/a");
    claims_format_num(-1234567.25, 9, b, sizeof b);
    ck_assert_str_eq(b, "-1,234,567.25");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims_report");
    TCase *tc = tcase_create("charts");
    tcase_add_test(tc, test_nice_ticks_hand_cases);
    tcase_add_test(tc, test_nice_ticks_cover_any_range);
    tcase_add_test(tc, test_log_ticks);
    tcase_add_test(tc, test_format_num);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
