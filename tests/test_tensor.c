/* tensor/: shapes, creation, fills, dtype conversion, RNG, arena, context. */
#include <string.h>

#include "tests/tg_test.h"

START_TEST(test_shape_and_create)
{
    tg_tensor *t = tg_full(TG_PERSIST, TG_SHAPE(2, 3, 4), TG_F32, 1.5);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_tensor_ndim(t), 3);
    ck_assert_int_eq(tg_tensor_numel(t), 24);
    ck_assert_int_eq(tg_tensor_dim(t, -1), 4);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(tg_f32(t)[i], 1.5f);
    char buf[64];
    ck_assert_str_eq(tg_shape_str(tg_tensor_shape(t), buf, sizeof buf), "(2, 3, 4)");
    tg_tensor_free(t);

    tg_tensor *s = tg_zeros(TG_STEP, TG_SCALAR_SHAPE, TG_F32);
    ck_assert_int_eq(tg_tensor_numel(s), 1);
    ck_assert_double_eq(tg_item(s), 0.0);
}
END_TEST

START_TEST(test_arange_and_buffer)
{
    tg_tensor *a = tg_arange(TG_STEP, 5, 2.0, 0.5, TG_F32);
    float want[] = {2.0f, 2.5f, 3.0f, 3.5f, 4.0f};
    tg_assert_close_buf(a, want, 5, 0, 0, "arange");
    int32_t idx[] = {3, 1, 4, 1, 5, 9};
    tg_tensor *b = tg_from_buffer(TG_STEP, TG_SHAPE(2, 3), TG_S32, idx);
    ck_assert_int_eq(tg_s32(b)[5], 9);
    ck_assert_double_eq(tg_tensor_get(b, 2), 4.0);
}
END_TEST

START_TEST(test_bad_shapes)
{
    tg_shape bad = {.ndim = 9};
    ck_assert_ptr_null(tg_tensor_new(TG_STEP, bad, TG_F32));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "rank 9"));
    ck_assert_ptr_null(tg_tensor_new(TG_STEP, TG_SHAPE(2, -1), TG_F32));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "negative"));
    tg_tensor *t = tg_zeros(TG_STEP, TG_SHAPE(2, 3), TG_F32);
    tg_assert_error(tg_tensor_reshape_(t, TG_SHAPE(4, 2)), TG_ERR_SHAPE, "cannot view (2, 3) as (4, 2)");
    ck_assert_int_eq(tg_tensor_reshape_(t, TG_SHAPE(3, 2)), TG_OK);
    tg_assert_error(tg_copy_from(t, "xx", 2), TG_ERR_SHAPE, "2 bytes given");
}
END_TEST

START_TEST(test_bf16_conversion)
{
    float vals[] = {1.0f, -2.5f, 3.14159f, 1e-3f, 65504.0f, 0.0f};
    tg_tensor *f = tg_from_buffer(TG_STEP, TG_SHAPE(6), TG_F32, vals);
    tg_tensor *h = tg_tensor_to(TG_STEP, f, TG_BF16);
    tg_tensor *back = tg_tensor_to(TG_STEP, h, TG_F32);
    tg_assert_close(back, f, 0, 1.0 / 128, "bf16 round trip");
    /* round to nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 */
    ck_assert_uint_eq(tg_f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
    ck_assert_uint_eq(tg_f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    tg_tensor *i = tg_tensor_to(TG_STEP, f, TG_S32);
    ck_assert_int_eq(tg_s32(i)[1], -2);
}
END_TEST

START_TEST(test_rng_independent_of_threads)
{
    tg_tensor *a = tg_randn(TG_STEP, TG_SHAPE(300, 301), TG_F32, 42, 0.0, 1.0);
    tg_ctx_set_threads(tg_ctx_current(), 1);
    tg_tensor *b = tg_randn(TG_STEP, TG_SHAPE(300, 301), TG_F32, 42, 0.0, 1.0);
    ck_assert_int_eq(memcmp(tg_f32(a), tg_f32(b), tg_tensor_nbytes(a)), 0);
    double mean = 0, var = 0;
    int64_t n = tg_tensor_numel(a);
    for (int64_t i = 0; i < n; i++) mean += tg_f32(a)[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (tg_f32(a)[i] - mean) * (tg_f32(a)[i] - mean);
    var /= (double)n;
    ck_assert_double_le(fabs(mean), 0.01);
    ck_assert_double_le(fabs(var - 1.0), 0.02);
    tg_tensor *u = tg_rand(TG_STEP, TG_SHAPE(1000), TG_F32, 7, -2.0, 3.0);
    for (int i = 0; i < 1000; i++) ck_assert(tg_f32(u)[i] >= -2.0f && tg_f32(u)[i] < 3.0f);
    tg_tensor *c = tg_randn(TG_STEP, TG_SHAPE(10), TG_F32, 43, 0.0, 1.0);
    ck_assert_int_ne(memcmp(tg_f32(a), tg_f32(c), 40), 0);
}
END_TEST

START_TEST(test_arena_reset_reuses_memory)
{
    tg_arena *a = tg_arena_create(1024);
    void *first = tg_arena_alloc(a, 100);
    ck_assert_uint_eq((uintptr_t)first % 64, 0);
    for (int i = 0; i < 100; i++) ck_assert_ptr_nonnull(tg_arena_alloc(a, 1000)); /* overflow */
    size_t cap = tg_arena_capacity(a);
    tg_arena_reset(a);
    ck_assert_uint_eq(tg_arena_used(a), 0);
    void *again = tg_arena_alloc(a, 100);
    for (int i = 0; i < 100; i++) tg_arena_alloc(a, 1000);
    ck_assert_uint_le(tg_arena_capacity(a), cap); /* coalesced: no growth */
    tg_arena_mark m = tg_arena_get_mark(a);
    size_t used = tg_arena_used(a);
    tg_arena_alloc(a, 5000);
    tg_arena_rewind(a, m);
    ck_assert_uint_eq(tg_arena_used(a), used);
    (void)again;
    tg_arena_destroy(a);
    tg_arena_destroy(NULL);
}
END_TEST

/* A large chunk starts on a 2 MiB boundary (asked for transparent huge
 * pages on Linux), is usable throughout and survives resets. */
START_TEST(test_arena_large_chunk)
{
    const size_t mb = (size_t)1 << 20;
    tg_arena *a = tg_arena_create(12 * mb);
    unsigned char *p = tg_arena_alloc(a, 12 * mb);
    ck_assert_ptr_nonnull(p);
#ifdef __linux__
    ck_assert_uint_eq((uintptr_t)p % (2 * mb), 0);
#endif
    memset(p, 0x5a, 12 * mb);
    ck_assert_uint_eq(p[12 * mb - 1], 0x5a);
    tg_arena_reset(a);
    ck_assert_ptr_eq(tg_arena_alloc(a, mb), p);
    tg_arena_destroy(a);
}
END_TEST

START_TEST(test_ctx_threads)
{
    tg_ctx *c = tg_ctx_current();
    ck_assert_int_eq(tg_ctx_threads(c), 2);
    tg_assert_error(tg_ctx_set_threads(c, 0), TG_ERR_INVALID, "threads must be >= 1");
    tg_ctx_opts bad = {.threads = -3};
    ck_assert_ptr_null(tg_ctx_create(&bad));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "-3"));
    ck_assert(strlen(tg_cpu_model()) > 0);
}
END_TEST

START_TEST(test_print)
{
    tg_tensor *t = tg_arange(TG_STEP, 4, 0, 1, TG_F32);
    tg_tensor_set_name(t, "x");
    char buf[256] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    tg_tensor_print(t, f, 3);
    fclose(f);
    ck_assert_str_eq(buf, "tensor 'x' (4) f32 [0, 1, 2, ...]\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_shape_and_create);
    tcase_add_test(tc, test_arena_large_chunk);
    tcase_add_test(tc, test_arange_and_buffer);
    tcase_add_test(tc, test_bad_shapes);
    tcase_add_test(tc, test_bf16_conversion);
    tcase_add_test(tc, test_rng_independent_of_threads);
    tcase_add_test(tc, test_arena_reset_reuses_memory);
    tcase_add_test(tc, test_ctx_threads);
    tcase_add_test(tc, test_print);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
