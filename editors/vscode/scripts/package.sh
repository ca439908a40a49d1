#!/usr/bin/env bash
# Builds the Orbit VS Code extension into a .vsix.
#
#   scripts/package.sh [--bundle PATH_TO_ORBIT] [--out FILE.vsix]
#
# --bundle copies an `orbit` binary into bin/orbit inside the package (platform-specific; without
# it the extension uses orbit.path or PATH). Default output: editors/vscode/orbit-<version>.vsix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bundle=""
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
rm -rf dist bin/orbit
node scripts/build.mjs --minify
if [[ -n "$bundle" ]]; then
  mkdir -p bin
  install -m 755 "$bundle" bin/orbit
fi
version="$(node -p 'require("./package.json").version')"
out="${out:-orbit-$version.vsix}"
npx vsce package --no-dependencies --skip-license --allow-missing-repository -o "$out"
echo "$(pwd)/$out"
