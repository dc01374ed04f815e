/* provider.c - GET /opencode/provider and /opencode/config/providers (opencode-compat.md
 * §7.3): one provider per agent we can run, its models from the agent's `model` config
 * option in our catalogue (src/agents/catalog.json), and `connected` from what is really
 * there: the agent is installed and has credentials (as GET /v1/agents reports them).
 * Install state and credential files are read on the thread pool, per request, so an agent
 * installed or a key added while the server runs shows up at the next call. The same table
 * answers which agent a prompt's provider runs and its default model (prompt.c). */
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "agents/credentials.h"
#include "base/base.h"
#include "opencode/internal.h"
#include "opencode/meta_internal.h"

/* The providers: one per agent of our catalogue, the provider id being the agent id, in the
 * reference's order and names (the TUI lists them and picks the first one's default). */
static const struct {
    const char *id, *name, *family;
    const char *env[3]; /* variables that give the agent credentials (credentials.c) */
    /* The model a prompt naming only the provider gets (§9.2): the reference's hard-coded
     * ones, which differ from the advertised defaults (Q6, kept); NULL: none. */
    const char *prompt_model;
} opencode_providers[] = {
    {"mock", "Mock", "Mock", {NULL}, "mock"},
    {"claude", "Claude Code", "Claude", {"ANTHROPIC_API_KEY", NULL}, "default"},
    {"codex", "Codex CLI", "Codex", {"OPENAI_API_KEY", NULL}, "gpt-5"},
    {"amp", "Amp", "Amp", {"ANTHROPIC_API_KEY", NULL}, "smart"},
    {"opencode", "OpenCode", "Opencode", {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", NULL}, NULL},
    {"pi", "Pi", "Pi", {NULL}, "default"},
    {"cursor", "Cursor Agent", "Cursor", {NULL}, "default"},
};
#define OPENCODE_N_PROVIDERS (sizeof opencode_providers / sizeof opencode_providers[0])

static int opencode_provider_index(const char *id) {
    for (size_t p = 0; id && p < OPENCODE_N_PROVIDERS; p++)
        if (!strcmp(opencode_providers[p].id, id))
            return (int)p;
    return -1;
}

const char *opencode_agent_for_provider(const char *provider) {
    int p = opencode_provider_index(provider);
    return p >= 0 ? opencode_providers[p].id : "mock";
}

const char *opencode_default_model(const char *provider) {
    int p = opencode_provider_index(provider);
    return p >= 0 ? opencode_providers[p].prompt_model : NULL;
}

/* What the thread pool found. Owner: the job (freed with it). */
typedef struct opencode_provider_state {
    bool with_providers; /* /config/providers adds `providers` */
    bool connected[OPENCODE_N_PROVIDERS];
} opencode_provider_state;

/* The agent's `model` option in the catalogue (borrowed), NULL when it has none. */
static json_t *opencode_model_option(const char *id) {
    json_t *entry = agents_catalog_config(id);
    size_t i;
    json_t *opt;
    json_array_foreach(json_object_get(entry, "configOptions"), i, opt) {
        const char *cat = json_string_value(json_object_get(opt, "category"));
        if (cat && !strcmp(cat, "model"))
            return opt;
    }
    return NULL;
}

static bool opencode_cap(const char *id, const char *name) {
    return json_is_true(
        json_object_get(json_object_get(agents_catalog_config(id), "capabilities"), name));
}

/* One Model (§7.3). attachment, reasoning and tool_call come from the agent's capabilities
 * in the catalogue; the limits are the reference's placeholders (agents do not report
 * theirs over ACP). */
static json_t *opencode_model(size_t p, const char *value, const char *name) {
    const char *id = opencode_providers[p].id;
    bool attach = opencode_cap(id, "images") || opencode_cap(id, "fileAttachments");
    return json_pack("{s:b,s:s,s:s,s:{s:i,s:i},s:s,s:{},s:s,s:b,s:s,s:b,s:b}", "attachment", attach,
                     "family", opencode_providers[p].family, "id", value, "limit", "context",
                     200000, "output", 8192, "name", name, "options", "providerID", id, "reasoning",
                     opencode_cap(id, "reasoning"), "release_date", "1970-01-01", "temperature", 1,
                     "tool_call", opencode_cap(id, "toolCalls"));
}

static json_t *opencode_provider(size_t p) {
    json_t *models = json_object();
    json_t *opt = opencode_model_option(opencode_providers[p].id);
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(opt, "options"), i, o) {
        const char *value = json_string_value(json_object_get(o, "value"));
        const char *name = json_string_value(json_object_get(o, "name"));
        if (value)
            json_object_set_new(models, value, opencode_model(p, value, name ? name : value));
    }
    json_t *env = json_array();
    for (size_t k = 0; opencode_providers[p].env[k]; k++)
        json_array_append_new(env, json_string(opencode_providers[p].env[k]));
    return json_pack("{s:o,s:s,s:o,s:s}", "env", env, "id", opencode_providers[p].id, "models",
                     models, "name", opencode_providers[p].name);
}

/* Thread pool: install state (stats files, PATH lookups) and credential discovery (reads
 * the agents' credential files). */
static void opencode_provider_work(opencode_meta_job *j) {
    opencode_provider_state *st = j->data;
    agents_credentials c;
    agents_credentials_discover(NULL, true, &c);
    for (size_t p = 0; p < OPENCODE_N_PROVIDERS; p++) {
        const char *id = opencode_providers[p].id;
        st->connected[p] = agents_installed(id) && agents_credentials_available_in(&c, id);
    }
    agents_credentials_free(&c);
    j->status = 200;
    j->body = json_object(); /* filled in on the loop: the catalogue is parsed there */
}

static void opencode_provider_state_free(void *d) {
    free(d);
}

/* Loop thread: the catalogue is a lazily parsed global, not touched from the pool. */
static json_t *opencode_provider_payload(const opencode_provider_state *st) {
    json_t *all = json_array(), *connected = json_array(), *def = json_object();
    for (size_t p = 0; p < OPENCODE_N_PROVIDERS; p++) {
        const char *id = opencode_providers[p].id;
        json_array_append_new(all, opencode_provider(p));
        if (st->connected[p])
            json_array_append_new(connected, json_string(id));
        json_t *cur = json_object_get(opencode_model_option(id), "currentValue");
        if (json_is_string(cur))
            json_object_set(def, id, cur);
    }
    json_t *out = json_pack("{s:o,s:o,s:o}", "all", all, "connected", connected, "default", def);
    if (st->with_providers)
        json_object_set_new(out, "providers", json_deep_copy(all));
    return out;
}

static void opencode_provider_done(opencode_meta_job *j);

static void opencode_provider_handler(http_req *req, void *ud) {
    opencode_provider_state *st = base_xcalloc(1, sizeof *st);
    st->with_providers = ud != NULL;
    /* Parse the catalogue now, on the loop, before the pool work starts. */
    agents_catalog_config("mock");
    opencode_meta_run_then(req, opencode_provider_work, opencode_provider_done, st,
                           opencode_provider_state_free);
}

static void opencode_provider_done(opencode_meta_job *j) {
    json_decref(j->body);
    j->body = opencode_provider_payload(j->data);
}

void opencode_provider_routes(http_server *srv) {
    static int with_providers;
    http_route(srv, HTTP_M_GET, "/opencode/provider", OPENCODE_ROUTE, opencode_provider_handler,
               NULL);
    http_route(srv, HTTP_M_GET, "/opencode/config/providers", OPENCODE_ROUTE,
               opencode_provider_handler, &with_providers);
}
