// The quota bisection on stand-in measure functions: a monotone stack, a noisy one, targets out of reach.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bisectQuota, type BisectOptions } from '../src/calibrate/bisect.js';
import { chooseBudget, cpuModelSlug, type CalibrationFile } from '../src/lab/budget.js';

const TARGET = 43_226;
/** A stack whose pages/min grow linearly with its CPU budget (the shape measured here: ~131k per CPU). */
const linear = (perCpu: number) => async (cpus: number) => [perCpu * cpus, perCpu * cpus, perCpu * cpus];
const base = (measure: BisectOptions['measure']): BisectOptions => ({
  lo: 0.2, hi: 1.0, target: TARGET, tolerance: 0.03, maxSteps: 12, minWidth: 0.002, measure,
});

test('a monotone stack: the quota found gives the target within ±3 %, and every point is recorded', async () => {
  const seen: number[] = [];
  const r = await bisectQuota(base(async (c) => {
    seen.push(c);
    return linear(131_000)(c);
  }));
  assert.equal(r.found, true, r.reason);
  assert.ok(Math.abs(r.median! - TARGET) <= 0.03 * TARGET, `median ${r.median}`);
  assert.ok(Math.abs(r.cpus! - TARGET / 131_000) < 0.015, `cpus ${r.cpus}`);
  assert.deepEqual(r.points.map((p) => p.cpus), seen, 'the points are the measured budgets, in order');
  assert.equal(seen[0], 0.6, 'bisection starts in the middle of the bracket');
  // Each new point lies inside the bracket left by the previous ones.
  assert.ok(r.points.length <= 6, `${r.points.length} points`);
});

test('the median of the repetitions decides, not one outlier run', async () => {
  // One run in three is wildly off (a neighbour's burst); the median ignores it.
  const r = await bisectQuota(base(async (c) => [131_000 * c, 131_000 * c * 0.3, 131_000 * c * 1.01]));
  assert.equal(r.found, true, r.reason);
  assert.ok(Math.abs(r.median! - TARGET) <= 0.03 * TARGET);
  assert.equal(r.points[0]!.median, 131_000 * 0.6, 'median of [x, 0.3x, 1.01x] is x');
});

test('a noisy stack (±2 % per run, seeded) still converges within the tolerance', async () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const r = await bisectQuota(base(async (c) => [0, 1, 2].map(() => 131_000 * c * (1 + 0.02 * rnd()))));
  assert.equal(r.found, true, r.reason);
  assert.ok(Math.abs(r.median! - TARGET) <= 0.03 * TARGET);
});

test('a target out of reach above the bracket says so and names the nearest point', async () => {
  const r = await bisectQuota(base(linear(20_000))); // even 1 CPU gives 20k
  assert.equal(r.found, false);
  assert.equal(r.cpus, null);
  assert.match(r.reason, /unreachable.*raise --hi/);
  assert.ok(r.nearest!.cpus > 0.95, `nearest ${r.nearest!.cpus}`);
});

test('a target below the bracket says so', async () => {
  const r = await bisectQuota(base(linear(1_000_000))); // 0.2 CPU already gives 200k
  assert.equal(r.found, false);
  assert.match(r.reason, /below the bracket.*lower --lo/);
});

test('a figure that jumps across the target (a step) ends with the bracket narrowed, not a false success', async () => {
  const r = await bisectQuota(base(async (c) => (c < 0.33 ? [30_000] : [60_000])));
  assert.equal(r.found, false);
  assert.match(r.reason, /narrowed|resolution/);
  assert.ok(r.points.length <= 12);
});

test('maxSteps bounds the work', async () => {
  let n = 0;
  const r = await bisectQuota({ ...base(async (c) => (n++, linear(131_000)(c))), maxSteps: 2 });
  assert.equal(n, 2);
  assert.equal(r.found, false);
  assert.match(r.reason, /after 2 points/);
});

test('bad brackets and a measure that gives nothing are refused with a clear error', async () => {
  await assert.rejects(bisectQuota({ ...base(linear(1)), lo: 1, hi: 0.5 }), /0 < lo < hi/);
  await assert.rejects(bisectQuota(base(async () => [])), /no usable figure/);
  await assert.rejects(bisectQuota(base(async () => [Number.NaN])), /no usable figure/);
});

test('cpuModelSlug and chooseBudget: calibrated when the model matches, whole machine said loudly otherwise', () => {
  assert.equal(cpuModelSlug('AMD EPYC'), 'amd-epyc');
  assert.equal(cpuModelSlug('Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz'), 'intel-core-i7-8650u-cpu');
  const cal = { found: true, cpus: 0.33, quota_us: 1650, period_us: 5000, median_pages_per_min: 43_000, date: '2026-11-28T02:00:00Z', reason: 'ok' } as CalibrationFile;
  const used = chooseBudget({ repoRoot: '/r', cpuModel: 'AMD EPYC', hostCpus: 2, found: { file: '/r/results/calibration/amd-epyc.json', cal } });
  assert.deepEqual([used.cpus, used.periodUs, used.use.file, used.use.quota_us], [0.33, 5000, 'results/calibration/amd-epyc.json', 1650]);
  const none = chooseBudget({ repoRoot: '/r', cpuModel: 'AMD EPYC', hostCpus: 2, found: null });
  assert.equal(none.cpus, 2);
  assert.equal(none.use.cpus, null);
  assert.match(none.use.note, /^WHOLE MACHINE.*no calibration.*make calibrate/);
  const failed = chooseBudget({ repoRoot: '/r', cpuModel: 'AMD EPYC', hostCpus: 2, found: { file: '/r/x.json', cal: { ...cal, found: false, cpus: null, reason: 'unreachable' } } });
  assert.match(failed.use.note, /WHOLE MACHINE.*found no quota \(unreachable\)/);
  const explicit = chooseBudget({ repoRoot: '/r', cpuModel: 'AMD EPYC', hostCpus: 2, found: { file: '/r/x.json', cal }, explicitCpus: 0.5 });
  assert.deepEqual([explicit.cpus, explicit.use.file], [0.5, null]);
});

test('once the target is bracketed, interpolation aims at ±1 % in few points', async () => {
  // An offset line, as measured here (8.1k + 53.3k per CPU): plain midpoints would need many more points.
  const line = (c: number) => 8_100 + 53_300 * c;
  const r = await bisectQuota({ ...base(async (c) => [line(c)]), aim: 0.01 });
  assert.equal(r.found, true, r.reason);
  assert.ok(Math.abs(r.median! - TARGET) <= 0.01 * TARGET, `median ${r.median}`);
  assert.ok(r.points.length <= 4, `${r.points.length} points: ${r.points.map((p) => p.cpus).join(', ')}`);
  // Every point after the first two lies strictly inside the bracket the earlier points left.
  for (let i = 2; i < r.points.length; i++) {
    const before = r.points.slice(0, i);
    const lo = Math.max(0.2, ...before.filter((p) => p.median < TARGET).map((p) => p.cpus));
    const hi = Math.min(1.0, ...before.filter((p) => p.median >= TARGET).map((p) => p.cpus));
    assert.ok(r.points[i]!.cpus > lo && r.points[i]!.cpus < hi, `point ${i} at ${r.points[i]!.cpus} outside (${lo}, ${hi})`);
  }
});

test('when no point comes within the aim, the nearest one within the tolerance is taken, and the reason says so', async () => {
  // A stack that alternates 2 % above and 2 % below the line: ±1 % is never met, ±3 % is.
  let flip = 1;
  const r = await bisectQuota({ ...base(async (c) => [131_000 * c * (1 + 0.02 * (flip = -flip))]), aim: 0.01, maxSteps: 5 });
  assert.equal(r.found, true, r.reason);
  assert.ok(Math.abs(r.median! - TARGET) <= 0.03 * TARGET);
  assert.ok(Math.abs(r.median! - TARGET) > 0.01 * TARGET);
  assert.match(r.reason, /nearest of 5 points.*none came within ±1%/);
  assert.equal(r.cpus, r.nearest!.cpus);
});
