#!/usr/bin/env bash
# Runs every workspace's compiled tests in one `node --test` call, so that node's own summary is the
# last thing printed (CI reads it). The queue server's tests run on both runtimes inside that one call:
# queue-server/test/runtime-bun.test.ts runs each of its test files again under `bun test` with
# QUEUE_RUNTIME=bun. QUEUE_RUNTIME=bun here also makes the node pass spawn its servers on Bun.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
mapfile -t files < <(find testkit/dist/test queue-server/dist/test php-client/dist/test bench/dist/test -name '*.test.js' 2>/dev/null | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found: run 'make build' first" >&2; exit 1; fi
exec node --test --test-reporter=spec "${files[@]}"
