#!/usr/bin/env bash
# BGSAVE under write load, and restart from the RDB: Larder vs redis-server.
#
# For each server: load NKEYS keys ("key:%012d", VALUE_SIZE-byte values)
# with redis-cli --pipe, start a redis-benchmark SET writer over the same
# key space (overwrites: the dataset keeps its size), run BGSAVE, and
# sample memory every 10 ms until it ends. Then stop the writer, SHUTDOWN
# NOSAVE, restart on the same directory and time until all keys are back.
#
# Reported per server:
#   dataset     used_memory before the BGSAVE (INFO memory)
#   bgsave_s    BGSAVE wall time (until rdb_bgsave_in_progress:0)
#   extra_peak  peak memory beyond the baseline while the save ran:
#               Larder: VmRSS growth of the process (the shard buffers);
#               Redis: parent VmRSS growth + the fork child's private pages
#               (Private_Clean + Private_Dirty from smaps_rollup: its
#               copy-on-write cost)
#   extra_pct   extra_peak / dataset
#   writes/s    writer throughput during the save (redis-benchmark SETs)
#   rdb_bytes   size of dump.rdb
#   restart_s   process start until DBSIZE == NKEYS
#
# Usage: bench/persist-snapshot.sh
# Environment:
#   LARDER_BIN   larder binary (default: cargo build --release -p larder)
#   NKEYS        keys (default 1000000)
#   VALUE_SIZE   value bytes (default 32)
#   CLIENTS      writer connections (default 20), PIPELINE (default 16)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

NKEYS=${NKEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-32}
CLIENTS=${CLIENTS:-20}
PIPELINE=${PIPELINE:-16}

for tool in redis-server redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

LOAD="$BENCH_TMP/load.resp"
python3 - "$NKEYS" "$VALUE_SIZE" "$LOAD" <<'PY'
import sys
n, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
v = b"x" * size
with open(path, "wb", buffering=1 << 20) as f:
    chunk = []
    for i in range(n):
        k = b"key:%012d" % i
        chunk.append(b"*3\r\n$3\r\nSET\r\n$16\r\n" + k + b"\r\n$%d\r\n" % size + v + b"\r\n")
        if len(chunk) == 10000:
            f.write(b"".join(chunk)); chunk = []
    f.write(b"".join(chunk))
PY

info_field() { # port section field
    redis-cli -h 127.0.0.1 -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }'
}

private_kb() { # pid -> private KB (0 if gone)
    awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0
}

run() { # name port pid
    local name=$1 port=$2 pid=$3
    redis-cli -h 127.0.0.1 -p "$port" --pipe <"$LOAD" >"$BENCH_TMP/$name.pipe.log" 2>&1
    [ "$(redis-cli -h 127.0.0.1 -p "$port" dbsize)" = "$NKEYS" ] || { echo "$name: load failed" >&2; exit 1; }
    sleep 1
    local dataset base
    dataset=$(info_field "$port" memory used_memory)
    redis-benchmark -h 127.0.0.1 -p "$port" -t set -r "$NKEYS" -d "$VALUE_SIZE" -n 2000000000 \
        -c "$CLIENTS" -P "$PIPELINE" -q >/dev/null 2>&1 &
    local writer=$!
    BENCH_PIDS+=("$writer")
    sleep 1
    base=$(rss_bytes "$pid")
    local cmds0 t0 t1 peak=0 extra child cmds1
    cmds0=$(info_field "$port" stats total_commands_processed)
    t0=$(date +%s.%N)
    redis-cli -h 127.0.0.1 -p "$port" bgsave >/dev/null
    while :; do
        extra=$(( $(rss_bytes "$pid") - base ))
        for child in $(pgrep -P "$pid" 2>/dev/null || true); do
            extra=$(( extra + $(private_kb "$child") * 1024 ))
        done
        [ "$extra" -gt "$peak" ] && peak=$extra
        [ "$(info_field "$port" persistence rdb_bgsave_in_progress)" = "0" ] && break
        sleep 0.01
    done
    t1=$(date +%s.%N)
    cmds1=$(info_field "$port" stats total_commands_processed)
    kill "$writer" 2>/dev/null || true
    wait "$writer" 2>/dev/null || true
    local status
    status=$(info_field "$port" persistence rdb_last_bgsave_status)
    [ "$status" = "ok" ] || { echo "$name: bgsave status $status" >&2; exit 1; }
    local rdb_bytes
    rdb_bytes=$(stat -c %s "$BENCH_TMP/$name/dump.rdb")
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    python3 - "$name" "$dataset" "$t0" "$t1" "$peak" "$cmds0" "$cmds1" "$rdb_bytes" <<'PY'
import sys
name, dataset, t0, t1, peak, c0, c1, rdb = sys.argv[1:]
dataset, t0, t1, peak, c0, c1, rdb = int(dataset), float(t0), float(t1), int(peak), int(c0), int(c1), int(rdb)
secs = t1 - t0
print(f"{name:7} dataset={dataset/2**20:8.1f}MB bgsave_s={secs:6.2f} extra_peak={peak/2**20:7.1f}MB "
      f"extra_pct={100*peak/dataset:5.1f}% writes/s={(c1-c0)/secs:9.0f} rdb_bytes={rdb/2**20:6.1f}MB")
PY
}

restart() { # name starter
    local name=$1 port t0 t1
    port=$(free_port)
    t0=$(date +%s.%N)
    if [ "$name" = larder ]; then start_larder "$port"; else start_redis "$port"; fi
    until [ "$(redis-cli -h 127.0.0.1 -p "$port" dbsize 2>/dev/null)" = "$NKEYS" ]; do sleep 0.01; done
    t1=$(date +%s.%N)
    python3 -c "print(f'{\"$name\":7} restart_s={$t1 - $t0:6.2f}')"
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

echo "== persist-snapshot: $NKEYS keys, ${VALUE_SIZE}-byte values, writer -c $CLIENTS -P $PIPELINE; larder=$LARDER_BIN"
PORT=$(free_port)
start_larder "$PORT"
run larder "$PORT" "$LARDER_PID"
PORT=$(free_port)
start_redis "$PORT"
run redis "$PORT" "$REDIS_PID"
restart larder
restart redis
