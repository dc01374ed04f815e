/* bridge.c - ACP server instances: one agent process each, bridged to HTTP.
 *
 * POST /v1/acp/{id} writes one envelope to the agent's stdin; requests wait for the
 * matching response, everything else is answered 202 once written. Every stdout line is
 * appended to the instance journal and fanned out to SSE subscribers (GET). DELETE ends
 * the streams and stops the agent's process group.
 *
 * Deliberate fixes over the reference: DELETE answers 204 promptly (after a short,
 * bounded shutdown of the agent); a request whose agent dies, or that the agent does not
 * answer in time, gets a JSON-RPC error response at once (errors.c says why); a new
 * session on an instance whose agent has exited restarts the agent, replaying the
 * client's `initialize` first. */
#include "acp/internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"

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

/* ---- channels ------------------------------------------------------------------------------ */

acp_channel *acp_channel_get(acp_bridge *b, const char *server_id, bool create) {
    acp_channel *ch = base_map_get(b->channels, server_id);
    if (ch || !create)
        return ch;
    ch = base_xcalloc(1, sizeof *ch);
    ch->bridge = b;
    ch->server_id = base_xstrdup(server_id);
    ch->journal = acp_journal_new(b->store, server_id, b->replay_capacity, b->replay_max_bytes);
    base_map_put(b->channels, server_id, ch);
    return ch;
}

static void acp_channel_free(void *p) {
    acp_channel *ch = p;
    acp_journal_free(ch->journal);
    free(ch->server_id);
    free(ch);
}

void acp_channel_maybe_free(acp_channel *ch) {
    if (ch->instances || ch->streams)
        return;
    base_map_del(ch->bridge->channels, ch->server_id);
    acp_channel_free(ch);
}

/* ---- instance bookkeeping -------------------------------------------------------------- */

acp_instance *acp_find(acp_bridge *b, const char *id) {
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
    if (in->backlog_timer)
        uv_close((uv_handle_t *)in->backlog_timer, acp_timer_free);
    acp_hold_detach(in);
    base_buf_free(&in->stash);
    proc_release(in->child);
    sessions_tracker_free(in->tracker);
    in->chan->instances--;
    acp_channel_maybe_free(in->chan);
    json_decref(in->init_params);
    acp_internal_reset(in);
    base_map_free(in->loaded, NULL);
    base_buf_free(&in->line);
    base_buf_free(&in->errline);
    for (size_t i = 0; i < in->err_count; i++)
        free(in->err_tail[(in->err_head + i) % ACP_STDERR_TAIL_LINES]);
    free(in->server_id);
    free(in->agent);
    free(in);
}

void acp_maybe_free(acp_instance *in) {
    if (in->busy || in->listed || !in->exited || in->pending || in->clients || in->waiters)
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

void acp_timer_free(uv_handle_t *h) {
    free(h);
}

static void acp_pending_release(acp_pending *p) {
    if (p->req || p->cb || p->write_inflight)
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
    free(p->held);
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

void acp_pending_abort_cb(http_req *req, void *ud) {
    acp_pending *p = ud;
    p->req = NULL;
    acp_pending_release(p);
}

/* The instance's exit as error details; *tail receives the stderr text (caller frees). */
void acp_exit_of(acp_instance *in, acp_exit_info *x, char **tail) {
    *tail = acp_stderr_text(in);
    *x = (acp_exit_info){.agent = in->agent,
                         .server_id = in->server_id,
                         .exit_code = in->exit_code,
                         .term_signal = in->term_signal,
                         .stderr_tail = *tail};
}

/* Answer a request with a JSON-RPC response of our own (stolen). It is journaled like an
 * agent's response, so SSE clients and replays see how the request ended. */
void acp_reply_rpc(acp_instance *in, http_req *req, json_t *resp) {
    char *s = base_json_compact(resp);
    acp_record(in, false, resp, s, strlen(s), NULL);
    json_decref(resp);
    if (req)
        http_reply(req, 200, "application/json", NULL, s, strlen(s));
    free(s);
}

static void acp_answer_rpc(acp_pending *p, json_t *resp) {
    if (!p->cb) {
        acp_reply_rpc(p->inst, acp_pending_take(p), resp);
        return;
    }
    char *s = base_json_compact(resp);
    acp_record(p->inst, false, resp, s, strlen(s), NULL);
    free(s);
    if (p->timer)
        uv_timer_stop(p->timer);
    acp_client_answer(p, resp);
    json_decref(resp);
}

/* Still waiting for an answer: an HTTP client or an in-process one. */
static bool acp_pending_open(const acp_pending *p) {
    return p->req || p->cb;
}

static void acp_answer_exited(acp_pending *p) {
    acp_exit_info x;
    char *tail;
    acp_exit_of(p->inst, &x, &tail);
    acp_answer_rpc(p, acp_rpc_error_exited(p->id, &x));
    free(tail);
}

void acp_problem_exited_of(http_req *req, acp_instance *in) {
    acp_exit_info x;
    char *tail;
    acp_exit_of(in, &x, &tail);
    acp_problem_exited(req, &x);
    free(tail);
}

static void acp_problem_stdin(http_req *req, int uverr) {
    char *msg = base_xasprintf("failed writing to agent stdin: %s (os error %d)",
                               uverr == UV_EPIPE ? "Broken pipe" : uv_strerror(uverr),
                               uverr < 0 ? -uverr : uverr);
    http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error", msg);
    free(msg);
}

void acp_timeout_cb(uv_timer_t *t) {
    acp_pending *p = t->data;
    acp_instance *in = p->inst;
    LOG_WARN("agent did not answer in time", "server_id=%s agent=%s", in->server_id, in->agent);
    if (acp_pending_open(p))
        acp_answer_rpc(p, acp_rpc_error_timeout(p->id, in->agent, in->server_id,
                                                in->bridge->request_timeout_ms));
    acp_pending_release(p);
}

static void acp_write_done(int status, void *ud) {
    acp_pending *p = ud;
    p->write_inflight = false;
    /* The agent is gone with the line unwritten: proc.c fails the write just before
     * on_exit, and acp_on_exit, still to come, answers the request with the exit details
     * like every request still waiting. */
    if (status < 0 && p->is_request && acp_pending_open(p) && !p->inst->exited &&
        proc_exited(p->inst->child))
        return;
    if (status < 0 && p->is_request) {
        if (acp_pending_open(p))
            acp_answer_rpc(p,
                           acp_rpc_error_stdin(p->id, p->inst->agent, p->inst->server_id, status));
    } else if (status < 0) {
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

/* Hand a pending entry's line to the agent (line is taken). While our replayed
 * `initialize` is unanswered the line is held, so the restarted agent sees its messages
 * in arrival order and only after it was initialised. */
void acp_pending_send(acp_pending *p, char *line, size_t len) {
    acp_instance *in = p->inst;
    if (acp_internal_busy(in)) {
        p->held = line;
        p->held_len = len;
        return;
    }
    p->write_inflight = true;
    int r = proc_write(in->child, line, len, acp_write_done, p);
    free(line);
    if (r != 0)
        acp_write_done(r, p); /* answers the POST and releases p */
}

/* ---- client messages ----------------------------------------------------------------------- */

void acp_pending_submit(acp_instance *in, acp_pending *p, const json_t *msg, char *line) {
    p->inst = in;
    p->next = in->pending;
    if (in->pending)
        in->pending->prev = p;
    in->pending = p;
    p->listed = true;
    if (p->is_request) {
        p->timer = base_xmalloc(sizeof(uv_timer_t));
        uv_timer_init(in->bridge->loop, p->timer);
        p->timer->data = p;
        uv_timer_start(p->timer, acp_timeout_cb, in->bridge->request_timeout_ms, 0);
    }
    /* One compact line: re-serialising guarantees no raw newline reaches the agent. */
    if (!line)
        line = base_json_compact(msg);
    size_t len = strlen(line);
    /* Journaled (and its session tracked) before the agent can see it. */
    acp_record(in, true, msg, line, len, NULL);
    line = base_xrealloc(line, len + 2);
    line[len++] = '\n';
    line[len] = 0;
    acp_pending_send(p, line, len);
}

void acp_note_initialize(acp_instance *in, const json_t *msg) {
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (!method || strcmp(method, "initialize") != 0 || !json_object_get(msg, "id"))
        return;
    json_t *params = json_object_get(msg, "params");
    json_decref(in->init_params);
    in->init_params = params ? json_deep_copy(params) : json_null();
    acp_note_server(in);
}

/* ---- agent output --------------------------------------------------------------------------- */

uint64_t acp_record(acp_instance *in, bool from_client, const json_t *msg, const char *line,
                    size_t len, const char *connection) {
    uint64_t sidx = 0;
    const char *session =
        in->tracker && msg ? sessions_tracker_observe(in->tracker, from_client, msg, &sidx) : NULL;
    return acp_record_tracked(in, from_client, msg, line, len, connection, session, sidx);
}

uint64_t acp_record_tracked(acp_instance *in, bool from_client, const json_t *msg, const char *line,
                            size_t len, const char *connection, const char *session,
                            uint64_t sidx) {
    acp_bridge *b = in->bridge;
    int64_t now = base_now_ms();
    uint64_t id = acp_journal_record(in->chan->journal,
                                     from_client ? JOURNAL_FROM_CLIENT : JOURNAL_FROM_AGENT, line,
                                     len, connection, session, sidx, now);
    if (session && b->index) {
        sessions_event ev = {.session = session,
                             .sidx = sidx,
                             .server = in->server_id,
                             .id = id,
                             .ts_ms = now,
                             .from_client = from_client,
                             .payload = line,
                             .len = len,
                             .msg = msg};
        sessions_index_publish(b->index, &ev);
    }
    if (!from_client && in->clients && msg)
        acp_clients_event(in, id, session, msg);
    return id;
}

static void acp_append_json(acp_instance *in, json_t *msg) {
    char *s = base_json_compact(msg);
    acp_record(in, false, msg, s, strlen(s), NULL);
    free(s);
}

void acp_deliver_response(acp_instance *in, json_t *msg, const char *line, size_t len) {
    json_t *id = json_object_get(msg, "id");
    for (acp_pending *p = in->pending; p; p = p->next) {
        if (!p->is_request || !acp_pending_open(p) || !acp_id_equal(p->id, id))
            continue;
        if (p->cb) {
            if (p->timer)
                uv_timer_stop(p->timer);
            acp_client_answer(p, msg);
            acp_pending_release(p);
            return;
        }
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
    if (acp_internal_answer(in, msg)) {
        json_decref(msg);
        return;
    }
    if (acp_hold_answer(in, msg, line, len)) {
        json_decref(msg);
        return;
    }
    /* Stored verbatim: the agent's line is already one compact JSON text. */
    acp_record(in, false, msg, line, len, NULL);
    if (json_is_object(msg) && acp_classify(msg) == ACP_MSG_RESPONSE && json_object_get(msg, "id"))
        acp_deliver_response(in, msg, line, len);
    json_decref(msg);
}

/* ---- the journal's backlog -------------------------------------------------------------------
 * When the journal's disk falls behind (journal_store_backlogged), agents are not read
 * until it catches up: they block on a full pipe, and the uncommitted range stays below what
 * an unclean stop can skip (docs/journal.md, "Ids"). */

static void acp_backlog_cb(uv_timer_t *t) {
    acp_instance *in = t->data;
    if (journal_store_backlogged(in->bridge->store))
        return;
    uv_timer_stop(t);
    in->backlogged = false;
    acp_stdout_resume(in);
    LOG_INFO("journal caught up; reading the agent again", "server_id=%s", in->server_id);
}

static void acp_check_backlog(acp_instance *in) {
    journal_store *store = in->bridge->store;
    if (!store || in->backlogged || !journal_store_backlogged(store))
        return;
    in->backlogged = true;
    proc_pause_stdout(in->child, true);
    LOG_WARN("journal behind; pausing the agent's output", "server_id=%s degraded=\"%s\"",
             in->server_id, journal_store_degraded(store));
    if (!in->backlog_timer) {
        in->backlog_timer = base_xmalloc(sizeof(uv_timer_t));
        uv_timer_init(in->bridge->loop, in->backlog_timer);
        in->backlog_timer->data = in;
    }
    uv_timer_start(in->backlog_timer, acp_backlog_cb, 50, 50);
}

void acp_stdout_resume(acp_instance *in) {
    proc_pause_stdout(in->child, in->backlogged || in->hold);
}

static void acp_on_stdout(proc_child *c, const char *data, size_t len, void *ud) {
    acp_stdout_feed(ud, data, len);
}

void acp_stdout_feed(acp_instance *in, const char *data, size_t len) {
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
        if (in->hold) { /* the rest waits for the held answer (its stdout is paused) */
            base_buf_append(&in->stash, data + start, len - start);
            return;
        }
    }
    if (start < len)
        base_buf_append(&in->line, data + start, len - start);
    acp_check_backlog(in);
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

/* The agent process is gone (or never ran): every DELETE waiting for it is done. */
static void acp_answer_waiters(acp_instance *in) {
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
    acp_internal_reset(in);
    /* Fail every request still waiting: its answer can no longer come. Messages held for a
     * restarted agent that died before it was initialised fail too. */
    acp_pending *p = in->pending;
    while (p) {
        acp_pending *next = p->next;
        if (p->is_request && acp_pending_open(p))
            acp_answer_exited(p);
        else if (p->held && p->req)
            acp_problem_exited_of(acp_pending_take(p), in);
        free(p->held);
        p->held = NULL;
        acp_pending_release(p);
        p = next;
    }
    acp_answer_waiters(in);
    if (in->tracker)
        sessions_tracker_agent_exited(in->tracker, sig ? -1 : code, sig);
    in->busy--;
    acp_maybe_free(in);
}

/* The agent process never ran (proc_spawn's on_start failed): every POST that waited for
 * it gets the answer a synchronous spawn failure got, and DELETEs are done. A new instance
 * is gone again; a restarted one stays exited, with its previous exit. */
static void acp_start_failed(acp_instance *in, int err) {
    bool restart = in->started_once;
    LOG_WARN("agent process failed to start", "server_id=%s agent=%s error=\"%s\"", in->server_id,
             in->agent, uv_strerror(err));
    in->busy++;
    in->exited = true;
    if (restart)
        in->restarts--;
    acp_internal_reset(in);
    char *m = base_xasprintf("failed to %s agent process: %s", restart ? "restart" : "start",
                             uv_strerror(err));
    acp_pending *p = in->pending;
    while (p) {
        acp_pending *next = p->next;
        if (p->cb) {
            json_t *e = acp_rpc_error(p->id, ACP_RPC_AGENT_EXITED, m, NULL);
            acp_client_answer(p, e);
            json_decref(e);
        }
        http_req *req = acp_pending_take(p);
        if (req)
            http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error", m);
        free(p->held);
        p->held = NULL;
        acp_pending_release(p); /* those with a write in flight: when it fails, next */
        p = next;
    }
    free(m);
    acp_answer_waiters(in);
    if (!restart) {
        if (in->listed)
            acp_unlist(in);
        acp_end_streams(in);
    }
    in->busy--;
    acp_maybe_free(in);
}

static void acp_on_start(proc_child *c, int err, void *ud) {
    acp_instance *in = ud;
    if (err) {
        acp_start_failed(in, err);
        return;
    }
    LOG_INFO("agent process started", "server_id=%s agent=%s pid=%d restarts=%u", in->server_id,
             in->agent, (int)proc_pid(c), in->restarts);
    if (!in->started_once) {
        in->started_once = true;
        return;
    }
    /* A restart: the previous process's exit and output are history now. */
    in->exit_code = in->term_signal = 0;
    for (size_t i = 0; i < in->err_count; i++)
        free(in->err_tail[(in->err_head + i) % ACP_STDERR_TAIL_LINES]);
    in->err_count = in->err_head = 0;
    in->line.len = in->errline.len = 0;
    json_t *n =
        json_pack("{s:s,s:s,s:{s:I,s:i}}", "jsonrpc", "2.0", "method", "_adapter/agent_restarted",
                  "params", "pid", (json_int_t)proc_pid(c), "restarts", (int)in->restarts);
    acp_append_json(in, n);
    json_decref(n);
}

static const proc_callbacks acp_proc_callbacks = {
    .on_stdout = acp_on_stdout,
    .on_stderr = acp_on_stderr,
    .on_exit = acp_on_exit,
    .on_start = acp_on_start,
};

/* ---- instance creation ------------------------------------------------------------------ */

/* Start the instance's agent process (asynchronously: acp_on_start hears how it went).
 * NULL when the agent has no launch recipe (not installed). */
static proc_child *acp_spawn_agent(acp_instance *in) {
    agents_launch l;
    if (agents_launch_recipe(in->agent, &l) != 0)
        return NULL;
    proc_spawn_opts o = {
        .file = l.file, .args = l.argv, .env = l.env, .cwd = NULL, .die_with_server = true};
    proc_child *c = proc_spawn(in->bridge->loop, &o, &acp_proc_callbacks, in);
    agents_launch_free(&l);
    return c;
}

/* A new session on an instance whose agent has exited: start a fresh agent process under
 * the same server id (the SDK keeps one server id per agent for its whole life), and
 * replay the client's `initialize` unless the new session begins with one. Messages are
 * queued to the new process at once; acp_on_start announces it, or answers them all if it
 * cannot start. */
int acp_instance_restart(acp_instance *in, bool replay_init) {
    proc_child *c = acp_spawn_agent(in);
    if (!c)
        return UV_ENOENT;
    in->restarts++;
    proc_release(in->child);
    in->child = c;
    if (in->backlogged)
        proc_pause_stdout(c, true);
    in->exited = false;
    if (replay_init && in->init_params)
        acp_internal_push(in, "initialize", json_deep_copy(in->init_params), NULL);
    return 0;
}

/* The requests that begin a session: they may restart an exited agent. Anything else
 * belongs to a session that died with the old process. */
bool acp_starts_session(const char *method) {
    return method && (!strcmp(method, "initialize") || !strcmp(method, "session/new") ||
                      !strcmp(method, "session/load"));
}

/* Listed at once, while its agent starts: POSTs meanwhile queue up behind the first. NULL
 * when the agent has no launch recipe. */
acp_instance *acp_instance_create(acp_bridge *b, const char *server_id, const char *agent,
                                  const char *origin) {
    acp_instance *in = base_xcalloc(1, sizeof *in);
    in->bridge = b;
    in->server_id = base_xstrdup(server_id);
    in->agent = base_xstrdup(agent);
    in->created_ms = base_now_ms();
    in->child = acp_spawn_agent(in);
    if (!in->child) {
        free(in->server_id);
        free(in->agent);
        free(in);
        return NULL;
    }
    if (b->n == b->cap)
        b->items =
            base_xrealloc(b->items, (b->cap = b->cap ? b->cap * 2 : 8) * sizeof(acp_instance *));
    b->items[b->n++] = in;
    in->listed = true;
    base_map_del(b->closed, server_id); /* in use again */
    in->chan = acp_channel_get(b, server_id, true);
    in->chan->instances++;
    if (b->index)
        in->tracker = sessions_tracker_new(b->index, server_id, agent, origin);
    acp_note_server(in);
    return in;
}

/* ---- DELETE, list ------------------------------------------------------------------------ */

static void acp_waiter_abort_cb(http_req *req, void *ud) {
    acp_waiter *w = ud;
    w->req = NULL;
}

static void acp_stop_instance(acp_instance *in) {
    if (!in->bridge->shutting_down)
        base_map_put(in->bridge->closed, in->server_id, in);
    acp_unlist(in);
    acp_end_streams(in);
    if (in->tracker)
        sessions_tracker_closed(in->tracker);
    if (in->backlogged) {
        /* A stopping agent is read to its end: its exit waits for its output. */
        in->backlogged = false;
        if (in->backlog_timer)
            uv_timer_stop(in->backlog_timer);
        acp_stdout_resume(in);
    }
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

acp_bridge *acp_bridge_new(uv_loop_t *loop, struct journal_store *store,
                           struct sessions_index *index) {
    acp_bridge *b = base_xcalloc(1, sizeof *b);
    b->loop = loop;
    b->store = store;
    b->index = index;
    b->channels = base_map_new();
    b->closed = base_map_new();
    b->request_timeout_ms =
        (uint64_t)base_env_int("SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS", 120000, 1, INT32_MAX);
    b->heartbeat_ms = http_sse_heartbeat_ms();
    b->replay_capacity =
        (size_t)base_env_int("SANDBOX_AGENT_ACP_REPLAY_EVENTS", 4096, 1024, 1 << 20);
    b->replay_max_bytes = (size_t)base_env_int("SANDBOX_AGENT_ACP_REPLAY_MAX_BYTES",
                                               (int64_t)16 << 20, 64 << 10, INT64_MAX);
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

bool acp_bridge_has_server(acp_bridge *b, const char *server_id) {
    return acp_find(b, server_id) != NULL;
}

bool acp_bridge_close_server(acp_bridge *b, const char *server_id) {
    acp_instance *in = acp_find(b, server_id);
    if (!in)
        return false;
    LOG_INFO("closing ACP server", "server_id=%s agent=%s", in->server_id, in->agent);
    acp_stop_instance(in);
    acp_maybe_free(in);
    return true;
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
    base_map_free(b->channels, acp_channel_free); /* normally empty: each goes with its last user */
    base_map_free(b->closed, NULL);
    free(b);
}
