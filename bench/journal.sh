# shellcheck shell=bash disable=SC2034,SC2154  # sourced by run.sh: R, START_ENV and the helpers are its own
# bench/journal.sh - the durable-journal rows of `make bench` (issue 9), sourced by
# bench/run.sh after its startup samples; it uses run.sh's servers, helpers and R[] results.
#
# Fresh servers of its own: the reference (jref), ours with the default SQLite journal (jon),
# ours with --journal memory (joff), and ours with the default journal and a ring big enough
# for the replay (jfill). Measures, in alternating rounds:
#   - events/s through the bridge: bench/acp_events.c `flood` (SESSIONS connections sending
#     prompts to their own session of one mock instance, one SSE follower counting events),
#     and the server's CPU per event (utime+stime of the server process from /proc, all
#     threads, agent excluded: steadier than throughput on shared cores);
#   - the ACP round trip with the journal on and off (bench/acp_rtt.c);
#   - an SSE replay of BENCH_JREPLAY_EVENTS agent events from Last-Event-ID: 0, served from
#     the memory ring, then, after a clean restart, from the store;
#   - the journal's size per 10,000 records after that clean stop (which checkpoints).
#
# Knobs (defaults in brackets), also listed in bench/README.md:
#   BENCH_JOURNAL [1]            0 = skip these rows
#   BENCH_JFLOOD_SESSIONS [4]    sessions (connections) of each flood
#   BENCH_JFLOOD_PROMPTS [250]   prompts per session per flood
#   BENCH_JFLOOD_ROUNDS [3]      flood rounds per server (alternating order)
#   BENCH_JRTT_N [2000]          timed ACP round trips per round
#   BENCH_JRTT_ROUNDS [5]        round-trip rounds per server (alternating order)
#   BENCH_JREPLAY_EVENTS [100000] agent events to replay (0 = skip the replay and size rows)
#   BENCH_JREPLAY_ROUNDS [3]     replays before and after the restart, each

JOURNAL=${BENCH_JOURNAL:-1}
JF_SESSIONS=${BENCH_JFLOOD_SESSIONS:-4}
JF_PROMPTS=${BENCH_JFLOOD_PROMPTS:-250}
JF_ROUNDS=${BENCH_JFLOOD_ROUNDS:-3}
JRTT_N=${BENCH_JRTT_N:-2000}
JRTT_ROUNDS=${BENCH_JRTT_ROUNDS:-5}
JREPLAY_EVENTS=${BENCH_JREPLAY_EVENTS:-100000}
JREPLAY_ROUNDS=${BENCH_JREPLAY_ROUNDS:-3}
# Two flood workloads. "hello": the main text only, 2 agent events per prompt on both mocks
# (ours: the message chunk and the reply; the reference's mock: an echo notification and the
# reply), so the reference compares event for event. "tools": thoughts, a plan twice, a tool
# call and its update, the text, the reply: 9 agent events per prompt on ours (the reference's
# mock only echoes, so it is not run there).
declare -A JF_TEXT=([hello]="hello" [tools]="think plan tool hello")
JF_WORKLOADS=(hello tools)
JOURNAL_RAN=0

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
ticks_us() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN{ print t * 1000000 / hz }'; }

# Start one of this section's servers and wait for it; 1 when it does not come up.
jstart() { # name bin [args...]
  local name=$1 rc=0 timeout=$OURS_HEALTH_TIMEOUT
  [[ $name == jref ]] && timeout=$REF_HEALTH_TIMEOUT
  start_server "$@"
  wait_healthy "$name" "$timeout" || rc=$?
  if ((rc != 0)); then
    server_log_tail "$name"
    stop_server "$name"
    return 1
  fi
}

declare -A JV=() # key.name -> space-separated values, one per round
jrecord() { # name file -> appends every "key value" line of a client's output
  local k v
  while read -r k v; do JV[$k.$1]+="$v "; done <"$2"
}
jmedian() { # key name -> median over the rounds (empty when none)
  local -a vals
  read -r -a vals <<<"${JV[$1.$2]:-}"
  ((${#vals[@]})) || return 0
  median "${vals[@]}"
}

jflood() { # name workload round -> 0 ok
  local name=$1 w=$2 out=$TMPROOT/jflood-$1-$2.txt rc=0 t0 t1 ev
  local pid=${PID[$name]}
  t0=$(cpu_ticks "$pid")
  bgrun "$CACHE/acp_events" flood "${PORT[$name]}" "jf-$w-$name-$3-$$" "$JF_SESSIONS" "$JF_PROMPTS" \
    "${JF_TEXT[$w]}" >"$out" 2>"$out.err" || rc=$?
  t1=$(cpu_ticks "$pid")
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  ev=$(kv "$out" flood_events)
  echo "flood_cpu_us_per_event $(awk -v us="$(ticks_us $((t1 - t0)))" -v e="$ev" 'BEGIN{ printf "%.1f", us / e }')" >>"$out"
  sed -i "s/^flood_/$w./" "$out"
  jrecord "$name" "$out"
  log "  $name $w: $(kv "$out" "$w.events_per_s") events/s ($(kv "$out" "$w.events_per_prompt") per prompt), server CPU $(kv "$out" "$w.cpu_us_per_event") us/event, prompt p50/p99 $(kv "$out" "$w.prompt_p50_ms")/$(kv "$out" "$w.prompt_p99_ms") ms"
}

jrtt() { # name round -> 0 ok
  local name=$1 out=$TMPROOT/jrtt-$1.txt rc=0 flags=()
  (($2 == 1)) && flags+=(--create)
  bgrun "$CACHE/acp_rtt" "${PORT[$name]}" "jrtt-$name-$$" "$JRTT_N" "$ACP_WARMUP" "${flags[@]}" \
    >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  jrecord "$name" "$out"
  log "  $name: median $(kv "$out" acp_median_us) us, p99 $(kv "$out" acp_p99_us) us"
}

jreplay() { # name kind(ring|store) last_id expect -> 0 ok
  local out=$TMPROOT/jreplay-$2.txt rc=0
  bgrun "$CACHE/acp_events" replay "${PORT[$1]}" "jreplay-$$" "$3" "$4" >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  sed -i "s/^replay_/$2./" "$out"
  jrecord "$1" "$out"
  log "  $2: $(kv "$out" "$2.events") events in $(kv "$out" "$2.ms") ms (first after $(kv "$out" "$2.first_ms") ms, $(kv "$out" "$2.events_per_s") events/s)"
}

journal_file() { find "${HOMED[$1]}" -name journal.sqlite3 -type f 2>/dev/null | head -n1; }

journal_run() {
  ((JOURNAL)) || return 0
  if ((!OURS_OK)); then
    warn "ours is not runnable: skipping the journal rows"
    return 0
  fi
  JOURNAL_RAN=1
  local s r w order
  log "journal: fresh servers: reference, ours with the SQLite journal (on), ours with --journal memory (off)"
  jstart jref "$REF" || fatal "reference server did not start for the journal rows"
  install_mock jref || fatal "reference mock install failed"
  if ! jstart jon "$OURS"; then
    ours_fail "server with the default journal did not start"
    return 0
  fi
  if ! jstart joff "$OURS" server --no-token --no-telemetry --host 127.0.0.1 --port '{PORT}' --journal memory; then
    ours_fail "server with --journal memory did not start"
    return 0
  fi
  log "journal: bridge events/s, $JF_SESSIONS sessions x $JF_PROMPTS prompts, one SSE follower, $JF_ROUNDS rounds alternating"
  for ((r = 1; r <= JF_ROUNDS; r++)); do
    if ((r % 2)); then order=(jref joff jon); else order=(jon joff jref); fi
    for w in "${JF_WORKLOADS[@]}"; do
      for s in "${order[@]}"; do
        [[ $s == jref && $w != hello ]] && continue
        if [[ $s == jref ]]; then
          jflood jref "$w" "$r" || fatal "reference ACP flood failed"
        elif ! jflood "$s" "$w" "$r"; then
          ours_fail "ACP flood ($w) against $s failed (see above)"
          return 0
        fi
      done
    done
  done
  log "journal: ACP round trip, $JRTT_ROUNDS rounds x ($JRTT_N + $ACP_WARMUP warm-up), alternating"
  for ((r = 1; r <= JRTT_ROUNDS; r++)); do
    if ((r % 2)); then order=(jref joff jon); else order=(jon joff jref); fi
    for s in "${order[@]}"; do
      if [[ $s == jref ]]; then
        jrtt jref "$r" || fatal "reference ACP round trip failed"
      elif ! jrtt "$s" "$r"; then
        ours_fail "ACP round trip against $s failed (see above)"
        return 0
      fi
    done
  done
  for s in jref jon joff; do
    for w in "${JF_WORKLOADS[@]}"; do
      for k in events_per_s cpu_us_per_event events_per_prompt prompt_p99_ms; do
        R[j_${w}_$k.$s]=$(jmedian "$w.$k" "$s")
      done
    done
    R[j_rtt_med.$s]=$(jmedian acp_median_us "$s")
    R[j_rtt_p99.$s]=$(jmedian acp_p99_us "$s")
  done
  stop_server jref
  stop_server jon
  stop_server joff
  ((JREPLAY_EVENTS > 0)) || return 0

  # The replay: one server id with at least JREPLAY_EVENTS agent events ("tools" prompts),
  # first replayed on the server that wrote them, then, after a clean restart,
  # from the store.
  local prompts=$(((JREPLAY_EVENTS + 9 * JF_SESSIONS - 1) / (9 * JF_SESSIONS)))
  local f=$TMPROOT/jfill.txt rc=0 last total
  START_ENV=(SANDBOX_AGENT_ACP_REPLAY_EVENTS=$((JREPLAY_EVENTS + 4096)) SANDBOX_AGENT_ACP_REPLAY_MAX_BYTES=$((1 << 30)))
  rc=0
  jstart jfill "$OURS" || rc=$?
  START_ENV=()
  if ((rc)); then
    ours_fail "server for the replay did not start"
    return 0
  fi
  log "journal: filling one server id: $JF_SESSIONS x $prompts \"${JF_TEXT[tools]}\" prompts"
  bgrun "$CACHE/acp_events" flood "${PORT[jfill]}" "jreplay-$$" "$JF_SESSIONS" "$prompts" "${JF_TEXT[tools]}" \
    >"$f" 2>"$f.err" || rc=$?
  sed 's/^/[bench]   /' "$f.err" >&2
  if ((rc)); then
    ours_fail "filling the journal for the replay failed (see above)"
    return 0
  fi
  last=$(kv "$f" flood_last_id)
  total=$(kv "$f" flood_total_events)
  R[j_fill_events]=$total
  R[j_fill_records]=$last
  R[j_fill_eps]=$(kv "$f" flood_events_per_s)
  log "  $total agent events (last id $last) at $(kv "$f" flood_events_per_s) events/s"
  log "journal: SSE replay of $total events from Last-Event-ID: 0, same server (warm; a replay this long pages from the store), $JREPLAY_ROUNDS times"
  for ((r = 1; r <= JREPLAY_ROUNDS; r++)); do
    jreplay jfill ring "$last" "$total" || { ours_fail "replay on the filling server failed (see above)"; return 0; }
  done
  stop_server jfill # SIGTERM: a clean stop, which checkpoints the WAL
  local db wal=0
  db=$(journal_file jfill)
  if [[ -z $db ]]; then
    ours_fail "no journal.sqlite3 under ${HOMED[jfill]}"
    return 0
  fi
  [[ -f $db-wal ]] && wal=$(stat -c %s "$db-wal")
  R[j_db_bytes]=$(($(stat -c %s "$db") + wal))
  # Ids count every record of the server id, both directions; sqlite3, when installed, also
  # counts the ones written at the stop (the agent's exit).
  if command -v sqlite3 >/dev/null; then
    R[j_db_rows]=$(sqlite3 "$db" 'select count(*) from events' 2>/dev/null || true)
    [[ ${R[j_db_rows]} =~ ^[0-9]+$ ]] && R[j_fill_records]=${R[j_db_rows]}
  fi
  log "  journal after a clean stop: ${R[j_db_bytes]} bytes (WAL $wal) for $last records${R[j_db_rows]:+ (sqlite3 counts ${R[j_db_rows]})}"
  if ! jstart jfill "$OURS"; then
    ours_fail "server for the replay did not restart on its journal"
    return 0
  fi
  log "journal: the same replay after the restart (empty ring: from the store), $JREPLAY_ROUNDS times"
  for ((r = 1; r <= JREPLAY_ROUNDS; r++)); do
    jreplay jfill store "$last" "$total" || { ours_fail "replay from the store failed (see above)"; return 0; }
  done
  stop_server jfill
  for k in ring store; do
    R[j_replay_$k]=$(jmedian "$k.ms" jfill)
    R[j_replay_${k}_first]=$(jmedian "$k.first_ms" jfill)
    R[j_replay_${k}_bytes]=$(jmedian "$k.bytes" jfill)
  done
}

# The rows, as a second markdown table.
journal_table() {
  ((JOURNAL_RAN)) || return 0
  local -a rows=()
  jrow() { rows+=("$1|$2|$3|$4|$5|$6"); }
  # on vs off and on vs ref, "how many times better" like the main table.
  rel() { # higher|lower base on label
    awk -v k="$1" -v b="$2" -v o="$3" -v l="$4" 'BEGIN{
      if (b == "" || o == "" || b + 0 <= 0 || o + 0 <= 0) { print "n/a"; exit }
      if (k == "higher") printf "%.2fx (%s)", o / b, l; else printf "%.2fx (%s)", b / o, l }'
  }
  added() { awk -v off="$1" -v on="$2" 'BEGIN{ if (off == "" || on == "" || off + 0 <= 0) print "n/a"; else printf "%+.1f%%", 100 * (on / off - 1) }'; }
  local w lbl
  for w in "${JF_WORKLOADS[@]}"; do
    if [[ $w == hello ]]; then
      lbl="\`hello\` prompts, 2 agent events each on both mocks"
    else
      lbl="\`${JF_TEXT[$w]}\` prompts, ${R[j_${w}_events_per_prompt.jon]:-9} agent events each (ours only)"
    fi
    local refv=n/a refc=n/a onref=- onrefc=-
    if [[ $w == hello ]]; then
      refv=$(n "${R[j_${w}_events_per_s.jref]:-}" %.0f)
      refc=$(n "${R[j_${w}_cpu_us_per_event.jref]:-}" %.1f)
      onref=$(rel higher "${R[j_${w}_events_per_s.jref]:-}" "${R[j_${w}_events_per_s.jon]:-}" "on/ref")
      onrefc=$(rel lower "${R[j_${w}_cpu_us_per_event.jref]:-}" "${R[j_${w}_cpu_us_per_event.jon]:-}" "ref/on")
    fi
    jrow "Bridge events/s, $lbl, $JF_SESSIONS sessions x $JF_PROMPTS (median of $JF_ROUNDS)" "$refv" \
      "$(n "${R[j_${w}_events_per_s.joff]:-}" %.0f)" "$(n "${R[j_${w}_events_per_s.jon]:-}" %.0f)" \
      "$(rel higher "${R[j_${w}_events_per_s.joff]:-}" "${R[j_${w}_events_per_s.jon]:-}" "on/off")" "$onref"
    jrow "Server CPU per agent event, us, same $w prompts (median of $JF_ROUNDS)" "$refc" \
      "$(n "${R[j_${w}_cpu_us_per_event.joff]:-}" %.1f)" "$(n "${R[j_${w}_cpu_us_per_event.jon]:-}" %.1f)" \
      "$(rel lower "${R[j_${w}_cpu_us_per_event.joff]:-}" "${R[j_${w}_cpu_us_per_event.jon]:-}" "off/on")" "$onrefc"
  done
  jrow "ACP round trip median, us (median of $JRTT_ROUNDS x $JRTT_N)" "$(n "${R[j_rtt_med.jref]:-}" %.0f)" \
    "$(n "${R[j_rtt_med.joff]:-}" %.0f)" "$(n "${R[j_rtt_med.jon]:-}" %.0f)" \
    "$(added "${R[j_rtt_med.joff]:-}" "${R[j_rtt_med.jon]:-}") added" "$(rel lower "${R[j_rtt_med.jref]:-}" "${R[j_rtt_med.jon]:-}" "ref/on")"
  jrow "ACP round trip p99, us (median of $JRTT_ROUNDS)" "$(n "${R[j_rtt_p99.jref]:-}" %.0f)" \
    "$(n "${R[j_rtt_p99.joff]:-}" %.0f)" "$(n "${R[j_rtt_p99.jon]:-}" %.0f)" \
    "$(added "${R[j_rtt_p99.joff]:-}" "${R[j_rtt_p99.jon]:-}") added" "$(rel lower "${R[j_rtt_p99.jref]:-}" "${R[j_rtt_p99.jon]:-}" "ref/on")"
  if [[ -n ${R[j_replay_store]:-} ]]; then
    local ev=${R[j_fill_events]}
    jrow "SSE replay of $ev events from Last-Event-ID: 0, after a restart (from the store), ms (median of $JREPLAY_ROUNDS)" \
      "n/a (keeps the last 1024)" "n/a (nothing survives)" "$(n "${R[j_replay_store]}" %.0f) (first event $(n "${R[j_replay_store_first]}" %.1f))" "-" "-"
    jrow "The same replay on the server that wrote them (no restart; long replays page from the store), ms (median of $JREPLAY_ROUNDS)" \
      "n/a" "-" "$(n "${R[j_replay_ring]}" %.0f) (first event $(n "${R[j_replay_ring_first]}" %.1f))" "-" "-"
    jrow "Journal file size after a clean stop (checkpointed), per 10,000 records (both directions), KiB" "-" "-" \
      "$(awk -v b="${R[j_db_bytes]}" -v n="${R[j_fill_records]}" 'BEGIN{ printf "%.0f", b / n * 10000 / 1024 }')" "-" "-"
    jrow "The same per 10,000 agent events, KiB (SSE payload: $(awk -v b="${R[j_replay_store_bytes]}" -v n="$ev" 'BEGIN{ printf "%.0f", b / n }') bytes per event)" "-" "-" \
      "$(awk -v b="${R[j_db_bytes]}" -v n="$ev" 'BEGIN{ printf "%.0f", b / n * 10000 / 1024 }')" "-" "-"
  fi
  echo
  echo "### Durable journal (issue 9)"
  echo
  echo "Fresh servers: ours with the default SQLite journal (on) and with \`--journal memory\` (off), and the reference, in alternating rounds (bench/journal.sh)."
  echo
  printf '%s\n' "metric|reference $REF_VERSION|ours, journal off (memory)|ours, journal on (SQLite)|on vs off|on vs reference" "${rows[@]}" | mdtable
  echo
  if [[ -n ${R[j_replay_store]:-} ]]; then
    echo "Replay journal: ${R[j_fill_events]} agent events in ${R[j_fill_records]} records (both directions), filled at ${R[j_fill_eps]} events/s; ${R[j_db_bytes]} bytes after the clean stop. The page cache is warm (the file was just written), as for a client reconnecting to a running server."
  fi
}

journal_targets() {
  ((JOURNAL_RAN)) || return 0
  target "Journal adds < 10% to the ACP round trip (median, on vs off)" "o < 1.10 * r" \
    'sprintf("on %.0f us vs off %.0f us: %+.1f%%", o, r, 100 * (o / r - 1))' "${R[j_rtt_med.joff]:-}" "${R[j_rtt_med.jon]:-}"
  target "Journal adds < 10% to the ACP round trip (p99, on vs off)" "o < 1.10 * r" \
    'sprintf("on %.0f us vs off %.0f us: %+.1f%%", o, r, 100 * (o / r - 1))' "${R[j_rtt_p99.joff]:-}" "${R[j_rtt_p99.jon]:-}"
  if ((JREPLAY_EVENTS > 0)); then
    target "SSE replay of ${R[j_fill_events]:-$JREPLAY_EVENTS} events from the store < 1 s" "o < 1000" \
      'sprintf("%.0f ms (before the restart: %.0f ms)", o, r)' "${R[j_replay_ring]:-}" "${R[j_replay_store]:-}"
  fi
}
