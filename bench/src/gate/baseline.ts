// The committed baseline (results/baseline.json): per metric a value, a tolerance and a direction.
// It is only ever written by `make bench-baseline`, never as a side effect of a gate run.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { metricDef, type Direction, type MetricRepetitions } from './metrics.js';

export interface BaselineMetric {
  value: number;
  /** Allowed relative change in the bad direction, e.g. 0.06 = 6%. */
  tolerance: number;
  direction: Direction;
  unit: string;
  /** Spread of the repetitions when the baseline was taken, for the record. */
  cv: number;
  repetitions: number;
}

export interface Baseline {
  schema: 'eserver-lab/gate-baseline@1';
  updatedAt: string;
  command: string;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  metrics: Record<string, BaselineMetric>;
}

export function readBaseline(file: string): Baseline | null {
  if (!existsSync(file)) return null;
  const b = JSON.parse(readFileSync(file, 'utf8')) as Baseline;
  if (b.schema !== 'eserver-lab/gate-baseline@1' || typeof b.metrics !== 'object') throw new Error(`${file} is not a gate baseline`);
  for (const [id, m] of Object.entries(b.metrics)) {
    if (!Number.isFinite(m.value) || !(m.tolerance >= 0) || (m.direction !== 'bigger' && m.direction !== 'smaller')) {
      throw new Error(`${file}: metric ${id} needs a finite value, a tolerance >= 0 and a direction bigger|smaller`);
    }
  }
  return b;
}

/**
 * Tolerance for a new baseline: the metric's default, widened when the measured spread says the default
 * would give false alarms. The median of r repetitions has a spread of about cv·1.25/√r; three of those
 * keep false alarms rare. r is the repetitions of the runs that will be judged (`judgedRepetitions`),
 * not of the baseline: a baseline taken with more repetitions has a steadier value, but the gate's runs
 * do not get steadier for it. `previous` (given with --keep-tolerance) keeps a wider tolerance set by hand.
 */
export function toleranceFor(sample: Pick<MetricRepetitions, 'id' | 'values' | 'cv'>, previous?: BaselineMetric, judgedRepetitions?: number): number {
  const def = metricDef(sample.id);
  const base = def?.defaultTolerance ?? 0.1;
  const r = judgedRepetitions ?? sample.values.length;
  const noise = (3 * 1.25 * sample.cv) / Math.sqrt(Math.max(1, r));
  // Beyond MAX_TOLERANCE a metric could no longer fail at all (a bigger-is-better metric with 100%
  // tolerance passes at zero): too noisy a machine is refused by noisyMetrics() instead.
  const t = Math.min(MAX_TOLERANCE, Math.max(base, noise, previous?.tolerance ?? 0));
  return Math.round(t * 1000) / 1000;
}

export const MAX_TOLERANCE = 0.3;
/** At 3 repetitions, a baseline whose repetitions spread more than this is not a baseline but a sample of noise. */
export const MAX_BASELINE_CV = 0.1;

/**
 * Deciding metrics whose baseline median is too uncertain to judge against. What matters is the median's
 * error, about cv·1.25/√r, so more repetitions (-r) admit a noisier metric: the limit is MAX_BASELINE_CV
 * at 3. A report-only metric never blocks a baseline; its spread is in the table for the record.
 */
export function noisyMetrics(samples: MetricRepetitions[]): MetricRepetitions[] {
  const limit = MAX_BASELINE_CV / Math.sqrt(3);
  return samples.filter((s) => (metricDef(s.id)?.decides ?? true) && s.cv / Math.sqrt(Math.max(1, s.values.filter(Number.isFinite).length)) > limit);
}

export function buildBaseline(
  samples: MetricRepetitions[],
  previous: Baseline | null,
  meta: Pick<Baseline, 'command' | 'machine' | 'settings'>,
  keepTolerance = false,
  judgedRepetitions?: number,
): Baseline {
  const metrics: Record<string, BaselineMetric> = {};
  for (const s of samples) {
    const def = metricDef(s.id);
    if (!def || !Number.isFinite(s.median)) continue;
    metrics[s.id] = {
      value: s.median,
      tolerance: toleranceFor(s, keepTolerance ? previous?.metrics[s.id] : undefined, judgedRepetitions),
      direction: def.direction,
      unit: def.unit,
      cv: Math.round(s.cv * 10000) / 10000,
      repetitions: s.values.length,
    };
  }
  // Metrics that this run did not measure (a part was skipped) keep their previous entry.
  for (const [id, m] of Object.entries(previous?.metrics ?? {})) if (!(id in metrics)) metrics[id] = m;
  return { schema: 'eserver-lab/gate-baseline@1', updatedAt: new Date().toISOString(), ...meta, metrics };
}

export function writeBaseline(file: string, b: Baseline): void {
  writeFileSync(file, JSON.stringify(b, null, 2) + '\n');
}
