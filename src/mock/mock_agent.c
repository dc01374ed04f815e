/* mock_agent.c - the built-in mock ACP agent (`sandbox-agent mock-agent-process`).
 *
 * A real ACP agent process: newline-delimited JSON-RPC 2.0 on stdin/stdout, protocol
 * version 1. The server launches it exactly like a third-party agent, so the integration
 * tests (and the official TypeScript SDK) exercise the whole bridge without a model.
 *
 * Behaviour of session/prompt is chosen by whole words in the prompt text (case-insensitive):
 *   think       agent_thought_chunk updates first
 *   plan        a plan update (then the same plan with every entry completed)
 *   tool        a read tool_call, then a completed tool_call_update
 *   permission  an edit tool_call plus a session/request_permission round trip
 *   slow        after the main text, 20 more chunks 100 ms apart (cancellable)
 *   error       a JSON-RPC error instead of a stop reason
 *   crash       exit(1) in the middle of the turn
 * They combine and run in the order think, plan, tool, permission, main text, slow. The main
 * text is always one agent_message_chunk "Mock response to: <prompt text>" so callers can
 * find their prompt verbatim.
 *
 * This file reads input, dispatches requests, keeps sessions and writes output; a prompt's
 * turn is played by mock_turn.c.
 *
 * Everything runs on one libuv loop so cancel notifications and permission responses are
 * handled while a turn is waiting. Output is written with blocking write(2) calls: one
 * compact JSON object per line, and nothing is ever buffered, so a crash loses nothing. */
#include "mock/internal.h"

/* ---- static tables ----------------------------------------------------------------------
 * Everything in this section is constant static storage: nothing to own or free. */

static const mock_choice mock_models[] = {
    {"mock", "Mock", NULL},
    {"mock-fast", "Mock Fast", NULL},
};
static const mock_choice mock_modes[] = {
    {"normal", "Normal", "Answer and act directly"},
    {"plan", "Plan", "Outline the steps first, then act"},
};
static const mock_choice mock_thoughts[] = {
    {"low", "Low", NULL},
    {"medium", "Medium", NULL},
    {"high", "High", NULL},
};

static const mock_config_def mock_configs[MOCK_CFG_COUNT] = {
    {"model", "Model", mock_models, 2},
    {"mode", "Mode", mock_modes, 2},
    {"thought_level", "Thought Level", mock_thoughts, 3},
};

static const struct {
    const char *word;
    unsigned flag;
} mock_words[] = {
    {"think", MOCK_SC_THINK},           {"plan", MOCK_SC_PLAN}, {"tool", MOCK_SC_TOOL},
    {"permission", MOCK_SC_PERMISSION}, {"slow", MOCK_SC_SLOW}, {"error", MOCK_SC_ERROR},
    {"crash", MOCK_SC_CRASH},
};

mock_agent mock_g;

/* ---- output ----------------------------------------------------------------------------- */

/* Blocking write of the whole span. stdout may share a non-blocking file description with
 * stdin (socketpair), hence the poll on EAGAIN. */
static void mock_write_all(const char *p, size_t n) {
    while (n && !mock_g.out_dead) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = STDOUT_FILENO, .events = POLLOUT};
            poll(&pfd, 1, -1);
        } else {
            mock_g.out_dead = true; /* EPIPE and friends: the reader went away */
        }
    }
}

/* Writes msg as one line and drops the reference (msg may be NULL after a failed pack). */
void mock_send(json_t *msg) {
    if (!msg)
        return;
    char *s = base_json_compact(msg);
    json_decref(msg);
    base_buf b;
    base_buf_init(&b);
    base_buf_appends(&b, s);
    base_buf_append(&b, "\n", 1);
    free(s);
    mock_write_all(b.data, b.len);
    base_buf_free(&b);
}

/* id: borrowed (NULL means null). result: stolen. */
void mock_send_result(json_t *id, json_t *result) {
    if (!result)
        result = json_object();
    mock_send(json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                        result));
}

/* id: borrowed (NULL means null). data: stolen, may be NULL. */
void mock_send_error(json_t *id, int code, const char *message, json_t *data) {
    json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (err && data)
        json_object_set_new(err, "data", data);
    else
        json_decref(data);
    mock_send(
        json_pack("{s:s,s:O,s:o*}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", err));
}

/* Invalid-params error with a human-readable reason. */
static void mock_send_invalid(json_t *id, const char *details) {
    mock_send_error(id, MOCK_ERR_INVALID_PARAMS, "Invalid params",
                    json_pack("{s:s}", "details", details));
}

/* update: borrowed, so history entries can be replayed without copies. */
static void mock_send_update(const char *sid, json_t *update) {
    if (!update)
        return;
    mock_send(json_pack("{s:s,s:s,s:{s:s,s:O}}", "jsonrpc", "2.0", "method", "session/update",
                        "params", "sessionId", sid, "update", update));
}

/* ---- small helpers ---------------------------------------------------------------------- */

/* A string parameter without embedded NULs, or NULL. params may be anything. */
static const char *mock_param_str(json_t *params, const char *key) {
    json_t *v = json_is_object(params) ? json_object_get(params, key) : NULL;
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL;
}

static bool mock_is(json_t *v, const char *lit) {
    return json_is_string(v) && json_string_length(v) == strlen(lit) &&
           !memcmp(json_string_value(v), lit, json_string_length(v));
}

/* Appends a JSON string's bytes (NULs included). */
static void mock_buf_json(base_buf *b, json_t *v) {
    if (json_is_string(v))
        base_buf_append(b, json_string_value(v), json_string_length(v));
}

/* JSON string from bytes that came out of a parsed document (so valid UTF-8). */
json_t *mock_jstr(const char *s, size_t n) {
    json_t *v = json_stringn(s, n);
    return v ? v : json_string("");
}

/* Cut length so it does not end inside a UTF-8 sequence. */
size_t mock_utf8_cut(const char *s, size_t n, size_t max) {
    if (n <= max)
        return n;
    n = max;
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* A JSON string echoing (the start of) an unparseable line. It may be invalid UTF-8, so
 * fall back to replacing non-ASCII bytes. */
static json_t *mock_raw_string(const char *s, size_t n) {
    n = mock_utf8_cut(s, n, MOCK_RAW_MAX);
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    char tmp[MOCK_RAW_MAX];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    return mock_jstr(tmp, n);
}

static bool mock_word_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

/* Scenario flags from whole words of the prompt text. */
static unsigned mock_scan_words(const char *s, size_t n) {
    unsigned flags = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && !mock_word_char((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < n && mock_word_char((unsigned char)s[i]))
            i++;
        size_t len = i - start;
        for (size_t w = 0; w < sizeof mock_words / sizeof mock_words[0]; w++)
            if (len == strlen(mock_words[w].word) &&
                base_ascii_ieq(s + start, mock_words[w].word, len))
                flags |= mock_words[w].flag;
    }
    return flags;
}

static int mock_choice_index(const mock_config_def *def, const char *value) {
    if (!value)
        return -1;
    for (int i = 0; i < def->count; i++)
        if (!strcmp(def->choices[i].value, value))
            return i;
    return -1;
}

/* ---- sessions --------------------------------------------------------------------------- */

static mock_session *mock_session_find(const char *id) {
    for (mock_session *s = mock_g.sessions; s; s = s->next)
        if (!strcmp(s->id, id))
            return s;
    return NULL;
}

static mock_session *mock_session_new(const char *id, const char *cwd) {
    mock_session *s = base_xcalloc(1, sizeof *s);
    s->id = base_xstrdup(id);
    s->cwd = base_xstrdup(cwd ? cwd : mock_g.default_cwd);
    s->history = json_array();
    s->updated_ms = base_now_ms();
    mock_session **tail = &mock_g.sessions;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    return s;
}

static json_t *mock_modes_json(const mock_session *s) {
    json_t *avail = json_array();
    for (int i = 0; i < mock_configs[MOCK_CFG_MODE].count; i++) {
        const mock_choice *c = &mock_modes[i];
        json_array_append_new(avail, json_pack("{s:s,s:s,s:s}", "id", c->value, "name", c->name,
                                               "description", c->description));
    }
    return json_pack("{s:s,s:o}", "currentModeId", mock_modes[s->cfg[MOCK_CFG_MODE]].value,
                     "availableModes", avail);
}

static json_t *mock_config_json(const mock_session *s) {
    json_t *list = json_array();
    for (int i = 0; i < MOCK_CFG_COUNT; i++) {
        const mock_config_def *d = &mock_configs[i];
        json_t *opts = json_array();
        for (int j = 0; j < d->count; j++)
            json_array_append_new(opts, json_pack("{s:s,s:s}", "value", d->choices[j].value, "name",
                                                  d->choices[j].name));
        json_array_append_new(list,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", d->id, "name", d->name,
                                        "category", d->id, "type", "select", "currentValue",
                                        d->choices[s->cfg[i]].value, "options", opts));
    }
    return list;
}

static void mock_send_mode_update(const mock_session *s) {
    json_t *u = json_pack("{s:s,s:s}", "sessionUpdate", "current_mode_update", "currentModeId",
                          mock_modes[s->cfg[MOCK_CFG_MODE]].value);
    mock_send_update(s->id, u);
    json_decref(u);
}

/* Sends an update and, for message chunks, keeps it for session/load. update: stolen. */
void mock_emit(mock_session *s, json_t *update, bool record) {
    if (!update)
        return;
    mock_send_update(s->id, update);
    if (record)
        json_array_append(s->history, update);
    json_decref(update);
}

void mock_emit_text(mock_session *s, const char *kind, const char *text, size_t len) {
    json_t *u = json_pack("{s:s,s:{s:s,s:o}}", "sessionUpdate", kind, "content", "type", "text",
                          "text", mock_jstr(text, len));
    mock_emit(s, u, strcmp(kind, "agent_thought_chunk") != 0);
}

void mock_emit_texts(mock_session *s, const char *kind, const char *text) {
    mock_emit_text(s, kind, text, strlen(text));
}

/* ---- request handlers --------------------------------------------------------------------
 * Each gets the borrowed request id and params (anything, possibly NULL) and sends exactly
 * one response. */

/* The session named by params.sessionId, or NULL after sending the error. */
static mock_session *mock_rpc_session(json_t *id, json_t *params) {
    const char *sid = mock_param_str(params, "sessionId");
    if (!sid) {
        mock_send_invalid(id, "sessionId must be a string");
        return NULL;
    }
    mock_session *s = mock_session_find(sid);
    if (!s)
        mock_send_error(id, MOCK_ERR_NOT_FOUND, "Resource not found",
                        json_pack("{s:s}", "sessionId", sid));
    return s;
}

static void mock_rpc_initialize(json_t *id, json_t *params) {
    mock_send_result(id, json_pack("{s:i,s:{s:b,s:{s:b,s:b,s:b},s:{s:b,s:b}},s:{s:s,s:s,s:s},s:[]}",
                                   "protocolVersion", 1, "agentCapabilities", "loadSession", 1,
                                   "promptCapabilities", "image", 1, "audio", 0, "embeddedContext",
                                   1, "mcpCapabilities", "http", 0, "sse", 0, "agentInfo", "name",
                                   "sandbox-agent-mock", "title", "Mock Agent", "version",
                                   BASE_VERSION, "authMethods"));
}

static void mock_rpc_authenticate(json_t *id, json_t *params) {
    mock_send_result(id, json_object());
}

static void mock_rpc_session_new(json_t *id, json_t *params) {
    char sid[5 + 16 + 1];
    do {
        memcpy(sid, "mock-", 5);
        base_random_hex(sid + 5, 8);
    } while (mock_session_find(sid));
    mock_session *s = mock_session_new(sid, mock_param_str(params, "cwd"));
    mock_send_result(id, json_pack("{s:s,s:o,s:o}", "sessionId", s->id, "modes", mock_modes_json(s),
                                   "configOptions", mock_config_json(s)));
}

/* A load of an id this process never saw creates the session under that id with an empty
 * history: the agent process may have been restarted (history lives only in memory), and a
 * real agent with persisted state would resume it, so clients can always resume. */
static void mock_rpc_session_load(json_t *id, json_t *params) {
    const char *sid = mock_param_str(params, "sessionId");
    if (!sid) {
        mock_send_invalid(id, "sessionId must be a string");
        return;
    }
    const char *cwd = mock_param_str(params, "cwd");
    mock_session *s = mock_session_find(sid);
    if (!s) {
        s = mock_session_new(sid, cwd);
    } else if (cwd) {
        free(s->cwd);
        s->cwd = base_xstrdup(cwd);
    }
    size_t i;
    json_t *u;
    json_array_foreach(s->history, i, u) mock_send_update(s->id, u);
    mock_send_result(id, json_pack("{s:o,s:o}", "modes", mock_modes_json(s), "configOptions",
                                   mock_config_json(s)));
}

static void mock_rpc_session_list(json_t *id, json_t *params) {
    const char *cwd = mock_param_str(params, "cwd");
    json_t *list = json_array();
    for (mock_session *s = mock_g.sessions; s; s = s->next) {
        if (cwd && strcmp(cwd, s->cwd))
            continue;
        char when[32] = "";
        time_t secs = (time_t)(s->updated_ms / 1000);
        struct tm tm;
        if (gmtime_r(&secs, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *info =
            json_pack("{s:s,s:s,s:s}", "sessionId", s->id, "cwd", s->cwd, "updatedAt", when);
        if (info && s->title)
            json_object_set_new(info, "title", mock_jstr(s->title, strlen(s->title)));
        json_array_append_new(list, info);
    }
    mock_send_result(id, json_pack("{s:o}", "sessions", list));
}

static void mock_rpc_set_mode(json_t *id, json_t *params) {
    mock_session *s = mock_rpc_session(id, params);
    if (!s)
        return;
    int idx = mock_choice_index(&mock_configs[MOCK_CFG_MODE], mock_param_str(params, "modeId"));
    if (idx < 0) {
        mock_send_invalid(id, "modeId must be one of: normal, plan");
        return;
    }
    s->cfg[MOCK_CFG_MODE] = idx;
    mock_send_mode_update(s);
    mock_send_result(id, json_object());
}

/* Shared by set_config_option and set_model: validates and applies one value, or sends the
 * error and returns false. */
static bool mock_apply_config(json_t *id, mock_session *s, const char *config, const char *value) {
    for (int i = 0; i < MOCK_CFG_COUNT; i++) {
        if (!config || strcmp(config, mock_configs[i].id))
            continue;
        int idx = mock_choice_index(&mock_configs[i], value);
        if (idx < 0) {
            char *msg = base_xasprintf("value is not an option of %s", config);
            mock_send_invalid(id, msg);
            free(msg);
            return false;
        }
        s->cfg[i] = idx;
        if (i == MOCK_CFG_MODE)
            mock_send_mode_update(s);
        return true;
    }
    mock_send_invalid(id, "configId must be one of: model, mode, thought_level");
    return false;
}

static void mock_rpc_set_config_option(json_t *id, json_t *params) {
    mock_session *s = mock_rpc_session(id, params);
    if (!s)
        return;
    if (!mock_apply_config(id, s, mock_param_str(params, "configId"),
                           mock_param_str(params, "value")))
        return;
    mock_send_result(id, json_pack("{s:o}", "configOptions", mock_config_json(s)));
}

static void mock_rpc_set_model(json_t *id, json_t *params) {
    mock_session *s = mock_rpc_session(id, params);
    if (!s)
        return;
    if (mock_apply_config(id, s, "model", mock_param_str(params, "modelId")))
        mock_send_result(id, json_object());
}

/* Collects the prompt, then queues it; the response comes when the turn ends. */
static void mock_rpc_prompt(json_t *id, json_t *params) {
    mock_session *s = mock_rpc_session(id, params);
    if (!s)
        return;
    json_t *prompt = json_object_get(params, "prompt");
    if (!json_is_array(prompt)) {
        mock_send_invalid(id, "prompt must be an array of content blocks");
        return;
    }
    base_buf text, notes;
    base_buf_init(&text);
    base_buf_init(&notes);
    size_t i;
    json_t *block;
    json_array_foreach(prompt, i, block) {
        json_t *type = json_object_get(block, "type");
        if (mock_is(type, "text")) {
            json_t *tx = json_object_get(block, "text");
            /* The SDK's resumeSession prepends earlier turns as one context block. It is
             * history, not the user's words: it must not echo or trigger scenarios again. */
            if (json_is_string(tx) &&
                !strncmp(json_string_value(tx), MOCK_REPLAY_PREFIX, strlen(MOCK_REPLAY_PREFIX))) {
                base_buf_appendf(&notes, "Received %zu bytes of replayed session history.\n",
                                 json_string_length(tx));
                continue;
            }
            mock_buf_json(&text, tx);
        } else if (mock_is(type, "resource_link")) {
            base_buf_appends(&notes, "Referenced resource: ");
            mock_buf_json(&notes, json_object_get(block, "uri"));
            base_buf_appends(&notes, "\n");
        } else if (mock_is(type, "resource")) {
            base_buf_appends(&notes, "Embedded resource: ");
            mock_buf_json(&notes, json_object_get(json_object_get(block, "resource"), "uri"));
            base_buf_appends(&notes, "\n");
        } else if (mock_is(type, "image")) {
            base_buf_appends(&notes, "Received an image.\n");
        } else if (mock_is(type, "audio")) {
            base_buf_appends(&notes, "Received audio.\n");
        } else {
            base_buf_appends(&notes, "Ignored a content block of an unknown type.\n");
        }
    }
    mock_turn *t = base_xcalloc(1, sizeof *t);
    t->sess = s;
    t->req_id = json_incref(id);
    t->text = base_buf_steal(&text, &t->text_len);
    t->notes = base_buf_steal(&notes, &t->notes_len);
    t->flags = mock_scan_words(t->text, t->text_len);
    t->phase = MOCK_PH_START;
    if (s->queue_tail)
        s->queue_tail->next = t;
    else
        s->queue_head = t;
    s->queue_tail = t;
    mock_session_pump(s);
}

static const struct {
    const char *method;
    void (*fn)(json_t *id, json_t *params);
} mock_methods[] = {
    {"initialize", mock_rpc_initialize},
    {"authenticate", mock_rpc_authenticate},
    {"session/new", mock_rpc_session_new},
    {"session/load", mock_rpc_session_load},
    {"session/list", mock_rpc_session_list},
    {"session/set_mode", mock_rpc_set_mode},
    {"session/set_config_option", mock_rpc_set_config_option},
    {"session/set_model", mock_rpc_set_model},
    {"session/prompt", mock_rpc_prompt},
};

/* ---- message dispatch ------------------------------------------------------------------- */

static void mock_handle_request(json_t *method, json_t *id, json_t *params) {
    for (size_t i = 0; i < sizeof mock_methods / sizeof mock_methods[0]; i++) {
        if (mock_is(method, mock_methods[i].method)) {
            mock_methods[i].fn(id, params);
            return;
        }
    }
    mock_send_error(id, MOCK_ERR_METHOD_NOT_FOUND, "Method not found",
                    json_pack("{s:O}", "method", method));
}

static void mock_handle_notification(json_t *method, json_t *params) {
    if (!mock_is(method, "session/cancel"))
        return; /* unknown and extension notifications are ignored, as JSON-RPC requires */
    const char *sid = mock_param_str(params, "sessionId");
    mock_session *s = sid ? mock_session_find(sid) : NULL;
    if (s)
        mock_session_cancel(s);
}

/* A response to one of our requests: only permission requests exist. Anything else (stale
 * ids after a cancel, foreign ids) is ignored. */
static void mock_handle_response(json_t *msg, json_t *id) {
    if (!json_is_integer(id))
        return;
    json_int_t want = json_integer_value(id);
    mock_turn *t = NULL;
    for (mock_session *s = mock_g.sessions; s && !t; s = s->next)
        if (s->active && s->active->phase == MOCK_PH_PERM_WAIT && s->active->perm_id == want)
            t = s->active;
    if (!t)
        return;
    const char *granted = NULL;
    json_t *outcome = json_object_get(json_object_get(msg, "result"), "outcome");
    if (!json_object_get(msg, "error") &&
        mock_is(json_object_get(outcome, "outcome"), "selected")) {
        granted = mock_perm_granting(mock_param_str(outcome, "optionId"));
    }
    mock_turn_permission_done(t, granted, false);
}

static void mock_handle_line(const char *p, size_t n) {
    const char *s = base_trim(p, &n);
    if (!n)
        return;
    json_t *msg = base_json_parse(s, n, NULL, 0);
    if (!msg) {
        mock_send_error(NULL, MOCK_ERR_PARSE, "Parse error",
                        json_pack("{s:o}", "raw", mock_raw_string(s, n)));
        return;
    }
    json_t *method = json_object_get(msg, "method");
    json_t *id = json_object_get(msg, "id");
    bool id_ok = !id || json_is_null(id) || json_is_string(id) || json_is_number(id);
    if (!json_is_object(msg) || !id_ok || (method && !json_is_string(method)) || (!method && !id)) {
        /* Echo the id only when it is one; a broken id cannot be trusted back. */
        mock_send_error(id_ok ? id : NULL, MOCK_ERR_INVALID_REQUEST, "Invalid Request", NULL);
    } else if (method && id) {
        mock_handle_request(method, id, json_object_get(msg, "params"));
    } else if (method) {
        mock_handle_notification(method, json_object_get(msg, "params"));
    } else {
        mock_handle_response(msg, id);
    }
    json_decref(msg);
}

/* ---- input ------------------------------------------------------------------------------ */

/* Splits buffered input into lines. Only the bytes after `scanned` are searched, so a huge
 * line arriving in many reads costs linear time. */
static void mock_feed(const char *data, size_t n) {
    if (mock_g.discarding) {
        const char *nl = memchr(data, '\n', n);
        if (!nl)
            return;
        mock_g.discarding = false;
        n -= (size_t)(nl + 1 - data);
        data = nl + 1;
    }
    base_buf *b = &mock_g.line;
    base_buf_append(b, data, n);
    size_t start = 0;
    for (;;) {
        char *nl = memchr(b->data + mock_g.scanned, '\n', b->len - mock_g.scanned);
        if (!nl)
            break;
        size_t end = (size_t)(nl - b->data);
        mock_handle_line(b->data + start, end - start);
        start = end + 1;
        mock_g.scanned = start;
    }
    base_buf_consume(b, start);
    mock_g.scanned = b->len;
    if (b->len > MOCK_MAX_LINE) {
        mock_send_error(NULL, MOCK_ERR_PARSE, "Parse error",
                        json_pack("{s:o}", "raw", mock_raw_string(b->data, b->len)));
        base_buf_consume(b, b->len);
        mock_g.scanned = 0;
        mock_g.discarding = true;
    }
}

/* EOF (or a read error): handle a final unterminated line, stop reading, drop all turns so
 * no timer keeps the loop alive, and let uv_run return. */
static void mock_input_end(void) {
    if (mock_g.eof)
        return;
    mock_g.eof = true;
    if (!mock_g.discarding && mock_g.line.len)
        mock_handle_line(mock_g.line.data, mock_g.line.len);
    base_buf_consume(&mock_g.line, mock_g.line.len);
    if (mock_g.in_open) {
        uv_read_stop(&mock_g.in.stream);
        uv_close(&mock_g.in.handle, NULL);
        mock_g.in_open = false;
    }
    mock_abandon_turns();
}

static void mock_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    *buf = uv_buf_init(mock_g.rbuf, sizeof mock_g.rbuf);
}

static void mock_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    if (nread > 0) {
        mock_feed(buf->base, (size_t)nread);
    } else if (nread < 0) {
        if (nread != UV_EOF)
            LOG_WARN("mock agent stdin read failed", "error=%s", uv_strerror((int)nread));
        mock_input_end();
    }
}

static void mock_fs_read(void);

static void mock_fs_cb(uv_fs_t *req) {
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r > 0) {
        mock_feed(mock_g.rbuf, (size_t)r);
        mock_fs_read();
        return;
    }
    if (r < 0)
        LOG_WARN("mock agent stdin read failed", "error=%s", uv_strerror((int)r));
    mock_input_end();
}

static void mock_fs_read(void) {
    uv_buf_t b = uv_buf_init(mock_g.rbuf, sizeof mock_g.rbuf);
    int rc = uv_fs_read(&mock_g.loop, &mock_g.fs_req, STDIN_FILENO, &b, 1, -1, mock_fs_cb);
    if (rc < 0) {
        LOG_WARN("mock agent stdin read failed", "error=%s", uv_strerror(rc));
        mock_input_end();
    }
}

/* Pipes, sockets and terminals are read as libuv streams. Anything else (a regular file,
 * /dev/null, a closed fd) goes through threadpool reads, which work on every fd. */
static void mock_input_open(void) {
    uv_handle_type kind = uv_guess_handle(STDIN_FILENO);
    int rc = -1;
    if (kind == UV_NAMED_PIPE) {
        rc = uv_pipe_init(&mock_g.loop, &mock_g.in.pipe, 0);
        if (rc == 0) {
            rc = uv_pipe_open(&mock_g.in.pipe, STDIN_FILENO);
            if (rc < 0)
                uv_close(&mock_g.in.handle, NULL);
        }
    } else if (kind == UV_TTY) {
        rc = uv_tty_init(&mock_g.loop, &mock_g.in.tty, STDIN_FILENO, 1);
    }
    if (rc == 0) {
        mock_g.in_open = true;
        rc = uv_read_start(&mock_g.in.stream, mock_alloc_cb, mock_read_cb);
        if (rc < 0) {
            uv_close(&mock_g.in.handle, NULL);
            mock_g.in_open = false;
        }
    }
    if (rc < 0)
        mock_fs_read();
}

/* ---- entry point ------------------------------------------------------------------------ */

/* A closed standard fd would be reused by libuv's own epoll/eventfd descriptors, which then
 * get read as "stdin" and trip libuv's close assertions; park /dev/null there instead. */
static void mock_fix_std_fds(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd >= 0 && nfd != fd) {
            dup2(nfd, fd);
            close(nfd);
        }
    }
}

int mock_agent_main(int argc, char **argv) {
    /* A vanished reader must surface as EPIPE from write, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    mock_fix_std_fds();
    memset(&mock_g, 0, sizeof mock_g);
    base_buf_init(&mock_g.line);
    char *cwd = getcwd(NULL, 0);
    mock_g.default_cwd = base_xstrdup(cwd ? cwd : "/");
    free(cwd);
    if (uv_loop_init(&mock_g.loop) < 0) {
        LOG_ERROR("mock agent cannot start its event loop", NULL);
        free(mock_g.default_cwd);
        return 1;
    }
    mock_input_open();
    uv_run(&mock_g.loop, UV_RUN_DEFAULT);
    /* Closing callbacks may still be queued if the loop stopped on the final close. */
    while (uv_loop_close(&mock_g.loop) == UV_EBUSY)
        uv_run(&mock_g.loop, UV_RUN_NOWAIT);
    mock_sessions_free();
    base_buf_free(&mock_g.line);
    free(mock_g.default_cwd);
    return 0;
}
