// The verdict of a gate run: each deciding ratio's median against 1 (the candidate no worse than the
// reference) within its A/A tolerance; the absolute figures beside the ones on record, for reading only.
// Plus the github-action-benchmark JSON (customBiggerIsBetter / customSmallerIsBetter).
import type { Baseline } from './baseline.js';
import { metricDef, type Direction, type MetricRepetitions } from './metrics.js';
import type { CorrectnessCheck } from './part.js';

export interface VerdictRow {
  id: string;
  name: string;
  unit: string;
  direction: Direction;
  decides: boolean;
  current: number;
  cv: number;
  repetitions: number;
  /** Deciding rows: the allowed change in the bad direction, and where it came from. */
  tolerance: number | null;
  toleranceFrom: 'A/A' | 'default' | null;
  /** Deciding rows: the A/A run's median ratio and the spread of its repetitions (sd of ln ratio). */
  aa: { median: number; sdLog: number; repetitions: number } | null;
  /** Report-only rows: the figure on record. */
  recorded: number | null;
  /** Deciding rows: current − 1; report-only rows: current ÷ recorded − 1. */
  change: number | null;
  status: 'pass' | 'FAIL' | 'report only';
}

export interface Verdict {
  rows: VerdictRow[];
  checks: CorrectnessCheck[];
  regressions: string[];
  correctnessFailures: string[];
  pass: boolean;
}

export function judge(samples: MetricRepetitions[], checks: CorrectnessCheck[], baseline: Pick<Baseline, 'tolerances' | 'record'>): Verdict {
  const rows: VerdictRow[] = samples.map((s) => {
    const def = metricDef(s.id);
    const base = { id: s.id, name: def.name, unit: def.unit, direction: def.direction, decides: def.decides, current: s.median, cv: s.cv, repetitions: s.values.length };
    if (!def.decides) {
      const recorded = baseline.record[s.id] ?? null;
      return { ...base, tolerance: null, toleranceFrom: null, aa: null, recorded, change: recorded ? s.median / recorded - 1 : null, status: 'report only' as const };
    }
    const aa = baseline.tolerances?.metrics[s.id];
    const tolerance = aa?.tolerance ?? def.defaultTolerance;
    const change = s.median - 1;
    const worse = def.direction === 'bigger' ? -change : change;
    // A ratio that could not be measured (NaN) is a failure, not a pass.
    const ok = Number.isFinite(worse) && worse <= tolerance;
    return {
      ...base,
      tolerance,
      toleranceFrom: aa ? ('A/A' as const) : ('default' as const),
      aa: aa ? { median: aa.median, sdLog: aa.sd_log, repetitions: aa.values.length } : null,
      recorded: null,
      change,
      status: ok ? ('pass' as const) : ('FAIL' as const),
    };
  });
  const regressions = rows.filter((r) => r.status === 'FAIL').map((r) => r.id);
  const correctnessFailures = checks.filter((c) => !c.ok).map((c) => c.id);
  return { rows, checks, regressions, correctnessFailures, pass: regressions.length === 0 && correctnessFailures.length === 0 };
}

const fmt = (n: number | null): string => (n === null || !Number.isFinite(n) ? 'n/a' : Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(3));
const pct = (n: number | null): string => (n === null || !Number.isFinite(n) ? 'n/a' : `${n >= 0 ? '+' : ''}${(n * 100).toFixed(1)}%`);

export function renderVerdict(v: Verdict): string {
  const L: string[] = [];
  const decide = v.rows.filter((r) => r.decides);
  const record = v.rows.filter((r) => !r.decides);
  L.push('| candidate ÷ reference | better | median | spread (CV) | change | tolerance | A/A: median, sd | result |');
  L.push('|---|---|---|---|---|---|---|---|');
  for (const r of decide) {
    const aa = r.aa ? `${r.aa.median.toFixed(3)}, ${(r.aa.sdLog * 100).toFixed(1)}% (n=${r.aa.repetitions})` : 'none: default tolerance';
    L.push(`| ${r.name} | ${r.direction} | ${fmt(r.current)} | ${(r.cv * 100).toFixed(1)}% (n=${r.repetitions}) | ${pct(r.change)} | ${r.tolerance === null ? 'n/a' : `${(r.tolerance * 100).toFixed(1)}%`} | ${aa} | ${r.status} |`);
  }
  if (record.length > 0) {
    L.push('');
    L.push('| for the record only (never decides) | unit | median | spread (CV) | on record | change |');
    L.push('|---|---|---|---|---|---|');
    for (const r of record) L.push(`| ${r.name} | ${r.unit} | ${fmt(r.current)} | ${(r.cv * 100).toFixed(1)}% (n=${r.repetitions}) | ${fmt(r.recorded)} | ${pct(r.change)} |`);
  }
  L.push('');
  L.push('| correctness (absolute) | result | detail |');
  L.push('|---|---|---|');
  for (const c of v.checks) L.push(`| ${c.name} | ${c.ok ? 'pass' : 'FAIL'} | ${c.detail} |`);
  L.push('');
  if (v.pass) L.push('VERDICT: PASS');
  else L.push(`VERDICT: FAIL (${[...v.regressions.map((r) => `regression: ${r}`), ...v.correctnessFailures.map((c) => `correctness: ${c}`)].join('; ')})`);
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
    const e: BenchmarkEntry = { name: r.name, unit: r.unit, value: r.current, range: `± ${(r.cv * 100).toFixed(1)}%`, extra: `median of ${r.repetitions}; ${r.status}` };
    (r.direction === 'bigger' ? out.bigger : out.smaller).push(e);
  }
  return out;
}
