// Claiming the stream before the first batch: the stream lock (stream-lease.ts), the journal bound to this
// stream and database (journal-identity.ts), the allow-listed tables able to roll back a failed statement,
// and the queued entries numbered from the stream's offset. Returns that offset.
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Logger } from './contracts.js';
import { Blocked, SeqConflict, ownFailure } from './drain-errors.js';
import type { Entry } from './entry.js';
import { StreamBindingError, loadJournalIdentity, saveJournalIdentity, type JournalIdentity } from './journal-identity.js';
import { timedQuery } from './mysql-timed.js';
import { StreamBusyError, type StreamLease } from './stream-lease.js';

export interface ClaimOptions {
  pool: Pool;
  lease: StreamLease;
  stream: string;
  /** mysql://host:port/db, what a journal is bound to. */
  database: string;
  journalDir: string | null;
  /** The tables the entries write: refused unless transactional. */
  tables: string[];
  queryTimeoutMs: number;
  log: Logger;
  /** The oldest queued entry when entries were numbered before this claim (undefined otherwise). */
  numberedHead: () => Entry | undefined;
}

/**
 * Claims the stream (refused while another server drains it, or when the journal belongs elsewhere) and
 * returns the highest seq committed for it (0 when none). On failure the lock is given back.
 */
export async function claimStream(o: ClaimOptions): Promise<number> {
  const journal: JournalIdentity | null = o.journalDir === null ? null : await loadJournalIdentity(o.journalDir, o.stream, o.database);
  // The journal's id is on disk before any row names it, so a crash in between cannot orphan the binding.
  if (journal !== null && journal.streamUid === null) await saveJournalIdentity(journal);
  try {
    await o.lease.lock();
  } catch (err) {
    if (err instanceof StreamBusyError) throw err;
    throw ownFailure(err, 'GET_LOCK');
  }
  let conn: PoolConnection;
  try {
    conn = await o.pool.getConnection();
  } catch (err) {
    await o.lease.release(null, true);
    throw ownFailure(err, 'connect');
  }
  try {
    await checkEngines(conn, o);
    const c = await o.lease.claim(conn, journal).catch((err) => {
      throw err instanceof StreamBindingError ? err : ownFailure(err, 'claim the stream');
    });
    // Claimed after entries were numbered (start() before readCommittedSeq(), e.g. a server that listened
    // before MySQL answered): unless the journal was already this stream's, their seqs were not derived
    // from its offset, and those at or below it would be skipped as "already committed".
    const head = o.numberedHead();
    if (head !== undefined && head.seq <= c.committedSeq && (journal === null || journal.streamUid !== c.streamUid)) {
      throw new SeqConflict(
        `entries from seq ${head.seq} were numbered before stream "${o.stream}" was claimed, but its offset is already ` +
          `${c.committedSeq}: draining them would skip them as applied, so nothing is drained and they are kept` +
          `${journal === null ? ' (in memory only)' : ` (in the journal at ${journal.dir})`}. To drain them, stop this server and start it ` +
          `with a new --stream, which starts at offset 0${journal === null ? '' : `, after removing ${journal.dir}/stream.json`}.`,
      );
    }
    if (journal !== null && journal.streamUid !== c.streamUid) await saveJournalIdentity({ ...journal, streamUid: c.streamUid });
    conn.release();
    o.log.info('stream_claimed', { stream: o.stream, database: o.database, owner: o.lease.owner, committedSeq: c.committedSeq, journal: journal?.dir ?? null });
    return c.committedSeq;
  } catch (err) {
    conn.destroy();
    // Not ours after all (or not yet): the lock must not keep the rightful server out.
    await o.lease.release(null, true);
    throw err;
  }
}

/** Bisection needs statement-level rollback: refuses allow-listed tables whose engine cannot roll back. */
async function checkEngines(conn: PoolConnection, o: ClaimOptions): Promise<void> {
  if (o.tables.length === 0) return;
  const pairs = o.tables.map((t) => {
    const dot = t.indexOf('.');
    return dot < 0 ? [null, t] : [t.slice(0, dot), t.slice(dot + 1)];
  });
  const rows = await timedQuery(conn, o.queryTimeoutMs)<RowDataPacket[]>(
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
  if (missing.length > 0) o.log.warn('allow_listed_table_missing', { tables: missing, fix: 'create them; the drain stops at the first entry for one of them until then' });
}
