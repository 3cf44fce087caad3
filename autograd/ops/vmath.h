/* Vectorizable single-precision expf, tanhf and erff for the op kernels (not
 * installed). libm's versions are opaque calls that keep `#pragma omp simd`
 * loops scalar unless fast-math optimizations are on (this project forbids them); these
 * are inline and branch-free per lane (bit-mask selects, no calls, no table
 * lookups) so GCC vectorizes the loops that use them.
 *
 * Accuracy (checked by tests/test_vmath.c against double-precision libm):
 *   tg_vexpf   ~1-2 ulp; overflow gives +inf, underflow 0 (through the
 *              subnormals), NaN propagates
 *   tg_vexpf_fast  relative ~2e-7 for normal results, flushes below 2^-126
 *   tg_vtanhf  relative error ~2e-7, exact sign, +-1 for large |x|
 *   tg_verff   absolute error ~1.5e-7, relative ~2e-7 near 0
 * The polynomial coefficients are least-squares fits refined toward minimax
 * (scripts/fit_vmath.py) for the reduced ranges below. */
#ifndef TG_VMATH_H
#define TG_VMATH_H

#include <math.h>
#include <stdint.h>

/* The clamps below work on the bit patterns with integer min/max: a float
 * ternary against a constant lets GCC split the loop body into a constant
 * path and a computed one, and the resulting control flow stops the
 * vectorizer; integer min/max is a single instruction. */

static inline float tg_vmath_float(uint32_t u)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = u};
    return v.f;
}

static inline uint32_t tg_vmath_bits(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    return v.u;
}

/* c ? a : b by bit masks. A plain ternary lets GCC sink the computation of
 * each arm into a branch, and without -fno-trapping-math it will not
 * if-convert floating-point arithmetic back out of branches, so the loop
 * would stay scalar. */
static inline float tg_vmath_select(int c, float a, float b)
{
    const uint32_t m = 0u - (uint32_t)(c != 0);
    return tg_vmath_float((tg_vmath_bits(a) & m) | (tg_vmath_bits(b) & ~m));
}

static inline uint32_t tg_vmath_minu(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* f32 -> bf16, round to nearest even, NaN kept quiet: tg_f32_to_bf16 in a
 * form that vectorizes inside a kernel's loop. */
static inline uint16_t tg_vbf16(float f)
{
    const uint32_t u = tg_vmath_bits(f), r = u + 0x7fffu + ((u >> 16) & 1u);
    return (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40) : (uint16_t)(r >> 16);
}

/* bf16 -> f32 (exact) inside a kernel's loop. */
static inline float tg_vf32(uint16_t b) { return tg_vmath_float((uint32_t)b << 16); }

static inline int32_t tg_vmath_mins(int32_t a, int32_t b) { return a < b ? a : b; }

/* Largest of x[0..n) (-inf when n is 0; NaN is skipped as a plain
 * comparison skips it). Four vectors of running maxima instead of one: a
 * single accumulator would wait on each max's latency, and a long row's
 * max pass would cost as much as its exponentials. */
static inline float tg_vmax_n(const float *x, int64_t n)
{
    enum { W = 64 };
    float acc[W];
    for (int k = 0; k < W; k++) acc[k] = -INFINITY;
    int64_t j = 0;
    for (; j + W <= n; j += W)
#pragma omp simd
        for (int k = 0; k < W; k++) acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
    float mx = -INFINITY;
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    for (int k = 0; k < W; k++) mx = acc[k] > mx ? acc[k] : mx;
    return mx;
}

/* e^x. With x = n ln2 + r, |r| <= ln2/2: e^r by a degree-7 polynomial
 * (1 + r + r^2 P(r)), 2^n built in the exponent bits in two halves so
 * that results down in the subnormals and up to overflow stay exact. */
static inline float tg_vexpf(float x)
{
    /* clamp to [-104, 88.8], beyond which the result is 0 or inf anyway:
     * as unsigned, negative floats sort above positive ones and by
     * magnitude, so min with -104's bits bounds them (NaN too; it is
     * restored at the end); then, as signed, negative floats sort below
     * all positive ones and min with 88.8's bits bounds those. */
    const uint32_t lo = tg_vmath_minu(tg_vmath_bits(x), 0xC2D00000u);                  /* -104 */
    const float xc = tg_vmath_float((uint32_t)tg_vmath_mins((int32_t)lo, 0x42B1999A)); /* 88.8 */
    /* round to nearest integer by the 1.5 * 2^23 trick (|t - 1.5 * 2^23| < 2^22):
     * n sits in the low mantissa bits of t */
    const float t = xc * 1.44269504088896341f + 12582912.0f;
    const float kf = t - 12582912.0f;
    /* Cody-Waite: ln2 split so that kf * hi is exact */
    const float r = (xc - kf * 0.693359375f) - kf * -2.12194440e-4f;
    float p = 1.98577516e-4f;
    p = p * r + 1.39335974e-3f;
    p = p * r + 8.33336078e-3f;
    p = p * r + 4.16664667e-2f;
    p = p * r + 1.66666672e-1f;
    p = p * r + 0.5f;
    const float er = (p * (r * r) + r) + 1.0f;
    const int32_t n = (int32_t)(tg_vmath_bits(t) - 0x4B400000u), n1 = n / 2, n2 = n - n1;
    const float y = er * tg_vmath_float((uint32_t)(n1 + 127) << 23) * tg_vmath_float((uint32_t)(n2 + 127) << 23);
    /* a NaN x gives a quiet NaN */
    const uint32_t nan = (tg_vmath_bits(x) & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC00000u : 0u;
    return tg_vmath_float(tg_vmath_bits(y) | nan);
}

/* e^x for softmax-like kernels, whose arguments are <= 0 or whose results
 * saturate anyway: a degree-5 polynomial (relative error ~2e-7, as the
 * rounding of the result) and one 2^n scale, so about a quarter fewer
 * instructions than tg_vexpf. Results below 2^-126 (x < -87.3) flush to 0,
 * x > 88.37 gives +inf (a little early), NaN propagates. */
static inline float tg_vexpf_fast(float x)
{
    const uint32_t lo = tg_vmath_minu(tg_vmath_bits(x), 0xC2B00000u);                  /* -88: 2^n = 0 */
    const float xc = tg_vmath_float((uint32_t)tg_vmath_mins((int32_t)lo, 0x42B20000)); /* 89: 2^n = inf */
    const float t = xc * 1.44269504088896341f + 12582912.0f, kf = t - 12582912.0f;
    const float r = (xc - kf * 0.693359375f) - kf * -2.12194440e-4f;
    float p = 8.33321e-3f;
    p = p * r + 4.189775e-2f;
    p = p * r + 1.6666893e-1f;
    p = p * r + 4.9999151e-1f;
    const float er = (p * (r * r) + r) + 1.0f;
    const int32_t n = (int32_t)(tg_vmath_bits(t) - 0x4B400000u); /* -127 .. 128: exponent bits 0 .. 255 */
    const float y = er * tg_vmath_float((uint32_t)(n + 127) << 23);
    const uint32_t nan = (tg_vmath_bits(x) & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC00000u : 0u;
    return tg_vmath_float(tg_vmath_bits(y) | nan);
}

/* GELU (tanh approximation) as x * sigmoid(2u), u = sqrt(2/pi) (x + c x^3):
 * the same function as 0.5 x (1 + tanh u), one exp and one division per
 * element, and no cancellation where tanh u is near -1. e^{-2u} overflows
 * to inf for very negative x, giving the limit -0. tg_vgelu_grad is its
 * derivative s + 2 x s (1 - s) u'. */
static inline float tg_vgelu_sig(float x)
{
    return 1.0f / (1.0f + tg_vexpf_fast(-2.0f * 0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

static inline float tg_vgelu(float x) { return x * tg_vgelu_sig(x); }

static inline float tg_vgelu_grad(float x)
{
    const float s = tg_vgelu_sig(x), du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x * x);
    return s + 2.0f * x * s * (1.0f - s) * du;
}

/* tanh(x): an odd polynomial |x| + |x|^3 P(x^2) for |x| < 0.625, where
 * 1 - 2 / (e^{2|x|} + 1) would cancel, and that formula above it (the exp
 * overflows to inf for large |x|, giving exactly 1); x's sign is copied
 * onto either (so tanh(-0) = -0). */
static inline float tg_vtanhf(float x)
{
    const float ax = fabsf(x);
    const float z = x * x;
    float p = -6.09767716e-3f;
    p = p * z + 2.09980048e-2f;
    p = p * z - 5.38511425e-2f;
    p = p * z + 1.33327723e-1f;
    p = p * z - 3.33333284e-1f;
    const float small = (p * z) * ax + ax;
    const float big = 1.0f - 2.0f / (tg_vexpf(2.0f * ax) + 1.0f);
    return copysignf(tg_vmath_select(ax < 0.625f, small, big), x);
}

/* erf(x): x P(x^2) for |x| <= 1; 1 - e^{-x^2} R(|x| - 2.5) for |x| > 1,
 * where R fits erfc(x) e^{x^2} on (1, 3.95]; beyond 3.95 R's argument is
 * clamped, and the result rounds to exactly 1 as erf does in float. NaN
 * fails the comparison and propagates through the first branch. */
static inline float tg_verff(float x)
{
    const float ax = fabsf(x);
    const float z = x * x;
    float p = -5.63202077e-4f;
    p = p * z + 4.91771707e-3f;
    p = p * z - 2.67114788e-2f;
    p = p * z + 1.12801872e-1f;
    p = p * z - 3.76123279e-1f;
    p = p * z + 1.12837911f;
    const float small = p * x;
    /* ax is >= 0 (or NaN): its bits order like the value */
    const float u = tg_vmath_float((uint32_t)tg_vmath_mins((int32_t)tg_vmath_bits(ax), 0x407CCCCD)) - 2.5f; /* 3.95 */
    float q = 1.64979872e-6f;
    q = q * u - 6.30009026e-6f;
    q = q * u + 1.45259864e-5f;
    q = q * u - 5.39752873e-5f;
    q = q * u + 2.12546496e-4f;
    q = q * u - 7.38413772e-4f;
    q = q * u + 2.46638572e-3f;
    q = q * u - 7.99966697e-3f;
    q = q * u + 2.49380749e-2f;
    q = q * u - 7.43475556e-2f;
    q = q * u + 2.10806370e-1f;
    const float big = 1.0f - tg_vexpf(-z) * q;
    return tg_vmath_select(ax > 1.0f, copysignf(big, x), small);
}

#endif
