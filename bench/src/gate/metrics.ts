// The metrics the gate measures. Every metric that decides is a ratio against something measured in
// the same run, so that a slower or faster machine moves both sides alike.

export type Direction = 'bigger' | 'smaller';

export interface MetricDef {
  id: string;
  name: string;
  unit: string;
  direction: Direction;
  /** Tolerance used when a baseline is first written, before measured noise widens it. */
  defaultTolerance: number;
  part: GatePart;
  /**
   * Whether a change beyond tolerance fails the gate. A metric that does not decide is still measured,
   * compared with its baseline and published, but only flagged in the table.
   */
  decides: boolean;
}

export type GatePart = 'stack' | 'proto' | 'drain';

// Tolerances and which metrics decide were tuned from `make bench-gate-power`; the figures behind each
// choice are in bench/README.md ("Measured power"). In short: an absolute µs figure moves with the machine,
// so only ratios to a reference measured in the same window decide.
export const METRICS: readonly MetricDef[] = [
  { id: 'stack_ratio', name: 'stack ratio: client.php ÷ baseline.php pages/min (emulated box)', unit: 'ratio', direction: 'bigger', defaultTolerance: 0.2, part: 'stack', decides: true },
  // The seed's own path on the emulated box, against the 2013-style server in the same run: a slower
  // connection path shows here, where the persistent-connection req/s ratio cannot see it.
  { id: 'seed_ppm_vs_2013', name: 'client.php pages/min, our server ÷ the 2013-style server (emulated box)', unit: 'ratio', direction: 'bigger', defaultTolerance: 0.1, part: 'stack', decides: true },
  { id: 'seed_queue_cpu_us_per_enqueue', name: 'queue server CPU per enqueue in the stack, ours (journal + drain; emulated box)', unit: 'µs', direction: 'smaller', defaultTolerance: 0.1, part: 'stack', decides: false },
  { id: 'seed_queue_cpu_vs_2013', name: 'queue server CPU per enqueue in the stack, ours (journal + drain) ÷ the 2013-style server (emulated box)', unit: 'ratio', direction: 'smaller', defaultTolerance: 0.1, part: 'stack', decides: true },
  { id: 'queue_cpu_us_per_enqueue', name: 'queue server CPU per enqueue (new connection per request)', unit: 'µs', direction: 'smaller', defaultTolerance: 0.06, part: 'proto', decides: false },
  { id: 'queue_cpu_vs_c_ref', name: 'queue server CPU per enqueue ÷ C reference (new connection per request)', unit: 'ratio', direction: 'smaller', defaultTolerance: 0.3, part: 'proto', decides: true },
  { id: 'proto_rps_vs_c_ref', name: 'protocol req/s ÷ C reference (persistent connections)', unit: 'ratio', direction: 'bigger', defaultTolerance: 0.1, part: 'proto', decides: true },
  { id: 'drain_vs_raw_insert', name: 'drain rows/s ÷ raw mysql2 multi-row INSERT rows/s', unit: 'ratio', direction: 'bigger', defaultTolerance: 0.15, part: 'drain', decides: true },
  // The shipped configuration (journal `always` + drain) against the pure queue, same load, same repetition:
  // a slower journal or drain moves it, a slower machine or protocol path mostly cancels. Tolerance: see
  // bench/README.md ("shipped ÷ pure").
  { id: 'shipped_cpu_vs_pure', name: 'shipped (journal always + drain) ÷ pure queue CPU per enqueue (12 clients, new connection per request)', unit: 'ratio', direction: 'smaller', defaultTolerance: 0.25, part: 'drain', decides: true },
];

export function metricDef(id: string): MetricDef | undefined {
  return METRICS.find((m) => m.id === id);
}

/** One metric's repetitions, as measured in a gate run. */
export interface MetricRepetitions {
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
