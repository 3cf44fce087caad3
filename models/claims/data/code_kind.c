/* Medical code patterns shared by the code table, the JSONL reader and the
 * tokenizer. */
#include "models/claims/data/code_kind.h"

#include <stdbool.h>
#include <stdint.h>

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }
static bool is_alnum(uint8_t c) { return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z'); }
static bool is_upnum(uint8_t c) { return is_digit(c) || is_upper(c); }

/* Nothing word-like (ASCII alnum, UTF-8 byte, decimal point) before pos. */
static bool left_boundary(const uint8_t *s, size_t pos)
{
    if (pos == 0) return true;
    uint8_t p = s[pos - 1];
    if (is_alnum(p) || p >= 0x80) return false;
    return !(p == '.' && pos >= 2 && is_digit(s[pos - 2]));
}

/* Nothing word-like at end (ASCII alnum, UTF-8 byte, '.' + alnum). */
static bool right_boundary(const uint8_t *s, size_t len, size_t end)
{
    if (end == len) return true;
    uint8_t q = s[end];
    if (is_alnum(q) || q >= 0x80) return false;
    return !(q == '.' && end + 1 < len && is_alnum(s[end + 1]));
}

size_t claims_code_match(const char *text, size_t len, size_t pos, claims_code_kind *kind)
{
    const uint8_t *s = (const uint8_t *)text;
    claims_code_kind k = CLAIMS_CODE_NONE;
    size_t n = 0;
    if (pos < len && left_boundary(s, pos)) {
        uint8_t c0 = s[pos];
        if (is_digit(c0) && pos + 5 <= len && is_digit(s[pos + 1]) && is_digit(s[pos + 2]) && is_digit(s[pos + 3]) &&
            (is_digit(s[pos + 4]) || s[pos + 4] == 'F' || s[pos + 4] == 'T') && right_boundary(s, len, pos + 5)) {
            k = CLAIMS_CODE_CPT, n = 5;
        } else if (is_upper(c0) && c0 <= 'V' && pos + 5 <= len && is_digit(s[pos + 1]) && is_digit(s[pos + 2]) &&
                   is_digit(s[pos + 3]) && is_digit(s[pos + 4]) && right_boundary(s, len, pos + 5)) {
            k = CLAIMS_CODE_HCPCS, n = 5;
        } else if (is_upper(c0) && pos + 3 <= len && is_digit(s[pos + 1]) && is_upnum(s[pos + 2])) {
            size_t e = pos + 3;
            if (e < len && s[e] == '.') {
                size_t q = e + 1;
                while (q < len && q - e - 1 < 4 && is_upnum(s[q])) q++;
                if (q > e + 1 && right_boundary(s, len, q)) k = CLAIMS_CODE_ICD10CM, n = q - pos;
            }
            if (!n && right_boundary(s, len, e)) k = CLAIMS_CODE_ICD10CM, n = 3;
        }
    }
    if (kind) *kind = k;
    return n;
}

const char *claims_code_kind_name(claims_code_kind kind)
{
    switch (kind) {
    case CLAIMS_CODE_ICD10CM: return "icd10cm";
    case CLAIMS_CODE_CPT: return "cpt";
    case CLAIMS_CODE_HCPCS: return "hcpcs";
    default: return "none";
    }
}
