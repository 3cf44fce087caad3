/* autograd/: tape recording, backward accumulation, graph release, grad mode,
 * detach, registration, gradcheck itself, memory stability over steps, and
 * fresh (unzeroed) gradients written by the ops that take them. */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/tg_test.h"

static tg_tensor *param(tg_shape s, uint64_t seed)
{
    tg_tensor *p = tg_randn(TG_PERSIST, s, TG_F32, seed, 0.0, 1.0);
    tg_tensor_set_requires_grad(p, true);
    return p;
}

START_TEST(test_backward_accumulates)
{
    tg_tensor *x = param(TG_SHAPE(3), 1);
    /* L = sum(x * x) -> dL/dx = 2x; twice -> 4x */
    for (int rep = 0; rep < 2; rep++) {
        tg_tensor *sq = tg_mul(x, x);
        tg_tensor *loss = tg_sum(sq, NULL, 0, false);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_step_end();
    }
    for (int i = 0; i < 3; i++) ck_assert_float_eq_tol(tg_f32(tg_tensor_grad(x))[i], 4 * tg_f32(x)[i], 1e-5);
    tg_zero_grad(x);
    ck_assert_float_eq(tg_f32(tg_tensor_grad(x))[0], 0.0f);
    tg_tensor_free(x);
}
END_TEST

START_TEST(test_backward_errors)
{
    tg_tensor *x = param(TG_SHAPE(2, 2), 2);
    tg_tensor *y = tg_mul(x, x);
    tg_assert_error(tg_backward(y), TG_ERR_SHAPE, "not a scalar");
    tg_tensor *loss = tg_sum(y, NULL, 0, false);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    tg_assert_error(tg_backward(loss), TG_ERR_STATE, "released");
    tg_tensor *c = tg_ones(TG_STEP, TG_SHAPE(2), TG_F32);
    tg_assert_error(tg_backward(tg_sum(c, NULL, 0, false)), TG_ERR_STATE, "does not require grad");
    tg_tensor *seed = tg_ones(TG_STEP, TG_SHAPE(3), TG_F32);
    tg_tensor *y2 = tg_mul(x, x);
    tg_assert_error(tg_backward_with(y2, &(tg_backward_opts){.seed = seed}), TG_ERR_SHAPE, "seed shape (3)");
    tg_tensor_free(x);
}
END_TEST

START_TEST(test_retain_graph_and_seed)
{
    tg_tensor *x = param(TG_SHAPE(4), 3);
    tg_tensor *y = tg_scale(x, 3.0);
    tg_tensor *seed = tg_full(TG_STEP, TG_SHAPE(4), TG_F32, 2.0);
    ck_assert_int_eq(tg_backward_with(y, &(tg_backward_opts){.seed = seed, .retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward_with(y, &(tg_backward_opts){.seed = seed}), TG_OK);
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(tg_f32(tg_tensor_grad(x))[i], 12.0f, 1e-6);
    tg_tensor_free(x);
}
END_TEST

START_TEST(test_no_grad_and_detach)
{
    tg_tensor *x = param(TG_SHAPE(5), 4);
    bool prev = tg_grad_set_enabled(false);
    tg_tensor *y = tg_exp(x);
    tg_grad_set_enabled(prev);
    ck_assert(!tg_tensor_requires_grad(y));
    ck_assert_uint_eq(tg_tape_size(), 0);
    tg_tensor *z = tg_exp(x);
    ck_assert(tg_tensor_requires_grad(z));
    ck_assert_uint_eq(tg_tape_size(), 1);
    tg_tensor *d = tg_detach(z);
    ck_assert(!tg_tensor_requires_grad(d));
    ck_assert_ptr_eq(tg_tensor_data(d), tg_tensor_data(z));
    tg_tensor *w = tg_mul(d, d); /* no input requires grad: not recorded */
    ck_assert(!tg_tensor_requires_grad(w));
    ck_assert_uint_eq(tg_tape_size(), 1);
    tg_tensor_free(x);
}
END_TEST

START_TEST(test_skips_unreached_nodes)
{
    tg_tensor *a = param(TG_SHAPE(3), 5), *b = param(TG_SHAPE(3), 6);
    tg_tensor *ua = tg_exp(a);
    tg_tensor *ub = tg_exp(b); /* recorded, but the loss does not use it */
    (void)ub;
    tg_tensor *loss = tg_sum(ua, NULL, 0, false);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    ck_assert_ptr_nonnull(tg_tensor_grad(a));
    ck_assert_ptr_null(tg_tensor_grad(b));
    tg_tensor_free(a);
    tg_tensor_free(b);
}
END_TEST

START_TEST(test_null_propagates)
{
    tg_tensor *a = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_F32), *b = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32);
    tg_tensor *bad = tg_add(a, b);
    ck_assert_ptr_null(bad);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tg_last_error());
    ck_assert_ptr_nonnull(strstr(msg, "(2, 3) and (4) do not broadcast"));
    ck_assert_ptr_null(tg_exp(tg_relu(bad)));
    ck_assert_str_eq(tg_last_error(), msg);
}
END_TEST

/* A user op outside the library: y = x^3, with its own backward. */
static tg_status cube_infer(const tg_tensor *const *in, int n, const void *attr, tg_shape *s, tg_dtype *dt)
{
    (void)n;
    (void)attr;
    *s = *tg_tensor_shape(in[0]);
    *dt = TG_F32;
    return TG_OK;
}
static tg_status cube_fwd(tg_op_ctx *c, const tg_tensor *const *in, int n, const void *attr, tg_tensor *out)
{
    (void)c;
    (void)n;
    (void)attr;
    for (int64_t i = 0; i < tg_tensor_numel(out); i++) tg_f32(out)[i] = powf(tg_f32(in[0])[i], 3);
    return TG_OK;
}
static tg_status cube_bwd(tg_op_ctx *c, const tg_tensor *dout, tg_tensor *const *din)
{
    const float *x = tg_f32(tg_op_input(c, 0));
    for (int64_t i = 0; i < tg_tensor_numel(dout); i++) tg_f32(din[0])[i] += tg_f32(dout)[i] * 3 * x[i] * x[i];
    return TG_OK;
}
static const tg_op cube_op = {
    .name = "test_cube", .n_in = 1, .infer = cube_infer, .forward = cube_fwd, .backward = cube_bwd};
static const tg_op cube_twin = {.name = "test_cube", .n_in = 1, .infer = cube_infer, .forward = cube_fwd};

static tg_tensor *cube_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    (void)u;
    return tg_apply(&cube_op, (const tg_tensor *const *)in, 1, NULL, 0);
}

/* A deliberately wrong backward: gradcheck must catch it. */
static tg_status wrong_bwd(tg_op_ctx *c, const tg_tensor *dout, tg_tensor *const *din)
{
    (void)c;
    for (int64_t i = 0; i < tg_tensor_numel(dout); i++) tg_f32(din[0])[i] += tg_f32(dout)[i];
    return TG_OK;
}
static const tg_op wrong_op = {
    .name = "test_wrong", .n_in = 1, .infer = cube_infer, .forward = cube_fwd, .backward = wrong_bwd};
static tg_tensor *wrong_fn(tg_tensor *const *in, int n, void *u)
{
    (void)n;
    (void)u;
    return tg_apply(&wrong_op, (const tg_tensor *const *)in, 1, NULL, 0);
}

/* ---- fresh gradients ---- */

/* An op that records tg_op_grad_fresh for each input and adds 1 · dout (or
 * writes it when fresh): y = a + b (+ c). */
static bool seen_fresh[3];
static tg_status sum_infer(const tg_tensor *const *in, int n, const void *attr, tg_shape *s, tg_dtype *dt)
{
    (void)n;
    (void)attr;
    *s = *tg_tensor_shape(in[0]);
    *dt = TG_F32;
    return TG_OK;
}
static tg_status sum_fwd(tg_op_ctx *c, const tg_tensor *const *in, int n, const void *attr, tg_tensor *out)
{
    (void)c;
    (void)attr;
    for (int64_t i = 0; i < tg_tensor_numel(out); i++) {
        tg_f32(out)[i] = 0;
        for (int k = 0; k < n; k++) tg_f32(out)[i] += tg_f32(in[k])[i];
    }
    return TG_OK;
}
static tg_status sum_bwd(tg_op_ctx *c, const tg_tensor *dout, tg_tensor *const *din)
{
    for (int k = 0; k < tg_op_n_in(c); k++) {
        seen_fresh[k] = tg_op_grad_fresh(c, k);
        if (!din[k]) continue;
        for (int64_t i = 0; i < tg_tensor_numel(dout); i++)
            tg_f32(din[k])[i] = (seen_fresh[k] ? 0.0f : tg_f32(din[k])[i]) + tg_f32(dout)[i];
    }
    return TG_OK;
}
static const tg_op fresh_sum_op = {.name = "test_fresh_sum",
                                   .n_in = -1,
                                   .flags = TG_OP_FRESH_GRADS,
                                   .infer = sum_infer,
                                   .forward = sum_fwd,
                                   .backward = sum_bwd};

START_TEST(test_fresh_grad_flags)
{
    ck_assert_int_eq(tg_op_register(&fresh_sum_op), TG_OK);
    tg_tensor *p = param(TG_SHAPE(4), 1);
    tg_tensor *a = tg_randn(TG_STEP, TG_SHAPE(4), TG_F32, 2, 0, 1);
    tg_tensor_set_requires_grad(a, true);
    /* a reaches two nodes: the later one (run first by backward) gets it
     * fresh, the earlier one adds; a parameter is never fresh; an input
     * passed twice is not fresh for either use */
    tg_tensor *u = tg_apply(&fresh_sum_op, (const tg_tensor *[]){a, p}, 2, NULL, 0);
    tg_tensor *h = tg_scale(a, 2.0);
    tg_tensor *v = tg_apply(&fresh_sum_op, (const tg_tensor *[]){a, h, h}, 3, NULL, 0);
    ck_assert_int_eq(tg_backward(tg_sum(tg_mul(u, v), NULL, 0, false)), TG_OK);
    /* the last node backward ran was u: a already had its gradient from v */
    ck_assert(!seen_fresh[0] && !seen_fresh[1]);
    for (int i = 0; i < 4; i++) {
        const float av = tg_f32(a)[i], pv = tg_f32(p)[i], uu = av + pv, vv = 5 * av;
        /* L = u v with v = a + 2·2a: dL/da = v + 5u, dL/dp = v */
        ck_assert_float_eq_tol(tg_f32(tg_tensor_grad(a))[i], vv + 5 * uu, 1e-4);
        ck_assert_float_eq_tol(tg_f32(tg_tensor_grad(p))[i], vv, 1e-4);
    }
    tg_step_end();
    /* v's backward alone: its first input fresh, the twice-passed h not */
    tg_tensor *a2 = tg_randn(TG_STEP, TG_SHAPE(4), TG_F32, 3, 0, 1);
    tg_tensor_set_requires_grad(a2, true);
    tg_tensor *h2 = tg_scale(a2, 2.0);
    tg_tensor *v2 = tg_apply(&fresh_sum_op, (const tg_tensor *[]){a2, h2, h2}, 3, NULL, 0);
    ck_assert_int_eq(tg_backward(tg_sum(v2, NULL, 0, false)), TG_OK);
    ck_assert(seen_fresh[0] && !seen_fresh[1] && !seen_fresh[2]);
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(tg_f32(tg_tensor_grad(a2))[i], 5.0f, 1e-6);
    tg_tensor_free(p);
}
END_TEST

/* The built-in ops that take fresh gradients write every element: a step
 * whose arena memory was filled with NaN gives the same gradients as the
 * first step on clean memory. */
static void fresh_graph(tg_tensor **grads, tg_tensor *const *w, bool keep)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(5, 3, 16), TG_F32, 7, 0, 1);
    tg_tensor *r = tg_randn(TG_STEP, TG_SHAPE(16), TG_F32, 8, 0, 1);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor_set_requires_grad(r, true);
    tg_tensor *r2 = tg_scale(r, 0.5); /* (16), broadcast into the last add */
    /* each op below is the last reader of at least one of its inputs, so
     * backward hands it that gradient fresh */
    tg_tensor *h = tg_layer_norm(tg_scale(x, 1.5), w[0], w[1], 1e-5);                    /* (5, 3, 16) */
    tg_tensor *f = tg_gelu(tg_linear(h, w[2], w[3]));                                    /* (5, 3, 24) */
    tg_tensor *g = tg_linear_with(f, w[4], NULL, &(tg_linear_opts){.compute = TG_BF16}); /* (5, 3, 16) */
    tg_tensor *y = tg_add(tg_add(tg_mul(g, tg_sub(x, r)), tg_div(h, tg_add_scalar(tg_exp(r), 1.0))), r2);
    ck_assert_int_eq(tg_backward(tg_sum(tg_mul(y, y), NULL, 0, false)), TG_OK);
    for (int i = 0; i < 2; i++) {
        const tg_tensor *gr = tg_tensor_grad(i ? r : x);
        grads[i] = keep ? tg_tensor_clone(TG_PERSIST, gr) : (tg_tensor *)gr;
    }
}

START_TEST(test_fresh_grads_written)
{
    tg_tensor *w[5] = {param(TG_SHAPE(16), 1), param(TG_SHAPE(16), 2), param(TG_SHAPE(24, 16), 3),
                       param(TG_SHAPE(24), 4), param(TG_SHAPE(16, 24), 5)};
    tg_tensor *clean[2], *poisoned[2];
    fresh_graph(clean, w, true);
    tg_step_end();
    tg_tensor *nan = tg_full(TG_STEP, TG_SHAPE(1 << 18), TG_F32, NAN);
    ck_assert_ptr_nonnull(nan);
    tg_step_end();
    fresh_graph(poisoned, w, false);
    for (int i = 0; i < 2; i++) {
        for (int64_t j = 0; j < tg_tensor_numel(poisoned[i]); j++)
            ck_assert_msg(isfinite(tg_f32(poisoned[i])[j]), "gradient %d element %lld is %g", i, (long long)j,
                          tg_f32(poisoned[i])[j]);
        tg_assert_close(poisoned[i], clean[i], 0, 0, "gradient after a poisoned arena");
        tg_tensor_free(clean[i]);
    }
    for (int i = 0; i < 5; i++) tg_tensor_free(w[i]);
}
END_TEST

START_TEST(test_registration_and_gradcheck)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(7), TG_F32, 9, 0.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    ck_assert_ptr_null(cube_fn(&x, 1, NULL));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'test_cube' is not registered"));
    ck_assert_int_eq(tg_op_register(&cube_op), TG_OK);
    ck_assert_int_eq(tg_op_register(&cube_op), TG_OK);
    tg_assert_error(tg_op_register(&cube_twin), TG_ERR_STATE, "already named 'test_cube'");
    ck_assert_ptr_eq(tg_op_find("test_cube"), &cube_op);
    ck_assert_ptr_nonnull(tg_op_find("gelu_tanh"));
    tg_assert_gradcheck(cube_fn, &x, 1, NULL, NULL, "cube");

    ck_assert_int_eq(tg_op_register(&wrong_op), TG_OK);
    tg_gradcheck_report rep;
    tg_assert_error(tg_gradcheck(wrong_fn, &x, 1, NULL, NULL, &rep), TG_ERR_NUMERIC, "analytic");
    ck_assert_int_ge(rep.worst_index, 0);
    ck_assert_double_gt(rep.max_abs_err, 0.01);
}
END_TEST

START_TEST(test_gradcheck_large_input_sampled)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(40, 50), TG_F32, 11, 0.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    tg_op_register(&cube_op);
    tg_gradcheck_opts o = {.max_elems = 30, .directions = 3};
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(cube_fn, &x, 1, NULL, &o, &rep), TG_OK);
    ck_assert_int_eq(rep.checked, 33);
}
END_TEST

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * 4;
}

START_TEST(test_memory_stable_over_1000_steps)
{
    tg_tensor *w = param(TG_SHAPE(64, 64), 12);
    tg_tensor *x = tg_randn(TG_PERSIST, TG_SHAPE(32, 64), TG_F32, 13, 0.0, 1.0);
    long after_warmup = 0;
    size_t cap_warm = 0, heap_warm = 0;
    for (int step = 0; step < 1000; step++) {
        tg_tensor *h = tg_gelu(tg_mul(x, tg_sum(w, (int[]){0}, 1, true)));
        tg_tensor *loss = tg_mean(tg_mul(h, h), NULL, 0, false);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_zero_grad(w);
        tg_step_end();
        if (step == 10) {
            after_warmup = rss_kb();
            cap_warm = tg_arena_capacity(tg_ctx_arena(tg_ctx_current()));
            heap_warm = mallinfo2().uordblks;
        }
    }
    ck_assert_uint_eq(tg_arena_capacity(tg_ctx_arena(tg_ctx_current())), cap_warm);
#ifndef __SANITIZE_ADDRESS__
    /* ASan's shadow memory and allocator make RSS and mallinfo meaningless there */
    ck_assert_uint_eq(mallinfo2().uordblks, heap_warm); /* no heap allocation per step */
    ck_assert_int_le(rss_kb() - after_warmup, 512);     /* KiB: resident memory flat */
#else
    (void)heap_warm;
    (void)after_warmup;
#endif
    tg_tensor_free(w);
    tg_tensor_free(x);
}
END_TEST

START_TEST(test_profile_table)
{
    tg_profile_reset();
    tg_profile_enable(true);
    tg_tensor *x = param(TG_SHAPE(8), 14);
    ck_assert_int_eq(tg_backward(tg_sum(tg_tanh(x), NULL, 0, false)), TG_OK);
    tg_profile_enable(false);
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    tg_profile_print(f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "tanh"));
    ck_assert_ptr_nonnull(strstr(buf, "bwd_ms"));
    tg_tensor_free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("autograd");
    TCase *tc = tcase_create("tape");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_backward_errors);
    tcase_add_test(tc, test_retain_graph_and_seed);
    tcase_add_test(tc, test_no_grad_and_detach);
    tcase_add_test(tc, test_skips_unreached_nodes);
    tcase_add_test(tc, test_null_propagates);
    tcase_add_test(tc, test_registration_and_gradcheck);
    tcase_add_test(tc, test_gradcheck_large_input_sampled);
    tcase_add_test(tc, test_memory_stable_over_1000_steps);
    tcase_add_test(tc, test_profile_table);
    tcase_add_test(tc, test_fresh_grad_flags);
    tcase_add_test(tc, test_fresh_grads_written);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
