/* Differential privacy: the RDP accountant against published values and an
 * independent numeric integration, its monotonicity and the sigma search;
 * DP-SGD noise statistics and Poisson sampling (optim/dpsgd.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/text/corpus.h"
#include "models/claims/train/dpsgd_train.h"
#include "models/claims/synth/gen.h"
#include "models/claims/eval/report.h"
#include "models/claims/train/trainer.h"
#include "optim/dpsgd.h"
#include "optim/dpsgd_accountant.h"
#include "tests/claims_fixture.h"
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
            if (pass == 0)
                m = fmax(m, l);
            else
                acc += exp(l - m) * (k == 0 || k == n ? 0.5 : 1.0);
        }
    return (m + log(acc * h)) / (a - 1);
}

START_TEST(test_rdp_matches_integration)
{
    const double cases[][3] = {{0.01, 1.0, 2},   {0.01, 1.0, 2.5}, {0.004267, 1.1, 8.1}, {0.004267, 1.1, 12},
                               {0.05, 0.8, 3.7}, {0.1, 2.0, 20},   {0.2, 1.5, 1.5},      {0.02, 4.0, 32}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double q = cases[i][0], s = cases[i][1], a = cases[i][2];
        double got = tg_rdp_sgm(q, s, a), want = rdp_numeric(q, s, a);
        ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want) + 1e-12,
                      "q %g sigma %g order %g: rdp %.10g, integral %.10g", q, s, a, got, want);
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
        ck_assert_msg(e <= target && e > 0.98 * target && e_less > target,
                      "target %g: sigma %g gives %g (%g at 0.995 sigma)", target, s, e, e_less);
    }
    double e;
    tg_assert_error(tg_rdp_epsilon(1.5, 1.0, 10, delta, &e, NULL), TG_ERR_INVALID, "q in [0, 1] (1.5)");
    tg_assert_error(tg_rdp_epsilon(0.1, 0.0, 10, delta, &e, NULL), TG_ERR_INVALID, "sigma > 0 (0)");
    tg_assert_error(tg_rdp_epsilon(0.1, 1.0, 10, 0.0, &e, NULL), TG_ERR_INVALID, "delta in (0, 1) (0)");
    tg_assert_error(tg_rdp_sigma_for_epsilon(0.1, 10, delta, -1, &e), TG_ERR_INVALID, "target epsilon -1");
}
END_TEST

/* ---- noise and sampling ---- */

START_TEST(test_noise_statistics)
{
    /* zero gradients: the added noise alone, divided by denom */
    tg_param_set *ps = tg_param_set_create();
    tg_tensor *a = tg_zeros(TG_PERSIST, TG_SHAPE(300, 200), TG_F32), *b = tg_zeros(TG_PERSIST, TG_SHAPE(7), TG_F32);
    ck_assert_int_eq(tg_param_set_add(ps, "a", a, 0, NULL), TG_OK);
    ck_assert_int_eq(tg_param_set_add(ps, "b", b, 0, NULL), TG_OK);
    tg_tensor_set_requires_grad(a, true);
    tg_tensor_set_requires_grad(b, true);
    const double sigma = 1.3, clip = 0.7, denom = 4.0, sd = sigma * clip / denom;
    ck_assert_int_eq(tg_dpsgd_noise_average(ps, 9, 5, sigma, clip, denom), TG_OK);
    const float *g = tg_f32(tg_tensor_grad(a));
    const int64_t n = 60000;
    double m = 0, v = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) m += g[i];
    m /= n;
    for (int64_t i = 0; i < n; i++) v += (g[i] - m) * (g[i] - m), m4 += pow((g[i] - m) / sd, 4);
    v /= n - 1;
    m4 /= n;
    /* mean within 5 standard errors; variance within 5 of its standard errors (sqrt(2/n)) */
    ck_assert_msg(fabs(m) < 5 * sd / sqrt((double)n), "noise mean %g (sd %g)", m, sd);
    ck_assert_msg(fabs(v / (sd * sd) - 1) < 5 * sqrt(2.0 / n), "noise variance %g, expected %g", v, sd * sd);
    ck_assert_msg(fabs(m4 - 3) < 0.15, "noise kurtosis %g, expected 3 (Gaussian)", m4);
    ck_assert(tg_f32(tg_tensor_grad(b))[0] != 0.0f); /* every parameter gets noise */
    /* the same (seed, step) adds the same noise; another step does not */
    float first = g[0], g12 = g[12];
    ck_assert_int_eq(tg_param_set_zero_grad(ps), TG_OK);
    ck_assert_int_eq(tg_dpsgd_noise_average(ps, 9, 5, sigma, clip, denom), TG_OK);
    ck_assert(g[0] == first && g[12] == g12);
    ck_assert_int_eq(tg_param_set_zero_grad(ps), TG_OK);
    ck_assert_int_eq(tg_dpsgd_noise_average(ps, 9, 6, sigma, clip, denom), TG_OK);
    ck_assert(g[0] != first);
    /* the gradient itself is averaged: sigma 0 divides by denom */
    tg_f32(tg_tensor_grad(b))[3] = 2.0f;
    ck_assert_int_eq(tg_dpsgd_noise_average(ps, 9, 6, 0.0, clip, denom), TG_OK);
    ck_assert(tg_f32(tg_tensor_grad(b))[3] == 0.5f);
    tg_assert_error(tg_dpsgd_noise_average(ps, 9, 6, 1.0, 0.0, denom), TG_ERR_INVALID, "clip > 0 (0)");
    tg_param_set_destroy(ps);
    tg_tensor_free(a);
    tg_tensor_free(b);
}
END_TEST

START_TEST(test_poisson_sampling)
{
    const int units = 1000, steps = 400;
    const double q = 0.05;
    int64_t total = 0, both = 0;
    double sum2 = 0;
    for (int t = 0; t < steps; t++) {
        int64_t k = 0;
        for (int u = 0; u < units; u++) {
            bool in = tg_dpsgd_sampled(21, t, u, q);
            k += in;
            both += in && tg_dpsgd_sampled(21, t + 1, u, q); /* independent across steps */
            ck_assert(in == tg_dpsgd_sampled(21, t, u, q));
        }
        total += k;
        sum2 += (double)k * k;
    }
    const double n = (double)units * steps, mean = n * q, sd = sqrt(n * q * (1 - q));
    ck_assert_msg(fabs((double)total - mean) < 5 * sd, "%lld sampled, expected %g +- %g", (long long)total, mean, sd);
    double per = (double)total / steps, var = sum2 / steps - per * per, want = units * q * (1 - q);
    ck_assert_msg(fabs(var / want - 1) < 0.35, "per-step count variance %g, binomial %g", var, want);
    ck_assert_msg(fabs((double)both - n * q * q) < 5 * sqrt(n * q * q), "%lld in two consecutive steps, expected %g",
                  (long long)both, n * q * q);
    int same = 0;
    for (int u = 0; u < units; u++) same += tg_dpsgd_sampled(21, 3, u, q) == tg_dpsgd_sampled(22, 3, u, q);
    ck_assert_int_lt(same, units); /* another seed, another batch */
    for (int u = 0; u < 100; u++) ck_assert(tg_dpsgd_sampled(21, 3, u, 1.0) && !tg_dpsgd_sampled(21, 3, u, 0.0));
}
END_TEST

/* ---- DP training of the claims model ---- */

static claims_fixture fx;

static void data_setup(void) { claims_fixture_setup(&fx, 160, 4); }

static void data_teardown(void) { claims_fixture_teardown(&fx); }

static claims_train_opts dp_opts(const char *out, int64_t steps, const claims_dpsgd_opts *dp)
{
    claims_train_opts o = {0};
    o.model.gpt = (tg_gpt_config){.vocab = claims_tok_vocab_size(fx.tok),
                                  .dim = 16,
                                  .heads = 2,
                                  .hidden = 32,
                                  .max_seq = 32,
                                  .n_layers = 1,
                                  .dropout = 0.1,
                                  .tied = true};
    o.model.lambda = 1.0;
    o.model.costs = claims_costs_default();
    o.model.code_weight = 1.0;
    o.model.surprisal = true;
    o.batch = (claims_batch_opts){.ctx = 32, .token_budget = 1024, .pos_repeat = 1};
    o.steps = steps;
    o.accum = 1;
    o.sched = (tg_sched){.kind = TG_SCHED_CONSTANT, .lr = 3e-3};
    o.seed = 5;
    o.ckpt_every = 2;
    o.out_dir = out;
    o.tokenizer_name = "tokenizer.json";
    o.dp = dp;
    return o;
}

static void dp_run(const char *sub, int64_t steps, const char *resume, const claims_dpsgd_opts *dp)
{
    char out[512];
    snprintf(out, sizeof out, "%s", tg_test_path(sub));
    claims_train_opts o = dp_opts(out, steps, dp);
    o.resume = resume;
    claims_model m;
    double thr;
    ck_assert_msg(claims_train(&o, &fx.train, &fx.valid, fx.is_code, fx.is_rare, NULL, NULL, NULL, &m, &thr) == TG_OK,
                  "%s", tg_last_error());
    claims_model_free(&m);
}

static bool same_weights(const char *x, const char *y)
{
    char p[600], q[600];
    snprintf(p, sizeof p, "%s/%s/checkpoint.safetensors", tg_test_scratch(), x);
    snprintf(q, sizeof q, "%s/%s/checkpoint.safetensors", tg_test_scratch(), y);
    tg_st_file *a = tg_st_open(p), *b = tg_st_open(q);
    ck_assert(a && b);
    bool same = tg_st_count(a) == tg_st_count(b);
    for (int i = 0; same && i < tg_st_count(a); i++) {
        tg_st_entry ea, eb;
        ck_assert_int_eq(tg_st_find(a, tg_st_name(a, i), &ea), TG_OK);
        same = tg_st_find(b, tg_st_name(a, i), &eb) == TG_OK && ea.nbytes == eb.nbytes &&
               !memcmp(ea.data, eb.data, ea.nbytes);
    }
    tg_st_close(a);
    tg_st_close(b);
    return same;
}

START_TEST(test_patient_units)
{
    int32_t *unit, n_units, *claim_unit, n_claims;
    ck_assert_int_eq(claims_dpsgd_units(&fx.train_ds, true, &unit, &n_units), TG_OK);
    ck_assert_int_eq(claims_dpsgd_units(&fx.train_ds, false, &claim_unit, &n_claims), TG_OK);
    ck_assert_int_eq(n_claims, (int32_t)fx.train_ds.n);
    ck_assert_int_lt(n_units, n_claims); /* generated patients have several claims */
    for (size_t i = 0; i < fx.train_ds.n; i++) {
        ck_assert_int_eq(claim_unit[i], (int32_t)i);
        for (size_t j = 0; j < fx.train_ds.n; j++)
            ck_assert((unit[i] == unit[j]) ==
                      !strcmp(fx.train_ds.claims[i].member_id, fx.train_ds.claims[j].member_id));
    }
    free(unit);
    free(claim_unit);
}
END_TEST

START_TEST(test_dp_training_reproducible)
{
    int32_t *unit, n_units;
    ck_assert_int_eq(claims_dpsgd_units(&fx.train_ds, true, &unit, &n_units), TG_OK);
    claims_dpsgd_opts dp = {.patient = true,
                            .clip = 0.5,
                            .sigma = 1.0,
                            .rate = 8.0 / n_units,
                            .delta = 1e-5,
                            .unit = unit,
                            .n_units = n_units};
    dp_run("a", 6, NULL, &dp);
    dp_run("b", 6, NULL, &dp);
    ck_assert_msg(same_weights("a", "b"), "two DP runs with one seed differ");
    char ckpt[600];
    dp_run("c", 3, NULL, &dp);
    snprintf(ckpt, sizeof ckpt, "%s", tg_test_path("c/checkpoint.safetensors"));
    dp_run("c", 6, ckpt, &dp);
    ck_assert_msg(same_weights("a", "c"), "a resumed DP run differs from the uninterrupted one");
    /* resuming with other DP settings, or without DP, would misreport epsilon */
    char out[512];
    snprintf(out, sizeof out, "%s", tg_test_path("e"));
    claims_dpsgd_opts other = dp;
    other.sigma = 1.5;
    const claims_dpsgd_opts *resume_dp[] = {&other, NULL};
    const char *want[] = {"DP sigma is 1, this run's 1.5", "trained with DP-SGD and this run is without it"};
    for (int k = 0; k < 2; k++) {
        claims_train_opts o = dp_opts(out, 6, resume_dp[k]);
        o.resume = ckpt;
        claims_model m;
        double thr;
        tg_assert_error(claims_train(&o, &fx.train, &fx.valid, fx.is_code, fx.is_rare, NULL, NULL, NULL, &m, &thr),
                        TG_ERR_INVALID, want[k]);
        claims_model_free(&m);
    }
    dp.sigma = 1.01;
    dp_run("d", 6, NULL, &dp);
    ck_assert(!same_weights("a", "d"));

    /* metrics carry the privacy figures; epsilon is the accountant's and grows */
    size_t len;
    char *mj = (char *)tg_test_read_file(tg_test_path("a/metrics.jsonl"), &len);
    double prev = 0;
    int steps = 0;
    for (char *line = strtok(mj, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(j);
        if (json_object_get(j, "step")) {
            long step = (long)json_integer_value(json_object_get(j, "step"));
            double e = json_number_value(json_object_get(j, "epsilon")), want;
            ck_assert_int_eq(tg_rdp_epsilon(8.0 / n_units, 1.0, step, 1e-5, &want, NULL), TG_OK);
            ck_assert_msg(fabs(e - want) <= 1e-5 * want && e > prev, "step %ld: epsilon %g (accountant %g)", step, e,
                          want);
            prev = e;
            ck_assert(json_number_value(json_object_get(j, "sigma")) == 1.0);
            ck_assert(json_number_value(json_object_get(j, "clip")) == 0.5);
            ck_assert(json_number_value(json_object_get(j, "delta")) == 1e-5);
            ck_assert(fabs(json_number_value(json_object_get(j, "sample_rate")) - 8.0 / n_units) <
                      1e-5 * 8.0 / n_units);
            ck_assert_str_eq(json_string_value(json_object_get(j, "dp_unit")), "patient");
            steps++;
        }
        json_decref(j);
    }
    ck_assert_int_eq(steps, 6);
    free(mj);
    char metrics[600], report[600];
    snprintf(metrics, sizeof metrics, "%s", tg_test_path("a/metrics.jsonl"));
    snprintf(report, sizeof report, "%s", tg_test_path("a/report.html"));
    ck_assert_int_eq(claims_report_write(metrics, report, "dp"), TG_OK);
    char *html = (char *)tg_test_read_file(report, &len);
    ck_assert_ptr_nonnull(strstr(html, "<h2>Privacy (DP-SGD)</h2>"));
    ck_assert_ptr_nonnull(strstr(html, "<tr><td>privacy unit</td><td>patient</td></tr>"));
    ck_assert_ptr_nonnull(strstr(html, "<tr><td>noise multiplier sigma</td><td>1</td></tr>"));
    free(html);
    free(unit);
}
END_TEST

START_TEST(test_dp_checks)
{
    int32_t unit[1] = {0};
    claims_dpsgd_opts dp = {.clip = 1, .sigma = 1, .rate = 0.1, .delta = 1e-5, .unit = unit, .n_units = 1};
    claims_train_opts o = dp_opts("x", 1, &dp);
    tg_assert_error(claims_dpsgd_check(&dp, &o.model, &o.batch, true), TG_ERR_INVALID, "drop --bf16");
    o.batch.pos_repeat = 3;
    tg_assert_error(claims_dpsgd_check(&dp, &o.model, &o.batch, false), TG_ERR_INVALID, "balance 3");
    o.batch.pos_repeat = 1;
    o.model.decision = CLAIMS_LOSS_WCE;
    o.model.class_weight[0] = 0.5, o.model.class_weight[1] = 5;
    tg_assert_error(claims_dpsgd_check(&dp, &o.model, &o.batch, false), TG_ERR_INVALID, "class-weighted");
    o.model.decision = CLAIMS_LOSS_COST;
    dp.rate = 1.5;
    tg_assert_error(claims_dpsgd_check(&dp, &o.model, &o.batch, false), TG_ERR_INVALID, "sample rate in (0, 1] (1.5)");
    dp.rate = 0.1, dp.clip = 0;
    tg_assert_error(claims_dpsgd_check(&dp, &o.model, &o.batch, false), TG_ERR_INVALID, "clip > 0 (0)");
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
    tcase_add_test(tc, test_noise_statistics);
    tcase_add_test(tc, test_poisson_sampling);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("train");
    tcase_add_checked_fixture(tt, data_setup, data_teardown);
    tcase_set_timeout(tt, 300);
    tcase_add_test(tt, test_patient_units);
    tcase_add_test(tt, test_dp_training_reproducible);
    tcase_add_test(tt, test_dp_checks);
    suite_add_tcase(s, tt);
    return tg_run_suite(s) ? 1 : 0;
}
