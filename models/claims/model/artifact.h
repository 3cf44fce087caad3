/* The model artifact: everything scoring a claim needs besides the weights,
 * carried inside the checkpoint's configuration (key "artifact") so a
 * checkpoint alone scores claims, with no training file and no folder next
 * to it. It holds the tokenizer, the provider statistics of the training
 * claims (for models that read claim facts), the fingerprint of the code
 * table the model was trained with, and the version that wrote it. The
 * decision policy (threshold, calibration, costs) sits beside it in the
 * configuration (config.h). */
#ifndef CLAIMS_ARTIFACT_H
#define CLAIMS_ARTIFACT_H

#include <stdbool.h>
#include <stdint.h>

#include "models/claims/data/provider_stats.h"
#include "models/claims/text/tokenizer.h"

/* Written as "version" in every artifact. */
#define CLAIMS_ARTIFACT_VERSION 1

typedef struct claims_artifact {
    claims_tokenizer *tok;       /* owned */
    bool has_stats;              /* provider statistics present */
    claims_provider_stats stats; /* owned */
    uint64_t codes_hash;         /* claims_codes.hash of the training table */
    char writer[32];             /* tensorgrad version that wrote it */
} claims_artifact;

/* The artifact as JSON object text (malloc'd; NULL with TG_ERR_OOM):
 * tokenizer, provider statistics JSON (claims_provider_stats_to_json; NULL
 * for none) and the code table's fingerprint. */
char *claims_artifact_to_json(const claims_tokenizer *tok, const char *provider_stats_json, uint64_t codes_hash);

/* Reads the artifact from a checkpoint's configuration JSON. A configuration
 * without one (written before artifacts existed) falls back to the
 * tokenizer file named by its "tokenizer" field, relative to dir, and has no
 * provider statistics. Errors name `what` and the missing or malformed part
 * (TG_ERR_FORMAT), or come from the tokenizer file (TG_ERR_IO). */
tg_status claims_artifact_from_config(const char *config, const char *what, const char *dir, claims_artifact *out);

void claims_artifact_free(claims_artifact *a);

#endif
