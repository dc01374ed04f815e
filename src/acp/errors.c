/* errors.c - what the bridge answers when the agent cannot: JSON-RPC errors for requests,
 * problem documents for notifications and responses.
 *
 * Why JSON-RPC and not an HTTP error for a request: the official SDK 0.4.2 turns any
 * non-2xx answer to a POST into an error on its readable stream, which ends the whole
 * connection and surfaces as an unhandled promise rejection (Node exits). A 200 carrying
 * a JSON-RPC error with the request's id rejects only that call, and the caller can catch
 * it. Notifications and responses have no id to answer with, so they keep a problem
 * document. The codes are documented in docs/acp-errors.md. */
#include "acp/acp.h"

#include <signal.h>
#include <string.h>

const char *acp_signal_name(int sig) {
    switch (sig) {
    case SIGHUP:
        return "SIGHUP";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGILL:
        return "SIGILL";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGABRT:
        return "SIGABRT";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGKILL:
        return "SIGKILL";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGUSR2:
        return "SIGUSR2";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGALRM:
        return "SIGALRM";
    case SIGTERM:
        return "SIGTERM";
    case SIGXCPU:
        return "SIGXCPU";
    case SIGXFSZ:
        return "SIGXFSZ";
    case SIGSYS:
        return "SIGSYS";
    default:
        return NULL;
    }
}

/* "exit code 3", "signal SIGKILL" or "signal 42". */
static char *acp_exit_phrase(const acp_exit_info *x) {
    if (x->term_signal == 0)
        return base_xasprintf("exit code %d", x->exit_code);
    const char *name = acp_signal_name(x->term_signal);
    if (name)
        return base_xasprintf("signal %s", name);
    return base_xasprintf("signal %d", x->term_signal);
}

/* The members every agent-exit error carries, in `data` (JSON-RPC) or `details` (problem). */
static json_t *acp_exit_details(const acp_exit_info *x) {
    json_t *d = json_object();
    json_object_set_new(d, "exitCode", x->term_signal ? json_null() : json_integer(x->exit_code));
    const char *name = x->term_signal ? acp_signal_name(x->term_signal) : NULL;
    if (!x->term_signal)
        json_object_set_new(d, "signal", json_null());
    else if (name)
        json_object_set_new(d, "signal", json_string(name));
    else
        json_object_set_new(d, "signal", json_integer(x->term_signal));
    json_object_set_new(d, "stderr", json_string(x->stderr_tail ? x->stderr_tail : ""));
    return d;
}

json_t *acp_rpc_error(const json_t *id, int code, const char *message, json_t *data) {
    json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(err, "data", data);
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", err);
}

json_t *acp_rpc_error_exited(const json_t *id, const acp_exit_info *x) {
    char *how = acp_exit_phrase(x);
    char *msg = base_xasprintf("agent process exited (%s): %s", how, x->agent);
    json_t *data = acp_exit_details(x);
    json_object_set_new(data, "type", json_string(ACP_URN "agent_process_exited"));
    json_object_set_new(data, "agent", json_string(x->agent));
    json_object_set_new(data, "serverId", json_string(x->server_id));
    json_t *r = acp_rpc_error(id, ACP_RPC_AGENT_EXITED, msg, data);
    free(msg);
    free(how);
    return r;
}

json_t *acp_rpc_error_timeout(const json_t *id, const char *agent, const char *server_id,
                              uint64_t timeout_ms) {
    char *msg = base_xasprintf("agent did not answer within %llu ms: %s",
                               (unsigned long long)timeout_ms, agent);
    json_t *data = json_pack("{s:s,s:s,s:s,s:I}", "type", ACP_URN "timeout", "agent", agent,
                             "serverId", server_id, "timeoutMs", (json_int_t)timeout_ms);
    json_t *r = acp_rpc_error(id, ACP_RPC_AGENT_TIMEOUT, msg, data);
    free(msg);
    return r;
}

json_t *acp_rpc_error_stdin(const json_t *id, const char *agent, const char *server_id, int uverr) {
    char *msg = base_xasprintf("cannot write to the agent's stdin: %s", uv_strerror(uverr));
    json_t *data = json_pack("{s:s,s:s,s:s}", "type", ACP_URN "stream_error", "agent", agent,
                             "serverId", server_id);
    json_t *r = acp_rpc_error(id, ACP_RPC_AGENT_UNREACHABLE, msg, data);
    free(msg);
    return r;
}

void acp_problem_exited(http_req *req, const acp_exit_info *x) {
    char *how = acp_exit_phrase(x);
    char *detail = base_xasprintf(
        "agent process exited (%s): %s; only a new session (session/new, session/load or "
        "initialize) restarts it",
        how, x->agent);
    json_t *extra = json_pack("{s:s,s:s,s:o}", "agent", x->agent, "serverId", x->server_id,
                              "details", acp_exit_details(x));
    http_reply_problem(req, 502, "agent_process_exited", "Agent Process Exited", detail, extra);
    free(detail);
    free(how);
}
