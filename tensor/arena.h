/* Per-step bump allocator for activations, saved tensors, tape nodes and
 * scratch buffers.
 *
 * Allocation is a pointer bump inside the current chunk; when a chunk is full
 * a new one (at least twice as large) is chained. tg_arena_reset() returns to
 * the first chunk in O(1); if a step overflowed into several chunks, the next
 * reset replaces them by one chunk of the combined size, so a steady-state
 * step allocates nothing from the system. Every block is 64-byte aligned. */
#ifndef TG_ARENA_H
#define TG_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct tg_arena tg_arena;

/* A position in the arena to rewind to (see tg_arena_rewind). */
typedef struct tg_arena_mark {
    void *chunk;
    size_t used;
} tg_arena_mark;

/* Creates an arena whose first chunk holds `initial_bytes` (0: 1 MiB).
 * Returns NULL with TG_ERR_OOM recorded when memory is short. */
tg_arena *tg_arena_create(size_t initial_bytes);

/* Frees the arena and every block it handed out. Accepts NULL. */
void tg_arena_destroy(tg_arena *a);

/* Returns `bytes` of uninitialized, 64-byte aligned memory valid until the
 * next reset or a rewind past it; NULL with TG_ERR_OOM when memory is short. */
void *tg_arena_alloc(tg_arena *a, size_t bytes);

/* Same as tg_arena_alloc, zero-filled. */
void *tg_arena_calloc(tg_arena *a, size_t bytes);

/* Invalidates every block; O(1) in the steady state. */
void tg_arena_reset(tg_arena *a);

/* Current position, to give back later with tg_arena_rewind. */
tg_arena_mark tg_arena_get_mark(const tg_arena *a);

/* Frees everything allocated after `m` (which must come from this arena). */
void tg_arena_rewind(tg_arena *a, tg_arena_mark m);

/* Bytes handed out since the last reset, and bytes held from the system. */
size_t tg_arena_used(const tg_arena *a);
size_t tg_arena_capacity(const tg_arena *a);

/* Increases at every reset and rewind; lets owners of arena-held objects
 * (the autograd tape) see that those objects are gone. */
uint64_t tg_arena_generation(const tg_arena *a);

#endif
