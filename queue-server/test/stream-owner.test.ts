// Issue 14, defect 4: one stream, one owner. A second server on a running stream is refused loudly instead
// of having its batches skipped as "already committed"; a journal stays bound to its stream and database.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { MysqlWriter, type MysqlWriterOptions } from '../src/writer.js';
import { startApp } from '../src/app.js';
import { resolveConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { mariadbUnavailable, startMariaDb, type MariaDb } from '@eserver-lab/common/mariadb';
import { ArraySource, seedEntries } from './helpers/array-source.js';
import { MemLog } from './helpers/mem-log.js';
import { enqueueFrame, roundTrip } from './helpers/net.js';
import { waitFor } from '@eserver-lab/common/wait';

const skip = mariadbUnavailable();
if (skip !== null) console.log(`# skipping stream-owner tests: ${skip}`);

describe('stream ownership and journal binding', { skip: skip ?? false, timeout: 120_000 }, () => {
  let db: MariaDb;
  const dirs: string[] = [];

  before(async () => {
    db = await startMariaDb();
  });
  after(async () => {
    await db?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function query(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
    const c = await db.connect();
    try {
      const [rows] = await c.query<RowDataPacket[]>(sql, values);
      return rows;
    } finally {
      await c.end();
    }
  }

  function writer(src: ArraySource, stream: string, log = new MemLog(), extra: Partial<MysqlWriterOptions> = {}): MysqlWriter {
    return new MysqlWriter(src, { url: db.url, stream, batchSize: 500, batchMs: 2, maxBackoffMs: 200, startupWaitMs: 2000, log, ...extra });
  }

  it('a second writer on a running stream is refused; nothing it took is skipped', async () => {
    await db.emptyTables();
    const a = new ArraySource();
    const w1 = writer(a, 'two');
    assert.equal(await w1.readCommittedSeq(), 0);
    w1.start();
    a.push(...seedEntries(1, 1000));
    await waitFor(() => a.length === 0, { timeoutMs: 20_000, what: 'first writer to drain' });

    // The second server numbers its own entries from the offset it read, as app.ts does.
    const b = new ArraySource();
    const log2 = new MemLog();
    const w2 = writer(b, 'two', log2);
    let refused: Error | null = null;
    try {
      const from = (await w2.readCommittedSeq()) + 1;
      w2.start();
      // Its seqs overlap the first server's next ones: a race the first one wins.
      a.push(...seedEntries(1001, 1500));
      await waitFor(() => a.length === 0, { timeoutMs: 20_000, what: 'first writer to drain more' });
      b.push(...seedEntries(from, from + 499).map((e) => ({ seq: e.seq, sql: `insert into bench_events (num) values (${100_000 + e.seq})` })));
      await waitFor(() => b.length === 0 || log2.events.some((e) => e.level === 'error'), { timeoutMs: 20_000, what: 'second writer to act' });
    } catch (err) {
      refused = err as Error;
    }
    await w1.stop({ drain: true, timeoutMs: 5000 });
    await w2.stop({ drain: false, timeoutMs: 0 });
    const taken = b.committedEntries;
    const [row] = await query('SELECT COUNT(*) AS n FROM bench_events WHERE num > 100000');
    // Whatever the second writer took off its queue must be in MySQL: no silent skip.
    assert.equal(Number(row.n), taken, `the second writer dropped ${taken} entries of which ${Number(row.n)} are in MySQL`);
    assert.ok(refused !== null, 'the second writer was refused');
    assert.match(refused.message, /another running server/);
    assert.match(refused.message, /two/);
  });

  it('the stream is free again at once after stop(), every time (200 hand-overs in a row)', async () => {
    // MySQL frees a lock asynchronously when its connection merely closes: a writer claiming right after
    // another's stop() was refused as "drained by another running server" about once in 100.
    for (let i = 0; i < 200; i++) {
      const w1 = writer(new ArraySource(), `again-${i}`);
      await w1.readCommittedSeq();
      await w1.stop({ drain: false, timeoutMs: 0 });
      const w2 = writer(new ArraySource(), `again-${i}`);
      await w2.readCommittedSeq();
      await w2.stop({ drain: false, timeoutMs: 0 });
    }
  });

  it('the stream is free again once its writer stopped, and right after its process died', async () => {
    await db.emptyTables();
    const a = new ArraySource();
    const w1 = writer(a, 'handover');
    await w1.readCommittedSeq();
    w1.start();
    a.push(...seedEntries(1, 100));
    await waitFor(() => a.length === 0, { timeoutMs: 20_000, what: 'drain' });
    await w1.stop({ drain: true, timeoutMs: 5000 });
    const b = new ArraySource();
    const w2 = writer(b, 'handover');
    assert.equal(await w2.readCommittedSeq(), 100);
    w2.start();
    b.push(...seedEntries(101, 200));
    await waitFor(() => b.length === 0, { timeoutMs: 20_000, what: 'second drain' });
    // A crash: the MySQL connections close without a word (what kill -9 does).
    for (const r of await query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'eserver' AND ID <> CONNECTION_ID()")) {
      await db.exec(`KILL ${Number(r.ID)};`);
    }
    const c = new ArraySource();
    const w3 = writer(c, 'handover');
    // The dead owner's lock went with its connections; the fenced writer must not commit any more.
    assert.equal(await w3.readCommittedSeq(), 200);
    w3.start();
    c.push(...seedEntries(201, 300));
    await waitFor(() => c.length === 0, { timeoutMs: 20_000, what: 'third drain' });
    b.push(...seedEntries(201, 210).map((e) => ({ seq: e.seq, sql: `insert into bench_events (num) values (${900_000 + e.seq})` })));
    await waitFor(() => (w2 as unknown as { fault?: unknown }).fault != null, { timeoutMs: 20_000, what: 'the old writer to notice it lost the stream' });
    assert.equal((w2 as unknown as { fault: { kind: string } | null }).fault?.kind, 'fenced');
    assert.equal(b.length, 10, 'the fenced writer keeps its entries');
    await w2.stop({ drain: false, timeoutMs: 0 });
    await w3.stop({ drain: true, timeoutMs: 5000 });
    const [n] = await query('SELECT COUNT(*) AS n, COUNT(DISTINCT num) AS d, MAX(num) AS hi FROM bench_events');
    assert.deepEqual([Number(n.n), Number(n.d), Number(n.hi)], [300, 300, 300]);
  });

  it('after a MySQL restart the writer takes its lock again: a second server is still refused, the first drains on', async () => {
    await db.emptyTables();
    const a = new ArraySource();
    const log = new MemLog();
    const w1 = writer(a, 'restart', log, { leaseCheckMs: 100 });
    await w1.readCommittedSeq();
    w1.start();
    a.push(...seedEntries(1, 100));
    await waitFor(() => a.length === 0, { timeoutMs: 20_000, what: 'drain' });
    await db.stop();
    await db.start();
    await waitFor(() => log.count('stream_lock_taken_again') === 1, { timeoutMs: 20_000, what: 'the lock to be taken again' });
    const w2 = writer(new ArraySource(), 'restart');
    await assert.rejects(w2.readCommittedSeq(), /another running server/);
    await w2.stop({ drain: false, timeoutMs: 0 });
    a.push(...seedEntries(101, 200));
    await waitFor(() => a.length === 0, { timeoutMs: 20_000, what: 'drain after the restart' });
    await w1.stop({ drain: true, timeoutMs: 5000 });
    const [n] = await query('SELECT COUNT(*) AS n FROM bench_events');
    assert.equal(Number(n.n), 200);
  });

  it('a journal refuses another --stream, and another database, instead of replaying duplicates', async () => {
    await db.emptyTables();
    const dir = mkdtempSync(join(tmpdir(), 'eserver-bind-'));
    dirs.push(dir);
    const flags = { port: '0', metricsPort: '0', host: '127.0.0.1', journalDir: dir, fsync: 'always', mysqlUrl: db.url, stream: 'bound' };
    const a = await startApp(resolveConfig({ flags }), silentLogger);
    for (let i = 0; i < 20; i++) assert.equal((await roundTrip(a.address.port, enqueueFrame('insert into bench_events (num) values (%d)')))[0].cmd, 8001);
    await waitFor(() => a.queue.length === 0, { timeoutMs: 20_000, what: 'drain' });
    await a.stop();

    await assert.rejects(startApp(resolveConfig({ flags: { ...flags, stream: 'other' } }), silentLogger), (err: Error) => {
      assert.match(err.message, /journal .* belongs to stream "bound"/);
      assert.match(err.message, /--stream bound/);
      return true;
    });

    // The same journal against another database (here: the stream's offset row gone, as in a fresh one).
    await db.exec('USE eserver; CREATE DATABASE eserver2; CREATE TABLE eserver2.queue_offsets LIKE eserver.queue_offsets; CREATE TABLE eserver2.dead_letters LIKE eserver.dead_letters; CREATE TABLE eserver2.bench_events LIKE eserver.bench_events;');
    const url2 = db.url.replace(/\/eserver$/, '/eserver2');
    await db.exec("GRANT ALL ON eserver2.* TO 'eserver'@'127.0.0.1';");
    await assert.rejects(startApp(resolveConfig({ flags: { ...flags, mysqlUrl: url2 } }), silentLogger), (err: Error) => {
      assert.match(err.message, /another database/);
      return true;
    });

    const [n] = await query('SELECT (SELECT COUNT(*) FROM bench_events) AS rows_, (SELECT COUNT(*) FROM dead_letters) AS dead, (SELECT COUNT(*) FROM eserver2.bench_events) AS rows2');
    assert.deepEqual([Number(n.rows_), Number(n.dead), Number(n.rows2)], [20, 0, 0]);

    // The right stream and database still start, and continue the sequence.
    const b = await startApp(resolveConfig({ flags }), silentLogger);
    try {
      assert.equal((await roundTrip(b.address.port, enqueueFrame('insert into bench_events (num) values (%d)')))[0].cmd, 8001);
      await waitFor(() => b.queue.length === 0, { timeoutMs: 20_000, what: 'drain' });
    } finally {
      await b.stop();
    }
    const [m] = await query('SELECT COUNT(*) AS n, MAX(num) AS hi FROM bench_events');
    assert.deepEqual([Number(m.n), Number(m.hi)], [21, 21]);
  });

  it('a stream bound to a journal with pending entries is refused to a writer without that journal', async () => {
    await db.emptyTables();
    const dir = mkdtempSync(join(tmpdir(), 'eserver-bind2-'));
    dirs.push(dir);
    const a = new ArraySource();
    const w1 = writer(a, 'pending', new MemLog(), { journalDir: dir });
    await w1.readCommittedSeq();
    // Stops with a backlog (drain=false): those entries exist only in that journal now.
    a.push(...seedEntries(1, 50));
    await w1.stop({ drain: false, timeoutMs: 0 });
    const w2 = writer(new ArraySource(), 'pending');
    await assert.rejects(w2.readCommittedSeq(), (err: Error) => {
      assert.match(err.message, /bound to the journal/);
      assert.match(err.message, new RegExp(dir.replace(/[/\\.]/g, '\\$&')));
      return true;
    });
    await w2.stop({ drain: false, timeoutMs: 0 });
  });

  it('a start-up that fails before the journal was replayed keeps the stream bound to that journal', async () => {
    await db.emptyTables();
    const dir = mkdtempSync(join(tmpdir(), 'eserver-bind3-'));
    dirs.push(dir);
    // Claimed, then start-up failed (e.g. the journal could not be opened): the queue is empty only because
    // nothing was replayed into it yet.
    const w1 = writer(new ArraySource(), 'halfway', new MemLog(), { journalDir: dir });
    await w1.readCommittedSeq();
    await w1.stop({ drain: false, timeoutMs: 0 });
    const w2 = writer(new ArraySource(), 'halfway');
    await assert.rejects(w2.readCommittedSeq(), /bound to the journal/);
    await w2.stop({ drain: false, timeoutMs: 0 });
  });

  it('entries numbered before a late claim are never skipped as "already committed"', async () => {
    // The stream is at 100 (another journal, since released). Entries numbered from 1 without reading it,
    // as a server that listened before MySQL answered would, must not be dropped as applied.
    await db.emptyTables();
    await db.exec("USE eserver; INSERT INTO queue_offsets (stream, last_seq) VALUES ('late', 100);");
    const src = new ArraySource();
    const log = new MemLog();
    const w = new MysqlWriter(src, { url: db.url, stream: 'late', batchSize: 500, batchMs: 2, maxBackoffMs: 200, log });
    w.start();
    src.push(...seedEntries(1, 10));
    await waitFor(() => src.length === 0 || w.fault !== null, { timeoutMs: 20_000, what: 'the writer to act' });
    const c = await db.connect();
    try {
      const [rows] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM bench_events');
      assert.equal(Number(rows[0].n), src.committedEntries, `${src.committedEntries} entries left the queue, ${Number(rows[0].n)} are in MySQL`);
    } finally {
      await c.end();
    }
    assert.equal((w.fault as { kind: string } | null)?.kind, 'seq_conflict');
    assert.equal(src.length, 10, 'kept');
    assert.match(String(log.find('stream_taken_over')?.fields?.error ?? log.events.find((e) => e.level === 'error')?.fields?.error), /numbered/);
    await w.stop({ drain: false, timeoutMs: 0 });
  });
});
