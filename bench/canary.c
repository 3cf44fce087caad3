/* Canary exposure (Carlini et al. 2019, "The Secret Sharer"): measures how
 * much a trained claims model memorized one patient's secret.
 *
 *   canary --mode insert --data train.jsonl --out out.jsonl [--k 10] [--seed S] [--note-chars N]
 *     copies the claims (notes cut to N characters at a line end when N > 0)
 *     and plants k claims of one fake patient whose note holds the sentence
 *     "Referral form lists the member ID as DDD DDD DDD for this visit." with
 *     a secret 9-digit id drawn from the seed, spread evenly over the file.
 *   canary --mode expose --model ckpt --data train.jsonl [--seed S] [--candidates 10000]
 *     rebuilds the canary claim with the true secret and with random 9-digit
 *     candidates, scores each by the model's log-perplexity (summed token
 *     negative log-likelihood of the rendered claim), and prints as JSON the
 *     rank of the true secret and its exposure log2(candidates + 1) -
 *     log2(rank): about log2(candidates + 1) when memorized, about 1 when not.
 *
 * The id is written in three space-separated groups, which the identifier
 * scrubber (models/claims/data/scrub.h: 7+ consecutive digits) does not catch, so
 * the secret reaches the token stream; the tool checks that it does. */
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/cli.h"
#include "models/claims/model/config.h"
#include "models/claims/text/corpus.h"
#include "models/claims/model/model.h"
#include "optim/checkpoint.h"
#include "tensorgrad.h"

static void die(const char *what)
{
    fprintf(stderr, "canary: %s: %s\n", what, tg_last_error());
    exit(1);
}

static void secret_text(uint64_t v, char *out, size_t n)
{
    snprintf(out, n, "%03d %03d %03d", (int)(v / 1000000), (int)(v / 1000 % 1000), (int)(v % 1000));
}

static uint64_t draw_secret(uint64_t seed, uint64_t i)
{
    return tg_rng_bits(seed ^ 0x63616e617279ULL, i) % 1000000000ULL;
}

/* The canary claim j (of k) with secret text s, from the file's first claim. */
static json_t *canary_claim(json_t *tmpl, const char *s, int j, const char *member)
{
    json_t *c = json_deep_copy(tmpl);
    char id[32], note[512];
    snprintf(id, sizeof id, "CANARY%05d", j);
    snprintf(note, sizeof note,
             "CLINIC NOTE\nReferral form lists the member ID as %s for this visit.\n"
             "Chief complaint: follow-up visit.\n",
             s);
    json_object_set_new(c, "claim_id", json_string(id));
    json_object_set_new(c, "member_id", json_string(member));
    json_object_set_new(c, "note", json_string(note));
    return c;
}

static json_t *first_claim(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) die(path);
    char *line = NULL;
    size_t cap = 0;
    json_t *c = getline(&line, &cap, f) > 0 ? json_loads(line, 0, NULL) : NULL;
    free(line);
    fclose(f);
    if (!json_is_object(c)) {
        tg_error(TG_ERR_FORMAT, "first line is not a claim");
        die(path);
    }
    return c;
}

static void cut_note(json_t *c, long chars)
{
    const char *note = json_string_value(json_object_get(c, "note"));
    if (!note || chars <= 0 || (long)strlen(note) <= chars) return;
    long end = chars;
    while (end > 0 && note[end - 1] != '\n') end--;
    char *s = strndup(note, (size_t)(end > 0 ? end : chars));
    json_object_set_new(c, "note", json_string(s));
    free(s);
}

static int insert(const char *data, const char *out, long k, uint64_t seed, long note_chars)
{
    FILE *in = fopen(data, "r"), *o = fopen(out, "w");
    if (!in || !o) die(!in ? data : out);
    long n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) n++;
    rewind(in);
    json_t *tmpl = first_claim(data);
    char s[16];
    secret_text(draw_secret(seed, 0), s, sizeof s);
    long i = 0, planted = 0;
    while (getline(&line, &cap, in) > 0) {
        json_t *c = json_loads(line, 0, NULL);
        if (!c) {
            tg_error(TG_ERR_FORMAT, "line %ld is not JSON", i + 1);
            die(data);
        }
        cut_note(c, note_chars);
        char *txt = json_dumps(c, JSON_COMPACT);
        fprintf(o, "%s\n", txt);
        free(txt);
        json_decref(c);
        i++;
        for (; planted < k && planted * n <= i * k; planted++) { /* spread evenly */
            json_t *cc = canary_claim(tmpl, s, (int)planted, "CANARY0000001");
            txt = json_dumps(cc, JSON_COMPACT);
            fprintf(o, "%s\n", txt);
            free(txt);
            json_decref(cc);
        }
    }
    free(line);
    fclose(in);
    if (fclose(o) != 0) die(out);
    json_decref(tmpl);
    printf("canary: %ld claims copied, %ld canary claims planted (secret \"%s\")\n", n, planted, s);
    return 0;
}

/* Summed negative log-likelihood of each document of c under m. */
static void doc_nll(const claims_model *m, const claims_corpus *c, const claims_batch_opts *bo, double *nll)
{
    claims_batch_opts o = *bo;
    o.pos_repeat = 1;
    claims_plan plan;
    if (claims_plan_epoch(c->len, NULL, c->n, &o, 1, 0, &plan) != TG_OK) die("batching");
    claims_batch b = {0};
    int32_t *labels = calloc((size_t)c->n, sizeof *labels);
    memset(nll, 0, sizeof *nll * (size_t)c->n);
    bool prev = tg_grad_set_enabled(false);
    for (int32_t k = 0; k < plan.n_batches; k++) {
        if (claims_batch_fill(&plan, k, (const int32_t *const *)c->tokens, CLAIMS_TOK_PAD, &b) != TG_OK) die("batch");
        claims_forward f;
        if (claims_model_forward(m, &b, labels, c->features, NULL, 0, 0, false, true, &f) != TG_OK) die("forward");
        tg_tensor *tgt = tg_from_buffer(TG_STEP, TG_SHAPE(b.rows, b.pad_len), TG_S32, b.targets);
        tg_ce_opts ce = tg_ce_defaults();
        ce.reduction = TG_REDUCE_NONE;
        tg_tensor *l = tg_cross_entropy(f.lm_logits, tgt, &ce); /* (rows, T) */
        if (!l) die("cross-entropy");
        for (int32_t r = 0; r < b.rows; r++)
            for (int32_t t = 0; t < b.pad_len; t++)
                if (b.targets[r * b.pad_len + t] >= 0) nll[b.doc_index[b.row_doc[r]]] += tg_f32(l)[r * b.pad_len + t];
        tg_step_end();
    }
    tg_grad_set_enabled(prev);
    free(labels);
    claims_batch_free(&b);
    claims_plan_free(&plan);
}

static int expose(const char *ckpt, const char *data, const char *codes_path, uint64_t seed, long n_cand)
{
    char *config = NULL, tok_name[512], tok_path[1600], dir[1024];
    claims_model_config mc;
    claims_batch_opts bo;
    double thr;
    if (tg_checkpoint_read_config(ckpt, &config) != TG_OK ||
        claims_config_from_json(config, ckpt, &mc, &bo, tok_name, sizeof tok_name, &thr) != TG_OK)
        die("--model");
    free(config);
    snprintf(dir, sizeof dir, "%s", ckpt);
    snprintf(tok_path, sizeof tok_path, "%s/%s", dirname(dir), tok_name);
    claims_tokenizer *tok;
    claims_model m;
    if (claims_tok_load(tok_path, &tok) != TG_OK) die("tokenizer");
    if (claims_model_init(&m, &mc, 0) != TG_OK ||
        tg_checkpoint_load(ckpt, m.gpt.params, NULL, NULL, NULL, NULL) != TG_OK)
        die("--model");
    /* candidate claims: the true secret first, each with its own member id so
     * none is another's history */
    char path[] = "/tmp/canary_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) die("temporary file");
    json_t *tmpl = first_claim(data);
    uint64_t truth = draw_secret(seed, 0);
    for (long i = 0; i <= n_cand; i++) {
        uint64_t v = truth;
        for (uint64_t j = (uint64_t)i; i > 0 && v == truth; j += (uint64_t)n_cand + 1) v = draw_secret(seed + 1, j);
        char s[16], member[32];
        secret_text(v, s, sizeof s);
        snprintf(member, sizeof member, "CAND%09ld", i);
        json_t *c = canary_claim(tmpl, s, 0, member);
        char *txt = json_dumps(c, JSON_COMPACT);
        fprintf(f, "%s\n", txt);
        free(txt);
        json_decref(c);
    }
    fclose(f);
    claims_codes *codes;
    if (claims_codes_load(codes_path, &codes) != TG_OK) die("--codes");
    claims_read_opts ro = {.strict = true, .codes = codes};
    claims_dataset ds = {0};
    if (claims_dataset_load(path, &ro, &ds) != TG_OK) die("candidates");
    unlink(path);
    char *text;
    size_t len;
    char s[16];
    secret_text(truth, s, sizeof s);
    if (claims_render(&ds.claims[0], &text, &len) != TG_OK) die("render");
    if (!strstr(text, s)) {
        tg_error(TG_ERR_INVALID, "the secret \"%s\" does not survive scrubbing; rendered: %s", s, text);
        die("canary");
    }
    free(text);
    claims_corpus c;
    if (claims_corpus_build(&ds, NULL, 0, tok, &c) != TG_OK) die("tokenizing");
    double *nll = malloc(sizeof *nll * (size_t)c.n);
    doc_nll(&m, &c, &bo, nll);
    double rank = 1;
    for (int32_t i = 1; i < c.n; i++) rank += nll[i] < nll[0] ? 1.0 : nll[i] == nll[0] ? 0.5 : 0.0;
    double sorted_mid = 0;
    int below = 0;
    for (int32_t i = 1; i < c.n; i++) below += nll[i] < nll[0];
    for (int32_t i = 1; i < c.n; i++) sorted_mid += nll[i];
    sorted_mid /= (c.n - 1);
    printf("{\"candidates\":%ld,\"rank\":%g,\"exposure\":%.4f,\"max_exposure\":%.4f,\"secret_nll\":%.4f,"
           "\"mean_candidate_nll\":%.4f,\"candidates_below\":%d}\n",
           n_cand, rank, log2((double)n_cand + 1) - log2(rank), log2((double)n_cand + 1), nll[0], sorted_mid, below);
    free(nll);
    claims_corpus_free(&c);
    claims_dataset_free(&ds);
    claims_codes_free(codes);
    json_decref(tmpl);
    claims_model_free(&m);
    claims_tok_free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = NULL, *data = NULL, *out = NULL, *model = NULL;
    const char *codes = cli_data_file("codes.tsv");
    long k = 10, seed = 99, candidates = 10000, note_chars = 0, threads = 0;
    cli_opt opts[] = {
        {"mode", CLI_STRING, &mode, 0, 0, "insert | expose, required"},
        {"data", CLI_STRING, &data, 0, 0, "claims (JSONL): copied (insert), or the canary template source (expose)"},
        {"out", CLI_STRING, &out, 0, 0, "insert: output JSONL"},
        {"model", CLI_STRING, &model, 0, 0, "expose: checkpoint written by train_claims"},
        {"codes", CLI_STRING, &codes, 0, 0, "code table (TSV)"},
        {"k", CLI_INT, &k, 0, 1000, "insert: canary claims to plant"},
        {"seed", CLI_INT, &seed, 0, 4294967295.0, "seed of the secret (the same for insert and expose)"},
        {"candidates", CLI_INT, &candidates, 1, 1e7, "expose: random candidate secrets"},
        {"note-chars", CLI_INT, &note_chars, 0, 1e9, "insert: cut notes to this many characters (0: keep)"},
        {"threads", CLI_INT, &threads, 0, 1024, "threads (0: default)"},
    };
    int rc = cli_parse("canary", "Plants a canary patient in claims, or measures a model's exposure of it.", opts,
                       (int)(sizeof opts / sizeof *opts), argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    bool ins = mode && !strcmp(mode, "insert"), exp = mode && !strcmp(mode, "expose");
    if (!data || (!ins && !exp) || (ins && !out) || (exp && !model)) {
        fprintf(stderr, "canary: need --mode insert --data --out, or --mode expose --model --data (see --help)\n");
        return 2;
    }
    if (ins) return insert(data, out, k, (uint64_t)seed, note_chars);
    tg_ctx_opts co = {.threads = (int)threads};
    tg_ctx *ctx = tg_ctx_create(&co);
    if (!ctx) die("context");
    rc = expose(model, data, codes, (uint64_t)seed, candidates);
    tg_ctx_destroy(ctx);
    return rc;
}
