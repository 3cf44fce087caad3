/* Claims JSONL: a streaming, validating reader and patient-disjoint splits.
 *
 * One claim per line (schema in docs/claims_schema.md). Lines of any length
 * are read whole. A malformed line (bad JSON, missing field, wrong type,
 * ill-formed or unknown code, bad decision, ...) is reported with file:line and
 * the reason through a callback, counted and skipped; in strict mode the first
 * one is fatal. Blank lines are counted apart and otherwise ignored. */
#ifndef CLAIMS_DATASET_H
#define CLAIMS_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/claims/data/claim.h"
#include "models/claims/data/codes.h"
#include "tensor/status.h"

/* Called once per rejected line: file path, 1-based line number, reason. */
typedef void (*claims_reject_fn)(void *user, const char *path, long line, const char *reason);

typedef struct claims_read_opts {
    bool strict;                /* the first malformed line is an error */
    bool labels_optional;       /* claims without "decision" (and "fraud") are read, unlabeled */
    const claims_codes *codes;  /* optional: also reject codes missing from this table */
    claims_reject_fn on_reject; /* optional */
    void *reject_user;
} claims_read_opts;

typedef struct claims_read_summary {
    long lines_read; /* every line, blank ones included */
    long used;       /* valid claims handed on */
    long rejected;   /* malformed lines skipped (or the fatal one in strict mode) */
    long blank;      /* empty or whitespace-only lines */
} claims_read_summary;

/* Parses and validates one JSON line into *out (owned strings; on error *out is
 * left empty). Returns false and writes the reason into why[why_len]. */
bool claims_parse_line(const char *line, size_t len, const claims_codes *codes, claims_claim *out, char *why,
                       size_t why_len);

/* claims_parse_line that also takes claims without labels when
 * labels_optional ("decision", "fraud" and "deny_reasons" absent; c->labeled
 * false): the claims that arrive to be scored. */
bool claims_parse_claim(const char *line, size_t len, const claims_codes *codes, bool labels_optional,
                        claims_claim *out, char *why, size_t why_len);

/* Frees what a claim owns and zeroes it; NULL is fine. */
void claims_claim_clear(claims_claim *c);

/* Receives each valid claim with its raw line. The reader clears *c after the
 * call; fn may take over what c owns by copying *c and zeroing it. A non-OK
 * return stops the read and is returned by claims_read_jsonl. */
typedef tg_status (*claims_claim_fn)(void *user, claims_claim *c, const char *line, size_t len);

/* Streams `path`, validating every line, calling fn for valid claims and
 * opts->on_reject for malformed ones; fills *sum (may be NULL). TG_ERR_IO when
 * the file cannot be read; TG_ERR_FORMAT "path:line: reason" in strict mode. */
tg_status claims_read_jsonl(const char *path, const claims_read_opts *opts, claims_claim_fn fn, void *user,
                            claims_read_summary *sum);

typedef struct claims_dataset {
    claims_claim *claims; /* owned */
    size_t n, cap;
    claims_read_summary summary;
} claims_dataset;

/* Loads every valid claim of `path` into *ds (zeroed first; free with
 * claims_dataset_free, also after an error) and fills the history fields.
 * Errors as claims_read_jsonl. */
tg_status claims_dataset_load(const char *path, const claims_read_opts *opts, claims_dataset *ds);

/* Fills every claim's history fields from the claims before it in ds (file
 * order). Patient-disjoint splits keep a member's whole history in one file.
 * TG_ERR_OOM only. */
tg_status claims_dataset_history(claims_dataset *ds);

/* Frees the claims of a dataset and zeroes it; NULL is fine. */
void claims_dataset_free(claims_dataset *ds);

typedef enum claims_split { CLAIMS_TRAIN = 0, CLAIMS_VALID = 1, CLAIMS_TEST = 2 } claims_split;

/* Fractions of patients in train and valid; test gets the rest. */
typedef struct claims_split_fracs {
    double train, valid;
} claims_split_fracs;

/* Split of a patient: a pure function of (member_id, seed), so every claim of
 * one member lands in the same split. */
claims_split claims_split_of(const char *member_id, uint64_t seed, claims_split_fracs f);

/* Indices of ds->claims per split: idx[s] (malloc'd, caller frees) of n[s]
 * entries. TG_ERR_INVALID for fractions outside [0,1] or summing above 1. */
tg_status claims_dataset_split(const claims_dataset *ds, uint64_t seed, claims_split_fracs f, size_t *idx[3],
                               size_t n[3]);

/* Copies the valid lines of `in` verbatim into <out_prefix>.train.jsonl,
 * .valid.jsonl and .test.jsonl; counts[s] (may be NULL) gets the lines per
 * split. Validation and errors as claims_read_jsonl, plus TG_ERR_IO on writes. */
tg_status claims_split_file(const char *in, const char *out_prefix, uint64_t seed, claims_split_fracs f,
                            const claims_read_opts *opts, claims_read_summary *sum, long counts[3]);

/* Name of a split: "train", "valid", "test". */
const char *claims_split_name(claims_split s);

#endif
