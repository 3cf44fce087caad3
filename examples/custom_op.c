/* A user-defined op outside the library: the Huber loss with its own
 * backward, registered through the public tg_op_register, gradchecked, and
 * used to fit a small linear model that is robust to outliers.
 *
 *   huber(r) = 0.5 r²           if |r| <= delta
 *            = delta (|r| - ½δ)  otherwise,        r = pred - target
 * The op returns the mean over all elements (a scalar).
 * Exit status 0 when the gradcheck passes and the fit converges. */
#include <math.h>
#include <stdio.h>

#include "tensorgrad.h"

typedef struct huber_attr {
    float delta;
} huber_attr;

/* ---- shape inference ---- */

static tg_status huber_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    (void)attr;
    if (!tg_shape_equal(tg_tensor_shape(in[0]), tg_tensor_shape(in[1])))
        return tg_error(TG_ERR_SHAPE, "huber: pred and target shapes differ");
    *out = TG_SCALAR_SHAPE;
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

static tg_status huber_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)ctx;
    (void)n_in;
    const float d = ((const huber_attr *)attr)->delta;
    const float *p = tg_f32(in[0]), *t = tg_f32(in[1]);
    const int64_t n = tg_tensor_numel(in[0]);
    double acc = 0;
    for (int64_t i = 0; i < n; i++) {
        float r = fabsf(p[i] - t[i]);
        acc += r <= d ? 0.5 * r * r : d * (r - 0.5 * d);
    }
    tg_f32(out)[0] = (float)(acc / (double)n);
    return TG_OK;
}

/* ---- backward: d/dpred = clamp(r, -delta, delta) / n, d/dtarget = -that ---- */

static tg_status huber_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const float d = ((const huber_attr *)tg_op_attr(ctx))->delta;
    const float *p = tg_f32(tg_op_input(ctx, 0)), *t = tg_f32(tg_op_input(ctx, 1));
    const int64_t n = tg_tensor_numel(tg_op_input(ctx, 0));
    const float g = tg_f32(dout)[0] / (float)n;
    for (int64_t i = 0; i < n; i++) {
        float r = fminf(fmaxf(p[i] - t[i], -d), d) * g;
        if (din[0]) tg_f32(din[0])[i] += r;
        if (din[1]) tg_f32(din[1])[i] -= r;
    }
    return TG_OK;
}

static const tg_op huber_op = {
    .name = "huber_loss", .n_in = 2, .infer = huber_infer, .forward = huber_forward, .backward = huber_backward};

static tg_tensor *huber(const tg_tensor *pred, const tg_tensor *target, float delta)
{
    const tg_tensor *in[2] = {pred, target};
    huber_attr a = {delta};
    return tg_apply(&huber_op, in, 2, &a, sizeof a);
}

static tg_tensor *check_fn(tg_tensor *const *in, int n_in, void *user)
{
    (void)n_in;
    (void)user;
    return huber(in[0], in[1], 1.0f);
}

int main(void)
{
    if (tg_op_register(&huber_op) != TG_OK) {
        fprintf(stderr, "register: %s\n", tg_last_error());
        return 1;
    }
    /* Gradcheck both inputs; residuals span both branches of the loss. */
    tg_tensor *in[2] = {tg_randn(TG_STEP, TG_SHAPE(4, 9), TG_F32, 1, 0, 2),
                        tg_randn(TG_STEP, TG_SHAPE(4, 9), TG_F32, 2, 0, 2)};
    tg_tensor_set_requires_grad(in[0], true);
    tg_tensor_set_requires_grad(in[1], true);
    tg_gradcheck_report rep;
    if (tg_gradcheck(check_fn, in, 2, NULL, NULL, &rep) != TG_OK) {
        fprintf(stderr, "gradcheck failed: %s\n", tg_last_error());
        return 1;
    }
    printf("gradcheck ok: %s\n", rep.msg);
    tg_step_end();

    /* Fit y = 3x - 1 with 10% gross outliers, by plain gradient descent. */
    const int n = 200;
    tg_tensor *x = tg_randn(TG_PERSIST, TG_SHAPE(n, 1), TG_F32, 3, 0, 1);
    tg_tensor *y = tg_tensor_new(TG_PERSIST, TG_SHAPE(n, 1), TG_F32);
    for (int i = 0; i < n; i++) tg_f32(y)[i] = 3 * tg_f32(x)[i] - 1 + (i % 10 == 0 ? 40.0f : 0.0f);
    tg_tensor *w = tg_zeros(TG_PERSIST, TG_SHAPE(1, 1), TG_F32), *b = tg_zeros(TG_PERSIST, TG_SHAPE(1), TG_F32);
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_requires_grad(b, true);
    float loss = 0;
    for (int step = 0; step < 400; step++) {
        tg_tensor *l = huber(tg_linear(x, w, b), y, 1.0f);
        if (!l || tg_backward(l) != TG_OK) {
            fprintf(stderr, "step %d: %s\n", step, tg_last_error());
            return 1;
        }
        loss = (float)tg_item(l);
        tg_f32(w)[0] -= 0.5f * tg_f32(tg_tensor_grad(w))[0];
        tg_f32(b)[0] -= 0.5f * tg_f32(tg_tensor_grad(b))[0];
        tg_zero_grad(w);
        tg_zero_grad(b);
        tg_step_end();
        if (step % 100 == 0) printf("step %3d  huber loss %.4f\n", step, loss);
    }
    float wf = tg_f32(w)[0], bf = tg_f32(b)[0];
    printf("fit: w = %.3f (true 3), b = %.3f (true -1), final loss %.4f\n", wf, bf, loss);
    int ok = fabsf(wf - 3) < 0.15f && fabsf(bf + 1) < 0.3f;
    tg_tensor_free(x);
    tg_tensor_free(y);
    tg_tensor_free(w);
    tg_tensor_free(b);
    return ok ? 0 : 1;
}
