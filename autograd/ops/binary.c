/* Binary arithmetic with NumPy broadcasting: add, sub, mul, div. */
#include <string.h>

#include "autograd/ops/ops_internal.h"

/* y = f(a, b) over the broadcast plan; same: a, b and y share one shape. */
typedef void (*binary_fwd)(float *y, const float *a, const float *b, const tg_bcast *p, bool same);
/* dx (input `which`) += dy * d f / d input, summed over broadcast dims. */
typedef void (*binary_acc)(float *dx, const float *dy, const float *a, const float *b, const tg_bcast *p, int which,
                           bool same, bool fresh, int64_t nx);

typedef struct binary_kind {
    tg_op op;
    binary_fwd fwd;
    binary_acc da, db;
} binary_kind;

/* Scalar kernels: f(a, b) and its partials. */
static inline float f_add(float a, float b) { return a + b; }
static inline float f_sub(float a, float b) { return a - b; }
static inline float f_mul(float a, float b) { return a * b; }
static inline float f_div(float a, float b) { return a / b; }
static inline float one(float a, float b)
{
    (void)a;
    (void)b;
    return 1.0f;
}
static inline float minus_one(float a, float b)
{
    (void)a;
    (void)b;
    return -1.0f;
}
static inline float take_b(float a, float b)
{
    (void)a;
    return b;
}
static inline float take_a(float a, float b)
{
    (void)b;
    return a;
}
static inline float div_da(float a, float b)
{
    (void)a;
    return 1.0f / b;
}
static inline float div_db(float a, float b) { return -a / (b * b); }

/* Calls ROW(SA, SB, FN) with the last-dim strides sa, sb (each 0 or 1) as
 * constants, so each inlined row loop is specialized: contiguous, or with
 * one side a per-row scalar. */
#define WITH_STRIDES(sa, sb, ROW, FN)                                                                                  \
    do {                                                                                                               \
        if ((sa) && (sb))                                                                                              \
            ROW(1, 1, FN);                                                                                             \
        else if (sa)                                                                                                   \
            ROW(1, 0, FN);                                                                                             \
        else if (sb)                                                                                                   \
            ROW(0, 1, FN);                                                                                             \
        else                                                                                                           \
            ROW(0, 0, FN);                                                                                             \
    } while (0)

/* NAME: forward loops for F. */
#define BINARY_FORWARD(NAME, F)                                                                                        \
    static void NAME(float *y, const float *a, const float *b, const tg_bcast *p, bool same)                           \
    {                                                                                                                  \
        const int64_t cols = p->cols, last = p->ndim - 1;                                                              \
        if (same) {                                                                                                    \
            const int64_t n = p->rows * cols;                                                                          \
            _Pragma("omp parallel for simd if (n > TG_OMP_MIN)") for (int64_t i = 0; i < n; i++) y[i] = F(a[i], b[i]); \
            return;                                                                                                    \
        }                                                                                                              \
        const int64_t sa = p->ndim ? p->stride[0][last] : 0, sb = p->ndim ? p->stride[1][last] : 0;                    \
        _Pragma("omp parallel for if (p->rows * cols > TG_OMP_MIN)") for (int64_t r = 0; r < p->rows; r++)             \
        {                                                                                                              \
            const float *ar = a + tg_bcast_row_offset(p, 0, r), *br = b + tg_bcast_row_offset(p, 1, r);                \
            float *yr = y + r * cols;                                                                                  \
            WITH_STRIDES(sa, sb, FWD_ROW, F);                                                                          \
        }                                                                                                              \
    }
#define FWD_ROW(SA, SB, F) _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) yr[j] = F(ar[j * (SA)], br[j * (SB)])

/* NAME: dx += dy * P(a, b) for input `which`, summed over broadcast dims;
 * a fresh dx (nx values, see tg_op_grad_fresh) is written, not added to. */
#define BINARY_ACCUMULATE(NAME, P)                                                                                     \
    static void NAME(float *dx, const float *dy, const float *a, const float *b, const tg_bcast *p, int which,         \
                     bool same, bool fresh, int64_t nx)                                                                \
    {                                                                                                                  \
        const int64_t cols = p->cols, last = p->ndim - 1;                                                              \
        if (same) {                                                                                                    \
            const int64_t n = p->rows * cols;                                                                          \
            if (fresh) {                                                                                               \
                _Pragma("omp parallel for simd if (n > TG_OMP_MIN)") for (int64_t i = 0; i < n; i++) dx[i] =           \
                    dy[i] * P(a[i], b[i]);                                                                             \
                return;                                                                                                \
            }                                                                                                          \
            _Pragma("omp parallel for simd if (n > TG_OMP_MIN)") for (int64_t i = 0; i < n; i++) dx[i] +=              \
                dy[i] * P(a[i], b[i]);                                                                                 \
            return;                                                                                                    \
        }                                                                                                              \
        if (fresh) memset(dx, 0, sizeof(float) * (size_t)nx);                                                          \
        const int64_t sa = p->ndim ? p->stride[0][last] : 0, sb = p->ndim ? p->stride[1][last] : 0;                    \
        const bool shared = tg_bcast_rows_shared(p, which);                                                            \
        _Pragma("omp parallel for if (!shared && p->rows * cols > TG_OMP_MIN)") for (int64_t r = 0; r < p->rows; r++)  \
        {                                                                                                              \
            const int64_t oa = tg_bcast_row_offset(p, 0, r), ob = tg_bcast_row_offset(p, 1, r);                        \
            float *dxr = dx + (which ? ob : oa);                                                                       \
            const float *ar = a + oa, *br = b + ob, *dyr = dy + r * cols;                                              \
            if ((which ? sb : sa) == 0) { /* x is one value along the row: a sum */                                    \
                float s = 0.0f;                                                                                        \
                WITH_STRIDES(sa, sb, SUM_ROW, P);                                                                      \
                dxr[0] += s;                                                                                           \
            } else {                                                                                                   \
                WITH_STRIDES(sa, sb, ACC_ROW, P);                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }
#define SUM_ROW(SA, SB, P)                                                                                             \
    _Pragma("omp simd reduction(+ : s)") for (int64_t j = 0; j < cols; j++) s += dyr[j] * P(ar[j * (SA)], br[j * (SB)])
#define ACC_ROW(SA, SB, P)                                                                                             \
    _Pragma("omp simd") for (int64_t j = 0; j < cols; j++) dxr[j * (which ? (SB) : (SA))] +=                           \
        dyr[j] * P(ar[j * (SA)], br[j * (SB)])

BINARY_FORWARD(add_fwd, f_add)
BINARY_FORWARD(sub_fwd, f_sub)
BINARY_FORWARD(mul_fwd, f_mul)
BINARY_FORWARD(div_fwd, f_div)
BINARY_ACCUMULATE(add_da, one)
BINARY_ACCUMULATE(add_db, one)
BINARY_ACCUMULATE(sub_db, minus_one)
BINARY_ACCUMULATE(mul_da, take_b)
BINARY_ACCUMULATE(mul_db, take_a)
BINARY_ACCUMULATE(div_da_acc, div_da)
BINARY_ACCUMULATE(div_db_acc, div_db)

/* True when a and b already have the output's shape: one flat loop. */
static bool same_shapes(const tg_tensor *a, const tg_tensor *b, const tg_shape *out)
{
    return tg_shape_equal(tg_tensor_shape(a), out) && tg_shape_equal(tg_tensor_shape(b), out);
}

static const binary_kind *kind_of(const tg_op_ctx *ctx) { return (const binary_kind *)tg_op_of(ctx); }

/* ---- shape inference ---- */

static tg_status binary_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    (void)attr;
    TG_TRY(tg_ops_require_f32(in[0], "binary op", "a"));
    TG_TRY(tg_ops_require_f32(in[1], "binary op", "b"));
    *dt = TG_F32;
    return tg_broadcast_shape(tg_tensor_shape(in[0]), tg_tensor_shape(in[1]), out, "binary op");
}

/* ---- forward ---- */

static tg_status binary_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    (void)attr;
    tg_bcast p;
    tg_bcast_plan(&p, tg_tensor_shape(in[0]), tg_tensor_shape(in[1]), tg_tensor_shape(out));
    kind_of(ctx)->fwd(tg_f32(out), tg_f32(in[0]), tg_f32(in[1]), &p, same_shapes(in[0], in[1], tg_tensor_shape(out)));
    return TG_OK;
}

/* ---- backward ---- */

static tg_status binary_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const binary_kind *k = kind_of(ctx);
    const tg_tensor *a = tg_op_input(ctx, 0), *b = tg_op_input(ctx, 1);
    tg_bcast p;
    tg_bcast_plan(&p, tg_tensor_shape(a), tg_tensor_shape(b), tg_tensor_shape(dout));
    const bool same = same_shapes(a, b, tg_tensor_shape(dout));
    for (int i = 0; i < 2; i++)
        if (din[i])
            (i ? k->db : k->da)(tg_f32(din[i]), tg_f32(dout), tg_f32(a), tg_f32(b), &p, i, same,
                                tg_op_grad_fresh(ctx, i), tg_tensor_numel(din[i]));
    return TG_OK;
}

/* ---- descriptors ---- */

#define KIND(NAME, F, DA, DB)                                                                                          \
    {                                                                                                                  \
        .op = {.name = NAME,                                                                                           \
               .n_in = 2,                                                                                              \
               .flags = TG_OP_FRESH_GRADS,                                                                             \
               .infer = binary_infer,                                                                                  \
               .forward = binary_forward,                                                                              \
               .backward = binary_backward},                                                                           \
        .fwd = F, .da = DA, .db = DB                                                                                   \
    }

static const binary_kind kinds[] = {
    KIND("add", add_fwd, add_da, add_db),
    KIND("sub", sub_fwd, add_da, sub_db),
    KIND("mul", mul_fwd, mul_da, mul_db),
    KIND("div", div_fwd, div_da_acc, div_db_acc),
};

enum { ADD, SUB, MUL, DIV, N_KINDS };

tg_status tg_register_binary_ops(void)
{
    for (int i = 0; i < N_KINDS; i++) TG_TRY(tg_op_register(&kinds[i].op));
    return TG_OK;
}

static tg_tensor *binary(int kind, const tg_tensor *a, const tg_tensor *b)
{
    const tg_tensor *in[2] = {a, b};
    return tg_apply(&kinds[kind].op, in, 2, NULL, 0);
}

tg_tensor *tg_add(const tg_tensor *a, const tg_tensor *b) { return binary(ADD, a, b); }
tg_tensor *tg_sub(const tg_tensor *a, const tg_tensor *b) { return binary(SUB, a, b); }
tg_tensor *tg_mul(const tg_tensor *a, const tg_tensor *b) { return binary(MUL, a, b); }
tg_tensor *tg_div(const tg_tensor *a, const tg_tensor *b) { return binary(DIV, a, b); }
