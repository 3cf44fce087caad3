/* An MLP trained with SGD + Nesterov momentum on a generated two-spirals
 * dataset: the smallest complete training loop in tensorgrad.
 * Prints the loss falling and the final accuracy; exit 0 when it learned. */
#include <math.h>
#include <stdio.h>

#include "tensorgrad.h"

#define N 512 /* points */
#define HIDDEN 64

/* Two interleaved spirals: class k's i-th point at angle t, radius t. */
static void spirals(tg_tensor *x, tg_tensor *y)
{
    for (int i = 0; i < N; i++) {
        int k = i % 2;
        double t = 0.5 + 3.5 * (double)(i / 2) / (N / 2);
        double noise = 0.05 * tg_rng_normal_at(9, (uint64_t)i);
        tg_f32(x)[2 * i] = (float)(t * cos(t + k * M_PI) + noise);
        tg_f32(x)[2 * i + 1] = (float)(t * sin(t + k * M_PI) - noise);
        tg_s32(y)[i] = k;
    }
}

int main(void)
{
    tg_tensor *x = tg_tensor_new(TG_PERSIST, TG_SHAPE(N, 2), TG_F32); /* (N, 2) */
    tg_tensor *y = tg_tensor_new(TG_PERSIST, TG_SHAPE(N), TG_S32);    /* (N) */
    spirals(x, y);

    tg_rng rng = {.seed = 42};
    tg_nn_linear l1, l2, l3;
    tg_param_set *ps = tg_param_set_create();
    if (tg_nn_linear_init(&l1, 2, HIDDEN, true, &rng) || tg_nn_linear_init(&l2, HIDDEN, HIDDEN, true, &rng) ||
        tg_nn_linear_init(&l3, HIDDEN, 2, true, &rng) || tg_init_kaiming_normal(l1.weight, &rng) ||
        tg_init_kaiming_normal(l2.weight, &rng) || tg_nn_linear_params(&l1, ps, "l1") ||
        tg_nn_linear_params(&l2, ps, "l2") || tg_nn_linear_params(&l3, ps, "l3")) {
        fprintf(stderr, "init: %s\n", tg_last_error());
        return 1;
    }
    tg_sgd_opts so = {.momentum = 0.9, .nesterov = true};
    tg_optim *opt = tg_sgd_create(ps, &so);
    if (!opt) {
        fprintf(stderr, "optimizer: %s\n", tg_last_error());
        return 1;
    }
    double loss = 0;
    for (int step = 1; step <= 600; step++) {
        tg_tensor *h = tg_relu(tg_nn_linear_forward(&l2, tg_relu(tg_nn_linear_forward(&l1, x))));
        tg_tensor *logits = tg_nn_linear_forward(&l3, h); /* (N, 2) */
        tg_tensor *l = tg_cross_entropy(logits, y, NULL);
        if (!l || tg_backward(l) != TG_OK || tg_optim_step(opt, tg_sched_cosine(step, 0.05, 20, 600, 0.002)) != TG_OK) {
            fprintf(stderr, "step %d: %s\n", step, tg_last_error());
            return 1;
        }
        loss = tg_item(l);
        tg_param_set_zero_grad(ps);
        tg_step_end();
        if (step % 100 == 0) printf("step %4d  loss %.4f\n", step, loss);
    }
    /* accuracy in no-grad mode */
    tg_grad_set_enabled(false);
    tg_tensor *logits =
        tg_nn_linear_forward(&l3, tg_relu(tg_nn_linear_forward(&l2, tg_relu(tg_nn_linear_forward(&l1, x)))));
    int correct = 0;
    for (int i = 0; i < N; i++) correct += (tg_f32(logits)[2 * i + 1] > tg_f32(logits)[2 * i]) == tg_s32(y)[i];
    printf("accuracy %.1f%% (final loss %.4f)\n", 100.0 * correct / N, loss);
    tg_step_end();
    tg_optim_destroy(opt);
    tg_param_set_destroy(ps);
    tg_nn_linear_free(&l1);
    tg_nn_linear_free(&l2);
    tg_nn_linear_free(&l3);
    tg_tensor_free(x);
    tg_tensor_free(y);
    return correct > 0.95 * N ? 0 : 1;
}
