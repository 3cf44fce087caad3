/* models/claims data: code table, generator, validating reader, splits, scrubbing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/data/codes.h"
#include "models/claims/text/corpus.h"
#include "models/claims/data/dataset.h"
#include "models/claims/synth/gen.h"
#include "models/claims/data/provider_stats.h"
#include "models/claims/data/scrub.h"
#include "tests/tg_test.h"

static void source_path(char *out, size_t len, const char *rel)
{
    const char *root = getenv("TG_SOURCE_DIR");
    snprintf(out, len, "%s/%s", root ? root : ".", rel);
}

static claims_codes *load_codes(void)
{
    char path[4096];
    source_path(path, sizeof path, "models/claims/data/codes.tsv");
    claims_codes *t = NULL;
    ck_assert_msg(claims_codes_load(path, &t) == TG_OK, "%s", tg_last_error());
    return t;
}

/* Generates into a malloc'd buffer. */
static char *gen_to_memory(const claims_codes *t, long n, uint64_t seed, double long_frac, size_t *len,
                           claims_gen_stats *st)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    claims_gen_opts o = {n, seed, long_frac};
    ck_assert_msg(claims_generate(t, &o, f, NULL, NULL, st) == TG_OK, "%s", tg_last_error());
    fclose(f);
    return buf;
}

static void gen_to_file(const claims_codes *t, const char *path, long n, uint64_t seed, double long_frac,
                        claims_gen_stats *st)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    claims_gen_opts o = {n, seed, long_frac};
    ck_assert_msg(claims_generate(t, &o, f, NULL, NULL, st) == TG_OK, "%s", tg_last_error());
    fclose(f);
}

START_TEST(test_code_table)
{
    claims_codes *t = load_codes();
    ck_assert_int_ge(t->n, 300);
    const claims_code *c = claims_codes_find(t, "99213");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->kind, CLAIMS_CODE_CPT);
    ck_assert_ptr_nonnull(claims_codes_find(t, "E11.9"));
    ck_assert_ptr_nonnull(claims_codes_find(t, "J1100"));
    ck_assert_ptr_null(claims_codes_find(t, "Q9999"));
    ck_assert(claims_code_format_ok("E11.65", CLAIMS_CODE_ICD10CM));
    ck_assert(claims_code_format_ok("Z3A.2", CLAIMS_CODE_ICD10CM));
    ck_assert(!claims_code_format_ok("E1165", CLAIMS_CODE_ICD10CM));
    ck_assert(claims_code_format_ok("3044F", CLAIMS_CODE_CPT));
    ck_assert(!claims_code_format_ok("9921", CLAIMS_CODE_CPT));
    ck_assert(claims_code_format_ok("G0438", CLAIMS_CODE_HCPCS));
    ck_assert_int_eq(claims_code_classify("hello"), CLAIMS_CODE_NONE);
    claims_codes *bad = NULL;
    tg_assert_error(claims_codes_load("/nonexistent/codes.tsv", &bad), TG_ERR_IO, "cannot open");
    claims_codes_free(t);
}
END_TEST

START_TEST(test_generator_deterministic)
{
    claims_codes *t = load_codes();
    size_t na, nb, nc;
    char *a = gen_to_memory(t, 300, 5, 0.02, &na, NULL);
    char *b = gen_to_memory(t, 300, 5, 0.02, &nb, NULL);
    char *c = gen_to_memory(t, 300, 6, 0.02, &nc, NULL);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(a, b, na) == 0);
    ck_assert(na != nc || memcmp(a, c, na) != 0);
    claims_gen_opts o = {10, 1, 1.5};
    tg_assert_error(claims_generate(t, &o, NULL, NULL, NULL, NULL), TG_ERR_INVALID, "long_frac=1.5");
    free(a);
    free(b);
    free(c);
    claims_codes_free(t);
}
END_TEST

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Every generated line validates against the schema and the code table; the
 * label share sits near 5%; notes have a long tail. */
START_TEST(test_generated_claims_valid)
{
    claims_codes *t = load_codes();
    const char *path = "claims_data_valid.jsonl";
    claims_gen_stats st;
    gen_to_file(t, path, 3000, 11, 0.02, &st);
    claims_dataset ds;
    claims_read_opts ro = {.strict = true, .codes = t};
    ck_assert_msg(claims_dataset_load(path, &ro, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(ds.summary.used, 3000);
    ck_assert_int_eq(ds.summary.rejected, 0);
    long deny = 0, fraud = 0, big = 0;
    size_t *lens = malloc(ds.n * sizeof *lens);
    for (size_t i = 0; i < ds.n; i++) {
        claims_claim *c = &ds.claims[i];
        deny += c->deny;
        fraud += c->fraud;
        ck_assert(!c->fraud || c->deny);
        lens[i] = c->note_len;
        big += c->note_len > 32 * 1024;
    }
    ck_assert_int_eq(deny, st.denied);
    double share = (double)deny / (double)ds.n;
    ck_assert_msg(share > 0.035 && share < 0.07, "denial share %.4f", share);
    ck_assert_int_gt(fraud, 0);
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++)
        ck_assert_msg(st.by_reason[r] > 0, "no denial for reason %s", claims_deny_reason_name((claims_deny_reason)r));
    qsort(lens, ds.n, sizeof *lens, cmp_size);
    size_t median = lens[ds.n / 2];
    ck_assert_msg(median >= 1000 && median <= 3500, "median note %zu chars", median);
    ck_assert_int_ge(big, 20);
    ck_assert_uint_gt(lens[ds.n - 1], 40000);
    free(lens);
    claims_dataset_free(&ds);
    remove(path);
    claims_codes_free(t);
}
END_TEST

START_TEST(test_long_frac)
{
    claims_codes *t = load_codes();
    const char *path = "claims_data_long.jsonl";
    for (int pass = 0; pass < 2; pass++) {
        gen_to_file(t, path, 150, 3, pass ? 0.3 : 0.0, NULL);
        claims_dataset ds;
        ck_assert_int_eq(claims_dataset_load(path, NULL, &ds), TG_OK);
        long big = 0;
        for (size_t i = 0; i < ds.n; i++) big += ds.claims[i].note_len > 32 * 1024;
        if (pass)
            ck_assert_int_ge(big, 20);
        else
            ck_assert_int_eq(big, 0);
        claims_dataset_free(&ds);
    }
    remove(path);
    claims_codes_free(t);
}
END_TEST

static claims_split find_split(const claims_dataset *ds, size_t *idx[3], size_t n[3], const char *member)
{
    (void)ds;
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < n[s]; i++)
            if (!strcmp(ds->claims[idx[s][i]].member_id, member)) return (claims_split)s;
    return (claims_split)-1;
}

START_TEST(test_patient_disjoint_splits)
{
    claims_codes *t = load_codes();
    const char *path = "claims_data_split.jsonl";
    gen_to_file(t, path, 1500, 21, 0.0, NULL);
    claims_dataset ds;
    ck_assert_int_eq(claims_dataset_load(path, NULL, &ds), TG_OK);
    claims_split_fracs f = {0.8, 0.1};
    size_t *idx[3], n[3];
    ck_assert_int_eq(claims_dataset_split(&ds, 9, f, idx, n), TG_OK);
    ck_assert_uint_eq(n[0] + n[1] + n[2], ds.n);
    ck_assert(n[0] > ds.n * 0.65 && n[1] > 0 && n[2] > 0);
    long multi = 0; /* members with several claims exist, and never cross splits */
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < n[s]; i++) {
            const char *mid = ds.claims[idx[s][i]].member_id;
            ck_assert_int_eq(claims_split_of(mid, 9, f), s);
            ck_assert_int_eq(find_split(&ds, idx, n, mid), s);
            for (size_t j = i + 1; j < n[s] && j < i + 400; j++) multi += !strcmp(ds.claims[idx[s][j]].member_id, mid);
        }
    ck_assert_int_gt(multi, 100);
    long counts[3];
    claims_read_summary sum;
    ck_assert_int_eq(claims_split_file(path, "claims_data_split_out", 9, f, NULL, &sum, counts), TG_OK);
    for (int s = 0; s < 3; s++) ck_assert_int_eq(counts[s], (long)n[s]);
    claims_dataset part;
    ck_assert_int_eq(claims_dataset_load("claims_data_split_out.valid.jsonl", NULL, &part), TG_OK);
    ck_assert_uint_eq(part.n, n[1]);
    for (size_t i = 0; i < part.n; i++) ck_assert_int_eq(claims_split_of(part.claims[i].member_id, 9, f), CLAIMS_VALID);
    claims_dataset_free(&part);
    claims_split_fracs bad = {0.9, 0.2};
    tg_assert_error(claims_dataset_split(&ds, 9, bad, idx, n), TG_ERR_INVALID, "train=0.9 valid=0.2");
    for (int s = 0; s < 3; s++) free(idx[s]);
    for (int s = 0; s < 3; s++) {
        char p[64];
        snprintf(p, sizeof p, "claims_data_split_out.%s.jsonl", claims_split_name((claims_split)s));
        remove(p);
    }
    claims_dataset_free(&ds);
    remove(path);
    claims_codes_free(t);
}
END_TEST

typedef struct rejects {
    long line[16];
    char reason[16][512];
    int n;
} rejects;

static void on_reject(void *user, const char *path, long line, const char *reason)
{
    rejects *r = user;
    ck_assert_ptr_nonnull(strstr(path, "claims_malformed.jsonl"));
    if (r->n < 16) {
        r->line[r->n] = line;
        snprintf(r->reason[r->n], sizeof r->reason[0], "%s", reason);
        r->n++;
    }
}

START_TEST(test_malformed_lines)
{
    char path[4096];
    source_path(path, sizeof path, "tests/fixtures/claims_malformed.jsonl");
    rejects r = {0};
    claims_read_opts o = {.on_reject = on_reject, .reject_user = &r};
    claims_dataset ds;
    ck_assert_msg(claims_dataset_load(path, &o, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(ds.summary.lines_read, 9);
    ck_assert_int_eq(ds.summary.used, 3);
    ck_assert_int_eq(ds.summary.rejected, 5);
    ck_assert_int_eq(ds.summary.blank, 1);
    ck_assert_str_eq(ds.claims[1].claim_id, "C8");
    static const struct {
        long line;
        const char *why;
    } want[] = {{2, "bad JSON"},
                {3, "missing field 'decision'"},
                {4, "field 'procedures[0].units' must be an integer, got string"},
                {5, "diagnosis_codes[1] \"E1165X\" is not a well-formed ICD-10-CM (e.g. E11.65) code"},
                {6, "field 'decision' must be \"approve\" or \"deny\", got \"maybe\""}};
    ck_assert_int_eq(r.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(r.line[i], want[i].line);
        ck_assert_msg(strstr(r.reason[i], want[i].why), "line %ld: '%s' lacks '%s'", r.line[i], r.reason[i],
                      want[i].why);
    }
    claims_dataset_free(&ds);

    /* with the code table, A00 (a real code, not in the table) is rejected too */
    claims_codes *t = load_codes();
    memset(&r, 0, sizeof r);
    o.codes = t;
    ck_assert_int_eq(claims_dataset_load(path, &o, &ds), TG_OK);
    ck_assert_int_eq(ds.summary.rejected, 6);
    ck_assert_int_eq(r.line[5], 9);
    ck_assert_ptr_nonnull(strstr(r.reason[5], "\"A00\" is not in the code table"));
    claims_dataset_free(&ds);

    o.strict = true;
    tg_status st = claims_dataset_load(path, &o, &ds);
    tg_assert_error(st, TG_ERR_FORMAT, "claims_malformed.jsonl:2: bad JSON");
    ck_assert_int_eq(ds.summary.used, 1);
    claims_dataset_free(&ds);
    tg_assert_error(claims_dataset_load("/nonexistent.jsonl", NULL, &ds), TG_ERR_IO, "cannot open");
    claims_codes_free(t);
}
END_TEST

/* One claim line: member, provider, date, a diagnosis, a procedure and units. */
static void put_claim(FILE *f, int id, const char *member, const char *provider, const char *date, const char *dx,
                      const char *px, int units)
{
    fprintf(f,
            "{\"claim_id\":\"H%d\",\"member_id\":\"%s\",\"patient\":{\"name\":\"Ann Lee\",\"dob\":"
            "\"1970-01-02\",\"age\":52,\"sex\":\"F\"},\"provider\":{\"id\":\"%s\",\"specialty\":\"Family\"},"
            "\"service_date_from\":\"%s\",\"service_date_to\":\"%s\",\"diagnosis_codes\":[\"%s\"],"
            "\"procedures\":[{\"code\":\"%s\",\"units\":%d,\"billed_amount\":90.5}],\"place_of_service\":"
            "\"11\",\"prior_auth\":false,\"note\":\"\",\"decision\":\"approve\",\"fraud\":false}\n",
            id, member, provider, date, date, dx, px, units);
}

/* History counts earlier claims of the member in file order, same-day ones,
 * and flags exact repeats (not ones differing in provider, codes or units). */
START_TEST(test_history_hand_made)
{
    const char *path = "claims_history.jsonl";
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    put_claim(f, 0, "A", "P1", "2022-03-01", "I10", "99213", 1);
    put_claim(f, 1, "B", "P1", "2022-03-01", "I10", "99213", 1);   /* other member */
    put_claim(f, 2, "A", "P1", "2022-03-01", "I10", "99213", 1);   /* repeat of 0 */
    put_claim(f, 3, "A", "P2", "2022-03-01", "I10", "99213", 1);   /* other provider */
    put_claim(f, 4, "A", "P1", "2022-03-01", "I10", "99213", 2);   /* other units */
    put_claim(f, 5, "A", "P1", "2022-03-01", "E11.9", "99213", 1); /* other diagnosis */
    put_claim(f, 6, "A", "P1", "2022-04-01", "I10", "99213", 1);   /* other day */
    put_claim(f, 7, "A", "P1", "2022-03-01", "I10", "99213", 1);   /* repeat again */
    fclose(f);
    claims_dataset ds;
    ck_assert_msg(claims_dataset_load(path, NULL, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(ds.n, 8);
    static const int prior[] = {0, 0, 1, 2, 3, 4, 5, 6}, same_day[] = {0, 0, 1, 2, 3, 4, 0, 5};
    static const bool dup[] = {false, false, true, false, false, false, false, true};
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(ds.claims[i].history_prior == prior[i], "claim %d prior %d", i, ds.claims[i].history_prior);
        ck_assert_msg(ds.claims[i].history_same_day == same_day[i], "claim %d same day %d", i,
                      ds.claims[i].history_same_day);
        ck_assert_msg(ds.claims[i].history_duplicate == dup[i], "claim %d duplicate", i);
    }
    claims_dataset_free(&ds);
    remove(path);
}
END_TEST

static tg_status note_duplicates(void *user, long index, const char *line, size_t len, const claims_gen_truth *t)
{
    (void)line;
    (void)len;
    ((unsigned *)user)[index] = t->reasons;
    return TG_OK;
}

/* On generated data the history flag finds exactly the generator's planted
 * duplicates, also after a patient-disjoint split. */
START_TEST(test_history_generated)
{
    claims_codes *t = load_codes();
    enum { N = 4000 };
    const char *path = "claims_history_gen.jsonl";
    unsigned *truth = calloc(N, sizeof *truth);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    claims_gen_opts o = {N, 5, 0.0};
    ck_assert_msg(claims_generate(t, &o, f, note_duplicates, truth, NULL) == TG_OK, "%s", tg_last_error());
    fclose(f);
    claims_dataset ds;
    ck_assert_msg(claims_dataset_load(path, NULL, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(ds.n, N);
    long n_dup = 0;
    for (long i = 0; i < N; i++) {
        bool dup = (truth[i] >> CLAIMS_DENY_DUPLICATE) & 1;
        ck_assert_msg(ds.claims[i].history_duplicate == dup, "claim %ld: flag %d, generator %d", i,
                      ds.claims[i].history_duplicate, dup);
        ck_assert_uint_eq(ds.claims[i].deny_reasons, truth[i]); /* written to the file and read back */
        n_dup += dup;
    }
    ck_assert_int_gt(n_dup, 5);
    size_t *idx[3], n[3];
    ck_assert_int_eq(claims_dataset_split(&ds, 3, (claims_split_fracs){0.8, 0.1}, idx, n), TG_OK);
    long in_valid = 0;
    for (size_t i = 0; i < n[1]; i++) in_valid += (truth[idx[1][i]] >> CLAIMS_DENY_DUPLICATE) & 1;
    ck_assert_int_gt(in_valid, 0);
    for (int s = 0; s < 3; s++) free(idx[s]);
    claims_dataset_free(&ds);
    ck_assert_int_eq(
        claims_split_file(path, "claims_history_split", 3, (claims_split_fracs){0.8, 0.1}, NULL, NULL, NULL), TG_OK);
    claims_dataset part;
    ck_assert_int_eq(claims_dataset_load("claims_history_split.valid.jsonl", NULL, &part), TG_OK);
    long flagged = 0;
    for (size_t i = 0; i < part.n; i++) flagged += part.claims[i].history_duplicate;
    ck_assert_int_eq(flagged, in_valid);
    claims_dataset_free(&part);
    for (int s = 0; s < 3; s++) {
        char p[64];
        snprintf(p, sizeof p, "claims_history_split.%s.jsonl", claims_split_name((claims_split)s));
        remove(p);
    }
    free(truth);
    remove(path);
    claims_codes_free(t);
}
END_TEST

/* The code limits of claim c equal those recomputed from the table, agree
 * with the generator's sex and age rules, and are neutral without a table
 * (bare); the claim's facts vector carries them. */
static void check_limits(const claims_codes *t, const claims_claim *c, const claims_claim *bare)
{
    claims_code_limits want = {0, 0, 0, 150};
    for (int k = 0; k < c->n_diagnoses + c->n_procedures; k++) {
        const claims_code *x =
            claims_codes_find(t, k < c->n_diagnoses ? c->diagnoses[k] : c->procedures[k - c->n_diagnoses].code);
        want.female_only += x->sex == 'F';
        want.male_only += x->sex == 'M';
        want.age_min = x->age_min > want.age_min ? x->age_min : want.age_min;
        want.age_max = x->age_max < want.age_max ? x->age_max : want.age_max;
    }
    ck_assert_mem_eq(&c->limits, &want, sizeof want);
    claims_code_limits neutral = {0, 0, 0, 150};
    ck_assert_mem_eq(&bare->limits, &neutral, sizeof neutral);
    const claims_code_limits *l = &c->limits;
    bool sex = (c->patient_sex == 'F' && l->male_only) || (c->patient_sex == 'M' && l->female_only);
    bool age = c->patient_age < l->age_min || c->patient_age > l->age_max;
    ck_assert_int_eq(sex, (c->deny_reasons >> CLAIMS_DENY_SEX) & 1);
    ck_assert_int_eq(age, (c->deny_reasons >> CLAIMS_DENY_AGE) & 1);
    float f[CLAIMS_N_FEATURES];
    claims_claim_features(c, f);
    ck_assert_float_eq_tol(f[0], c->patient_age / 100.0f, 1e-6f);
    ck_assert_float_eq(f[9], l->female_only < 3 ? l->female_only : 3);
    ck_assert_float_eq(f[10], l->male_only < 3 ? l->male_only : 3);
    ck_assert_int_eq(f[11] < 0, c->patient_age < l->age_min);
    ck_assert_int_eq(f[12]<0, c->patient_age> l->age_max);
    ck_assert_float_eq(f[8], c->history_duplicate);
}

/* With a code table the reader adds the payer's reference to each procedure
 * (billed over fee schedule, prior-authorization list) and the demographic
 * limits of all codes; the generator's amount rule is then exactly "some
 * ratio above 3", and the rendered claim shows the first two. Without a
 * table none appears. */
/* Provider profiles: counts per provider match a recount, E/M levels come
 * from the office and emergency codes, leave-one-out removes the claim's own
 * visit, unknown providers score 0, and claims the generator upcoded come
 * from providers with more level-5 visits than approved claims' providers. */
START_TEST(test_provider_profile)
{
    claims_codes *t = load_codes();
    const char *path = "claims_profile.jsonl";
    gen_to_file(t, path, 3000, 21, 0.0, NULL);
    claims_dataset ds;
    claims_read_opts ro = {.strict = true, .codes = t};
    ck_assert_msg(claims_dataset_load(path, &ro, &ds) == TG_OK, "%s", tg_last_error());
    claims_provider_stats p;
    ck_assert_int_eq(claims_provider_stats_build(&ds, &p), TG_OK);
    ck_assert_int_gt(p.n, 20);
    ck_assert(p.prior_high > 0.2 && p.prior_high < 0.8 && p.prior_top > 0.02 && p.prior_top < p.prior_high);
    for (int k = 0; k < p.n; k++) {
        int visits = 0, high = 0, top = 0;
        for (size_t i = 0; i < ds.n; i++) {
            const claims_claim *c = &ds.claims[i];
            if (strcmp(c->provider_id, p.e[k].provider_id) || !c->em_level) continue;
            visits++, high += c->em_level >= 4, top += c->em_level == 5;
        }
        ck_assert_int_eq(visits, p.e[k].visits);
        ck_assert_int_eq(high, p.e[k].high);
        ck_assert_int_eq(top, p.e[k].top);
        if (k) ck_assert_int_lt(strcmp(p.e[k - 1].provider_id, p.e[k].provider_id), 0);
    }
    /* the artifact's copy: JSON round trip, bad entries named */
    char *json = claims_provider_stats_to_json(&p);
    claims_provider_stats q;
    ck_assert_msg(claims_provider_stats_from_json(json, "stats", &q) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(q.n, p.n);
    ck_assert(q.prior_high == p.prior_high && q.prior_top == p.prior_top);
    for (int k = 0; k < p.n; k++) {
        ck_assert_str_eq(q.e[k].provider_id, p.e[k].provider_id);
        ck_assert(q.e[k].visits == p.e[k].visits && q.e[k].high == p.e[k].high && q.e[k].top == p.e[k].top);
    }
    claims_provider_stats_free(&q);
    free(json);
    const char *bad[] = {"[]", "{\"prior_high\":0.5,\"prior_top\":0.1,\"providers\":[[\"a\",1,2,0]]}",
                         "{\"prior_high\":0.5,\"prior_top\":0.1,\"providers\":[[\"b\",1,0,0],[\"a\",1,0,0]]}",
                         "{\"prior_high\":1.5,\"prior_top\":0.1,\"providers\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(claims_provider_stats_from_json(bad[i], "stats", &q), TG_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(tg_last_error(), "stats"));
    }
    double up = 0, ok = 0;
    long n_up = 0, n_ok = 0, n_em = 0;
    claims_provider_stats_apply(&p, &ds, true);
    for (size_t i = 0; i < ds.n; i++) {
        const claims_claim *c = &ds.claims[i];
        for (int j = 0; j < c->n_procedures; j++)
            if (!strcmp(c->procedures[j].code, "99215")) ck_assert_int_eq(c->em_level, 5);
        n_em += c->em_level > 0;
        if ((c->deny_reasons >> CLAIMS_DENY_UPCODE) & 1)
            up += c->provider_em_top, n_up++;
        else if (!c->deny && c->em_level)
            ok += c->provider_em_top, n_ok++;
    }
    ck_assert_int_gt(n_em, (long)ds.n / 2);
    ck_assert_int_gt(n_up, 5);
    ck_assert_msg(up / n_up > ok / n_ok + 0.3, "level-5 z-score: upcoded %g, approved %g", up / n_up, ok / n_ok);
    claims_claim *c = NULL; /* a claim with a visit: leave-one-out takes it out */
    for (size_t i = 0; !c; i++)
        if (ds.claims[i].em_level == 5) c = &ds.claims[i];
    const claims_provider_stats_entry *e = NULL;
    for (int k = 0; k < p.n; k++)
        if (!strcmp(p.e[k].provider_id, c->provider_id)) e = &p.e[k];
    ck_assert_int_eq(c->provider_em_visits, e->visits - 1);
    const double n1 = e->visits - 1, pt = p.prior_top, z = (e->top - 1 - n1 * pt) / sqrt(n1 * pt * (1 - pt));
    ck_assert_float_eq_tol(c->provider_em_top, z < -4 ? -4 : z > 4 ? 4 : z, 1e-5);
    free(c->provider_id);
    c->provider_id = strdup("NOT-A-PROVIDER");
    claims_provider_stats_apply(&p, &ds, false);
    ck_assert_int_eq(c->provider_em_visits, 0);
    ck_assert_float_eq(c->provider_em_high, 0.0f);
    claims_provider_stats_free(&p);
    claims_dataset_free(&ds);
    remove(path);
    claims_codes_free(t);
}
END_TEST

START_TEST(test_payer_reference)
{
    claims_codes *t = load_codes();
    const char *path = "claims_reference.jsonl";
    gen_to_file(t, path, 3000, 13, 0.0, NULL);
    claims_dataset ds, bare;
    claims_read_opts ro = {.strict = true, .codes = t};
    ck_assert_msg(claims_dataset_load(path, &ro, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(claims_dataset_load(path, NULL, &bare), TG_OK);
    long n_amount = 0, n_auth = 0, n_limited = 0;
    for (size_t i = 0; i < ds.n; i++) {
        const claims_claim *c = &ds.claims[i];
        bool over = false;
        for (int k = 0; k < c->n_procedures; k++) {
            const claims_procedure *p = &c->procedures[k];
            const claims_code *ref = claims_codes_find(t, p->code);
            double want = ref->amount > 0 ? p->billed_amount / (ref->amount * p->units) : 0.0;
            ck_assert_double_eq_tol(p->fee_ratio, want, 1e-12);
            ck_assert_int_eq(p->pa_required, ref->prior_auth);
            ck_assert_double_eq(bare.claims[i].procedures[k].fee_ratio, 0.0);
            ck_assert(!bare.claims[i].procedures[k].pa_required);
            over |= p->fee_ratio > 3.0;
            n_auth += p->pa_required;
        }
        bool amount = (c->deny_reasons >> CLAIMS_DENY_AMOUNT) & 1;
        ck_assert_msg(over == amount, "claim %zu: ratio above 3 %d, amount rule %d", i, over, amount);
        n_amount += amount;
        check_limits(t, c, &bare.claims[i]);
        n_limited += c->limits.female_only + c->limits.male_only > 0 && c->limits.age_min > 0;
    }
    ck_assert_int_gt(n_limited, 3);
    ck_assert_int_gt(n_amount, 3);
    ck_assert_int_gt(n_auth, 3);
    char *text, *plain;
    size_t len;
    ck_assert_int_eq(claims_render(&ds.claims[0], &text, &len), TG_OK);
    ck_assert_int_eq(claims_render(&bare.claims[0], &plain, &len), TG_OK);
    ck_assert_msg(strstr(text, " fee x"), "%s", text);
    ck_assert_ptr_null(strstr(plain, " fee x"));
    ck_assert_ptr_null(strstr(plain, "needs auth"));
    free(text);
    free(plain);
    claims_dataset_free(&ds);
    claims_dataset_free(&bare);
    remove(path);
    claims_codes_free(t);
}
END_TEST

/* Optional deny reasons: names parsed into a mask, bad names and reasons on
 * an approved claim rejected with the field named. */
START_TEST(test_deny_reasons)
{
    static const char *head = "{\"claim_id\":\"R1\",\"member_id\":\"M\",\"patient\":{\"name\":\"Ann Lee\","
                              "\"dob\":\"1970-01-02\",\"age\":52,\"sex\":\"F\"},\"provider\":{\"id\":\"P\","
                              "\"specialty\":\"Family\"},\"service_date_from\":\"2022-03-01\",\"service_date_to\":"
                              "\"2022-03-01\",\"diagnosis_codes\":[\"I10\"],\"procedures\":[{\"code\":\"99213\","
                              "\"units\":1,\"billed_amount\":90.5}],\"place_of_service\":\"11\",\"prior_auth\":false,"
                              "\"note\":\"\",\"fraud\":false,";
    static const struct {
        const char *tail, *why;
        unsigned mask;
    } cases[] = {
        {"\"decision\":\"deny\",\"deny_reasons\":[\"no_auth\",\"upcode\"]}", NULL,
         1u << CLAIMS_DENY_NO_AUTH | 1u << CLAIMS_DENY_UPCODE},
        {"\"decision\":\"deny\"}", NULL, 0},
        {"\"decision\":\"approve\",\"deny_reasons\":[]}", NULL, 0},
        {"\"decision\":\"deny\",\"deny_reasons\":[\"late\"]}", "deny_reasons[0] must be one of mismatch", 0},
        {"\"decision\":\"deny\",\"deny_reasons\":\"age\"}", "field 'deny_reasons' must be an array, got string", 0},
        {"\"decision\":\"approve\",\"deny_reasons\":[\"age\"]}", "'deny_reasons' is set on an approved claim", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[2048], why[256];
        snprintf(line, sizeof line, "%s%s", head, cases[i].tail);
        claims_claim c;
        bool ok = claims_parse_line(line, strlen(line), NULL, &c, why, sizeof why);
        ck_assert_msg(ok == !cases[i].why, "case %zu: %s", i, ok ? "accepted" : why);
        if (ok)
            ck_assert_uint_eq(c.deny_reasons, cases[i].mask);
        else
            ck_assert_msg(strstr(why, cases[i].why), "case %zu: '%s'", i, why);
        claims_claim_clear(&c);
    }
}
END_TEST

START_TEST(test_scrub_examples)
{
    const char *in =
        "Patient: John Smith, DOB 03/14/1962, member XQH482913307. Mr. Smith called from "
        "(555) 123-4567 and lives at 12 Oak Hollow Street, Springfield, IL 62704. "
        "Daughter Mary Kowalski, 555.222.3333. MRN 48213377. Seen 2022-04-05 and March 3, 2022. "
        "Dx E11.65, I10, Z3A.2; CPT 99213, 3044F; J1100 x2. BP 132/84, A1c 7.8%, pain 5/10, age 59, since 2019.";
    const char *want =
        "Patient: <NAME>, DOB <DOB>, member <MEMBER_ID>. Mr. <NAME> called from "
        "<PHONE> and lives at <ADDRESS>. "
        "Daughter <NAME>, <PHONE>. MRN <ID>. Seen <DATE> and <DATE>. "
        "Dx E11.65, I10, Z3A.2; CPT 99213, 3044F; J1100 x2. BP 132/84, A1c 7.8%, pain 5/10, age 59, since 2019.";
    claims_scrub_ids ids = {"John Smith", "XQH482913307", "1962-03-14"};
    size_t n;
    char *out = claims_scrub_text(in, strlen(in), &ids, &n);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
    free(out);
    /* generic rules alone, without the claim's fields */
    out = claims_scrub_text("Ms. Jane Roe, DOB 1/2/1950, ID AB1234567.", 41, NULL, NULL);
    ck_assert_str_eq(out, "Ms. <NAME>, DOB <DATE>, ID <ID>.");
    free(out);
}
END_TEST

/* Whole-word occurrence of w in s. */
static bool has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = strstr(s, w); p; p = strstr(p + 1, w)) {
        bool left = p == s || !((p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= 'a' && p[-1] <= 'z') ||
                                (p[-1] >= '0' && p[-1] <= '9'));
        char r = p[n];
        bool right = !((r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'));
        if (left && right) return true;
    }
    return false;
}

typedef struct scrub_check {
    long claims, planted;
} scrub_check;

static tg_status check_scrub(void *user, long index, const char *line, size_t len, const claims_gen_truth *truth)
{
    scrub_check *sc = user;
    claims_claim c;
    char why[512];
    ck_assert_msg(claims_parse_line(line, len, NULL, &c, why, sizeof why), "claim %ld: %s", index, why);
    char *orig = strdup(c.note);
    ck_assert_int_eq(claims_scrub_claim(&c), TG_OK);
    for (int i = 0; i < truth->n_planted; i++) {
        ck_assert_msg(strstr(orig, truth->planted[i]), "claim %ld: '%s' not in note", index, truth->planted[i]);
        ck_assert_msg(!strstr(c.note, truth->planted[i]), "claim %ld: '%s' survived scrubbing", index,
                      truth->planted[i]);
        sc->planted++;
    }
    char name[64];
    snprintf(name, sizeof name, "%s", c.patient_name);
    for (char *save = NULL, *w = strtok_r(name, " ", &save); w; w = strtok_r(NULL, " ", &save))
        ck_assert_msg(!has_word(c.note, w), "claim %ld: name part '%s' survived", index, w);
    ck_assert(!strstr(c.note, c.member_id));
    ck_assert(!strstr(c.note, c.patient_dob));
    for (int i = 0; i < c.n_diagnoses; i++)
        ck_assert_msg(has_word(c.note, c.diagnoses[i]), "claim %ld: code %s lost", index, c.diagnoses[i]);
    for (int i = 0; i < c.n_procedures; i++)
        ck_assert_msg(has_word(c.note, c.procedures[i].code), "claim %ld: code %s lost", index, c.procedures[i].code);
    free(orig);
    claims_claim_clear(&c);
    sc->claims++;
    return TG_OK;
}

START_TEST(test_scrub_generated)
{
    claims_codes *t = load_codes();
    scrub_check sc = {0};
    claims_gen_opts o = {500, 33, 0.02};
    ck_assert_int_eq(claims_generate(t, &o, NULL, check_scrub, &sc, NULL), TG_OK);
    ck_assert_int_eq(sc.claims, 500);
    ck_assert_int_gt(sc.planted, 2000);
    claims_codes_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims_data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_code_table);
    tcase_add_test(tc, test_generator_deterministic);
    tcase_add_test(tc, test_generated_claims_valid);
    tcase_add_test(tc, test_long_frac);
    tcase_add_test(tc, test_patient_disjoint_splits);
    tcase_add_test(tc, test_malformed_lines);
    tcase_add_test(tc, test_history_hand_made);
    tcase_add_test(tc, test_deny_reasons);
    tcase_add_test(tc, test_history_generated);
    tcase_add_test(tc, test_payer_reference);
    tcase_add_test(tc, test_provider_profile);
    tcase_add_test(tc, test_scrub_examples);
    tcase_add_test(tc, test_scrub_generated);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
