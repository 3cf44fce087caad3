#include "tests/claims_fixture.h"

#include <stdlib.h>
#include <string.h>

#include "tests/tg_test.h"

void claims_fixture_setup(claims_fixture *fx, long n_claims, uint64_t seed)
{
    memset(fx, 0, sizeof *fx);
    tg_test_scratch_setup();
    char path[1024];
    snprintf(path, sizeof path, "%s/models/claims/data/codes.tsv", getenv("TG_SOURCE_DIR"));
    ck_assert_msg(claims_codes_load(path, &fx->codes) == TG_OK, "%s", tg_last_error());
    snprintf(path, sizeof path, "%s", tg_test_path("claims.jsonl"));
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    claims_gen_opts go = {.n = n_claims, .seed = seed, .long_frac = 0};
    ck_assert_int_eq(claims_generate(fx->codes, &go, f, NULL, NULL, NULL), TG_OK);
    fclose(f);
    claims_read_opts ro = {.strict = true, .codes = fx->codes};
    ck_assert_msg(claims_dataset_load(path, &ro, &fx->ds) == TG_OK, "%s", tg_last_error());
    size_t *idx[3], n[3];
    ck_assert_int_eq(claims_dataset_split(&fx->ds, 1, (claims_split_fracs){0.8, 0.2}, idx, n), TG_OK);
    ck_assert_int_eq(claims_tokenizer_fit(&fx->ds, idx[0], n[0], 1000, fx->codes, &fx->tok), TG_OK);
    ck_assert_int_eq(claims_corpus_build(&fx->ds, idx[0], n[0], fx->tok, &fx->train), TG_OK);
    ck_assert_int_eq(claims_corpus_build(&fx->ds, idx[1], n[1], fx->tok, &fx->valid), TG_OK);
    ck_assert_int_eq(claims_code_masks(fx->tok, &fx->train, &fx->is_code, &fx->is_rare), TG_OK);
    fx->train_ds = (claims_dataset){.claims = malloc(sizeof *fx->train_ds.claims * (n[0] ? n[0] : 1)), .n = n[0]};
    ck_assert_ptr_nonnull(fx->train_ds.claims);
    for (size_t i = 0; i < n[0]; i++) fx->train_ds.claims[i] = fx->ds.claims[idx[0][i]];
    for (int s = 0; s < 3; s++) free(idx[s]);
}

void claims_fixture_teardown(claims_fixture *fx)
{
    free(fx->train_ds.claims);
    free(fx->is_code);
    free(fx->is_rare);
    claims_corpus_free(&fx->train);
    claims_corpus_free(&fx->valid);
    claims_tok_free(fx->tok);
    claims_dataset_free(&fx->ds);
    claims_codes_free(fx->codes);
    tg_test_scratch_teardown();
    memset(fx, 0, sizeof *fx);
}
