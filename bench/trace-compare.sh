#!/usr/bin/env bash
# Eviction over the network: hit ratios of Redis's and Larder's policies on
# the reference traces, at the same memory for data.
#
# For each trace and cache size K (in keys), five servers are started in
# turn on a private port: redis-server with allkeys-lru and allkeys-lfu,
# Larder with allkeys-lru, allkeys-lfu and allkeys-adaptive. Each first
# stores and deletes one key (so side structures made on first use, such as
# allkeys-adaptive's scorer, exist), reads its empty used_memory as BASE,
# and gets `maxmemory BASE + K × BYTES_PER_KEY`: the same data budget for
# every server. Then `larder bench --trace` replays the trace with one
# connection and no pipelining (GET each key, SET it with a VALUE_SIZE-byte
# value on a miss, requests in trace order) and the GET hit ratio and the
# keys held at the end (DBSIZE) are reported.
#
# VALUE_SIZE 4000 makes both servers' allocations land in jemalloc's 4 KiB
# size class (Redis: the value's sds; Larder: the entry holding key, value
# and metadata), and a budget of VALUE_SIZE + 200 bytes per key leaves Redis
# about 0.9 × K keys (its per-key structures plus the client's buffers).
# Larder spends less per key, so it holds more at the same budget: the keys
# column shows it. To compare the policies at
# equal key capacity too, the Larder policies are also simulated
# (`larder sim`, the same policy code) at the number of keys Redis's
# allkeys-lru held: the `sim@N` columns.
#
# Usage: bench/trace-compare.sh
# Environment: LARDER_BIN, TRACES_DIR (../shared/traces/lirs), TRACES
#   ("trace:K[,K...] ..." default: every reference row), VALUE_SIZE (4000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TRACES_DIR=${TRACES_DIR:-$BENCH_ROOT/../shared/traces/lirs}
TRACES=${TRACES:-"loop:512,768 multi1:128,512 multi2:128,512 multi3:128,512 2_pools:128,512 sprite:128,512 gli:1000 cs:800 ps:200 cpp:100"}
VALUE_SIZE=${VALUE_SIZE:-4000}
BYTES_PER_KEY=$((VALUE_SIZE + 200))

for tool in redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

info_field() { # PORT SECTION FIELD
    redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }'
}

# run_one SERVER POLICY TRACE K: prints "hit_ratio keys evicted base".
run_one() {
    local server=$1 policy=$2 trace=$3 k=$4 port pid base
    port=$(free_port)
    if [ "$server" = redis ]; then
        start_redis "$port" --maxmemory-policy "$policy"
        pid=$REDIS_PID
    else
        start_larder "$port" --memcache-port 0 --maxmemory-policy "$policy"
        pid=$LARDER_PID
    fi
    redis-cli -p "$port" set warm:up x >/dev/null
    redis-cli -p "$port" get warm:up >/dev/null
    redis-cli -p "$port" del warm:up >/dev/null
    base=$(info_field "$port" memory used_memory)
    redis-cli -p "$port" config set maxmemory $((base + k * BYTES_PER_KEY)) >/dev/null
    "$LARDER_BIN" bench -p "$port" --trace "$TRACES_DIR/$trace.trace.gz" -c 1 -P 1 \
        --data-size "$VALUE_SIZE" --json >"$BENCH_TMP/run.json" 2>/dev/null
    python3 -c 'import json,sys; print("%.2f" % (100 * json.load(open(sys.argv[1]))["hit_ratio"]))' \
        "$BENCH_TMP/run.json" | tr '\n' ' '
    echo "$(redis-cli -p "$port" dbsize) $(info_field "$port" stats evicted_keys) $base"
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    stop_pid "$pid"
}

SERVERS="redis:allkeys-lru redis:allkeys-lfu larder:allkeys-lru larder:allkeys-lfu larder:allkeys-adaptive"
echo "== trace replay, GET then SET on miss, $VALUE_SIZE-byte values, data budget K x $BYTES_PER_KEY B"
echo "   (hit ratio %, keys held at the end in parentheses; sim@N: larder sim at Redis allkeys-lru's key count N)"
printf '%-12s %-24s %-24s %-24s %-24s %-24s | %-8s %-10s %-10s %-10s\n' trace@K \
    redis-lru redis-lfu larder-lru larder-lfu larder-adaptive \
    sim@N sim-lru sim-lfu sim-adapt
for spec in $TRACES; do
    trace=${spec%%:*}
    sizes=${spec#*:}
    for k in ${sizes//,/ }; do
        line=$(printf '%-12s' "$trace@$k")
        n_redis_lru=
        for s in $SERVERS; do
            read -r ratio keys evicted base < <(run_one "${s%%:*}" "${s#*:}" "$trace" "$k")
            [ -z "$n_redis_lru" ] && n_redis_lru=$keys
            line+=$(printf ' %-24s' "$ratio ($keys)")
        done
        sim=$("$LARDER_BIN" sim --trace "$TRACES_DIR/$trace.trace.gz" --size "$n_redis_lru" \
            --policy allkeys-lru,allkeys-lfu,allkeys-adaptive --format csv |
            awk -F, 'NR > 1 { printf " %-10.2f", 100 * $6 }')
        line+=$(printf ' | %-8s' "$n_redis_lru")$sim
        echo "$line"
    done
done
