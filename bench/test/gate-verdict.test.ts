// The gate's decision, on hand-made figures: candidate ÷ reference medians against 1 within tolerances that
// an A/A run set, report-only figures that never decide, correctness that always does, and the baseline file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cv, median } from '@eserver-lab/common/stats';
import { judge, renderVerdict, githubActionBenchmark } from '../src/gate/verdict.js';
import { readBaseline, toleranceFromAa, tolerancesFromAa, writeBaseline, MAX_TOLERANCE, MIN_TOLERANCE, Z, type Baseline } from '../src/gate/baseline.js';
import type { MetricRepetitions } from '../src/gate/metrics.js';
import type { CorrectnessCheck } from '../src/gate/part.js';

const s = (id: string, values: number[]): MetricRepetitions => ({ id, values, median: median(values), cv: cv(values) });
const ok: CorrectnessCheck = { id: 'proto_failed', name: '0 failed', ok: true, detail: '0 failed' };
const aa = (tolerance: number) => ({ tolerance, values: [1, 1.01, 0.99], median: 1, sd_log: 0.01 });

function baseline(): Baseline {
  return {
    schema: 'eserver-lab/gate-baseline@2',
    reference: { commit: 'a'.repeat(40), subject: 'x', accepted_at: 'x' },
    tolerances: {
      taken_at: 'x', command: 'test', commit: 'a'.repeat(40), machine: { model: 'test' }, settings: {}, judged_repetitions: 5, z: Z,
      metrics: { proto_conn_cpu: aa(0.05), proto_persistent_rps: aa(0.04) },
    },
    record: { stack_queue_cpu_us: 100 },
  };
}

test('a smaller-is-better ratio fails only when its median is worse than 1 by more than its tolerance', () => {
  const b = baseline();
  assert.equal(judge([s('proto_conn_cpu', [1.04, 1.06, 1.03, 1.05, 1.02])], [ok], b).pass, true);
  const slow = judge([s('proto_conn_cpu', [1.07, 1.09, 1.06, 1.12, 1.08])], [ok], b);
  assert.equal(slow.pass, false);
  assert.deepEqual(slow.regressions, ['proto_conn_cpu']);
  assert.ok(Math.abs(slow.rows[0]!.change! - 0.08) < 1e-12);
  // Faster than the reference is never a regression.
  assert.equal(judge([s('proto_conn_cpu', [0.5, 0.5, 0.5])], [ok], b).pass, true);
});

test('a bigger-is-better ratio fails when it drops beyond its tolerance; the median ignores one outlier', () => {
  const b = baseline();
  assert.equal(judge([s('proto_persistent_rps', [0.95, 0.94, 0.95])], [ok], b).pass, false);
  assert.equal(judge([s('proto_persistent_rps', [0.5, 0.99, 1.01])], [ok], b).pass, true);
  assert.equal(judge([s('proto_persistent_rps', [1.3, 1.2, 1.25])], [ok], b).pass, true);
});

test('without an A/A tolerance a ratio is judged with its default one, and the output says so', () => {
  const b = { ...baseline(), tolerances: null };
  const v = judge([s('proto_conn_cpu', [1.07])], [ok], b);
  assert.equal(v.rows[0]!.toleranceFrom, 'default');
  assert.equal(v.pass, true);
  assert.equal(judge([s('proto_conn_cpu', [1.09])], [ok], b).pass, false);
  assert.match(renderVerdict(v), /none: default tolerance/);
});

test('absolute figures are shown beside the ones on record, and never decide however far they moved', () => {
  const v = judge([s('stack_queue_cpu_us', [300, 310, 305]), s('proto_conn_cpu', [1, 1, 1])], [ok], baseline());
  assert.equal(v.pass, true);
  const row = v.rows.find((r) => r.id === 'stack_queue_cpu_us')!;
  assert.equal(row.status, 'report only');
  assert.equal(row.recorded, 100);
  assert.ok(Math.abs(row.change! - 2.05) < 1e-12);
  assert.match(renderVerdict(v), /for the record only/);
});

test('a ratio that could not be measured fails; a failed correctness check fails whatever the ratios say', () => {
  assert.equal(judge([s('proto_persistent_rps', [NaN])], [ok], baseline()).pass, false);
  const lost: CorrectnessCheck = { id: 'stack_lost_rows', name: '0 lost', ok: false, detail: '3 lost' };
  const v = judge([s('proto_persistent_rps', [1, 1, 1])], [ok, lost], baseline());
  assert.equal(v.pass, false);
  assert.deepEqual(v.correctnessFailures, ['stack_lost_rows']);
  assert.match(renderVerdict(v), /VERDICT: FAIL \(correctness: stack_lost_rows\)/);
});

test('the verdict shows the A/A spread each tolerance came from', () => {
  const out = renderVerdict(judge([s('proto_conn_cpu', [1.01, 1, 0.99])], [ok], baseline()));
  assert.match(out, /\| 5\.0% \| 1\.000, 1\.0% \(n=3\) \| pass \|/);
  assert.match(out, /VERDICT: PASS/);
});

test('an A/A tolerance: z standard errors of a median of the judged repetitions, plus the A/A median\'s own distance from 1', () => {
  // ln-ratios of ±2%: sd of ln(values) = 0.02 (to the 4th digit).
  const values = [Math.exp(-0.02), 1, Math.exp(0.02), Math.exp(-0.02), 1, Math.exp(0.02)];
  const t = toleranceFromAa(values, 5);
  const sd = Math.sqrt((4 * 0.02 ** 2) / 5);
  assert.ok(Math.abs(t.sd_log - sd) < 1e-4);
  assert.ok(Math.abs(t.tolerance - (Math.exp((Z * 1.2533 * sd) / Math.sqrt(5)) - 1)) < 1e-3, String(t.tolerance));
  // More judged repetitions, a tighter tolerance.
  assert.ok(toleranceFromAa(values, 9).tolerance < t.tolerance);
  // An A/A median off 1 widens it by that much.
  const shifted = toleranceFromAa(values.map((v) => v * 1.03), 5);
  assert.ok(Math.abs(shifted.tolerance - (Math.exp(Math.log(1.03) + (Z * 1.2533 * sd) / Math.sqrt(5)) - 1)) < 1e-3);
  // Bounded both ways.
  assert.equal(toleranceFromAa([1, 1, 1], 5).tolerance, MIN_TOLERANCE);
  assert.equal(toleranceFromAa([0.5, 1.5, 1, 2], 5).tolerance, MAX_TOLERANCE);
});

test('tolerances are written for deciding ratios only', () => {
  const t = tolerancesFromAa([s('proto_conn_cpu', [1, 1.01, 0.99]), s('stack_queue_cpu_us', [100, 101, 99])], {
    taken_at: 'x', command: 'x', commit: 'a'.repeat(40), machine: {}, settings: {}, judged_repetitions: 5,
  });
  assert.deepEqual(Object.keys(t.metrics), ['proto_conn_cpu']);
});

test('the baseline file round-trips, and a file that is not one is refused with the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-baseline-'));
  try {
    const f = join(dir, 'b.json');
    writeBaseline(f, baseline());
    assert.deepEqual(readBaseline(f), baseline());
    writeFileSync(f, JSON.stringify({ schema: 'eserver-lab/gate-baseline@1', metrics: {} }));
    assert.throws(() => readBaseline(f), /make bench-gate-accept/);
    writeFileSync(f, JSON.stringify({ ...baseline(), reference: { commit: 'HEAD' } }));
    assert.throws(() => readBaseline(f), /full commit hash/);
    assert.throws(() => readBaseline(join(dir, 'none.json')), /missing.*make bench-gate-accept/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('github-action-benchmark files: one per direction', () => {
  const v = judge([s('proto_conn_cpu', [1.02]), s('proto_persistent_rps', [0.99]), s('stack_queue_cpu_us', [200])], [ok], baseline());
  const g = githubActionBenchmark(v);
  assert.deepEqual(g.smaller.map((e) => e.unit), ['ratio', 'µs']);
  assert.deepEqual(g.bigger.map((e) => e.value), [0.99]);
});
