/* gen_claims: writes synthetic health-insurance claims as JSONL.
 *
 *   gen_claims --n N --seed S --out FILE [--codes PATH] [--long-frac F]
 *
 * The same seed gives byte-identical output. Without --codes the code table
 * is read from the source tree this program was built from
 * (<source>/models/claims/data/codes.tsv, located through __FILE__, which
 * CMake passes as an absolute path). Prints denial/fraud shares and speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/claims/codes.h"
#include "models/claims/gen.h"

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s --n N --seed S --out FILE [--codes PATH] [--long-frac F]\n", argv0);
    exit(2);
}

/* <dir of the source tree>/models/claims/data/codes.tsv, from this file's path. */
static void default_codes_path(char *out, size_t len)
{
    const char *self = __FILE__, *tail = strstr(self, "apps/gen_claims.c");
    int root = tail ? (int)(tail - self) : 0;
    snprintf(out, len, "%.*smodels/claims/data/codes.tsv", root, self);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    claims_gen_opts o = {.n = -1, .seed = 0, .long_frac = 0.02};
    const char *out_path = NULL;
    char codes_path[4096];
    default_codes_path(codes_path, sizeof codes_path);
    bool have_seed = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v) usage(argv[0]);
        if (!strcmp(a, "--n")) o.n = strtol(v, &end, 10);
        else if (!strcmp(a, "--seed")) { o.seed = strtoull(v, &end, 10); have_seed = true; }
        else if (!strcmp(a, "--out")) { out_path = v; end = (char *)""; }
        else if (!strcmp(a, "--codes")) { snprintf(codes_path, sizeof codes_path, "%s", v); end = (char *)""; }
        else if (!strcmp(a, "--long-frac")) o.long_frac = strtod(v, &end);
        else usage(argv[0]);
        if (!end || *end) {
            fprintf(stderr, "gen_claims: bad value '%s' for %s\n", v, a);
            return 2;
        }
        i++;
    }
    if (o.n < 0 || !have_seed || !out_path) usage(argv[0]);
    claims_codes *codes = NULL;
    if (claims_codes_load(codes_path, &codes) != TG_OK) {
        fprintf(stderr, "gen_claims: %s\n", tg_last_error());
        return 1;
    }
    FILE *out = fopen(out_path, "w");
    if (!out) {
        perror(out_path);
        claims_codes_free(codes);
        return 1;
    }
    claims_gen_stats st;
    double t0 = now();
    tg_status s = claims_generate(codes, &o, out, NULL, NULL, &st);
    if (fclose(out) != 0 && s == TG_OK) s = tg_error(TG_ERR_IO, "closing %s failed", out_path);
    double dt = now() - t0;
    claims_codes_free(codes);
    if (s != TG_OK) {
        fprintf(stderr, "gen_claims: %s\n", tg_last_error());
        return 1;
    }
    double n = st.n ? (double)st.n : 1.0;
    fprintf(stderr, "gen_claims: %ld claims to %s in %.2f s (%.0f claims/s); deny %.2f%%, fraud %.2f%%, long notes %ld\n",
            st.n, out_path, dt, (double)st.n / (dt > 0 ? dt : 1e-9), 100.0 * st.denied / n, 100.0 * st.fraud / n,
            st.long_notes);
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++)
        fprintf(stderr, "  %-10s %6ld (%.2f%%)\n", claims_deny_reason_name((claims_deny_reason)r), st.by_reason[r],
                100.0 * st.by_reason[r] / n);
    return 0;
}
