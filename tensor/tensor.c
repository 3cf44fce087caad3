#include "tensor/tensor_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ctx.h"
#include "tensor/rng.h"

/* ---- shapes and dtypes ---- */

int64_t tg_shape_numel(const tg_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->dims[i];
    return n;
}

bool tg_shape_equal(const tg_shape *a, const tg_shape *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

char *tg_shape_str(const tg_shape *s, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < s->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)s->dims[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

size_t tg_dtype_size(tg_dtype dt) { return dt == TG_BF16 ? 2 : 4; }

const char *tg_dtype_name(tg_dtype dt)
{
    switch (dt) {
    case TG_F32: return "f32";
    case TG_BF16: return "bf16";
    case TG_S32: return "s32";
    }
    return "unknown";
}

tg_status tg_shape_check(const tg_shape *s, const char *fn)
{
    if (s->ndim < 0 || s->ndim > TG_MAX_DIMS)
        return tg_error(TG_ERR_SHAPE, "%s: rank %d outside 0..%d", fn, s->ndim, TG_MAX_DIMS);
    for (int i = 0; i < s->ndim; i++)
        if (s->dims[i] < 0)
            return tg_error(TG_ERR_SHAPE, "%s: dim %d is negative (%lld)", fn, i, (long long)s->dims[i]);
    return TG_OK;
}

static bool dtype_ok(tg_dtype dt) { return dt == TG_F32 || dt == TG_BF16 || dt == TG_S32; }

/* ---- bf16 ---- */

/* Inline so the bulk loops below vectorize (branch-free NaN select). */
static inline uint16_t to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t r = u + 0x7fffu + ((u >> 16) & 1u);                          /* round to nearest even */
    return (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40) /* quiet NaN */
                                           : (uint16_t)(r >> 16);
}

static inline float from_bf16(uint16_t x)
{
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t tg_f32_to_bf16(float x) { return to_bf16(x); }

float tg_bf16_to_f32(uint16_t x) { return from_bf16(x); }

void tg_f32_to_bf16_n(uint16_t *dst, const float *src, int64_t n)
{
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; i++) dst[i] = to_bf16(src[i]);
}

void tg_bf16_to_f32_n(float *dst, const uint16_t *src, int64_t n)
{
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; i++) dst[i] = from_bf16(src[i]);
}

/* ---- creation ---- */

static tg_tensor *alloc_header(tg_lifetime life)
{
    tg_tensor *t = life == TG_STEP ? tg_arena_calloc(tg_ctx_arena(tg_ctx_current()), sizeof *t) : calloc(1, sizeof *t);
    if (!t) tg_error(TG_ERR_OOM, "tensor header: out of memory");
    return t;
}

tg_tensor *tg_tensor_empty(tg_lifetime life, tg_shape shape, tg_dtype dt)
{
    if (tg_shape_check(&shape, "tg_tensor_empty") != TG_OK) return NULL;
    if (!dtype_ok(dt)) {
        tg_error(TG_ERR_DTYPE, "tg_tensor_empty: unknown dtype %d", (int)dt);
        return NULL;
    }
    tg_tensor *t = alloc_header(life);
    if (!t) return NULL;
    t->shape = shape;
    t->numel = tg_shape_numel(&shape);
    t->dtype = dt;
    t->life = life;
    size_t bytes = (size_t)t->numel * tg_dtype_size(dt);
    if (life == TG_STEP) {
        t->data = tg_arena_alloc(tg_ctx_arena(tg_ctx_current()), bytes);
    } else {
        size_t cap = (bytes + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
        t->data = aligned_alloc(64, cap ? cap : 64);
        t->owns_data = true;
    }
    if (!t->data) {
        if (life == TG_PERSIST) free(t);
        tg_error(TG_ERR_OOM, "tg_tensor_empty: cannot allocate %zu bytes", bytes);
        return NULL;
    }
    return t;
}

tg_tensor *tg_tensor_new(tg_lifetime life, tg_shape shape, tg_dtype dt)
{
    tg_tensor *t = tg_tensor_empty(life, shape, dt);
    if (t) memset(t->data, 0, tg_tensor_nbytes(t));
    return t;
}

tg_tensor *tg_tensor_view(tg_lifetime life, const tg_tensor *base, tg_shape shape)
{
    tg_tensor *t = alloc_header(life);
    if (!t) return NULL;
    t->shape = shape;
    t->numel = tg_shape_numel(&shape);
    t->dtype = base->dtype;
    t->life = life;
    t->data = base->data;
    return t;
}

tg_tensor *tg_full(tg_lifetime life, tg_shape shape, tg_dtype dt, double v)
{
    tg_tensor *t = tg_tensor_empty(life, shape, dt);
    if (t) tg_fill(t, v);
    return t;
}

tg_tensor *tg_zeros(tg_lifetime life, tg_shape shape, tg_dtype dt) { return tg_tensor_new(life, shape, dt); }

tg_tensor *tg_ones(tg_lifetime life, tg_shape shape, tg_dtype dt) { return tg_full(life, shape, dt, 1.0); }

tg_tensor *tg_arange(tg_lifetime life, int64_t n, double start, double step, tg_dtype dt)
{
    tg_tensor *t = tg_tensor_empty(life, TG_SHAPE(n), dt);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) tg_tensor_set(t, i, start + step * (double)i);
    return t;
}

tg_tensor *tg_from_buffer(tg_lifetime life, tg_shape shape, tg_dtype dt, const void *data)
{
    tg_tensor *t = tg_tensor_empty(life, shape, dt);
    if (t) memcpy(t->data, data, tg_tensor_nbytes(t));
    return t;
}

tg_tensor *tg_randn(tg_lifetime life, tg_shape shape, tg_dtype dt, uint64_t seed, double mean, double std)
{
    tg_tensor *t = tg_tensor_empty(life, shape, dt);
    if (t && tg_fill_randn(t, seed, mean, std) != TG_OK) {
        tg_tensor_free(t);
        return NULL;
    }
    return t;
}

tg_tensor *tg_rand(tg_lifetime life, tg_shape shape, tg_dtype dt, uint64_t seed, double lo, double hi)
{
    tg_tensor *t = tg_tensor_empty(life, shape, dt);
    if (t && tg_fill_rand(t, seed, lo, hi) != TG_OK) {
        tg_tensor_free(t);
        return NULL;
    }
    return t;
}

tg_tensor *tg_tensor_clone(tg_lifetime life, const tg_tensor *t)
{
    if (!t) return NULL;
    return tg_from_buffer(life, t->shape, t->dtype, t->data);
}

tg_tensor *tg_tensor_to(tg_lifetime life, const tg_tensor *t, tg_dtype dt)
{
    if (!t) return NULL;
    tg_tensor *o = tg_tensor_empty(life, t->shape, dt);
    if (o) tg_copy(o, t);
    return o;
}

void tg_tensor_free(tg_tensor *t)
{
    if (!t || t->life != TG_PERSIST) return;
    tg_tensor_free(t->grad);
    if (t->owns_data) free(t->data);
    free(t);
}

/* ---- fills and copies ---- */

tg_status tg_fill(tg_tensor *t, double v)
{
    if (!t) return tg_error(TG_ERR_INVALID, "tg_fill: NULL tensor");
    const int64_t n = t->numel;
    if (t->dtype == TG_F32) {
        float *p = t->data, f = (float)v;
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; i++) p[i] = f;
    } else {
        for (int64_t i = 0; i < n; i++) tg_tensor_set(t, i, v);
    }
    return TG_OK;
}

static tg_status fill_random(tg_tensor *t, uint64_t seed, double a, double b, bool normal, const char *fn)
{
    if (!t) return tg_error(TG_ERR_INVALID, "%s: NULL tensor", fn);
    if (t->dtype == TG_S32) return tg_error(TG_ERR_DTYPE, "%s: needs f32 or bf16, got s32", fn);
    const int64_t n = t->numel;
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        double v =
            normal ? a + b * tg_rng_normal_at(seed, (uint64_t)i) : a + (b - a) * tg_rng_uniform_at(seed, (uint64_t)i);
        tg_tensor_set(t, i, v);
    }
    return TG_OK;
}

tg_status tg_fill_randn(tg_tensor *t, uint64_t seed, double mean, double std)
{
    return fill_random(t, seed, mean, std, true, "tg_fill_randn");
}

tg_status tg_fill_rand(tg_tensor *t, uint64_t seed, double lo, double hi)
{
    return fill_random(t, seed, lo, hi, false, "tg_fill_rand");
}

tg_status tg_copy(tg_tensor *dst, const tg_tensor *src)
{
    if (!dst || !src) return tg_error(TG_ERR_INVALID, "tg_copy: NULL tensor");
    if (dst->numel != src->numel)
        return tg_error(TG_ERR_SHAPE, "tg_copy: numel differs (dst %lld, src %lld)", (long long)dst->numel,
                        (long long)src->numel);
    const int64_t n = src->numel;
    if (dst->dtype == src->dtype) {
        memmove(dst->data, src->data, tg_tensor_nbytes(src));
    } else if (dst->dtype == TG_BF16 && src->dtype == TG_F32) {
        tg_f32_to_bf16_n(dst->data, src->data, n);
    } else if (dst->dtype == TG_F32 && src->dtype == TG_BF16) {
        tg_bf16_to_f32_n(dst->data, src->data, n);
    } else {
        for (int64_t i = 0; i < n; i++) tg_tensor_set(dst, i, tg_tensor_get(src, i));
    }
    return TG_OK;
}

tg_status tg_copy_from(tg_tensor *t, const void *data, size_t bytes)
{
    if (!t) return tg_error(TG_ERR_INVALID, "tg_copy_from: NULL tensor");
    if (bytes != tg_tensor_nbytes(t))
        return tg_error(TG_ERR_SHAPE, "tg_copy_from: %zu bytes given, tensor holds %zu", bytes, tg_tensor_nbytes(t));
    memcpy(t->data, data, bytes);
    return TG_OK;
}

tg_status tg_tensor_reshape_(tg_tensor *t, tg_shape shape)
{
    if (!t) return tg_error(TG_ERR_INVALID, "tg_tensor_reshape_: NULL tensor");
    TG_TRY(tg_shape_check(&shape, "tg_tensor_reshape_"));
    if (tg_shape_numel(&shape) != t->numel) {
        char a[96], b[96];
        return tg_error(TG_ERR_SHAPE, "tg_tensor_reshape_: cannot view %s as %s", tg_shape_str(&t->shape, a, sizeof a),
                        tg_shape_str(&shape, b, sizeof b));
    }
    t->shape = shape;
    if (t->grad) t->grad->shape = shape;
    return TG_OK;
}

/* ---- access ---- */

tg_dtype tg_tensor_dtype(const tg_tensor *t) { return t->dtype; }
const tg_shape *tg_tensor_shape(const tg_tensor *t) { return &t->shape; }
int tg_tensor_ndim(const tg_tensor *t) { return t->shape.ndim; }

int64_t tg_tensor_dim(const tg_tensor *t, int i)
{
    if (i < 0) i += t->shape.ndim;
    TG_ASSERT(i >= 0 && i < t->shape.ndim, "tg_tensor_dim: axis out of range");
    return t->shape.dims[i];
}

int64_t tg_tensor_numel(const tg_tensor *t) { return t->numel; }
size_t tg_tensor_nbytes(const tg_tensor *t) { return (size_t)t->numel * tg_dtype_size(t->dtype); }
tg_lifetime tg_tensor_lifetime(const tg_tensor *t) { return t->life; }
void *tg_tensor_data(const tg_tensor *t) { return t->data; }

float *tg_f32(const tg_tensor *t)
{
    TG_ASSERT(t->dtype == TG_F32, "tg_f32 on a tensor that is not f32");
    return t->data;
}

uint16_t *tg_bf16(const tg_tensor *t)
{
    TG_ASSERT(t->dtype == TG_BF16, "tg_bf16 on a tensor that is not bf16");
    return t->data;
}

int32_t *tg_s32(const tg_tensor *t)
{
    TG_ASSERT(t->dtype == TG_S32, "tg_s32 on a tensor that is not s32");
    return t->data;
}

double tg_tensor_get(const tg_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case TG_F32: return ((const float *)t->data)[i];
    case TG_BF16: return tg_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case TG_S32: return ((const int32_t *)t->data)[i];
    }
    return NAN;
}

void tg_tensor_set(tg_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case TG_F32: ((float *)t->data)[i] = (float)v; break;
    case TG_BF16: ((uint16_t *)t->data)[i] = tg_f32_to_bf16((float)v); break;
    case TG_S32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    }
}

double tg_item(const tg_tensor *t)
{
    if (!t || t->numel < 1) return NAN;
    return tg_tensor_get(t, 0);
}

/* ---- autograd fields ---- */

tg_status tg_tensor_set_requires_grad(tg_tensor *t, bool on)
{
    if (!t) return tg_error(TG_ERR_INVALID, "tg_tensor_set_requires_grad: NULL tensor");
    if (on && t->dtype == TG_S32)
        return tg_error(TG_ERR_DTYPE, "tg_tensor_set_requires_grad: s32 tensors have no gradient");
    if (t->node)
        return tg_error(TG_ERR_STATE, "tg_tensor_set_requires_grad: only leaves can be marked; "
                                      "detach the tensor first");
    t->requires_grad = on;
    return TG_OK;
}

bool tg_tensor_requires_grad(const tg_tensor *t) { return t && t->requires_grad; }

tg_tensor *tg_tensor_grad(const tg_tensor *t) { return t ? t->grad : NULL; }

tg_tensor *tg_tensor_grad_or_zeros(tg_tensor *t)
{
    if (!t) return NULL;
    if (!t->grad) t->grad = tg_tensor_new(t->life, t->shape, TG_F32);
    return t->grad;
}

void tg_tensor_set_name(tg_tensor *t, const char *name) { t->name = name; }
const char *tg_tensor_name(const tg_tensor *t) { return t->name; }

/* ---- debugging ---- */

void tg_tensor_print(const tg_tensor *t, FILE *f, int max_elems)
{
    if (!t) {
        fprintf(f, "tensor(NULL)\n");
        return;
    }
    char s[128];
    fprintf(f, "tensor%s%s%s %s %s [", t->name ? " '" : "", t->name ? t->name : "", t->name ? "'" : "",
            tg_shape_str(&t->shape, s, sizeof s), tg_dtype_name(t->dtype));
    int64_t n = t->numel < max_elems ? t->numel : max_elems;
    for (int64_t i = 0; i < n; i++) fprintf(f, i ? ", %.6g" : "%.6g", tg_tensor_get(t, i));
    fprintf(f, "%s]%s\n", n < t->numel ? ", ..." : "", t->requires_grad ? " requires_grad" : "");
}
