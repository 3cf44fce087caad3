#include "models/claims/data/scrub.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "models/claims/base/strbuf.h"
#include "models/claims/data/codes.h"

#define MAX_LITERALS 24

typedef struct literal {
    char s[64];
    size_t n;
    const char *tag;
    bool nocase;
} literal;

typedef struct scrubber {
    literal lit[MAX_LITERALS];
    int n_lit;
    claims_strbuf out;
} scrubber;

static bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool digit(char c) { return c >= '0' && c <= '9'; }
static bool alnum(char c) { return alpha(c) || digit(c); }
static bool upper(char c) { return c >= 'A' && c <= 'Z'; }

static void emit(scrubber *s, const char *p, size_t k) { claims_sb_put(&s->out, p, k); }

static void emit_str(scrubber *s, const char *p) { claims_sb_puts(&s->out, p); }

static void add_literal(scrubber *s, const char *text, const char *tag, bool nocase)
{
    size_t n = strlen(text);
    if (n < 2 || n >= sizeof s->lit[0].s || s->n_lit == MAX_LITERALS) return;
    literal *l = &s->lit[s->n_lit++];
    memcpy(l->s, text, n + 1);
    l->n = n;
    l->tag = tag;
    l->nocase = nocase;
}

/* Literals from the claim's own fields, longest first so "First Last" wins over "First". */
static void add_ids(scrubber *s, const claims_scrub_ids *ids)
{
    static const char *months[] = {"January", "February", "March",     "April",   "May",      "June",
                                   "July",    "August",   "September", "October", "November", "December"};
    if (ids->member_id) add_literal(s, ids->member_id, "<MEMBER_ID>", true);
    int y, m, d;
    if (ids->dob && sscanf(ids->dob, "%4d-%2d-%2d", &y, &m, &d) == 3 && m >= 1 && m <= 12) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s %d, %04d", months[m - 1], d, y);
        add_literal(s, buf, "<DOB>", false);
        snprintf(buf, sizeof buf, "%.3s %d, %04d", months[m - 1], d, y);
        add_literal(s, buf, "<DOB>", false);
        snprintf(buf, sizeof buf, "%02d/%02d/%04d", m, d, y);
        add_literal(s, buf, "<DOB>", false);
        snprintf(buf, sizeof buf, "%d/%d/%04d", m, d, y);
        add_literal(s, buf, "<DOB>", false);
        snprintf(buf, sizeof buf, "%02d-%02d-%04d", m, d, y);
        add_literal(s, buf, "<DOB>", false);
        add_literal(s, ids->dob, "<DOB>", false);
    }
    if (ids->name) {
        add_literal(s, ids->name, "<NAME>", true);
        char buf[64];
        snprintf(buf, sizeof buf, "%s", ids->name);
        for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
            if (strlen(w) >= 2 && w[strlen(w) - 1] != '.') add_literal(s, w, "<NAME>", true);
    }
}

/* Length of literal l at p (whole word), or 0. Names match in any case only
 * when capitalized or upper case in the text, so "Young" the name does not
 * swallow "young" the word. */
static size_t match_literal(const literal *l, const char *p, const char *end)
{
    if ((size_t)(end - p) < l->n || (l->n < (size_t)(end - p) && alnum(p[l->n]))) return 0;
    if (l->nocase) {
        if (strncasecmp(p, l->s, l->n) != 0) return 0;
        if (!strcmp(l->tag, "<NAME>") && !upper(p[0])) return 0;
        return l->n;
    }
    return memcmp(p, l->s, l->n) == 0 ? l->n : 0;
}

static size_t digits_at(const char *p, const char *end, size_t max)
{
    size_t k = 0;
    while (p + k < end && k < max && digit(p[k])) k++;
    return k;
}

/* (ddd) ddd-dddd, ddd-ddd-dddd, ddd.ddd.dddd, ddd ddd dddd, with optional +1. */
static size_t match_phone(const char *p, const char *end)
{
    const char *q = p;
    if (end - q > 3 && q[0] == '+' && q[1] == '1' && (q[2] == ' ' || q[2] == '-')) q += 3;
    bool paren = q < end && *q == '(';
    if (paren) q++;
    if (digits_at(q, end, 4) != 3) return 0;
    q += 3;
    if (paren) {
        if (q >= end || *q != ')') return 0;
        q++;
        if (q < end && *q == ' ') q++;
    } else {
        if (q >= end || (*q != '-' && *q != '.' && *q != ' ')) return 0;
        q++;
    }
    if (digits_at(q, end, 4) != 3) return 0;
    q += 3;
    if (q >= end || (*q != '-' && *q != '.' && *q != ' ')) return 0;
    q++;
    if (digits_at(q, end, 5) != 4) return 0;
    q += 4;
    return q < end && alnum(*q) ? 0 : (size_t)(q - p);
}

static const char *MONTH_WORDS[] = {"January",   "February", "March",    "April",    "May",  "June", "July", "August",
                                    "September", "October",  "November", "December", "Jan",  "Feb",  "Mar",  "Apr",
                                    "Jun",       "Jul",      "Aug",      "Sep",      "Sept", "Oct",  "Nov",  "Dec"};

/* Full dates only: a day, month and year together. */
static size_t match_date(const char *p, const char *end)
{
    const char *q = p;
    size_t a = digits_at(q, end, 5);
    if (a == 4 && end - q >= 10 && q[4] == '-' && digits_at(q + 5, end, 3) == 2 && q[7] == '-' &&
        digits_at(q + 8, end, 3) == 2)
        return (q + 10 < end && alnum(q[10])) ? 0 : 10;
    if (a >= 1 && a <= 2 && q + a < end && (q[a] == '/' || q[a] == '-')) {
        char sep = q[a];
        q += a + 1;
        size_t b = digits_at(q, end, 3);
        if (b < 1 || b > 2 || q + b >= end || q[b] != sep) return 0;
        q += b + 1;
        size_t c = digits_at(q, end, 5);
        if (c != 2 && c != 4) return 0;
        q += c;
        return q < end && alnum(*q) ? 0 : (size_t)(q - p);
    }
    for (size_t i = 0; i < sizeof MONTH_WORDS / sizeof MONTH_WORDS[0]; i++) {
        size_t n = strlen(MONTH_WORDS[i]);
        if ((size_t)(end - p) <= n || memcmp(p, MONTH_WORDS[i], n) != 0) continue;
        q = p + n;
        if (q < end && *q == '.') q++;
        if (q >= end || *q != ' ') return 0;
        q++;
        size_t d = digits_at(q, end, 3);
        if (d < 1 || d > 2) return 0;
        q += d;
        if (q < end && *q == ',') q++;
        if (q >= end || *q != ' ') return 0;
        q++;
        if (digits_at(q, end, 5) != 4) return 0;
        q += 4;
        return q < end && alnum(*q) ? 0 : (size_t)(q - p);
    }
    return 0;
}

/* A capitalized word ("Okafor", "O'Neil", "Smith-Jones") or an upper-case one; its length. */
static size_t cap_word(const char *p, const char *end)
{
    if (p >= end || !upper(*p)) return 0;
    size_t k = 1;
    while (p + k < end && (alpha(p[k]) || ((p[k] == '\'' || p[k] == '-') && p + k + 1 < end && alpha(p[k + 1])))) k++;
    return k >= 2 ? k : 0;
}

static const char *STREET_SUFFIX[] = {"Street", "St",      "Avenue",    "Ave",  "Road",    "Rd",   "Lane",    "Ln",
                                      "Drive",  "Dr",      "Boulevard", "Blvd", "Court",   "Ct",   "Way",     "Place",
                                      "Pl",     "Terrace", "Circle",    "Cir",  "Parkway", "Pkwy", "Highway", "Hwy"};

static bool is_suffix(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof STREET_SUFFIX / sizeof STREET_SUFFIX[0]; i++)
        if (strlen(STREET_SUFFIX[i]) == n && memcmp(w, STREET_SUFFIX[i], n) == 0) return true;
    return false;
}

/* "1234 Oak Hollow Road[, Apt 4][, City Name, ST 12345[-6789]]" */
static size_t match_address(const char *p, const char *end)
{
    size_t a = digits_at(p, end, 7);
    if (a < 1 || a > 6 || p + a >= end || p[a] != ' ') return 0;
    const char *q = p + a + 1;
    const char *street_end = NULL;
    for (int words = 0; words < 5; words++) {
        size_t w = cap_word(q, end);
        if (!w) break;
        if (words > 0 && is_suffix(q, w)) {
            street_end = q + w;
            if (street_end < end && *street_end == '.') street_end++;
            break;
        }
        q += w;
        if (q >= end || *q != ' ') break;
        q++;
    }
    if (!street_end) return 0;
    q = street_end;
    /* optional city, state and zip */
    const char *r = q;
    if (r + 2 < end && r[0] == ',' && r[1] == ' ') {
        r += 2;
        size_t w;
        while ((w = cap_word(r, end)) && r + w < end && (r[w] == ' ' || r[w] == ',')) {
            if (r[w] == ',') {
                r += w;
                break;
            }
            r += w + 1;
        }
        if (r + 5 < end && r[0] == ',' && r[1] == ' ' && upper(r[2]) && upper(r[3]) && r[4] == ' ' &&
            digits_at(r + 5, end, 6) == 5) {
            r += 10;
            if (r + 5 < end && r[0] == '-' && digits_at(r + 1, end, 5) == 4) r += 5;
            q = r;
        }
    }
    return (size_t)(q - p);
}

/* Token of letters and digits that looks like an identifier and is not a medical code. */
static size_t match_id(const char *p, const char *end)
{
    size_t k = 0, nd = 0;
    while (p + k < end && alnum(p[k])) nd += digit(p[k++]);
    if (k >= CLAIMS_CODE_LEN + 8 || nd < 5) return 0;
    bool id = nd >= 7 || (nd >= 5 && k >= 7 && nd < k);
    if (!id) return 0;
    char tok[CLAIMS_CODE_LEN];
    if (k < sizeof tok) {
        memcpy(tok, p, k);
        tok[k] = '\0';
        if (claims_code_classify(tok) != CLAIMS_CODE_NONE) return 0;
    }
    return k;
}

static const char *TITLES[] = {"Mr.", "Mrs.", "Ms.", "Miss", "Dr.", "Mr", "Mrs", "Ms", "Dr"};
static const char *LABELS[] = {"Patient name:", "Patient:", "Pt:", "Name:", "NAME:", "PATIENT:"};
static const char *RELATIONS[] = {"daughter", "son",    "wife",    "husband",   "sister",        "brother",
                                  "mother",   "father", "partner", "caregiver", "spouse",        "guardian",
                                  "friend",   "niece",  "nephew",  "grandson",  "granddaughter", "contact"};

/* Capitalized name words after position q: "Jane Doe", "DOE, JANE", "J. Doe". */
static size_t name_words(const char *q, const char *end, int max_words)
{
    const char *r = q;
    int words = 0;
    while (words < max_words) {
        size_t w = cap_word(r, end);
        if (!w && r < end && upper(*r) && r + 1 < end && r[1] == '.') w = 2; /* initial */
        if (!w) break;
        words++;
        const char *after = r + w;
        bool all_caps = true;
        for (size_t i = 0; i < w; i++) all_caps &= !alpha(r[i]) || upper(r[i]);
        if (all_caps && words == 1 && after + 2 < end && after[0] == ',' && after[1] == ' ' &&
            cap_word(after + 2, end)) {
            r = after + 2; /* LAST, FIRST */
            continue;
        }
        if (after < end && *after == ' ' && after + 1 < end && upper(after[1])) {
            r = after + 1;
            continue;
        }
        r = after;
        break;
    }
    if (!words) return 0;
    /* don't end inside a trailing space */
    while (r > q && r[-1] == ' ') r--;
    return (size_t)(r - q);
}

/* Prefix (title, label or relation word) followed by a name: keeps the prefix. */
static bool match_prefixed_name(scrubber *s, const char *p, const char *end, size_t *used)
{
    for (int set = 0; set < 3; set++) {
        const char **words = set == 0 ? TITLES : set == 1 ? LABELS : RELATIONS;
        size_t count = set == 0   ? sizeof TITLES / sizeof *TITLES
                       : set == 1 ? sizeof LABELS / sizeof *LABELS
                                  : sizeof RELATIONS / sizeof *RELATIONS;
        for (size_t i = 0; i < count; i++) {
            size_t n = strlen(words[i]);
            if ((size_t)(end - p) <= n + 1) continue;
            if (set == 2 ? strncasecmp(p, words[i], n) : memcmp(p, words[i], n)) continue;
            if (alnum(words[i][n - 1]) && alnum(p[n])) continue;
            const char *q = p + n;
            if (set == 2 && q < end && (*q == ':' || *q == ',')) q++;
            size_t sp = 0;
            while (q + sp < end && q[sp] == ' ' && sp < 4) sp++;
            if (!sp) continue;
            size_t k = name_words(q + sp, end, 3);
            /* relations need "First Last" to avoid catching "son Has" */
            if (!k || (set == 2 && !memchr(q + sp, ' ', k))) continue;
            emit(s, p, (size_t)(q - p) + sp);
            emit_str(s, "<NAME>");
            *used = (size_t)(q - p) + sp + k;
            return true;
        }
    }
    return false;
}

char *claims_scrub_text(const char *text, size_t len, const claims_scrub_ids *ids, size_t *out_len)
{
    scrubber s = {0};
    if (ids) add_ids(&s, ids);
    const char *end = text + len;
    emit(&s, "", 0);
    for (const char *p = text; p < end && !s.out.oom;) {
        bool word_start = p == text || !alnum(p[-1]);
        size_t k = 0;
        const char *tag = NULL;
        if (word_start) {
            for (int i = 0; i < s.n_lit && !k; i++)
                if ((k = match_literal(&s.lit[i], p, end))) tag = s.lit[i].tag;
            if (!k && (digit(*p) || *p == '(' || *p == '+')) {
                if ((k = match_phone(p, end)))
                    tag = "<PHONE>";
                else if ((k = match_date(p, end)))
                    tag = "<DATE>";
                else if ((k = match_address(p, end)))
                    tag = "<ADDRESS>";
            }
            if (!k && upper(*p) && (k = match_date(p, end))) tag = "<DATE>";
            if (!k && alpha(*p) && match_prefixed_name(&s, p, end, &k)) {
                p += k;
                continue;
            }
            if (!k && alnum(*p) && (k = match_id(p, end))) tag = "<ID>";
        }
        if (k) {
            emit_str(&s, tag);
            p += k;
        } else {
            emit(&s, p++, 1);
        }
    }
    if (s.out.oom) {
        claims_sb_free(&s.out);
        tg_error(TG_ERR_OOM, "claims_scrub_text: out of memory for %zu bytes", len);
        return NULL;
    }
    if (out_len) *out_len = s.out.n;
    return s.out.p;
}

tg_status claims_scrub_claim(claims_claim *c)
{
    claims_scrub_ids ids = {c->patient_name, c->member_id, c->patient_dob};
    size_t n;
    char *clean = claims_scrub_text(c->note ? c->note : "", c->note ? c->note_len : 0, &ids, &n);
    if (!clean) return TG_ERR_OOM;
    free(c->note);
    c->note = clean;
    c->note_len = n;
    return TG_OK;
}
