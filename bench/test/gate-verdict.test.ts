// The gate's decision logic: medians, spread, tolerances, directions, correctness, and the output formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, cv } from '@eserver-lab/common/stats';
import { judge, renderVerdict, githubActionBenchmark } from '../src/gate/verdict.js';
import { buildBaseline, toleranceFor, readBaseline, writeBaseline, noisyMetrics, type Baseline } from '../src/gate/baseline.js';
import type { MetricRepetitions, CorrectnessCheck } from '../src/gate/metrics.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const s = (id: string, values: number[]): MetricRepetitions => ({ id, values, median: median(values), cv: cv(values) });
const ok: CorrectnessCheck = { id: 'proto_failed', name: '0 failed', ok: true, detail: '0 failed' };

function baseline(): Baseline {
  return {
    schema: 'eserver-lab/gate-baseline@1', updatedAt: 'x', command: 'test', machine: {}, settings: {},
    metrics: {
      queue_cpu_vs_c_ref: { value: 100, tolerance: 0.06, direction: 'smaller', unit: 'ratio', cv: 0.01, repetitions: 3 },
      queue_cpu_us_per_enqueue: { value: 100, tolerance: 0.06, direction: 'smaller', unit: 'µs', cv: 0.01, repetitions: 3 },
      stack_ratio: { value: 0.8, tolerance: 0.1, direction: 'bigger', unit: 'ratio', cv: 0.02, repetitions: 3 },
    },
  };
}

test('median and coefficient of variation', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(cv([5]), 0);
  assert.ok(Math.abs(cv([9, 10, 11]) - 0.1) < 1e-12);
});

test('a smaller-is-better metric fails only beyond its tolerance, and improvements pass', () => {
  const b = baseline();
  assert.equal(judge([s('queue_cpu_vs_c_ref', [105, 106, 104])], [ok], b).pass, true);
  const slow = judge([s('queue_cpu_vs_c_ref', [110, 111, 109])], [ok], b);
  assert.equal(slow.pass, false);
  assert.deepEqual(slow.regressions, ['queue_cpu_vs_c_ref']);
  assert.ok(Math.abs(slow.rows[0].change! - 0.1) < 1e-12);
  assert.equal(judge([s('queue_cpu_vs_c_ref', [50, 50, 50])], [ok], b).pass, true);
});

test('the absolute CPU per enqueue is compared and flagged, but does not decide', () => {
  const v = judge([s('queue_cpu_us_per_enqueue', [150, 150, 150]), s('queue_cpu_vs_c_ref', [100, 100, 100])], [ok], baseline());
  assert.equal(v.pass, true);
  assert.deepEqual(v.regressions, []);
  const row = v.rows.find((r) => r.id === 'queue_cpu_us_per_enqueue')!;
  assert.equal(row.status, 'report only');
  assert.equal(row.overTolerance, true);
  assert.match(renderVerdict(v), /report only: beyond tolerance/);
  const within = judge([s('queue_cpu_us_per_enqueue', [101])], [ok], baseline()).rows[0];
  assert.equal(within.overTolerance, false);
  assert.equal(within.status, 'report only');
});

test('a bigger-is-better metric fails when it drops beyond tolerance; the median ignores one outlier', () => {
  const b = baseline();
  assert.equal(judge([s('stack_ratio', [0.7, 0.71, 0.69])], [ok], b).pass, false);
  assert.equal(judge([s('stack_ratio', [0.2, 0.8, 0.79])], [ok], b).pass, true);
  assert.equal(judge([s('stack_ratio', [0.95, 0.9, 0.99])], [ok], b).pass, true);
});

test('an unmeasurable metric and a correctness failure both fail the verdict; no baseline only reports', () => {
  const b = baseline();
  assert.equal(judge([s('stack_ratio', [NaN])], [ok], b).pass, false);
  const bad = judge([s('stack_ratio', [0.8])], [{ ...ok, ok: false, detail: '3 failed' }], b);
  assert.equal(bad.pass, false);
  assert.deepEqual(bad.correctnessFailures, ['proto_failed']);
  assert.match(renderVerdict(bad), /VERDICT: FAIL \(correctness: proto_failed\)/);
  const none = judge([s('drain_vs_raw_insert', [0.5])], [ok], b);
  assert.equal(none.rows[0].status, 'no baseline');
  assert.equal(none.pass, true);
});

test('tolerance widens with measured noise, keeps a wider previous choice, and is never below the default', () => {
  assert.equal(toleranceFor(s('queue_cpu_us_per_enqueue', [100, 100, 100])), 0.06);
  // CV 5% over 3 repetitions: 3 × 1.25 × 0.05 / √3 ≈ 10.8%.
  assert.equal(toleranceFor(s('queue_cpu_us_per_enqueue', [95, 100, 105])), 0.108);
  // A 6-repetition baseline judged against 3-repetition runs: the runs' noise sets the tolerance.
  assert.equal(toleranceFor(s('queue_cpu_us_per_enqueue', [95, 100, 105, 95, 100, 105]), undefined, 3), 0.097);
  assert.equal(toleranceFor(s('queue_cpu_us_per_enqueue', [95, 100, 105, 95, 100, 105])), 0.068);
  const noisy = s('queue_cpu_vs_c_ref', [85, 100, 115]);
  // Never so wide that the metric could not fail any more.
  assert.equal(toleranceFor(s('stack_ratio', [0.2, 0.3, 0.7])), 0.3);
  assert.deepEqual(noisyMetrics([noisy, s('stack_ratio', [1, 1.01, 0.99])]).map((x) => x.id), ['queue_cpu_vs_c_ref']);
  // The same 15% spread over 12 repetitions pins the median down well enough to judge against.
  assert.deepEqual(noisyMetrics([s('queue_cpu_vs_c_ref', [85, 100, 115, 85, 100, 115, 85, 100, 115, 85, 100, 115])]), []);
  // A metric that does not decide does not block a baseline, however it spreads.
  assert.deepEqual(noisyMetrics([s('queue_cpu_us_per_enqueue', [50, 100, 150])]), []);
  // A repetition that measured nothing does not count towards r.
  assert.equal(noisyMetrics([s('stack_ratio', [NaN, NaN, NaN, 0.9, 1.1])]).length, 1);
  const prev = baseline().metrics.queue_cpu_us_per_enqueue;
  assert.equal(toleranceFor(s('queue_cpu_us_per_enqueue', [100, 100, 100]), { ...prev, tolerance: 0.09 }), 0.09);
});

test('buildBaseline keeps metrics that this run did not measure; the file round-trips and is validated', () => {
  const prev = baseline();
  const b = buildBaseline([s('queue_cpu_us_per_enqueue', [90, 91, 92])], prev, { command: 'make bench-baseline', machine: {}, settings: {} });
  assert.equal(b.metrics.queue_cpu_us_per_enqueue.value, 91);
  assert.equal(b.metrics.queue_cpu_us_per_enqueue.tolerance, 0.06, 'computed afresh, not inherited');
  const kept = buildBaseline([s('queue_cpu_us_per_enqueue', [90, 91, 92])], { ...prev, metrics: { ...prev.metrics, queue_cpu_us_per_enqueue: { ...prev.metrics.queue_cpu_us_per_enqueue, tolerance: 0.12 } } }, { command: 'x', machine: {}, settings: {} }, true);
  assert.equal(kept.metrics.queue_cpu_us_per_enqueue.tolerance, 0.12);
  assert.equal(b.metrics.queue_cpu_us_per_enqueue.direction, 'smaller');
  assert.deepEqual(b.metrics.stack_ratio, prev.metrics.stack_ratio);
  const dir = mkdtempSync(join(tmpdir(), 'gate-'));
  try {
    const f = join(dir, 'baseline.json');
    writeBaseline(f, b);
    assert.deepEqual(readBaseline(f), b);
    assert.equal(readBaseline(join(dir, 'missing.json')), null);
    writeFileSync(f, JSON.stringify({ ...b, metrics: { x: { value: 1, tolerance: 0.1, direction: 'up' } } }));
    assert.throws(() => readBaseline(f), /direction/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('github-action-benchmark output splits metrics by direction', () => {
  const v = judge([s('queue_cpu_us_per_enqueue', [100]), s('stack_ratio', [0.8])], [ok], baseline());
  const g = githubActionBenchmark(v);
  // Report-only metrics are published too: a trend chart is where their drift is worth watching.
  assert.deepEqual(g.smaller.map((e) => [e.unit, e.value]), [['µs', 100]]);
  assert.deepEqual(g.bigger.map((e) => [e.unit, e.value]), [['ratio', 0.8]]);
  assert.ok(g.bigger.every((e) => typeof e.name === 'string' && e.name.length > 0));
});
