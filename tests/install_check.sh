#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds a program against it
# with pkg-config, as a user of the installed library would.
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
cc -std=c11 -fopenmp "$prefix/user.c" -o "$prefix/user" $(pkg-config --cflags tensorgrad) \
   -Wl,-rpath,"$(dirname "$libdir")" $(pkg-config --libs tensorgrad) -ldnnl -ljansson -lm
"$prefix/user"
