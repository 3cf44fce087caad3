#include "autograd/dpsgd_norms.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/node.h"
#include "autograd/op.h"
#include "tensor/backend.h"

/* One parameter: how many tape nodes read it, and with several readers its
 * per-sample gradients (n_samples x numel) summed over them. */
typedef struct pstate {
    tg_tensor *p;
    int readers;
    float *per_sample;
} pstate;

/* A space's rows grouped by sample: rows order[off[i] .. off[i + 1]). */
typedef struct groups {
    int64_t *order, *off;
} groups;

typedef struct psn {
    const tg_psn_opts *o;
    pstate *ps;
    int n_params;
    groups *g;                 /* per space */
    double *sq;                /* norms pass: per-sample squared norms */
    const double *weight;      /* weighted pass: per-sample weights */
    float *bufa, *bufg, *bufc; /* gathered rows and products */
    size_t cap_a, cap_g, cap_c;
} psn;

static tg_status grow(float **p, size_t *cap, size_t n)
{
    if (n <= *cap) return TG_OK;
    float *q = realloc(*p, n * sizeof *q);
    if (!q) return tg_error(TG_ERR_OOM, "psn: out of memory for %zu floats", n);
    *p = q;
    *cap = n;
    return TG_OK;
}

static pstate *find(psn *s, const tg_tensor *t)
{
    for (int k = 0; k < s->n_params; k++)
        if (s->ps[k].p == t) return &s->ps[k];
    return NULL;
}

static int64_t lead_rows(const tg_tensor *t)
{
    int64_t last = tg_tensor_ndim(t) ? tg_tensor_dim(t, -1) : 1;
    return last ? tg_tensor_numel(t) / last : 0;
}

static tg_status space_of(const psn *s, const struct tg_node *node, const tg_tensor *dout, int *k)
{
    const int64_t rows = lead_rows(dout);
    for (*k = 0; *k < s->o->n_spaces; (*k)++)
        if (s->o->spaces[*k].rows == rows) return TG_OK;
    char b[96];
    return tg_error(TG_ERR_INVALID,
                    "psn: op %s reads a parameter but its output %s has %lld leading rows, "
                    "which no row space describes (a cast or reduction before the op?)",
                    node->op->name, tg_shape_str(tg_tensor_shape(dout), b, sizeof b), (long long)rows);
}

/* c (M, N) = a (M, K) · b (K, N), operands read transposed when ta / tb. */
static tg_status mm(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K, bool ta, bool tb,
                    bool acc)
{
    tg_matmul_desc d = {.ndim = 2, .ab_dtype = TG_F32, .accumulate = acc};
    tg_matmul_view(d.a_dims, d.a_strides, 0, NULL, M, K, ta);
    tg_matmul_view(d.b_dims, d.b_strides, 0, NULL, K, N, tb);
    tg_matmul_view(d.c_dims, d.c_strides, 0, NULL, M, N, false);
    return tg_backend_matmul(tg_ctx_current(), &d, c, a, b, NULL);
}

/* Rows of a sample padded to a bucket size (a quarter octave, at least 16):
 * zero rows add nothing to gᵀa or to the Gram sums, and the matmuls then
 * reuse a few cached primitives instead of creating one per sample size. */
static int64_t bucket(int64_t n)
{
    int64_t step = 4;
    while (step * 8 <= n) step *= 2;
    int64_t b = (n + step - 1) / step * step;
    return b < 16 ? 16 : b;
}

static void gather(float *dst, const float *src, const int64_t *rows, int64_t n, int64_t n_pad, int64_t cols)
{
    for (int64_t r = 0; r < n; r++) memcpy(dst + r * cols, src + rows[r] * cols, (size_t)cols * sizeof *dst);
    memset(dst + n * cols, 0, (size_t)((n_pad - n) * cols) * sizeof *dst);
}

static double sumsq(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* Adds sample i's contribution g (n floats) for parameter st. */
static void add_contrib(psn *s, pstate *st, int i, const float *g, int64_t n)
{
    if (st->readers > 1) {
        float *dst = st->per_sample + (int64_t)i * n;
        for (int64_t k = 0; k < n; k++) dst[k] += g[k];
    } else {
        s->sq[i] += sumsq(g, n);
    }
}

/* ---- linear: ghost norm or materialized per-sample gradient ---- */

/* x (..., in) of an op that declares linear rows (tg_op_linear_rows). */
static tg_status linear_norms(psn *s, const tg_tensor *x, const tg_tensor *dout, const groups *gr, pstate *w, pstate *b)
{
    if (tg_tensor_dtype(x) != TG_F32)
        return tg_error(TG_ERR_INVALID, "psn: linear input is %s; per-sample norms need f32",
                        tg_dtype_name(tg_tensor_dtype(x)));
    const int64_t in = tg_tensor_dim(x, -1), out = tg_tensor_dim(dout, -1);
    const float *xa = tg_f32(x), *dy = tg_f32(dout);
    for (int i = 0; i < s->o->n_samples; i++) {
        const int64_t n0 = gr->off[i + 1] - gr->off[i], *rows = gr->order + gr->off[i], n = bucket(n0);
        if (n0 == 0) continue;
        TG_TRY(grow(&s->bufg, &s->cap_g, (size_t)(n * out)));
        gather(s->bufg, dy, rows, n0, n, out);
        if (b) {
            TG_TRY(grow(&s->bufc, &s->cap_c, (size_t)out));
            memset(s->bufc, 0, (size_t)out * sizeof *s->bufc);
            for (int64_t r = 0; r < n0; r++)
                for (int64_t j = 0; j < out; j++) s->bufc[j] += s->bufg[r * out + j];
            add_contrib(s, b, i, s->bufc, out);
        }
        if (!w) continue;
        TG_TRY(grow(&s->bufa, &s->cap_a, (size_t)(n * in)));
        gather(s->bufa, xa, rows, n0, n, in);
        bool ghost = w->readers == 1 &&
                     (s->o->linear == TG_PSN_GHOST || (s->o->linear == TG_PSN_AUTO && n * (in + out) < in * out));
        if (ghost) { /* sum over (t, s) of (a_t·a_s)(g_t·g_s) */
            TG_TRY(grow(&s->bufc, &s->cap_c, (size_t)(2 * n * n)));
            float *ga = s->bufc, *gg = s->bufc + n * n;
            TG_TRY(mm(ga, s->bufa, s->bufa, n, n, in, false, true, false));
            TG_TRY(mm(gg, s->bufg, s->bufg, n, n, out, false, true, false));
            double acc = 0;
            for (int64_t k = 0; k < n * n; k++) acc += (double)ga[k] * gg[k];
            s->sq[i] += acc;
        } else if (w->readers > 1) { /* dw_i (out, in) += g_iᵀ a_i */
            TG_TRY(mm(w->per_sample + (int64_t)i * out * in, s->bufg, s->bufa, out, in, n, true, false, true));
        } else {
            TG_TRY(grow(&s->bufc, &s->cap_c, (size_t)(out * in)));
            TG_TRY(mm(s->bufc, s->bufg, s->bufa, out, in, n, true, false, false));
            s->sq[i] += sumsq(s->bufc, out * in);
        }
    }
    return TG_OK;
}

/* ---- any other op: its backward on one sample's rows ---- */

static tg_status generic_norms(psn *s, struct tg_node *node, const tg_tensor *dout, const groups *gr, pstate **pin)
{
    const int64_t cols = tg_tensor_numel(dout) / (lead_rows(dout) ? lead_rows(dout) : 1);
    for (int i = 0; i < s->o->n_samples; i++) {
        const int64_t n = gr->off[i + 1] - gr->off[i], *rows = gr->order + gr->off[i];
        if (n == 0) continue;
        tg_mark m = tg_mark_get();
        tg_tensor *d = tg_zeros(TG_STEP, *tg_tensor_shape(dout), TG_F32);
        tg_tensor *din[node->n_in];
        tg_status st = d ? TG_OK : TG_ERR_OOM;
        for (int j = 0; j < node->n_in; j++) {
            din[j] = pin[j] && st == TG_OK ? tg_zeros(TG_STEP, *tg_tensor_shape(node->in[j]), TG_F32) : NULL;
            if (pin[j] && !din[j]) st = TG_ERR_OOM;
        }
        if (st == TG_OK) {
            float *dd = tg_f32(d);
            const float *src = tg_f32(dout);
            for (int64_t r = 0; r < n; r++)
                memcpy(dd + rows[r] * cols, src + rows[r] * cols, (size_t)cols * sizeof *dd);
            st = node->op->backward(node, d, din);
        }
        for (int j = 0; st == TG_OK && j < node->n_in; j++)
            if (pin[j]) add_contrib(s, pin[j], i, tg_f32(din[j]), tg_tensor_numel(din[j]));
        tg_mark_rewind(m);
        TG_TRY(st);
    }
    return TG_OK;
}

/* The parameters among a node's inputs (pin[j] or NULL); false when none. */
static bool param_inputs(psn *s, const struct tg_node *node, pstate **pin)
{
    bool any = false;
    for (int j = 0; j < node->n_in; j++) {
        pin[j] = find(s, node->in[j]);
        any |= pin[j] != NULL;
    }
    return any;
}

static tg_status norms_hook(void *user, tg_op_ctx *node, tg_tensor *dout)
{
    psn *s = user;
    pstate *pin[node->n_in > 0 ? node->n_in : 1];
    if (!param_inputs(s, node, pin)) return TG_OK;
    int k;
    TG_TRY(space_of(s, node, dout, &k));
    const tg_op_linear_rows *lr = node->op->linear_rows;
    if (lr && !pin[lr->x]) { /* x is no parameter: the gradients of w and bias are sums over rows */
        pstate *bias = lr->bias >= 0 && lr->bias < node->n_in ? pin[lr->bias] : NULL;
        return linear_norms(s, node->in[lr->x], dout, &s->g[k], pin[lr->w], bias);
    }
    return generic_norms(s, node, dout, &s->g[k], pin);
}

/* Weighted pass: the node's parameter gradients from its output gradient with
 * each sample's rows scaled by its weight; inputs that are not parameters
 * are left to the normal backward. */
static tg_status weighted_hook(void *user, tg_op_ctx *node, tg_tensor *dout)
{
    psn *s = user;
    pstate *pin[node->n_in > 0 ? node->n_in : 1];
    if (!param_inputs(s, node, pin)) return TG_OK;
    int k;
    TG_TRY(space_of(s, node, dout, &k));
    const tg_psn_space *sp = &s->o->spaces[k];
    const int64_t cols = tg_tensor_numel(dout) / (sp->rows ? sp->rows : 1);
    tg_mark m = tg_mark_get();
    tg_tensor *d = tg_tensor_empty(TG_STEP, *tg_tensor_shape(dout), TG_F32);
    if (!d) return TG_ERR_OOM;
    const float *src = tg_f32(dout);
    float *dd = tg_f32(d);
    for (int64_t r = 0; r < sp->rows; r++) {
        const float w = sp->sample[r] >= 0 ? (float)s->weight[sp->sample[r]] : 0.0f;
        for (int64_t c = 0; c < cols; c++) dd[r * cols + c] = w * src[r * cols + c];
    }
    tg_tensor *din[node->n_in];
    tg_status st = TG_OK;
    for (int j = 0; j < node->n_in; j++) {
        din[j] = pin[j] ? tg_tensor_grad_or_zeros(pin[j]->p) : NULL;
        if (pin[j] && !din[j]) st = TG_ERR_OOM;
    }
    if (st == TG_OK) st = node->op->backward(node, d, din);
    tg_mark_rewind(m);
    return st;
}

/* ---- setup and the two passes ---- */

static void psn_free(psn *s)
{
    for (int k = 0; s->ps && k < s->n_params; k++) free(s->ps[k].per_sample);
    for (int k = 0; s->g && k < s->o->n_spaces; k++) {
        free(s->g[k].order);
        free(s->g[k].off);
    }
    free(s->ps);
    free(s->g);
    free(s->bufa);
    free(s->bufg);
    free(s->bufc);
}

static tg_status check_opts(const char *fn, tg_tensor *const *params, int n_params, const tg_psn_opts *o)
{
    if (!o || o->n_samples < 1 || o->n_spaces < 1 || !o->spaces || n_params < 1 || !params)
        return tg_error(TG_ERR_INVALID, "%s: need n_samples >= 1, a row space and parameters", fn);
    for (int k = 0; k < o->n_spaces; k++) {
        for (int j = 0; j < k; j++)
            if (o->spaces[j].rows == o->spaces[k].rows)
                return tg_error(TG_ERR_INVALID, "%s: row spaces %d and %d both have %lld rows", fn, j, k,
                                (long long)o->spaces[k].rows);
        for (int64_t r = 0; r < o->spaces[k].rows; r++)
            if (o->spaces[k].sample[r] < -1 || o->spaces[k].sample[r] >= o->n_samples)
                return tg_error(TG_ERR_INVALID, "%s: space %d row %lld has sample %d outside [-1, %d)", fn, k,
                                (long long)r, o->spaces[k].sample[r], o->n_samples);
    }
    return TG_OK;
}

static tg_status psn_init(psn *s, tg_tensor *const *params, int n_params, const tg_psn_opts *o, bool per_sample)
{
    s->o = o;
    s->n_params = n_params;
    s->ps = calloc((size_t)n_params, sizeof *s->ps);
    s->g = calloc((size_t)o->n_spaces, sizeof *s->g);
    if (!s->ps || !s->g) return tg_error(TG_ERR_OOM, "psn: out of memory");
    size_t n_nodes;
    struct tg_node *const *nodes = tg_tape_nodes(&n_nodes);
    for (int k = 0; k < n_params; k++) {
        s->ps[k].p = params[k];
        for (size_t i = 0; i < n_nodes; i++)
            for (int j = 0; j < nodes[i]->n_in; j++) s->ps[k].readers += nodes[i]->in[j] == params[k];
        if (per_sample && s->ps[k].readers > 1) {
            s->ps[k].per_sample = calloc((size_t)(o->n_samples * tg_tensor_numel(params[k])), sizeof(float));
            if (!s->ps[k].per_sample) return tg_error(TG_ERR_OOM, "psn: out of memory for per-sample gradients");
        }
    }
    for (int k = 0; k < o->n_spaces; k++) { /* counting sort of rows by sample */
        const tg_psn_space *sp = &o->spaces[k];
        groups *g = &s->g[k];
        g->order = malloc((size_t)(sp->rows ? sp->rows : 1) * sizeof *g->order);
        g->off = calloc((size_t)o->n_samples + 1, sizeof *g->off);
        if (!g->order || !g->off) return tg_error(TG_ERR_OOM, "psn: out of memory");
        for (int64_t r = 0; r < sp->rows; r++)
            if (sp->sample[r] >= 0) g->off[sp->sample[r] + 1]++;
        for (int i = 0; i < o->n_samples; i++) g->off[i + 1] += g->off[i];
        int64_t *fill = calloc((size_t)o->n_samples, sizeof *fill);
        if (!fill) return tg_error(TG_ERR_OOM, "psn: out of memory");
        for (int64_t r = 0; r < sp->rows; r++)
            if (sp->sample[r] >= 0) g->order[g->off[sp->sample[r]] + fill[sp->sample[r]]++] = r;
        free(fill);
    }
    return TG_OK;
}

/* Runs one backward with the hook installed and the params marked as not
 * needing a gradient, so the normal backward leaves them to the hook. */
static tg_status hooked_backward(psn *s, tg_tensor *loss, tg_node_grad_fn hook, bool retain)
{
    bool was[s->n_params];
    for (int k = 0; k < s->n_params; k++) {
        was[k] = s->ps[k].p->requires_grad;
        s->ps[k].p->requires_grad = false;
    }
    tg_node_grad_fn prev;
    void *prev_user;
    tg_backward_set_node_hook(hook, s, &prev, &prev_user);
    tg_status st = tg_backward_with(loss, &(tg_backward_opts){.retain_graph = retain});
    tg_backward_set_node_hook(prev, prev_user, NULL, NULL);
    for (int k = 0; k < s->n_params; k++) s->ps[k].p->requires_grad = was[k];
    return st;
}

tg_status tg_psn_norms(tg_tensor *loss, tg_tensor *const *params, int n_params, const tg_psn_opts *o, double *sq)
{
    TG_TRY(check_opts("tg_psn_norms", params, n_params, o));
    psn s = {.sq = sq};
    memset(sq, 0, (size_t)o->n_samples * sizeof *sq);
    tg_status st = psn_init(&s, params, n_params, o, true);
    if (st == TG_OK) st = hooked_backward(&s, loss, norms_hook, true);
    for (int k = 0; st == TG_OK && k < n_params; k++) {
        const int64_t n = tg_tensor_numel(params[k]);
        for (int i = 0; s.ps[k].per_sample && i < o->n_samples; i++) sq[i] += sumsq(s.ps[k].per_sample + i * n, n);
    }
    psn_free(&s);
    return st;
}

tg_status tg_psn_backward_weighted(tg_tensor *loss, tg_tensor *const *params, int n_params, const tg_psn_opts *o,
                                   const double *weight)
{
    TG_TRY(check_opts("tg_psn_backward_weighted", params, n_params, o));
    psn s = {.weight = weight};
    tg_status st = psn_init(&s, params, n_params, o, false);
    if (st == TG_OK) st = hooked_backward(&s, loss, weighted_hook, false);
    psn_free(&s);
    return st;
}
