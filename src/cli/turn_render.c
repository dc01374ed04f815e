/* turn_render.c - SessionEvents (docs/sessions.md) shown to a person: the streaming view of a
 * turn that `api sessions send` prints as events arrive (agent text as it comes, thoughts
 * dimmed, one line per tool call and update, plans, permission requests with the command
 * that answers them), and the one-line summary per event of `api sessions events`.
 *
 * Both read only what the ACP envelopes carry (payload); anything unknown is still shown,
 * by its method or update kind, so a newer agent never makes the CLI silent. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/api.h"

#define CLI_TURN_DIM "\x1b[2m"
#define CLI_TURN_BOLD "\x1b[1m"
#define CLI_TURN_YELLOW "\x1b[33m"
#define CLI_TURN_RED "\x1b[31m"
#define CLI_TURN_RESET "\x1b[0m"

/* How much of a text or JSON a one-line summary shows. */
#define CLI_TURN_SUMMARY_MAX 120

enum { CLI_TURN_NONE, CLI_TURN_TEXT, CLI_TURN_THOUGHT, CLI_TURN_USER };

void cli_turn_render_init(cli_turn_render *r, FILE *out, bool color, const char *session,
                          const char *hint_opts) {
    memset(r, 0, sizeof *r);
    r->out = out;
    r->color = color;
    r->session = session;
    r->hint_opts = hint_opts ? hint_opts : "";
    r->tools = base_map_new();
}

void cli_turn_render_free(cli_turn_render *r) {
    base_map_free(r->tools, free);
    r->tools = NULL;
}

static const char *cli_turn_sgr(const cli_turn_render *r, const char *code) {
    return r->color ? code : "";
}

/* Ends the text line in progress, so that what follows starts on its own line. */
void cli_turn_render_flush(cli_turn_render *r) {
    if (r->open != CLI_TURN_NONE) {
        fprintf(r->out, "%s\n", cli_turn_sgr(r, CLI_TURN_RESET));
        r->open = CLI_TURN_NONE;
    }
    fflush(r->out);
}

/* Text of a ContentBlock, or of an array of them (a prompt), "" when there is none. */
static void cli_turn_content_text(const json_t *content, base_buf *out) {
    if (json_is_array(content)) {
        size_t k;
        json_t *c;
        json_array_foreach(content, k, c) cli_turn_content_text(c, out);
        return;
    }
    const char *type = json_string_value(json_object_get(content, "type"));
    const char *text = json_string_value(json_object_get(content, "text"));
    if (text && (!type || !strcmp(type, "text")))
        base_buf_appends(out, text);
    else if (type && !strcmp(type, "resource_link"))
        base_buf_appendf(out, "[%s]", json_string_value(json_object_get(content, "uri")) ?: "link");
    else if (type)
        base_buf_appendf(out, "[%s]", type);
}

/* Streams a piece of text in the given mode, starting a line with its prefix when the mode
 * changes. */
static void cli_turn_text(cli_turn_render *r, int mode, const char *text) {
    if (!*text)
        return;
    if (r->open != mode) {
        cli_turn_render_flush(r);
        if (mode == CLI_TURN_THOUGHT)
            fprintf(r->out, "%sthinking: ", cli_turn_sgr(r, CLI_TURN_DIM));
        else if (mode == CLI_TURN_USER)
            fprintf(r->out, "%s> ", cli_turn_sgr(r, CLI_TURN_BOLD));
        r->open = mode;
    }
    /* A dim thought stays dim across chunks: the reset is printed when the line ends. */
    fputs(text, r->out);
    fflush(r->out);
}

/* A line of its own: "[tag] text". */
static void cli_turn_line(cli_turn_render *r, const char *sgr, const char *tag, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
static void cli_turn_line(cli_turn_render *r, const char *sgr, const char *tag, const char *fmt,
                          ...) {
    cli_turn_render_flush(r);
    fprintf(r->out, "%s[%s]%s ", cli_turn_sgr(r, sgr), tag, cli_turn_sgr(r, CLI_TURN_RESET));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->out, fmt, ap);
    va_end(ap);
    fputc('\n', r->out);
    fflush(r->out);
}

static void cli_turn_tool(cli_turn_render *r, const json_t *u, bool first) {
    const char *id = json_string_value(json_object_get(u, "toolCallId"));
    const char *title = json_string_value(json_object_get(u, "title"));
    if (id && title)
        free(base_map_put(r->tools, id, base_xstrdup(title)));
    else if (id)
        title = base_map_get(r->tools, id);
    const char *kind = json_string_value(json_object_get(u, "kind"));
    const char *status = json_string_value(json_object_get(u, "status"));
    base_buf text;
    base_buf_init(&text);
    size_t k;
    json_t *c;
    /* Only the text a tool produced, on completion: diffs and terminals are for a UI. */
    json_array_foreach(json_object_get(u, "content"), k, c) {
        if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", "content"))
            cli_turn_content_text(json_object_get(c, "content"), &text);
    }
    char *one = base_xstrndup(text.data ? text.data : "", text.len);
    for (char *p = one; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    bool cut = strlen(one) > CLI_TURN_SUMMARY_MAX;
    cli_turn_line(r, CLI_TURN_DIM, "tool", "%s%s%s%s: %s%s%s%s",
                  title ? title
                  : id  ? id
                        : "?",
                  first && kind ? " (" : "", first && kind ? kind : "", first && kind ? ")" : "",
                  status  ? status
                  : first ? "pending"
                          : "updated",
                  *one ? " - " : "", cut ? "" : one, cut ? "(output cut)" : "");
    free(one);
    base_buf_free(&text);
}

static void cli_turn_plan(cli_turn_render *r, const json_t *u) {
    cli_turn_line(r, CLI_TURN_DIM, "plan", "%zu entries",
                  json_array_size(json_object_get(u, "entries")));
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(u, "entries"), k, e) {
        fprintf(r->out, "  - [%s] %s\n", json_string_value(json_object_get(e, "status")) ?: "?",
                json_string_value(json_object_get(e, "content")) ?: "");
    }
    fflush(r->out);
}

static void cli_turn_update(cli_turn_render *r, const json_t *u) {
    const char *kind = json_string_value(json_object_get(u, "sessionUpdate"));
    base_buf text;
    base_buf_init(&text);
    if (!kind) {
        cli_turn_line(r, CLI_TURN_DIM, "update", "(without sessionUpdate)");
    } else if (!strcmp(kind, "agent_message_chunk") || !strcmp(kind, "agent_thought_chunk") ||
               !strcmp(kind, "user_message_chunk")) {
        cli_turn_content_text(json_object_get(u, "content"), &text);
        base_buf_append(&text, "", 1);
        cli_turn_text(r,
                      kind[0] == 'u'                       ? CLI_TURN_USER
                      : !strcmp(kind + 6, "thought_chunk") ? CLI_TURN_THOUGHT
                                                           : CLI_TURN_TEXT,
                      text.data);
    } else if (!strcmp(kind, "tool_call") || !strcmp(kind, "tool_call_update")) {
        cli_turn_tool(r, u, !strcmp(kind, "tool_call"));
    } else if (!strcmp(kind, "plan")) {
        cli_turn_plan(r, u);
    } else if (!strcmp(kind, "current_mode_update")) {
        cli_turn_line(r, CLI_TURN_DIM, "mode", "%s",
                      json_string_value(json_object_get(u, "currentModeId")) ?: "?");
    } else if (!strcmp(kind, "available_commands_update")) {
        cli_turn_line(r, CLI_TURN_DIM, "commands", "%zu available",
                      json_array_size(json_object_get(u, "availableCommands")));
    } else {
        cli_turn_line(r, CLI_TURN_DIM, kind, "%s", "");
    }
    base_buf_free(&text);
}

static void cli_turn_permission(cli_turn_render *r, const json_t *env) {
    const json_t *params = json_object_get(env, "params");
    const json_t *tool = json_object_get(params, "toolCall");
    const char *title = json_string_value(json_object_get(tool, "title"));
    const char *tid = json_string_value(json_object_get(tool, "toolCallId"));
    if (!title && tid)
        title = base_map_get(r->tools, tid);
    char *id = json_dumps(json_object_get(env, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
    /* A string id is given bare: it is one path segment of the reply route. */
    const char *bare = json_string_value(json_object_get(env, "id"));
    base_buf opts;
    base_buf_init(&opts);
    size_t k;
    json_t *o;
    json_array_foreach(json_object_get(params, "options"), k, o) {
        base_buf_appendf(&opts, "%s%s (%s)", k ? ", " : "",
                         json_string_value(json_object_get(o, "name")) ?: "?",
                         json_string_value(json_object_get(o, "kind")) ?: "?");
    }
    cli_turn_line(r, CLI_TURN_YELLOW, "permission", "%s%s%s asks for permission",
                  cli_turn_sgr(r, CLI_TURN_BOLD), title ? title : "the agent",
                  cli_turn_sgr(r, CLI_TURN_RESET));
    fprintf(r->out, "  options: %s\n", opts.data ? opts.data : "(none)");
    fprintf(r->out, "  answer:  sandbox-agent api sessions reply %s %s once|always|reject%s\n",
            r->session,
            bare ? bare
            : id ? id
                 : "?",
            r->hint_opts);
    fflush(r->out);
    base_buf_free(&opts);
    free(id);
}

/* The outcome of a permission answered by a client: "allowed (allow-once)", "cancelled". */
static void cli_turn_outcome(const json_t *result, char *out, size_t cap) {
    const json_t *outcome = json_object_get(result, "outcome");
    const char *what = json_string_value(json_object_get(outcome, "outcome"));
    const char *option = json_string_value(json_object_get(outcome, "optionId"));
    snprintf(out, cap, "%s%s%s%s", what ? what : "?", option ? " (" : "", option ? option : "",
             option ? ")" : "");
}

void cli_turn_render_event(cli_turn_render *r, const json_t *event) {
    const json_t *env = json_object_get(event, "payload");
    const char *sender = json_string_value(json_object_get(event, "sender"));
    const char *method = json_string_value(json_object_get(env, "method"));
    bool from_agent = sender && !strcmp(sender, "agent");
    if (method && !strcmp(method, "session/update")) {
        cli_turn_update(r, json_object_get(json_object_get(env, "params"), "update"));
    } else if (method && !strcmp(method, "session/request_permission")) {
        cli_turn_permission(r, env);
    } else if (method && !strcmp(method, "session/cancel")) {
        cli_turn_line(r, CLI_TURN_DIM, "cancel", "a client cancelled the turn");
    } else if (method && !strcmp(method, "session/prompt")) {
        /* The prompt being run: the person who sent it knows it. */
    } else if (method) {
        char *params = json_dumps(json_object_get(env, "params"), JSON_ENCODE_ANY | JSON_COMPACT);
        bool cut = params && strlen(params) > CLI_TURN_SUMMARY_MAX;
        cli_turn_line(r, CLI_TURN_DIM, method, "%s%s", params && !cut ? params : "",
                      cut ? "(params cut)" : "");
        free(params);
    } else if (json_object_get(env, "error")) {
        const json_t *e = json_object_get(env, "error");
        cli_turn_line(r, CLI_TURN_RED, "error", "%s (code %lld)",
                      json_string_value(json_object_get(e, "message")) ?: "?",
                      (long long)json_integer_value(json_object_get(e, "code")));
    } else if (!from_agent && json_object_get(json_object_get(env, "result"), "outcome")) {
        char outcome[160];
        cli_turn_outcome(json_object_get(env, "result"), outcome, sizeof outcome);
        cli_turn_line(r, CLI_TURN_YELLOW, "permission", "answered: %s", outcome);
    }
    /* Other responses (the prompt's own, with the stop reason) end the turn: the caller
     * prints the turn's end. */
}

/* ---- one line per event ------------------------------------------------------------------ */

/* Appends s, on one line, cut at CLI_TURN_SUMMARY_MAX bytes, as a JSON string. */
static void cli_turn_quote(base_buf *out, const char *s, size_t n) {
    bool cut = n > CLI_TURN_SUMMARY_MAX;
    json_t *str = json_stringn_nocheck(s, cut ? CLI_TURN_SUMMARY_MAX : n);
    char *q = json_dumps(str, JSON_ENCODE_ANY);
    base_buf_appends(out, q ? q : "\"\"");
    if (cut)
        base_buf_appends(out, "...");
    free(q);
    json_decref(str);
}

static void cli_turn_summary_update(const json_t *u, base_buf *out) {
    const char *kind = json_string_value(json_object_get(u, "sessionUpdate"));
    base_buf_appendf(out, " %s", kind ? kind : "?");
    if (!kind)
        return;
    base_buf text;
    base_buf_init(&text);
    if (strstr(kind, "_chunk")) {
        cli_turn_content_text(json_object_get(u, "content"), &text);
        base_buf_append(out, " ", 1);
        cli_turn_quote(out, text.data ? text.data : "", text.len);
    } else if (!strncmp(kind, "tool_call", 9)) {
        const char *title = json_string_value(json_object_get(u, "title"));
        const char *status = json_string_value(json_object_get(u, "status"));
        base_buf_appendf(out, " %s%s%s", json_string_value(json_object_get(u, "toolCallId")) ?: "?",
                         title ? " " : "", title ? title : "");
        if (status)
            base_buf_appendf(out, ": %s", status);
    } else if (!strcmp(kind, "plan")) {
        base_buf_appendf(out, " %zu entries", json_array_size(json_object_get(u, "entries")));
    } else if (!strcmp(kind, "current_mode_update")) {
        base_buf_appendf(out, " %s", json_string_value(json_object_get(u, "currentModeId")) ?: "?");
    }
    base_buf_free(&text);
}

void cli_turn_summary(const json_t *event, base_buf *out) {
    const json_t *env = json_object_get(event, "payload");
    const char *method = json_string_value(json_object_get(env, "method"));
    base_buf_appendf(out, "#%lld %-6s ",
                     (long long)json_integer_value(json_object_get(event, "eventIndex")),
                     json_string_value(json_object_get(event, "sender")) ?: "?");
    const json_t *id = json_object_get(env, "id");
    char *ids = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    if (method) {
        base_buf_appends(out, method);
        if (ids)
            base_buf_appendf(out, " (request %s)", ids);
        const json_t *params = json_object_get(env, "params");
        if (!strcmp(method, "session/update")) {
            cli_turn_summary_update(json_object_get(params, "update"), out);
        } else if (!strcmp(method, "session/prompt")) {
            base_buf text;
            base_buf_init(&text);
            cli_turn_content_text(json_object_get(params, "prompt"), &text);
            base_buf_append(out, " ", 1);
            cli_turn_quote(out, text.data ? text.data : "", text.len);
            base_buf_free(&text);
        } else if (!strcmp(method, "session/request_permission")) {
            const char *title =
                json_string_value(json_object_get(json_object_get(params, "toolCall"), "title"));
            base_buf_appendf(out, " %s", title ? title : "");
        }
    } else if (json_object_get(env, "error")) {
        const json_t *e = json_object_get(env, "error");
        base_buf_appendf(out, "error %s: %s", ids ? ids : "?",
                         json_string_value(json_object_get(e, "message")) ?: "?");
    } else {
        const json_t *result = json_object_get(env, "result");
        base_buf_appendf(out, "response %s", ids ? ids : "?");
        const char *stop = json_string_value(json_object_get(result, "stopReason"));
        char outcome[160];
        if (stop) {
            base_buf_appendf(out, " stopReason: %s", stop);
        } else if (json_object_get(result, "outcome")) {
            cli_turn_outcome(result, outcome, sizeof outcome);
            base_buf_appendf(out, " %s", outcome);
        } else if (json_is_string(json_object_get(result, "sessionId"))) {
            base_buf_appendf(out, " sessionId: %s",
                             json_string_value(json_object_get(result, "sessionId")));
        }
    }
    free(ids);
}
