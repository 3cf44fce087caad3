#!/usr/bin/env bash
# Load on serve_claims: wrk POSTs one claim to /score for a fixed 10 s
# (2 threads, 8 connections) against a tiny trained model; prints
# requests/s, p50/p99 latency and the CPU. Needs wrk (TG_WITH_BENCH=1
# scripts/deps.sh). Usage: serve_load.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2> /dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
"$here/../tests/tiny_model.sh" "$build" 400 10 > /dev/null
python3 - <<'PY'
import json
d = json.loads(open("c.test.jsonl").readline())
for k in ("decision", "fraud", "deny_reasons"):
    d.pop(k, None)
body = json.dumps(d)
open("post.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n'
    'done = function(summary, latency, requests)\n'
    '  io.write(string.format("requests/s %%.1f\\np50_ms %%.3f\\np99_ms %%.3f\\nerrors %%d\\n",\n'
    '    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1e3,\n'
    '    latency:percentile(99) / 1e3, summary.errors.status + summary.errors.connect + summary.errors.timeout))\n'
    'end\n' % json.dumps(body))
PY
"$build/serve_claims" --model run/checkpoint.safetensors --port 0 > serve.out 2> serve.err &
pid=$!
for _ in $(seq 100); do grep -q listening serve.out && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.out)
wrk -t2 -c8 -d10s --latency -s post.lua "http://127.0.0.1:$port/score" | tail -4
grep -m1 'model name' /proc/cpuinfo
echo "cores $(nproc)"
kill -TERM "$pid" && wait "$pid"
pid=""
