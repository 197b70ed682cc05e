#!/usr/bin/env bash
# memcached protocol: Larder vs memcached with the same load generators in
# the same run, alternating servers every round; per-workload medians and
# Larder/memcached ratios, then bytes per item for 1,000,000 items.
#
# Load generators: `larder bench --protocol memcache` (its --compare mode
# alternates the two servers for --rounds rounds and prints medians) and
# libmemcached's `memcaslap` (alternated here, medians of TPS).
# Workloads: get-heavy 90/10 and set-heavy 50/50, 16-byte and 1 KB values,
# single gets and multi-gets of 10 keys.
#
# Usage: bench/memcache-compare.sh
# Environment:
#   LARDER_BIN   larder binary (default: cargo build --release -p larder)
#   ROUNDS       rounds per workload              (default 5)
#   SECS         seconds per run                  (default 3)
#   CLIENTS      connections                      (default 50)
#   KEYSPACE     keys                             (default 100000)
#   MC_THREADS   memcached -t                     (default: nproc)
#   ITEMS        items for the memory measurement (default 1000000)
#   SKIP_MEMASLAP=1, SKIP_MEMORY=1                skip a part
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
MC_THREADS=${MC_THREADS:-$(nproc)}
ITEMS=${ITEMS:-1000000}

for tool in memcached redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

# start_mc_larder: Larder with a memcache port; sets LPID, LMC.
start_mc_larder() {
    local port
    port=$(free_port)
    LMC=$(free_port)
    start_larder "$port" --memcache-port "$LMC" "$@"
    LPID=$LARDER_PID
}

# start_memcached [args]: sets MPID, MMC.
start_memcached() {
    MMC=$(free_port)
    memcached -u root -l 127.0.0.1 -U 0 -p "$MMC" -t "$MC_THREADS" "$@" \
        >"$BENCH_TMP/memcached.log" 2>&1 &
    MPID=$!
    BENCH_PIDS+=("$MPID")
    local i
    for i in $(seq 1 200); do
        if printf 'version\r\n' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MMC; cat >&3; head -c 7 <&3" 2>/dev/null | grep -q VERSION; then
            return 0
        fi
        sleep 0.05
    done
    echo "memcached did not start" >&2
    exit 1
}

start_mc_larder
start_memcached -m 4096
echo "== memcache-compare: larder=$LARDER_BIN (memcache port $LMC) vs memcached $(memcached -V | awk '{print $2}') (port $MMC, -t $MC_THREADS)"
echo "== rounds=$ROUNDS secs=$SECS clients=$CLIENTS keyspace=$KEYSPACE cores=$(nproc)"

RESULTS="$BENCH_TMP/results.txt" # tool workload larder memcached ratio
: >"$RESULTS"

# --- larder bench --compare ---------------------------------------------
for ratio in 9:1 1:1; do
    for size in 16 1024; do
        for mget in 1 10; do
            name="ratio=$ratio size=$size multiget=$mget"
            out=$("$LARDER_BIN" bench --protocol memcache --url "memcache://127.0.0.1:$MMC" \
                --compare "memcache://127.0.0.1:$LMC" --rounds "$ROUNDS" --duration "$SECS" \
                -c "$CLIENTS" --threads 2 --ratio "$ratio" --data-size "$size" \
                --multiget "$mget" --keyspace "$KEYSPACE" --prepopulate --json 2>&1) || {
                echo "larder bench failed: $out" >&2
                exit 1
            }
            echo "$out" >"$BENCH_TMP/lb-$ratio-$size-$mget.json"
            # Total ops/s medians of both servers from the JSON.
            python3 - "$name" "$BENCH_TMP/lb-$ratio-$size-$mget.json" >>"$RESULTS" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
doc = json.loads(text[text.index("{"):])
# "first" is memcached (--url), "second" Larder (--compare).
total = next(m for m in doc["medians"] if m["command"] == "TOTAL")
m, l = total["first"]["ops_per_sec"], total["second"]["ops_per_sec"]
print(f"larder-bench {name.replace(' ', '_')} {l:.0f} {m:.0f} {l / m:.3f}")
PY
        done
    done
done

# --- memcaslap ------------------------------------------------------------
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
if [ "${SKIP_MEMASLAP:-0}" != "1" ] && command -v memcaslap >/dev/null; then
    for get in 0.9 0.5; do
        for size in 16 1024; do
            for div in 1 10; do
                cfg="$BENCH_TMP/memaslap-$get-$size.cfg"
                set_p=$(python3 -c "print(round(1 - $get, 2))")
                printf 'key\n16 16 1\nvalue\n%s %s 1\ncmd\n0 %s\n1 %s\n' "$size" "$size" "$set_p" "$get" >"$cfg"
                : >"$BENCH_TMP/ms-larder" && : >"$BENCH_TMP/ms-memcached"
                for round in $(seq 1 "$ROUNDS"); do
                    if [ $((round % 2)) = 0 ]; then order="larder memcached"; else order="memcached larder"; fi
                    for s in $order; do
                        if [ "$s" = larder ]; then port=$LMC; else port=$MMC; fi
                        tps=$(memcaslap -s "127.0.0.1:$port" -F "$cfg" -t "${SECS}s" -T 2 -c "$CLIENTS" \
                            -d "$div" 2>&1 | awk '/^Run time/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }' | tail -1)
                        echo "${tps:-0}" >>"$BENCH_TMP/ms-$s"
                    done
                done
                l=$(median <"$BENCH_TMP/ms-larder")
                m=$(median <"$BENCH_TMP/ms-memcached")
                r=$(python3 -c "print(f'{$l / $m:.3f}' if $m > 0 else '?')")
                echo "memcaslap get=${get}_size=${size}_division=$div $l $m $r" >>"$RESULTS"
            done
        done
    done
fi

printf '\n%-13s %-40s %12s %12s %7s\n' tool workload larder memcached ratio
awk '{ printf "%-13s %-40s %12s %12s %7s\n", $1, $2, $3, $4, $5 }' "$RESULTS"
awk '$5 != "?" { s += log($5); n++; if (!w || $5 < w) { w = $5; wn = $1 " " $2 } }
     END { if (n) printf "\ngeometric mean of larder/memcached: %.3f over %d runs; worst %s at %.3f\n", exp(s / n), n, wn, w }' "$RESULTS"

# --- bytes per item -------------------------------------------------------
if [ "${SKIP_MEMORY:-0}" != "1" ]; then
    stop_pid "$LPID"
    stop_pid "$MPID"
    echo
    echo "== bytes per item: $ITEMS items, 16-byte keys and values"
    load() { # port
        "$LARDER_BIN" bench --protocol memcache --url "memcache://127.0.0.1:$1" --ratio 0:1 \
            --keyspace "$ITEMS" --key-prefix "key:" --data-size 16 --prepopulate -n 1 -c 8 -q >/dev/null 2>&1
    }
    start_mc_larder
    start_memcached -m 4096
    sleep 0.5
    l0=$(rss_bytes "$LPID")
    m0=$(rss_bytes "$MPID")
    load "$LMC"
    load "$MMC"
    sleep 0.5
    l1=$(rss_bytes "$LPID")
    m1=$(rss_bytes "$MPID")
    lcount=$(printf 'stats\r\nquit\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$LMC; cat >&3; cat <&3" | awk '/curr_items/ {print $3+0}')
    mcount=$(printf 'stats\r\nquit\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MMC; cat >&3; cat <&3" | awk '/curr_items/ {print $3+0}')
    python3 - "$l0" "$l1" "$lcount" "$m0" "$m1" "$mcount" <<'PY'
import sys
l0, l1, lc, m0, m1, mc = map(float, sys.argv[1:])
lb, mb = (l1 - l0) / max(lc, 1), (m1 - m0) / max(mc, 1)
print(f"larder:    {lc:.0f} items, RSS +{(l1 - l0) / 2**20:.1f} MiB, {lb:.1f} B/item")
print(f"memcached: {mc:.0f} items, RSS +{(m1 - m0) / 2**20:.1f} MiB, {mb:.1f} B/item")
print(f"larder/memcached bytes per item: {lb / mb:.3f}")
PY
fi
