/* Byte-level BPE tokenizer for claims text that keeps medical codes whole.
 *
 * Id layout (fixed order):
 *   [0, CLAIMS_TOK_N_SPECIAL)       special tokens (enum claims_special below)
 *   next 256 ids                    one per byte value 0x00..0xff
 *   next n_codes ids                whole medical codes, sorted by (kind, code)
 *   remaining ids                   BPE merges, in rank order
 *
 * Pre-tokenization splits text into segments, left to right:
 *   - placeholder literals (<NAME>, <MEMBER_ID>, <DOB>, <PHONE>, <ADDRESS>,
 *     <DATE>, <ID>) become their single special id wherever they appear;
 *   - medical codes recognized by claims_code_match() at word boundaries
 *     become one code token (policy for codes missing from the vocabulary:
 *     see claims_unk_code_policy);
 *   - everything else is cut into words of one character class (letters incl.
 *     all bytes >= 0x80, digits, whitespace, other punctuation) at most
 *     CLAIMS_TOK_MAX_WORD bytes long; a single space before a non-space word
 *     stays with that word (" patient"), GPT-2 style.
 * Words are encoded with the learned merges applied in rank order. Segments
 * cover the input exactly, so decode(encode(s)) == s for every byte string.
 * Control tokens (<PAD> <BOS> <EOS> <SEP> <CLS>) are never produced from text
 * (the literal "<BOS>" is ordinary text); callers insert them, and decode
 * skips them.
 *
 * Codes are uppercase only; lowercase "e11.65" is ordinary text. The patterns
 * also match some non-codes (any standalone 5-digit number looks like CPT,
 * "H2O" like ICD-10-CM); such matches not in the vocabulary follow the
 * unknown-code policy, which keeps them lossless.
 *
 * The file format is documented in docs/tokenizer_format.md. A tokenizer is
 * read-only after train/load, so encode/decode may run on many threads at
 * once (each thread with its own claims_tok_cache, if any). */
#ifndef CLAIMS_TOKENIZER_H
#define CLAIMS_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/claims/data/code_kind.h"
#include "tensor/status.h"

/* Special tokens with fixed ids. */
enum claims_special {
    CLAIMS_TOK_PAD = 0,
    CLAIMS_TOK_BOS,
    CLAIMS_TOK_EOS,
    CLAIMS_TOK_SEP,
    CLAIMS_TOK_CLS,
    CLAIMS_TOK_NAME, /* privacy placeholders: literal "<NAME>" ... */
    CLAIMS_TOK_MEMBER_ID,
    CLAIMS_TOK_DOB,
    CLAIMS_TOK_PHONE,
    CLAIMS_TOK_ADDRESS,
    CLAIMS_TOK_DATE,
    CLAIMS_TOK_ID,
    CLAIMS_TOK_UNK_ICD10CM, /* unknown-code markers, one per code kind */
    CLAIMS_TOK_UNK_CPT,
    CLAIMS_TOK_UNK_HCPCS,
    CLAIMS_TOK_N_SPECIAL
};

/* Id of byte value b. */
#define CLAIMS_TOK_BYTE(b) ((int32_t)CLAIMS_TOK_N_SPECIAL + (int32_t)(uint8_t)(b))

/* Longest word (bytes) handed to BPE; longer runs are cut into pieces. */
#define CLAIMS_TOK_MAX_WORD 64

/* Current file format version written by claims_tok_save. */
#define CLAIMS_TOK_FORMAT_VERSION 1

/* What encode does with a pattern-matched code that has no token.
 * SPELL (default): the kind's marker id (CLAIMS_TOK_UNK_*) followed by one
 *   byte id per character of the code. Lossless (the marker decodes to
 *   nothing) and visible to the model as a code; counted in the stats.
 * ERROR: encode fails with TG_ERR_INVALID naming the code and its offset. */
typedef enum claims_unk_code_policy { CLAIMS_UNK_CODE_SPELL = 0, CLAIMS_UNK_CODE_ERROR } claims_unk_code_policy;

typedef struct claims_tokenizer claims_tokenizer;
typedef struct claims_tok_cache claims_tok_cache;

/* Counters accumulated by encode when given (never reset by encode). */
typedef struct claims_encode_stats {
    int64_t codes;                              /* codes encoded as one token */
    int64_t unknown_codes[CLAIMS_CODE_N_KINDS]; /* codes spelled out, by kind */
    int64_t placeholders;                       /* placeholder literals */
} claims_encode_stats;

typedef struct claims_encode_opts {
    claims_unk_code_policy unk_code;
    claims_tok_cache *cache;    /* optional word cache (one per thread) */
    claims_encode_stats *stats; /* optional counters */
} claims_encode_opts;

typedef struct claims_tok_train_opts {
    int32_t vocab_size;       /* total ids: specials + 256 bytes + codes + merges */
    const char *const *codes; /* codes that must get an id (may be NULL) */
    size_t n_codes;
    int32_t min_code_freq; /* codes seen in the text need this count (0 -> 1) */
    int32_t min_pair_freq; /* no merge of a pair seen fewer times (0 -> 2) */
} claims_tok_train_opts;

/* Learns a tokenizer from n_texts strings (lens[i] bytes each, or
 * NUL-terminated when lens is NULL). Every code in opts->codes and every code
 * seen at least min_code_freq times gets one token; merges fill the vocabulary
 * up to vocab_size or until no pair reaches min_pair_freq. Pattern false
 * positives seen in the text (ZIP codes look like CPT) also become code
 * tokens; raise min_code_freq or replace them by placeholders first. Time
 * O(N + U + P log P) for N text bytes, U bytes of unique words and P pair-count
 * updates (each merge touches only the words holding the merged pair, via a
 * lazy max-heap of pair counts); about 2 s for 15 MB on one core. *out owned
 * by the caller
 * (claims_tok_free). Errors: TG_ERR_INVALID for a listed code that does not
 * match a code pattern or a vocab_size below specials + bytes + codes;
 * TG_ERR_OOM. */
tg_status claims_tok_train(const char *const *texts, const size_t *lens, size_t n_texts,
                           const claims_tok_train_opts *opts, claims_tokenizer **out);

/* Frees a tokenizer (NULL allowed). */
void claims_tok_free(claims_tokenizer *tok);

/* Writes the tokenizer as JSON to path (via path.tmp + rename). Errors:
 * TG_ERR_IO naming the file. */
tg_status claims_tok_save(const claims_tokenizer *tok, const char *path);

/* Reads and validates a tokenizer file. *out owned by the caller. Errors:
 * TG_ERR_IO (unreadable), TG_ERR_FORMAT (bad JSON, wrong version, missing or
 * mistyped field, bad code, duplicate, merge referencing an unknown id), each
 * naming the file and the field. */
tg_status claims_tok_load(const char *path, claims_tokenizer **out);

/* The same format as one line of compact JSON text (malloc'd; NULL with
 * TG_ERR_OOM), and back: what a model artifact embeds. `what` names the
 * source in errors, which are those of claims_tok_load. */
char *claims_tok_to_json(const claims_tokenizer *tok);
tg_status claims_tok_from_json(const char *json, const char *what, claims_tokenizer **out);

/* Encodes len bytes of text into a new malloc'd array *ids of *n_ids ids
 * (caller frees with free(); an empty text gives n_ids 0 and ids NULL).
 * opts may be NULL (SPELL policy, no cache, no stats). Errors: TG_ERR_INVALID
 * for an unknown code under the ERROR policy; TG_ERR_OOM. */
tg_status claims_tok_encode(const claims_tokenizer *tok, const char *text, size_t len, const claims_encode_opts *opts,
                            int32_t **ids, size_t *n_ids);

/* Decodes ids into a new malloc'd NUL-terminated string *text of *len bytes
 * (caller frees with free(); len may be NULL). Control tokens and unknown-code
 * markers decode to nothing. Errors: TG_ERR_INVALID for an id out of range. */
tg_status claims_tok_decode(const claims_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len);

/* Number of ids. */
int32_t claims_tok_vocab_size(const claims_tokenizer *tok);

/* Bytes of token id (owned by the tokenizer, NUL-terminated; *len may be NULL,
 * and is needed for the token of byte 0). Special tokens give their name
 * ("<PAD>"). NULL with TG_ERR_INVALID set for an id out of range. */
const char *claims_tok_token(const claims_tokenizer *tok, int32_t id, size_t *len);

/* True when id is a whole-code token. */
bool claims_tok_is_code(const claims_tokenizer *tok, int32_t id);

/* Kind of a code token or of an unknown-code marker; CLAIMS_CODE_NONE else. */
claims_code_kind claims_tok_code_kind(const claims_tokenizer *tok, int32_t id);

/* Id of the token for code (NUL-terminated), or -1 when it has none. */
int32_t claims_tok_code_id(const claims_tokenizer *tok, const char *code);

/* Number of whole-code tokens and of merges. */
int32_t claims_tok_n_codes(const claims_tokenizer *tok);
int32_t claims_tok_n_merges(const claims_tokenizer *tok);

/* New empty word cache for encode (bounded; one per thread). NULL on OOM. */
claims_tok_cache *claims_tok_cache_create(void);

/* Frees a cache (NULL allowed). */
void claims_tok_cache_free(claims_tok_cache *cache);

/* Reads a code list file: one code per line, blank lines and lines starting
 * with '#' skipped, surrounding whitespace trimmed. *codes is a malloc'd array
 * of *n malloc'd strings (free with claims_code_list_free). Errors: TG_ERR_IO
 * naming the file; TG_ERR_FORMAT naming file:line for a line that is not a
 * code. */
tg_status claims_code_list_read(const char *path, char ***codes, size_t *n);

/* Frees a list from claims_code_list_read (NULL allowed). */
void claims_code_list_free(char **codes, size_t n);

#endif
