#!/usr/bin/env python3
"""Checks the include graph: no cycle between files, framework layers never
include the claims package or the apps, and inside models/claims every
include points down a layer (or stays in its own).

Usage: include_check.py SOURCE_DIR. Prints each violation; exits 1 on any."""
import os
import re
import sys

# Top-level parts and the parts each may include (besides itself).
ALLOWED = {
    "tensor": set(),
    "autograd": {"tensor"},
    "optim": {"tensor", "autograd"},
    "nn": {"tensor", "autograd", "optim"},
    "parallel": {"tensor", "autograd", "optim"},
    "models": {"tensor", "autograd", "optim", "nn", "parallel", "tensorgrad.h"},
    "apps": {"tensor", "autograd", "optim", "nn", "parallel", "models", "tensorgrad.h"},
}
# models/claims layers, lowest first.
CLAIMS_LAYERS = ["base", "data", "synth", "text", "model", "eval", "train", "score"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root):
    for part in list(ALLOWED) + ["tensorgrad.h"]:
        top = os.path.join(root, part)
        if os.path.isfile(top):
            yield part
            continue
        for d, _, files in os.walk(top):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), root)


def layer_of(path):
    parts = path.split("/")
    if parts[0] == "models" and len(parts) > 3 and parts[1] == "claims":
        return parts[2]
    return None


def main(root):
    files = sorted(sources(root))
    graph = {}
    bad = []
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8") as fh:
            incs = INCLUDE.findall(fh.read())
        graph[f] = [i for i in incs if os.path.exists(os.path.join(root, i))]
        top = f.split("/")[0]
        for inc in graph[f]:
            itop = inc.split("/")[0]
            if top in ALLOWED and itop != top and itop not in ALLOWED[top]:
                bad.append(f"{f} includes {inc}: {top}/ may not depend on {itop}")
            lf, li = layer_of(f), layer_of(inc)
            if lf and li and lf != li:
                if li not in CLAIMS_LAYERS or lf not in CLAIMS_LAYERS:
                    bad.append(f"{f} includes {inc}: unknown claims layer")
                elif CLAIMS_LAYERS.index(li) > CLAIMS_LAYERS.index(lf):
                    bad.append(f"{f} includes {inc}: models/claims/{lf} may not include the higher layer {li}")
    # A cycle between headers (or a .c and the header of another file that
    # includes it back) shows as a back edge in a depth-first walk.
    state = {}

    def visit(n, stack):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if state.get(m) == 1:
                bad.append("include cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif not state.get(m):
                visit(m, stack)
        stack.pop()
        state[n] = 2

    for f in files:
        if not state.get(f):
            visit(f, [])
    # A cycle between modules: a.c reaches b.h while b.c reaches a.h
    # (each .c with its own header is one module).
    def module(p):
        return os.path.splitext(p)[0]
    def reach(f, seen):
        for i in graph.get(f, []):
            if i not in seen:
                seen.add(i)
                reach(i, seen)
        return seen
    with_c = {module(f) for f in graph if f.endswith(".c")}
    uses = {}
    for f in graph:
        if f.endswith(".c"):
            uses[module(f)] = {module(i) for i in reach(f, set())} & with_c - {module(f)}
    for a, deps in uses.items():
        for b in deps:
            if a < b and a in uses.get(b, set()):
                bad.append(f"modules {a} and {b} use each other")
    for b in bad:
        print(b)
    print(f"include_check: {len(files)} files, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
