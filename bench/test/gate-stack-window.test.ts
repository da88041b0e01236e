// The stack part's CPU per enqueue is counted over the measured window only, after a warm-up of its own:
// our queue server costs ~1.5x per enqueue during its first seconds of load after ~40 s idle, and the
// stack part's cells used to count those seconds, so their level followed the cells' order and timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATE_CLI, runCli } from './run-cli.js';


const gate = (args: string[]) => runCli(GATE_CLI, args);

interface RawRun {
  impl: string;
  page: string;
  acked: number | null;
  warmupOk: number;
  queueCpuUsPerEnqueue: number | null;
  window: { startS: number; acked: number; cpuS: number } | null;
  timeWait: { total: number; onPorts: number };
  usedOfQuota: number | null;
}

test('client.php cells warm up for --stack-warmup s, and the CPU per enqueue counts only the window after it', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-window-'));
  const warm = 3;
  try {
    const r = await gate(['run', '--parts', 'stack', '-r', '1', '--stack-duration', '2', '--stack-warmup', String(warm), '--stack-concurrency', '50',
      '--baseline', join(dir, 'none.json'), '--out', dir, '--run-dir', join(dir, 'run')]);
    assert.equal(r.code, 0, r.out + r.err);
    const latest = JSON.parse(readFileSync(join(dir, 'gate-latest.json'), 'utf8'));
    assert.equal(latest.settings.stackClientWarmupS, warm);
    const runs = latest.raw.stack.runs as RawRun[];
    const client = runs.filter((x) => x.page === 'client');
    assert.deepEqual(client.map((x) => x.impl).sort(), ['seed2013', 'ts']);
    for (const x of client) {
      const w = x.window!;
      assert.ok(w, `${x.impl}: a measured window is recorded`);
      assert.ok(w.startS >= warm - 0.05, `${x.impl}: the window starts after the warm-up (${w.startS} s)`);
      // The warm-up's enqueues are outside the window (the window may start a little before the
      // generator's own measuring phase, so allow half of them in).
      assert.ok(x.warmupOk > 0, `${x.impl}: pages said ok during the warm-up`);
      assert.ok(w.acked > 0 && w.acked <= x.acked! - x.warmupOk / 2, `${x.impl}: window ${w.acked} of ${x.acked} acked, ${x.warmupOk} in the warm-up`);
      assert.ok(Math.abs(x.queueCpuUsPerEnqueue! - (w.cpuS * 1e6) / w.acked) < 1e-6, `${x.impl}: CPU per enqueue is the window's`);
      // Diagnostics of each cell, for tracing a level shift: the TIME_WAIT table and the stack's share of its quota.
      assert.ok(x.timeWait.total >= x.timeWait.onPorts && x.timeWait.onPorts >= 0);
      assert.ok(x.usedOfQuota === null || x.usedOfQuota > 0);
    }
    // Each stack is loaded with client.php for the warm-up's length once before the first repetition: a fresh
    // queue server takes longer to settle than one that idled, so the first cell would read high otherwise.
    const primed = latest.raw.stack.primed as Array<{ impl: string; seconds: number; pagesPerMin: number }>;
    assert.deepEqual(primed.map((x) => [x.impl, x.seconds]).sort(), [['seed2013', warm], ['ts', warm]]);
    assert.ok(primed.every((x) => x.pagesPerMin > 0));
    // The baseline page keeps the short warm-up (it does not touch the queue server).
    const base = runs.find((x) => x.page === 'baseline')!;
    assert.equal(base.window, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
