// The report's note on other work before the load: on one machine, its CPUs; with the stack on another host,
// that host's (it competed with the stack) and this machine's (it competed with the load), each named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { busyNote } from '../src/report/markdown.js';
import { busyFromLines } from '../src/lab/docker/remote-host.js';
import { repoRoot } from '../src/lab/paths.js';
import type { ResultDoc } from '../src/results/types.js';

const doc = (here: number | null, there?: number | null): ResultDoc =>
  ({
    machine: { busy_before_pct: here },
    stack_host: there === undefined ? null : { name: 'srv', busy_before_pct: there },
  }) as unknown as ResultDoc;

test('one machine: the worst of the runs, and a warning above 10%', () => {
  assert.equal(busyNote([doc(2), doc(4.5)]), ', CPUs 4.5% busy with other work just before the load');
  assert.match(busyNote([doc(2), doc(30)]), /CPUs 30% busy .*competed with the stack: the figures are low/);
  assert.equal(busyNote([doc(null)]), '');
});

test('the stack on another host: its busy share is the one that competed with the stack; this machine\'s with the load', () => {
  assert.equal(
    busyNote([doc(3, 40), doc(1, 5)]),
    ", the stack host's CPUs 40% busy with other work just before the load (it competed with the stack: the figures are low), this machine's 3%",
  );
  assert.equal(busyNote([doc(25, 1)]), ", the stack host's CPUs 1% busy with other work just before the load, this machine's 25% (it competed with the load: the figures are low)");
  // Unread on the stack host (its helper failed): only this machine's, never a 0 for the other.
  assert.equal(busyNote([doc(2, null)]), ", this machine's CPUs 2% busy with other work just before the load (the stack host's not read)");
});

test("the stack host's busy share: remote-host.sh busy prints its /proc/stat line twice, read as this host's would be", () => {
  // 400 ticks in all, 300 of them idle or iowait: 25% busy.
  assert.equal(busyFromLines('cpu  100 0 100 700 100 0 0 0 0 0\ncpu  150 0 150 1000 100 0 0 0 0 0\n'), 25);
  assert.equal(busyFromLines('cpu  100 0 100 700 100 0 0 0 0 0\n'), null, 'one reading: unknown');
  // The script as the helper container runs it (here, on this host's /proc/stat).
  const out = execFileSync('bash', [join(repoRoot, 'bench', 'scripts', 'remote-host.sh'), 'busy'], { encoding: 'utf8' });
  const pct = busyFromLines(out);
  assert.ok(pct !== null && pct >= 0 && pct <= 100, out);
});
