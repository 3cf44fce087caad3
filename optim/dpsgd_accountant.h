/* Privacy accounting for DP-SGD: Renyi differential privacy (RDP) of the
 * Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019,
 * "Renyi Differential Privacy of the Sampled Gaussian Mechanism"), composed
 * over steps and converted to (epsilon, delta).
 *
 * One step: every privacy unit is included independently with probability q,
 * the clipped (norm <= C) per-unit gradients are summed and N(0, sigma^2 C^2)
 * noise is added. Its RDP at order a is log(A_a) / (a - 1) with
 * A_a = E_{z ~ N(0, s^2)}[((1 - q) + q exp((2z - 1) / (2 s^2)))^a]; integer
 * orders use the exact binomial sum, fractional ones the two-sided series of
 * the paper (Section 3.3). Steps compose additively.
 *
 * Conversion to (epsilon, delta) is the improved bound of Balle et al. 2020
 * ("Hypothesis testing interpretations and Renyi DP", Theorem 21), as used by
 * Opacus and TF-Privacy: eps = rdp + log((a - 1) / a) - (log delta + log a) /
 * (a - 1), minimized over the orders. tg_rdp_epsilon_classic gives the
 * original eps = rdp + log(1 / delta) / (a - 1) for comparison. */
#ifndef TG_OPTIM_DPSGD_ACCOUNTANT_H
#define TG_OPTIM_DPSGD_ACCOUNTANT_H

#include <stdint.h>

#include "tensor/status.h"

/* The default orders: 1.1, 1.2, ..., 10.9, then 11, 12, ..., 256. */
#define TG_RDP_N_ORDERS (99 + 246)
void tg_rdp_default_orders(double orders[TG_RDP_N_ORDERS]);

/* RDP of one step at order a > 1 (q in [0, 1], sigma > 0); +inf when
 * sigma is 0 and q > 0; 0 when q is 0. */
double tg_rdp_sgm(double q, double sigma, double a);

/* (epsilon, delta)-DP epsilon after `steps` steps (improved conversion),
 * minimized over the default orders; *best_order (may be NULL) gets the
 * minimizing order. TG_ERR_INVALID names a bad argument (q outside [0, 1],
 * sigma <= 0, steps < 0, delta outside (0, 1)). */
tg_status tg_rdp_epsilon(double q, double sigma, int64_t steps, double delta, double *eps, double *best_order);

/* The same with the classic conversion eps = rdp + log(1/delta) / (a - 1). */
tg_status tg_rdp_epsilon_classic(double q, double sigma, int64_t steps, double delta, double *eps);

/* The smallest noise multiplier sigma (to 1e-4 relative) whose epsilon after
 * `steps` steps at rate q is <= target_eps, by bisection on the monotone
 * epsilon(sigma). TG_ERR_INVALID for bad arguments or when even sigma = 1e4
 * cannot reach the target. */
tg_status tg_rdp_sigma_for_epsilon(double q, int64_t steps, double delta, double target_eps, double *sigma);

#endif
