#!/usr/bin/python3
"""Fits the polynomial coefficients of autograd/ops/vmath.h.

Weighted least squares on Chebyshev nodes, reweighted toward the points of
largest error (a cheap approach to minimax), then checked by evaluating the
polynomial in float32 as the C code does. Prints coefficients highest degree
first, as the Horner chains in vmath.h use them.

    /usr/bin/python3 scripts/fit_vmath.py
"""
import math

import numpy as np

f32 = np.float32
erf = np.vectorize(math.erf)
erfc = np.vectorize(math.erfc)


def fit(fn, lo, hi, deg, var, iters=30, n=4000):
    """Coefficients (highest first) of P(var(x)) ~ fn(x) on [lo, hi], relative error."""
    xs = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    t, y, w = var(xs), fn(xs), np.ones(n)
    for _ in range(iters):
        s = w / np.abs(y)
        c, *_ = np.linalg.lstsq(np.vander(t, deg + 1) * s[:, None], y * s, rcond=None)
        e = np.abs(np.polyval(c, t) - y) / np.abs(y)
        w = w * (e / e.max()) ** 0.3 + 1e-3 * w
    return c.astype(f32)


def horner(c, t):
    r = np.full_like(t, c[0])
    for a in c[1:]:
        r = (r * t).astype(f32) + a
    return r


def show(name, c, err):
    print("%s (max error %.3g):" % (name, err))
    print("  " + ", ".join("%.9g" % v for v in c))


half_ln2 = math.log(2) / 2
c = fit(lambda r: (np.expm1(r) - r) / (r * r), -half_ln2, half_ln2, 5, lambda r: r)
r = np.linspace(-half_ln2, half_ln2, 100001).astype(f32)
show("expf: e^r = 1 + r + r^2 P(r)", c,
     (np.abs((horner(c, r) * (r * r) + r + 1) - np.exp(r.astype(float))) / np.exp(r.astype(float))).max())

c = fit(lambda x: (np.tanh(x) - x) / x**3, 1e-3, 0.625, 4, lambda x: x * x)
x = np.linspace(1e-6, 0.625, 100001).astype(f32)
z = (x * x).astype(f32)
show("tanhf: x + x^3 P(x^2), |x| < 0.625", c,
     (np.abs((horner(c, z) * z * x + x) - np.tanh(x.astype(float))) / np.tanh(x.astype(float))).max())

c = fit(lambda x: erf(x) / x, 1e-4, 1.0, 5, lambda x: x * x)
x = np.linspace(1e-6, 1, 100001).astype(f32)
show("erff: x P(x^2), |x| <= 1", c, np.abs(horner(c, (x * x).astype(f32)) * x - erf(x.astype(float))).max())

c = fit(lambda x: erfc(x) * np.exp(x * x), 1.0, 3.95, 10, lambda x: x - 2.5)
x = np.linspace(1, 3.95, 100001).astype(f32)
e = np.exp(-(x * x).astype(f32).astype(float)).astype(f32)
show("erff: 1 - e^{-x^2} R(x - 2.5), 1 < x < 3.95", c,
     np.abs((f32(1) - e * horner(c, (x - f32(2.5)).astype(f32))) - erf(x.astype(float))).max())
