// One batch attempt: the two-round-trip fast path when the batch fits it (drain-fast-path.ts), else the
// statement-by-statement transaction (drain-transaction.ts), within a time bound. Keeps what both plan with:
// the coalescer, sized by max_allowed_packet.
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { Coalescer } from './coalesce.js';
import type { Logger } from './contracts.js';
import { Transient, ownFailure } from './drain-errors.js';
import { fastPathCommit } from './drain-fast-path.js';
import { CONNECT_TIMEOUT_MS, type DrainPools } from './drain-pools.js';
import { statementTransaction, type BatchContext, type BatchResult } from './drain-transaction.js';
import type { Entry } from './entry.js';
import { timedQuery } from './mysql-timed.js';

export type { BatchResult } from './drain-transaction.js';

export interface BatchCommitterOptions {
  stream: string;
  /** This writer's name in queue_offsets.owner (the stream lease's). */
  owner: string;
  queryTimeoutMs: number;
  log: Logger;
  /** For the drain_ready log line. */
  batchSize: number;
  batchMs: number;
  /** Entries still queued. */
  depth: () => number;
}

export class BatchCommitter {
  private coalescer: Coalescer | null = null;
  private maxStatementBytes = 0;
  private packetRead = false;

  constructor(
    private readonly pools: DrainPools,
    private readonly o: BatchCommitterOptions,
  ) {}

  /** max_allowed_packet was read during the last attempt (so a "packet too large" is not from a stale read). */
  get packetReadThisAttempt(): boolean {
    return this.packetRead;
  }

  /** max_allowed_packet may have been lowered since it was read: the next attempt reads the one in force. */
  forgetPacketSize(): void {
    this.coalescer = null;
  }

  /**
   * Commits the batch, skipping what is at or below the offset MySQL holds. `committedSeq` is the offset this
   * writer committed last; the fast path is tried only once the stream is claimed.
   *
   * No attempt outlives a bound, whatever the client library does: every statement carries a timeout, yet a
   * drain that hung in MySQL's SIGSTOP test was still not noticed within 20 s about once in ten full test
   * runs, by a path not found. Past the bound the attempt counts as a transient failure, and both pools are
   * replaced, so a connection it still holds cannot starve the retry. If the abandoned attempt commits later,
   * the retry's offset check (conditional UPDATE, then SELECT ... FOR UPDATE) sees the moved offset and skips
   * what it applied: still exactly once.
   */
  apply(batch: Entry[], committedSeq: number, claimed: boolean): Promise<BatchResult> {
    const ms = 4 * this.o.queryTimeoutMs + 2 * CONNECT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | null = null;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.pools.replace();
        this.coalescer = null;
        reject(new Transient(new Error(`a batch attempt took longer than ${ms} ms; its connections were dropped`)));
      }, ms);
    });
    return Promise.race([this.attempt(batch, committedSeq, claimed), expired]).finally(() => {
      if (timer !== null) clearTimeout(timer);
    });
  }

  private async attempt(batch: Entry[], committedSeq: number, claimed: boolean): Promise<BatchResult> {
    this.packetRead = false;
    if (this.coalescer !== null && claimed) {
      const fast = await fastPathCommit(this.pools.fast, batch, this.context(this.coalescer, committedSeq));
      if (fast !== null) return fast;
    }
    let conn: PoolConnection;
    try {
      conn = await this.pools.statements.getConnection();
    } catch (err) {
      throw ownFailure(err, 'connect');
    }
    let ok = false;
    try {
      const coalescer = await this.getCoalescer(conn).catch((err) => {
        throw ownFailure(err, 'read max_allowed_packet');
      });
      const r = await statementTransaction(conn, batch, this.context(coalescer, committedSeq));
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

  private context(coalescer: Coalescer, committedSeq: number): BatchContext {
    const { stream, owner, queryTimeoutMs, log, depth } = this.o;
    return { coalescer, maxStatementBytes: this.maxStatementBytes, committedSeq, stream, owner, queryTimeoutMs, log, depth };
  }

  private async getCoalescer(conn: PoolConnection): Promise<Coalescer> {
    if (this.coalescer === null) {
      this.packetRead = true;
      const rows = await timedQuery(conn, this.o.queryTimeoutMs)<RowDataPacket[]>('SELECT @@max_allowed_packet AS p');
      const packet = Number(rows[0].p);
      // Headroom for the packet header and the statement's own prefix.
      this.maxStatementBytes = Math.max(4096, packet - 4096);
      this.coalescer = new Coalescer({ maxStatementBytes: this.maxStatementBytes });
      this.o.log.info('drain_ready', { maxAllowedPacket: packet, batchSize: this.o.batchSize, batchMs: this.o.batchMs, stream: this.o.stream });
    }
    return this.coalescer;
  }
}
