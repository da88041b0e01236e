// The metrics of a gate run. Those that decide are candidate ÷ reference ratios, each from one repetition
// in which both were loaded at the same time: a faster or slower machine moves both sides alike. The
// absolute figures and the ratios to the 2013-style server are kept for the record, never for a decision.
import type { GatePart } from './settings.js';

export type Direction = 'bigger' | 'smaller';

export interface MetricDef {
  id: string;
  name: string;
  unit: string;
  direction: Direction;
  part: GatePart;
  /** Whether it decides the verdict (a candidate ÷ reference ratio), or is only reported. */
  decides: boolean;
  /** The tolerance used until an A/A run (`make bench-baseline`) has measured one. */
  defaultTolerance: number;
}

export const METRICS: readonly MetricDef[] = [
  // The stack's two ratios do not decide (yet): its repetitions share one pair of stacks, and a pair carries an
  // offset of its own. The same code read 0.942, 1.008, 1.030 and 1.092 on queue-server CPU per enqueue in
  // four runs (docs/experiments/2026-12-06-gate-aa-and-power.md), while an A/A's repetitions spread by 3.3%:
  // a tolerance from them fails clean code. They decide again once each repetition gets fresh stacks.
  { id: 'stack_queue_cpu', name: 'queue-server CPU per acknowledged enqueue in the stack (journal and drain included), candidate ÷ reference', unit: 'ratio', direction: 'smaller', part: 'stack', decides: false, defaultTolerance: 0.08 },
  { id: 'stack_pages', name: 'client.php pages/min on the emulated box, candidate ÷ reference', unit: 'ratio', direction: 'bigger', part: 'stack', decides: false, defaultTolerance: 0.08 },
  { id: 'proto_conn_cpu', name: 'queue-server CPU per enqueue, a new connection per request, candidate ÷ reference', unit: 'ratio', direction: 'smaller', part: 'proto', decides: true, defaultTolerance: 0.08 },
  { id: 'proto_persistent_rps', name: 'req/s per server CPU-second over persistent connections, candidate ÷ reference', unit: 'ratio', direction: 'bigger', part: 'proto', decides: true, defaultTolerance: 0.08 },
  { id: 'drain_rows', name: 'drain rows/s per CPU-second (queue server + MariaDB), candidate ÷ reference', unit: 'ratio', direction: 'bigger', part: 'drain', decides: true, defaultTolerance: 0.1 },
  { id: 'stack_queue_cpu_us', name: 'queue-server CPU per acknowledged enqueue in the stack, candidate', unit: 'µs', direction: 'smaller', part: 'stack', decides: false, defaultTolerance: 0 },
  { id: 'stack_pages_per_min', name: 'client.php pages/min on the emulated box, candidate', unit: 'pages/min', direction: 'bigger', part: 'stack', decides: false, defaultTolerance: 0 },
  { id: 'seed_pages_vs_2013', name: 'client.php pages/min, candidate ÷ the 2013-style server', unit: 'ratio', direction: 'bigger', part: 'stack', decides: false, defaultTolerance: 0 },
  { id: 'seed_queue_cpu_vs_2013', name: 'queue-server CPU per enqueue in the stack, candidate ÷ the 2013-style server', unit: 'ratio', direction: 'smaller', part: 'stack', decides: false, defaultTolerance: 0 },
  { id: 'proto_conn_cpu_us', name: 'queue-server CPU per enqueue, a new connection per request, candidate', unit: 'µs', direction: 'smaller', part: 'proto', decides: false, defaultTolerance: 0 },
  { id: 'proto_persistent_req_s', name: 'req/s over persistent connections, candidate', unit: 'req/s', direction: 'bigger', part: 'proto', decides: false, defaultTolerance: 0 },
  { id: 'proto_persistent_req_s_ratio', name: 'req/s over persistent connections, candidate ÷ reference (the share of the machine each load got is in it)', unit: 'ratio', direction: 'bigger', part: 'proto', decides: false, defaultTolerance: 0 },
  { id: 'drain_rows_per_s', name: 'drain rows/s into MariaDB, candidate', unit: 'rows/s', direction: 'bigger', part: 'drain', decides: false, defaultTolerance: 0 },
  { id: 'drain_rows_per_s_ratio', name: 'drain rows/s into MariaDB, candidate ÷ reference (the share of the machine each drain got is in it)', unit: 'ratio', direction: 'bigger', part: 'drain', decides: false, defaultTolerance: 0 },
];

export function metricDef(id: string): MetricDef {
  const d = METRICS.find((m) => m.id === id);
  if (!d) throw new Error(`unknown gate metric "${id}"`);
  return d;
}

/** One metric's repetitions, as measured in a gate run. */
export interface MetricRepetitions {
  id: string;
  values: number[];
  median: number;
  cv: number;
}
