/* Gradient clipping over a tg_param_set (parameters without a gradient are
 * skipped).
 *
 * Non-finite gradients: tg_clip_grad_norm computes the norm without touching
 * any gradient first; if it is inf or NaN it leaves every gradient unchanged,
 * reports the norm (inf when some element is inf and none is NaN, else NaN)
 * and returns TG_ERR_NUMERIC naming the first offending parameter. The caller
 * must then skip the optimizer step (as the loss scaler does), so no weight
 * ever becomes NaN through clipping. */
#ifndef TG_OPTIM_CLIP_H
#define TG_OPTIM_CLIP_H

#include "optim/param.h"
#include "tensor/status.h"

/* Global L2 norm over all gradients, accumulated in double. *norm (may be
 * NULL) receives it. TG_ERR_INVALID for a NULL set. */
tg_status tg_grad_global_norm(const tg_param_set *ps, double *norm);

/* Scales all gradients by max_norm / (norm + 1e-6) when that is < 1 (as
 * torch.nn.utils.clip_grad_norm_). *norm (may be NULL) receives the norm
 * before clipping. TG_ERR_INVALID when max_norm is not finite and > 0;
 * TG_ERR_NUMERIC for a non-finite norm (see above). */
tg_status tg_clip_grad_norm(tg_param_set *ps, double max_norm, double *norm);

/* Clamps every gradient element into [-clip, clip]; +-inf become +-clip.
 * NaN elements stay NaN and make it return TG_ERR_NUMERIC naming the first
 * such parameter (after clamping all others). TG_ERR_INVALID unless clip is
 * finite and > 0. */
tg_status tg_clip_grad_value(tg_param_set *ps, double clip);

#endif
