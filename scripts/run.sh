#!/usr/bin/env bash
# The main job: installs missing packages, builds tensorgrad, generates a
# synthetic claims dataset split by patient, trains the claims model,
# evaluates it on the held-out test split and writes the reports.
# Output: runs/data/ (claims), runs/claims/ (checkpoint, metrics, reports).
# Extra arguments go to train_claims (e.g. ./scripts/run.sh --steps 100).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
# only the three apps: the tests and benchmarks are built by scripts/test.sh
cmake --build build -j "$(nproc)" --target gen_claims train_claims eval_claims > build.log 2>&1 ||
  { cat build.log; exit 1; }
mkdir -p runs/data
echo "== generating claims =="
build/gen_claims --n "${TG_CLAIMS:-16000}" --seed 1 --long-frac 0.005 --out runs/data/claims.jsonl --split runs/data/claims
echo "== training =="
build/train_claims --train runs/data/claims.train.jsonl --valid runs/data/claims.valid.jsonl --out runs/claims \
  --config configs/claims_small.json "$@"
echo "== evaluating on the test split =="
build/eval_claims --model runs/claims/checkpoint.safetensors --data runs/data/claims.test.jsonl \
  --train runs/data/claims.train.jsonl
echo "reports: runs/claims/report.html (training), runs/claims/report_claims.test.html (test split)"
