#!/usr/bin/env bash
# run.sh - the whole test suite against one server binary.
#
#   bash tests/run.sh [BINARY]        (default: build/sandbox-agent)
#
# 1. Every build/unit/test_* executable (C unit tests). Each prints
#    "<file>: N passed, N failed"; a crash or a non-zero exit without failures counts as one
#    failure.
# 2. The desktop runtime, installed by the binary itself (`install desktop --yes`; a failure
#    counts as one failure).
# 3. The integration tests: node --test over tests/integration/**/*.test.mjs with
#    SANDBOX_AGENT_BIN set to the binary's absolute path (two test files at a time, 60 s per
#    file, 15 min overall). None of them downloads an agent.
#    The journal and session files run a second time with every server on a PostgreSQL
#    journal: the suite starts PostgreSQL itself (tests/pg/start.sh).
# 4. The real-agent pass (tests/agents/e2e.test.mjs): installs claude, codex, opencode and pi
#    from npm ONCE into tests/.cache/e2e-agents (about 900 MB; reused by later runs), with a
#    bound that covers a cold npm cache, then drives each through the SDK.
#    SANDBOX_AGENT_E2E=0 skips it.
#
# Prints the unit and node totals summed as a final line "N passed, N failed" and exits
# non-zero if anything failed. SANDBOX_AGENT_SANITIZED=1 (set by `make asan`) makes the
# integration tests also fail on sanitizer reports in the server's stderr.
set -uo pipefail
cd "$(dirname "$0")/.."

bin=${1:-build/sandbox-agent}
if [ ! -x "$bin" ]; then
    echo "run.sh: server binary '$bin' not found or not executable" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
SANDBOX_AGENT_BIN=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
export SANDBOX_AGENT_BIN

passed=0
failed=0

# ---- PostgreSQL -------------------------------------------------------------------------
# One throwaway server for the whole run (tests/pg/start.sh: initdb in a temp dir, loopback,
# a non-root user), unless SANDBOX_AGENT_TEST_PG_URL names one already; the PostgreSQL
# tests read its URL and directory from the environment. Stopped however the run ends.
if [ -z "${SANDBOX_AGENT_TEST_PG_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    pg_dir=$(mktemp -d /tmp/sa-pg-XXXXXX)
    if pg_url=$(bash tests/pg/start.sh "$pg_dir"); then
        export SANDBOX_AGENT_TEST_PG_URL=$pg_url SANDBOX_AGENT_TEST_PG_DIR=$pg_dir
        trap 'bash tests/pg/stop.sh "$pg_dir"' EXIT
        trap 'exit 130' INT TERM
        echo "PostgreSQL for the tests: $pg_url"
    else
        echo "run.sh: the test PostgreSQL server did not start" >&2
        rm -rf "$pg_dir"
        failed=$((failed + 1))
    fi
elif [ -z "${SANDBOX_AGENT_TEST_PG_URL:-}" ]; then
    echo "run.sh: PostgreSQL is not installed (make deps installs it); its tests cannot run" >&2
    failed=$((failed + 1))
fi
# The servers' event-loop watchdog reports (SANDBOX_AGENT_LOOP_WATCHDOG_MS=20, set by
# tests/integration/lib/server.mjs) are collected here and summarised at the end.
# Every failed test's TAP block, repeated at the end of the run (tests/tapfail.awk).
failures=$(mktemp)
export SANDBOX_AGENT_WATCHDOG_LOG=${SANDBOX_AGENT_WATCHDOG_LOG:-$PWD/build/loop-watchdog.log}
rm -f "$SANDBOX_AGENT_WATCHDOG_LOG"

# ---- C unit tests -----------------------------------------------------------------------
shopt -s nullglob
units=("${UNIT_DIR:-build/unit}"/test_*)
for t in "${units[@]}"; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    out=$(timeout --kill-after=5 300 "$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -oE '(^|[^0-9])[0-9]+ passed, [0-9]+ failed' | tail -n 1 | grep -oE '[0-9]+ passed, [0-9]+ failed')
    if [ -n "$line" ]; then
        p=$(awk '{print $1}' <<<"$line")
        f=$(awk '{print $3}' <<<"$line")
    else
        p=0
        f=0
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "run.sh: $t exited with status $rc" >&2
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "unit tests: $passed passed, $failed failed (${#units[@]} executables)"

# ---- the desktop runtime ----------------------------------------------------------------
# Installed through our own installer, so every run tests it too: the desktop tests need
# Xvfb, openbox, ffmpeg and the libraries the server dlopens. It runs nothing (no apt-get,
# no network) when every package is already there.
if ! timeout --kill-after=10 1800 "$SANDBOX_AGENT_BIN" install desktop --yes </dev/null; then
    echo "run.sh: FAILED: \`sandbox-agent install desktop --yes\` could not install the desktop runtime; the desktop tests will fail" >&2
    failed=$((failed + 1))
fi

# ---- integration tests ------------------------------------------------------------------
# run_node LABEL FILE_TIMEOUT_MS OVERALL_S FILES...: one node --test pass, totals added up.
# --test-timeout bounds each test file as a whole in Node 20, so the real-agent tests, whose
# first run installs four agents from npm, get their own pass with a longer bound.
run_node() {
    local label=$1 per=$2 overall=$3
    shift 3
    local tap
    tap=$(mktemp)
    # Files are listed explicitly: directory arguments mean different things across Node versions.
    timeout --kill-after=10 "$overall" node --test --test-concurrency=2 --test-timeout="$per" \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$tap" \
        "$@"
    local rc=$?
    local np nf nc
    np=$(grep -E '^# pass [0-9]+$' "$tap" | tail -n 1 | awk '{print $3}')
    nf=$(grep -E '^# fail [0-9]+$' "$tap" | tail -n 1 | awk '{print $3}')
    nc=$(grep -E '^# cancelled [0-9]+$' "$tap" | tail -n 1 | awk '{print $3}')
    awk -f tests/tapfail.awk "$tap" >>"$failures"
    rm -f "$tap"
    np=${np:-0}
    nf=$(( ${nf:-0} + ${nc:-0} ))
    if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
        echo "run.sh: node --test exited with status $rc" >&2
        nf=1
    fi
    echo "$label: $np passed, $nf failed"
    passed=$((passed + np))
    failed=$((failed + nf))
}

mapfile -t files < <(find tests/integration tests/agents -path '*/node_modules' -prune -o -type f \
    \( -name '*.test.mjs' -o -name '*.test.js' \) ! -name 'e2e.test.mjs' -print 2>/dev/null | sort)
((${#files[@]})) && run_node "integration tests" 60000 900 "${files[@]}"
# The journal and session tests again, every server on the PostgreSQL journal
# (lib/server.mjs passes --journal $SANDBOX_AGENT_TEST_PG_URL).
mapfile -t pg_files < <(printf '%s\n' "${files[@]}" | grep -E '/(journal|sessions[a-z_]*|sdk_sessions|sdk_restart)\.test\.mjs$')
if [ -n "${SANDBOX_AGENT_TEST_PG_URL:-}" ] && ((${#pg_files[@]})); then
    SANDBOX_AGENT_TEST_JOURNAL=postgres run_node "integration tests (PostgreSQL journal)" 60000 600 "${pg_files[@]}"
fi
if [ "${SANDBOX_AGENT_E2E:-1}" = 0 ]; then
    echo "real-agent tests: skipped (SANDBOX_AGENT_E2E=0)"
elif [ -f tests/agents/e2e.test.mjs ]; then
    run_node "real-agent tests" 1500000 1800 tests/agents/e2e.test.mjs
fi

if [ -s "$SANDBOX_AGENT_WATCHDOG_LOG" ]; then
    echo "loop watchdog: $(wc -l < "$SANDBOX_AGENT_WATCHDOG_LOG") loop iterations busy over 20 ms (a report, not a failure; longest first, all in $SANDBOX_AGENT_WATCHDOG_LOG):"
    sed -E 's/.*busy_ms=([0-9.]+).*/\1 &/' "$SANDBOX_AGENT_WATCHDOG_LOG" | sort -rn | head -n 5 | cut -d" " -f2- | cut -c1-300
fi
if [ -s "$failures" ]; then
    echo "failed tests, in detail (the first 200 lines):"
    head -n 200 "$failures"
fi
rm -f "$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
