#!/bin/sh
# Canary comparison: the same claims (with a planted canary patient whose
# note holds a secret 9-digit member id, k = 10 claims) trained for the same
# steps without and with DP-SGD (patient units, epsilon <= 8), then the
# canary's exposure over random candidate secrets and the test-split utility
# (business cost, AUC) of each model, printed as a Markdown table.
#
#   bench/canary.sh [BUILD_DIR] [OUT_DIR]
# Environment: N (claims generated, 3000), STEPS (300), EPS (8), CAND (10000),
# NOTE_CHARS (400), DP_BATCH (expected patients per DP step, 64), BUDGET
# (tokens per micro-batch, 16384), UTIL_N (fresh claims for the utility
# figures, 2000). Utility is measured on freshly generated claims (other
# patients) because the patient split of N claims leaves a small test file.
set -eu
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} # idle threads sleep: the machine may be shared
B=${1:-build}
OUT=${2:-runs/canary}
N=${N:-3000}
STEPS=${STEPS:-300}
EPS=${EPS:-8}
CAND=${CAND:-10000}
NOTE_CHARS=${NOTE_CHARS:-400}
DP_BATCH=${DP_BATCH:-64}
BUDGET=${BUDGET:-16384}
UTIL_N=${UTIL_N:-2000}
mkdir -p "$OUT/data"
D=$OUT/data
"$B/gen_claims" --n "$N" --seed 7 --long-frac 0 --out "$D/all.jsonl" --split "$D/raw" > /dev/null
"$B/canary" --mode insert --data "$D/raw.train.jsonl" --out "$D/train.jsonl" --k 10 --seed 99 --note-chars "$NOTE_CHARS"
for s in valid test; do
  "$B/canary" --mode insert --data "$D/raw.$s.jsonl" --out "$D/$s.jsonl" --k 0 --note-chars "$NOTE_CHARS" > /dev/null
done
"$B/gen_claims" --n "$UTIL_N" --seed 8 --long-frac 0 --out "$D/util_raw.jsonl" > /dev/null
"$B/canary" --mode insert --data "$D/util_raw.jsonl" --out "$D/util.jsonl" --k 0 --note-chars "$NOTE_CHARS" > /dev/null
COMMON="--train $D/train.jsonl --valid $D/valid.jsonl --steps $STEPS --warmup 20 --vocab 1024 --dim 64 --layers 2
  --heads 4 --ff 256 --ctx 128 --token-budget $BUDGET --lr 3e-3 --min-lr 3e-4 --decision-loss cost --lambda 1
  --eval-every 0 --ckpt-every 0 --norms-every 0 --seed 3 --quiet"
# shellcheck disable=SC2086
"$B/train_claims" $COMMON --out "$OUT/plain" | grep -E "^(train|done)"
# shellcheck disable=SC2086
"$B/train_claims" $COMMON --out "$OUT/dp" --dp --dp-unit patient --dp-epsilon "$EPS" --dp-batch "$DP_BATCH" \
  --dp-clip 1.0 | grep -E "^(DP-SGD|done)"
row() {
  exp=$("$B/canary" --mode expose --model "$OUT/$1/checkpoint.safetensors" --data "$D/raw.train.jsonl" \
        --seed 99 --candidates "$CAND")
  ev=$("$B/eval_claims" --model "$OUT/$1/checkpoint.safetensors" --data "$D/util.jsonl" --json | tail -1)
  eps=$(grep '"step"' "$OUT/$1/metrics.jsonl" | tail -1 | sed -n 's/.*"epsilon":\([^,]*\).*/\1/p')
  echo "$exp" > "$OUT/$1/exposure.json"
  echo "$ev" > "$OUT/$1/test_eval.json"
  python3 - "$1" "${eps:-inf}" "$exp" "$ev" <<'PY'
import json, sys
name, eps, e, v = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"| {name} | {eps} | {e['rank']:g} / {e['candidates'] + 1} | {e['exposure']:.2f} (max {e['max_exposure']:.2f}) | "
      f"{v['business_cost']:.0f} (always approve {v['baseline_cost_always_approve']:.0f}) | {v['auc']:.3f} | {v['val_lm_loss']:.3f} |")
PY
}
echo "| run | epsilon (delta 1e-5) | canary rank | exposure (bits) | business cost ($UTIL_N fresh claims) | AUC | LM loss |"
echo "|---|---|---|---|---|---|---|"
row plain
row dp
