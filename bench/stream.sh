# shellcheck shell=bash disable=SC2034,SC2154  # sourced by run.sh: R, PORT, PID and the helpers are its own
# bench/stream.sh - the desktop streaming rows of `make bench` (issue 12), sourced by
# bench/run.sh: after the desktop rows in a full run, or alone with BENCH_ONLY=stream (then
# the section replaces its own in bench/results-latest.md and nothing else runs).
#
# Fresh servers of their own, as in bench/desktop.sh (whose dsetup/dteardown it uses): the
# reference (sref) and ours (sours), each with a 1440x900 desktop and an xterm on it. The
# reference 0.4.2 streams through a bundled neko process, which is not in Debian or npm: its
# POST /v1/desktop/stream/start is asked once and its answer reported. Ours is measured by
# bench/stream.mjs in headless Chromium through the official SDK's DesktopStreamSession:
# stream/start to the first decoded frame (cold starts), input latency from a data-channel
# moveMouse to the X pointer moving (bench/xpointer.c polls it), and the server's CPU with
# 0..N viewers. Both desktops are stopped at the end.
#
# Needs what the desktop rows need, plus node, /usr/bin/chromium and playwright-core in
# tests/node_modules (scripts/deps.sh); without them the rows are skipped with a warning.
#
# Knobs (defaults in brackets), also listed in bench/README.md:
#   BENCH_STREAM [1]                  0 = skip these rows
#   BENCH_STREAM_COLD [5]             cold starts timed after the first one in the process
#   BENCH_STREAM_MOVES [200]          moveMouse messages timed for the input latency
#   BENCH_STREAM_MOVE_GAP_MS [50]     pause between two of them (longer than the latency, so
#                                     no move is coalesced with the next)
#   BENCH_STREAM_POLL_US [0]          xpointer's sleep between two XQueryPointer (0 = none)
#   BENCH_STREAM_VIEWERS [3]          CPU measured with 0, 1, .. this many viewers
#   BENCH_STREAM_CPU_SECONDS [10]     CPU window per viewer count
#   BENCH_STREAM_SETTLE_SECONDS [2]   pause after a viewer joins, before its window
#   BENCH_STREAM_FPS [30]             streamFrameRate of our desktop
#   BENCH_STREAM_DISPLAY_REF [320], BENCH_STREAM_DISPLAY_OURS [330]  displayNum of each
#   BENCH_STREAM_GST_REGISTRY [bench/.cache/gst-registry.bin]  GST_REGISTRY_1_0 of our
#                                     server: GStreamer scans its plugins once into it, not
#                                     at every run's first stream/start

STREAM=${BENCH_STREAM:-1}
SCOLD=${BENCH_STREAM_COLD:-5}
SMOVES=${BENCH_STREAM_MOVES:-200}
SGAP=${BENCH_STREAM_MOVE_GAP_MS:-50}
SPOLL=${BENCH_STREAM_POLL_US:-0}
SVIEWERS=${BENCH_STREAM_VIEWERS:-3}
SCPU_S=${BENCH_STREAM_CPU_SECONDS:-10}
SSETTLE_S=${BENCH_STREAM_SETTLE_SECONDS:-2}
SFPS=${BENCH_STREAM_FPS:-30}
SREGISTRY=${BENCH_STREAM_GST_REGISTRY:-$CACHE/gst-registry.bin}
DESK_DISPLAY[sref]=${BENCH_STREAM_DISPLAY_REF:-320}
DESK_DISPLAY[sours]=${BENCH_STREAM_DISPLAY_OURS:-330}
STREAM_RAN=0
STREAM_NOTE=  # why the rows are missing, when they are
SREF_ANSWER=  # the reference's answer to stream/start
SOUT=         # stream.mjs's output (key value lines)

# "p50 / p90" (nearest rank) of one kind of sample in SOUT, in the unit given.
sq() { # kind q divisor
  awk -v k="$1" '$1=="sample" && $2==k{print $3}' "$SOUT" 2>/dev/null | sort -g |
    awk -v q="$2" -v d="$3" '{a[NR]=$1} END{ if (NR) { i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; print a[i] / d } }'
}
scount() { awk -v k="$1" '$1=="sample" && $2==k' "$SOUT" 2>/dev/null | wc -l; }
srange() { # kind -> "min-max"
  awk -v k="$1" '$1=="sample" && $2==k{print $3}' "$SOUT" 2>/dev/null | sort -g |
    awk '{a[NR]=$1} END{ if (NR) printf "%.0f-%.0f", a[1], a[NR] }'
}

stream_run() {
  ((STREAM)) || return 0
  local t missing=() rc=0 out
  for t in "${DESK_TOOLS_REF[@]}" "$DESK_APP" node; do command -v "$t" >/dev/null || missing+=("$t"); done
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  [[ -d $ROOT/tests/node_modules/playwright-core ]] || missing+=("tests/node_modules/playwright-core")
  if ((${#missing[@]})); then
    STREAM_NOTE="skipped: ${missing[*]} missing (\`bash scripts/deps.sh bench\` installs them)"
    warn "stream rows $STREAM_NOTE"
    return 0
  fi
  if ! gcc -O2 -Wall -Wextra -o "$CACHE/xpointer" "$BENCH/xpointer.c" -lX11; then
    STREAM_NOTE="skipped: bench/xpointer.c does not compile (libx11-dev)"
    warn "stream rows $STREAM_NOTE"
    return 0
  fi
  STREAM_RAN=1
  SOUT=$TMPROOT/stream-ours.txt
  : >"$SOUT"
  log "stream: fresh servers, ${DESK_W}x$DESK_H desktops (displayNum ${DESK_DISPLAY[sref]} and ${DESK_DISPLAY[sours]}), $DESK_APP on each"
  dsetup sref "$REF" || fatal "reference desktop (stream rows): $DBODY"
  # The reference's stream/start on its active desktop: what it answers is the row.
  local code
  code=$(curl -s -m 60 -o "$TMPROOT/sref-start.json" -w '%{http_code}' -X POST \
    "http://127.0.0.1:${PORT[sref]}/v1/desktop/stream/start" 2>/dev/null) || code=000
  if [[ $code == 200 ]]; then
    SREF_ANSWER="HTTP 200: $(head -c 300 "$TMPROOT/sref-start.json")"
    dcall sref POST /v1/desktop/stream/stop || true
  else
    # Its problem+json "detail", else the start of the body.
    SREF_ANSWER=$(sed -n 's/.*"detail":"\([^"]*\)".*/\1/p' "$TMPROOT/sref-start.json")
    SREF_ANSWER="HTTP $code: ${SREF_ANSWER:-$(head -c 300 "$TMPROOT/sref-start.json")}"
  fi
  log "  sref: POST /v1/desktop/stream/start -> $SREF_ANSWER"
  dteardown sref
  ((OURS_OK)) || { STREAM_RAN=2; return 0; }
  START_ENV=(LANG=C.UTF-8 LC_ALL=C.UTF-8 "GST_REGISTRY_1_0=$SREGISTRY")
  DESK_START_EXTRA[sours]=",\"streamFrameRate\":$SFPS"
  if ! dsetup sours "$OURS"; then
    START_ENV=()
    ours_fail "stream: $DBODY"
    STREAM_RAN=2
    dteardown sours
    return 0
  fi
  START_ENV=()
  log "stream: $((SCOLD + 1)) cold starts, $SMOVES moves ${SGAP} ms apart, CPU ${SCPU_S}s with 0..$SVIEWERS viewers (bench/stream.mjs, Chromium)"
  bgrun node "$BENCH/stream.mjs" "${PORT[sours]}" "${PID[sours]}" "${DDISP[sours]}" "$CACHE/xpointer" \
    "$SCOLD" "$SMOVES" "$SGAP" "$SCPU_S" "$SSETTLE_S" "$SVIEWERS" "$SPOLL" >"$SOUT" 2>"$SOUT.err" || rc=$?
  sed 's/^/[bench]   /' "$SOUT.err" >&2
  if ((rc != 0)); then
    server_log_tail sours
    ours_fail "stream: bench/stream.mjs failed (see above)"
    STREAM_RAN=2
  fi
  dteardown sours
}

# The section: a heading, what ran, the table. No "###" inside, so that BENCH_ONLY=stream
# can replace it in an earlier report.
stream_table() {
  ((STREAM)) || return 0
  echo
  echo "### Desktop streaming"
  echo
  if ((!STREAM_RAN)); then
    echo "Desktop streaming rows $STREAM_NOTE."
    return 0
  fi
  local -a rows=()
  srow() { rows+=("$1|$2|$3|$4"); }
  local na="n/a (cannot stream)"
  srow "POST /v1/desktop/stream/start on an active ${DESK_W}x$DESK_H desktop" "not available: $SREF_ANSWER" \
    "$( ((STREAM_RAN == 1)) && echo "200, active" || echo "failed")" "-"
  if ((STREAM_RAN == 1)); then
    srow "stream/start -> first decoded frame, first start in the process (loads GStreamer), ms" "$na" \
      "$(n "$(kv "$SOUT" process_first_frame_ms)" %.0f) (start answered $(n "$(kv "$SOUT" process_start_reply_ms)" %.0f), connected $(n "$(kv "$SOUT" process_connected_ms)" %.0f))" "-"
    srow "stream/start -> first decoded frame, cold start, median ms (of $(scount first_frame_ms); min-max)" "$na" \
      "$(n "$(sq first_frame_ms 0.5 1)" %.0f) ($(srange first_frame_ms))" "-"
    srow "  of which stream/start answered / peer connection connected, median ms" "$na" \
      "$(n "$(sq start_reply_ms 0.5 1)" %.1f) / $(n "$(sq connected_ms 0.5 1)" %.0f)" "-"
    srow "Input: moveMouse on the data channel -> X pointer there, p50 / p90 ms ($(scount input_us) of $(kv "$SOUT" input_sent) moves seen)" "$na" \
      "$(dpair "$(sq input_us 0.5 1000)" "$(sq input_us 0.9 1000)")" "xpointer sampled every $(n "$(kv "$SOUT" xpointer_poll_us_mean)" %.0f) us"
    local v prev='' cpu fps note
    for ((v = 0; v <= SVIEWERS; v++)); do
      cpu=$(kv "$SOUT" "cpu_pct_$v")
      fps=$(kv "$SOUT" "fps_$v")
      if ((v == 0)); then
        note="stream started, nobody watching"
      else
        note=$(awk -v c="$cpu" -v p="$prev" 'BEGIN{ if (c == "" || p == "") print "n/a"; else printf "%+.1f for this viewer", c - p }')
      fi
      note+="; Chromium $(n "$(kv "$SOUT" "browser_cpu_pct_$v")" %.0f)%, all cores $(n "$(kv "$SOUT" "machine_busy_pct_$v")" %.0f)% busy"
      srow "Server CPU, % of one core, $v viewer$( ((v == 1)) || echo s) (frames/s decoded by each; encoded per stream/status)" "$na" \
        "$(n "$cpu" %.1f)$( ((v == 0)) || echo " (${fps//,/, } fps; $(kv "$SOUT" "status_fps_$v"))")" "$note"
      prev=$cpu
    done
  fi
  echo "Fresh servers, each with its own HOME; ${DESK_W}x$DESK_H desktops (reference on ${DDISP[sref]:-?}, ours on ${DDISP[sours]:-?}, \`streamFrameRate\` $SFPS) with an \`$DESK_APP\` on each, otherwise still. The reference 0.4.2 streams through a bundled neko process, which is not in Debian or npm, so it cannot stream here: its answer to \`POST /v1/desktop/stream/start\` is the first row. Ours in headless Chromium through the official SDK's \`DesktopStreamSession\` (bench/stream.mjs, the page of tests/integration/lib/stream.mjs): $((SCOLD + 1)) cold starts, each from just before \`stream/start\` to the first frame the \`<video>\` decodes (\`requestVideoFrameCallback\`), with \`stream/stop\` between them, so the first viewer builds the pipeline every time; the first in the process also loads GStreamer. Input: $SMOVES \`moveMouse(x, y)\` ${SGAP} ms apart, each to a new point, stamped in the page with \`performance.timeOrigin + performance.now()\`; bench/xpointer.c polls \`XQueryPointer\` on the display and stamps each change with the same wall clock. CPU: utime + stime of the server process over ${SCPU_S}s per viewer count (${SSETTLE_S}s after the viewer joined); Chromium's own decoding is not in it (its CPU, every process of it, and how busy all ${NPROC:-$(nproc)} cores were are in the notes: when the cores are saturated, the server's gate lowers the frame rate, down to 5 fps). Ran $(date -u '+%Y-%m-%d %H:%M UTC'), load average at the start $LOAD_START$([[ -n ${ONLY:-} ]] && echo " (\`BENCH_ONLY=$ONLY\`)")."
  echo
  printf '%s\n' "metric|reference $REF_VERSION|ours|notes" "${rows[@]}" | mdtable
  if [[ -n ${ONLY:-} ]] && ((${#FAILS[@]})); then
    echo
    echo "Problems with ours:"
    echo
    printf -- '- %s\n' "${FAILS[@]}"
  fi
}
