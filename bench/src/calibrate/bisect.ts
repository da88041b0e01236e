// Search of the CPU quota on the median of repeated measurements: bisection until the target is
// bracketed by two measured points, then interpolation between them (pages/min is close to linear in the
// quota), kept off the bracket's ends so that noise cannot stall it. Pure apart from the measure callback,
// so that it can be tested on stand-in functions (monotone, noisy, unreachable targets).
import { median } from '@eserver-lab/common/stats';

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
  /** Relative: 0.03 = ±3 %. A point this close counts as found when no point comes within `aim`. */
  tolerance: number;
  /**
   * Relative, at most `tolerance` (the default): the search goes on until a median is this close. A
   * quota found at the edge of ±3 % leaves no room for the VM's drift on the day of the bench run.
   */
  aim?: number;
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
const pct = (f: number) => Math.round(f * 1000) / 10;

export async function bisectQuota(o: BisectOptions): Promise<BisectResult> {
  if (!(o.lo > 0 && o.hi > o.lo)) throw new Error(`the bracket must satisfy 0 < lo < hi, got [${o.lo}, ${o.hi}]`);
  if (!(o.target > 0) || !(o.tolerance > 0) || !(o.maxSteps >= 1)) throw new Error('target, tolerance and maxSteps must be positive');
  const snap = o.snap ?? ((c: number) => Math.round(c * 10_000) / 10_000);
  const aim = Math.min(o.aim ?? o.tolerance, o.tolerance);
  let lo = o.lo;
  let hi = o.hi;
  let below: BisectPoint | null = null;
  let above: BisectPoint | null = null;
  const points: BisectPoint[] = [];
  const next = (): number => {
    if (!below || !above || above.median === below.median) return (lo + hi) / 2;
    const guess = below.cpus + ((o.target - below.median) * (above.cpus - below.cpus)) / (above.median - below.median);
    const margin = (hi - lo) / 10;
    return Math.min(hi - margin, Math.max(lo + margin, guess));
  };
  const nearest = () => points.reduce<BisectPoint | null>((b, p) => (!b || Math.abs(p.median - o.target) < Math.abs(b.median - o.target) ? p : b), null);
  let stop = `no budget within ±${pct(o.tolerance)}% after ${o.maxSteps} points`;
  let narrowed = false;
  for (let step = 0; step < o.maxSteps; step++) {
    const cpus = snap(next());
    if (points.some((p) => p.cpus === cpus)) {
      stop = `the bracket [${lo}, ${hi}] is below the quota's resolution`;
      narrowed = true;
      break;
    }
    const runs = await o.measure(cpus, step);
    if (runs.length === 0 || runs.some((r) => !Number.isFinite(r))) throw new Error(`measure(${cpus}) gave no usable figure: ${JSON.stringify(runs)}`);
    const p: BisectPoint = { cpus, runs, median: median(runs) };
    points.push(p);
    if (p.median < o.target) {
      lo = cpus;
      below = p;
    } else {
      hi = cpus;
      above = p;
    }
    o.onPoint?.(p, step, { lo, hi });
    if (within(p.median, o.target, aim)) {
      return { found: true, cpus, median: p.median, nearest: p, points, reason: `median ${p.median} is within ±${pct(aim)}% of ${o.target} at ${cpus} CPU` };
    }
    if (hi - lo < o.minWidth) {
      stop = `the bracket narrowed to [${lo}, ${hi}] (< ${o.minWidth} CPU) without a median within ±${pct(aim)}%: the figure jumps across the target (noise larger than the tolerance?)`;
      narrowed = true;
      break;
    }
  }
  const n = nearest();
  if (n && within(n.median, o.target, o.tolerance)) {
    return {
      found: true, cpus: n.cpus, median: n.median, nearest: n, points,
      reason: `median ${n.median} at ${n.cpus} CPU is within ±${pct(o.tolerance)}% of ${o.target}, the nearest of ${points.length} points (none came within ±${pct(aim)}%: ${stop})`,
    };
  }
  // Narrowed with every point on one side: the bracket was pushed against its end, the target lies outside.
  if (narrowed && points.every((p) => p.median < o.target)) {
    stop = `target unreachable in [${o.lo}, ${o.hi}]: even ${n!.cpus} CPU gave only ${n!.median} (raise --hi)`;
  } else if (narrowed && points.every((p) => p.median > o.target)) {
    stop = `target below the bracket [${o.lo}, ${o.hi}]: even ${n!.cpus} CPU gave ${n!.median} (lower --lo)`;
  }
  return { found: false, cpus: null, median: null, nearest: n, points, reason: stop };
}
