/* Scoring new claims with a trained model: the C API behind score_claims
 * and serve_claims.
 *
 * A scorer is opened from a checkpoint alone (its artifact carries the
 * tokenizer, the provider statistics and the code table's fingerprint; see
 * model/artifact.h) and scores JSONL claims, labelled or not, into one JSON
 * record per input line, in order:
 *   {"line": N, "claim_id": ..., "action": "approve"|"deny"|"review",
 *    "p_deny": calibrated probability, "score": the model's raw P(deny),
 *    "threshold": ..., "expected_cost": {"approve": ..., "deny": ...[, "review": ...]},
 *    "reasons": null (this model has no per-reason head),
 *    "evidence": [{"text": a line of the claim, "weight": ...}, ...],
 *    "model_id": ...}
 * or, for a line that is not a valid claim,
 *   {"line": N, "error": "reason", "model_id": ...}.
 * The action is the model's policy: deny when the raw score reaches the
 * threshold chosen on validation (as eval_claims decides), and "review"
 * when review is enabled and its cost is below the expected cost of the
 * automatic action. A member's earlier claims in the same stream feed the
 * history facts, as the dataset loader does for a file.
 *
 * Thread safety: every call on one scorer takes its lock, so one scorer may
 * be shared by threads (calls are serialized); for parallel throughput open
 * one scorer per thread. Results do not depend on which thread calls. */
#ifndef CLAIMS_SCORER_H
#define CLAIMS_SCORER_H

#include <stdbool.h>
#include <stddef.h>

#include "tensor/status.h"

typedef struct claims_scorer claims_scorer;

typedef struct claims_scorer_opts {
    const char *codes_path; /* code table, required (must be the one the model was trained with) */
    int threads;            /* 0: default */
    double review_cost;     /* cost of pending a claim for review; <= 0: never review */
    int evidence;           /* evidence lines per claim (0: 3) */
    bool per_call_history;  /* history facts from the claims of the same call only (a service's
                               independent requests), not from every earlier call */
} claims_scorer_opts;

/* Opens a checkpoint for scoring. Errors name the file and what is missing
 * or mismatched (no artifact tokenizer, a tabular model without provider
 * statistics, another code table): TG_ERR_IO, TG_ERR_FORMAT, TG_ERR_INVALID,
 * TG_ERR_OOM. */
tg_status claims_scorer_open(const char *checkpoint, const claims_scorer_opts *opts, claims_scorer **out);

void claims_scorer_close(claims_scorer *s);

/* The model's id: a fingerprint of its weights and configuration. */
const char *claims_scorer_model_id(const claims_scorer *s);

/* Scores n lines (lens[i] bytes each, not NUL-terminated; line_no[i] their
 * 1-based numbers, for the records); out[i] gets a malloc'd JSON record
 * (one line, no newline) for every line, an error record for a malformed
 * one. *n_errors (may be NULL) counts those. A failure of the model itself
 * (TG_ERR_OOM, ...) returns the error with out[] all NULL. */
tg_status claims_scorer_score(claims_scorer *s, const char *const *lines, const size_t *lens, const long *line_no,
                              size_t n, char **out, size_t *n_errors);

/* One claim given as JSON text: *record as above (line number 1). */
tg_status claims_scorer_score_one(claims_scorer *s, const char *json, size_t len, char **record);

#endif
