#!/usr/bin/env bash
# deps.sh - install everything the build and the tests need. Idempotent and quiet when
# nothing is missing, so `make test` can call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Usage: deps.sh [build|test|bench]. "build" installs what compiling needs; "test" (the
# default) adds the test and benchmark tools and the npm packages; "bench" (make bench) adds
# what the reference's desktop runs in the desktop rows of the benchmark.
MODE=${1:-test}
APT_PKGS=(build-essential pkg-config libuv1-dev libwslay-dev libjansson-dev
          libsqlite3-dev libarchive-dev nettle-dev libpq-dev
          # Headers only: the desktop dlopens X, libpng, libjpeg-turbo and libwebp on first use.
          libx11-dev libxext-dev libxtst-dev libxfixes-dev libpng-dev libjpeg62-turbo-dev libwebp-dev
          # Headers only: the desktop stream dlopens GStreamer (gstreamer-1.0, gstreamer-sdp-1.0;
          # not libgstreamer-plugins-bad1.0-dev, which pulls in hundreds of MB).
          libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
          # zlib's header: the Inspector's files are embedded gzipped, and inflated (zlib
          # dlopened) for the rare client that does not take gzip.
          zlib1g-dev
          # npm ci in web/ fetches the vendored xterm.js the build embeds (web/README.md).
          nodejs npm)
if [ "$MODE" != build ]; then
    APT_PKGS+=(clang libclang-rt-14-dev wrk curl procps valgrind chromium)
    # A real PostgreSQL server for the journal's PostgreSQL tests (tests/pg/start.sh), and the
    # client library the server dlopens.
    APT_PKGS+=(postgresql libpq5)
    # The desktop tests launch xterm as their application (the runtime itself is installed by
    # tests/run.sh through `sandbox-agent install desktop --yes`).
    APT_PKGS+=(xterm)
fi
if [ "$MODE" = bench ]; then
    # bench/desktop.sh starts both servers' desktops: Xvfb and openbox for both, and for the
    # reference also xdotool, ImageMagick (import, convert) and xrandr (x11-xserver-utils),
    # which our server does not use.
    APT_PKGS+=(xvfb openbox xdotool imagemagick x11-xserver-utils)
fi

missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from outside apt (e.g. a preinstalled toolchain); do not fight it.
if command -v node >/dev/null && command -v npm >/dev/null; then
    kept=()
    for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || kept+=("$p"); done
    missing=("${kept[@]+"${kept[@]}"}")
fi
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# llhttp (the HTTP parser) is compiled in from the C sources of Debian's node-llhttp.
# Installing that package would pull in Node.js through its JavaScript dependencies, so
# unless it is installed already, its .deb is only unpacked into .cache/ (the Makefile
# looks there). apt-get download needs no root for itself; the package lists may need an
# update first.
ensure_llhttp() {
    [ -f /usr/share/llhttp/llhttp.c ] && return 0
    local dest=.cache/node-llhttp
    [ -f "$dest/usr/share/llhttp/llhttp.c" ] && return 0
    echo "deps: unpacking node-llhttp (llhttp's C sources) into $dest" >&2
    local tmp
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download node-llhttp >/dev/null 2>&1); then
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        (cd "$tmp" && apt-get download node-llhttp >/dev/null)
    fi
    mkdir -p "$dest"
    dpkg-deb -x "$tmp"/node-llhttp_*.deb "$dest"
    rm -rf "$tmp"
    [ -f "$dest/usr/share/llhttp/llhttp.c" ] || { echo "deps: node-llhttp has no llhttp.c" >&2; exit 1; }
}
ensure_llhttp

# npm packages, installed from the lockfiles: web/ (xterm.js, embedded by the build) and
# the integration tests' (the official SDK, Playwright).
# npm keeps its download cache in ~/.npm, so repeated runs do not download again.
install_npm() {
    local dir=$1
    [ -f "$dir/package.json" ] || return 0
    local stamp="$dir/node_modules/.deps-stamp"
    local want
    want=$(cat "$dir/package.json" "$dir/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
    echo "deps: npm install in $dir" >&2
    (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --prefer-offline --loglevel=error;
                  else npm install --no-audit --no-fund --prefer-offline --loglevel=error; fi) >&2
    echo "$want" > "$stamp"
}
install_npm web
[ "$MODE" = build ] || install_npm tests
