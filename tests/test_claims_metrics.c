/* Claims decision metrics against brute-force definitions. */
#include "models/claims/eval/metrics.h"
#include "tests/tg_test.h"

#define N 300

static void data(float *s, int32_t *y, uint64_t seed)
{
    for (int i = 0; i < N; i++) {
        y[i] = tg_rng_uniform_at(seed, (uint64_t)i) < 0.1f;
        /* quantized scores create ties; positives score higher on average */
        s[i] = floorf((tg_rng_uniform_at(seed + 1, (uint64_t)i) + 0.3f * (float)y[i]) * 20) / 20;
    }
}

START_TEST(test_auc_matches_pairwise_count)
{
    float s[N];
    int32_t y[N];
    data(s, y, 1);
    double wins = 0, pairs = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (y[i] && !y[j]) {
                pairs++;
                wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
            }
    ck_assert_double_eq_tol(claims_auc(s, y, N), wins / pairs, 1e-12);
    int32_t none[3] = {0, 0, 0};
    ck_assert(isnan(claims_auc(s, none, 3)));
}
END_TEST

START_TEST(test_pr_auc_hand_example)
{
    /* ranks: + - + -  -> AP = (1/1 + 2/3) / 2 */
    float s[] = {0.9f, 0.8f, 0.7f, 0.1f};
    int32_t y[] = {1, 0, 1, 0};
    ck_assert_double_eq_tol(claims_pr_auc(s, y, 4), (1.0 + 2.0 / 3.0) / 2.0, 1e-12);
    float perfect[] = {0.9f, 0.8f, 0.2f, 0.1f};
    int32_t yp[] = {1, 1, 0, 0};
    ck_assert_double_eq_tol(claims_pr_auc(perfect, yp, 4), 1.0, 1e-12);
}
END_TEST

START_TEST(test_confusion_and_costs)
{
    float s[] = {0.9f, 0.6f, 0.4f, 0.2f, 0.7f};
    int32_t y[] = {1, 0, 1, 0, 0};
    claims_confusion m = claims_confusion_at(s, y, 5, 0.5);
    ck_assert_int_eq(m.tp, 1);
    ck_assert_int_eq(m.fp, 2);
    ck_assert_int_eq(m.tn, 1);
    ck_assert_int_eq(m.fn, 1);
    claims_costs c = claims_costs_default();
    ck_assert_double_eq(claims_cost_total(&m, &c), 2 * 5.0 + 1 * 1.0);
    ck_assert_double_eq(claims_cost_always_approve(y, 5, &c), 2.0);
    ck_assert_double_eq(claims_cost_always_deny(y, 5, &c), 15.0);
    ck_assert_double_eq_tol(claims_precision(&m), 1.0 / 3, 1e-12);
    ck_assert_double_eq_tol(claims_recall(&m), 0.5, 1e-12);
    ck_assert_double_eq_tol(claims_accuracy(&m), 0.4, 1e-12);
}
END_TEST

START_TEST(test_best_threshold_is_brute_force_minimum)
{
    float s[N];
    int32_t y[N];
    data(s, y, 5);
    claims_costs c = claims_costs_default();
    double cost;
    double thr = claims_best_threshold(s, y, N, &c, &cost);
    claims_confusion at = claims_confusion_at(s, y, N, thr);
    ck_assert_double_eq(claims_cost_total(&at, &c), cost);
    for (int i = 0; i < N; i++) {
        claims_confusion m = claims_confusion_at(s, y, N, s[i]);
        ck_assert_double_ge(claims_cost_total(&m, &c), cost);
    }
    ck_assert_double_le(cost, claims_cost_always_approve(y, N, &c));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims_metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_auc_matches_pairwise_count);
    tcase_add_test(tc, test_pr_auc_hand_example);
    tcase_add_test(tc, test_confusion_and_costs);
    tcase_add_test(tc, test_best_threshold_is_brute_force_minimum);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
