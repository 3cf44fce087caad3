/* safetensors reading and atomic writing; format notes in safetensors.h. */
#include "tensor/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Data is written and read as raw host bytes; the format is little-endian. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_META_KEY "__metadata__"

/* ---- dtypes ---- */

typedef struct st_dtype {
    const char *name;
    size_t size;
    int tg; /* tg_dtype, or -1 when tensorgrad has no such dtype */
} st_dtype;

/* Every dtype of the safetensors spec, so files from other tools validate. */
static const st_dtype st_dtypes[] = {
    {"F32", 4, TG_F32}, {"BF16", 2, TG_BF16}, {"I32", 4, TG_S32}, {"F64", 8, -1},     {"F16", 2, -1},
    {"I64", 8, -1},     {"I16", 2, -1},       {"I8", 1, -1},      {"U64", 8, -1},     {"U32", 4, -1},
    {"U16", 2, -1},     {"U8", 1, -1},        {"BOOL", 1, -1},    {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1},
};

static const st_dtype *st_dtype_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(st_dtypes[i].name, name)) return &st_dtypes[i];
    return NULL;
}

static const char *st_dtype_of(tg_dtype dt)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].tg == (int)dt) return st_dtypes[i].name;
    return NULL;
}

/* ---- writer ---- */

typedef struct st_item {
    char *name;
    const tg_tensor *t;
} st_item;

struct tg_st_writer {
    st_item *items;
    int n, cap;
    json_t *meta; /* object of strings */
};

static size_t st_fwrite(const void *ptr, size_t size, size_t n, FILE *f) { return fwrite(ptr, size, n, f); }

static tg_st_write_fn st_write = st_fwrite;

void tg_st_set_write_hook(tg_st_write_fn fn) { st_write = fn ? fn : st_fwrite; }

tg_st_writer *tg_st_writer_new(void)
{
    tg_st_writer *w = calloc(1, sizeof *w);
    if (w) w->meta = json_object();
    if (!w || !w->meta) {
        free(w);
        tg_error(TG_ERR_OOM, "tg_st_writer_new: out of memory");
        return NULL;
    }
    return w;
}

void tg_st_writer_free(tg_st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->items[i].name);
    free(w->items);
    json_decref(w->meta);
    free(w);
}

/* True when `s` can be a JSON string (valid UTF-8). */
static bool st_utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

tg_status tg_st_writer_add(tg_st_writer *w, const char *name, const tg_tensor *t)
{
    if (!w || !name) return tg_error(TG_ERR_INVALID, "tg_st_writer_add: NULL writer or name");
    if (!t) {
        /* keep the message of the call that produced the NULL */
        char prev[512];
        snprintf(prev, sizeof prev, "%s", tg_last_error());
        return tg_error(TG_ERR_INVALID, "tg_st_writer_add: tensor '%s' is NULL (%s)", name, prev);
    }
    if (!name[0] || !strcmp(name, ST_META_KEY) || !st_utf8_ok(name))
        return tg_error(TG_ERR_INVALID, "tg_st_writer_add: invalid tensor name '%s' (empty, reserved or not UTF-8)",
                        name);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->items[i].name, name))
            return tg_error(TG_ERR_INVALID, "tg_st_writer_add: duplicate tensor name '%s'", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_item *items = realloc(w->items, (size_t)cap * sizeof *items);
        if (!items) return tg_error(TG_ERR_OOM, "tg_st_writer_add: out of memory");
        w->items = items;
        w->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return tg_error(TG_ERR_OOM, "tg_st_writer_add: out of memory");
    w->items[w->n++] = (st_item){copy, t};
    return TG_OK;
}

tg_status tg_st_writer_set_meta(tg_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) return tg_error(TG_ERR_INVALID, "tg_st_writer_set_meta: NULL writer, key or value");
    json_t *v = json_string(value);
    if (!v) return tg_error(TG_ERR_INVALID, "tg_st_writer_set_meta: value of '%s' is not UTF-8", key);
    if (json_object_set_new(w->meta, key, v))
        return tg_error(TG_ERR_INVALID, "tg_st_writer_set_meta: key '%s' is not UTF-8", key);
    return TG_OK;
}

/* Indices of the items, larger elements first (stable), so the data of each
 * tensor lands on a multiple of its element size. */
static void st_write_order(const tg_st_writer *w, int *order)
{
    int k = 0;
    for (size_t sz = 8; sz >= 1; sz /= 2)
        for (int i = 0; i < w->n; i++)
            if (tg_dtype_size(tg_tensor_dtype(w->items[i].t)) == sz) order[k++] = i;
    TG_ASSERT(k == w->n, "every tensor dtype size is 1, 2, 4 or 8");
}

/* JSON header text, padded with spaces so 8 + length is a multiple of 8.
 * Caller frees. */
static tg_status st_build_header(const tg_st_writer *w, const int *order, char **out, size_t *len)
{
    json_t *root = json_object();
    if (!root) return tg_error(TG_ERR_OOM, "tg_st_writer_save: out of memory");
    if (json_object_size(w->meta)) json_object_set(root, ST_META_KEY, w->meta);
    uint64_t off = 0;
    for (int k = 0; k < w->n; k++) {
        const st_item *it = &w->items[order[k]];
        const tg_shape *s = tg_tensor_shape(it->t);
        json_t *shape = json_array();
        for (int d = 0; d < s->ndim; d++) json_array_append_new(shape, json_integer(s->dims[d]));
        uint64_t end = off + tg_tensor_nbytes(it->t);
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", st_dtype_of(tg_tensor_dtype(it->t)), "shape", shape,
                              "data_offsets", (json_int_t)off, (json_int_t)end);
        if (!e || json_object_set_new(root, it->name, e)) {
            json_decref(root);
            return tg_error(TG_ERR_OOM, "tg_st_writer_save: out of memory building the header");
        }
        off = end;
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) return tg_error(TG_ERR_OOM, "tg_st_writer_save: out of memory building the header");
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    char *buf = realloc(text, padded + 1);
    if (!buf) {
        free(text);
        return tg_error(TG_ERR_OOM, "tg_st_writer_save: out of memory building the header");
    }
    memset(buf + n, ' ', padded - n);
    buf[padded] = '\0';
    *out = buf;
    *len = padded;
    return TG_OK;
}

/* Writes all n bytes through the (possibly hooked) writer; false on error. */
static bool st_put(FILE *f, const void *p, size_t n)
{
    if (n == 0) return true;
    errno = 0;
    return st_write(p, 1, n, f) == n;
}

static tg_status st_io_error(const char *what, const char *path, const char *tmp)
{
    const char *why = errno ? strerror(errno) : "short write";
    return tg_error(TG_ERR_IO, "tg_st_writer_save: %s '%s' (temp file '%s'): %s", what, path, tmp, why);
}

/* fsync of the directory holding `path`, so the rename itself is durable. */
static int st_sync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* some file systems cannot sync directories; the rename is done anyway */
    if (rc && errno == EINVAL) rc = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

tg_status tg_st_writer_save(const tg_st_writer *w, const char *path)
{
    if (!w || !path) return tg_error(TG_ERR_INVALID, "tg_st_writer_save: NULL writer or path");
    int *order = malloc(((size_t)w->n + 1) * sizeof *order);
    if (!order) return tg_error(TG_ERR_OOM, "tg_st_writer_save: out of memory");
    st_write_order(w, order);
    char *header = NULL;
    size_t hlen = 0;
    tg_status st = st_build_header(w, order, &header, &hlen);
    if (st != TG_OK) {
        free(order);
        return st;
    }

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = tg_error(TG_ERR_IO, "tg_st_writer_save: cannot create '%s' for '%s': %s", tmp, path, strerror(errno));
        goto done;
    }
    unsigned char size_le[8];
    for (int i = 0; i < 8; i++) size_le[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    bool ok = st_put(f, size_le, 8) && st_put(f, header, hlen);
    for (int k = 0; ok && k < w->n; k++) {
        const tg_tensor *t = w->items[order[k]].t;
        ok = st_put(f, tg_tensor_data(t), tg_tensor_nbytes(t));
    }
    if (!ok) {
        st = st_io_error("writing", path, tmp);
        goto fail;
    }
    if (fflush(f) || fsync(fileno(f))) {
        st = st_io_error("flushing", path, tmp);
        goto fail;
    }
    int rc = fclose(f);
    f = NULL;
    if (rc) {
        st = st_io_error("closing", path, tmp);
        goto fail;
    }
    if (rename(tmp, path)) {
        st = tg_error(TG_ERR_IO, "tg_st_writer_save: cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto fail;
    }
    if (st_sync_dir(path))
        st = tg_error(TG_ERR_IO, "tg_st_writer_save: wrote '%s' but cannot sync its directory: %s", path,
                      strerror(errno));
    goto done;
fail:
    if (f) fclose(f);
    unlink(tmp);
done:
    free(header);
    free(order);
    return st;
}

/* ---- reader ---- */

typedef struct st_tensor {
    tg_st_entry e;
    uint64_t begin, end;
} st_tensor;

struct tg_st_file {
    char *path;
    unsigned char *buf; /* the whole file */
    size_t size;
    json_t *root;       /* parsed header; names and metadata point into it */
    st_tensor *tensors; /* sorted by data offset */
    int n;
    json_t *meta; /* borrowed from root, may be NULL */
    const char **meta_keys;
    int n_meta;
};

/* Records "tg_st_open: <path>: <message>" as a format error. */
static tg_status st_bad(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static tg_status st_bad(const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error(TG_ERR_FORMAT, "tg_st_open: %s: %s", path, msg);
}

static tg_status st_read_file(tg_st_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return tg_error(TG_ERR_IO, "tg_st_open: cannot open '%s': %s", f->path, strerror(errno));
    struct stat sb;
    tg_status st = TG_OK;
    if (fstat(fileno(fp), &sb) || !S_ISREG(sb.st_mode)) {
        st = tg_error(TG_ERR_IO, "tg_st_open: '%s' is not a readable regular file", f->path);
        goto done;
    }
    f->size = (size_t)sb.st_size;
    f->buf = malloc(f->size ? f->size : 1);
    if (!f->buf) {
        st = tg_error(TG_ERR_OOM, "tg_st_open: %s: cannot allocate %zu bytes", f->path, f->size);
        goto done;
    }
    if (fread(f->buf, 1, f->size, fp) != f->size)
        st = tg_error(TG_ERR_IO, "tg_st_open: cannot read '%s': %s", f->path,
                      ferror(fp) ? strerror(errno) : "file shrank while reading");
done:
    fclose(fp);
    return st;
}

static tg_status st_parse_meta(tg_st_file *f, json_t *meta)
{
    if (!json_is_object(meta)) return st_bad(f->path, "'%s' is not an object", ST_META_KEY);
    f->meta = meta;
    f->meta_keys = malloc((json_object_size(meta) + 1) * sizeof *f->meta_keys);
    if (!f->meta_keys) return tg_error(TG_ERR_OOM, "tg_st_open: out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v)
    {
        if (!json_is_string(v)) return st_bad(f->path, "metadata '%s' is not a string", key);
        f->meta_keys[f->n_meta++] = key;
    }
    return TG_OK;
}

/* Validates one tensor entry of the header; data_size bounds its offsets. */
static tg_status st_parse_tensor(const tg_st_file *f, const char *name, json_t *j, uint64_t data_size, st_tensor *out)
{
    const char *p = f->path;
    if (!json_is_object(j)) return st_bad(p, "tensor '%s': entry is not an object", name);
    json_t *jdt = json_object_get(j, "dtype");
    if (!json_is_string(jdt)) return st_bad(p, "tensor '%s': dtype missing or not a string", name);
    const st_dtype *dt = st_dtype_by_name(json_string_value(jdt));
    if (!dt) return st_bad(p, "tensor '%s' has unknown dtype '%s'", name, json_string_value(jdt));

    json_t *jshape = json_object_get(j, "shape");
    if (!json_is_array(jshape)) return st_bad(p, "tensor '%s': shape must be an array of non-negative integers", name);
    if (json_array_size(jshape) > TG_MAX_DIMS)
        return st_bad(p, "tensor '%s': shape has rank %zu, more than %d", name, json_array_size(jshape), TG_MAX_DIMS);
    tg_shape shape = {.ndim = (int)json_array_size(jshape)};
    uint64_t nbytes = dt->size;
    for (int d = 0; d < shape.ndim; d++) {
        json_t *v = json_array_get(jshape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return st_bad(p, "tensor '%s': shape must be an array of non-negative integers", name);
        shape.dims[d] = json_integer_value(v);
        if (__builtin_mul_overflow(nbytes, (uint64_t)shape.dims[d], &nbytes))
            return st_bad(p, "tensor '%s': shape overflows 64-bit sizes", name);
    }

    json_t *jo = json_object_get(j, "data_offsets");
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(jb) || !json_is_integer(je) ||
        json_integer_value(jb) < 0 || json_integer_value(jb) > json_integer_value(je))
        return st_bad(p,
                      "tensor '%s': data_offsets must be two integers [begin, end] with "
                      "0 <= begin <= end",
                      name);
    uint64_t begin = (uint64_t)json_integer_value(jb), end = (uint64_t)json_integer_value(je);
    char sbuf[160];
    if (end - begin != nbytes)
        return st_bad(p,
                      "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape %s "
                      "of %s needs %llu",
                      name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)(end - begin),
                      tg_shape_str(&shape, sbuf, sizeof sbuf), dt->name, (unsigned long long)nbytes);
    if (end > data_size)
        return st_bad(p,
                      "tensor '%s': data_offsets [%llu, %llu] extend past the data area "
                      "(%llu bytes; file truncated?)",
                      name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    out->e = (tg_st_entry){.name = name,
                           .dtype_name = dt->name,
                           .supported = dt->tg >= 0,
                           .dtype = dt->tg >= 0 ? (tg_dtype)dt->tg : TG_F32,
                           .shape = shape,
                           .nbytes = (size_t)nbytes};
    out->begin = begin;
    out->end = end;
    return TG_OK;
}

static int st_cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->e.name, y->e.name);
}

/* Tensors must tile the data area exactly: no overlaps, holes or tail. */
static tg_status st_check_layout(const tg_st_file *f, uint64_t data_size)
{
    uint64_t pos = 0;
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->begin < pos) {
            const st_tensor *prev = &f->tensors[i - 1];
            return st_bad(f->path, "tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", prev->e.name,
                          (unsigned long long)prev->begin, (unsigned long long)prev->end, t->e.name,
                          (unsigned long long)t->begin, (unsigned long long)t->end);
        }
        if (t->begin > pos)
            return st_bad(f->path, "data bytes [%llu, %llu) before tensor '%s' belong to no tensor",
                          (unsigned long long)pos, (unsigned long long)t->begin, t->e.name);
        pos = t->end;
    }
    if (pos != data_size)
        return st_bad(f->path, "data area has %llu bytes after the last tensor", (unsigned long long)(data_size - pos));
    return TG_OK;
}

static tg_status st_parse(tg_st_file *f)
{
    if (f->size < 8) return st_bad(f->path, "file is %zu bytes, shorter than the 8-byte header size", f->size);
    uint64_t hsize = 0;
    for (int i = 0; i < 8; i++) hsize |= (uint64_t)f->buf[i] << (8 * i);
    if (hsize > TG_ST_MAX_HEADER)
        return st_bad(f->path, "header size %llu is absurd (limit %u bytes)", (unsigned long long)hsize,
                      TG_ST_MAX_HEADER);
    if (hsize > f->size - 8)
        return st_bad(f->path,
                      "header size %llu runs past the end of the file (%zu bytes; "
                      "truncated header?)",
                      (unsigned long long)hsize, f->size);
    json_error_t err;
    f->root = json_loadb((const char *)f->buf + 8, (size_t)hsize, JSON_REJECT_DUPLICATES, &err);
    if (!f->root) {
        if (json_error_code(&err) == json_error_duplicate_key)
            return st_bad(f->path, "duplicate tensor name in header: %s", err.text);
        return st_bad(f->path, "invalid JSON header at line %d column %d: %s", err.line, err.column, err.text);
    }
    if (!json_is_object(f->root)) return st_bad(f->path, "header is not a JSON object");

    uint64_t data_size = f->size - 8 - hsize;
    f->tensors = calloc(json_object_size(f->root) + 1, sizeof *f->tensors);
    if (!f->tensors) return tg_error(TG_ERR_OOM, "tg_st_open: out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(f->root, key, v)
    {
        if (!strcmp(key, ST_META_KEY))
            TG_TRY(st_parse_meta(f, v));
        else
            TG_TRY(st_parse_tensor(f, key, v, data_size, &f->tensors[f->n++]));
    }
    qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, st_cmp_offset);
    TG_TRY(st_check_layout(f, data_size));
    const unsigned char *data = f->buf + 8 + hsize;
    for (int i = 0; i < f->n; i++) f->tensors[i].e.data = data + f->tensors[i].begin;
    return TG_OK;
}

tg_st_file *tg_st_open(const char *path)
{
    if (!path) {
        tg_error(TG_ERR_INVALID, "tg_st_open: NULL path");
        return NULL;
    }
    tg_st_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(path);
    if (!f || !f->path) {
        free(f);
        tg_error(TG_ERR_OOM, "tg_st_open: out of memory");
        return NULL;
    }
    if (st_read_file(f) != TG_OK || st_parse(f) != TG_OK) {
        tg_st_close(f);
        return NULL;
    }
    return f;
}

void tg_st_close(tg_st_file *f)
{
    if (!f) return;
    free(f->meta_keys);
    free(f->tensors);
    json_decref(f->root);
    free(f->buf);
    free(f->path);
    free(f);
}

const char *tg_st_path(const tg_st_file *f) { return f ? f->path : NULL; }

int tg_st_count(const tg_st_file *f) { return f ? f->n : 0; }

const char *tg_st_name(const tg_st_file *f, int i) { return f && i >= 0 && i < f->n ? f->tensors[i].e.name : NULL; }

static const st_tensor *st_lookup(const tg_st_file *f, const char *name)
{
    for (int i = 0; f && name && i < f->n; i++)
        if (!strcmp(f->tensors[i].e.name, name)) return &f->tensors[i];
    return NULL;
}

bool tg_st_has(const tg_st_file *f, const char *name) { return st_lookup(f, name) != NULL; }

/* The tensor called `name`, or NULL with "<fn>: <path>: no tensor '<name>'". */
static const st_tensor *st_need(const tg_st_file *f, const char *name, const char *fn)
{
    const st_tensor *t = st_lookup(f, name);
    if (!t)
        tg_error(TG_ERR_INVALID, "%s: %s: no tensor '%s' in the file", fn, f ? f->path : "(NULL file)",
                 name ? name : "(NULL)");
    return t;
}

tg_status tg_st_find(const tg_st_file *f, const char *name, tg_st_entry *out)
{
    const st_tensor *t = st_need(f, name, "tg_st_find");
    if (!t) return TG_ERR_INVALID;
    *out = t->e;
    return TG_OK;
}

static tg_status st_check_supported(const tg_st_file *f, const st_tensor *t, const char *fn)
{
    if (t->e.supported) return TG_OK;
    return tg_error(TG_ERR_DTYPE,
                    "%s: %s: tensor '%s' has dtype %s, which tensorgrad cannot "
                    "load (F32, BF16, I32 only)",
                    fn, f->path, t->e.name, t->e.dtype_name);
}

tg_status tg_st_copy_into(const tg_st_file *f, const char *name, tg_tensor *dst)
{
    const char *fn = "tg_st_copy_into";
    if (!dst) return tg_error(TG_ERR_INVALID, "%s: NULL tensor for '%s'", fn, name ? name : "");
    const st_tensor *t = st_need(f, name, fn);
    if (!t) return TG_ERR_INVALID;
    TG_TRY(st_check_supported(f, t, fn));
    if (t->e.dtype != tg_tensor_dtype(dst))
        return tg_error(TG_ERR_DTYPE, "%s: %s: tensor '%s' has dtype %s, model expects %s", fn, f->path, name,
                        t->e.dtype_name, st_dtype_of(tg_tensor_dtype(dst)));
    if (!tg_shape_equal(&t->e.shape, tg_tensor_shape(dst))) {
        char a[160], b[160];
        return tg_error(TG_ERR_SHAPE, "%s: %s: tensor '%s' has shape %s, model expects %s", fn, f->path, name,
                        tg_shape_str(&t->e.shape, a, sizeof a), tg_shape_str(tg_tensor_shape(dst), b, sizeof b));
    }
    if (t->e.nbytes) memcpy(tg_tensor_data(dst), t->e.data, t->e.nbytes);
    return TG_OK;
}

tg_tensor *tg_st_load(const tg_st_file *f, const char *name, tg_lifetime life)
{
    const st_tensor *t = st_need(f, name, "tg_st_load");
    if (!t || st_check_supported(f, t, "tg_st_load") != TG_OK) return NULL;
    tg_tensor *out = tg_tensor_empty(life, t->e.shape, t->e.dtype);
    if (out && t->e.nbytes) memcpy(tg_tensor_data(out), t->e.data, t->e.nbytes);
    return out;
}

int tg_st_meta_count(const tg_st_file *f) { return f ? f->n_meta : 0; }

const char *tg_st_meta_key(const tg_st_file *f, int i) { return f && i >= 0 && i < f->n_meta ? f->meta_keys[i] : NULL; }

const char *tg_st_meta(const tg_st_file *f, const char *key)
{
    return f && f->meta && key ? json_string_value(json_object_get(f->meta, key)) : NULL;
}
