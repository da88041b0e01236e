// What one gate run measures, and with which servers: the candidate (this working tree's queue server) and
// the reference (our own queue server at the pinned commit), loaded at the same time in every repetition.

export type GatePart = 'stack' | 'proto' | 'drain';
export const GATE_PARTS: readonly GatePart[] = ['stack', 'proto', 'drain'];

/** One side of the comparison: which build of the queue server, started how. */
export interface ServerBuild {
  role: 'candidate' | 'reference';
  /** The queue server's CLI script. */
  entry: string;
  /** Flags added to every start of it (the test-only burn of a slowed candidate). */
  args: string[];
  /** The commit it was built from, or null for the working tree. */
  commit: string | null;
  label: string;
}

export interface GateSettings {
  parts: GatePart[];
  /** Repetitions of every part; each gives one candidate ÷ reference ratio per metric, the median decides. */
  repetitions: number;
  stack: {
    /** Clients of each stack's client.php load (two loads at once, one per stack). */
    clients: number;
    /** Seconds of load before each measured window: the queue servers reach their steady state. */
    warmupS: number;
    durationS: number;
    /** Repetitions of ours against the 2013-style stack, at the end, for the record only (0 = none). */
    repetitions2013: number;
  };
  proto: {
    /** Clients per server of the new-connection-per-request cell (php-fpm's 12 children in the stack). */
    connClients: number;
    persistentClients: number;
    /** Seconds of unmeasured load before each cell: a fresh server's cold start must not leak in. */
    warmupS: number;
    durationS: number;
  };
  drain: { rows: number };
  /** Where the stacks, the databases and the reference worktree go. */
  runDir: string;
  /** The stacks' CPU budget each, when there is no calibration for this CPU model (and no --cpus). */
  defaultCpus: number;
  /** --cpus: both stacks' budget, whatever the calibration says. */
  cpus?: number;
}

export const DEFAULT_SETTINGS: Omit<GateSettings, 'runDir'> = {
  parts: [...GATE_PARTS],
  repetitions: 5,
  stack: { clients: 500, warmupS: 10, durationS: 10, repetitions2013: 1 },
  proto: { connClients: 12, persistentClients: 50, warmupS: 6, durationS: 6 },
  drain: { rows: 500_000 },
  defaultCpus: 0.5,
};
