/* Kinds of medical codes, shared by the code table, the reader and the
 * tokenizer. */
#ifndef CLAIMS_CODE_KIND_H
#define CLAIMS_CODE_KIND_H

#include <stddef.h>

typedef enum claims_code_kind {
    CLAIMS_CODE_NONE = 0,
    CLAIMS_CODE_ICD10CM, /* A-Z, digit, A-Z|digit, optional '.' + 1-4 A-Z|digit (E11.65) */
    CLAIMS_CODE_CPT,     /* 4 digits + digit|F|T (99213, 3074F, 0042T) */
    CLAIMS_CODE_HCPCS,   /* A-V + 4 digits (J1100, E0601) */
    CLAIMS_CODE_N_KINDS
} claims_code_kind;

/* Length of the medical code starting at text[pos] (0 when none), with its
 * kind in *kind (may be NULL). Requires word boundaries on both sides: no
 * ASCII letter/digit or byte >= 0x80 next to the code, and no '.' joining it
 * to a number ("1.12345", "99213.5" are not codes). */
size_t claims_code_match(const char *text, size_t len, size_t pos, claims_code_kind *kind);

/* Short name of a code kind ("icd10cm", "cpt", "hcpcs", "none"). */
const char *claims_code_kind_name(claims_code_kind kind);

#endif
