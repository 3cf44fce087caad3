/* A small GPT checked against PyTorch on fixed weights and a padded batch:
 * loss, every parameter gradient, and every parameter after 10 AdamW steps
 * with warmup + cosine schedule and global-norm clipping, all to 1e-4
 * relative (loss 1e-5). The reference comes
 * from tests/fixtures/gen_gpt_parity.py. */
#include <stdlib.h>
#include <string.h>

#include "tests/tg_test.h"

#define STEPS 10

static tg_st_file *fx;

static tg_gpt_config parity_config(void)
{
    return (tg_gpt_config){
        .vocab = 97, .dim = 32, .heads = 2, .hidden = 128, .max_seq = 16, .n_layers = 2, .tied = true};
}

static void open_fixture(tg_gpt *m)
{
    char path[1024];
    const char *root = getenv("TG_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/gpt_parity.safetensors", root ? root : ".");
    fx = tg_st_open(path);
    ck_assert_msg(fx != NULL, "%s", tg_last_error());
    tg_gpt_config c = parity_config();
    ck_assert_int_eq(tg_gpt_init(m, &c, 1), TG_OK);
    for (int i = 0; i < tg_param_set_count(m->params); i++) {
        char key[256];
        snprintf(key, sizeof key, "model.%s", tg_param_set_name(m->params, i));
        ck_assert_msg(tg_st_copy_into(fx, key, tg_param_set_value(m->params, i)) == TG_OK, "%s", tg_last_error());
    }
}

/* max |a - b| / (max |b| + tiny) over a tensor: relative to the tensor's scale */
static double rel_err(const tg_tensor *a, const tg_tensor *b)
{
    double num = 0, den = 1e-30;
    for (int64_t i = 0; i < tg_tensor_numel(b); i++) {
        num = fmax(num, fabs(tg_tensor_get(a, i) - tg_tensor_get(b, i)));
        den = fmax(den, fabs(tg_tensor_get(b, i)));
    }
    return num / den;
}

static tg_tensor *batch_loss(const tg_gpt *m)
{
    tg_tensor *idx = tg_st_load(fx, "idx", TG_STEP), *tgt = tg_st_load(fx, "targets", TG_STEP);
    tg_tensor *len = tg_st_load(fx, "lengths", TG_STEP);
    return tg_gpt_loss(m, idx, tgt, len, NULL, false);
}

START_TEST(test_loss_and_gradients_match_torch)
{
    tg_gpt m;
    open_fixture(&m);
    tg_tensor *loss = batch_loss(&m);
    ck_assert_msg(loss != NULL, "%s", tg_last_error());
    double want = tg_item(tg_st_load(fx, "loss", TG_STEP));
    ck_assert_msg(fabs(tg_item(loss) - want) <= 1e-5 * fabs(want), "loss %.8f, torch %.8f", tg_item(loss), want);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    for (int i = 0; i < tg_param_set_count(m.params); i++) {
        char key[256];
        snprintf(key, sizeof key, "grad.%s", tg_param_set_name(m.params, i));
        tg_tensor *g = tg_param_set_grad(m.params, i);
        ck_assert_msg(g != NULL, "no gradient for %s", key);
        double e = rel_err(g, tg_st_load(fx, key, TG_STEP));
        ck_assert_msg(e <= 1e-4, "%s: relative error %.3g", key, e);
    }
    tg_gpt_free(&m);
    tg_st_close(fx);
}
END_TEST

START_TEST(test_ten_adamw_steps_match_torch)
{
    tg_gpt m;
    open_fixture(&m);
    tg_adam_opts o = tg_adamw_default_opts();
    o.weight_decay = 0.1;
    o.eps = 1e-6; /* see gen_gpt_parity.py: the key bias only sees rounding noise */
    ck_assert_int_eq(tg_param_set_group(m.params, TG_GROUP_NO_DECAY, (tg_param_group){1.0, 0.0}), TG_OK);
    tg_optim *opt = tg_adamw_create(m.params, &o);
    ck_assert_msg(opt != NULL, "%s", tg_last_error());
    tg_tensor *want_losses = tg_st_load(fx, "step_losses", TG_PERSIST);
    for (int step = 1; step <= STEPS; step++) {
        tg_tensor *loss = batch_loss(&m);
        double want = tg_tensor_get(want_losses, step - 1);
        ck_assert_msg(fabs(tg_item(loss) - want) <= 1e-4 * fabs(want), "step %d loss %.8f, torch %.8f", step,
                      tg_item(loss), want);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        double norm;
        ck_assert_int_eq(tg_clip_grad_norm(m.params, 1.0, &norm), TG_OK);
        ck_assert_int_eq(tg_optim_step(opt, tg_sched_cosine(step, 1e-2, 3, STEPS, 1e-3)), TG_OK);
        tg_param_set_zero_grad(m.params);
        tg_step_end();
    }
    for (int i = 0; i < tg_param_set_count(m.params); i++) {
        char key[256];
        snprintf(key, sizeof key, "after.%s", tg_param_set_name(m.params, i));
        double e = rel_err(tg_param_set_value(m.params, i), tg_st_load(fx, key, TG_STEP));
        ck_assert_msg(e <= 1e-4, "%s: relative error %.3g after %d steps", key, e, STEPS);
    }
    tg_tensor_free(want_losses);
    tg_optim_destroy(opt);
    tg_gpt_free(&m);
    tg_st_close(fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpt_parity");
    TCase *tc = tcase_create("parity");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_loss_and_gradients_match_torch);
    tcase_add_test(tc, test_ten_adamw_steps_match_torch);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
