#!/usr/bin/env bash
# Load-generator overhead check: redis-benchmark and `larder bench` against
# the same redis-server, same clients / pipeline / key space / value size,
# GET and SET separately, alternating the two generators every round.
# Prints each generator's median throughput and larder/redis-benchmark, and
# (with /usr/bin/time) each generator's own CPU time per request, which is
# the overhead itself and far less noisy than throughput on a busy machine.
# The issue's bar: on this machine `larder bench` drives Redis at least as
# hard as redis-benchmark (ratio >= 1.0).
#
# Usage: bench/bench-vs-redis-benchmark.sh
# Environment:
#   BENCH_BIN   the generator: a `larder` binary that has `bench`, or the
#               stand-alone larder-bench (default: $LARDER_BIN if it has
#               `bench`, else cargo build --release the larder-bench example)
#   N           requests per run                 (default 300000)
#   ROUNDS      rounds                           (default 5)
#   CLIENTS     connections (-c)                 (default 50)
#   PIPELINES   pipeline depths (-P)             (default "1 16")
#   KEYSPACE    random keys (-r)                 (default 100000)
#   DATA        value size in bytes (-d)         (default 32)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${N:-300000}
ROUNDS=${ROUNDS:-5}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
KEYSPACE=${KEYSPACE:-100000}
DATA=${DATA:-32}

for tool in redis-server redis-benchmark redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

# The generator: "larder bench ..." or "larder-bench ...".
if [ -n "${BENCH_BIN:-}" ]; then
    :
elif [ -n "${LARDER_BIN:-}" ] && "$LARDER_BIN" bench --help >/dev/null 2>&1; then
    BENCH_BIN="$LARDER_BIN"
else
    echo "== cargo build --release -p larder-bench --example larder-bench" >&2
    (cd "$BENCH_ROOT" && cargo build --release -p larder-bench --example larder-bench >&2)
    BENCH_BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/examples/larder-bench"
fi
BENCH_CMD=("$BENCH_BIN")
"$BENCH_BIN" bench --help >/dev/null 2>&1 && BENCH_CMD=("$BENCH_BIN" bench)

PORT=$(free_port)
start_redis "$PORT"
echo "== $(redis-server --version | awk '{print $1, $3}') on port $PORT; generators: redis-benchmark vs ${BENCH_CMD[*]}"
echo "== N=$N clients=$CLIENTS pipelines=[$PIPELINES] keyspace=$KEYSPACE data=$DATA rounds=$ROUNDS cores=$(nproc), both generators single-threaded"

TIMER=()
[ -x /usr/bin/time ] && TIMER=(/usr/bin/time -f "%U %S" -o "$BENCH_TMP/cpu")
RAW="$BENCH_TMP/raw.csv" # generator,pipeline,test,rps,cpu_us_per_op
: >"$RAW"
for round in $(seq 1 "$ROUNDS"); do
    for P in $PIPELINES; do
        for test in get set; do
            # Alternate which generator goes first.
            order="rb lb"
            [ $((round % 2)) = 0 ] && order="lb rb"
            for gen in $order; do
                if [ "$gen" = rb ]; then
                    rps=$("${TIMER[@]}" redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -n "$N" -P "$P" \
                        -r "$KEYSPACE" -d "$DATA" -t "$test" --csv |
                        awk -F'","' 'NR > 1 { print $2 }')
                else
                    ratio="1:0"
                    [ "$test" = set ] && ratio="0:1"
                    rps=$("${TIMER[@]}" "${BENCH_CMD[@]}" -p "$PORT" -c "$CLIENTS" -n "$N" -P "$P" -r "$KEYSPACE" \
                        --data-size "$DATA" --ratio "$ratio" --json |
                        python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["ops_per_sec"])')
                fi
                cpu=nan
                [ -s "$BENCH_TMP/cpu" ] && cpu=$(awk -v n="$N" '{ printf "%.3f", ($1 + $2) * 1e6 / n }' "$BENCH_TMP/cpu")
                echo "$gen,$P,$test,$rps,$cpu" >>"$RAW"
                printf 'round %d  P=%-3s %-4s %-16s %12.0f ops/s  %7s CPU us/op\n' "$round" "$P" "$test" \
                    "$([ "$gen" = rb ] && echo redis-benchmark || echo larder-bench)" "$rps" "$cpu"
            done
        done
    done
done

echo
python3 - "$RAW" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
keys = sorted({(int(r[1]), r[2]) for r in rows})
print(f"{'':>13} {'median ops/s':^38}   {'median generator CPU us/op':^30}")
print(f"{'pipeline':>8} {'test':>4} {'redis-bench':>12} {'larder':>12} {'ratio':>6}   "
      f"{'redis-bench':>12} {'larder':>12} {'ratio':>6}")
for p, t in keys:
    def med(g, col):
        return statistics.median(float(r[col]) for r in rows if r[0] == g and int(r[1]) == p and r[2] == t)
    rb, lb = med("rb", 3), med("lb", 3)
    rc, lc = med("rb", 4), med("lb", 4)
    print(f"{p:>8} {t:>4} {rb:>12.0f} {lb:>12.0f} {lb / rb:>6.2f}   {rc:>12.3f} {lc:>12.3f} {lc / rc:>6.2f}")
PY
