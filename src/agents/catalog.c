/* catalog.c - the agent table and the embedded capabilities catalogue: the bottom of
 * src/agents/ (layers in catalog.h). Pure data; no I/O. */
#include "agents/catalog.h"

#include <string.h>

#include "base/base.h"

/* catalog.json (capabilities and configOptions per agent, captured from 0.4.2) is linked
 * into .rodata so the binary stays self-contained. */
__asm__(".section .rodata\n"
        ".global agents_catalog_json\n"
        "agents_catalog_json:\n"
        ".incbin \"src/agents/catalog.json\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char agents_catalog_json[];

/* Unlike the reference, "installed" never requires the native CLI (agents.md §2.7): the
 * claude and codex adapters embed their agent, and every launcher we write is complete. */
typedef struct agents_def {
    const char *id;
    const char *native; /* native CLI name (probed for the version), NULL when none */
    const char *hint;   /* adapter executable name on PATH */
} agents_def;

static const agents_def agents_defs[AGENTS_COUNT] = {
    {"claude", "claude", "claude-agent-acp"},
    {"codex", "codex", "codex-acp"},
    {"opencode", "opencode", "opencode"},
    {"amp", "amp", "amp-acp"},
    {"pi", "pi", "pi-acp"},
    {"cursor", "cursor-agent", "cursor-agent-acp"},
    {"mock", NULL, NULL},
};

static json_t *agents_catalog; /* parsed once; owned by this file for the process life */

static const agents_def *agents_find(const char *id) {
    for (size_t i = 0; id && i < AGENTS_COUNT; i++)
        if (!strcmp(agents_defs[i].id, id))
            return &agents_defs[i];
    return NULL;
}

const char *agents_id(size_t i) {
    return i < AGENTS_COUNT ? agents_defs[i].id : NULL;
}

bool agents_known(const char *id) {
    return agents_find(id) != NULL;
}

int agents_index(const char *id) {
    const agents_def *d = agents_find(id);
    return d ? (int)(d - agents_defs) : -1;
}

const char *agents_hint(const char *id) {
    const agents_def *d = agents_find(id);
    return d ? d->hint : NULL;
}

const char *agents_native_name(const char *id) {
    const agents_def *d = agents_find(id);
    return d ? d->native : NULL;
}

json_t *agents_catalog_entry(const char *id) {
    if (!agents_catalog) {
        json_error_t e;
        agents_catalog = json_loads(agents_catalog_json, 0, &e);
        if (!agents_catalog) {
            LOG_ERROR("embedded agent catalogue is corrupt", "error=%s", e.text);
            agents_catalog = json_object();
        }
    }
    return json_object_get(agents_catalog, id);
}

json_t *agents_catalog_config(const char *id) {
    return agents_catalog_entry(id);
}
