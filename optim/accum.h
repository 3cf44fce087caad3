/* Gradient accumulation normalized by target tokens.
 *
 * Each micro-batch's loss is a SUM over its target tokens (not a mean);
 * backward accumulates (+=) the gradients. After the last micro-batch,
 * tg_accum_finish divides every gradient by the total number of target
 * tokens, so the result equals the mean-loss gradient of the whole batch
 * regardless of how padding split the tokens between micro-batches. */
#ifndef TG_OPTIM_ACCUM_H
#define TG_OPTIM_ACCUM_H

#include <stdint.h>

#include "optim/param.h"
#include "tensor/status.h"

typedef struct tg_accum {
    int64_t tokens;    /* target tokens added since the last finish */
    int micro_batches; /* micro-batches added since the last finish */
} tg_accum;

/* Starts a new accumulation (zeroes the counters; gradients untouched). */
void tg_accum_reset(tg_accum *a);
/* Counts one micro-batch with `tokens` target tokens (>= 0, else TG_ERR_INVALID). */
tg_status tg_accum_add(tg_accum *a, int64_t tokens);
/* Divides every gradient of ps by the accumulated token count and resets the
 * counters. TG_ERR_INVALID when no token was counted (gradients untouched). */
tg_status tg_accum_finish(tg_accum *a, tg_param_set *ps);
/* Divides every gradient of ps by total_tokens (>= 1, else TG_ERR_INVALID). */
tg_status tg_grads_normalize(tg_param_set *ps, int64_t total_tokens);

#endif
