/* A character-level GPT trained on a text file (default: the project's
 * README.md), printing its loss falling and then sampling text.
 *   example_char_gpt [FILE] [STEPS]
 * Exit 0 when the final loss is well below the uniform-guess loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorgrad.h"

#define CTX 64
#define BATCH 16

static unsigned char *read_file(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    rewind(f);
    unsigned char *buf = malloc((size_t)*n);
    if (buf && fread(buf, 1, (size_t)*n, f) != (size_t)*n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Random windows of the text: inputs (B, T) and next-byte targets (B, T). */
static void sample_batch(const unsigned char *text, long n, tg_rng *rng, tg_tensor **x, tg_tensor **y)
{
    *x = tg_tensor_empty(TG_STEP, TG_SHAPE(BATCH, CTX), TG_S32);
    *y = tg_tensor_empty(TG_STEP, TG_SHAPE(BATCH, CTX), TG_S32);
    for (int b = 0; b < BATCH; b++) {
        long start = (long)(tg_rng_next(rng) % (uint64_t)(n - CTX - 1));
        for (int t = 0; t < CTX; t++) {
            tg_s32(*x)[b * CTX + t] = text[start + t];
            tg_s32(*y)[b * CTX + t] = text[start + t + 1];
        }
    }
}

/* Samples `len` bytes after a prompt of plen bytes with temperature 0.8. */
static void generate(const tg_gpt *m, const unsigned char *prompt, int plen, int len, tg_rng *rng)
{
    int32_t ctx[CTX];
    int n = 0;
    for (; n < plen && n < CTX; n++) ctx[n] = prompt[n];
    printf("--- sample ---\n%.*s", n, (const char *)prompt);
    bool prev = tg_grad_set_enabled(false);
    for (int i = 0; i < len; i++) {
        tg_tensor *idx = tg_from_buffer(TG_STEP, TG_SHAPE(1, n), TG_S32, ctx);
        tg_tensor *logits = tg_gpt_logits(m, tg_slice(tg_gpt_hidden(m, idx, NULL, false), 1, n - 1, n));
        tg_tensor *p = tg_softmax(tg_scale(logits, 1.0 / 0.8), NULL); /* (1, 1, 256) */
        double u = tg_rng_next_uniform(rng), acc = 0;
        int next = 255;
        for (int v = 0; v < 256; v++)
            if ((acc += tg_f32(p)[v]) > u) {
                next = v;
                break;
            }
        putchar(next);
        if (n == CTX) memmove(ctx, ctx + 1, sizeof *ctx * (CTX - 1)), n--;
        ctx[n++] = next;
        tg_step_end();
    }
    tg_grad_set_enabled(prev);
    printf("\n--------------\n");
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "README.md"; /* run from the source tree, or name a file */
    int steps = argc > 2 ? atoi(argv[2]) : 300;
    long n;
    unsigned char *text = read_file(path, &n);
    if (!text || n < CTX + 2 || steps < 1) {
        fprintf(stderr, "usage: example_char_gpt [FILE with > %d bytes] [STEPS >= 1]\n", CTX + 2);
        return 2;
    }
    tg_gpt_config cfg = {.vocab = 256,
                         .dim = 64,
                         .heads = 4,
                         .hidden = 256,
                         .max_seq = CTX,
                         .n_layers = 2,
                         .dropout = 0.0,
                         .tied = true};
    tg_gpt m;
    if (tg_gpt_init(&m, &cfg, 1) != TG_OK) {
        fprintf(stderr, "init: %s\n", tg_last_error());
        return 1;
    }
    tg_param_set_group(m.params, TG_GROUP_NO_DECAY, (tg_param_group){1.0, 0.0});
    tg_adam_opts ao = tg_adamw_default_opts();
    tg_optim *opt = tg_adamw_create(m.params, &ao);
    tg_rng rng = {.seed = 7};
    double loss = 0;
    for (int step = 1; step <= steps && opt; step++) {
        tg_tensor *x, *y;
        sample_batch(text, n, &rng, &x, &y);
        tg_tensor *l = tg_gpt_loss(&m, x, y, NULL, NULL, true);
        double norm;
        if (!l || tg_backward(l) || tg_clip_grad_norm(m.params, 1.0, &norm) ||
            tg_optim_step(opt, tg_sched_cosine(step, 3e-3, 20, steps, 3e-4))) {
            fprintf(stderr, "step %d: %s\n", step, tg_last_error());
            return 1;
        }
        loss = tg_item(l);
        tg_param_set_zero_grad(m.params);
        tg_step_end();
        if (step == 1 || step % 50 == 0) printf("step %4d  loss %.4f  grad_norm %.3f\n", step, loss, norm);
    }
    generate(&m, text, 16, 300, &rng); /* prompt: the text's first 16 bytes */
    printf("final loss %.4f (uniform guess: %.4f)\n", loss, log(256.0));
    tg_optim_destroy(opt);
    tg_gpt_free(&m);
    free(text);
    return loss < 0.7 * log(256.0) ? 0 : 1;
}
