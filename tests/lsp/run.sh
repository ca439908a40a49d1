#!/usr/bin/env bash
# End to end for `orbit lsp`: a real 3-node demo cluster (scripts/cluster, in a temp state dir), headless
# Neovim's built-in LSP client running tests/lsp/e2e.lua against `orbit lsp`, then the cluster goes down.
#
#   ORBIT_BIN=target/debug/orbit tests/lsp/run.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ORBIT_BIN:-$REPO/target/debug/orbit}"
command -v nvim >/dev/null || { echo "lsp e2e: nvim is not installed (scripts/lib/setup.sh installs it)" >&2; exit 1; }
[[ -x "$BIN" ]] || { echo "lsp e2e: no orbit binary at $BIN (cargo build first)" >&2; exit 1; }
nvim --version | head -1

STATE="$(mktemp -d -t orbit-lsp-e2e.XXXXXX)"
export ORBIT_CLUSTER_DIR="$STATE/cluster"
cleanup() {
  "$REPO/scripts/cluster" down >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

"$REPO/scripts/cluster" up 3 >/dev/null
names=()
pids=()
while IFS=$'\t' read -r name pid _log; do
  names+=("$name")
  pids+=("$pid")
done <"$ORBIT_CLUSTER_DIR/nodes"
[[ ${#names[@]} -eq 3 ]] || { echo "lsp e2e: expected 3 nodes, got ${#names[@]}" >&2; exit 1; }

export ORBIT_BIN="$BIN" ORBIT_REPO="$REPO"
export ORBIT_LSP_NODES="$(IFS=,; echo "${names[*]}")"
export ORBIT_LSP_COOKIE_FILE="$ORBIT_CLUSTER_DIR/cookie"
export ORBIT_LSP_KILL_NODE="${names[2]}" ORBIT_LSP_KILL_PID="${pids[2]}"

cd "$REPO"
timeout 600 nvim --headless -u NONE -i NONE -n -c "luafile $REPO/tests/lsp/e2e.lua"
