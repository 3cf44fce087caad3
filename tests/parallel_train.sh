#!/usr/bin/env bash
# Data-parallel training end to end: parallel_train.sh BUILD_DIR.
# 10 steps of train_claims with a global batch of 4 micro-batches as one
# process and as 2 MPI ranks must give the same weights (1e-6 relative per
# tensor; the f64 gradient reduction makes them bit-identical in practice),
# and a run checkpointed by 2 ranks at step 5 and resumed by 1 process must
# end with the same weights too, and so must a run with the head refit. DP-SGD (patient units) as 1 process and as
# 2 ranks must agree as well: the ranks clip their own micro-batches, sum,
# and add one identical noise draw. Exit 77 (skipped) without MPI.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "${TG_MPI_BUILT:-0}" != 1 ] || ! command -v mpirun > /dev/null; then
  echo "MPI not available in this build: skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
"$build/gen_claims" --n 400 --seed 5 --out "$tmp/c.jsonl" --split "$tmp/c" --long-frac 0 --valid-frac 0.15 > /dev/null
common=(--train "$tmp/c.train.jsonl" --valid "$tmp/c.valid.jsonl" --vocab 800 --dim 32 --layers 2 --heads 2 --ff 64
        --ctx 64 --token-budget 1024 --accum 4 --schedule constant --warmup 2 --dropout 0.1 --bf16
        --eval-every 5 --ckpt-every 5 --norms-every 0 --quiet)
run() { # run OUT_LOG command...: keeps the log, shows it on failure
  local log=$1
  shift
  "$@" > "$log" 2>&1 || { cat "$log"; echo "FAILED: $*"; exit 1; }
}
run "$tmp/one.log" "$build/train_claims" "${common[@]}" --steps 10 --out "$tmp/one"
run "$tmp/two.log" "$here/run_mpi.sh" 2 "$build/train_claims" "${common[@]}" --steps 10 --out "$tmp/two"
"$build/weights_diff" "$tmp/one/checkpoint.safetensors" "$tmp/two/checkpoint.safetensors" 1e-6
# rank 0 alone wrote the outputs, with every step logged once
[ "$(grep -c '"step"' "$tmp/two/metrics.jsonl")" = 10 ] || { echo "metrics.jsonl: expected 10 step lines"; exit 1; }
[ -s "$tmp/two/report.html" ] && [ -s "$tmp/two/tokenizer.json" ]
# the same evaluation, metric for metric
diff <(grep eval_step "$tmp/one/metrics.jsonl") <(grep eval_step "$tmp/two/metrics.jsonl")
# the head refit after the last step: claim facts and frozen features
# computed by shards and summed, then the same fit on every rank
refit=(--tabular --head-hidden 8 --head-epochs 3 --head-fit-negatives 0.5)
run "$tmp/onef.log" "$build/train_claims" "${common[@]}" "${refit[@]}" --steps 6 --out "$tmp/onef"
run "$tmp/twof.log" "$here/run_mpi.sh" 2 "$build/train_claims" "${common[@]}" "${refit[@]}" --steps 6 --out "$tmp/twof"
grep -q head_epoch "$tmp/onef/metrics.jsonl" || { echo "no head refit in metrics.jsonl"; exit 1; }
"$build/weights_diff" "$tmp/onef/checkpoint.safetensors" "$tmp/twof/checkpoint.safetensors" 1e-6
diff <(grep head_epoch "$tmp/onef/metrics.jsonl") <(grep head_epoch "$tmp/twof/metrics.jsonl")
# 2 ranks to step 5, then 1 process resumes to step 10
run "$tmp/half.log" "$here/run_mpi.sh" 2 "$build/train_claims" "${common[@]}" --steps 5 --out "$tmp/half"
run "$tmp/resume.log" "$build/train_claims" "${common[@]}" --steps 10 --out "$tmp/half" \
  --resume "$tmp/half/checkpoint.safetensors"
"$build/weights_diff" "$tmp/one/checkpoint.safetensors" "$tmp/half/checkpoint.safetensors" 1e-6
# DP-SGD: f32 sums of the clipped gradients in another order, the same noise
dp=(--train "$tmp/c.train.jsonl" --valid "$tmp/c.valid.jsonl" --vocab 800 --dim 32 --layers 2 --heads 2 --ff 64
    --ctx 64 --token-budget 1024 --schedule constant --warmup 2 --dropout 0.1 --eval-every 0 --ckpt-every 0
    --norms-every 0 --quiet --dp --dp-sigma 1.0 --dp-batch 16 --steps 4)
run "$tmp/dp1.log" "$build/train_claims" "${dp[@]}" --out "$tmp/dp1"
run "$tmp/dp2.log" "$here/run_mpi.sh" 2 "$build/train_claims" "${dp[@]}" --out "$tmp/dp2"
"$build/weights_diff" "$tmp/dp1/checkpoint.safetensors" "$tmp/dp2/checkpoint.safetensors" 1e-5
diff <(grep '"step"' "$tmp/dp1/metrics.jsonl" | sed 's/"tokens_per_s":[^,]*,//') \
     <(grep '"step"' "$tmp/dp2/metrics.jsonl" | sed 's/"tokens_per_s":[^,]*,//')
echo "parallel_train: 1 process, 2 ranks and 2 ranks resumed by 1 process agree, with and without DP-SGD"
