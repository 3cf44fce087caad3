#!/usr/bin/env bash
# The ctest fixture of the eval_claims tests: eval_fixture.sh BUILD_DIR OUT_DIR
# generates a tiny claims corpus split by patient into OUT_DIR/c.*.jsonl and
# trains a tiny model on it into OUT_DIR/run (a few seconds).
set -euo pipefail
build=$1
out=$2
rm -rf "$out"
mkdir -p "$out"
export OMP_NUM_THREADS=2
run() { # run LOG command...: keeps the log, shows it on failure
  local log=$1
  shift
  "$@" > "$log" 2>&1 || { cat "$log"; echo "FAILED: $*"; exit 1; }
}
# a large test share, so the report's curves have denials to draw
run "$out/gen.log" "$build/gen_claims" --n 300 --seed 7 --long-frac 0 --train-frac 0.6 --valid-frac 0.1 \
  --out "$out/c.jsonl" --split "$out/c"
run "$out/train.log" "$build/train_claims" --train "$out/c.train.jsonl" --valid "$out/c.valid.jsonl" --out "$out/run" \
  --vocab 1200 --dim 32 --layers 1 --heads 2 --ff 64 --ctx 64 --token-budget 1024 --steps 12 --warmup 2 \
  --schedule constant --eval-every 4 --ckpt-every 0 --norms-every 0 --quiet
echo "eval_fixture: $(wc -l < "$out/c.test.jsonl") test claims, model in $out/run"
