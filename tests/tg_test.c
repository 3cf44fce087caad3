#include "tests/tg_test.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tg_ctx *test_ctx;

void tg_test_setup(void)
{
    tg_ctx_opts o = {.threads = 2, .seed = 1234};
    test_ctx = tg_ctx_create(&o);
    ck_assert_msg(test_ctx != NULL, "context: %s", tg_last_error());
    tg_ctx_set_current(test_ctx);
    tg_grad_set_enabled(true);
    tg_clear_error();
}

void tg_test_teardown(void)
{
    tg_ctx_destroy(test_ctx);
    test_ctx = NULL;
}

json_t *tg_fixture_load(const char *name)
{
    const char *root = getenv("TG_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s.json", root ? root : ".", name);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    ck_assert_msg(j != NULL, "fixture %s: %s (line %d)", path, err.text, err.line);
    return j;
}

tg_tensor *tg_fixture_tensor(const json_t *obj)
{
    const json_t *shape = json_object_get(obj, "shape"), *data = json_object_get(obj, "data");
    const char *dts = json_string_value(json_object_get(obj, "dtype"));
    ck_assert_msg(json_is_array(shape) && json_is_array(data), "fixture tensor needs shape and data");
    tg_shape s = {.ndim = (int)json_array_size(shape)};
    for (int i = 0; i < s.ndim; i++) s.dims[i] = json_integer_value(json_array_get(shape, (size_t)i));
    tg_dtype dt = dts && !strcmp(dts, "s32") ? TG_S32 : TG_F32;
    tg_tensor *t = tg_tensor_empty(TG_STEP, s, dt);
    ck_assert_msg(t != NULL, "fixture tensor: %s", tg_last_error());
    ck_assert_int_eq((int64_t)json_array_size(data), tg_tensor_numel(t));
    for (int64_t i = 0; i < tg_tensor_numel(t); i++) {
        const json_t *v = json_array_get(data, (size_t)i);
        tg_tensor_set(t, i, json_is_string(v) ? strtod(json_string_value(v), NULL) : json_number_value(v));
    }
    return t;
}

void tg_assert_close_buf(const tg_tensor *got, const float *want, int64_t n, double atol, double rtol, const char *what)
{
    ck_assert_msg(got != NULL, "%s: no tensor (%s)", what, tg_last_error());
    ck_assert_msg(tg_tensor_numel(got) == n, "%s: %lld elements, expected %lld", what, (long long)tg_tensor_numel(got),
                  (long long)n);
    for (int64_t i = 0; i < n; i++) {
        double g = tg_tensor_get(got, i), w = want[i];
        bool same_inf = isinf(g) && isinf(w) && (g > 0) == (w > 0);
        ck_assert_msg(same_inf || fabs(g - w) <= atol + rtol * fabs(w),
                      "%s: element %lld is %.9g, expected %.9g (atol %g, rtol %g)", what, (long long)i, g, w, atol,
                      rtol);
    }
}

void tg_assert_close(const tg_tensor *got, const tg_tensor *want, double atol, double rtol, const char *what)
{
    ck_assert_msg(got != NULL, "%s: no tensor (%s)", what, tg_last_error());
    char a[96], b[96];
    ck_assert_msg(tg_shape_equal(tg_tensor_shape(got), tg_tensor_shape(want)), "%s: shape %s, expected %s", what,
                  tg_shape_str(tg_tensor_shape(got), a, sizeof a), tg_shape_str(tg_tensor_shape(want), b, sizeof b));
    tg_tensor *w = tg_tensor_to(TG_STEP, want, TG_F32);
    tg_assert_close_buf(got, tg_f32(w), tg_tensor_numel(w), atol, rtol, what);
}

void tg_assert_gradcheck(tg_gradcheck_fn fn, tg_tensor *const *in, int n_in, void *user, const tg_gradcheck_opts *opts,
                         const char *what)
{
    tg_gradcheck_report rep;
    tg_status st = tg_gradcheck(fn, in, n_in, user, opts, &rep);
    ck_assert_msg(st == TG_OK, "gradcheck %s: %s", what, tg_last_error());
    ck_assert_msg(rep.checked > 0, "gradcheck %s: nothing was checked", what);
}

void tg_assert_error(tg_status st, tg_status want, const char *needle)
{
    ck_assert_msg(st == want, "status %s, expected %s (message: %s)", tg_status_str(st), tg_status_str(want),
                  tg_last_error());
    ck_assert_msg(strstr(tg_last_error(), needle) != NULL, "error message '%s' lacks '%s'", tg_last_error(), needle);
}

int tg_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

/* The cases made by tg_tcase_create_needing. */
enum { MAX_NEEDING = 8 };
typedef struct needing_case {
    const char *name, *why;
    bool have;
} needing_case;
static needing_case needing[MAX_NEEDING];
static int n_needing;

#define NEEDING_TAG "tg_needing" /* the tag that keeps these cases out of a plain run */

TCase *tg_tcase_create_needing(const char *name, bool have, const char *why)
{
    if (n_needing == MAX_NEEDING) {
        fprintf(stderr, "tg_tcase_create_needing: more than %d such cases\n", MAX_NEEDING);
        abort();
    }
    needing[n_needing++] = (needing_case){name, why, have};
    TCase *tc = tcase_create(name);
    tcase_set_tags(tc, NEEDING_TAG);
    return tc;
}

int tg_test_main(Suite *s, int argc, char **argv)
{
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    SRunner *sr = srunner_create(s);
    int status = 0;
    if (argc < 2) {
        for (int i = 0; i < n_needing; i++)
            printf("case %s runs as its own entry: %s %s (ctest -R %s_%s)\n", needing[i].name, prog, needing[i].name,
                   prog, needing[i].name);
        fflush(stdout); /* before Check forks: a child would print buffered lines again */
        srunner_run_tagged(sr, NULL, NULL, NULL, NEEDING_TAG, CK_NORMAL);
        status = srunner_ntests_failed(sr) ? 1 : 0;
    } else {
        int i = 0;
        while (i < n_needing && strcmp(needing[i].name, argv[1])) i++;
        if (i == n_needing) {
            fprintf(stderr, "%s: no case '%s' made by tg_tcase_create_needing\n", prog, argv[1]);
            status = 1;
        } else if (!needing[i].have) {
            printf("SKIPPED %s_%s: %s\n", prog, needing[i].name, needing[i].why);
            status = 77;
        } else {
            srunner_run(sr, NULL, needing[i].name, CK_NORMAL);
            status = srunner_ntests_failed(sr) ? 1 : 0;
        }
    }
    srunner_free(sr);
    return status;
}

static char scratch[64];

void tg_test_scratch_setup(void)
{
    tg_test_setup();
    snprintf(scratch, sizeof scratch, "/tmp/tg_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(scratch));
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        remove_tree(p);
    }
    closedir(d);
    rmdir(path);
}

void tg_test_scratch_teardown(void)
{
    remove_tree(scratch);
    tg_test_teardown();
}

const char *tg_test_scratch(void) { return scratch; }

const char *tg_test_path(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *p = bufs[k++ % 4];
    snprintf(p, 512, "%s/%s", scratch, name);
    return p;
}

unsigned char *tg_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len + 1);
    ck_assert_uint_eq(fread(buf, 1, *len, f), *len);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

void tg_test_write_file(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

void tg_assert_file_bytes(const char *path, const unsigned char *want, size_t len)
{
    size_t got_len;
    unsigned char *got = tg_test_read_file(path, &got_len);
    ck_assert_msg(got_len == len, "%s holds %zu bytes, expected %zu", path, got_len, len);
    ck_assert_msg(memcmp(got, want, len) == 0, "%s changed", path);
    free(got);
}

static size_t fail_after, written;

static size_t failing_write(const void *p, size_t size, size_t n, FILE *f)
{
    size_t want = size * n, room = fail_after > written ? fail_after - written : 0;
    size_t got = fwrite(p, 1, want < room ? want : room, f);
    written += got;
    if (got < want) errno = ENOSPC;
    return got / size;
}

void tg_test_fail_writes_after(size_t bytes)
{
    fail_after = bytes;
    written = 0;
    tg_st_set_write_hook(failing_write);
}
