// The drain against a real MariaDB (started by the test): exactly-once, poison isolation, restart skip,
// MySQL outage mid-load.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { MysqlWriter } from '../src/writer.js';
import { mariadbUnavailable, startMariaDb, type MariaDb } from '@eserver-lab/common/mariadb';
import { ArraySource, seedEntries } from './helpers/array-source.js';
import { MemLog } from './helpers/mem-log.js';
import type { Logger } from '../src/contracts.js';
import { waitFor } from '@eserver-lab/common/wait';

const skip = mariadbUnavailable();
if (skip !== null) console.log(`# skipping writer-mysql tests: ${skip}`);

function metric(w: MysqlWriter, name: string): number {
  const m = w.metrics().find((s) => s.name === name);
  assert.ok(m, `metric ${name} missing`);
  return m.value;
}

/** A producer: entries 1..n pushed into src in batches every 5 ms while the writer drains. */
function feedInBatches(src: ArraySource, n: number, batch: number): { pushed: () => number; stop: () => void } {
  let next = 1;
  const timer = setInterval(() => {
    if (next > n) return;
    const to = Math.min(n, next + batch - 1);
    src.push(...seedEntries(next, to));
    next = to + 1;
  }, 5);
  return { pushed: () => next - 1, stop: () => clearInterval(timer) };
}

describe('MysqlWriter against MariaDB', { skip: skip ?? false, timeout: 90_000 }, () => {
  let db: MariaDb;

  before(async () => {
    db = await startMariaDb();
  });
  after(async () => {
    await db?.destroy();
  });
  // A test that failed half way must not leave its writer retrying (the file would never end) or the server
  // paused for the next test.
  const running: MysqlWriter[] = [];
  afterEach(async () => {
    db?.resume();
    for (const w of running.splice(0)) await w.stop({ drain: false, timeoutMs: 0 });
  });

  async function nums(): Promise<number[]> {
    const c = await db.connect();
    try {
      const [rows] = await c.query<RowDataPacket[]>('SELECT num FROM bench_events ORDER BY num');
      return rows.map((r) => Number(r.num));
    } finally {
      await c.end();
    }
  }

  async function offset(stream: string): Promise<number> {
    const c = await db.connect();
    try {
      const [rows] = await c.query<RowDataPacket[]>('SELECT last_seq FROM queue_offsets WHERE stream = ?', [stream]);
      return rows.length === 0 ? 0 : Number(rows[0].last_seq);
    } finally {
      await c.end();
    }
  }

  function writer(
    src: ArraySource,
    stream: string,
    log: Logger,
    extra: { maxBackoffMs?: number; batchSize?: number; queryTimeoutMs?: number } = {},
  ): MysqlWriter {
    const w = new MysqlWriter(src, {
      url: db.url,
      stream,
      batchSize: extra.batchSize ?? 5000,
      batchMs: 5,
      maxBackoffMs: extra.maxBackoffMs ?? 500,
      queryTimeoutMs: extra.queryTimeoutMs,
      log,
    });
    running.push(w);
    return w;
  }

  it('N entries become exactly N rows with distinct num 1..N, offset = N', async () => {
    await db.emptyTables();
    const N = 30_000;
    const src = new ArraySource();
    const log = new MemLog();
    const committed: number[] = [];
    const w = new MysqlWriter(src, { url: db.url, stream: 's1', batchSize: 5000, batchMs: 5, maxBackoffMs: 500, log, onCommitted: (s) => committed.push(s) });
    assert.equal(await w.readCommittedSeq(), 0);
    w.start();
    // Arrive in uneven chunks, as from many connections.
    for (let s = 1; s <= N; s += 1234) src.push(...seedEntries(s, Math.min(N, s + 1233)));
    await waitFor(() => src.length === 0, { timeoutMs: 60_000, what: 'drain' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    const got = await nums();
    assert.equal(got.length, N);
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => i + 1));
    assert.equal(await offset('s1'), N);
    assert.equal(metric(w, 'eserver_drained_total'), N);
    assert.equal(metric(w, 'eserver_committed_seq'), N);
    assert.equal(metric(w, 'eserver_mysql_up'), 1);
    assert.equal(committed[committed.length - 1], N);
    // Coalescing: far fewer statements than entries.
    assert.ok(metric(w, 'eserver_drain_statements_total') < N / 100, 'entries were coalesced into multi-row INSERTs');
  });

  it('a backlog drains without pauses: after a full batch the rest goes at once, without waiting batchMs to fill', async () => {
    await db.emptyTables();
    const batchMs = 4000;
    const src = new ArraySource();
    const w = new MysqlWriter(src, { url: db.url, stream: 'backlog', batchSize: 100, batchMs, maxBackoffMs: 500, log: new MemLog() });
    running.push(w);
    await w.readCommittedSeq();
    // 250 entries waiting before the drain starts: two full batches, then a tail of 50.
    src.push(...seedEntries(1, 250));
    w.start();
    await waitFor(() => src.length <= 50, { timeoutMs: 20_000, what: 'the two full batches' });
    // The tail belongs to the backlog: waiting batchMs for it to fill would hold rows that are already there.
    await waitFor(() => src.length === 0, { timeoutMs: batchMs - 1000, what: `the tail of the backlog, before batchMs (${batchMs} ms) ends` });
    // Once caught up, a lone entry waits for company again: batchMs still applies at a low rate.
    const pushed = performance.now();
    src.push(...seedEntries(251, 251));
    await waitFor(() => src.length === 0, { timeoutMs: batchMs + 10_000, what: 'the lone entry after the backlog' });
    const waited = performance.now() - pushed;
    assert.ok(waited >= batchMs - 100, `a lone entry after the backlog waits for its batch to fill (${Math.round(waited)} ms of ${batchMs})`);
    await w.stop({ drain: true, timeoutMs: 5000 });
    assert.deepEqual(await nums(), Array.from({ length: 251 }, (_, i) => i + 1));
  });

  it('a backlog that ends on a full batch is caught up: the next lone entry waits batchMs again', async () => {
    await db.emptyTables();
    const batchMs = 2000;
    const src = new ArraySource();
    const w = new MysqlWriter(src, { url: db.url, stream: 'backlog-even', batchSize: 100, batchMs, maxBackoffMs: 500, log: new MemLog() });
    running.push(w);
    await w.readCommittedSeq();
    // Exactly two full batches: the last one is full, yet nothing is behind it.
    src.push(...seedEntries(1, 200));
    w.start();
    await waitFor(() => src.length === 0, { timeoutMs: 20_000, what: 'the two full batches' });
    const pushed = performance.now();
    src.push(...seedEntries(201, 201));
    await waitFor(() => src.length === 0, { timeoutMs: batchMs + 10_000, what: 'the lone entry after the backlog' });
    const waited = performance.now() - pushed;
    assert.ok(waited >= batchMs - 100, `a lone entry after a caught-up backlog waits for its batch to fill (${Math.round(waited)} ms of ${batchMs})`);
    await w.stop({ drain: true, timeoutMs: 5000 });
    assert.deepEqual(await nums(), Array.from({ length: 201 }, (_, i) => i + 1));
  });

  it('poison statements go to dead_letters with the error; the rest of the batch commits', async () => {
    await db.emptyTables();
    const src = new ArraySource();
    const log = new MemLog();
    const w = writer(src, 'poison', log);
    w.start();
    const entries = seedEntries(1, 2000);
    entries[500] = { seq: 501, sql: 'insert into bench_events (nope) values (501)' }; // unknown column
    entries[1500] = { seq: 1501, sql: 'insert into bench_events (num) values (7)' }; // duplicate key of seq 7
    entries[1999] = { seq: 2000, sql: "insert into bench_events (num) values ('two thousand')" }; // bad value (strict mode)
    src.push(...entries);
    await waitFor(() => src.length === 0, { timeoutMs: 30_000, what: 'drain' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    const got = await nums();
    assert.equal(got.length, 1997);
    assert.ok(!got.includes(501) && !got.includes(1501) && !got.includes(2000));
    const c = await db.connect();
    try {
      const [rows] = await c.query<RowDataPacket[]>('SELECT stream, seq, statement, errno, error FROM dead_letters ORDER BY seq');
      assert.deepEqual(
        rows.map((r) => [r.stream, Number(r.seq), Number(r.errno)]),
        [
          ['poison', 501, 1054],
          ['poison', 1501, 1062],
          ['poison', 2000, 1366],
        ],
      );
      assert.match(String(rows[0].error), /Unknown column/);
      assert.equal(rows[0].statement, 'insert into bench_events (nope) values (501)');
    } finally {
      await c.end();
    }
    assert.equal(await offset('poison'), 2000);
    assert.equal(metric(w, 'eserver_dead_letters_total'), 3);
    assert.equal(log.count('dead_letter'), 3);
  });

  it('after a restart, entries at or below the committed offset are skipped (exactly once)', async () => {
    await db.emptyTables();
    const log = new MemLog();
    const a = new ArraySource();
    const w1 = writer(a, 'restart', log);
    w1.start();
    a.push(...seedEntries(1, 3000));
    await waitFor(() => a.length === 0, { timeoutMs: 30_000, what: 'first drain' });
    await w1.stop({ drain: true, timeoutMs: 5000 });

    // A replay that overlaps what was committed (the journal may still hold it).
    const b = new ArraySource();
    const w2 = writer(b, 'restart', log);
    assert.equal(await w2.readCommittedSeq(), 3000);
    w2.start();
    b.push(...seedEntries(2001, 5000));
    await waitFor(() => b.length === 0, { timeoutMs: 30_000, what: 'second drain' });
    await w2.stop({ drain: true, timeoutMs: 5000 });
    const got = await nums();
    assert.equal(got.length, 5000);
    assert.equal(new Set(got).size, 5000);
    assert.equal(metric(w2, 'eserver_drain_skipped_total'), 1000);
    assert.equal(metric(w2, 'eserver_drained_total'), 2000);
  });

  it('MySQL stopped for seconds mid-load, then started: zero loss, zero duplicates, state logged once', async () => {
    await db.emptyTables();
    const log = new MemLog();
    const src = new ArraySource();
    const w = writer(src, 'outage', log, { maxBackoffMs: 400 });
    // Claimed first, as app.ts does: until a first success the mysql_up gauge is 0 anyway.
    await w.readCommittedSeq();
    w.start();
    const N = 40_000;
    const feed = feedInBatches(src, N, 1000);
    try {
      await waitFor(() => feed.pushed() >= 5000, { timeoutMs: 20_000, what: 'load to start' });
      await db.stop();
      const downAt = Date.now();
      await waitFor(() => metric(w, 'eserver_mysql_up') === 0, { timeoutMs: 20_000, what: 'mysql_up to drop to 0' });
      // Keep it down for a few seconds while entries keep arriving.
      await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - downAt))));
      assert.ok(src.length > 0, 'entries stay queued while MySQL is down');
      await db.start();
      await waitFor(() => feed.pushed() === N && src.length === 0, { timeoutMs: 60_000, what: 'drain after restart' });
    } finally {
      feed.stop();
    }
    await w.stop({ drain: true, timeoutMs: 5000 });
    const got = await nums();
    assert.equal(got.length, N, 'every entry present');
    assert.equal(new Set(got).size, N, 'no duplicates');
    assert.equal(got[0], 1);
    assert.equal(got[N - 1], N);
    assert.equal(await offset('outage'), N);
    assert.equal(metric(w, 'eserver_mysql_up'), 1);
    assert.ok(metric(w, 'eserver_drain_retries_total') >= 1);
    assert.equal(log.count('mysql_down'), 1, 'one log line when it went down');
    assert.equal(log.count('mysql_up'), 1, 'one log line when it came back');
    assert.equal(metric(w, 'eserver_dead_letters_total'), 0);
  });

  it('MySQL hanging (SIGSTOP) mid-load: statements time out, retried after SIGCONT, no loss, no duplicate', async () => {
    await db.emptyTables();
    const log = new MemLog();
    const src = new ArraySource();
    const w = writer(src, 'hang', log, { maxBackoffMs: 300, queryTimeoutMs: 800 });
    // Claimed first, as app.ts does: until a first success the mysql_up gauge is 0 anyway.
    await w.readCommittedSeq();
    w.start();
    const N = 20_000;
    const feed = feedInBatches(src, N, 500);
    try {
      await waitFor(() => feed.pushed() >= 3000, { timeoutMs: 20_000, what: 'load to start' });
      db.pause();
      try {
        await waitFor(() => metric(w, 'eserver_mysql_up') === 0, { timeoutMs: 20_000, what: 'the hang to be noticed' });
      } finally {
        db.resume();
      }
      await waitFor(() => feed.pushed() === N && src.length === 0, { timeoutMs: 60_000, what: 'drain after resume' });
    } finally {
      feed.stop();
    }
    await w.stop({ drain: true, timeoutMs: 5000 });
    const got = await nums();
    assert.equal(got.length, N);
    assert.equal(new Set(got).size, N);
    assert.equal(await offset('hang'), N);
    assert.equal(metric(w, 'eserver_dead_letters_total'), 0);
    assert.ok(log.count('mysql_down') >= 1 && log.count('mysql_up') >= 1, JSON.stringify(log.events.slice(0, 20)));
  });

  it('MySQL hanging before the first batch (the drain has not read max_allowed_packet yet): noticed, then drained once', async () => {
    await db.emptyTables();
    const log = new MemLog();
    const src = new ArraySource();
    const w = writer(src, 'hang-early', log, { maxBackoffMs: 300, queryTimeoutMs: 800 });
    await w.readCommittedSeq();
    db.pause();
    try {
      w.start();
      src.push(...seedEntries(1, 2000));
      // Every statement of the first batch, the drain's own set-up reads included, times out.
      await waitFor(() => metric(w, 'eserver_drain_retries_total') >= 2, { timeoutMs: 15_000, what: 'the hang to be noticed' });
    } finally {
      db.resume();
    }
    await waitFor(() => src.length === 0, { timeoutMs: 30_000, what: 'drain after resume' });
    await w.stop({ drain: true, timeoutMs: 5000 });
    const got = await nums();
    assert.equal(got.length, 2000);
    assert.equal(new Set(got).size, 2000);
    assert.equal(await offset('hang-early'), 2000);
  });
});
