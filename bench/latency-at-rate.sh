#!/usr/bin/env bash
# Latency at a fixed offered rate: Larder, Redis and memcached under the same
# open-loop load from `larder bench` (latency measured from each request's
# intended send time, so a stall cannot hide behind coordinated omission).
#
# First measures Redis's peak throughput (closed loop), then offers
# RATE_FRACTION of it to every server, ROUNDS times, alternating servers, and
# prints the median p50/p99/p99.9 per server. memcached is driven through its
# own text protocol with the same key space, value size and GET:SET ratio.
#
# Usage: bench/latency-at-rate.sh
# Environment:
#   LARDER_BIN      larder binary (default: cargo build --release -p larder)
#   ROUNDS          rounds (default 3)          DURATION  seconds per run (default 10)
#   CLIENTS         connections (default 50)    RATIO     GET:SET (default 10:1)
#   RATE_FRACTION   share of Redis's peak offered to all (default 0.5)
#   RATE            fixed offered rate instead of RATE_FRACTION × peak
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-50}
RATIO=${RATIO:-10:1}
RATE_FRACTION=${RATE_FRACTION:-0.5}
for tool in redis-server memcached python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

LP=$(free_port); start_larder "$LP"
RP=$(free_port); start_redis "$RP"
MP=$(free_port)
memcached -u "$(id -un)" -l 127.0.0.1 -p "$MP" -m 1024 -t 2 >"$BENCH_TMP/memcached.log" 2>&1 &
BENCH_PIDS+=($!)
sleep 0.5

common=(--clients "$CLIENTS" --ratio "$RATIO" --keyspace 100000 --data-size 32)
bench() { "$LARDER_BIN" bench "$@" "${common[@]}" 2>/dev/null; }

for target in "-p $LP" "-p $RP" "--protocol memcache -p $MP"; do
    # shellcheck disable=SC2086
    bench $target --prepopulate --requests 1 >/dev/null
done

if [ -z "${RATE:-}" ]; then
    peak=$(bench -p "$RP" --duration 5 --json | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["total"]["ops_per_sec"]))')
    RATE=$(python3 -c "print(int($peak * $RATE_FRACTION))")
    echo "== Redis peak (closed loop, $CLIENTS clients): $peak ops/s; offering $RATE ops/s to each"
fi
echo "== open loop: rate=$RATE clients=$CLIENTS ratio=$RATIO duration=${DURATION}s rounds=$ROUNDS"

OUT="$BENCH_TMP/results.txt"
: >"$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for name in larder redis memcached; do
        case $name in
            larder) target=(-p "$LP") ;;
            redis) target=(-p "$RP") ;;
            memcached) target=(--protocol memcache -p "$MP") ;;
        esac
        bench "${target[@]}" --rate "$RATE" --duration "$DURATION" --warmup 1 --json |
            python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; l=t["latency_ms"]; print(sys.argv[1], t["ops_per_sec"], l["p50"], l["p99"], l["p999"])' "$name" >>"$OUT"
    done
    echo "   round $round/$ROUNDS done"
done

python3 - "$OUT" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *vals = line.split()
    rows.setdefault(name, []).append([float(v) for v in vals])
print()
print(f"{'server':<10} {'ops/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'p99.9 ms':>9}")
for name in ("larder", "redis", "memcached"):
    cols = list(zip(*rows[name]))
    med = [statistics.median(c) for c in cols]
    print(f"{name:<10} {med[0]:>10.0f} {med[1]:>9.3f} {med[2]:>9.3f} {med[3]:>9.3f}")
print("(medians over rounds)")
PY
