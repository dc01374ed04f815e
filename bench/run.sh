#!/usr/bin/env bash
# bench/run.sh - compare build/sandbox-agent against the Rust reference
# sandbox-agent 0.4.2 on the same machine, in the same run.
#
# Measures: /v1/health throughput + p99 (wrk), ACP round-trip latency through
# the HTTP bridge to the mock agent, idle RSS and RSS after load, time from
# exec to first healthy response, binary size, POST /v1/processes/run round
# trip (sequential, and with BENCH_RUN_CONC concurrent connections), small-file
# PUT/GET, 2 MiB and 1 GiB streamed file PUT/GET (the latter against a local cp
# as the physical limit; needs node), pipelined /v1/health on one connection
# (depth 1 vs BENCH_PIPE_DEPTH), a mixed soak at concurrency BENCH_SOAK_CONC and
# BENCH_CREATES_N concurrent ACP creates (needs node), and the durable-journal rows
# (bench/journal.sh: bridge events/s and round trip with the journal on and off, SSE
# replay of 100,000 events, journal size), and the desktop rows (bench/desktop.sh:
# screenshots, input and the window list on a 1440x900 desktop with an xterm, health while
# screenshots run), and the desktop streaming rows (bench/stream.sh: stream/start to the first
# decoded frame in Chromium, input latency over the data channel, server CPU per viewer; the
# reference's answer to stream/start).  Prints a table, writes it to bench/results-latest.md, and checks the
# targets.  See bench/README.md.
#
# Env knobs (defaults in brackets):
#   BENCH_SECONDS [5]        wrk duration per round
#   BENCH_ROUNDS [3]         wrk rounds per server (alternating order)
#   BENCH_WARMUP_SECONDS [1] untimed wrk warm-up per server (0 = none)
#   BENCH_THREADS [2]        wrk threads
#   BENCH_CONNECTIONS [64]   wrk connections
#   BENCH_ACP_N [500]        timed ACP requests per round
#   BENCH_ACP_WARMUP [50]    untimed ACP requests before those, per round
#   BENCH_ACP_ROUNDS [3]     ACP rounds per server (alternating order)
#   BENCH_STARTUP_RUNS [15]  exec-to-healthy samples per server
#   BENCH_OURS [build/sandbox-agent]  binary under test
#   BENCH_REF [npm @sandbox-agent/cli-linux-x64@0.4.2 in bench/.cache/ref]
#   BENCH_OUT [bench/results-latest.md]
#   BENCH_STRICT [0]         1 = also exit non-zero when a target is missed
#   BENCH_CEILING [1]        0 = skip the wrk-ceiling calibration server
#   BENCH_IO_ROUNDS [3]      rounds of the runProcess / small-file / 2 MiB tests (0 = none)
#   BENCH_RUN_N [200]        timed POST /v1/processes/run {"command":"true"} per round
#   BENCH_RUN_WARMUP [20]    untimed ones before those, per round
#   BENCH_RUN_CONC [8]       concurrent connections of the loaded processes/run test
#                            (same N and warm-up; 0 = skip it)
#   BENCH_FS_N [1000]        files written then read per round
#   BENCH_FS_SIZE [1024]     bytes per small file
#   BENCH_SMALL_REPS [20]    timed 2 MiB PUT+GET per round
#   BENCH_BIG_MB [1024]      size of the big streamed file in MiB (0 = skip);
#                            skipped when less than 3 GiB are free
#   BENCH_PIPE_DEPTH [64]    pipelined GET /v1/health per batch, compared with depth 1
#   BENCH_PIPE_SECONDS [2]   duration of each pipelined measurement
#   BENCH_PIPE_ROUNDS [3]    pipelined rounds per server and depth (0 = skip)
#   BENCH_SOAK_N [50000]     timed requests of the mixed soak per round (0 = skip)
#   BENCH_SOAK_CONC [16]     concurrent keep-alive connections of the soak
#   BENCH_SOAK_CREATES [64]  ACP requests of the soak that create an instance (spawn)
#   BENCH_SOAK_ROUNDS [1]    soak rounds per server (alternating order)
#   BENCH_CREATES_N [100]    concurrent ACP creates, all issued at once (0 = skip)
#   BENCH_CREATES_ROUNDS [1] rounds of those per server (alternating order)
#   BENCH_JOURNAL [1] and BENCH_J*: the journal rows, see bench/journal.sh
#   BENCH_DESKTOP [1] and BENCH_DESKTOP_*: the desktop rows, see bench/desktop.sh
#   BENCH_STREAM [1] and BENCH_STREAM_*: the desktop streaming rows, see bench/stream.sh
#   BENCH_ONLY []            desktop = run only the desktop rows, stream = only the streaming
#                            rows; their section replaces the one in BENCH_OUT (the rest of
#                            that report is kept)
#
# Exit status: 0 when every metric was measured for both servers (and, with
# BENCH_STRICT=1, every target met); 1 otherwise.  All traffic is loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
CACHE=$BENCH/.cache

DURATION=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP_S=${BENCH_WARMUP_SECONDS:-1}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
ACP_N=${BENCH_ACP_N:-500}
ACP_WARMUP=${BENCH_ACP_WARMUP:-50}
ACP_ROUNDS=${BENCH_ACP_ROUNDS:-3}
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-15}
OURS=${BENCH_OURS:-$ROOT/build/sandbox-agent}
REF=${BENCH_REF:-}
OUT=${BENCH_OUT:-$BENCH/results-latest.md}
STRICT=${BENCH_STRICT:-0}
CEILING=${BENCH_CEILING:-1}
IO_ROUNDS=${BENCH_IO_ROUNDS:-3}
RUN_N=${BENCH_RUN_N:-200}
RUN_WARMUP=${BENCH_RUN_WARMUP:-20}
RUN_CONC=${BENCH_RUN_CONC:-8}
FS_N=${BENCH_FS_N:-1000}
FS_SIZE=${BENCH_FS_SIZE:-1024}
SMALL_BYTES=2097152
SMALL_REPS=${BENCH_SMALL_REPS:-20}
BIG_MB=${BENCH_BIG_MB:-1024}
PIPE_DEPTH=${BENCH_PIPE_DEPTH:-64}
PIPE_SECONDS=${BENCH_PIPE_SECONDS:-2}
PIPE_ROUNDS=${BENCH_PIPE_ROUNDS:-3}
SOAK_N=${BENCH_SOAK_N:-50000}
SOAK_CONC=${BENCH_SOAK_CONC:-16}
SOAK_CREATES=${BENCH_SOAK_CREATES:-64}
SOAK_ROUNDS=${BENCH_SOAK_ROUNDS:-1}
CREATES_N=${BENCH_CREATES_N:-100}
CREATES_ROUNDS=${BENCH_CREATES_ROUNDS:-1}
ONLY=${BENCH_ONLY:-}
[[ -z $ONLY || $ONLY == desktop || $ONLY == stream ]] ||
  { printf '[bench] FATAL: BENCH_ONLY=%s: only "desktop" and "stream" run alone\n' "$ONLY" >&2; exit 1; }

REF_VERSION=0.4.2
REF_PKG=@sandbox-agent/cli-linux-x64@$REF_VERSION
OURS_HEALTH_TIMEOUT=5    # seconds; "not runnable" beyond this
REF_HEALTH_TIMEOUT=30

log() { printf '[bench] %s\n' "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }
fatal() {
  printf '[bench] FATAL: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------- cleanup --
TMPROOT=
CHILD=        # pid of the foreground helper currently running (wrk, prober)
declare -A PID=([ref]="" [ours]="" [ceiling]="")
RUN_TAG=sa-bench-$$-$RANDOM

# Descendants of a pid (children first-level and below), from /proc.
descendants() {
  local p kids
  kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
  for p in $kids; do
    echo "$p"
    descendants "$p"
  done
}

alive() { # pid -> true while it exists and is not a zombie
  local st
  [[ -r /proc/$1/stat ]] || return 1
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

stop_server() { # name
  local name=$1 pid=${PID[$1]:-} kids deadline
  [[ -n $pid ]] || return 0
  PID[$name]=
  kids=$(descendants "$pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((EPOCHSECONDS + 3))
  while alive "$pid" && ((EPOCHSECONDS < deadline)); do sleep 0.01; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  [[ -z $kids ]] || kill -KILL $kids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # (invoked from the EXIT trap)
# Last resort: anything still carrying this run's tag in its environment
# (servers, agent subprocesses, prober children) is ours and goes.
kill_tagged() {
  local f p
  for f in /proc/[0-9]*/environ; do
    p=${f#/proc/}
    p=${p%/environ}
    [[ $p == "$$" ]] && continue
    if grep -qzxF "BENCH_RUN_TAG=$RUN_TAG" "$f" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $CHILD ]]; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  local name
  for name in "${!PID[@]}"; do stop_server "$name"; done
  kill_tagged
  [[ -z $TMPROOT ]] || rm -rf "$TMPROOT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a helper in the background and wait for it, so INT/TERM are handled
# immediately (bash defers traps while a foreground child runs).
bgrun() {
  "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=
  return "$rc"
}

# ----------------------------------------------------------------- setup ---
for tool in wrk gcc curl strip ps; do
  command -v "$tool" >/dev/null || fatal "'$tool' is required (apt-get install $tool)"
done
mkdir -p "$CACHE"
TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/sa-bench.XXXXXX")

build_helper() { # name extra-flags...
  local name=$1
  shift
  if [[ ! -x $CACHE/$name || $BENCH/$name.c -nt $CACHE/$name || $BENCH/httpc.h -nt $CACHE/$name ]]; then
    gcc -O2 -Wall -Wextra -o "$CACHE/$name" "$BENCH/$name.c" "$@" ||
      fatal "cannot compile bench/$name.c"
  fi
}
build_helper startup
build_helper acp_rtt -lm
build_helper acp_events -lm -lpthread
build_helper ceiling
build_helper pipeline
build_helper desktop -lm -lpthread

if [[ -z $REF ]]; then
  REF=$CACHE/ref/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent
  if [[ ! -f $REF ]]; then
    command -v npm >/dev/null || fatal "npm is required to fetch the reference binary"
    log "fetching reference $REF_PKG into bench/.cache/ref"
    npm install --prefix "$CACHE/ref" "$REF_PKG" --no-audit --no-fund --prefer-offline \
      --loglevel=error >&2 || fatal "npm install $REF_PKG failed"
  fi
  [[ -f $REF ]] || fatal "reference binary not found at $REF after npm install"
  [[ -x $REF ]] || chmod +x "$REF"
fi
REF=$(readlink -f "$REF")
ref_ver=$("$REF" --version 2>/dev/null || true)
[[ $ref_ver == *"$REF_VERSION"* ]] || warn "reference reports '$ref_ver', expected $REF_VERSION"

OURS_OK=1
declare -a FAILS=()
ours_fail() { # reason
  FAILS+=("$1")
  warn "ours: $1"
}
[[ $OURS == /* ]] || OURS=$ROOT/$OURS
if [[ ! -x $OURS ]]; then
  OURS_OK=0
  ours_fail "binary $OURS is missing or not executable"
else
  OURS=$(readlink -f "$OURS")
fi

free_port() { "$CACHE/startup" --free-port; }

# --------------------------------------------------------------- helpers ---
# Pure functions of their arguments (or of a file and stdin), shared by every section and the
# report; defined before any server starts so that a section run alone (BENCH_ONLY) has them.
median() { # values... -> median (empty if none)
  (($#)) || return 0
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'
}
kv() { awk -v k="$2" '$1==k{sub(/^[^ ]+ /, ""); print}' "$1"; }
# Every ratio is "how many times better ours is" (>1 = ours better):
#   higher-is-better metrics (throughput): ours/ref
#   lower-is-better metrics (latency, RSS, startup, size): ref/ours
n() { awk -v v="$1" -v f="$2" 'BEGIN{ if (v == "") print "n/a"; else printf f, v }'; }
ratio() { # higher|lower ref ours
  awk -v k="$1" -v r="$2" -v o="$3" 'BEGIN{
    if (r == "" || o == "" || r + 0 <= 0 || o + 0 <= 0) { print "n/a"; exit }
    if (k == "higher") printf "%.2fx (ours/ref)", o / r; else printf "%.2fx (ref/ours)", r / o }'
}
mib() { awk -v v="$1" 'BEGIN{ if (v == "") print "n/a"; else printf "%.1f MiB (%d KiB)", v / 1024, v }'; }
mdtable() { # stdin: a header line and rows, cells split by | -> an aligned markdown table
  awk -F'|' '
    { for (i = 1; i <= NF; i++) { c[NR, i] = $i; l = length($i); if (l > w[i]) w[i] = l } n = NR; nf = NF }
    END {
      for (r = 1; r <= n; r++) {
        line = "|"
        for (i = 1; i <= nf; i++) line = line sprintf(" %-" w[i] "s |", c[r, i])
        print line
        if (r == 1) { line = "|"; for (i = 1; i <= nf; i++) { d = ""; for (k = 0; k < w[i] + 2; k++) d = d "-"; line = line d "|" } print line }
      }
    }'
}

# shellcheck source=bench/desktop.sh
source "$BENCH/desktop.sh"
# shellcheck source=bench/stream.sh
source "$BENCH/stream.sh"

# --------------------------------------------------------------- servers ---
declare -A PORT=() HOMED=()
declare -a START_ENV=() # extra VAR=value for the next start_server
start_server() { # name bin [args...]; "{PORT}" in args is replaced
  local name=$1 bin=$2 home=$TMPROOT/home-$1 a
  shift 2
  local -a args=("$@")
  ((${#args[@]})) || args=(server --no-token --no-telemetry --host 127.0.0.1 --port '{PORT}')
  mkdir -p "$home"
  HOMED[$name]=$home
  local port
  port=$(free_port) || fatal "no free port"
  while [[ $port == "${PORT[ref]:-}" || $port == "${PORT[ours]:-}" ]]; do port=$(free_port); done
  PORT[$name]=$port
  for a in "${!args[@]}"; do [[ ${args[a]} != '{PORT}' ]] || args[a]=$port; done
  # Subshell -> cd -> exec setsid -> exec env -> exec server: $! is the server
  # pid and (setsid) its own session/process-group leader.
  (
    cd "$home"
    exec setsid env -u XDG_DATA_HOME -u XDG_CONFIG_HOME -u XDG_CACHE_HOME -u XDG_STATE_HOME \
      HOME="$home" BENCH_RUN_TAG="$RUN_TAG" "${START_ENV[@]}" \
      "$bin" "${args[@]}"
  ) >"$TMPROOT/$name.log" 2>&1 </dev/null &
  PID[$name]=$!
}

health_ok() { # port -> 0 if GET /v1/health is 200 {"status":"ok"}
  local out code body
  out=$(curl -s -m 1 -o - -w '\n%{http_code}' "http://127.0.0.1:$1/v1/health" 2>/dev/null) || return 1
  code=${out##*$'\n'}
  body=${out%$'\n'*}
  [[ $code == 200 && $body =~ \"status\"[[:space:]]*:[[:space:]]*\"ok\" ]]
}

wait_healthy() { # name timeout_s -> 0 healthy, 1 timeout, 2 exited
  local name=$1 port=${PORT[$1]} pid=${PID[$1]}
  local deadline=$((${EPOCHREALTIME//[.,]/} + $2 * 1000000))
  while :; do
    health_ok "$port" && return 0
    alive "$pid" || return 2
    ((${EPOCHREALTIME//[.,]/} < deadline)) || return 1
    sleep 0.01
  done
}

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || true; }

server_log_tail() {
  if [[ -s $TMPROOT/$1.log ]]; then
    tail -n 15 "$TMPROOT/$1.log" | sed "s/^/[bench]   $1 log: /" >&2
  fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
if awk -v l="${LOAD_START%% *}" 'BEGIN{ exit !(l + 0 > 0.5) }'; then
  warn "load average is $LOAD_START before starting: other work on this machine will add noise"
fi
log "reference: $REF ($ref_ver)"
log "ours:      $OURS"

# ------------------------------------------------------------- one section --
if [[ $ONLY == desktop ]]; then
  declare -A R=()
  desktop_run
  ((DESKTOP_RAN)) || fatal "desktop rows $DESK_NOTE"
  SECTION=$(desktop_table)
  printf '%s\n' "$SECTION"
  desktop_splice "$OUT" "$SECTION"
  log "wrote the desktop section into ${OUT#"$ROOT"/}"
  if ((${#FAILS[@]})); then
    log "FAILED: our server could not be fully measured:"
    printf '[bench]   - %s\n' "${FAILS[@]}" >&2
    exit 1
  fi
  exit 0
fi
if [[ $ONLY == stream ]]; then
  declare -A R=()
  stream_run
  ((STREAM_RAN)) || fatal "stream rows $STREAM_NOTE"
  SECTION=$(stream_table)
  printf '%s\n' "$SECTION"
  desktop_splice "$OUT" "$SECTION" "### Desktop streaming"
  log "wrote the desktop streaming section into ${OUT#"$ROOT"/}"
  if ((${#FAILS[@]})); then
    log "FAILED: our server could not be fully measured:"
    printf '[bench]   - %s\n' "${FAILS[@]}" >&2
    exit 1
  fi
  exit 0
fi

start_server ref "$REF"
rc=0
wait_healthy ref "$REF_HEALTH_TIMEOUT" || rc=$?
if ((rc != 0)); then
  server_log_tail ref
  fatal "reference server did not become healthy (rc=$rc) on port ${PORT[ref]}"
fi
if ((OURS_OK)); then
  start_server ours "$OURS"
  rc=0
  wait_healthy ours "$OURS_HEALTH_TIMEOUT" || rc=$?
  if ((rc != 0)); then
    server_log_tail ours
    case $rc in
      1) ours_fail "not answering GET /v1/health with 200 {\"status\":\"ok\"} within ${OURS_HEALTH_TIMEOUT}s" ;;
      *) ours_fail "server exited before becoming healthy" ;;
    esac
    stop_server ours
    OURS_OK=0
  fi
fi

declare -A R=() # results: R[metric.name]
R[idle_rss.ref]=$(rss_kib "${PID[ref]}")
((OURS_OK)) && R[idle_rss.ours]=$(rss_kib "${PID[ours]}")
log "idle RSS: ref ${R[idle_rss.ref]} KiB, ours ${R[idle_rss.ours]:-n/a} KiB"

ours_alive() {
  ((OURS_OK)) || return 1
  if ! alive "${PID[ours]}"; then
    server_log_tail ours
    ours_fail "server died during the benchmark"
    OURS_OK=0
    PID[ours]=
    return 1
  fi
}

# ----------------------------------------------------------- throughput ----
to_us() { # wrk time like 812.00us 6.15ms 1.02s 1.00m -> microseconds
  awk -v t="$1" 'BEGIN{
    if (t ~ /us$/) { sub(/us$/, "", t); print t + 0 }
    else if (t ~ /ms$/) { sub(/ms$/, "", t); print t * 1000 }
    else if (t ~ /s$/) { sub(/s$/, "", t); print t * 1000000 }
    else if (t ~ /m$/) { sub(/m$/, "", t); print t * 60000000 }
    else if (t ~ /h$/) { sub(/h$/, "", t); print t * 3600000000 }
    else print "" }'
}

declare -a RPS_ref=() RPS_ours=() P99_ref=() P99_ours=() RPS_ceiling=() P99_ceiling=()
run_wrk() { # name seconds record(0/1)
  local name=$1 secs=$2 record=$3 out=$TMPROOT/wrk-$1.txt rps p99
  bgrun wrk "-t$THREADS" "-c$CONNS" "-d${secs}s" --latency \
    "http://127.0.0.1:${PORT[$name]}/v1/health" >"$out" 2>&1 || true
  ((record)) || return 0
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
  p99=$(awk '$1=="99%"{print $2}' "$out")
  if [[ -z $rps || -z $p99 ]]; then
    sed 's/^/[bench]   wrk: /' "$out" >&2
    [[ $name == ours ]] && { ours_fail "wrk produced no result"; return 0; }
    fatal "wrk against $name produced no result"
  fi
  if grep -q 'Non-2xx or 3xx responses' "$out"; then
    grep 'Non-2xx' "$out" >&2
    [[ $name == ours ]] && { ours_fail "non-2xx responses to GET /v1/health under load"; return 0; }
    fatal "$name returned non-2xx responses under load"
  fi
  grep 'Socket errors' "$out" | sed "s/^ */[bench]   $name: /" >&2 || true
  p99=$(to_us "$p99")
  case $name in
    ref) RPS_ref+=("$rps") P99_ref+=("$p99") ;;
    ours) RPS_ours+=("$rps") P99_ours+=("$p99") ;;
    ceiling) RPS_ceiling+=("$rps") P99_ceiling+=("$p99") ;;
  esac
  log "  $name: $rps req/s, p99 ${p99} us"
}

if ((CEILING)); then
  start_server ceiling "$CACHE/ceiling" '{PORT}'
  rc=0
  wait_healthy ceiling 5 || rc=$?
  ((rc == 0)) || fatal "ceiling calibration server did not start (rc=$rc)"
fi
log "health throughput: wrk -t$THREADS -c$CONNS -d${DURATION}s --latency, $ROUNDS rounds alternating"
if ((WARMUP_S > 0)); then
  log "warm-up ${WARMUP_S}s each"
  run_wrk ref "$WARMUP_S" 0
  ours_alive && run_wrk ours "$WARMUP_S" 0
fi
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then order=(ref ours); else order=(ours ref); fi
  ((CEILING)) && { if ((r % 2)); then order+=(ceiling); else order=(ceiling "${order[@]}"); fi; }
  log "round $r/$ROUNDS: ${order[*]}"
  for s in "${order[@]}"; do
    case $s in
      ours) ours_alive && run_wrk ours "$DURATION" 1 ;;
      *) run_wrk "$s" "$DURATION" 1 ;;
    esac
  done
done
stop_server ceiling
ours_alive || true
R[rps.ref]=$(median "${RPS_ref[@]}")
R[p99.ref]=$(median "${P99_ref[@]}")
if ((CEILING)); then
  R[rps.ceiling]=$(median "${RPS_ceiling[@]}")
  R[p99.ceiling]=$(median "${P99_ceiling[@]}")
fi
if ((OURS_OK)) && ((${#RPS_ours[@]} == ROUNDS)); then
  R[rps.ours]=$(median "${RPS_ours[@]}")
  R[p99.ours]=$(median "${P99_ours[@]}")
fi

# ------------------------------------------------------------------ ACP ----
install_mock() { # name -> 0 on HTTP 200
  local code
  code=$(curl -s -m 120 -o "$TMPROOT/install-$1.json" -w '%{http_code}' -X POST \
    -H 'content-type: application/json' -d '{}' \
    "http://127.0.0.1:${PORT[$1]}/v1/agents/mock/install" 2>/dev/null) || code=000
  if [[ $code != 200 ]]; then
    warn "$1: POST /v1/agents/mock/install -> HTTP $code: $(head -c 300 "$TMPROOT/install-$1.json" 2>/dev/null)"
    return 1
  fi
}

declare -a ACPMED_ref=() ACPMED_ours=() ACPP99_ref=() ACPP99_ours=()
run_acp() { # name round -> appends one round's median/p99
  local name=$1 round=$2 out=$TMPROOT/acp-$1.txt rc=0 flags=() med p99 rec
  ((round == 1)) && flags+=(--create)
  ((round == ACP_ROUNDS)) && flags+=(--delete)
  bgrun "$CACHE/acp_rtt" "${PORT[$name]}" "bench-$name-$$" "$ACP_N" "$ACP_WARMUP" "${flags[@]}" \
    >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  med=$(awk '$1=="acp_median_us"{print $2}' "$out")
  p99=$(awk '$1=="acp_p99_us"{print $2}' "$out")
  rec=$(awk '$1=="acp_reconnects"{print $2}' "$out")
  [[ $rec == 0 ]] || warn "$name closed the keep-alive connection $rec times during the ACP run"
  if [[ $name == ref ]]; then ACPMED_ref+=("$med") ACPP99_ref+=("$p99"); else ACPMED_ours+=("$med") ACPP99_ours+=("$p99"); fi
  log "  $name: median $med us, p99 $p99 us"
}

log "ACP round trip via POST /v1/acp/{id} to the mock agent: $ACP_ROUNDS rounds alternating, $ACP_N requests + $ACP_WARMUP warm-up each"
install_mock ref || fatal "reference mock install failed"
acp_ours=0
if ours_alive; then
  if install_mock ours; then
    acp_ours=1
  else
    ours_fail "POST /v1/agents/mock/install did not return 200"
  fi
fi
for ((r = 1; r <= ACP_ROUNDS; r++)); do
  if ((r % 2)); then order=(ref ours); else order=(ours ref); fi
  for s in "${order[@]}"; do
    if [[ $s == ref ]]; then
      run_acp ref "$r" || fatal "reference ACP round trip failed"
    elif ((acp_ours)) && ours_alive; then
      if ! run_acp ours "$r"; then
        ours_fail "ACP round trip failed (see above)"
        acp_ours=0
      fi
    fi
  done
done
R[acp_med.ref]=$(median "${ACPMED_ref[@]}")
R[acp_p99.ref]=$(median "${ACPP99_ref[@]}")
if ((acp_ours)) && ((${#ACPMED_ours[@]} == ACP_ROUNDS)); then
  R[acp_med.ours]=$(median "${ACPMED_ours[@]}")
  R[acp_p99.ours]=$(median "${ACPP99_ours[@]}")
fi

# --------------------------------------------------------- RSS after load --
R[load_rss.ref]=$(rss_kib "${PID[ref]}")
ours_alive && R[load_rss.ours]=$(rss_kib "${PID[ours]}")
log "RSS after load: ref ${R[load_rss.ref]} KiB, ours ${R[load_rss.ours]:-n/a} KiB"

# ------------------------------------------------ processes + file system ---
# bench/io_client.js (Node, keep-alive http.Agent, one connection) against the
# same two servers.  Rounds alternate the order like the ACP rounds.
declare -A IOV=() # key.name -> space-separated values, one per round
io_step() { # test name args... -> 0 ok; records every "key value" line of the client
  local test=$1 name=$2 out=$TMPROOT/io-$1-$2.txt rc=0 k v
  shift 2
  local cmd=$test
  [[ $test == runc ]] && cmd=run # the loaded variant: same client command, CONC argument
  bgrun node "$BENCH/io_client.js" "$cmd" "${PORT[$name]}" "$@" >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  # The loaded run test reports the same keys as the sequential one: prefix them.
  local pfx=
  [[ $test == runc ]] && pfx=c
  while read -r k v; do IOV[$pfx$k.$name]+="$v "; done <"$out"
}
io_args() { # test name round -> the client arguments for that test
  case $1 in
    run) echo "$RUN_N $RUN_WARMUP" ;;
    runc) echo "$RUN_N $RUN_WARMUP $RUN_CONC" ;;
    files) echo "$TMPROOT/fs-$2/r$3 $FS_N $FS_SIZE 20" ;;
    small) echo "$TMPROOT/small-$2.bin $SMALL_BYTES $SMALL_REPS" ;;
  esac
}
io_summary() { # test name -> one log line from the last round
  local f=$TMPROOT/io-$1-$2.txt
  case $1 in
    run) log "  $2 runProcess: median $(kv "$f" run_median_us) us, p99 $(kv "$f" run_p99_us) us" ;;
    runc) log "  $2 runProcess x$RUN_CONC concurrent: median $(kv "$f" run_median_us) us, p99 $(kv "$f" run_p99_us) us" ;;
    files) log "  $2 ${FS_N} files: writes $(kv "$f" fs_write_total_ms) ms (median $(kv "$f" fs_write_median_us) us), reads $(kv "$f" fs_read_total_ms) ms (median $(kv "$f" fs_read_median_us) us), $(kv "$f" fs_verified) verified" ;;
    small) log "  $2 $SMALL_BYTES-byte file: PUT $(kv "$f" small_put_mbps) MB/s, GET $(kv "$f" small_get_mbps) MB/s" ;;
  esac
}
io_median() { # key name -> median over rounds, empty unless every round produced it
  local -a vals
  read -r -a vals <<<"${IOV[$1.$2]:-}"
  ((${#vals[@]} == IO_ROUNDS)) || return 0
  median "${vals[@]}"
}

IO=1
if ! command -v node >/dev/null; then
  warn "node is not installed: skipping the process and file-system benchmarks"
  IO=0
fi
declare -A IO_OURS=([run]=1 [runc]=1 [files]=1 [small]=1 [big]=1)
((OURS_OK)) || IO_OURS=([run]=0 [runc]=0 [files]=0 [small]=0 [big]=0)
IO_TESTS=(run)
((RUN_CONC > 0)) && IO_TESTS+=(runc)
IO_TESTS+=(files small)
if ((IO && IO_ROUNDS > 0)); then
  log "processes + fs: $IO_ROUNDS rounds alternating; runProcess $RUN_N (+$RUN_WARMUP warm-up); $FS_N x ${FS_SIZE}-byte PUT then GET; $SMALL_BYTES-byte PUT+GET x $SMALL_REPS"
  for ((r = 1; r <= IO_ROUNDS; r++)); do
    if ((r % 2)); then order=(ref ours); else order=(ours ref); fi
    log "round $r/$IO_ROUNDS: ${order[*]}"
    for t in "${IO_TESTS[@]}"; do
      for s in "${order[@]}"; do
        # shellcheck disable=SC2046
        if [[ $s == ref ]]; then
          io_step "$t" ref $(io_args "$t" ref "$r") || fatal "reference $t benchmark failed"
          io_summary "$t" ref
        elif ((IO_OURS[$t])) && ours_alive; then
          if io_step "$t" ours $(io_args "$t" ours "$r"); then
            io_summary "$t" ours
          else
            ours_fail "$t benchmark failed (see above)"
            IO_OURS[$t]=0
          fi
        fi
      done
    done
    rm -rf "$TMPROOT/fs-ref/r$r" "$TMPROOT/fs-ours/r$r"
  done
  rm -f "$TMPROOT/small-ref.bin" "$TMPROOT/small-ours.bin"
  for s in ref ours; do
    for k in run_median_us run_p99_us crun_median_us crun_p99_us fs_write_total_ms fs_read_total_ms fs_write_median_us fs_read_median_us \
      small_put_mbps small_get_mbps; do
      R[$k.$s]=$(io_median "$k" "$s")
    done
  done
fi

# Big file: our server streams it; the reference caps bodies at 2 MiB, so its
# attempt only records the status.  Then a local cp of the same file on the
# same file system, as the physical limit.
BIG_BYTES=$((BIG_MB * 1048576))
BIG_SKIP=
if ((IO && BIG_MB > 0)); then
  need_kib=$((3 * 1048576))
  ((2 * BIG_MB * 1024 + 524288 <= need_kib)) || need_kib=$((2 * BIG_MB * 1024 + 524288))
  free_kib=$(df -Pk "$TMPROOT" | awk 'NR==2{print $4}')
  if ((free_kib < need_kib)); then
    BIG_SKIP="only $((free_kib / 1024)) MiB free on the file system of $TMPROOT, need $((need_kib / 1024)) MiB"
    warn "skipping the ${BIG_MB} MiB file benchmark: $BIG_SKIP"
  else
    log "big file: ${BIG_MB} MiB streamed PUT, GET, verifying GET (sha256); $((free_kib / 1048576)) GiB free"
    if io_step big ref "$TMPROOT/big-ref.bin" "$BIG_BYTES"; then
      R[big_status.ref]=$(kv "$TMPROOT/io-big-ref.txt" big_put_status)
      R[big_put_mbps.ref]=$(kv "$TMPROOT/io-big-ref.txt" big_put_mbps)
      R[big_get_mbps.ref]=$(kv "$TMPROOT/io-big-ref.txt" big_get_mbps)
      log "  ref: PUT ${BIG_MB} MiB -> HTTP ${R[big_status.ref]} $(kv "$TMPROOT/io-big-ref.txt" big_put_reply)"
    else
      fatal "reference big-file client failed"
    fi
    rm -f "$TMPROOT/big-ref.bin"
    if ((IO_OURS[big])) && ours_alive; then
      sync
      if io_step big ours "$TMPROOT/big-ours.bin" "$BIG_BYTES"; then
        R[big_status.ours]=$(kv "$TMPROOT/io-big-ours.txt" big_put_status)
        if [[ ${R[big_status.ours]} == 200 ]]; then
          R[big_put_mbps.ours]=$(kv "$TMPROOT/io-big-ours.txt" big_put_mbps)
          R[big_get_mbps.ours]=$(kv "$TMPROOT/io-big-ours.txt" big_get_mbps)
          log "  ours: PUT ${R[big_put_mbps.ours]} MB/s, GET ${R[big_get_mbps.ours]} MB/s, sha256 verified ($(kv "$TMPROOT/io-big-ours.txt" big_sha256))"
          sz=$(stat -c %s "$TMPROOT/big-ours.bin" 2>/dev/null || echo 0)
          ((sz == BIG_BYTES)) || ours_fail "${BIG_MB} MiB PUT left a file of $sz bytes"
        else
          ours_fail "${BIG_MB} MiB PUT -> HTTP ${R[big_status.ours]} $(kv "$TMPROOT/io-big-ours.txt" big_put_reply)"
        fi
      else
        ours_fail "${BIG_MB} MiB file benchmark failed (see above)"
      fi
    fi
    src=$TMPROOT/big-ours.bin
    if [[ $(stat -c %s "$src" 2>/dev/null || echo 0) != "$BIG_BYTES" ]]; then
      src=$TMPROOT/big-src.bin
      head -c "$BIG_BYTES" /dev/zero >"$src"
    fi
    # Median of 3 copies, each after an untimed sync so dirty-page writeback of
    # the previous step does not throttle it (the PUT also starts after a sync).
    declare -a CPS=()
    for i in 1 2 3; do
      sync
      t0=${EPOCHREALTIME//[.,]/}
      cp "$src" "$TMPROOT/big-copy.bin"
      t1=${EPOCHREALTIME//[.,]/}
      CPS+=("$(awk -v b="$BIG_BYTES" -v t=$((t1 - t0)) 'BEGIN{ printf "%.1f", b / t }')")
      rm -f "$TMPROOT/big-copy.bin"
    done
    R[big_cp_mbps]=$(median "${CPS[@]}")
    log "  local cp of the same ${BIG_MB} MiB file on the same file system: ${CPS[*]} MB/s, median ${R[big_cp_mbps]}"
    rm -f "$TMPROOT/big-ours.bin" "$TMPROOT/big-src.bin" "$TMPROOT/big-copy.bin"
  fi
fi

R[hwm.ref]=$(awk '/^VmHWM:/{print $2}' "/proc/${PID[ref]}/status" 2>/dev/null || true)
ours_alive && R[hwm.ours]=$(awk '/^VmHWM:/{print $2}' "/proc/${PID[ours]}/status" 2>/dev/null || true)
log "peak RSS (VmHWM) at the end: ref ${R[hwm.ref]:-n/a} KiB, ours ${R[hwm.ours]:-n/a} KiB"

# ------------------------------------------- pipelining, soak, ACP creates ---
# After the peak-RSS reading, so the rows above stay comparable with earlier runs.
# Pipelined GET /v1/health on one connection: depth 1, then BENCH_PIPE_DEPTH requests
# written at once; rounds alternate the server order like everything else.
declare -A PIPEV=() # depth.name -> space-separated req/s, one per round
pipe_once() { # name depth -> 0 ok
  local out=$TMPROOT/pipe-$1-$2.txt rc=0 v
  bgrun "$CACHE/pipeline" "${PORT[$1]}" "$2" "$PIPE_SECONDS" >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  v=$(kv "$out" pipe_rps)
  PIPEV[$2.$1]+="$v "
  log "  $1 depth $2: $v req/s"
}
pipe_ours=1
((OURS_OK)) || pipe_ours=0
if ((PIPE_ROUNDS > 0)); then
  log "pipelined GET /v1/health on one connection: depth 1 and $PIPE_DEPTH, ${PIPE_SECONDS}s each, $PIPE_ROUNDS rounds alternating"
  for ((r = 1; r <= PIPE_ROUNDS; r++)); do
    if ((r % 2)); then order=(ref ours); else order=(ours ref); fi
    for d in 1 "$PIPE_DEPTH"; do
      for s in "${order[@]}"; do
        if [[ $s == ref ]]; then
          pipe_once ref "$d" || fatal "reference pipelined benchmark failed"
        elif ((pipe_ours)) && ours_alive; then
          if ! pipe_once ours "$d"; then
            ours_fail "pipelined GET /v1/health at depth $d failed (see above)"
            pipe_ours=0
          fi
        fi
      done
    done
  done
  for s in ref ours; do
    for d in 1 "$PIPE_DEPTH"; do
      read -r -a vals <<<"${PIPEV[$d.$s]:-}"
      ((${#vals[@]} == PIPE_ROUNDS)) && R[pipe$d.$s]=$(median "${vals[@]}")
    done
  done
fi

# Mixed soak (bench/soak.js): BENCH_SOAK_CONC connections share BENCH_SOAK_N requests
# cycling through health, 4 KiB PUT, GET of it, processes/run `true`, ACP initialize.
SOAK_KINDS=(health fs_put fs_get run acp acp_create)
declare -A SOAKV=() # key.name -> values, one per round
soak_step() { # test name args... -> 0 ok; records every "key value" line
  local test=$1 name=$2 out=$TMPROOT/$1-$2.txt rc=0 k v
  shift 2
  bgrun node "$BENCH/soak.js" "$test" "${PORT[$name]}" "$@" >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  while read -r k v; do SOAKV[$k.$name]+="$v "; done <"$out"
}
soak_median() { # key name rounds -> median, empty unless every round produced it
  local -a vals
  read -r -a vals <<<"${SOAKV[$1.$2]:-}"
  ((${#vals[@]} == $3)) || return 0
  median "${vals[@]}"
}
if ((IO && SOAK_N > 0 && SOAK_ROUNDS > 0)); then
  log "mixed soak: $SOAK_N requests at concurrency $SOAK_CONC ($SOAK_CREATES of them ACP creates), $SOAK_ROUNDS rounds alternating"
  soak_ours=$OURS_OK
  for ((r = 1; r <= SOAK_ROUNDS; r++)); do
    if ((r % 2)); then order=(ref ours); else order=(ours ref); fi
    for s in "${order[@]}"; do
      args=("$TMPROOT/soak-$s/r$r" "$SOAK_N" "$SOAK_CONC" "$SOAK_CREATES" "soak-$s-$$-$r")
      if [[ $s == ref ]]; then
        soak_step soak ref "${args[@]}" || fatal "reference soak failed"
      elif ((soak_ours)) && ours_alive; then
        if ! soak_step soak ours "${args[@]}"; then
          ours_fail "mixed soak failed (see above)"
          soak_ours=0
          continue
        fi
      else
        continue
      fi
      f=$TMPROOT/soak-$s.txt
      log "  $s: $(kv "$f" soak_rps) req/s; p50/p99 ms: health $(kv "$f" soak_health_p50_ms)/$(kv "$f" soak_health_p99_ms), put $(kv "$f" soak_fs_put_p50_ms)/$(kv "$f" soak_fs_put_p99_ms), get $(kv "$f" soak_fs_get_p50_ms)/$(kv "$f" soak_fs_get_p99_ms), run $(kv "$f" soak_run_p50_ms)/$(kv "$f" soak_run_p99_ms), acp $(kv "$f" soak_acp_p50_ms)/$(kv "$f" soak_acp_p99_ms), create $(kv "$f" soak_acp_create_p50_ms)/$(kv "$f" soak_acp_create_p99_ms)"
    done
    rm -rf "$TMPROOT/soak-ref/r$r" "$TMPROOT/soak-ours/r$r"
  done
  for s in ref ours; do
    R[soak_rps.$s]=$(soak_median soak_rps "$s" "$SOAK_ROUNDS")
    for k in "${SOAK_KINDS[@]}"; do
      R[soak_${k}_p50.$s]=$(soak_median "soak_${k}_p50_ms" "$s" "$SOAK_ROUNDS")
      R[soak_${k}_p99.$s]=$(soak_median "soak_${k}_p99_ms" "$s" "$SOAK_ROUNDS")
    done
  done
fi

# BENCH_CREATES_N ACP creates issued at once, each on its own connection.
if ((IO && CREATES_N > 0 && CREATES_ROUNDS > 0)); then
  log "ACP creates: $CREATES_N at once, $CREATES_ROUNDS rounds alternating"
  creates_ours=$OURS_OK
  for ((r = 1; r <= CREATES_ROUNDS; r++)); do
    if ((r % 2)); then order=(ref ours); else order=(ours ref); fi
    for s in "${order[@]}"; do
      if [[ $s == ref ]]; then
        soak_step creates ref "$CREATES_N" "creates-ref-$$-$r" || fatal "reference ACP creates failed"
      elif ((creates_ours)) && ours_alive; then
        if ! soak_step creates ours "$CREATES_N" "creates-ours-$$-$r"; then
          ours_fail "concurrent ACP creates failed (see above)"
          creates_ours=0
          continue
        fi
      else
        continue
      fi
      f=$TMPROOT/creates-$s.txt
      log "  $s: time to first reply p50 $(kv "$f" creates_p50_ms) ms, p99 $(kv "$f" creates_p99_ms) ms, all done after $(kv "$f" creates_wall_ms) ms"
    done
  done
  for s in ref ours; do
    R[creates_p50.$s]=$(soak_median creates_p50_ms "$s" "$CREATES_ROUNDS")
    R[creates_p99.$s]=$(soak_median creates_p99_ms "$s" "$CREATES_ROUNDS")
  done
fi

stop_server ref
stop_server ours

# --------------------------------------------------------------- startup ---
# Each sample: fork/exec a fresh server on a fresh port, poll health every
# 0.2 ms, SIGTERM (then SIGKILL) it.  Alternate ref/ours per sample.
declare -a ST_ref=() ST_ours=()
startup_once() { # name bin timeout_ms -> appends one sample
  local name=$1 bin=$2 out=$TMPROOT/startup-$1.txt rc=0
  (
    cd "${HOMED[$name]}"
    exec env -u XDG_DATA_HOME -u XDG_CONFIG_HOME -u XDG_CACHE_HOME -u XDG_STATE_HOME \
      HOME="${HOMED[$name]}" BENCH_RUN_TAG="$RUN_TAG" \
      "$CACHE/startup" 1 "$3" "$bin" server --no-token --no-telemetry --host 127.0.0.1 --port '{PORT}'
  ) >"$out" 2>"$out.err" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=
  if ((rc != 0)); then
    sed 's/^/[bench]   /' "$out.err" >&2
    return 1
  fi
  local v
  v=$(awk '$1=="startup_ms"{print $2}' "$out")
  if [[ $name == ref ]]; then ST_ref+=("$v"); else ST_ours+=("$v"); fi
}
if ((STARTUP_RUNS > 0)); then
  log "startup: exec -> first 200 from GET /v1/health, $STARTUP_RUNS samples each, alternating"
  HOMED[ours]=${HOMED[ours]:-$TMPROOT/home-ours}
  mkdir -p "${HOMED[ours]}"
  st_ours=$OURS_OK
  # Only a runnable binary is worth probing; a missing one was already reported.
  [[ -x $OURS ]] || st_ours=0
  for ((i = 1; i <= STARTUP_RUNS; i++)); do
    if ((i % 2)); then order=(ref ours); else order=(ours ref); fi
    for s in "${order[@]}"; do
      if [[ $s == ref ]]; then
        startup_once ref "$REF" $((REF_HEALTH_TIMEOUT * 1000)) || fatal "reference startup probe failed"
      elif ((st_ours)); then
        if ! startup_once ours "$OURS" $((OURS_HEALTH_TIMEOUT * 1000)); then
          ours_fail "startup probe failed"
          st_ours=0
        fi
      fi
    done
  done
  R[st_med.ref]=$(median "${ST_ref[@]}")
  R[st_min.ref]=$(printf '%s\n' "${ST_ref[@]}" | sort -g | head -n1)
  if ((st_ours)) && ((${#ST_ours[@]} == STARTUP_RUNS)); then
    R[st_med.ours]=$(median "${ST_ours[@]}")
    R[st_min.ours]=$(printf '%s\n' "${ST_ours[@]}" | sort -g | head -n1)
  fi
  log "  ref median ${R[st_med.ref]} ms, ours ${R[st_med.ours]:-n/a} ms"
fi

# -------------------------------------------------------- durable journal ---
# shellcheck source=bench/journal.sh
source "$BENCH/journal.sh"
journal_run

# --------------------------------------------------------------- desktop ---
desktop_run
stream_run

# ----------------------------------------------------------- binary size ---
R[size.ref]=$(stat -c %s "$REF")
strip -o "$TMPROOT/ref.stripped" "$REF" 2>/dev/null && R[ssize.ref]=$(stat -c %s "$TMPROOT/ref.stripped")
if [[ -x $OURS ]]; then
  R[size.ours]=$(stat -c %s "$OURS")
  strip -o "$TMPROOT/ours.stripped" "$OURS" 2>/dev/null && R[ssize.ours]=$(stat -c %s "$TMPROOT/ours.stripped")
fi

# ---------------------------------------------------------------- report ---
declare -a ROWS=()
row() { ROWS+=("$1|$2|$3|$4"); }
row "GET /v1/health throughput, req/s (median of $ROUNDS)" "$(n "${R[rps.ref]:-}" %.0f)" "$(n "${R[rps.ours]:-}" %.0f)" "$(ratio higher "${R[rps.ref]:-}" "${R[rps.ours]:-}")"
row "GET /v1/health p99 latency, ms (median of $ROUNDS)" "$(n "$(awk -v v="${R[p99.ref]:-}" 'BEGIN{if(v!="")print v/1000}')" %.2f)" "$(n "$(awk -v v="${R[p99.ours]:-}" 'BEGIN{if(v!="")print v/1000}')" %.2f)" "$(ratio lower "${R[p99.ref]:-}" "${R[p99.ours]:-}")"
row "ACP round trip median, us (median of $ACP_ROUNDS x $ACP_N)" "$(n "${R[acp_med.ref]:-}" %.0f)" "$(n "${R[acp_med.ours]:-}" %.0f)" "$(ratio lower "${R[acp_med.ref]:-}" "${R[acp_med.ours]:-}")"
row "ACP round trip p99, us (median of $ACP_ROUNDS)" "$(n "${R[acp_p99.ref]:-}" %.0f)" "$(n "${R[acp_p99.ours]:-}" %.0f)" "$(ratio lower "${R[acp_p99.ref]:-}" "${R[acp_p99.ours]:-}")"
row "POST /v1/processes/run \`true\` median, us (median of $IO_ROUNDS x $RUN_N)" "$(n "${R[run_median_us.ref]:-}" %.0f)" "$(n "${R[run_median_us.ours]:-}" %.0f)" "$(ratio lower "${R[run_median_us.ref]:-}" "${R[run_median_us.ours]:-}")"
row "POST /v1/processes/run \`true\` p99, us (median of $IO_ROUNDS)" "$(n "${R[run_p99_us.ref]:-}" %.0f)" "$(n "${R[run_p99_us.ours]:-}" %.0f)" "$(ratio lower "${R[run_p99_us.ref]:-}" "${R[run_p99_us.ours]:-}")"
if ((RUN_CONC > 0)); then
  row "POST /v1/processes/run \`true\` x$RUN_CONC concurrent, median us (median of $IO_ROUNDS x $RUN_N)" "$(n "${R[crun_median_us.ref]:-}" %.0f)" "$(n "${R[crun_median_us.ours]:-}" %.0f)" "$(ratio lower "${R[crun_median_us.ref]:-}" "${R[crun_median_us.ours]:-}")"
  row "POST /v1/processes/run \`true\` x$RUN_CONC concurrent, p99 us (median of $IO_ROUNDS)" "$(n "${R[crun_p99_us.ref]:-}" %.0f)" "$(n "${R[crun_p99_us.ours]:-}" %.0f)" "$(ratio lower "${R[crun_p99_us.ref]:-}" "${R[crun_p99_us.ours]:-}")"
fi
row "$FS_N x PUT ${FS_SIZE} B file, total ms (median of $IO_ROUNDS)" "$(n "${R[fs_write_total_ms.ref]:-}" %.0f)" "$(n "${R[fs_write_total_ms.ours]:-}" %.0f)" "$(ratio lower "${R[fs_write_total_ms.ref]:-}" "${R[fs_write_total_ms.ours]:-}")"
row "$FS_N x GET ${FS_SIZE} B file, total ms (median of $IO_ROUNDS)" "$(n "${R[fs_read_total_ms.ref]:-}" %.0f)" "$(n "${R[fs_read_total_ms.ours]:-}" %.0f)" "$(ratio lower "${R[fs_read_total_ms.ref]:-}" "${R[fs_read_total_ms.ours]:-}")"
row "PUT ${FS_SIZE} B file, per-op median us" "$(n "${R[fs_write_median_us.ref]:-}" %.0f)" "$(n "${R[fs_write_median_us.ours]:-}" %.0f)" "$(ratio lower "${R[fs_write_median_us.ref]:-}" "${R[fs_write_median_us.ours]:-}")"
row "GET ${FS_SIZE} B file, per-op median us" "$(n "${R[fs_read_median_us.ref]:-}" %.0f)" "$(n "${R[fs_read_median_us.ours]:-}" %.0f)" "$(ratio lower "${R[fs_read_median_us.ref]:-}" "${R[fs_read_median_us.ours]:-}")"
row "PUT 2 MiB file, MB/s (median of $IO_ROUNDS x $SMALL_REPS)" "$(n "${R[small_put_mbps.ref]:-}" %.0f)" "$(n "${R[small_put_mbps.ours]:-}" %.0f)" "$(ratio higher "${R[small_put_mbps.ref]:-}" "${R[small_put_mbps.ours]:-}")"
row "GET 2 MiB file, MB/s (median of $IO_ROUNDS x $SMALL_REPS)" "$(n "${R[small_get_mbps.ref]:-}" %.0f)" "$(n "${R[small_get_mbps.ours]:-}" %.0f)" "$(ratio higher "${R[small_get_mbps.ref]:-}" "${R[small_get_mbps.ours]:-}")"
if ((IO && BIG_MB > 0)); then
  if [[ -n $BIG_SKIP ]]; then
    row "PUT/GET ${BIG_MB} MiB file" "skipped" "skipped" "n/a ($BIG_SKIP)"
  else
    big_ref_cell() { # put|get
      if [[ ${R[big_status.ref]:-} == 200 ]]; then n "${R[big_$1_mbps.ref]:-}" %.0f
      elif [[ $1 == put ]]; then echo "rejected: HTTP ${R[big_status.ref]:-?}"
      else echo "n/a (not stored)"; fi
    }
    cp_ratio() { awk -v o="$1" -v c="$2" 'BEGIN{ if (o == "" || c == "" || c + 0 <= 0) print "n/a"; else printf "%.2fx (ours/local cp)", o / c }'; }
    row "PUT ${BIG_MB} MiB file streamed, MB/s" "$(big_ref_cell put)" "$(n "${R[big_put_mbps.ours]:-}" %.0f)" "$(cp_ratio "${R[big_put_mbps.ours]:-}" "${R[big_cp_mbps]:-}")"
    row "GET ${BIG_MB} MiB file streamed, MB/s" "$(big_ref_cell get)" "$(n "${R[big_get_mbps.ours]:-}" %.0f)" "$(cp_ratio "${R[big_get_mbps.ours]:-}" "${R[big_cp_mbps]:-}")"
    row "Local cp of the ${BIG_MB} MiB file (same fs), MB/s" "-" "$(n "${R[big_cp_mbps]:-}" %.0f)" "physical limit (no server)"
  fi
fi
if [[ -n ${R[pipe1.ref]:-} ]]; then
  row "Pipelined GET /v1/health, 1 connection, depth 1, req/s (median of $PIPE_ROUNDS)" "$(n "${R[pipe1.ref]:-}" %.0f)" "$(n "${R[pipe1.ours]:-}" %.0f)" "$(ratio higher "${R[pipe1.ref]:-}" "${R[pipe1.ours]:-}")"
  row "Pipelined GET /v1/health, 1 connection, depth $PIPE_DEPTH, req/s (median of $PIPE_ROUNDS)" "$(n "${R[pipe$PIPE_DEPTH.ref]:-}" %.0f)" "$(n "${R[pipe$PIPE_DEPTH.ours]:-}" %.0f)" "$(ratio higher "${R[pipe$PIPE_DEPTH.ref]:-}" "${R[pipe$PIPE_DEPTH.ours]:-}")"
  depth_gain() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || a + 0 <= 0) print "n/a"; else printf "%.2fx", b / a }'; }
  row "Pipelined depth $PIPE_DEPTH vs depth 1 (same server)" "$(depth_gain "${R[pipe1.ref]:-}" "${R[pipe$PIPE_DEPTH.ref]:-}")" "$(depth_gain "${R[pipe1.ours]:-}" "${R[pipe$PIPE_DEPTH.ours]:-}")" "-"
fi
if [[ -n ${R[soak_rps.ref]:-} ]]; then
  row "Mixed soak, $SOAK_N requests at concurrency $SOAK_CONC, req/s (median of $SOAK_ROUNDS)" "$(n "${R[soak_rps.ref]:-}" %.0f)" "$(n "${R[soak_rps.ours]:-}" %.0f)" "$(ratio higher "${R[soak_rps.ref]:-}" "${R[soak_rps.ours]:-}")"
  pair() { # p50 p99 -> "p50 / p99"
    if [[ -z $1 ]]; then echo "n/a"; else awk -v a="$1" -v b="$2" 'BEGIN{ printf "%.2f / %.2f", a, b }'; fi
  }
  pair_ratio() { # ref50 ref99 ours50 ours99
    local a b
    a=$(ratio lower "$1" "$3")
    b=$(ratio lower "$2" "$4")
    if [[ $a == n/a ]]; then echo "n/a"; else echo "${a% (*} / ${b% (*} (ref/ours)"; fi
  }
  declare -A SOAK_LABEL=([health]="GET /v1/health" [fs_put]="PUT 4 KiB file" [fs_get]="GET 4 KiB file" [run]="processes/run \`true\`" [acp]="ACP initialize (existing)" [acp_create]="ACP create (agent spawn)")
  for k in "${SOAK_KINDS[@]}"; do
    [[ $k == acp_create ]] && ((SOAK_CREATES == 0)) && continue
    row "Mixed soak: ${SOAK_LABEL[$k]}, p50 / p99 ms" "$(pair "${R[soak_${k}_p50.ref]:-}" "${R[soak_${k}_p99.ref]:-}")" "$(pair "${R[soak_${k}_p50.ours]:-}" "${R[soak_${k}_p99.ours]:-}")" "$(pair_ratio "${R[soak_${k}_p50.ref]:-}" "${R[soak_${k}_p99.ref]:-}" "${R[soak_${k}_p50.ours]:-}" "${R[soak_${k}_p99.ours]:-}")"
  done
fi
if [[ -n ${R[creates_p50.ref]:-} ]]; then
  row "$CREATES_N concurrent ACP creates, time to first reply p50, ms" "$(n "${R[creates_p50.ref]:-}" %.0f)" "$(n "${R[creates_p50.ours]:-}" %.0f)" "$(ratio lower "${R[creates_p50.ref]:-}" "${R[creates_p50.ours]:-}")"
  row "$CREATES_N concurrent ACP creates, time to first reply p99, ms" "$(n "${R[creates_p99.ref]:-}" %.0f)" "$(n "${R[creates_p99.ours]:-}" %.0f)" "$(ratio lower "${R[creates_p99.ref]:-}" "${R[creates_p99.ours]:-}")"
fi
row "Idle RSS (after first health request)" "$(mib "${R[idle_rss.ref]:-}")" "$(mib "${R[idle_rss.ours]:-}")" "$(ratio lower "${R[idle_rss.ref]:-}" "${R[idle_rss.ours]:-}")"
row "RSS after load (wrk + ACP)" "$(mib "${R[load_rss.ref]:-}")" "$(mib "${R[load_rss.ours]:-}")" "$(ratio lower "${R[load_rss.ref]:-}" "${R[load_rss.ours]:-}")"
row "Peak RSS (VmHWM) at the end (after all of the above)" "$(mib "${R[hwm.ref]:-}")" "$(mib "${R[hwm.ours]:-}")" "$(ratio lower "${R[hwm.ref]:-}" "${R[hwm.ours]:-}")"
row "Startup exec -> healthy, median ms ($STARTUP_RUNS runs)" "$(n "${R[st_med.ref]:-}" %.2f)" "$(n "${R[st_med.ours]:-}" %.2f)" "$(ratio lower "${R[st_med.ref]:-}" "${R[st_med.ours]:-}")"
row "Startup exec -> healthy, min ms" "$(n "${R[st_min.ref]:-}" %.2f)" "$(n "${R[st_min.ours]:-}" %.2f)" "$(ratio lower "${R[st_min.ref]:-}" "${R[st_min.ours]:-}")"
row "Binary size, bytes" "$(n "${R[size.ref]:-}" %d)" "$(n "${R[size.ours]:-}" %d)" "$(ratio lower "${R[size.ref]:-}" "${R[size.ours]:-}")"
row "Binary size stripped (strip -o), bytes" "$(n "${R[ssize.ref]:-}" %d)" "$(n "${R[ssize.ours]:-}" %d)" "$(ratio lower "${R[ssize.ref]:-}" "${R[ssize.ours]:-}")"

HDR="metric|reference $REF_VERSION|ours|ratio (>1 = ours better)"

# Targets.
declare -a TGT=()
MISSED=0
target() { # description pass-condition detail (awk expressions over r=ref, o=ours) ref ours
  local desc=$1 cond=$2 detail=$3 r=$4 o=$5 verdict
  if [[ -z $o || -z $r ]]; then
    verdict="n/a (ours not measured)"
    MISSED=1
  else
    verdict=$(awk -v r="$r" -v o="$o" "BEGIN{ print (($cond) ? \"MET\" : \"NOT MET\") \" - \" $detail }")
    [[ $verdict == MET* ]] || MISSED=1
  fi
  TGT+=("- $desc: **$verdict**")
}
target "Health throughput >= 3x reference" "o >= 3 * r" \
  'sprintf("ours/ref = %.2fx", o / r)' "${R[rps.ref]:-}" "${R[rps.ours]:-}"
target "Idle RSS <= 1/4 of reference" "4 * o <= r" \
  'sprintf("ref/ours = %.2fx (need >= 4x)", r / o)' "${R[idle_rss.ref]:-}" "${R[idle_rss.ours]:-}"
target "Our startup < 10 ms (median exec -> healthy)" "o < 10" \
  'sprintf("ours %.2f ms (ref %.2f ms)", o, r)' "${R[st_med.ref]:-}" "${R[st_med.ours]:-}"
target "ACP round trip no slower than reference (median)" "o <= r" \
  'sprintf("ours %.0f us vs ref %.0f us", o, r)' "${R[acp_med.ref]:-}" "${R[acp_med.ours]:-}"
target "processes/run \`true\` median >= 1.5x faster than reference (sequential)" "1.5 * o <= r" \
  'sprintf("ref/ours = %.2fx (ours %.0f us, ref %.0f us)", r / o, o, r)' "${R[run_median_us.ref]:-}" "${R[run_median_us.ours]:-}"
if ((RUN_CONC > 0)); then
  target "processes/run \`true\` median >= 1.5x faster than reference (x$RUN_CONC concurrent)" "1.5 * o <= r" \
    'sprintf("ref/ours = %.2fx (ours %.0f us, ref %.0f us)", r / o, o, r)' "${R[crun_median_us.ref]:-}" "${R[crun_median_us.ours]:-}"
fi

if [[ -n ${R[pipe1.ref]:-} ]]; then
  target "Pipelined throughput does not drop with depth (ours, depth $PIPE_DEPTH >= depth 1)" "o >= r" \
    'sprintf("depth %s %.0f req/s vs depth 1 %.0f req/s", '"$PIPE_DEPTH"', o, r)' "${R[pipe1.ours]:-}" "${R[pipe$PIPE_DEPTH.ours]:-}"
fi
if [[ -n ${R[soak_rps.ref]:-} ]]; then
  target "Mixed soak throughput >= 1.5x reference" "o >= 1.5 * r" \
    'sprintf("ours/ref = %.2fx (ours %.0f req/s, ref %.0f req/s)", o / r, o, r)' "${R[soak_rps.ref]:-}" "${R[soak_rps.ours]:-}"
  target "GET /v1/health p99 under the soak < 10 ms" "o < 10" \
    'sprintf("ours %.2f ms (ref %.2f ms)", o, r)' "${R[soak_health_p99.ref]:-}" "${R[soak_health_p99.ours]:-}"
fi
if [[ -n ${R[creates_p50.ref]:-} ]]; then
  target "$CREATES_N concurrent ACP creates answered with p50 < 0.5 s" "o < 500" \
    'sprintf("ours %.0f ms (ref %.0f ms)", o, r)' "${R[creates_p50.ref]:-}" "${R[creates_p50.ours]:-}"
fi

journal_targets

CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
REPORT=$(
  echo "## Benchmark results"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Host: $(nproc) CPUs ($CPU), $(uname -sr); wrk, servers and clients share the same cores; load average at start: $LOAD_START"
  echo "- Reference: sandbox-agent $REF_VERSION ($REF_PKG)"
  if [[ -x $OURS ]]; then echo "- Ours: \`${OURS#"$ROOT"/}\`"; else echo "- Ours: \`${OURS#"$ROOT"/}\` (missing)"; fi
  echo "- Settings: wrk -t$THREADS -c$CONNS -d${DURATION}s x $ROUNDS rounds (alternating, ${WARMUP_S}s warm-up); ACP $ACP_ROUNDS rounds x ($ACP_N timed + $ACP_WARMUP warm-up) sequential requests on one keep-alive connection; startup $STARTUP_RUNS runs"
  if ((IO)); then echo "- Processes + fs: $IO_ROUNDS rounds (alternating) of $RUN_N (+$RUN_WARMUP warm-up) POST /v1/processes/run {\"command\":\"true\"} sequential on one connection, then the same with $RUN_CONC concurrent keep-alive connections, $FS_N x ${FS_SIZE}-byte PUT then GET /v1/fs/file, $SMALL_REPS x 2 MiB PUT+GET, on one keep-alive connection (bench/io_client.js, Node $(node --version)); one ${BIG_MB} MiB streamed PUT + GET (MB = 10^6 bytes)"; fi
  if [[ -n ${R[soak_rps.ref]:-}${R[creates_p50.ref]:-}${R[pipe1.ref]:-} ]]; then echo "- Pipelining, soak, creates (bench/pipeline.c, bench/soak.js; run after the rows above, on the same servers): one connection at depth 1 and $PIPE_DEPTH, ${PIPE_SECONDS}s x $PIPE_ROUNDS rounds; soak $SOAK_N requests x $SOAK_ROUNDS rounds at concurrency $SOAK_CONC, each connection cycling health / 4 KiB PUT / GET of it / processes/run \`true\` / ACP initialize on an existing mock instance, $SOAK_CREATES of the ACP requests being creates (agent spawns); $CREATES_N ACP creates issued at once x $CREATES_ROUNDS rounds"; fi
  echo "- Ratio column: how many times better ours is (>1 = ours better): ours/ref for throughput, ref/ours for latency, RSS, startup and size; the ${BIG_MB} MiB rows compare ours with a local cp of the same file (ours/local cp)."
  echo
  printf '%s\n' "$HDR" "${ROWS[@]}" | mdtable
  if [[ -n ${R[rps.ceiling]:-} ]]; then
    echo
    awk -v c="${R[rps.ceiling]}" -v p="${R[p99.ceiling]}" -v r="${R[rps.ref]}" 'BEGIN{
      printf "Harness ceiling: a trivial single-threaded epoll server (bench/ceiling.c) returning the same reply reaches %.0f req/s (p99 %.2f ms) under the same wrk settings = %.2fx the reference; the 3x target is %.0f req/s.\n", c, p / 1000, c / r, 3 * r }'
  fi
  journal_table
  desktop_table
  stream_table
  echo
  echo "### Targets"
  echo
  printf '%s\n' "${TGT[@]}"
  if ((${#FAILS[@]})); then
    echo
    echo "### Problems with ours"
    echo
    printf -- '- %s\n' "${FAILS[@]}"
  fi
)
echo
printf '%s\n' "$REPORT"
echo
printf '%s\n' "$REPORT" >"$OUT"
log "wrote ${OUT#"$ROOT"/}"

if ((${#FAILS[@]})); then
  log "FAILED: our server could not be fully measured:"
  printf '[bench]   - %s\n' "${FAILS[@]}" >&2
  exit 1
fi
if ((STRICT)) && ((MISSED)); then
  log "FAILED: at least one target was not met (BENCH_STRICT=1)"
  exit 1
fi
exit 0
