/* post.c - POST /v1/acp/{serverId}: the checks, the lazy install of a missing agent, large
 * bodies parsed off the loop, and handing the message to the instance (bridge.c), which
 * writes it to the agent and answers when the agent does. */
#include "acp/internal.h"

#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"

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

static void acp_post_message(http_req *req, acp_bridge *b, char *agent, bool may_install,
                             json_t *msg, char *line);

/* A first POST waiting for its agent's install. Owner: itself; freed when the install
 * reports, or when the client leaves (the install then continues on its own). */
typedef struct acp_install_wait {
    acp_bridge *b;
    http_req *req;
    char *agent;
    json_t *msg; /* the POST's message, parsed (owned) */
    char *line;  /* its compact line when made off the loop (owned), or NULL */
    agents_install_job *job;
} acp_install_wait;

static void acp_install_wait_free(acp_install_wait *w) {
    json_decref(w->msg);
    free(w->line);
    free(w->agent);
    free(w);
}

static void acp_install_abort_cb(http_req *req, void *ud) {
    acp_install_wait *w = ud;
    agents_install_detach(w->job);
    acp_install_wait_free(w);
}

static void acp_install_done_cb(const agents_install_result *res, void *ud) {
    acp_install_wait *w = ud;
    http_req_on_abort(w->req, NULL, NULL);
    if (res->ok) { /* go on with the POST, now with the agent on disk (no second install) */
        acp_post_message(w->req, w->b, w->agent, false, w->msg, w->line);
        w->agent = NULL;
        w->msg = NULL;
        w->line = NULL;
    } else {
        agents_install_problem(w->req, w->agent, res);
    }
    acp_install_wait_free(w);
}

/* The POST stays pending while the agent installs; the loop keeps serving. msg and line:
 * taken. */
static void acp_lazy_install(acp_bridge *b, http_req *req, const char *agent, json_t *msg,
                             char *line) {
    acp_install_wait *w = base_xcalloc(1, sizeof *w);
    w->b = b;
    w->req = req;
    w->agent = base_xstrdup(agent);
    w->msg = msg;
    w->line = line;
    agents_install_opts opts = {0};
    w->job = agents_install_async(b->loop, agent, &opts, acp_install_done_cb, NULL, w);
    http_req_on_abort(req, acp_install_abort_cb, w);
}

/* A POST to an instance whose agent has exited. A request that begins a session restarts
 * the agent and goes on (true). Any other request gets the JSON-RPC exit error, and a
 * notification or response a problem: the session they belong to died with the agent. */
static bool acp_post_to_exited(http_req *req, acp_instance *in, json_t *msg, acp_msg_kind kind,
                               const char *method) {
    if (kind == ACP_MSG_REQUEST && acp_starts_session(method) && !in->bridge->shutting_down) {
        int r = acp_instance_restart(in, strcmp(method, "initialize") != 0);
        if (r == 0)
            return true;
        char *m = base_xasprintf("failed to restart agent process: %s", uv_strerror(r));
        http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error", m);
        free(m);
        return false;
    }
    if (kind != ACP_MSG_REQUEST) {
        acp_problem_exited_of(req, in);
        return false;
    }
    acp_exit_info x;
    char *tail;
    acp_exit_of(in, &x, &tail);
    acp_reply_rpc(in, req, acp_rpc_error_exited(json_object_get(msg, "id"), &x));
    free(tail);
    return false;
}

/* ---- large bodies: parsed off the loop ------------------------------------------------- */

/* jansson takes about 50 ms per MiB to parse a big string and as long again to write it
 * back: bodies above this are parsed and re-serialised on the thread pool, so one large
 * prompt (an attached file, an image) does not stall every other client. */
#define ACP_OFFLOAD_BODY_BYTES (64u << 10)

/* One body being parsed. Owner: itself; freed in its after-work callback. */
typedef struct acp_parse_job {
    uv_work_t work;
    acp_bridge *b;
    http_req *req; /* NULL once the client left */
    char *agent;   /* the ?agent= of the POST (owned) */
    base_buf body; /* taken from the request */
    json_t *msg;   /* results, from the worker */
    char *line;
    char err[256];
} acp_parse_job;

static void acp_parse_abort_cb(http_req *req, void *ud) {
    ((acp_parse_job *)ud)->req = NULL;
}

static void acp_parse_work(uv_work_t *w) {
    acp_parse_job *j = w->data;
    j->msg = base_json_parse(j->body.data ? j->body.data : "", j->body.len, j->err, sizeof j->err);
    if (json_is_object(j->msg))
        j->line = base_json_compact(j->msg);
}

static void acp_parse_after(uv_work_t *w, int status) {
    acp_parse_job *j = w->data;
    base_buf_free(&j->body);
    if (j->req && j->msg) {
        http_req_on_abort(j->req, NULL, NULL);
        acp_post_message(j->req, j->b, j->agent, true, j->msg, j->line);
    } else {
        if (j->req) {
            http_req_on_abort(j->req, NULL, NULL);
            http_problem_invalid_request(j->req, "invalid JSON body: %s", j->err);
        }
        json_decref(j->msg);
        free(j->line);
        free(j->agent);
    }
    free(j);
}

/* ---- the POST ------------------------------------------------------------------------------ */

/* The checks made before the body is parsed, in the reference's order: the query, 415, 406.
 * False when one failed (answered); else *agent (caller frees) is the ?agent=, or NULL. */
static bool acp_post_checks(http_req *req, char **agent) {
    *agent = NULL;
    if (http_query_get(req, "agent", agent) < 0) {
        http_problem_invalid_request(req, "query parameter `agent` must be given at most once");
        return false;
    }
    if (!acp_content_type_ok(req)) {
        http_problem_with_message(req, 415, "unsupported_media_type", "Unsupported Media Type",
                                  "unsupported media type",
                                  "content-type must be application/json");
    } else if (!http_req_accepts(req, "application", "json")) {
        http_problem_with_message(req, 406, "not_acceptable", "Not Acceptable", "not acceptable",
                                  "accept must allow application/json");
    } else {
        return true;
    }
    free(*agent);
    *agent = NULL;
    return false;
}

void acp_post_handler(http_req *req, void *ud) {
    acp_bridge *b = ud;
    char *agent;
    if (!acp_post_checks(req, &agent))
        return;
    if (req->body.len > ACP_OFFLOAD_BODY_BYTES) {
        acp_parse_job *j = base_xcalloc(1, sizeof *j);
        j->b = b;
        j->req = req;
        j->agent = agent;
        j->body = req->body; /* the worker reads it while the request may go away */
        base_buf_init(&req->body);
        j->work.data = j;
        http_req_on_abort(req, acp_parse_abort_cb, j);
        uv_queue_work(b->loop, &j->work, acp_parse_work, acp_parse_after);
        return;
    }
    char err[256];
    json_t *msg =
        base_json_parse(req->body.data ? req->body.data : "", req->body.len, err, sizeof err);
    if (!msg) {
        http_problem_invalid_request(req, "invalid JSON body: %s", err);
        free(agent);
        return;
    }
    acp_post_message(req, b, agent, true, msg, NULL);
}

/* The parsed body goes to its instance, which is created, installed first or restarted as
 * needed. agent (?agent=, may be NULL), msg and line (its compact form when made off the
 * loop, else NULL): all taken. */
static void acp_post_message(http_req *req, acp_bridge *b, char *agent, bool may_install,
                             json_t *msg, char *line) {
    const char *server_id = http_req_param(req, 0);
    if (!json_is_object(msg)) {
        http_problem_invalid_request(req, "request body must be a JSON-RPC object");
        goto out;
    }
    if (agent && !agents_known(agent)) {
        agents_problem_unsupported(req, agent);
        goto out;
    }
    if (b->store && journal_store_backlogged(b->store)) {
        /* Nothing may cross unjournaled, and the journal is too far behind to take more. */
        char *m =
            base_xasprintf("the journal is behind (%s); retry shortly",
                           *journal_store_degraded(b->store) ? journal_store_degraded(b->store)
                                                             : "its disk is slow");
        http_problem_with_message(req, 503, "journal_backlogged", "Journal Backlogged",
                                  "journal backlogged", m);
        free(m);
        goto out;
    }
    acp_instance *in = acp_find(b, server_id);
    if (in && agent && strcmp(agent, in->agent) != 0) {
        char *m = base_xasprintf("server '%s' already exists for agent '%s'; requested '%s'",
                                 server_id, in->agent, agent);
        http_problem_with_message(req, 409, "conflict", "Conflict", "conflict", m);
        free(m);
        goto out;
    }
    if (!in && !agent && !(in = acp_revive(b, server_id, msg))) {
        http_problem_invalid_request(
            req, "missing required 'agent' query parameter for first POST to /v1/acp/%s",
            server_id);
        goto out;
    }
    if (!in) {
        if (b->shutting_down) {
            http_problem_with_message(req, 503, "stream_error", "Stream Error", "stream error",
                                      "server is shutting down");
            goto out;
        }
        if (may_install && !agents_installed(agent)) {
            if (agents_install_preinstall_required()) {
                agents_problem_not_installed(req, agent);
            } else {
                acp_lazy_install(b, req, agent, msg, line);
                msg = NULL;
                line = NULL;
            }
            goto out;
        }
        in = acp_instance_create(b, server_id, agent, "acp");
        if (!in) {
            agents_problem_not_installed(req, agent);
            goto out;
        }
    }
    acp_msg_kind kind = acp_classify(msg);
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (in->exited && !acp_post_to_exited(req, in, msg, kind, method))
        goto out;
    acp_note_initialize(in, msg);
    acp_revive_session(in, msg);
    acp_pending *p = base_xcalloc(1, sizeof *p);
    p->req = req;
    p->is_request = kind == ACP_MSG_REQUEST;
    p->durable = p->is_request && acp_starts_session(method);
    if (p->is_request)
        p->id = json_incref(json_object_get(msg, "id"));
    http_req_on_abort(req, acp_pending_abort_cb, p);
    acp_pending_submit(in, p, msg, line);
    line = NULL;
out:
    json_decref(msg);
    free(line);
    free(agent);
}
