/* Unary elementwise ops: y = f(x; alpha). One descriptor per function, all
 * sharing one infer/forward/backward driven by a table of scalar kernels. */
#include <math.h>

#include "autograd/ops/ops_internal.h"

typedef float (*unary_fn)(float x, float alpha);
/* dy/dx at x, given y = f(x). */
typedef float (*unary_grad_fn)(float x, float y, float alpha);

typedef struct eltwise_kind {
    tg_op op;
    unary_fn f;
    unary_grad_fn df;
} eltwise_kind;

typedef struct eltwise_attr {
    float alpha;
} eltwise_attr;

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

static float f_scale(float x, float a) { return a * x; }
static float d_scale(float x, float y, float a) { (void)x; (void)y; return a; }
static float f_add_scalar(float x, float a) { return x + a; }
static float d_one(float x, float y, float a) { (void)x; (void)y; (void)a; return 1.0f; }
static float f_neg(float x, float a) { (void)a; return -x; }
static float d_neg(float x, float y, float a) { (void)x; (void)y; (void)a; return -1.0f; }

static float f_gelu(float x, float a)
{
    (void)a;
    return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
}

static float d_gelu(float x, float y, float a)
{
    (void)y; (void)a;
    float u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
    float t = tanhf(u);
    float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

static float f_gelu_erf(float x, float a) { (void)a; return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

static float d_gelu_erf(float x, float y, float a)
{
    (void)y; (void)a;
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
    return cdf + x * pdf;
}

static float f_relu(float x, float a) { (void)a; return x > 0.0f ? x : 0.0f; }
static float d_relu(float x, float y, float a) { (void)y; (void)a; return x > 0.0f ? 1.0f : 0.0f; }
static float f_sigmoid(float x, float a) { (void)a; return 1.0f / (1.0f + expf(-x)); }
static float d_sigmoid(float x, float y, float a) { (void)x; (void)a; return y * (1.0f - y); }
static float f_silu(float x, float a) { (void)a; return x / (1.0f + expf(-x)); }

static float d_silu(float x, float y, float a)
{
    (void)y; (void)a;
    float s = 1.0f / (1.0f + expf(-x));
    return s * (1.0f + x * (1.0f - s));
}

static float f_tanh(float x, float a) { (void)a; return tanhf(x); }
static float d_tanh(float x, float y, float a) { (void)x; (void)a; return 1.0f - y * y; }
static float f_exp(float x, float a) { (void)a; return expf(x); }
static float d_exp(float x, float y, float a) { (void)x; (void)a; return y; }
static float f_log(float x, float a) { (void)a; return logf(x); }
static float d_log(float x, float y, float a) { (void)y; (void)a; return 1.0f / x; }
static float f_sqrt(float x, float a) { (void)a; return sqrtf(x); }
static float d_sqrt(float x, float y, float a) { (void)x; (void)a; return 0.5f / y; }
static float f_pow(float x, float a) { return powf(x, a); }
static float d_pow(float x, float y, float a) { (void)y; return a * powf(x, a - 1.0f); }

/* ---- shape inference ---- */

static tg_status eltwise_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out,
                               tg_dtype *dt)
{
    (void)n_in; (void)attr;
    TG_TRY(tg_ops_require_f32(in[0], "eltwise", "x"));
    *out = *tg_tensor_shape(in[0]);
    *dt = TG_F32;
    return TG_OK;
}

/* ---- forward ---- */

static const eltwise_kind *kind_of(const tg_op_ctx *ctx);

static tg_status eltwise_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr,
                                 tg_tensor *out)
{
    (void)n_in;
    const eltwise_kind *k = kind_of(ctx);
    const float alpha = ((const eltwise_attr *)attr)->alpha;
    const float *x = tg_f32(in[0]);
    float *y = tg_f32(out);
    const int64_t n = tg_tensor_numel(out);
#pragma omp parallel for simd if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = k->f(x[i], alpha);
    return TG_OK;
}

/* ---- backward ---- */

static tg_status eltwise_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const eltwise_kind *k = kind_of(ctx);
    const float alpha = ((const eltwise_attr *)tg_op_attr(ctx))->alpha;
    const float *x = tg_f32(tg_op_input(ctx, 0));
    const float *y = tg_f32(tg_op_output(ctx));
    const float *dy = tg_f32(dout);
    float *dx = tg_f32(din[0]);
    const int64_t n = tg_tensor_numel(dout);
#pragma omp parallel for simd if (n > TG_OMP_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * k->df(x[i], y[i], alpha);
    return TG_OK;
}

/* ---- descriptors ---- */

#define KIND(NAME, F, DF) \
    {.op = {.name = NAME, .n_in = 1, .infer = eltwise_infer, .forward = eltwise_forward, \
            .backward = eltwise_backward}, .f = F, .df = DF}

static const eltwise_kind kinds[] = {
    KIND("scale", f_scale, d_scale),       KIND("add_scalar", f_add_scalar, d_one),
    KIND("neg", f_neg, d_neg),             KIND("gelu_tanh", f_gelu, d_gelu),
    KIND("gelu_erf", f_gelu_erf, d_gelu_erf), KIND("relu", f_relu, d_relu),
    KIND("silu", f_silu, d_silu),          KIND("tanh", f_tanh, d_tanh),
    KIND("sigmoid", f_sigmoid, d_sigmoid), KIND("exp", f_exp, d_exp),
    KIND("log", f_log, d_log),             KIND("sqrt", f_sqrt, d_sqrt),
    KIND("pow", f_pow, d_pow),
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
tg_tensor *tg_gelu(const tg_tensor *x) { return unary(GELU, x, 0); }
tg_tensor *tg_gelu_erf(const tg_tensor *x) { return unary(GELU_ERF, x, 0); }
tg_tensor *tg_relu(const tg_tensor *x) { return unary(RELU, x, 0); }
tg_tensor *tg_silu(const tg_tensor *x) { return unary(SILU, x, 0); }
tg_tensor *tg_tanh(const tg_tensor *x) { return unary(TANH, x, 0); }
tg_tensor *tg_sigmoid(const tg_tensor *x) { return unary(SIGMOID, x, 0); }
tg_tensor *tg_exp(const tg_tensor *x) { return unary(EXP, x, 0); }
tg_tensor *tg_log(const tg_tensor *x) { return unary(LOG, x, 0); }
tg_tensor *tg_sqrt(const tg_tensor *x) { return unary(SQRT, x, 0); }
tg_tensor *tg_pow(const tg_tensor *x, double p) { return unary(POW, x, p); }
