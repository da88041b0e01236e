// The chaos table: one line per scenario, as printed and as pasted into a measurement log (docs/experiments/).
import type { Verdict } from './checks.js';
import type { Scenario } from './scenarios.js';

export interface ScenarioOutcome {
  scenario: Scenario;
  /** What ran our queue server (read back from its executable; as asked when the stack did not start). */
  queueRuntime: string;
  strictOk: number;
  serverAcks: number;
  rows: number;
  verdict: Verdict;
  recoverS: Array<number | null>;
  /** Set when the scenario could not run at all (the stack did not start, the disk could not be mounted). */
  error?: string;
}

/** "0.8 s", or for several faults "max 1.4 s (median 0.9 s)"; "never" when one did not recover. */
export function recoverCell(r: Array<number | null>): string {
  if (r.length === 0) return '-';
  if (r.some((x) => x === null)) return `never (${r.filter((x) => x === null).length} of ${r.length})`;
  const v = (r as number[]).slice().sort((a, b) => a - b);
  if (v.length === 1) return `${v[0]!.toFixed(1)} s`;
  return `max ${v[v.length - 1]!.toFixed(1)} s (median ${v[Math.floor(v.length / 2)]!.toFixed(1)} s)`;
}

export function chaosTable(outcomes: ScenarioOutcome[]): string {
  const head = ['fault', 'runtime', 'fsync', 'acks (client)', 'acks (server, >=)', 'rows', 'duplicates', 'gaps (acked)', 'time to recover', 'result'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const o of outcomes) {
    const cells = o.error
      ? [o.scenario.label, o.queueRuntime, o.scenario.fsync, '-', '-', '-', '-', '-', '-', `ERROR: ${o.error}`]
      : [
          o.scenario.label,
          o.queueRuntime,
          o.scenario.fsync,
          String(o.strictOk),
          String(o.serverAcks),
          String(o.rows),
          String(o.verdict.duplicates),
          `${o.verdict.gaps.count} (${o.verdict.ackedGaps})`,
          recoverCell(o.recoverS),
          o.verdict.ok ? 'OK' : `FAIL: ${o.verdict.reasons.join('; ')}`,
        ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
