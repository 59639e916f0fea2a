#!/usr/bin/env bash
# The whole test suite (run by `npm test` after set-up, under Node 24):
# lint (eslint, buf lint), build, unit tests of every project, then the
# cross-process tests in test/ (interop clients, kernel capture in namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "npm test: the kernel tests load eBPF programs and create network namespaces: run as root." >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
{ nx run-many -t lint build --outputStyle=static && nx run-many -t test --outputStyle=static --parallel=1; } 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every project's vitest summary.
sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
  /^ *Tests +[0-9]/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^skipped/) s += $i } }
  END { printf "tests: %d passed, %d failed", p, f; if (s) printf ", %d skipped", s; printf "\n" }'
exit "$status"
