// The drain's fault and backoff state: whether MySQL answers, why the drain does not progress although it
// does (for /healthz and operators), and how long to wait before the next try. Logged when it changes, not
// at every retry.
import type { Logger, MetricSample } from './contracts.js';
import { describe } from './mysql-errors.js';

/** Why the drain does not progress although MySQL answers; null while it does. */
export interface DrainFault {
  /**
   * configuration: an operator must fix MySQL (retried); fenced: another server took the stream (final);
   * seq_conflict: the queued entries were numbered without the stream's offset (final).
   */
  kind: 'configuration' | 'fenced' | 'seq_conflict';
  errno: number | null;
  message: string;
  fix: string;
  since: number;
}

/** Retry delays: from minMs, doubling up to maxMs, back to minMs after a success. */
export class Backoff {
  private delay: number;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {
    this.delay = minMs;
  }

  /** The wait before the next try. */
  get current(): number {
    return this.delay;
  }

  /** Another failure: the next wait is twice as long, up to maxMs. */
  grow(): void {
    this.delay = Math.min(this.delay * 2, this.maxMs);
  }

  reset(): void {
    this.delay = this.minMs;
  }
}

export interface DrainHealthOptions {
  log: Logger;
  stream: string;
  /** How often a configuration fault is retried (for the log). */
  configRetryMs: number;
  /** Where the drain is, for the log lines. */
  position: () => { depth: number; committedSeq: number };
}

export class DrainHealth {
  private up = true; // assumed up until a failure says otherwise; the gauge starts at 1 only after a success
  private everUp = false;
  private downSince = 0;
  private retriesThisOutage = 0;
  private retries = 0;
  private current: DrainFault | null = null;

  constructor(private readonly o: DrainHealthOptions) {}

  get fault(): DrainFault | null {
    return this.current;
  }

  /** A fault that no retry clears (fenced, seq_conflict): the drain stops. */
  get final(): boolean {
    return this.current !== null && this.current.kind !== 'configuration';
  }

  markUp(): void {
    if (!this.up) {
      this.o.log.info('mysql_up', { downMs: Date.now() - this.downSince, retries: this.retriesThisOutage, committedSeq: this.o.position().committedSeq });
    }
    this.up = true;
    this.everUp = true;
    this.retriesThisOutage = 0;
  }

  markDown(err: unknown): void {
    if (this.up) {
      this.downSince = Date.now();
      this.o.log.warn('mysql_down', { ...describe(err), ...this.o.position() });
    }
    this.up = false;
  }

  /** A batch attempt failed for a transient reason and is tried again. */
  retried(err: unknown): void {
    this.retries++;
    this.retriesThisOutage++;
    this.markDown(err);
  }

  /** Logs the fault when it starts or changes (not at every retry). */
  setFault(f: Omit<DrainFault, 'since'>, seq: number): void {
    const prev = this.current;
    if (prev !== null && prev.kind === f.kind && prev.errno === f.errno && prev.message === f.message) return;
    this.current = { ...f, since: prev?.since ?? Date.now() };
    this.o.log.error(f.kind === 'fenced' ? 'stream_taken_over' : f.kind === 'seq_conflict' ? 'seq_conflict' : 'drain_blocked', {
      stream: this.o.stream,
      errno: f.errno,
      error: f.message.slice(0, 1000),
      fix: f.fix,
      seq,
      depth: this.o.position().depth,
      retryMs: f.kind === 'configuration' ? this.o.configRetryMs : null,
    });
  }

  clearFault(): void {
    if (this.current === null) return;
    this.o.log.info('drain_resumed', { stream: this.o.stream, blockedMs: Date.now() - this.current.since });
    this.current = null;
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_mysql_up', help: '1 when the last MySQL operation of the drain succeeded', type: 'gauge', value: this.up && this.everUp ? 1 : 0 },
      { name: 'eserver_drain_retries_total', help: 'Batch attempts that failed for a transient reason and were retried', type: 'counter', value: this.retries },
      {
        name: 'eserver_drain_blocked',
        help: '1 while the drain is stopped by a MySQL configuration error or lost its stream to another server (see the log)',
        type: 'gauge',
        value: this.current === null ? 0 : 1,
      },
    ];
  }
}
