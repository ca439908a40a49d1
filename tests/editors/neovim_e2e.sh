#!/usr/bin/env bash
# End to end: the Neovim plugin with the real `orbit lsp` against a real 3-node demo cluster.
# Diagnostics arrive (a drift made on one node), :OrbitReload reloads and the drift diagnostic
# clears, :OrbitStatus shows every node. Then the VS Code extension's client layer
# (vscode_client_e2e.cjs) against the same server, and the plugin's debugger wiring with a DAP client
# standing in for nvim-dap (neovim_dap_e2e.lua) against orbit dap. Skips (saying why) only when
# `orbit lsp --help` fails.
#   ORBIT_BIN=target/debug/orbit tests/editors/neovim_e2e.sh
#   ORBIT_NVIM="scripts/otp-roots run otp27 nvim" tests/editors/neovim_e2e.sh   # Debian 13's Neovim 0.10
# ORBIT_NVIM is the Neovim command (words split on spaces; default `nvim`). A Neovim in a root sees this
# checkout and /tmp, where the cluster's state and the orbit wrapper are.
# Whatever it starts is stopped by pid however it ends (a failure, a timeout, INT/TERM/HUP): Neovim, node
# and every `orbit` they or this script run (through the recording wrapper of tests/lsp/owned.sh, under
# `setpriv --pdeathsig KILL`) are recorded at their start; the nodes are those scripts/cluster records.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ORBIT_BIN="${ORBIT_BIN:-$REPO/target/debug/orbit}"

if ! "$ORBIT_BIN" lsp --help >/dev/null 2>&1; then
  echo "SKIP neovim e2e: \`$ORBIT_BIN lsp --help\` failed, so this orbit has no language server yet; not run against a cluster"
  exit 0
fi
read -r -a NVIM <<<"${ORBIT_NVIM:-nvim}"
[[ "${NVIM[0]}" != */* || "${NVIM[0]}" == /* ]] || NVIM[0]="$PWD/${NVIM[0]}" # the script changes directory
command -v "${NVIM[0]}" >/dev/null || { echo "neovim e2e: ${NVIM[0]} is not installed" >&2; exit 1; }
"${NVIM[@]}" --version | head -1

source "$REPO/tests/lsp/owned.sh"
ORBIT_CLUSTER_DIR="$(mktemp -d /tmp/orbit-nvim-e2e-cluster.XXXXXX)"
export ORBIT_CLUSTER_DIR
work="$(mktemp -d /tmp/orbit-nvim-e2e.XXXXXX)"
cleanup() {
  owned_stop_all
  owned_cluster_down "$REPO" || { echo "neovim e2e: nodes left; state kept in $ORBIT_CLUSTER_DIR" >&2; exit 1; }
  rm -rf "$work" "$ORBIT_CLUSTER_DIR"
}
trap cleanup EXIT
owned_init "$work"
REAL_BIN="$ORBIT_BIN"
ORBIT_BIN="$(owned_orbit "$REAL_BIN")"
export ORBIT_BIN

owned_run "$REPO/scripts/cluster" up 3
mapfile -t nodes < <(cut -f1 "$ORBIT_CLUSTER_DIR/nodes")
[[ ${#nodes[@]} -eq 3 ]] || { echo "neovim e2e: expected 3 nodes, got ${#nodes[@]}" >&2; exit 1; }
cookie_file="$ORBIT_CLUSTER_DIR/cookie"

# Bank.Fees loaded everywhere (nodes load modules lazily), then a different one on the second node
# only: drift (kind "different", diagnostic code "drift").
owned_run timeout --kill-after=5 120 "$ORBIT_BIN" reload --node "${nodes[0]}" --cookie-file "$cookie_file" "$REPO/fixtures/demo/lib/bank/fees.ex"
cp "$REPO/fixtures/demo/lib/bank/fees.ex" "$work/fees.ex"
sed -i 's/^end$/  def orbit_e2e_marker, do: :drift\nend/' "$work/fees.ex"
grep -q orbit_e2e_marker "$work/fees.ex"
owned_run timeout --kill-after=5 120 "$ORBIT_BIN" reload --node "${nodes[0]}" --cookie-file "$cookie_file" --nodes "${nodes[1]}" --no-build "$work/fees.ex"

export ORBIT_E2E_BIN="$ORBIT_BIN" ORBIT_E2E_COOKIE_FILE="$cookie_file"
ORBIT_E2E_NODES="$(IFS=,; echo "${nodes[*]}")"
export ORBIT_E2E_NODES
export ORBIT_E2E_FILE="$REPO/fixtures/demo/lib/bank/fees.ex"
cd "$REPO/fixtures/demo"
rc=0
owned_run timeout --kill-after=10 300 "${NVIM[@]}" --headless -u NONE -i NONE -n \
  --cmd "set runtimepath^=$REPO/editors/neovim" --cmd "runtime plugin/orbit.lua" \
  -c "luafile $REPO/tests/editors/neovim_e2e.lua" || rc=1
# The plugin's debugger wiring: its adapter and attach configuration, with a DAP client standing in for
# nvim-dap, against the real orbit dap on the same cluster.
owned_run timeout --kill-after=10 300 "${NVIM[@]}" --headless -u NONE -i NONE -n \
  --cmd "set runtimepath^=$REPO/editors/neovim" --cmd "runtime plugin/orbit.lua" \
  -c "luafile $REPO/tests/editors/neovim_dap_e2e.lua" || rc=1

# The VS Code extension's client layer against the same server and cluster (needs the compiled out/).
if [[ -f "$REPO/editors/vscode/out/client.js" ]]; then
  ORBIT_BIN="$ORBIT_BIN" owned_run timeout --kill-after=10 300 \
    node --test --test-timeout=120000 --test-force-exit --test-reporter=spec "$REPO/tests/editors/vscode_client_e2e.cjs" || rc=1
else
  echo "vscode client e2e: editors/vscode/out/client.js is missing (run npm test in editors/vscode first)" >&2
  rc=1
fi
exit "$rc"
