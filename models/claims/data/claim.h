/* One claim as the reader hands it on (schema: docs/claims_schema.md), with
 * the payer-side facts filled in beside the claim's own fields. */
#ifndef CLAIMS_CLAIM_H
#define CLAIMS_CLAIM_H

#include <stdbool.h>
#include <stddef.h>

#include "models/claims/data/codes.h"

typedef struct claims_procedure {
    char code[CLAIMS_CODE_LEN]; /* CPT or HCPCS */
    int units;
    double billed_amount; /* USD for all units */
    /* Payer reference, filled when the reader has a code table: */
    double fee_ratio; /* billed / (fee-schedule amount x units); 0 when the code has no fee */
    bool pa_required; /* the code is on the prior-authorization list */
} claims_procedure;

/* The demographic limits of all a claim's codes (diagnoses and procedures)
 * from the payer's code table; neutral (0, 0, 0, 150) without a table. */
typedef struct claims_code_limits {
    int female_only, male_only; /* codes restricted to that sex */
    int age_min;                /* the highest minimum age of any code */
    int age_max;                /* the lowest maximum age of any code */
} claims_code_limits;

/* One claim; every pointer is owned by the claim (claims_claim_clear). */
typedef struct claims_claim {
    char *claim_id, *member_id;
    char *patient_name;
    char patient_dob[11]; /* YYYY-MM-DD */
    int patient_age;      /* years at service_date_from */
    char patient_sex;     /* 'M', 'F' or 'U' */
    char *provider_id, *provider_specialty;
    char service_date_from[11], service_date_to[11];
    int n_diagnoses;
    char (*diagnoses)[CLAIMS_CODE_LEN]; /* ICD-10-CM, dotted */
    int n_procedures;
    claims_procedure *procedures;
    char place_of_service[3]; /* two-digit CMS place-of-service code */
    bool prior_auth;
    claims_code_limits limits; /* payer reference, see claims_code_limits */
    char *note;
    size_t note_len;
    bool labeled; /* the claim has a decision (always, unless read with labels optional) */
    bool deny;    /* decision == "deny" */
    bool fraud;
    unsigned deny_reasons; /* optional: bit r for claims_deny_reason r (decision.h) */
    /* Claims history, filled by claims_dataset_history from earlier lines of
     * the same file (a claims system's history lookup): */
    int history_prior;      /* earlier claims of this member */
    int history_same_day;   /* ... of them on the same first service date */
    bool history_duplicate; /* an earlier claim has the same member, provider,
                                dates, diagnoses and procedures (codes, units) */
    int em_level;           /* level 1-5 of the claim's office or emergency E/M
                                visit code (992[018]x), the highest if several; 0: none */
    /* Provider billing statistics, filled by claims_provider_stats_apply (provider_stats.h): */
    int provider_em_visits; /* the provider's E/M visits in the statistics */
    float provider_em_high; /* z-score of how many of them are at level 4-5 */
    float provider_em_top;  /* ... at level 5 */
} claims_claim;

#endif
