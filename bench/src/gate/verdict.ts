// Compares a gate run with the baseline: a table of metric, baseline, current, change and pass/fail, and
// the github-action-benchmark JSON (customBiggerIsBetter / customSmallerIsBetter).
import type { Baseline } from './baseline.js';
import { metricDef, type CorrectnessCheck, type MetricRepetitions } from './metrics.js';

export interface VerdictRow {
  id: string;
  name: string;
  unit: string;
  direction: 'bigger' | 'smaller';
  baseline: number | null;
  tolerance: number | null;
  current: number;
  cv: number;
  repetitions: number;
  /** Relative change, current ÷ baseline − 1. */
  change: number | null;
  /** Relative change in the bad direction (positive = worse). */
  worse: number | null;
  /** Whether the change is beyond tolerance; for a metric that does not decide, this is all it does. */
  overTolerance: boolean | null;
  status: 'pass' | 'FAIL' | 'no baseline' | 'report only';
}

export interface Verdict {
  rows: VerdictRow[];
  checks: CorrectnessCheck[];
  regressions: string[];
  correctnessFailures: string[];
  pass: boolean;
}

export function judge(samples: MetricRepetitions[], checks: CorrectnessCheck[], baseline: Baseline | null): Verdict {
  const rows: VerdictRow[] = samples.map((s) => {
    const def = metricDef(s.id);
    const b = baseline?.metrics[s.id];
    const direction = b?.direction ?? def?.direction ?? 'bigger';
    const base: Omit<VerdictRow, 'baseline' | 'tolerance' | 'change' | 'worse' | 'overTolerance' | 'status'> = {
      id: s.id, name: def?.name ?? s.id, unit: def?.unit ?? '', direction, current: s.median, cv: s.cv, repetitions: s.values.length,
    };
    const decides = def?.decides ?? true;
    if (!b) return { ...base, baseline: null, tolerance: null, change: null, worse: null, overTolerance: null, status: decides ? 'no baseline' : 'report only' };
    const change = s.median / b.value - 1;
    const worse = direction === 'bigger' ? -change : change;
    // A metric that could not be measured (NaN) is a failure, not a pass.
    const overTolerance = !(Number.isFinite(worse) && worse <= b.tolerance);
    const status = !decides ? 'report only' : overTolerance ? 'FAIL' : 'pass';
    return { ...base, baseline: b.value, tolerance: b.tolerance, change, worse, overTolerance, status };
  });
  const regressions = rows.filter((r) => r.status === 'FAIL').map((r) => r.id);
  const correctnessFailures = checks.filter((c) => !c.ok).map((c) => c.id);
  return { rows, checks, regressions, correctnessFailures, pass: regressions.length === 0 && correctnessFailures.length === 0 };
}

const fmt = (n: number | null): string => (n === null || !Number.isFinite(n) ? 'n/a' : Math.abs(n) >= 100 ? n.toFixed(1) : n.toFixed(3));
const pct = (n: number | null): string => (n === null || !Number.isFinite(n) ? 'n/a' : `${n >= 0 ? '+' : ''}${(n * 100).toFixed(1)}%`);

export function renderVerdict(v: Verdict): string {
  const L: string[] = [];
  L.push('| metric | better | baseline | current (median) | CV | change | tolerance | result |');
  L.push('|---|---|---|---|---|---|---|---|');
  for (const r of v.rows) {
    L.push(`| ${r.name} [${r.unit}] | ${r.direction} | ${fmt(r.baseline)} | ${fmt(r.current)} | ${(r.cv * 100).toFixed(1)}% (n=${r.repetitions}) | ${pct(r.change)} | ${r.tolerance === null ? 'n/a' : `${(r.tolerance * 100).toFixed(1)}%`} | ${r.status === 'report only' && r.overTolerance ? 'report only: beyond tolerance' : r.status} |`);
  }
  L.push('');
  L.push('| correctness gate | result | detail |');
  L.push('|---|---|---|');
  for (const c of v.checks) L.push(`| ${c.name} | ${c.ok ? 'pass' : 'FAIL'} | ${c.detail} |`);
  L.push('');
  if (v.pass) L.push('VERDICT: PASS');
  else {
    L.push(`VERDICT: FAIL (${[...v.regressions.map((r) => `regression: ${r}`), ...v.correctnessFailures.map((c) => `correctness: ${c}`)].join('; ')})`);
  }
  return L.join('\n') + '\n';
}

export interface BenchmarkEntry {
  name: string;
  unit: string;
  value: number;
  range?: string;
  extra?: string;
}

/** Two arrays, one per github-action-benchmark tool, since one file can only have one direction. */
export function githubActionBenchmark(v: Verdict): { bigger: BenchmarkEntry[]; smaller: BenchmarkEntry[] } {
  const out = { bigger: [] as BenchmarkEntry[], smaller: [] as BenchmarkEntry[] };
  for (const r of v.rows) {
    if (!Number.isFinite(r.current)) continue;
    const e: BenchmarkEntry = {
      name: r.name,
      unit: r.unit,
      value: r.current,
      range: `± ${(r.cv * 100).toFixed(1)}%`,
      extra: `median of ${r.repetitions}; baseline ${fmt(r.baseline)}; ${r.status}`,
    };
    (r.direction === 'bigger' ? out.bigger : out.smaller).push(e);
  }
  return out;
}
