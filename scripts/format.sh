#!/usr/bin/env bash
# Applies .clang-format to every C source and header (tests/format_check.sh checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
find tensor autograd nn optim parallel models apps bench examples tests tensorgrad.h -name '*.[ch]' -print0 |
  xargs -0 clang-format -i
