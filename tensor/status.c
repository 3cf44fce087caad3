#include "tensor/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

tg_status tg_error(tg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

const char *tg_last_error(void) { return last_error; }

void tg_clear_error(void) { last_error[0] = '\0'; }

const char *tg_status_str(tg_status st)
{
    static const char *names[] = {"TG_OK",     "TG_ERR_INVALID", "TG_ERR_SHAPE", "TG_ERR_DTYPE",   "TG_ERR_OOM",
                                  "TG_ERR_IO", "TG_ERR_FORMAT",  "TG_ERR_STATE", "TG_ERR_BACKEND", "TG_ERR_NUMERIC"};
    if ((unsigned)st < sizeof names / sizeof names[0]) return names[st];
    return "TG_ERR_UNKNOWN";
}

void tg_assert_fail(const char *file, int line, const char *cond, const char *hint)
{
    fprintf(stderr, "%s:%d: tensorgrad invariant broken: %s (%s)\n", file, line, cond, hint ? hint : "no hint");
    abort();
}
