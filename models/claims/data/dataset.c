#include "models/claims/data/dataset.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/data/decision.h"
#include "models/claims/data/history.h"
#include "tensor/rng.h"

/* ---- validation of one line ---- */

typedef struct parse_ctx {
    char *why;
    size_t why_len;
    const claims_codes *codes;
    bool labels_optional;
} parse_ctx;

__attribute__((format(printf, 2, 3))) static bool fail(parse_ctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, p->why_len, fmt, ap);
    va_end(ap);
    return false;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Field `key` of obj with the wanted type; `where` prefixes the name in messages. */
static json_t *field(parse_ctx *p, json_t *obj, const char *where, const char *key, json_type want,
                     const char *want_name)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        fail(p, "missing field '%s%s'", where, key);
        return NULL;
    }
    bool ok =
        json_typeof(v) == want || (want == JSON_TRUE && json_is_boolean(v)) || (want == JSON_REAL && json_is_number(v));
    if (!ok) {
        fail(p, "field '%s%s' must be %s, got %s", where, key, want_name, type_name(v));
        return NULL;
    }
    return v;
}

static bool get_string(parse_ctx *p, json_t *obj, const char *where, const char *key, const char **out)
{
    json_t *v = field(p, obj, where, key, JSON_STRING, "a string");
    if (!v) return false;
    *out = json_string_value(v);
    return true;
}

static bool dup_string(parse_ctx *p, json_t *obj, const char *where, const char *key, char **out)
{
    const char *s;
    if (!get_string(p, obj, where, key, &s)) return false;
    if (!*s) return fail(p, "field '%s%s' is empty", where, key);
    if (!(*out = strdup(s))) return fail(p, "out of memory");
    return true;
}

static bool valid_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, used = 0;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10) return false;
    return y >= 1850 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1];
}

static bool get_date(parse_ctx *p, json_t *obj, const char *where, const char *key, char out[11])
{
    const char *s;
    if (!get_string(p, obj, where, key, &s)) return false;
    if (!valid_date(s)) return fail(p, "field '%s%s' is not a YYYY-MM-DD date: \"%.40s\"", where, key, s);
    memcpy(out, s, 11);
    return true;
}

/* Level digit of an office (9920x, 9921x) or emergency (9928x) E/M code, else 0. */
static int em_level(const char *code)
{
    if (strlen(code) != 5 || strncmp(code, "992", 3) || !strchr("018", code[3])) return 0;
    return code[4] >= '1' && code[4] <= '5' ? code[4] - '0' : 0;
}

static void add_limits(claims_code_limits *l, const claims_code *x)
{
    l->female_only += x->sex == 'F';
    l->male_only += x->sex == 'M';
    if (x->age_min > l->age_min) l->age_min = x->age_min;
    if (x->age_max < l->age_max) l->age_max = x->age_max;
}

/* Checks format and, with a table, presence of a code; *ref (may be NULL)
 * gets its table entry, NULL without a table. */
static bool check_code(parse_ctx *p, const char *code, bool diagnosis, const char *where, const claims_code **ref)
{
    bool ok = strlen(code) < CLAIMS_CODE_LEN && (diagnosis ? claims_code_format_ok(code, CLAIMS_CODE_ICD10CM)
                                                           : claims_code_format_ok(code, CLAIMS_CODE_CPT) ||
                                                                 claims_code_format_ok(code, CLAIMS_CODE_HCPCS));
    if (!ok)
        return fail(p, "%s \"%.20s\" is not a well-formed %s code", where, code,
                    diagnosis ? "ICD-10-CM (e.g. E11.65)" : "CPT (5 digits) or HCPCS (letter + 4 digits)");
    const claims_code *found = p->codes ? claims_codes_find(p->codes, code) : NULL;
    if (p->codes && !found) return fail(p, "%s \"%s\" is not in the code table", where, code);
    if (ref) *ref = found;
    return true;
}

static bool parse_patient(parse_ctx *p, json_t *root, claims_claim *c)
{
    json_t *pt = field(p, root, "", "patient", JSON_OBJECT, "an object");
    const char *sex;
    if (!pt || !dup_string(p, pt, "patient.", "name", &c->patient_name) ||
        !get_date(p, pt, "patient.", "dob", c->patient_dob) || !get_string(p, pt, "patient.", "sex", &sex))
        return false;
    json_t *age = field(p, pt, "patient.", "age", JSON_INTEGER, "an integer");
    if (!age) return false;
    if (json_integer_value(age) < 0 || json_integer_value(age) > 150)
        return fail(p, "field 'patient.age' out of range: %lld", (long long)json_integer_value(age));
    c->patient_age = (int)json_integer_value(age);
    if (strcmp(sex, "M") && strcmp(sex, "F") && strcmp(sex, "U"))
        return fail(p, "field 'patient.sex' must be \"M\", \"F\" or \"U\", got \"%.10s\"", sex);
    c->patient_sex = sex[0];
    json_t *pr = field(p, root, "", "provider", JSON_OBJECT, "an object");
    return pr && dup_string(p, pr, "provider.", "id", &c->provider_id) &&
           dup_string(p, pr, "provider.", "specialty", &c->provider_specialty);
}

static bool parse_codes(parse_ctx *p, json_t *root, claims_claim *c)
{
    json_t *dx = field(p, root, "", "diagnosis_codes", JSON_ARRAY, "an array");
    if (!dx) return false;
    if (json_array_size(dx) == 0) return fail(p, "field 'diagnosis_codes' is empty");
    c->diagnoses = calloc(json_array_size(dx), sizeof *c->diagnoses);
    if (!c->diagnoses) return fail(p, "out of memory");
    for (size_t i = 0; i < json_array_size(dx); i++) {
        json_t *v = json_array_get(dx, i);
        char where[64];
        snprintf(where, sizeof where, "diagnosis_codes[%zu]", i);
        if (!json_is_string(v)) return fail(p, "%s must be a string, got %s", where, type_name(v));
        const claims_code *ref;
        if (!check_code(p, json_string_value(v), true, where, &ref)) return false;
        if (ref) add_limits(&c->limits, ref);
        strcpy(c->diagnoses[c->n_diagnoses++], json_string_value(v));
    }
    json_t *px = field(p, root, "", "procedures", JSON_ARRAY, "an array");
    if (!px) return false;
    if (json_array_size(px) == 0) return fail(p, "field 'procedures' is empty");
    c->procedures = calloc(json_array_size(px), sizeof *c->procedures);
    if (!c->procedures) return fail(p, "out of memory");
    for (size_t i = 0; i < json_array_size(px); i++) {
        json_t *v = json_array_get(px, i);
        char where[64];
        snprintf(where, sizeof where, "procedures[%zu].", i);
        if (!json_is_object(v)) return fail(p, "procedures[%zu] must be an object, got %s", i, type_name(v));
        const char *code;
        json_t *units, *amount;
        if (!get_string(p, v, where, "code", &code)) return false;
        where[strlen(where) - 1] = '\0';
        const claims_code *ref;
        if (!check_code(p, code, false, where, &ref)) return false;
        strcat(where, ".");
        if (!(units = field(p, v, where, "units", JSON_INTEGER, "an integer")) ||
            !(amount = field(p, v, where, "billed_amount", JSON_REAL, "a number")))
            return false;
        if (json_integer_value(units) < 1 || json_integer_value(units) > 100000)
            return fail(p, "field '%sunits' out of range: %lld", where, (long long)json_integer_value(units));
        if (json_number_value(amount) < 0) return fail(p, "field '%sbilled_amount' is negative", where);
        claims_procedure *pr = &c->procedures[c->n_procedures++];
        strcpy(pr->code, code);
        pr->units = (int)json_integer_value(units);
        pr->billed_amount = json_number_value(amount);
        if (ref && ref->amount > 0) pr->fee_ratio = pr->billed_amount / (ref->amount * pr->units);
        if (ref) pr->pa_required = ref->prior_auth;
        int level = em_level(code);
        if (level > c->em_level) c->em_level = level;
        if (ref) add_limits(&c->limits, ref);
    }
    return true;
}

/* Optional "deny_reasons": names from claims_deny_reason_name, deny only. */
static bool parse_reasons(parse_ctx *p, json_t *root, claims_claim *c)
{
    json_t *r = json_object_get(root, "deny_reasons");
    if (!r) return true;
    if (!json_is_array(r)) return fail(p, "field 'deny_reasons' must be an array, got %s", type_name(r));
    for (size_t i = 0; i < json_array_size(r); i++) {
        json_t *v = json_array_get(r, i);
        claims_deny_reason k;
        if (!json_is_string(v) || !claims_deny_reason_parse(json_string_value(v), &k))
            return fail(p, "deny_reasons[%zu] must be one of mismatch, sex, age, duplicate, no_auth, amount, upcode",
                        i);
        c->deny_reasons |= 1u << k;
    }
    if (c->deny_reasons && !c->deny) return fail(p, "field 'deny_reasons' is set on an approved claim");
    return true;
}

static bool parse_claim(parse_ctx *p, json_t *root, claims_claim *c)
{
    const char *pos, *note, *decision;
    json_t *pa, *fraud = NULL;
    if (!dup_string(p, root, "", "claim_id", &c->claim_id) || !dup_string(p, root, "", "member_id", &c->member_id) ||
        !parse_patient(p, root, c) || !get_date(p, root, "", "service_date_from", c->service_date_from) ||
        !get_date(p, root, "", "service_date_to", c->service_date_to) || !parse_codes(p, root, c) ||
        !get_string(p, root, "", "place_of_service", &pos) ||
        !(pa = field(p, root, "", "prior_auth", JSON_TRUE, "a boolean")) || !get_string(p, root, "", "note", &note))
        return false;
    c->labeled = !p->labels_optional || json_object_get(root, "decision");
    if (c->labeled && !get_string(p, root, "", "decision", &decision)) return false;
    if ((c->labeled || json_object_get(root, "fraud")) &&
        !(fraud = field(p, root, "", "fraud", JSON_TRUE, "a boolean")))
        return false;
    if (!c->labeled && json_object_get(root, "deny_reasons")) return fail(p, "field 'deny_reasons' needs a 'decision'");
    if (strcmp(c->service_date_to, c->service_date_from) < 0)
        return fail(p, "service_date_to %s is before service_date_from %s", c->service_date_to, c->service_date_from);
    if (strlen(pos) != 2 || pos[0] < '0' || pos[0] > '9' || pos[1] < '0' || pos[1] > '9')
        return fail(p, "field 'place_of_service' must be two digits, got \"%.10s\"", pos);
    memcpy(c->place_of_service, pos, 3);
    if (c->labeled && strcmp(decision, "approve") && strcmp(decision, "deny"))
        return fail(p, "field 'decision' must be \"approve\" or \"deny\", got \"%.20s\"", decision);
    c->deny = c->labeled && decision[0] == 'd';
    c->prior_auth = json_is_true(pa);
    c->fraud = json_object_get(root, "fraud") && json_is_true(fraud);
    if (!parse_reasons(p, root, c)) return false;
    c->note_len = json_string_length(json_object_get(root, "note"));
    if (!(c->note = malloc(c->note_len + 1))) return fail(p, "out of memory");
    memcpy(c->note, note, c->note_len + 1);
    return true;
}

bool claims_parse_line(const char *line, size_t len, const claims_codes *codes, claims_claim *out, char *why,
                       size_t why_len)
{
    return claims_parse_claim(line, len, codes, false, out, why, why_len);
}

bool claims_parse_claim(const char *line, size_t len, const claims_codes *codes, bool labels_optional,
                        claims_claim *out, char *why, size_t why_len)
{
    parse_ctx p = {why, why_len, codes, labels_optional};
    memset(out, 0, sizeof *out);
    out->limits.age_max = 150; /* neutral until a code says otherwise */
    json_error_t err;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) return fail(&p, "bad JSON at column %d: %s", err.column, err.text);
    bool ok = json_is_object(root) ? parse_claim(&p, root, out)
                                   : fail(&p, "line is a JSON %s, not an object", type_name(root));
    json_decref(root);
    if (!ok) claims_claim_clear(out);
    return ok;
}

void claims_claim_clear(claims_claim *c)
{
    if (!c) return;
    free(c->claim_id);
    free(c->member_id);
    free(c->patient_name);
    free(c->provider_id);
    free(c->provider_specialty);
    free(c->diagnoses);
    free(c->procedures);
    free(c->note);
    memset(c, 0, sizeof *c);
}

/* ---- streaming reader ---- */

static bool blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

tg_status claims_read_jsonl(const char *path, const claims_read_opts *opts, claims_claim_fn fn, void *user,
                            claims_read_summary *sum)
{
    static const claims_read_opts defaults = {0};
    if (!opts) opts = &defaults;
    claims_read_summary s = {0};
    FILE *f = fopen(path, "r");
    if (!f) return tg_error(TG_ERR_IO, "claims_read_jsonl: cannot open '%s': %s", path, strerror(errno));
    char *line = NULL, why[512];
    size_t cap = 0;
    ssize_t len;
    tg_status st = TG_OK;
    while (st == TG_OK && (len = getline(&line, &cap, f)) >= 0) {
        s.lines_read++;
        if (blank_line(line, (size_t)len)) {
            s.blank++;
            continue;
        }
        claims_claim c;
        if (!claims_parse_claim(line, (size_t)len, opts->codes, opts->labels_optional, &c, why, sizeof why)) {
            s.rejected++;
            if (opts->on_reject) opts->on_reject(opts->reject_user, path, s.lines_read, why);
            if (opts->strict) st = tg_error(TG_ERR_FORMAT, "claims_read_jsonl: %s:%ld: %s", path, s.lines_read, why);
            continue;
        }
        s.used++;
        if (fn) st = fn(user, &c, line, (size_t)len);
        claims_claim_clear(&c);
    }
    if (st == TG_OK && ferror(f))
        st = tg_error(TG_ERR_IO, "claims_read_jsonl: read error on '%s' after line %ld", path, s.lines_read);
    free(line);
    fclose(f);
    if (sum) *sum = s;
    return st;
}

/* ---- dataset ---- */

static tg_status append_claim(void *user, claims_claim *c, const char *line, size_t len)
{
    (void)line;
    (void)len;
    claims_dataset *ds = user;
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? 2 * ds->cap : 256;
        claims_claim *p = realloc(ds->claims, cap * sizeof *p);
        if (!p) return tg_error(TG_ERR_OOM, "claims_dataset_load: out of memory at claim %zu", ds->n);
        ds->claims = p;
        ds->cap = cap;
    }
    ds->claims[ds->n++] = *c; /* take the pointers over */
    memset(c, 0, sizeof *c);
    return TG_OK;
}

tg_status claims_dataset_load(const char *path, const claims_read_opts *opts, claims_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    TG_TRY(claims_read_jsonl(path, opts, append_claim, ds, &ds->summary));
    return claims_dataset_history(ds);
}

/* ---- history ---- */

tg_status claims_dataset_history(claims_dataset *ds)
{
    claims_history h = {0};
    tg_status st = TG_OK;
    for (size_t i = 0; st == TG_OK && i < ds->n; i++) st = claims_history_observe(&h, &ds->claims[i]);
    claims_history_free(&h);
    return st;
}

void claims_dataset_free(claims_dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) claims_claim_clear(&ds->claims[i]);
    free(ds->claims);
    memset(ds, 0, sizeof *ds);
}

/* ---- splits ---- */

const char *claims_split_name(claims_split s)
{
    static const char *names[] = {"train", "valid", "test"};
    return (unsigned)s < 3 ? names[s] : "?";
}

claims_split claims_split_of(const char *member_id, uint64_t seed, claims_split_fracs f)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then mixed with the seed */
    for (const unsigned char *p = (const unsigned char *)member_id; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    double u = (double)(tg_rng_bits(seed, h) >> 11) * (1.0 / 9007199254740992.0);
    if (u < f.train) return CLAIMS_TRAIN;
    if (u < f.train + f.valid) return CLAIMS_VALID;
    return CLAIMS_TEST;
}

static tg_status check_fracs(const char *fn, claims_split_fracs f)
{
    if (!(f.train >= 0 && f.valid >= 0 && f.train + f.valid <= 1.0 + 1e-12))
        return tg_error(TG_ERR_INVALID, "%s: split fractions train=%g valid=%g must be >= 0 and sum to <= 1", fn,
                        f.train, f.valid);
    return TG_OK;
}

tg_status claims_dataset_split(const claims_dataset *ds, uint64_t seed, claims_split_fracs f, size_t *idx[3],
                               size_t n[3])
{
    TG_TRY(check_fracs("claims_dataset_split", f));
    for (int s = 0; s < 3; s++) {
        n[s] = 0;
        idx[s] = malloc((ds->n ? ds->n : 1) * sizeof *idx[s]);
    }
    if (!idx[0] || !idx[1] || !idx[2]) {
        for (int s = 0; s < 3; s++) {
            free(idx[s]);
            idx[s] = NULL;
        }
        return tg_error(TG_ERR_OOM, "claims_dataset_split: out of memory for %zu claims", ds->n);
    }
    for (size_t i = 0; i < ds->n; i++) {
        claims_split s = claims_split_of(ds->claims[i].member_id, seed, f);
        idx[s][n[s]++] = i;
    }
    return TG_OK;
}

typedef struct split_writer {
    FILE *out[3];
    long counts[3];
    uint64_t seed;
    claims_split_fracs f;
    const char *prefix;
} split_writer;

static tg_status write_split_line(void *user, claims_claim *c, const char *line, size_t len)
{
    split_writer *w = user;
    claims_split s = claims_split_of(c->member_id, w->seed, w->f);
    bool nl = len > 0 && line[len - 1] == '\n';
    if (fwrite(line, 1, len, w->out[s]) != len || (!nl && fputc('\n', w->out[s]) == EOF))
        return tg_error(TG_ERR_IO, "claims_split_file: write to %s.%s.jsonl failed", w->prefix, claims_split_name(s));
    w->counts[s]++;
    return TG_OK;
}

tg_status claims_split_file(const char *in, const char *out_prefix, uint64_t seed, claims_split_fracs f,
                            const claims_read_opts *opts, claims_read_summary *sum, long counts[3])
{
    TG_TRY(check_fracs("claims_split_file", f));
    split_writer w = {.seed = seed, .f = f, .prefix = out_prefix};
    tg_status st = TG_OK;
    for (int s = 0; s < 3 && st == TG_OK; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s.%s.jsonl", out_prefix, claims_split_name((claims_split)s));
        if (!(w.out[s] = fopen(path, "w")))
            st = tg_error(TG_ERR_IO, "claims_split_file: cannot create '%s': %s", path, strerror(errno));
    }
    if (st == TG_OK) st = claims_read_jsonl(in, opts, write_split_line, &w, sum);
    for (int s = 0; s < 3; s++)
        if (w.out[s] && fclose(w.out[s]) != 0 && st == TG_OK)
            st = tg_error(TG_ERR_IO, "claims_split_file: closing %s.%s.jsonl failed", out_prefix,
                          claims_split_name((claims_split)s));
    if (counts) memcpy(counts, w.counts, sizeof w.counts);
    return st;
}
