#!/usr/bin/env bash
# Validates every state machine in statemachines/ with asl-validator (npm), installed into
# .peers/asl on first use. Without npm it warns and skips, except under CI=true, where it fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.peers/asl"
version="4.0.0"

if ! command -v npm >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "validate-asl: npm is required to validate the state machines" >&2
    exit 1
  fi
  echo "validate-asl: npm not found; SKIPPED state machine validation" >&2
  exit 0
fi
if [ ! -x "$prefix/node_modules/.bin/asl-validator" ]; then
  echo "validate-asl: installing asl-validator@$version into .peers/asl" >&2
  mkdir -p "$prefix"
  if ! npm install --prefix "$prefix" --no-audit --no-fund "asl-validator@$version" >"$prefix/install.log" 2>&1; then
    tail -n 25 "$prefix/install.log" >&2
    exit 1
  fi
fi
status=0
for machine in "$root"/statemachines/*.asl.json; do
  "$prefix/node_modules/.bin/asl-validator" --json-path "$machine" || status=1
done
exit "$status"
