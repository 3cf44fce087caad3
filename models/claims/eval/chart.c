#include "models/claims/eval/chart.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_TICKS 12

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

/* ---- ticks ---- */

/* Tick index range [*i0, *i1] of multiples of step covering [lo, hi]; the
 * slack keeps 0.6 / 0.2 from landing just past 3. */
static void tick_span(double lo, double hi, double step, int64_t *i0, int64_t *i1)
{
    *i0 = (int64_t)floor(lo / step + 1e-9);
    *i1 = (int64_t)ceil(hi / step - 1e-9);
    if (*i1 == *i0) ++*i1; /* a range narrower than the slack still gets an axis */
}

int claims_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step)
{
    if (max_ticks < 2) max_ticks = 2;
    if (!(hi > lo)) { /* one value (or none): a unit-wide axis around it */
        double w = lo != 0 && isfinite(lo) ? fabs(lo) * 0.5 : 1;
        lo = isfinite(lo) ? lo - w : 0, hi = isfinite(hi) ? hi + w : 1;
    }
    static const double mant[] = {1, 2, 5};
    double s = 1;
    int64_t i0 = 0, i1 = 0;
    for (int e = (int)floor(log10((hi - lo) / (max_ticks - 1))) - 1;; e++) {
        int k = 0;
        for (; k < 3; k++) {
            s = mant[k] * pow(10, e);
            tick_span(lo, hi, s, &i0, &i1);
            if (i1 - i0 + 1 <= max_ticks) break;
        }
        if (k < 3) break;
    }
    int n = 0;
    for (int64_t i = i0; i <= i1; i++) ticks[n++] = (double)i * s;
    *step = s;
    return n;
}

/* Values m * 10^k (m in mant) from the largest at or below lo to the
 * smallest at or above hi, every `every`-th decade when mant is {1}. */
static int log_candidates(double lo, double hi, const int *mant, int n_mant, int every, double *out, int cap)
{
    int e0 = (int)floor(log10(lo)), e1 = (int)ceil(log10(hi));
    e0 -= ((e0 % every) + every) % every;
    int n = 0;
    double prev = NAN;
    for (int e = e0; e <= e1 + every; e += every)
        for (int k = 0; k < n_mant; k++) {
            double v = mant[k] * pow(10, e);
            if (v <= lo * (1 + 1e-12)) n = 0; /* restart: a later value still bounds lo */
            if (n < cap && (n == 0 || v > prev)) out[n++] = v, prev = v;
            if (v >= hi * (1 - 1e-12)) return n;
        }
    return n;
}

int claims_log_ticks(double lo, double hi, int max_ticks, double *ticks)
{
    static const int m125[] = {1, 2, 5}, m1to9[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, m1[] = {1};
    double buf[64];
    int n = log_candidates(lo, hi, m125, 3, 1, buf, 64);
    if (n < 3) n = log_candidates(lo, hi, m1to9, 9, 1, buf, 64);
    for (int every = 1; n > max_ticks; every++) n = log_candidates(lo, hi, m1, 1, every, buf, 64);
    memcpy(ticks, buf, sizeof *ticks * (size_t)n);
    return n;
}

/* Inserts thousands separators into the integer part of a decimal text. */
static void group_thousands(const char *in, char *out, size_t len)
{
    const char *digits = in + (*in == '-'), *dot = strchr(digits, '.');
    size_t int_len = dot ? (size_t)(dot - digits) : strlen(digits), o = 0;
    if (*in == '-' && o + 1 < len) out[o++] = '-';
    for (size_t i = 0; i < int_len && o + 2 < len; i++) {
        if (i > 0 && (int_len - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    snprintf(out + o, len - o, "%s", dot ? dot : "");
}

/* v with `decimals` decimals, trailing zeros dropped, thousands grouped. */
static void fixed_label(double v, int decimals, char *buf, size_t len)
{
    char t[64];
    snprintf(t, sizeof t, "%.*f", decimals, v);
    if (strchr(t, '.')) {
        char *end = t + strlen(t) - 1;
        while (*end == '0') *end-- = '\0';
        if (*end == '.') *end = '\0';
    }
    if (!strcmp(t, "-0")) snprintf(t, sizeof t, "0");
    if (fabs(v) >= 1000)
        group_thousands(t, buf, len);
    else
        snprintf(buf, len, "%s", t);
}

void claims_tick_label(double v, double step, char *buf, size_t len)
{
    double ref = step > 0 ? step : fabs(v);
    if (ref == 0 || fabs(v) < ref * 1e-9) {
        snprintf(buf, len, "0");
        return;
    }
    int e = (int)floor(log10(ref) + 1e-9);
    if (e < -4) { /* 5e-05, 1.25e-05: the digits down to the step's */
        int sig = (int)floor(log10(fabs(v)) + 1e-9) - e + 1;
        snprintf(buf, len, "%.*e", sig > 1 ? sig - 1 : 0, v);
    } else {
        fixed_label(v, e < 0 ? -e : 0, buf, len);
    }
}

void claims_format_num(double v, int digits, char *buf, size_t len)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "n/a");
        return;
    }
    if (v == 0) {
        snprintf(buf, len, "0");
        return;
    }
    int e = (int)floor(log10(fabs(v)));
    if (e < -4 || e >= 12)
        snprintf(buf, len, "%.*g", digits, v); /* 3e-05, 6.17e+12 */
    else
        fixed_label(v, e >= digits - 1 ? 0 : digits - 1 - e, buf, len);
}

/* ---- drawing ---- */

void claims_html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '\'': fputs("&#39;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

typedef struct frame {
    int ml, mt, pw, ph;
    double x0, x1, y0, y1; /* axis range (y in log10 on a log axis) */
    bool log_y;
} frame;

static double ty(const frame *g, double y) { return g->log_y ? (y > 0 ? log10(y) : NAN) : y; }
static double px(const frame *g, double x) { return g->ml + g->pw * (x - g->x0) / (g->x1 - g->x0); }
static double py(const frame *g, double y) { return g->mt + g->ph - g->ph * (ty(g, y) - g->y0) / (g->y1 - g->y0); }

static bool usable(const frame *g, double x, double y) { return isfinite(x) && isfinite(ty(g, y)); }

/* Data range of the usable points; false when there is none. */
static bool data_range(const frame *g, const claims_series *s, int ns, double r[4])
{
    r[0] = r[2] = INFINITY;
    r[1] = r[3] = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!usable(g, s[k].x[i], s[k].y[i])) continue;
            r[0] = fmin(r[0], s[k].x[i]), r[1] = fmax(r[1], s[k].x[i]);
            r[2] = fmin(r[2], s[k].y[i]), r[3] = fmax(r[3], s[k].y[i]);
        }
    return r[0] <= r[1];
}

static void x_axis(FILE *f, frame *g, const claims_chart *c, double lo, double hi)
{
    double t[MAX_TICKS], step;
    int n = claims_nice_ticks(lo, hi, 6, t, &step);
    g->x0 = c->fix_x ? c->x0 : t[0], g->x1 = c->fix_x ? c->x1 : t[n - 1];
    for (int i = 0; i < n; i++) {
        if (t[i] < g->x0 - 1e-9 * step || t[i] > g->x1 + 1e-9 * step) continue;
        char lab[64];
        claims_tick_label(t[i], step, lab, sizeof lab);
        double x = px(g, t[i]);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#eee'/>\n", x, g->mt, x, g->mt + g->ph);
        fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle'>%s</text>\n", x, g->mt + g->ph + 14, lab);
    }
}

static void y_axis(FILE *f, frame *g, const claims_chart *c, double lo, double hi)
{
    double t[MAX_TICKS], step = 0;
    int n = g->log_y ? claims_log_ticks(lo, hi, 10, t) : claims_nice_ticks(lo, hi, 6, t, &step);
    if (c->fix_y)
        g->y0 = ty(g, c->y0), g->y1 = ty(g, c->y1);
    else
        g->y0 = ty(g, t[0]), g->y1 = ty(g, t[n - 1]);
    for (int i = 0; i < n; i++) {
        double y = py(g, t[i]);
        if (y < g->mt - 0.5 || y > g->mt + g->ph + 0.5) continue;
        char lab[64];
        claims_tick_label(t[i], step, lab, sizeof lab);
        fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#eee'/>\n", g->ml, y, g->ml + g->pw, y);
        fprintf(f, "<text x='%d' y='%.1f' text-anchor='end'>%s</text>\n", g->ml - 4, y + 4, lab);
    }
}

static void polyline(FILE *f, const frame *g, const claims_series *s, const char *color)
{
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5'%s points='", color,
            s->dashed ? " stroke-dasharray='5,4'" : "");
    for (int i = 0; i < s->n; i++)
        if (usable(g, s->x[i], s->y[i])) fprintf(f, "%.1f,%.1f ", px(g, s->x[i]), py(g, s->y[i]));
    fprintf(f, "'/>\n");
    for (int i = 0; s->markers && i < s->n; i++)
        if (usable(g, s->x[i], s->y[i]))
            fprintf(f, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>\n", px(g, s->x[i]), py(g, s->y[i]), color);
}

/* The plot area's contents, clipped to it by a nested <svg>. */
static void plot(FILE *f, const frame *g, const claims_chart *c, const claims_series *s, int ns)
{
    fprintf(f, "<svg x='%d' y='%d' width='%d' height='%d' viewBox='%d %d %d %d' overflow='hidden'>\n", g->ml, g->mt,
            g->pw, g->ph, g->ml, g->mt, g->pw, g->ph);
    if (c->diagonal) {
        double lo = fmax(g->x0, c->fix_y ? c->y0 : g->y0), hi = fmin(g->x1, c->fix_y ? c->y1 : g->y1);
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#999' stroke-dasharray='3,3'/>\n", px(g, lo),
                py(g, lo), px(g, hi), py(g, hi));
    }
    if (c->has_vline && isfinite(c->vline_x))
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#555' stroke-dasharray='4,3'/>\n",
                px(g, c->vline_x), g->mt, px(g, c->vline_x), g->mt + g->ph);
    for (int k = 0; k < ns; k++) polyline(f, g, &s[k], palette[k % 6]);
    fprintf(f, "</svg>\n");
}

/* The marked point, clamped into the plot so an off-range choice still shows. */
static void mark(FILE *f, const frame *g, const claims_chart *c)
{
    if (!c->has_mark || !isfinite(c->mark_x) || !isfinite(ty(g, c->mark_y))) return;
    double x = fmin(fmax(px(g, c->mark_x), g->ml), g->ml + g->pw);
    double y = fmin(fmax(py(g, c->mark_y), g->mt), g->mt + g->ph);
    fprintf(f, "<circle cx='%.1f' cy='%.1f' r='5' fill='none' stroke='#000' stroke-width='2'/>\n", x, y);
    if (!c->mark_label) return;
    bool left = x > g->ml + g->pw * 0.6;
    fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='%s' font-weight='bold'>", x + (left ? -8 : 8), y - 8,
            left ? "end" : "start");
    claims_html_escape(f, c->mark_label);
    fprintf(f, "</text>\n");
}

static void legend(FILE *f, const frame *g, const claims_chart *c, const claims_series *s, int ns)
{
    int x = g->ml + g->pw + 10, y = g->mt + 10;
    for (int k = 0; k < ns; k++, y += 16) {
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='%s' stroke-width='2'%s/>", x, y - 4, x + 16, y - 4,
                palette[k % 6], s[k].dashed ? " stroke-dasharray='4,3'" : "");
        fprintf(f, "<text x='%d' y='%d'>", x + 20, y);
        claims_html_escape(f, s[k].name);
        fprintf(f, "</text>\n");
    }
    if (c->has_vline && c->vline_label) {
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#555' stroke-dasharray='4,3'/><text x='%d' y='%d'>",
                x, y - 4, x + 16, y - 4, x + 20, y);
        claims_html_escape(f, c->vline_label);
        fprintf(f, "</text>\n");
        y += 16;
    }
    for (const char *line = c->note; line && *line; y += 14) { /* one text per line of the note */
        size_t len = strcspn(line, "\n");
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), line);
        fprintf(f, "<text x='%d' y='%d' fill='#555'>", x, y + 6);
        claims_html_escape(f, buf);
        fprintf(f, "</text>\n");
        line += len + (line[len] == '\n');
    }
}

void claims_chart_svg(FILE *f, const claims_chart *c, const claims_series *s, int n_series)
{
    frame g = {.ml = 70, .mt = 30, .pw = c->width - 70 - 190, .ph = c->height - 30 - 44, .log_y = c->log_y};
    double r[4] = {0, 1, 0, 1};
    if (!data_range(&g, s, n_series, r)) r[0] = 0, r[1] = 1, r[2] = g.log_y ? 0.1 : 0, r[3] = 1;
    if (c->fix_x) r[0] = c->x0, r[1] = c->x1;
    if (c->fix_y) r[2] = c->y0, r[3] = c->y1;
    fprintf(f,
            "<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' "
            "font-size='11'>\n<text x='%d' y='18' font-size='14' font-weight='bold'>",
            c->width, c->height, g.ml);
    claims_html_escape(f, c->title);
    fprintf(f, "%s</text>\n", c->log_y ? " (log scale)" : "");
    x_axis(f, &g, c, r[0], r[1]);
    y_axis(f, &g, c, r[2], r[3]);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", g.ml, g.mt, g.pw, g.ph);
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>", g.ml + g.pw / 2, c->height - 8);
    claims_html_escape(f, c->xlabel);
    fprintf(f, "</text>\n");
    if (c->ylabel) {
        fprintf(f, "<text transform='translate(14,%d) rotate(-90)' text-anchor='middle'>", g.mt + g.ph / 2);
        claims_html_escape(f, c->ylabel);
        fprintf(f, "</text>\n");
    }
    plot(f, &g, c, s, n_series);
    mark(f, &g, c);
    legend(f, &g, c, s, n_series);
    fprintf(f, "</svg>\n");
}
