/* Backend interface behind tg_dist_* (internal to dist/). A backend answers
 * the collectives for its ranks; dist.c holds the one in use. */
#ifndef TG_DIST_BACKEND_H
#define TG_DIST_BACKEND_H

#include "dist/dist.h"

typedef enum tg_dist_dtype { TG_DIST_F32 = 0, TG_DIST_F64, TG_DIST_I64, TG_DIST_U8 } tg_dist_dtype;

typedef struct tg_dist_backend {
    const char *name;
    int rank, size;
    /* In-place reduce of n elements (op is never MEAN: dist.c divides). */
    tg_status (*allreduce)(void *buf, int64_t n, tg_dist_dtype dt, tg_dist_op op);
    /* Starts an in-place sum (F32 or F64); *req is what test/wait take
     * (NULL: done). */
    tg_status (*isum)(void *buf, int64_t n, tg_dist_dtype dt, void **req);
    /* *done when req finished (req freed then); lets the transfer progress. */
    tg_status (*test)(void *req, bool *done);
    /* Waits for req and frees it. */
    tg_status (*wait)(void *req);
    tg_status (*broadcast)(void *buf, size_t bytes, int root);
    tg_status (*barrier)(void);
    void (*finalize)(void);
    void (*abort)(int code);
} tg_dist_backend;

/* The single-process backend (rank 0 of 1). */
extern const tg_dist_backend tg_dist_local_backend;

#ifdef TG_DIST_MPI
/* Starts MPI when this process was started by an MPI launcher and sets *out
 * to the MPI backend; leaves *out NULL otherwise. TG_ERR_BACKEND when
 * MPI_Init_thread fails. */
tg_status tg_dist_mpi_start(int *argc, char ***argv, const tg_dist_backend **out);
#endif

#endif
