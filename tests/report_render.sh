#!/usr/bin/env bash
# The reports render in headless Chromium with their charts: eval_claims
# writes the test split's report, train_claims wrote the training report;
# Chromium parses each (--dump-dom) and paints it (--screenshot), and
# tests/report_check.py checks sections, charts, tick labels and that the
# screenshot is not blank. A report with a section cut out must fail the
# check, and the main job's configuration must evaluate at least 4 times. Exit 77 (skipped) without chromium.
# Usage: report_render.sh BUILD_DIR FIXTURE_DIR (tests/eval_fixture.sh made it).
set -euo pipefail
build=$1
fx=$2
here=$(cd "$(dirname "$0")" && pwd)
command -v chromium > /dev/null || { echo "chromium not installed (Debian: chromium): SKIPPED"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2
"$build/eval_claims" --model "$fx/run/checkpoint.safetensors" --data "$fx/c.test.jsonl" --report "$tmp/eval.html" \
  > "$tmp/eval.log" 2>&1 || { cat "$tmp/eval.log"; exit 1; }
render() { # render HTML OUT_PREFIX: the parsed DOM and a screenshot
  local flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
               --disable-sync --no-first-run --user-data-dir="$tmp/profile")
  timeout 120 chromium "${flags[@]}" --dump-dom "file://$1" > "$2.dom" 2> "$2.err" || { cat "$2.err"; exit 1; }
  timeout 120 chromium "${flags[@]}" --window-size=1200,1600 --screenshot="$2.png" "file://$1" > /dev/null 2>> "$2.err" ||
    { cat "$2.err"; exit 1; }
}
render "$tmp/eval.html" "$tmp/eval"
python3 "$here/report_check.py" eval "$tmp/eval.dom" "$tmp/eval.png"
cp "$fx/run/report.html" "$tmp/train.html"
render "$tmp/train.html" "$tmp/train"
python3 "$here/report_check.py" train "$tmp/train.dom" "$tmp/train.png"
# the main job's configuration evaluates often enough for curves, not two points
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); n = c["steps"] // c["eval-every"]
assert n >= 4, f"{sys.argv[1]}: {n} evaluations"' "$here/../configs/claims_small.json"
# the check bites: the calibration section cut out of the evaluation report
python3 - "$tmp/eval.html" "$tmp/broken.html" << 'EOF'
import sys
h = open(sys.argv[1]).read()
a, b = h.index("<h2 id='calibration'>"), h.index("<h2 id='scores'>")
open(sys.argv[2], "w").write(h[:a] + h[b:])
EOF
render "$tmp/broken.html" "$tmp/broken"
if python3 "$here/report_check.py" eval "$tmp/broken.dom" > "$tmp/broken.log"; then
  cat "$tmp/broken.log"
  echo "report_render: a report without its calibration section passed the check"
  exit 1
fi
echo "report_render: both reports render in $(chromium --version 2>/dev/null | head -n 1) with every section and chart"
