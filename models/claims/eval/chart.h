/* SVG charts for the claims reports: line charts with axis ticks at "nice"
 * numbers (1, 2 or 5 times a power of ten apart, labelled 0, 50, 100 or
 * 0.0005, never 200.8), linear or log y, fixed or data-driven ranges, a
 * y = x reference, a marked point and a vertical marker line. */
#ifndef CLAIMS_CHART_H
#define CLAIMS_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct claims_series {
    const char *name;
    const double *x, *y;
    int n;
    bool markers; /* a dot at every point (sparse series such as evaluations) */
    bool dashed;  /* reference lines (baselines) */
} claims_series;

typedef struct claims_chart {
    const char *title, *xlabel, *ylabel;
    const char *note;  /* text under the legend, lines split at '\n' (e.g. a value off the scale); may be NULL */
    int width, height; /* px */
    bool log_y;        /* log10 axis over the positive y */
    bool fix_x, fix_y; /* axis ranges [x0, x1], [y0, y1] instead of the data's (points outside are clipped) */
    double x0, x1, y0, y1;
    bool diagonal; /* dashed y = x: chance ROC, perfect calibration */
    bool has_mark; /* a dot at (mark_x, mark_y), clamped into the plot */
    double mark_x, mark_y;
    const char *mark_label;
    bool has_vline; /* a dashed vertical line at vline_x */
    double vline_x;
    const char *vline_label;
} claims_chart;

/* At most max_ticks (>= 2) tick values a nice step apart covering [lo, hi],
 * written to ticks; returns their count and the step. The first and last
 * tick bound the axis. */
int claims_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step);

/* Ticks of a log axis over [lo, hi] (0 < lo <= hi): values 1, 2, 5 (or
 * 1 to 9, or powers of ten) times a power of ten, at most max_ticks, the
 * first at or below lo and the last at or above hi; returns their count. */
int claims_log_ticks(double lo, double hi, int max_ticks, double *ticks);

/* Label of tick v on an axis with ticks `step` apart (step <= 0: v stands
 * alone, as on a log axis): as few decimals as the step needs, thousands
 * separated ("1,250"), "0" for zero. */
void claims_tick_label(double v, double step, char *buf, size_t len);

/* A number for a reader: like a tick label with up to `digits` significant
 * digits ("7,475", "0.0312"; exponent form below 1e-4 and from 1e12; "n/a"
 * when not finite). */
void claims_format_num(double v, int digits, char *buf, size_t len);

/* Writes one <svg class='chart'> line chart; NaN and infinite points (and
 * non-positive ones on a log axis) are skipped. */
void claims_chart_svg(FILE *f, const claims_chart *c, const claims_series *s, int n_series);

/* Writes s with <, >, &, ' and " escaped for HTML text and attributes. */
void claims_html_escape(FILE *f, const char *s);

#endif
