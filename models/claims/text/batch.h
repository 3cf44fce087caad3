/* Length-bucketed batching with a token budget, and overlapping windows for
 * documents longer than the context.
 *
 * A document of n tokens gives the LM n - 1 (input, next-token) pairs. When
 * n - 1 > ctx it is cut into full windows of ctx inputs starting every
 * `stride` tokens, the last one aligned to the document's end; each target is
 * counted in exactly one window (the first that reaches it), so overlap adds
 * context without double-counting loss. All
 * windows of a document go into the same batch, so the decision head can
 * pool over the whole document. Nothing is truncated. */
#ifndef CLAIMS_BATCH_H
#define CLAIMS_BATCH_H

#include <stdint.h>

#include "tensor/status.h"

typedef struct claims_batch_opts {
    int ctx;              /* window length in tokens (model context) */
    int stride;           /* start-to-start distance of windows; 0: ctx * 3 / 4 */
    int64_t token_budget; /* max rows * padded length per batch */
    int pos_repeat;       /* each label-1 document appears this many times per epoch (>= 1) */
} claims_batch_opts;

/* One window: inputs doc[start .. start + len), targets doc[start + 1 ..
 * start + len], of which the first `skip` are already counted elsewhere. */
typedef struct claims_window {
    int32_t doc, start, len, skip;
} claims_window;

typedef struct claims_plan_batch {
    int32_t first, count; /* range in plan.windows */
    int32_t pad_len;      /* padded length (max window len) */
    int32_t n_docs;
} claims_plan_batch;

typedef struct claims_plan {
    claims_window *windows;
    int32_t n_windows;
    claims_plan_batch *batches;
    int32_t n_batches;
    int64_t real_tokens, padded_tokens;
} claims_plan;

/* Number of windows of a document of n tokens. */
int32_t claims_n_windows(int32_t n, const claims_batch_opts *o);

/* Plans one epoch over documents with the given lengths and labels: windows
 * in length buckets (random order among equal lengths, from (seed, epoch)),
 * greedy batches under the token budget (a document larger than the budget
 * gets a batch of its own), batches in shuffled order. Labels may be NULL.
 * TG_ERR_INVALID names a bad option; TG_ERR_OOM. Free with claims_plan_free. */
tg_status claims_plan_epoch(const int32_t *doc_len, const int32_t *label, int32_t n_docs, const claims_batch_opts *o,
                            uint64_t seed, int epoch, claims_plan *out);

/* Padding share of the planned tokens: 1 - real / padded. */
double claims_plan_padding_waste(const claims_plan *p);

void claims_plan_free(claims_plan *p);

/* A filled batch: row-major (rows, pad_len) arrays. Targets are -100 where
 * nothing is counted (padding, or already covered by an earlier window). */
typedef struct claims_batch {
    int32_t rows, pad_len, n_docs;
    int32_t *tokens;    /* (rows, pad_len), padding = pad_id */
    int32_t *targets;   /* (rows, pad_len) */
    int32_t *lengths;   /* (rows) real window lengths */
    int32_t *row_doc;   /* (rows) index of the row's document within the batch */
    int32_t *row_start; /* (rows) position of the row's first token in its document */
    int32_t *doc_index; /* (n_docs) dataset index of each document */
    int64_t n_targets;  /* targets that count */
} claims_batch;

/* Fills batch b of the plan from the documents' tokens. Reuses out's arrays
 * when large enough (zero-initialize out before the first call). */
tg_status claims_batch_fill(const claims_plan *p, int32_t b, const int32_t *const *doc_tokens, int32_t pad_id,
                            claims_batch *out);

void claims_batch_free(claims_batch *b);

#endif
