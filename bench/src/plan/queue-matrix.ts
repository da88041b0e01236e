// The queue server's runtimes and fsync policies side by side (--queue-runtime, --fsync): which profiles
// run once per (runtime, policy) combination and which run once. A profile that enqueues through our
// server measures the runtime and the policy, so it runs once per combination; the 2013-style server and the
// no-queue page do not depend on them, so they run once, on the first combination's stack.
import { OPTION_SPECS, DEFAULTS } from '@eserver-lab/queue-server/config';
import type { FsyncPolicy } from '@eserver-lab/queue-server';
import { DEFAULT_QUEUE_RUNTIME, QUEUE_RUNTIMES, queueRuntimeName, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { repetitionsFor, type Profile } from './profiles.js';

/** The policies the queue server accepts, from its own option table. */
export const FSYNC_POLICIES: readonly FsyncPolicy[] = (OPTION_SPECS.find((s) => s.key === 'fsync')?.choices ?? []) as readonly FsyncPolicy[];

/** The lab ships the queue server with its own default policy (neither runtime passes --fsync). */
export const SHIPPED_FSYNC: FsyncPolicy = DEFAULTS.fsync;

/** The runtime the lab ships (the queue server's own default; QUEUE_RUNTIME picks another for a run). */
export const SHIPPED_RUNTIME: QueueRuntimeName = DEFAULT_QUEUE_RUNTIME;

export interface QueueSetup {
  runtime: QueueRuntimeName;
  fsync: FsyncPolicy;
}

/** A comma-separated list of accepted names, without repeats, in the given order; anything else is refused. */
function parseList<T extends string>(what: string, flag: string, value: string, accepted: readonly T[]): T[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new Error(`${flag} needs at least one ${what}: ${accepted.join(', ')}`);
  const out: T[] = [];
  for (const n of names) {
    if (!(accepted as readonly string[]).includes(n)) {
      throw new Error(`${flag}: "${n}" is not a ${what}; use a comma-separated list of ${accepted.join(', ')}`);
    }
    if (!out.includes(n as T)) out.push(n as T);
  }
  return out;
}

export function parseQueueRuntimes(value: string): QueueRuntimeName[] {
  return parseList('queue server runtime', '--queue-runtime', value, QUEUE_RUNTIMES);
}

export function parseFsyncPolicies(value: string): FsyncPolicy[] {
  return parseList('fsync policy', '--fsync', value, FSYNC_POLICIES);
}

/** Without --queue-runtime: the one runtime QUEUE_RUNTIME names (bun when unset), as before the option existed. */
export function defaultQueueRuntimes(env: NodeJS.ProcessEnv = process.env): QueueRuntimeName[] {
  return [queueRuntimeName(env.QUEUE_RUNTIME)];
}

/** Every (runtime, policy) pair, runtime by runtime, in the order given. */
export function queueSetups(runtimes: readonly QueueRuntimeName[], policies: readonly FsyncPolicy[]): QueueSetup[] {
  if (runtimes.length === 0 || policies.length === 0) throw new Error('at least one queue runtime and one fsync policy are needed');
  return runtimes.flatMap((runtime) => policies.map((fsync) => ({ runtime, fsync })));
}

/** Whether the profile's figure depends on our queue server's runtime and policy: it enqueues through it. */
export function measuresOurQueue(p: Profile): boolean {
  return p.enqueues && (p.queueImpl ?? 'ts') === 'ts';
}

export interface PlannedRun {
  profile: Profile;
  /** Our queue server's runtime and policy on this stack; null when the stack runs the 2013-style server. */
  setup: QueueSetup | null;
  /** Repetitions of this (profile, setup), each on a fresh stack. */
  repeat: number;
}

/**
 * The run's plan, profile by profile in the order given: an enqueuing profile on our server once per
 * combination, each with its own --repeat; the others once, on the first combination.
 */
export function expandPlan(profiles: readonly Profile[], setups: readonly QueueSetup[], repeatFlag?: number): PlannedRun[] {
  if (setups.length === 0) throw new Error('no queue runtime / fsync policy combination to run');
  return profiles.flatMap((p): PlannedRun[] => {
    const repeat = repetitionsFor(p, repeatFlag);
    if ((p.queueImpl ?? 'ts') !== 'ts') return [{ profile: p, setup: null, repeat }];
    if (!measuresOurQueue(p)) return [{ profile: p, setup: setups[0]!, repeat }];
    return setups.map((setup) => ({ profile: p, setup, repeat }));
  });
}

/** The queue server flags that apply a setup (an explicit --fsync: a flag wins over ESERVER_FSYNC). */
export function setupArgs(s: QueueSetup): string[] {
  return ['--fsync', s.fsync];
}

export function setupLabel(s: QueueSetup): string {
  return `${s.runtime}, fsync ${s.fsync}`;
}

export function isShipped(s: { runtime: string | null; fsync: string | null }): boolean {
  return s.runtime === SHIPPED_RUNTIME && s.fsync === SHIPPED_FSYNC;
}
