#!/usr/bin/env bash
# Data-parallel scaling on one machine: claims-small trained for 30 steps of
# a global batch of 2 x 8,192 tokens as 1 rank x 1 thread, 2 ranks x 1 thread
# and 1 rank x 2 threads; prints the median tokens/s of steps 6-30 of each.
# Usage: bench/parallel_scaling.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/gen_claims" --n 4000 --seed 3 --out "$work/claims.jsonl" --split "$work/claims" > /dev/null 2>&1
common=(--train "$work/claims.train.jsonl" --valid "$work/claims.valid.jsonl" --config configs/claims_small.json
        --steps 30 --warmup 5 --accum 2 --eval-every 0 --ckpt-every 0 --quiet)
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
median() { # metrics.jsonl -> median tokens_per_s of steps 6..30
  python3 -c 'import json,sys,statistics as s
v=[d["tokens_per_s"] for d in map(json.loads,open(sys.argv[1])) if "tokens_per_s" in d and d["step"]>=6]
print(round(s.median(v)))' "$1"
}
export OMP_WAIT_POLICY=passive
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
OMP_NUM_THREADS=1 "$build/train_claims" "${common[@]}" --threads 1 --out "$work/r1t1" > /dev/null
echo "1 rank x 1 thread:   $(median "$work/r1t1/metrics.jsonl") tokens/s"
mpirun "${root[@]}" --oversubscribe -np 2 -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY \
  "$build/train_claims" "${common[@]}" --threads 1 --out "$work/r2t1" > /dev/null
echo "2 ranks x 1 thread:  $(median "$work/r2t1/metrics.jsonl") tokens/s"
OMP_NUM_THREADS=2 "$build/train_claims" "${common[@]}" --threads 2 --out "$work/r1t2" > /dev/null
echo "1 rank x 2 threads:  $(median "$work/r1t2/metrics.jsonl") tokens/s"
