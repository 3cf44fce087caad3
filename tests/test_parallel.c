/* tg_parallel_*: collectives, broadcasts of parameters and optimizer state, and
 * the bucketed gradient reducer driven by the backward leaf hook.
 *
 * Every expectation is written for any number of ranks: ctest runs this
 * suite as one process (the single-process backend) and, when MPI is
 * built, tests/run_mpi.sh runs it again under `mpirun -np 2`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

static int R, N; /* this rank, number of ranks */

START_TEST(test_rank_and_size)
{
    ck_assert_int_ge(N, 1);
    ck_assert_int_ge(R, 0);
    ck_assert_int_lt(R, N);
    if (N == 1) ck_assert_int_eq(R, 0);
    if (N > 1) ck_assert_str_eq(tg_parallel_backend_name(), "mpi");
}
END_TEST

/* Rank r contributes (r + 1) * i + 0.25: every partial sum is exact in f32. */
START_TEST(test_allreduce_f32)
{
    enum { n = 37 };
    const float S = (float)(N * (N + 1) / 2);
    static const tg_parallel_op ops[] = {TG_PARALLEL_SUM, TG_PARALLEL_MEAN, TG_PARALLEL_MAX, TG_PARALLEL_MIN};
    for (int k = 0; k < 4; k++) {
        float x[n];
        for (int i = 0; i < n; i++) x[i] = (float)(R + 1) * (float)i + 0.25f;
        ck_assert_int_eq(tg_parallel_allreduce_f32(x, n, ops[k]), TG_OK);
        for (int i = 0; i < n; i++) {
            float want = ops[k] == TG_PARALLEL_SUM    ? S * (float)i + 0.25f * (float)N
                         : ops[k] == TG_PARALLEL_MEAN ? (S * (float)i + 0.25f * (float)N) / (float)N
                         : ops[k] == TG_PARALLEL_MAX  ? (float)N * (float)i + 0.25f
                                                      : (float)i + 0.25f;
            ck_assert_msg(fabsf(x[i] - want) <= 1e-6f * fabsf(want), "op %d element %d: %g, want %g", k, i, x[i], want);
        }
    }
    ck_assert_int_eq(tg_parallel_allreduce_f32(NULL, 0, TG_PARALLEL_SUM), TG_OK);
}
END_TEST

START_TEST(test_allreduce_f64_i64)
{
    double d[3] = {1.5 * (R + 1), -2.0, 1e300};
    int64_t c[2] = {(int64_t)R + 1, INT64_C(1) << 40};
    ck_assert_int_eq(tg_parallel_allreduce_f64(d, 2, TG_PARALLEL_SUM), TG_OK);
    ck_assert_int_eq(tg_parallel_allreduce_i64(c, 2, TG_PARALLEL_SUM), TG_OK);
    ck_assert(d[0] == 1.5 * N * (N + 1) / 2 && d[1] == -2.0 * N && d[2] == 1e300);
    ck_assert(c[0] == (int64_t)N * (N + 1) / 2 && c[1] == (INT64_C(1) << 40) * N);
    double m = R;
    ck_assert_int_eq(tg_parallel_allreduce_f64(&m, 1, TG_PARALLEL_MAX), TG_OK);
    ck_assert(m == N - 1);
    tg_assert_error(tg_parallel_allreduce_i64(c, 2, TG_PARALLEL_MEAN), TG_ERR_INVALID, "MEAN of integers");
    tg_assert_error(tg_parallel_allreduce_f32(NULL, 3, TG_PARALLEL_SUM), TG_ERR_INVALID,
                    "tg_parallel_allreduce_f32: 3 elements");
}
END_TEST

START_TEST(test_any)
{
    bool any = false;
    ck_assert_int_eq(tg_parallel_any(R == N - 1, &any), TG_OK);
    ck_assert(any);
    ck_assert_int_eq(tg_parallel_any(false, &any), TG_OK);
    ck_assert(!any);
}
END_TEST

START_TEST(test_broadcast)
{
    unsigned char buf[1001];
    for (int i = 0; i < 1001; i++) buf[i] = R == 0 ? (unsigned char)(i * 7) : 0;
    ck_assert_int_eq(tg_parallel_broadcast(buf, sizeof buf, 0), TG_OK);
    for (int i = 0; i < 1001; i++) ck_assert_int_eq(buf[i], (unsigned char)(i * 7));
    int v = R == N - 1 ? 42 : R;
    ck_assert_int_eq(tg_parallel_broadcast(&v, sizeof v, N - 1), TG_OK);
    ck_assert_int_eq(v, 42);
    tg_assert_error(tg_parallel_broadcast(&v, sizeof v, N), TG_ERR_INVALID, "outside [0,");
    ck_assert_int_eq(tg_parallel_barrier(), TG_OK);
}
END_TEST

/* A tiny MLP whose parameters are listed with two odd ones first: `unused`
 * (read by no op) and `p0` (read only on rank 0). */
typedef struct mlp {
    tg_tensor *unused, *p0, *w1, *b1, *w2, *b2;
    tg_param_set *ps;
} mlp;

static void mlp_init(mlp *m)
{
    m->unused = tg_randn(TG_PERSIST, TG_SHAPE(5), TG_F32, 1, 0, 1);
    m->p0 = tg_randn(TG_PERSIST, TG_SHAPE(3, 8), TG_F32, 2, 0, 1);
    m->w1 = tg_randn(TG_PERSIST, TG_SHAPE(17, 8), TG_F32, 3, 0, 0.3);
    m->b1 = tg_randn(TG_PERSIST, TG_SHAPE(17), TG_F32, 4, 0, 0.1);
    m->w2 = tg_randn(TG_PERSIST, TG_SHAPE(4, 17), TG_F32, 5, 0, 0.3);
    m->b2 = tg_randn(TG_PERSIST, TG_SHAPE(4), TG_F32, 6, 0, 0.1);
    m->ps = tg_param_set_create();
    tg_tensor *all[] = {m->unused, m->p0, m->w1, m->b1, m->w2, m->b2};
    for (int i = 0; i < 6; i++) {
        tg_tensor_set_requires_grad(all[i], true);
        ck_assert_int_eq(tg_param_set_add(m->ps, NULL, all[i], 0, NULL), TG_OK);
    }
}

static void mlp_free(mlp *m)
{
    tg_param_set_destroy(m->ps);
    tg_tensor *all[] = {m->unused, m->p0, m->w1, m->b1, m->w2, m->b2};
    for (int i = 0; i < 6; i++) tg_tensor_free(all[i]);
}

/* Forward and backward of rank r's data (its rows depend on r). */
static void mlp_backward(mlp *m, int r)
{
    tg_tensor *x = tg_randn(TG_STEP, TG_SHAPE(3 + r, 8), TG_F32, 100 + (uint64_t)r, 0, 1); /* (B, 8) */
    tg_tensor *h = tg_gelu(tg_linear(x, m->w1, m->b1));                                    /* (B, 17) */
    tg_tensor *y = tg_linear(h, m->w2, m->b2);                                             /* (B, 4) */
    tg_tensor *loss = tg_scale(tg_sum(tg_mul(y, y), NULL, 0, false), 0.01);
    if (r == 0) {
        tg_tensor *x0 = tg_randn(TG_STEP, TG_SHAPE(3, 8), TG_F32, 99, 0, 1);
        loss = tg_add(loss, tg_sum(tg_mul(x0, m->p0), NULL, 0, false));
    }
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    tg_step_end();
}

/* Sum over all ranks' data of the gradients, computed on this rank alone. */
static float **reference_grads(void)
{
    mlp ref;
    mlp_init(&ref);
    for (int r = 0; r < N; r++) mlp_backward(&ref, r);
    float **g = calloc(6, sizeof *g);
    for (int i = 0; i < 6; i++) {
        tg_tensor *gi = tg_param_set_grad(ref.ps, i);
        if (!gi) continue;
        g[i] = malloc(tg_tensor_nbytes(gi));
        memcpy(g[i], tg_f32(gi), tg_tensor_nbytes(gi));
    }
    mlp_free(&ref);
    return g;
}

static void check_against_reference(mlp *m, float **want, float div)
{
    for (int i = 0; i < 6; i++) {
        tg_tensor *g = tg_param_set_grad(m->ps, i);
        if (!want[i]) {
            ck_assert_msg(g == NULL, "%s has a gradient no rank computed", tg_param_set_name(m->ps, i));
            continue;
        }
        ck_assert_msg(g != NULL, "%s lost its gradient", tg_param_set_name(m->ps, i));
        for (int64_t j = 0; j < tg_tensor_numel(g); j++) {
            float w = want[i][j] / div;
            ck_assert_msg(fabsf(tg_f32(g)[j] - w) <= 1e-5f * (1 + fabsf(w)), "%s[%lld]: %g, want %g",
                          tg_param_set_name(m->ps, i), (long long)j, tg_f32(g)[j], w);
        }
        free(want[i]);
    }
    free(want);
}

/* Buckets start while backward runs, and the sums equal the gradient of all
 * ranks' data; p0's gradient appears on every rank although only rank 0
 * computed one, and `unused` stays without a gradient. */
START_TEST(test_reducer_during_backward)
{
    float **want = reference_grads();
    mlp m;
    mlp_init(&m);
    tg_parallel_reducer *red = tg_parallel_reducer_create(m.ps, 64, false); /* about one bucket per parameter */
    ck_assert_ptr_nonnull(red);
    ck_assert_int_eq(tg_parallel_reducer_get_stats(red).buckets, 6);
    ck_assert_int_eq(tg_parallel_reducer_arm(red), TG_OK);
    tg_assert_error(tg_parallel_reducer_arm(red), TG_ERR_STATE, "already armed");
    mlp_backward(&m, R);
    ck_assert_int_eq(tg_parallel_reducer_finish(red, TG_PARALLEL_SUM), TG_OK);
    tg_parallel_reducer_stats s = tg_parallel_reducer_get_stats(red);
    ck_assert_int_ge(s.started_in_backward, 4); /* b2, w2, b1, w1 before finish */
    ck_assert_int_eq(s.bytes, 4 * (5 + 24 + 17 * 8 + 17 + 4 * 17 + 4 + 6));
    check_against_reference(&m, want, 1.0f);
    tg_parallel_reducer_destroy(red);
    mlp_free(&m);
}
END_TEST

/* Gradient accumulation over two backwards (armed for the last one only),
 * default buckets, MEAN; and a rank with no data at all (never armed). */
START_TEST(test_reducer_accumulate_mean)
{
    float **want = reference_grads();
    mlp m;
    mlp_init(&m);
    tg_parallel_reducer *red = tg_parallel_reducer_create(m.ps, 0, true);
    ck_assert_int_eq(tg_parallel_reducer_get_stats(red).buckets, 1);
    for (int round = 0; round < 2; round++) {
        if (round == 1) tg_param_set_zero_grad(m.ps);
        /* round 0: every rank backwards its data twice (halves summed);
         * round 1: only the last rank works, the others are never armed */
        bool works = round == 0 || R == N - 1;
        if (works) {
            for (int k = 0; k < 2; k++) {
                if (k == 1) ck_assert_int_eq(tg_parallel_reducer_arm(red), TG_OK);
                mlp_backward(&m, round == 0 ? R : N - 1);
                if (k == 0) ck_assert_int_eq(tg_parallel_reducer_accumulate(red), TG_OK);
            }
        }
        ck_assert_int_eq(tg_parallel_reducer_finish(red, TG_PARALLEL_MEAN), TG_OK);
        if (round == 0) {
            check_against_reference(&m, want, (float)N / 2.0f);
        } else {
            /* only the last rank's data, twice, averaged over N ranks */
            for (int64_t j = 0; j < 4; j++) {
                mlp ref;
                mlp_init(&ref);
                mlp_backward(&ref, N - 1);
                float w = tg_f32(tg_tensor_grad(ref.b2))[j] * 2.0f / (float)N;
                ck_assert(fabsf(tg_f32(tg_tensor_grad(m.b2))[j] - w) <= 1e-5f * (1 + fabsf(w)));
                mlp_free(&ref);
            }
        }
    }
    tg_parallel_reducer_destroy(red);
    mlp_free(&m);
}
END_TEST

START_TEST(test_allreduce_grads)
{
    float **want = reference_grads();
    mlp m;
    mlp_init(&m);
    mlp_backward(&m, R);
    ck_assert_int_eq(tg_parallel_allreduce_grads(m.ps, TG_PARALLEL_SUM), TG_OK);
    check_against_reference(&m, want, 1.0f);
    mlp_free(&m);
    tg_assert_error(tg_parallel_allreduce_grads(NULL, TG_PARALLEL_SUM), TG_ERR_INVALID, "NULL parameter set");
}
END_TEST

/* The leaf hook reports each leaf once, with its final gradient. */
typedef struct seen {
    const tg_tensor *leaf[8];
    float first[8];
    int n;
} seen;

static void record(void *user, tg_tensor *leaf)
{
    seen *s = user;
    for (int i = 0; i < s->n; i++) ck_assert_msg(s->leaf[i] != leaf, "leaf reported twice");
    s->leaf[s->n] = leaf;
    s->first[s->n++] = tg_f32(tg_tensor_grad(leaf))[0];
}

START_TEST(test_leaf_hook)
{
    mlp m;
    mlp_init(&m);
    seen s = {0};
    tg_leaf_grad_fn prev;
    void *prev_user;
    tg_backward_set_leaf_hook(record, &s, &prev, &prev_user);
    ck_assert_ptr_null(prev);
    mlp_backward(&m, 0);
    tg_backward_set_leaf_hook(prev, prev_user, NULL, NULL);
    ck_assert_int_eq(s.n, 5); /* not `unused` */
    /* p0 feeds the last op; then the last layer, then the first */
    ck_assert_ptr_eq(s.leaf[0], m.p0);
    ck_assert((s.leaf[1] == m.w2 && s.leaf[2] == m.b2) || (s.leaf[1] == m.b2 && s.leaf[2] == m.w2));
    ck_assert((s.leaf[3] == m.w1 && s.leaf[4] == m.b1) || (s.leaf[3] == m.b1 && s.leaf[4] == m.w1));
    for (int i = 0; i < s.n; i++) ck_assert(s.first[i] == tg_f32(tg_tensor_grad(s.leaf[i]))[0]);
    mlp_free(&m);
}
END_TEST

START_TEST(test_broadcast_params_and_optim)
{
    mlp m;
    mlp_init(&m);
    tg_optim *opt = tg_adamw_create(m.ps, NULL);
    /* ranks diverge: different data, a different number of steps */
    for (int k = 0; k <= R; k++) {
        tg_param_set_zero_grad(m.ps);
        mlp_backward(&m, R);
        ck_assert_int_eq(tg_optim_step(opt, 1e-2), TG_OK);
    }
    float w0 = tg_f32(m.w1)[0], v0 = tg_f32(tg_optim_state(opt, 2, 1))[0];
    ck_assert_int_eq(tg_parallel_broadcast(&w0, sizeof w0, 0), TG_OK);
    ck_assert_int_eq(tg_parallel_broadcast(&v0, sizeof v0, 0), TG_OK);
    ck_assert_int_eq(tg_parallel_broadcast_params(m.ps), TG_OK);
    ck_assert_int_eq(tg_parallel_broadcast_optim(opt), TG_OK);
    ck_assert(tg_f32(m.w1)[0] == w0);
    ck_assert(tg_f32(tg_optim_state(opt, 2, 1))[0] == v0);
    ck_assert_int_eq(tg_optim_step_count(opt), 1);
    ck_assert_int_eq(tg_optim_param_steps(opt, 2), 1);
    /* every rank now holds the same bits: their max equals their min */
    float hi = tg_f32(m.b2)[3], lo = hi;
    ck_assert_int_eq(tg_parallel_allreduce_f32(&hi, 1, TG_PARALLEL_MAX), TG_OK);
    ck_assert_int_eq(tg_parallel_allreduce_f32(&lo, 1, TG_PARALLEL_MIN), TG_OK);
    ck_assert(hi == lo);
    tg_optim_destroy(opt);
    mlp_free(&m);
    tg_assert_error(tg_parallel_broadcast_params(NULL), TG_ERR_INVALID, "NULL parameter set");
}
END_TEST

/* Single process only: the environment switch and its errors. */
START_TEST(test_local_backend_env)
{
    if (N > 1) return;
    tg_parallel_finalize();
    setenv("TG_DIST", "carrier-pigeon", 1);
    tg_assert_error(tg_parallel_init(NULL, NULL), TG_ERR_INVALID, "TG_DIST=carrier-pigeon");
    setenv("TG_DIST", "mpi", 1);
    tg_assert_error(tg_parallel_init(NULL, NULL), TG_ERR_BACKEND, "TG_DIST=mpi but");
    setenv("TG_DIST", "local", 1);
    ck_assert_int_eq(tg_parallel_init(NULL, NULL), TG_OK);
    unsetenv("TG_DIST");
    ck_assert_str_eq(tg_parallel_backend_name(), "local");
    ck_assert_int_eq(tg_parallel_size(), 1);
    float x = 3.5f;
    ck_assert_int_eq(tg_parallel_allreduce_f32(&x, 1, TG_PARALLEL_MEAN), TG_OK);
    ck_assert(x == 3.5f);
}
END_TEST

int main(int argc, char **argv)
{
    if (tg_parallel_init(&argc, &argv) != TG_OK) {
        fprintf(stderr, "test_parallel: %s\n", tg_last_error());
        return 1;
    }
    R = tg_parallel_rank();
    N = tg_parallel_size();
    Suite *s = suite_create("parallel");
    TCase *tc = tcase_create("parallel");
    tcase_add_checked_fixture(tc, tg_test_setup, tg_test_teardown);
    tcase_add_test(tc, test_rank_and_size);
    tcase_add_test(tc, test_allreduce_f32);
    tcase_add_test(tc, test_allreduce_f64_i64);
    tcase_add_test(tc, test_any);
    tcase_add_test(tc, test_broadcast);
    tcase_add_test(tc, test_reducer_during_backward);
    tcase_add_test(tc, test_reducer_accumulate_mean);
    tcase_add_test(tc, test_allreduce_grads);
    tcase_add_test(tc, test_leaf_hook);
    tcase_add_test(tc, test_broadcast_params_and_optim);
    tcase_add_test(tc, test_local_backend_env);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    if (N > 1) srunner_set_fork_status(sr, CK_NOFORK); /* no fork() under MPI */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed && N > 1) tg_parallel_abort(1); /* the other ranks may wait in a collective */
    tg_parallel_finalize();
    return failed ? 1 : 0;
}
