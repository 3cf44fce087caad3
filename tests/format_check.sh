#!/usr/bin/env bash
# Fails when a C source or header differs from what clang-format makes of it
# with the repository's .clang-format (run `scripts/format.sh` to apply).
# Usage: format_check.sh SOURCE_DIR
set -euo pipefail
cd "$1"
command -v clang-format > /dev/null || { echo "clang-format not found (Debian: clang-format)"; exit 1; }
mapfile -t files < <(find tensor autograd nn optim parallel models apps bench examples tests tensorgrad.h \
                       -name '*.[ch]' | sort)
bad=0
for f in "${files[@]}"; do
  if ! clang-format --dry-run -Werror "$f" 2> /dev/null; then
    echo "not formatted: $f"
    bad=$((bad + 1))
  fi
done
echo "format_check: ${#files[@]} files, $bad not formatted ($(clang-format --version))"
[ $bad -eq 0 ]
