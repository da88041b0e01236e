// Measures the gate's power: R runs with a known CPU slowdown injected into the queue server (the
// test-only hook) and R clean runs, interleaved, each judged against the same baseline.
import { collect, type GateSettings } from './collect.js';
import { buildBaseline, type Baseline } from './baseline.js';
import { judge } from './verdict.js';

export interface PowerRun {
  kind: 'clean' | 'slowed';
  index: number;
  flagged: boolean;
  regressions: string[];
  correctnessFailures: string[];
  /** Report-only metrics that moved beyond tolerance: would have been false alarms had they decided. */
  reportOnlyBeyond: string[];
  medians: Record<string, number>;
}

export interface PowerReport {
  startedAt: string;
  settings: GateSettings;
  burnUs: number;
  slowdown: number;
  baseline: Baseline;
  runs: PowerRun[];
  caught: number;
  falseAlarms: number;
  markdown: string;
}

export async function runPower(
  settings: GateSettings,
  o: { runs: number; slowdown: number; burnUs?: number; burnAt?: 'enqueue' | 'connection'; baseline: Baseline | null },
  log: (l: string) => void,
): Promise<PowerReport> {
  const startedAt = new Date().toISOString();
  let baseline = o.baseline;
  if (!baseline) {
    // Twice the repetitions, so that the baseline's own error is small next to a run's.
    log('power: measuring a fresh baseline (clean, twice the repetitions, not written to disk)');
    const m = await collect({ ...settings, repetitions: settings.repetitions * 2 }, log);
    baseline = buildBaseline(m.samples, null, { command: 'power (in memory)', machine: {}, settings: {} }, false, settings.repetitions);
  }
  const burnAt = o.burnAt ?? 'enqueue';
  // A per-connection burn slows the seed path (one connection per enqueue inside the stack), so it is
  // sized from the queue server's CPU per enqueue measured there; a per-8001 burn from the bare server's.
  const cpu = burnAt === 'connection' ? baseline.metrics.seed_queue_cpu_us_per_enqueue?.value : baseline.metrics.queue_cpu_us_per_enqueue?.value;
  // The burn adds a fixed number of µs, so a 10% slowdown of the CPU per enqueue is 10% of it.
  const burnUs = o.burnUs ?? (cpu ? Math.max(1, Math.round(cpu * o.slowdown)) : NaN);
  if (!Number.isFinite(burnUs)) throw new Error(`power: give --burn-us, or include the ${burnAt === 'connection' ? 'stack' : 'proto'} part so that it can be derived from the CPU per enqueue`);
  // With --burn-us the size is whatever it is relative to the baseline, not --slowdown.
  const slowdown = cpu ? burnUs / cpu : o.slowdown;
  log(`power: slowdown = --test-burn-cpu-us ${burnUs} --test-burn-at ${burnAt} (${cpu ? (slowdown * 100).toFixed(1) : '?'}% of ${cpu?.toFixed(1)} µs CPU per enqueue)`);
  const slowed: GateSettings = { ...settings, queueArgs: [...settings.queueArgs, '--test-burn-cpu-us', String(burnUs), '--test-burn-at', burnAt] };
  process.env.ESERVER_ENABLE_TEST_HOOKS = '1';
  const runs: PowerRun[] = [];
  for (let i = 0; i < o.runs; i++) {
    // Interleaved, so slow drift in the machine's load hits both kinds alike.
    for (const kind of i % 2 === 0 ? (['clean', 'slowed'] as const) : (['slowed', 'clean'] as const)) {
      const m = await collect(kind === 'clean' ? settings : slowed, () => {});
      const v = judge(m.samples, m.checks, baseline);
      const run: PowerRun = {
        kind,
        index: i + 1,
        flagged: !v.pass,
        regressions: v.regressions,
        correctnessFailures: v.correctnessFailures,
        reportOnlyBeyond: v.rows.filter((x) => x.status === 'report only' && x.overTolerance).map((x) => x.id),
        medians: Object.fromEntries(m.samples.map((s) => [s.id, s.median])),
      };
      runs.push(run);
      log(`power: ${kind} run ${i + 1}/${o.runs}: ${run.flagged ? `FLAGGED (${[...run.regressions, ...run.correctnessFailures].join(', ')})` : 'pass'}; ${Object.entries(run.medians).map(([k, v2]) => `${k}=${v2.toFixed(3)}`).join(' ')}`);
    }
  }
  const caught = runs.filter((r) => r.kind === 'slowed' && r.flagged).length;
  const falseAlarms = runs.filter((r) => r.kind === 'clean' && r.flagged).length;
  const ids = Object.keys(baseline.metrics).filter((id) => runs.some((r) => id in r.medians));
  const L: string[] = [];
  L.push(`Gate power, ${startedAt}: parts ${settings.parts.join(',')}, ${settings.repetitions} repetitions per run, slowdown --test-burn-cpu-us ${burnUs} --test-burn-at ${burnAt}.`);
  L.push('');
  L.push(`| runs | flagged | target |`);
  L.push('|---|---|---|');
  L.push(`| ${o.runs} with the ${(slowdown * 100).toFixed(slowdown < 0.1 ? 1 : 0)}% slowdown | ${caught} of ${o.runs} caught | ≥ 9 of 10 |`);
  L.push(`| ${o.runs} clean | ${falseAlarms} of ${o.runs} false alarms | ≤ 1 of 10 |`);
  L.push('');
  L.push(`| run | ${ids.map((id) => `${id} (baseline ${baseline!.metrics[id].value.toFixed(3)}, tol ${(baseline!.metrics[id].tolerance * 100).toFixed(1)}%)`).join(' | ')} | verdict |`);
  L.push(`|---|${ids.map(() => '---').join('|')}|---|`);
  for (const r of runs) {
    L.push(`| ${r.kind} ${r.index} | ${ids.map((id) => (r.medians[id] !== undefined ? r.medians[id].toFixed(3) : 'n/a')).join(' | ')} | ${r.flagged ? `FAIL: ${[...r.regressions, ...r.correctnessFailures].join(', ')}` : 'pass'}${r.reportOnlyBeyond.length ? ` (report only, beyond tolerance: ${r.reportOnlyBeyond.join(', ')})` : ''} |`);
  }
  return { startedAt, settings, burnUs, slowdown, baseline, runs, caught, falseAlarms, markdown: L.join('\n') + '\n' };
}
