/* The run configuration stored in checkpoints: one spelling per setting (the
 * train_claims flag's), round trips, and configurations written with the
 * older names still load to the same settings. */
#include <string.h>

#include "models/claims/model/config.h"
#include "tests/tg_test.h"

/* The configuration of a checkpoint written with the older names. */
static const char *const OLD =
    "{\"vocab\":2048,\"dim\":128,\"heads\":4,\"hidden\":512,\"max_seq\":256,\"layers\":2,\"dropout\":0.0,"
    "\"eps\":0.0,\"tied\":true,\"swiglu\":false,\"rms\":false,\"lambda\":5.0,\"decision_loss\":\"wce\","
    "\"costs\":[[0.0,5.0],[1.0,0.0]],\"class_weight\":[0.52336257070251657,11.200877192982457],"
    "\"focal_gamma\":2.0,\"code_weight\":1.5,\"head_hidden\":64,\"surprisal\":true,\"pool_heads\":1,"
    "\"decision_grad_cut\":0.90000000000000002,\"tabular\":true,\"ctx\":256,\"stride\":0,\"token_budget\":8192,"
    "\"pos_repeat\":3,\"tokenizer\":\"tokenizer.json\",\"threshold\":0.97120392322540283}";

static void parse(const char *json, claims_model_config *m, claims_batch_opts *b, char *tok, double *thr)
{
    tg_status st = claims_config_from_json(json, "test", m, b, tok, 256, thr);
    ck_assert_msg(st == TG_OK, "%s", tg_last_error());
}

START_TEST(test_old_names_load_and_round_trip)
{
    claims_model_config m, m2;
    claims_batch_opts b, b2;
    char tok[256], tok2[256];
    double thr, thr2;
    parse(OLD, &m, &b, tok, &thr);
    ck_assert_int_eq(m.gpt.hidden, 512);
    ck_assert_int_eq(m.gpt.max_seq, 256);
    ck_assert_int_eq(b.token_budget, 8192);
    ck_assert_int_eq(b.pos_repeat, 3);
    ck_assert_double_eq(m.costs.c[0][1], 5.0);
    ck_assert_double_eq(m.costs.c[1][0], 1.0);
    ck_assert_double_eq(m.class_weight[1], 11.200877192982457);
    ck_assert_int_eq(m.decision, CLAIMS_LOSS_WCE);
    ck_assert_str_eq(tok, "tokenizer.json");
    char *json = claims_config_to_json(&m, &b, tok, thr);
    ck_assert_ptr_nonnull(json);
    /* written with the flag names only */
    const char *const names[] = {"\"ff\"",           "\"max-seq\"", "\"decision-loss\"",
                                 "\"cost-fr\"",      "\"cost-fa\"", "\"class-weights\"",
                                 "\"token-budget\"", "\"balance\"", "\"head-hidden\""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) ck_assert_msg(strstr(json, names[i]), "%s", names[i]);
    ck_assert_ptr_null(strstr(json, "token_budget"));
    ck_assert_ptr_null(strstr(json, "\"hidden\""));
    parse(json, &m2, &b2, tok2, &thr2);
    free(json);
    ck_assert_mem_eq(&m, &m2, sizeof m);
    ck_assert_mem_eq(&b, &b2, sizeof b);
    ck_assert_double_eq(thr, thr2);
}
END_TEST

START_TEST(test_bad_configurations_are_named)
{
    claims_model_config m;
    claims_batch_opts b;
    char tok[256];
    double thr;
    ck_assert_int_eq(claims_config_from_json("[1]", "ckpt.safetensors", &m, &b, tok, sizeof tok, &thr), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "ckpt.safetensors"));
    char both[2048];
    snprintf(both, sizeof both, "{\"ff\":512,%s", OLD + 1);
    ck_assert_int_eq(claims_config_from_json(both, "x", &m, &b, tok, sizeof tok, &thr), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'ff'"));
    char diag[2048];
    snprintf(diag, sizeof diag, "%s", OLD);
    char *c = strstr(diag, "[[0.0,5.0]");
    memcpy(c, "[[1.0,5.0]", 10);
    ck_assert_int_eq(claims_config_from_json(diag, "x", &m, &b, tok, sizeof tok, &thr), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "costs"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims_config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_old_names_load_and_round_trip);
    tcase_add_test(tc, test_bad_configurations_are_named);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
