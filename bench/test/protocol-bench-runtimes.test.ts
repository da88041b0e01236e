// bench-proto's runtime table and hold part, run small: every server of the table answers under the
// stack's load shape on both runtimes, and the figures it reports are those of the cells it measured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeHolds, runtimeTable } from '../src/protocol-bench/runtimes.js';
import { renderRuntimeTable } from '../src/protocol-bench/report.js';

test('the runtime table measures the C reference, both minimal servers and eserver-queue on node and bun', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'proto-table-'));
  try {
    const t = await runtimeTable({ runDir: dir, runtimes: ['node', 'bun'], configs: ['pure'], concurrency: 4, durationMs: 3000, warmupMs: 300, repeat: 1, queueArgs: [], log: () => {} });
    assert.deepEqual(
      t.rows.map((r) => `${r.kind}/${r.runtime ?? '-'}/${r.config ?? '-'}${r.bunSockets ? `/${r.bunSockets}` : ''}`),
      ['c-ref/-/-', 'min-node/node/-', 'min-bun/bun/-', 'ts/node/pure', 'ts/bun/pure', 'ts/bun/pure/node-net'],
    );
    for (const r of t.rows) {
      assert.equal(r.cells.length, 1, r.label);
      assert.ok(r.cells[0].ok > 0, `${r.label} answered no request`);
      assert.equal(r.failed, 0, `${r.label}: ${JSON.stringify(r.cells[0].errors)}`);
      assert.ok(r.cpuUsMedian > 0, `${r.label}: no CPU measured`);
      assert.equal(r.ratioToRef, r.cells[0].cpuUsPerReq / t.rows[0].cells[0].cpuUsPerReq);
    }
    assert.equal(t.rows[0].ratioToRef, 1);
    const md = renderRuntimeTable(t).join('\n');
    assert.match(md, /Pure configuration on Bun: \d+\.\d\d× the C reference/);
    assert.match(md, /minimal Bun server, the floor of this runtime/);
    assert.match(md, /The Bun.listen adapter against Bun's node:net layer, pure queue: /);
    assert.equal(t.warmupMs, 300);
    assert.match(md, /3 s per cell after 0\.3 s of warm-up/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the hold part reads RSS with connections open for the queue server and the minimal server of each runtime', { timeout: 120_000 }, async () => {
  const holds = await runtimeHolds({ runtimes: ['node', 'bun'], connections: 200, queueArgs: [], log: () => {} });
  assert.deepEqual(holds.map((h) => `${h.kind}/${h.runtime}`), ['ts/node', 'min-node/node', 'ts/bun', 'ts/bun', 'min-bun/bun']);
  assert.match(holds[3].label, /via node:net/);
  for (const h of holds) {
    assert.equal(h.open, 200, h.label);
    assert.equal(h.failed, 0, h.label);
    assert.ok(h.rssBeforeBytes > 1 << 20 && h.rssBytes >= h.rssBeforeBytes / 2, `${h.label}: RSS ${h.rssBeforeBytes} -> ${h.rssBytes}`);
  }
});
