# shellcheck shell=bash disable=SC2034,SC2154  # sourced by run.sh: R, PORT, PID and the helpers are its own
# bench/desktop.sh - the desktop rows of `make bench`, sourced by bench/run.sh: after the
# journal rows in a full run, or alone with BENCH_ONLY=desktop (then the section replaces
# its own in bench/results-latest.md and nothing else runs).
#
# Fresh servers of its own: the reference (dref) and ours (dours), each with its own HOME
# and display number. Each starts a 1440x900 desktop (POST /v1/desktop/start) and launches
# an xterm on it (POST /v1/desktop/launch, wait:true), so screenshots show a window and the
# window list has one. Then, in alternating rounds, bench/desktop.c `round` times full-screen
# PNG, JPEG (quality 80) and WebP screenshots, mouse moves, key presses (shift) and the
# window list; p50 and p90 over the samples of all rounds. Last, `desktop health`: GET
# /v1/health alone, then while 4 clients take PNG screenshots in a loop. Both desktops are
# stopped at the end.
#
# The reference runs its desktop with xdotool, ImageMagick (import, convert) and xrandr as
# well as Xvfb and openbox; ours needs only Xvfb and openbox. `make bench` installs them all
# (scripts/deps.sh bench). Without them the rows are skipped with a warning.
#
# Knobs (defaults in brackets), also listed in bench/README.md:
#   BENCH_DESKTOP [1]              0 = skip these rows
#   BENCH_DESKTOP_ROUNDS [3]       rounds per server (alternating order)
#   BENCH_DESKTOP_N [300]          timed requests of each kind on ours, over all rounds
#   BENCH_DESKTOP_REF_N [30]       the same on the reference (its screenshots take 0.3-0.5 s);
#                                  half as many window lists there (each takes 1-2 s)
#   BENCH_DESKTOP_WARMUP [1]       untimed requests of each kind per round
#   BENCH_DESKTOP_SHOOTERS [4]     screenshot loops during the loaded health requests
#   BENCH_DESKTOP_LOAD_SECONDS [3] loaded health requests, seconds (and 1 s alone before)
#   BENCH_DESKTOP_DISPLAY_REF [300], BENCH_DESKTOP_DISPLAY_OURS [310]  displayNum of each

DESKTOP=${BENCH_DESKTOP:-1}
DESK_ROUNDS=${BENCH_DESKTOP_ROUNDS:-3}
DESK_N=${BENCH_DESKTOP_N:-300}
DESK_REF_N=${BENCH_DESKTOP_REF_N:-30}
DESK_WARMUP=${BENCH_DESKTOP_WARMUP:-1}
DESK_SHOOTERS=${BENCH_DESKTOP_SHOOTERS:-4}
DESK_LOAD_S=${BENCH_DESKTOP_LOAD_SECONDS:-3}
DESK_ALONE_S=1
declare -A DESK_DISPLAY=([dref]=${BENCH_DESKTOP_DISPLAY_REF:-300} [dours]=${BENCH_DESKTOP_DISPLAY_OURS:-310})
DESK_W=1440
DESK_H=900
DESK_KINDS=(png jpeg webp move key windows)
# What each server's desktop runs, and the app launched on it.
DESK_TOOLS_REF=(Xvfb openbox xdotool import convert xrandr)
DESK_TOOLS_OURS=(Xvfb openbox)
DESK_APP=xterm
DESKTOP_RAN=0
DESK_NOTE=        # why the rows are missing, when they are
declare -A DWIN=() DDISP=() DESK_OK=()
declare -A DESK_START_EXTRA=() # name -> more members for its desktop/start body (",\"k\":v")

# One request with curl; the reply body (first 2000 bytes) in DBODY. 0 when HTTP 200.
dcall() { # name method path [json]
  local out=$TMPROOT/dcall-$1.json code
  local -a args=(-s -m 60 -o "$out" -w '%{http_code}' -X "$2")
  [[ -z ${4:-} ]] || args+=(-H 'content-type: application/json' -d "$4")
  code=$(curl "${args[@]}" "http://127.0.0.1:${PORT[$1]}$3" 2>/dev/null) || code=000
  DBODY=$(head -c 2000 "$out" 2>/dev/null || true)
  [[ $code == 200 ]] || { DBODY="$2 $3 -> HTTP $code: $DBODY"; return 1; }
}

# Start the server, its desktop and the xterm; DBODY says what failed.
dsetup() { # name bin
  local name=$1 rc=0 timeout=$OURS_HEALTH_TIMEOUT
  [[ $name == dref ]] && timeout=$REF_HEALTH_TIMEOUT
  start_server "$name" "$2"
  wait_healthy "$name" "$timeout" || rc=$?
  if ((rc != 0)); then
    server_log_tail "$name"
    DBODY="the server did not become healthy (rc=$rc)"
    return 1
  fi
  dcall "$name" POST /v1/desktop/start \
    "{\"width\":$DESK_W,\"height\":$DESK_H,\"displayNum\":${DESK_DISPLAY[$name]}${DESK_START_EXTRA[$name]:-}}" || return 1
  [[ $DBODY == *'"state":"active"'* && $DBODY == *"\"width\":$DESK_W,\"height\":$DESK_H"* ]] ||
    { DBODY="desktop/start: not active at ${DESK_W}x$DESK_H: $DBODY"; return 1; }
  [[ $DBODY =~ \"display\":\"(:[0-9]+)\" ]] && DDISP[$name]=${BASH_REMATCH[1]}
  dcall "$name" POST /v1/desktop/launch "{\"app\":\"$DESK_APP\",\"wait\":true}" || return 1
  [[ $DBODY =~ \"windowId\":\"([0-9]+)\" ]] ||
    { DBODY="desktop/launch $DESK_APP: no windowId within its wait: $DBODY"; return 1; }
  DWIN[$name]=${BASH_REMATCH[1]}
  log "  $name: desktop ${DDISP[$name]:-?} active, $DESK_APP window ${DWIN[$name]}"
}

# Stop the desktop (its answer is logged, not required: the server is stopped next anyway).
dteardown() { # name
  [[ -n ${PID[$1]:-} ]] || return 0
  if dcall "$1" POST /v1/desktop/stop; then
    [[ $DBODY == *'"state":"inactive"'* ]] || warn "$1: desktop/stop answered $DBODY"
  else
    warn "$1: $DBODY"
  fi
  stop_server "$1"
}

# Nearest-rank quantile of one kind's samples, pooled over the rounds.
dq() { # name kind q
  awk -v k="$2" '$1=="sample" && $2==k{print $3}' "$TMPROOT/desk-$1.txt" 2>/dev/null | sort -g |
    awk -v q="$3" '{a[NR]=$1} END{ if (NR) { i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; print a[i] } }'
}

dround() { # name count windows-count -> 0 ok; appends the helper's lines to desk-NAME.txt
  local name=$1 n=$2 out=$TMPROOT/desk-$1-round.txt rc=0 k line
  bgrun "$CACHE/desktop" round "${PORT[$name]}" "${DWIN[$name]}" "$n" "$n" "$3" "$DESK_WARMUP" \
    >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  cat "$out" >>"$TMPROOT/desk-$name.txt"
  line=
  for k in "${DESK_KINDS[@]}"; do
    line+=" $k $(awk -v k="$k" '$1=="sample" && $2==k{print $3}' "$out" | sort -g |
      awk '{a[NR]=$1} END{ if (NR) printf "%.2f", a[int((NR + 1) / 2)] }')"
  done
  log "  $name p50 ms:$line"
}

dhealth() { # name -> 0 ok
  local name=$1 out=$TMPROOT/deskh-$1.txt rc=0 k
  bgrun "$CACHE/desktop" health "${PORT[$name]}" "$DESK_ALONE_S" "$DESK_LOAD_S" "$DESK_SHOOTERS" \
    >"$out" 2>"$out.err" || rc=$?
  sed 's/^/[bench]   /' "$out.err" >&2
  ((rc == 0)) || return 1
  for k in health_alone_p50_ms health_alone_p90_ms health_loaded_p50_ms health_loaded_p90_ms loaded_shots_per_s; do
    R[d_$k.${name#d}]=$(kv "$out" "$k")
  done
  log "  $name: health p50 $(kv "$out" health_alone_p50_ms) ms alone, $(kv "$out" health_loaded_p50_ms) ms with $DESK_SHOOTERS screenshot loops ($(kv "$out" loaded_shots_per_s) screenshots/s)"
}

desktop_run() {
  ((DESKTOP)) || return 0
  local t missing=() name r order s
  for t in "${DESK_TOOLS_REF[@]}" "$DESK_APP"; do command -v "$t" >/dev/null || missing+=("$t"); done
  if ((${#missing[@]})); then
    DESK_NOTE="skipped: ${missing[*]} not on PATH (\`bash scripts/deps.sh bench\` installs them)"
    warn "desktop rows $DESK_NOTE"
    return 0
  fi
  DESKTOP_RAN=1
  : >"$TMPROOT/desk-dref.txt"
  : >"$TMPROOT/desk-dours.txt"
  log "desktop: fresh servers, ${DESK_W}x$DESK_H desktops (displayNum ${DESK_DISPLAY[dref]} and ${DESK_DISPLAY[dours]}), $DESK_APP on each"
  dsetup dref "$REF" || fatal "reference desktop: $DBODY"
  DESK_OK[dours]=$OURS_OK
  if ((OURS_OK)) && ! dsetup dours "$OURS"; then
    ours_fail "desktop: $DBODY"
    DESK_OK[dours]=0
  fi
  local per_ref=$(((DESK_REF_N + DESK_ROUNDS - 1) / DESK_ROUNDS))
  local per_ref_win=$(((per_ref + 1) / 2))
  local per_ours=$(((DESK_N + DESK_ROUNDS - 1) / DESK_ROUNDS))
  log "desktop: $DESK_ROUNDS rounds alternating; per round and kind $DESK_WARMUP untimed + $per_ref timed (reference; $per_ref_win window lists), $per_ours (ours)"
  for ((r = 1; r <= DESK_ROUNDS; r++)); do
    if ((r % 2)); then order=(dref dours); else order=(dours dref); fi
    for s in "${order[@]}"; do
      if [[ $s == dref ]]; then
        dround dref "$per_ref" "$per_ref_win" || fatal "reference desktop round failed"
      elif ((DESK_OK[dours])); then
        if ! dround dours "$per_ours" "$per_ours"; then
          ours_fail "desktop round failed (see above)"
          DESK_OK[dours]=0
        fi
      fi
    done
  done
  log "desktop: GET /v1/health, ${DESK_ALONE_S}s alone, then ${DESK_LOAD_S}s while $DESK_SHOOTERS clients take PNG screenshots in a loop"
  dhealth dref || fatal "reference health-under-screenshots run failed"
  if ((DESK_OK[dours])) && ! dhealth dours; then
    ours_fail "health under screenshots failed (see above)"
    DESK_OK[dours]=0
  fi
  dteardown dref
  dteardown dours
  for name in dref dours; do
    s=${name#d}
    [[ $s == ref ]] || ((DESK_OK[dours])) || continue
    for t in "${DESK_KINDS[@]}"; do
      R[d_${t}_p50.$s]=$(dq "$name" "$t" 0.5)
      R[d_${t}_p90.$s]=$(dq "$name" "$t" 0.9)
    done
    for t in png jpeg webp; do
      # shellcheck disable=SC2046
      R[d_bytes_$t.$s]=$(median $(kv "$TMPROOT/desk-$name.txt" "bytes_$t"))
    done
  done
  R[d_n.ref]=$((per_ref * DESK_ROUNDS))
  R[d_nwin.ref]=$((per_ref_win * DESK_ROUNDS))
  R[d_n.ours]=$((per_ours * DESK_ROUNDS))
}

# "p50 / p90" cells and their "how many times better" pair.
dpair() { # p50 p90 -> "p50 / p90", 3 significant digits or more
  awk -v a="$1" -v b="$2" '
    function f(v) { return v < 1 ? sprintf("%.3f", v) : v < 100 ? sprintf("%.2f", v) : sprintf("%.1f", v) }
    BEGIN{ if (a == "") print "n/a"; else print f(a) " / " f(b) }'
}
dpair_ratio() { # ref50 ref90 ours50 ours90
  awk -v r5="$1" -v r9="$2" -v o5="$3" -v o9="$4" 'BEGIN{
    if (r5 == "" || o5 == "" || o5 + 0 <= 0 || o9 + 0 <= 0) { print "n/a"; exit }
    printf "%.1fx / %.1fx (ref/ours)", r5 / o5, r9 / o9 }'
}

# The section: a heading, what ran, the table, the targets. No "###" inside, so that
# BENCH_ONLY=desktop can replace it in an earlier report.
desktop_table() {
  ((DESKTOP)) || return 0
  echo
  echo "### Desktop"
  echo
  if ((!DESKTOP_RAN)); then
    echo "Desktop rows $DESK_NOTE."
    return 0
  fi
  local -a rows=()
  drow() { rows+=("$1|$2|$3|$4"); }
  declare -A label=([png]="Screenshot PNG" [jpeg]="Screenshot JPEG (quality 80)" [webp]="Screenshot WebP"
    [move]="POST mouse/move (alternating points)" [key]="POST keyboard/press shift" [windows]="GET windows (1 xterm)")
  local k
  for k in "${DESK_KINDS[@]}"; do
    drow "${label[$k]}, p50 / p90 ms" "$(dpair "${R[d_${k}_p50.ref]:-}" "${R[d_${k}_p90.ref]:-}")" \
      "$(dpair "${R[d_${k}_p50.ours]:-}" "${R[d_${k}_p90.ours]:-}")" \
      "$(dpair_ratio "${R[d_${k}_p50.ref]:-}" "${R[d_${k}_p90.ref]:-}" "${R[d_${k}_p50.ours]:-}" "${R[d_${k}_p90.ours]:-}")"
  done
  for k in png jpeg webp; do
    drow "${label[$k]}, size, bytes (median)" "$(n "${R[d_bytes_$k.ref]:-}" %d)" "$(n "${R[d_bytes_$k.ours]:-}" %d)" \
      "$(ratio lower "${R[d_bytes_$k.ref]:-}" "${R[d_bytes_$k.ours]:-}")"
  done
  drow "GET /v1/health alone, p50 / p90 ms (${DESK_ALONE_S}s sequential)" \
    "$(dpair "${R[d_health_alone_p50_ms.ref]:-}" "${R[d_health_alone_p90_ms.ref]:-}")" \
    "$(dpair "${R[d_health_alone_p50_ms.ours]:-}" "${R[d_health_alone_p90_ms.ours]:-}")" \
    "$(dpair_ratio "${R[d_health_alone_p50_ms.ref]:-}" "${R[d_health_alone_p90_ms.ref]:-}" "${R[d_health_alone_p50_ms.ours]:-}" "${R[d_health_alone_p90_ms.ours]:-}")"
  drow "GET /v1/health while $DESK_SHOOTERS clients take PNG screenshots in a loop, p50 / p90 ms (${DESK_LOAD_S}s)" \
    "$(dpair "${R[d_health_loaded_p50_ms.ref]:-}" "${R[d_health_loaded_p90_ms.ref]:-}")" \
    "$(dpair "${R[d_health_loaded_p50_ms.ours]:-}" "${R[d_health_loaded_p90_ms.ours]:-}")" \
    "$(dpair_ratio "${R[d_health_loaded_p50_ms.ref]:-}" "${R[d_health_loaded_p90_ms.ref]:-}" "${R[d_health_loaded_p50_ms.ours]:-}" "${R[d_health_loaded_p90_ms.ours]:-}")"
  local lr lo
  lr=$(awk -v a="${R[d_health_alone_p50_ms.ref]:-}" -v l="${R[d_health_loaded_p50_ms.ref]:-}" 'BEGIN{ if (a + 0 > 0 && l != "") printf "%.2fx", l / a; else print "n/a" }')
  lo=$(awk -v a="${R[d_health_alone_p50_ms.ours]:-}" -v l="${R[d_health_loaded_p50_ms.ours]:-}" 'BEGIN{ if (a + 0 > 0 && l != "") printf "%.2fx", l / a; else print "n/a" }')
  drow "Health p50 with the screenshot loops / alone (same server; 1 = not slowed)" "$lr" "$lo" "-"
  drow "PNG screenshots/s completed by the $DESK_SHOOTERS loops meanwhile" "$(n "${R[d_loaded_shots_per_s.ref]:-}" %.1f)" \
    "$(n "${R[d_loaded_shots_per_s.ours]:-}" %.1f)" "$(ratio higher "${R[d_loaded_shots_per_s.ref]:-}" "${R[d_loaded_shots_per_s.ours]:-}")"

  echo "Fresh servers, each with its own HOME; ${DESK_W}x$DESK_H desktops (reference on ${DDISP[dref]:-?}, ours on ${DDISP[dours]:-?}) with an \`$DESK_APP\` launched with \`wait:true\` on each; $DESK_ROUNDS rounds alternating the order, each with $DESK_WARMUP untimed request of each kind, then the timed ones on one keep-alive connection (bench/desktop.c, from the write to the last byte of the reply); p50 / p90 nearest rank over all rounds: ${R[d_n.ref]} samples per kind on the reference (${R[d_nwin.ref]} of the window list, which takes 1-2 s there), ${R[d_n.ours]} on ours. Every screenshot is checked to be a ${DESK_W}x$DESK_H picture of its format, every move to land where asked, the window list to list the xterm. Ran $(date -u '+%Y-%m-%d %H:%M UTC'), load average at the start $LOAD_START$([[ -n ${ONLY:-} ]] && echo " (\`BENCH_ONLY=desktop\`)")."
  echo
  printf '%s\n' "metric|reference $REF_VERSION|ours|ratio (>1 = ours better)" "${rows[@]}" | mdtable
  echo
  echo "Targets (reported, not asserted: they do not change the exit status):"
  echo
  dtarget() { # description condition detail ref ours
    local v
    if [[ -z $4 || -z $5 ]]; then v="n/a (not measured)"; else
      v=$(awk -v r="$4" -v o="$5" "BEGIN{ print (($2) ? \"MET\" : \"NOT MET\") \" - \" $3 }")
    fi
    echo "- $1: **$v**"
  }
  local shots_r shots_o
  shots_r="${R[d_png_p50.ref]:-} ${R[d_jpeg_p50.ref]:-} ${R[d_webp_p50.ref]:-}"
  shots_o="${R[d_png_p50.ours]:-} ${R[d_jpeg_p50.ours]:-} ${R[d_webp_p50.ours]:-}"
  [[ -n ${R[d_webp_p50.ours]:-} && -n ${R[d_webp_p50.ref]:-} ]] || { shots_r=; shots_o=; }
  dtarget "Screenshot >= 5x faster than the reference (p50, each of PNG, JPEG, WebP)" \
    'split(r, a, " ") && split(o, b, " ") && a[1] >= 5 * b[1] && a[2] >= 5 * b[2] && a[3] >= 5 * b[3]' \
    'sprintf("PNG %.1fx, JPEG %.1fx, WebP %.1fx", a[1] / b[1], a[2] / b[2], a[3] / b[3])' "$shots_r" "$shots_o"
  dtarget "Mouse move >= 20x faster than the reference (p50)" "r >= 20 * o" \
    'sprintf("%.0fx (ours %.2f ms, ref %.2f ms)", r / o, o, r)' "${R[d_move_p50.ref]:-}" "${R[d_move_p50.ours]:-}"
  dtarget "JPEG screenshot p50 < 10 ms" "o < 10" \
    'sprintf("ours %.2f ms (ref %.2f ms)", o, r)' "${R[d_jpeg_p50.ref]:-}" "${R[d_jpeg_p50.ours]:-}"
  dtarget "Mouse move p50 < 1 ms" "o < 1" \
    'sprintf("ours %.3f ms (ref %.2f ms)", o, r)' "${R[d_move_p50.ref]:-}" "${R[d_move_p50.ours]:-}"
  # Run alone, the report has no "Problems with ours" section of its own: say them here.
  if [[ -n ${ONLY:-} ]] && ((${#FAILS[@]})); then
    echo
    echo "Problems with ours:"
    echo
    printf -- '- %s\n' "${FAILS[@]}"
  fi
}

# BENCH_ONLY=desktop or stream: put the section into the report file in place of its earlier
# version (from its heading, "### Desktop" or "### Desktop streaming", to the next "### "
# heading), else before "### Targets", else at the end.
desktop_splice() { # file section [heading]
  local f=$1 head=${3:-### Desktop} tmp
  tmp=$(mktemp "$TMPROOT/splice.XXXXXX")
  if [[ ! -s $f ]]; then
    printf '%s\n' "${2#$'\n'}" >"$f"
    return 0
  fi
  printf '%s\n' "$2" >"$tmp.sec"
  awk -v secf="$tmp.sec" -v head="$head" '
    function emit() { while ((getline l < secf) > 0) print l; done = 1 }
    $0 == head { skipping = 1; if (!done) emit(); next }
    skipping && /^### / { skipping = 0; print "" }
    skipping { next }
    /^### Targets$/ && !done { emit(); print "" }
    { print }
    END { if (!done) emit() }' "$f" |
    awk 'NF || !blank { print } { blank = !NF }' >"$tmp"
  mv "$tmp" "$f"
  rm -f "$tmp.sec"
}
