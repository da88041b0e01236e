// The gate's power: N clean runs, and N runs of each injected slowdown (the test-only CPU burn, in the
// candidate only), interleaved, each judged exactly as `make bench-ci` judges, against the committed
// tolerances. The burn is sized from the first clean run: a share of the candidate's queue-server CPU per
// enqueue in the stack (or, without the stack part, in the protocol cell).
import { candidateBuild, type BurnAt } from './builds.js';
import type { Baseline } from './baseline.js';
import { collect } from './collect.js';
import type { GateSettings, ServerBuild } from './settings.js';
import { judge } from './verdict.js';

export type PowerKind = 'clean' | BurnAt;

export interface PowerRun {
  kind: PowerKind;
  index: number;
  flagged: boolean;
  failed: string[];
  medians: Record<string, number>;
}

export interface PowerReport {
  startedAt: string;
  finishedAt: string;
  slowdown: number;
  burnUs: number;
  /** The CPU per enqueue the burn was sized from, µs, and which metric gave it. */
  sizedFrom: { metric: string; us: number };
  runs: PowerRun[];
  summary: Array<{ kind: PowerKind; runs: number; flagged: number }>;
  markdown: string;
}

export interface PowerOptions {
  runs: number;
  slowdown: number;
  at: BurnAt[];
  baseline: Baseline;
  reference: ServerBuild;
  /** One line per gate run, for the progress of a long measurement. */
  log: (l: string) => void;
}

export async function runPower(settings: GateSettings, o: PowerOptions): Promise<PowerReport> {
  const startedAt = new Date().toISOString();
  const runs: PowerRun[] = [];
  const quiet = () => {};
  let burnUs = NaN;
  let sizedFrom = { metric: '', us: NaN };
  const one = async (kind: PowerKind, index: number): Promise<PowerRun> => {
    const cand = kind === 'clean' ? candidateBuild() : candidateBuild({ us: burnUs, at: kind });
    const m = await collect(settings, [cand, o.reference], quiet);
    const v = judge(m.samples, m.checks, o.baseline);
    const run: PowerRun = {
      kind, index, flagged: !v.pass, failed: [...v.regressions, ...v.correctnessFailures],
      medians: Object.fromEntries(m.samples.map((s) => [s.id, s.median])),
    };
    o.log(`power: ${kind} run ${index}/${o.runs}: ${run.flagged ? `FLAGGED (${run.failed.join(', ')})` : 'pass'}; ${Object.entries(run.medians).filter(([id]) => !id.endsWith('_us') && !id.includes('per_') && !id.includes('req_s')).map(([k, x]) => `${k}=${x.toFixed(3)}`).join(' ')}`);
    return run;
  };
  const kinds: PowerKind[] = ['clean', ...o.at];
  for (let i = 1; i <= o.runs; i++) {
    // Interleaved and rotated, so that a slow drift of the machine reaches every kind alike.
    // The first run is a clean one: the burn is sized from it.
    const order = kinds.map((_, k) => kinds[(k + i - 1) % kinds.length]!);
    for (const kind of order) {
      const run = await one(kind, i);
      runs.push(run);
      if (Number.isNaN(burnUs)) {
        const metric = run.medians.stack_queue_cpu_us !== undefined ? 'stack_queue_cpu_us' : 'proto_conn_cpu_us';
        const us = run.medians[metric];
        if (us === undefined || !(us > 0)) throw new Error('power: the first clean run measured no CPU per enqueue to size the burn from (include the stack or proto part)');
        sizedFrom = { metric, us };
        burnUs = Math.max(1, Math.round(us * o.slowdown));
        o.log(`power: the slowdown is ${burnUs} µs (${(o.slowdown * 100).toFixed(0)}% of the candidate's ${us.toFixed(1)} µs CPU per enqueue, ${metric}) per ${o.at.join(' or per ')}`);
      }
    }
  }
  const summary = kinds.map((kind) => ({ kind, runs: runs.filter((r) => r.kind === kind).length, flagged: runs.filter((r) => r.kind === kind && r.flagged).length }));
  const L: string[] = [];
  const deciding = Object.keys(runs[0]?.medians ?? {}).filter((id) => o.baseline.tolerances?.metrics[id] !== undefined || ['stack_queue_cpu', 'stack_pages', 'proto_conn_cpu', 'proto_persistent_rps', 'drain_rows'].includes(id));
  L.push(`Gate power, ${startedAt} to ${new Date().toISOString()}: parts ${settings.parts.join(',')}, ${settings.repetitions} repetitions per run; slowdown ${burnUs} µs = ${(o.slowdown * 100).toFixed(0)}% of ${sizedFrom.us.toFixed(1)} µs (${sizedFrom.metric}, first clean run).`);
  L.push('');
  L.push('| runs | flagged | target |');
  L.push('|---|---|---|');
  for (const s of summary) L.push(`| ${s.runs} ${s.kind === 'clean' ? 'clean' : `with the burn per ${s.kind === 'enqueue' ? '8001' : 'connection'}`} | ${s.flagged} of ${s.runs} ${s.kind === 'clean' ? 'false alarms' : 'caught'} | ${s.kind === 'clean' ? '≤ 1 of 10' : '≥ 9 of 10'} |`);
  L.push('');
  L.push(`| run | ${deciding.map((id) => `${id} (tol ${((o.baseline.tolerances?.metrics[id]?.tolerance ?? NaN) * 100).toFixed(1)}%)`).join(' | ')} | verdict |`);
  L.push(`|---|${deciding.map(() => '---').join('|')}|---|`);
  for (const r of runs) L.push(`| ${r.kind} ${r.index} | ${deciding.map((id) => r.medians[id]?.toFixed(3) ?? 'n/a').join(' | ')} | ${r.flagged ? `FAIL: ${r.failed.join(', ')}` : 'pass'} |`);
  return { startedAt, finishedAt: new Date().toISOString(), slowdown: o.slowdown, burnUs, sizedFrom, runs, summary, markdown: L.join('\n') + '\n' };
}
