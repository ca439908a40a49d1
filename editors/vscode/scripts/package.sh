#!/usr/bin/env bash
# Builds the Orbit VS Code extension into a .vsix.
#
#   scripts/package.sh [--bundle PATH_TO_ORBIT] [--out FILE.vsix]
#
# --bundle copies an `orbit` binary into bin/orbit inside the package (platform-specific; without
# it the extension uses orbit.path or PATH). Default output: editors/vscode/orbit-<version>.vsix.
# Relative paths are taken from the directory the script is run from. Prints the .vsix's absolute path.
set -euo pipefail

# An absolute path for $1, relative to the caller's directory.
absolute() { if [[ "$1" == /* ]]; then printf '%s' "$1"; else printf '%s/%s' "$PWD" "$1"; fi; }

bundle=""
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bundle) [[ $# -ge 2 ]] || { echo "package.sh: --bundle needs a path" >&2; exit 2; }
              bundle="$(absolute "$2")"; shift 2 ;;
    --out) [[ $# -ge 2 ]] || { echo "package.sh: --out needs a path" >&2; exit 2; }
           out="$(absolute "$2")"; shift 2 ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -n "$bundle" && ! -x "$bundle" ]]; then
  echo "package.sh: --bundle $bundle is not an executable file" >&2; exit 2
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
rm -rf dist bin/orbit
node scripts/build.mjs --minify
if [[ -n "$bundle" ]]; then
  mkdir -p bin
  install -m 755 "$bundle" bin/orbit
fi
version="$(node -p 'require("./package.json").version')"
out="${out:-$PWD/orbit-$version.vsix}"
mkdir -p "$(dirname "$out")"
npx vsce package --no-dependencies --skip-license --allow-missing-repository -o "$out"
echo "$out"
