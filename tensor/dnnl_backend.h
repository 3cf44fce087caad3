/* oneDNN wrapper internals: included only by tensor/ backend files. This and
 * the files including it are the whole port surface between oneDNN 2.x and
 * 3.x. */
#ifndef TG_DNNL_BACKEND_H
#define TG_DNNL_BACKEND_H

#include <dnnl.h>

#include "tensor/ctx.h"

#define TG_PRIM_MAX_MEM 8

/* A cached primitive with its descriptor and reusable memory objects (their
 * data handles are set before every execution). */
typedef struct tg_prim {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t mem[TG_PRIM_MAX_MEM];
    int args[TG_PRIM_MAX_MEM]; /* DNNL_ARG_* for each memory */
    int nmem;
} tg_prim;

/* Builds the primitive for `key` into `out` (pd, prim, mem, args, nmem). */
typedef tg_status (*tg_prim_builder)(tg_ctx *ctx, const void *key, tg_prim *out);

/* Returns the cached primitive for the key bytes, building it on a miss.
 * Keys must be fully initialized (memset padding) so equal requests compare
 * equal byte for byte. */
tg_status tg_ctx_prim_get(tg_ctx *ctx, const void *key, size_t key_len, tg_prim_builder build, tg_prim **out);

/* Sets the data handles of p's memories (in args order) and executes it on
 * the context's stream, waiting for completion. */
tg_status tg_prim_run(tg_ctx *ctx, tg_prim *p, void *const *handles);

dnnl_engine_t tg_ctx_engine(const tg_ctx *ctx);

/* Converts a oneDNN status into a tg error naming `what`. */
tg_status tg_dnnl_check(dnnl_status_t s, const char *what);

#endif
