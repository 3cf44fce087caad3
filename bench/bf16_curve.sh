#!/bin/sh
# Trains the claims model twice on the same generated claims with the same
# seed, once in fp32 and once with --bf16 (bf16 matmuls, f32 master weights,
# dynamic loss scaling), and compares the two training-loss curves:
# bench/curve_compare.py prints the largest relative difference of the
# smoothed curves and writes an SVG with both.
#
#   bench/bf16_curve.sh BUILD_DIR [OUT_DIR] [extra train_claims flags...]
#
# Defaults: 300 steps of 4,096 tokens on 3,000 claims with the
# configs/claims_small.json model at peak lr 5e-4 and decision-loss weight
# 1 (the main job's lr 2e-3 and weight 5 give gradient-norm spikes of 50-150
# after which any rounding difference, even another thread count, sends two
# fp32 runs apart). Output in OUT_DIR (default /tmp/tg_bf16_curve): fp32/
# and bf16/ runs, curves.svg, summary.txt.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [OUT_DIR] [train_claims flags...]" >&2; exit 2; }
build=$1
out=${2:-/tmp/tg_bf16_curve}
[ $# -ge 2 ] && shift 2 || shift 1
src=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-/usr/bin/python3}
mkdir -p "$out/data"
"$build/gen_claims" --n 3000 --seed 7 --long-frac 0.005 --out "$out/data/claims.jsonl" \
    --split "$out/data/claims" >/dev/null
for dt in fp32 bf16; do
    flag=""
    [ $dt = bf16 ] && flag=--bf16
    echo "training $dt ..." >&2
    # shellcheck disable=SC2086 # flag and "$@" are words on purpose
    "$build/train_claims" --config "$src/configs/claims_small.json" --train "$out/data/claims.train.jsonl" \
        --valid "$out/data/claims.valid.jsonl" --out "$out/$dt" --steps 300 --token-budget 4096 --warmup 30 \
        --lr 5e-4 --lambda 1 --eval-every 0 --ckpt-every 0 --norms-every 0 --seed 3 --quiet $flag "$@" >"$out/$dt.log" 2>&1 ||
        { echo "$dt run failed:" >&2; tail -n 5 "$out/$dt.log" >&2; exit 1; }
done
"$python" "$src/bench/curve_compare.py" "$out/fp32/metrics.jsonl" "$out/bf16/metrics.jsonl" "$out/curves.svg" |
    tee "$out/summary.txt"
