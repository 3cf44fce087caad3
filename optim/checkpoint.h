/* Training checkpoints: one safetensors file (tensor/safetensors.h) holding
 * everything needed to resume a run bit for bit, plus a weights-only export.
 *
 * Checkpoint layout (format "tensorgrad.checkpoint", version 1):
 *   tensors   "model.<param name>"               parameter values (F32)
 *             "optim.<param name>.<state name>"  optimizer state slots
 *                                                ("exp_avg", "momentum_buffer", ...)
 *   metadata  "format", "format_version"
 *             "optim.kind" ("none", "sgd", "adam", "adamw"), "optim.num_states",
 *             "optim.step_count", "optim.<param name>.steps" (per-parameter
 *             update counts), "optim.opts" (hyper-parameters as JSON, for
 *             reading only: the loading program builds its own optimizer)
 *             "scaler.present" ("0"/"1") and, when present, "scaler.scale",
 *             "scaler.good_steps", "scaler.skipped", "scaler.init_scale",
 *             "scaler.growth", "scaler.backoff", "scaler.growth_interval",
 *             "scaler.min_scale", "scaler.max_scale"
 *             "train.<field>" for every tg_train_state field
 *             "config" (the application's JSON configuration, optional)
 * Integers are decimal strings (u64 exact); doubles are "%.17g" strings, which
 * read back to the same bits (inf and nan included).
 *
 * Saving is atomic (temp file, fsync, rename): a failed save leaves any
 * previous checkpoint at the path untouched. Loading validates the whole file
 * against the model and optimizer before it changes anything, so a failed load
 * leaves model, optimizer, scaler and train state as they were. */
#ifndef TG_OPTIM_CHECKPOINT_H
#define TG_OPTIM_CHECKPOINT_H

#include <stdint.h>

#include "optim/optim.h"
#include "optim/param.h"
#include "optim/scaler.h"
#include "tensor/rng.h"
#include "tensor/status.h"

/* Version written by tg_checkpoint_save; loading accepts exactly this one. */
#define TG_CHECKPOINT_VERSION 1

/* Where the training loop stands, besides model and optimizer. */
typedef struct tg_train_state {
    int64_t step;         /* optimizer steps taken (the scheduler's step) */
    int64_t epoch;        /* current epoch */
    int64_t batch_cursor; /* next batch within the epoch */
    int64_t tokens_seen;  /* training tokens consumed so far */
    uint64_t data_seed;   /* seed of the data order (shuffling, sampling) */
    tg_rng rng;           /* the context RNG (tg_ctx_rng), used by dropout */
    double best_metric;   /* best validation metric so far (may be +-inf) */
    int64_t best_step;    /* step at which best_metric was reached */
} tg_train_state;

/* Writes a checkpoint of parameters `ps`, optimizer `opt` (NULL: none; must
 * have been created over `ps`), loss scaler `sc` (NULL: none), train state `st`
 * and `config_json` (NULL: none; otherwise must be valid JSON) to `path`
 * atomically. TG_ERR_INVALID (NULL ps/st/path, optimizer over another set,
 * config not JSON), TG_ERR_IO naming the path (previous file left intact),
 * TG_ERR_OOM. */
tg_status tg_checkpoint_save(const char *path, const tg_param_set *ps, const tg_optim *opt, const tg_scaler *sc,
                             const tg_train_state *st, const char *config_json);

/* Restores a checkpoint into `ps` (required), `opt`, `sc` and `st` (each
 * NULL: not restored) and, when `config_json` is not NULL, sets *config_json to
 * a malloc'd copy of the stored config (NULL when the file has none; caller
 * frees). The file must hold exactly the parameters of `ps` with the same
 * shapes; with `opt`, the same optimizer kind and state slots; with `sc`, a
 * saved scaler (its options are restored too). Errors name the file and the
 * tensor or field: TG_ERR_IO/TG_ERR_FORMAT (unreadable, truncated, not a
 * checkpoint, bad format version, missing or garbled metadata), TG_ERR_INVALID
 * (missing or unexpected tensor, optimizer kind or slot mismatch, no scaler
 * state), TG_ERR_SHAPE, TG_ERR_DTYPE. On error nothing is modified. */
tg_status tg_checkpoint_load(const char *path, tg_param_set *ps, tg_optim *opt, tg_scaler *sc, tg_train_state *st,
                             char **config_json);

/* Sets *config_json to a malloc'd copy of the config stored in the checkpoint
 * at `path` (caller frees), so a program can rebuild the model before loading.
 * TG_ERR_IO/TG_ERR_FORMAT as for loading, TG_ERR_FORMAT when the file holds no
 * config, TG_ERR_OOM. *config_json is NULL on error. */
tg_status tg_checkpoint_read_config(const char *path, char **config_json);

/* Writes only the parameter values of `ps`, as tensors named "<param name>"
 * (metadata "format" = "tensorgrad.weights"), atomically to `path`: the file
 * other tools (scripts/load_safetensors.py, PyTorch) load as a state dict.
 * TG_ERR_INVALID (NULL argument), TG_ERR_IO, TG_ERR_OOM. */
tg_status tg_checkpoint_export_weights(const char *path, const tg_param_set *ps);

#endif
