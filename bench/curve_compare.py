#!/usr/bin/env python3
"""Compares the training-loss curves of two train_claims runs (fp32 and bf16).

usage: curve_compare.py FP32_METRICS BF16_METRICS OUT_SVG [--window 20]

Reads the per-step "loss" and "lm_loss" of both metrics.jsonl files, smooths
each with a centered moving average of --window steps, and prints the largest
relative difference |bf16 - fp32| / fp32 of the smoothed curves (and of the
raw curves) over the steps both runs logged. Writes an SVG with both raw
curves (light) and both smoothed curves (dark).
"""
import json
import sys


def read_steps(path):
    rows = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "step" in r and "loss" in r and "lm_loss" in r:
                rows[int(r["step"])] = (float(r["loss"]), float(r["lm_loss"]))
    return rows


def smooth(v, w):
    h = w // 2
    return [sum(v[max(0, i - h):i + h + 1]) / len(v[max(0, i - h):i + h + 1]) for i in range(len(v))]


def max_rel(a, b):
    return max(abs(y - x) / abs(x) for x, y in zip(a, b))


def svg(path, steps, curves, title):
    W, H, L, R, T, B = 720, 400, 60, 20, 40, 40
    ys = [y for _, c, _ in curves for y in c]
    lo, hi = min(ys), max(ys)
    x0, x1 = steps[0], steps[-1]
    px = lambda s: L + (s - x0) / max(1, x1 - x0) * (W - L - R)
    py = lambda y: T + (hi - y) / max(1e-12, hi - lo) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="20" font-size="14">{title}</text>']
    for k in range(5):
        y = lo + (hi - lo) * k / 4
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    for k in range(6):
        s = x0 + (x1 - x0) * k / 5
        out.append(f'<text x="{px(s):.1f}" y="{H - B + 16}" text-anchor="middle">{s:.0f}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 6}" text-anchor="middle">step</text>')
    for i, (name, c, (color, width, op)) in enumerate(curves):
        pts = " ".join(f"{px(s):.1f},{py(y):.1f}" for s, y in zip(steps, c))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="{width}" opacity="{op}" points="{pts}"/>')
    leg = [(n, st[0]) for n, _, st in curves if st[1] > 1]
    for i, (n, color) in enumerate(leg):
        out.append(f'<line x1="{W - R - 170}" x2="{W - R - 150}" y1="{T + 14 + 16 * i}" y2="{T + 14 + 16 * i}" '
                   f'stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{W - R - 145}" y="{T + 18 + 16 * i}">{n}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    window = int(argv[argv.index("--window") + 1]) if "--window" in argv else 20
    a, b = read_steps(argv[1]), read_steps(argv[2])
    steps = sorted(set(a) & set(b))
    if len(steps) < 2:
        print("curve_compare: fewer than 2 common steps", file=sys.stderr)
        return 1
    for k, name in ((0, "loss"), (1, "lm_loss")):
        fa, fb = [a[s][k] for s in steps], [b[s][k] for s in steps]
        sa, sb = smooth(fa, window), smooth(fb, window)
        print(f"{name}: steps {steps[0]}-{steps[-1]}  fp32 first/last {fa[0]:.4f}/{fa[-1]:.4f}  "
              f"bf16 first/last {fb[0]:.4f}/{fb[-1]:.4f}  max rel diff smoothed({window}) "
              f"{100 * max_rel(sa, sb):.2f}%  raw {100 * max_rel(fa, fb):.2f}%")
        if k == 0:
            curves = [("fp32 raw", fa, ("#9ecae1", 1, 0.7)), ("bf16 raw", fb, ("#fdae6b", 1, 0.7)),
                      (f"fp32 (mean of {window})", sa, ("#08519c", 2, 1)),
                      (f"bf16 (mean of {window})", sb, ("#d94801", 2, 1))]
            svg(argv[3], steps, curves, f"claims training loss, fp32 vs bf16 (max smoothed diff "
                f"{100 * max_rel(sa, sb):.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
