/* Quickstart: a two-layer GELU network learns which generated 2-d points lie
 * in the quadrants where x and y have the same sign (not linearly separable),
 * with AdamW and a warmup-cosine schedule. Prints the loss; exits 0 when it
 * fell below a quarter of its first value. */
#include <stdio.h>

#include <tensorgrad.h>

enum { N = 512, HIDDEN = 32, STEPS = 300 };

int main(void)
{
    /* data: N points, class 1 where both coordinates have the same sign */
    tg_tensor *x = tg_randn(TG_PERSIST, TG_SHAPE(N, 2), TG_F32, /*seed*/ 7, 0.0, 1.0);
    tg_tensor *y = tg_tensor_new(TG_PERSIST, TG_SHAPE(N), TG_S32);
    if (!x || !y) return fprintf(stderr, "data: %s\n", tg_last_error()), 1;
    for (int i = 0; i < N; i++) tg_s32(y)[i] = tg_f32(x)[2 * i] * tg_f32(x)[2 * i + 1] > 0;

    /* model 2 -> HIDDEN -> 2; AdamW decays the weight matrices, not the biases */
    tg_rng rng = {.seed = 1};
    tg_nn_linear l1 = {0}, l2 = {0};
    tg_param_set *ps = tg_param_set_create();
    tg_adam_opts ao = tg_adamw_default_opts();
    tg_optim *opt = NULL;
    if (!ps || tg_nn_linear_init(&l1, 2, HIDDEN, true, &rng) || tg_nn_linear_init(&l2, HIDDEN, 2, true, &rng) ||
        tg_nn_linear_params(&l1, ps, "l1") || tg_nn_linear_params(&l2, ps, "l2") ||
        tg_param_set_group(ps, TG_GROUP_NO_DECAY, (tg_param_group){.lr_mult = 1, .wd_mult = 0}) ||
        !(opt = tg_adamw_create(ps, &ao)))
        return fprintf(stderr, "setup: %s\n", tg_last_error()), 1;

    double first = 0, last = 0;
    for (int step = 1; step <= STEPS; step++) {
        tg_tensor *logits = tg_nn_linear_forward(&l2, tg_gelu(tg_nn_linear_forward(&l1, x))); /* (N, 2) */
        tg_tensor *loss = tg_cross_entropy(logits, y, NULL); /* mean; NULL if any op above failed */
        if (!loss || tg_backward(loss) || tg_optim_step(opt, tg_sched_cosine(step, 0.02, 20, STEPS, 0.001)))
            return fprintf(stderr, "step %d: %s\n", step, tg_last_error()), 1;
        last = tg_item(loss);
        if (step == 1) first = last;
        if (step % 50 == 0 || step == 1) printf("step %3d  loss %.4f\n", step, last);
        tg_param_set_zero_grad(ps);
        tg_step_end(); /* frees this step's activations and tape */
    }
    tg_optim_destroy(opt);
    tg_param_set_destroy(ps);
    tg_nn_linear_free(&l1);
    tg_nn_linear_free(&l2);
    tg_tensor_free(x);
    tg_tensor_free(y);
    printf("loss %.4f -> %.4f\n", first, last);
    return last < 0.25 * first ? 0 : 1;
}
