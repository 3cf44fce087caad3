/* Gradient check: analytic gradients from tg_backward against central finite
 * differences.
 *
 * The function under test maps inputs to one f32 output; gradcheck reduces it
 * to L = sum_i out_i * r_i with a fixed random projection r (so every output
 * element is exercised) and accumulates L in double precision. Small inputs
 * are checked element by element; large ones on a random subset of elements
 * plus random directional derivatives over all elements. */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include "tensor/tensor.h"

/* Builds the output from the inputs; must be deterministic (seeded dropout). */
typedef tg_tensor *(*tg_gradcheck_fn)(tg_tensor *const *in, int n_in, void *user);

typedef struct tg_gradcheck_opts {
    double eps;        /* finite-difference step; 0: 1e-3 */
    double atol, rtol; /* pass if |a - n| <= atol + rtol * |n|; 0: 1e-3, 1e-2 */
    int64_t max_elems; /* per input, checked one by one; 0: 256 (more: sampled) */
    int directions;    /* random directional checks; 0: 2 */
    uint64_t seed;     /* projection, sampling and directions */
} tg_gradcheck_opts;

typedef struct tg_gradcheck_report {
    int64_t checked; /* comparisons made */
    double max_abs_err;
    double max_rel_err;  /* |a - n| / max(|n|, atol) */
    int worst_input;     /* -1 for a directional check */
    int64_t worst_index; /* flat index in that input (-1: directional) */
    double worst_analytic, worst_numeric;
    char msg[512]; /* description of the worst comparison */
} tg_gradcheck_report;

/* Checks d L / d in[i] for every input with requires_grad (f32 only).
 * Overwrites those inputs' gradients and restores their values. Returns
 * TG_ERR_NUMERIC with the worst element in tg_last_error() and `rep` (may be
 * NULL) when a comparison fails, or the error of fn/backward if those fail. */
tg_status tg_gradcheck(tg_gradcheck_fn fn, tg_tensor *const *in, int n_in, void *user, const tg_gradcheck_opts *opts,
                       tg_gradcheck_report *rep);

#endif
