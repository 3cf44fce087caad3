/* optim/optim.c, tg_optim_step_clipped: global-norm clipping fused into the
 * update gives bit for bit what tg_clip_grad_norm + tg_optim_step give
 * (AdamW and SGD with momentum, clipping active or not), leaves the
 * gradients unclipped, and on inf/NaN changes nothing. */
#include <math.h>
#include <string.h>

#include "tests/tg_test.h"

enum { NP = 3 };
static const int64_t sizes[NP] = {5, 70000, 33}; /* one above the OpenMP threshold */

/* Fresh random gradients of scale gscale (seeded by `seed`) for every
 * parameter of ps. */
static void fill_grads(tg_param_set *ps, double gscale, uint64_t seed)
{
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        tg_tensor *g = tg_tensor_grad_or_zeros(tg_param_set_value(ps, i));
        tg_tensor *r = tg_randn(TG_STEP, TG_SHAPE(sizes[i]), TG_F32, seed + (uint64_t)i, 0, gscale);
        memcpy(tg_f32(g), tg_f32(r), sizeof(float) * (size_t)sizes[i]);
    }
}

/* A parameter set with NP random parameters (weights decayed except the
 * last) and gradients of scale gscale. */
static tg_param_set *make_set(double gscale)
{
    tg_param_set *ps = tg_param_set_create();
    ck_assert_ptr_nonnull(ps);
    for (int i = 0; i < NP; i++) {
        char name[8];
        snprintf(name, sizeof name, "p%d", i);
        tg_tensor *p = tg_randn(TG_PERSIST, TG_SHAPE(sizes[i]), TG_F32, 10 + (uint64_t)i, 0, 1);
        int idx;
        ck_assert_int_eq(tg_param_set_add(ps, name, p, i == NP - 1 ? TG_GROUP_NO_DECAY : TG_GROUP_DECAY, &idx), TG_OK);
        tg_tensor_set_requires_grad(p, true);
    }
    fill_grads(ps, gscale, 20);
    return ps;
}

static void free_set(tg_param_set *ps)
{
    for (int i = 0; i < tg_param_set_count(ps); i++) tg_tensor_free(tg_param_set_value(ps, i));
    tg_param_set_destroy(ps);
}

static tg_optim *make_opt(tg_param_set *ps, bool adamw)
{
    if (adamw) return tg_adamw_create(ps, NULL);
    tg_sgd_opts o = {.momentum = 0.9, .weight_decay = 0.01};
    return tg_sgd_create(ps, &o);
}

/* _i: bit 0 AdamW vs SGD, bit 1 clipping active (large gradients) or not */
START_TEST(test_matches_clip_then_step)
{
    const bool adamw = _i & 1, clip = _i & 2;
    const double gscale = clip ? 3.0 : 1e-4, max_norm = 1.0;
    tg_param_set *a = make_set(gscale), *b = make_set(gscale);
    tg_optim *oa = make_opt(a, adamw), *ob = make_opt(b, adamw);
    for (int step = 0; step < 3; step++) {
        /* new gradients each step (clipping rewrote a's in place) */
        fill_grads(a, gscale, 40 + 10 * (uint64_t)step);
        fill_grads(b, gscale, 40 + 10 * (uint64_t)step);
        double na, nb;
        ck_assert_int_eq(tg_clip_grad_norm(a, max_norm, &na), TG_OK);
        ck_assert_int_eq(tg_optim_step(oa, 1e-2), TG_OK);
        ck_assert_int_eq(tg_optim_step_clipped(ob, 1e-2, max_norm, &nb), TG_OK);
        ck_assert_double_eq(na, nb);
        ck_assert(clip ? nb > max_norm : nb < max_norm);
        for (int i = 0; i < NP; i++) {
            tg_assert_close(tg_param_set_value(b, i), tg_param_set_value(a, i), 0, 0, "fused step");
            if (!clip) tg_assert_close(tg_param_set_grad(b, i), tg_param_set_grad(a, i), 0, 0, "grads");
        }
    }
    /* the fused step read the gradients without rewriting them */
    double n;
    ck_assert_int_eq(tg_grad_global_norm(b, &n), TG_OK);
    ck_assert(clip ? n > max_norm : n < max_norm);
    ck_assert_int_eq(tg_optim_step_count(ob), 3);
    tg_optim_destroy(oa);
    tg_optim_destroy(ob);
    free_set(a);
    free_set(b);
}
END_TEST

START_TEST(test_nan_changes_nothing)
{
    tg_param_set *ps = make_set(1.0);
    tg_optim *opt = make_opt(ps, true);
    tg_f32(tg_param_set_grad(ps, 1))[123] = NAN;
    tg_tensor *before = tg_tensor_to(TG_STEP, tg_param_set_value(ps, 0), TG_F32);
    double n = 0;
    tg_assert_error(tg_optim_step_clipped(opt, 1e-2, 1.0, &n), TG_ERR_NUMERIC, "parameter 'p1' has inf/NaN");
    ck_assert(isnan(n));
    tg_assert_close(tg_param_set_value(ps, 0), before, 0, 0, "untouched");
    ck_assert_int_eq(tg_optim_step_count(opt), 0);
    tg_assert_error(tg_optim_step_clipped(opt, 1e-2, 0.0, NULL), TG_ERR_INVALID, "max_norm 0");
    tg_optim_destroy(opt);
    free_set(ps);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fused_step");
    TCase *tc = tcase_create("fused_step");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_loop_test(tc, test_matches_clip_then_step, 0, 4);
    tcase_add_test(tc, test_nan_changes_nothing);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
