// The writer's offset check per batch: one conditional UPDATE while the offset is the one this writer
// committed last (no SELECT ... FOR UPDATE per batch), and the full read when someone else moved it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { MysqlWriter } from '../src/writer.js';
import { silentLogger } from '../src/log.js';
import { mariadbUnavailable, startMariaDb, type MariaDb } from '@eserver-lab/common/mariadb';
import { ArraySource, seedEntries } from './helpers/array-source.js';
import { waitFor } from '@eserver-lab/common/wait';

const skip = mariadbUnavailable();
if (skip !== null) console.log(`# skipping writer-offset tests: ${skip}`);

describe('MysqlWriter offset check', { skip: skip ?? false, timeout: 90_000 }, () => {
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
  const comSelect = async (): Promise<number> => Number((await query("SHOW GLOBAL STATUS LIKE 'Com_select'"))[0].Value);
  const batches = (w: MysqlWriter): number => w.metrics().find((m) => m.name === 'eserver_drain_batches_total')!.value;

  it('steady batches read no offset: one SELECT at most for the first batch, not one per batch', async () => {
    await db.emptyTables();
    const src = new ArraySource();
    const w = new MysqlWriter(src, { url: db.url, stream: 'steady', batchSize: 5000, batchMs: 0, maxBackoffMs: 500, log: silentLogger });
    assert.equal(await w.readCommittedSeq(), 0);
    w.start();
    const before = await comSelect();
    // One entry at a time, each waited for: every entry is its own batch.
    for (let s = 1; s <= 40; s++) {
      src.push(...seedEntries(s, s));
      await waitFor(() => src.length === 0, { timeoutMs: 10_000, what: `batch ${s}` });
    }
    const selects = (await comSelect()) - before;
    const n = batches(w);
    await w.stop({ drain: true, timeoutMs: 5000 });
    assert.ok(n >= 40, `${n} batches`);
    // The writer's first batch reads @@max_allowed_packet and the (missing) offset; later ones read nothing.
    assert.ok(selects <= 3, `${selects} SELECTs for ${n} batches`);
    assert.equal((await query('SELECT COUNT(*) AS n, COUNT(DISTINCT num) AS d FROM bench_events'))[0].n, 40);
    assert.equal(Number((await query("SELECT last_seq FROM queue_offsets WHERE stream = 'steady'"))[0].last_seq), 40);
  });

  it('two-round-trip batches: a failing entry falls back to bisection, and client SQL never runs as several statements', async () => {
    await db.emptyTables();
    const src = new ArraySource();
    const w = new MysqlWriter(src, { url: db.url, stream: 'fast', batchSize: 5000, batchMs: 5, maxBackoffMs: 500, log: silentLogger });
    await w.readCommittedSeq();
    w.start();
    src.push(...seedEntries(1, 10));
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'first batch (offset read)' });
    // One coalesced INSERT with a duplicate key in it: the multi-statement try fails (its connection is dropped,
    // so MySQL rolls it back), then the statement-by-statement path dead-letters the one entry, commits the others.
    const poisoned = seedEntries(11, 20);
    poisoned[4] = { seq: 15, sql: 'insert into bench_events (num) values (3)' };
    src.push(...poisoned);
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'poisoned batch' });
    // A client statement carrying a second one (only --no-guard lets it in), alone in its batch: it must go
    // through the connection without multiple statements, where MySQL refuses it whole.
    src.push({ seq: 21, sql: 'insert into bench_events (num) values (21); insert into bench_events (num) values (999)' });
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'two-statement entry' });
    src.push(...seedEntries(22, 25));
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'last batch' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    const got = (await query('SELECT num FROM bench_events ORDER BY num')).map((r) => Number(r.num));
    const want = [...Array.from({ length: 20 }, (_, i) => i + 1).filter((n) => n !== 15), 22, 23, 24, 25];
    assert.deepEqual(got, want);
    const dead = await query("SELECT seq, errno FROM dead_letters WHERE stream = 'fast' ORDER BY seq");
    assert.deepEqual(
      dead.map((r) => [Number(r.seq), Number(r.errno)]),
      [
        [15, 1062],
        [21, 1064],
      ],
    );
    assert.equal(Number((await query("SELECT last_seq FROM queue_offsets WHERE stream = 'fast'"))[0].last_seq), 25);
  });

  it('an offset moved by another writer is read and honoured: nothing applied twice', async () => {
    await db.emptyTables();
    const src = new ArraySource();
    const w = new MysqlWriter(src, { url: db.url, stream: 'moved', batchSize: 5000, batchMs: 5, maxBackoffMs: 500, log: silentLogger });
    await w.readCommittedSeq();
    w.start();
    src.push(...seedEntries(1, 1000));
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'first drain' });
    // Another writer on the same stream commits 1001..1500 behind this one's back.
    await db.exec(
      'USE eserver; INSERT INTO bench_events (num) SELECT seq FROM seq_1001_to_1500; ' +
        "UPDATE queue_offsets SET last_seq = 1500 WHERE stream = 'moved';",
    );
    src.push(...seedEntries(1001, 2000));
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'second drain' });
    const m = (name: string): number => w.metrics().find((x) => x.name === name)!.value;
    await w.stop({ drain: true, timeoutMs: 5000 });
    const [row] = await query('SELECT COUNT(*) AS n, COUNT(DISTINCT num) AS d, MAX(num) AS mx FROM bench_events');
    assert.deepEqual([Number(row.n), Number(row.d), Number(row.mx)], [2000, 2000, 2000]);
    assert.equal(m('eserver_drain_skipped_total'), 500);
    assert.equal(m('eserver_dead_letters_total'), 0);
    assert.equal(Number((await query("SELECT last_seq FROM queue_offsets WHERE stream = 'moved'"))[0].last_seq), 2000);
  });
});
