// One batch, statement by statement, in one transaction:
//   BEGIN; SELECT last_seq, owner … FOR UPDATE; <the batch's statements, coalesced>; [dead letters]; offset; COMMIT
// Reading the offset under a row lock inside the transaction makes the skip of already-applied entries exact
// even when the previous COMMIT's outcome was unknown (connection lost during COMMIT). The same read checks
// that this writer still owns the stream (stream-lease.ts).
//
// A failing entry statement is bisected out of its multi-row INSERT and dead-lettered. That relies on
// statement-level rollback, which holds only for transactional tables (checked at claim), in a strict
// sql_mode (set on every session: a non-strict one stores a converted value instead of failing), and while
// the transaction survives the error (checked after every failure, see stillInTransaction()).
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Coalescer } from './coalesce.js';
import type { Logger } from './contracts.js';
import { Blocked, Fenced, Transient, ownFailure } from './drain-errors.js';
import type { Entry } from './entry.js';
import { classify, describe, fixFor } from './mysql-errors.js';
import { timedQuery, type TimedQuery } from './mysql-timed.js';

/** What one committed batch did. */
export interface BatchResult {
  applied: number;
  skipped: number;
  dead: number;
  statements: number;
  maxSeq: number;
}

/** What a batch transaction needs to know. */
export interface BatchContext {
  coalescer: Coalescer;
  maxStatementBytes: number;
  /** The offset this writer committed last (0 when none known yet). */
  committedSeq: number;
  stream: string;
  /** This writer's name in queue_offsets.owner. */
  owner: string;
  queryTimeoutMs: number;
  log: Logger;
  /** Entries still queued, for the message when the stream was taken over. */
  depth: () => number;
}

interface DeadLetter {
  seq: number;
  sql: string;
  errno: number | null;
  error: string;
}

type OwnQuery = <T>(what: string, sql: string, values?: unknown[]) => Promise<T>;

const SERVER_STATUS_IN_TRANS = 1;

export async function statementTransaction(conn: PoolConnection, batch: Entry[], t: BatchContext): Promise<BatchResult> {
  const q = timedQuery(conn, t.queryTimeoutMs);
  const own: OwnQuery = async <T>(what: string, sql: string, values?: unknown[]): Promise<T> => {
    try {
      return (await q(sql, values)) as T;
    } catch (err) {
      // The writer's own statements never go to dead letters.
      throw ownFailure(err, what);
    }
  };
  const coalescer = t.coalescer;
  await own('START TRANSACTION', 'START TRANSACTION');
  // Fast path, one round trip fewer per batch: when the offset is still the one this writer committed last,
  // and the stream still ours, a conditional UPDATE takes the row lock, checks both and moves the offset in
  // one statement, which is all that the SELECT ... FOR UPDATE and the offset write below establish. It
  // matches no row when the offset moved (a COMMIT whose outcome was lost), the owner changed, or no offset
  // is known yet: then the SELECT reads the real ones, and fences this writer if the stream is not ours.
  let committed = t.committedSeq;
  let offsetWritten = false;
  const last = batch.length > 0 ? batch[batch.length - 1].seq : 0;
  if (committed > 0 && last > committed) {
    const res = await own<ResultSetHeader>('move the offset', 'UPDATE queue_offsets SET last_seq = ? WHERE stream = ? AND last_seq = ? AND owner = ?', [
      last,
      t.stream,
      committed,
      t.owner,
    ]);
    offsetWritten = res.affectedRows === 1;
  }
  if (!offsetWritten) {
    const rows = await own<RowDataPacket[]>('read the offset', 'SELECT last_seq, owner FROM queue_offsets WHERE stream = ? FOR UPDATE', [t.stream]);
    if (rows.length === 0 || rows[0].owner !== t.owner) {
      throw new Fenced(
        `stream "${t.stream}" is now owned by ${rows.length === 0 ? 'nobody (its offset row was deleted)' : `another writer (${String(rows[0].owner)})`}; ` +
          `this writer commits nothing more. Its ${t.depth()} queued entries stay in its journal.`,
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
        if (!(await stillInTransaction(q)) && (step.merged || coalescer.split(step.sql) !== null)) throw new Transient(err);
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

  if (dead.length > 0) await insertDeadLetters(own, dead, t);
  const maxSeq = batch.length > 0 ? batch[batch.length - 1].seq : committed;
  if (!offsetWritten && todo.length > 0 && maxSeq > committed) {
    await own('write the offset', 'UPDATE queue_offsets SET last_seq = ? WHERE stream = ?', [maxSeq, t.stream]);
  }
  await own('COMMIT', 'COMMIT');
  if (dead.length > 0) {
    for (const d of dead) t.log.warn('dead_letter', { seq: d.seq, errno: d.errno, error: d.error.slice(0, 300) });
  }
  return { applied: todo.length - dead.length, skipped: first, dead: dead.length, statements, maxSeq: Math.max(maxSeq, committed) };
}

/** One round trip, only after an entry statement failed: does the server still hold our transaction? */
async function stillInTransaction(q: TimedQuery): Promise<boolean> {
  try {
    return ((await q<ResultSetHeader>('DO 0')).serverStatus & SERVER_STATUS_IN_TRANS) !== 0;
  } catch (err) {
    throw ownFailure(err, 'DO 0');
  }
}

/**
 * Dead letters in as many INSERTs as max_allowed_packet needs; a statement too large to be stored even
 * alone is cut, and the error column says so.
 */
async function insertDeadLetters(own: OwnQuery, dead: DeadLetter[], t: BatchContext): Promise<void> {
  const limit = t.maxStatementBytes - 1024;
  const rowOverhead = 64 + 2 * Buffer.byteLength(t.stream);
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
    chunk.push([t.stream, d.seq, sql, d.errno, error]);
    bytes += size;
  }
  await flush();
}

/** Lone surrogates cannot be stored in utf8mb4; they become U+FFFD. */
function wellFormed(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
