/* weights_diff A B TOL: compares the parameters ("model.*" tensors) of two
 * tensorgrad checkpoints. Per tensor, the largest element difference relative
 * to the tensor's largest magnitude; prints the worst tensor and exits 1 when
 * it exceeds TOL, when a tensor is missing or shapes differ, 2 on bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorgrad.h"

static double rel_diff(const tg_tensor *a, const tg_tensor *b)
{
    double diff = 0, mag = 0;
    for (int64_t i = 0; i < tg_tensor_numel(a); i++) {
        double x = tg_f32(a)[i], y = tg_f32(b)[i];
        diff = fmax(diff, fabs(x - y));
        mag = fmax(mag, fabs(x));
    }
    return mag > 0 ? diff / mag : diff;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: weights_diff A.safetensors B.safetensors TOL\n");
        return 2;
    }
    const double tol = atof(argv[3]);
    tg_ctx *ctx = tg_ctx_create(NULL);
    tg_st_file *fa = tg_st_open(argv[1]), *fb = fa ? tg_st_open(argv[2]) : NULL;
    if (!ctx || !fa || !fb) {
        fprintf(stderr, "weights_diff: %s\n", tg_last_error());
        return 1;
    }
    double worst = 0;
    const char *worst_name = "";
    int n = 0, rc = 0;
    for (int i = 0; i < tg_st_count(fa) && !rc; i++) {
        const char *name = tg_st_name(fa, i);
        if (strncmp(name, "model.", 6)) continue;
        tg_tensor *a = tg_st_load(fa, name, TG_PERSIST),
                  *b = tg_st_has(fb, name) ? tg_st_load(fb, name, TG_PERSIST) : NULL;
        if (!a || !b || !tg_shape_equal(tg_tensor_shape(a), tg_tensor_shape(b))) {
            fprintf(stderr, "weights_diff: %s missing or of another shape in %s\n", name, argv[2]);
            rc = 1;
        } else {
            double d = rel_diff(a, b);
            if (!(d < worst)) worst = d, worst_name = tg_st_name(fa, i);
            n++;
        }
        tg_tensor_free(a);
        tg_tensor_free(b);
    }
    printf("weights_diff: %d tensors, worst relative difference %.3g (%s), tolerance %.3g\n", n, worst, worst_name,
           tol);
    tg_st_close(fa);
    tg_st_close(fb);
    tg_ctx_destroy(ctx);
    return rc || n == 0 || !(worst <= tol);
}
