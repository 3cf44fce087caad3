/* tensor/safetensors: round trips, atomic saves, rejection of corrupt files
 * with messages naming the file and field, and files written by PyTorch. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/safetensors.h"
#include "tests/tg_test.h"

/* ---- a scratch directory per test ---- */

/* Number of entries in the scratch directory whose name contains `part`. */
static int count_files(const char *part)
{
    DIR *d = opendir(tg_test_scratch());
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

/* ---- round trip ---- */

static void assert_same(const tg_st_file *f, const char *name, const tg_tensor *want)
{
    tg_st_entry e;
    ck_assert_msg(tg_st_find(f, name, &e) == TG_OK, "%s", tg_last_error());
    ck_assert_str_eq(e.name, name);
    ck_assert(e.supported);
    ck_assert_int_eq(e.dtype, tg_tensor_dtype(want));
    ck_assert(tg_shape_equal(&e.shape, tg_tensor_shape(want)));
    ck_assert_uint_eq(e.nbytes, tg_tensor_nbytes(want));
    /* our files keep every tensor aligned to its element size */
    ck_assert_uint_eq((uintptr_t)e.data % tg_dtype_size(e.dtype), 0);
    ck_assert_int_eq(memcmp(e.data, tg_tensor_data(want), e.nbytes), 0);

    tg_tensor *loaded = tg_st_load(f, name, TG_STEP);
    ck_assert_msg(loaded != NULL, "%s", tg_last_error());
    ck_assert(tg_shape_equal(tg_tensor_shape(loaded), tg_tensor_shape(want)));
    ck_assert_int_eq(memcmp(tg_tensor_data(loaded), tg_tensor_data(want), e.nbytes), 0);

    tg_tensor *dst = tg_tensor_new(TG_STEP, *tg_tensor_shape(want), tg_tensor_dtype(want));
    ck_assert_int_eq(tg_st_copy_into(f, name, dst), TG_OK);
    ck_assert_int_eq(memcmp(tg_tensor_data(dst), tg_tensor_data(want), e.nbytes), 0);
}

START_TEST(test_round_trip)
{
    float special[] = {NAN, -0.0f, INFINITY, -INFINITY, 1e-45f, 3.4028235e38f};
    int32_t ints[] = {INT32_MIN, -1, 0, 1, INT32_MAX, 42, 7};
    const char *names[] = {"blocks.0.ln.bias",
                           "blocks.0.attn.qkv.weight",
                           "special",
                           "rng.state",
                           "loss_scale",
                           "empty",
                           "blocks.10.mlp.fc.weight",
                           "data.cursor"};
    tg_tensor *ts[] = {
        tg_tensor_to(TG_STEP, tg_randn(TG_STEP, TG_SHAPE(7), TG_F32, 1, 0, 1), TG_BF16),
        tg_randn(TG_STEP, TG_SHAPE(3, 5), TG_F32, 2, 0, 1),
        tg_from_buffer(TG_STEP, TG_SHAPE(2, 3), TG_F32, special),
        tg_from_buffer(TG_STEP, TG_SHAPE(7), TG_S32, ints),
        tg_full(TG_STEP, TG_SCALAR_SHAPE, TG_F32, 65536.0),
        tg_zeros(TG_STEP, TG_SHAPE(0, 4), TG_F32),
        tg_tensor_to(TG_STEP, tg_randn(TG_STEP, TG_SHAPE(2, 3, 1), TG_F32, 3, 0, 1), TG_BF16),
        tg_full(TG_STEP, TG_SHAPE(1), TG_S32, 12345),
    };
    int n = (int)(sizeof ts / sizeof ts[0]);
    tg_st_writer *w = tg_st_writer_new();
    for (int i = 0; i < n; i++) ck_assert_int_eq(tg_st_writer_add(w, names[i], ts[i]), TG_OK);
    ck_assert_int_eq(tg_st_writer_set_meta(w, "format", "pt"), TG_OK);
    ck_assert_int_eq(tg_st_writer_set_meta(w, "step", "1"), TG_OK);
    ck_assert_int_eq(tg_st_writer_set_meta(w, "step", "1234"), TG_OK); /* replaces */
    ck_assert_int_eq(tg_st_writer_set_meta(w, "note", "caf\xc3\xa9 \"quoted\""), TG_OK);
    const char *path = tg_test_path("ckpt.safetensors");
    ck_assert_msg(tg_st_writer_save(w, path) == TG_OK, "%s", tg_last_error());
    /* saving again replaces the file in place */
    ck_assert_msg(tg_st_writer_save(w, path) == TG_OK, "%s", tg_last_error());
    tg_st_writer_free(w);
    ck_assert_int_eq(count_files(".tmp."), 0);

    size_t len;
    unsigned char *raw = tg_test_read_file(path, &len);
    uint64_t hsize = 0;
    for (int i = 0; i < 8; i++) hsize |= (uint64_t)raw[i] << (8 * i);
    ck_assert_uint_eq((8 + hsize) % 8, 0);
    ck_assert_uint_eq(raw[8], '{');
    free(raw);

    tg_st_file *f = tg_st_open(path);
    ck_assert_msg(f != NULL, "%s", tg_last_error());
    ck_assert_str_eq(tg_st_path(f), path);
    ck_assert_int_eq(tg_st_count(f), n);
    for (int i = 0; i < n; i++) assert_same(f, names[i], ts[i]);
    /* data order: 4-byte dtypes in insertion order, then the bf16 ones */
    const char *order[] = {
        "blocks.0.attn.qkv.weight", "special", "rng.state", "loss_scale", "empty", "data.cursor", "blocks.0.ln.bias",
        "blocks.10.mlp.fc.weight"};
    for (int i = 0; i < n; i++) ck_assert_str_eq(tg_st_name(f, i), order[i]);
    ck_assert_ptr_null(tg_st_name(f, n));
    ck_assert(tg_st_has(f, "rng.state"));
    ck_assert(!tg_st_has(f, "rng"));
    ck_assert_int_eq(tg_st_meta_count(f), 3);
    ck_assert_str_eq(tg_st_meta_key(f, 0), "format");
    ck_assert_str_eq(tg_st_meta(f, "step"), "1234");
    ck_assert_str_eq(tg_st_meta(f, "note"), "caf\xc3\xa9 \"quoted\"");
    ck_assert_ptr_null(tg_st_meta(f, "missing"));
    tg_st_close(f);
}
END_TEST

START_TEST(test_empty_file_round_trip)
{
    tg_st_writer *w = tg_st_writer_new();
    const char *path = tg_test_path("empty.safetensors");
    ck_assert_int_eq(tg_st_writer_save(w, path), TG_OK);
    tg_st_writer_free(w);
    tg_st_file *f = tg_st_open(path);
    ck_assert_msg(f != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_st_count(f), 0);
    ck_assert_int_eq(tg_st_meta_count(f), 0);
    tg_st_close(f);
}
END_TEST

START_TEST(test_writer_errors)
{
    tg_st_writer *w = tg_st_writer_new();
    tg_tensor *t = tg_zeros(TG_STEP, TG_SHAPE(2), TG_F32);
    ck_assert_int_eq(tg_st_writer_add(w, "a.b", t), TG_OK);
    tg_assert_error(tg_st_writer_add(w, "a.b", t), TG_ERR_INVALID, "duplicate tensor name 'a.b'");
    tg_assert_error(tg_st_writer_add(w, "__metadata__", t), TG_ERR_INVALID, "invalid tensor name '__metadata__'");
    tg_assert_error(tg_st_writer_add(w, "", t), TG_ERR_INVALID, "invalid tensor name ''");
    tg_assert_error(tg_st_writer_add(w, "bad\xff", t), TG_ERR_INVALID, "not UTF-8");
    tg_assert_error(tg_st_writer_set_meta(w, "k", "\xc3"), TG_ERR_INVALID, "value of 'k' is not UTF-8");
    /* a NULL from a failed call keeps that call's message */
    tg_tensor *bad = tg_tensor_new(TG_STEP, TG_SHAPE(2, -1), TG_F32);
    tg_assert_error(tg_st_writer_add(w, "w", bad), TG_ERR_INVALID, "dim 1 is negative");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "tensor 'w' is NULL"));
    tg_st_writer_free(w);
}
END_TEST

/* ---- atomic saves ---- */

START_TEST(test_atomic_save)
{
    const char *path = tg_test_path("ckpt.safetensors");
    tg_tensor *a = tg_randn(TG_STEP, TG_SHAPE(4, 4), TG_F32, 5, 0, 1);
    tg_st_writer *wa = tg_st_writer_new();
    tg_st_writer_add(wa, "w", a);
    ck_assert_int_eq(tg_st_writer_save(wa, path), TG_OK);
    tg_st_writer_free(wa);
    size_t len_a;
    unsigned char *bytes_a = tg_test_read_file(path, &len_a);

    tg_tensor *b = tg_randn(TG_STEP, TG_SHAPE(64, 64), TG_F32, 6, 0, 1);
    tg_st_writer *wb = tg_st_writer_new();
    tg_st_writer_add(wb, "w", b);
    tg_st_writer_set_meta(wb, "step", "2");

    /* the disk fills up inside the header, then inside the data */
    size_t limits[] = {3, 40, 5000};
    for (int i = 0; i < 3; i++) {
        tg_test_fail_writes_after(limits[i]);
        tg_status st = tg_st_writer_save(wb, path);
        tg_st_set_write_hook(NULL);
        tg_assert_error(st, TG_ERR_IO, path);
        ck_assert_ptr_nonnull(strstr(tg_last_error(), "No space left on device"));
        tg_assert_file_bytes(path, bytes_a, len_a);
        ck_assert_int_eq(count_files(".tmp."), 0);
    }

    /* a directory that does not exist */
    const char *nodir = tg_test_path("missing/ckpt.safetensors");
    tg_assert_error(tg_st_writer_save(wb, nodir), TG_ERR_IO, nodir);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "No such file or directory"));

    /* the rename fails: the target is a directory */
    const char *isdir = tg_test_path("isdir");
    ck_assert_int_eq(mkdir(isdir, 0755), 0);
    tg_assert_error(tg_st_writer_save(wb, isdir), TG_ERR_IO, "cannot rename");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "Is a directory"));
    ck_assert_int_eq(count_files(".tmp."), 0);

    /* and the same writer still saves fine afterwards */
    ck_assert_int_eq(tg_st_writer_save(wb, path), TG_OK);
    tg_st_file *f = tg_st_open(path);
    ck_assert_ptr_nonnull(f);
    assert_same(f, "w", b);
    ck_assert_str_eq(tg_st_meta(f, "step"), "2");
    tg_st_close(f);
    tg_st_writer_free(wb);
    free(bytes_a);
}
END_TEST

/* ---- corrupt files ---- */

#define GOOD_HDR "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}"
#define T(name, dt, shape, b, e)                                                                                       \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

typedef struct bad_case {
    const char *what;
    const char *header;  /* JSON text */
    size_t data_bytes;   /* zero bytes appended after the header */
    uint64_t size_field; /* header size written in the file; 0 = real size */
    size_t keep;         /* truncate the file to this many bytes; 0 = keep all */
    const char *needle;
} bad_case;

static const bad_case bad_cases[] = {
    {"tiny file", GOOD_HDR, 24, 0, 5, "file is 5 bytes, shorter than the 8-byte header size"},
    {"truncated header", GOOD_HDR, 24, 0, 20, "header size 57 runs past the end of the file (20 bytes"},
    {"size past EOF", GOOD_HDR, 24, 4096, 0, "header size 4096 runs past the end of the file"},
    {"absurd size", GOOD_HDR, 24, (uint64_t)1 << 40, 0, "header size 1099511627776 is absurd"},
    {"truncated data", GOOD_HDR, 24, 0, 8 + 57 + 20,
     "tensor 'w': data_offsets [0, 24] extend past the data area (20 bytes; file truncated?)"},
    {"invalid JSON", "{\"w\": {\"dtype\": ", 0, 0, 0, "invalid JSON header at line 1"},
    {"not an object", "[1, 2, 3]", 0, 0, 0, "header is not a JSON object"},
    {"entry not object", "{\"w\": 3}", 0, 0, 0, "tensor 'w': entry is not an object"},
    {"no dtype", "{\"w\": {\"shape\": [], \"data_offsets\": [0, 4]}}", 4, 0, 0,
     "tensor 'w': dtype missing or not a string"},
    {"unknown dtype", "{" T("blocks.0.w", "F33", "[2,3]", 0, 24) "}", 24, 0, 0,
     "tensor 'blocks.0.w' has unknown dtype 'F33'"},
    {"shape not array", "{" T("w", "F32", "6", 0, 24) "}", 24, 0, 0,
     "tensor 'w': shape must be an array of non-negative integers"},
    {"negative dim", "{" T("w", "F32", "[2,-3]", 0, 24) "}", 24, 0, 0,
     "tensor 'w': shape must be an array of non-negative integers"},
    {"fractional dim", "{" T("w", "F32", "[2,3.0]", 0, 24) "}", 24, 0, 0,
     "tensor 'w': shape must be an array of non-negative integers"},
    {"rank 9", "{" T("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, 0, 0,
     "tensor 'w': shape has rank 9, more than 8"},
    {"one offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, 0, 0,
     "tensor 'w': data_offsets must be two integers [begin, end]"},
    {"begin after end", "{" T("w", "F32", "[0]", 8, 4) "}", 8, 0, 0,
     "tensor 'w': data_offsets must be two integers [begin, end] with 0 <= begin <= end"},
    {"size mismatch", "{" T("w", "F32", "[2,3]", 0, 20) "}", 20, 0, 0,
     "tensor 'w': data_offsets [0, 20] hold 20 bytes but shape (2, 3) of F32 needs 24"},
    {"outside data", "{" T("a", "F32", "[2]", 0, 8) "," T("b", "I32", "[4]", 8, 24) "}", 16, 0, 0,
     "tensor 'b': data_offsets [8, 24] extend past the data area (16 bytes"},
    {"overlap", "{" T("a", "F32", "[4]", 0, 16) "," T("b", "BF16", "[4]", 8, 16) "}", 16, 0, 0,
     "tensors 'a' [0, 16] and 'b' [8, 16] overlap"},
    {"hole", "{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12, 0, 0,
     "data bytes [4, 8) before tensor 'b' belong to no tensor"},
    {"trailing bytes", GOOD_HDR, 32, 0, 0, "data area has 8 bytes after the last tensor"},
    {"duplicate name", "{" T("w", "F32", "[1]", 0, 4) "," T("w", "F32", "[1]", 4, 8) "}", 8, 0, 0,
     "duplicate tensor name in header"},
    {"metadata not object", "{\"__metadata__\": [\"a\"]}", 0, 0, 0, "'__metadata__' is not an object"},
    {"metadata not string", "{\"__metadata__\": {\"format\": \"pt\", \"step\": 5}}", 0, 0, 0,
     "metadata 'step' is not a string"},
};

static void write_raw(const char *path, const bad_case *c)
{
    size_t hlen = strlen(c->header);
    uint64_t size_field = c->size_field ? c->size_field : hlen;
    size_t total = 8 + hlen + c->data_bytes;
    unsigned char *buf = calloc(1, total);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(size_field >> (8 * i));
    memcpy(buf + 8, c->header, hlen);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, c->keep ? c->keep : total, f), c->keep ? c->keep : total);
    fclose(f);
    free(buf);
}

START_TEST(test_corrupt_files)
{
    const bad_case *c = &bad_cases[_i];
    const char *path = tg_test_path("bad.safetensors");
    write_raw(path, c);
    tg_clear_error();
    tg_st_file *f = tg_st_open(path);
    ck_assert_msg(f == NULL, "%s: corrupt file was accepted", c->what);
    ck_assert_msg(strstr(tg_last_error(), c->needle) != NULL, "%s: message '%s' lacks '%s'", c->what, tg_last_error(),
                  c->needle);
    ck_assert_msg(strstr(tg_last_error(), path) != NULL, "%s: message '%s' lacks the path", c->what, tg_last_error());
}
END_TEST

START_TEST(test_missing_file)
{
    const char *path = tg_test_path("nope.safetensors");
    ck_assert_ptr_null(tg_st_open(path));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), path));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "cannot open"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "No such file or directory"));
}
END_TEST

/* ---- loading into a model ---- */

START_TEST(test_copy_into_model_errors)
{
    const char *path = tg_test_path("ckpt.safetensors");
    tg_st_writer *w = tg_st_writer_new();
    tg_st_writer_add(w, "blocks.0.attn.qkv.weight", tg_zeros(TG_STEP, TG_SHAPE(96, 32), TG_F32));
    tg_st_writer_add(w, "tokens", tg_zeros(TG_STEP, TG_SHAPE(3), TG_S32));
    ck_assert_int_eq(tg_st_writer_save(w, path), TG_OK);
    tg_st_writer_free(w);
    tg_st_file *f = tg_st_open(path);
    ck_assert_ptr_nonnull(f);

    tg_tensor *qkv = tg_full(TG_STEP, TG_SHAPE(48, 32), TG_F32, 7.0);
    tg_assert_error(tg_st_copy_into(f, "blocks.0.attn.qkv.weight", qkv), TG_ERR_SHAPE,
                    "ckpt.safetensors: tensor 'blocks.0.attn.qkv.weight' has shape (96, 32), "
                    "model expects (48, 32)");
    ck_assert_float_eq(tg_f32(qkv)[0], 7.0f); /* untouched */
    tg_tensor *half = tg_zeros(TG_STEP, TG_SHAPE(96, 32), TG_BF16);
    tg_assert_error(tg_st_copy_into(f, "blocks.0.attn.qkv.weight", half), TG_ERR_DTYPE,
                    "tensor 'blocks.0.attn.qkv.weight' has dtype F32, model expects BF16");
    tg_tensor *tok = tg_zeros(TG_STEP, TG_SHAPE(3), TG_F32);
    tg_assert_error(tg_st_copy_into(f, "tokens", tok), TG_ERR_DTYPE, "has dtype I32, model expects F32");

    tg_assert_error(tg_st_copy_into(f, "blocks.1.mlp.weight", qkv), TG_ERR_INVALID,
                    "ckpt.safetensors: no tensor 'blocks.1.mlp.weight' in the file");
    ck_assert_ptr_null(tg_st_load(f, "blocks.1.mlp.weight", TG_STEP));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "tg_st_load"));
    tg_st_entry e;
    tg_assert_error(tg_st_find(f, "nope", &e), TG_ERR_INVALID, "no tensor 'nope'");
    tg_st_close(f);
}
END_TEST

/* ---- interop with PyTorch ---- */

START_TEST(test_torch_file)
{
    char path[1024];
    const char *root = getenv("TG_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/torch_small.safetensors", root ? root : ".");
    tg_st_file *f = tg_st_open(path);
    ck_assert_msg(f != NULL, "%s", tg_last_error());
    json_t *ref = tg_fixture_load("safetensors");
    json_t *tensors = json_object_get(ref, "tensors");
    ck_assert_int_eq(tg_st_count(f), (int)json_object_size(tensors));

    const char *name;
    json_t *want;
    json_object_foreach(tensors, name, want)
    {
        const char *dt = json_string_value(json_object_get(want, "dtype"));
        json_t *shape = json_object_get(want, "shape"), *data = json_object_get(want, "data");
        tg_st_entry e;
        ck_assert_msg(tg_st_find(f, name, &e) == TG_OK, "%s", tg_last_error());
        ck_assert_int_eq(e.shape.ndim, (int)json_array_size(shape));
        for (int d = 0; d < e.shape.ndim; d++)
            ck_assert_int_eq(e.shape.dims[d], json_integer_value(json_array_get(shape, (size_t)d)));
        if (!strcmp(dt, "s64")) { /* a dtype tensorgrad lists but cannot load */
            ck_assert(!e.supported);
            ck_assert_str_eq(e.dtype_name, "I64");
            int64_t v;
            memcpy(&v, e.data, 8);
            ck_assert_int_eq(v, json_integer_value(json_array_get(data, 0)));
            ck_assert_ptr_null(tg_st_load(f, name, TG_STEP));
            ck_assert_ptr_nonnull(strstr(tg_last_error(), "has dtype I64, which tensorgrad cannot load"));
            continue;
        }
        tg_tensor *t = tg_st_load(f, name, TG_STEP);
        ck_assert_msg(t != NULL, "%s", tg_last_error());
        tg_dtype want_dt = !strcmp(dt, "bf16") ? TG_BF16 : !strcmp(dt, "s32") ? TG_S32 : TG_F32;
        ck_assert_int_eq(tg_tensor_dtype(t), want_dt);
        ck_assert_int_eq(tg_tensor_numel(t), (int64_t)json_array_size(data));
        /* exact: f32 and bf16 values are exactly representable as doubles */
        for (int64_t i = 0; i < tg_tensor_numel(t); i++)
            ck_assert_msg(tg_tensor_get(t, i) == json_number_value(json_array_get(data, (size_t)i)), "%s[%lld] = %.9g",
                          name, (long long)i, tg_tensor_get(t, i));
    }
    json_t *meta = json_object_get(ref, "metadata");
    ck_assert_int_eq(tg_st_meta_count(f), (int)json_object_size(meta));
    json_object_foreach(meta, name, want) ck_assert_str_eq(tg_st_meta(f, name), json_string_value(want));
    json_decref(ref);
    tg_st_close(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tg_test_scratch_setup, tg_test_scratch_teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_empty_file_round_trip);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_atomic_save);
    tcase_add_loop_test(tc, test_corrupt_files, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_copy_into_model_errors);
    tcase_add_test(tc, test_torch_file);
    suite_add_tcase(s, tc);
    return tg_run_suite(s) ? 1 : 0;
}
