#include "models/claims/model/artifact.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/version.h"

char *claims_artifact_to_json(const claims_tokenizer *tok, const char *provider_stats_json, uint64_t codes_hash)
{
    char *tok_json = claims_tok_to_json(tok), hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, codes_hash);
    json_t *t = tok_json ? json_loads(tok_json, 0, NULL) : NULL;
    json_t *p = provider_stats_json ? json_loads(provider_stats_json, 0, NULL) : json_null();
    json_t *o = t && p ? json_pack("{s:i,s:s,s:o,s:o,s:s}", "version", CLAIMS_ARTIFACT_VERSION, "writer",
                                   "tensorgrad " TG_VERSION, "tokenizer", t, "provider_stats", p, "codes_hash", hash)
                       : NULL;
    if (!o) json_decref(t), json_decref(p);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    free(tok_json);
    if (!s) tg_error(TG_ERR_OOM, "claims_artifact_to_json: out of memory");
    return s;
}

/* A value of the artifact object as JSON text (malloc'd), or NULL. */
static char *dump(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

/* The tokenizer of a configuration without an artifact: its file next to
 * the checkpoint. */
static tg_status legacy(json_t *cfg, const char *what, const char *dir, claims_artifact *out)
{
    const char *name = json_string_value(json_object_get(cfg, "tokenizer"));
    if (!name || !*name)
        return tg_error(TG_ERR_FORMAT, "%s: incomplete model: no artifact and no tokenizer file named", what);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return tg_error(TG_ERR_IO, "%s: tokenizer path too long", what);
    return claims_tok_load(path, &out->tok);
}

static tg_status parse(json_t *a, const char *what, claims_artifact *out)
{
    json_int_t version = 0;
    const char *writer = "", *hash = "";
    json_t *tok, *stats;
    json_error_t err;
    if (json_unpack_ex(a, &err, 0, "{s:I,s?s,s:o,s:o,s:s}", "version", &version, "writer", &writer, "tokenizer", &tok,
                       "provider_stats", &stats, "codes_hash", &hash))
        return tg_error(TG_ERR_FORMAT, "%s: incomplete model artifact: %s", what, err.text);
    if (version != CLAIMS_ARTIFACT_VERSION)
        return tg_error(TG_ERR_FORMAT, "%s: model artifact version %lld, this build reads %d", what, (long long)version,
                        CLAIMS_ARTIFACT_VERSION);
    char *end;
    out->codes_hash = strtoull(hash, &end, 16);
    if (strlen(hash) != 16 || *end)
        return tg_error(TG_ERR_FORMAT, "%s: model artifact: 'codes_hash' must be 16 hex digits", what);
    snprintf(out->writer, sizeof out->writer, "%s", writer);
    char *text = dump(tok);
    tg_status st = text ? claims_tok_from_json(text, what, &out->tok) : TG_ERR_OOM;
    free(text);
    if (st != TG_OK || json_is_null(stats)) return st;
    text = dump(stats);
    st = text ? claims_provider_stats_from_json(text, what, &out->stats) : TG_ERR_OOM;
    free(text);
    out->has_stats = st == TG_OK;
    return st;
}

tg_status claims_artifact_from_config(const char *config, const char *what, const char *dir, claims_artifact *out)
{
    memset(out, 0, sizeof *out);
    json_error_t err;
    json_t *cfg = json_loads(config, 0, &err);
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return tg_error(TG_ERR_FORMAT, "%s: configuration is not a JSON object", what);
    }
    json_t *a = json_object_get(cfg, "artifact");
    tg_status st = a ? parse(a, what, out) : legacy(cfg, what, dir, out);
    json_decref(cfg);
    if (st != TG_OK) claims_artifact_free(out);
    return st;
}

void claims_artifact_free(claims_artifact *a)
{
    if (!a) return;
    claims_tok_free(a->tok);
    claims_provider_stats_free(&a->stats);
    memset(a, 0, sizeof *a);
}
