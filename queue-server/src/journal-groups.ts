// The callbacks waiting on the journal's writes. A group gathers every callback registered before its write
// starts and settles them in registration order once the write returns (or fails); flush() is one of them
// in promise form. Callbacks, not promises, so that an acknowledged entry costs no promise or closure.
import type { DurableCallback, Logger } from './contracts.js';

/** The callbacks waiting on one group write, in registration order. */
export interface Group {
  fns: Array<DurableCallback<never>>;
  ctxs: unknown[];
}

export function newGroup(): Group {
  return { fns: [], ctxs: [] };
}

export function joinGroup<T>(g: Group, done: DurableCallback<T>, ctx: T): void {
  g.fns.push(done as DurableCallback<never>);
  g.ctxs.push(ctx);
}

/** Runs a group's callbacks in order; one that throws is logged and does not keep the others from running. */
export function settleGroup(group: Group, err: Error | null, log: Logger): void {
  const { fns, ctxs } = group;
  for (let i = 0; i < fns.length; i++) {
    try {
      (fns[i] as DurableCallback<unknown>)(ctxs[i], err);
    } catch (e) {
      log.error('journal_callback_failed', { err: e as Error });
    }
  }
}

export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A group nobody awaits must not become an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** The DurableCallback of flush(): settles its promise. */
export function settlePromise(d: Deferred, err: Error | null): void {
  if (err === null) d.resolve();
  else d.reject(err);
}
