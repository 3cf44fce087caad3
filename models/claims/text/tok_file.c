/* The tokenizer's JSON file format (docs/tokenizer_format.md) and code
 * lists. */
#include "models/claims/text/tokenizer_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_NAME "tensorgrad-claims-bpe"

/* The tokenizer as a JSON object (new reference), or NULL on OOM. */
static json_t *build_json(const claims_tokenizer *tok)
{
    json_t *root = json_object(), *specials = json_array(), *codes = json_array(), *pairs = json_array();
    if (!root || !specials || !codes || !pairs) goto oom;
    for (int32_t i = 0; i < CLAIMS_TOK_N_SPECIAL; i++)
        if (json_array_append_new(specials, json_string(claims_tok_special_names[i]))) goto oom;
    for (int32_t i = 0; i < tok->n_codes; i++)
        if (json_array_append_new(codes, json_string(tok->blob + tok->tok_off[tok->code_base + i]))) goto oom;
    for (int32_t i = 0; i < tok->n_merges; i++)
        if (json_array_append_new(pairs, json_pack("[ii]", tok->merges[i][0], tok->merges[i][1]))) goto oom;
    json_t *bytes = json_pack("{s:i, s:i}", "first_id", CLAIMS_TOK_N_SPECIAL, "count", CLAIMS_TOK_N_BYTES);
    json_t *code_obj = json_pack("{s:i, s:O}", "first_id", tok->code_base, "codes", codes);
    json_t *merge_obj = json_pack("{s:i, s:O}", "first_id", tok->merge_base, "pairs", pairs);
    if (json_object_set_new(root, "format", json_string(FORMAT_NAME)) ||
        json_object_set_new(root, "version", json_integer(CLAIMS_TOK_FORMAT_VERSION)) ||
        json_object_set_new(root, "vocab_size", json_integer(tok->vocab)) ||
        json_object_set(root, "special_tokens", specials) || json_object_set_new(root, "byte_tokens", bytes) ||
        json_object_set_new(root, "code_tokens", code_obj) || json_object_set_new(root, "merges", merge_obj))
        goto oom;
    json_decref(specials), json_decref(codes), json_decref(pairs);
    return root;
oom:
    json_decref(root), json_decref(specials), json_decref(codes), json_decref(pairs);
    return NULL;
}

char *claims_tok_to_json(const claims_tokenizer *tok)
{
    json_t *root = build_json(tok);
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!s) tg_error(TG_ERR_OOM, "claims_tok_to_json: out of memory");
    return s;
}

tg_status claims_tok_save(const claims_tokenizer *tok, const char *path)
{
    json_t *root = build_json(tok);
    if (!root) return tg_error(TG_ERR_OOM, "claims_tok_save: out of memory building JSON for '%s'", path);
    tg_status st = TG_OK;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        st = tg_error(TG_ERR_IO, "claims_tok_save: path '%s' is too long", path);
        goto done;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        st = tg_error(TG_ERR_IO, "claims_tok_save: cannot write '%s': %s", tmp, strerror(errno));
        goto done;
    }
    /* indented: one entry per line, readable and diffable */
    int rc = json_dumpf(root, f, JSON_INDENT(1) | JSON_COMPACT | JSON_PRESERVE_ORDER);
    rc |= fputc('\n', f) == EOF;
    rc |= fflush(f) != 0;
    rc |= fclose(f) != 0;
    if (rc || rename(tmp, path) != 0) {
        st = tg_error(TG_ERR_IO, "claims_tok_save: writing '%s' failed: %s", path, strerror(errno));
        remove(tmp);
    }
done:
    json_decref(root);
    return st;
}

/* Integer field `name` of obj (path `where` for messages). */
static tg_status get_int(const char *file, const json_t *obj, const char *where, const char *name, json_int_t *v)
{
    json_t *j = json_object_get(obj, name);
    if (!j) return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: missing field '%s%s'", file, where, name);
    if (!json_is_integer(j))
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field '%s%s' must be an integer", file, where, name);
    *v = json_integer_value(j);
    return TG_OK;
}

static tg_status get_field(const char *file, const json_t *obj, const char *name, json_type type, const char *type_name,
                           json_t **out)
{
    *out = json_object_get(obj, name);
    if (!*out) return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: missing field '%s'", file, name);
    if (json_typeof(*out) != type)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field '%s' must be %s", file, name, type_name);
    return TG_OK;
}

/* Checks that a first_id/count field equals what the layout implies. */
static tg_status expect_int(const char *file, const json_t *obj, const char *where, const char *name, json_int_t want)
{
    json_int_t v = 0;
    TG_TRY(get_int(file, obj, where, name, &v));
    if (v != want)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field '%s%s' is %lld, expected %lld", file, where, name,
                        (long long)v, (long long)want);
    return TG_OK;
}

static tg_status load_json(const char *path, json_t *root, claims_tokenizer **out)
{
    json_t *f, *codes_obj, *merges_obj, *bytes_obj, *specials;
    TG_TRY(get_field(path, root, "format", JSON_STRING, "a string", &f));
    if (strcmp(json_string_value(f), FORMAT_NAME))
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'format' is '%s', expected '%s'", path,
                        json_string_value(f), FORMAT_NAME);
    json_int_t version = 0;
    TG_TRY(get_int(path, root, "", "version", &version));
    if (version != CLAIMS_TOK_FORMAT_VERSION)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'version' is %lld, this build reads %d", path,
                        (long long)version, CLAIMS_TOK_FORMAT_VERSION);
    TG_TRY(get_field(path, root, "special_tokens", JSON_ARRAY, "an array", &specials));
    if (json_array_size(specials) != CLAIMS_TOK_N_SPECIAL)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'special_tokens' has %zu entries, expected %d", path,
                        json_array_size(specials), CLAIMS_TOK_N_SPECIAL);
    for (size_t i = 0; i < CLAIMS_TOK_N_SPECIAL; i++) {
        const char *s = json_string_value(json_array_get(specials, i));
        if (!s || strcmp(s, claims_tok_special_names[i]))
            return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'special_tokens[%zu]' must be \"%s\"", path, i,
                            claims_tok_special_names[i]);
    }
    TG_TRY(get_field(path, root, "byte_tokens", JSON_OBJECT, "an object", &bytes_obj));
    TG_TRY(expect_int(path, bytes_obj, "byte_tokens.", "first_id", CLAIMS_TOK_N_SPECIAL));
    TG_TRY(expect_int(path, bytes_obj, "byte_tokens.", "count", CLAIMS_TOK_N_BYTES));
    TG_TRY(get_field(path, root, "code_tokens", JSON_OBJECT, "an object", &codes_obj));
    TG_TRY(expect_int(path, codes_obj, "code_tokens.", "first_id", CLAIMS_TOK_N_SPECIAL + CLAIMS_TOK_N_BYTES));
    json_t *codes = json_object_get(codes_obj, "codes");
    if (!json_is_array(codes))
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'code_tokens.codes' %s", path,
                        codes ? "must be an array" : "is missing");
    size_t n_codes = json_array_size(codes);
    int32_t merge_base = CLAIMS_TOK_N_SPECIAL + CLAIMS_TOK_N_BYTES + (int32_t)n_codes;
    TG_TRY(get_field(path, root, "merges", JSON_OBJECT, "an object", &merges_obj));
    TG_TRY(expect_int(path, merges_obj, "merges.", "first_id", merge_base));
    json_t *pairs = json_object_get(merges_obj, "pairs");
    if (!json_is_array(pairs))
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'merges.pairs' %s", path,
                        pairs ? "must be an array" : "is missing");
    size_t n_merges = json_array_size(pairs);
    TG_TRY(expect_int(path, root, "", "vocab_size", (json_int_t)merge_base + (json_int_t)n_merges));

    const char **code_list = malloc((n_codes + 1) * sizeof *code_list);
    int32_t(*merges)[2] = malloc((n_merges + 1) * sizeof *merges);
    claims_strmap seen = {0};
    claims_u64map seen_pairs = {0};
    tg_status st = TG_OK;
    if (!code_list || !merges) goto oom;
    for (size_t i = 0; i < n_codes; i++) {
        const char *c = json_string_value(json_array_get(codes, i));
        if (!c) {
            st = tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'code_tokens.codes[%zu]' must be a string", path,
                          i);
            goto done;
        }
        size_t l = strlen(c);
        if (claims_code_match(c, l, 0, NULL) != l) {
            st = tg_error(
                TG_ERR_FORMAT,
                "claims_tok_load: %s: field 'code_tokens.codes[%zu]': '%s' is not an ICD-10-CM, CPT or HCPCS code",
                path, i, c);
            goto done;
        }
        bool added;
        int64_t e = claims_strmap_add(&seen, c, l, (int64_t)i, &added);
        if (e < 0) goto oom;
        if (!added) {
            st = tg_error(TG_ERR_FORMAT,
                          "claims_tok_load: %s: field 'code_tokens.codes[%zu]': duplicate code '%s' (also at %lld)",
                          path, i, c, (long long)seen.val[e]);
            goto done;
        }
        code_list[i] = c;
    }
    for (size_t i = 0; i < n_merges; i++) {
        json_t *p = json_array_get(pairs, i);
        if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(json_array_get(p, 0)) ||
            !json_is_integer(json_array_get(p, 1))) {
            st = tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'merges.pairs[%zu]' must be [id, id]", path, i);
            goto done;
        }
        for (int k = 0; k < 2; k++) {
            json_int_t id = json_integer_value(json_array_get(p, (size_t)k));
            bool is_byte = id >= CLAIMS_TOK_N_SPECIAL && id < CLAIMS_TOK_N_SPECIAL + CLAIMS_TOK_N_BYTES;
            bool is_merge = id >= merge_base && id < merge_base + (json_int_t)i;
            if (!is_byte && !is_merge) {
                st = tg_error(TG_ERR_FORMAT,
                              "claims_tok_load: %s: field 'merges.pairs[%zu]': id %lld is not a byte id [%d, %d) or an "
                              "earlier merge id [%d, %lld)",
                              path, i, (long long)id, CLAIMS_TOK_N_SPECIAL, CLAIMS_TOK_N_SPECIAL + CLAIMS_TOK_N_BYTES,
                              (int)merge_base, (long long)merge_base + (long long)i);
                goto done;
            }
            merges[i][k] = (int32_t)id;
        }
        uint64_t key = claims_tok_pair_key(merges[i][0], merges[i][1]);
        int32_t prev = claims_u64map_get(&seen_pairs, key);
        if (prev >= 0) {
            st =
                tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'merges.pairs[%zu]': duplicate of merges.pairs[%d]",
                         path, i, (int)prev);
            goto done;
        }
        if (!claims_u64map_put(&seen_pairs, key, (int32_t)i)) goto oom;
    }
    st = claims_tok_build(code_list, (int32_t)n_codes, (const int32_t(*)[2])merges, (int32_t)n_merges, out);
    goto done;
oom:
    st = tg_error(TG_ERR_OOM, "claims_tok_load: %s: out of memory", path);
done:
    free(code_list), free(merges);
    claims_strmap_free(&seen);
    claims_u64map_free(&seen_pairs);
    return st;
}

/* Validates a parsed root (borrowed) and builds the tokenizer; `what` names
 * the source in errors. */
static tg_status from_root(const char *what, json_t *root, claims_tokenizer **out)
{
    *out = NULL;
    if (!json_is_object(root)) return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: top level must be an object", what);
    return load_json(what, root, out);
}

tg_status claims_tok_load(const char *path, claims_tokenizer **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return tg_error(TG_ERR_IO, "claims_tok_load: cannot open '%s': %s", path, strerror(errno));
    json_error_t err;
    json_t *root = json_loadf(f, 0, &err);
    fclose(f);
    if (!root)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: bad JSON at line %d column %d: %s", path, err.line,
                        err.column, err.text);
    tg_status st = from_root(path, root, out);
    json_decref(root);
    return st;
}

tg_status claims_tok_from_json(const char *json, const char *what, claims_tokenizer **out)
{
    *out = NULL;
    json_error_t err;
    json_t *root = json_loads(json, 0, &err);
    if (!root)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: bad JSON at line %d column %d: %s", what, err.line,
                        err.column, err.text);
    tg_status st = from_root(what, root, out);
    json_decref(root);
    return st;
}

/* ------------------------------------------------------------ code lists -- */

void claims_code_list_free(char **codes, size_t n)
{
    if (!codes) return;
    for (size_t i = 0; i < n; i++) free(codes[i]);
    free(codes);
}

tg_status claims_code_list_read(const char *path, char ***codes, size_t *n)
{
    *codes = NULL, *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return tg_error(TG_ERR_IO, "claims_code_list_read: cannot open '%s': %s", path, strerror(errno));
    char *line = NULL, **list = NULL;
    size_t line_cap = 0, cap = 0, count = 0, lineno = 0;
    ssize_t got;
    tg_status st = TG_OK;
    while ((got = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        char *s = line, *e = line + got;
        while (s < e && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) s++;
        while (e > s && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r'))) e--;
        if (s == e || *s == '#') continue;
        *e = '\0';
        if (claims_code_match(s, (size_t)(e - s), 0, NULL) != (size_t)(e - s)) {
            st = tg_error(TG_ERR_FORMAT, "claims_code_list_read: %s:%zu: '%s' is not an ICD-10-CM, CPT or HCPCS code",
                          path, lineno, s);
            break;
        }
        char *dup = strdup(s);
        if (!dup || !claims_grow((void **)&list, &cap, count + 1, sizeof *list)) {
            free(dup);
            st = tg_error(TG_ERR_OOM, "claims_code_list_read: %s: out of memory at line %zu", path, lineno);
            break;
        }
        list[count++] = dup;
    }
    free(line);
    fclose(f);
    if (st != TG_OK) {
        claims_code_list_free(list, count);
        return st;
    }
    *codes = list, *n = count;
    return TG_OK;
}
