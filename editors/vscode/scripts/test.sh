#!/usr/bin/env bash
# The extension's checks: type check, lint, unit tests, then the .vsix is built and its manifest and
# bundle checked. Used by scripts/test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm ci --no-audit --no-fund --loglevel=error
echo "--- tsc --noEmit (strict)"
npx tsc -p . --noEmit
echo "--- eslint"
npx eslint src
echo "--- unit tests"
npm test --silent
echo "--- package"
vsix="$(mktemp -d)/orbit.vsix"
bash scripts/package.sh --out "$vsix" >/dev/null
node scripts/check-vsix.mjs "$vsix"
rm -rf "$(dirname "$vsix")"
