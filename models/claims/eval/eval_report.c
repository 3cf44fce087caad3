#include "models/claims/eval/eval_report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/eval/chart.h"
#include "models/claims/eval/curves.h"
#include "models/claims/model/config.h"

#define CALIB_BINS 10 /* as the ECE of claims_eval */
#define HIST_BINS 20

typedef struct num_text {
    char s[48];
} num_text;

/* v for a reader with `digits` significant digits (chart.h). */
static num_text num(double v, int digits)
{
    num_text t;
    claims_format_num(v, digits, t.s, sizeof t.s);
    return t;
}

static num_text count(int64_t v) { return num((double)v, 19); }

static num_text percent(double share)
{
    num_text t;
    if (isfinite(share))
        snprintf(t.s, sizeof t.s, "%.1f%%", 100 * share);
    else
        snprintf(t.s, sizeof t.s, "n/a");
    return t;
}

/* The threshold as the page states it: above 1 no score reaches it. */
static num_text threshold_text(double thr)
{
    num_text t;
    if (thr > 1)
        snprintf(t.s, sizeof t.s, "above every score (approve all)");
    else
        claims_format_num(thr, 4, t.s, sizeof t.s);
    return t;
}

/* What the page draws besides the evaluation itself. */
typedef struct report_ctx {
    const claims_eval_report *r;
    const claims_eval *e;
    const claims_eval_scores *s;
    int64_t pos, neg;
    bool has_calib;
    double calib_a, calib_b;
    float *calibrated; /* scores after the checkpoint's calibration, when it has one */
} report_ctx;

static void section(FILE *f, const char *id, const char *title) { fprintf(f, "<h2 id='%s'>%s</h2>\n", id, title); }

/* ---- summary, policy, confusion, reasons ---- */

static void summary(FILE *f, const report_ctx *x)
{
    const claims_eval *e = x->e;
    double approve = e->baseline_cost_always_approve, deny = e->baseline_cost_always_deny, cost = e->business_cost;
    double best = fmin(approve, deny);
    section(f, "summary", "Summary");
    fprintf(f, "<p class='headline'>Business cost <b>%s</b> on %s claims (%s denied, %s): ", num(cost, 6).s,
            count(e->docs).s, count(x->pos).s, percent(x->pos / (double)(e->docs ? e->docs : 1)).s);
    if (cost < best)
        fprintf(f, "<b>%s less</b> than the better trivial policy (%s, cost %s), a saving of <b>%s</b>.</p>\n",
                num(best - cost, 6).s, approve <= deny ? "approve every claim" : "deny every claim", num(best, 6).s,
                percent(best > 0 ? (best - cost) / best : NAN).s);
    else
        fprintf(f, "<b>no saving</b>: %s costs %s.</p>\n",
                approve <= deny ? "approving every claim" : "denying every claim", num(best, 6).s);
    fprintf(f, "<table><tr><th>policy</th><th>business cost</th><th>model's saving</th><th>share saved</th></tr>\n");
    fprintf(f, "<tr><td>this model</td><td>%s</td><td></td><td></td></tr>\n", num(cost, 6).s);
    const char *names[] = {"approve every claim", "deny every claim"};
    const double base[] = {approve, deny};
    for (int k = 0; k < 2; k++)
        fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", names[k], num(base[k], 6).s,
                num(base[k] - cost, 6).s, percent(base[k] > 0 ? (base[k] - cost) / base[k] : NAN).s);
    fprintf(
        f, "</table>\n<p>ROC AUC %s, precision-recall AUC %s, accuracy %s, deny precision %s, deny recall %s.</p>\n",
        num(e->auc, 3).s, num(e->pr_auc, 3).s, num(e->decision_acc, 3).s, num(e->precision, 3).s, num(e->recall, 3).s);
}

static void policy(FILE *f, const report_ctx *x)
{
    const claims_costs *c = &x->r->costs;
    double thr = x->e->threshold;
    section(f, "policy", "Decision policy");
    fprintf(f, "<p>Each claim is <b>denied when the model's P(deny) is at least the threshold</b> and approved "
               "otherwise; there is no review action in this evaluation. The threshold is the one the checkpoint "
               "carries, chosen on the validation split to minimise business cost.</p>\n<table>\n");
    fprintf(f, "<tr><td>decision threshold on P(deny)</td><td>%s</td></tr>\n", threshold_text(thr).s);
    fprintf(f, "<tr><td>cost of a false rejection (approvable claim denied)</td><td>%s</td></tr>\n",
            num(c->c[0][1], 6).s);
    fprintf(f, "<tr><td>cost of a false approval (deniable claim approved)</td><td>%s</td></tr>\n",
            num(c->c[1][0], 6).s);
    fprintf(f, "<tr><td>cost of a correct approval / denial</td><td>%s / %s</td></tr>\n", num(c->c[0][0], 6).s,
            num(c->c[1][1], 6).s);
    double regret = c->c[0][1] - c->c[0][0] + c->c[1][0] - c->c[1][1];
    fprintf(f, "<tr><td>expected-cost cut for calibrated probabilities</td><td>%s</td></tr>\n",
            num(regret > 0 ? (c->c[0][1] - c->c[0][0]) / regret : NAN, 3).s);
    if (x->has_calib) {
        fprintf(f, "<tr><td>calibration (Platt, fitted on validation)</td><td>a = %s, b = %s", num(x->calib_a, 4).s,
                num(x->calib_b, 4).s);
        if (thr <= 1)
            fprintf(f, "; the threshold is calibrated P(deny) %s",
                    num(claims_platt_apply(x->calib_a, x->calib_b, thr), 3).s);
        fprintf(f, "</td></tr>\n");
    } else {
        fprintf(f, "<tr><td>calibration</td><td>none in the checkpoint</td></tr>\n");
    }
    fprintf(f, "</table>\n");
}

static void confusion(FILE *f, const report_ctx *x)
{
    const claims_confusion *m = &x->e->confusion;
    const claims_costs *c = &x->r->costs;
    section(f, "confusion", "Confusion matrix");
    fprintf(f,
            "<table><tr><th></th><th>approved</th><th>denied</th></tr>\n"
            "<tr><th>should be approved</th><td>%s</td><td>%s false rejections (cost %s)</td></tr>\n"
            "<tr><th>should be denied</th><td>%s false approvals (cost %s)</td><td>%s</td></tr></table>\n",
            count(m->tn).s, count(m->fp).s, num((double)m->fp * c->c[0][1], 6).s, count(m->fn).s,
            num((double)m->fn * c->c[1][0], 6).s, count(m->tp).s);
}

static void reason_row(FILE *f, const char *name, int64_t n, int64_t caught, int64_t fp, double recall, double auc)
{
    double prec = caught + fp ? (double)caught / (double)(caught + fp) : NAN;
    fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", name, count(n).s,
            count(caught).s, num(recall, 3).s, isfinite(prec) ? num(prec, 3).s : "not defined", num(auc, 3).s);
}

static void reasons(FILE *f, const report_ctx *x)
{
    const claims_eval *e = x->e;
    const claims_eval_scores *s = x->s;
    section(f, "reasons", "Deny reasons");
    fprintf(f, "<p>Recall: share of the claims with the reason that are denied at the threshold. Precision and AUC "
               "are against the approvable claims: precision is the share of the reason's claims among those two "
               "groups' denied claims (not defined when none is denied).</p>\n<table><tr><th>deny reason</th>"
               "<th>claims</th><th>denied</th><th>recall</th><th>precision</th><th>AUC</th></tr>\n");
    reason_row(f, "all denials", x->pos, e->confusion.tp, e->confusion.fp, e->recall, e->auc);
    bool any = false;
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++) {
        if (!e->reason_n[r]) continue;
        int64_t caught = 0;
        for (int32_t i = 0; i < s->n; i++) caught += ((s->reasons[i] >> r) & 1) && s->score[i] >= e->threshold;
        reason_row(f, claims_deny_reason_name((claims_deny_reason)r), e->reason_n[r], caught, e->confusion.fp,
                   e->reason_recall[r], e->reason_auc[r]);
        any = true;
    }
    fprintf(f, "</table>\n%s", any ? "" : "<p>The data names no deny reasons.</p>\n");
}

/* ---- charts ---- */

static claims_series curve_series(const claims_curve *c, const char *name, bool markers)
{
    return (claims_series){.name = name, .x = c->x, .y = c->y, .n = c->n, .markers = markers};
}

static tg_status roc_pr(FILE *f, const report_ctx *x)
{
    const claims_eval *e = x->e;
    const claims_confusion *m = &e->confusion;
    claims_curve roc, pr;
    TG_TRY(claims_roc_curve(x->s->score, x->s->label, x->s->n, &roc));
    tg_status st = claims_pr_curve(x->s->score, x->s->label, x->s->n, &pr);
    if (st == TG_OK) {
        char title[96], name[96];
        section(f, "roc-pr", "ROC and precision-recall curves");
        snprintf(title, sizeof title, "ROC curve (AUC %s)", num(e->auc, 3).s);
        claims_series s = curve_series(&roc, "model", false);
        claims_chart c = {.title = title,
                          .xlabel = "false positive rate (approvable claims denied)",
                          .ylabel = "true positive rate (recall)",
                          .width = 560,
                          .height = 400,
                          .fix_x = true,
                          .x1 = 1,
                          .fix_y = true,
                          .y1 = 1,
                          .diagonal = true,
                          .has_mark = x->pos && x->neg,
                          .mark_x = (double)m->fp / (double)(x->neg ? x->neg : 1),
                          .mark_y = (double)m->tp / (double)(x->pos ? x->pos : 1),
                          .mark_label = "threshold",
                          .note = roc.n ? "dashed: chance" : "not defined:\nneeds both classes"};
        claims_chart_svg(f, &c, &s, 1);
        double base_x[] = {0, 1}, base_y[2] = {(double)x->pos / (double)(e->docs ? e->docs : 1)};
        base_y[1] = base_y[0];
        snprintf(title, sizeof title, "Precision-recall (AUC %s)", num(e->pr_auc, 3).s);
        snprintf(name, sizeof name, "no skill (share denied %s)", num(base_y[0], 2).s);
        claims_series ps[] = {curve_series(&pr, "model", false),
                              {.name = name, .x = base_x, .y = base_y, .n = 2, .dashed = true}};
        c = (claims_chart){.title = title,
                           .xlabel = "recall (denials caught)",
                           .ylabel = "precision",
                           .width = 560,
                           .height = 400,
                           .fix_x = true,
                           .x1 = 1,
                           .fix_y = true,
                           .y1 = 1,
                           .has_mark = m->tp + m->fp > 0,
                           .mark_x = claims_recall(m),
                           .mark_y = claims_precision(m),
                           .mark_label = "threshold",
                           .note = pr.n ? NULL : "not defined:\nno denied claim"};
        claims_chart_svg(f, &c, ps, 2);
    }
    claims_curve_free(&roc);
    claims_curve_free(&pr);
    return st;
}

/* Lowest cost over the thresholds of the curve (hindsight on this split). */
static void lowest(const claims_curve *c, double *thr, double *cost)
{
    *thr = NAN, *cost = INFINITY;
    for (int i = 0; i < c->n; i++)
        if (c->y[i] < *cost) *cost = c->y[i], *thr = c->x[i];
}

/* The threshold axis from the highest threshold (down to a tenth) whose cost
 * runs above top: below it the curve is off the scale anyway. */
static double threshold_axis_start(const claims_curve *c, double top)
{
    double cut = 0;
    for (int i = 0; i < c->n; i++)
        if (c->y[i] > top) cut = fmax(cut, c->x[i]);
    return fmin(floor(cut * 10) / 10, 0.9);
}

static tg_status cost_threshold(FILE *f, const report_ctx *x)
{
    const claims_eval *e = x->e;
    claims_curve cc;
    TG_TRY(claims_cost_curve(x->s->score, x->s->label, x->s->n, &x->r->costs, &cc));
    /* the scale of the model and approving everything, never denying everything's */
    double ticks[16], step, best_thr, best_cost;
    int nt =
        claims_nice_ticks(0, fmax(1, fmax(e->baseline_cost_always_approve, e->business_cost) * 1.5), 6, ticks, &step);
    double top = ticks[nt - 1], x0 = threshold_axis_start(&cc, top);
    lowest(&cc, &best_thr, &best_cost);
    char note[256], label[128];
    snprintf(note, sizeof note, "always deny: %s\n(threshold 0, off the scale)\nlowest here: %s at %s\n(hindsight)",
             num(e->baseline_cost_always_deny, 6).s, num(best_cost, 6).s, num(best_thr, 3).s);
    snprintf(label, sizeof label, "chosen: %s, cost %s", e->threshold > 1 ? "approve all" : num(e->threshold, 3).s,
             num(e->business_cost, 6).s);
    double base_x[] = {0, 1}, base_y[] = {e->baseline_cost_always_approve, e->baseline_cost_always_approve};
    claims_series s[] = {curve_series(&cc, "model", false),
                         {.name = "always approve", .x = base_x, .y = base_y, .n = 2, .dashed = true}};
    claims_chart c = {.title = "Business cost against the threshold (lower is better)",
                      .xlabel = "threshold on P(deny) (deny at or above)",
                      .ylabel = "business cost",
                      .note = note,
                      .width = 900,
                      .height = 380,
                      .fix_x = true,
                      .x0 = x0,
                      .x1 = 1,
                      .fix_y = true,
                      .y1 = top,
                      .has_mark = true,
                      .mark_x = fmin(e->threshold, 1),
                      .mark_y = e->business_cost,
                      .mark_label = label};
    section(f, "cost-threshold", "Cost versus threshold");
    if (x0 > 0)
        fprintf(f, "<p>Thresholds below %s cost more than %s and are left out.</p>\n", num(x0, 2).s, num(top, 6).s);
    claims_chart_svg(f, &c, s, 2);
    claims_curve_free(&cc);
    return TG_OK;
}

static tg_status calibration(FILE *f, const report_ctx *x)
{
    const claims_eval_scores *s = x->s;
    claims_curve raw, cal = {0};
    TG_TRY(claims_reliability_curve(s->score, s->label, s->n, CALIB_BINS, &raw));
    tg_status st = x->calibrated ? claims_reliability_curve(x->calibrated, s->label, s->n, CALIB_BINS, &cal) : TG_OK;
    if (st == TG_OK) {
        section(f, "calibration", "Calibration");
        fprintf(f, "<p>Expected calibration error (%d bins): model scores %s", CALIB_BINS, num(x->e->ece, 3).s);
        if (x->calibrated)
            fprintf(f, "; after the checkpoint's calibration (fitted on validation) %s",
                    num(claims_ece(x->calibrated, s->label, s->n, CALIB_BINS), 3).s);
        fprintf(f, "; after a calibration refitted on this split %s (in-sample, optimistic).</p>\n",
                num(x->e->ece_calibrated, 3).s);
        claims_series ss[] = {curve_series(&raw, "model scores", true),
                              curve_series(&cal, "calibrated (validation fit)", true)};
        claims_chart c = {.title = "Reliability: observed deny rate per probability bin",
                          .xlabel = "mean predicted P(deny) in the bin",
                          .ylabel = "observed share denied",
                          .note = "dashed: perfect calibration",
                          .width = 560,
                          .height = 400,
                          .fix_x = true,
                          .x1 = 1,
                          .fix_y = true,
                          .y1 = 1,
                          .diagonal = true};
        claims_chart_svg(f, &c, ss, x->calibrated ? 2 : 1);
    }
    claims_curve_free(&raw);
    claims_curve_free(&cal);
    return st;
}

static tg_status histograms(FILE *f, const report_ctx *x)
{
    const claims_eval_scores *s = x->s;
    claims_curve h[2];
    TG_TRY(claims_score_histogram(s->score, s->label, s->n, 0, HIST_BINS, &h[0]));
    tg_status st = claims_score_histogram(s->score, s->label, s->n, 1, HIST_BINS, &h[1]);
    if (st == TG_OK) {
        char a[64], d[64];
        snprintf(a, sizeof a, "approvable (%s)", count(x->neg).s);
        snprintf(d, sizeof d, "deniable (%s)", count(x->pos).s);
        claims_series ss[] = {curve_series(&h[0], a, false), curve_series(&h[1], d, false)};
        claims_chart c = {.title = "Scores of approvable and deniable claims",
                          .xlabel = "model's P(deny)",
                          .ylabel = "share of the group's claims",
                          .width = 900,
                          .height = 340,
                          .fix_x = true,
                          .x1 = 1,
                          .has_vline = x->e->threshold <= 1,
                          .vline_x = x->e->threshold,
                          .vline_label = "threshold"};
        section(f, "scores", "Score distributions");
        claims_chart_svg(f, &c, ss, 2);
    }
    claims_curve_free(&h[0]);
    claims_curve_free(&h[1]);
    return st;
}

/* ---- configuration and run ---- */

/* One row per leaf of the configuration (objects flattened to a.b keys);
 * long values such as the tokenizer are summarized. */
static void config_rows(FILE *f, const char *prefix, json_t *o, int depth)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v) && depth < 3) {
            config_rows(f, name, v, depth + 1);
            continue;
        }
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        const char *shown = json_is_string(v) ? json_string_value(v) : text ? text : "?";
        size_t len = strlen(shown);
        fprintf(f, "<tr><td>");
        claims_html_escape(f, name);
        fprintf(f, "</td><td>");
        if (len > 120)
            fprintf(f, "(%s characters, not shown)", count((int64_t)len).s);
        else
            claims_html_escape(f, shown);
        fprintf(f, "</td></tr>\n");
        free(text);
    }
}

static void configuration(FILE *f, const report_ctx *x)
{
    section(f, "config", "Run configuration");
    json_t *o = x->r->config_json ? json_loads(x->r->config_json, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        fprintf(f, "<p>The checkpoint carries no readable configuration.</p>\n");
    } else {
        fprintf(f, "<p>As stored in the checkpoint (train_claims flag names).</p>\n<table>\n");
        config_rows(f, "", o, 0);
        fprintf(f, "</table>\n");
    }
    json_decref(o);
}

static num_text when(time_t t)
{
    num_text s;
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(s.s, sizeof s.s, "%Y-%m-%d %H:%M:%S %Z", &tm))
        snprintf(s.s, sizeof s.s, "?");
    return s;
}

static void about(FILE *f, const report_ctx *x)
{
    const claims_eval_report *r = x->r;
    const claims_eval *e = x->e;
    section(f, "run", "This evaluation");
    fprintf(f, "<table>\n<tr><td>claims file</td><td>");
    claims_html_escape(f, r->data_path);
    fprintf(f, "</td></tr>\n<tr><td>lines read</td><td>%s: %s claims used, %s rejected, %s blank</td></tr>\n",
            count(r->read.lines_read).s, count(r->read.used).s, count(r->read.rejected).s, count(r->read.blank).s);
    fprintf(f, "<tr><td>checkpoint</td><td>");
    claims_html_escape(f, r->model_path);
    fprintf(f, "</td></tr>\n<tr><td>date</td><td>%s</td></tr>\n<tr><td>duration</td><td>%s s</td></tr>\n",
            when(r->started).s, num(r->duration_s, 3).s);
    fprintf(f, "<tr><td>tokens</td><td>%s (medical codes %s, rare codes %s)</td></tr>\n", count(e->tokens).s,
            count(e->code_tokens).s, count(e->rare_code_tokens).s);
    fprintf(f,
            "<tr><td>language model</td><td>loss %s, token accuracy %s, code token accuracy %s, rare code token "
            "accuracy %s</td></tr>\n</table>\n",
            num(e->val_lm_loss, 4).s, num(e->token_acc, 3).s, num(e->code_token_acc, 3).s,
            num(e->rare_code_token_acc, 3).s);
}

/* ---- page ---- */

static const char *style = "body{font-family:sans-serif;max-width:1180px;margin:1em auto;padding:0 1em;color:#222}"
                           "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:4px 8px;"
                           "text-align:left}.headline{font-size:1.2em}svg.chart{margin:.5em 1em .5em 0}";

static tg_status page(FILE *f, const report_ctx *x)
{
    fprintf(f, "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Claims evaluation: ");
    claims_html_escape(f, x->r->data_path);
    fprintf(f, "</title><style>%s</style></head><body>\n<h1>Claims evaluation: ", style);
    claims_html_escape(f, x->r->data_path);
    fprintf(f, "</h1>\n<p>%s claims, evaluated %s in %s s.</p>\n", count(x->e->docs).s, when(x->r->started).s,
            num(x->r->duration_s, 3).s);
    summary(f, x);
    policy(f, x);
    confusion(f, x);
    reasons(f, x);
    TG_TRY(roc_pr(f, x));
    TG_TRY(cost_threshold(f, x));
    TG_TRY(calibration(f, x));
    TG_TRY(histograms(f, x));
    configuration(f, x);
    about(f, x);
    fprintf(f, "</body></html>\n");
    return TG_OK;
}

tg_status claims_eval_report_write(const char *path, const claims_eval_report *r)
{
    report_ctx x = {.r = r, .e = r->eval, .s = r->scores};
    for (int32_t i = 0; i < x.s->n; i++) x.pos += x.s->label[i] != 0;
    x.neg = x.s->n - x.pos;
    x.has_calib = r->config_json && claims_config_calibration(r->config_json, &x.calib_a, &x.calib_b);
    if (x.has_calib) {
        x.calibrated = malloc(sizeof(float) * (size_t)(x.s->n ? x.s->n : 1));
        if (!x.calibrated) return tg_error(TG_ERR_OOM, "claims_eval_report_write: out of memory");
        for (int32_t i = 0; i < x.s->n; i++)
            x.calibrated[i] = (float)claims_platt_apply(x.calib_a, x.calib_b, x.s->score[i]);
    }
    FILE *f = fopen(path, "w");
    tg_status st = f ? page(f, &x) : tg_error(TG_ERR_IO, "claims_eval_report_write: cannot write %s", path);
    if (f && fclose(f) != 0 && st == TG_OK)
        st = tg_error(TG_ERR_IO, "claims_eval_report_write: error writing %s", path);
    free(x.calibrated);
    return st;
}
