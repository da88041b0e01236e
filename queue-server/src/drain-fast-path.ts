// The common batch in two round trips: `START TRANSACTION; UPDATE offset (conditional); INSERT` as one
// multi-statement query on a connection of its own, then COMMIT only if the UPDATE matched (the offset is
// still the one this writer committed last, and the stream still ours). Only SQL the coalescer built goes on
// that connection, so a client statement can never carry a second statement there.
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { ownFailure } from './drain-errors.js';
import type { BatchContext, BatchResult } from './drain-transaction.js';
import type { Entry } from './entry.js';
import { timedQuery } from './mysql-timed.js';

/**
 * Returns null, having committed nothing, when the batch does not fit this path (no offset known yet, several
 * statements, SQL the coalescer did not build) or when anything differs from the plain case (offset moved,
 * owner changed, a statement failed, MySQL unreachable): statementTransaction() then takes the batch from the
 * start. Only a failed COMMIT throws.
 */
export async function fastPathCommit(pool: Pool, batch: Entry[], t: BatchContext): Promise<BatchResult | null> {
  const committed = t.committedSeq;
  const last = batch.length > 0 ? batch[batch.length - 1].seq : 0;
  if (committed <= 0 || last <= committed) return null;
  let first = 0;
  while (first < batch.length && batch[first].seq <= committed) first++;
  const todo = first === 0 ? batch : batch.slice(first);
  const steps = t.coalescer.plan(todo, 0, todo.length);
  if (steps.length !== 1) return null;
  const step = steps[0];
  // A step the coalescer did not rebuild is client SQL as sent: it never goes on a multi-statement connection.
  if (!step.merged && t.coalescer.split(step.sql) === null) return null;
  const offset = mysql.format('UPDATE queue_offsets SET last_seq = ? WHERE stream = ? AND last_seq = ? AND owner = ?', [last, t.stream, committed, t.owner]);
  if (offset.length + step.sql.length * 3 + 64 > t.maxStatementBytes) return null;
  let conn: PoolConnection;
  try {
    conn = await pool.getConnection();
  } catch {
    return null;
  }
  const q = timedQuery(conn, t.queryTimeoutMs);
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
