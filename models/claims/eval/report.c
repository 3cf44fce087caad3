#include "models/claims/eval/report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/eval/chart.h"

/* ---- metrics.jsonl ---- */

typedef struct column {
    const char *key;
    double *x, *y;
    int n, cap;
} column;

static const char *step_keys[] = {"loss",      "lm_loss",      "decision_loss", "lr",
                                  "grad_norm", "tokens_per_s", "loss_scale",    "epsilon"};
static const char *eval_keys[] = {"val_lm_loss",
                                  "token_acc",
                                  "code_token_acc",
                                  "rare_code_token_acc",
                                  "decision_acc",
                                  "precision",
                                  "recall",
                                  "auc",
                                  "pr_auc",
                                  "business_cost",
                                  "baseline_cost_always_approve",
                                  "baseline_cost_always_deny"};
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
        if (!json_is_object(o))
            st = tg_error(TG_ERR_FORMAT, "%s:%d: not a JSON object (%s)", path, lineno, err.text);
        else
            st = take_line(d, o);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return st;
}

/* ---- HTML ---- */

static claims_series series(const column *c, const char *name, bool markers)
{
    return (claims_series){.name = name, .x = c->x, .y = c->y, .n = c->n, .markers = markers};
}

/* A chart over the run's steps (the same x axis in every chart);
 * evaluations are drawn with a dot per point. */
static void step_chart(FILE *f, const run_data *d, const char *title, const claims_series *s, int n, bool log_y,
                       int height, const char *note)
{
    const column *loss = &d->step[0];
    claims_chart c = {.title = title, .xlabel = "step", .note = note, .width = 760, .height = height, .log_y = log_y};
    if (loss->n > 1) c.fix_x = true, c.x0 = 0, c.x1 = loss->x[loss->n - 1];
    claims_chart_svg(f, &c, s, n);
}

static void confusion_table(FILE *f, json_t *e)
{
    json_t *cm = json_object_get(e, "confusion");
    if (!cm) return;
    int64_t tn = json_integer_value(json_object_get(cm, "tn")), fp = json_integer_value(json_object_get(cm, "fp"));
    int64_t fn = json_integer_value(json_object_get(cm, "fn")), tp = json_integer_value(json_object_get(cm, "tp"));
    fprintf(f,
            "<h2>Confusion matrix (last evaluation, step %lld)</h2>\n<table border='1' cellpadding='6'>"
            "<tr><th></th><th>predicted approve</th><th>predicted deny</th></tr>"
            "<tr><th>true approve</th><td>%lld</td><td>%lld (false rejections)</td></tr>"
            "<tr><th>true deny</th><td>%lld (false approvals)</td><td>%lld</td></tr></table>\n",
            (long long)json_integer_value(json_object_get(e, "eval_step")), (long long)tn, (long long)fp, (long long)fn,
            (long long)tp);
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
static void privacy_section(FILE *f, const run_data *d)
{
    json_t *o = d->last_dp, *e = json_object_get(o, "epsilon");
    fprintf(f, "<h2>Privacy (DP-SGD)</h2>\n<table border='1' cellpadding='4'>\n");
    if (json_is_number(e))
        fprintf(f, "<tr><td>epsilon (RDP accountant, after step %lld)</td><td>%.4g</td></tr>\n",
                (long long)json_integer_value(json_object_get(o, "step")), json_number_value(e));
    else
        fprintf(f, "<tr><td>epsilon</td><td>unbounded (no noise)</td></tr>\n");
    const char *keys[] = {"delta", "sigma", "clip", "sample_rate"};
    const char *names[] = {"delta", "noise multiplier sigma", "per-unit clip norm C", "sampling rate q"};
    for (int k = 0; k < 4; k++)
        fprintf(f, "<tr><td>%s</td><td>%.4g</td></tr>\n", names[k], json_number_value(json_object_get(o, keys[k])));
    fprintf(f, "<tr><td>privacy unit</td><td>%s</td></tr>\n</table>\n",
            json_string_value(json_object_get(o, "dp_unit")) ? json_string_value(json_object_get(o, "dp_unit")) : "?");
    claims_series eps = series(&d->step[7], "epsilon", false);
    step_chart(f, d, "Privacy budget spent (epsilon at the run's delta)", &eps, 1, false, 220, NULL);
}

/* Business cost on validation: the model against approving everything, on
 * their scale; denying everything costs far more and is given as a number. */
static void cost_chart(FILE *f, const run_data *d)
{
    const column *deny = &d->eval[11];
    char note[96] = "", num[32];
    if (deny->n) {
        claims_format_num(deny->y[deny->n - 1], 6, num, sizeof num);
        snprintf(note, sizeof note, "always deny: %s\n(off the scale)", num);
    }
    claims_series cost[] = {series(&d->eval[9], "model", true), series(&d->eval[10], "always approve", true)};
    cost[1].dashed = true;
    step_chart(f, d, "Business cost on validation (lower is better)", cost, 2, false, 260, deny->n ? note : NULL);
}

static void write_html(FILE *f, const run_data *d, const char *title)
{
    fprintf(f, "<!DOCTYPE html><html><head><meta charset='utf-8'><title>");
    claims_html_escape(f, title);
    fprintf(f, "</title></head><body>\n<h1>");
    claims_html_escape(f, title);
    fprintf(f, "</h1>\n");
    claims_series loss[] = {series(&d->step[0], "loss", false), series(&d->step[1], "lm_loss", false),
                            series(&d->step[2], "decision_loss", false), series(&d->eval[0], "val_lm_loss", true)};
    step_chart(f, d, "Loss", loss, 4, true, 300, NULL);
    claims_series lr = series(&d->step[3], "lr", false);
    step_chart(f, d, "Learning rate", &lr, 1, false, 220, NULL);
    claims_series gn = series(&d->step[4], "grad_norm", false);
    step_chart(f, d, "Gradient norm (before clipping)", &gn, 1, true, 220, NULL);
    claims_series acc[] = {series(&d->eval[1], "token_acc", true),
                           series(&d->eval[2], "code_token_acc", true),
                           series(&d->eval[3], "rare_code_token_acc", true),
                           series(&d->eval[4], "decision_acc", true),
                           series(&d->eval[7], "auc", true),
                           series(&d->eval[8], "pr_auc", true)};
    step_chart(f, d, "Validation metrics", acc, 6, false, 300, NULL);
    cost_chart(f, d);
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
