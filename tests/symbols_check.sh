#!/usr/bin/env bash
# The framework library knows no domain: libtensorgrad (shared and static)
# defines no claims_ symbol, while libtensorgrad-claims defines them.
# Usage: symbols_check.sh BUILD_DIR
set -euo pipefail
build=$1
fail=0
for lib in "$build/libtensorgrad.so" "$build/libtensorgrad.a"; do
  opt=(--defined-only); [[ $lib == *.so ]] && opt+=(-D)
  bad=$(nm "${opt[@]}" "$lib" 2>/dev/null | awk '$3 ~ /^claims_/ {print $3}' | sort -u)
  if [ -n "$bad" ]; then
    echo "FAIL: $lib exports claims symbols:"; echo "$bad" | head -20; fail=1
  else
    echo "ok: $lib defines no claims_ symbol"
  fi
done
n=$(nm -D --defined-only "$build/libtensorgrad-claims.so" | awk '$3 ~ /^claims_/' | wc -l)
if [ "$n" -eq 0 ]; then echo "FAIL: libtensorgrad-claims.so defines no claims_ symbol"; fail=1; fi
echo "libtensorgrad-claims.so: $n claims_ symbols"
n=$(nm -D --defined-only "$build/libtensorgrad-claims.so" | awk '$3 ~ /^tg_/' | wc -l)
if [ "$n" -ne 0 ]; then echo "FAIL: libtensorgrad-claims.so carries $n framework symbols (it must link libtensorgrad)"; fail=1; fi
exit $fail
