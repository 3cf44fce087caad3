#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dnnl_backend.h"

typedef struct cache_entry {
    struct cache_entry *next;
    uint64_t hash;
    size_t key_len;
    tg_prim prim;
    unsigned char key[];
} cache_entry;

#define CACHE_BUCKETS 256

struct tg_ctx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int threads;
    tg_arena *arena;
    tg_rng rng;
    cache_entry *buckets[CACHE_BUCKETS];
    tg_cache_stats stats;
    void *ext;
    void (*ext_destroy)(void *);
};

static _Thread_local tg_ctx *current;

tg_status tg_dnnl_check(dnnl_status_t s, const char *what)
{
    if (s == dnnl_success) return TG_OK;
    return tg_error(TG_ERR_BACKEND, "%s: oneDNN status %d", what, (int)s);
}

static int default_threads(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : omp_get_num_procs();
}

tg_ctx *tg_ctx_create(const tg_ctx_opts *opts)
{
    tg_ctx_opts o = opts ? *opts : (tg_ctx_opts){0};
    if (o.threads < 0) {
        tg_error(TG_ERR_INVALID, "tg_ctx_create: threads must be >= 0, got %d", o.threads);
        return NULL;
    }
    tg_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        tg_error(TG_ERR_OOM, "tg_ctx_create: out of memory");
        return NULL;
    }
    ctx->arena = tg_arena_create(o.arena_bytes ? o.arena_bytes : (size_t)64 << 20);
    if (!ctx->arena || tg_dnnl_check(dnnl_engine_create(&ctx->engine, dnnl_cpu, 0), "tg_ctx_create: engine") ||
        tg_dnnl_check(dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags),
                      "tg_ctx_create: stream")) {
        tg_ctx_destroy(ctx);
        return NULL;
    }
    ctx->rng = (tg_rng){.seed = o.seed, .counter = 0};
    tg_ctx_set_threads(ctx, o.threads ? o.threads : default_threads());
    if (!current) current = ctx;
    return ctx;
}

static void cache_free(tg_ctx *ctx)
{
    for (int b = 0; b < CACHE_BUCKETS; b++) {
        cache_entry *e = ctx->buckets[b];
        while (e) {
            cache_entry *n = e->next;
            for (int i = 0; i < e->prim.nmem; i++) dnnl_memory_destroy(e->prim.mem[i]);
            dnnl_primitive_destroy(e->prim.prim);
            dnnl_primitive_desc_destroy(e->prim.pd);
            free(e);
            e = n;
        }
        ctx->buckets[b] = NULL;
    }
}

void tg_ctx_destroy(tg_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->ext_destroy) ctx->ext_destroy(ctx->ext);
    cache_free(ctx);
    if (ctx->stream) dnnl_stream_destroy(ctx->stream);
    if (ctx->engine) dnnl_engine_destroy(ctx->engine);
    tg_arena_destroy(ctx->arena);
    if (current == ctx) current = NULL;
    free(ctx);
}

tg_ctx *tg_ctx_current(void)
{
    if (!current) {
        tg_ctx *c = tg_ctx_create(NULL);
        TG_ASSERT(c != NULL, "cannot create a default context: oneDNN has no CPU engine");
        current = c;
    }
    return current;
}

tg_ctx *tg_ctx_peek(void) { return current; }

void tg_ctx_set_current(tg_ctx *ctx)
{
    current = ctx;
    if (ctx) omp_set_num_threads(ctx->threads); /* OpenMP's thread count is per thread */
}

int tg_ctx_threads(const tg_ctx *ctx) { return ctx->threads; }

tg_status tg_ctx_set_threads(tg_ctx *ctx, int threads)
{
    if (threads < 1) return tg_error(TG_ERR_INVALID, "tg_ctx_set_threads: threads must be >= 1, got %d", threads);
    ctx->threads = threads;
    omp_set_num_threads(threads);
    return TG_OK;
}

tg_arena *tg_ctx_arena(tg_ctx *ctx) { return ctx->arena; }

tg_rng *tg_ctx_rng(tg_ctx *ctx) { return &ctx->rng; }

tg_cache_stats tg_ctx_cache_stats(const tg_ctx *ctx) { return ctx->stats; }

void *tg_ctx_ext(const tg_ctx *ctx) { return ctx->ext; }

void tg_ctx_set_ext(tg_ctx *ctx, void *ext, void (*destroy)(void *ext))
{
    ctx->ext = ext;
    ctx->ext_destroy = destroy;
}

dnnl_engine_t tg_ctx_engine(const tg_ctx *ctx) { return ctx->engine; }

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

tg_status tg_ctx_prim_get(tg_ctx *ctx, const void *key, size_t key_len, tg_prim_builder build, tg_prim **out)
{
    uint64_t h = fnv1a(key, key_len);
    cache_entry **slot = &ctx->buckets[h % CACHE_BUCKETS];
    for (cache_entry *e = *slot; e; e = e->next) {
        if (e->hash == h && e->key_len == key_len && !memcmp(e->key, key, key_len)) {
            ctx->stats.hits++;
            *out = &e->prim;
            return TG_OK;
        }
    }
    cache_entry *e = calloc(1, sizeof *e + key_len);
    if (!e) return tg_error(TG_ERR_OOM, "tg_ctx_prim_get: out of memory");
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    e->hash = h;
    tg_status st = build(ctx, key, &e->prim);
    if (st != TG_OK) {
        for (int i = 0; i < e->prim.nmem; i++) dnnl_memory_destroy(e->prim.mem[i]);
        if (e->prim.prim) dnnl_primitive_destroy(e->prim.prim);
        if (e->prim.pd) dnnl_primitive_desc_destroy(e->prim.pd);
        free(e);
        return st;
    }
    e->next = *slot;
    *slot = e;
    ctx->stats.misses++;
    ctx->stats.entries++;
    *out = &e->prim;
    return TG_OK;
}

tg_status tg_prim_run(tg_ctx *ctx, tg_prim *p, void *const *handles)
{
    dnnl_exec_arg_t args[TG_PRIM_MAX_MEM];
    for (int i = 0; i < p->nmem; i++) {
        TG_TRY(tg_dnnl_check(dnnl_memory_set_data_handle_v2(p->mem[i], handles[i], ctx->stream),
                             "tg_prim_run: set handle"));
        args[i] = (dnnl_exec_arg_t){.arg = p->args[i], .memory = p->mem[i]};
    }
    TG_TRY(tg_dnnl_check(dnnl_primitive_execute(p->prim, ctx->stream, p->nmem, args), "tg_prim_run: execute"));
    return tg_dnnl_check(dnnl_stream_wait(ctx->stream), "tg_prim_run: wait");
}

const char *tg_cpu_model(void)
{
    static char model[128];
    if (model[0]) return model;
    snprintf(model, sizeof model, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return model;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = '\0';
                snprintf(model, sizeof model, "%s", v);
            }
            break;
        }
    }
    fclose(f);
    return model;
}
