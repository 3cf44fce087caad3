/* The claims reports: nice axis ticks and their labels, the curves against
 * the metrics they picture, claims_evaluate_scores against claims_evaluate,
 * and the evaluation report's sections and charts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/eval/chart.h"
#include "models/claims/eval/curves.h"
#include "models/claims/eval/eval_report.h"
#include "models/claims/eval/metrics.h"
#include "tests/claims_fixture.h"
#include "tests/tg_test.h"

#define N 400

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

/* Scores with ties, positives higher on average (as test_claims_metrics). */
static void data(float *s, int32_t *y, uint64_t seed)
{
    for (int i = 0; i < N; i++) {
        y[i] = tg_rng_uniform_at(seed, (uint64_t)i) < 0.1f;
        s[i] = floorf((tg_rng_uniform_at(seed + 1, (uint64_t)i) * 0.8f + 0.2f * (float)y[i]) * 40) / 40;
    }
}

START_TEST(test_curves_match_metrics)
{
    float s[N];
    int32_t y[N];
    data(s, y, 3);
    claims_curve roc, pr, cost, rel, h0, h1;
    ck_assert_int_eq(claims_roc_curve(s, y, N, &roc), TG_OK);
    /* trapezoids under the ROC points: the rank AUC, ties counted half */
    double area = 0;
    for (int i = 1; i < roc.n; i++) area += (roc.x[i] - roc.x[i - 1]) * (roc.y[i] + roc.y[i - 1]) / 2;
    ck_assert_double_eq_tol(area, claims_auc(s, y, N), 1e-9);
    ck_assert(roc.x[0] == 0 && roc.y[0] == 0 && roc.x[roc.n - 1] == 1 && roc.y[roc.n - 1] == 1);
    ck_assert_int_eq(claims_pr_curve(s, y, N, &pr), TG_OK);
    ck_assert_double_eq(pr.x[pr.n - 1], 1);
    claims_costs c = claims_costs_default();
    ck_assert_int_eq(claims_cost_curve(s, y, N, &c, &cost), TG_OK);
    ck_assert_double_eq(cost.x[0], 1);
    ck_assert_double_eq(cost.y[0], claims_cost_always_approve(y, N, &c));
    ck_assert_double_eq(cost.x[cost.n - 1], 0);
    ck_assert_double_eq(cost.y[cost.n - 1], claims_cost_always_deny(y, N, &c));
    double best, low = INFINITY;
    claims_best_threshold(s, y, N, &c, &best);
    for (int i = 0; i < cost.n; i++) {
        low = fmin(low, cost.y[i]);
        claims_confusion m = claims_confusion_at(s, y, N, cost.x[i]);
        if (i + 1 < cost.n && cost.x[i + 1] == cost.x[i]) /* at a score: the cost after denying it */
            ck_assert_double_eq(claims_cost_total(&m, &c), cost.y[i + 1]);
    }
    ck_assert_double_eq(low, best);
    ck_assert_int_eq(claims_reliability_curve(s, y, N, 10, &rel), TG_OK);
    ck_assert_int_ge(rel.n, 2);
    for (int i = 0; i < rel.n; i++) ck_assert(rel.y[i] >= 0 && rel.y[i] <= 1 && rel.x[i] >= 0 && rel.x[i] <= 1);
    ck_assert_int_eq(claims_score_histogram(s, y, N, 0, 20, &h0), TG_OK);
    ck_assert_int_eq(claims_score_histogram(s, y, N, 1, 20, &h1), TG_OK);
    double sum0 = 0, sum1 = 0;
    for (int i = 1; i < h0.n - 1; i += 2) sum0 += h0.y[i], sum1 += h1.y[i];
    ck_assert_double_eq_tol(sum0, 1, 1e-12);
    ck_assert_double_eq_tol(sum1, 1, 1e-12);
    int32_t none[3] = {0, 0, 0};
    claims_curve empty;
    ck_assert_int_eq(claims_roc_curve(s, none, 3, &empty), TG_OK);
    ck_assert_int_eq(empty.n, 0);
    claims_curve_free(&empty);
    claims_curve *all[] = {&roc, &pr, &cost, &rel, &h0, &h1};
    for (int k = 0; k < 6; k++) claims_curve_free(all[k]);
}
END_TEST

/* The number of times needle occurs in hay. */
static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static const char *sections[] = {"summary",        "policy",      "confusion", "reasons", "roc-pr",
                                 "cost-threshold", "calibration", "scores",    "config",  "run"};

START_TEST(test_eval_report_sections_and_charts)
{
    float s[N];
    int32_t y[N];
    uint32_t reasons[N];
    data(s, y, 5);
    claims_eval e = {.docs = N, .threshold = 0.5};
    claims_costs c = claims_costs_default();
    e.confusion = claims_confusion_at(s, y, N, e.threshold);
    e.business_cost = claims_cost_total(&e.confusion, &c);
    e.baseline_cost_always_approve = claims_cost_always_approve(y, N, &c);
    e.baseline_cost_always_deny = claims_cost_always_deny(y, N, &c);
    e.auc = claims_auc(s, y, N);
    for (int i = 0; i < N; i++) reasons[i] = y[i] ? 1u << (i % 2 ? CLAIMS_DENY_AGE : CLAIMS_DENY_UPCODE) : 0;
    e.reason_n[CLAIMS_DENY_AGE] = e.reason_n[CLAIMS_DENY_UPCODE] = 1;
    claims_eval_scores sc = {.n = N, .score = s, .label = y, .reasons = reasons};
    const char *config = "{\"dim\":32,\"cost-fr\":5,\"calibration\":{\"a\":1.5,\"b\":-0.5},"
                         "\"artifact\":{\"version\":1,\"tokenizer\":\"<a long tokenizer text, summarized in the report "
                         "rather than printed, since it runs to thousands of characters in a real checkpoint>\"}}";
    claims_eval_report r = {.model_path = "run/<checkpoint>.safetensors",
                            .data_path = "claims.test.jsonl",
                            .eval = &e,
                            .scores = &sc,
                            .costs = c,
                            .config_json = config,
                            .read = {.lines_read = N + 2, .used = N, .rejected = 2},
                            .started = 0,
                            .duration_s = 1.5};
    tg_test_scratch_setup();
    const char *path = tg_test_path("report.html");
    ck_assert_int_eq(claims_eval_report_write(path, &r), TG_OK);
    size_t len;
    char *html = (char *)tg_test_read_file(path, &len);
    for (size_t k = 0; k < sizeof sections / sizeof *sections; k++) {
        char id[64];
        snprintf(id, sizeof id, "<h2 id='%s'>", sections[k]);
        ck_assert_msg(strstr(html, id), "no section %s", sections[k]);
    }
    ck_assert_int_eq(occurrences(html, "<svg class='chart'"), 5); /* ROC, PR, cost, reliability, histograms */
    ck_assert_ptr_nonnull(strstr(html, "run/&lt;checkpoint&gt;.safetensors"));  /* escaped */
    ck_assert_ptr_nonnull(strstr(html, "<td>artifact.version</td><td>1</td>")); /* flattened */
    ck_assert_ptr_nonnull(strstr(html, "characters, not shown"));               /* summarized */
    ck_assert_ptr_nonnull(strstr(html, "calibrated (validation fit)"));
    ck_assert_ptr_null(strstr(html, "nan"));
    free(html);
    ck_assert_int_eq(claims_eval_report_write(tg_test_path("missing/dir/report.html"), &r), TG_ERR_IO);
    tg_test_scratch_teardown();
}
END_TEST

static claims_fixture fx;

static void data_setup(void) { claims_fixture_setup(&fx, 240, 3); } /* denials in validation */
static void data_teardown(void) { claims_fixture_teardown(&fx); }

START_TEST(test_evaluate_scores_keeps_the_evaluation)
{
    claims_model_config mc = {.gpt = {.vocab = claims_tok_vocab_size(fx.tok),
                                      .dim = 16,
                                      .heads = 2,
                                      .hidden = 32,
                                      .max_seq = 64,
                                      .n_layers = 1,
                                      .tied = true},
                              .lambda = 1,
                              .costs = claims_costs_default(),
                              .code_weight = 1,
                              .pool_heads = 1,
                              .class_weight = {1, 1}};
    claims_batch_opts bo = {.ctx = 64, .token_budget = 1024, .pos_repeat = 1};
    claims_model m;
    ck_assert_int_eq(claims_model_init(&m, &mc, 3), TG_OK);
    claims_eval a, b;
    claims_eval_scores sc;
    ck_assert_int_eq(claims_evaluate(&m, &fx.valid, &bo, fx.is_code, fx.is_rare, NAN, &a), TG_OK);
    ck_assert_int_eq(claims_evaluate_scores(&m, &fx.valid, &bo, fx.is_code, fx.is_rare, NAN, &b, &sc), TG_OK);
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    ck_assert_int_eq(sc.n, fx.valid.n);
    ck_assert_int_eq(memcmp(sc.label, fx.valid.label, sizeof *sc.label * (size_t)sc.n), 0);
    ck_assert_int_eq(memcmp(sc.reasons, fx.valid.reasons, sizeof *sc.reasons * (size_t)sc.n), 0);
    ck_assert(isfinite(a.auc));
    ck_assert_double_eq(claims_auc(sc.score, sc.label, sc.n), a.auc);
    claims_confusion m2 = claims_confusion_at(sc.score, sc.label, sc.n, a.threshold);
    ck_assert_int_eq(memcmp(&m2, &a.confusion, sizeof m2), 0);
    claims_eval_scores_free(&sc);
    claims_eval_scores_free(&sc); /* freed twice: zeroed by the first */
    claims_model_free(&m);
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
    tcase_add_test(tc, test_curves_match_metrics);
    tcase_add_test(tc, test_eval_report_sections_and_charts);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("evaluate");
    tcase_add_checked_fixture(te, data_setup, data_teardown);
    tcase_add_test(te, test_evaluate_scores_keeps_the_evaluation);
    suite_add_tcase(s, te);
    return tg_run_suite(s) ? 1 : 0;
}
