/* Dynamic loss scaling for reduced-precision training.
 *
 * Per step: multiply the loss by tg_scaler_scale() before backward; call
 * tg_scaler_unscale() (gradients *= 1/scale, inf/NaN detected in the same
 * pass); step the optimizer only if tg_scaler_should_step(); then always call
 * tg_scaler_update(). On overflow, update counts a skipped step and multiplies
 * the scale by backoff (not below min_scale); after growth_interval clean
 * steps in a row it multiplies the scale by growth (not above max_scale).
 *
 * The struct is plain data: scale, good_steps and skipped are the state to
 * save in a checkpoint (restore them by assignment after tg_scaler_init). */
#ifndef TG_OPTIM_SCALER_H
#define TG_OPTIM_SCALER_H

#include <stdbool.h>
#include <stdint.h>

#include "optim/param.h"
#include "tensor/status.h"

typedef struct tg_scaler_opts {
    double init_scale;       /* > 0; default 65536 (2^16) */
    double growth;           /* > 1; default 2 */
    double backoff;          /* in (0, 1); default 0.5 */
    int64_t growth_interval; /* >= 1; default 2000 */
    double min_scale;        /* > 0; default 1 */
    double max_scale;        /* >= min_scale, finite; default 2^32 */
} tg_scaler_opts;

typedef struct tg_scaler {
    tg_scaler_opts opts;
    double scale;       /* current loss scale */
    int64_t good_steps; /* clean steps since the last growth or overflow */
    int64_t skipped;    /* steps skipped because of inf/NaN, in total */
    bool found_inf;     /* result of the last unscale */
    bool unscaled;      /* unscale called since the last update */
} tg_scaler;

/* The defaults listed above. */
tg_scaler_opts tg_scaler_default_opts(void);
/* Initializes s from opts (NULL = defaults); TG_ERR_INVALID naming a bad
 * option. */
tg_status tg_scaler_init(tg_scaler *s, const tg_scaler_opts *opts);
/* The factor to multiply the loss by. */
double tg_scaler_scale(const tg_scaler *s);
/* Multiplies every gradient of ps by 1/scale and records whether any
 * gradient holds inf/NaN afterwards. TG_ERR_STATE if called twice without
 * tg_scaler_update in between (that would unscale twice). */
tg_status tg_scaler_unscale(tg_scaler *s, tg_param_set *ps);
/* True when the last unscale found only finite gradients. */
bool tg_scaler_should_step(const tg_scaler *s);
/* Ends the step: backs off and counts a skip on overflow, else counts a good
 * step and grows the scale every growth_interval of them. TG_ERR_STATE if
 * tg_scaler_unscale was not called this step. */
tg_status tg_scaler_update(tg_scaler *s);

#endif
