/* credentials.h - LLM credential discovery (agents.md §7.1), internal to the agents module
 * and shared with `sandbox-agent credentials` (src/cli/credentials.c).
 *
 * Discovery is best effort: missing, unreadable or malformed sources are skipped silently
 * and never fail the caller. Secrets are never logged. */
#ifndef AGENTS_CREDENTIALS_H
#define AGENTS_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef enum {
    AGENTS_CREDENTIALS_API_KEY = 0, /* "api_key" */
    AGENTS_CREDENTIALS_OAUTH,       /* "oauth" */
} agents_credentials_auth;

/* One discovered credential. Owner: the agents_credentials set that holds it. */
typedef struct agents_credential {
    char *provider;     /* "anthropic", "openai" or an opencode provider name */
    const char *source; /* static: environment, amp, claude-code, codex, opencode */
    agents_credentials_auth auth_type;
    char *api_key;      /* NUL-terminated copy; may hold NUL bytes from a JSON \u0000 */
    size_t api_key_len; /* the real length, NULs included */
} agents_credential;

/* The result of one discovery pass. Owner: the caller, which releases it with
 * agents_credentials_free. */
typedef struct agents_credentials {
    agents_credential *anthropic; /* NULL when none was found */
    agents_credential *openai;    /* NULL when none was found */
    agents_credential *other;     /* opencode providers other than those two, in file order */
    size_t n_other;
} agents_credentials;

/* Run §7.1 against the current environment and the files under home (NULL: $HOME, else
 * the password database). allow_oauth=false skips every oauth source. Always fills out. */
void agents_credentials_discover(const char *home, bool allow_oauth, agents_credentials *out);
void agents_credentials_free(agents_credentials *c);

/* The same discovery for the server ($HOME, else the password database), with the file reads
 * and parses on libuv's thread pool: cb runs later on the loop with the result, which lives
 * only during the call. The environment is read now, on the calling (loop) thread. Owner of
 * the job: itself; it frees itself after cb ran or after agents_credentials_cancel. */
typedef struct agents_credentials_job agents_credentials_job;
typedef void (*agents_credentials_cb)(const agents_credentials *c, void *ud);
agents_credentials_job *agents_credentials_discover_async(uv_loop_t *loop, bool allow_oauth,
                                                          agents_credentials_cb cb, void *ud);
/* cb will not run (the caller's ud may go away now); loop thread only, before cb ran. */
void agents_credentials_cancel(agents_credentials_job *job);

/* The credential for a provider name: the anthropic or openai slot, else an `other` entry.
 * NULL when none. The pointer lives as long as c. */
const agents_credential *agents_credentials_find(const agents_credentials *c, const char *provider);

/* credentialsAvailable for GET /v1/agents (agents.md §3): claude and amp need anthropic,
 * codex needs openai, opencode either; every other agent (pi, cursor, mock) is true.
 * The _in form uses an existing discovery (one pass per request for the whole list);
 * the plain form discovers afresh from the server's environment and $HOME, oauth allowed. */
bool agents_credentials_available_in(const agents_credentials *c, const char *agent_id);
bool agents_credentials_available(const char *agent_id);

/* The redacted display form of a key (§7.2): trimmed of Unicode whitespace, then "****" when
 * 8 bytes or fewer, else the first 4 bytes, "...", the last 4. Cuts never split a UTF-8
 * sequence (the reference panics there). Caller frees; *out_len gets the length. */
char *agents_credentials_redact(const char *key, size_t len, size_t *out_len);

/* Parse an RFC 3339 timestamp the way the reference's `time` crate does (any one-byte
 * date/time separator, leap seconds only at the end of a UTC month) into Unix seconds and
 * nanoseconds. Returns false when the text is not one. */
bool agents_credentials_rfc3339(const char *s, size_t len, int64_t *sec, int32_t *nsec);

#endif
