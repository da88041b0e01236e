// Proof that the gate can fail: the queue server's test-only CPU burn hook, end to end through the
// gate's CLI (baseline written from a clean run, then a run with the hook, which must exit 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUEUE_CLI } from '../src/protocol-bench/servers.js';
import { GATE_CLI, runCli } from './run-cli.js';


const gate = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(GATE_CLI, args, env);

test('the burn hook is refused without ESERVER_ENABLE_TEST_HOOKS=1', () => {
  const env = { ...process.env };
  delete env.ESERVER_ENABLE_TEST_HOOKS;
  const r = spawnSync(process.execPath, [QUEUE_CLI, '--port', '0', '--metrics-port', '0', '--test-burn-cpu-us', '100'], { env, encoding: 'utf8', timeout: 10_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /ESERVER_ENABLE_TEST_HOOKS/);
});

test('a clean baseline, then a run with the CPU burn hook: the gate exits 1 and names the metrics', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-burn-'));
  const common = ['--parts', 'proto', '-r', '1', '--proto-duration', '1', '--proto-concurrency', '10', '--baseline', join(dir, 'baseline.json'), '--out', dir, '--run-dir', join(dir, 'run')];
  try {
    const b = await gate(['baseline', ...common, '--allow-noisy']);
    assert.equal(b.code, 0, b.err);
    const base = JSON.parse(readFileSync(join(dir, 'baseline.json'), 'utf8'));
    const cpu = base.metrics.queue_cpu_us_per_enqueue.value as number;
    assert.ok(cpu > 0);
    // A burn of several times the whole per-request cost: unmistakable whatever the machine's noise.
    const burn = Math.max(2000, Math.round(cpu * 5));
    const r = await gate(['run', ...common, '--burn-us', String(burn)]);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /VERDICT: FAIL \(regression: [^)]*queue_cpu_vs_c_ref/);
    assert.match(r.out, /VERDICT: FAIL \(regression: [^)]*proto_rps_vs_c_ref/);
    const latest = JSON.parse(readFileSync(join(dir, 'gate-latest.json'), 'utf8'));
    const row = latest.verdict.rows.find((x: { id: string }) => x.id === 'queue_cpu_us_per_enqueue');
    assert.ok(row.current > cpu + burn * 0.5, `burned ${row.current} vs clean ${cpu}`);
    // The absolute figure sees the burn too, but only the ratios decide.
    assert.deepEqual([row.status, row.overTolerance], ['report only', true]);
    assert.ok(!latest.verdict.regressions.includes('queue_cpu_us_per_enqueue'));
    const smaller = JSON.parse(readFileSync(join(dir, 'gate-benchmark-smaller.json'), 'utf8'));
    assert.ok(smaller.some((e: { unit: string; value: number }) => e.unit === 'µs' && e.value === row.current));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a burn per connection fails the gate through the seed path on the emulated box, not through the persistent req/s', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-burn-conn-'));
  const common = ['--parts', 'stack', '-r', '1', '--stack-duration', '3', '--stack-warmup', '2', '--stack-concurrency', '100', '--baseline', join(dir, 'baseline.json'), '--out', dir, '--run-dir', join(dir, 'run')];
  try {
    const b = await gate(['baseline', ...common, '--allow-noisy']);
    assert.equal(b.code, 0, b.out + b.err);
    const base = JSON.parse(readFileSync(join(dir, 'baseline.json'), 'utf8'));
    const cpu = base.metrics.seed_queue_cpu_us_per_enqueue.value as number;
    assert.ok(cpu > 0);
    // Several times the whole per-enqueue cost, per connection: unmistakable whatever the machine's noise.
    const burn = Math.max(2000, Math.round(cpu * 5));
    const r = await gate(['run', ...common, '--burn-us', String(burn), '--burn-at', 'connection']);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /VERDICT: FAIL \(regression: [^)]*seed_queue_cpu_vs_2013/);
    const latest = JSON.parse(readFileSync(join(dir, 'gate-latest.json'), 'utf8'));
    const row = latest.verdict.rows.find((x: { id: string }) => x.id === 'seed_queue_cpu_us_per_enqueue');
    assert.ok(row.current > cpu + burn * 0.5, `burned ${row.current} vs clean ${cpu}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
