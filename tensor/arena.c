#include "tensor/arena.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tensor/status.h"

#define ARENA_ALIGN 64

typedef struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    unsigned char *base;
} chunk;

struct tg_arena {
    chunk *first;
    chunk *cur;
    size_t total; /* sum of chunk sizes */
    uint64_t generation;
};

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

/* Chunks this large are asked for transparent huge pages: a step streams
 * through hundreds of MB of activations, and with 4 KiB pages the TLB
 * covers only a few MB of them. */
#define HUGE_PAGE ((size_t)2 << 20)

static unsigned char *chunk_base(size_t size)
{
#ifdef MADV_HUGEPAGE
    if (size >= 4 * HUGE_PAGE) {
        unsigned char *p = aligned_alloc(HUGE_PAGE, (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
        if (p) madvise(p, size, MADV_HUGEPAGE); /* advice only: 4 KiB pages if refused */
        return p;
    }
#endif
    return aligned_alloc(ARENA_ALIGN, size);
}

static chunk *chunk_new(size_t size)
{
    chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->base = chunk_base(align_up(size));
    if (!c->base) {
        free(c);
        return NULL;
    }
    c->next = NULL;
    c->size = align_up(size);
    c->used = 0;
    return c;
}

static void chunks_free(chunk *c)
{
    while (c) {
        chunk *n = c->next;
        free(c->base);
        free(c);
        c = n;
    }
}

tg_arena *tg_arena_create(size_t initial_bytes)
{
    tg_arena *a = calloc(1, sizeof *a);
    if (!a) {
        tg_error(TG_ERR_OOM, "tg_arena_create: out of memory");
        return NULL;
    }
    a->first = chunk_new(initial_bytes ? initial_bytes : (size_t)1 << 20);
    if (!a->first) {
        free(a);
        tg_error(TG_ERR_OOM, "tg_arena_create: cannot reserve %zu bytes", initial_bytes);
        return NULL;
    }
    a->cur = a->first;
    a->total = a->first->size;
    return a;
}

void tg_arena_destroy(tg_arena *a)
{
    if (!a) return;
    chunks_free(a->first);
    free(a);
}

void *tg_arena_alloc(tg_arena *a, size_t bytes)
{
    size_t n = align_up(bytes ? bytes : 1);
    chunk *c = a->cur;
    while (c->used + n > c->size) {
        if (!c->next) {
            size_t want = c->size * 2 > n ? c->size * 2 : n;
            c->next = chunk_new(want);
            if (!c->next) {
                tg_error(TG_ERR_OOM, "tg_arena_alloc: cannot grow arena by %zu bytes", want);
                return NULL;
            }
            a->total += c->next->size;
        }
        c = c->next;
        c->used = 0;
    }
    a->cur = c;
    void *p = c->base + c->used;
    c->used += n;
    return p;
}

void *tg_arena_calloc(tg_arena *a, size_t bytes)
{
    void *p = tg_arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void tg_arena_reset(tg_arena *a)
{
    a->generation++;
    if (a->first->next) {
        /* The last step overflowed: replace the chain by one chunk big enough
         * for all of it, so the next step fits without growing. */
        chunk *one = chunk_new(a->total);
        if (one) {
            chunks_free(a->first);
            a->first = one;
        }
    }
    a->first->used = 0;
    a->cur = a->first;
}

tg_arena_mark tg_arena_get_mark(const tg_arena *a) { return (tg_arena_mark){.chunk = a->cur, .used = a->cur->used}; }

void tg_arena_rewind(tg_arena *a, tg_arena_mark m)
{
    a->generation++;
    a->cur = m.chunk;
    a->cur->used = m.used;
}

size_t tg_arena_used(const tg_arena *a)
{
    size_t n = 0;
    for (chunk *c = a->first; c; c = c->next) {
        n += c->used;
        if (c == a->cur) break;
    }
    return n;
}

size_t tg_arena_capacity(const tg_arena *a) { return a->total; }

uint64_t tg_arena_generation(const tg_arena *a) { return a->generation; }
