// Issue 14, defects 6, 8 and 9: what the drain does when MySQL says no. A configuration error keeps the
// entries and resumes once fixed; an oversized dead-letter batch never stalls the drain; the bisection's
// assumptions (statement-level rollback, strict mode, transactional tables) are checked, not assumed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { MysqlWriter, type DrainFault, type MysqlWriterOptions } from '../src/writer.js';
import { mariadbUnavailable, startMariaDb, type MariaDb } from '@eserver-lab/common/mariadb';
import { ArraySource, seedEntries } from './helpers/array-source.js';
import { MemLog } from './helpers/mem-log.js';
import { waitFor } from '@eserver-lab/common/wait';

const skip = mariadbUnavailable();
if (skip !== null) console.log(`# skipping writer-faults tests: ${skip}`);

/** w.fault, read through a call so that TypeScript does not keep an earlier narrowing. */
function faultOf(w: MysqlWriter): DrainFault | null {
  return w.fault;
}

function metric(w: MysqlWriter, name: string): number {
  const m = w.metrics().find((s) => s.name === name);
  assert.ok(m, `metric ${name} missing`);
  return m.value;
}

describe('MysqlWriter faults against MariaDB', { skip: skip ?? false, timeout: 120_000 }, () => {
  let db: MariaDb;

  before(async () => {
    db = await startMariaDb();
  });
  after(async () => {
    await db?.destroy();
  });

  async function query(sql: string): Promise<RowDataPacket[]> {
    const c = await db.connect();
    try {
      const [rows] = await c.query<RowDataPacket[]>(sql);
      return rows;
    } finally {
      await c.end();
    }
  }

  async function count(table: string): Promise<number> {
    return Number((await query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
  }

  /** Until a statement starting with `prefix` is running (e.g. waiting for a row lock). */
  async function waitForQuery(prefix: string): Promise<void> {
    const like = `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO LIKE '${prefix.replace(/[()]/g, '_')}%'`;
    await waitFor(async () => Number((await query(like))[0].n) > 0, { timeoutMs: 20_000, intervalMs: 20, what: `a running statement like ${prefix}` });
  }

  function writer(src: ArraySource, stream: string, log: MemLog, extra: Partial<MysqlWriterOptions> & Record<string, unknown> = {}): MysqlWriter {
    return new MysqlWriter(src, { url: db.url, stream, batchSize: 500, batchMs: 2, maxBackoffMs: 200, log, ...extra } as MysqlWriterOptions);
  }

  it('INSERT denied (1142): the drain stops loudly, keeps every entry, and resumes once granted', async () => {
    await db.emptyTables();
    await db.exec(
      "CREATE USER 'limited'@'127.0.0.1' IDENTIFIED BY 'limited';" +
        "GRANT SELECT, INSERT, UPDATE ON eserver.queue_offsets TO 'limited'@'127.0.0.1';" +
        "GRANT SELECT, INSERT ON eserver.dead_letters TO 'limited'@'127.0.0.1';" +
        "GRANT SELECT ON eserver.bench_events TO 'limited'@'127.0.0.1';",
    );
    const src = new ArraySource();
    const log = new MemLog();
    const w = writer(src, 'denied', log, { url: db.url.replace('eserver:eserver@', 'limited:limited@'), configRetryMs: 100 });
    w.start();
    src.push(...seedEntries(1, 300));
    await waitFor(() => log.events.some((e) => e.level === 'error' || e.event === 'dead_letter'), { timeoutMs: 20_000, what: 'the writer to react' });
    assert.equal(await count('dead_letters'), 0, 'no good entry was dead-lettered');
    assert.equal(src.length, 300, 'every entry is kept');
    const e = log.events.find((x) => x.level === 'error');
    assert.equal(e?.event, 'drain_blocked');
    assert.equal(e?.fields?.errno, 1142);
    assert.match(String(e?.fields?.fix), /grant/i);
    assert.equal(metric(w, 'eserver_drain_blocked'), 1);
    assert.equal(w.fault?.kind, 'configuration');
    assert.equal(metric(w, 'eserver_mysql_up'), 1, 'MySQL itself is up: the log must not say mysql_down');
    assert.equal(log.count('mysql_down'), 0);

    await db.exec("GRANT INSERT ON eserver.bench_events TO 'limited'@'127.0.0.1';");
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'the drain to resume without a restart' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    assert.equal(await count('bench_events'), 300);
    assert.equal(await count('dead_letters'), 0);
    assert.equal(metric(w, 'eserver_drain_blocked'), 0);
    assert.equal(w.fault, null);
    assert.equal(log.count('drain_resumed'), 1);
  });

  it('a missing table (1146) blocks the drain until it is created; nothing is dead-lettered', async () => {
    await db.emptyTables();
    const src = new ArraySource();
    const log = new MemLog();
    const w = writer(src, 'missing', log, { configRetryMs: 100 });
    w.start();
    src.push(...seedEntries(1, 50, 'later_events'));
    await waitFor(() => log.events.some((e) => e.level === 'error' || e.event === 'dead_letter'), { timeoutMs: 20_000, what: 'the writer to react' });
    assert.equal(await count('dead_letters'), 0);
    assert.equal(src.length, 50);
    await db.exec('USE eserver; CREATE TABLE later_events (num BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB;');
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'the drain to resume' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    assert.equal(await count('later_events'), 50);
  });

  it('a read-only server (1290): blocked, not dead-lettered, and drained once it is writable again', async () => {
    await db.emptyTables();
    const src = new ArraySource();
    const log = new MemLog();
    const w = writer(src, 'readonly', log, { configRetryMs: 100 });
    await w.readCommittedSeq();
    w.start();
    await db.exec('SET GLOBAL read_only = 1;');
    try {
      src.push(...seedEntries(1, 100));
      await waitFor(() => w.fault !== null || src.length === 0, { timeoutMs: 20_000, what: 'the writer to react' });
      assert.equal(faultOf(w)?.errno, 1290);
      assert.match(faultOf(w)?.fix ?? '', /read_only/);
      assert.equal(src.length, 100);
      assert.equal(await count('dead_letters'), 0);
    } finally {
      await db.exec('SET GLOBAL read_only = 0;');
    }
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'the drain to resume' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    assert.equal(await count('bench_events'), 100);
  });

  it('dead letters larger than max_allowed_packet are split and truncated; the drain never stalls', async () => {
    await db.emptyTables();
    const [orig] = await query('SELECT @@global.max_allowed_packet AS p');
    await db.exec('SET GLOBAL max_allowed_packet = 65536;');
    try {
      const src = new ArraySource();
      const log = new MemLog();
      const w = writer(src, 'bigdead', log);
      w.start();
      const entries = seedEntries(1, 200);
      // 40 poison entries of ~8 KB: their dead letters together are ~5 times the packet.
      for (let i = 10; i < 50; i++) entries[i] = { seq: i + 1, sql: `insert into bench_events (nope) values ('${'x'.repeat(8000)}')` };
      // One poison entry whose escaped text alone exceeds the packet (every backslash doubles).
      entries[100] = { seq: 101, sql: `insert into bench_events (nope) values ('${'\\\\'.repeat(24000)}')` };
      src.push(...entries);
      await waitFor(() => src.length === 0, { timeoutMs: 30_000, what: 'the drain to get past the poison' });
      await w.stop({ drain: true, timeoutMs: 5000 });
      assert.equal(await count('bench_events'), 159);
      const dead = await query('SELECT seq, LENGTH(statement) AS len, error FROM dead_letters ORDER BY seq');
      assert.equal(dead.length, 41);
      const big = dead.find((r) => Number(r.seq) === 101)!;
      assert.ok(Number(big.len) < 65536, 'the stored statement was cut to fit');
      assert.match(String(big.error), /truncated/);
      assert.equal(log.count('mysql_down'), 0, 'no outage was reported: MySQL was up');
    } finally {
      await db.exec(`SET GLOBAL max_allowed_packet = ${Number(orig.p)};`);
    }
  });

  it('max_allowed_packet lowered at run time: batches are re-planned; an entry larger than the packet blocks until it is raised', async () => {
    await db.emptyTables();
    const [orig] = await query('SELECT @@global.max_allowed_packet AS p');
    const src = new ArraySource();
    const log = new MemLog();
    const w = writer(src, 'packet', log, { configRetryMs: 100, batchSize: 5000 });
    try {
      w.start();
      src.push(...seedEntries(1, 100));
      await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'a first drain with the large packet' });
      await db.exec('SET GLOBAL max_allowed_packet = 16384;');
      // New sessions see the small packet: make the writer's pool open new ones.
      for (const r of await query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'eserver' AND ID <> CONNECTION_ID()")) {
        await db.exec(`KILL ${Number(r.ID)};`);
      }
      // ~35 KB once merged: more than the new packet.
      src.push(...seedEntries(101, 5100));
      await waitFor(() => src.length === 0 || w.fault !== null, { timeoutMs: 20_000, what: 'the drain to re-plan or block' });
      assert.equal(w.fault, null, `blocked: ${JSON.stringify(w.fault)}`);
      assert.equal(await count('bench_events'), 5100);

      src.push({ seq: 5101, sql: `insert into bench_events (num) values (5101) /* ${'x'.repeat(30_000)} */` }, ...seedEntries(5102, 5110));
      await waitFor(() => w.fault !== null, { timeoutMs: 20_000, what: 'the oversized entry to block the drain' });
      const f = faultOf(w);
      assert.equal(f?.errno, 1153);
      assert.match(f?.fix ?? '', /max_allowed_packet/);
      assert.equal(src.length, 10, 'kept');
      assert.equal(await count('dead_letters'), 0);
      await db.exec('SET GLOBAL max_allowed_packet = 1048576;');
      await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'the drain to resume once the packet is raised' });
      assert.equal(await count('bench_events'), 5110);
    } finally {
      await w.stop({ drain: false, timeoutMs: 0 });
      await db.exec(`SET GLOBAL max_allowed_packet = ${Number(orig.p)};`);
    }
  });

  it('a non-strict server sql_mode: a bad value is dead-lettered, not stored altered', async () => {
    await db.emptyTables();
    const [orig] = await query('SELECT @@global.sql_mode AS m');
    await db.exec("SET GLOBAL sql_mode = '';");
    try {
      const src = new ArraySource();
      const log = new MemLog();
      const w = writer(src, 'strict', log);
      w.start();
      const entries = seedEntries(1, 100);
      entries[40] = { seq: 41, sql: "insert into bench_events (num) values ('forty-one')" };
      src.push(...entries);
      await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'drain' });
      await w.stop({ drain: true, timeoutMs: 5000 });
      assert.equal(Number((await query('SELECT COUNT(*) AS n FROM bench_events WHERE num = 0'))[0].n), 0, 'no row 0 from a silently converted value');
      assert.equal(await count('bench_events'), 99);
      const dead = await query('SELECT seq, errno FROM dead_letters');
      assert.deepEqual(dead.map((r) => [Number(r.seq), Number(r.errno)]), [[41, 1366]]);
    } finally {
      await db.exec(`SET GLOBAL sql_mode = '${String(orig.m)}';`);
    }
  });

  it('an allow-listed non-transactional table is refused at start with the fix', async () => {
    await db.emptyTables();
    await db.exec('USE eserver; CREATE TABLE myisam_events (num BIGINT NOT NULL PRIMARY KEY) ENGINE=MyISAM;');
    const src = new ArraySource();
    const log = new MemLog();
    const w = writer(src, 'myisam', log, { tables: ['bench_events', 'myisam_events'] });
    let refused: Error | null = null;
    try {
      await w.readCommittedSeq();
      w.start();
      // What bisection does to a table that cannot roll back: rows 1..4 stay from the failed multi-row
      // INSERT, and are then dead-lettered as duplicates of themselves.
      const entries = seedEntries(1, 10, 'myisam_events');
      entries[4] = { seq: 5, sql: 'insert into myisam_events (num) values (1)' };
      src.push(...entries);
      await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'drain' });
    } catch (err) {
      refused = err as Error;
    }
    await w.stop({ drain: false, timeoutMs: 0 });
    const dead = await query("SELECT seq FROM dead_letters WHERE stream = 'myisam'");
    assert.ok(dead.length <= 1, `good entries dead-lettered: ${dead.map((r) => r.seq).join(',')}`);
    assert.ok(refused !== null, 'refused at start');
    assert.match(refused.message, /myisam_events/);
    assert.match(refused.message, /ENGINE=InnoDB/);
  });

  it('a deadlock that rolls back the whole batch transaction: the batch is retried from the start', async () => {
    await db.emptyTables();
    const src = new ArraySource();
    const log = new MemLog();
    const w = writer(src, 'deadlock', log);
    // The offset row exists (as after any first batch), so both transactions lock the same row.
    await db.exec("USE eserver; INSERT INTO queue_offsets (stream, last_seq) VALUES ('deadlock', 0);");
    assert.equal(await w.readCommittedSeq(), 0);
    // Another transaction, heavier than the batch (so InnoDB picks the batch as the victim), holds num 50.
    const t = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'eserver', password: 'eserver', database: 'eserver' });
    try {
      await t.query('START TRANSACTION');
      await t.query(`INSERT INTO bench_events (num) VALUES ${Array.from({ length: 2000 }, (_, i) => `(${1_000_000 + i})`).join(',')}`);
      await t.query('INSERT INTO bench_events (num) VALUES (50)');
      w.start();
      src.push(...seedEntries(1, 100));
      // The batch now holds the offset row and waits for num 50; taking the offset row closes the cycle.
      await waitForQuery('insert into bench_events (num) values (1)');
      await t.query("SELECT last_seq FROM queue_offsets WHERE stream = 'deadlock' FOR UPDATE");
      await t.query('ROLLBACK');
    } finally {
      await t.end();
    }
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'drain' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    assert.ok(metric(w, 'eserver_drain_retries_total') >= 1, 'the batch was the victim and was retried');
    assert.equal(await count('bench_events'), 100);
    assert.equal(await count('dead_letters'), 0);
  });
});
