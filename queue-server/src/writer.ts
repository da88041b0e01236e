// The drain: takes batches from the queue and commits them to MySQL exactly once.
//
// One transaction per batch:
//   BEGIN; SELECT last_seq … FOR UPDATE; <the batch's statements, coalesced>; [dead letters]; upsert offset; COMMIT
// Reading the offset under a row lock inside the transaction makes the skip of already-applied entries exact
// even when the previous COMMIT's outcome was unknown (connection lost during COMMIT) or another writer runs
// on the same stream. Only after COMMIT succeeds are the entries dropped from the queue and the journal told.
// While the offset is still the one this writer committed last, a conditional UPDATE replaces the SELECT and
// the upsert (see transaction()): BEGIN; UPDATE … WHERE last_seq = <ours>; <statements>; COMMIT.
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Entry } from './entry.js';
import type { Logger, MetricSample, MetricSource } from './contracts.js';
import { Coalescer } from './coalesce.js';
import { describe, isTransient } from './mysql-errors.js';

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
}

interface DeadLetter {
  seq: number;
  sql: string;
  errno: number | null;
  error: string;
}

interface BatchResult {
  applied: number;
  skipped: number;
  dead: number;
  statements: number;
  maxSeq: number;
}

class Transient extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

export function poolOptionsFromUrl(url: string): mysql.PoolOptions {
  const u = new URL(url);
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw new Error(`mysql url must start with mysql:// (got ${u.protocol})`);
  const socketPath = u.searchParams.get('socketPath') ?? u.searchParams.get('socket') ?? undefined;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    socketPath,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'eserver',
  };
}

export class MysqlWriter implements MetricSource {
  private readonly queue: DrainSource;
  private readonly opts: Required<Omit<MysqlWriterOptions, 'onCommitted'>> & Pick<MysqlWriterOptions, 'onCommitted'>;
  private readonly pool: Pool;
  private readonly log: Logger;
  private coalescer: Coalescer | null = null;

  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private stopping = false;
  private drainOnStop = true;
  private deadline = Infinity;

  private up = true; // assumed up until a failure says otherwise; the gauge starts at 1 only after a success
  private everUp = false;
  private downSince = 0;
  private retriesThisOutage = 0;

  // metrics
  private drained = 0;
  private batches = 0;
  private statements = 0;
  private deadLetters = 0;
  private retries = 0;
  private skipped = 0;
  private committedSeq = 0;

  constructor(queue: DrainSource, opts: MysqlWriterOptions) {
    this.queue = queue;
    this.opts = {
      startupWaitMs: 30_000,
      minBackoffMs: 50,
      queryTimeoutMs: 60_000,
      ...opts,
      batchSize: Math.max(1, opts.batchSize),
      batchMs: Math.max(0, opts.batchMs),
      maxBackoffMs: Math.max(1, opts.maxBackoffMs),
    };
    this.log = opts.log;
    const po = poolOptionsFromUrl(opts.url);
    this.pool = mysql.createPool({
      ...po,
      connectionLimit: 2,
      waitForConnections: true,
      connectTimeout: 3000,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      multipleStatements: false,
      supportBigNumbers: true,
      // Client SQL is sent untouched: without this, mysql2 would scan every (large) batch for `?` placeholders.
      queryFormat: (sql: string, values: unknown) =>
        values === undefined || values === null || (Array.isArray(values) && values.length === 0) ? sql : mysql.format(sql, values as mysql.QueryOptions['values'] as never),
    });
    // Errors of idle pooled connections (MySQL restarted) must not crash the process.
    (this.pool as unknown as { on(ev: string, f: (e: unknown) => void): void }).on('error', () => {});
  }

  /** The highest seq committed for this stream (0 when none). Retries while MySQL is unreachable. */
  async readCommittedSeq(): Promise<number> {
    const until = Date.now() + this.opts.startupWaitMs;
    let delay = this.opts.minBackoffMs;
    for (;;) {
      try {
        const [rows] = await this.pool.query<RowDataPacket[]>('SELECT last_seq FROM queue_offsets WHERE stream = ?', [this.opts.stream]);
        const v = rows.length === 0 ? 0 : Number(rows[0].last_seq);
        this.committedSeq = v;
        this.markUp();
        return v;
      } catch (err) {
        if (!isTransient(err) || Date.now() + delay > until) throw err;
        this.markDown(err);
        await sleep(delay);
        delay = Math.min(delay * 2, this.opts.maxBackoffMs);
      }
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.queue.onEnqueue = () => {
      const w = this.wake;
      if (w !== null) {
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
   * (what is left stays in the journal for the next start). Always waits for the batch in flight.
   */
  async stop(opts: { drain: boolean; timeoutMs: number }): Promise<void> {
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
    await this.pool.end().catch(() => {});
    if (this.queue.length > 0) this.log.warn('writer_stopped_with_backlog', { depth: this.queue.length, committedSeq: this.committedSeq });
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_drained_total', help: 'Entries committed to MySQL (one row each for single-row INSERTs)', type: 'counter', value: this.drained },
      { name: 'eserver_drain_batches_total', help: 'Transactions committed by the drain', type: 'counter', value: this.batches },
      { name: 'eserver_drain_statements_total', help: 'Statements sent by the drain after coalescing', type: 'counter', value: this.statements },
      { name: 'eserver_mysql_up', help: '1 when the last MySQL operation of the drain succeeded', type: 'gauge', value: this.up && this.everUp ? 1 : 0 },
      { name: 'eserver_dead_letters_total', help: 'Statements MySQL rejected, written to dead_letters', type: 'counter', value: this.deadLetters },
      { name: 'eserver_committed_seq', help: 'Highest seq committed to MySQL', type: 'gauge', value: this.committedSeq },
      { name: 'eserver_drain_retries_total', help: 'Batch attempts that failed for a transient reason and were retried', type: 'counter', value: this.retries },
      { name: 'eserver_drain_skipped_total', help: 'Entries skipped because they were already committed', type: 'counter', value: this.skipped },
    ];
  }

  // ---- the loop ----

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private shouldRun(): boolean {
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
    let backoff = this.opts.minBackoffMs;
    while (this.shouldRun()) {
      if (this.queue.length === 0) {
        await this.waitForData(Infinity);
        continue;
      }
      // Let a batch fill up for batchMs, unless it is already full (sustained load: no waiting at all).
      if (this.queue.length < this.opts.batchSize && this.opts.batchMs > 0 && !this.stopping) {
        const until = Date.now() + this.opts.batchMs;
        while (this.queue.length < this.opts.batchSize && Date.now() < until && !this.stopping) {
          await this.waitForData(until - Date.now());
        }
      }
      const batch = this.queue.peekBatch(this.opts.batchSize);
      if (batch.length === 0) continue;
      try {
        const r = await this.applyBatch(batch);
        this.queue.commit(batch.length);
        this.batches++;
        this.drained += r.applied;
        this.skipped += r.skipped;
        this.statements += r.statements;
        this.deadLetters += r.dead;
        if (r.maxSeq > this.committedSeq) this.committedSeq = r.maxSeq;
        this.markUp();
        backoff = this.opts.minBackoffMs;
        this.opts.onCommitted?.(this.committedSeq);
      } catch (err) {
        const cause = err instanceof Transient ? err.cause : err;
        this.retries++;
        this.retriesThisOutage++;
        this.markDown(cause);
        if (!this.shouldRun()) break;
        const wait = Math.min(backoff, Math.max(0, this.deadline - Date.now()));
        await sleep(wait);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
      }
    }
  }

  private markUp(): void {
    if (!this.up) {
      this.log.info('mysql_up', { downMs: Date.now() - this.downSince, retries: this.retriesThisOutage, committedSeq: this.committedSeq });
    }
    this.up = true;
    this.everUp = true;
    this.retriesThisOutage = 0;
  }

  private markDown(err: unknown): void {
    if (this.up) {
      this.downSince = Date.now();
      this.log.warn('mysql_down', { ...describe(err), depth: this.queue.length, committedSeq: this.committedSeq });
    }
    this.up = false;
  }

  // ---- one batch ----

  private async getCoalescer(conn: PoolConnection): Promise<Coalescer> {
    if (this.coalescer === null) {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT @@max_allowed_packet AS p');
      const packet = Number(rows[0].p);
      // Headroom for the packet header and the statement's own prefix.
      this.coalescer = new Coalescer({ maxStatementBytes: Math.max(4096, packet - 4096) });
      this.log.info('drain_ready', { maxAllowedPacket: packet, batchSize: this.opts.batchSize, batchMs: this.opts.batchMs, stream: this.opts.stream });
    }
    return this.coalescer;
  }

  private async applyBatch(batch: Entry[]): Promise<BatchResult> {
    let conn: PoolConnection;
    try {
      conn = await this.pool.getConnection();
    } catch (err) {
      throw new Transient(err);
    }
    let ok = false;
    try {
      const r = await this.transaction(conn, batch);
      ok = true;
      return r;
    } finally {
      if (ok) conn.release();
      else {
        // The transaction is in an unknown state: a fresh connection is the simplest clean slate.
        conn.destroy();
      }
    }
  }

  private async transaction(conn: PoolConnection, batch: Entry[]): Promise<BatchResult> {
    const own = async <T>(sql: string, values?: unknown[]): Promise<T> => {
      try {
        const [res] = await conn.query({ sql, values, timeout: this.opts.queryTimeoutMs });
        return res as T;
      } catch (err) {
        // The writer's own statements never go to dead letters: any failure of theirs is retried.
        throw new Transient(err);
      }
    };
    const coalescer = await this.getCoalescer(conn).catch((err) => {
      throw new Transient(err);
    });
    await own('START TRANSACTION');
    // Fast path, one round trip fewer per batch: when the offset is still the one this writer committed last,
    // a conditional UPDATE takes the row lock, checks it and moves it in one statement, which is all that the
    // SELECT ... FOR UPDATE and the upsert below establish. It matches no row when the offset moved (another
    // writer, a COMMIT whose outcome was lost) or does not exist yet: then the SELECT reads the real one.
    // Before any offset is known (0: a new stream) the row is missing anyway, so the UPDATE is not tried.
    let committed = this.committedSeq;
    let offsetWritten = false;
    const last = batch.length > 0 ? batch[batch.length - 1].seq : 0;
    if (committed > 0 && last > committed) {
      const res = await own<ResultSetHeader>('UPDATE queue_offsets SET last_seq = ? WHERE stream = ? AND last_seq = ?', [last, this.opts.stream, committed]);
      offsetWritten = res.affectedRows === 1;
    }
    if (!offsetWritten) {
      const rows = await own<RowDataPacket[]>('SELECT last_seq FROM queue_offsets WHERE stream = ? FOR UPDATE', [this.opts.stream]);
      committed = rows.length === 0 ? 0 : Number(rows[0].last_seq);
    }

    // Entries at or below the committed offset were applied by an earlier transaction (exactly once).
    let first = 0;
    while (first < batch.length && batch[first].seq <= committed) first++;
    const todo = first === 0 ? batch : batch.slice(first);
    const dead: DeadLetter[] = [];
    let statements = 0;

    const runSteps = async (entries: Entry[], from: number, to: number): Promise<void> => {
      for (const step of coalescer.plan(entries, from, to)) {
        statements++;
        try {
          await conn.query({ sql: step.sql, timeout: this.opts.queryTimeoutMs });
        } catch (err) {
          if (isTransient(err)) throw new Transient(err);
          // InnoDB rolls back just the failed statement, so earlier steps stay applied.
          if (step.to - step.from === 1) {
            const d = describe(err);
            dead.push({ seq: entries[step.from].seq, sql: entries[step.from].sql, errno: d.errno, error: d.message });
          } else {
            const mid = step.from + ((step.to - step.from) >> 1);
            await runSteps(entries, step.from, mid);
            await runSteps(entries, mid, step.to);
          }
        }
      }
    };
    await runSteps(todo, 0, todo.length);

    if (dead.length > 0) {
      await own('INSERT INTO dead_letters (stream, seq, statement, errno, error) VALUES ?', [
        dead.map((d) => [this.opts.stream, d.seq, d.sql, d.errno, d.error]),
      ]);
    }
    const maxSeq = batch.length > 0 ? batch[batch.length - 1].seq : committed;
    if (!offsetWritten && todo.length > 0 && maxSeq > committed) {
      await own('INSERT INTO queue_offsets (stream, last_seq) VALUES (?, ?) ON DUPLICATE KEY UPDATE last_seq = VALUES(last_seq)', [
        this.opts.stream,
        maxSeq,
      ]);
    }
    await own('COMMIT');
    if (dead.length > 0) {
      for (const d of dead) this.log.warn('dead_letter', { seq: d.seq, errno: d.errno, error: d.error.slice(0, 300) });
    }
    return { applied: todo.length - dead.length, skipped: first, dead: dead.length, statements, maxSeq: Math.max(maxSeq, committed) };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
