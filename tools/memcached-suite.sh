#!/usr/bin/env bash
# Runs memcached's own test suite (the Perl tests under t/ in memcached's
# source) against Larder: a `memcached-debug` stand-in maps the memcached
# flags the tests start servers with onto a Larder server whose memcached
# port is the one asked for. A conformance tool, not part of CI (about ten
# minutes); results and the expected differences are in docs/memcached.md.
#
#   tools/memcached-suite.sh [t/foo.t ...]      (default: every t/*.t)
#
#   MEMCACHED_SRC  a memcached source tree (default: fetched with
#                  `apt-get source memcached`, which needs deb-src entries)
#   LARDER_BIN     larder binary (default: target/release/larder, built)
#   JOBS           prove -j (default 2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=${WORK:-/tmp/larder-memcached-suite}
mkdir -p "$work"
MEMCACHED_SRC=${MEMCACHED_SRC:-$(debian_source memcached "$work")}
LARDER_BIN=$(larder_bin)
run=$work/run
rm -rf "$run" && mkdir -p "$run" && cp -r "$MEMCACHED_SRC/t" "$run/"
# The suite runs servers under `timedrun <secs> <exe> <args>`: stopped with
# SIGINT when the time is up (a test that leaves one running).
printf '#!/bin/sh\nt=$1; shift\nexec timeout -k 5 -s INT "$t" "$@"\n' > "$run/timedrun"
cat > "$run/memcached-debug" <<WRAP
#!/usr/bin/env bash
# memcached flags -> larder directives. The RESP side listens on a unix
# socket only; memcached's defaults (64 MB, LRU eviction, 1024
# connections) are the starting point. Unknown flags are passed through,
# so the server refuses them and the test says so.
# (-h: the suite looks for "unix-socket" to run its servers on one.)
if [ "\$1" = "-h" ]; then echo "memcached 1.6.18 (larder)"; echo "-s, --unix-socket=<file>"; exit 0; fi
d=\$(mktemp -d /tmp/larder-mcsuite.XXXXXX)
args=(server --port 0 --unixsocket "\$d/resp.sock" --dir "\$d" --save "" --appendonly no
      --maxmemory 64mb --maxmemory-policy allkeys-lru --maxclients 1024)
while [ \$# -gt 0 ]; do
  o=\$1; shift
  case "\$o" in
    -p) args+=(--memcache-port "\$1"); shift;;
    -l) args+=(--bind "\$1"); shift;;
    -m) args+=(--maxmemory "\${1}mb"); shift;;
    -M) args+=(--maxmemory-policy noeviction);;
    -I) v=\$1; case "\$v" in *k) v=\${v%k}kb;; *m) v=\${v%m}mb;; esac
        args+=(--memcache-max-item-size "\$v"); shift;;
    -c) args+=(--maxclients "\$1"); shift;;
    # (Larder's 0 means one per core; memcached refuses it.)
    -t) [ "\$1" -gt 0 ] 2>/dev/null || { echo "Number of threads must be greater than 0" >&2; exit 1; }
        args+=(--memcache-threads "\$1"); shift;;
    -A) args+=(--memcache-enable-shutdown yes);;
    -F) args+=(--memcache-disable-flush-all yes);;
    -W) args+=(--memcache-disable-watch yes);;
    -C) args+=(--memcache-disable-cas yes);;
    -B) args+=(--memcache-protocol "\$1"); shift;;
    -R) args+=(--memcache-reqs-per-event "\$1"); shift;;
    -b) args+=(--tcp-backlog "\$1"); shift;;
    # A unix socket disables the ports, as memcached's -s does.
    -s) args+=(--memcache-unixsocket "\$1"); unix=1; shift;;
    -a) args+=(--memcache-unixsocketperm "\$1"); shift;;
    -d) args+=(--daemonize yes);;
    -P) args+=(--pidfile "\$1"); shift;;
    -Y) # memcached's auth file: its users, and a password for the rest.
        args+=(--requirepass "\$RANDOM\$RANDOM")
        while IFS=: read -r u pw; do
          [ -n "\$u" ] && args+=(--user "\$u" on ">\$pw" "~*" "&*" "+@all")
        done < "\$1"; shift;;
    -U) args+=(--memcache-udp-port "\$1"); shift;;
    # User, verbosity: no Larder equivalent that changes what a client
    # sees.
    -u) shift;;
    -v|-vv|-vvv) ;;
    -o) IFS=, read -ra opts <<< "\$1"; shift
        for x in "\${opts[@]}"; do
          case "\$x" in idle_timeout=*) args+=(--timeout "\${x#idle_timeout=}");; esac
        done;;
    *) args+=("\$o");;
  esac
done
[ -n "\${unix:-}" ] && args+=(--memcache-port 0 --memcache-udp-port 0)
exec "$LARDER_BIN" "\${args[@]}" >>"\$d/log" 2>&1
WRAP
chmod +x "$run/timedrun" "$run/memcached-debug"
cd "$run"
if [ $# -eq 0 ]; then set -- t/*.t; fi
prove -j "${JOBS:-2}" "$@"
