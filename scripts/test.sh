#!/usr/bin/env bash
# Installs missing packages, builds tensorgrad twice (release, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every Check suite
# through ctest in both builds. Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
jobs=$(nproc)
for cfg in release asan; do
  dir=build-test-$cfg
  flags=(-DCMAKE_BUILD_TYPE=Release)
  [ $cfg = asan ] && flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_SANITIZE=ON)
  echo "== $cfg build =="
  cmake -S . -B "$dir" "${flags[@]}" > /dev/null
  cmake --build "$dir" -j "$jobs" > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
  (cd "$dir" && ctest --output-on-failure -j 1)
done
