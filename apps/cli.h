/* Command-line and config-file options shared by the claims apps: a table of
 * typed options, parsed from argv and from a JSON config file, with errors
 * that name the flag or key and the expected value. */
#ifndef CLAIMS_CLI_H
#define CLAIMS_CLI_H

#include <stdbool.h>
#include <stdio.h>

typedef enum cli_type { CLI_INT, CLI_DOUBLE, CLI_STRING, CLI_FLAG } cli_type;

typedef struct cli_opt {
    const char *name; /* flag without "--"; also the config key */
    cli_type type;
    void *value;     /* long *, double *, const char **, bool * */
    double min, max; /* inclusive range for numbers */
    const char *help;
} cli_opt;

/* Parses argv[1..]; "--config FILE" is applied first, flags override it.
 * Returns 0, or prints the error (and usage hint) to stderr and returns 2;
 * returns 1 after printing help for --help. */
int cli_parse(const char *prog, const char *summary, cli_opt *opts, int n, int argc, char **argv);

/* Path of an installed data file (e.g. "codes.tsv"): $TG_DATA_DIR/<name>
 * when that variable is set, else <prefix>/share/tensorgrad/<name> beside
 * the running program (<prefix>/bin/prog or, in a build tree, <build>/prog
 * with <build>/share/tensorgrad), so an installed tree can be moved. Returns
 * a static string (the last candidate when none exists, for the error). */
const char *cli_data_file(const char *name);

/* Prints the options with their help and defaults. */
void cli_usage(FILE *f, const char *prog, const char *summary, const cli_opt *opts, int n);

#endif
