// bench-proto's runtime table and hold part, run small: every server of the table answers under the
// stack's load shape on both runtimes, and the figures it reports are those of the cells it measured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeHolds, runtimeTable, type RuntimeTable, type TableRow } from '../src/protocol-bench/runtimes.js';
import type { ProtoCell } from '../src/protocol-bench/measure.js';
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

test('the report puts a floor under shipped ÷ pure: pure + the minimal journal over the minimal server + the drain over pure', () => {
  // Two repetitions; the floor takes the median of the per-repetition differences.
  const row = (kind: TableRow['kind'], config: TableRow['config'], us: number[]): TableRow => ({
    kind,
    runtime: 'node',
    config,
    label: kind,
    cells: us.map((cpuUsPerReq) => ({ cpuUsPerReq }) as ProtoCell),
    cpuUsMedian: (us[0] + us[1]) / 2,
    cpuUsMin: Math.min(...us),
    cpuUsMax: Math.max(...us),
    ratioToRef: 1,
    reqPerSecMedian: 1000,
    failed: 0,
  });
  const t: RuntimeTable = {
    concurrency: 12,
    durationMs: 1000,
    warmupMs: 0,
    repeat: 2,
    rows: [
      row('c-ref', undefined, [50, 50]),
      row('min-node', undefined, [100, 110]),
      row('min-node-journal', undefined, [130, 140]),
      row('ts', 'pure', [115, 125]),
      row('ts', 'drain', [121, 131]),
      row('ts', 'journal-always+drain', [165, 175]),
    ],
  };
  const md = renderRuntimeTable(t).join('\n');
  assert.match(md, /÷ pure on node: 1\.42 \(goal ≤ 1\.25: missed\)/);
  // (120 + 30 + 6) / 120
  assert.match(md, /Its floor on this disk: the minimal server's O_DSYNC group journal costs 30\.0 µs per enqueue \(135\.0 against 105\.0\), the drain 6\.0 µs over the pure queue; the pure queue plus both is 1\.30× the pure queue\./);
});
