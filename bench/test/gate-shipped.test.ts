// Proof that the gate watches the shipped configuration's cost: a baseline from a clean run, then a run
// in which only the shipped configuration (journal always + drain) is slowed, by the test-only burn hook
// started on that server alone: the gate must exit 1 naming shipped_cpu_vs_pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATE_CLI, runCli } from './run-cli.js';

const noMariaDb = spawnSync('mariadbd', ['--version'], { encoding: 'utf8' }).status !== 0;

const gate = (args: string[]) => runCli(GATE_CLI, args);

test('a slower shipped configuration (journal + drain) fails the gate on shipped_cpu_vs_pure', { skip: noMariaDb ? 'mariadbd is not installed' : false, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-shipped-'));
  const common = ['--parts', 'drain', '-r', '1', '--drain-rows', '2000', '--shipped-duration', '2', '--baseline', join(dir, 'baseline.json'), '--out', dir, '--run-dir', join(dir, 'run')];
  try {
    const b = await gate(['baseline', ...common, '--allow-noisy']);
    assert.equal(b.code, 0, b.out + b.err);
    const base = JSON.parse(readFileSync(join(dir, 'baseline.json'), 'utf8'));
    const ratio = base.metrics.shipped_cpu_vs_pure.value as number;
    assert.ok(ratio > 0.5 && ratio < 20, `shipped ÷ pure ${ratio}`);
    // 3 ms per 8001 in the shipped server only: many times the whole per-request cost (tens to hundreds
    // of µs), so the ratio rises far beyond any tolerance whatever the machine's noise.
    const r = await gate(['run', ...common, '--burn-shipped-us', '3000']);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /VERDICT: FAIL \(regression: [^)]*shipped_cpu_vs_pure/);
    const latest = JSON.parse(readFileSync(join(dir, 'gate-latest.json'), 'utf8'));
    const row = latest.verdict.rows.find((x: { id: string }) => x.id === 'shipped_cpu_vs_pure');
    assert.ok(row.current > ratio * 2, `slowed ${row.current} vs clean ${ratio}`);
    assert.equal(row.status, 'FAIL');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
