#!/usr/bin/env bash
# End to end for `orbit lsp`: a real 3-node demo cluster (scripts/cluster, in a temp state dir), headless
# Neovim's built-in LSP client running tests/lsp/e2e.lua against `orbit lsp`, then the cluster goes down.
#
#   ORBIT_BIN=target/debug/orbit tests/lsp/run.sh
#
# Whatever it starts is stopped by pid however it ends (a failure, a timeout, INT/TERM/HUP): Neovim and
# every `orbit` it runs (through the recording wrapper of tests/lsp/owned.sh, under
# `setpriv --pdeathsig KILL`) are recorded at their start; the nodes are those scripts/cluster records.
# Neovim has its own bound (ORBIT_LSP_E2E_TIMEOUT, default 600 s).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ORBIT_BIN:-$REPO/target/debug/orbit}"
command -v nvim >/dev/null || { echo "lsp e2e: nvim is not installed (scripts/lib/setup.sh installs it)" >&2; exit 1; }
[[ -x "$BIN" ]] || { echo "lsp e2e: no orbit binary at $BIN (cargo build first)" >&2; exit 1; }
nvim --version | head -1

source "$REPO/tests/lsp/owned.sh"
STATE="$(mktemp -d -t orbit-lsp-e2e.XXXXXX)"
export ORBIT_CLUSTER_DIR="$STATE/cluster"
cleanup() {
  local rc=$?
  owned_stop_all
  if [[ $rc -ne 0 && -d "$ORBIT_CLUSTER_DIR/logs" ]]; then
    # Keep the node logs of a failed run.
    local keep
    keep="$(mktemp -d -t orbit-lsp-e2e-logs.XXXXXX)"
    cp -r "$ORBIT_CLUSTER_DIR/logs/." "$keep/" 2>/dev/null || true
    echo "lsp e2e: failed (status $rc); node logs kept in $keep" >&2
  fi
  owned_cluster_down "$REPO" >/dev/null || { echo "lsp e2e: nodes left; state kept in $STATE" >&2; exit 1; }
  rm -rf "$STATE"
}
trap cleanup EXIT
owned_init "$STATE"
ORBIT="$(owned_orbit "$BIN")"

owned_run "$REPO/scripts/cluster" up 3 >/dev/null
names=()
pids=()
while IFS=$'\t' read -r name pid _log; do
  names+=("$name")
  pids+=("$pid")
done <"$ORBIT_CLUSTER_DIR/nodes"
[[ ${#names[@]} -eq 3 ]] || { echo "lsp e2e: expected 3 nodes, got ${#names[@]}" >&2; exit 1; }

export ORBIT_BIN="$ORBIT" ORBIT_REPO="$REPO"
export ORBIT_LSP_NODES="$(IFS=,; echo "${names[*]}")"
export ORBIT_LSP_COOKIE_FILE="$ORBIT_CLUSTER_DIR/cookie"
export ORBIT_LSP_KILL_NODE="${names[2]}" ORBIT_LSP_KILL_PID="${pids[2]}"

cd "$REPO"
owned_run timeout --kill-after=10 "${ORBIT_LSP_E2E_TIMEOUT:-600}" nvim --headless -u NONE -i NONE -n -c "luafile $REPO/tests/lsp/e2e.lua"
