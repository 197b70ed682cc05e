#!/usr/bin/env bash
# Runs Redis's own test suite (the Tcl tests under tests/ in Redis's source)
# against Larder: a `src/redis-server` stand-in starts `larder server` with
# the config file the suite writes, so every test's server is Larder, and
# the suite's clients, redis-cli and redis-benchmark talk to it unchanged.
# A conformance tool, not part of CI (about 15 minutes for tests/unit on 2
# cores); prints one line per test file, then the totals. Tests that need a
# second, real Redis (`needs:other-server`) are skipped.
#
#   tools/redis-suite.sh [unit/foo ...]   (default: every unit/ and unit/type/ file)
#
#   REDIS_SRC   a Redis 7.0 source tree (default: fetched with
#               `apt-get source redis`, which needs deb-src entries)
#   LARDER_BIN  larder binary (default: target/release/larder, built)
#   WORK        work directory (default /tmp/larder-redis-suite); each
#               file's output is kept there as out_<file>.txt
#   BASEPORT    first port the suite uses (default 21111)
#   CLIENTS     the suite's parallel test clients (default 4)
#   TMO         seconds before a test file is given up (default 600)
#
# Needs tclsh (Debian: tcl) and redis-tools (redis-cli, redis-benchmark).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${WORK:-/tmp/larder-redis-suite}
mkdir -p "$work"
REDIS_SRC=${REDIS_SRC:-$(debian_source redis "$work")}
LARDER_BIN=$(larder_bin)
run=$work/run
rm -rf "$run" && mkdir -p "$run/src"
cp -r "$REDIS_SRC/tests" "$REDIS_SRC/runtest" "$run/"
printf '#!/bin/sh\nexec %q server "$@"\n' "$LARDER_BIN" >"$run/src/redis-server"
chmod +x "$run/src/redis-server"
for tool in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    p=$(command -v "$tool") && ln -s "$p" "$run/src/$tool"
done

if [ $# -gt 0 ]; then
    units=("$@")
else
    mapfile -t units < <(cd "$run/tests" && ls unit/*.tcl unit/type/*.tcl | sed 's/\.tcl$//')
fi
total_ok=0 total_err=0 whole=0
for u in "${units[@]}"; do
    out=$work/out_$(echo "$u" | tr / _).txt
    (cd "$run" && timeout "${TMO:-600}" ./runtest --single "$u" --baseport "${BASEPORT:-21111}" \
        --clients "${CLIENTS:-4}" --timeout 120 --skiptest "/needs:other-server") 2>&1 |
        sed 's/\x1b\[[0-9;]*m//g' >"$out" || true
    ok=$(grep -c '^\[ok\]' "$out" || true)
    err=$(grep -c '^\[err\]' "$out" || true)
    exc=$(grep -c '\[exception\]\|Killing\|TIMEOUT' "$out" || true)
    passed=$(grep -c 'All tests passed' "$out" || true)
    echo "$u ok=$ok err=$err exceptions=$exc whole=$passed"
    total_ok=$((total_ok + ok))
    total_err=$((total_err + err))
    whole=$((whole + passed))
done
echo "== ${#units[@]} files, $whole passed whole; $total_ok tests ok, $total_err failed"
