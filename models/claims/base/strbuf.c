#include "models/claims/base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for extra more bytes and the NUL; doubling keeps appends amortized O(1). */
static bool reserve(claims_strbuf *b, size_t extra)
{
    if (b->oom) return false;
    if (extra > (size_t)-1 / 2 - b->n) return !(b->oom = true);
    size_t need = b->n + extra + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return !(b->oom = true);
    b->p = p;
    b->cap = cap;
    return true;
}

bool claims_sb_put(claims_strbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) return false;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

bool claims_sb_puts(claims_strbuf *b, const char *s) { return claims_sb_put(b, s, strlen(s)); }

bool claims_sb_printf(claims_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) return false;
    if (!reserve(b, (size_t)k)) return false;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
    return true;
}

void claims_sb_free(claims_strbuf *b)
{
    free(b->p);
    *b = (claims_strbuf){0};
}
