/* Gradient accumulation: count target tokens, then normalize once. */
#include "optim/accum.h"

void tg_accum_reset(tg_accum *a) { *a = (tg_accum){0}; }

tg_status tg_accum_add(tg_accum *a, int64_t tokens)
{
    if (!a) return tg_error(TG_ERR_INVALID, "tg_accum_add: NULL accumulator");
    if (tokens < 0) return tg_error(TG_ERR_INVALID, "tg_accum_add: tokens %lld must be >= 0", (long long)tokens);
    a->tokens += tokens;
    a->micro_batches++;
    return TG_OK;
}

tg_status tg_grads_normalize(tg_param_set *ps, int64_t total_tokens)
{
    if (total_tokens < 1)
        return tg_error(TG_ERR_INVALID, "tg_grads_normalize: total_tokens %lld must be >= 1", (long long)total_tokens);
    return tg_param_set_scale_grads(ps, 1.0 / (double)total_tokens);
}

tg_status tg_accum_finish(tg_accum *a, tg_param_set *ps)
{
    if (!a) return tg_error(TG_ERR_INVALID, "tg_accum_finish: NULL accumulator");
    if (a->tokens < 1)
        return tg_error(TG_ERR_INVALID, "tg_accum_finish: no target tokens in %d micro-batches", a->micro_batches);
    tg_status st = tg_grads_normalize(ps, a->tokens);
    if (st == TG_OK) tg_accum_reset(a);
    return st;
}
