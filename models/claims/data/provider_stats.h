/* Provider billing statistics: how often each provider bills its office and
 * emergency E/M visits at the high levels, from a reference set of claims
 * (the training split), as a payer's provider profiling does. A provider
 * who bills level 4-5 far more often than peers is what upcoding looks
 * like from outside one claim. Each claim gets binomial z-scores of its
 * provider's counts against the reference's overall shares,
 * (k - n p) / sqrt(n p (1 - p)), capped at +-4: of order 1 for any number
 * of visits, 0 for providers without visits in the reference. */
#ifndef CLAIMS_PROVIDER_STATS_H
#define CLAIMS_PROVIDER_STATS_H

#include "models/claims/data/dataset.h"

typedef struct claims_provider_stats_entry {
    char *provider_id;     /* owned */
    int visits, high, top; /* E/M visits, at level 4-5, at level 5 */
} claims_provider_stats_entry;

typedef struct claims_provider_stats {
    claims_provider_stats_entry *e; /* sorted by provider_id */
    int n;
    double prior_high, prior_top; /* shares over all providers */
} claims_provider_stats;

/* Builds the statistics of every provider in ds (zeroes *out first; free with
 * claims_provider_stats_free, also after an error). TG_ERR_OOM only. */
tg_status claims_provider_stats_build(const claims_dataset *ds, claims_provider_stats *out);

/* Fills the provider_em_* fields of every claim of ds. leave_one_out: ds is
 * the statistics' own reference set, and each claim's own visit is left out
 * of its provider's counts (so training claims look like unseen ones). */
void claims_provider_stats_apply(const claims_provider_stats *p, claims_dataset *ds, bool leave_one_out);

/* The same for one claim (a scored claim arriving alone). */
void claims_provider_stats_apply_claim(const claims_provider_stats *p, claims_claim *c, bool leave_one_out);

void claims_provider_stats_free(claims_provider_stats *p);

/* The statistics as compact JSON text (malloc'd; NULL with TG_ERR_OOM) and
 * back (`what` names the source in errors: TG_ERR_FORMAT for a malformed,
 * out-of-range or unsorted entry, naming it; TG_ERR_OOM). A model artifact
 * carries them, so scoring needs no training file. */
char *claims_provider_stats_to_json(const claims_provider_stats *p);
tg_status claims_provider_stats_from_json(const char *json, const char *what, claims_provider_stats *out);

/* The statistics of train applied to train (leave-one-out) and to other (may
 * be NULL), then dropped: what the claims apps do; *json (json may be NULL)
 * gets them as claims_provider_stats_to_json text. TG_ERR_OOM only. */
tg_status claims_provider_stats_fill(claims_dataset *train, claims_dataset *other, char **json);

#endif
