#!/usr/bin/env bash
# Runs every workspace's compiled tests in one `node --test` call, so that node's own summary is the
# last thing printed (CI reads it). The queue server's tests run on both runtimes inside that one call:
# under node's runner the servers they spawn run on node, and queue-server/test/runtime-bun.test.ts runs
# each of its test files again under `bun test` with QUEUE_RUNTIME=bun. The other workspaces' tests run the
# queue server on the shipped default, Bun. QUEUE_RUNTIME=node (or bun) here makes every pass spawn that one.
# With file arguments it runs only those, the same way (common/test/test-runner.test.ts does).
#
# A test that fails half way can leave a timer or a socket behind; without its file's
# process never ends and neither does the run (a CI run hung for 90 minutes that way). --test-timeout
# bounds a single test that hangs (10 minutes: the longest test, the cold Docker e2e, takes about 4).
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find common/dist/test queue-server/dist/test php-client/dist/test bench/dist/test -name '*.test.js' 2>/dev/null | sort)
fi
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found: run 'make build' first" >&2; exit 1; fi
exec node --test --test-force-exit --test-timeout=600000 --test-reporter=spec "${files[@]}"
