/* Shared by the tokenizer's sources only (tokenizer.c, pretok.c,
 * bpe_train.c, tok_encode.c, tok_file.c). */
#ifndef CLAIMS_TOKENIZER_INTERNAL_H
#define CLAIMS_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/claims/base/hashmap.h"
#include "models/claims/text/tokenizer.h"

#define CLAIMS_TOK_N_BYTES 256
/* Placeholders (scrubbed identifiers) are the specials in this id range. */
#define FIRST_PLACEHOLDER CLAIMS_TOK_NAME
#define LAST_PLACEHOLDER CLAIMS_TOK_ID

/* Literal text of each special token, by id. */
extern const char *const claims_tok_special_names[CLAIMS_TOK_N_SPECIAL];

struct claims_tokenizer {
    int32_t vocab, n_codes, n_merges;
    int32_t code_base, merge_base;
    char *blob;             /* bytes of every token, each NUL-terminated */
    size_t *tok_off;        /* (vocab) */
    int32_t *tok_len;       /* (vocab) */
    uint8_t *code_kind;     /* (n_codes) */
    int32_t (*merges)[2];   /* (n_merges) */
    claims_u64map merge_id; /* pair -> id of the merged token (rank = id order) */
    claims_strmap code_id;  /* code -> entry e, id = code_base + e */
};

/* One pre-tokenization segment: a placeholder (special >= 0), a code
 * (kind != NONE) or a word. */
typedef struct seg {
    size_t len;
    int32_t special;
    claims_code_kind kind;
} seg;

/* The segment starting at pos < len. Segments tile the text exactly. */
seg claims_tok_next_seg(const uint8_t *s, size_t len, size_t pos);

/* Builds a tokenizer from validated codes (distinct, each a code) and merges
 * (each referencing byte or earlier merge ids, distinct). Takes no ownership. */
tg_status claims_tok_build(const char *const *codes, int32_t n_codes, const int32_t (*merges)[2], int32_t n_merges,
                           claims_tokenizer **out);

/* The merge-map key of an adjacent pair of ids. */
static inline uint64_t claims_tok_pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

#endif
