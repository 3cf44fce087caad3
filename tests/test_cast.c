/* f32 <-> bf16 cast: rounding, straight-through gradient, errors. Finite
 * differences cannot check a quantizer (its true derivative is 0 almost
 * everywhere), so the gradient is checked against its definition: identity. */
#include <string.h>

#include "tests/tg_test.h"

START_TEST(test_forward_rounds_to_nearest_even)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(3, 17), TG_F32, 5, 0, 10);
    tg_tensor *h = tg_cast(x, TG_BF16);
    ck_assert_int_eq(tg_tensor_dtype(h), TG_BF16);
    for (int64_t i = 0; i < tg_tensor_numel(x); i++) ck_assert_uint_eq(tg_bf16(h)[i], tg_f32_to_bf16(tg_f32(x)[i]));
    tg_tensor *back = tg_cast(h, TG_F32);
    tg_assert_close(back, x, 0, 1.0 / 256, "bf16 round trip");
    ck_assert_ptr_eq(tg_cast(x, TG_F32), x);
}
END_TEST

START_TEST(test_gradient_passes_through)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(4, 5), TG_F32, 6, 0, 1);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *w = tg_randn(TG_STEP, TG_SHAPE(4, 5), TG_F32, 7, 0, 1);
    tg_tensor *loss = tg_sum(tg_mul(tg_cast(tg_cast(x, TG_BF16), TG_F32), w), NULL, 0, false);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    tg_assert_close(tg_tensor_grad(x), w, 0, 0, "straight-through gradient");
}
END_TEST

START_TEST(test_errors)
{
    tg_tensor *i = tg_zeros(TG_STEP, TG_SHAPE(3), TG_S32);
    ck_assert_ptr_null(tg_cast(i, TG_F32));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "tg_cast: only f32 <-> bf16, got s32 -> f32"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cast");
    TCase *tc = tcase_create("cast");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_forward_rounds_to_nearest_even);
    tcase_add_test(tc, test_gradient_passes_through);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
