/* Status codes, the thread-local error message, and invariant checks.
 *
 * Recoverable errors (bad user input, I/O, out of memory) are returned as a
 * tg_status; the message stored with tg_error() names the function and the
 * offending values and stays readable through tg_last_error() until the next
 * error on the same thread. Broken library invariants stop the process with
 * TG_ASSERT instead. */
#ifndef TG_STATUS_H
#define TG_STATUS_H

typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_INVALID, /* bad argument value (axis, flag, size) */
    TG_ERR_SHAPE,   /* shapes that do not fit together */
    TG_ERR_DTYPE,   /* dtype not supported by this call */
    TG_ERR_OOM,     /* allocation failed */
    TG_ERR_IO,      /* file could not be read or written */
    TG_ERR_FORMAT,  /* file or text content is malformed */
    TG_ERR_STATE,   /* call not valid in the current state (released graph) */
    TG_ERR_BACKEND, /* oneDNN refused or failed a primitive */
    TG_ERR_NUMERIC  /* a numeric check failed (gradcheck mismatch, NaN) */
} tg_status;

/* Records a printf-style message for this thread and returns `st`. */
tg_status tg_error(tg_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Message of the last error on this thread ("" when none). */
const char *tg_last_error(void);

/* Forgets the last error on this thread. */
void tg_clear_error(void);

/* Short stable name of a status ("TG_ERR_SHAPE"). */
const char *tg_status_str(tg_status st);

/* Prints file:line, the failed condition and a hint, then aborts. */
_Noreturn void tg_assert_fail(const char *file, int line, const char *cond, const char *hint);

#define TG_ASSERT(cond, hint)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) tg_assert_fail(__FILE__, __LINE__, #cond, (hint));                                                \
    } while (0)

/* Returns from the calling function when `expr` is not TG_OK. */
#define TG_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        tg_status tg_try_st_ = (expr);                                                                                 \
        if (tg_try_st_ != TG_OK) return tg_try_st_;                                                                    \
    } while (0)

#endif
