#!/usr/bin/env bash
# Write throughput with the AOF on, and restart time from the AOF: Larder vs
# redis-server, same settings, same load generator, in the same run.
#
# For each appendfsync (everysec, always) and pipeline depth (1, 16), each
# server is started fresh with `appendonly yes` in its own directory and
# redis-benchmark runs SET over KEYSPACE random keys; ROUNDS rounds
# alternate the two servers and the median is reported with the ratio
# Larder/Redis. Then NKEYS keys are written with `appendfsync everysec`
# and `aof-use-rdb-preamble no` (a pure-command AOF, the slow case), the
# server is stopped, and restart time until DBSIZE == NKEYS is measured.
#
# Usage: bench/persist-aof.sh
# Environment: LARDER_BIN, ROUNDS (3), REQUESTS (200000), CLIENTS (50),
#              KEYSPACE (100000), NKEYS (1000000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
NKEYS=${NKEYS:-1000000}

for tool in redis-server redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# serve NAME PORT DIR args...: starts Larder or Redis on DIR; sets PID.
serve() {
    local name=$1 port=$2 dir=$3
    shift 3
    mkdir -p "$dir"
    if [ "$name" = larder ]; then
        (cd "$dir" && exec "$LARDER_BIN" server --port "$port" --bind 127.0.0.1 \
            --save "" --memcache-port 0 "$@") >"$BENCH_TMP/$name.log" 2>&1 &
    else
        redis-server --port "$port" --bind 127.0.0.1 --save "" --daemonize no \
            --dir "$dir" "$@" >"$BENCH_TMP/$name.log" 2>&1 &
    fi
    PID=$!
    BENCH_PIDS+=("$PID")
    wait_port "$port" "$PID" "$name"
}

stop() {
    redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true
    wait "$2" 2>/dev/null || true
}

set_rps() {
    redis-benchmark -p "$1" -t set -n "$REQUESTS" -c "$CLIENTS" -P "$2" \
        -r "$KEYSPACE" -d 32 -q 2>/dev/null | tr '\r' '\n' |
        awk '/^SET: [0-9.]+ requests per second/ {print $2}' | tail -1
}

echo "== write throughput with appendonly yes (SET, -c $CLIENTS, -r $KEYSPACE, 32-byte values; median of $ROUNDS)"
printf '%-10s %-3s %14s %14s %8s\n' appendfsync P larder redis ratio
for fsync in everysec always; do
    for p in 1 16; do
        : >"$BENCH_TMP/l" && : >"$BENCH_TMP/r"
        for r in $(seq 1 "$ROUNDS"); do
            for name in larder redis; do
                port=$(free_port)
                dir="$BENCH_TMP/$name-$fsync-$p-$r"
                serve "$name" "$port" "$dir" --appendonly yes --appendfsync "$fsync"
                set_rps "$port" "$p" >>"$BENCH_TMP/${name:0:1}"
                stop "$port" "$PID"
            done
        done
        l=$(median <"$BENCH_TMP/l")
        rr=$(median <"$BENCH_TMP/r")
        printf '%-10s %-3s %14s %14s %8s\n' "$fsync" "$p" "$l" "$rr" \
            "$(python3 -c "print(f'{$l/$rr:.2f}')")"
    done
done

echo "== restart from a $NKEYS-key AOF (commands, no RDB preamble)"
printf '%-8s %12s %10s\n' server aof_bytes restart_s
for name in larder redis; do
    port=$(free_port)
    dir="$BENCH_TMP/$name-restart"
    serve "$name" "$port" "$dir" --appendonly yes --aof-use-rdb-preamble no
    redis-benchmark -p "$port" -t set -n "$NKEYS" -c 50 -P 64 -r 100000000000 -d 32 -q \
        >/dev/null 2>&1
    python3 - "$port" "$NKEYS" <<'EOF' | redis-cli -p "$port" --pipe >/dev/null
import sys
n = int(sys.argv[2])
out = sys.stdout.buffer
for i in range(n):
    k = b"key:%012d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$8\r\nvalue123\r\n" % (len(k), k))
EOF
    want=$(redis-cli -p "$port" dbsize)
    stop "$port" "$PID"
    bytes=$(du -sb "$dir" | cut -f1)
    start=$(date +%s.%N)
    serve "$name" "$port" "$dir" --appendonly yes --aof-use-rdb-preamble no
    until [ "$(redis-cli -p "$port" dbsize 2>/dev/null)" = "$want" ]; do sleep 0.01; done
    end=$(date +%s.%N)
    stop "$port" "$PID"
    printf '%-8s %12s %10.2f\n' "$name" "$bytes" "$(python3 -c "print($end - $start)")"
done
