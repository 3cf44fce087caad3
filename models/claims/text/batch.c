#include "models/claims/text/batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rng.h"

static int stride_of(const claims_batch_opts *o) { return o->stride > 0 ? o->stride : o->ctx * 3 / 4; }

int32_t claims_n_windows(int32_t n, const claims_batch_opts *o)
{
    int32_t pairs = n - 1, s = stride_of(o);
    if (pairs <= o->ctx) return 1;
    return (pairs - o->ctx + s - 1) / s + 1;
}

static tg_status check_opts(const claims_batch_opts *o)
{
    if (o->ctx < 2) return tg_error(TG_ERR_INVALID, "claims_plan_epoch: ctx %d must be >= 2", o->ctx);
    if (stride_of(o) < 1 || stride_of(o) > o->ctx)
        return tg_error(TG_ERR_INVALID, "claims_plan_epoch: stride %d outside [1, ctx %d]", stride_of(o), o->ctx);
    if (o->token_budget < o->ctx)
        return tg_error(TG_ERR_INVALID, "claims_plan_epoch: token budget %lld below ctx %d", (long long)o->token_budget,
                        o->ctx);
    if (o->pos_repeat < 1)
        return tg_error(TG_ERR_INVALID, "claims_plan_epoch: pos_repeat %d must be >= 1", o->pos_repeat);
    return TG_OK;
}

/* An epoch entry: one (possibly repeated) document and its sort key. */
typedef struct entry {
    int32_t doc, nwin, pad;
    uint64_t tie;
} entry;

static int by_length(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->nwin != y->nwin) return x->nwin < y->nwin ? -1 : 1;
    if (x->pad != y->pad) return x->pad < y->pad ? -1 : 1;
    return (x->tie > y->tie) - (x->tie < y->tie);
}

static int32_t doc_pad(int32_t n, const claims_batch_opts *o) { return n - 1 < o->ctx ? n - 1 : o->ctx; }

static void add_windows(claims_plan *p, int32_t doc, int32_t n, const claims_batch_opts *o)
{
    int32_t s = stride_of(o), pairs = n - 1, covered = 0;
    int32_t nw = claims_n_windows(n, o);
    for (int32_t w = 0; w < nw; w++) {
        /* the last of several windows ends at the document's end, so every
         * window of a long document is full and adds no padding */
        int32_t start = nw > 1 && w == nw - 1 ? pairs - o->ctx : w * s;
        int32_t len = pairs - start < o->ctx ? pairs - start : o->ctx;
        p->windows[p->n_windows++] = (claims_window){doc, start, len, covered - start > 0 ? covered - start : 0};
        covered = start + len;
        p->real_tokens += len;
    }
}

static void shuffle_batches(claims_plan *p, uint64_t seed)
{
    for (int32_t i = p->n_batches - 1; i > 0; i--) {
        int32_t j = (int32_t)(tg_rng_bits(seed, (uint64_t)i) % (uint64_t)(i + 1));
        claims_plan_batch t = p->batches[i];
        p->batches[i] = p->batches[j];
        p->batches[j] = t;
    }
}

tg_status claims_plan_epoch(const int32_t *doc_len, const int32_t *label, int32_t n_docs, const claims_batch_opts *o,
                            uint64_t seed, int epoch, claims_plan *out)
{
    memset(out, 0, sizeof *out);
    TG_TRY(check_opts(o));
    int64_t n_entries = 0, n_win = 0;
    for (int32_t d = 0; d < n_docs; d++) {
        if (doc_len[d] < 2)
            return tg_error(TG_ERR_INVALID, "claims_plan_epoch: document %d has %d tokens, needs >= 2", d, doc_len[d]);
        int rep = label && label[d] ? o->pos_repeat : 1;
        n_entries += rep;
        n_win += (int64_t)rep * claims_n_windows(doc_len[d], o);
    }
    entry *e = malloc(sizeof *e * (size_t)(n_entries ? n_entries : 1));
    out->windows = malloc(sizeof *out->windows * (size_t)(n_win ? n_win : 1));
    out->batches = malloc(sizeof *out->batches * (size_t)(n_entries ? n_entries : 1));
    if (!e || !out->windows || !out->batches) {
        free(e);
        claims_plan_free(out);
        return tg_error(TG_ERR_OOM, "claims_plan_epoch: out of memory for %lld windows", (long long)n_win);
    }
    const uint64_t eseed = tg_rng_bits(seed, (uint64_t)epoch);
    int64_t k = 0;
    for (int32_t d = 0; d < n_docs; d++)
        for (int r = 0; r < (label && label[d] ? o->pos_repeat : 1); r++, k++)
            e[k] = (entry){d, claims_n_windows(doc_len[d], o), doc_pad(doc_len[d], o), tg_rng_bits(eseed, (uint64_t)k)};
    qsort(e, (size_t)n_entries, sizeof *e, by_length);

    claims_plan_batch *cur = NULL;
    for (int64_t i = 0; i < n_entries; i++) {
        int32_t pad = cur && cur->pad_len > e[i].pad ? cur->pad_len : e[i].pad;
        if (!cur || (int64_t)(cur->count + e[i].nwin) * pad > o->token_budget) {
            cur = &out->batches[out->n_batches++];
            *cur = (claims_plan_batch){.first = out->n_windows};
            pad = e[i].pad;
        }
        add_windows(out, e[i].doc, doc_len[e[i].doc], o);
        cur->count += e[i].nwin;
        cur->pad_len = pad;
        cur->n_docs++;
    }
    for (int32_t b = 0; b < out->n_batches; b++)
        out->padded_tokens += (int64_t)out->batches[b].count * out->batches[b].pad_len;
    free(e);
    shuffle_batches(out, eseed ^ 0x5bd1e995u);
    return TG_OK;
}

double claims_plan_padding_waste(const claims_plan *p)
{
    return p->padded_tokens ? 1.0 - (double)p->real_tokens / (double)p->padded_tokens : 0.0;
}

void claims_plan_free(claims_plan *p)
{
    if (!p) return;
    free(p->windows);
    free(p->batches);
    memset(p, 0, sizeof *p);
}

static tg_status reserve(int32_t **a, size_t n)
{
    int32_t *p = realloc(*a, sizeof *p * (n ? n : 1));
    if (!p) return tg_error(TG_ERR_OOM, "claims_batch_fill: out of memory");
    *a = p;
    return TG_OK;
}

tg_status claims_batch_fill(const claims_plan *p, int32_t b, const int32_t *const *doc_tokens, int32_t pad_id,
                            claims_batch *out)
{
    if (b < 0 || b >= p->n_batches)
        return tg_error(TG_ERR_INVALID, "claims_batch_fill: batch %d outside [0, %d)", b, p->n_batches);
    const claims_plan_batch *pb = &p->batches[b];
    const size_t cells = (size_t)pb->count * (size_t)pb->pad_len;
    TG_TRY(reserve(&out->tokens, cells));
    TG_TRY(reserve(&out->targets, cells));
    TG_TRY(reserve(&out->lengths, (size_t)pb->count));
    TG_TRY(reserve(&out->row_doc, (size_t)pb->count));
    TG_TRY(reserve(&out->row_start, (size_t)pb->count));
    TG_TRY(reserve(&out->doc_index, (size_t)pb->n_docs));
    out->rows = pb->count;
    out->pad_len = pb->pad_len;
    out->n_docs = 0;
    out->n_targets = 0;
    for (int32_t r = 0; r < pb->count; r++) {
        const claims_window *w = &p->windows[pb->first + r];
        /* windows of one document are consecutive; a repeated document (pos_repeat) starts anew at start 0 */
        if (r == 0 || w->start == 0) out->doc_index[out->n_docs++] = w->doc;
        out->row_doc[r] = out->n_docs - 1;
        out->row_start[r] = w->start;
        out->lengths[r] = w->len;
        const int32_t *t = doc_tokens[w->doc];
        int32_t *x = out->tokens + (size_t)r * pb->pad_len, *y = out->targets + (size_t)r * pb->pad_len;
        for (int32_t j = 0; j < pb->pad_len; j++) {
            bool real = j < w->len;
            x[j] = real ? t[w->start + j] : pad_id;
            y[j] = real && j >= w->skip ? t[w->start + j + 1] : -100;
            out->n_targets += real && j >= w->skip;
        }
    }
    return TG_OK;
}

void claims_batch_free(claims_batch *b)
{
    if (!b) return;
    free(b->tokens);
    free(b->targets);
    free(b->lengths);
    free(b->row_doc);
    free(b->row_start);
    free(b->doc_index);
    memset(b, 0, sizeof *b);
}
