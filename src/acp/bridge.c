/* bridge.c - ACP server instances: one agent process each, bridged to HTTP.
 *
 * POST /v1/acp/{id} writes one envelope to the agent's stdin; requests wait for the
 * matching response, everything else is answered 202 once written. Every stdout line is
 * appended to the instance journal and fanned out to SSE subscribers (GET). DELETE ends
 * the streams and stops the agent's process group.
 *
 * Deliberate fixes over the reference: DELETE answers 204 promptly (after a short,
 * bounded shutdown of the agent); a request whose agent dies fails at once with 500
 * agent_process_exited; a live but silent agent yields 504 at the request timeout. */
#include "acp/acp.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "agents/install.h"
#include "proc/proc.h"

#define ACP_STDERR_TAIL_LINES 40
#define ACP_STDERR_TAIL_BYTES 8192
#define ACP_MAX_LINE_BYTES (64u << 20)

typedef struct acp_instance acp_instance;

/* A POST waiting for something: the agent's response (requests) or the stdin write
 * (notifications and responses). Owner: its instance's pending list; freed once it is
 * answered (or its HTTP request aborted) AND its stdin write has completed. */
typedef struct acp_pending {
    acp_instance *inst;
    http_req *req; /* NULL once answered or aborted */
    json_t *id;    /* request id (requests only) */
    bool is_request;
    bool write_inflight;
    bool listed;
    uv_timer_t *timer; /* request timeout; closed asynchronously */
    struct acp_pending *next, *prev;
} acp_pending;

/* One SSE subscriber. Owner: its instance's stream list; freed when its heartbeat timer
 * has closed after the stream ended or the client left. */
typedef struct acp_stream {
    acp_instance *inst;
    http_req *req;
    acp_journal_sub *sub;
    uv_timer_t *heartbeat;
    struct acp_stream *next, *prev;
} acp_stream;

/* A DELETE waiting for the agent to be gone. Owner: the instance's waiter list. */
typedef struct acp_waiter {
    http_req *req;
    struct acp_waiter *next;
} acp_waiter;

/* One ACP server instance. Owner: the bridge's table while listed; afterwards itself,
 * freed when the process has exited and no pending POST or stream refers to it. */
struct acp_instance {
    acp_bridge *bridge;
    char *server_id;
    char *agent;
    int64_t created_ms;
    proc_child *child;
    bool exited;
    int exit_code;
    int term_signal;
    bool listed;
    int busy;         /* >0 while a callback walks this instance: freeing is deferred */
    base_buf line;    /* partial stdout line */
    base_buf errline; /* partial stderr line */
    char *err_tail[ACP_STDERR_TAIL_LINES];
    size_t err_count, err_head;
    acp_journal *journal;
    acp_pending *pending;
    acp_stream *streams;
    acp_waiter *waiters;
};

/* The bridge. Owner: main; freed by acp_bridge_free after shutdown. */
struct acp_bridge {
    uv_loop_t *loop;
    acp_instance **items; /* listed instances */
    size_t n, cap;
    uint64_t request_timeout_ms;
    uint64_t heartbeat_ms;
    size_t replay_capacity;
    bool shutting_down;
    acp_instance **zombies; /* unlisted instances still winding down */
    size_t nz, capz;
};

/* ---- pure helpers ------------------------------------------------------------------------- */

acp_msg_kind acp_classify(const json_t *msg) {
    bool has_method = json_object_get(msg, "method") != NULL;
    bool has_id = json_object_get(msg, "id") != NULL;
    if (has_method && has_id)
        return ACP_MSG_REQUEST;
    if (has_method)
        return ACP_MSG_NOTIFICATION;
    return ACP_MSG_RESPONSE;
}

bool acp_id_equal(const json_t *a, const json_t *b) {
    if (!a || !b)
        return false;
    if (json_typeof(a) != json_typeof(b))
        return false;
    return json_equal((json_t *)a, (json_t *)b) != 0;
}

json_t *acp_inject_stderr(const json_t *msg, const char *stderr_text) {
    json_t *err = json_object_get(msg, "error");
    if (!json_is_object(err) || !stderr_text || !*stderr_text)
        return NULL;
    json_t *data = json_object_get(err, "data");
    if (data && !json_is_object(data))
        return NULL;
    json_t *copy = json_deep_copy(msg);
    json_t *cerr = json_object_get(copy, "error");
    json_t *cdata = json_object_get(cerr, "data");
    if (!cdata) {
        cdata = json_object();
        json_object_set_new(cerr, "data", cdata);
    }
    json_object_set_new(cdata, "agentStderr", json_string(stderr_text));
    return copy;
}

/* ---- instance bookkeeping -------------------------------------------------------------- */

static acp_instance *acp_find(acp_bridge *b, const char *id) {
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->items[i]->server_id, id))
            return b->items[i];
    return NULL;
}

static void acp_unlist(acp_instance *in) {
    acp_bridge *b = in->bridge;
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i] != in)
            continue;
        memmove(&b->items[i], &b->items[i + 1], (b->n - i - 1) * sizeof(acp_instance *));
        b->n--;
        break;
    }
    in->listed = false;
    if (b->nz == b->capz)
        b->zombies = base_xrealloc(b->zombies,
                                   (b->capz = b->capz ? b->capz * 2 : 8) * sizeof(acp_instance *));
    b->zombies[b->nz++] = in;
}

static void acp_instance_free(acp_instance *in) {
    acp_bridge *b = in->bridge;
    for (size_t i = 0; i < b->nz; i++) {
        if (b->zombies[i] != in)
            continue;
        b->zombies[i] = b->zombies[--b->nz];
        break;
    }
    proc_release(in->child);
    acp_journal_free(in->journal);
    base_buf_free(&in->line);
    base_buf_free(&in->errline);
    for (size_t i = 0; i < in->err_count; i++)
        free(in->err_tail[(in->err_head + i) % ACP_STDERR_TAIL_LINES]);
    free(in->server_id);
    free(in->agent);
    free(in);
}

static void acp_maybe_free(acp_instance *in) {
    if (in->busy || in->listed || !in->exited || in->pending || in->streams || in->waiters)
        return;
    acp_instance_free(in);
}

/* Recent stderr lines joined with '\n' (caller frees). */
static char *acp_stderr_text(acp_instance *in) {
    base_buf b;
    base_buf_init(&b);
    for (size_t i = 0; i < in->err_count; i++) {
        if (i)
            base_buf_append(&b, "\n", 1);
        base_buf_appends(&b, in->err_tail[(in->err_head + i) % ACP_STDERR_TAIL_LINES]);
    }
    if (in->errline.len) {
        if (b.len)
            base_buf_append(&b, "\n", 1);
        base_buf_append(&b, in->errline.data, in->errline.len);
    }
    return base_buf_steal(&b, NULL);
}

/* ---- pending POSTs ------------------------------------------------------------------------ */

static void acp_timer_free(uv_handle_t *h) {
    free(h);
}

static void acp_pending_release(acp_pending *p) {
    if (p->req || p->write_inflight)
        return;
    acp_instance *in = p->inst;
    if (p->listed) {
        if (p->prev)
            p->prev->next = p->next;
        else
            in->pending = p->next;
        if (p->next)
            p->next->prev = p->prev;
    }
    if (p->timer) {
        uv_close((uv_handle_t *)p->timer, acp_timer_free);
        p->timer = NULL;
    }
    json_decref(p->id);
    free(p);
    acp_maybe_free(in);
}

/* Detach the HTTP request from a pending entry (it was answered or it went away). */
static http_req *acp_pending_take(acp_pending *p) {
    http_req *req = p->req;
    if (req)
        http_req_on_abort(req, NULL, NULL);
    p->req = NULL;
    if (p->timer)
        uv_timer_stop(p->timer);
    return req;
}

static void acp_pending_abort_cb(http_req *req, void *ud) {
    acp_pending *p = ud;
    p->req = NULL;
    acp_pending_release(p);
}

static void acp_problem_exited(http_req *req, acp_instance *in) {
    char *detail = base_xasprintf("agent process exited: %s", in->agent);
    json_t *details = json_object();
    if (in->exited && in->term_signal == 0)
        json_object_set_new(details, "exitCode", json_integer(in->exit_code));
    char *err = acp_stderr_text(in);
    json_object_set_new(details, "stderr", json_string(err));
    free(err);
    http_reply_problem(req, 500, "agent_process_exited", "Agent Process Exited", detail,
                       json_pack("{s:s,s:o}", "agent", in->agent, "details", details));
    free(detail);
}

static void acp_problem_stdin(http_req *req, int uverr) {
    char *msg = base_xasprintf("failed writing to agent stdin: %s (os error %d)",
                               uverr == UV_EPIPE ? "Broken pipe" : uv_strerror(uverr),
                               uverr < 0 ? -uverr : uverr);
    http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error", msg);
    free(msg);
}

static void acp_timeout_cb(uv_timer_t *t) {
    acp_pending *p = t->data;
    http_req *req = acp_pending_take(p);
    if (req) {
        char *msg = base_xasprintf("agent did not answer within %llu ms",
                                   (unsigned long long)p->inst->bridge->request_timeout_ms);
        http_reply_problem(req, 504, "timeout", "Timeout", "timeout",
                           json_pack("{s:{s:s}}", "details", "message", msg));
        free(msg);
    }
    acp_pending_release(p);
}

static void acp_write_done(int status, void *ud) {
    acp_pending *p = ud;
    p->write_inflight = false;
    if (status < 0) {
        http_req *req = acp_pending_take(p);
        if (req)
            acp_problem_stdin(req, status);
    } else if (!p->is_request) {
        http_req *req = acp_pending_take(p);
        if (req)
            http_reply_empty(req, 202);
    }
    acp_pending_release(p);
}

/* ---- agent output --------------------------------------------------------------------------- */

static void acp_append_json(acp_instance *in, json_t *msg) {
    char *s = base_json_compact(msg);
    acp_journal_append(in->journal, s, strlen(s));
    free(s);
}

static void acp_deliver_response(acp_instance *in, json_t *msg, const char *line, size_t len) {
    json_t *id = json_object_get(msg, "id");
    for (acp_pending *p = in->pending; p; p = p->next) {
        if (!p->is_request || !p->req || !acp_id_equal(p->id, id))
            continue;
        http_req *req = acp_pending_take(p);
        char *err = acp_stderr_text(in);
        json_t *injected = acp_inject_stderr(msg, err);
        free(err);
        if (injected)
            http_reply_json(req, 200, injected);
        else
            http_reply(req, 200, "application/json", NULL, line, len);
        acp_pending_release(p);
        return; /* the first answer wins; later duplicates go to SSE only */
    }
}

static void acp_handle_line(acp_instance *in, const char *line, size_t len) {
    line = base_trim(line, &len);
    if (len == 0)
        return;
    char err[256];
    json_t *msg = base_json_parse(line, len, err, sizeof err);
    if (!msg) {
        json_t *n = json_pack("{s:s,s:s,s:{s:s,s:s%}}", "jsonrpc", "2.0", "method",
                              "_adapter/invalid_stdout", "params", "error", err, "raw", line, len);
        if (!n) /* raw was not valid UTF-8: keep what we can say about it */
            n = json_pack("{s:s,s:s,s:{s:s,s:s}}", "jsonrpc", "2.0", "method",
                          "_adapter/invalid_stdout", "params", "error", err, "raw",
                          "<non-UTF-8 output>");
        acp_append_json(in, n);
        json_decref(n);
        return;
    }
    /* Stored verbatim: the agent's line is already one compact JSON text. */
    acp_journal_append(in->journal, line, len);
    if (json_is_object(msg) && acp_classify(msg) == ACP_MSG_RESPONSE && json_object_get(msg, "id"))
        acp_deliver_response(in, msg, line, len);
    json_decref(msg);
}

static void acp_on_stdout(proc_child *c, const char *data, size_t len, void *ud) {
    acp_instance *in = ud;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n')
            continue;
        if (in->line.len) {
            base_buf_append(&in->line, data + start, i - start);
            acp_handle_line(in, in->line.data, in->line.len);
            in->line.len = 0;
        } else {
            acp_handle_line(in, data + start, i - start);
        }
        start = i + 1;
    }
    if (start < len)
        base_buf_append(&in->line, data + start, len - start);
    if (in->line.len > ACP_MAX_LINE_BYTES) {
        LOG_WARN("agent stdout line too long; discarding it", "server_id=%s bytes=%zu",
                 in->server_id, in->line.len);
        json_t *n = json_pack("{s:s,s:s,s:{s:s,s:s}}", "jsonrpc", "2.0", "method",
                              "_adapter/invalid_stdout", "params", "error",
                              "line exceeds the bridge's maximum length", "raw", "");
        acp_append_json(in, n);
        json_decref(n);
        in->line.len = 0;
    }
}

static void acp_push_stderr_line(acp_instance *in, const char *s, size_t len) {
    s = base_trim(s, &len);
    if (!len)
        return;
    if (len > ACP_STDERR_TAIL_BYTES / 4)
        len = ACP_STDERR_TAIL_BYTES / 4;
    char *line = base_xstrndup(s, len);
    LOG_DEBUG("agent stderr", "server_id=%s line=%.200s", in->server_id, line);
    if (in->err_count == ACP_STDERR_TAIL_LINES) {
        free(in->err_tail[in->err_head]);
        in->err_tail[in->err_head] = line;
        in->err_head = (in->err_head + 1) % ACP_STDERR_TAIL_LINES;
    } else {
        in->err_tail[(in->err_head + in->err_count++) % ACP_STDERR_TAIL_LINES] = line;
    }
}

static void acp_on_stderr(proc_child *c, const char *data, size_t len, void *ud) {
    acp_instance *in = ud;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n')
            continue;
        base_buf_append(&in->errline, data + start, i - start);
        acp_push_stderr_line(in, in->errline.data, in->errline.len);
        in->errline.len = 0;
        start = i + 1;
    }
    if (start < len && in->errline.len < ACP_STDERR_TAIL_BYTES)
        base_buf_append(&in->errline, data + start, len - start);
}

static void acp_on_exit(proc_child *c, int code, int sig, void *ud) {
    acp_instance *in = ud;
    in->busy++; /* answering the last pending request must not free us mid-walk */
    in->exited = true;
    in->exit_code = code;
    in->term_signal = sig;
    if (in->line.len) { /* a last line without newline still counts */
        acp_handle_line(in, in->line.data, in->line.len);
        in->line.len = 0;
    }
    LOG_INFO("agent process exited", "server_id=%s agent=%s code=%d signal=%d", in->server_id,
             in->agent, code, sig);
    json_t *n = json_pack("{s:s,s:s,s:{s:o,s:b}}", "jsonrpc", "2.0", "method",
                          "_adapter/agent_exited", "params", "code",
                          sig ? json_null() : json_integer(code), "success", !sig && code == 0);
    acp_append_json(in, n);
    json_decref(n);
    /* Fail every request still waiting: its answer can no longer come. */
    acp_pending *p = in->pending;
    while (p) {
        acp_pending *next = p->next;
        if (p->is_request && p->req) {
            http_req *req = acp_pending_take(p);
            acp_problem_exited(req, in);
            acp_pending_release(p);
        }
        p = next;
    }
    acp_waiter *w = in->waiters;
    in->waiters = NULL;
    while (w) {
        acp_waiter *next = w->next;
        if (w->req) {
            http_req_on_abort(w->req, NULL, NULL);
            http_reply_empty(w->req, 204);
        }
        free(w);
        w = next;
    }
    in->busy--;
    acp_maybe_free(in);
}

static const proc_callbacks acp_proc_callbacks = {
    .on_stdout = acp_on_stdout,
    .on_stderr = acp_on_stderr,
    .on_exit = acp_on_exit,
};

/* ---- SSE streams ----------------------------------------------------------------------- */

static void acp_stream_free_cb(uv_handle_t *h) {
    acp_stream *s = h->data;
    acp_instance *in = s->inst;
    if (s->prev)
        s->prev->next = s->next;
    else
        in->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    free(h);
    acp_maybe_free(in);
}

/* Stop delivering to a stream; the struct goes away once its timer has closed. */
static void acp_stream_detach(acp_stream *s) {
    if (s->sub) {
        acp_journal_unsubscribe(s->inst->journal, s->sub);
        s->sub = NULL;
    }
    if (s->req)
        http_req_on_abort(s->req, NULL, NULL);
    s->req = NULL;
    if (s->heartbeat && !uv_is_closing((uv_handle_t *)s->heartbeat))
        uv_close((uv_handle_t *)s->heartbeat, acp_stream_free_cb);
}

static void acp_stream_abort_cb(http_req *req, void *ud) {
    acp_stream *s = ud;
    s->req = NULL;
    acp_stream_detach(s);
}

static void acp_heartbeat_cb(uv_timer_t *t) {
    acp_stream *s = t->data;
    if (s->req)
        http_stream_write_str(s->req, ": heartbeat\n\n");
}

static void acp_stream_sink(void *ud, uint64_t id, base_rcbuf *frame) {
    acp_stream *s = ud;
    if (!s->req)
        return;
    if (!http_stream_write(s->req, frame))
        return; /* dropped: the abort callback detached us */
    uv_timer_again(s->heartbeat);
}

static void acp_end_streams(acp_instance *in) {
    acp_stream *s = in->streams;
    while (s) {
        acp_stream *next = s->next;
        http_req *req = s->req;
        acp_stream_detach(s);
        if (req)
            http_stream_end(req);
        s = next;
    }
}

/* ---- instance creation ------------------------------------------------------------------ */

static acp_instance *acp_instance_create(acp_bridge *b, const char *server_id, const char *agent,
                                         int *uverr) {
    agents_launch l;
    if (agents_launch_recipe(agent, &l) != 0) {
        *uverr = 0;
        return NULL;
    }
    acp_instance *in = base_xcalloc(1, sizeof *in);
    in->bridge = b;
    in->server_id = base_xstrdup(server_id);
    in->agent = base_xstrdup(agent);
    in->created_ms = base_now_ms();
    in->journal = acp_journal_memory_new(b->replay_capacity);
    proc_spawn_opts o = {
        .file = l.file, .args = l.argv, .env = l.env, .cwd = NULL, .die_with_server = true};
    in->child = proc_spawn(b->loop, &o, &acp_proc_callbacks, in, uverr);
    agents_launch_free(&l);
    if (!in->child) {
        acp_journal_free(in->journal);
        free(in->server_id);
        free(in->agent);
        free(in);
        return NULL;
    }
    LOG_INFO("agent process started", "server_id=%s agent=%s pid=%d", server_id, agent,
             (int)proc_pid(in->child));
    if (b->n == b->cap)
        b->items =
            base_xrealloc(b->items, (b->cap = b->cap ? b->cap * 2 : 8) * sizeof(acp_instance *));
    b->items[b->n++] = in;
    in->listed = true;
    return in;
}

/* ---- POST ---------------------------------------------------------------------------------- */

static bool acp_content_type_ok(http_req *req) {
    const char *ct = http_req_header(req, "content-type");
    if (!ct)
        return false;
    size_t n = strlen(ct);
    const char *semi = strchr(ct, ';');
    if (semi)
        n = (size_t)(semi - ct);
    const char *mt = base_trim(ct, &n);
    return n == 16 && base_ascii_ieq(mt, "application/json", 16);
}

/* ---- lazy install (http-api.md §5.3.2) --------------------------------------------------- */

static void acp_post_handle(http_req *req, acp_bridge *b, bool may_install);

/* A first POST waiting for its agent's install. Owner: itself; freed when the install
 * reports, or when the client leaves (the install then continues on its own). */
typedef struct acp_install_wait {
    acp_bridge *b;
    http_req *req;
    char *agent;
    agents_install_job *job;
} acp_install_wait;

static void acp_install_abort_cb(http_req *req, void *ud) {
    acp_install_wait *w = ud;
    agents_install_detach(w->job);
    free(w->agent);
    free(w);
}

static void acp_install_done_cb(const agents_install_result *res, void *ud) {
    acp_install_wait *w = ud;
    http_req_on_abort(w->req, NULL, NULL);
    if (res->ok) /* handle the POST again, now with the agent on disk (no second install) */
        acp_post_handle(w->req, w->b, false);
    else
        agents_install_problem(w->req, w->agent, res);
    free(w->agent);
    free(w);
}

/* The POST stays pending while the agent installs; the loop keeps serving. */
static void acp_lazy_install(acp_bridge *b, http_req *req, const char *agent) {
    acp_install_wait *w = base_xcalloc(1, sizeof *w);
    w->b = b;
    w->req = req;
    w->agent = base_xstrdup(agent);
    agents_install_opts opts = {0};
    w->job = agents_install_async(b->loop, agent, &opts, acp_install_done_cb, NULL, w);
    http_req_on_abort(req, acp_install_abort_cb, w);
}

static void acp_post_handler(http_req *req, void *ud) {
    acp_post_handle(req, ud, true);
}

static void acp_post_handle(http_req *req, acp_bridge *b, bool may_install) {
    const char *server_id = http_req_param(req, 0);
    char *agent = NULL;
    if (http_query_get(req, "agent", &agent) < 0) {
        http_problem_invalid_request(req, "query parameter `agent` must be given at most once");
        return;
    }
    if (!acp_content_type_ok(req)) {
        http_problem_with_message(req, 415, "unsupported_media_type", "Unsupported Media Type",
                                  "unsupported media type",
                                  "content-type must be application/json");
        goto out;
    }
    if (!http_req_accepts(req, "application", "json")) {
        http_problem_with_message(req, 406, "not_acceptable", "Not Acceptable", "not acceptable",
                                  "accept must allow application/json");
        goto out;
    }
    char err[256];
    json_t *msg =
        base_json_parse(req->body.data ? req->body.data : "", req->body.len, err, sizeof err);
    if (!msg) {
        http_problem_invalid_request(req, "invalid JSON body: %s", err);
        goto out;
    }
    if (!json_is_object(msg)) {
        json_decref(msg);
        http_problem_invalid_request(req, "request body must be a JSON-RPC object");
        goto out;
    }
    if (agent && !agents_known(agent)) {
        json_decref(msg);
        agents_problem_unsupported(req, agent);
        goto out;
    }
    acp_instance *in = acp_find(b, server_id);
    if (in && agent && strcmp(agent, in->agent) != 0) {
        json_decref(msg);
        char *m = base_xasprintf("server '%s' already exists for agent '%s'; requested '%s'",
                                 server_id, in->agent, agent);
        http_problem_with_message(req, 409, "conflict", "Conflict", "conflict", m);
        free(m);
        goto out;
    }
    if (!in && !agent) {
        json_decref(msg);
        http_problem_invalid_request(
            req, "missing required 'agent' query parameter for first POST to /v1/acp/%s",
            server_id);
        goto out;
    }
    if (!in) {
        if (b->shutting_down) {
            json_decref(msg);
            http_problem_with_message(req, 503, "stream_error", "Stream Error", "stream error",
                                      "server is shutting down");
            goto out;
        }
        if (may_install && !agents_installed(agent)) {
            json_decref(msg);
            if (agents_install_preinstall_required())
                agents_problem_not_installed(req, agent);
            else
                acp_lazy_install(b, req, agent);
            goto out;
        }
        int uverr = 0;
        in = acp_instance_create(b, server_id, agent, &uverr);
        if (!in) {
            json_decref(msg);
            if (uverr == 0) {
                agents_problem_not_installed(req, agent);
            } else {
                char *m = base_xasprintf("failed to start agent process: %s", uv_strerror(uverr));
                http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error",
                                          m);
                free(m);
            }
            goto out;
        }
    }
    if (in->exited) {
        json_decref(msg);
        acp_problem_stdin(req, UV_EPIPE);
        goto out;
    }
    acp_msg_kind kind = acp_classify(msg);
    acp_pending *p = base_xcalloc(1, sizeof *p);
    p->inst = in;
    p->req = req;
    p->is_request = kind == ACP_MSG_REQUEST;
    if (p->is_request)
        p->id = json_incref(json_object_get(msg, "id"));
    p->next = in->pending;
    if (in->pending)
        in->pending->prev = p;
    in->pending = p;
    p->listed = true;
    http_req_on_abort(req, acp_pending_abort_cb, p);
    if (p->is_request) {
        p->timer = base_xmalloc(sizeof(uv_timer_t));
        uv_timer_init(b->loop, p->timer);
        p->timer->data = p;
        uv_timer_start(p->timer, acp_timeout_cb, b->request_timeout_ms, 0);
    }
    /* One compact line: re-serialising guarantees no raw newline reaches the agent. */
    char *line = base_json_compact(msg);
    size_t len = strlen(line);
    line = base_xrealloc(line, len + 2);
    line[len++] = '\n';
    line[len] = 0;
    json_decref(msg);
    p->write_inflight = true;
    int r = proc_write(in->child, line, len, acp_write_done, p);
    free(line);
    if (r != 0) {
        p->write_inflight = false;
        http_req *hr = acp_pending_take(p);
        if (hr)
            acp_problem_stdin(hr, r);
        acp_pending_release(p);
    }
out:
    free(agent);
}

/* ---- GET (SSE) ------------------------------------------------------------------------------ */

static void acp_replay_sink(void *ud, uint64_t id, base_rcbuf *frame) {
    acp_stream *s = ud;
    if (s->req)
        http_stream_write(s->req, frame);
}

static void acp_get_handler(http_req *req, void *ud) {
    acp_bridge *b = ud;
    if (!http_req_accepts(req, "text", "event-stream")) {
        http_problem_with_message(req, 406, "not_acceptable", "Not Acceptable", "not acceptable",
                                  "accept must allow text/event-stream");
        return;
    }
    uint64_t after = 0;
    const char *lei = http_req_header(req, "last-event-id");
    if (lei) {
        size_t n = strlen(lei);
        const char *t = base_trim(lei, &n);
        if (!base_parse_u64(t, n, &after)) {
            http_problem_invalid_request(req, "Last-Event-ID must be a positive integer");
            return;
        }
    }
    const char *server_id = http_req_param(req, 0);
    acp_instance *in = acp_find(b, server_id);
    if (!in) {
        char *detail = base_xasprintf("session not found: %s", server_id);
        http_reply_problem(req, 404, "session_not_found", "Session Not Found", detail,
                           json_pack("{s:s}", "sessionId", server_id));
        free(detail);
        return;
    }
    if (!http_stream_start(req, 200, "text/event-stream", "cache-control: no-cache\r\n"))
        return; /* HEAD: headers only, and req is gone */
    acp_stream *s = base_xcalloc(1, sizeof *s);
    s->inst = in;
    s->req = req;
    s->heartbeat = base_xmalloc(sizeof(uv_timer_t));
    uv_timer_init(b->loop, s->heartbeat);
    s->heartbeat->data = s;
    s->next = in->streams;
    if (in->streams)
        in->streams->prev = s;
    in->streams = s;
    http_req_on_abort(req, acp_stream_abort_cb, s);
    acp_journal_replay(in->journal, after, acp_replay_sink, s);
    if (!s->req)
        return; /* dropped during replay */
    s->sub = acp_journal_subscribe(in->journal, acp_stream_sink, s);
    uv_timer_start(s->heartbeat, acp_heartbeat_cb, b->heartbeat_ms, b->heartbeat_ms);
}

/* ---- DELETE, list ------------------------------------------------------------------------ */

static void acp_waiter_abort_cb(http_req *req, void *ud) {
    acp_waiter *w = ud;
    w->req = NULL;
}

static void acp_stop_instance(acp_instance *in) {
    acp_unlist(in);
    acp_end_streams(in);
    if (!in->exited)
        /* Close stdin, give a well-behaved agent a moment, then TERM and KILL the group. */
        proc_terminate(in->child, 300, 1000);
}

static void acp_delete_handler(http_req *req, void *ud) {
    acp_bridge *b = ud;
    acp_instance *in = acp_find(b, http_req_param(req, 0));
    if (!in) {
        http_reply_empty(req, 204);
        return;
    }
    LOG_INFO("closing ACP server", "server_id=%s agent=%s age_ms=%lld", in->server_id, in->agent,
             (long long)(base_now_ms() - in->created_ms));
    acp_stop_instance(in);
    if (in->exited) {
        http_reply_empty(req, 204);
        acp_maybe_free(in);
        return;
    }
    acp_waiter *w = base_xcalloc(1, sizeof *w);
    w->req = req;
    w->next = in->waiters;
    in->waiters = w;
    http_req_on_abort(req, acp_waiter_abort_cb, w);
}

static int acp_cmp(const void *a, const void *b) {
    const acp_instance *x = *(acp_instance *const *)a, *y = *(acp_instance *const *)b;
    return strcmp(x->server_id, y->server_id);
}

static void acp_list_handler(http_req *req, void *ud) {
    acp_bridge *b = ud;
    acp_instance **sorted = base_xcalloc(b->n ? b->n : 1, sizeof(acp_instance *));
    if (b->n) /* items is NULL before the first instance */
        memcpy(sorted, b->items, b->n * sizeof(acp_instance *));
    qsort(sorted, b->n, sizeof(acp_instance *), acp_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < b->n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:I}", "serverId", sorted[i]->server_id,
                                             "agent", sorted[i]->agent, "createdAtMs",
                                             (json_int_t)sorted[i]->created_ms));
    free(sorted);
    http_reply_json(req, 200, json_pack("{s:o}", "servers", arr));
}

/* ---- public -------------------------------------------------------------------------------- */

acp_bridge *acp_bridge_new(uv_loop_t *loop) {
    acp_bridge *b = base_xcalloc(1, sizeof *b);
    b->loop = loop;
    b->request_timeout_ms =
        (uint64_t)base_env_int("SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS", 120000, 1, INT32_MAX);
    b->heartbeat_ms =
        (uint64_t)base_env_int("SANDBOX_AGENT_SSE_HEARTBEAT_MS", 15000, 10, INT32_MAX);
    b->replay_capacity =
        (size_t)base_env_int("SANDBOX_AGENT_ACP_REPLAY_EVENTS", 4096, 1024, 1 << 20);
    return b;
}

void acp_bridge_routes(acp_bridge *b, http_server *srv) {
    http_route(srv, HTTP_M_GET, "/v1/acp", HTTP_ROUTE_AUTH, acp_list_handler, b);
    http_route(srv, HTTP_M_POST, "/v1/acp/{serverId}", HTTP_ROUTE_AUTH, acp_post_handler, b);
    http_route(srv, HTTP_M_GET, "/v1/acp/{serverId}", HTTP_ROUTE_AUTH, acp_get_handler, b);
    http_route(srv, HTTP_M_DELETE, "/v1/acp/{serverId}", HTTP_ROUTE_AUTH, acp_delete_handler, b);
}

size_t acp_bridge_agent_instances(acp_bridge *b, const char *agent, int64_t *oldest_ms) {
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->items[i]->agent, agent) != 0)
            continue;
        if (n == 0 || b->items[i]->created_ms < *oldest_ms)
            *oldest_ms = b->items[i]->created_ms;
        n++;
    }
    return n;
}

void acp_bridge_shutdown(acp_bridge *b) {
    b->shutting_down = true;
    while (b->n)
        acp_stop_instance(b->items[b->n - 1]);
}

void acp_bridge_free(acp_bridge *b) {
    /* By now every process has exited and the HTTP server has aborted every request. */
    while (b->nz)
        acp_instance_free(b->zombies[b->nz - 1]);
    free(b->zombies);
    free(b->items);
    free(b);
}
