#!/usr/bin/env bash
# eval_claims --json: stdout holds the JSON line alone (status and skipped
# lines go to stderr), and an input without a usable claim (all lines
# rejected, or an empty file) exits non-zero saying why.
# Usage: eval_json.sh BUILD_DIR FIXTURE_DIR (tests/eval_fixture.sh made it).
set -euo pipefail
build=$1
fx=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2
eval_claims() { "$build/eval_claims" --model "$fx/run/checkpoint.safetensors" --no-report "$@"; }
fail() { echo "eval_json: $*"; exit 1; }

# the test split with two malformed lines mixed in
{ head -n 3 "$fx/c.test.jsonl"; echo '{"claim_id": "broken"'; echo 'not json'; tail -n +4 "$fx/c.test.jsonl"; } \
  > "$tmp/mixed.jsonl"
eval_claims --data "$tmp/mixed.jsonl" --json > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err"; fail "--json failed"; }
[ "$(wc -l < "$tmp/out")" = 1 ] || { cat "$tmp/out"; fail "stdout holds more than one line"; }
python3 -c 'import json,sys; d = json.loads(sys.stdin.read()); assert d["docs"] > 0 and "confusion" in d, d' \
  < "$tmp/out" || fail "stdout is not the evaluation's JSON"
grep -q 'lines read' "$tmp/err" || fail "the status line is not on stderr"
[ "$(grep -c 'skipped' "$tmp/err")" = 2 ] || { cat "$tmp/err"; fail "expected two skipped lines on stderr"; }
# the same claims without --json: the status line stays on stdout
eval_claims --data "$tmp/mixed.jsonl" > "$tmp/text" 2> /dev/null
grep -q 'lines read' "$tmp/text" || fail "text mode lost its status line"

no_claim() { # no_claim FILE: must exit non-zero and say why
  if eval_claims --data "$1" --json > "$tmp/out" 2> "$tmp/err"; then fail "$1: exit 0 without a usable claim"; fi
  grep -q 'holds no usable claim' "$tmp/err" || { cat "$tmp/err"; fail "$1: no reason given"; }
  [ ! -s "$tmp/out" ] || { cat "$tmp/out"; fail "$1: wrote to stdout"; }
}
printf 'not json\n{"claim_id": 1}\n\n' > "$tmp/rejected.jsonl"
: > "$tmp/empty.jsonl"
no_claim "$tmp/rejected.jsonl"
no_claim "$tmp/empty.jsonl"
echo "eval_json: JSON alone on stdout; inputs without a usable claim fail with the reason"
