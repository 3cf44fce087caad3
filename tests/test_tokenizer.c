/* models/claims tokenizer: code patterns, lossless round trips, atomic codes,
 * the unknown-code policy, placeholders, save/load and file validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/claims/text/tokenizer.h"
#include "tests/tg_test.h"

/* Trained once in main() before the suite forks. */
static claims_tokenizer *tok;
static char **sample_codes;
static size_t n_sample_codes;

/* In the training text but not in codes_sample.txt. */
static const char *const text_only_codes[] = {"R73.03", "K21.9", "G0439"};

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Deterministic English-like clinical text of about n bytes (malloc'd). */
static char *gen_text(uint64_t seed, size_t n)
{
    static const char *const words[] = {"the",
                                        "patient",
                                        "was",
                                        "seen",
                                        "for",
                                        "follow-up",
                                        "of",
                                        "type",
                                        "2",
                                        "diabetes",
                                        "mellitus",
                                        "with",
                                        "hyperglycemia",
                                        "and",
                                        "hypertension",
                                        "reports",
                                        "no",
                                        "chest",
                                        "pain",
                                        "shortness",
                                        "breath",
                                        "denies",
                                        "fever",
                                        "chills",
                                        "blood",
                                        "pressure",
                                        "is",
                                        "well",
                                        "controlled",
                                        "on",
                                        "current",
                                        "medication",
                                        "continue",
                                        "insulin",
                                        "metformin",
                                        "lisinopril",
                                        "daily",
                                        "return",
                                        "in",
                                        "three",
                                        "months",
                                        "labs",
                                        "ordered",
                                        "including",
                                        "comprehensive",
                                        "metabolic",
                                        "panel",
                                        "complete",
                                        "count",
                                        "office",
                                        "visit",
                                        "established",
                                        "moderate",
                                        "complexity",
                                        "history",
                                        "exam",
                                        "normal",
                                        "abdomen",
                                        "soft",
                                        "non-tender",
                                        "lungs",
                                        "clear",
                                        "to",
                                        "auscultation",
                                        "heart",
                                        "regular",
                                        "rate",
                                        "rhythm",
                                        "assessment",
                                        "plan",
                                        "discussed",
                                        "diet",
                                        "exercise",
                                        "weight",
                                        "loss",
                                        "injection",
                                        "given",
                                        "left",
                                        "right",
                                        "knee",
                                        "fracture",
                                        "femur",
                                        "x-ray",
                                        "shows",
                                        "healing",
                                        "physical",
                                        "therapy",
                                        "referral",
                                        "claim",
                                        "submitted",
                                        "provider",
                                        "member",
                                        "denied",
                                        "approved",
                                        "prior",
                                        "authorization",
                                        "required",
                                        "medically",
                                        "necessary",
                                        "service",
                                        "date",
                                        "units"};
    static const char *const codes[] = {"E11.65", "Z79.4",    "I10",    "99213", "J1100", "80053",
                                        "85025",  "S72.001A", "R73.03", "K21.9", "G0439", "E0601"};
    static const char *const holders[] = {"<NAME>", "<MEMBER_ID>", "<DOB>", "<DATE>", "<PHONE>"};
    size_t nw = sizeof words / sizeof *words;
    char *buf = malloc(n + 64);
    size_t len = 0;
    int in_sentence = 0;
    while (len < n) {
        uint64_t r = lcg(&seed) % 100;
        const char *w = r < 6 ? codes[lcg(&seed) % 12] : r < 8 ? holders[lcg(&seed) % 5] : words[lcg(&seed) % nw];
        len += (size_t)sprintf(buf + len, "%s%s", in_sentence ? " " : "", w);
        in_sentence++;
        if (in_sentence > 6 && lcg(&seed) % 8 == 0) {
            len += (size_t)sprintf(buf + len, lcg(&seed) % 4 ? ". " : ".\n");
            in_sentence = 0;
        } else if (lcg(&seed) % 12 == 0) {
            len += (size_t)sprintf(buf + len, ",");
        }
    }
    buf[len] = '\0';
    return buf;
}

static int32_t *enc(const char *s, size_t len, size_t *n)
{
    int32_t *ids = NULL;
    tg_status st = claims_tok_encode(tok, s, len, NULL, &ids, n);
    ck_assert_msg(st == TG_OK, "encode: %s", tg_last_error());
    return ids;
}

/* Fails unless encode then decode gives back exactly the len bytes of s. */
static void assert_round_trip(const char *s, size_t len, const char *what)
{
    size_t n, out_len;
    int32_t *ids = enc(s, len, &n);
    char *back = NULL;
    ck_assert_msg(claims_tok_decode(tok, ids, n, &back, &out_len) == TG_OK, "decode: %s", tg_last_error());
    ck_assert_msg(out_len == len && !memcmp(back, s, len), "%s: round trip changed %zu bytes into %zu", what, len,
                  out_len);
    free(ids);
    free(back);
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "/tmp/tg_test_tokenizer_%d_%s.json", (int)getpid(), name);
}

START_TEST(test_code_patterns)
{
    static const struct {
        const char *text;
        size_t pos, len;
        claims_code_kind kind;
    } cases[] = {
        {"E11.65", 0, 6, CLAIMS_CODE_ICD10CM},
        {"Z79.4;", 0, 5, CLAIMS_CODE_ICD10CM},
        {"S72.001A", 0, 8, CLAIMS_CODE_ICD10CM},
        {"I10", 0, 3, CLAIMS_CODE_ICD10CM},
        {"C4A.0", 0, 5, CLAIMS_CODE_ICD10CM},
        {"dx E11.", 3, 3, CLAIMS_CODE_ICD10CM},
        {"99213", 0, 5, CLAIMS_CODE_CPT},
        {"3074F", 0, 5, CLAIMS_CODE_CPT},
        {"0042T", 0, 5, CLAIMS_CODE_CPT},
        {"99213-25", 0, 5, CLAIMS_CODE_CPT},
        {"J1100", 0, 5, CLAIMS_CODE_HCPCS},
        {"(E0601)", 1, 5, CLAIMS_CODE_HCPCS},
        /* not codes */
        {"E11.65789", 0, 0, CLAIMS_CODE_NONE},
        {"123456", 0, 0, CLAIMS_CODE_NONE},
        {"x99213", 1, 0, CLAIMS_CODE_NONE},
        {"1.12345", 2, 0, CLAIMS_CODE_NONE},
        {"99213.5", 0, 0, CLAIMS_CODE_NONE},
        {"e11.65", 0, 0, CLAIMS_CODE_NONE},
        {"W1234", 0, 0, CLAIMS_CODE_NONE},
        {"E11x", 0, 0, CLAIMS_CODE_NONE},
        {"\xc3\xa9"
         "E11",
         2, 0, CLAIMS_CODE_NONE},
        {"I1", 0, 0, CLAIMS_CODE_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        claims_code_kind k;
        size_t n = claims_code_match(cases[i].text, strlen(cases[i].text), cases[i].pos, &k);
        ck_assert_msg(n == cases[i].len && k == cases[i].kind, "'%s' at %zu: got %zu %s, want %zu %s", cases[i].text,
                      cases[i].pos, n, claims_code_kind_name(k), cases[i].len, claims_code_kind_name(cases[i].kind));
    }
}
END_TEST

START_TEST(test_round_trip_clinical)
{
    char *text = gen_text(99, 20000);
    assert_round_trip(text, strlen(text), "generated clinical text");
    free(text);
    const char *s = "Pt <NAME> (DOB <DOB>) seen 03/14/2019 for E11.65 & I10.\n\n  Rx: insulin 10u   "
                    "q.d.\tCPT 99213-25, HCPCS J1100 x2; total $1,234.56 <BOS> <UNK_CODE:CPT> <NAM";
    assert_round_trip(s, strlen(s), "clinical note");
    assert_round_trip("", 0, "empty");
    assert_round_trip(" ", 1, "space");
}
END_TEST

START_TEST(test_round_trip_random_bytes)
{
    uint64_t seed = 7;
    char buf[512];
    for (int rep = 0; rep < 300; rep++) {
        size_t len = lcg(&seed) % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            /* bias toward bytes that form codes, placeholders and spaces */
            uint64_t r = lcg(&seed) % 10;
            buf[i] = r < 4   ? (char)(1 + lcg(&seed) % 255)
                     : r < 6 ? "0123456789"[lcg(&seed) % 10]
                     : r < 8 ? "ABEJZ.<> "[lcg(&seed) % 9]
                             : "<NAME>"[lcg(&seed) % 6];
        }
        assert_round_trip(buf, len, "random bytes");
    }
    const char with_nul[] = "a\0b E11.65\0\0";
    assert_round_trip(with_nul, sizeof with_nul - 1, "bytes with NUL");
}
END_TEST

START_TEST(test_round_trip_utf8)
{
    static const char *const texts[] = {
        "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc3\x85ngstr\xc3\xb6m",             /* accents */
        "\xe7\xb3\x96\xe5\xb0\xbf\xe7\x97\x85 E11.65 \xe9\xab\x98\xe8\xa1\x80\xe5\x8e\x8b", /* CJK */
        "pain \xf0\x9f\x98\xa2\xf0\x9f\x92\x89 better \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd!",   /* emoji */
        "\xff\xfe\xc3(\xe2\x82 \xf0\x9f\x98 \x80\x80 truncated and invalid UTF-8",
        "\xd0\x9f\xd0\xb0\xd1\x86\xd0\xb8\xd0\xb5\xd0\xbd\xd1\x82 I10\xe2\x80\x94J1100\xe2\x80\x9d",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) assert_round_trip(texts[i], strlen(texts[i]), texts[i]);
}
END_TEST

/* Fails unless sentence encodes to exactly n_codes code tokens, one of them
 * code's. */
static void assert_code_tokens(const char *sentence, const char *code, int n_codes)
{
    size_t n;
    int32_t *ids = enc(sentence, strlen(sentence), &n);
    int32_t want = claims_tok_code_id(tok, code);
    ck_assert_msg(want >= 0, "code %s has no id", code);
    int hits = 0, codes = 0;
    for (size_t i = 0; i < n; i++) hits += ids[i] == want, codes += claims_tok_is_code(tok, ids[i]);
    ck_assert_msg(hits >= 1 && codes == n_codes, "'%s': code %s found %d times, %d code tokens (want %d)", sentence,
                  code, hits, codes, n_codes);
    free(ids);
}

START_TEST(test_codes_are_atomic)
{
    ck_assert_int_ge(n_sample_codes, 1400);
    char sentence[128];
    for (size_t i = 0; i < n_sample_codes; i++) {
        const char *c = sample_codes[i];
        size_t n;
        int32_t *ids = enc(c, strlen(c), &n);
        ck_assert_msg(n == 1 && claims_tok_is_code(tok, ids[0]), "'%s' alone: %zu tokens", c, n);
        size_t tl;
        const char *t = claims_tok_token(tok, ids[0], &tl);
        ck_assert_msg(tl == strlen(c) && !memcmp(t, c, tl), "'%s' token is '%s'", c, t);
        claims_code_kind k;
        claims_code_match(c, strlen(c), 0, &k);
        ck_assert_int_eq(claims_tok_code_kind(tok, ids[0]), k);
        free(ids);
        snprintf(sentence, sizeof sentence, "Dx %s, Z79.4; CPT 99213 x2", c);
        assert_code_tokens(sentence, c, 3);
        snprintf(sentence, sizeof sentence, "(%s)", c);
        assert_code_tokens(sentence, c, 1);
        snprintf(sentence, sizeof sentence, "billed %s.\n", c);
        assert_code_tokens(sentence, c, 1);
    }
    const char *s = "Dx E11.65, Z79.4; CPT 99213 x2";
    size_t n;
    int32_t *ids = enc(s, strlen(s), &n);
    int codes = 0;
    for (size_t i = 0; i < n; i++) codes += claims_tok_is_code(tok, ids[i]);
    ck_assert_int_eq(codes, 3);
    free(ids);
}
END_TEST

START_TEST(test_listed_and_text_codes_have_ids)
{
    /* listed codes that never occur in the training text still have ids */
    char *text = gen_text(1, 400000);
    int unseen = 0;
    for (size_t i = 0; i < n_sample_codes; i++) {
        ck_assert_int_ge(claims_tok_code_id(tok, sample_codes[i]), 0);
        unseen += strstr(text, sample_codes[i]) == NULL;
    }
    ck_assert_int_ge(unseen, 1000);
    /* codes only seen in the text get ids too */
    for (size_t j = 0; j < sizeof text_only_codes / sizeof *text_only_codes; j++) {
        for (size_t i = 0; i < n_sample_codes; i++) ck_assert_str_ne(sample_codes[i], text_only_codes[j]);
        ck_assert_int_ge(claims_tok_code_id(tok, text_only_codes[j]), 0);
        assert_code_tokens("seen for R73.03 and K21.9 G0439", text_only_codes[j], 3);
    }
    ck_assert_int_eq(claims_tok_n_codes(tok), (int)n_sample_codes + 3);
    free(text);
}
END_TEST

START_TEST(test_unknown_code_policy)
{
    const char *s = "Dx T88.7XXA, CPT 12345 and V9999; E11.65";
    claims_encode_stats stats = {0};
    claims_encode_opts o = {.unk_code = CLAIMS_UNK_CODE_SPELL, .stats = &stats};
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(claims_tok_encode(tok, s, strlen(s), &o, &ids, &n), TG_OK);
    ck_assert_int_eq(stats.unknown_codes[CLAIMS_CODE_ICD10CM], 1);
    ck_assert_int_eq(stats.unknown_codes[CLAIMS_CODE_CPT], 1);
    ck_assert_int_eq(stats.unknown_codes[CLAIMS_CODE_HCPCS], 1);
    ck_assert_int_eq(stats.codes, 1);
    /* the marker is followed by the code spelled one byte per id */
    size_t at = 0;
    while (at < n && ids[at] != CLAIMS_TOK_UNK_ICD10CM) at++;
    ck_assert_uint_lt(at + 8, n);
    ck_assert_int_eq(claims_tok_code_kind(tok, ids[at]), CLAIMS_CODE_ICD10CM);
    ck_assert(!claims_tok_is_code(tok, ids[at]));
    for (size_t i = 0; i < 8; i++) ck_assert_int_eq(ids[at + 1 + i], CLAIMS_TOK_BYTE("T88.7XXA"[i]));
    int markers = 0;
    for (size_t i = 0; i < n; i++) markers += ids[i] == CLAIMS_TOK_UNK_CPT || ids[i] == CLAIMS_TOK_UNK_HCPCS;
    ck_assert_int_eq(markers, 2);
    free(ids);
    assert_round_trip(s, strlen(s), "unknown codes");

    o.unk_code = CLAIMS_UNK_CODE_ERROR;
    tg_assert_error(claims_tok_encode(tok, s, strlen(s), &o, &ids, &n), TG_ERR_INVALID,
                    "icd10cm code 'T88.7XXA' at byte 3 has no token");
    ck_assert_ptr_null(ids);
    const char *known = "Dx E11.65 I10";
    ck_assert_int_eq(claims_tok_encode(tok, known, strlen(known), &o, &ids, &n), TG_OK);
    free(ids);
}
END_TEST

START_TEST(test_placeholders)
{
    static const struct {
        const char *lit;
        int32_t id;
    } ph[] = {{"<NAME>", CLAIMS_TOK_NAME},   {"<MEMBER_ID>", CLAIMS_TOK_MEMBER_ID}, {"<DOB>", CLAIMS_TOK_DOB},
              {"<PHONE>", CLAIMS_TOK_PHONE}, {"<ADDRESS>", CLAIMS_TOK_ADDRESS},     {"<DATE>", CLAIMS_TOK_DATE},
              {"<ID>", CLAIMS_TOK_ID}};
    for (size_t i = 0; i < sizeof ph / sizeof *ph; i++) {
        size_t n;
        int32_t *ids = enc(ph[i].lit, strlen(ph[i].lit), &n);
        ck_assert_msg(n == 1 && ids[0] == ph[i].id, "%s: %zu ids", ph[i].lit, n);
        ck_assert_str_eq(claims_tok_token(tok, ph[i].id, NULL), ph[i].lit);
        free(ids);
        char s[96];
        snprintf(s, sizeof s, "call(%s),x%sy", ph[i].lit, ph[i].lit);
        ids = enc(s, strlen(s), &n);
        int hits = 0;
        for (size_t j = 0; j < n; j++) hits += ids[j] == ph[i].id;
        ck_assert_msg(hits == 2, "'%s': %d placeholder ids", s, hits);
        free(ids);
        assert_round_trip(s, strlen(s), s);
    }
    /* control tokens are never read from text, and decode skips them */
    size_t n;
    int32_t *ids = enc("<BOS>", 5, &n);
    for (size_t i = 0; i < n; i++) ck_assert_int_ge(ids[i], CLAIMS_TOK_N_SPECIAL);
    free(ids);
    int32_t ctl[] = {CLAIMS_TOK_BOS, CLAIMS_TOK_BYTE('a'), CLAIMS_TOK_NAME, CLAIMS_TOK_EOS, CLAIMS_TOK_PAD};
    char *out;
    ck_assert_int_eq(claims_tok_decode(tok, ctl, 5, &out, NULL), TG_OK);
    ck_assert_str_eq(out, "a<NAME>");
    free(out);
    int32_t bad[] = {3, 1 << 30};
    tg_assert_error(claims_tok_decode(tok, bad, 2, &out, NULL), TG_ERR_INVALID, "ids[1] = 1073741824 outside");
}
END_TEST

START_TEST(test_compression)
{
    char *text = gen_text(2024, 200000); /* held out: a seed not used for training */
    size_t len = strlen(text), n;
    int32_t *ids = enc(text, len, &n);
    double tpb = (double)n / (double)len;
    printf("tokenizer: %zu bytes -> %zu tokens, %.3f tokens/byte, vocab %d (%d codes, %d merges)\n", len, n, tpb,
           claims_tok_vocab_size(tok), claims_tok_n_codes(tok), claims_tok_n_merges(tok));
    ck_assert_double_lt(tpb, 0.3);
    free(ids);
    free(text);
}
END_TEST

START_TEST(test_cache_matches_uncached)
{
    char *text = gen_text(5, 50000);
    claims_tok_cache *cache = claims_tok_cache_create();
    claims_encode_opts o = {.cache = cache};
    int32_t *a, *b;
    size_t na, nb;
    ck_assert_int_eq(claims_tok_encode(tok, text, strlen(text), NULL, &a, &na), TG_OK);
    for (int rep = 0; rep < 2; rep++) { /* cold then warm cache */
        ck_assert_int_eq(claims_tok_encode(tok, text, strlen(text), &o, &b, &nb), TG_OK);
        ck_assert_uint_eq(na, nb);
        ck_assert_int_eq(memcmp(a, b, na * sizeof *a), 0);
        free(b);
    }
    free(a);
    claims_tok_cache_free(cache);
    free(text);
}
END_TEST

START_TEST(test_save_load_identical)
{
    char path[256];
    tmp_path(path, sizeof path, "save");
    ck_assert_msg(claims_tok_save(tok, path) == TG_OK, "%s", tg_last_error());
    claims_tokenizer *t2;
    ck_assert_msg(claims_tok_load(path, &t2) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(claims_tok_vocab_size(t2), claims_tok_vocab_size(tok));
    for (int32_t id = 0; id < claims_tok_vocab_size(tok); id++) {
        size_t l1, l2;
        const char *a = claims_tok_token(tok, id, &l1), *b = claims_tok_token(t2, id, &l2);
        ck_assert(l1 == l2 && !memcmp(a, b, l1));
        ck_assert_int_eq(claims_tok_code_kind(tok, id), claims_tok_code_kind(t2, id));
    }
    char *text = gen_text(77, 30000);
    int32_t *a, *b;
    size_t na, nb;
    ck_assert_int_eq(claims_tok_encode(tok, text, strlen(text), NULL, &a, &na), TG_OK);
    ck_assert_int_eq(claims_tok_encode(t2, text, strlen(text), NULL, &b, &nb), TG_OK);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na * sizeof *a), 0);
    free(a), free(b), free(text);
    claims_tok_free(t2);
    remove(path);
}
END_TEST

/* Saves the tokenizer, applies edit to its JSON, writes it back and checks
 * that loading fails with TG_ERR_FORMAT naming the file and `needle`. */
static void assert_corrupt(const char *name, void (*edit)(json_t *), const char *needle)
{
    char path[256];
    tmp_path(path, sizeof path, name);
    ck_assert_int_eq(claims_tok_save(tok, path), TG_OK);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    ck_assert_ptr_nonnull(root);
    edit(root);
    ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
    claims_tokenizer *t2 = (claims_tokenizer *)1;
    tg_assert_error(claims_tok_load(path, &t2), TG_ERR_FORMAT, needle);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), path));
    ck_assert_ptr_null(t2);
    remove(path);
}

static void drop_merges(json_t *r) { json_object_del(r, "merges"); }
static void bump_version(json_t *r) { json_object_set_new(r, "version", json_integer(2)); }
static void version_string(json_t *r) { json_object_set_new(r, "version", json_string("1")); }
static json_t *pairs_of(json_t *r) { return json_object_get(json_object_get(r, "merges"), "pairs"); }
static void unknown_merge_id(json_t *r) { json_array_set_new(pairs_of(r), 3, json_pack("[ii]", 99999, 20)); }
static void merge_of_code(json_t *r) { json_array_set_new(pairs_of(r), 0, json_pack("[ii]", 300, 20)); }
static void merge_forward_ref(json_t *r)
{
    int64_t first = json_integer_value(json_object_get(json_object_get(r, "merges"), "first_id"));
    json_array_set_new(pairs_of(r), 0, json_pack("[II]", (json_int_t)first + 5, (json_int_t)20));
}
static void duplicate_merge(json_t *r) { json_array_set(pairs_of(r), 4, json_array_get(pairs_of(r), 2)); }
static void bad_pair_shape(json_t *r) { json_array_set_new(pairs_of(r), 1, json_pack("[i]", 20)); }
static json_t *codes_of(json_t *r) { return json_object_get(json_object_get(r, "code_tokens"), "codes"); }
static void duplicate_code(json_t *r) { json_array_set(codes_of(r), 7, json_array_get(codes_of(r), 6)); }
static void not_a_code(json_t *r) { json_array_set_new(codes_of(r), 2, json_string("hello")); }
static void wrong_special(json_t *r)
{
    json_array_set_new(json_object_get(r, "special_tokens"), 5, json_string("<PERSON>"));
}
static void wrong_vocab(json_t *r) { json_object_set_new(r, "vocab_size", json_integer(12)); }

START_TEST(test_load_errors)
{
    assert_corrupt("nomerges", drop_merges, "missing field 'merges'");
    assert_corrupt("version", bump_version, "field 'version' is 2, this build reads 1");
    assert_corrupt("versionstr", version_string, "field 'version' must be an integer");
    assert_corrupt("unknownid", unknown_merge_id, "field 'merges.pairs[3]': id 99999 is not a byte id");
    assert_corrupt("codeid", merge_of_code, "field 'merges.pairs[0]': id 300 is not");
    assert_corrupt("forward", merge_forward_ref, "field 'merges.pairs[0]'");
    assert_corrupt("dupmerge", duplicate_merge, "field 'merges.pairs[4]': duplicate of merges.pairs[2]");
    assert_corrupt("pairshape", bad_pair_shape, "field 'merges.pairs[1]' must be [id, id]");
    assert_corrupt("dupcode", duplicate_code, "field 'code_tokens.codes[7]': duplicate code");
    assert_corrupt("notcode", not_a_code, "field 'code_tokens.codes[2]': 'hello' is not");
    assert_corrupt("special", wrong_special, "field 'special_tokens[5]' must be \"<NAME>\"");
    assert_corrupt("vocab", wrong_vocab, "field 'vocab_size' is 12");

    char path[256];
    tmp_path(path, sizeof path, "badjson");
    FILE *f = fopen(path, "w");
    fputs("{\"format\": \"tensorgrad-claims-bpe\", \"version\": 1,\n \"merges\": [", f);
    fclose(f);
    claims_tokenizer *t2;
    tg_assert_error(claims_tok_load(path, &t2), TG_ERR_FORMAT, "bad JSON at line 2");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), path));
    remove(path);
    tg_assert_error(claims_tok_load("/nonexistent/tok.json", &t2), TG_ERR_IO, "cannot open '/nonexistent/tok.json'");
}
END_TEST

START_TEST(test_train_errors)
{
    const char *text = "some text E11.65";
    const char *bad[] = {"E11.65", "hello"};
    claims_tok_train_opts o = {.vocab_size = 1000, .codes = bad, .n_codes = 2};
    claims_tokenizer *t2;
    tg_assert_error(claims_tok_train(&text, NULL, 1, &o, &t2), TG_ERR_INVALID,
                    "codes[1] 'hello' is not an ICD-10-CM, CPT or HCPCS code");
    o.n_codes = 1;
    o.vocab_size = 100;
    tg_assert_error(claims_tok_train(&text, NULL, 1, &o, &t2), TG_ERR_INVALID,
                    "vocab_size 100 is below 15 specials + 256 bytes + 1 codes = 272");
    /* a vocabulary with room for no merges is still a working tokenizer */
    o.vocab_size = 272;
    ck_assert_int_eq(claims_tok_train(&text, NULL, 1, &o, &t2), TG_OK);
    ck_assert_int_eq(claims_tok_vocab_size(t2), 272);
    ck_assert_int_eq(claims_tok_n_merges(t2), 0);
    claims_tok_free(t2);

    char path[256];
    tmp_path(path, sizeof path, "codes");
    FILE *f = fopen(path, "w");
    fputs("# list\nE11.65\n  99213  \n\nhello\n", f);
    fclose(f);
    char **codes;
    size_t n;
    tg_assert_error(claims_code_list_read(path, &codes, &n), TG_ERR_FORMAT, ":5: 'hello' is not");
    remove(path);
}
END_TEST

START_TEST(test_merges_follow_training)
{
    /* training merges the most frequent pair first; ties break on lower ids */
    const char *texts[] = {"aab aab abab ab"};
    claims_tok_train_opts o = {.vocab_size = CLAIMS_TOK_N_SPECIAL + 256 + 3};
    claims_tokenizer *t2;
    ck_assert_int_eq(claims_tok_train(texts, NULL, 1, &o, &t2), TG_OK);
    ck_assert_int_eq(claims_tok_n_merges(t2), 3);
    int32_t m0 = CLAIMS_TOK_N_SPECIAL + 256;
    /* words "aab", " aab", " abab", " ab": "ab" occurs 5 times, "aa" twice */
    ck_assert_str_eq(claims_tok_token(t2, m0, NULL), "ab");
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(claims_tok_encode(t2, "abab", 4, NULL, &ids, &n), TG_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], m0);
    ck_assert_int_eq(ids[1], m0);
    free(ids);
    claims_tok_free(t2);
}
END_TEST

START_TEST(test_min_code_freq)
{
    const char *texts[] = {"seen R73.03 once, K21.9 twice: K21.9"};
    const char *listed[] = {"J1100"};
    claims_tok_train_opts o = {.vocab_size = 400, .codes = listed, .n_codes = 1, .min_code_freq = 2};
    claims_tokenizer *t2;
    ck_assert_int_eq(claims_tok_train(texts, NULL, 1, &o, &t2), TG_OK);
    ck_assert_int_eq(claims_tok_n_codes(t2), 2);
    ck_assert_int_ge(claims_tok_code_id(t2, "J1100"), 0);
    ck_assert_int_ge(claims_tok_code_id(t2, "K21.9"), 0);
    ck_assert_int_eq(claims_tok_code_id(t2, "R73.03"), -1);
    /* codes are ordered by kind: ICD-10-CM before HCPCS */
    ck_assert_int_lt(claims_tok_code_id(t2, "K21.9"), claims_tok_code_id(t2, "J1100"));
    claims_tok_free(t2);
}
END_TEST

int main(void)
{
    const char *root = getenv("TG_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/codes_sample.txt", root ? root : ".");
    if (claims_code_list_read(path, &sample_codes, &n_sample_codes) != TG_OK) {
        fprintf(stderr, "%s\n", tg_last_error());
        return 1;
    }
    /* 400 KB of generated text in 8 documents; 1500 merges */
    char *texts[8];
    for (int i = 0; i < 8; i++) texts[i] = gen_text(1 + (uint64_t)i * 1000, 50000);
    claims_tok_train_opts o = {.vocab_size = 0, .codes = (const char *const *)sample_codes, .n_codes = n_sample_codes};
    o.vocab_size = CLAIMS_TOK_N_SPECIAL + 256 + (int32_t)n_sample_codes + 3 + 1500;
    if (claims_tok_train((const char *const *)texts, NULL, 8, &o, &tok) != TG_OK) {
        fprintf(stderr, "train: %s\n", tg_last_error());
        return 1;
    }
    for (int i = 0; i < 8; i++) free(texts[i]);

    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("claims");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_code_patterns);
    tcase_add_test(tc, test_round_trip_clinical);
    tcase_add_test(tc, test_round_trip_random_bytes);
    tcase_add_test(tc, test_round_trip_utf8);
    tcase_add_test(tc, test_codes_are_atomic);
    tcase_add_test(tc, test_listed_and_text_codes_have_ids);
    tcase_add_test(tc, test_unknown_code_policy);
    tcase_add_test(tc, test_placeholders);
    tcase_add_test(tc, test_compression);
    tcase_add_test(tc, test_cache_matches_uncached);
    tcase_add_test(tc, test_save_load_identical);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_train_errors);
    tcase_add_test(tc, test_merges_follow_training);
    tcase_add_test(tc, test_min_code_freq);
    suite_add_tcase(s, tc);
    int failed = tg_run_suite(s);
    claims_tok_free(tok);
    claims_code_list_free(sample_codes, n_sample_codes);
    return failed ? 1 : 0;
}
