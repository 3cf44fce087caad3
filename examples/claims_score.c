/* Scoring claims from C with the claims package's scorer (models/claims/score/scorer.h):
 *   example_claims_score CHECKPOINT CODES.tsv CLAIMS.jsonl
 * opens the model, scores the first claim of the file on its own, then the
 * whole file as one batch, and prints each record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/score/scorer.h"
#include "tensorgrad.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s CHECKPOINT CODES.tsv CLAIMS.jsonl\n", argv[0]);
        return 2;
    }
    claims_scorer_opts opts = {.codes_path = argv[2], .review_cost = 0.5};
    claims_scorer *s;
    if (claims_scorer_open(argv[1], &opts, &s) != TG_OK) {
        fprintf(stderr, "open: %s\n", tg_last_error());
        return 1;
    }
    FILE *f = fopen(argv[3], "r");
    char *lines[256], *rec[256], *line = NULL;
    size_t lens[256], cap = 0, n = 0;
    long no[256];
    ssize_t got;
    while (f && n < 256 && (got = getline(&line, &cap, f)) > 0) {
        lines[n] = strndup(line, (size_t)got - (line[got - 1] == '\n'));
        lens[n] = strlen(lines[n]);
        no[n] = (long)n + 1;
        n++;
    }
    free(line);
    if (f) fclose(f);
    if (!n) return 1;
    char *one;
    if (claims_scorer_score_one(s, lines[0], lens[0], &one) != TG_OK) return 1;
    printf("one claim: %s\n", one);
    free(one);
    size_t errors;
    if (claims_scorer_score(s, (const char *const *)lines, lens, no, n, rec, &errors) != TG_OK) return 1;
    for (size_t i = 0; i < n; i++) {
        printf("%s\n", rec[i]);
        free(rec[i]);
        free(lines[i]);
    }
    printf("model %s: %zu claims, %zu malformed\n", claims_scorer_model_id(s), n, errors);
    claims_scorer_close(s);
    return 0;
}
