/* bf16 tile products for fused ops (not installed): small matrix products
 * with bf16 operands and f32 accumulation on AVX-512 BF16 dot products
 * (vdpbf16ps), and the packing that feeds them.
 *
 * A product c (m, n) [+]= a (m, K) · b (K, n) over kp = ceil(K / 2) pairs
 * of the contraction index reads
 *   a  as 32-bit words, each a pair of bf16 values: the values (i, 2k) and
 *      (i, 2k + 1) are word i · a_rs + k · a_ks. A row-major bf16 matrix
 *      with rows ld values apart (ld even) has a_rs = ld / 2, a_ks = 1; the
 *      pair-packed form below read transposed has a_rs = 1, a_ks = npad.
 *   b  "pair-packed": (kp, npad, 2) bf16, element (k, j) at
 *      [(k / 2) · npad + j] · 2 + k % 2, npad >= n a multiple of 16.
 * Values past K (an odd K's last pair) and columns n..npad must be zeros,
 * not garbage (0 · inf is NaN); the packing functions write them.
 *
 * Everything here needs a CPU with AVX-512 BW and BF16: callers check
 * tg_tile_bf16_available() and keep an f32 path for other CPUs. */
#ifndef TG_TILE_BF16_H
#define TG_TILE_BF16_H

#include <stdbool.h>
#include <stdint.h>

/* True when this CPU runs the functions below. */
bool tg_tile_bf16_available(void);

/* c (m, n) f32, rows ldc apart, = (acc ? c : 0) + a · b as above. */
void tg_tile_bf16_mm(float *c, int64_t ldc, const uint16_t *a, int64_t a_rs, int64_t a_ks, const uint16_t *b,
                     int64_t npad, int m, int n, int kp, bool acc);

/* The packers round the f32 source src (rows, cols), rows lds apart, to
 * nearest even bf16. */

/* dst (rows, ldd) = src, zero-filled from cols to ldd (ldd even): row-major,
 * an `a` operand contracting over the columns. */
void tg_tile_pack_rows(uint16_t *dst, int64_t ldd, const float *src, int64_t lds, int rows, int cols);

/* Pair-packed src with K = rows, n = cols (contraction over src's rows):
 * the `b` form, or read transposed an `a` operand for srcᵀ.
 * dst holds ceil(rows / 2) · npad · 2 values. */
void tg_tile_pack_pairs(uint16_t *dst, int64_t npad, const float *src, int64_t lds, int rows, int cols);

/* Pair-packed srcᵀ with K = cols, n = rows (contraction over src's
 * columns); dst holds ceil(cols / 2) · npad · 2 values. */
void tg_tile_pack_pairs_t(uint16_t *dst, int64_t npad, const float *src, int64_t lds, int rows, int cols);

/* The same three packers from bf16 sources (values copied, not rounded). */
void tg_tile_pack_rows_bf16(uint16_t *dst, int64_t ldd, const uint16_t *src, int64_t lds, int rows, int cols);
void tg_tile_pack_pairs_bf16(uint16_t *dst, int64_t npad, const uint16_t *src, int64_t lds, int rows, int cols);
void tg_tile_pack_pairs_t_bf16(uint16_t *dst, int64_t npad, const uint16_t *src, int64_t lds, int rows, int cols);

/* Inverse of tg_tile_pack_pairs: dst (rows, cols), rows ldd apart, = the
 * f32 values of the pair-packed src (ceil(rows / 2) · npad · 2 values). */
void tg_tile_unpack_pairs(float *dst, int64_t ldd, const uint16_t *src, int64_t npad, int rows, int cols);

#endif
