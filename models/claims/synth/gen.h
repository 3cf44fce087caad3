/* Synthetic claims generator.
 *
 * Writes realistic JSONL claims (docs/claims_schema.md) with real code numbers
 * from a claims_codes table: members with several claims over 2021-2023,
 * providers with specialties, clinical notes with a long length tail and
 * planted identifiers, and a label from hidden adjudication rules (~5% deny).
 * Output is a pure function of (codes, opts): the same seed gives the same
 * bytes. The rules, each leaving evidence in the claim:
 *   MISMATCH   a procedure whose clinical groups no diagnosis supports
 *   SEX, AGE   a code restricted to the other sex or another age range
 *   DUPLICATE  same member, provider, service date and codes as an earlier claim
 *   NO_AUTH    a code that needs prior authorization, prior_auth false
 *   AMOUNT     a line billed above 3x the code's typical amount per unit
 *   UPCODE     an office visit billed two or more E/M levels above the
 *              complexity documented in the note (a few providers do it
 *              systematically)
 * Fraud: duplicates, lines above 6x the norm, and upcoding providers' upcodes. */
#ifndef CLAIMS_GEN_H
#define CLAIMS_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "models/claims/data/codes.h"
#include "models/claims/data/decision.h"
#include "tensor/status.h"

typedef struct claims_gen_opts {
    long n; /* claims to write */
    uint64_t seed;
    double long_frac; /* share of notes longer than ~8,000 tokens (36-120 KB); default 0.02 */
} claims_gen_opts;

#define CLAIMS_MAX_PLANTED 12

/* What the generator knows about one claim (for tests and reports). */
typedef struct claims_gen_truth {
    unsigned reasons; /* bit r set when rule r denies the claim */
    bool fraud;
    bool long_note;
    int n_planted; /* identifiers written into the note (names, ids, dob, phones, addresses) */
    const char *planted[CLAIMS_MAX_PLANTED];
} claims_gen_truth;

/* Per-claim hook: the JSON line (without newline) and its truth, borrowed for
 * the call. A non-OK return stops generation and is returned. */
typedef tg_status (*claims_gen_fn)(void *user, long index, const char *line, size_t len, const claims_gen_truth *truth);

typedef struct claims_gen_stats {
    long n, denied, fraud, long_notes;
    long by_reason[CLAIMS_N_DENY_REASONS];
} claims_gen_stats;

/* Generates opts->n claims, writing one JSON line each to `out` (may be NULL)
 * and calling fn (may be NULL); fills *stats (may be NULL). TG_ERR_INVALID for
 * n < 0 or long_frac outside [0,1], TG_ERR_FORMAT when the table lacks the
 * E/M visit codes or clinical groups the generator needs, TG_ERR_IO on write
 * errors, TG_ERR_OOM. */
tg_status claims_generate(const claims_codes *codes, const claims_gen_opts *opts, FILE *out, claims_gen_fn fn,
                          void *user, claims_gen_stats *stats);

#endif
