/* mock_turn.c - one session/prompt of the mock agent, from start to stop reason: the
 * phases chosen by words in the prompt (think, plan, tool, permission, text, slow), the
 * permission round trip, cancel, and the per-session queue of prompts. */
#include "mock/internal.h"

/* Permission options offered in session/request_permission; the first two grant. */
static const struct {
    const char *id;
    const char *name;
    const char *kind;
    bool allows;
} mock_perm_options[] = {
    {"allow-once", "Allow once", "allow_once", true},
    {"allow-always", "Always allow", "allow_always", true},
    {"reject-once", "Reject", "reject_once", false},
    {"reject-always", "Never allow", "reject_always", false},
};

const char *mock_perm_granting(const char *option_id) {
    for (size_t i = 0; option_id && i < sizeof mock_perm_options / sizeof mock_perm_options[0]; i++)
        if (mock_perm_options[i].allows && !strcmp(option_id, mock_perm_options[i].id))
            return mock_perm_options[i].id;
    return NULL;
}

/* ---- turns ------------------------------------------------------------------------------ */

static void mock_turn_run(mock_turn *t);
void mock_session_pump(mock_session *s);

static void mock_turn_free(mock_turn *t) {
    json_decref(t->req_id);
    free(t->text);
    free(t->notes);
    free(t);
}

static void mock_turn_closed(uv_handle_t *h) {
    mock_turn_free((mock_turn *)((char *)h - offsetof(mock_turn, timer)));
}

void mock_turn_release(mock_turn *t) {
    if (t->timer_live) {
        uv_timer_stop(&t->timer);
        uv_close((uv_handle_t *)&t->timer, mock_turn_closed);
    } else {
        mock_turn_free(t);
    }
}

/* The turn is over (its response already sent): detach it and start the next prompt. */
static void mock_turn_end(mock_turn *t) {
    mock_session *s = t->sess;
    if (s->active == t)
        s->active = NULL;
    s->updated_ms = base_now_ms();
    mock_turn_release(t);
    mock_session_pump(s);
}

static void mock_turn_finish(mock_turn *t, const char *stop_reason) {
    mock_send_result(t->req_id, json_pack("{s:s}", "stopReason", stop_reason));
    mock_turn_end(t);
}

static void mock_turn_think(mock_turn *t) {
    mock_emit_texts(t->sess, "agent_thought_chunk", "Thinking about the request. ");
    mock_emit_texts(t->sess, "agent_thought_chunk", "The mock agent weighs a few options, ");
    mock_emit_texts(t->sess, "agent_thought_chunk", "then settles on a canned answer.");
}

static json_t *mock_plan_json(const char *s1, const char *s2, const char *s3) {
    return json_pack("{s:s,s:[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]}", "sessionUpdate", "plan",
                     "entries", "content", "Read the request", "priority", "high", "status", s1,
                     "content", "Draft a mock answer", "priority", "medium", "status", s2,
                     "content", "Polish the wording", "priority", "low", "status", s3);
}

static void mock_turn_plan(mock_turn *t) {
    mock_emit(t->sess, mock_plan_json("in_progress", "pending", "pending"), false);
    mock_emit(t->sess, mock_plan_json("completed", "completed", "completed"), false);
}

static void mock_next_call_id(char *out, size_t cap) {
    snprintf(out, cap, "call_%lu", ++mock_g.next_call);
}

static void mock_turn_tool(mock_turn *t) {
    char cid[32];
    mock_next_call_id(cid, sizeof cid);
    mock_emit(t->sess,
              json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s}}", "sessionUpdate", "tool_call", "toolCallId",
                        cid, "title", "Read mock.txt", "kind", "read", "status", "pending",
                        "rawInput", "path", "mock.txt"),
              false);
    mock_emit(t->sess,
              json_pack("{s:s,s:s,s:s,s:[{s:s,s:{s:s,s:s}}],s:{s:s,s:i}}", "sessionUpdate",
                        "tool_call_update", "toolCallId", cid, "status", "completed", "content",
                        "type", "content", "content", "type", "text", "text",
                        "Contents of mock.txt: hello from the mock tool", "rawOutput", "content",
                        "hello from the mock tool", "bytes", 24),
              false);
}

/* Announces the guarded tool call and asks the client; the turn parks in PERM_WAIT. */
static void mock_turn_ask_permission(mock_turn *t) {
    mock_next_call_id(t->perm_call, sizeof t->perm_call);
    mock_emit(t->sess,
              json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "sessionUpdate", "tool_call",
                        "toolCallId", t->perm_call, "title", "Edit mock.txt", "kind", "edit",
                        "status", "pending", "rawInput", "path", "mock.txt", "content",
                        "edited by the mock agent"),
              false);
    json_t *opts = json_array();
    for (size_t i = 0; i < sizeof mock_perm_options / sizeof mock_perm_options[0]; i++)
        json_array_append_new(opts, json_pack("{s:s,s:s,s:s}", "optionId", mock_perm_options[i].id,
                                              "name", mock_perm_options[i].name, "kind",
                                              mock_perm_options[i].kind));
    t->perm_id = mock_g.next_req_id++;
    t->phase = MOCK_PH_PERM_WAIT;
    mock_send(json_pack("{s:s,s:I,s:s,s:{s:s,s:{s:s,s:s,s:s,s:s},s:o}}", "jsonrpc", "2.0", "id",
                        t->perm_id, "method", "session/request_permission", "params", "sessionId",
                        t->sess->id, "toolCall", "toolCallId", t->perm_call, "title",
                        "Edit mock.txt", "kind", "edit", "status", "pending", "options", opts));
}

/* The permission question is settled. option: the granting option id, NULL if denied.
 * by_cancel: a session/cancel settled it, so the turn ends here as cancelled. */
static void mock_turn_main_text(mock_turn *t);

void mock_turn_permission_done(mock_turn *t, const char *option, bool by_cancel) {
    mock_session *s = t->sess;
    if (option) {
        mock_emit(s,
                  json_pack("{s:s,s:s,s:s,s:[{s:s,s:{s:s,s:s}}],s:{s:b}}", "sessionUpdate",
                            "tool_call_update", "toolCallId", t->perm_call, "status", "completed",
                            "content", "type", "content", "content", "type", "text", "text",
                            "Edited mock.txt", "rawOutput", "applied", 1),
                  false);
        char *msg =
            base_xasprintf("Permission granted (%s): the edit was allowed and applied. ", option);
        mock_emit_texts(s, "agent_message_chunk", msg);
        free(msg);
    } else {
        mock_emit(s,
                  json_pack("{s:s,s:s,s:s,s:[{s:s,s:{s:s,s:s}}],s:{s:b}}", "sessionUpdate",
                            "tool_call_update", "toolCallId", t->perm_call, "status", "failed",
                            "content", "type", "content", "content", "type", "text", "text",
                            "Permission denied", "rawOutput", "applied", 0),
                  false);
        mock_emit_texts(s, "agent_message_chunk",
                        by_cancel ? "Permission denied: the turn was cancelled. "
                                  : "Permission denied: the edit was not applied. ");
    }
    if (by_cancel) {
        /* Even a cancelled turn echoes the prompt: every turn carries its text verbatim. */
        mock_turn_main_text(t);
        mock_turn_finish(t, "cancelled");
        return;
    }
    t->phase = MOCK_PH_TEXT;
    mock_turn_run(t);
}

static void mock_turn_main_text(mock_turn *t) {
    base_buf b;
    base_buf_init(&b);
    base_buf_appends(&b, "Mock response to: ");
    base_buf_append(&b, t->text, t->text_len);
    if (t->notes_len) {
        base_buf_append(&b, "\n", 1);
        base_buf_append(&b, t->notes, t->notes_len);
    }
    mock_emit_text(t->sess, "agent_message_chunk", b.data, b.len);
    base_buf_free(&b);
}

static void mock_turn_tick(uv_timer_t *timer) {
    mock_turn *t = (mock_turn *)((char *)timer - offsetof(mock_turn, timer));
    char chunk[64];
    t->slow_sent++;
    snprintf(chunk, sizeof chunk, " Slow chunk %d of %d.", t->slow_sent, MOCK_SLOW_CHUNKS);
    mock_emit_texts(t->sess, "agent_message_chunk", chunk);
    if (t->slow_sent >= MOCK_SLOW_CHUNKS) {
        uv_timer_stop(&t->timer);
        mock_turn_finish(t, "end_turn");
    }
}

/* Runs the turn from its current phase until it has to wait or is over. Every path that
 * ends the turn frees it, so return straight after. */
static void mock_turn_run(mock_turn *t) {
    mock_session *s = t->sess;
    for (;;) {
        switch (t->phase) {
        case MOCK_PH_START: {
            json_t *u =
                json_pack("{s:s,s:{s:s,s:o}}", "sessionUpdate", "user_message_chunk", "content",
                          "type", "text", "text", mock_jstr(t->text, t->text_len));
            if (u)
                json_array_append_new(s->history, u);
            if (!s->title && t->text_len) {
                size_t n = mock_utf8_cut(t->text, t->text_len, MOCK_TITLE_MAX);
                char *title = base_xstrndup(t->text, n);
                for (char *p = title; *p; p++)
                    if ((unsigned char)*p < 0x20)
                        *p = ' ';
                s->title = title;
            }
            t->phase = MOCK_PH_THINK;
            break;
        }
        case MOCK_PH_THINK:
            if (t->flags & MOCK_SC_THINK)
                mock_turn_think(t);
            t->phase = MOCK_PH_PLAN;
            break;
        case MOCK_PH_PLAN:
            if (t->flags & MOCK_SC_PLAN)
                mock_turn_plan(t);
            t->phase = MOCK_PH_TOOL;
            break;
        case MOCK_PH_TOOL:
            if (t->flags & MOCK_SC_TOOL)
                mock_turn_tool(t);
            t->phase = MOCK_PH_PERM;
            break;
        case MOCK_PH_PERM:
            if (t->flags & MOCK_SC_PERMISSION) {
                mock_turn_ask_permission(t);
                return;
            }
            t->phase = MOCK_PH_TEXT;
            break;
        case MOCK_PH_PERM_WAIT:
        case MOCK_PH_SLOW_WAIT:
            return;
        case MOCK_PH_TEXT:
            mock_turn_main_text(t);
            if (t->flags & MOCK_SC_CRASH) {
                static const char msg[] = "mock agent crashing as requested\n";
                ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
                (void)ignored;
                _exit(1); /* a crash: no cleanup, no response */
            }
            if (t->flags & MOCK_SC_ERROR) {
                mock_send_error(t->req_id, MOCK_ERR_INTERNAL, "Internal error",
                                json_pack("{s:s}", "details", "mock error scenario"));
                mock_turn_end(t);
                return;
            }
            t->phase = MOCK_PH_SLOW;
            break;
        case MOCK_PH_SLOW:
            if (!(t->flags & MOCK_SC_SLOW)) {
                mock_turn_finish(t, "end_turn");
                return;
            }
            uv_timer_init(&mock_g.loop, &t->timer);
            t->timer_live = true;
            uv_timer_start(&t->timer, mock_turn_tick, MOCK_SLOW_INTERVAL_MS, MOCK_SLOW_INTERVAL_MS);
            t->phase = MOCK_PH_SLOW_WAIT;
            return;
        }
    }
}

/* Starts queued prompts one at a time. Turns without waits finish inside mock_turn_run and
 * call back in here; the pumping flag turns that recursion into this loop. */
void mock_session_pump(mock_session *s) {
    if (s->pumping)
        return;
    s->pumping = true;
    while (!s->active && s->queue_head) {
        mock_turn *t = s->queue_head;
        s->queue_head = t->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        t->next = NULL;
        s->active = t;
        mock_turn_run(t);
    }
    s->pumping = false;
}

/* session/cancel: the running turn stops as "cancelled"; prompts queued behind it are
 * answered "cancelled" too, since the client asked to stop everything in flight. */
void mock_session_cancel(mock_session *s) {
    mock_turn *queued = s->queue_head;
    s->queue_head = s->queue_tail = NULL;
    mock_turn *t = s->active;
    if (t && t->phase == MOCK_PH_PERM_WAIT) {
        mock_turn_permission_done(t, NULL, true);
    } else if (t && t->phase == MOCK_PH_SLOW_WAIT) {
        uv_timer_stop(&t->timer);
        mock_turn_finish(t, "cancelled");
    }
    while (queued) {
        mock_turn *next = queued->next;
        mock_send_result(queued->req_id, json_pack("{s:s}", "stopReason", "cancelled"));
        mock_turn_free(queued);
        queued = next;
    }
}

/* At EOF nobody can read answers any more: drop every turn without responding. */
void mock_abandon_turns(void) {
    for (mock_session *s = mock_g.sessions; s; s = s->next) {
        while (s->queue_head) {
            mock_turn *t = s->queue_head;
            s->queue_head = t->next;
            mock_turn_free(t);
        }
        s->queue_tail = NULL;
        if (s->active) {
            mock_turn_release(s->active);
            s->active = NULL;
        }
    }
}

void mock_sessions_free(void) {
    while (mock_g.sessions) {
        mock_session *s = mock_g.sessions;
        mock_g.sessions = s->next;
        free(s->id);
        free(s->cwd);
        free(s->title);
        json_decref(s->history);
        free(s);
    }
}
