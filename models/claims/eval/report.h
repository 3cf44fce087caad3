/* The training report: reads a run's metrics.jsonl and writes a
 * self-contained HTML page with SVG charts (loss curves, learning rate,
 * gradient norm, validation metrics, business cost against the trivial
 * baselines) and the last confusion matrix. */
#ifndef CLAIMS_REPORT_H
#define CLAIMS_REPORT_H

#include "tensor/status.h"

/* Reads `metrics_path` (one JSON object per line: training steps carry
 * "step", evaluations "eval_step") and writes the HTML report to out_path.
 * TG_ERR_IO / TG_ERR_FORMAT name the file and line. */
tg_status claims_report_write(const char *metrics_path, const char *out_path, const char *title);

#endif
