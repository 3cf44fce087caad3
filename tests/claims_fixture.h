/* A tiny claims corpus for training tests: generated claims without long
 * notes, split by patient 80/20, a tokenizer fitted on the training part,
 * both parts as token corpora and the code-token masks. Files go to the
 * test scratch directory (tg_test_scratch_setup is called). */
#ifndef TG_TESTS_CLAIMS_FIXTURE_H
#define TG_TESTS_CLAIMS_FIXTURE_H

#include "models/claims/text/corpus.h"
#include "models/claims/synth/gen.h"
#include "models/claims/train/trainer.h"

typedef struct claims_fixture {
    claims_codes *codes;
    claims_dataset ds;       /* every generated claim */
    claims_dataset train_ds; /* the training claims, a view into ds (claims not owned) */
    claims_corpus train, valid;
    claims_tokenizer *tok;
    uint8_t *is_code, *is_rare;
} claims_fixture;

/* n claims generated with `seed`; fails the running Check test on error. */
void claims_fixture_setup(claims_fixture *fx, long n, uint64_t seed);
void claims_fixture_teardown(claims_fixture *fx);

#endif
