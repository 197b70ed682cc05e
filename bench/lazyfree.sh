#!/usr/bin/env bash
# Deleting a huge collection must not stall other clients: Larder vs Redis.
#
# For each server and each way of deleting (UNLINK; DEL with
# lazyfree-lazy-user-del yes; plain DEL): build a set of MEMBERS members,
# start an open-loop GET probe (`larder bench --rate RATE`, latency measured
# from the intended send time), delete the set a second into the probe, and
# report the probe's p99/p99.9/max and how long the delete command itself
# took. A delete done off the request path leaves the probe's tail flat.
#
# Usage: bench/lazyfree.sh
# Environment: LARDER_BIN, MEMBERS (10000000), RATE (20000), SECS (4)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MEMBERS=${MEMBERS:-10000000}
RATE=${RATE:-20000}
SECS=${SECS:-4}

for tool in redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
resolve_larder_bin

LOAD="$BENCH_TMP/load.resp"
python3 - "$MEMBERS" "$LOAD" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "wb") as f:
    for start in range(0, n, 1000):
        batch = [b"m%d" % i for i in range(start, min(n, start + 1000))]
        f.write(b"*%d\r\n$4\r\nSADD\r\n$3\r\nbig\r\n" % (len(batch) + 2))
        for m in batch:
            f.write(b"$%d\r\n%s\r\n" % (len(m), m))
PY

echo "== lazyfree: a $MEMBERS-member set deleted under a GET probe at $RATE/s"
printf '%-7s %-22s %10s %10s %10s %10s\n' server delete del_ms p99_ms p99.9_ms max_ms
for name in larder redis; do
    for how in unlink lazy-del del; do
        port=$(free_port)
        lazy=no
        [ "$how" = lazy-del ] && lazy=yes
        if [ "$name" = larder ]; then
            start_larder "$port" --memcache-port 0 --lazyfree-lazy-user-del "$lazy"
            pid=$LARDER_PID
        else
            start_redis "$port" --lazyfree-lazy-user-del "$lazy"
            pid=$REDIS_PID
        fi
        redis-cli -p "$port" --pipe <"$LOAD" >/dev/null
        redis-cli -p "$port" set probe v >/dev/null
        "$LARDER_BIN" bench -p "$port" --command "GET probe" --rate "$RATE" \
            --duration "$SECS" -c 8 --json >"$BENCH_TMP/probe.json" 2>/dev/null &
        probe=$!
        sleep 1
        cmd=DEL
        [ "$how" = unlink ] && cmd=UNLINK
        t0=$(date +%s%N)
        redis-cli -p "$port" "$cmd" big >/dev/null
        t1=$(date +%s%N)
        wait "$probe"
        python3 - "$BENCH_TMP/probe.json" "$name" "$how ($cmd)" "$(( (t1 - t0) / 1000 ))" <<'PY'
import json, sys
lat = json.load(open(sys.argv[1]))["total"]["latency_ms"]
print("%-7s %-22s %10.1f %10.2f %10.2f %10.2f" % (
    sys.argv[2], sys.argv[3], int(sys.argv[4]) / 1000,
    lat["p99"], lat["p999"], lat["max"]))
PY
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
        wait "$pid" 2>/dev/null || true
    done
done
