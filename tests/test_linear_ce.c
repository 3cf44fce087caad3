/* autograd/ops/cross_entropy.c, linear_cross_entropy: the chunked fused
 * output projection + cross-entropy against tg_linear + tg_cross_entropy
 * (loss, dh, dw) over chunk sizes, options and reductions; a gradcheck;
 * bf16 compute within bf16 tolerance for every case; input errors. */
#include <math.h>
#include <string.h>

#include "tests/tg_test.h"

typedef struct lce_case {
    int64_t B, T, D, V, chunk;
    bool ignore, cw, tw;
    double smoothing;
    tg_reduction red;
} lce_case;

static const lce_case cases[] = {
    {1, 1, 1, 1, 0, false, false, false, 0, TG_REDUCE_MEAN},
    {2, 5, 7, 11, 0, false, false, false, 0, TG_REDUCE_MEAN},
    {2, 5, 7, 11, 3, true, false, false, 0, TG_REDUCE_MEAN}, /* chunks of 3 over 10 rows */
    {2, 5, 7, 11, 1, true, true, true, 0.1, TG_REDUCE_MEAN},
    {3, 9, 16, 37, 4, false, true, false, 0.2, TG_REDUCE_SUM},
    {1, 33, 24, 130, 8, true, false, true, 0, TG_REDUCE_SUM},
    {2, 64, 32, 300, 0, true, true, true, 0.05, TG_REDUCE_MEAN},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static tg_tensor *leaf(tg_shape s, uint64_t seed, double sd)
{
    tg_tensor *t = tg_randn(TG_STEP, s, TG_F32, seed, 0, sd);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

/* targets, weights and options of a case */
static tg_ce_opts case_opts(const lce_case *c, tg_tensor **tgt)
{
    *tgt = tg_tensor_new(TG_STEP, TG_SHAPE(c->B, c->T), TG_S32);
    for (int64_t i = 0; i < c->B * c->T; i++)
        tg_s32(*tgt)[i] = c->ignore && i % 4 == 1 ? -100 : (int32_t)((i * 7 + 3) % c->V);
    tg_ce_opts o = tg_ce_defaults();
    o.label_smoothing = c->smoothing;
    o.reduction = c->red;
    if (c->cw) o.class_weights = tg_rand(TG_STEP, TG_SHAPE(c->V), TG_F32, 31, 0.5, 2.0);
    if (c->tw) o.token_weights = tg_rand(TG_STEP, TG_SHAPE(c->B, c->T), TG_F32, 32, 0.0, 2.0);
    return o;
}

START_TEST(test_matches_unfused)
{
    const lce_case *c = &cases[_i];
    tg_tensor *h = leaf(TG_SHAPE(c->B, c->T, c->D), 10 + (uint64_t)_i, 1), *w = leaf(TG_SHAPE(c->V, c->D), 20, 0.3);
    tg_tensor *h2 = leaf(TG_SHAPE(c->B, c->T, c->D), 10 + (uint64_t)_i, 1), *w2 = leaf(TG_SHAPE(c->V, c->D), 20, 0.3);
    tg_tensor *tgt;
    tg_ce_opts o = case_opts(c, &tgt);
    tg_tensor *fused = tg_linear_cross_entropy(h, w, tgt, &o, TG_F32, c->chunk);
    tg_tensor *ref = tg_cross_entropy(tg_linear(h2, w2, NULL), tgt, &o);
    ck_assert_msg(fused && ref, "case %d: %s", _i, tg_last_error());
    tg_assert_close(fused, ref, 1e-6, 1e-5, "loss");
    /* a dout other than 1 reaches both gradients */
    ck_assert_int_eq(tg_backward_with(tg_scale(fused, 1.7), &(tg_backward_opts){.retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward(tg_scale(ref, 1.7)), TG_OK);
    tg_assert_close(tg_tensor_grad(h), tg_tensor_grad(h2), 1e-6, 1e-4, "dh");
    tg_assert_close(tg_tensor_grad(w), tg_tensor_grad(w2), 1e-6, 1e-4, "dw");
}
END_TEST

typedef struct gc_user {
    const lce_case *c;
    tg_tensor *tgt;
    tg_ce_opts o;
} gc_user;

static tg_tensor *lce_fn(tg_tensor *const *in, int n_in, void *user)
{
    (void)n_in;
    gc_user *u = user;
    return tg_linear_cross_entropy(in[0], in[1], u->tgt, &u->o, TG_F32, u->c->chunk);
}

START_TEST(test_gradcheck)
{
    gc_user u = {.c = &cases[3]};
    u.o = case_opts(u.c, &u.tgt);
    tg_tensor *in[2] = {leaf(TG_SHAPE(u.c->B, u.c->T, u.c->D), 41, 1), leaf(TG_SHAPE(u.c->V, u.c->D), 42, 0.5)};
    tg_assert_gradcheck(lce_fn, in, 2, &u, NULL, "linear_cross_entropy");
}
END_TEST

/* ||got - want|| / ||want||: gradient elements that are sums of many
 * cancelling terms are off by more than bf16's relative precision. */
static double rel_l2(const tg_tensor *got, const tg_tensor *want)
{
    double d = 0, w = 0;
    for (int64_t i = 0; i < tg_tensor_numel(want); i++) {
        const double g = tg_f32(got)[i], x = tg_f32(want)[i];
        d += (g - x) * (g - x);
        w += x * x;
    }
    return w > 0 ? sqrt(d / w) : sqrt(d);
}

/* Every option and reduction: the bf16 path writes the logits' gradient
 * straight in bf16 with its own kernel. */
START_TEST(test_bf16_compute)
{
    const lce_case *c = &cases[_i];
    tg_tensor *h = leaf(TG_SHAPE(c->B, c->T, c->D), 51, 1), *w = leaf(TG_SHAPE(c->V, c->D), 52, 0.3);
    tg_tensor *h2 = leaf(TG_SHAPE(c->B, c->T, c->D), 51, 1), *w2 = leaf(TG_SHAPE(c->V, c->D), 52, 0.3);
    tg_tensor *tgt;
    tg_ce_opts o = case_opts(c, &tgt);
    tg_tensor *l16 = tg_linear_cross_entropy(h, w, tgt, &o, TG_BF16, 16);
    tg_tensor *l32 = tg_linear_cross_entropy(h2, w2, tgt, &o, TG_F32, 16);
    ck_assert_msg(l16 && l32, "%s", tg_last_error());
    if (c->V > 1) ck_assert(tg_item(l16) != tg_item(l32)); /* rounded operands */
    ck_assert_double_le(fabs(tg_item(l16) - tg_item(l32)), 5e-3 * fabs(tg_item(l32)));
    const bool was = tg_grad_set_enabled(false); /* no recording: only the logits' products */
    tg_tensor *l16_eval = tg_linear_cross_entropy(h, w, tgt, &o, TG_BF16, 16);
    tg_grad_set_enabled(was);
    ck_assert_msg(l16_eval != NULL, "%s", tg_last_error());
    ck_assert_float_eq(tg_item(l16_eval), tg_item(l16));
    ck_assert_int_eq(tg_backward_with(l16, &(tg_backward_opts){.retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward(l32), TG_OK);
    const double eh = rel_l2(tg_tensor_grad(h), tg_tensor_grad(h2)), ew = rel_l2(tg_tensor_grad(w), tg_tensor_grad(w2));
    ck_assert_msg(eh < 2e-2 && ew < 2e-2, "case %d: bf16 dh, dw relative L2 errors %.3g, %.3g", _i, eh, ew);
}
END_TEST

static void expect_error(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "expected an error mentioning '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "'%s' lacks '%s'", tg_last_error(), needle);
}

START_TEST(test_errors)
{
    tg_tensor *h = leaf(TG_SHAPE(2, 3, 4), 1, 1), *w = leaf(TG_SHAPE(5, 4), 2, 1);
    tg_tensor *tgt = tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_S32);
    tg_ce_opts o = tg_ce_defaults();
    o.reduction = TG_REDUCE_NONE;
    expect_error(tg_linear_cross_entropy(h, w, tgt, &o, TG_F32, 0), "needs a MEAN or SUM reduction");
    expect_error(tg_linear_cross_entropy(h, leaf(TG_SHAPE(5, 3), 3, 1), tgt, NULL, TG_F32, 0), "does not fit w");
    expect_error(tg_linear_cross_entropy(h, w, tg_zeros(TG_STEP, TG_SHAPE(3, 2), TG_S32), NULL, TG_F32, 0),
                 "targets must be s32 of h's leading shape");
    tg_s32(tgt)[4] = 5;
    expect_error(tg_linear_cross_entropy(h, w, tgt, NULL, TG_F32, 0), "outside [0, 5)");
}
END_TEST

/* The first chunk writes dw and a fresh dh or dw is written, not added to:
 * after a NaN-filled arena the gradients equal the clean step's; with no
 * rows the loss is 0 and dw all zeros. f32 and bf16 compute. */
static void fresh_run(tg_tensor **grads, tg_dtype dt, uint64_t seed)
{
    tg_tensor *h0 = leaf(TG_SHAPE(3, 7, 8), seed, 1), *w = leaf(TG_SHAPE(19, 8), seed + 1, 0.3);
    tg_tensor *tgt = tg_tensor_new(TG_STEP, TG_SHAPE(3, 7), TG_S32);
    for (int i = 0; i < 21; i++) tg_s32(tgt)[i] = (i * 5) % 19;
    tg_tensor *loss = tg_linear_cross_entropy(tg_scale(h0, 1.0), w, tgt, NULL, dt, 4);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    grads[0] = tg_tensor_clone(TG_PERSIST, tg_tensor_grad(h0));
    grads[1] = tg_tensor_clone(TG_PERSIST, tg_tensor_grad(w));
}

START_TEST(test_fresh_and_empty)
{
    for (int run = 0; run < 2; run++) {
        const tg_dtype dt = run ? TG_BF16 : TG_F32;
        tg_tensor *clean[2], *poisoned[2];
        fresh_run(clean, dt, 70);
        tg_step_end();
        ck_assert_ptr_nonnull(tg_full(TG_STEP, TG_SHAPE(1 << 18), TG_F32, NAN));
        tg_step_end();
        fresh_run(poisoned, dt, 70);
        for (int i = 0; i < 2; i++) {
            tg_assert_close(poisoned[i], clean[i], 0, 0, i ? "dw after a poisoned arena" : "dh after a poisoned arena");
            tg_tensor_free(clean[i]);
            tg_tensor_free(poisoned[i]);
        }
        tg_tensor *h = leaf(TG_SHAPE(0, 8), 71, 1), *w = leaf(TG_SHAPE(19, 8), 72, 0.3);
        tg_ce_opts o = tg_ce_defaults();
        o.reduction = TG_REDUCE_SUM;
        tg_tensor *loss = tg_linear_cross_entropy(h, w, tg_tensor_new(TG_STEP, TG_SHAPE(0), TG_S32), &o, dt, 0);
        ck_assert_msg(loss != NULL, "%s", tg_last_error());
        ck_assert_float_eq(tg_item(loss), 0.0f);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_assert_close(tg_tensor_grad(w), tg_zeros(TG_STEP, TG_SHAPE(19, 8), TG_F32), 0, 0, "dw with no rows");
        tg_step_end();
    }
}
END_TEST

/* The logits chunk and the other per-chunk buffers are given back when
 * the forward ends: the arena keeps only what backward reads (dh, dw and
 * the output), not the (chunk, V) logits. */
START_TEST(test_chunk_scratch_given_back)
{
    enum { ROWS = 256, D = 16, V = 4096, CHUNK = 256 };
    for (int run = 0; run < 2; run++) {
        const tg_dtype dt = run ? TG_BF16 : TG_F32;
        tg_tensor *h = leaf(TG_SHAPE(ROWS, D), 90, 1), *w = leaf(TG_SHAPE(V, D), 91, 0.3);
        tg_tensor *t = tg_tensor_empty(TG_STEP, TG_SHAPE(ROWS), TG_S32);
        for (int i = 0; i < ROWS; i++) tg_s32(t)[i] = (i * 37) % V;
        tg_arena *arena = tg_ctx_arena(tg_ctx_current());
        const size_t before = tg_arena_used(arena);
        tg_tensor *loss = tg_linear_cross_entropy(h, w, t, NULL, dt, CHUNK);
        ck_assert_msg(loss != NULL, "%s", tg_last_error());
        const size_t kept = tg_arena_used(arena) - before, logits = (size_t)CHUNK * V * sizeof(float);
        const size_t grads = (size_t)(ROWS + V) * D * sizeof(float); /* dh and dw */
        ck_assert_msg(kept < grads + logits / 4, "%s forward kept %zu arena bytes (dh + dw %zu, logits %zu)",
                      tg_dtype_name(dt), kept, grads, logits);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_step_end();
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("linear_ce");
    TCase *tc = tcase_create("linear_ce");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_loop_test(tc, test_matches_unfused, 0, N_CASES);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_loop_test(tc, test_bf16_compute, 0, N_CASES);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_fresh_and_empty);
    tcase_add_test(tc, test_chunk_scratch_given_back);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
