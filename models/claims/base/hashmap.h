/* Open-addressing hash maps shared by the claims package: byte-string keys
 * (copied into the map) to int64 values, and uint64 keys to int32 values;
 * plus the array-growth helper both use. Linear probing, power-of-two
 * tables kept at most half full. */
#ifndef CLAIMS_HASHMAP_H
#define CLAIMS_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Grows *p (elements of elem bytes, *cap of them) to hold need; doubling.
 * False on OOM or when the size would overflow (*p is kept). */
bool claims_grow(void **p, size_t *cap, size_t need, size_t elem);

/* FNV-1a of n bytes, with a final mix. */
uint64_t claims_hash_bytes(const void *p, size_t n);

/* Byte-string keys (copied into the map) to int64 values; entries keep their
 * insertion index. */
typedef struct claims_strmap {
    int32_t *slot; /* entry index, -1 empty; size cap (power of 2) */
    size_t cap;
    size_t n, ent_cap;
    size_t *off;
    uint32_t *klen;
    uint64_t *hash;
    int64_t *val;
    char *blob;
    size_t blob_len, blob_cap;
} claims_strmap;

void claims_strmap_free(claims_strmap *m);
/* Removes every entry (keeps the memory). */
void claims_strmap_clear(claims_strmap *m);
/* The key of entry e (NUL-terminated). */
const char *claims_strmap_key(const claims_strmap *m, size_t e);
/* Entry index of key k, or -1. */
int64_t claims_strmap_get(const claims_strmap *m, const void *k, size_t len);
/* Entry index of key k, adding it with value init when absent (*added, may
 * be NULL, says which); -1 on OOM. */
int64_t claims_strmap_add(claims_strmap *m, const void *k, size_t len, int64_t init, bool *added);

#define CLAIMS_U64MAP_EMPTY UINT64_MAX

/* uint64 keys (never UINT64_MAX) to int32 values. */
typedef struct claims_u64map {
    uint64_t *key;
    int32_t *val;
    size_t cap, n;
} claims_u64map;

void claims_u64map_free(claims_u64map *m);
/* The value of k, or -1. */
int32_t claims_u64map_get(const claims_u64map *m, uint64_t k);
/* Sets k to v; false on OOM. */
bool claims_u64map_put(claims_u64map *m, uint64_t k, int32_t v);

#endif
