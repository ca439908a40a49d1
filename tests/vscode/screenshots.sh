#!/usr/bin/env bash
# Regenerates the VS Code pictures of the docs (docs/images/vscode-*.png, 1280x800) from a passing run
# of tests/vscode/run.sh (a real VS Code on a real 3-node demo cluster):
#
#   tests/vscode/screenshots.sh            # runs tests/vscode/run.sh (ORBIT_BIN as there), then copies
#   tests/vscode/screenshots.sh --no-run   # copies from the last run's target/vscode-e2e/
#
#   vscode-stopped.png  a session stopped on two nodes: threads named by node, Variables, a watch
#   vscode-cluster.png  the Cluster view: nodes, their figures, a node's top processes
#   vscode-drift.png    a drift diagnostic on defmodule: the lens, the hover, the Problems panel
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ART="${ORBIT_VSCODE_ARTIFACTS:-$REPO/target/vscode-e2e}"
OUT="$REPO/docs/images"

case "${1:-}" in
  --no-run) ;;
  "") "$REPO/tests/vscode/run.sh" ;;
  *) sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

mkdir -p "$OUT"
while read -r from to; do
  src="$ART/$from"
  [[ -s "$src" ]] || { echo "screenshots: $src is missing (did the run pass?)" >&2; exit 1; }
  size="$(node -e 'const b=require("fs").readFileSync(process.argv[1]); console.log(b.readUInt32BE(16)+"x"+b.readUInt32BE(20))' "$src")"
  [[ "$size" == 1280x800 ]] || { echo "screenshots: $src is $size, not 1280x800" >&2; exit 1; }
  cp "$src" "$OUT/$to"
  echo "docs/images/$to <- $from"
done <<'EOF'
08-variables-watch.png vscode-stopped.png
11-cluster.png vscode-cluster.png
03-drift.png vscode-drift.png
EOF
