#!/usr/bin/env bash
# Memory per key: Larder vs Redis. Loads KEYS distinct keys (16-byte keys
# "key:%012d", 16-byte values "val:%012d") with redis-cli --pipe into each
# server in turn, checks DBSIZE, and reports resident memory (VmRSS) growth
# per key and the Larder/Redis ratio. (Redis 7.0 on this kind of machine:
# about 129 B of RSS per key for 1M keys.)
#
# Usage: bench/memory.sh [--self]
#   --self          use bench/redis-as-larder (redis-server) as "Larder"
# Environment:
#   LARDER_BIN      larder binary (default: cargo build --release -p larder)
#   NKEYS (or KEYS) number of keys (default 1000000)
#   SERVER_ARGS     extra args for both servers (default none)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "${1:-}" = "--self" ] && BENCH_SELF=1
NKEYS=${NKEYS:-${KEYS:-1000000}}
read -r -a SERVER_ARGS_A <<<"${SERVER_ARGS:-}"

for tool in redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

LOAD="$BENCH_TMP/load.resp"
python3 - "$NKEYS" "$LOAD" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "wb", buffering=1 << 20) as f:
    chunk = []
    for i in range(n):
        k = b"key:%012d" % i
        v = b"val:%012d" % i
        chunk.append(b"*3\r\n$3\r\nSET\r\n$16\r\n" + k + b"\r\n$16\r\n" + v + b"\r\n")
        if len(chunk) == 10000:
            f.write(b"".join(chunk)); chunk = []
    f.write(b"".join(chunk))
PY
echo "== memory: $NKEYS keys, 16-byte keys and values; larder=$LARDER_BIN"

measure() { # name pid port -> prints "name before after used_memory"
    local name=$1 pid=$2 port=$3 before after dbsize used
    sleep 0.5
    before=$(rss_bytes "$pid")
    redis-cli -h 127.0.0.1 -p "$port" --pipe <"$LOAD" >"$BENCH_TMP/$name.pipe.log" 2>&1 || {
        echo "$name: redis-cli --pipe failed:" >&2
        cat "$BENCH_TMP/$name.pipe.log" >&2
        exit 1
    }
    dbsize=$(redis-cli -h 127.0.0.1 -p "$port" dbsize)
    if [ "$dbsize" != "$NKEYS" ]; then
        echo "$name: DBSIZE is $dbsize, expected $NKEYS" >&2
        exit 1
    fi
    sleep 1
    after=$(rss_bytes "$pid")
    used=$(redis-cli -h 127.0.0.1 -p "$port" info memory 2>/dev/null | tr -d '\r' |
        awk -F: '$1 == "used_memory" { print $2 }')
    echo "$name $before $after ${used:-?}"
}

LPORT=$(free_port)
start_larder "$LPORT" "${SERVER_ARGS_A[@]}"
L=$(measure larder "$LARDER_PID" "$LPORT")
stop_pid "$LARDER_PID"

RPORT=$(free_port)
start_redis "$RPORT" "${SERVER_ARGS_A[@]}"
R=$(measure redis "$REDIS_PID" "$RPORT")
stop_pid "$REDIS_PID"

printf '%s\n%s\n' "$L" "$R" | awk -v n="$NKEYS" '
{
    name[NR] = $1; before[NR] = $2; after[NR] = $3; used[NR] = $4
    per[NR] = ($3 - $2) / n
}
END {
    printf "\n%-8s %14s %14s %12s %16s\n", "server", "RSS before", "RSS after", "RSS B/key", "used_memory B/key"
    for (i = 1; i <= NR; i++) {
        um = (used[i] ~ /^[0-9]+$/) ? sprintf("%.1f", used[i] / n) : "n/a"
        printf "%-8s %14d %14d %12.1f %16s\n", name[i], before[i], after[i], per[i], um
    }
    if (per[2] > 0) printf "\nlarder/redis RSS-per-key ratio: %.3f\n", per[1] / per[2]
}'
