/* Binary arithmetic with NumPy broadcasting: add, sub, mul, div. */
#include "autograd/ops/ops_internal.h"

typedef float (*binary_fn)(float a, float b);

typedef struct binary_kind {
    tg_op op;
    binary_fn f;
    binary_fn da; /* d f / d a */
    binary_fn db; /* d f / d b */
} binary_kind;

static float f_add(float a, float b) { return a + b; }
static float f_sub(float a, float b) { return a - b; }
static float f_mul(float a, float b) { return a * b; }
static float f_div(float a, float b) { return a / b; }
static float one(float a, float b) { (void)a; (void)b; return 1.0f; }
static float minus_one(float a, float b) { (void)a; (void)b; return -1.0f; }
static float take_b(float a, float b) { (void)a; return b; }
static float take_a(float a, float b) { (void)b; return a; }
static float div_da(float a, float b) { (void)a; return 1.0f / b; }
static float div_db(float a, float b) { return -a / (b * b); }

static const binary_kind *kind_of(const tg_op_ctx *ctx) { return (const binary_kind *)tg_op_of(ctx); }

/* ---- shape inference ---- */

static tg_status binary_infer(const tg_tensor *const *in, int n_in, const void *attr, tg_shape *out,
                              tg_dtype *dt)
{
    (void)n_in; (void)attr;
    TG_TRY(tg_ops_require_f32(in[0], "binary op", "a"));
    TG_TRY(tg_ops_require_f32(in[1], "binary op", "b"));
    *dt = TG_F32;
    return tg_broadcast_shape(tg_tensor_shape(in[0]), tg_tensor_shape(in[1]), out, "binary op");
}

/* ---- forward ---- */

static tg_status binary_forward(tg_op_ctx *ctx, const tg_tensor *const *in, int n_in, const void *attr,
                                tg_tensor *out)
{
    (void)n_in; (void)attr;
    const binary_fn f = kind_of(ctx)->f;
    tg_bcast p;
    tg_bcast_plan(&p, tg_tensor_shape(in[0]), tg_tensor_shape(in[1]), tg_tensor_shape(out));
    const float *a = tg_f32(in[0]), *b = tg_f32(in[1]);
    float *y = tg_f32(out);
    const int64_t cols = p.cols, last = p.ndim - 1;
    const int64_t sa = p.ndim ? p.stride[0][last] : 0, sb = p.ndim ? p.stride[1][last] : 0;
#pragma omp parallel for if (p.rows * cols > TG_OMP_MIN)
    for (int64_t r = 0; r < p.rows; r++) {
        const float *ar = a + tg_bcast_row_offset(&p, 0, r), *br = b + tg_bcast_row_offset(&p, 1, r);
        float *yr = y + r * cols;
        for (int64_t j = 0; j < cols; j++) yr[j] = f(ar[j * sa], br[j * sb]);
    }
    return TG_OK;
}

/* ---- backward ---- */

/* dx (input `which`) += dy * partial(a, b), summed over broadcast dims. */
static void accumulate(const tg_bcast *p, int which, binary_fn partial, float *dx, const float *dy,
                       const float *a, const float *b)
{
    const int64_t cols = p->cols, last = p->ndim - 1;
    const int64_t sa = p->ndim ? p->stride[0][last] : 0, sb = p->ndim ? p->stride[1][last] : 0;
    const int64_t sx = which ? sb : sa;
    const bool shared = tg_bcast_rows_shared(p, which);
#pragma omp parallel for if (!shared && p->rows * cols > TG_OMP_MIN)
    for (int64_t r = 0; r < p->rows; r++) {
        int64_t oa = tg_bcast_row_offset(p, 0, r), ob = tg_bcast_row_offset(p, 1, r);
        float *dxr = dx + (which ? ob : oa);
        const float *ar = a + oa, *br = b + ob, *dyr = dy + r * cols;
        for (int64_t j = 0; j < cols; j++) dxr[j * sx] += dyr[j] * partial(ar[j * sa], br[j * sb]);
    }
}

static tg_status binary_backward(tg_op_ctx *ctx, const tg_tensor *dout, tg_tensor *const *din)
{
    const binary_kind *k = kind_of(ctx);
    const tg_tensor *a = tg_op_input(ctx, 0), *b = tg_op_input(ctx, 1);
    tg_bcast p;
    tg_bcast_plan(&p, tg_tensor_shape(a), tg_tensor_shape(b), tg_tensor_shape(dout));
    if (din[0]) accumulate(&p, 0, k->da, tg_f32(din[0]), tg_f32(dout), tg_f32(a), tg_f32(b));
    if (din[1]) accumulate(&p, 1, k->db, tg_f32(din[1]), tg_f32(dout), tg_f32(a), tg_f32(b));
    return TG_OK;
}

/* ---- descriptors ---- */

#define KIND(NAME, F, DA, DB) \
    {.op = {.name = NAME, .n_in = 2, .infer = binary_infer, .forward = binary_forward, \
            .backward = binary_backward}, .f = F, .da = DA, .db = DB}

static const binary_kind kinds[] = {
    KIND("add", f_add, one, one),
    KIND("sub", f_sub, one, minus_one),
    KIND("mul", f_mul, take_b, take_a),
    KIND("div", f_div, div_da, div_db),
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
