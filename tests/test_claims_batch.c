/* Length-bucketed batching and long-document windows. */
#include <string.h>

#include "models/claims/text/batch.h"
#include "tests/tg_test.h"

#define N_DOCS 400

/* Long-tailed lengths: mostly 50-400 tokens, a few thousands. */
static void lengths(int32_t *len, int32_t *label)
{
    for (int d = 0; d < N_DOCS; d++) {
        float u = tg_rng_uniform_at(3, (uint64_t)d);
        len[d] = u < 0.03f ? 2000 + (int32_t)(u * 100000) : 50 + (int32_t)(tg_rng_uniform_at(4, (uint64_t)d) * 350);
        label[d] = d % 20 == 0;
    }
}

START_TEST(test_every_target_counted_once)
{
    claims_batch_opts o = {.ctx = 64, .stride = 48, .token_budget = 4096, .pos_repeat = 1};
    int32_t len[N_DOCS], label[N_DOCS];
    lengths(len, label);
    int32_t **docs = malloc(sizeof *docs * N_DOCS);
    for (int d = 0; d < N_DOCS; d++) {
        docs[d] = malloc(sizeof **docs * (size_t)len[d]);
        for (int i = 0; i < len[d]; i++) docs[d][i] = d * 100000 + i; /* encodes (doc, position) */
    }
    claims_plan p;
    ck_assert_int_eq(claims_plan_epoch(len, label, N_DOCS, &o, 1, 0, &p), TG_OK);
    uint8_t **seen = malloc(sizeof *seen * N_DOCS);
    for (int d = 0; d < N_DOCS; d++) seen[d] = calloc((size_t)len[d], 1);
    claims_batch b = {0};
    int docs_seen = 0;
    for (int32_t k = 0; k < p.n_batches; k++) {
        ck_assert_int_eq(claims_batch_fill(&p, k, (const int32_t *const *)docs, -1, &b), TG_OK);
        ck_assert((int64_t)b.rows * b.pad_len <= o.token_budget || b.n_docs == 1);
        docs_seen += b.n_docs;
        for (int32_t r = 0; r < b.rows; r++)
            for (int32_t j = 0; j < b.pad_len; j++) {
                int32_t x = b.tokens[r * b.pad_len + j], y = b.targets[r * b.pad_len + j];
                if (j >= b.lengths[r]) {
                    ck_assert_int_eq(x, -1);
                    ck_assert_int_eq(y, -100);
                    continue;
                }
                ck_assert_int_eq(b.doc_index[b.row_doc[r]], x / 100000);
                if (y == -100) continue;
                ck_assert_int_eq(y, x + 1); /* the next token of the same document */
                seen[y / 100000][y % 100000]++;
            }
    }
    ck_assert_int_eq(docs_seen, N_DOCS);
    for (int d = 0; d < N_DOCS; d++) {
        for (int i = 1; i < len[d]; i++)
            ck_assert_msg(seen[d][i] == 1, "doc %d token %d counted %d times", d, i, seen[d][i]);
        free(seen[d]);
        free(docs[d]);
    }
    free(seen);
    free(docs);
    claims_batch_free(&b);
    claims_plan_free(&p);
}
END_TEST

START_TEST(test_padding_waste_and_budget)
{
    claims_batch_opts o = {.ctx = 256, .token_budget = 8192, .pos_repeat = 1};
    int32_t len[N_DOCS], label[N_DOCS];
    lengths(len, label);
    claims_plan p;
    ck_assert_int_eq(claims_plan_epoch(len, label, N_DOCS, &o, 2, 0, &p), TG_OK);
    double waste = claims_plan_padding_waste(&p);
    ck_assert_double_lt(waste, 0.10);
    for (int32_t k = 0; k < p.n_batches; k++) {
        const claims_plan_batch *pb = &p.batches[k];
        int64_t cells = (int64_t)pb->count * pb->pad_len;
        ck_assert(cells <= o.token_budget || pb->n_docs == 1); /* only a lone huge document may exceed */
    }
    claims_plan_free(&p);
}
END_TEST

START_TEST(test_epochs_shuffle_deterministically)
{
    claims_batch_opts o = {.ctx = 128, .token_budget = 2048, .pos_repeat = 3};
    int32_t len[N_DOCS], label[N_DOCS];
    lengths(len, label);
    claims_plan a, b, c;
    ck_assert_int_eq(claims_plan_epoch(len, label, N_DOCS, &o, 9, 1, &a), TG_OK);
    ck_assert_int_eq(claims_plan_epoch(len, label, N_DOCS, &o, 9, 1, &b), TG_OK);
    ck_assert_int_eq(claims_plan_epoch(len, label, N_DOCS, &o, 9, 2, &c), TG_OK);
    ck_assert_int_eq(a.n_windows, b.n_windows);
    ck_assert_int_eq(memcmp(a.windows, b.windows, sizeof *a.windows * (size_t)a.n_windows), 0);
    ck_assert_int_ne(memcmp(a.windows, c.windows, sizeof *a.windows * (size_t)a.n_windows), 0);
    /* positives appear pos_repeat times */
    int64_t pos_windows = 0, want = 0;
    for (int32_t w = 0; w < a.n_windows; w++) pos_windows += label[a.windows[w].doc] && a.windows[w].start == 0;
    for (int d = 0; d < N_DOCS; d++) want += label[d] ? 3 : 0;
    ck_assert_int_eq(pos_windows, want);
    claims_plan_free(&a);
    claims_plan_free(&b);
    claims_plan_free(&c);
}
END_TEST

START_TEST(test_window_counts_and_errors)
{
    claims_batch_opts o = {.ctx = 10, .stride = 5, .token_budget = 100, .pos_repeat = 1};
    ck_assert_int_eq(claims_n_windows(11, &o), 1);
    ck_assert_int_eq(claims_n_windows(12, &o), 2);
    ck_assert_int_eq(claims_n_windows(16, &o), 2);
    ck_assert_int_eq(claims_n_windows(17, &o), 3);
    claims_plan p;
    int32_t bad_len[] = {1};
    tg_assert_error(claims_plan_epoch(bad_len, NULL, 1, &o, 0, 0, &p), TG_ERR_INVALID, "document 0 has 1 tokens");
    o.stride = 11;
    int32_t ok_len[] = {5};
    tg_assert_error(claims_plan_epoch(ok_len, NULL, 1, &o, 0, 0, &p), TG_ERR_INVALID, "stride 11 outside [1, ctx 10]");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims_batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, test_every_target_counted_once);
    tcase_add_test(tc, test_padding_waste_and_budget);
    tcase_add_test(tc, test_epochs_shuffle_deterministically);
    tcase_add_test(tc, test_window_counts_and_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
