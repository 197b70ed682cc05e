#!/usr/bin/env bash
# Throughput: Larder vs Redis with the same load generator (redis-benchmark)
# in the same run, alternating servers every run, several rounds; prints
# per-test medians, Larder/Redis ratios, their geometric mean and the worst.
#
# Usage: bench/redis-compare.sh [--self]
#   --self          use bench/redis-as-larder (redis-server) as "Larder", to
#                   validate the script (ratios should be ~1.0)
# Environment:
#   LARDER_BIN      larder binary (default: cargo build --release -p larder)
#   N               requests per redis-benchmark run   (default 200000)
#   ROUNDS          rounds (each runs both servers)    (default 5)
#   CLIENTS         parallel connections (-c)          (default 50)
#   PIPELINES       pipeline depths (-P)               (default "1 16")
#   TESTS           redis-benchmark -t list            (default set,get,incr,mset)
#                   e.g. TESTS=set,get,incr,mset,lpush,lpop,sadd,hset,zadd,lrange_100
#                   plus `zrangebyscore` (not a redis-benchmark test): ZRANGEBYSCORE
#                   myzset <random score> +inf LIMIT 0 10 over a sorted set of
#                   ~100,000 members that both servers get filled with first
#   KEYSPACE        -r for random keys, 0 = one key    (default 100000)
#   SERVER_ARGS     extra args for both servers        (default none)
#   CSV_OUT         also write raw per-run results here
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "${1:-}" = "--self" ] && BENCH_SELF=1
N=${N:-200000}
ROUNDS=${ROUNDS:-5}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
TESTS=${TESTS:-set,get,incr,mset}
KEYSPACE=${KEYSPACE:-100000}
read -r -a SERVER_ARGS_A <<<"${SERVER_ARGS:-}"

for tool in redis-server redis-benchmark redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

LPORT=$(free_port)
start_larder "$LPORT" "${SERVER_ARGS_A[@]}"
RPORT=$(free_port)
while [ "$RPORT" = "$LPORT" ]; do RPORT=$(free_port); done
start_redis "$RPORT" "${SERVER_ARGS_A[@]}"

echo "== redis-compare: larder=$LARDER_BIN (port $LPORT) vs $(redis-server --version | awk '{print $3}') (port $RPORT)"
echo "== tests=$TESTS N=$N clients=$CLIENTS pipelines=[$PIPELINES] rounds=$ROUNDS keyspace=$KEYSPACE cores=$(nproc)"

RAW="$BENCH_TMP/raw.csv" # server,pipeline,test,rps
: >"$RAW"
rflag=()
[ "$KEYSPACE" != "0" ] && rflag=(-r "$KEYSPACE")

# `zrangebyscore` runs as a custom command; the rest go to -t.
ZRANGE=0
BENCH_TESTS=()
IFS=, read -r -a all_tests <<<"$TESTS"
for t in "${all_tests[@]}"; do
    if [ "$t" = zrangebyscore ]; then ZRANGE=1; else BENCH_TESTS+=("$t"); fi
done
if [ "$ZRANGE" = 1 ] && [ "$KEYSPACE" = 0 ]; then
    echo "zrangebyscore needs random scores: KEYSPACE > 0" >&2
    exit 1
fi
T_LIST=$(IFS=,; echo "${BENCH_TESTS[*]}")

bench_csv() { # server port pipeline [command...]: appends "server,pipeline,test,rps" rows
    local s=$1 port=$2 p=$3 out
    shift 3
    out=$(redis-benchmark -h 127.0.0.1 -p "$port" -q -c "$CLIENTS" -n "$N" -P "$p" \
        "${rflag[@]}" --csv "$@" 2>&1) || { echo "redis-benchmark failed against $s:" >&2; echo "$out" >&2; exit 1; }
    # "SET","97087.38",...  (skip the header; test names may contain spaces;
    # a custom command's name is its first word)
    echo "$out" | awk -F'","' -v s="$s" -v p="$p" \
        'NR > 1 && NF > 1 { t = $1; sub(/^"/, "", t); if (t ~ /^ZRANGEBYSCORE /) t = "ZRANGEBYSCORE"
                            printf "%s,%s,%s,%s\n", s, p, t, $2 }' >>"$RAW"
}

run_one() { # server port pipeline
    [ -n "$T_LIST" ] && bench_csv "$1" "$2" "$3" -t "$T_LIST"
    [ "$ZRANGE" = 1 ] && bench_csv "$1" "$2" "$3" ZRANGEBYSCORE myzset __rand_int__ +inf LIMIT 0 10
    if ! kill -0 "$LARDER_PID" 2>/dev/null; then
        echo "larder died during the benchmark; log:" >&2
        tail -50 "$BENCH_TMP/larder.log" >&2
        exit 1
    fi
}

if [ "$ZRANGE" = 1 ]; then
    # The sorted set ZRANGEBYSCORE reads: redis-benchmark's own ZADD
    # (score and member element:N both random below the keyspace).
    for port in "$LPORT" "$RPORT"; do
        redis-benchmark -h 127.0.0.1 -p "$port" -q -c "$CLIENTS" -n $((3 * KEYSPACE)) -P 32 \
            -r "$KEYSPACE" -t zadd >/dev/null
    done
fi

for round in $(seq 1 "$ROUNDS"); do
    for p in $PIPELINES; do
        # Alternate which server goes first, so drift (thermal, other load)
        # hits both equally.
        if [ $(((round + p) % 2)) = 0 ]; then order="larder redis"; else order="redis larder"; fi
        for s in $order; do
            if [ "$s" = larder ]; then port=$LPORT; else port=$RPORT; fi
            run_one "$s" "$port" "$p"
        done
    done
    echo "   round $round/$ROUNDS done" >&2
done

[ -n "${CSV_OUT:-}" ] && { echo "server,pipeline,test,rps" >"$CSV_OUT"; cat "$RAW" >>"$CSV_OUT"; }

# Medians per (server, pipeline, test), then the table.
awk -F, '
function median(str,   a, n, i, j, t) {
    n = split(str, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    key = $2 SUBSEP $3
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
    vals[$1, key] = vals[$1, key] " " $4
}
END {
    printf "\n%-22s %3s %14s %14s %8s\n", "test", "-P", "larder rps", "redis rps", "ratio"
    printf "%-22s %3s %14s %14s %8s\n", "----", "--", "----------", "---------", "-----"
    logsum = 0; cnt = 0; worst = 1e18
    for (i = 1; i <= nk; i++) {
        key = order[i]; split(key, kp, SUBSEP)
        if (!(("larder", key) in vals) || !(("redis", key) in vals)) continue
        l = median(vals["larder", key]); r = median(vals["redis", key])
        ratio = (r > 0) ? l / r : 0
        printf "%-22s %3s %14.0f %14.0f %8.3f\n", kp[2], kp[1], l, r, ratio
        if (ratio > 0) { logsum += log(ratio); cnt++ }
        if (ratio < worst) { worst = ratio; wname = kp[2] " -P " kp[1] }
    }
    if (cnt > 0) {
        printf "\ngeometric mean of larder/redis ratios: %.3f over %d tests\n", exp(logsum / cnt), cnt
        printf "worst: %s at %.3f\n", wname, worst
    }
}' "$RAW"
