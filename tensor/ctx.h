/* tg_ctx: the oneDNN engine and stream, the thread count, the per-step
 * arena and the primitive cache.
 *
 * Each thread has a current context; the first call that needs one creates a
 * default context (threads from OMP_NUM_THREADS, else all cores). Contexts are
 * not shared between threads. */
#ifndef TG_CTX_H
#define TG_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/arena.h"
#include "tensor/rng.h"
#include "tensor/status.h"

typedef struct tg_ctx tg_ctx;

typedef struct tg_ctx_opts {
    int threads;        /* 0: OMP_NUM_THREADS, else the machine's cores */
    size_t arena_bytes; /* first arena chunk; 0: 64 MiB */
    uint64_t seed;      /* seed of the context's RNG stream (dropout) */
} tg_ctx_opts;

typedef struct tg_cache_stats {
    uint64_t hits;   /* lookups that found a primitive */
    uint64_t misses; /* lookups that created one */
    size_t entries;
} tg_cache_stats;

/* Creates a context (opts may be NULL) and makes it current on this thread if
 * none is. Returns NULL with TG_ERR_BACKEND/TG_ERR_OOM on failure. */
tg_ctx *tg_ctx_create(const tg_ctx_opts *opts);

/* Destroys a context, its arena and cached primitives; if it was current,
 * the thread has none afterwards. Accepts NULL. */
void tg_ctx_destroy(tg_ctx *ctx);

/* This thread's context, creating a default one on first use. Aborts only if
 * oneDNN cannot create a CPU engine at all. */
tg_ctx *tg_ctx_current(void);

/* This thread's current context, or NULL: never creates one (for code
 * that switches contexts and restores the caller's). */
tg_ctx *tg_ctx_peek(void);

/* Makes ctx current on this thread (NULL: none) and applies its thread
 * count to this thread's parallel regions, so a context computes the same
 * results whichever thread uses it. */
void tg_ctx_set_current(tg_ctx *ctx);

/* Threads used by kernels and oneDNN primitives. */
int tg_ctx_threads(const tg_ctx *ctx);
/* Sets the thread count (>= 1), else TG_ERR_INVALID. */
tg_status tg_ctx_set_threads(tg_ctx *ctx, int threads);

/* The per-step arena. */
tg_arena *tg_ctx_arena(tg_ctx *ctx);

/* The context's RNG stream (dropout seeds are drawn from it). */
tg_rng *tg_ctx_rng(tg_ctx *ctx);

/* Primitive-cache counters since the context was created. */
tg_cache_stats tg_ctx_cache_stats(const tg_ctx *ctx);

/* One slot for a higher layer's per-context state (autograd keeps its tape
 * here). `destroy` runs when the context is destroyed. */
void *tg_ctx_ext(const tg_ctx *ctx);
void tg_ctx_set_ext(tg_ctx *ctx, void *ext, void (*destroy)(void *ext));

/* Name of the CPU (from /proc/cpuinfo) for benchmark reports. */
const char *tg_cpu_model(void);

#endif
