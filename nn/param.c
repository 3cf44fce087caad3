#include "nn/param.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"

void tg_param_list_init(tg_param_list *l) { memset(l, 0, sizeof *l); }

tg_status tg_param_list_add(tg_param_list *l, const char *prefix, const char *name, tg_tensor *t)
{
    if (!t) return tg_error(TG_ERR_INVALID, "tg_param_list_add: NULL tensor for '%s'", name);
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", prefix && *prefix ? prefix : "", prefix && *prefix ? "." : "", name);
    if (tg_param_list_find(l, full))
        return tg_error(TG_ERR_STATE, "tg_param_list_add: parameter '%s' already listed", full);
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **names = realloc(l->names, sizeof *names * (size_t)cap);
        if (names) l->names = names;
        tg_tensor **ts = realloc(l->tensors, sizeof *ts * (size_t)cap);
        if (ts) l->tensors = ts;
        if (!names || !ts) return tg_error(TG_ERR_OOM, "tg_param_list_add: out of memory");
        l->cap = cap;
    }
    l->names[l->n] = strdup(full);
    if (!l->names[l->n]) return tg_error(TG_ERR_OOM, "tg_param_list_add: out of memory");
    l->tensors[l->n++] = t;
    tg_tensor_set_name(t, l->names[l->n - 1]);
    return tg_tensor_set_requires_grad(t, true);
}

tg_tensor *tg_param_list_find(const tg_param_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], name)) return l->tensors[i];
    return NULL;
}

int64_t tg_param_list_numel(const tg_param_list *l)
{
    int64_t n = 0;
    for (int i = 0; i < l->n; i++) n += tg_tensor_numel(l->tensors[i]);
    return n;
}

void tg_param_list_zero_grad(const tg_param_list *l)
{
    for (int i = 0; i < l->n; i++) tg_zero_grad(l->tensors[i]);
}

void tg_param_list_free(tg_param_list *l)
{
    if (!l) return;
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->tensors);
    memset(l, 0, sizeof *l);
}
