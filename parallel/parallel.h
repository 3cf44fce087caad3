/* Data-parallel communication: a small communicator layer over MPI.
 *
 * Every process (rank) of a job holds the whole model; each step every rank
 * computes the gradient of its own shard of the global batch, the gradients
 * are summed across ranks (all-reduce), and every rank applies the same
 * optimizer step, so the weights stay identical everywhere.
 *
 * Backends: under an MPI launcher (mpirun, mpiexec, srun with PMI/PMIx) in a
 * build with TG_MPI, tg_parallel_init starts MPI; otherwise - a plain run, or a
 * build without MPI - a single-process backend of size 1 answers every call
 * (reductions return their input, broadcast from rank 0 keeps it), so code
 * written for N ranks runs unchanged as one process. Only parallel/ includes
 * mpi.h. TG_DIST=local in the environment forces the single-process backend.
 *
 * All calls are collective unless said otherwise: every rank must make them
 * in the same order with the same sizes, from the thread that called
 * tg_parallel_init. Failures return TG_ERR_BACKEND naming the MPI call and its
 * error string; a failed collective leaves the job unusable (tg_parallel_abort).
 *
 * Gradient reduction overlapping backward (tg_parallel_reducer): parameters are
 * packed into buckets of about bucket_bytes in reverse parameter order (the
 * order backward finishes them). Armed before the last backward of a step,
 * the reducer receives each parameter's final gradient through the tape's
 * leaf hook (autograd.h) and starts a nonblocking all-reduce as soon as a
 * bucket is complete, while backward goes on with earlier layers;
 * tg_parallel_reducer_finish starts whatever is left, waits, and writes the sums
 * back. Clip, unscale and step after finish: every rank then sees the same
 * gradients, so the global norm, the clip factor and the inf/NaN skip agree
 * (tg_parallel_any makes a local decision global where it may differ).
 *
 * Loss normalization: sum gradients (TG_PARALLEL_SUM) of losses already divided
 * by the global number of targets (all-reduce the local counts first); that
 * equals the single-process gradient of the same global batch. TG_PARALLEL_MEAN
 * is right only when every rank's loss is a mean over equally sized shards.
 *
 * DP-SGD (per-sample clipping + Gaussian noise), contract for the privacy
 * code: clip per sample locally (before any reduction), sum across ranks,
 * then add the noise ONCE. Do it this way: after the sum (finish, or
 * tg_parallel_allreduce_grads), every rank draws the full noise N(0, sigma^2 C^2)
 * from the same counter-based stream (same seed and counter on every rank:
 * the context RNG is broadcast at start and the claims trainer advances it
 * identically on all ranks each step) and adds it unscaled - not divided by
 * size - so all ranks add identical noise and the sum holds one draw. Then
 * divide by the global batch size as usual. The privacy accountant's sample
 * rate is global batch / dataset size, independent of the number of ranks.
 * If per-sample clipping rewrites gradients after the tape walk, do not arm
 * the reducer (its hook would send unclipped sums): call
 * tg_parallel_allreduce_grads after clipping instead. */
#ifndef TG_PARALLEL_H
#define TG_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optim/optim.h"
#include "optim/param.h"
#include "tensor/status.h"

typedef enum tg_parallel_op {
    TG_PARALLEL_SUM = 0,
    TG_PARALLEL_MEAN, /* sum / size (floating types only) */
    TG_PARALLEL_MAX,
    TG_PARALLEL_MIN
} tg_parallel_op;

/* Starts the communicator: MPI when launched by an MPI launcher in a TG_MPI
 * build, else the single-process backend. argc/argv may be NULL. Calling it
 * again is a no-op. TG_ERR_BACKEND when MPI fails to start. */
tg_status tg_parallel_init(int *argc, char ***argv);

/* Shuts MPI down (after a barrier); no-op for the single-process backend or
 * before init. Not collective-safe after a failed collective: use abort. */
void tg_parallel_finalize(void);

/* Kills every rank of the job with exit code `code` (MPI_Abort); for one
 * process it returns without exiting, so the caller exits as usual. */
void tg_parallel_abort(int code);

/* This process's rank (0..size-1) and the number of ranks; 0 and 1 before
 * init. Not collective. */
int tg_parallel_rank(void);
int tg_parallel_size(void);
/* True when this rank handles item k of a round-robin split:
 * k % size == rank. Not collective. */
bool tg_parallel_owns(int64_t k);

/* "mpi" or "local". Not collective. */
const char *tg_parallel_backend_name(void);

/* True when the library was built with MPI support (TG_MPI). Not collective. */
bool tg_parallel_mpi_built(void);

/* In-place all-reduce of n elements (n >= 0, same n on every rank). MEAN on
 * integers is TG_ERR_INVALID. */
tg_status tg_parallel_allreduce_f32(float *buf, int64_t n, tg_parallel_op op);
tg_status tg_parallel_allreduce_f64(double *buf, int64_t n, tg_parallel_op op);
tg_status tg_parallel_allreduce_i64(int64_t *buf, int64_t n, tg_parallel_op op);

/* *any = true on every rank when `local` is true on at least one (e.g. a loss
 * scaler overflow or a stop request seen by one rank). */
tg_status tg_parallel_any(bool local, bool *any);

/* Copies `bytes` bytes of buf on rank `root` into buf on every rank.
 * TG_ERR_INVALID for a root outside [0, size). */
tg_status tg_parallel_broadcast(void *buf, size_t bytes, int root);

/* Returns on every rank once all ranks have called it. */
tg_status tg_parallel_barrier(void);

/* Broadcasts every parameter value of ps from rank 0 (all ranks must hold
 * the same parameter list with the same shapes). */
tg_status tg_parallel_broadcast_params(tg_param_set *ps);

/* Broadcasts the optimizer's state tensors, its step count and per-parameter
 * step counts from rank 0 (the same optimizer kind on every rank). */
tg_status tg_parallel_broadcast_optim(tg_optim *opt);

/* Blocking all-reduce of every gradient of ps (a gradient missing on a rank
 * counts as zeros there; it is created where any rank has one, and stays
 * missing where no rank has). For DP-SGD after per-sample clipping, or any
 * loop that does not overlap reduction with backward. */
tg_status tg_parallel_allreduce_grads(tg_param_set *ps, tg_parallel_op op);

/* ---- bucketed gradient reduction overlapping backward ---- */

typedef struct tg_parallel_reducer tg_parallel_reducer;

/* A reducer over the gradients of ps (borrowed; must outlive it) with
 * buckets of about bucket_bytes (0: 4 MiB; a parameter larger than that has
 * a bucket of its own). f64: buckets accumulate and send doubles (twice the
 * bytes), so the f32 result - rounded once, at the end - is the same for any
 * number of ranks (sums of a few f32 values in double are exact in practice)
 * and training with N ranks reproduces one process; false: f32 sums, whose
 * rounding depends on how the ranks split the batch. Not collective. NULL
 * with TG_ERR_INVALID (NULL ps) or TG_ERR_OOM. Free with
 * tg_parallel_reducer_destroy. */
tg_parallel_reducer *tg_parallel_reducer_create(tg_param_set *ps, size_t bucket_bytes, bool f64);

/* Frees the reducer (uninstalling its hook when still armed, as after an
 * error mid-step); accepts NULL. */
void tg_parallel_reducer_destroy(tg_parallel_reducer *r);

/* Moves the current gradients into the reducer's buckets (added in its
 * precision) and zeroes them: call after every backward of a step but the
 * last, so each micro-batch's gradient starts from zero and the sum over
 * micro-batches does not depend on which rank computed which. Not
 * collective. TG_ERR_STATE when armed. */
tg_status tg_parallel_reducer_accumulate(tg_parallel_reducer *r);

/* Installs the reducer as this thread's backward leaf hook: during the next
 * backwards, each bucket whose gradients are all final starts its
 * all-reduce. Arm only for a rank's last backward of the step (earlier ones
 * still add to the gradients). TG_ERR_STATE when already armed. Not
 * collective. */
tg_status tg_parallel_reducer_arm(tg_parallel_reducer *r);

/* Collective: starts the buckets not started yet (all of them when the
 * reducer was not armed, e.g. a rank with no data this step), waits for
 * every bucket, writes the reduced sums (accumulated micro-batches plus the
 * current gradients over all ranks; MEAN: / size) into the gradients
 * (missing gradients as in tg_parallel_allreduce_grads) and uninstalls the hook.
 * With one rank and nothing accumulated it leaves the gradients as they are. */
tg_status tg_parallel_reducer_finish(tg_parallel_reducer *r, tg_parallel_op op);

typedef struct tg_parallel_reducer_stats {
    int buckets;             /* buckets over the parameter set */
    int started_in_backward; /* buckets started by the hook, last finish */
    int64_t bytes;           /* bytes all-reduced per finish (gradients + flags) */
    double wait_s;           /* seconds spent waiting in the last finish */
} tg_parallel_reducer_stats;

/* Bucket layout and what the last finish did. Not collective. */
tg_parallel_reducer_stats tg_parallel_reducer_get_stats(const tg_parallel_reducer *r);

#endif
