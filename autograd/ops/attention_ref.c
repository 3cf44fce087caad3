/* Scaled dot-product attention, the plain way: what tg_attention computes,
 * written as the textbook O(T²) loops, for reading and for checking the
 * tiled paths against (tests/test_attention.c). No tiles, no threads, no
 * online softmax: forward writes every probability into att (B, H, T, T),
 * backward reads them. Dot products and the softmax are summed in double,
 * so the result is close to exact and the fast paths' rounding shows.
 *
 * For query i of head (b, h), key j is visible when j < lengths[b] (all T
 * without lengths) and, causal, j <= i:
 *   forward   s_ij = scale · q_i·k_j,  p_ij = softmax_j(s_ij) over visible j
 *             (0 elsewhere; a row with no visible key is all 0),
 *             out_i = sum_j p_ij v_j
 *   backward  dp_ij = dout_i·v_j,  ds_ij = p_ij (dp_ij - sum_k p_ik dp_ik),
 *             dv_j += p_ij dout_i,  dq_i += scale ds_ij k_j,
 *             dk_j += scale ds_ij q_i */
#include <math.h>

#include "autograd/ops.h"

/* The keys query i of batch b sees: 0 .. end-1. */
static int64_t visible_end(const tg_attention_ref_args *a, int64_t b, int64_t i)
{
    const int64_t len = a->lengths ? a->lengths[b] : a->T;
    return a->causal && i + 1 < len ? i + 1 : len;
}

static double scale_of(const tg_attention_ref_args *a) { return a->scale != 0.0 ? a->scale : 1.0 / sqrt((double)a->D); }

static double dot(const float *x, const float *y, int64_t n)
{
    double s = 0.0;
    for (int64_t d = 0; d < n; d++) s += (double)x[d] * y[d];
    return s;
}

void tg_attention_ref_forward(float *out, float *att, const float *q, const float *k, const float *v,
                              const tg_attention_ref_args *a)
{
    const int64_t T = a->T, D = a->D;
    const double scale = scale_of(a);
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t h = 0; h < a->H; h++) {
            const int64_t head = (b * a->H + h) * T; /* first row of this head */
            const float *kh = k + head * D, *vh = v + head * D;
            for (int64_t i = 0; i < T; i++) {
                const float *qi = q + (head + i) * D;
                float *pi = att + (head + i) * T, *oi = out + (head + i) * D;
                const int64_t end = visible_end(a, b, i);
                /* softmax over the visible keys, shifted by the row max */
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < end; j++) mx = fmax(mx, scale * dot(qi, kh + j * D, D));
                for (int64_t j = 0; j < end; j++) sum += exp(scale * dot(qi, kh + j * D, D) - mx);
                for (int64_t j = 0; j < T; j++)
                    pi[j] = j < end ? (float)(exp(scale * dot(qi, kh + j * D, D) - mx) / sum) : 0.0f;
                /* out_i = sum_j p_ij v_j */
                for (int64_t d = 0; d < D; d++) {
                    double o = 0.0;
                    for (int64_t j = 0; j < end; j++) o += (double)pi[j] * vh[j * D + d];
                    oi[d] = (float)o;
                }
            }
        }
}

void tg_attention_ref_backward(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                               const float *k, const float *v, const tg_attention_ref_args *a)
{
    const int64_t T = a->T, D = a->D;
    const double scale = scale_of(a);
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t h = 0; h < a->H; h++) {
            const int64_t head = (b * a->H + h) * T;
            const float *kh = k + head * D, *vh = v + head * D;
            float *dkh = dk + head * D, *dvh = dv + head * D;
            for (int64_t i = 0; i < T; i++) {
                const float *qi = q + (head + i) * D, *doi = dout + (head + i) * D, *pi = att + (head + i) * T;
                float *dqi = dq + (head + i) * D;
                const int64_t end = visible_end(a, b, i);
                /* the softmax backward needs sum_k p_ik dp_ik first */
                double pdp = 0.0;
                for (int64_t j = 0; j < end; j++) pdp += pi[j] * dot(doi, vh + j * D, D);
                for (int64_t j = 0; j < end; j++) {
                    const double dp = dot(doi, vh + j * D, D), ds = pi[j] * (dp - pdp);
                    for (int64_t d = 0; d < D; d++) {
                        dvh[j * D + d] += (float)(pi[j] * doi[d]);
                        dqi[d] += (float)(scale * ds * kh[j * D + d]);
                        dkh[j * D + d] += (float)(scale * ds * qi[d]);
                    }
                }
            }
        }
}
