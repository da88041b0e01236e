// Bisection of the CPU quota on the median of repeated measurements. Pure apart from the measure
// callback, so that it can be tested on stand-in functions (monotone, noisy, unreachable targets).
import { median } from '../gate/stats.js';

export interface BisectPoint {
  cpus: number;
  runs: number[];
  median: number;
}

export interface BisectOptions {
  /** The bracket, in CPUs: the figure is expected below target at `lo` and above it at `hi`. */
  lo: number;
  hi: number;
  target: number;
  /** Relative: 0.03 = ±3 %. */
  tolerance: number;
  /** Most points to measure. */
  maxSteps: number;
  /** Stop when the bracket is narrower than this (CPUs): the quota's resolution, or the noise's. */
  minWidth: number;
  /** The repetitions at one budget (e.g. 3 runs of pages/min). */
  measure: (cpus: number, step: number) => Promise<number[]>;
  /** Snaps a budget to what the kernel can hold (integer µs of quota). Default: 4 decimals. */
  snap?: (cpus: number) => number;
  onPoint?: (p: BisectPoint, step: number, bracket: { lo: number; hi: number }) => void;
}

export interface BisectResult {
  found: boolean;
  /** The budget whose median is within the tolerance; null when none was found. */
  cpus: number | null;
  median: number | null;
  /** The measured point nearest the target, found or not. */
  nearest: BisectPoint | null;
  points: BisectPoint[];
  reason: string;
}

const within = (v: number, target: number, tol: number) => Math.abs(v - target) <= tol * target;

export async function bisectQuota(o: BisectOptions): Promise<BisectResult> {
  if (!(o.lo > 0 && o.hi > o.lo)) throw new Error(`the bracket must satisfy 0 < lo < hi, got [${o.lo}, ${o.hi}]`);
  if (!(o.target > 0) || !(o.tolerance > 0) || !(o.maxSteps >= 1)) throw new Error('target, tolerance and maxSteps must be positive');
  const snap = o.snap ?? ((c: number) => Math.round(c * 10_000) / 10_000);
  let lo = o.lo;
  let hi = o.hi;
  const points: BisectPoint[] = [];
  const nearest = () => points.reduce<BisectPoint | null>((b, p) => (!b || Math.abs(p.median - o.target) < Math.abs(b.median - o.target) ? p : b), null);
  let stop = `no budget within ±${o.tolerance * 100}% after ${o.maxSteps} points`;
  let narrowed = false;
  for (let step = 0; step < o.maxSteps; step++) {
    const cpus = snap((lo + hi) / 2);
    if (points.some((p) => p.cpus === cpus)) {
      stop = `the bracket [${lo}, ${hi}] is below the quota's resolution`;
      narrowed = true;
      break;
    }
    const runs = await o.measure(cpus, step);
    if (runs.length === 0 || runs.some((r) => !Number.isFinite(r))) throw new Error(`measure(${cpus}) gave no usable figure: ${JSON.stringify(runs)}`);
    const p: BisectPoint = { cpus, runs, median: median(runs) };
    points.push(p);
    if (p.median < o.target) lo = cpus;
    else hi = cpus;
    o.onPoint?.(p, step, { lo, hi });
    if (within(p.median, o.target, o.tolerance)) {
      return { found: true, cpus, median: p.median, nearest: p, points, reason: `median ${p.median} is within ±${o.tolerance * 100}% of ${o.target} at ${cpus} CPU` };
    }
    if (hi - lo < o.minWidth) {
      stop = `the bracket narrowed to [${lo}, ${hi}] (< ${o.minWidth} CPU) without a median within ±${o.tolerance * 100}%: the figure jumps across the target (noise larger than the tolerance?)`;
      narrowed = true;
      break;
    }
  }
  const n = nearest();
  // Narrowed with every point on one side: the bracket was pushed against its end, the target lies outside.
  if (narrowed && points.every((p) => p.median < o.target)) {
    stop = `target unreachable in [${o.lo}, ${o.hi}]: even ${n!.cpus} CPU gave only ${n!.median} (raise --hi)`;
  } else if (narrowed && points.every((p) => p.median > o.target)) {
    stop = `target below the bracket [${o.lo}, ${o.hi}]: even ${n!.cpus} CPU gave ${n!.median} (lower --lo)`;
  }
  return { found: false, cpus: null, median: null, nearest: n, points, reason: stop };
}
