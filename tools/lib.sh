# Shared helpers for the conformance runners in tools/ (sourced, not run).

TOOLS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# debian_source PACKAGE DIR: prints the package's source tree under DIR,
# fetched there with `apt-get source` (needs deb-src entries) if absent.
debian_source() {
    local tree
    tree=$(find "$2" -maxdepth 1 -type d -name "$1-*" | head -1)
    if [ -z "$tree" ]; then
        (cd "$2" && apt-get source -qq "$1" >/dev/null)
        tree=$(find "$2" -maxdepth 1 -type d -name "$1-*" | head -1)
    fi
    echo "$tree"
}

# larder_bin: LARDER_BIN, else the release build (built now).
larder_bin() {
    if [ -z "${LARDER_BIN:-}" ]; then
        (cd "$TOOLS_ROOT" && cargo build --release -q -p larder)
        LARDER_BIN=${CARGO_TARGET_DIR:-$TOOLS_ROOT/target}/release/larder
    fi
    echo "$LARDER_BIN"
}
