#include "models/claims/eval/report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

/* ---- SVG charts ---- */

static double tr(double v, bool log_y) { return log_y ? (v > 0 ? log10(v) : NAN) : v; }

static void bounds(const claims_series *s, int ns, bool log_y, double *x0, double *x1, double *y0, double *y1)
{
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double y = tr(s[k].y[i], log_y);
            if (isnan(y) || isinf(y)) continue;
            *x0 = fmin(*x0, s[k].x[i]);
            *x1 = fmax(*x1, s[k].x[i]);
            *y0 = fmin(*y0, y);
            *y1 = fmax(*y1, y);
        }
    if (*x0 > *x1) *x0 = 0, *x1 = 1;
    if (*y0 > *y1) *y0 = 0, *y1 = 1;
    if (*x1 == *x0) *x1 = *x0 + 1;
    if (*y1 == *y0) *y1 = *y0 + (fabs(*y0) > 0 ? fabs(*y0) * 0.1 : 1);
}

void claims_svg_chart(FILE *f, const char *title, const char *xlabel, const claims_series *s, int n_series,
                      bool log_y, int width, int height)
{
    const int ml = 60, mr = 150, mt = 30, mb = 40;
    const int pw = width - ml - mr, ph = height - mt - mb;
    double x0, x1, y0, y1;
    bounds(s, n_series, log_y, &x0, &x1, &y0, &y1);
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='11'>\n",
            width, height);
    fprintf(f, "<text x='%d' y='18' font-size='14' font-weight='bold'>%s%s</text>\n", ml, title, log_y ? " (log scale)" : "");
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", ml, mt, pw, ph);
    for (int t = 0; t <= 4; t++) {
        double fy = y0 + (y1 - y0) * t / 4, fx = x0 + (x1 - x0) * t / 4;
        int py = mt + ph - (int)(ph * t / 4), px = ml + (int)(pw * t / 4);
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#eee'/>\n", ml, py, ml + pw, py);
        fprintf(f, "<text x='%d' y='%d' text-anchor='end'>%.4g</text>\n", ml - 4, py + 4, log_y ? pow(10, fy) : fy);
        fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>%.4g</text>\n", px, mt + ph + 14, fx);
    }
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>%s</text>\n", ml + pw / 2, height - 6, xlabel);
    for (int k = 0; k < n_series; k++) {
        const char *color = palette[k % 6];
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='", color);
        for (int i = 0; i < s[k].n; i++) {
            double y = tr(s[k].y[i], log_y);
            if (isnan(y) || isinf(y)) continue;
            fprintf(f, "%.1f,%.1f ", ml + pw * (s[k].x[i] - x0) / (x1 - x0), mt + ph - ph * (y - y0) / (y1 - y0));
        }
        fprintf(f, "'/>\n<text x='%d' y='%d' fill='%s'>%s</text>\n", ml + pw + 8, mt + 14 + 16 * k, color, s[k].name);
    }
    fprintf(f, "</svg>\n");
}

/* ---- metrics.jsonl ---- */

typedef struct column {
    const char *key;
    double *x, *y;
    int n, cap;
} column;

static const char *step_keys[] = {"loss", "lm_loss", "decision_loss", "lr", "grad_norm", "tokens_per_s", "loss_scale", "epsilon"};
static const char *eval_keys[] = {"val_lm_loss", "token_acc", "code_token_acc", "rare_code_token_acc", "decision_acc",
                                  "precision", "recall", "auc", "pr_auc", "business_cost",
                                  "baseline_cost_always_approve", "baseline_cost_always_deny"};
#define N_STEP_KEYS (int)(sizeof step_keys / sizeof *step_keys)
#define N_EVAL_KEYS (int)(sizeof eval_keys / sizeof *eval_keys)

static tg_status push(column *c, double x, double y)
{
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 256;
        double *nx = realloc(c->x, sizeof *nx * (size_t)cap);
        if (nx) c->x = nx;
        double *ny = realloc(c->y, sizeof *ny * (size_t)cap);
        if (ny) c->y = ny;
        if (!nx || !ny) return tg_error(TG_ERR_OOM, "claims_report_write: out of memory");
        c->cap = cap;
    }
    c->x[c->n] = x;
    c->y[c->n++] = y;
    return TG_OK;
}

typedef struct run_data {
    column step[N_STEP_KEYS], eval[N_EVAL_KEYS];
    json_t *last_eval;
    json_t *last_dp; /* last step line of a DP-SGD run */
} run_data;

static tg_status take_line(run_data *d, json_t *o)
{
    json_t *es = json_object_get(o, "eval_step"), *st = json_object_get(o, "step");
    bool is_eval = json_is_number(es);
    if (!is_eval && !json_is_number(st)) return TG_OK; /* header or summary lines */
    double x = json_number_value(is_eval ? es : st);
    column *cols = is_eval ? d->eval : d->step;
    const char **keys = is_eval ? eval_keys : step_keys;
    for (int k = 0; k < (is_eval ? N_EVAL_KEYS : N_STEP_KEYS); k++) {
        json_t *v = json_object_get(o, keys[k]);
        if (json_is_number(v)) TG_TRY(push(&cols[k], x, json_number_value(v)));
    }
    if (is_eval) {
        json_decref(d->last_eval);
        d->last_eval = json_incref(o);
    } else if (json_object_get(o, "sample_rate")) {
        json_decref(d->last_dp);
        d->last_dp = json_incref(o);
    }
    return TG_OK;
}

static tg_status read_metrics(const char *path, run_data *d)
{
    FILE *f = fopen(path, "r");
    if (!f) return tg_error(TG_ERR_IO, "claims_report_write: cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    tg_status st = TG_OK;
    for (int lineno = 1; st == TG_OK && getline(&line, &cap, f) > 0; lineno++) {
        if (line[strspn(line, " \t\r\n")] == '\0') continue;
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (!json_is_object(o)) st = tg_error(TG_ERR_FORMAT, "%s:%d: not a JSON object (%s)", path, lineno, err.text);
        else st = take_line(d, o);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return st;
}

/* ---- HTML ---- */

static claims_series series(const column *c, const char *name) { return (claims_series){name, c->x, c->y, c->n}; }

static void confusion_table(FILE *f, json_t *e)
{
    json_t *cm = json_object_get(e, "confusion");
    if (!cm) return;
    int64_t tn = json_integer_value(json_object_get(cm, "tn")), fp = json_integer_value(json_object_get(cm, "fp"));
    int64_t fn = json_integer_value(json_object_get(cm, "fn")), tp = json_integer_value(json_object_get(cm, "tp"));
    fprintf(f, "<h2>Confusion matrix (last evaluation, step %lld)</h2>\n<table border='1' cellpadding='6'>"
               "<tr><th></th><th>predicted approve</th><th>predicted deny</th></tr>"
               "<tr><th>true approve</th><td>%lld</td><td>%lld (false rejections)</td></tr>"
               "<tr><th>true deny</th><td>%lld (false approvals)</td><td>%lld</td></tr></table>\n",
            (long long)json_integer_value(json_object_get(e, "eval_step")), (long long)tn, (long long)fp,
            (long long)fn, (long long)tp);
}

static void summary_table(FILE *f, json_t *e)
{
    fprintf(f, "<h2>Last evaluation</h2>\n<table border='1' cellpadding='4'>\n");
    for (int k = 0; k < N_EVAL_KEYS; k++) {
        json_t *v = json_object_get(e, eval_keys[k]);
        if (json_is_number(v)) fprintf(f, "<tr><td>%s</td><td>%.5g</td></tr>\n", eval_keys[k], json_number_value(v));
    }
    fprintf(f, "</table>\n");
}

/* DP-SGD figures of the last step and epsilon over the steps. */
static void privacy_section(FILE *f, run_data *d)
{
    json_t *o = d->last_dp, *e = json_object_get(o, "epsilon");
    fprintf(f, "<h2>Privacy (DP-SGD)</h2>\n<table border='1' cellpadding='4'>\n");
    if (json_is_number(e)) fprintf(f, "<tr><td>epsilon (RDP accountant, after step %lld)</td><td>%.4g</td></tr>\n",
                                   (long long)json_integer_value(json_object_get(o, "step")), json_number_value(e));
    else fprintf(f, "<tr><td>epsilon</td><td>unbounded (no noise)</td></tr>\n");
    const char *keys[] = {"delta", "sigma", "clip", "sample_rate"};
    const char *names[] = {"delta", "noise multiplier sigma", "per-unit clip norm C", "sampling rate q"};
    for (int k = 0; k < 4; k++)
        fprintf(f, "<tr><td>%s</td><td>%.4g</td></tr>\n", names[k], json_number_value(json_object_get(o, keys[k])));
    fprintf(f, "<tr><td>privacy unit</td><td>%s</td></tr>\n</table>\n",
            json_string_value(json_object_get(o, "dp_unit")) ? json_string_value(json_object_get(o, "dp_unit")) : "?");
    claims_series eps = series(&d->step[7], "epsilon");
    claims_svg_chart(f, "Privacy budget spent (epsilon at the run's delta)", "step", &eps, 1, false, 720, 220);
}

static void write_html(FILE *f, run_data *d, const char *title)
{
    fprintf(f, "<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title></head><body>\n<h1>%s</h1>\n", title, title);
    claims_series loss[] = {series(&d->step[0], "loss"), series(&d->step[1], "lm_loss"),
                            series(&d->step[2], "decision_loss"), series(&d->eval[0], "val_lm_loss")};
    claims_svg_chart(f, "Loss", "step", loss, 4, true, 720, 300);
    claims_series lr = series(&d->step[3], "lr");
    claims_svg_chart(f, "Learning rate", "step", &lr, 1, false, 720, 220);
    claims_series gn = series(&d->step[4], "grad_norm");
    claims_svg_chart(f, "Gradient norm (before clipping)", "step", &gn, 1, true, 720, 220);
    claims_series acc[] = {series(&d->eval[1], "token_acc"), series(&d->eval[2], "code_token_acc"),
                           series(&d->eval[3], "rare_code_token_acc"), series(&d->eval[4], "decision_acc"),
                           series(&d->eval[7], "auc"), series(&d->eval[8], "pr_auc")};
    claims_svg_chart(f, "Validation metrics", "step", acc, 6, false, 720, 300);
    claims_series cost[] = {series(&d->eval[9], "model"), series(&d->eval[10], "always approve"),
                            series(&d->eval[11], "always deny")};
    claims_svg_chart(f, "Business cost on validation (lower is better)", "step", cost, 3, false, 720, 260);
    if (d->last_eval) {
        summary_table(f, d->last_eval);
        confusion_table(f, d->last_eval);
    }
    if (d->last_dp) privacy_section(f, d);
    fprintf(f, "</body></html>\n");
}

tg_status claims_report_write(const char *metrics_path, const char *out_path, const char *title)
{
    run_data d = {0};
    for (int k = 0; k < N_STEP_KEYS; k++) d.step[k].key = step_keys[k];
    for (int k = 0; k < N_EVAL_KEYS; k++) d.eval[k].key = eval_keys[k];
    tg_status st = read_metrics(metrics_path, &d);
    if (st == TG_OK) {
        FILE *f = fopen(out_path, "w");
        if (!f) {
            st = tg_error(TG_ERR_IO, "claims_report_write: cannot write %s", out_path);
        } else {
            write_html(f, &d, title);
            if (fclose(f) != 0) st = tg_error(TG_ERR_IO, "claims_report_write: error writing %s", out_path);
        }
    }
    for (int k = 0; k < N_STEP_KEYS; k++) free(d.step[k].x), free(d.step[k].y);
    for (int k = 0; k < N_EVAL_KEYS; k++) free(d.eval[k].x), free(d.eval[k].y);
    json_decref(d.last_eval);
    json_decref(d.last_dp);
    return st;
}
