/* autograd/ops/attention*.c: fused scaled-dot-product attention against the
 * library's plain O(T²) reference (attention_ref.c: forward and gradients,
 * summed in double), PyTorch fixtures,
 * gradchecks, causality, bf16 inputs, thread-count agreement, input errors,
 * O(T) memory at T = 4096, and the packed-qkv form against split heads.
 * The bf16 tile products (autograd/ops/tile_bf16.c) against a double
 * product of the rounded operands, and attention with bf16 products
 * against the reference within bf16 tolerance: those need a CPU with
 * AVX-512 BF16 and run as the entry test_attention_bf16 (skipped
 * elsewhere); test_attention_f32_fallback checks that other CPUs run the
 * f32 tiles for them (skipped where the CPU has the bf16 ones). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops/tile_bf16.h"
#include "tests/tg_test.h"

typedef struct attn_case {
    int64_t B, H, T, D;
    bool causal;
    int n_len; /* 0: lengths NULL, else B entries in len */
    int32_t len[2];
    double scale; /* 0: 1/sqrt(Dh) */
} attn_case;

static const attn_case cases[] = {
    {1, 1, 1, 1, false, 0, {0}, 0},         {1, 1, 1, 1, true, 1, {1}, 0},
    {1, 1, 5, 3, false, 0, {0}, 0},         {1, 1, 5, 3, true, 0, {0}, 0},
    {1, 1, 5, 3, false, 1, {0}, 0}, /* every key masked: zeros */
    {2, 2, 17, 8, false, 2, {3, 17}, 0},    {2, 2, 17, 8, true, 2, {0, 11}, 0},
    {1, 3, 33, 16, true, 0, {0}, 0.3},      {1, 3, 33, 16, false, 0, {0}, 2.0},
    {2, 1, 64, 32, false, 2, {64, 0}, 0},   {2, 1, 64, 32, true, 0, {0}, 0},
    {1, 2, 130, 8, true, 0, {0}, 0},        {1, 2, 130, 8, false, 1, {100}, 0.5},
    {2, 1, 70, 4, true, 2, {70, 65}, 0},    /* lengths inside the second block */
    {2, 3, 100, 32, true, 2, {100, 37}, 0}, /* big enough for the parallel per-head backward */
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))
/* gradcheck covers all but the last (large) case, which relies on the
 * reference gradients */
#define N_GRADCHECK (N_CASES - 1)

static tg_shape case_shape(const attn_case *c) { return TG_SHAPE(c->B, c->H, c->T, c->D); }

static tg_tensor *case_lengths(const attn_case *c)
{
    return c->n_len ? tg_from_buffer(TG_STEP, TG_SHAPE(c->B), TG_S32, c->len) : NULL;
}

/* ---- the reference: tg_attention_ref_forward / _backward (attention_ref.c) ---- */

/* out, then dq, dk, dv when dout is given, of the reference for case c on
 * q, k, v (4 · numel floats; the caller frees). */
static float *reference(const attn_case *c, const int32_t *len, const float *q, const float *k, const float *v,
                        const float *dout)
{
    const tg_attention_ref_args a = {c->B, c->H, c->T, c->D, c->causal, len, c->scale};
    const size_t n = (size_t)(c->B * c->H * c->T * c->D);
    float *ref = calloc(4 * n, sizeof(float)), *att = malloc(sizeof(float) * (size_t)(c->B * c->H * c->T * c->T + 1));
    ck_assert_ptr_nonnull(ref);
    ck_assert_ptr_nonnull(att);
    tg_attention_ref_forward(ref, att, q, k, v, &a);
    if (dout) tg_attention_ref_backward(ref + n, ref + 2 * n, ref + 3 * n, dout, att, q, k, v, &a);
    free(att);
    return ref;
}

static tg_tensor *randn_leaf(tg_shape s, uint64_t seed)
{
    tg_tensor *t = tg_randn(TG_STEP, s, TG_F32, seed, 0.0, 1.0);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

/* ---- forward and gradients against the reference ---- */

/* Attention of case c in `compute` on q, k, v leaves drawn from seeds[0..2]
 * and backward from an output gradient drawn from seeds[3]: got = out, dq,
 * dk, dv; returns the reference in the same order (4 · numel(q) floats, the
 * caller frees). */
static float *run_with_reference(const attn_case *c, const uint64_t seeds[4], tg_dtype compute, tg_tensor *got[4],
                                 const char *what)
{
    tg_tensor *q = randn_leaf(case_shape(c), seeds[0]), *k = randn_leaf(case_shape(c), seeds[1]),
              *v = randn_leaf(case_shape(c), seeds[2]);
    tg_tensor *dout = tg_randn(TG_STEP, case_shape(c), TG_F32, seeds[3], 0.0, 1.0);
    tg_tensor *len = case_lengths(c);
    tg_tensor *out = tg_attention_with(q, k, v, c->causal, len, c->scale, &(tg_attention_opts){.compute = compute});
    ck_assert_msg(out != NULL, "%s: %s", what, tg_last_error());
    ck_assert_int_eq(tg_backward_with(out, &(tg_backward_opts){.seed = dout}), TG_OK);
    float *ref = reference(c, len ? tg_s32(len) : NULL, tg_f32(q), tg_f32(k), tg_f32(v), tg_f32(dout));
    got[0] = out, got[1] = tg_tensor_grad(q), got[2] = tg_tensor_grad(k), got[3] = tg_tensor_grad(v);
    return ref;
}

START_TEST(test_matches_reference)
{
    const uint64_t i = (uint64_t)_i, seeds[4] = {100 + i, 200 + i, 300 + i, 400 + i};
    char what[32];
    snprintf(what, sizeof what, "case %d", _i);
    tg_tensor *got[4];
    float *ref = run_with_reference(&cases[_i], seeds, TG_F32, got, what);
    const int64_t n = tg_tensor_numel(got[0]);
    tg_assert_close_buf(got[0], ref, n, 1e-5, 1e-4, "out");
    tg_assert_close_buf(got[1], ref + n, n, 1e-4, 1e-3, "dq");
    tg_assert_close_buf(got[2], ref + 2 * n, n, 1e-4, 1e-3, "dk");
    tg_assert_close_buf(got[3], ref + 3 * n, n, 1e-4, 1e-3, "dv");
    free(ref);
}
END_TEST

static tg_tensor *attention_fn(tg_tensor *const *in, int n_in, void *user)
{
    (void)n_in;
    const attn_case *c = user;
    return tg_attention(in[0], in[1], in[2], c->causal, case_lengths(c), c->scale);
}

START_TEST(test_gradcheck)
{
    const attn_case *c = &cases[_i];
    tg_tensor *in[3];
    for (int i = 0; i < 3; i++) in[i] = randn_leaf(case_shape(c), 500 + 10 * (uint64_t)_i + (uint64_t)i);
    /* larger cases: 64 sampled elements per input plus directional checks */
    tg_gradcheck_opts o = {.max_elems = 64, .directions = 2, .seed = 7};
    char what[64];
    snprintf(what, sizeof what, "attention case %d", _i);
    tg_assert_gradcheck(attention_fn, in, 3, (void *)c, &o, what);
}
END_TEST

/* ---- PyTorch fixtures ---- */

START_TEST(test_fixtures)
{
    json_t *root = tg_fixture_load("attention");
    const char *name;
    json_t *cs;
    int n = 0;
    json_object_foreach(root, name, cs)
    {
        const json_t *ins = json_object_get(cs, "inputs");
        tg_tensor *in[4] = {NULL};
        const int n_in = (int)json_array_size(ins);
        for (int i = 0; i < n_in; i++) {
            in[i] = tg_fixture_tensor(json_array_get(ins, (size_t)i));
            if (i < 3) tg_tensor_set_requires_grad(in[i], true);
        }
        tg_tensor *out = tg_attention(in[0], in[1], in[2], json_is_true(json_object_get(cs, "causal")), in[3],
                                      json_number_value(json_object_get(cs, "scale")));
        char what[96];
        snprintf(what, sizeof what, "%s: out", name);
        tg_assert_close(out, tg_fixture_tensor(json_object_get(cs, "output")), 1e-5, 1e-4, what);
        const tg_backward_opts bo = {.seed = tg_fixture_tensor(json_object_get(cs, "seed"))};
        ck_assert_int_eq(tg_backward_with(out, &bo), TG_OK);
        static const char *gn[3] = {"dq", "dk", "dv"};
        for (int i = 0; i < 3; i++) {
            snprintf(what, sizeof what, "%s: %s", name, gn[i]);
            tg_assert_close(tg_tensor_grad(in[i]),
                            tg_fixture_tensor(json_array_get(json_object_get(cs, "grads"), (size_t)i)), 1e-4, 1e-3,
                            what);
        }
        tg_step_end();
        n++;
    }
    ck_assert_int_ge(n, 5);
    json_decref(root);
}
END_TEST

/* ---- properties ---- */

START_TEST(test_causal_ignores_future_keys)
{
    const tg_shape s = TG_SHAPE(1, 2, 150, 8);
    const int64_t T = 150, D = 8, cut = 70;
    tg_tensor *q = tg_randn(TG_STEP, s, TG_F32, 1, 0, 1), *k = tg_randn(TG_STEP, s, TG_F32, 2, 0, 1),
              *v = tg_randn(TG_STEP, s, TG_F32, 3, 0, 1);
    tg_tensor *a = tg_attention(q, k, v, true, NULL, 0);
    ck_assert_ptr_nonnull(a);
    /* new keys and values after position `cut` in both heads */
    for (int64_t h = 0; h < 2; h++)
        for (int64_t i = (h * T + cut + 1) * D; i < (h + 1) * T * D; i++) {
            tg_f32(k)[i] = 5.0f * sinf((float)i);
            tg_f32(v)[i] = -3.0f;
        }
    tg_tensor *b = tg_attention(q, k, v, true, NULL, 0);
    ck_assert_ptr_nonnull(b);
    for (int64_t h = 0; h < 2; h++)
        for (int64_t i = h * T * D; i < h * T * D + T * D; i++) {
            const bool past = i - h * T * D < (cut + 1) * D;
            if (past) ck_assert_float_eq(tg_f32(a)[i], tg_f32(b)[i]);
        }
    /* and the later rows did change (the test can fail) */
    ck_assert_float_ne(tg_f32(a)[(T - 1) * D], tg_f32(b)[(T - 1) * D]);
}
END_TEST

/* bf16 q, k, v give what their f32 copies give, to the bit: with f32
 * products (widened) and with bf16 ones (the tiles copy what they would
 * round), split and packed, for a sequence that keeps P and one that
 * recomputes it. */
static void check_bf16_inputs(const attn_case *c, tg_dtype compute, bool packed, uint64_t seed)
{
    const tg_shape s = packed ? TG_SHAPE(c->B, c->T, 3 * c->H * c->D) : case_shape(c);
    const int n = packed ? 1 : 3;
    tg_tensor *in32[3], *in16[3];
    for (int i = 0; i < n; i++) {
        /* f32 values that bf16 holds exactly, so both paths see the same numbers */
        in16[i] = tg_randn(TG_STEP, s, TG_BF16, seed + (uint64_t)i, 0, 1);
        in32[i] = tg_tensor_to(TG_STEP, in16[i], TG_F32);
        tg_tensor_set_requires_grad(in16[i], true);
        tg_tensor_set_requires_grad(in32[i], true);
    }
    tg_tensor *len = case_lengths(c), *o[2];
    for (int k = 0; k < 2; k++) {
        tg_tensor **in = k ? in32 : in16;
        o[k] = packed ? tg_attention_qkv_with(in[0], c->H, c->causal, len, 0, &(tg_attention_opts){.compute = compute})
                      : tg_attention_with(in[0], in[1], in[2], c->causal, len, 0,
                                          &(tg_attention_opts){.compute = compute});
        ck_assert_msg(o[k], "%s", tg_last_error());
    }
    ck_assert_int_eq(tg_tensor_dtype(o[0]), TG_F32);
    tg_assert_close(o[0], o[1], 0, 0, "bf16 inputs: out");
    tg_tensor *dy = tg_randn(TG_STEP, *tg_tensor_shape(o[0]), TG_F32, seed + 9, 0, 1);
    /* o[1] shares the tape */
    ck_assert_int_eq(tg_backward_with(o[0], &(tg_backward_opts){.seed = dy, .retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward_with(o[1], &(tg_backward_opts){.seed = dy}), TG_OK);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(tg_tensor_dtype(tg_tensor_grad(in16[i])), TG_F32);
        tg_assert_close(tg_tensor_grad(in16[i]), tg_tensor_grad(in32[i]), 0, 0, "bf16 inputs: grad");
    }
    tg_step_end();
}

/* check_bf16_inputs for both sequences, split and packed, with products
 * in compute. */
static void check_bf16_inputs_all(tg_dtype compute)
{
    static const attn_case cs[2] = {{2, 2, 40, 16, true, 2, {40, 23}, 0}, {2, 3, 100, 32, true, 2, {100, 37}, 0}};
    const int bf16 = compute == TG_BF16 ? 2 : 0;
    for (int i = 0; i < 8; i++)
        if ((i & 2) == bf16) check_bf16_inputs(&cs[i & 1], compute, i & 4, 40 + 10 * (uint64_t)i);
}

START_TEST(test_bf16_inputs) { check_bf16_inputs_all(TG_F32); }
END_TEST

START_TEST(test_bf16_inputs_bf16_products) { check_bf16_inputs_all(TG_BF16); }
END_TEST

/* One thread runs the one-pass per-head backward; two threads on few heads
 * split the work by key blocks then query blocks, and on many heads share
 * the heads out. All must agree. */
static const attn_case thread_cases[] = {
    {1, 3, 130, 24, true, 1, {121}, 0},    /* 3 heads, 2 threads: split */
    {2, 2, 96, 48, false, 2, {96, 50}, 0}, /* 4 heads, 2 threads: per head */
};

START_TEST(test_threads_agree)
{
    const attn_case *c = &thread_cases[_i];
    tg_tensor *grads[2][4];
    for (int run = 0; run < 2; run++) {
        ck_assert_int_eq(tg_ctx_set_threads(tg_ctx_current(), run ? 2 : 1), TG_OK);
        tg_tensor *in[3];
        for (int i = 0; i < 3; i++) in[i] = randn_leaf(case_shape(c), 60 + (uint64_t)i);
        tg_tensor *out = tg_attention(in[0], in[1], in[2], c->causal, case_lengths(c), 0);
        tg_tensor *dy = tg_randn(TG_STEP, case_shape(c), TG_F32, 64, 0, 1);
        ck_assert_int_eq(tg_backward_with(out, &(tg_backward_opts){.seed = dy}), TG_OK);
        grads[run][0] = out;
        for (int i = 0; i < 3; i++) grads[run][i + 1] = tg_tensor_grad(in[i]);
    }
    for (int i = 0; i < 4; i++) tg_assert_close(grads[1][i], grads[0][i], 1e-6, 1e-5, "1 vs 2 threads");
}
END_TEST

START_TEST(test_no_grad_forward)
{
    const attn_case c = {1, 1, 9, 4, false, 1, {6}, 0};
    tg_tensor *q = randn_leaf(case_shape(&c), 70), *k = randn_leaf(case_shape(&c), 71),
              *v = randn_leaf(case_shape(&c), 72);
    bool prev = tg_grad_set_enabled(false);
    tg_tensor *out = tg_attention(q, k, v, c.causal, case_lengths(&c), 0);
    tg_grad_set_enabled(prev);
    ck_assert_ptr_nonnull(out);
    ck_assert(!tg_tensor_requires_grad(out));
    ck_assert_uint_eq(tg_tape_size(), 0);
    float *ref = reference(&c, c.len, tg_f32(q), tg_f32(k), tg_f32(v), NULL);
    tg_assert_close_buf(out, ref, 36, 1e-5, 1e-4, "no-grad out");
    free(ref);
}
END_TEST

/* ---- packed qkv ---- */

/* The split-heads reference for a packed qkv (B, T, 3·H·Dh): reshape,
 * permute and slice into q, k, v (B, H, T, Dh), attend, merge heads. */
static tg_tensor *split_heads_attention(const tg_tensor *qkv, const attn_case *c)
{
    tg_tensor *h = tg_permute(tg_reshape(qkv, TG_SHAPE(c->B, c->T, 3, c->H, c->D)), (int[]){2, 0, 3, 1, 4});
    tg_tensor *q = tg_reshape(tg_slice(h, 0, 0, 1), case_shape(c));
    tg_tensor *k = tg_reshape(tg_slice(h, 0, 1, 2), case_shape(c));
    tg_tensor *v = tg_reshape(tg_slice(h, 0, 2, 3), case_shape(c));
    tg_tensor *y = tg_attention(q, k, v, c->causal, case_lengths(c), c->scale);
    return tg_reshape(tg_permute(y, (int[]){0, 2, 1, 3}), TG_SHAPE(c->B, c->T, c->H * c->D));
}

START_TEST(test_packed_matches_split)
{
    const attn_case *c = &cases[_i];
    const tg_shape s = TG_SHAPE(c->B, c->T, 3 * c->H * c->D), so = TG_SHAPE(c->B, c->T, c->H * c->D);
    tg_tensor *a = randn_leaf(s, 800 + (uint64_t)_i), *b = tg_tensor_to(TG_STEP, a, TG_F32);
    tg_tensor_set_requires_grad(b, true);
    tg_tensor *seed = tg_randn(TG_STEP, so, TG_F32, 900 + (uint64_t)_i, 0, 1);
    tg_tensor *packed = tg_attention_qkv(a, c->H, c->causal, case_lengths(c), c->scale);
    tg_tensor *split = split_heads_attention(b, c);
    ck_assert_msg(packed && split, "case %d: %s", _i, tg_last_error());
    ck_assert(tg_shape_equal(tg_tensor_shape(packed), &so));
    tg_assert_close(packed, split, 1e-6, 1e-5, "packed out");
    ck_assert_int_eq(tg_backward_with(packed, &(tg_backward_opts){.seed = seed, .retain_graph = true}), TG_OK);
    ck_assert_int_eq(tg_backward_with(split, &(tg_backward_opts){.seed = seed}), TG_OK);
    tg_assert_close(tg_tensor_grad(a), tg_tensor_grad(b), 1e-6, 1e-5, "packed dqkv");
}
END_TEST

typedef struct packed_user {
    const attn_case *c;
} packed_user;

static tg_tensor *packed_fn(tg_tensor *const *in, int n_in, void *user)
{
    (void)n_in;
    const attn_case *c = ((packed_user *)user)->c;
    return tg_attention_qkv(in[0], c->H, c->causal, case_lengths(c), c->scale);
}

START_TEST(test_packed_gradcheck)
{
    packed_user u = {&cases[6]}; /* causal, two heads, lengths 0 and 11 */
    tg_tensor *qkv = randn_leaf(TG_SHAPE(u.c->B, u.c->T, 3 * u.c->H * u.c->D), 950);
    tg_gradcheck_opts o = {.max_elems = 64, .directions = 2, .seed = 9};
    tg_assert_gradcheck(packed_fn, &qkv, 1, &u, &o, "packed attention");
}
END_TEST

static void expect_error(const tg_tensor *t, const char *needle);

START_TEST(test_packed_errors)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(1, 4, 10), TG_F32, 1, 0, 1);
    expect_error(tg_attention_qkv(x, 2, true, NULL, 0), "qkv must be (B, T, 3·2·Dh)");
    expect_error(tg_attention_qkv(x, 0, true, NULL, 0), "need heads >= 1");
    const tg_attention_opts s32 = {.compute = TG_S32};
    tg_tensor *q = tg_zeros(TG_STEP, TG_SHAPE(1, 1, 4, 2), TG_F32), *qkv = tg_zeros(TG_STEP, TG_SHAPE(1, 4, 6), TG_F32);
    expect_error(tg_attention_qkv_with(qkv, 1, true, NULL, 0, &s32),
                 "tg_attention_qkv: compute dtype must be f32 or bf16");
    expect_error(tg_attention_with(q, q, q, true, NULL, 0, &s32), "tg_attention: compute dtype must be f32 or bf16");
}
END_TEST

/* ---- bf16 tile products and attention with them ---- */

static float bf16_round(float x) { return tg_bf16_to_f32(tg_f32_to_bf16(x)); }

static void *garbage_alloc(size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    ck_assert_ptr_nonnull(p);
    memset(p, 0xff, bytes); /* NaN bit patterns: packing must overwrite every value the products read */
    return p;
}

static void fill_uniform(float *x, int64_t n, unsigned seed)
{
    srand(seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
}

/* m × n × K products: row-major and transposed `a`, `b` packed from b and
 * from bᵀ, accumulating and overwriting. */
static const int tile_shapes[][3] = {{1, 1, 1},    {4, 16, 2},  {5, 7, 3},   {64, 64, 64},
                                     {13, 70, 33}, {64, 5, 65}, {3, 130, 9}, {17, 64, 128}};

START_TEST(test_tile_products)
{
    const int m = tile_shapes[_i][0], n = tile_shapes[_i][1], K = tile_shapes[_i][2];
    const int kp = (K + 1) / 2, npad = (n + 15) / 16 * 16, mpad = (m + 15) / 16 * 16;
    float *A = malloc(sizeof(float) * (size_t)(m * K)), *At = malloc(sizeof(float) * (size_t)(m * K));
    float *B = malloc(sizeof(float) * (size_t)(K * n)), *Bt = malloc(sizeof(float) * (size_t)(K * n));
    float *C = malloc(sizeof(float) * (size_t)(m * n)), *C0 = malloc(sizeof(float) * (size_t)(m * n));
    fill_uniform(A, m * K, 1u + (unsigned)_i);
    fill_uniform(B, K * n, 2u + (unsigned)_i);
    fill_uniform(C0, m * n, 3u + (unsigned)_i);
    for (int i = 0; i < m; i++)
        for (int k = 0; k < K; k++) At[k * m + i] = A[i * K + k];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < n; j++) Bt[j * K + k] = B[k * n + j];
    const size_t bn = sizeof(uint16_t) * (size_t)(kp * npad * 2);
    uint16_t *a = garbage_alloc(sizeof(uint16_t) * (size_t)(m * 2 * kp));
    uint16_t *at = garbage_alloc(sizeof(uint16_t) * (size_t)(kp * mpad * 2));
    uint16_t *b = garbage_alloc(bn), *bt = garbage_alloc(bn);
    tg_tile_pack_rows(a, 2 * kp, A, K, m, K);
    tg_tile_pack_pairs(at, mpad, At, m, K, m);
    tg_tile_pack_pairs(b, npad, B, n, K, n);
    tg_tile_pack_pairs_t(bt, npad, Bt, K, n, K);
    ck_assert_msg(memcmp(b, bt, bn) == 0, "b packed from b and from bᵀ differ");
    /* from bf16 sources the packers copy the values the f32 ones round to */
    uint16_t *A16 = malloc(sizeof(uint16_t) * (size_t)(m * K)), *B16 = malloc(sizeof(uint16_t) * (size_t)(K * n)),
             *Bt16 = malloc(sizeof(uint16_t) * (size_t)(K * n));
    tg_f32_to_bf16_n(A16, A, m * K);
    tg_f32_to_bf16_n(B16, B, K * n);
    tg_f32_to_bf16_n(Bt16, Bt, K * n);
    uint16_t *a16 = garbage_alloc(sizeof(uint16_t) * (size_t)(m * 2 * kp)), *b16 = garbage_alloc(bn),
             *bt16 = garbage_alloc(bn);
    tg_tile_pack_rows_bf16(a16, 2 * kp, A16, K, m, K);
    tg_tile_pack_pairs_bf16(b16, npad, B16, n, K, n);
    tg_tile_pack_pairs_t_bf16(bt16, npad, Bt16, K, n, K);
    ck_assert_msg(memcmp(a16, a, sizeof(uint16_t) * (size_t)(m * 2 * kp)) == 0, "rows from bf16 differ");
    ck_assert_msg(memcmp(b16, b, bn) == 0, "pairs from bf16 differ");
    ck_assert_msg(memcmp(bt16, b, bn) == 0, "transposed pairs from bf16 differ");
    free(A16), free(B16), free(Bt16), free(a16), free(b16), free(bt16);
    float *Bu = garbage_alloc(sizeof(float) * (size_t)(K * (n + 1)));
    tg_tile_unpack_pairs(Bu, n + 1, b, npad, K, n); /* rows n + 1 apart: the gap column stays */
    for (int k = 0; k < K; k++) {
        for (int j = 0; j < n; j++)
            ck_assert_msg(Bu[k * (n + 1) + j] == bf16_round(B[k * n + j]), "unpacked b[%d][%d] = %g, want %g", k, j,
                          Bu[k * (n + 1) + j], bf16_round(B[k * n + j]));
        ck_assert_msg(memcmp(&Bu[k * (n + 1) + n], &(uint32_t){0xffffffffu}, 4) == 0,
                      "unpack wrote past column %d of row %d", n, k);
    }
    free(Bu);
    for (int form = 0; form < 4; form++) {
        const bool transposed = form & 1, acc = form & 2;
        memcpy(C, C0, sizeof(float) * (size_t)(m * n));
        if (transposed)
            tg_tile_bf16_mm(C, n, at, 1, mpad, b, npad, m, n, kp, acc);
        else
            tg_tile_bf16_mm(C, n, a, kp, 1, b, npad, m, n, kp, acc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double want = acc ? C0[i * n + j] : 0.0;
                for (int k = 0; k < K; k++) want += (double)bf16_round(A[i * K + k]) * bf16_round(B[k * n + j]);
                ck_assert_msg(fabs(C[i * n + j] - want) <= 1e-5 * (1.0 + fabs(want)),
                              "%d×%d×%d form %d: c[%d][%d] = %.7g, want %.7g", m, n, K, form, i, j, C[i * n + j], want);
            }
    }
    free(A), free(At), free(B), free(Bt), free(C), free(C0), free(a), free(at), free(b), free(bt);
}
END_TEST

/* ||got - want|| / ||want|| (the plain norm when want is 0). */
static double rel_l2(const float *got, const float *want, int64_t n)
{
    double d = 0, w = 0;
    for (int64_t i = 0; i < n; i++) {
        d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        w += (double)want[i] * want[i];
    }
    return w > 0 ? sqrt(d / w) : sqrt(d);
}

/* Output and gradients of attention with bf16 products, on f32 inputs,
 * against the double reference: within what rounding q, k, v, P and the
 * gradients entering the products to 8 significant bits allows (measured
 * up to 1.4% for the peaky scale-2 case, 0.4% typically; a wrong tile
 * would be off by order 1). */
static void check_bf16_attention(const attn_case *c, uint64_t seed, const char *what)
{
    const uint64_t seeds[4] = {seed, seed + 1, seed + 2, seed + 3};
    tg_tensor *got[4];
    float *ref = run_with_reference(c, seeds, TG_BF16, got, what);
    const int64_t n = tg_tensor_numel(got[0]);
    static const char *names[4] = {"out", "dq", "dk", "dv"};
    for (int i = 0; i < 4; i++) {
        const double e = rel_l2(tg_f32(got[i]), ref + i * n, n);
        ck_assert_msg(e < 3e-2, "%s: %s relative L2 error %.3g", what, names[i], e);
    }
    free(ref);
}

/* Short sequences with wide heads (cases 9, 10, 14; thread case 1) keep P
 * from forward for backward; the others recompute it tile by tile. */
START_TEST(test_bf16_compute_matches_reference)
{
    char what[64];
    snprintf(what, sizeof what, "bf16 case %d", _i);
    check_bf16_attention(&cases[_i], 1000 + 10 * (uint64_t)_i, what);
}
END_TEST

/* Two threads on few heads take the split backward, on many the per-head
 * one that packs each head's tiles once; one thread always the latter. */
START_TEST(test_bf16_compute_threads)
{
    for (int threads = 1; threads <= 2; threads++) {
        ck_assert_int_eq(tg_ctx_set_threads(tg_ctx_current(), threads), TG_OK);
        check_bf16_attention(&thread_cases[_i], 1100 + (uint64_t)_i, threads == 1 ? "1 thread" : "2 threads");
    }
}
END_TEST

/* Without a backward to follow, bf16 attention gives the very output of a
 * recording forward (kept-P case and recomputing case alike). */
START_TEST(test_bf16_no_grad_same_output)
{
    static const attn_case cs[2] = {{2, 3, 100, 32, true, 2, {100, 37}, 0}, {1, 2, 130, 8, true, 0, {0}, 0}};
    for (int i = 0; i < 2; i++) {
        const attn_case *c = &cs[i];
        tg_tensor *qkv = randn_leaf(TG_SHAPE(c->B, c->T, 3 * c->H * c->D), 1300 + (uint64_t)i);
        tg_tensor *len = case_lengths(c);
        tg_tensor *y = tg_attention_qkv_with(qkv, c->H, c->causal, len, 0, &(tg_attention_opts){.compute = TG_BF16});
        bool prev = tg_grad_set_enabled(false);
        tg_tensor *y0 = tg_attention_qkv_with(qkv, c->H, c->causal, len, 0, &(tg_attention_opts){.compute = TG_BF16});
        tg_grad_set_enabled(prev);
        ck_assert_ptr_nonnull(y);
        ck_assert_ptr_nonnull(y0);
        tg_assert_close(y0, y, 0, 0, "no-grad bf16 output");
    }
}
END_TEST

/* The bf16 products really round: the output moves off the f32 one by
 * about bf16's precision. */
START_TEST(test_bf16_compute_rounds)
{
    const attn_case c = {1, 2, 80, 24, true, 0, {0}, 0};
    tg_tensor *qkv = randn_leaf(TG_SHAPE(c.B, c.T, 3 * c.H * c.D), 1200);
    tg_tensor *y16 = tg_attention_qkv_with(qkv, c.H, c.causal, NULL, 0, &(tg_attention_opts){.compute = TG_BF16});
    tg_tensor *y32 = tg_attention_qkv(qkv, c.H, c.causal, NULL, 0);
    ck_assert_ptr_nonnull(y16);
    const double e = rel_l2(tg_f32(y16), tg_f32(y32), tg_tensor_numel(y32));
    ck_assert_msg(e > 1e-4 && e < 1e-2, "bf16 vs f32 products differ by %.3g", e);
}
END_TEST

/* ---- errors ---- */

static void expect_error(const tg_tensor *t, const char *needle)
{
    ck_assert_msg(t == NULL, "expected an error mentioning '%s'", needle);
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error message '%s' lacks '%s'", tg_last_error(), needle);
}

START_TEST(test_empty_sequence)
{
    const attn_case c = {2, 1, 0, 4, true, 2, {0, 0}, 0};
    tg_tensor *q = randn_leaf(case_shape(&c), 90), *k = randn_leaf(case_shape(&c), 91),
              *v = randn_leaf(case_shape(&c), 92);
    tg_tensor *out = tg_attention(q, k, v, c.causal, case_lengths(&c), 0);
    ck_assert_msg(out != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_tensor_numel(out), 0);
    tg_tensor *dy = tg_zeros(TG_STEP, case_shape(&c), TG_F32);
    ck_assert_int_eq(tg_backward_with(out, &(tg_backward_opts){.seed = dy}), TG_OK);
}
END_TEST

START_TEST(test_errors)
{
    tg_tensor *q = tg_zeros(TG_STEP, TG_SHAPE(2, 1, 17, 4), TG_F32);
    tg_tensor *k3 = tg_zeros(TG_STEP, TG_SHAPE(2, 17, 4), TG_F32);
    tg_tensor *kb = tg_zeros(TG_STEP, TG_SHAPE(2, 1, 16, 4), TG_F32);
    tg_tensor *vs = tg_zeros(TG_STEP, TG_SHAPE(2, 1, 17, 5), TG_F32);
    tg_tensor *s32 = tg_zeros(TG_STEP, TG_SHAPE(2, 1, 17, 4), TG_S32);
    tg_tensor *d0 = tg_zeros(TG_STEP, TG_SHAPE(2, 1, 17, 0), TG_F32);
    expect_error(tg_attention(q, k3, q, false, NULL, 0), "k must be (B, H, T, Dh), got rank 3 (2, 17, 4)");
    expect_error(tg_attention(k3, k3, k3, false, NULL, 0), "q must be (B, H, T, Dh), got rank 3");
    expect_error(tg_attention(q, kb, q, false, NULL, 0), "k shape (2, 1, 16, 4) differs from q shape (2, 1, 17, 4)");
    expect_error(tg_attention(q, q, vs, true, NULL, 0), "v shape (2, 1, 17, 5) differs from q shape");
    expect_error(tg_attention(q, q, s32, false, NULL, 0), "v must be f32 or bf16, got s32");
    expect_error(tg_attention(d0, d0, d0, false, NULL, 0), "head dim Dh must be >= 1");
    expect_error(tg_attention(q, q, q, false, NULL, NAN), "scale must be finite");

    tg_tensor *lf = tg_zeros(TG_STEP, TG_SHAPE(2), TG_F32);
    expect_error(tg_attention(q, q, q, false, lf, 0), "lengths must be s32, got f32");
    tg_tensor *l3 = tg_zeros(TG_STEP, TG_SHAPE(3), TG_S32);
    expect_error(tg_attention(q, q, q, false, l3, 0), "lengths shape (3) must be (B) = (2)");
    tg_tensor *l2d = tg_zeros(TG_STEP, TG_SHAPE(2, 1), TG_S32);
    expect_error(tg_attention(q, q, q, false, l2d, 0), "lengths shape (2, 1) must be (B)");
    tg_tensor *big = tg_from_buffer(TG_STEP, TG_SHAPE(2), TG_S32, (int32_t[]){17, 18});
    expect_error(tg_attention(q, q, q, false, big, 0), "lengths[1] = 18 is outside [0, T = 17]");
    tg_tensor *neg = tg_from_buffer(TG_STEP, TG_SHAPE(2), TG_S32, (int32_t[]){-1, 3});
    expect_error(tg_attention(q, q, q, true, neg, 0), "lengths[0] = -1 is outside");
    /* a NULL from an earlier failure passes through with its message kept */
    ck_assert_ptr_null(tg_attention(NULL, q, q, false, NULL, 0));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "lengths[0] = -1"));
}
END_TEST

/* ---- memory: O(T) at T = 4096 ---- */

START_TEST(test_long_sequence_memory)
{
    const attn_case c = {1, 1, 4096, 64, true, 0, {0}, 0};
    const int64_t T = c.T, D = c.D;
    tg_arena *arena = tg_ctx_arena(tg_ctx_current());
    tg_tensor *q = tg_randn(TG_STEP, case_shape(&c), TG_F32, 80, 0, 1),
              *k = tg_randn(TG_STEP, case_shape(&c), TG_F32, 81, 0, 1),
              *v = tg_randn(TG_STEP, case_shape(&c), TG_F32, 82, 0, 1),
              *seed = tg_randn(TG_STEP, case_shape(&c), TG_F32, 83, 0, 1);
    for (int i = 0; i < 3; i++) tg_tensor_set_requires_grad((tg_tensor *[]){q, k, v}[i], true);
    const size_t before = tg_arena_used(arena);
    tg_tensor *out = tg_attention(q, k, v, true, NULL, 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(tg_backward_with(out, &(tg_backward_opts){.seed = seed}), TG_OK);
    const size_t grown = tg_arena_used(arena) - before;
    /* out, its grad and dq, dk, dv are 5 MiB; a T×T f32 matrix would be 64 MiB */
    const size_t tensors = 5 * (size_t)(T * D) * sizeof(float);
    ck_assert_msg(grown < tensors + (16u << 20), "attention used %zu arena bytes beyond inputs", grown);

    /* the output against the reference on the same numbers */
    float *ref = reference(&c, NULL, tg_f32(q), tg_f32(k), tg_f32(v), NULL);
    tg_assert_close_buf(out, ref, T * D, 1e-4, 0, "T = 4096 out");
    free(ref);
    int64_t bad = 0;
    for (int i = 0; i < 3; i++) {
        const float *g = tg_f32(tg_tensor_grad((tg_tensor *[]){q, k, v}[i]));
        for (int64_t j = 0; j < T * D; j++) bad += !isfinite(g[j]);
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* Attention of case c on a packed qkv (B, T, 3·H·Dh) in compute: packed,
 * or split into q, k, v (B, H, T, Dh) first. */
static tg_tensor *attend(const tg_tensor *qkv, const attn_case *c, tg_dtype compute, bool packed)
{
    const tg_attention_opts o = {.compute = compute};
    if (packed) return tg_attention_qkv_with(qkv, c->H, c->causal, case_lengths(c), c->scale, &o);
    tg_tensor *h = tg_permute(tg_reshape(qkv, TG_SHAPE(c->B, c->T, 3, c->H, c->D)), (int[]){2, 0, 3, 1, 4});
    tg_tensor *q = tg_reshape(tg_slice(h, 0, 0, 1), case_shape(c));
    tg_tensor *k = tg_reshape(tg_slice(h, 0, 1, 2), case_shape(c));
    tg_tensor *v = tg_reshape(tg_slice(h, 0, 2, 3), case_shape(c));
    return tg_attention_with(q, k, v, c->causal, case_lengths(c), c->scale, &o);
}

/* The gradient of qkv (drawn from seed 1300) after attend and a backward
 * from an output gradient drawn from seed 1301; *out gets the output when
 * out is not NULL. */
static tg_tensor *grad_run(const attn_case *c, tg_dtype compute, bool packed, tg_tensor **out)
{
    tg_tensor *x = randn_leaf(TG_SHAPE(c->B, c->T, 3 * c->H * c->D), 1300);
    tg_tensor *y = attend(tg_scale(x, 1.0), c, compute, packed); /* an intermediate: its gradient comes fresh */
    ck_assert_msg(y != NULL, "%s", tg_last_error());
    tg_tensor *seed = tg_randn(TG_STEP, *tg_tensor_shape(y), TG_F32, 1301, 0, 1);
    ck_assert_int_eq(tg_backward_with(y, &(tg_backward_opts){.seed = seed}), TG_OK);
    if (out) *out = y;
    return tg_tensor_grad(x);
}

/* Gradients handed to attention fresh (unzeroed) are written whole: after
 * a step whose arena was filled with NaN, the input's gradient equals the
 * clean run's, for the split and per-head backward, f32 and bf16 tiles,
 * packed and separate q, k, v, with keys past the lengths nobody sees. */
static void check_fresh_grads(const attn_case *c, tg_dtype compute)
{
    ck_assert_int_eq(tg_ctx_set_threads(tg_ctx_current(), 2), TG_OK);
    for (int packed = 0; packed < 2; packed++) {
        tg_tensor *clean = tg_tensor_clone(TG_PERSIST, grad_run(c, compute, packed, NULL));
        tg_step_end();
        ck_assert_ptr_nonnull(tg_full(TG_STEP, TG_SHAPE(1 << 20), TG_F32, NAN));
        tg_step_end();
        tg_tensor *poisoned = grad_run(c, compute, packed, NULL);
        tg_assert_close(poisoned, clean, 0, 0, "gradient after a poisoned arena");
        tg_tensor_free(clean);
        tg_step_end();
    }
}

START_TEST(test_fresh_grads_written) { check_fresh_grads(&thread_cases[_i], TG_F32); }
END_TEST

START_TEST(test_fresh_grads_written_bf16) { check_fresh_grads(&thread_cases[_i], TG_BF16); }
END_TEST

/* Where the CPU has no bf16 tile products, compute bf16 runs the f32
 * tiles: output and gradient are the f32 ones to the bit, split and packed,
 * through the split and the per-head backward. */
START_TEST(test_bf16_compute_falls_back)
{
    for (int packed = 0; packed < 2; packed++) {
        tg_tensor *y32, *y16;
        tg_tensor *g32 = grad_run(&thread_cases[_i], TG_F32, packed, &y32);
        tg_tensor *g16 = grad_run(&thread_cases[_i], TG_BF16, packed, &y16);
        tg_assert_close(y16, y32, 0, 0, "compute bf16 on the f32 tiles: out");
        tg_assert_close(g16, g32, 0, 0, "compute bf16 on the f32 tiles: gradient");
    }
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("attention");
    const bool tiles = tg_tile_bf16_available();
    TCase *tb = tg_tcase_create_needing("bf16", tiles,
                                        "the bf16 tile products need a CPU with AVX-512 BF16, which "
                                        "this one lacks (compute bf16 runs the f32 tiles here)");
    TCase *tf = tg_tcase_create_needing("f32_fallback", !tiles,
                                        "this CPU has the bf16 tile products, so compute "
                                        "bf16 never falls back to the f32 tiles");
    for (TCase **t = (TCase *[]){tc, tb, tf, NULL}; *t; t++) {
        tcase_add_checked_fixture(*t, tg_test_setup, tg_test_teardown);
        tcase_set_timeout(*t, 300);
        suite_add_tcase(s, *t);
    }
    tcase_add_loop_test(tc, test_matches_reference, 0, N_CASES);
    tcase_add_loop_test(tc, test_gradcheck, 0, N_GRADCHECK);
    tcase_add_test(tc, test_fixtures);
    tcase_add_test(tc, test_causal_ignores_future_keys);
    tcase_add_test(tc, test_bf16_inputs);
    tcase_add_loop_test(tc, test_threads_agree, 0, 2);
    tcase_add_test(tc, test_no_grad_forward);
    tcase_add_test(tc, test_empty_sequence);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_long_sequence_memory);
    tcase_add_loop_test(tc, test_packed_matches_split, 0, N_CASES);
    tcase_add_test(tc, test_packed_gradcheck);
    tcase_add_test(tc, test_packed_errors);
    tcase_add_loop_test(tc, test_fresh_grads_written, 0, 2);
    /* bf16 tile products (AVX-512 BF16 only) */
    tcase_add_loop_test(tb, test_tile_products, 0, (int)(sizeof tile_shapes / sizeof tile_shapes[0]));
    tcase_add_test(tb, test_bf16_inputs_bf16_products);
    tcase_add_test(tb, test_bf16_no_grad_same_output);
    tcase_add_loop_test(tb, test_bf16_compute_matches_reference, 0, N_CASES);
    tcase_add_loop_test(tb, test_bf16_compute_threads, 0, 2);
    tcase_add_test(tb, test_bf16_compute_rounds);
    tcase_add_loop_test(tb, test_fresh_grads_written_bf16, 0, 2);
    /* compute bf16 on CPUs without them */
    tcase_add_loop_test(tf, test_bf16_compute_falls_back, 0, 2);
    return tg_test_main(s, argc, argv);
}
