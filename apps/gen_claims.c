/* gen_claims: writes synthetic health-insurance claims as JSONL, and with
 * --split PREFIX also the patient-disjoint PREFIX.{train,valid,test}.jsonl.
 * The same seed gives byte-identical output. Prints denial/fraud shares and
 * speed. Run with --help for the options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/cli.h"
#include "models/claims/data/codes.h"
#include "models/claims/data/dataset.h"
#include "models/claims/synth/gen.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "gen_claims: %s: %s\n", what, tg_last_error());
    return 1;
}

static void report(const claims_gen_stats *st, const char *path, double dt)
{
    double n = st->n ? (double)st->n : 1.0;
    fprintf(stderr,
            "gen_claims: %ld claims to %s in %.2f s (%.0f claims/s); deny %.2f%%, fraud %.2f%%, long notes %ld\n",
            st->n, path, dt, (double)st->n / (dt > 0 ? dt : 1e-9), 100.0 * st->denied / n, 100.0 * st->fraud / n,
            st->long_notes);
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++)
        fprintf(stderr, "  %-10s %6ld (%.2f%%)\n", claims_deny_reason_name((claims_deny_reason)r), st->by_reason[r],
                100.0 * st->by_reason[r] / n);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress stays in order when piped */
    long n = -1, seed = -1;
    double long_frac = 0.02, train_frac = 0.8, valid_frac = 0.1;
    const char *out_path = NULL, *codes_path = cli_data_file("codes.tsv"), *split = NULL;
    cli_opt opts[] = {
        {"n", CLI_INT, &n, 0, 1e9, "number of claims, required"},
        {"seed", CLI_INT, &seed, 0, 4294967295.0, "seed, required"},
        {"out", CLI_STRING, &out_path, 0, 0, "output JSONL file, required"},
        {"codes", CLI_STRING, &codes_path, 0, 0, "code table (TSV)"},
        {"long-frac", CLI_DOUBLE, &long_frac, 0, 1, "share of notes longer than ~8,000 tokens"},
        {"split", CLI_STRING, &split, 0, 0, "also write PREFIX.train/.valid/.test.jsonl split by patient"},
        {"train-frac", CLI_DOUBLE, &train_frac, 0, 1, "share of patients in the training split"},
        {"valid-frac", CLI_DOUBLE, &valid_frac, 0, 1, "share of patients in the validation split"},
    };
    int rc = cli_parse("gen_claims", "Writes synthetic claims with hidden adjudication rules.", opts,
                       (int)(sizeof opts / sizeof *opts), argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    if (n < 0 || seed < 0 || !out_path) {
        fprintf(stderr, "gen_claims: --n, --seed and --out are required (see --help)\n");
        return 2;
    }
    claims_codes *codes = NULL;
    if (claims_codes_load(codes_path, &codes) != TG_OK) return fail("--codes");
    FILE *out = fopen(out_path, "w");
    if (!out) {
        perror(out_path);
        return 1;
    }
    claims_gen_opts o = {.n = n, .seed = (uint64_t)seed, .long_frac = long_frac};
    claims_gen_stats st;
    double t0 = now();
    tg_status s = claims_generate(codes, &o, out, NULL, NULL, &st);
    if (fclose(out) != 0 && s == TG_OK) s = tg_error(TG_ERR_IO, "closing %s failed", out_path);
    if (s != TG_OK) return fail(out_path);
    report(&st, out_path, now() - t0);
    if (split) {
        long counts[3];
        claims_read_opts ro = {.strict = true, .codes = codes};
        claims_split_fracs f = {.train = train_frac, .valid = valid_frac};
        if (claims_split_file(out_path, split, (uint64_t)seed, f, &ro, NULL, counts) != TG_OK) return fail("--split");
        fprintf(stderr, "gen_claims: split by patient into %s.{train,valid,test}.jsonl: %ld / %ld / %ld claims\n",
                split, counts[0], counts[1], counts[2]);
    }
    claims_codes_free(codes);
    return 0;
}
