// The drain: takes batches from the queue and commits them to MySQL exactly once, one transaction per
// batch, then drops them from the queue and tells the journal. This file is the loop: when to take a batch,
// what to do with its outcome, start and stop. The parts:
//   drain-claim.ts        claiming the stream before the first batch (lock, journal binding, engines, offset);
//   drain-batch.ts        one batch attempt, bounded in time: the fast path, else the full transaction;
//   drain-fast-path.ts    the common batch in two round trips (conditional offset UPDATE + INSERT, COMMIT);
//   drain-transaction.ts  the statement-by-statement transaction, with bisection and dead letters;
//   drain-faults.ts       whether MySQL answers, why the drain is blocked, and the retry backoff;
//   drain-errors.ts       how a failure is sorted (retry, wait for an operator, stop);
//   drain-pools.ts        the MySQL connection pools.
import type { PoolConnection } from 'mysql2/promise';
import type { Entry } from './entry.js';
import type { Logger, MetricSample, MetricSource } from './contracts.js';
import { BatchCommitter } from './drain-batch.js';
import { claimStream } from './drain-claim.js';
import { Blocked, Fenced, SeqConflict, Transient } from './drain-errors.js';
import { Backoff, DrainHealth, type DrainFault } from './drain-faults.js';
import { DrainPools, poolOptionsFromUrl } from './drain-pools.js';
import { describe } from './mysql-errors.js';
import { StreamLease } from './stream-lease.js';

export type { DrainFault } from './drain-faults.js';
export { poolOptionsFromUrl } from './drain-pools.js';

/** What the writer needs from the queue (the Queue class fits; tests can use a plain array). */
export interface DrainSource {
  peekBatch(n: number): Entry[];
  commit(n: number): unknown;
  readonly length: number;
  onEnqueue: (() => void) | null;
}

export interface MysqlWriterOptions {
  url: string;
  stream: string;
  batchSize: number;
  batchMs: number;
  maxBackoffMs: number;
  log: Logger;
  onCommitted?: (seq: number) => void;
  /** How long readCommittedSeq() keeps retrying while MySQL is unreachable. Default 30 s. */
  startupWaitMs?: number;
  /** First retry delay; doubles up to maxBackoffMs. Default 50 ms. */
  minBackoffMs?: number;
  /**
   * A statement that gets no answer for this long (a hung or stopped server) fails the batch, which is then
   * retried on a new connection. Default 60 s (above InnoDB's 50 s lock wait timeout).
   */
  queryTimeoutMs?: number;
  /** The journal directory, bound to the stream and database (journal-identity.ts); null without a journal. */
  journalDir?: string | null;
  /** The tables the entries write (the guard's allow-list): refused at claim unless transactional. */
  tables?: string[];
  /** While a configuration error blocks the drain, the batch is tried again this often. Default 5 s. */
  configRetryMs?: number;
  /** How often the stream lock's connection is checked. Default 5 s. */
  leaseCheckMs?: number;
}

const ER_NET_PACKET_TOO_LARGE = 1153;

type ResolvedOptions = Required<Omit<MysqlWriterOptions, 'onCommitted' | 'journalDir' | 'tables'>> &
  Pick<MysqlWriterOptions, 'onCommitted'> & { journalDir: string | null; tables: string[] };

export class MysqlWriter implements MetricSource {
  private readonly queue: DrainSource;
  private readonly opts: ResolvedOptions;
  private readonly pools: DrainPools;
  private readonly batches: BatchCommitter;
  private readonly health: DrainHealth;
  private readonly log: Logger;
  private readonly lease: StreamLease;
  private readonly database: string;
  private claimed = false;
  private stopped: Promise<void> | null = null;

  private running = false;
  private started = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /**
   * The queue length that wakes the loop: 1 while it waits for any entry, batchSize while a batch fills for
   * batchMs (then the timer ends the wait), so a filling batch costs one timer, not a wake-up per enqueue.
   */
  private wakeAt = 1;
  private stopping = false;
  private drainOnStop = true;
  private deadline = Infinity;

  // metrics
  private drained = 0;
  private batchesDone = 0;
  private statements = 0;
  private deadLetters = 0;
  private skipped = 0;
  private committedSeq = 0;

  constructor(queue: DrainSource, opts: MysqlWriterOptions) {
    this.queue = queue;
    this.opts = {
      startupWaitMs: 30_000,
      minBackoffMs: 50,
      configRetryMs: 5000,
      leaseCheckMs: 5000,
      ...opts,
      // An option given as undefined keeps its default (a spread alone would copy the undefined).
      queryTimeoutMs: opts.queryTimeoutMs ?? 60_000,
      journalDir: opts.journalDir ?? null,
      tables: opts.tables ?? [],
      batchSize: Math.max(1, opts.batchSize),
      batchMs: Math.max(0, opts.batchMs),
      maxBackoffMs: Math.max(1, opts.maxBackoffMs),
    };
    this.log = opts.log;
    const po = poolOptionsFromUrl(opts.url);
    this.database = `mysql://${po.socketPath ?? `${po.host}:${po.port}`}/${po.database}`;
    this.pools = new DrainPools(po, this.opts.queryTimeoutMs);
    this.lease = new StreamLease({
      connection: { ...po, charset: 'utf8mb4' },
      stream: opts.stream,
      database: this.database,
      log: this.log,
      checkMs: this.opts.leaseCheckMs,
      queryTimeoutMs: this.opts.queryTimeoutMs,
    });
    const depth = (): number => this.queue.length;
    this.batches = new BatchCommitter(this.pools, {
      stream: opts.stream,
      owner: this.lease.owner,
      queryTimeoutMs: this.opts.queryTimeoutMs,
      log: this.log,
      batchSize: this.opts.batchSize,
      batchMs: this.opts.batchMs,
      depth,
    });
    this.health = new DrainHealth({
      log: this.log,
      stream: opts.stream,
      configRetryMs: this.opts.configRetryMs,
      position: () => ({ depth: depth(), committedSeq: this.committedSeq }),
    });
  }

  /** Why the drain is stopped although MySQL answers (for /healthz and operators); null while it drains. */
  get fault(): DrainFault | null {
    return this.health.fault;
  }

  /**
   * Claims the stream for this writer (refused while another server drains it, or when the journal belongs
   * elsewhere) and returns the highest seq committed for it (0 when none). Retries while MySQL is unreachable.
   */
  async readCommittedSeq(): Promise<number> {
    const until = Date.now() + this.opts.startupWaitMs;
    const backoff = new Backoff(this.opts.minBackoffMs, this.opts.maxBackoffMs);
    for (;;) {
      try {
        const v = await this.claim();
        this.health.markUp();
        return v;
      } catch (err) {
        if (err instanceof Blocked) {
          const msg = describe(err.cause).message;
          throw new Error(msg.includes(err.fix) ? msg : `${msg} (fix: ${err.fix})`, { cause: err.cause });
        }
        const cause = err instanceof Transient ? err.cause : err;
        if (!(err instanceof Transient) || Date.now() + backoff.current > until) throw cause;
        this.health.markDown(cause);
        await sleep(backoff.current);
        backoff.grow();
      }
    }
  }

  private async claim(): Promise<number> {
    const seq = await claimStream({
      pool: this.pools.statements,
      lease: this.lease,
      stream: this.opts.stream,
      database: this.database,
      journalDir: this.opts.journalDir,
      tables: this.opts.tables,
      queryTimeoutMs: this.opts.queryTimeoutMs,
      log: this.log,
      numberedHead: () => (this.started ? this.queue.peekBatch(1)[0] : undefined),
    });
    this.committedSeq = Math.max(this.committedSeq, seq);
    this.claimed = true;
    return seq;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.started = true;
    this.queue.onEnqueue = () => {
      const w = this.wake;
      if (w !== null && this.queue.length >= this.wakeAt) {
        this.wake = null;
        w();
      }
    };
    this.loop = this.run().catch((err) => {
      this.log.error('writer_crashed', { err });
    });
  }

  /**
   * Stops the drain. With drain=true it first keeps committing until the queue is empty or timeoutMs passed
   * (what is left stays in the journal for the next start). Always waits for the batch in flight. A second
   * call waits for the first one's end.
   */
  stop(opts: { drain: boolean; timeoutMs: number }): Promise<void> {
    this.stopped ??= this.stopOnce(opts);
    return this.stopped;
  }

  private async stopOnce(opts: { drain: boolean; timeoutMs: number }): Promise<void> {
    this.stopping = true;
    this.drainOnStop = opts.drain;
    this.deadline = Date.now() + Math.max(0, opts.timeoutMs);
    this.poke();
    if (this.loop !== null) {
      const t = setTimeout(() => this.poke(), Math.max(0, opts.timeoutMs) + 1);
      await this.loop;
      clearTimeout(t);
    }
    this.running = false;
    if (this.queue.onEnqueue !== null) this.queue.onEnqueue = null;
    await this.releaseStream();
    await this.pools.end();
    if (this.queue.length > 0) this.log.warn('writer_stopped_with_backlog', { depth: this.queue.length, committedSeq: this.committedSeq });
  }

  private async releaseStream(): Promise<void> {
    let conn: PoolConnection | null = null;
    if (this.claimed && this.health.fault?.kind !== 'fenced') conn = await this.pools.statements.getConnection().catch(() => null);
    try {
      // With a backlog the journal keeps the stream: only it holds those entries. Before start() (start-up
      // failed half way) the queue may not have been restored from the journal yet: keep it bound too.
      await this.lease.release(conn, !this.started || this.queue.length > 0);
    } catch (err) {
      this.log.warn('stream_release_failed', { ...describe(err), stream: this.opts.stream });
    } finally {
      conn?.release();
    }
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_drained_total', help: 'Entries committed to MySQL (one row each for single-row INSERTs)', type: 'counter', value: this.drained },
      { name: 'eserver_drain_batches_total', help: 'Transactions committed by the drain', type: 'counter', value: this.batchesDone },
      { name: 'eserver_drain_statements_total', help: 'Statements sent by the drain after coalescing', type: 'counter', value: this.statements },
      { name: 'eserver_dead_letters_total', help: 'Statements MySQL rejected, written to dead_letters', type: 'counter', value: this.deadLetters },
      { name: 'eserver_committed_seq', help: 'Highest seq committed to MySQL', type: 'gauge', value: this.committedSeq },
      { name: 'eserver_drain_skipped_total', help: 'Entries skipped because they were already committed', type: 'counter', value: this.skipped },
      ...this.health.metrics(),
    ];
  }

  // ---- the loop ----

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private shouldRun(): boolean {
    if (this.health.final) return false;
    if (!this.stopping) return true;
    if (!this.drainOnStop) return false;
    return this.queue.length > 0 && Date.now() < this.deadline;
  }

  private waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = ms === Infinity ? null : setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        if (t !== null) clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(this.opts.minBackoffMs, this.opts.maxBackoffMs);
    // The last committed batch was full: the queue is behind, and the next batch does not wait to fill, until
    // an empty queue says the drain has caught up.
    let behind = false;
    while (this.shouldRun()) {
      if (this.queue.length === 0) {
        behind = false;
        this.wakeAt = 1;
        await this.waitForData(Infinity);
        continue;
      }
      // Let a batch fill up for batchMs, unless it is already full (sustained load: no waiting at all) or the
      // last batch was full: then this is the tail of a backlog, whose rows are all there already.
      if (this.queue.length < this.opts.batchSize && this.opts.batchMs > 0 && !this.stopping && !behind) {
        const until = Date.now() + this.opts.batchMs;
        this.wakeAt = this.opts.batchSize;
        while (this.queue.length < this.opts.batchSize && Date.now() < until && !this.stopping) {
          await this.waitForData(until - Date.now());
        }
        this.wakeAt = 1;
      }
      const batch = this.queue.peekBatch(this.opts.batchSize);
      if (batch.length === 0) continue;
      try {
        if (!this.claimed) await this.claim();
        const r = await this.batches.apply(batch, this.committedSeq, this.claimed);
        this.queue.commit(batch.length);
        behind = batch.length >= this.opts.batchSize;
        this.batchesDone++;
        this.drained += r.applied;
        this.skipped += r.skipped;
        this.statements += r.statements;
        this.deadLetters += r.dead;
        if (r.maxSeq > this.committedSeq) this.committedSeq = r.maxSeq;
        this.health.markUp();
        this.health.clearFault();
        backoff.reset();
        this.opts.onCommitted?.(this.committedSeq);
      } catch (err) {
        if (err instanceof Transient) {
          this.health.retried(err.cause);
          if (!this.shouldRun()) break;
          await sleep(Math.min(backoff.current, Math.max(0, this.deadline - Date.now())));
          backoff.grow();
          continue;
        }
        // MySQL answered: it is up, but the drain cannot go on until someone acts.
        this.health.markUp();
        if (err instanceof Fenced) {
          this.health.setFault({ kind: 'fenced', errno: null, message: err.message, fix: 'stop this server: another one drains the stream; its entries stay in its journal' }, batch[0].seq);
          break;
        }
        if (err instanceof SeqConflict) {
          this.health.setFault({ kind: 'seq_conflict', errno: null, message: err.message, fix: 'start with a new --stream (see the error)' }, batch[0].seq);
          break;
        }
        // StreamBusyError, StreamBindingError: their message says what to do; retried as the others.
        const b = err instanceof Blocked ? err : new Blocked(err, 'see the error', null);
        const d = describe(b.cause);
        if (d.errno === ER_NET_PACKET_TOO_LARGE && !this.batches.packetReadThisAttempt) {
          // max_allowed_packet may have been lowered since it was read: plan again with the one in force.
          this.batches.forgetPacketSize();
          continue;
        }
        this.health.setFault({ kind: 'configuration', errno: d.errno, message: d.message, fix: b.fix }, b.seq ?? batch[0].seq);
        if (!this.shouldRun()) break;
        await sleep(Math.min(this.opts.configRetryMs, Math.max(0, this.deadline - Date.now())));
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
