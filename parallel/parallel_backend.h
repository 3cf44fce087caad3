/* Backend interface behind tg_parallel_* (internal to parallel/). A backend answers
 * the collectives for its ranks; parallel.c holds the one in use. */
#ifndef TG_PARALLEL_BACKEND_H
#define TG_PARALLEL_BACKEND_H

#include "parallel/parallel.h"

typedef enum tg_parallel_dtype {
    TG_PARALLEL_F32 = 0,
    TG_PARALLEL_F64,
    TG_PARALLEL_I64,
    TG_PARALLEL_U8
} tg_parallel_dtype;

typedef struct tg_parallel_backend {
    const char *name;
    int rank, size;
    /* In-place reduce of n elements (op is never MEAN: parallel.c divides). */
    tg_status (*allreduce)(void *buf, int64_t n, tg_parallel_dtype dt, tg_parallel_op op);
    /* Starts an in-place sum (F32 or F64); *req is what test/wait take
     * (NULL: done). */
    tg_status (*isum)(void *buf, int64_t n, tg_parallel_dtype dt, void **req);
    /* *done when req finished (req freed then); lets the transfer progress. */
    tg_status (*test)(void *req, bool *done);
    /* Waits for req and frees it. */
    tg_status (*wait)(void *req);
    tg_status (*broadcast)(void *buf, size_t bytes, int root);
    tg_status (*barrier)(void);
    void (*finalize)(void);
    void (*abort)(int code);
} tg_parallel_backend;

/* The single-process backend (rank 0 of 1). */
extern const tg_parallel_backend tg_parallel_local_backend;

#ifdef TG_PARALLEL_MPI
/* Starts MPI when this process was started by an MPI launcher and sets *out
 * to the MPI backend; leaves *out NULL otherwise. TG_ERR_BACKEND when
 * MPI_Init_thread fails. */
tg_status tg_parallel_mpi_start(int *argc, char ***argv, const tg_parallel_backend **out);
#endif

#endif
