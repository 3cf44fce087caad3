/* optim/: SGD, Adam and AdamW against torch.optim trajectories, the textbook
 * uncorrected Adam against a hand-written double reference, parameter groups,
 * missing gradients, state for checkpoints, and hyper-parameter errors. */
#include <math.h>
#include <string.h>

#include "optim/optim.h"
#include "optim/param.h"
#include "tests/tg_test.h"

#define N_PARAMS 3

static const char *const fixture_cases[] = {
    "sgd_plain",        "sgd_momentum",      "sgd_dampening", "sgd_nesterov",
    "sgd_weight_decay", "sgd_groups",        "adam",          "adam_weight_decay",
    "adam_betas",       "adam_missing_grad", "adamw",         "adamw_strong_decay",
    "adamw_groups",
};
#define N_FIXTURE_CASES ((int)(sizeof fixture_cases / sizeof fixture_cases[0]))

static double opt_num(const json_t *opts, const char *key, double dflt)
{
    const json_t *v = json_object_get(opts, key);
    return v ? json_number_value(v) : dflt;
}

static tg_optim *optim_from_fixture(const json_t *c, tg_param_set *ps)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    const json_t *o = json_object_get(c, "opts");
    if (!strcmp(kind, "sgd")) {
        tg_sgd_opts so = {.momentum = opt_num(o, "momentum", 0),
                          .dampening = opt_num(o, "dampening", 0),
                          .weight_decay = opt_num(o, "weight_decay", 0),
                          .nesterov = json_is_true(json_object_get(o, "nesterov"))};
        return tg_sgd_create(ps, &so);
    }
    tg_adam_opts ao = {opt_num(o, "beta1", 0), opt_num(o, "beta2", 0), opt_num(o, "eps", 0),
                       opt_num(o, "weight_decay", 0), false};
    return !strcmp(kind, "adam") ? tg_adam_create(ps, &ao) : tg_adamw_create(ps, &ao);
}

START_TEST(test_fixture_trajectory)
{
    const char *name = fixture_cases[_i];
    json_t *all = tg_fixture_load("optim");
    const json_t *c = json_object_get(all, name);
    ck_assert_msg(c != NULL, "case %s missing from optim.json", name);

    tg_param_set *ps = tg_param_set_create();
    const json_t *mults = json_object_get(c, "group_mults");
    for (int g = 0; g < (int)json_array_size(mults); g++) {
        const json_t *m = json_array_get(mults, (size_t)g);
        tg_param_group grp = {json_number_value(json_array_get(m, 0)), json_number_value(json_array_get(m, 1))};
        ck_assert_int_eq(tg_param_set_group(ps, g, grp), TG_OK);
    }
    tg_tensor *p[N_PARAMS];
    for (int i = 0; i < N_PARAMS; i++) {
        const json_t *init = json_array_get(json_object_get(c, "inputs"), (size_t)i);
        p[i] = tg_tensor_clone(TG_PERSIST, tg_fixture_tensor(init));
        int g = (int)json_integer_value(json_array_get(json_object_get(c, "groups"), (size_t)i));
        ck_assert_int_eq(tg_param_set_add(ps, NULL, p[i], g, NULL), TG_OK);
    }
    tg_optim *opt = optim_from_fixture(c, ps);
    ck_assert_msg(opt != NULL, "%s: %s", name, tg_last_error());

    const json_t *lrs = json_object_get(c, "lrs"), *grads = json_object_get(c, "grads");
    const json_t *traj = json_object_get(c, "trajectory");
    for (int k = 0; k < (int)json_array_size(lrs); k++) {
        for (int i = 0; i < N_PARAMS; i++) {
            const json_t *g = json_array_get(json_array_get(grads, (size_t)k), (size_t)i);
            if (json_is_null(g)) {
                ck_assert_ptr_null(tg_tensor_grad(p[i])); /* only before the first gradient */
                continue;
            }
            ck_assert_int_eq(tg_copy(tg_tensor_grad_or_zeros(p[i]), tg_fixture_tensor(g)), TG_OK);
        }
        ck_assert_int_eq(tg_optim_step(opt, json_number_value(json_array_get(lrs, (size_t)k))), TG_OK);
        for (int i = 0; i < N_PARAMS; i++) {
            char what[96];
            snprintf(what, sizeof what, "%s step %d param %d", name, k + 1, i);
            tg_assert_close(p[i], tg_fixture_tensor(json_array_get(json_array_get(traj, (size_t)k), (size_t)i)), 1e-7,
                            1e-6, what);
        }
    }
    ck_assert_int_eq(tg_optim_step_count(opt), json_array_size(lrs));
    tg_optim_destroy(opt);
    tg_param_set_destroy(ps);
    for (int i = 0; i < N_PARAMS; i++) tg_tensor_free(p[i]);
    json_decref(all);
}
END_TEST

/* Uncorrected Adam, written out in double from the textbook rule. */
START_TEST(test_adam_textbook)
{
    enum { N = 5, STEPS = 6 };
    const double b1 = 0.8, b2 = 0.95, eps = 1e-6, lr = 0.01;
    double w[N] = {0.5, -1.25, 2.0, 0.0, 3.5}, m[N] = {0}, v[N] = {0};
    float w0[N];
    for (int j = 0; j < N; j++) w0[j] = (float)w[j];
    tg_tensor *p = tg_from_buffer(TG_PERSIST, TG_SHAPE(N), TG_F32, w0);
    tg_param_set *ps = tg_param_set_create();
    ck_assert_int_eq(tg_param_set_add(ps, "w", p, 0, NULL), TG_OK);
    tg_adam_opts o = {b1, b2, eps, 0.0, true};
    tg_optim *opt = tg_adam_create(ps, &o);
    ck_assert_ptr_nonnull(opt);
    for (int t = 1; t <= STEPS; t++) {
        float g[N];
        for (int j = 0; j < N; j++) g[j] = (float)(0.3 * sin(1.7 * t + j) - 0.1 * j);
        ck_assert_int_eq(tg_copy_from(tg_tensor_grad_or_zeros(p), g, sizeof g), TG_OK);
        ck_assert_int_eq(tg_optim_step(opt, lr), TG_OK);
        float want[N];
        for (int j = 0; j < N; j++) {
            m[j] = b1 * m[j] + (1 - b1) * g[j];
            v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
            w[j] -= lr * m[j] / (sqrt(v[j]) + eps);
            want[j] = (float)w[j];
        }
        tg_assert_close_buf(p, want, N, 1e-7, 1e-6, "textbook adam");
    }
    /* the first uncorrected step is lr * (1-b1) g / ((sqrt(1-b2) |g|) + eps), far
     * smaller than the corrected lr * sign(g): check the flag really changes it */
    ck_assert_double_lt(fabs(w[0] - 0.5), STEPS * lr);
    ck_assert_int_eq(tg_optim_param_steps(opt, 0), STEPS);
    tg_optim_destroy(opt);
    tg_param_set_destroy(ps);
    tg_tensor_free(p);
}
END_TEST

/* Group 1 has weight-decay multiplier 0: with zero gradients its parameter
 * does not move while group 0 decays by exactly (1 - lr*wd) per step. */
START_TEST(test_groups_no_weight_decay)
{
    tg_tensor *a = tg_full(TG_PERSIST, TG_SHAPE(4), TG_F32, 2.0);
    tg_tensor *b = tg_full(TG_PERSIST, TG_SHAPE(3), TG_F32, 2.0);
    tg_param_set *ps = tg_param_set_create();
    ck_assert_int_eq(tg_param_set_add(ps, "w", a, 0, NULL), TG_OK);
    ck_assert_int_eq(tg_param_set_add(ps, "norm.bias", b, 1, NULL), TG_OK);
    ck_assert_int_eq(tg_param_set_group(ps, 1, (tg_param_group){1.0, 0.0}), TG_OK);
    tg_tensor_grad_or_zeros(a);
    tg_tensor_grad_or_zeros(b);
    const double lr = 0.1, wd = 0.5;
    tg_sgd_opts so = {.weight_decay = wd};
    tg_adam_opts ao = tg_adamw_default_opts();
    ao.weight_decay = wd;
    tg_optim *opts[2] = {tg_sgd_create(ps, &so), tg_adamw_create(ps, &ao)};
    for (int o = 0; o < 2; o++) {
        ck_assert_int_eq(tg_fill(a, 2.0), TG_OK);
        ck_assert_int_eq(tg_fill(b, 2.0), TG_OK);
        for (int k = 0; k < 3; k++) ck_assert_int_eq(tg_optim_step(opts[o], lr), TG_OK);
        float want_a = 2.0f;
        for (int k = 0; k < 3; k++) want_a = want_a * (float)(1.0 - lr * wd);
        for (int j = 0; j < 4; j++) ck_assert_float_eq_tol(tg_f32(a)[j], want_a, 1e-6);
        for (int j = 0; j < 3; j++) ck_assert_float_eq(tg_f32(b)[j], 2.0f);
        tg_optim_destroy(opts[o]);
    }
    tg_param_set_destroy(ps);
    tg_tensor_free(a);
    tg_tensor_free(b);
}
END_TEST

/* Saving the state after 4 steps into a fresh optimizer continues the run
 * bit for bit. */
START_TEST(test_state_restore)
{
    tg_tensor *p1 = tg_randn(TG_PERSIST, TG_SHAPE(37), TG_F32, 3, 0, 1);
    tg_tensor *p2 = tg_tensor_clone(TG_PERSIST, p1);
    tg_param_set *s1 = tg_param_set_create(), *s2 = tg_param_set_create();
    ck_assert_int_eq(tg_param_set_add(s1, "w", p1, 0, NULL), TG_OK);
    ck_assert_int_eq(tg_param_set_add(s2, "w", p2, 0, NULL), TG_OK);
    tg_optim *o1 = tg_adamw_create(s1, NULL), *o2 = tg_adamw_create(s2, NULL);
    ck_assert_int_eq(tg_optim_num_states(o1), 2);
    ck_assert_str_eq(tg_optim_state_name(o1, 0), "exp_avg");
    ck_assert_str_eq(tg_optim_state_name(o1, 1), "exp_avg_sq");
    ck_assert_int_eq(tg_tensor_lifetime(tg_optim_state(o1, 0, 1)), TG_PERSIST);
    for (int k = 0; k < 8; k++) {
        ck_assert_int_eq(tg_fill_randn(tg_tensor_grad_or_zeros(p1), 100 + k, 0, 1), TG_OK);
        ck_assert_int_eq(tg_copy(tg_tensor_grad_or_zeros(p2), tg_tensor_grad(p1)), TG_OK);
        if (k == 4) { /* "checkpoint": o2 restarts from o1's state */
            tg_optim_destroy(o2);
            o2 = tg_adamw_create(s2, NULL);
            ck_assert_int_eq(tg_copy(p2, p1), TG_OK);
            for (int s = 0; s < 2; s++)
                ck_assert_int_eq(tg_copy(tg_optim_state(o2, 0, s), tg_optim_state(o1, 0, s)), TG_OK);
            ck_assert_int_eq(tg_optim_set_param_steps(o2, 0, tg_optim_param_steps(o1, 0)), TG_OK);
            ck_assert_int_eq(tg_optim_set_step_count(o2, tg_optim_step_count(o1)), TG_OK);
        }
        ck_assert_int_eq(tg_optim_step(o1, 1e-2), TG_OK);
        ck_assert_int_eq(tg_optim_step(o2, 1e-2), TG_OK);
    }
    ck_assert_int_eq(memcmp(tg_f32(p1), tg_f32(p2), tg_tensor_nbytes(p1)), 0);
    ck_assert_int_eq(tg_optim_step_count(o2), 8);
    ck_assert_ptr_null(tg_optim_state(o1, 1, 0));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "no state slot 0 for parameter 1"));
    tg_optim_destroy(o1);
    tg_optim_destroy(o2);
    tg_param_set_destroy(s1);
    tg_param_set_destroy(s2);
    tg_tensor_free(p1);
    tg_tensor_free(p2);
}
END_TEST

/* Plain SGD has no state; a parameter without a gradient is left alone. */
START_TEST(test_sgd_skips_missing_grad)
{
    tg_tensor *a = tg_full(TG_PERSIST, TG_SHAPE(2), TG_F32, 1.0);
    tg_tensor *b = tg_full(TG_PERSIST, TG_SHAPE(2), TG_F32, 1.0);
    tg_param_set *ps = tg_param_set_create();
    ck_assert_int_eq(tg_param_set_add(ps, NULL, a, 0, NULL), TG_OK);
    ck_assert_int_eq(tg_param_set_add(ps, NULL, b, 0, NULL), TG_OK);
    ck_assert_str_eq(tg_param_set_name(ps, 1), "param.1");
    tg_optim *opt = tg_sgd_create(ps, NULL);
    ck_assert_int_eq(tg_optim_num_states(opt), 0);
    ck_assert_int_eq(tg_fill(tg_tensor_grad_or_zeros(a), 2.0), TG_OK);
    ck_assert_int_eq(tg_optim_step(opt, 0.25), TG_OK);
    ck_assert_float_eq(tg_f32(a)[1], 0.5f);
    ck_assert_float_eq(tg_f32(b)[1], 1.0f);
    ck_assert_int_eq(tg_optim_param_steps(opt, 0), 1);
    ck_assert_int_eq(tg_optim_param_steps(opt, 1), 0);
    ck_assert_int_eq(tg_param_set_zero_grad(ps), TG_OK);
    ck_assert_float_eq(tg_f32(tg_tensor_grad(a))[0], 0.0f);
    ck_assert_ptr_null(tg_tensor_grad(b));
    tg_optim_destroy(opt);
    tg_param_set_destroy(ps);
    tg_tensor_free(a);
    tg_tensor_free(b);
}
END_TEST

/* A parameter large enough for the threaded kernels gives, element for
 * element, what small single-thread parameters holding a slice give. */
START_TEST(test_large_matches_small)
{
    enum { BIG = 50003, SMALL = 7, STEPS = 3 };
    const int64_t offsets[] = {0, 30011, BIG - SMALL};
    for (int kind = 0; kind < 3; kind++) {
        tg_tensor *big = tg_randn(TG_PERSIST, TG_SHAPE(BIG), TG_F32, 5, 0, 1);
        tg_tensor *small[3];
        tg_param_set *pb = tg_param_set_create(), *psm = tg_param_set_create();
        ck_assert_int_eq(tg_param_set_add(pb, "big", big, 0, NULL), TG_OK);
        for (int s = 0; s < 3; s++) {
            small[s] = tg_from_buffer(TG_PERSIST, TG_SHAPE(SMALL), TG_F32, tg_f32(big) + offsets[s]);
            ck_assert_int_eq(tg_param_set_add(psm, NULL, small[s], 0, NULL), TG_OK);
        }
        tg_sgd_opts so = {.momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
        tg_adam_opts ao = tg_adamw_default_opts();
        tg_optim *ob = kind == 0   ? tg_sgd_create(pb, &so)
                       : kind == 1 ? tg_adam_create(pb, NULL)
                                   : tg_adamw_create(pb, &ao);
        tg_optim *os = kind == 0   ? tg_sgd_create(psm, &so)
                       : kind == 1 ? tg_adam_create(psm, NULL)
                                   : tg_adamw_create(psm, &ao);
        for (int k = 0; k < STEPS; k++) {
            tg_tensor *gb = tg_tensor_grad_or_zeros(big);
            ck_assert_int_eq(tg_fill_randn(gb, 50 + k, 0, 1), TG_OK);
            for (int s = 0; s < 3; s++)
                ck_assert_int_eq(
                    tg_copy_from(tg_tensor_grad_or_zeros(small[s]), tg_f32(gb) + offsets[s], SMALL * sizeof(float)),
                    TG_OK);
            ck_assert_int_eq(tg_optim_step(ob, 1e-2), TG_OK);
            ck_assert_int_eq(tg_optim_step(os, 1e-2), TG_OK);
        }
        for (int s = 0; s < 3; s++)
            ck_assert_int_eq(memcmp(tg_f32(small[s]), tg_f32(big) + offsets[s], SMALL * sizeof(float)), 0);
        tg_optim_destroy(ob);
        tg_optim_destroy(os);
        tg_param_set_destroy(pb);
        tg_param_set_destroy(psm);
        tg_tensor_free(big);
        for (int s = 0; s < 3; s++) tg_tensor_free(small[s]);
    }
}
END_TEST

START_TEST(test_bad_hyperparameters)
{
    tg_tensor *p = tg_zeros(TG_PERSIST, TG_SHAPE(2), TG_F32);
    tg_param_set *ps = tg_param_set_create();
    ck_assert_int_eq(tg_param_set_add(ps, "w", p, 0, NULL), TG_OK);

    tg_sgd_opts s = {.momentum = -0.1};
    ck_assert_ptr_null(tg_sgd_create(ps, &s));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "momentum -0.1"));
    s = (tg_sgd_opts){.nesterov = true};
    ck_assert_ptr_null(tg_sgd_create(ps, &s));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "nesterov needs momentum > 0"));
    s = (tg_sgd_opts){.momentum = 0.9, .dampening = 0.1, .nesterov = true};
    ck_assert_ptr_null(tg_sgd_create(ps, &s));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "nesterov needs dampening 0 (dampening 0.1)"));
    s = (tg_sgd_opts){.weight_decay = -1};
    ck_assert_ptr_null(tg_sgd_create(ps, &s));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "weight_decay -1"));

    tg_adam_opts a = tg_adam_default_opts();
    a.beta1 = 1.0;
    ck_assert_ptr_null(tg_adam_create(ps, &a));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "beta1 1 must be in [0, 1)"));
    a = tg_adam_default_opts();
    a.beta2 = -0.5;
    ck_assert_ptr_null(tg_adamw_create(ps, &a));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "tg_adamw_create: beta2 -0.5"));
    a = tg_adam_default_opts();
    a.eps = 0;
    ck_assert_ptr_null(tg_adam_create(ps, &a));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "eps 0 must be finite and > 0"));

    tg_optim *opt = tg_adam_create(ps, NULL);
    tg_assert_error(tg_optim_step(opt, -1e-3), TG_ERR_INVALID, "lr -0.001 must be finite and >= 0");
    tg_assert_error(tg_optim_step(opt, NAN), TG_ERR_INVALID, "lr nan");
    tg_assert_error(tg_optim_set_param_steps(opt, 3, 1), TG_ERR_INVALID, "parameter index 3 outside [0, 1)");

    tg_assert_error(tg_param_set_add(ps, "w2", p, 0, NULL), TG_ERR_INVALID, "already added as 'w'");
    tg_tensor *q = tg_zeros(TG_PERSIST, TG_SHAPE(2), TG_F32);
    tg_assert_error(tg_param_set_add(ps, "q", q, 16, NULL), TG_ERR_INVALID, "group 16 outside [0, 16)");
    ck_assert_int_eq(tg_param_set_add(ps, "q", q, 1, NULL), TG_OK);
    tg_assert_error(tg_optim_step(opt, 1e-3), TG_ERR_STATE, "had 1 parameters at creation, now 2");
    tg_optim_destroy(opt);
    tg_tensor *idx = tg_zeros(TG_STEP, TG_SHAPE(2), TG_S32);
    tg_assert_error(tg_param_set_add(ps, "idx", idx, 0, NULL), TG_ERR_DTYPE, "'idx' is s32");
    tg_assert_error(tg_param_set_group(ps, 1, (tg_param_group){-1, 0}), TG_ERR_INVALID, "lr_mult -1 of group 1");
    tg_param_set_destroy(ps);
    tg_tensor_free(p);
    tg_tensor_free(q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_loop_test(tc, test_fixture_trajectory, 0, N_FIXTURE_CASES);
    tcase_add_test(tc, test_adam_textbook);
    tcase_add_test(tc, test_groups_no_weight_decay);
    tcase_add_test(tc, test_state_restore);
    tcase_add_test(tc, test_sgd_skips_missing_grad);
    tcase_add_test(tc, test_large_matches_small);
    tcase_add_test(tc, test_bad_hyperparameters);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
