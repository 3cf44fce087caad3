#include "autograd/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
#include "tensor/rng.h"

typedef struct check {
    tg_gradcheck_fn fn;
    tg_tensor *const *in;
    int n_in;
    void *user;
    tg_gradcheck_opts o;
    double *r; /* projection, one weight per output element */
    int64_t n_out;
    tg_gradcheck_report rep;
    double worst_ratio;
} check;

/* L(x) in double with no graph recorded; frees everything it created. */
static tg_status eval_loss(check *c, double *loss)
{
    tg_mark m = tg_mark_get();
    bool prev = tg_grad_set_enabled(false);
    tg_tensor *out = c->fn(c->in, c->n_in, c->user);
    tg_grad_set_enabled(prev);
    tg_status st = TG_OK;
    if (!out) {
        st = TG_ERR_INVALID;
    } else if (tg_tensor_numel(out) != c->n_out) {
        st = tg_error(TG_ERR_STATE, "tg_gradcheck: output size changed between calls");
    } else {
        double s = 0;
        for (int64_t i = 0; i < c->n_out; i++) s += tg_tensor_get(out, i) * c->r[i];
        *loss = s;
    }
    tg_mark_rewind(m);
    return st;
}

static void compare(check *c, int input, int64_t index, double analytic, double numeric)
{
    double abs_err = fabs(analytic - numeric);
    double ratio = abs_err / (c->o.atol + c->o.rtol * fabs(numeric));
    double rel = abs_err / fmax(fabs(numeric), c->o.atol);
    c->rep.checked++;
    if (abs_err > c->rep.max_abs_err) c->rep.max_abs_err = abs_err;
    if (rel > c->rep.max_rel_err) c->rep.max_rel_err = rel;
    if (ratio > c->worst_ratio || isnan(ratio)) {
        c->worst_ratio = isnan(ratio) ? INFINITY : ratio;
        c->rep.worst_input = input;
        c->rep.worst_index = index;
        c->rep.worst_analytic = analytic;
        c->rep.worst_numeric = numeric;
    }
}

/* Central difference along `dir` (one element when dir is NULL). */
static tg_status numeric_grad(check *c, tg_tensor *x, int64_t index, const float *dir, double *out)
{
    float *p = tg_f32(x);
    int64_t n = tg_tensor_numel(x);
    float *saved = malloc(sizeof *saved * (size_t)(dir ? n : 1));
    if (!saved) return tg_error(TG_ERR_OOM, "tg_gradcheck: out of memory");
    double lp = 0, lm = 0;
    tg_status st = TG_OK;
    for (int side = 0; side < 2 && st == TG_OK; side++) {
        double h = side == 0 ? c->o.eps : -c->o.eps;
        if (dir) {
            for (int64_t i = 0; i < n; i++) {
                saved[i] = p[i];
                p[i] = (float)(p[i] + h * dir[i]);
            }
        } else {
            saved[0] = p[index];
            p[index] = (float)(p[index] + h);
        }
        st = eval_loss(c, side == 0 ? &lp : &lm);
        if (dir)
            memcpy(p, saved, sizeof *saved * (size_t)n);
        else
            p[index] = saved[0];
    }
    free(saved);
    *out = (lp - lm) / (2 * c->o.eps);
    return st;
}

static tg_status check_elements(check *c, int k, const float *g)
{
    tg_tensor *x = c->in[k];
    int64_t n = tg_tensor_numel(x);
    int64_t count = n <= c->o.max_elems ? n : c->o.max_elems;
    for (int64_t j = 0; j < count; j++) {
        int64_t idx =
            n <= c->o.max_elems ? j : (int64_t)(tg_rng_bits(c->o.seed + 7, (uint64_t)(k * 1000003 + j)) % (uint64_t)n);
        double num = 0;
        TG_TRY(numeric_grad(c, x, idx, NULL, &num));
        compare(c, k, idx, g[idx], num);
    }
    return TG_OK;
}

static tg_status check_directions(check *c, int k, const float *g)
{
    tg_tensor *x = c->in[k];
    int64_t n = tg_tensor_numel(x);
    float *dir = malloc(sizeof *dir * (size_t)n);
    if (!dir) return tg_error(TG_ERR_OOM, "tg_gradcheck: out of memory");
    tg_status st = TG_OK;
    for (int d = 0; d < c->o.directions && st == TG_OK; d++) {
        double analytic = 0;
        for (int64_t i = 0; i < n; i++) {
            /* ±1 entries: every element moves by eps, far above f32 rounding */
            dir[i] = (tg_rng_bits(c->o.seed + 1000 + (uint64_t)(k * 97 + d), (uint64_t)i) & 1) ? 1.0f : -1.0f;
            analytic += (double)dir[i] * g[i];
        }
        double num = 0;
        st = numeric_grad(c, x, -1, dir, &num);
        if (st == TG_OK) compare(c, k, -1, analytic, num);
    }
    free(dir);
    return st;
}

/* Runs fn with grad on and backward seeded with r; copies each checked
 * input's gradient into grads[k] (malloc'd). */
static tg_status analytic_grads(check *c, float **grads)
{
    /* A step input's gradient lives in the arena: create it before the mark
     * so the rewind below does not leave the input pointing at freed memory. */
    for (int k = 0; k < c->n_in; k++) {
        if (tg_tensor_requires_grad(c->in[k]) && !tg_tensor_grad_or_zeros(c->in[k]))
            return tg_error(TG_ERR_OOM, "tg_gradcheck: out of memory");
        tg_zero_grad(c->in[k]);
    }
    tg_mark m = tg_mark_get();
    bool prev = tg_grad_set_enabled(true);
    tg_tensor *out = c->fn(c->in, c->n_in, c->user);
    tg_grad_set_enabled(prev);
    tg_status st = TG_OK;
    if (!out)
        st = TG_ERR_INVALID;
    else if (tg_tensor_dtype(out) != TG_F32)
        st = tg_error(TG_ERR_DTYPE, "tg_gradcheck: output must be f32");
    if (st == TG_OK) {
        c->n_out = tg_tensor_numel(out);
        c->r = malloc(sizeof *c->r * (size_t)(c->n_out ? c->n_out : 1));
        tg_tensor *seed = tg_tensor_empty(TG_STEP, *tg_tensor_shape(out), TG_F32);
        if (!c->r || !seed) st = tg_error(TG_ERR_OOM, "tg_gradcheck: out of memory");
        for (int64_t i = 0; st == TG_OK && i < c->n_out; i++) {
            c->r[i] = 2.0 * tg_rng_uniform_at(c->o.seed, (uint64_t)i) - 1.0;
            tg_f32(seed)[i] = (float)c->r[i];
        }
        if (st == TG_OK) st = tg_backward_with(out, &(tg_backward_opts){.seed = seed});
    }
    for (int k = 0; st == TG_OK && k < c->n_in; k++) {
        if (!tg_tensor_requires_grad(c->in[k])) continue;
        int64_t n = tg_tensor_numel(c->in[k]);
        grads[k] = calloc((size_t)(n ? n : 1), sizeof **grads);
        if (!grads[k])
            st = tg_error(TG_ERR_OOM, "tg_gradcheck: out of memory");
        else if (tg_tensor_grad(c->in[k]))
            memcpy(grads[k], tg_f32(tg_tensor_grad(c->in[k])), sizeof **grads * (size_t)n);
    }
    tg_mark_rewind(m);
    return st;
}

static void describe(check *c)
{
    tg_gradcheck_report *r = &c->rep;
    if (r->worst_index >= 0)
        snprintf(r->msg, sizeof r->msg, "input %d element %lld: analytic %.8g numeric %.8g (abs err %.3g, %lld checks)",
                 r->worst_input, (long long)r->worst_index, r->worst_analytic, r->worst_numeric,
                 fabs(r->worst_analytic - r->worst_numeric), (long long)r->checked);
    else
        snprintf(r->msg, sizeof r->msg,
                 "input %d random direction: analytic %.8g numeric %.8g (abs err %.3g, %lld checks)", r->worst_input,
                 r->worst_analytic, r->worst_numeric, fabs(r->worst_analytic - r->worst_numeric),
                 (long long)r->checked);
}

tg_status tg_gradcheck(tg_gradcheck_fn fn, tg_tensor *const *in, int n_in, void *user, const tg_gradcheck_opts *opts,
                       tg_gradcheck_report *rep)
{
    check c = {.fn = fn, .in = in, .n_in = n_in, .user = user};
    c.o = opts ? *opts : (tg_gradcheck_opts){0};
    if (c.o.eps <= 0) c.o.eps = 1e-3;
    if (c.o.atol <= 0) c.o.atol = 1e-3;
    if (c.o.rtol <= 0) c.o.rtol = 1e-2;
    if (c.o.max_elems <= 0) c.o.max_elems = 256;
    if (c.o.directions <= 0) c.o.directions = 2;
    c.rep.worst_input = -1;
    c.rep.worst_index = -1;
    for (int k = 0; k < n_in; k++)
        if (tg_tensor_requires_grad(in[k]) && tg_tensor_dtype(in[k]) != TG_F32)
            return tg_error(TG_ERR_DTYPE, "tg_gradcheck: input %d must be f32", k);

    float **grads = calloc((size_t)(n_in ? n_in : 1), sizeof *grads);
    if (!grads) return tg_error(TG_ERR_OOM, "tg_gradcheck: out of memory");
    tg_status st = analytic_grads(&c, grads);
    for (int k = 0; st == TG_OK && k < n_in; k++) {
        if (!grads[k]) continue;
        st = check_elements(&c, k, grads[k]);
        if (st == TG_OK && tg_tensor_numel(in[k]) > c.o.max_elems) st = check_directions(&c, k, grads[k]);
    }
    for (int k = 0; k < n_in; k++) free(grads[k]);
    free(grads);
    free(c.r);
    if (st != TG_OK) return st;
    describe(&c);
    if (rep) *rep = c.rep;
    if (c.worst_ratio > 1.0) return tg_error(TG_ERR_NUMERIC, "tg_gradcheck: %s", c.rep.msg);
    return TG_OK;
}
