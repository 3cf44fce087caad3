/* Training checkpoints on top of the safetensors reader and writer: saving
 * collects tensors and metadata in one writer; loading parses and checks
 * every field into locals first and only then copies, so a bad file changes
 * nothing. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "optim/checkpoint.h"
#include "optim/optim_internal.h"
#include "tensor/safetensors.h"

#define CK_FORMAT "tensorgrad.checkpoint"

static const char *const kind_names[] = {[TG_OPTIM_SGD] = "sgd", [TG_OPTIM_ADAM] = "adam", [TG_OPTIM_ADAMW] = "adamw"};

/* ---- small helpers ---- */

/* printf into a malloc'd string (NULL when out of memory). */
static char *ck_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *ck_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *ck_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- saving ---- */

static tg_status ck_oom(const char *fn) { return tg_error(TG_ERR_OOM, "%s: out of memory", fn); }

static tg_status ck_set_i64(tg_st_writer *w, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return tg_st_writer_set_meta(w, key, buf);
}

static tg_status ck_set_u64(tg_st_writer *w, const char *key, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return tg_st_writer_set_meta(w, key, buf);
}

/* %.17g reads back with strtod to the same double. */
static tg_status ck_set_f64(tg_st_writer *w, const char *key, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return tg_st_writer_set_meta(w, key, buf);
}

/* Adds tensor `prefix<name><suffix>` to the writer. */
static tg_status ck_add(tg_st_writer *w, const char *prefix, const char *name, const char *suffix, const tg_tensor *t,
                        const char *fn)
{
    char *key = ck_fmt("%s%s%s", prefix, name, suffix);
    if (!key) return ck_oom(fn);
    tg_status st = tg_st_writer_add(w, key, t);
    free(key);
    return st;
}

/* The optimizer's hyper-parameters as a JSON object (malloc'd). */
static char *ck_opts_json(const tg_optim *opt)
{
    if (opt->kind == TG_OPTIM_SGD)
        return ck_fmt("{\"momentum\": %.17g, \"dampening\": %.17g, \"weight_decay\": %.17g, "
                      "\"nesterov\": %s}",
                      opt->sgd.momentum, opt->sgd.dampening, opt->sgd.weight_decay,
                      opt->sgd.nesterov ? "true" : "false");
    return ck_fmt("{\"beta1\": %.17g, \"beta2\": %.17g, \"eps\": %.17g, \"weight_decay\": %.17g, "
                  "\"bias_correction\": %s}",
                  opt->adam.beta1, opt->adam.beta2, opt->adam.eps, opt->adam.weight_decay,
                  opt->adam.no_bias_correction ? "false" : "true");
}

static tg_status ck_put_optim(tg_st_writer *w, const tg_param_set *ps, const tg_optim *opt, const char *fn)
{
    TG_TRY(tg_st_writer_set_meta(w, "optim.kind", opt ? kind_names[opt->kind] : "none"));
    if (!opt) return TG_OK;
    TG_TRY(ck_set_i64(w, "optim.num_states", opt->n_states));
    TG_TRY(ck_set_i64(w, "optim.step_count", opt->steps));
    char *opts = ck_opts_json(opt);
    if (!opts) return ck_oom(fn);
    tg_status st = tg_st_writer_set_meta(w, "optim.opts", opts);
    free(opts);
    TG_TRY(st);
    for (int i = 0; i < opt->n_params; i++) {
        const char *name = tg_param_set_name(ps, i);
        char *key = ck_fmt("optim.%s.steps", name);
        if (!key) return ck_oom(fn);
        st = ck_set_i64(w, key, opt->param_steps[i]);
        free(key);
        TG_TRY(st);
        for (int s = 0; s < opt->n_states; s++) {
            char suffix[64];
            snprintf(suffix, sizeof suffix, ".%s", tg_optim_state_name(opt, s));
            TG_TRY(ck_add(w, "optim.", name, suffix, opt->state[i * opt->n_states + s], fn));
        }
    }
    return TG_OK;
}

static tg_status ck_put_scaler(tg_st_writer *w, const tg_scaler *sc)
{
    TG_TRY(tg_st_writer_set_meta(w, "scaler.present", sc ? "1" : "0"));
    if (!sc) return TG_OK;
    TG_TRY(ck_set_f64(w, "scaler.scale", sc->scale));
    TG_TRY(ck_set_i64(w, "scaler.good_steps", sc->good_steps));
    TG_TRY(ck_set_i64(w, "scaler.skipped", sc->skipped));
    TG_TRY(ck_set_f64(w, "scaler.init_scale", sc->opts.init_scale));
    TG_TRY(ck_set_f64(w, "scaler.growth", sc->opts.growth));
    TG_TRY(ck_set_f64(w, "scaler.backoff", sc->opts.backoff));
    TG_TRY(ck_set_i64(w, "scaler.growth_interval", sc->opts.growth_interval));
    TG_TRY(ck_set_f64(w, "scaler.min_scale", sc->opts.min_scale));
    return ck_set_f64(w, "scaler.max_scale", sc->opts.max_scale);
}

static tg_status ck_put_train(tg_st_writer *w, const tg_train_state *t)
{
    TG_TRY(ck_set_i64(w, "train.step", t->step));
    TG_TRY(ck_set_i64(w, "train.epoch", t->epoch));
    TG_TRY(ck_set_i64(w, "train.batch_cursor", t->batch_cursor));
    TG_TRY(ck_set_i64(w, "train.tokens_seen", t->tokens_seen));
    TG_TRY(ck_set_u64(w, "train.data_seed", t->data_seed));
    TG_TRY(ck_set_u64(w, "train.rng_seed", t->rng.seed));
    TG_TRY(ck_set_u64(w, "train.rng_counter", t->rng.counter));
    TG_TRY(ck_set_f64(w, "train.best_metric", t->best_metric));
    return ck_set_i64(w, "train.best_step", t->best_step);
}

static tg_status ck_fill_writer(tg_st_writer *w, const tg_param_set *ps, const tg_optim *opt, const tg_scaler *sc,
                                const tg_train_state *st, const char *config_json, const char *fn)
{
    TG_TRY(tg_st_writer_set_meta(w, "format", CK_FORMAT));
    TG_TRY(ck_set_i64(w, "format_version", TG_CHECKPOINT_VERSION));
    for (int i = 0; i < tg_param_set_count(ps); i++)
        TG_TRY(ck_add(w, "model.", tg_param_set_name(ps, i), "", tg_param_set_value(ps, i), fn));
    TG_TRY(ck_put_optim(w, ps, opt, fn));
    TG_TRY(ck_put_scaler(w, sc));
    TG_TRY(ck_put_train(w, st));
    return config_json ? tg_st_writer_set_meta(w, "config", config_json) : TG_OK;
}

tg_status tg_checkpoint_save(const char *path, const tg_param_set *ps, const tg_optim *opt, const tg_scaler *sc,
                             const tg_train_state *st, const char *config_json)
{
    const char *fn = "tg_checkpoint_save";
    if (!path || !ps || !st) return tg_error(TG_ERR_INVALID, "%s: NULL path, parameter set or train state", fn);
    if (opt && opt->params != ps)
        return tg_error(TG_ERR_INVALID, "%s: the optimizer was created over another parameter set", fn);
    if (opt && opt->n_params != tg_param_set_count(ps))
        return tg_error(TG_ERR_STATE,
                        "%s: the parameter set had %d parameters when the optimizer was "
                        "created, now %d",
                        fn, opt->n_params, tg_param_set_count(ps));
    if (config_json) {
        json_error_t jerr;
        json_t *j = json_loads(config_json, JSON_DECODE_ANY, &jerr);
        if (!j)
            return tg_error(TG_ERR_INVALID, "%s: config is not valid JSON: %s (column %d)", fn, jerr.text, jerr.column);
        json_decref(j);
    }
    tg_st_writer *w = tg_st_writer_new();
    if (!w) return TG_ERR_OOM;
    tg_status s = ck_fill_writer(w, ps, opt, sc, st, config_json, fn);
    if (s == TG_OK) s = tg_st_writer_save(w, path);
    tg_st_writer_free(w);
    return s;
}

tg_status tg_checkpoint_export_weights(const char *path, const tg_param_set *ps)
{
    const char *fn = "tg_checkpoint_export_weights";
    if (!path || !ps) return tg_error(TG_ERR_INVALID, "%s: NULL path or parameter set", fn);
    tg_st_writer *w = tg_st_writer_new();
    if (!w) return TG_ERR_OOM;
    tg_status s = tg_st_writer_set_meta(w, "format", "tensorgrad.weights");
    for (int i = 0; s == TG_OK && i < tg_param_set_count(ps); i++)
        s = tg_st_writer_add(w, tg_param_set_name(ps, i), tg_param_set_value(ps, i));
    if (s == TG_OK) s = tg_st_writer_save(w, path);
    tg_st_writer_free(w);
    return s;
}

/* ---- reading metadata ---- */

/* The file being loaded and the function name for messages. */
typedef struct ck_reader {
    const tg_st_file *f;
    const char *fn;
} ck_reader;

static tg_status ck_meta(const ck_reader *r, const char *key, const char **out)
{
    *out = tg_st_meta(r->f, key);
    if (!*out) return tg_error(TG_ERR_FORMAT, "%s: %s: metadata field '%s' is missing", r->fn, tg_st_path(r->f), key);
    return TG_OK;
}

static tg_status ck_garbled(const ck_reader *r, const char *key, const char *v, const char *what)
{
    return tg_error(TG_ERR_FORMAT, "%s: %s: metadata field '%s' = '%s' is not %s", r->fn, tg_st_path(r->f), key, v,
                    what);
}

/* Whole-string decimal integer (no sign for unsigned, no spaces). */
static tg_status ck_i64(const ck_reader *r, const char *key, int64_t *out)
{
    const char *v;
    TG_TRY(ck_meta(r, key, &v));
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!(*v == '-' || (*v >= '0' && *v <= '9')) || *end || errno) return ck_garbled(r, key, v, "a 64-bit integer");
    *out = x;
    return TG_OK;
}

static tg_status ck_u64(const ck_reader *r, const char *key, uint64_t *out)
{
    const char *v;
    TG_TRY(ck_meta(r, key, &v));
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!(*v >= '0' && *v <= '9') || *end || errno) return ck_garbled(r, key, v, "an unsigned 64-bit integer");
    *out = x;
    return TG_OK;
}

/* A non-negative count. */
static tg_status ck_count(const ck_reader *r, const char *key, int64_t *out)
{
    TG_TRY(ck_i64(r, key, out));
    if (*out < 0) return ck_garbled(r, key, tg_st_meta(r->f, key), "a count >= 0");
    return TG_OK;
}

static tg_status ck_f64(const ck_reader *r, const char *key, double *out)
{
    const char *v;
    TG_TRY(ck_meta(r, key, &v));
    char *end;
    double x = strtod(v, &end);
    if (!*v || isspace((unsigned char)*v) || *end) return ck_garbled(r, key, v, "a number");
    *out = x;
    return TG_OK;
}

/* Opens `path` and checks the format name and version. On failure *out is
 * NULL and the error is set. */
static tg_status ck_open(const char *path, const char *fn, tg_st_file **out)
{
    *out = NULL;
    if (!path) return tg_error(TG_ERR_INVALID, "%s: NULL path", fn);
    tg_st_file *f = tg_st_open(path);
    if (!f) {
        /* tg_st_open reports only its message: a path that is not a readable
         * regular file is an I/O error, anything else a malformed file. */
        struct stat sb;
        return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? TG_ERR_FORMAT : TG_ERR_IO;
    }
    ck_reader r = {f, fn};
    const char *format = tg_st_meta(f, "format");
    int64_t version;
    tg_status st = TG_OK;
    if (!format || strcmp(format, CK_FORMAT))
        st = tg_error(TG_ERR_FORMAT,
                      "%s: %s: not a tensorgrad checkpoint (metadata 'format' is '%s', "
                      "expected '%s')",
                      fn, path, format ? format : "(missing)", CK_FORMAT);
    else if ((st = ck_i64(&r, "format_version", &version)) == TG_OK && version != TG_CHECKPOINT_VERSION)
        st = tg_error(TG_ERR_FORMAT,
                      "%s: %s: checkpoint format version %" PRId64 ", this build reads "
                      "version %d",
                      fn, path, version, TG_CHECKPOINT_VERSION);
    if (st != TG_OK) {
        tg_st_close(f);
        return st;
    }
    *out = f;
    return TG_OK;
}

/* ---- loading ---- */

/* Checks that tensor `name` exists as F32 with `want`'s shape; `who` is
 * "model" or "optimizer" for the message. */
static tg_status ck_check_tensor(const ck_reader *r, const char *name, const tg_tensor *want, const char *who)
{
    if (!tg_st_has(r->f, name))
        return tg_error(TG_ERR_INVALID, "%s: %s: no tensor '%s' in the checkpoint", r->fn, tg_st_path(r->f), name);
    tg_st_entry e;
    TG_TRY(tg_st_find(r->f, name, &e));
    if (!e.supported || e.dtype != TG_F32)
        return tg_error(TG_ERR_DTYPE, "%s: %s: tensor '%s' has dtype %s, %s expects F32", r->fn, tg_st_path(r->f), name,
                        e.dtype_name, who);
    if (!tg_shape_equal(&e.shape, tg_tensor_shape(want))) {
        char a[160], b[160];
        return tg_error(TG_ERR_SHAPE, "%s: %s: tensor '%s' has shape %s, %s expects %s", r->fn, tg_st_path(r->f), name,
                        tg_shape_str(&e.shape, a, sizeof a), who, tg_shape_str(tg_tensor_shape(want), b, sizeof b));
    }
    return TG_OK;
}

/* True when `ps` has a parameter called `name`. */
static bool ck_has_param(const tg_param_set *ps, const char *name)
{
    for (int i = 0; i < tg_param_set_count(ps); i++)
        if (!strcmp(tg_param_set_name(ps, i), name)) return true;
    return false;
}

/* Every parameter present with its shape, and no "model." tensor the set
 * does not have (a checkpoint of a bigger model must not load silently). */
static tg_status ck_check_model(const ck_reader *r, const tg_param_set *ps)
{
    for (int i = 0; i < tg_param_set_count(ps); i++) {
        char *key = ck_fmt("model.%s", tg_param_set_name(ps, i));
        if (!key) return ck_oom(r->fn);
        tg_status st = ck_check_tensor(r, key, tg_param_set_value(ps, i), "model");
        free(key);
        TG_TRY(st);
    }
    for (int k = 0; k < tg_st_count(r->f); k++) {
        const char *name = tg_st_name(r->f, k);
        if (!strncmp(name, "model.", 6) && !ck_has_param(ps, name + 6))
            return tg_error(TG_ERR_INVALID, "%s: %s: tensor '%s' has no parameter '%s' in the model", r->fn,
                            tg_st_path(r->f), name, name + 6);
    }
    return TG_OK;
}

/* Checks the optimizer section against `opt` and reads the step counts into
 * *steps and param_steps[n_params]. */
static tg_status ck_check_optim(const ck_reader *r, const tg_optim *opt, int64_t *steps, int64_t *param_steps)
{
    const char *kind;
    TG_TRY(ck_meta(r, "optim.kind", &kind));
    if (strcmp(kind, kind_names[opt->kind]))
        return tg_error(TG_ERR_INVALID, "%s: %s: checkpoint optimizer is '%s', the optimizer to restore is '%s'", r->fn,
                        tg_st_path(r->f), kind, kind_names[opt->kind]);
    int64_t n_states;
    TG_TRY(ck_count(r, "optim.num_states", &n_states));
    if (n_states != opt->n_states)
        return tg_error(TG_ERR_INVALID,
                        "%s: %s: checkpoint has %" PRId64 " optimizer state slots per "
                        "parameter, the optimizer has %d (momentum on in one, off in the other?)",
                        r->fn, tg_st_path(r->f), n_states, opt->n_states);
    TG_TRY(ck_count(r, "optim.step_count", steps));
    for (int i = 0; i < opt->n_params; i++) {
        const char *name = tg_param_set_name(opt->params, i);
        char *key = ck_fmt("optim.%s.steps", name);
        if (!key) return ck_oom(r->fn);
        tg_status st = ck_count(r, key, &param_steps[i]);
        free(key);
        TG_TRY(st);
        for (int s = 0; s < opt->n_states; s++) {
            key = ck_fmt("optim.%s.%s", name, tg_optim_state_name(opt, s));
            if (!key) return ck_oom(r->fn);
            st = ck_check_tensor(r, key, opt->state[i * opt->n_states + s], "optimizer");
            free(key);
            TG_TRY(st);
        }
    }
    return TG_OK;
}

static tg_status ck_read_scaler(const ck_reader *r, tg_scaler *out)
{
    const char *present;
    TG_TRY(ck_meta(r, "scaler.present", &present));
    if (strcmp(present, "1"))
        return tg_error(TG_ERR_INVALID, "%s: %s: checkpoint holds no loss-scaler state", r->fn, tg_st_path(r->f));
    tg_scaler_opts o;
    double scale;
    int64_t good, skipped;
    TG_TRY(ck_f64(r, "scaler.init_scale", &o.init_scale));
    TG_TRY(ck_f64(r, "scaler.growth", &o.growth));
    TG_TRY(ck_f64(r, "scaler.backoff", &o.backoff));
    TG_TRY(ck_count(r, "scaler.growth_interval", &o.growth_interval));
    TG_TRY(ck_f64(r, "scaler.min_scale", &o.min_scale));
    TG_TRY(ck_f64(r, "scaler.max_scale", &o.max_scale));
    TG_TRY(ck_f64(r, "scaler.scale", &scale));
    TG_TRY(ck_count(r, "scaler.good_steps", &good));
    TG_TRY(ck_count(r, "scaler.skipped", &skipped));
    if (tg_scaler_init(out, &o) != TG_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", tg_last_error());
        return tg_error(TG_ERR_FORMAT, "%s: %s: bad scaler options: %s", r->fn, tg_st_path(r->f), why);
    }
    if (!(scale > 0 && isfinite(scale)))
        return ck_garbled(r, "scaler.scale", tg_st_meta(r->f, "scaler.scale"), "a finite scale > 0");
    out->scale = scale;
    out->good_steps = good;
    out->skipped = skipped;
    return TG_OK;
}

static tg_status ck_read_train(const ck_reader *r, tg_train_state *t)
{
    TG_TRY(ck_i64(r, "train.step", &t->step));
    TG_TRY(ck_i64(r, "train.epoch", &t->epoch));
    TG_TRY(ck_i64(r, "train.batch_cursor", &t->batch_cursor));
    TG_TRY(ck_i64(r, "train.tokens_seen", &t->tokens_seen));
    TG_TRY(ck_u64(r, "train.data_seed", &t->data_seed));
    TG_TRY(ck_u64(r, "train.rng_seed", &t->rng.seed));
    TG_TRY(ck_u64(r, "train.rng_counter", &t->rng.counter));
    TG_TRY(ck_f64(r, "train.best_metric", &t->best_metric));
    return ck_i64(r, "train.best_step", &t->best_step);
}

/* Copies tensor `key`, already validated, into dst. */
static void ck_copy(const ck_reader *r, const char *key, tg_tensor *dst)
{
    tg_status st = tg_st_copy_into(r->f, key, dst);
    TG_ASSERT(st == TG_OK, "checkpoint tensor was validated before copying");
}

/* Everything is validated; nothing below can fail except for memory. */
static tg_status ck_apply(const ck_reader *r, tg_param_set *ps, tg_optim *opt, int64_t opt_steps,
                          const int64_t *param_steps)
{
    /* Build every key first so that running out of memory changes nothing. */
    int n = tg_param_set_count(ps), ns = opt ? opt->n_states : 0;
    size_t n_keys = (size_t)n * (size_t)(1 + ns);
    char **keys = calloc(n_keys + 1, sizeof *keys);
    tg_status st = keys ? TG_OK : ck_oom(r->fn);
    for (int i = 0; st == TG_OK && i < n; i++) {
        const char *name = tg_param_set_name(ps, i);
        keys[i * (1 + ns)] = ck_fmt("model.%s", name);
        if (!keys[i * (1 + ns)]) st = ck_oom(r->fn);
        for (int s = 0; st == TG_OK && s < ns; s++)
            if (!(keys[i * (1 + ns) + 1 + s] = ck_fmt("optim.%s.%s", name, tg_optim_state_name(opt, s))))
                st = ck_oom(r->fn);
    }
    for (int i = 0; st == TG_OK && i < n; i++) {
        ck_copy(r, keys[i * (1 + ns)], tg_param_set_value(ps, i));
        for (int s = 0; s < ns; s++) ck_copy(r, keys[i * (1 + ns) + 1 + s], opt->state[i * ns + s]);
        if (opt) opt->param_steps[i] = param_steps[i];
    }
    if (st == TG_OK && opt) opt->steps = opt_steps;
    for (size_t k = 0; keys && k < n_keys; k++) free(keys[k]);
    free(keys);
    return st;
}

tg_status tg_checkpoint_load(const char *path, tg_param_set *ps, tg_optim *opt, tg_scaler *sc, tg_train_state *st,
                             char **config_json)
{
    const char *fn = "tg_checkpoint_load";
    if (config_json) *config_json = NULL;
    if (!ps) return tg_error(TG_ERR_INVALID, "%s: NULL parameter set", fn);
    if (opt && opt->params != ps)
        return tg_error(TG_ERR_INVALID, "%s: the optimizer was created over another parameter set", fn);
    if (opt && opt->n_params != tg_param_set_count(ps))
        return tg_error(TG_ERR_STATE,
                        "%s: the parameter set had %d parameters when the optimizer was "
                        "created, now %d",
                        fn, opt->n_params, tg_param_set_count(ps));
    tg_st_file *f;
    TG_TRY(ck_open(path, fn, &f));
    ck_reader r = {f, fn};
    int64_t opt_steps = 0;
    int n = tg_param_set_count(ps);
    int64_t *param_steps = calloc((size_t)n + 1, sizeof *param_steps);
    tg_scaler scaler;
    tg_train_state train;
    char *config = NULL;
    tg_status s = param_steps ? TG_OK : ck_oom(fn);
    if (s == TG_OK) s = ck_check_model(&r, ps);
    if (s == TG_OK && opt) s = ck_check_optim(&r, opt, &opt_steps, param_steps);
    if (s == TG_OK && sc) s = ck_read_scaler(&r, &scaler);
    if (s == TG_OK && st) s = ck_read_train(&r, &train);
    if (s == TG_OK && config_json && tg_st_meta(f, "config") && !(config = ck_strdup(tg_st_meta(f, "config"))))
        s = ck_oom(fn);
    if (s == TG_OK) s = ck_apply(&r, ps, opt, opt_steps, param_steps);
    if (s == TG_OK) {
        if (sc) *sc = scaler;
        if (st) *st = train;
        if (config_json) *config_json = config;
    } else {
        free(config);
    }
    free(param_steps);
    tg_st_close(f);
    return s;
}

tg_status tg_checkpoint_read_config(const char *path, char **config_json)
{
    const char *fn = "tg_checkpoint_read_config";
    if (!config_json) return tg_error(TG_ERR_INVALID, "%s: NULL output pointer", fn);
    *config_json = NULL;
    tg_st_file *f;
    TG_TRY(ck_open(path, fn, &f));
    ck_reader r = {f, fn};
    const char *v;
    tg_status s = ck_meta(&r, "config", &v);
    if (s == TG_OK && !(*config_json = ck_strdup(v))) s = ck_oom(fn);
    tg_st_close(f);
    return s;
}
