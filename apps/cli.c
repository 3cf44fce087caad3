#include "apps/cli.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cli_opt *find(cli_opt *opts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(opts[i].name, name)) return &opts[i];
    return NULL;
}

static int set_number(const char *where, cli_opt *o, const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    bool integral = o->type != CLI_INT || v == floor(v);
    if (errno || end == text || *end || !isfinite(v) || !integral || v < o->min || v > o->max) {
        fprintf(stderr, "%s: expected %s in [%g, %g], got '%s'\n", where,
                o->type == CLI_INT ? "an integer" : "a number", o->min, o->max, text);
        return 2;
    }
    if (o->type == CLI_INT)
        *(long *)o->value = (long)v;
    else
        *(double *)o->value = v;
    return 0;
}

static int apply_json(const char *path, cli_opt *opts, int n)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!json_is_object(root)) {
        fprintf(stderr, "config %s:%d: %s\n", path, err.line, root ? "expected a JSON object" : err.text);
        json_decref(root);
        return 2;
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v)
    {
        char where[512];
        snprintf(where, sizeof where, "config %s: key '%s'", path, key);
        cli_opt *o = find(opts, n, key);
        if (!o || !strcmp(key, "config")) {
            fprintf(stderr, "%s: unknown option\n", where);
            rc = 2;
        } else if (o->type == CLI_FLAG) {
            if (!json_is_boolean(v))
                fprintf(stderr, "%s: expected true or false\n", where), rc = 2;
            else
                *(bool *)o->value = json_is_true(v);
        } else if (o->type == CLI_STRING) {
            if (!json_is_string(v))
                fprintf(stderr, "%s: expected a string\n", where), rc = 2;
            else
                *(const char **)o->value = strdup(json_string_value(v)); /* lives for the run */
        } else if (!json_is_number(v)) {
            fprintf(stderr, "%s: expected a number\n", where);
            rc = 2;
        } else {
            char text[64];
            snprintf(text, sizeof text, "%.17g", json_number_value(v));
            rc |= set_number(where, o, text);
        }
        if (rc) break;
    }
    json_decref(root);
    return rc;
}

void cli_usage(FILE *f, const char *prog, const char *summary, const cli_opt *opts, int n)
{
    fprintf(f, "usage: %s [options]\n%s\n\noptions (also accepted as keys of a JSON --config file):\n", prog, summary);
    for (int i = 0; i < n; i++) {
        const cli_opt *o = &opts[i];
        char def[64] = "";
        if (o->type == CLI_INT) snprintf(def, sizeof def, " (default %ld)", *(long *)o->value);
        if (o->type == CLI_DOUBLE) snprintf(def, sizeof def, " (default %g)", *(double *)o->value);
        if (o->type == CLI_STRING && *(const char **)o->value)
            snprintf(def, sizeof def, " (default %s)", *(const char **)o->value);
        fprintf(f, "  --%-16s %s%s\n", o->name, o->help, def);
    }
    fprintf(f, "  --%-16s %s\n  --%-16s %s\n", "config FILE", "JSON object of the options above", "help", "this text");
}

int cli_parse(const char *prog, const char *summary, cli_opt *opts, int n, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_usage(stdout, prog, summary, opts, n);
            return 1;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --config needs a file\n", prog);
                return 2;
            }
            if (apply_json(argv[i + 1], opts, n)) return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        cli_opt *o = strncmp(argv[i], "--", 2) ? NULL : find(opts, n, argv[i] + 2);
        if (!o) {
            fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", prog, argv[i]);
            return 2;
        }
        if (o->type == CLI_FLAG) {
            *(bool *)o->value = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: --%s needs a value (see --help)\n", prog, o->name);
            return 2;
        }
        const char *text = argv[++i];
        if (o->type == CLI_STRING) {
            *(const char **)o->value = text;
        } else {
            char where[128];
            snprintf(where, sizeof where, "%s: --%s", prog, o->name);
            if (set_number(where, o, text)) return 2;
        }
    }
    return 0;
}

/* The folder of the running program, or "." when /proc cannot tell. */
static void program_dir(char *dir, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", dir, n - 1);
    if (len <= 0) len = 0;
    dir[len] = 0;
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, n, ".");
}

const char *cli_data_file(const char *name)
{
    static char path[4096];
    const char *env = getenv("TG_DATA_DIR");
    if (env && *env) {
        snprintf(path, sizeof path, "%s/%s", env, name);
        return path;
    }
    char dir[3072];
    program_dir(dir, sizeof dir);
    const char *const rel[] = {"/../share/tensorgrad/", "/share/tensorgrad/"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s%s", dir, rel[i], name);
        if (access(path, R_OK) == 0) break;
    }
    return path;
}
