// make chaos in small, on the native stack: one kill -9 of the queue server under a light client.php load,
// on each runtime (Bun, the default, and node). The supervisor must bring it back, the drain must account for
// every ack, the table must say which runtime ran, and nothing may be left running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChaos } from '../src/chaos/run.js';
import { processesUsing } from './lab-procs.js';
import { QUEUE_RUNTIMES } from '@eserver-lab/queue-server/runtime';

for (const queueRuntime of QUEUE_RUNTIMES) test(`one kill -9 of the queue server on ${queueRuntime} under load: recovered, rows >= acks, no duplicate, no gap, nothing left`, { timeout: 180_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'eserver-chaos-test-'));
  const runDir = join(work, 'lab');
  try {
    const out = await runChaos({
      scenarios: [{ name: 'kill-once', label: 'kill -9 queue server', fsync: 'always', faults: ['kill-queue'] }],
      runtime: 'native', queueRuntime, concurrency: 20, durationS: 6, faultGapMs: 1500, holdMs: 1000,
      recoverTimeoutS: 30, drainTimeoutS: 60, workDir: work, outDir: null, runDir, freePorts: true,
    });
    const o = out.outcomes[0]!;
    assert.equal(o.error, undefined);
    assert.equal(o.queueRuntime, queueRuntime, 'read back from the running server');
    assert.deepEqual(o.verdict.reasons, []);
    assert.ok(o.strictOk > 0, 'some requests were acknowledged');
    assert.ok(o.rows >= o.strictOk, `${o.rows} rows >= ${o.strictOk} acks`);
    assert.equal(o.recoverS.length, 1);
    assert.ok(o.recoverS[0] !== null, 'the queue server came back');
    assert.equal(out.ok, true);
    assert.match(out.table, new RegExp(`\\| kill -9 queue server \\| ${queueRuntime} \\| always \\| \\d+ \\| \\d+ \\| \\d+ \\| 0 \\| 0 \\(0\\) \\| [\\d.]+ s \\| OK \\|`));
    assert.deepEqual(processesUsing(runDir), [], 'no process of the stack or its supervisors is left');
  } finally {
    if (processesUsing(runDir).length === 0) rmSync(work, { recursive: true, force: true });
  }
});
