// make bench's own coarse calibration, for a CPU model with no calibration file: a few short runs of the
// 2013-style stack, two stacks at once (as the bench then runs ours beside it), and a straight line fitted
// through them. Pages/min is close to affine in the quota, and single runs here spread by up to 30%, so the
// line (least squares over every point) is what decides, never one run against the target: bisection on
// noise is what made make calibrate chase it. The projection carries the rest, so ±15% of the seed is enough.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median } from '@eserver-lab/common/stats';
import { quotaFor } from '../host/cgroup.js';
import { DEFAULT_CPU_PERIOD_US } from '@eserver-lab/common/stack-spec';
import { gitCommit } from '../host/machine.js';
import { calibrationPath, cpuModelSlug, readCalibration, type CalibrationFile, type CalibrationPoint } from '../lab/budget.js';
import { resolveProfile, type Profile } from '../plan/profiles.js';
import { runTogether } from '../run/profile.js';
import { withStacks } from '../stack/session.js';
import { calibrationHost } from './run.js';

/** The control within this share of the seed's figure counts as the 2013 operating point. */
export const COARSE_TOLERANCE = 0.15;
/** The first round's two budgets: they bracket the seed on the machines seen so far (AMD about 0.6 CPU, Xeon about 0.37). */
export const COARSE_START: readonly [number, number] = [0.35, 0.7];
export const COARSE_ROUNDS = 3;

/**
 * The seed's load (its clients and warm-up) with a shorter measured window: three rounds must fit in
 * about 3 minutes, and the line through every point, not one run, decides.
 */
export function coarseCells(seed: Pick<Profile, 'concurrency' | 'warmupS' | 'durationS'>): { concurrency: number; warmupS: number; durationS: number } {
  return { concurrency: seed.concurrency, warmupS: seed.warmupS, durationS: Math.min(seed.durationS, 20) };
}

export interface CoarsePoint {
  cpus: number;
  pagesPerMin: number;
  round: number;
}

export interface CoarseOptions {
  target: number;
  hostCpus: number;
  start?: readonly [number, number];
  tolerance?: number;
  maxRounds?: number;
  /** The 2013-style stack at these budgets, loaded at once, one stack per budget: pages/min of each, in order. */
  measure: (cpus: number[], round: number) => Promise<number[]>;
  /** Snaps a budget to what the kernel can hold. Default: 4 decimals. */
  snap?: (cpus: number) => number;
  onRound?: (round: number, points: CoarsePoint[], next: { cpus: number; why: string } | null) => void;
}

export interface CoarseResult {
  cpus: number;
  /** The last round's median at `cpus` was within the tolerance of the target. */
  within: boolean;
  /** Median of the measurements at `cpus`. */
  median: number;
  points: CoarsePoint[];
  /** pages/min ≈ a + b × cpus, over every point. */
  fit: { a: number; b: number } | null;
  reason: string;
}

/** Least squares line through the points; null when the budgets do not differ or the line does not rise. */
export function fitLine(points: ReadonlyArray<{ cpus: number; pagesPerMin: number }>): { a: number; b: number } | null {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, p) => s + p.cpus, 0) / n;
  const my = points.reduce((s, p) => s + p.pagesPerMin, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.cpus - mx) ** 2, 0);
  if (sxx < 1e-12) return null;
  const b = points.reduce((s, p) => s + (p.cpus - mx) * (p.pagesPerMin - my), 0) / sxx;
  return b > 0 ? { a: my - b * mx, b } : null;
}

/**
 * The budget at which the line says the target, kept where two stacks at once leave the generator a CPU.
 * With no usable line (noise swamped the slope), pages/min in proportion to the quota, median over the points.
 */
function solve(points: CoarsePoint[], target: number, hostCpus: number): { cpus: number; fit: { a: number; b: number } | null; why: string } {
  const fit = fitLine(points);
  // Two stacks at once must leave the load generators some of the machine.
  const most = Math.max(0.05, hostCpus * 0.4);
  const clamp = (c: number) => Math.min(most, Math.max(0.05, c));
  if (fit) {
    const c = (target - fit.a) / fit.b;
    return { cpus: clamp(c), fit, why: `line ${Math.round(fit.a)} + ${Math.round(fit.b)} × CPU over ${points.length} points gives ${target} at ${c.toFixed(3)} CPU${clamp(c) !== c ? ` (kept to ${clamp(c).toFixed(3)})` : ''}` };
  }
  const c = median(points.map((p) => (p.cpus * target) / p.pagesPerMin));
  return { cpus: clamp(c), fit: null, why: `no rising line through the points: in proportion, ${c.toFixed(3)} CPU` };
}

export async function coarseQuota(o: CoarseOptions): Promise<CoarseResult> {
  const tol = o.tolerance ?? COARSE_TOLERANCE;
  const rounds = o.maxRounds ?? COARSE_ROUNDS;
  const snap = o.snap ?? ((c: number) => Math.round(c * 10_000) / 10_000);
  if (!(o.target > 0) || rounds < 2) throw new Error('coarse calibration: the target must be positive and at least 2 rounds allowed');
  const points: CoarsePoint[] = [];
  let budgets = (o.start ?? COARSE_START).map(snap);
  for (let round = 1; ; round++) {
    const got = await o.measure(budgets, round);
    if (got.length !== budgets.length || got.some((v) => !Number.isFinite(v) || v <= 0)) {
      throw new Error(`coarse calibration, round ${round}: no usable figure at ${budgets.join(', ')} CPU (got ${JSON.stringify(got)})`);
    }
    budgets.forEach((cpus, i) => points.push({ cpus, pagesPerMin: got[i]!, round }));
    const at = budgets[0]!;
    const same = budgets.every((b) => b === at);
    const m = median(got);
    // A round at one budget (after the first) is a check of the line's answer.
    if (same && Math.abs(m - o.target) <= tol * o.target) {
      o.onRound?.(round, points, null);
      return { cpus: at, within: true, median: m, points, fit: fitLine(points), reason: `median ${Math.round(m)} at ${at} CPU is within ±${tol * 100}% of ${o.target} (round ${round})` };
    }
    const next = solve(points, o.target, o.hostCpus);
    if (round >= rounds) {
      // Out of rounds: the line through every point is a better answer than the last point alone.
      o.onRound?.(round, points, null);
      const reason =
        `${round} rounds without a median within ±${tol * 100}% (the last: ${Math.round(m)} at ${at} CPU, ${((m / o.target - 1) * 100).toFixed(1)}%); ` +
        `${next.why}: taken unchecked`;
      return { cpus: snap(next.cpus), within: false, median: NaN, points, fit: next.fit, reason };
    }
    const c = snap(next.cpus);
    o.onRound?.(round, points, { cpus: c, why: next.why });
    budgets = [c, c];
  }
}

export interface CoarseFileOptions {
  result: CoarseResult;
  target: number;
  periodUs: number;
  settings: { concurrency: number; duration_s: number; warmup_s: number };
  cpuModel: string;
  startedAt: Date;
  elapsedS: number;
  loadBefore: number[];
  commit: string | null;
  versions: Record<string, string>;
}

/** The calibration file of a coarse result, marked coarse. */
export function coarseFile(o: CoarseFileOptions): CalibrationFile {
  const r = o.result;
  const q = quotaFor(r.cpus, o.periodUs);
  const byCpus = new Map<number, number[]>();
  for (const p of r.points) byCpus.set(p.cpus, [...(byCpus.get(p.cpus) ?? []), p.pagesPerMin]);
  const points: CalibrationPoint[] = [...byCpus].map(([cpus, runs]) => {
    const pq = quotaFor(cpus, o.periodUs);
    return { cpus, quota_us: pq.quotaUs, period_us: pq.periodUs, runs, median: median(runs) };
  });
  return {
    schema_version: 1,
    cpu_model: o.cpuModel,
    slug: cpuModelSlug(o.cpuModel),
    target_pages_per_min: o.target,
    tolerance: COARSE_TOLERANCE,
    found: true,
    coarse: true,
    cpus: r.cpus,
    quota_us: q.quotaUs,
    period_us: q.periodUs,
    median_pages_per_min: Number.isFinite(r.median) ? Math.round(r.median) : null,
    reason: `coarse (make bench): ${r.reason}${r.fit ? `; fit ${Math.round(r.fit.a)} + ${Math.round(r.fit.b)} pages/min per CPU` : ''}`,
    points,
    settings: {
      ...o.settings, repetitions: 2, lo: COARSE_START[0], hi: COARSE_START[1], max_steps: COARSE_ROUNDS, profile: 'seed2013 (two stacks at once)',
    },
    command: 'make bench (coarse calibration: no calibration file for this CPU model)',
    commit: o.commit,
    date: o.startedAt.toISOString(),
    elapsed_s: o.elapsedS,
    versions: o.versions,
    host: calibrationHost(o.loadBefore),
  };
}

/**
 * Before a bench on stacks with no --cpus: when this CPU model has no usable calibration file (none, or one
 * that found no quota), calibrate coarsely and write the file, marked coarse; the next run reuses it.
 * Returns the file written, or null when there was nothing to do.
 */
/**
 * Whether make bench may calibrate coarsely before its run: only when the run's stacks take the calibrated
 * budget (no --url, no --cpus) and run on this machine natively, where the 2013-style stack it measures runs
 * (it has no container image). RUNTIME=auto with an engine on another machine (DOCKER_HOST, a context) runs
 * there or not at all: that host's calibration, or its whole machine (lab/budget.ts).
 */
export function coarseCalibrationWanted(o: { url?: string; cpus?: number | 'all'; runtime: string; remoteEngine: boolean }): boolean {
  if (o.url || o.cpus !== undefined || o.runtime === 'docker') return false;
  return !(o.runtime === 'auto' && o.remoteEngine);
}

export async function coarseCalibrationIfNeeded(o: {
  repoRoot: string;
  cpuModel: string;
  hostCpus: number;
  target: number;
  /** Whether the run starts stacks with the calibrated budget (no --url, no --cpus). */
  needed: boolean;
  measure: CoarseOptions['measure'];
  settings: CoarseFileOptions['settings'];
  log: (line: string) => void;
  versions?: () => Record<string, string>;
}): Promise<CalibrationFile | null> {
  if (!o.needed) return null;
  const found = readCalibration(o.repoRoot, o.cpuModel);
  if (found?.cal.found && found.cal.cpus !== null) return null;
  const file = calibrationPath(o.repoRoot, o.cpuModel);
  const rel = path.relative(o.repoRoot, file);
  o.log(
    `no calibration for this CPU model ("${o.cpuModel}", ${rel}${found ? `: it found no quota` : ''}): calibrating coarsely first ` +
      `(the 2013-style stack within ±${COARSE_TOLERANCE * 100}% of ${o.target} pages/min, a line fitted through at most ${COARSE_ROUNDS} rounds of two stacks at once; 'make calibrate' refines it)`,
  );
  const startedAt = new Date();
  const loadBefore = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const periodUs = DEFAULT_CPU_PERIOD_US;
  const result = await coarseQuota({
    target: o.target, hostCpus: o.hostCpus, measure: o.measure,
    snap: (c) => quotaFor(c, periodUs).quotaUs / quotaFor(c, periodUs).periodUs,
    onRound: (round, points, next) => {
      const last = points.filter((p) => p.round === round).map((p) => `${p.cpus} CPU: ${p.pagesPerMin}`).join(', ');
      o.log(`coarse calibration, round ${round}: ${last}${next ? `; ${next.why}: next ${next.cpus} CPU` : ''}`);
    },
  });
  const cal = coarseFile({
    result, target: o.target, periodUs, settings: o.settings, cpuModel: o.cpuModel, startedAt,
    elapsedS: Math.round((Date.now() - startedAt.getTime()) / 1000), loadBefore, commit: gitCommit(o.repoRoot),
    versions: { ...(o.versions?.() ?? {}), node: process.versions.node },
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(cal, null, 2) + '\n');
  o.log(`coarse calibration: ${cal.cpus} CPU (${cal.quota_us} µs per ${cal.period_us} µs), ${result.reason}; wrote ${rel} in ${cal.elapsed_s} s`);
  return cal;
}

/**
 * The real measure: one 2013-style stack per budget, up side by side on free ports, loaded at once with the
 * seed's load (each load in a process of its own, the generator outside every stack), then taken down.
 */
export function measureControlStacks(o: {
  runtime: 'native'; runDir: string; warmupS: number; durationS: number; concurrency: number; commit: string | null; log: (l: string) => void;
}): CoarseOptions['measure'] {
  return async (cpus) => {
    const profile = resolveProfile('seed2013', { concurrency: o.concurrency, durationS: o.durationS, warmupS: o.warmupS });
    const batchId = new Date().toISOString();
    const commit = o.commit;
    const docs = await withStacks(
      // One run directory per stack, reused round after round (a stack's run directory holds a database).
      cpus.map((c, i) => ({ queueImpl: 'seed2013' as const, cpus: c, cpuPeriodUs: DEFAULT_CPU_PERIOD_US, freePorts: true, runDir: path.join(o.runDir, `stack-${i}`) })),
      (stacks) => runTogether({ tool: 'node' }, stacks.map((stack, i) => ({ p: profile, setup: null, stack, heading: `2013-style stack at ${cpus[i]} CPU` })), batchId, commit),
      { runtime: o.runtime, log: o.log },
    );
    return docs.map((d) => d.summary.pages_per_min);
  };
}

