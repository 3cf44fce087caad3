/* BPE training: the most frequent adjacent pair of symbols merged, again
 * and again, over the pre-tokenized words of a corpus (codes stay whole). */
#include "models/claims/text/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

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
    claims_u64map pair_idx; /* pair key -> index in pairs */
    pair_ent *pairs;
    size_t n_pairs, pairs_cap;
    heap_ent *heap;
    size_t heap_n, heap_cap;
} trainer;

static bool heap_before(heap_ent a, heap_ent b) { return a.count > b.count || (a.count == b.count && a.key < b.key); }

static bool heap_push(trainer *tr, int64_t count, uint64_t key)
{
    if (!claims_grow((void **)&tr->heap, &tr->heap_cap, tr->heap_n + 1, sizeof *tr->heap)) return false;
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
    uint64_t k = claims_tok_pair_key(a, b);
    int32_t idx = claims_u64map_get(&tr->pair_idx, k);
    if (idx < 0) {
        TG_ASSERT(delta > 0, "a pair is decremented only where it was counted");
        if (!claims_grow((void **)&tr->pairs, &tr->pairs_cap, tr->n_pairs + 1, sizeof *tr->pairs)) return false;
        idx = (int32_t)tr->n_pairs++;
        tr->pairs[idx] = (pair_ent){0};
        if (!claims_u64map_put(&tr->pair_idx, k, idx)) return false;
    }
    pair_ent *p = &tr->pairs[idx];
    p->count += delta;
    TG_ASSERT(p->count >= 0, "pair counts never go negative");
    if (delta <= 0) return true;
    if (!p->n_words || p->words[p->n_words - 1] != w) {
        size_t cap = (size_t)p->cap_words;
        if (!claims_grow((void **)&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words)) return false;
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
            if (o > 0 && (!pair_add(tr, s[o - 1], a, -c, w) || !pair_add(tr, s[o - 1], x, c, w))) return false;
            if (i + 2 < len && (!pair_add(tr, b, s[i + 2], -c, w) || !pair_add(tr, x, s[i + 2], c, w))) return false;
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
    free(tr->pairs), free(tr->heap), free(tr->sym), free(tr->word_off), free(tr->word_len), free(tr->word_count);
    claims_u64map_free(&tr->pair_idx);
}

/* Learns up to max_merges merges from the unique words in `words` (values are
 * counts); appends them to *merges (capacity max_merges). */
static tg_status learn_merges(const claims_strmap *words, int32_t max_merges, int64_t min_pair_freq, int32_t first_id,
                              int32_t (*merges)[2], int32_t *n_merges)
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
        const uint8_t *k = (const uint8_t *)claims_strmap_key(words, w);
        tr.word_off[w] = used, tr.word_len[w] = (int32_t)words->klen[w], tr.word_count[w] = words->val[w];
        for (uint32_t i = 0; i < words->klen[w]; i++) tr.sym[used++] = CLAIMS_TOK_BYTE(k[i]);
        for (uint32_t i = 0; i + 1 < words->klen[w]; i++) {
            int32_t *s = tr.sym + tr.word_off[w];
            if (!pair_add(&tr, s[i], s[i + 1], words->val[w], (int32_t)w)) goto oom;
        }
    }
    while (*n_merges < max_merges && tr.heap_n) {
        heap_ent top = heap_pop(&tr);
        pair_ent *p = &tr.pairs[claims_u64map_get(&tr.pair_idx, top.key)];
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
        p = &tr.pairs[claims_u64map_get(&tr.pair_idx, top.key)];
        TG_ASSERT(p->count == 0, "every occurrence of the merged pair is listed with its words");
    }
    trainer_free(&tr);
    return st;
oom:
    trainer_free(&tr);
    return tg_error(TG_ERR_OOM, "claims_tok_train: out of memory learning merges from %zu words", words->n);
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
    claims_strmap words = {0}, codes = {0};
    const char **code_list = NULL;
    int32_t(*merges)[2] = NULL;
    tg_status st = TG_OK;
    for (size_t i = 0; i < opts->n_codes; i++) {
        const char *c = opts->codes[i];
        size_t l = strlen(c);
        if (claims_code_match(c, l, 0, NULL) != l) {
            st = tg_error(TG_ERR_INVALID, "claims_tok_train: codes[%zu] '%s' is not an ICD-10-CM, CPT or HCPCS code", i,
                          c);
            goto done;
        }
        if (claims_strmap_add(&codes, c, l, INT64_MAX / 2, NULL) < 0) goto oom;
    }
    /* pre-tokenize: count unique words and the codes seen in the text */
    for (size_t t = 0; t < n_texts; t++) {
        const uint8_t *s = (const uint8_t *)texts[t];
        size_t len = lens ? lens[t] : strlen(texts[t]);
        for (size_t pos = 0; pos < len;) {
            seg g = claims_tok_next_seg(s, len, pos);
            if (g.special < 0) {
                claims_strmap *m = g.kind != CLAIMS_CODE_NONE ? &codes : &words;
                int64_t e = claims_strmap_add(m, s + pos, g.len, 0, NULL);
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
        if (codes.val[e] >= min_code) code_list[n_codes++] = claims_strmap_key(&codes, e);
    qsort(code_list, n_codes, sizeof *code_list, cmp_code);
    int64_t base = CLAIMS_TOK_N_SPECIAL + CLAIMS_TOK_N_BYTES + (int64_t)n_codes;
    if (opts->vocab_size < base) {
        st = tg_error(TG_ERR_INVALID,
                      "claims_tok_train: vocab_size %d is below %d specials + %d bytes + %zu codes = %lld",
                      (int)opts->vocab_size, CLAIMS_TOK_N_SPECIAL, CLAIMS_TOK_N_BYTES, n_codes, (long long)base);
        goto done;
    }
    int32_t max_merges = (int32_t)(opts->vocab_size - base), n_merges = 0;
    merges = malloc(((size_t)max_merges + 1) * sizeof *merges);
    if (!merges) goto oom;
    st = learn_merges(&words, max_merges, min_pair, (int32_t)base, merges, &n_merges);
    if (st == TG_OK) st = claims_tok_build(code_list, (int32_t)n_codes, (const int32_t(*)[2])merges, n_merges, out);
    goto done;
oom:
    st = tg_error(TG_ERR_OOM, "claims_tok_train: out of memory counting words of %zu texts", n_texts);
done:
    free(merges);
    free(code_list);
    claims_strmap_free(&words);
    claims_strmap_free(&codes);
    return st;
}
