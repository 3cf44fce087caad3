/* Pre-tokenization: the text cut into placeholders, medical codes and words
 * (a space travels with the word after it), before BPE sees any word. */
#include "models/claims/text/tokenizer_internal.h"

#include <string.h>

const char *const claims_tok_special_names[CLAIMS_TOK_N_SPECIAL] = {"<PAD>",
                                                                    "<BOS>",
                                                                    "<EOS>",
                                                                    "<SEP>",
                                                                    "<CLS>",
                                                                    "<NAME>",
                                                                    "<MEMBER_ID>",
                                                                    "<DOB>",
                                                                    "<PHONE>",
                                                                    "<ADDRESS>",
                                                                    "<DATE>",
                                                                    "<ID>",
                                                                    "<UNK_CODE:ICD10CM>",
                                                                    "<UNK_CODE:CPT>",
                                                                    "<UNK_CODE:HCPCS>"};

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
        size_t l = strlen(claims_tok_special_names[id]);
        if (pos + l <= len && !memcmp(s + pos, claims_tok_special_names[id], l)) {
            *n = l;
            return id;
        }
    }
    return -1;
}

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

seg claims_tok_next_seg(const uint8_t *s, size_t len, size_t pos)
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
    if (cl == CL_SPACE && end < len && end - pos >= 2 && s[end - 1] == ' ' && char_class(s[end]) != CL_SPACE &&
        !atom_at(s, len, end, NULL))
        end--;
    g.len = end - pos;
    return g;
}
