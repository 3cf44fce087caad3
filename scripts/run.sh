#!/usr/bin/env bash
# The main job: installs missing packages, builds tensorgrad, and trains the
# examples, printing their loss falling.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" > build.log 2>&1 || { cat build.log; exit 1; }
echo "== MLP with SGD + Nesterov momentum on two spirals =="
./build/example_mlp
echo "== character-level GPT on README.md =="
./build/example_char_gpt README.md 300
