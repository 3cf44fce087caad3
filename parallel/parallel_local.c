/* The single-process backend: one rank, so every reduction already holds
 * its result and rank 0 is every broadcast's root. Used for plain runs and
 * for builds without MPI. */
#include "parallel/parallel_backend.h"

static tg_status local_allreduce(void *buf, int64_t n, tg_parallel_dtype dt, tg_parallel_op op)
{
    (void)buf, (void)n, (void)dt, (void)op;
    return TG_OK; /* the sum, max or min over one rank is the value itself */
}

static tg_status local_isum(void *buf, int64_t n, tg_parallel_dtype dt, void **req)
{
    (void)buf, (void)n, (void)dt;
    *req = NULL; /* complete at once */
    return TG_OK;
}

static tg_status local_test(void *req, bool *done)
{
    (void)req;
    *done = true;
    return TG_OK;
}

static tg_status local_wait(void *req)
{
    (void)req;
    return TG_OK;
}

static tg_status local_broadcast(void *buf, size_t bytes, int root)
{
    (void)buf, (void)bytes;
    if (root != 0) return tg_error(TG_ERR_INVALID, "tg_parallel_broadcast: root %d outside [0, 1)", root);
    return TG_OK;
}

static tg_status local_barrier(void) { return TG_OK; }

static void local_finalize(void) {}

static void local_abort(int code) { (void)code; }

const tg_parallel_backend tg_parallel_local_backend = {
    .name = "local",
    .rank = 0,
    .size = 1,
    .allreduce = local_allreduce,
    .isum = local_isum,
    .test = local_test,
    .wait = local_wait,
    .broadcast = local_broadcast,
    .barrier = local_barrier,
    .finalize = local_finalize,
    .abort = local_abort,
};
