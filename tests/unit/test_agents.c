/* test_agents.c - the agent catalogue and installer helpers that need no network. */
#include <string.h>

#include "agents/agents.h"
#include "agents/catalog.h"
#include "agents/version.h"
#include "unit.h"

static void never(void *ud) {
    (void)ud;
    CHECK(!"a probe of an unknown agent must never report");
}

/* An id outside the catalogue gets no cache slot of its own, and never borrows another
 * agent's (it used to fall back to slot 0, claude's). */
static void test_unknown_ids(void) {
    CHECK(agents_index("nope") < 0);
    CHECK(agents_index(NULL) < 0);
    CHECK(agents_index("claude") >= 0);
    CHECK(!agents_version_ready("nope"));
    CHECK(agents_version_probe_start(uv_default_loop(), "nope", never, NULL) == NULL);
    CHECK(agents_version_ready("mock")); /* built in: always known */
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

UNIT_MAIN(test_unknown_ids())
