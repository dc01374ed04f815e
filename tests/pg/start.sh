#!/usr/bin/env bash
# start.sh - start a throwaway PostgreSQL server for the tests, from the Debian package's
# binaries, on 127.0.0.1 and a free port, with its data in DIR.
#
#   bash tests/pg/start.sh DIR     prints the server's URL (also kept in DIR/url)
#   bash tests/pg/stop.sh DIR      stops it and removes DIR (--keep: stop only)
#
# Running start.sh again on a stopped DIR starts the same cluster on the same port (the
# journal's reconnect test stops and restarts it). PostgreSQL refuses to run as root: when
# run as root, the server runs as the postgres user (created by the Debian package) or, when
# there is none, as a system user sandbox-agent-pg created here. Exits non-zero with a
# message on stderr when PostgreSQL is not installed or does not come up.
set -euo pipefail

dir=${1:?usage: start.sh DIR}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "start.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
    exit 3
fi

run_as=()
if [ "$(id -u)" = 0 ]; then
    user=postgres
    if ! id -u "$user" >/dev/null 2>&1; then
        user=sandbox-agent-pg
        id -u "$user" >/dev/null 2>&1 ||
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
    fi
    run_as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --)
fi
pg() { (cd "$dir" && "${run_as[@]}" "$@"); }

mkdir -p "$dir"
if [ ${#run_as[@]} != 0 ]; then
    chown "$user" "$dir"
    if ! "${run_as[@]}" test -w "$dir"; then
        echo "start.sh: user $user cannot reach $dir (every parent must be searchable)" >&2
        exit 1
    fi
fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
    pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
fi

# A port nothing listens on; a race with another process is caught by the start failing,
# and then another port is tried.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=0
for attempt in 1 2 3 4 5; do
    if [ -f "$dir/port" ] && [ "$attempt" = 1 ]; then
        port=$(cat "$dir/port")
    else
        port=$((20000 + RANDOM % 40000))
        port_free "$port" || continue
    fi
    if pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir" \
        start >/dev/null 2>&1; then
        started=1
        break
    fi
done
if [ "$started" != 1 ]; then
    echo "start.sh: PostgreSQL did not start; its log:" >&2
    tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
    exit 1
fi
echo "$port" >"$dir/port"
if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30; then
    echo "start.sh: PostgreSQL started but does not accept connections" >&2
    exit 1
fi
url="postgres://postgres@127.0.0.1:$port/postgres"
echo "$url" >"$dir/url"
echo "$url"
