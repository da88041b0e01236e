// make bench on a CPU model with no calibration calibrates coarsely first: a line fitted through a few runs
// of the 2013-style stack (stand-in measure functions here, no stack), written marked coarse and reused by
// the next run; and CPUS=all keeps the whole-machine run on purpose, with no control and no calibration.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { coarseCalibrationIfNeeded, coarseCells, coarseQuota, COARSE_TOLERANCE, fitLine } from '../src/calibrate/coarse.js';
import { chooseBudget, readCalibration } from '../src/lab/budget.js';
import { resolveStack } from '../src/lab/resolve.js';
import { controlPlan, pairingOf } from '../src/run/bench.js';
import { PROFILES, resolveProfile } from '../src/plan/profiles.js';
import { machineInfo } from '../src/host/machine.js';

const TARGET = 43226;
/** The Xeon of the issue: medians 32k, 54k, 103k at 0.3, 0.4, 0.6 CPU; a line through them. */
const xeon = (c: number) => -35_000 + 228_000 * c;
/** This AMD VM: about 43k at 0.6 CPU. */
const amd = (c: number) => 8_100 + 58_500 * c;

/** A stand-in for two stacks at once: the machine's line, each run off by up to ±`noise` (deterministic). */
function standIn(line: (c: number) => number, noise: number) {
  const calls: number[][] = [];
  let k = 0;
  const measure = async (cpus: number[]) => {
    calls.push(cpus);
    // Alternating signs, so that no round is all high or all low.
    return cpus.map((c) => line(c) * (1 + noise * (k++ % 2 === 0 ? 1 : -1) * ((k % 3) + 1) / 3));
  };
  return { calls, measure };
}

test('fitLine: least squares through the points; no line when the budgets do not differ or it does not rise', () => {
  const f = fitLine([{ cpus: 0.3, pagesPerMin: 30_000 }, { cpus: 0.6, pagesPerMin: 60_000 }, { cpus: 0.45, pagesPerMin: 45_000 }])!;
  assert.ok(Math.abs(f.a) < 1e-6 && Math.abs(f.b - 100_000) < 1e-6);
  assert.equal(fitLine([{ cpus: 0.3, pagesPerMin: 1 }, { cpus: 0.3, pagesPerMin: 2 }]), null);
  assert.equal(fitLine([{ cpus: 0.3, pagesPerMin: 50_000 }, { cpus: 0.6, pagesPerMin: 40_000 }]), null);
});

for (const [name, line, noise] of [['the Xeon', xeon, 0.15], ['this AMD VM', amd, 0.15], ['a quiet machine', amd, 0]] as const) {
  test(`coarse calibration lands within ±15% on ${name} (runs ±${noise * 100}%), in at most 3 rounds of two stacks`, async () => {
    const s = standIn(line, noise);
    const r = await coarseQuota({ target: TARGET, hostCpus: 2, measure: s.measure });
    assert.ok(s.calls.length <= 3 && s.calls.every((c) => c.length === 2), JSON.stringify(s.calls));
    assert.ok(Math.abs(line(r.cpus) / TARGET - 1) <= COARSE_TOLERANCE, `${r.cpus} CPU gives ${Math.round(line(r.cpus))} on the true line: ${r.reason}`);
    if (r.within) assert.ok(Math.abs(r.median / TARGET - 1) <= COARSE_TOLERANCE);
    // After the first round, every round checks the line's answer at one budget, both stacks at once.
    for (const c of s.calls.slice(1)) assert.equal(c[0], c[1]);
  });
}

test('out of rounds, the line through every point is the answer, said unchecked', async () => {
  // Every check lands 25% high of a line that is right on average: never within ±15%, always the same slope.
  let k = 0;
  const r = await coarseQuota({
    target: TARGET, hostCpus: 2, maxRounds: 2,
    measure: async (cpus) => cpus.map((c) => amd(c) * (k++ < 2 ? 1 : 1.25)),
  });
  assert.equal(r.within, false);
  assert.match(r.reason, /2 rounds without a median within ±15%.*taken unchecked/);
  assert.ok(r.cpus > 0 && r.cpus < 0.8);
});

test('a measure that gives nothing usable is refused with the round and the budgets', async () => {
  await assert.rejects(coarseQuota({ target: TARGET, hostCpus: 2, measure: async () => [0, 1] }), /round 1: no usable figure at 0\.35, 0\.7 CPU/);
  await assert.rejects(coarseQuota({ target: TARGET, hostCpus: 2, measure: async () => [1] }), /no usable figure/);
});

/** A repo of its own: results/calibration/ empty, or holding `file`. */
function tempRepo(file?: object): { root: string; model: string; calFile: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-coarse-'));
  const model = 'Intel(R) Xeon(R) Processor';
  const calFile = path.join(root, 'results/calibration/intel-xeon-processor.json');
  if (file) {
    fs.mkdirSync(path.dirname(calFile), { recursive: true });
    fs.writeFileSync(calFile, JSON.stringify(file));
  }
  return { root, model, calFile };
}

test('no calibration for the CPU model: written, marked coarse, then reused by the next run', async () => {
  const { root, model, calFile } = tempRepo();
  try {
    const s = standIn(xeon, 0.1);
    const log: string[] = [];
    const o = {
      repoRoot: root, cpuModel: model, hostCpus: 2, target: TARGET, needed: true, measure: s.measure,
      settings: { concurrency: 10_000, duration_s: 20, warmup_s: 5 }, log: (l: string) => log.push(l),
    };
    const cal = await coarseCalibrationIfNeeded(o);
    assert.ok(cal);
    assert.match(log[0]!, /^no calibration for this CPU model \("Intel\(R\) Xeon\(R\) Processor", results\/calibration\/intel-xeon-processor\.json\): calibrating coarsely first/);
    const found = readCalibration(root, model)!;
    assert.equal(found.file, calFile);
    assert.equal(found.cal.coarse, true);
    assert.equal(found.cal.found, true);
    assert.equal(found.cal.cpus, cal.cpus);
    assert.equal(found.cal.quota_us, Math.round(cal.cpus! * 20_000));
    assert.ok(found.cal.points.length >= 2 && found.cal.points.every((p) => p.runs.length >= 1));
    assert.match(found.cal.command, /make bench \(coarse calibration/);
    // The budget the stacks then get says it is coarse, and where it came from.
    const b = chooseBudget({ repoRoot: root, cpuModel: model, hostCpus: 2, found });
    assert.equal(b.cpus, cal.cpus);
    assert.equal(b.use.file, 'results/calibration/intel-xeon-processor.json');
    assert.match(b.use.note, /coarsely calibrated by make bench.*'make calibrate' refines it/);
    // The next run measures nothing.
    const again = await coarseCalibrationIfNeeded(o);
    assert.equal(again, null);
    assert.equal(s.calls.length, found.cal.points.reduce((a, p) => a + p.runs.length, 0) / 2, 'no more rounds');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a calibration that found no quota is replaced by a coarse one; a full one, or a run that needs none, measures nothing', async () => {
  const failed = tempRepo({ schema_version: 1, cpu_model: 'Intel(R) Xeon(R) Processor', found: false, cpus: null, reason: 'unreachable', points: [] });
  const empty = tempRepo();
  const full = tempRepo({ schema_version: 1, cpu_model: 'Intel(R) Xeon(R) Processor', found: true, cpus: 0.37, quota_us: 7400, period_us: 20000, date: '2026-12-01', median_pages_per_min: 43000, reason: 'ok', points: [] });
  try {
    const base = { cpuModel: failed.model, hostCpus: 2, target: TARGET, settings: { concurrency: 1, duration_s: 1, warmup_s: 0 }, log: () => {} };
    const s = standIn(xeon, 0);
    assert.ok(await coarseCalibrationIfNeeded({ ...base, repoRoot: failed.root, needed: true, measure: s.measure }));
    assert.equal(readCalibration(failed.root, failed.model)!.cal.coarse, true);
    const none = standIn(xeon, 0);
    assert.equal(await coarseCalibrationIfNeeded({ ...base, repoRoot: full.root, needed: true, measure: none.measure }), null);
    assert.equal(await coarseCalibrationIfNeeded({ ...base, repoRoot: empty.root, needed: false, measure: none.measure }), null);
    assert.equal(none.calls.length, 0);
  } finally {
    for (const r of [failed, full, empty]) fs.rmSync(r.root, { recursive: true, force: true });
  }
});

test('coarse cells: the seed\'s clients and warm-up, a measured window of at most 20 s', () => {
  assert.deepEqual(coarseCells(PROFILES.seed!), { concurrency: 10_000, warmupS: 5, durationS: 20 });
});

test('CPUS=all: the whole machine on purpose, a calibration notwithstanding; no control, no projection', async () => {
  const cal = { found: true, cpus: 0.6, quota_us: 12000, period_us: 20000, median_pages_per_min: 43_000, date: '2026-11-28T02:00:00Z', reason: 'ok', points: [] };
  const b = chooseBudget({ repoRoot: '/r', cpuModel: 'AMD EPYC', hostCpus: 2, found: { file: '/r/results/calibration/amd-epyc.json', cal: cal as never }, explicitCpus: 'all' });
  assert.equal(b.cpus, 2);
  assert.equal(b.use.cpus, null, 'recorded as the whole machine, so the report labels it so');
  assert.equal(b.use.file, null);
  assert.match(b.use.note, /^WHOLE MACHINE \(2 CPUs\) on purpose \(--cpus all\)/);
  // The resolver gives the stack the whole machine even where a calibration exists.
  const r = await resolveStack('native', { cpus: 'all' }, '/tmp/x', {});
  assert.equal(r.budget.cpus, machineInfo().cores);
  assert.equal(r.budget.use.cpus, null);
  const seed = resolveProfile('seed', {}, {});
  assert.deepEqual(controlPlan({ cpus: 'all', runtime: 'native' }, seed), { on: false, why: 'CPUS=all: the whole machine on purpose, no 2013 box to project onto' });
  assert.equal(controlPlan({ runtime: 'native' }, seed).on, true, 'by default the control runs beside the seed');
  assert.equal(controlPlan({ cpus: 0.5, runtime: 'auto' }, seed).on, true);
  assert.equal(controlPlan({ runtime: 'native' }, resolveProfile('baseline', {}, {})).on, false);
  assert.equal(controlPlan({ runtime: 'native' }, resolveProfile('seed2013', {}, {})).on, false);
  assert.equal(controlPlan({ runtime: 'native', url: 'http://x' }, seed).on, false);
  assert.equal(controlPlan({ runtime: 'native', control: false }, seed).on, false);
  assert.deepEqual([pairingOf({ tool: 'node' }).mode, pairingOf({ tool: 'webbench' }).mode, pairingOf({ tool: 'node', pairing: 'alternate' }).mode], ['at-once', 'alternate', 'alternate']);
});
