#!/usr/bin/env bash
# stop.sh - stop the PostgreSQL server tests/pg/start.sh started in DIR (fast shutdown: open
# connections are cut), then remove DIR unless --keep is given.
#
#   bash tests/pg/stop.sh DIR [--keep]
set -euo pipefail

dir=${1:?usage: stop.sh DIR [--keep]}
keep=${2:-}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -f "$dir/data/postmaster.pid" ] && [ -n "$bindir" ]; then
    owner=$(stat -c %U "$dir/data")
    run_as=()
    [ "$(id -u)" != 0 ] || run_as=(setpriv --reuid="$owner" --regid="$(id -g "$owner")" --init-groups --)
    (cd "$dir" && "${run_as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null)
fi
[ "$keep" = --keep ] || rm -rf "$dir"
