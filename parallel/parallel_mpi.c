/* The MPI backend: MPI_COMM_WORLD, one rank per process, MPI called only
 * from the thread that started it (MPI_THREAD_FUNNELED). Counts above
 * INT_MAX elements go in chunks. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/parallel_backend.h"

#define CHUNK ((int64_t)1 << 30) /* elements per MPI call (counts are int) */

static tg_parallel_backend mpi_backend;
static bool mpi_started_here; /* we called MPI_Init, so we finalize */

static tg_status mpi_fail(const char *call, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return tg_error(TG_ERR_BACKEND, "tg_parallel: %s failed on rank %d: %s", call, mpi_backend.rank, msg);
}

static MPI_Datatype mpi_type(tg_parallel_dtype dt)
{
    switch (dt) {
    case TG_PARALLEL_F32: return MPI_FLOAT;
    case TG_PARALLEL_F64: return MPI_DOUBLE;
    case TG_PARALLEL_I64: return MPI_INT64_T;
    default: return MPI_UINT8_T;
    }
}

static size_t type_size(tg_parallel_dtype dt)
{
    static const size_t size[] = {4, 8, 8, 1};
    return size[dt];
}

static MPI_Op mpi_op(tg_parallel_op op)
{
    return op == TG_PARALLEL_MAX ? MPI_MAX : op == TG_PARALLEL_MIN ? MPI_MIN : MPI_SUM;
}

static tg_status mpi_allreduce(void *buf, int64_t n, tg_parallel_dtype dt, tg_parallel_op op)
{
    for (int64_t i = 0; i < n; i += CHUNK) {
        int count = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)i * type_size(dt), count, mpi_type(dt), mpi_op(op),
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Allreduce", rc);
    }
    return TG_OK;
}

/* A request: one MPI_Request per chunk. */
typedef struct mpi_req {
    int n;
    MPI_Request r[];
} mpi_req;

static tg_status mpi_isum(void *buf, int64_t n, tg_parallel_dtype dt, void **req)
{
    int chunks = (int)((n + CHUNK - 1) / CHUNK);
    mpi_req *q = malloc(sizeof *q + sizeof(MPI_Request) * (size_t)(chunks ? chunks : 1));
    if (!q) return tg_error(TG_ERR_OOM, "tg_parallel: out of memory for a request");
    q->n = 0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int count = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + (size_t)i * type_size(dt), count, mpi_type(dt), MPI_SUM,
                                MPI_COMM_WORLD, &q->r[q->n]);
        if (rc != MPI_SUCCESS) {
            free(q);
            return mpi_fail("MPI_Iallreduce", rc);
        }
        q->n++;
    }
    *req = q;
    return TG_OK;
}

static tg_status mpi_test(void *req, bool *done)
{
    mpi_req *q = req;
    int flag = 1;
    if (q) {
        int rc = MPI_Testall(q->n, q->r, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Testall", rc);
        if (flag) free(q);
    }
    *done = flag != 0;
    return TG_OK;
}

static tg_status mpi_wait(void *req)
{
    mpi_req *q = req;
    if (!q) return TG_OK;
    int rc = MPI_Waitall(q->n, q->r, MPI_STATUSES_IGNORE);
    free(q);
    return rc == MPI_SUCCESS ? TG_OK : mpi_fail("MPI_Waitall", rc);
}

static tg_status mpi_broadcast(void *buf, size_t bytes, int root)
{
    if (root < 0 || root >= mpi_backend.size)
        return tg_error(TG_ERR_INVALID, "tg_parallel_broadcast: root %d outside [0, %d)", root, mpi_backend.size);
    for (size_t i = 0; i < bytes; i += (size_t)CHUNK) {
        int count = (int)(bytes - i < (size_t)CHUNK ? bytes - i : (size_t)CHUNK);
        int rc = MPI_Bcast((char *)buf + i, count, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Bcast", rc);
    }
    return TG_OK;
}

static tg_status mpi_barrier(void)
{
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? TG_OK : mpi_fail("MPI_Barrier", rc);
}

static void mpi_finalize(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (mpi_started_here && !finalized) {
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Finalize();
    }
}

static void mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

/* True when a launcher started this process as part of an MPI job. */
static bool launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

tg_status tg_parallel_mpi_start(int *argc, char ***argv, const tg_parallel_backend **out)
{
    *out = NULL;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        if (!launched_by_mpi()) return TG_OK;
        int provided = 0;
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Init_thread", rc);
        mpi_started_here = true;
    }
    /* Errors come back as codes, so a failed call reaches the caller's
     * error path instead of killing the job without a message. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    mpi_backend = (tg_parallel_backend){
        .name = "mpi",
        .allreduce = mpi_allreduce,
        .isum = mpi_isum,
        .test = mpi_test,
        .wait = mpi_wait,
        .broadcast = mpi_broadcast,
        .barrier = mpi_barrier,
        .finalize = mpi_finalize,
        .abort = mpi_abort,
    };
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_backend.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi_backend.size);
    *out = &mpi_backend;
    return TG_OK;
}
