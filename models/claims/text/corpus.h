/* Claims as token documents for the model.
 *
 * Each claim is rendered as one text: its structured fields (codes, units,
 * amounts, provider, place of service, prior authorization, age and sex), the
 * payer's reference for each procedure when the reader had a code table
 * (billed over the fee schedule as "fee x3.4", "needs auth" for codes on the
 * prior-authorization list), its claims history (prior claims of the member,
 * same-day claims, exact duplicate of an earlier claim) and its clinical note
 * with identifiers replaced by typed placeholders, so no
 * name, member id, date of birth, phone number or address reaches the
 * tokenizer. The document is <BOS> header <SEP> note <EOS>: the model reads
 * its decision summary at <SEP>, where the whole header has been seen. */
#ifndef CLAIMS_CORPUS_H
#define CLAIMS_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "models/claims/data/dataset.h"
#include "models/claims/text/tokenizer.h"

/* The scrubbed text of a claim (malloc'd, NUL-terminated, *len bytes). */
tg_status claims_render(const claims_claim *c, char **text, size_t *len);

/* claims_render, also giving the structured header's length in bytes and
 * where the note starts (header_len <= note_start <= len). */
tg_status claims_render_parts(const claims_claim *c, char **text, size_t *len, size_t *header_len, size_t *note_start);

typedef struct claims_corpus {
    int32_t n;
    int32_t **tokens; /* n documents, tokens[i] has len[i] ids */
    int32_t *len;
    int32_t *label; /* 1 = deny */
    int32_t *fraud;
    uint32_t *reasons; /* deny reasons (bit masks, dataset.h), 0 when unknown */
    float *features;   /* (n, CLAIMS_N_FEATURES): claims_claim_features of each */
    int64_t total_tokens;
} claims_corpus;

/* The claim's structured facts as numbers of order 1, for a model input
 * beside the text: age / 100; sex F; sex M; ln of the highest fee ratio
 * (0 without a fee reference); prior authorization on file; procedures on
 * the prior-authorization list; ln(1 + prior claims) / 4; ln(1 + same-day
 * claims); exact duplicate; codes limited to females; codes limited to
 * males; (age - the codes' highest minimum age) / 10; (the codes' lowest
 * maximum age - age) / 10; procedures / 4; ln(1 + total billed) / 10; the
 * E/M level / 5; the provider's profile (profile.h): z-scores of its E/M
 * visits at level 4-5 and at level 5, ln(1 + visits) / 4. Counts are capped at 3 and
 * signed terms at +-3. */
#define CLAIMS_N_FEATURES 19
void claims_claim_features(const claims_claim *c, float f[CLAIMS_N_FEATURES]);

/* Renders and encodes the claims ds->claims[idx[i]] (all when idx is NULL,
 * then n = ds->n). */
tg_status claims_corpus_build(const claims_dataset *ds, const size_t *idx, size_t n, const claims_tokenizer *tok,
                              claims_corpus *out);
void claims_corpus_free(claims_corpus *c);

/* Renders the claims (same selection) and trains a tokenizer on them with
 * every code of `codes` (may be NULL) as an atomic token. */
tg_status claims_tokenizer_fit(const claims_dataset *ds, const size_t *idx, size_t n, int32_t vocab_size,
                               const claims_codes *codes, claims_tokenizer **out);

#endif
