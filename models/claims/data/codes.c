#include "models/claims/data/codes.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/base/hashmap.h"

/* ---- code formats ---- */

bool claims_code_format_ok(const char *code, claims_code_kind kind)
{
    size_t n = strlen(code);
    claims_code_kind k;
    return n > 0 && claims_code_match(code, n, 0, &k) == n && k == kind;
}

claims_code_kind claims_code_classify(const char *code)
{
    for (int k = CLAIMS_CODE_ICD10CM; k <= CLAIMS_CODE_HCPCS; k++)
        if (claims_code_format_ok(code, (claims_code_kind)k)) return (claims_code_kind)k;
    return CLAIMS_CODE_NONE;
}

/* ---- table ---- */

int claims_codes_group(const claims_codes *t, const char *name)
{
    for (int g = 0; g < t->n_groups; g++)
        if (strcmp(t->group_names[g], name) == 0) return g;
    return -1;
}

static int cmp_index(const void *a, const void *b, void *table)
{
    const claims_codes *t = table;
    return strcmp(t->codes[*(const int *)a].code, t->codes[*(const int *)b].code);
}

const claims_code *claims_codes_find(const claims_codes *t, const char *code)
{
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(t->codes[t->sorted[mid]].code, code);
        if (c == 0) return &t->codes[t->sorted[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

void claims_codes_free(claims_codes *t)
{
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->codes[i].description);
    for (int g = 0; g < t->n_groups; g++) free(t->group_names[g]);
    free(t->codes);
    free(t->sorted);
    free(t);
}

/* Adds the comma-separated group names of `list` to the table and returns their mask. */
static tg_status parse_groups(claims_codes *t, char *list, uint32_t *mask, const char *path, long line)
{
    *mask = 0;
    for (char *save = NULL, *g = strtok_r(list, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        int idx = claims_codes_group(t, g);
        if (idx < 0) {
            if (t->n_groups == CLAIMS_MAX_GROUPS)
                return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: more than %d groups", path, line,
                                CLAIMS_MAX_GROUPS);
            if (!(t->group_names[t->n_groups] = strdup(g)))
                return tg_error(TG_ERR_OOM, "claims_codes_load: out of memory");
            idx = t->n_groups++;
        }
        *mask |= 1u << idx;
    }
    if (!*mask) return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: empty group list", path, line);
    return TG_OK;
}

static bool parse_int(const char *s, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return !errno && end != s && !*end && *v >= lo && *v <= hi;
}

/* Parses one data row (9 tab-separated fields) into a new entry of t. */
static tg_status parse_row(claims_codes *t, char *row, const char *path, long line)
{
    char *f[9];
    int nf = 0;
    for (char *p = row; nf < 9; nf++) {
        f[nf] = p;
        char *tab = strchr(p, '\t');
        if (!tab) {
            nf++;
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    if (nf != 9) return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: %d fields, want 9", path, line, nf);
    claims_code *c = &t->codes[t->n];
    memset(c, 0, sizeof *c);
    int kind = strcmp(f[1], "icd") == 0     ? CLAIMS_CODE_ICD10CM
               : strcmp(f[1], "cpt") == 0   ? CLAIMS_CODE_CPT
               : strcmp(f[1], "hcpcs") == 0 ? CLAIMS_CODE_HCPCS
                                            : -1;
    if (kind < 0)
        return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: kind '%s' is not icd|cpt|hcpcs", path, line, f[1]);
    if (strlen(f[0]) >= CLAIMS_CODE_LEN || !claims_code_format_ok(f[0], (claims_code_kind)kind))
        return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: '%s' is not a valid %s code", path, line, f[0],
                        f[1]);
    strcpy(c->code, f[0]);
    c->kind = (claims_code_kind)kind;
    TG_TRY(parse_groups(t, f[2], &c->groups, path, line));
    if (strcmp(f[3], "M") && strcmp(f[3], "F") && strcmp(f[3], "-"))
        return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: sex '%s' is not M|F|-", path, line, f[3]);
    c->sex = f[3][0];
    long amin, amax, pa;
    if (!parse_int(f[4], 0, 150, &amin) || !parse_int(f[5], amin, 150, &amax))
        return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: bad age range '%s'-'%s'", path, line, f[4], f[5]);
    c->age_min = (int)amin;
    c->age_max = (int)amax;
    char *end;
    c->amount = strtod(f[6], &end);
    if (end == f[6] || *end || c->amount < 0)
        return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: bad amount '%s'", path, line, f[6]);
    if (!parse_int(f[7], 0, 1, &pa))
        return tg_error(TG_ERR_FORMAT, "claims_codes_load: %s:%ld: prior_auth '%s' is not 0|1", path, line, f[7]);
    c->prior_auth = pa == 1;
    if (!(c->description = strdup(f[8]))) return tg_error(TG_ERR_OOM, "claims_codes_load: out of memory");
    t->n++;
    return TG_OK;
}

static tg_status load_rows(claims_codes *t, FILE *f, const char *path)
{
    char *line = NULL;
    size_t cap = 0, n_alloc = 0;
    ssize_t len;
    long lineno = 0;
    tg_status st = TG_OK;
    while (st == TG_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0 || line[0] == '#' || (lineno == 1 && strncmp(line, "code\t", 5) == 0)) continue;
        if ((size_t)t->n == n_alloc) {
            n_alloc = n_alloc ? 2 * n_alloc : 256;
            claims_code *p = realloc(t->codes, n_alloc * sizeof *p);
            if (!p) {
                st = tg_error(TG_ERR_OOM, "claims_codes_load: out of memory");
                break;
            }
            t->codes = p;
        }
        st = parse_row(t, line, path, lineno);
    }
    free(line);
    return st;
}

/* A fingerprint of the table's contents (every field of every code, in
 * file order), so a model can tell that it is scored with its own table. */
static uint64_t table_hash(const claims_codes *t)
{
    uint64_t h = 1469598103934665603ull;
    char row[512];
    for (int i = 0; i < t->n; i++) {
        const claims_code *c = &t->codes[i];
        int n = snprintf(row, sizeof row, "%s|%d|%u|%c|%d|%d|%.17g|%d|%s\n", c->code, (int)c->kind, c->groups, c->sex,
                         c->age_min, c->age_max, c->amount, c->prior_auth, c->description ? c->description : "");
        h = claims_hash_bytes(row, n > 0 && (size_t)n < sizeof row ? (size_t)n : sizeof row - 1) ^
            (h * 1099511628211ull);
    }
    return h;
}

tg_status claims_codes_load(const char *path, claims_codes **out)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return tg_error(TG_ERR_IO, "claims_codes_load: cannot open '%s': %s", path, strerror(errno));
    claims_codes *t = calloc(1, sizeof *t);
    tg_status st = t ? load_rows(t, f, path) : tg_error(TG_ERR_OOM, "claims_codes_load: out of memory");
    fclose(f);
    if (st == TG_OK && t->n == 0) st = tg_error(TG_ERR_FORMAT, "claims_codes_load: %s: no codes", path);
    if (st == TG_OK && !(t->sorted = malloc((size_t)t->n * sizeof *t->sorted)))
        st = tg_error(TG_ERR_OOM, "claims_codes_load: out of memory");
    if (st == TG_OK) {
        for (int i = 0; i < t->n; i++) t->sorted[i] = i;
        qsort_r(t->sorted, (size_t)t->n, sizeof *t->sorted, cmp_index, t);
        for (int i = 1; i < t->n && st == TG_OK; i++)
            if (strcmp(t->codes[t->sorted[i]].code, t->codes[t->sorted[i - 1]].code) == 0)
                st = tg_error(TG_ERR_FORMAT, "claims_codes_load: %s: duplicate code '%s'", path,
                              t->codes[t->sorted[i]].code);
        int g = claims_codes_group(t, "general");
        t->general_mask = g >= 0 ? 1u << g : 0;
        t->hash = table_hash(t);
    }
    if (st != TG_OK) {
        claims_codes_free(t);
        return st;
    }
    *out = t;
    return TG_OK;
}
