#!/usr/bin/env bash
# Runs the plugin's tests in headless Neovim (needs nvim and node).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugin="$(dirname "$here")"
nvim --version | head -1
exec timeout --kill-after=10 180 nvim --headless -u NONE -i NONE -n \
  --cmd "set runtimepath^=$plugin" --cmd "runtime plugin/orbit.lua" \
  -c "luafile $here/unit.lua"
