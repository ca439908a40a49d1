#!/usr/bin/env bash
# Self-test of tests/lsp/owned.sh, the ownership the LSP and editor end-to-end scripts rely on: a script
# whose "editor" started "orbit" processes (through the recording wrapper; `sleep` stands in for orbit)
# leaves none of them running, whether it is stopped by SIGTERM (as `timeout` does) while it waits, or
# a step of it fails. Needs no cluster; takes a few seconds.
#   tests/lsp/owned_selftest.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/owned.sh"

tmp="$(mktemp -d -t orbit-owned-selftest.XXXXXX)"
inner_pid=""
cleanup() {
  [[ -n "$inner_pid" ]] && kill -KILL "$inner_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The script under test: like tests/lsp/run.sh, with an "editor" (bash) that starts two "orbit"s and
# waits for them; in mode `term` it is stopped by SIGTERM, in mode `fail` a step of it fails.
cat >"$tmp/inner.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
source "$1"
mode="$2" state="$3"
cleanup() { owned_stop_all; }
trap cleanup EXIT
owned_init "$state"
orbit="$(owned_orbit /bin/sleep)"
if [[ "$mode" == fail ]]; then
  # An editor this script does not wait for (so only the wrapper's records reach its servers), then a
  # step that fails.
  bash -c "\"$orbit\" 300 & \"$orbit\" 301 & wait" </dev/null &
  while [[ $(grep -c ' orbit ' "$state/owned.pids") -lt 2 ]]; do sleep 0.1; done
  false
fi
owned_run timeout --kill-after=2 600 bash -c "\"$orbit\" 300 & \"$orbit\" 301 & wait"
EOF

failures=0
check() { # check MODE
  local mode="$1" state="$tmp/$1" started rc=0 n
  mkdir -p "$state"
  bash "$tmp/inner.sh" "$HERE/owned.sh" "$mode" "$state" &
  inner_pid=$!
  started=$SECONDS
  # Both "orbit"s recorded (the wrapper records itself, then becomes `sleep`).
  for _ in $(seq 1 100); do
    n="$(grep -c ' orbit ' "$state/owned.pids" 2>/dev/null || true)"
    [[ "${n:-0}" -ge 2 ]] && break
    sleep 0.1
  done
  if [[ "$mode" == term ]]; then
    sleep 0.5
    kill -TERM "$inner_pid"
  fi
  wait "$inner_pid" || rc=$?
  inner_pid=""
  local took=$((SECONDS - started)) pid start what alive=0 recorded=0
  while read -r pid start what; do
    [[ "$what" == orbit* ]] && recorded=$((recorded + 1))
    if owned__running "$pid" "$start"; then
      echo "FAIL - $mode: $what (pid $pid) still runs" >&2
      kill -KILL "$pid" 2>/dev/null || true
      alive=1
    fi
  done <"$state/owned.pids"
  if [[ $recorded -ne 2 ]]; then
    echo "FAIL - $mode: $recorded orbit processes recorded, expected 2" >&2
    failures=$((failures + 1))
  elif [[ $rc -eq 0 ]]; then
    echo "FAIL - $mode: the script under test exited 0" >&2
    failures=$((failures + 1))
  elif [[ $alive -ne 0 || $took -gt 15 ]]; then
    [[ $took -gt 15 ]] && echo "FAIL - $mode: took ${took}s" >&2
    failures=$((failures + 1))
  else
    echo "ok   - $mode: exit status $rc after ${took}s, no recorded process runs"
  fi
}

check term
check fail
[[ $failures -eq 0 ]]
