/* The run configuration stored in checkpoints (as JSON), so evaluation can
 * rebuild the exact model, batching and tokenizer a checkpoint was trained
 * with. */
#ifndef CLAIMS_CONFIG_H
#define CLAIMS_CONFIG_H

#include <stddef.h>

#include "models/claims/text/batch.h"
#include "models/claims/model/model.h"

/* A threshold above every probability: approve every claim. */
#define CLAIMS_APPROVE_ALL 2.0

/* JSON text of the configuration (malloc'd), or NULL with TG_ERR_OOM.
 * threshold is the decision threshold chosen on validation (+inf is stored
 * as CLAIMS_APPROVE_ALL, since JSON has no infinity). */
char *claims_config_to_json(const claims_model_config *m, const claims_batch_opts *b, const char *tokenizer_path,
                            double threshold);

/* Parses what claims_config_to_json wrote; `what` names the source in
 * errors (TG_ERR_FORMAT naming the missing or mistyped field). */
tg_status claims_config_from_json(const char *json, const char *what, claims_model_config *m, claims_batch_opts *b,
                                  char *tokenizer_path, size_t path_len, double *threshold);

#endif
