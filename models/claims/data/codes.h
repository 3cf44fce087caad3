/* Medical code table for the claims package: ICD-10-CM diagnoses, CPT and
 * HCPCS Level II procedures with the clinical facts the generator and the
 * validators need (clinical groups, sex and age limits, typical billed amount,
 * prior-authorization flag). Loaded at run time from a TSV file
 * (models/claims/data/codes.tsv; format in models/claims/data/README.md). */
#ifndef CLAIMS_CODES_H
#define CLAIMS_CODES_H

#include <stdbool.h>
#include <stdint.h>

#include "models/claims/data/code_kind.h"
#include "tensor/status.h"

#define CLAIMS_CODE_LEN 12   /* longest code plus NUL, with room to spare */
#define CLAIMS_MAX_GROUPS 32 /* group sets are 32-bit masks */

typedef struct claims_code {
    char code[CLAIMS_CODE_LEN];
    claims_code_kind kind;
    uint32_t groups;      /* bit g set when the code belongs to group_names[g] */
    char sex;             /* 'M' or 'F' when restricted to one sex, '-' otherwise */
    int age_min, age_max; /* inclusive, in years */
    double amount;        /* typical billed amount per unit in USD (0 for diagnoses) */
    bool prior_auth;      /* payer requires prior authorization */
    char *description;
} claims_code;

typedef struct claims_codes {
    claims_code *codes; /* in file order */
    int n;
    char *group_names[CLAIMS_MAX_GROUPS];
    int n_groups;
    uint32_t general_mask; /* bit of the "general" group (supports any diagnosis), or 0 */
    int *sorted;           /* indices of codes sorted by code string, for lookup */
    uint64_t hash;         /* fingerprint of the contents (a model artifact records it) */
} claims_codes;

/* Loads the TSV table at `path` into *out (owned; free with claims_codes_free).
 * TG_ERR_IO when the file cannot be read, TG_ERR_FORMAT naming path:line for a
 * bad row (field count, kind, code format, sex, ages, duplicate code). */
tg_status claims_codes_load(const char *path, claims_codes **out);

/* Frees a table; NULL is fine. */
void claims_codes_free(claims_codes *t);

/* The entry for `code`, or NULL when the table does not have it. */
const claims_code *claims_codes_find(const claims_codes *t, const char *code);

/* Index of group `name`, or -1. */
int claims_codes_group(const claims_codes *t, const char *name);

/* True when `code` has the written form of `kind` (see claims_code_kind). */
bool claims_code_format_ok(const char *code, claims_code_kind kind);

/* Kind whose written form `code` has, or CLAIMS_CODE_NONE. */
claims_code_kind claims_code_classify(const char *code);

#endif
