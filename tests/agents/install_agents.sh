#!/usr/bin/env bash
# install_agents.sh - install the real ACP adapters (tested versions) into DIR/<agent>.
#
#   bash tests/agents/install_agents.sh [DIR] [agent...]     (default DIR /tmp/agents-scratch,
#                                                            agents: claude codex opencode pi)
#
# Each agent gets its own npm prefix DIR/<agent> (node_modules/.bin/<adapter>). Needs only the
# npm registry. Nothing is installed system-wide: codex in a workspace-write sandbox ("auto")
# needs `bwrap` on PATH, which our server's `install-agent codex` provides (docs/agents.md);
# driven directly from this prefix without one, use mode full-access (agent_recipes.mjs).
set -euo pipefail
dir=${1:-/tmp/agents-scratch}
shift || true
agents=("$@")
[ ${#agents[@]} -eq 0 ] && agents=(claude codex opencode pi)

pkgs() {
    case $1 in
        claude) echo "@zed-industries/claude-agent-acp@0.23.1" ;;
        codex) echo "@zed-industries/codex-acp@0.16.0" ;;
        opencode) echo "opencode-ai@1.18.33" ;;
        pi) echo "pi-acp@0.0.23 @mariozechner/pi-coding-agent@0.73.1" ;;
        *) echo "unknown agent $1" >&2; return 1 ;;
    esac
}
bins() {
    case $1 in
        claude) echo claude-agent-acp ;;
        codex) echo codex-acp ;;
        opencode) echo opencode ;;
        pi) echo "pi-acp pi" ;;
    esac
}

for a in "${agents[@]}"; do
    p=$(pkgs "$a")
    mkdir -p "$dir/$a"
    ok=1
    for b in $(bins "$a"); do [ -x "$dir/$a/node_modules/.bin/$b" ] || ok=0; done
    if [ $ok = 1 ]; then
        echo "$a: already installed in $dir/$a"
        continue
    fi
    start=$(date +%s)
    # shellcheck disable=SC2086
    if ! timeout 600 npm install --no-audit --no-fund --loglevel=error --prefix "$dir/$a" $p; then
        echo "$a: npm install failed" >&2
        exit 1
    fi
    echo "$a: installed $p in $(( $(date +%s) - start ))s ($(du -sh "$dir/$a" | cut -f1))"
done

