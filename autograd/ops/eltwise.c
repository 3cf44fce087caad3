/* Unary elementwise ops: y = f(x; alpha). One descriptor per function, all
 * sharing one infer; each kind gets its own forward and backward loop,
 * generated from small inline scalar kernels, so the kernel is inlined into
 * a vectorized loop instead of being called through a pointer per element. */
#include <math.h>

#include "autograd/ops/ops_internal.h"
#include "autograd/ops/vmath.h"

/* y (n) = f(x; alpha) */
typedef void (*unary_fwd)(float *y, const float *x, float alpha, int64_t n);
/* dx (n) += dy * f'(x), given y = f(x) */
typedef void (*unary_bwd)(float *dx, const float *y, const float *x, const float *dy, float alpha, int64_t n,
                          bool fresh);

typedef struct eltwise_kind {
    tg_op op;
    unary_fwd fwd;
    unary_bwd bwd;
} eltwise_kind;

typedef struct eltwise_attr {
    float alpha;
    bool bf16_out; /* GELU only: the output rounded to bf16 (tg_gelu_opts) */
} eltwise_attr;

/* Scalar kernels: f(x, a) and its derivative df(x, y, a) given y = f(x). */
static inline float f_scale(float x, float a) { return a * x; }
static inline float d_scale(float x, float y, float a)
{
    (void)x;
    (void)y;
    return a;
}
static inline float f_add_scalar(float x, float a) { return x + a; }
static inline float d_one(float x, float y, float a)
{
    (void)x;
    (void)y;
    (void)a;
    return 1.0f;
}
static inline float f_neg(float x, float a)
{
    (void)a;
    return -x;
}
static inline float d_neg(float x, float y, float a)
{
    (void)x;
    (void)y;
    (void)a;
    return -1.0f;
}

static inline float f_gelu(float x, float a)
{
    (void)a;
    return tg_vgelu(x);
}

static inline float d_gelu(float x, float y, float a)
{
    (void)y;
    (void)a;
    return tg_vgelu_grad(x);
}

static inline float f_gelu_erf(float x, float a)
{
    (void)a;
    return 0.5f * x * (1.0f + tg_verff(x * 0.70710678118654752f));
}

static inline float d_gelu_erf(float x, float y, float a)
{
    (void)y;
    (void)a;
    float cdf = 0.5f * (1.0f + tg_verff(x * 0.70710678118654752f));
    float pdf = 0.3989422804014327f * tg_vexpf(-0.5f * x * x);
    return cdf + x * pdf;
}

static inline float f_relu(float x, float a)
{
    (void)a;
    return tg_vmath_select(x > 0.0f, x, 0.0f);
}
static inline float d_relu(float x, float y, float a)
{
    (void)y;
    (void)a;
    return tg_vmath_select(x > 0.0f, 1.0f, 0.0f);
}
static inline float f_sigmoid(float x, float a)
{
    (void)a;
    return 1.0f / (1.0f + tg_vexpf(-x));
}
static inline float d_sigmoid(float x, float y, float a)
{
    (void)x;
    (void)a;
    return y * (1.0f - y);
}
static inline float f_silu(float x, float a)
{
    (void)a;
    return x / (1.0f + tg_vexpf(-x));
}

static inline float d_silu(float x, float y, float a)
{
    (void)y;
    (void)a;
    float s = 1.0f / (1.0f + tg_vexpf(-x));
    return s * (1.0f + x * (1.0f - s));
}

static inline float f_tanh(float x, float a)
{
    (void)a;
    return tg_vtanhf(x);
}
static inline float d_tanh(float x, float y, float a)
{
    (void)x;
    (void)a;
    return 1.0f - y * y;
}
static inline float f_exp(float x, float a)
{
    (void)a;
    return tg_vexpf(x);
}
static inline float d_exp(float x, float y, float a)
{
    (void)x;
    (void)a;
    return y;
}
static inline float f_log(float x, float a)
{
    (void)a;
    return logf(x);
}
static inline float d_log(float x, float y, float a)
{
    (void)y;
    (void)a;
    return 1.0f / x;
}
static inline float f_sqrt(float x, float a)
{
    (void)a;
    return sqrtf(x);
}
static inline float d_sqrt(float x, float y, float a)
{
    (void)x;
    (void)a;
    return 0.5f / y;
}
static inline float f_pow(float x, float a) { return powf(x, a); }
static inline float d_pow(float x, float y, float a)
{
    (void)y;
    return a * powf(x, a - 1.0f);
}

/* One forward and one backward loop per kind: NAME_fwd and NAME_bwd (which
 * writes dx when it is fresh, else adds to it). */
#define ELTWISE_LOOPS(NAME, F, DF)                                                                                     \
    static void NAME##_fwd(float *y, const float *x, float alpha, int64_t n)                                           \
    {                                                                                                                  \
        _Pragma("omp parallel for simd if (n > TG_OMP_MIN)") for (int64_t i = 0; i < n; i++) y[i] = F(x[i], alpha);    \
    }                                                                                                                  \
    static void NAME##_bwd(float *dx, const float *y, const float *x, const float *dy, float alpha, int64_t n,         \
                           bool fresh)                                                                                 \
    {                                                                                                                  \
        if (fresh) {                                                                                                   \
            _Pragma("omp parallel for simd if (n > TG_OMP_MIN)") for (int64_t i = 0; i < n; i++) dx[i] =               \
                dy[i] * DF(x[i], y[i], alpha);                                                                         \
            return;                                                                                                    \
        }                                                                                                              \
        _Pragma("omp parallel for simd if (n > TG_OMP_MIN)") for (int64_t i = 0; i < n; i++) dx[i] +=                  \
            dy[i] * DF(x[i], y[i], alpha);                                                                             \
    }

ELTWISE_LOOPS(scale, f_scale, d_scale)
ELTWISE_LOOPS(add_scalar, f_add_scalar, d_one)
ELTWISE_LOOPS(neg, f_neg, d_neg)
ELTWISE_LOOPS(gelu, f_gelu, d_gelu)
ELTWISE_LOOPS(gelu_erf, f_gelu_erf, d_gelu_erf)
ELTWISE_LOOPS(relu, f_relu, d_relu)
ELTWISE_LOOPS(silu, f_silu, d_silu)
ELTWISE_LOOPS(tanh, f_tanh, d_tanh)
ELTWISE_LOOPS(sigmoid, f_sigmoid, d_sigmoid)
ELTWISE_LOOPS(exp, f_exp, d_exp)
ELTWISE_LOOPS(log, f_log, d_log)
ELTWISE_LOOPS(sqrt, f_sqrt, d_sqrt)
ELTWISE_LOOPS(pow, f_pow, d_pow)

/* ---- shape inference ---- */

static tg_status eltwise_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out, tg_dtype *dt)
{
    (void)n_in;
    TG_TRY(tg_ops_require_f32(in[0], "eltwise", "x"));
    *out = *tg_tensor_shape(in[0]);
    *dt = attr && ((const eltwise_attr *)attr)->bf16_out ? TG_BF16 : TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

static const eltwise_kind *kind_of(const tg_op_ctx *ctx);

/* GELU (tanh) with its output rounded to bf16: the input of a bf16 matmul
 * written at half the bytes, with no f32 copy to round later. */
static void gelu_fwd_bf16(uint16_t *y, const float *x, int64_t n)
{
#pragma omp parallel for simd if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = tg_vbf16(f_gelu(x[i], 0.0f));
}

static tg_status eltwise_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr, tg_tensor *out)
{
    (void)n_in;
    const eltwise_attr *a = attr;
    if (a->bf16_out)
        gelu_fwd_bf16(tg_bf16(out), tg_f32(in[0]), tg_tensor_numel(out));
    else
        kind_of(ctx)->fwd(tg_f32(out), tg_f32(in[0]), a->alpha, tg_tensor_numel(out));
    return TG_OK;
}

/* ---- backward ---- */

static tg_status eltwise_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const float *x = tg_f32(tg_op_input(ctx, 0));
    /* GELU's derivative reads x only, so a bf16 output need not be widened */
    const float *y = ((const eltwise_attr *)tg_op_attr(ctx))->bf16_out ? x : tg_f32(tg_op_output(ctx));
    kind_of(ctx)->bwd(tg_f32(din[0]), y, x, tg_f32(dout), ((const eltwise_attr *)tg_op_attr(ctx))->alpha,
                      tg_tensor_numel(dout), tg_op_grad_fresh(ctx, 0));
    return TG_OK;
}

/* ---- descriptors ---- */

#define KIND(NAME, LOOPS)                                                                                              \
    {                                                                                                                  \
        .op = {.name = NAME,                                                                                           \
               .n_in = 1,                                                                                              \
               .flags = TG_OP_FRESH_GRADS,                                                                             \
               .infer = eltwise_infer,                                                                                 \
               .forward = eltwise_forward,                                                                             \
               .backward = eltwise_backward},                                                                          \
        .fwd = LOOPS##_fwd, .bwd = LOOPS##_bwd                                                                         \
    }

static const eltwise_kind kinds[] = {
    KIND("scale", scale),       KIND("add_scalar", add_scalar),
    KIND("neg", neg),           KIND("gelu_tanh", gelu),
    KIND("gelu_erf", gelu_erf), KIND("relu", relu),
    KIND("silu", silu),         KIND("tanh", tanh),
    KIND("sigmoid", sigmoid),   KIND("exp", exp),
    KIND("log", log),           KIND("sqrt", sqrt),
    KIND("pow", pow),
};

enum { SCALE, ADD_SCALAR, NEG, GELU, GELU_ERF, RELU, SILU, TANH, SIGMOID, EXP, LOG, SQRT, POW, N_KINDS };

/* The op descriptor is the first member of its kind, so the node's op
 * pointer leads back to the kernels. */
static const eltwise_kind *kind_of(const tg_op_ctx *ctx) { return (const eltwise_kind *)tg_op_of(ctx); }

tg_status tg_register_eltwise_ops(void)
{
    for (int i = 0; i < N_KINDS; i++) TG_TRY(tg_op_register(&kinds[i].op));
    return TG_OK;
}

static tg_tensor *unary(int kind, const tg_tensor *x, double alpha)
{
    eltwise_attr a = {.alpha = (float)alpha};
    return tg_apply(&kinds[kind].op, &x, 1, &a, sizeof a);
}

tg_tensor *tg_scale(const tg_tensor *x, double s) { return unary(SCALE, x, s); }
tg_tensor *tg_add_scalar(const tg_tensor *x, double s) { return unary(ADD_SCALAR, x, s); }
tg_tensor *tg_neg(const tg_tensor *x) { return unary(NEG, x, 0); }
tg_tensor *tg_gelu(const tg_tensor *x) { return tg_gelu_with(x, NULL); }

tg_tensor *tg_gelu_with(const tg_tensor *x, const tg_gelu_opts *opts)
{
    const tg_dtype out = opts ? opts->out : TG_F32;
    if (out != TG_F32 && out != TG_BF16) {
        tg_error(TG_ERR_DTYPE, "tg_gelu: output dtype must be f32 or bf16, got %s", tg_dtype_name(out));
        return NULL;
    }
    eltwise_attr a = {.bf16_out = out == TG_BF16};
    return tg_apply(&kinds[GELU].op, &x, 1, &a, sizeof a);
}
tg_tensor *tg_gelu_erf(const tg_tensor *x) { return unary(GELU_ERF, x, 0); }
tg_tensor *tg_relu(const tg_tensor *x) { return unary(RELU, x, 0); }
tg_tensor *tg_silu(const tg_tensor *x) { return unary(SILU, x, 0); }
tg_tensor *tg_tanh(const tg_tensor *x) { return unary(TANH, x, 0); }
tg_tensor *tg_sigmoid(const tg_tensor *x) { return unary(SIGMOID, x, 0); }
tg_tensor *tg_exp(const tg_tensor *x) { return unary(EXP, x, 0); }
tg_tensor *tg_log(const tg_tensor *x) { return unary(LOG, x, 0); }
tg_tensor *tg_sqrt(const tg_tensor *x) { return unary(SQRT, x, 0); }
tg_tensor *tg_pow(const tg_tensor *x, double p) { return unary(POW, x, p); }
