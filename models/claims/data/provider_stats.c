#include "models/claims/data/provider_stats.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int by_provider(const void *a, const void *b)
{
    const claims_claim *x = *(const claims_claim *const *)a, *y = *(const claims_claim *const *)b;
    return strcmp(x->provider_id, y->provider_id);
}

/* Appends an entry for provider id (copied). */
static tg_status add_entry(claims_provider_stats *p, const char *id)
{
    claims_provider_stats_entry *e = &p->e[p->n];
    memset(e, 0, sizeof *e);
    if (!(e->provider_id = strdup(id))) return tg_error(TG_ERR_OOM, "claims_provider_stats_build: out of memory");
    p->n++;
    return TG_OK;
}

tg_status claims_provider_stats_build(const claims_dataset *ds, claims_provider_stats *out)
{
    memset(out, 0, sizeof *out);
    const claims_claim **v = malloc(sizeof *v * (ds->n ? ds->n : 1));
    out->e = malloc(sizeof *out->e * (ds->n ? ds->n : 1));
    if (!v || !out->e) {
        free(v);
        return tg_error(TG_ERR_OOM, "claims_provider_stats_build: out of memory for %zu claims", ds->n);
    }
    size_t m = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->claims[i].em_level > 0) v[m++] = &ds->claims[i];
    qsort(v, m, sizeof *v, by_provider);
    tg_status st = TG_OK;
    long visits = 0, high = 0, top = 0;
    for (size_t i = 0; st == TG_OK && i < m; i++) {
        if (i == 0 || strcmp(v[i]->provider_id, v[i - 1]->provider_id)) st = add_entry(out, v[i]->provider_id);
        if (st != TG_OK) break;
        claims_provider_stats_entry *e = &out->e[out->n - 1];
        e->visits++, visits++;
        if (v[i]->em_level >= 4) e->high++, high++;
        if (v[i]->em_level == 5) e->top++, top++;
    }
    out->prior_high = visits ? (double)high / (double)visits : 0.0;
    out->prior_top = visits ? (double)top / (double)visits : 0.0;
    free(v);
    return st;
}

/* Binomial z-score of k successes in n trials at rate p, capped at +-4. */
static float zscore(int k, int n, double p)
{
    double var = n * p * (1 - p);
    if (n <= 0 || var <= 0) return 0.0f;
    double z = (k - n * p) / sqrt(var);
    return (float)(z < -4 ? -4 : z > 4 ? 4 : z);
}

static int find_entry(const void *key, const void *e)
{
    return strcmp(key, ((const claims_provider_stats_entry *)e)->provider_id);
}

void claims_provider_stats_apply_claim(const claims_provider_stats *p, claims_claim *c, bool leave_one_out)
{
    const claims_provider_stats_entry *e =
        p->n ? bsearch(c->provider_id, p->e, (size_t)p->n, sizeof *p->e, find_entry) : NULL;
    int visits = e ? e->visits : 0, high = e ? e->high : 0, top = e ? e->top : 0;
    if (e && leave_one_out && c->em_level > 0) {
        visits--;
        high -= c->em_level >= 4;
        top -= c->em_level == 5;
    }
    c->provider_em_visits = visits;
    c->provider_em_high = zscore(high, visits, p->prior_high);
    c->provider_em_top = zscore(top, visits, p->prior_top);
}

void claims_provider_stats_apply(const claims_provider_stats *p, claims_dataset *ds, bool leave_one_out)
{
    for (size_t i = 0; i < ds->n; i++) claims_provider_stats_apply_claim(p, &ds->claims[i], leave_one_out);
}

void claims_provider_stats_free(claims_provider_stats *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) free(p->e[i].provider_id);
    free(p->e);
    memset(p, 0, sizeof *p);
}

tg_status claims_provider_stats_fill(claims_dataset *train, claims_dataset *other, char **json)
{
    if (json) *json = NULL;
    claims_provider_stats p;
    tg_status st = claims_provider_stats_build(train, &p);
    if (st == TG_OK) {
        claims_provider_stats_apply(&p, train, true);
        if (other) claims_provider_stats_apply(&p, other, false);
        if (json && !(*json = claims_provider_stats_to_json(&p))) st = TG_ERR_OOM;
    }
    claims_provider_stats_free(&p);
    return st;
}

char *claims_provider_stats_to_json(const claims_provider_stats *p)
{
    json_t *rows = json_array();
    for (int i = 0; rows && i < p->n; i++)
        if (json_array_append_new(
                rows, json_pack("[s,i,i,i]", p->e[i].provider_id, p->e[i].visits, p->e[i].high, p->e[i].top))) {
            json_decref(rows);
            rows = NULL;
        }
    json_t *o =
        rows ? json_pack("{s:f,s:f,s:o}", "prior_high", p->prior_high, "prior_top", p->prior_top, "providers", rows)
             : NULL;
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) tg_error(TG_ERR_OOM, "claims_provider_stats_to_json: out of memory for %d providers", p->n);
    return s;
}

/* Entry i of the providers array into *e; false with the reason in why. */
static bool entry_from_json(json_t *row, claims_provider_stats_entry *e, char *why, size_t n)
{
    const char *id;
    json_int_t visits, high, top;
    if (json_unpack(row, "[s,I,I,I]", &id, &visits, &high, &top)) {
        snprintf(why, n, "expected [provider_id, visits, high, top]");
        return false;
    }
    if (visits < 0 || visits > INT32_MAX || high < 0 || high > visits || top < 0 || top > high) {
        snprintf(why, n, "needs 0 <= top <= high <= visits <= %d", INT32_MAX);
        return false;
    }
    e->visits = (int)visits, e->high = (int)high, e->top = (int)top;
    e->provider_id = strdup(id);
    if (!e->provider_id) snprintf(why, n, "out of memory");
    return e->provider_id != NULL;
}

tg_status claims_provider_stats_from_json(const char *json, const char *what, claims_provider_stats *out)
{
    memset(out, 0, sizeof *out);
    json_error_t err;
    json_t *o = json_loads(json, 0, &err), *rows;
    tg_status st = TG_OK;
    if (!o ||
        json_unpack(o, "{s:F,s:F,s:o}", "prior_high", &out->prior_high, "prior_top", &out->prior_top, "providers",
                    &rows) ||
        !json_is_array(rows)) {
        st = tg_error(TG_ERR_FORMAT,
                      "%s: provider statistics must be {\"prior_high\", \"prior_top\", \"providers\": [...]}", what);
    } else if (!(out->prior_high >= 0 && out->prior_high <= 1 && out->prior_top >= 0 && out->prior_top <= 1) ||
               json_array_size(rows) > INT32_MAX) {
        st = tg_error(TG_ERR_FORMAT, "%s: provider statistics: shares must lie in [0, 1]", what);
    } else if (!(out->e = calloc(json_array_size(rows) + 1, sizeof *out->e))) {
        st = tg_error(TG_ERR_OOM, "%s: out of memory for %zu providers", what, json_array_size(rows));
    }
    char why[128];
    for (size_t i = 0; st == TG_OK && i < json_array_size(rows); i++, out->n++)
        if (!entry_from_json(json_array_get(rows, i), &out->e[i], why, sizeof why))
            st = tg_error(TG_ERR_FORMAT, "%s: provider statistics entry %zu: %s", what, i, why);
    for (int i = 1; st == TG_OK && i < out->n; i++)
        if (strcmp(out->e[i - 1].provider_id, out->e[i].provider_id) >= 0)
            st = tg_error(TG_ERR_FORMAT, "%s: provider statistics entry %d: providers must be sorted and distinct",
                          what, i);
    json_decref(o);
    if (st != TG_OK) claims_provider_stats_free(out);
    return st;
}
