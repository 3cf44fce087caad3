/* A growable string: the one text builder of the claims package.
 *
 * Appends keep p NUL-terminated. An allocation failure sets oom and makes
 * every later append a no-op, so a builder can run a whole sequence of
 * appends and check once at the end. */
#ifndef CLAIMS_STRBUF_H
#define CLAIMS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct claims_strbuf {
    char *p;  /* owned; NULL until the first append */
    size_t n; /* bytes, without the terminating NUL */
    size_t cap;
    bool oom;
} claims_strbuf;

/* Appends n bytes of s (s may hold NULs). Returns !oom. */
bool claims_sb_put(claims_strbuf *b, const char *s, size_t n);

/* Appends a NUL-terminated string. Returns !oom. */
bool claims_sb_puts(claims_strbuf *b, const char *s);

/* Appends printf-formatted text of any length. Returns !oom (false also
 * for a format error). */
bool claims_sb_printf(claims_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees the text and zeroes the builder. */
void claims_sb_free(claims_strbuf *b);

#endif
