/* matmul and linear: forward against PyTorch fixtures, gradchecks over the
 * case tables (2-D, batched, broadcast batch, transposes, odd and unit
 * sizes), bf16 inputs, empty contractions, error messages, and the primitive
 * cache staying warm across training steps. */
#include <math.h>
#include <string.h>

#include "tensor/backend.h"
#include "tests/tg_test.h"

/* Case names of tests/fixtures/matmul.json (see gen_matmul.py). */
static const char *const matmul_cases[] = {
    "mm_2d",      "mm_1x1",     "mm_row",      "mm_col",       "mm_odd",       "mm_ta",     "mm_tb",
    "mm_tab",     "bmm_3d",     "bmm_4d",      "bmm_trans",    "bcast_b2d",    "bcast_a2d", "bcast_mixed",
    "bcast_both", "bcast_unit", "bcast_trans", "bcast_b2d_ta", "bcast_a2d_tb",
};
#define N_MATMUL (int)(sizeof matmul_cases / sizeof matmul_cases[0])

static const char *const linear_cases[] = {
    "lin_2d_bias", "lin_2d", "lin_3d_bias", "lin_3d", "lin_odd_bias",
};
#define N_LINEAR (int)(sizeof linear_cases / sizeof linear_cases[0])

/* One fixture case: its inputs (TG_STEP), expected output and flags. */
typedef struct mm_case {
    tg_tensor *in[3];
    int n_in;
    tg_tensor *want;
    bool trans_a, trans_b;
} mm_case;

static mm_case load_case(const char *name)
{
    json_t *root = tg_fixture_load("matmul");
    const json_t *c = json_object_get(root, name);
    ck_assert_msg(c != NULL, "fixture case %s missing", name);
    mm_case k = {0};
    const json_t *ins = json_object_get(c, "inputs");
    k.n_in = (int)json_array_size(ins);
    for (int i = 0; i < k.n_in; i++) k.in[i] = tg_fixture_tensor(json_array_get(ins, (size_t)i));
    k.want = tg_fixture_tensor(json_object_get(c, "output"));
    k.trans_a = json_is_true(json_object_get(c, "trans_a"));
    k.trans_b = json_is_true(json_object_get(c, "trans_b"));
    json_decref(root);
    return k;
}

typedef struct trans_flags {
    bool a, b;
} trans_flags;

static tg_tensor *matmul_fn(tg_tensor *const *in, int n, void *user)
{
    (void)n;
    const trans_flags *t = user;
    return tg_matmul_with(in[0], in[1], &(tg_matmul_opts){.trans_a = t->a, .trans_b = t->b});
}

static tg_tensor *linear_fn(tg_tensor *const *in, int n, void *user)
{
    (void)user;
    return tg_linear(in[0], in[1], n == 3 ? in[2] : NULL);
}

/* A wrapper call failed and its message contains needle. */
static void assert_fails(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "call succeeded; expected an error containing '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error message '%s' lacks '%s'", tg_last_error(), needle);
}

/* ---- matmul ---- */

START_TEST(test_matmul_forward)
{
    mm_case k = load_case(matmul_cases[_i]);
    tg_tensor *y = tg_matmul_with(k.in[0], k.in[1], &(tg_matmul_opts){.trans_a = k.trans_a, .trans_b = k.trans_b});
    tg_assert_close(y, k.want, 1e-5, 1e-5, matmul_cases[_i]);
}
END_TEST

START_TEST(test_matmul_gradcheck)
{
    mm_case k = load_case(matmul_cases[_i]);
    trans_flags t = {k.trans_a, k.trans_b};
    for (int i = 0; i < 2; i++) tg_tensor_set_requires_grad(k.in[i], true);
    tg_assert_gradcheck(matmul_fn, k.in, 2, &t, &(tg_gradcheck_opts){.seed = 7}, matmul_cases[_i]);
}
END_TEST

/* Gradient of one input only (the other is a constant), so each backward
 * branch also runs alone; a sample of elements is enough here. */
START_TEST(test_matmul_gradcheck_single_input)
{
    mm_case k = load_case(matmul_cases[_i]);
    trans_flags t = {k.trans_a, k.trans_b};
    for (int which = 0; which < 2; which++) {
        tg_tensor_set_requires_grad(k.in[which], true);
        tg_tensor_set_requires_grad(k.in[1 - which], false);
        tg_assert_gradcheck(matmul_fn, k.in, 2, &t, &(tg_gradcheck_opts){.seed = 8, .max_elems = 16}, matmul_cases[_i]);
    }
}
END_TEST

/* bf16 inputs: exactly the f32 product of the rounded inputs (f32
 * accumulation), and within bf16 rounding of the f32 reference. */
START_TEST(test_matmul_bf16)
{
    mm_case k = load_case(matmul_cases[_i]);
    tg_tensor *a16 = tg_tensor_to(TG_STEP, k.in[0], TG_BF16);
    tg_tensor *b16 = tg_tensor_to(TG_STEP, k.in[1], TG_BF16);
    const tg_matmul_opts tr = {.trans_a = k.trans_a, .trans_b = k.trans_b};
    tg_tensor *y16 = tg_matmul_with(a16, b16, &tr);
    ck_assert_msg(y16 != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_dtype(y16), TG_F32);
    tg_tensor *ar = tg_tensor_to(TG_STEP, a16, TG_F32), *br = tg_tensor_to(TG_STEP, b16, TG_F32);
    tg_assert_close(y16, tg_matmul_with(ar, br, &tr), 1e-4, 1e-4, "bf16 vs rounded f32");
    tg_assert_close(y16, k.want, 0.1, 0.02, "bf16 vs f32 reference");
}
END_TEST

START_TEST(test_matmul_bf16_backward)
{
    mm_case k = load_case("bcast_mixed");
    tg_tensor *a16 = tg_tensor_to(TG_STEP, k.in[0], TG_BF16);
    tg_tensor *b16 = tg_tensor_to(TG_STEP, k.in[1], TG_BF16);
    tg_tensor *ar = tg_tensor_to(TG_STEP, a16, TG_F32), *br = tg_tensor_to(TG_STEP, b16, TG_F32);
    tg_tensor *ins[4] = {a16, b16, ar, br};
    for (int i = 0; i < 4; i++) tg_tensor_set_requires_grad(ins[i], true);
    ck_assert_int_eq(tg_backward(tg_sum(tg_matmul(a16, b16), NULL, 0, false)), TG_OK);
    ck_assert_int_eq(tg_backward(tg_sum(tg_matmul(ar, br), NULL, 0, false)), TG_OK);
    ck_assert_int_eq(tg_tensor_dtype(tg_tensor_grad(a16)), TG_F32);
    tg_assert_close(tg_tensor_grad(a16), tg_tensor_grad(ar), 1e-5, 1e-5, "bf16 dA");
    tg_assert_close(tg_tensor_grad(b16), tg_tensor_grad(br), 1e-5, 1e-5, "bf16 dB");
}
END_TEST

/* K = 0 gives zeros; M = 0 gives an empty output. */
START_TEST(test_matmul_empty)
{
    tg_tensor *a = tg_ones(TG_STEP, TG_SHAPE(3, 0), TG_F32), *b = tg_ones(TG_STEP, TG_SHAPE(0, 4), TG_F32);
    tg_tensor *y = tg_matmul(a, b);
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_numel(y), 12);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(tg_f32(y)[i], 0.0f);
    tg_tensor *e = tg_matmul(tg_ones(TG_STEP, TG_SHAPE(0, 5), TG_F32), tg_ones(TG_STEP, TG_SHAPE(5, 2), TG_F32));
    ck_assert_msg(e != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_numel(e), 0);
    tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(2, 0), TG_F32), *w = tg_ones(TG_STEP, TG_SHAPE(3, 0), TG_F32);
    tg_tensor *bias = tg_arange(TG_STEP, 3, 1.0, 1.0, TG_F32);
    tg_tensor *l = tg_linear(x, w, bias);
    const float want[6] = {1, 2, 3, 1, 2, 3};
    tg_assert_close_buf(l, want, 6, 0, 0, "linear with in = 0 gives the bias");
}
END_TEST

START_TEST(test_matmul_errors)
{
    tg_tensor *a = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_F32), *b = tg_ones(TG_STEP, TG_SHAPE(4, 5), TG_F32);
    assert_fails(tg_matmul(a, b), "tg_matmul: inner dims differ: a (2, 3) gives K = 3, b (4, 5) gives K = 4");
    assert_fails(tg_matmul_with(a, b, &(tg_matmul_opts){.trans_a = true}), "K = 2");

    tg_tensor *a3 = tg_ones(TG_STEP, TG_SHAPE(2, 3, 4), TG_F32), *b3 = tg_ones(TG_STEP, TG_SHAPE(3, 4, 5), TG_F32);
    assert_fails(tg_matmul(a3, b3), "batch dims of a (2, 3, 4) and b (3, 4, 5) do not broadcast (2 vs 3)");

    tg_tensor *a16 = tg_ones(TG_STEP, TG_SHAPE(2, 3), TG_BF16), *b32 = tg_ones(TG_STEP, TG_SHAPE(3, 2), TG_F32);
    assert_fails(tg_matmul(a16, b32), "a is bf16 but b is f32");

    tg_tensor *s = tg_ones(TG_STEP, TG_SHAPE(3, 2), TG_S32);
    assert_fails(tg_matmul(a, s), "tg_matmul: b must be f32 or bf16, got s32");

    tg_tensor *v = tg_ones(TG_STEP, TG_SHAPE(3), TG_F32);
    assert_fails(tg_matmul(a, v), "need at least 2 dims");
    ck_assert_ptr_null(tg_matmul(NULL, b)); /* a failed earlier call propagates */
}
END_TEST

/* ---- linear ---- */

START_TEST(test_linear_forward)
{
    mm_case k = load_case(linear_cases[_i]);
    tg_tensor *y = tg_linear(k.in[0], k.in[1], k.n_in == 3 ? k.in[2] : NULL);
    tg_assert_close(y, k.want, 1e-5, 1e-5, linear_cases[_i]);
}
END_TEST

START_TEST(test_linear_gradcheck)
{
    mm_case k = load_case(linear_cases[_i]);
    for (int i = 0; i < k.n_in; i++) tg_tensor_set_requires_grad(k.in[i], true);
    tg_assert_gradcheck(linear_fn, k.in, k.n_in, NULL, &(tg_gradcheck_opts){.seed = 9}, linear_cases[_i]);
}
END_TEST

START_TEST(test_linear_bf16)
{
    mm_case k = load_case("lin_odd_bias");
    tg_tensor *x16 = tg_tensor_to(TG_STEP, k.in[0], TG_BF16), *w16 = tg_tensor_to(TG_STEP, k.in[1], TG_BF16);
    tg_tensor *y = tg_linear(x16, w16, k.in[2]);
    tg_tensor *xr = tg_tensor_to(TG_STEP, x16, TG_F32), *wr = tg_tensor_to(TG_STEP, w16, TG_F32);
    tg_assert_close(y, tg_linear(xr, wr, k.in[2]), 1e-4, 1e-4, "bf16 linear vs rounded f32");
    tg_assert_close(y, k.want, 0.1, 0.02, "bf16 linear vs f32 reference");
    tg_tensor_set_requires_grad(x16, true);
    tg_tensor_set_requires_grad(w16, true);
    tg_tensor_set_requires_grad(xr, true);
    tg_tensor_set_requires_grad(wr, true);
    ck_assert_int_eq(tg_backward(tg_sum(tg_linear(x16, w16, NULL), NULL, 0, false)), TG_OK);
    ck_assert_int_eq(tg_backward(tg_sum(tg_linear(xr, wr, NULL), NULL, 0, false)), TG_OK);
    tg_assert_close(tg_tensor_grad(x16), tg_tensor_grad(xr), 1e-5, 1e-5, "bf16 dx");
    tg_assert_close(tg_tensor_grad(w16), tg_tensor_grad(wr), 1e-5, 1e-5, "bf16 dw");
}
END_TEST

/* tg_linear_with bf16 output: the output is the f32 output rounded (within one
 * bf16 step: the kernel may sum in another order) and the gradients are
 * those of the f32-output op, which sees the same f32 gradient; refused
 * with f32 compute. */
START_TEST(test_linear_bf16_out)
{
    tg_tensor *p32[3], *p16[3], *y[2];
    for (int k = 0; k < 2; k++) {
        tg_tensor **p = k ? p32 : p16;
        p[0] = tg_randn(TG_STEP, TG_SHAPE(3, 7, 24), TG_F32, 61, 0, 1);
        p[1] = tg_randn(TG_STEP, TG_SHAPE(40, 24), TG_F32, 62, 0, 0.3);
        p[2] = tg_randn(TG_STEP, TG_SHAPE(40), TG_F32, 63, 0, 0.5);
        for (int i = 0; i < 3; i++) tg_tensor_set_requires_grad(p[i], true);
        y[k] = tg_linear_with(p[0], p[1], p[2], &(tg_linear_opts){.compute = TG_BF16, .out = k ? TG_F32 : TG_BF16});
        ck_assert_msg(y[k], "%s", tg_last_error());
    }
    ck_assert_int_eq(tg_tensor_dtype(y[0]), TG_BF16);
    ck_assert_int_eq(tg_tensor_dtype(y[1]), TG_F32);
    for (int64_t i = 0; i < tg_tensor_numel(y[1]); i++) {
        const float w = tg_f32(y[1])[i], got = tg_bf16_to_f32(tg_bf16(y[0])[i]);
        ck_assert_msg(fabsf(got - w) <= fabsf(w) / 128, "y[%lld] = %g, f32 output %g", (long long)i, got, w);
    }
    tg_tensor *dy = tg_randn(TG_STEP, TG_SHAPE(3, 7, 40), TG_F32, 64, 0, 1);
    for (int k = 0; k < 2; k++) /* one tape */
        ck_assert_int_eq(tg_backward_with(y[k], &(tg_backward_opts){.seed = dy, .retain_graph = k == 0}), TG_OK);
    static const char *names[3] = {"dx", "dw", "db"};
    for (int i = 0; i < 3; i++) tg_assert_close(tg_tensor_grad(p16[i]), tg_tensor_grad(p32[i]), 0, 0, names[i]);
    ck_assert_ptr_null(tg_linear_with(p32[0], p32[1], p32[2], &(tg_linear_opts){.compute = TG_F32, .out = TG_BF16}));
    tg_assert_error(TG_ERR_DTYPE, TG_ERR_DTYPE, "output must be f32, or bf16 with bf16 compute; got bf16 with f32");
}
END_TEST

/* The bias gradient over several row blocks (with a partial last one)
 * against a double column sum, in f32 and bf16 compute, the same with one
 * and two threads, and added to (not overwriting) an existing gradient. */
START_TEST(test_linear_bias_grad_blocks)
{
    const int64_t R = 301, IN = 8, OUT = 40;
    tg_tensor *seed = tg_randn(TG_STEP, TG_SHAPE(R, OUT), TG_F32, 9, 0, 1);
    double want[40] = {0};
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < OUT; j++) want[j] += tg_f32(seed)[r * OUT + j];
    for (int run = 0; run < 4; run++) {
        const tg_dtype dt = run & 1 ? TG_BF16 : TG_F32;
        ck_assert_int_eq(tg_ctx_set_threads(tg_ctx_current(), run & 2 ? 2 : 1), TG_OK);
        tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(R, IN), TG_F32, 10, 0, 1);
        tg_tensor *w = tg_randn(TG_STEP, TG_SHAPE(OUT, IN), TG_F32, 11, 0, 1);
        tg_tensor *b = tg_zeros(TG_PERSIST, TG_SHAPE(OUT), TG_F32);
        tg_tensor_set_requires_grad(b, true);
        for (int pass = 1; pass <= 2; pass++) {
            tg_tensor *y = tg_linear_with(x, w, b, &(tg_linear_opts){.compute = dt});
            ck_assert_int_eq(tg_backward_with(y, &(tg_backward_opts){.seed = seed}), TG_OK);
            for (int64_t j = 0; j < OUT; j++)
                ck_assert_double_eq_tol(tg_f32(tg_tensor_grad(b))[j], pass * want[j], 1e-4 * (1 + fabs(want[j])));
        }
        tg_tensor_free(b);
    }
}
END_TEST

START_TEST(test_linear_errors)
{
    tg_tensor *x = tg_ones(TG_STEP, TG_SHAPE(2, 5), TG_F32), *w = tg_ones(TG_STEP, TG_SHAPE(3, 4), TG_F32);
    assert_fails(tg_linear(x, w, NULL), "tg_linear: x (2, 5) does not fit w (3, 4)");
    tg_tensor *w5 = tg_ones(TG_STEP, TG_SHAPE(3, 5), TG_F32), *b4 = tg_ones(TG_STEP, TG_SHAPE(4), TG_F32);
    assert_fails(tg_linear(x, w5, b4), "tg_linear: bias (4) does not fit w (3, 5)");
    tg_tensor *b16 = tg_ones(TG_STEP, TG_SHAPE(3), TG_BF16);
    assert_fails(tg_linear(x, w5, b16), "tg_linear: bias must be f32, got bf16");
    tg_tensor *xs = tg_ones(TG_STEP, TG_SHAPE(2, 5), TG_S32);
    assert_fails(tg_linear(xs, w5, NULL), "tg_linear: x must be f32 or bf16, got s32");
    tg_tensor *w16 = tg_ones(TG_STEP, TG_SHAPE(3, 5), TG_BF16);
    assert_fails(tg_linear(x, w16, NULL), "x is f32 but w is bf16");
}
END_TEST

/* ---- primitive cache and the backend ---- */

/* One training step: linear + broadcast matmul + linear, forward and backward. */
static void train_step(tg_tensor *x, tg_tensor *w1, tg_tensor *b1, tg_tensor *m, tg_tensor *w2)
{
    tg_tensor *h = tg_linear(x, w1, b1);                                     /* (4, 6, 16) */
    tg_tensor *g = tg_matmul_with(h, m, &(tg_matmul_opts){.trans_b = true}); /* (4, 6, 16) @ (16, 16)ᵀ */
    tg_tensor *y = tg_linear(g, w2, NULL);                                   /* (4, 6, 3) */
    ck_assert_int_eq(tg_backward(tg_sum(y, NULL, 0, false)), TG_OK);
    tg_step_end();
}

START_TEST(test_primitive_cache)
{
    tg_tensor *x = tg_randn(TG_PERSIST, TG_SHAPE(4, 6, 8), TG_F32, 1, 0, 1);
    tg_tensor *w1 = tg_randn(TG_PERSIST, TG_SHAPE(16, 8), TG_F32, 2, 0, 1);
    tg_tensor *b1 = tg_randn(TG_PERSIST, TG_SHAPE(16), TG_F32, 3, 0, 1);
    tg_tensor *m = tg_randn(TG_PERSIST, TG_SHAPE(16, 16), TG_F32, 4, 0, 1);
    tg_tensor *w2 = tg_randn(TG_PERSIST, TG_SHAPE(3, 16), TG_F32, 5, 0, 1);
    tg_tensor *params[5] = {x, w1, b1, m, w2};
    for (int i = 0; i < 5; i++) tg_tensor_set_requires_grad(params[i], true);
    tg_ctx *ctx = tg_ctx_current();
    ck_assert_uint_eq(tg_ctx_cache_stats(ctx).misses, 0);

    train_step(x, w1, b1, m, w2);
    tg_cache_stats first = tg_ctx_cache_stats(ctx);
    /* One primitive per distinct product: 3 forward, 6 gradient. */
    ck_assert_uint_eq(first.misses, 9);
    ck_assert_uint_eq(first.entries, first.misses);
    const uint64_t lookups = first.hits + first.misses;
    tg_tensor *dw1 = tg_tensor_clone(TG_PERSIST, tg_tensor_grad(w1));
    for (int step = 2; step <= 5; step++) {
        train_step(x, w1, b1, m, w2);
        tg_cache_stats s = tg_ctx_cache_stats(ctx);
        ck_assert_uint_eq(s.misses, first.misses);
        ck_assert_uint_eq(s.entries, first.entries);
        ck_assert_uint_eq(s.hits, first.hits + (uint64_t)(step - 1) * lookups);
    }
    /* Backward accumulates: five identical steps give five times the grad. */
    for (int64_t i = 0; i < tg_tensor_numel(dw1); i++)
        ck_assert_float_eq_tol(tg_f32(tg_tensor_grad(w1))[i], 5 * tg_f32(dw1)[i],
                               1e-4 * (1 + fabsf(5 * tg_f32(dw1)[i])));
    tg_tensor_free(dw1);
    for (int i = 0; i < 5; i++) tg_tensor_free(params[i]);
}
END_TEST

/* Summing over a batch dim that cannot fold into K (the loop of accumulating
 * matmuls) against the sum of separate products. */
START_TEST(test_backend_batch_sum)
{
    tg_ctx *ctx = tg_ctx_current();
    enum { B = 3, M = 5, K = 7, N = 4 };
    tg_tensor *a = tg_randn(TG_STEP, TG_SHAPE(B, M, K), TG_F32, 11, 0, 1);
    tg_tensor *b = tg_randn(TG_STEP, TG_SHAPE(K, N), TG_F32, 12, 0, 1);
    tg_tensor *c = tg_full(TG_STEP, TG_SHAPE(M, N), TG_F32, 7.0);
    tg_matmul_desc d = {.ndim = 3, .ab_dtype = TG_F32, .accumulate = false};
    const int64_t ba[1] = {B}, one[1] = {1};
    tg_matmul_view(d.a_dims, d.a_strides, 1, ba, M, K, false);
    tg_matmul_view(d.b_dims, d.b_strides, 1, one, K, N, false);
    tg_matmul_view(d.c_dims, d.c_strides, 1, one, M, N, false);
    tg_tensor *want = tg_sum(tg_matmul(a, b), (int[]){0}, 1, false); /* (M, N) */
    ck_assert_int_eq(tg_backend_matmul(ctx, &d, tg_f32(c), tg_f32(a), tg_f32(b), NULL), TG_OK);
    tg_assert_close(c, want, 1e-5, 1e-5, "batch sum overwrites C");
    d.accumulate = true;
    ck_assert_int_eq(tg_backend_matmul(ctx, &d, tg_f32(c), tg_f32(a), tg_f32(b), NULL), TG_OK);
    tg_assert_close(c, tg_scale(want, 2.0), 1e-5, 1e-5, "batch sum accumulates into C");
    const char *impl = tg_backend_matmul_impl(ctx, &d);
    ck_assert_msg(impl && *impl, "impl: %s", tg_last_error());

    d.bias = true;
    ck_assert_int_eq(tg_backend_matmul(ctx, &d, tg_f32(c), tg_f32(a), tg_f32(b), tg_f32(c)), TG_ERR_INVALID);
    tg_assert_error(TG_ERR_INVALID, TG_ERR_INVALID, "bias with a summed batch dim");
}
END_TEST

/* B packed once by tg_backend_matmul_pack_b gives the plain call's result:
 * f32 and bf16 products, B read transposed or not, from an f32 or a bf16
 * source, with bias and accumulation; a batched desc is refused. */
START_TEST(test_backend_packed_b)
{
    tg_ctx *ctx = tg_ctx_current();
    enum { M = 37, K = 70, N = 19 };
    tg_tensor *a32 = tg_randn(TG_STEP, TG_SHAPE(M, K), TG_F32, 21, 0, 1);
    tg_tensor *bias = tg_randn(TG_STEP, TG_SHAPE(N), TG_F32, 23, 0, 1);
    for (int run = 0; run < 8; run++) {
        const tg_dtype dt = run & 1 ? TG_BF16 : TG_F32, src = run & 4 ? TG_BF16 : TG_F32;
        const bool bt = run & 2;
        tg_tensor *b32 = tg_randn(TG_STEP, bt ? TG_SHAPE(N, K) : TG_SHAPE(K, N), TG_F32, 22 + run, 0, 1);
        tg_tensor *a = tg_tensor_to(TG_STEP, a32, dt), *b = tg_tensor_to(TG_STEP, b32, dt);
        tg_tensor *bsrc = tg_tensor_to(TG_STEP, b32, src);
        tg_matmul_desc d = {.ndim = 2, .ab_dtype = dt, .bias = true, .accumulate = true};
        tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, M, K, false);
        tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, K, N, bt);
        tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, M, N, false);
        tg_tensor *want = tg_full(TG_STEP, TG_SHAPE(M, N), TG_F32, 0.5), *got = tg_tensor_clone(TG_STEP, want);
        ck_assert_int_eq(tg_backend_matmul(ctx, &d, tg_f32(want), tg_tensor_data(a), tg_tensor_data(b), tg_f32(bias)),
                         TG_OK);
        size_t bytes = 0;
        ck_assert_int_eq(tg_backend_matmul_packed_bytes(ctx, &d, &bytes), TG_OK);
        ck_assert_uint_ge(bytes, (size_t)K * N * tg_dtype_size(dt));
        tg_tensor *packed = tg_tensor_empty(TG_STEP, TG_SHAPE((int64_t)(bytes + 3) / 4), TG_F32);
        ck_assert_int_eq(tg_backend_matmul_pack_b(ctx, &d, tg_tensor_data(packed), tg_tensor_data(bsrc), src), TG_OK);
        d.b_packed = true;
        ck_assert_int_eq(
            tg_backend_matmul(ctx, &d, tg_f32(got), tg_tensor_data(a), tg_tensor_data(packed), tg_f32(bias)), TG_OK);
        /* a bf16 source rounds B before an f32 product does */
        const double tol = dt == TG_F32 && src == TG_BF16 ? 5e-2 : 1e-5;
        tg_assert_close(got, want, tol, tol, "packed B");
    }
    tg_matmul_desc d3 = {.ndim = 3, .ab_dtype = TG_F32};
    const int64_t batch[1] = {2};
    tg_matmul_view(d3.a_dims, d3.a_strides, 1, batch, 3, 4, false);
    tg_matmul_view(d3.b_dims, d3.b_strides, 1, batch, 4, 5, false);
    tg_matmul_view(d3.c_dims, d3.c_strides, 1, batch, 3, 5, false);
    size_t bytes = 0;
    ck_assert_int_eq(tg_backend_matmul_packed_bytes(ctx, &d3, &bytes), TG_ERR_INVALID);
    tg_assert_error(TG_ERR_INVALID, TG_ERR_INVALID, "needs a 2-D matmul");
}
END_TEST

/* A bf16 C is the f32 product rounded (to within one bf16 step: the kernel
 * may sum in another order), written through C's strides without touching
 * the gaps; plain and packed B, bias, an empty contraction (bias rounded);
 * refused with f32 operands or accumulation. */
START_TEST(test_backend_bf16_c)
{
    tg_ctx *ctx = tg_ctx_current();
    enum { M = 37, N = 19, LDC = N + 3, SENTINEL = 0x4242 };
    tg_tensor *bias = tg_randn(TG_STEP, TG_SHAPE(N), TG_F32, 33, 0, 1);
    for (int run = 0; run < 3; run++) {
        const int64_t K = run == 2 ? 0 : 70;
        const bool packed = run == 1;
        tg_tensor *a = tg_tensor_to(TG_STEP, tg_randn(TG_STEP, TG_SHAPE(M, K), TG_F32, 31, 0, 1), TG_BF16);
        tg_tensor *b = tg_tensor_to(TG_STEP, tg_randn(TG_STEP, TG_SHAPE(K, N), TG_F32, 32, 0, 1), TG_BF16);
        tg_matmul_desc d = {.ndim = 2, .ab_dtype = TG_BF16, .bias = true};
        tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, M, K, false);
        tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, K, N, false);
        tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, M, N, false);
        tg_tensor *want = tg_tensor_empty(TG_STEP, TG_SHAPE(M, N), TG_F32);
        ck_assert_int_eq(tg_backend_matmul(ctx, &d, tg_f32(want), tg_bf16(a), tg_bf16(b), tg_f32(bias)), TG_OK);
        d.c_dtype = TG_BF16;
        d.c_strides[0] = LDC;
        tg_tensor *c = tg_tensor_empty(TG_STEP, TG_SHAPE(M, LDC), TG_BF16);
        for (int64_t i = 0; i < M * LDC; i++) tg_bf16(c)[i] = SENTINEL;
        const void *bp = tg_bf16(b);
        if (packed) {
            size_t bytes = 0;
            ck_assert_int_eq(tg_backend_matmul_packed_bytes(ctx, &d, &bytes), TG_OK);
            tg_tensor *pb = tg_tensor_empty(TG_STEP, TG_SHAPE((int64_t)(bytes + 3) / 4), TG_F32);
            ck_assert_int_eq(tg_backend_matmul_pack_b(ctx, &d, tg_tensor_data(pb), bp, TG_BF16), TG_OK);
            d.b_packed = true;
            bp = tg_tensor_data(pb);
        }
        ck_assert_int_eq(tg_backend_matmul(ctx, &d, tg_bf16(c), tg_bf16(a), bp, tg_f32(bias)), TG_OK);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < LDC; j++) {
                const uint16_t v = tg_bf16(c)[i * LDC + j];
                if (j >= N) {
                    ck_assert_msg(v == SENTINEL, "run %d: gap (%lld, %lld) overwritten", run, (long long)i,
                                  (long long)j);
                    continue;
                }
                const float w = tg_f32(want)[i * N + j], got = tg_bf16_to_f32(v);
                ck_assert_msg(fabsf(got - w) <= fabsf(w) / 128 + 1e-6f, "run %d: c(%lld, %lld) = %g, f32 C %g", run,
                              (long long)i, (long long)j, got, w);
            }
    }
    tg_matmul_desc d = {.ndim = 2, .ab_dtype = TG_F32, .c_dtype = TG_BF16};
    tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, 2, 3, false);
    tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, 3, 2, false);
    tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, 2, 2, false);
    uint16_t c[4], x[6] = {0};
    ck_assert_int_eq(tg_backend_matmul(ctx, &d, c, x, x, NULL), TG_ERR_INVALID);
    tg_assert_error(TG_ERR_INVALID, TG_ERR_INVALID, "bf16 C needs bf16 A and B");
    d.ab_dtype = TG_BF16;
    d.accumulate = true;
    ck_assert_int_eq(tg_backend_matmul(ctx, &d, c, x, x, NULL), TG_ERR_INVALID);
    tg_assert_error(TG_ERR_INVALID, TG_ERR_INVALID, "no accumulate");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("matmul");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_matmul_forward, 0, N_MATMUL);
    tcase_add_loop_test(tc, test_matmul_gradcheck, 0, N_MATMUL);
    tcase_add_loop_test(tc, test_matmul_gradcheck_single_input, 0, N_MATMUL);
    tcase_add_loop_test(tc, test_matmul_bf16, 0, N_MATMUL);
    tcase_add_test(tc, test_matmul_bf16_backward);
    tcase_add_test(tc, test_matmul_empty);
    tcase_add_test(tc, test_matmul_errors);
    suite_add_tcase(s, tc);

    TCase *tl = tcase_create("linear");
    tcase_add_checked_fixture(tl, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tl, 120);
    tcase_add_loop_test(tl, test_linear_forward, 0, N_LINEAR);
    tcase_add_loop_test(tl, test_linear_gradcheck, 0, N_LINEAR);
    tcase_add_test(tl, test_linear_bf16);
    tcase_add_test(tl, test_linear_bf16_out);
    tcase_add_test(tl, test_linear_errors);
    tcase_add_test(tl, test_linear_bias_grad_blocks);
    suite_add_tcase(s, tl);

    TCase *tb = tcase_create("backend");
    tcase_add_checked_fixture(tb, tg_test_setup, tg_test_teardown);
    tcase_add_test(tb, test_primitive_cache);
    tcase_add_test(tb, test_backend_batch_sum);
    tcase_add_test(tb, test_backend_packed_b);
    tcase_add_test(tb, test_backend_bf16_c);
    suite_add_tcase(s, tb);
    return tg_run_suite(s) ? 1 : 0;
}
