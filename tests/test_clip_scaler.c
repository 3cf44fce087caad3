/* optim/clip, optim/scaler, optim/accum: global-norm and value clipping with
 * inf/NaN, the dynamic loss scaler's skip/back-off/growth, and gradient
 * accumulation normalized by target tokens. */
#include <math.h>
#include <string.h>

#include "optim/accum.h"
#include "optim/clip.h"
#include "optim/optim.h"
#include "optim/param.h"
#include "optim/scaler.h"
#include "tests/tg_test.h"

/* Two parameters "a" (2) and "b" (3) with the given gradients; a third, "c",
 * never gets a gradient. */
typedef struct fixture {
    tg_tensor *a, *b, *c;
    tg_param_set *ps;
} fixture;

static fixture make_params(const float ga[2], const float gb[3])
{
    fixture f = {tg_full(TG_PERSIST, TG_SHAPE(2), TG_F32, 1.0), tg_full(TG_PERSIST, TG_SHAPE(3), TG_F32, -1.0),
                 tg_full(TG_PERSIST, TG_SHAPE(4), TG_F32, 0.5), tg_param_set_create()};
    ck_assert_int_eq(tg_param_set_add(f.ps, "a", f.a, 0, NULL), TG_OK);
    ck_assert_int_eq(tg_param_set_add(f.ps, "b", f.b, 0, NULL), TG_OK);
    ck_assert_int_eq(tg_param_set_add(f.ps, "c", f.c, 0, NULL), TG_OK);
    ck_assert_int_eq(tg_copy_from(tg_tensor_grad_or_zeros(f.a), ga, 2 * sizeof(float)), TG_OK);
    ck_assert_int_eq(tg_copy_from(tg_tensor_grad_or_zeros(f.b), gb, 3 * sizeof(float)), TG_OK);
    return f;
}

static void free_params(fixture *f)
{
    tg_param_set_destroy(f->ps);
    tg_tensor_free(f->a);
    tg_tensor_free(f->b);
    tg_tensor_free(f->c);
}

START_TEST(test_clip_norm)
{
    fixture f = make_params((float[]){3, 4}, (float[]){12, 0, 0}); /* norm 13 */
    double norm = 0;
    ck_assert_int_eq(tg_grad_global_norm(f.ps, &norm), TG_OK);
    ck_assert_double_eq(norm, 13.0);
    ck_assert_int_eq(tg_clip_grad_norm(f.ps, 20.0, &norm), TG_OK); /* below the limit: unchanged */
    ck_assert_double_eq(norm, 13.0);
    tg_assert_close_buf(tg_tensor_grad(f.a), (float[]){3, 4}, 2, 0, 0, "unclipped a");
    ck_assert_int_eq(tg_clip_grad_norm(f.ps, 6.5, &norm), TG_OK);
    ck_assert_double_eq(norm, 13.0);
    double coef = 6.5 / (13.0 + 1e-6);
    float wa[] = {(float)(3 * coef), (float)(4 * coef)}, wb[] = {(float)(12 * coef), 0, 0};
    tg_assert_close_buf(tg_tensor_grad(f.a), wa, 2, 0, 1e-6, "clipped a");
    tg_assert_close_buf(tg_tensor_grad(f.b), wb, 3, 0, 1e-6, "clipped b");
    ck_assert_ptr_null(tg_tensor_grad(f.c));
    ck_assert_int_eq(tg_grad_global_norm(f.ps, &norm), TG_OK);
    ck_assert_double_eq_tol(norm, 6.5, 1e-5);
    tg_assert_error(tg_clip_grad_norm(f.ps, 0.0, NULL), TG_ERR_INVALID, "max_norm 0 must be finite and > 0");
    free_params(&f);
}
END_TEST

/* Many elements (parallel reduction) against a double loop; values near the
 * f32 limit whose squares would overflow in f32. */
START_TEST(test_clip_norm_large)
{
    tg_tensor *w = tg_zeros(TG_PERSIST, TG_SHAPE(70001), TG_F32);
    tg_tensor *g = tg_tensor_grad_or_zeros(w);
    ck_assert_int_eq(tg_fill_randn(g, 9, 0.0, 3.0), TG_OK);
    tg_param_set *ps = tg_param_set_create();
    ck_assert_int_eq(tg_param_set_add(ps, "w", w, 0, NULL), TG_OK);
    double want = 0;
    for (int64_t i = 0; i < 70001; i++) want += (double)tg_f32(g)[i] * tg_f32(g)[i];
    double norm;
    ck_assert_int_eq(tg_grad_global_norm(ps, &norm), TG_OK);
    ck_assert_double_eq_tol(norm, sqrt(want), 1e-9 * sqrt(want));
    ck_assert_int_eq(tg_fill(g, 1e30), TG_OK);
    ck_assert_int_eq(tg_clip_grad_norm(ps, 1.0, &norm), TG_OK);
    ck_assert_double_eq_tol(norm, 1e30 * sqrt(70001.0), 1e-6 * norm);
    ck_assert_float_eq_tol(tg_f32(g)[5], (float)(1.0 / sqrt(70001.0)), 1e-9);
    tg_param_set_destroy(ps);
    tg_tensor_free(w);
}
END_TEST

START_TEST(test_clip_norm_nonfinite)
{
    const float bad[] = {INFINITY, NAN};
    for (int c = 0; c < 2; c++) {
        fixture f = make_params((float[]){3, 4}, (float[]){1, bad[c], 2});
        double norm = 0;
        tg_assert_error(tg_clip_grad_norm(f.ps, 1.0, &norm), TG_ERR_NUMERIC,
                        "parameter 'b' has inf/NaN); gradients left unchanged, skip this step");
        ck_assert(c == 0 ? isinf(norm) : isnan(norm));
        tg_assert_close_buf(tg_tensor_grad(f.a), (float[]){3, 4}, 2, 0, 0, "a untouched");
        ck_assert_float_eq(tg_f32(tg_tensor_grad(f.b))[0], 1.0f);
        ck_assert(c == 0 ? isinf(tg_f32(tg_tensor_grad(f.b))[1]) : isnan(tg_f32(tg_tensor_grad(f.b))[1]));
        free_params(&f);
    }
    /* inf and NaN together: NaN norm */
    fixture f = make_params((float[]){INFINITY, 4}, (float[]){1, NAN, 2});
    double norm = 0;
    ck_assert_int_eq(tg_clip_grad_norm(f.ps, 1.0, &norm), TG_ERR_NUMERIC);
    ck_assert(isnan(norm));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "parameter 'a'"));
    free_params(&f);
}
END_TEST

START_TEST(test_clip_value)
{
    fixture f = make_params((float[]){-5, 0.5f}, (float[]){INFINITY, -INFINITY, 0.75f});
    ck_assert_int_eq(tg_clip_grad_value(f.ps, 1.0), TG_OK);
    tg_assert_close_buf(tg_tensor_grad(f.a), (float[]){-1, 0.5f}, 2, 0, 0, "a clamped");
    tg_assert_close_buf(tg_tensor_grad(f.b), (float[]){1, -1, 0.75f}, 3, 0, 0, "b clamped");
    free_params(&f);

    f = make_params((float[]){-5, 0.5f}, (float[]){NAN, 3, -0.25f});
    tg_assert_error(tg_clip_grad_value(f.ps, 2.0), TG_ERR_NUMERIC, "parameter 'b' has NaN gradients (left as NaN)");
    tg_assert_close_buf(tg_tensor_grad(f.a), (float[]){-2, 0.5f}, 2, 0, 0, "a clamped next to NaN");
    ck_assert(isnan(tg_f32(tg_tensor_grad(f.b))[0]));
    ck_assert_float_eq(tg_f32(tg_tensor_grad(f.b))[1], 2.0f);
    tg_assert_error(tg_clip_grad_value(f.ps, -1.0), TG_ERR_INVALID, "clip -1 must be finite and > 0");
    free_params(&f);
}
END_TEST

/* One training step under the scaler: grads = scale * true grads (as if the
 * loss had been scaled), then unscale, step only when finite, update. */
static bool scaled_step(tg_scaler *s, fixture *f, tg_optim *opt, const float ga[2], const float gb[3])
{
    float sa[2], sb[3];
    for (int i = 0; i < 2; i++) sa[i] = (float)(ga[i] * tg_scaler_scale(s));
    for (int i = 0; i < 3; i++) sb[i] = (float)(gb[i] * tg_scaler_scale(s));
    ck_assert_int_eq(tg_copy_from(tg_tensor_grad(f->a), sa, sizeof sa), TG_OK);
    ck_assert_int_eq(tg_copy_from(tg_tensor_grad(f->b), sb, sizeof sb), TG_OK);
    ck_assert_int_eq(tg_scaler_unscale(s, f->ps), TG_OK);
    bool stepped = tg_scaler_should_step(s);
    if (stepped) ck_assert_int_eq(tg_optim_step(opt, 0.5), TG_OK);
    ck_assert_int_eq(tg_scaler_update(s), TG_OK);
    return stepped;
}

START_TEST(test_scaler_skip_and_backoff)
{
    const float bad[] = {INFINITY, NAN};
    for (int c = 0; c < 2; c++) {
        fixture f = make_params((float[]){0, 0}, (float[]){0, 0, 0});
        tg_optim *opt = tg_sgd_create(f.ps, NULL);
        tg_scaler s;
        ck_assert_int_eq(tg_scaler_init(&s, NULL), TG_OK);
        ck_assert_double_eq(tg_scaler_scale(&s), 65536.0);

        /* a clean step: unscaled grads are the true ones, the step is taken */
        ck_assert(scaled_step(&s, &f, opt, (float[]){1, -2}, (float[]){0.5f, 4, 0}));
        tg_assert_close_buf(tg_tensor_grad(f.a), (float[]){1, -2}, 2, 0, 0, "unscaled a");
        tg_assert_close_buf(f.a, (float[]){0.5f, 2.0f}, 2, 0, 0, "stepped a");
        ck_assert_int_eq(s.good_steps, 1);

        /* an overflowing step: skipped, weights unchanged, scale halved */
        ck_assert(!scaled_step(&s, &f, opt, (float[]){1, 1}, (float[]){bad[c], 1, 1}));
        tg_assert_close_buf(f.a, (float[]){0.5f, 2.0f}, 2, 0, 0, "a after skip");
        tg_assert_close_buf(f.b, (float[]){-1.25f, -3.0f, -1.0f}, 3, 0, 0, "b after skip");
        ck_assert_double_eq(tg_scaler_scale(&s), 32768.0);
        ck_assert_int_eq(s.skipped, 1);
        ck_assert_int_eq(s.good_steps, 0);
        ck_assert_int_eq(tg_optim_step_count(opt), 1);
        tg_optim_destroy(opt);
        free_params(&f);
    }
}
END_TEST

START_TEST(test_scaler_growth_and_limits)
{
    fixture f = make_params((float[]){0, 0}, (float[]){0, 0, 0});
    tg_optim *opt = tg_sgd_create(f.ps, NULL);
    tg_scaler_opts o = tg_scaler_default_opts();
    o.init_scale = 4.0;
    o.growth_interval = 3;
    o.max_scale = 16.0;
    tg_scaler s;
    ck_assert_int_eq(tg_scaler_init(&s, &o), TG_OK);
    const float ga[] = {1, 2}, gb[] = {3, 4, 5}, inf_b[] = {INFINITY, 0, 0};
    ck_assert(scaled_step(&s, &f, opt, ga, gb));
    ck_assert(scaled_step(&s, &f, opt, ga, gb));
    ck_assert_double_eq(tg_scaler_scale(&s), 4.0);
    ck_assert(scaled_step(&s, &f, opt, ga, gb)); /* third clean step: grow */
    ck_assert_double_eq(tg_scaler_scale(&s), 8.0);
    ck_assert_int_eq(s.good_steps, 0);
    ck_assert(scaled_step(&s, &f, opt, ga, gb));
    ck_assert(scaled_step(&s, &f, opt, ga, gb));
    ck_assert(!scaled_step(&s, &f, opt, ga, inf_b)); /* overflow resets the run */
    ck_assert_double_eq(tg_scaler_scale(&s), 4.0);
    for (int k = 0; k < 3; k++) ck_assert(scaled_step(&s, &f, opt, ga, gb));
    ck_assert_double_eq(tg_scaler_scale(&s), 8.0);
    for (int k = 0; k < 9; k++) ck_assert(scaled_step(&s, &f, opt, ga, gb));
    ck_assert_double_eq(tg_scaler_scale(&s), 16.0); /* capped at max_scale */
    for (int k = 0; k < 6; k++) ck_assert(!scaled_step(&s, &f, opt, ga, inf_b));
    ck_assert_double_eq(tg_scaler_scale(&s), 1.0); /* floored at min_scale */
    ck_assert_int_eq(s.skipped, 7);
    ck_assert_int_eq(tg_optim_step_count(opt), 17);

    tg_assert_error(tg_scaler_update(&s), TG_ERR_STATE, "call tg_scaler_unscale before update");
    ck_assert_int_eq(tg_scaler_unscale(&s, f.ps), TG_OK);
    tg_assert_error(tg_scaler_unscale(&s, f.ps), TG_ERR_STATE, "already unscaled this step");
    o = tg_scaler_default_opts();
    o.backoff = 1.0;
    tg_assert_error(tg_scaler_init(&s, &o), TG_ERR_INVALID, "backoff 1 must be in (0, 1)");
    o = tg_scaler_default_opts();
    o.growth_interval = 0;
    tg_assert_error(tg_scaler_init(&s, &o), TG_ERR_INVALID, "growth_interval 0 must be >= 1");
    o = tg_scaler_default_opts();
    o.init_scale = 0.5;
    tg_assert_error(tg_scaler_init(&s, &o), TG_ERR_INVALID, "init_scale 0.5 must be in [min_scale 1");
    tg_optim_destroy(opt);
    free_params(&f);
}
END_TEST

/* Per-token loss l_t = 0.5 * (w . x_t - y_t)^2, gradient (w . x_t - y_t) x_t.
 * Two micro-batches hold 3 and 7 target tokens (the rest is padding); their
 * SUM-loss gradients are accumulated, then normalized by the 10 tokens. */
enum { D = 4, TOKENS = 10, MB1 = 3 };

static void token_grad(const float *w, int t, double *dg)
{
    double x[D], y = 0.3 * t - 1.0, dot = 0;
    for (int j = 0; j < D; j++) {
        x[j] = sin(0.7 * t + 1.3 * j);
        dot += w[j] * x[j];
    }
    for (int j = 0; j < D; j++) dg[j] = (dot - y) * x[j];
}

START_TEST(test_accumulation_matches_full_batch)
{
    tg_tensor *w = tg_from_buffer(TG_PERSIST, TG_SHAPE(D), TG_F32, (float[]){0.5f, -1, 0.25f, 2});
    tg_param_set *ps = tg_param_set_create();
    ck_assert_int_eq(tg_param_set_add(ps, "w", w, 0, NULL), TG_OK);
    tg_tensor *g = tg_tensor_grad_or_zeros(w);
    ck_assert_int_eq(tg_fill(g, 123.0), TG_OK); /* stale gradient from a previous step */
    ck_assert_int_eq(tg_param_set_zero_grad(ps), TG_OK);

    tg_accum acc;
    tg_accum_reset(&acc);
    double full[D] = {0}, mb_mean[2][D] = {{0}};
    const int bounds[3] = {0, MB1, TOKENS};
    for (int mb = 0; mb < 2; mb++) {
        for (int t = bounds[mb]; t < bounds[mb + 1]; t++) { /* "backward" of the sum loss: += */
            double dg[D];
            token_grad(tg_f32(w), t, dg);
            for (int j = 0; j < D; j++) {
                tg_f32(g)[j] += (float)dg[j];
                full[j] += dg[j] / TOKENS;
                mb_mean[mb][j] += dg[j] / (bounds[mb + 1] - bounds[mb]);
            }
        }
        ck_assert_int_eq(tg_accum_add(&acc, bounds[mb + 1] - bounds[mb]), TG_OK);
    }
    ck_assert_int_eq(acc.tokens, TOKENS);
    ck_assert_int_eq(tg_accum_finish(&acc, ps), TG_OK);
    ck_assert_int_eq(acc.tokens, 0);
    float want[D], naive[D];
    for (int j = 0; j < D; j++) {
        want[j] = (float)full[j];
        naive[j] = (float)(0.5 * (mb_mean[0][j] + mb_mean[1][j]));
    }
    tg_assert_close_buf(g, want, D, 1e-6, 1e-5, "accumulated gradient");
    /* the average of micro-batch means weights the short batch too much */
    double diff = 0;
    for (int j = 0; j < D; j++) diff = fmax(diff, fabs(naive[j] - want[j]));
    ck_assert_double_gt(diff, 1e-2);

    tg_assert_error(tg_accum_finish(&acc, ps), TG_ERR_INVALID, "no target tokens in 0 micro-batches");
    tg_assert_error(tg_accum_add(&acc, -3), TG_ERR_INVALID, "tokens -3 must be >= 0");
    tg_assert_error(tg_grads_normalize(ps, 0), TG_ERR_INVALID, "total_tokens 0 must be >= 1");
    tg_param_set_destroy(ps);
    tg_tensor_free(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clip_scaler");
    TCase *tc = tcase_create("clip_scaler");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_clip_norm);
    tcase_add_test(tc, test_clip_norm_large);
    tcase_add_test(tc, test_clip_norm_nonfinite);
    tcase_add_test(tc, test_clip_value);
    tcase_add_test(tc, test_scaler_skip_and_backoff);
    tcase_add_test(tc, test_scaler_growth_and_limits);
    tcase_add_test(tc, test_accumulation_matches_full_batch);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
