// The one way tests (and scripts) wait for something to happen: poll a condition until it holds or a
// deadline passes. A deadline is an upper bound for a hung run, never a timing assertion.

export interface WaitOptions {
  /** Give up after this long, ms (default 10 s). */
  timeoutMs?: number;
  /** Pause between polls, ms (default 10). */
  intervalMs?: number;
  /** What is awaited, for the timeout's message. */
  what?: string;
}

/**
 * Polls `cond` (sync or async) until it returns a truthy value, and returns that value. Throws, naming
 * `what`, when the deadline passes; an exception from `cond` ends the wait at once.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, o: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${o.what ?? 'a condition'}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 10));
  }
}
