/* The run configuration stored in checkpoints (as JSON), so evaluation can
 * rebuild the exact model, batching and tokenizer a checkpoint was trained
 * with. */
#ifndef CLAIMS_CONFIG_H
#define CLAIMS_CONFIG_H

#include <stdbool.h>
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

/* config (a JSON object's text) with key set to value_json (JSON text of
 * any value); malloc'd, NULL with TG_ERR_INVALID. */
char *claims_config_set(const char *config, const char *key, const char *value_json);

/* The Platt calibration (metrics.h) stored under "calibration" {"a", "b"};
 * false, with the identity (1, 0), when the configuration has none. */
bool claims_config_calibration(const char *config, double *a, double *b);

#endif
