/* optim/sched: every schedule against an independently written double
 * reference at many steps (step 0, 1, around the warmup boundary, the end of
 * the decay and beyond), the tagged struct, and parse/validation errors. */
#include <math.h>
#include <string.h>

#include "optim/sched.h"
#include "tests/tg_test.h"

static void assert_lr(double got, double want, const char *what, int64_t step)
{
    ck_assert_msg(fabs(got - want) <= 1e-12 * fabs(want) + 1e-300, "%s step %lld: lr %.17g, expected %.17g", what,
                  (long long)step, got, want);
}

/* Steps to probe for a schedule with the given warmup and end. */
static int probe_steps(int64_t warmup, int64_t total, int64_t *out)
{
    int64_t cand[] = {
        0,         1,     2,         3,         warmup - 1, warmup, warmup + 1, warmup + 2, (warmup + total) / 2,
        total - 1, total, total + 1, total + 7, 3 * total,  10000};
    int n = 0;
    for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++)
        if (cand[k] >= 0) out[n++] = cand[k];
    int64_t stride = total / 40 + 1; /* at most ~45 more steps */
    for (int64_t s = 1; s <= total + 5; s += stride) out[n++] = s;
    return n;
}

static double ref_noam(int64_t step, double factor, double d_model, double warmup)
{
    if (step == 0) return 0.0;
    double s = (double)step;
    /* rising branch up to the warmup, then the inverse square root */
    double shape = s <= warmup ? s / (warmup * sqrt(warmup)) : 1.0 / sqrt(s);
    return factor * shape / sqrt(d_model);
}

START_TEST(test_noam)
{
    const int64_t d_model[] = {512, 64, 1}, warmup[] = {4000, 10, 1};
    for (int c = 0; c < 3; c++) {
        int64_t steps[128];
        int n = probe_steps(warmup[c], 3 * warmup[c], steps);
        for (int k = 0; k < n; k++)
            assert_lr(tg_sched_noam(steps[k], 2.0, d_model[c], warmup[c]),
                      ref_noam(steps[k], 2.0, (double)d_model[c], (double)warmup[c]), "noam", steps[k]);
    }
    /* by hand: the peak at step == warmup is factor / sqrt(d_model * warmup) */
    assert_lr(tg_sched_noam(4000, 2.0, 512, 4000), 2.0 / sqrt(512.0 * 4000.0), "noam peak", 4000);
    assert_lr(tg_sched_noam(1, 1.0, 4, 100), 0.5 * 1e-3, "noam first", 1);
    ck_assert(tg_sched_noam(4001, 2.0, 512, 4000) < tg_sched_noam(4000, 2.0, 512, 4000));
    ck_assert(tg_sched_noam(3999, 2.0, 512, 4000) < tg_sched_noam(4000, 2.0, 512, 4000));
    ck_assert_double_eq(tg_sched_noam(0, 2.0, 512, 4000), 0.0);
    ck_assert_double_eq(tg_sched_noam(-5, 2.0, 512, 4000), 0.0);
    ck_assert(isnan(tg_sched_noam(10, 1.0, 512, 0)));
}
END_TEST

static double ref_cosine(int64_t step, double peak, int64_t warmup, int64_t total, double floor_lr)
{
    if (warmup > 0 && step < warmup) return peak * (double)step / (double)warmup;
    if (step >= total) return floor_lr;
    double angle = M_PI * (double)(step - warmup) / (double)(total - warmup);
    return floor_lr + (peak - floor_lr) * (1.0 + cos(angle)) / 2.0;
}

START_TEST(test_cosine)
{
    const int64_t warmup[] = {100, 0, 1, 7}, total[] = {1000, 50, 2, 33};
    const double floor_lr[] = {1e-5, 0.0, 1e-4, 3e-4};
    for (int c = 0; c < 4; c++) {
        int64_t steps[128];
        int n = probe_steps(warmup[c], total[c], steps);
        for (int k = 0; k < n; k++)
            assert_lr(tg_sched_cosine(steps[k], 3e-3, warmup[c], total[c], floor_lr[c]),
                      ref_cosine(steps[k], 3e-3, warmup[c], total[c], floor_lr[c]), "cosine", steps[k]);
    }
    /* by hand: peak at the warmup boundary, the midpoint halfway, the floor after */
    assert_lr(tg_sched_cosine(100, 2e-3, 100, 1100, 0.0), 2e-3, "cosine peak", 100);
    assert_lr(tg_sched_cosine(600, 2e-3, 100, 1100, 0.0), 1e-3, "cosine middle", 600);
    assert_lr(tg_sched_cosine(50, 2e-3, 100, 1100, 0.0), 1e-3, "cosine warmup", 50);
    assert_lr(tg_sched_cosine(5000, 2e-3, 100, 1100, 1e-5), 1e-5, "cosine floor", 5000);
    ck_assert_double_eq(tg_sched_cosine(0, 2e-3, 100, 1100, 0.0), 0.0);
    ck_assert_double_eq(tg_sched_cosine(0, 2e-3, 0, 1100, 0.0), 2e-3);
    ck_assert(isnan(tg_sched_cosine(1, 1e-3, 10, 10, 0.0)));
}
END_TEST

/* Step decay by simulation: a level that is multiplied by gamma each time
 * `every` post-warmup steps have been spent at it. */
static double ref_step(int64_t step, double lr, int64_t warmup, double gamma, int64_t every)
{
    if (step < warmup) return lr * (double)step / (double)warmup;
    double level = lr;
    int64_t spent = 0;
    for (int64_t s = 1; s <= step; s++) {
        if (s < warmup) continue;
        if (spent == every) {
            level *= gamma;
            spent = 0;
        }
        spent++;
    }
    return level;
}

START_TEST(test_step_decay)
{
    const int64_t warmup[] = {0, 5, 1, 20}, every[] = {3, 4, 1, 100};
    const double gamma[] = {0.5, 0.1, 0.9, 0.3};
    for (int c = 0; c < 4; c++) {
        int64_t steps[128];
        int n = probe_steps(warmup[c], warmup[c] + 5 * every[c], steps);
        for (int k = 0; k < n; k++)
            assert_lr(tg_sched_step_decay(steps[k], 0.1, warmup[c], gamma[c], every[c]),
                      ref_step(steps[k], 0.1, warmup[c], gamma[c], every[c]), "step", steps[k]);
    }
    /* by hand, every 3 without warmup: steps 1-3 at 0.1, 4-6 at 0.05, 7 at 0.025 */
    assert_lr(tg_sched_step_decay(3, 0.1, 0, 0.5, 3), 0.1, "step", 3);
    assert_lr(tg_sched_step_decay(4, 0.1, 0, 0.5, 3), 0.05, "step", 4);
    assert_lr(tg_sched_step_decay(7, 0.1, 0, 0.5, 3), 0.025, "step", 7);
    ck_assert_double_eq(tg_sched_step_decay(0, 0.1, 0, 0.5, 3), 0.1);
}
END_TEST

START_TEST(test_constant)
{
    for (int64_t s = 0; s < 40; s++) {
        double want = s < 10 ? 1e-3 * (double)s / 10.0 : 1e-3;
        assert_lr(tg_sched_constant(s, 1e-3, 10), want, "constant", s);
        assert_lr(tg_sched_constant(s, 1e-3, 0), 1e-3, "constant no warmup", s);
    }
}
END_TEST

START_TEST(test_tagged_struct)
{
    const char *names[] = {"noam", "cosine", "step", "constant"};
    tg_sched s[4] = {
        {.lr = 1.0, .warmup = 40, .d_model = 256},
        {.lr = 1e-3, .warmup = 10, .total_steps = 200, .min_lr = 1e-5},
        {.lr = 1e-2, .warmup = 3, .gamma = 0.5, .every = 25},
        {.lr = 5e-4, .warmup = 8},
    };
    for (int c = 0; c < 4; c++) {
        ck_assert_int_eq(tg_sched_kind_parse(names[c], &s[c].kind), TG_OK);
        ck_assert_str_eq(tg_sched_kind_name(s[c].kind), names[c]);
        ck_assert_int_eq(tg_sched_check(&s[c]), TG_OK);
        for (int64_t step = 0; step < 300; step += 7) {
            double want = c == 0   ? tg_sched_noam(step, 1.0, 256, 40)
                          : c == 1 ? tg_sched_cosine(step, 1e-3, 10, 200, 1e-5)
                          : c == 2 ? tg_sched_step_decay(step, 1e-2, 3, 0.5, 25)
                                   : tg_sched_constant(step, 5e-4, 8);
            ck_assert_double_eq(tg_sched_lr(&s[c], step), want);
        }
    }
}
END_TEST

START_TEST(test_errors)
{
    tg_sched_kind k;
    tg_assert_error(tg_sched_kind_parse("cosin", &k), TG_ERR_INVALID,
                    "unknown scheduler 'cosin' (expected noam, cosine, step or constant)");
    tg_assert_error(tg_sched_kind_parse(NULL, &k), TG_ERR_INVALID, "'(null)'");
    tg_sched s = {.kind = TG_SCHED_NOAM, .lr = 1.0, .warmup = 0, .d_model = 8};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "noam warmup 0 must be >= 1");
    ck_assert(isnan(tg_sched_lr(&s, 5)));
    s = (tg_sched){.kind = TG_SCHED_NOAM, .lr = 1.0, .warmup = 4, .d_model = 0};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "noam d_model 0 must be >= 1");
    s = (tg_sched){.kind = TG_SCHED_COSINE, .lr = 1e-3, .warmup = 100, .total_steps = 50};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "cosine total_steps 50 must be > warmup 100");
    s = (tg_sched){.kind = TG_SCHED_COSINE, .lr = 1e-3, .total_steps = 50, .min_lr = 1e-2};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "cosine min_lr 0.01 must be in [0, lr 0.001]");
    s = (tg_sched){.kind = TG_SCHED_STEP, .lr = 1e-3, .gamma = 0.5, .every = 0};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "step every 0 must be >= 1");
    s = (tg_sched){.kind = TG_SCHED_STEP, .lr = 1e-3, .gamma = 0, .every = 3};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "step gamma 0 must be");
    s = (tg_sched){.kind = TG_SCHED_CONSTANT, .lr = -1e-3};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "constant lr -0.001 must be finite and >= 0");
    s = (tg_sched){.kind = TG_SCHED_CONSTANT, .lr = 1e-3, .warmup = -2};
    tg_assert_error(tg_sched_check(&s), TG_ERR_INVALID, "constant warmup -2 must be >= 0");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("sched");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_noam);
    tcase_add_test(tc, test_cosine);
    tcase_add_test(tc, test_step_decay);
    tcase_add_test(tc, test_constant);
    tcase_add_test(tc, test_tagged_struct);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
