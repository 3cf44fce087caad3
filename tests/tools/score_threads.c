/* The scorer from several threads: one scorer shared by two threads, and one
 * scorer per thread, give exactly the records of one thread alone (each
 * call scored on its own history, so the interleaving cannot matter).
 * Usage: score_threads CHECKPOINT CODES.tsv CLAIMS.jsonl */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/score/scorer.h"

#define MAX 512

static char *lines[MAX];
static size_t lens[MAX], n;
static long no[MAX];

typedef struct job {
    claims_scorer *s;
    char *rec[MAX];
    int rc;
} job;

/* Scores the lines in chunks of 16, as a service would. */
static void *run(void *arg)
{
    job *j = arg;
    for (size_t i = 0; i < n && !j->rc; i += 16) {
        size_t k = n - i < 16 ? n - i : 16;
        j->rc =
            claims_scorer_score(j->s, (const char *const *)lines + i, lens + i, no + i, k, j->rec + i, NULL) != TG_OK;
    }
    return NULL;
}

static int same(const job *a, const job *b, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a->rec[i], b->rec[i])) {
            fprintf(stderr, "%s: record %zu differs\n  %s\n  %s\n", what, i + 1, a->rec[i], b->rec[i]);
            return 1;
        }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) return 2;
    FILE *f = fopen(argv[3], "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (f && n < MAX && (got = getline(&line, &cap, f)) > 0) {
        lines[n] = strndup(line, (size_t)got - (line[got - 1] == '\n'));
        lens[n] = strlen(lines[n]), no[n] = (long)n + 1, n++;
    }
    free(line);
    if (f) fclose(f);
    claims_scorer_opts o = {.codes_path = argv[2], .threads = 1, .per_call_history = true};
    claims_scorer *a, *b, *c;
    if (claims_scorer_open(argv[1], &o, &a) || claims_scorer_open(argv[1], &o, &b) ||
        claims_scorer_open(argv[1], &o, &c)) {
        fprintf(stderr, "open failed\n");
        return 1;
    }
    job alone = {.s = a}, shared1 = {.s = b}, shared2 = {.s = b}, own = {.s = c};
    run(&alone);
    pthread_t t1, t2, t3;
    pthread_create(&t1, NULL, run, &shared1);
    pthread_create(&t2, NULL, run, &shared2);
    pthread_create(&t3, NULL, run, &own);
    pthread_join(t1, NULL), pthread_join(t2, NULL), pthread_join(t3, NULL);
    int bad = alone.rc || shared1.rc || shared2.rc || own.rc || same(&alone, &own, "own scorer on another thread") ||
              same(&alone, &shared1, "shared scorer, thread 1") || same(&alone, &shared2, "shared scorer, thread 2");
    printf("score_threads: %zu claims, %s\n", n,
           bad ? "FAILED" : "same records on one thread, another thread, and a shared scorer");
    claims_scorer_close(a), claims_scorer_close(b), claims_scorer_close(c);
    job *jobs[] = {&alone, &shared1, &shared2, &own};
    for (size_t j = 0; j < 4; j++)
        for (size_t i = 0; i < n; i++) free(jobs[j]->rec[i]);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    return bad;
}
