/* autograd/psn: per-sample gradient norms and per-sample weighted gradients
 * of the claims model (every parameter-bearing layer: tied token embedding
 * and LM head, position embedding, layer norm or RMS norm, attention and MLP
 * linears with biases, SwiGLU gate, pooling scores, surprisal vector, MLP
 * decision head) against a naive reference: one forward and backward per
 * sample on a batch holding only that sample's documents. Samples are single
 * claims, and patients owning several claims (one of them two windows);
 * one configuration pools with several learned queries and feeds the claims'
 * structured facts to the head. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/dpsgd_norms.h"
#include "models/claims/model/model.h"
#include "models/claims/text/tokenizer.h"
#include "tests/tg_test.h"

enum { R = 7, T = 12, DOCS = 6, V = 40 };
static const int32_t row_len[R] = {12, 9, 12, 7, 5, 12, 10};
static const int32_t row_doc[R] = {0, 1, 2, 2, 3, 4, 5}; /* document 2 has two windows */
static const int32_t labels[DOCS] = {0, 1, 0, 0, 1, 0};
static float doc_features[DOCS * CLAIMS_N_FEATURES]; /* (DOCS, F), filled by make_batch */

typedef struct fixture {
    int32_t tokens[R * T], targets[R * T], lengths[R], rdoc[R], doc_index[DOCS];
    claims_batch b;
} fixture;

static void make_batch(fixture *f)
{
    tg_rng rng = {.seed = 77};
    for (int r = 0; r < R; r++) {
        f->lengths[r] = row_len[r];
        f->rdoc[r] = row_doc[r];
        for (int t = 0; t < T; t++) {
            f->tokens[r * T + t] = t < row_len[r] ? 5 + (int32_t)(tg_rng_next(&rng) % (V - 5)) : CLAIMS_TOK_PAD;
            if (t == 3 && r % 2 == 0) f->tokens[r * T + t] = CLAIMS_TOK_SEP;
        }
        for (int t = 0; t < T; t++) f->targets[r * T + t] = t + 1 < row_len[r] ? f->tokens[r * T + t + 1] : -100;
    }
    for (int d = 0; d < DOCS; d++) f->doc_index[d] = d;
    for (int i = 0; i < DOCS * CLAIMS_N_FEATURES; i++) doc_features[i] = (float)tg_rng_next_uniform(&rng) * 2.0f - 1.0f;
    f->b = (claims_batch){.rows = R,
                          .pad_len = T,
                          .n_docs = DOCS,
                          .tokens = f->tokens,
                          .targets = f->targets,
                          .lengths = f->lengths,
                          .row_doc = f->rdoc,
                          .doc_index = f->doc_index};
}

/* The sub-batch of the documents with keep[d]: their rows, renumbered. */
static void sub_batch(const fixture *f, const bool *keep, fixture *s, int32_t *sub_labels)
{
    int nr = 0, nd = 0, map[DOCS];
    for (int d = 0; d < DOCS; d++) {
        map[d] = keep[d] ? nd : -1;
        if (keep[d]) sub_labels[nd] = labels[d], s->doc_index[nd] = d, nd++;
    }
    for (int r = 0; r < R; r++) {
        if (!keep[row_doc[r]]) continue;
        memcpy(s->tokens + nr * T, f->tokens + r * T, sizeof(int32_t) * T);
        memcpy(s->targets + nr * T, f->targets + r * T, sizeof(int32_t) * T);
        s->lengths[nr] = f->lengths[r];
        s->rdoc[nr] = map[row_doc[r]];
        nr++;
    }
    s->b = (claims_batch){.rows = nr,
                          .pad_len = T,
                          .n_docs = nd,
                          .tokens = s->tokens,
                          .targets = s->targets,
                          .lengths = s->lengths,
                          .row_doc = s->rdoc,
                          .doc_index = s->doc_index};
}

static claims_model_config config(bool rms_swiglu)
{
    claims_model_config c = {.gpt = {.vocab = V,
                                     .dim = 16,
                                     .heads = 2,
                                     .hidden = 24,
                                     .max_seq = T,
                                     .n_layers = 2,
                                     .tied = true,
                                     .rms = rms_swiglu,
                                     .swiglu = rms_swiglu},
                             .lambda = 2.0,
                             .decision = CLAIMS_LOSS_COST,
                             .costs = claims_costs_default(),
                             .class_weight = {1, 1},
                             .code_weight = 1.0,
                             .head_hidden = 8,
                             .surprisal = true,
                             .pool_heads = rms_swiglu ? 3 : 1,
                             .tabular = rms_swiglu};
    return c;
}

/* Random non-zero weights everywhere (the model starts some at zero). */
static void randomize(claims_model *m)
{
    tg_param_set *ps = m->gpt.params;
    for (int i = 0; i < tg_param_set_count(ps); i++)
        ck_assert_int_eq(tg_fill_randn(tg_param_set_value(ps, i), 100 + (uint64_t)i, 0.0, 0.3), TG_OK);
}

static tg_tensor *forward_loss(const claims_model *m, const claims_batch *b, const int32_t *lab)
{
    claims_forward out;
    ck_assert_int_eq(claims_model_forward(m, b, lab, doc_features, NULL, 10.0, 1.0, true, false, &out), TG_OK);
    return out.loss;
}

static int64_t n_grad(tg_param_set *ps)
{
    int64_t n = 0;
    for (int i = 0; i < tg_param_set_count(ps); i++) n += tg_tensor_numel(tg_param_set_value(ps, i));
    return n;
}

static void copy_grads(tg_param_set *ps, double *out)
{
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        tg_tensor *g = tg_param_set_grad(ps, i);
        int64_t n = tg_tensor_numel(tg_param_set_value(ps, i));
        for (int64_t k = 0; k < n; k++) *out++ = g ? tg_f32(g)[k] : 0.0;
    }
}

static bool sumsq_zero(const tg_tensor *t)
{
    for (int64_t k = 0; k < tg_tensor_numel(t); k++)
        if (tg_f32(t)[k] != 0.0f) return false;
    return true;
}

static void check_model(bool rms_swiglu, const int32_t *unit_of_doc, int n_units, tg_psn_linear mode)
{
    claims_model_config c = config(rms_swiglu);
    claims_model m;
    ck_assert_int_eq(claims_model_init(&m, &c, 5), TG_OK);
    randomize(&m);
    tg_param_set *ps = m.gpt.params;
    const int np = tg_param_set_count(ps);
    const int64_t N = n_grad(ps);
    fixture f;
    make_batch(&f);

    /* naive: per unit, a batch of its documents, one backward */
    double *g = calloc((size_t)(n_units * N), sizeof *g), want_sq[DOCS] = {0};
    for (int u = 0; u < n_units; u++) {
        bool keep[DOCS];
        for (int d = 0; d < DOCS; d++) keep[d] = unit_of_doc[d] == u;
        fixture s;
        int32_t lab[DOCS];
        sub_batch(&f, keep, &s, lab);
        tg_param_set_zero_grad(ps);
        ck_assert_int_eq(tg_backward(forward_loss(&m, &s.b, lab)), TG_OK);
        copy_grads(ps, g + u * N);
        for (int64_t k = 0; k < N; k++) want_sq[u] += g[u * N + k] * g[u * N + k];
        tg_step_end();
    }

    /* per-sample norms over the whole batch */
    int32_t tok_unit[R * T], doc_unit[DOCS];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) tok_unit[r * T + t] = unit_of_doc[row_doc[r]];
    memcpy(doc_unit, unit_of_doc, sizeof doc_unit);
    tg_psn_space sp[2] = {{R * T, tok_unit}, {DOCS, doc_unit}};
    tg_psn_opts o = {.n_samples = n_units, .spaces = sp, .n_spaces = 2, .linear = mode};
    tg_tensor *params[64];
    for (int i = 0; i < np; i++) params[i] = tg_param_set_value(ps, i);
    tg_param_set_zero_grad(ps);
    tg_tensor *loss = forward_loss(&m, &f.b, labels);
    double sq[DOCS];
    ck_assert_int_eq(tg_psn_norms(loss, params, np, &o, sq), TG_OK);
    for (int u = 0; u < n_units; u++)
        ck_assert_msg(fabs(sqrt(sq[u]) - sqrt(want_sq[u])) <= 1e-5 * sqrt(want_sq[u]),
                      "unit %d: norm %.9g, naive %.9g (mode %d, rms %d)", u, sqrt(sq[u]), sqrt(want_sq[u]), mode,
                      rms_swiglu);
    for (int i = 0; i < np; i++) { /* the norms pass leaves gradients alone */
        tg_tensor *gi = tg_param_set_grad(ps, i);
        ck_assert(!gi || sumsq_zero(gi));
    }

    /* clipped sum: weights min(1, C / norm) with C at the median norm */
    double norms[DOCS], sorted[DOCS], w[DOCS];
    for (int u = 0; u < n_units; u++) sorted[u] = norms[u] = sqrt(sq[u]);
    for (int a = 0; a < n_units; a++)
        for (int b = a + 1; b < n_units; b++)
            if (sorted[b] < sorted[a]) {
                double t = sorted[a];
                sorted[a] = sorted[b];
                sorted[b] = t;
            }
    const double C = sorted[n_units / 2];
    for (int u = 0; u < n_units; u++) w[u] = fmin(1.0, C / (norms[u] + 1e-6));
    ck_assert_int_eq(tg_psn_backward_weighted(loss, params, np, &o, w), TG_OK);
    double *got = malloc(sizeof *got * (size_t)N);
    copy_grads(ps, got);
    int64_t off = 0;
    for (int i = 0; i < np; i++) {
        const int64_t n = tg_tensor_numel(params[i]);
        double d2 = 0, w2 = 0;
        for (int64_t k = off; k < off + n; k++) {
            double want = 0;
            for (int u = 0; u < n_units; u++) want += w[u] * g[u * N + k];
            d2 += (got[k] - want) * (got[k] - want);
            w2 += want * want;
        }
        ck_assert_msg(sqrt(d2) <= 1e-5 * sqrt(w2) + 1e-12, "%s: clipped sum off by %.3g relative (rms %d)",
                      tg_param_set_name(ps, i), sqrt(d2 / (w2 > 0 ? w2 : 1)), rms_swiglu);
        off += n;
    }
    tg_step_end();
    free(got);
    free(g);
    claims_model_free(&m);
}

static const int32_t per_claim[DOCS] = {0, 1, 2, 3, 4, 5};
static const int32_t per_patient[DOCS] = {0, 1, 2, 0, 2, 2}; /* patients own claims {0, 3}, {1}, {2, 4, 5} */

START_TEST(test_claims_auto) { check_model(false, per_claim, DOCS, TG_PSN_AUTO); }
END_TEST
START_TEST(test_claims_ghost) { check_model(false, per_claim, DOCS, TG_PSN_GHOST); }
END_TEST
START_TEST(test_claims_materialize) { check_model(false, per_claim, DOCS, TG_PSN_MATERIALIZE); }
END_TEST
START_TEST(test_rms_swiglu) { check_model(true, per_claim, DOCS, TG_PSN_GHOST); }
END_TEST
START_TEST(test_patients)
{
    check_model(false, per_patient, 3, TG_PSN_GHOST);
    check_model(true, per_patient, 3, TG_PSN_MATERIALIZE);
}
END_TEST

START_TEST(test_errors)
{
    claims_model_config c = config(false);
    claims_model m;
    ck_assert_int_eq(claims_model_init(&m, &c, 5), TG_OK);
    fixture f;
    make_batch(&f);
    int32_t tok_unit[R * T] = {0}, doc_unit[DOCS] = {0};
    tok_unit[5] = 3;
    tg_psn_space sp[2] = {{R * T, tok_unit}, {DOCS, doc_unit}};
    tg_psn_opts o = {.n_samples = 2, .spaces = sp, .n_spaces = 2};
    tg_tensor *params[64];
    for (int i = 0; i < tg_param_set_count(m.gpt.params); i++) params[i] = tg_param_set_value(m.gpt.params, i);
    double sq[4];
    tg_tensor *loss = forward_loss(&m, &f.b, labels);
    tg_assert_error(tg_psn_norms(loss, params, tg_param_set_count(m.gpt.params), &o, sq), TG_ERR_INVALID,
                    "row 5 has sample 3 outside [-1, 2)");
    tok_unit[5] = 0;
    o.n_spaces = 1; /* the decision head's rows are documents: no space for them */
    tg_assert_error(tg_psn_norms(loss, params, tg_param_set_count(m.gpt.params), &o, sq), TG_ERR_INVALID,
                    "which no row space describes");
    tg_step_end();
    claims_model_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("psn");
    TCase *tc = tcase_create("psn");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_claims_auto);
    tcase_add_test(tc, test_claims_ghost);
    tcase_add_test(tc, test_claims_materialize);
    tcase_add_test(tc, test_rms_swiglu);
    tcase_add_test(tc, test_patients);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
