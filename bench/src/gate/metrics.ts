// The metrics the gate decides on. Every performance metric is a ratio against something measured in
// the same run (or a per-request cost), so that a slower or faster machine moves both sides alike.

export type Direction = 'bigger' | 'smaller';

export interface MetricDef {
  id: string;
  name: string;
  unit: string;
  direction: Direction;
  /** Tolerance used when a baseline is first written, before measured noise widens it. */
  defaultTolerance: number;
  part: GatePart;
}

export type GatePart = 'stack' | 'proto' | 'drain';

export const METRICS: readonly MetricDef[] = [
  { id: 'stack_ratio', name: 'stack ratio: client.php ÷ baseline.php pages/min', unit: 'ratio', direction: 'bigger', defaultTolerance: 0.1, part: 'stack' },
  { id: 'queue_cpu_us_per_enqueue', name: 'queue server CPU per enqueue (new connection per request)', unit: 'µs', direction: 'smaller', defaultTolerance: 0.06, part: 'proto' },
  // 0.30, not tighter: in `make bench-gate-power` (10 clean + 10 slowed runs) clean runs of this ratio spread
  // up to +25% around their baseline while the 10% slowdown moved it by about as much, so a tighter
  // tolerance gave 3 false alarms in 10 and caught nothing that proto_rps_vs_c_ref did not catch already.
  { id: 'queue_cpu_vs_c_ref', name: 'queue server CPU per enqueue ÷ C reference (new connection per request)', unit: 'ratio', direction: 'smaller', defaultTolerance: 0.3, part: 'proto' },
  { id: 'proto_rps_vs_c_ref', name: 'protocol req/s ÷ C reference (persistent connections)', unit: 'ratio', direction: 'bigger', defaultTolerance: 0.1, part: 'proto' },
  { id: 'drain_vs_raw_insert', name: 'drain rows/s ÷ raw mysql2 multi-row INSERT rows/s', unit: 'ratio', direction: 'bigger', defaultTolerance: 0.15, part: 'drain' },
];

export function metricDef(id: string): MetricDef | undefined {
  return METRICS.find((m) => m.id === id);
}

/** One metric's repetitions, as measured in a gate run. */
export interface MetricSample {
  id: string;
  values: number[];
  median: number;
  cv: number;
}

/** An absolute check: it passes or fails, with no tolerance and no baseline. */
export interface CorrectnessCheck {
  id: string;
  name: string;
  ok: boolean;
  detail: string;
}
