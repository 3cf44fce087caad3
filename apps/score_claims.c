/* score_claims: scores JSONL claims (labels optional) with a trained model,
 * writing exactly one JSON record per input line, in order (scorer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "models/claims/score/scorer.h"

/* Lines read and scored together: memory stays bounded on any input. */
#define CHUNK 64

typedef struct chunk {
    char *line[CHUNK];
    size_t len[CHUNK];
    long no[CHUNK];
    int n;
} chunk;

static int fail(const char *what)
{
    fprintf(stderr, "score_claims: %s: %s\n", what, tg_last_error());
    return 1;
}

/* Scores and writes a chunk; returns the malformed lines in it, or -1. */
static long flush(claims_scorer *s, chunk *c, FILE *out)
{
    char *rec[CHUNK];
    size_t errors = 0;
    if (claims_scorer_score(s, (const char *const *)c->line, c->len, c->no, (size_t)c->n, rec, &errors) != TG_OK)
        return -1;
    for (int i = 0; i < c->n; i++) {
        fprintf(out, "%s\n", rec[i]);
        free(rec[i]);
        free(c->line[i]);
    }
    c->n = 0;
    return (long)errors;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *in_path = "-", *out_path = "-", *codes = cli_data_file("codes.tsv");
    long threads = 0, evidence = 3;
    double review_cost = 0;
    bool strict = false;
    cli_opt opts[] = {
        {"model", CLI_STRING, &model, 0, 0, "checkpoint written by train_claims, required (nothing else is needed)"},
        {"input", CLI_STRING, &in_path, 0, 0, "claims to score (JSONL; - for stdin)"},
        {"output", CLI_STRING, &out_path, 0, 0, "records (JSONL; - for stdout)"},
        {"codes", CLI_STRING, &codes, 0, 0, "code table (TSV), the one the model was trained with"},
        {"review-cost", CLI_DOUBLE, &review_cost, 0, 1e9, "cost of pending a claim for human review (0: never)"},
        {"evidence", CLI_INT, &evidence, 1, 8, "evidence lines per claim"},
        {"threads", CLI_INT, &threads, 0, 1024, "threads (0: default)"},
        {"strict", CLI_FLAG, &strict, 0, 0, "stop at the first malformed line (exit 1)"},
    };
    int rc = cli_parse("score_claims", "Scores claims with a trained model: one JSON record per input line.", opts,
                       (int)(sizeof opts / sizeof *opts), argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model) {
        fprintf(stderr, "score_claims: --model is required (see --help)\n");
        return 2;
    }
    FILE *in = strcmp(in_path, "-") ? fopen(in_path, "r") : stdin;
    if (!in) {
        fprintf(stderr, "score_claims: --input: cannot open '%s'\n", in_path);
        return 1;
    }
    FILE *out = strcmp(out_path, "-") ? fopen(out_path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "score_claims: --output: cannot write '%s'\n", out_path);
        return 1;
    }
    claims_scorer_opts so = {
        .codes_path = codes, .threads = (int)threads, .review_cost = review_cost, .evidence = (int)evidence};
    claims_scorer *s;
    if (claims_scorer_open(model, &so, &s) != TG_OK) return fail("--model");
    fprintf(stderr, "score_claims: model %s\n", claims_scorer_model_id(s));
    chunk c = {.n = 0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long no = 0, errors = 0, scored = 0;
    while ((got = getline(&line, &cap, in)) >= 0) {
        no++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) got--;
        c.line[c.n] = malloc((size_t)got + 1);
        if (!c.line[c.n]) return fail("out of memory");
        memcpy(c.line[c.n], line, (size_t)got);
        c.line[c.n][got] = '\0';
        c.len[c.n] = (size_t)got, c.no[c.n++] = no;
        if (c.n == CHUNK || strict) {
            long e = flush(s, &c, out);
            if (e < 0) return fail("scoring");
            errors += e;
            if (strict && e) {
                fprintf(stderr, "score_claims: line %ld is not a valid claim (--strict)\n", no);
                return 1;
            }
        }
    }
    long e = flush(s, &c, out);
    if (e < 0) return fail("scoring");
    errors += e;
    scored = no - errors;
    free(line);
    if (in != stdin) fclose(in);
    if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) return fail("--output");
    fprintf(stderr, "score_claims: %ld lines, %ld scored, %ld malformed\n", no, scored, errors);
    claims_scorer_close(s);
    if (scored == 0) {
        fprintf(stderr, "score_claims: no valid claim in the input\n");
        return 1;
    }
    return 0;
}
