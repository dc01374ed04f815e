/* config.c - MCP server and skills configuration stored per project directory
 * (http-api.md §8): GET/PUT/DELETE /v1/config/mcp and /v1/config/skills.
 *
 * Each kind lives in one file, <directory>/.sandbox-agent/config/{mcp,skills}.json: a JSON
 * object mapping entry name to config, pretty-printed with 2-space indent, entry names
 * sorted, no trailing newline, exactly as the reference writes it so agents (and the
 * reference itself) read the same bytes (config_schema.c). Every request re-reads the file,
 * since other tools (or the fs API) may edit it between requests. Writes go to a temp file
 * in the same directory that is fsync'ed and renamed over the target, so a crash never
 * leaves a truncated config behind (config_file.c).
 *
 * The query and the body are checked on the loop; the file work (stat, read, mkdir, write,
 * fsync, rename) runs on libuv's thread pool, since an fsync can take tens of milliseconds
 * and would stall every other client. Config jobs run one at a time, in arrival order: a
 * PUT or DELETE is a read-modify-write of a whole file, and two of them on the same file at
 * once would lose one update. Config requests are rare, so one queue for all files costs
 * nothing measurable.
 *
 * Input is validated strictly against the schemas the reference accepts (§8.2, §8.3) and
 * normalised before it is stored, and the whole file goes through the same validation when
 * read: one bad entry breaks every name, as in the reference. */
#include "config/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- requests ------------------------------------------------------------------------------ */

/* The parsed query of one request. Owner: the handler's stack; config_query_free. */
typedef struct config_query {
    char *dir;  /* `directory`, decoded */
    char *name; /* `mcpName` / `skillName`, decoded */
} config_query;

static void config_query_free(config_query *q) {
    free(q->dir);
    free(q->name);
}

/* The extractor step: both keys present, each once, valid percent-encoded UTF-8. The
 * reference answers these in plain text; we answer problem JSON with the same 400 (§2.8).
 * Non-UTF-8 or NUL in a value is refused here too (project-wide rule), where the reference
 * decodes lossily. Unknown keys are ignored, as in the reference. */
static bool config_parse_query(http_req *req, const config_kind *k, config_query *q) {
    const char *keys[2] = {"directory", k->name_key};
    char **vals[2] = {&q->dir, &q->name};
    for (int i = 0; i < 2; i++) {
        int r = http_query_get(req, keys[i], vals[i]);
        if (r < 0) {
            http_problem_invalid_request(req,
                                         "failed to deserialize query string: `%s` must be given "
                                         "at most once, as percent-encoded UTF-8 without NUL",
                                         keys[i]);
            return false;
        }
        if (r == 0) {
            http_problem_invalid_request(
                req, "failed to deserialize query string: missing field `%s`", keys[i]);
            return false;
        }
    }
    return true;
}

/* The handler step, after the body was read: empty values are refused with the
 * reference's own problem, directory first. */
static bool config_check_query(http_req *req, const config_kind *k, config_query *q) {
    if (!q->dir[0] || !q->name[0]) {
        http_problem_invalid_request(req, "missing required '%s' query parameter",
                                     !q->dir[0] ? "directory" : k->name_key);
        return false;
    }
    return true;
}

static void config_problem_not_found(http_req *req, const config_kind *k, const char *name) {
    char *id = base_xasprintf("%s:%s", k->id_prefix, name);
    char *detail = base_xasprintf("session not found: %s", id);
    http_reply_problem(req, 404, "session_not_found", "Session Not Found", detail,
                       json_pack("{s:s}", "sessionId", id));
    free(detail);
    free(id);
}

static void config_problem_io(http_req *req, const char *message) {
    http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error", message);
}

static void config_problem_file(http_req *req, const char *path, const char *message) {
    http_problem_invalid_request(req, "invalid config file %s: %s", path, message);
}

static void config_problem_body(http_req *req, const char *message) {
    char *detail = base_xasprintf(
        "invalid request: failed to deserialize the JSON body into the target type: %s", message);
    http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity", detail, NULL);
    free(detail);
}

/* ---- jobs ---------------------------------------------------------------------------------- */

typedef enum { CONFIG_OP_GET, CONFIG_OP_PUT, CONFIG_OP_DELETE } config_op;

/* How a job ended, turned into the answer on the loop. */
typedef enum {
    CONFIG_OK,        /* 200 with body (GET) or 204 (PUT, DELETE) */
    CONFIG_NOT_FOUND, /* 404 session_not_found */
    CONFIG_IO,        /* 502 stream_error: msg */
    CONFIG_BAD_FILE,  /* 400: the file at path is invalid: msg */
} config_outcome;

/* One request's file work. Owner: the queue until the job ran, then config_job_after, which
 * answers (unless the client left) and frees it. */
typedef struct config_job {
    uv_work_t work;
    http_req *req; /* NULL once the client left; the job still runs (a write is kept) */
    uv_loop_t *loop;
    const config_kind *kind;
    config_op op;
    config_query q;
    json_t *entry; /* PUT: the normalised entry (owned) */
    /* results, written by the work function */
    char *path; /* absolute path of the config file */
    config_outcome outcome;
    char *body; /* GET: the entry, serialised */
    char msg[1024];
    struct config_job *next; /* queue link */
} config_job;

/* Jobs waiting for their turn; `config_running` is the one on the thread pool. Loop only. */
static config_job *config_queue_head, *config_queue_tail, *config_running;

/* Load and validate the file: false with the outcome set on failure; otherwise *map is the
 * normalised map, or NULL when the file does not exist. */
static bool config_job_load(config_job *j, json_t **map) {
    base_buf b;
    base_buf_init(&b);
    *map = NULL;
    config_read_result r = config_read(j->path, &b, j->msg, sizeof j->msg);
    if (r == CONFIG_READ_OK) {
        *map = config_parse_file(j->kind, b.data ? b.data : "", b.len, j->msg, sizeof j->msg);
        if (!*map)
            j->outcome = CONFIG_BAD_FILE;
    } else if (r == CONFIG_READ_FAILED) {
        j->outcome = CONFIG_IO;
    }
    base_buf_free(&b);
    return r != CONFIG_READ_FAILED && (r == CONFIG_READ_MISSING || *map);
}

static bool config_job_save(config_job *j, json_t *map) {
    char *s = config_dump(map, JSON_INDENT(2));
    int r = config_write(j->path, s, strlen(s));
    free(s);
    if (r < 0) {
        config_os_error(j->msg, sizeof j->msg, -r);
        j->outcome = CONFIG_IO;
        return false;
    }
    return true;
}

/* GET: not found when the file cannot be stat'ed (missing file or directory, or a path
 * component that is not a directory: the reference checks existence first) or the entry
 * is absent. */
static void config_work_get(config_job *j) {
    struct stat st;
    json_t *map = NULL;
    if (stat(j->path, &st) < 0) {
        j->outcome = CONFIG_NOT_FOUND;
    } else if (config_job_load(j, &map)) {
        json_t *entry = map ? json_object_get(map, j->q.name) : NULL;
        if (entry)
            j->body = config_dump(entry, JSON_COMPACT);
        else
            j->outcome = CONFIG_NOT_FOUND;
    }
    json_decref(map);
}

/* PUT: create the directories, replace the named entry, rewrite the file. */
static void config_work_put(config_job *j) {
    char *parent = base_xstrndup(j->path, (size_t)(strrchr(j->path, '/') - j->path));
    int r = base_mkdirs(parent);
    free(parent);
    if (r < 0) {
        config_os_error(j->msg, sizeof j->msg, -r);
        j->outcome = CONFIG_IO;
        return;
    }
    json_t *map = NULL;
    if (!config_job_load(j, &map))
        return;
    if (!map)
        map = json_object();
    json_object_set(map, j->q.name, j->entry);
    /* A new name lands at the end: re-sort so the file keeps the reference's order. */
    json_t *sorted = config_sorted(map);
    config_job_save(j, sorted);
    json_decref(sorted);
    json_decref(map);
}

/* DELETE: fine whether or not the entry, file or directory exists. An unreadable or invalid
 * file is still an error (502 / 400), as in the reference. Unlike the reference, which
 * rewrites the file (creating `{}` and its directories when absent), nothing is written
 * when there is nothing to remove (spec §8.1: "Nothing is created when absent"). */
static void config_work_delete(config_job *j) {
    json_t *map = NULL;
    if (!config_job_load(j, &map))
        return;
    if (map && json_object_get(map, j->q.name)) {
        json_object_del(map, j->q.name);
        config_job_save(j, map);
    }
    json_decref(map);
}

static void config_job_work(uv_work_t *w) {
    config_job *j = w->data;
    j->path = config_file_path(j->q.dir, j->kind->file);
    switch (j->op) {
    case CONFIG_OP_GET:
        config_work_get(j);
        break;
    case CONFIG_OP_PUT:
        config_work_put(j);
        break;
    case CONFIG_OP_DELETE:
        config_work_delete(j);
        break;
    }
}

static void config_job_answer(config_job *j) {
    http_req *req = j->req;
    switch (j->outcome) {
    case CONFIG_OK:
        if (j->op == CONFIG_OP_GET)
            http_reply(req, 200, "application/json", NULL, j->body, strlen(j->body));
        else
            http_reply_empty(req, 204);
        break;
    case CONFIG_NOT_FOUND:
        config_problem_not_found(req, j->kind, j->q.name);
        break;
    case CONFIG_IO:
        config_problem_io(req, j->msg);
        break;
    case CONFIG_BAD_FILE:
        config_problem_file(req, j->path, j->msg);
        break;
    }
}

static void config_job_free(config_job *j) {
    config_query_free(&j->q);
    json_decref(j->entry);
    free(j->path);
    free(j->body);
    free(j);
}

static void config_queue_next(void);

static void config_job_after(uv_work_t *w, int status) {
    config_job *j = w->data;
    config_running = NULL;
    if (j->req) {
        http_req_on_abort(j->req, NULL, NULL);
        if (status == UV_ECANCELED) {
            j->outcome = CONFIG_IO;
            snprintf(j->msg, sizeof j->msg, "operation cancelled");
        }
        config_job_answer(j);
    }
    config_job_free(j);
    config_queue_next();
}

/* Start the next queued job unless one is running. */
static void config_queue_next(void) {
    while (!config_running && config_queue_head) {
        config_job *j = config_queue_head;
        config_queue_head = j->next;
        if (!config_queue_head)
            config_queue_tail = NULL;
        int r = uv_queue_work(j->loop, &j->work, config_job_work, config_job_after);
        if (r == 0) {
            config_running = j;
            return;
        }
        if (j->req) {
            http_req_on_abort(j->req, NULL, NULL);
            config_problem_io(j->req, uv_strerror(r));
        }
        config_job_free(j);
    }
}

static void config_job_abort(http_req *req, void *ud) {
    config_job *j = ud;
    j->req = NULL; /* the job still runs in its turn; the answer is dropped */
}

/* Queue the file work of a request whose query (and body) were accepted. Takes q and entry. */
static void config_job_start(http_req *req, const config_kind *k, config_op op, config_query *q,
                             json_t *entry) {
    config_job *j = base_xcalloc(1, sizeof *j);
    j->work.data = j;
    j->req = req;
    j->loop = http_req_loop(req);
    j->kind = k;
    j->op = op;
    j->q = *q;
    memset(q, 0, sizeof *q);
    j->entry = entry;
    http_req_on_abort(req, config_job_abort, j);
    if (config_queue_tail)
        config_queue_tail->next = j;
    else
        config_queue_head = j;
    config_queue_tail = j;
    config_queue_next();
}

/* ---- handlers ------------------------------------------------------------------------------ */

/* GET (and HEAD). */
static void config_get_handler(http_req *req, void *ud) {
    const config_kind *k = ud;
    config_query q = {0};
    if (config_parse_query(req, k, &q) && config_check_query(req, k, &q))
        config_job_start(req, k, CONFIG_OP_GET, &q, NULL);
    config_query_free(&q);
}

/* The PUT body: content type (415), syntax (400) and object shape (422) via the http layer,
 * then duplicate member names (422; the reference refuses duplicated struct fields, and we
 * refuse all duplicates rather than guess which copy was meant), then the schema. */
static json_t *config_body(http_req *req, const config_kind *k) {
    json_t *loose = http_req_json_body(req, false);
    if (!loose)
        return NULL;
    json_decref(loose);
    json_error_t e;
    json_t *in = json_loadb(req->body.data, req->body.len,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    if (!in) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s at line %d column %d", e.text, e.line, e.column);
        config_problem_body(req, msg);
        return NULL;
    }
    char err[768];
    json_t *entry = config_normalize_entry(k, in, err, sizeof err);
    json_decref(in);
    if (!entry)
        config_problem_body(req, err);
    return entry;
}

/* PUT: 204 once the file was rewritten. */
static void config_put_handler(http_req *req, void *ud) {
    const config_kind *k = ud;
    config_query q = {0};
    json_t *entry = NULL;
    if (config_parse_query(req, k, &q) && (entry = config_body(req, k)) &&
        config_check_query(req, k, &q)) {
        config_job_start(req, k, CONFIG_OP_PUT, &q, entry);
        entry = NULL;
    }
    json_decref(entry);
    config_query_free(&q);
}

/* DELETE: 204 whether or not the entry existed. */
static void config_delete_handler(http_req *req, void *ud) {
    const config_kind *k = ud;
    config_query q = {0};
    if (config_parse_query(req, k, &q) && config_check_query(req, k, &q))
        config_job_start(req, k, CONFIG_OP_DELETE, &q, NULL);
    config_query_free(&q);
}

void config_routes(http_server *srv) {
    static const struct {
        const char *path;
        const config_kind *kind;
    } routes[] = {{"/v1/config/mcp", &config_mcp}, {"/v1/config/skills", &config_skills}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        void *ud = (void *)routes[i].kind;
        http_route(srv, HTTP_M_GET, routes[i].path, HTTP_ROUTE_AUTH, config_get_handler, ud);
        http_route(srv, HTTP_M_PUT, routes[i].path, HTTP_ROUTE_AUTH, config_put_handler, ud);
        http_route(srv, HTTP_M_DELETE, routes[i].path, HTTP_ROUTE_AUTH, config_delete_handler, ud);
    }
}
