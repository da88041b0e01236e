// The drain: takes batches from the queue and commits them to MySQL exactly once.
//
// One transaction per batch:
//   BEGIN; SELECT last_seq, owner … FOR UPDATE; <the batch's statements, coalesced>; [dead letters]; offset; COMMIT
// Reading the offset under a row lock inside the transaction makes the skip of already-applied entries exact
// even when the previous COMMIT's outcome was unknown (connection lost during COMMIT). The same read checks
// that this writer still owns the stream (stream-lease.ts). Only after COMMIT succeeds are the entries dropped
// from the queue and the journal told.
//
// A failing entry statement is bisected out of its multi-row INSERT and dead-lettered. That relies on
// statement-level rollback, which holds only for transactional tables (checked at claim), in a strict
// sql_mode (set on every session: a non-strict one stores a converted value instead of failing), and while
// the transaction survives the error (checked after every failure, see inTransaction()).
// While the offset is still the one this writer committed last, a conditional UPDATE (offset and owner) replaces
// the SELECT and the offset write: BEGIN; UPDATE … WHERE last_seq = <ours> AND owner = <us>; <statements>; COMMIT.
// When the batch is also one coalesced INSERT, that is two round trips: `BEGIN; UPDATE …; INSERT …` as one
// multi-statement query on a connection of its own, then COMMIT only if the UPDATE matched (ROLLBACK otherwise,
// and the statement-by-statement path above takes the batch). Only SQL the coalescer built goes on that
// connection, so a client statement can never carry a second statement there.
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Entry } from './entry.js';
import type { Logger, MetricSample, MetricSource } from './contracts.js';
import { Coalescer } from './coalesce.js';
import { classify, describe, fixFor } from './mysql-errors.js';
import { StreamBindingError, loadJournalIdentity, saveJournalIdentity, type JournalIdentity } from './journal-identity.js';
import { StreamBusyError, StreamLease } from './stream-lease.js';
import { timedQuery } from './mysql-timed.js';
import { DATABASE } from '@eserver-lab/common/stack-spec';

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

/** A configuration error: no batch can succeed until an operator acts. */
class Blocked extends Error {
  constructor(
    override readonly cause: unknown,
    readonly fix: string,
    readonly seq: number | null,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/** Another writer owns the stream now. */
class Fenced extends Error {}

/** The queued entries' seqs do not continue the stream's offset. */
class SeqConflict extends Error {}

/** What to throw for a failure of a statement the writer itself sends (never dead-lettered). */
function ownFailure(err: unknown, what: string): Error {
  if (err instanceof Transient || err instanceof Blocked || err instanceof Fenced || err instanceof SeqConflict) return err;
  switch (classify(err)) {
    case 'transient':
      return new Transient(err);
    case 'configuration':
      return new Blocked(err, fixFor(err), null);
    default:
      // Our own SQL refused: the schema is not the one the writer expects, or a bug. Loud, and retried.
      return new Blocked(err, `the drain's own statement (${what}) failed: load mysql/schema.sql into the database, or report a bug`, null);
  }
}

const SERVER_STATUS_IN_TRANS = 1;
const ER_NET_PACKET_TOO_LARGE = 1153;
// A session strict for every engine; the rest of the server's sql_mode is kept, so client SQL means the same.
const STRICT_SQL_MODE = "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES', 'NO_ENGINE_SUBSTITUTION')";

const CONNECT_TIMEOUT_MS = 3000;

function createPool(po: mysql.PoolOptions, connectionLimit: number, multipleStatements: boolean, queryTimeoutMs: number): Pool {
  const pool = mysql.createPool({
    ...po,
    connectionLimit,
    waitForConnections: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    enableKeepAlive: true,
    charset: 'utf8mb4',
    multipleStatements,
    supportBigNumbers: true,
    // Client SQL is sent untouched: without this, mysql2 would scan every (large) batch for `?` placeholders.
    queryFormat: (sql: string, values: unknown) =>
      values === undefined || values === null || (Array.isArray(values) && values.length === 0) ? sql : mysql.format(sql, values as mysql.QueryOptions['values'] as never),
  });
  // Errors of idle pooled connections (MySQL restarted) must not crash the process.
  (pool as unknown as { on(ev: string, f: (e: unknown) => void): void }).on('error', () => {});
  // Queued before anything else on each new connection; a session that cannot be made strict is dropped.
  (pool as unknown as { on(ev: 'connection', f: (c: { query(o: { sql: string; timeout: number }, cb: (e: unknown) => void): void; destroy(): void }) => void): void }).on(
    'connection',
    (c) => c.query({ sql: STRICT_SQL_MODE, timeout: queryTimeoutMs }, (e) => e && c.destroy()),
  );
  return pool;
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
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || DATABASE.database,
  };
}

type ResolvedOptions = Required<Omit<MysqlWriterOptions, 'onCommitted' | 'journalDir' | 'tables'>> &
  Pick<MysqlWriterOptions, 'onCommitted'> & { journalDir: string | null; tables: string[] };

export class MysqlWriter implements MetricSource {
  private readonly queue: DrainSource;
  private readonly opts: ResolvedOptions;
  private pool: Pool;
  /** One connection with multiple statements on, for the two-round-trip batches; only the writer's own SQL. */
  private fastPool: Pool;
  private readonly poolOptions: mysql.PoolOptions;
  private readonly log: Logger;
  private readonly lease: StreamLease;
  private readonly database: string;
  private coalescer: Coalescer | null = null;
  private maxStatementBytes = 0;
  private packetReadThisAttempt = false;
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

  private up = true; // assumed up until a failure says otherwise; the gauge starts at 1 only after a success
  private everUp = false;
  private downSince = 0;
  private retriesThisOutage = 0;
  private currentFault: DrainFault | null = null;

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
    this.poolOptions = po;
    [this.pool, this.fastPool] = this.newPools();
    this.lease = new StreamLease({
      connection: { ...po, charset: 'utf8mb4' },
      stream: opts.stream,
      database: this.database,
      log: this.log,
      checkMs: this.opts.leaseCheckMs,
      queryTimeoutMs: this.opts.queryTimeoutMs,
    });
  }

  /** Why the drain is stopped although MySQL answers (for /healthz and operators); null while it drains. */
  get fault(): DrainFault | null {
    return this.currentFault;
  }

  /**
   * Claims the stream for this writer (refused while another server drains it, or when the journal belongs
   * elsewhere) and returns the highest seq committed for it (0 when none). Retries while MySQL is unreachable.
   */
  async readCommittedSeq(): Promise<number> {
    const until = Date.now() + this.opts.startupWaitMs;
    let delay = this.opts.minBackoffMs;
    for (;;) {
      try {
        const v = await this.claim();
        this.markUp();
        return v;
      } catch (err) {
        if (err instanceof Blocked) {
          const msg = describe(err.cause).message;
          throw new Error(msg.includes(err.fix) ? msg : `${msg} (fix: ${err.fix})`, { cause: err.cause });
        }
        const cause = err instanceof Transient ? err.cause : err;
        if (!(err instanceof Transient) || Date.now() + delay > until) throw cause;
        this.markDown(cause);
        await sleep(delay);
        delay = Math.min(delay * 2, this.opts.maxBackoffMs);
      }
    }
  }

  private async claim(): Promise<number> {
    const journal: JournalIdentity | null =
      this.opts.journalDir === null ? null : await loadJournalIdentity(this.opts.journalDir, this.opts.stream, this.database);
    // The journal's id is on disk before any row names it, so a crash in between cannot orphan the binding.
    if (journal !== null && journal.streamUid === null) await saveJournalIdentity(journal);
    try {
      await this.lease.lock();
    } catch (err) {
      if (err instanceof StreamBusyError) throw err;
      throw ownFailure(err, 'GET_LOCK');
    }
    let conn: PoolConnection;
    try {
      conn = await this.pool.getConnection();
    } catch (err) {
      await this.lease.release(null, true);
      throw ownFailure(err, 'connect');
    }
    try {
      await this.checkEngines(conn);
      const c = await this.lease.claim(conn, journal).catch((err) => {
        throw err instanceof StreamBindingError ? err : ownFailure(err, 'claim the stream');
      });
      // Claimed after entries were numbered (start() before readCommittedSeq(), e.g. a server that listened
      // before MySQL answered): unless the journal was already this stream's, their seqs were not derived
      // from its offset, and those at or below it would be skipped as "already committed".
      const head = this.started ? this.queue.peekBatch(1)[0] : undefined;
      if (head !== undefined && head.seq <= c.committedSeq && (journal === null || journal.streamUid !== c.streamUid)) {
        throw new SeqConflict(
          `entries from seq ${head.seq} were numbered before stream "${this.opts.stream}" was claimed, but its offset is already ` +
            `${c.committedSeq}: draining them would skip them as applied, so nothing is drained and they are kept` +
            `${journal === null ? ' (in memory only)' : ` (in the journal at ${journal.dir})`}. To drain them, stop this server and start it ` +
            `with a new --stream, which starts at offset 0${journal === null ? '' : `, after removing ${journal.dir}/stream.json`}.`,
        );
      }
      if (journal !== null && journal.streamUid !== c.streamUid) await saveJournalIdentity({ ...journal, streamUid: c.streamUid });
      conn.release();
      this.committedSeq = Math.max(this.committedSeq, c.committedSeq);
      this.claimed = true;
      this.log.info('stream_claimed', { stream: this.opts.stream, database: this.database, owner: this.lease.owner, committedSeq: c.committedSeq, journal: journal?.dir ?? null });
      return c.committedSeq;
    } catch (err) {
      conn.destroy();
      // Not ours after all (or not yet): the lock must not keep the rightful server out.
      await this.lease.release(null, true);
      throw err;
    }
  }

  /** Bisection needs statement-level rollback: refuses allow-listed tables whose engine cannot roll back. */
  private async checkEngines(conn: PoolConnection): Promise<void> {
    if (this.opts.tables.length === 0) return;
    const pairs = this.opts.tables.map((t) => {
      const dot = t.indexOf('.');
      return dot < 0 ? [null, t] : [t.slice(0, dot), t.slice(dot + 1)];
    });
    const rows = await timedQuery(conn, this.opts.queryTimeoutMs)<RowDataPacket[]>(
      'SELECT t.TABLE_SCHEMA AS s, t.TABLE_NAME AS n, t.ENGINE AS engine, e.TRANSACTIONS AS tx FROM information_schema.TABLES t ' +
        'LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE WHERE ' +
        pairs.map(() => '(t.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND t.TABLE_NAME = ?)').join(' OR '),
      pairs.flat(),
    ).catch((err) => {
      throw ownFailure(err, 'read information_schema.TABLES');
    });
    const bad = rows.filter((r) => r.engine !== null && r.tx !== 'YES');
    if (bad.length > 0) {
      const list = bad.map((r) => `${String(r.s)}.${String(r.n)} (ENGINE=${String(r.engine)})`).join(', ');
      const fix = `convert it: ${bad.map((r) => `ALTER TABLE ${String(r.s)}.${String(r.n)} ENGINE=InnoDB;`).join(' ')} or remove it from --allow-tables`;
      throw new Blocked(
        new Error(`allow-listed table ${list} cannot roll back a failed statement, so a batch could be half applied or a good entry dead-lettered; ${fix}`),
        fix,
        null,
      );
    }
    const found = new Set(rows.map((r) => String(r.n)));
    const missing = pairs.filter(([, n]) => !found.has(String(n))).map(([d, n]) => (d === null ? n : `${d}.${n}`));
    if (missing.length > 0) this.log.warn('allow_listed_table_missing', { tables: missing, fix: 'create them; the drain stops at the first entry for one of them until then' });
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
    await this.pool.end().catch(() => {});
    await this.fastPool.end().catch(() => {});
    if (this.queue.length > 0) this.log.warn('writer_stopped_with_backlog', { depth: this.queue.length, committedSeq: this.committedSeq });
  }

  private async releaseStream(): Promise<void> {
    let conn: PoolConnection | null = null;
    if (this.claimed && this.currentFault?.kind !== 'fenced') conn = await this.pool.getConnection().catch(() => null);
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
      { name: 'eserver_drain_batches_total', help: 'Transactions committed by the drain', type: 'counter', value: this.batches },
      { name: 'eserver_drain_statements_total', help: 'Statements sent by the drain after coalescing', type: 'counter', value: this.statements },
      { name: 'eserver_mysql_up', help: '1 when the last MySQL operation of the drain succeeded', type: 'gauge', value: this.up && this.everUp ? 1 : 0 },
      { name: 'eserver_dead_letters_total', help: 'Statements MySQL rejected, written to dead_letters', type: 'counter', value: this.deadLetters },
      { name: 'eserver_committed_seq', help: 'Highest seq committed to MySQL', type: 'gauge', value: this.committedSeq },
      { name: 'eserver_drain_retries_total', help: 'Batch attempts that failed for a transient reason and were retried', type: 'counter', value: this.retries },
      { name: 'eserver_drain_skipped_total', help: 'Entries skipped because they were already committed', type: 'counter', value: this.skipped },
      {
        name: 'eserver_drain_blocked',
        help: '1 while the drain is stopped by a MySQL configuration error or lost its stream to another server (see the log)',
        type: 'gauge',
        value: this.currentFault === null ? 0 : 1,
      },
    ];
  }

  // ---- the loop ----

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private shouldRun(): boolean {
    if (this.currentFault !== null && this.currentFault.kind !== 'configuration') return false;
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
        const r = await this.withinBatchDeadline(this.applyBatch(batch));
        this.queue.commit(batch.length);
        behind = batch.length >= this.opts.batchSize;
        this.batches++;
        this.drained += r.applied;
        this.skipped += r.skipped;
        this.statements += r.statements;
        this.deadLetters += r.dead;
        if (r.maxSeq > this.committedSeq) this.committedSeq = r.maxSeq;
        this.markUp();
        this.clearFault();
        backoff = this.opts.minBackoffMs;
        this.opts.onCommitted?.(this.committedSeq);
      } catch (err) {
        if (err instanceof Transient) {
          this.retries++;
          this.retriesThisOutage++;
          this.markDown(err.cause);
          if (!this.shouldRun()) break;
          await sleep(Math.min(backoff, Math.max(0, this.deadline - Date.now())));
          backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
          continue;
        }
        // MySQL answered: it is up, but the drain cannot go on until someone acts.
        this.markUp();
        if (err instanceof Fenced) {
          this.setFault({ kind: 'fenced', errno: null, message: err.message, fix: 'stop this server: another one drains the stream; its entries stay in its journal' }, batch[0].seq);
          break;
        }
        if (err instanceof SeqConflict) {
          this.setFault({ kind: 'seq_conflict', errno: null, message: err.message, fix: 'start with a new --stream (see the error)' }, batch[0].seq);
          break;
        }
        // StreamBusyError, StreamBindingError: their message says what to do; retried as the others.
        const b = err instanceof Blocked ? err : new Blocked(err, 'see the error', null);
        const d = describe(b.cause);
        if (d.errno === ER_NET_PACKET_TOO_LARGE && !this.packetReadThisAttempt) {
          // max_allowed_packet may have been lowered since it was read: plan again with the one in force.
          this.coalescer = null;
          continue;
        }
        this.setFault({ kind: 'configuration', errno: d.errno, message: d.message, fix: b.fix }, b.seq ?? batch[0].seq);
        if (!this.shouldRun()) break;
        await sleep(Math.min(this.opts.configRetryMs, Math.max(0, this.deadline - Date.now())));
      }
    }
  }

  /** Logs the fault when it starts or changes (not at every retry). */
  private setFault(f: Omit<DrainFault, 'since'>, seq: number): void {
    const prev = this.currentFault;
    if (prev !== null && prev.kind === f.kind && prev.errno === f.errno && prev.message === f.message) return;
    this.currentFault = { ...f, since: prev?.since ?? Date.now() };
    this.log.error(f.kind === 'fenced' ? 'stream_taken_over' : f.kind === 'seq_conflict' ? 'seq_conflict' : 'drain_blocked', {
      stream: this.opts.stream,
      errno: f.errno,
      error: f.message.slice(0, 1000),
      fix: f.fix,
      seq,
      depth: this.queue.length,
      retryMs: f.kind === 'configuration' ? this.opts.configRetryMs : null,
    });
  }

  private clearFault(): void {
    if (this.currentFault === null) return;
    this.log.info('drain_resumed', { stream: this.opts.stream, blockedMs: Date.now() - this.currentFault.since });
    this.currentFault = null;
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

  /** The statement pool (2 connections) and the multi-statement pool for the writer's own batches (1). */
  private newPools(): [Pool, Pool] {
    return [createPool(this.poolOptions, 2, false, this.opts.queryTimeoutMs), createPool(this.poolOptions, 1, true, this.opts.queryTimeoutMs)];
  }

  // ---- one batch ----

  /**
   * No batch attempt outlives a bound, whatever the client library does: every statement carries a timeout,
   * yet a drain that hung in MySQL's SIGSTOP test was still not noticed within 20 s about once in ten full
   * test runs, by a path not found. Past the bound the attempt counts as a transient failure, and both pools
   * are replaced, so a connection it still holds cannot starve the retry. If the abandoned attempt commits
   * later, the retry's offset check (conditional UPDATE, then SELECT ... FOR UPDATE) sees the moved offset
   * and skips what it applied: still exactly once.
   */
  private withinBatchDeadline<T>(attempt: Promise<T>): Promise<T> {
    const ms = 4 * this.opts.queryTimeoutMs + 2 * CONNECT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | null = null;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const old = [this.pool, this.fastPool];
        [this.pool, this.fastPool] = this.newPools();
        this.coalescer = null;
        for (const p of old) void p.end().catch(() => undefined);
        reject(new Transient(new Error(`a batch attempt took longer than ${ms} ms; its connections were dropped`)));
      }, ms);
    });
    return Promise.race([attempt, expired]).finally(() => {
      if (timer !== null) clearTimeout(timer);
    });
  }

  private async getCoalescer(conn: PoolConnection): Promise<Coalescer> {
    if (this.coalescer === null) {
      this.packetReadThisAttempt = true;
      const rows = await timedQuery(conn, this.opts.queryTimeoutMs)<RowDataPacket[]>('SELECT @@max_allowed_packet AS p');
      const packet = Number(rows[0].p);
      // Headroom for the packet header and the statement's own prefix.
      this.maxStatementBytes = Math.max(4096, packet - 4096);
      this.coalescer = new Coalescer({ maxStatementBytes: this.maxStatementBytes });
      this.log.info('drain_ready', { maxAllowedPacket: packet, batchSize: this.opts.batchSize, batchMs: this.opts.batchMs, stream: this.opts.stream });
    }
    return this.coalescer;
  }

  private async applyBatch(batch: Entry[]): Promise<BatchResult> {
    this.packetReadThisAttempt = false;
    const fast = await this.twoRoundTrips(batch);
    if (fast !== null) return fast;
    let conn: PoolConnection;
    try {
      conn = await this.pool.getConnection();
    } catch (err) {
      throw ownFailure(err, 'connect');
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

  /**
   * The common batch in two round trips: `START TRANSACTION; UPDATE offset (conditional); INSERT` as one
   * multi-statement query, then COMMIT only if the UPDATE matched. Returns null, having committed nothing, when
   * the batch does not fit this path (no offset known yet, several statements, SQL the coalescer did not build)
   * or when anything differs from the plain case (offset moved, owner changed, a statement failed, MySQL
   * unreachable): transaction() then takes the batch from the start. Only a failed COMMIT throws.
   */
  private async twoRoundTrips(batch: Entry[]): Promise<BatchResult | null> {
    const coalescer = this.coalescer;
    const committed = this.committedSeq;
    const last = batch.length > 0 ? batch[batch.length - 1].seq : 0;
    if (coalescer === null || !this.claimed || committed <= 0 || last <= committed) return null;
    let first = 0;
    while (first < batch.length && batch[first].seq <= committed) first++;
    const todo = first === 0 ? batch : batch.slice(first);
    const steps = coalescer.plan(todo, 0, todo.length);
    if (steps.length !== 1) return null;
    const step = steps[0];
    // A step the coalescer did not rebuild is client SQL as sent: it never goes on a multi-statement connection.
    if (!step.merged && coalescer.split(step.sql) === null) return null;
    const offset = mysql.format('UPDATE queue_offsets SET last_seq = ? WHERE stream = ? AND last_seq = ? AND owner = ?', [last, this.opts.stream, committed, this.lease.owner]);
    if (offset.length + step.sql.length * 3 + 64 > this.maxStatementBytes) return null;
    let conn: PoolConnection;
    try {
      conn = await this.fastPool.getConnection();
    } catch {
      return null;
    }
    const q = timedQuery(conn, this.opts.queryTimeoutMs);
    let matched: boolean;
    try {
      const res = await q<ResultSetHeader[]>(`START TRANSACTION;${offset};${step.sql}`);
      matched = res[1]?.affectedRows === 1;
    } catch {
      // A failing entry (to be bisected), a timeout, a lost connection: MySQL rolls back when the connection
      // closes, and the statement-by-statement path sorts it out. No ROLLBACK on a connection in that state: on
      // Bun a command queued behind a timed-out one never ran, and its own timeout never started.
      conn.destroy();
      return null;
    }
    if (!matched) {
      try {
        await q('ROLLBACK');
        conn.release();
      } catch {
        conn.destroy();
      }
      return null;
    }
    try {
      await q('COMMIT');
    } catch (err) {
      // Outcome unknown: the retry's conditional UPDATE no longer matches if it did commit, and the SELECT path
      // then skips what MySQL holds.
      conn.destroy();
      throw ownFailure(err, 'COMMIT');
    }
    conn.release();
    return { applied: todo.length, skipped: first, dead: 0, statements: 1, maxSeq: last };
  }

  private async transaction(conn: PoolConnection, batch: Entry[]): Promise<BatchResult> {
    const q = timedQuery(conn, this.opts.queryTimeoutMs);
    const own = async <T>(what: string, sql: string, values?: unknown[]): Promise<T> => {
      try {
        return (await q(sql, values)) as T;
      } catch (err) {
        // The writer's own statements never go to dead letters.
        throw ownFailure(err, what);
      }
    };
    const coalescer = await this.getCoalescer(conn).catch((err) => {
      throw ownFailure(err, 'read max_allowed_packet');
    });
    await own('START TRANSACTION', 'START TRANSACTION');
    // Fast path, one round trip fewer per batch: when the offset is still the one this writer committed last,
    // and the stream still ours, a conditional UPDATE takes the row lock, checks both and moves the offset in
    // one statement, which is all that the SELECT ... FOR UPDATE and the offset write below establish. It
    // matches no row when the offset moved (a COMMIT whose outcome was lost), the owner changed, or no offset
    // is known yet: then the SELECT reads the real ones, and fences this writer if the stream is not ours.
    let committed = this.committedSeq;
    let offsetWritten = false;
    const last = batch.length > 0 ? batch[batch.length - 1].seq : 0;
    if (committed > 0 && last > committed) {
      const res = await own<ResultSetHeader>('move the offset', 'UPDATE queue_offsets SET last_seq = ? WHERE stream = ? AND last_seq = ? AND owner = ?', [
        last,
        this.opts.stream,
        committed,
        this.lease.owner,
      ]);
      offsetWritten = res.affectedRows === 1;
    }
    if (!offsetWritten) {
      const rows = await own<RowDataPacket[]>('read the offset', 'SELECT last_seq, owner FROM queue_offsets WHERE stream = ? FOR UPDATE', [this.opts.stream]);
      if (rows.length === 0 || rows[0].owner !== this.lease.owner) {
        throw new Fenced(
          `stream "${this.opts.stream}" is now owned by ${rows.length === 0 ? 'nobody (its offset row was deleted)' : `another writer (${String(rows[0].owner)})`}; ` +
            `this writer commits nothing more. Its ${this.queue.length} queued entries stay in its journal.`,
        );
      }
      committed = Number(rows[0].last_seq);
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
          await q(step.sql);
        } catch (err) {
          const kind = classify(err);
          if (kind === 'transient') throw new Transient(err);
          if (kind === 'configuration') throw new Blocked(err, fixFor(err), entries[step.from].seq);
          // Bisection relies on the failed statement alone being rolled back. An error that took the whole
          // transaction with it would leave the next statements to autocommit, one by one: start over instead.
          // (Only for INSERTs: a statement that commits implicitly, which only --no-guard lets in, may have
          // committed what came before it, and a retry would apply that again.)
          if (!(await this.stillInTransaction(conn)) && (step.merged || coalescer.split(step.sql) !== null)) throw new Transient(err);
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

    if (dead.length > 0) await this.insertDeadLetters(own, dead);
    const maxSeq = batch.length > 0 ? batch[batch.length - 1].seq : committed;
    if (!offsetWritten && todo.length > 0 && maxSeq > committed) {
      await own('write the offset', 'UPDATE queue_offsets SET last_seq = ? WHERE stream = ?', [maxSeq, this.opts.stream]);
    }
    await own('COMMIT', 'COMMIT');
    if (dead.length > 0) {
      for (const d of dead) this.log.warn('dead_letter', { seq: d.seq, errno: d.errno, error: d.error.slice(0, 300) });
    }
    return { applied: todo.length - dead.length, skipped: first, dead: dead.length, statements, maxSeq: Math.max(maxSeq, committed) };
  }

  /** One round trip, only after an entry statement failed: does the server still hold our transaction? */
  private async stillInTransaction(conn: PoolConnection): Promise<boolean> {
    try {
      return inTransaction(await timedQuery(conn, this.opts.queryTimeoutMs)<ResultSetHeader>('DO 0'));
    } catch (err) {
      throw ownFailure(err, 'DO 0');
    }
  }

  /**
   * Dead letters in as many INSERTs as max_allowed_packet needs; a statement too large to be stored even
   * alone is cut, and the error column says so.
   */
  private async insertDeadLetters(own: <T>(what: string, sql: string, values?: unknown[]) => Promise<T>, dead: DeadLetter[]): Promise<void> {
    const limit = this.maxStatementBytes - 1024;
    const rowOverhead = 64 + 2 * Buffer.byteLength(this.opts.stream);
    let chunk: unknown[][] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      await own('INSERT INTO dead_letters', 'INSERT INTO dead_letters (stream, seq, statement, errno, error) VALUES ?', [chunk]);
      chunk = [];
      bytes = 0;
    };
    for (const d of dead) {
      let sql = wellFormed(d.sql);
      let error = wellFormed(d.error);
      // Escaping can double every byte.
      const errBytes = 2 * Buffer.byteLength(error);
      let size = rowOverhead + errBytes + 2 * Buffer.byteLength(sql);
      if (size > limit) {
        const total = Buffer.byteLength(sql);
        const keep = Math.max(0, Math.floor((limit - rowOverhead - errBytes - 256) / 2));
        sql = wellFormed(Buffer.from(sql, 'utf8').subarray(0, keep).toString('utf8'));
        error += ` [statement truncated from ${total} to ${Buffer.byteLength(sql)} bytes to fit max_allowed_packet]`;
        size = rowOverhead + 2 * Buffer.byteLength(error) + 2 * Buffer.byteLength(sql);
      }
      if (bytes + size > limit) await flush();
      chunk.push([this.opts.stream, d.seq, sql, d.errno, error]);
      bytes += size;
    }
    await flush();
  }
}

function inTransaction(res: ResultSetHeader): boolean {
  return (res.serverStatus & SERVER_STATUS_IN_TRANS) !== 0;
}

/** Lone surrogates cannot be stored in utf8mb4; they become U+FFFD. */
function wellFormed(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
