#!/usr/bin/env bash
# run.sh - build the libFuzzer targets and run them for a bounded time: fuzz_http (the HTTP
# layer) and fuzz_tar (tar upload safety: the entry check and the extractor). They share
# the time budget evenly.
#
#   bash tests/fuzz/run.sh            (or: make fuzz)
#
# Environment:
#   FUZZ_SECONDS   total fuzzing time in seconds over all targets (default 60)
#   FUZZ_TARGETS   targets to run (default "http tar"); the budget is split evenly
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
#   build/fuzz/fuzz_tar           the tar target, with build/fuzz/corpus_tar/ (seeded with
#                                 generated inputs), build/fuzz/artifacts_tar/,
#                                 build/fuzz/tar.dict and build/fuzz/fuzz_tar.log; it
#                                 extracts into a temporary sandbox under /dev/shm (or
#                                 /tmp), removed afterwards
#
# Exits non-zero when a build fails or a fuzzer reports a crash, a sanitizer error, a leak,
# a broken invariant, a timeout or an out-of-memory. Reproduce one with:
# build/fuzz/fuzz_<target> <artifact>
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-16384}
jobs=${FUZZ_JOBS:-1}
cc=${CC_FUZZ:-clang}
targets=${FUZZ_TARGETS:-http tar}
out=build/fuzz

read -r -a target_list <<<"$targets"
if [ "${#target_list[@]}" -eq 0 ]; then
    echo "fuzz: FUZZ_TARGETS is empty" >&2
    exit 2
fi
per_target=$((seconds / ${#target_list[@]}))
[ "$per_target" -gt 0 ] || per_target=1

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: $cc not found (libFuzzer needs clang)" >&2
    exit 2
fi

mkdir -p "$out/corpus" "$out/artifacts" "$out/data" "$out/corpus_tar" "$out/artifacts_tar"

# ---- build --------------------------------------------------------------------------------
# Every source except the CLI entry point. Compiled from the repository root: agents.c and
# cli/server.c .incbin files by paths relative to it.
mapfile -t srcs < <(find src -name '*.c' ! -path 'src/cli/main.c' | sort)
# llhttp's sources: the installed node-llhttp, or the copy scripts/deps.sh unpacked.
ll=/usr/share
[ -f $ll/llhttp/llhttp.c ] || ll=.cache/node-llhttp/usr/share
build_target() { # name
    echo "fuzz: building $out/fuzz_$1"
    if ! "$cc" -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -std=c17 -D_GNU_SOURCE -Isrc -I$ll/include/llhttp -DLLHTTP_STRICT_MODE=1 \
        "tests/fuzz/fuzz_$1.c" "${srcs[@]}" $ll/llhttp/{api,http,llhttp}.c \
        -luv -lwslay -ljansson -lsqlite3 -larchive -lnettle -lutil -lm -lpthread \
        -o "$out/fuzz_$1"; then
        echo "fuzz: build of fuzz_$1 failed" >&2
        exit 2
    fi
}
for t in "${target_list[@]}"; do
    case "$t" in
    http | tar) build_target "$t" ;;
    *)
        echo "fuzz: unknown target '$t' (known: http tar)" >&2
        exit 2
        ;;
    esac
done

# ---- corpus and dictionary: http ---------------------------------------------------------
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

# ---- corpus and dictionary: tar ------------------------------------------------------------
# Generated seeds; the first byte picks the mode (0 entry check, 1 records, 2 raw tar).
printf '\x00\x02/dst\x00a/b/l\x00../x' >"$out/corpus_tar/seed_safe_symlink"
printf '\x00\x03/dst\x00h\x00a/./b' >"$out/corpus_tar/seed_safe_hardlink"
printf '\x00\x01/dst\x00./\x00' >"$out/corpus_tar/seed_safe_root"
printf '\x01\x00f\x00\x00\x03abc\x02a/l\x00../f\x00\x00\x01a/b/\x00\x00\x00\x03h\x00f\x00\x00' \
    >"$out/corpus_tar/seed_records"
printf '\x01\x02a/b/l\x00../../x\x00\x00\x03h\x00a/b/l\x00\x00\x00pre/x\x00\x00\x01y' \
    >"$out/corpus_tar/seed_records_links"
# The link chain escape ("a -> ." then "b -> a/.."), in both orders, then a write through b.
printf '\x01\x02a\x00.\x00\x00\x02b\x00a/..\x00\x00\x00b/outside/x\x00\x00\x01y' \
    >"$out/corpus_tar/seed_records_chain"
printf '\x01\x02b\x00a/..\x00\x00\x02a\x00.\x00\x00' >"$out/corpus_tar/seed_records_chain_late"
seedtmp=$(mktemp -d)
if (cd "$seedtmp" && mkdir -p t/d/e && printf 'one' >t/d/one && ln -s ../one t/d/e/l &&
    ln t/d/one t/hard && tar cf raw.tar t && tar --format=pax -cf pax.tar t) >/dev/null 2>&1; then
    for f in raw pax; do
        { printf '\x02'; cat "$seedtmp/$f.tar"; } >"$out/corpus_tar/seed_$f"
    done
fi
rm -rf "$seedtmp"

cat >"$out/tar.dict" <<'EOF'
"../"
"./"
".."
"/"
"pre/"
"pre_abs/"
"outside"
"ustar\x0000"
EOF

# ---- run ----------------------------------------------------------------------------------
failed=0
run_target() { # name corpus-dir dict artifacts-dir log [VAR=value...]
    local name=$1 corpus=$2 dict=$3 arts=$4 log=$5
    shift 5
    echo "fuzz: running fuzz_$name for ${per_target}s (max_len=$max_len, jobs=$jobs); log in $log"
    local args=(
        "$corpus"
        -dict="$dict"
        -max_total_time="$per_target"
        -max_len="$max_len"
        -timeout=10
        -rss_limit_mb=2048
        -detect_leaks=1
        -print_final_stats=1
        -artifact_prefix="$arts/"
    )
    if [ "$jobs" -gt 1 ]; then
        args+=(-jobs="$jobs" -workers="$jobs")
    fi
    env "$@" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$out/fuzz_$name" "${args[@]}" >"$log" 2>&1
    local rc=$?
    # libFuzzer prints its stats at the end; with -jobs each worker logs to fuzz-N.log.
    grep -ahE '^(stat::|#[0-9]+ +DONE)|^Done [0-9]+ runs' "$log" fuzz-*.log 2>/dev/null | tail -n 12
    shopt -s nullglob
    local found=("$arts"/crash-* "$arts"/leak-* "$arts"/timeout-* "$arts"/oom-* "$arts"/slow-unit-*)
    local new=()
    for f in "${found[@]}"; do
        # Only artifacts written by this run count (older ones stay for reference).
        [ "$f" -nt "$out/fuzz_$name" ] && new+=("$f")
    done
    if [ "$rc" -ne 0 ] || [ "${#new[@]}" -gt 0 ]; then
        echo "fuzz: fuzz_$name FAILED (exit status $rc)" >&2
        grep -aE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|invariant violated' \
            "$log" | head -n 20 >&2
        for f in "${new[@]}"; do
            echo "fuzz: reproducer: $f (run: $out/fuzz_$name $f)" >&2
        done
        failed=1
    fi
}

for t in "${target_list[@]}"; do
    case "$t" in
    http)
        run_target http "$out/corpus" "$out/http.dict" "$out/artifacts" "$out/fuzz.log" \
            XDG_DATA_HOME="$PWD/$out/data"
        ;;
    tar)
        # The extraction sandbox lives on tmpfs when there is one (speed) and goes away after.
        sandbox_parent=/tmp
        [ -w /dev/shm ] && sandbox_parent=/dev/shm
        sandbox=$(mktemp -d "$sandbox_parent/sandbox-agent-fuzz-tar.XXXXXX")
        run_target tar "$out/corpus_tar" "$out/tar.dict" "$out/artifacts_tar" "$out/fuzz_tar.log" \
            FUZZ_TAR_SANDBOX="$sandbox"
        rm -rf "$sandbox"
        ;;
    esac
done
if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "fuzz: OK, no crash, leak, invariant or sanitizer report in ${seconds}s ($targets)"
