#include "optim/dpsgd_accountant.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

static double log_add(double a, double b)
{
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    double m = fmax(a, b);
    return m + log1p(exp(-fabs(a - b)));
}

/* log(exp(a) - exp(b)) for a >= b. */
static double log_sub(double a, double b)
{
    if (b == -INFINITY) return a;
    if (a <= b) return -INFINITY;
    return a + log1p(-exp(b - a));
}

/* log(erfc(x)), with the asymptotic series where erfc underflows. */
static double log_erfc(double x)
{
    double e = erfc(x);
    if (e > 1e-300) return log(e);
    double x2 = x * x; /* erfc(x) ~ exp(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4)) */
    return -x2 - log(x) - 0.5 * log(M_PI) + log1p(-1.0 / (2 * x2) + 3.0 / (4 * x2 * x2));
}

/* log A_a for integer a: sum_i C(a, i) q^i (1-q)^(a-i) exp((i^2 - i) / (2 s^2)). */
static double log_a_int(double q, double sigma, int a)
{
    double acc = -INFINITY;
    for (int i = 0; i <= a; i++) {
        double lc = lgamma(a + 1.0) - lgamma(i + 1.0) - lgamma(a - i + 1.0);
        double s = lc + i * log(q) + (a - i) * log1p(-q) + (double)(i * i - i) / (2 * sigma * sigma);
        acc = log_add(acc, s);
    }
    return acc;
}

/* log A_a for fractional a: the paper's series split at z0 where the two
 * Gaussians' mixture ratio crosses 1. */
static double log_a_frac(double q, double sigma, double a)
{
    double a0 = -INFINITY, a1 = -INFINITY, coef = 1.0;
    const double z0 = sigma * sigma * log(1 / q - 1) + 0.5;
    for (int i = 0; i < 100000; i++) {
        if (i > 0) coef *= (a - i + 1) / i; /* generalized binomial C(a, i) */
        double lc = log(fabs(coef)), j = a - i;
        double t0 = lc + i * log(q) + j * log1p(-q), t1 = lc + j * log(q) + i * log1p(-q);
        double e0 = log(0.5) + log_erfc((i - z0) / (M_SQRT2 * sigma));
        double e1 = log(0.5) + log_erfc((z0 - j) / (M_SQRT2 * sigma));
        double s0 = t0 + (i * (double)i - i) / (2 * sigma * sigma) + e0;
        double s1 = t1 + (j * j - j) / (2 * sigma * sigma) + e1;
        if (coef > 0) {
            a0 = log_add(a0, s0);
            a1 = log_add(a1, s1);
        } else {
            a0 = log_sub(a0, s0);
            a1 = log_sub(a1, s1);
        }
        if (fmax(s0, s1) < -30) break;
    }
    return log_add(a0, a1);
}

double tg_rdp_sgm(double q, double sigma, double a)
{
    if (q == 0) return 0.0;
    if (sigma <= 0) return INFINITY;
    if (q == 1.0) return a / (2 * sigma * sigma);
    double la = a == floor(a) ? log_a_int(q, sigma, (int)a) : log_a_frac(q, sigma, a);
    return la / (a - 1);
}

void tg_rdp_default_orders(double orders[TG_RDP_N_ORDERS])
{
    int k = 0;
    for (int x = 1; x < 100; x++) orders[k++] = 1 + x / 10.0;
    for (int a = 11; a <= 256; a++) orders[k++] = a;
}

static tg_status check_args(const char *fn, double q, double sigma, int64_t steps, double delta)
{
    if (!(q >= 0 && q <= 1) || !(sigma > 0) || !isfinite(sigma) || steps < 0 || !(delta > 0 && delta < 1))
        return tg_error(TG_ERR_INVALID,
                        "%s: need q in [0, 1] (%g), finite sigma > 0 (%g), steps >= 0 (%lld), "
                        "delta in (0, 1) (%g)",
                        fn, q, sigma, (long long)steps, delta);
    return TG_OK;
}

static double convert(double rdp, double a, double delta, bool improved)
{
    if (!improved) return rdp + log(1 / delta) / (a - 1);
    return rdp + log((a - 1) / a) - (log(delta) + log(a)) / (a - 1);
}

static double best_epsilon(double q, double sigma, int64_t steps, double delta, bool improved, double *best_order)
{
    double orders[TG_RDP_N_ORDERS], best = INFINITY, order = NAN;
    tg_rdp_default_orders(orders);
    for (int k = 0; k < TG_RDP_N_ORDERS; k++) {
        double e = convert((double)steps * tg_rdp_sgm(q, sigma, orders[k]), orders[k], delta, improved);
        if (e < best) best = e, order = orders[k];
    }
    if (best_order) *best_order = order;
    return best < 0 ? 0.0 : best;
}

tg_status tg_rdp_epsilon(double q, double sigma, int64_t steps, double delta, double *eps, double *best_order)
{
    TG_TRY(check_args("tg_rdp_epsilon", q, sigma, steps, delta));
    *eps = best_epsilon(q, sigma, steps, delta, true, best_order);
    return TG_OK;
}

tg_status tg_rdp_epsilon_classic(double q, double sigma, int64_t steps, double delta, double *eps)
{
    TG_TRY(check_args("tg_rdp_epsilon_classic", q, sigma, steps, delta));
    *eps = best_epsilon(q, sigma, steps, delta, false, NULL);
    return TG_OK;
}

tg_status tg_rdp_sigma_for_epsilon(double q, int64_t steps, double delta, double target_eps, double *sigma)
{
    TG_TRY(check_args("tg_rdp_sigma_for_epsilon", q, 1.0, steps, delta));
    if (!(target_eps > 0) || !isfinite(target_eps))
        return tg_error(TG_ERR_INVALID, "tg_rdp_sigma_for_epsilon: target epsilon %g must be finite and > 0",
                        target_eps);
    double lo = 1e-2, hi = 1e4;
    if (best_epsilon(q, hi, steps, delta, true, NULL) > target_eps)
        return tg_error(TG_ERR_INVALID,
                        "tg_rdp_sigma_for_epsilon: epsilon %g unreachable at q %g over %lld steps "
                        "(delta %g) even with sigma %g",
                        target_eps, q, (long long)steps, delta, hi);
    if (best_epsilon(q, lo, steps, delta, true, NULL) <= target_eps) {
        *sigma = lo;
        return TG_OK;
    }
    while (hi - lo > 1e-4 * hi) { /* invariant: eps(lo) > target >= eps(hi) */
        double mid = 0.5 * (lo + hi);
        if (best_epsilon(q, mid, steps, delta, true, NULL) > target_eps)
            lo = mid;
        else
            hi = mid;
    }
    *sigma = hi;
    return TG_OK;
}
