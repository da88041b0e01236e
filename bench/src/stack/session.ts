// One stack session: bring up one stack or several side by side (each resolved from its options by the
// runtime's resolver: ports, budget, backlog...), run the caller's work against them, and take them all down,
// on success, on error and on Ctrl-C or TERM alike. The bench run, chaos and calibrate go through here, so
// none of them wires up ports, budget, signals and teardown on its own.
import { getRuntime, type RuntimeChoice } from '../lab/index.js';
import type { LabRuntime, StackInfo, UpOptions } from '../lab/types.js';
import { teardownOnSignal } from '../host/on-signal.js';

export interface SessionOptions {
  /** The runtime, or how to pick one (native, docker, auto). */
  runtime: LabRuntime | RuntimeChoice;
  log: (line: string) => void;
  /** Prefixes the signal messages (e.g. 'chaos: '). */
  label?: string;
  /** More to undo after the stacks are down (e.g. unmount a journal filesystem), on a signal too. */
  cleanup?: () => Promise<void>;
}

/**
 * Starts a stack per entry of `specs`, in order, and calls `fn` with them (in the same order). Every stack
 * started is taken down before this returns or throws; a signal during the session tears them down and
 * exits 130/143 (host/on-signal.ts).
 */
export async function withStacks<T>(specs: readonly UpOptions[], fn: (stacks: StackInfo[], runtime: LabRuntime) => Promise<T>, o: SessionOptions): Promise<T> {
  const runtime = typeof o.runtime === 'string' ? await getRuntime(o.runtime, o.log) : o.runtime;
  const stacks: StackInfo[] = [];
  // A Ctrl-C while a stack is still starting aborts that start: the runtime takes down what it had started.
  const starts = new AbortController();
  let starting: Promise<unknown> | null = null;
  let downing: Promise<void> | null = null;
  /** Every stack down (each tried even when another fails), then the cleanup; rejects with the first failure. */
  const teardown = (): Promise<void> => {
    downing ??= (async () => {
      starts.abort();
      await starting?.catch(() => {});
      const failures: Error[] = [];
      // Reverse order: the last one up is the first one down, as a runtime stops its services.
      for (const s of [...stacks].reverse()) {
        o.log(`stopping the ${s.runtime} stack (${s.runDir})`);
        await runtime.down(s.runDir).catch((e: Error) => failures.push(e));
      }
      if (o.cleanup) await o.cleanup().catch((e: Error) => failures.push(e));
      for (const e of failures) o.log(`${o.label ?? ''}teardown: ${e.message}`);
      if (failures.length > 0) throw failures[0];
    })();
    return downing;
  };
  const untrap = teardownOnSignal(teardown, { label: o.label ?? '', log: o.log });
  let result: T;
  try {
    for (const spec of specs) {
      if (starts.signal.aborted) throw new Error('interrupted');
      starting = runtime.up({ log: o.log, ...spec, signal: starts.signal });
      stacks.push((await starting) as StackInfo);
      starting = null;
    }
    result = await fn(stacks, runtime);
  } catch (err) {
    // The work's own error is the one to see; a teardown failure is logged by teardown.
    await teardown().catch(() => {});
    untrap();
    throw err;
  }
  try {
    await teardown();
  } finally {
    untrap();
  }
  return result;
}

/** withStacks for one stack. */
export function withStack<T>(spec: UpOptions, fn: (stack: StackInfo, runtime: LabRuntime) => Promise<T>, o: SessionOptions): Promise<T> {
  return withStacks([spec], (stacks, runtime) => fn(stacks[0]!, runtime), o);
}
