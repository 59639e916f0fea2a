#!/usr/bin/env bash
# The whole test suite (run by `npm test` after set-up, under Node 24):
# lint (eslint, buf lint), build, unit tests of every project, then the
# cross-process tests in test/ (interop clients, kernel capture in namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "npm test: the kernel tests load eBPF programs and create network namespaces: run as root." >&2; exit 1; }
nx run-many -t lint build --outputStyle=static
nx run-many -t test --outputStyle=static --parallel=1
