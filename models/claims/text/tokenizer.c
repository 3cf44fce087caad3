/* Byte-level BPE with atomic medical codes: pattern matching, pre-tokenization,
 * hash maps, training, encode/decode, and the JSON file format. */
#include "models/claims/text/tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const special_names[CLAIMS_TOK_N_SPECIAL] = {
    "<PAD>",     "<BOS>",  "<EOS>",   "<SEP>",     "<CLS>",
    "<NAME>",    "<MEMBER_ID>", "<DOB>", "<PHONE>", "<ADDRESS>",
    "<DATE>",    "<ID>",   "<UNK_CODE:ICD10CM>", "<UNK_CODE:CPT>", "<UNK_CODE:HCPCS>"};

#define FIRST_PLACEHOLDER CLAIMS_TOK_NAME
#define LAST_PLACEHOLDER CLAIMS_TOK_ID
#define N_BYTES 256

/* ------------------------------------------------------ pre-tokenization -- */

enum { CL_LETTER, CL_DIGIT, CL_SPACE, CL_OTHER };

static int char_class(uint8_t c)
{
    if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CL_LETTER;
    if (c >= '0' && c <= '9') return CL_DIGIT;
    if (c == ' ' || (c >= '\t' && c <= '\r')) return CL_SPACE;
    return CL_OTHER;
}

/* Placeholder id whose literal starts at pos, or -1. */
static int32_t placeholder_at(const uint8_t *s, size_t len, size_t pos, size_t *n)
{
    if (s[pos] != '<') return -1;
    for (int32_t id = FIRST_PLACEHOLDER; id <= LAST_PLACEHOLDER; id++) {
        size_t l = strlen(special_names[id]);
        if (pos + l <= len && !memcmp(s + pos, special_names[id], l)) {
            *n = l;
            return id;
        }
    }
    return -1;
}

/* One pre-tokenization segment: a placeholder (special >= 0), a code
 * (kind != NONE) or a word. */
typedef struct seg {
    size_t len;
    int32_t special;
    claims_code_kind kind;
} seg;

static bool atom_at(const uint8_t *s, size_t len, size_t pos, seg *g)
{
    size_t n = 0;
    claims_code_kind kind = CLAIMS_CODE_NONE;
    int32_t sp = placeholder_at(s, len, pos, &n);
    if (sp < 0) n = claims_code_match((const char *)s, len, pos, &kind);
    if (!n) return false;
    if (g) *g = (seg){.len = n, .special = sp, .kind = kind};
    return true;
}

/* The segment starting at pos < len. Segments tile the text exactly. */
static seg next_seg(const uint8_t *s, size_t len, size_t pos)
{
    seg g = {0, -1, CLAIMS_CODE_NONE};
    if (atom_at(s, len, pos, &g)) return g;
    size_t i = pos;
    if (s[i] == ' ' && i + 1 < len && char_class(s[i + 1]) != CL_SPACE && !atom_at(s, len, i + 1, NULL))
        i++; /* the space travels with the word after it */
    int cl = char_class(s[i]);
    size_t end = i + 1, lim = pos + CLAIMS_TOK_MAX_WORD;
    size_t dummy;
    while (end < len && end < lim && char_class(s[end]) == cl &&
           !(cl == CL_OTHER && placeholder_at(s, len, end, &dummy) >= 0))
        end++;
    /* "  word": the last space of a run goes to the word after it */
    if (cl == CL_SPACE && end < len && end - pos >= 2 && s[end - 1] == ' ' &&
        char_class(s[end]) != CL_SPACE && !atom_at(s, len, end, NULL))
        end--;
    g.len = end - pos;
    return g;
}

/* ------------------------------------------------------------ hash maps -- */

static uint64_t hash_bytes(const void *p, size_t n)
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

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* Byte-string keys (copied into the map) to int64 values; entries keep their
 * insertion index. */
typedef struct strmap {
    int32_t *slot;                 /* entry index, -1 empty; size cap (power of 2) */
    size_t cap;
    size_t n, ent_cap;
    size_t *off;
    uint32_t *klen;
    uint64_t *hash;
    int64_t *val;
    char *blob;
    size_t blob_len, blob_cap;
} strmap;

static void strmap_free(strmap *m)
{
    free(m->slot), free(m->off), free(m->klen), free(m->hash), free(m->val), free(m->blob);
    memset(m, 0, sizeof *m);
}

static void strmap_clear(strmap *m)
{
    if (m->slot) memset(m->slot, 0xff, m->cap * sizeof *m->slot);
    m->n = 0;
    m->blob_len = 0;
}

static const char *strmap_key(const strmap *m, size_t e) { return m->blob + m->off[e]; }

/* Entry index of key k, or -1. */
static int64_t strmap_get(const strmap *m, const void *k, size_t len)
{
    if (!m->cap) return -1;
    uint64_t h = hash_bytes(k, len);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int32_t e = m->slot[i];
        if (e < 0) return -1;
        if (m->hash[e] == h && m->klen[e] == len && !memcmp(m->blob + m->off[e], k, len)) return e;
    }
}

static bool strmap_rehash(strmap *m, size_t cap)
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

/* Entry index of key k, adding it with value init when absent (*added says
 * which); -1 on OOM. */
static int64_t strmap_add(strmap *m, const void *k, size_t len, int64_t init, bool *added)
{
    int64_t e = strmap_get(m, k, len);
    if (added) *added = e < 0;
    if (e >= 0) return e;
    if ((m->n + 1) * 2 > m->cap && !strmap_rehash(m, m->cap ? m->cap * 2 : 64)) return -1;
    size_t c = m->ent_cap;
    if (!grow((void **)&m->off, &c, m->n + 1, sizeof *m->off)) return -1;
    c = m->ent_cap;
    if (!grow((void **)&m->klen, &c, m->n + 1, sizeof *m->klen)) return -1;
    c = m->ent_cap;
    if (!grow((void **)&m->hash, &c, m->n + 1, sizeof *m->hash)) return -1;
    c = m->ent_cap;
    if (!grow((void **)&m->val, &c, m->n + 1, sizeof *m->val)) return -1;
    m->ent_cap = c;
    if (!grow((void **)&m->blob, &m->blob_cap, m->blob_len + len + 1, 1)) return -1;
    e = (int64_t)m->n++;
    m->off[e] = m->blob_len;
    memcpy(m->blob + m->blob_len, k, len);
    m->blob[m->blob_len + len] = '\0';
    m->blob_len += len + 1;
    m->klen[e] = (uint32_t)len;
    m->hash[e] = hash_bytes(k, len);
    m->val[e] = init;
    size_t i = m->hash[e] & (m->cap - 1);
    while (m->slot[i] >= 0) i = (i + 1) & (m->cap - 1);
    m->slot[i] = (int32_t)e;
    return e;
}

/* uint64 keys (never UINT64_MAX) to int32 values. */
typedef struct u64map {
    uint64_t *key;
    int32_t *val;
    size_t cap, n;
} u64map;

#define U64_EMPTY UINT64_MAX

static void u64map_free(u64map *m)
{
    free(m->key), free(m->val);
    memset(m, 0, sizeof *m);
}

static int32_t u64map_get(const u64map *m, uint64_t k)
{
    if (!m->cap) return -1;
    for (size_t i = hash_u64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->key[i] == k) return m->val[i];
        if (m->key[i] == U64_EMPTY) return -1;
    }
}

static bool u64map_put(u64map *m, uint64_t k, int32_t v)
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
            if (m->key[j] == U64_EMPTY) continue;
            size_t i = hash_u64(m->key[j]) & (cap - 1);
            while (key[i] != U64_EMPTY) i = (i + 1) & (cap - 1);
            key[i] = m->key[j], val[i] = m->val[j];
        }
        free(m->key), free(m->val);
        m->key = key, m->val = val, m->cap = cap;
    }
    size_t i = hash_u64(k) & (m->cap - 1);
    while (m->key[i] != U64_EMPTY && m->key[i] != k) i = (i + 1) & (m->cap - 1);
    if (m->key[i] == U64_EMPTY) m->n++;
    m->key[i] = k, m->val[i] = v;
    return true;
}

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

/* ------------------------------------------------------------ tokenizer -- */

struct claims_tokenizer {
    int32_t vocab, n_codes, n_merges;
    int32_t code_base, merge_base;
    char *blob;           /* bytes of every token, each NUL-terminated */
    size_t *tok_off;      /* (vocab) */
    int32_t *tok_len;     /* (vocab) */
    uint8_t *code_kind;   /* (n_codes) */
    int32_t (*merges)[2]; /* (n_merges) */
    u64map merge_id;      /* pair -> id of the merged token (rank = id order) */
    strmap code_id;       /* code -> entry e, id = code_base + e */
};

void claims_tok_free(claims_tokenizer *tok)
{
    if (!tok) return;
    free(tok->blob), free(tok->tok_off), free(tok->tok_len), free(tok->code_kind), free(tok->merges);
    u64map_free(&tok->merge_id);
    strmap_free(&tok->code_id);
    free(tok);
}

/* Builds a tokenizer from validated codes (distinct, each a code) and merges
 * (each referencing byte or earlier merge ids, distinct). Takes no ownership. */
static tg_status tok_build(const char *const *codes, int32_t n_codes, const int32_t (*merges)[2],
                           int32_t n_merges, claims_tokenizer **out)
{
    claims_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return tg_error(TG_ERR_OOM, "claims_tokenizer: out of memory");
    t->n_codes = n_codes, t->n_merges = n_merges;
    t->code_base = CLAIMS_TOK_N_SPECIAL + N_BYTES;
    t->merge_base = t->code_base + n_codes;
    t->vocab = t->merge_base + n_merges;
    t->tok_off = malloc((size_t)t->vocab * sizeof *t->tok_off);
    t->tok_len = malloc((size_t)t->vocab * sizeof *t->tok_len);
    t->code_kind = malloc((size_t)n_codes + 1);
    t->merges = malloc(((size_t)n_merges + 1) * sizeof *t->merges);
    size_t cap = 0, used = 0;
    if (!t->tok_off || !t->tok_len || !t->code_kind || !t->merges) goto oom;
    if (n_merges) memcpy(t->merges, merges, (size_t)n_merges * sizeof *merges);
    for (int32_t id = 0; id < t->vocab; id++) {
        const char *src = NULL;
        size_t len;
        char byte;
        if (id < CLAIMS_TOK_N_SPECIAL) {
            src = special_names[id], len = strlen(src);
        } else if (id < t->code_base) {
            byte = (char)(id - CLAIMS_TOK_N_SPECIAL), src = &byte, len = 1;
        } else if (id < t->merge_base) {
            src = codes[id - t->code_base], len = strlen(src);
        } else {
            const int32_t *m = t->merges[id - t->merge_base];
            len = (size_t)t->tok_len[m[0]] + (size_t)t->tok_len[m[1]];
        }
        if (!grow((void **)&t->blob, &cap, used + len + 1, 1)) goto oom;
        if (src) {
            memcpy(t->blob + used, src, len);
        } else {
            const int32_t *m = t->merges[id - t->merge_base];
            memcpy(t->blob + used, t->blob + t->tok_off[m[0]], (size_t)t->tok_len[m[0]]);
            memcpy(t->blob + used + t->tok_len[m[0]], t->blob + t->tok_off[m[1]], (size_t)t->tok_len[m[1]]);
        }
        t->blob[used + len] = '\0';
        t->tok_off[id] = used, t->tok_len[id] = (int32_t)len;
        used += len + 1;
    }
    for (int32_t i = 0; i < n_codes; i++) {
        claims_code_kind k;
        size_t l = strlen(codes[i]);
        TG_ASSERT(claims_code_match(codes[i], l, 0, &k) == l, "codes are validated before tok_build");
        t->code_kind[i] = (uint8_t)k;
        if (strmap_add(&t->code_id, codes[i], l, i, NULL) < 0) goto oom;
    }
    for (int32_t i = 0; i < n_merges; i++)
        if (!u64map_put(&t->merge_id, pair_key(merges[i][0], merges[i][1]), t->merge_base + i)) goto oom;
    *out = t;
    return TG_OK;
oom:
    claims_tok_free(t);
    return tg_error(TG_ERR_OOM, "claims_tokenizer: out of memory building a vocabulary of %d ids",
                    (int)(CLAIMS_TOK_N_SPECIAL + N_BYTES + n_codes + n_merges));
}

int32_t claims_tok_vocab_size(const claims_tokenizer *tok) { return tok->vocab; }
int32_t claims_tok_n_codes(const claims_tokenizer *tok) { return tok->n_codes; }
int32_t claims_tok_n_merges(const claims_tokenizer *tok) { return tok->n_merges; }

const char *claims_tok_token(const claims_tokenizer *tok, int32_t id, size_t *len)
{
    if (id < 0 || id >= tok->vocab) {
        tg_error(TG_ERR_INVALID, "claims_tok_token: id %d outside [0, %d)", (int)id, (int)tok->vocab);
        return NULL;
    }
    if (len) *len = (size_t)tok->tok_len[id];
    return tok->blob + tok->tok_off[id];
}

bool claims_tok_is_code(const claims_tokenizer *tok, int32_t id)
{
    return id >= tok->code_base && id < tok->merge_base;
}

claims_code_kind claims_tok_code_kind(const claims_tokenizer *tok, int32_t id)
{
    if (claims_tok_is_code(tok, id)) return (claims_code_kind)tok->code_kind[id - tok->code_base];
    if (id >= CLAIMS_TOK_UNK_ICD10CM && id <= CLAIMS_TOK_UNK_HCPCS)
        return (claims_code_kind)(CLAIMS_CODE_ICD10CM + (id - CLAIMS_TOK_UNK_ICD10CM));
    return CLAIMS_CODE_NONE;
}

int32_t claims_tok_code_id(const claims_tokenizer *tok, const char *code)
{
    int64_t e = strmap_get(&tok->code_id, code, strlen(code));
    return e < 0 ? -1 : tok->code_base + (int32_t)e;
}

/* ------------------------------------------------------------- training -- */

/* A pair of adjacent symbols: its weighted count and the words that may hold
 * it (appended when the pair appears in a word; may hold stale entries). */
typedef struct pair_ent {
    int64_t count;
    int32_t *words;
    int32_t n_words, cap_words;
} pair_ent;

typedef struct heap_ent {
    int64_t count;
    uint64_t key;
} heap_ent;

typedef struct trainer {
    /* unique words: symbols (initially byte ids) shrinking in place */
    int32_t *sym;
    size_t *word_off;
    int32_t *word_len;
    int64_t *word_count;
    size_t n_words;
    u64map pair_idx; /* pair key -> index in pairs */
    pair_ent *pairs;
    size_t n_pairs, pairs_cap;
    heap_ent *heap;
    size_t heap_n, heap_cap;
} trainer;

static bool heap_before(heap_ent a, heap_ent b)
{
    return a.count > b.count || (a.count == b.count && a.key < b.key);
}

static bool heap_push(trainer *tr, int64_t count, uint64_t key)
{
    if (!grow((void **)&tr->heap, &tr->heap_cap, tr->heap_n + 1, sizeof *tr->heap)) return false;
    size_t i = tr->heap_n++;
    heap_ent e = {count, key};
    while (i > 0 && heap_before(e, tr->heap[(i - 1) / 2])) {
        tr->heap[i] = tr->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tr->heap[i] = e;
    return true;
}

static heap_ent heap_pop(trainer *tr)
{
    heap_ent top = tr->heap[0], last = tr->heap[--tr->heap_n];
    size_t i = 0, n = tr->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(tr->heap[c + 1], tr->heap[c])) c++;
        if (!heap_before(tr->heap[c], last)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n) tr->heap[i] = last;
    return top;
}

/* Adds delta to the count of pair (a, b) seen in word w; increases are
 * pushed on the heap (decreases are found lazily when popped). */
static bool pair_add(trainer *tr, int32_t a, int32_t b, int64_t delta, int32_t w)
{
    uint64_t k = pair_key(a, b);
    int32_t idx = u64map_get(&tr->pair_idx, k);
    if (idx < 0) {
        TG_ASSERT(delta > 0, "a pair is decremented only where it was counted");
        if (!grow((void **)&tr->pairs, &tr->pairs_cap, tr->n_pairs + 1, sizeof *tr->pairs)) return false;
        idx = (int32_t)tr->n_pairs++;
        tr->pairs[idx] = (pair_ent){0};
        if (!u64map_put(&tr->pair_idx, k, idx)) return false;
    }
    pair_ent *p = &tr->pairs[idx];
    p->count += delta;
    TG_ASSERT(p->count >= 0, "pair counts never go negative");
    if (delta <= 0) return true;
    if (!p->n_words || p->words[p->n_words - 1] != w) {
        size_t cap = (size_t)p->cap_words;
        if (!grow((void **)&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words)) return false;
        p->cap_words = (int32_t)cap;
        p->words[p->n_words++] = w;
    }
    return heap_push(tr, p->count, k);
}

/* Replaces every (a, b) in word w by x, updating the neighbouring pairs. */
static bool merge_word(trainer *tr, int32_t w, int32_t a, int32_t b, int32_t x)
{
    int32_t *s = tr->sym + tr->word_off[w];
    int32_t len = tr->word_len[w], o = 0;
    int64_t c = tr->word_count[w];
    for (int32_t i = 0; i < len;) {
        if (i + 1 < len && s[i] == a && s[i + 1] == b) {
            if (o > 0 && (!pair_add(tr, s[o - 1], a, -c, w) || !pair_add(tr, s[o - 1], x, c, w)))
                return false;
            if (i + 2 < len && (!pair_add(tr, b, s[i + 2], -c, w) || !pair_add(tr, x, s[i + 2], c, w)))
                return false;
            if (!pair_add(tr, a, b, -c, w)) return false;
            s[o++] = x;
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    tr->word_len[w] = o;
    return true;
}

static void trainer_free(trainer *tr)
{
    for (size_t i = 0; i < tr->n_pairs; i++) free(tr->pairs[i].words);
    free(tr->pairs), free(tr->heap), free(tr->sym), free(tr->word_off), free(tr->word_len),
        free(tr->word_count);
    u64map_free(&tr->pair_idx);
}

/* Learns up to max_merges merges from the unique words in `words` (values are
 * counts); appends them to *merges (capacity max_merges). */
static tg_status learn_merges(const strmap *words, int32_t max_merges, int64_t min_pair_freq,
                              int32_t first_id, int32_t (*merges)[2], int32_t *n_merges)
{
    trainer tr = {0};
    tg_status st = TG_OK;
    *n_merges = 0;
    tr.n_words = words->n;
    tr.sym = malloc((words->blob_len + 1) * sizeof *tr.sym);
    tr.word_off = malloc((words->n + 1) * sizeof *tr.word_off);
    tr.word_len = malloc((words->n + 1) * sizeof *tr.word_len);
    tr.word_count = malloc((words->n + 1) * sizeof *tr.word_count);
    if (!tr.sym || !tr.word_off || !tr.word_len || !tr.word_count) goto oom;
    size_t used = 0;
    for (size_t w = 0; w < words->n; w++) {
        const uint8_t *k = (const uint8_t *)strmap_key(words, w);
        tr.word_off[w] = used, tr.word_len[w] = (int32_t)words->klen[w], tr.word_count[w] = words->val[w];
        for (uint32_t i = 0; i < words->klen[w]; i++) tr.sym[used++] = CLAIMS_TOK_BYTE(k[i]);
        for (uint32_t i = 0; i + 1 < words->klen[w]; i++) {
            int32_t *s = tr.sym + tr.word_off[w];
            if (!pair_add(&tr, s[i], s[i + 1], words->val[w], (int32_t)w)) goto oom;
        }
    }
    while (*n_merges < max_merges && tr.heap_n) {
        heap_ent top = heap_pop(&tr);
        pair_ent *p = &tr.pairs[u64map_get(&tr.pair_idx, top.key)];
        if (p->count != top.count) {
            /* stale: re-queue a decreased count (increases were pushed) */
            if (p->count < top.count && p->count > 0 && !heap_push(&tr, p->count, top.key)) goto oom;
            continue;
        }
        if (top.count < min_pair_freq) break;
        int32_t a = (int32_t)(top.key >> 32), b = (int32_t)(top.key & 0xffffffffu);
        int32_t x = first_id + *n_merges;
        merges[*n_merges][0] = a, merges[*n_merges][1] = b;
        ++*n_merges;
        /* new pairs never equal (a, b), so its word list stays put */
        int32_t n_w = p->n_words, *ws = p->words;
        p->words = NULL, p->n_words = p->cap_words = 0;
        for (int32_t i = 0; i < n_w; i++)
            if (!merge_word(&tr, ws[i], a, b, x)) {
                free(ws);
                goto oom;
            }
        free(ws);
        p = &tr.pairs[u64map_get(&tr.pair_idx, top.key)];
        TG_ASSERT(p->count == 0, "every occurrence of the merged pair is listed with its words");
    }
    trainer_free(&tr);
    return st;
oom:
    trainer_free(&tr);
    return tg_error(TG_ERR_OOM, "claims_tok_train: out of memory learning merges from %zu words",
                    words->n);
}

static int cmp_code(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    claims_code_kind ka, kb;
    claims_code_match(a, strlen(a), 0, &ka);
    claims_code_match(b, strlen(b), 0, &kb);
    if (ka != kb) return ka < kb ? -1 : 1;
    return strcmp(a, b);
}

tg_status claims_tok_train(const char *const *texts, const size_t *lens, size_t n_texts,
                           const claims_tok_train_opts *opts, claims_tokenizer **out)
{
    *out = NULL;
    int64_t min_code = opts->min_code_freq > 0 ? opts->min_code_freq : 1;
    int64_t min_pair = opts->min_pair_freq > 0 ? opts->min_pair_freq : 2;
    strmap words = {0}, codes = {0};
    const char **code_list = NULL;
    int32_t (*merges)[2] = NULL;
    tg_status st = TG_OK;
    for (size_t i = 0; i < opts->n_codes; i++) {
        const char *c = opts->codes[i];
        size_t l = strlen(c);
        if (claims_code_match(c, l, 0, NULL) != l) {
            st = tg_error(TG_ERR_INVALID,
                          "claims_tok_train: codes[%zu] '%s' is not an ICD-10-CM, CPT or HCPCS code",
                          i, c);
            goto done;
        }
        if (strmap_add(&codes, c, l, INT64_MAX / 2, NULL) < 0) goto oom;
    }
    /* pre-tokenize: count unique words and the codes seen in the text */
    for (size_t t = 0; t < n_texts; t++) {
        const uint8_t *s = (const uint8_t *)texts[t];
        size_t len = lens ? lens[t] : strlen(texts[t]);
        for (size_t pos = 0; pos < len;) {
            seg g = next_seg(s, len, pos);
            if (g.special < 0) {
                strmap *m = g.kind != CLAIMS_CODE_NONE ? &codes : &words;
                int64_t e = strmap_add(m, s + pos, g.len, 0, NULL);
                if (e < 0) goto oom;
                m->val[e]++;
            }
            pos += g.len;
        }
    }
    code_list = malloc((codes.n + 1) * sizeof *code_list);
    if (!code_list) goto oom;
    size_t n_codes = 0;
    for (size_t e = 0; e < codes.n; e++)
        if (codes.val[e] >= min_code) code_list[n_codes++] = strmap_key(&codes, e);
    qsort(code_list, n_codes, sizeof *code_list, cmp_code);
    int64_t base = CLAIMS_TOK_N_SPECIAL + N_BYTES + (int64_t)n_codes;
    if (opts->vocab_size < base) {
        st = tg_error(TG_ERR_INVALID,
                      "claims_tok_train: vocab_size %d is below %d specials + %d bytes + %zu codes = %lld",
                      (int)opts->vocab_size, CLAIMS_TOK_N_SPECIAL, N_BYTES, n_codes, (long long)base);
        goto done;
    }
    int32_t max_merges = (int32_t)(opts->vocab_size - base), n_merges = 0;
    merges = malloc(((size_t)max_merges + 1) * sizeof *merges);
    if (!merges) goto oom;
    st = learn_merges(&words, max_merges, min_pair, (int32_t)base, merges, &n_merges);
    if (st == TG_OK) st = tok_build(code_list, (int32_t)n_codes, (const int32_t(*)[2])merges, n_merges, out);
    goto done;
oom:
    st = tg_error(TG_ERR_OOM, "claims_tok_train: out of memory counting words of %zu texts", n_texts);
done:
    free(merges);
    free(code_list);
    strmap_free(&words);
    strmap_free(&codes);
    return st;
}

/* ------------------------------------------------------- encode/decode -- */

/* Word cache: word bytes -> ids stored in pool (value = offset * 128 + count). */
struct claims_tok_cache {
    strmap words;
    int32_t *pool;
    size_t pool_len, pool_cap;
};

#define CACHE_MAX_WORDS (1u << 18)

claims_tok_cache *claims_tok_cache_create(void) { return calloc(1, sizeof(claims_tok_cache)); }

void claims_tok_cache_free(claims_tok_cache *cache)
{
    if (!cache) return;
    strmap_free(&cache->words);
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
            int32_t id = u64map_get(&tok->merge_id, pair_key(sym[i], sym[i + 1]));
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
    if (!grow((void **)&b->ids, &b->cap, b->n + n, sizeof *b->ids)) return false;
    memcpy(b->ids + b->n, ids, n * sizeof *ids);
    b->n += n;
    return true;
}

/* Appends the ids of one word, through the cache when there is one. */
static bool encode_word(const claims_tokenizer *tok, claims_tok_cache *cache, const uint8_t *w,
                        size_t len, idbuf *out)
{
    int32_t sym[CLAIMS_TOK_MAX_WORD];
    if (!cache) return idbuf_push(out, sym, (size_t)bpe_word(tok, w, len, sym));
    int64_t e = strmap_get(&cache->words, w, len);
    if (e >= 0) {
        int64_t v = cache->words.val[e];
        return idbuf_push(out, cache->pool + v / 128, (size_t)(v % 128));
    }
    int32_t n = bpe_word(tok, w, len, sym);
    if (cache->words.n >= CACHE_MAX_WORDS) {
        strmap_clear(&cache->words);
        cache->pool_len = 0;
    }
    if (!grow((void **)&cache->pool, &cache->pool_cap, cache->pool_len + (size_t)n, sizeof *cache->pool))
        return false;
    e = strmap_add(&cache->words, w, len, (int64_t)cache->pool_len * 128 + n, NULL);
    if (e < 0) return false;
    memcpy(cache->pool + cache->pool_len, sym, (size_t)n * sizeof *sym);
    cache->pool_len += (size_t)n;
    return idbuf_push(out, sym, (size_t)n);
}

tg_status claims_tok_encode(const claims_tokenizer *tok, const char *text, size_t len,
                            const claims_encode_opts *opts, int32_t **ids, size_t *n_ids)
{
    static const claims_encode_opts defaults = {0};
    if (!opts) opts = &defaults;
    const uint8_t *s = (const uint8_t *)text;
    idbuf out = {0};
    *ids = NULL, *n_ids = 0;
    for (size_t pos = 0; pos < len;) {
        seg g = next_seg(s, len, pos);
        bool ok = true;
        if (g.special >= 0) {
            ok = idbuf_push(&out, &g.special, 1);
            if (opts->stats) opts->stats->placeholders++;
        } else if (g.kind != CLAIMS_CODE_NONE) {
            int64_t e = strmap_get(&tok->code_id, s + pos, g.len);
            if (e >= 0) {
                int32_t id = tok->code_base + (int32_t)e;
                ok = idbuf_push(&out, &id, 1);
                if (opts->stats) opts->stats->codes++;
            } else if (opts->unk_code == CLAIMS_UNK_CODE_ERROR) {
                free(out.ids);
                return tg_error(TG_ERR_INVALID,
                                "claims_tok_encode: %s code '%.*s' at byte %zu has no token",
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

tg_status claims_tok_decode(const claims_tokenizer *tok, const int32_t *ids, size_t n_ids,
                            char **text, size_t *len)
{
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->vocab)
            return tg_error(TG_ERR_INVALID, "claims_tok_decode: ids[%zu] = %d outside [0, %d)", i,
                            (int)ids[i], (int)tok->vocab);
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

/* ----------------------------------------------------------------- files -- */

#define FORMAT_NAME "tensorgrad-claims-bpe"

tg_status claims_tok_save(const claims_tokenizer *tok, const char *path)
{
    json_t *root = json_object(), *specials = json_array(), *codes = json_array(), *pairs = json_array();
    tg_status st = TG_OK;
    if (!root || !specials || !codes || !pairs) goto oom;
    for (int32_t i = 0; i < CLAIMS_TOK_N_SPECIAL; i++)
        if (json_array_append_new(specials, json_string(special_names[i]))) goto oom;
    for (int32_t i = 0; i < tok->n_codes; i++)
        if (json_array_append_new(codes, json_string(tok->blob + tok->tok_off[tok->code_base + i]))) goto oom;
    for (int32_t i = 0; i < tok->n_merges; i++)
        if (json_array_append_new(pairs, json_pack("[ii]", tok->merges[i][0], tok->merges[i][1]))) goto oom;
    json_t *bytes = json_pack("{s:i, s:i}", "first_id", CLAIMS_TOK_N_SPECIAL, "count", N_BYTES);
    json_t *code_obj = json_pack("{s:i, s:O}", "first_id", tok->code_base, "codes", codes);
    json_t *merge_obj = json_pack("{s:i, s:O}", "first_id", tok->merge_base, "pairs", pairs);
    if (json_object_set_new(root, "format", json_string(FORMAT_NAME)) ||
        json_object_set_new(root, "version", json_integer(CLAIMS_TOK_FORMAT_VERSION)) ||
        json_object_set_new(root, "vocab_size", json_integer(tok->vocab)) ||
        json_object_set(root, "special_tokens", specials) || json_object_set_new(root, "byte_tokens", bytes) ||
        json_object_set_new(root, "code_tokens", code_obj) || json_object_set_new(root, "merges", merge_obj))
        goto oom;
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
    goto done;
oom:
    st = tg_error(TG_ERR_OOM, "claims_tok_save: out of memory building JSON for '%s'", path);
done:
    json_decref(root), json_decref(specials), json_decref(codes), json_decref(pairs);
    return st;
}

/* Integer field `name` of obj (path `where` for messages). */
static tg_status get_int(const char *file, const json_t *obj, const char *where, const char *name,
                         json_int_t *v)
{
    json_t *j = json_object_get(obj, name);
    if (!j)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: missing field '%s%s'", file, where, name);
    if (!json_is_integer(j))
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field '%s%s' must be an integer", file,
                        where, name);
    *v = json_integer_value(j);
    return TG_OK;
}

static tg_status get_field(const char *file, const json_t *obj, const char *name, json_type type,
                           const char *type_name, json_t **out)
{
    *out = json_object_get(obj, name);
    if (!*out) return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: missing field '%s'", file, name);
    if (json_typeof(*out) != type)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field '%s' must be %s", file, name, type_name);
    return TG_OK;
}

/* Checks that a first_id/count field equals what the layout implies. */
static tg_status expect_int(const char *file, const json_t *obj, const char *where, const char *name,
                            json_int_t want)
{
    json_int_t v = 0;
    TG_TRY(get_int(file, obj, where, name, &v));
    if (v != want)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field '%s%s' is %lld, expected %lld", file,
                        where, name, (long long)v, (long long)want);
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
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'version' is %lld, this build reads %d",
                        path, (long long)version, CLAIMS_TOK_FORMAT_VERSION);
    TG_TRY(get_field(path, root, "special_tokens", JSON_ARRAY, "an array", &specials));
    if (json_array_size(specials) != CLAIMS_TOK_N_SPECIAL)
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'special_tokens' has %zu entries, expected %d",
                        path, json_array_size(specials), CLAIMS_TOK_N_SPECIAL);
    for (size_t i = 0; i < CLAIMS_TOK_N_SPECIAL; i++) {
        const char *s = json_string_value(json_array_get(specials, i));
        if (!s || strcmp(s, special_names[i]))
            return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'special_tokens[%zu]' must be \"%s\"",
                            path, i, special_names[i]);
    }
    TG_TRY(get_field(path, root, "byte_tokens", JSON_OBJECT, "an object", &bytes_obj));
    TG_TRY(expect_int(path, bytes_obj, "byte_tokens.", "first_id", CLAIMS_TOK_N_SPECIAL));
    TG_TRY(expect_int(path, bytes_obj, "byte_tokens.", "count", N_BYTES));
    TG_TRY(get_field(path, root, "code_tokens", JSON_OBJECT, "an object", &codes_obj));
    TG_TRY(expect_int(path, codes_obj, "code_tokens.", "first_id", CLAIMS_TOK_N_SPECIAL + N_BYTES));
    json_t *codes = json_object_get(codes_obj, "codes");
    if (!json_is_array(codes))
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'code_tokens.codes' %s", path,
                        codes ? "must be an array" : "is missing");
    size_t n_codes = json_array_size(codes);
    int32_t merge_base = CLAIMS_TOK_N_SPECIAL + N_BYTES + (int32_t)n_codes;
    TG_TRY(get_field(path, root, "merges", JSON_OBJECT, "an object", &merges_obj));
    TG_TRY(expect_int(path, merges_obj, "merges.", "first_id", merge_base));
    json_t *pairs = json_object_get(merges_obj, "pairs");
    if (!json_is_array(pairs))
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'merges.pairs' %s", path,
                        pairs ? "must be an array" : "is missing");
    size_t n_merges = json_array_size(pairs);
    TG_TRY(expect_int(path, root, "", "vocab_size", (json_int_t)merge_base + (json_int_t)n_merges));

    const char **code_list = malloc((n_codes + 1) * sizeof *code_list);
    int32_t (*merges)[2] = malloc((n_merges + 1) * sizeof *merges);
    strmap seen = {0};
    u64map seen_pairs = {0};
    tg_status st = TG_OK;
    if (!code_list || !merges) goto oom;
    for (size_t i = 0; i < n_codes; i++) {
        const char *c = json_string_value(json_array_get(codes, i));
        if (!c) {
            st = tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'code_tokens.codes[%zu]' must be a string",
                          path, i);
            goto done;
        }
        size_t l = strlen(c);
        if (claims_code_match(c, l, 0, NULL) != l) {
            st = tg_error(TG_ERR_FORMAT,
                          "claims_tok_load: %s: field 'code_tokens.codes[%zu]': '%s' is not an ICD-10-CM, CPT or HCPCS code",
                          path, i, c);
            goto done;
        }
        bool added;
        int64_t e = strmap_add(&seen, c, l, (int64_t)i, &added);
        if (e < 0) goto oom;
        if (!added) {
            st = tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'code_tokens.codes[%zu]': duplicate code '%s' (also at %lld)",
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
            bool is_byte = id >= CLAIMS_TOK_N_SPECIAL && id < CLAIMS_TOK_N_SPECIAL + N_BYTES;
            bool is_merge = id >= merge_base && id < merge_base + (json_int_t)i;
            if (!is_byte && !is_merge) {
                st = tg_error(TG_ERR_FORMAT,
                              "claims_tok_load: %s: field 'merges.pairs[%zu]': id %lld is not a byte id [%d, %d) or an earlier merge id [%d, %lld)",
                              path, i, (long long)id, CLAIMS_TOK_N_SPECIAL, CLAIMS_TOK_N_SPECIAL + N_BYTES,
                              (int)merge_base, (long long)merge_base + (long long)i);
                goto done;
            }
            merges[i][k] = (int32_t)id;
        }
        uint64_t key = pair_key(merges[i][0], merges[i][1]);
        int32_t prev = u64map_get(&seen_pairs, key);
        if (prev >= 0) {
            st = tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: field 'merges.pairs[%zu]': duplicate of merges.pairs[%d]",
                          path, i, (int)prev);
            goto done;
        }
        if (!u64map_put(&seen_pairs, key, (int32_t)i)) goto oom;
    }
    st = tok_build(code_list, (int32_t)n_codes, (const int32_t(*)[2])merges, (int32_t)n_merges, out);
    goto done;
oom:
    st = tg_error(TG_ERR_OOM, "claims_tok_load: %s: out of memory", path);
done:
    free(code_list), free(merges);
    strmap_free(&seen);
    u64map_free(&seen_pairs);
    return st;
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
        return tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: bad JSON at line %d column %d: %s", path,
                        err.line, err.column, err.text);
    tg_status st = json_is_object(root)
                       ? load_json(path, root, out)
                       : tg_error(TG_ERR_FORMAT, "claims_tok_load: %s: top level must be an object", path);
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
        if (!dup || !grow((void **)&list, &cap, count + 1, sizeof *list)) {
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
