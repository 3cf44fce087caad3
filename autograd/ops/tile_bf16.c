/* bf16 tile products on vdpbf16ps (see tile_bf16.h). One dot-product
 * instruction multiplies a pair of bf16 values of a row of `a` (broadcast)
 * with the matching pairs of 16 columns of `b` and adds both products to 16
 * f32 accumulators; a 4-row × 64-column register block keeps 16 of them in
 * flight, enough independent chains to hide the instruction's latency. */
#include "autograd/ops/tile_bf16.h"

#include <string.h>

#include "tensor/status.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

bool tg_tile_bf16_available(void) { return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16"); }

#define TILE_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
enum { MR = 4, NZ = 4 }; /* register block: MR rows × NZ vectors of 16 columns */

/* ---- packing ---- */

/* Lanes [0, n) of 16 (n may be larger). */
static inline __mmask16 lanes(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* A bf16 pair as one 32-bit word, read or written through uint16 storage. */
typedef uint32_t __attribute__((may_alias)) pair_word;

/* A packer's source: f32 rows (rounded on the way) or bf16 rows (copied). */
typedef struct src_rows {
    const void *p;
    bool bf16;
} src_rows;

/* Lanes [0, n) of 32 (n may be larger). */
static inline __mmask32 lanes32(int n)
{
    return n >= 32 ? (__mmask32)0xffffffffu : n <= 0 ? (__mmask32)0 : (__mmask32)((1u << n) - 1);
}

/* 32 values from element off of src (fewer when n < 32, zeros after) as
 * bf16 in order. */
TILE_TARGET static inline __m512i row32(src_rows src, int64_t off, int n)
{
    if (src.bf16) return _mm512_maskz_loadu_epi16(lanes32(n), (const uint16_t *)src.p + off);
    const float *f = (const float *)src.p + off;
    const __m512 lo = _mm512_maskz_loadu_ps(lanes(n), f);
    const __m512 hi = _mm512_maskz_loadu_ps(lanes(n > 16 ? n - 16 : 0), f + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* 16 values from element o0 (lanes m0) then 16 from o1 (lanes m1) as bf16. */
TILE_TARGET static inline __m512i two16(src_rows src, int64_t o0, __mmask16 m0, int64_t o1, __mmask16 m1)
{
    if (src.bf16) {
        const uint16_t *b = src.p;
        const __m256i lo = _mm256_maskz_loadu_epi16(m0, b + o0), hi = _mm256_maskz_loadu_epi16(m1, b + o1);
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    const float *f = src.p;
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, f + o1), _mm512_maskz_loadu_ps(m0, f + o0));
}

TILE_TARGET static void pack_rows(uint16_t *dst, int64_t ldd, src_rows src, int64_t lds, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        uint16_t *d = dst + r * ldd;
        for (int64_t c = 0; c < ldd; c += 32) {
            const __m512i v = row32(src, r * lds + c, c < cols ? (int)(cols - c) : 0);
            _mm512_mask_storeu_epi16(d + c, lanes32((int)(ldd - c)), v);
        }
    }
}

TILE_TARGET static void pack_pairs(uint16_t *dst, int64_t npad, src_rows src, int64_t lds, int rows, int cols)
{
    /* interleave 16 values of two rows: lane 2i from the first, 2i + 1 from the second */
    const __m512i mix = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21,
                                         5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int r = 0; r < rows; r += 2) {
        uint16_t *d = dst + (int64_t)(r / 2) * npad * 2;
        const bool two = r + 1 < rows;
        for (int64_t c = 0; c < npad; c += 16) {
            const __mmask16 m = lanes(c < cols ? (int)(cols - c) : 0);
            const __m512i both = two16(src, r * lds + c, m, (r + 1) * lds + c, two ? m : 0);
            _mm512_storeu_si512(d + 2 * c, _mm512_permutexvar_epi16(mix, both));
        }
    }
}

/* r[i] lane l -> r[l] lane i: a 16 × 16 transpose of 32-bit words in
 * registers (pairs within 128-bit lanes, then 64-bit halves, then 128-bit
 * lanes twice). */
TILE_TARGET static inline void transpose16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
    }
}

TILE_TARGET static void pack_pairs_t(uint16_t *dst, int64_t npad, src_rows src, int64_t lds, int rows, int cols)
{
    const int kp = (cols + 1) / 2;
    pair_word *d = (pair_word *)dst;
    /* 16 rows × 16 pairs at a time: each row's pairs rounded into one
     * register, transposed, each pair column stored as 16 words of dst */
    for (int64_t r0 = 0; r0 < npad; r0 += 16)
        for (int k0 = 0; k0 < kp; k0 += 16) {
            __m512i v[16];
            for (int r = 0; r < 16; r++)
                v[r] = r0 + r < rows ? row32(src, (r0 + r) * lds + 2 * k0, cols - 2 * k0) : _mm512_setzero_si512();
            transpose16(v);
            const int n = kp - k0 < 16 ? kp - k0 : 16;
            for (int t = 0; t < n; t++) _mm512_storeu_si512((void *)(d + (k0 + t) * npad + r0), v[t]);
        }
}

#define SRC_F32(p) ((src_rows){(p), false})
#define SRC_BF16(p) ((src_rows){(p), true})

void tg_tile_pack_rows(uint16_t *dst, int64_t ldd, const float *src, int64_t lds, int rows, int cols)
{
    pack_rows(dst, ldd, SRC_F32(src), lds, rows, cols);
}

void tg_tile_pack_rows_bf16(uint16_t *dst, int64_t ldd, const uint16_t *src, int64_t lds, int rows, int cols)
{
    pack_rows(dst, ldd, SRC_BF16(src), lds, rows, cols);
}

void tg_tile_pack_pairs(uint16_t *dst, int64_t npad, const float *src, int64_t lds, int rows, int cols)
{
    pack_pairs(dst, npad, SRC_F32(src), lds, rows, cols);
}

void tg_tile_pack_pairs_bf16(uint16_t *dst, int64_t npad, const uint16_t *src, int64_t lds, int rows, int cols)
{
    pack_pairs(dst, npad, SRC_BF16(src), lds, rows, cols);
}

void tg_tile_pack_pairs_t(uint16_t *dst, int64_t npad, const float *src, int64_t lds, int rows, int cols)
{
    pack_pairs_t(dst, npad, SRC_F32(src), lds, rows, cols);
}

void tg_tile_pack_pairs_t_bf16(uint16_t *dst, int64_t npad, const uint16_t *src, int64_t lds, int rows, int cols)
{
    pack_pairs_t(dst, npad, SRC_BF16(src), lds, rows, cols);
}

TILE_TARGET void tg_tile_unpack_pairs(float *dst, int64_t ldd, const uint16_t *src, int64_t npad, int rows, int cols)
{
    /* a word holds (row 2p, row 2p + 1) in its (low, high) halves */
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    for (int r = 0; r < rows; r += 2) {
        const uint16_t *s = src + (int64_t)(r / 2) * npad * 2;
        float *d0 = dst + r * ldd, *d1 = d0 + ldd;
        for (int c = 0; c < cols; c += 16) {
            const __mmask16 m = lanes(cols - c);
            const __m512i w = _mm512_loadu_si512(s + 2 * c);
            _mm512_mask_storeu_ps(d0 + c, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
            if (r + 1 < rows) _mm512_mask_storeu_ps(d1 + c, m, _mm512_castsi512_ps(_mm512_and_si512(w, high)));
        }
    }
}

/* ---- products ---- */

/* c rows [0, mr) × vectors [0, nz) (the last one masked by `last`) of one
 * register block, over kp pairs. Constant mr and nz specialize the inlined
 * copy; the guards then vanish. */
TILE_TARGET static inline __attribute__((always_inline)) void block(float *c, int64_t ldc, const pair_word *a,
                                                                    int64_t a_rs, int64_t a_ks, const uint16_t *b,
                                                                    int64_t ldb, const int mr, const int nz,
                                                                    __mmask16 last, int kp, bool acc)
{
    __m512 s[MR][NZ];
    for (int i = 0; i < MR; i++)
        for (int z = 0; z < NZ; z++)
            s[i][z] = acc && i < mr && z < nz ? _mm512_maskz_loadu_ps(z == nz - 1 ? last : 0xffff, c + i * ldc + 16 * z)
                                              : _mm512_setzero_ps();
    for (int k = 0; k < kp; k++) {
        __m512bh bv[NZ];
        for (int z = 0; z < NZ; z++)
            bv[z] = z < nz ? (__m512bh)_mm512_loadu_si512(b + k * ldb + 32 * z) : (__m512bh)_mm512_setzero_si512();
        for (int i = 0; i < MR; i++) {
            if (i >= mr) continue;
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i * a_rs + k * a_ks]);
            for (int z = 0; z < NZ; z++)
                if (z < nz) s[i][z] = _mm512_dpbf16_ps(s[i][z], av, bv[z]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int z = 0; z < NZ; z++)
            if (i < mr && z < nz) _mm512_mask_storeu_ps(c + i * ldc + 16 * z, z == nz - 1 ? last : 0xffff, s[i][z]);
}

TILE_TARGET void tg_tile_bf16_mm(float *c, int64_t ldc, const uint16_t *a, int64_t a_rs, int64_t a_ks,
                                 const uint16_t *b, int64_t npad, int m, int n, int kp, bool acc)
{
    const pair_word *aw = (const pair_word *)a;
    const int64_t ldb = 2 * npad;
    for (int n0 = 0; n0 < n; n0 += 16 * NZ) {
        const int nz = (n - n0 < 16 * NZ ? n - n0 + 15 : 16 * NZ) / 16;
        const __mmask16 last = lanes(n - n0 - 16 * (nz - 1));
        const uint16_t *bn = b + 2 * n0;
        float *cn = c + n0;
        int m0 = 0;
        if (nz == NZ && last == 0xffff)
            for (; m0 + MR <= m; m0 += MR)
                block(cn + m0 * ldc, ldc, aw + m0 * a_rs, a_rs, a_ks, bn, ldb, MR, NZ, last, kp, acc);
        for (; m0 < m; m0 += MR)
            block(cn + m0 * ldc, ldc, aw + m0 * a_rs, a_rs, a_ks, bn, ldb, m - m0 < MR ? m - m0 : MR, nz, last, kp,
                  acc);
    }
}
#else
bool tg_tile_bf16_available(void) { return false; }

#define TILE_UNAVAILABLE TG_ASSERT(false, "bf16 tile products need x86 AVX-512 BF16: check tg_tile_bf16_available()")

void tg_tile_bf16_mm(float *c, int64_t ldc, const uint16_t *a, int64_t a_rs, int64_t a_ks, const uint16_t *b,
                     int64_t npad, int m, int n, int kp, bool acc)
{
    (void)c, (void)ldc, (void)a, (void)a_rs, (void)a_ks, (void)b, (void)npad, (void)m, (void)n, (void)kp, (void)acc;
    TILE_UNAVAILABLE;
}

void tg_tile_pack_rows(uint16_t *dst, int64_t ldd, const float *src, int64_t lds, int rows, int cols)
{
    (void)dst, (void)ldd, (void)src, (void)lds, (void)rows, (void)cols;
    TILE_UNAVAILABLE;
}

void tg_tile_pack_pairs(uint16_t *dst, int64_t npad, const float *src, int64_t lds, int rows, int cols)
{
    (void)dst, (void)npad, (void)src, (void)lds, (void)rows, (void)cols;
    TILE_UNAVAILABLE;
}

void tg_tile_pack_pairs_t(uint16_t *dst, int64_t npad, const float *src, int64_t lds, int rows, int cols)
{
    (void)dst, (void)npad, (void)src, (void)lds, (void)rows, (void)cols;
    TILE_UNAVAILABLE;
}

void tg_tile_unpack_pairs(float *dst, int64_t ldd, const uint16_t *src, int64_t npad, int rows, int cols)
{
    (void)dst, (void)ldd, (void)src, (void)npad, (void)rows, (void)cols;
    TILE_UNAVAILABLE;
}

void tg_tile_pack_rows_bf16(uint16_t *dst, int64_t ldd, const uint16_t *src, int64_t lds, int rows, int cols)
{
    (void)dst, (void)ldd, (void)src, (void)lds, (void)rows, (void)cols;
    TILE_UNAVAILABLE;
}

void tg_tile_pack_pairs_bf16(uint16_t *dst, int64_t npad, const uint16_t *src, int64_t lds, int rows, int cols)
{
    (void)dst, (void)npad, (void)src, (void)lds, (void)rows, (void)cols;
    TILE_UNAVAILABLE;
}

void tg_tile_pack_pairs_t_bf16(uint16_t *dst, int64_t npad, const uint16_t *src, int64_t lds, int rows, int cols)
{
    (void)dst, (void)npad, (void)src, (void)lds, (void)rows, (void)cols;
    TILE_UNAVAILABLE;
}
#endif
