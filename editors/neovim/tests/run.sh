#!/usr/bin/env bash
# Runs the plugin's tests in headless Neovim (needs nvim and node).
#
#   editors/neovim/tests/run.sh                                            # the `nvim` on PATH
#   ORBIT_NVIM="scripts/otp-roots run otp27 nvim" editors/neovim/tests/run.sh # Debian 13's Neovim 0.10
#
# ORBIT_NVIM is the Neovim command (words split on spaces). With it, the fake `orbit` runs with this
# machine's node from a directory under /tmp, so that a Neovim in a root (which sees this checkout and
# /tmp, not /usr/bin/node) can start it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugin="$(dirname "$here")"
read -r -a NVIM <<<"${ORBIT_NVIM:-nvim}"
[[ "${NVIM[0]}" != */* || "${NVIM[0]}" == /* ]] || NVIM[0]="$PWD/${NVIM[0]}" # the script changes directory
tmp="$(mktemp -d /tmp/orbit-nvim-tests.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
node_bin="$(command -v node)"
if [[ -n "${ORBIT_NVIM:-}" ]]; then
  ln "$node_bin" "$tmp/node" 2>/dev/null || cp "$node_bin" "$tmp/node"
  node_bin="$tmp/node"
fi
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node_bin" "$here/fake_orbit.js" >"$tmp/orbit"
chmod 755 "$tmp/orbit"
export ORBIT_FAKE_ORBIT="$tmp/orbit"
"${NVIM[@]}" --version | head -1
timeout --kill-after=10 180 "${NVIM[@]}" --headless -u NONE -i NONE -n \
  --cmd "set runtimepath^=$plugin" --cmd "runtime plugin/orbit.lua" \
  -c "luafile $here/unit.lua"
