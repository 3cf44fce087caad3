#include "models/claims/train/parallel_train.h"

#include "parallel/parallel.h"
#include "tensor/ctx.h"

#define MICRO_RNG_SPAN ((uint64_t)1 << 40)

size_t claims_parallel_bucket_bytes(int64_t numel)
{
    const size_t lo = (size_t)1 << 20, hi = (size_t)32 << 20, b = (size_t)numel * sizeof(double) / 8;
    return b < lo ? lo : b > hi ? hi : b;
}

int claims_parallel_last_owned(int accum)
{
    int last = -1;
    for (int k = 0; k < accum; k++)
        if (tg_parallel_owns(k)) last = k;
    return last;
}

tg_rng claims_parallel_micro_rng(tg_rng step, int k)
{
    return (tg_rng){.seed = step.seed, .counter = step.counter + (uint64_t)k * MICRO_RNG_SPAN};
}

tg_rng claims_parallel_step_rng_end(tg_rng step, int accum) { return claims_parallel_micro_rng(step, accum); }

tg_status claims_parallel_denominators(double *w, double *docs, int accum, double *lm_denom, double *dec_denom)
{
    TG_TRY(tg_parallel_allreduce_f64(w, accum, TG_PARALLEL_SUM));
    TG_TRY(tg_parallel_allreduce_f64(docs, accum, TG_PARALLEL_SUM));
    *lm_denom = *dec_denom = 0;
    for (int k = 0; k < accum; k++) {
        *lm_denom += w[k];
        *dec_denom += docs[k];
    }
    return TG_OK;
}

tg_status claims_parallel_sync(tg_param_set *ps, tg_optim *opt, tg_scaler *sc, tg_train_state *st, double *threshold)
{
    if (tg_parallel_size() == 1) return TG_OK;
    TG_TRY(tg_parallel_broadcast_params(ps));
    TG_TRY(tg_parallel_broadcast_optim(opt));
    TG_TRY(tg_parallel_broadcast(sc, sizeof *sc, 0));
    TG_TRY(tg_parallel_broadcast(st, sizeof *st, 0));
    TG_TRY(tg_parallel_broadcast(threshold, sizeof *threshold, 0));
    return tg_parallel_broadcast(tg_ctx_rng(tg_ctx_current()), sizeof(tg_rng), 0);
}
