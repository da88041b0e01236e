// The table under the pairs: where each stack's CPU per page goes, ours against the 2013-style control
// (results/cpu-per-page.ts), one row per service, then the rest of the cgroup and the whole stack.
import type { ControlRecord } from '../results/types.js';

/** The section's title after the run's name, as both renderers (and the experiment logs) name it. */
export const CPU_SPLIT_TITLE = 'CPU per page, per service';

export const CPU_SPLIT_HEADERS = ['service', 'ours µs/page', '2013-style µs/page', 'ours ÷ 2013-style'];

const LABELS: Record<string, string> = { other: 'other (rest of the cgroup)', cgroup: 'whole stack (its cgroup)' };

const us = (x: number | null) => (x === null ? 'n/a' : Math.round(x).toLocaleString('en-US'));

/** The table's rows; none when the record carries no split (older results, no cgroup nor samples). */
export function cpuSplitRows(c: ControlRecord): string[][] {
  return (c.cpu_per_page?.rows ?? []).map((r) => [LABELS[r.part] ?? r.part, us(r.ours), us(r.control), r.ratio === null ? 'n/a' : r.ratio.toFixed(2)]);
}

/** The one line printed above the table: how to read it. */
export function cpuSplitNote(c: ControlRecord): string {
  const n = c.cpu_per_page?.n ?? 0;
  const how = c.pairing === 'at-once'
    ? 'both stacks were loaded at once on the same quota, so the difference between the columns is the whole gap'
    : 'the two stacks took the load one after the other on the same quota; the difference between the columns is the whole gap';
  return (
    `µs of CPU per completed page over the measured window (warm-up excluded), each service's process tree and the stack's cgroup; ` +
    `${how}. Medians of ${n}${n < c.pairs.length ? ` of ${c.pairs.length}` : ''} repetitions; the ratio is of the two medians.`
  );
}
