/* safetensors files: named tensors plus string metadata, readable by
 * PyTorch/HF tooling (see scripts/load_safetensors.py).
 *
 * Layout: u64 little-endian header size N, N bytes of JSON header
 *   {"__metadata__": {"k": "v", ...},
 *    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 * padded with spaces so the data area starts 8-byte aligned, then the raw
 * little-endian tensor data (offsets are relative to the data area).
 *
 * Writing collects tensors and metadata in a tg_st_writer and saves them
 * atomically: a temp file in the target directory is written, flushed,
 * fsynced and renamed over the target, so a crash or error leaves either the
 * old file or the new one, never a mix.
 *
 * Reading loads the whole file into memory and validates every header field
 * and the data layout up front; errors (TG_ERR_IO, TG_ERR_FORMAT) name the
 * file and the offending tensor or field. tensorgrad tensors are f32, bf16
 * and s32 ("F32", "BF16", "I32"); files may hold other standard safetensors
 * dtypes (F16, I64, ...), which are validated and listed but cannot be
 * loaded into tensors (TG_ERR_DTYPE). */
#ifndef TG_SAFETENSORS_H
#define TG_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tensor/tensor.h"

/* Largest header accepted by tg_st_open (anything bigger is corruption). */
#define TG_ST_MAX_HEADER (100u * 1024u * 1024u)

/* ---- writing ---- */

typedef struct tg_st_writer tg_st_writer;

/* New empty writer; free with tg_st_writer_free. NULL + TG_ERR_OOM on failure. */
tg_st_writer *tg_st_writer_new(void);

/* Frees the writer (not the tensors added to it). Accepts NULL. */
void tg_st_writer_free(tg_st_writer *w);

/* Adds tensor `t` under `name` (copied). The tensor is borrowed: it must stay
 * alive and unchanged until tg_st_writer_save returns. TG_ERR_INVALID for a
 * NULL tensor, an empty or reserved ("__metadata__") name, or a duplicate. */
tg_status tg_st_writer_add(tg_st_writer *w, const char *name, const tg_tensor *t);

/* Sets metadata `key` to `value` (both copied; an existing key is replaced).
 * TG_ERR_INVALID for NULL strings. */
tg_status tg_st_writer_set_meta(tg_st_writer *w, const char *key, const char *value);

/* Writes everything added so far to `path` atomically (temp file
 * "<path>.tmp.<pid>", fsync, rename, fsync of the directory). Tensors are
 * stored by decreasing element size, then in the order added, so every
 * tensor's data is aligned to its element size. On failure the temp file is
 * removed, any previous file at `path` is left untouched, and TG_ERR_IO names
 * the path and the errno text. */
tg_status tg_st_writer_save(const tg_st_writer *w, const char *path);

/* Test hook: replaces the fwrite that tg_st_writer_save uses for the temp
 * file (NULL restores fwrite), so tests can simulate a disk failing midway.
 * A failing hook should set errno. Process-wide, not thread-safe. */
typedef size_t (*tg_st_write_fn)(const void *ptr, size_t size, size_t n, FILE *f);
void tg_st_set_write_hook(tg_st_write_fn fn);

/* ---- reading ---- */

typedef struct tg_st_file tg_st_file;

/* One tensor of an open file; pointers stay valid until tg_st_close. */
typedef struct tg_st_entry {
    const char *name;
    const char *dtype_name; /* as in the file: "F32", "BF16", "I64", ... */
    bool supported;         /* dtype is one of tensorgrad's (F32, BF16, I32) */
    tg_dtype dtype;         /* meaningful only when supported */
    tg_shape shape;
    const void *data; /* raw little-endian bytes; may be unaligned for
                               files from other writers: read with memcpy */
    size_t nbytes;
} tg_st_entry;

/* Reads and validates the file at `path`; close with tg_st_close. NULL with
 * TG_ERR_IO (cannot read), TG_ERR_FORMAT (malformed: the message names the
 * file and the tensor or field) or TG_ERR_OOM. */
tg_st_file *tg_st_open(const char *path);

/* Frees the file and everything borrowed from it. Accepts NULL. */
void tg_st_close(tg_st_file *f);

/* The path the file was opened from (borrowed). */
const char *tg_st_path(const tg_st_file *f);

/* Number of tensors in the file. */
int tg_st_count(const tg_st_file *f);

/* Name of tensor i (0 <= i < count) in data order, borrowed; NULL if out of range. */
const char *tg_st_name(const tg_st_file *f, int i);

/* True when the file holds a tensor called `name`. */
bool tg_st_has(const tg_st_file *f, const char *name);

/* Fills *out with the tensor called `name`. TG_ERR_INVALID naming the file
 * and tensor when it is missing. */
tg_status tg_st_find(const tg_st_file *f, const char *name, tg_st_entry *out);

/* Copies tensor `name` into `dst` (e.g. a model parameter). TG_ERR_INVALID
 * when missing, TG_ERR_DTYPE when the dtypes differ, TG_ERR_SHAPE when the
 * shapes differ ("ckpt.safetensors: tensor 'w' has shape (96, 32), model
 * expects (48, 32)"). */
tg_status tg_st_copy_into(const tg_st_file *f, const char *name, tg_tensor *dst);

/* New tensor holding a copy of tensor `name` (TG_PERSIST: caller frees).
 * NULL with TG_ERR_INVALID (missing) or TG_ERR_DTYPE (unsupported dtype). */
tg_tensor *tg_st_load(const tg_st_file *f, const char *name, tg_lifetime life);

/* Number of metadata entries. */
int tg_st_meta_count(const tg_st_file *f);

/* Key of metadata entry i (0 <= i < count), borrowed; NULL if out of range. */
const char *tg_st_meta_key(const tg_st_file *f, int i);

/* Value of metadata `key` (borrowed), or NULL when absent. */
const char *tg_st_meta(const tg_st_file *f, const char *key);

#endif
