#!/usr/bin/env bash
# run.sh - build the libFuzzer target for the HTTP layer and run it for a bounded time.
#
#   bash tests/fuzz/run.sh            (or: make fuzz)
#
# Environment:
#   FUZZ_SECONDS   total fuzzing time in seconds (default 60)
#   FUZZ_MAX_LEN   largest input libFuzzer generates (default 16384; 131072 also reaches
#                  header sections over the parser's 80 KiB limit (431), at a much lower
#                  speed, and then a generated seed for it is added)
#   FUZZ_JOBS      parallel fuzzing processes sharing the corpus (default 1)
#   CC_FUZZ        clang binary (default clang)
#
# Layout (everything generated lives under build/fuzz/):
#   build/fuzz/fuzz_http          the instrumented binary (ASan + UBSan + libFuzzer)
#   build/fuzz/corpus/            working corpus: seeds from tests/fuzz/corpus/http plus
#                                 whatever the fuzzer found interesting (kept across runs)
#   build/fuzz/artifacts/         crash-*, leak-*, timeout-*, oom-* reproducers
#   build/fuzz/http.dict          dictionary of HTTP tokens
#   build/fuzz/fuzz.log           the fuzzer's output
#   build/fuzz/data/              XDG_DATA_HOME of the target (the agents install route
#                                 writes the mock launcher there)
#
# Exits non-zero when the build fails or the fuzzer reports a crash, a sanitizer error, a
# leak, a timeout or an out-of-memory. Reproduce one with: build/fuzz/fuzz_http <artifact>
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-16384}
jobs=${FUZZ_JOBS:-1}
cc=${CC_FUZZ:-clang}
out=build/fuzz

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: $cc not found (libFuzzer needs clang)" >&2
    exit 2
fi

mkdir -p "$out/corpus" "$out/artifacts" "$out/data"

# ---- build --------------------------------------------------------------------------------
# Every source except the CLI entry point. Compiled from the repository root: agents.c and
# cli/server.c .incbin files by paths relative to it.
mapfile -t srcs < <(find src -name '*.c' ! -path 'src/cli/main.c' | sort)
echo "fuzz: building $out/fuzz_http"
if ! "$cc" -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -std=c17 -D_GNU_SOURCE -Isrc \
    tests/fuzz/fuzz_http.c "${srcs[@]}" \
    -luv -lhttp_parser -lwslay -ljansson -lsqlite3 -larchive -lnettle -lutil -lm -lpthread \
    -o "$out/fuzz_http"; then
    echo "fuzz: build failed" >&2
    exit 2
fi

# ---- corpus and dictionary ---------------------------------------------------------------
cp -f tests/fuzz/corpus/http/* "$out/corpus/" 2>/dev/null || true
# A header section over the parser limit (431) is too big to keep in the repository, and
# only useful when inputs may be that long.
if [ "$max_len" -gt 81920 ] && [ ! -f "$out/corpus/generated_header_overflow" ]; then
    {
        printf 'GET /v1/health HTTP/1.1\r\nX-Big: '
        head -c 90000 /dev/zero | tr '\0' 'b'
        printf '\r\n\r\n'
    } >"$out/corpus/generated_header_overflow"
fi

cat >"$out/http.dict" <<'EOF'
"GET "
"HEAD "
"POST "
"PUT "
"DELETE "
"PATCH "
"OPTIONS "
"CONNECT "
"PRI * HTTP/2.0\x0d\x0a\x0d\x0aSM\x0d\x0a\x0d\x0a"
" HTTP/1.1\x0d\x0a"
" HTTP/1.0\x0d\x0a"
"\x0d\x0a"
"\x0d\x0a\x0d\x0a"
": "
"Host: "
"Content-Length: "
"Transfer-Encoding: chunked"
"Connection: close"
"Connection: keep-alive"
"Connection: Upgrade"
"Upgrade: h2c"
"Expect: 100-continue"
"Authorization: Bearer fuzz-token"
"Authorization: bearer "
"Content-Type: application/json"
"Content-Type: application/vnd.api+json; charset=utf-8"
"Accept: text/event-stream"
"Accept: */*;q=0"
"Origin: http://localhost:3000"
"Access-Control-Request-Method: "
"Access-Control-Request-Headers: "
"0\x0d\x0a\x0d\x0a"
";ext=1"
"/v1/health"
"/v1/json/"
"/v1/a/x/b/y"
"/v1/problem/"
"/v1/stream"
"/v1/async"
"/v1/sse"
"/v1/body"
"/v1/body-empty"
"/v1/echo"
"/v1/ws/"
"/ui/"
"/open/"
"/v1/agents"
"/v1/agents/mock"
"/v1/agents/claude/install"
"?config=true"
"&no_cache=false"
"{\"reinstall\":true}"
"?q="
"&flag=true"
"access_token=fuzz-token"
"%2F"
"%00"
"%G1"
"+"
"{\"a\":1}"
"[]"
EOF

# ---- run ----------------------------------------------------------------------------------
log="$out/fuzz.log"
echo "fuzz: running for ${seconds}s (max_len=$max_len, jobs=$jobs); log in $log"
args=(
    "$out/corpus"
    -dict="$out/http.dict"
    -max_total_time="$seconds"
    -max_len="$max_len"
    -timeout=10
    -rss_limit_mb=2048
    -detect_leaks=1
    -print_final_stats=1
    -artifact_prefix="$out/artifacts/"
)
if [ "$jobs" -gt 1 ]; then
    args+=(-jobs="$jobs" -workers="$jobs")
fi
XDG_DATA_HOME="$PWD/$out/data" \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$out/fuzz_http" "${args[@]}" >"$log" 2>&1
rc=$?

# libFuzzer prints its stats at the end; with -jobs each worker logs to fuzz-N.log.
grep -E '^(stat::|#[0-9]+ +DONE)|^Done [0-9]+ runs' "$log" fuzz-*.log 2>/dev/null | tail -n 12
shopt -s nullglob
found=("$out"/artifacts/crash-* "$out"/artifacts/leak-* "$out"/artifacts/timeout-* \
    "$out"/artifacts/oom-* "$out"/artifacts/slow-unit-*)
new=()
for f in "${found[@]}"; do
    # Only artifacts written by this run count (older ones stay for reference).
    [ "$f" -nt "$out/fuzz_http" ] && new+=("$f")
done
if [ "$rc" -ne 0 ] || [ "${#new[@]}" -gt 0 ]; then
    echo "fuzz: FAILED (exit status $rc)" >&2
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" |
        head -n 20 >&2
    for f in "${new[@]}"; do
        echo "fuzz: reproducer: $f (run: $out/fuzz_http $f)" >&2
    done
    exit 1
fi
echo "fuzz: OK, no crash, leak or sanitizer report in ${seconds}s"
