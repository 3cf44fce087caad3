#include "models/claims/base/hashmap.h"

#include <stdlib.h>
#include <string.h>

bool claims_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    if (need > SIZE_MAX / 2 / (elem ? elem : 1)) return false;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

uint64_t claims_hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void claims_strmap_free(claims_strmap *m)
{
    free(m->slot), free(m->off), free(m->klen), free(m->hash), free(m->val), free(m->blob);
    memset(m, 0, sizeof *m);
}

void claims_strmap_clear(claims_strmap *m)
{
    if (m->slot) memset(m->slot, 0xff, m->cap * sizeof *m->slot);
    m->n = 0;
    m->blob_len = 0;
}

const char *claims_strmap_key(const claims_strmap *m, size_t e) { return m->blob + m->off[e]; }

int64_t claims_strmap_get(const claims_strmap *m, const void *k, size_t len)
{
    if (!m->cap) return -1;
    uint64_t h = claims_hash_bytes(k, len);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int32_t e = m->slot[i];
        if (e < 0) return -1;
        if (m->hash[e] == h && m->klen[e] == len && !memcmp(m->blob + m->off[e], k, len)) return e;
    }
}

static bool rehash(claims_strmap *m, size_t cap)
{
    int32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return false;
    memset(slot, 0xff, cap * sizeof *slot);
    for (size_t e = 0; e < m->n; e++) {
        size_t i = m->hash[e] & (cap - 1);
        while (slot[i] >= 0) i = (i + 1) & (cap - 1);
        slot[i] = (int32_t)e;
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    return true;
}

int64_t claims_strmap_add(claims_strmap *m, const void *k, size_t len, int64_t init, bool *added)
{
    int64_t e = claims_strmap_get(m, k, len);
    if (added) *added = e < 0;
    if (e >= 0) return e;
    if ((m->n + 1) * 2 > m->cap && !rehash(m, m->cap ? m->cap * 2 : 64)) return -1;
    size_t c = m->ent_cap;
    if (!claims_grow((void **)&m->off, &c, m->n + 1, sizeof *m->off)) return -1;
    c = m->ent_cap;
    if (!claims_grow((void **)&m->klen, &c, m->n + 1, sizeof *m->klen)) return -1;
    c = m->ent_cap;
    if (!claims_grow((void **)&m->hash, &c, m->n + 1, sizeof *m->hash)) return -1;
    c = m->ent_cap;
    if (!claims_grow((void **)&m->val, &c, m->n + 1, sizeof *m->val)) return -1;
    m->ent_cap = c;
    if (!claims_grow((void **)&m->blob, &m->blob_cap, m->blob_len + len + 1, 1)) return -1;
    e = (int64_t)m->n++;
    m->off[e] = m->blob_len;
    memcpy(m->blob + m->blob_len, k, len);
    m->blob[m->blob_len + len] = '\0';
    m->blob_len += len + 1;
    m->klen[e] = (uint32_t)len;
    m->hash[e] = claims_hash_bytes(k, len);
    m->val[e] = init;
    size_t i = m->hash[e] & (m->cap - 1);
    while (m->slot[i] >= 0) i = (i + 1) & (m->cap - 1);
    m->slot[i] = (int32_t)e;
    return e;
}

void claims_u64map_free(claims_u64map *m)
{
    free(m->key), free(m->val);
    memset(m, 0, sizeof *m);
}

int32_t claims_u64map_get(const claims_u64map *m, uint64_t k)
{
    if (!m->cap) return -1;
    for (size_t i = hash_u64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->key[i] == k) return m->val[i];
        if (m->key[i] == CLAIMS_U64MAP_EMPTY) return -1;
    }
}

bool claims_u64map_put(claims_u64map *m, uint64_t k, int32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *key = malloc(cap * sizeof *key);
        int32_t *val = malloc(cap * sizeof *val);
        if (!key || !val) {
            free(key), free(val);
            return false;
        }
        memset(key, 0xff, cap * sizeof *key);
        for (size_t j = 0; j < m->cap; j++) {
            if (m->key[j] == CLAIMS_U64MAP_EMPTY) continue;
            size_t i = hash_u64(m->key[j]) & (cap - 1);
            while (key[i] != CLAIMS_U64MAP_EMPTY) i = (i + 1) & (cap - 1);
            key[i] = m->key[j], val[i] = m->val[j];
        }
        free(m->key), free(m->val);
        m->key = key, m->val = val, m->cap = cap;
    }
    size_t i = hash_u64(k) & (m->cap - 1);
    while (m->key[i] != CLAIMS_U64MAP_EMPTY && m->key[i] != k) i = (i + 1) & (m->cap - 1);
    if (m->key[i] == CLAIMS_U64MAP_EMPTY) m->n++;
    m->key[i] = k, m->val[i] = v;
    return true;
}
