/* Shared helpers for the Check suites: a fresh context per test, fixtures
 * produced by the scripts in tests/fixtures, closeness and gradcheck assertions. */
#ifndef TG_TEST_H
#define TG_TEST_H

#include <check.h>
#include <jansson.h>

#include "tensorgrad.h"

/* Check fixture setup/teardown: a 2-thread context with seed 1234, made
 * current; teardown destroys it. */
void tg_test_setup(void);
void tg_test_teardown(void);

/* Loads tests/fixtures/<name>.json (under $TG_SOURCE_DIR); fails the test
 * if missing. Caller releases with json_decref. */
json_t *tg_fixture_load(const char *name);

/* {"shape": [...], "dtype": "f32"|"s32" (default f32), "data": [...]} as a
 * TG_STEP tensor. */
tg_tensor *tg_fixture_tensor(const json_t *obj);

/* Fails the test unless got and want have the same shape and every element
 * satisfies |g - w| <= atol + rtol * |w|; names `what` and the first bad
 * element. */
void tg_assert_close(const tg_tensor *got, const tg_tensor *want, double atol, double rtol, const char *what);

/* Same, against a plain float array of n elements. */
void tg_assert_close_buf(const tg_tensor *got, const float *want, int64_t n, double atol, double rtol,
                         const char *what);

/* Runs tg_gradcheck and fails the test with its report on a mismatch. */
void tg_assert_gradcheck(tg_gradcheck_fn fn, tg_tensor *const *in, int n_in, void *user, const tg_gradcheck_opts *opts,
                         const char *what);

/* Fails unless st == want and tg_last_error() contains `needle`. */
void tg_assert_error(tg_status st, tg_status want, const char *needle);

/* Checked fixture: tg_test_setup plus a fresh scratch directory, removed
 * with everything in it by the teardown. */
void tg_test_scratch_setup(void);
void tg_test_scratch_teardown(void);

/* The scratch directory. */
const char *tg_test_scratch(void);

/* "<scratch dir>/<name>" (one of four rotating static buffers). */
const char *tg_test_path(const char *name);

/* Whole file as a malloc'd buffer (NUL-terminated); *len gets its size. */
unsigned char *tg_test_read_file(const char *path, size_t *len);

/* Writes len bytes to path, failing the test on error. */
void tg_test_write_file(const char *path, const unsigned char *buf, size_t len);

/* Fails the test unless the file at path holds exactly len bytes `want`. */
void tg_assert_file_bytes(const char *path, const unsigned char *want, size_t len);

/* Makes safetensors writes fail with ENOSPC once `bytes` bytes have been
 * written (a full disk); tg_st_set_write_hook(NULL) restores them. */
void tg_test_fail_writes_after(size_t bytes);

/* Runs a suite with CK_NORMAL output; returns the number of failures. */
int tg_run_suite(Suite *s);

/* ---- cases that need what a machine may lack ---- */

/* A test case (tcase_create(name)) whose tests mean something only where
 * `have` holds, decided at run time (a CPU feature probed when the suite
 * starts, never a compile-time flag). It is its own ctest entry,
 * <program>_<name>, which CMakeLists.txt finds by this call with the name
 * as a string literal on the same line. Add it to the suite as usual. */
TCase *tg_tcase_create_needing(const char *name, bool have, const char *why);

/* main() of a suite with such cases. Without arguments it runs every case
 * but them, and names the entries they run in; with a case's name it runs
 * only that case, or, where its need is not met, prints "SKIPPED <entry>:
 * <why>" and returns 77 (what ctest counts as skipped). Returns 0 when
 * every test passed, else 1. */
int tg_test_main(Suite *s, int argc, char **argv);

#endif
