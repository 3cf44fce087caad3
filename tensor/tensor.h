/* tg_tensor: a dense, row-major, contiguous n-d array (up to 8 dims) of
 * f32, bf16 or s32, with the autograd fields a differentiable value needs.
 *
 * Two lifetimes:
 *   TG_PERSIST  heap block owned by the caller, freed with tg_tensor_free():
 *               parameters, their gradients, optimizer state, datasets.
 *   TG_STEP     bump-allocated from the current context's arena and gone at
 *               the next tg_step_end()/tg_arena_reset(): activations, saved
 *               tensors, inputs built for one step. Never freed one by one.
 * Functions returning a tensor return NULL on error with tg_last_error() set;
 * every function taking a tensor accepts the NULL of a failed call and
 * returns NULL (or an error status) again without overwriting the message,
 * so chains of calls need one check at the end. */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/status.h"

#define TG_MAX_DIMS 8

typedef enum tg_dtype { TG_F32 = 0, TG_BF16 = 1, TG_S32 = 2 } tg_dtype;

typedef enum tg_lifetime { TG_PERSIST = 0, TG_STEP = 1 } tg_lifetime;

typedef struct tg_shape {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
} tg_shape;

/* TG_SHAPE(2, 3) builds the tg_shape {ndim = 2, dims = {2, 3}}. */
#define TG_SHAPE_NARG_(_1, _2, _3, _4, _5, _6, _7, _8, N, ...) N
#define TG_SHAPE_NARG(...) TG_SHAPE_NARG_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define TG_SHAPE(...) ((tg_shape){.ndim = TG_SHAPE_NARG(__VA_ARGS__), .dims = {__VA_ARGS__}})
/* The shape of a scalar (0-d tensor, one element). */
#define TG_SCALAR_SHAPE ((tg_shape){.ndim = 0})

typedef struct tg_tensor tg_tensor;

/* ---- shapes and dtypes ---- */

/* Number of elements of a shape (1 for 0-d). */
int64_t tg_shape_numel(const tg_shape *s);
/* True when both shapes have the same rank and dims. */
bool tg_shape_equal(const tg_shape *a, const tg_shape *b);
/* Writes "(2, 3, 4)" into buf (always NUL-terminated); returns buf. */
char *tg_shape_str(const tg_shape *s, char *buf, size_t n);
/* Bytes per element of a dtype. */
size_t tg_dtype_size(tg_dtype dt);
/* "f32", "bf16", "s32". */
const char *tg_dtype_name(tg_dtype dt);
/* Validates rank (0..8) and dims (>= 0); TG_ERR_SHAPE naming `fn` if not. */
tg_status tg_shape_check(const tg_shape *s, const char *fn);

/* ---- creation ---- */

/* New zero-filled tensor. TG_PERSIST: free with tg_tensor_free. */
tg_tensor *tg_tensor_new(tg_lifetime life, tg_shape shape, tg_dtype dt);
/* New tensor with unspecified contents (for outputs that are overwritten). */
tg_tensor *tg_tensor_empty(tg_lifetime life, tg_shape shape, tg_dtype dt);
/* Tensor filled with `v`. */
tg_tensor *tg_full(tg_lifetime life, tg_shape shape, tg_dtype dt, double v);
tg_tensor *tg_zeros(tg_lifetime life, tg_shape shape, tg_dtype dt);
tg_tensor *tg_ones(tg_lifetime life, tg_shape shape, tg_dtype dt);
/* 1-d tensor start, start+step, ... with n elements. */
tg_tensor *tg_arange(tg_lifetime life, int64_t n, double start, double step, tg_dtype dt);
/* Tensor holding a copy of `data` (numel * dtype size bytes). */
tg_tensor *tg_from_buffer(tg_lifetime life, tg_shape shape, tg_dtype dt, const void *data);
/* Normal(mean, std) / Uniform[lo, hi) values from a counter-based stream:
 * element i depends only on (seed, i), whatever the thread count. f32/bf16. */
tg_tensor *tg_randn(tg_lifetime life, tg_shape shape, tg_dtype dt, uint64_t seed, double mean, double std);
tg_tensor *tg_rand(tg_lifetime life, tg_shape shape, tg_dtype dt, uint64_t seed, double lo, double hi);
/* Deep copy of values and shape (no autograd history). */
tg_tensor *tg_tensor_clone(tg_lifetime life, const tg_tensor *t);
/* Copy converted to `dt` (f32<->bf16 rounds to nearest even; s32<->float). */
tg_tensor *tg_tensor_to(tg_lifetime life, const tg_tensor *t, tg_dtype dt);
/* Frees a TG_PERSIST tensor and its gradient. Accepts NULL and STEP tensors
 * (a no-op for those). */
void tg_tensor_free(tg_tensor *t);

/* ---- in-place fills and copies ---- */

tg_status tg_fill(tg_tensor *t, double v);
tg_status tg_fill_randn(tg_tensor *t, uint64_t seed, double mean, double std);
tg_status tg_fill_rand(tg_tensor *t, uint64_t seed, double lo, double hi);
/* Copies values of src into dst: same numel required, dtypes converted. */
tg_status tg_copy(tg_tensor *dst, const tg_tensor *src);
/* Copies a raw buffer of numel elements of t's dtype into t. */
tg_status tg_copy_from(tg_tensor *t, const void *data, size_t bytes);
/* Changes the shape in place when the element count is unchanged. */
tg_status tg_tensor_reshape_(tg_tensor *t, tg_shape shape);

/* ---- access ---- */

tg_dtype tg_tensor_dtype(const tg_tensor *t);
const tg_shape *tg_tensor_shape(const tg_tensor *t);
int tg_tensor_ndim(const tg_tensor *t);
/* Size of dimension `i`; negative i counts from the end. */
int64_t tg_tensor_dim(const tg_tensor *t, int i);
int64_t tg_tensor_numel(const tg_tensor *t);
size_t tg_tensor_nbytes(const tg_tensor *t);
tg_lifetime tg_tensor_lifetime(const tg_tensor *t);
/* Raw data pointer; typed views assert the dtype. */
void *tg_tensor_data(const tg_tensor *t);
float *tg_f32(const tg_tensor *t);
uint16_t *tg_bf16(const tg_tensor *t);
int32_t *tg_s32(const tg_tensor *t);
/* Element i (flat index) as double, any dtype. */
double tg_tensor_get(const tg_tensor *t, int64_t i);
/* Sets element i (flat index) from a double, any dtype. */
void tg_tensor_set(tg_tensor *t, int64_t i, double v);
/* The value of a one-element tensor as double (NaN if t is NULL). */
double tg_item(const tg_tensor *t);

/* ---- autograd fields ---- */

/* Marks a leaf as a parameter whose gradient backward accumulates. */
tg_status tg_tensor_set_requires_grad(tg_tensor *t, bool on);
bool tg_tensor_requires_grad(const tg_tensor *t);
/* The accumulated gradient (same shape, f32, same lifetime), or NULL before
 * the first backward that reached this tensor. Owned by the tensor. */
tg_tensor *tg_tensor_grad(const tg_tensor *t);
/* The gradient, allocating a zero one when missing. */
tg_tensor *tg_tensor_grad_or_zeros(tg_tensor *t);
/* Optional debug name (not copied: keep the string alive). */
void tg_tensor_set_name(tg_tensor *t, const char *name);
const char *tg_tensor_name(const tg_tensor *t);

/* ---- debugging ---- */

/* Prints shape, dtype and up to `max_elems` values to `f`. */
void tg_tensor_print(const tg_tensor *t, FILE *f, int max_elems);

/* ---- bf16 helpers ---- */

uint16_t tg_f32_to_bf16(float x);
float tg_bf16_to_f32(uint16_t x);
/* Bulk conversions of n values (threaded, vectorized; same rounding as the
 * scalar helpers). dst and src must not overlap. */
void tg_f32_to_bf16_n(uint16_t *dst, const float *src, int64_t n);
void tg_bf16_to_f32_n(float *dst, const uint16_t *src, int64_t n);

#endif
