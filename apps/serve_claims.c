/* serve_claims: an HTTP scoring service over a trained model (scorer.h).
 *
 *   GET  /health  200 {"status":"ok","model_id":...}
 *   POST /score   one claim (a JSON object): 200 with its record, or 422
 *                 with the error record when it is not a valid claim;
 *                 a batch (a JSON array of claims, or JSONL): 200 with a
 *                 JSON array of records in order, error records in place;
 *                 a body that is not JSON: 400 {"error":...}; a body over
 *                 --max-body: 413.
 * Unknown paths give 404, a wrong method 405; only the model failing
 * itself gives a 5xx. SIGTERM/SIGINT stop accepting, let in-flight
 * requests finish (up to --timeout), close the scorer and exit 0. */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/cli.h"
#include "models/claims/score/scorer.h"

typedef struct claims_server {
    claims_scorer *scorer;
    size_t max_body;
} claims_server;

/* A POST body being received: kept in the connection's con_cls. */
typedef struct claims_body {
    char *data;
    size_t len, cap;
    bool too_big; /* over --max-body: the rest is discarded, 413 at the end */
} claims_body;

/* Queues a response that takes ownership of the malloc'd text. */
static enum MHD_Result claims_reply(struct MHD_Connection *c, unsigned code, char *text)
{
    if (!text) return MHD_NO; /* out of memory: MHD drops the connection */
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result claims_reply_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return claims_reply(c, code, text);
}

static enum MHD_Result claims_health(struct MHD_Connection *c, const claims_server *srv)
{
    json_t *j = json_pack("{s:s,s:s}", "status", "ok", "model_id", claims_scorer_model_id(srv->scorer));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return claims_reply(c, MHD_HTTP_OK, text);
}

/* Appends upload data unless the body would pass the cap. */
static void claims_body_append(claims_body *b, const char *data, size_t n, size_t max)
{
    if (b->too_big) return;
    if (n > max - b->len) {
        b->too_big = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) { /* treated as too big: the client sent more than we can hold */
            b->too_big = true;
            return;
        }
        b->data = p, b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Scores n lines as one batch and joins the records into a JSON array. */
static enum MHD_Result claims_reply_batch(struct MHD_Connection *c, const claims_server *srv, char **lines, size_t n)
{
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    long *nos = calloc(n ? n : 1, sizeof *nos);
    char **recs = calloc(n ? n : 1, sizeof *recs);
    size_t total = 3;
    tg_status st = TG_ERR_OOM;
    if (lens && nos && recs) {
        for (size_t i = 0; i < n; i++) lens[i] = strlen(lines[i]), nos[i] = (long)i + 1;
        st = n ? claims_scorer_score(srv->scorer, (const char *const *)lines, lens, nos, n, recs, NULL) : TG_OK;
    }
    char *text = NULL;
    if (st == TG_OK) {
        for (size_t i = 0; i < n; i++) total += strlen(recs[i]) + 1;
        text = malloc(total);
    }
    if (text) {
        size_t at = 0;
        text[at++] = '[';
        for (size_t i = 0; i < n; i++) {
            if (i) text[at++] = ',';
            size_t l = strlen(recs[i]);
            memcpy(text + at, recs[i], l);
            at += l;
        }
        text[at++] = ']';
        text[at] = '\0';
    }
    for (size_t i = 0; st == TG_OK && i < n; i++) free(recs[i]);
    free(lens), free(nos), free(recs);
    if (st != TG_OK || !text) return claims_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "scoring failed");
    return claims_reply(c, MHD_HTTP_OK, text);
}

/* A JSON array: each element re-serialized into one line for the scorer. */
static enum MHD_Result claims_score_array(struct MHD_Connection *c, const claims_server *srv, json_t *arr)
{
    size_t n = json_array_size(arr);
    char **lines = calloc(n ? n : 1, sizeof *lines);
    bool ok = lines != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (lines[i] = json_dumps(json_array_get(arr, i), JSON_COMPACT | JSON_ENCODE_ANY)) != NULL;
    enum MHD_Result ret = ok ? claims_reply_batch(c, srv, lines, n)
                             : claims_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    for (size_t i = 0; lines && i < n; i++) free(lines[i]);
    free(lines);
    return ret;
}

/* One claim: 200 with its record, 422 when the scorer calls it invalid. */
static enum MHD_Result claims_score_single(struct MHD_Connection *c, const claims_server *srv, const char *json,
                                           size_t len)
{
    char *rec = NULL;
    if (claims_scorer_score_one(srv->scorer, json, len, &rec) != TG_OK || !rec)
        return claims_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "scoring failed");
    json_t *r = json_loads(rec, 0, NULL);
    bool invalid = r && json_object_get(r, "error");
    json_decref(r);
    return claims_reply(c, invalid ? MHD_HTTP_UNPROCESSABLE_CONTENT : MHD_HTTP_OK, rec);
}

/* JSONL: splits the body in place into its non-empty lines. */
static size_t claims_split_lines(char *body, char ***out)
{
    size_t n = 0, cap = 0;
    char **lines = NULL;
    for (char *save = NULL, *l = strtok_r(body, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(lines, cap * sizeof *p);
            if (!p) break;
            lines = p;
        }
        lines[n++] = l;
    }
    *out = lines;
    return n;
}

/* A body that is not one JSON value may be JSONL: two or more lines of
 * which the first is JSON (later malformed lines get error records). */
static enum MHD_Result claims_score_jsonl(struct MHD_Connection *c, const claims_server *srv, char *body,
                                          const json_error_t *err)
{
    char **lines = NULL;
    size_t n = claims_split_lines(body, &lines);
    json_t *first = n >= 2 ? json_loads(lines[0], JSON_DECODE_ANY, NULL) : NULL;
    enum MHD_Result ret;
    if (first) {
        ret = claims_reply_batch(c, srv, lines, n);
    } else {
        char msg[256];
        snprintf(msg, sizeof msg, "body is not JSON: %s (line %d, column %d)", err->text, err->line, err->column);
        ret = claims_reply_error(c, MHD_HTTP_BAD_REQUEST, msg);
    }
    json_decref(first);
    free(lines);
    return ret;
}

static enum MHD_Result claims_score(struct MHD_Connection *c, const claims_server *srv, claims_body *b)
{
    if (b->too_big) return claims_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body exceeds --max-body");
    if (!b->data || strspn(b->data, " \t\r\n") == b->len)
        return claims_reply_error(c, MHD_HTTP_BAD_REQUEST, "empty body");
    json_error_t err;
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY, &err);
    if (!j) return claims_score_jsonl(c, srv, b->data, &err);
    enum MHD_Result ret =
        json_is_array(j) ? claims_score_array(c, srv, j) : claims_score_single(c, srv, b->data, b->len);
    json_decref(j);
    return ret;
}

/* A Content-Length over the cap is refused before the body is read. */
static bool claims_declared_too_big(struct MHD_Connection *c, size_t max)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoull(cl, NULL, 10) > max;
}

static enum MHD_Result claims_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                     const char *version, const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    (void)version;
    const claims_server *srv = cls;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (!*con_cls) { /* headers only: route, then start a body for POST /score */
        if (strcmp(url, "/health") == 0) {
            if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
                return claims_reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
            return claims_health(c, srv);
        }
        if (strcmp(url, "/score")) return claims_reply_error(c, MHD_HTTP_NOT_FOUND, "no such path");
        if (!post) return claims_reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        if (claims_declared_too_big(c, srv->max_body))
            return claims_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body exceeds --max-body");
        claims_body *b = calloc(1, sizeof *b);
        if (!b) return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    claims_body *b = *con_cls;
    if (*upload_data_size) {
        claims_body_append(b, upload_data, *upload_data_size, srv->max_body);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return claims_score(c, srv, b);
}

static void claims_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    claims_body *b = *con_cls;
    if (b) free(b->data);
    free(b);
    *con_cls = NULL;
}

/* Waits for SIGTERM/SIGINT, which main blocked in every thread. */
static void claims_wait_signal(const sigset_t *set)
{
    int sig = 0;
    sigwait(set, &sig);
    fprintf(stderr, "serve_claims: signal %d, shutting down\n", sig);
}

/* Stops accepting, then lets open connections finish for up to timeout s. */
static void claims_drain(struct MHD_Daemon *d, long timeout)
{
    MHD_quiesce_daemon(d);
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (long waited = 0; waited < timeout * 50; waited++) {
        const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!i || i->num_connections == 0) break;
        nanosleep(&tick, NULL);
    }
    MHD_stop_daemon(d);
}

static struct MHD_Daemon *claims_start(claims_server *srv, const char *bind, long port, long timeout, long workers)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, bind, &addr.sin_addr) != 1) {
        fprintf(stderr, "serve_claims: --bind: '%s' is not an IPv4 address\n", bind);
        return NULL;
    }
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
                         claims_access, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout, MHD_OPTION_THREAD_POOL_SIZE,
                         (unsigned)workers, MHD_OPTION_NOTIFY_COMPLETED, claims_completed, NULL, MHD_OPTION_END);
    if (!d) fprintf(stderr, "serve_claims: cannot listen on %s:%ld\n", bind, port);
    return d;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *codes = cli_data_file("codes.tsv"), *bind = "127.0.0.1";
    long port = 8080, max_body = 1 << 20, timeout = 30, threads = 0, workers = 4;
    double review_cost = 0;
    cli_opt opts[] = {
        {"model", CLI_STRING, &model, 0, 0, "checkpoint written by train_claims, required"},
        {"codes", CLI_STRING, &codes, 0, 0, "code table (TSV), the one the model was trained with"},
        {"port", CLI_INT, &port, 0, 65535, "TCP port (0: pick a free one and print it)"},
        {"bind", CLI_STRING, &bind, 0, 0, "IPv4 address to listen on"},
        {"max-body", CLI_INT, &max_body, 1, 1L << 30, "largest request body in bytes (larger: 413)"},
        {"timeout", CLI_INT, &timeout, 1, 3600, "idle connection timeout and shutdown grace, seconds"},
        {"threads", CLI_INT, &threads, 0, 1024, "scorer threads (0: default)"},
        {"workers", CLI_INT, &workers, 1, 256, "HTTP worker threads (scoring itself is serialized)"},
        {"review-cost", CLI_DOUBLE, &review_cost, 0, 1e9, "cost of pending a claim for human review (0: never)"},
    };
    int rc = cli_parse("serve_claims", "Serves claim scoring over HTTP (GET /health, POST /score).", opts,
                       (int)(sizeof opts / sizeof *opts), argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model) {
        fprintf(stderr, "serve_claims: --model is required (see --help)\n");
        return 2;
    }
    claims_scorer_opts so = {
        .codes_path = codes, .threads = (int)threads, .review_cost = review_cost, .per_call_history = true};
    claims_server srv = {.max_body = (size_t)max_body};
    if (claims_scorer_open(model, &so, &srv.scorer) != TG_OK) {
        fprintf(stderr, "serve_claims: --model: %s\n", tg_last_error());
        return 1;
    }
    /* blocked before MHD starts its threads, so only sigwait sees them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = claims_start(&srv, bind, port, timeout, workers);
    if (!d) {
        claims_scorer_close(srv.scorer);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("serve_claims: listening on http://%s:%u model %s\n", bind, info ? info->port : (unsigned)port,
           claims_scorer_model_id(srv.scorer));
    fflush(stdout);
    claims_wait_signal(&set);
    claims_drain(d, timeout);
    claims_scorer_close(srv.scorer);
    fprintf(stderr, "serve_claims: stopped\n");
    return 0;
}
