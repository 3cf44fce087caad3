/* The training report: reads a run's metrics.jsonl and writes a
 * self-contained HTML page with SVG charts (loss curves, learning rate,
 * gradient norm, validation metrics, business cost against the trivial
 * baselines) and the last confusion matrix. */
#ifndef CLAIMS_REPORT_H
#define CLAIMS_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "tensor/status.h"

typedef struct claims_series {
    const char *name;
    const double *x, *y;
    int n;
} claims_series;

/* Writes one SVG line chart (width x height px) with a legend and axis
 * ticks; NaN points are skipped. log_y plots log10(y) for positive y. */
void claims_svg_chart(FILE *f, const char *title, const char *xlabel, const claims_series *s, int n_series,
                      bool log_y, int width, int height);

/* Reads `metrics_path` (one JSON object per line: training steps carry
 * "step", evaluations "eval_step") and writes the HTML report to out_path.
 * TG_ERR_IO / TG_ERR_FORMAT name the file and line. */
tg_status claims_report_write(const char *metrics_path, const char *out_path, const char *title);

#endif
