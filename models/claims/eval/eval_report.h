/* The evaluation report of one split, for the claims team: a self-contained
 * HTML page with the business-cost headline against approving and denying
 * everything, the confusion matrix, a per-deny-reason table, the decision
 * policy (threshold, costs, calibration), ROC and precision-recall curves,
 * cost against the threshold with the chosen point, a reliability plot,
 * score histograms of approved and denied claims, the run configuration
 * and when and how long the evaluation ran. Each part is an <h2 id=...>
 * section; charts are inline <svg class='chart'>. */
#ifndef CLAIMS_EVAL_REPORT_H
#define CLAIMS_EVAL_REPORT_H

#include <time.h>

#include "models/claims/data/dataset.h"
#include "models/claims/eval/evaluate.h"

typedef struct claims_eval_report {
    const char *model_path, *data_path; /* named in the page */
    const claims_eval *eval;            /* at the checkpoint's threshold */
    const claims_eval_scores *scores;   /* the same evaluation's claims */
    claims_costs costs;                 /* the checkpoint's cost matrix */
    const char *config_json;            /* the checkpoint's configuration (run configuration, calibration) */
    claims_read_summary read;           /* what the reader made of data_path */
    time_t started;                     /* when the evaluation started */
    double duration_s;                  /* its wall time */
} claims_eval_report;

/* Writes the report to path (replacing it). TG_ERR_IO naming the path,
 * TG_ERR_OOM. */
tg_status claims_eval_report_write(const char *path, const claims_eval_report *r);

#endif
