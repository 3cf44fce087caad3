/* The fused feed-forward op tg_mlp_gelu: the same values and gradients as
 * tg_linear_with + tg_gelu_with + tg_linear_with in f32, and in bf16 to within
 * the rounding of its bf16 intermediates (GELU's input and its gradient,
 * which the unfused ops keep in f32), a gradcheck of every input, biases
 * optional, gradients written whole when they come fresh, accumulation
 * into existing gradients, and its error messages. */
#include <math.h>

#include "tests/tg_test.h"

enum { D = 12, H = 40, O = 9 };
/* Largest error of bf16 results relative to their scale: 2.5 bf16 steps. */
#define BF16_TOL 0.01

static tg_tensor *leaf(tg_shape s, uint64_t seed, double sd)
{
    tg_tensor *t = tg_randn(TG_STEP, s, TG_F32, seed, 0, sd);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

/* x (2, 5, D), w1 (H, D), b1 (H), w2 (O, H), b2 (O) */
static void make_inputs(tg_tensor **in, uint64_t seed)
{
    in[0] = leaf(TG_SHAPE(2, 5, D), seed, 1.0);
    in[1] = leaf(TG_SHAPE(H, D), seed + 1, 0.4);
    in[2] = leaf(TG_SHAPE(H), seed + 2, 0.5);
    in[3] = leaf(TG_SHAPE(O, H), seed + 3, 0.3);
    in[4] = leaf(TG_SHAPE(O), seed + 4, 0.5);
}

static tg_tensor *unfused(tg_tensor *const *in, bool biases, tg_dtype dt)
{
    const tg_linear_opts lo = {.compute = dt};
    tg_tensor *h = tg_gelu_with(tg_linear_with(in[0], in[1], biases ? in[2] : NULL, &lo), &(tg_gelu_opts){.out = dt});
    return tg_linear_with(h, in[3], biases ? in[4] : NULL, &lo);
}

static tg_tensor *fused(tg_tensor *const *in, bool biases, tg_dtype dt)
{
    return tg_mlp_gelu(in[0], in[1], biases ? in[2] : NULL, in[3], biases ? in[4] : NULL, dt);
}

/* Output and the five gradients of sum(y ∘ seed), fused against unfused in f32. */
static void compare_f32(bool biases)
{
    const tg_dtype dt = TG_F32;
    const double tol = 1e-5;
    tg_tensor *a[5], *b[5];
    make_inputs(a, 10);
    make_inputs(b, 10);
    tg_tensor *ya = fused(a, biases, dt), *yb = unfused(b, biases, dt);
    ck_assert_msg(ya && yb, "%s", tg_last_error());
    tg_assert_close(ya, yb, tol, tol, "output");
    tg_tensor *seed = tg_randn(TG_STEP, *tg_tensor_shape(ya), TG_F32, 20, 0, 1);
    ck_assert_int_eq(tg_backward_with(ya, &(tg_backward_opts){.seed = seed, .retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward_with(yb, &(tg_backward_opts){.seed = seed}), TG_OK);
    const char *names[5] = {"dx", "dw1", "db1", "dw2", "db2"};
    for (int i = 0; i < 5; i++) {
        const bool has = biases || (i != 2 && i != 4);
        ck_assert(has == (tg_tensor_grad(a[i]) != NULL));
        if (has) tg_assert_close(tg_tensor_grad(a[i]), tg_tensor_grad(b[i]), tol, tol, names[i]);
    }
}

START_TEST(test_matches_unfused_f32)
{
    compare_f32(true);
    compare_f32(false);
}
END_TEST

/* max |got - want| / max |want|: an error relative to the tensor's scale
 * (elementwise relative errors blow up where sums cancel). */
static double scaled_err(const tg_tensor *got, const tg_tensor *want)
{
    double e = 0, m = 0;
    for (int64_t i = 0; i < tg_tensor_numel(want); i++) {
        e = fmax(e, fabs(tg_tensor_get(got, i) - tg_tensor_get(want, i)));
        m = fmax(m, fabs(tg_tensor_get(want, i)));
    }
    return e / m;
}

/* bf16 against the f32 reference: the output and the five gradients of
 * sum(y ∘ seed), fused and unfused. The fused op rounds two more values (u
 * and dy · w2, relative 2^-9 each) on top of the products' operands, so its
 * errors may be somewhat larger than the unfused ops', never of another
 * order, and stay within a few bf16 steps of the values. */
START_TEST(test_matches_unfused_bf16)
{
    for (int biases = 0; biases < 2; biases++) {
        tg_tensor *a[5], *b[5], *r[5];
        make_inputs(a, 10);
        make_inputs(b, 10);
        make_inputs(r, 10);
        tg_tensor *y[3] = {fused(a, biases, TG_BF16), unfused(b, biases, TG_BF16), unfused(r, biases, TG_F32)};
        tg_tensor *seed = tg_randn(TG_STEP, *tg_tensor_shape(y[0]), TG_F32, 20, 0, 1);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(tg_backward_with(y[i], &(tg_backward_opts){.seed = seed, .retain_graph = true}), TG_OK);
        const char *names[6] = {"y", "dx", "dw1", "db1", "dw2", "db2"};
        for (int i = 0; i < 6; i++) {
            if (!biases && (i == 3 || i == 5)) continue;
            const tg_tensor *f = i ? tg_tensor_grad(a[i - 1]) : y[0], *u = i ? tg_tensor_grad(b[i - 1]) : y[1],
                            *want = i ? tg_tensor_grad(r[i - 1]) : y[2];
            const double ef = scaled_err(f, want), eu = scaled_err(u, want);
            ck_assert_msg(ef <= 2 * eu + 2e-3 && ef <= BF16_TOL, "%s: fused bf16 error %g, unfused bf16 %g", names[i],
                          ef, eu);
        }
    }
}
END_TEST

static tg_tensor *mlp_fn(tg_tensor *const *in, int n_in, void *user)
{
    (void)n_in, (void)user;
    return fused(in, true, TG_F32);
}

START_TEST(test_gradcheck)
{
    tg_tensor *in[5];
    make_inputs(in, 30);
    tg_assert_gradcheck(mlp_fn, in, 5, NULL, NULL, "mlp_gelu");
}
END_TEST

/* Only the biases want gradients: no products' operands are made, and db1,
 * db2 still equal the unfused ops' (db2 bit for bit in bf16). */
START_TEST(test_bias_grads_only)
{
    for (int run = 0; run < 2; run++) {
        const tg_dtype dt = run ? TG_BF16 : TG_F32;
        tg_tensor *a[5], *b[5];
        make_inputs(a, 80);
        make_inputs(b, 80);
        static const int constant[3] = {0, 1, 3}; /* x, w1, w2 */
        for (int i = 0; i < 3; i++) {
            tg_tensor_set_requires_grad(a[constant[i]], false);
            tg_tensor_set_requires_grad(b[constant[i]], false);
        }
        tg_tensor *seed = tg_randn(TG_STEP, TG_SHAPE(2, 5, O), TG_F32, 81, 0, 1);
        const tg_backward_opts keep = {.seed = seed, .retain_graph = true};
        ck_assert_int_eq(tg_backward_with(fused(a, true, dt), &keep), TG_OK);
        ck_assert_int_eq(tg_backward_with(unfused(b, true, dt), &(tg_backward_opts){.seed = seed}), TG_OK);
        const double tol = dt == TG_BF16 ? 0 : 1e-5;
        if (dt == TG_BF16) /* db1 went through the bf16 intermediates */
            ck_assert_double_le(scaled_err(tg_tensor_grad(a[2]), tg_tensor_grad(b[2])), BF16_TOL);
        else
            tg_assert_close(tg_tensor_grad(a[2]), tg_tensor_grad(b[2]), tol, tol, "db1 alone");
        tg_assert_close(tg_tensor_grad(a[4]), tg_tensor_grad(b[4]), tol, tol, "db2 alone");
        ck_assert_ptr_null(tg_tensor_grad(a[0]));
        tg_step_end();
    }
}
END_TEST

/* A bf16 x (from a norm with bf16 output) under bf16 compute. */
START_TEST(test_bf16_input)
{
    tg_tensor *in[5], *ref[5];
    make_inputs(in, 40);
    make_inputs(ref, 40);
    tg_tensor *x16 = tg_tensor_to(TG_STEP, in[0], TG_BF16);
    tg_tensor_set_requires_grad(x16, true);
    tg_tensor *y = tg_mlp_gelu(x16, in[1], in[2], in[3], in[4], TG_BF16);
    tg_tensor *want = fused(ref, true, TG_BF16); /* rounds the same x itself */
    ck_assert_msg(y && want, "%s", tg_last_error());
    tg_assert_close(y, want, 0, 0, "bf16 x");
    ck_assert_int_eq(tg_backward(tg_sum(y, NULL, 0, false)), TG_OK);
    ck_assert_ptr_nonnull(tg_tensor_grad(x16));
    ck_assert_int_eq(tg_tensor_dtype(tg_tensor_grad(x16)), TG_F32);
}
END_TEST

/* Fresh gradients (x an intermediate) are written whole: a step on a
 * NaN-filled arena gives the clean step's gradient; a second backward into
 * the same leaves adds. */
static tg_tensor *fresh_run(tg_tensor *const *w, tg_dtype dt)
{
    tg_tensor *x = leaf(TG_SHAPE(2, 5, D), 50, 1.0);
    tg_tensor *y = tg_mlp_gelu(tg_scale(x, 1.0), w[0], w[1], w[2], w[3], dt);
    ck_assert_int_eq(tg_backward(tg_sum(tg_mul(y, y), NULL, 0, false)), TG_OK);
    return tg_tensor_grad(x);
}

START_TEST(test_fresh_and_accumulated_grads)
{
    for (int run = 0; run < 2; run++) {
        const tg_dtype dt = run ? TG_BF16 : TG_F32;
        tg_tensor *w[4] = {tg_randn(TG_PERSIST, TG_SHAPE(H, D), TG_F32, 51, 0, 0.4),
                           tg_randn(TG_PERSIST, TG_SHAPE(H), TG_F32, 52, 0, 0.5),
                           tg_randn(TG_PERSIST, TG_SHAPE(O, H), TG_F32, 53, 0, 0.3),
                           tg_randn(TG_PERSIST, TG_SHAPE(O), TG_F32, 54, 0, 0.5)};
        for (int i = 0; i < 4; i++) tg_tensor_set_requires_grad(w[i], true);
        tg_tensor *clean = tg_tensor_clone(TG_PERSIST, fresh_run(w, dt));
        tg_tensor *dw1 = tg_tensor_clone(TG_PERSIST, tg_tensor_grad(w[0]));
        tg_step_end();
        ck_assert_ptr_nonnull(tg_full(TG_STEP, TG_SHAPE(1 << 18), TG_F32, NAN));
        tg_step_end();
        tg_assert_close(fresh_run(w, dt), clean, 0, 0, "dx after a poisoned arena");
        /* parameters are never fresh: two backward passes, twice the gradient */
        tg_assert_close(tg_tensor_grad(w[0]), tg_scale(dw1, 2.0), 1e-5, 1e-5, "dw1 accumulates");
        tg_step_end();
        tg_tensor_free(clean);
        tg_tensor_free(dw1);
        for (int i = 0; i < 4; i++) tg_tensor_free(w[i]);
    }
}
END_TEST

static void expect_error(const tg_tensor *t, tg_status st, const char *needle)
{
    ck_assert_ptr_null(t);
    tg_assert_error(st, st, needle);
}

START_TEST(test_errors)
{
    tg_tensor *in[5];
    make_inputs(in, 60);
    tg_tensor *w2bad = tg_ones(TG_STEP, TG_SHAPE(O, H + 1), TG_F32);
    expect_error(tg_mlp_gelu(in[0], in[1], in[2], w2bad, in[4], TG_F32), TG_ERR_SHAPE,
                 "tg_mlp_gelu: x (2, 5, 12), w1 (40, 12), w2 (9, 41) do not fit");
    expect_error(tg_mlp_gelu(in[0], in[1], in[4], in[3], in[4], TG_F32), TG_ERR_SHAPE, "b1 must be (40)");
    tg_tensor *x16 = tg_tensor_to(TG_STEP, in[0], TG_BF16);
    expect_error(tg_mlp_gelu(x16, in[1], in[2], in[3], in[4], TG_F32), TG_ERR_DTYPE,
                 "x must be f32 (or bf16 with bf16 compute), got bf16");
    expect_error(tg_mlp_gelu(in[0], in[1], in[2], in[3], in[4], TG_S32), TG_ERR_DTYPE,
                 "compute dtype must be f32 or bf16, got s32");
    expect_error(tg_mlp_gelu(NULL, in[1], in[2], in[3], in[4], TG_F32), TG_ERR_DTYPE, "got s32"); /* kept */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mlp");
    TCase *tc = tcase_create("mlp");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_matches_unfused_f32);
    tcase_add_test(tc, test_matches_unfused_bf16);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_bias_grads_only);
    tcase_add_test(tc, test_bf16_input);
    tcase_add_test(tc, test_fresh_and_accumulated_grads);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
