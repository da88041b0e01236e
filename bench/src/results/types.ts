// The result document's TypeScript shape; result.schema.json is the contract it must satisfy.
import type { SecondPoint } from '../load/generator.js';
import type { AckCheck } from '../check/ack-check.js';
import type { CpuBudget } from '../metrics/cpu-budget.js';
import type { LossCheck } from '../check/loss-check.js';
import type { Sample } from '../metrics/sampler.js';
import type { AppliedLimits, StackHost } from '../lab/types.js';
import type { ListenQueuesRecord } from '../metrics/listen-queues.js';
import type { LoadHostRecord } from '../metrics/load-host.js';
import type { QueueServerRecord } from './queue-observed.js';

export interface ResultDoc {
  schema_version: 1;
  batch_id: string;
  profile: string;
  runtime: 'native' | 'docker' | 'external';
  tool: { name: 'eserver-bench' | 'webbench' | 'autocannon'; version: string | null; command: string | null };
  /** The stack's queue server: which one, its runtime and fsync policy as read back; null without a stack (--url). Absent in older results. */
  queue_server?: QueueServerRecord | null;
  started_at: string;
  finished_at: string;
  /** When the load's clients started (after they were loaded); loads run at once share it. Null when the tool does not say; absent in older results. */
  load_started_at?: string | null;
  commit: string | null;
  url: string;
  machine: { cpu_model: string; cores: number; memory_bytes: number; kernel: string; loadavg_1m?: number; busy_before_pct?: number | null; sysctl: Record<string, string | null> };
  limits: AppliedLimits | null;
  /**
   * The machine the stack ran on when it was not `machine` (the generator's): a remote Docker engine's host,
   * whose CPU and memory figures were read through that engine. Null or absent: the stack ran on `machine`.
   */
  stack_host?: (StackHost & { busy_before_pct?: number | null }) | null;
  /**
   * Where the load ran when not beside the stack in this network namespace: a load namespace of its own
   * (--load-host netns), its addresses and what its side of the connections saw. Null or absent: here.
   */
  load_host?: LoadHostRecord | null;
  versions: Record<string, string>;
  config: {
    concurrency: number;
    duration_s: number;
    warmup_s: number;
    page: string;
    success_signal: string | null;
    workers: number | null;
    source_addresses: string[] | null;
    stack: Record<string, unknown> | null;
    /** The stack's main pids during the run (so a test can check nothing is left behind). */
    services: Array<{ name: string; pid: number | null }> | null;
  };
  summary: {
    pages_per_min: number;
    bytes_per_sec: number;
    succeeded: number;
    failed: number;
    strict_ok: number | null;
    strict_pages_per_min: number | null;
    cut_at_end: number | null;
    status: Record<string, number> | null;
    errors: Record<string, number> | null;
    latency_ms: { p50: number | null; p90: number | null; p99: number | null; p999: number | null; max: number | null; mean: number | null };
    lines: string[];
    note?: string;
  };
  loadgen: {
    clients: number;
    workers: number | null;
    cpu_user_ms: number | null;
    cpu_system_ms: number | null;
    cpu_us_per_request: number | null;
    /**
     * A tool we spawn (webbench): how long its measured run took, from start to exit, s. Each of its clients
     * runs -t seconds from its own start while Speed divides by -t, so a slow start (10,000 forks) overstates it.
     */
    wall_s?: number | null;
    note?: string;
  };
  loss_check: LossCheck | null;
  /** The 2013-style server has no drain: acks counted by the queue's length instead of MySQL rows. */
  ack_check?: AckCheck | null;
  /** The stack's use of its CPU quota and the load generator's cost, from the two sibling cgroups. */
  cpu_budget?: CpuBudget | null;
  /** `samples_started_at`: the instant of the samples' t = 0 (absent in older results: no window can be cut from them). */
  series: { load: SecondPoint[]; samples: Sample[]; samples_started_at?: string | null };
  histogram: string | null;
  verdict: { ok: boolean; reasons: string[] };
  /** Absent in results written before listen queues were recorded. */
  listen_queues?: ListenQueuesRecord | null;
  /** With --repeat N > 1: every repetition; the top-level figures are then the median repetition's. */
  repetitions?: Repetition[];
  repeat_summary?: RepeatSummary;
  /** Ours, on a stack the bench started: the 2013-style stack measured in the same repetitions, and the projection. */
  control?: ControlRecord;
  /** The control's own result: the run of ours it was measured beside. */
  control_of?: { profile: string; queue: string | null };
}

/** How the control ran beside ours in each repetition. */
export type PairingMode = 'at-once' | 'alternate';

/** One stack's side of a repetition: its figure, its own budget, when it ran. */
export interface PairSide {
  started_at: string;
  finished_at: string;
  /** When its load's clients started: the same instant for both sides when loaded at once. */
  load_started_at: string | null;
  pages_per_min: number;
  strict_ok: number | null;
  failed: number;
  /** The stack's own cgroup and quota, as the kernel held them. */
  budget: { cgroup: string | null; cpus: number | null; quota_us: number | null; period_us: number | null; from: string | null };
  /** The stack's CPU over the window ÷ its quota. */
  used_of_quota: number | null;
  /** Ours: the loss check; the control: the ack check. Null when not checked. */
  check_ok: boolean | null;
  /** µs of CPU per page over the measured window, per service; null when not measurable; absent in older results. */
  cpu_us_per_page?: CpuPerPage | null;
}

/**
 * µs of CPU per completed page over a run's measured window: each service's process tree (null when it was
 * not sampled), the stack's whole cgroup, and "other", what the cgroup spent outside the sampled trees.
 */
export interface CpuPerPage {
  /** The part of the measured window the samples covered, s. */
  window_s: number;
  services: Record<string, number | null>;
  cgroup: number | null;
  other: number | null;
}

/** One row of the split: the median over the repetitions of each side, and ours ÷ control of those medians. */
export interface CpuSplitRow {
  /** A service's name, "other" or "cgroup" (the whole stack). */
  part: string;
  ours: number | null;
  control: number | null;
  ratio: number | null;
}

/** Ours against the control, µs of CPU per page per service: the repetitions in which both sides were measured. */
export interface CpuSplit {
  n: number;
  rows: CpuSplitRow[];
}

export interface ControlPair {
  index: number;
  /** Alternated: which stack took the load first in this repetition; null when both took it at once. */
  first: 'ours' | 'control' | null;
  ours: PairSide;
  control: PairSide;
  /** ours ÷ control pages/min. */
  ratio: number;
  /** The seed's pages/min × ratio: this repetition's projection onto the 2013 box. */
  projected: number;
}

/**
 * The projection onto the 2013 box: in every repetition ours and the 2013-style stack (the control) ran on
 * the same budget, each in a cgroup of its own, and the seed's figure × ours ÷ control says what ours would
 * have done on the box that measured the seed. The machine's drift moves both stacks and cancels in the ratio.
 */
export interface ControlRecord {
  pairing: PairingMode;
  /** Why this pairing (the default, --pairing, the tool). */
  why: string;
  /** results/seed.json's pages/min. */
  seed_pages_per_min: number;
  pairs: ControlPair[];
  ratio: Spread;
  projected: Spread;
  ours_pages_per_min: Spread;
  control_pages_per_min: Spread;
  /** Where each stack's CPU per page goes; null when no repetition measured it; absent in older results. */
  cpu_per_page?: CpuSplit | null;
}

export interface Repetition {
  index: number;
  started_at: string;
  finished_at: string;
  busy_before_pct: number | null;
  summary: ResultDoc['summary'];
  loadgen: ResultDoc['loadgen'];
  loss_check: LossCheck | null;
  /** The 2013-style server's check (no drain): absent in older results. */
  ack_check?: AckCheck | null;
  listen_queues: ListenQueuesRecord | null;
  /** The stack's and the generator's CPU over this repetition's window: what a page cost, run by run. */
  cpu_budget?: CpuBudget | null;
  verdict: ResultDoc['verdict'];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Sample standard deviation / mean, %. */
  cv_pct: number;
  /** One per repetition, in order. */
  values: number[];
}

export interface RepeatSummary {
  n: number;
  /** Index of the repetition whose pages/min is the median (lower middle for an even n). */
  median_repetition: number;
  pages_per_min: Spread;
  strict_ok: Spread | null;
}
