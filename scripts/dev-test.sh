#!/usr/bin/env bash
# Builds into .build/<name> (so several people can test at once) and runs matching test files.
# Usage: scripts/dev-test.sh <name> [file-substring ...]
set -euo pipefail
name=${1:?name}; shift
out=".build/$name"
npx tsc -p tsconfig.json --outDir "$out" --tsBuildInfoFile "$out/.tsbuildinfo"
TEST_DIST="$out" node scripts/test.mjs "$@"
