// Named load profiles. A profile says what to drive and how hard; flags and BENCH_* env override it.
import type { QueueImpl } from '../lab/seed2013.js';

export type PageName = 'client' | 'baseline' | 'persistent';
export type ProfileKind = 'webbench' | 'keepalive';

export interface Profile {
  name: string;
  kind: ProfileKind;
  page: PageName;
  concurrency: number;
  durationS: number;
  warmupS: number;
  /** Strict success needs HTTP 200 and a body that starts with this text. */
  successSignal: string | null;
  /** Whether this profile's pages enqueue (so the loss check applies). */
  enqueues: boolean;
  /** The queue server the stack runs for this profile (default 'ts', ours). */
  queueImpl?: QueueImpl;
  description: string;
  /** Repetitions when --repeat is not given (default 1): the headline profile repeats for its median. */
  repeat?: number;
}

const SEED = { concurrency: 10_000, durationS: 30, warmupS: 5 };

export const PROFILES: Record<string, Profile> = {
  seed: {
    name: 'seed', kind: 'webbench', page: 'client', ...SEED, successSignal: 'ok', enqueues: true, repeat: 5,
    description: "The seed's run: 10,000 clients, 30 s, a new connection per request, client.php",
  },
  seed2013: {
    name: 'seed2013', kind: 'webbench', page: 'client', ...SEED, successSignal: 'ok', enqueues: true, queueImpl: 'seed2013',
    description: "The seed's load against the 2013-style queue server (Python, no drain): what make calibrate tunes to the seed's figure",
  },
  baseline: {
    name: 'baseline', kind: 'webbench', page: 'baseline', ...SEED, successSignal: 'ok', enqueues: false,
    description: 'The same load on a page with no queue call: what the queue costs',
  },
  persistent: {
    name: 'persistent', kind: 'webbench', page: 'persistent', ...SEED, successSignal: 'ok', enqueues: true,
    description: "The seed's load on client_persistent.php: what connection reuse to the queue buys",
  },
  keepalive: {
    name: 'keepalive', kind: 'keepalive', page: 'client', concurrency: 1000, durationS: 30, warmupS: 5,
    successSignal: 'ok', enqueues: true,
    description: 'HTTP keep-alive load through autocannon, for comparison (not webbench-equivalent)',
  },
  smoke: {
    name: 'smoke', kind: 'webbench', page: 'client', concurrency: 50, durationS: 3, warmupS: 1,
    successSignal: 'ok', enqueues: true,
    description: 'Small and short, for tests',
  },
};

/** What `make bench` runs with no PROFILE: the seed, then the baseline, so the report shows the queue's cost. */
export const DEFAULT_PROFILES = ['seed', 'baseline'];

export interface Overrides {
  concurrency?: number;
  durationS?: number;
  warmupS?: number;
  successSignal?: string | null;
  page?: PageName;
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

/** BENCH_CONCURRENCY, BENCH_DURATION, BENCH_WARMUP, BENCH_SIGNAL, BENCH_PAGE: the env side of the overrides. */
export function envOverrides(env: NodeJS.ProcessEnv = process.env): Overrides {
  const o: Overrides = {
    concurrency: num(env.BENCH_CONCURRENCY, 'BENCH_CONCURRENCY'),
    durationS: num(env.BENCH_DURATION, 'BENCH_DURATION'),
    warmupS: num(env.BENCH_WARMUP, 'BENCH_WARMUP'),
  };
  if (env.BENCH_SIGNAL !== undefined) o.successSignal = env.BENCH_SIGNAL === '' ? null : env.BENCH_SIGNAL;
  if (env.BENCH_PAGE !== undefined) o.page = parsePage(env.BENCH_PAGE);
  return o;
}

export function parsePage(p: string): PageName {
  if (p === 'client' || p === 'baseline' || p === 'persistent') return p;
  throw new Error(`page must be client, baseline or persistent, got ${JSON.stringify(p)}`);
}

/** Flags win over env, env over the profile. An unknown name is a custom run based on the seed. */
export function resolveProfile(name: string, flags: Overrides, env: Overrides = envOverrides()): Profile {
  const base = PROFILES[name];
  if (!base) throw new Error(`unknown profile ${JSON.stringify(name)}; known: ${Object.keys(PROFILES).join(', ')}`);
  const pick = <K extends keyof Overrides>(k: K) => (flags[k] !== undefined ? flags[k] : env[k]);
  const p: Profile = { ...base };
  const c = pick('concurrency');
  const d = pick('durationS');
  const w = pick('warmupS');
  const s = pick('successSignal');
  const pg = pick('page');
  if (c !== undefined) p.concurrency = Math.max(1, Math.floor(c));
  if (d !== undefined) p.durationS = Math.max(1, d);
  if (w !== undefined) p.warmupS = w;
  if (s !== undefined) p.successSignal = s;
  if (pg !== undefined) {
    p.page = pg;
    p.enqueues = pg !== 'baseline';
  }
  return p;
}

/**
 * The control beside a profile of ours: the 2013-style stack under the same load (clients, warm-up, seconds)
 * on the seed's page, client.php, whatever page ours is driven on: it stands for the box that measured the seed.
 */
export function controlProfile(ours: Profile): Profile {
  return { ...PROFILES.seed2013!, concurrency: ours.concurrency, durationS: ours.durationS, warmupS: ours.warmupS, repeat: ours.repeat };
}

/** --repeat wins; else the profile's own default (the seed: 3); else 1. */
export function repetitionsFor(p: Profile, flag?: number): number {
  const n = flag ?? p.repeat ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--repeat must be an integer >= 1, got ${n}`);
  return n;
}
