#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds programs against it
# with pkg-config, as users of the installed libraries would: one that links
# only the framework (`pkg-config tensorgrad`), one that links the claims
# package (`pkg-config tensorgrad-claims`).
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1)
cat > "$prefix/user.c" <<'C'
#include <tensorgrad.h>
#include <stdio.h>
int main(void)
{
    tg_tensor *x = tg_arange(TG_STEP, 4, 1, 1, TG_F32);
    tg_tensor_set_requires_grad(x, 1);
    tg_tensor *loss = tg_sum(tg_mul(x, x), NULL, 0, 0);
    if (tg_backward(loss) != TG_OK) return 1;
    printf("loss %g grad[3] %g\n", tg_item(loss), tg_f32(tg_tensor_grad(x))[3]);
    return tg_item(loss) == 30 && tg_f32(tg_tensor_grad(x))[3] == 8 ? 0 : 1;
}
C
export PKG_CONFIG_PATH=$libdir
rpath=-Wl,-rpath,"$(dirname "$libdir")"
cc -std=c11 -Wall -Werror "$prefix/user.c" -o "$prefix/user" $(pkg-config --cflags tensorgrad) \
   "$rpath" $(pkg-config --libs tensorgrad)
"$prefix/user"
cat > "$prefix/claims_user.c" <<'C'
#include <stdio.h>
#include "models/claims/data/decision.h"
#include "tensorgrad.h"
int main(void)
{
    claims_deny_reason r;
    if (!claims_deny_reason_parse("upcode", &r) || r != CLAIMS_DENY_UPCODE) return 1;
    claims_costs c = claims_costs_default();
    printf("%s: false rejection costs %g\n", claims_deny_reason_name(r), c.c[0][1]);
    return tg_last_error() ? 0 : 1;
}
C
cc -std=c11 -Wall -Werror "$prefix/claims_user.c" -o "$prefix/claims_user" $(pkg-config --cflags tensorgrad-claims) \
   "$rpath" $(pkg-config --libs tensorgrad-claims)
"$prefix/claims_user"
test -f "$prefix/share/tensorgrad/codes.tsv" || { echo "codes.tsv not installed under share/tensorgrad"; exit 1; }
# The installed apps find their data under the prefix, also after the prefix moves.
mv "$prefix" "$prefix.moved" && ln -s "$prefix.moved" "$prefix"
trap 'rm -rf "$prefix" "$prefix.moved"' EXIT
(cd / && env -u TG_DATA_DIR "$prefix.moved/bin/gen_claims" --n 20 --seed 3 --out "$prefix.moved/c.jsonl") > /dev/null
test "$(wc -l < "$prefix.moved/c.jsonl")" -eq 20 || { echo "installed gen_claims wrote no claims"; exit 1; }
! ls "$prefix"/include/tensorgrad/models > /dev/null 2>&1 || { echo "claims headers installed with the framework"; exit 1; }
