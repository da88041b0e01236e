// Seams between the queue core (queue.ts, server.ts) and the durability / drain parts
// (journal.ts, writer.ts, sql-guard.ts). They let each part be built and tested alone.
import type { Entry } from './entry.js';

export type GuardVerdict = { ok: true } | { ok: false; reason: string };

/** Decides at enqueue time whether a statement may enter the queue. */
export interface StatementGuard {
  check(sql: string): GuardVerdict;
}

/** Where accepted entries are made durable before they are acknowledged. */
export interface JournalSink {
  append(entry: Entry): void;
  /**
   * Calls done(ctx, null) once, when everything appended so far is as durable as the fsync policy promises,
   * or done(ctx, err) when the journal refuses it. Callbacks run in the order they were registered (so in
   * append order), never before the write they wait for has returned. A refusal is final: every entry
   * appended and not yet settled is refused with it, none of them will replay, and later appends throw.
   * A callback per entry instead of a promise: no promise, closure or microtask per acknowledged entry.
   */
  afterFlush<T>(done: DurableCallback<T>, ctx: T): void;
}

export type DurableCallback<T> = (ctx: T, err: Error | null) => void;

/** One Prometheus sample contributed by a part of the server. */
export interface MetricSample {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value: number;
  labels?: Record<string, string>;
}

export interface MetricSource {
  metrics(): MetricSample[];
}

/** Structured logger: one JSON line per event. */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}
