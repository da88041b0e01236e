// results/baseline.json: the gate's reference (our own queue server at a pinned commit), the tolerances an
// A/A run measured (the reference against itself), and absolute figures kept for the record. Moving the
// pin is the deliberate "accept this performance" step (`make bench-gate-accept`); re-measuring the
// tolerances is `make bench-baseline`. Nothing here is ever written as a side effect of a gate run.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { metricDef, type MetricRepetitions } from './metrics.js';
import { median } from '@eserver-lab/common/stats';

export const BASELINE_SCHEMA = 'eserver-lab/gate-baseline@2';

export interface Reference {
  /** The commit whose queue server every gate run measures beside the candidate. */
  commit: string;
  subject: string;
  accepted_at: string;
}

/** What an A/A run measured for one ratio metric, and the tolerance set from it. */
export interface AaMetric {
  tolerance: number;
  /** The A/A run's ratios, one per repetition (about 1: both sides ran the same code). */
  values: number[];
  median: number;
  /** Standard deviation of ln(ratio) across repetitions. */
  sd_log: number;
}

export interface Tolerances {
  taken_at: string;
  command: string;
  /** The commit measured against itself. */
  commit: string;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  /** Repetitions per gate run that the tolerances are for (the median of that many is judged). */
  judged_repetitions: number;
  z: number;
  metrics: Record<string, AaMetric>;
}

export interface Baseline {
  schema: typeof BASELINE_SCHEMA;
  reference: Reference;
  tolerances: Tolerances | null;
  /** Absolute figures of the candidate when the tolerances were taken: for the record, never for a decision. */
  record: Record<string, number>;
}

export function readBaseline(file: string): Baseline {
  if (!existsSync(file)) throw new Error(`${file} is missing: it names the gate's reference commit. Create it with 'make bench-gate-accept REF=<commit>'`);
  let b: Baseline;
  try {
    b = JSON.parse(readFileSync(file, 'utf8')) as Baseline;
  } catch (e) {
    throw new Error(`${file} is not JSON (${(e as Error).message})`);
  }
  if (b.schema !== BASELINE_SCHEMA) throw new Error(`${file} is not a ${BASELINE_SCHEMA} file (it says ${JSON.stringify(b.schema)}): re-create it with 'make bench-gate-accept REF=<commit>'`);
  if (!b.reference || !/^[0-9a-f]{40}$/.test(b.reference.commit)) throw new Error(`${file}: reference.commit must be a full commit hash`);
  for (const [id, m] of Object.entries(b.tolerances?.metrics ?? {})) {
    if (!(m.tolerance > 0 && m.tolerance < 1)) throw new Error(`${file}: the tolerance of ${id} must be between 0 and 1`);
  }
  return b;
}

export function writeBaseline(file: string, b: Baseline): void {
  writeFileSync(file, JSON.stringify(b, null, 2) + '\n');
}

/** The z of the tolerances: one-sided, about 0.6% false alarms per metric on a clean run. */
export const Z = 2.5;
/** No tolerance below this: a ratio of two loaded stacks is never truer than that. */
export const MIN_TOLERANCE = 0.02;
/** Nor above this: beyond it a metric could not catch a slowdown worth stopping a merge for. */
export const MAX_TOLERANCE = 0.25;

const sdLog = (values: number[]): number => {
  const l = values.filter((v) => v > 0 && Number.isFinite(v)).map(Math.log);
  if (l.length < 2) return NaN;
  const mean = l.reduce((a, b) => a + b, 0) / l.length;
  return Math.sqrt(l.reduce((a, b) => a + (b - mean) ** 2, 0) / (l.length - 1));
};

/**
 * The tolerance of one ratio from its A/A repetitions: the median of r repetitions strays from the truth by
 * about 1.25·sd/√r; Z of those, plus how far the A/A median itself sat from 1 (what the two slots differ by
 * when they run the same code), is what a clean run may show.
 */
export function toleranceFromAa(values: number[], judgedRepetitions: number): AaMetric {
  const sd = sdLog(values);
  const m = median(values);
  const bias = Math.abs(Math.log(m));
  const t = Math.exp(bias + (Z * 1.2533 * sd) / Math.sqrt(Math.max(1, judgedRepetitions))) - 1;
  const tolerance = Math.round(Math.min(MAX_TOLERANCE, Math.max(MIN_TOLERANCE, Number.isFinite(t) ? t : MAX_TOLERANCE)) * 1000) / 1000;
  return { tolerance, values: values.map((v) => Math.round(v * 10000) / 10000), median: Math.round(m * 10000) / 10000, sd_log: Math.round(sd * 10000) / 10000 };
}

/** Tolerances for every deciding metric the A/A run measured. */
export function tolerancesFromAa(samples: MetricRepetitions[], meta: Omit<Tolerances, 'metrics' | 'z'>): Tolerances {
  const metrics: Record<string, AaMetric> = {};
  for (const s of samples) if (metricDef(s.id).decides && s.values.length > 1) metrics[s.id] = toleranceFromAa(s.values, meta.judged_repetitions);
  return { ...meta, z: Z, metrics };
}
