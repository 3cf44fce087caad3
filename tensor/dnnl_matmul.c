/* Cached oneDNN matmul behind the oneDNN-free interface of tensor/backend.h.
 *
 * A description is first simplified so that equivalent requests share one
 * primitive and batch loops become single large GEMMs where the layout
 * allows: batch dims of 1 everywhere are dropped, a summed-over batch folds
 * into K, a batch that only A and C carry folds into M. Sums over batch dims
 * that cannot fold run as a loop of accumulating matmuls. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/dnnl_backend.h"

#define MAXD TG_MATMUL_MAX_DIMS
enum { OP_A = 0, OP_B = 1, OP_C = 2 };

/* Working form of a description: dims and strides of A, B, C. */
typedef struct mm_geom {
    int n;
    int64_t dims[3][MAXD], str[3][MAXD];
} mm_geom;

/* Cache key: fully memset so padding compares equal. */
typedef struct mm_key {
    uint32_t tag; /* distinguishes matmul keys from other ops' in the shared cache */
    int32_t n;
    int32_t dtype;   /* dnnl_data_type_t of A and B */
    int32_t c_dtype; /* of C */
    int32_t bias, accumulate;
    int32_t b_any; /* B in the primitive's preferred layout (packed) */
    int64_t dims[3][MAXD], str[3][MAXD];
} mm_key;

#define MM_TAG 0x4c554d4du /* "MMUL" */

/* ---- description checks and simplification ---- */

static tg_status validate(const tg_matmul_desc *d, mm_geom *g, bool *reduces)
{
    if (d->ndim < 2 || d->ndim > MAXD)
        return tg_error(TG_ERR_INVALID, "tg_backend_matmul: ndim %d not in [2, %d]", d->ndim, MAXD);
    if (d->ab_dtype != TG_F32 && d->ab_dtype != TG_BF16)
        return tg_error(TG_ERR_DTYPE, "tg_backend_matmul: operands must be f32 or bf16, got %s",
                        tg_dtype_name(d->ab_dtype));
    const int n = d->ndim;
    g->n = n;
    memcpy(g->dims[OP_A], d->a_dims, sizeof g->dims[0]);
    memcpy(g->dims[OP_B], d->b_dims, sizeof g->dims[0]);
    memcpy(g->dims[OP_C], d->c_dims, sizeof g->dims[0]);
    memcpy(g->str[OP_A], d->a_strides, sizeof g->str[0]);
    memcpy(g->str[OP_B], d->b_strides, sizeof g->str[0]);
    memcpy(g->str[OP_C], d->c_strides, sizeof g->str[0]);
    const int64_t(*D)[MAXD] = g->dims;
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < n; i++)
            if (D[o][i] < 0 || g->str[o][i] < 0)
                return tg_error(TG_ERR_INVALID, "tg_backend_matmul: negative dim %lld or stride %lld",
                                (long long)D[o][i], (long long)g->str[o][i]);
    if (D[OP_A][n - 2] != D[OP_C][n - 2] || D[OP_A][n - 1] != D[OP_B][n - 2] || D[OP_B][n - 1] != D[OP_C][n - 1])
        return tg_error(TG_ERR_INVALID, "tg_backend_matmul: A (%lld, %lld), B (%lld, %lld), C (%lld, %lld) do not fit",
                        (long long)D[OP_A][n - 2], (long long)D[OP_A][n - 1], (long long)D[OP_B][n - 2],
                        (long long)D[OP_B][n - 1], (long long)D[OP_C][n - 2], (long long)D[OP_C][n - 1]);
    *reduces = false;
    for (int i = 0; i < n - 2; i++) {
        int64_t a = D[OP_A][i], b = D[OP_B][i], c = D[OP_C][i];
        int64_t m = a > b ? a : b;
        if ((a != 1 && a != m) || (b != 1 && b != m) || (c != 1 && c != m))
            return tg_error(TG_ERR_INVALID, "tg_backend_matmul: batch dim %d sizes %lld, %lld, %lld do not broadcast",
                            i, (long long)a, (long long)b, (long long)c);
        if (c == 1 && m != 1) *reduces = true;
    }
    if (*reduces && d->bias) return tg_error(TG_ERR_INVALID, "tg_backend_matmul: bias with a summed batch dim");
    if (d->c_dtype != TG_F32 && d->c_dtype != TG_BF16)
        return tg_error(TG_ERR_DTYPE, "tg_backend_matmul: C must be f32 or bf16, got %s", tg_dtype_name(d->c_dtype));
    if (d->c_dtype == TG_BF16 && (d->ab_dtype != TG_BF16 || d->accumulate || *reduces))
        return tg_error(TG_ERR_INVALID, "tg_backend_matmul: a bf16 C needs bf16 A and B, no accumulate and no "
                                        "summed batch dim");
    return TG_OK;
}

static void drop_dim(mm_geom *g, int i)
{
    for (int o = 0; o < 3; o++) {
        memmove(&g->dims[o][i], &g->dims[o][i + 1], sizeof(int64_t) * (size_t)(g->n - i - 1));
        memmove(&g->str[o][i], &g->str[o][i + 1], sizeof(int64_t) * (size_t)(g->n - i - 1));
    }
    g->n--;
}

static void drop_unit_batch_dims(mm_geom *g)
{
    for (int i = g->n - 3; i >= 0; i--)
        if (g->dims[OP_A][i] == 1 && g->dims[OP_B][i] == 1 && g->dims[OP_C][i] == 1) drop_dim(g, i);
}

/* True when operand o's batch dims and its matrix dim `mdim` flatten into one
 * index of uniform stride (batch outermost). */
static bool chains(const mm_geom *g, int o, int mdim)
{
    int64_t expect = g->str[o][mdim] * g->dims[o][mdim];
    for (int i = g->n - 3; i >= 0; i--) {
        if (g->str[o][i] != expect) return false;
        expect *= g->dims[o][i];
    }
    return true;
}

static int64_t batch_numel(const mm_geom *g, int o)
{
    int64_t p = 1;
    for (int i = 0; i < g->n - 2; i++) p *= g->dims[o][i];
    return p;
}

static void to_2d(mm_geom *g)
{
    const int n = g->n;
    for (int o = 0; o < 3; o++) {
        g->dims[o][0] = g->dims[o][n - 2], g->dims[o][1] = g->dims[o][n - 1];
        g->str[o][0] = g->str[o][n - 2], g->str[o][1] = g->str[o][n - 1];
    }
    g->n = 2;
}

/* C has no batch, A and B share theirs: Σ_b A_b·B_b is one GEMM over K·batch. */
static bool fold_into_k(mm_geom *g)
{
    const int n = g->n;
    if (n == 2 || batch_numel(g, OP_C) != 1) return false;
    for (int i = 0; i < n - 2; i++)
        if (g->dims[OP_A][i] != g->dims[OP_B][i]) return false;
    if (!chains(g, OP_A, n - 1) || !chains(g, OP_B, n - 2)) return false;
    const int64_t k = g->dims[OP_A][n - 1] * batch_numel(g, OP_A);
    to_2d(g);
    g->dims[OP_A][1] = g->dims[OP_B][0] = k;
    return true;
}

/* B has no batch, A and C share theirs: the batch stacks rows of A and C. */
static bool fold_into_m(mm_geom *g)
{
    const int n = g->n;
    if (n == 2 || batch_numel(g, OP_B) != 1) return false;
    for (int i = 0; i < n - 2; i++)
        if (g->dims[OP_A][i] != g->dims[OP_C][i]) return false;
    if (!chains(g, OP_A, n - 2) || !chains(g, OP_C, n - 2)) return false;
    const int64_t m = g->dims[OP_A][n - 2] * batch_numel(g, OP_A);
    to_2d(g);
    g->dims[OP_A][0] = g->dims[OP_C][0] = m;
    return true;
}

/* ---- primitive construction ---- */

static dnnl_data_type_t dnnl_dt(tg_dtype dt) { return dt == TG_BF16 ? dnnl_bf16 : dnnl_f32; }

static tg_status build(tg_ctx *ctx, const void *keyp, tg_prim *out)
{
    const mm_key *k = keyp;
    dnnl_memory_desc_t md[3], bias_md;
    const dnnl_data_type_t dts[3] = {(dnnl_data_type_t)k->dtype, (dnnl_data_type_t)k->dtype,
                                     (dnnl_data_type_t)k->c_dtype};
    for (int o = 0; o < 3; o++)
        TG_TRY(tg_dnnl_check(dnnl_memory_desc_init_by_strides(&md[o], k->n, k->dims[o], dts[o], k->str[o]),
                             "tg_backend_matmul: memory desc"));
    if (k->bias) {
        dnnl_dims_t bd, bs;
        for (int i = 0; i < k->n; i++) bd[i] = 1, bs[i] = k->dims[OP_C][k->n - 1];
        bd[k->n - 1] = k->dims[OP_C][k->n - 1];
        bs[k->n - 1] = 1;
        TG_TRY(tg_dnnl_check(dnnl_memory_desc_init_by_strides(&bias_md, k->n, bd, dnnl_f32, bs),
                             "tg_backend_matmul: bias desc"));
    }
    if (k->b_any) {
        dnnl_dims_t bd;
        memcpy(bd, k->dims[OP_B], sizeof k->dims[OP_B]);
        TG_TRY(tg_dnnl_check(dnnl_memory_desc_init_by_tag(&md[OP_B], k->n, bd, dts[OP_B], dnnl_format_tag_any),
                             "tg_backend_matmul: packed B desc"));
    }
    dnnl_matmul_desc_t desc;
    TG_TRY(tg_dnnl_check(dnnl_matmul_desc_init(&desc, &md[OP_A], &md[OP_B], k->bias ? &bias_md : NULL, &md[OP_C]),
                         "tg_backend_matmul: matmul desc"));
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    tg_status st = tg_dnnl_check(dnnl_primitive_attr_create(&attr), "tg_backend_matmul: attr");
    if (st == TG_OK && k->accumulate) {
        st = tg_dnnl_check(dnnl_post_ops_create(&po), "tg_backend_matmul: post-ops");
        if (st == TG_OK) st = tg_dnnl_check(dnnl_post_ops_append_sum(po, 1.0f), "tg_backend_matmul: sum");
        if (st == TG_OK)
            st = tg_dnnl_check(dnnl_primitive_attr_set_post_ops(attr, po), "tg_backend_matmul: set post-ops");
    }
    if (st == TG_OK)
        st = tg_dnnl_check(dnnl_primitive_desc_create(&out->pd, &desc, attr, tg_ctx_engine(ctx), NULL),
                           "tg_backend_matmul: primitive desc");
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    TG_TRY(st);
    TG_TRY(tg_dnnl_check(dnnl_primitive_create(&out->prim, out->pd), "tg_backend_matmul: primitive"));

    if (k->b_any) md[OP_B] = *dnnl_primitive_desc_query_md(out->pd, dnnl_query_weights_md, 0);
    const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    const dnnl_memory_desc_t *mds[4] = {&md[OP_A], &md[OP_B], &md[OP_C], &bias_md};
    for (int i = 0; i < (k->bias ? 4 : 3); i++) {
        TG_TRY(tg_dnnl_check(dnnl_memory_create(&out->mem[i], mds[i], tg_ctx_engine(ctx), DNNL_MEMORY_NONE),
                             "tg_backend_matmul: memory"));
        out->args[i] = args[i];
        out->nmem = i + 1;
    }
    return TG_OK;
}

static void make_key(mm_key *k, const mm_geom *g, tg_dtype dt, tg_dtype c_dt, bool bias, bool acc, bool b_any)
{
    memset(k, 0, sizeof *k);
    k->tag = MM_TAG;
    k->n = g->n;
    k->dtype = (int32_t)dnnl_dt(dt);
    k->c_dtype = (int32_t)dnnl_dt(c_dt);
    k->bias = bias;
    k->accumulate = acc;
    k->b_any = b_any;
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < g->n; i++) k->dims[o][i] = g->dims[o][i], k->str[o][i] = g->str[o][i];
}

static tg_status get_prim(tg_ctx *ctx, const mm_geom *g, tg_dtype dt, tg_dtype c_dt, bool bias, bool acc, bool b_any,
                          tg_prim **p)
{
    mm_key k;
    make_key(&k, g, dt, c_dt, bias, acc, b_any);
    return tg_ctx_prim_get(ctx, &k, sizeof k, build, p);
}

/* Whether oneDNN has a bf16 matmul on this CPU (AVX-512 and newer): probed
 * once per process with a tiny primitive descriptor. */
static bool bf16_supported(tg_ctx *ctx)
{
    static atomic_int state; /* 0 unknown, 1 yes, 2 no */
    int s = atomic_load(&state);
    if (s) return s == 1;
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t dims = {2, 2}, str = {2, 1};
    dnnl_memory_desc_init_by_strides(&a, 2, dims, dnnl_bf16, str);
    dnnl_memory_desc_init_by_strides(&b, 2, dims, dnnl_bf16, str);
    dnnl_memory_desc_init_by_strides(&c, 2, dims, dnnl_f32, str);
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c) == dnnl_success &&
              dnnl_primitive_desc_create(&pd, &desc, NULL, tg_ctx_engine(ctx), NULL) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    atomic_store(&state, ok ? 1 : 2);
    return ok;
}

/* ---- execution ---- */

/* Elements spanned by operand o (0 when empty). */
static int64_t span(const mm_geom *g, int o)
{
    int64_t s = 1;
    for (int i = 0; i < g->n; i++) {
        if (g->dims[o][i] == 0) return 0;
        s += (g->dims[o][i] - 1) * g->str[o][i];
    }
    return s;
}

static void widen_bf16(float *dst, const uint16_t *src, int64_t n)
{
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

/* Offset of the e-th element (row-major order) of an n-dim array with
 * these dims and strides. */
static int64_t elem_offset(int n, const int64_t *dims, const int64_t *strides, int64_t e)
{
    int64_t off = 0;
    for (int i = n - 1; i >= 0; i--) {
        off += e % dims[i] * strides[i];
        e /= dims[i];
    }
    return off;
}

/* C = (accumulate ? C : 0) + bias: the result of an empty contraction. */
static void fill_empty(const mm_geom *g, float *c, const float *bias, bool acc)
{
    int64_t total = 1;
    for (int i = 0; i < g->n; i++) total *= g->dims[OP_C][i];
    for (int64_t e = 0; e < total; e++) {
        const int64_t off = elem_offset(g->n, g->dims[OP_C], g->str[OP_C], e);
        c[off] = (acc ? c[off] : 0.0f) + (bias ? bias[e % g->dims[OP_C][g->n - 1]] : 0.0f);
    }
}

typedef struct mm_args {
    tg_dtype dt, c_dt;
    bool bias, acc, b_packed;
    const char **impl; /* non-NULL: only report the implementation name */
} mm_args;

/* One matmul without summed batch dims. */
static tg_status run_plain(tg_ctx *ctx, mm_geom g, const mm_args *x, void *c, const void *a, const void *b,
                           const float *bias)
{
    drop_unit_batch_dims(&g);
    fold_into_m(&g);
    tg_prim *p;
    TG_TRY(get_prim(ctx, &g, x->dt, x->c_dt, x->bias, x->acc, x->b_packed, &p));
    if (x->impl) {
        const char *s = NULL;
        TG_TRY(
            tg_dnnl_check(dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &s), "tg_backend_matmul_impl"));
        *x->impl = s;
        return TG_OK;
    }
    void *h[4] = {(void *)a, (void *)b, c, (void *)bias};
    return tg_prim_run(ctx, p, h);
}

/* Sums over C's batch dims of 1 where A or B is larger, as a loop of
 * accumulating matmuls over the remaining dims. */
static tg_status run_reduce(tg_ctx *ctx, mm_geom g, const mm_args *x, float *c, const char *a, const char *b)
{
    int red[MAXD], nr = 0;
    int64_t rdim[MAXD], rsa[MAXD], rsb[MAXD], total = 1;
    for (int i = 0; i < g.n - 2; i++) {
        int64_t m = g.dims[OP_A][i] > g.dims[OP_B][i] ? g.dims[OP_A][i] : g.dims[OP_B][i];
        if (g.dims[OP_C][i] != 1 || m == 1) continue;
        red[nr] = i;
        rdim[nr] = m;
        rsa[nr] = g.dims[OP_A][i] > 1 ? g.str[OP_A][i] : 0;
        rsb[nr] = g.dims[OP_B][i] > 1 ? g.str[OP_B][i] : 0;
        total *= m;
        nr++;
    }
    mm_geom sub = g;
    for (int r = nr - 1; r >= 0; r--) drop_dim(&sub, red[r]);
    const size_t esz = tg_dtype_size(x->dt);
    for (int64_t it = 0; it < total; it++) {
        int64_t rem = it, oa = 0, ob = 0;
        for (int r = nr - 1; r >= 0; r--) {
            int64_t idx = rem % rdim[r];
            rem /= rdim[r];
            oa += idx * rsa[r];
            ob += idx * rsb[r];
        }
        mm_args xi = *x;
        xi.acc = x->acc || it > 0;
        TG_TRY(run_plain(ctx, sub, &xi, c, a + (size_t)oa * esz, b + (size_t)ob * esz, NULL));
        if (x->impl) break;
    }
    return TG_OK;
}

static tg_status matmul(tg_ctx *ctx, const tg_matmul_desc *d, void *c, const void *a, const void *b, const void *bias,
                        const char **impl);

/* d with a bf16 C where oneDNN will not write one (no bf16 matmul on this
 * CPU, or an empty contraction): the product into a dense f32 C on the
 * heap, then rounded into c through its strides. */
static tg_status via_f32_c(tg_ctx *ctx, const tg_matmul_desc *d, uint16_t *c, const void *a, const void *b,
                           const void *bias, const char **impl)
{
    tg_matmul_desc f = *d;
    f.c_dtype = TG_F32;
    int64_t total = 1;
    for (int i = d->ndim - 1; i >= 0; i--) {
        f.c_strides[i] = total;
        total *= d->c_dims[i];
    }
    if (impl) return matmul(ctx, &f, NULL, a, b, bias, impl);
    float *tmp = malloc((size_t)(total > 0 ? total : 1) * sizeof(float));
    if (!tmp) return tg_error(TG_ERR_OOM, "tg_backend_matmul: no memory for an f32 C of %lld values", (long long)total);
    tg_status st = matmul(ctx, &f, tmp, a, b, bias, NULL);
    for (int64_t e = 0; st == TG_OK && e < total; e++)
        c[elem_offset(d->ndim, d->c_dims, d->c_strides, e)] = tg_f32_to_bf16(tmp[e]);
    free(tmp);
    return st;
}

static tg_status matmul(tg_ctx *ctx, const tg_matmul_desc *d, void *c, const void *a, const void *b, const void *bias,
                        const char **impl)
{
    mm_geom g;
    bool reduces = false;
    TG_TRY(validate(d, &g, &reduces));
    if (d->b_packed && d->ndim != 2)
        return tg_error(TG_ERR_INVALID, "tg_backend_matmul: a packed B needs a 2-D matmul, got ndim %d", d->ndim);
    mm_args x = {.dt = d->ab_dtype,
                 .c_dt = d->c_dtype,
                 .bias = d->bias,
                 .acc = d->accumulate,
                 .b_packed = d->b_packed,
                 .impl = impl};
    const int n = g.n;
    bool empty_c = span(&g, OP_C) == 0;
    if (empty_c && !impl) return TG_OK;
    bool empty_k = g.dims[OP_A][n - 1] == 0;
    for (int i = 0; i < n - 2; i++)
        if (g.dims[OP_C][i] == 1 && (g.dims[OP_A][i] == 0 || g.dims[OP_B][i] == 0)) empty_k = true;
    if (d->c_dtype == TG_BF16 && (empty_k || !bf16_supported(ctx))) return via_f32_c(ctx, d, c, a, b, bias, impl);
    if (empty_k && !impl) {
        fill_empty(&g, c, d->bias ? bias : NULL, d->accumulate);
        return TG_OK;
    }
    if (empty_c || empty_k) return tg_error(TG_ERR_INVALID, "tg_backend_matmul_impl: empty matmul runs no primitive");

    /* Without a bf16 matmul on this CPU, widen the spanned operands to f32
     * (heap, not the arena: a rewind there would drop the autograd tape). */
    float *wide[2] = {NULL, NULL};
    if (x.dt == TG_BF16 && !bf16_supported(ctx)) {
        x.dt = TG_F32;
        const void **ops[2] = {&a, &b};
        for (int o = 0; o < (d->b_packed ? 1 : 2) && !impl; o++) { /* a packed B is f32 already */
            int64_t s = span(&g, o);
            wide[o] = malloc((size_t)s * sizeof(float));
            if (!wide[o]) {
                free(wide[0]);
                return tg_error(TG_ERR_OOM, "tg_backend_matmul: no memory to widen bf16 operands");
            }
            widen_bf16(wide[o], *ops[o], s);
            *ops[o] = wide[o];
        }
    }
    drop_unit_batch_dims(&g);
    tg_status st;
    if (fold_into_k(&g) || !reduces)
        st = run_plain(ctx, g, &x, c, a, b, bias);
    else
        st = run_reduce(ctx, g, &x, c, a, b);
    free(wide[0]);
    free(wide[1]);
    return st;
}

tg_status tg_backend_matmul(tg_ctx *ctx, const tg_matmul_desc *d, void *c, const void *a, const void *b,
                            const void *bias)
{
    return matmul(ctx, d, c, a, b, bias, NULL);
}

const char *tg_backend_matmul_impl(tg_ctx *ctx, const tg_matmul_desc *d)
{
    const char *s = NULL;
    return matmul(ctx, d, NULL, NULL, NULL, NULL, &s) == TG_OK ? s : NULL;
}

/* ---- packed B ---- */

/* A reorder from B as the caller stores it to the packed layout of the
 * matmul primitive in `mm`. */
typedef struct pack_key {
    uint32_t tag;
    int32_t src_dtype; /* dnnl_data_type_t of the source */
    mm_key mm;
} pack_key;

#define PACK_TAG 0x4b434150u /* "PACK" */

static tg_status build_pack(tg_ctx *ctx, const void *keyp, tg_prim *out)
{
    const pack_key *k = keyp;
    tg_prim *mm;
    TG_TRY(tg_ctx_prim_get(ctx, &k->mm, sizeof k->mm, build, &mm));
    const dnnl_memory_desc_t *to = dnnl_primitive_desc_query_md(mm->pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t from;
    dnnl_dims_t bd, bs;
    memcpy(bd, k->mm.dims[OP_B], sizeof k->mm.dims[OP_B]);
    memcpy(bs, k->mm.str[OP_B], sizeof k->mm.str[OP_B]);
    TG_TRY(tg_dnnl_check(dnnl_memory_desc_init_by_strides(&from, k->mm.n, bd, (dnnl_data_type_t)k->src_dtype, bs),
                         "tg_backend_matmul_pack_b: source desc"));
    TG_TRY(tg_dnnl_check(
        dnnl_reorder_primitive_desc_create(&out->pd, &from, tg_ctx_engine(ctx), to, tg_ctx_engine(ctx), NULL),
        "tg_backend_matmul_pack_b: reorder desc"));
    TG_TRY(tg_dnnl_check(dnnl_primitive_create(&out->prim, out->pd), "tg_backend_matmul_pack_b: reorder"));
    const dnnl_memory_desc_t *mds[2] = {&from, to};
    const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    for (int i = 0; i < 2; i++) {
        TG_TRY(tg_dnnl_check(dnnl_memory_create(&out->mem[i], mds[i], tg_ctx_engine(ctx), DNNL_MEMORY_NONE),
                             "tg_backend_matmul_pack_b: memory"));
        out->args[i] = args[i];
        out->nmem = i + 1;
    }
    return TG_OK;
}

/* The key of d's matmul with a packed B (checked: 2-D, no empty dims), in
 * the dtype the matmuls will run in on this CPU; *b_span (when not NULL)
 * gets the elements B spans. */
static tg_status packed_key(tg_ctx *ctx, const tg_matmul_desc *d, mm_key *k, int64_t *b_span)
{
    mm_geom g;
    bool reduces;
    TG_TRY(validate(d, &g, &reduces));
    if (d->ndim != 2 || span(&g, OP_A) == 0 || span(&g, OP_B) == 0 || span(&g, OP_C) == 0)
        return tg_error(TG_ERR_INVALID, "tg_backend_matmul_pack_b: needs a 2-D matmul with no empty dim");
    const bool wide = d->ab_dtype == TG_BF16 && !bf16_supported(ctx); /* runs in f32, C too (via_f32_c) */
    make_key(k, &g, wide ? TG_F32 : d->ab_dtype, wide ? TG_F32 : d->c_dtype, d->bias, d->accumulate, true);
    if (b_span) *b_span = span(&g, OP_B);
    return TG_OK;
}

tg_status tg_backend_matmul_packed_bytes(tg_ctx *ctx, const tg_matmul_desc *d, size_t *bytes)
{
    mm_key k;
    tg_prim *mm;
    TG_TRY(packed_key(ctx, d, &k, NULL));
    TG_TRY(tg_ctx_prim_get(ctx, &k, sizeof k, build, &mm));
    *bytes = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(mm->pd, dnnl_query_weights_md, 0));
    return TG_OK;
}

tg_status tg_backend_matmul_pack_b(tg_ctx *ctx, const tg_matmul_desc *d, void *dst, const void *b, tg_dtype src_dtype)
{
    if (src_dtype != TG_F32 && src_dtype != TG_BF16)
        return tg_error(TG_ERR_DTYPE, "tg_backend_matmul_pack_b: source must be f32 or bf16, got %s",
                        tg_dtype_name(src_dtype));
    pack_key k;
    memset(&k, 0, sizeof k);
    k.tag = PACK_TAG;
    int64_t n = 0;
    TG_TRY(packed_key(ctx, d, &k.mm, &n));
    /* Without a bf16 matmul the packed B is f32 (packed_key), but a bf16
     * product still reads B rounded to bf16: an f32 source is rounded here,
     * as the reorder to a bf16 B rounds it on CPUs that have one. */
    uint16_t *rounded = NULL;
    if (d->ab_dtype == TG_BF16 && src_dtype == TG_F32 && k.mm.dtype == (int32_t)dnnl_f32) {
        if (!(rounded = malloc(sizeof(uint16_t) * (size_t)n)))
            return tg_error(TG_ERR_OOM, "tg_backend_matmul_pack_b: no memory to round %lld values of B", (long long)n);
        tg_f32_to_bf16_n(rounded, b, n);
        b = rounded, src_dtype = TG_BF16;
    }
    k.src_dtype = (int32_t)dnnl_dt(src_dtype);
    tg_prim *p;
    void *h[2] = {(void *)b, dst};
    tg_status st = tg_ctx_prim_get(ctx, &k, sizeof k, build_pack, &p);
    if (st == TG_OK) st = tg_prim_run(ctx, p, h);
    free(rounded);
    return st;
}

void tg_matmul_view(int64_t *dims, int64_t *strides, int nb, const int64_t *batch, int64_t rows, int64_t cols,
                    bool trans)
{
    dims[nb] = rows;
    dims[nb + 1] = cols;
    strides[nb] = trans ? 1 : cols;
    strides[nb + 1] = trans ? rows : 1;
    int64_t s = rows * cols;
    for (int i = nb - 1; i >= 0; i--) {
        dims[i] = batch[i];
        strides[i] = s;
        s *= batch[i];
    }
}
