/* Encoding text to ids (with a per-word cache) and decoding ids to bytes. */
#include "models/claims/text/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

/* Word cache: word bytes -> ids stored in pool (value = offset * 128 + count). */
struct claims_tok_cache {
    claims_strmap words;
    int32_t *pool;
    size_t pool_len, pool_cap;
};

#define CACHE_MAX_WORDS (1u << 18)

claims_tok_cache *claims_tok_cache_create(void) { return calloc(1, sizeof(claims_tok_cache)); }

void claims_tok_cache_free(claims_tok_cache *cache)
{
    if (!cache) return;
    claims_strmap_free(&cache->words);
    free(cache->pool);
    free(cache);
}

/* BPE of one word (len <= CLAIMS_TOK_MAX_WORD) into sym; returns the count.
 * Applies the lowest-ranked (earliest learned) merge present, at every
 * occurrence left to right, until none applies: O(len^2) map lookups. */
static int32_t bpe_word(const claims_tokenizer *tok, const uint8_t *w, size_t len, int32_t *sym)
{
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++) sym[i] = CLAIMS_TOK_BYTE(w[i]);
    while (n > 1) {
        int32_t best = INT32_MAX, at = -1;
        for (int32_t i = 0; i + 1 < n; i++) {
            int32_t id = claims_u64map_get(&tok->merge_id, claims_tok_pair_key(sym[i], sym[i + 1]));
            if (id >= 0 && id < best) best = id, at = i;
        }
        if (at < 0) break;
        int32_t a = sym[at], b = sym[at + 1], o = 0;
        for (int32_t i = 0; i < n;) {
            if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
                sym[o++] = best;
                i += 2;
            } else {
                sym[o++] = sym[i++];
            }
        }
        n = o;
    }
    return n;
}

typedef struct idbuf {
    int32_t *ids;
    size_t n, cap;
} idbuf;

static bool idbuf_push(idbuf *b, const int32_t *ids, size_t n)
{
    if (!claims_grow((void **)&b->ids, &b->cap, b->n + n, sizeof *b->ids)) return false;
    memcpy(b->ids + b->n, ids, n * sizeof *ids);
    b->n += n;
    return true;
}

/* Appends the ids of one word, through the cache when there is one. */
static bool encode_word(const claims_tokenizer *tok, claims_tok_cache *cache, const uint8_t *w, size_t len, idbuf *out)
{
    int32_t sym[CLAIMS_TOK_MAX_WORD];
    if (!cache) return idbuf_push(out, sym, (size_t)bpe_word(tok, w, len, sym));
    int64_t e = claims_strmap_get(&cache->words, w, len);
    if (e >= 0) {
        int64_t v = cache->words.val[e];
        return idbuf_push(out, cache->pool + v / 128, (size_t)(v % 128));
    }
    int32_t n = bpe_word(tok, w, len, sym);
    if (cache->words.n >= CACHE_MAX_WORDS) {
        claims_strmap_clear(&cache->words);
        cache->pool_len = 0;
    }
    if (!claims_grow((void **)&cache->pool, &cache->pool_cap, cache->pool_len + (size_t)n, sizeof *cache->pool))
        return false;
    e = claims_strmap_add(&cache->words, w, len, (int64_t)cache->pool_len * 128 + n, NULL);
    if (e < 0) return false;
    memcpy(cache->pool + cache->pool_len, sym, (size_t)n * sizeof *sym);
    cache->pool_len += (size_t)n;
    return idbuf_push(out, sym, (size_t)n);
}

tg_status claims_tok_encode(const claims_tokenizer *tok, const char *text, size_t len, const claims_encode_opts *opts,
                            int32_t **ids, size_t *n_ids)
{
    static const claims_encode_opts defaults = {0};
    if (!opts) opts = &defaults;
    const uint8_t *s = (const uint8_t *)text;
    idbuf out = {0};
    *ids = NULL, *n_ids = 0;
    for (size_t pos = 0; pos < len;) {
        seg g = claims_tok_next_seg(s, len, pos);
        bool ok = true;
        if (g.special >= 0) {
            ok = idbuf_push(&out, &g.special, 1);
            if (opts->stats) opts->stats->placeholders++;
        } else if (g.kind != CLAIMS_CODE_NONE) {
            int64_t e = claims_strmap_get(&tok->code_id, s + pos, g.len);
            if (e >= 0) {
                int32_t id = tok->code_base + (int32_t)e;
                ok = idbuf_push(&out, &id, 1);
                if (opts->stats) opts->stats->codes++;
            } else if (opts->unk_code == CLAIMS_UNK_CODE_ERROR) {
                free(out.ids);
                return tg_error(TG_ERR_INVALID, "claims_tok_encode: %s code '%.*s' at byte %zu has no token",
                                claims_code_kind_name(g.kind), (int)g.len, text + pos, pos);
            } else {
                int32_t sp[1 + 16];
                sp[0] = CLAIMS_TOK_UNK_ICD10CM + (int32_t)(g.kind - CLAIMS_CODE_ICD10CM);
                for (size_t i = 0; i < g.len; i++) sp[1 + i] = CLAIMS_TOK_BYTE(s[pos + i]);
                ok = idbuf_push(&out, sp, 1 + g.len);
                if (opts->stats) opts->stats->unknown_codes[g.kind]++;
            }
        } else {
            ok = encode_word(tok, opts->cache, s + pos, g.len, &out);
        }
        if (!ok) {
            free(out.ids);
            return tg_error(TG_ERR_OOM, "claims_tok_encode: out of memory encoding %zu bytes", len);
        }
        pos += g.len;
    }
    *ids = out.ids, *n_ids = out.n;
    return TG_OK;
}

/* Bytes id decodes to: placeholders their literal, other specials nothing. */
static size_t decoded_len(const claims_tokenizer *tok, int32_t id)
{
    if (id < CLAIMS_TOK_N_SPECIAL && (id < FIRST_PLACEHOLDER || id > LAST_PLACEHOLDER)) return 0;
    return (size_t)tok->tok_len[id];
}

tg_status claims_tok_decode(const claims_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len)
{
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->vocab)
            return tg_error(TG_ERR_INVALID, "claims_tok_decode: ids[%zu] = %d outside [0, %d)", i, (int)ids[i],
                            (int)tok->vocab);
        total += decoded_len(tok, ids[i]);
    }
    char *buf = malloc(total + 1), *p = buf;
    if (!buf) return tg_error(TG_ERR_OOM, "claims_tok_decode: out of memory for %zu bytes", total);
    for (size_t i = 0; i < n_ids; i++) {
        size_t l = decoded_len(tok, ids[i]);
        memcpy(p, tok->blob + tok->tok_off[ids[i]], l);
        p += l;
    }
    *p = '\0';
    *text = buf;
    if (len) *len = total;
    return TG_OK;
}
