#!/usr/bin/env bash
# The VS Code extension inside a real VS Code: code-server (VS Code 1.100.3, from npm) driven by
# playwright-core with Debian's Chromium, on a real 3-node cluster of the demo bank (fixtures/demo).
#
#   ORBIT_BIN=target/debug/orbit tests/vscode/run.sh
#
# Installs what is missing (apt: chromium fonts-liberation ripgrep libkrb5-dev; npm: code-server and
# playwright-core pinned in tests/vscode/package-lock.json), quickly when it is there. Builds the .vsix
# with editors/vscode/scripts/package.sh bundling ORBIT_BIN (default target/debug/orbit), starts the
# cluster (scripts/cluster, in a temp state dir: its own node names and a random cookie), starts
# code-server on 127.0.0.1 with a random free port, no auth, its own user-data and extensions dirs, the
# extension installed from the .vsix, and opens fixtures/demo. The settings (orbit.nodes,
# orbit.cookieFile, and an `orbit` attach configuration under "launch") are user settings in that
# user-data dir; the cookie is only ever in the cluster's cookie file. tests/vscode/e2e.test.mjs
# (node --test) then drives the workbench and reads the DOM and the output channels' log files.
#
# Screenshots of each step and the Orbit output channel's log go to target/vscode-e2e/ (ORBIT_VSCODE_
# ARTIFACTS to change). tests/vscode/screenshots.sh copies three of them into docs/images/.
#
# Everything it starts is stopped by pid however it ends (a failure, a timeout, INT/TERM/HUP): the nodes
# that scripts/cluster records, code-server with its process group (extension host, `orbit lsp`,
# `orbit dap`), Chromium's process group (its pid is written by the test as it launches it), and the
# test itself. Bounds: ORBIT_VSCODE_E2E_TIMEOUT (default 420 s) for the test; every wait inside is bounded.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/tests/vscode"
BIN="${ORBIT_BIN:-$REPO/target/debug/orbit}"
ART="${ORBIT_VSCODE_ARTIFACTS:-$REPO/target/vscode-e2e}"
log() { echo "vscode e2e: $*" >&2; }

[[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
[[ -x "$BIN" ]] || { log "no orbit binary at $BIN (cargo build -p orbit-cli first)"; exit 1; }
for tool in node npm erl erl_call elixir mix setsid; do
  command -v "$tool" >/dev/null || { log "'$tool' is not installed (scripts/lib/setup.sh installs it)"; exit 1; }
done

# ---- what is missing ---------------------------------------------------------------------------------
source "$REPO/scripts/lib/setup.sh" # _apt_install
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
dpkg -s fonts-liberation >/dev/null 2>&1 || missing+=(fonts-liberation)
# code-server's native modules (kerberos) build against it at install time.
[[ -d "$HERE/node_modules" ]] || dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
[[ ${#missing[@]} -eq 0 ]] || _apt_install "${missing[@]}"

# code-server 4.100.3 pins @vscode/ripgrep 1.15.11, whose install script downloads ripgrep v13.0.0-10
# from GitHub; it takes it from this cache first, so it gets Debian's rg instead (no download).
RG_PKG=1.15.11
RG_RELEASE=v13.0.0-10
lock_sum="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
stamp="$HERE/node_modules/.orbit-installed"
cs_entry="$HERE/node_modules/code-server/out/node/entry.js"
cs_rg="$HERE/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" || ! -f "$cs_entry" || ! -x "$cs_rg" ]]; then
  log "installing code-server and playwright-core (npm ci, about a minute)"
  cache="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-$RG_PKG"
  tarball="$cache/ripgrep-$RG_RELEASE-x86_64-unknown-linux-musl.tar.gz"
  if [[ ! -s "$tarball" ]]; then
    mkdir -p "$cache"
    rgdir="$(mktemp -d)"
    cp "$(command -v rg)" "$rgdir/rg"
    tar -czf "$tarball.tmp" -C "$rgdir" rg && mv "$tarball.tmp" "$tarball"
    rm -rf "$rgdir"
  fi
  (cd "$HERE" && npm_config_nodedir=/usr npm_config_unsafe_perm=true npm_config_yes=true JOBS=1 \
    npm ci --no-audit --no-fund --loglevel=error >&2)
  [[ -f "$cs_entry" && -x "$cs_rg" ]] || { log "code-server did not install completely"; exit 1; }
  echo "$lock_sum" >"$stamp"
fi

# ---- state, and stopping what we start -----------------------------------------------------------------
source "$REPO/tests/lsp/owned.sh"
STATE="$(mktemp -d -t orbit-vscode-e2e.XXXXXX)"
export ORBIT_CLUSTER_DIR="$STATE/cluster"
CS_PID=""
CS_START=""
CHROMIUM_PID_FILE="$STATE/chromium.pid"

# Whether PID still is the process that was started at START (field 22 of /proc/PID/stat).
same_process() { [[ -n "$1" && "$(owned__start "$1" 2>/dev/null)" == "$2" ]]; }

# SIGTERM to a process group whose leader we started (and recorded by pid and start time), SIGKILL
# after 5 s to what is left of that group.
stop_group() { # stop_group PGID START WHAT
  local pgid="$1" start="$2" what="$3"
  # A process now holding the leader's pid is not the one we started (the group then is not ours
  # either: a pid is not reused while its process group has members).
  if [[ -e "/proc/$pgid" ]] && ! same_process "$pgid" "$start"; then return 0; fi
  [[ -n "$(pgrep -g "$pgid" 2>/dev/null)" ]] || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    [[ -n "$(pgrep -g "$pgid" 2>/dev/null)" ]] || return 0
    sleep 0.1
  done
  log "$what (process group $pgid) ignored SIGTERM: SIGKILL"
  kill -KILL -- "-$pgid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap '' INT TERM HUP
  # Chromium (playwright launches it as the leader of its own process group), then the test.
  if [[ -s "$CHROMIUM_PID_FILE" ]]; then
    local cpid cstart
    read -r cpid cstart <"$CHROMIUM_PID_FILE" || true
    if [[ "$cpid" =~ ^[0-9]+$ ]]; then stop_group "$cpid" "${cstart:-}" chromium; fi
  fi
  owned_stop_all
  if [[ -n "$CS_PID" ]]; then stop_group "$CS_PID" "$CS_START" code-server; fi
  # The Orbit output channel's log (no cookie in it), kept with the screenshots.
  local f
  for f in "$STATE"/user-data/logs/*/exthost*/output_logging_*/*-Orbit.log; do
    [[ -f "$f" ]] && cp "$f" "$ART/orbit-output.log" 2>/dev/null || true
  done
  [[ -f "$STATE/code-server.log" ]] && cp "$STATE/code-server.log" "$ART/code-server.log" 2>/dev/null || true
  if [[ $rc -ne 0 && -d "$ORBIT_CLUSTER_DIR/logs" ]]; then
    mkdir -p "$ART/node-logs"
    cp -r "$ORBIT_CLUSTER_DIR/logs/." "$ART/node-logs/" 2>/dev/null || true
    log "failed (status $rc); screenshots and logs in $ART"
  fi
  owned_cluster_down "$REPO" >/dev/null || { log "nodes left; state kept in $STATE"; exit 1; }
  rm -rf "$STATE"
  exit "$rc"
}
trap cleanup EXIT
owned_init "$STATE"
mkdir -p "$ART"
rm -rf "$ART"/*.png "$ART"/*.log "$ART/node-logs" # the last run's artifacts

# ---- the .vsix, built from a copy of the extension (the tree's dist/ and bin/ stay as they are) -------
started=$SECONDS
ext="$STATE/extension"
mkdir -p "$ext"
tar -C "$REPO/editors/vscode" --exclude=./node_modules --exclude=./dist --exclude=./bin --exclude='*.vsix' -cf - . | tar -C "$ext" -xf -
if [[ -d "$REPO/editors/vscode/node_modules" ]]; then
  cp -al "$REPO/editors/vscode/node_modules" "$ext/node_modules" # hard links: fast, and immune to an npm ci there
fi
VSIX="$(owned_run bash "$ext/scripts/package.sh" --bundle "$BIN" --out "$STATE/orbit.vsix" | tail -n 1)"
[[ -f "$VSIX" ]] || { log "package.sh built no .vsix"; exit 1; }
log "built $(basename "$VSIX") bundling $BIN ($((SECONDS - started)) s)"

# ---- the cluster ----------------------------------------------------------------------------------------
owned_run "$REPO/scripts/cluster" up 3 >/dev/null
NODES="$(cut -f1 "$ORBIT_CLUSTER_DIR/nodes" | paste -sd, -)"
[[ "$(tr ',' '\n' <<<"$NODES" | wc -l)" -eq 3 ]] || { log "expected 3 nodes, got $NODES"; exit 1; }
log "cluster up: $NODES"

# ---- code-server ------------------------------------------------------------------------------------------
UD="$STATE/user-data"
mkdir -p "$UD/User" "$STATE/xdg" "$STATE/tmp"
# Its own XDG directories: nothing is written to ~/.config or ~/.local.
export XDG_CONFIG_HOME="$STATE/xdg/config" XDG_DATA_HOME="$STATE/xdg/data" XDG_CACHE_HOME="$STATE/xdg/cache"
PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
cat >"$STATE/code-server.yaml" <<EOF
bind-addr: 127.0.0.1:$PORT
auth: none
cert: false
EOF
CS=(node "$HERE/node_modules/code-server/out/node/entry.js" --config "$STATE/code-server.yaml"
  --user-data-dir "$UD" --extensions-dir "$STATE/extensions")
owned_run "${CS[@]}" --install-extension "$VSIX" >"$STATE/install.log" 2>&1 \
  || { cat "$STATE/install.log" >&2; log "installing the .vsix failed"; exit 1; }

node - "$UD/User/settings.json" "$NODES" "$ORBIT_CLUSTER_DIR/cookie" <<'EOF'
const [file, nodes, cookieFile] = process.argv.slice(2);
const list = nodes.split(",");
const settings = {
  "orbit.nodes": list,
  "orbit.cookieFile": cookieFile,
  "orbit.refreshIntervalMs": 1000,
  launch: {
    version: "0.2.0",
    configurations: [
      { type: "orbit", request: "attach", name: "Orbit: attach to the demo cluster", node: list[0], cookieFile, projectDir: "${workspaceFolder}" },
    ],
  },
  // A quiet, predictable workbench.
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "security.workspace.trust.enabled": false,
  "git.enabled": false,
  "git.openRepositoryInParentFolders": "never",
  "remote.autoForwardPorts": false,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "editor.minimap.enabled": false,
  "editor.stickyScroll.enabled": false,
  "debug.toolBarLocation": "floating",
};
require("fs").writeFileSync(file, JSON.stringify(settings, null, 2));
EOF

# A group of its own (setsid), so that it and everything it spawns (the extension host, orbit lsp,
# orbit dap) are stopped together, and so that `timeout`'s signal to our group does not reach them
# before the clean-up does.
setsid "${CS[@]}" --disable-telemetry --disable-update-check --disable-workspace-trust \
  "$REPO/fixtures/demo" </dev/null >"$STATE/code-server.log" 2>&1 &
CS_PID=$!
CS_START="$(owned__start "$CS_PID" || true)"
for _ in $(seq 1 300); do # up to 30 s
  grep -q "HTTP server listening" "$STATE/code-server.log" && break
  same_process "$CS_PID" "$CS_START" || { cat "$STATE/code-server.log" >&2; log "code-server exited"; exit 1; }
  sleep 0.1
done
grep -q "HTTP server listening on http://127.0.0.1:$PORT" "$STATE/code-server.log" \
  || { cat "$STATE/code-server.log" >&2; log "code-server is not listening on 127.0.0.1:$PORT"; exit 1; }
log "code-server $(grep -o 'code-server [0-9.]*' "$STATE/code-server.log" | head -1 | cut -d' ' -f2) on 127.0.0.1:$PORT"

# ---- the test --------------------------------------------------------------------------------------------
export ORBIT_E2E_URL="http://127.0.0.1:$PORT/?folder=$REPO/fixtures/demo"
export ORBIT_E2E_DEMO="$REPO/fixtures/demo"
export ORBIT_E2E_USER_DATA="$UD"
export ORBIT_E2E_NODES="$NODES"
export ORBIT_E2E_COOKIE_FILE="$ORBIT_CLUSTER_DIR/cookie"
export ORBIT_E2E_ARTIFACTS="$ART"
export ORBIT_E2E_STATE="$STATE"
export ORBIT_E2E_CHROMIUM_PID_FILE="$CHROMIUM_PID_FILE"
export TMPDIR="$STATE/tmp" # playwright's fresh Chromium profile goes there
cd "$HERE"
owned_run timeout --kill-after=10 "${ORBIT_VSCODE_E2E_TIMEOUT:-420}" \
  node --test --test-concurrency=1 --test-reporter=spec e2e.test.mjs
log "passed in $((SECONDS - started)) s; screenshots in $ART"
