// One writer per stream. Two servers draining one stream would each number entries from the same offset,
// and each would skip the other's as "already committed": acknowledged entries lost without a word.
//
// Two mechanisms, because neither alone survives everything:
// - Liveness: GET_LOCK on a dedicated connection. MySQL frees it the moment the holder's connection closes
//   (kill -9, crash: the kernel closes the socket), so a restarted server takes over at once, and a second
//   server started beside a running one is refused. The lock dies with a MySQL restart; it is then taken
//   again, and while it is not held nothing but the fence below protects the stream.
// - Fencing: queue_offsets.owner, written under the row lock when a writer claims the stream and read by
//   every batch in the SELECT … FOR UPDATE it already does (no extra round trip). A writer whose row names
//   another owner commits nothing more. It is durable, so it holds across MySQL restarts, connection loss
//   and a lock that changed hands in between. Connection ids, which restart from 1 after a MySQL restart,
//   are never trusted.
// The same row binds the stream to the journal that may hold its unapplied entries (journal_id), and carries
// a stream_uid that identifies this database's stream to the journal (journal-identity.ts).
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Logger } from './contracts.js';
import { StreamBindingError, type JournalIdentity } from './journal-identity.js';
import { timedQuery } from './mysql-timed.js';

export interface StreamLeaseOptions {
  connection: ConnectionOptions;
  stream: string;
  /** The database as shown in messages (URL without credentials). */
  database: string;
  log: Logger;
  /** How often the lock connection is checked (and the lock taken again when lost). */
  checkMs: number;
  /** Every statement's timeout (the writer's). */
  queryTimeoutMs: number;
}

export interface Claim {
  committedSeq: number;
  streamUid: string;
}

/** Another live server drains this stream. */
export class StreamBusyError extends Error {}

export class StreamLease {
  /** Written into queue_offsets.owner; new for every process. */
  readonly owner = randomUUID();
  private readonly name: string;
  private conn: Connection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private closed = false;
  private warnedBusy = false;

  constructor(private readonly opts: StreamLeaseOptions) {
    const plain = `eserver:${String(opts.connection.database)}/${opts.stream}`;
    // MySQL limits lock names to 64 characters.
    this.name = plain.length <= 64 ? plain : `eserver:${createHash('sha256').update(plain).digest('hex').slice(0, 56)}`;
  }

  get held(): boolean {
    return this.conn !== null;
  }

  /** Takes the stream's lock or throws StreamBusyError; then keeps checking it. */
  async lock(): Promise<void> {
    if (this.conn !== null) return;
    this.closed = false;
    const got = await this.tryLock();
    if (got !== null) throw new StreamBusyError(this.busyMessage(got));
    if (this.timer === null) {
      this.timer = setInterval(() => void this.check(), this.opts.checkMs);
      this.timer.unref();
    }
  }

  /**
   * Binds the stream to this writer (and journal) under the offset row's lock, in its own transaction on conn.
   * Refuses a stream bound to another journal, and a journal bound to another database.
   */
  async claim(conn: PoolConnection, journal: JournalIdentity | null): Promise<Claim> {
    const s = this.opts.stream;
    const q = timedQuery(conn, this.opts.queryTimeoutMs);
    await q('START TRANSACTION');
    try {
      const rows = await q<RowDataPacket[]>(
        'SELECT last_seq, journal_id, journal_at, stream_uid FROM queue_offsets WHERE stream = ? FOR UPDATE',
        [s],
      );
      const row = rows[0];
      if (journal !== null && journal.streamUid !== null && (row === undefined || row.stream_uid !== journal.streamUid)) {
        throw new StreamBindingError(
          `the journal in ${journal.dir} was bound to stream "${s}" in another database (${journal.database}); ` +
            `${row === undefined ? `this one (${this.opts.database}) has no offset for "${s}"` : `stream "${s}" in ${this.opts.database} is a different one`}, ` +
            `so replaying it here could apply entries already committed there. Point --mysql-url at that database to drain it; ` +
            `if the journal holds nothing you need, move ${journal.dir} aside.`,
        );
      }
      const journalId = journal?.journalId ?? null;
      const journalAt = journal === null ? null : `${hostname()}:${journal.dir}`.slice(0, 255);
      const ownerAt = `${hostname()} pid ${process.pid}`.slice(0, 255);
      let committedSeq = 0;
      let uid: string;
      if (row === undefined) {
        uid = randomUUID();
        await q(
          'INSERT INTO queue_offsets (stream, last_seq, owner, owner_at, journal_id, journal_at, stream_uid) VALUES (?, 0, ?, ?, ?, ?, ?)',
          [s, this.owner, ownerAt, journalId, journalAt, uid],
        );
      } else {
        if (row.journal_id !== null && row.journal_id !== journalId) {
          throw new StreamBindingError(
            `stream "${s}" is bound to the journal at ${String(row.journal_at)}, which may hold acknowledged entries not yet in MySQL; ` +
              `this server ${journal === null ? 'runs without a journal' : `has the journal in ${journal.dir}`}. ` +
              `Start the server with that --journal-dir to drain it. If that journal is lost for good, release the stream with: ` +
              `UPDATE queue_offsets SET journal_id = NULL WHERE stream = '${s.replace(/'/g, "''")}';`,
          );
        }
        committedSeq = Number(row.last_seq);
        uid = row.stream_uid === null ? randomUUID() : String(row.stream_uid);
        await q('UPDATE queue_offsets SET owner = ?, owner_at = ?, journal_id = ?, journal_at = ?, stream_uid = ? WHERE stream = ?', [
          this.owner,
          ownerAt,
          journalId,
          journalAt,
          uid,
          s,
        ]);
      }
      await q('COMMIT');
      return { committedSeq, streamUid: uid };
    } catch (err) {
      await q('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * Gives the stream up: clears the owner and, when nothing is left to drain, the journal binding too (so
   * another journal, or none, may take the stream). Then frees the lock.
   */
  async release(conn: PoolConnection | null, keepJournal: boolean): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    try {
      if (conn !== null) {
        await conn.query({
          sql: keepJournal
            ? 'UPDATE queue_offsets SET owner = NULL WHERE stream = ? AND owner = ?'
            : 'UPDATE queue_offsets SET owner = NULL, journal_id = NULL, journal_at = NULL WHERE stream = ? AND owner = ?',
          values: [this.opts.stream, this.owner],
          timeout: 5000, // a hung server must not hold up the shutdown
        });
      }
    } finally {
      const c = this.conn;
      this.conn = null;
      // Freed explicitly: MySQL frees the lock of a closed connection only once it has processed the close,
      // and a writer claiming the stream right after this one stopped would be refused in between. Then the
      // socket is destroyed: a polite end() could wait on a hung server.
      if (c !== null) await timedQuery(c, 5000)('DO RELEASE_LOCK(?)', [this.name]).catch(() => undefined);
      c?.destroy();
    }
  }

  /** null when the lock was taken, else the MySQL connection id holding it (0 when unknown). */
  private async tryLock(): Promise<number | null> {
    const c = await mysql.createConnection({ ...this.opts.connection, connectTimeout: 3000, enableKeepAlive: true });
    c.on('error', () => {
      if (this.conn === c) this.conn = null;
    });
    const q = timedQuery(c, this.opts.queryTimeoutMs);
    try {
      // A holder whose host vanished is dropped after a minute of silence; a live one pings every checkMs.
      await q(`SET SESSION wait_timeout = ${Math.max(60, Math.ceil((this.opts.checkMs * 4) / 1000))}`);
      // A short wait covers a holder that just died: its lock goes once MySQL has processed the closed socket.
      const waitS = this.opts.queryTimeoutMs >= 3000 ? 1 : 0;
      const rows = await q<RowDataPacket[]>(`SELECT GET_LOCK(?, ${waitS}) AS got, IS_USED_LOCK(?) AS holder`, [this.name, this.name]);
      if (Number(rows[0].got) === 1) {
        if (this.closed) await c.end().catch(() => c.destroy()); // released meanwhile
        else this.conn = c;
        return null;
      }
      await c.end().catch(() => c.destroy());
      return Number(rows[0].holder ?? 0);
    } catch (err) {
      c.destroy();
      throw err;
    }
  }

  private busyMessage(holder: number): string {
    return (
      `stream "${this.opts.stream}" in ${this.opts.database} is drained by another running server (it holds the MySQL lock "${this.name}"` +
      `${holder > 0 ? ` on connection ${holder}: SHOW PROCESSLIST shows its host` : ''}). Stop that server first, or start this one ` +
      `with its own --stream (and --journal-dir).`
    );
  }

  /** Pings the lock connection; takes the lock again after it was lost (MySQL restarted, connection killed). */
  private async check(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      const c = this.conn;
      if (c !== null) {
        try {
          await c.query({ sql: 'SELECT 1', timeout: 30_000 }); // a hung server or a dead link, not a slow one
          return;
        } catch {
          if (this.conn === c) this.conn = null;
          c.destroy();
          this.opts.log.warn('stream_lock_lost', { stream: this.opts.stream, lock: this.name });
        }
      }
      const holder = await this.tryLock().catch(() => undefined);
      if (holder === null) {
        this.warnedBusy = false;
        this.opts.log.info('stream_lock_taken_again', { stream: this.opts.stream, lock: this.name });
      } else if (holder !== undefined && !this.warnedBusy) {
        this.warnedBusy = true;
        // Batches stay safe: they commit only while queue_offsets.owner still names this writer.
        this.opts.log.warn('stream_lock_held_elsewhere', { stream: this.opts.stream, lock: this.name, holder });
      }
    } finally {
      this.checking = false;
    }
  }
}
