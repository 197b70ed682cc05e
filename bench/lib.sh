# Shared helpers for bench/*.sh (sourced, not run).

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Resolve the Larder binary: $LARDER_BIN, or build it (release) unless
# --self (then a redis-server wrapper stands in for Larder).
resolve_larder_bin() {
    if [ "${BENCH_SELF:-0}" = "1" ]; then
        LARDER_BIN="$BENCH_ROOT/bench/redis-as-larder"
    fi
    if [ -z "${LARDER_BIN:-}" ]; then
        echo "== cargo build --release -p larder" >&2
        (cd "$BENCH_ROOT" && cargo build --release -p larder >&2)
        LARDER_BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/larder"
    fi
    [ -x "$LARDER_BIN" ] || { echo "not executable: $LARDER_BIN" >&2; exit 1; }
}

BENCH_PIDS=()
BENCH_TMP="$(mktemp -d -t larder-bench.XXXXXX)"

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# wait_port PORT PID NAME: wait until PING answers (10 s max).
wait_port() {
    local port=$1 pid=$2 name=$3 i
    for i in $(seq 1 200); do
        if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited early; log:" >&2
            cat "$BENCH_TMP/$name.log" >&2 || true
            exit 1
        fi
        sleep 0.05
    done
    echo "$name did not answer PING on port $port; log:" >&2
    cat "$BENCH_TMP/$name.log" >&2 || true
    exit 1
}

# start_larder PORT [args...]: sets LARDER_PID.
start_larder() {
    local port=$1
    shift
    mkdir -p "$BENCH_TMP/larder"
    (cd "$BENCH_TMP/larder" && exec "$LARDER_BIN" server --port "$port" --bind 127.0.0.1 \
        --save "" --appendonly no "$@") >"$BENCH_TMP/larder.log" 2>&1 &
    LARDER_PID=$!
    BENCH_PIDS+=("$LARDER_PID")
    wait_port "$port" "$LARDER_PID" larder
}

# start_redis PORT [args...]: sets REDIS_PID.
start_redis() {
    local port=$1
    shift
    mkdir -p "$BENCH_TMP/redis"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --dir "$BENCH_TMP/redis" "$@" >"$BENCH_TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    BENCH_PIDS+=("$REDIS_PID")
    wait_port "$port" "$REDIS_PID" redis
}

# stop_pid PID: terminate one server and wait for it.
stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# rss_bytes PID: resident set size from /proc.
rss_bytes() {
    awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}
