/* tg_param_set: parameters as (value, lazily fetched grad) pairs plus groups,
 * and the element-wise gradient kernels shared by optim/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/kernels_internal.h"
#include "optim/param.h"

typedef struct tg_param_entry {
    char *name;
    tg_tensor *value;
    int group;
} tg_param_entry;

struct tg_param_set {
    tg_param_entry *items;
    int count, cap;
    tg_param_group groups[TG_MAX_PARAM_GROUPS];
};

/* ---- kernels ---- */

void tg_optim_kernel_scale(float *x, float a, int64_t n)
{
#pragma omp parallel for simd if (n > TG_OPTIM_OMP_MIN)
    for (int64_t i = 0; i < n; i++) x[i] *= a;
}

bool tg_optim_kernel_scale_check(float *x, float a, int64_t n)
{
    int bad = 0;
#pragma omp parallel for simd reduction(| : bad) if (n > TG_OPTIM_OMP_MIN)
    for (int64_t i = 0; i < n; i++) {
        x[i] *= a;
        bad |= !isfinite(x[i]);
    }
    return bad != 0;
}

double tg_optim_kernel_sumsq(const float *x, int64_t n)
{
    double s = 0.0;
#pragma omp parallel for simd reduction(+ : s) if (n > TG_OPTIM_OMP_MIN)
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

/* ---- the set ---- */

tg_param_set *tg_param_set_create(void)
{
    tg_param_set *ps = calloc(1, sizeof *ps);
    if (!ps) {
        tg_error(TG_ERR_OOM, "tg_param_set_create: out of memory");
        return NULL;
    }
    for (int g = 0; g < TG_MAX_PARAM_GROUPS; g++) ps->groups[g] = (tg_param_group){1.0, 1.0};
    return ps;
}

void tg_param_set_destroy(tg_param_set *ps)
{
    if (!ps) return;
    for (int i = 0; i < ps->count; i++) free(ps->items[i].name);
    free(ps->items);
    free(ps);
}

static bool group_ok(int g) { return g >= 0 && g < TG_MAX_PARAM_GROUPS; }

tg_status tg_param_set_group(tg_param_set *ps, int g, tg_param_group grp)
{
    if (!ps) return tg_error(TG_ERR_INVALID, "tg_param_set_group: NULL set");
    if (!group_ok(g))
        return tg_error(TG_ERR_INVALID, "tg_param_set_group: group %d outside [0, %d)", g, TG_MAX_PARAM_GROUPS);
    if (!(grp.lr_mult >= 0 && isfinite(grp.lr_mult)))
        return tg_error(TG_ERR_INVALID, "tg_param_set_group: lr_mult %g of group %d must be finite and >= 0",
                        grp.lr_mult, g);
    if (!(grp.wd_mult >= 0 && isfinite(grp.wd_mult)))
        return tg_error(TG_ERR_INVALID, "tg_param_set_group: wd_mult %g of group %d must be finite and >= 0",
                        grp.wd_mult, g);
    ps->groups[g] = grp;
    return TG_OK;
}

tg_param_group tg_param_set_group_get(const tg_param_set *ps, int g)
{
    if (!ps || !group_ok(g)) return (tg_param_group){1.0, 1.0};
    return ps->groups[g];
}

tg_status tg_param_set_add(tg_param_set *ps, const char *name, tg_tensor *value, int g, int *index)
{
    if (!ps || !value) return tg_error(TG_ERR_INVALID, "tg_param_set_add: NULL %s", ps ? "value" : "set");
    if (!group_ok(g))
        return tg_error(TG_ERR_INVALID, "tg_param_set_add: group %d outside [0, %d)", g, TG_MAX_PARAM_GROUPS);
    if (tg_tensor_dtype(value) != TG_F32)
        return tg_error(TG_ERR_DTYPE, "tg_param_set_add: parameter '%s' is %s, only f32 is supported",
                        name ? name : "?", tg_dtype_name(tg_tensor_dtype(value)));
    for (int i = 0; i < ps->count; i++)
        if (ps->items[i].value == value)
            return tg_error(TG_ERR_INVALID, "tg_param_set_add: tensor already added as '%s'", ps->items[i].name);
    if (ps->count == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 16;
        tg_param_entry *items = realloc(ps->items, (size_t)cap * sizeof *items);
        if (!items) return tg_error(TG_ERR_OOM, "tg_param_set_add: out of memory");
        ps->items = items;
        ps->cap = cap;
    }
    char fallback[32];
    if (!name) name = tg_tensor_name(value);
    if (!name) {
        snprintf(fallback, sizeof fallback, "param.%d", ps->count);
        name = fallback;
    }
    char *copy = strdup(name);
    if (!copy) return tg_error(TG_ERR_OOM, "tg_param_set_add: out of memory");
    ps->items[ps->count] = (tg_param_entry){copy, value, g};
    if (index) *index = ps->count;
    ps->count++;
    return TG_OK;
}

int tg_param_set_count(const tg_param_set *ps) { return ps ? ps->count : 0; }

static bool index_ok(const tg_param_set *ps, int i) { return ps && i >= 0 && i < ps->count; }

tg_tensor *tg_param_set_value(const tg_param_set *ps, int i) { return index_ok(ps, i) ? ps->items[i].value : NULL; }

tg_tensor *tg_param_set_grad(const tg_param_set *ps, int i)
{
    return index_ok(ps, i) ? tg_tensor_grad(ps->items[i].value) : NULL;
}

const char *tg_param_set_name(const tg_param_set *ps, int i) { return index_ok(ps, i) ? ps->items[i].name : NULL; }

int tg_param_set_group_of(const tg_param_set *ps, int i) { return index_ok(ps, i) ? ps->items[i].group : -1; }

int64_t tg_param_set_numel(const tg_param_set *ps)
{
    int64_t n = 0;
    for (int i = 0; i < tg_param_set_count(ps); i++) n += tg_tensor_numel(ps->items[i].value);
    return n;
}

tg_status tg_param_set_zero_grad(tg_param_set *ps)
{
    if (!ps) return tg_error(TG_ERR_INVALID, "tg_param_set_zero_grad: NULL set");
    for (int i = 0; i < ps->count; i++) {
        tg_tensor *g = tg_tensor_grad(ps->items[i].value);
        if (g) memset(tg_f32(g), 0, tg_tensor_nbytes(g));
    }
    return TG_OK;
}

tg_status tg_param_set_scale_grads(tg_param_set *ps, double factor)
{
    if (!ps) return tg_error(TG_ERR_INVALID, "tg_param_set_scale_grads: NULL set");
    if (!isfinite(factor)) return tg_error(TG_ERR_INVALID, "tg_param_set_scale_grads: factor %g is not finite", factor);
    for (int i = 0; i < ps->count; i++) {
        tg_tensor *g = tg_tensor_grad(ps->items[i].value);
        if (g) tg_optim_kernel_scale(tg_f32(g), (float)factor, tg_tensor_numel(g));
    }
    return TG_OK;
}
