/* Identifier scrubbing for clinical free text.
 *
 * Replaces patient identifiers by typed placeholders before tokenization:
 *   <NAME>       the patient's own name parts, and capitalized names after
 *                titles (Mr., Ms., Mrs., Dr., Miss), labels (Patient:, Name:)
 *                and relation words (daughter, husband, caregiver, ...)
 *   <MEMBER_ID>  the claim's member id
 *   <DOB>        the claim's date of birth in any common written form
 *   <PHONE>      (555) 123-4567, 555-123-4567, 555.123.4567, +1 555 123 4567
 *   <ADDRESS>    number + capitalized street words + street suffix, with an
 *                optional ", City, ST 12345" tail
 *   <DATE>       other full dates (MM/DD/YYYY, M/D/YY, YYYY-MM-DD, "March 3, 2022")
 *   <ID>         other id-like tokens: 7+ digits, or 5+ digits mixed with letters
 * Clinically useful text stays: medical codes (E11.65, 99213, J1100, 3044F),
 * ages, durations, vitals (BP 132/84), lab values, doses, years alone. */
#ifndef CLAIMS_SCRUB_H
#define CLAIMS_SCRUB_H

#include <stddef.h>

#include "models/claims/data/dataset.h"

/* The claim's own identifiers (any may be NULL). */
typedef struct claims_scrub_ids {
    const char *name; /* "First Last" (each part of 2+ letters is matched) */
    const char *member_id;
    const char *dob; /* YYYY-MM-DD */
} claims_scrub_ids;

/* Scrubbed copy of text[0..len) (malloc'd, NUL-terminated, caller frees);
 * *out_len (may be NULL) gets its length. NULL with TG_ERR_OOM set on failure. */
char *claims_scrub_text(const char *text, size_t len, const claims_scrub_ids *ids, size_t *out_len);

/* Scrubs c->note in place with the claim's own identifiers. TG_ERR_OOM. */
tg_status claims_scrub_claim(claims_claim *c);

#endif
