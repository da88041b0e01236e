#!/usr/bin/env bash
# webbench ÷ ours on the emulated 2013 box (issue 25 item 3): Webbench 1.5 and our generator alternating on
# each page, RUNS runs each, every run a fresh stack under the calibrated quota with the load from a network
# namespace of its own (LOAD_HOST=netns: make bench's --load-host), then the table of every run and the
# medians (eserver-bench tool-ratio). Run it in a quiet window: nothing else should load the machine.
#
#   PATH=/path/to/webbench-dir:$PATH bench/scripts/webbench-vs-ours.sh
#
# RUNS (3), PROFILES ("seed2013 baseline": client.php on the 2013-style server, as the 2026-11-28
# measurement, and baseline.php), LOAD_HOST (netns; "here" for the old way), OUT (a new directory below
# run/tool-ratio/) and ARGS (more flags for every run, e.g. "--cpus 0.45") may be set. The project ships no
# webbench: build Webbench 1.5 yourself and put it on PATH. About 45 s per run plus start-up: 12 runs, ~12 min.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${RUNS:-3}"
PROFILES="${PROFILES:-seed2013 baseline}"
LOAD_HOST="${LOAD_HOST:-netns}"
OUT="${OUT:-$ROOT/run/tool-ratio/$(date -u +%Y%m%dT%H%M%SZ)}"
CLI="$ROOT/bench/dist/src/cli.js"

command -v webbench >/dev/null || { echo "webbench-vs-ours: no webbench on PATH (the project ships none: build Webbench 1.5 yourself)" >&2; exit 2; }
[ -f "$CLI" ] || { echo "webbench-vs-ours: the bench is not built: run 'make build'" >&2; exit 2; }
# 10,000 clients; a process cannot go above 20,000 here.
ulimit -n 20000
mkdir -p "$OUT"
cp "$ROOT/results/seed.json" "$OUT/seed.json"
failed=()
echo "webbench-vs-ours: $RUNS runs of each tool on each of: $PROFILES; load from: $LOAD_HOST; results in $OUT"
for r in $(seq 1 "$RUNS"); do
  for p in $PROFILES; do
    # Alternating: webbench first in odd runs, ours first in even ones.
    if [ $((r % 2)) -eq 1 ]; then tools="webbench node"; else tools="node webbench"; fi
    for t in $tools; do
      echo "webbench-vs-ours: run $r of $RUNS, $p, $t ($(date -u +%H:%M:%S) UTC)"
      # shellcheck disable=SC2086 # ARGS is a list of flags
      rc=0
      node "$CLI" run --runtime native --load-host "$LOAD_HOST" --profile "$p" --repeat 1 --tool "$t" \
        --free-ports --no-report --out "$OUT" --run-dir "$OUT/lab" ${ARGS:-} || rc=$?
      # Ctrl-C or TERM: the run has torn down its stack and namespace; stop here. A failed verdict (1) is in
      # its result file and the table: the other runs go on.
      case "$rc" in 0) ;; 1) failed+=("run $r $p $t");; *) echo "webbench-vs-ours: stopped (exit $rc)" >&2; exit "$rc";; esac
    done
  done
done
node "$CLI" tool-ratio "$OUT" | tee "$OUT/table.md"
if [ "${#failed[@]}" -gt 0 ]; then echo "webbench-vs-ours: verdict failed in: ${failed[*]} (see their result files)" >&2; exit 1; fi
