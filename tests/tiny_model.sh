#!/usr/bin/env bash
# A tiny tabular claims model for the end-to-end tests and benches, in the
# current folder: gen_claims writes N claims split as c.{train,valid,test}.jsonl
# and train_claims trains STEPS steps into run/ (a few seconds).
# Usage: tiny_model.sh BUILD_DIR N STEPS   (train_claims' output on stdout)
set -euo pipefail
build=$1
"$build/gen_claims" --n "$2" --seed 5 --out c.jsonl --split c 2> /dev/null
"$build/train_claims" --train c.train.jsonl --valid c.valid.jsonl --out run --vocab 800 --dim 32 --layers 2 \
  --heads 2 --ff 64 --ctx 64 --token-budget 1024 --steps "$3" --warmup 2 --tabular --eval-every 0 --quiet
