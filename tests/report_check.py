#!/usr/bin/env python3
"""Checks a claims report as Chromium rendered it.

Usage: report_check.py eval|train DOM_FILE [SCREENSHOT_PNG]

DOM_FILE is `chromium --dump-dom` of the page. An evaluation report must have
every section (<h2 id=...>) and its five charts; a training report its step
charts, with validation curves of more than two points. Every chart must plot
points, and its axis ticks must be nice numbers (a 1, 2 or 5 times 10^k step
on a linear axis, 1 to 9 times 10^k on a log one). The screenshot, when given,
must be mostly background yet show the charts' colors. Prints each problem and
exits 1 on any."""
import math
import re
import struct
import sys
import zlib
from html.parser import HTMLParser

EVAL_SECTIONS = ["summary", "policy", "confusion", "reasons", "roc-pr", "cost-threshold", "calibration",
                 "scores", "config", "run"]
NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?(e[-+][0-9]+)?$")


class Page(HTMLParser):
    """Headings, and per chart its title, tick labels and plotted points."""

    def __init__(self):
        super().__init__()
        self.sections, self.charts, self.text = [], [], []
        self.depth = 0  # <svg> nesting inside a chart
        self.in_text = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2" and a.get("id"):
            self.sections.append(a["id"])
        if tag == "svg" and "chart" in (a.get("class") or "").split():
            self.charts.append({"texts": [], "points": [], "circles": 0})
            self.depth = 1
        elif tag == "svg" and self.depth:
            self.depth += 1
        if not self.depth:
            return
        chart = self.charts[-1]
        if tag == "polyline":
            chart["points"].append(len((a.get("points") or "").split()))
        elif tag == "circle":
            chart["circles"] += 1
        elif tag == "text":
            self.in_text = {"anchor": a.get("text-anchor", "start"), "s": ""}

    def handle_endtag(self, tag):
        if tag == "svg" and self.depth:
            self.depth -= 1
        if tag == "text" and self.in_text is not None:
            self.charts[-1]["texts"].append(self.in_text)
            self.in_text = None

    def handle_data(self, data):
        if self.in_text is not None:
            self.in_text["s"] += data
        self.text.append(data)


def mantissa(v):
    return v / 10 ** math.floor(math.log10(abs(v)) + 1e-9)


def nice_axis(values):
    """True for ticks a nice step apart, or all of the form m * 10^k."""
    if len(values) < 2:
        return False
    steps = [b - a for a, b in zip(values, values[1:])]
    step = steps[0]
    linear = step > 0 and all(abs(s - step) <= 1e-6 * step for s in steps) and \
        any(abs(mantissa(step) - m) < 1e-6 for m in (1, 2, 5))
    logish = all(v > 0 and abs(mantissa(v) - round(mantissa(v))) < 1e-6 for v in values)
    return linear or logish


def check_chart(i, chart, problems):
    title = chart["texts"][0]["s"] if chart["texts"] else f"chart {i}"
    plotted = sum(chart["points"])
    if plotted < 2:
        problems.append(f"{title}: plots {plotted} points")
    for anchor in ("end", "middle"):  # y ticks, x ticks
        labels = [t["s"].strip() for t in chart["texts"] if t["anchor"] == anchor and NUMBER.match(t["s"].strip())]
        values = sorted(float(s.replace(",", "")) for s in labels)
        if not nice_axis(values):
            problems.append(f"{title}: {'y' if anchor == 'end' else 'x'} ticks not nice: {labels}")
        for s in labels:
            if len(s.split("e")[0].replace(",", "").lstrip("-").replace(".", "").strip("0")) > 4:
                problems.append(f"{title}: tick label {s} has too many digits")
    return title


def check_eval(page, problems):
    for s in EVAL_SECTIONS:
        if s not in page.sections:
            problems.append(f"section '{s}' missing")
    if len(page.charts) != 5:
        problems.append(f"{len(page.charts)} charts, expected 5 (ROC, PR, cost, reliability, histograms)")
    text = " ".join(page.text)
    for needle in ("Business cost", "approve every claim", "deny every claim", "threshold"):
        if needle not in text:
            problems.append(f"'{needle}' not in the page")
    if not re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text):
        problems.append("no date")
    if re.search(r"\bnan\b|\binf\b", text):
        problems.append("'nan' or 'inf' in the page")


def check_train(page, problems, titles):
    if len(page.charts) < 5:
        problems.append(f"{len(page.charts)} charts, expected at least 5")
    for chart, title in zip(page.charts, titles):
        if title.startswith("Validation metrics") and chart["points"] and min(chart["points"]) <= 2:
            problems.append(f"{title}: validation curves of {chart['points']} points")
        if title.startswith("Business cost") and not any("always deny" in t["s"] for t in chart["texts"]):
            problems.append(f"{title}: always deny not given as a number")


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                raise ValueError(f"PNG depth {depth} color type {ctype} not handled")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def check_png(path, problems):
    w, h, bpp, rows = png_pixels(path)
    ink = blue = 0
    for line in rows[::2]:
        for x in range(0, w * bpp, 2 * bpp):
            r, g, b = line[x], line[x + 1], line[x + 2]
            ink += r < 240 or g < 240 or b < 240
            blue += abs(r - 0x1f) < 40 and abs(g - 0x77) < 40 and abs(b - 0xb4) < 40  # the first series' color
    share = ink / max(1, (h // 2) * (w // 2))
    if share < 0.01:
        problems.append(f"screenshot is blank ({100 * share:.2f}% non-white)")
    if blue < 20:
        problems.append("screenshot shows no chart line")


def main(kind, dom, png=None):
    page = Page()
    page.feed(open(dom, encoding="utf-8").read())
    problems = []
    titles = [check_chart(i, c, problems) for i, c in enumerate(page.charts)]
    if kind == "eval":
        check_eval(page, problems)
    else:
        check_train(page, problems, titles)
    if png:
        check_png(png, problems)
    for p in problems:
        print(f"{dom}: {p}")
    print(f"report_check: {kind} report, {len(page.sections)} sections, {len(page.charts)} charts, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
