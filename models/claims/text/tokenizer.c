/* The tokenizer object: building its vocabulary and looking tokens up.
 * Training is in bpe_train.c, encoding in tok_encode.c, the file format in
 * tok_file.c, pre-tokenization in pretok.c. */
#include "models/claims/text/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

void claims_tok_free(claims_tokenizer *tok)
{
    if (!tok) return;
    free(tok->blob), free(tok->tok_off), free(tok->tok_len), free(tok->code_kind), free(tok->merges);
    claims_u64map_free(&tok->merge_id);
    claims_strmap_free(&tok->code_id);
    free(tok);
}

tg_status claims_tok_build(const char *const *codes, int32_t n_codes, const int32_t (*merges)[2], int32_t n_merges,
                           claims_tokenizer **out)
{
    claims_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return tg_error(TG_ERR_OOM, "claims_tokenizer: out of memory");
    t->n_codes = n_codes, t->n_merges = n_merges;
    t->code_base = CLAIMS_TOK_N_SPECIAL + CLAIMS_TOK_N_BYTES;
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
            src = claims_tok_special_names[id], len = strlen(src);
        } else if (id < t->code_base) {
            byte = (char)(id - CLAIMS_TOK_N_SPECIAL), src = &byte, len = 1;
        } else if (id < t->merge_base) {
            src = codes[id - t->code_base], len = strlen(src);
        } else {
            const int32_t *m = t->merges[id - t->merge_base];
            len = (size_t)t->tok_len[m[0]] + (size_t)t->tok_len[m[1]];
        }
        if (!claims_grow((void **)&t->blob, &cap, used + len + 1, 1)) goto oom;
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
        if (claims_strmap_add(&t->code_id, codes[i], l, i, NULL) < 0) goto oom;
    }
    for (int32_t i = 0; i < n_merges; i++)
        if (!claims_u64map_put(&t->merge_id, claims_tok_pair_key(merges[i][0], merges[i][1]), t->merge_base + i))
            goto oom;
    *out = t;
    return TG_OK;
oom:
    claims_tok_free(t);
    return tg_error(TG_ERR_OOM, "claims_tokenizer: out of memory building a vocabulary of %d ids",
                    (int)(CLAIMS_TOK_N_SPECIAL + CLAIMS_TOK_N_BYTES + n_codes + n_merges));
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
    int64_t e = claims_strmap_get(&tok->code_id, code, strlen(code));
    return e < 0 ? -1 : tok->code_base + (int32_t)e;
}
