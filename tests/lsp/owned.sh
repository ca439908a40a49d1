# Processes an end-to-end test script starts are its own from their spawn and are stopped by pid
# (never by name) however the script ends: a failed step, a timeout, or a signal. Sourced by
# tests/lsp/run.sh and tests/editors/neovim_e2e.sh.
#
#   owned_init DIR        keeps the record in DIR/owned.pids ("PID START-TIME WHAT" lines; the start
#                         time from /proc/PID/stat tells a recorded process from a later one that got
#                         its pid), and makes INT, TERM and HUP end the script through its EXIT trap
#   owned_orbit BIN       prints the path of an `orbit` wrapper (in DIR) for editors and scripts to
#                         run instead of BIN: it records itself, then becomes
#                         `setpriv --pdeathsig KILL BIN ARGS…` (same pid), so every orbit process of
#                         the test is recorded at its start, and dies with whatever spawned it
#   owned_run CMD…        runs CMD in the background (stdin from /dev/null), records it, and waits for
#                         it: a signal to the script is then handled at once, not after CMD ends.
#                         Returns CMD's status.
#   owned_cluster_down REPO   `scripts/cluster down` for $ORBIT_CLUSTER_DIR (it stops exactly the pids
#                         it recorded), tried up to three times; fails, saying so, if nodes are left
#   owned_stop_all        SIGTERM to every recorded process that still runs, SIGKILL after 3 s.
#                         Call it first in the script's EXIT trap: from then on the script ignores
#                         INT, TERM and HUP, and so do the commands it runs to clean up (an ignored
#                         signal stays ignored across exec), so that the signal `timeout` sends to the
#                         whole process group cannot cut the clean-up short (nodes left running).

OWNED_DIR=""
OWNED_PIDS=""

owned_init() {
  OWNED_DIR="$1"
  OWNED_PIDS="$OWNED_DIR/owned.pids"
  : >"$OWNED_PIDS"
  # Without these, bash dies of the signal and skips the EXIT trap (and with a foreground child it
  # would only act once that child ends; owned_run avoids that).
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Start time (field 22 of /proc/PID/stat) of PID; fails when there is no such process.
owned__start() {
  local stat rest
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${stat##*) }"
  local -a f
  read -r -a f <<<"$rest"
  echo "${f[19]}"
}

# True while the process recorded as PID START runs (not a zombie, not a later process with that pid).
owned__running() {
  local stat rest
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${stat##*) }"
  local -a f
  read -r -a f <<<"$rest"
  [[ "${f[0]}" != Z && "${f[0]}" != X && "${f[19]}" == "$2" ]]
}

owned_record() { # owned_record PID WHAT
  local start
  start="$(owned__start "$1")" || return 0 # already gone (and reaped)
  echo "$1 $start $2" >>"$OWNED_PIDS"
}

owned_orbit() {
  local bin="$1" wrapper="$OWNED_DIR/orbit"
  # An absolute path, so that the wrapper works from any directory.
  if [[ "$bin" == */* ]]; then
    bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
  else
    bin="$(command -v "$bin")"
  fi
  cat >"$wrapper" <<EOF
#!/usr/bin/env bash
# Written by tests/lsp/owned.sh: records this process, then becomes orbit (same pid).
stat="\$(</proc/\$\$/stat)"
read -r -a f <<<"\${stat##*) }"
echo "\$\$ \${f[19]} orbit \${1:-}" >>'$OWNED_PIDS'
exec setpriv --pdeathsig KILL '$bin' "\$@"
EOF
  chmod 700 "$wrapper"
  echo "$wrapper"
}

owned_run() {
  "$@" </dev/null &
  local pid=$!
  owned_record "$pid" "$1"
  local rc=0
  wait "$pid" || rc=$?
  return "$rc"
}

owned_cluster_down() {
  local try
  [[ -f "$ORBIT_CLUSTER_DIR/nodes" ]] || return 0
  for try in 1 2 3; do
    if "$1/scripts/cluster" down; then return 0; fi
    sleep 1
  done
  echo "could not stop every node recorded in $ORBIT_CLUSTER_DIR/nodes (see above)" >&2
  return 1
}

owned_stop_all() {
  trap '' INT TERM HUP
  [[ -n "$OWNED_PIDS" && -f "$OWNED_PIDS" ]] || return 0
  local pass pid start what _ any
  for pass in 1 2; do # a second pass for processes recorded while the first one ran
    any=0
    while read -r pid start what; do
      [[ -n "$pid" ]] || continue
      if owned__running "$pid" "$start"; then
        echo "stopping $what (pid $pid), left running" >&2
        kill -TERM "$pid" 2>/dev/null || true
        any=1
      fi
    done <"$OWNED_PIDS"
    [[ $any -eq 1 ]] || continue
    for _ in $(seq 1 30); do # up to 3 s
      any=0
      while read -r pid start what; do
        if [[ -n "$pid" ]] && owned__running "$pid" "$start"; then any=1; fi
      done <"$OWNED_PIDS"
      [[ $any -eq 1 ]] || break
      sleep 0.1
    done
    while read -r pid start what; do
      if [[ -n "$pid" ]] && owned__running "$pid" "$start"; then
        echo "$what (pid $pid) ignored SIGTERM: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$OWNED_PIDS"
  done
  return 0
}
